//! The client's side of the handshake (RFC 5246 §7.3-7.4, RFC 8422, RFC 7627, RFC 5746,
//! RFC 7301), with the server checked by rustls-webpki, and resumption by session ID or
//! ticket (RFC 5077 §3.4).
//!
//! What each phase needs lives in its [`Phase`] variant: the ClientHello's bytes until the
//! ServerHello names the hash, the server's certificate and then its key share during a full
//! handshake, the master secret from the key exchange (or a resumed ServerHello) on.

use std::sync::Arc;

use smallvec::SmallVec;

use crate::codec::{
    Certificate, ClientExtensions, ClientHello, ClientKeyExchange, NewSessionTicket,
    ProtocolNameList, ServerHello, ServerKeyExchange, U16List,
};
use crate::config::{ClientConfig, ServerVerification};
use crate::conn::{Core, Handshake};
use crate::crypto::kx::{KeyExchange, NamedGroup};
use crate::crypto::prf::{MasterSecret, PrfKey};
use crate::crypto::sign::SignatureScheme;
use crate::crypto::suites::{CipherSuite, EMPTY_RENEGOTIATION_INFO_SCSV};
use crate::crypto::verify;
use crate::error::{
    encode_failed, Cause, Event, Fatal, Incompatibility, InternalFailure, Misbehavior,
    ResumptionFailure, ResumptionKind,
};
use crate::handshake::finished;
use crate::handshake::flow::{Flow, Msg, Sender, Shape};
use crate::handshake::keys::{install_keys, master_secret, Role};
use crate::handshake::transcript::RunningHash;
use crate::handshake::Negotiated;
use crate::session::client::ClientSession;
use crate::session::record::SessionRecord;

/// Lifetime assumed for a session ID the server gave no lifetime for (RFC 5246 §7.3 suggests
/// at most 24 hours).
const DEFAULT_SESSION_LIFETIME: u32 = 24 * 3600;

/// Where the client's handshake is, with what that phase needs.
// Inline on purpose: a boxed phase would cost an allocation per handshake, and a
// connection holds one phase at a time.
#[allow(clippy::large_enum_variant)]
enum Phase {
    /// The ClientHello is out; its bytes wait for the hash the ServerHello names.
    Hello { client_hello: Vec<u8> },
    /// A full handshake waiting for the server's Certificate.
    Certificate {
        suite: &'static CipherSuite,
        transcript: RunningHash,
    },
    /// A full handshake waiting for the ServerKeyExchange, signed by `leaf`'s key.
    KeyExchange {
        suite: &'static CipherSuite,
        leaf: Vec<u8>,
        transcript: RunningHash,
    },
    /// A full handshake with the server's key share, until the ServerHelloDone.
    HelloDone {
        suite: &'static CipherSuite,
        group: NamedGroup,
        server_public: Vec<u8>,
        transcript: RunningHash,
    },
    /// The master secret is known and the keys are installed: a resumption from its
    /// ServerHello on, a full handshake from our ClientKeyExchange on.
    Keyed(KeyedPhase),
    /// Between phases (never seen outside a method).
    Moving,
}

struct KeyedPhase {
    suite: &'static CipherSuite,
    master_secret: MasterSecret,
    /// The PRF keyed with the master secret, for both Finished messages.
    prf_key: PrfKey,
    transcript: RunningHash,
}

impl KeyedPhase {
    /// The master secret is known (resumed, or computed from our key exchange): log it if
    /// asked, key the PRF, and install the connection keys (RFC 5246 §6.3).
    fn start(
        cx: &Shared,
        core: &mut Core,
        suite: &'static CipherSuite,
        master_secret: MasterSecret,
        transcript: RunningHash,
    ) -> Result<Self, Fatal> {
        log_key(&cx.config, &cx.client_random, &master_secret);
        let prf_key = PrfKey::from_master_secret(suite.hash, &master_secret);
        install_keys(
            core,
            Role::Client,
            suite,
            &prf_key,
            &cx.client_random,
            &cx.server_random,
        )?;
        Ok(Self {
            suite,
            master_secret,
            prf_key,
            transcript,
        })
    }
}

/// Client handshake state: what every phase shares, and the phase.
pub struct ClientHandshake {
    cx: Shared,
    phase: Phase,
    pub(crate) resumption_failure: Option<ResumptionFailure>,
}

