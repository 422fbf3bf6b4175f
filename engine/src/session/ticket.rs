//! RFC 5077 session tickets: sealing and opening, and the rotating ticket-key ring.
//!
//! # Ticket wire format
//!
//! ```text
//! key_name[16] || nonce[12] || ciphertext[n] || tag[16]        (n ≤ MAX_TICKET_PLAINTEXT)
//! ```
//!
//! The ciphertext and tag are AES-256-GCM over the opaque serialized session record, with the
//! 16-byte `key_name` as the associated data. RFC 5077 §4 recommends
//! `key_name || IV || encrypted_state || MAC`; an AEAD gives the same protection in one pass,
//! and binding the key name as associated data means a ticket cannot be re-labelled with
//! another key's name.
//!
//! # Keys
//!
//! Each key starts as [`TicketKeyMaterial`]: a random 16-byte name and a 32-byte secret,
//! freshly generated or read from a key file (see [`super::keyfile`]). The AES-256-GCM key is
//! HKDF-SHA256 with salt `"reprise ticket key v1"`, input keying material the secret and info
//! the key name, so material of any provenance maps to a proper, name-bound AEAD key. The
//! derived bytes live in a [`Zeroizing`] buffer only long enough to build the aws-lc key,
//! which aws-lc frees (and wipes) when the last ring holding the key drops it.
//!
//! Nonces are 12 bytes from the injected [`RandomSource`], one per ticket. Random GCM nonces
//! are safe for about 2³² tickets per key, far beyond what one key seals between rotations.
//!
//! # Rotation
//!
//! A [`TicketKeyRing`] holds the encrypting key first, then decrypt-only keys. With a
//! [`RotationPolicy`] of `rotate_every = R` and `decrypt_window = W`, a key created at `t`
//! encrypts during `[t, t + R)`; once it stops encrypting at time `s` (normally `t + R`, later
//! if [`TicketKeyRing::rotate_if_due`] was called late) it still opens tickets during
//! `[s, s + W)`. Choose `W` at least the ticket lifetime (the default is
//! [`DEFAULT_TICKET_LIFETIME`]; [`RotationPolicy::for_tickets`]) so every ticket it sealed
//! can still be opened. The engine reads no clock: every method takes `now` in Unix seconds.
//!
//! Lookup by name scans the ring comparing each name in constant time. The ring is bounded
//! ([`MAX_RING_KEYS`]; normally `2 + W / R` keys), so the scan is O(1) in practice and cheaper
//! than hashing, and it does not reveal through timing which key (if any) matched.
//!
//! Rings are immutable once shared: [`TicketKeys`] keeps the current ring in an atomically
//! swapped `Arc` (readers take no lock) and rotates copy-on-write, so connections holding an
//! older ring finish with it undisturbed.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{constant_time, hkdf};
use zeroize::{Zeroize, Zeroizing};

use crate::rng::RandomSource;

/// Length of a ticket key name.
pub const KEY_NAME_LEN: usize = 16;
/// Bytes a ticket adds to its plaintext: key name, nonce and GCM tag.
pub const TICKET_OVERHEAD: usize = KEY_NAME_LEN + NONCE_LEN + TAG_LEN;
/// The largest session record a ticket carries: any record, with its client section.
pub const MAX_TICKET_PLAINTEXT: usize = crate::session::record::SessionRecord::MAX_ENCODED_LEN;
/// The most keys a ring holds; beyond it the oldest decrypt-only keys are dropped.
pub const MAX_RING_KEYS: usize = 16;
/// The ticket lifetime the default [`RotationPolicy`] assumes, in seconds (two hours).
pub const DEFAULT_TICKET_LIFETIME: u64 = 7200;

const TAG_LEN: usize = 16;
const SECRET_LEN: usize = 32;
const HKDF_SALT: &[u8] = b"reprise ticket key v1";

/// Raw material for one key: from generation or from a key file.
pub struct TicketKeyMaterial {
    /// The key name carried in clear at the front of every ticket.
    pub name: [u8; KEY_NAME_LEN],
    /// The secret the AEAD key is derived from; wiped on drop.
    pub secret: Zeroizing<[u8; SECRET_LEN]>,
}

impl TicketKeyMaterial {
    /// A fresh random name and secret.
    pub fn generate(rng: &dyn RandomSource) -> Result<Self, TicketError> {
        let mut material = Self {
            name: [0; KEY_NAME_LEN],
            secret: Zeroizing::new([0; SECRET_LEN]),
        };
        rng.fill(&mut material.name).map_err(|_| TicketError::Rng)?;
        rng.fill(material.secret.as_mut())
            .map_err(|_| TicketError::Rng)?;
        Ok(material)
    }

    /// Derives the AES-256-GCM key (see the module documentation).
    fn derive(&self) -> Option<LessSafeKey> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(self.secret.as_ref());
        let info = [&self.name[..]];
        let okm = prk.expand(&info, &AES_256_GCM).ok()?;
        let mut key = Zeroizing::new([0u8; SECRET_LEN]);
        okm.fill(key.as_mut()).ok()?;
        let unbound = UnboundKey::new(&AES_256_GCM, key.as_ref()).ok()?;
        Some(LessSafeKey::new(unbound))
    }
}

