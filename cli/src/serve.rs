//! `reprise serve`: a TLS 1.2 server answering HTTP/1.x with a small page.

use std::sync::Arc;
use std::time::Duration;

use reprise::ServerConfig;

use reprise::internal::keyfile;
use reprise::rng::SystemRandom;
use reprise::session::SessionCache;
use reprise::session::{RotationPolicy, TicketKeyRing, TicketKeys};

use crate::{certs, event_loop};
use reprise_serve::app::HandlerFactory;
use reprise_serve::backend::{BackendAddr, BackendFactory, BackendOptions};
use reprise_serve::counters::ServingCounters;
use reprise_serve::failure_log::FailureLog;
use reprise_serve::live::LiveConfig;
use reprise_serve::page::PageFactory;

use reprise_serve::units::{parse_size, seconds};

/// Options of `reprise serve`.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: String,
    /// Event loop: `mio` (an epoll event loop per worker), `uring` (an io_uring per worker;
    /// falls back to mio where io_uring is unavailable) or `threads` (a thread per
    /// connection).
    #[arg(long, default_value = "mio")]
    pub driver: String,
    /// Worker threads of the mio driver (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// How mio workers share the port: `reuseport` (a socket each) or `shared` (one socket).
    #[arg(long, default_value = "reuseport")]
    pub listener: String,
    /// PEM certificate chain (repeat with --key for an ECDSA and an RSA pair).
    #[arg(long)]
    pub cert: Vec<String>,
    /// PEM private key matching the --cert at the same position.
    #[arg(long)]
    pub key: Vec<String>,
    /// Maximum simultaneous connections.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Time a client may take to complete its handshake, and to stay idle after (`30s`, `2m`;
    /// a bare number is seconds).
    #[arg(long, default_value = "30s", value_parser = reprise_serve::units::seconds)]
    pub timeout: Duration,
    /// Issue and accept RFC 5077 session tickets: `on` or `off`.
    #[arg(long, default_value = "on")]
    pub tickets: String,
    /// Session-ID cache size (e.g. `64MiB`), or `off`.
    #[arg(long, default_value = "64MiB")]
    pub session_cache: String,
    /// How long a session may be resumed by ID (e.g. `5m`).
    #[arg(long, default_value = "5m")]
    pub session_timeout: String,
    /// Ticket lifetime (the lifetime hint; e.g. `1h`).
    #[arg(long, default_value = "1h")]
    pub ticket_lifetime: String,
    /// How often a new ticket key starts encrypting (e.g. `1h`); old keys decrypt for twice
    /// the ticket lifetime more.
    #[arg(long, default_value = "1h")]
    pub ticket_rotate: String,
    /// Ticket keys from an nginx (48/80-byte), HAProxy or reprise key file, reloaded when the
    /// file changes; replaces automatic rotation.
    #[arg(long)]
    pub ticket_key_file: Option<String>,
    /// Append master secrets to this file in SSLKEYLOGFILE format (also read from the
    /// SSLKEYLOGFILE environment variable).
    #[arg(long)]
    pub keylog: Option<String>,
    /// Keep sessions in Redis, shared by a fleet (needs --session-store-key):
    /// `redis://[USER:PASS@]H:P/`, `redis+cluster://H1:P1,H2:P2,…/` (Redis Cluster) or
    /// `redis+sentinel://S1:P1,S2:P2,…/MASTER` (Sentinel); `rediss…` speaks TLS (trusting the
    /// system's roots, or SSL_CERT_FILE).
    #[arg(long)]
    pub session_store: Option<String>,
    /// Secret file sealing sessions at rest in Redis (≥ 32 bytes; `reprise keys secret`).
    #[arg(long)]
    pub session_store_key: Option<String>,
    /// Sign ServerKeyExchange parameters on N worker threads instead of the event loops (mio
    /// and uring drivers; the engine suspends each handshake until its signature is ready).
    #[arg(long, default_value_t = 0)]
    pub sign_workers: usize,
    /// mio and uring drivers: while busy, let a batch of events gather for up to this long
    /// (`50us`, `0` for never) before serving it (fewer wake-ups under load; an idle worker
    /// never waits).
    #[arg(long, default_value = "50us")]
    pub batch_wait: String,
    /// In-process L1 cache in front of the Redis session store (`0` for none).
    #[arg(long, default_value = "1MiB")]
    pub redis_l1: String,
    /// Bound on one Redis lookup (beyond it the handshake goes on as a full one).
    #[arg(long, default_value = "50ms")]
    pub redis_timeout: String,
    /// Follow the fleet's ticket-key ring published in Redis by `reprise keys publish` (needs
    /// --kek); the same URL forms as --session-store.
    #[arg(long)]
    pub ticket_keys_from: Option<String>,
    /// Key-encryption key file for --ticket-keys-from.
    #[arg(long)]
    pub kek: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. `127.0.0.1:9100`).
    #[arg(long)]
    pub metrics: Option<String>,
    /// Forward each connection's decrypted bytes to this backend (`HOST:PORT` or
    /// `unix:/PATH`), one backend connection per client connection; without it, serve
    /// answers HTTP/1.x requests with its own small page.
    #[arg(long)]
    pub backend: Option<String>,
    /// Time the backend has to accept a connection; a backend that refuses or does not
    /// accept in time ends the client's connection without close_notify (logged, counted).
    #[arg(long, default_value = "5s")]
    pub backend_timeout: String,
    /// With --backend: the application protocols (ALPN, RFC 7301) to agree with clients, in
    /// this server's order of preference, e.g. `h2,http/1.1` in front of an HTTP/2 or gRPC
    /// backend (which must then speak h2 in the clear, "h2c"); the one chosen reaches the
    /// backend in the PROXY v2 header. Without it, `http/1.1` only: a client offering only
    /// other protocols gets a fatal no_application_protocol alert, one offering none is
    /// served.
    #[arg(long, value_delimiter = ',')]
    pub alpn: Vec<String>,
    /// With --backend: send the backend a PROXY protocol header first (`v1`, or `v2` with
    /// the TLS facts: version, cipher, SNI, ALPN, and how the handshake resumed).
    #[arg(long)]
    pub proxy_protocol: Option<String>,
    /// Log nothing about failed handshakes (by default each is one line on stderr: peer,
    /// alert, reason).
    #[arg(long)]
    pub quiet: bool,
    /// At most this many failed-handshake lines a second; beyond it one line says how many
    /// were left out.
    #[arg(long, default_value_t = reprise_serve::failure_log::DEFAULT_LINES_PER_SECOND)]
    pub log_rate: u32,
    /// Refuse a server name no certificate is for with a fatal unrecognized_name alert
    /// (by default such a client gets the default certificate).
    #[arg(long)]
    pub strict_sni: bool,
    /// The most a ClientHello may be, in bytes (every legal one by default).
    #[arg(long, default_value_t = reprise::MAX_CLIENT_HELLO_LEN)]
    pub max_client_hello: usize,
    /// Read the options from this TOML file (keys are the flags' names; flags given here
    /// win). SIGHUP and `reprise ctl reload` read it again.
    #[arg(long)]
    pub config: Option<String>,
    /// Answer `reprise ctl` on this UNIX socket (created owner-only; other users refused).
    #[arg(long)]
    pub control: Option<String>,
    /// On SIGTERM/SIGINT: stop accepting, let open connections finish for up to this long,
    /// then close what is left.
    #[arg(long, default_value = "5s")]
    pub drain_timeout: String,
}

