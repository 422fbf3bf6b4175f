//! Ephemeral elliptic-curve Diffie-Hellman (RFC 8422 §5.10, RFC 7748) on aws-lc-rs.

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::rng::RandomSource;

/// A supported elliptic-curve group (RFC 8422 §5.1.1 NamedCurve, RFC 8446 NamedGroup).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NamedGroup {
    /// Curve25519 (RFC 7748).
    X25519,
    /// NIST P-256.
    Secp256r1,
    /// NIST P-384.
    Secp384r1,
}

impl NamedGroup {
    /// All supported groups in default preference order.
    pub const ALL: [NamedGroup; 3] = [
        NamedGroup::X25519,
        NamedGroup::Secp256r1,
        NamedGroup::Secp384r1,
    ];

    /// IANA code point.
    pub const fn id(self) -> u16 {
        match self {
            NamedGroup::X25519 => 0x001d,
            NamedGroup::Secp256r1 => 0x0017,
            NamedGroup::Secp384r1 => 0x0018,
        }
    }

    /// From an IANA code point.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.id() == id)
    }

    /// Human name as printed by `reprise connect` (`X25519`, `P-256`, `P-384`).
    pub const fn name(self) -> &'static str {
        match self {
            NamedGroup::X25519 => "X25519",
            NamedGroup::Secp256r1 => "P-256",
            NamedGroup::Secp384r1 => "P-384",
        }
    }

    /// From a name (`X25519`, `P-256`, `secp256r1`, `prime256v1`, …), case-insensitive.
    pub fn from_name(name: &str) -> Option<Self> {
        let n = name.to_ascii_lowercase();
        match n.as_str() {
            "x25519" => Some(NamedGroup::X25519),
            "p-256" | "p256" | "secp256r1" | "prime256v1" => Some(NamedGroup::Secp256r1),
            "p-384" | "p384" | "secp384r1" => Some(NamedGroup::Secp384r1),
            _ => None,
        }
    }

    fn algorithm(self) -> &'static agreement::Algorithm {
        match self {
            NamedGroup::X25519 => &agreement::X25519,
            NamedGroup::Secp256r1 => &agreement::ECDH_P256,
            NamedGroup::Secp384r1 => &agreement::ECDH_P384,
        }
    }

    fn scalar_len(self) -> usize {
        match self {
            NamedGroup::X25519 | NamedGroup::Secp256r1 => 32,
            NamedGroup::Secp384r1 => 48,
        }
    }

    /// Length of a valid public value on the wire (uncompressed points for the NIST curves).
    pub const fn public_len(self) -> usize {
        match self {
            NamedGroup::X25519 => 32,
            NamedGroup::Secp256r1 => 65,
            NamedGroup::Secp384r1 => 97,
        }
    }
}

/// Maximum encoded public value length over all groups.
pub const MAX_PUBLIC_LEN: usize = 97;

/// Why a key exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KxError {
    /// The randomness source failed or produced no usable scalar.
    Rng,
    /// The peer's public value is malformed or not on the curve (→ illegal_parameter).
    BadPeerKey,
}

/// Our half of one ECDHE exchange; the private scalar is wiped on drop by aws-lc.
pub struct KeyExchange {
    group: NamedGroup,
    private: PrivateKey,
    public: [u8; MAX_PUBLIC_LEN],
    public_len: usize,
}

impl KeyExchange {
    /// Makes an ephemeral key pair from the injected randomness, so a seeded source gives
    /// reproducible handshakes.
    pub fn generate(group: NamedGroup, rng: &dyn RandomSource) -> Result<Self, KxError> {
        if group != NamedGroup::X25519 && rng.is_aws_lc() {
            // The same CSPRNG, without aws-lc's check of a key built from bytes (it multiplies
            // the base point a second time).
            let private = PrivateKey::generate(group.algorithm()).map_err(|_| KxError::Rng)?;
            return Self::with_private(group, private);
        }
        let mut scalar = Zeroizing::new([0u8; 48]);
        let scalar = &mut scalar[..group.scalar_len()];
        // A random string is a valid scalar except with negligible probability on the NIST
        // curves (it must be below the group order); retry a bounded number of times.
        for _ in 0..8 {
            rng.fill(scalar).map_err(|_| KxError::Rng)?;
            if let Ok(private) = PrivateKey::from_private_key(group.algorithm(), scalar) {
                return Self::with_private(group, private);
            }
        }
        Err(KxError::Rng)
    }

