//! The handshake state machines. [`flow`] holds each handshake shape as data and decides which
//! message may come next; [`server`] and [`client`] take each step of their role in a phase
//! that owns what the step needs; [`keyed`] holds the steps both roles take alike.

pub(crate) mod client;
pub(crate) mod flow;
pub(crate) mod keyed;
pub(crate) mod keys;
pub(crate) mod server;
pub(crate) mod transcript;

use core::fmt;
use core::ops::Deref;

use smallvec::SmallVec;

use crate::crypto::kx::NamedGroup;
use crate::crypto::suites::CipherSuite;
use crate::error::ResumptionKind;

pub use hello::ClientHelloInfo;

mod hello;

/// A handshake message the peer sent, as the flow let it through: `raw` with its 4-byte
/// header (what the transcript hashes), `body` without. A ChangeCipherSpec, not a handshake
/// message, has neither.
// Public in name only (the sealed `Handshake` trait mentions it); unreachable from outside.
#[derive(Clone, Copy)]
pub struct Received<'a> {
    pub(crate) body: &'a [u8],
    pub(crate) raw: &'a [u8],
}

impl Received<'_> {
    /// The peer's ChangeCipherSpec (RFC 5246 §7.1).
    pub(crate) const CHANGE_CIPHER_SPEC: Received<'static> = Received {
        body: &[],
        raw: &[],
    };
}

/// A step the flow lets through that the phase has no arm for. The flow decides the order,
/// and each role's `step` pairs every step with the one phase that holds its data: reaching
/// this is a bug in that table (one exit per role), answered with internal_error instead of
/// a panic.
pub(crate) fn out_of_step(msg: flow::Msg) -> crate::error::Fatal {
    crate::error::InternalFailure::OutOfStep { step: msg.name() }.into()
}

/// What a handshake settled on, readable from the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// The cipher suite.
    pub suite: Option<&'static CipherSuite>,
    /// The ECDHE group (none for a resumption).
    pub group: Option<NamedGroup>,
    /// Whether the extended master secret is in use (RFC 7627).
    pub extended_master_secret: bool,
    /// The ALPN protocol (held inline up to 16 bytes): [`Negotiated::alpn`].
    pub(crate) alpn: Option<SmallVec<[u8; 16]>>,
    /// The server name the client asked for (server side, lower-cased) or used (client side).
    pub server_name: Option<HostName>,
    /// Whether the peer supports secure renegotiation signalling (RFC 5746).
    pub secure_renegotiation: bool,
    /// Set when an earlier session was resumed.
    pub resumed: Option<ResumptionKind>,
}

impl Negotiated {
    /// The application protocol agreed by ALPN (RFC 7301), e.g. `b"h2"`.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    #[doc(hidden)] // unstable: for this repository's tests
    /// Sets the agreed protocol (tests that build a `Negotiated` by hand).
    pub fn set_alpn(&mut self, protocol: Option<&[u8]>) {
        self.alpn = protocol.map(SmallVec::from_slice);
    }
}

/// A host name held inline (no heap allocation up to 64 bytes); dereferences to `str`.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct HostName(SmallVec<[u8; 64]>);

impl HostName {
    /// `name` with ASCII letters lower-cased (RFC 6066 §3 names compare case-insensitively).
    pub fn lowercase(name: &str) -> Self {
        let mut bytes = SmallVec::from_slice(name.as_bytes());
        bytes.make_ascii_lowercase();
        Self(bytes)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Built only from a `&str` by ASCII lower-casing, which keeps UTF-8 valid.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl From<&str> for HostName {
    fn from(name: &str) -> Self {
        Self(SmallVec::from_slice(name.as_bytes()))
    }
}

impl Deref for HostName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for HostName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for HostName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
