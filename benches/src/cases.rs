//! The work both stacks do, written once and driven by criterion and by [`quick`](crate::quick).

use std::io::{Read, Write};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use reprise::internal::ticket::MAX_TICKET_PLAINTEXT;
use reprise::rng::RandomSource;
use reprise::session::SessionCache;
use reprise::session::SessionRecord;
use reprise::session::TicketKeyRing;
use reprise::session::{Lookup, SessionStore};
use reprise::{ClientConnection, ServerConnection};
use rustls::server::{ProducesTickets, StoresServerSessions};

use crate::meter::{Meter, NoMeter, Role};
use crate::pki::{CertKind, NOW, SERVER_NAME};
use crate::setup::{self, Group, RepriseConfigs, Resume, RustlsConfigs, Scenario};

/// Size of a bulk record's plaintext (the TLS maximum, 2^14).
pub const RECORD: usize = 16 * 1024;

/// One end of an in-memory connection, as the pump sees it.
pub trait Endpoint {
    /// Appends the records waiting to be sent to `buf`.
    fn output(&mut self, buf: &mut Vec<u8>) -> Result<(), String>;
    /// Processes received records (may decrypt in place).
    fn input(&mut self, data: &mut [u8]) -> Result<(), String>;
    /// True once the handshake completed.
    fn open(&self) -> bool;
    /// True when the handshake resumed a session.
    fn resumed(&self) -> bool;
}

impl<S: reprise::Handshake> Endpoint for reprise::Connection<S> {
    #[inline]
    fn output(&mut self, buf: &mut Vec<u8>) -> Result<(), String> {
        let out = self.pending_output();
        let n = out.len();
        buf.extend_from_slice(out);
        self.consume_output(n);
        Ok(())
    }
    #[inline]
    fn input(&mut self, data: &mut [u8]) -> Result<(), String> {
        let mut inbound = reprise::Inbound::new(data);
        while self
            .next_plaintext(&mut inbound, NOW)
            .map_err(|e| e.to_string())?
            .is_some()
        {}
        if inbound.consumed() < data.len() {
            return Err("partial record".into());
        }
        while self.next_event().is_some() {}
        Ok(())
    }
    fn open(&self) -> bool {
        self.is_open()
    }
    fn resumed(&self) -> bool {
        self.negotiated().resumed.is_some()
    }
}