    fn with_private(group: NamedGroup, private: PrivateKey) -> Result<Self, KxError> {
        let public_key = private.compute_public_key().map_err(|_| KxError::Rng)?;
        let bytes = public_key.as_ref();
        let mut public = [0u8; MAX_PUBLIC_LEN];
        public[..bytes.len()].copy_from_slice(bytes);
        Ok(Self {
            group,
            private,
            public,
            public_len: bytes.len(),
        })
    }

    /// The group of this exchange.
    pub fn group(&self) -> NamedGroup {
        self.group
    }

    /// Our public value as sent on the wire.
    pub fn public(&self) -> &[u8] {
        &self.public[..self.public_len]
    }

    /// Completes the exchange with the peer's public value, returning the pre-master secret.
    pub fn complete(self, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, KxError> {
        // RFC 8422 §5.4/§5.7: NIST points must be uncompressed; X25519 values are 32 bytes.
        if peer_public.len() != self.group.public_len() {
            return Err(KxError::BadPeerKey);
        }
        if self.group != NamedGroup::X25519 && peer_public.first() != Some(&0x04) {
            return Err(KxError::BadPeerKey);
        }
        let peer = UnparsedPublicKey::new(self.group.algorithm(), peer_public);
        let secret = agreement::agree(&self.private, peer, KxError::BadPeerKey, |shared| {
            Ok(Zeroizing::new(shared.to_vec()))
        })?;
        // RFC 8422 §5.11: an all-zero X25519 output means a small-order peer point.
        if self.group == NamedGroup::X25519 {
            let zeros = [0u8; 32];
            if aws_lc_rs::constant_time::verify_slices_are_equal(&secret, &zeros).is_ok() {
                return Err(KxError::BadPeerKey);
            }
        }
        Ok(secret)
    }
}

impl core::fmt::Debug for KeyExchange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyExchange")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRandom;

    #[test]
    fn every_group_agrees_with_itself() {
        let rng = SeededRandom::new(7);
        for group in NamedGroup::ALL {
            let a = KeyExchange::generate(group, &rng).unwrap();
            let b = KeyExchange::generate(group, &rng).unwrap();
            assert_eq!(a.public().len(), group.public_len());
            let b_pub = b.public().to_vec();
            let a_pub = a.public().to_vec();
            let s1 = a.complete(&b_pub).unwrap();
            let s2 = b.complete(&a_pub).unwrap();
            assert_eq!(*s1, *s2);
        }
    }

    #[test]
    fn bad_peer_values_are_rejected() {
        let rng = SeededRandom::new(7);
        for group in NamedGroup::ALL {
            let a = KeyExchange::generate(group, &rng).unwrap();
            assert_eq!(a.complete(&[4u8; 3]).unwrap_err(), KxError::BadPeerKey);
        }
        let a = KeyExchange::generate(NamedGroup::Secp256r1, &rng).unwrap();
        let mut off_curve = [0u8; 65];
        off_curve[0] = 4;
        off_curve[64] = 1;
        assert_eq!(a.complete(&off_curve).unwrap_err(), KxError::BadPeerKey);
        let a = KeyExchange::generate(NamedGroup::X25519, &rng).unwrap();
        assert_eq!(a.complete(&[0u8; 32]).unwrap_err(), KxError::BadPeerKey);
    }

    #[test]
    fn keys_aws_lc_draws_agree_with_keys_from_bytes() {
        use crate::rng::{BufferedRandom, SystemRandom};
        let seeded = SeededRandom::new(9);
        for group in NamedGroup::ALL {
            for system in [&SystemRandom as &dyn RandomSource, &BufferedRandom::new()] {
                let ours = KeyExchange::generate(group, system).unwrap();
                let again = KeyExchange::generate(group, system).unwrap();
                assert_ne!(ours.public(), again.public(), "{group:?}");
                let peer = KeyExchange::generate(group, &seeded).unwrap();
                let (ours_pub, peer_pub) = (ours.public().to_vec(), peer.public().to_vec());
                assert_eq!(ours_pub.len(), group.public_len());
                let s1 = ours.complete(&peer_pub).unwrap();
                let s2 = peer.complete(&ours_pub).unwrap();
                assert_eq!(*s1, *s2, "{group:?}");
            }
        }
    }

    #[test]
    fn seeded_generation_is_reproducible() {
        let a = KeyExchange::generate(NamedGroup::Secp384r1, &SeededRandom::new(1)).unwrap();
        let b = KeyExchange::generate(NamedGroup::Secp384r1, &SeededRandom::new(1)).unwrap();
        assert_eq!(a.public(), b.public());
    }
}
