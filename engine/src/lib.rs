//! Reprise: a sans-IO TLS 1.2 handshake engine for servers, resumption first.
//!
//! The engine does no I/O: bytes in through [`Connection::next_plaintext`], records out
//! through [`Connection::pending_output`], [`Event`]s in between. Randomness comes from the
//! config's [`RandomSource`](rng::RandomSource) and time from the caller, so a seeded source
//! reproduces a handshake byte for byte.
//!
//! # A server that resumes
//!
//! [`ServerConfig::builder`] turns on both kinds of resumption: a session-ID cache
//! (RFC 5246 §7.4.1.2) and RFC 5077 tickets under a key that replaces itself every
//! [`DEFAULT_TICKET_ROTATION`] seconds. One setting, [`session_lifetime`], says how long a
//! session may be resumed either way. The blocking [`Stream`] is enough for a small server
//! (this is `examples/https_server.rs`, which a test checks with `openssl s_client -reconnect`):
//!
//! [`session_lifetime`]: ServerConfigBuilder::session_lifetime
//!
//! ```no_run
#![doc = include_str!("../examples/https_server.rs")]
//! ```
//!
//! # Embedding a connection in a driver
//!
//! An event loop owns the sockets and, per socket, one [`ServerConnection`]. When bytes arrive
//! it reads them record by record with [`Connection::next_plaintext`] (which decrypts in place),
//! drains [`Connection::next_event`], and writes [`Connection::pending_output`] back. A
//! receive buffer of [`MAX_RECORD_LEN`] bytes always holds a whole record. Here the "socket"
//! is a client in the same process, connecting twice: the second connection resumes.
//!
//! ```
//! use reprise::{ClientConfig, ClientConnection, Connection, Error, Event, Inbound};
//! use reprise::{ResumptionKind, ServerConfig, ServerConnection, Handshake};
//!
//! /// Moves what `from` has queued into `to`; returns the plaintext `to` received.
//! fn deliver<A: Handshake, B: Handshake>(from: &mut Connection<A>, to: &mut Connection<B>) -> Result<Vec<u8>, Error> {
//!     let mut wire = from.pending_output().to_vec();
//!     from.consume_output(wire.len()); // in a driver: only what the socket took
//!     let mut inbound = Inbound::new(&mut wire);
//!     let mut plaintext = Vec::new();
//!     while let Some(data) = to.next_plaintext(&mut inbound, 1_800_000_000)? {
//!         plaintext.extend_from_slice(data);
//!     }
//!     Ok(plaintext) // bytes past `inbound.consumed()` would be kept for the next read
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = rcgen::KeyPair::generate()?; // ECDSA P-256; real servers load PEM files
//! let cert = rcgen::CertificateParams::new(vec!["localhost".into()])?.self_signed(&key)?;
//! let server_config = ServerConfig::builder()
//!     .certificate_der(vec![cert.der().to_vec()], &key.serialize_der())
//!     .build()?;
//! let client_config = ClientConfig::builder().root(cert.der().clone()).build()?;
//! for attempt in 0..2 {
//!     let mut server = ServerConnection::new(server_config.clone());
//!     let mut client = ClientConnection::new(client_config.clone(), "localhost")?;
//!     while client.is_handshaking() {
//!         deliver(&mut client, &mut server)?;
//!         deliver(&mut server, &mut client)?;
//!     }
//!     client.send(b"ping")?;
//!     assert_eq!(deliver(&mut client, &mut server)?, b"ping");
//!     let resumed = std::iter::from_fn(|| server.next_event()).find_map(|e| match e {
//!         Event::HandshakeDone { resumed } => Some(resumed),
//!         _ => None,
//!     });
//!     let expected = if attempt == 0 { None } else { Some(ResumptionKind::Ticket) };
//!     assert_eq!(resumed, Some(expected));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`Handshake`] lets such code serve either role. [`Connection::send`] seals everything it is
//! given (in records of up to [`MAX_PLAINTEXT_LEN`] bytes) into the output queue; a driver
//! bounds its memory by sending more only while [`Connection::pending_output`] is short.
//!
//! # Tickets, rotation and fleets
//!
//! By default each server seals tickets under keys of its own, made at its first handshake
//! and rotated on the clock the driver passes in; old keys keep decrypting for the session
//! lifetime, so rotation never costs a resumption. Servers behind one load balancer must read
//! each other's tickets: give them the same keys with
//! [`ServerConfigBuilder::ticket_keys`] — a [`session::TicketKeys`] built from a key file
//! ([`session::parse_key_file`] reads nginx's and HAProxy's formats too) or from the
//! fleet's key ring, swapped in place with [`session::TicketKeys::replace`] when the keys
//! change.
//!
//! # A shared session store
//!
//! Resumption by session ID needs the session where the client lands.
//! [`ServerConfigBuilder::session_store`] takes any [`session::SessionStore`]; a remote one
//! answers [`session::Lookup::Pending`], the handshake suspends with
//! [`Event::NeedSession`], and the driver hands the answer to
//! [`ServerConnection::provide_session`] when it has it (the blocking [`Stream`] waits for
//! it). A store that cannot be asked costs a full handshake, never a failure.
//!
//! # Why a resumption did not happen
//!
//! A server reports each offered but refused resumption as [`Event::ResumptionFailed`], a
//! client as [`ClientConnection::resumption_failure`]; [`ResumptionFailure`] names the cause:
//! an unknown session or ticket key (the cache forgot it, or another server's keys sealed
//! it), an expired session, a forged or damaged ticket, a mismatch of EMS, suite or server
//! name, or a store that could not be asked. [`metrics::Metrics`] counts each.
//!
//! # What a driver needs besides
//!
//! A driver (an event loop that owns sockets, as `reprise-tls-mio` does) needs a few things a
//! plain embedding does not, all documented public API:
//!
//! * memory accounting: [`Connection::handshake_bytes_held`] (to bound unfinished handshakes),
//!   [`Connection::buffer_capacity`], [`Buffers::capacity_bytes`] (buffers reused with
//!   [`Connection::into_buffers`] and [`ServerConnection::with_buffers`]);
//! * the counters only it can know: [`metrics::Metrics::connection_opened`],
//!   [`connection_refused`](metrics::Metrics::connection_refused),
//!   [`connection_closed`](metrics::Metrics::connection_closed);
//! * signing off the event loop: [`ServerConfig::sign`] answers an [`Event::NeedSignature`];
//! * for fleets and operator tools: a session-ID key ([`session::SessionIdKey`]), a ticket
//!   ring's rotation ([`session::TicketKeyRing::rotate_now`], `retire_all`, `key_names`) and
//!   a session cache's size and timeout.
//!
//! What only this repository's tests, fuzz targets and benches use is `#[doc(hidden)]`
//! (`internal`, and two test helpers), not part of the API.
//!
//! # Key log
//!
//! [`ServerConfigBuilder::key_log`] takes a [`keylog::KeyLog`] that receives each master
//! secret in the SSLKEYLOGFILE format Wireshark reads:
//!
//! ```
//! struct Stderr;
//! impl reprise::keylog::KeyLog for Stderr {
//!     fn log(&self, label: &str, client_random: &[u8; 32], secret: &[u8]) {
//!         eprintln!("{}", reprise::keylog::format_line(label, client_random, secret));
//!     }
//! }
//! let builder = reprise::ServerConfig::builder().key_log(std::sync::Arc::new(Stderr));
//! # let _ = builder;
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

