//! What monitoring and an operator's tools see of a running `reprise serve`: every reload
//! logged and counted by outcome, with settings only a restart applies named; the
//! certificate-expiry metric matching the certificate; `GET /healthz` 200 while serving and
//! 503 while draining; `reprise ctl` serving clients at once, reading its socket from the
//! config file, and quiet on a closed pipe; several listeners (IPv4 and IPv6) in one
//! process; systemd socket activation; shell completions and man pages.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `GET path` on the metrics listener: the status line and the body.
fn get(metrics: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(metrics).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The value of the series `line_start` (name and labels) in an exposition.
fn series(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
}

fn ctl(args: &[&str]) -> std::process::Output {
    run_with_timeout(
        Command::new(reprise_bin()).arg("ctl").args(args),
        b"",
        PEER_TIMEOUT,
    )
}

/// notAfter of a PEM certificate file, in Unix seconds, as openssl and date(1) read it.
fn openssl_not_after(cert: &Path) -> u64 {
    let out = run_with_timeout(
        Command::new("openssl").args(["x509", "-noout", "-enddate", "-in", &s(cert)]),
        b"",
        PEER_TIMEOUT,
    );
    let end = stdout(&out);
    let end = end.trim().strip_prefix("notAfter=").expect("notAfter");
    let out = run_with_timeout(
        Command::new("date").args(["-u", "-d", end, "+%s"]),
        b"",
        PEER_TIMEOUT,
    );
    stdout(&out).trim().parse().unwrap()
}

fn write_certificate(dir: &Path, name: &str, days: u32) -> (String, String) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let out = run_with_timeout(
        Command::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-days",
            &days.to_string(),
            "-keyout",
            &s(&key),
            "-out",
            &s(&cert),
        ]),
        b"",
        PEER_TIMEOUT,
    );
    assert!(out.status.success(), "{}", text(&out));
    (s(&cert), s(&key))
}

#[test]
fn reloads_are_logged_and_counted_and_expiry_matches_the_certificate() {
    let dir = TempDir::new("monitor");
    for driver in drivers() {
        let (cert, _key) = write_certificate(dir.path(), "site", 30);
        let socket = dir.path().join("ctl.sock");
        let config = dir.path().join("serve.toml");
        let metrics = format!("127.0.0.1:{}", free_port());
        let write_config = |cache: &str| {
            std::fs::write(
                &config,
                format!(
                    "control = \"ctl.sock\"\nmetrics = \"{metrics}\"\nsession-cache = \"{cache}\"\n\
                     [[certificate]]\ncert = \"site.pem\"\nkey = \"site.key\"\n"
                ),
            )
            .unwrap();
        };
        write_config("1MiB");
        let server = Server::reprise(driver, &["--config", &s(&config)]);
        let scrape = || get(&metrics, "/metrics").1;
        let expiry = |text: &str| {
            text.lines()
                .find(|l| l.starts_with("reprise_certificate_expiry_seconds{name=\"localhost\""))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("[{driver}] no expiry series in\n{text}"))
        };
        assert_eq!(
            expiry(&scrape()) as u64,
            openssl_not_after(Path::new(&cert))
        );

        // A renewed certificate and a setting only a restart applies: applied, named, counted.
        write_certificate(dir.path(), "site", 90);
        write_config("2MiB");
        let out = ctl(&["--config", &s(&config), "reload"]);
        let answer = text(&out);
        assert!(out.status.success(), "[{driver}] {answer}");
        assert!(
            answer.contains("certificates: localhost serial ")
                && answer.contains("not applied until a restart: session-cache"),
            "[{driver}] {answer}"
        );
        let exposition = scrape();
        assert_eq!(
            series(&exposition, "reprise_reloads_total{result=\"ok\"} "),
            Some(1.0)
        );
        assert_eq!(
            expiry(&exposition) as u64,
            openssl_not_after(Path::new(&cert))
        );

        // A broken file: refused, the old certificate stays, logged and counted as failed.
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
        let out = ctl(&["--control", &s(&socket), "reload"]);
        assert!(!out.status.success(), "[{driver}] {}", text(&out));
        assert!(
            text(&out).contains("no `-----END CERTIFICATE-----` line"),
            "[{driver}] {}",
            text(&out)
        );
        let exposition = scrape();
        assert_eq!(
            series(&exposition, "reprise_reloads_total{result=\"failed\"} "),
            Some(1.0)
        );
        let log = server.log();
        for needle in [
            "reloaded: certificates: localhost serial ",
            "(via ctl)",
            "warning: --config ",
            "session-cache changed, but only a restart applies it",
            "reload failed (via ctl), the running configuration stays: ",
        ] {
            assert!(log.contains(needle), "[{driver}] no {needle:?} in {log}");
        }
        let status = text(&ctl(&["--control", &s(&socket), "status"]));
        assert!(
            status.contains("reloads: 1 applied, 1 failed")
                && status.contains("certificates: 1\n  localhost serial ")
                && status.contains("; expires "),
            "[{driver}] {status}"
        );
    }
}

