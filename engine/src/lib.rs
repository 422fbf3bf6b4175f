//! Reprise: a sans-IO TLS 1.2 handshake engine for servers.
//!
//! The engine does no I/O: bytes in through [`Connection::receive`], records out through
//! [`Connection::transmit`], [`Event`]s in between. Randomness comes from the config's
//! [`rng::RandomSource`] and time from the caller, so a seeded source reproduces a handshake
//! byte for byte.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
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
pub mod rng;
pub mod session;
pub mod stream;

use std::sync::Arc;

pub use config::{CertifiedKey, ClientConfig, ServerConfig, ServerVerification};
pub use conn::{Buffers, Connection, Receipt};
pub use crypto::kx::NamedGroup;
pub use crypto::suites::CipherSuite;
pub use crypto::verify::RootStore;
pub use error::{Error, Event, ResumptionFailure, ResumptionKind};
pub use handshake::{HostName, Negotiated};
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

    /// True while a session lookup is pending.
    pub fn is_suspended(&self) -> bool {
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