// The protocol's parts, private: what a user needs is re-exported below or lives in one of
// the public modules; what this repository's tests, fuzz targets and benches need besides is
// in `internal`.
mod builder;
mod client_auth;
mod codec;
mod config;
mod conn;
mod crypto;
mod error;
mod handshake;
mod record;
mod stream;

pub mod keylog;
pub mod metrics;
pub mod pem;
pub mod resolve;
pub mod rng;
pub mod session;
pub mod x509;

/// The cipher suites the engine implements (RFC 5289, RFC 7905), all of them and by IANA name.
pub mod suites {
    pub use crate::crypto::suites::{suite_by_name, ALL_SUITES};
}

/// TLS records and handshake messages as they cross the wire, for tools that show traffic
/// (tracers, message ladders): the record header (RFC 5246 §6.2.1), the handshake message
/// header (§7.4) and the alert level (§7.2). Connections never need these; the engine's own
/// parsers and encoders stay inside it.
pub mod wire {
    pub use crate::codec::{
        AlertLevel, ContentType, HandshakeHeader, HandshakeType, RecordHeader,
        HANDSHAKE_HEADER_LEN, RECORD_HEADER_LEN,
    };
}

/// **Unstable, not part of the API.** The engine's internals, public only so that this
/// repository's own tests, fuzz targets, benchmarks and tools can reach them. Anything here
/// may change or vanish in any release; do not depend on it.
#[doc(hidden)]
pub mod internal {
    /// Wire formats (RFC 5246 §6–§7 and the extension RFCs).
    pub mod codec {
        pub use crate::codec::*;
    }
    /// Record protection (RFC 5246 §6.2.3.3, RFC 7905).
    pub mod record {
        pub use crate::record::*;
    }
    /// Handshake shapes as data.
    pub mod flow {
        pub use crate::handshake::flow::*;
    }
    /// The running handshake hash.
    pub mod transcript {
        pub use crate::handshake::transcript::*;
    }
    /// The TLS 1.2 PRF and what is derived with it (RFC 5246 §5, §8; RFC 7627).
    pub mod prf {
        pub use crate::crypto::prf::*;
    }
    /// ECDHE key exchange.
    pub mod kx {
        pub use crate::crypto::kx::*;
    }
    /// Signing keys and signature schemes.
    pub mod sign {
        pub use crate::crypto::sign::*;
    }
    /// Cipher suite definitions.
    pub mod suites {
        pub use crate::crypto::suites::*;
    }
    /// Certificate and signature verification.
    pub mod verify {
        pub use crate::crypto::verify::*;
    }
    /// The sharded session cache's layout.
    pub mod cache {
        pub use crate::session::cache::*;
    }
    /// RFC 5077 ticket sealing and its key ring.
    pub mod ticket {
        pub use crate::session::ticket::*;
    }
    /// Ticket-key files.
    pub mod keyfile {
        pub use crate::session::keyfile::*;
    }
    /// The encoded session record.
    pub mod session_record {
        pub use crate::session::record::*;
    }
    /// Configuration limits.
    pub mod config {
        pub use crate::config::*;
    }
    /// Random sources that are not part of the API.
    pub mod rng {
        pub use crate::rng::BufferedRandom;
    }
}

