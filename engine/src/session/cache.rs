//! The in-memory session-ID cache: sharded, LRU, bounded by a byte budget and a timeout.
//!
//! # Memory layout
//!
//! The cache is split into a power-of-two number of shards (16 by default), each behind its
//! own [`Mutex`]; an ID's shard is chosen by hashing it. Everything a shard will ever need is
//! allocated when the cache is made, so neither [`get`](SessionStore::get) nor
//! [`put`](SessionStore::put) allocates on the heap:
//!
//! * a **slab of fixed-size slots** ([`SLOT_SIZE`] = 120 bytes). A slot holds
//!   - a 16-byte **ID tag**: the first 16 bytes of the session ID, or, for a shorter ID, the
//!     ID padded with bytes equal to its length; plus the ID's length (1 byte),
//!   - the 48-byte master secret, the suite (2), an EMS flag (1), `created` (8) and the
//!     effective lifetime (4),
//!   - the server name and ALPN protocol **inline**, sharing [`INLINE_NAMES_LEN`] = 26
//!     bytes (plus a length byte each),
//!   - the intrusive LRU links, `u32` slot numbers `prev` and `next` (8). A free slot is
//!     chained into the shard's free list through `next`,
//!   - `ext` (4), the first of the session's extension slots, or none.
//! * **extension slots** for a session made with a client certificate: its client section
//!   (the encoding of [`SessionRecord`] version 2 uses, 59 bytes plus the certificate's
//!   serial, subject and alternative names) is spread over [`EXT_BYTES`] = 90 bytes of each further slot of the
//!   same slab (their secret, tag and names arrays), chained through `ext`. Extension
//!   slots are neither indexed nor in the LRU list; they are taken from the free list with
//!   their session and given back with it. Plain and client sessions share one budget.
//! * an **open-addressing index**: a `Vec<u32>` of slot numbers (`0` = empty, else slot + 1),
//!   linear probing, at most 3/4 full (about 5.3 bytes per slot), with backward-shift
//!   deletion so there are no tombstones. The home position is the high bits of a 64-bit
//!   mix of the tag (the low bits choose the shard).
//!
//! That is 120 + 4 × 4/3 ≈ 125.3 bytes per cached session including the index, the links
//! and the per-shard bookkeeping, measured by [`SessionCache::bytes_per_session`]. A session
//! with a client certificate whose serial, subject and alternative names take up to 121 bytes
//! together (a 20-byte serial, a subject like `CN=device-17,O=Example,C=DE` and a DNS name) uses two extension slots:
//! 3 × 120 + 5.3 ≈ 365.3 bytes ([`SessionCache::slots_for`] says how many a record needs).
//!
//! # What is kept, and what is not cached
//!
//! Session IDs are 32 random bytes made by the server, so the first 16 are enough to tell
//! them apart; an ID is not a secret (it is sent in clear), the security of resumption rests
//! on the master secret. A lookup still compares the whole stored tag in constant time, and
//! the ID length too, so IDs of 1..=15 bytes work and an ID does not match a longer one that
//! starts with it. Two IDs of the same length ≥ 16 that share their first 16 bytes are the
//! same key.
//!
//! The decoded record is exact: nothing is hashed or cut. A session whose server name and
//! ALPN protocol together exceed [`INLINE_NAMES_LEN`] bytes is **not cached** (the put is
//! counted in [`CacheStats::uncacheable`] and any older entry under that ID is dropped); its
//! client simply does a full handshake next time. `www.example.com` + `http/1.1` takes 23.
//! (An ALPN protocol longer than 16 bytes fits but makes the decoded record's `alpn` spill
//! to the heap.)
//!
//! # Time
//!
//! An entry lives `min(record.lifetime, timeout)` seconds from its `created` time. Expired
//! entries are removed when looked up (counted as expired, answered [`Lookup::Missing`]),
//! and each put first reclaims the LRU tail if it has expired. When a shard is full, a put
//! evicts its least recently used entry. Master secrets are wiped whenever a slot is
//! removed, evicted or overwritten, and when the cache is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use aws_lc_rs::constant_time;
use smallvec::SmallVec;
use zeroize::Zeroize;

use super::record::{decode_client, encode_client, valid_window, SessionRecord, MAX_CLIENT_LEN};
use super::store::{Lookup, SessionStore};
use crate::crypto::prf::{MasterSecret, MASTER_SECRET_LEN};

/// Bytes a slot keeps for the server name and the ALPN protocol together.
pub const INLINE_NAMES_LEN: usize = 26;

/// Bytes of a client section one extension slot holds.
pub const EXT_BYTES: usize = MASTER_SECRET_LEN + TAG_LEN + INLINE_NAMES_LEN;

/// The most extension slots a session takes.
const MAX_EXT_SLOTS: usize = MAX_CLIENT_LEN.div_ceil(EXT_BYTES);

/// Size of one slot of the slab, in bytes.
pub const SLOT_SIZE: usize = core::mem::size_of::<Slot>();

/// Shard count of [`SessionCache::new`].
pub const DEFAULT_SHARDS: usize = 16;

/// Longest session ID (RFC 5246 §7.4.1.2).
const MAX_ID_LEN: usize = 32;

/// Bytes of the ID kept in a slot.
const TAG_LEN: usize = 16;

/// "No slot" in links and lists.
const NIL: u32 = u32::MAX;

