//! `--keylog FILE` and `SSLKEYLOGFILE`: master secrets appended in NSS key-log format.

use std::io::Write;
use std::sync::{Arc, Mutex};

use reprise::keylog::{format_line, KeyLog};

/// Appends key-log lines to a file.
pub struct FileKeyLog {
    file: Mutex<std::fs::File>,
}

impl KeyLog for FileKeyLog {
    fn log(&self, label: &str, client_random: &[u8; 32], secret: &[u8]) {
        if let Ok(mut f) = self.file.lock() {
            let _ = writeln!(f, "{}", format_line(label, client_random, secret));
        }
    }
}

/// The key log named by `--keylog`, else by `SSLKEYLOGFILE`, else none.
pub fn from_args(flag: Option<&str>) -> Result<Option<Arc<dyn KeyLog>>, String> {
    let path = match flag {
        Some(p) => p.to_string(),
        None => match std::env::var("SSLKEYLOGFILE") {
            Ok(p) if !p.is_empty() => p,
            _ => return Ok(None),
        },
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("key log {path}: {e}"))?;
    eprintln!("logging TLS secrets to {path} (SSLKEYLOGFILE format)");
    Ok(Some(Arc::new(FileKeyLog {
        file: Mutex::new(file),
    })))
}
