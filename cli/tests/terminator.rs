//! `reprise serve --backend` in front of a real application: nginx (Debian's package) serving
//! files over plaintext HTTP on loopback. 100 MB downloaded and 100 MB uploaded through
//! Reprise with curl arrive byte for byte (SHA-256 on both sides), on both event loops; two
//! requests of one curl run, each on its own connection, resume by session ID; a backend that
//! refuses ends the client connection with close_notify, a log line and a counter.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIG: usize = 100 * 1000 * 1000;

/// nginx on a loopback port, serving `www/` and taking PUTs into `www/up/`, and on a second
/// port expecting a PROXY protocol header (logging the client's address it carries to
/// `proxied.log`); stopped by PID.
struct Nginx {
    port: u16,
    proxied_port: u16,
    www: PathBuf,
    dir: PathBuf,
    proc: Running,
}

fn nginx_bin() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

impl Nginx {
    fn start(dir: &Path) -> Nginx {
        Self::start_on(dir, None)
    }

    /// nginx again on `port` (after it was stopped).
    fn restart(dir: &Path, port: u16) -> Nginx {
        Self::start_on(dir, Some(port))
    }

    fn start_on(dir: &Path, fixed_port: Option<u16>) -> Nginx {
        let www = dir.join("www");
        std::fs::create_dir_all(www.join("up")).unwrap();
        for t in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.join(t)).unwrap();
        }
        for _attempt in 0..3 {
            let port = fixed_port.unwrap_or_else(free_port);
            let proxied_port = free_port();
            let d = s(dir);
            let conf = format!(
                "daemon off; master_process off; worker_processes 1;\n\
                 pid {d}/nginx.pid; error_log {d}/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n\
                   access_log {d}/access.log;\n\
                   client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
                   fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
                   client_max_body_size 0;\n\
                   log_format proxied '$proxy_protocol_addr:$proxy_protocol_port $request';\n\
                   server {{ listen 127.0.0.1:{port}; root {www}; dav_methods PUT;\n\
                            location /close {{ keepalive_timeout 0; }} }}\n\
                   server {{ listen 127.0.0.1:{proxied_port} proxy_protocol; root {www};\n\
                            access_log {d}/proxied.log proxied; }}\n\
                 }}\n",
                www = s(&www)
            );
            let conf_path = dir.join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let mut proc = Running::spawn(
                Command::new(nginx_bin()).args([
                    "-e",
                    &format!("{d}/error.log"),
                    "-c",
                    &s(&conf_path),
                ]),
                b"",
            );
            let deadline = Instant::now() + READY_TIMEOUT;
            while Instant::now() < deadline && proc.exited().is_none() {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Nginx {
                        port,
                        proxied_port,
                        www,
                        dir: dir.to_path_buf(),
                        proc,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            eprintln!("nginx did not start on {port}: {}\n{log}", proc.describe());
        }
        panic!("nginx did not start");
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn proxied_addr(&self) -> String {
        format!("127.0.0.1:{}", self.proxied_port)
    }

    fn proxied_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("proxied.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.proc.kill();
    }
}

/// A file of `len` pseudo-random bytes (xorshift), written fast.
fn write_big(path: &Path, len: usize) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, data).unwrap();
}

fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn curl(args: &[&str]) -> std::process::Output {
    run_with_timeout(
        Command::new("curl")
            .args(["-sS", "--insecure", "--tlsv1.2", "--tls-max", "1.2"])
            .args(args),
        b"",
        Duration::from_secs(120),
    )
}