impl ServeArgs {
    /// The failed-handshake log the options ask for (none with `--quiet`).
    pub fn failure_log(&self) -> Option<Arc<FailureLog>> {
        (!self.quiet).then(|| Arc::new(FailureLog::to_stderr(self.log_rate)))
    }
}

fn on_off(value: &str, flag: &str) -> Result<bool, String> {
    match value {
        "on" | "yes" | "true" => Ok(true),
        "off" | "no" | "false" => Ok(false),
        other => Err(format!("{flag} takes on or off, not {other:?}")),
    }
}

/// Reads a ticket key file into a ring (first key encrypts).
fn ring_from_file(path: &str, policy: RotationPolicy) -> Result<TicketKeyRing, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let material = keyfile::parse_key_file(&bytes).map_err(|e| format!("{path}: {e}"))?;
    Ok(TicketKeyRing::from_material(
        material,
        policy,
        reprise::unix_time(),
    ))
}

/// Keeps the ticket keys fresh: reloads the key file when it changes, or rotates on schedule
/// (so keys retire even when no handshake happens to trigger the rotation).
fn spawn_ticket_maintenance(keys: Arc<TicketKeys>, file: Option<String>, policy: RotationPolicy) {
    let _ = std::thread::Builder::new()
        .name("ticket-keys".into())
        .spawn(move || {
            let modified = |p: &str| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            let mut last = file.as_deref().and_then(modified);
            loop {
                std::thread::sleep(Duration::from_secs(2));
                match &file {
                    Some(path) => {
                        let now_modified = modified(path);
                        if now_modified.is_some() && now_modified != last {
                            match ring_from_file(path, policy) {
                                Ok(ring) => {
                                    keys.replace(ring);
                                    last = now_modified;
                                    eprintln!("ticket keys reloaded from {path}");
                                }
                                Err(e) => eprintln!("ticket key file not reloaded: {e}"),
                            }
                        }
                    }
                    None => {
                        let _ = keys.rotate_if_due(reprise::unix_time(), &SystemRandom);
                    }
                }
            }
        });
}

