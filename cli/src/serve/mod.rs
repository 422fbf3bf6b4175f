//! `reprise serve`: a TLS 1.2 server answering HTTP/1.x with a small page, or a terminator
//! in front of a backend. A layer of modules, each using only those above it in this list:
//!
//! * [`args`]: the options (clap); [`config_file`]: the same from a TOML file;
//! * [`fleet`]: the Redis session store and the followed ticket-key ring;
//! * [`tls_config`]: the engine configuration built from the options;
//! * [`status`]: reloads, draining and certificate expiry, as metrics and `ctl status` show
//!   them;
//! * [`reload`]: reloading it while the server runs; [`control`]: the control socket;
//! * [`event_loop`]: running a driver, draining on SIGTERM;
//! * this module: [`run`], which puts them together.

pub mod args;
pub mod check;
pub mod config_file;
pub mod control;
pub mod event_loop;
pub mod fleet;
pub mod reload;
pub mod status;
pub mod tls_config;

use std::sync::Arc;

use reprise_apps::backend::{BackendFactory, BackendOptions};
use reprise_apps::page::PageFactory;
use reprise_serve::app::HandlerFactory;
use reprise_serve::counters::ServingCounters;
use reprise_serve::live::LiveConfig;
use reprise_serve::upstream::UpstreamAddr;

use args::DriverChoice;
pub use args::ServeArgs;
use reload::Reloader;
use status::ServeStatus;
use tls_config::build_config;

/// Reloads on every SIGHUP (from a small thread of its own); the reload logs its outcome.
fn reload_on_sighup(reloader: Arc<Reloader>) -> Result<(), String> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
        .map_err(|e| format!("SIGHUP: {e}"))?;
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            for _ in signals.forever() {
                let _ = reloader.reload("SIGHUP");
            }
        })
        .map_err(|e| format!("reload thread: {e}"))?;
    Ok(())
}

/// Runs the server until SIGINT or SIGTERM (then drains for `--drain-timeout`).
pub fn run(args: ServeArgs) -> Result<(), String> {
    let args = match &args.config {
        Some(path) => config_file::serve_args(path, &config_file::command_line_after_serve())?,
        None => args,
    };
    if args.check {
        return check::run(&args);
    }
    let config = build_config(&args)?;
    let counters = Arc::new(ServingCounters::new());
    let status = Arc::new(ServeStatus::new(args.access_log()?));
    if config.client_auth.is_some() {
        status.client_auth_loaded(reprise::unix_time());
    }
    let live = Arc::new(LiveConfig::new(config.clone()));
    if let Some(metrics_addr) = &args.metrics {
        let bound = crate::metrics_http::spawn(
            metrics_addr,
            live.clone(),
            counters.clone(),
            status.clone(),
        )?;
        println!("metrics on http://{bound}/metrics");
        println!("health on http://{bound}/healthz");
    }
    let reloader = Arc::new(Reloader::new(args.clone(), live.clone(), status.clone()));
    reload_on_sighup(reloader.clone())?;
    // Removed again when `run` returns (a clean exit, or a refused start).
    let _control_socket = match &args.control {
        Some(path) => {
            let socket = control::serve(path, reloader.clone())?;
            println!("control socket {path}");
            Some(socket)
        }
        None => None,
    };
    let shared = Shared {
        live,
        counters: counters.clone(),
        status,
    };
    match &args.backend {
        Some(backend) => {
            let addr: UpstreamAddr = backend.parse().map_err(|e| format!("--backend: {e}"))?;
            let mut options = BackendOptions::new(addr);
            options.upstream.counters = counters;
            options.upstream.connect_timeout = reprise_serve::units::micros(&args.backend_timeout)
                .map_err(|e| format!("--backend-timeout: {e}"))?;
            if let Some(version) = &args.proxy_protocol {
                options.proxy_protocol = Some(
                    version
                        .parse()
                        .map_err(|e| format!("--proxy-protocol: {e}"))?,
                );
            }
            serve_with(&args, &shared, Arc::new(BackendFactory::new(options)))
        }
        None if args.proxy_protocol.is_some() => Err("--proxy-protocol needs --backend".into()),
        None => serve_with(&args, &shared, Arc::new(PageFactory)),
    }
}

/// What the serving threads share with the reload, control and metrics threads.
pub struct Shared {
    /// The configuration new connections get (a reload replaces it).
    pub live: Arc<LiveConfig>,
    /// The serving core's counters.
    pub counters: Arc<ServingCounters>,
    /// Reloads and draining.
    pub status: Arc<ServeStatus>,
}

/// Runs the driver `--driver` names with handlers from `factory`.
fn serve_with<F: HandlerFactory>(
    args: &ServeArgs,
    shared: &Shared,
    factory: Arc<F>,
) -> Result<(), String> {
    match args.driver {
        DriverChoice::Mio => event_loop::run::<reprise_mio::Mio, F>("mio", args, shared, factory),
        DriverChoice::Uring if event_loop::io_uring_usable() => {
            event_loop::run::<reprise_uring::Uring, F>("uring", args, shared, factory)
        }
        DriverChoice::Uring => event_loop::run::<reprise_mio::Mio, F>("mio", args, shared, factory),
        DriverChoice::Threads => {
            event_loop::run::<reprise_threads::Threads, F>("threads", args, shared, factory)
        }
    }
}
