//! A bare-TCP floor for the loopback benchmark (`tcp-floor`): a server and a load generator
//! that exchange opaque bytes in exactly the steps a Reprise TLS 1.2 handshake puts on the
//! wire, with the event-loop structure of `reprise serve --driver mio` and `reprise load`, and
//! no TLS at all. The server's CPU time per exchange is what the kernel and the event loop
//! cost for the TCP part of a handshake (accept, reads, writes, close, epoll): the "TCP" in
//! issue #4's "within about 10 % of crypto + TCP".
//!
//! # Patterns
//!
//! A [`Pattern`] is a list of step sizes in bytes, alternating client, server, client, …
//! (client first). Each step is one `write` by its side. The client writes a step only after
//! the whole previous server step has arrived; after its last step it closes the socket at
//! once without reading what the server still sends (as `reprise load` sends close_notify and
//! drops the socket). The server answers each client step with its own step in one write and
//! closes after its last one.
//!
//! The built-in patterns are TLS 1.2 TCP payload sizes captured with
//! `tshark -i lo -f "tcp port P"` between `reprise serve --driver mio --workers 1
//! --tickets on --session-cache 64MiB` (one ECDSA P-256 certificate made as
//! `scripts/bench-loopback.sh` makes it: `/CN=localhost`, SAN `DNS:localhost,IP:127.0.0.1`,
//! 413 bytes of DER) and `reprise load --connections 1 --handshakes 2 --suites
//! ECDHE-ECDSA-AES128-GCM-SHA256 --groups X25519,P-256`, i.e. the benchmark's settings:
//!
//! | pattern | `--resume` | client | server | client | server | client | server |
//! |---|---|---|---|---|---|---|---|
//! | `full` | `none` | 114 ClientHello | 638 ServerHello, Certificate, ServerKeyExchange, ServerHelloDone | 93 ClientKeyExchange, CCS, Finished | 51 CCS, Finished | 31 close_notify, then FIN | 31 close_notify, then close |
//! | `resumed` (`id`) | `id` | 146 ClientHello (session ID, empty ticket extension) | 147 ServerHello, CCS, Finished | 82 CCS, Finished, close_notify, then FIN | 31 close_notify, then close | | |
//! | `ticket` | `ticket` | 269 ClientHello (with the ticket) | 147 ServerHello, CCS, Finished | 82 CCS, Finished, close_notify, then FIN | 31 close_notify, then close | | |
//!
//! The proxied patterns are a terminator's connection (`reprise serve --backend`, loaded by
//! `reprise load --sni localhost --http-get /`, captured with `strace`): the handshake's
//! steps, the client's request record last ([`PROXIED_FULL`], [`PROXIED_ID`],
//! [`PROXIED_TICKET`]), then what a [`Proxy`] does with a real backend: connect, request,
//! one record-sized write to the client per backend read, close_notify, close.
//!
//! The ServerKeyExchange signature is DER-encoded ECDSA, so the server's first full-handshake
//! flight varies by a byte or two from one handshake to the next (637 and 638 were seen); the
//! certificate's size varies the same way between generated certificates. `--steps` gives
//! other sizes.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

/// Full handshake (`reprise load --resume none`): see the module documentation.
pub const FULL: [usize; 6] = [114, 638, 93, 51, 31, 31];
/// Session-ID resumption (`reprise load --resume id`, the steady state after the warm-up).
pub const RESUMED_ID: [usize; 4] = [146, 147, 82, 31];
/// Ticket resumption (`reprise load --resume ticket`, the steady state after the warm-up).
pub const RESUMED_TICKET: [usize; 4] = [269, 147, 82, 31];

/// A proxied full handshake (`reprise load --resume none --http-get /` through `reprise serve
/// --backend`): the client's last step is its request record; see [`Proxy`].
pub const PROXIED_FULL: [usize; 5] = [131, 654, 93, 51, 83];
/// A proxied session-ID resumption: the client's Finished and request in one step.
pub const PROXIED_ID: [usize; 3] = [163, 162, 134];
/// A proxied ticket resumption.
pub const PROXIED_TICKET: [usize; 3] = [294, 162, 134];

