//! The TLS 1.2 load generator of `reprise-mio`, on io_uring: the same [`LoadOptions`], the
//! same [`LoadReport`], the same behaviour (N virtual clients, each connecting, handshaking,
//! optionally resuming its own previous session, optionally sending one `GET`, then closing
//! and starting again), with connects, sends and multishot receives as ring operations.
//!
//! A virtual client's next connection starts only once every operation of its previous one
//! has completed (its receive is cancelled at the end), so its send buffer and descriptor are
//! never reused while the kernel may still use them.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::fd::{IntoRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use io_uring::{opcode, types};

use reprise::{ClientConfig, ClientConnection, Error, Event};
use reprise_mio::now_secs;

use crate::bufring::BufRing;
use crate::ring::{tag, untag, Completion, Op, Ring};
use crate::{LoadOptions, LoadReport, Stop};

const RING_ENTRIES: u32 = 1024;
const CQ_FACTOR: u32 = 8;
const RECV_BUFFERS: u16 = 1024;
const RECV_BUFFER_SIZE: usize = 4096;
const BUFFER_GROUP: u16 = 0;
/// How long the end of a run waits for the kernel to finish every operation.
const QUIESCE_LIMIT: Duration = Duration::from_secs(2);

struct Shared {
    handshakes: AtomicU64,
    errors: AtomicU64,
    /// Attempts left with [`Stop::Handshakes`].
    budget: AtomicI64,
    held: AtomicUsize,
    /// Set by the main thread when a worker failed.
    abort: AtomicBool,
}

fn merge(into: &mut LoadReport, other: &LoadReport) {
    into.handshakes += other.handshakes;
    into.resumed += other.resumed;
    into.warm_up += other.warm_up;
    for (k, v) in &other.errors {
        *into.errors.entry(k.clone()).or_default() += v;
    }
    into.latency.merge(&other.latency);
    into.held += other.held;
}

/// Runs the load: `configs[i]` is virtual client `i`'s configuration (give each its own
/// session store so each resumes its own session). Blocks until the run ends. Fails with
/// [`io::ErrorKind::Unsupported`] and the cause when io_uring cannot be used here.
pub fn run(configs: Vec<Arc<ClientConfig>>, options: &LoadOptions) -> io::Result<LoadReport> {
    crate::probe()?;
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
        abort: AtomicBool::new(false),
    });
    let barrier = Arc::new(Barrier::new(workers + 1));
    let mut per_worker: Vec<Vec<(usize, Arc<ClientConfig>)>> = vec![Vec::new(); workers];
    for (i, c) in configs.into_iter().enumerate() {
        per_worker[i % workers].push((i, c));
    }
    let mut threads = Vec::with_capacity(workers);
    for (w, clients) in per_worker.into_iter().enumerate() {
        let (options, shared, barrier) = (options.clone(), shared.clone(), barrier.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("uring-load-{w}"))
                .spawn(move || {
                    // The ring is made on the thread that uses it (single issuer).
                    match LoadWorker::new(clients, options, shared.clone()) {
                        Ok(worker) => worker.run(&barrier),
                        Err(e) => {
                            shared.abort.store(true, Ordering::Relaxed);
                            barrier.wait();
                            Err(e)
                        }
                    }
                })?,
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
            Ok(Ok(r)) => merge(&mut report, &r),
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
    /// Ended; waiting for its operations to complete before `then`.
    Retiring,
    /// Finished for this run.
    Done,
}

/// What a client does once its previous connection is fully retired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    Start,
    Retry,
    Stop,
}

struct Client {
    config: Arc<ClientConfig>,
    next_target: usize,
    fd: Option<RawFd>,
    generation: u32,
    tls: Option<ClientConnection>,
    phase: Phase,
    then: Then,
    started: Instant,
    deadline: Instant,
    retry_at: Instant,
    /// Received bytes not yet a whole record.
    buf: Vec<u8>,
    response: Vec<u8>,
    /// Records being sent: the kernel reads `out[out_pos..]` while `sending`.
    out: Vec<u8>,
    out_pos: usize,
    sending: bool,
    connecting: bool,
    receiving: bool,
    starved: bool,
    resumed: bool,
    counted: bool,
}

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

