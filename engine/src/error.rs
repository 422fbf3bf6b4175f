//! Errors and events reported to the caller.

use core::fmt;
use std::borrow::Cow;

use crate::codec::AlertDescription;

/// Why a connection failed. Once a connection has returned an error it is dead: every later
/// call returns the same error (after [`transmit`](crate::ServerConnection::transmit) has
/// flushed any alert we queued).
#[derive(Clone, Debug, PartialEq, Eq)]
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
pub(crate) struct Fatal {
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

/// Something the caller should know about, drained with `next_event`.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The peer tried to renegotiate; we refused with a no_renegotiation warning and the
    /// connection goes on (RFC 5746 §4.2, §4.4).
    RenegotiationRefused,
}
