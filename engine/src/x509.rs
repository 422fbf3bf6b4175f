//! What operators and applications read off a certificate (RFC 5280 §4.1): its serial
//! number, when it expires and whom it names. Paths are verified by rustls-webpki; this only
//! reads fields, from a certificate already parsed once by it (or one's own).

/// One DER element at the front of `der`: its tag, its contents and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
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

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;

/// A DER certificate's TBSCertificate fields from `serialNumber` on.
fn tbs_from_serial(der: &[u8]) -> Option<&[u8]> {
    let (SEQUENCE, certificate, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(certificate)? else {
        return None;
    };
    // [0] version (optional), then serialNumber.
    match tbs.first() {
        Some(0xa0) => Some(element(tbs)?.2),
        _ => Some(tbs),
    }
}

/// The TBSCertificate field `skip` places after `serialNumber` (signature 1, issuer 2,
/// validity 3, subject 4): its tag and contents.
fn tbs_field(der: &[u8], skip: usize) -> Option<(u8, &[u8])> {
    let mut rest = tbs_from_serial(der)?;
    for _ in 0..skip {
        rest = element(rest)?.2;
    }
    let (tag, contents, _) = element(rest)?;
    Some((tag, contents))
}

/// The serial number in lower-case hex (RFC 5280 §4.1.2.2), as `openssl x509 -serial`
/// shows it; `None` if the certificate cannot be read.
pub fn serial(der: &[u8]) -> Option<String> {
    let (0x02, number) = tbs_field(der, 0)? else {
        return None;
    };
    Some(serial_hex(number))
}

/// When the certificate stops being valid (RFC 5280 §4.1.2.5: `validity.notAfter`), in
/// seconds since the Unix epoch; `None` if it cannot be read.
pub fn not_after(der: &[u8]) -> Option<u64> {
    let (SEQUENCE, validity) = tbs_field(der, 3)? else {
        return None;
    };
    let (_, _, after_not_before) = element(validity)?;
    let (tag, time, _) = element(after_not_before)?;
    let text = core::str::from_utf8(time).ok()?;
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

/// The subject (RFC 5280 §4.1.2.6) as an RFC 4514 string, most specific attribute first:
/// `CN=device-17,O=Example,C=DE`. Attributes without a short name are written as their
/// dotted OID; values that are not text, as `#` and their DER in hex. `None` if the
/// certificate cannot be read.
pub fn subject(der: &[u8]) -> Option<String> {
    name_to_string(subject_name(der)?)
}

/// The subject's common name (its last CN attribute), as text; `None` if there is none.
pub fn common_name(der: &[u8]) -> Option<String> {
    name_common_name(subject_name(der)?)
}

/// The contents of the certificate's subject Name SEQUENCE.
fn subject_name(der: &[u8]) -> Option<&[u8]> {
    match tbs_field(der, 4)? {
        (SEQUENCE, name) => Some(name),
        _ => None,
    }
}

/// A Name (the contents of its SEQUENCE) as RFC 4514 writes it; see [`subject`].
pub(crate) fn name_to_string(name: &[u8]) -> Option<String> {
    let mut rdns = Vec::new();
    for rdn in name_rdns(name)? {
        let attributes: Option<Vec<String>> = rdn
            .iter()
            .map(|(oid, value)| {
                Some(format!(
                    "{}={}",
                    attribute_name(oid),
                    attribute_value(value)?
                ))
            })
            .collect();
        rdns.push(attributes?.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// A Name's (the contents of its SEQUENCE) last CN attribute, as text.
pub(crate) fn name_common_name(name: &[u8]) -> Option<String> {
    let rdns = name_rdns(name)?;
    let (_, value) = rdns
        .iter()
        .flatten()
        .rfind(|(oid, _)| *oid == [0x55, 0x04, 0x03])?;
    let (tag, contents, _) = element(value)?;
    matches!(tag, 0x0c | 0x13 | 0x14 | 0x16).then(|| String::from_utf8_lossy(contents).into_owned())
}

/// A serial number's INTEGER contents in lower-case hex, without the sign byte DER keeps
/// to make it positive.
pub(crate) fn serial_hex(number: &[u8]) -> String {
    let number = match number {
        [0, rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    number.iter().map(|b| format!("{b:02x}")).collect()
}

/// The subject alternative names (RFC 5280 §4.2.1.6) as `openssl x509 -ext
/// subjectAltName` writes them: `DNS:device-17.example`, `URI:spiffe://example.org/svc`,
/// `email:ops@example.org`, `IP:192.0.2.7`; other kinds are left out. Empty when the
/// certificate has none (or cannot be read).
pub fn subject_alt_names(der: &[u8]) -> Vec<String> {
    subject_alt_names_der(der).map_or_else(Vec::new, general_names)
}

/// The contents of the subjectAltName extension's GeneralNames SEQUENCE.
pub(crate) fn subject_alt_names_der(der: &[u8]) -> Option<&[u8]> {
    // After subjectPublicKeyInfo: issuerUniqueID [1], subjectUniqueID [2], extensions [3].
    let mut rest = tbs_from_serial(der)?;
    for _ in 0..6 {
        rest = element(rest)?.2;
    }
    while let Some((tag, contents, after)) = element(rest) {
        rest = after;
        if tag != 0xa3 {
            continue;
        }
        let (SEQUENCE, mut extensions, _) = element(contents)? else {
            return None;
        };
        while !extensions.is_empty() {
            let (SEQUENCE, extension, after) = element(extensions)? else {
                return None;
            };
            extensions = after;
            let (0x06, oid, mut value) = element(extension)? else {
                return None;
            };
            if oid != [0x55, 0x1d, 0x11] {
                continue;
            }
            // critical BOOLEAN (optional), then the OCTET STRING holding GeneralNames.
            if value.first() == Some(&0x01) {
                value = element(value)?.2;
            }
            let (0x04, octets, _) = element(value)? else {
                return None;
            };
            let (SEQUENCE, names, _) = element(octets)? else {
                return None;
            };
            return Some(names);
        }
    }
    None
}

/// GeneralNames (the contents of their SEQUENCE) as text, the kinds [`subject_alt_names`]
/// names.
pub(crate) fn general_names(mut names: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((tag, value, rest)) = element(names) {
        names = rest;
        let text = || String::from_utf8_lossy(value).into_owned();
        match tag {
            0x81 => out.push(format!("email:{}", text())),
            0x82 => out.push(format!("DNS:{}", text())),
            0x86 => out.push(format!("URI:{}", text())),
            0x87 => match value.len() {
                4 => out.push(format!(
                    "IP:{}",
                    core::net::Ipv4Addr::new(value[0], value[1], value[2], value[3])
                )),
                16 => {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(value);
                    out.push(format!("IP:{}", core::net::Ipv6Addr::from(octets)));
                }
                _ => {}
            },
            _ => {}
        }
    }
    out
}

/// The SHA-256 of the certificate's DER (its fingerprint).
pub fn sha256(der: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// An attribute's type OID and its DER value.
type Attribute<'a> = (&'a [u8], &'a [u8]);

/// A Name's RDNs (from the contents of its SEQUENCE) in certificate order, each with its
/// attributes.
fn name_rdns(mut name: &[u8]) -> Option<Vec<Vec<Attribute<'_>>>> {
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (SET, mut set, rest) = element(name)? else {
            return None;
        };
        name = rest;
        let mut attributes = Vec::new();
        while !set.is_empty() {
            let (SEQUENCE, pair, rest) = element(set)? else {
                return None;
            };
            set = rest;
            let (0x06, oid, value) = element(pair)? else {
                return None;
            };
            attributes.push((oid, value));
        }
        rdns.push(attributes);
    }
    Some(rdns)
}

/// The RFC 4514 §3 short name of an attribute type, or its dotted OID.
fn attribute_name(oid: &[u8]) -> String {
    let short = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => return dotted(oid),
    };
    short.to_string()
}

/// An OID in dotted decimal (X.690 §8.19).
fn dotted(oid: &[u8]) -> String {
    let mut arcs = Vec::new();
    let mut value: u64 = 0;
    for &b in oid {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// An attribute value as RFC 4514 §2.4 writes it: text escaped, anything else `#` + hex.
fn attribute_value(value: &[u8]) -> Option<String> {
    let (tag, contents, _) = element(value)?;
    // UTF8String, PrintableString, TeletexString, IA5String.
    if !matches!(tag, 0x0c | 0x13 | 0x14 | 0x16) {
        let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
        return Some(format!("#{hex}"));
    }
    let text = String::from_utf8_lossy(contents);
    let last = text.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        if c.is_control() {
            out.push_str(&format!("\\{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_reads_as_nothing() {
        assert_eq!(serial(b"\x30\x03garbage"), None);
        assert_eq!(not_after(b"\x30\x03garbage"), None);
        assert_eq!(subject(b"\x30\x03garbage"), None);
    }

    #[test]
    fn general_names_read_as_openssl_writes_them() {
        let names = [
            &b"\x82\x0bexample.org"[..],
            b"\x86\x18spiffe://example.org/svc",
            b"\x81\x0fops@example.org",
            b"\x87\x04\xc0\x00\x02\x07",
            b"\xa0\x03\x02\x01\x00",
        ]
        .concat();
        assert_eq!(
            general_names(&names),
            [
                "DNS:example.org",
                "URI:spiffe://example.org/svc",
                "email:ops@example.org",
                "IP:192.0.2.7"
            ]
        );
        assert!(subject_alt_names(b"\x30\x03garbage").is_empty());
    }

    #[test]
    fn oids_and_values_are_written_as_rfc_4514_says() {
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]),
            "1.2.840.113549"
        );
        assert_eq!(
            attribute_value(b"\x0c\x05a,b c").as_deref(),
            Some("a\\,b c")
        );
        assert_eq!(attribute_value(b"\x13\x02 x").as_deref(), Some("\\ x"));
        assert_eq!(attribute_value(b"\x02\x01\x05").as_deref(), Some("#020105"));
    }
}
