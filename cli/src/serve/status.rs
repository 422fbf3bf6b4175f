//! What a running `serve` says about itself besides the engine's and the serving core's
//! counters: its reloads, whether it drains (for `GET /healthz`), and when each certificate
//! it serves expires. Read by the metrics listener and `reprise ctl status`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use reprise::metrics::MetricSink;
use reprise::ServerConfig;
use reprise_serve::access_log::AccessLog;

use crate::certs;

/// The server's own state, shared by the reload, signal, metrics and control threads.
#[derive(Debug, Default)]
pub struct ServeStatus {
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    draining: AtomicBool,
    access_log: Option<Arc<AccessLog>>,
    /// When the client CA and CRL files were last loaded (Unix seconds; 0: never).
    client_auth_loaded: AtomicU64,
}

impl ServeStatus {
    /// The status of a server writing `access_log`.
    pub fn new(access_log: Option<Arc<AccessLog>>) -> Self {
        Self {
            access_log,
            ..Self::default()
        }
    }

    /// The access log, if there is one.
    pub fn access_log(&self) -> Option<&Arc<AccessLog>> {
        self.access_log.as_ref()
    }

    /// Counts a reload by its outcome.
    pub fn reloaded(&self, ok: bool) {
        let counter = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reloads so far: (applied, failed).
    pub fn reloads(&self) -> (u64, u64) {
        (
            self.reloads_ok.load(Ordering::Relaxed),
            self.reloads_failed.load(Ordering::Relaxed),
        )
    }

    /// The client CA and CRL files were (re)loaded at `now`.
    pub fn client_auth_loaded(&self, now: u64) {
        self.client_auth_loaded.store(now, Ordering::Relaxed);
    }

    /// The server stopped accepting and drains (SIGTERM or SIGINT).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the server drains: health checks should send new clients elsewhere.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// The series of this server's own: reloads by result, ticket keys retired, each
    /// certificate's expiry, and the access log's lines.
    pub fn report(&self, config: &ServerConfig, sink: &mut dyn MetricSink) {
        if let Some(log) = &self.access_log {
            log.report(sink);
        }
        let (ok, failed) = self.reloads();
        for (result, n) in [("ok", ok), ("failed", failed)] {
            sink.counter(
                "reprise_reloads_total",
                "Reloads (SIGHUP, ctl reload) by result; a failed one changed nothing.",
                &[("result", result)],
                n,
            );
        }
        if let Some(keys) = &config.tickets {
            sink.counter(
                "reprise_ticket_keys_retired_total",
                "Ticket keys that left the ring (expired, rotated out, retired or replaced).",
                &[],
                keys.retired(),
            );
        }
        for cert in certificates(config) {
            if let Some(end) = cert.not_after {
                sink.gauge(
                    "reprise_certificate_expiry_seconds",
                    "When each served certificate expires (notAfter), in seconds since the Unix epoch.",
                    &[("name", &cert.name), ("serial", &cert.serial)],
                    end as f64,
                );
            }
        }
    }
}

/// A served leaf certificate as monitoring sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Its first DNS name (`default` when it has none).
    pub name: String,
    /// Its serial number, hex.
    pub serial: String,
    /// Its notAfter, Unix seconds; `None` if it cannot be read.
    pub not_after: Option<u64>,
}

/// The leaf certificates `config` serves, in its order.
pub fn certificates(config: &ServerConfig) -> Vec<CertificateFacts> {
    config
        .certificates()
        .iter()
        .filter_map(|cert| {
            let leaf = cert.chain().first()?;
            Some(CertificateFacts {
                name: cert
                    .names()
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "default".into()),
                serial: certs::serial(leaf).unwrap_or_default(),
                not_after: certs::not_after(leaf),
            })
        })
        .collect()
}

/// `ctl status`'s lines for the certificates and reloads.
pub fn lines(config: &ServerConfig, status: &ServeStatus, now: u64) -> String {
    let mut out = String::new();
    let (ok, failed) = status.reloads();
    out.push_str(&format!("reloads: {ok} applied, {failed} failed\n"));
    if let Some(auth) = &config.client_auth {
        let loaded = status.client_auth_loaded.load(Ordering::Relaxed);
        out.push_str(&format!(
            "client certificates: {}, {} roots, {} revocation lists, trust epoch {:016x}, \
             files loaded {} s ago\n",
            if auth.is_required() {
                "required"
            } else {
                "optional"
            },
            auth.roots().len(),
            auth.crl_count(),
            auth.trust_epoch(),
            now.saturating_sub(loaded)
        ));
    }
    let served = config.certificates();
    out.push_str(&format!("certificates: {}", served.len()));
    for (cert, facts) in served.iter().zip(certificates(config)) {
        let leaf = cert.chain().first().map_or(&[][..], Vec::as_slice);
        out.push_str(&format!(
            "\n  {} serial {}{}",
            facts.name,
            facts.serial,
            certs::expiry(leaf, now)
        ));
    }
    out
}