use std::sync::Arc;

pub use builder::{
    ClientConfigBuilder, ServerConfigBuilder, DEFAULT_CLIENT_SESSIONS, DEFAULT_SESSION_CACHE_BYTES,
    DEFAULT_TICKET_ROTATION,
};
pub use client_auth::{ClientAuth, ClientIdentity};
pub use codec::AlertDescription;
pub use config::{
    CertifiedKey, ClientConfig, ConfigError, ServerConfig, ServerVerification,
    DEFAULT_MAX_HANDSHAKE_MESSAGE, MAX_CLIENT_HELLO_LEN,
};
pub use conn::{Buffers, Connection, Handshake, Inbound, Receipt};
pub use crypto::kx::NamedGroup;
pub use crypto::sign::SignatureScheme;
pub use crypto::suites::CipherSuite;
pub use crypto::verify::RootStore;
pub use error::{
    Cause, CertificateError, Error, Event, Incompatibility, InternalFailure, Misbehavior,
    ResumptionFailure, ResumptionKind,
};
pub use handshake::client::ClientHandshake;
pub use handshake::flow::Role;
pub use handshake::server::ServerHandshake;
pub use handshake::{ClientHelloInfo, HostName, Negotiated};
pub use stream::Stream;

/// The certificate and key types of the Rust TLS ecosystem (rustls-pki-types), as the builders
/// take them.
pub use pki_types;

