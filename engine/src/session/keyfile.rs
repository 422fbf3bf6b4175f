//! Ticket key files: nginx, HAProxy and Reprise's own format.
//!
//! Reprise reads the key files other servers use so that an operator can share (and rotate)
//! one set of files across a fleet. Only the files are shared: each server keeps its own
//! ticket construction, so tickets made by nginx or HAProxy do not open in Reprise, nor the
//! reverse.
//!
//! # Formats, as [`parse_key_file`] detects them
//!
//! * **nginx** (`ssl_session_ticket_key`): a binary file of exactly 48 bytes (16-byte name,
//!   then 32 bytes of AES and HMAC keys) or 80 bytes (16-byte name, then 64 bytes). One key
//!   per file; nginx takes several files, the first encrypting, which maps onto
//!   [`TicketKeyRing::from_material`](super::ticket::TicketKeyRing::from_material) with the
//!   files' keys in order.
//! * **HAProxy** (`tls-ticket-keys`): text, one base64 key per line, each decoding to 48 or 80
//!   bytes laid out as above. HAProxy's configuration manual says the last `TLS_TICKETS_NO`
//!   keys (a build option, 3 by default) are loaded, the last ones decrypt and **the
//!   penultimate one encrypts**, so a new key can be appended (and reach every server as a
//!   decrypt-only key) one reload before it starts encrypting. Reprise does the same with
//!   `TLS_TICKETS_NO = 3`: earlier lines are checked but ignored; the penultimate key encrypts,
//!   then come the antepenultimate (previous) and the last (next) keys, decrypt-only. Where
//!   HAProxy insists on at least 3 keys, Reprise also accepts 1 (it encrypts) or 2 (the first
//!   encrypts).
//! * **Reprise**: text lines `reprise-ticket-key v1 <32 hex digits name> <64 hex digits
//!   secret>`, the first line encrypting, the others decrypt-only. Blank lines and lines
//!   starting with `#` are ignored.
//!
//! A file of exactly 48 or 80 bytes is always read as binary nginx; otherwise a file whose
//! first meaningful line starts with `reprise-ticket-key` is Reprise; otherwise it must be
//! HAProxy base64. Anything else is an error; parsing never panics.
//!
//! # Secrets of nginx and HAProxy keys
//!
//! Reprise needs one 32-byte secret per key (see [`super::ticket`]), so for the 48- and
//! 80-byte layouts `secret = SHA-256(key[16..])`: the hash of everything after the name, in
//! file order, through aws-lc's digest. The two halves' order (nginx's 80-byte layout puts
//! the HMAC key first, HAProxy the AES key) therefore does not matter, and both sizes give a
//! full-strength secret. (aws-lc-rs does not wipe its `Digest` value; the copy Reprise keeps
//! is wiped on drop.)

use std::fmt;

use aws_lc_rs::digest;
use zeroize::Zeroizing;

use crate::rng::RandomSource;
use crate::session::ticket::{TicketKeyMaterial, KEY_NAME_LEN};

/// The number of trailing HAProxy keys used (HAProxy's default `TLS_TICKETS_NO`).
pub const HAPROXY_TICKETS_NO: usize = 3;

const REPRISE_TAG: &str = "reprise-ticket-key";
const REPRISE_VERSION: &str = "v1";

/// A key file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFileFormat {
    /// nginx binary, 48 bytes: name, 16-byte AES key, 16-byte HMAC key.
    Nginx48,
    /// nginx binary, 80 bytes: name, 32-byte HMAC key, 32-byte AES key.
    Nginx80,
    /// HAProxy text: base64 keys of 48 or 80 bytes, one a line; the penultimate encrypts.
    Haproxy,
    /// Reprise text: `reprise-ticket-key v1 <hex name> <hex secret>` lines; the first encrypts.
    Reprise,
}

impl KeyFileFormat {
    /// A short lower-case name (`nginx48`, `nginx80`, `haproxy`, `reprise`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Nginx48 => "nginx48",
            Self::Nginx80 => "nginx80",
            Self::Haproxy => "haproxy",
            Self::Reprise => "reprise",
        }
    }

    /// Whether files of this format are binary (nginx) rather than text.
    pub fn is_binary(self) -> bool {
        matches!(self, Self::Nginx48 | Self::Nginx80)
    }
}

