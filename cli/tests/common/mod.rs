//! Shared harness for the real-peer interoperability tests.
//!
//! Everything here is std-only: child processes are spawned with piped
//! stdio, their output is collected by background threads, every wait is
//! bounded, and every child is stopped by its own PID (`Child::kill` +
//! `wait`) — never by name.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a server gets to print its readiness line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for one client run (handshake + one HTTP exchange).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(15);

/// The `reprise` binary under test (release build when run via scripts/test.sh).
pub fn reprise_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_reprise"))
}

/// Server drivers to exercise: `threads`, `mio` and `uring`. `REPRISE_DRIVERS=mio` (say)
/// overrides.
pub fn drivers() -> Vec<&'static str> {
    match std::env::var("REPRISE_DRIVERS") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| &*Box::leak(d.to_owned().into_boxed_str()))
            .collect(),
        _ => vec!["threads", "mio", "uring"],
    }
}

/// A loopback port that was free a moment ago (bind :0, read, drop).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

type Buf = Arc<Mutex<Vec<u8>>>;

fn pump(mut from: impl Read + Send + 'static, into: Buf) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match from.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => into.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    })
}

/// A running child whose stdout/stderr are collected in the background.
/// Dropping it kills the child (by PID) and reaps it.
pub struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Buf,
    stderr: Buf,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
    program: String,
}

