//! Resumption by session ID and by ticket (RFC 5246 §7.3, RFC 5077), the ticket-key ring
//! across rotations, EMS rules (RFC 7627 §5.3), deferred session lookups, and bad offers.

mod common;

use std::sync::Arc;

use common::*;
use reprise::internal::codec::AlertDescription as A;
use reprise::rng::SystemRandom;
use reprise::session::ClientSessionStore;
use reprise::session::SessionCache;
use reprise::session::{DeferredStore, SessionStore};
use reprise::session::{RotationPolicy, TicketKeyRing, TicketKeys};
use reprise::{
    ClientConfig, ClientConnection, Event, ResumptionFailure, ResumptionKind, ServerConfig,
    ServerConnection,
};

fn id_server(cache: Arc<SessionCache>) -> Arc<ServerConfig> {
    let mut cfg = server_config();
    cfg.session_store = Some(cache);
    Arc::new(cfg)
}

fn ticket_server(keys: Arc<TicketKeys>, lifetime: u32) -> Arc<ServerConfig> {
    let mut cfg = server_config();
    cfg.tickets = Some(keys);
    cfg.ticket_lifetime = lifetime;
    Arc::new(cfg)
}

fn ticket_keys(now: u64, rotate_every: u64, decrypt_window: u64) -> Arc<TicketKeys> {
    let ring = TicketKeyRing::new(
        RotationPolicy {
            rotate_every,
            decrypt_window,
        },
        now,
        &SystemRandom,
    )
    .unwrap();
    Arc::new(TicketKeys::new(ring))
}

fn client(store: &Arc<ClientSessionStore>, tickets: bool) -> Arc<ClientConfig> {
    let mut cfg = client_config();
    cfg.session_store = Some(store.clone());
    cfg.enable_tickets = tickets;
    Arc::new(cfg)
}

/// One connection at `now`; returns both sides' events.
fn connect(
    client_cfg: &Arc<ClientConfig>,
    server_cfg: &Arc<ServerConfig>,
    now: u64,
) -> (Vec<Event>, Vec<Event>, ClientConnection) {
    let mut c = ClientConnection::new(client_cfg.clone(), "localhost").unwrap();
    let mut s = ServerConnection::new(server_cfg.clone());
    pump_at(&mut c, &mut s, now).unwrap();
    assert!(c.is_open() && s.is_open());
    // Data flows both ways on the resumed keys too.
    c.send(b"ping").unwrap();
    let out = c.pending_output().to_vec();
    c.consume_output(out.len());
    assert_eq!(feed_server_at(&mut s, &out, now).unwrap(), b"ping");
    (events(&mut c), events(&mut s), c)
}

fn done(kind: Option<ResumptionKind>) -> Event {
    Event::HandshakeDone { resumed: kind }
}

#[test]
fn session_id_resumption() {
    let cache = Arc::new(SessionCache::new(1 << 20, 300));
    let server = id_server(cache.clone());
    let store = Arc::new(ClientSessionStore::new(16));
    let cfg = client(&store, false);
    let (c, s, _) = connect(&cfg, &server, NOW);
    assert_eq!((c, s), (vec![done(None)], vec![done(None)]));
    assert_eq!(cache.len(), 1);
    let (c, s, conn) = connect(&cfg, &server, NOW + 10);
    assert_eq!(c, vec![done(Some(ResumptionKind::SessionId))]);
    assert_eq!(s, vec![done(Some(ResumptionKind::SessionId))]);
    assert_eq!(
        conn.negotiated().group,
        None,
        "no key exchange in an abbreviated handshake"
    );
    // After the timeout the session is gone: full handshake, with the reason counted.
    let (c, s, conn) = connect(&cfg, &server, NOW + 400);
    assert_eq!(c, vec![done(None)]);
    assert_eq!(
        s,
        vec![
            Event::ResumptionFailed {
                reason: ResumptionFailure::UnknownSession
            },
            done(None)
        ]
    );
    assert_eq!(conn.resumption_failure(), Some(ResumptionFailure::Declined));
}

#[test]
fn ticket_resumption_echoes_the_session_id() {
    let keys = ticket_keys(NOW, 3600, 7200);
    let server = ticket_server(keys, 3600);
    let store = Arc::new(ClientSessionStore::new(16));
    let cfg = client(&store, true);
    let (c, s, _) = connect(&cfg, &server, NOW);
    assert_eq!((c, s), (vec![done(None)], vec![done(None)]));
    let session = store.get("localhost").unwrap();
    assert!(session.ticket.is_some(), "a ticket was issued");
    assert!(
        session.session_id.is_empty(),
        "no session cache, so no session ID"
    );
    let (c, s, _) = connect(&cfg, &server, NOW + 60);
    assert_eq!(c, vec![done(Some(ResumptionKind::Ticket))]);
    assert_eq!(s, vec![done(Some(ResumptionKind::Ticket))]);
}