impl fmt::Display for KeyFileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed key file.
#[derive(Debug)]
pub struct KeyFile {
    /// The detected format.
    pub format: KeyFileFormat,
    /// The keys, encrypting key first (ready for `TicketKeyRing::from_material`).
    pub keys: Vec<TicketKeyMaterial>,
}

/// Why a key file could not be read or generated. Line numbers count from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file holds no key.
    Empty,
    /// Neither 48/80 binary bytes, Reprise lines nor base64 text.
    UnknownFormat,
    /// A line is not strict, padded, standard base64.
    BadBase64 {
        /// The line.
        line: usize,
    },
    /// A base64 key decodes to a length other than 48 or 80 bytes.
    BadKeyLength {
        /// The line.
        line: usize,
        /// The decoded length.
        len: usize,
    },
    /// A Reprise line is not `reprise-ticket-key v1 <32 hex> <64 hex>`.
    BadLine {
        /// The line.
        line: usize,
    },
    /// A Reprise line has a version other than `v1`.
    UnsupportedVersion {
        /// The line.
        line: usize,
    },
    /// Two keys share a name.
    DuplicateName {
        /// The line of the second one.
        line: usize,
    },
    /// The random source failed.
    Rng,
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("key file holds no key"),
            Self::UnknownFormat => f.write_str("unrecognised key file format"),
            Self::BadBase64 { line } => write!(f, "line {line}: invalid base64"),
            Self::BadKeyLength { line, len } => {
                write!(f, "line {line}: key is {len} bytes, expected 48 or 80")
            }
            Self::BadLine { line } => {
                write!(f, "line {line}: expected `{REPRISE_TAG} {REPRISE_VERSION} <32 hex digits> <64 hex digits>`")
            }
            Self::UnsupportedVersion { line } => {
                write!(f, "line {line}: unsupported key file version")
            }
            Self::DuplicateName { line } => write!(f, "line {line}: duplicate key name"),
            Self::Rng => f.write_str("random source failed"),
        }
    }
}

impl std::error::Error for KeyFileError {}

/// Reads a key file of any supported format; the keys come encrypting key first.
pub fn parse_key_file(bytes: &[u8]) -> Result<Vec<TicketKeyMaterial>, KeyFileError> {
    read_key_file(bytes).map(|file| file.keys)
}

/// Reads a key file of any supported format, reporting the format detected.
pub fn read_key_file(bytes: &[u8]) -> Result<KeyFile, KeyFileError> {
    match bytes.len() {
        48 => {
            return Ok(KeyFile {
                format: KeyFileFormat::Nginx48,
                keys: vec![binary_key(bytes)],
            })
        }
        80 => {
            return Ok(KeyFile {
                format: KeyFileFormat::Nginx80,
                keys: vec![binary_key(bytes)],
            })
        }
        _ => {}
    }
    let text = std::str::from_utf8(bytes).map_err(|_| KeyFileError::UnknownFormat)?;
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let keys = match first {
        None => return Err(KeyFileError::Empty),
        Some(line) if line.starts_with(REPRISE_TAG) => KeyFile {
            format: KeyFileFormat::Reprise,
            keys: parse_reprise(text)?,
        },
        Some(_)
            if text
                .bytes()
                .all(|b| is_base64_char(b) || b.is_ascii_whitespace()) =>
        {
            KeyFile {
                format: KeyFileFormat::Haproxy,
                keys: parse_haproxy(text)?,
            }
        }
        Some(_) => return Err(KeyFileError::UnknownFormat),
    };
    Ok(keys)
}