impl Running {
    /// Spawn `cmd` with piped stdio, write `stdin_bytes` and keep stdin open.
    pub fn spawn(cmd: &mut Command, stdin_bytes: &[u8]) -> Running {
        let program = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {program}: {e}"));
        let stdout = Buf::default();
        let stderr = Buf::default();
        let readers = vec![
            pump(child.stdout.take().unwrap(), stdout.clone()),
            pump(child.stderr.take().unwrap(), stderr.clone()),
        ];
        let mut stdin = child.stdin.take();
        if !stdin_bytes.is_empty() {
            if let Some(pipe) = stdin.as_mut() {
                // The child may already have exited (EPIPE): its output says why.
                let _ = pipe.write_all(stdin_bytes).and_then(|_| pipe.flush());
            }
        }
        Running {
            child,
            stdin,
            stdout,
            stderr,
            readers,
            status: None,
            program,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Exit status if the child has exited (non-blocking).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Poll until `pred(stdout, stderr)` holds, the child exits, or `timeout`.
    /// Returns whether the predicate held.
    pub fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&str, &str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.stdout(), &self.stderr()) {
                return true;
            }
            if self.exited().is_some() {
                // Give the reader threads a moment to drain the pipes.
                self.join_readers(Duration::from_secs(2));
                return pred(&self.stdout(), &self.stderr());
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait (bounded) for the child to exit on its own; kill it by PID when
    /// `timeout` passes. Returns `true` if it exited by itself.
    pub fn wait_or_kill(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.exited().is_none() {
            if Instant::now() >= deadline {
                self.kill();
                self.join_readers(Duration::from_secs(2));
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
        // The pipes may still hold the child's last words: read them before
        // anyone looks at `stdout()`.
        self.join_readers(Duration::from_secs(2));
        true
    }

    /// Kill the child by its PID (if still running) and reap it.
    pub fn kill(&mut self) {
        self.stdin = None;
        if self.exited().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    fn join_readers(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        // Join only finished readers; an unfinished one (pipe held open by a
        // grandchild) is detached rather than waited on forever.
        for r in std::mem::take(&mut self.readers) {
            if r.is_finished() {
                let _ = r.join();
            }
        }
    }

    /// Stop the child (kill if still running) and return everything it wrote.
    pub fn into_output(mut self) -> Output {
        self.kill();
        self.join_readers(Duration::from_secs(2));
        Output {
            status: self.status.expect("child reaped"),
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.program,
            self.stdout(),
            self.stderr()
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run `cmd` to completion with `stdin_bytes` on stdin (then EOF); the child
/// is killed if it has not exited after `timeout`.
pub fn run_with_timeout(cmd: &mut Command, stdin_bytes: &[u8], timeout: Duration) -> Output {
    let mut proc = Running::spawn(cmd, stdin_bytes);
    proc.close_stdin();
    proc.wait_or_kill(timeout);
    proc.into_output()
}

/// Run `cmd` with `stdin_bytes` on stdin, keeping stdin OPEN (so clients that
/// quit on EOF don't quit early), until `done(stdout, stderr)` holds, the
/// child exits, or `timeout`; then kill the child by PID.
/// Returns the output and whether `done` held.
pub fn run_until(
    cmd: &mut Command,
    stdin_bytes: &[u8],
    timeout: Duration,
    done: impl Fn(&str, &str) -> bool,
) -> (Output, bool) {
    let mut proc = Running::spawn(cmd, stdin_bytes);
    let ok = proc.wait_for(timeout, done);
    (proc.into_output(), ok)
}

pub fn text(out: &Output) -> String {
    format!(
        "--- status: {:?} ---\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------

/// The request every client sends.
pub const HTTP_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// The part of `out` from the first HTTP/1.x status line on, if any.
pub fn http_response(out: &str) -> Option<&str> {
    out.find("HTTP/1.").map(|i| &out[i..])
}

/// True once `out` holds an `HTTP/1.x 200` status line followed by a body
/// mentioning reprise (the server's page).
pub fn http_ok(out: &str) -> bool {
    match http_response(out) {
        Some(resp) => {
            let status = resp.lines().next().unwrap_or("");
            status.split_whitespace().nth(1) == Some("200")
                && resp.to_ascii_lowercase().contains("reprise")
        }
        None => false,
    }
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

/// A background server process on a loopback port, stopped on drop.
pub struct Server {
    pub port: u16,
    pub label: String,
    proc: Running,
    /// The certificates it serves, when made for it (removed with it).
    _pki: Option<Pki>,
}

impl Server {
    /// Spawn `make(port)` on a free port and wait until a stdout line starts
    /// with `ready`. Retries on a fresh port if the process dies early (the
    /// free-port probe can race with other tests).
    pub fn start(label: &str, ready: &str, make: impl Fn(u16) -> Command) -> Server {
        let mut last = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let mut proc = Running::spawn(&mut make(port), b"");
            let up = proc.wait_for(READY_TIMEOUT, |out, _| {
                out.lines().any(|l| l.starts_with(ready))
            });
            if up && proc.exited().is_none() {
                return Server {
                    port,
                    label: label.to_owned(),
                    proc,
                    _pki: None,
                };
            }
            let exited = proc.exited();
            last = match exited {
                Some(status) => format!("exited ({status}) before printing {ready:?}"),
                None => format!("did not print {ready:?} within {READY_TIMEOUT:?}"),
            };
            last = format!("{last}:\n{}", proc.describe());
            drop(proc);
            if exited.is_none() {
                break; // Alive but never ready: retrying won't help.
            }
        }
        panic!("[{label}] server failed to start (3 attempts at most): {last}");
    }

    /// `reprise serve --listen 127.0.0.1:PORT --driver DRIVER EXTRA...`; a terminator
    /// (`--backend`) given no `--cert` gets the test PKI's certificates, since it refuses to
    /// run on throw-away ones.
    pub fn reprise(driver: &str, extra: &[&str]) -> Server {
        let pki = (extra.contains(&"--backend") && !extra.contains(&"--cert"))
            .then(|| Pki::generate("terminator"));
        let certificates = pki.as_ref().map(Pki::serve_args).unwrap_or_default();
        let mut server = Server::start(
            &format!("reprise serve --driver {driver}"),
            "listening on ",
            |port| {
                let mut cmd = Command::new(reprise_bin());
                cmd.arg("serve")
                    .arg("--listen")
                    .arg(format!("127.0.0.1:{port}"))
                    .arg("--driver")
                    .arg(driver)
                    .args(extra)
                    .args(&certificates);
                cmd
            },
        );
        server._pki = pki;
        server
    }

    /// `openssl s_server -tls1_2 -accept 127.0.0.1:PORT -www ARGS...`
    /// (ready when it prints `ACCEPT`).
    pub fn openssl(args: &[&str]) -> Server {
        Server::start("openssl s_server", "ACCEPT", |port| {
            let mut cmd = Command::new("openssl");
            cmd.arg("s_server")
                .arg("-tls1_2")
                .arg("-accept")
                .arg(format!("127.0.0.1:{port}"))
                .arg("-www")
                .args(args);
            cmd
        })
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.exited().is_none()
    }

    /// The server process's PID (e.g. to read /proc/PID/status).
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Everything the server printed so far (for assertion messages).
    pub fn log(&self) -> String {
        format!("[{}]\n{}", self.label, self.proc.describe())
    }
}

/// A plaintext backend that answers each request after `delay` (a thread per connection).
pub fn slow_backend(delay: Duration) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            std::thread::spawn(move || {
                let _ = sock.set_read_timeout(Some(Duration::from_secs(30)));
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                std::thread::sleep(delay);
                let _ = sock.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nslow\n",
                );
            });
        }
    });
    addr
}

// ---------------------------------------------------------------------------
// Temp dirs and test PKI
// ---------------------------------------------------------------------------

/// A directory under `std::env::temp_dir()`, unique per process and call,
/// removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("reprise-interop-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_ecdsa_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
[v3_rsa_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
";

const DAYS: &str = "60";

/// Test PKI made with the `openssl` command: a trusted CA with an ECDSA
/// P-256 and an RSA-2048 leaf for `localhost`/127.0.0.1, and an untrusted CA
/// with its own ECDSA leaf. Keys are PKCS#8 PEM. Removed on drop.
pub struct Pki {
    pub dir: TempDir,
    pub ca: PathBuf,
    pub ecdsa_cert: PathBuf,
    pub ecdsa_key: PathBuf,
    pub rsa_cert: PathBuf,
    pub rsa_key: PathBuf,
    pub untrusted_ca: PathBuf,
    pub untrusted_cert: PathBuf,
    pub untrusted_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = run_with_timeout(
        Command::new("openssl").current_dir(dir).args(args),
        b"",
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "openssl {}\n{}",
        args.join(" "),
        text(&out)
    );
}

fn genkey(dir: &Path, name: &str, rsa: bool) {
    let opt = if rsa {
        "rsa_keygen_bits:2048"
    } else {
        "ec_paramgen_curve:P-256"
    };
    let alg = if rsa { "RSA" } else { "EC" };
    openssl(
        dir,
        &["genpkey", "-algorithm", alg, "-pkeyopt", opt, "-out", name],
    );
}

fn make_ca(dir: &Path, name: &str, cn: &str) {
    let key = format!("{name}.key");
    genkey(dir, &key, false);
    openssl(
        dir,
        &[
            "req",
            "-config",
            "openssl.cnf",
            "-x509",
            "-new",
            "-key",
            &key,
            "-sha256",
            "-days",
            DAYS,
            "-subj",
            &format!("/CN={cn}"),
            "-extensions",
            "v3_ca",
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

fn make_leaf(dir: &Path, name: &str, ca: &str, rsa: bool) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    genkey(dir, &key, rsa);
    openssl(
        dir,
        &[
            "req",
            "-config",
            "openssl.cnf",
            "-new",
            "-key",
            &key,
            "-subj",
            "/CN=localhost",
            "-out",
            &csr,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-CAserial",
            &format!("{ca}.srl"),
            "-sha256",
            "-days",
            DAYS,
            "-extfile",
            "openssl.cnf",
            "-extensions",
            if rsa { "v3_rsa_leaf" } else { "v3_ecdsa_leaf" },
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

impl Pki {
    pub fn generate(tag: &str) -> Pki {
        let dir = TempDir::new(tag);
        let d = dir.path();
        std::fs::write(d.join("openssl.cnf"), OPENSSL_CNF).expect("write openssl.cnf");
        make_ca(d, "ca", "Reprise Test CA");
        make_leaf(d, "ecdsa", "ca", false);
        make_leaf(d, "rsa", "ca", true);
        make_ca(d, "untrusted-ca", "Reprise Untrusted CA");
        make_leaf(d, "untrusted", "untrusted-ca", false);
        Pki {
            ca: d.join("ca.pem"),
            ecdsa_cert: d.join("ecdsa.pem"),
            ecdsa_key: d.join("ecdsa.key"),
            rsa_cert: d.join("rsa.pem"),
            rsa_key: d.join("rsa.key"),
            untrusted_ca: d.join("untrusted-ca.pem"),
            untrusted_cert: d.join("untrusted.pem"),
            untrusted_key: d.join("untrusted.key"),
            dir,
        }
    }

    /// `--cert/--key` for both the ECDSA and the RSA leaf (for `reprise serve`).
    pub fn serve_args(&self) -> Vec<String> {
        vec![
            "--cert".into(),
            s(&self.ecdsa_cert),
            "--key".into(),
            s(&self.ecdsa_key),
            "--cert".into(),
            s(&self.rsa_cert),
            "--key".into(),
            s(&self.rsa_key),
        ]
    }
}

/// Path as an owned string (for argument lists).
pub fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_owned()
}

// ---------------------------------------------------------------------------
// What is negotiated
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Ecdsa,
    Rsa,
}

#[derive(Clone, Copy, Debug)]
pub struct Suite {
    pub iana: &'static str,
    pub openssl: &'static str,
    pub key: KeyType,
}

pub const SUITES: [Suite; 6] = [
    Suite {
        iana: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        openssl: "ECDHE-ECDSA-AES128-GCM-SHA256",
        key: KeyType::Ecdsa,
    },
    Suite {
        iana: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        openssl: "ECDHE-ECDSA-AES256-GCM-SHA384",
        key: KeyType::Ecdsa,
    },
    Suite {
        iana: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        openssl: "ECDHE-ECDSA-CHACHA20-POLY1305",
        key: KeyType::Ecdsa,
    },
    Suite {
        iana: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        openssl: "ECDHE-RSA-AES128-GCM-SHA256",
        key: KeyType::Rsa,
    },
    Suite {
        iana: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        openssl: "ECDHE-RSA-AES256-GCM-SHA384",
        key: KeyType::Rsa,
    },
    Suite {
        iana: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        openssl: "ECDHE-RSA-CHACHA20-POLY1305",
        key: KeyType::Rsa,
    },
];

#[derive(Clone, Copy, Debug)]
pub struct Group {
    /// Name as `reprise connect` prints it and as openssl's `-groups` takes it.
    pub name: &'static str,
    /// What `openssl s_client` prints on its `Server Temp Key:` line.
    pub openssl_temp_key: &'static str,
}

pub const GROUPS: [Group; 3] = [
    Group {
        name: "X25519",
        openssl_temp_key: "X25519",
    },
    Group {
        name: "P-256",
        openssl_temp_key: "prime256v1",
    },
    Group {
        name: "P-384",
        openssl_temp_key: "secp384r1",
    },
];
