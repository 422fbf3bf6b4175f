//! Ticket keys from files: two servers sharing a key file resume each other's tickets, and a
//! rewritten key file is picked up live (`--ticket-key-file`, RFC 5077 §4 key names).

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn generate(format: &str, out: &std::path::Path) {
    let o = run_with_timeout(
        Command::new(reprise_bin()).args([
            "keys",
            "generate",
            "--format",
            format,
            "--out",
            &s(out),
        ]),
        b"",
        PEER_TIMEOUT,
    );
    assert!(o.status.success(), "keys generate failed\n{}", text(&o));
}

fn s_client(port: u16, ca: &str, sess_flag: &str, sess: &str) -> String {
    let out = run_with_timeout(
        Command::new("openssl")
            .args(["s_client", "-tls1_2", "-servername", "localhost"])
            .args([
                "-connect",
                &format!("127.0.0.1:{port}"),
                "-CAfile",
                ca,
                sess_flag,
                sess,
            ]),
        b"",
        PEER_TIMEOUT,
    );
    text(&out)
}

/// Replaces `path` atomically (write + rename), as operators rotate key files.
fn replace_file(path: &std::path::Path, contents: &[u8]) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn wait_for_reload(server: &Server, reloads: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if server.log().matches("ticket keys reloaded").count() >= reloads {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server did not reload its key file\n{}", server.log());
}

#[test]
fn shared_key_files_and_live_reload() {
    let pki = Pki::generate("keyfiles");
    let dir = pki.dir.path();
    let ca = s(&pki.ca);
    let (k1, k2, live) = (
        dir.join("k1.keys"),
        dir.join("k2.keys"),
        dir.join("live.keys"),
    );
    generate("reprise", &k1);
    generate("reprise", &k2);
    // nginx layouts load too.
    let nginx = dir.join("nginx80.key");
    generate("nginx80", &nginx);
    let k1_text = std::fs::read(&k1).unwrap();
    let k2_text = std::fs::read(&k2).unwrap();
    std::fs::write(&live, &k1_text).unwrap();

    for driver in drivers() {
        let mut args = pki.serve_args();
        args.extend(["--session-cache", "off", "--ticket-key-file"].map(String::from));
        args.push(s(&live));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let a = Server::reprise(driver, &args);
        let b = Server::reprise(driver, &args);
        let sess = s(&dir.join(format!("{driver}.sess")));

        let first = s_client(a.port, &ca, "-sess_out", &sess);
        assert!(
            first.contains("New, TLSv1.2"),
            "[{driver}] full handshake on A\n{first}"
        );
        let on_b = s_client(b.port, &ca, "-sess_in", &sess);
        assert!(
            on_b.contains("Reused, TLSv1.2"),
            "[{driver}] A's ticket resumes on B\n{on_b}\n{}",
            b.log()
        );

        // New encrypting key, old key kept for decryption: old tickets still resume.
        replace_file(&live, &[k2_text.clone(), k1_text.clone()].concat());
        wait_for_reload(&a, 1);
        let after = s_client(a.port, &ca, "-sess_in", &sess);
        assert!(
            after.contains("Reused, TLSv1.2"),
            "[{driver}] old key still decrypts\n{after}\n{}",
            a.log()
        );

        // Old key dropped: its tickets mean a full handshake, not an error.
        replace_file(&live, &k2_text);
        wait_for_reload(&a, 2);
        let dropped = s_client(a.port, &ca, "-sess_in", &sess);
        assert!(
            dropped.contains("New, TLSv1.2"),
            "[{driver}] dropped key: full handshake\n{dropped}\n{}",
            a.log()
        );
        std::fs::write(&live, &k1_text).unwrap();
    }

    // A server starts from an nginx 80-byte key file.
    let mut args = pki.serve_args();
    args.extend(["--ticket-key-file".to_string(), s(&nginx)]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::reprise("threads", &args);
    let sess = s(&dir.join("nginx.sess"));
    assert!(s_client(server.port, &ca, "-sess_out", &sess).contains("New, TLSv1.2"));
    assert!(s_client(server.port, &ca, "-sess_in", &sess).contains("Reused, TLSv1.2"));
}
