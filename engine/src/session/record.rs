//! The compact session record: what a server must remember about a session to resume it
//! (RFC 5246 §7.3 "session state", RFC 7627 §5.2), and its versioned binary encoding.
//!
//! # Encoding (version 1)
//!
//! All integers are big-endian; the layout is fixed except for the two names at the end.
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0 | 1 | version, always [`SessionRecord::VERSION`] (`1`) |
//! | 1 | 1 | flags: bit 0 = extended master secret (RFC 7627); other bits must be zero |
//! | 2 | 2 | cipher suite code point |
//! | 4 | 8 | `created`, seconds since the Unix epoch |
//! | 12 | 4 | `lifetime`, seconds |
//! | 16 | 48 | master secret |
//! | 64 | 1 + n | server name: length `n` (0..=255), then `n` bytes |
//! | 65 + n | 1 + m | ALPN protocol: length `m` (0..=255), then `m` bytes |
//!
//! The encoding is `66 + n + m` bytes, at most [`SessionRecord::MAX_ENCODED_LEN`] (576). A
//! typical session (SNI `www.example.com`, ALPN `http/1.1`) takes 89 bytes.
//!
//! Decoding is strict: an unknown version or flag bit, a short input or bytes after the ALPN
//! field are errors.
//!
//! The encoding contains the master secret in clear: whoever stores it (a remote cache, a
//! ticket before sealing) must protect it, and a buffer holding it should be wiped after use
//! (e.g. by wrapping it in [`zeroize::Zeroizing`]).

use core::fmt;

use aws_lc_rs::constant_time;
use smallvec::SmallVec;
use zeroize::Zeroizing;

use crate::crypto::prf::{MasterSecret, MASTER_SECRET_LEN};

/// Seconds a record's `created` time may lie in the future of `now` and still be valid, to
/// absorb small clock differences between the servers sharing a store.
pub const CLOCK_SKEW_ALLOWANCE: u64 = 60;

/// Flag bit 0: the session used the extended master secret (RFC 7627).
const FLAG_EMS: u8 = 0x01;

/// Bytes before the server name: version, flags, suite, created, lifetime, master secret.
const FIXED_LEN: usize = 1 + 1 + 2 + 8 + 4 + MASTER_SECRET_LEN;

/// The state of a resumable TLS 1.2 session.
///
/// `Debug` does not print the master secret; equality compares it in constant time.
#[derive(Clone)]
pub struct SessionRecord {
    /// Cipher suite code point the session negotiated.
    pub suite_id: u16,
    /// Whether the session's master secret is an extended master secret (RFC 7627); a
    /// resumption must agree on it (RFC 7627 §5.3).
    pub extended_master_secret: bool,
    /// The session's master secret.
    pub master_secret: MasterSecret,
    /// When the session was made, seconds since the Unix epoch.
    pub created: u64,
    /// Seconds after `created` during which the session may be resumed.
    pub lifetime: u32,
    /// Server name (SNI) the session was made for; empty when the client sent none.
    pub server_name: SmallVec<[u8; 48]>,
    /// ALPN protocol negotiated; empty when none was.
    pub alpn: SmallVec<[u8; 16]>,
}

/// Why a session record could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionCodecError {
    /// Decoding: the input ends before the record does. Encoding: the output buffer is
    /// shorter than [`SessionRecord::encoded_len`].
    Truncated,
    /// Decoding: the version byte is not [`SessionRecord::VERSION`], or a flag bit this
    /// version does not define is set.
    BadVersion,
    /// Encoding: the server name or ALPN protocol is longer than 255 bytes.
    TooLong,
    /// Decoding: bytes follow the end of the record.
    TrailingBytes,
}

impl fmt::Display for SessionCodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "session record truncated (or output buffer too short)",
            Self::BadVersion => "session record has an unknown version or flags",
            Self::TooLong => "session record name longer than 255 bytes",
            Self::TrailingBytes => "trailing bytes after session record",
        })
    }
}

impl std::error::Error for SessionCodecError {}

impl SessionRecord {
    /// Version byte of the encoding this code writes and reads.
    pub const VERSION: u8 = 1;

