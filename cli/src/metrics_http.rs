//! `reprise serve --metrics ADDR`: a small blocking HTTP/1.1 server on its own thread that
//! answers `GET /metrics` with the server's counters in the Prometheus text format
//! (version 0.0.4), `GET /healthz` with 200 while the server serves and 503 once it drains
//! (so a load balancer stops sending it clients), and 404 to anything else. One request per
//! connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use reprise::metrics::MetricSink;
use reprise::ServerConfig;
use reprise_fleet::keys::RingStatus;
use reprise_serve::counters::ServingCounters;
use reprise_serve::live::LiveConfig;
use reprise_serve::prometheus::PrometheusText;

use crate::serve::status::ServeStatus;

/// The followed fleet ring's status, registered when `build_config` makes it (a reload's
/// new one replaces the old): it reports key ages the ring itself does not know.
pub struct FleetMetrics {
    ring: Mutex<Option<Arc<RingStatus>>>,
}

/// This process's fleet parts.
pub static FLEET: FleetMetrics = FleetMetrics {
    ring: Mutex::new(None),
};

impl FleetMetrics {
    /// Registers the ring status `--ticket-keys-from` follows.
    pub fn set_ring(&self, ring: Arc<RingStatus>) {
        if let Ok(mut r) = self.ring.lock() {
            *r = Some(ring);
        }
    }

    fn report(&self, sink: &mut dyn MetricSink) {
        if let Some(ring) = self.ring.lock().ok().and_then(|r| r.clone()) {
            ring.report_metrics(reprise::unix_time(), sink);
        }
    }
}

/// Largest request head read before answering.
const MAX_REQUEST: usize = 8 * 1024;

/// The exposition: the engine's counters, the session store's series (the Redis store's
/// lookup latency among them), the ticket keys', the serving core's, the server's own
/// (reloads, certificate expiry) and the followed ring's.
pub fn render(config: &ServerConfig, counters: &ServingCounters, status: &ServeStatus) -> String {
    let mut text = PrometheusText::new();
    if let Some(metrics) = &config.metrics {
        metrics.report(&mut text);
    }
    if let Some(store) = &config.session_store {
        store.report_metrics(&mut text);
    }
    if let Some(keys) = &config.tickets {
        text.counter(
            "reprise_ticket_key_rotations_total",
            "Ticket-key rotations since start.",
            &[],
            keys.rotations(),
        );
        text.gauge(
            "reprise_ticket_keys",
            "Ticket keys in the ring now (encrypting and decrypt-only).",
            &[],
            keys.current().len() as f64,
        );
    }
    counters.report(&mut text);
    status.report(config, &mut text);
    FLEET.report(&mut text);
    text.finish()
}

/// Binds `addr` and serves the metrics of the configuration `live` holds (as reloads
/// replace it) on a background thread; returns the bound address (so `127.0.0.1:0` works).
pub fn spawn(
    addr: &str,
    live: Arc<LiveConfig>,
    counters: Arc<ServingCounters>,
    status: Arc<ServeStatus>,
) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("metrics bind {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for socket in listener.incoming().flatten() {
                if let Err(e) = answer(socket, &live.current(), &counters, &status) {
                    if std::env::var_os("REPRISE_DEBUG").is_some() {
                        eprintln!("metrics request: {e}");
                    }
                }
            }
        })
        .map_err(|e| format!("metrics thread: {e}"))?;
    Ok(bound)
}

fn answer(
    mut socket: TcpStream,
    config: &ServerConfig,
    counters: &ServingCounters,
    status: &ServeStatus,
) -> std::io::Result<()> {
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    socket.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        let n = socket.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(config, counters, status),
        ),
        ("GET" | "HEAD", "/healthz") if status.draining() => (
            "503 Service Unavailable",
            "text/plain; charset=utf-8",
            "draining\n".to_string(),
        ),
        ("GET" | "HEAD", "/healthz") => ("200 OK", "text/plain; charset=utf-8", "ok\n".into()),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: try /metrics or /healthz\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET /metrics\n".to_string(),
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(body.as_bytes());
    }
    socket.write_all(&response)?;
    socket.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_prometheus_text_and_404() {
        let mut config = ServerConfig::new();
        let metrics = Arc::new(reprise::metrics::Metrics::new());
        metrics.handshake_done(None);
        config.metrics = Some(metrics);
        config.session_store = Some(Arc::new(reprise::session::SessionCache::new(1 << 16, 300)));
        let status = Arc::new(ServeStatus::default());
        let live = Arc::new(LiveConfig::new(Arc::new(config)));
        let addr = spawn("127.0.0.1:0", live, Arc::default(), status.clone()).unwrap();
        let get = |path: &str| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let page = get("/metrics");
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains("reprise_handshakes_total{kind=\"full\"} 1"));
        assert!(page.contains("reprise_session_cache_misses_total 0"));
        assert!(page.contains("# TYPE reprise_session_cache_sessions gauge"));
        assert!(page.contains("reprise_reloads_total{result=\"failed\"} 0"));
        assert!(get("/").starts_with("HTTP/1.1 404"));
        assert!(get("/healthz").starts_with("HTTP/1.1 200 OK"));
        status.start_draining();
        assert!(get("/healthz").starts_with("HTTP/1.1 503"));
    }
}
