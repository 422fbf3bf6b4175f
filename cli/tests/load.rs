//! `reprise load` against `reprise serve --driver mio` (full, session-ID and ticket
//! resumption, several targets) and against `openssl s_server -tls1_2`. Runs are short
//! (`--duration 2s`) and bounded; the figures are not asserted, only their sense.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// The figures of the summary line.
#[derive(Debug)]
struct Summary {
    rate: f64,
    resumed: f64,
    errors: u64,
    p50: f64,
    p99: f64,
}

/// Parses `handshakes/s: X  resumed: Y%  errors: Z  p50: A ms  p99: B ms`; asserts there is
/// exactly one such line.
fn summary(out: &str) -> Summary {
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("handshakes/s: "))
        .collect();
    assert_eq!(lines.len(), 1, "one summary line:\n{out}");
    let words: Vec<&str> = lines[0].split_whitespace().collect();
    let num = |key: &str| -> f64 {
        let i = words.iter().position(|w| *w == key).unwrap();
        words[i + 1].trim_end_matches('%').parse().unwrap()
    };
    Summary {
        rate: num("handshakes/s:"),
        resumed: num("resumed:"),
        errors: num("errors:") as u64,
        p50: num("p50:"),
        p99: num("p99:"),
    }
}

fn load(args: &[&str]) -> String {
    let out = run_with_timeout(
        Command::new(reprise_bin()).arg("load").args(args),
        b"",
        Duration::from_secs(60),
    );
    let t = text(&out);
    assert!(out.status.success(), "reprise load failed:\n{t}");
    t
}

#[test]
fn load_against_mio_server_resumes_by_ticket_and_by_id() {
    let server = Server::reprise("mio", &[]);
    for (resume, expect_resumed) in [("ticket", true), ("id", true), ("none", false)] {
        let out = load(&[
            &server.addr(),
            "--insecure",
            "--connections",
            "64",
            "--duration",
            "2s",
            "--resume",
            resume,
        ]);
        let s = summary(&out);
        let ctx = format!("--resume {resume}: {s:?}\n{out}\n{}", server.log());
        assert!(s.rate > 0.0, "{ctx}");
        assert_eq!(s.errors, 0, "{ctx}");
        assert!(s.p50 > 0.0 && s.p99 >= s.p50, "{ctx}");
        if expect_resumed {
            assert!(s.resumed >= 99.0, "{ctx}");
        } else {
            assert_eq!(s.resumed, 0.0, "{ctx}");
        }
        // The summary is the last line when there are no errors.
        assert!(
            out.contains("--- stdout ---")
                && out
                    .split("--- stdout ---")
                    .nth(1)
                    .unwrap()
                    .split("--- stderr ---")
                    .next()
                    .unwrap()
                    .trim_end()
                    .lines()
                    .last()
                    .unwrap()
                    .starts_with("handshakes/s: "),
            "{ctx}"
        );
        // Not a terminal: no progress line.
        assert!(!out.contains('\r'), "{ctx}");
    }
}

#[test]
fn load_with_requests_and_a_handshake_count() {
    let server = Server::reprise("mio", &[]);
    let out = load(&[
        &server.addr(),
        "--insecure",
        "--connections",
        "8",
        "--handshakes",
        "200",
        "--resume",
        "ticket",
        "--http-get",
        "/",
    ]);
    let s = summary(&out);
    assert_eq!(s.errors, 0, "{out}");
    assert!(s.resumed >= 99.0, "{out}");
    assert!(out.contains("handshakes: 200 in"), "{out}");
}

#[test]
fn load_spreads_over_targets_and_counts_errors_by_kind() {
    let server = Server::reprise("mio", &[]);
    // A second "server" that refuses: half the attempts go there.
    let dead = format!("127.0.0.1:{}", free_port());
    let out = run_with_timeout(
        Command::new(reprise_bin()).args([
            "load",
            "--targets",
            &format!("{},{dead}", server.addr()),
            "--insecure",
            "--connections",
            "4",
            "--handshakes",
            "40",
            "--sni",
            "localhost",
        ]),
        b"",
        Duration::from_secs(60),
    );
    let t = text(&out);
    let s = summary(&t);
    assert_eq!(s.errors, 20, "{t}");
    assert!(t.contains("handshakes: 20 in"), "{t}");
    assert!(t.contains("  connect: connection refused: 20"), "{t}");
}

#[test]
fn load_against_openssl_s_server_resumes_by_id() {
    let pki = Pki::generate("load-sserver");
    let server = Server::openssl(&["-cert", &s(&pki.ecdsa_cert), "-key", &s(&pki.ecdsa_key)]);
    // s_server handles one connection at a time: few connections.
    let out = load(&[
        &server.addr(),
        "--ca",
        &s(&pki.ca),
        "--sni",
        "localhost",
        "--connections",
        "2",
        "--duration",
        "2s",
        "--resume",
        "id",
    ]);
    let sum = summary(&out);
    let ctx = format!("{sum:?}\n{out}\n{}", server.log());
    assert!(sum.rate > 0.0, "{ctx}");
    assert_eq!(sum.errors, 0, "{ctx}");
    assert!(sum.resumed >= 99.0, "{ctx}");
}

#[test]
fn signatures_made_on_a_worker_pool() {
    // `--sign-workers 2`: the engine suspends each full handshake for its ServerKeyExchange
    // signature, made on the signer threads, while the event loop serves others. Both
    // event-loop drivers answer these suspensions.
    for driver in drivers().into_iter().filter(|d| *d != "threads") {
        let server = Server::reprise(driver, &["--sign-workers", "2"]);
        let s = summary(&load(&[
            &server.addr(),
            "--insecure",
            "--connections",
            "16",
            "--duration",
            "2s",
        ]));
        assert!(
            s.rate > 0.0 && s.errors == 0,
            "{driver}: {s:?}\n{}",
            server.log()
        );
        let out = run_with_timeout(
            Command::new(reprise_bin())
                .args([
                    "connect",
                    &server.addr(),
                    "--insecure",
                    "--sni",
                    "localhost",
                ])
                .args([
                    "--suites",
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                    "--http-get",
                    "/",
                ]),
            b"",
            PEER_TIMEOUT,
        );
        assert!(
            out.status.success() && text(&out).contains(" 200 "),
            "{driver}: {}",
            text(&out)
        );
    }
}