#[test]
fn a_hundred_megabytes_each_way_through_reprise_to_nginx() {
    let dir = TempDir::new("terminator");
    let nginx = Nginx::start(dir.path());
    let big = nginx.www.join("big.bin");
    write_big(&big, BIG);
    let want = sha256_of(&big);
    for driver in drivers() {
        let server = Server::reprise(driver, &["--backend", &nginx.addr()]);
        let url = format!("https://{}/", server.addr());
        // Download.
        let got = dir.path().join(format!("got-{driver}.bin"));
        let out = curl(&["-o", &s(&got), &format!("{url}big.bin")]);
        assert!(
            out.status.success(),
            "[{driver}] download: {}\n{}",
            text(&out),
            server.log()
        );
        assert_eq!(sha256_of(&got), want, "[{driver}] the download changed");
        std::fs::remove_file(&got).unwrap();
        // Upload (nginx's PUT stores it).
        let stored = nginx.www.join("up").join(format!("{driver}.bin"));
        let out = curl(&[
            "-T",
            &s(&big),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{url}up/{driver}.bin"),
        ]);
        let code = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success() && (code == "201" || code == "204"),
            "[{driver}] upload: {code}\n{}\n{}",
            text(&out),
            server.log()
        );
        assert_eq!(sha256_of(&stored), want, "[{driver}] the upload changed");
        std::fs::remove_file(&stored).unwrap();
    }
}

#[test]
fn two_connections_of_one_curl_resume_by_session_id_through_the_terminator() {
    let dir = TempDir::new("terminator-resume");
    let nginx = Nginx::start(dir.path());
    std::fs::write(nginx.www.join("index.html"), "hello from nginx\n").unwrap();
    for driver in drivers() {
        let metrics_port = free_port();
        let metrics = format!("127.0.0.1:{metrics_port}");
        let server = Server::reprise(driver, &["--backend", &nginx.addr(), "--metrics", &metrics]);
        let url = format!("https://{}/index.html", server.addr());
        let out = curl(&["-v", "-H", "Connection: close", &url, &url]);
        let t = text(&out);
        assert!(out.status.success(), "[{driver}] {t}");
        assert_eq!(t.matches("hello from nginx").count(), 2, "[{driver}] {t}");
        assert!(t.contains("SSL re-using session ID"), "[{driver}] {t}");
        let scraped = curl_plain(&format!("http://{metrics}/metrics"));
        assert!(
            scraped.contains("reprise_handshakes_total{kind=\"session_id\"} 1"),
            "[{driver}] {scraped}"
        );
    }
}