#[test]
fn tickets_across_two_rotations() {
    // Keys encrypt for 1000 s and then decrypt for another 2000 s; tickets live a day.
    let keys = ticket_keys(NOW, 1000, 2000);
    let server = ticket_server(keys.clone(), 86_400);
    let store = Arc::new(ClientSessionStore::new(16));
    let cfg = client(&store, true);
    connect(&cfg, &server, NOW);
    let ticket_a = store.get("localhost").unwrap();

    // First rotation: the old key only decrypts; the ticket resumes and is renewed.
    let (c, s, _) = connect(&cfg, &server, NOW + 1500);
    assert_eq!(s, vec![done(Some(ResumptionKind::Ticket))]);
    assert_eq!(c, vec![done(Some(ResumptionKind::Ticket))]);
    let ticket_b = store.get("localhost").unwrap();
    assert_ne!(
        ticket_a.ticket, ticket_b.ticket,
        "renewed under the new key"
    );
    assert!(keys.rotations() >= 1);

    // Second rotation: the previous key's ticket (B) still resumes and is renewed; so does A,
    // whose key is still inside its decrypt window.
    let (_, s, _) = connect(&cfg, &server, NOW + 2500);
    assert_eq!(s, vec![done(Some(ResumptionKind::Ticket))]);
    assert_ne!(store.get("localhost").unwrap().ticket, ticket_b.ticket);
    store.put("localhost", ticket_a.clone());
    let (_, s, _) = connect(&cfg, &server, NOW + 2900);
    assert_eq!(s, vec![done(Some(ResumptionKind::Ticket))]);

    // Past the first key's decrypt window, its ticket means a full handshake, never an alert.
    store.put("localhost", ticket_a);
    let (c, s, conn) = connect(&cfg, &server, NOW + 3600);
    assert_eq!(c, vec![done(None)]);
    assert!(matches!(
        s[0],
        Event::ResumptionFailed {
            reason: ResumptionFailure::UnknownTicketKey | ResumptionFailure::Expired
        }
    ));
    assert_eq!(s[1], done(None));
    assert_eq!(conn.resumption_failure(), Some(ResumptionFailure::Declined));
    assert!(keys.current().len() <= 3, "retired keys are dropped");
}

#[test]
fn deferred_session_lookup_suspends_and_resumes() {
    let cache = SessionCache::new(1 << 20, 300);
    let deferred = Arc::new(DeferredStore::new(cache));
    let mut cfg = server_config();
    cfg.session_store = Some(deferred.clone());
    let server = Arc::new(cfg);
    let store = Arc::new(ClientSessionStore::new(4));
    let ccfg = client(&store, false);
    // First handshake: the client offers nothing, so no lookup happens.
    connect(&ccfg, &server, NOW);
    assert!(deferred.take_requests().is_empty());

    let mut c = ClientConnection::new(ccfg.clone(), "localhost").unwrap();
    let mut s = ServerConnection::new(server.clone());
    let hello = c.pending_output().to_vec();
    c.consume_output(hello.len());
    feed_server(&mut s, &hello).unwrap();
    let id = store.get("localhost").unwrap().session_id;
    assert_eq!(events(&mut s), vec![Event::NeedSession { id: id.clone() }]);
    assert!(s.is_suspended() && !s.wants_transmit());
    assert_eq!(deferred.take_requests(), vec![id.to_vec()]);
    let answer = deferred.resolve(&id, NOW);
    s.provide_session(answer).unwrap();
    pump(&mut c, &mut s).unwrap();
    assert_eq!(events(&mut s), vec![done(Some(ResumptionKind::SessionId))]);
    assert_eq!(events(&mut c), vec![done(Some(ResumptionKind::SessionId))]);
}

#[test]
fn store_unavailable_means_a_full_handshake() {
    struct Down;
    impl SessionStore for Down {
        fn get(&self, _: &[u8], _: u64) -> reprise::session::Lookup {
            reprise::session::Lookup::Unavailable
        }
        fn put(&self, _: &[u8], _: &reprise::session::SessionRecord, _: u64) {}
        fn remove(&self, _: &[u8]) {}
    }
    let mut cfg = server_config();
    cfg.session_store = Some(Arc::new(Down));
    let server = Arc::new(cfg);
    let hello = Hello {
        session_id: vec![9; 32],
        ..Hello::default()
    }
    .record();
    let mut s = ServerConnection::new(server);
    feed_server(&mut s, &hello).unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::ResumptionFailed {
            reason: ResumptionFailure::StoreUnavailable
        }]
    );
    assert!(s.wants_transmit(), "the full handshake goes on");
}

