//! The driver test suite, run in-process against every driver: each driver's
//! `tests/` expands [`driver_suite!`] for its [`Driver`] type. It checks
//! suspended session lookups answered from another thread while other clients are served,
//! offloaded ServerKeyExchange signatures, backpressure with a client that does not read, the
//! connection limit, the handshake timeout and graceful shutdown. Every wait is bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reprise::metrics::Metrics;
use reprise::session::ClientSessionStore;
use reprise::session::SessionCache;
use reprise::session::SessionRecord;
use reprise::session::{Lookup, SessionStore};
use reprise::{ClientConfig, ClientConnection, Event, ResumptionKind, ServerConfig, Stream};
use reprise_apps::backend::{BackendFactory, BackendOptions};
use reprise_serve::app::{Flow, Handler, HandlerFactory};
use reprise_serve::driver::{Driver, Running};
use reprise_serve::failure_log::FailureLog;
use reprise_serve::upstream::UpstreamAddr;
use reprise_serve::{ListenerMode, ServerOptions};

/// Echoes every byte back.
#[derive(Default)]
struct Echo {
    pending: Vec<u8>,
}

impl Handler for Echo {
    fn on_data(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
    }

    fn poll_output(&mut self, out: &mut Vec<u8>, room: usize) -> Flow {
        let n = room.min(self.pending.len());
        out.extend_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Flow::Continue
    }

    fn wants_data(&self) -> bool {
        self.pending.len() < 64 * 1024
    }
}

struct EchoFactory;

impl HandlerFactory for EchoFactory {
    type Handler = Echo;
    fn new_handler(&self) -> Echo {
        Echo::default()
    }
}

fn server_config() -> ServerConfig {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let mut config = ServerConfig::new();
    config
        .add_certificate(vec![cert.der().to_vec()], &key.serialize_der())
        .unwrap();
    config
}

fn start<D: Driver>(config: ServerConfig, options: ServerOptions) -> D::Server {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    D::start(addr, Arc::new(config), Arc::new(EchoFactory), options).unwrap()
}

fn options<D: Driver>(workers: usize) -> ServerOptions {
    ServerOptions {
        workers,
        ..D::base_options()
    }
}

fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// One client handshake plus an echo round trip; returns how it resumed.
fn client_round_trip(addr: SocketAddr, config: &Arc<ClientConfig>) -> Option<ResumptionKind> {
    let conn = ClientConnection::new(config.clone(), "localhost").unwrap();
    let mut tls = Stream::new(conn, tcp(addr));
    tls.complete_handshake().unwrap();
    tls.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    tls.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    let resumed = tls.conn.negotiated().resumed;
    tls.conn.close();
    let _ = tls.flush();
    resumed
}

/// A remote-cache stand-in: `get` always answers `Pending`; `fetch` answers from another
/// thread after a delay, from an in-memory cache.
struct SlowStore {
    inner: SessionCache,
    delay: Duration,
    fetches: AtomicUsize,
    answered: Arc<AtomicUsize>,
}

impl SessionStore for SlowStore {
    fn get(&self, _id: &[u8], _now: u64) -> Lookup {
        Lookup::Pending
    }

    fn put(&self, id: &[u8], record: &SessionRecord, now: u64) {
        self.inner.put(id, record, now);
    }

    fn remove(&self, id: &[u8]) {
        self.inner.remove(id);
    }

    fn fetch(&self, id: &[u8], now: u64, done: Box<dyn FnOnce(Lookup) + Send>) {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let answer = self.inner.get(id, now);
        let delay = self.delay;
        let answered = self.answered.clone();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            answered.fetch_add(1, Ordering::SeqCst);
            done(answer);
        });
    }
}

