//! A connection's second socket ("upstream"): a stream the served connection's application
//! opens to somewhere else once the handshake is done (a backend server, say), whose bytes
//! the driver moves both ways without knowing what they are. Sans-IO like the rest of the
//! core: [`Upstream`] holds the two bounded buffers and the socket's state and tells the
//! driver — which owns the socket — what to do: connect, write these bytes, read (or not:
//! back-pressure), shut the write side, close or reset. Every driver carries the same
//! handful of calls out; an application (`reprise_apps::backend`) fills one direction and
//! drains the other through [`Handler::upstream`](crate::app::Handler::upstream).
//!
//! * Toward the upstream: the application queues the client's bytes ([`Upstream::send`],
//!   bounded by [`UpstreamOptions::buffer`]; beyond it the connection stops reading the
//!   client), the driver writes them ([`Upstream::output`], [`Upstream::wrote`]).
//! * From the upstream: the driver reads while there is room ([`Upstream::wants_read`], so a
//!   client that does not read stops the upstream being read), the application takes the
//!   bytes for the client ([`Upstream::take`]).
//! * Half-closes pass on: once the client is done ([`Upstream::finish`]) and everything is
//!   written, the driver shuts the write side; the upstream's end of stream ends the
//!   direction toward the client.
//! * Failures (refused, no connection within [`UpstreamOptions::connect_timeout`], reset,
//!   silent) are recorded once and counted by reason; a socket still open when the client's
//!   connection ends early is reset, not shut, so the far end cannot take it for a complete
//!   stream ([`Upstream::resets_on_close`]).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::app::Flow;
use crate::counters::ServingCounters;

/// Where an upstream listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A UNIX socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for UpstreamAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamAddr::Tcp(addr) => write!(f, "{addr}"),
            UpstreamAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl std::str::FromStr for UpstreamAddr {
    type Err = String;

    /// `HOST:PORT` (an IP address and port) or `unix:/PATH`.
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a socket path".into());
            }
            return Ok(UpstreamAddr::Unix(PathBuf::from(path)));
        }
        use std::net::ToSocketAddrs;
        s.to_socket_addrs()
            .map_err(|e| format!("backend {s:?}: {e}"))?
            .next()
            .map(UpstreamAddr::Tcp)
            .ok_or_else(|| format!("backend {s:?}: no address"))
    }
}

/// How an upstream behaves; shared by every connection that opens one.
#[derive(Clone, Debug)]
pub struct UpstreamOptions {
    /// Where it listens.
    pub addr: UpstreamAddr,
    /// Bytes buffered in each direction before that direction stops reading its source.
    pub buffer: usize,
    /// Time it has to accept the connection.
    pub connect_timeout: Duration,
    /// Where its failures are counted, by reason.
    pub counters: Arc<ServingCounters>,
}

impl UpstreamOptions {
    /// Defaults for `addr`: 64 KiB each way, 5 s to connect.
    pub fn new(addr: UpstreamAddr) -> Self {
        Self {
            addr,
            buffer: 64 * 1024,
            connect_timeout: Duration::from_secs(5),
            counters: Arc::default(),
        }
    }
}

/// Where an upstream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamState {
    /// Not asked for yet (the handshake is not done: no upstream connection before the
    /// client has proved it speaks TLS).
    Idle,
    /// The driver should connect ([`Upstream::wants_connect`]).
    WantConnect,
    /// The driver is connecting (since the instant given).
    Connecting(Instant),
    /// Connected: bytes flow.
    Connected,
    /// Over (closed by either side, or failed).
    Closed,
}

/// Why an upstream failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The connection could not be made (refused, unreachable).
    Connect(io::ErrorKind),
    /// No connection within the connect timeout.
    ConnectTimeout,
    /// Reading or writing failed after it connected.
    Io(io::ErrorKind),
    /// It answered nothing to the client's bytes within the idle timeout.
    Silent(Duration),
    /// It ended its stream before answering the client's bytes (its end of stream is passed
    /// on as close_notify, as any clean end is; counted and logged).
    ClosedEarly,
}