fn errno_kind(what: &str, result: i32) -> String {
    io_kind(what, &io::Error::from_raw_os_error(-result))
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

struct LoadWorker {
    /// Declared (so dropped) before `bufs` and `targets`, which its operations use.
    ring: Ring,
    bufs: BufRing,
    /// Socket addresses the connects point at; never changed after creation.
    targets: Vec<socket2::SockAddr>,
    clients: Vec<Client>,
    options: LoadOptions,
    shared: Arc<Shared>,
    report: LoadReport,
    request: Vec<u8>,
    end: Option<Instant>,
    warming: bool,
    completions: Vec<Completion>,
    starved: Vec<usize>,
    fatal: Option<io::Error>,
}

impl LoadWorker {
    fn new(
        clients: Vec<(usize, Arc<ClientConfig>)>,
        options: LoadOptions,
        shared: Arc<Shared>,
    ) -> io::Result<Self> {
        let ring = Ring::new(RING_ENTRIES, CQ_FACTOR)?;
        let mut bufs = BufRing::new(RECV_BUFFERS, RECV_BUFFER_SIZE)?;
        bufs.register(&ring.submitter(), BUFFER_GROUP)?;
        let now = Instant::now();
        let n = options.targets.len();
        let clients = clients
            .into_iter()
            .map(|(i, config)| Client {
                config,
                next_target: i % n,
                fd: None,
                generation: 0,
                tls: None,
                phase: Phase::Idle,
                then: Then::Start,
                started: now,
                deadline: now,
                retry_at: now,
                buf: Vec::new(),
                response: Vec::new(),
                out: Vec::new(),
                out_pos: 0,
                sending: false,
                connecting: false,
                receiving: false,
                starved: false,
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
            ring,
            bufs,
            targets: options
                .targets
                .iter()
                .map(|&a| socket2::SockAddr::from(a))
                .collect(),
            clients,
            options,
            shared,
            report: LoadReport::default(),
            request,
            end: None,
            warming: false,
            completions: Vec::with_capacity((RING_ENTRIES * CQ_FACTOR) as usize),
            starved: Vec::new(),
            fatal: None,
        })
    }

    fn run(mut self, barrier: &Barrier) -> io::Result<LoadReport> {
        let result = self.run_inner(barrier);
        if result.is_err() {
            self.shared.abort.store(true, Ordering::Relaxed);
        }
        let quiet = self.quiesce();
        let report = std::mem::take(&mut self.report);
        if !quiet {
            // The kernel may still use buffers: leak them rather than free them.
            let LoadWorker {
                ring,
                bufs,
                targets,
                clients,
                ..
            } = self;
            drop(ring);
            std::mem::forget(bufs);
            std::mem::forget(targets);
            std::mem::forget(clients);
        }
        result.map(|()| report)
    }

    fn run_inner(&mut self, barrier: &Barrier) -> io::Result<()> {
        if self.options.warm_up {
            self.warming = true;
            let deadline = Instant::now() + self.options.timeout * 2;
            let outcome = self.event_loop(Some(deadline));
            self.warming = false;
            let outcome = outcome.and_then(|()| self.retire_all());
            if let Err(e) = outcome {
                barrier.wait();
                return Err(e);
            }
            for c in &mut self.clients {
                c.phase = Phase::Idle;
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
        self.retire_all()
    }

    /// Ends every connection and waits (bounded) until all are retired.
    fn retire_all(&mut self) -> io::Result<()> {
        for i in 0..self.clients.len() {
            match self.clients[i].phase {
                Phase::Idle | Phase::Done => self.clients[i].phase = Phase::Done,
                Phase::Retiring => self.clients[i].then = Then::Stop,
                _ => {
                    self.say_goodbye(i);
                    self.retire(i, Then::Stop, true);
                }
            }
        }
        let until = Instant::now() + QUIESCE_LIMIT;
        while self.clients.iter().any(|c| c.phase == Phase::Retiring) && Instant::now() < until {
            self.turn(Duration::from_millis(20))?;
        }
        Ok(())
    }

    /// Cancels what is left and waits (bounded) until the ring is idle; false if it is not.
    fn quiesce(&mut self) -> bool {
        for i in 0..self.clients.len() {
            if self.clients[i].phase != Phase::Done {
                self.retire(i, Then::Stop, true);
            }
        }
        let until = Instant::now() + QUIESCE_LIMIT;
        while self.ring.in_flight() > 0 && Instant::now() < until {
            if self.turn(Duration::from_millis(20)).is_err() {
                break;
            }
        }
        let _ = self.ring.enter(Duration::ZERO);
        self.ring.in_flight() == 0
    }

    /// Runs until every client is done or `until` passes.
    fn event_loop(&mut self, until: Option<Instant>) -> io::Result<()> {
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
            self.turn(timeout)?;
        }
    }

    /// One submission-and-wait, then every completion.
    fn turn(&mut self, timeout: Duration) -> io::Result<()> {
        self.ring.enter(timeout)?;
        let mut completions = std::mem::take(&mut self.completions);
        completions.clear();
        self.ring.reap(&mut completions);
        for c in &completions {
            self.complete(c);
        }
        self.completions = completions;
        self.bufs.publish();
        for i in std::mem::take(&mut self.starved) {
            let c = &mut self.clients[i];
            if c.starved {
                c.starved = false;
                if matches!(c.phase, Phase::Handshaking | Phase::Http | Phase::Held) {
                    self.arm_recv(i);
                } else {
                    self.reap(i);
                }
            }
        }
        match self.fatal.take() {
            Some(e) => Err(e),
            None => Ok(()),
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
                Phase::Retiring if c.deadline <= now => {
                    // The peer does not take our close_notify: stop waiting for it.
                    self.retire(i, c.then, true);
                }
                _ => {}
            }
        }
    }

    fn push_plain(&mut self, entry: io_uring::squeue::Entry) {
        if let Err(e) = self.ring.push_plain(entry) {
            self.fatal.get_or_insert(e);
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
        let t = {
            let c = &mut self.clients[i];
            let t = c.next_target % self.targets.len();
            c.next_target = c.next_target.wrapping_add(1);
            t
        };
        let now = Instant::now();
        let c = &mut self.clients[i];
        c.started = now;
        c.deadline = now + self.options.timeout;
        c.buf.clear();
        c.response.clear();
        c.resumed = false;
        c.counted = !self.warming;
        c.generation = (c.generation + 1) & 0xff_ffff;
        c.tls = match ClientConnection::new(c.config.clone(), &self.options.server_name) {
            Ok(t) => Some(t),
            Err(e) => {
                let kind = error_kind(&e);
                self.finish(i, Outcome::Failure(kind));
                return;
            }
        };
        let target: SocketAddr = self.options.targets[t];
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(target),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .and_then(|s| s.set_tcp_nodelay(true).map(|()| s));
        let socket = match socket {
            Ok(s) => s,
            Err(e) => {
                self.finish(i, Outcome::Failure(io_kind("socket", &e)));
                return;
            }
        };
        let fd = socket.into_raw_fd();
        let addr = &self.targets[t];
        let entry = opcode::Connect::new(types::Fd(fd), addr.as_ptr().cast(), addr.len())
            .build()
            .user_data(tag(Op::Connect, c.generation, i));
        c.fd = Some(fd);
        c.phase = Phase::Connecting;
        // SAFETY: the kernel reads the address from `self.targets[t]`, whose heap storage is
        // never changed or freed while the worker runs; on a forced end with operations still
        // in flight, `run` leaks `targets` instead of freeing it.
        if let Err(e) = unsafe { self.ring.push(&entry) } {
            self.fatal.get_or_insert(e);
            return;
        }
        self.clients[i].connecting = true;
    }

    fn arm_recv(&mut self, i: usize) {
        let c = &mut self.clients[i];
        let Some(fd) = c.fd else {
            return;
        };
        let entry = opcode::RecvMulti::new(types::Fd(fd), BUFFER_GROUP)
            .build()
            .user_data(tag(Op::Recv, c.generation, i));
        c.receiving = true;
        // Buffers come from the registered ring, which outlives every operation (see `run`).
        self.push_plain(entry);
    }

    /// Sends what the engine has queued, unless a send is in flight.
    fn flush(&mut self, i: usize) {
        let c = &mut self.clients[i];
        let (Some(fd), Some(tls)) = (c.fd, c.tls.as_mut()) else {
            return;
        };
        if c.sending || !tls.wants_transmit() {
            return;
        }
        c.out.clear();
        c.out.extend_from_slice(tls.pending_output());
        let n = c.out.len();
        tls.consume_output(n);
        c.out_pos = 0;
        self.push_send(i, fd);
    }

    fn push_send(&mut self, i: usize, fd: RawFd) {
        let c = &mut self.clients[i];
        let rest = &c.out[c.out_pos..];
        let entry = opcode::Send::new(types::Fd(fd), rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(tag(Op::Send, c.generation, i));
        // SAFETY: the kernel reads `rest` until the send completes; `c.out` is not touched
        // while `c.sending` is true (`flush` checks it, the completion clears it first), the
        // client's next connection starts only after its last send completed, and `clients`
        // is leaked, not freed, if the run ends with operations in flight.
        if let Err(e) = unsafe { self.ring.push(&entry) } {
            self.fatal.get_or_insert(e);
            return;
        }
        c.sending = true;
    }

    fn complete(&mut self, cqe: &Completion) {
        let (op, generation, i) = untag(cqe.user_data);
        let current = self
            .clients
            .get(i)
            .is_some_and(|c| c.generation == generation && c.fd.is_some());
        match op {
            Some(Op::Connect) if current => {
                self.clients[i].connecting = false;
                if self.clients[i].phase == Phase::Connecting {
                    if cqe.result < 0 {
                        self.finish(i, Outcome::Failure(errno_kind("connect", cqe.result)));
                    } else {
                        self.clients[i].phase = Phase::Handshaking;
                        self.arm_recv(i);
                        self.flush(i);
                    }
                } else {
                    self.reap(i);
                }
            }
            Some(Op::Send) if current => {
                let c = &mut self.clients[i];
                c.sending = false;
                if c.phase == Phase::Retiring {
                    self.reap(i);
                } else if cqe.result < 0 {
                    self.finish(i, Outcome::Failure(errno_kind("write", cqe.result)));
                } else {
                    c.out_pos += cqe.result as usize;
                    if c.out_pos < c.out.len() {
                        if let Some(fd) = c.fd {
                            self.push_send(i, fd);
                        }
                    } else {
                        self.flush(i);
                    }
                }
            }
            Some(Op::Recv) if current => self.received(i, cqe),
            _ => {
                if let Some(bid) = cqe.buffer() {
                    self.bufs.recycle(bid);
                }
            }
        }
    }

    fn received(&mut self, i: usize, cqe: &Completion) {
        let c = &mut self.clients[i];
        if !cqe.more() {
            c.receiving = false;
        }
        if c.phase == Phase::Retiring {
            if let Some(bid) = cqe.buffer() {
                self.bufs.recycle(bid);
            }
            self.reap(i);
            return;
        }
        if cqe.result > 0 {
            if let Some(bid) = cqe.buffer() {
                c.buf
                    .extend_from_slice(self.bufs.get_mut(bid, cqe.result as usize));
                self.bufs.recycle(bid);
            }
            match self.process(i) {
                Ok(true) => self.finish(i, Outcome::Success),
                Ok(false) => {
                    self.flush(i);
                    let c = &mut self.clients[i];
                    if !c.receiving && !c.starved && c.phase != Phase::Retiring {
                        self.arm_recv(i);
                    }
                }
                Err(outcome) => self.finish(i, outcome),
            }
            return;
        }
        if cqe.result == 0 {
            let outcome = match c.phase {
                Phase::Http => match self.response_ended(i) {
                    Ok(()) => return,
                    Err(o) => o,
                },
                Phase::Held => Outcome::Failure("closed by server while held".into()),
                _ => Outcome::Failure("eof during handshake".into()),
            };
            self.finish(i, outcome);
        } else if cqe.result == -libc::ENOBUFS {
            c.starved = true;
            self.starved.push(i);
        } else if cqe.result != -libc::ECANCELED {
            self.finish(i, Outcome::Failure(errno_kind("read", cqe.result)));
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
        let then = if self.warming {
            Then::Stop
        } else if failed {
            Then::Retry
        } else {
            Then::Start
        };
        if !failed {
            self.say_goodbye(i);
        }
        self.retire(i, then, failed);
    }

    /// Queues close_notify (best effort).
    fn say_goodbye(&mut self, i: usize) {
        if let Some(tls) = self.clients[i].tls.as_mut() {
            if tls.is_open() {
                tls.close();
            }
        }
        self.flush(i);
    }

    /// Ends the connection's operations (the receive always, the send when `force`); `then`
    /// happens once all have completed.
    fn retire(&mut self, i: usize, then: Then, force: bool) {
        let c = &mut self.clients[i];
        c.then = then;
        if c.phase == Phase::Done || c.fd.is_none() {
            c.phase = Phase::Retiring;
            self.reap(i);
            return;
        }
        let generation = c.generation;
        if c.phase != Phase::Retiring {
            c.phase = Phase::Retiring;
            c.deadline = Instant::now() + Duration::from_millis(500);
        }
        let (receiving, connecting, sending) = (c.receiving, c.connecting, c.sending);
        if receiving {
            self.push_plain(
                opcode::AsyncCancel::new(tag(Op::Recv, generation, i))
                    .build()
                    .user_data(tag(Op::Other, 0, 0)),
            );
        }
        if connecting {
            self.push_plain(
                opcode::AsyncCancel::new(tag(Op::Connect, generation, i))
                    .build()
                    .user_data(tag(Op::Other, 0, 0)),
            );
        }
        if sending && force {
            self.push_plain(
                opcode::AsyncCancel::new(tag(Op::Send, generation, i))
                    .build()
                    .user_data(tag(Op::Other, 0, 0)),
            );
        }
        self.reap(i);
    }

    /// Closes a retiring client's socket once none of its operations is in flight, then does
    /// what comes next.
    fn reap(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if c.phase != Phase::Retiring || c.sending || c.receiving || c.connecting || c.starved {
            return;
        }
        c.tls = None;
        if let Some(fd) = c.fd.take() {
            self.push_plain(opcode::Close::new(types::Fd(fd)).build().user_data(tag(
                Op::Other,
                0,
                0,
            )));
        }
        let c = &mut self.clients[i];
        match c.then {
            Then::Start if !self.warming => {
                c.phase = Phase::Idle;
                self.start(i);
            }
            Then::Retry => {
                c.phase = Phase::Idle;
                // Failures back off a little so a dead server is not hammered.
                c.retry_at = Instant::now() + Duration::from_millis(10);
            }
            _ => c.phase = Phase::Done,
        }
    }
}
