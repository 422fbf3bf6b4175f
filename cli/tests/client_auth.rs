//! Mutual TLS on `reprise serve --client-ca`, against real clients over loopback: openssl
//! `s_client -cert -key`, curl `--cert --key`, gnutls-cli and Python's `ssl` with
//! `load_cert_chain` are let in; a client without a certificate gets handshake_failure; a
//! certificate revoked by a CRL loaded on reload gets certificate_revoked; the access log
//! names the client by its certificate's subject; every bad client certificate or
//! CertificateVerify gets its alert over a socket (docs/alerts.md); sessions keep their client
//! across resumption, and lose it when it is revoked, expires or the roots change.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A client CA, a client certificate (serial 17) and its key, as PEM files in `dir`; and
/// the CA's issuer, to sign revocation lists.
fn client_pki(dir: &Path) -> rcgen::Issuer<'static, rcgen::KeyPair> {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Reprise Client CA");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(params, ca_key);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "device-17");
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    leaf.serial_number = Some(rcgen::SerialNumber::from(17u64));
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("client-ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("client.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("client.key"), key.serialize_pem()).unwrap();
    issuer
}

/// A revocation list by `issuer` revoking `serials`, as PEM at `path`.
fn write_crl(path: &Path, issuer: &rcgen::Issuer<'_, rcgen::KeyPair>, serials: &[u64]) {
    let crl = rcgen::CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2026, 1, 1),
        next_update: rcgen::date_time_ymd(2036, 1, 1),
        crl_number: rcgen::SerialNumber::from(serials.len() as u64 + 1),
        issuing_distribution_point: None,
        revoked_certs: serials
            .iter()
            .map(|&serial| rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from(serial),
                revocation_time: rcgen::date_time_ymd(2026, 6, 1),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(issuer)
    .unwrap();
    std::fs::write(path, crl.pem().unwrap()).unwrap();
}

fn s_client(addr: &str, dir: &Path, with_certificate: bool) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        addr,
        "-tls1_2",
        "-servername",
        "localhost",
    ]);
    if with_certificate {
        cmd.args([
            "-cert",
            &s(&dir.join("client.pem")),
            "-key",
            &s(&dir.join("client.key")),
        ]);
    }
    text(&run_with_timeout(
        &mut cmd,
        b"GET / HTTP/1.0\r\n\r\n",
        PEER_TIMEOUT,
    ))
}

/// Whether curl, presenting the client certificate, gets the page.
fn curl_with_certificate(addr: &str, dir: &Path) -> bool {
    let out = run_with_timeout(
        Command::new("curl").args([
            "-sk",
            "--cert",
            &s(&dir.join("client.pem")),
            "--key",
            &s(&dir.join("client.key")),
            &format!("https://{addr}/"),
        ]),
        b"",
        PEER_TIMEOUT,
    );
    String::from_utf8_lossy(&out.stdout).contains("TLS 1.2 served by reprise")
}

