//! One line per failed handshake, for operators, rate-limited so a flood cannot fill a disk.
//!
//! Each served connection says how it failed ([`Served::failure`](crate::served::Served::failure)):
//! the engine's error (the alert sent, with the engine's reason, or the alert received), a
//! handshake that timed out, a peer that closed or reset the connection mid-handshake, a
//! backend that refused or failed. A connection that sent nothing at
//! all (a TCP health check, a browser's unused preconnect) and a server shutting down are not
//! failures. The [`FailureLog`] prints at most [`FailureLog::per_second`] lines a second, over
//! all workers, and then one line saying how many it left out.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reprise::Error;

use crate::upstream::UpstreamFailure;

/// Lines a second [`FailureLog::to_stderr`] allows by default.
pub const DEFAULT_LINES_PER_SECOND: u32 = 20;

/// How long one rate window lasts.
const WINDOW: Duration = Duration::from_secs(1);

/// Why a connection failed, as logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The engine ended the connection: the alert it sent and why, or the peer's alert.
    Engine(Error),
    /// The handshake did not complete within the handshake timeout.
    TimedOut,
    /// The peer closed the TCP connection before the handshake completed.
    PeerClosed,
    /// Reading or writing the socket failed (e.g. the peer reset the connection).
    Socket(io::ErrorKind),
    /// Closed unfinished: the worker's unfinished handshakes held more memory than allowed.
    Evicted,
    /// The connection's backend stream failed (refused, timed out, reset, silent).
    Backend {
        /// The backend's address.
        backend: String,
        /// What went wrong.
        failure: UpstreamFailure,
    },
    /// The client sent a message (a request, bytes a backend had not answered) too slowly:
    /// not whole within the idle timeout, nor at the minimum rate.
    SlowClient {
        /// What it sent in its last window.
        bytes: u64,
        /// The window.
        waited: Duration,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Engine(Error::AlertSent(cause)) => {
                write!(f, "sent alert {}: {cause}", cause.alert())
            }
            Failure::Engine(Error::AlertReceived(alert)) => write!(f, "received alert {alert}"),
            Failure::Engine(other) => write!(f, "{other}"),
            Failure::TimedOut => f.write_str("timed out"),
            Failure::PeerClosed => f.write_str("peer closed the connection"),
            Failure::Socket(kind) => write!(f, "socket error: {kind}"),
            Failure::Evicted => {
                f.write_str("closed unfinished: unfinished handshakes over the memory cap")
            }
            Failure::Backend { backend, failure } => write!(f, "backend {backend}: {failure}"),
            Failure::SlowClient { bytes, waited } => write!(
                f,
                "client too slow: {bytes} bytes in {}s, a message unfinished (the least is {} bytes/s)",
                waited.as_secs(),
                crate::served::MIN_MESSAGE_RATE
            ),
        }
    }
}

/// The rate window, shared by every worker.
#[derive(Debug)]
struct Window {
    start: Option<Instant>,
    printed: u32,
    suppressed: u64,
}

type Sink = Box<dyn Fn(&str) + Send + Sync>;

/// Prints failed handshakes, one line each, at most [`per_second`](Self::per_second) lines a
/// second; beyond that it counts, and prints the count when the second is over.
pub struct FailureLog {
    per_second: u32,
    window: Mutex<Window>,
    sink: Sink,
}

impl fmt::Debug for FailureLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailureLog")
            .field("per_second", &self.per_second)
            .finish_non_exhaustive()
    }
}

impl FailureLog {
    /// A log writing to standard error.
    pub fn to_stderr(per_second: u32) -> Self {
        Self::with_sink(
            per_second,
            Box::new(|line| {
                let _ = writeln!(io::stderr().lock(), "{line}");
            }),
        )
    }

    /// A log handing each line to `sink` (tests, or a logging framework).
    pub fn with_sink(per_second: u32, sink: Box<dyn Fn(&str) + Send + Sync>) -> Self {
        Self {
            per_second,
            window: Mutex::new(Window {
                start: None,
                printed: 0,
                suppressed: 0,
            }),
            sink,
        }
    }

    /// Lines allowed per second.
    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Takes one line of this second's allowance: true when the caller may print a line
    /// now ([`write`](Self::write)), false when the line is counted as suppressed instead.
    pub fn admit(&self, now: Instant) -> bool {
        let Ok(mut window) = self.window.lock() else {
            return false;
        };
        self.roll(&mut window, now);
        if window.printed < self.per_second {
            window.printed += 1;
            true
        } else {
            window.suppressed += 1;
            false
        }
    }

    /// Prints the line of an admitted failure: `handshake failed: peer ADDR: WHY` (or
    /// `connection failed: …` when the handshake had completed).
    pub fn write(&self, peer: Option<SocketAddr>, failure: &Failure, after_handshake: bool) {
        self.write_declined(peer, failure, after_handshake, None);
    }

    /// [`write`](Self::write), ending the line with `(resumption declined: REASON)` when the
    /// client offered a session the server would not resume.
    pub fn write_declined(
        &self,
        peer: Option<SocketAddr>,
        failure: &Failure,
        after_handshake: bool,
        declined: Option<reprise::ResumptionFailure>,
    ) {
        let what = if after_handshake {
            "connection failed"
        } else {
            "handshake failed"
        };
        let peer = peer.map_or_else(|| "unknown".to_string(), |p| p.to_string());
        let line = match declined {
            Some(reason) => {
                format!("{what}: peer {peer}: {failure} (resumption declined: {reason})")
            }
            None => format!("{what}: peer {peer}: {failure}"),
        };
        (self.sink)(&line);
    }

