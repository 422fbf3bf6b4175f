//! The deterministic world the fuzz targets run in, and the invariant checks they share.
//!
//! Everything a connection depends on is fixed: the PKI (DER files in `fuzz/fixtures/`), the
//! clock ([`NOW`]), the randomness ([`reprise::rng::SeededRandom`] with fixed seeds, fresh for
//! every run), the server's session cache (one known session) and its ticket key (fixed
//! material), and the sessions the client offers. So a recorded handshake (the committed seed
//! corpora, written by `examples/gen_corpus.rs`) replays byte for byte against a target, and a
//! crash found by the fuzzer reproduces from its input alone.
//!
//! Only ECDSA signatures are not reproducible (aws-lc draws their nonces itself), so a server
//! whose flight must replay exactly signs with RSA PKCS#1 v1.5 ([`ClientProfile::RsaPkcs1`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use arbitrary::Arbitrary;
use reprise::internal::codec::{ContentType, RecordHeader, RECORD_HEADER_LEN};
use reprise::internal::prf::MasterSecret;
use reprise::internal::suites::{self, CipherSuite};
use reprise::rng::{RandomSource, RngError, SeededRandom};
use reprise::session::SessionCache;
use reprise::session::SessionRecord;
use reprise::session::{ClientSession, ClientSessionStore};
use reprise::session::{Lookup, SessionStore};
use reprise::session::{RotationPolicy, TicketKeyMaterial, TicketKeyRing, TicketKeys};
use reprise::SignatureScheme;
use reprise::{
    ClientConfig, ClientConnection, Connection, Error, Event, Handshake, Inbound, RootStore,
    ServerConfig, ServerConnection,
};

/// The fixed "now" of every fuzz run (2027-01-15), inside the fixtures' validity.
pub const NOW: u64 = 1_800_000_000;
/// Seed of the server's randomness.
pub const SERVER_SEED: u64 = 0x5245_5052_4953_4553;
/// Seed of the client's randomness.
pub const CLIENT_SEED: u64 = 0x5245_5052_4953_4543;
/// Seed of the nonces of the fixed tickets.
pub const TICKET_SEED: u64 = 0x5449_434b_4554;
/// Server name the client connects to (the fixtures' leaf name).
pub const SERVER_NAME: &str = "localhost";
/// Session ID under which the server's cache holds [`id_session_record`].
pub const SESSION_ID: [u8; 32] = [0x1d; 32];
/// Seconds a session ID may be resumed (the server's `session_timeout`).
pub const SESSION_TIMEOUT: u32 = 300;
/// Lifetime of issued tickets.
pub const TICKET_LIFETIME: u32 = 3600;

/// The committed PKI.
pub mod pki {
    /// The CA certificate (the client's only root).
    pub const CA: &[u8] = include_bytes!("../fixtures/ca.der");
    /// ECDSA P-256 leaf for `localhost`.
    pub const ECDSA: &[u8] = include_bytes!("../fixtures/ecdsa.der");
    /// Its PKCS#8 key.
    pub const ECDSA_KEY: &[u8] = include_bytes!("../fixtures/ecdsa.key.der");
    /// RSA-2048 leaf for `localhost`.
    pub const RSA: &[u8] = include_bytes!("../fixtures/rsa.der");
    /// Its PKCS#8 key.
    pub const RSA_KEY: &[u8] = include_bytes!("../fixtures/rsa.key.der");
}

/// The server's ticket key material: fixed, so tickets sealed by one run open in the next.
pub fn ticket_material() -> TicketKeyMaterial {
    let mut secret = [0u8; 32];
    for (i, b) in secret.iter_mut().enumerate() {
        *b = 0xa0 ^ i as u8;
    }
    TicketKeyMaterial {
        name: *b"reprise-fuzz-key",
        secret: secret.into(),
    }
}

/// A ring with [`ticket_material`] encrypting from [`NOW`] for a day.
pub fn ticket_ring() -> TicketKeyRing {
    TicketKeyRing::from_material(
        vec![ticket_material()],
        RotationPolicy {
            rotate_every: 86_400,
            decrypt_window: 86_400,
        },
        NOW,
    )
}

