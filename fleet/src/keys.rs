//! Centrally rotated ticket keys.
//!
//! One generator (`reprise keys publish`) makes a new key on a fixed schedule, keeps older
//! keys for their decrypt window, and publishes the ring to Redis wrapped (AES-256-GCM) under
//! a key-encryption key that servers receive out of band (a file). Every server follows the
//! published ring and swaps it into its `TicketKeys` live; a server that loses Redis keeps
//! its last ring, which keeps decrypting within the windows.
//!
//! Published value (before wrapping): `"RPK1" | generation u64 | count u8 | count × (name[16]
//! | secret[32])`, newest (encrypting) key first.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reprise::rng::RandomSource;
use reprise::session::{RotationPolicy, TicketKeyMaterial, TicketKeyRing, TicketKeys};
use zeroize::Zeroizing;

use crate::seal::SealKey;
use crate::{redis_error, FleetError};

/// The Redis key holding the wrapped ring.
pub const REDIS_KEY: &str = "reprise:ticket-keys";
/// The channel a publisher announces new generations on.
pub const CHANNEL: &str = "reprise:ticket-keys";
/// The purpose label the key-encryption key is derived for.
pub const KEK_PURPOSE: &[u8] = b"reprise ticket-key ring v1";

const MAGIC: &[u8; 4] = b"RPK1";

/// A ring as published: a generation number and keys, newest first.
pub struct PublishedRing {
    /// Increases with every change.
    pub generation: u64,
    /// The keys; the first encrypts.
    pub keys: Vec<TicketKeyMaterial>,
}

impl PublishedRing {
    /// Serializes and wraps the ring under `kek`.
    pub fn wrap(&self, kek: &SealKey, rng: &dyn RandomSource) -> Result<Vec<u8>, FleetError> {
        let mut plain = Zeroizing::new(Vec::with_capacity(13 + 48 * self.keys.len()));
        plain.extend_from_slice(MAGIC);
        plain.extend_from_slice(&self.generation.to_be_bytes());
        plain.push(u8::try_from(self.keys.len()).map_err(|_| FleetError::TooManyKeys)?);
        for k in &self.keys {
            plain.extend_from_slice(&k.name);
            plain.extend_from_slice(&k.secret[..]);
        }
        Ok(kek.seal(REDIS_KEY.as_bytes(), &plain, rng)?)
    }

    /// Unwraps and parses a published value.
    pub fn unwrap(kek: &SealKey, sealed: &[u8]) -> Result<Self, FleetError> {
        let plain = kek.open(REDIS_KEY.as_bytes(), sealed)?;
        let body = plain
            .strip_prefix(MAGIC)
            .ok_or(FleetError::MalformedRing("not a reprise ticket-key ring"))?;
        if body.len() < 9 {
            return Err(FleetError::MalformedRing("truncated ticket-key ring"));
        }
        let generation = u64::from_be_bytes(
            body[..8]
                .try_into()
                .map_err(|_| FleetError::MalformedRing("truncated ticket-key ring"))?,
        );
        let count = usize::from(body[8]);
        let entries = &body[9..];
        if entries.len() != count * 48 || count == 0 {
            return Err(FleetError::MalformedRing("malformed ticket-key ring"));
        }
        let keys = entries
            .chunks_exact(48)
            .map(|c| {
                let mut name = [0u8; 16];
                name.copy_from_slice(&c[..16]);
                let mut secret = Zeroizing::new([0u8; 32]);
                secret.copy_from_slice(&c[16..]);
                TicketKeyMaterial { name, secret }
            })
            .collect();
        Ok(Self { generation, keys })
    }