/// Adds the certificates the options name (or fresh self-signed ones without `--cert`).
fn load_certificates(args: &ServeArgs, config: &mut ServerConfig) -> Result<(), String> {
    if args.cert.len() != args.key.len() {
        return Err("--cert and --key must be given in pairs".into());
    }
    if args.cert.is_empty() {
        for p in certs::self_signed()? {
            println!(
                "self-signed {} certificate for localhost, sha256 {}",
                p.label,
                certs::fingerprint(&p.chain[0])
            );
            config
                .add_certificate(p.chain, &p.key)
                .map_err(|e| format!("{}: {e}", p.label))?;
        }
    } else {
        for (cert, key) in args.cert.iter().zip(&args.key) {
            certs::add_from_files(config, cert, key)?;
        }
    }
    Ok(())
}

/// Builds the server configuration from the options.
pub fn build_config(args: &ServeArgs) -> Result<ServerConfig, String> {
    let mut config = ServerConfig::new();
    load_certificates(args, &mut config)?;
    config.alpn_protocols = if args.alpn.is_empty() {
        vec![b"http/1.1".to_vec()]
    } else {
        if args.backend.is_none() {
            return Err("--alpn needs --backend (the built-in page speaks HTTP/1.1 only)".into());
        }
        let mut protocols = Vec::with_capacity(args.alpn.len());
        for name in &args.alpn {
            // RFC 7301 §3.1: each protocol name is 1 to 255 bytes.
            if name.is_empty() || name.len() > 255 {
                return Err(format!(
                    "--alpn {name:?}: a protocol name is 1 to 255 bytes"
                ));
            }
            protocols.push(name.as_bytes().to_vec());
        }
        protocols
    };
    config.strict_sni = args.strict_sni;
    config.max_handshake_message = args.max_client_hello;
    // The event-loop drivers answer the engine's signature requests; the thread-per-connection
    // one signs inline.
    config.offload_signing = args.sign_workers > 0 && args.driver != "threads";
    config.session_timeout = u32::try_from(seconds(&args.session_timeout)?.as_secs())
        .map_err(|_| "--session-timeout too large")?;
    config.ticket_lifetime = u32::try_from(seconds(&args.ticket_lifetime)?.as_secs())
        .map_err(|_| "--ticket-lifetime too large")?;
    if let Some(url) = &args.session_store {
        let (store, id_key) = crate::fleet::redis_store(args, url, config.session_timeout)?;
        config.session_store = Some(store);
        config.session_id_key = Some(id_key);
    } else if args.session_cache != "off" {
        let budget = parse_size(&args.session_cache)?;
        config.session_store = Some(Arc::new(SessionCache::new(budget, config.session_timeout)));
        // Session IDs this process issues carry a MAC, so foreign IDs skip the cache.
        let mut secret = [0u8; 32];
        reprise::rng::RandomSource::fill(&SystemRandom, &mut secret)
            .map_err(|_| "randomness failed")?;
        config.session_id_key = Some(reprise::session::SessionIdKey::new(&secret));
    }
    if on_off(&args.tickets, "--tickets")? {
        let policy = RotationPolicy {
            rotate_every: seconds(&args.ticket_rotate)?.as_secs().max(1),
            decrypt_window: 2 * u64::from(config.ticket_lifetime),
        };
        if let Some(url) = &args.ticket_keys_from {
            config.tickets = Some(crate::fleet::follow_ticket_keys(args, url, policy)?);
        } else {
            let ring = match &args.ticket_key_file {
                Some(path) => ring_from_file(path, policy)?,
                None => TicketKeyRing::new(policy, reprise::unix_time(), &SystemRandom)
                    .map_err(|e| format!("ticket keys: {e}"))?,
            };
            let keys = Arc::new(TicketKeys::new(ring));
            spawn_ticket_maintenance(keys.clone(), args.ticket_key_file.clone(), policy);
            config.tickets = Some(keys);
        }
    }
    if let Some(log) = crate::keylog::from_args(args.keylog.as_deref())? {
        config.key_log = Some(log);
    }
    if args.metrics.is_some() || args.control.is_some() {
        config.metrics = Some(Arc::new(reprise::metrics::Metrics::new()));
    }
    config
        .validate()
        .map_err(|e| format!("server configuration: {e}"))?;
    Ok(config)
}

/// Reloads what can change while the server runs: certificates and keys (and the `--config`
/// file naming them), and the ticket-key file. A broken file changes nothing.
pub struct Reloader {
    args: ServeArgs,
    live: Arc<LiveConfig>,
}