struct Shared {
    config: Arc<ClientConfig>,
    server_name: String,
    flow: Flow,
    client_random: [u8; 32],
    server_random: [u8; 32],
    /// The session offered in the ClientHello, with the ID we sent for it.
    offered: Option<(ClientSession, SmallVec<[u8; 32]>, ResumptionKind)>,
    server_session_id: SmallVec<[u8; 32]>,
    new_ticket: Option<(u32, Vec<u8>)>,
    negotiated: Negotiated,
}

/// A message the flow table lets through in a phase that cannot take it. The flow and the
/// phase are two views of one machine, kept in step by this file: reaching this is a bug
/// here, answered with internal_error instead of a panic. (The one remaining state check.)
fn out_of_step(msg: Msg) -> Fatal {
    InternalFailure::OutOfStep { step: msg.name() }.into()
}

impl ClientHandshake {
    /// Starts a handshake and queues the ClientHello.
    pub(crate) fn start(
        config: Arc<ClientConfig>,
        server_name: &str,
        core: &mut Core,
    ) -> Result<Self, Fatal> {
        let mut cx = Shared {
            config,
            server_name: server_name.to_ascii_lowercase(),
            flow: Flow::new(),
            client_random: [0; 32],
            server_random: [0; 32],
            offered: None,
            server_session_id: SmallVec::new(),
            new_ticket: None,
            negotiated: Negotiated::default(),
        };
        cx.choose_offer()?;
        let client_hello = cx.send_client_hello(core)?;
        cx.flow.advance();
        core.flush_flight()?;
        Ok(Self {
            cx,
            phase: Phase::Hello { client_hello },
            resumption_failure: None,
        })
    }

    /// RFC 5246 §7.4.1.3; the shape is decided here (RFC 5077 §3.4 for tickets).
    fn handle_server_hello(
        &mut self,
        core: &mut Core,
        body: &[u8],
        raw: &[u8],
    ) -> Result<(), Fatal> {
        let Phase::Hello { client_hello } = std::mem::replace(&mut self.phase, Phase::Moving)
        else {
            return Err(out_of_step(Msg::ServerHello));
        };
        let (suite, ems, ticket_ack) = self.cx.check_server_hello(body)?;
        let cx = &mut self.cx;
        let mut transcript = RunningHash::new(suite.hash);
        transcript.add(&client_hello);
        transcript.add(raw);
        let resumed = match &cx.offered {
            Some((session, id, kind)) if !id.is_empty() && cx.server_session_id == *id => {
                Some((session.record.clone(), *kind))
            }
            _ => None,
        };
        match resumed {
            Some((record, kind)) => {
                if record.suite_id != suite.id {
                    return Err(Fatal::from(Misbehavior::ResumedWithAnotherSuite));
                }
                // RFC 7627 §5.3: the resumed handshake must agree with the session on EMS.
                if record.extended_master_secret != ems {
                    return Err(Fatal::from(Misbehavior::ResumedWithOtherEms));
                }
                cx.negotiated.resumed = Some(kind);
                cx.flow.choose(match (kind, ticket_ack) {
                    (_, true) => Shape::ResumeTicketRenewed,
                    (ResumptionKind::Ticket, false) => Shape::ResumeTicket,
                    (ResumptionKind::SessionId, false) => Shape::ResumeSessionId,
                });
                cx.flow.advance();
                core.lock_version();
                self.phase = Phase::Keyed(KeyedPhase::start(
                    cx,
                    core,
                    suite,
                    record.master_secret,
                    transcript,
                )?);
            }
            None => {
                if cx.offered.is_some() {
                    self.resumption_failure = Some(ResumptionFailure::Declined);
                }
                if cx.config.require_extended_master_secret && !ems {
                    return Err(Fatal::from(Incompatibility::NoExtendedMasterSecret));
                }
                cx.flow.choose(if ticket_ack {
                    Shape::FullWithTicket
                } else {
                    Shape::Full
                });
                cx.flow.advance();
                core.lock_version();
                self.phase = Phase::Certificate { suite, transcript };
            }
        }
        Ok(())
    }

