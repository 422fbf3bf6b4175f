//! `reprise serve` against real TLS 1.2 clients: openssl s_client,
//! gnutls-cli, curl and Python's ssl module. Every test runs once per server
//! driver in `common::drivers()`.

mod common;

use common::*;
use std::process::Command;

/// The `-curves` list s_client offers. In TLS 1.2 supported_groups also
/// limits the curve of an ECDSA certificate (RFC 8422 5.1), so for ECDSA
/// suites P-256 (the test leaf's curve) is offered after the group under
/// test; the group under test comes first and must still be the one picked.
fn curves_offered(suite: &Suite, group: &Group) -> String {
    if suite.key == KeyType::Ecdsa && group.name != "P-256" {
        format!("{}:P-256", group.name)
    } else {
        group.name.to_owned()
    }
}

/// One `openssl s_client` exchange: handshake with `cipher`/`group`, send
/// the request, wait (bounded) for the `200` page, kill the client by PID.
fn s_client(port: u16, suite: &Suite, group: &Group, ca: Option<&str>) -> (String, Vec<String>) {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-tls1_2",
        "-ign_eof",
        "-servername",
        "localhost",
    ])
    .args(["-connect", &format!("127.0.0.1:{port}")])
    .args([
        "-cipher",
        suite.openssl,
        "-curves",
        &curves_offered(suite, group),
    ]);
    if let Some(ca) = ca {
        cmd.args([
            "-CAfile",
            ca,
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
        ]);
    }
    let (out, _) = run_until(&mut cmd, HTTP_REQUEST, PEER_TIMEOUT, |o, _| http_ok(o));
    let all = text(&out);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();

    let mut problems = Vec::new();
    let negotiated = format!("New, TLSv1.2, Cipher is {}", suite.openssl);
    if !stdout.contains(&negotiated) {
        problems.push(format!("missing {negotiated:?}"));
    }
    let temp_key = stdout
        .lines()
        .find(|l| l.starts_with("Server Temp Key:"))
        .unwrap_or("");
    if !temp_key.contains(group.openssl_temp_key) {
        problems.push(format!(
            "Server Temp Key {temp_key:?} is not {}",
            group.openssl_temp_key
        ));
    }
    if !stdout.contains("Extended master secret: yes") {
        problems.push("extended master secret not negotiated".into());
    }
    if ca.is_some() && !stdout.contains("Verify return code: 0 (ok)") {
        problems.push("certificate chain did not verify".into());
    }
    if !http_ok(&stdout) {
        problems.push("no HTTP 200 page mentioning reprise".into());
    }
    (all, problems)
}

/// Runs the 6 suites x 3 groups matrix; returns failure descriptions.
fn s_client_matrix(driver: &str, server: &Server, ca: Option<&str>) -> Vec<String> {
    let mut failures = Vec::new();
    for suite in &SUITES {
        for group in &GROUPS {
            let (out, problems) = s_client(server.port, suite, group, ca);
            if !problems.is_empty() {
                failures.push(format!(
                    "[driver {driver}] s_client {} {}: {}\n{out}",
                    suite.openssl,
                    group.name,
                    problems.join("; ")
                ));
            }
        }
    }
    failures
}

#[test]
fn openssl_s_client_all_suites_and_groups() {
    let pki = Pki::generate("srv-sclient");
    let args = pki.serve_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ca = s(&pki.ca);
    for driver in drivers() {
        let server = Server::reprise(driver, &args);
        let failures = s_client_matrix(driver, &server, Some(&ca));
        assert!(
            failures.is_empty(),
            "{}\n{}",
            failures.join("\n\n"),
            server.log()
        );
    }
}

#[test]
fn openssl_s_client_self_signed_server() {
    for driver in drivers() {
        let server = Server::reprise(driver, &[]);
        let failures = s_client_matrix(driver, &server, None);
        assert!(
            failures.is_empty(),
            "{}\n{}",
            failures.join("\n\n"),
            server.log()
        );
    }
}

#[test]
fn gnutls_cli_fetches_page() {
    let pki = Pki::generate("srv-gnutls");
    let args = pki.serve_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for driver in drivers() {
        let server = Server::reprise(driver, &args);
        let (out, ok) = run_until(
            Command::new("gnutls-cli")
                .args(["--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2"])
                .args(["--x509cafile", &s(&pki.ca)])
                .args(["-p", &server.port.to_string(), "localhost"]),
            HTTP_REQUEST,
            PEER_TIMEOUT,
            |o, _| http_ok(o),
        );
        let all = text(&out);
        assert!(
            ok,
            "[driver {driver}] gnutls-cli got no 200 page\n{all}\n{}",
            server.log()
        );
        assert!(
            all.contains("- Description: (TLS1.2"),
            "[driver {driver}] gnutls-cli did not negotiate TLS 1.2\n{all}\n{}",
            server.log()
        );
    }
}

