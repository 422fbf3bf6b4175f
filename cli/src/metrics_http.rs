//! `reprise serve --metrics ADDR`: a small blocking HTTP/1.1 server on its own thread that
//! answers `GET /metrics` with the server's counters in the Prometheus text format
//! (version 0.0.4), and 404 to anything else. One request per connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use reprise::ServerConfig;
use reprise_fleet::keys::RingStatus;
use reprise_fleet::store::RedisSessionStore;
use reprise_serve::counters::ServingCounters;

/// The fleet parts of a server that report more than counters (the Redis store's latency
/// histogram, the followed ring's key ages), registered when `build_config` makes them; a
/// reload's new ones replace the old.
pub struct FleetMetrics {
    store: Mutex<Option<Arc<RedisSessionStore>>>,
    ring: Mutex<Option<Arc<RingStatus>>>,
}

/// This process's fleet parts.
pub static FLEET: FleetMetrics = FleetMetrics {
    store: Mutex::new(None),
    ring: Mutex::new(None),
};

impl FleetMetrics {
    /// Registers the session store `--session-store` made.
    pub fn set_store(&self, store: Arc<RedisSessionStore>) {
        if let Ok(mut s) = self.store.lock() {
            *s = Some(store);
        }
    }

    /// Registers the ring status `--ticket-keys-from` follows.
    pub fn set_ring(&self, ring: Arc<RingStatus>) {
        if let Ok(mut r) = self.ring.lock() {
            *r = Some(ring);
        }
    }

    fn render(&self, out: &mut String) {
        if let Some(store) = self.store.lock().ok().and_then(|s| s.clone()) {
            out.push_str(&store.prometheus_text());
        }
        if let Some(ring) = self.ring.lock().ok().and_then(|r| r.clone()) {
            let now = reprise::unix_time();
            out.push_str(&ring.prometheus_text(now));
        }
    }
}

/// Largest request head read before answering.
const MAX_REQUEST: usize = 8 * 1024;

/// The exposition: the engine's counters, the session store's series, the ticket keys' and
/// the fleet's (lookup latency, the followed ring).
pub fn render(config: &ServerConfig, counters: &ServingCounters) -> String {
    let mut extra: Vec<(&str, &str, u64)> = Vec::new();
    if let Some(store) = &config.session_store {
        extra.extend(store.metric_series());
    }
    if let Some(keys) = &config.tickets {
        extra.push((
            "reprise_ticket_key_rotations_total",
            "Ticket-key rotations since start.",
            keys.rotations(),
        ));
        extra.push((
            "reprise_ticket_keys",
            "Ticket keys in the ring now (encrypting and decrypt-only).",
            keys.current().len() as u64,
        ));
    }
    let mut out = match &config.metrics {
        Some(m) => reprise_serve::prometheus::render(&m.snapshot(), &extra),
        None => String::new(),
    };
    out.push_str(&counters.prometheus_text());
    FLEET.render(&mut out);
    out
}

/// Binds `addr` and serves the metrics of `config` on a background thread; returns the bound
/// address (so `127.0.0.1:0` works).
pub fn spawn(
    addr: &str,
    config: Arc<ServerConfig>,
    counters: Arc<ServingCounters>,
) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("metrics bind {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for socket in listener.incoming().flatten() {
                if let Err(e) = answer(socket, &config, &counters) {
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
            render(config, counters),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: try /metrics\n".to_string(),
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
        let addr = spawn("127.0.0.1:0", Arc::new(config), Arc::default()).unwrap();
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
        assert!(get("/").starts_with("HTTP/1.1 404"));
    }
}