impl UpstreamFailure {
    /// The label of `reprise_backend_failures_total` ([`crate::counters`]).
    pub fn reason(&self) -> &'static str {
        match self {
            UpstreamFailure::Connect(io::ErrorKind::ConnectionRefused) => "refused",
            UpstreamFailure::Connect(_) => "connect_error",
            UpstreamFailure::ConnectTimeout => "connect_timeout",
            UpstreamFailure::Io(
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe,
            ) => "reset",
            UpstreamFailure::Io(_) => "io_error",
            UpstreamFailure::Silent(_) => "silent",
            UpstreamFailure::ClosedEarly => "closed_early",
        }
    }

    /// True when the client's stream is cut short by it (ended without close_notify).
    pub fn truncates(&self) -> bool {
        !matches!(self, UpstreamFailure::ClosedEarly)
    }
}

impl std::fmt::Display for UpstreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamFailure::Connect(kind) => write!(f, "connect failed: {kind}"),
            UpstreamFailure::ConnectTimeout => f.write_str("connect timed out"),
            UpstreamFailure::Io(kind) => write!(f, "socket error: {kind}"),
            UpstreamFailure::Silent(waited) => write!(f, "silent for {}s", waited.as_secs()),
            UpstreamFailure::ClosedEarly => f.write_str("closed before answering"),
        }
    }
}

/// One connection's upstream: its state and the bytes on their way each way.
#[derive(Debug)]
pub struct Upstream {
    options: Arc<UpstreamOptions>,
    state: UpstreamState,
    /// Bytes not yet written to the upstream (`outbound[written..]`).
    outbound: Vec<u8>,
    written: usize,
    /// Bytes read from the upstream, not yet taken for the client.
    inbound: Vec<u8>,
    /// Nothing more goes to the upstream: shut its write side once written.
    finishing: bool,
    /// Its write side is shut.
    write_shut: bool,
    /// It will send nothing more.
    ended: bool,
    /// Bytes were sent that it has not answered yet.
    unanswered: bool,
    failure: Option<UpstreamFailure>,
}

impl Upstream {
    /// An upstream to `options.addr`, not asked for yet.
    pub fn new(options: Arc<UpstreamOptions>) -> Self {
        Self {
            options,
            state: UpstreamState::Idle,
            outbound: Vec::new(),
            written: 0,
            inbound: Vec::new(),
            finishing: false,
            write_shut: false,
            ended: false,
            unanswered: false,
            failure: None,
        }
    }

    // ---- What the application does ----

    /// Asks the driver to connect (once; the handshake is done).
    pub fn open(&mut self) {
        if self.state == UpstreamState::Idle {
            self.state = UpstreamState::WantConnect;
        }
    }

    /// Queues bytes that need no answer (a preamble, such as a PROXY protocol header).
    pub fn send_preamble(&mut self, data: &[u8]) {
        self.outbound.extend_from_slice(data);
    }

    /// Queues the client's bytes; the upstream owes an answer to them. Dropped once it
    /// failed.
    pub fn send(&mut self, data: &[u8]) {
        if self.failure.is_none() && !data.is_empty() {
            self.outbound.extend_from_slice(data);
            self.unanswered = true;
        }
    }

    /// Nothing more will be sent: the write side is shut once everything is written.
    /// Returns false when there is no upstream connection, and none to come.
    pub fn finish(&mut self) -> bool {
        self.finishing = true;
        !matches!(self.state, UpstreamState::Idle | UpstreamState::Closed)
    }

    /// Appends up to `room` bytes read from the upstream to `out`. [`Flow::Continue`] while
    /// more may come; once it is over and everything was taken, [`Flow::Close`] for a clean
    /// end, [`Flow::Abort`] for one that cuts the client's stream short.
    pub fn take(&mut self, out: &mut Vec<u8>, room: usize) -> Flow {
        let n = room.min(self.inbound.len());
        out.extend_from_slice(&self.inbound[..n]);
        self.inbound.drain(..n);
        if !(self.ended && self.inbound.is_empty()) {
            Flow::Continue
        } else if self
            .failure
            .as_ref()
            .is_some_and(UpstreamFailure::truncates)
        {
            Flow::Abort
        } else {
            Flow::Close
        }
    }

    /// True while the client's bytes fit the buffer toward the upstream.
    pub fn has_room(&self) -> bool {
        self.outbound.len() - self.written < self.options.buffer
    }

    /// Bytes on their way either way, a connect pending, or bytes the upstream has not
    /// answered yet.
    pub fn is_busy(&self) -> bool {
        self.outbound.len() > self.written
            || !self.inbound.is_empty()
            || (self.unanswered && !self.ended)
            || matches!(
                self.state,
                UpstreamState::WantConnect | UpstreamState::Connecting(_)
            )
    }

