//! Self-authenticating session IDs. The server may make its session IDs
//! `random[16] || AES-256(key, random)`, so that an ID it never issued — such as the random
//! 32-byte ID every TLS 1.3-capable client sends in its ClientHello (RFC 8446 appendix D.4) —
//! is recognised without asking the session store. With a remote store this saves a network
//! round trip on most new connections, and keeps such IDs out of the "unknown session" count.
//! Servers of a fleet share the key.
//!
//! The mark is one AES block over the 16 random bytes: a block cipher is a pseudorandom
//! function on single blocks (up to the birthday bound, 2^64 IDs), so without the key no one
//! can make an ID that passes, and it costs a tenth of an HMAC on every resumption and every
//! new session.

use aws_lc_rs::cipher::{EncryptingKey, UnboundCipherKey, AES_256};
use aws_lc_rs::{constant_time, hmac};

/// Bytes of a marked ID: the random block, then its mark.
const ID_LEN: usize = 32;
/// The random half (one AES block).
const RANDOM_LEN: usize = 16;

/// The key that marks session IDs as ours.
#[derive(Clone)]
pub struct SessionIdKey {
    /// `None` only if aws-lc refused the derived key; then no ID is taken for ours.
    key: Option<std::sync::Arc<EncryptingKey>>,
}

impl core::fmt::Debug for SessionIdKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SessionIdKey(..)")
    }
}

impl SessionIdKey {
    /// A key from secret bytes (e.g. derived from a fleet secret; ≥ 16 bytes recommended).
    /// The AES key is HMAC-SHA256(secret, a fixed label), so any secret length works.
    pub fn new(secret: &[u8]) -> Self {
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, secret),
            b"reprise session id mark",
        );
        let key = UnboundCipherKey::new(&AES_256, derived.as_ref())
            .and_then(EncryptingKey::ecb)
            .ok()
            .map(std::sync::Arc::new);
        Self { key }
    }

    /// `random`'s mark: its encryption under the key (`None` only if aws-lc failed, and then
    /// no ID is taken for ours).
    fn mark(&self, random: &[u8; RANDOM_LEN]) -> Option<[u8; RANDOM_LEN]> {
        let mut block = *random;
        self.key.as_ref()?.encrypt(&mut block).ok().map(|_| block)
    }

    /// The session ID carrying `random`.
    pub fn make_id(&self, random: &[u8; RANDOM_LEN]) -> [u8; ID_LEN] {
        let mut id = [0u8; ID_LEN];
        id[..RANDOM_LEN].copy_from_slice(random);
        if let Some(mark) = self.mark(random) {
            id[RANDOM_LEN..].copy_from_slice(&mark);
        }
        id
    }

    /// True when `id` is one this key made (constant time).
    pub fn is_ours(&self, id: &[u8]) -> bool {
        let Some((random, mark)) = id.split_first_chunk::<RANDOM_LEN>() else {
            return false;
        };
        id.len() == ID_LEN
            && self
                .mark(random)
                .is_some_and(|ours| constant_time::verify_slices_are_equal(&ours, mark).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_recognised_only_under_their_key() {
        let key = SessionIdKey::new(b"0123456789abcdef0123456789abcdef");
        let id = key.make_id(&[7; 16]);
        assert!(key.is_ours(&id));
        let mut flipped = id;
        flipped[31] ^= 1;
        assert!(!key.is_ours(&flipped));
        assert!(!key.is_ours(&[7; 32]));
        assert!(!key.is_ours(&id[..31]));
        assert!(!SessionIdKey::new(b"another key entirely, 32 bytes!").is_ours(&id));
    }
}