fn record(suite: &CipherSuite, secret: u8, created: u64, lifetime: u32) -> SessionRecord {
    SessionRecord {
        suite_id: suite.id,
        extended_master_secret: true,
        master_secret: MasterSecret::from_bytes([secret; 48]),
        created,
        lifetime,
        server_name: SERVER_NAME.as_bytes().into(),
        alpn: Default::default(),
        client: None,
    }
}

/// The session the server's cache holds under [`SESSION_ID`] (AES-128-GCM, SHA-256).
pub fn id_session_record() -> SessionRecord {
    record(
        &suites::ECDHE_ECDSA_AES128_GCM_SHA256,
        0x4d,
        NOW - 100,
        SESSION_TIMEOUT,
    )
}

/// A ticket session that resumes without renewal (ChaCha20-Poly1305).
pub fn fresh_ticket_record() -> SessionRecord {
    record(
        &suites::ECDHE_ECDSA_CHACHA20_POLY1305_SHA256,
        0x5a,
        NOW - 60,
        7200,
    )
}

/// A ticket session close to expiry, so the server renews it (AES-256-GCM, SHA-384).
pub fn old_ticket_record() -> SessionRecord {
    record(&suites::ECDHE_RSA_AES256_GCM_SHA384, 0x6b, NOW - 6000, 7200)
}

/// `record` sealed under [`ticket_ring`] with seeded nonces.
pub fn seal_ticket(record: &SessionRecord) -> Vec<u8> {
    let mut ticket = Vec::new();
    ticket_ring()
        .seal(
            &record.encode(),
            NOW,
            &SeededRandom::new(TICKET_SEED),
            &mut ticket,
        )
        .expect("sealing a fixed ticket");
    ticket
}

/// Randomness that restarts a [`SeededRandom`] stream on [`reset`](Self::reset), so one
/// configuration serves every input and each input still sees the same stream.
pub struct Reseeded {
    seed: u64,
    inner: Mutex<SeededRandom>,
}

impl Reseeded {
    /// A stream seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            inner: Mutex::new(SeededRandom::new(seed)),
        }
    }

    /// Starts the stream over.
    pub fn reset(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = SeededRandom::new(self.seed);
    }
}

impl RandomSource for Reseeded {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        self.inner
            .lock()
            .map_err(|_| RngError)
            .and_then(|r| r.fill(dest))
    }
}

/// A [`SessionCache`] that [`reset`](Self::reset) replaces by one holding only
/// [`id_session_record`] under [`SESSION_ID`].
pub struct FreshCache(Mutex<Arc<SessionCache>>);

impl FreshCache {
    fn filled() -> Arc<SessionCache> {
        let cache = SessionCache::new(64 * 1024, SESSION_TIMEOUT);
        cache.put(&SESSION_ID, &id_session_record(), NOW);
        Arc::new(cache)
    }

    /// Back to the single known session.
    pub fn reset(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Self::filled();
    }

