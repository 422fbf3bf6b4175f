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
//! # Encoding (version 2): a session with a client certificate
//!
//! Version 2 is version 1 with the version byte `2` and the client's identity after the
//! ALPN field (RFC 5246 §7.3 keeps the peer's certificate with the session; this keeps what
//! a resumption needs to trust it again and to tell who it is):
//!
//! | size | field |
//! |-----:|-------|
//! | 8 | roots epoch the certificate was verified under ([`ClientAuth::roots_epoch`](crate::ClientAuth::roots_epoch)) |
//! | 8 | the leaf's notAfter, seconds since the Unix epoch |
//! | 32 | SHA-256 of the leaf certificate |
//! | 8 | first 8 bytes of the SHA-256 of the leaf's issuer Name (to find its revocation lists) |
//! | 1 + s | serial number: length `s` (1..=32), then its INTEGER contents |
//! | 1 + t | subject: length `t` (0..=255), then the contents of the Name SEQUENCE |
//! | 1 + u | subject alternative names: length `u` (0..=255), then the contents of the GeneralNames SEQUENCE |
//!
//! A session without a client certificate is always written as version 1, so servers of a
//! fleet that do not know version 2 yet still read it. A client section takes
//! `59 + s + t + u` bytes; with a 20-byte serial, `CN=device-17` (20 bytes) and no
//! alternative names it is 99.
//!
//! Decoding is strict: an unknown version or flag bit, a short input or bytes after the last
//! field are errors.
//!
//! The encoding contains the master secret in clear: whoever stores it (a remote cache, a
//! ticket before sealing) must protect it, and a buffer holding it should be wiped after use
//! (e.g. by wrapping it in [`zeroize::Zeroizing`]).

use core::fmt;

use aws_lc_rs::constant_time;
use smallvec::SmallVec;
use zeroize::Zeroizing;

use crate::client_auth::ClientIdentity;
use crate::crypto::prf::{MasterSecret, MASTER_SECRET_LEN};

/// Seconds a record's `created` time may lie in the future of `now` and still be valid, to
/// absorb small clock differences between the servers sharing a store.
pub const CLOCK_SKEW_ALLOWANCE: u64 = 60;

/// Flag bit 0: the session used the extended master secret (RFC 7627).
const FLAG_EMS: u8 = 0x01;

/// Bytes before the server name: version, flags, suite, created, lifetime, master secret.
const FIXED_LEN: usize = 1 + 1 + 2 + 8 + 4 + MASTER_SECRET_LEN;

/// Bytes of a client section before the serial: roots epoch, notAfter, certificate
/// SHA-256, issuer hash.
const CLIENT_FIXED_LEN: usize = 8 + 8 + 32 + 8;

/// Longest serial number a session keeps (RFC 5280 §4.1.2.2 allows 20 octets; a sign byte
/// and lenient issuers are given room).
pub const MAX_SERIAL_LEN: usize = 32;

