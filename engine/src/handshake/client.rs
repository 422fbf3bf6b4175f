//! The client's side of the handshake (RFC 5246 §7.3-7.4, RFC 8422, RFC 7627, RFC 5746,
//! RFC 7301), with the server checked by rustls-webpki, and resumption by session ID or
//! ticket (RFC 5077 §3.4).
//!
//! The chosen [`Shape`] says which message comes next; `ClientHandshake::step` takes it in the
//! one [`Phase`] that owns what it needs: the ClientHello's bytes until the ServerHello names
//! the hash, the server's certificate and then its key share during a full handshake, the
//! master secret from the key exchange (or a resumed ServerHello) on. ChangeCipherSpec and
//! Finished are the steps both roles share ([`keyed`](super::keyed)).

use std::sync::Arc;

use smallvec::SmallVec;

use crate::codec::{
    Certificate, CertificateRequest, CertificateVerify, ClientExtensions, ClientHello,
    ClientKeyExchange, DigitallySigned, NewSessionTicket, ProtocolNameList, ProtocolVersion,
    ServerHello, ServerKeyExchange, U16List,
};
use crate::config::{ClientConfig, ServerVerification};
use crate::conn::{Core, Machine};
use crate::crypto::kx::{KeyExchange, NamedGroup};
use crate::crypto::sign::SignatureScheme;
use crate::crypto::suites::AuthKind;
use crate::crypto::suites::{CipherSuite, EMPTY_RENEGOTIATION_INFO_SCSV};
use crate::crypto::verify;
use crate::error::{
    encode_failed, Cause, Event, Fatal, Incompatibility, InternalFailure, Misbehavior,
    ResumptionFailure, ResumptionKind,
};
use crate::handshake::flow::{Flow, Msg, Role, Shape};
use crate::handshake::keyed::{Keyed, Randoms};
use crate::handshake::keys::master_secret;
use crate::handshake::transcript::RunningHash;
use crate::handshake::{out_of_step, Negotiated, Received};
use crate::session::client::ClientSession;
use crate::session::record::SessionRecord;

/// Lifetime assumed for a session ID the server gave no lifetime for (RFC 5246 §7.3 suggests
/// at most 24 hours).
const DEFAULT_SESSION_LIFETIME: u32 = 24 * 3600;

/// Where the client's handshake is, with what that phase needs. Each phase takes the steps
/// listed for it in [`ClientHandshake::step`].
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
    /// A full handshake with the server's key share, until our ClientKeyExchange.
    HelloDone {
        suite: &'static CipherSuite,
        group: NamedGroup,
        server_public: Vec<u8>,
        transcript: RunningHash,
    },
    /// The master secret is known and the keys are installed: a resumption from its
    /// ServerHello on, a full handshake from our ClientKeyExchange on.
    Keyed(Keyed),
    /// Between phases, while a step runs (and after one failed).
    Moving,
}

/// Client handshake state: what every phase shares, and the phase.
pub struct ClientHandshake {
    cx: Shared,
    phase: Phase,
}

struct Shared {
    config: Arc<ClientConfig>,
    server_name: String,
    flow: Flow,
    client_random: [u8; 32],
    server_random: [u8; 32],
    /// The session offered in the ClientHello, with the ID we sent for it.
    offered: Option<(ClientSession, SmallVec<[u8; 32]>, ResumptionKind)>,
    /// Why the offered session was not resumed.
    resumption_failure: Option<ResumptionFailure>,
    server_session_id: SmallVec<[u8; 32]>,
    new_ticket: Option<(u32, Vec<u8>)>,
    negotiated: Negotiated,
    /// The scheme our CertificateVerify uses, once a CertificateRequest asked for our
    /// certificate and we have one the server can take; `None` sends an empty Certificate.
    certificate_scheme: Option<SignatureScheme>,
    /// The server's certificate chain (leaf first) of a full handshake.
    server_chain: Option<Vec<Vec<u8>>>,
    /// The CertificateVerify signature, when the caller makes it (`offload_signing`).
    signature: Signature,
}

