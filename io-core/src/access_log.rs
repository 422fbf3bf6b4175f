//! One line per connection at its end, for operators (`reprise serve --access-log`): when,
//! the peer, the server name, ALPN, the suite, how the handshake went (full, by session ID,
//! by ticket, and why an offered resumption was declined), bytes each way on the wire, how
//! long, the backend, and how the connection ended.
//!
//! Off the event loops' path: a worker formats its line into a shared buffer (a short lock,
//! no system call); a writer thread of the log's own writes the buffer out a few times a
//! second. The buffer is bounded: when the writer cannot keep up (a stalled disk) lines are
//! dropped and counted, never waited for. [`AccessLog::reopen`] (SIGUSR1) opens the file
//! again at its path, after logrotate moved it.

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reprise::metrics::MetricSink;
use reprise::{Negotiated, ResumptionFailure};

use crate::failure_log::Failure;
use crate::served::End;
use crate::units::UtcTime;

/// How often the writer thread writes what the workers logged.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Bytes of lines waiting for the writer at most (beyond them lines are dropped).
pub const DEFAULT_BUFFER: usize = 4 << 20;

/// How each line is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessLogFormat {
    /// `key=value` pairs, values quoted where they need it.
    Logfmt,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for AccessLogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "logfmt" => Ok(Self::Logfmt),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "access-log format is logfmt or json, not {other:?}"
            )),
        }
    }
}

/// What one connection's line says.
#[derive(Clone, Debug)]
pub struct AccessEntry<'a> {
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// What the handshake agreed (empty if it did not complete).
    pub negotiated: &'a Negotiated,
    /// Whether the handshake completed.
    pub handshake_done: bool,
    /// Why a resumption the client offered was declined.
    pub declined: Option<ResumptionFailure>,
    /// Bytes read from the client's socket.
    pub bytes_in: u64,
    /// Bytes written to the client's socket.
    pub bytes_out: u64,
    /// From the accept to the end.
    pub duration: Duration,
    /// The backend the connection's stream went to.
    pub backend: Option<String>,
    /// The subject of the client's verified certificate (RFC 4514), when it sent one.
    pub client: Option<String>,
    /// How it ended.
    pub end: End,
    /// Why it failed, when it did.
    pub failure: Option<&'a Failure>,
}

/// Where lines go.
enum Sink {
    Stdout,
    File { path: String, file: File },
}

/// Lines not written yet.
#[derive(Default)]
struct Pending {
    text: String,
    lines: u64,
    /// The second the time prefix below is of, and `YYYY-MM-DDTHH:MM:SS` for it (a line's
    /// time is formatted once a second, not once a line).
    second: u64,
    prefix: String,
}

/// The access log: a bounded buffer the workers write to, and its writer thread.
pub struct AccessLog {
    format: AccessLogFormat,
    pending: Mutex<Pending>,
    /// The writer's buffer, swapped with the pending one (both keep their capacity).
    spare: Mutex<String>,
    capacity: usize,
    sink: Mutex<Sink>,
    reopen: Arc<AtomicBool>,
    written: AtomicU64,
    dropped: AtomicU64,
}

impl AccessLog {
    /// Opens `path` for appending (`-`: standard output) and starts the writer thread.
    pub fn open(path: &str, format: AccessLogFormat) -> io::Result<Arc<Self>> {
        Self::with_buffer(path, format, DEFAULT_BUFFER)
    }

    /// [`open`](Self::open) with a buffer of `capacity` bytes.
    pub fn with_buffer(
        path: &str,
        format: AccessLogFormat,
        capacity: usize,
    ) -> io::Result<Arc<Self>> {
        let sink = match path {
            "-" => Sink::Stdout,
            path => Sink::File {
                path: path.to_owned(),
                file: append(path)?,
            },
        };
        let log = Arc::new(Self {
            format,
            pending: Mutex::new(Pending {
                text: String::with_capacity(64 * 1024),
                ..Pending::default()
            }),
            spare: Mutex::new(String::with_capacity(64 * 1024)),
            capacity,
            sink: Mutex::new(sink),
            reopen: Arc::new(AtomicBool::new(false)),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        let weak: Weak<Self> = Arc::downgrade(&log);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || loop {
                std::thread::sleep(FLUSH_EVERY);
                let Some(log) = weak.upgrade() else { return };
                let _ = log.flush();
            })?;
        Ok(log)
    }

    /// A flag that, once set (e.g. by a SIGUSR1 handler), makes the writer open the file
    /// again at its path before it next writes.
    pub fn reopen_flag(&self) -> Arc<AtomicBool> {
        self.reopen.clone()
    }

    /// Opens the file again at its path before the next write (after logrotate moved it).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::SeqCst);
    }

