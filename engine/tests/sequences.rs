//! Sequence-level tests derived from the handshake-shape tables (`reprise::internal::flow`).
//!
//! For every [`Shape`] and every prefix of its [`Shape::steps`], a real client and server are
//! driven, one message at a time, to the point where the prefix has been delivered. Then:
//! * every message type other than the next legal one, sent to the side waiting for it
//!   (in plaintext, or sealed under the sender's keys once its ChangeCipherSpec is in), is
//!   refused with exactly `unexpected_message`, and the receiver stays failed;
//! * the legal completion (the rest of the real messages, delivered in one go) succeeds on
//!   both sides with the shape's resumption kind, and data flows both ways.
//!
//! After the last step (the complete prefix), each side refuses every handshake message and
//! ChangeCipherSpec with `unexpected_message`, except a renegotiation request (ClientHello to
//! the server, HelloRequest to the client), which is refused with a `no_renegotiation`
//! warning while the connection stays open (RFC 5746 §4.2, §4.4).

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use common::*;
use reprise::internal::codec::{AlertDescription as A, ContentType, RECORD_HEADER_LEN};
use reprise::internal::flow::{Msg, Shape};
use reprise::internal::prf::{AeadKeyBlock, MasterSecret};
use reprise::internal::record::RecordCipher;
use reprise::keylog::KeyLog;
use reprise::rng::SeededRandom;
use reprise::session::ClientSessionStore;
use reprise::session::SessionCache;
use reprise::session::{RotationPolicy, TicketKeyRing, TicketKeys};
use reprise::Role;
use reprise::{ClientConnection, Error, Event, ResumptionKind, ServerConnection};

/// Remembers master secrets by client random (the engine's SSLKEYLOGFILE hook), so the test
/// can seal records under either side's keys.
#[derive(Default)]
struct Secrets(Mutex<HashMap<[u8; 32], [u8; 48]>>);

impl KeyLog for Secrets {
    fn log(&self, _label: &str, client_random: &[u8; 32], secret: &[u8]) {
        let mut ms = [0u8; 48];
        ms.copy_from_slice(secret);
        self.0.lock().unwrap().insert(*client_random, ms);
    }
}

/// Every handshake type we inject, with a well-formed body so that only the order is wrong.
fn wrong_messages() -> Vec<(Option<Msg>, u8, &'static str)> {
    vec![
        (Some(Msg::ClientHello), 1, "ClientHello"),
        (Some(Msg::ServerHello), 2, "ServerHello"),
        (Some(Msg::Certificate), 11, "Certificate"),
        (Some(Msg::ServerKeyExchange), 12, "ServerKeyExchange"),
        (Some(Msg::ServerHelloDone), 14, "ServerHelloDone"),
        (Some(Msg::ClientKeyExchange), 16, "ClientKeyExchange"),
        (Some(Msg::NewSessionTicket), 4, "NewSessionTicket"),
        (Some(Msg::Finished), 20, "Finished"),
        (Some(Msg::ChangeCipherSpec), 0, "ChangeCipherSpec"),
        (Some(Msg::CertificateRequest), 13, "CertificateRequest"),
        (Some(Msg::CertificateVerify), 15, "CertificateVerify"),
        (None, 0, "HelloRequest"),
        (None, 99, "unknown type 99"),
    ]
}

/// One message (or ChangeCipherSpec) on its way, as a record of its own.
struct Unit {
    msg: Msg,
    record: Vec<u8>,
}

/// A client and a server configured for one shape, before the connection.
struct Scenario {
    shape: Shape,
    client: Arc<reprise::ClientConfig>,
    server: Arc<reprise::ServerConfig>,
    secrets: Arc<Secrets>,
    at: u64,
}

/// The shapes a Reprise client and server walk together: all of them.
fn walked() -> impl Iterator<Item = Shape> {
    Shape::ALL.into_iter()
}