    /// The ring a server serves from: first key encrypts, the rest decrypt.
    pub fn to_ring(&self, now: u64) -> TicketKeyRing {
        let keys = self
            .keys
            .iter()
            .map(|k| TicketKeyMaterial {
                name: k.name,
                secret: k.secret.clone(),
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

    /// Seconds a new key is distributed before it encrypts.
    pub fn lead(&self) -> u64 {
        (self.rotate_every / 2).min(10)
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
            keys: order
                .filter_map(|i| self.keys.get(i))
                .map(|(k, _)| TicketKeyMaterial {
                    name: k.name,
                    secret: k.secret.clone(),
                })
                .collect(),
        }
    }

    /// Writes the wrapped ring (as of `now`) to Redis and announces it.
    pub fn publish(
        &self,
        conn: &mut redis::Connection,
        now: u64,
        rng: &dyn RandomSource,
    ) -> Result<(), FleetError> {
        let blob = self.ring_at(now).wrap(&self.kek, rng)?;
        redis::cmd("SET")
            .arg(REDIS_KEY)
            .arg(blob)
            .query::<()>(conn)
            .map_err(redis_error("storing the ring"))?;
        redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(self.generation)
            .query::<()>(conn)
            .map_err(redis_error("announcing the ring"))?;
        Ok(())
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

/// Runs the generator until `stop`: ticks every second, (re)publishes after a change and
/// every `republish` (so a restarted Redis gets the ring back), reconnecting as needed.
pub fn run_publisher(
    url: &str,
    mut publisher: Publisher,
    republish: Duration,
    rng: &dyn RandomSource,
    stop: &AtomicBool,
    mut log: impl FnMut(&str),
) -> Result<(), FleetError> {
    let client = redis::Client::open(url).map_err(redis_error(url))?;
    let mut conn: Option<redis::Connection> = None;
    let mut last_publish: Option<std::time::Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let now = unix_now();
        let changed = publisher.tick(now, rng)?;
        if changed {
            log(&format!(
                "generation {}: {} key(s), newest encrypts",
                publisher.generation(),
                publisher.len()
            ));
        }
        let due = changed || last_publish.is_none_or(|t| t.elapsed() >= republish);
        if due {
            if conn.is_none() {
                conn = client
                    .get_connection_with_timeout(Duration::from_secs(1))
                    .ok();
            }
            match conn.as_mut().map(|c| publisher.publish(c, now, rng)) {
                Some(Ok(())) => {
                    if changed {
                        log(&format!("published generation {}", publisher.generation()));
                    }
                    last_publish = Some(std::time::Instant::now());
                }
                Some(Err(e)) => {
                    log(&format!("publish failed: {e}"));
                    conn = None;
                }
                None => log("publish failed: Redis unreachable"),
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

/// Fetches the published ring once.
pub fn fetch_ring(
    client: &redis::Client,
    kek: &SealKey,
    timeout: Duration,
) -> Result<PublishedRing, FleetError> {
    let mut conn = client
        .get_connection_with_timeout(timeout)
        .map_err(redis_error("connecting"))?;
    conn.set_read_timeout(Some(timeout))
        .map_err(redis_error("setting the read timeout"))?;
    let value: Option<Vec<u8>> = redis::cmd("GET")
        .arg(REDIS_KEY)
        .query(&mut conn)
        .map_err(redis_error("reading the ring"))?;
    let value = value.ok_or(FleetError::NoRingPublished)?;
    PublishedRing::unwrap(kek, &value)
}

/// Follows the published ring: polls Redis every `poll` and swaps `keys` when the generation
/// changes. Keeps the last ring while Redis is unreachable.
pub fn spawn_follower(
    url: &str,
    kek: SealKey,
    keys: Arc<TicketKeys>,
    first_generation: Option<u64>,
    poll: Duration,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, FleetError> {
    let client = redis::Client::open(url).map_err(redis_error(url))?;
    std::thread::Builder::new()
        .name("ticket-key-follower".into())
        .spawn(move || {
            let mut generation = first_generation;
            let mut reported_down = false;
            while !stop.load(Ordering::Relaxed) {
                match fetch_ring(&client, &kek, Duration::from_secs(1)) {
                    Ok(ring) if Some(ring.generation) != generation => {
                        keys.replace(ring.to_ring(unix_now()));
                        generation = Some(ring.generation);
                        reported_down = false;
                        eprintln!(
                            "ticket keys: following generation {} ({} keys)",
                            ring.generation,
                            ring.keys.len()
                        );
                    }
                    Ok(_) => reported_down = false,
                    Err(e) if !reported_down => {
                        eprintln!("ticket keys: keeping the last ring ({e})");
                        reported_down = true;
                    }
                    Err(_) => {}
                }
                std::thread::sleep(poll);
            }
        })
        .map_err(FleetError::Spawn)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise::rng::SeededRandom;

    #[test]
    fn publisher_distributes_keys_before_they_encrypt_and_retires_them() {
        let rng = SeededRandom::new(5);
        let kek = SealKey::derive(&[3; 32], KEK_PURPOSE).unwrap();
        let mut p = Publisher::new(kek, 100, 200);
        assert_eq!(p.lead(), 10);
        assert!(p.tick(1000, &rng).unwrap());
        let k1 = p.ring_at(1000).keys[0].name;
        assert!(!p.tick(1050, &rng).unwrap());
        // At 1090 the next key is published, decrypt-only: k1 still encrypts.
        assert!(p.tick(1090, &rng).unwrap());
        assert_eq!(p.len(), 2);
        assert_eq!(p.ring_at(1090).keys[0].name, k1);
        // At 1100 the new key is promoted.
        assert!(p.tick(1100, &rng).unwrap());
        let k2 = p.ring_at(1100).keys[0].name;
        assert_ne!(k2, k1);
        assert_eq!(p.ring_at(1100).keys.len(), 2);
        // k1 stopped encrypting at 1100 and is dropped 200 s later.
        p.tick(1290, &rng).unwrap();
        assert!(p.ring_at(1290).keys.iter().any(|k| k.name == k1));
        p.tick(1300, &rng).unwrap();
        assert!(!p.ring_at(1300).keys.iter().any(|k| k.name == k1));
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
            back.keys.iter().map(|k| k.name).collect::<Vec<_>>(),
            p.ring_at(10)
                .keys
                .iter()
                .map(|k| k.name)
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
}
