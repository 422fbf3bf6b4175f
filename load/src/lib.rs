//! The driver-independent half of the load generator (`reprise load`), shared by the mio
//! and io_uring loops: what a run is asked to do ([`LoadOptions`]) and what it found
//! ([`LoadReport`]), what one connection of a virtual client does once its socket is up
//! ([`exchange`]), and the latency [`histogram`]. A driver only connects sockets and moves
//! bytes.

pub mod exchange;
pub mod histogram;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use histogram::Histogram;

/// When a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this long (connections in flight at the end are not counted).
    Duration(Duration),
    /// After this many connection attempts (successes plus errors).
    Handshakes(u64),
}

/// What a load run does.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Servers; connections go to them round-robin.
    pub targets: Vec<SocketAddr>,
    /// The name sent in SNI (when it is a DNS name) and checked in the certificate.
    pub server_name: String,
    /// Connections kept busy at once (one virtual client each).
    pub connections: usize,
    /// When to stop.
    pub stop: Stop,
    /// Send `GET PATH` after each handshake and read the whole response.
    pub http_get: Option<String>,
    /// Event-loop threads the virtual clients are spread over.
    pub workers: usize,
    /// Keep each connection open after its handshake (and request) until the run ends,
    /// instead of reconnecting: a way to hold N established connections on a server.
    pub hold: bool,
    /// Time one connection may take (connect, handshake, response) before it counts as an
    /// error.
    pub timeout: Duration,
    /// Do one uncounted handshake per virtual client first (used with resumption).
    pub warm_up: bool,
    /// Print a progress line to stderr once a second.
    pub progress: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            targets: Vec::new(),
            server_name: "localhost".into(),
            connections: 64,
            stop: Stop::Duration(Duration::from_secs(10)),
            http_get: None,
            workers: 1,
            hold: false,
            timeout: Duration::from_secs(10),
            warm_up: false,
            progress: false,
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Handshakes completed in the measured period (with their response, with `http_get`).
    pub handshakes: u64,
    /// Of those, how many resumed a session.
    pub resumed: u64,
    /// Uncounted warm-up handshakes.
    pub warm_up: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// Length of the measured period.
    pub elapsed: Duration,
    /// Connect-to-handshake-done latency (to the end of the response with `http_get`), in µs.
    pub latency: Histogram,
    /// The most connections held open at once (with `hold`).
    pub held: usize,
}

impl LoadReport {
    /// Completed handshakes per second of the measured period.
    pub fn handshakes_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.handshakes as f64 / secs
        } else {
            0.0
        }
    }

    /// Resumed handshakes as a percentage of completed ones.
    pub fn resumed_percent(&self) -> f64 {
        if self.handshakes == 0 {
            0.0
        } else {
            100.0 * self.resumed as f64 / self.handshakes as f64
        }
    }

    /// All errors.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// `handshakes/s: X  resumed: Y%  errors: Z  p50: A ms  p99: B ms`
    pub fn summary_line(&self) -> String {
        format!(
            "handshakes/s: {:.1}  resumed: {:.1}%  errors: {}  p50: {:.2} ms  p99: {:.2} ms",
            self.handshakes_per_sec(),
            self.resumed_percent(),
            self.error_count(),
            self.latency.quantile(0.50) as f64 / 1000.0,
            self.latency.quantile(0.99) as f64 / 1000.0,
        )
    }

    /// Adds another worker's counts to these.
    pub fn merge(&mut self, other: &LoadReport) {
        self.handshakes += other.handshakes;
        self.resumed += other.resumed;
        self.warm_up += other.warm_up;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.latency.merge(&other.latency);
        self.held += other.held;
    }
}
