//! What one connection of a load generator's virtual client does, shared by the mio loop
//! (`reprise-tls-mio`) and the io_uring one (`reprise-tls-uring`): what one connection of a virtual client does once
//! its socket is up ([`Exchange`]: TLS handshake, optional `GET`, the verdict), how outcomes
//! are counted ([`Ledger`]), the counters every worker shares ([`LoadShared`]) and the main
//! thread's part of a run ([`supervise`]). A driver only moves bytes and owns sockets.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reprise::{ClientConfig, ClientConnection, Error, Event, Inbound};

use crate::{LoadOptions, LoadReport, Stop};

/// Counters shared by the main thread and every load worker.
#[derive(Debug)]
pub struct LoadShared {
    /// Handshakes counted so far (for the progress line).
    pub handshakes: AtomicU64,
    /// Errors counted so far.
    pub errors: AtomicU64,
    /// Attempts left with [`Stop::Handshakes`].
    pub budget: AtomicI64,
    /// Connections held open now (with [`LoadOptions::hold`]).
    pub held: AtomicUsize,
    /// The load balancer's rotation: every new connection of any client goes to the next
    /// target, so a client's consecutive connections land wherever the rotation stands.
    next_target: AtomicUsize,
    /// Set when the run must end early (every client done, or a worker failed).
    pub abort: AtomicBool,
}

impl LoadShared {
    /// Counters for a run with `options`.
    pub fn new(options: &LoadOptions) -> Arc<Self> {
        let budget = match options.stop {
            Stop::Handshakes(n) => i64::try_from(n).unwrap_or(i64::MAX),
            Stop::Duration(_) => i64::MAX,
        };
        Arc::new(Self {
            handshakes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            budget: AtomicI64::new(budget),
            held: AtomicUsize::new(0),
            next_target: AtomicUsize::new(0),
            abort: AtomicBool::new(false),
        })
    }

    /// Takes one attempt from the budget of a [`Stop::Handshakes`] run (during warm-up
    /// nothing is taken); false when the run wants no more connections.
    pub fn take_attempt(&self, options: &LoadOptions, warming: bool) -> bool {
        warming
            || !matches!(options.stop, Stop::Handshakes(_))
            || self.budget.fetch_sub(1, Ordering::Relaxed) > 0
    }

    /// The target index of a client's next connection: its first goes to `*own` (spreading
    /// the warm-up over the targets), later ones follow the shared rotation, as behind a
    /// round-robin load balancer.
    pub fn next_target(&self, own: &mut usize, targets: usize) -> usize {
        let slot = if *own == usize::MAX {
            self.next_target.fetch_add(1, Ordering::Relaxed)
        } else {
            std::mem::replace(own, usize::MAX)
        };
        slot % targets.max(1)
    }
}

/// The virtual clients (index, configuration) one load worker runs.
pub type WorkerClients = Vec<(usize, Arc<ClientConfig>)>;

/// Checks a run's inputs and deals virtual clients out to the workers, round-robin.
pub fn deal(
    configs: Vec<Arc<ClientConfig>>,
    options: &LoadOptions,
) -> io::Result<Vec<WorkerClients>> {
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
    let mut per_worker: Vec<WorkerClients> = vec![Vec::new(); workers];
    for (i, c) in configs.into_iter().enumerate() {
        per_worker[i % workers].push((i, c));
    }
    Ok(per_worker)
}

/// The main thread's part of a run, once the workers are started: waits at `barrier` for
/// their warm-up, then until they end (announcing held connections and printing the
/// progress line as the options say), and merges their reports.
pub fn supervise(
    threads: Vec<JoinHandle<io::Result<LoadReport>>>,
    shared: &LoadShared,
    options: &LoadOptions,
    barrier: &Barrier,
) -> io::Result<LoadReport> {
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

/// What ended a connection attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The handshake (and response) completed.
    Success,
    /// It failed; the error kind as counted in the report.
    Failure(String),
}

