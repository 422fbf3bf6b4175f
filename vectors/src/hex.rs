//! Minimal hex encoding/decoding for vector files.

/// Decodes a hex string (upper or lower case, even length, no separators).
pub fn decode(s: &str) -> Result<Vec<u8>, String> {
    let bytes = s.as_bytes();
    if bytes.len() % 2 != 0 {
        return Err(format!("odd-length hex string ({} digits)", bytes.len()));
    }
    bytes
        .chunks_exact(2)
        .map(|pair| match (nibble(pair[0]), nibble(pair[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(format!(
                "invalid hex digit in {:?}",
                String::from_utf8_lossy(pair)
            )),
        })
        .collect()
}

/// Decodes a hex string that must be exactly `N` bytes.
pub fn decode_array<const N: usize>(s: &str) -> Result<[u8; N], String> {
    let v = decode(s)?;
    let len = v.len();
    v.try_into()
        .map_err(|_| format!("expected {N} bytes, got {len}"))
}

/// Lower-case hex encoding.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn roundtrip_and_errors() {
        assert_eq!(super::decode("00Ff7a").unwrap(), vec![0, 0xff, 0x7a]);
        assert_eq!(super::encode(&[0, 0xff, 0x7a]), "00ff7a");
        assert!(super::decode("abc").is_err());
        assert!(super::decode("zz").is_err());
        assert!(super::decode_array::<2>("0011").is_ok());
        assert!(super::decode_array::<2>("001122").is_err());
    }
}
