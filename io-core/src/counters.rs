//! Counters of the serving core — what happens to served connections beyond the handshake:
//! backend failures by reason, clients closed for sending too slowly, and a graceful
//! shutdown's outcome. Relaxed atomics, shared by every worker (and by the backend streams
//! through [`crate::upstream::UpstreamOptions`]); reported by [`ServingCounters::report`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use reprise::metrics::MetricSink;

use crate::upstream::UpstreamFailure;

/// The reasons `reprise_backend_failures_total` is labelled with, in rendering order.
pub const BACKEND_FAILURE_REASONS: [&str; 7] = [
    "refused",
    "connect_error",
    "connect_timeout",
    "reset",
    "io_error",
    "silent",
    "closed_early",
];

/// The serving core's counters.
#[derive(Debug, Default)]
pub struct ServingCounters {
    backend_failures: [AtomicU64; BACKEND_FAILURE_REASONS.len()],
    slow_clients: AtomicU64,
    drain_cut_off: AtomicU64,
    memory_evictions: AtomicU64,
}

impl ServingCounters {
    /// All at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A connection's upstream (its backend) failed (counted once per upstream).
    pub fn upstream_failed(&self, failure: &UpstreamFailure) {
        let reason = failure.reason();
        if let Some(i) = BACKEND_FAILURE_REASONS.iter().position(|r| *r == reason) {
            self.backend_failures[i].fetch_add(1, Relaxed);
        }
    }

    /// Backend failures so far with `reason` (one of [`BACKEND_FAILURE_REASONS`]).
    pub fn backend_failures(&self, reason: &str) -> u64 {
        BACKEND_FAILURE_REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.backend_failures[i].load(Relaxed))
    }

    /// A client was closed for sending a message too slowly.
    pub fn slow_client(&self) {
        self.slow_clients.fetch_add(1, Relaxed);
    }

    /// Clients closed for sending too slowly so far.
    pub fn slow_clients(&self) -> u64 {
        self.slow_clients.load(Relaxed)
    }

    /// A connection was still busy when a graceful shutdown's grace period ended.
    pub fn cut_off_by_drain(&self) {
        self.drain_cut_off.fetch_add(1, Relaxed);
    }

    /// Connections cut off at the end of a graceful shutdown's grace period so far.
    pub fn drain_cut_off(&self) -> u64 {
        self.drain_cut_off.load(Relaxed)
    }

    /// An unfinished handshake was closed to keep its worker's unfinished handshakes within
    /// their memory cap (`ServerOptions::handshake_memory`).
    pub fn evicted_for_memory(&self) {
        self.memory_evictions.fetch_add(1, Relaxed);
    }

    /// Unfinished handshakes closed for memory so far.
    pub fn memory_evictions(&self) -> u64 {
        self.memory_evictions.load(Relaxed)
    }

    /// Reports the counters to `sink` (rendered by
    /// [`PrometheusText`](crate::prometheus::PrometheusText)).
    pub fn report(&self, sink: &mut dyn MetricSink) {
        for (reason, n) in BACKEND_FAILURE_REASONS.iter().zip(&self.backend_failures) {
            sink.counter(
                "reprise_backend_failures_total",
                "Backend connections that failed, by reason (all but closed_early end the \
                 client's connection without close_notify).",
                &[("reason", reason)],
                n.load(Relaxed),
            );
        }
        sink.counter(
            "reprise_slow_clients_total",
            "Connections closed because a message (a request, or bytes the backend had not \
             answered) was not whole within the timeout at the minimum rate.",
            &[],
            self.slow_clients(),
        );
        sink.counter(
            "reprise_handshake_memory_evictions_total",
            "Unfinished handshakes closed, oldest first, because their worker's unfinished \
             handshakes held more memory than allowed.",
            &[],
            self.memory_evictions(),
        );
        sink.counter(
            "reprise_drain_cut_off_total",
            "Connections still busy when a graceful shutdown's grace period ended.",
            &[],
            self.drain_cut_off(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_counts_on_its_own_line() {
        let c = ServingCounters::new();
        c.upstream_failed(&UpstreamFailure::Connect(
            std::io::ErrorKind::ConnectionRefused,
        ));
        c.upstream_failed(&UpstreamFailure::Io(std::io::ErrorKind::ConnectionReset));
        c.upstream_failed(&UpstreamFailure::Io(std::io::ErrorKind::ConnectionReset));
        c.slow_client();
        c.evicted_for_memory();
        let mut text = crate::prometheus::PrometheusText::new();
        c.report(&mut text);
        let text = text.finish();
        assert!(text.contains("reprise_backend_failures_total{reason=\"refused\"} 1\n"));
        assert!(text.contains("reprise_backend_failures_total{reason=\"reset\"} 2\n"));
        assert!(text.contains("reprise_backend_failures_total{reason=\"silent\"} 0\n"));
        assert!(text.contains("reprise_slow_clients_total 1\n"));
        assert!(text.contains("reprise_handshake_memory_evictions_total 1\n"));
        assert_eq!(c.backend_failures("reset"), 2);
    }
}
