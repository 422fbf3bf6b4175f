//! The engine configuration `serve` runs: certificates, resumption (a session cache or a
//! fleet's store, rotating or file or fleet ticket keys), the key log and metrics, built from
//! the options ([`ServeArgs`]).

use std::sync::Arc;
use std::time::Duration;

use reprise::internal::keyfile;
use reprise::rng::SystemRandom;
use reprise::session::SessionCache;
use reprise::session::{RotationPolicy, TicketKeyRing, TicketKeys};
use reprise::ServerConfig;
use reprise_serve::units::{parse_size, seconds};

use super::args::{DriverChoice, OnOff, ServeArgs};
use crate::certs;

/// Reads a ticket key file into a ring (first key encrypts).
pub(super) fn ring_from_file(path: &str, policy: RotationPolicy) -> Result<TicketKeyRing, String> {
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
pub(super) fn load_certificates(args: &ServeArgs, config: &mut ServerConfig) -> Result<(), String> {
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
    config.offload_signing = args.sign_workers > 0 && args.driver != DriverChoice::Threads;
    config.session_timeout = u32::try_from(seconds(&args.session_timeout)?.as_secs())
        .map_err(|_| "--session-timeout too large")?;
    config.ticket_lifetime = u32::try_from(seconds(&args.ticket_lifetime)?.as_secs())
        .map_err(|_| "--ticket-lifetime too large")?;
    if let Some(url) = &args.session_store {
        let (store, id_key) = super::fleet::redis_store(args, url, config.session_timeout)?;
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
    if args.tickets == OnOff::On {
        let policy = RotationPolicy {
            rotate_every: seconds(&args.ticket_rotate)?.as_secs().max(1),
            decrypt_window: 2 * u64::from(config.ticket_lifetime),
        };
        if let Some(url) = &args.ticket_keys_from {
            config.tickets = Some(super::fleet::follow_ticket_keys(args, url, policy)?);
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
