//! Against a real `redis-server` on a loopback port (started here, stopped by PID): sessions
//! shared by two stores, sealed at rest, expiring, surviving an outage as full handshakes; and
//! the ticket-key ring published centrally and followed live.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reprise::internal::prf::MasterSecret;
use reprise::rng::{SeededRandom, SystemRandom};
use reprise::session::SessionRecord;
use reprise::session::{Lookup, SessionStore};
use reprise::session::{TicketKeyRing, TicketKeys};
use reprise_fleet::endpoint::RedisEndpoint;
use reprise_fleet::keys::{self, Publisher, RingStatus, KEK_PURPOSE};
use reprise_fleet::seal::SealKey;
use reprise_fleet::store::{BlockingStore, RedisSessionStore, RedisStoreConfig};

struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (installed by scripts/install-test-deps.sh)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, port }
    }

    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

const NOW: u64 = 1_800_000_000;

fn record(byte: u8) -> SessionRecord {
    SessionRecord {
        suite_id: 0xc02b,
        extended_master_secret: true,
        master_secret: MasterSecret::from_bytes([byte; 48]),
        created: NOW,
        lifetime: 300,
        server_name: smallvec::SmallVec::from_slice(b"localhost"),
        alpn: smallvec::SmallVec::new(),
        client: None,
    }
}

/// `record(byte)` made with a client certificate (`CN=device-17`): its version 2 encoding,
/// written out as `SessionRecord`'s documentation lays it out.
fn record_with_client(byte: u8) -> SessionRecord {
    let mut bytes = record(byte).encode();
    bytes[0] = SessionRecord::VERSION_WITH_CLIENT;
    bytes.extend_from_slice(&0x0123_4567_89ab_cdef_u64.to_be_bytes()); // roots epoch
    bytes.extend_from_slice(&(NOW + 86_400).to_be_bytes()); // notAfter
    bytes.extend_from_slice(&[0xcd; 32]); // certificate SHA-256
    bytes.extend_from_slice(&[7; 8]); // issuer hash
    bytes.extend_from_slice(&[1, 17]); // serial
    let subject = b"\x31\x12\x30\x10\x06\x03\x55\x04\x03\x0c\x09device-17";
    bytes.push(subject.len() as u8);
    bytes.extend_from_slice(subject);
    bytes.push(0); // no alternative names
    SessionRecord::decode(&bytes).unwrap()
}

fn store(url: &str) -> RedisSessionStore {
    let mut cfg = RedisStoreConfig::new(url);
    cfg.timeout = Duration::from_millis(200);
    cfg.session_timeout = 300;
    RedisSessionStore::new(
        cfg,
        SealKey::derive(&[9; 32], b"reprise session v1").unwrap(),
    )
    .unwrap()
}

fn fetch(store: &RedisSessionStore, id: &[u8]) -> Lookup {
    let (tx, rx) = channel();
    store.fetch(id, NOW + 1, Box::new(move |a| tx.send(a).unwrap()));
    rx.recv_timeout(Duration::from_secs(5))
        .expect("fetch answers within its bound")
}

fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn sessions_are_shared_sealed_and_expire() {
    let redis = Redis::start();
    let (a, b) = (store(&redis.url()), store(&redis.url()));
    let id = [1u8; 32];
    a.put(&id, &record(0xab), NOW);
    assert_eq!(
        a.get(&id, NOW),
        Lookup::Found(record(0xab)),
        "L1 answers at once"
    );
    assert_eq!(
        b.get(&id, NOW),
        Lookup::Pending,
        "the other server must ask Redis"
    );
    assert!(
        wait_until(|| fetch(&b, &id) == Lookup::Found(record(0xab))),
        "B finds A's session"
    );
    assert_eq!(
        b.get(&id, NOW),
        Lookup::Found(record(0xab)),
        "now in B's L1"
    );
    assert_eq!(fetch(&b, &[2u8; 32]), Lookup::Missing);

    // At rest: sealed, no master secret, with the session timeout as TTL.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let key = format!("reprise:sess:{}", "01".repeat(32));
    let raw: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
    assert!(
        !raw.windows(8).any(|w| w == [0xab; 8]),
        "no master secret in Redis"
    );
    let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut conn).unwrap();
    assert!(ttl > 0 && ttl <= 300, "ttl {ttl}");
    // A store with another fleet key cannot use the entry.
    let mut cfg = RedisStoreConfig::new(&redis.url());
    cfg.timeout = Duration::from_millis(200);
    let stranger = RedisSessionStore::new(
        cfg,
        SealKey::derive(&[8; 32], b"reprise session v1").unwrap(),
    )
    .unwrap();
    assert_eq!(fetch(&stranger, &id), Lookup::Missing);
    // Removal reaches Redis.
    a.remove(&id);
    let c = store(&redis.url());
    assert!(wait_until(|| fetch(&c, &id) == Lookup::Missing));
    assert!(b.stats().redis_hits >= 1 && stranger.stats().errors >= 1);

    // A session made with a client certificate carries its client across the fleet.
    let id = [3u8; 32];
    let bound = record_with_client(0xcd);
    a.put(&id, &bound, NOW);
    let d = store(&redis.url());
    assert!(
        wait_until(|| fetch(&d, &id) == Lookup::Found(bound.clone())),
        "another server finds the session with its client"
    );
    let Lookup::Found(found) = d.get(&id, NOW) else {
        panic!("in D's L1 now");
    };
    let client = found.client.expect("the client identity");
    assert_eq!(client.subject(), "CN=device-17");
    assert_eq!(client.certificate_sha256(), &[0xcd; 32]);
    let raw: Vec<u8> = redis::cmd("GET")
        .arg(format!("reprise:sess:{}", "03".repeat(32)))
        .query(&mut conn)
        .unwrap();
    assert!(
        !raw.windows(9).any(|w| w == b"device-17"),
        "the client's name is sealed at rest too"
    );
}