macro_rules! rustls_endpoint {
    ($t:ty) => {
        impl Endpoint for $t {
            #[inline]
            fn output(&mut self, buf: &mut Vec<u8>) -> Result<(), String> {
                while self.wants_write() {
                    self.write_tls(buf).map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            #[inline]
            fn input(&mut self, data: &mut [u8]) -> Result<(), String> {
                let mut rd: &[u8] = data;
                while !rd.is_empty() {
                    self.read_tls(&mut rd).map_err(|e| e.to_string())?;
                    self.process_new_packets().map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            fn open(&self) -> bool {
                !self.is_handshaking()
            }
            fn resumed(&self) -> bool {
                self.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
            }
        }
    };
}
rustls_endpoint!(rustls::ServerConnection);
rustls_endpoint!(rustls::ClientConnection);

/// The two wire buffers, reused across handshakes.
#[derive(Default)]
pub struct Wire {
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    /// When set, handshake-message bytes seen on the wire are added to `transcript`.
    count: bool,
    transcript: usize,
}

/// Handshake-message bytes in a flight (what the transcript hash absorbs): record bodies of
/// type handshake, less the AEAD overhead (24 bytes for AES-GCM) after a ChangeCipherSpec.
fn handshake_bytes(mut buf: &[u8]) -> usize {
    let (mut total, mut encrypted) = (0, false);
    while buf.len() >= 5 {
        let len = u16::from_be_bytes([buf[3], buf[4]]) as usize;
        match buf[0] {
            20 => encrypted = true,
            22 => {
                total += if encrypted {
                    len.saturating_sub(24)
                } else {
                    len
                }
            }
            _ => {}
        }
        buf = &buf[(5 + len).min(buf.len())..];
    }
    total
}

impl Wire {
    /// Buffers with room for any flight of these benches.
    pub fn new() -> Self {
        Self {
            c2s: Vec::with_capacity(64 * 1024),
            s2c: Vec::with_capacity(64 * 1024),
            count: false,
            transcript: 0,
        }
    }
}

/// One handshake between freshly made endpoints, metering each side's calls (creation,
/// input, output and drop). Returns `(client resumed, server resumed)`.
pub fn handshake<C: Endpoint, S: Endpoint, M: Meter>(
    new_client: impl FnOnce() -> Result<C, String>,
    new_server: impl FnOnce() -> Result<S, String>,
    end_server: impl FnOnce(S),
    wire: &mut Wire,
    meter: &mut M,
) -> Result<(bool, bool), String> {
    let mut client = meter.measure(Role::Client, new_client)?;
    let mut server = meter.measure(Role::Server, new_server)?;
    for _ in 0..8 {
        wire.c2s.clear();
        meter.measure(Role::Client, || client.output(&mut wire.c2s))?;
        if !wire.c2s.is_empty() {
            meter.measure(Role::Server, || server.input(&mut wire.c2s))?;
        }
        wire.s2c.clear();
        meter.measure(Role::Server, || server.output(&mut wire.s2c))?;
        if wire.count {
            wire.transcript += handshake_bytes(&wire.c2s) + handshake_bytes(&wire.s2c);
        }
        if !wire.s2c.is_empty() {
            meter.measure(Role::Client, || client.input(&mut wire.s2c))?;
        }
        if wire.c2s.is_empty() && wire.s2c.is_empty() {
            break;
        }
    }
    if !client.open() || !server.open() {
        return Err("handshake did not complete".into());
    }
    let resumed = (client.resumed(), server.resumed());
    meter.measure_drop(Role::Client, || drop(client));
    meter.measure_drop(Role::Server, || end_server(server));
    Ok(resumed)
}

/// Which implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    /// This engine.
    Reprise,
    /// rustls 0.23 with the aws-lc-rs provider.
    Rustls,
}

enum Configs {
    Reprise(RepriseConfigs),
    Rustls(RustlsConfigs),
}

/// Repeated handshakes of one scenario on one stack.
pub struct Handshakes {
    configs: Configs,
    scenario: Scenario,
    wire: Wire,
    server_name: pki_types::ServerName<'static>,
    recycle: bool,
    pool: Option<reprise::Buffers>,
    transcript: usize,
}

impl Handshakes {
    /// Sets up `scenario` on `stack`; for resumption, runs the full handshake that makes the
    /// session and checks that the next handshake resumes.
    pub fn new(stack: Stack, scenario: Scenario) -> Result<Self, String> {
        let configs = match stack {
            Stack::Reprise => Configs::Reprise(setup::reprise(scenario)?),
            Stack::Rustls => Configs::Rustls(setup::rustls(scenario)?),
        };
        let mut hs = Self {
            configs,
            scenario,
            wire: Wire::new(),
            server_name: pki_types::ServerName::try_from(SERVER_NAME).map_err(|e| e.to_string())?,
            recycle: false,
            pool: None,
            transcript: 0,
        };
        let want = scenario.resume != Resume::Full;
        for round in 0..3 {
            let resumed = hs.run(&mut NoMeter)?;
            if round > 0 && resumed != (want, want) {
                return Err(format!(
                    "{:?} {}: expected resumed={want}, got (client, server)={resumed:?}",
                    stack,
                    scenario.label()
                ));
            }
        }
        hs.wire.count = true;
        hs.wire.transcript = 0;
        hs.run(&mut NoMeter)?;
        hs.wire.count = false;
        hs.transcript = hs.wire.transcript;
        Ok(hs)
    }

    /// The same scenario with clients of its own (their own session memory) talking to this
    /// one's server config: its session cache and ticket keys are shared, as the workers of
    /// one server share them.
    pub fn sharing_server(&self) -> Result<Self, String> {
        let configs = match &self.configs {
            Configs::Reprise(c) => {
                let mut own = setup::reprise(self.scenario)?;
                own.server = c.server.clone();
                Configs::Reprise(own)
            }
            Configs::Rustls(c) => {
                let mut own = setup::rustls(self.scenario)?;
                own.server = c.server.clone();
                Configs::Rustls(own)
            }
        };
        let mut hs = Self {
            configs,
            scenario: self.scenario,
            wire: Wire::new(),
            server_name: self.server_name.clone(),
            recycle: self.recycle,
            pool: None,
            transcript: self.transcript,
        };
        // The first handshake makes this client's session.
        hs.run(&mut NoMeter)?;
        Ok(hs)
    }

    /// Handshake-message bytes of one handshake (what the transcript hash absorbs).
    pub fn transcript_bytes(&self) -> usize {
        self.transcript
    }

    /// Reprise only: build each server connection on the buffers of the previous one
    /// ([`reprise::Connection::into_buffers`]), as a driver with a connection pool would.
    pub fn set_recycling(&mut self, on: bool) {
        self.recycle = on;
        self.pool = None;
    }

    /// The Rust heap a server connection holds once its handshake is done (needs the counting
    /// allocator).
    pub fn idle_heap(&mut self) -> Result<i64, String> {
        let mut live = crate::meter::Live::default();
        self.run(&mut live)?;
        Ok(live.server)
    }

    /// The scenario.
    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// One handshake, metered.
    #[inline]
    pub fn run<M: Meter>(&mut self, meter: &mut M) -> Result<(bool, bool), String> {
        match &self.configs {
            Configs::Reprise(c) => {
                let recycle = self.recycle;
                let pool = std::cell::Cell::new(self.pool.take());
                let r = handshake(
                    || {
                        ClientConnection::new(c.client.clone(), SERVER_NAME)
                            .map_err(|e| e.to_string())
                    },
                    || {
                        Ok(match pool.take() {
                            Some(b) => ServerConnection::with_buffers(c.server.clone(), b),
                            None => ServerConnection::new(c.server.clone()),
                        })
                    },
                    |s: ServerConnection| {
                        if recycle {
                            pool.set(Some(s.into_buffers()));
                        }
                    },
                    &mut self.wire,
                    meter,
                );
                self.pool = pool.into_inner();
                r
            }
            Configs::Rustls(c) => handshake(
                || {
                    rustls::ClientConnection::new(c.client.clone(), self.server_name.clone())
                        .map_err(|e| e.to_string())
                },
                || rustls::ServerConnection::new(c.server.clone()).map_err(|e| e.to_string()),
                drop,
                &mut self.wire,
                meter,
            ),
        }
    }

    /// `n` handshakes; the time spent on `role`.
    pub fn time(&mut self, n: u64, role: Role) -> Duration {
        let mut timer = crate::meter::Timer::default();
        for _ in 0..n {
            if let Err(e) = self.run(&mut timer) {
                panic!("{}: {e}", self.scenario.label());
            }
        }
        timer.get(role)
    }
}

/// The handshake scenarios every run covers.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::full(CertKind::EcdsaP256, Group::X25519),
        Scenario::full(CertKind::EcdsaP256, Group::P256),
        Scenario::full(CertKind::Rsa2048, Group::X25519),
        Scenario::full(CertKind::Rsa2048, Group::P256),
        Scenario::resumed(Resume::SessionId),
        Scenario::resumed(Resume::Ticket),
        Scenario::full(CertKind::EcdsaP256, Group::X25519).mutual(),
        Scenario::resumed(Resume::SessionId).mutual(),
        Scenario::resumed(Resume::Ticket).mutual(),
    ]
}

/// Direction of bulk traffic, seen from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The server seals 16 KiB records.
    Send,
    /// The server opens 16 KiB records (the client sealed them, untimed).
    Receive,
}

