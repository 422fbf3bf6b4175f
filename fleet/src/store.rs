//! The Redis session store: `SessionStore` for a fleet, never blocking the caller.
//!
//! `get` answers from the in-process L1 cache or says `Pending`; `fetch` queues the lookup for
//! a worker thread that asks Redis with a time bound and calls back — and a deadline thread
//! answers `Unavailable` for any lookup still unanswered at twice the bound, so a handshake
//! never waits longer whatever Redis (or a sentinel, or a cluster node) does. Entries are sealed at
//! rest (`SealKey`, AAD = the session ID) and written with `SET … EX <session timeout>`. When
//! Redis is slow or down, answers are `Unavailable` — the handshake goes on as a full one —
//! and for a second after a failure lookups fail fast instead of queueing.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reprise::metrics::{Histogram, MetricSink};
use reprise::rng::SystemRandom;
use reprise::session::SessionCache;
use reprise::session::SessionRecord;
use reprise::session::{Lookup, SessionStore};

use reprise::session::SessionIdKey;

use crate::endpoint::{FleetConnection, RedisEndpoint};
use crate::seal::SealKey;
use crate::FleetError;

/// The two keys a fleet's servers derive from their shared session secret (the file
/// `reprise serve --session-store-key` names, at least 32 bytes): the key that seals sessions
/// at rest in Redis, and the key whose MAC marks the session IDs the fleet issues, so every
/// server recognises the IDs the others hand out.
pub fn session_keys(secret: &[u8]) -> Result<(SealKey, SessionIdKey), crate::seal::SealError> {
    let seal = SealKey::derive(secret, b"reprise session v1")?;
    let mut material = zeroize::Zeroizing::new(b"reprise session id v1".to_vec());
    material.extend_from_slice(secret);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &material);
    Ok((seal, SessionIdKey::new(digest.as_ref())))
}

/// Settings of a [`RedisSessionStore`].
#[derive(Clone, Debug)]
pub struct RedisStoreConfig {
    /// Where Redis is: one server, a cluster or a Sentinel-managed master (see
    /// [`endpoint`](crate::endpoint) for the URL forms).
    pub url: String,
    /// Bound on connecting to and asking Redis.
    pub timeout: Duration,
    /// Worker threads talking to Redis.
    pub workers: usize,
    /// Lookups queued at most; beyond, lookups answer `Unavailable` at once.
    pub queue: usize,
    /// Bytes for the in-process L1 cache (0: no L1, every lookup asks Redis).
    pub l1_bytes: usize,
    /// A cap, in seconds, on how long sessions live here (Redis `EX`, and in the L1 cache);
    /// below it each session lives as long as its own lifetime says (the engine's session
    /// timeout). No cap by default.
    pub session_timeout: u32,
}

impl RedisStoreConfig {
    /// Defaults for `url`: 50 ms bound, 2 workers, 4096 queued, 1 MiB L1, sessions kept as
    /// long as their lifetime.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            timeout: Duration::from_millis(50),
            workers: 2,
            queue: 4096,
            l1_bytes: 1 << 20,
            session_timeout: u32::MAX,
        }
    }
}

/// Counters of a [`RedisSessionStore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedisStoreStats {
    /// Lookups answered by the L1 cache.
    pub l1_hits: u64,
    /// Lookups answered by Redis with a session.
    pub redis_hits: u64,
    /// Lookups Redis answered with nothing.
    pub misses: u64,
    /// Lookups answered `Unavailable` without Redis's answer: past their deadline, queue
    /// full, or Redis known to be down.
    pub timeouts: u64,
    /// Lookups or writes that failed (connection refused, Redis error, undecryptable entry).
    pub errors: u64,
}

/// Upper bounds (µs) of the lookup-latency histogram's buckets; a last bucket takes the rest.
pub const LATENCY_BUCKETS_US: [u64; 10] = [
    250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

/// How long Redis took to answer lookups (hit or miss), as a cumulative-ready histogram.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookupLatency {
    /// Lookups per bucket of [`LATENCY_BUCKETS_US`], plus one for larger latencies.
    pub buckets: [u64; LATENCY_BUCKETS_US.len() + 1],
    /// Sum of all latencies, µs.
    pub sum_us: u64,
}

type LookupCallback = Box<dyn FnOnce(Lookup) + Send>;

/// A lookup's callback, answered once: by the worker with Redis's answer, or by the deadline
/// thread with `Unavailable`, whichever comes first.
struct PendingLookup {
    done: Mutex<Option<LookupCallback>>,
    asked: Instant,
}

impl PendingLookup {
    /// Answers if no one has. The answer is first added to `counted_in` (when given), so
    /// whoever receives it already sees it in the store's statistics.
    fn answer(&self, lookup: Lookup, counted_in: Option<&AtomicU64>) {
        if let Some(done) = self.done.lock().ok().and_then(|mut d| d.take()) {
            if let Some(counter) = counted_in {
                counter.fetch_add(1, Relaxed);
            }
            done(lookup);
        }
    }
}