/// Longest client section of a version 2 encoding.
pub const MAX_CLIENT_LEN: usize =
    CLIENT_FIXED_LEN + 1 + MAX_SERIAL_LEN + 1 + u8::MAX as usize + 1 + u8::MAX as usize;

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
    /// The client's verified certificate, when it sent one (RFC 5246 §7.4.6).
    pub client: Option<ClientIdentity>,
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
    /// Encoding: the server name or ALPN protocol is longer than 255 bytes, or the client's
    /// subject or alternative names longer than 255 or its serial longer than
    /// [`MAX_SERIAL_LEN`].
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
    /// Version byte of the encoding of a session without a client certificate.
    pub const VERSION: u8 = 1;

    /// Version byte of the encoding of a session with a client certificate.
    pub const VERSION_WITH_CLIENT: u8 = 2;

    /// Longest server name or ALPN protocol a record holds (each has a one-byte length).
    pub const MAX_NAME_LEN: usize = u8::MAX as usize;

    /// Largest possible encoding: both names at their maximum of [`Self::MAX_NAME_LEN`] bytes
    /// and the largest client section.
    pub const MAX_ENCODED_LEN: usize =
        FIXED_LEN + 1 + Self::MAX_NAME_LEN + 1 + Self::MAX_NAME_LEN + MAX_CLIENT_LEN;

    /// Length of this record's encoding (meaningful when every name fits its length byte).
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        FIXED_LEN
            + 1
            + self.server_name.len()
            + 1
            + self.alpn.len()
            + self.client.as_ref().map_or(0, client_len)
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
        head[0] = if self.client.is_some() {
            Self::VERSION_WITH_CLIENT
        } else {
            Self::VERSION
        };
        head[1] = if self.extended_master_secret {
            FLAG_EMS
        } else {
            0
        };
        head[2..4].copy_from_slice(&self.suite_id.to_be_bytes());
        head[4..12].copy_from_slice(&self.created.to_be_bytes());
        head[12..16].copy_from_slice(&self.lifetime.to_be_bytes());
        head[16..].copy_from_slice(self.master_secret.as_bytes());

        let (sni, rest) = rest.split_at_mut(1 + self.server_name.len());
        sni[0] = sni_len;
        sni[1..].copy_from_slice(&self.server_name);
        let (alpn, client) = rest.split_at_mut(1 + self.alpn.len());
        alpn[0] = alpn_len;
        alpn[1..].copy_from_slice(&self.alpn);
        if let Some(identity) = &self.client {
            encode_client(identity, client)?;
        }
        Ok(len)
    }

    /// The encoding in a fresh vector. It holds the master secret: wipe it after use (e.g.
    /// wrap it in [`zeroize::Zeroizing`]).
    ///
    /// A name (or client subject, or alternative names) longer than 255 bytes is cut to its
    /// first 255 bytes.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0; Self::MAX_ENCODED_LEN];
        let len = match self.encode_into(&mut out) {
            Ok(len) => len,
            Err(_) => {
                let mut short = self.clone();
                short.server_name.truncate(Self::MAX_NAME_LEN);
                short.alpn.truncate(Self::MAX_NAME_LEN);
                if let Some(client) = &mut short.client {
                    client.subject.truncate(u8::MAX as usize);
                    client.alt_names.truncate(u8::MAX as usize);
                    client.serial.truncate(MAX_SERIAL_LEN);
                }
                // Everything now fits and `out` has the maximum length: this cannot fail.
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
        let known = |v: &u8| *v == Self::VERSION || *v == Self::VERSION_WITH_CLIENT;
        if bytes.len() < FIXED_LEN {
            // Still report a wrong version first when there is one.
            if bytes.first().is_some_and(|v| !known(v)) {
                return Err(SessionCodecError::BadVersion);
            }
            return Err(SessionCodecError::Truncated);
        }
        let (head, rest) = bytes.split_at(FIXED_LEN);
        if !known(&head[0]) || head[1] & !FLAG_EMS != 0 {
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
        let (client, rest) = if head[0] == Self::VERSION_WITH_CLIENT {
            let (client, rest) = decode_client(rest)?;
            (Some(client), rest)
        } else {
            (None, rest)
        };
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
            client,
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

/// Length of `identity`'s client section.
pub(crate) fn client_len(identity: &ClientIdentity) -> usize {
    CLIENT_FIXED_LEN
        + 1
        + identity.serial.len()
        + 1
        + identity.subject.len()
        + 1
        + identity.alt_names.len()
}

/// Writes `identity`'s client section to the front of `out`, returning its length.
pub(crate) fn encode_client(
    identity: &ClientIdentity,
    out: &mut [u8],
) -> Result<usize, SessionCodecError> {
    if identity.serial.is_empty() || identity.serial.len() > MAX_SERIAL_LEN {
        return Err(SessionCodecError::TooLong);
    }
    let subject_len =
        u8::try_from(identity.subject.len()).map_err(|_| SessionCodecError::TooLong)?;
    let names_len =
        u8::try_from(identity.alt_names.len()).map_err(|_| SessionCodecError::TooLong)?;
    let len = client_len(identity);
    let out = out.get_mut(..len).ok_or(SessionCodecError::Truncated)?;
    out[0..8].copy_from_slice(&identity.roots_epoch.to_be_bytes());
    out[8..16].copy_from_slice(&identity.not_after.to_be_bytes());
    out[16..48].copy_from_slice(&identity.certificate_sha256);
    out[48..56].copy_from_slice(&identity.issuer_hash);
    let (serial, subject) = out[CLIENT_FIXED_LEN..].split_at_mut(1 + identity.serial.len());
    serial[0] = identity.serial.len() as u8; // ≤ MAX_SERIAL_LEN
    serial[1..].copy_from_slice(&identity.serial);
    let (subject, names) = subject.split_at_mut(1 + identity.subject.len());
    subject[0] = subject_len;
    subject[1..].copy_from_slice(&identity.subject);
    names[0] = names_len;
    names[1..].copy_from_slice(&identity.alt_names);
    Ok(len)
}

/// Reads a client section off the front of `bytes`.
pub(crate) fn decode_client(bytes: &[u8]) -> Result<(ClientIdentity, &[u8]), SessionCodecError> {
    if bytes.len() < CLIENT_FIXED_LEN {
        return Err(SessionCodecError::Truncated);
    }
    let (fixed, rest) = bytes.split_at(CLIENT_FIXED_LEN);
    let (serial, rest) = take_name(rest)?;
    if serial.is_empty() || serial.len() > MAX_SERIAL_LEN {
        return Err(SessionCodecError::BadVersion);
    }
    let (subject, rest) = take_name(rest)?;
    let (alt_names, rest) = take_name(rest)?;
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&fixed[at..at + 8]);
        u64::from_be_bytes(w)
    };
    let mut certificate_sha256 = [0u8; 32];
    certificate_sha256.copy_from_slice(&fixed[16..48]);
    let mut issuer_hash = [0u8; 8];
    issuer_hash.copy_from_slice(&fixed[48..56]);
    Ok((
        ClientIdentity {
            subject: SmallVec::from_slice(subject),
            alt_names: SmallVec::from_slice(alt_names),
            serial: SmallVec::from_slice(serial),
            issuer_hash,
            certificate_sha256,
            not_after: word(8),
            roots_epoch: word(0),
        },
        rest,
    ))
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
            && self.client == other.client
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
            .field("client", &self.client)
            .finish()
    }
}