    /// RFC 5246 §7.4.2: check the chain and the name.
    fn handle_certificate(
        &mut self,
        core: &mut Core,
        body: &[u8],
        raw: &[u8],
    ) -> Result<(), Fatal> {
        let Phase::Certificate {
            suite,
            mut transcript,
        } = std::mem::replace(&mut self.phase, Phase::Moving)
        else {
            return Err(out_of_step(Msg::Certificate));
        };
        let certs = Certificate::parse(body)?;
        let chain: SmallVec<[&[u8]; 4]> = certs.iter().collect();
        let Some(leaf) = chain.first() else {
            return Err(Fatal::from(Misbehavior::NoCertificate));
        };
        let cx = &self.cx;
        if cx.config.verification == ServerVerification::WebPki {
            verify::verify_server_chain(&cx.config.roots, &chain, &cx.server_name, core.now)
                .map_err(|refused| Fatal(Cause::InvalidCertificate(refused)))?;
        }
        transcript.add(raw);
        self.phase = Phase::KeyExchange {
            suite,
            leaf: leaf.to_vec(),
            transcript,
        };
        self.cx.flow.advance();
        Ok(())
    }

    /// RFC 8422 §5.4: the server's ECDHE share, signed with its certificate key.
    fn handle_server_key_exchange(&mut self, body: &[u8], raw: &[u8]) -> Result<(), Fatal> {
        let Phase::KeyExchange {
            suite,
            leaf,
            mut transcript,
        } = std::mem::replace(&mut self.phase, Phase::Moving)
        else {
            return Err(out_of_step(Msg::ServerKeyExchange));
        };
        let ske = ServerKeyExchange::parse(body)?;
        let cx = &mut self.cx;
        let group = NamedGroup::from_id(ske.params.named_group)
            .filter(|g| cx.config.groups.contains(g))
            .ok_or_else(|| Fatal::from(Misbehavior::UnofferedChoice { what: "group" }))?;
        let scheme = SignatureScheme(ske.signature.scheme);
        if !cx.config.signature_schemes.contains(&scheme) || scheme.auth_kind() != Some(suite.auth)
        {
            return Err(Fatal::from(Misbehavior::UnofferedChoice {
                what: "signature scheme",
            }));
        }
        let mut signed = Vec::with_capacity(64 + ske.params_raw.len());
        signed.extend_from_slice(&cx.client_random);
        signed.extend_from_slice(&cx.server_random);
        signed.extend_from_slice(ske.params_raw);
        verify::verify_signature(&leaf, scheme, &signed, ske.signature.signature)
            .map_err(|alert| Fatal::from(Misbehavior::BadKeyExchangeSignature { alert }))?;
        cx.negotiated.group = Some(group);
        transcript.add(raw);
        self.phase = Phase::HelloDone {
            suite,
            group,
            server_public: ske.params.public.to_vec(),
            transcript,
        };
        cx.flow.advance();
        Ok(())
    }

    /// RFC 5246 §7.4.5: the end of the server's first flight.
    fn handle_server_hello_done(
        &mut self,
        core: &mut Core,
        body: &[u8],
        raw: &[u8],
    ) -> Result<(), Fatal> {
        if !body.is_empty() {
            return Err(Fatal::from(Misbehavior::ServerHelloDoneBody));
        }
        let Phase::HelloDone { transcript, .. } = &mut self.phase else {
            return Err(out_of_step(Msg::ServerHelloDone));
        };
        transcript.add(raw);
        self.cx.flow.advance();
        self.send_my_steps(core)
    }

    /// RFC 5077 §3.3.
    fn handle_new_session_ticket(&mut self, body: &[u8], raw: &[u8]) -> Result<(), Fatal> {
        let nst = NewSessionTicket::parse(body)?;
        let Phase::Keyed(keyed) = &mut self.phase else {
            return Err(out_of_step(Msg::NewSessionTicket));
        };
        // An empty ticket means the server will not issue one after all (RFC 5077 §3.3).
        if !nst.ticket.is_empty() {
            self.cx.new_ticket = Some((nst.lifetime_hint, nst.ticket.to_vec()));
        }
        keyed.transcript.add(raw);
        self.cx.flow.advance();
        Ok(())
    }