#[test]
fn bad_tickets_fall_back_to_a_full_handshake() {
    let keys = ticket_keys(NOW, 3600, 7200);
    let server = ticket_server(keys, 3600);
    let store = Arc::new(ClientSessionStore::new(4));
    connect(&client(&store, true), &server, NOW);
    let ticket = store.get("localhost").unwrap().ticket.unwrap();
    let mut flipped = ticket.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    let mut other_key = ticket.clone();
    other_key[0] ^= 0xff;
    let cases: Vec<(&str, Vec<u8>, u64, ResumptionFailure)> = vec![
        ("bit-flipped", flipped, NOW, ResumptionFailure::BadTicket),
        (
            "truncated",
            ticket[..ticket.len() - 5].to_vec(),
            NOW,
            ResumptionFailure::BadTicket,
        ),
        (
            "too short",
            ticket[..10].to_vec(),
            NOW,
            ResumptionFailure::BadTicket,
        ),
        (
            "oversized",
            [ticket.clone(), vec![0; 2000]].concat(),
            NOW,
            ResumptionFailure::BadTicket,
        ),
        (
            "unknown key name",
            other_key,
            NOW,
            ResumptionFailure::UnknownTicketKey,
        ),
        (
            "forged from scratch",
            vec![0x41; 200],
            NOW,
            ResumptionFailure::UnknownTicketKey,
        ),
        (
            "replayed after expiry",
            ticket.clone(),
            NOW + 3601,
            ResumptionFailure::Expired,
        ),
    ];
    for (name, t, now, reason) in cases {
        let hello = Hello {
            session_id: vec![5; 32],
            ticket: Some(t),
            ..Hello::default()
        }
        .record();
        let mut s = ServerConnection::new(server.clone());
        feed_server_at(&mut s, &hello, now).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            events(&mut s),
            vec![Event::ResumptionFailed { reason }],
            "{name}"
        );
        // A full handshake: the flight carries a Certificate (type 11) after the ServerHello.
        let flight = s.pending_output();
        let sh_len = 4 + u32::from_be_bytes([0, flight[6], flight[7], flight[8]]) as usize;
        assert_eq!(flight[5 + sh_len], 11, "{name}: full handshake");
    }
}

#[test]
fn ems_rules_of_rfc_7627() {
    // An EMS session offered without EMS: the server aborts with handshake_failure.
    let cache = Arc::new(SessionCache::new(1 << 20, 300));
    let server = id_server(cache);
    let store = Arc::new(ClientSessionStore::new(4));
    connect(&client(&store, false), &server, NOW);
    assert!(
        store
            .get("localhost")
            .unwrap()
            .record
            .extended_master_secret
    );
    let mut no_ems = client_config();
    no_ems.session_store = Some(store.clone());
    no_ems.enable_tickets = false;
    no_ems.extended_master_secret = false;
    let mut c = ClientConnection::new(Arc::new(no_ems), "localhost").unwrap();
    let mut s = ServerConnection::new(server.clone());
    let err = pump(&mut c, &mut s).unwrap_err();
    assert_eq!(err.alert_sent(), Some(A::HandshakeFailure));

    // A non-EMS session offered with EMS: no resumption, a full handshake instead.
    let mut server_no_ems = server_config();
    server_no_ems.extended_master_secret = false;
    let cache = Arc::new(SessionCache::new(1 << 20, 300));
    server_no_ems.session_store = Some(cache.clone());
    let store = Arc::new(ClientSessionStore::new(4));
    connect(&client(&store, false), &Arc::new(server_no_ems), NOW);
    let id = store.get("localhost").unwrap().session_id;
    let server = id_server(cache);
    let hello = Hello {
        session_id: id.to_vec(),
        ..Hello::default()
    }
    .record();
    let mut s = ServerConnection::new(server);
    feed_server(&mut s, &hello).unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::ResumptionFailed {
            reason: ResumptionFailure::EmsMismatch
        }]
    );
}