/// The report's name for an engine error.
pub fn error_kind(e: &Error) -> String {
    match e {
        Error::AlertReceived(a) => format!("alert received: {a}"),
        Error::AlertSent(cause) => format!("alert sent: {} ({cause})", cause.alert()),
        other => format!("tls: {other}"),
    }
}

/// The report's name for an I/O error of operation `what`.
pub fn io_kind(what: &str, e: &io::Error) -> String {
    format!("{what}: {}", e.kind().to_string().to_lowercase())
}

/// The request a client sends after its handshake (empty without [`LoadOptions::http_get`]).
pub fn http_request(options: &LoadOptions) -> Vec<u8> {
    match &options.http_get {
        Some(path) => format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            options.server_name
        )
        .into_bytes(),
        None => Vec::new(),
    }
}

/// Where a connection's exchange stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// TLS handshake in progress.
    Handshaking,
    /// Request sent, reading the response.
    Http,
    /// Handshake (and response) done; kept open until the run ends.
    Held,
}

/// What feeding received bytes led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absorbed {
    /// More bytes are needed (output may be queued in the engine: flush it).
    Pending,
    /// The connection did its job: close it and count a success.
    Complete,
    /// The connection did its job and is to be kept open: count a success now
    /// ([`Ledger::hold`]).
    Hold,
}

/// One connection of a virtual client, from the socket being up to its verdict.
pub struct Exchange {
    /// The TLS client (none between connections).
    pub tls: Option<ClientConnection>,
    /// Received bytes not yet a whole record.
    pub buf: Vec<u8>,
    /// The HTTP response so far.
    pub response: Vec<u8>,
    /// Where it stands.
    pub stage: Stage,
    /// The handshake resumed a session.
    pub resumed: bool,
    /// Counts toward the report (false during warm-up).
    pub counted: bool,
    /// When the connection was started (latency is measured from here).
    pub started: Instant,
}

impl Default for Exchange {
    fn default() -> Self {
        Self {
            tls: None,
            buf: Vec::new(),
            response: Vec::new(),
            stage: Stage::Handshaking,
            resumed: false,
            counted: false,
            started: Instant::now(),
        }
    }
}

impl Exchange {
    /// Starts a new connection's exchange with a fresh TLS client.
    pub fn begin(
        &mut self,
        config: &Arc<ClientConfig>,
        options: &LoadOptions,
        counted: bool,
        now: Instant,
    ) -> Result<(), Outcome> {
        self.started = now;
        self.buf.clear();
        self.response.clear();
        self.stage = Stage::Handshaking;
        self.resumed = false;
        self.counted = counted;
        self.tls = None;
        let tls = ClientConnection::new(config.clone(), &options.server_name)
            .map_err(|e| Outcome::Failure(error_kind(&e)))?;
        self.tls = Some(tls);
        Ok(())
    }

