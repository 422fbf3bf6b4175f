//! The control socket of a running `reprise serve` (`--control PATH`) and its client,
//! `reprise ctl --control PATH COMMAND`. One command per connection, one line each way
//! (the answer may span lines; the server closes when done):
//!
//! * `status`: connections, handshakes by kind, resumption rate, ticket keys and their ages,
//!   reloads, and each certificate's serial and expiry;
//! * `reload`: what SIGHUP does (certificates, keys, the config file, the ticket-key file);
//! * `rotate-ticket-keys`: a new encrypting key now (the old one still decrypts);
//! * `retire-ticket-keys`: every key dropped for a fresh one, so that no ticket issued before
//!   decrypts (after a suspected key leak); those clients do full handshakes.
//!
//! The socket is created owner-only (mode 0600), and a peer whose user is neither the
//! server's nor root is refused (SO_PEERCRED).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reprise::rng::SystemRandom;

use super::reload::Reloader;

/// The control socket's file, removed when the server exits cleanly (dropped).
pub struct ControlSocket {
    path: String,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Starts answering on `path`, on a thread of its own. A path a running server answers on is
/// refused (taking it would leave that server without its control socket); a stale socket
/// file (no server behind it) is replaced.
pub fn serve(path: &str, reloader: Arc<Reloader>) -> Result<ControlSocket, String> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) => {
            if UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "--control {path}: a running server answers there; stop it or choose \
                     another path"
                ));
            }
            std::fs::remove_file(path).map_err(|e| format!("--control {path}: {e}"))?;
        }
        Ok(_) => return Err(format!("--control {path}: exists and is not a socket")),
        Err(_) => {}
    }
    // Owner-only from the start: the socket is created under a umask that leaves nothing
    // to the group or others.
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = bound.map_err(|e| format!("--control {path}: {e}"))?;
    let socket = ControlSocket {
        path: path.to_owned(),
    };
    let me = rustix::process::getuid();
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            let busy = Arc::new(AtomicUsize::new(0));
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                // Each client on a thread of its own, so one that stays silent delays no one
                // else; a few at a time is all a control socket needs.
                if busy.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
                    busy.fetch_sub(1, Ordering::SeqCst);
                    let _ = stream.write_all(b"error: busy: too many control clients at once\n");
                    continue;
                }
                let (reloader, done) = (reloader.clone(), busy.clone());
                let spawned = std::thread::Builder::new()
                    .name("control-client".into())
                    .spawn(move || {
                        client(stream, me, &reloader);
                        done.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    busy.fetch_sub(1, Ordering::SeqCst);
                }
            }
        })
        .map_err(|e| format!("control thread: {e}"))?;
    Ok(socket)
}

/// Control clients answered at once; more are told the server is busy.
const MAX_CLIENTS: usize = 8;

/// How long a control client has to send its command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads one command from `stream` and answers it.
fn client(mut stream: UnixStream, me: rustix::process::Uid, reloader: &Reloader) {
    let allowed = rustix::net::sockopt::socket_peercred(&stream)
        .map(|cred| cred.uid == me || cred.uid.is_root())
        .unwrap_or(false);
    let _ = stream.set_read_timeout(Some(COMMAND_TIMEOUT));
    let _ = stream.set_write_timeout(Some(COMMAND_TIMEOUT));
    let mut line = String::new();
    let mut reader = BufReader::new(&stream).take(256);
    if reader.read_line(&mut line).is_err() {
        return;
    }
    if !allowed {
        // (The command was read first: closing on unread input would reset the
        // connection before the refusal is read.)
        let _ = stream.write_all(b"error: refused: not the server's user\n");
        return;
    }
    let answer = match answer(line.trim(), reloader) {
        Ok(text) => text,
        Err(e) => format!("error: {e}"),
    };
    let _ = stream.write_all(answer.as_bytes());
    let _ = stream.write_all(b"\n");
}

