//! Centrally rotated ticket keys.
//!
//! A generator (`reprise keys publish`) makes a new key on a fixed schedule, keeps older keys
//! for their decrypt window, and publishes the ring to Redis wrapped (AES-256-GCM) under a
//! key-encryption key that servers receive out of band (a file). Every server follows the
//! published ring and swaps it into its `TicketKeys` live; a server that loses Redis keeps
//! its last ring, which keeps decrypting within the windows.
//!
//! Several generators may run against one Redis: one leads, holding a lease in Redis (`SET NX
//! PX`, renewed while it lives, with a TTL well inside the rotation period); the others stand
//! by and take the lease when it lapses. A new leader continues the published ring (its
//! keys, their activation times, the generation) rather than starting one, so no key is
//! minted twice for one rotation slot, and every write of the ring is fenced by the lease (a
//! Lua script writes only while the writer still holds it), so a leader that stalled and
//! lost its lease cannot overwrite its successor's ring.
//!
//! Published value (before wrapping), newest (encrypting) key first:
//! `"RPK2" | generation u64 | rotate_every u32 | decrypt_window u32 | count u8 |
//! count × (name[16] | secret[32] | activates_at u64)`. Followers also read the older
//! `"RPK1" | generation u64 | count u8 | count × (name[16] | secret[32])`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use redis::ConnectionLike;
use reprise::metrics::MetricSink;
use reprise::rng::RandomSource;
use reprise::session::{RotationPolicy, TicketKeyMaterial, TicketKeyRing, TicketKeys};
use zeroize::Zeroizing;

use crate::endpoint::RedisEndpoint;
use crate::seal::SealKey;
use crate::{redis_error, FleetError};

/// The Redis key holding the wrapped ring.
pub const REDIS_KEY: &str = "reprise:ticket-keys";
/// The Redis key of the publishers' lease. Its hash tag puts it in the ring's cluster slot,
/// so one script can check the lease and write the ring.
pub const LEASE_KEY: &str = "{reprise:ticket-keys}:lease";
/// The channel a publisher announces new generations on.
pub const CHANNEL: &str = "reprise:ticket-keys";
/// The purpose label the key-encryption key is derived for.
pub const KEK_PURPOSE: &[u8] = b"reprise ticket-key ring v1";

/// Keys one published ring holds at most.
pub const MAX_RING_KEYS: usize = 255;

const MAGIC_V1: &[u8; 4] = b"RPK1";
const MAGIC_V2: &[u8; 4] = b"RPK2";

/// One key of a published ring.
pub struct PublishedKey {
    /// The key's name and secret.
    pub material: TicketKeyMaterial,
    /// Unix time the key starts (or started) encrypting; `None` in a v1 ring.
    pub activates_at: Option<u64>,
}

/// A ring as published: a generation number and keys, newest first.
pub struct PublishedRing {
    /// Increases with every change.
    pub generation: u64,
    /// Seconds between rotations (0 in a v1 ring, which does not say).
    pub rotate_every: u64,
    /// Seconds a key keeps decrypting after it stops encrypting (0 in a v1 ring).
    pub decrypt_window: u64,
    /// The keys; the first encrypts.
    pub keys: Vec<PublishedKey>,
}

fn take<'a>(body: &mut &'a [u8], n: usize) -> Result<&'a [u8], FleetError> {
    if body.len() < n {
        return Err(FleetError::MalformedRing("truncated ticket-key ring"));
    }
    let (head, rest) = body.split_at(n);
    *body = rest;
    Ok(head)
}

fn take_u64(body: &mut &[u8]) -> Result<u64, FleetError> {
    let mut b = [0u8; 8];
    b.copy_from_slice(take(body, 8)?);
    Ok(u64::from_be_bytes(b))
}

fn take_u32(body: &mut &[u8]) -> Result<u64, FleetError> {
    let mut b = [0u8; 4];
    b.copy_from_slice(take(body, 4)?);
    Ok(u64::from(u32::from_be_bytes(b)))
}

