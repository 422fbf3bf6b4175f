//! Counters an operator watches, shared by every connection and driver, rendered in the
//! Prometheus text format. The engine counts handshakes, resumption failures and alerts when
//! the config carries a [`Metrics`]; drivers count connections; stores and key rings report
//! their own figures through [`Metrics::render_with`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::codec::AlertDescription;
use crate::error::{ResumptionFailure, ResumptionKind};

const FAILURES: [ResumptionFailure; 9] = [
    ResumptionFailure::UnknownSession,
    ResumptionFailure::UnknownTicketKey,
    ResumptionFailure::Expired,
    ResumptionFailure::BadTicket,
    ResumptionFailure::EmsMismatch,
    ResumptionFailure::SuiteMismatch,
    ResumptionFailure::SniMismatch,
    ResumptionFailure::StoreUnavailable,
    ResumptionFailure::Declined,
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
    resumption_failures: [AtomicU64; 9],
    alerts_sent: [AtomicU64; 256],
    alerts_received: [AtomicU64; 256],
    connections_open: AtomicI64,
    connections_total: AtomicU64,
    connections_refused: AtomicU64,
}

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
        }
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

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        self.render_with(&[])
    }

    /// Like [`render`](Self::render), plus extra `(name, help, value)` gauges or counters
    /// from stores and key rings (e.g. cache hits, ticket-key rotations).
    pub fn render_with(&self, extra: &[(&str, &str, u64)]) -> String {
        let mut out = String::with_capacity(4096);
        let mut push = |name: &str, help: &str, kind: &str, body: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            out.push_str(&body);
        };
        let name = "reprise_handshakes_total";
        push(
            name,
            "Completed TLS handshakes by kind.",
            "counter",
            format!(
                "{name}{{kind=\"full\"}} {}\n{name}{{kind=\"session_id\"}} {}\n{name}{{kind=\"ticket\"}} {}\n",
                self.handshakes_full.load(Relaxed),
                self.handshakes_resumed_id.load(Relaxed),
                self.handshakes_resumed_ticket.load(Relaxed)
            ),
        );
        push(
            "reprise_handshake_failures_total",
            "Handshakes that ended in an alert.",
            "counter",
            format!(
                "reprise_handshake_failures_total {}\n",
                self.handshake_failures.load(Relaxed)
            ),
        );
        let mut body = String::new();
        for (i, f) in FAILURES.iter().enumerate() {
            let _ = writeln!(
                body,
                "reprise_resumption_failures_total{{reason=\"{}\"}} {}",
                f.as_str(),
                self.resumption_failures[i].load(Relaxed)
            );
        }
        push(
            "reprise_resumption_failures_total",
            "Offered resumptions that did not happen, by reason.",
            "counter",
            body,
        );
        for (metric, table, help) in [
            (
                "reprise_alerts_sent_total",
                &self.alerts_sent,
                "Alerts sent, by description.",
            ),
            (
                "reprise_alerts_received_total",
                &self.alerts_received,
                "Alerts received, by description.",
            ),
        ] {
            let mut body = String::new();
            for (code, counter) in table.iter().enumerate() {
                let n = counter.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        body,
                        "{metric}{{alert=\"{}\"}} {n}",
                        AlertDescription::from_u8(code as u8)
                    );
                }
            }
            push(metric, help, "counter", body);
        }
        push(
            "reprise_connections_open",
            "Connections open now.",
            "gauge",
            format!(
                "reprise_connections_open {}\n",
                self.connections_open.load(Relaxed)
            ),
        );
        push(
            "reprise_connections_total",
            "Connections accepted.",
            "counter",
            format!(
                "reprise_connections_total {}\n",
                self.connections_total.load(Relaxed)
            ),
        );
        push(
            "reprise_connections_refused_total",
            "Connections closed at once because the server held its connection limit.",
            "counter",
            format!(
                "reprise_connections_refused_total {}\n",
                self.connections_refused.load(Relaxed)
            ),
        );
        for (name, help, value) in extra {
            push(
                name,
                help,
                if name.ends_with("_total") {
                    "counter"
                } else {
                    "gauge"
                },
                format!("{name} {value}\n"),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_prometheus_text() {
        let m = Metrics::new();
        m.handshake_done(None);
        m.handshake_done(Some(ResumptionKind::Ticket));
        m.resumption_failed(ResumptionFailure::UnknownTicketKey);
        m.alert_sent(AlertDescription::HandshakeFailure);
        m.connection_opened();
        let text = m.render_with(&[("reprise_session_cache_hits_total", "Cache hits.", 7)]);
        assert!(text.contains("reprise_handshakes_total{kind=\"full\"} 1"));
        assert!(text.contains("reprise_handshakes_total{kind=\"ticket\"} 1"));
        assert!(text.contains("reprise_resumption_failures_total{reason=\"unknown-ticket-key\"} 1"));
        assert!(text.contains("reprise_alerts_sent_total{alert=\"handshake_failure\"} 1"));
        assert!(text.contains("reprise_connections_open 1"));
        assert!(text.contains("reprise_session_cache_hits_total 7"));
        assert!(text.contains("# TYPE reprise_session_cache_hits_total counter"));
    }
}