/// Counters of a [`SessionCache`], since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups that found a valid session.
    pub hits: u64,
    /// Lookups that found nothing (not counting expired entries).
    pub misses: u64,
    /// Entries found expired (by a lookup or reclaimed by a put) and removed.
    pub expired: u64,
    /// Live entries evicted to make room.
    pub evictions: u64,
    /// Sessions stored (new or replacing one under the same ID).
    pub inserts: u64,
    /// Sessions not stored because their names do not fit a slot.
    pub uncacheable: u64,
}

impl CacheStats {
    fn add(&mut self, other: &CacheStats) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.expired += other.expired;
        self.evictions += other.evictions;
        self.inserts += other.inserts;
        self.uncacheable += other.uncacheable;
    }
}

/// A shard behind its lock, alone on its cache lines: threads working in different shards
/// never write a line another shard's lock or counters are on.
#[repr(align(128))]
struct ShardLock(Mutex<Shard>);

/// One cached session, with its ID tag and LRU links.
struct Slot {
    master: [u8; MASTER_SECRET_LEN],
    tag: [u8; TAG_LEN],
    created: u64,
    lifetime: u32,
    prev: u32,
    next: u32,
    /// The first extension slot (of a session with a client certificate), or the next one
    /// (of an extension slot); [`NIL`] for none.
    ext: u32,
    suite: u16,
    ems: bool,
    id_len: u8,
    sni_len: u8,
    alpn_len: u8,
    names: [u8; INLINE_NAMES_LEN],
}

impl Slot {
    const EMPTY: Slot = Slot {
        master: [0; MASTER_SECRET_LEN],
        tag: [0; TAG_LEN],
        created: 0,
        lifetime: 0,
        prev: NIL,
        next: NIL,
        ext: NIL,
        suite: 0,
        ems: false,
        id_len: 0,
        sni_len: 0,
        alpn_len: 0,
        names: [0; INLINE_NAMES_LEN],
    };

    /// Stores `rec` (whose names fit) under `key`, wiping what was there.
    fn fill(&mut self, key: &Key, rec: &SessionRecord, lifetime: u32) {
        self.wipe();
        self.master.copy_from_slice(rec.master_secret.as_bytes());
        self.tag = key.tag;
        self.id_len = key.id_len;
        self.created = rec.created;
        self.lifetime = lifetime;
        self.suite = rec.suite_id;
        self.ems = rec.extended_master_secret;
        let (sni, alpn) = (rec.server_name.len(), rec.alpn.len());
        self.names[..sni].copy_from_slice(&rec.server_name);
        self.names[sni..sni + alpn].copy_from_slice(&rec.alpn);
        // Both fit in INLINE_NAMES_LEN (< 256), checked by the caller.
        self.sni_len = sni as u8;
        self.alpn_len = alpn as u8;
    }

    fn wipe(&mut self) {
        self.master.zeroize();
        self.tag.zeroize();
        self.names.zeroize();
    }

    /// Makes this an extension slot holding `chunk` (at most [`EXT_BYTES`]).
    fn store_ext(&mut self, chunk: &[u8]) {
        self.wipe();
        let (secret, rest) = chunk.split_at(chunk.len().min(MASTER_SECRET_LEN));
        self.master[..secret.len()].copy_from_slice(secret);
        let (tag, names) = rest.split_at(rest.len().min(TAG_LEN));
        self.tag[..tag.len()].copy_from_slice(tag);
        self.names[..names.len()].copy_from_slice(names);
    }

    /// The [`EXT_BYTES`] an extension slot holds, into `out`.
    fn load_ext(&self, out: &mut [u8]) {
        let (secret, rest) = out.split_at_mut(MASTER_SECRET_LEN);
        let (tag, names) = rest.split_at_mut(TAG_LEN);
        secret.copy_from_slice(&self.master);
        tag.copy_from_slice(&self.tag);
        names.copy_from_slice(&self.names);
    }

    fn record(&self) -> SessionRecord {
        let sni = usize::from(self.sni_len);
        let alpn = usize::from(self.alpn_len);
        SessionRecord {
            suite_id: self.suite,
            extended_master_secret: self.ems,
            master_secret: MasterSecret::from_bytes(self.master),
            created: self.created,
            lifetime: self.lifetime,
            server_name: SmallVec::from_slice(&self.names[..sni]),
            alpn: SmallVec::from_slice(&self.names[sni..sni + alpn]),
            client: None,
        }
    }

    fn is_valid_at(&self, now: u64) -> bool {
        valid_window(self.created, self.lifetime, now)
    }
}

/// A session ID reduced to what a slot keeps.
struct Key {
    tag: [u8; TAG_LEN],
    id_len: u8,
    hash: u64,
}

impl Key {
    /// `None` for IDs outside 1..=32 bytes.
    fn new(id: &[u8]) -> Option<Key> {
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return None;
        }
        let id_len = id.len() as u8; // ≤ 32
        let mut tag = [id_len; TAG_LEN];
        let n = id.len().min(TAG_LEN);
        tag[..n].copy_from_slice(&id[..n]);
        Some(Key {
            tag,
            id_len,
            hash: hash_tag(&tag),
        })
    }
}

