//! What every driver's server offers, so that code can be written once for all of them: the
//! CLI picking a driver by flag, and the shared driver test suite (`suite`, feature `driver-suite`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use reprise::ServerConfig;

use crate::app::HandlerFactory;
use crate::{ServerOptions, ShutdownHandle};

/// A driver: starts servers whose workers run its event loop.
pub trait Driver {
    /// Its running server.
    type Server: Running;

    /// Binds `addr` and starts the workers; each accepted connection runs a
    /// `ServerConnection` on `config` and a handler from `factory`. A config that could
    /// serve no handshake ([`ServerConfig::validate`]) is refused with
    /// [`io::ErrorKind::InvalidInput`].
    fn start<F: HandlerFactory>(
        addr: SocketAddr,
        config: Arc<ServerConfig>,
        factory: Arc<F>,
        options: ServerOptions,
    ) -> io::Result<Self::Server>;

    /// The options the shared suite starts every server from (a driver variant, such as
    /// io_uring without direct descriptors, changes them).
    fn base_options() -> ServerOptions {
        ServerOptions::default()
    }
}

/// A running server of any driver.
pub trait Running: Send + 'static {
    /// The address the workers listen on (with the real port when 0 was asked for).
    fn local_addr(&self) -> SocketAddr;
    /// A handle that shuts the server down.
    fn shutdown_handle(&self) -> ShutdownHandle;
    /// Waits for every worker to return (after a shutdown); the first worker error, if any.
    fn join(self) -> io::Result<()>;
}