impl PublishedRing {
    /// Serializes (v2) and wraps the ring under `kek`.
    pub fn wrap(&self, kek: &SealKey, rng: &dyn RandomSource) -> Result<Vec<u8>, FleetError> {
        let mut plain = Zeroizing::new(Vec::with_capacity(21 + 56 * self.keys.len()));
        plain.extend_from_slice(MAGIC_V2);
        plain.extend_from_slice(&self.generation.to_be_bytes());
        let seconds = |v: u64| u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes();
        plain.extend_from_slice(&seconds(self.rotate_every));
        plain.extend_from_slice(&seconds(self.decrypt_window));
        plain.push(u8::try_from(self.keys.len()).map_err(|_| FleetError::TooManyKeys)?);
        for k in &self.keys {
            plain.extend_from_slice(&k.material.name);
            plain.extend_from_slice(&k.material.secret[..]);
            plain.extend_from_slice(&k.activates_at.unwrap_or(0).to_be_bytes());
        }
        Ok(kek.seal(REDIS_KEY.as_bytes(), &plain, rng)?)
    }

    /// Unwraps and parses a published value (v2, or v1 from an older publisher).
    pub fn unwrap(kek: &SealKey, sealed: &[u8]) -> Result<Self, FleetError> {
        let plain = kek.open(REDIS_KEY.as_bytes(), sealed)?;
        let (v2, mut body) = if let Some(body) = plain.strip_prefix(MAGIC_V2) {
            (true, body)
        } else if let Some(body) = plain.strip_prefix(MAGIC_V1) {
            (false, body)
        } else {
            return Err(FleetError::MalformedRing("not a reprise ticket-key ring"));
        };
        let generation = take_u64(&mut body)?;
        let (rotate_every, decrypt_window) = if v2 {
            (take_u32(&mut body)?, take_u32(&mut body)?)
        } else {
            (0, 0)
        };
        let count = usize::from(take(&mut body, 1)?[0]);
        let entry = if v2 { 56 } else { 48 };
        if body.len() != count * entry || count == 0 {
            return Err(FleetError::MalformedRing("malformed ticket-key ring"));
        }
        let keys = body
            .chunks_exact(entry)
            .map(|c| {
                let mut name = [0u8; 16];
                name.copy_from_slice(&c[..16]);
                let mut secret = Zeroizing::new([0u8; 32]);
                secret.copy_from_slice(&c[16..48]);
                let activates_at = v2.then(|| {
                    let mut at = [0u8; 8];
                    at.copy_from_slice(&c[48..56]);
                    u64::from_be_bytes(at)
                });
                PublishedKey {
                    material: TicketKeyMaterial { name, secret },
                    activates_at,
                }
            })
            .collect();
        Ok(Self {
            generation,
            rotate_every,
            decrypt_window,
            keys,
        })
    }

    /// The ring a server serves from: first key encrypts, the rest decrypt.
    pub fn to_ring(&self, now: u64) -> TicketKeyRing {
        let keys = self
            .keys
            .iter()
            .map(|k| TicketKeyMaterial {
                name: k.material.name,
                secret: k.material.secret.clone(),
            })
            .collect();
        TicketKeyRing::from_material(keys, RotationPolicy::default(), now)
    }
}

/// The central generator's state.
///
/// A new key is published *decrypt-only* for a lead time (half the rotation period, at most
/// 10 s) before it starts encrypting, so every follower already holds it when the first
/// tickets sealed under it reach another server: rotation loses no resumption.
pub struct Publisher {
    kek: SealKey,
    rotate_every: u64,
    decrypt_window: u64,
    /// (key, activates_at), newest first.
    keys: Vec<(TicketKeyMaterial, u64)>,
    generation: u64,
    /// Name of the key that encrypted at the last tick.
    encrypting: Option<[u8; 16]>,
}

impl Publisher {
    /// A generator that starts a new key every `rotate_every` seconds and keeps each for
    /// `decrypt_window` seconds after it stops encrypting.
    pub fn new(kek: SealKey, rotate_every: u64, decrypt_window: u64) -> Self {
        Self {
            kek,
            rotate_every: rotate_every.max(1),
            decrypt_window,
            keys: Vec::new(),
            generation: 0,
            encrypting: None,
        }
    }

