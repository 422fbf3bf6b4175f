//! The crate's front-page server (`examples/https_server.rs`, shown in the docs) resumes by
//! session ID and by ticket as `openssl s_client -reconnect` sees it: of six connections the
//! first is new and the five after it are resumed.

use std::io::Read;
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
    profile_dir.join("examples").join("https_server")
}

/// Stops the server by its PID whatever happens to the test.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `openssl s_client -reconnect` with `extra` flags; its whole output, bounded in time.
fn reconnect(addr: &str, extra: &[&str]) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-tls1_2", "-reconnect"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is installed by scripts/install-test-deps.sh");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}

#[test]
fn the_front_page_server_resumes_by_session_id_and_by_ticket() {
    let binary = example_binary();
    assert!(binary.exists(), "{} not built", binary.display());
    let dir = std::env::temp_dir().join(format!("reprise-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let _server = Server(
        Command::new(&binary)
            .args([
                &addr,
                cert_path.to_str().unwrap(),
                key_path.to_str().unwrap(),
            ])
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
    for (how, flags) in [("ticket", &[][..]), ("session ID", &["-no_ticket"][..])] {
        let out = reconnect(&addr, flags);
        let new = out.matches("New, TLSv1.2").count();
        let reused = out.matches("Reused, TLSv1.2").count();
        assert_eq!((new, reused), (1, 5), "by {how}:\n{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
