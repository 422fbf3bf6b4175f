//! The application side of a served connection: a byte-stream endpoint. It takes the
//! client's plaintext as it arrives and gives plaintext for the client whenever it has some,
//! not only in answer to what just arrived, so the same shape carries the built-in page
//! responder and a backend stream spliced both ways over the connection's [`Upstream`] (both
//! in `reprise-tls-apps`) and
//! a user handler that produces output on its own (waking its connection with [`Wake`]).
//! Every driver runs the same handlers.

use std::sync::Arc;

use reprise::{Negotiated, ResumptionFailure};

use std::net::SocketAddr;

use crate::upstream::Upstream;

/// What the connection should do after the handler produced output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep the connection open.
    Continue,
    /// Send what was produced, then close (close_notify, then the socket).
    Close,
    /// Send what was produced, then close *without* close_notify: the stream was cut short
    /// (a backend that failed), and RFC 5246 §7.2.1 keeps close_notify for a sender that is
    /// done, so the client must see a truncated stream, not a complete one.
    Abort,
}

/// Why a message's time ran out ([`Handler::on_message_timeout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageTimeout {
    /// How long the message has been unfinished.
    pub waited: std::time::Duration,
    /// The client was still sending (below the minimum rate) late in that time: it trickles.
    /// Otherwise it sent what it had early and then waited for an answer.
    pub client_trickled: bool,
}

/// Makes a connection's handler produce again: [`Handler::poll_output`] is called soon on
/// the connection's worker. Cheap to clone; callable from any thread; a no-op once the
/// connection is gone.
#[derive(Clone)]
pub struct Wake(Arc<dyn Fn() + Send + Sync>);

impl Wake {
    /// A wake that runs `wake` (a driver's way to reach the connection's worker).
    pub fn new(wake: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Arc::new(wake))
    }

    /// Asks for [`Handler::poll_output`] to be called.
    pub fn wake(&self) {
        (self.0)();
    }
}

impl std::fmt::Debug for Wake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wake")
    }
}

/// What a handler learns when its connection opens.
pub struct Opened<'a> {
    negotiated: &'a Negotiated,
    resumption_failure: Option<ResumptionFailure>,
    client_certificates: Option<&'a [Vec<u8>]>,
    client_identity: Option<&'a reprise::ClientIdentity>,
    make_wake: &'a dyn Fn() -> Wake,
}

impl<'a> Opened<'a> {
    /// What the handshake negotiated, and `make_wake` to make [`Wake`]s on demand.
    pub fn new(negotiated: &'a Negotiated, make_wake: &'a dyn Fn() -> Wake) -> Self {
        Self {
            negotiated,
            resumption_failure: None,
            client_certificates: None,
            client_identity: None,
            make_wake,
        }
    }

    /// The same, with the client's verified certificate chain (leaf first).
    pub fn with_client_certificates(mut self, chain: Option<&'a [Vec<u8>]>) -> Self {
        self.client_certificates = chain;
        self
    }

    /// The client's verified certificate chain (leaf first), when it sent one in this
    /// connection's handshake (a resumption sends none).
    pub fn client_certificates(&self) -> Option<&'a [Vec<u8>]> {
        self.client_certificates
    }

    /// The same, with who the client's certificate says it is (from this handshake or the
    /// session it resumed).
    pub fn with_client_identity(mut self, identity: Option<&'a reprise::ClientIdentity>) -> Self {
        self.client_identity = identity;
        self
    }

    /// Who the client's certificate says it is, on full and resumed connections alike.
    pub fn client_identity(&self) -> Option<&'a reprise::ClientIdentity> {
        self.client_identity
    }

    /// The same, telling why an offered resumption was declined.
    pub fn with_resumption_failure(mut self, failure: Option<ResumptionFailure>) -> Self {
        self.resumption_failure = failure;
        self
    }

    /// What the handshake negotiated (suite, group, ALPN, SNI, how it resumed).
    pub fn negotiated(&self) -> &Negotiated {
        self.negotiated
    }

    /// Why a resumption the client offered did not happen (the handshake was a full one).
    pub fn resumption_failure(&self) -> Option<ResumptionFailure> {
        self.resumption_failure
    }

    /// A [`Wake`] for this connection, for a handler that produces output on its own (from
    /// another thread, a timer, a backend). Made only when asked for.
    pub fn wake(&self) -> Wake {
        (self.make_wake)()
    }
}

