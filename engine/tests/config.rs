//! `ServerConfig` refuses what could only fail every handshake later, each with its own
//! typed error: a key that is not its certificate's, a certificate that does not parse, PEM
//! text that holds no certificate or key, a config without a certificate or a usable suite.

mod common;

use common::pki;
use reprise::internal::suites::{AuthKind, ALL_SUITES};
use reprise::{ConfigError, ServerConfig};

fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    use base64::encode;
    let body = encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

/// A small standard base64 encoder (RFC 4648 §4), so the test needs no extra crate.
mod base64 {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(data: &[u8]) -> String {
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[test]
fn a_key_of_another_type_than_its_certificate_is_refused() {
    let pki = pki();
    let err = ServerConfig::new()
        .add_certificate(pki.ecdsa_chain.clone(), &pki.rsa_key)
        .unwrap_err();
    assert_eq!(err, ConfigError::KeyMismatch);
    assert_eq!(
        err.to_string(),
        "the private key does not match the certificate's public key"
    );
    let err = ServerConfig::new()
        .add_certificate(pki.rsa_chain.clone(), &pki.ecdsa_key)
        .unwrap_err();
    assert_eq!(err, ConfigError::KeyMismatch);
}

#[test]
fn another_key_of_the_same_type_is_refused() {
    let pki = pki();
    for alg in [
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
    ] {
        let other = rcgen::KeyPair::generate_for(alg).unwrap().serialize_der();
        let err = ServerConfig::new()
            .add_certificate(pki.ecdsa_chain.clone(), &other)
            .unwrap_err();
        assert_eq!(err, ConfigError::KeyMismatch, "{alg:?}");
    }
    let other_rsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
        .unwrap()
        .serialize_der();
    let err = ServerConfig::new()
        .add_certificate(pki.rsa_chain.clone(), &other_rsa)
        .unwrap_err();
    assert_eq!(err, ConfigError::KeyMismatch);
}

#[test]
fn matching_pairs_are_accepted_and_validate() {
    let config = common::server_config();
    assert_eq!(config.certificates().len(), 2);
    assert_eq!(config.validate(), Ok(()));
    let pki = pki();
    let mut from_pem = ServerConfig::new();
    let chain_pem: Vec<u8> = pki
        .ecdsa_chain
        .iter()
        .flat_map(|c| pem("CERTIFICATE", c))
        .collect();
    from_pem
        .add_certificate_pem(&chain_pem, &pem("PRIVATE KEY", &pki.ecdsa_key))
        .unwrap();
    assert_eq!(from_pem.validate(), Ok(()));
}

#[test]
fn a_config_without_a_certificate_is_refused() {
    let err = ServerConfig::new().validate().unwrap_err();
    assert_eq!(err, ConfigError::NoCertificate);
    assert!(err.to_string().starts_with("no certificate configured"));
    let err = ServerConfig::new()
        .add_certificate(Vec::new(), &pki().ecdsa_key)
        .unwrap_err();
    assert_eq!(err, ConfigError::EmptyChain);
}

#[test]
fn a_config_whose_suites_need_another_certificate_is_refused() {
    let pki = pki();
    let mut config = ServerConfig::new();
    config
        .add_certificate(pki.ecdsa_chain.clone(), &pki.ecdsa_key)
        .unwrap();
    config.suites = ALL_SUITES
        .iter()
        .copied()
        .filter(|s| s.auth == AuthKind::Rsa)
        .collect();
    assert_eq!(config.validate(), Err(ConfigError::NoUsableSuite));
    config.suites = ALL_SUITES.to_vec();
    config.groups.clear();
    assert_eq!(config.validate(), Err(ConfigError::NoGroup));
}

#[test]
fn garbage_certificates_are_reported_as_certificates_not_keys() {
    let pki = pki();
    let key_pem = pem("PRIVATE KEY", &pki.ecdsa_key);
    // Not PEM at all.
    let err = ServerConfig::new()
        .add_certificate_pem(b"this is not a certificate\n", &key_pem)
        .unwrap_err();
    assert!(matches!(err, ConfigError::CertificatePem(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("not a PEM certificate file"),
        "{err}"
    );
    // A CERTIFICATE block whose content is not a certificate.
    let err = ServerConfig::new()
        .add_certificate_pem(&pem("CERTIFICATE", b"garbage bytes, not DER"), &key_pem)
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::MalformedCertificate { index: 0, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("the certificate does not parse"),
        "{err}"
    );
    // A good leaf followed by a broken chain certificate.
    let mut chain = pem("CERTIFICATE", &pki.ecdsa_chain[0]);
    chain.extend(pem("CERTIFICATE", &[0x30, 0x05, 1, 2]));
    let err = ServerConfig::new()
        .add_certificate_pem(&chain, &key_pem)
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::MalformedCertificate { index: 1, .. }),
        "{err:?}"
    );
    // DER certificates that are truncated.
    let leaf = &pki.ecdsa_chain[0];
    let err = ServerConfig::new()
        .add_certificate(vec![leaf[..leaf.len() - 10].to_vec()], &pki.ecdsa_key)
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::MalformedCertificate { index: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn garbage_keys_are_reported_as_keys() {
    let chain_pem = pem("CERTIFICATE", &pki().ecdsa_chain[0]);
    let err = ServerConfig::new()
        .add_certificate_pem(&chain_pem, b"no key here")
        .unwrap_err();
    assert!(matches!(err, ConfigError::KeyPem(_)), "{err:?}");
    let err = ServerConfig::new()
        .add_certificate_pem(&chain_pem, &pem("PRIVATE KEY", b"not a key"))
        .unwrap_err();
    assert!(matches!(err, ConfigError::UnsupportedKey(_)), "{err:?}");
}
