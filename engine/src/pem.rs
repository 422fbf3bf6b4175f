//! PEM helpers for certificates and keys (RFC 7468), on rustls-pki-types' parser.

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ConfigError;

/// Every CERTIFICATE block in `pem`, in order (DER).
pub fn certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, ConfigError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect();
    let certs = certs.map_err(|e| ConfigError::CertificatePem(explain(e, "CERTIFICATE")))?;
    if certs.is_empty() {
        return Err(ConfigError::CertificatePem(
            "no CERTIFICATE block found".into(),
        ));
    }
    Ok(certs)
}

/// The first private key block (PKCS#8, SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`) as DER.
///
/// A key under a passphrase (PKCS#8 `ENCRYPTED PRIVATE KEY`, or an OpenSSL `Proc-Type:
/// 4,ENCRYPTED` header) is refused with a message saying so: a server that restarts
/// unattended cannot type a passphrase.
pub fn private_key(pem: &[u8]) -> Result<Vec<u8>, ConfigError> {
    let contains = |needle: &[u8]| pem.windows(needle.len()).any(|w| w == needle);
    if contains(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || contains(b"Proc-Type: 4,ENCRYPTED") {
        return Err(ConfigError::KeyPem(
            "the key is encrypted with a passphrase; store it decrypted, readable by the \
             server only (e.g. `openssl pkey -in KEY -out PLAIN.key`, mode 0600)"
                .into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| ConfigError::KeyPem(explain(e, "PRIVATE KEY")))?;
    Ok(key.secret_der().to_vec())
}

/// A PEM parse error in words (the parser's own text shows marker lines as byte lists).
fn explain(error: pki_types::pem::Error, wanted: &str) -> String {
    use pki_types::pem::Error;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_string();
    match error {
        Error::NoItemsFound => format!("no {wanted} block found"),
        Error::MissingSectionEnd { end_marker } => format!(
            "a block has no `-----END {}-----` line (is the file cut short, or still being \
             written?)",
            text(&end_marker)
        ),
        Error::IllegalSectionStart { line } => {
            format!("a malformed `-----BEGIN` line: {:?}", text(&line))
        }
        Error::Base64Decode(why) => format!("a block's base64 is corrupt ({why})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encrypted_or_missing_key_is_named() {
        let encrypted =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = private_key(encrypted).unwrap_err().to_string();
        assert!(err.contains("encrypted with a passphrase"), "{err}");
        let legacy = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(private_key(legacy)
            .unwrap_err()
            .to_string()
            .contains("encrypted"));
        let none = private_key(b"hello").unwrap_err().to_string();
        assert!(none.ends_with("no PRIVATE KEY block found"), "{none}");
    }

    #[test]
    fn a_cut_short_file_is_named_in_words() {
        let half = b"-----BEGIN CERTIFICATE-----\nMIIB\n";
        let err = certificates(half).unwrap_err().to_string();
        assert!(err.contains("no `-----END CERTIFICATE-----` line"), "{err}");
        assert!(!err.contains('['), "{err}");
    }
}