/// What a TLS 1.2 AES-GCM record adds to its plaintext: a 5-byte header, an 8-byte explicit
/// nonce and a 16-byte tag. A proxied floor sends each read from the backend to the client
/// as one step this much larger, as the terminator seals each read as one record.
pub const RECORD_OVERHEAD: usize = 5 + 8 + 16;
/// An encrypted close_notify alert record (2 bytes of alert plus [`RECORD_OVERHEAD`]).
pub const CLOSE_NOTIFY: usize = 2 + RECORD_OVERHEAD;

/// The largest step accepted (a bound on the one zero-filled buffer writes come from).
pub const MAX_STEP: usize = 1 << 20;

/// Bytes one read may take, as the mio server's pooled read buffer
/// (`reprise_mio::READ_BUFFER_SIZE`: one TLS record plus slack).
const READ_SIZE: usize = 5 + (1 << 14) + 2048 + 256;

/// Bytes one read from a backend may take, as the terminator reads an upstream (the most
/// one record carries).
const BACKEND_READ: usize = 1 << 14;

/// Alternating client/server step sizes, client first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// A name for reports (`full`, `resumed`, `ticket`, `proxied-…` or `custom`).
    pub name: String,
    /// Bytes of each step: even indices are the client's writes, odd ones the server's.
    pub steps: Vec<usize>,
    /// The client's last step is a request the server answers from a backend ([`Proxy`]);
    /// the client then reads until the server closes.
    pub proxied: bool,
}

/// The backend of a proxied pattern, as `reprise serve --backend` has one. Once the client's
/// last step has arrived, the server connects to `backend`, sends `request` (the plaintext of
/// the client's request record: a real request, so that a real backend answers it), and
/// sends the client every read from the backend as a step [`RECORD_OVERHEAD`] bytes larger;
/// at the backend's end of file it sends [`CLOSE_NOTIFY`] bytes and closes both sockets.
#[derive(Clone, Debug)]
pub struct Proxy {
    /// The backend's address.
    pub backend: SocketAddr,
    /// The bytes sent to the backend.
    pub request: Vec<u8>,
}

impl Proxy {
    /// The request `reprise load --http-get /` sends (with `--sni host`), which nginx answers
    /// and then closes.
    pub fn http_get(backend: SocketAddr, host: &str) -> Proxy {
        Proxy {
            backend,
            request: format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .into_bytes(),
        }
    }
}

impl Pattern {
    /// A built-in pattern by name: `full`, `resumed` (or `id`), `ticket`, and the proxied
    /// `proxied-full`, `proxied-id`, `proxied-ticket`.
    pub fn named(name: &str) -> Result<Pattern, String> {
        let steps: &[usize] = match name {
            "full" => &FULL,
            "resumed" | "id" => &RESUMED_ID,
            "ticket" => &RESUMED_TICKET,
            "proxied-full" => &PROXIED_FULL,
            "proxied-id" => &PROXIED_ID,
            "proxied-ticket" => &PROXIED_TICKET,
            other => {
                return Err(format!(
                    "pattern is full, resumed (id), ticket, proxied-full, proxied-id or \
                     proxied-ticket, not {other:?}"
                ))
            }
        };
        Ok(Pattern {
            name: if name == "id" { "resumed" } else { name }.into(),
            steps: steps.to_vec(),
            proxied: name.starts_with("proxied-"),
        })
    }

