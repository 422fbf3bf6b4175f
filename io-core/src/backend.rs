//! A backend stream: the connection's decrypted bytes spliced both ways with a plaintext
//! backend (TCP or UNIX socket), one backend connection per client connection, as a TLS
//! terminator does. Sans-IO like the rest of the core: it holds the two bounded buffers and
//! the splice's state, and tells the driver — which owns the backend socket — what to do:
//! connect, write these bytes, read (or not: back-pressure), shut the write side, close.
//!
//! * Client to backend: the handler takes the client's plaintext into `to_backend` (bounded
//!   by [`BackendOptions::buffer`]; beyond it the connection stops reading the client), the
//!   driver writes it to the backend socket.
//! * Backend to client: the driver reads the backend into `to_client` while it has room (so
//!   a client that does not read stops the backend being read), the handler gives it to the
//!   connection as output.
//! * Half-closes are passed on: the client's close_notify shuts the backend's write side
//!   once everything is written; the backend's end of stream closes the TLS connection with
//!   close_notify once everything is sent.
//! * Truncations are passed on as truncations (RFC 5246 §7.2.1: close_notify only from a
//!   sender that is done): a backend that refuses, does not connect within
//!   [`BackendOptions::connect_timeout`], resets, fails or stays silent ends the client's
//!   connection *without* close_notify ([`Flow::Abort`]); a client whose stream ends without
//!   close_notify, or that is cut off, gets its backend connection reset, not shut.
//! * While the backend owes an answer (the client sent bytes it has not answered yet) the
//!   stream is mid-message: a draining server waits for the answer, and the idle timeout
//!   runs from the first unanswered byte (a silent backend, or a trickling client, is
//!   closed at the timeout; see [`crate::served`]).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::app::{Flow, Handler, HandlerFactory, MessageTimeout, Opened};
use crate::counters::ServingCounters;
use crate::proxy::{self, ProxyVersion, TlsFacts};

/// While draining, how long a backend stream must have been still before its client is
/// told goodbye ([`Handler::drain_quiet`]): the stream cannot tell where an answer ends, and
/// an answer arriving in pieces (a head, then its body) must not be cut between them.
pub const DRAIN_QUIET: Duration = Duration::from_millis(200);

/// Where a backend listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A UNIX socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for BackendAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendAddr::Tcp(addr) => write!(f, "{addr}"),
            BackendAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl std::str::FromStr for BackendAddr {
    type Err = String;

    /// `HOST:PORT` (an IP address and port) or `unix:/PATH`.
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a socket path".into());
            }
            return Ok(BackendAddr::Unix(PathBuf::from(path)));
        }
        use std::net::ToSocketAddrs;
        s.to_socket_addrs()
            .map_err(|e| format!("backend {s:?}: {e}"))?
            .next()
            .map(BackendAddr::Tcp)
            .ok_or_else(|| format!("backend {s:?}: no address"))
    }
}

/// How backend streams behave.
#[derive(Clone, Debug)]
pub struct BackendOptions {
    /// The backend.
    pub addr: BackendAddr,
    /// Bytes buffered in each direction before that direction stops reading its source.
    pub buffer: usize,
    /// Time the backend has to accept the connection.
    pub connect_timeout: Duration,
    /// Send a PROXY protocol header first ([`crate::proxy`]).
    pub proxy_protocol: Option<ProxyVersion>,
    /// Where backend failures are counted, by reason.
    pub counters: Arc<ServingCounters>,
}

impl BackendOptions {
    /// Defaults for `addr`: 64 KiB each way, 5 s to connect.
    pub fn new(addr: BackendAddr) -> Self {
        Self {
            addr,
            buffer: 64 * 1024,
            connect_timeout: Duration::from_secs(5),
            proxy_protocol: None,
            counters: Arc::default(),
        }
    }
}

