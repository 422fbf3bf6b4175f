//! Two names with their own certificates on one port of `reprise serve` (each `--cert/--key`
//! pair serves the DNS names of its certificate): `openssl s_client -servername` sees the
//! right certificate for each, the default one for an unknown name, and a session made for
//! one name does not resume on the other.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn write_pair(dir: &Path, stem: &str, names: &[&str]) -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (s(&c), s(&k))
}

fn s_client(addr: &str, name: &str, extra: &[&str]) -> String {
    let out = run_with_timeout(
        Command::new("openssl")
            .args(["s_client", "-connect", addr, "-tls1_2", "-servername", name])
            .args(extra),
        b"",
        PEER_TIMEOUT,
    );
    text(&out)
}

#[test]
fn two_names_two_certificates_one_port() {
    let dir = TempDir::new("sni");
    let (dc, dk) = write_pair(dir.path(), "default", &["default.test"]);
    let (ac, ak) = write_pair(dir.path(), "a", &["a.test"]);
    let (bc, bk) = write_pair(dir.path(), "b", &["b.test", "*.b.test"]);
    for driver in drivers() {
        let server = Server::reprise(
            driver,
            &[
                "--cert", &dc, "--key", &dk, "--cert", &ac, "--key", &ak, "--cert", &bc, "--key",
                &bk,
            ],
        );
        let addr = server.addr();
        for (name, cn) in [
            ("a.test", "a.test"),
            ("b.test", "b.test"),
            ("www.b.test", "b.test"),
            ("elsewhere.test", "default.test"),
        ] {
            let t = s_client(&addr, name, &[]);
            assert!(
                t.contains(&format!("subject=CN={cn}\n"))
                    || t.contains(&format!("subject=CN = {cn}\n")),
                "[{driver}] {name} should get {cn}:\n{t}"
            );
        }
        // A session for a.test, offered for b.test: a full handshake.
        let sess = dir.path().join(format!("{driver}.sess"));
        let first = s_client(&addr, "a.test", &["-sess_out", &s(&sess)]);
        assert!(first.contains("New, TLSv1.2"), "[{driver}] {first}");
        let same = s_client(&addr, "a.test", &["-sess_in", &s(&sess)]);
        assert!(
            same.contains("Reused, TLSv1.2"),
            "[{driver}] same name: {same}"
        );
        let other = s_client(&addr, "b.test", &["-sess_in", &s(&sess)]);
        assert!(
            other.contains("New, TLSv1.2") && other.contains("CN = b.test"),
            "[{driver}] other name resumed: {other}"
        );
    }
}