    /// Writes every message the shape says the client sends now.
    fn send_my_steps(&mut self, core: &mut Core) -> Result<(), Fatal> {
        while let Some(step) = self.cx.flow.next() {
            if step.from != Sender::Client {
                break;
            }
            match (step.msg, &mut self.phase) {
                (Msg::ClientKeyExchange, Phase::HelloDone { .. }) => {
                    self.send_client_key_exchange(core)?;
                }
                (Msg::ChangeCipherSpec, Phase::Keyed(_)) => core.send_change_cipher_spec()?,
                (Msg::Finished, Phase::Keyed(keyed)) => {
                    let written =
                        finished::write(core, &keyed.transcript.current(), &keyed.prf_key, true)?;
                    keyed.transcript.add(&core.flight()[written]);
                }
                (msg, _) => return Err(out_of_step(msg)),
            }
            self.cx.flow.advance();
        }
        core.flush_flight()?;
        self.finish_if_complete(core);
        Ok(())
    }

    /// RFC 8422 §5.7, RFC 5246 §8.1, RFC 7627 §4.
    fn send_client_key_exchange(&mut self, core: &mut Core) -> Result<(), Fatal> {
        let Phase::HelloDone {
            suite,
            group,
            server_public,
            mut transcript,
        } = std::mem::replace(&mut self.phase, Phase::Moving)
        else {
            return Err(out_of_step(Msg::ClientKeyExchange));
        };
        let cx = &self.cx;
        let kx = KeyExchange::generate(group, cx.config.rng.as_ref())
            .map_err(|_| Fatal::from(InternalFailure::KeyGeneration))?;
        let start = core.flight().len();
        ClientKeyExchange {
            public: kx.public(),
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        transcript.add(&core.flight()[start..]);
        let pre_master = kx
            .complete(&server_public)
            .map_err(|_| Fatal::from(Misbehavior::BadKeyShare))?;
        let ms = master_secret(
            suite,
            cx.negotiated.extended_master_secret,
            &transcript.current(),
            &pre_master,
            &cx.client_random,
            &cx.server_random,
        )?;
        self.phase = Phase::Keyed(KeyedPhase::start(cx, core, suite, ms, transcript)?);
        Ok(())
    }

    /// RFC 5246 §7.4.9: check the server's Finished; then send what the shape says.
    fn handle_finished(&mut self, core: &mut Core, body: &[u8], raw: &[u8]) -> Result<(), Fatal> {
        let Phase::Keyed(keyed) = &mut self.phase else {
            return Err(out_of_step(Msg::Finished));
        };
        finished::check(&keyed.transcript.current(), &keyed.prf_key, false, body)?;
        keyed.transcript.add(raw);
        self.cx.flow.advance();
        self.send_my_steps(core)
    }

    /// Remembers the session for the next connection to this server.
    fn finish_if_complete(&mut self, core: &mut Core) {
        if !self.cx.flow.is_complete() || !core.is_handshaking() {
            return;
        }
        if let Some(store) = self.cx.config.session_store.clone() {
            if let Some(session) = self.session_to_remember(core.now) {
                store.put(&self.cx.server_name, session);
            } else if self.resumption_failure.is_some() {
                store.remove(&self.cx.server_name);
            }
        }
        core.handshake_complete(Event::HandshakeDone {
            resumed: self.cx.negotiated.resumed,
        });
    }

    fn session_to_remember(&mut self, now: u64) -> Option<ClientSession> {
        let Phase::Keyed(keyed) = &self.phase else {
            return None;
        };
        let cx = &mut self.cx;
        let new_ticket = cx.new_ticket.take();
        if let (Some(_), Some((session, _, _))) = (cx.negotiated.resumed, &cx.offered) {
            // Resumed: keep the session, with the renewed ticket if the server sent one.
            let mut session = session.clone();
            if let Some((hint, ticket)) = new_ticket {
                session.ticket = Some(ticket);
                if hint > 0 {
                    session.record.lifetime = hint;
                    session.record.created = now;
                }
            }
            return Some(session);
        }
        // A name too long for a session record is not remembered (DNS names fit; ALPN
        // names are at most 255 bytes, RFC 7301 §3.1).
        let name = cx.server_name.as_bytes();
        let alpn = cx.negotiated.alpn.as_deref().unwrap_or(&[]);
        if name.len() > 255 || alpn.len() > 255 {
            return None;
        }
        let lifetime = match &new_ticket {
            Some((hint, _)) if *hint > 0 => *hint,
            _ => DEFAULT_SESSION_LIFETIME,
        };
        let session = ClientSession {
            record: SessionRecord {
                suite_id: keyed.suite.id,
                extended_master_secret: cx.negotiated.extended_master_secret,
                master_secret: keyed.master_secret.clone(),
                created: now,
                lifetime,
                server_name: SmallVec::from_slice(name),
                alpn: SmallVec::from_slice(alpn),
            },
            session_id: cx.server_session_id.clone(),
            ticket: new_ticket.map(|(_, t)| t),
        };
        (session.ticket.is_some() || !session.session_id.is_empty()).then_some(session)
    }
}

impl Shared {
    fn random(&self, dest: &mut [u8]) -> Result<(), Fatal> {
        self.config
            .rng
            .fill(dest)
            .map_err(|_| Fatal::from(InternalFailure::Randomness))
    }

