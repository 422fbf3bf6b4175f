//! The io_uring driver end to end: `reprise load --driver uring` against
//! `reprise serve --driver uring` (full handshakes, resumption by ticket and by session ID,
//! requests), and the fallback to mio with the cause when io_uring is unavailable (forced by
//! the `REPRISE_URING_DISABLE=1` test hook). Runs are short and bounded; rates are not asserted.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// `(handshakes/s, resumed %, errors)` of the one summary line.
fn summary(out: &str) -> (f64, f64, u64) {
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
    (num("handshakes/s:"), num("resumed:"), num("errors:") as u64)
}

fn load(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(reprise_bin());
    cmd.arg("load").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_with_timeout(&mut cmd, b"", Duration::from_secs(60));
    let t = text(&out);
    assert!(out.status.success(), "reprise load failed:\n{t}");
    t
}

#[test]
fn uring_load_against_uring_server_resumes_by_ticket_and_by_id() {
    let server = Server::reprise("uring", &["--workers", "2"]);
    assert!(
        server.log().contains("uring driver: 2 workers"),
        "io_uring works on this kernel, so no fallback:\n{}",
        server.log()
    );
    for (resume, expect_resumed) in [("ticket", true), ("id", true), ("none", false)] {
        let out = load(
            &[
                &server.addr(),
                "--driver",
                "uring",
                "--insecure",
                "--connections",
                "32",
                "--duration",
                "2s",
                "--resume",
                resume,
            ],
            &[],
        );
        let (rate, resumed, errors) = summary(&out);
        let ctx = format!("--resume {resume}\n{out}\n{}", server.log());
        assert!(rate > 0.0, "{ctx}");
        assert_eq!(errors, 0, "{ctx}");
        assert!(!out.contains("falling back"), "{ctx}");
        if expect_resumed {
            assert!(resumed >= 99.0, "{ctx}");
        } else {
            assert_eq!(resumed, 0.0, "{ctx}");
        }
    }
}

#[test]
fn uring_load_with_requests_counts_exactly() {
    let server = Server::reprise("uring", &[]);
    let out = load(
        &[
            &server.addr(),
            "--driver",
            "uring",
            "--insecure",
            "--connections",
            "8",
            "--handshakes",
            "300",
            "--resume",
            "ticket",
            "--http-get",
            "/",
        ],
        &[],
    );
    let (_, resumed, errors) = summary(&out);
    assert_eq!(errors, 0, "{out}");
    assert!(resumed >= 99.0, "{out}");
    assert!(out.contains("handshakes: 300 in"), "{out}");
}

#[test]
fn uring_load_counts_refused_connections_by_kind() {
    let server = Server::reprise("uring", &[]);
    let dead = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(reprise_bin());
    cmd.args([
        "load",
        "--driver",
        "uring",
        "--targets",
        &format!("{},{dead}", server.addr()),
        "--insecure",
        "--connections",
        "4",
        "--handshakes",
        "40",
        "--sni",
        "localhost",
    ]);
    let out = run_with_timeout(&mut cmd, b"", Duration::from_secs(60));
    let t = text(&out);
    let (_, _, errors) = summary(&t);
    // Each virtual client alternates targets; how many attempts each client gets of the
    // shared 40 depends on timing, so the split is about even, not exact.
    let done: u64 = t
        .lines()
        .find_map(|l| l.strip_prefix("handshakes: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no handshake count:\n{t}"));
    assert_eq!(done + errors, 40, "{t}");
    assert!((10..=30).contains(&errors), "{t}");
    assert!(
        t.contains(&format!("  connect: connection refused: {errors}\n")),
        "{t}"
    );
}

#[test]
fn without_io_uring_serve_and_load_say_why_and_fall_back_to_mio() {
    let server = Server::start(
        "reprise serve --driver uring (disabled)",
        "listening on ",
        |port| {
            let mut cmd = Command::new(reprise_bin());
            cmd.env("REPRISE_URING_DISABLE", "1").args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--driver",
                "uring",
            ]);
            cmd
        },
    );
    let log = server.log();
    assert!(
        log.contains("io_uring unavailable: io_uring disabled by the REPRISE_URING_DISABLE test hook; falling back to the mio driver"),
        "{log}"
    );
    assert!(log.contains("mio driver: "), "{log}");
    let out = load(
        &[
            &server.addr(),
            "--driver",
            "uring",
            "--insecure",
            "--connections",
            "4",
            "--handshakes",
            "40",
            "--resume",
            "ticket",
        ],
        &[("REPRISE_URING_DISABLE", "1")],
    );
    assert!(out.contains("falling back to the mio driver"), "{out}");
    let (_, resumed, errors) = summary(&out);
    assert_eq!(errors, 0, "{out}");
    assert!(resumed >= 99.0, "{out}");
}