    fn cache(&self) -> Arc<SessionCache> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl SessionStore for FreshCache {
    fn get(&self, id: &[u8], now: u64) -> Lookup {
        self.cache().get(id, now)
    }
    fn put(&self, id: &[u8], record: &SessionRecord, now: u64) {
        self.cache().put(id, record, now)
    }
    fn remove(&self, id: &[u8]) {
        self.cache().remove(id)
    }
}

struct World {
    config: Arc<ServerConfig>,
    /// The same server, requiring a client certificate from the fixture CA.
    mutual: Arc<ServerConfig>,
    rng: Arc<Reseeded>,
    cache: Arc<FreshCache>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rng = Arc::new(Reseeded::new(SERVER_SEED));
        let cache = Arc::new(FreshCache(Mutex::new(FreshCache::filled())));
        let tickets = Arc::new(TicketKeys::new(ticket_ring()));
        let make = |client_auth: bool| {
            let mut config = ServerConfig::new();
            config
                .add_certificate(vec![pki::ECDSA.to_vec(), pki::CA.to_vec()], pki::ECDSA_KEY)
                .expect("ECDSA fixture");
            config
                .add_certificate(vec![pki::RSA.to_vec(), pki::CA.to_vec()], pki::RSA_KEY)
                .expect("RSA fixture");
            config.rng = rng.clone();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            config.session_store = Some(cache.clone());
            config.session_timeout = SESSION_TIMEOUT;
            config.tickets = Some(tickets.clone());
            config.ticket_lifetime = TICKET_LIFETIME;
            if client_auth {
                let mut roots = RootStore::new();
                roots.add_der(pki::CA).expect("CA fixture");
                config.client_auth = Some(Arc::new(reprise::ClientAuth::required(roots)));
            }
            Arc::new(config)
        };
        World {
            config: make(false),
            mutual: make(true),
            rng,
            cache,
        }
    })
}

/// The fuzzing server's configuration: both certificates, ALPN, a session cache holding one
/// session, tickets under the fixed key, seeded randomness. Parsing the keys is slow, so it
/// is built once; [`new_server`] puts its randomness and cache back to their start.
pub fn server_config() -> Arc<ServerConfig> {
    world().config.clone()
}

/// A server connection in the initial state of the world: its random stream restarted and
/// its cache holding only the known session (one server per input at a time).
pub fn new_server() -> ServerConnection {
    let w = world();
    w.rng.reset();
    w.cache.reset();
    ServerConnection::new(w.config.clone())
}

/// [`new_server`], requiring a client certificate from the fixture CA (RFC 5246 §7.4.4):
/// the server that the [`ClientProfile::Mutual`] client talks to.
pub fn new_mutual_server() -> ServerConnection {
    let w = world();
    w.rng.reset();
    w.cache.reset();
    ServerConnection::new(w.mutual.clone())
}

/// The server `profile`'s client talks to: [`new_mutual_server`] for
/// [`ClientProfile::Mutual`], [`new_server`] for the others.
pub fn new_server_for(profile: ClientProfile) -> ServerConnection {
    match profile {
        ClientProfile::Mutual => new_mutual_server(),
        _ => new_server(),
    }
}

/// Which client (configuration and remembered session) talks to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Arbitrary)]
pub enum ClientProfile {
    /// Defaults: every suite, tickets offered, nothing to resume (the server signs with ECDSA).
    Fresh,
    /// Only ECDHE-RSA suites and PKCS#1 v1.5 signatures: the server's flight is deterministic.
    RsaPkcs1,
    /// Offers [`SESSION_ID`] (tickets off).
    ResumeId,
    /// Offers the ticket of [`fresh_ticket_record`].
    ResumeTicket,
    /// Offers the ticket of [`old_ticket_record`]; the server renews it.
    ResumeTicketRenewed,
    /// ALPN `h2`, no extended master secret, no tickets, P-384 only.
    AlpnNoEms,
    /// Presents the ECDSA fixture as its client certificate, to the server that asks
    /// ([`new_mutual_server`]): Certificate and CertificateVerify in its second flight.
    Mutual,
}

impl ClientProfile {
    /// Every profile (new ones last: a profile's number is its place here).
    pub const ALL: [ClientProfile; 7] = [
        ClientProfile::Fresh,
        ClientProfile::RsaPkcs1,
        ClientProfile::ResumeId,
        ClientProfile::ResumeTicket,
        ClientProfile::ResumeTicketRenewed,
        ClientProfile::AlpnNoEms,
        ClientProfile::Mutual,
    ];

    /// The profile numbered `b` (modulo the count), for byte-oriented inputs.
    pub fn from_byte(b: u8) -> Self {
        Self::ALL[usize::from(b) % Self::ALL.len()]
    }

    /// Its number.
    pub fn to_byte(self) -> u8 {
        Self::ALL.iter().position(|p| *p == self).unwrap_or(0) as u8
    }