/// A 64-bit mix of a tag (splitmix64's finaliser over both halves). The server makes the
/// IDs that get stored, so no keyed hash is needed against flooding.
fn hash_tag(tag: &[u8; TAG_LEN]) -> u64 {
    let mut lo = [0; 8];
    let mut hi = [0; 8];
    lo.copy_from_slice(&tag[..8]);
    hi.copy_from_slice(&tag[8..]);
    mix(u64::from_le_bytes(lo) ^ mix(u64::from_le_bytes(hi) ^ 0x9e37_79b9_7f4a_7c15))
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Index entries for a shard of `cap` slots: at most 3/4 full, never full.
fn index_len(cap: usize) -> usize {
    cap + cap.div_ceil(3) + 1
}

/// Heap bytes of a shard of `cap` slots.
fn shard_bytes(cap: usize) -> usize {
    cap * SLOT_SIZE + index_len(cap) * core::mem::size_of::<u32>()
}

/// One shard: a slab of slots, its index, its LRU list and its free list.
struct Shard {
    /// Never grows past its initial capacity, so pushes do not reallocate.
    slots: Vec<Slot>,
    /// Slot number + 1, or 0 for an empty entry.
    index: Vec<u32>,
    cap: usize,
    /// Most recently used.
    head: u32,
    /// Least recently used.
    tail: u32,
    free: u32,
    /// Slots in the free list.
    free_len: usize,
    /// Sessions cached (extension slots not counted).
    live: usize,
    /// This shard's counters, kept under its lock: a lookup writes no line that every
    /// thread writes.
    counts: CacheStats,
}

impl Shard {
    fn new(cap: usize) -> Shard {
        Shard {
            slots: Vec::with_capacity(cap),
            index: vec![0; index_len(cap)],
            cap,
            head: NIL,
            tail: NIL,
            free: NIL,
            free_len: 0,
            live: 0,
            counts: CacheStats::default(),
        }
    }

    fn home(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.index.len() as u128) >> 64) as usize
    }

    fn step(&self, pos: usize) -> usize {
        if pos + 1 == self.index.len() {
            0
        } else {
            pos + 1
        }
    }

    /// The index position and slot of `key`.
    fn find(&self, key: &Key) -> Option<(usize, u32)> {
        let mut pos = self.home(key.hash);
        for _ in 0..self.index.len() {
            let entry = self.index[pos];
            if entry == 0 {
                return None;
            }
            let slot = &self.slots[(entry - 1) as usize];
            let same_tag = constant_time::verify_slices_are_equal(&slot.tag, &key.tag).is_ok();
            if same_tag && slot.id_len == key.id_len {
                return Some((pos, entry - 1));
            }
            pos = self.step(pos);
        }
        None
    }

    /// The index position of live slot `slot`.
    fn position_of(&self, slot: u32) -> Option<usize> {
        let mut pos = self.home(hash_tag(&self.slots[slot as usize].tag));
        for _ in 0..self.index.len() {
            match self.index[pos] {
                0 => return None,
                e if e - 1 == slot => return Some(pos),
                _ => pos = self.step(pos),
            }
        }
        None
    }

    fn index_insert(&mut self, hash: u64, slot: u32) {
        let mut pos = self.home(hash);
        while self.index[pos] != 0 {
            pos = self.step(pos);
        }
        self.index[pos] = slot + 1;
    }

    /// Empties index entry `pos`, shifting later entries of its cluster back so that every
    /// entry stays reachable from its home position.
    fn index_remove(&mut self, pos: usize) {
        let len = self.index.len();
        let mut hole = pos;
        let mut j = pos;
        loop {
            j = self.step(j);
            let entry = self.index[j];
            if entry == 0 {
                break;
            }
            let home = self.home(hash_tag(&self.slots[(entry - 1) as usize].tag));
            // The entry may move into the hole if the hole lies between its home and j.
            if (j + len - home) % len >= (j + len - hole) % len {
                self.index[hole] = entry;
                hole = j;
            }
        }
        self.index[hole] = 0;
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = (self.slots[i as usize].prev, self.slots[i as usize].next);
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        self.slots[i as usize].prev = NIL;
        self.slots[i as usize].next = NIL;
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        self.slots[i as usize].prev = NIL;
        self.slots[i as usize].next = old;
        if old == NIL {
            self.tail = i;
        } else {
            self.slots[old as usize].prev = i;
        }
        self.head = i;
    }

    fn touch(&mut self, i: u32) {
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
    }

    /// Removes live slot `i` (at index position `pos`) with its extension slots, wipes them
    /// and frees them.
    fn remove_at(&mut self, pos: usize, i: u32) {
        self.index_remove(pos);
        self.unlink(i);
        let mut next = i;
        while next != NIL {
            let slot = &mut self.slots[next as usize];
            let this = next;
            next = slot.ext;
            slot.ext = NIL;
            slot.wipe();
            slot.next = self.free;
            self.free = this;
            self.free_len += 1;
        }
        self.live -= 1;
    }

    /// Slots a put can take without evicting.
    fn free_count(&self) -> usize {
        self.free_len + (self.cap - self.slots.len())
    }

    /// The client section of the session in slot `i`, read from its extension slots.
    fn client_of(&self, i: u32) -> Option<crate::client_auth::ClientIdentity> {
        let mut next = self.slots[i as usize].ext;
        if next == NIL {
            return None;
        }
        let mut bytes = [0u8; MAX_EXT_SLOTS * EXT_BYTES];
        for part in bytes.chunks_mut(EXT_BYTES) {
            if next == NIL {
                break;
            }
            self.slots[next as usize].load_ext(part);
            next = self.slots[next as usize].ext;
        }
        decode_client(&bytes).ok().map(|(client, _)| client)
    }

    fn remove_slot(&mut self, i: u32) {
        if let Some(pos) = self.position_of(i) {
            self.remove_at(pos, i);
        }
    }

    /// A free slot, if there is one without evicting.
    fn take_free(&mut self) -> Option<u32> {
        if self.free != NIL {
            let i = self.free;
            self.free = self.slots[i as usize].next;
            self.slots[i as usize].next = NIL;
            self.free_len -= 1;
            Some(i)
        } else if self.slots.len() < self.cap {
            self.slots.push(Slot::EMPTY);
            Some((self.slots.len() - 1) as u32)
        } else {
            None
        }
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        for slot in &mut self.slots {
            slot.wipe();
        }
    }
}

