//! Injected randomness. The engine never reaches for a global RNG: every random byte (server
//! and client randoms, session IDs, ephemeral scalars, ticket nonces) comes from the config's
//! [`RandomSource`], so a seeded source makes handshakes byte-for-byte reproducible.
//!
//! ECDSA and RSA-PSS signatures are the one exception: aws-lc draws their nonces and salts
//! from its own DRBG, which cannot be (and must not be) steered from outside. Deterministic
//! transcripts therefore use RSA PKCS#1 v1.5 signatures.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use aws_lc_rs::hmac;
use zeroize::Zeroize;

/// The randomness source failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngError;

/// A source of cryptographically secure random bytes.
pub trait RandomSource: Send + Sync {
    /// Fills `dest` entirely with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError>;

    /// Whether this source hands out aws-lc's own CSPRNG output, directly or buffered. Then
    /// an ephemeral NIST-curve key is drawn by aws-lc itself: a key built from supplied bytes
    /// is re-derived and checked by aws-lc, a second scalar multiplication per handshake.
    /// Every other source (seeded, a test's) keeps control of every random byte, so its
    /// handshakes stay reproducible.
    fn is_aws_lc(&self) -> bool {
        false
    }
}

/// The operating system's CSPRNG, through aws-lc.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandom;

impl RandomSource for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        aws_lc_rs::rand::fill(dest).map_err(|_| RngError)
    }

    fn is_aws_lc(&self) -> bool {
        true
    }
}

/// Bytes each [`BufferedRandom`] shard draws from the system at a time.
const BLOCK: usize = 1024;
/// Shards of a [`BufferedRandom`], so threads sharing a config rarely wait on each other.
const SHARDS: usize = 8;

/// The system CSPRNG (aws-lc's `RAND_bytes`) drawn in 1 KiB blocks, handed out in small
/// pieces: server randoms, session IDs and ticket nonces cost a copy instead of a DRBG call
/// each (aws-lc reseeds from the CPU's RNG on every call). The default source of
/// [`ServerConfig`](crate::ServerConfig) and [`ClientConfig`](crate::ClientConfig).
///
/// Bytes are wiped from the buffer as they are handed out, requests of more than half a block
/// go straight to the system, and a buffer filled before a `fork` is discarded in the child
/// (it checks the process ID), so two processes never hand out the same bytes.
pub struct BufferedRandom {
    shards: Box<[Mutex<Block>]>,
}

/// The shard a thread tries first. Threads are dealt shards in turn, so threads sharing a
/// source keep to their own blocks instead of taking turns on each (which would bounce the
/// block and its lock between their caches on every request).
fn home_shard() -> usize {
    static NEXT_HOME: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static HOME: usize = NEXT_HOME.fetch_add(1, Ordering::Relaxed);
    }
    HOME.with(|home| *home)
}

struct Block {
    bytes: [u8; BLOCK],
    /// Bytes at `pos..` are unused.
    pos: usize,
    /// The process that filled `bytes`.
    pid: u32,
}

impl Drop for Block {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl BufferedRandom {
    /// Empty buffers; the first request fills its shard.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Block {
                        bytes: [0; BLOCK],
                        pos: BLOCK,
                        pid: 0,
                    })
                })
                .collect(),
        }
    }
}

impl Default for BufferedRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for BufferedRandom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BufferedRandom(..)")
    }
}

impl RandomSource for BufferedRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        if dest.len() > BLOCK / 2 {
            return SystemRandom.fill(dest);
        }
        let start = home_shard();
        for i in 0..SHARDS {
            let Ok(mut block) = self.shards[(start + i) % SHARDS].try_lock() else {
                continue;
            };
            let pid = std::process::id();
            if block.pos + dest.len() > BLOCK || block.pid != pid {
                SystemRandom.fill(&mut block.bytes)?;
                block.pos = 0;
                block.pid = pid;
            }
            let range = block.pos..block.pos + dest.len();
            dest.copy_from_slice(&block.bytes[range.clone()]);
            block.bytes[range].zeroize();
            block.pos += dest.len();
            return Ok(());
        }
        // Every shard busy (or poisoned): ask the system directly.
        SystemRandom.fill(dest)
    }

    fn is_aws_lc(&self) -> bool {
        true
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
    fn buffered_random_hands_out_fresh_bytes_across_refills() {
        let rng = BufferedRandom::new();
        let mut seen = std::collections::HashSet::new();
        // 200 × 32 bytes spans several refills of every shard; no 32-byte value repeats.
        for _ in 0..200 {
            let mut x = [0u8; 32];
            rng.fill(&mut x).unwrap();
            assert!(seen.insert(x));
        }
        let mut big = [0u8; BLOCK];
        rng.fill(&mut big).unwrap();
        assert_ne!(big, [0u8; BLOCK]);
        let mut none = [0u8; 0];
        rng.fill(&mut none).unwrap();
    }

    #[test]
    fn system_random_fills() {
        let mut x = [0u8; 32];
        SystemRandom.fill(&mut x).unwrap();
        assert_ne!(x, [0u8; 32]);
    }
}