impl fmt::Debug for TicketKeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKeyMaterial")
            .field("name", &Hex(&self.name))
            .finish_non_exhaustive()
    }
}

/// The immutable part of a key, shared between successive rings.
struct KeyCore {
    name: [u8; KEY_NAME_LEN],
    aead: LessSafeKey,
}

/// One key of a ring: its name, AEAD key and validity windows.
///
/// Cloning is cheap and shares the AEAD key, which is wiped when the last clone goes.
#[derive(Clone)]
pub struct TicketKey {
    core: Arc<KeyCore>,
    created: u64,
    encrypt_until: u64,
    decrypt_until: u64,
}

impl TicketKey {
    fn new(
        material: &TicketKeyMaterial,
        created: u64,
        encrypt_until: u64,
        decrypt_until: u64,
    ) -> Option<Self> {
        let aead = material.derive()?;
        Some(Self {
            core: Arc::new(KeyCore {
                name: material.name,
                aead,
            }),
            created,
            encrypt_until,
            decrypt_until,
        })
    }

    /// The key name.
    pub fn name(&self) -> [u8; KEY_NAME_LEN] {
        self.core.name
    }

    /// When the key entered the ring (Unix seconds).
    pub fn created(&self) -> u64 {
        self.created
    }

    /// The key encrypts while it heads the ring and `now` is before this.
    pub fn encrypt_until(&self) -> u64 {
        self.encrypt_until
    }

    /// The key opens tickets while `now` is before this.
    pub fn decrypt_until(&self) -> u64 {
        self.decrypt_until
    }
}

impl fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKey")
            .field("name", &Hex(&self.core.name))
            .field("created", &self.created)
            .field("encrypt_until", &self.encrypt_until)
            .field("decrypt_until", &self.decrypt_until)
            .finish_non_exhaustive()
    }
}

/// Why a ticket could not be sealed or opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TicketError {
    /// The ticket is shorter than [`TICKET_OVERHEAD`].
    Malformed,
    /// No key in the ring has the ticket's key name.
    UnknownKeyName,
    /// The key is past its decrypt window (on `open`), or the ring has no usable encrypting
    /// key (on `seal`: the ring is empty or its head is past its decrypt window).
    KeyExpired,
    /// Authentication failed: the ticket was altered or not made with this key.
    Forged,
    /// The plaintext exceeds [`MAX_TICKET_PLAINTEXT`], the ticket exceeds
    /// [`TICKET_OVERHEAD`] + [`MAX_TICKET_PLAINTEXT`], or the output buffer is too small.
    TooLarge,
    /// The random source failed.
    Rng,
}

impl fmt::Display for TicketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "ticket too short",
            Self::UnknownKeyName => "ticket key name unknown",
            Self::KeyExpired => "ticket key expired",
            Self::Forged => "ticket failed authentication",
            Self::TooLarge => "ticket or session record too large",
            Self::Rng => "random source failed",
        })
    }
}

impl std::error::Error for TicketError {}

/// When keys rotate, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a key encrypts before a fresh one replaces it (e.g. 3600).
    pub rotate_every: u64,
    /// How long a key stays decrypt-only after it stops encrypting; at least the ticket
    /// lifetime (a ticket's session record carries its own expiry, so longer only keeps keys
    /// around), by default [`DEFAULT_TICKET_LIFETIME`].
    pub decrypt_window: u64,
}

impl RotationPolicy {
    /// Keys that encrypt for `rotate_every` seconds (at most the ticket lifetime), then
    /// decrypt for `ticket_lifetime` more, so every ticket a key sealed opens until it
    /// expires: the one rule the builder's own keys, key files and fleet rings follow.
    pub const fn for_tickets(rotate_every: u64, ticket_lifetime: u64) -> Self {
        let rotate_every = if rotate_every < ticket_lifetime {
            rotate_every
        } else {
            ticket_lifetime
        };
        Self {
            rotate_every,
            decrypt_window: ticket_lifetime,
        }
    }
}

impl Default for RotationPolicy {
    /// Hourly rotation for tickets of the default lifetime
    /// (`for_tickets(3600, DEFAULT_TICKET_LIFETIME)`).
    fn default() -> Self {
        Self::for_tickets(3600, DEFAULT_TICKET_LIFETIME)
    }
}

/// A successfully opened ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    /// Length of the session record written to the front of the output buffer.
    pub len: usize,
    /// The key that opened it no longer encrypts: the server should issue a fresh ticket
    /// (RFC 5077 §3.3).
    pub renew: bool,
}

/// The ticket keys of a server: the encrypting key first, then decrypt-only keys, most
/// recently retired first.
///
/// Cloning is cheap: clones share the AEAD keys.
#[derive(Clone)]
pub struct TicketKeyRing {
    keys: Vec<TicketKey>,
    policy: RotationPolicy,
}

impl TicketKeyRing {
    /// A ring with one fresh random key, encrypting from `now`.
    pub fn new(
        policy: RotationPolicy,
        now: u64,
        rng: &dyn RandomSource,
    ) -> Result<Self, TicketError> {
        let mut ring = Self {
            keys: Vec::with_capacity(MAX_RING_KEYS),
            policy,
        };
        ring.push_fresh(now, rng)?;
        Ok(ring)
    }