enum BulkPair {
    Reprise(Box<(ClientConnection, ServerConnection)>),
    Rustls(Box<(rustls::ClientConnection, rustls::ServerConnection)>),
}

/// An established connection pair moving 16 KiB records.
pub struct Bulk {
    pair: BulkPair,
    data_store: Vec<u8>,
    data_off: usize,
    record: Vec<u8>,
    plain: Vec<u8>,
}

impl Bulk {
    /// A connected ECDSA/X25519 pair on `stack`.
    pub fn new(stack: Stack) -> Result<Self, String> {
        let scenario = Scenario::full(CertKind::EcdsaP256, Group::X25519);
        let mut wire = Wire::new();
        let pair = match stack {
            Stack::Reprise => {
                let c = setup::reprise(scenario)?;
                let mut client = ClientConnection::new(c.client.clone(), SERVER_NAME)
                    .map_err(|e| e.to_string())?;
                let mut server = ServerConnection::new(c.server.clone());
                pump(&mut client, &mut server, &mut wire)?;
                BulkPair::Reprise(Box::new((client, server)))
            }
            Stack::Rustls => {
                let c = setup::rustls(scenario)?;
                let name =
                    pki_types::ServerName::try_from(SERVER_NAME).map_err(|e| e.to_string())?;
                let mut client = rustls::ClientConnection::new(c.client.clone(), name)
                    .map_err(|e| e.to_string())?;
                let mut server =
                    rustls::ServerConnection::new(c.server.clone()).map_err(|e| e.to_string())?;
                pump(&mut client, &mut server, &mut wire)?;
                BulkPair::Rustls(Box::new((client, server)))
            }
        };
        let record = vec![0u8; RECORD + 64];
        let data_store: Vec<u8> = (0..RECORD + 4096).map(|i| i as u8).collect();
        // Place the source so that it does not sit a few bytes below the record's payload
        // modulo 4 KiB: on some CPUs (AMD Zen with glibc's `rep movsb`) such a copy runs
        // 30× slower, which would measure the allocator's placement, not the stacks.
        let dst = record.as_ptr() as usize + 13;
        let data_off = dst
            .wrapping_sub(data_store.as_ptr() as usize)
            .wrapping_sub(2048)
            % 4096;
        Ok(Self {
            pair,
            data_store,
            data_off,
            record,
            plain: vec![0; RECORD],
        })
    }

