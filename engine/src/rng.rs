//! Injected randomness. The engine never reaches for a global RNG: every random byte (server
//! and client randoms, session IDs, ephemeral scalars, ticket nonces) comes from the config's
//! [`RandomSource`], so a seeded source makes handshakes byte-for-byte reproducible.
//!
//! ECDSA and RSA-PSS signatures are the one exception: aws-lc draws their nonces and salts
//! from its own DRBG, which cannot be (and must not be) steered from outside. Deterministic
//! transcripts therefore use RSA PKCS#1 v1.5 signatures.

use std::sync::Mutex;

use aws_lc_rs::hmac;

/// The randomness source failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngError;

/// A source of cryptographically secure random bytes.
pub trait RandomSource: Send + Sync {
    /// Fills `dest` entirely with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError>;
}

/// The operating system's CSPRNG, through aws-lc.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandom;

impl RandomSource for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        aws_lc_rs::rand::fill(dest).map_err(|_| RngError)
    }
}

/// A deterministic stream for tests, vectors and fuzzing: block *i* is
/// HMAC-SHA256(seed, i). **Never use it in production.**
pub struct SeededRandom {
    key: hmac::Key,
    state: Mutex<SeededState>,
}

struct SeededState {
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeededRandom {
    /// A stream determined entirely by `seed`.
    pub fn new(seed: u64) -> Self {
        Self::from_seed_bytes(&seed.to_be_bytes())
    }

    /// A stream determined entirely by `seed`.
    pub fn from_seed_bytes(seed: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, seed),
            state: Mutex::new(SeededState {
                counter: 0,
                block: [0; 32],
                used: 32,
            }),
        }
    }
}

impl RandomSource for SeededRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        let mut st = self.state.lock().map_err(|_| RngError)?;
        for byte in dest.iter_mut() {
            if st.used == st.block.len() {
                let tag = hmac::sign(&self.key, &st.counter.to_be_bytes());
                st.block.copy_from_slice(tag.as_ref());
                st.counter += 1;
                st.used = 0;
            }
            *byte = st.block[st.used];
            st.used += 1;
        }
        Ok(())
    }
}

impl core::fmt::Debug for SeededRandom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SeededRandom(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_streams_repeat_and_differ() {
        let (a, b, c) = (
            SeededRandom::new(1),
            SeededRandom::new(1),
            SeededRandom::new(2),
        );
        let (mut x, mut y, mut z) = ([0u8; 100], [0u8; 100], [0u8; 100]);
        a.fill(&mut x[..7]).unwrap();
        a.fill(&mut x[7..]).unwrap();
        b.fill(&mut y).unwrap();
        c.fill(&mut z).unwrap();
        assert_eq!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn system_random_fills() {
        let mut x = [0u8; 32];
        SystemRandom.fill(&mut x).unwrap();
        assert_ne!(x, [0u8; 32]);
    }
}
