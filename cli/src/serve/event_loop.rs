//! `reprise serve --driver mio|uring|threads`: a server on any [`Driver`] (`reprise-tls-mio`,
//! `reprise-tls-uring`, `reprise-tls-threads`) running the built-in page responder or a backend stream. Where io_uring
//! cannot be used, serve says why and runs on mio.

use std::io::Write;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use reprise_serve::counters::ServingCounters;
use reprise_serve::live::LiveConfig;
use reprise_serve::units;
use reprise_serve::workers::on_shutdown_signals;
use reprise_serve::{Driver, ListenerMode, Running, ServerOptions};

use super::args::ServeArgs;
use reprise_serve::app::HandlerFactory;

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
    options.listener = args.listener.into();
    options.join_other_listeners = args.reuse_port;
    options.max_connections = args.max_connections;
    let timeout = args.timeout.max(Duration::from_secs(1));
    options.handshake_timeout = timeout;
    options.idle_timeout = timeout;
    options.sign_workers = args.sign_workers;
    options.failure_log = args.failure_log();
    options.shutdown_grace =
        units::micros(&args.drain_timeout).map_err(|e| format!("--drain-timeout: {e}"))?;
    options.batch_wait =
        units::micros(&args.batch_wait).map_err(|e| format!("--batch-wait: {e}"))?;
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

/// Runs driver `D` (named `name` in the banner) with handlers from `factory` until SIGINT or
/// SIGTERM, then drains: one line when it starts (the connections open), one when it ends
/// (how many finished, how many the drain timeout cut off).
pub fn run<D: Driver, F: HandlerFactory>(
    name: &str,
    args: &ServeArgs,
    live: Arc<LiveConfig>,
    factory: Arc<F>,
    counters: Arc<ServingCounters>,
) -> Result<(), String> {
    let (addr, mut options) = address_and_options(args)?;
    options.live_config = Some(live.clone());
    options.counters = counters.clone();
    let server = D::start(addr, live.current(), factory, options.clone())
        .map_err(|e| format!("bind {}: {e}", args.listen))?;
    let handle = server.shutdown_handle();
    let draining = Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
    let (grace, seen) = (options.shutdown_grace, draining.clone());
    on_shutdown_signals(move || {
        let open = handle.open_connections();
        seen.store(open, std::sync::atomic::Ordering::SeqCst);
        eprintln!(
            "draining: {open} connections open; stopped accepting, waiting up to {grace:?} for work in flight"
        );
        handle.shutdown();
    })
    .map_err(|e| format!("signals: {e}"))?;
    announce(name, &options, server.local_addr());
    let cut_before = counters.drain_cut_off();
    server.join().map_err(|e| format!("worker: {e}"))?;
    let open = draining.load(std::sync::atomic::Ordering::SeqCst);
    if open != usize::MAX {
        let cut = usize::try_from(counters.drain_cut_off() - cut_before).unwrap_or(usize::MAX);
        eprintln!(
            "drained: {} finished, {cut} cut off at the drain timeout",
            open.saturating_sub(cut)
        );
    }
    println!("shut down");
    Ok(())
}

/// True when io_uring can be used; otherwise says why (on stdout and stderr) and that the
/// mio driver is used instead.
pub fn io_uring_usable() -> bool {
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
