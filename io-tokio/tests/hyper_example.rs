//! The hyper example serves curl over HTTP/1.1 and over h2 (chosen by ALPN), and curl's
//! second request in one run resumes the session.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
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

/// Stops the server by its PID whatever happens to the test.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn curl(url: &str, flags: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["30", "curl", "-sk", "--tls-max", "1.2", "--tlsv1.2"])
        .args(flags)
        .args([url, url])
        .stdin(Stdio::null())
        .output()
        .expect("curl is installed by scripts/install-test-deps.sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_gets_pages_over_http1_and_h2_and_resumes() {
    let binary = example_binary();
    assert!(binary.exists(), "{} not built", binary.display());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _server = Server(
        Command::new(&binary)
            .arg(&addr)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the example server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("https://{addr}/");
    // curl keeps one connection for both requests unless the server closes it, so each
    // run shows the protocol twice on one handshake; a second run resumes.
    let h1 = curl(&url, &["--http1.1"]);
    assert_eq!(
        h1,
        "alpn Some(\"http/1.1\"), resumed None\n".repeat(2),
        "{h1}"
    );
    let h2 = curl(&url, &["--http2"]);
    assert_eq!(h2, "alpn Some(\"h2\"), resumed None\n".repeat(2), "{h2}");
    // "Connection: close" makes hyper end the first connection: curl's second one resumes
    // the session (by ID: this curl offers no TLS 1.2 ticket).
    let resumed = curl(&url, &["--http1.1", "-H", "Connection: close"]);
    assert_eq!(
        resumed,
        "alpn Some(\"http/1.1\"), resumed None\nalpn Some(\"http/1.1\"), resumed Some(SessionId)\n",
        "{resumed}"
    );
}