    /// Explicit sizes, e.g. `146,147,82,31`: at least one step, each 1..=[`MAX_STEP`] bytes.
    pub fn from_steps(list: &str) -> Result<Pattern, String> {
        let steps = list
            .split(',')
            .map(|s| {
                let n: usize = s
                    .trim()
                    .parse()
                    .map_err(|_| format!("step {s:?} is not a byte count"))?;
                if n == 0 || n > MAX_STEP {
                    return Err(format!("a step is 1..={MAX_STEP} bytes, not {n}"));
                }
                Ok(n)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pattern {
            name: "custom".into(),
            steps,
            proxied: false,
        })
    }

    /// Bytes the client sends in one exchange.
    pub fn client_bytes(&self) -> u64 {
        self.steps.iter().step_by(2).map(|&n| n as u64).sum()
    }

    /// Bytes the server sends in one exchange.
    pub fn server_bytes(&self) -> u64 {
        self.steps
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&n| n as u64)
            .sum()
    }

    /// Index of the client's last step.
    fn last_client_step(&self) -> usize {
        (self.steps.len() - 1) & !1
    }

    fn largest(&self) -> usize {
        self.steps.iter().copied().max().unwrap_or(0)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<String> = self.steps.iter().map(|n| n.to_string()).collect();
        write!(f, "{} ({})", self.name, steps.join(","))
    }
}

/// Binds a nonblocking listener as the mio server does: `SO_REUSEADDR`, `TCP_NODELAY`
/// (inherited by accepted sockets on Linux) and the given backlog.
pub fn bind(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

pub use crate::uring_floor::{FloorReport as ServeReport, Progress};

const LISTENER: Token = Token(0);
const STOP: Token = Token(1);
const FIRST_CONN: usize = 2;

/// One server-side connection.
struct ServerConn {
    sock: TcpStream,
    progress: Progress,
    /// Bytes of the server's step still to write.
    owed: usize,
    /// Registered for writable events too.
    writable: bool,
    /// The poller reported the peer's FIN.
    read_closed: bool,
    /// A proxied pattern's backend connection, once the client's last step has arrived.
    backend: Option<BackendConn>,
    /// The backend's end of file has been read (a proxied pattern's last server step is due).
    backend_done: bool,
}

/// A proxied connection's backend socket.
struct BackendConn {
    sock: TcpStream,
    /// The connect has completed and the request gone out (or is going).
    connected: bool,
    /// Bytes of the request still to write.
    request_left: usize,
}

/// The server's loop state besides the connections.
struct ServerCtx<'a> {
    poll: Poll,
    pattern: &'a Pattern,
    proxy: Option<&'a Proxy>,
    zeros: Vec<u8>,
    scratch: Vec<u8>,
    report: ServeReport,
}

/// A connection's two tokens: its client socket's and its backend socket's.
fn client_token(key: usize) -> Token {
    Token(FIRST_CONN + 2 * key)
}

fn backend_token(key: usize) -> Token {
    Token(FIRST_CONN + 2 * key + 1)
}

