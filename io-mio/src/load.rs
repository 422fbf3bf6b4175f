//! A TLS 1.2 load generator on mio: keeps N client connections busy, each connecting,
//! handshaking (optionally resuming), optionally sending one `GET` and reading the answer,
//! then closing and starting again. It speaks only TLS 1.2 and HTTP/1.1 on the wire, so it
//! works against any TLS 1.2 server (OpenSSL `s_server`, nginx, Reprise).
//!
//! Every *virtual client* has its own [`ClientConfig`] and so its own session store: with
//! resumption on it offers the session of its own previous connection, as a real client
//! would. With resumption on, each virtual client first does one warm-up handshake that is
//! not counted (it has nothing to offer yet), so the resumed share measures the steady state.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use reprise::{ClientConfig, ClientConnection, Error, Event};

use crate::histogram::Histogram;
use crate::now_secs;

/// When a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this long (connections in flight at the end are not counted).
    Duration(Duration),
    /// After this many connection attempts (successes plus errors).
    Handshakes(u64),
}

/// What a load run does.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Servers; connections go to them round-robin.
    pub targets: Vec<SocketAddr>,
    /// The name sent in SNI (when it is a DNS name) and checked in the certificate.
    pub server_name: String,
    /// Connections kept busy at once (one virtual client each).
    pub connections: usize,
    /// When to stop.
    pub stop: Stop,
    /// Send `GET PATH` after each handshake and read the whole response.
    pub http_get: Option<String>,
    /// Event-loop threads the virtual clients are spread over.
    pub workers: usize,
    /// Keep each connection open after its handshake (and request) until the run ends,
    /// instead of reconnecting: a way to hold N established connections on a server.
    pub hold: bool,
    /// Time one connection may take (connect, handshake, response) before it counts as an
    /// error.
    pub timeout: Duration,
    /// Do one uncounted handshake per virtual client first (used with resumption).
    pub warm_up: bool,
    /// Print a progress line to stderr once a second.
    pub progress: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            server_name: "localhost".into(),
            connections: 64,
            stop: Stop::Duration(Duration::from_secs(10)),
            http_get: None,
            workers: 1,
            hold: false,
            timeout: Duration::from_secs(10),
            warm_up: false,
            progress: false,
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Handshakes completed in the measured period (with their response, with `http_get`).
    pub handshakes: u64,
    /// Of those, how many resumed a session.
    pub resumed: u64,
    /// Uncounted warm-up handshakes.
    pub warm_up: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// Length of the measured period.
    pub elapsed: Duration,
    /// Connect-to-handshake-done latency (to the end of the response with `http_get`), in µs.
    pub latency: Histogram,
    /// The most connections held open at once (with `hold`).
    pub held: usize,
}

impl LoadReport {
    /// Completed handshakes per second of the measured period.
    pub fn handshakes_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.handshakes as f64 / secs
        } else {
            0.0
        }
    }

    /// Resumed handshakes as a percentage of completed ones.
    pub fn resumed_percent(&self) -> f64 {
        if self.handshakes == 0 {
            0.0
        } else {
            100.0 * self.resumed as f64 / self.handshakes as f64
        }
    }

    /// All errors.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// `handshakes/s: X  resumed: Y%  errors: Z  p50: A ms  p99: B ms`
    pub fn summary_line(&self) -> String {
        format!(
            "handshakes/s: {:.1}  resumed: {:.1}%  errors: {}  p50: {:.2} ms  p99: {:.2} ms",
            self.handshakes_per_sec(),
            self.resumed_percent(),
            self.error_count(),
            self.latency.quantile(0.50) as f64 / 1000.0,
            self.latency.quantile(0.99) as f64 / 1000.0,
        )
    }

    fn merge(&mut self, other: &LoadReport) {
        self.handshakes += other.handshakes;
        self.resumed += other.resumed;
        self.warm_up += other.warm_up;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.latency.merge(&other.latency);
        self.held += other.held;
    }
}

struct Shared {
    handshakes: AtomicU64,
    errors: AtomicU64,
    /// Attempts left with [`Stop::Handshakes`].
    budget: AtomicI64,
    held: AtomicUsize,
    /// The load balancer's rotation: every new connection of any client goes to the next
    /// target, so a client's consecutive connections land wherever the rotation stands.
    next_target: AtomicUsize,
    /// Set by the main thread when every worker's clients are done (or on a failure).
    abort: AtomicBool,
}

