//! Seeded handshakes against a recorded digest: with the PKI fixed (`fuzz/fixtures/`), the
//! clock fixed and every random source seeded, each handshake shape produces the same bytes on
//! the wire in every build. A change to the state machine that alters one byte of any shape
//! fails here; a change that only restructures the code does not.
//!
//! The ECDSA signature nonce comes from aws-lc's own DRBG, so the recorded handshakes use the
//! RSA certificate with PKCS#1 v1.5 signatures (deterministic).

mod common;

use std::sync::Arc;

use aws_lc_rs::digest;
use common::{pump_at, NOW};
use reprise::rng::SeededRandom;
use reprise::session::{
    ClientSessionStore, RotationPolicy, SessionCache, TicketKeyRing, TicketKeys,
};
use reprise::{
    ClientConfig, ClientConnection, ResumptionKind, RootStore, ServerConfig, ServerConnection,
};

const CA: &[u8] = include_bytes!("../../fuzz/fixtures/ca.der");
const RSA: &[u8] = include_bytes!("../../fuzz/fixtures/rsa.der");
const RSA_KEY: &[u8] = include_bytes!("../../fuzz/fixtures/rsa.key.der");

/// SHA-256 over every shape's wire bytes (client then server, per handshake, in the order of
/// [`shapes`]), recorded before the handshake was restructured into phases that own their
/// messages.
const RECORDED: &str = "8eae3e79c96d316644f908c3871d394dadb59db779e399ed5b3036890153f6ee";

/// How a server and client are set up, and when the measured handshake happens.
#[derive(Clone, Copy, Debug)]
enum Setup {
    Full,
    FullWithTicket,
    ResumeSessionId,
    ResumeTicket,
    ResumeTicketRenewed,
}

fn shapes() -> [Setup; 5] {
    [
        Setup::Full,
        Setup::FullWithTicket,
        Setup::ResumeSessionId,
        Setup::ResumeTicket,
        Setup::ResumeTicketRenewed,
    ]
}

/// The wire bytes of `setup`'s handshake (after the full handshake a resumption needs) and of
/// one application record each way.
fn wire(setup: Setup) -> Vec<u8> {
    let mut server = ServerConfig::new();
    server
        .add_certificate(vec![RSA.to_vec(), CA.to_vec()], RSA_KEY)
        .unwrap();
    server.rng = Arc::new(SeededRandom::new(21));
    let mut roots = RootStore::new();
    roots.add_der(CA).unwrap();
    let mut client = ClientConfig::new(roots);
    client.rng = Arc::new(SeededRandom::new(22));
    client.signature_schemes = vec![reprise::SignatureScheme::RSA_PKCS1_SHA256];
    client.session_store = Some(Arc::new(ClientSessionStore::new(4)));
    let tickets = || {
        let policy = RotationPolicy {
            rotate_every: 86_400,
            decrypt_window: 86_400,
        };
        let ring = TicketKeyRing::new(policy, NOW, &SeededRandom::new(23)).unwrap();
        Some(Arc::new(TicketKeys::new(ring)))
    };
    match setup {
        Setup::Full => client.enable_tickets = false,
        Setup::FullWithTicket | Setup::ResumeTicket | Setup::ResumeTicketRenewed => {
            server.tickets = tickets();
            server.ticket_lifetime = 3600;
        }
        Setup::ResumeSessionId => {
            server.session_store = Some(Arc::new(SessionCache::new(1 << 10, 300)));
            client.enable_tickets = false;
        }
    }
    let (client, server) = (Arc::new(client), Arc::new(server));
    let at = match setup {
        Setup::Full | Setup::FullWithTicket => NOW,
        Setup::ResumeSessionId | Setup::ResumeTicket => {
            handshake(&client, &server, NOW, None);
            NOW + 60
        }
        Setup::ResumeTicketRenewed => {
            handshake(&client, &server, NOW, None);
            NOW + 2000
        }
    };
    let resumed = match setup {
        Setup::Full | Setup::FullWithTicket => None,
        Setup::ResumeSessionId => Some(ResumptionKind::SessionId),
        Setup::ResumeTicket | Setup::ResumeTicketRenewed => Some(ResumptionKind::Ticket),
    };
    handshake(&client, &server, at, resumed)
}

fn handshake(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
    at: u64,
    resumed: Option<ResumptionKind>,
) -> Vec<u8> {
    let mut c = ClientConnection::new(client.clone(), "localhost").unwrap();
    let mut s = ServerConnection::new(server.clone());
    let (mut c2s, s2c) = pump_at(&mut c, &mut s, at).unwrap();
    assert!(c.is_open() && s.is_open(), "{:?}", c.error().or(s.error()));
    assert_eq!(s.negotiated().resumed, resumed);
    assert_eq!(c.negotiated().resumed, resumed);
    c.send(b"ping").unwrap();
    c2s.extend_from_slice(c.pending_output());
    c2s.extend_from_slice(&s2c);
    c2s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn seeded_handshakes_match_the_recorded_bytes() {
    let mut all = digest::Context::new(&digest::SHA256);
    for setup in shapes() {
        let bytes = wire(setup);
        assert_eq!(bytes, wire(setup), "{setup:?} is not reproducible");
        all.update(&bytes);
    }
    let got = hex(all.finish().as_ref());
    assert_eq!(got, RECORDED, "the seeded handshakes changed on the wire");
}
