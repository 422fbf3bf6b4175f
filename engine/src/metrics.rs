//! Counters an operator watches, shared by every connection and driver. The engine counts
//! handshakes, resumption failures and alerts when the config carries a [`Metrics`]; drivers
//! count connections. [`Metrics::snapshot`] reads them all.
//!
//! Everything that reports series — the engine's counters, a session store
//! ([`SessionStore::report_metrics`](crate::session::SessionStore::report_metrics)), a serving
//! layer's own counters, a fleet's key ring — writes them to one [`MetricSink`], in the
//! Prometheus data model (counters, gauges, histograms; each sample with labels). The serving
//! layer's sink renders the text exposition (`reprise_serve::prometheus`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::codec::AlertDescription;
use crate::error::{ResumptionFailure, ResumptionKind};

const FAILURES: [ResumptionFailure; 13] = [
    ResumptionFailure::UnknownSession,
    ResumptionFailure::UnknownTicketKey,
    ResumptionFailure::Expired,
    ResumptionFailure::BadTicket,
    ResumptionFailure::EmsMismatch,
    ResumptionFailure::SuiteMismatch,
    ResumptionFailure::SniMismatch,
    ResumptionFailure::StoreUnavailable,
    ResumptionFailure::Declined,
    ResumptionFailure::ClientCertificateRequired,
    ResumptionFailure::ClientTrustChanged,
    ResumptionFailure::ClientCertificateExpired,
    ResumptionFailure::ClientCertificateRevoked,
];

fn failure_index(f: ResumptionFailure) -> usize {
    FAILURES.iter().position(|x| *x == f).unwrap_or(0)
}

/// Process-wide counters (all relaxed atomics: cheap on the hot path).
#[derive(Debug)]
pub struct Metrics {
    handshakes_full: AtomicU64,
    handshakes_resumed_id: AtomicU64,
    handshakes_resumed_ticket: AtomicU64,
    handshake_failures: AtomicU64,
    resumption_failures: [AtomicU64; FAILURES.len()],
    alerts_sent: [AtomicU64; 256],
    alerts_received: [AtomicU64; 256],
    connections_open: AtomicI64,
    connections_total: AtomicU64,
    connections_refused: AtomicU64,
    client_certificates: [AtomicU64; CLIENT_CERTIFICATE_RESULTS.len()],
}

