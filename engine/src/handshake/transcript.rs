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
pub struct RunningHash(HashState, Option<Vec<u8>>);

#[derive(Clone)]
enum HashState {
    Running(digest::Context),
    /// Closed by [`RunningHash::finish`]: the handshake's last message has been hashed.
    Final(HandshakeHash),
}

impl RunningHash {
    /// Starts hashing with `hash`.
    pub fn new(hash: PrfHash) -> Self {
        Self(
            HashState::Running(digest::Context::new(hash.digest_algorithm())),
            None,
        )
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

    /// Adds one whole handshake message (header included). Nothing follows the message
    /// hashed for the last Finished, so after [`finish`](Self::finish) there is nothing to add.
    pub fn add(&mut self, message: &[u8]) {
        match &mut self.0 {
            HashState::Running(ctx) => ctx.update(message),
            HashState::Final(_) => debug_assert!(false, "a message after the last Finished"),
        }
        if let Some(kept) = &mut self.1 {
            kept.extend_from_slice(message);
        }
    }

    /// The hash of everything so far (the running state is kept).
    pub fn current(&self) -> HandshakeHash {
        match &self.0 {
            HashState::Running(ctx) => HandshakeHash::of(ctx.clone().finish()),
            HashState::Final(hash) => *hash,
        }
    }

    /// The hash of everything so far, for the handshake's last Finished (RFC 5246 §7.4.9):
    /// the running state is consumed rather than copied, and the hash stays final.
    pub fn finish(&mut self) -> HandshakeHash {
        let hash = match std::mem::replace(&mut self.0, HashState::Final(HandshakeHash::EMPTY)) {
            HashState::Running(ctx) => HandshakeHash::of(ctx.finish()),
            HashState::Final(hash) => hash,
        };
        self.0 = HashState::Final(hash);
        hash
    }
}

impl HandshakeHash {
    const EMPTY: Self = Self {
        bytes: [0; MAX_HASH_LEN],
        len: 0,
    };

    fn of(digest: digest::Digest) -> Self {
        let mut bytes = [0u8; MAX_HASH_LEN];
        let len = digest.as_ref().len();
        bytes[..len].copy_from_slice(digest.as_ref());
        Self { bytes, len }
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
            Transcript::Hashing(ctx) => Some(HandshakeHash::of(ctx.clone().finish())),
        }
    }
}