/// Serves `pattern` on `listener` with one mio event loop until `stop` becomes readable
/// (e.g. the read end of a self-pipe that a SIGTERM handler writes to). Then it accepts what
/// is still in the backlog, lets the connections in flight finish within `grace` and
/// returns. A connection lives in a slab, registered edge-triggered for reading; it is read
/// until the current client step has arrived, answered with the server's step in one write,
/// and dropped after its last step. A proxied pattern (`proxy`) then connects its backend as
/// the mio terminator does (a nonblocking connect, registered edge-triggered for reading and
/// writing), sends the request once the connect is reported, answers each backend read with
/// one write and closes both after the backend's end of file. After a busy poll the loop
/// sleeps `batch_wait` before polling again, as `reprise serve --driver mio` does with
/// `--batch-wait` (zero: never).
pub fn serve(
    listener: std::net::TcpListener,
    pattern: &Pattern,
    proxy: Option<&Proxy>,
    mut stop: UnixStream,
    grace: Duration,
    batch_wait: Duration,
) -> io::Result<ServeReport> {
    check_proxy(pattern, proxy)?;
    let mut listener = TcpListener::from_std(listener);
    let mut ctx = ServerCtx {
        poll: Poll::new()?,
        pattern,
        proxy,
        // A relayed read is at most one backend read plus a record's overhead.
        zeros: vec![0; pattern.largest().max(BACKEND_READ + RECORD_OVERHEAD)],
        scratch: vec![0; READ_SIZE],
        report: ServeReport::default(),
    };
    ctx.poll
        .registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    ctx.poll
        .registry()
        .register(&mut stop, STOP, Interest::READABLE)?;
    let mut listener = Some(listener);
    let mut conns: Slab<ServerConn> = Slab::with_capacity(1024);
    let mut events = Events::with_capacity(1024);
    let mut drain_deadline: Option<Instant> = None;
    loop {
        let timeout = drain_deadline.map(|d| d.saturating_duration_since(Instant::now()));
        reprise_mio::server::let_batch_gather(&events, batch_wait, timeout);
        if let Err(e) = ctx.poll.poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => {
                    if let Some(l) = &listener {
                        accept(&mut ctx, l, &mut conns);
                    }
                }
                STOP => {
                    if drain_deadline.is_none() {
                        drain_deadline = Some(Instant::now() + grace);
                        if let Some(mut l) = listener.take() {
                            // What completed its TCP handshake before the stop is served.
                            accept(&mut ctx, &l, &mut conns);
                            let _ = ctx.poll.registry().deregister(&mut l);
                        }
                    }
                }
                Token(t) => {
                    let key = (t - FIRST_CONN) / 2;
                    let from_backend = (t - FIRST_CONN) % 2 == 1;
                    let Some(conn) = conns.get_mut(key) else {
                        continue;
                    };
                    let result = if from_backend {
                        service_backend(&mut ctx, key, conn)
                    } else {
                        conn.read_closed |= event.is_read_closed();
                        service(&mut ctx, key, conn)
                    };
                    match result {
                        Ok(false) => {}
                        Ok(true) => {
                            ctx.report.exchanges += 1;
                            // Dropping the socket closes it (and leaves the epoll set).
                            conns.remove(key);
                        }
                        Err(Failure::Aborted) => {
                            ctx.report.aborted += 1;
                            conns.remove(key);
                        }
                        Err(Failure::Error) => {
                            ctx.report.errors += 1;
                            conns.remove(key);
                        }
                    }
                }
            }
        }
        if let Some(deadline) = drain_deadline {
            if conns.is_empty() || Instant::now() >= deadline {
                break;
            }
        }
    }
    ctx.report.errors += conns.len() as u64;
    Ok(ctx.report)
}

fn accept(ctx: &mut ServerCtx<'_>, listener: &TcpListener, conns: &mut Slab<ServerConn>) {
    loop {
        match listener.accept() {
            Ok((mut sock, _)) => {
                if !cfg!(target_os = "linux") {
                    let _ = sock.set_nodelay(true);
                }
                let entry = conns.vacant_entry();
                let token = client_token(entry.key());
                if ctx
                    .poll
                    .registry()
                    .register(&mut sock, token, Interest::READABLE)
                    .is_err()
                {
                    ctx.report.errors += 1;
                    continue;
                }
                ctx.report.accepted += 1;
                entry.insert(ServerConn {
                    sock,
                    progress: Progress::default(),
                    owed: 0,
                    writable: false,
                    read_closed: false,
                    backend: None,
                    backend_done: false,
                });
                // As in the mio server: registration reports bytes already there, so the
                // first step is read at the next poll.
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                ) => {}
            Err(_) => {
                // Out of descriptors or buffers: counted; the backlog raises a new edge when
                // the next connection arrives.
                ctx.report.errors += 1;
                return;
            }
        }
    }
}

/// Why a server connection ended early.
enum Failure {
    /// The client closed or reset the connection mid-exchange.
    Aborted,
    /// Anything else.
    Error,
}

