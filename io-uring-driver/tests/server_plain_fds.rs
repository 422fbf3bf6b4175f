//! The io_uring server in-process with plain descriptors (no registered file table, as when
//! the table cannot be registered): the shared driver suite (`reprise_driver_suite`).

use std::net::SocketAddr;
use std::sync::Arc;

use reprise::ServerConfig;
use reprise_serve::app::HandlerFactory;
use reprise_serve::{Driver, ServerOptions};

/// io_uring without direct descriptors.
struct PlainFds;

impl Driver for PlainFds {
    type Server = reprise_uring::Server;

    fn start<F: HandlerFactory>(
        addr: SocketAddr,
        config: Arc<ServerConfig>,
        factory: Arc<F>,
        options: ServerOptions,
    ) -> std::io::Result<Self::Server> {
        reprise_uring::Uring::start(addr, config, factory, options)
    }

    fn base_options() -> ServerOptions {
        ServerOptions {
            direct_descriptors: false,
            ..ServerOptions::default()
        }
    }
}

reprise_driver_suite::driver_suite!(PlainFds);
reprise_driver_suite::event_loop_suite!(PlainFds);