fn answer(command: &str, reloader: &Reloader) -> Result<String, String> {
    let config = reloader.current();
    match command {
        "status" => Ok(format!(
            "{}\n{}",
            status(&config),
            super::status::lines(&config, reloader.status(), reprise::unix_time())
        )),
        "reload" => reloader.reload("ctl"),
        "rotate-ticket-keys" | "retire-ticket-keys" => {
            let keys = config
                .tickets
                .as_ref()
                .ok_or("tickets are off (--tickets off)")?;
            if reloader.external_ticket_keys() {
                return Err(
                    "ticket keys come from a key file or the fleet: rotate them there".into(),
                );
            }
            let before = keys.current().len();
            if command == "rotate-ticket-keys" {
                keys.rotate_now(reprise::unix_time(), &SystemRandom)
                    .map_err(|e| format!("rotation failed: {e}"))?;
                let name = hex(&keys.current().key_names()[0]);
                Ok(format!(
                    "rotated: new encrypting key {name}; the previous one decrypts only"
                ))
            } else {
                keys.retire_all(reprise::unix_time(), &SystemRandom)
                    .map_err(|e| format!("retirement failed: {e}"))?;
                let name = hex(&keys.current().key_names()[0]);
                Ok(format!(
                    "retired {before} keys: no ticket issued before decrypts; new key {name}"
                ))
            }
        }
        other => Err(format!(
            "unknown command {other:?} (status, reload, rotate-ticket-keys, retire-ticket-keys)"
        )),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn status(config: &reprise::ServerConfig) -> String {
    let mut out = String::new();
    if let Some(m) = &config.metrics {
        let s = m.snapshot();
        let resumed = s.handshakes_session_id + s.handshakes_ticket;
        let done = resumed + s.handshakes_full;
        let rate = if done == 0 {
            0.0
        } else {
            100.0 * resumed as f64 / done as f64
        };
        out.push_str(&format!(
            "connections: {} open, {} accepted, {} refused\n",
            s.connections_open, s.connections_total, s.connections_refused
        ));
        out.push_str(&format!(
            "handshakes: {} full, {} session-id, {} ticket, {} failed\n",
            s.handshakes_full, s.handshakes_session_id, s.handshakes_ticket, s.handshake_failures
        ));
        out.push_str(&format!("resumption rate: {rate:.1}%\n"));
    }
    match &config.tickets {
        None => out.push_str("ticket keys: none (tickets off)"),
        Some(keys) => {
            let ring = keys.current();
            let now = reprise::unix_time();
            out.push_str(&format!("ticket keys: {}", ring.len()));
            for (i, key) in ring.keys().iter().enumerate() {
                let role = if i == 0 { "encrypting" } else { "decrypt-only" };
                out.push_str(&format!(
                    "\n  {} {role}, age {} s",
                    hex(&key.name()),
                    now.saturating_sub(key.created())
                ));
            }
        }
    }
    out
}

/// The control socket `reprise ctl` talks to: `--control`, or the `control` path of the
/// server's `--config` file.
pub fn control_path(control: Option<String>, config: Option<&str>) -> Result<String, String> {
    match (control, config) {
        (Some(path), _) => Ok(path),
        (None, Some(file)) => super::config_file::serve_args(file, &[])?
            .control
            .ok_or_else(|| format!("--config {file}: no `control` path in it")),
        (None, None) => Err("--control PATH or --config FILE is needed".into()),
    }
}

/// `reprise ctl`: sends `command` to the server at `path` and prints its answer; an answer
/// starting with `error:` is an error.
pub fn ctl(path: &str, command: &str) -> Result<(), String> {
    let mut stream = UnixStream::connect(path).map_err(|e| format!("--control {path}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(format!("{command}\n").as_bytes())
        .map_err(|e| format!("--control {path}: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("--control {path}: {e}"))?;
    let answer = answer.trim_end();
    match answer.strip_prefix("error: ") {
        Some(e) => Err(e.to_string()),
        // A closed stdout (`reprise ctl status | head -1`) is not an error of the server's.
        None => match writeln!(std::io::stdout().lock(), "{answer}") {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
            _ => Ok(()),
        },
    }
}