    /// Adds the line of `entry`, or counts it dropped when the buffer is full.
    pub fn log(&self, entry: &AccessEntry<'_>) {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.text.len() >= self.capacity {
            drop(pending);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Pending {
            text,
            lines,
            second,
            prefix,
        } = &mut *pending;
        if *second != millis / 1000 || prefix.is_empty() {
            *second = millis / 1000;
            prefix.clear();
            let _ = write!(prefix, "{}", UtcTime(*second * 1000));
            prefix.truncate(19); // YYYY-MM-DDTHH:MM:SS
        }
        let time = Time {
            prefix,
            millis: millis % 1000,
        };
        match self.format {
            AccessLogFormat::Logfmt => write_line(text, &time, entry, &Logfmt),
            AccessLogFormat::Json => write_line(text, &time, entry, &Json),
        }
        text.push('\n');
        *lines += 1;
    }

    /// Writes every line logged so far (the writer thread does it every 100 ms; a server
    /// calls it once more before it exits).
    pub fn flush(&self) -> io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        if self.reopen.swap(false, Ordering::SeqCst) {
            if let Sink::File { path, file } = &mut *sink {
                match append(path) {
                    Ok(fresh) => *file = fresh,
                    Err(e) => eprintln!(
                        "access log {path}: reopening failed, still writing the old file: {e}"
                    ),
                }
            }
        }
        let mut lines = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        let count = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.text.is_empty() {
                return Ok(());
            }
            std::mem::swap(&mut pending.text, &mut *lines);
            std::mem::take(&mut pending.lines)
        };
        let result = match &mut *sink {
            Sink::Stdout => io::stdout().lock().write_all(lines.as_bytes()),
            Sink::File { file, .. } => file.write_all(lines.as_bytes()),
        };
        lines.clear();
        match result {
            Ok(()) => self.written.fetch_add(count, Ordering::Relaxed),
            Err(_) => self.dropped.fetch_add(count, Ordering::Relaxed),
        };
        result
    }

    /// Its series: lines written, lines dropped.
    pub fn report(&self, sink: &mut dyn MetricSink) {
        sink.counter(
            "reprise_access_log_lines_total",
            "Access-log lines written.",
            &[],
            self.written.load(Ordering::Relaxed),
        );
        sink.counter(
            "reprise_access_log_dropped_total",
            "Access-log lines dropped: the buffer was full (the writer could not keep up) or the write failed.",
            &[],
            self.dropped.load(Ordering::Relaxed),
        );
    }
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog")
            .field("format", &self.format)
            .field("capacity", &self.capacity)
            .finish()
    }
}

fn append(path: &str) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// How a line's fields are written.
trait Style {
    fn start(&self, out: &mut String);
    /// A number.
    fn number(&self, out: &mut String, first: bool, key: &str, value: u64);
    /// A string that never needs escaping (a time, an address, a fixed word).
    fn word(&self, out: &mut String, first: bool, key: &str, value: &str);
    /// The same, formatted.
    fn word_fmt(&self, out: &mut String, first: bool, key: &str, value: fmt::Arguments<'_>);
    /// A field whose value may need quoting.
    fn text(&self, out: &mut String, first: bool, key: &str, value: &str);
    fn end(&self, out: &mut String);
}

struct Logfmt;

impl Style for Logfmt {
    fn start(&self, _: &mut String) {}

    fn number(&self, out: &mut String, first: bool, key: &str, value: u64) {
        if !first {
            out.push(' ');
        }
        out.push_str(key);
        out.push('=');
        push_number(out, value);
    }

    fn word(&self, out: &mut String, first: bool, key: &str, value: &str) {
        if !first {
            out.push(' ');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }

    fn word_fmt(&self, out: &mut String, first: bool, key: &str, value: fmt::Arguments<'_>) {
        if !first {
            out.push(' ');
        }
        out.push_str(key);
        out.push('=');
        let _ = out.write_fmt(value);
    }

    fn text(&self, out: &mut String, first: bool, key: &str, value: &str) {
        if !first {
            out.push(' ');
        }
        out.push_str(key);
        out.push('=');
        let plain = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'=' && b != b'\\');
        if plain {
            out.push_str(value);
        } else {
            out.push('"');
            escape(out, value);
            out.push('"');
        }
    }

