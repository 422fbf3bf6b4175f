//! `reprise serve` fleet options: the Redis session store and the followed ticket-key ring.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use reprise::rng::SystemRandom;
use reprise::session::SessionIdKey;
use reprise::session::SessionStore;
use reprise::session::{RotationPolicy, TicketKeyRing, TicketKeys};
use reprise_fleet::endpoint::RedisEndpoint;
use reprise_fleet::keys::{fetch_ring, spawn_follower, RingStatus, KEK_PURPOSE};
use reprise_fleet::seal::SealKey;
use reprise_fleet::store::{BlockingStore, RedisSessionStore, RedisStoreConfig};
use reprise_serve::units;

use super::args::ServeArgs;

/// The Redis session store for `--session-store URL`. The thread-per-connection driver waits
/// for lookups (bounded); event-loop drivers use the store's asynchronous `fetch`. Also
/// returns the fleet's session-ID key (derived from the same secret), so every server
/// recognises the IDs the others issue.
pub fn redis_store(
    args: &ServeArgs,
    url: &str,
) -> Result<(Arc<dyn SessionStore>, SessionIdKey), String> {
    let key_path = args
        .session_store_key
        .as_deref()
        .ok_or("--session-store needs --session-store-key FILE")?;
    let secret =
        zeroize::Zeroizing::new(std::fs::read(key_path).map_err(|e| format!("{key_path}: {e}"))?);
    let (key, id_key) =
        reprise_fleet::store::session_keys(&secret).map_err(|e| format!("{key_path}: {e}"))?;
    let mut cfg = RedisStoreConfig::new(url);
    cfg.timeout = units::millis(&args.redis_timeout)
        .map_err(|e| format!("--redis-timeout: {e}"))?
        .max(Duration::from_millis(1));
    cfg.l1_bytes = units::parse_size(&args.redis_l1)?;
    let store = Arc::new(RedisSessionStore::new(cfg.clone(), key)?);
    eprintln!(
        "sessions shared through {} (lookups bounded by {:?})",
        store.endpoint(),
        cfg.timeout
    );
    if args.driver == super::args::DriverChoice::Threads {
        Ok((Arc::new(BlockingStore::new(store, cfg.timeout * 2)), id_key))
    } else {
        Ok((store, id_key))
    }
}

/// The ticket keys for `--ticket-keys-from URL`: the published ring if Redis has one now, else
/// a local ring until the first publication arrives; then followed live.
pub fn follow_ticket_keys(
    args: &ServeArgs,
    url: &str,
    policy: RotationPolicy,
) -> Result<Arc<TicketKeys>, String> {
    let kek_path = args
        .kek
        .as_deref()
        .ok_or("--ticket-keys-from needs --kek FILE")?;
    let kek = SealKey::from_file(std::path::Path::new(kek_path), KEK_PURPOSE)?;
    let endpoint = RedisEndpoint::open(url, Duration::from_secs(2))?;
    let now = reprise::unix_time();
    let (ring, status) = match fetch_ring(&endpoint, &kek) {
        Ok(published) => {
            eprintln!(
                "ticket keys: following generation {} ({} keys) from {}",
                published.generation,
                published.keys.len(),
                endpoint
            );
            (
                published.to_ring(now),
                RingStatus::starting_from(Some(&published)),
            )
        }
        Err(e) => {
            eprintln!(
                "ticket keys: no fleet ring yet ({e}); using a local key until one is published"
            );
            (
                TicketKeyRing::new(policy, now, &SystemRandom).map_err(|e| e.to_string())?,
                RingStatus::default(),
            )
        }
    };
    let keys = Arc::new(TicketKeys::new(ring));
    let status = Arc::new(status);
    crate::metrics_http::FLEET.set_ring(status.clone());
    spawn_follower(
        endpoint,
        kek,
        keys.clone(),
        status,
        Duration::from_secs(1),
        Arc::new(AtomicBool::new(false)),
    )?;
    Ok(keys)
}