#[test]
fn mismatched_offers_fall_back() {
    let cache = Arc::new(SessionCache::new(1 << 20, 300));
    let server = id_server(cache);
    let store = Arc::new(ClientSessionStore::new(4));
    connect(&client(&store, false), &server, NOW);
    let id = store.get("localhost").unwrap().session_id.to_vec();
    let suite = store.get("localhost").unwrap().record.suite_id;
    // The session's suite is not offered this time: RFC 5246 §7.4.1.2 says the client
    // MUST offer it, so this is refused with illegal_parameter (as OpenSSL does).
    let other = if suite == 0xc02b { 0xc02f } else { 0xc02b };
    let hello = Hello {
        session_id: id.clone(),
        suites: vec![other],
        ..Hello::default()
    }
    .record();
    let mut s = ServerConnection::new(server.clone());
    let err = feed_server(&mut s, &hello).unwrap_err();
    assert_eq!(
        err.alert_sent(),
        Some(reprise::internal::codec::AlertDescription::IllegalParameter)
    );
    // A suite the server no longer allows only means a full handshake.
    let mut narrower = ServerConfig::new();
    let pki = common::pki();
    narrower
        .add_certificate(pki.ecdsa_chain.clone(), &pki.ecdsa_key)
        .unwrap();
    narrower
        .add_certificate(pki.rsa_chain.clone(), &pki.rsa_key)
        .unwrap();
    narrower.session_store = server.session_store.clone();
    narrower.suites.retain(|s| s.id != suite);
    let hello = Hello {
        session_id: id.clone(),
        suites: vec![suite, other],
        ..Hello::default()
    }
    .record();
    let mut s = ServerConnection::new(Arc::new(narrower));
    feed_server(&mut s, &hello).unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::ResumptionFailed {
            reason: ResumptionFailure::SuiteMismatch
        }]
    );
    // Another server name.
    let mut c = client_config();
    c.session_store = Some(store.clone());
    c.enable_tickets = false;
    let s_name = store.get("localhost").unwrap();
    store.put("127.0.0.1", s_name);
    let mut conn = ClientConnection::new(Arc::new(c), "127.0.0.1").unwrap();
    let mut s = ServerConnection::new(server);
    pump(&mut conn, &mut s).unwrap();
    assert_eq!(
        events(&mut s),
        vec![
            Event::ResumptionFailed {
                reason: ResumptionFailure::SniMismatch
            },
            done(None)
        ]
    );
}

#[test]
fn early_client_finished_in_an_abbreviated_handshake() {
    let cache = Arc::new(SessionCache::new(1 << 20, 300));
    let server = id_server(cache);
    let store = Arc::new(ClientSessionStore::new(4));
    let cfg = client(&store, false);
    connect(&cfg, &server, NOW);
    let mut c = ClientConnection::new(cfg, "localhost").unwrap();
    let mut s = ServerConnection::new(server);
    let hello = c.pending_output().to_vec();
    c.consume_output(hello.len());
    feed_server(&mut s, &hello).unwrap();
    // The server's flight is ServerHello, CCS, Finished; a client Finished before its own CCS
    // is out of order.
    let early = record(22, 0x0303, &handshake(20, &[0; 12]));
    let err = feed_server(&mut s, &early).unwrap_err();
    assert_eq!(err.alert_sent(), Some(A::UnexpectedMessage));
}

#[test]
fn self_authenticating_ids_skip_lookups_for_foreign_ids() {
    use reprise::session::SessionIdKey;
    let deferred = Arc::new(DeferredStore::new(SessionCache::new(1 << 20, 300)));
    let mut cfg = server_config();
    cfg.session_store = Some(deferred.clone());
    cfg.session_id_key = Some(SessionIdKey::new(&[42; 32]));
    let server = Arc::new(cfg);
    // A random 32-byte ID, as TLS 1.3-capable clients send: no lookup, no failure counted.
    let hello = Hello {
        session_id: vec![3; 32],
        ..Hello::default()
    }
    .record();
    let mut s = ServerConnection::new(server.clone());
    feed_server(&mut s, &hello).unwrap();
    assert!(events(&mut s).is_empty());
    assert!(
        deferred.take_requests().is_empty(),
        "no store lookup for a foreign ID"
    );
    // Our own IDs are looked up and resume.
    let store = Arc::new(ClientSessionStore::new(4));
    let ccfg = client(&store, false);
    connect(&ccfg, &server, NOW);
    let id = store.get("localhost").unwrap().session_id;
    assert!(SessionIdKey::new(&[42; 32]).is_ours(&id));
    let mut c = ClientConnection::new(ccfg, "localhost").unwrap();
    let mut s = ServerConnection::new(server);
    let hello = c.pending_output().to_vec();
    c.consume_output(hello.len());
    feed_server(&mut s, &hello).unwrap();
    assert_eq!(events(&mut s), vec![Event::NeedSession { id: id.clone() }]);
    s.provide_session(deferred.resolve(&id, NOW)).unwrap();
    pump(&mut c, &mut s).unwrap();
    assert_eq!(events(&mut s), vec![done(Some(ResumptionKind::SessionId))]);
}