    fn end(&self, _: &mut String) {}
}

struct Json;

impl Json {
    fn key(&self, out: &mut String, first: bool, key: &str) {
        if !first {
            out.push(',');
        }
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
    }
}

impl Style for Json {
    fn start(&self, out: &mut String) {
        out.push('{');
    }

    fn number(&self, out: &mut String, first: bool, key: &str, value: u64) {
        self.key(out, first, key);
        push_number(out, value);
    }

    fn word(&self, out: &mut String, first: bool, key: &str, value: &str) {
        self.key(out, first, key);
        out.push('"');
        out.push_str(value);
        out.push('"');
    }

    fn word_fmt(&self, out: &mut String, first: bool, key: &str, value: fmt::Arguments<'_>) {
        self.key(out, first, key);
        out.push('"');
        let _ = out.write_fmt(value);
        out.push('"');
    }

    fn text(&self, out: &mut String, first: bool, key: &str, value: &str) {
        self.key(out, first, key);
        out.push('"');
        escape(out, value);
        out.push('"');
    }

    fn end(&self, out: &mut String) {
        out.push('}');
    }
}

/// `value` in decimal, without the formatting machinery.
fn push_number(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// A line's time: the second's prefix and the milliseconds.
struct Time<'a> {
    prefix: &'a str,
    millis: u64,
}

impl Time<'_> {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` into `buf`.
    fn render<'b>(&self, buf: &'b mut [u8; 24]) -> &'b str {
        let prefix = self.prefix.as_bytes();
        let n = prefix.len().min(19);
        buf[..n].copy_from_slice(&prefix[..n]);
        let m = self.millis % 1000;
        let tail = [
            b'.',
            b'0' + (m / 100) as u8,
            b'0' + (m / 10 % 10) as u8,
            b'0' + (m % 10) as u8,
            b'Z',
        ];
        buf[n..n + 5].copy_from_slice(&tail);
        std::str::from_utf8(&buf[..n + 5]).unwrap_or("")
    }
}

/// `value` with `"`, `\` and control characters escaped (valid in JSON and logfmt).
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// The word for how a connection ended.
fn end_word(end: End) -> &'static str {
    match end {
        End::Done => "done",
        End::Failed => "failed",
        End::TimedOut => "timed-out",
        End::PeerClosed => "peer-closed",
        End::Socket(_) => "socket-error",
        End::ShutDown => "shut-down",
        End::Aborted => "aborted",
        End::Evicted => "evicted",
    }
}

