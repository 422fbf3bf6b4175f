//! `reprise serve --driver uring`: the io_uring server of `reprise-uring`, running the tiny
//! HTTP responder. Where io_uring cannot be used it says why and serves with mio instead.

use std::io::Write;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use reprise::ServerConfig;
use reprise_uring::server::{shutdown_on_signals, Server};
use reprise_uring::{ListenerMode, ServerOptions};

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
    let addr = args
        .listen
        .to_socket_addrs()
        .map_err(|e| format!("--listen {}: {e}", args.listen))?
        .next()
        .ok_or_else(|| format!("--listen {}: no address", args.listen))?;
    let mut options = ServerOptions::default();
    if args.workers > 0 {
        options.workers = args.workers;
    }
    options.listener = args.listener.parse::<ListenerMode>()?;
    options.max_connections = args.max_connections;
    let timeout = Duration::from_secs(args.timeout.max(1));
    options.handshake_timeout = timeout;
    options.idle_timeout = timeout;
    let server = Server::start(addr, config, Arc::new(HttpFactory), options.clone())
        .map_err(|e| format!("bind {}: {e}", args.listen))?;
    shutdown_on_signals(server.shutdown_handle()).map_err(|e| format!("signals: {e}"))?;
    println!(
        "uring driver: {} workers, {} listener",
        options.workers,
        match options.listener {
            ListenerMode::ReusePort => "SO_REUSEPORT",
            ListenerMode::Shared => "shared",
        }
    );
    println!("listening on {}", server.local_addr());
    std::io::stdout().flush().ok();
    server.join().map_err(|e| format!("worker: {e}"))?;
    println!("shut down");
    Ok(())
}