    /// The client configuration, with its session store filled, and seeded randomness.
    pub fn config(self) -> ClientConfig {
        let mut roots = RootStore::new();
        roots.add_der(pki::CA).expect("CA fixture");
        let mut config = ClientConfig::new(roots);
        config.rng = Arc::new(SeededRandom::new(CLIENT_SEED));
        let store = Arc::new(ClientSessionStore::new(4));
        let remember = |record: SessionRecord, id: &[u8], ticket: Option<Vec<u8>>| {
            store.put(
                SERVER_NAME,
                ClientSession {
                    record,
                    session_id: id.into(),
                    ticket,
                },
            )
        };
        match self {
            ClientProfile::Fresh => {}
            ClientProfile::RsaPkcs1 => {
                config.suites = vec![
                    &suites::ECDHE_RSA_AES128_GCM_SHA256,
                    &suites::ECDHE_RSA_CHACHA20_POLY1305_SHA256,
                    &suites::ECDHE_RSA_AES256_GCM_SHA384,
                ];
                config.signature_schemes = vec![
                    SignatureScheme::RSA_PKCS1_SHA256,
                    SignatureScheme::RSA_PKCS1_SHA384,
                ];
            }
            ClientProfile::ResumeId => {
                config.enable_tickets = false;
                remember(id_session_record(), &SESSION_ID, None);
            }
            ClientProfile::ResumeTicket => {
                let r = fresh_ticket_record();
                let t = seal_ticket(&r);
                remember(r, &[], Some(t));
            }
            ClientProfile::ResumeTicketRenewed => {
                let r = old_ticket_record();
                let t = seal_ticket(&r);
                remember(r, &[], Some(t));
            }
            ClientProfile::Mutual => {
                let cert = reprise::CertifiedKey::new(
                    vec![pki::ECDSA.to_vec(), pki::CA.to_vec()],
                    pki::ECDSA_KEY,
                )
                .expect("ECDSA fixture");
                config.client_certificate = Some(Arc::new(cert));
            }
            ClientProfile::AlpnNoEms => {
                config.alpn_protocols = vec![b"h2".to_vec()];
                config.extended_master_secret = false;
                config.enable_tickets = false;
                config.groups = vec![reprise::NamedGroup::Secp384r1];
            }
        }
        config.session_store = Some(store);
        config
    }

    /// A client connection with its ClientHello queued.
    pub fn connect(self) -> ClientConnection {
        ClientConnection::new(Arc::new(self.config()), SERVER_NAME).expect("client starts")
    }
}

/// Takes everything `conn` has queued for the wire.
pub fn take_output<S: Handshake>(conn: &mut Connection<S>) -> Vec<u8> {
    let out = conn.pending_output().to_vec();
    conn.consume_output(out.len());
    out
}

/// A connection under test with its inbound buffer (bytes received but not yet consumed),
/// checking the API's invariants on every call.
pub struct Checked<S: Handshake> {
    /// The connection.
    pub conn: Connection<S>,
    inbound: Vec<u8>,
    handshake_done: bool,
    failed: Option<Error>,
    /// Application data received.
    pub plaintext: Vec<u8>,
}

impl<S: Handshake> Checked<S> {
    /// Wraps a fresh connection.
    pub fn new(conn: Connection<S>) -> Self {
        Self {
            conn,
            inbound: Vec::new(),
            handshake_done: false,
            failed: None,
            plaintext: Vec::new(),
        }
    }

    /// The error that ended the connection, if any.
    pub fn failed(&self) -> Option<&Error> {
        self.failed.as_ref()
    }

    /// True once the handshake completed.
    pub fn handshake_done(&self) -> bool {
        self.handshake_done
    }

    /// Bytes received but not consumed yet (an incomplete record).
    pub fn unconsumed(&self) -> usize {
        self.inbound.len()
    }