/// One connection's application logic.
pub trait Handler: Send + 'static {
    /// The handshake completed.
    fn on_open(&mut self, _opened: &Opened<'_>) {}

    /// Plaintext from the client, as its records arrive.
    fn on_data(&mut self, data: &[u8]);

    /// The client will send nothing more (its close_notify, or the end of its stream).
    /// [`Flow::Close`] (the default) closes once the output produced so far is sent; a
    /// handler with more to say (a backend still answering) returns [`Flow::Continue`] and
    /// later [`Flow::Close`] from [`poll_output`](Self::poll_output).
    fn on_peer_closed(&mut self) -> Flow {
        Flow::Close
    }

    /// The client's stream ended without its close_notify (a TCP end of stream): a
    /// truncation (RFC 5246 §7.2.1). By default the same as [`on_peer_closed`](Self::on_peer_closed);
    /// a handler that forwards the stream returns [`Flow::Abort`] to pass the truncation on.
    fn on_peer_vanished(&mut self) -> Flow {
        self.on_peer_closed()
    }

    /// A message ([`is_mid_message`](Self::is_mid_message)) was not done within the idle
    /// timeout, and the client did not keep up the minimum rate meanwhile: the connection is
    /// closed. [`Flow::Abort`] closes it without close_notify (the answer the client waits
    /// for is not coming); anything else says goodbye.
    fn on_message_timeout(&mut self, _timeout: MessageTimeout) -> Flow {
        Flow::Close
    }

    /// Plaintext for the client: append at most `room` bytes to `out` (more is taken, but
    /// then the connection stops reading the client until the output drains). Called after
    /// [`on_data`](Self::on_data), after a [`Wake`], and whenever sent output makes room.
    fn poll_output(&mut self, out: &mut Vec<u8>, room: usize) -> Flow;

    /// Whether the client may send more now. `false` stops reading the client until it is
    /// `true` again (back-pressure toward the client, e.g. a backend that does not read).
    fn wants_data(&self) -> bool {
        true
    }

    /// True while the handler holds part of a message (e.g. an unfinished request head):
    /// the idle deadline then runs from the message's first byte, so a client cannot keep
    /// a connection by trickling one message forever.
    fn is_mid_message(&self) -> bool {
        false
    }

    /// While the server drains, how long the connection must have been still (nothing
    /// received, nothing sent) before it is told goodbye, once it is not
    /// [`is_mid_message`](Self::is_mid_message). Zero (the default) for a handler that knows
    /// where its answers end; a byte stream that cannot tell asks for a moment, so that an
    /// answer arriving in pieces is not cut between them.
    fn drain_quiet(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// The connection's second socket, which the driver connects and moves bytes for, if
    /// this handler opens one ([`crate::upstream`]).
    fn upstream(&mut self) -> Option<&mut Upstream> {
        None
    }

    /// Whether the handler wants the client's addresses ([`on_addresses`](Self::on_addresses)),
    /// which cost the driver a system call to learn.
    fn wants_addresses(&self) -> bool {
        false
    }

    /// The client's address (`peer`) and the address it connected to (`local`), told at
    /// accept when [`wants_addresses`](Self::wants_addresses).
    fn on_addresses(&mut self, _peer: Option<SocketAddr>, _local: Option<SocketAddr>) {}
}

/// Makes a [`Handler`] for each accepted connection; shared by every worker.
pub trait HandlerFactory: Send + Sync + 'static {
    /// The per-connection handler.
    type Handler: Handler;
    /// A handler for a new connection.
    fn new_handler(&self) -> Self::Handler;
}