/// A new key file holding fresh random keys: nginx formats and Reprise one key, HAProxy
/// [`HAPROXY_TICKETS_NO`] lines of 80-byte keys (HAProxy needs that many).
pub fn generate_key_file(
    format: KeyFileFormat,
    rng: &dyn RandomSource,
) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let random = |len: usize| -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        rng.fill(&mut bytes).map_err(|_| KeyFileError::Rng)?;
        Ok(bytes)
    };
    match format {
        KeyFileFormat::Nginx48 => random(48),
        KeyFileFormat::Nginx80 => random(80),
        KeyFileFormat::Haproxy => {
            let mut out = Zeroizing::new(Vec::with_capacity(
                HAPROXY_TICKETS_NO * (base64_len(80) + 1),
            ));
            for _ in 0..HAPROXY_TICKETS_NO {
                encode_base64_into(&random(80)?, &mut out);
                out.push(b'\n');
            }
            Ok(out)
        }
        KeyFileFormat::Reprise => {
            let material = TicketKeyMaterial::generate(rng).map_err(|_| KeyFileError::Rng)?;
            let mut out = Zeroizing::new(Vec::with_capacity(
                REPRISE_TAG.len() + REPRISE_VERSION.len() + 3 + 2 * 48 + 1,
            ));
            out.extend_from_slice(REPRISE_TAG.as_bytes());
            out.push(b' ');
            out.extend_from_slice(REPRISE_VERSION.as_bytes());
            out.push(b' ');
            push_hex(&material.name, &mut out);
            out.push(b' ');
            push_hex(material.secret.as_ref(), &mut out);
            out.push(b'\n');
            Ok(out)
        }
    }
}

/// Strict standard base64 (with padding) of `bytes`, in a buffer wiped on drop.
pub fn encode_base64(bytes: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(Vec::with_capacity(base64_len(bytes.len())));
    encode_base64_into(bytes, &mut out);
    // Only ASCII was pushed; the conversion cannot fail, and the buffer moves without copying.
    Zeroizing::new(String::from_utf8(std::mem::take(&mut *out)).unwrap_or_default())
}

/// Decodes strict standard base64: length a multiple of 4, `=` padding only at the end, no
/// whitespace, unused trailing bits zero. `None` for anything else.
pub fn decode_base64(text: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if text.len() % 4 != 0 {
        return None;
    }
    let padding = text.iter().rev().take_while(|&&c| c == b'=').count();
    if padding > 2 {
        return None;
    }
    let body = &text[..text.len() - padding];
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() / 4 * 3));
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in body {
        acc = (acc << 6) | u32::from(base64_value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits (2 with `==`, 4 with `=`) must be zero for a canonical encoding.
    if acc != 0 {
        return None;
    }
    Some(out)
}

fn binary_key(bytes: &[u8]) -> TicketKeyMaterial {
    let mut name = [0u8; KEY_NAME_LEN];
    name.copy_from_slice(&bytes[..KEY_NAME_LEN]);
    let digest = digest::digest(&digest::SHA256, &bytes[KEY_NAME_LEN..]);
    let mut secret = Zeroizing::new([0u8; 32]);
    secret.copy_from_slice(digest.as_ref());
    TicketKeyMaterial { name, secret }
}

fn parse_haproxy(text: &str) -> Result<Vec<TicketKeyMaterial>, KeyFileError> {
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let raw =
            decode_base64(line.as_bytes()).ok_or(KeyFileError::BadBase64 { line: line_no })?;
        if raw.len() != 48 && raw.len() != 80 {
            return Err(KeyFileError::BadKeyLength {
                line: line_no,
                len: raw.len(),
            });
        }
        keys.push((line_no, binary_key(&raw)));
    }
    let used = keys.len().min(HAPROXY_TICKETS_NO);
    let mut last: Vec<_> = keys.split_off(keys.len() - used);
    // Order: the penultimate encrypts, then the previous key, then the next one.
    let ordered: Vec<_> = match last.len() {
        0 => return Err(KeyFileError::Empty),
        1 | 2 => last,
        _ => {
            let next = last.remove(2);
            let current = last.remove(1);
            let previous = last.remove(0);
            vec![current, previous, next]
        }
    };
    check_unique(&ordered)?;
    Ok(ordered.into_iter().map(|(_, key)| key).collect())
}

fn parse_reprise(text: &str) -> Result<Vec<TicketKeyMaterial>, KeyFileError> {
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [tag, version, name_hex, secret_hex] = fields[..] else {
            return Err(KeyFileError::BadLine { line: line_no });
        };
        if tag != REPRISE_TAG {
            return Err(KeyFileError::BadLine { line: line_no });
        }
        if version != REPRISE_VERSION {
            return Err(KeyFileError::UnsupportedVersion { line: line_no });
        }
        let mut material = TicketKeyMaterial {
            name: [0; KEY_NAME_LEN],
            secret: Zeroizing::new([0; 32]),
        };
        if !decode_hex(name_hex, &mut material.name)
            || !decode_hex(secret_hex, material.secret.as_mut())
        {
            return Err(KeyFileError::BadLine { line: line_no });
        }
        keys.push((line_no, material));
    }
    if keys.is_empty() {
        return Err(KeyFileError::Empty);
    }
    check_unique(&keys)?;
    Ok(keys.into_iter().map(|(_, key)| key).collect())
}

