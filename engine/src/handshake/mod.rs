//! The handshake state machines. [`flow`] holds each handshake shape as data and decides which
//! message may come next; [`server`] and [`client`] handle each message of their role.

pub mod client;
pub mod flow;
pub(crate) mod keys;
pub mod server;
pub mod transcript;

use crate::crypto::kx::NamedGroup;
use crate::crypto::suites::CipherSuite;
use crate::error::ResumptionKind;

/// What a handshake settled on, readable from the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// The cipher suite.
    pub suite: Option<&'static CipherSuite>,
    /// The ECDHE group (none for a resumption).
    pub group: Option<NamedGroup>,
    /// Whether the extended master secret is in use (RFC 7627).
    pub extended_master_secret: bool,
    /// The ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    /// The server name the client asked for (server side) or used (client side).
    pub server_name: Option<String>,
    /// Whether the peer supports secure renegotiation signalling (RFC 5746).
    pub secure_renegotiation: bool,
    /// Set when an earlier session was resumed.
    pub resumed: Option<ResumptionKind>,
}