    /// Feeds the bytes in `buf` (appended by the driver) to the engine: sends `request` once
    /// the handshake is done, and judges the response. `hold` keeps a finished connection
    /// open instead of completing it.
    pub fn absorb(&mut self, request: &[u8], hold: bool) -> Result<Absorbed, Outcome> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(Absorbed::Pending);
        };
        let mut peer_closed = false;
        let mut handshake_done = false;
        let mut inbound = Inbound::new(&mut self.buf);
        loop {
            let plain = tls
                .next_plaintext(&mut inbound, reprise::unix_time())
                .map_err(|e| Outcome::Failure(error_kind(&e)))?;
            while let Some(event) = tls.next_event() {
                match event {
                    Event::HandshakeDone { resumed } => {
                        self.resumed = resumed.is_some();
                        handshake_done = true;
                    }
                    Event::PeerClosed => peer_closed = true,
                    _ => {}
                }
            }
            match plain {
                Some(plain) => self.response.extend_from_slice(plain),
                None => break,
            }
        }
        let used = inbound.consumed();
        self.buf.drain(..used);
        let done = if hold {
            Absorbed::Hold
        } else {
            Absorbed::Complete
        };
        if handshake_done {
            if request.is_empty() {
                return Ok(done);
            }
            tls.send(request)
                .map_err(|e| Outcome::Failure(error_kind(&e)))?;
            self.stage = Stage::Http;
        }
        match self.stage {
            Stage::Http => match response_complete(&self.response) {
                None => Err(Outcome::Failure("http: malformed response".into())),
                Some(true) => {
                    status_ok(&self.response).map_err(Outcome::Failure)?;
                    Ok(done)
                }
                Some(false) if peer_closed => Err(self.at_eof()),
                Some(false) => Ok(Absorbed::Pending),
            },
            Stage::Handshaking if peer_closed => {
                Err(Outcome::Failure("close_notify during handshake".into()))
            }
            _ => Ok(Absorbed::Pending),
        }
    }

    /// The verdict when the server ends the connection (EOF or close_notify): a complete
    /// response is a success, anything else a failure. A response cut short is counted as
    /// `truncated`: fewer body bytes than its Content-Length, or a body delimited by the
    /// connection's end that ended without the server's close_notify (RFC 5246 §7.2.1: only
    /// close_notify says all data was sent).
    pub fn at_eof(&self) -> Outcome {
        self.verdict(self.tls.as_ref().is_some_and(|t| t.peer_closed()))
    }

    /// [`at_eof`](Self::at_eof), told whether the server said close_notify.
    fn verdict(&self, said_goodbye: bool) -> Outcome {
        match self.stage {
            Stage::Http if self.response.is_empty() => {
                Outcome::Failure("eof before response".into())
            }
            Stage::Http => {
                let cut_short = match response_complete(&self.response) {
                    None => Some("http: malformed response"),
                    Some(true) => None,
                    Some(false) if !self.response.windows(4).any(|w| w == b"\r\n\r\n") => {
                        Some("truncated: response head cut short")
                    }
                    Some(false) if body_length(&self.response).is_some() => {
                        Some("truncated: body shorter than content-length")
                    }
                    // A body delimited by the connection's end.
                    Some(false) if !said_goodbye => Some("truncated: no close_notify before eof"),
                    Some(false) => None,
                };
                match cut_short {
                    Some(kind) => Outcome::Failure(kind.into()),
                    None => status_ok(&self.response)
                        .map_or_else(Outcome::Failure, |()| Outcome::Success),
                }
            }
            Stage::Held => Outcome::Failure("closed by server while held".into()),
            Stage::Handshaking => Outcome::Failure("eof during handshake".into()),
        }
    }

    /// Queues close_notify if the connection is open; the driver then sends it (best effort).
    pub fn say_goodbye(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            if tls.is_open() {
                tls.close();
            }
        }
    }
}

/// One worker's report in the making, and the rules of what counts.
#[derive(Debug, Default)]
pub struct Ledger {
    /// What was counted so far.
    pub report: LoadReport,
    /// End of the measured period (duration runs): later outcomes are not counted.
    pub end: Option<Instant>,
    /// Warm-up handshakes are counted apart; warm-up errors count.
    pub warming: bool,
}