enum Job {
    Get {
        id: Vec<u8>,
        now: u64,
        pending: Arc<PendingLookup>,
    },
    Put {
        id: Vec<u8>,
        value: Vec<u8>,
        ttl: u64,
    },
    Remove {
        id: Vec<u8>,
    },
}

struct Shared {
    endpoint: RedisEndpoint,
    key: SealKey,
    config: RedisStoreConfig,
    l1: Option<SessionCache>,
    started: Instant,
    /// Milliseconds since `started` before which Redis is considered down.
    down_until_ms: AtomicU64,
    l1_hits: AtomicU64,
    redis_hits: AtomicU64,
    misses: AtomicU64,
    timeouts: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn is_down(&self) -> bool {
        self.now_ms() < self.down_until_ms.load(Relaxed)
    }

    fn mark_down(&self) {
        self.errors.fetch_add(1, Relaxed);
        self.down_until_ms.store(self.now_ms() + 1000, Relaxed);
    }

    fn observe_latency(&self, took: Duration) {
        let us = took.as_micros() as u64;
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|bound| us <= *bound)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.latency[bucket].fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(us, Relaxed);
    }

    /// The longest a lookup waits for Redis: connecting plus asking.
    fn deadline(&self) -> Duration {
        self.config.timeout * 2
    }
}

/// A fleet-wide session-ID store on Redis (see the module docs).
pub struct RedisSessionStore {
    shared: Arc<Shared>,
    jobs: SyncSender<Job>,
    deadlines: SyncSender<Arc<PendingLookup>>,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("endpoint", &self.shared.endpoint)
            .finish_non_exhaustive()
    }
}

fn redis_key(id: &[u8]) -> String {
    let mut k = String::with_capacity(13 + 2 * id.len());
    k.push_str("reprise:sess:");
    for b in id {
        k.push_str(&format!("{b:02x}"));
    }
    k
}

impl RedisSessionStore {
    /// Starts the workers. Fails only on a malformed URL; an unreachable Redis is tolerated
    /// (lookups answer `Unavailable` until it is back).
    pub fn new(config: RedisStoreConfig, key: SealKey) -> Result<Self, FleetError> {
        let endpoint = RedisEndpoint::open(&config.url, config.timeout)?;
        let (tx, rx) = sync_channel(config.queue.max(1));
        let (deadline_tx, deadline_rx) = sync_channel(config.queue.max(1) + config.workers.max(1));
        let shared = Arc::new(Shared {
            endpoint,
            key,
            l1: (config.l1_bytes > 0)
                .then(|| SessionCache::with_shards(config.l1_bytes, config.session_timeout, 4)),
            config,
            started: Instant::now(),
            down_until_ms: AtomicU64::new(0),
            l1_hits: AtomicU64::new(0),
            redis_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: Default::default(),
            latency_sum_us: AtomicU64::new(0),
        });
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..shared.config.workers.max(1) {
            let (shared, rx) = (shared.clone(), rx.clone());
            std::thread::Builder::new()
                .name(format!("redis-store-{i}"))
                .spawn(move || worker(shared, rx))
                .map_err(FleetError::Spawn)?;
        }
        let deadline_shared = shared.clone();
        std::thread::Builder::new()
            .name("redis-store-deadlines".into())
            .spawn(move || answer_late_lookups(deadline_shared, deadline_rx))
            .map_err(FleetError::Spawn)?;
        Ok(Self {
            shared,
            jobs: tx,
            deadlines: deadline_tx,
        })
    }

    /// Where this store's Redis is (password hidden when displayed).
    pub fn endpoint(&self) -> &RedisEndpoint {
        &self.shared.endpoint
    }

    /// How long Redis took to answer lookups so far.
    pub fn latency(&self) -> LookupLatency {
        let s = &self.shared;
        let mut out = LookupLatency {
            sum_us: s.latency_sum_us.load(Relaxed),
            ..LookupLatency::default()
        };
        for (n, bucket) in out.buckets.iter_mut().zip(&s.latency) {
            *n = bucket.load(Relaxed);
        }
        out
    }

    /// Counters so far.
    pub fn stats(&self) -> RedisStoreStats {
        let s = &self.shared;
        RedisStoreStats {
            l1_hits: s.l1_hits.load(Relaxed),
            redis_hits: s.redis_hits.load(Relaxed),
            misses: s.misses.load(Relaxed),
            timeouts: s.timeouts.load(Relaxed),
            errors: s.errors.load(Relaxed),
        }
    }
}

