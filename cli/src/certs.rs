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
    let d = digest::digest(&digest::SHA256, der);
    d.as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// One DER element at the front of `der`: its tag, its contents and what follows it.
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A DER certificate's TBSCertificate fields from `serialNumber` on (RFC 5280 §4.1).
fn tbs_from_serial(der: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = der_element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = der_element(certificate)? else {
        return None;
    };
    // [0] version (optional), then serialNumber.
    match tbs.first() {
        Some(0xa0) => Some(der_element(tbs)?.2),
        _ => Some(tbs),
    }
}

/// A DER certificate's serial number in lower-case hex (RFC 5280 §4.1.2.2), as
/// `openssl x509 -serial` shows it; `None` if it cannot be read.
pub fn serial(der: &[u8]) -> Option<String> {
    const INTEGER: u8 = 0x02;
    let (INTEGER, number, _) = der_element(tbs_from_serial(der)?)? else {
        return None;
    };
    // DER keeps a leading zero byte only to keep the number positive.
    let number = match number {
        [0, rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    Some(number.iter().map(|b| format!("{b:02x}")).collect())
}

/// When a DER certificate stops being valid (RFC 5280 §4.1.2.5: `validity.notAfter`), in
/// seconds since the Unix epoch; `None` if it cannot be read.
pub fn not_after(der: &[u8]) -> Option<u64> {
    const SEQUENCE: u8 = 0x30;
    // serialNumber, signature, issuer, then validity.
    let mut rest = tbs_from_serial(der)?;
    for _ in 0..3 {
        rest = der_element(rest)?.2;
    }
    let (SEQUENCE, validity, _) = der_element(rest)? else {
        return None;
    };
    let (_, _, after_not_before) = der_element(validity)?;
    let (tag, time, _) = der_element(after_not_before)?;
    let text = std::str::from_utf8(time).ok()?;
    // UTCTime `YYMMDDHHMMSSZ` (years 1950-2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`.
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = text.get(..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

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
        assert_eq!(days_from_civil(2000, 2, 29) * 86_400, 951_782_400);
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
