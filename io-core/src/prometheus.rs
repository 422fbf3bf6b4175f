//! The Prometheus text exposition (format 0.0.4) of a server's counters: the engine's
//! ([`reprise::metrics::MetricsSnapshot`]) and the extra series stores and key rings report.

use std::fmt::Write as _;

use reprise::metrics::MetricsSnapshot;

/// Renders `snapshot`, then each `(name, help, value)` of `extra` (names ending in `_total`
/// are counters, the rest gauges).
pub fn render(snapshot: &MetricsSnapshot, extra: &[(&str, &str, u64)]) -> String {
    let mut out = String::with_capacity(4096);
    let mut push = |name: &str, help: &str, kind: &str, body: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        out.push_str(body);
    };
    let name = "reprise_handshakes_total";
    push(
        name,
        "Completed TLS handshakes by kind.",
        "counter",
        &format!(
            "{name}{{kind=\"full\"}} {}\n{name}{{kind=\"session_id\"}} {}\n{name}{{kind=\"ticket\"}} {}\n",
            snapshot.handshakes_full, snapshot.handshakes_session_id, snapshot.handshakes_ticket
        ),
    );
    push(
        "reprise_handshake_failures_total",
        "Handshakes that ended in an alert.",
        "counter",
        &format!(
            "reprise_handshake_failures_total {}\n",
            snapshot.handshake_failures
        ),
    );
    let mut body = String::new();
    for (reason, n) in &snapshot.resumption_failures {
        let _ = writeln!(
            body,
            "reprise_resumption_failures_total{{reason=\"{}\"}} {n}",
            reason.as_str()
        );
    }
    push(
        "reprise_resumption_failures_total",
        "Offered resumptions that did not happen, by reason.",
        "counter",
        &body,
    );
    for (metric, table, help) in [
        (
            "reprise_alerts_sent_total",
            &snapshot.alerts_sent,
            "Alerts sent, by description.",
        ),
        (
            "reprise_alerts_received_total",
            &snapshot.alerts_received,
            "Alerts received, by description.",
        ),
    ] {
        let mut body = String::new();
        for (alert, n) in table {
            let _ = writeln!(body, "{metric}{{alert=\"{alert}\"}} {n}");
        }
        push(metric, help, "counter", &body);
    }
    for (name, help, kind, value) in [
        (
            "reprise_connections_open",
            "Connections open now.",
            "gauge",
            snapshot.connections_open.to_string(),
        ),
        (
            "reprise_connections_total",
            "Connections accepted.",
            "counter",
            snapshot.connections_total.to_string(),
        ),
        (
            "reprise_connections_refused_total",
            "Connections closed at once because the server held its connection limit.",
            "counter",
            snapshot.connections_refused.to_string(),
        ),
    ] {
        push(name, help, kind, &format!("{name} {value}\n"));
    }
    for (name, help, value) in extra {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        push(name, help, kind, &format!("{name} {value}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise::metrics::Metrics;
    use reprise::AlertDescription;
    use reprise::{ResumptionFailure, ResumptionKind};

    #[test]
    fn counters_render_in_prometheus_text() {
        let m = Metrics::new();
        m.handshake_done(None);
        m.handshake_done(Some(ResumptionKind::Ticket));
        m.resumption_failed(ResumptionFailure::UnknownTicketKey);
        m.alert_sent(AlertDescription::HandshakeFailure);
        m.connection_opened();
        m.connection_refused();
        let text = render(
            &m.snapshot(),
            &[("reprise_session_cache_hits_total", "Cache hits.", 7)],
        );
        assert!(text.contains("reprise_handshakes_total{kind=\"full\"} 1"));
        assert!(text.contains("reprise_handshakes_total{kind=\"ticket\"} 1"));
        assert!(text.contains("reprise_resumption_failures_total{reason=\"unknown-ticket-key\"} 1"));
        assert!(text.contains("reprise_alerts_sent_total{alert=\"handshake_failure\"} 1"));
        assert!(text.contains("reprise_connections_open 1"));
        assert!(text.contains("reprise_connections_refused_total 1"));
        assert!(text.contains("# TYPE reprise_connections_refused_total counter"));
        assert!(text.contains("reprise_session_cache_hits_total 7"));
        assert!(text.contains("# TYPE reprise_session_cache_hits_total counter"));
    }
}