/// Answers `Unavailable` for lookups still pending at their deadline. Lookups arrive in the
/// order they were asked and share one bound, so their deadlines come in order too.
fn answer_late_lookups(shared: Arc<Shared>, deadlines: Receiver<Arc<PendingLookup>>) {
    let bound = shared.deadline();
    while let Ok(pending) = deadlines.recv() {
        let due = pending.asked + bound;
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        pending.answer(Lookup::Unavailable, Some(&shared.timeouts));
    }
}

fn worker(shared: Arc<Shared>, jobs: Arc<Mutex<Receiver<Job>>>) {
    let mut conn: Option<FleetConnection> = None;
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let (request, pending) = match job {
            Job::Get { id, now, pending } => (Request::Get { id, now }, Some(pending)),
            Job::Put { id, value, ttl } => (Request::Put { id, value, ttl }, None),
            Job::Remove { id } => (Request::Remove { id }, None),
        };
        if let Some(pending) = &pending {
            // Already answered by the deadline thread: asking Redis would only add load.
            if pending.asked.elapsed() >= shared.deadline() {
                continue;
            }
        }
        let answer = perform(&shared, &mut conn, &request);
        // A lookup the deadline thread answered meanwhile is counted there, as a timeout.
        if let Some(pending) = pending {
            match answer {
                Some(lookup) => {
                    shared.observe_latency(pending.asked.elapsed());
                    pending.answer(lookup, None);
                }
                None => pending.answer(Lookup::Unavailable, None),
            }
        }
    }
}

enum Request {
    Get {
        id: Vec<u8>,
        now: u64,
    },
    Put {
        id: Vec<u8>,
        value: Vec<u8>,
        ttl: u64,
    },
    Remove {
        id: Vec<u8>,
    },
}

/// Runs one request, reconnecting once if a kept connection turns out stale (e.g. Redis was
/// restarted). `None` means Redis could not be asked.
fn perform(
    shared: &Shared,
    conn: &mut Option<FleetConnection>,
    request: &Request,
) -> Option<Lookup> {
    for _attempt in 0..2 {
        let fresh = conn.is_none();
        if fresh {
            // Nothing asks Redis while it is known to be down: lookups fail fast, and writes
            // (sessions made during an outage) stay in this server's L1 only.
            if shared.is_down() {
                return None;
            }
            *conn = connect(shared);
        }
        let c = conn.as_mut()?;
        let result = match request {
            Request::Get { id, now } => get(shared, c, id, *now),
            Request::Put { id, value, ttl } => redis::cmd("SET")
                .arg(redis_key(id))
                .arg(value)
                .arg("EX")
                .arg((*ttl).max(1))
                .query::<()>(c)
                .map(|()| Lookup::Missing),
            Request::Remove { id } => redis::cmd("DEL")
                .arg(redis_key(id))
                .query::<()>(c)
                .map(|()| Lookup::Missing),
        };
        match result {
            Ok(answer) => return Some(answer),
            Err(_) => {
                *conn = None;
                if fresh {
                    shared.mark_down();
                    return None;
                }
            }
        }
    }
    None
}

fn connect(shared: &Shared) -> Option<FleetConnection> {
    match shared.endpoint.connect() {
        Ok(c) => Some(c),
        Err(_) => {
            shared.mark_down();
            None
        }
    }
}

fn get(
    shared: &Shared,
    conn: &mut FleetConnection,
    id: &[u8],
    now: u64,
) -> redis::RedisResult<Lookup> {
    let value: Option<Vec<u8>> = redis::cmd("GET").arg(redis_key(id)).query(conn)?;
    let Some(sealed) = value else {
        shared.misses.fetch_add(1, Relaxed);
        return Ok(Lookup::Missing);
    };
    let record = shared
        .key
        .open(id, &sealed)
        .ok()
        .and_then(|plain| SessionRecord::decode(&plain).ok());
    match record {
        Some(record) if record.is_valid_at(now) => {
            shared.redis_hits.fetch_add(1, Relaxed);
            if let Some(l1) = &shared.l1 {
                l1.put(id, &record, now);
            }
            Ok(Lookup::Found(record))
        }
        Some(_) => {
            shared.misses.fetch_add(1, Relaxed);
            Ok(Lookup::Missing)
        }
        None => {
            // Sealed under another fleet key or corrupted: a miss, counted as an error.
            shared.errors.fetch_add(1, Relaxed);
            Ok(Lookup::Missing)
        }
    }
}

impl SessionStore for RedisSessionStore {
    fn get(&self, id: &[u8], now: u64) -> Lookup {
        if let Some(Lookup::Found(record)) = self.shared.l1.as_ref().map(|l1| l1.get(id, now)) {
            self.shared.l1_hits.fetch_add(1, Relaxed);
            return Lookup::Found(record);
        }
        if self.shared.is_down() {
            return Lookup::Unavailable;
        }
        Lookup::Pending
    }

