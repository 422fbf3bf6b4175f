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
use reprise::session::ticket::{RotationPolicy, TicketKeyMaterial, TicketKeyRing, TicketKeys};
use zeroize::Zeroizing;

use crate::seal::SealKey;

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
    pub fn wrap(&self, kek: &SealKey, rng: &dyn RandomSource) -> Result<Vec<u8>, String> {
        let mut plain = Zeroizing::new(Vec::with_capacity(13 + 48 * self.keys.len()));
        plain.extend_from_slice(MAGIC);
        plain.extend_from_slice(&self.generation.to_be_bytes());
        plain.push(u8::try_from(self.keys.len()).map_err(|_| "too many keys")?);
        for k in &self.keys {
            plain.extend_from_slice(&k.name);
            plain.extend_from_slice(&k.secret[..]);
        }
        kek.seal(REDIS_KEY.as_bytes(), &plain, rng)
            .map_err(|e| e.to_string())
    }

    /// Unwraps and parses a published value.
    pub fn unwrap(kek: &SealKey, sealed: &[u8]) -> Result<Self, String> {
        let plain = kek
            .open(REDIS_KEY.as_bytes(), sealed)
            .map_err(|e| e.to_string())?;
        let body = plain
            .strip_prefix(MAGIC)
            .ok_or("not a reprise ticket-key ring")?;
        if body.len() < 9 {
            return Err("truncated ticket-key ring".into());
        }
        let generation = u64::from_be_bytes(body[..8].try_into().map_err(|_| "truncated")?);
        let count = usize::from(body[8]);
        let entries = &body[9..];
        if entries.len() != count * 48 || count == 0 {
            return Err("malformed ticket-key ring".into());
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
pub struct Publisher {
    kek: SealKey,
    rotate_every: u64,
    decrypt_window: u64,
    /// (key, created), newest first.
    keys: Vec<(TicketKeyMaterial, u64)>,
    generation: u64,
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
        }
    }

    /// Rotates if due at `now`; returns true when the ring changed.
    pub fn tick(&mut self, now: u64, rng: &dyn RandomSource) -> Result<bool, String> {
        let due = self
            .keys
            .first()
            .is_none_or(|(_, created)| now >= created.saturating_add(self.rotate_every));
        if due {
            let key = TicketKeyMaterial::generate(rng).map_err(|e| e.to_string())?;
            self.keys.insert(0, (key, now));
        }
        let (rotate, window) = (self.rotate_every, self.decrypt_window);
        let before = self.keys.len();
        let mut first = true;
        self.keys.retain(|(_, created)| {
            let keep = first || now < created.saturating_add(rotate).saturating_add(window);
            first = false;
            keep
        });
        let changed = due || self.keys.len() != before;
        if changed {
            self.generation += 1;
        }
        Ok(changed)
    }

    /// The ring to publish.
    pub fn ring(&self) -> PublishedRing {
        PublishedRing {
            generation: self.generation,
            keys: self
                .keys
                .iter()
                .map(|(k, _)| TicketKeyMaterial {
                    name: k.name,
                    secret: k.secret.clone(),
                })
                .collect(),
        }
    }

    /// Writes the wrapped ring to Redis and announces it.
    pub fn publish(
        &self,
        conn: &mut redis::Connection,
        rng: &dyn RandomSource,
    ) -> Result<(), String> {
        let blob = self.ring().wrap(&self.kek, rng)?;
        redis::cmd("SET")
            .arg(REDIS_KEY)
            .arg(blob)
            .query::<()>(conn)
            .map_err(|e| e.to_string())?;
        redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(self.generation)
            .query::<()>(conn)
            .map_err(|e| e.to_string())?;
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
) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| format!("{url}: {e}"))?;
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
            match conn.as_mut().map(|c| publisher.publish(c, rng)) {
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
) -> Result<PublishedRing, String> {
    let mut conn = client
        .get_connection_with_timeout(timeout)
        .map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let value: Option<Vec<u8>> = redis::cmd("GET")
        .arg(REDIS_KEY)
        .query(&mut conn)
        .map_err(|e| e.to_string())?;
    let value = value.ok_or("no ticket-key ring published yet")?;
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
) -> Result<std::thread::JoinHandle<()>, String> {
    let client = redis::Client::open(url).map_err(|e| format!("{url}: {e}"))?;
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
        .map_err(|e| e.to_string())
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
    fn publisher_rotates_and_retires_on_schedule() {
        let rng = SeededRandom::new(5);
        let kek = SealKey::derive(&[3; 32], KEK_PURPOSE).unwrap();
        let mut p = Publisher::new(kek, 100, 200);
        assert!(p.tick(1000, &rng).unwrap());
        assert!(!p.tick(1050, &rng).unwrap());
        assert!(p.tick(1100, &rng).unwrap());
        assert_eq!(p.len(), 2);
        assert!(p.tick(1200, &rng).unwrap());
        assert!(p.tick(1300, &rng).unwrap());
        // The first key (created 1000) retires at 1000 + 100 + 200.
        assert_eq!(p.len(), 3);
        let names: Vec<_> = p.ring().keys.iter().map(|k| k.name).collect();
        assert_eq!(names.len(), 3);
        assert_eq!(p.generation(), 4);
    }

    #[test]
    fn wrapped_rings_round_trip_and_resist_tampering() {
        let rng = SeededRandom::new(6);
        let kek = SealKey::derive(&[3; 32], KEK_PURPOSE).unwrap();
        let mut p = Publisher::new(SealKey::derive(&[3; 32], KEK_PURPOSE).unwrap(), 10, 20);
        p.tick(0, &rng).unwrap();
        p.tick(10, &rng).unwrap();
        let blob = p.ring().wrap(&kek, &rng).unwrap();
        let back = PublishedRing::unwrap(&kek, &blob).unwrap();
        assert_eq!(back.generation, 2);
        assert_eq!(
            back.keys.iter().map(|k| k.name).collect::<Vec<_>>(),
            p.ring().keys.iter().map(|k| k.name).collect::<Vec<_>>()
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
