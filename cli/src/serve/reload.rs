//! Reloading a running `serve` (SIGHUP, `reprise ctl reload`): certificates and keys, and
//! the ticket-key file.

use std::sync::{Arc, Mutex, PoisonError};

use reprise::ServerConfig;
use reprise_serve::live::LiveConfig;

use super::args::ServeArgs;
use super::config_file;
use super::status::{self, CertificateFacts, ServeStatus};
use super::tls_config::{certificates, client_auth, ring_from_file};

/// Reloads what can change while the server runs: certificates and keys (and the `--config`
/// file naming them), and the ticket-key file. A broken file changes nothing. Every reload is
/// logged (how it was asked for, its outcome, what changed) and counted in [`ServeStatus`].
pub struct Reloader {
    args: ServeArgs,
    live: Arc<LiveConfig>,
    status: Arc<ServeStatus>,
    /// The `--config` file's settings as last applied (to name those only a restart
    /// applies); the lock also makes reloads one at a time.
    settings: Mutex<Option<toml::Table>>,
}

/// Config-file keys a reload applies; a change to any other needs a restart.
const RELOADED_KEYS: [&str; 7] = [
    "cert",
    "key",
    "certificate",
    "ticket-key-file",
    "client-auth",
    "client-ca",
    "client-crl",
];

impl Reloader {
    /// Reloads `args` (as the server started with them) into `live`.
    pub fn new(args: ServeArgs, live: Arc<LiveConfig>, status: Arc<ServeStatus>) -> Self {
        let settings = args
            .config
            .as_deref()
            .and_then(|path| config_file::settings(path).ok());
        Self {
            args,
            live,
            status,
            settings: Mutex::new(settings),
        }
    }

    /// Reloads into `live`, asked for `via` (`SIGHUP`, `ctl`): logs one line with the outcome
    /// and what changed (a warning for changed settings only a restart applies), counts it,
    /// and returns the summary, or why nothing changed.
    pub fn reload(&self, via: &str) -> Result<String, String> {
        let mut settings = self.settings.lock().unwrap_or_else(PoisonError::into_inner);
        let outcome = self.apply(&mut settings);
        self.status.reloaded(outcome.is_ok());
        match &outcome {
            Ok(summary) => eprintln!("{summary} (via {via})"),
            Err(e) => {
                eprintln!("reload failed (via {via}), the running configuration stays: {e}")
            }
        }
        outcome
    }