/// A proxied pattern must end with a client step (the request) and have a backend, and a
/// backend needs a proxied pattern.
pub(crate) fn check_proxy(pattern: &Pattern, proxy: Option<&Proxy>) -> io::Result<()> {
    let problem = match (pattern.proxied, proxy) {
        (true, None) => "a proxied pattern needs a backend",
        (false, Some(_)) => "a backend needs a proxied pattern",
        (true, Some(_)) if pattern.steps.len() % 2 == 0 => {
            "a proxied pattern ends with the client's request"
        }
        _ => return Ok(()),
    };
    Err(io::Error::new(io::ErrorKind::InvalidInput, problem))
}

/// Writes what the server owes the client until the socket would block.
fn flush(ctx: &mut ServerCtx<'_>, conn: &mut ServerConn) -> Result<(), Failure> {
    while conn.owed > 0 {
        let n = conn.owed.min(ctx.zeros.len());
        match conn.sock.write(&ctx.zeros[..n]) {
            Ok(0) => return Err(Failure::Error),
            Ok(n) => {
                conn.owed -= n;
                ctx.report.bytes_out += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_failure(&e)),
        }
    }
    Ok(())
}

/// Whether the exchange is over: every client step read, everything owed written, and with a
/// proxy the backend's answer relayed to its end.
fn complete(ctx: &ServerCtx<'_>, conn: &ServerConn) -> bool {
    conn.owed == 0
        && conn.progress.read_all(&ctx.pattern.steps)
        && (ctx.proxy.is_none() || conn.backend_done)
}

/// Registers the client socket for writable events while something is owed.
fn want_writable(
    ctx: &mut ServerCtx<'_>,
    key: usize,
    conn: &mut ServerConn,
) -> Result<(), Failure> {
    let want_write = conn.owed > 0;
    if want_write != conn.writable {
        let interest = if want_write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        ctx.poll
            .registry()
            .reregister(&mut conn.sock, client_token(key), interest)
            .map_err(|_| Failure::Error)?;
        conn.writable = want_write;
    }
    Ok(())
}

/// Reads and writes until the socket would block. `Ok(true)` when the exchange is complete
/// (the connection is then dropped), `Err` when it failed.
fn service(ctx: &mut ServerCtx<'_>, key: usize, conn: &mut ServerConn) -> Result<bool, Failure> {
    let steps = &ctx.pattern.steps;
    let mut drained = false;
    loop {
        flush(ctx, conn)?;
        if complete(ctx, conn) {
            return Ok(true);
        }
        if conn.owed == 0 && conn.progress.read_all(steps) {
            // A proxied pattern's request has arrived: the backend answers it.
            if conn.backend.is_none() && !conn.backend_done {
                connect_backend(ctx, key, conn)?;
            }
            break;
        }
        if conn.owed > 0 || drained {
            break;
        }
        match conn.sock.read(&mut ctx.scratch) {
            Ok(0) => return Err(Failure::Aborted),
            Ok(n) => {
                ctx.report.bytes_in += n as u64;
                // A short read emptied the socket: with edge-triggered readiness, bytes that
                // arrive later raise a new event, so skip the read that would say EAGAIN.
                drained = n < ctx.scratch.len() && !conn.read_closed;
                // `None`: more than the pattern.
                conn.owed += conn.progress.absorb(steps, n).ok_or(Failure::Error)?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_failure(&e)),
        }
    }
    want_writable(ctx, key, conn)?;
    Ok(false)
}

/// Starts the backend's connect (nonblocking), registered edge-triggered for both readiness
/// kinds as the mio terminator registers an upstream.
fn connect_backend(
    ctx: &mut ServerCtx<'_>,
    key: usize,
    conn: &mut ServerConn,
) -> Result<(), Failure> {
    let proxy = ctx.proxy.ok_or(Failure::Error)?;
    let mut sock = TcpStream::connect(proxy.backend).map_err(|_| Failure::Error)?;
    ctx.poll
        .registry()
        .register(
            &mut sock,
            backend_token(key),
            Interest::READABLE | Interest::WRITABLE,
        )
        .map_err(|_| Failure::Error)?;
    conn.backend = Some(BackendConn {
        sock,
        connected: false,
        request_left: proxy.request.len(),
    });
    Ok(())
}