/// The in-memory session-ID cache: sharded, LRU, bounded by a byte budget and a timeout.
/// Every shard allocates its fixed-size slots when the cache is made, so neither a lookup nor
/// a store allocates; a session that would not fit evicts the least recently used.
pub struct SessionCache {
    shards: Box<[ShardLock]>,
    mask: usize,
    timeout: u32,
    capacity: usize,
    bytes_used: usize,
    /// Lookups of an ID no session can have (empty or longer than 32 bytes), which no
    /// shard holds; counted as misses.
    malformed_lookups: AtomicU64,
}

impl core::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionCache")
            .field("shards", &self.shards.len())
            .field("capacity", &self.capacity)
            .field("timeout", &self.timeout)
            .field("bytes_used", &self.bytes_used)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl SessionCache {
    /// A cache using at most about `byte_budget` bytes, in [`DEFAULT_SHARDS`] shards, keeping
    /// sessions at most `timeout_secs` seconds.
    #[must_use]
    pub fn new(byte_budget: usize, timeout_secs: u32) -> Self {
        Self::with_shards(byte_budget, timeout_secs, DEFAULT_SHARDS)
    }

    /// As [`new`](Self::new) with `shards` shards, rounded up to a power of two (at least 1).
    /// The budget is split evenly; each shard gets at least one slot, so a budget smaller
    /// than one slot per shard is exceeded.
    #[must_use]
    pub fn with_shards(byte_budget: usize, timeout_secs: u32, shards: usize) -> Self {
        let shards = shards
            .max(1)
            .checked_next_power_of_two()
            .unwrap_or(1 << 16)
            .min(1 << 16);
        let per_shard = (byte_budget / shards).saturating_sub(core::mem::size_of::<ShardLock>());
        // Slots cost SLOT_SIZE plus 4 × 4/3 bytes of index; step down past rounding. Slot
        // numbers must stay below NIL.
        let mut cap = (per_shard.saturating_mul(3) / (3 * SLOT_SIZE + 16)).min(NIL as usize - 1);
        while cap > 1 && shard_bytes(cap) > per_shard {
            cap -= 1;
        }
        let cap = cap.max(1);
        let shards: Box<[ShardLock]> = (0..shards)
            .map(|_| ShardLock(Mutex::new(Shard::new(cap))))
            .collect();
        let bytes_used = shards.len() * core::mem::size_of::<ShardLock>()
            + shards
                .iter()
                .map(|s| {
                    let s = lock(s);
                    s.slots.capacity() * SLOT_SIZE
                        + s.index.capacity() * core::mem::size_of::<u32>()
                })
                .sum::<usize>();
        Self {
            mask: shards.len() - 1,
            capacity: cap * shards.len(),
            shards,
            timeout: timeout_secs,
            bytes_used,
            malformed_lookups: AtomicU64::new(0),
        }
    }

    /// Sessions currently cached (expired ones not yet reclaimed included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).live).sum()
    }

    /// Whether no session is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cache's heap bytes: the slot slabs (with the LRU links), the indexes and the shard
    /// headers, all allocated up front and counted by capacity.
    #[must_use]
    pub fn bytes_used(&self) -> usize {
        self.bytes_used
    }

    /// Heap bytes per cached session when the cache is full:
    /// [`bytes_used`](Self::bytes_used) / [`capacity`](Self::capacity).
    #[must_use]
    pub fn bytes_per_session(&self) -> f64 {
        self.bytes_used as f64 / self.capacity as f64
    }

    /// How many slots `record` takes: 1, plus the extension slots of its client section;
    /// `None` when it is not cached (names longer than [`INLINE_NAMES_LEN`] together, or a
    /// client section that does not encode).
    #[must_use]
    pub fn slots_for(record: &SessionRecord) -> Option<usize> {
        let mut section = [0u8; MAX_CLIENT_LEN];
        encoded_section(record, &mut section).and_then(|len| slots_needed(record, len))
    }

    /// How many sessions without a client certificate fit (the sum of the shards' slot
    /// counts); a session with one takes [`slots_for`](Self::slots_for) slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The counters so far (each shard's, summed: this takes every shard's lock in turn).
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        let mut total = CacheStats {
            misses: self.malformed_lookups.load(Ordering::Relaxed),
            ..CacheStats::default()
        };
        for shard in self.shards.iter() {
            total.add(&lock(shard).counts);
        }
        total
    }

    /// The longest time, in seconds, a session is kept.
    #[must_use]
    pub fn timeout(&self) -> u32 {
        self.timeout
    }

    fn shard(&self, key: &Key) -> MutexGuard<'_, Shard> {
        lock(&self.shards[key.hash as usize & self.mask])
    }
}

