//! Operating a running `reprise serve`: SIGHUP (and `reprise ctl reload`) swaps in a new
//! certificate while `reprise load` runs, with no failed handshake; a broken file on reload
//! changes nothing but a log line; `reprise ctl status` reports; `retire-ticket-keys` under
//! load makes ticket resumptions fall back to full handshakes with no error; the control
//! socket is owner-only and refuses other users; `--config` files say what flags say and
//! unknown keys are refused by name.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn write_pair(cert: &Path, key: &Path, cn: &str) {
    let k = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let c = params.self_signed(&k).unwrap();
    // Replaced whole (rename), as deployment tools do.
    let (tc, tk) = (
        cert.with_extension("tmp-crt"),
        key.with_extension("tmp-key"),
    );
    std::fs::write(&tc, c.pem()).unwrap();
    std::fs::write(&tk, k.serialize_pem()).unwrap();
    std::fs::rename(tk, key).unwrap();
    std::fs::rename(tc, cert).unwrap();
}

fn subject(addr: &str) -> String {
    let out = run_with_timeout(
        Command::new("openssl").args(["s_client", "-connect", addr, "-tls1_2"]),
        b"",
        PEER_TIMEOUT,
    );
    let t = text(&out);
    t.lines()
        .find_map(|l| l.strip_prefix("subject=").map(|v| v.replace(' ', "")))
        .unwrap_or_else(|| panic!("no subject in {t}"))
}

fn load(addr: &str, extra: &[&str]) -> Running {
    Running::spawn(
        Command::new(reprise_bin())
            .args(["load", addr, "--insecure", "--sni", "localhost"])
            .args(extra),
        b"",
    )
}

fn errors_of(report: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.strip_prefix("handshakes/s: "))
        .and_then(|l| l.split("errors: ").nth(1))
        .and_then(|e| e.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no errors figure in {report}"))
}

fn ctl(socket: &Path, command: &str) -> std::process::Output {
    run_with_timeout(
        Command::new(reprise_bin()).args(["ctl", "--control", &s(socket), command]),
        b"",
        PEER_TIMEOUT,
    )
}

