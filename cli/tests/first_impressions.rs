//! What a new operator meets first, against the real binary: a bad certificate or key stops
//! `reprise serve` with one clear line and a non-zero status; a request with bare-LF line
//! ends gets the page; every failed handshake leaves one line with its reason on stderr, at
//! most `--log-rate` a second under a flood, nothing with `--quiet`; errors are printed once.
//! Every server runs on each driver of `common::drivers()`.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// `reprise serve ARGS` that must fail at start-up: its status and its stderr lines.
fn refused(args: &[String]) -> (std::process::ExitStatus, Vec<String>, String) {
    let out = run_with_timeout(
        Command::new(reprise_bin())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args),
        b"",
        PEER_TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = stderr.lines().map(str::to_owned).collect();
    (
        out.status,
        lines,
        String::from_utf8_lossy(&out.stdout).into(),
    )
}

fn args(pairs: &[(&str, &std::path::Path)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(flag, path)| [flag.to_string(), s(path)])
        .collect()
}

#[test]
fn bad_certificates_and_keys_stop_serve_with_one_clear_line() {
    let pki = Pki::generate("bad-config");
    let dir = pki.dir.path();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZSwgbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let cases: [(Vec<String>, String); 5] = [
        (
            args(&[("--cert", &pki.ecdsa_cert), ("--key", &pki.untrusted_key)]),
            format!(
                "error: --cert {} with --key {}: the private key does not match the certificate's public key",
                s(&pki.ecdsa_cert),
                s(&pki.untrusted_key)
            ),
        ),
        (
            args(&[("--cert", &pki.rsa_cert), ("--key", &pki.ecdsa_key)]),
            format!(
                "error: --cert {} with --key {}: the private key does not match the certificate's public key",
                s(&pki.rsa_cert),
                s(&pki.ecdsa_key)
            ),
        ),
        (
            args(&[("--cert", &empty), ("--key", &pki.ecdsa_key)]),
            format!(
                "error: --cert {}: not a PEM certificate file: no CERTIFICATE block found",
                s(&empty)
            ),
        ),
        (
            args(&[("--cert", &garbage), ("--key", &pki.ecdsa_key)]),
            format!("error: --cert {}: the certificate does not parse", s(&garbage)),
        ),
        (
            args(&[("--cert", &pki.ecdsa_cert), ("--key", &pki.ecdsa_cert)]),
            format!(
                "error: --key {}: not a PEM private key file",
                s(&pki.ecdsa_cert)
            ),
        ),
    ];
    for (args, expected) in cases {
        let (status, lines, stdout) = refused(&args);
        assert!(!status.success(), "{args:?} started: {lines:?}");
        assert_eq!(
            lines.len(),
            1,
            "{args:?}: one line on stderr, got {lines:?}"
        );
        assert!(
            lines[0].starts_with(&expected),
            "{args:?}:\n  got      {}\n  expected {expected}…",
            lines[0]
        );
        assert!(
            !stdout.contains("error"),
            "{args:?}: the error is printed once, on stderr; stdout: {stdout}"
        );
    }
}

#[test]
fn errors_of_other_commands_are_printed_once_on_stderr() {
    let out = run_with_timeout(
        Command::new(reprise_bin()).args(["keys", "show", "/nonexistent/key/file"]),
        b"",
        PEER_TIMEOUT,
    );
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("error:").count(), 1, "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("error"));
}