    /// Appends `bytes` to the inbound buffer and lets the connection consume what it can.
    ///
    /// Invariants: `consumed` never exceeds the input; the plaintext range lies within the
    /// consumed records; application data arrives only on an open connection; an error is the
    /// connection's error from then on, a fatal alert we send is queued, and a failed
    /// connection refuses everything with the same error; `HandshakeDone` comes once and only
    /// with `is_open`.
    pub fn feed(&mut self, bytes: &[u8]) {
        if let Some(err) = &self.failed {
            let mut again = bytes.to_vec();
            let r = self.conn.receive(&mut again, NOW);
            assert_eq!(
                r.as_ref().err(),
                Some(err),
                "a failed connection stays failed"
            );
            return;
        }
        self.inbound.extend_from_slice(bytes);
        // This harness checks `receive`'s own contract (what each call consumes and where its
        // plaintext lies), so it calls the primitive record by record rather than
        // `next_plaintext`, which the peer side of `run_sequence` uses.
        // Each successful call consumes at least one whole record or stops.
        for _ in 0..=self.inbound.len() + 1 {
            let len = self.inbound.len();
            match self.conn.receive(&mut self.inbound, NOW) {
                Ok(r) => {
                    assert!(r.consumed <= len, "consumed {} of {len}", r.consumed);
                    assert!(
                        r.plaintext.start <= r.plaintext.end && r.plaintext.end <= r.consumed,
                        "plaintext {:?} outside the {} consumed bytes",
                        r.plaintext,
                        r.consumed
                    );
                    if !r.plaintext.is_empty() {
                        assert!(self.conn.is_open(), "application data before the handshake");
                        self.plaintext
                            .extend_from_slice(&self.inbound[r.plaintext.clone()]);
                    }
                    assert!(self.conn.error().is_none());
                    self.inbound.drain(..r.consumed);
                    self.check_events();
                    if r.consumed == 0 || self.inbound.is_empty() {
                        return;
                    }
                }
                Err(e) => {
                    self.on_error(e);
                    return;
                }
            }
        }
        panic!("receive made no progress");
    }

    fn check_events(&mut self) {
        while let Some(event) = self.conn.next_event() {
            if let Event::HandshakeDone { .. } = event {
                assert!(!self.handshake_done, "HandshakeDone twice");
                self.handshake_done = true;
            }
        }
        assert_eq!(
            self.conn.is_open(),
            self.handshake_done && self.failed.is_none(),
            "is_open agrees with HandshakeDone"
        );
        assert!(!(self.conn.is_open() && self.conn.is_handshaking()));
    }

    fn on_error(&mut self, e: Error) {
        assert_eq!(self.conn.error(), Some(&e), "the error is the connection's");
        assert!(!self.conn.is_open() && !self.conn.is_handshaking());
        if e.alert_sent().is_some() {
            assert!(
                !self.conn.pending_output().is_empty(),
                "a fatal alert is queued"
            );
        }
        // Dead for good: more input, sending and a second look all give the same error.
        let mut more = vec![22, 3, 3, 0, 4, 1, 0, 0, 0];
        assert_eq!(self.conn.receive(&mut more, NOW).err(), Some(e.clone()));
        assert_eq!(self.conn.send(b"x").err(), Some(e.clone()));
        while self.conn.next_event().is_some() {}
        self.failed = Some(e);
    }
}

/// Feeds `stream` to `conn` in chunks chosen by `chunking` (0: all at once; otherwise a
/// xorshift stream of sizes 1..=64), checking the invariants of [`Checked::feed`], then
/// sends and closes if the connection opened.
pub fn drive_stream<S: Handshake>(conn: Connection<S>, stream: &[u8], chunking: u8) -> Checked<S> {
    let mut checked = Checked::new(conn);
    let mut state = u32::from(chunking) | 0x9e37_0000;
    let mut at = 0;
    while at < stream.len() && checked.failed().is_none() {
        let n = if chunking == 0 {
            stream.len()
        } else {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            1 + (state % 64) as usize
        };
        let end = (at + n).min(stream.len());
        checked.feed(&stream[at..end]);
        at = end;
    }
    if checked.conn.is_open() {
        checked
            .conn
            .send(b"ping")
            .expect("an open connection sends");
        checked.conn.close();
        assert!(checked.conn.send(b"late").is_err(), "no data after close");
    }
    checked
}