    /// Continues `ring` (the one published now) at `now`, as a new leader does: its keys and
    /// their activation times, its generation. Keys of a v1 ring, which carries no times,
    /// count as the encrypting key activated now and older keys stopped now.
    pub fn resume(&mut self, ring: &PublishedRing, now: u64) {
        let mut keys: Vec<(TicketKeyMaterial, u64)> = ring
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let at = k
                    .activates_at
                    .unwrap_or_else(|| now.saturating_sub(i as u64));
                (
                    TicketKeyMaterial {
                        name: k.material.name,
                        secret: k.material.secret.clone(),
                    },
                    at,
                )
            })
            .collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.1));
        self.keys = keys;
        self.generation = ring.generation;
        self.encrypting = self
            .keys
            .get(self.encrypting_index(now))
            .map(|(k, _)| k.name);
    }

    /// Forgets every key (a follower that lost the lease drops what it did not publish).
    pub fn forget(&mut self) {
        self.keys.clear();
        self.encrypting = None;
    }

    /// Seconds a new key is distributed before it encrypts.
    pub fn lead(&self) -> u64 {
        (self.rotate_every / 2).min(10)
    }

    /// Seconds between rotations.
    pub fn rotate_every(&self) -> u64 {
        self.rotate_every
    }
    /// Rotates if due at `now`; returns true when the published ring changed.
    pub fn tick(&mut self, now: u64, rng: &dyn RandomSource) -> Result<bool, FleetError> {
        let mut changed = false;
        let newest_activation = self.keys.first().map(|(_, at)| *at);
        let due = match newest_activation {
            None => true,
            Some(at) => {
                now >= at
                    .saturating_add(self.rotate_every)
                    .saturating_sub(self.lead())
            }
        };
        if due {
            let key = TicketKeyMaterial::generate(rng)?;
            // The very first key encrypts at once; later ones after the lead time.
            let activates = if newest_activation.is_none() {
                now
            } else {
                now + self.lead()
            };
            self.keys.insert(0, (key, activates));
            changed = true;
        }
        // A key stops encrypting when the next one activates, and is dropped `decrypt_window`
        // after that.
        let window = self.decrypt_window;
        let mut next_activation: Option<u64> = None;
        let before = self.keys.len();
        self.keys.retain(|(_, activates)| {
            let keep = match next_activation {
                Some(successor) if successor <= now => now < successor.saturating_add(window),
                _ => true,
            };
            next_activation = Some(*activates);
            keep
        });
        // A ring counts its keys in one byte: past that, the oldest go first.
        self.keys.truncate(MAX_RING_KEYS);
        changed |= self.keys.len() != before;
        // A promotion (a waiting key starting to encrypt) is a change too.
        let encrypting = self
            .keys
            .get(self.encrypting_index(now))
            .map(|(k, _)| k.name);
        if encrypting != self.encrypting {
            self.encrypting = encrypting;
            changed = true;
        }
        if changed {
            self.generation += 1;
        }
        Ok(changed)
    }

    /// Index of the newest active key.
    fn encrypting_index(&self, now: u64) -> usize {
        self.keys.iter().position(|(_, at)| *at <= now).unwrap_or(0)
    }

    /// The ring to publish at `now`: the encrypting key first, then keys waiting to
    /// activate, then older keys still decrypting.
    pub fn ring_at(&self, now: u64) -> PublishedRing {
        let first = self.encrypting_index(now);
        let order = std::iter::once(first).chain((0..self.keys.len()).filter(move |i| *i != first));
        PublishedRing {
            generation: self.generation,
            rotate_every: self.rotate_every,
            decrypt_window: self.decrypt_window,
            keys: order
                .filter_map(|i| self.keys.get(i))
                .map(|(k, at)| PublishedKey {
                    material: TicketKeyMaterial {
                        name: k.name,
                        secret: k.secret.clone(),
                    },
                    activates_at: Some(*at),
                })
                .collect(),
        }
    }

    /// Writes the wrapped ring (as of `now`) to Redis if `holder` still holds the lease, and
    /// announces it. `Ok(false)`: the lease is someone else's, nothing was written.
    pub fn publish(
        &self,
        conn: &mut impl ConnectionLike,
        holder: &str,
        now: u64,
        rng: &dyn RandomSource,
    ) -> Result<bool, FleetError> {
        let blob = self.ring_at(now).wrap(&self.kek, rng)?;
        let written: i64 = FENCED_SET
            .key(LEASE_KEY)
            .key(REDIS_KEY)
            .arg(holder)
            .arg(blob)
            .invoke(conn)
            .map_err(redis_error("storing the ring"))?;
        if written == 0 {
            return Ok(false);
        }
        redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(self.generation)
            .query::<()>(conn)
            .map_err(redis_error("announcing the ring"))?;
        Ok(true)
    }

    /// The generation number.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True before the first tick.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