    /// Longest server name or ALPN protocol a record holds (each has a one-byte length).
    pub const MAX_NAME_LEN: usize = u8::MAX as usize;

    /// Largest possible encoding: both names at their maximum of [`Self::MAX_NAME_LEN`] bytes.
    pub const MAX_ENCODED_LEN: usize = FIXED_LEN + 1 + Self::MAX_NAME_LEN + 1 + Self::MAX_NAME_LEN;

    /// Length of this record's encoding (meaningful when both names are ≤ 255 bytes).
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        FIXED_LEN + 1 + self.server_name.len() + 1 + self.alpn.len()
    }

    /// Writes the encoding (a version byte, flags, suite, creation time, lifetime, master
    /// secret, then the server name and ALPN protocol, each after a one-byte length) to the
    /// front of `out`, returning the number of bytes written. Does not allocate.
    ///
    /// # Errors
    /// [`SessionCodecError::TooLong`] if a name exceeds 255 bytes;
    /// [`SessionCodecError::Truncated`] if `out` is shorter than [`encoded_len`](Self::encoded_len).
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, SessionCodecError> {
        let sni_len =
            u8::try_from(self.server_name.len()).map_err(|_| SessionCodecError::TooLong)?;
        let alpn_len = u8::try_from(self.alpn.len()).map_err(|_| SessionCodecError::TooLong)?;
        let len = self.encoded_len();
        let out = out.get_mut(..len).ok_or(SessionCodecError::Truncated)?;

        let (head, rest) = out.split_at_mut(FIXED_LEN);
        head[0] = Self::VERSION;
        head[1] = if self.extended_master_secret {
            FLAG_EMS
        } else {
            0
        };
        head[2..4].copy_from_slice(&self.suite_id.to_be_bytes());
        head[4..12].copy_from_slice(&self.created.to_be_bytes());
        head[12..16].copy_from_slice(&self.lifetime.to_be_bytes());
        head[16..].copy_from_slice(self.master_secret.as_bytes());

        let (sni, alpn) = rest.split_at_mut(1 + self.server_name.len());
        sni[0] = sni_len;
        sni[1..].copy_from_slice(&self.server_name);
        alpn[0] = alpn_len;
        alpn[1..].copy_from_slice(&self.alpn);
        Ok(len)
    }

    /// The encoding in a fresh vector. It holds the master secret: wipe it after use (e.g.
    /// wrap it in [`zeroize::Zeroizing`]).
    ///
    /// A name longer than 255 bytes is cut to its first 255 bytes.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0; Self::MAX_ENCODED_LEN];
        let len = match self.encode_into(&mut out) {
            Ok(len) => len,
            Err(_) => {
                let mut short = self.clone();
                short.server_name.truncate(Self::MAX_NAME_LEN);
                short.alpn.truncate(Self::MAX_NAME_LEN);
                // Both names now fit and `out` has the maximum length: this cannot fail.
                short.encode_into(&mut out).unwrap_or(0)
            }
        };
        out.truncate(len);
        out
    }

    /// Parses an encoding made by [`encode_into`](Self::encode_into). Names that fit the
    /// inline capacity of their field (48 and 16 bytes) are not allocated.
    ///
    /// # Errors
    /// [`SessionCodecError::BadVersion`] for another version or an undefined flag,
    /// [`SessionCodecError::Truncated`] if `bytes` ends early,
    /// [`SessionCodecError::TrailingBytes`] if bytes follow the record.
    pub fn decode(bytes: &[u8]) -> Result<SessionRecord, SessionCodecError> {
        if bytes.len() < FIXED_LEN {
            // Still report a wrong version first when there is one.
            if bytes.first().is_some_and(|v| *v != Self::VERSION) {
                return Err(SessionCodecError::BadVersion);
            }
            return Err(SessionCodecError::Truncated);
        }
        let (head, rest) = bytes.split_at(FIXED_LEN);
        if head[0] != Self::VERSION || head[1] & !FLAG_EMS != 0 {
            return Err(SessionCodecError::BadVersion);
        }
        let suite_id = u16::from_be_bytes([head[2], head[3]]);
        let mut created = [0; 8];
        created.copy_from_slice(&head[4..12]);
        let mut lifetime = [0; 4];
        lifetime.copy_from_slice(&head[12..16]);
        let mut secret = Zeroizing::new([0; MASTER_SECRET_LEN]);
        secret.copy_from_slice(&head[16..]);

        let (server_name, rest) = take_name(rest)?;
        let (alpn, rest) = take_name(rest)?;
        if !rest.is_empty() {
            return Err(SessionCodecError::TrailingBytes);
        }
        Ok(SessionRecord {
            suite_id,
            extended_master_secret: head[1] & FLAG_EMS != 0,
            master_secret: MasterSecret::from_bytes(*secret),
            created: u64::from_be_bytes(created),
            lifetime: u32::from_be_bytes(lifetime),
            server_name: SmallVec::from_slice(server_name),
            alpn: SmallVec::from_slice(alpn),
        })
    }

    /// The first second at which the session may no longer be resumed: `created + lifetime`,
    /// saturating.
    #[must_use]
    pub fn expires_at(&self) -> u64 {
        self.created.saturating_add(u64::from(self.lifetime))
    }

    /// Whether the session may be resumed at `now`: it was not made more than
    /// [`CLOCK_SKEW_ALLOWANCE`] seconds in the future, and `now` is before
    /// [`expires_at`](Self::expires_at).
    #[must_use]
    pub fn is_valid_at(&self, now: u64) -> bool {
        valid_window(self.created, self.lifetime, now)
    }
}

