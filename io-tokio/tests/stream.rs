//! reprise-tls-tokio over real loopback sockets: curl fetches twice and resumes by session ID,
//! the engine's client by ticket, a lookup that answers after 50 ms stalls only its own handshake, close_notify
//! both ways, and a peer that vanishes without close_notify reads as UnexpectedEof.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use reprise::session::{Lookup, SessionCache, SessionRecord, SessionStore};
use reprise::{ClientConfig, ClientConnection, Inbound, ServerConfig};
use reprise_tokio::TlsAcceptor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Pki {
    cert_der: Vec<u8>,
    config: Arc<ServerConfig>,
}

fn pki(store: Option<Arc<dyn SessionStore>>) -> Pki {
    pki_for("localhost", store)
}

fn pki_for(name: &str, store: Option<Arc<dyn SessionStore>>) -> Pki {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut builder = ServerConfig::builder()
        .certificate_der(vec![cert.der().to_vec()], &key.serialize_der())
        .alpn(["http/1.1"]);
    if let Some(store) = store {
        builder = builder.session_store(store);
    }
    Pki {
        cert_der: cert.der().to_vec(),
        config: builder.build().unwrap(),
    }
}

/// Serves a one-response HTTP page saying how the handshake resumed, on `listener`.
async fn serve_pages(listener: TcpListener, acceptor: TlsAcceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let mut tls = acceptor.accept(tcp).await?;
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = tls.read(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                head.extend_from_slice(&buf[..n]);
            }
            let body = format!("resumed: {:?}\n", tls.negotiated().resumed);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            tls.write_all(response.as_bytes()).await?;
            tls.shutdown().await?;
            Ok::<(), std::io::Error>(())
        });
    }
}