/// Who signs the CertificateVerify, and whether the signature is there yet.
enum Signature {
    /// The engine signs when the message is written (or offloading is off).
    Inline,
    /// Handed to the caller (`Event::NeedSignature`); the client's flight waits.
    Awaiting,
    /// The caller's signature, to be written.
    Made(Vec<u8>),
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
            resumption_failure: None,
            server_session_id: SmallVec::new(),
            new_ticket: None,
            negotiated: Negotiated::default(),
            certificate_scheme: None,
            server_chain: None,
            signature: Signature::Inline,
        };
        cx.choose_offer()?;
        let client_hello = cx.send_client_hello(core)?;
        cx.flow.advance();
        core.flush_flight()?;
        Ok(Self {
            cx,
            phase: Phase::Hello { client_hello },
        })
    }

    /// Why the session offered in the ClientHello was not resumed, if it was not.
    pub(crate) fn resumption_failure(&self) -> Option<ResumptionFailure> {
        self.cx.resumption_failure
    }

    fn is_waiting(&self) -> bool {
        matches!(self.cx.signature, Signature::Awaiting)
    }

    /// Answers a [`Event::NeedSignature`] for our CertificateVerify and sends the rest of
    /// the flight.
    fn answer_signature(
        &mut self,
        core: &mut Core,
        signature: Option<Vec<u8>>,
    ) -> Result<(), Fatal> {
        if !self.is_waiting() {
            return Err(Fatal::from(InternalFailure::OutOfOrder {
                what: "no signature is pending",
            }));
        }
        let signature = signature.ok_or_else(|| Fatal::from(InternalFailure::Signing))?;
        self.cx.signature = Signature::Made(signature);
        self.send_my_steps(core)
    }

    /// The server's certificate chain, leaf first, when this handshake was full.
    pub(crate) fn server_chain(&self) -> Option<&[Vec<u8>]> {
        self.cx.server_chain.as_deref()
    }

    /// Writes every message the shape says the client sends now; stops at a signature
    /// handed to the caller.
    fn send_my_steps(&mut self, core: &mut Core) -> Result<(), Fatal> {
        while let Some(step) = self.cx.flow.next().filter(|s| s.from == Role::Client) {
            self.step(core, step.msg, None)?;
            if self.is_waiting() {
                return Ok(());
            }
            self.cx.flow.advance();
        }
        core.flush_flight()?;
        self.finish_if_complete(core);
        Ok(())
    }

    /// Every step of every shape on the client's side after its ClientHello, received
    /// (`received` is the server's message) or sent (`None`): the phase that takes it, and
    /// the phase it leaves behind. The flow has already decided that `msg` is next; this is
    /// the one place a step meets the data it needs.
    ///
    /// Steps that keep their phase work on it where it is; only those that change it take it
    /// by value (a keyed phase holds the PRF's HMAC state, over a kilobyte).
    fn step(
        &mut self,
        core: &mut Core,
        msg: Msg,
        received: Option<Received<'_>>,
    ) -> Result<(), Fatal> {
        let cx = &mut self.cx;
        match (msg, received, &mut self.phase) {
            // RFC 5246 §7.4.5: the end of the server's first flight.
            (Msg::ServerHelloDone, Some(done), Phase::HelloDone { transcript, .. }) => {
                if !done.body.is_empty() {
                    return Err(Fatal::from(Misbehavior::ServerHelloDoneBody));
                }
                transcript.add(done.raw);
                return Ok(());
            }
            (Msg::CertificateRequest, Some(request), Phase::HelloDone { transcript, .. }) => {
                return cx.receive_certificate_request(request, transcript)
            }
            (Msg::Certificate, None, Phase::HelloDone { transcript, .. }) => {
                return cx.send_certificate(core, transcript)
            }
            (Msg::CertificateVerify, None, Phase::Keyed(keyed)) => {
                return cx.send_certificate_verify(core, keyed)
            }
            (Msg::NewSessionTicket, Some(ticket), Phase::Keyed(keyed)) => {
                return cx.receive_new_session_ticket(ticket, keyed)
            }
            (Msg::ChangeCipherSpec, received, Phase::Keyed(keyed)) => {
                return keyed.change_cipher_spec(core, received)
            }
            (Msg::Finished, received, Phase::Keyed(keyed)) => {
                return keyed.finished(core, Role::Client, received)
            }
            _ => {}
        }
        self.phase = match (
            msg,
            received,
            std::mem::replace(&mut self.phase, Phase::Moving),
        ) {
            (Msg::ServerHello, Some(hello), Phase::Hello { client_hello }) => {
                cx.receive_server_hello(core, hello, client_hello)?
            }
            (Msg::Certificate, Some(certs), Phase::Certificate { suite, transcript }) => {
                cx.receive_certificate(core, certs, suite, transcript)?
            }
            (
                Msg::ServerKeyExchange,
                Some(ske),
                Phase::KeyExchange {
                    suite,
                    leaf,
                    transcript,
                },
            ) => cx.receive_server_key_exchange(ske, suite, &leaf, transcript)?,
            (
                Msg::ClientKeyExchange,
                None,
                Phase::HelloDone {
                    suite,
                    group,
                    server_public,
                    transcript,
                },
            ) => Phase::Keyed(cx.send_client_key_exchange(
                core,
                suite,
                group,
                &server_public,
                transcript,
            )?),
            (msg, _, phase) => {
                self.phase = phase;
                return Err(out_of_step(msg));
            }
        };
        Ok(())
    }

    /// Remembers the session for the next connection to this server.
    fn finish_if_complete(&mut self, core: &mut Core) {
        if !self.cx.flow.is_complete() || !core.is_handshaking() {
            return;
        }
        if let Some(store) = self.cx.config.session_store.clone() {
            if let Some(session) = self.session_to_remember(core.now) {
                store.put(&self.cx.server_name, session);
            } else if self.cx.resumption_failure.is_some() {
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
        if name.len() > SessionRecord::MAX_NAME_LEN || alpn.len() > SessionRecord::MAX_NAME_LEN {
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
                client: None,
            },
            session_id: cx.server_session_id.clone(),
            ticket: new_ticket.map(|(_, t)| t),
        };
        (session.ticket.is_some() || !session.session_id.is_empty()).then_some(session)
    }
}

