//! Reloading a running `serve` (SIGHUP, `reprise ctl reload`): certificates and keys, and
//! the ticket-key file.

use std::sync::Arc;

use reprise::ServerConfig;
use reprise_serve::live::LiveConfig;

use super::args::ServeArgs;
use super::config_file;
use super::tls_config::{certificates, ring_from_file};

/// Reloads what can change while the server runs: certificates and keys (and the `--config`
/// file naming them), and the ticket-key file. A broken file changes nothing.
pub struct Reloader {
    pub(super) args: ServeArgs,
    pub(super) live: Arc<LiveConfig>,
}

impl Reloader {
    /// Reloads into `live`; a summary line, or why nothing changed.
    pub fn reload(&self) -> Result<String, String> {
        let args = match &self.args.config {
            Some(path) => config_file::serve_args(path, &config_file::command_line_after_serve())?,
            None => self.args.clone(),
        };
        let current = self.live.current();
        let mut summary = Vec::new();
        if !args.cert.is_empty() {
            let mut fresh = ServerConfig::builder()
                .without_session_ids()
                .without_tickets();
            for pair in certificates(&args)? {
                fresh = fresh.certificate_der(pair.chain, &pair.key);
            }
            let fresh = fresh
                .build()
                .map_err(|e| format!("server configuration: {e}"))?;
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