/// Handles readiness of a connection's backend socket: finishes the connect, sends the
/// request, relays each read to the client as one record-sized write, and at the backend's
/// end of file owes the client its close_notify and closes the backend. `Ok(true)` when the
/// exchange is complete.
fn service_backend(
    ctx: &mut ServerCtx<'_>,
    key: usize,
    conn: &mut ServerConn,
) -> Result<bool, Failure> {
    let Some(backend) = conn.backend.as_mut() else {
        return Ok(false);
    };
    let request = ctx.proxy.map(|p| p.request.as_slice()).unwrap_or_default();
    if !backend.connected {
        match backend.sock.take_error() {
            Ok(None) => backend.connected = true,
            Ok(Some(_)) | Err(_) => return Err(Failure::Error),
        }
    }
    while backend.request_left > 0 {
        let from = request.len() - backend.request_left;
        match backend.sock.write(&request[from..]) {
            Ok(0) => return Err(Failure::Error),
            Ok(n) => backend.request_left -= n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            // Not connected yet: the connect's completion raises a writable event.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                backend.connected = false;
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Failure::Error),
        }
    }
    while let Some(backend) = conn.backend.as_mut() {
        match backend.sock.read(&mut ctx.scratch[..BACKEND_READ]) {
            Ok(0) => {
                conn.owed += CLOSE_NOTIFY;
                conn.backend_done = true;
                break;
            }
            Ok(n) => {
                // Each read goes to the client before the next, as the terminator relays.
                conn.owed += n + RECORD_OVERHEAD;
                flush(ctx, conn)?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Failure::Error),
        }
    }
    flush(ctx, conn)?;
    if complete(ctx, conn) {
        return Ok(true);
    }
    want_writable(ctx, key, conn)?;
    Ok(false)
}

fn io_failure(e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => Failure::Aborted,
        _ => Failure::Error,
    }
}

/// When a [`load`] run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// After this long (exchanges in flight at the end are not counted).
    Duration(Duration),
    /// After this many connection attempts (successes plus errors).
    Exchanges(u64),
}

/// What a [`load`] run does.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The server.
    pub target: SocketAddr,
    /// Connections kept busy at once.
    pub connections: usize,
    /// When to stop.
    pub bound: Bound,
    /// Time one exchange may take before it counts as an error.
    pub timeout: Duration,
}

/// The outcome of a [`load`] run.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Exchanges completed in the measured period.
    pub exchanges: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// Length of the measured period.
    pub elapsed: Duration,
}

impl LoadReport {
    /// All errors.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Completed exchanges per second.
    pub fn per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.exchanges as f64 / secs
        } else {
            0.0
        }
    }
}

impl fmt::Display for LoadReport {
    /// `exchanges: N in T s`, `exchanges/s: X  errors: Y`, then one indented line per kind
    /// of error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "exchanges: {} in {:.2} s",
            self.exchanges,
            self.elapsed.as_secs_f64()
        )?;
        write!(
            f,
            "exchanges/s: {:.1}  errors: {}",
            self.per_sec(),
            self.error_count()
        )?;
        for (kind, n) in &self.errors {
            write!(f, "\n  {kind}: {n}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not connected; starts again at `retry_at`.
    Idle,
    Connecting,
    Exchanging,
    /// Finished for this run.
    Done,
}

struct Client {
    sock: Option<TcpStream>,
    phase: Phase,
    /// Index of the step in progress: even, the client's step being written; odd, the
    /// server's step being read.
    step: usize,
    /// Bytes of the client's step still to write, or of the server's step read so far.
    count: usize,
    deadline: Instant,
    retry_at: Instant,
}

struct LoadCtx<'a> {
    poll: Poll,
    pattern: &'a Pattern,
    options: &'a LoadOptions,
    zeros: Vec<u8>,
    scratch: Vec<u8>,
    report: LoadReport,
    /// Attempts left with [`Bound::Exchanges`].
    budget: u64,
    end: Option<Instant>,
}