impl Shared {
    /// RFC 5246 §7.4.1.3; the shape is decided here (RFC 5077 §3.4 for tickets): a
    /// resumption is keyed at once, a full handshake waits for the server's Certificate.
    fn receive_server_hello(
        &mut self,
        core: &mut Core,
        received: Received<'_>,
        client_hello: Vec<u8>,
    ) -> Result<Phase, Fatal> {
        let (suite, ems, ticket_ack) = self.check_server_hello(received.body)?;
        let mut transcript = RunningHash::new(suite.hash);
        if self.config.client_certificate.is_some() {
            // A CertificateVerify may be asked for: it signs the messages themselves.
            transcript.keep_messages();
        }
        transcript.add(&client_hello);
        transcript.add(received.raw);
        let resumed = match &self.offered {
            Some((session, id, kind)) if !id.is_empty() && self.server_session_id == *id => {
                Some((session.record.clone(), *kind))
            }
            _ => None,
        };
        let Some((record, kind)) = resumed else {
            if self.offered.is_some() {
                self.resumption_failure = Some(ResumptionFailure::Declined);
            }
            if self.config.require_extended_master_secret && !ems {
                return Err(Fatal::from(Incompatibility::NoExtendedMasterSecret));
            }
            self.flow.choose(if ticket_ack {
                Shape::FullWithTicket
            } else {
                Shape::Full
            });
            core.lock_version();
            return Ok(Phase::Certificate { suite, transcript });
        };
        if record.suite_id != suite.id {
            return Err(Fatal::from(Misbehavior::ResumedWithAnotherSuite));
        }
        // RFC 7627 §5.3: the resumed handshake must agree with the session on EMS.
        if record.extended_master_secret != ems {
            return Err(Fatal::from(Misbehavior::ResumedWithOtherEms));
        }
        self.negotiated.resumed = Some(kind);
        self.flow.choose(match (kind, ticket_ack) {
            (_, true) => Shape::ResumeTicketRenewed,
            (ResumptionKind::Ticket, false) => Shape::ResumeTicket,
            (ResumptionKind::SessionId, false) => Shape::ResumeSessionId,
        });
        core.lock_version();
        let keyed = Keyed::start(
            core,
            Role::Client,
            suite,
            record.master_secret,
            transcript,
            self.randoms(),
            self.config.key_log.as_ref(),
        )?;
        Ok(Phase::Keyed(keyed))
    }