// The lease scripts, hashed (for EVALSHA) once per process.

/// Writes KEYS[2] only while KEYS[1] (the lease) holds ARGV[1].
static FENCED_SET: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0",
    )
});

/// Extends the lease KEYS[1] by ARGV[2] ms if ARGV[1] holds it.
static RENEW_LEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0",
    )
});

/// Deletes the lease KEYS[1] if ARGV[1] holds it.
static RELEASE_LEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
    )
});

/// Extends `holder`'s lease by `ttl_ms`; false if the lease is not (or no longer) its.
fn renew_lease(
    conn: &mut impl ConnectionLike,
    holder: &str,
    ttl_ms: u64,
) -> Result<bool, FleetError> {
    let kept: i64 = RENEW_LEASE
        .key(LEASE_KEY)
        .arg(holder)
        .arg(ttl_ms)
        .invoke(conn)
        .map_err(redis_error("renewing the lease"))?;
    Ok(kept == 1)
}

/// How long a publisher's lease lasts without renewal: a third of the rotation period,
/// within 1–15 s, so a standby takes over well before the next rotation is due.
pub fn lease_ttl(rotate_every: u64) -> Duration {
    Duration::from_millis((rotate_every.saturating_mul(1000) / 3).clamp(1000, 15_000))
}

/// A name for this publisher in the lease: host, process and a random part.
pub fn holder_name(rng: &dyn RandomSource) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let mut nonce = [0u8; 6];
    let _ = rng.fill(&mut nonce);
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    format!("{host}:{}:{nonce}", std::process::id())
}

/// A publisher's role against the lease, as the loop tracks it.
enum Role {
    Standby { leader: Option<String> },
    Leading { renewed: Instant },
}

