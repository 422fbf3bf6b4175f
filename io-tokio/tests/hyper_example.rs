//! The hyper and axum examples with real clients: curl over HTTP/1.1 and over h2 (chosen by ALPN) and a
//! resumed second connection, Python's `ssl` resuming by ticket, and headless Chromium
//! loading a page twice over two connections, the second resumed; an axum route reading the
//! subject of the client's certificate.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The example binary cargo built beside this test (`target/<profile>/examples/`).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    profile_dir.join("examples").join("hyper_server")
}

/// The running example, stopped by its PID whatever happens to the test; its stdout (one
/// line per connection) is collected.
struct Server {
    child: Child,
    addr: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start() -> Server {
        Self::start_example("hyper_server")
    }

    fn start_example(name: &str) -> Server {
        Self::start_example_with(name, &[])
    }

    fn start_example_with(name: &str, extra: &[&str]) -> Server {
        let binary = example_binary().with_file_name(name);
        assert!(binary.exists(), "{} not built", binary.display());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(&binary)
            .arg(&addr)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        std::thread::spawn({
            let lines = lines.clone();
            move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "the example server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, addr, lines }
    }

    /// How many connections resumed, as the server printed them.
    fn resumed(&self) -> usize {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter(|l| l.contains("resumed Some(")).count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// curl's output for two requests; a curl that fails panics with its error and the
/// server's log so far.
fn curl(url: &str, flags: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["30", "curl", "-sSk", "--tls-max", "1.2", "--tlsv1.2"])
        .args(flags)
        .args([url, url])
        .stdin(Stdio::null())
        .output()
        .expect("curl is installed by scripts/install-test-deps.sh");
    assert!(
        out.status.success(),
        "curl {flags:?} {url}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_gets_pages_over_http1_and_h2_and_resumes() {
    let server = Server::start();
    let url = format!("https://{}/", server.addr);
    // curl keeps one connection for both requests unless the server closes it, so each
    // run shows the protocol twice on one handshake.
    let h1 = curl(&url, &["--http1.1"]);
    assert_eq!(
        h1,
        "alpn Some(\"http/1.1\"), resumed None\n".repeat(2),
        "{h1}"
    );
    let h2 = curl(&url, &["--http2"]);
    assert_eq!(h2, "alpn Some(\"h2\"), resumed None\n".repeat(2), "{h2}");
    // /close makes hyper end the first connection: curl's second one resumes the session
    // (by ID: this curl offers no TLS 1.2 ticket).
    let url = format!("https://{}/close", server.addr);
    let resumed = curl(&url, &["--http1.1"]);
    assert_eq!(
        resumed,
        "alpn Some(\"http/1.1\"), resumed None\nalpn Some(\"http/1.1\"), resumed Some(SessionId)\n",
        "{resumed}"
    );
}

#[test]
fn python_ssl_resumes_by_ticket() {
    let server = Server::start();
    let (host, port) = server.addr.split_once(':').unwrap();
    let script = format!(
        r#"
import socket, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
ctx.set_alpn_protocols(["http/1.1"])
session = None
for attempt in range(2):
    with socket.create_connection(("{host}", {port}), timeout=10) as tcp:
        with ctx.wrap_socket(tcp, server_hostname="localhost", session=session) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            page = b""
            while True:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                page += chunk
            print(attempt, tls.session_reused, page.decode().splitlines()[-1])
            session = tls.session
"#
    );
    let out = Command::new("timeout")
        .args(["30", "python3", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text,
        "0 False alpn Some(\"http/1.1\"), resumed None\n1 True alpn Some(\"http/1.1\"), resumed Some(Ticket)\n"
    );
}

#[test]
fn chromium_loads_twice_and_resumes() {
    let server = Server::start();
    let dir = std::env::temp_dir().join(format!("reprise-tokio-chromium-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("profile")).unwrap();
    let page = dir.join("twice.html");
    std::fs::write(
        &page,
        format!(
            r#"<!doctype html><title>twice</title><body><script>
const base = "https://{addr}";
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
            addr = server.addr
        ),
    )
    .unwrap();
    let mut chromium = Command::new("chromium")
        .args([
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
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("chromium is installed by scripts/install-test-deps.sh");
    let group = chromium.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.resumed() == 0 && Instant::now() < deadline {
        if chromium.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // Chromium's helpers share its process group: stop them all.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .status();
    let _ = chromium.kill();
    let _ = chromium.wait();
    let lines = server.lines.lock().unwrap().join("\n");
    assert!(
        server.resumed() >= 1,
        "the second connection should resume:\n{lines}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_hyper_client_example_resumes_against_the_server_example() {
    let server = Server::start();
    let client = example_binary().with_file_name("hyper_client");
    let out = Command::new("timeout")
        .arg("30")
        .arg(&client)
        .args([server.addr.as_str(), "--insecure"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text,
        "connection 1: 200 OK, client resumed None, server says: alpn Some(\"http/1.1\"), resumed None\n\
         connection 2: 200 OK, client resumed Some(Ticket), server says: alpn Some(\"http/1.1\"), resumed Some(Ticket)\n"
    );
}

#[test]
fn the_axum_example_serves_its_routes() {
    let server = Server::start_example("axum_server");
    for (path, body) in [("/", "hello from axum\n"), ("/health", "ok\n")] {
        let out = Command::new("timeout")
            .args(["30", "curl", "-sk", "--tls-max", "1.2", "--tlsv1.2"])
            .arg(format!("https://{}{path}", server.addr))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), body, "{path}");
    }
}

#[test]
fn an_axum_route_reads_the_client_certificates_subject() {
    let dir = std::env::temp_dir().join(format!("reprise-axum-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Axum Client CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "device-17");
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let (ca_path, cert_path, key_path) = (
        dir.join("ca.pem"),
        dir.join("client.pem"),
        dir.join("client.key"),
    );
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let server = Server::start_example_with("axum_server", &[ca_path.to_str().unwrap()]);
    let whoami = |with_certificate: bool| {
        let mut cmd = Command::new("timeout");
        cmd.args(["30", "curl", "-sk", "--tls-max", "1.2", "--tlsv1.2"]);
        if with_certificate {
            cmd.args(["--cert", cert_path.to_str().unwrap()])
                .args(["--key", key_path.to_str().unwrap()]);
        }
        let out = cmd
            .arg(format!("https://{}/whoami", server.addr))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(whoami(true), "CN=device-17\n");
    assert_eq!(whoami(false), "anonymous\n");
    // Two connections from one curl: the second resumes, and the route still reads the
    // client's subject (from the session).
    let url = format!("https://{}/whoami", server.addr);
    let out = Command::new("timeout")
        .args([
            "30",
            "curl",
            "-sk",
            "--tls-max",
            "1.2",
            "--tlsv1.2",
            "--http1.1",
        ])
        .args(["-H", "Connection: close"])
        .args(["--cert", cert_path.to_str().unwrap()])
        .args(["--key", key_path.to_str().unwrap()])
        .args([&url, &url])
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(
        body == "CN=device-17\nCN=device-17, resumed by ticket\n"
            || body == "CN=device-17\nCN=device-17, resumed by session-id\n",
        "{body}"
    );
    // The hyper client example presents the certificate too, and resumes.
    let client = example_binary().with_file_name("hyper_client");
    let out = Command::new("timeout")
        .arg("30")
        .arg(&client)
        .args([server.addr.as_str(), "--insecure"])
        .args(["--cert", cert_path.to_str().unwrap()])
        .args(["--key", key_path.to_str().unwrap()])
        .args(["--path", "/whoami"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "connection 1: 200 OK, client resumed None, server says: CN=device-17\n\
         connection 2: 200 OK, client resumed Some(Ticket), server says: CN=device-17, resumed by ticket\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