/// [`SessionRecord::is_valid_at`] on the bare fields, for stores that keep them unpacked.
pub(crate) fn valid_window(created: u64, lifetime: u32, now: u64) -> bool {
    created <= now.saturating_add(CLOCK_SKEW_ALLOWANCE)
        && now < created.saturating_add(u64::from(lifetime))
}

/// Splits a `len u8 + bytes` field off the front of `bytes`.
fn take_name(bytes: &[u8]) -> Result<(&[u8], &[u8]), SessionCodecError> {
    let (&len, rest) = bytes.split_first().ok_or(SessionCodecError::Truncated)?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(SessionCodecError::Truncated);
    }
    Ok(rest.split_at(len))
}

impl PartialEq for SessionRecord {
    fn eq(&self, other: &Self) -> bool {
        let secrets_equal = constant_time::verify_slices_are_equal(
            self.master_secret.as_bytes(),
            other.master_secret.as_bytes(),
        )
        .is_ok();
        secrets_equal
            && self.suite_id == other.suite_id
            && self.extended_master_secret == other.extended_master_secret
            && self.created == other.created
            && self.lifetime == other.lifetime
            && self.server_name == other.server_name
            && self.alpn == other.alpn
    }
}

impl Eq for SessionRecord {}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("suite_id", &format_args!("{:#06x}", self.suite_id))
            .field("extended_master_secret", &self.extended_master_secret)
            .field("master_secret", &format_args!(".."))
            .field("created", &self.created)
            .field("lifetime", &self.lifetime)
            .field("server_name", &String::from_utf8_lossy(&self.server_name))
            .field("alpn", &String::from_utf8_lossy(&self.alpn))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typical() -> SessionRecord {
        let mut secret = [0u8; MASTER_SECRET_LEN];
        for (i, b) in secret.iter_mut().enumerate() {
            *b = i as u8 ^ 0xa5;
        }
        SessionRecord {
            suite_id: 0xc02f,
            extended_master_secret: true,
            master_secret: MasterSecret::from_bytes(secret),
            created: 1_700_000_000,
            lifetime: 7200,
            server_name: SmallVec::from_slice(b"www.example.com"),
            alpn: SmallVec::from_slice(b"http/1.1"),
        }
    }

    #[test]
    fn round_trip() {
        let rec = typical();
        let bytes = Zeroizing::new(rec.encode());
        assert_eq!(bytes.len(), rec.encoded_len());
        assert_eq!(bytes[0], SessionRecord::VERSION);
        let back = SessionRecord::decode(&bytes).unwrap();
        assert_eq!(back, rec);
        assert!(!back.server_name.spilled());
        assert!(!back.alpn.spilled());

        let mut plain = rec.clone();
        plain.extended_master_secret = false;
        plain.server_name.clear();
        plain.alpn.clear();
        let back = SessionRecord::decode(&plain.encode()).unwrap();
        assert_eq!(back, plain);
        assert_ne!(back, rec);
    }

    #[test]
    fn different_secret_is_not_equal() {
        let a = typical();
        let mut b = typical();
        let mut s = *a.master_secret.as_bytes();
        s[47] ^= 1;
        b.master_secret = MasterSecret::from_bytes(s);
        assert_ne!(a, b);
    }

    #[test]
    fn typical_size() {
        let rec = typical();
        let len = rec.encoded_len();
        println!("typical session record encodes in {len} bytes");
        assert_eq!(len, 89);
        assert!(len <= 128);
        let mut buf = [0u8; 128];
        assert_eq!(rec.encode_into(&mut buf), Ok(len));
        assert_eq!(&buf[..len], &rec.encode()[..]);
    }

    #[test]
    fn every_truncation_fails() {
        let bytes = typical().encode();
        for cut in 0..bytes.len() {
            assert_eq!(
                SessionRecord::decode(&bytes[..cut]),
                Err(SessionCodecError::Truncated),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn short_output_buffer() {
        let rec = typical();
        let mut buf = [0u8; 88];
        assert_eq!(rec.encode_into(&mut buf), Err(SessionCodecError::Truncated));
    }

    #[test]
    fn bad_version_and_flags() {
        let mut bytes = typical().encode();
        bytes[0] = 2;
        assert_eq!(
            SessionRecord::decode(&bytes),
            Err(SessionCodecError::BadVersion)
        );
        assert_eq!(
            SessionRecord::decode(&[0]),
            Err(SessionCodecError::BadVersion)
        );
        bytes[0] = SessionRecord::VERSION;
        bytes[1] = 0x02;
        assert_eq!(
            SessionRecord::decode(&bytes),
            Err(SessionCodecError::BadVersion)
        );
    }

    #[test]
    fn trailing_bytes() {
        let mut bytes = typical().encode();
        bytes.push(0);
        assert_eq!(
            SessionRecord::decode(&bytes),
            Err(SessionCodecError::TrailingBytes)
        );
    }

    #[test]
    fn long_names() {
        let mut rec = typical();
        rec.server_name = SmallVec::from_slice(&[b'a'; 255]);
        rec.alpn = SmallVec::from_slice(&[b'b'; 255]);
        assert_eq!(rec.encoded_len(), SessionRecord::MAX_ENCODED_LEN);
        let bytes = rec.encode();
        assert_eq!(bytes.len(), SessionRecord::MAX_ENCODED_LEN);
        assert_eq!(SessionRecord::decode(&bytes).unwrap(), rec);

        rec.alpn.push(b'c');
        let mut buf = [0u8; 1024];
        assert_eq!(rec.encode_into(&mut buf), Err(SessionCodecError::TooLong));
        // `encode` cuts the name to 255 bytes.
        let back = SessionRecord::decode(&rec.encode()).unwrap();
        assert_eq!(back.alpn.len(), 255);
    }

    #[test]
    fn validity_window() {
        let rec = typical();
        assert_eq!(rec.expires_at(), 1_700_000_000 + 7200);
        assert!(rec.is_valid_at(rec.created));
        assert!(rec.is_valid_at(rec.created - CLOCK_SKEW_ALLOWANCE));
        assert!(!rec.is_valid_at(rec.created - CLOCK_SKEW_ALLOWANCE - 1));
        assert!(rec.is_valid_at(rec.expires_at() - 1));
        assert!(!rec.is_valid_at(rec.expires_at()));
        let mut forever = rec.clone();
        forever.created = u64::MAX - 10;
        forever.lifetime = u32::MAX;
        assert_eq!(forever.expires_at(), u64::MAX);
    }

    #[test]
    fn debug_hides_secret() {
        let rec = typical();
        let text = format!("{rec:?}");
        assert!(text.contains("www.example.com"));
        assert!(!text.contains("165")); // 0xa5, the first secret byte
        assert!(text.contains("master_secret: .."));
    }
}
