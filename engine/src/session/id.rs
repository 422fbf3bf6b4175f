//! Self-authenticating session IDs. The server may make its session IDs
//! `random[16] || HMAC-SHA256(key, random)[..16]`, so that an ID it never issued — such as the
//! random 32-byte ID every TLS 1.3-capable client sends in its ClientHello (RFC 8446
//! appendix D.4) — is recognised without asking the session store. With a remote store this
//! saves a network round trip on most new connections, and keeps such IDs out of the
//! "unknown session" count. Servers of a fleet share the key.

use aws_lc_rs::{constant_time, hmac};

/// The key that marks session IDs as ours.
#[derive(Clone)]
pub struct SessionIdKey {
    key: hmac::Key,
}

impl core::fmt::Debug for SessionIdKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SessionIdKey(..)")
    }
}

impl SessionIdKey {
    /// A key from secret bytes (e.g. derived from a fleet secret; ≥ 16 bytes recommended).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The session ID carrying `random`.
    pub fn make_id(&self, random: &[u8; 16]) -> [u8; 32] {
        let tag = hmac::sign(&self.key, random);
        let mut id = [0u8; 32];
        id[..16].copy_from_slice(random);
        id[16..].copy_from_slice(&tag.as_ref()[..16]);
        id
    }

    /// True when `id` is one this key made (constant time).
    pub fn is_ours(&self, id: &[u8]) -> bool {
        if id.len() != 32 {
            return false;
        }
        let tag = hmac::sign(&self.key, &id[..16]);
        constant_time::verify_slices_are_equal(&tag.as_ref()[..16], &id[16..]).is_ok()
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