fn curl_plain(url: &str) -> String {
    let out = run_with_timeout(
        Command::new("curl").args(["-sS", url]),
        b"",
        Duration::from_secs(10),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_refusing_backend_ends_the_connection_without_close_notify_with_a_log_line_and_a_counter() {
    // A port that was free a moment ago: nothing listens there.
    let gone = format!("127.0.0.1:{}", free_port());
    for driver in drivers() {
        let metrics_port = free_port();
        let metrics = format!("127.0.0.1:{metrics_port}");
        let server = Server::reprise(driver, &["--backend", &gone, "--metrics", &metrics]);
        let out = run_with_timeout(
            Command::new("openssl").args([
                "s_client",
                "-connect",
                &server.addr(),
                "-tls1_2",
                "-ign_eof",
            ]),
            b"GET / HTTP/1.0\r\n\r\n",
            PEER_TIMEOUT,
        );
        let t = text(&out);
        // The handshake completes; then the stream ends without close_notify: cut short
        // (OpenSSL says "unexpected eof", or errno 104 when its request met the close as a
        // reset; after close_notify it would say "closed").
        assert!(t.contains("Cipher is"), "[{driver}] {t}");
        assert!(
            t.contains("unexpected eof") || t.contains("read:errno=104"),
            "[{driver}] {t}"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut log = server.log();
        while !log.contains("connection failed: peer 127.0.0.1:") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            log = server.log();
        }
        assert!(
            log.contains(&format!(
                "backend {gone}: connect failed: connection refused"
            )),
            "[{driver}] {log}"
        );
        let scraped = curl_plain(&format!("http://{metrics}/metrics"));
        assert!(
            scraped.contains("reprise_backend_failures_total{reason=\"refused\"} 1"),
            "[{driver}] {scraped}"
        );
    }
}

#[test]
fn nginx_behind_the_proxy_protocol_logs_the_real_client_address() {
    let dir = TempDir::new("terminator-proxy");
    let nginx = Nginx::start(dir.path());
    std::fs::write(nginx.www.join("who.html"), "hello\n").unwrap();
    for driver in drivers() {
        for version in ["v1", "v2"] {
            let server = Server::reprise(
                driver,
                &[
                    "--backend",
                    &nginx.proxied_addr(),
                    "--proxy-protocol",
                    version,
                ],
            );
            let path = format!("/who.html?{driver}-{version}");
            let url = format!("https://{}{path}", server.addr());
            let out = curl(&["-w", "\n%{local_port}", &url]);
            let t = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(out.status.success(), "[{driver} {version}] {}", text(&out));
            let port = t.lines().last().unwrap_or_default().trim().to_string();
            assert!(t.starts_with("hello"), "[{driver} {version}] {t}");
            let expected = format!("127.0.0.1:{port} GET {path} HTTP/1.1");
            let deadline = Instant::now() + Duration::from_secs(5);
            while !nginx.proxied_log().contains(&expected) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(
                nginx.proxied_log().contains(&expected),
                "[{driver} {version}] no {expected:?} in\n{}",
                nginx.proxied_log()
            );
        }
    }
}

#[test]
fn the_v2_header_carries_sni_alpn_cipher_and_how_the_handshake_resumed() {
    use reprise_apps::proxy::{
        parse_v2, PP2_SUBTYPE_SSL_CIPHER, PP2_SUBTYPE_SSL_VERSION, PP2_TYPE_ALPN,
        PP2_TYPE_AUTHORITY, PP2_TYPE_REPRISE_RESUMPTION,
    };
    use std::io::Read;
    for driver in drivers() {
        // A backend that reads each connection's header and keeps it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let backend = listener.local_addr().unwrap().to_string();
        let headers = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = headers.clone();
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(mut sock) = sock else { return };
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut got = Vec::new();
                    let mut buf = [0u8; 4096];
                    while parse_v2(&got).is_none() {
                        match sock.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    kept.lock().unwrap().push(parse_v2(&got).unwrap());
                });
            }
        });
        let server = Server::reprise(driver, &["--backend", &backend, "--proxy-protocol", "v2"]);
        // One full handshake, then five that resume its session.
        let out = run_with_timeout(
            Command::new("openssl").args([
                "s_client",
                "-connect",
                &server.addr(),
                "-tls1_2",
                "-servername",
                "localhost",
                "-alpn",
                "http/1.1",
                "-reconnect",
            ]),
            b"",
            PEER_TIMEOUT,
        );
        let t = text(&out);
        let deadline = Instant::now() + Duration::from_secs(5);
        while headers.lock().unwrap().len() < 6 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let headers = headers.lock().unwrap();
        assert_eq!(headers.len(), 6, "[{driver}] {t}");
        let mut resumed = Vec::new();
        for h in headers.iter() {
            assert_eq!(
                h.source.map(|a| a.ip().to_string()).as_deref(),
                Some("127.0.0.1")
            );
            assert_eq!(h.destination.map(|a| a.to_string()), Some(server.addr()));
            assert_eq!(h.tlv(PP2_TYPE_AUTHORITY), Some(&b"localhost"[..]));
            assert_eq!(h.tlv(PP2_TYPE_ALPN), Some(&b"http/1.1"[..]));
            assert_eq!(
                h.ssl_sub_tlv(PP2_SUBTYPE_SSL_VERSION),
                Some(&b"TLSv1.2"[..])
            );
            assert!(h
                .ssl_sub_tlv(PP2_SUBTYPE_SSL_CIPHER)
                .is_some_and(|c| c.starts_with(b"ECDHE-")));
            resumed.push(
                String::from_utf8_lossy(h.tlv(PP2_TYPE_REPRISE_RESUMPTION).unwrap()).into_owned(),
            );
        }
        resumed.sort();
        assert_eq!(
            resumed.iter().filter(|r| *r == "full").count(),
            1,
            "[{driver}] {resumed:?}"
        );
        assert!(
            resumed
                .iter()
                .filter(|r| *r == "ticket" || *r == "session-id")
                .count()
                == 5,
            "[{driver}] {resumed:?}"
        );
    }
}

