//! PEM helpers for certificates and keys (RFC 7468), on rustls-pki-types' parser.

use pki_types::pem::PemObject;
use pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ConfigError;

/// Every CERTIFICATE block in `pem`, in order (DER).
pub fn certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, ConfigError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect();
    let certs = certs.map_err(|e| ConfigError::CertificatePem(format!("{e:?}")))?;
    if certs.is_empty() {
        return Err(ConfigError::CertificatePem(
            "no CERTIFICATE block found".into(),
        ));
    }
    Ok(certs)
}

/// The first private key block (PKCS#8, SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`) as DER.
pub fn private_key(pem: &[u8]) -> Result<Vec<u8>, ConfigError> {
    let key =
        PrivateKeyDer::from_pem_slice(pem).map_err(|e| ConfigError::KeyPem(format!("{e:?}")))?;
    Ok(key.secret_der().to_vec())
}