fn wait_for_log(server: &Server, needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if server.log().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn openssl_and_curl_present_certificates_and_a_client_without_one_is_refused() {
    let dir = TempDir::new("mtls");
    client_pki(dir.path());
    let ca = s(&dir.path().join("client-ca.pem"));
    for driver in drivers() {
        let server = Server::reprise(driver, &["--client-ca", &ca, "--client-auth", "required"]);
        let addr = server.addr();
        let out = s_client(&addr, dir.path(), true);
        assert!(
            out.contains("New, TLSv1.2, Cipher is ECDHE") && !out.contains("alert"),
            "[{driver}] {out}\n{}",
            server.log()
        );
        assert!(
            curl_with_certificate(&addr, dir.path()),
            "[{driver}] {}",
            server.log()
        );
        // Without a certificate: refused with handshake_failure, and the log says why.
        let out = s_client(&addr, dir.path(), false);
        assert!(out.contains("alert handshake failure"), "[{driver}] {out}");
        assert!(
            wait_for_log(
                &server,
                "sent alert handshake_failure: the client sent no certificate"
            ),
            "[{driver}] {}",
            server.log()
        );
    }
}

#[test]
fn gnutls_and_python_present_certificates_and_resume() {
    let dir = TempDir::new("mtls-peers");
    client_pki(dir.path());
    let (ca, cert, key) = (
        s(&dir.path().join("client-ca.pem")),
        s(&dir.path().join("client.pem")),
        s(&dir.path().join("client.key")),
    );
    let server = Server::reprise("mio", &["--client-ca", &ca]);
    let out = run_with_timeout(
        Command::new("gnutls-cli").args([
            "--insecure",
            "--priority",
            "NORMAL:-VERS-ALL:+VERS-TLS1.2",
            "--x509certfile",
            &cert,
            "--x509keyfile",
            &key,
            "--resume",
            "-p",
            &server.port.to_string(),
            "127.0.0.1",
        ]),
        b"GET / HTTP/1.0\r\n\r\n",
        PEER_TIMEOUT,
    );
    assert!(
        text(&out).contains("TLS 1.2 served by reprise")
            && text(&out).contains("This is a resumed session"),
        "{}\n{}",
        text(&out),
        server.log()
    );
    let script = format!(
        "import socket, ssl\n\
         ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n\
         ctx.check_hostname = False\n\
         ctx.verify_mode = ssl.CERT_NONE\n\
         ctx.maximum_version = ssl.TLSVersion.TLSv1_2\n\
         ctx.load_cert_chain({cert:?}, {key:?})\n\
         session = None\n\
         for _ in range(2):\n\
         \x20   with ctx.wrap_socket(socket.create_connection(('127.0.0.1', {port}), timeout=10), session=session) as s:\n\
         \x20       s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n\
         \x20       data = b''\n\
         \x20       while True:\n\
         \x20           chunk = s.recv(4096)\n\
         \x20           if not chunk: break\n\
         \x20           data += chunk\n\
         \x20       print('reused', s.session_reused)\n\
         \x20       session = s.session\n\
         print(data.decode())\n",
        port = server.port
    );
    let out = run_with_timeout(
        Command::new("python3").args(["-c", &script]),
        b"",
        PEER_TIMEOUT,
    );
    assert!(
        text(&out).contains("TLS 1.2 served by reprise")
            && text(&out).contains("reused False\nreused True"),
        "{}\n{}",
        text(&out),
        server.log()
    );
}

#[test]
fn a_certificate_revoked_by_a_reloaded_crl_is_refused_with_certificate_revoked() {
    let dir = TempDir::new("mtls-crl");
    let issuer = client_pki(dir.path());
    let crl = dir.path().join("client.crl");
    write_crl(&crl, &issuer, &[]);
    let socket = dir.path().join("ctl.sock");
    // Revocation lists reload with the certificates: a server on real ones.
    let pki = Pki::generate("mtls-crl-server");
    let mut args: Vec<String> = pki.serve_args();
    let access = dir.path().join("access.log");
    args.extend([
        "--access-log".into(),
        s(&access),
        "--client-ca".into(),
        s(&dir.path().join("client-ca.pem")),
        "--client-crl".into(),
        s(&crl),
        "--control".into(),
        s(&socket),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::reprise("mio", &args);
    let addr = server.addr();
    assert!(curl_with_certificate(&addr, dir.path()), "{}", server.log());
    // The access log names the client by its certificate's subject.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut lines = String::new();
    while !lines.contains("client=\"CN=device-17\"") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        lines = std::fs::read_to_string(&access).unwrap_or_default();
    }
    assert!(lines.contains("client=\"CN=device-17\""), "{lines}");
    let epoch = |socket: &Path| {
        let status = text(&run_with_timeout(
            Command::new(reprise_bin()).args(["ctl", "--control", &s(socket), "status"]),
            b"",
            PEER_TIMEOUT,
        ));
        status
            .lines()
            .find_map(|l| l.split("trust epoch ").nth(1))
            .and_then(|rest| rest.split(',').next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no trust epoch in {status}"))
    };
    let before = epoch(&socket);
    write_crl(&crl, &issuer, &[17]);
    let out = run_with_timeout(
        Command::new(reprise_bin()).args(["ctl", "--control", &s(&socket), "reload"]),
        b"",
        PEER_TIMEOUT,
    );
    assert!(
        text(&out).contains("client CAs and revocation lists"),
        "{}",
        text(&out)
    );
    // The status names the trust epoch, which the new list changed.
    let status = text(&run_with_timeout(
        Command::new(reprise_bin()).args(["ctl", "--control", &s(&socket), "status"]),
        b"",
        PEER_TIMEOUT,
    ));
    assert!(
        status.contains("client certificates: required, 1 roots, 1 revocation lists, trust epoch "),
        "{status}"
    );
    assert_ne!(epoch(&socket), before, "a new list is new trust");
    assert!(!curl_with_certificate(&addr, dir.path()));
    assert!(
        wait_for_log(&server, "sent alert certificate_revoked"),
        "{}",
        server.log()
    );
}

#[test]
fn reprise_connect_presents_its_certificate_to_openssl_s_server() {
    let dir = TempDir::new("mtls-client");
    client_pki(dir.path());
    let pki = Pki::generate("mtls-client-server");
    let server = Server::openssl(&[
        "-cert",
        &s(&pki.ecdsa_cert),
        "-key",
        &s(&pki.ecdsa_key),
        "-Verify",
        "1",
        "-verify_return_error",
        "-CAfile",
        &s(&dir.path().join("client-ca.pem")),
    ]);
    let connect = |with_certificate: bool| {
        let mut cmd = Command::new(reprise_bin());
        cmd.args([
            "connect",
            &server.addr(),
            "--ca",
            &s(&pki.ca),
            "--sni",
            "localhost",
            "--http-get",
            "/",
        ]);
        if with_certificate {
            cmd.args([
                "--client-cert",
                &s(&dir.path().join("client.pem")),
                "--client-key",
                &s(&dir.path().join("client.key")),
            ]);
        }
        run_with_timeout(&mut cmd, b"", PEER_TIMEOUT)
    };
    let out = connect(true);
    assert!(
        out.status.success() && text(&out).contains("http: HTTP/1.0 200 ok"),
        "{}\n{}",
        text(&out),
        server.log()
    );
    // Required (-Verify): without a certificate the handshake fails.
    let out = connect(false);
    assert!(!out.status.success(), "{}", text(&out));
    // Asked but optional (-verify), with a ticket: the client answers with an empty
    // Certificate and no CertificateVerify.
    let optional = Server::openssl(&[
        "-cert",
        &s(&pki.ecdsa_cert),
        "-key",
        &s(&pki.ecdsa_key),
        "-verify",
        "1",
        "-CAfile",
        &s(&dir.path().join("client-ca.pem")),
    ]);
    let out = run_with_timeout(
        Command::new(reprise_bin()).args([
            "connect",
            &optional.addr(),
            "--ca",
            &s(&pki.ca),
            "--sni",
            "localhost",
            "--http-get",
            "/",
        ]),
        b"",
        PEER_TIMEOUT,
    );
    assert!(
        out.status.success() && text(&out).contains("http: HTTP/1.0 200 ok"),
        "{}\n{}",
        text(&out),
        optional.log()
    );
}

#[test]
fn the_backend_learns_the_clients_certificate_from_proxy_v2() {
    use reprise_apps::proxy::{
        PP2_CLIENT_CERT_CONN, PP2_CLIENT_SSL, PP2_SUBTYPE_SSL_CN, PP2_TYPE_REPRISE_CLIENT_SHA256,
        PP2_TYPE_SSL,
    };
    let dir = TempDir::new("mtls-proxy");
    client_pki(dir.path());
    let (backend, headers) = recording_backend();
    let server = Server::reprise(
        "mio",
        &[
            "--backend",
            &backend,
            "--proxy-protocol",
            "v2",
            "--client-ca",
            &s(&dir.path().join("client-ca.pem")),
            "--client-auth",
            "optional",
        ],
    );
    // One client with a certificate, one without.
    curl_with_certificate(&server.addr(), dir.path());
    let _ = run_with_timeout(
        Command::new("curl").args([
            "-sk",
            "--max-time",
            "5",
            &format!("https://{}/", server.addr()),
        ]),
        b"",
        PEER_TIMEOUT,
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while headers.lock().unwrap().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let headers = headers.lock().unwrap();
    assert_eq!(headers.len(), 2, "{}", server.log());
    let pem = std::fs::read(dir.path().join("client.pem")).unwrap();
    let leaf = reprise::pem::certificates(&pem).unwrap().remove(0);
    let with = &headers[0];
    let ssl = with.tlv(PP2_TYPE_SSL).unwrap();
    assert_eq!(ssl[0] & (PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN), 0x03);
    assert_eq!(
        &ssl[1..5],
        &[0, 0, 0, 0],
        "verify: 0 for a verified certificate"
    );
    assert_eq!(
        with.ssl_sub_tlv(PP2_SUBTYPE_SSL_CN),
        Some(&b"device-17"[..])
    );
    assert_eq!(
        with.tlv(PP2_TYPE_REPRISE_CLIENT_SHA256),
        Some(&reprise::x509::sha256(&leaf)[..])
    );
    let without = &headers[1];
    let ssl = without.tlv(PP2_TYPE_SSL).unwrap();
    assert_eq!(ssl[0], PP2_CLIENT_SSL);
    assert_ne!(&ssl[1..5], &[0, 0, 0, 0]);
    assert_eq!(without.ssl_sub_tlv(PP2_SUBTYPE_SSL_CN), None);
    assert_eq!(without.tlv(PP2_TYPE_REPRISE_CLIENT_SHA256), None);
}

#[test]
fn trace_draws_the_mutual_handshake() {
    let dir = TempDir::new("mtls-trace");
    client_pki(dir.path());
    let server = Server::reprise(
        "mio",
        &["--client-ca", &s(&dir.path().join("client-ca.pem"))],
    );
    let out = run_with_timeout(
        Command::new(reprise_bin()).args([
            "trace",
            &server.addr(),
            "--insecure",
            "--sni",
            "localhost",
            "--client-cert",
            &s(&dir.path().join("client.pem")),
            "--client-key",
            &s(&dir.path().join("client.key")),
        ]),
        b"",
        PEER_TIMEOUT,
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for message in [
        "CertificateRequest",
        "CertificateVerify",
        "ClientKeyExchange",
    ] {
        assert!(t.contains(message), "no {message} in {t}");
    }
}

#[test]
fn reprise_connect_presents_its_certificate_to_nginx_and_resumes() {
    let dir = TempDir::new("mtls-nginx");
    client_pki(dir.path());
    let pki = Pki::generate("mtls-nginx-server");
    let d = s(dir.path());
    for t in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.path().join(t)).unwrap();
    }
    let nginx = if std::path::Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    };
    let mut last = String::new();
    for _attempt in 0..3 {
        let port = free_port();
        let conf = format!(
            "daemon off; master_process off; worker_processes 1;\n\
             pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
               access_log {d}/access.log;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               server {{ listen 127.0.0.1:{port} ssl;\n\
                 ssl_protocols TLSv1.2;\n\
                 ssl_certificate {cert}; ssl_certificate_key {key};\n\
                 ssl_client_certificate {d}/client-ca.pem; ssl_verify_client on;\n\
                 ssl_session_cache shared:mtls:1m; ssl_session_tickets on;\n\
                 location / {{ return 200 \"$ssl_client_s_dn\\n\"; }} }}\n\
             }}\n",
            cert = s(&pki.ecdsa_cert),
            key = s(&pki.ecdsa_key),
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut proc = Running::spawn(
            Command::new(nginx).args(["-e", &format!("{d}/error.log"), "-c", &s(&conf_path)]),
            b"",
        );
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline
            && proc.exited().is_none()
            && std::net::TcpStream::connect(&addr).is_err()
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        if proc.exited().is_some() {
            last = proc.describe();
            continue;
        }
        let out = run_with_timeout(
            Command::new(reprise_bin()).args([
                "connect",
                &addr,
                "--ca",
                &s(&pki.ca),
                "--sni",
                "localhost",
                "--http-get",
                "/",
                "--reconnect",
                "1",
                "--client-cert",
                &s(&dir.path().join("client.pem")),
                "--client-key",
                &s(&dir.path().join("client.key")),
            ]),
            b"",
            PEER_TIMEOUT,
        );
        let t = text(&out);
        let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        assert!(out.status.success(), "{t}\n{log}");
        assert_eq!(t.matches("http: HTTP/1.1 200 OK").count(), 2, "{t}\n{log}");
        assert!(t.contains("resumed: yes (ticket)"), "{t}");
        proc.kill();
        return;
    }
    panic!("nginx did not start: {last}");
}

/// A backend that records the PROXY v2 header of every connection, then closes it.
fn recording_backend() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<reprise_apps::proxy::ParsedV2>>>,
) {
    use reprise_apps::proxy::parse_v2;
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let headers = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = headers.clone();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while parse_v2(&got).is_none() {
                match sock.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            if let Some(header) = parse_v2(&got) {
                kept.lock().unwrap().push(header);
            }
        }
    });
    (addr, headers)
}

/// `openssl s_client` with the client certificate, saving its session to `session` (and
/// offering it, when `resume`); `tickets` off makes it resume by session ID.
fn s_client_session(addr: &str, dir: &Path, session: &Path, resume: bool, tickets: bool) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        addr,
        "-tls1_2",
        "-servername",
        "localhost",
    ])
    .args(["-cert", &s(&dir.join("client.pem"))])
    .args(["-key", &s(&dir.join("client.key"))])
    .args([if resume { "-sess_in" } else { "-sess_out" }, &s(session)]);
    if !tickets {
        cmd.arg("-no_ticket");
    }
    text(&run_with_timeout(
        &mut cmd,
        b"GET / HTTP/1.0\r\n\r\n",
        PEER_TIMEOUT,
    ))
}

fn metrics_url(server: &Server) -> String {
    let log = server.log();
    log.lines()
        .find_map(|l| l.strip_prefix("metrics on "))
        .unwrap_or_else(|| panic!("no metrics line\n{log}"))
        .trim()
        .to_string()
}

fn scrape(url: &str) -> String {
    text(&run_with_timeout(
        Command::new("curl").args(["-s", "--max-time", "5", url]),
        b"",
        PEER_TIMEOUT,
    ))
}

#[test]
fn openssl_resumes_a_mutual_session_and_the_backend_sees_the_same_client() {
    use reprise_apps::proxy::{
        PP2_CLIENT_CERT_CONN, PP2_CLIENT_CERT_SESS, PP2_CLIENT_SSL, PP2_SUBTYPE_SSL_CN,
        PP2_TYPE_REPRISE_CLIENT_SHA256, PP2_TYPE_REPRISE_RESUMPTION, PP2_TYPE_SSL,
    };
    let dir = TempDir::new("mtls-resume");
    client_pki(dir.path());
    let pem = std::fs::read(dir.path().join("client.pem")).unwrap();
    let leaf = reprise::pem::certificates(&pem).unwrap().remove(0);
    for driver in drivers() {
        let (backend, headers) = recording_backend();
        let server = Server::reprise(
            driver,
            &[
                "--backend",
                &backend,
                "--proxy-protocol",
                "v2",
                "--client-ca",
                &s(&dir.path().join("client-ca.pem")),
                "--client-auth",
                "required",
            ],
        );
        let addr = server.addr();
        let mut expected = Vec::new();
        for (tickets, kind) in [(false, "session-id"), (true, "ticket")] {
            let session = dir.path().join(format!("{driver}-{kind}.sess"));
            let out = s_client_session(&addr, dir.path(), &session, false, tickets);
            assert!(out.contains("New, TLSv1.2"), "[{driver}] {out}");
            let out = s_client_session(&addr, dir.path(), &session, true, tickets);
            assert!(
                out.contains("Reused, TLSv1.2"),
                "[{driver}] {kind} not resumed: {out}\n{}",
                server.log()
            );
            expected.extend(["full", kind]);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while headers.lock().unwrap().len() < 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let headers = headers.lock().unwrap();
        assert_eq!(headers.len(), 4, "[{driver}] {}", server.log());
        for (header, kind) in headers.iter().zip(&expected) {
            let ctx = format!("[{driver}] {kind}");
            assert_eq!(
                header.tlv(PP2_TYPE_REPRISE_RESUMPTION),
                Some(kind.as_bytes()),
                "{ctx}"
            );
            let ssl = header.tlv(PP2_TYPE_SSL).unwrap();
            // A resumption's session has the certificate, its connection did not send it.
            let conn = if *kind == "full" {
                PP2_CLIENT_CERT_CONN
            } else {
                0
            };
            assert_eq!(
                ssl[0],
                PP2_CLIENT_SSL | PP2_CLIENT_CERT_SESS | conn,
                "{ctx}"
            );
            assert_eq!(&ssl[1..5], &[0, 0, 0, 0], "{ctx}: verified");
            assert_eq!(
                header.ssl_sub_tlv(PP2_SUBTYPE_SSL_CN),
                Some(&b"device-17"[..]),
                "{ctx}"
            );
            assert_eq!(
                header.tlv(PP2_TYPE_REPRISE_CLIENT_SHA256),
                Some(&reprise::x509::sha256(&leaf)[..]),
                "{ctx}"
            );
        }
    }
}

#[test]
fn curl_resumes_a_mutual_session_and_the_access_log_names_the_client_both_times() {
    let dir = TempDir::new("mtls-curl-resume");
    client_pki(dir.path());
    for driver in drivers() {
        let access = dir.path().join(format!("access-{driver}.log"));
        let server = Server::reprise(
            driver,
            &[
                "--client-ca",
                &s(&dir.path().join("client-ca.pem")),
                "--access-log",
                &s(&access),
            ],
        );
        let url = format!("https://{}/", server.addr());
        // Two requests, each on its own connection: curl offers the first one's session.
        let out = run_with_timeout(
            Command::new("curl")
                .args(["-sk", "--http1.1", "-H", "Connection: close"])
                .args(["--cert", &s(&dir.path().join("client.pem"))])
                .args(["--key", &s(&dir.path().join("client.key"))])
                .args([&url, &url]),
            b"",
            PEER_TIMEOUT,
        );
        assert_eq!(
            text(&out).matches("TLS 1.2 served by reprise").count(),
            2,
            "{}",
            text(&out)
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut lines = String::new();
        while lines.lines().count() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            lines = std::fs::read_to_string(&access).unwrap_or_default();
        }
        let lines: Vec<&str> = lines.lines().collect();
        assert_eq!(lines.len(), 2, "[{driver}] {lines:?}");
        assert!(lines[0].contains("handshake=full"), "[{driver}] {lines:?}");
        assert!(
            lines[1].contains("handshake=ticket") || lines[1].contains("handshake=session-id"),
            "[{driver}] {lines:?}"
        );
        for line in &lines {
            assert!(
                line.contains("client=\"CN=device-17\""),
                "[{driver}] {line}"
            );
        }
    }
}

#[test]
fn a_revoked_client_or_new_roots_end_resumption_with_the_reason_counted() {
    let dir = TempDir::new("mtls-resume-policy");
    let issuer = client_pki(dir.path());
    let crl = dir.path().join("client.crl");
    write_crl(&crl, &issuer, &[]);
    let ca = dir.path().join("client-ca.pem");
    let socket = dir.path().join("ctl.sock");
    let pki = Pki::generate("mtls-resume-policy-server");
    let mut args: Vec<String> = pki.serve_args();
    args.extend(
        [
            "--client-ca",
            &s(&ca),
            "--client-crl",
            &s(&crl),
            "--control",
            &s(&socket),
            "--metrics",
            "127.0.0.1:0",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::reprise("mio", &args);
    let addr = server.addr();
    let metrics = metrics_url(&server);
    let reload = || {
        let out = run_with_timeout(
            Command::new(reprise_bin()).args(["ctl", "--control", &s(&socket), "reload"]),
            b"",
            PEER_TIMEOUT,
        );
        assert!(out.status.success(), "{}", text(&out));
    };
    let counted = |reason: &str| {
        let needle = format!("reprise_resumption_failures_total{{reason=\"{reason}\"}} 1");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = scrape(&metrics);
            if text.contains(&needle) {
                return;
            }
            assert!(Instant::now() < deadline, "no {needle} in\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    // A second CA joins the client CA file: sessions made under the old roots fall back
    // (and the full handshake that follows lets the client in).
    let session = dir.path().join("roots.sess");
    assert!(s_client_session(&addr, dir.path(), &session, false, true).contains("New, TLSv1.2"));
    let other = Pki::generate("mtls-resume-policy-other");
    let mut both = std::fs::read(&ca).unwrap();
    both.extend(std::fs::read(&other.ca).unwrap());
    std::fs::write(&ca, both).unwrap();
    reload();
    let out = s_client_session(&addr, dir.path(), &session, true, true);
    assert!(out.contains("New, TLSv1.2"), "{out}");
    counted("client-roots-changed");

    // The client's certificate is revoked and the list reloaded: its session does not
    // resume, and the full handshake is refused with certificate_revoked.
    let session = dir.path().join("revoked.sess");
    assert!(s_client_session(&addr, dir.path(), &session, false, true).contains("New, TLSv1.2"));
    write_crl(&crl, &issuer, &[17]);
    reload();
    let out = s_client_session(&addr, dir.path(), &session, true, true);
    assert!(!out.contains("Reused, TLSv1.2"), "{out}");
    counted("client-certificate-revoked");
    // The failure log names both: the alert, and why the session was not resumed.
    assert!(
        wait_for_log(&server, "(resumption declined: client-certificate-revoked)"),
        "{}",
        server.log()
    );
    assert!(server
        .log()
        .lines()
        .any(|l| l.contains("sent alert certificate_revoked")
            && l.contains("resumption declined: client-certificate-revoked")));
}

/// A certificate chain (DER, leaf first) and its key (PKCS#8 DER).
type ChainAndKey = (Vec<Vec<u8>>, Vec<u8>);

/// Rewrites the handshake messages of a flight.
type Tamper<'a> = &'a dyn Fn(&mut Vec<Vec<u8>>);

/// One bad-input case: what it is, the server, the client's certificate, how its flight is
/// changed, and the alert expected.
type Case<'a> = (&'a str, &'a Server, Option<&'a ChainAndKey>, Tamper<'a>, u8);

/// A client certificate (ECDSA P-256, `CN=device-17`) with its key, as DER, issued by
/// `issuer` with `usage`, valid until `not_after`.
fn issue(
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
    usage: rcgen::ExtendedKeyUsagePurpose,
    not_after: (i32, u8, u8),
) -> ChainAndKey {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "device-17");
    leaf.extended_key_usages = vec![usage];
    leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let cert = leaf.signed_by(&key, issuer).unwrap();
    (vec![cert.der().to_vec()], key.serialize_der())
}

/// A handshake message (type, 24-bit length, body).
fn message(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![typ];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    m
}

/// The plaintext handshake messages at the front of a flight (whole, header included), and
/// the records after them (the ChangeCipherSpec and the encrypted Finished).
fn split_flight(flight: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut payload = Vec::new();
    let mut at = 0;
    while at + 5 <= flight.len() && flight[at] == 22 {
        let len = usize::from(u16::from_be_bytes([flight[at + 3], flight[at + 4]]));
        payload.extend_from_slice(&flight[at + 5..at + 5 + len]);
        at += 5 + len;
    }
    let mut messages = Vec::new();
    let mut m = 0;
    while m + 4 <= payload.len() {
        let len = u32::from_be_bytes([0, payload[m + 1], payload[m + 2], payload[m + 3]]) as usize;
        messages.push(payload[m..m + 4 + len].to_vec());
        m += 4 + len;
    }
    (messages, flight[at..].to_vec())
}

/// Handshake messages as plaintext records (at most 2^14 bytes each), then `rest`.
fn join_flight(messages: &[Vec<u8>], rest: &[u8]) -> Vec<u8> {
    let payload: Vec<u8> = messages.concat();
    let mut out = Vec::new();
    for chunk in payload.chunks(1 << 14) {
        out.extend_from_slice(&[22, 3, 3]);
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(rest);
    out
}

/// A Reprise client (with `certificate`, if any) handshakes with `addr` over a real socket;
/// `tamper` rewrites the handshake messages of its second flight. Returns the alert the
/// server sent (level, description), if any.
fn alert_for(
    addr: &str,
    certificate: Option<&ChainAndKey>,
    tamper: Tamper<'_>,
) -> Option<(u8, u8)> {
    use std::io::{Read, Write};
    let mut config = reprise::ClientConfig::new(reprise::RootStore::new());
    config.verification = reprise::ServerVerification::DangerousAcceptAnyCertificate;
    if let Some((chain, key)) = certificate {
        config.client_certificate = Some(std::sync::Arc::new(
            reprise::CertifiedKey::new(chain.clone(), key).unwrap(),
        ));
    }
    let mut client =
        reprise::ClientConnection::new(std::sync::Arc::new(config), "localhost").unwrap();
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let hello = client.pending_output().to_vec();
    client.consume_output(hello.len());
    sock.write_all(&hello).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut received = Vec::new();
    let mut sent_second = false;
    let mut buf = [0u8; 16384];
    while Instant::now() < deadline {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
        // Whole records: the server's first flight goes to the client (until it answers),
        // what follows is the server's answer to our tampered flight.
        if !sent_second {
            let whole = whole_records(&received);
            let mut chunk = received[..whole].to_vec();
            received.drain(..whole);
            let mut inbound = reprise::Inbound::new(&mut chunk);
            while let Ok(Some(_)) = client.next_plaintext(&mut inbound, reprise::unix_time()) {}
            let flight = client.pending_output().to_vec();
            if !flight.is_empty() {
                client.consume_output(flight.len());
                let (mut messages, rest) = split_flight(&flight);
                tamper(&mut messages);
                sock.write_all(&join_flight(&messages, &rest)).unwrap();
                sent_second = true;
            }
        } else if let Some(alert) = first_alert(&received) {
            return Some(alert);
        } else if received.first() == Some(&20) {
            // The server's ChangeCipherSpec: it took the flight.
            return None;
        }
    }
    first_alert(&received)
}

/// Bytes of whole records at the front of `data`.
fn whole_records(data: &[u8]) -> usize {
    let mut at = 0;
    while at + 5 <= data.len() {
        let len = usize::from(u16::from_be_bytes([data[at + 3], data[at + 4]]));
        if at + 5 + len > data.len() {
            break;
        }
        at += 5 + len;
    }
    at
}

/// The first plaintext alert record in `data`: (level, description).
fn first_alert(data: &[u8]) -> Option<(u8, u8)> {
    let mut at = 0;
    while at + 5 <= data.len() {
        let len = usize::from(u16::from_be_bytes([data[at + 3], data[at + 4]]));
        if data[at] == 21 && len == 2 && at + 7 <= data.len() {
            return Some((data[at + 5], data[at + 6]));
        }
        at += 5 + len;
    }
    None
}

#[test]
fn each_bad_client_certificate_or_verify_gets_its_alert_over_a_socket() {
    const FATAL: u8 = 2;
    let dir = TempDir::new("mtls-bad");
    let issuer = client_pki(dir.path());
    let good = issue(
        &issuer,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        (2040, 1, 1),
    );
    let expired = issue(
        &issuer,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        (2021, 1, 1),
    );
    let server_only = issue(
        &issuer,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        (2040, 1, 1),
    );
    let stranger = {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Stranger CA");
        let other = rcgen::Issuer::new(params, key);
        issue(
            &other,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            (2040, 1, 1),
        )
    };
    let keep: Tamper<'_> = &|_| {};
    let position = |messages: &[Vec<u8>], typ: u8| {
        messages
            .iter()
            .position(|m| m[0] == typ)
            .expect("message in the flight")
    };
    for driver in ["mio", "uring"] {
        let required = Server::reprise(
            driver,
            &[
                "--client-ca",
                &s(&dir.path().join("client-ca.pem")),
                "--client-auth",
                "required",
            ],
        );
        let plain = Server::reprise(driver, &[]);
        let optional = Server::reprise(
            driver,
            &[
                "--client-ca",
                &s(&dir.path().join("client-ca.pem")),
                "--client-auth",
                "optional",
            ],
        );
        let flip_signature = |m: &mut Vec<Vec<u8>>| {
            let cv = position(m, 15);
            if let Some(last) = m[cv].last_mut() {
                *last ^= 1;
            }
        };
        let unoffered_scheme = |m: &mut Vec<Vec<u8>>| {
            let cv = position(m, 15);
            m[cv][4] = 0x02; // rsa_pkcs1_sha1
            m[cv][5] = 0x01;
        };
        let drop_verify = |m: &mut Vec<Vec<u8>>| {
            let cv = position(m, 15);
            m.remove(cv);
        };
        let malformed_chain = |m: &mut Vec<Vec<u8>>| {
            let cert = position(m, 11);
            // The chain's first entry claims more bytes than the list holds.
            m[cert][7] = 0xff;
            m[cert][8] = 0xff;
            m[cert][9] = 0xff;
        };
        let oversized = |m: &mut Vec<Vec<u8>>| {
            let cert = position(m, 11);
            // A Certificate longer than any handshake message the server takes, announced.
            m[cert] = message(11, &vec![0u8; 200_000]);
        };
        let unasked_certificate = |m: &mut Vec<Vec<u8>>| {
            let list = [&[0u8, 0, 4][..], &[0, 0, 1, 0x30]].concat();
            m.insert(0, message(11, &list));
        };
        let verify_without_certificate = |m: &mut Vec<Vec<u8>>| {
            let cke = position(m, 16);
            m.insert(cke + 1, message(15, &[4, 3, 0, 2, 0x30, 0]));
        };
        let cases: [Case<'_>; 11] = [
            (
                "no certificate where one is required",
                &required,
                None,
                keep,
                40,
            ),
            (
                "a chain from an unknown CA",
                &required,
                Some(&stranger),
                keep,
                48,
            ),
            (
                "an expired certificate",
                &required,
                Some(&expired),
                keep,
                45,
            ),
            (
                "a server-only certificate",
                &required,
                Some(&server_only),
                keep,
                43,
            ),
            (
                "a CertificateVerify that does not verify",
                &required,
                Some(&good),
                &flip_signature,
                51,
            ),
            (
                "a CertificateVerify with an unoffered scheme",
                &required,
                Some(&good),
                &unoffered_scheme,
                47,
            ),
            (
                "no CertificateVerify after a certificate",
                &required,
                Some(&good),
                &drop_verify,
                10,
            ),
            (
                "a malformed chain",
                &required,
                Some(&good),
                &malformed_chain,
                50,
            ),
            (
                "a Certificate over the size limit",
                &required,
                Some(&good),
                &oversized,
                50,
            ),
            (
                "a Certificate the server did not ask for",
                &plain,
                None,
                &unasked_certificate,
                10,
            ),
            (
                "a CertificateVerify after an empty Certificate",
                &optional,
                None,
                &verify_without_certificate,
                10,
            ),
        ];
        for (what, server, certificate, tamper, alert) in cases {
            assert_eq!(
                alert_for(&server.addr(), certificate, tamper),
                Some((FATAL, alert)),
                "[{driver}] {what}\n{}",
                server.log()
            );
        }
        // And the good certificate, untouched, gets in.
        assert_eq!(
            alert_for(&required.addr(), Some(&good), keep),
            None,
            "[{driver}]"
        );
    }
}