    /// The idle timeout ran out with the client's bytes all written and unanswered: the
    /// upstream is silent (a failure, counted). Returns whether it was.
    pub fn check_silent(&mut self, waited: Duration) -> bool {
        let silent = self.state == UpstreamState::Connected
            && self.unanswered
            && self.outbound.len() == self.written;
        if silent {
            self.note_failure(UpstreamFailure::Silent(waited));
        }
        silent
    }

    // ---- What the driver does ----

    /// Where the upstream stands.
    pub fn state(&self) -> UpstreamState {
        self.state
    }

    /// The options it runs with (the address among them).
    pub fn options(&self) -> &UpstreamOptions {
        &self.options
    }

    /// Why it failed, if it did.
    pub fn failure(&self) -> Option<&UpstreamFailure> {
        self.failure.as_ref()
    }

    /// The address to connect to, when the driver should start connecting now.
    pub fn wants_connect(&self) -> Option<&UpstreamAddr> {
        (self.state == UpstreamState::WantConnect).then_some(&self.options.addr)
    }

    /// The driver started connecting at `now`.
    pub fn connecting(&mut self, now: Instant) {
        if self.state == UpstreamState::WantConnect {
            self.state = UpstreamState::Connecting(now);
        }
    }

    /// When an unfinished connect times out.
    pub fn connect_deadline(&self) -> Option<Instant> {
        match self.state {
            UpstreamState::Connecting(since) => Some(since + self.options.connect_timeout),
            _ => None,
        }
    }

    /// The connect completed.
    pub fn connected(&mut self) {
        if matches!(self.state, UpstreamState::Connecting(_)) {
            self.state = UpstreamState::Connected;
        }
    }

    /// It failed: once what it sent has gone, the client's connection ends without
    /// close_notify. Counted once, by reason.
    pub fn failed(&mut self, failure: UpstreamFailure) {
        self.note_failure(failure);
        self.state = UpstreamState::Closed;
        self.ended = true;
    }

    fn note_failure(&mut self, failure: UpstreamFailure) {
        if self.failure.is_none() {
            self.options.counters.upstream_failed(&failure);
            self.failure = Some(failure);
        }
    }

    /// True when the driver, closing a socket that is still open because the client's
    /// connection ended, must reset it rather than shut it: the upstream had not ended its
    /// stream, so a FIN would pass for a client that is done.
    pub fn resets_on_close(&self) -> bool {
        matches!(
            self.state,
            UpstreamState::Connected | UpstreamState::Connecting(_)
        ) && !self.ended
    }

    /// Checks the connect deadline.
    pub fn on_timer(&mut self, now: Instant) {
        if self.connect_deadline().is_some_and(|d| now >= d) {
            self.failed(UpstreamFailure::ConnectTimeout);
        }
    }

    /// Bytes to write to the upstream (empty until connected).
    pub fn output(&self) -> &[u8] {
        if self.state == UpstreamState::Connected {
            &self.outbound[self.written..]
        } else {
            &[]
        }
    }

    /// The driver wrote `n` bytes of [`output`](Self::output).
    pub fn wrote(&mut self, n: usize) {
        self.written = (self.written + n).min(self.outbound.len());
        if self.written == self.outbound.len() {
            self.outbound.clear();
            self.written = 0;
        }
    }

    /// True when the driver should shut the write side now (nothing more goes and everything
    /// is written); report it with [`write_shut`](Self::write_shut).
    pub fn wants_shutdown_write(&self) -> bool {
        self.state == UpstreamState::Connected
            && self.finishing
            && !self.write_shut
            && self.outbound.is_empty()
    }

    /// The driver shut the write side.
    pub fn write_shut(&mut self) {
        self.write_shut = true;
    }

    /// Whether the driver should read now: connected, not at its end, and room for what the
    /// client has not taken yet.
    pub fn wants_read(&self) -> bool {
        self.state == UpstreamState::Connected
            && !self.ended
            && self.inbound.len() < self.options.buffer
    }

    /// Room to read into: the driver reads at most this much, then reports it with
    /// [`received`](Self::received).
    pub fn read_room(&self) -> usize {
        self.options.buffer.saturating_sub(self.inbound.len())
    }