/// Where the backend side of a stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendState {
    /// The TLS handshake is not done yet: no backend connection before the client has proved
    /// it speaks TLS.
    Idle,
    /// The driver should connect ([`BackendStream::wants_connect`]).
    WantConnect,
    /// The driver is connecting (since the instant given).
    Connecting(Instant),
    /// Connected: bytes flow.
    Connected,
    /// The backend connection is over (closed by either side, or failed).
    Closed,
}

/// Why a backend stream failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendFailure {
    /// The connection could not be made (refused, unreachable).
    Connect(io::ErrorKind),
    /// No connection within the connect timeout.
    ConnectTimeout,
    /// Reading or writing the backend failed after it connected.
    Io(io::ErrorKind),
    /// The backend answered nothing to the client's bytes within the idle timeout.
    Silent(Duration),
    /// The backend ended its stream before answering the client's bytes (its end of stream
    /// is passed on as close_notify, as any clean end is; counted and logged).
    ClosedEarly,
}

impl BackendFailure {
    /// The label of `reprise_backend_failures_total` ([`crate::counters`]).
    pub fn reason(&self) -> &'static str {
        match self {
            BackendFailure::Connect(io::ErrorKind::ConnectionRefused) => "refused",
            BackendFailure::Connect(_) => "connect_error",
            BackendFailure::ConnectTimeout => "connect_timeout",
            BackendFailure::Io(
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe,
            ) => "reset",
            BackendFailure::Io(_) => "io_error",
            BackendFailure::Silent(_) => "silent",
            BackendFailure::ClosedEarly => "closed_early",
        }
    }

    /// True when the client's stream is cut short by it (ended without close_notify).
    pub fn truncates(&self) -> bool {
        !matches!(self, BackendFailure::ClosedEarly)
    }
}

impl std::fmt::Display for BackendFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendFailure::Connect(kind) => write!(f, "connect failed: {kind}"),
            BackendFailure::ConnectTimeout => f.write_str("connect timed out"),
            BackendFailure::Io(kind) => write!(f, "socket error: {kind}"),
            BackendFailure::Silent(waited) => write!(f, "silent for {}s", waited.as_secs()),
            BackendFailure::ClosedEarly => f.write_str("closed before answering"),
        }
    }
}

/// The handler that splices a connection with its backend.
#[derive(Debug)]
pub struct BackendStream {
    options: Arc<BackendOptions>,
    state: BackendState,
    /// Client plaintext not yet written to the backend (`to_backend[written..]`).
    to_backend: Vec<u8>,
    written: usize,
    /// Backend bytes not yet given to the connection.
    to_client: Vec<u8>,
    /// The client will send nothing more: shut the backend's write side once written.
    client_done: bool,
    /// The backend's write side is shut.
    write_shut: bool,
    /// The backend will send nothing more.
    backend_done: bool,
    /// The client sent bytes the backend has not answered yet.
    unanswered: bool,
    failure: Option<BackendFailure>,
    /// The client's address and the one it connected to, for the PROXY header.
    addresses: (Option<SocketAddr>, Option<SocketAddr>),
}

impl BackendStream {
    /// A stream to `options.addr`, connected once the handshake is done.
    pub fn new(options: Arc<BackendOptions>) -> Self {
        Self {
            options,
            state: BackendState::Idle,
            to_backend: Vec::new(),
            written: 0,
            to_client: Vec::new(),
            client_done: false,
            write_shut: false,
            backend_done: false,
            unanswered: false,
            failure: None,
            addresses: (None, None),
        }
    }

    /// True when the driver must tell the client's addresses ([`set_addresses`](Self::set_addresses)):
    /// a PROXY protocol header is sent.
    pub fn needs_addresses(&self) -> bool {
        self.options.proxy_protocol.is_some()
    }

    /// The client's address (`peer`) and the address it connected to (`local`).
    pub fn set_addresses(&mut self, peer: Option<SocketAddr>, local: Option<SocketAddr>) {
        self.addresses = (peer, local);
    }