/// What a server's check of a client certificate came to, as
/// `reprise_client_certificates_total{result}` labels it: `verified` (chain and
/// CertificateVerify), `absent` (none, and none required), `missing` (none, one required),
/// `unknown_ca`, `expired`, `revoked`, `wrong_usage`, `bad_signature` (a CertificateVerify
/// that does not verify), `refused` (valid, but the embedder's policy said no), `invalid` (any
/// other refusal).
pub const CLIENT_CERTIFICATE_RESULTS: [&str; 10] = [
    "verified",
    "absent",
    "missing",
    "unknown_ca",
    "expired",
    "revoked",
    "wrong_usage",
    "bad_signature",
    "refused",
    "invalid",
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All counters at zero.
    pub fn new() -> Self {
        Self {
            handshakes_full: AtomicU64::new(0),
            handshakes_resumed_id: AtomicU64::new(0),
            handshakes_resumed_ticket: AtomicU64::new(0),
            handshake_failures: AtomicU64::new(0),
            resumption_failures: std::array::from_fn(|_| AtomicU64::new(0)),
            alerts_sent: std::array::from_fn(|_| AtomicU64::new(0)),
            alerts_received: std::array::from_fn(|_| AtomicU64::new(0)),
            connections_open: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            client_certificates: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// A client certificate was checked, with `result` (one of
    /// [`CLIENT_CERTIFICATE_RESULTS`]).
    pub fn client_certificate(&self, result: &str) {
        if let Some(i) = CLIENT_CERTIFICATE_RESULTS.iter().position(|r| *r == result) {
            self.client_certificates[i].fetch_add(1, Relaxed);
        }
    }

    /// Client certificates checked with `result` so far.
    pub fn client_certificates(&self, result: &str) -> u64 {
        CLIENT_CERTIFICATE_RESULTS
            .iter()
            .position(|r| *r == result)
            .map_or(0, |i| self.client_certificates[i].load(Relaxed))
    }

    /// A handshake completed.
    pub fn handshake_done(&self, resumed: Option<ResumptionKind>) {
        match resumed {
            None => &self.handshakes_full,
            Some(ResumptionKind::SessionId) => &self.handshakes_resumed_id,
            Some(ResumptionKind::Ticket) => &self.handshakes_resumed_ticket,
        }
        .fetch_add(1, Relaxed);
    }

    /// A handshake failed (an alert was sent or received before it completed).
    pub fn handshake_failed(&self) {
        self.handshake_failures.fetch_add(1, Relaxed);
    }

    /// An offered resumption did not happen.
    pub fn resumption_failed(&self, reason: ResumptionFailure) {
        self.resumption_failures[failure_index(reason)].fetch_add(1, Relaxed);
    }

    /// We sent a fatal or warning alert.
    pub fn alert_sent(&self, alert: AlertDescription) {
        self.alerts_sent[usize::from(alert.to_u8())].fetch_add(1, Relaxed);
    }

    /// The peer sent an alert.
    pub fn alert_received(&self, alert: AlertDescription) {
        self.alerts_received[usize::from(alert.to_u8())].fetch_add(1, Relaxed);
    }

    /// A driver accepted a connection.
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }

    /// A driver closed a new connection at once: the connection limit was reached.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Relaxed);
    }

    /// A driver closed a connection.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    /// Full handshakes so far.
    pub fn full_handshakes(&self) -> u64 {
        self.handshakes_full.load(Relaxed)
    }

    /// Resumed handshakes so far, by kind.
    pub fn resumed_handshakes(&self, kind: ResumptionKind) -> u64 {
        match kind {
            ResumptionKind::SessionId => self.handshakes_resumed_id.load(Relaxed),
            ResumptionKind::Ticket => self.handshakes_resumed_ticket.load(Relaxed),
        }
    }

    /// Connections open now.
    pub fn open_connections(&self) -> i64 {
        self.connections_open.load(Relaxed)
    }

    /// Every counter's value now (each read on its own: not one atomic snapshot).
    pub fn snapshot(&self) -> MetricsSnapshot {
        let nonzero = |table: &[AtomicU64; 256]| {
            table
                .iter()
                .enumerate()
                .filter_map(|(code, c)| {
                    let n = c.load(Relaxed);
                    (n > 0).then(|| (AlertDescription::from_u8(code as u8), n))
                })
                .collect()
        };
        MetricsSnapshot {
            handshakes_full: self.handshakes_full.load(Relaxed),
            handshakes_session_id: self.handshakes_resumed_id.load(Relaxed),
            handshakes_ticket: self.handshakes_resumed_ticket.load(Relaxed),
            handshake_failures: self.handshake_failures.load(Relaxed),
            resumption_failures: FAILURES
                .iter()
                .enumerate()
                .map(|(i, f)| (*f, self.resumption_failures[i].load(Relaxed)))
                .collect(),
            alerts_sent: nonzero(&self.alerts_sent),
            alerts_received: nonzero(&self.alerts_received),
            connections_open: self.connections_open.load(Relaxed),
            connections_total: self.connections_total.load(Relaxed),
            connections_refused: self.connections_refused.load(Relaxed),
        }
    }
}

