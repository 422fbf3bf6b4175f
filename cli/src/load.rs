//! `reprise load`: a TLS 1.2 load generator for any server (see `reprise_load`).

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use reprise::session::ClientSessionStore;
use reprise_load::{LoadOptions, Stop};

use crate::connect::{build_config, ConnectArgs};

/// Options of `reprise load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Server address, HOST:PORT (or give --targets).
    #[arg(required_unless_present = "targets")]
    pub target: Option<String>,
    /// Several servers, comma-separated HOST:PORT; connections go round-robin.
    #[arg(long, value_delimiter = ',')]
    pub targets: Vec<String>,
    /// Connections kept busy at once.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// How long to run (e.g. `10s`, `500ms`, `1m`); the default is 10s.
    #[arg(long, conflicts_with = "handshakes")]
    pub duration: Option<String>,
    /// Stop after this many connection attempts instead.
    #[arg(long)]
    pub handshakes: Option<u64>,
    /// Resume on reconnection by `id` (session ID), `ticket` (RFC 5077) or `none`.
    #[arg(long, default_value = "none")]
    pub resume: String,
    /// Accept any certificate (load testing only).
    #[arg(long)]
    pub insecure: bool,
    /// PEM file of trusted CA certificates.
    #[arg(long, conflicts_with = "insecure")]
    pub ca: Option<String>,
    /// Server name to send and verify (defaults to the first target's host).
    #[arg(long)]
    pub sni: Option<String>,
    /// After each handshake send `GET PATH` and read the whole response.
    #[arg(long)]
    pub http_get: Option<String>,
    /// Event loop: `mio` or `uring` (falls back to mio where io_uring is unavailable).
    #[arg(long, default_value = "mio")]
    pub driver: String,
    /// Event-loop threads.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Keep every connection open after its handshake until the run ends (no reconnecting);
    /// prints `holding N connections` once all are up.
    #[arg(long)]
    pub hold: bool,
    /// Seconds one connection may take before it counts as an error.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Every client presents this certificate chain (PEM) when the server asks: mutual
    /// handshakes.
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<String>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<String>,
    /// Offer only these suites (comma-separated IANA or OpenSSL names).
    #[arg(long)]
    pub suites: Option<String>,
    /// Offer only these groups (comma-separated: X25519, P-256, P-384).
    #[arg(long)]
    pub groups: Option<String>,
}

/// `10s`, `2m`, `1h`, or `250ms` (a bare number is seconds).
fn parse_run_time(text: &str) -> Result<Duration, String> {
    reprise_serve::units::seconds(text)
}

fn resolve(target: &str) -> Result<SocketAddr, String> {
    target
        .to_socket_addrs()
        .map_err(|e| format!("{target}: {e}"))?
        .next()
        .ok_or_else(|| format!("{target}: no address"))
}

fn host_of(target: &str) -> &str {
    let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Runs the load and prints the summary.
pub fn run(args: LoadArgs) -> Result<(), String> {
    let uring = match args.driver.as_str() {
        "mio" => false,
        "uring" => crate::serve::event_loop::io_uring_usable(),
        other => {
            return Err(format!(
                "unknown load driver {other:?} (available: mio, uring)"
            ))
        }
    };
    let mut names: Vec<String> = args.target.iter().cloned().collect();
    names.extend(args.targets.iter().filter(|t| !t.is_empty()).cloned());
    let targets = names
        .iter()
        .map(|t| resolve(t))
        .collect::<Result<Vec<_>, _>>()?;
    if args.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    let server_name = args
        .sni
        .clone()
        .unwrap_or_else(|| host_of(&names[0]).to_string());
    let base = build_config(&ConnectArgs {
        target: names[0].clone(),
        sni: args.sni.clone(),
        ca: args.ca.clone(),
        insecure: args.insecure,
        http_get: args.http_get.clone(),
        alpn: None,
        suites: args.suites.clone(),
        groups: args.groups.clone(),
        timeout: args.timeout,
        resume: args.resume.clone(),
        reconnect: 0,
        keylog: None,
        client_cert: args.client_cert.clone(),
        client_key: args.client_key.clone(),
    })?;
    let resume = base.session_store.is_some();
    // Each virtual client remembers its own session, as a real client would.
    let configs = (0..args.connections)
        .map(|_| {
            let mut c = base.clone();
            if resume {
                c.session_store = Some(Arc::new(ClientSessionStore::new(1)));
            }
            Arc::new(c)
        })
        .collect();
    let stop = match (args.handshakes, &args.duration) {
        (Some(n), _) => Stop::Handshakes(n),
        (None, Some(d)) => Stop::Duration(parse_run_time(d)?),
        (None, None) => Stop::Duration(Duration::from_secs(10)),
    };
    let options = LoadOptions {
        targets,
        server_name,
        connections: args.connections,
        stop,
        http_get: args.http_get.clone(),
        workers: args.workers.max(1),
        hold: args.hold,
        timeout: Duration::from_secs(args.timeout.max(1)),
        warm_up: resume,
        progress: std::io::stderr().is_terminal(),
    };
    let report = if uring {
        reprise_uring::load::run(configs, &options)
    } else {
        reprise_mio::load::run(configs, &options)
    }
    .map_err(|e| format!("load: {e}"))?;
    if report.warm_up > 0 {
        println!(
            "warm-up: {} full handshakes (one per connection, not counted)",
            report.warm_up
        );
    }
    if args.hold {
        println!("held: {} connections at the end", report.held);
    }
    println!(
        "handshakes: {} in {:.2} s",
        report.handshakes,
        report.elapsed.as_secs_f64()
    );
    println!("{}", report.summary_line());
    for (kind, n) in &report.errors {
        println!("  {kind}: {n}");
    }
    if report.handshakes == 0 {
        return Err("no handshake completed".into());
    }
    Ok(())
}
