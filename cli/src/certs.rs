//! Certificates for `reprise serve`: loaded from PEM files, or fresh self-signed ones.

use reprise::{CertifiedKey, ConfigError};

/// A certificate chain and its key, checked to belong together.
pub struct CertPair {
    /// Chain, leaf first, DER.
    pub chain: Vec<Vec<u8>>,
    /// Private key DER; wiped on drop.
    pub key: zeroize::Zeroizing<Vec<u8>>,
    /// A label for logs.
    pub label: String,
    /// The DNS names the leaf is for.
    pub names: Vec<String>,
}

impl CertPair {
    /// One line for the logs and `serve --check`: the names, and when the leaf expires.
    pub fn summary(&self, now: u64) -> String {
        let names = if self.names.is_empty() {
            "no DNS name (default only)".to_string()
        } else {
            self.names.join(", ")
        };
        let leaf = self.chain.first().map_or(&[][..], Vec::as_slice);
        let serial = serial(leaf).map_or(String::new(), |s| format!(", serial {s}"));
        format!(
            "certificate {}: for {names}{serial}{}",
            self.label,
            expiry(leaf, now)
        )
    }
}

/// `; expires YYYY-MM-DD (in N days)`, `; EXPIRED YYYY-MM-DD`, or nothing if the leaf's
/// validity cannot be read.
pub fn expiry(leaf: &[u8], now: u64) -> String {
    match not_after(leaf) {
        Some(end) if end <= now => format!("; EXPIRED {}", utc_date(end)),
        Some(end) => format!(
            "; expires {} (in {} days)",
            utc_date(end),
            (end - now) / 86_400
        ),
        None => String::new(),
    }
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
        Ok((chain, key, names)) => Ok(CertPair {
            chain,
            key,
            label: cert_path.to_string(),
            names,
        }),
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
            names: vec!["localhost".into()],
        });
    }
    Ok(pairs)
}

/// `AB:CD:…` SHA-256 fingerprint of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    reprise::x509::sha256(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub use reprise::x509::{not_after, serial};

/// `YYYY-MM-DD` (UTC) of a Unix time.
pub fn utc_date(unix: u64) -> String {
    reprise_serve::units::UtcTime(unix.saturating_mul(1000)).date()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_both_ways() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_800_000_000), "2027-01-15");
    }

    #[test]
    fn not_after_reads_rcgen_validity() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        for (year, month, day) in [(2031, 7, 4), (2051, 1, 31)] {
            let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
            params.not_after = rcgen::date_time_ymd(year, month, day);
            let cert = params.self_signed(&key).unwrap();
            let end = not_after(cert.der()).unwrap();
            assert_eq!(utc_date(end), format!("{year:04}-{month:02}-{day:02}"));
        }
        assert_eq!(not_after(b"\x30\x03garbage"), None);
        assert_eq!(serial(b"\x30\x03garbage"), None);
    }

    #[test]
    fn serial_reads_the_number_without_its_sign_byte() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        for number in [vec![0x01, 0x02, 0x03], vec![0x80, 0xff]] {
            let mut params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
            params.serial_number = Some(rcgen::SerialNumber::from_slice(&number));
            let cert = params.self_signed(&key).unwrap();
            let hex: String = number.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(serial(cert.der()).as_deref(), Some(hex.as_str()));
        }
    }
}