fn check_unique(keys: &[(usize, TicketKeyMaterial)]) -> Result<(), KeyFileError> {
    for (i, (line, key)) in keys.iter().enumerate() {
        if keys[..i]
            .iter()
            .any(|(_, earlier)| earlier.name == key.name)
        {
            return Err(KeyFileError::DuplicateName { line: *line });
        }
    }
    Ok(())
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn is_base64_char(c: u8) -> bool {
    c == b'=' || base64_value(c).is_some()
}

fn base64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

fn base64_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

fn encode_base64_into(bytes: &[u8], out: &mut Vec<u8>) {
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64_ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

fn push_hex(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
}

/// Fills `out` from exactly `2 * out.len()` hex digits (either case).
fn decode_hex(text: &str, out: &mut [u8]) -> bool {
    let text = text.as_bytes();
    if text.len() != 2 * out.len() {
        return false;
    }
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (Some(hi), Some(lo)) = (hex_value(pair[0]), hex_value(pair[1])) else {
            return false;
        };
        *byte = (hi << 4) | lo;
    }
    true
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{RngError, SeededRandom};
    use crate::session::ticket::{RotationPolicy, TicketKeyRing};

    fn key_bytes(name: &[u8; 16], fill: u8, len: usize) -> Vec<u8> {
        let mut bytes = name.to_vec();
        bytes.resize(len, fill);
        bytes
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn generated_files_parse_back() {
        let rng = SeededRandom::new(1);
        for (format, keys) in [
            (KeyFileFormat::Nginx48, 1),
            (KeyFileFormat::Nginx80, 1),
            (KeyFileFormat::Haproxy, 3),
            (KeyFileFormat::Reprise, 1),
        ] {
            let file = generate_key_file(format, &rng).unwrap();
            let parsed = read_key_file(&file).unwrap();
            assert_eq!(parsed.format, format);
            assert_eq!(parsed.keys.len(), keys, "{format}");
            assert_eq!(format.is_binary(), matches!(file.len(), 48 | 80));
        }
        assert_eq!(
            generate_key_file(KeyFileFormat::Nginx48, &rng)
                .unwrap()
                .len(),
            48
        );
        assert_eq!(
            generate_key_file(KeyFileFormat::Nginx80, &rng)
                .unwrap()
                .len(),
            80
        );
        // Fresh randomness each time.
        assert_ne!(
            *generate_key_file(KeyFileFormat::Reprise, &rng).unwrap(),
            *generate_key_file(KeyFileFormat::Reprise, &rng).unwrap()
        );
    }

    #[test]
    fn reprise_round_trip_keeps_name_and_secret() {
        let file = generate_key_file(KeyFileFormat::Reprise, &SeededRandom::new(2)).unwrap();
        let expected = TicketKeyMaterial::generate(&SeededRandom::new(2)).unwrap();
        let text = std::str::from_utf8(&file).unwrap();
        assert_eq!(
            text,
            format!(
                "reprise-ticket-key v1 {} {}\n",
                hex(&expected.name),
                hex(expected.secret.as_ref())
            )
        );
        let keys = parse_key_file(&file).unwrap();
        assert_eq!(keys[0].name, expected.name);
        assert_eq!(*keys[0].secret, *expected.secret);
    }

    #[test]
    fn reprise_multiple_lines_first_encrypts() {
        let text = format!(
            "# rotated 2024-05-01\n\nreprise-ticket-key v1 {} {}\n  reprise-ticket-key   v1 {} {}  \r\n",
            "11".repeat(16),
            "AB".repeat(32),
            "22".repeat(16),
            "cd".repeat(32)
        );
        let keys = parse_key_file(text.as_bytes()).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].name, [0x11; 16]);
        assert_eq!(*keys[0].secret, [0xab; 32]);
        let ring = TicketKeyRing::from_material(keys, RotationPolicy::default(), 0);
        assert_eq!(ring.key_names(), vec![[0x11; 16], [0x22; 16]]);
    }

    #[test]
    fn real_looking_nginx_80_byte_file() {
        // `openssl rand 80`-style file: a readable name, then HMAC and AES keys.
        let mut file = b"2024-06-01T00:00".to_vec();
        file.extend_from_slice(&[0u8; 64]);
        let parsed = read_key_file(&file).unwrap();
        assert_eq!(parsed.format, KeyFileFormat::Nginx80);
        assert_eq!(&parsed.keys[0].name, b"2024-06-01T00:00");
        // SHA-256 of 64 zero bytes.
        assert_eq!(
            hex(parsed.keys[0].secret.as_ref()),
            "f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a92759fb4b"
        );

        let file48 = key_bytes(b"nginx-48-key-nam", 0x5a, 48);
        let parsed = read_key_file(&file48).unwrap();
        assert_eq!(parsed.format, KeyFileFormat::Nginx48);
        assert_eq!(
            *parsed.keys[0].secret,
            *digest::digest(&digest::SHA256, &[0x5a; 32]).as_ref()
        );
    }

    #[test]
    fn haproxy_penultimate_key_encrypts() {
        let names = [
            *b"haproxy-key-one!",
            *b"haproxy-key-two!",
            *b"haproxy-key-3-3!",
        ];
        let lines = [
            key_bytes(&names[0], 1, 48),
            key_bytes(&names[1], 2, 80),
            key_bytes(&names[2], 3, 80),
        ];
        let text: String = lines
            .iter()
            .map(|l| format!("{}\n", *encode_base64(l)))
            .collect();
        let parsed = read_key_file(text.as_bytes()).unwrap();
        assert_eq!(parsed.format, KeyFileFormat::Haproxy);
        let got: Vec<_> = parsed.keys.iter().map(|k| k.name).collect();
        assert_eq!(got, vec![names[1], names[0], names[2]]);
        let ring = TicketKeyRing::from_material(parsed.keys, RotationPolicy::default(), 0);
        let mut ticket = Vec::new();
        ring.seal(b"x", 0, &SeededRandom::new(0), &mut ticket)
            .unwrap();
        assert_eq!(ticket[..16], names[1]);

        // Only the last three lines count; earlier ones are still validated.
        let older = format!(
            "{}\n{text}",
            *encode_base64(&key_bytes(b"haproxy-key-zero", 0, 48))
        );
        let got: Vec<_> = parse_key_file(older.as_bytes())
            .unwrap()
            .iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(got, vec![names[1], names[0], names[2]]);
        let broken = format!("not base64!\n{text}");
        assert_eq!(
            parse_key_file(broken.as_bytes()).unwrap_err(),
            KeyFileError::UnknownFormat
        );
        let broken = format!("QUJD\n{text}");
        assert_eq!(
            parse_key_file(broken.as_bytes()).unwrap_err(),
            KeyFileError::BadKeyLength { line: 1, len: 3 }
        );

        // One or two lines: the only key, or the first, encrypts.
        let two: String = text.lines().take(2).map(|l| format!("{l}\r\n")).collect();
        let got: Vec<_> = parse_key_file(two.as_bytes())
            .unwrap()
            .iter()
            .map(|k| k.name)
            .collect();
        assert_eq!(got, vec![names[0], names[1]]);
        assert_eq!(
            parse_key_file(text.lines().next().unwrap().as_bytes()).unwrap()[0].name,
            names[0]
        );
    }

    #[test]
    fn wrong_sizes_and_garbage_are_errors() {
        for len in [0, 1, 16, 47, 49, 64, 79, 81, 96, 1000] {
            let file = vec![0x80u8; len];
            assert!(parse_key_file(&file).is_err(), "length {len}");
        }
        assert_eq!(parse_key_file(b"").unwrap_err(), KeyFileError::Empty);
        assert_eq!(
            parse_key_file(b"\n\n  \n").unwrap_err(),
            KeyFileError::Empty
        );
        assert_eq!(
            parse_key_file(b"# only a comment\n").unwrap_err(),
            KeyFileError::Empty
        );
        assert_eq!(
            parse_key_file(b"Zm9v!\n").unwrap_err(),
            KeyFileError::UnknownFormat
        );
        // base64 of 32 and 64 bytes: wrong key sizes.
        assert_eq!(
            parse_key_file(encode_base64(&[1; 32]).as_bytes()).unwrap_err(),
            KeyFileError::BadKeyLength { line: 1, len: 32 }
        );
        assert_eq!(
            parse_key_file(encode_base64(&[1; 64]).as_bytes()).unwrap_err(),
            KeyFileError::BadKeyLength { line: 1, len: 64 }
        );
        // `openssl rand -base64 80` wraps at 64 columns: the pieces are not keys.
        let wrapped = encode_base64(&[9; 80]);
        let wrapped = format!("{}\n{}\n", &wrapped[..64], &wrapped[64..]);
        assert!(parse_key_file(wrapped.as_bytes()).is_err());

        let name = "11".repeat(16);
        let secret = "22".repeat(32);
        for (line, err) in [
            (
                format!("reprise-ticket-key v2 {name} {secret}"),
                KeyFileError::UnsupportedVersion { line: 1 },
            ),
            (
                format!("reprise-ticket-key v1 {name}"),
                KeyFileError::BadLine { line: 1 },
            ),
            (
                format!("reprise-ticket-key v1 {name} {secret} extra"),
                KeyFileError::BadLine { line: 1 },
            ),
            (
                format!("reprise-ticket-key v1 {name} {}", "22".repeat(31)),
                KeyFileError::BadLine { line: 1 },
            ),
            (
                format!("reprise-ticket-key v1 {} {secret}", "1g".repeat(16)),
                KeyFileError::BadLine { line: 1 },
            ),
            (
                format!("reprise-ticket-keys v1 {name} {secret}"),
                KeyFileError::BadLine { line: 1 },
            ),
            (
                format!("reprise-ticket-key v1 {name} {secret}\ngarbage"),
                KeyFileError::BadLine { line: 2 },
            ),
            (
                format!(
                    "reprise-ticket-key v1 {name} {secret}\nreprise-ticket-key v1 {name} {secret}"
                ),
                KeyFileError::DuplicateName { line: 2 },
            ),
        ] {
            assert_eq!(parse_key_file(line.as_bytes()).unwrap_err(), err, "{line}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let rng = SeededRandom::new(3);
        let valid = generate_key_file(KeyFileFormat::Reprise, &rng).unwrap();
        let haproxy = generate_key_file(KeyFileFormat::Haproxy, &rng).unwrap();
        let mut buf = [0u8; 200];
        for i in 0..2000 {
            let len = i % 200;
            rng.fill(&mut buf[..len]).unwrap();
            let _ = parse_key_file(&buf[..len]);
            // Mutations of valid text files.
            for source in [&valid, &haproxy] {
                let mut mutated = source.to_vec();
                let at = usize::from(buf[0]) * mutated.len() / 256;
                mutated[at] = buf[1];
                let _ = parse_key_file(&mutated);
                mutated.truncate(at);
                let _ = parse_key_file(&mutated);
            }
        }
    }

    #[test]
    fn base64_is_strict() {
        for len in 0..20 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 5) as u8).collect();
            let text = encode_base64(&bytes);
            assert_eq!(*decode_base64(text.as_bytes()).unwrap(), bytes);
        }
        assert_eq!(&*encode_base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(&*encode_base64(b"fo"), "Zm8=");
        assert_eq!(&*encode_base64(b"f"), "Zg==");
        for bad in [
            "Zg", "Zg=", "Zh==", "Zm9=", "Z===", "====", "Zm 9v", "Zm9v\n", "Zg==Zg==", "Zm-v",
            "Zm_v", "=Zm9",
        ] {
            assert!(decode_base64(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn generation_reports_rng_failure() {
        struct Failing;
        impl RandomSource for Failing {
            fn fill(&self, _: &mut [u8]) -> Result<(), RngError> {
                Err(RngError)
            }
        }
        for format in [
            KeyFileFormat::Nginx48,
            KeyFileFormat::Nginx80,
            KeyFileFormat::Haproxy,
            KeyFileFormat::Reprise,
        ] {
            assert_eq!(
                generate_key_file(format, &Failing).unwrap_err(),
                KeyFileError::Rng
            );
        }
    }
}