    /// Picks a remembered session to offer, if it still fits this config.
    fn choose_offer(&mut self) -> Result<(), Fatal> {
        let Some(store) = &self.config.session_store else {
            return Ok(());
        };
        let Some(session) = store.get(&self.server_name) else {
            return Ok(());
        };
        let suite_ok = self
            .config
            .suites
            .iter()
            .any(|s| s.id == session.record.suite_id);
        // RFC 7627 §5.3: do not offer a non-EMS session while offering EMS.
        let ems_ok = session.record.extended_master_secret || !self.config.extended_master_secret;
        if !suite_ok || !ems_ok {
            return Ok(());
        }
        match (&session.ticket, self.config.enable_tickets) {
            (Some(_), true) => {
                // RFC 5077 §3.4: send a fresh random session ID with the ticket so the server's
                // echo tells us it accepted the ticket.
                let mut id = [0u8; 32];
                self.random(&mut id)?;
                self.offered = Some((session, SmallVec::from_slice(&id), ResumptionKind::Ticket));
            }
            _ if !session.session_id.is_empty() => {
                let id = session.session_id.clone();
                self.offered = Some((session, id, ResumptionKind::SessionId));
            }
            _ => {}
        }
        Ok(())
    }

    /// Writes the ClientHello into the flight; returns its bytes for the transcript.
    fn send_client_hello(&mut self, core: &mut Core) -> Result<Vec<u8>, Fatal> {
        let config = self.config.clone();
        let mut random = [0u8; 32];
        self.random(&mut random)?;
        self.client_random = random;
        let suites: SmallVec<[u16; 8]> = config
            .suites
            .iter()
            .map(|s| s.id)
            .chain([EMPTY_RENEGOTIATION_INFO_SCSV])
            .collect();
        let groups: SmallVec<[u16; 4]> = config.groups.iter().map(|g| g.id()).collect();
        let schemes: SmallVec<[u16; 8]> = config.signature_schemes.iter().map(|s| s.0).collect();
        let alpn: SmallVec<[&[u8]; 2]> =
            config.alpn_protocols.iter().map(|p| p.as_slice()).collect();
        // RFC 6066 §3: literal IP addresses are not sent as server names.
        let sni = (self.server_name.parse::<std::net::IpAddr>().is_err()
            && !self.server_name.is_empty())
        .then_some(self.server_name.as_bytes());
        let (session_id, ticket): (&[u8], Option<&[u8]>) = match &self.offered {
            Some((session, id, ResumptionKind::Ticket)) => (id, session.ticket.as_deref()),
            Some((_, id, ResumptionKind::SessionId)) => {
                (id, config.enable_tickets.then_some(&[][..]))
            }
            None => (&[], config.enable_tickets.then_some(&[][..])),
        };
        let start = core.flight().len();
        ClientHello {
            client_version: 0x0303,
            random: &self.client_random,
            session_id,
            cipher_suites: U16List::from_values(&suites),
            compression_methods: &[0],
            extensions: ClientExtensions {
                server_name: sni,
                supported_groups: Some(U16List::from_values(&groups)),
                ec_point_formats: Some(&[0]),
                signature_algorithms: Some(U16List::from_values(&schemes)),
                alpn: ProtocolNameList::from_names(&alpn),
                extended_master_secret: config.extended_master_secret,
                session_ticket: ticket,
                renegotiation_info: None,
                supported_versions_offers_tls13: false,
            },
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        Ok(core.flight()[start..].to_vec())
    }

    /// The ServerHello's answers checked against what we offered (RFC 5246 §7.4.1.3-4,
    /// RFC 5746 §3.4, RFC 8422 §5.2, RFC 7627 §5.1); returns the suite, whether EMS is on and
    /// whether a ticket will follow.
    fn check_server_hello(
        &mut self,
        body: &[u8],
    ) -> Result<(&'static CipherSuite, bool, bool), Fatal> {
        let hello = ServerHello::parse(body)?;
        if hello.server_version != 0x0303 {
            return Err(Fatal::from(Misbehavior::NotTls12));
        }
        let suite = self
            .config
            .suites
            .iter()
            .copied()
            .find(|s| s.id == hello.cipher_suite)
            .ok_or_else(|| Fatal::from(Misbehavior::UnofferedChoice { what: "suite" }))?;
        if hello.compression_method != 0 {
            return Err(Fatal::from(Misbehavior::UnofferedChoice {
                what: "compression method",
            }));
        }
        let ext = &hello.extensions;
        let offered_ticket_ext = self.config.enable_tickets;
        // RFC 5246 §7.4.1.4: the server may only answer extensions we sent.
        if ext.alpn.is_some() && self.config.alpn_protocols.is_empty()
            || ext.extended_master_secret && !self.config.extended_master_secret
            || ext.session_ticket_ack && !offered_ticket_ext
        {
            return Err(Fatal::from(Misbehavior::UnsolicitedExtension));
        }
        if let Some(p) = ext.alpn {
            if !self
                .config
                .alpn_protocols
                .iter()
                .any(|ours| ours.as_slice() == p)
            {
                return Err(Fatal::from(Misbehavior::UnofferedChoice {
                    what: "ALPN protocol",
                }));
            }
            self.negotiated.alpn = Some(SmallVec::from_slice(p));
        }
        match ext.renegotiation_info {
            Some(inner) if !inner.is_empty() => {
                return Err(Fatal::from(Misbehavior::RenegotiationInfoNotEmpty))
            }
            Some(_) => self.negotiated.secure_renegotiation = true,
            None => {}
        }
        if let Some(formats) = ext.ec_point_formats {
            if !formats.contains(&0) {
                return Err(Fatal::from(Misbehavior::NoUncompressedPoints));
            }
        }
        self.negotiated.extended_master_secret = ext.extended_master_secret;
        self.negotiated.suite = Some(suite);
        self.negotiated.server_name = Some(self.server_name.as_str().into());
        self.server_random = *hello.random;
        self.server_session_id = SmallVec::from_slice(hello.session_id);

        Ok((suite, ext.extended_master_secret, ext.session_ticket_ack))
    }
}

fn log_key(config: &ClientConfig, client_random: &[u8; 32], ms: &MasterSecret) {
    if let Some(log) = &config.key_log {
        log.log("CLIENT_RANDOM", client_random, ms.as_bytes());
    }
}

impl Handshake for ClientHandshake {
    const SIDE: Sender = Sender::Client;

    fn negotiated(&self) -> &crate::handshake::Negotiated {
        &self.cx.negotiated
    }

    fn flow(&self) -> &Flow {
        &self.cx.flow
    }

    fn handle(&mut self, core: &mut Core, msg: Msg, body: &[u8], raw: &[u8]) -> Result<(), Fatal> {
        match msg {
            Msg::ServerHello => self.handle_server_hello(core, body, raw),
            Msg::Certificate => self.handle_certificate(core, body, raw),
            Msg::ServerKeyExchange => self.handle_server_key_exchange(body, raw),
            Msg::ServerHelloDone => self.handle_server_hello_done(core, body, raw),
            Msg::NewSessionTicket => self.handle_new_session_ticket(body, raw),
            Msg::Finished => self.handle_finished(core, body, raw),
            _ => Err(Fatal::from(Misbehavior::UnexpectedMessage {
                received: "a message",
                expected: "none here",
            })),
        }
    }

    fn handle_change_cipher_spec(&mut self, core: &mut Core) -> Result<(), Fatal> {
        core.receive_change_cipher_spec()?;
        self.cx.flow.advance();
        Ok(())
    }
}