#[test]
fn sighup_swaps_the_certificate_under_load_and_a_broken_file_changes_nothing() {
    let dir = TempDir::new("reload");
    let (cert, key) = (dir.path().join("site.pem"), dir.path().join("site.key"));
    for driver in drivers() {
        write_pair(&cert, &key, "first");
        let server = Server::reprise(driver, &["--cert", &s(&cert), "--key", &s(&key)]);
        let addr = server.addr();
        assert_eq!(subject(&addr), "CN=first", "[{driver}]");
        let mut running = load(&addr, &["--connections", "8", "--duration", "3s"]);
        std::thread::sleep(Duration::from_millis(1000));
        write_pair(&cert, &key, "second");
        let hup = Command::new("kill")
            .args(["-HUP", &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(hup.success());
        assert!(
            running.wait_or_kill(Duration::from_secs(20)),
            "[{driver}] load hung"
        );
        let report = running.stdout();
        assert_eq!(
            errors_of(&report),
            0,
            "[{driver}] {report}\n{}",
            server.log()
        );
        // Reloads are asynchronous to the signal: new connections see the new one shortly.
        let deadline = Instant::now() + Duration::from_secs(5);
        while subject(&addr) != "CN=second" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(subject(&addr), "CN=second", "[{driver}] {}", server.log());
        assert!(
            server.log().contains("reloaded: "),
            "[{driver}] {}",
            server.log()
        );
        // A broken certificate file: a log line, and the running certificate stays.
        std::fs::write(&cert, "not a certificate\n").unwrap();
        let out = ctl_free_reload(&server);
        assert!(out.contains("reload failed"), "[{driver}] {out}");
        assert_eq!(subject(&addr), "CN=second", "[{driver}]");
    }
}

/// Sends SIGHUP and waits for the server's line about it.
fn ctl_free_reload(server: &Server) -> String {
    let before = server.log().matches("reload").count();
    Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = server.log();
        if log.matches("reload").count() > before || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctl_reports_reloads_and_retires_ticket_keys_under_load() {
    let dir = TempDir::new("ctl");
    let socket = dir.path().join("reprise.sock");
    for driver in drivers() {
        let _ = std::fs::remove_file(&socket);
        let metrics = format!("127.0.0.1:{}", free_port());
        let server = Server::reprise(driver, &["--control", &s(&socket), "--metrics", &metrics]);
        // Owner-only.
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&socket).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "[{driver}] socket mode {mode:o}");
        let addr = server.addr();
        // Some ticket resumptions first.
        let mut warm = load(
            &addr,
            &[
                "--connections",
                "4",
                "--handshakes",
                "40",
                "--resume",
                "ticket",
            ],
        );
        assert!(warm.wait_or_kill(Duration::from_secs(20)));
        let out = ctl(&socket, "status");
        let t = text(&out);
        assert!(out.status.success(), "[{driver}] {t}");
        for needle in [
            "connections: ",
            "handshakes: ",
            " ticket, ",
            "resumption rate: ",
            "ticket keys: 1",
            "encrypting, age ",
        ] {
            assert!(t.contains(needle), "[{driver}] no {needle:?} in {t}");
        }
        // Retire every key while clients resume by ticket.
        let mut running = load(
            &addr,
            &[
                "--connections",
                "8",
                "--duration",
                "3s",
                "--resume",
                "ticket",
            ],
        );
        std::thread::sleep(Duration::from_millis(1000));
        let out = ctl(&socket, "retire-ticket-keys");
        assert!(
            out.status.success() && text(&out).contains("retired 1 keys"),
            "[{driver}] {}",
            text(&out)
        );
        assert!(running.wait_or_kill(Duration::from_secs(20)));
        let report = running.stdout();
        assert_eq!(
            errors_of(&report),
            0,
            "[{driver}] {report}\n{}",
            server.log()
        );
        let scraped = run_with_timeout(
            Command::new("curl").args(["-s", &format!("http://{metrics}/metrics")]),
            b"",
            PEER_TIMEOUT,
        );
        let scraped = String::from_utf8_lossy(&scraped.stdout).to_string();
        let fell_back = scraped
            .lines()
            .find_map(|l| {
                l.strip_prefix("reprise_resumption_failures_total{reason=\"unknown-ticket-key\"} ")
            })
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        assert!(fell_back >= 1, "[{driver}] no ticket fell back:\n{scraped}");
        // Rotation, and a reload with nothing to reload.
        let out = ctl(&socket, "rotate-ticket-keys");
        assert!(
            text(&out).contains("rotated: new encrypting key"),
            "[{driver}] {}",
            text(&out)
        );
        let out = ctl(&socket, "status");
        assert!(
            text(&out).contains("ticket keys: 2"),
            "[{driver}] {}",
            text(&out)
        );
        let out = ctl(&socket, "reload");
        assert!(
            text(&out).contains("reloaded: nothing to reload"),
            "[{driver}] {}",
            text(&out)
        );
    }
}

#[test]
fn the_control_socket_refuses_other_users() {
    if !Path::new("/usr/bin/setpriv").exists() || not_root() {
        eprintln!("skipped: needs root and setpriv to act as another user");
        return;
    }
    let dir = TempDir::new("ctl-users");
    let socket = dir.path().join("reprise.sock");
    let server = Server::reprise("mio", &["--control", &s(&socket)]);
    // Past the file mode (opened up on purpose), the server still checks the peer's user.
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = run_with_timeout(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(reprise_bin())
            .args(["ctl", "--control", &s(&socket), "status"]),
        b"",
        PEER_TIMEOUT,
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}\n{}", server.log());
    assert!(t.contains("refused: not the server's user"), "{t}");
}

/// True unless this process runs as root (read from /proc, no libc).
fn not_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(|u| u != "0"))
        })
        .unwrap_or(true)
}