    /// Bytes read from the upstream.
    pub fn received(&mut self, data: &[u8]) {
        self.inbound.extend_from_slice(data);
        self.unanswered &= data.is_empty();
    }

    /// The upstream ended its stream: what it sent goes to the client, then its end.
    pub fn received_eof(&mut self) {
        if self.unanswered {
            self.note_failure(UpstreamFailure::ClosedEarly);
        }
        self.ended = true;
        if self.write_shut || self.finishing {
            self.state = UpstreamState::Closed;
        }
    }

    /// True when the driver should close the socket: both directions are over, or it failed.
    pub fn wants_close(&self) -> bool {
        matches!(
            self.state,
            UpstreamState::Connected | UpstreamState::Connecting(_)
        ) && self.ended
            && (self.write_shut || self.failure.is_some())
    }

    /// The driver closed the socket.
    pub fn closed(&mut self) {
        self.state = UpstreamState::Closed;
    }

    /// Bytes each way not yet passed on (for tests and memory accounting).
    pub fn buffered(&self) -> (usize, usize) {
        (self.outbound.len() - self.written, self.inbound.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream() -> Upstream {
        let mut options = UpstreamOptions::new("127.0.0.1:9".parse().unwrap());
        options.buffer = 8;
        options.connect_timeout = Duration::from_secs(1);
        Upstream::new(Arc::new(options))
    }

    #[test]
    fn addresses_parse() {
        assert_eq!(
            "127.0.0.1:80".parse::<UpstreamAddr>().unwrap(),
            UpstreamAddr::Tcp("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            "unix:/run/app.sock".parse::<UpstreamAddr>().unwrap(),
            UpstreamAddr::Unix("/run/app.sock".into())
        );
        assert!("unix:".parse::<UpstreamAddr>().is_err());
        assert!("nonsense".parse::<UpstreamAddr>().is_err());
    }

    #[test]
    fn it_connects_only_when_opened_and_times_out() {
        let mut u = upstream();
        assert_eq!(u.wants_connect(), None);
        u.open();
        assert!(u.wants_connect().is_some());
        let t0 = Instant::now();
        u.connecting(t0);
        assert_eq!(u.wants_connect(), None);
        u.on_timer(t0 + Duration::from_millis(999));
        assert!(u.failure().is_none());
        u.on_timer(t0 + Duration::from_secs(1));
        assert_eq!(u.failure(), Some(&UpstreamFailure::ConnectTimeout));
        assert_eq!(u.options().counters.backend_failures("connect_timeout"), 1);
        // The client's stream is cut short, not complete.
        assert_eq!(u.take(&mut Vec::new(), 100), Flow::Abort);
    }

    #[test]
    fn both_directions_are_bounded_and_half_closes_pass_on() {
        let mut u = upstream();
        u.open();
        u.connecting(Instant::now());
        u.connected();
        u.send(b"0123456789");
        assert!(
            !u.has_room(),
            "over the 8-byte buffer: stop reading the client"
        );
        assert!(u.is_busy());
        assert_eq!(u.output(), b"0123456789");
        u.wrote(4);
        assert_eq!(u.output(), b"456789");
        u.wrote(6);
        assert!(u.has_room());
        assert!(u.wants_read());
        u.received(b"abcdefgh");
        assert!(!u.wants_read(), "the client has not taken it: stop reading");
        let mut out = Vec::new();
        assert_eq!(u.take(&mut out, 3), Flow::Continue);
        assert_eq!(out, b"abc");
        assert!(u.wants_read());
        u.send(b"xy");
        assert!(u.finish());
        assert!(!u.wants_shutdown_write());
        u.wrote(2);
        assert!(u.wants_shutdown_write());
        u.write_shut();
        u.received_eof();
        out.clear();
        assert_eq!(u.take(&mut out, 100), Flow::Close);
        assert_eq!(out, b"defgh");
    }

    #[test]
    fn an_end_before_the_answer_is_counted_but_clean() {
        let mut u = upstream();
        u.open();
        u.connecting(Instant::now());
        u.connected();
        u.send(b"GET /");
        u.wrote(5);
        u.received_eof();
        assert_eq!(u.failure(), Some(&UpstreamFailure::ClosedEarly));
        assert_eq!(u.take(&mut Vec::new(), 10), Flow::Close);
        assert!(!u.resets_on_close());
    }
}