    /// A ring with no key yet: the first [`rotate_if_due`](Self::rotate_if_due) (the first
    /// handshake that offers tickets) makes its first key, on the driver's clock.
    pub(crate) fn unstarted(policy: RotationPolicy) -> Self {
        Self {
            keys: Vec::with_capacity(MAX_RING_KEYS),
            policy,
        }
    }

    /// A ring from existing material, as loaded from a key file: the first key encrypts from
    /// `now` for `rotate_every`, the others only decrypt, for `decrypt_window` from `now` (as
    /// with nginx's multiple `ssl_session_ticket_key` lines).
    ///
    /// A name repeated later in the list is dropped, as are keys beyond [`MAX_RING_KEYS`].
    /// Key derivation cannot fail for 32-byte secrets; a key for which it did would be left
    /// out. Such keys never expire on this server's clock and [`rotate_if_due`](Self::rotate_if_due)
    /// leaves the ring alone (fresh random keys would be unknown to the other servers sharing
    /// the file): the owner rotates by replacing the ring ([`TicketKeys::replace`]).
    pub fn from_material(keys: Vec<TicketKeyMaterial>, policy: RotationPolicy, now: u64) -> Self {
        let mut ring = Self {
            keys: Vec::with_capacity(keys.len().min(MAX_RING_KEYS)),
            policy,
        };
        for material in &keys {
            if ring.keys.len() == MAX_RING_KEYS {
                break;
            }
            if ring.find(&material.name).is_some() {
                continue;
            }
            // Keys from files or a fleet publisher are managed by their owner: they never
            // expire on this server's clock (so `rotate_if_due` never adds a local random key
            // that other servers could not read); the owner rotates by replacing the ring.
            let (encrypt_until, decrypt_until) = if ring.keys.is_empty() {
                (u64::MAX, u64::MAX)
            } else {
                (now, u64::MAX)
            };
            if let Some(key) = TicketKey::new(material, now, encrypt_until, decrypt_until) {
                ring.keys.push(key);
            }
        }
        ring
    }

    /// Seals `plaintext` (a serialized session record) with the encrypting key and appends the
    /// ticket to `out`. The only allocation is `out` growing to fit; on failure `out` is left
    /// as it was.
    ///
    /// The head key keeps sealing past its encrypt window until [`rotate_if_due`] replaces it,
    /// so a late rotation never stops ticket issuance; it stops only once the head is past its
    /// decrypt window ([`TicketError::KeyExpired`]).
    ///
    /// [`rotate_if_due`]: Self::rotate_if_due
    pub fn seal(
        &self,
        plaintext: &[u8],
        now: u64,
        rng: &dyn RandomSource,
        out: &mut Vec<u8>,
    ) -> Result<(), TicketError> {
        if plaintext.len() > MAX_TICKET_PLAINTEXT {
            return Err(TicketError::TooLarge);
        }
        let key = self
            .keys
            .first()
            .filter(|k| now < k.decrypt_until)
            .ok_or(TicketError::KeyExpired)?;
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| TicketError::Rng)?;

