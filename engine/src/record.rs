//! Record protection (RFC 5246 §6.2.3.3): AEAD seal and open in place, per-direction sequence
//! numbers, and the nonce constructions of RFC 5288 §3 (AES-GCM: 4-byte salt + 8-byte explicit
//! nonce) and RFC 7905 §2 (ChaCha20-Poly1305: 12-byte IV XOR sequence number).

use core::ops::Range;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroize;

use crate::codec::{
    AlertDescription, ContentType, ProtocolVersion, RecordHeader, MAX_PLAINTEXT, RECORD_HEADER_LEN,
};
use crate::crypto::suites::{AeadKind, TAG_LEN};

/// One direction's record protection state.
pub struct RecordCipher {
    key: LessSafeKey,
    iv: [u8; 12],
    aead: AeadKind,
    seq: u64,
}

impl core::fmt::Debug for RecordCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RecordCipher")
            .field("aead", &self.aead)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Drop for RecordCipher {
    fn drop(&mut self) {
        // The AEAD key itself is wiped by aws-lc when `key` drops.
        self.iv.zeroize();
    }
}

impl RecordCipher {
    /// Builds a cipher from a write key and the implicit IV (4 bytes for GCM, 12 for ChaCha).
    pub fn new(aead: AeadKind, key: &[u8], fixed_iv: &[u8]) -> Result<Self, AlertDescription> {
        if key.len() != aead.key_len() || fixed_iv.len() != aead.fixed_iv_len() {
            return Err(AlertDescription::InternalError);
        }
        let unbound =
            UnboundKey::new(aead.algorithm(), key).map_err(|_| AlertDescription::InternalError)?;
        let mut iv = [0u8; 12];
        iv[..fixed_iv.len()].copy_from_slice(fixed_iv);
        Ok(Self {
            key: LessSafeKey::new(unbound),
            iv,
            aead,
            seq: 0,
        })
    }

    /// The AEAD in use.
    pub fn aead(&self) -> AeadKind {
        self.aead
    }

    /// The next sequence number.
    pub fn sequence(&self) -> u64 {
        self.seq
    }

    fn next_seq(&mut self) -> Result<u64, AlertDescription> {
        // RFC 5246 §6.1: sequence numbers must not wrap; we end the connection instead.
        let seq = self.seq;
        self.seq = seq.checked_add(1).ok_or(AlertDescription::InternalError)?;
        Ok(seq)
    }

