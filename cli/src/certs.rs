//! Certificates for `reprise serve`: loaded from PEM files, or fresh self-signed ones.

use aws_lc_rs::digest;
use reprise::{CertifiedKey, ConfigError};

/// A certificate chain and its key, checked to belong together.
pub struct CertPair {
    /// Chain, leaf first, DER.
    pub chain: Vec<Vec<u8>>,
    /// Private key DER; wiped on drop.
    pub key: zeroize::Zeroizing<Vec<u8>>,
    /// A label for logs.
    pub label: String,
}

/// Reads the chain and key of two PEM files. A file that does not parse and a key that is not
/// the certificate's are refused, the error naming the file to blame.
pub fn from_files(cert_path: &str, key_path: &str) -> Result<CertPair, String> {
    let cert_pem = std::fs::read(cert_path).map_err(|e| format!("--cert {cert_path}: {e}"))?;
    let key_pem = zeroize::Zeroizing::new(
        std::fs::read(key_path).map_err(|e| format!("--key {key_path}: {e}"))?,
    );
    let checked = reprise::pem::certificates(&cert_pem).and_then(|chain| {
        let key = zeroize::Zeroizing::new(reprise::pem::private_key(&key_pem)?);
        let names = CertifiedKey::new(chain.clone(), &key)?.names().to_vec();
        Ok((chain, key, names))
    });
    match checked {
        Ok((chain, key, names)) => {
            println!(
                "certificate {cert_path}: for {}",
                if names.is_empty() {
                    "no DNS name (default only)".to_string()
                } else {
                    names.join(", ")
                }
            );
            Ok(CertPair {
                chain,
                key,
                label: cert_path.to_string(),
            })
        }
        Err(
            e @ (ConfigError::CertificatePem(_)
            | ConfigError::MalformedCertificate { .. }
            | ConfigError::EmptyChain),
        ) => Err(format!("--cert {cert_path}: {e}")),
        Err(e @ (ConfigError::KeyPem(_) | ConfigError::UnsupportedKey(_))) => {
            Err(format!("--key {key_path}: {e}"))
        }
        Err(e) => Err(format!("--cert {cert_path} with --key {key_path}: {e}")),
    }
}

/// Makes fresh self-signed ECDSA P-256 and RSA-2048 certificates for `localhost`.
pub fn self_signed() -> Result<Vec<CertPair>, String> {
    let mut pairs = Vec::new();
    for (alg, label) in [
        (&rcgen::PKCS_ECDSA_P256_SHA256, "ecdsa-p256"),
        (&rcgen::PKCS_RSA_SHA256, "rsa-2048"),
    ] {
        let key = rcgen::KeyPair::generate_for(alg).map_err(|e| format!("key generation: {e}"))?;
        let mut params = rcgen::CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .map_err(|e| format!("certificate parameters: {e}"))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let cert = params
            .self_signed(&key)
            .map_err(|e| format!("self-signing: {e}"))?;
        pairs.push(CertPair {
            chain: vec![cert.der().to_vec()],
            key: zeroize::Zeroizing::new(key.serialize_der()),
            label: label.into(),
        });
    }
    Ok(pairs)
}

/// `AB:CD:…` SHA-256 fingerprint of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, der);
    d.as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