        // Reserve first so the plaintext copy is never left behind in a reallocated buffer.
        let start = out.len();
        out.reserve(TICKET_OVERHEAD + plaintext.len());
        out.extend_from_slice(&key.core.name);
        out.extend_from_slice(&nonce);
        let body = out.len();
        out.extend_from_slice(plaintext);
        let sealed = key.core.aead.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&key.core.name),
            &mut out[body..],
        );
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                Ok(())
            }
            Err(_) => {
                out[body..].zeroize();
                out.truncate(start);
                Err(TicketError::TooLarge)
            }
        }
    }

    /// Opens a ticket into `out` (no allocation); the session record is `out[..len]`. `out`
    /// needs room for the ticket length minus [`TICKET_OVERHEAD`]; [`MAX_TICKET_PLAINTEXT`]
    /// bytes always suffice.
    ///
    /// `renew` is true when the key that opened it no longer encrypts (it is not the head of
    /// the ring, or its encrypt window has ended), so the server should issue a fresh ticket
    /// (RFC 5077 §3.3). A key past its decrypt window gives [`TicketError::KeyExpired`] even
    /// before [`rotate_if_due`](Self::rotate_if_due) removes it. On failure no unauthenticated
    /// plaintext is left in `out`.
    pub fn open(&self, ticket: &[u8], now: u64, out: &mut [u8]) -> Result<Opened, TicketError> {
        if ticket.len() < TICKET_OVERHEAD {
            return Err(TicketError::Malformed);
        }
        if ticket.len() > TICKET_OVERHEAD + MAX_TICKET_PLAINTEXT {
            return Err(TicketError::TooLarge);
        }
        let (name, rest) = ticket.split_at(KEY_NAME_LEN);
        let (nonce, rest) = rest.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);

        let index = self.find(name).ok_or(TicketError::UnknownKeyName)?;
        let key = &self.keys[index];
        if now >= key.decrypt_until {
            return Err(TicketError::KeyExpired);
        }
        let dest = out
            .get_mut(..ciphertext.len())
            .ok_or(TicketError::TooLarge)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| TicketError::Malformed)?;
        if key
            .core
            .aead
            .open_separate_gather(nonce, Aad::from(name), ciphertext, tag, dest)
            .is_err()
        {
            dest.zeroize();
            return Err(TicketError::Forged);
        }
        Ok(Opened {
            len: ciphertext.len(),
            renew: index != 0 || now >= key.encrypt_until,
        })
    }

    /// Adds a fresh encrypting key when the current one's encrypt window has ended (or the ring
    /// is empty), and drops keys past their decrypt window; returns whether a key was added.
    ///
    /// The retired head stays decrypt-only for `decrypt_window` from `now`. Dropped keys are
    /// wiped once no other ring (an older `Arc` snapshot) shares them.
    pub fn rotate_if_due(&mut self, now: u64, rng: &dyn RandomSource) -> Result<bool, TicketError> {
        let due = self.rotation_due(now);
        if due {
            if let Some(head) = self.keys.first_mut() {
                head.encrypt_until = head.encrypt_until.min(now);
                if now < head.decrypt_until {
                    head.decrypt_until = head
                        .decrypt_until
                        .max(now.saturating_add(self.policy.decrypt_window));
                }
            }
            self.push_fresh(now, rng)?;
        }
        let mut index = 0;
        self.keys.retain(|k| {
            index += 1;
            index == 1 || now < k.decrypt_until
        });
        self.keys.truncate(MAX_RING_KEYS);
        Ok(due)
    }

    /// Starts a new encrypting key now, whatever the schedule; the current one stays
    /// decrypt-only for `decrypt_window`.
    pub fn rotate_now(&mut self, now: u64, rng: &dyn RandomSource) -> Result<(), TicketError> {
        if let Some(head) = self.keys.first_mut() {
            head.encrypt_until = head.encrypt_until.min(now);
            head.decrypt_until = now.saturating_add(self.policy.decrypt_window);
        }
        self.push_fresh(now, rng)?;
        self.keys.truncate(MAX_RING_KEYS);
        Ok(())
    }

    /// Drops every key (after a suspected leak) for one fresh key: no ticket issued before
    /// decrypts any more, and those clients fall back to full handshakes.
    pub fn retire_all(&mut self, now: u64, rng: &dyn RandomSource) -> Result<(), TicketError> {
        self.keys.clear();
        self.push_fresh(now, rng)
    }

    /// The names of the keys, encrypting key first.
    pub fn key_names(&self) -> Vec<[u8; KEY_NAME_LEN]> {
        self.keys.iter().map(TicketKey::name).collect()
    }

    /// The keys, encrypting key first.
    pub fn keys(&self) -> &[TicketKey] {
        &self.keys
    }

    /// How many keys the ring holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the ring holds no key (only possible from empty material).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The rotation policy.
    pub fn policy(&self) -> RotationPolicy {
        self.policy
    }

    /// Whether [`rotate_if_due`](Self::rotate_if_due) would change anything at `now`.
    pub fn needs_rotation(&self, now: u64) -> bool {
        self.rotation_due(now) || self.keys.iter().skip(1).any(|k| now >= k.decrypt_until)
    }

    fn rotation_due(&self, now: u64) -> bool {
        self.keys.first().is_none_or(|k| now >= k.encrypt_until)
    }

    /// Generates a key with a name not already in the ring and puts it at the head.
    fn push_fresh(&mut self, now: u64, rng: &dyn RandomSource) -> Result<(), TicketError> {
        let mut material = TicketKeyMaterial::generate(rng)?;
        while self.find(&material.name).is_some() {
            rng.fill(&mut material.name).map_err(|_| TicketError::Rng)?;
        }
        let encrypt_until = now.saturating_add(self.policy.rotate_every);
        let decrypt_until = encrypt_until.saturating_add(self.policy.decrypt_window);
        let key =
            TicketKey::new(&material, now, encrypt_until, decrypt_until).ok_or(TicketError::Rng)?;
        self.keys.insert(0, key);
        Ok(())
    }

    /// Index of the key named `name`: every name is compared, each in constant time.
    fn find(&self, name: &[u8]) -> Option<usize> {
        let mut found = None;
        for (i, key) in self.keys.iter().enumerate() {
            let equal = constant_time::verify_slices_are_equal(&key.core.name, name).is_ok();
            if equal && found.is_none() {
                found = Some(i);
            }
        }
        found
    }
}

impl fmt::Debug for TicketKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKeyRing")
            .field("keys", &self.keys)
            .field("policy", &self.policy)
            .finish()
    }
}

/// A ring shared by all connections and swapped live.
///
/// Readers get the ring without a lock: [`ring_at`](Self::ring_at) (what a server reads once
/// per ClientHello) hands out a [`RingSnapshot`] that writes no counter other threads
/// read, so threads sharing the keys do not take turns on one cache line;
/// [`current`](Self::current) an [`Arc`]. [`replace`](Self::replace),
/// [`rotate_if_due`](Self::rotate_if_due) and the other writers build the next ring
/// copy-on-write, one at a time, and swap it in; connections holding the old one finish
/// with it.
pub struct TicketKeys {
    ring: ArcSwap<TicketKeyRing>,
    /// Serialises the writers (each builds on the ring it replaces).
    writer: Mutex<()>,
    rotations: AtomicU64,
    retired: AtomicU64,
}