fn scenario(shape: Shape) -> Scenario {
    let secrets = Arc::new(Secrets::default());
    let mut server = server_config();
    seeded(&mut server, 11);
    server.key_log = Some(secrets.clone());
    let mut client = client_config();
    client.rng = Arc::new(SeededRandom::new(12));
    client.key_log = Some(secrets.clone());
    client.session_store = Some(Arc::new(ClientSessionStore::new(4)));
    let tickets = || {
        let ring = TicketKeyRing::new(
            RotationPolicy {
                rotate_every: 86_400,
                decrypt_window: 86_400,
            },
            NOW,
            &SeededRandom::new(13),
        )
        .unwrap();
        Some(Arc::new(TicketKeys::new(ring)))
    };
    match shape {
        Shape::Full => {}
        Shape::FullWithTicket | Shape::ResumeTicket | Shape::ResumeTicketRenewed => {
            server.tickets = tickets();
            server.ticket_lifetime = 3600;
        }
        Shape::ResumeSessionId => {
            server.session_store = Some(Arc::new(SessionCache::new(1 << 16, 300)));
            client.enable_tickets = false;
        }
        Shape::Mutual
        | Shape::AskedNoneGiven
        | Shape::MutualWithTicket
        | Shape::AskedNoneGivenWithTicket => {
            let mut roots = reprise::RootStore::new();
            roots.add_der(&pki().ca_der).unwrap();
            let presents = matches!(shape, Shape::Mutual | Shape::MutualWithTicket);
            server.client_auth = Some(Arc::new(if presents {
                reprise::ClientAuth::required(roots)
            } else {
                reprise::ClientAuth::optional(roots)
            }));
            if shape.issues_ticket() {
                server.tickets = tickets();
                server.ticket_lifetime = 3600;
            }
            if presents {
                let cert = reprise::CertifiedKey::new(pki().ecdsa_chain.clone(), &pki().ecdsa_key)
                    .unwrap();
                client.client_certificate = Some(Arc::new(cert));
            }
        }
    }
    let (client, server) = (Arc::new(client), Arc::new(server));
    // The abbreviated shapes resume a session from an earlier full handshake. A ticket used
    // after more than half the ticket lifetime is renewed.
    let at = match shape {
        Shape::ResumeSessionId | Shape::ResumeTicket => NOW + 60,
        Shape::ResumeTicketRenewed => NOW + 2000,
        _ => NOW,
    };
    if shape.is_resumption() {
        let mut c = ClientConnection::new(client.clone(), "localhost").unwrap();
        let mut s = ServerConnection::new(server.clone());
        pump_at(&mut c, &mut s, NOW).unwrap();
        assert!(c.is_open() && s.is_open());
    }
    Scenario {
        shape,
        client,
        server,
        secrets,
        at,
    }
}

/// A connection between the two, advanced one message at a time along the shape.
struct Pair {
    sc: Scenario,
    client: ClientConnection,
    server: ServerConnection,
    /// Units each side has sent and the other not yet received.
    from_client: VecDeque<Unit>,
    from_server: VecDeque<Unit>,
    /// Whether each side has sent its ChangeCipherSpec (its later records are sealed).
    client_sealed: bool,
    server_sealed: bool,
    /// Sealed records each side has had delivered to the other.
    client_sealed_delivered: u64,
    server_sealed_delivered: u64,
    client_random: [u8; 32],
    server_random: [u8; 32],
    pos: usize,
}

impl Pair {
    fn new(shape: Shape) -> Self {
        let sc = scenario(shape);
        let client = ClientConnection::new(sc.client.clone(), "localhost").unwrap();
        let server = ServerConnection::new(sc.server.clone());
        let mut pair = Pair {
            sc,
            client,
            server,
            from_client: VecDeque::new(),
            from_server: VecDeque::new(),
            client_sealed: false,
            server_sealed: false,
            client_sealed_delivered: 0,
            server_sealed_delivered: 0,
            client_random: [0; 32],
            server_random: [0; 32],
            pos: 0,
        };
        pair.collect(Role::Client);
        pair
    }