fn curl(url: &str, extra: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["30", "curl", "-sk", "--tls-max", "1.2", "--tlsv1.2"])
        .args(extra)
        .args([url, url])
        .stdin(Stdio::null())
        .output()
        .expect("curl is installed by scripts/install-test-deps.sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_fetches_twice_and_resumes() {
    let pki = pki(None);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("https://127.0.0.1:{}/", addr.port());
    let server = tokio::spawn(serve_pages(listener, TlsAcceptor::from(pki.config.clone())));
    let twice = tokio::task::spawn_blocking({
        let url = url.clone();
        move || curl(&url, &[])
    })
    .await
    .unwrap();
    // curl's OpenSSL offers no ticket for TLS 1.2 here: it resumes by session ID.
    assert_eq!(twice, "resumed: None\nresumed: Some(SessionId)\n");
    let uncached = tokio::task::spawn_blocking(move || curl(&url, &["--no-sessionid"]))
        .await
        .unwrap();
    assert_eq!(uncached, "resumed: None\nresumed: None\n");
    // The engine's own client offers tickets: the second connection resumes by ticket.
    let client_config = ClientConfig::builder()
        .root(pki.cert_der.clone().into())
        .build()
        .unwrap();
    let kinds = tokio::task::spawn_blocking(move || {
        (0..2)
            .map(|_| {
                client_handshake(addr, &client_config)
                    .1
                    .negotiated()
                    .resumed
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(kinds, vec![None, Some(reprise::ResumptionKind::Ticket)]);
    server.abort();
}

/// A session store that answers from another thread, 50 ms after the test opens its gate
/// (at most 10 s after the lookup).
struct SlowStore {
    cache: SessionCache,
    gate: Arc<(Mutex<bool>, Condvar)>,
    fetches: Arc<AtomicUsize>,
}

impl SessionStore for SlowStore {
    fn get(&self, _id: &[u8], _now: u64) -> Lookup {
        Lookup::Pending
    }
    fn put(&self, id: &[u8], record: &SessionRecord, now: u64) {
        self.cache.put(id, record, now)
    }
    fn remove(&self, id: &[u8]) {
        self.cache.remove(id)
    }
    fn fetch(&self, id: &[u8], now: u64, done: Box<dyn FnOnce(Lookup) + Send>) {
        let answer = self.cache.get(id, now);
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.clone();
        std::thread::spawn(move || {
            let (open, opened) = &*gate;
            let guard = open.lock().unwrap();
            let _guard = opened
                .wait_timeout_while(guard, Duration::from_secs(10), |open| !*open)
                .unwrap();
            std::thread::sleep(Duration::from_millis(50));
            done(answer);
        });
    }
}

/// A blocking client handshake with the engine over std sockets; returns how it resumed.
fn client_handshake(
    addr: std::net::SocketAddr,
    config: &Arc<ClientConfig>,
) -> (std::net::TcpStream, ClientConnection) {
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut conn = ClientConnection::new(config.clone(), "localhost").unwrap();
    let mut buf = vec![0u8; reprise::MAX_RECORD_LEN];
    let mut filled = 0;
    while conn.is_handshaking() {
        tcp.write_all(conn.pending_output()).unwrap();
        let n = conn.pending_output().len();
        conn.consume_output(n);
        let got = tcp.read(&mut buf[filled..]).unwrap();
        assert!(got > 0, "server closed during the handshake");
        filled += got;
        let mut inbound = Inbound::new(&mut buf[..filled]);
        while conn.next_plaintext(&mut inbound, now()).unwrap().is_some() {}
        let used = inbound.consumed();
        buf.copy_within(used..filled, 0);
        filled -= used;
    }
    tcp.write_all(conn.pending_output()).unwrap();
    let n = conn.pending_output().len();
    conn.consume_output(n);
    (tcp, conn)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_session_lookup_stalls_only_its_own_handshake() {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let fetches = Arc::new(AtomicUsize::new(0));
    let store: Arc<dyn SessionStore> = Arc::new(SlowStore {
        cache: SessionCache::new(1 << 20, 600),
        gate: gate.clone(),
        fetches: fetches.clone(),
    });
    let pki = pki(Some(store));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_pages(listener, TlsAcceptor::from(pki.config.clone())));
    let client_config = ClientConfig::builder()
        .root(pki.cert_der.clone().into())
        .without_tickets()
        .build()
        .unwrap();
    let (resumed, waited) = tokio::task::spawn_blocking(move || {
        // A session to resume (a first hello offers no ID: no lookup).
        let (_tcp, first) = client_handshake(addr, &client_config);
        assert!(first.negotiated().resumed.is_none());
        // The resumption's lookup waits at the gate; full handshakes meanwhile must finish
        // (were the runtime blocked, they could not, and the gate would stay shut).
        let resuming = std::thread::spawn({
            let config = client_config.clone();
            move || {
                let start = Instant::now();
                let (_tcp, conn) = client_handshake(addr, &config);
                (conn.negotiated().resumed, start.elapsed())
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while fetches.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "the resumption asked the store"
        );
        let fresh = ClientConfig::builder()
            .root(pki.cert_der.clone().into())
            .without_resumption()
            .build()
            .unwrap();
        for _ in 0..3 {
            let (_tcp, conn) = client_handshake(addr, &fresh);
            assert!(conn.negotiated().resumed.is_none());
        }
        assert!(
            !resuming.is_finished(),
            "the lookup was answered before the gate opened"
        );
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        resuming.join().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(resumed, Some(reprise::ResumptionKind::SessionId));
    assert!(waited >= Duration::from_millis(50), "{waited:?}");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_notify_both_ways_and_truncation_is_unexpected_eof() {
    let pki = pki(None);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(pki.config.clone());
    let client_config = ClientConfig::builder()
        .root(pki.cert_der.clone().into())
        .build()
        .unwrap();
    // 1. The client says close_notify: the server reads the end of the stream, then says
    //    its own.
    let server = tokio::spawn({
        let acceptor = acceptor.clone();
        async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await.unwrap();
            tls.shutdown().await.unwrap();
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut truncated = Vec::new();
            let err = tls.read_to_end(&mut truncated).await.unwrap_err();
            (got, truncated, err.kind())
        }
    });
    let client_config2 = client_config.clone();
    tokio::task::spawn_blocking(move || {
        let (mut tcp, mut conn) = client_handshake(addr, &client_config);
        conn.send(b"hello").unwrap();
        conn.close();
        tcp.write_all(conn.pending_output()).unwrap();
        let n = conn.pending_output().len();
        conn.consume_output(n);
        let mut buf = vec![0u8; reprise::MAX_RECORD_LEN];
        let mut filled = 0;
        while !conn.peer_closed() {
            let got = tcp.read(&mut buf[filled..]).unwrap();
            assert!(got > 0, "no close_notify from the server");
            filled += got;
            let mut inbound = Inbound::new(&mut buf[..filled]);
            while conn.next_plaintext(&mut inbound, now()).unwrap().is_some() {}
            let used = inbound.consumed();
            buf.copy_within(used..filled, 0);
            filled -= used;
        }
        // 2. A client that sends data and vanishes without close_notify.
        let (mut tcp, mut conn) = client_handshake(addr, &client_config2);
        conn.send(b"partial").unwrap();
        tcp.write_all(conn.pending_output()).unwrap();
        drop(tcp);
    })
    .await
    .unwrap();
    let (got, truncated, kind) = server.await.unwrap();
    assert_eq!(got, b"hello");
    assert_eq!(truncated, b"partial");
    assert_eq!(kind, std::io::ErrorKind::UnexpectedEof);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lazy_acceptor_picks_the_config_by_the_name_asked_for() {
    let (a, b) = (pki_for("a.localhost", None), pki(None));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (a_config, b_config) = (a.config.clone(), b.config.clone());
    let server = tokio::spawn(async move {
        let mut names = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let start = reprise_tokio::LazyConfigAcceptor::new(tcp).await.unwrap();
            let name = start.client_hello().server_name().map(str::to_owned);
            let config = if name.as_deref() == Some("a.localhost") {
                a_config.clone()
            } else {
                b_config.clone()
            };
            let mut tls = start.into_stream(config).await.unwrap();
            names.push((name, tls.negotiated().resumed));
            tls.shutdown().await.unwrap();
        }
        names
    });
    // Each client trusts only one of the two certificates: a handshake completes only if
    // the server chose that one.
    let (a_der, b_der) = (a.cert_der.clone(), b.cert_der.clone());
    tokio::task::spawn_blocking(move || {
        for (name, der) in [("a.localhost", a_der), ("localhost", b_der)] {
            let config = ClientConfig::builder().root(der.into()).build().unwrap();
            let mut tcp = std::net::TcpStream::connect(addr).unwrap();
            let mut conn = ClientConnection::new(config, name).unwrap();
            let mut buf = vec![0u8; reprise::MAX_RECORD_LEN];
            let mut filled = 0;
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            while conn.is_handshaking() {
                tcp.write_all(conn.pending_output()).unwrap();
                let n = conn.pending_output().len();
                conn.consume_output(n);
                let got = tcp.read(&mut buf[filled..]).unwrap();
                assert!(got > 0);
                filled += got;
                let mut inbound = Inbound::new(&mut buf[..filled]);
                while conn.next_plaintext(&mut inbound, now()).unwrap().is_some() {}
                let used = inbound.consumed();
                buf.copy_within(used..filled, 0);
                filled -= used;
            }
            let _ = tcp.write_all(conn.pending_output());
        }
    })
    .await
    .unwrap();
    let names = server.await.unwrap();
    assert_eq!(
        names,
        vec![
            (Some("a.localhost".to_string()), None),
            (Some("localhost".to_string()), None)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_resumes_by_ticket_and_by_session_id() {
    let pki = pki(None);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_pages(listener, TlsAcceptor::from(pki.config.clone())));
    for (config, kind) in [
        (
            ClientConfig::builder().root(pki.cert_der.clone().into()),
            reprise::ResumptionKind::Ticket,
        ),
        (
            ClientConfig::builder()
                .root(pki.cert_der.clone().into())
                .without_tickets(),
            reprise::ResumptionKind::SessionId,
        ),
    ] {
        let connector = reprise_tokio::TlsConnector::from(config.build().unwrap());
        let mut seen = Vec::new();
        for _ in 0..2 {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut tls = connector
                .connect(reprise_tokio::server_name("localhost").unwrap(), tcp)
                .await
                .unwrap();
            tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
                .await
                .unwrap();
            let mut page = Vec::new();
            tls.read_to_end(&mut page).await.unwrap();
            let page = String::from_utf8(page).unwrap();
            assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
            // The server's certificate is the client stream's peer in a full handshake;
            // a resumption sends none.
            match tls.negotiated().resumed {
                None => assert_eq!(tls.peer_certificates(), Some(&[pki.cert_der.clone()][..])),
                Some(_) => assert_eq!(tls.peer_certificates(), None),
            }
            // The server says how it resumed; the client sees the same.
            seen.push((
                tls.negotiated().resumed,
                page.lines().last().map(str::to_owned),
            ));
        }
        assert_eq!(seen[0], (None, Some("resumed: None".into())));
        assert_eq!(
            seen[1],
            (Some(kind), Some(format!("resumed: Some({kind:?})")))
        );
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_talks_to_openssl_s_server_and_refuses_a_stranger() {
    let dir = std::env::temp_dir().join(format!("reprise-tokio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = StopOnDrop(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-tls1_2", "-www", "-accept"])
            .arg(port.to_string())
            .arg("-cert")
            .arg(dir.join("cert.pem"))
            .arg("-key")
            .arg(dir.join("key.pem"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl is installed by scripts/install-test-deps.sh"),
    );
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let trusted = reprise_tokio::TlsConnector::from(
        ClientConfig::builder()
            .root(cert.der().clone())
            .build()
            .unwrap(),
    );
    let mut resumed = Vec::new();
    for _ in 0..2 {
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut tls = trusted
            .connect(reprise_tokio::server_name("localhost").unwrap(), tcp)
            .await
            .unwrap();
        tls.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut page = Vec::new();
        let _ = tls.read_to_end(&mut page).await;
        assert!(String::from_utf8_lossy(&page).contains("HTTP/1.0 200 ok"));
        resumed.push(tls.negotiated().resumed);
    }
    assert_eq!(resumed, vec![None, Some(reprise::ResumptionKind::Ticket)]);
    // A client that trusts another root refuses this server's certificate.
    let other = rcgen::KeyPair::generate().unwrap();
    let other = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&other)
        .unwrap();
    let stranger = reprise_tokio::TlsConnector::from(
        ClientConfig::builder()
            .root(other.der().clone())
            .build()
            .unwrap(),
    );
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let err = match stranger
        .connect(reprise_tokio::server_name("localhost").unwrap(), tcp)
        .await
    {
        Ok(_) => panic!("an untrusted certificate was accepted"),
        Err(e) => e,
    };
    assert!(
        err.to_string().contains("server certificate rejected"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stops a peer process by its PID whatever happens to the test.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offloaded_signatures_are_made_on_the_blocking_pool() {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = ServerConfig::builder()
        .certificate_der(vec![cert.der().to_vec()], &key.serialize_der())
        .offload_signing()
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_pages(listener, TlsAcceptor::from(config)));
    let connector = reprise_tokio::TlsConnector::from(
        ClientConfig::builder()
            .root(cert.der().clone())
            .without_resumption()
            .build()
            .unwrap(),
    );
    for _ in 0..3 {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tls = connector
            .connect(reprise_tokio::server_name("localhost").unwrap(), tcp)
            .await
            .unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut page = Vec::new();
        tls.read_to_end(&mut page).await.unwrap();
        assert!(
            page.ends_with(b"resumed: None\n"),
            "{}",
            String::from_utf8_lossy(&page)
        );
        assert!(tls.negotiated().group.is_some(), "a full handshake, signed");
    }
    server.abort();
}

/// RFC 5246 §7.2.2: a handshake that fails with our fatal alert closes at once. The client
/// reads the alert and then our end of stream without waiting; the accept future ends with
/// the error as soon as the client closes too; a client that keeps writing still reads the
/// alert whole; and one that never closes is given up after the linger (a second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_handshake_sends_its_alert_then_closes_at_once() {
    let pki = pki(None);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(pki.config.clone());
    let (ended_tx, mut ended_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, ended) = (acceptor.clone(), ended_tx.clone());
            tokio::spawn(async move {
                let result = acceptor.accept(tcp).await;
                let _ = ended.send((result.is_err(), Instant::now()));
            });
        }
    });
    for keep_writing in [false, true] {
        let (got, eof_gap, closed_at) = tokio::task::spawn_blocking(move || {
            let mut sock = std::net::TcpStream::connect(addr).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            sock.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
            let writer = keep_writing.then(|| {
                let mut sock = sock.try_clone().unwrap();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        if sock.write_all(&[0x17; 512]).is_err() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
            });
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            let mut first = None;
            let eof = loop {
                match sock.read(&mut buf) {
                    Ok(0) => break Instant::now(),
                    Ok(n) => {
                        first.get_or_insert_with(Instant::now);
                        got.extend_from_slice(&buf[..n]);
                    }
                    Err(e) => panic!("no clean end of stream after the alert: {e} ({got:02x?})"),
                }
            };
            if let Some(w) = writer {
                w.join().unwrap();
            }
            drop(sock);
            (got, eof - first.expect("an alert"), Instant::now())
        })
        .await
        .unwrap();
        assert_eq!(got.len(), 7, "one alert record: {got:02x?}");
        assert_eq!((got[0], got[5]), (21, 2), "a fatal alert: {got:02x?}");
        assert!(
            eof_gap < Duration::from_millis(50),
            "end of stream {eof_gap:?} after the alert"
        );
        let (failed, ended) = tokio::time::timeout(Duration::from_secs(5), ended_rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(failed);
        let after_close = ended.saturating_duration_since(closed_at);
        assert!(
            after_close < Duration::from_millis(500),
            "the accept future ended {after_close:?} after the client closed"
        );
    }
    // A client that reads the alert but never closes: the future ends after the linger.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    silent.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let (failed, ended) = tokio::time::timeout(Duration::from_secs(5), ended_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(failed);
    let took = ended - started;
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "given up after {took:?}"
    );
    drop(silent);
}

/// Server names are checked before any connection is made: a URL (or a host with a port) is
/// refused locally with an error that says what to give instead.
#[test]
fn a_url_as_the_server_name_fails_locally_with_a_clear_error() {
    for (given, says) in [
        ("https://example.com/", "URL"),
        ("example.com:443", "without a port"),
        ("exa mple.com", "DNS name or an IP address"),
    ] {
        let e = reprise_tokio::server_name(given).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains(says), "{given}: {e}");
    }
    assert!(reprise_tokio::server_name("localhost").is_ok());
    assert!(reprise_tokio::server_name("127.0.0.1").is_ok());
    assert!(reprise_tokio::server_name("::1").is_ok());
}

/// A client that connects and never finishes its handshake is dropped by the acceptor's
/// handshake timeout (and by the connector's, for a server that never answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_dropped_by_the_handshake_timeout() {
    let pki = pki(None);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor =
        TlsAcceptor::from(pki.config.clone()).handshake_timeout(Some(Duration::from_millis(300)));
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let started = Instant::now();
        let result = acceptor.accept(tcp).await;
        (result.err().map(|e| e.kind()), started.elapsed())
    });
    let silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (kind, took) = server.await.unwrap();
    assert_eq!(kind, Some(std::io::ErrorKind::TimedOut));
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    drop(silent);
    // The default is on: ten seconds.
    assert_eq!(
        reprise_tokio::DEFAULT_HANDSHAKE_TIMEOUT,
        Duration::from_secs(10)
    );
    // A server that accepts and never answers: the connector gives up too.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = tokio::net::TcpStream::connect(mute.local_addr().unwrap())
        .await
        .unwrap();
    let connector = reprise_tokio::TlsConnector::from(
        reprise::ClientConfig::builder()
            .dangerous_accept_any_certificate()
            .build()
            .unwrap(),
    )
    .handshake_timeout(Some(Duration::from_millis(300)));
    let started = Instant::now();
    let err = connector
        .connect(reprise_tokio::server_name("localhost").unwrap(), tcp)
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A certificate chain (DER, leaf first) and its key (PKCS#8 DER).
type ChainAndKey = (Vec<Vec<u8>>, Vec<u8>);

/// A client CA and two client certificates it issued (`CN=device-17`, `CN=intruder`).
fn client_pki() -> (Vec<u8>, [ChainAndKey; 2]) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Tokio Client CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let client = |name: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, name);
        leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        (vec![cert.der().to_vec()], key.serialize_der())
    };
    (
        ca_cert.der().to_vec(),
        [client("device-17"), client("intruder")],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_policy_approves_clients_and_refuses_others_with_access_denied() {
    let (ca, [device, intruder]) = client_pki();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut roots = reprise::RootStore::new();
    roots.add_der(&ca).unwrap();
    let config = ServerConfig::builder()
        .certificate_der(vec![cert.der().to_vec()], &key.serialize_der())
        .alpn(["http/1.1"])
        .client_auth(reprise::ClientAuth::required(roots).with_approval())
        .build()
        .unwrap();
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    // An allow-list behind a slow lookup: only the connection that asks waits.
    let acceptor = TlsAcceptor::from(config).client_approval(move |identity| {
        let seen = seen.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let name = identity.common_name();
            seen.lock().unwrap().push(name.clone());
            name.as_deref() == Some("device-17")
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_pages(listener, acceptor));
    let connector = |(chain, key): &ChainAndKey| {
        reprise_tokio::TlsConnector::from(
            ClientConfig::builder()
                .root(cert.der().to_vec().into())
                .client_certificate(chain.clone(), key)
                .build()
                .unwrap(),
        )
    };
    let allowed = connector(&device);
    for round in 0..2 {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tls = allowed
            .connect(reprise_tokio::server_name("localhost").unwrap(), tcp)
            .await
            .unwrap();
        tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut page = Vec::new();
        tls.read_to_end(&mut page).await.unwrap();
        assert!(page.starts_with(b"HTTP/1.1 200 OK"), "round {round}");
        // The second connection resumes, and its session's client is asked about too.
        assert_eq!(tls.negotiated().resumed.is_some(), round == 1);
    }
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let refused = connector(&intruder)
        .connect(reprise_tokio::server_name("localhost").unwrap(), tcp)
        .await;
    let err = match refused {
        Ok(mut tls) => {
            // TLS 1.2: the client's handshake is over before the server's verdict arrives.
            let mut page = Vec::new();
            tls.read_to_end(&mut page).await.unwrap_err()
        }
        Err(e) => e,
    };
    assert!(err.to_string().contains("access_denied"), "{err}");
    assert_eq!(
        *asked.lock().unwrap(),
        [
            Some("device-17".to_string()),
            Some("device-17".to_string()),
            Some("intruder".to_string())
        ]
    );
    server.abort();
}