#[test]
fn the_default_build_says_where_the_bench_is() {
    let out = run_with_timeout(
        Command::new(reprise_bin()).args(["bench", "--quick"]),
        b"",
        PEER_TIMEOUT,
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cargo run --release --features bench -- bench"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_request_with_bare_lf_line_ends_gets_the_page() {
    // Exactly what the README's check sends: printf 'GET / HTTP/1.0\n\n' | openssl s_client.
    for driver in drivers() {
        let server = Server::reprise(driver, &[]);
        let out = run_with_timeout(
            Command::new("openssl").args(["s_client", "-quiet", "-connect", &server.addr()]),
            b"GET / HTTP/1.0\n\n",
            PEER_TIMEOUT,
        );
        let t = text(&out);
        assert!(
            t.contains("HTTP/1.1 200 OK") && t.contains("TLS 1.2 served by reprise"),
            "[{driver}] no page for a bare-LF request:\n{t}\n{}",
            server.log()
        );
    }
}

/// A TCP client that sends `bytes` and waits (bounded) for the server's answer — its alert —
/// or its close, then goes, as a real client does after a fatal alert (the server lingers
/// for the client's end of stream after sending an alert).
fn send_and_wait_for_close(addr: &str, bytes: &[u8]) {
    let Ok(mut sock) = TcpStream::connect(addr) else {
        return;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = sock.write_all(bytes);
    let mut buf = [0u8; 4096];
    let _ = sock.read(&mut buf);
}

/// An `openssl s_client` that offers only suites Reprise does not speak.
fn incompatible_client(addr: &str) {
    let _ = run_with_timeout(
        Command::new("openssl").args([
            "s_client",
            "-connect",
            addr,
            "-tls1_2",
            "-cipher",
            "AES128-SHA",
        ]),
        b"",
        PEER_TIMEOUT,
    );
}

/// The server's stderr lines that start with `prefix`, once `count` of them are there (or
/// after `limit`).
fn wait_for_lines(server: &Server, prefix: &str, count: usize, limit: Duration) -> Vec<String> {
    let start = Instant::now();
    loop {
        let log = server.log();
        let lines: Vec<String> = log
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .collect();
        if lines.len() >= count || start.elapsed() > limit {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn each_failed_handshake_is_one_line_with_its_reason() {
    for driver in drivers() {
        let server = Server::reprise(driver, &["--timeout", "1"]);
        let addr = server.addr();
        incompatible_client(&addr);
        // Not TLS at all.
        send_and_wait_for_close(&addr, b"GET / HTTP/1.1\r\n\r\n");
        // A record header, then silence until the handshake timeout.
        send_and_wait_for_close(&addr, &[0x16, 0x03, 0x01]);
        // A health check: connects and closes without a byte. Not a failed handshake.
        drop(TcpStream::connect(&addr));
        // And a good client in between, which leaves no line.
        let good = run_with_timeout(
            Command::new(reprise_bin()).args(["connect", &addr, "--insecure"]),
            b"",
            PEER_TIMEOUT,
        );
        assert!(good.status.success(), "{}", text(&good));
        let lines = wait_for_lines(&server, "handshake failed: ", 3, Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(300));
        let lines_later = wait_for_lines(&server, "handshake failed: ", 3, Duration::ZERO);
        let context = format!("[{driver}] {lines:#?}\n{}", server.log());
        assert_eq!(lines.len(), 3, "{context}");
        assert_eq!(lines_later.len(), 3, "one line per failure: {context}");
        let peer = "handshake failed: peer 127.0.0.1:";
        assert!(lines.iter().all(|l| l.starts_with(peer)), "{context}");
        let expect = [
            "sent alert handshake_failure: no cipher suite in common",
            "sent alert unexpected_message: unknown record content type",
            "timed out",
        ];
        for (line, reason) in lines.iter().zip(expect) {
            assert!(
                line.ends_with(reason),
                "{line:?} should end with {reason:?}: {context}"
            );
        }
        assert!(
            !server.log().contains("connection failed"),
            "the good client left a line: {context}"
        );
    }
}

#[test]
fn a_flood_of_failures_is_logged_at_the_rate_limit() {
    const RATE: usize = 5;
    const FLOOD: usize = 300;
    for driver in drivers() {
        let server = Server::reprise(driver, &["--log-rate", "5"]);
        let addr = server.addr();
        let start = Instant::now();
        for _ in 0..FLOOD {
            send_and_wait_for_close(&addr, b"GET / HTTP/1.1\r\n\r\n");
        }
        let flood_secs = start.elapsed().as_secs_f64();
        // What was left out is counted on a line of its own once its second is over, so
        // soon every failure is either a line or counted.
        let accounted = |lines: &[String], summaries: &[String]| {
            let suppressed: usize = summaries
                .iter()
                .map(|l| {
                    l.trim_start_matches("failure log: ")
                        .split(' ')
                        .next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or_else(|| panic!("no count in {l:?}"))
                })
                .sum();
            lines.len() + suppressed
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let (lines, summaries) = loop {
            let lines = wait_for_lines(&server, "handshake failed: ", 0, Duration::ZERO);
            let summaries = wait_for_lines(&server, "failure log: ", 0, Duration::ZERO);
            if accounted(&lines, &summaries) >= FLOOD || Instant::now() > deadline {
                break (lines, summaries);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let context = format!(
            "[{driver}] {FLOOD} failures in {flood_secs:.2} s: {} lines, {summaries:#?}",
            lines.len()
        );
        // At most RATE lines in each (whole or partial) second of the flood.
        let windows = flood_secs.ceil() as usize + 1;
        assert!(
            !lines.is_empty() && lines.len() <= RATE * windows,
            "{context}"
        );
        assert!(!summaries.is_empty(), "{context}");
        assert_eq!(accounted(&lines, &summaries), FLOOD, "{context}");
    }
}

#[test]
fn quiet_logs_no_failures() {
    for driver in drivers() {
        let server = Server::reprise(driver, &["--quiet"]);
        let addr = server.addr();
        incompatible_client(&addr);
        send_and_wait_for_close(&addr, b"GET / HTTP/1.1\r\n\r\n");
        std::thread::sleep(Duration::from_millis(300));
        let log = server.log();
        assert!(
            !log.contains("handshake failed") && !log.contains("handshake failures"),
            "[{driver}] --quiet still logged:\n{log}"
        );
    }
}