/// Runs the generator until `stop`: competes for the lease; while leading, ticks every
/// half-second (or faster for short leases), (re)publishes after a change and every
/// `republish` (so a restarted Redis gets the ring back), renews the lease, and hands it back
/// on stop so a standby takes over at once. Reconnects as needed.
pub fn run_publisher(
    endpoint: &RedisEndpoint,
    mut publisher: Publisher,
    republish: Duration,
    rng: &dyn RandomSource,
    stop: &AtomicBool,
    mut log: impl FnMut(&str),
) -> Result<(), FleetError> {
    let holder = holder_name(rng);
    let ttl = lease_ttl(publisher.rotate_every());
    let step = (ttl / 3).min(Duration::from_millis(500));
    let mut conn = None;
    let mut role = Role::Standby { leader: None };
    let mut last_publish: Option<Instant> = None;
    let mut last_failure: Option<String> = None;
    log(&format!("publisher {holder}: lease {} ms", ttl.as_millis()));
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            conn = endpoint.connect().ok();
        }
        let failure = match conn.as_mut() {
            None => Some("publish failed: Redis unreachable".to_string()),
            Some(c) => match step_publisher(
                c,
                &holder,
                ttl,
                &mut role,
                &mut publisher,
                &mut last_publish,
                republish,
                reprise::unix_time(),
                rng,
                &mut log,
            ) {
                Ok(()) => None,
                Err(FleetError::Redis { context, source }) => {
                    conn = None;
                    Some(format!("publish failed: {context}: {source}"))
                }
                Err(e) => return Err(e),
            },
        };
        // The same failure every step says nothing new: log it once.
        if let Some(line) = failure.as_deref().filter(|_| failure != last_failure) {
            log(line);
        }
        last_failure = failure;
        // A leader that cannot renew its lease in time stops believing it leads.
        if let Role::Leading { renewed } = role {
            if renewed.elapsed() >= ttl {
                log("lease lapsed (Redis unreachable): standing by");
                publisher.forget();
                role = Role::Standby { leader: None };
            }
        }
        std::thread::sleep(step);
    }
    if let (Role::Leading { .. }, Some(c)) = (&role, conn.as_mut()) {
        let _: redis::RedisResult<i64> = RELEASE_LEASE.key(LEASE_KEY).arg(&holder).invoke(c);
        log("released the lease");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn step_publisher(
    conn: &mut crate::endpoint::FleetConnection,
    holder: &str,
    ttl: Duration,
    role: &mut Role,
    publisher: &mut Publisher,
    last_publish: &mut Option<Instant>,
    republish: Duration,
    now: u64,
    rng: &dyn RandomSource,
    log: &mut impl FnMut(&str),
) -> Result<(), FleetError> {
    let ttl_ms = ttl.as_millis() as u64;
    match role {
        Role::Standby { leader } => {
            let won: Option<String> = redis::cmd("SET")
                .arg(LEASE_KEY)
                .arg(holder)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query(conn)
                .map_err(redis_error("taking the lease"))?;
            if won.is_none() {
                let current: Option<String> = redis::cmd("GET")
                    .arg(LEASE_KEY)
                    .query(conn)
                    .map_err(redis_error("reading the lease"))?;
                // Ours already: taken on an earlier step whose next command failed.
                let mut ours = current.as_deref() == Some(holder);
                if ours {
                    ours = renew_lease(conn, holder, ttl_ms)?;
                } else if current.is_some() && current != *leader {
                    log(&format!(
                        "standing by: {} leads",
                        current.as_deref().unwrap_or("?")
                    ));
                    *leader = current;
                }
                if !ours {
                    return Ok(());
                }
            }
            // Leading now: continue the ring already published, if any.
            let published: Option<Vec<u8>> = redis::cmd("GET")
                .arg(REDIS_KEY)
                .query(conn)
                .map_err(redis_error("reading the ring"))?;
            match published.map(|blob| PublishedRing::unwrap(&publisher.kek, &blob)) {
                Some(Ok(ring)) => {
                    publisher.resume(&ring, now);
                    log(&format!(
                        "leading: continuing generation {} ({} key(s))",
                        ring.generation,
                        ring.keys.len()
                    ));
                }
                Some(Err(e)) => {
                    // Another key-encryption key, or damage: start a new ring under ours.
                    log(&format!(
                        "leading: the published ring is unreadable ({e}); starting anew"
                    ));
                    publisher.forget();
                }
                None => log("leading: no ring published yet"),
            }
            *role = Role::Leading {
                renewed: Instant::now(),
            };
            *last_publish = None;
        }
        Role::Leading { renewed } => {
            if renewed.elapsed() >= ttl / 3 {
                if !renew_lease(conn, holder, ttl_ms)? {
                    log("lost the lease: standing by");
                    publisher.forget();
                    *role = Role::Standby { leader: None };
                    return Ok(());
                }
                *renewed = Instant::now();
            }
        }
    }
    let changed = publisher.tick(now, rng)?;
    if changed {
        log(&format!(
            "generation {}: {} key(s), newest encrypts",
            publisher.generation(),
            publisher.len()
        ));
    }
    if changed || last_publish.is_none_or(|t| t.elapsed() >= republish) {
        if publisher.publish(conn, holder, now, rng)? {
            if changed {
                log(&format!("published generation {}", publisher.generation()));
            }
            *last_publish = Some(Instant::now());
        } else {
            log("lost the lease before publishing: standing by");
            publisher.forget();
            *role = Role::Standby { leader: None };
        }
    }
    Ok(())
}

/// Fetches the published ring once.
pub fn fetch_ring(endpoint: &RedisEndpoint, kek: &SealKey) -> Result<PublishedRing, FleetError> {
    let mut conn = endpoint.connect().map_err(redis_error("connecting"))?;
    let value: Option<Vec<u8>> = redis::cmd("GET")
        .arg(REDIS_KEY)
        .query(&mut conn)
        .map_err(redis_error("reading the ring"))?;
    let value = value.ok_or(FleetError::NoRingPublished)?;
    PublishedRing::unwrap(kek, &value)
}

/// What a follower knows of the ring it follows, for metrics and status pages.
#[derive(Default)]
pub struct RingStatus {
    inner: Mutex<RingSnapshot>,
    failures: AtomicU64,
}

/// A copy of a [`RingStatus`].
#[derive(Clone, Debug, Default)]
pub struct RingSnapshot {
    /// The generation followed (`None` before the first fetch succeeds).
    pub generation: Option<u64>,
    /// When a fetch last succeeded.
    pub refreshed: Option<Instant>,
    /// Seconds between rotations, as the publisher said (0: not said, a v1 ring).
    pub rotate_every: u64,
    /// (name, unix time it starts or started encrypting), encrypting key first.
    pub keys: Vec<([u8; 16], Option<u64>)>,
    /// Fetches that failed so far.
    pub failures: u64,
}

impl RingStatus {
    /// A status that starts from `ring` (fetched before the follower starts).
    pub fn starting_from(ring: Option<&PublishedRing>) -> Self {
        let status = Self::default();
        if ring.is_some() {
            status.refreshed(ring);
        }
        status
    }

    /// A copy of what is known now.
    pub fn snapshot(&self) -> RingSnapshot {
        let mut s = self.inner.lock().map(|s| s.clone()).unwrap_or_default();
        s.failures = self.failures.load(Ordering::Relaxed);
        s
    }

    fn refreshed(&self, ring: Option<&PublishedRing>) {
        if let Ok(mut s) = self.inner.lock() {
            s.refreshed = Some(Instant::now());
            if let Some(ring) = ring {
                s.generation = Some(ring.generation);
                s.rotate_every = ring.rotate_every;
                s.keys = ring
                    .keys
                    .iter()
                    .map(|k| (k.material.name, k.activates_at))
                    .collect();
            }
        }
    }

    /// Reports the follower's series to `sink`: the generation, the seconds since the last
    /// successful refresh, each key's age (negative: not encrypting yet), the encrypting key's
    /// age and whether it is overdue (older than the rotation period plus a tenth, at least
    /// 2 s: the publisher has stopped rotating).
    pub fn report_metrics(&self, now_unix: u64, sink: &mut dyn MetricSink) {
        let s = self.snapshot();
        if let Some(generation) = s.generation {
            sink.gauge(
                "reprise_ticket_ring_generation",
                "Generation of the fleet's ticket-key ring followed.",
                &[],
                generation as f64,
            );
        }
        if let Some(at) = s.refreshed {
            sink.gauge(
                "reprise_ticket_ring_refresh_age_seconds",
                "Seconds since the ring was last read from Redis.",
                &[],
                (at.elapsed().as_millis() as f64) / 1e3,
            );
        }
        sink.counter(
            "reprise_ticket_ring_refresh_failures_total",
            "Ring reads from Redis that failed.",
            &[],
            s.failures,
        );
        for (i, (name, at)) in s.keys.iter().enumerate() {
            let Some(at) = at else { continue };
            let role = if i == 0 {
                "encrypting"
            } else if *at > now_unix {
                "waiting"
            } else {
                "decrypting"
            };
            sink.gauge(
                "reprise_ticket_key_age_seconds",
                "Seconds since each ring key started encrypting (negative: waiting to).",
                &[("key", &hex(&name[..4])), ("role", role)],
                (now_unix as i64 - *at as i64) as f64,
            );
        }
        if let Some((_, Some(at))) = s.keys.first() {
            let age = now_unix.saturating_sub(*at);
            sink.gauge(
                "reprise_ticket_key_encrypting_age_seconds",
                "Seconds the encrypting ticket key has encrypted.",
                &[],
                age as f64,
            );
            if s.rotate_every > 0 {
                let overdue = age > s.rotate_every + (s.rotate_every / 10).max(2);
                sink.gauge(
                    "reprise_ticket_key_encrypting_overdue",
                    "1 when the encrypting key is older than its rotation period: keys stopped \
                     rotating.",
                    &[],
                    f64::from(u8::from(overdue)),
                );
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Follows the published ring: polls Redis every `poll` and swaps `keys` when the generation
/// changes. Keeps the last ring while Redis is unreachable. `status` records what it saw.
pub fn spawn_follower(
    endpoint: RedisEndpoint,
    kek: SealKey,
    keys: Arc<TicketKeys>,
    status: Arc<RingStatus>,
    poll: Duration,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, FleetError> {
    std::thread::Builder::new()
        .name("ticket-key-follower".into())
        .spawn(move || {
            let mut generation = status.snapshot().generation;
            let mut reported_down = false;
            while !stop.load(Ordering::Relaxed) {
                match fetch_ring(&endpoint, &kek) {
                    Ok(ring) if Some(ring.generation) != generation => {
                        keys.replace(ring.to_ring(reprise::unix_time()));
                        generation = Some(ring.generation);
                        status.refreshed(Some(&ring));
                        reported_down = false;
                        eprintln!(
                            "ticket keys: following generation {} ({} keys)",
                            ring.generation,
                            ring.keys.len()
                        );
                    }
                    Ok(_) => {
                        status.refreshed(None);
                        reported_down = false;
                    }
                    Err(e) => {
                        status.failures.fetch_add(1, Ordering::Relaxed);
                        if !reported_down {
                            eprintln!("ticket keys: keeping the last ring ({e})");
                            reported_down = true;
                        }
                    }
                }
                std::thread::sleep(poll);
            }
        })
        .map_err(FleetError::Spawn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(status: &RingStatus, now: u64) -> String {
        let mut text = reprise_serve::prometheus::PrometheusText::new();
        status.report_metrics(now, &mut text);
        text.finish()
    }
    use reprise::rng::SeededRandom;

    #[test]
    fn publisher_distributes_keys_before_they_encrypt_and_retires_them() {
        let rng = SeededRandom::new(5);
        let kek = SealKey::derive(&[3; 32], KEK_PURPOSE).unwrap();
        let mut p = Publisher::new(kek, 100, 200);
        assert_eq!(p.lead(), 10);
        assert!(p.tick(1000, &rng).unwrap());
        let k1 = p.ring_at(1000).keys[0].material.name;
        assert!(!p.tick(1050, &rng).unwrap());
        // At 1090 the next key is published, decrypt-only: k1 still encrypts.
        assert!(p.tick(1090, &rng).unwrap());
        assert_eq!(p.len(), 2);
        assert_eq!(p.ring_at(1090).keys[0].material.name, k1);
        // At 1100 the new key is promoted.
        assert!(p.tick(1100, &rng).unwrap());
        let k2 = p.ring_at(1100).keys[0].material.name;
        assert_ne!(k2, k1);
        assert_eq!(p.ring_at(1100).keys.len(), 2);
        // k1 stopped encrypting at 1100 and is dropped 200 s later.
        p.tick(1290, &rng).unwrap();
        assert!(p.ring_at(1290).keys.iter().any(|k| k.material.name == k1));
        p.tick(1300, &rng).unwrap();
        assert!(!p.ring_at(1300).keys.iter().any(|k| k.material.name == k1));
        assert!(p.generation() >= 4);
    }

    #[test]
    fn wrapped_rings_round_trip_and_resist_tampering() {
        let rng = SeededRandom::new(6);
        let kek = SealKey::derive(&[3; 32], KEK_PURPOSE).unwrap();
        let mut p = Publisher::new(SealKey::derive(&[3; 32], KEK_PURPOSE).unwrap(), 10, 20);
        p.tick(0, &rng).unwrap();
        p.tick(10, &rng).unwrap();
        let blob = p.ring_at(10).wrap(&kek, &rng).unwrap();
        let back = PublishedRing::unwrap(&kek, &blob).unwrap();
        assert_eq!(back.generation, 2);
        assert_eq!(
            back.keys
                .iter()
                .map(|k| k.material.name)
                .collect::<Vec<_>>(),
            p.ring_at(10)
                .keys
                .iter()
                .map(|k| k.material.name)
                .collect::<Vec<_>>()
        );
        let wrong = SealKey::derive(&[4; 32], KEK_PURPOSE).unwrap();
        assert!(PublishedRing::unwrap(&wrong, &blob).is_err());
        let mut bad = blob.clone();
        bad[20] ^= 1;
        assert!(PublishedRing::unwrap(&kek, &bad).is_err());
        // A ticket sealed by one follower's ring opens in another's (same fleet keys).
        let a = back.to_ring(0);
        let b = PublishedRing::unwrap(&kek, &blob).unwrap().to_ring(0);
        let mut ticket = Vec::new();
        a.seal(b"session", 0, &rng, &mut ticket).unwrap();
        let mut out = [0u8; 64];
        assert_eq!(b.open(&ticket, 0, &mut out).unwrap().len, 7);
    }

    #[test]
    fn a_new_leader_continues_the_ring_without_minting_twice() {
        let rng = SeededRandom::new(7);
        let kek = || SealKey::derive(&[3; 32], KEK_PURPOSE).unwrap();
        let mut leader = Publisher::new(kek(), 100, 200);
        leader.tick(1000, &rng).unwrap();
        leader.tick(1090, &rng).unwrap(); // the second key waits to encrypt at 1100
        let blob = leader.ring_at(1090).wrap(&kek(), &rng).unwrap();
        let published = PublishedRing::unwrap(&kek(), &blob).unwrap();
        assert_eq!(published.rotate_every, 100);
        assert_eq!(published.keys[1].activates_at, Some(1100));

        let mut standby = Publisher::new(kek(), 100, 200);
        standby.resume(&published, 1095);
        assert!(
            !standby.tick(1095, &rng).unwrap(),
            "nothing is due: no key minted"
        );
        assert_eq!(standby.generation(), leader.generation());
        assert_eq!(standby.len(), 2);
        // At 1100 the new leader promotes the waiting key, as the old one would have.
        assert!(standby.tick(1100, &rng).unwrap());
        assert_eq!(
            standby.ring_at(1100).keys[0].material.name,
            leader.ring_at(1100).keys[0].material.name
        );
        assert_eq!(standby.len(), 2);

        let ring =
            PublishedRing::unwrap(&kek(), &standby.ring_at(1100).wrap(&kek(), &rng).unwrap())
                .unwrap();
        let status = RingStatus::starting_from(Some(&ring));
        let text = rendered(&status, 1150);
        assert!(
            text.contains("reprise_ticket_key_encrypting_age_seconds 50"),
            "{text}"
        );
        assert!(
            text.contains("reprise_ticket_key_encrypting_overdue 0"),
            "{text}"
        );
        assert!(text.contains("role=\"decrypting\"} 150"), "{text}");
        // The publisher stopped: at 1250 the key is 150 s old, past 100 s + 10.
        let text = rendered(&status, 1250);
        assert!(
            text.contains("reprise_ticket_key_encrypting_overdue 1"),
            "{text}"
        );
    }

    #[test]
    fn rings_from_older_publishers_still_read() {
        let rng = SeededRandom::new(8);
        let kek = SealKey::derive(&[3; 32], KEK_PURPOSE).unwrap();
        let mut plain = b"RPK1".to_vec();
        plain.extend_from_slice(&9u64.to_be_bytes());
        plain.push(1);
        plain.extend_from_slice(&[1; 16]);
        plain.extend_from_slice(&[2; 32]);
        let blob = kek.seal(REDIS_KEY.as_bytes(), &plain, &rng).unwrap();
        let ring = PublishedRing::unwrap(&kek, &blob).unwrap();
        assert_eq!((ring.generation, ring.keys.len()), (9, 1));
        assert_eq!(ring.keys[0].material.name, [1; 16]);
        assert_eq!(ring.keys[0].activates_at, None);
        let mut p = Publisher::new(SealKey::derive(&[3; 32], KEK_PURPOSE).unwrap(), 100, 200);
        p.resume(&ring, 5000);
        assert!(
            !p.tick(5000, &rng).unwrap(),
            "the v1 key counts as activated now"
        );
    }
}
