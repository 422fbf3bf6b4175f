//! Resumption against real peers: `reprise serve` resumed by openssl s_client, gnutls-cli,
//! curl and Python's ssl (by session ID and by ticket), and `reprise connect` resuming with
//! `openssl s_server`. Every server test runs once per driver in `common::drivers()`.

mod common;

use common::*;
use std::process::Command;

/// Server flags that leave only one way to resume, so a resumption proves that way works.
const ID_ONLY: &[&str] = &["--tickets", "off"];
const TICKETS_ONLY: &[&str] = &["--session-cache", "off"];

fn serve(driver: &str, pki: &Pki, mode: &[&str]) -> Server {
    let mut args = pki.serve_args();
    args.extend(mode.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::reprise(driver, &args)
}

/// One s_client handshake that ends at stdin EOF, saving or reusing a session file.
fn s_client(port: u16, ca: &str, extra: &[&str]) -> String {
    let out = run_with_timeout(
        Command::new("openssl")
            .args(["s_client", "-tls1_2", "-servername", "localhost"])
            .args(["-connect", &format!("127.0.0.1:{port}")])
            .args(["-CAfile", ca, "-verify_return_error"])
            .args(extra),
        b"",
        PEER_TIMEOUT,
    );
    text(&out)
}

#[test]
fn openssl_s_client_resumes_by_session_id_and_by_ticket() {
    let pki = Pki::generate("res-sclient");
    let ca = s(&pki.ca);
    for driver in drivers() {
        for (mode, flags, ticket_flag) in [
            ("session id", ID_ONLY, "-no_ticket"),
            ("ticket", TICKETS_ONLY, ""),
        ] {
            let server = serve(driver, &pki, flags);
            let sess = pki
                .dir
                .path()
                .join(format!("{driver}-{}.sess", mode.replace(' ', "-")));
            let sess = s(&sess);
            let mut first_args = vec!["-sess_out", &sess];
            let mut second_args = vec!["-sess_in", &sess];
            if !ticket_flag.is_empty() {
                first_args.push(ticket_flag);
                second_args.push(ticket_flag);
            }
            let first = s_client(server.port, &ca, &first_args);
            let ctx = format!("[driver {driver}, {mode}]\n{first}\n{}", server.log());
            assert!(
                first.contains("New, TLSv1.2"),
                "first connection is full: {ctx}"
            );
            if mode == "ticket" {
                assert!(
                    first.contains("TLS session ticket lifetime hint"),
                    "a ticket was issued: {ctx}"
                );
            }
            let second = s_client(server.port, &ca, &second_args);
            assert!(
                second.contains("Reused, TLSv1.2"),
                "[driver {driver}, {mode}] second connection must be Reused\n{second}\n{}",
                server.log()
            );
        }
    }
}

#[test]
fn gnutls_cli_resumes_in_both_modes() {
    let pki = Pki::generate("res-gnutls");
    for driver in drivers() {
        for (mode, flags, priority) in [
            ("ticket", TICKETS_ONLY, "NORMAL:-VERS-ALL:+VERS-TLS1.2"),
            (
                "session id",
                ID_ONLY,
                "NORMAL:-VERS-ALL:+VERS-TLS1.2:%NO_TICKETS",
            ),
        ] {
            let server = serve(driver, &pki, flags);
            let (out, ok) = run_until(
                Command::new("gnutls-cli")
                    .args(["--priority", priority, "--resume"])
                    .args(["--x509cafile", &s(&pki.ca)])
                    .args(["-p", &server.port.to_string(), "localhost"]),
                HTTP_REQUEST,
                PEER_TIMEOUT,
                |o, _| {
                    o.contains("This is a resumed session")
                        && http_ok(o.rsplit("resumed session").next().unwrap_or(""))
                },
            );
            let all = text(&out);
            assert!(
                ok && all.contains("This is a resumed session"),
                "[driver {driver}, {mode}] gnutls-cli --resume did not resume\n{all}\n{}",
                server.log()
            );
        }
    }
}

#[test]
fn curl_reuses_the_session_id_across_two_urls() {
    let pki = Pki::generate("res-curl");
    for driver in drivers() {
        let server = serve(driver, &pki, ID_ONLY);
        let port = server.port;
        let url = |p: &str| format!("https://localhost:{port}/{p}");
        let out = run_with_timeout(
            Command::new("curl")
                .args([
                    "-sS",
                    "-v",
                    "--tlsv1.2",
                    "--tls-max",
                    "1.2",
                    "--max-time",
                    "10",
                ])
                .args(["--cacert", &s(&pki.ca)])
                .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
                // Closing after each response makes curl open a second TLS connection.
                .args([
                    "-H",
                    "Connection: close",
                    "-o",
                    "/dev/null",
                    "-o",
                    "/dev/null",
                ])
                .args([url("a"), url("b")]),
            b"",
            PEER_TIMEOUT,
        );
        let all = text(&out);
        assert!(
            out.status.success(),
            "[driver {driver}] curl failed\n{all}\n{}",
            server.log()
        );
        assert!(
            all.contains("SSL re-using session ID"),
            "[driver {driver}] curl did not reuse the session\n{all}\n{}",
            server.log()
        );
    }
}

const PYTHON_RESUME: &str = r#"
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
def fetch(session=None):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            body = b""
            while b"reprise" not in body:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                body += chunk
            return tls.session, tls.session_reused, body
session, reused1, body1 = fetch()
_, reused2, body2 = fetch(session)
print("first reused:", reused1)
print("second reused:", reused2)
print("pages:", b"200 OK" in body1 and b"200 OK" in body2)
"#;

#[test]
fn python_ssl_resumes_with_session() {
    let pki = Pki::generate("res-python");
    for driver in drivers() {
        for (mode, flags) in [("session id", ID_ONLY), ("ticket", TICKETS_ONLY)] {
            let server = serve(driver, &pki, flags);
            let out = run_with_timeout(
                Command::new("python3").args([
                    "-c",
                    PYTHON_RESUME,
                    &server.port.to_string(),
                    &s(&pki.ca),
                ]),
                b"",
                PEER_TIMEOUT,
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            let ctx = format!(
                "[driver {driver}, {mode}]\n{}\n{}",
                text(&out),
                server.log()
            );
            assert!(out.status.success(), "python failed: {ctx}");
            assert!(stdout.contains("first reused: False"), "{ctx}");
            assert!(stdout.contains("second reused: True"), "{ctx}");
            assert!(stdout.contains("pages: True"), "{ctx}");
        }
    }
}

#[test]
fn reprise_connect_resumes_against_openssl_s_server() {
    let pki = Pki::generate("res-connect");
    let (cert, key) = (s(&pki.ecdsa_cert), s(&pki.ecdsa_key));
    for (mode, server_flags) in [("id", vec!["-no_ticket"]), ("ticket", vec![])] {
        let mut args = vec!["-cert", &cert, "-key", &key];
        args.extend(server_flags);
        let server = Server::openssl(&args);
        let out = run_with_timeout(
            Command::new(reprise_bin())
                .args([
                    "connect",
                    &server.addr(),
                    "--sni",
                    "localhost",
                    "--ca",
                    &s(&pki.ca),
                ])
                .args(["--resume", mode, "--reconnect", "2", "--http-get", "/"]),
            b"",
            PEER_TIMEOUT,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let ctx = format!("[--resume {mode}]\n{}\n{}", text(&out), server.log());
        assert!(out.status.success(), "reprise connect failed: {ctx}");
        let expected = if mode == "id" {
            "resumed: yes (session-id)"
        } else {
            "resumed: yes (ticket)"
        };
        assert_eq!(
            stdout.matches("resumed: no").count(),
            1,
            "only the first is full: {ctx}"
        );
        assert_eq!(
            stdout.matches(expected).count(),
            2,
            "both reconnections resume: {ctx}"
        );
        assert_eq!(stdout.matches(" 200 ").count(), 3, "three pages: {ctx}");
    }
}