enum Outcome {
    Success,
    Failure(&'static str),
}

/// Keeps `options.connections` connections busy on one mio event loop, as `reprise load`
/// does with one worker: connect, do the client's steps (each one write, after the server's
/// previous step has fully arrived), close at once after the last one, reconnect.
pub fn load(pattern: &Pattern, options: &LoadOptions) -> io::Result<LoadReport> {
    if pattern.steps.is_empty() || options.connections == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an empty pattern or no connections",
        ));
    }
    let now = Instant::now();
    let mut clients: Vec<Client> = (0..options.connections)
        .map(|_| Client {
            sock: None,
            phase: Phase::Idle,
            step: 0,
            count: 0,
            deadline: now,
            retry_at: now,
        })
        .collect();
    let mut ctx = LoadCtx {
        poll: Poll::new()?,
        pattern,
        options,
        zeros: vec![0; pattern.largest()],
        scratch: vec![0; 32 * 1024],
        report: LoadReport::default(),
        budget: match options.bound {
            Bound::Exchanges(n) => n,
            Bound::Duration(_) => u64::MAX,
        },
        end: match options.bound {
            Bound::Duration(d) => Some(now + d),
            Bound::Exchanges(_) => None,
        },
    };
    let mut events = Events::with_capacity(1024);
    let mut next_sweep = now;
    loop {
        let now = Instant::now();
        if ctx.end.is_some_and(|e| now >= e) {
            break;
        }
        if now >= next_sweep {
            for i in 0..clients.len() {
                let c = &clients[i];
                match c.phase {
                    Phase::Idle if c.retry_at <= now => ctx.start(&mut clients, i),
                    Phase::Connecting | Phase::Exchanging if c.deadline <= now => {
                        ctx.finish(&mut clients, i, Outcome::Failure("timeout"));
                    }
                    _ => {}
                }
            }
            next_sweep = now + Duration::from_millis(10);
        }
        if clients.iter().all(|c| c.phase == Phase::Done) {
            break;
        }
        let mut timeout = next_sweep.saturating_duration_since(now);
        if let Some(e) = ctx.end {
            timeout = timeout.min(e.saturating_duration_since(now));
        }
        if let Err(e) = ctx.poll.poll(&mut events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        for event in events.iter() {
            let i = event.token().0;
            if i < clients.len() {
                if let Err(outcome) = ctx.drive(&mut clients[i]) {
                    ctx.finish(&mut clients, i, outcome);
                }
            }
        }
    }
    ctx.report.elapsed = match options.bound {
        Bound::Duration(d) => d,
        Bound::Exchanges(_) => now.elapsed(),
    };
    for c in &mut clients {
        c.sock = None;
    }
    Ok(ctx.report)
}