fn write_line(out: &mut String, time: &Time<'_>, entry: &AccessEntry<'_>, style: &dyn Style) {
    style.start(out);
    let mut buf = [0u8; 24];
    style.word(out, true, "time", time.render(&mut buf));
    match entry.peer {
        Some(peer) => style.word_fmt(out, false, "peer", format_args!("{peer}")),
        None => style.word(out, false, "peer", "unknown"),
    }
    let n = entry.negotiated;
    if let Some(name) = &n.server_name {
        style.text(out, false, "sni", name.as_str());
    }
    if let Some(alpn) = n.alpn() {
        style.text(out, false, "alpn", &String::from_utf8_lossy(alpn));
    }
    if let Some(suite) = n.suite {
        style.word(out, false, "suite", suite.openssl_name);
    }
    match (entry.handshake_done, n.resumed) {
        (false, _) => style.word(out, false, "handshake", "none"),
        (true, None) => style.word(out, false, "handshake", "full"),
        (true, Some(kind)) => style.word_fmt(out, false, "handshake", format_args!("{kind}")),
    }
    if let Some(reason) = entry.declined {
        style.word(out, false, "declined", reason.as_str());
    }
    if let Some(client) = &entry.client {
        style.text(out, false, "client", client);
    }
    style.number(out, false, "bytes_in", entry.bytes_in);
    style.number(out, false, "bytes_out", entry.bytes_out);
    style.number(
        out,
        false,
        "duration_us",
        u64::try_from(entry.duration.as_micros()).unwrap_or(u64::MAX),
    );
    if let Some(backend) = &entry.backend {
        style.text(out, false, "backend", backend);
    }
    style.word(out, false, "end", end_word(entry.end));
    if let Some(failure) = entry.failure {
        style.text(out, false, "error", &failure.to_string());
    }
    style.end(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(negotiated: &Negotiated) -> AccessEntry<'_> {
        AccessEntry {
            peer: Some("127.0.0.1:5000".parse().unwrap()),
            negotiated,
            handshake_done: true,
            declined: Some(ResumptionFailure::UnknownSession),
            bytes_in: 517,
            bytes_out: 2048,
            duration: Duration::from_micros(1500),
            backend: Some("unix:/run/app \"x\".sock".into()),
            client: Some("CN=device-17,O=Example\\, Inc.".into()),
            end: End::Done,
            failure: None,
        }
    }

    #[test]
    fn logfmt_quotes_only_what_needs_it_and_json_parses() {
        let mut negotiated = Negotiated::default();
        negotiated.server_name = Some(reprise::HostName::lowercase("Example.COM"));
        negotiated.set_alpn(Some(b"h2"));
        let time = Time {
            prefix: "2026-12-06T20:52:21",
            millis: 7,
        };
        let mut line = String::new();
        write_line(&mut line, &time, &entry(&negotiated), &Logfmt);
        assert!(line.starts_with("time=2026-12-06T20:52:21.007Z "), "{line}");
        for field in [
            " peer=127.0.0.1:5000 sni=example.com alpn=h2 handshake=full declined=",
            " client=\"CN=device-17,O=Example\\\\, Inc.\" bytes_in=517",
            " bytes_in=517 bytes_out=2048 duration_us=1500",
            " backend=\"unix:/run/app \\\"x\\\".sock\" end=done",
        ] {
            assert!(line.contains(field), "no {field:?} in {line}");
        }
        let mut json = String::new();
        write_line(&mut json, &time, &entry(&negotiated), &Json);
        assert!(
            json.starts_with("{\"time\":\"20") && json.ends_with("\"end\":\"done\"}"),
            "{json}"
        );
        assert!(
            json.contains("\"backend\":\"unix:/run/app \\\"x\\\".sock\""),
            "{json}"
        );
        assert!(json.contains("\"bytes_in\":517,"), "{json}");
    }

    #[test]
    fn a_full_buffer_drops_and_counts_and_reopen_follows_the_path() {
        let dir = std::env::temp_dir().join(format!("reprise-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        let log =
            AccessLog::with_buffer(path.to_str().unwrap(), AccessLogFormat::Logfmt, 1).unwrap();
        let negotiated = Negotiated::default();
        log.log(&entry(&negotiated));
        log.log(&entry(&negotiated)); // the buffer holds one line's worth: dropped
        log.flush().unwrap();
        let first = std::fs::read_to_string(&path).unwrap();
        assert_eq!(first.lines().count(), 1, "{first}");
        let mut text = crate::prometheus::PrometheusText::new();
        log.report(&mut text);
        let text = text.finish();
        assert!(
            text.contains("reprise_access_log_dropped_total 1"),
            "{text}"
        );
        assert!(text.contains("reprise_access_log_lines_total 1"), "{text}");
        // Moved away, then reopened: the next line goes to a new file at the path.
        let moved = dir.join("access.log.1");
        std::fs::rename(&path, &moved).unwrap();
        log.reopen();
        log.log(&entry(&negotiated));
        log.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        assert_eq!(std::fs::read_to_string(&moved).unwrap(), first);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod speed {
    use super::*;

    #[test]
    #[ignore]
    fn format_speed() {
        let mut negotiated = Negotiated::default();
        negotiated.server_name = Some(reprise::HostName::lowercase("localhost"));
        let entry = AccessEntry {
            peer: Some("127.0.0.1:5000".parse().unwrap()),
            negotiated: &negotiated,
            handshake_done: true,
            declined: None,
            bytes_in: 517,
            bytes_out: 2048,
            duration: Duration::from_micros(1500),
            backend: None,
            client: None,
            end: End::Done,
            failure: None,
        };
        let time = Time {
            prefix: "2026-12-06T20:52:21",
            millis: 7,
        };
        let mut out = String::with_capacity(64 << 20);
        let start = std::time::Instant::now();
        for _ in 0..200_000 {
            write_line(&mut out, &time, &entry, &Logfmt);
            out.push('\n');
        }
        eprintln!("{:?} per line", start.elapsed() / 200_000);
    }
}
