//! Errors and events reported to the caller.

use core::fmt;
use std::borrow::Cow;

use crate::codec::AlertDescription;

/// Why a connection failed. Once a connection has returned an error it is dead: every later
/// call returns the same error (after [`transmit`](crate::ServerConnection::transmit) has
/// flushed any alert we queued).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// We detected a problem and sent this fatal alert.
    AlertSent {
        /// The alert we sent.
        alert: AlertDescription,
        /// What went wrong, for logs.
        reason: Cow<'static, str>,
    },
    /// The peer sent this fatal alert (or an alert we treat as fatal).
    AlertReceived(AlertDescription),
    /// Application data was offered before the handshake finished or after closing.
    NotReady,
    /// The connection was closed by close_notify; nothing more can be sent or received.
    Closed,
}

impl Error {
    /// The alert this error sent, if it sent one.
    pub fn alert_sent(&self) -> Option<AlertDescription> {
        match self {
            Error::AlertSent { alert, .. } => Some(*alert),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlertSent { alert, reason } => write!(f, "{reason} (alert sent: {alert})"),
            Error::AlertReceived(alert) => write!(f, "peer sent fatal alert: {alert}"),
            Error::NotReady => f.write_str("connection not ready for application data"),
            Error::Closed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for Error {}

/// A fatal condition found while processing input: the alert to send and why.
#[derive(Clone, Debug, PartialEq, Eq)]
// Public in name only (the sealed `Side` trait mentions it); unreachable from outside.
pub struct Fatal {
    pub alert: AlertDescription,
    pub reason: Cow<'static, str>,
}

impl Fatal {
    pub(crate) fn new(alert: AlertDescription, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            alert,
            reason: reason.into(),
        }
    }
}

/// Shorthand for a fatal alert with a static reason.
pub(crate) fn fatal(alert: AlertDescription, reason: &'static str) -> Fatal {
    Fatal::new(alert, reason)
}

/// An encoder refused our own message: a bug or an impossible configuration.
pub(crate) fn encode_failed(e: crate::codec::EncodeError) -> Fatal {
    Fatal::new(
        AlertDescription::InternalError,
        format!("cannot encode {}", e.field()),
    )
}

impl From<AlertDescription> for Fatal {
    fn from(alert: AlertDescription) -> Self {
        Fatal::new(alert, "malformed message")
    }
}

/// How a handshake resumed a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResumptionKind {
    /// From the server's session cache, by session ID (RFC 5246 §7.3).
    SessionId,
    /// From a session ticket (RFC 5077).
    Ticket,
}

impl fmt::Display for ResumptionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResumptionKind::SessionId => "session-id",
            ResumptionKind::Ticket => "ticket",
        })
    }
}

/// Why an offered resumption did not happen (the handshake went on as a full one, or was
/// aborted where RFC 7627 §5.3 says so). Counted by operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResumptionFailure {
    /// The session ID is not in the store.
    UnknownSession,
    /// The ticket names a key the ring does not hold (rotated out, or another fleet's).
    UnknownTicketKey,
    /// The session, or the key that sealed the ticket, has expired.
    Expired,
    /// The ticket failed authentication or is malformed.
    BadTicket,
    /// The session and the new hello disagree about the extended master secret.
    EmsMismatch,
    /// The session's cipher suite is no longer offered or allowed.
    SuiteMismatch,
    /// The session was made for another server name.
    SniMismatch,
    /// The session store could not be asked.
    StoreUnavailable,
    /// (client) The server answered with a full handshake.
    Declined,
}

impl ResumptionFailure {
    /// A short, stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ResumptionFailure::UnknownSession => "unknown-session",
            ResumptionFailure::UnknownTicketKey => "unknown-ticket-key",
            ResumptionFailure::Expired => "expired",
            ResumptionFailure::BadTicket => "bad-ticket",
            ResumptionFailure::EmsMismatch => "ems-mismatch",
            ResumptionFailure::SuiteMismatch => "suite-mismatch",
            ResumptionFailure::SniMismatch => "sni-mismatch",
            ResumptionFailure::StoreUnavailable => "store-unavailable",
            ResumptionFailure::Declined => "declined-by-server",
        }
    }
}

impl fmt::Display for ResumptionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the caller should know about, drained with `next_event`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed; application data may flow.
    HandshakeDone {
        /// `Some` when an earlier session was resumed.
        resumed: Option<ResumptionKind>,
    },
    /// The peer sent close_notify: it will send nothing more.
    PeerClosed,
    /// The peer sent a non-fatal warning alert (e.g. no_renegotiation).
    WarningReceived(AlertDescription),
    /// (server) The session store answered `Pending` for this session ID: the handshake is
    /// suspended until the caller answers with
    /// [`ServerConnection::provide_session`](crate::ServerConnection::provide_session).
    NeedSession {
        /// The session ID the client offered.
        id: smallvec::SmallVec<[u8; 32]>,
    },
    /// (server, with `ServerConfig::offload_signing`) The ServerKeyExchange needs a signature:
    /// sign `message` with the certificate key for `auth` using `scheme` (e.g. on a worker
    /// pool with [`ServerConfig::sign`](crate::ServerConfig::sign), or on a remote key server)
    /// and answer with [`ServerConnection::provide_signature`](crate::ServerConnection::provide_signature).
    NeedSignature {
        /// Which certificate's key signs.
        auth: crate::crypto::suites::AuthKind,
        /// The certificate (chosen by SNI) whose key signs:
        /// `key.key().sign(scheme, &message, &mut out)`.
        key: std::sync::Arc<crate::config::CertifiedKey>,
        /// The signature scheme the client accepted.
        scheme: crate::crypto::sign::SignatureScheme,
        /// The bytes to sign.
        message: Vec<u8>,
    },
    /// An offered resumption did not happen; the handshake continues as a full one.
    ResumptionFailed {
        /// Why.
        reason: ResumptionFailure,
    },
    /// (server, started with
    /// [`ServerConnection::choosing_config`](crate::ServerConnection::choosing_config)) The
    /// ClientHello has arrived: read it with
    /// [`ServerConnection::client_hello`](crate::ServerConnection::client_hello) and go on
    /// with [`ServerConnection::choose_config`](crate::ServerConnection::choose_config).
    ClientHelloReceived,
    /// The peer tried to renegotiate; we refused with a no_renegotiation warning and the
    /// connection goes on (RFC 5746 §4.2, §4.4).
    RenegotiationRefused,
}
