//! The running handshake hash (RFC 5246 §7.4.9 `handshake_messages`).
//!
//! The client does not know the PRF hash until the ServerHello names the suite, so it buffers
//! the ClientHello and starts hashing then; the server knows it while answering the hello.

use aws_lc_rs::digest;

use crate::crypto::prf::PrfHash;

/// Largest digest we produce (SHA-384).
pub const MAX_HASH_LEN: usize = 48;

/// A handshake hash, possibly still waiting to learn its algorithm.
#[derive(Clone)]
pub enum Transcript {
    /// Messages so far, before the hash is known.
    Buffering(Vec<u8>),
    /// The running hash.
    Hashing(digest::Context),
}

impl Default for Transcript {
    fn default() -> Self {
        Transcript::Buffering(Vec::new())
    }
}

/// A finished digest with its length.
#[derive(Clone, Copy)]
pub struct HandshakeHash {
    bytes: [u8; MAX_HASH_LEN],
    len: usize,
}

impl AsRef<[u8]> for HandshakeHash {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The running hash of a handshake whose PRF hash is known: what every phase after the
/// hello holds, so asking for the hash so far cannot fail.
#[derive(Clone)]
pub struct RunningHash(digest::Context, Option<Vec<u8>>);

impl RunningHash {
    /// Starts hashing with `hash`.
    pub fn new(hash: PrfHash) -> Self {
        Self(digest::Context::new(hash.digest_algorithm()), None)
    }

    /// Keeps the messages themselves too, from now on, until [`forget`](Self::forget): a
    /// CertificateVerify signs them whole (RFC 5246 §7.4.8), not their hash.
    pub fn keep_messages(&mut self) {
        self.1.get_or_insert_with(Vec::new);
    }

    /// The messages kept since [`keep_messages`](Self::keep_messages).
    pub fn messages(&self) -> &[u8] {
        self.1.as_deref().unwrap_or_default()
    }

    /// Stops keeping the messages and drops them.
    pub fn forget(&mut self) {
        self.1 = None;
    }

    /// Adds one whole handshake message (header included).
    pub fn add(&mut self, message: &[u8]) {
        self.0.update(message);
        if let Some(kept) = &mut self.1 {
            kept.extend_from_slice(message);
        }
    }

    /// The hash of everything so far (the running state is kept).
    pub fn current(&self) -> HandshakeHash {
        let d = self.0.clone().finish();
        let mut bytes = [0u8; MAX_HASH_LEN];
        let len = d.as_ref().len();
        bytes[..len].copy_from_slice(d.as_ref());
        HandshakeHash { bytes, len }
    }
}

impl Transcript {
    /// Adds one whole handshake message (header included).
    pub fn add(&mut self, message: &[u8]) {
        match self {
            Transcript::Buffering(buf) => buf.extend_from_slice(message),
            Transcript::Hashing(ctx) => ctx.update(message),
        }
    }

    /// Starts hashing with `hash`, absorbing anything buffered.
    pub fn start(&mut self, hash: PrfHash) {
        if let Transcript::Buffering(buf) = self {
            let mut ctx = digest::Context::new(hash.digest_algorithm());
            ctx.update(buf);
            *self = Transcript::Hashing(ctx);
        }
    }

    /// The hash of everything so far (the running state is kept). `None` before [`start`](Self::start).
    pub fn current(&self) -> Option<HandshakeHash> {
        match self {
            Transcript::Buffering(_) => None,
            Transcript::Hashing(ctx) => {
                let d = ctx.clone().finish();
                let mut bytes = [0u8; MAX_HASH_LEN];
                let len = d.as_ref().len();
                bytes[..len].copy_from_slice(d.as_ref());
                Some(HandshakeHash { bytes, len })
            }
        }
    }
}
