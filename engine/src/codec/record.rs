//! Record layer framing (RFC 5246 §6.2).

use super::alert::AlertDescription;

/// Length of a TLS record header.
pub const RECORD_HEADER_LEN: usize = 5;

/// Maximum `TLSPlaintext.length` (RFC 5246 §6.2.1: 2^14).
pub const MAX_PLAINTEXT: usize = 16384;

/// Tight bound for an AEAD record we *produce*: 2^14 plus 256 bytes of
/// expansion (explicit nonce + tag for every AEAD suite we support is 24
/// bytes, so this is generous).
pub const MAX_CIPHERTEXT_AEAD: usize = 16384 + 256;

/// Hard bound for a received protected record: RFC 5246 §6.2.3 allows
/// `TLSCiphertext.length` up to 2^14 + 2048; anything longer must be
/// rejected with `record_overflow`. We only implement AEAD suites, whose real
/// expansion is far smaller, but we accept the full RFC range at the framing
/// layer and let AEAD decryption reject the rest (`bad_record_mac`).
pub const MAX_CIPHERTEXT: usize = 16384 + 2048;

/// Record content type (RFC 5246 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `change_cipher_spec(20)`
    ChangeCipherSpec,
    /// `alert(21)`
    Alert,
    /// `handshake(22)`
    Handshake,
    /// `application_data(23)`
    ApplicationData,
    /// Anything else (the record layer answers `unexpected_message`).
    Unknown(u8),
}

impl ContentType {
    /// Decodes a content type byte.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            20 => Self::ChangeCipherSpec,
            21 => Self::Alert,
            22 => Self::Handshake,
            23 => Self::ApplicationData,
            other => Self::Unknown(other),
        }
    }

    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::ChangeCipherSpec => 20,
            Self::Alert => 21,
            Self::Handshake => 22,
            Self::ApplicationData => 23,
            Self::Unknown(v) => v,
        }
    }
}

/// `ProtocolVersion` values (RFC 5246 §6.2.1, big-endian `{major, minor}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolVersion;

impl ProtocolVersion {
    /// TLS 1.0 `{3, 1}`.
    pub const TLS10: u16 = 0x0301;
    /// TLS 1.1 `{3, 2}`.
    pub const TLS11: u16 = 0x0302;
    /// TLS 1.2 `{3, 3}`.
    pub const TLS12: u16 = 0x0303;
    /// TLS 1.3 `{3, 4}` (only ever seen in `supported_versions`).
    pub const TLS13: u16 = 0x0304;
}

/// A record header: `ContentType type; ProtocolVersion version; uint16 length;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    /// Content type.
    pub content_type: ContentType,
    /// Record-layer version (not validated here).
    pub version: u16,
    /// Length of the fragment that follows.
    pub length: u16,
}

impl RecordHeader {
    /// Parses the first 5 bytes of `buf`; `None` if fewer than 5 are present.
    /// No field is validated: see [`RecordHeader::check_plaintext_len`] and
    /// [`RecordHeader::check_ciphertext_len`].
    pub fn parse(buf: &[u8]) -> Option<RecordHeader> {
        match buf.get(..RECORD_HEADER_LEN)? {
            [t, v0, v1, l0, l1] => Some(RecordHeader {
                content_type: ContentType::from_u8(*t),
                version: u16::from_be_bytes([*v0, *v1]),
                length: u16::from_be_bytes([*l0, *l1]),
            }),
            _ => None,
        }
    }

    /// Encodes the 5-byte header.
    pub const fn encode(&self) -> [u8; RECORD_HEADER_LEN] {
        let [v0, v1] = self.version.to_be_bytes();
        let [l0, l1] = self.length.to_be_bytes();
        [self.content_type.to_u8(), v0, v1, l0, l1]
    }

    /// For records read before encryption is active: `length > 2^14` →
    /// `record_overflow` (RFC 5246 §6.2.1).
    pub const fn check_plaintext_len(&self) -> Result<(), AlertDescription> {
        if self.length as usize > MAX_PLAINTEXT {
            Err(AlertDescription::RecordOverflow)
        } else {
            Ok(())
        }
    }

    /// For protected records: `length > 2^14 + 2048` → `record_overflow`
    /// (RFC 5246 §6.2.3). See [`MAX_CIPHERTEXT`].
    pub const fn check_ciphertext_len(&self) -> Result<(), AlertDescription> {
        if self.length as usize > MAX_CIPHERTEXT {
            Err(AlertDescription::RecordOverflow)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        for v in 0..=255u8 {
            assert_eq!(ContentType::from_u8(v).to_u8(), v);
        }
        assert_eq!(ContentType::from_u8(22), ContentType::Handshake);
        assert_eq!(ContentType::from_u8(24), ContentType::Unknown(24));
    }

    #[test]
    fn header_round_trip() {
        let h = RecordHeader {
            content_type: ContentType::ApplicationData,
            version: ProtocolVersion::TLS12,
            length: 0x4000,
        };
        assert_eq!(h.encode(), [23, 3, 3, 0x40, 0]);
        assert_eq!(RecordHeader::parse(&h.encode()), Some(h));
        assert_eq!(RecordHeader::parse(&[23, 3, 3, 0x40]), None);
        assert_eq!(RecordHeader::parse(&[]), None);
        assert!(h.check_plaintext_len().is_ok());
        let big = RecordHeader {
            length: 0x4001,
            ..h
        };
        assert_eq!(
            big.check_plaintext_len(),
            Err(AlertDescription::RecordOverflow)
        );
        assert!(big.check_ciphertext_len().is_ok());
        let huge = RecordHeader {
            length: (MAX_CIPHERTEXT + 1) as u16,
            ..h
        };
        assert_eq!(
            huge.check_ciphertext_len(),
            Err(AlertDescription::RecordOverflow)
        );
    }

    #[test]
    fn vector_headers() {
        let ch = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../vectors/data/illustrated-tls12/caps/clienthello"
        ))
        .unwrap();
        let h = RecordHeader::parse(&ch).unwrap();
        assert_eq!(h.content_type, ContentType::Handshake);
        assert_eq!(h.version, ProtocolVersion::TLS10);
        assert_eq!(usize::from(h.length), ch.len() - RECORD_HEADER_LEN);
        let ccs = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../vectors/data/illustrated-tls12/caps/clientccs"
        ))
        .unwrap();
        let h = RecordHeader::parse(&ccs).unwrap();
        assert_eq!(h.content_type, ContentType::ChangeCipherSpec);
        assert_eq!(h.version, ProtocolVersion::TLS12);
        assert_eq!(h.length, 1);
    }
}