    fn put(&self, id: &[u8], record: &SessionRecord, now: u64) {
        if let Some(l1) = &self.shared.l1 {
            l1.put(id, record, now);
        }
        let plain = zeroize::Zeroizing::new(record.encode());
        let Ok(value) = self.shared.key.seal(id, &plain, &SystemRandom) else {
            return;
        };
        let ttl = u64::from(record.lifetime.min(self.shared.config.session_timeout));
        let _ = self.jobs.try_send(Job::Put {
            id: id.to_vec(),
            value,
            ttl,
        });
    }

    fn remove(&self, id: &[u8]) {
        if let Some(l1) = &self.shared.l1 {
            l1.remove(id);
        }
        let _ = self.jobs.try_send(Job::Remove { id: id.to_vec() });
    }

    /// Lookups by how they ended (`reprise_session_store_lookups_total{result}`) and how long
    /// Redis took to answer (`reprise_session_store_lookup_seconds`).
    fn report_metrics(&self, sink: &mut dyn MetricSink) {
        let s = self.stats();
        for (result, n) in [
            ("l1_hit", s.l1_hits),
            ("hit", s.redis_hits),
            ("miss", s.misses),
            ("timeout", s.timeouts),
            ("error", s.errors),
        ] {
            sink.counter(
                "reprise_session_store_lookups_total",
                "Session lookups by how they ended (timeout: answered without Redis's answer, \
                 at the deadline, with a full queue or while Redis is down).",
                &[("result", result)],
                n,
            );
        }
        let latency = self.latency();
        let bounds = LATENCY_BUCKETS_US.map(|us| us as f64 / 1e6);
        sink.histogram(
            "reprise_session_store_lookup_seconds",
            "Time Redis took to answer a session lookup.",
            &Histogram {
                upper_bounds: &bounds,
                counts: &latency.buckets,
                sum: latency.sum_us as f64 / 1e6,
            },
        );
    }

    fn fetch(&self, id: &[u8], now: u64, done: Box<dyn FnOnce(Lookup) + Send>) {
        if self.shared.is_down() {
            self.shared.timeouts.fetch_add(1, Relaxed);
            return done(Lookup::Unavailable);
        }
        let pending = Arc::new(PendingLookup {
            done: Mutex::new(Some(done)),
            asked: Instant::now(),
        });
        // The deadline first: once queued, a lookup is answered within the bound.
        let queued = self.deadlines.try_send(pending.clone()).is_ok()
            && self
                .jobs
                .try_send(Job::Get {
                    id: id.to_vec(),
                    now,
                    pending: pending.clone(),
                })
                .is_ok();
        if !queued {
            pending.answer(Lookup::Unavailable, Some(&self.shared.timeouts));
        }
    }
}

/// Turns an asynchronous store into a blocking one for thread-per-connection servers: a
/// `Pending` lookup is fetched and waited for, up to `bound`.
pub struct BlockingStore<S> {
    inner: Arc<S>,
    bound: Duration,
}

impl<S> BlockingStore<S> {
    /// Wraps `inner`; waits at most `bound` for a pending answer.
    pub fn new(inner: Arc<S>, bound: Duration) -> Self {
        Self { inner, bound }
    }
}

impl<S: SessionStore + 'static> SessionStore for BlockingStore<S> {
    fn get(&self, id: &[u8], now: u64) -> Lookup {
        match self.inner.get(id, now) {
            Lookup::Pending => {
                let (tx, rx) = std::sync::mpsc::channel();
                self.inner.fetch(
                    id,
                    now,
                    Box::new(move |answer| {
                        let _ = tx.send(answer);
                    }),
                );
                rx.recv_timeout(self.bound).unwrap_or(Lookup::Unavailable)
            }
            answer => answer,
        }
    }

    fn put(&self, id: &[u8], record: &SessionRecord, now: u64) {
        self.inner.put(id, record, now);
    }

    fn remove(&self, id: &[u8]) {
        self.inner.remove(id);
    }

    fn report_metrics(&self, sink: &mut dyn MetricSink) {
        self.inner.report_metrics(sink);
    }
}

#[cfg(test)]
mod key_tests {
    use super::session_keys;

    #[test]
    fn every_server_derives_the_same_session_id_key_from_the_fleet_secret() {
        let secret = [7u8; 32];
        let (_, a) = session_keys(&secret).unwrap();
        let (_, b) = session_keys(&secret).unwrap();
        let id = a.make_id(&[1; 16]);
        assert!(b.is_ours(&id), "another server recognises the ID");
        let (_, stranger) = session_keys(&[8u8; 32]).unwrap();
        assert!(!stranger.is_ours(&id));
        assert!(
            session_keys(&[7u8; 16]).is_err(),
            "a short secret is refused"
        );
    }
}
