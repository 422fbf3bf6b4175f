//! `reprise serve --driver uring`: the io_uring server of `reprise-uring`, running the tiny
//! HTTP responder. Where io_uring cannot be used it says why and serves with mio instead.

use std::sync::Arc;

use reprise::ServerConfig;
use reprise_uring::server::{shutdown_on_signals, Server};

use crate::http::HttpFactory;
use crate::serve::ServeArgs;

/// True when io_uring can be used; otherwise says why (on stdout and stderr) and that the
/// mio driver is used instead.
pub fn usable() -> bool {
    match reprise_uring::probe() {
        Ok(()) => true,
        Err(cause) => {
            let note = format!("io_uring unavailable: {cause}; falling back to the mio driver");
            eprintln!("{note}");
            println!("{note}");
            false
        }
    }
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully.
pub fn run(args: &ServeArgs, config: Arc<ServerConfig>) -> Result<(), String> {
    if !usable() {
        return crate::serve_mio::run(args, config);
    }
    let (addr, options) = crate::serve_mio::address_and_options(args)?;
    let server = Server::start(addr, config, Arc::new(HttpFactory), options.clone())
        .map_err(|e| format!("bind {}: {e}", args.listen))?;
    shutdown_on_signals(server.shutdown_handle()).map_err(|e| format!("signals: {e}"))?;
    crate::serve_mio::announce("uring", &options, server.local_addr());
    server.join().map_err(|e| format!("worker: {e}"))?;
    println!("shut down");
    Ok(())
}