    /// Where the backend side stands.
    pub fn state(&self) -> BackendState {
        self.state
    }

    /// The options it runs with (the backend's address among them).
    pub fn options(&self) -> &BackendOptions {
        &self.options
    }

    /// Why it failed, if it did.
    pub fn failure(&self) -> Option<&BackendFailure> {
        self.failure.as_ref()
    }

    /// The backend to connect to, when the driver should start connecting now.
    pub fn wants_connect(&self) -> Option<&BackendAddr> {
        (self.state == BackendState::WantConnect).then_some(&self.options.addr)
    }

    /// The driver started connecting at `now`.
    pub fn connecting(&mut self, now: Instant) {
        if self.state == BackendState::WantConnect {
            self.state = BackendState::Connecting(now);
        }
    }

    /// When an unfinished connect times out.
    pub fn connect_deadline(&self) -> Option<Instant> {
        match self.state {
            BackendState::Connecting(since) => Some(since + self.options.connect_timeout),
            _ => None,
        }
    }

    /// The connect completed.
    pub fn connected(&mut self) {
        if matches!(self.state, BackendState::Connecting(_)) {
            self.state = BackendState::Connected;
        }
    }

    /// The backend stream failed: once what the backend sent has gone, the client's
    /// connection ends without close_notify. Counted once, by reason.
    pub fn failed(&mut self, failure: BackendFailure) {
        self.note_failure(failure);
        self.state = BackendState::Closed;
        self.backend_done = true;
    }

    fn note_failure(&mut self, failure: BackendFailure) {
        if self.failure.is_none() {
            self.options.counters.backend_failed(&failure);
            self.failure = Some(failure);
        }
    }

    /// True when the driver, closing a backend socket that is still open because the
    /// client's connection ended, must reset it rather than shut it: the backend had not
    /// ended its stream, so a FIN would pass for a client that is done.
    pub fn resets_on_close(&self) -> bool {
        matches!(
            self.state,
            BackendState::Connected | BackendState::Connecting(_)
        ) && !self.backend_done
    }

    /// Checks the connect deadline.
    pub fn on_timer(&mut self, now: Instant) {
        if self.connect_deadline().is_some_and(|d| now >= d) {
            self.failed(BackendFailure::ConnectTimeout);
        }
    }

    /// Client bytes to write to the backend (empty until connected).
    pub fn output(&self) -> &[u8] {
        if self.state == BackendState::Connected {
            &self.to_backend[self.written..]
        } else {
            &[]
        }
    }

    /// The driver wrote `n` bytes of [`output`](Self::output) to the backend.
    pub fn wrote(&mut self, n: usize) {
        self.written = (self.written + n).min(self.to_backend.len());
        if self.written == self.to_backend.len() {
            self.to_backend.clear();
            self.written = 0;
        }
    }

    /// True when the driver should shut the backend's write side now (the client is done
    /// and everything is written); report it with [`write_shut`](Self::write_shut).
    pub fn wants_shutdown_write(&self) -> bool {
        self.state == BackendState::Connected
            && self.client_done
            && !self.write_shut
            && self.to_backend.is_empty()
    }

    /// The driver shut the backend's write side.
    pub fn write_shut(&mut self) {
        self.write_shut = true;
    }

    /// Whether the driver should read the backend now: connected, not at its end, and room
    /// for what the client has not taken yet.
    pub fn wants_read(&self) -> bool {
        self.state == BackendState::Connected
            && !self.backend_done
            && self.to_client.len() < self.options.buffer
    }

    /// Room to read into: the driver reads at most this much, then reports it with
    /// [`received`](Self::received).
    pub fn read_room(&self) -> usize {
        self.options.buffer.saturating_sub(self.to_client.len())
    }

    /// Bytes read from the backend.
    pub fn received(&mut self, data: &[u8]) {
        self.to_client.extend_from_slice(data);
        self.unanswered &= data.is_empty();
    }