/// The ring as one ClientHello sees it (see [`TicketKeys::ring_at`]). Hold it only while
/// handling that message: a thread keeps a few of these cheaply, and a ring that has been
/// replaced stays in memory while a snapshot of it lives.
pub struct RingSnapshot(arc_swap::Guard<Arc<TicketKeyRing>>);

impl core::ops::Deref for RingSnapshot {
    type Target = TicketKeyRing;
    fn deref(&self) -> &TicketKeyRing {
        &self.0
    }
}

impl TicketKeys {
    /// Shares `ring`.
    pub fn new(ring: TicketKeyRing) -> Self {
        Self {
            ring: ArcSwap::from_pointee(ring),
            writer: Mutex::new(()),
            rotations: AtomicU64::new(0),
            retired: AtomicU64::new(0),
        }
    }

    /// The current ring.
    pub fn current(&self) -> Arc<TicketKeyRing> {
        self.ring.load_full()
    }

    /// The current ring, for one message (see [`RingSnapshot`]): no lock, no shared counter.
    pub fn snapshot(&self) -> RingSnapshot {
        RingSnapshot(self.ring.load())
    }

    /// The ring to use at `now`: rotated first when a rotation is due (if the rotation
    /// fails, the ring as it is). Without a lock when nothing is due.
    pub fn ring_at(&self, now: u64, rng: &dyn RandomSource) -> RingSnapshot {
        let ring = self.ring.load();
        if !ring.needs_rotation(now) {
            return RingSnapshot(ring);
        }
        drop(ring);
        let _ = self.rotate_if_due(now, rng);
        RingSnapshot(self.ring.load())
    }

    fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Swaps in `ring` (e.g. reloaded from a key file). Not counted in
    /// [`rotations`](Self::rotations).
    pub fn replace(&self, ring: TicketKeyRing) {
        let _writing = self.write_lock();
        self.swap(ring);
    }

    /// Puts `next` in the current ring's place (under the writer lock), counting the keys
    /// that left the ring.
    fn swap(&self, next: TicketKeyRing) {
        let gone = self
            .ring
            .load()
            .keys
            .iter()
            .filter(|old| next.find(&old.core.name).is_none())
            .count();
        self.ring.store(Arc::new(next));
        self.retired.fetch_add(gone as u64, Ordering::Relaxed);
    }

    /// Rotates copy-on-write: builds the rotated ring from the current one, then swaps it in.
    /// Cheap when nothing is due (no lock). Returns whether a key was added.
    pub fn rotate_if_due(&self, now: u64, rng: &dyn RandomSource) -> Result<bool, TicketError> {
        if !self.ring.load().needs_rotation(now) {
            return Ok(false);
        }
        let writing = self.write_lock();
        // Another thread may have rotated between the check and the lock.
        let mut next = TicketKeyRing::clone(&self.ring.load());
        if !next.needs_rotation(now) {
            return Ok(false);
        }
        let rotated = next.rotate_if_due(now, rng)?;
        self.swap(next);
        drop(writing);
        if rotated {
            self.rotations.fetch_add(1, Ordering::Relaxed);
        }
        Ok(rotated)
    }

    /// Starts a new encrypting key now ([`TicketKeyRing::rotate_now`]), copy-on-write.
    pub fn rotate_now(&self, now: u64, rng: &dyn RandomSource) -> Result<(), TicketError> {
        let writing = self.write_lock();
        let mut next = TicketKeyRing::clone(&self.ring.load());
        next.rotate_now(now, rng)?;
        self.swap(next);
        drop(writing);
        self.rotations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Drops every key for a fresh one ([`TicketKeyRing::retire_all`]).
    pub fn retire_all(&self, now: u64, rng: &dyn RandomSource) -> Result<(), TicketError> {
        let _writing = self.write_lock();
        let mut next = TicketKeyRing::clone(&self.ring.load());
        next.retire_all(now, rng)?;
        self.swap(next);
        Ok(())
    }

    /// How many keys [`rotate_if_due`](Self::rotate_if_due) has added, for metrics.
    pub fn rotations(&self) -> u64 {
        self.rotations.load(Ordering::Relaxed)
    }

    /// How many keys have left the ring (past their decrypt window, pushed out by a rotation,
    /// retired, or absent from a replacing ring), for metrics.
    pub fn retired(&self) -> u64 {
        self.retired.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKeys")
            .field("ring", &self.current())
            .field("rotations", &self.rotations())
            .field("retired", &self.retired())
            .finish()
    }
}

/// Lower-case hex for `Debug` output of key names.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{RngError, SeededRandom};

    const T0: u64 = 1_700_000_000;
    const POLICY: RotationPolicy = RotationPolicy {
        rotate_every: 3600,
        decrypt_window: 7200,
    };

    struct FailingRandom;

    impl RandomSource for FailingRandom {
        fn fill(&self, _: &mut [u8]) -> Result<(), RngError> {
            Err(RngError)
        }
    }