/// Runs the load: `configs[i]` is virtual client `i`'s configuration (give each its own
/// session store so each resumes its own session). Blocks until the run ends.
pub fn run(configs: Vec<Arc<ClientConfig>>, options: &LoadOptions) -> io::Result<LoadReport> {
    if options.targets.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no target"));
    }
    if configs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no connections",
        ));
    }
    let workers = options.workers.clamp(1, configs.len());
    let budget = match options.stop {
        Stop::Handshakes(n) => i64::try_from(n).unwrap_or(i64::MAX),
        Stop::Duration(_) => i64::MAX,
    };
    let shared = Arc::new(Shared {
        handshakes: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        budget: AtomicI64::new(budget),
        held: AtomicUsize::new(0),
        next_target: AtomicUsize::new(0),
        abort: AtomicBool::new(false),
    });
    let barrier = Arc::new(Barrier::new(workers + 1));
    let mut per_worker: Vec<Vec<(usize, Arc<ClientConfig>)>> = vec![Vec::new(); workers];
    for (i, c) in configs.into_iter().enumerate() {
        per_worker[i % workers].push((i, c));
    }
    let mut threads = Vec::with_capacity(workers);
    for (w, clients) in per_worker.into_iter().enumerate() {
        let worker = LoadWorker::new(clients, options.clone(), shared.clone())?;
        let barrier = barrier.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("load-{w}"))
                .spawn(move || worker.run(&barrier))?,
        );
    }
    // Warm-up happens before this barrier; the measured period starts after it.
    barrier.wait();
    let start = Instant::now();
    let mut last_print = start;
    let mut announced_hold = false;
    while threads.iter().any(|t| !t.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
        if options.hold
            && !announced_hold
            && shared.held.load(Ordering::Relaxed) >= options.connections
        {
            announced_hold = true;
            println!("holding {} connections", options.connections);
            let _ = io::stdout().flush();
        }
        if options.progress && last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            let secs = start.elapsed().as_secs_f64();
            let n = shared.handshakes.load(Ordering::Relaxed);
            eprint!(
                "\r{secs:6.1} s  handshakes: {n}  ({:.0}/s)  errors: {}  held: {}   ",
                n as f64 / secs.max(1e-9),
                shared.errors.load(Ordering::Relaxed),
                shared.held.load(Ordering::Relaxed),
            );
        }
    }
    let elapsed = start.elapsed();
    if options.progress {
        eprintln!();
    }
    let mut report = LoadReport::default();
    let mut first_error = None;
    for t in threads {
        match t.join() {
            Ok(Ok(r)) => report.merge(&r),
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(_) => first_error = first_error.or(Some(io::Error::other("load worker panicked"))),
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    report.elapsed = match options.stop {
        Stop::Duration(d) => d.min(elapsed).max(Duration::from_millis(1)),
        Stop::Handshakes(_) => elapsed,
    };
    Ok(report)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not connected; starts again at `retry_at`.
    Idle,
    Connecting,
    Handshaking,
    /// Request sent, reading the response.
    Http,
    /// Handshake (and response) done; kept open until the run ends.
    Held,
    /// Finished for this run.
    Done,
}

struct Client {
    config: Arc<ClientConfig>,
    /// Which target the next connection goes to.
    next_target: usize,
    sock: Option<TcpStream>,
    tls: Option<ClientConnection>,
    phase: Phase,
    started: Instant,
    deadline: Instant,
    retry_at: Instant,
    /// Received bytes not yet a whole record.
    buf: Vec<u8>,
    /// The HTTP response so far.
    response: Vec<u8>,
    resumed: bool,
    /// Counts toward the report (false during warm-up).
    counted: bool,
}

struct LoadWorker {
    poll: Poll,
    clients: Vec<Client>,
    options: LoadOptions,
    shared: Arc<Shared>,
    report: LoadReport,
    scratch: Vec<u8>,
    request: Vec<u8>,
    /// End of the measured period (duration runs).
    end: Option<Instant>,
    warming: bool,
}

/// What ended a connection attempt.
enum Outcome {
    Success,
    Failure(String),
}

fn error_kind(e: &Error) -> String {
    match e {
        Error::AlertReceived(a) => format!("alert received: {a}"),
        Error::AlertSent { alert, reason } => format!("alert sent: {alert} ({reason})"),
        other => format!("tls: {other}"),
    }
}

fn io_kind(what: &str, e: &io::Error) -> String {
    format!("{what}: {}", e.kind().to_string().to_lowercase())
}

/// `Some(true)` when `response` holds a complete HTTP/1.x response (by Content-Length),
/// `Some(false)` when more is needed, `None` when it cannot be one.
fn response_complete(response: &[u8]) -> Option<bool> {
    let Some(head_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if response.len() > 64 * 1024 {
            None
        } else {
            Some(false)
        };
    };
    let head = std::str::from_utf8(&response[..head_end]).ok()?;
    if !head.starts_with("HTTP/1.") {
        return None;
    }
    let length = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    });
    match length {
        Some(n) => Some(response.len() - head_end - 4 >= n),
        // Without a length the body ends with the connection.
        None => Some(false),
    }
}