    /// The backend ended its stream: what it sent goes to the client, then close_notify.
    pub fn backend_eof(&mut self) {
        if self.unanswered {
            self.note_failure(BackendFailure::ClosedEarly);
        }
        self.backend_done = true;
        if self.write_shut || self.client_done {
            self.state = BackendState::Closed;
        }
    }

    /// True when the driver should close the backend socket: both directions are over, or it
    /// failed.
    pub fn wants_close(&self) -> bool {
        self.state != BackendState::Closed
            && matches!(
                self.state,
                BackendState::Connected | BackendState::Connecting(_)
            )
            && self.backend_done
            && (self.write_shut || self.failure.is_some())
    }

    /// The driver closed the backend socket.
    pub fn closed(&mut self) {
        self.state = BackendState::Closed;
    }

    /// Bytes each way not yet passed on (for tests and memory accounting).
    pub fn buffered(&self) -> (usize, usize) {
        (self.to_backend.len() - self.written, self.to_client.len())
    }
}

impl Handler for BackendStream {
    fn on_open(&mut self, opened: &Opened<'_>) {
        if self.state == BackendState::Idle {
            self.state = BackendState::WantConnect;
        }
        if let Some(version) = self.options.proxy_protocol {
            let facts = TlsFacts {
                negotiated: opened.negotiated(),
                resumption_failure: opened.resumption_failure(),
            };
            let (peer, local) = self.addresses;
            self.to_backend
                .extend_from_slice(&proxy::header(version, peer, local, &facts));
        }
    }

    fn on_data(&mut self, data: &[u8]) {
        if self.failure.is_none() && !data.is_empty() {
            self.to_backend.extend_from_slice(data);
            self.unanswered = true;
        }
    }

    /// The client's stream ended without close_notify: the backend connection is reset
    /// (the driver sees [`resets_on_close`](BackendStream::resets_on_close)), and the
    /// client's connection ends without close_notify too.
    fn on_peer_vanished(&mut self) -> Flow {
        Flow::Abort
    }

    /// A silent backend (the client sent its bytes early and got no answer) is a backend
    /// failure; a trickling client is cut off. Either way the backend connection is reset
    /// and the client's ends without close_notify.
    fn on_message_timeout(&mut self, timeout: MessageTimeout) -> Flow {
        if !timeout.client_trickled
            && self.state == BackendState::Connected
            && self.unanswered
            && self.to_backend.len() == self.written
        {
            self.note_failure(BackendFailure::Silent(timeout.waited));
        }
        Flow::Abort
    }

    fn on_peer_closed(&mut self) -> Flow {
        self.client_done = true;
        if matches!(self.state, BackendState::Idle | BackendState::Closed) {
            // No backend connection, and none to come: nothing to wait for.
            return Flow::Close;
        }
        // What the client sent still goes to the backend (connected or not yet), then its
        // write side is shut; the connection closes when the backend has answered.
        Flow::Continue
    }

    fn poll_output(&mut self, out: &mut Vec<u8>, room: usize) -> Flow {
        let n = room.min(self.to_client.len());
        out.extend_from_slice(&self.to_client[..n]);
        self.to_client.drain(..n);
        if !(self.backend_done && self.to_client.is_empty()) {
            Flow::Continue
        } else if self.failure.as_ref().is_some_and(BackendFailure::truncates) {
            Flow::Abort
        } else {
            Flow::Close
        }
    }

    fn wants_data(&self) -> bool {
        self.to_backend.len() - self.written < self.options.buffer
    }

    /// Bytes on their way either way, a connect pending, or client bytes the backend has
    /// not answered yet: a draining server lets them finish, and they must move within the
    /// idle timeout.
    fn is_mid_message(&self) -> bool {
        self.to_backend.len() > self.written
            || !self.to_client.is_empty()
            || (self.unanswered && !self.backend_done)
            || matches!(
                self.state,
                BackendState::WantConnect | BackendState::Connecting(_)
            )
    }