#[test]
fn a_config_file_says_what_flags_say_and_unknown_keys_are_refused() {
    let dir = TempDir::new("config-file");
    let (cert, key) = (dir.path().join("site.pem"), dir.path().join("site.key"));
    write_pair(&cert, &key, "from-file");
    let conf = dir.path().join("reprise.toml");
    std::fs::write(
        &conf,
        format!(
            "driver = \"mio\"\nsession-cache = \"1MiB\"\nquiet = true\n\n[[certificate]]\ncert = \"{}\"\nkey = \"{}\"\n",
            s(&cert),
            s(&key)
        ),
    )
    .unwrap();
    let server = Server::start("reprise serve --config", "listening on ", |port| {
        let mut cmd = Command::new(reprise_bin());
        cmd.args([
            "serve",
            "--config",
            &s(&conf),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ]);
        cmd
    });
    assert_eq!(subject(&server.addr()), "CN=from-file");
    assert!(server.log().contains("mio driver"), "{}", server.log());
    // An unknown key: one line naming it, exit 1.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen = \"127.0.0.1:0\"\nsesion-cache = \"1MiB\"\n").unwrap();
    let out = run_with_timeout(
        Command::new(reprise_bin()).args(["serve", "--config", &s(&bad)]),
        b"",
        PEER_TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown key `sesion-cache`"), "{stderr}");
}

/// A second `reprise serve` on an address a live server listens on exits naming the
/// address, and the first keeps every connection; the same for a control socket path a
/// live server answers on. `--reuse-port` joins on purpose (a hitless upgrade), and a
/// clean exit removes the control socket file.
#[test]
fn a_second_server_cannot_take_a_live_port_or_control_socket() {
    for driver in drivers() {
        let dir = TempDir::new("second-server");
        let control = dir.path().join("ctl.sock");
        let mut first = Server::reprise(driver, &["--control", &s(&control)]);
        let addr = first.addr();
        let second = run_with_timeout(
            Command::new(reprise_bin()).args(["serve", "--driver", driver, "--listen", &addr]),
            b"",
            PEER_TIMEOUT,
        );
        assert!(!second.status.success(), "[{driver}] {}", text(&second));
        assert!(
            String::from_utf8_lossy(&second.stderr).contains(&addr),
            "[{driver}] the refusal names the address: {}",
            text(&second)
        );
        // Every connection reaches the first server (the second never listened).
        for _ in 0..10 {
            let out = run_with_timeout(
                Command::new("curl").args(["-sk", "--max-time", "5", &format!("https://{addr}/")]),
                b"",
                PEER_TIMEOUT,
            );
            assert!(
                http_ok(&text(&out)) || out.status.success(),
                "[{driver}] {}",
                text(&out)
            );
        }
        // The control path of a live server is refused, and stays the first server's.
        let other = format!("127.0.0.1:{}", free_port());
        let taken = run_with_timeout(
            Command::new(reprise_bin()).args([
                "serve",
                "--driver",
                driver,
                "--listen",
                &other,
                "--control",
                &s(&control),
            ]),
            b"",
            PEER_TIMEOUT,
        );
        assert!(!taken.status.success(), "[{driver}] {}", text(&taken));
        assert!(
            String::from_utf8_lossy(&taken.stderr).contains(&s(&control)),
            "[{driver}] {}",
            text(&taken)
        );
        let status = ctl(&control, "status");
        assert!(status.status.success(), "[{driver}] {}", text(&status));
        // Joining on purpose works where the driver shares ports (SO_REUSEPORT).
        if driver != "threads" {
            let mut joined = Running::spawn(
                Command::new(reprise_bin()).args([
                    "serve",
                    "--driver",
                    driver,
                    "--listen",
                    &addr,
                    "--reuse-port",
                ]),
                b"",
            );
            assert!(
                joined.wait_for(READY_TIMEOUT, |out, _| out.contains("listening on ")),
                "[{driver}] --reuse-port joins: {}",
                joined.describe()
            );
            joined.kill();
        }
        // A clean exit takes its control socket file along.
        let term = Command::new("kill")
            .args(["-TERM", &first.pid().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while first.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!first.is_running(), "[{driver}] {}", first.log());
        assert!(
            !control.exists(),
            "[{driver}] the control socket file is left behind"
        );
    }
}

/// A terminator without certificates is refused; a page server without them says loudly
/// that it serves throw-away self-signed ones.
#[test]
fn no_certificates_is_an_error_for_a_terminator_and_loud_for_a_demo() {
    let refused = run_with_timeout(
        Command::new(reprise_bin()).args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "127.0.0.1:9",
        ]),
        b"",
        PEER_TIMEOUT,
    );
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--backend needs --cert"),
        "{}",
        text(&refused)
    );
    let mut demo = Running::spawn(
        Command::new(reprise_bin()).args(["serve", "--listen", "127.0.0.1:0"]),
        b"",
    );
    assert!(
        demo.wait_for(READY_TIMEOUT, |out, _| out.contains("listening on ")),
        "{}",
        demo.describe()
    );
    assert!(
        demo.stderr()
            .contains("throw-away self-signed certificates"),
        "{}",
        demo.describe()
    );
    demo.kill();
}

