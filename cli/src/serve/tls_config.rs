//! The engine configuration `serve` runs: certificates, resumption (a session cache or a
//! fleet's store, rotating or file or fleet ticket keys), the key log and metrics, built from
//! the options ([`ServeArgs`]) with the engine's builder, so a setting the options leave out
//! takes the engine's default.

use std::sync::Arc;
use std::time::Duration;

use reprise::rng::SystemRandom;
use reprise::session::{RotationPolicy, TicketKeyRing, TicketKeys};
use reprise::ServerConfig;
use reprise_serve::units::parse_size;

use super::args::{DriverChoice, OnOff, ServeArgs};
use crate::certs::{self, CertPair};

/// The client-certificate checks `--client-ca`, `--client-auth` and `--client-crl` ask for;
/// `None` without `--client-ca`.
pub(super) fn client_auth(args: &ServeArgs) -> Result<Option<reprise::ClientAuth>, String> {
    if args.client_ca.is_empty() {
        if !args.client_crl.is_empty() {
            return Err("--client-crl needs --client-ca".into());
        }
        return Ok(None);
    }
    let mut roots = reprise::RootStore::new();
    for path in &args.client_ca {
        let pem = std::fs::read(path).map_err(|e| format!("--client-ca {path}: {e}"))?;
        for der in
            reprise::pem::certificates(&pem).map_err(|e| format!("--client-ca {path}: {e}"))?
        {
            roots
                .add_der(&der)
                .map_err(|e| format!("--client-ca {path}: not a CA certificate: {e:?}"))?;
        }
    }
    let auth = match args.client_auth.as_str() {
        "optional" => reprise::ClientAuth::optional(roots),
        _ => reprise::ClientAuth::required(roots),
    };
    let mut lists = Vec::new();
    for path in &args.client_crl {
        let bytes = std::fs::read(path).map_err(|e| format!("--client-crl {path}: {e}"))?;
        lists.extend(crl_ders(&bytes).map_err(|e| format!("--client-crl {path}: {e}"))?);
    }
    auth.with_crls(lists.iter().map(Vec::as_slice))
        .map(Some)
        .map_err(|e| format!("--client-crl: {e}"))
}

/// The revocation lists of a file: its `X509 CRL` PEM blocks, or the file as one DER list.
fn crl_ders(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use reprise::pki_types::pem::PemObject;
    use reprise::pki_types::CertificateRevocationListDer;
    if !bytes.starts_with(b"-----") && !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Ok(vec![bytes.to_vec()]);
    }
    let lists: Result<Vec<_>, _> = CertificateRevocationListDer::pem_slice_iter(bytes)
        .map(|crl| crl.map(|c| c.as_ref().to_vec()))
        .collect();
    match lists {
        Ok(lists) if !lists.is_empty() => Ok(lists),
        Ok(_) => Err("no X509 CRL block found".into()),
        Err(e) => Err(format!("not a PEM revocation list: {e}")),
    }
}

/// Reads a ticket key file into a ring (first key encrypts).
pub(super) fn ring_from_file(path: &str, policy: RotationPolicy) -> Result<TicketKeyRing, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let material = reprise::session::parse_key_file(&bytes).map_err(|e| format!("{path}: {e}"))?;
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

/// The certificates the options name, or fresh self-signed ones without `--cert`.
pub(super) fn certificates(args: &ServeArgs) -> Result<Vec<CertPair>, String> {
    if args.cert.len() != args.key.len() {
        return Err("--cert and --key must be given in pairs".into());
    }
    if !args.cert.is_empty() {
        let pairs: Vec<CertPair> = args
            .cert
            .iter()
            .zip(&args.key)
            .map(|(cert, key)| certs::from_files(cert, key))
            .collect::<Result<_, _>>()?;
        for pair in &pairs {
            println!("{}", pair.summary(reprise::unix_time()));
        }
        return Ok(pairs);
    }
    if args.backend.is_some() {
        return Err(
            "--backend needs --cert and --key: a terminator does not serve \
                    throw-away self-signed certificates"
                .into(),
        );
    }
    let pairs = certs::self_signed()?;
    eprintln!(
        "warning: no --cert given: serving throw-away self-signed certificates for localhost \
         (a demo, not for production)"
    );
    for p in &pairs {
        println!(
            "self-signed {} certificate for localhost, sha256 {}",
            p.label,
            certs::fingerprint(&p.chain[0])
        );
    }
    Ok(pairs)
}