    /// Moves one 16 KiB record; returns the time the server spent.
    #[inline]
    pub fn step(&mut self, dir: Direction) -> Duration {
        match self.step_checked(dir) {
            Ok(d) => d,
            Err(e) => panic!("bulk {dir:?}: {e}"),
        }
    }

    fn step_checked(&mut self, dir: Direction) -> Result<Duration, String> {
        let rec = &mut self.record;
        let data = &self.data_store[self.data_off..self.data_off + RECORD];
        match (&mut self.pair, dir) {
            (BulkPair::Reprise(p), Direction::Send) => {
                let (client, server) = &mut **p;
                // The application writes its plaintext where the record's payload goes (its
                // own work, untimed: it would produce the bytes there in the first place),
                // then the engine seals it in place.
                let off = server.record_payload_offset();
                rec[off..off + RECORD].copy_from_slice(data);
                let t = Instant::now();
                let len = server
                    .seal_in_place(RECORD, rec)
                    .map_err(|e| e.to_string())?;
                let d = t.elapsed();
                // Keep the client's sequence numbers in step (untimed).
                let r = client
                    .receive(&mut rec[..len], NOW)
                    .map_err(|e| e.to_string())?;
                check(r.plaintext.len())?;
                Ok(d)
            }
            (BulkPair::Reprise(p), Direction::Receive) => {
                let (client, server) = &mut **p;
                let (_, len) = client.seal_into(data, rec).map_err(|e| e.to_string())?;
                let t = Instant::now();
                let r = server
                    .receive(&mut rec[..len], NOW)
                    .map_err(|e| e.to_string())?;
                let d = t.elapsed();
                check(r.plaintext.len())?;
                Ok(d)
            }
            (BulkPair::Rustls(p), Direction::Send) => {
                let (client, server) = &mut **p;
                rec.clear(); // capacity stays: write_tls appends without reallocating
                let t = Instant::now();
                server.writer().write_all(data).map_err(|e| e.to_string())?;
                while server.wants_write() {
                    server.write_tls(rec).map_err(|e| e.to_string())?;
                }
                let d = t.elapsed();
                let mut rd: &[u8] = rec;
                while !rd.is_empty() {
                    client.read_tls(&mut rd).map_err(|e| e.to_string())?;
                    client.process_new_packets().map_err(|e| e.to_string())?;
                }
                client
                    .reader()
                    .read_exact(&mut self.plain)
                    .map_err(|e| e.to_string())?;
                Ok(d)
            }
            (BulkPair::Rustls(p), Direction::Receive) => {
                let (client, server) = &mut **p;
                rec.clear();
                client.writer().write_all(data).map_err(|e| e.to_string())?;
                while client.wants_write() {
                    client.write_tls(rec).map_err(|e| e.to_string())?;
                }
                let t = Instant::now();
                let mut rd: &[u8] = rec;
                while !rd.is_empty() {
                    server.read_tls(&mut rd).map_err(|e| e.to_string())?;
                    server.process_new_packets().map_err(|e| e.to_string())?;
                }
                server
                    .reader()
                    .read_exact(&mut self.plain)
                    .map_err(|e| e.to_string())?;
                Ok(t.elapsed())
            }
        }
    }