/// Seconds since the Unix epoch by the system clock (0 before it): the `now` that
/// `next_plaintext`, `receive` and the session stores take, for callers with no clock of
/// their own. The engine reads no clock itself; [`Stream`], its blocking adapter, calls this.
pub fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The longest record the engine accepts, header included (RFC 5246 §6.2.3: 2^14 + 2048
/// bytes of body): a receive buffer of this size always holds a whole record.
pub const MAX_RECORD_LEN: usize = codec::RECORD_HEADER_LEN + codec::MAX_CIPHERTEXT;

/// How many bytes of records [`Connection::send_some`] lets wait to be sent, unless
/// [`Connection::set_output_limit`] says otherwise.
pub const DEFAULT_OUTPUT_LIMIT: usize = 64 * 1024;

/// The most application data one record carries (RFC 5246 §6.2.1: 2^14 bytes).
pub const MAX_PLAINTEXT_LEN: usize = codec::MAX_PLAINTEXT;

use conn::Core;

/// A server-side connection.
pub type ServerConnection = Connection<ServerHandshake>;
/// A client-side connection.
pub type ClientConnection = Connection<ClientHandshake>;

impl Connection<ServerHandshake> {
    /// A server connection awaiting a ClientHello.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self::with_buffers(config, Buffers::default())
    }

    /// A server connection reusing the buffers of a finished one
    /// ([`Connection::into_buffers`]), so that it allocates nothing they can hold.
    pub fn with_buffers(config: Arc<ServerConfig>, buffers: Buffers) -> Self {
        let core = Core::new(
            config.max_handshake_message,
            config.metrics.clone(),
            buffers,
        );
        Self {
            core,
            hs: ServerHandshake::new(config),
        }
    }

    /// A server connection that reads the ClientHello before its config is chosen (by SNI,
    /// ALPN or whether the client resumes): when the hello has arrived the handshake waits
    /// ([`Event::ClientHelloReceived`], [`is_suspended`](Connection::is_suspended)); read it
    /// with [`client_hello`](Self::client_hello), then go on with
    /// [`choose_config`](Self::choose_config).
    ///
    /// ```
    /// # fn f(bytes: &mut [u8], by_name: impl Fn(Option<&str>) -> std::sync::Arc<reprise::ServerConfig>) -> Result<(), reprise::Error> {
    /// let mut conn = reprise::ServerConnection::choosing_config();
    /// let mut inbound = reprise::Inbound::new(bytes);
    /// while conn.next_plaintext(&mut inbound, 1_800_000_000)?.is_some() {}
    /// if let Some(hello) = conn.client_hello() {
    ///     let config = by_name(hello.server_name());
    ///     conn.choose_config(config)?; // then send `pending_output()`
    /// }
    /// # Ok(()) }
    /// ```
    pub fn choosing_config() -> Self {
        static PLACEHOLDER: std::sync::OnceLock<Arc<ServerConfig>> = std::sync::OnceLock::new();
        let placeholder = PLACEHOLDER
            .get_or_init(|| Arc::new(ServerConfig::new()))
            .clone();
        let core = Core::new(MAX_CLIENT_HELLO_LEN, None, Buffers::default());
        Self {
            core,
            hs: ServerHandshake::choosing_config(placeholder),
        }
    }

    /// The ClientHello a [`choosing_config`](Self::choosing_config) connection waits with.
    pub fn client_hello(&self) -> Option<&ClientHelloInfo> {
        self.hs.hello_info()
    }

    /// Goes on with the ClientHello under `config` (built with [`ServerConfig::builder`], or
    /// checked with [`ServerConfig::validate`]); then [`transmit`](Connection::transmit).
    pub fn choose_config(&mut self, config: Arc<ServerConfig>) -> Result<(), Error> {
        if let Some(e) = self.error() {
            return Err(e.clone());
        }
        self.core
            .adopt_config(config.max_handshake_message, config.metrics.clone());
        self.hs
            .choose_config(&mut self.core, config)
            .map_err(|f| self.core.fail_fatal(f))
    }

    /// The server name (SNI) the client asked for, lower-cased.
    pub fn server_name(&self) -> Option<&str> {
        self.negotiated().server_name.as_deref()
    }

    /// The client's certificate chain (DER, leaf first) as verified against the
    /// configuration's [`ClientAuth`] (RFC 5246 §7.4.6) in this handshake; `None` when it
    /// sent none (or was not asked), and in a resumption, which sends no certificate (the
    /// session's [`peer_identity`](Self::peer_identity) is there instead).
    pub fn peer_certificates(&self) -> Option<&[Vec<u8>]> {
        self.hs.client_chain()
    }

    /// Who the client's verified certificate says it is: from the certificate it sent in a
    /// full handshake, or kept with the session a resumption resumed (checked again under
    /// the current [`ClientAuth`]: same roots, not expired, not revoked). `None` when the
    /// client authenticated with no certificate.
    pub fn peer_identity(&self) -> Option<&ClientIdentity> {
        self.hs.client_identity()
    }

    /// The client certificate's subject as RFC 4514 writes it (`CN=device-17,O=Example`),
    /// in full handshakes and resumptions alike ([`peer_identity`](Self::peer_identity)).
    pub fn peer_subject(&self) -> Option<String> {
        self.peer_identity().map(ClientIdentity::subject)
    }
}

impl Connection<ClientHandshake> {
    /// A client connection to `server_name` (a DNS name or IP address), with its ClientHello
    /// already queued for [`transmit`](Connection::transmit).
    pub fn new(config: Arc<ClientConfig>, server_name: &str) -> Result<Self, Error> {
        let mut core = Core::new(
            config.max_handshake_message,
            config.metrics.clone(),
            Buffers::default(),
        );
        let hs = ClientHandshake::start(config, server_name, &mut core)
            .map_err(|f| Error::AlertSent(f.0))?;
        Ok(Self { core, hs })
    }

    /// Why the session this client offered was not resumed, if it offered one.
    pub fn resumption_failure(&self) -> Option<ResumptionFailure> {
        self.hs.resumption_failure()
    }

    /// The server's certificate chain (DER, leaf first) as it sent it in a full handshake
    /// (verified against the roots unless verification is off); `None` in a resumption,
    /// which sends no certificate.
    pub fn peer_certificates(&self) -> Option<&[Vec<u8>]> {
        self.hs.server_chain()
    }

    /// The server certificate's subject as RFC 4514 writes it, from
    /// [`peer_certificates`](Self::peer_certificates).
    pub fn peer_subject(&self) -> Option<String> {
        self.peer_certificates()?
            .first()
            .and_then(|leaf| x509::subject(leaf))
    }
}
