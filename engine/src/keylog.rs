//! Key logging in the NSS `SSLKEYLOGFILE` format, so Wireshark can decrypt captures. The engine
//! only calls the callback; writing a file is the caller's business.

/// Receives secrets as they are established.
pub trait KeyLog: Send + Sync {
    /// `label` is `CLIENT_RANDOM` for TLS 1.2; `secret` is the master secret.
    fn log(&self, label: &str, client_random: &[u8; 32], secret: &[u8]);
}

/// Formats one key-log line (`LABEL <client random hex> <secret hex>`), without newline.
pub fn format_line(label: &str, client_random: &[u8; 32], secret: &[u8]) -> String {
    let mut line = String::with_capacity(label.len() + 2 + 64 + 2 * secret.len());
    line.push_str(label);
    line.push(' ');
    for b in client_random {
        line.push_str(&format!("{b:02x}"));
    }
    line.push(' ');
    for b in secret {
        line.push_str(&format!("{b:02x}"));
    }
    line
}