    fn apply(&self, settings: &mut Option<toml::Table>) -> Result<String, String> {
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
            let mut next = current.with_certificates_of(&fresh);
            next.validate()
                .map_err(|e| format!("server configuration: {e}"))?;
            match client_auth(&args)? {
                Some(auth) => {
                    summary.push(format!(
                        "client CAs and revocation lists ({} CA files, {} CRL files)",
                        args.client_ca.len(),
                        args.client_crl.len()
                    ));
                    next.client_auth = Some(Arc::new(auth));
                    self.status.client_auth_loaded(reprise::unix_time());
                }
                // Client certificates turned off (no client CA any more).
                None if next.client_auth.is_some() => {
                    summary.push("client certificates no longer asked for".into());
                    next.client_auth = None;
                }
                None => {}
            }
            summary.push(certificate_changes(
                &status::certificates(&current),
                &status::certificates(&next),
            ));
            self.live.replace(Arc::new(next));
        }
        if let (Some(path), Some(keys)) = (&args.ticket_key_file, &current.tickets) {
            let policy = keys.current().policy();
            let before = keys.current().key_names();
            keys.replace(ring_from_file(path, policy)?);
            let after = keys.current().key_names();
            let added = after.iter().filter(|k| !before.contains(k)).count();
            let dropped = before.iter().filter(|k| !after.contains(k)).count();
            summary.push(if added + dropped == 0 {
                format!("ticket keys from {path} unchanged")
            } else {
                format!("ticket keys from {path}: {added} new, {dropped} retired")
            });
        }
        if let Some(path) = &self.args.config {
            let fresh = config_file::settings(path)?;
            let needs_restart = changed_settings(settings.as_ref(), &fresh);
            if !needs_restart.is_empty() {
                let names = needs_restart.join(", ");
                eprintln!(
                    "warning: --config {path}: {names} changed, but only a restart applies \
                     {}; the server keeps the old value",
                    if needs_restart.len() == 1 {
                        "it"
                    } else {
                        "them"
                    }
                );
                summary.push(format!("not applied until a restart: {names}"));
            }
            *settings = Some(fresh);
        }
        if summary.is_empty() {
            summary.push("nothing to reload (self-signed certificates, no key file)".into());
        }
        Ok(format!("reloaded: {}", summary.join("; ")))
    }

    /// Reloads, draining.
    pub fn status(&self) -> &ServeStatus {
        &self.status
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

/// What a reload did to the served certificates, by name and serial.
fn certificate_changes(before: &[CertificateFacts], after: &[CertificateFacts]) -> String {
    let mut changes = Vec::new();
    for new in after {
        match before.iter().find(|old| old.name == new.name) {
            Some(old) if old.serial == new.serial => {}
            Some(old) => changes.push(format!(
                "{} serial {} -> {}",
                new.name, old.serial, new.serial
            )),
            None => changes.push(format!("{} added (serial {})", new.name, new.serial)),
        }
    }
    for old in before {
        if !after.iter().any(|new| new.name == old.name) {
            changes.push(format!("{} removed", old.name));
        }
    }
    if changes.is_empty() {
        format!("certificates unchanged ({})", after.len())
    } else {
        format!("certificates: {}", changes.join(", "))
    }
}

/// The config-file keys (spelt with `-`) whose values differ between `before` and `after`,
/// but which a reload does not apply.
fn changed_settings(before: Option<&toml::Table>, after: &toml::Table) -> Vec<String> {
    let empty = toml::Table::new();
    let before = before.unwrap_or(&empty);
    let normal = |key: &str| key.replace('_', "-");
    let mut keys: Vec<String> = before
        .keys()
        .chain(after.keys())
        .map(|k| normal(k))
        .collect();
    keys.sort();
    keys.dedup();
    let value = |table: &toml::Table, key: &str| {
        table
            .iter()
            .find(|(k, _)| normal(k) == key)
            .map(|(_, v)| v.clone())
    };
    keys.into_iter()
        .filter(|key| !RELOADED_KEYS.contains(&key.as_str()))
        .filter(|key| value(before, key) != value(after, key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(name: &str, serial: &str) -> CertificateFacts {
        CertificateFacts {
            name: name.into(),
            serial: serial.into(),
            not_after: None,
        }
    }

    #[test]
    fn certificate_changes_name_renewals_additions_and_removals() {
        let before = [facts("a.example", "01"), facts("b.example", "02")];
        assert_eq!(
            certificate_changes(&before, &before),
            "certificates unchanged (2)"
        );
        let after = [facts("a.example", "03"), facts("c.example", "04")];
        assert_eq!(
            certificate_changes(&before, &after),
            "certificates: a.example serial 01 -> 03, c.example added (serial 04), \
             b.example removed"
        );
    }

    #[test]
    fn only_settings_a_reload_cannot_apply_are_named() {
        let before: toml::Table = "cert = \"a\"\nsession_cache = \"1MiB\"\nworkers = 2\n"
            .parse()
            .unwrap();
        let after: toml::Table =
            "cert = \"b\"\nsession-cache = \"2MiB\"\nworkers = 2\nbackend-timeout = \"3s\"\n"
                .parse()
                .unwrap();
        assert_eq!(
            changed_settings(Some(&before), &after),
            ["backend-timeout", "session-cache"]
        );
        assert!(changed_settings(Some(&after), &after).is_empty());
    }
}