    /// RFC 5246 §7.4.2: check the chain and the name.
    fn receive_certificate(
        &mut self,
        core: &Core,
        received: Received<'_>,
        suite: &'static CipherSuite,
        mut transcript: RunningHash,
    ) -> Result<Phase, Fatal> {
        let certs = Certificate::parse(received.body)?;
        let chain: SmallVec<[&[u8]; 4]> = certs.iter().collect();
        let Some(leaf) = chain.first() else {
            return Err(Fatal::from(Misbehavior::NoCertificate));
        };
        if self.config.verification == ServerVerification::WebPki {
            verify::verify_server_chain(&self.config.roots, &chain, &self.server_name, core.now)
                .map_err(|refused| Fatal(Cause::InvalidCertificate(refused)))?;
        }
        transcript.add(received.raw);
        let leaf = leaf.to_vec();
        self.server_chain = Some(chain.iter().map(|c| c.to_vec()).collect());
        Ok(Phase::KeyExchange {
            suite,
            leaf,
            transcript,
        })
    }

    /// RFC 8422 §5.4: the server's ECDHE share, signed with its certificate key.
    fn receive_server_key_exchange(
        &mut self,
        received: Received<'_>,
        suite: &'static CipherSuite,
        leaf: &[u8],
        mut transcript: RunningHash,
    ) -> Result<Phase, Fatal> {
        let ske = ServerKeyExchange::parse(received.body)?;
        let group = NamedGroup::from_id(ske.params.named_group)
            .filter(|g| self.config.groups.contains(g))
            .ok_or_else(|| Fatal::from(Misbehavior::UnofferedChoice { what: "group" }))?;
        let scheme = SignatureScheme(ske.signature.scheme);
        if !self.config.signature_schemes.contains(&scheme)
            || scheme.auth_kind() != Some(suite.auth)
        {
            return Err(Fatal::from(Misbehavior::UnofferedChoice {
                what: "signature scheme",
            }));
        }
        let mut signed = Vec::with_capacity(64 + ske.params_raw.len());
        signed.extend_from_slice(&self.client_random);
        signed.extend_from_slice(&self.server_random);
        signed.extend_from_slice(ske.params_raw);
        verify::verify_signature(leaf, scheme, &signed, ske.signature.signature)
            .map_err(|alert| Fatal::from(Misbehavior::BadKeyExchangeSignature { alert }))?;
        self.negotiated.group = Some(group);
        transcript.add(received.raw);
        Ok(Phase::HelloDone {
            suite,
            group,
            server_public: ske.params.public.to_vec(),
            transcript,
        })
    }

