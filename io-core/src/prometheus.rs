//! The Prometheus text exposition (format 0.0.4): a [`MetricSink`] that renders every series
//! reported to it — the engine's counters ([`Metrics::report`](reprise::metrics::Metrics::report)),
//! a session store's, the serving layer's ([`ServingCounters`](crate::counters::ServingCounters)),
//! a fleet's key ring — with one `# HELP` and `# TYPE` per family.

use std::fmt::Write as _;

use reprise::metrics::{Histogram, MetricSink};

/// Renders the series reported to it as Prometheus text; [`finish`](Self::finish) returns it.
#[derive(Debug, Default)]
pub struct PrometheusText {
    out: String,
    /// The family whose header was written last: its samples follow without another.
    family: String,
}

impl PrometheusText {
    /// An empty exposition.
    pub fn new() -> Self {
        Self {
            out: String::with_capacity(4096),
            family: String::new(),
        }
    }

    /// The text so far.
    pub fn finish(self) -> String {
        self.out
    }

    fn header(&mut self, name: &str, help: &str, kind: &str) {
        if self.family != name {
            // Help text escapes backslashes and line feeds (format 0.0.4).
            let help = help.replace('\\', "\\\\").replace('\n', "\\n");
            let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            self.family.clear();
            self.family.push_str(name);
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let escaped = value
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{label}=\"{escaped}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

impl MetricSink for PrometheusText {
    fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        self.header(name, help, "counter");
        self.sample(name, labels, value);
    }

    fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.header(name, help, "gauge");
        self.sample(name, labels, value);
    }

    fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram<'_>) {
        self.header(name, help, "histogram");
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (i, n) in histogram.counts.iter().enumerate() {
            cumulative += n;
            let bound = match histogram.upper_bounds.get(i) {
                Some(bound) => bound.to_string(),
                None => "+Inf".to_string(),
            };
            self.sample(&bucket, &[("le", &bound)], cumulative);
        }
        self.sample(&format!("{name}_sum"), &[], histogram.sum);
        self.sample(&format!("{name}_count"), &[], cumulative);
    }
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
        let mut text = PrometheusText::new();
        m.report(&mut text);
        text.counter("reprise_session_cache_hits_total", "Cache hits.", &[], 7);
        let text = text.finish();
        assert!(text.contains("reprise_handshakes_total{kind=\"full\"} 1"));
        assert!(text.contains("reprise_handshakes_total{kind=\"ticket\"} 1"));
        assert!(text.contains("reprise_resumption_failures_total{reason=\"unknown-ticket-key\"} 1"));
        assert!(text.contains("reprise_alerts_sent_total{alert=\"handshake_failure\"} 1"));
        assert!(text.contains("reprise_connections_open 1"));
        assert!(text.contains("reprise_connections_refused_total 1"));
        assert!(text.contains("# TYPE reprise_connections_refused_total counter"));
        assert!(text.contains("reprise_session_cache_hits_total 7"));
        assert!(text.contains("# TYPE reprise_session_cache_hits_total counter"));
        // One header per family, however many samples it has.
        assert_eq!(
            text.matches("# TYPE reprise_handshakes_total counter")
                .count(),
            1
        );
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let mut text = PrometheusText::new();
        text.histogram(
            "lookup_seconds",
            "Lookups.",
            &Histogram {
                upper_bounds: &[0.001, 0.01],
                counts: &[2, 1, 1],
                sum: 0.5,
            },
        );
        let text = text.finish();
        assert!(text.contains("# TYPE lookup_seconds histogram\n"));
        assert!(text.contains("lookup_seconds_bucket{le=\"0.001\"} 2\n"));
        assert!(text.contains("lookup_seconds_bucket{le=\"0.01\"} 3\n"));
        assert!(text.contains("lookup_seconds_bucket{le=\"+Inf\"} 4\n"));
        assert!(text.contains("lookup_seconds_sum 0.5\n"));
        assert!(text.contains("lookup_seconds_count 4\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut text = PrometheusText::new();
        text.gauge("g", "A gauge.", &[("path", "a\"b\\c")], 1.5);
        assert!(text.finish().contains("g{path=\"a\\\"b\\\\c\"} 1.5\n"));
    }
}