#[test]
fn chromium_loads_a_page_through_the_terminator_and_resumes() {
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("terminator-chromium");
    let nginx = Nginx::start(dir.path());
    // nginx closes /close connections after the answer (keepalive off there), so the
    // second load must open a new TLS connection: it should resume.
    std::fs::write(nginx.www.join("close"), "<p>through nginx</p>\n").unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let server = Server::reprise("mio", &["--backend", &nginx.addr(), "--metrics", &metrics]);
    let page = dir.path().join("twice.html");
    std::fs::write(
        &page,
        format!(
            r#"<!doctype html><title>twice</title><body><script>
const base = "https://127.0.0.1:{port}";
function load(n) {{
  return new Promise((done) => {{
    const f = document.createElement("iframe");
    f.onload = () => done();
    f.src = base + "/close?load=" + n;
    document.body.appendChild(f);
  }});
}}
load(1).then(() => new Promise((r) => setTimeout(r, 500))).then(() => load(2));
</script></body>"#,
            port = server.port
        ),
    )
    .unwrap();
    let profile = dir.path().join("profile");
    std::fs::create_dir_all(&profile).unwrap();
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--ignore-certificate-errors",
    ])
    .arg(format!("--user-data-dir={}", s(&profile)))
    .arg(format!("file://{}", s(&page)))
    .process_group(0);
    let mut chromium = Running::spawn(&mut cmd, b"");
    let group = chromium.pid();
    let deadline = Instant::now() + Duration::from_secs(60);
    let series = |page: &str, name: &str| -> u64 {
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let scraped = loop {
        let scraped = curl_plain(&format!("http://{metrics}/metrics"));
        let resumed = series(&scraped, "reprise_handshakes_total{kind=\"ticket\"}")
            + series(&scraped, "reprise_handshakes_total{kind=\"session_id\"}");
        if resumed >= 1 || Instant::now() >= deadline || chromium.exited().is_some() {
            break scraped;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .status();
    chromium.kill();
    let access = std::fs::read_to_string(dir.path().join("access.log")).unwrap_or_default();
    let ctx = format!("{scraped}\n{}\n{access}", server.log());
    assert!(
        access.contains("GET /close?load=1") && access.contains("GET /close?load=2"),
        "both loads reached nginx through reprise\n{ctx}"
    );
    let resumed = series(&scraped, "reprise_handshakes_total{kind=\"ticket\"}")
        + series(&scraped, "reprise_handshakes_total{kind=\"session_id\"}");
    assert!(resumed >= 1, "the second connection should resume\n{ctx}");
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_thousand_clients_against_a_slow_backend_stay_bounded_and_others_still_connect() {
    let backend = slow_backend(Duration::from_millis(1500));
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    if soft < 8192 {
        rlimit::setrlimit(rlimit::Resource::NOFILE, hard.min(65536), hard).unwrap();
    }
    for driver in drivers() {
        let metrics = format!("127.0.0.1:{}", free_port());
        let server = Server::reprise(
            driver,
            &[
                "--backend",
                &backend,
                "--metrics",
                &metrics,
                "--timeout",
                "10",
            ],
        );
        let addr = server.addr();
        let rss_before = rss_kib(server.pid());
        let mut load = Running::spawn(
            Command::new(reprise_bin()).args([
                "load",
                &addr,
                "--insecure",
                "--sni",
                "localhost",
                "--connections",
                "1000",
                "--handshakes",
                "1000",
                "--http-get",
                "/",
                "--timeout",
                "30",
            ]),
            b"",
        );
        // While a thousand requests wait for the backend, another client's handshake goes
        // through at once.
        std::thread::sleep(Duration::from_millis(700));
        let started = Instant::now();
        let other = run_with_timeout(
            Command::new(reprise_bin()).args(["connect", &addr, "--insecure"]),
            b"",
            PEER_TIMEOUT,
        );
        let took = started.elapsed();
        let peak = rss_kib(server.pid());
        assert!(other.status.success(), "[{driver}] {}", text(&other));
        assert!(
            took < Duration::from_secs(3),
            "[{driver}] a handshake took {took:?}"
        );
        assert!(
            load.wait_or_kill(Duration::from_secs(60)),
            "[{driver}] load hung"
        );
        let report = load.stdout();
        assert!(
            report.contains("errors: 0"),
            "[{driver}] {report}\n{}",
            server.log()
        );
        // Bounded memory: ~1,000 connections and their backend streams. The threads driver
        // spends three threads per proxied connection (their stacks and malloc arenas: about
        // 80 MiB here unloaded, up to ~120 MiB on a busy host), the event loops none.
        let grown = peak.saturating_sub(rss_before);
        let bound = if driver == "threads" { 192 } else { 96 } * 1024;
        assert!(
            grown < bound,
            "[{driver}] RSS grew {grown} KiB (bound {bound} KiB)"
        );
        // No connection is left once the clients are done.
        let deadline = Instant::now() + Duration::from_secs(10);
        let open = loop {
            let scraped = curl_plain(&format!("http://{metrics}/metrics"));
            let open = scraped
                .lines()
                .find_map(|l| l.strip_prefix("reprise_connections_open "))
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(-1);
            if open == 0 || Instant::now() > deadline {
                break open;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(open, 0, "[{driver}] connections left open");
        eprintln!("[{driver}] 1000 slow requests: RSS +{grown} KiB, another handshake in {took:?}");
    }
}

/// Binds `port` on loopback without listening and without `SO_REUSEADDR`: connections to it
/// are refused, as to a dead backend, and no other test's server can take the port before
/// the backend comes back on it. `None` if the port cannot be bound now (it is then not held).
fn hold_port(port: u16) -> Option<socket2::Socket> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    match sock.bind(&addr.into()) {
        Ok(()) => Some(sock),
        Err(e) => {
            eprintln!("port {port} not held while the backend is down: {e}");
            None
        }
    }
}

#[test]
fn a_backend_that_dies_mid_run_and_comes_back_is_served_again() {
    let dir = TempDir::new("terminator-outage");
    let mut nginx = Nginx::start(dir.path());
    std::fs::write(nginx.www.join("index.html"), "up\n").unwrap();
    for driver in drivers() {
        let server = Server::reprise(driver, &["--backend", &nginx.addr()]);
        let url = format!("https://{}/index.html", server.addr());
        assert!(curl(&[&url]).status.success());
        // The backend goes away: clients get close_notify (curl: an empty reply), the
        // terminator keeps serving handshakes.
        nginx.proc.kill();
        let held = hold_port(nginx.port);
        let out = curl(&[&url]);
        assert!(!out.status.success(), "[{driver}] {}", text(&out));
        let hs = run_with_timeout(
            Command::new(reprise_bin()).args(["connect", &server.addr(), "--insecure"]),
            b"",
            PEER_TIMEOUT,
        );
        assert!(hs.status.success(), "[{driver}] {}", text(&hs));
        // It comes back (same port): served again.
        drop(held);
        nginx = Nginx::restart(dir.path(), nginx.port);
        let out = curl(&[&url]);
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("up"),
            "[{driver}] {}\n{}",
            text(&out),
            server.log()
        );
    }
}
