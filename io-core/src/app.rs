//! The application side of a server connection, as drivers see it: plaintext in, plaintext
//! out. Every driver (threads, mio, io_uring) runs the same [`Handler`]s, so a server switches
//! drivers without touching its application.

use reprise::Negotiated;

/// What the driver should do after a handler ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppAction {
    /// Keep the connection open.
    Continue,
    /// Send what was written, then close (close_notify, then the socket).
    Close,
}

/// One connection's application logic.
pub trait Handler: Send {
    /// Called once when the handshake has completed.
    fn on_handshake(&mut self, _negotiated: &Negotiated) {}
    /// Plaintext from the client; append any response plaintext to `out`.
    fn on_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> AppAction;
}

/// Makes a [`Handler`] for each accepted connection; shared by every worker.
pub trait HandlerFactory: Send + Sync + 'static {
    /// The per-connection handler.
    type Handler: Handler + 'static;
    /// A handler for a new connection.
    fn new_handler(&self) -> Self::Handler;
}