    /// `n` records; the server's time.
    pub fn time(&mut self, n: u64, dir: Direction) -> Duration {
        (0..n).map(|_| self.step(dir)).sum()
    }
}

fn check(len: usize) -> Result<(), String> {
    if len == RECORD {
        Ok(())
    } else {
        Err(format!("received {len} bytes, sent {RECORD}"))
    }
}

/// Exchanges flights between `client` and `server` until both are quiet; an error unless
/// both ended open.
pub(crate) fn pump<C: Endpoint, S: Endpoint>(
    client: &mut C,
    server: &mut S,
    wire: &mut Wire,
) -> Result<(), String> {
    for _ in 0..8 {
        wire.c2s.clear();
        client.output(&mut wire.c2s)?;
        server.input(&mut wire.c2s)?;
        wire.s2c.clear();
        server.output(&mut wire.s2c)?;
        client.input(&mut wire.s2c)?;
        if wire.c2s.is_empty() && wire.s2c.is_empty() {
            break;
        }
    }
    if client.open() && server.open() {
        Ok(())
    } else {
        Err("handshake did not complete".into())
    }
}

/// A typical session record (SNI `localhost`, ALPN `http/1.1`).
pub fn sample_record() -> SessionRecord {
    SessionRecord {
        suite_id: 0xc02b,
        extended_master_secret: true,
        master_secret: reprise::internal::prf::MasterSecret::from_bytes([7; 48]),
        created: NOW,
        lifetime: 3600,
        server_name: SERVER_NAME.as_bytes().into(),
        alpn: b"http/1.1".as_slice().into(),
        client: None,
    }
}

/// Ticket sealing and opening of the same session bytes with each stack's ticket protection
/// (Reprise: AES-256-GCM; rustls: AES-256-CBC + HMAC-SHA256, RFC 5077 §4).
pub enum Tickets {
    /// Reprise's key ring and the server's default randomness.
    Reprise(TicketKeyRing, Arc<dyn RandomSource>, Vec<u8>, Vec<u8>),
    /// rustls's `Ticketer`.
    Rustls(Arc<dyn ProducesTickets>, Vec<u8>, Vec<u8>),
}

impl Tickets {
    /// A fresh key on `stack`, with a sealed sample ticket ready to open.
    pub fn new(stack: Stack) -> Result<Self, String> {
        let plain = sample_record().encode();
        match stack {
            Stack::Reprise => {
                let rng = reprise::ServerConfig::new().rng;
                let keys = setup::reprise_ticket_keys(rng.as_ref())?;
                let ring = (*keys.current()).clone();
                let mut ticket = Vec::new();
                ring.seal(&plain, NOW, rng.as_ref(), &mut ticket)
                    .map_err(|e| e.to_string())?;
                Ok(Tickets::Reprise(ring, rng, plain, ticket))
            }
            Stack::Rustls => {
                let t = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| e.to_string())?;
                let ticket = t.encrypt(&plain).ok_or("rustls ticket encryption failed")?;
                Ok(Tickets::Rustls(t, plain, ticket))
            }
        }
    }

    /// `n` seals; elapsed time.
    pub fn seal(&mut self, n: u64) -> Duration {
        let t = Instant::now();
        match self {
            Tickets::Reprise(ring, rng, plain, out) => {
                for _ in 0..n {
                    out.clear();
                    if ring.seal(plain, NOW, rng.as_ref(), out).is_err() {
                        panic!("ticket seal failed");
                    }
                }
            }
            Tickets::Rustls(t, plain, _) => {
                for _ in 0..n {
                    std::hint::black_box(t.encrypt(plain));
                }
            }
        }
        t.elapsed()
    }

    /// `n` opens; elapsed time.
    pub fn open(&mut self, n: u64) -> Duration {
        let t = Instant::now();
        match self {
            Tickets::Reprise(ring, _, plain, ticket) => {
                let mut out = [0u8; MAX_TICKET_PLAINTEXT];
                for _ in 0..n {
                    match ring.open(ticket, NOW, &mut out) {
                        Ok(o) if o.len == plain.len() => {}
                        _ => panic!("ticket open failed"),
                    }
                }
            }
            Tickets::Rustls(t, plain, ticket) => {
                for _ in 0..n {
                    match t.decrypt(ticket) {
                        Some(p) if p.len() == plain.len() => {}
                        _ => panic!("ticket open failed"),
                    }
                }
            }
        }
        t.elapsed()
    }
}