/// What a process printed on stdout.
fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn healthz_is_200_while_serving_and_503_while_draining() {
    for driver in drivers() {
        let backend = slow_backend(Duration::from_secs(2));
        let metrics = format!("127.0.0.1:{}", free_port());
        let server = Server::reprise(
            driver,
            &[
                "--backend",
                &backend,
                "--metrics",
                &metrics,
                "--drain-timeout",
                "10s",
            ],
        );
        assert_eq!(
            get(&metrics, "/healthz"),
            ("HTTP/1.1 200 OK".into(), "ok\n".into())
        );
        // A request waiting on the backend keeps the drain going.
        let mut client = Running::spawn(
            Command::new("curl").args([
                "-sk",
                "--max-time",
                "15",
                &format!("https://{}/", server.addr()),
            ]),
            b"",
        );
        std::thread::sleep(Duration::from_millis(500));
        Command::new("kill")
            .args(["-TERM", &server.pid().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = get(&metrics, "/healthz");
        while seen.0.starts_with("HTTP/1.1 200") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            seen = get(&metrics, "/healthz");
        }
        assert_eq!(
            seen,
            (
                "HTTP/1.1 503 Service Unavailable".into(),
                "draining\n".into()
            ),
            "[{driver}] {}",
            server.log()
        );
        assert!(
            client.wait_or_kill(Duration::from_secs(15)),
            "[{driver}] curl hung"
        );
        assert_eq!(
            client.stdout().trim(),
            "slow",
            "[{driver}] the drained request finished: {}\n{}",
            client.describe(),
            server.log()
        );
    }
}

#[test]
fn ctl_answers_clients_at_once_reads_the_config_and_survives_a_closed_pipe() {
    let dir = TempDir::new("ctl-many");
    let socket = dir.path().join("ctl.sock");
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, "control = \"ctl.sock\"\n").unwrap();
    let server = Server::reprise("mio", &["--config", &s(&config)]);
    // A client that connects and says nothing does not hold up the next one.
    let _silent = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    let start = Instant::now();
    let out = ctl(&["--config", &s(&config), "status"]);
    assert!(
        out.status.success() && text(&out).contains("connections: "),
        "{}\n{}",
        text(&out),
        server.log()
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "status waited {:?} behind a silent client",
        start.elapsed()
    );
    // stdout closed before the answer arrives: no panic, exit 0.
    let mut child = Command::new(reprise_bin())
        .args(["ctl", "--control", &s(&socket), "status"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
    // Without a control path anywhere.
    let bare = dir.path().join("bare.toml");
    std::fs::write(&bare, "quiet = true\n").unwrap();
    let out = ctl(&["--config", &s(&bare), "status"]);
    assert!(
        !out.status.success() && text(&out).contains("no `control` path"),
        "{}",
        text(&out)
    );
}

fn curl_ok(url: &str) -> bool {
    let out = run_with_timeout(
        Command::new("curl").args([
            "-sk",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url,
        ]),
        b"",
        PEER_TIMEOUT,
    );
    stdout(&out).trim() == "200"
}

fn ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn several_listeners_each_serve() {
    for driver in drivers() {
        let v6 = free_port();
        let mut extra = vec!["--listen".to_string(), format!("127.0.0.1:{}", free_port())];
        if ipv6_loopback() {
            extra.extend(["--listen".to_string(), format!("[::1]:{v6}")]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let server = Server::reprise(driver, &extra);
        let log = server.log();
        let addrs: Vec<String> = log
            .lines()
            .filter_map(|l| l.strip_prefix("listening on "))
            .map(str::to_string)
            .collect();
        let wanted = if ipv6_loopback() { 3 } else { 2 };
        assert_eq!(addrs.len(), wanted, "[{driver}] {log}");
        for addr in &addrs {
            assert!(
                curl_ok(&format!("https://{addr}/")),
                "[{driver}] {addr}: {log}"
            );
        }
    }
}

#[test]
fn systemd_socket_activation_serves_the_passed_socket() {
    if Command::new("systemd-socket-activate")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        panic!("systemd-socket-activate is missing: scripts/install-test-deps.sh installs systemd");
    }
    for driver in drivers() {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        // The activator listens, and starts the server (same PID) with the socket as fd 3
        // at the first connection.
        let mut activator = Running::spawn(
            Command::new("systemd-socket-activate").args([
                "-l",
                &addr,
                &s(&reprise_bin()),
                "serve",
                "--driver",
                driver,
            ]),
            b"",
        );
        let deadline = Instant::now() + READY_TIMEOUT;
        while !activator.stderr().contains("Listening on") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            curl_ok(&format!("https://{addr}/")),
            "[{driver}] {}",
            activator.describe()
        );
        assert!(
            curl_ok(&format!("https://{addr}/")),
            "[{driver}] {}",
            activator.describe()
        );
        let out = activator.stdout();
        assert!(
            out.contains(&format!("listening on {addr}")),
            "[{driver}] {}",
            activator.describe()
        );
        activator.kill();
    }
}

#[test]
fn completions_and_man_pages_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run_with_timeout(
            Command::new(reprise_bin()).args(["completions", shell]),
            b"",
            PEER_TIMEOUT,
        );
        let script = text(&out);
        assert!(out.status.success(), "{shell}: {script}");
        assert!(
            script.contains("reprise") && script.contains("drain-timeout"),
            "{shell}"
        );
    }
    let out = run_with_timeout(
        Command::new(reprise_bin()).args(["man", "serve"]),
        b"",
        PEER_TIMEOUT,
    );
    let roff = text(&out);
    assert!(
        roff.contains(".TH reprise-serve 1") && roff.contains("listen"),
        "{roff}"
    );
    let out = run_with_timeout(Command::new(reprise_bin()).arg("man"), b"", PEER_TIMEOUT);
    assert!(text(&out).contains(".TH reprise 1"), "{}", text(&out));
}

