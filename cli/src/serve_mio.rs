//! `reprise serve --driver mio`: the multi-core event-loop server of `reprise-mio`, running
//! the tiny HTTP responder.

use std::io::Write;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use reprise::ServerConfig;
use reprise_mio::server::{shutdown_on_signals, ListenerMode, Server, ServerOptions};

use crate::http::HttpFactory;
use crate::serve::ServeArgs;

/// The listen address and the event-loop options both event-loop drivers take from the
/// command line.
pub fn address_and_options(
    args: &ServeArgs,
) -> Result<(std::net::SocketAddr, ServerOptions), String> {
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
    options.sign_workers = args.sign_workers;
    options.failure_log = args.failure_log();
    options.batch_wait = Duration::from_micros(
        crate::units::parse_duration_us(&args.batch_wait)
            .map_err(|e| format!("--batch-wait: {e}"))?,
    );
    Ok((addr, options))
}

/// Prints the driver banner and `listening on ADDR`.
pub fn announce(driver: &str, options: &ServerOptions, addr: std::net::SocketAddr) {
    let listener = match options.listener {
        ListenerMode::ReusePort => "SO_REUSEPORT",
        ListenerMode::Shared => "shared",
    };
    println!(
        "{driver} driver: {} workers, {listener} listener",
        options.workers
    );
    println!("listening on {addr}");
    std::io::stdout().flush().ok();
}

/// Runs until SIGINT or SIGTERM, then shuts down gracefully.
pub fn run(args: &ServeArgs, config: Arc<ServerConfig>) -> Result<(), String> {
    let (addr, options) = address_and_options(args)?;
    let server = Server::start(addr, config, Arc::new(HttpFactory), options.clone())
        .map_err(|e| format!("bind {}: {e}", args.listen))?;
    shutdown_on_signals(server.shutdown_handle()).map_err(|e| format!("signals: {e}"))?;
    announce("mio", &options, server.local_addr());
    server.join().map_err(|e| format!("worker: {e}"))?;
    println!("shut down");
    Ok(())
}