    fn nonce(&self, seq: u64, explicit: Option<&[u8]>) -> Nonce {
        let mut n = self.iv;
        match self.aead {
            AeadKind::Aes128Gcm | AeadKind::Aes256Gcm => match explicit {
                Some(e) => n[4..].copy_from_slice(e),
                None => n[4..].copy_from_slice(&seq.to_be_bytes()),
            },
            AeadKind::ChaCha20Poly1305 => {
                for (b, s) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
                    *b ^= s;
                }
            }
        }
        Nonce::assume_unique_for_key(n)
    }

    fn aad(seq: u64, content_type: ContentType, len: usize) -> [u8; 13] {
        let mut aad = [0u8; 13];
        aad[..8].copy_from_slice(&seq.to_be_bytes());
        aad[8] = content_type.to_u8();
        aad[9..11].copy_from_slice(&ProtocolVersion::TLS12.to_be_bytes());
        aad[11..13].copy_from_slice(&(len as u16).to_be_bytes());
        aad
    }

    /// Size of a sealed record carrying `plaintext_len` bytes, header included.
    pub fn sealed_len(&self, plaintext_len: usize) -> usize {
        RECORD_HEADER_LEN + self.aead.overhead() + plaintext_len
    }

    /// Seals `buf[RECORD_HEADER_LEN + explicit_nonce_len ..][..plaintext_len]` in place: `buf`
    /// must be exactly [`sealed_len`](Self::sealed_len) long with the plaintext already at that
    /// offset. Writes the header, explicit nonce and tag around it.
    pub fn seal_in_place(
        &mut self,
        content_type: ContentType,
        buf: &mut [u8],
    ) -> Result<(), AlertDescription> {
        let overhead = self.aead.overhead();
        let plain_len = buf
            .len()
            .checked_sub(RECORD_HEADER_LEN + overhead)
            .filter(|n| *n <= MAX_PLAINTEXT)
            .ok_or(AlertDescription::InternalError)?;
        let seq = self.next_seq()?;
        let explicit_len = self.aead.explicit_nonce_len();
        let header = RecordHeader {
            content_type,
            version: ProtocolVersion::TLS12,
            length: (overhead + plain_len) as u16,
        };
        buf[..RECORD_HEADER_LEN].copy_from_slice(&header.encode());
        let body = &mut buf[RECORD_HEADER_LEN..];
        if explicit_len > 0 {
            body[..explicit_len].copy_from_slice(&seq.to_be_bytes());
        }
        let nonce = self.nonce(seq, None);
        let aad = Self::aad(seq, content_type, plain_len);
        let (data, tag_out) = body[explicit_len..].split_at_mut(plain_len);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), data)
            .map_err(|_| AlertDescription::InternalError)?;
        tag_out.copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// Appends one sealed record carrying `plaintext` to `out`.
    pub fn seal_append(
        &mut self,
        content_type: ContentType,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AlertDescription> {
        let start = out.len();
        let offset = RECORD_HEADER_LEN + self.aead.explicit_nonce_len();
        out.resize(start + self.sealed_len(plaintext.len()), 0);
        out[start + offset..start + offset + plaintext.len()].copy_from_slice(plaintext);
        let result = self.seal_in_place(content_type, &mut out[start..]);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// Opens a record body (everything after the 5-byte header) in place and returns the range
    /// of the plaintext within `body`. Failure is `bad_record_mac` (RFC 5246 §7.2.2), an
    /// oversized plaintext `record_overflow`.
    pub fn open_in_place(
        &mut self,
        content_type: ContentType,
        body: &mut [u8],
    ) -> Result<Range<usize>, AlertDescription> {
        let explicit_len = self.aead.explicit_nonce_len();
        let plain_len = body
            .len()
            .checked_sub(explicit_len + TAG_LEN)
            .ok_or(AlertDescription::BadRecordMac)?;
        if plain_len > MAX_PLAINTEXT {
            return Err(AlertDescription::RecordOverflow);
        }
        let seq = self.seq;
        let (explicit, sealed) = body.split_at_mut(explicit_len);
        let nonce = self.nonce(seq, (explicit_len > 0).then_some(&*explicit));
        let aad = Self::aad(seq, content_type, plain_len);
        self.key
            .open_in_place(nonce, Aad::from(aad), sealed)
            .map_err(|_| AlertDescription::BadRecordMac)?;
        self.next_seq()?;
        Ok(explicit_len..explicit_len + plain_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(aead: AeadKind) -> (RecordCipher, RecordCipher) {
        let key = vec![7u8; aead.key_len()];
        let iv = vec![9u8; aead.fixed_iv_len()];
        (
            RecordCipher::new(aead, &key, &iv).unwrap(),
            RecordCipher::new(aead, &key, &iv).unwrap(),
        )
    }

    const AEADS: [AeadKind; 3] = [
        AeadKind::Aes128Gcm,
        AeadKind::Aes256Gcm,
        AeadKind::ChaCha20Poly1305,
    ];

    #[test]
    fn seal_open_round_trip_with_sequence() {
        for aead in AEADS {
            let (mut tx, mut rx) = pair(aead);
            for round in 0..3u8 {
                let mut rec = Vec::new();
                let msg = vec![round; 100 + round as usize];
                tx.seal_append(ContentType::ApplicationData, &msg, &mut rec)
                    .unwrap();
                let hdr = RecordHeader::parse(&rec).unwrap();
                assert_eq!(hdr.length as usize, rec.len() - 5);
                let range = rx
                    .open_in_place(ContentType::ApplicationData, &mut rec[5..])
                    .unwrap();
                assert_eq!(&rec[5..][range], &msg[..]);
            }
            assert_eq!(tx.sequence(), 3);
        }
    }

    #[test]
    fn empty_and_max_records() {
        for aead in AEADS {
            let (mut tx, mut rx) = pair(aead);
            for len in [0, MAX_PLAINTEXT] {
                let mut rec = Vec::new();
                tx.seal_append(ContentType::ApplicationData, &vec![1; len], &mut rec)
                    .unwrap();
                let r = rx
                    .open_in_place(ContentType::ApplicationData, &mut rec[5..])
                    .unwrap();
                assert_eq!(r.len(), len);
            }
            let mut rec = Vec::new();
            assert!(tx
                .seal_append(
                    ContentType::ApplicationData,
                    &vec![1; MAX_PLAINTEXT + 1],
                    &mut rec
                )
                .is_err());
            assert!(rec.is_empty());
        }
    }

    #[test]
    fn tampering_is_bad_record_mac() {
        for aead in AEADS {
            let (mut tx, _) = pair(aead);
            let mut rec = Vec::new();
            tx.seal_append(ContentType::Handshake, b"finished", &mut rec)
                .unwrap();
            for i in 5..rec.len() {
                let (_, mut rx) = pair(aead);
                let mut bad = rec.clone();
                bad[i] ^= 0x20;
                assert_eq!(
                    rx.open_in_place(ContentType::Handshake, &mut bad[5..]),
                    Err(AlertDescription::BadRecordMac)
                );
            }
            // Wrong content type (it is in the AAD), short bodies, replays.
            let (_, mut rx) = pair(aead);
            let mut copy = rec.clone();
            assert_eq!(
                rx.open_in_place(ContentType::ApplicationData, &mut copy[5..]),
                Err(AlertDescription::BadRecordMac)
            );
            let (_, mut rx) = pair(aead);
            assert_eq!(
                rx.open_in_place(ContentType::Handshake, &mut [0u8; 10]),
                Err(AlertDescription::BadRecordMac)
            );
            let (_, mut rx) = pair(aead);
            let mut once = rec.clone();
            rx.open_in_place(ContentType::Handshake, &mut once[5..])
                .unwrap();
            let mut again = rec.clone();
            assert_eq!(
                rx.open_in_place(ContentType::Handshake, &mut again[5..]),
                Err(AlertDescription::BadRecordMac)
            );
        }
    }
}