/// The ALPN protocols to offer (RFC 7301): `--alpn`'s, else `http/1.1` (what the built-in
/// page speaks, and what a terminator without `--alpn` passes on).
fn alpn_protocols(args: &ServeArgs) -> Result<Vec<Vec<u8>>, String> {
    if args.alpn.is_empty() {
        return Ok(vec![b"http/1.1".to_vec()]);
    }
    if args.backend.is_none() {
        return Err("--alpn needs --backend (the built-in page speaks HTTP/1.1 only)".into());
    }
    args.alpn
        .iter()
        .map(|name| {
            // RFC 7301 §3.1: each protocol name is 1 to 255 bytes.
            if name.is_empty() || name.len() > 255 {
                Err(format!(
                    "--alpn {name:?}: a protocol name is 1 to 255 bytes"
                ))
            } else {
                Ok(name.as_bytes().to_vec())
            }
        })
        .collect()
}

/// Builds the server configuration from the options, with the engine's builder: what the
/// options leave out is the engine's default.
pub fn build_config(args: &ServeArgs) -> Result<Arc<ServerConfig>, String> {
    let mut builder = ServerConfig::builder().alpn(alpn_protocols(args)?);
    for pair in certificates(args)? {
        builder = builder.certificate_der(pair.chain, &pair.key);
    }
    if let Some(auth) = client_auth(args)? {
        builder = builder.client_auth(auth);
    }
    if args.strict_sni {
        builder = builder.strict_sni();
    }
    if let Some(bytes) = args.max_client_hello {
        builder = builder.max_handshake_message(bytes);
    }
    // The event-loop drivers answer the engine's signature requests; the thread-per-connection
    // one signs inline.
    if args.sign_workers > 0 && args.driver != DriverChoice::Threads {
        builder = builder.offload_signing();
    }
    if let Some(timeout) = args.session_timeout {
        builder = builder.session_timeout(timeout);
    }
    if let Some(lifetime) = args.ticket_lifetime {
        builder = builder.ticket_lifetime(lifetime);
    }
    if let Some(every) = args.ticket_rotate {
        builder = builder.ticket_rotation(every);
    }
    builder = match (&args.session_store, args.session_cache.as_deref()) {
        (Some(url), _) => {
            let (store, id_key) = super::fleet::redis_store(args, url)?;
            builder.session_store(store).session_id_key(id_key)
        }
        (None, Some("off")) => builder.without_session_ids(),
        (None, Some(size)) => builder.session_cache_bytes(parse_size(size)?),
        (None, None) => builder,
    };
    // Ticket keys from elsewhere follow the rotation the builder's own would.
    let policy = builder.rotation_policy();
    let own_ticket_keys = match (args.tickets, &args.ticket_keys_from, &args.ticket_key_file) {
        (OnOff::Off, _, _) => {
            builder = builder.without_tickets();
            false
        }
        (OnOff::On, Some(url), _) => {
            builder = builder.ticket_keys(super::fleet::follow_ticket_keys(args, url, policy)?);
            false
        }
        (OnOff::On, None, Some(path)) => {
            let keys = Arc::new(TicketKeys::new(ring_from_file(path, policy)?));
            spawn_ticket_maintenance(keys.clone(), Some(path.clone()), policy);
            builder = builder.ticket_keys(keys);
            false
        }
        (OnOff::On, None, None) => true,
    };
    if let Some(log) = crate::keylog::from_args(args.keylog.as_deref())? {
        builder = builder.key_log(log);
    }
    if args.metrics.is_some() || args.control.is_some() {
        builder = builder.metrics(Arc::new(reprise::metrics::Metrics::new()));
    }
    let config = builder
        .build()
        .map_err(|e| format!("server configuration: {e}"))?;
    if let (true, Some(keys)) = (own_ticket_keys, &config.tickets) {
        // Rotated on schedule too, not only when a handshake finds the key due.
        spawn_ticket_maintenance(keys.clone(), None, policy);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        serve: ServeArgs,
    }

    /// `serve` with no option but its certificate runs the engine builder's defaults: every
    /// setting but ALPN (`http/1.1`, the protocol `serve` speaks or passes on).
    #[test]
    fn serve_without_flags_runs_the_engine_defaults() {
        let dir = std::env::temp_dir().join(format!("reprise-defaults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let args = Command::try_parse_from([
            "serve",
            "--cert",
            cert_path.to_str().unwrap(),
            "--key",
            key_path.to_str().unwrap(),
        ])
        .unwrap()
        .serve;
        let served = build_config(&args).unwrap();
        let engine = ServerConfig::builder()
            .certificate_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
            .alpn([b"http/1.1"])
            .build()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(format!("{served:?}"), format!("{engine:?}"));
        // What the comparison covers, so it cannot pass by printing nothing.
        let printed = format!("{engine:?}");
        for setting in [
            "session_timeout: 7200",
            "ticket_lifetime: 7200",
            "rotate_every: 3600",
            "session_store: true",
            "max_handshake_message",
            "extended_master_secret: true",
        ] {
            assert!(printed.contains(setting), "{setting} not in {printed}");
        }
    }
}
