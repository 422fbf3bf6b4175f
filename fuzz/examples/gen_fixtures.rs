//! Writes the fuzzing PKI to `fuzz/fixtures/`: a P-256 CA and two leaves for `localhost`
//! (ECDSA P-256 and RSA-2048), valid 2020-2040, as DER. Run once; the committed files make
//! every fuzz run and every corpus deterministic. Regenerating them invalidates the committed
//! corpora (rerun `cargo run --example gen_corpus` afterwards).
//!
//! ```text
//! cd fuzz && cargo run --example gen_fixtures
//! ```

use std::path::Path;

fn leaf(
    alg: &'static rcgen::SignatureAlgorithm,
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
) -> (Vec<u8>, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(alg).expect("leaf key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("leaf params");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let cert = params.signed_by(&key, issuer).expect("leaf certificate");
    (cert.der().to_vec(), key.serialize_der())
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    std::fs::create_dir_all(&dir).expect("fixtures directory");
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Reprise Fuzz CA");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let ca = params.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(params, ca_key);
    let (ecdsa, ecdsa_key) = leaf(&rcgen::PKCS_ECDSA_P256_SHA256, &issuer);
    let (rsa, rsa_key) = leaf(&rcgen::PKCS_RSA_SHA256, &issuer);
    for (name, bytes) in [
        ("ca.der", ca.der().to_vec()),
        ("ecdsa.der", ecdsa),
        ("ecdsa.key.der", ecdsa_key),
        ("rsa.der", rsa),
        ("rsa.key.der", rsa_key),
    ] {
        std::fs::write(dir.join(name), bytes).expect("write fixture");
        println!("wrote fixtures/{name}");
    }
}