    fn ring(seed: u64) -> TicketKeyRing {
        TicketKeyRing::new(POLICY, T0, &SeededRandom::new(seed)).unwrap()
    }

    fn seal(ring: &TicketKeyRing, plaintext: &[u8], now: u64) -> Vec<u8> {
        let mut out = Vec::new();
        ring.seal(plaintext, now, &SeededRandom::new(now), &mut out)
            .unwrap();
        out
    }

    fn open(ring: &TicketKeyRing, ticket: &[u8], now: u64) -> Result<(Vec<u8>, bool), TicketError> {
        let mut buf = [0u8; MAX_TICKET_PLAINTEXT];
        let opened = ring.open(ticket, now, &mut buf)?;
        Ok((buf[..opened.len].to_vec(), opened.renew))
    }

    fn material(name: u8, secret: u8) -> TicketKeyMaterial {
        TicketKeyMaterial {
            name: [name; 16],
            secret: Zeroizing::new([secret; 32]),
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let ring = ring(1);
        for len in [0, 1, 100, MAX_TICKET_PLAINTEXT] {
            let record: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let ticket = seal(&ring, &record, T0 + len as u64);
            assert_eq!(ticket.len(), TICKET_OVERHEAD + len);
            assert_eq!(ticket[..16], ring.key_names()[0]);
            assert_eq!(open(&ring, &ticket, T0 + 10).unwrap(), (record, false));
        }
    }

    #[test]
    fn seal_appends_and_rejects_oversized() {
        let ring = ring(2);
        let mut out = b"prefix".to_vec();
        ring.seal(b"record", T0, &SeededRandom::new(0), &mut out)
            .unwrap();
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(open(&ring, &out[6..], T0).unwrap().0, b"record");

        let mut out = b"keep".to_vec();
        let big = [0u8; MAX_TICKET_PLAINTEXT + 1];
        assert_eq!(
            ring.seal(&big, T0, &SeededRandom::new(0), &mut out),
            Err(TicketError::TooLarge)
        );
        assert_eq!(
            ring.seal(b"x", T0, &FailingRandom, &mut out),
            Err(TicketError::Rng)
        );
        assert_eq!(out, b"keep");
    }

    #[test]
    fn every_bit_flip_fails() {
        let ring = ring(3);
        let ticket = seal(&ring, b"a session record of modest size", T0);
        let mut buf = [0u8; MAX_TICKET_PLAINTEXT];
        for byte in 0..ticket.len() {
            for bit in 0..8 {
                let mut bad = ticket.clone();
                bad[byte] ^= 1 << bit;
                let expected = if byte < KEY_NAME_LEN {
                    TicketError::UnknownKeyName
                } else {
                    TicketError::Forged
                };
                assert_eq!(
                    ring.open(&bad, T0, &mut buf),
                    Err(expected),
                    "byte {byte} bit {bit}"
                );
                assert!(
                    buf.iter().all(|&b| b == 0),
                    "plaintext left behind at byte {byte}"
                );
            }
        }
    }

    #[test]
    fn truncated_oversized_and_short_buffers() {
        let ring = ring(4);
        let ticket = seal(&ring, b"0123456789", T0);
        let mut buf = [0u8; MAX_TICKET_PLAINTEXT];
        for len in 0..ticket.len() {
            let expected = if len < TICKET_OVERHEAD {
                TicketError::Malformed
            } else {
                TicketError::Forged
            };
            assert_eq!(
                ring.open(&ticket[..len], T0, &mut buf),
                Err(expected),
                "length {len}"
            );
        }
        let mut long = seal(&ring, &[7; MAX_TICKET_PLAINTEXT], T0);
        assert!(ring.open(&long, T0, &mut buf).is_ok());
        long.push(0);
        assert_eq!(ring.open(&long, T0, &mut buf), Err(TicketError::TooLarge));
        assert_eq!(
            ring.open(&ticket, T0, &mut buf[..9]),
            Err(TicketError::TooLarge)
        );
        assert_eq!(
            ring.open(&ticket, T0, &mut buf[..10]).map(|o| o.len),
            Ok(10)
        );
    }

    #[test]
    fn unknown_key_name() {
        let ticket = seal(&ring(5), b"record", T0);
        assert_eq!(
            open(&ring(6), &ticket, T0),
            Err(TicketError::UnknownKeyName)
        );
        let mut relabelled = ticket.clone();
        relabelled[..16].copy_from_slice(&ring(6).key_names()[0]);
        assert_eq!(open(&ring(6), &relabelled, T0), Err(TicketError::Forged));
    }

    #[test]
    fn rotation_across_periods() {
        let rng = SeededRandom::new(7);
        let mut ring = TicketKeyRing::new(POLICY, T0, &rng).unwrap();
        let first = seal(&ring, b"period one", T0 + 100);

        assert_eq!(ring.rotate_if_due(T0 + 3599, &rng), Ok(false));
        assert_eq!(ring.len(), 1);
        // Overdue head: still seals, tickets open with renew.
        assert!(open(&ring, &first, T0 + 3600).unwrap().1);

        assert_eq!(ring.rotate_if_due(T0 + 3600, &rng), Ok(true));
        assert_eq!(ring.len(), 2);
        let second = seal(&ring, b"period two", T0 + 3700);
        assert_ne!(first[..16], second[..16]);
        assert_eq!(
            open(&ring, &first, T0 + 3700).unwrap(),
            (b"period one".to_vec(), true)
        );
        assert_eq!(
            open(&ring, &second, T0 + 3700).unwrap(),
            (b"period two".to_vec(), false)
        );

        assert_eq!(ring.rotate_if_due(T0 + 7200, &rng), Ok(true));
        assert_eq!(ring.len(), 3);
        assert!(open(&ring, &first, T0 + 7300).unwrap().1);
        assert!(open(&ring, &second, T0 + 7300).unwrap().1);

        // The first key stopped encrypting at T0+3600: it decrypts until T0+3600+7200.
        assert!(open(&ring, &first, T0 + 10_799).unwrap().1);
        assert_eq!(
            open(&ring, &first, T0 + 10_800),
            Err(TicketError::KeyExpired)
        );
        assert_eq!(ring.rotate_if_due(T0 + 10_800, &rng), Ok(true));
        assert_eq!(
            open(&ring, &first, T0 + 10_800),
            Err(TicketError::UnknownKeyName)
        );
        assert!(open(&ring, &second, T0 + 10_800).unwrap().1);
        assert_eq!(ring.len(), 3);
    }

    #[test]
    fn late_rotation_keeps_tickets_for_the_window() {
        let rng = SeededRandom::new(8);
        let mut ring = TicketKeyRing::new(POLICY, T0, &rng).unwrap();
        // Nobody rotated for 2.5 periods; the head kept sealing.
        let late = seal(&ring, b"late", T0 + 9000);
        assert_eq!(ring.rotate_if_due(T0 + 9000, &rng), Ok(true));
        assert_eq!(ring.keys()[1].decrypt_until(), T0 + 9000 + 7200);
        assert!(open(&ring, &late, T0 + 16_199).unwrap().1);
        // A head past its decrypt window neither seals nor opens.
        let mut stale = TicketKeyRing::new(POLICY, T0, &rng).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            stale.seal(b"x", T0 + 10_800, &rng, &mut out),
            Err(TicketError::KeyExpired)
        );
        assert_eq!(stale.rotate_if_due(T0 + 10_800, &rng), Ok(true));
        assert_eq!(stale.len(), 1);
        assert!(stale.seal(b"x", T0 + 10_800, &rng, &mut out).is_ok());
    }