    /// Splits a side's output into units: each plaintext handshake message in its own
    /// record, ChangeCipherSpec, and sealed records (only Finished is sealed in a handshake).
    fn collect(&mut self, side: Role) {
        let out = match side {
            Role::Client => self.client.pending_output().to_vec(),
            Role::Server => self.server.pending_output().to_vec(),
        };
        match side {
            Role::Client => self.client.consume_output(out.len()),
            Role::Server => self.server.consume_output(out.len()),
        }
        let mut rest = &out[..];
        while rest.len() >= RECORD_HEADER_LEN {
            let len = u16::from_be_bytes([rest[3], rest[4]]) as usize;
            let (rec, tail) = rest.split_at(RECORD_HEADER_LEN + len);
            rest = tail;
            let sealed = match side {
                Role::Client => &mut self.client_sealed,
                Role::Server => &mut self.server_sealed,
            };
            let mut units = Vec::new();
            match ContentType::from_u8(rec[0]) {
                ContentType::ChangeCipherSpec => {
                    *sealed = true;
                    units.push(Unit {
                        msg: Msg::ChangeCipherSpec,
                        record: rec.to_vec(),
                    });
                }
                ContentType::Handshake if *sealed => units.push(Unit {
                    msg: Msg::Finished,
                    record: rec.to_vec(),
                }),
                ContentType::Handshake => {
                    let version = u16::from_be_bytes([rec[1], rec[2]]);
                    let mut body = &rec[RECORD_HEADER_LEN..];
                    while !body.is_empty() {
                        let n = 4 + u32::from_be_bytes([0, body[1], body[2], body[3]]) as usize;
                        let (m, tail) = body.split_at(n);
                        body = tail;
                        let msg = match m[0] {
                            1 => {
                                self.client_random.copy_from_slice(&m[6..38]);
                                Msg::ClientHello
                            }
                            2 => {
                                self.server_random.copy_from_slice(&m[6..38]);
                                Msg::ServerHello
                            }
                            11 => Msg::Certificate,
                            12 => Msg::ServerKeyExchange,
                            13 => Msg::CertificateRequest,
                            14 => Msg::ServerHelloDone,
                            15 => Msg::CertificateVerify,
                            16 => Msg::ClientKeyExchange,
                            4 => Msg::NewSessionTicket,
                            t => panic!("unexpected handshake type {t} in a flight"),
                        };
                        units.push(Unit {
                            msg,
                            record: record(22, version, m),
                        });
                    }
                }
                other => panic!("unexpected {other:?} record in a flight"),
            }
            match side {
                Role::Client => self.from_client.extend(units),
                Role::Server => self.from_server.extend(units),
            }
        }
        assert!(rest.is_empty());
    }

    fn feed(&mut self, to: Role, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        match to {
            Role::Server => feed_server_at(&mut self.server, bytes, self.sc.at),
            Role::Client => feed_client_at(&mut self.client, bytes, self.sc.at),
        }
    }

    /// Delivers the next step of the shape, checking that the engine sent what the table says.
    fn step(&mut self) {
        let step = self.sc.shape.steps()[self.pos];
        let unit = match step.from {
            Role::Client => self.from_client.pop_front(),
            Role::Server => self.from_server.pop_front(),
        }
        .unwrap_or_else(|| panic!("{:?} step {}: nothing sent", self.sc.shape, self.pos));
        assert_eq!(
            unit.msg, step.msg,
            "{:?} step {}: the engine follows the table",
            self.sc.shape, self.pos
        );
        let sealed_before = match step.from {
            Role::Client => self.client_sealed_delivered_flag(),
            Role::Server => self.server_sealed_delivered_flag(),
        };
        let to = other(step.from);
        self.feed(to, &unit.record).unwrap_or_else(|e| {
            panic!(
                "{:?} step {} ({:?}) refused: {e:?}",
                self.sc.shape, self.pos, step.msg
            )
        });
        if sealed_before {
            match step.from {
                Role::Client => self.client_sealed_delivered += 1,
                Role::Server => self.server_sealed_delivered += 1,
            }
        }
        self.pos += 1;
        self.collect(to);
    }

    /// True when the next unit from the client is sealed (its ChangeCipherSpec went first).
    fn client_sealed_delivered_flag(&self) -> bool {
        self.sc.shape.steps()[..self.pos]
            .iter()
            .any(|s| s.from == Role::Client && s.msg == Msg::ChangeCipherSpec)
    }

    fn server_sealed_delivered_flag(&self) -> bool {
        self.sc.shape.steps()[..self.pos]
            .iter()
            .any(|s| s.from == Role::Server && s.msg == Msg::ChangeCipherSpec)
    }

    fn drive_to(shape: Shape, prefix: usize) -> Self {
        let mut pair = Pair::new(shape);
        for _ in 0..prefix {
            pair.step();
        }
        pair
    }