/// A server session cache shared by two threads, each putting new sessions and getting
/// recent ones.
pub enum Cache {
    /// Reprise's sharded cache.
    Reprise(Arc<SessionCache>),
    /// rustls's `ServerSessionMemoryCache`.
    Rustls(Arc<dyn StoresServerSessions>),
}

/// Sessions each cache holds (both sized for this many).
pub const CACHE_SESSIONS: usize = 20_000;

impl Cache {
    /// An empty cache on `stack`.
    pub fn new(stack: Stack) -> Self {
        match stack {
            // SessionCache takes a byte budget: size it for CACHE_SESSIONS.
            Stack::Reprise => {
                let probe = SessionCache::new(1 << 20, 3600);
                let per = probe.bytes_per_session().ceil() as usize + 1;
                Cache::Reprise(Arc::new(SessionCache::new(CACHE_SESSIONS * per, 3600)))
            }
            Stack::Rustls => Cache::Rustls(rustls::server::ServerSessionMemoryCache::new(
                CACHE_SESSIONS,
            )),
        }
    }

    /// Puts `n` sessions from the calling thread (to measure the heap a cache grows by).
    pub fn fill(&self, n: u64) {
        let record = sample_record();
        let value = record.encode();
        for i in 0..n {
            let mut id = [0xa5u8; 32];
            id[..8].copy_from_slice(&i.to_le_bytes());
            match self {
                Cache::Reprise(c) => c.put(&id, &record, NOW),
                Cache::Rustls(c) => {
                    c.put(id.to_vec(), value.clone());
                }
            }
        }
    }

    /// Two threads each doing `n` (put, get) pairs; wall time. Returns the number of
    /// operations done (4n) and the time.
    pub fn run(&self, n: u64) -> (u64, Duration) {
        let record = sample_record();
        let value = record.encode();
        let barrier = Barrier::new(3);
        let start = std::thread::scope(|s| {
            for thread in 0..2u8 {
                let barrier = &barrier;
                let record = &record;
                let value = &value;
                s.spawn(move || {
                    let id = |i: u64| {
                        let mut id = [thread; 32];
                        id[..8]
                            .copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
                        id
                    };
                    barrier.wait();
                    for i in 0..n {
                        let put = id(i);
                        let get = id(i.saturating_sub(16));
                        // The session put 16 rounds ago is normally still there, but not
                        // always: if the other thread runs far ahead (this one descheduled
                        // on a busy host), its puts may have evicted it. The lookup is the
                        // work being timed either way; the caches' correctness has its own
                        // tests.
                        match self {
                            Cache::Reprise(c) => {
                                c.put(&put, record, NOW);
                                std::hint::black_box(matches!(c.get(&get, NOW), Lookup::Found(_)));
                            }
                            Cache::Rustls(c) => {
                                c.put(put.to_vec(), value.clone());
                                std::hint::black_box(c.get(&get).is_some());
                            }
                        }
                    }
                });
            }
            barrier.wait();
            Instant::now()
        });
        (4 * n, start.elapsed())
    }
}