    #[test]
    fn ring_stays_bounded() {
        let rng = SeededRandom::new(9);
        let mut ring = TicketKeyRing::new(POLICY, T0, &rng).unwrap();
        for period in 1..=100 {
            assert_eq!(ring.rotate_if_due(T0 + period * 3600, &rng), Ok(true));
            assert!(ring.len() <= 2 + (POLICY.decrypt_window / POLICY.rotate_every) as usize);
        }
        assert_eq!(ring.len(), 3);
        let mut names = ring.key_names();
        names.dedup();
        assert_eq!(names.len(), 3);

        // Even a degenerate policy cannot grow the ring past the cap.
        let hot = RotationPolicy {
            rotate_every: 0,
            decrypt_window: u64::MAX,
        };
        let mut ring = TicketKeyRing::new(hot, T0, &rng).unwrap();
        for _ in 0..50 {
            ring.rotate_if_due(T0, &rng).unwrap();
        }
        assert_eq!(ring.len(), MAX_RING_KEYS);
    }

    #[test]
    fn shared_keys_replace_and_rotate() {
        let rng = SeededRandom::new(10);
        let keys = TicketKeys::new(TicketKeyRing::new(POLICY, T0, &rng).unwrap());
        let old = keys.current();
        let ticket = seal(&old, b"before swap", T0);

        keys.replace(TicketKeyRing::new(POLICY, T0, &SeededRandom::new(11)).unwrap());
        // The connection still holding the old ring finishes with it.
        assert_eq!(open(&old, &ticket, T0).unwrap().0, b"before swap");
        assert_eq!(seal(&old, b"x", T0)[..16], old.key_names()[0]);
        assert_eq!(
            open(&keys.current(), &ticket, T0),
            Err(TicketError::UnknownKeyName)
        );
        drop(old);

        assert_eq!(keys.rotate_if_due(T0 + 1, &rng), Ok(false));
        let before = keys.current();
        assert_eq!(keys.rotate_if_due(T0 + 3600, &rng), Ok(true));
        assert_eq!(keys.rotate_if_due(T0 + 3601, &rng), Ok(false));
        assert_eq!(keys.rotations(), 1);
        assert_eq!(
            before.len(),
            1,
            "copy-on-write leaves the old ring untouched"
        );
        let after = keys.current();
        assert_eq!(after.len(), 2);
        assert_eq!(after.key_names()[1], before.key_names()[0]);
        let renewed = seal(&before, b"old ring", T0 + 3600);
        assert!(open(&after, &renewed, T0 + 3600).unwrap().1);
    }