    /// A record from `from` as the receiver expects it now: plaintext before `from`'s
    /// ChangeCipherSpec has been delivered, sealed under `from`'s write keys (at the
    /// receiver's sequence number) after.
    fn record_from(&self, from: Role, content_type: u8, payload: &[u8]) -> Vec<u8> {
        let (sealed, delivered) = match from {
            Role::Client => (
                self.client_sealed_delivered_flag(),
                self.client_sealed_delivered,
            ),
            Role::Server => (
                self.server_sealed_delivered_flag(),
                self.server_sealed_delivered,
            ),
        };
        if !sealed {
            return record(content_type, 0x0303, payload);
        }
        let suite = self.server.negotiated().suite.expect("suite chosen");
        let ms = *self
            .sc
            .secrets
            .0
            .lock()
            .unwrap()
            .get(&self.client_random)
            .expect("master secret logged");
        let aead = suite.aead;
        let block = AeadKeyBlock::derive(
            suite.hash,
            &MasterSecret::from_bytes(ms),
            &self.client_random,
            &self.server_random,
            aead.key_len(),
            aead.fixed_iv_len(),
        )
        .unwrap();
        let (key, iv) = match from {
            Role::Client => (block.client_write_key(), block.client_write_iv()),
            Role::Server => (block.server_write_key(), block.server_write_iv()),
        };
        let mut cipher = RecordCipher::new(aead, key, iv).unwrap();
        for _ in 0..delivered {
            cipher
                .seal_append(ContentType::Alert, b"--", &mut Vec::new())
                .unwrap();
        }
        let mut out = Vec::new();
        cipher
            .seal_append(ContentType::from_u8(content_type), payload, &mut out)
            .unwrap();
        out
    }

    /// Delivers everything still queued, in one go per direction, until both sides are done.
    fn complete(&mut self) {
        for _ in 0..8 {
            let c: Vec<u8> = self.from_client.drain(..).flat_map(|u| u.record).collect();
            let s: Vec<u8> = self.from_server.drain(..).flat_map(|u| u.record).collect();
            if c.is_empty() && s.is_empty() {
                break;
            }
            if !c.is_empty() {
                self.feed(Role::Server, &c).expect("server completes");
                self.collect(Role::Server);
            }
            if !s.is_empty() {
                self.feed(Role::Client, &s).expect("client completes");
                self.collect(Role::Client);
            }
        }
        assert!(
            self.client.is_open() && self.server.is_open(),
            "{:?}: handshake completes",
            self.sc.shape
        );
    }
}

