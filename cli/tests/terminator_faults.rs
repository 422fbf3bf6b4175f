//! `reprise serve --backend` when things go wrong, with real processes on both event loops:
//! a SIGTERM lets requests waiting on their backend finish (and cuts, counts and logs those
//! that outlast `--drain-timeout`); a backend that resets mid-answer reaches the client as a
//! truncation, not as close_notify (curl, Python `ssl` and `reprise load` see it); a silent
//! backend and a trickling client each get their log line and counter; and ALPN passes
//! through: h2 to an h2c nginx with curl, and gRPC (unary and streaming, resuming) to a
//! Python grpcio server. The misbehaving backends are `tests/support/backends.py`.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reprise::{ClientConfig, ClientConnection, Stream};

fn support(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}

/// `backends.py MODE ARGS… PORT`, ready when it says so.
fn backend(mode: &[&str]) -> Server {
    Server::start(&format!("backend {}", mode.join(" ")), "ready", |port| {
        let mut cmd = Command::new("python3");
        cmd.arg(support("backends.py"))
            .args(mode)
            .arg(port.to_string());
        cmd
    })
}

fn sigterm(server: &Server) {
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits (bounded) for `server` to exit; how long it took.
fn wait_exit(server: &mut Server, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !server.is_running() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The server's stderr lines containing `what`, waited for (bounded).
fn log_line(server: &Server, what: &str, limit: Duration) -> Option<String> {
    let start = Instant::now();
    loop {
        if let Some(line) = server.log().lines().find(|l| l.contains(what)) {
            return Some(line.to_owned());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scrape(metrics: &str) -> String {
    let out = run_with_timeout(
        Command::new("curl").args(["-s", &format!("http://{metrics}/metrics")]),
        b"",
        Duration::from_secs(10),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An open TLS connection through the terminator that has sent one GET.
fn request(addr: &str) -> Stream<reprise::ClientHandshake, TcpStream> {
    let conn =
        ClientConnection::new(Arc::new(ClientConfig::dangerous_insecure()), "localhost").unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut tls = Stream::new(conn, tcp);
    tls.write_all(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    tls.flush().unwrap();
    tls
}

/// What a client read until the stream ended, and whether the end was close_notify.
fn read_to_end(mut tls: Stream<reprise::ClientHandshake, TcpStream>) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    (
        String::from_utf8_lossy(&got).into_owned(),
        tls.conn.peer_closed(),
    )
}

/// Twenty requests waiting on a backend that answers in `answer_after`, then SIGTERM with
/// `--drain-timeout 5s`: the answered responses, how many ended cleanly, and how long the
/// server took to exit.
fn drain_with_requests_in_flight(
    driver: &str,
    answer_after: &str,
) -> (usize, usize, Duration, Server) {
    let slow = backend(&["slow", answer_after]);
    let mut server = Server::reprise(
        driver,
        &[
            "--backend",
            &slow.addr(),
            "--drain-timeout",
            "5s",
            "--timeout",
            "20",
        ],
    );
    let addr = server.addr();
    let clients: Vec<_> = (0..20).map(|_| request(&addr)).collect();
    // Every request is at the backend (whole records taken, the backend reading).
    std::thread::sleep(Duration::from_millis(500));
    let readers: Vec<_> = clients
        .into_iter()
        .map(|tls| std::thread::spawn(move || read_to_end(tls)))
        .collect();
    sigterm(&server);
    let exited = wait_exit(&mut server, Duration::from_secs(15)).expect("the server exits");
    let results: Vec<(String, bool)> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    let answered = results
        .iter()
        .filter(|(r, _)| r.starts_with("HTTP/1.1 200 OK") && r.ends_with("s\n"))
        .count();
    let clean = results.iter().filter(|(_, clean)| *clean).count();
    (answered, clean, exited, server)
}

#[test]
fn sigterm_lets_requests_waiting_on_the_backend_finish() {
    for driver in drivers() {
        let (answered, clean, exited, server) = drain_with_requests_in_flight(driver, "2");
        let context = format!("[{driver}] exit after {exited:?}\n{}", server.log());
        assert_eq!(answered, 20, "every request answered: {context}");
        assert_eq!(
            clean, 20,
            "each then told goodbye (close_notify): {context}"
        );
        assert!(
            exited >= Duration::from_millis(1200) && exited < Duration::from_millis(3500),
            "exit about 2 s after SIGTERM: {context}"
        );
        assert!(
            log_line(&server, "draining: 20 connections open", Duration::ZERO).is_some(),
            "{context}"
        );
        assert!(
            log_line(&server, "drained: 20 finished, 0 cut off", Duration::ZERO).is_some(),
            "{context}"
        );
    }
}

#[test]
fn sigterm_cuts_what_outlasts_the_drain_timeout_and_counts_it() {
    for driver in drivers() {
        let (answered, clean, exited, server) = drain_with_requests_in_flight(driver, "10");
        let context = format!("[{driver}] exit after {exited:?}\n{}", server.log());
        assert_eq!(answered, 0, "{context}");
        assert_eq!(clean, 0, "cut off, not told goodbye: {context}");
        assert!(
            exited >= Duration::from_millis(4500) && exited < Duration::from_millis(7000),
            "cut at the 5 s drain timeout: {context}"
        );
        assert!(
            log_line(&server, "drained: 0 finished, 20 cut off", Duration::ZERO).is_some(),
            "{context}"
        );
    }
}

#[test]
fn a_backend_reset_mid_answer_reaches_clients_as_a_truncation() {
    let reset = backend(&["reset-half"]);
    let py = "import socket, ssl, sys\n\
              ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n\
              ctx.check_hostname = False\n\
              ctx.verify_mode = ssl.CERT_NONE\n\
              s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[1]))), suppress_ragged_eofs=False)\n\
              s.sendall(b'GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n')\n\
              n = 0\n\
              try:\n\
              \x20   while True:\n\
              \x20       d = s.recv(65536)\n\
              \x20       if not d:\n\
              \x20           print('clean end after', n); break\n\
              \x20       n += len(d)\n\
              except (ssl.SSLEOFError, ConnectionResetError) as e:\n\
              \x20   print('unclean end after', n, type(e).__name__)\n";
    for driver in drivers() {
        let metrics = format!("127.0.0.1:{}", free_port());
        let server = Server::reprise(driver, &["--backend", &reset.addr(), "--metrics", &metrics]);
        let url = format!("https://{}/", server.addr());
        let out = run_with_timeout(
            Command::new("curl").args(["-sS", "-k", "--tlsv1.2", "-o", "/dev/null", &url]),
            b"",
            PEER_TIMEOUT,
        );
        let t = text(&out);
        // curl: 18 (partial file: fewer bytes than announced) or 56 (receive failure).
        assert!(
            matches!(out.status.code(), Some(18 | 56)),
            "[{driver}] curl should fail on the cut answer: {t}"
        );
        let out = run_with_timeout(
            Command::new("python3").args(["-c", py, &server.port.to_string()]),
            b"",
            PEER_TIMEOUT,
        );
        let t = text(&out);
        assert!(
            t.contains("unclean end after"),
            "[{driver}] Python ssl should see no close_notify: {t}\n{}",
            server.log()
        );
        let out = run_with_timeout(
            Command::new(reprise_bin()).args([
                "load",
                &server.addr(),
                "--insecure",
                "--http-get",
                "/",
                "--connections",
                "2",
                "--handshakes",
                "4",
            ]),
            b"",
            Duration::from_secs(60),
        );
        let t = text(&out);
        assert!(
            t.contains("truncated: body shorter than content-length"),
            "[{driver}] reprise load counts the cut answers as errors: {t}"
        );
        let scraped = scrape(&metrics);
        assert!(
            scraped.contains("reprise_backend_failures_total{reason=\"reset\"}"),
            "{scraped}"
        );
        assert!(
            !scraped.contains("reprise_backend_failures_total{reason=\"reset\"} 0"),
            "[{driver}] resets counted: {scraped}"
        );
    }
}

#[test]
fn a_client_gone_without_close_notify_reaches_the_backend_as_a_reset() {
    for driver in drivers() {
        let reporter = backend(&["report"]);
        let server = Server::reprise(driver, &["--backend", &reporter.addr()]);
        let upload = b"POST /upload HTTP/1.1\r\ncontent-length: 100000\r\n\r\nthe first part";
        // Half an upload, then the TCP connection closes without close_notify.
        let mut tls = request(&server.addr());
        tls.write_all(upload).unwrap();
        tls.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(tls);
        // The same, ended with close_notify: a half-close the backend sees as its end of
        // stream.
        let mut tls = request(&server.addr());
        tls.write_all(upload).unwrap();
        tls.conn.close();
        tls.flush().unwrap();
        let start = Instant::now();
        let mut lines = Vec::new();
        while start.elapsed() < Duration::from_secs(5) {
            lines = reporter
                .log()
                .lines()
                .filter(|l| l.starts_with("client ended: "))
                .map(str::to_owned)
                .collect();
            if lines.len() >= 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let context = format!("[{driver}] {lines:?}\n{}", server.log());
        assert!(
            lines
                .first()
                .is_some_and(|l| l.starts_with("client ended: reset")),
            "a client gone without close_notify: the backend sees a reset: {context}"
        );
        assert!(
            lines
                .get(1)
                .is_some_and(|l| l.starts_with("client ended: eof")),
            "a client's close_notify: the backend sees its end of stream: {context}"
        );
        drop(tls);
    }
}

#[test]
fn a_silent_backend_and_a_trickling_client_are_logged_counted_and_closed() {
    let silent = backend(&["silent"]);
    for driver in drivers() {
        let metrics = format!("127.0.0.1:{}", free_port());
        let server = Server::reprise(
            driver,
            &[
                "--backend",
                &silent.addr(),
                "--metrics",
                &metrics,
                "--timeout",
                "2",
            ],
        );
        // The whole request at once, and no answer: closed at the timeout, unclean.
        let started = Instant::now();
        let (got, clean) = read_to_end(request(&server.addr()));
        let took = started.elapsed();
        assert!(got.is_empty() && !clean, "[{driver}] {got:?} {clean}");
        assert!(
            took >= Duration::from_millis(1800) && took < Duration::from_secs(4),
            "[{driver}] a silent backend's client closed after {took:?}"
        );
        let line = log_line(&server, ": silent for 2s", Duration::from_secs(3));
        assert!(line.is_some(), "[{driver}] {}", server.log());
        // A byte every 300 ms: never whole, far below the minimum rate. The bound: the
        // timeout (2 s) from its first unanswered byte, plus a timer tick.
        let conn = ClientConnection::new(Arc::new(ClientConfig::dangerous_insecure()), "localhost")
            .unwrap();
        let tcp = TcpStream::connect(server.addr()).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut tls = Stream::new(conn, tcp);
        tls.complete_handshake().unwrap();
        let started = Instant::now();
        let mut closed_after = None;
        for byte in b"POST /upload HTTP/1.1\r\ncontent-length: 100\r\n\r\n"
            .iter()
            .cycle()
        {
            if started.elapsed() > Duration::from_secs(6) {
                break;
            }
            if tls.write_all(&[*byte]).and_then(|()| tls.flush()).is_err() {
                closed_after = Some(started.elapsed());
                break;
            }
            let mut buf = [0u8; 64];
            match tls.read(&mut buf) {
                Ok(0) => {
                    closed_after = Some(started.elapsed());
                    break;
                }
                Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {
                    closed_after = Some(started.elapsed());
                    break;
                }
                _ => {}
            }
        }
        let closed_after = closed_after.expect("the trickling client is closed");
        assert!(
            closed_after < Duration::from_millis(3200),
            "[{driver}] the trickling client closed after {closed_after:?}\n{}",
            server.log()
        );
        let line = log_line(&server, "client too slow", Duration::from_secs(3));
        assert!(line.is_some(), "[{driver}] {}", server.log());
        let scraped = scrape(&metrics);
        assert!(
            scraped.contains("reprise_backend_failures_total{reason=\"silent\"} 1")
                && scraped.contains("reprise_slow_clients_total 1"),
            "[{driver}] {scraped}"
        );
    }
}

/// nginx speaking HTTP/2 in the clear (h2c, prior knowledge) on a loopback port.
fn h2c_nginx(dir: &std::path::Path) -> (Running, u16) {
    let nginx = if std::path::Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    };
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello over h2\n").unwrap();
    for t in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.join(t)).unwrap();
    }
    let port = free_port();
    let d = s(dir);
    let conf = format!(
        "daemon off; master_process off; worker_processes 1;\n\
         pid {d}/nginx.pid; error_log {d}/error.log;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
           access_log {d}/access.log;\n\
           client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
           server {{ listen 127.0.0.1:{port} http2; root {www}; }}\n\
         }}\n",
        www = s(&www)
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let proc = Running::spawn(
        Command::new(nginx).args(["-e", &format!("{d}/error.log"), "-c", &s(&conf_path)]),
        b"",
    );
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline && TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    (proc, port)
}

#[test]
fn alpn_passes_h2_through_to_h2c_backends_curl_and_grpc() {
    let pki = Pki::generate("alpn");
    let dir = TempDir::new("h2c");
    let (mut nginx, nginx_port) = h2c_nginx(dir.path());
    let grpc = backend(&["grpc"]);
    for driver in drivers() {
        let mut args: Vec<String> = pki.serve_args();
        args.extend(["--alpn".into(), "h2,http/1.1".into()]);
        let with = |backend: &str| {
            let mut a = args.clone();
            a.extend(["--backend".into(), backend.into()]);
            a
        };
        let nginx_args = with(&format!("127.0.0.1:{nginx_port}"));
        let refs: Vec<&str> = nginx_args.iter().map(String::as_str).collect();
        let server = Server::reprise(driver, &refs);
        // openssl sees h2 chosen.
        let out = run_with_timeout(
            Command::new("openssl").args([
                "s_client",
                "-connect",
                &server.addr(),
                "-tls1_2",
                "-alpn",
                "h2",
            ]),
            b"",
            PEER_TIMEOUT,
        );
        let t = text(&out);
        assert!(t.contains("ALPN protocol: h2"), "[{driver}] {t}");
        // curl speaks HTTP/2 through to nginx's h2c.
        let out = run_with_timeout(
            Command::new("curl").args([
                "-sS",
                "--http2",
                "--tlsv1.2",
                "--tls-max",
                "1.2",
                "--cacert",
                &s(&pki.ca),
                "--resolve",
                &format!("localhost:{}:127.0.0.1", server.port),
                "-w",
                "\nversion %{http_version}\n",
                &format!("https://localhost:{}/", server.port),
            ]),
            b"",
            PEER_TIMEOUT,
        );
        let t = text(&out);
        assert!(
            t.contains("hello over h2") && t.contains("version 2"),
            "[{driver}] {t}\n{}",
            server.log()
        );
        drop(server);
        // gRPC: unary and streaming calls over three connections, resuming after the first.
        let metrics = format!("127.0.0.1:{}", free_port());
        let mut grpc_args = with(&grpc.addr());
        grpc_args.extend(["--metrics".into(), metrics.clone()]);
        let refs: Vec<&str> = grpc_args.iter().map(String::as_str).collect();
        let server = Server::reprise(driver, &refs);
        let out = run_with_timeout(
            Command::new("python3").args([
                s(&support("grpc_client.py")),
                server.addr(),
                s(&pki.ca),
                "3".into(),
            ]),
            b"",
            Duration::from_secs(60),
        );
        let t = text(&out);
        for n in 0..3 {
            assert!(
                t.contains(&format!("unary {n}: ping {n}"))
                    && t.contains(&format!("stream {n}: a,bb,ccc")),
                "[{driver}] gRPC through Reprise: {t}\n{}",
                server.log()
            );
        }
        let scraped = scrape(&metrics);
        let resumed: u64 = scraped
            .lines()
            .filter(|l| {
                l.starts_with("reprise_handshakes_total{kind=\"session_id\"}")
                    || l.starts_with("reprise_handshakes_total{kind=\"ticket\"}")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        assert!(
            resumed >= 2,
            "[{driver}] the gRPC client's later connections resume: {scraped}"
        );
    }
    nginx.kill();
}
