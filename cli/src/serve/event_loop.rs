//! `reprise serve --driver mio|uring|threads`: a server on any [`Driver`] (`reprise-tls-mio`,
//! `reprise-tls-uring`, `reprise-tls-threads`) running the built-in page responder or a backend stream. Where io_uring
//! cannot be used, serve says why and runs on mio. Every `--listen` address and every socket
//! systemd passes gets its own server of the driver (its own workers); one signal drains them
//! all.

use std::io::Write;
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use reprise_serve::units;
use reprise_serve::workers::on_shutdown_signals;
use reprise_serve::{Driver, ListenerMode, Running, ServerOptions};

use super::args::ServeArgs;
use super::Shared;
use reprise_serve::app::HandlerFactory;

/// Where a server listens: an address it binds, or a socket made for it (systemd socket
/// activation).
pub enum Listen {
    /// `--listen ADDR`.
    Address(std::net::SocketAddr),
    /// A listening socket passed in `LISTEN_FDS`.
    Passed(Arc<std::net::TcpListener>),
}

/// Every place `serve` listens: the sockets systemd passed (`LISTEN_FDS`), then each
/// `--listen` address; with neither, 127.0.0.1:8443.
pub fn listens(args: &ServeArgs) -> Result<Vec<Listen>, String> {
    let mut all = Vec::new();
    let mut passed = listenfd::ListenFd::from_env();
    for index in 0..passed.len() {
        match passed.take_tcp_listener(index) {
            Ok(Some(socket)) => all.push(Listen::Passed(Arc::new(socket))),
            Ok(None) => {}
            Err(e) => {
                return Err(format!(
                    "socket activation: passed descriptor {} is not a listening TCP socket: {e}",
                    index + 3
                ))
            }
        }
    }
    let defaults = [DEFAULT_LISTEN.to_string()];
    let addresses = match (&args.listen[..], all.is_empty()) {
        ([], true) => &defaults[..],
        (given, _) => given,
    };
    for listen in addresses {
        let addr = listen
            .to_socket_addrs()
            .map_err(|e| format!("--listen {listen}: {e}"))?
            .next()
            .ok_or_else(|| format!("--listen {listen}: no address"))?;
        all.push(Listen::Address(addr));
    }
    Ok(all)
}

/// Where `serve` listens when neither `--listen` nor socket activation says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// The event-loop options every driver takes from the command line.
pub fn server_options(args: &ServeArgs) -> Result<ServerOptions, String> {
    let mut options = ServerOptions::default();
    if args.workers > 0 {
        options.workers = args.workers;
    }
    options.listener = args.listener.into();
    options.join_other_listeners = args.reuse_port;
    options.max_connections = args.max_connections;
    options.handshake_memory = units::parse_size(&args.handshake_memory)
        .map_err(|e| format!("--handshake-memory: {e}"))?;
    let timeout = args.timeout.max(Duration::from_secs(1));
    options.handshake_timeout = timeout;
    options.idle_timeout = timeout;
    options.sign_workers = args.sign_workers;
    options.failure_log = args.failure_log();
    options.shutdown_grace =
        units::micros(&args.drain_timeout).map_err(|e| format!("--drain-timeout: {e}"))?;
    options.batch_wait = args
        .batch_wait
        .as_deref()
        .map(units::micros)
        .transpose()
        .map_err(|e| format!("--batch-wait: {e}"))?;
    Ok(options)
}

/// Prints the driver banner once.
pub fn announce(driver: &str, options: &ServerOptions) {
    let listener = match options.listener {
        ListenerMode::ReusePort => "SO_REUSEPORT",
        ListenerMode::Shared => "shared",
    };
    println!(
        "{driver} driver: {} workers, {listener} listener",
        options.workers
    );
    std::io::stdout().flush().ok();
}

/// Runs driver `D` (named `name` in the banner) on every listening address or socket, each
/// with its own workers, all with handlers from `factory`, until SIGINT or SIGTERM; then
/// drains: one line when it starts (the connections open), one when it ends (how many
/// finished, how many the drain timeout cut off).
pub fn run<D: Driver, F: HandlerFactory>(
    name: &str,
    args: &ServeArgs,
    shared: &Shared,
    factory: Arc<F>,
) -> Result<(), String> {
    let mut options = server_options(args)?;
    options.live_config = Some(shared.live.clone());
    options.counters = shared.counters.clone();
    options.access_log = shared.status.access_log().cloned();
    let mut servers = Vec::new();
    for listen in listens(args)? {
        let mut options = options.clone();
        let (addr, what) = match listen {
            Listen::Address(addr) => (addr, format!("bind {addr}")),
            Listen::Passed(socket) => {
                let addr = socket
                    .local_addr()
                    .map_err(|e| format!("socket activation: {e}"))?;
                options.listening_socket = Some(socket);
                options.listener = ListenerMode::Shared;
                (addr, format!("passed socket {addr}"))
            }
        };
        let server = D::start(addr, shared.live.current(), factory.clone(), options)
            .map_err(|e| format!("{what}: {e}"))?;
        servers.push(server);
    }
    let handles: Vec<_> = servers.iter().map(|s| s.shutdown_handle()).collect();
    let draining = Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX));
    let (grace, seen, status) = (
        options.shutdown_grace,
        draining.clone(),
        shared.status.clone(),
    );
    on_shutdown_signals(move || {
        status.start_draining();
        let open: usize = handles.iter().map(|h| h.open_connections()).sum();
        seen.store(open, std::sync::atomic::Ordering::SeqCst);
        eprintln!(
            "draining: {open} connections open; stopped accepting, waiting up to {grace:?} for work in flight"
        );
        for handle in &handles {
            handle.shutdown();
        }
    })
    .map_err(|e| format!("signals: {e}"))?;
    announce(name, &options);
    for server in &servers {
        println!("listening on {}", server.local_addr());
    }
    std::io::stdout().flush().ok();
    let cut_before = shared.counters.drain_cut_off();
    let mut failed = None;
    for server in servers {
        if let Err(e) = server.join() {
            failed.get_or_insert(format!("worker: {e}"));
        }
    }
    if let Some(log) = &options.access_log {
        // The last lines, written before the process exits.
        let _ = log.flush();
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let open = draining.load(std::sync::atomic::Ordering::SeqCst);
    if open != usize::MAX {
        let cut =
            usize::try_from(shared.counters.drain_cut_off() - cut_before).unwrap_or(usize::MAX);
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