impl Ledger {
    /// Counts a completed connection.
    pub fn success(&mut self, x: &Exchange, shared: &LoadShared) {
        if !x.counted {
            self.report.warm_up += 1;
            return;
        }
        if self.end.is_some_and(|e| Instant::now() > e) {
            return;
        }
        self.report.handshakes += 1;
        if x.resumed {
            self.report.resumed += 1;
        }
        self.report
            .latency
            .record(x.started.elapsed().as_micros() as u64);
        shared.handshakes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failure of kind `kind` (when in the measured period or warming up).
    pub fn failure(&mut self, kind: String, shared: &LoadShared) {
        let in_time = self.end.is_none_or(|e| Instant::now() <= e);
        if in_time || self.warming {
            *self.report.errors.entry(kind).or_default() += 1;
            shared.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts `outcome`; true when it was a failure.
    pub fn count(&mut self, outcome: Outcome, x: &Exchange, shared: &LoadShared) -> bool {
        match outcome {
            Outcome::Success => {
                self.success(x, shared);
                false
            }
            Outcome::Failure(kind) => {
                self.failure(kind, shared);
                true
            }
        }
    }

    /// Counts a success and keeps the connection open: its buffers are released.
    pub fn hold(&mut self, x: &mut Exchange, shared: &LoadShared) {
        self.success(x, shared);
        x.stage = Stage::Held;
        x.buf = Vec::new();
        x.response = Vec::new();
        shared.held.fetch_add(1, Ordering::Relaxed);
    }
}

/// The Content-Length of the response whose head `response` starts with, if its head is
/// whole and names one.
fn body_length(response: &[u8]) -> Option<usize> {
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&response[..head_end]).ok()?;
    head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    })
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
    match body_length(response) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_judged_by_length_and_status() {
        assert_eq!(response_complete(b"HTTP/1.1 200 OK\r\n"), Some(false));
        assert_eq!(
            response_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            Some(true)
        );
        assert_eq!(
            response_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok"),
            Some(false)
        );
        assert_eq!(response_complete(b"SSH-2.0\r\n\r\n"), None);
        assert!(status_ok(b"HTTP/1.1 302 Found\r\n").is_ok());
        assert_eq!(
            status_ok(b"HTTP/1.1 503 Busy\r\n"),
            Err("http status 503".into())
        );
    }

    #[test]
    fn eof_verdicts_follow_the_stage() {
        let mut x = Exchange::default();
        assert_eq!(x.at_eof(), Outcome::Failure("eof during handshake".into()));
        x.stage = Stage::Http;
        assert_eq!(x.at_eof(), Outcome::Failure("eof before response".into()));
        x.response = b"HTTP/1.0 200 OK\r\n\r\nhello".to_vec();
        assert_eq!(x.verdict(true), Outcome::Success);
        // Without close_notify a body that ends with the connection is cut short.
        assert_eq!(
            x.verdict(false),
            Outcome::Failure("truncated: no close_notify before eof".into())
        );
        x.response = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf".to_vec();
        assert_eq!(
            x.verdict(true),
            Outcome::Failure("truncated: body shorter than content-length".into())
        );
        x.response = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nfull".to_vec();
        assert_eq!(x.verdict(false), Outcome::Success);
        x.stage = Stage::Held;
        assert_eq!(
            x.at_eof(),
            Outcome::Failure("closed by server while held".into())
        );
    }

    #[test]
    fn the_rotation_spreads_first_connections_then_round_robins() {
        let shared = LoadShared::new(&LoadOptions::default());
        let mut own = 2;
        assert_eq!(shared.next_target(&mut own, 3), 2);
        assert_eq!(shared.next_target(&mut own, 3), 0);
        assert_eq!(shared.next_target(&mut own, 3), 1);
        let mut other = 1;
        assert_eq!(shared.next_target(&mut other, 3), 1);
        assert_eq!(shared.next_target(&mut other, 3), 2);
    }

    #[test]
    fn the_budget_ends_a_handshakes_run() {
        let options = LoadOptions {
            stop: Stop::Handshakes(2),
            ..LoadOptions::default()
        };
        let shared = LoadShared::new(&options);
        assert!(shared.take_attempt(&options, true));
        assert!(shared.take_attempt(&options, false));
        assert!(shared.take_attempt(&options, false));
        assert!(!shared.take_attempt(&options, false));
        let mut ledger = Ledger {
            end: None,
            ..Ledger::default()
        };
        let x = Exchange {
            counted: true,
            resumed: true,
            ..Exchange::default()
        };
        assert!(!ledger.count(Outcome::Success, &x, &shared));
        assert!(ledger.count(Outcome::Failure("read: reset".into()), &x, &shared));
        assert_eq!((ledger.report.handshakes, ledger.report.resumed), (1, 1));
        assert_eq!(ledger.report.errors.get("read: reset"), Some(&1));
    }
}