#[cfg(test)]
pub(crate) mod tests {
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
            client: None,
        }
    }

    /// `CN=device-17` with a 20-byte serial.
    pub(crate) fn device_identity() -> ClientIdentity {
        // SET { SEQUENCE { OID 2.5.4.3, UTF8String "device-17" } }
        let subject = b"\x31\x12\x30\x10\x06\x03\x55\x04\x03\x0c\x09device-17";
        ClientIdentity {
            subject: SmallVec::from_slice(subject),
            alt_names: SmallVec::new(),
            serial: SmallVec::from_slice(&[0x4c; 20]),
            issuer_hash: [7; 8],
            certificate_sha256: [0xab; 32],
            not_after: 1_800_000_000,
            roots_epoch: 0x0123_4567_89ab_cdef,
        }
    }

    #[test]
    fn round_trip_with_client() {
        let mut rec = typical();
        rec.client = Some(device_identity());
        let bytes = Zeroizing::new(rec.encode());
        assert_eq!(bytes[0], SessionRecord::VERSION_WITH_CLIENT);
        assert_eq!(bytes.len(), rec.encoded_len());
        println!(
            "typical session record with a client identity: {} bytes",
            bytes.len()
        );
        assert_eq!(bytes.len(), 89 + 59 + 20 + 20);
        let back = SessionRecord::decode(&bytes).unwrap();
        assert_eq!(back, rec);
        let client = back.client.as_ref().unwrap();
        assert_eq!(client.subject(), "CN=device-17");
        assert_eq!(client.common_name().as_deref(), Some("device-17"));
        assert!(!client.subject.spilled());
        for cut in 0..bytes.len() {
            assert!(
                SessionRecord::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        // Without its client section a version 2 record does not decode, nor a version 1
        // record with one.
        let mut v1 = bytes.to_vec();
        v1[0] = SessionRecord::VERSION;
        assert_eq!(
            SessionRecord::decode(&v1),
            Err(SessionCodecError::TrailingBytes)
        );
        let mut other = rec.clone();
        other.client.as_mut().unwrap().roots_epoch ^= 1;
        assert_ne!(other, rec);
    }

    #[test]
    fn oversized_client_identity() {
        let mut rec = typical();
        let mut client = device_identity();
        client.serial = SmallVec::from_slice(&[1; MAX_SERIAL_LEN + 1]);
        rec.client = Some(client.clone());
        let mut buf = [0u8; SessionRecord::MAX_ENCODED_LEN];
        assert_eq!(rec.encode_into(&mut buf), Err(SessionCodecError::TooLong));
        client.serial = SmallVec::from_slice(&[1; 4]);
        client.subject = SmallVec::from_slice(&[0; 300]);
        rec.client = Some(client);
        assert_eq!(rec.encode_into(&mut buf), Err(SessionCodecError::TooLong));
        let back = SessionRecord::decode(&rec.encode()).unwrap();
        assert_eq!(back.client.unwrap().subject.len(), 255);
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
        bytes[0] = 3;
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
        let mut client = device_identity();
        client.serial = SmallVec::from_slice(&[9; MAX_SERIAL_LEN]);
        client.subject = SmallVec::from_slice(&[1; 255]);
        client.alt_names = SmallVec::from_slice(&[2; 255]);
        rec.client = Some(client);
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