/// Part of the suite.
pub fn suspended_lookup_is_answered_later_while_others_are_served<D: Driver>() {
    let answered = Arc::new(AtomicUsize::new(0));
    let store = Arc::new(SlowStore {
        inner: SessionCache::new(1 << 20, 300),
        delay: Duration::from_millis(1500),
        fetches: AtomicUsize::new(0),
        answered: answered.clone(),
    });
    let mut config = server_config();
    config.session_store = Some(store.clone());
    // One worker: the client served meanwhile shares the loop with the suspended one.
    let server = start::<D>(config, options::<D>(1));
    let addr = server.local_addr();

    let mut resuming = ClientConfig::dangerous_insecure();
    resuming.enable_tickets = false;
    resuming.session_store = Some(Arc::new(ClientSessionStore::new(4)));
    let resuming = Arc::new(resuming);
    assert_eq!(client_round_trip(addr, &resuming), None, "first is full");

    let t = std::thread::spawn({
        let resuming = resuming.clone();
        move || client_round_trip(addr, &resuming)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.fetches.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the server never asked the store"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // While that lookup is pending, another client completes a whole exchange.
    let other = Arc::new(ClientConfig::dangerous_insecure());
    assert_eq!(client_round_trip(addr, &other), None);
    assert_eq!(
        answered.load(Ordering::SeqCst),
        0,
        "the other client was served before the lookup was answered"
    );
    assert_eq!(t.join().unwrap(), Some(ResumptionKind::SessionId));
    assert_eq!(store.fetches.load(Ordering::SeqCst), 1);

    server.shutdown_handle().shutdown();
    server.join().unwrap();
}

/// Part of the suite.
pub fn a_lookup_answer_for_a_vanished_client_is_ignored<D: Driver>() {
    let answered = Arc::new(AtomicUsize::new(0));
    let store = Arc::new(SlowStore {
        inner: SessionCache::new(1 << 20, 300),
        delay: Duration::from_millis(300),
        fetches: AtomicUsize::new(0),
        answered: answered.clone(),
    });
    let mut config = server_config();
    config.session_store = Some(store.clone());
    let server = start::<D>(config, options::<D>(1));
    let addr = server.local_addr();
    let mut resuming = ClientConfig::dangerous_insecure();
    resuming.enable_tickets = false;
    resuming.session_store = Some(Arc::new(ClientSessionStore::new(4)));
    let resuming = Arc::new(resuming);
    client_round_trip(addr, &resuming);

    // Offer the session, then vanish before the store answers.
    let mut conn = ClientConnection::new(resuming.clone(), "localhost").unwrap();
    let mut sock = tcp(addr);
    let mut hello = vec![0u8; 4096];
    let n = conn.transmit(&mut hello);
    sock.write_all(&hello[..n]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.fetches.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(sock);
    while answered.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    // The loop is fine and serves the next client (whose lookup is answered too).
    assert_eq!(
        client_round_trip(addr, &resuming),
        Some(ResumptionKind::SessionId)
    );
    server.shutdown_handle().shutdown();
    server.join().unwrap();
}

/// Part of the suite.
pub fn a_client_that_does_not_read_is_not_read_either_and_gets_every_byte<D: Driver>() {
    let mut opts = options::<D>(1);
    opts.max_pending_output = 64 * 1024;
    let server = start::<D>(server_config(), opts);
    let addr = server.local_addr();
    let conn =
        ClientConnection::new(Arc::new(ClientConfig::dangerous_insecure()), "localhost").unwrap();
    let mut tls = Stream::new(conn, tcp(addr));
    tls.complete_handshake().unwrap();

    // Seal 16 MiB up front, write it from another thread, and start reading only later:
    // the server must stop reading (backpressure) rather than buffer it all, and resume.
    const TOTAL: usize = 16 << 20;
    let pattern: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let mut sealed = Vec::new();
    for chunk in pattern.chunks(16 * 1024) {
        tls.conn.send(chunk).unwrap();
        sealed.extend_from_slice(tls.conn.pending_output());
        let n = tls.conn.pending_output().len();
        tls.conn.consume_output(n);
    }
    let mut writer = tls.transport.try_clone().unwrap();
    let w = std::thread::spawn(move || writer.write_all(&sealed));
    std::thread::sleep(Duration::from_millis(500));
    let mut got = vec![0u8; TOTAL];
    tls.read_exact(&mut got).unwrap();
    w.join().unwrap().unwrap();
    assert!(got == pattern, "echo differs");
    server.shutdown_handle().shutdown();
    server.join().unwrap();
}

fn closed_within(sock: &mut TcpStream, limit: Duration) -> bool {
    sock.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    let start = Instant::now();
    loop {
        match sock.read(&mut buf) {
            Ok(0) | Err(_) if start.elapsed() <= limit + Duration::from_millis(200) => return true,
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// Part of the suite.
pub fn connection_limit_and_handshake_timeout<D: Driver>() {
    let mut opts = options::<D>(1);
    opts.max_connections = 2;
    opts.handshake_timeout = Duration::from_millis(800);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    opts.failure_log = Some(Arc::new(FailureLog::with_sink(
        100,
        Box::new(move |l| sink.lock().unwrap().push(l.to_string())),
    )));
    let mut config = server_config();
    let metrics = Arc::new(Metrics::new());
    config.metrics = Some(metrics.clone());
    let server = start::<D>(config, opts);
    let addr = server.local_addr();
    let started = Instant::now();
    let mut a = tcp(addr);
    let mut b = tcp(addr);
    // Both are accepted (the server counts them) before the third arrives.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.shutdown_handle().open_connections() < 2 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut c = tcp(addr);
    assert!(
        closed_within(&mut c, Duration::from_millis(500)),
        "third connection over the limit is closed at once"
    );
    // The refusal is counted and logged.
    assert_eq!(metrics.snapshot().connections_refused, 1);
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("connection refused: ")),
        "{:?}",
        lines.lock().unwrap()
    );
    // The silent ones are dropped by the handshake timeout (sweep granularity: 1/4).
    assert!(closed_within(&mut a, Duration::from_secs(3)));
    assert!(closed_within(&mut b, Duration::from_secs(1)));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(700), "{waited:?}");
    // Room again: a real client is served.
    let client = Arc::new(ClientConfig::dangerous_insecure());
    assert_eq!(client_round_trip(addr, &client), None);
    server.shutdown_handle().shutdown();
    server.join().unwrap();
}

/// Part of the suite.
pub fn graceful_shutdown_says_close_notify_and_waits_for_handshakes_in_flight<D: Driver>() {
    for mode in [ListenerMode::ReusePort, ListenerMode::Shared] {
        let mut opts = options::<D>(2);
        opts.listener = mode;
        opts.shutdown_grace = Duration::from_secs(1);
        let server = start::<D>(server_config(), opts);
        let addr = server.local_addr();
        let client = Arc::new(ClientConfig::dangerous_insecure());
        // An established connection...
        let conn = ClientConnection::new(client.clone(), "localhost").unwrap();
        let mut open = Stream::new(conn, tcp(addr));
        open.complete_handshake().unwrap();
        // ... and a handshake that never finishes.
        let mut stuck = tcp(addr);
        stuck.write_all(&[0x16, 0x03, 0x01]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.shutdown_handle().open_connections() < 2 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }

        let shutdown_at = Instant::now();
        let handle = server.shutdown_handle();
        let joiner = std::thread::spawn(move || {
            handle.shutdown();
            server.join()
        });
        // The established connection gets close_notify.
        let mut buf = [0u8; 64];
        assert_eq!(open.read(&mut buf).unwrap(), 0);
        assert!(
            open.take_events().contains(&Event::PeerClosed),
            "{mode:?}: close_notify received"
        );
        // The workers return once the grace period has passed for the stuck handshake.
        joiner.join().unwrap().unwrap();
        let took = shutdown_at.elapsed();
        assert!(took < Duration::from_secs(3), "{mode:?}: {took:?}");
        assert!(closed_within(&mut stuck, Duration::from_secs(1)));
        // Nobody listens any more.
        let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err();
        assert!(refused, "{mode:?}: still accepting after shutdown");
    }
}

/// Part of the suite.
pub fn many_workers_share_the_load<D: Driver>() {
    let config = server_config();
    let server = start::<D>(config, options::<D>(2));
    let addr = server.local_addr();
    let client = Arc::new(ClientConfig::dangerous_insecure());
    let results = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (client, results) = (client.clone(), results.clone());
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let r = client_round_trip(addr, &client);
                    results.lock().unwrap().push(r);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(results.lock().unwrap().len(), 20);
    server.shutdown_handle().shutdown();
    server.join().unwrap();
}

/// With `offload_signing`, every full handshake suspends until its ServerKeyExchange
/// signature comes back: from the signer threads (`sign_workers`), or made at once by the
/// worker without them. Either way, concurrent clients all complete.
/// Part of the suite.
pub fn offloaded_signatures_complete_full_handshakes<D: Driver>() {
    for sign_workers in [2, 0] {
        let mut config = server_config();
        config.offload_signing = true;
        let server = start::<D>(
            config,
            ServerOptions {
                sign_workers,
                ..options::<D>(1)
            },
        );
        let addr = server.local_addr();
        // No session store on the client: every handshake is a full one, so each signs.
        let client = Arc::new(ClientConfig::dangerous_insecure());
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let client = client.clone();
                std::thread::spawn(move || {
                    (0..4)
                        .map(|_| client_round_trip(addr, &client))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for t in threads {
            let resumed = t.join().unwrap();
            assert_eq!(resumed, vec![None; 4], "sign_workers {sign_workers}");
        }
        server.shutdown_handle().shutdown();
        server.join().unwrap();
    }
}

/// A TLS client over `sock` whose handshake has completed.
fn open_client(addr: SocketAddr) -> (ClientConnection, TcpStream) {
    let conn =
        ClientConnection::new(Arc::new(ClientConfig::dangerous_insecure()), "localhost").unwrap();
    let mut tls = Stream::new(conn, tcp(addr));
    tls.complete_handshake().unwrap();
    let Stream {
        conn, transport, ..
    } = tls;
    (conn, transport)
}

/// After the handshake, only progress is activity: a client that trickles the bytes of one
/// record, a byte at a time, is closed at the idle deadline, not kept by each byte.
pub fn a_trickled_record_is_closed_at_the_idle_deadline<D: Driver>() {
    let mut opts = options::<D>(1);
    opts.idle_timeout = Duration::from_millis(800);
    let server = start::<D>(server_config(), opts);
    let addr = server.local_addr();
    let (mut conn, mut sock) = open_client(addr);
    conn.send(b"a record that never ends").unwrap();
    let record = conn.pending_output().to_vec();
    let opened = Instant::now();
    sock.set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let mut closed_after = None;
    let mut buf = [0u8; 256];
    for byte in &record[..record.len() - 1] {
        if sock.write_all(&[*byte]).is_err() {
            closed_after = Some(opened.elapsed());
            break;
        }
        match sock.read(&mut buf) {
            Ok(0) => {
                closed_after = Some(opened.elapsed());
                break;
            }
            Err(e)
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut =>
            {
                closed_after = Some(opened.elapsed());
                break;
            }
            _ => {}
        }
    }
    let closed_after = closed_after.expect("the trickling client was never closed");
    // 0.8 s idle timeout, checked every 1/4 of it at most 50 ms apart: well before the
    // ~4.5 s the whole record would take.
    assert!(
        closed_after < Duration::from_millis(2000),
        "closed after {closed_after:?}"
    );
    server.shutdown_handle().shutdown();
    server.join().unwrap();
}

/// A client whose whole records keep coming is not idle: it outlives the idle timeout.
pub fn whole_records_keep_a_connection_open<D: Driver>() {
    let mut opts = options::<D>(1);
    opts.idle_timeout = Duration::from_millis(600);
    let server = start::<D>(server_config(), opts);
    let addr = server.local_addr();
    let conn =
        ClientConnection::new(Arc::new(ClientConfig::dangerous_insecure()), "localhost").unwrap();
    let mut tls = Stream::new(conn, tcp(addr));
    tls.complete_handshake().unwrap();
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(200));
        tls.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        tls.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
    }
    server.shutdown_handle().shutdown();
    server.join().unwrap();
}

/// A plaintext echo backend on 127.0.0.1: echoes what it reads, shuts its write side at the
/// end of what it is sent. `read_delay` slows its reading (a backend that does not keep up).
fn echo_backend(read_delay: Option<Duration>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    if let Some(delay) = read_delay {
                        std::thread::sleep(delay);
                    }
                    match sock.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if sock.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = sock.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

fn start_backend<D: Driver>(backend: SocketAddr, options: ServerOptions) -> D::Server {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut backend = BackendOptions::new(UpstreamAddr::Tcp(backend));
    backend.upstream.connect_timeout = Duration::from_secs(2);
    D::start(
        addr,
        Arc::new(server_config()),
        Arc::new(BackendFactory::new(backend)),
        options,
    )
    .unwrap()
}

/// A backend stream carries bytes both ways, byte for byte, and passes the client's
/// goodbye on as a half-close: the backend's answer still arrives, then our close_notify.
pub fn backend_streams_splice_both_ways<D: Driver>() {
    let server = start_backend::<D>(echo_backend(None), options::<D>(1));
    let addr = server.local_addr();
    let conn =
        ClientConnection::new(Arc::new(ClientConfig::dangerous_insecure()), "localhost").unwrap();
    let mut tls = Stream::new(conn, tcp(addr));
    tls.complete_handshake().unwrap();
    // 1 MiB through, read back while writing (the buffers are far smaller).
    let sent: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let mut got = Vec::with_capacity(sent.len());
    let mut buf = vec![0u8; 64 * 1024];
    let mut written = 0;
    for chunk in sent.chunks(16 * 1024) {
        tls.write_all(chunk).unwrap();
        written += chunk.len();
        // Keep at most 128 KiB in flight: the echo of the rest is on its way, so the read
        // returns.
        while got.len() + 128 * 1024 < written {
            let n = tls.read(&mut buf).unwrap();
            assert!(n > 0, "the stream ended early");
            got.extend_from_slice(&buf[..n]);
        }
    }
    // Our goodbye: the backend sees the end of its input, echoes the rest and ends too.
    tls.conn.close();
    tls.flush().unwrap();
    loop {
        let n = tls.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "the bytes came back changed");
    assert!(tls.take_events().contains(&Event::PeerClosed));
    server.shutdown_handle().shutdown();
    server.join().unwrap();
}

/// A backend that refuses the connection: the client's stream ends at once, without
/// close_notify (it was cut short, not complete), and without a hang.
pub fn a_refused_backend_ends_the_connection_without_close_notify<D: Driver>() {
    // A port that was free a moment ago: nothing listens there.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = start_backend::<D>(gone, options::<D>(1));
    let conn =
        ClientConnection::new(Arc::new(ClientConfig::dangerous_insecure()), "localhost").unwrap();
    let mut tls = Stream::new(conn, tcp(server.local_addr()));
    tls.complete_handshake().unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    assert_eq!(tls.read(&mut buf).unwrap_or(0), 0);
    assert!(!tls.take_events().contains(&Event::PeerClosed));
    assert!(!tls.conn.peer_closed(), "a truncation, not close_notify");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    server.shutdown_handle().shutdown();
    server.join().unwrap();
}

/// The largest size the kernel lets a TCP buffer autotune to (`net.ipv4.tcp_wmem` or
/// `tcp_rmem`, their third field), 6 MiB if it cannot be read.
fn tcp_buffer_max(sysctl: &str) -> usize {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/{sysctl}"))
        .ok()
        .and_then(|v| v.split_whitespace().nth(2).and_then(|m| m.parse().ok()))
        .unwrap_or(6 << 20)
}

/// A backend that accepts and never reads: the client's upload is stopped by back-pressure
/// (the server reads no more than it can pass on) instead of growing the server's memory.
pub fn a_slow_backend_slows_the_client_without_growing_memory<D: Driver>() {
    let server = start_backend::<D>(echo_backend(Some(Duration::from_secs(30))), options::<D>(1));
    let addr = server.local_addr();
    let conn =
        ClientConnection::new(Arc::new(ClientConfig::dangerous_insecure()), "localhost").unwrap();
    let mut tls = Stream::new(conn, tcp(addr));
    tls.complete_handshake().unwrap();
    tls.transport
        .set_write_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    // Write without reading until the writes block: what the server took is bounded by its
    // buffers (64 KiB each way, 256 KiB of TLS output) and the kernel's socket buffers.
    let chunk = vec![b'u'; 16 * 1024];
    let mut written = 0usize;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        match tls.write(&chunk) {
            Ok(n) => written += n,
            Err(_) => break,
        }
    }
    // The kernel's socket buffers hold the rest: the client's send buffer and the server's
    // receive buffer on the client connection, the server's send buffer and the backend's
    // receive buffer on the backend one, each at most its autotuning maximum. Beyond those
    // and the server's own bounded buffers, nothing may pile up.
    let kernel = 2 * (tcp_buffer_max("tcp_wmem") + tcp_buffer_max("tcp_rmem"));
    let bound = kernel + (1 << 20);
    assert!(
        written < bound,
        "the server took {written} bytes without passing them on (bound {bound})"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the client was never slowed down ({written} bytes taken)"
    );
    server.shutdown_handle().shutdown();
    server.join().unwrap();
}

/// Expands to one `#[test]` per test of the shared driver suite, for the [`Driver`] type
/// given (in a driver's `tests/`).
/// Part of the event-loop drivers' suite ([`event_loop_suite!`]): an unfinished handshake
/// that asks for memory while the worker's cap is used up is closed at once, and counted;
/// the ones that fit are kept.
pub fn unfinished_handshakes_over_the_memory_cap_are_evicted_and_counted<D: Driver>() {
    let mut opts = options::<D>(1);
    opts.handshake_memory = 64 * 1024;
    opts.handshake_timeout = Duration::from_secs(30);
    let counters = opts.counters.clone();
    let server = start::<D>(server_config(), opts);
    let addr = server.local_addr();
    // Half of a 16 KiB handshake record each: 12 of them hold about twice the cap.
    let mut half_record = vec![22u8, 3, 1];
    half_record.extend_from_slice(&16_384u16.to_be_bytes());
    half_record.extend_from_slice(&[1u8; 10 * 1024]);
    let mut held = Vec::new();
    for _ in 0..12 {
        let mut sock = tcp(addr);
        sock.write_all(&half_record).unwrap();
        held.push(sock);
        // In order: the oldest is the first sent.
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while counters.memory_evictions() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let evicted = counters.memory_evictions();
    assert!((1..12).contains(&evicted), "{evicted} evicted");
    // The last ones asked when the cap was used up and went; the first one stays.
    assert!(closed_within(&mut held[11], Duration::from_secs(1)));
    held[0]
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(held[0].read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
            || e.kind() == std::io::ErrorKind::TimedOut),
        "the first unfinished handshake, within the cap, is kept"
    );
    server.shutdown_handle().shutdown();
    server.join().unwrap();
}

/// The tests only event-loop drivers pass: a worker holding many connections bounds what
/// their unfinished handshakes hold (the threads driver has no worker to bound).
#[macro_export]
macro_rules! event_loop_suite {
    ($driver:ty) => {
        #[test]
        fn unfinished_handshakes_over_the_memory_cap_are_evicted_and_counted() {
            $crate::unfinished_handshakes_over_the_memory_cap_are_evicted_and_counted::<$driver>();
        }
    };
}

#[macro_export]
macro_rules! driver_suite {
    ($driver:ty) => {
        #[test]
        fn suspended_lookup_is_answered_later_while_others_are_served() {
            $crate::suspended_lookup_is_answered_later_while_others_are_served::<$driver>();
        }
        #[test]
        fn a_lookup_answer_for_a_vanished_client_is_ignored() {
            $crate::a_lookup_answer_for_a_vanished_client_is_ignored::<$driver>();
        }
        #[test]
        fn a_client_that_does_not_read_is_not_read_either_and_gets_every_byte() {
            $crate::a_client_that_does_not_read_is_not_read_either_and_gets_every_byte::<
                $driver,
            >();
        }
        #[test]
        fn connection_limit_and_handshake_timeout() {
            $crate::connection_limit_and_handshake_timeout::<$driver>();
        }
        #[test]
        fn graceful_shutdown_says_close_notify_and_waits_for_handshakes_in_flight() {
            $crate::graceful_shutdown_says_close_notify_and_waits_for_handshakes_in_flight::<
                $driver,
            >();
        }
        #[test]
        fn many_workers_share_the_load() {
            $crate::many_workers_share_the_load::<$driver>();
        }
        #[test]
        fn offloaded_signatures_complete_full_handshakes() {
            $crate::offloaded_signatures_complete_full_handshakes::<$driver>();
        }
        #[test]
        fn a_trickled_record_is_closed_at_the_idle_deadline() {
            $crate::a_trickled_record_is_closed_at_the_idle_deadline::<$driver>();
        }
        #[test]
        fn whole_records_keep_a_connection_open() {
            $crate::whole_records_keep_a_connection_open::<$driver>();
        }
        #[test]
        fn backend_streams_splice_both_ways() {
            $crate::backend_streams_splice_both_ways::<$driver>();
        }
        #[test]
        fn a_refused_backend_ends_the_connection_without_close_notify() {
            $crate::a_refused_backend_ends_the_connection_without_close_notify::<$driver>();
        }
        #[test]
        fn a_slow_backend_slows_the_client_without_growing_memory() {
            $crate::a_slow_backend_slows_the_client_without_growing_memory::<$driver>();
        }
    };
}