/// The counters of a [`Metrics`] at one moment, for rendering (the serving layer renders
/// them in the Prometheus text format).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Full handshakes completed.
    pub handshakes_full: u64,
    /// Handshakes that resumed by session ID.
    pub handshakes_session_id: u64,
    /// Handshakes that resumed by ticket.
    pub handshakes_ticket: u64,
    /// Handshakes that ended in an alert.
    pub handshake_failures: u64,
    /// Offered resumptions that did not happen, for every reason (zeros included).
    pub resumption_failures: Vec<(ResumptionFailure, u64)>,
    /// Alerts sent, by description (only those sent at least once).
    pub alerts_sent: Vec<(AlertDescription, u64)>,
    /// Alerts received, by description (only those received at least once).
    pub alerts_received: Vec<(AlertDescription, u64)>,
    /// Connections open now.
    pub connections_open: i64,
    /// Connections accepted.
    pub connections_total: u64,
    /// Connections closed at once at the connection limit.
    pub connections_refused: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snapshot_reads_every_counter() {
        let m = Metrics::new();
        m.handshake_done(None);
        m.handshake_done(Some(ResumptionKind::Ticket));
        m.resumption_failed(ResumptionFailure::UnknownTicketKey);
        m.alert_sent(AlertDescription::HandshakeFailure);
        m.connection_opened();
        m.connection_refused();
        let s = m.snapshot();
        assert_eq!(
            (
                s.handshakes_full,
                s.handshakes_ticket,
                s.handshakes_session_id
            ),
            (1, 1, 0)
        );
        assert!(s
            .resumption_failures
            .contains(&(ResumptionFailure::UnknownTicketKey, 1)));
        assert_eq!(s.resumption_failures.len(), FAILURES.len());
        assert_eq!(s.alerts_sent, [(AlertDescription::HandshakeFailure, 1)]);
        assert!(s.alerts_received.is_empty());
        assert_eq!(
            (
                s.connections_open,
                s.connections_total,
                s.connections_refused
            ),
            (1, 1, 1)
        );
    }
}

/// Where series are reported, in the Prometheus data model. Samples of one family (one
/// `name`) are reported one after another, each with the family's `help`; `labels` tell them
/// apart. Implemented by renderers (`reprise_serve::prometheus::PrometheusText`) and by tests.
pub trait MetricSink {
    /// A counter: a count that only grows while the process runs.
    fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64);
    /// A gauge: a value that goes up and down.
    fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64);
    /// A histogram: how many observations fell in each bucket.
    fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram<'_>);
}

/// A histogram's buckets as a [`MetricSink`] receives them.
#[derive(Clone, Copy, Debug)]
pub struct Histogram<'a> {
    /// Each bucket's upper bound, ascending (the unit is the family's, e.g. seconds); the
    /// observations above the last bound are counted in `counts`' extra last entry.
    pub upper_bounds: &'a [f64],
    /// Observations per bucket (not cumulative): one entry per bound, then one for the
    /// observations above the last bound.
    pub counts: &'a [u64],
    /// The sum of every observation.
    pub sum: f64,
}

impl Metrics {
    /// Reports the counters to `sink`: handshakes by kind, failures, resumption failures by
    /// reason, alerts by description, connections.
    pub fn report(&self, sink: &mut dyn MetricSink) {
        let s = self.snapshot();
        let name = "reprise_handshakes_total";
        let help = "Completed TLS handshakes by kind.";
        for (kind, n) in [
            ("full", s.handshakes_full),
            ("session_id", s.handshakes_session_id),
            ("ticket", s.handshakes_ticket),
        ] {
            sink.counter(name, help, &[("kind", kind)], n);
        }
        sink.counter(
            "reprise_handshake_failures_total",
            "Handshakes that ended in an alert.",
            &[],
            s.handshake_failures,
        );
        for (reason, n) in &s.resumption_failures {
            sink.counter(
                "reprise_resumption_failures_total",
                "Offered resumptions that did not happen, by reason.",
                &[("reason", reason.as_str())],
                *n,
            );
        }
        for (result, n) in CLIENT_CERTIFICATE_RESULTS
            .iter()
            .zip(&self.client_certificates)
        {
            sink.counter(
                "reprise_client_certificates_total",
                "Client certificates checked (servers that ask for them), by result.",
                &[("result", result)],
                n.load(Relaxed),
            );
        }
        for (name, help, table) in [
            (
                "reprise_alerts_sent_total",
                "Alerts sent, by description.",
                &s.alerts_sent,
            ),
            (
                "reprise_alerts_received_total",
                "Alerts received, by description.",
                &s.alerts_received,
            ),
        ] {
            for (alert, n) in table {
                sink.counter(name, help, &[("alert", &alert.to_string())], *n);
            }
        }
        sink.gauge(
            "reprise_connections_open",
            "Connections open now.",
            &[],
            s.connections_open as f64,
        );
        sink.counter(
            "reprise_connections_total",
            "Connections accepted.",
            &[],
            s.connections_total,
        );
        sink.counter(
            "reprise_connections_refused_total",
            "Connections closed at once because the server held its connection limit.",
            &[],
            s.connections_refused,
        );
    }
}