#[test]
fn an_outage_means_full_handshakes_and_recovery() {
    let mut redis = Redis::start();
    let port = redis.port;
    let s = store(&redis.url());
    let id = [7u8; 32];
    s.put(&id, &record(1), NOW);
    let other = store(&redis.url());
    assert!(wait_until(|| fetch(&other, &id) == Lookup::Found(record(1))));
    redis.stop();
    let third = store(&format!("redis://127.0.0.1:{port}/"));
    let started = Instant::now();
    assert_eq!(fetch(&third, &id), Lookup::Unavailable);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded: {:?}",
        started.elapsed()
    );
    assert_eq!(
        third.get(&id, NOW),
        Lookup::Unavailable,
        "fails fast while down"
    );
    // The blocking adapter (thread-per-connection servers) also answers within its bound.
    let blocking = BlockingStore::new(
        Arc::new(store(&format!("redis://127.0.0.1:{port}/"))),
        Duration::from_millis(300),
    );
    assert_eq!(blocking.get(&[9; 32], NOW), Lookup::Unavailable);

    let _back = Redis::start_on(port);
    // For a second after a failure the store asks Redis nothing, writes included.
    std::thread::sleep(Duration::from_millis(1100));
    third.put(&id, &record(2), NOW);
    let fresh = store(&format!("redis://127.0.0.1:{port}/"));
    assert!(
        wait_until(|| fetch(&fresh, &id) == Lookup::Found(record(2))),
        "resumption comes back with Redis"
    );
}

#[test]
fn lookups_are_answered_within_the_bound_even_when_redis_never_answers() {
    // A "sentinel" that accepts connections and never says a word: the store's workers block
    // on it (a sentinel query has no read timeout), yet every lookup is answered
    // `Unavailable` by its deadline, twice the store's timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in silent.incoming().take(16).flatten() {
            held.push(socket);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let mut cfg = RedisStoreConfig::new(&format!("redis+sentinel://127.0.0.1:{port}/reprise"));
    cfg.timeout = Duration::from_millis(50);
    let store = RedisSessionStore::new(cfg, SealKey::derive(&[9; 32], b"test").unwrap()).unwrap();
    let (tx, rx) = channel();
    let asked = Instant::now();
    for i in 0..10u8 {
        assert_eq!(store.get(&[i; 32], NOW), Lookup::Pending);
        let tx = tx.clone();
        store.fetch(
            &[i; 32],
            NOW,
            Box::new(move |answer| tx.send((answer, Instant::now())).unwrap()),
        );
    }
    for _ in 0..10 {
        let (answer, at) = rx.recv_timeout(Duration::from_secs(2)).expect("answered");
        assert_eq!(answer, Lookup::Unavailable);
        let took = at - asked;
        assert!(took < Duration::from_millis(400), "answered after {took:?}");
    }
    assert_eq!(store.stats().timeouts, 10, "{:?}", store.stats());
    let mut text = reprise_serve::prometheus::PrometheusText::new();
    store.report_metrics(&mut text);
    let text = text.finish();
    assert!(
        text.contains("reprise_session_store_lookups_total{result=\"timeout\"} 10"),
        "{text}"
    );
    assert!(
        text.contains("reprise_session_store_lookup_seconds_count 0"),
        "{text}"
    );
}

