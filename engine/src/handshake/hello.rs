//! What a ClientHello asks for, read before a server config is chosen (the lazy start of
//! [`ServerConnection::choosing_config`](crate::ServerConnection::choosing_config)).

use crate::codec::ClientHello;
use crate::crypto::suites::{suite_by_id, CipherSuite};
use crate::handshake::HostName;

/// The parts of a client's ClientHello a server picks its configuration by: the name it asks
/// for (RFC 6066 §3), its ALPN protocols (RFC 7301), the suites it offers and whether it tries
/// to resume.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientHelloInfo {
    server_name: Option<HostName>,
    alpn: Vec<Vec<u8>>,
    suites: Vec<&'static CipherSuite>,
    offers_ticket: bool,
    offers_session_id: bool,
    extended_master_secret: bool,
}

impl ClientHelloInfo {
    pub(crate) fn of(hello: &ClientHello<'_>) -> Self {
        // A name that is not an ASCII DNS host name is refused once the handshake goes on.
        let server_name = hello
            .extensions
            .server_name
            .and_then(|name| core::str::from_utf8(name).ok())
            .map(HostName::lowercase);
        Self {
            server_name,
            alpn: hello
                .extensions
                .alpn
                .as_ref()
                .map(|list| list.iter().map(<[u8]>::to_vec).collect())
                .unwrap_or_default(),
            suites: hello.cipher_suites.iter().filter_map(suite_by_id).collect(),
            offers_ticket: hello
                .extensions
                .session_ticket
                .is_some_and(|t| !t.is_empty()),
            offers_session_id: !hello.session_id.is_empty(),
            extended_master_secret: hello.extensions.extended_master_secret,
        }
    }

    /// The server name asked for (SNI), lower-cased.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The ALPN protocols offered, in the client's order.
    pub fn alpn(&self) -> impl Iterator<Item = &[u8]> {
        self.alpn.iter().map(Vec::as_slice)
    }

    /// The offered cipher suites the engine implements, in the client's order.
    pub fn cipher_suites(&self) -> &[&'static CipherSuite] {
        &self.suites
    }

    /// True when the client offers a ticket to resume with (RFC 5077 §3.4).
    pub fn offers_ticket(&self) -> bool {
        self.offers_ticket
    }

    /// True when the client offers a session ID to resume (RFC 5246 §7.4.1.2).
    pub fn offers_session_id(&self) -> bool {
        self.offers_session_id
    }

    /// True when the client offers the extended master secret (RFC 7627).
    pub fn offers_extended_master_secret(&self) -> bool {
        self.extended_master_secret
    }
}