    /// Logs a connection refused at the connection limit (`limit` connections open).
    pub fn refused(&self, now: Instant, peer: Option<SocketAddr>, limit: usize) {
        if self.admit(now) {
            let peer = peer.map_or_else(|| "unknown".to_string(), |p| p.to_string());
            (self.sink)(&format!(
                "connection refused: peer {peer}: the connection limit ({limit}) is reached"
            ));
        }
    }

    /// [`admit`](Self::admit), then [`write`](Self::write) if admitted.
    pub fn report(
        &self,
        now: Instant,
        peer: Option<SocketAddr>,
        failure: &Failure,
        after_handshake: bool,
    ) {
        self.report_declined(now, peer, failure, after_handshake, None);
    }

    /// [`admit`](Self::admit), then [`write_declined`](Self::write_declined) if admitted.
    pub fn report_declined(
        &self,
        now: Instant,
        peer: Option<SocketAddr>,
        failure: &Failure,
        after_handshake: bool,
        declined: Option<reprise::ResumptionFailure>,
    ) {
        if self.admit(now) {
            self.write_declined(peer, failure, after_handshake, declined);
        }
    }

    /// Prints the count of suppressed lines once their second is over. Drivers call it from
    /// their timer ticks, so the count appears even when the flood has stopped.
    pub fn tick(&self, now: Instant) {
        if let Ok(mut window) = self.window.lock() {
            self.roll(&mut window, now);
        }
    }

    /// Starts a new window once the current one is over, printing what it suppressed.
    fn roll(&self, window: &mut Window, now: Instant) {
        let start = *window.start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed < WINDOW {
            return;
        }
        if window.suppressed > 0 {
            (self.sink)(&format!(
                "failure log: {} more lines (failed connections, refusals) in the last {:.1} s not logged (at most {} lines a second)",
                window.suppressed,
                elapsed.as_secs_f64(),
                self.per_second
            ));
        }
        *window = Window {
            start: Some(now),
            printed: 0,
            suppressed: 0,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise::AlertDescription;
    use std::sync::Arc;

    fn capture(per_second: u32) -> (FailureLog, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let log = FailureLog::with_sink(
            per_second,
            Box::new(move |l| sink.lock().unwrap().push(l.to_string())),
        );
        (log, lines)
    }

    #[test]
    fn lines_name_the_peer_and_the_reason() {
        let (log, lines) = capture(10);
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let now = Instant::now();
        let sent = Failure::Engine(Error::AlertSent(reprise::Cause::PeerIncompatible(
            reprise::Incompatibility::NoCommonSuite,
        )));
        log.report(now, Some(peer), &sent, false);
        log.report(
            now,
            Some(peer),
            &Failure::Engine(Error::AlertReceived(AlertDescription::BadCertificate)),
            false,
        );
        log.report(now, None, &Failure::TimedOut, false);
        log.report(now, Some(peer), &Failure::PeerClosed, false);
        log.report(
            now,
            Some(peer),
            &Failure::Socket(io::ErrorKind::ConnectionReset),
            false,
        );
        log.report(now, Some(peer), &sent, true);
        assert_eq!(
            *lines.lock().unwrap(),
            [
                "handshake failed: peer 127.0.0.1:5000: sent alert handshake_failure: no cipher suite in common",
                "handshake failed: peer 127.0.0.1:5000: received alert bad_certificate",
                "handshake failed: peer unknown: timed out",
                "handshake failed: peer 127.0.0.1:5000: peer closed the connection",
                "handshake failed: peer 127.0.0.1:5000: socket error: connection reset",
                "connection failed: peer 127.0.0.1:5000: sent alert handshake_failure: no cipher suite in common",
            ]
        );
    }

    #[test]
    fn a_flood_is_cut_to_the_rate_and_counted() {
        let (log, lines) = capture(3);
        let t0 = Instant::now();
        for i in 0..100u64 {
            log.report(
                t0 + Duration::from_millis(i),
                None,
                &Failure::PeerClosed,
                false,
            );
        }
        assert_eq!(lines.lock().unwrap().len(), 3);
        // Nothing more until the second is over; then one line with the count.
        log.tick(t0 + Duration::from_millis(999));
        assert_eq!(lines.lock().unwrap().len(), 3);
        log.tick(t0 + Duration::from_millis(1200));
        {
            let lines = lines.lock().unwrap();
            assert_eq!(lines.len(), 4);
            assert!(
                lines[3].starts_with("failure log: 97 more lines (failed connections, refusals) in the last 1.2 s not logged"),
                "{}",
                lines[3]
            );
        }
        // A new second has a new allowance, and a quiet second prints nothing.
        log.report(
            t0 + Duration::from_millis(1300),
            None,
            &Failure::TimedOut,
            false,
        );
        log.tick(t0 + Duration::from_millis(5000));
        assert_eq!(lines.lock().unwrap().len(), 5);
    }

    #[test]
    fn zero_lines_a_second_counts_everything() {
        let (log, lines) = capture(0);
        let t0 = Instant::now();
        log.report(t0, None, &Failure::TimedOut, false);
        log.tick(t0 + Duration::from_secs(2));
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("failure log: 1 more lines"));
    }
}