#[test]
fn ticket_keys_are_published_and_followed_live() {
    let mut redis = Redis::start();
    let url = redis.url();
    let kek = || SealKey::derive(&[5; 32], KEK_PURPOSE).unwrap();
    let mut publisher = Publisher::new(kek(), 3600, 7200);
    let rng = SeededRandom::new(1);
    publisher.tick(NOW, &rng).unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_connection().unwrap();
    // Publishing is fenced by the publishers' lease: this test holds it.
    let holder = "test-publisher";
    redis::cmd("SET")
        .arg(keys::LEASE_KEY)
        .arg(holder)
        .query::<()>(&mut conn)
        .unwrap();
    assert!(publisher.publish(&mut conn, holder, NOW, &rng).unwrap());
    assert!(
        !publisher
            .publish(&mut conn, "someone-else", NOW, &rng)
            .unwrap(),
        "no write without the lease"
    );

    // Two servers follow the ring: a ticket from one opens on the other.
    let follow = || {
        let keys = Arc::new(TicketKeys::new(
            TicketKeyRing::new(Default::default(), NOW, &SystemRandom).unwrap(),
        ));
        let stop = Arc::new(AtomicBool::new(false));
        keys::spawn_follower(
            RedisEndpoint::open(&url, Duration::from_secs(1)).unwrap(),
            kek(),
            keys.clone(),
            Arc::new(RingStatus::default()),
            Duration::from_millis(100),
            stop.clone(),
        )
        .unwrap();
        (keys, stop)
    };
    let ((a, stop_a), (b, stop_b)) = (follow(), follow());
    let first_name = publisher.ring_at(NOW).keys[0].material.name;
    assert!(wait_until(|| a.current().key_names() == vec![first_name]
        && b.current().key_names() == vec![first_name]));
    let mut ticket = Vec::new();
    a.current()
        .seal(b"session", NOW, &rng, &mut ticket)
        .unwrap();
    let mut out = [0u8; 64];
    assert!(b.current().open(&ticket, NOW, &mut out).is_ok());

    // Rotation mid-run: the next key is distributed first (decrypt-only), then encrypts; the
    // old key still decrypts within its window.
    publisher.tick(NOW + 3590, &rng).unwrap();
    assert!(publisher
        .publish(&mut conn, holder, NOW + 3590, &rng)
        .unwrap());
    assert!(wait_until(|| b.current().len() == 2));
    assert_eq!(
        b.current().key_names()[0],
        first_name,
        "the new key does not encrypt yet"
    );
    publisher.tick(NOW + 3600, &rng).unwrap();
    assert!(publisher
        .publish(&mut conn, holder, NOW + 3600, &rng)
        .unwrap());
    assert!(wait_until(|| b.current().key_names()[0] != first_name));
    let opened = b.current().open(&ticket, NOW + 3600, &mut out).unwrap();
    assert!(opened.renew, "old-key tickets are renewed");

    // Redis lost: the followers keep their last ring.
    redis.stop();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(b.current().len(), 2);
    assert!(a.current().open(&ticket, NOW + 3600, &mut out).is_ok());
    for stop in [stop_a, stop_b] {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn publishers_share_one_lease_and_hand_the_ring_over() {
    let redis = Redis::start();
    let url = redis.url();
    let kek = || SealKey::derive(&[6; 32], KEK_PURPOSE).unwrap();
    type Log = Arc<std::sync::Mutex<Vec<String>>>;
    let start = |log: Log, stop: Arc<AtomicBool>| {
        let url = url.clone();
        let publisher = Publisher::new(kek(), 3, 60);
        std::thread::spawn(move || {
            let endpoint = RedisEndpoint::open(&url, Duration::from_secs(1)).unwrap();
            keys::run_publisher(
                &endpoint,
                publisher,
                Duration::from_secs(5),
                &SystemRandom,
                &stop,
                |line| log.lock().unwrap().push(line.to_string()),
            )
            .unwrap();
        })
    };
    let has = |log: &Log, what: &str| log.lock().unwrap().iter().any(|l| l.contains(what));
    let (log_a, stop_a): (Log, _) = (Default::default(), Arc::new(AtomicBool::new(false)));
    let a = start(log_a.clone(), stop_a.clone());
    assert!(
        wait_until(|| has(&log_a, "published generation")),
        "{:?}",
        log_a
    );
    let (log_b, stop_b): (Log, _) = (Default::default(), Arc::new(AtomicBool::new(false)));
    let b = start(log_b.clone(), stop_b.clone());
    assert!(wait_until(|| has(&log_b, "standing by")), "{:?}", log_b);
    assert!(!has(&log_b, "published"), "the standby writes nothing");

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let mut ring = || {
        let blob: Vec<u8> = redis::cmd("GET")
            .arg(keys::REDIS_KEY)
            .query(&mut conn)
            .unwrap();
        keys::PublishedRing::unwrap(&kek(), &blob).unwrap()
    };
    let before = ring();
    // A stops and hands the lease back: B takes it at once and continues A's ring.
    stop_a.store(true, std::sync::atomic::Ordering::Relaxed);
    a.join().unwrap();
    assert!(has(&log_a, "released the lease"), "{:?}", log_a);
    assert!(
        wait_until(|| has(&log_b, "leading: continuing generation")),
        "{:?}",
        log_b
    );
    let line = log_b
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("continuing generation"))
        .cloned()
        .unwrap();
    let continued: u64 = line
        .split_whitespace()
        .nth(3)
        .and_then(|g| g.parse().ok())
        .unwrap();
    assert!(continued >= before.generation, "{line}");
    let after = ring();
    assert!(after.generation >= continued);
    // Every key A published is still in B's ring (none re-minted, none dropped early).
    for key in &before.keys {
        assert!(
            after
                .keys
                .iter()
                .any(|k| k.material.name == key.material.name),
            "a key of the old leader was dropped"
        );
    }
    stop_b.store(true, std::sync::atomic::Ordering::Relaxed);
    b.join().unwrap();
}