    fn drain_quiet(&self) -> Duration {
        DRAIN_QUIET
    }

    fn backend(&mut self) -> Option<&mut BackendStream> {
        Some(self)
    }
}

/// Makes a [`BackendStream`] per connection.
#[derive(Clone, Debug)]
pub struct BackendFactory {
    options: Arc<BackendOptions>,
}

impl BackendFactory {
    /// Streams with `options`.
    pub fn new(options: BackendOptions) -> Self {
        Self {
            options: Arc::new(options),
        }
    }
}

impl HandlerFactory for BackendFactory {
    type Handler = BackendStream;

    fn new_handler(&self) -> BackendStream {
        BackendStream::new(self.options.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> BackendStream {
        let mut options = BackendOptions::new("127.0.0.1:9".parse().unwrap());
        options.buffer = 8;
        options.connect_timeout = Duration::from_secs(1);
        BackendStream::new(Arc::new(options))
    }

    fn opened(s: &mut BackendStream) {
        let negotiated = reprise::Negotiated::default();
        let no_wake = || crate::app::Wake::new(|| {});
        s.on_open(&Opened::new(&negotiated, &no_wake));
    }

    #[test]
    fn addresses_parse() {
        assert_eq!(
            "127.0.0.1:80".parse::<BackendAddr>().unwrap(),
            BackendAddr::Tcp("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            "unix:/run/app.sock".parse::<BackendAddr>().unwrap(),
            BackendAddr::Unix("/run/app.sock".into())
        );
        assert!("unix:".parse::<BackendAddr>().is_err());
        assert!("nonsense".parse::<BackendAddr>().is_err());
    }

    #[test]
    fn it_connects_only_after_the_handshake_and_times_out() {
        let mut s = stream();
        assert_eq!(s.wants_connect(), None);
        opened(&mut s);
        assert!(s.wants_connect().is_some());
        let t0 = Instant::now();
        s.connecting(t0);
        assert_eq!(s.wants_connect(), None);
        s.on_timer(t0 + Duration::from_millis(999));
        assert!(s.failure().is_none());
        s.on_timer(t0 + Duration::from_secs(1));
        assert_eq!(s.failure(), Some(&BackendFailure::ConnectTimeout));
        assert_eq!(s.options().counters.backend_failures("connect_timeout"), 1);
        // The client's stream ends without close_notify: cut short, not complete.
        assert_eq!(s.poll_output(&mut Vec::new(), 100), Flow::Abort);
    }

    #[test]
    fn both_directions_are_bounded_and_half_closes_pass_on() {
        let mut s = stream();
        opened(&mut s);
        s.connecting(Instant::now());
        s.connected();
        s.on_data(b"0123456789");
        assert!(
            !s.wants_data(),
            "over the 8-byte buffer: stop reading the client"
        );
        assert!(s.is_mid_message());
        assert_eq!(s.output(), b"0123456789");
        s.wrote(4);
        assert_eq!(s.output(), b"456789");
        s.wrote(6);
        assert!(s.wants_data());
        // Backend to client, bounded by the room given.
        assert!(s.wants_read());
        s.received(b"abcdefgh");
        assert!(
            !s.wants_read(),
            "the client has not taken it: stop reading the backend"
        );
        let mut out = Vec::new();
        assert_eq!(s.poll_output(&mut out, 3), Flow::Continue);
        assert_eq!(out, b"abc");
        assert!(s.wants_read());
        // The client's goodbye: shut the backend's write side once everything is written.
        s.on_data(b"xy");
        assert_eq!(s.on_peer_closed(), Flow::Continue);
        assert!(!s.wants_shutdown_write());
        s.wrote(2);
        assert!(s.wants_shutdown_write());
        s.write_shut();
        // The backend's end: what it sent goes out, then close_notify.
        s.backend_eof();
        out.clear();
        assert_eq!(s.poll_output(&mut out, 100), Flow::Close);
        assert_eq!(out, b"defgh");
    }
}