/// `openssl s_client` to `addr`, saving or resuming a session; true if it connected.
fn s_client(addr: &str, extra: &[&str]) -> bool {
    let out = run_with_timeout(
        Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                addr,
                "-tls1_2",
                "-servername",
                "localhost",
            ])
            .args(extra),
        b"",
        PEER_TIMEOUT,
    );
    stdout(&out).contains("Cipher is ")
}

/// The file's lines once it has at least `n` (the writer flushes every 100 ms).
fn wait_for_log_lines(path: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines: Vec<String> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each JSON line parsed by Python's json module, as `key=value` lines, one object a line.
fn parse_json_lines(lines: &[String]) -> Vec<String> {
    let script = "import json,sys\nfor line in sys.stdin:\n    o=json.loads(line)\n    print(' '.join(f'{k}={v}' for k,v in o.items()))\n";
    let out = run_with_timeout(
        Command::new("python3").args(["-c", script]),
        (lines.join("\n") + "\n").as_bytes(),
        PEER_TIMEOUT,
    );
    assert!(out.status.success(), "not JSON: {}", text(&out));
    stdout(&out).lines().map(str::to_string).collect()
}

#[test]
fn the_access_log_has_a_line_per_connection_in_json_and_reopens_on_sigusr1() {
    let dir = TempDir::new("access");
    for driver in drivers() {
        let log = dir.path().join(format!("access-{driver}.json"));
        let server = Server::reprise(
            driver,
            &[
                "--access-log",
                &s(&log),
                "--access-log-format",
                "json",
                "--session-cache",
                "1MiB",
            ],
        );
        let addr = server.addr();
        let (id, ticket) = (dir.path().join("id.sess"), dir.path().join("ticket.sess"));
        assert!(s_client(&addr, &["-no_ticket", "-sess_out", &s(&id)]));
        assert!(s_client(&addr, &["-no_ticket", "-sess_in", &s(&id)]));
        assert!(s_client(
            &addr,
            &["-alpn", "http/1.1", "-sess_out", &s(&ticket)]
        ));
        assert!(s_client(&addr, &["-sess_in", &s(&ticket)]));
        let lines = wait_for_log_lines(&log, 4);
        let objects = parse_json_lines(&lines);
        assert_eq!(objects.len(), 4, "[{driver}] {lines:#?}\n{}", server.log());
        for (object, kind) in objects.iter().zip(["full", "session-id", "full", "ticket"]) {
            for field in [
                "time=20".to_string(),
                " peer=127.0.0.1:".into(),
                " sni=localhost ".into(),
                " suite=ECDHE-".into(),
                format!(" handshake={kind} "),
                " end=done".into(),
            ] {
                assert!(
                    object.contains(&field),
                    "[{driver}] no {field:?} in {object}"
                );
            }
            let bytes = |key: &str| -> u64 {
                object
                    .split(' ')
                    .find_map(|f| f.strip_prefix(key))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("[{driver}] no {key} in {object}"))
            };
            assert!(
                bytes("bytes_in=") > 100 && bytes("bytes_out=") > 100,
                "[{driver}] {object}"
            );
            assert!(object.contains(" duration_us="), "[{driver}] {object}");
        }
        assert!(
            objects[2].contains(" alpn=http/1.1 "),
            "[{driver}] {}",
            objects[2]
        );
        // A resumption the server declines says why: a ticket another server sealed.
        let foreign = dir.path().join("foreign.sess");
        let other = Server::reprise(driver, &[]);
        assert!(s_client(&other.addr(), &["-sess_out", &s(&foreign)]));
        assert!(s_client(&addr, &["-sess_in", &s(&foreign)]));
        let lines = wait_for_log_lines(&log, 5);
        let declined = parse_json_lines(&lines[4..]);
        assert!(
            declined[0].contains(" handshake=full ")
                && declined[0].contains(" declined=unknown-ticket-key "),
            "[{driver}] {declined:?}"
        );
    }
    // logrotate: the file moved away, SIGUSR1, and the next line goes to a new file.
    let log = dir.path().join("access.log");
    let server = Server::reprise("mio", &["--access-log", &s(&log)]);
    assert!(s_client(&server.addr(), &[]));
    assert_eq!(wait_for_log_lines(&log, 1).len(), 1, "{}", server.log());
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    Command::new("kill")
        .args(["-USR1", &server.pid().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(s_client(&server.addr(), &[]));
    let fresh = wait_for_log_lines(&log, 1);
    assert_eq!(fresh.len(), 1, "{}", server.log());
    assert!(
        fresh[0].starts_with("time=") && fresh[0].contains(" handshake=full "),
        "{fresh:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&rotated).unwrap().lines().count(),
        1
    );
}