    #[test]
    fn shared_keys_across_threads() {
        let keys = Arc::new(TicketKeys::new(ring(12)));
        // The threads share one clock: they take each step together, as servers sharing a
        // ring see the same time (a thread hours ahead would rotate out the key another
        // thread has just sealed with, which is the ring working as meant).
        let clock = Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let keys = Arc::clone(&keys);
                let clock = Arc::clone(&clock);
                std::thread::spawn(move || {
                    let rng = SeededRandom::new(100 + t);
                    for step in 0..50 {
                        clock.wait();
                        let now = T0 + step * 600;
                        keys.rotate_if_due(now, &rng).unwrap();
                        let ring = keys.current();
                        let mut ticket = Vec::new();
                        ring.seal(b"shared", now, &rng, &mut ticket).unwrap();
                        assert_eq!(open(&keys.current(), &ticket, now).unwrap().0, b"shared");
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert!(
            keys.rotations() >= 8 && keys.rotations() <= 9,
            "{}",
            keys.rotations()
        );
    }

    #[test]
    fn from_material_first_encrypts() {
        let ring = TicketKeyRing::from_material(
            vec![material(1, 10), material(2, 20), material(1, 30)],
            POLICY,
            T0,
        );
        assert_eq!(ring.key_names(), vec![[1; 16], [2; 16]]);
        let ticket = seal(&ring, b"from file", T0);
        assert_eq!(ticket[..16], [1; 16]);
        assert_eq!(
            open(&ring, &ticket, T0).unwrap(),
            (b"from file".to_vec(), false)
        );

        // A ring where key 2 encrypts: its tickets open with renew in the first ring.
        let other = TicketKeyRing::from_material(vec![material(2, 20)], POLICY, T0);
        let ticket = seal(&other, b"peer", T0);
        assert_eq!(open(&ring, &ticket, T0).unwrap(), (b"peer".to_vec(), true));
        // File keys never expire on the local clock, and rotation leaves the ring alone: the
        // file's owner rotates by replacing it.
        assert_eq!(
            open(&ring, &ticket, T0 + 10 * 86_400).unwrap(),
            (b"peer".to_vec(), true)
        );
        let mut rotated = ring.clone();
        assert_eq!(
            rotated.rotate_if_due(T0 + 10 * 86_400, &SeededRandom::new(3)),
            Ok(false)
        );
        assert_eq!(rotated.key_names(), ring.key_names());

        // Same name, different secret: a different AEAD key.
        let imposter = TicketKeyRing::from_material(vec![material(1, 99)], POLICY, T0);
        assert_eq!(
            open(&ring, &seal(&imposter, b"x", T0), T0),
            Err(TicketError::Forged)
        );

        let empty = TicketKeyRing::from_material(Vec::new(), POLICY, T0);
        assert!(empty.is_empty());
        assert_eq!(
            empty.seal(b"x", T0, &SeededRandom::new(0), &mut Vec::new()),
            Err(TicketError::KeyExpired)
        );
        assert_eq!(open(&empty, &ticket, T0), Err(TicketError::UnknownKeyName));
    }

    #[test]
    fn seeded_randomness_is_reproducible() {
        let (a, b) = (ring(13), ring(13));
        assert_eq!(a.key_names(), b.key_names());
        assert_eq!(seal(&a, b"same", T0), seal(&b, b"same", T0));
        assert_ne!(seal(&a, b"same", T0), seal(&ring(14), b"same", T0));
        assert!(TicketKeyRing::new(POLICY, T0, &FailingRandom).is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let m = material(0xab, 0xcd);
        let text = format!(
            "{m:?} {:?}",
            TicketKeyRing::from_material(vec![material(0xab, 0xcd)], POLICY, T0)
        );
        assert!(text.contains(&"ab".repeat(16)));
        assert!(!text.contains("cdcd") && !text.contains("205"));
    }

    #[test]
    fn rotate_now_starts_a_key_and_old_tickets_still_open() {
        let keys = TicketKeys::new(ring(1));
        let before = seal(&keys.current(), b"session", T0 + 10);
        keys.rotate_now(T0 + 20, &SeededRandom::new(2)).unwrap();
        let ring = keys.current();
        assert_eq!(ring.len(), 2);
        assert_eq!(keys.rotations(), 1);
        assert_eq!(keys.retired(), 0, "the old key still decrypts");
        let mut out = vec![0; 64];
        let opened = ring.open(&before, T0 + 30, &mut out).unwrap();
        assert!(opened.renew, "a ticket under the old key is renewed");
    }

    #[test]
    fn retire_all_makes_every_outstanding_ticket_unreadable() {
        let keys = TicketKeys::new(ring(3));
        let before = seal(&keys.current(), b"session", T0 + 10);
        keys.retire_all(T0 + 20, &SeededRandom::new(4)).unwrap();
        let ring = keys.current();
        assert_eq!(ring.len(), 1);
        assert_eq!(keys.retired(), 1, "the one key is counted as retired");
        keys.replace(TicketKeyRing::clone(&ring));
        assert_eq!(
            keys.retired(),
            1,
            "a replacing ring with the same key retires none"
        );
        let mut out = vec![0; 64];
        assert!(ring.open(&before, T0 + 30, &mut out).is_err());
        // New tickets work.
        let after = seal(&ring, b"session", T0 + 40);
        assert!(ring.open(&after, T0 + 50, &mut out).is_ok());
    }
}