fn status_ok(response: &[u8]) -> Result<(), String> {
    let line_end = response
        .iter()
        .position(|&b| b == b'\r')
        .unwrap_or(response.len());
    let line = String::from_utf8_lossy(&response[..line_end]);
    let code = line.split_whitespace().nth(1).unwrap_or("");
    if !line.starts_with("HTTP/1.") {
        return Err("http: no response".into());
    }
    if code.starts_with('2') || code.starts_with('3') {
        Ok(())
    } else {
        Err(format!("http status {code}"))
    }
}

impl LoadWorker {
    fn new(
        clients: Vec<(usize, Arc<ClientConfig>)>,
        options: LoadOptions,
        shared: Arc<Shared>,
    ) -> io::Result<Self> {
        let now = Instant::now();
        let targets = options.targets.len();
        let clients = clients
            .into_iter()
            .map(|(i, config)| Client {
                config,
                next_target: i % targets,
                sock: None,
                tls: None,
                phase: Phase::Idle,
                started: now,
                deadline: now,
                retry_at: now,
                buf: Vec::new(),
                response: Vec::new(),
                resumed: false,
                counted: false,
            })
            .collect();
        let request = match &options.http_get {
            Some(path) => format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                options.server_name
            )
            .into_bytes(),
            None => Vec::new(),
        };
        Ok(Self {
            poll: Poll::new()?,
            clients,
            options,
            shared,
            report: LoadReport::default(),
            scratch: vec![0; 32 * 1024],
            request,
            end: None,
            warming: false,
        })
    }

    fn run(mut self, barrier: &Barrier) -> io::Result<LoadReport> {
        let result = self.run_inner(barrier);
        if result.is_err() {
            self.shared.abort.store(true, Ordering::Relaxed);
        }
        result.map(|()| self.report)
    }

    fn run_inner(&mut self, barrier: &Barrier) -> io::Result<()> {
        if self.options.warm_up {
            self.warming = true;
            let deadline = Instant::now() + self.options.timeout * 2;
            let outcome = self.event_loop(Some(deadline));
            self.warming = false;
            for i in 0..self.clients.len() {
                self.close(i);
                self.clients[i].phase = Phase::Idle;
            }
            if let Err(e) = outcome {
                barrier.wait();
                return Err(e);
            }
        }
        barrier.wait();
        let now = Instant::now();
        for c in &mut self.clients {
            c.retry_at = now;
        }
        self.end = match self.options.stop {
            Stop::Duration(d) => Some(now + d),
            Stop::Handshakes(_) => None,
        };
        self.event_loop(self.end)?;
        self.report.held = self
            .clients
            .iter()
            .filter(|c| c.phase == Phase::Held)
            .count();
        for i in 0..self.clients.len() {
            self.close(i);
        }
        Ok(())
    }

    /// Runs until every client is done or `until` passes.
    fn event_loop(&mut self, until: Option<Instant>) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_sweep = Instant::now();
        loop {
            let now = Instant::now();
            if until.is_some_and(|u| now >= u) || self.shared.abort.load(Ordering::Relaxed) {
                return Ok(());
            }
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + Duration::from_millis(10);
            }
            if self.clients.iter().all(|c| c.phase == Phase::Done) {
                return Ok(());
            }
            let mut timeout = next_sweep.saturating_duration_since(now);
            if let Some(u) = until {
                timeout = timeout.min(u.saturating_duration_since(now));
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for event in events.iter() {
                let i = event.token().0;
                if i < self.clients.len() {
                    self.drive(i);
                }
            }
        }
    }

    /// Starts idle clients whose time has come and fails connections past their deadline.
    fn sweep(&mut self, now: Instant) {
        for i in 0..self.clients.len() {
            let c = &self.clients[i];
            match c.phase {
                Phase::Idle if c.retry_at <= now => self.start(i),
                Phase::Connecting | Phase::Handshaking | Phase::Http if c.deadline <= now => {
                    let what = match c.phase {
                        Phase::Connecting => "timeout: connect",
                        Phase::Handshaking => "timeout: handshake",
                        _ => "timeout: response",
                    };
                    self.finish(i, Outcome::Failure(what.into()));
                }
                _ => {}
            }
        }
    }

    /// Opens the next connection of client `i` (if the run still wants one).
    fn start(&mut self, i: usize) {
        if !self.warming {
            if let Stop::Handshakes(_) = self.options.stop {
                if self.shared.budget.fetch_sub(1, Ordering::Relaxed) <= 0 {
                    self.clients[i].phase = Phase::Done;
                    return;
                }
            }
        }
        let target = {
            let n = self.options.targets.len();
            let c = &mut self.clients[i];
            // A client's first connection goes to its own slot (spreading the warm-up); later
            // ones follow the shared rotation, as behind a round-robin load balancer.
            let slot = if c.next_target == usize::MAX {
                self.shared.next_target.fetch_add(1, Ordering::Relaxed)
            } else {
                std::mem::replace(&mut c.next_target, usize::MAX)
            };
            self.options.targets[slot % n]
        };
        let now = Instant::now();
        let c = &mut self.clients[i];
        c.started = now;
        c.deadline = now + self.options.timeout;
        c.buf.clear();
        c.response.clear();
        c.resumed = false;
        c.counted = !self.warming;
        c.tls = match ClientConnection::new(c.config.clone(), &self.options.server_name) {
            Ok(t) => Some(t),
            Err(e) => {
                let kind = error_kind(&e);
                self.finish(i, Outcome::Failure(kind));
                return;
            }
        };
        match TcpStream::connect(target) {
            Ok(mut sock) => {
                let _ = sock.set_nodelay(true);
                if let Err(e) = self.poll.registry().register(
                    &mut sock,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                ) {
                    self.finish(i, Outcome::Failure(io_kind("register", &e)));
                    return;
                }
                c.sock = Some(sock);
                c.phase = Phase::Connecting;
            }
            Err(e) => self.finish(i, Outcome::Failure(io_kind("connect", &e))),
        }
    }

    /// Handles readiness of client `i`'s socket.
    fn drive(&mut self, i: usize) {
        if let Err(outcome) = self.drive_inner(i) {
            self.finish(i, outcome);
        }
    }

    fn drive_inner(&mut self, i: usize) -> Result<(), Outcome> {
        let c = &mut self.clients[i];
        let Some(sock) = c.sock.as_mut() else {
            return Ok(());
        };
        if c.phase == Phase::Connecting {
            match sock.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return Err(Outcome::Failure(io_kind("connect", &e))),
            }
            match sock.peer_addr() {
                Ok(_) => c.phase = Phase::Handshaking,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(Outcome::Failure(io_kind("connect", &e))),
            }
        }
        loop {
            let c = &mut self.clients[i];
            let (Some(sock), Some(tls)) = (c.sock.as_mut(), c.tls.as_mut()) else {
                return Ok(());
            };
            // Write what the engine has queued.
            while tls.wants_transmit() {
                match sock.write(tls.pending_output()) {
                    Ok(0) => return Err(Outcome::Failure("io: write zero".into())),
                    Ok(n) => tls.consume_output(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Outcome::Failure(io_kind("write", &e))),
                }
            }
            let n = match sock.read(&mut self.scratch) {
                Ok(0) => {
                    return match c.phase {
                        Phase::Http => self.response_ended(i),
                        Phase::Held => Err(Outcome::Failure("closed by server while held".into())),
                        _ => Err(Outcome::Failure("eof during handshake".into())),
                    }
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Outcome::Failure(io_kind("read", &e))),
            };
            c.buf.extend_from_slice(&self.scratch[..n]);
            if self.process(i)? {
                return Err(Outcome::Success);
            }
        }
    }

    /// Feeds buffered records to the engine. `Ok(true)` when this connection is complete.
    fn process(&mut self, i: usize) -> Result<bool, Outcome> {
        let c = &mut self.clients[i];
        let Some(tls) = c.tls.as_mut() else {
            return Ok(false);
        };
        let mut start = 0;
        let mut peer_closed = false;
        let mut complete = false;
        let mut handshake_done = false;
        while start < c.buf.len() {
            let receipt = tls
                .receive(&mut c.buf[start..], now_secs())
                .map_err(|e| Outcome::Failure(error_kind(&e)))?;
            while let Some(event) = tls.next_event() {
                match event {
                    Event::HandshakeDone { resumed } => {
                        c.resumed = resumed.is_some();
                        handshake_done = true;
                    }
                    Event::PeerClosed => peer_closed = true,
                    _ => {}
                }
            }
            if !receipt.plaintext.is_empty() {
                let plain = start + receipt.plaintext.start..start + receipt.plaintext.end;
                c.response.extend_from_slice(&c.buf[plain]);
            }
            start += receipt.consumed;
            if receipt.consumed == 0 {
                break;
            }
        }
        c.buf.drain(..start);
        if handshake_done {
            if self.request.is_empty() {
                if self.options.hold && !self.warming {
                    self.hold(i);
                } else {
                    complete = true;
                }
            } else {
                let c = &mut self.clients[i];
                if let Some(tls) = c.tls.as_mut() {
                    tls.send(&self.request)
                        .map_err(|e| Outcome::Failure(error_kind(&e)))?;
                }
                c.phase = Phase::Http;
            }
        }
        let c = &mut self.clients[i];
        if c.phase == Phase::Http {
            match response_complete(&c.response) {
                None => return Err(Outcome::Failure("http: malformed response".into())),
                Some(true) => {
                    status_ok(&c.response).map_err(Outcome::Failure)?;
                    if self.options.hold && !self.warming {
                        self.hold(i);
                    } else {
                        complete = true;
                    }
                }
                Some(false) if peer_closed => {
                    return self.response_ended(i).map(|()| false);
                }
                Some(false) => {}
            }
        } else if peer_closed && c.phase == Phase::Handshaking {
            return Err(Outcome::Failure("close_notify during handshake".into()));
        }
        Ok(complete)
    }

    /// The server ended the connection while we read a response: complete if it is one.
    fn response_ended(&mut self, i: usize) -> Result<(), Outcome> {
        let c = &self.clients[i];
        if c.response.is_empty() {
            return Err(Outcome::Failure("eof before response".into()));
        }
        status_ok(&c.response).map_err(Outcome::Failure)?;
        Err(Outcome::Success)
    }

    /// The connection is established (and answered): keep it open.
    fn hold(&mut self, i: usize) {
        self.record_success(i);
        let c = &mut self.clients[i];
        c.phase = Phase::Held;
        c.buf = Vec::new();
        c.response = Vec::new();
        self.shared.held.fetch_add(1, Ordering::Relaxed);
    }

    fn record_success(&mut self, i: usize) {
        let c = &self.clients[i];
        if !c.counted {
            self.report.warm_up += 1;
            return;
        }
        if self.end.is_some_and(|e| Instant::now() > e) {
            return;
        }
        self.report.handshakes += 1;
        if c.resumed {
            self.report.resumed += 1;
        }
        self.report
            .latency
            .record(c.started.elapsed().as_micros() as u64);
        self.shared.handshakes.fetch_add(1, Ordering::Relaxed);
    }

    /// Ends client `i`'s connection and schedules the next one.
    fn finish(&mut self, i: usize, outcome: Outcome) {
        let was_held = self.clients[i].phase == Phase::Held;
        let failed = match outcome {
            Outcome::Success => {
                self.record_success(i);
                false
            }
            Outcome::Failure(kind) => {
                let in_time = self.end.is_none_or(|e| Instant::now() <= e);
                if in_time || self.warming {
                    *self.report.errors.entry(kind).or_default() += 1;
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
        };
        if was_held {
            self.shared.held.fetch_sub(1, Ordering::Relaxed);
        }
        self.close(i);
        if self.warming {
            self.clients[i].phase = Phase::Done;
        } else if failed {
            // Failures back off a little so a dead server is not hammered in a tight loop.
            let c = &mut self.clients[i];
            c.phase = Phase::Idle;
            c.retry_at = Instant::now() + Duration::from_millis(10);
        } else {
            self.start(i);
        }
    }

    /// Sends close_notify (best effort) and drops the socket.
    fn close(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if let (Some(sock), Some(tls)) = (c.sock.as_mut(), c.tls.as_mut()) {
            if tls.is_open() {
                tls.close();
                let _ = sock.write(tls.pending_output());
            }
        }
        if let Some(mut sock) = c.sock.take() {
            let _ = self.poll.registry().deregister(&mut sock);
        }
        c.tls = None;
    }
}
