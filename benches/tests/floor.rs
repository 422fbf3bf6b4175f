//! `tcp-floor serve` (on either event loop, `--driver mio` and `--driver uring`) and
//! `tcp-floor load` work together on 127.0.0.1: a short run bounded by a number of exchanges
//! completes every one of them without errors, and the server reads and writes exactly the
//! pattern's byte counts for each; `tcp-floor crypto` gives the crypto half of the floor.
//! Nothing here is timed against a bound.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_tcp-floor");
const EXCHANGES: u64 = 200;
const DRIVERS: [&str; 2] = ["mio", "uring"];

/// A spawned `tcp-floor serve`, stopped (SIGTERM, then SIGKILL if need be) when dropped.
struct Server {
    child: Child,
    addr: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(driver: &str, pattern_args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--driver", driver])
            .args(pattern_args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn tcp-floor serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read banner");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("banner: {line:?}"))
            .to_string();
        Server {
            child,
            addr,
            stdout,
        }
    }

    /// SIGTERM, wait for the exit (bounded), and the rest of the server's stdout.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
        let mut exit = None;
        for _ in 0..500 {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                exit = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let exit = exit.expect("tcp-floor serve exits after SIGTERM");
        assert!(exit.success(), "tcp-floor serve exit status {exit}");
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("read stdout");
        rest
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The number after `key` in `text` (`key` ends with ": ").
fn field(text: &str, key: &str) -> u64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"));
    text[at + key.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {key:?} in:\n{text}"))
}

/// Runs the pattern against a server on each driver.
fn run(pattern_args: &[&str], client_bytes: u64, server_bytes: u64) {
    for driver in DRIVERS {
        run_on(driver, pattern_args, client_bytes, server_bytes);
    }
}

/// `tcp-floor load` of [`EXCHANGES`] exchanges against `server`, which must all succeed.
fn load_all(server: &Server, driver: &str, pattern_args: &[&str]) {
    let out = Command::new(BIN)
        .args(["load", &server.addr, "--connections", "8"])
        .args(["--handshakes", &EXCHANGES.to_string()])
        .args(pattern_args)
        .output()
        .expect("run tcp-floor load");
    let load = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "load ({driver}) failed: {load}");
    assert_eq!(field(&load, "exchanges: "), EXCHANGES, "{load}");
    assert_eq!(field(&load, "errors: "), 0, "{load}");
}

fn run_on(driver: &str, pattern_args: &[&str], client_bytes: u64, server_bytes: u64) {
    let server = Server::start(driver, pattern_args);
    load_all(&server, driver, pattern_args);

    let served = server.stop();
    assert!(served.contains(&format!("driver: {driver}")), "{served}");
    assert_eq!(field(&served, "served: "), EXCHANGES, "{served}");
    assert_eq!(field(&served, "accepted: "), EXCHANGES, "{served}");
    assert_eq!(
        field(&served, "bytes in: "),
        EXCHANGES * client_bytes,
        "{served}"
    );
    assert_eq!(
        field(&served, "bytes out: "),
        EXCHANGES * server_bytes,
        "{served}"
    );
    assert_eq!(field(&served, "aborted: "), 0, "{served}");
    assert_eq!(field(&served, "errors: "), 0, "{served}");
}

#[test]
fn full_handshake_pattern() {
    run(&["--pattern", "full"], 114 + 93 + 31, 638 + 51 + 31);
}

#[test]
fn resumed_pattern() {
    run(&["--pattern", "resumed"], 146 + 82, 147 + 31);
}

#[test]
fn ticket_pattern() {
    run(&["--pattern", "ticket"], 269 + 82, 147 + 31);
}

#[test]
fn explicit_steps_ending_with_the_client() {
    // The server reads the client's last step and closes without answering.
    run(&["--steps", "300,4000,10"], 310, 4000);
}

#[test]
fn server_steps_larger_than_the_socket_buffer() {
    // 1 MiB answers cannot go out in one send: the server continues partial sends (and, on
    // mio, waits for writability) until each step is out.
    run(&["--steps", "100,1048576,50,3"], 150, 1048576 + 3);
}

/// A backend that answers `connections` requests, one connection each, with `response`
/// bytes in one write and a close; it returns the requests it read.
fn backend(connections: u64, response: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let addr = listener.local_addr().expect("backend address").to_string();
    let thread = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for _ in 0..connections {
            let (mut sock, _) = listener.accept().expect("accept");
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let mut request = Vec::new();
            let mut buf = [0u8; 512];
            while !request.ends_with(b"\r\n\r\n") {
                let n = sock.read(&mut buf).expect("read request");
                assert!(n > 0, "the request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            sock.write_all(&vec![b'x'; response])
                .expect("write response");
            requests.push(String::from_utf8_lossy(&request).into_owned());
        }
        requests
    });
    (addr, thread)
}

/// Runs a proxied pattern on each driver against a [`backend`] answering `response` bytes:
/// every exchange goes through it, and (for an answer in one read) the server relays exactly
/// one record of it and a close_notify.
fn run_proxied(pattern: &str, client_bytes: u64, server_steps: u64, response: usize) {
    for driver in DRIVERS {
        let (backend_addr, backend) = backend(EXCHANGES, response);
        let server = Server::start(
            driver,
            &[
                "--pattern",
                pattern,
                "--backend",
                &backend_addr,
                "--host",
                "example",
            ],
        );
        load_all(&server, driver, &["--pattern", pattern]);
        let requests = backend.join().expect("backend");
        assert_eq!(requests.len() as u64, EXCHANGES);
        assert!(requests
            .iter()
            .all(|r| r == "GET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n"));

        let served = server.stop();
        assert_eq!(field(&served, "served: "), EXCHANGES, "{served}");
        assert_eq!(field(&served, "bytes in: "), EXCHANGES * client_bytes);
        let out = field(&served, "bytes out: ");
        let relayed = (response + 29) as u64 + 31;
        if response <= 16 * 1024 {
            assert_eq!(out, EXCHANGES * (server_steps + relayed), "{served}");
        } else {
            // Several reads, each one record.
            assert!(out >= EXCHANGES * (server_steps + relayed), "{served}");
        }
        assert_eq!(field(&served, "errors: "), 0, "{served}");
    }
}

#[test]
fn proxied_patterns_relay_the_backend_answer() {
    run_proxied("proxied-id", 163 + 134, 162, 248);
    run_proxied("proxied-ticket", 294 + 134, 162, 248);
    run_proxied("proxied-full", 131 + 93 + 83, 654 + 51, 248);
}

#[test]
fn a_proxied_answer_larger_than_a_record() {
    run_proxied("proxied-id", 163 + 134, 162, 100_000);
}

#[test]
fn a_proxied_pattern_needs_a_backend() {
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--pattern",
            "proxied-id",
        ])
        .output()
        .expect("run tcp-floor serve");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a backend"));
}

/// The number after `label` on its line of `text`.
fn number_after(text: &str, label: &str) -> f64 {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in\n{text}"));
    line.trim()
        .trim_end_matches("us")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label:?} in {line:?}"))
}

#[test]
fn crypto_floors_give_the_cost_of_each_loopback_case() {
    // The loopback benchmark adds these to the bare-TCP cost it measures. A full handshake
    // signs and does an X25519 exchange; a resumption only derives keys and checks
    // Finished: whatever the machine the first costs more (several times more; how many times
    // is the benchmark's to say, not a test's on a shared machine).
    let out = Command::new(BIN)
        .arg("crypto")
        .output()
        .expect("run tcp-floor crypto");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let full = number_after(&text, "floor full:");
    let id = number_after(&text, "floor id:");
    let ticket = number_after(&text, "floor ticket:");
    assert!(id > 0.0 && ticket > 0.0, "{text}");
    assert!(full > id.max(ticket), "{text}");
}