/// `serve --check` on a config file, run from another directory.
fn check(config: &Path) -> std::process::Output {
    run_with_timeout(
        Command::new(reprise_bin()).current_dir("/").args([
            "serve",
            "--check",
            "--config",
            &s(config),
        ]),
        b"",
        PEER_TIMEOUT,
    )
}

/// `serve --check` says a good config is good (certificate names and expiry; paths relative
/// to the config file), and names the source of each kind of mistake, all of them at once.
#[test]
fn serve_check_summarises_a_good_config_and_names_every_mistake() {
    let pki = Pki::generate("check");
    let dir = pki.dir.path();
    let encrypted = dir.join("encrypted.key");
    let made = Command::new("openssl")
        .args([
            "pkey",
            "-in",
            &s(&pki.ecdsa_key),
            "-out",
            &s(&encrypted),
            "-aes256",
        ])
        .args(["-passout", "pass:secret"])
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(
        dir.join("garbage.pem"),
        "-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    // Good: relative paths, from `/`.
    let good = write(
        "good.toml",
        "listen = \"127.0.0.1:8443\"\nsession-timeout = \"10m\"\n\n[[certificate]]\ncert = \"ecdsa.pem\"\nkey = \"ecdsa.key\"\n",
    );
    let out = check(&good);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("check: the configuration is good"), "{t}");
    assert!(t.contains("ecdsa.pem: for localhost"), "{t}");
    assert!(t.contains("expires 20"), "{t}");
    // Each kind of mistake, named with its source.
    let cases = [
        (
            "cert = \"garbage.pem\"\nkey = \"ecdsa.key\"",
            "garbage.pem: the certificate does not parse",
        ),
        (
            "cert = \"ecdsa.pem\"\nkey = \"rsa.key\"",
            "does not match the certificate",
        ),
        (
            "cert = \"ecdsa.pem\"\nkey = \"encrypted.key\"",
            "encrypted.key: not a PEM private key file: the key is encrypted",
        ),
        (
            "cert = \"missing.pem\"\nkey = \"ecdsa.key\"",
            "missing.pem: No such file",
        ),
        (
            "cert = \"ecdsa.pem\"\nkye = \"ecdsa.key\"",
            "line 2: unknown key `certificate.kye`",
        ),
    ];
    for (i, (pair, expected)) in cases.iter().enumerate() {
        let config = write(
            &format!("bad-{i}.toml"),
            &format!("quiet = true\n[[certificate]]\n{pair}\n"),
        );
        let out = check(&config);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{pair}: {t}");
        assert!(t.contains(expected), "{pair}: expected {expected:?} in {t}");
    }
    for (body, expected) in [
        (
            "quiet = true\nsesion-cache = \"1MiB\"\n",
            "line 2: unknown key `sesion-cache`",
        ),
        (
            "quiet = true\nsession-timeout = \"ten\"\n",
            "line 2: `session-timeout`: invalid value 'ten'",
        ),
    ] {
        let config = write("bad-key.toml", body);
        let out = check(&config);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(t.contains(expected), "expected {expected:?} in {t}");
    }
    // Every problem at once.
    let both = write(
        "both.toml",
        "backend = \"nonsense\"\n[[certificate]]\ncert = \"garbage.pem\"\nkey = \"ecdsa.key\"\n[[certificate]]\ncert = \"rsa.pem\"\nkey = \"encrypted.key\"\n",
    );
    let out = check(&both);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("garbage.pem") && t.contains("encrypted.key") && t.contains("--backend"),
        "{t}"
    );
    assert!(t.contains("3 problems found"), "{t}");
}
