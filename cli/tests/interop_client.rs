//! `reprise connect` against `openssl s_server -tls1_2 -www`.

mod common;

use common::*;
use std::process::{Command, Output};

/// Alert `reprise connect` must name when the certificate's names don't
/// match `--sni`.
const HOSTNAME_MISMATCH_ALERT: &str = "bad_certificate";
/// Alert `reprise connect` must name when the chain doesn't lead to `--ca`.
const UNTRUSTED_CHAIN_ALERT: &str = "unknown_ca";

/// `reprise connect 127.0.0.1:PORT --sni SNI --ca CA --http-get /`
fn connect(server: &Server, sni: &str, ca: &str) -> Output {
    run_with_timeout(
        Command::new(reprise_bin())
            .arg("connect")
            .arg(server.addr())
            .args(["--sni", sni, "--ca", ca, "--http-get", "/"]),
        b"",
        PEER_TIMEOUT,
    )
}

/// Whether `reprise connect` printed an HTTP status line with code 200
/// (tolerates a prefix such as `status: ` before `HTTP/1.x 200 ...`).
fn has_status_200(stdout: &str) -> bool {
    stdout.lines().any(|l| {
        l.find("HTTP/1.")
            .is_some_and(|i| l[i..].split_whitespace().nth(1) == Some("200"))
    })
}

fn assert_ok(out: &Output, expect: &[String], ctx: &str) {
    let all = text(out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{ctx}: reprise connect failed\n{all}");
    for line in expect {
        assert!(
            stdout.lines().any(|l| l.trim() == line),
            "{ctx}: missing line {line:?}\n{all}"
        );
    }
    assert!(
        has_status_200(&stdout),
        "{ctx}: no HTTP 200 status line\n{all}"
    );
}

fn assert_rejected(out: &Output, alert: &str, ctx: &str) {
    let all = text(out);
    assert!(
        !out.status.success(),
        "{ctx}: reprise connect succeeded\n{all}"
    );
    assert!(all.contains("error:"), "{ctx}: no `error:` line\n{all}");
    assert!(
        all.contains(alert),
        "{ctx}: alert {alert:?} not named\n{all}"
    );
}

#[test]
fn connect_each_suite() {
    let pki = Pki::generate("cli-suites");
    let ca = s(&pki.ca);
    for suite in &SUITES {
        let (cert, key) = match suite.key {
            KeyType::Ecdsa => (s(&pki.ecdsa_cert), s(&pki.ecdsa_key)),
            KeyType::Rsa => (s(&pki.rsa_cert), s(&pki.rsa_key)),
        };
        let server = Server::openssl(&["-cert", &cert, "-key", &key, "-cipher", suite.openssl]);
        let out = connect(&server, "localhost", &ca);
        let expect = [
            "version: TLSv1.2".to_string(),
            format!("suite: {}", suite.iana),
        ];
        assert_ok(
            &out,
            &expect,
            &format!("suite {}\n{}", suite.iana, server.log()),
        );
    }
}

#[test]
fn connect_each_group() {
    let pki = Pki::generate("cli-groups");
    let ca = s(&pki.ca);
    let (cert, key) = (s(&pki.ecdsa_cert), s(&pki.ecdsa_key));
    for group in &GROUPS {
        let server = Server::openssl(&["-cert", &cert, "-key", &key, "-groups", group.name]);
        let out = connect(&server, "localhost", &ca);
        let expect = [
            "version: TLSv1.2".to_string(),
            format!("group: {}", group.name),
        ];
        assert_ok(
            &out,
            &expect,
            &format!("group {}\n{}", group.name, server.log()),
        );
    }
}

#[test]
fn connect_rejects_wrong_hostname() {
    let pki = Pki::generate("cli-hostname");
    let server = Server::openssl(&["-cert", &s(&pki.ecdsa_cert), "-key", &s(&pki.ecdsa_key)]);
    let out = connect(&server, "wrong.example", &s(&pki.ca));
    assert_rejected(
        &out,
        HOSTNAME_MISMATCH_ALERT,
        &format!("wrong hostname\n{}", server.log()),
    );
}

#[test]
fn connect_rejects_untrusted_chain() {
    let pki = Pki::generate("cli-untrusted");
    let server = Server::openssl(&[
        "-cert",
        &s(&pki.untrusted_cert),
        "-key",
        &s(&pki.untrusted_key),
    ]);
    let out = connect(&server, "localhost", &s(&pki.ca));
    assert_rejected(
        &out,
        UNTRUSTED_CHAIN_ALERT,
        &format!("untrusted chain\n{}", server.log()),
    );
}
