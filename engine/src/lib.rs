//! Reprise: a sans-IO TLS 1.2 handshake engine for servers.
//!
//! The engine does no I/O: bytes in through [`Connection::receive`], records out through
//! [`Connection::transmit`], [`Event`]s in between. Randomness comes from the config's
//! [`rng::RandomSource`] and time from the caller, so a seeded source reproduces a handshake
//! byte for byte.
//!
//! # Embedding a server connection
//!
//! A driver owns the sockets; per socket it owns one [`ServerConnection`]. When bytes arrive
//! it hands them to [`Connection::receive`] (which decrypts in place and says where the
//! plaintext is), drains [`Connection::next_event`], and writes
//! [`Connection::pending_output`] back. Here the "socket" is a client in the same process:
//!
//! ```
//! use std::sync::Arc;
//! use reprise::{ClientConfig, ClientConnection, Error, Event, ServerConfig, ServerConnection};
//!
//! /// A driver's read handler: feed what arrived, answer requests, return what to send.
//! fn on_bytes(conn: &mut ServerConnection, inbound: &mut Vec<u8>, now: u64) -> Result<Vec<u8>, Error> {
//!     let mut start = 0;
//!     while start < inbound.len() {
//!         let receipt = conn.receive(&mut inbound[start..], now)?; // on Err: send the alert, close
//!         if !receipt.plaintext.is_empty() {
//!             conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")?; // the application
//!         }
//!         if receipt.consumed == 0 { break; } // a partial record: wait for more bytes
//!         start += receipt.consumed;
//!     }
//!     inbound.drain(..start);
//!     while let Some(event) = conn.next_event() {
//!         if let Event::HandshakeDone { resumed } = event { println!("handshake done, resumed: {resumed:?}"); }
//!     }
//!     let out = conn.pending_output().to_vec();
//!     conn.consume_output(out.len()); // only what the socket accepted, in a real driver
//!     Ok(out)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = rcgen::KeyPair::generate()?; // ECDSA P-256; real servers load PEM files
//! let cert = rcgen::CertificateParams::new(vec!["localhost".into()])?.self_signed(&key)?;
//! let mut config = ServerConfig::new();
//! config.add_certificate(vec![cert.der().to_vec()], &key.serialize_der())?;
//! let mut server = ServerConnection::new(Arc::new(config));
//! // The example's client skips certificate checks; a real one uses `ClientConfig::new(roots)`.
//! let mut client = ClientConnection::new(Arc::new(ClientConfig::dangerous_insecure()), "localhost")?;
//! let now = 1_800_000_000; // seconds since the Unix epoch, from the driver's clock
//! let mut got = Vec::new();
//! for _ in 0..4 {
//!     if client.is_open() && got.is_empty() { client.send(b"GET / HTTP/1.1\r\n\r\n")?; }
//!     let mut to_server = client.pending_output().to_vec();
//!     client.consume_output(to_server.len());
//!     let mut to_client = on_bytes(&mut server, &mut to_server, now)?;
//!     let mut at = 0;
//!     while at < to_client.len() {
//!         let r = client.receive(&mut to_client[at..], now)?;
//!         got.extend_from_slice(&to_client[at..][r.plaintext]);
//!         if r.consumed == 0 { break; }
//!         at += r.consumed;
//!     }
//! }
//! assert!(got.starts_with(b"HTTP/1.1 200 OK"));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
pub mod config;
pub mod conn;
pub mod crypto;
pub mod error;
pub mod handshake;
pub mod keylog;
pub mod metrics;
pub mod pem;
pub mod record;
pub mod resolve;
pub mod rng;
pub mod session;
pub mod stream;

use std::sync::Arc;

pub use config::{CertifiedKey, ClientConfig, ConfigError, ServerConfig, ServerVerification};
pub use conn::{Buffers, Connection, Receipt};
pub use crypto::kx::NamedGroup;
pub use crypto::suites::CipherSuite;
pub use crypto::verify::RootStore;
pub use error::{Error, Event, ResumptionFailure, ResumptionKind};
pub use handshake::{HostName, Negotiated};
pub use resolve::{CertificateSet, CertificatesByName, ResolvesServerCert};
pub use stream::Stream;

use conn::Core;
use handshake::client::ClientHandshake;
use handshake::flow::Sender;
use handshake::server::ServerHandshake;

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
            Sender::Server,
            config.max_handshake_message,
            config.metrics.clone(),
            buffers,
        );
        Self {
            core,
            hs: ServerHandshake::new(config),
        }
    }

    /// What the handshake negotiated so far.
    pub fn negotiated(&self) -> &Negotiated {
        &self.hs.negotiated
    }

    /// The server name (SNI) the client asked for, lower-cased.
    pub fn server_name(&self) -> Option<&str> {
        self.hs.negotiated.server_name.as_deref()
    }

    /// Answers a [`Event::NeedSession`] lookup and continues the handshake; then call
    /// [`transmit`](Connection::transmit) and feed any records held back meanwhile.
    pub fn provide_session(&mut self, answer: session::store::Lookup) -> Result<(), Error> {
        if let Some(e) = self.error() {
            return Err(e.clone());
        }
        self.hs
            .provide_session(&mut self.core, answer)
            .map_err(|f| self.core.fail_fatal(f))
    }

    /// Answers a [`Event::NeedSignature`] with the signature (`None` if signing failed, which
    /// ends the handshake with internal_error) and continues the handshake.
    pub fn provide_signature(&mut self, signature: Option<Vec<u8>>) -> Result<(), Error> {
        if let Some(e) = self.error() {
            return Err(e.clone());
        }
        self.hs
            .provide_signature(&mut self.core, signature)
            .map_err(|f| self.core.fail_fatal(f))
    }

    /// True while the handshake waits for the caller (a session lookup or a signature).
    pub fn is_suspended(&self) -> bool {
        use conn::Handshake;
        self.hs.is_suspended()
    }
}

impl Connection<ClientHandshake> {
    /// A client connection to `server_name` (a DNS name or IP address), with its ClientHello
    /// already queued for [`transmit`](Connection::transmit).
    pub fn new(config: Arc<ClientConfig>, server_name: &str) -> Result<Self, Error> {
        let mut core = Core::new(
            Sender::Client,
            config.max_handshake_message,
            config.metrics.clone(),
            Buffers::default(),
        );
        let hs = ClientHandshake::start(config, server_name, &mut core).map_err(|f| {
            Error::AlertSent {
                alert: f.alert,
                reason: f.reason,
            }
        })?;
        Ok(Self { core, hs })
    }

    /// What the handshake negotiated so far.
    pub fn negotiated(&self) -> &Negotiated {
        &self.hs.negotiated
    }

    /// Why the session this client offered was not resumed, if it offered one.
    pub fn resumption_failure(&self) -> Option<ResumptionFailure> {
        self.hs.resumption_failure
    }
}