#[test]
fn curl_fetches_page_with_alpn() {
    let pki = Pki::generate("srv-curl");
    let args = pki.serve_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for driver in drivers() {
        let server = Server::reprise(driver, &args);
        let port = server.port;
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
                .args(["-w", "\nhttp_code: %{http_code}\n"])
                .arg(format!("https://localhost:{port}/")),
            b"",
            PEER_TIMEOUT,
        );
        let all = text(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
        let ctx = format!("[driver {driver}] curl\n{all}\n{}", server.log());
        assert!(out.status.success(), "curl failed: {ctx}");
        assert!(
            stdout.contains("http_code: 200"),
            "status is not 200: {ctx}"
        );
        assert!(
            stdout.to_ascii_lowercase().contains("reprise"),
            "body lacks reprise: {ctx}"
        );
        assert!(stderr.contains("tlsv1.2"), "not TLS 1.2: {ctx}");
        // curl 7.88: "ALPN: server accepted http/1.1"; older: "ALPN, server accepted to use http/1.1".
        let alpn = stderr
            .lines()
            .any(|l| l.contains("alpn") && l.contains("accepted") && l.contains("http/1.1"));
        assert!(alpn, "server did not accept ALPN http/1.1: {ctx}");
    }
}

const PYTHON_CLIENT: &str = r#"
import socket, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
ctx.minimum_version = ssl.TLSVersion.TLSv1_2
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
ctx.set_alpn_protocols(["http/1.1"])
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        print("version:", tls.version())
        print("cipher:", tls.cipher()[0])
        print("alpn:", tls.selected_alpn_protocol())
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        while b"reprise" not in data.partition(b"\r\n\r\n")[2].lower():
            try:
                chunk = tls.recv(4096)
            except ssl.SSLEOFError:
                break
            if not chunk:
                break
            data += chunk
        print(data.decode("latin-1"))
"#;

#[test]
fn python_ssl_fetches_page() {
    let pki = Pki::generate("srv-python");
    let args = pki.serve_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for driver in drivers() {
        let server = Server::reprise(driver, &args);
        let out = run_with_timeout(
            Command::new("python3").args([
                "-c",
                PYTHON_CLIENT,
                &server.port.to_string(),
                &s(&pki.ca),
            ]),
            b"",
            PEER_TIMEOUT,
        );
        let all = text(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let ctx = format!("[driver {driver}] python ssl\n{all}\n{}", server.log());
        assert!(out.status.success(), "python client failed: {ctx}");
        assert!(stdout.contains("version: TLSv1.2"), "not TLS 1.2: {ctx}");
        assert!(http_ok(&stdout), "no 200 page: {ctx}");
    }
}

#[test]
fn tls11_client_rejected_and_server_keeps_serving() {
    let pki = Pki::generate("srv-tls11");
    let args = pki.serve_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ca = s(&pki.ca);
    for driver in drivers() {
        let mut server = Server::reprise(driver, &args);
        // SECLEVEL=0 so the local OpenSSL really sends a TLS 1.1 ClientHello
        // instead of refusing before connecting.
        let out = run_with_timeout(
            Command::new("openssl")
                .args(["s_client", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
                .args(["-servername", "localhost", "-connect", &server.addr()]),
            b"",
            PEER_TIMEOUT,
        );
        let all = text(&out);
        let ctx = format!(
            "[driver {driver}] s_client -tls1_1\n{all}\n{}",
            server.log()
        );
        assert!(
            !all.contains("no protocols available"),
            "client refused locally: {ctx}"
        );
        assert!(all.contains("CONNECTED("), "client never connected: {ctx}");
        assert!(!out.status.success(), "TLS 1.1 handshake succeeded: {ctx}");
        assert!(
            !all.contains("New, TLSv1"),
            "TLS 1.1 session established: {ctx}"
        );
        assert!(
            server.is_running(),
            "server died after TLS 1.1 attempt: {ctx}"
        );

        let (out, problems) = s_client(server.port, &SUITES[0], &GROUPS[0], Some(&ca));
        assert!(
            problems.is_empty(),
            "[driver {driver}] good client after TLS 1.1 attempt: {}\n{out}\n{}",
            problems.join("; "),
            server.log()
        );
    }
}