    /// RFC 8422 §5.7, RFC 5246 §8.1, RFC 7627 §4: our key share, and the master secret.
    fn send_client_key_exchange(
        &self,
        core: &mut Core,
        suite: &'static CipherSuite,
        group: NamedGroup,
        server_public: &[u8],
        mut transcript: RunningHash,
    ) -> Result<Keyed, Fatal> {
        let kx = KeyExchange::generate(group, self.config.rng.as_ref())
            .map_err(|_| Fatal::from(InternalFailure::KeyGeneration))?;
        let start = core.flight().len();
        ClientKeyExchange {
            public: kx.public(),
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        transcript.add(&core.flight()[start..]);
        let pre_master = kx
            .complete(server_public)
            .map_err(|_| Fatal::from(Misbehavior::BadKeyShare))?;
        let master_secret = master_secret(
            suite,
            self.negotiated.extended_master_secret,
            &transcript.current(),
            &pre_master,
            &self.client_random,
            &self.server_random,
        )?;
        Keyed::start(
            core,
            Role::Client,
            suite,
            master_secret,
            transcript,
            self.randoms(),
            self.config.key_log.as_ref(),
        )
    }

    /// RFC 5246 §7.4.4: the server asks for our certificate. We answer with ours if we have
    /// one of a type and under a scheme it takes (RFC 8422 §5.5); otherwise with none.
    fn receive_certificate_request(
        &mut self,
        received: Received<'_>,
        transcript: &mut RunningHash,
    ) -> Result<(), Fatal> {
        let request = CertificateRequest::parse(received.body)?;
        self.certificate_scheme = self.config.client_certificate.as_ref().and_then(|cert| {
            let key = cert.key();
            let wanted_type = match key.auth_kind() {
                AuthKind::Ecdsa => 64,
                AuthKind::Rsa => 1,
            };
            if !request.certificate_types.contains(&wanted_type) {
                return None;
            }
            key.choose_scheme(|s| request.signature_algorithms.contains(s.0))
        });
        transcript.add(received.raw);
        Ok(())
    }

    /// RFC 5246 §7.4.6: our chain, or an empty list (then the shape has no CertificateVerify).
    fn send_certificate(
        &mut self,
        core: &mut Core,
        transcript: &mut RunningHash,
    ) -> Result<(), Fatal> {
        let start = core.flight().len();
        match (&self.certificate_scheme, &self.config.client_certificate) {
            (Some(_), Some(cert)) => core.flight().extend_from_slice(cert.certificate_message()),
            _ => {
                let none: [&[u8]; 0] = [];
                crate::codec::encode_certificate(&none, core.flight()).map_err(encode_failed)?;
                let fewer = self.flow.shape().without_client_certificate();
                if !self.flow.revise(fewer) {
                    return Err(out_of_step(Msg::Certificate));
                }
            }
        }
        transcript.add(&core.flight()[start..]);
        Ok(())
    }

    /// RFC 5246 §7.4.8: our signature over every handshake message so far.
    fn send_certificate_verify(&mut self, core: &mut Core, keyed: &mut Keyed) -> Result<(), Fatal> {
        let (Some(scheme), Some(cert)) = (self.certificate_scheme, &self.config.client_certificate)
        else {
            return Err(out_of_step(Msg::CertificateVerify));
        };
        let signature = match std::mem::replace(&mut self.signature, Signature::Inline) {
            Signature::Made(signature) => signature,
            Signature::Inline if self.config.offload_signing => {
                core.push_event(Event::NeedSignature {
                    auth: cert.key().auth_kind(),
                    key: cert.clone(),
                    scheme,
                    message: keyed.transcript.messages().to_vec(),
                });
                self.signature = Signature::Awaiting;
                return Ok(());
            }
            Signature::Inline | Signature::Awaiting => {
                let mut signature = Vec::with_capacity(512);
                cert.key()
                    .sign(scheme, keyed.transcript.messages(), &mut signature)
                    .map_err(|_| Fatal::from(InternalFailure::Signing))?;
                signature
            }
        };
        let start = core.flight().len();
        CertificateVerify {
            signed: DigitallySigned {
                scheme: scheme.0,
                signature: &signature,
            },
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        keyed.transcript.forget();
        keyed.transcript.add(&core.flight()[start..]);
        Ok(())
    }

    /// RFC 5077 §3.3: the ticket to offer next time. An empty one means the server will not
    /// issue one after all.
    fn receive_new_session_ticket(
        &mut self,
        received: Received<'_>,
        keyed: &mut Keyed,
    ) -> Result<(), Fatal> {
        let nst = NewSessionTicket::parse(received.body)?;
        if !nst.ticket.is_empty() {
            self.new_ticket = Some((nst.lifetime_hint, nst.ticket.to_vec()));
        }
        keyed.transcript.add(received.raw);
        Ok(())
    }

    fn randoms(&self) -> Randoms<'_> {
        Randoms {
            client: &self.client_random,
            server: &self.server_random,
        }
    }

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
            client_version: ProtocolVersion::TLS12,
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
        if hello.server_version != ProtocolVersion::TLS12 {
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

impl Machine for ClientHandshake {
    const ROLE: Role = Role::Client;

    fn negotiated(&self) -> &crate::handshake::Negotiated {
        &self.cx.negotiated
    }

    fn flow(&self) -> &Flow {
        &self.cx.flow
    }

    fn flow_mut(&mut self) -> &mut Flow {
        &mut self.cx.flow
    }

    fn is_suspended(&self) -> bool {
        self.is_waiting()
    }

    fn provide_signature(
        &mut self,
        core: &mut Core,
        signature: Option<Vec<u8>>,
    ) -> Result<(), Fatal> {
        self.answer_signature(core, signature)
    }

    fn answer_blocking(
        conn: &mut crate::ClientConnection,
        event: &Event,
    ) -> Result<(), crate::Error> {
        if let Event::NeedSignature {
            key,
            scheme,
            message,
            ..
        } = event
        {
            let mut signature = Vec::with_capacity(512);
            let signed = key.key().sign(*scheme, message, &mut signature).is_ok();
            return conn.provide_signature(signed.then_some(signature));
        }
        Ok(())
    }

    /// The server's message, let through by the flow: take its step, then send whatever the
    /// shape says comes from us next.
    fn receive(&mut self, core: &mut Core, msg: Msg, received: Received<'_>) -> Result<(), Fatal> {
        self.step(core, msg, Some(received))?;
        self.cx.flow.advance();
        self.send_my_steps(core)
    }
}