fn other(side: Role) -> Role {
    match side {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

fn expected_resumption(shape: Shape) -> Option<ResumptionKind> {
    match shape {
        Shape::ResumeSessionId => Some(ResumptionKind::SessionId),
        Shape::ResumeTicket | Shape::ResumeTicketRenewed => Some(ResumptionKind::Ticket),
        _ => None,
    }
}

/// Well-formed bodies for each handshake type, taken from a real full handshake with a
/// ticket (plus the types it does not carry).
fn sample_bodies() -> HashMap<u8, Vec<u8>> {
    let mut pair = Pair::new(Shape::FullWithTicket);
    let mut bodies = HashMap::new();
    for _ in 0..Shape::FullWithTicket.steps().len() {
        for u in pair.from_client.iter().chain(pair.from_server.iter()) {
            if u.record[0] == 22 && u.msg != Msg::Finished {
                bodies
                    .entry(u.record[RECORD_HEADER_LEN])
                    .or_insert_with(|| u.record[RECORD_HEADER_LEN + 4..].to_vec());
            }
        }
        pair.step();
    }
    pair.complete();
    bodies.insert(20, vec![0x5a; 12]); // Finished
    bodies.insert(0, Vec::new()); // HelloRequest
    bodies.insert(13, vec![1, 64, 0, 2, 4, 3, 0, 0]); // CertificateRequest
    bodies.insert(15, vec![4, 3, 0, 2, 0x30, 0]); // CertificateVerify
    bodies.insert(99, vec![0]);
    for t in [1u8, 2, 11, 12, 14, 16, 4] {
        assert!(bodies.contains_key(&t), "sample body for type {t}");
    }
    bodies
}

/// The bytes of one injected message: a ChangeCipherSpec payload or a handshake message.
fn injected(typ: u8, msg: Option<Msg>, bodies: &HashMap<u8, Vec<u8>>) -> (u8, Vec<u8>) {
    if msg == Some(Msg::ChangeCipherSpec) {
        (20, vec![1])
    } else {
        (22, handshake(typ, &bodies[&typ]))
    }
}

#[test]
fn every_wrong_message_at_every_prefix_is_unexpected() {
    let bodies = sample_bodies();
    let mut cases = 0;
    for shape in walked() {
        for (prefix, &next) in shape.steps().iter().enumerate() {
            let receiver = other(next.from);
            for (msg, typ, name) in wrong_messages() {
                if msg == Some(next.msg) {
                    continue;
                }
                // Where the server sends ServerHelloDone it may ask for a certificate first
                // (the client learns the asking shape from the CertificateRequest).
                // and where it asks, the client cannot tell a ServerHelloDone from the plain
                // full shape it expected.
                let turns = match (next.msg, msg) {
                    (Msg::ServerHelloDone, Some(Msg::CertificateRequest)) => {
                        matches!(shape, Shape::Full | Shape::FullWithTicket)
                    }
                    (Msg::CertificateRequest, Some(Msg::ServerHelloDone)) => true,
                    _ => false,
                };
                if turns {
                    continue;
                }
                let mut pair = Pair::drive_to(shape, prefix);
                let (content_type, payload) = injected(typ, msg, &bodies);
                let rec = pair.record_from(next.from, content_type, &payload);
                let err = pair.feed(receiver, &rec).expect_err(&format!(
                    "{shape:?} after {prefix} steps: {name} to the {receiver:?} is refused"
                ));
                assert_eq!(
                    err.alert_sent(),
                    Some(A::UnexpectedMessage),
                    "{shape:?} after {prefix} steps: {name} to the {receiver:?} (expecting {:?}) gave {err:?}",
                    next.msg
                );
                // The connection stays dead: even the legal next message is refused.
                let legal = match next.from {
                    Role::Client => pair.from_client.pop_front(),
                    Role::Server => pair.from_server.pop_front(),
                }
                .expect("the legal message is queued");
                assert_eq!(pair.feed(receiver, &legal.record).unwrap_err(), err);
                cases += 1;
            }
        }
    }
    // 9 shapes with 10 + 11 + 6 + 6 + 7 + 13 + 14 + 12 + 13 positions, 12 wrong types each
    // (13 minus the legal one), less the six where a full shape may turn into an asking one
    // (two full shapes, four asking ones).
    assert_eq!(cases, 92 * 12 - 6);
}

#[test]
fn every_legal_completion_from_every_prefix_succeeds() {
    for shape in walked() {
        for prefix in 0..=shape.steps().len() {
            let mut pair = Pair::drive_to(shape, prefix);
            pair.complete();
            let want = Event::HandshakeDone {
                resumed: expected_resumption(shape),
            };
            assert_eq!(
                events(&mut pair.client),
                vec![want.clone()],
                "{shape:?}/{prefix}"
            );
            assert_eq!(events(&mut pair.server), vec![want], "{shape:?}/{prefix}");
            assert_eq!(pair.server.negotiated().resumed, expected_resumption(shape));
            // Data flows both ways on the new keys.
            pair.client.send(b"ping").unwrap();
            let out = pair.client.pending_output().to_vec();
            pair.client.consume_output(out.len());
            assert_eq!(pair.feed(Role::Server, &out).unwrap(), b"ping");
            pair.server.send(b"pong").unwrap();
            let out = pair.server.pending_output().to_vec();
            pair.server.consume_output(out.len());
            assert_eq!(pair.feed(Role::Client, &out).unwrap(), b"pong");
        }
    }
}

#[test]
fn after_the_last_step_only_renegotiation_requests_are_tolerated() {
    let bodies = sample_bodies();
    for shape in walked() {
        for receiver in [Role::Client, Role::Server] {
            for (msg, typ, name) in wrong_messages() {
                let mut pair = Pair::drive_to(shape, shape.steps().len());
                assert!(pair.client.is_open() && pair.server.is_open());
                events(&mut pair.client);
                events(&mut pair.server);
                let (content_type, payload) = injected(typ, msg, &bodies);
                let rec = pair.record_from(other(receiver), content_type, &payload);
                let result = pair.feed(receiver, &rec);
                let renegotiation = match receiver {
                    Role::Server => typ == 1 && msg.is_some(),
                    Role::Client => typ == 0 && msg.is_none(),
                };
                if renegotiation {
                    result.unwrap_or_else(|e| panic!("{shape:?}: {name} to {receiver:?}: {e:?}"));
                    let open = match receiver {
                        Role::Server => pair.server.is_open(),
                        Role::Client => pair.client.is_open(),
                    };
                    assert!(open, "{shape:?}: still open after refusing renegotiation");
                    let events = match receiver {
                        Role::Server => events(&mut pair.server),
                        Role::Client => events(&mut pair.client),
                    };
                    assert_eq!(events, vec![Event::RenegotiationRefused]);
                } else {
                    let err = result.expect_err("refused");
                    assert_eq!(
                        err.alert_sent(),
                        Some(A::UnexpectedMessage),
                        "{shape:?}: {name} to the {receiver:?} after the handshake gave {err:?}"
                    );
                }
            }
        }
    }
}
