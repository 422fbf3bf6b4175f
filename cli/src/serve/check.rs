//! `reprise serve --check`: everything `serve` would load, loaded and checked without
//! serving — the config file (keys, values, the lines they are on), every certificate and
//! key pair, key files, the backend address — as `nginx -t` and `haproxy -c` do. Prints a
//! summary (names and expiry of each certificate) and exits 0, or prints every problem
//! found, each naming its source, and exits 1. Nothing is bound and no store is contacted.

use reprise_serve::upstream::UpstreamAddr;

use super::args::ServeArgs;
use super::tls_config::build_config;
use crate::certs;

/// Checks `args` (already merged with their config file). `Err` says how many problems were
/// printed.
pub fn run(args: &ServeArgs) -> Result<(), String> {
    let mut problems = Vec::new();
    if args.cert.len() != args.key.len() {
        problems.push("--cert and --key must be given in pairs".to_string());
    }
    for (cert, key) in args.cert.iter().zip(&args.key) {
        if let Err(e) = certs::from_files(cert, key) {
            problems.push(e);
        }
    }
    if let Err(e) = super::tls_config::client_auth(args) {
        problems.push(e);
    }
    if let Some(backend) = &args.backend {
        if let Err(e) = backend.parse::<UpstreamAddr>() {
            problems.push(format!("--backend: {e}"));
        }
        if args.cert.is_empty() {
            problems.push("--backend needs --cert and --key".into());
        }
    }
    if let Err(e) = reprise_serve::units::parse_size(&args.handshake_memory) {
        problems.push(format!("--handshake-memory: {e}"));
    }
    for (flag, path) in [
        ("--ticket-key-file", &args.ticket_key_file),
        ("--session-store-key", &args.session_store_key),
        ("--kek", &args.kek),
    ] {
        if let Some(path) = path {
            if let Err(e) = std::fs::metadata(path) {
                problems.push(format!("{flag} {path}: {e}"));
            }
        }
    }
    if let Some(path) = args.access_log.as_deref().filter(|p| *p != "-") {
        let dir = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            problems.push(format!(
                "--access-log {path}: no directory {}",
                dir.display()
            ));
        }
    }
    for listen in &args.listen {
        if std::net::ToSocketAddrs::to_socket_addrs(listen.as_str()).is_err() {
            problems.push(format!("--listen {listen}: not an address"));
        }
    }
    if problems.is_empty() {
        // The rest as `serve` builds it (certificates again, the ticket-key file, sizes and
        // durations), without contacting a session store or a key publisher.
        let mut offline = args.clone();
        offline.session_store = None;
        offline.ticket_keys_from = None;
        if let Err(e) = build_config(&offline) {
            problems.push(e);
        }
    }
    if problems.is_empty() {
        println!(
            "check: the configuration is good (listen {}, {} driver, {})",
            if args.listen.is_empty() {
                super::event_loop::DEFAULT_LISTEN.to_string()
            } else {
                args.listen.join(" and ")
            },
            format!("{:?}", args.driver).to_lowercase(),
            args.backend
                .as_deref()
                .map_or("the built-in page".to_string(), |b| format!("backend {b}"))
        );
        return Ok(());
    }
    for problem in &problems {
        eprintln!("error: {problem}");
    }
    Err(format!(
        "check: {} problem{} found",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    ))
}