/// Splits a byte stream into whole records (a partial trailing record is dropped).
pub fn split_records(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(h) = RecordHeader::parse(bytes) {
        let total = RECORD_HEADER_LEN + usize::from(h.length);
        if bytes.len() < total {
            break;
        }
        out.push(bytes[..total].to_vec());
        bytes = &bytes[total..];
    }
    out
}

/// A plaintext record.
pub fn plain_record(content_type: u8, version: u16, payload: &[u8]) -> Vec<u8> {
    let mut r = RecordHeader {
        content_type: ContentType::from_u8(content_type),
        version,
        length: payload.len().min(usize::from(u16::MAX)) as u16,
    }
    .encode()
    .to_vec();
    r.extend_from_slice(&payload[..payload.len().min(usize::from(u16::MAX))]);
    r
}

/// A handshake message: type, 24-bit length, body.
pub fn handshake_message(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![typ];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    m
}

/// One step of a sequence target: what happens to the records the real peer sends (or what
/// is sent instead).
#[derive(Arbitrary, Debug, Clone)]
pub enum Action {
    /// Deliver the peer's next record.
    Deliver,
    /// Deliver every queued record in one call.
    DeliverAll,
    /// Deliver the next record in two parts, with a `receive` in between.
    Split {
        /// Where to cut (modulo the record length).
        at: u16,
    },
    /// Drop the next record.
    Drop,
    /// Deliver the next record twice.
    Duplicate,
    /// Swap the next two records.
    Swap,
    /// Flip one bit of the next record, then deliver it.
    FlipBit {
        /// Byte (modulo the length).
        at: u16,
        /// Bit (modulo 8).
        bit: u8,
    },
    /// Cut the next record's body and fix its header, then deliver it.
    Truncate {
        /// Bytes of body kept (modulo the body length).
        keep: u16,
    },
    /// Deliver a plaintext record of any type.
    InjectRecord {
        /// Content type.
        content_type: u8,
        /// Record version.
        version: u16,
        /// Body.
        payload: Vec<u8>,
    },
    /// Deliver a handshake message in a plaintext record.
    InjectHandshake {
        /// Handshake type.
        typ: u8,
        /// Body.
        body: Vec<u8>,
    },
    /// The peer seals a handshake message under its current keys (it joins the queue).
    PeerSealed {
        /// Handshake type.
        typ: u8,
        /// Body.
        body: Vec<u8>,
    },
    /// The peer sends application data (if it can).
    PeerData(Vec<u8>),
    /// The peer sends close_notify.
    PeerClose,
    /// The connection under test sends application data.
    Send(Vec<u8>),
}

/// A sequence target's input: which client, then what happens to the peer's records.
#[derive(Arbitrary, Debug)]
pub struct SequenceInput {
    /// The client profile (the server is always [`server_config`]).
    pub profile: ClientProfile,
    /// The actions, in order.
    pub actions: Vec<Action>,
}