/// `record`'s client section encoded into `out`: its length (0 without a client), or `None`
/// when it does not encode.
fn encoded_section(record: &SessionRecord, out: &mut [u8; MAX_CLIENT_LEN]) -> Option<usize> {
    match &record.client {
        None => Some(0),
        Some(client) => encode_client(client, out).ok(),
    }
}

/// Slots a record whose client section takes `section_len` bytes needs; `None` when its
/// names do not fit a slot.
fn slots_needed(record: &SessionRecord, section_len: usize) -> Option<usize> {
    (record.server_name.len() + record.alpn.len() <= INLINE_NAMES_LEN)
        .then(|| 1 + section_len.div_ceil(EXT_BYTES))
}

fn lock(shard: &ShardLock) -> MutexGuard<'_, Shard> {
    shard.0.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SessionStore for SessionCache {
    fn report_metrics(&self, sink: &mut dyn crate::metrics::MetricSink) {
        let s = self.stats();
        for (name, help, value) in [
            (
                "reprise_session_cache_hits_total",
                "Session-ID cache lookups that found a valid session.",
                s.hits,
            ),
            (
                "reprise_session_cache_misses_total",
                "Session-ID cache lookups that found nothing.",
                s.misses,
            ),
            (
                "reprise_session_cache_expired_total",
                "Cached sessions found expired and removed.",
                s.expired,
            ),
            (
                "reprise_session_cache_evictions_total",
                "Live cached sessions evicted to make room.",
                s.evictions,
            ),
            (
                "reprise_session_cache_inserts_total",
                "Sessions stored in the cache.",
                s.inserts,
            ),
        ] {
            sink.counter(name, help, &[], value);
        }
        sink.gauge(
            "reprise_session_cache_sessions",
            "Sessions in the cache now.",
            &[],
            self.len() as f64,
        );
    }

    fn get(&self, id: &[u8], now: u64) -> Lookup {
        let Some(key) = Key::new(id) else {
            self.malformed_lookups.fetch_add(1, Ordering::Relaxed);
            return Lookup::Missing;
        };
        let mut shard = self.shard(&key);
        let Some((pos, i)) = shard.find(&key) else {
            shard.counts.misses += 1;
            return Lookup::Missing;
        };
        if !shard.slots[i as usize].is_valid_at(now) {
            shard.remove_at(pos, i);
            shard.counts.expired += 1;
            return Lookup::Missing;
        }
        shard.touch(i);
        let mut record = shard.slots[i as usize].record();
        if shard.slots[i as usize].ext != NIL {
            match shard.client_of(i) {
                Some(client) => record.client = Some(client),
                None => {
                    // Unreachable: put wrote a section that decodes. Never resume it
                    // without its client.
                    shard.remove_at(pos, i);
                    shard.counts.misses += 1;
                    return Lookup::Missing;
                }
            }
        }
        shard.counts.hits += 1;
        Lookup::Found(record)
    }

    fn put(&self, id: &[u8], record: &SessionRecord, now: u64) {
        let Some(key) = Key::new(id) else {
            return;
        };
        let lifetime = record.lifetime.min(self.timeout);
        let mut section = [0u8; MAX_CLIENT_LEN];
        let section_len = encoded_section(record, &mut section);
        let mut shard = self.shard(&key);
        let needed = section_len
            .and_then(|len| Some((slots_needed(record, len)?, len)))
            .filter(|(slots, _)| *slots <= shard.cap);

        // Reclaim the least recently used entry if it has expired.
        let tail = shard.tail;
        if tail != NIL && !shard.slots[tail as usize].is_valid_at(now) {
            shard.remove_slot(tail);
            shard.counts.expired += 1;
        }

        // A session under the same ID is replaced.
        if let Some((pos, i)) = shard.find(&key) {
            shard.remove_at(pos, i);
        }
        let Some((needed, section_len)) = needed else {
            // Not storable: no older session answers for this ID any more.
            shard.counts.uncacheable += 1;
            return;
        };
        if !valid_window(record.created, lifetime, now) {
            return;
        }
        while shard.free_count() < needed && shard.tail != NIL {
            let victim = shard.tail;
            shard.remove_slot(victim);
            shard.counts.evictions += 1;
        }
        let Some(i) = shard.take_free() else {
            return; // unreachable: a shard holds at least `needed` slots
        };
        shard.slots[i as usize].fill(&key, record, lifetime);
        let mut last = i;
        for chunk in section[..section_len].chunks(EXT_BYTES) {
            let Some(e) = shard.take_free() else {
                break; // unreachable: `needed` slots were free
            };
            shard.slots[e as usize].store_ext(chunk);
            shard.slots[last as usize].ext = e;
            last = e;
        }
        shard.slots[last as usize].ext = NIL;
        shard.index_insert(key.hash, i);
        shard.push_front(i);
        shard.live += 1;
        shard.counts.inserts += 1;
    }

    fn remove(&self, id: &[u8]) {
        let Some(key) = Key::new(id) else {
            return;
        };
        let mut shard = self.shard(&key);
        if let Some((pos, i)) = shard.find(&key) {
            shard.remove_at(pos, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn id(n: u64) -> [u8; 32] {
        // Spread like random server-made IDs.
        let mut id = [0u8; 32];
        for (k, chunk) in id.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&mix(n ^ mix(k as u64 + 1)).to_le_bytes());
        }
        id
    }

    fn typical(n: u64, created: u64) -> SessionRecord {
        let mut secret = [0u8; MASTER_SECRET_LEN];
        secret[..8].copy_from_slice(&n.to_be_bytes());
        secret[47] = 0x5a;
        SessionRecord {
            suite_id: 0xc02f,
            extended_master_secret: true,
            master_secret: MasterSecret::from_bytes(secret),
            created,
            lifetime: 7200,
            server_name: SmallVec::from_slice(b"www.example.com"),
            alpn: SmallVec::from_slice(b"http/1.1"),
            client: None,
        }
    }

    fn with_client(n: u64, created: u64) -> SessionRecord {
        let mut rec = typical(n, created);
        let mut client = crate::session::record::tests::device_identity();
        client.serial[..8].copy_from_slice(&n.to_be_bytes());
        rec.client = Some(client);
        rec
    }

    #[test]
    fn client_sessions_round_trip_in_extension_slots() {
        let cache = SessionCache::with_shards(64 << 10, 7200, 1);
        let rec = with_client(1, NOW);
        assert_eq!(SessionCache::slots_for(&rec), Some(3));
        assert_eq!(SessionCache::slots_for(&typical(1, NOW)), Some(1));
        let per_client = 3.0 * SLOT_SIZE as f64 + (cache.bytes_per_session() - SLOT_SIZE as f64);
        println!(
            "bytes per cached session: {:.1} without a client certificate, {per_client:.1} with one",
            cache.bytes_per_session()
        );
        cache.put(&id(1), &rec, NOW);
        cache.put(&id(2), &typical(2, NOW), NOW);
        assert_eq!(found(cache.get(&id(1), NOW)), rec);
        assert_eq!(found(cache.get(&id(2), NOW)), typical(2, NOW));
        let before = lock(&cache.shards[0]).free_count();
        // Replacing a client session with a plain one gives its extension slots back.
        cache.put(&id(1), &typical(1, NOW), NOW);
        assert_eq!(lock(&cache.shards[0]).free_count(), before + 2);
        assert_eq!(found(cache.get(&id(1), NOW)), typical(1, NOW));
        cache.put(&id(1), &rec, NOW);
        cache.remove(&id(1));
        assert_eq!(lock(&cache.shards[0]).free_count(), before + 3);
        assert_eq!(cache.get(&id(1), NOW), Lookup::Missing);
    }

    #[test]
    fn client_sessions_evict_enough_and_share_the_budget() {
        let cache = SessionCache::with_shards(32 << 10, 7200, 1);
        let cap = cache.capacity() as u64;
        for n in 0..cap {
            cache.put(&id(n), &typical(n, NOW), NOW);
        }
        // A client session evicts the three least recently used plain ones.
        cache.put(&id(cap), &with_client(cap, NOW), NOW);
        assert_eq!(cache.stats().evictions, 3);
        for n in 0..3 {
            assert_eq!(cache.get(&id(n), NOW), Lookup::Missing);
        }
        assert_eq!(found(cache.get(&id(cap), NOW)), with_client(cap, NOW));
        // Only client sessions: a third as many fit, and every one reads back whole.
        for n in 0..cap {
            cache.put(&id(1000 + n), &with_client(1000 + n, NOW), NOW);
        }
        assert_eq!(cache.len() as u64, cap / 3);
        for n in cap - cap / 3..cap {
            assert_eq!(
                found(cache.get(&id(1000 + n), NOW)),
                with_client(1000 + n, NOW)
            );
        }
        // Expiry reclaims a client session's slots too.
        let later = NOW + 7200;
        cache.put(&id(1), &typical(1, later), later);
        assert!(cache.stats().expired >= 1);
    }

    fn found(l: Lookup) -> SessionRecord {
        match l {
            Lookup::Found(r) => r,
            other => panic!("expected Found, got {other:?}"),
        }
    }

    #[test]
    fn slot_size() {
        assert_eq!(SLOT_SIZE, 120);
    }

    #[test]
    fn put_get_miss() {
        let cache = SessionCache::new(1 << 20, 3600);
        assert!(cache.is_empty());
        let rec = typical(1, NOW);
        cache.put(&id(1), &rec, NOW);
        assert_eq!(cache.len(), 1);
        let mut expected = rec.clone();
        expected.lifetime = 3600;
        assert_eq!(found(cache.get(&id(1), NOW + 10)), expected);
        assert_eq!(cache.get(&id(2), NOW), Lookup::Missing);
        assert_eq!(cache.get(&[], NOW), Lookup::Missing);
        assert_eq!(cache.get(&[1; 33], NOW), Lookup::Missing);
        // A longer ID starting with the same 16 bytes is another ID.
        assert_eq!(cache.get(&id(1)[..16], NOW), Lookup::Missing);
        assert_eq!(cache.get(&id(1)[..31], NOW), Lookup::Missing);

        // Lifetime shorter than the timeout is kept.
        let mut short = typical(3, NOW);
        short.lifetime = 10;
        cache.put(&id(3), &short, NOW);
        assert_eq!(found(cache.get(&id(3), NOW)).lifetime, 10);
    }

    #[test]
    fn short_ids() {
        let cache = SessionCache::with_shards(1 << 16, 3600, 1);
        for len in 1..=32u8 {
            let ident: Vec<u8> = (0..len).map(|b| b.wrapping_mul(7)).collect();
            cache.put(&ident, &typical(u64::from(len), NOW), NOW);
        }
        assert_eq!(cache.len(), 32);
        for len in 1..=32u8 {
            let ident: Vec<u8> = (0..len).map(|b| b.wrapping_mul(7)).collect();
            let r = found(cache.get(&ident, NOW));
            assert_eq!(
                &r.master_secret.as_bytes()[..8],
                &u64::from(len).to_be_bytes()
            );
        }
        // A 15-byte ID and the 16-byte ID equal to it padded with 15 share a tag but not a
        // length: they are different keys.
        let short: Vec<u8> = (0..15u8).map(|b| b.wrapping_mul(7)).collect();
        let mut padded = short.clone();
        padded.push(15);
        cache.put(&padded, &typical(99, NOW), NOW);
        let r = found(cache.get(&padded, NOW));
        assert_eq!(&r.master_secret.as_bytes()[..8], &99u64.to_be_bytes());
        let r = found(cache.get(&short, NOW));
        assert_eq!(&r.master_secret.as_bytes()[..8], &15u64.to_be_bytes());
    }

    #[test]
    fn expiry_at_timeout_boundary() {
        let cache = SessionCache::new(1 << 20, 300);
        cache.put(&id(1), &typical(1, NOW), NOW);
        assert!(matches!(cache.get(&id(1), NOW + 299), Lookup::Found(_)));
        assert_eq!(cache.get(&id(1), NOW + 300), Lookup::Missing);
        assert_eq!(cache.len(), 0);
        let s = cache.stats();
        assert_eq!((s.hits, s.expired, s.misses), (1, 1, 0));
        assert_eq!(cache.get(&id(1), NOW + 300), Lookup::Missing);
        assert_eq!(cache.stats().misses, 1);

        // Already expired: not stored. Made too far in the future: not stored.
        cache.put(&id(2), &typical(2, NOW - 300), NOW);
        cache.put(&id(3), &typical(3, NOW + 61), NOW);
        assert!(cache.is_empty());
        cache.put(&id(4), &typical(4, NOW + 60), NOW);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn put_reclaims_expired_tail() {
        let cache = SessionCache::with_shards(1 << 16, 300, 1);
        cache.put(&id(1), &typical(1, NOW), NOW);
        cache.put(&id(2), &typical(2, NOW + 200), NOW + 200);
        cache.put(&id(3), &typical(3, NOW + 400), NOW + 400);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.stats().expired, 1);
        assert_eq!(cache.stats().evictions, 0);
    }

    #[test]
    fn lru_eviction_order() {
        let cache = SessionCache::with_shards(4 * 128, 3600, 1);
        let cap = cache.capacity();
        assert!(cap >= 2, "capacity {cap}");
        for n in 0..cap as u64 {
            cache.put(&id(n), &typical(n, NOW), NOW);
        }
        assert_eq!(cache.len(), cap);
        // Touch the oldest: 1 becomes the least recently used.
        assert!(matches!(cache.get(&id(0), NOW), Lookup::Found(_)));
        cache.put(&id(100), &typical(100, NOW), NOW);
        assert_eq!(cache.len(), cap);
        assert_eq!(cache.get(&id(1), NOW), Lookup::Missing);
        assert!(matches!(cache.get(&id(0), NOW), Lookup::Found(_)));
        assert!(matches!(cache.get(&id(100), NOW), Lookup::Found(_)));
        cache.put(&id(101), &typical(101, NOW), NOW);
        let evicted = if cap > 2 { 2 } else { 0 };
        assert_eq!(cache.get(&id(evicted), NOW), Lookup::Missing);
        assert_eq!(cache.stats().evictions, 2);
    }

    #[test]
    fn overwrite_same_id() {
        let cache = SessionCache::new(1 << 20, 3600);
        cache.put(&id(1), &typical(1, NOW), NOW);
        cache.put(&id(1), &typical(2, NOW), NOW);
        assert_eq!(cache.len(), 1);
        let r = found(cache.get(&id(1), NOW));
        assert_eq!(&r.master_secret.as_bytes()[..8], &2u64.to_be_bytes());
        assert_eq!(cache.stats().inserts, 2);
    }

    #[test]
    fn byte_budget_respected() {
        for (budget, shards) in [(10_000, 1), (100_000, 4), (1 << 20, 16), (1 << 20, 3)] {
            let cache = SessionCache::with_shards(budget, 3600, shards);
            let slack = cache.shards.len() * (SLOT_SIZE + 8);
            println!(
                "budget {budget}, {} shards: capacity {}, bytes used {}",
                cache.shards.len(),
                cache.capacity(),
                cache.bytes_used()
            );
            assert!(cache.bytes_used() <= budget + slack);
            assert!(cache.bytes_used() + slack * 2 >= budget, "budget underused");
            for n in 0..cache.capacity() as u64 * 2 {
                cache.put(&id(n), &typical(n, NOW), NOW);
            }
            assert!(cache.len() <= cache.capacity());
        }
        // Tiny budgets still give one slot per shard.
        let tiny = SessionCache::with_shards(0, 60, 2);
        assert_eq!(tiny.capacity(), 2);
    }

    #[test]
    fn bytes_per_session_64mib() {
        let cache = SessionCache::new(64 << 20, 3600);
        for n in 0..20_000 {
            cache.put(&id(n), &typical(n, NOW), NOW);
        }
        assert_eq!(cache.len(), 20_000);
        for n in (0..20_000).step_by(997) {
            assert!(matches!(cache.get(&id(n), NOW), Lookup::Found(_)));
        }
        let per = cache.bytes_per_session();
        println!(
            "64 MiB cache: capacity {} sessions, {} bytes used, {per:.2} bytes/session",
            cache.capacity(),
            cache.bytes_used()
        );
        assert!(per <= 128.0);
        assert!(cache.bytes_used() <= 64 << 20);
    }

    #[test]
    fn fills_a_shard_exactly() {
        let cache = SessionCache::with_shards(256 << 10, 3600, 1);
        let cap = cache.capacity() as u64;
        for n in 0..cap {
            cache.put(&id(n), &typical(n, NOW), NOW);
        }
        assert_eq!(cache.len() as u64, cap);
        assert_eq!(cache.stats().evictions, 0);
        for n in 0..cap {
            assert!(
                matches!(cache.get(&id(n), NOW), Lookup::Found(_)),
                "lost {n}"
            );
        }
        // Remove every other, then the rest must still be reachable (backward shift).
        for n in (0..cap).step_by(2) {
            cache.remove(&id(n));
        }
        for n in 0..cap {
            let hit = matches!(cache.get(&id(n), NOW), Lookup::Found(_));
            assert_eq!(hit, n % 2 == 1, "id {n}");
        }
    }

    #[test]
    fn remove_and_stats() {
        let cache = SessionCache::new(1 << 20, 3600);
        cache.put(&id(1), &typical(1, NOW), NOW);
        cache.put(&id(2), &typical(2, NOW), NOW);
        cache.remove(&id(1));
        cache.remove(&id(9));
        cache.remove(&[]);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&id(1), NOW), Lookup::Missing);
        assert!(matches!(cache.get(&id(2), NOW), Lookup::Found(_)));
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 1,
                misses: 1,
                expired: 0,
                evictions: 0,
                inserts: 2,
                uncacheable: 0
            }
        );
        assert_eq!(cache.timeout(), 3600);
    }

    #[test]
    fn long_names_not_cached() {
        let cache = SessionCache::new(1 << 20, 3600);
        let mut rec = typical(1, NOW);
        rec.server_name = SmallVec::from_slice(&[b'a'; INLINE_NAMES_LEN - 8]);
        cache.put(&id(1), &rec, NOW);
        assert_eq!(found(cache.get(&id(1), NOW)).server_name, rec.server_name);

        // One byte more than fits: not cached, and the older entry is dropped.
        rec.server_name.push(b'a');
        cache.put(&id(1), &rec, NOW);
        assert_eq!(cache.get(&id(1), NOW), Lookup::Missing);
        rec.server_name = SmallVec::from_slice(&[b'a'; 255]);
        cache.put(&id(2), &rec, NOW);
        assert_eq!(cache.get(&id(2), NOW), Lookup::Missing);
        assert_eq!(cache.stats().uncacheable, 2);
        assert!(cache.is_empty());

        // Names exactly filling the slot, no ALPN, and ALPN alone.
        let mut rec = typical(3, NOW);
        rec.server_name = SmallVec::from_slice(&[b'b'; INLINE_NAMES_LEN]);
        rec.alpn.clear();
        cache.put(&id(3), &rec, NOW);
        let got = found(cache.get(&id(3), NOW));
        assert_eq!(
            (got.server_name.len(), got.alpn.len()),
            (INLINE_NAMES_LEN, 0)
        );
        rec.server_name.clear();
        rec.alpn = SmallVec::from_slice(b"h2");
        cache.put(&id(4), &rec, NOW);
        let got = found(cache.get(&id(4), NOW));
        assert_eq!((got.server_name.len(), &got.alpn[..]), (0, &b"h2"[..]));
    }

    #[test]
    fn concurrent_put_get() {
        let cache = Arc::new(SessionCache::new(4 << 20, 3600));
        assert!(cache.capacity() > 8_000);
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    for k in 0..2_000u64 {
                        let n = t * 1_000_000 + k;
                        cache.put(&id(n), &typical(n, NOW), NOW);
                        let r = found(cache.get(&id(n), NOW));
                        assert_eq!(&r.master_secret.as_bytes()[..8], &n.to_be_bytes());
                        if k >= 1 {
                            let _ = cache.get(&id(n - 1), NOW);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Each shard holds ~cap/16 ≈ 2_000 slots; 4_000 entries may evict a few in a
        // crowded shard, but only evictions explain a loss.
        let evictions = cache.stats().evictions as usize;
        let mut present = 0;
        for t in 0..2u64 {
            for k in 0..2_000u64 {
                present += usize::from(matches!(
                    cache.get(&id(t * 1_000_000 + k), NOW),
                    Lookup::Found(_)
                ));
            }
        }
        assert_eq!(present + evictions, 4_000);
        assert_eq!(cache.len(), present);
        assert_eq!(cache.stats().inserts, 4_000);
    }

    #[test]
    fn removal_wipes_secret() {
        // The wipe on removal is observable through the slab.
        let cache = SessionCache::with_shards(1 << 12, 3600, 1);
        cache.put(&id(1), &typical(1, NOW), NOW);
        cache.remove(&id(1));
        let shard = lock(&cache.shards[0]);
        assert!(shard.slots.iter().all(|s| s.master.iter().all(|b| *b == 0)));
    }
}