impl Reloader {
    /// Reloads into `live`; a summary line, or why nothing changed.
    pub fn reload(&self) -> Result<String, String> {
        let args = match &self.args.config {
            Some(path) => crate::config_file::serve_args(
                path,
                &crate::config_file::command_line_after_serve(),
            )?,
            None => self.args.clone(),
        };
        let current = self.live.current();
        let mut summary = Vec::new();
        if !args.cert.is_empty() {
            let mut fresh = ServerConfig::new();
            load_certificates(&args, &mut fresh)?;
            let next = current.with_certificates_of(&fresh);
            next.validate()
                .map_err(|e| format!("server configuration: {e}"))?;
            summary.push(format!("{} certificates", next.certificates().len()));
            self.live.replace(Arc::new(next));
        }
        if let (Some(path), Some(keys)) = (&args.ticket_key_file, &current.tickets) {
            let policy = keys.current().policy();
            keys.replace(ring_from_file(path, policy)?);
            summary.push(format!("ticket keys from {path}"));
        }
        if summary.is_empty() {
            summary.push("nothing to reload (self-signed certificates, no key file)".into());
        }
        Ok(format!("reloaded: {}", summary.join(", ")))
    }

    /// The configuration new connections get.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.live.current()
    }

    /// Whether ticket keys come from outside (a key file, a fleet publisher): those are
    /// rotated where they come from.
    pub fn external_ticket_keys(&self) -> bool {
        self.args.ticket_key_file.is_some() || self.args.ticket_keys_from.is_some()
    }
}

/// Reloads on every SIGHUP (from a small thread of its own), saying what happened on stderr.
fn reload_on_sighup(reloader: Arc<Reloader>) -> Result<(), String> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])
        .map_err(|e| format!("SIGHUP: {e}"))?;
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || {
            for _ in signals.forever() {
                match reloader.reload() {
                    Ok(done) => eprintln!("{done}"),
                    Err(e) => eprintln!("reload failed, the running configuration stays: {e}"),
                }
            }
        })
        .map_err(|e| format!("reload thread: {e}"))?;
    Ok(())
}

/// Runs the server until SIGINT or SIGTERM (then drains for `--drain-timeout`).
pub fn run(args: ServeArgs) -> Result<(), String> {
    let args = match &args.config {
        Some(path) => {
            crate::config_file::serve_args(path, &crate::config_file::command_line_after_serve())?
        }
        None => args,
    };
    if !matches!(args.driver.as_str(), "threads" | "mio" | "uring") {
        return Err(format!(
            "unknown driver {:?} (available: mio, uring, threads)",
            args.driver
        ));
    }
    let config = Arc::new(build_config(&args)?);
    let counters = Arc::new(ServingCounters::new());
    if let Some(metrics_addr) = &args.metrics {
        let bound = crate::metrics_http::spawn(metrics_addr, config.clone(), counters.clone())?;
        println!("metrics on http://{bound}/metrics");
    }
    let live = Arc::new(LiveConfig::new(config.clone()));
    let reloader = Arc::new(Reloader {
        args: args.clone(),
        live: live.clone(),
    });
    reload_on_sighup(reloader.clone())?;
    if let Some(path) = &args.control {
        crate::control::serve(path, reloader.clone())?;
        println!("control socket {path}");
    }
    match &args.backend {
        Some(backend) => {
            let addr: BackendAddr = backend.parse().map_err(|e| format!("--backend: {e}"))?;
            let mut options = BackendOptions::new(addr);
            options.counters = counters.clone();
            options.connect_timeout = reprise_serve::units::micros(&args.backend_timeout)
                .map_err(|e| format!("--backend-timeout: {e}"))?;
            if let Some(version) = &args.proxy_protocol {
                options.proxy_protocol = Some(
                    version
                        .parse()
                        .map_err(|e| format!("--proxy-protocol: {e}"))?,
                );
            }
            if args.driver == "threads" {
                return Err("--backend needs an event-loop driver (--driver mio or uring)".into());
            }
            serve_with(
                &args,
                live,
                Arc::new(BackendFactory::new(options)),
                counters,
            )
        }
        None if args.proxy_protocol.is_some() => Err("--proxy-protocol needs --backend".into()),
        None => serve_with(&args, live, Arc::new(PageFactory), counters),
    }
}

/// Runs the driver `--driver` names with handlers from `factory`.
fn serve_with<F: HandlerFactory>(
    args: &ServeArgs,
    live: Arc<LiveConfig>,
    factory: Arc<F>,
    counters: Arc<ServingCounters>,
) -> Result<(), String> {
    match args.driver.as_str() {
        "mio" => event_loop::run::<reprise_mio::Mio, F>("mio", args, live, factory, counters),
        "uring" if event_loop::io_uring_usable() => {
            event_loop::run::<reprise_uring::Uring, F>("uring", args, live, factory, counters)
        }
        "uring" => event_loop::run::<reprise_mio::Mio, F>("mio", args, live, factory, counters),
        _ => {
            event_loop::run::<reprise_threads::Threads, F>("threads", args, live, factory, counters)
        }
    }
}