/// Runs a connection under test against a real peer, applying `actions` to the peer's
/// records. If no action tampered with the traffic, the handshake must complete on both
/// sides and data must flow.
pub fn run_sequence<T: Handshake, P: Handshake>(
    target: Connection<T>,
    mut peer: Connection<P>,
    actions: &[Action],
) {
    let mut target = Checked::new(target);
    let mut queue: VecDeque<Vec<u8>> = VecDeque::new();
    let mut peer_ok = true;
    let mut tampered = false;
    let mut peer_inbound = Vec::new();
    // Moves the target's output to the peer, and the peer's output into the queue.
    let mut exchange = |target: &mut Checked<T>,
                        peer: &mut Connection<P>,
                        queue: &mut VecDeque<Vec<u8>>,
                        peer_ok: &mut bool| {
        let out = take_output(&mut target.conn);
        if *peer_ok && !out.is_empty() {
            peer_inbound.extend_from_slice(&out);
            let mut inbound = Inbound::new(&mut peer_inbound);
            loop {
                match peer.next_plaintext(&mut inbound, NOW) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => {
                        *peer_ok = false;
                        break;
                    }
                }
            }
            let used = inbound.consumed();
            peer_inbound.drain(..used);
        }
        while peer.next_event().is_some() {}
        queue.extend(split_records(&take_output(peer)));
    };
    exchange(&mut target, &mut peer, &mut queue, &mut peer_ok);
    for action in actions.iter().take(256) {
        match action {
            Action::Deliver => {
                if let Some(r) = queue.pop_front() {
                    target.feed(&r);
                }
            }
            Action::DeliverAll => {
                let all: Vec<u8> = queue.drain(..).flatten().collect();
                target.feed(&all);
            }
            Action::Split { at } => {
                if let Some(r) = queue.pop_front() {
                    let at = usize::from(*at) % (r.len() + 1);
                    target.feed(&r[..at]);
                    target.feed(&r[at..]);
                }
            }
            Action::Drop => {
                tampered |= queue.pop_front().is_some();
            }
            Action::Duplicate => {
                if let Some(r) = queue.pop_front() {
                    tampered = true;
                    target.feed(&r);
                    target.feed(&r);
                }
            }
            Action::Swap => {
                if queue.len() >= 2 {
                    tampered = true;
                    queue.swap(0, 1);
                }
            }
            Action::FlipBit { at, bit } => {
                if let Some(mut r) = queue.pop_front() {
                    tampered = true;
                    let at = usize::from(*at) % r.len();
                    r[at] ^= 1 << (bit % 8);
                    target.feed(&r);
                }
            }
            Action::Truncate { keep } => {
                if let Some(r) = queue.pop_front() {
                    tampered = true;
                    let body = &r[RECORD_HEADER_LEN..];
                    let keep = usize::from(*keep) % (body.len() + 1);
                    let v = u16::from_be_bytes([r[1], r[2]]);
                    target.feed(&plain_record(r[0], v, &body[..keep]));
                }
            }
            Action::InjectRecord {
                content_type,
                version,
                payload,
            } => {
                tampered = true;
                target.feed(&plain_record(*content_type, *version, payload));
            }
            Action::InjectHandshake { typ, body } => {
                tampered = true;
                target.feed(&plain_record(22, 0x0303, &handshake_message(*typ, body)));
            }
            Action::PeerSealed { typ, body } => {
                if peer_ok {
                    tampered = true;
                    let _ = peer.send_handshake_record_for_testing(&handshake_message(*typ, body));
                }
            }
            Action::PeerData(data) => {
                if peer_ok && peer.is_open() {
                    tampered |= peer.send(data).is_ok();
                }
            }
            Action::PeerClose => {
                if peer_ok {
                    tampered = true;
                    peer.close();
                }
            }
            Action::Send(data) => {
                if target.conn.is_open() {
                    // Data the peer receives after the handshake does not disturb it.
                    let _ = target.conn.send(data);
                } else {
                    assert!(
                        target.conn.send(data).is_err(),
                        "no data before the handshake"
                    );
                }
            }
        }
        exchange(&mut target, &mut peer, &mut queue, &mut peer_ok);
    }
    if tampered {
        return;
    }
    // Untampered traffic, however fragmented: the handshake completes on both sides.
    for _ in 0..16 {
        if queue.is_empty() {
            break;
        }
        let all: Vec<u8> = queue.drain(..).flatten().collect();
        target.feed(&all);
        exchange(&mut target, &mut peer, &mut queue, &mut peer_ok);
    }
    assert!(
        target.failed().is_none(),
        "untampered traffic failed: {:?}",
        target.failed()
    );
    assert!(peer_ok, "the peer failed on untampered traffic");
    assert!(
        target.conn.is_open() && peer.is_open(),
        "untampered handshake did not complete"
    );
}