impl LoadCtx<'_> {
    /// Opens client `i`'s next connection (if the run still wants one).
    fn start(&mut self, clients: &mut [Client], i: usize) {
        if self.budget == 0 {
            clients[i].phase = Phase::Done;
            return;
        }
        if let Bound::Exchanges(_) = self.options.bound {
            self.budget -= 1;
        }
        let now = Instant::now();
        let c = &mut clients[i];
        c.deadline = now + self.options.timeout;
        c.step = 0;
        c.count = self.pattern.steps[0];
        match TcpStream::connect(self.options.target) {
            Ok(mut sock) => {
                let _ = sock.set_nodelay(true);
                if self
                    .poll
                    .registry()
                    .register(&mut sock, Token(i), Interest::READABLE | Interest::WRITABLE)
                    .is_err()
                {
                    self.finish(clients, i, Outcome::Failure("register"));
                    return;
                }
                c.sock = Some(sock);
                c.phase = Phase::Connecting;
            }
            Err(_) => self.finish(clients, i, Outcome::Failure("connect")),
        }
    }

    /// Handles readiness of a client's socket: `Err` ends the connection.
    fn drive(&mut self, c: &mut Client) -> Result<(), Outcome> {
        let Some(sock) = c.sock.as_mut() else {
            return Ok(());
        };
        if c.phase == Phase::Connecting {
            match sock.take_error() {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return Err(Outcome::Failure("connect")),
            }
            match sock.peer_addr() {
                Ok(_) => c.phase = Phase::Exchanging,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(_) => return Err(Outcome::Failure("connect")),
            }
        }
        let steps = &self.pattern.steps;
        let last = self.pattern.last_client_step();
        loop {
            if c.step % 2 == 0 {
                // Our step: one write (more only if the socket takes part of it).
                while c.count > 0 {
                    match sock.write(&self.zeros[..c.count]) {
                        Ok(0) => return Err(Outcome::Failure("write zero")),
                        Ok(n) => c.count -= n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return Err(Outcome::Failure("write")),
                    }
                }
                if c.step == last {
                    if !self.pattern.proxied {
                        // Close at once, without reading the server's last step.
                        return Err(Outcome::Success);
                    }
                    // Proxied: read the relayed answer until the server closes.
                    c.step = steps.len();
                    c.count = 0;
                }
                if c.step < steps.len() {
                    c.step += 1;
                    c.count = 0;
                }
            }
            let n = match sock.read(&mut self.scratch) {
                Ok(0) if c.step >= steps.len() && c.count > 0 => return Err(Outcome::Success),
                Ok(0) => return Err(Outcome::Failure("eof during exchange")),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(Outcome::Failure("read")),
            };
            c.count += n;
            if c.step >= steps.len() {
                // The relayed answer: any length, to the end.
                continue;
            }
            let expected = steps[c.step];
            if c.count > expected {
                return Err(Outcome::Failure("more bytes than the server's step"));
            }
            if c.count == expected {
                c.step += 1;
                c.count = steps[c.step];
            }
        }
    }

    /// Ends client `i`'s connection and starts the next one.
    fn finish(&mut self, clients: &mut [Client], i: usize, outcome: Outcome) {
        let in_time = self.end.is_none_or(|e| Instant::now() <= e);
        let failed = match outcome {
            Outcome::Success => {
                if in_time {
                    self.report.exchanges += 1;
                }
                false
            }
            Outcome::Failure(kind) => {
                if in_time {
                    *self.report.errors.entry(kind.into()).or_default() += 1;
                }
                true
            }
        };
        let c = &mut clients[i];
        if let Some(mut sock) = c.sock.take() {
            let _ = self.poll.registry().deregister(&mut sock);
        }
        if failed {
            // Failures back off a little so a dead server is not hammered in a tight loop.
            c.phase = Phase::Idle;
            c.retry_at = Instant::now() + Duration::from_millis(10);
        } else {
            self.start(clients, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = Pattern::named("full").unwrap();
        assert_eq!(p.client_bytes(), 114 + 93 + 31);
        assert_eq!(p.server_bytes(), 638 + 51 + 31);
        assert_eq!(p.last_client_step(), 4);
        let p = Pattern::named("id").unwrap();
        assert_eq!(p.name, "resumed");
        assert_eq!(p.to_string(), "resumed (146,147,82,31)");
        let p = Pattern::from_steps("10,20,30").unwrap();
        assert_eq!(p.last_client_step(), 2);
        assert_eq!(p.server_bytes(), 20);
        assert!(Pattern::from_steps("10,0").is_err());
        assert!(Pattern::from_steps("").is_err());
        assert!(Pattern::named("tls13").is_err());
    }
}
