//! The server's side of the handshake (RFC 5246 §7.3-7.4, RFC 8422, RFC 7627, RFC 5746,
//! RFC 7301) with resumption by session ID and by ticket (RFC 5077).
//!
//! The chosen [`Shape`] says which message comes next, received or sent; `ServerHandshake::step`
//! takes it in the one [`Phase`] that owns what it needs: the held ClientHello while the
//! caller answers, a full handshake's key exchange and signature until the
//! ClientKeyExchange, the master secret from then on (or from the ClientHello of a
//! resumption). Each step consumes its phase and leaves the next, so no step has to ask
//! whether an earlier one left its result behind. ChangeCipherSpec and Finished are the
//! steps both roles share ([`keyed`](super::keyed)).

use std::sync::Arc;

use smallvec::SmallVec;
use zeroize::Zeroize;

use crate::client_auth::{ClientIdentity, CERTIFICATE_TYPES, VERIFY_SCHEMES};
use crate::codec::{
    Certificate, CertificateRequest, CertificateVerify, ClientHello, ClientKeyExchange,
    DigitallySigned, NewSessionTicket, ProtocolVersion, ServerEcdhParams, ServerExtensions,
    ServerHello, ServerHelloDone, ServerKeyExchange, U16List, HANDSHAKE_HEADER_LEN,
    MAX_HOST_NAME_LEN,
};
use crate::config::{CertifiedKey, ServerConfig};
use crate::conn::{Core, Machine};
use crate::crypto::kx::{KeyExchange, NamedGroup};
use crate::crypto::sign::SignatureScheme;
use crate::crypto::suites::{suite_by_id, CipherSuite, EMPTY_RENEGOTIATION_INFO_SCSV};
use crate::error::{
    encode_failed, Cause, CertificateError, Error, Event, Fatal, Incompatibility, InternalFailure,
    Misbehavior, ResumptionFailure, ResumptionKind,
};
use crate::handshake::flow::{Flow, Msg, Role, Shape};
use crate::handshake::keyed::{Keyed, Randoms};
use crate::handshake::keys::master_secret;
use crate::handshake::transcript::RunningHash;
use crate::handshake::{out_of_step, ClientHelloInfo, Negotiated, Received};
use crate::resolve::CertificateSet;
use crate::session::record::SessionRecord;
use crate::session::store::Lookup;
use crate::session::ticket::{
    TicketError, TicketKeyRing, TicketKeys, MAX_TICKET_PLAINTEXT, TICKET_OVERHEAD,
};

/// What to do with a ClientHello's resumption offer.
enum Decision {
    Full,
    Resume(Resumption),
    Suspend,
}

/// An accepted resumption. Its record is already in [`Shared::resumed`]: it goes there
/// straight from the ticket or the store.
struct Resumption {
    suite: &'static CipherSuite,
    kind: ResumptionKind,
    renew_ticket: bool,
}

/// Where the server's handshake is, with what that phase needs. Each phase takes the steps
/// listed for it in [`ServerHandshake::step`].
// Inline on purpose: a boxed phase would cost an allocation per handshake, and a
// connection holds one phase at a time.
#[allow(clippy::large_enum_variant)]
enum Phase {
    /// Before the ClientHello has been handled; `answer` is the session lookup's answer when
    /// a held ClientHello is taken up again.
    Hello { answer: Option<Lookup> },
    /// The ClientHello (kept whole) waits for the caller: a config to be chosen, or a session
    /// lookup to be answered.
    Held { hello: Vec<u8>, for_config: bool },
    /// A full handshake, from its ClientHello to the client's key exchange.
    Full(FullPhase),
    /// The master secret is known: a resumption from its ClientHello on, a full handshake
    /// from the ClientKeyExchange on.
    Keyed(Keyed),
}

/// A full handshake before the master secret (RFC 5246 §7.3 figure 1, RFC 8422 §2).
struct FullPhase {
    suite: &'static CipherSuite,
    group: NamedGroup,
    scheme: SignatureScheme,
    cert: Arc<CertifiedKey>,
    kx: KeyExchange,
    /// client_random + server_random + ECDHE params: what ServerKeyExchange signs.
    signed_params: Vec<u8>,
    signature: Signature,
    transcript: RunningHash,
}

/// Who signs the ServerKeyExchange, and whether the signature is there yet.
enum Signature {
    /// The engine signs when the message is written.
    Inline,
    /// To be handed to the caller when the message is due (offloaded signing).
    Offload,
    /// Handed to the caller (`Event::NeedSignature`); the handshake waits.
    Awaiting,
    /// The caller's signature, to be written.
    Made(Vec<u8>),
}

/// Server handshake state: what every phase shares, and the phase.
pub struct ServerHandshake {
    cx: Shared,
    phase: Phase,
}

/// What every phase of the server's handshake reads or settles.
struct Shared {
    config: Arc<ServerConfig>,
    /// The certificates for the client's server name (resolved for a full handshake).
    certs: Option<Arc<CertificateSet>>,
    flow: Flow,
    client_random: [u8; 32],
    server_random: [u8; 32],
    session_id: SmallVec<[u8; 32]>,
    echo_point_formats: bool,
    /// Stop at the ClientHello until the caller chooses the config.
    choosing_config: bool,
    /// What the held ClientHello asks for, while a config is chosen. Boxed, like
    /// `client_identity`: few connections fill it, and inline it would be in every one.
    hello_info: Option<Box<ClientHelloInfo>>,
    /// The session being resumed (its `created` and lifetime carry over into a renewed
    /// ticket); `None` for a full handshake's new session.
    resumed: Option<SessionRecord>,
    /// Ticket keys, when the shape issues a ticket.
    tickets: Option<Arc<TicketKeys>>,
    negotiated: Negotiated,
    /// The client's verified certificate chain (leaf first), once its Certificate arrived.
    client_chain: Option<Vec<Vec<u8>>>,
    /// Who the client's certificate says it is, from its verified chain in a full
    /// handshake (a resumption's is in `resumed`: [`Shared::client`]). Boxed: only a full
    /// handshake with a client certificate (which allocates its chain anyway) fills it, and
    /// inline it made every connection ~300 B larger.
    client_identity: Option<Box<ClientIdentity>>,
    /// Where the caller's approval of the client stands (`ClientAuth::with_approval`).
    approval: Approval,
}

/// The caller's approval of a verified client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Approval {
    /// Not asked (yet, or at all).
    NotAsked,
    /// `Event::NeedClientApproval` is out; the server sends nothing until the answer.
    Awaiting,
    /// Approved: the handshake goes on.
    Approved,
}

impl ServerHandshake {
    pub(crate) fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            cx: Shared {
                config,
                certs: None,
                flow: Flow::new(),
                client_random: [0; 32],
                server_random: [0; 32],
                session_id: SmallVec::new(),
                echo_point_formats: false,
                choosing_config: false,
                hello_info: None,
                resumed: None,
                tickets: None,
                negotiated: Negotiated::default(),
                client_chain: None,
                client_identity: None,
                approval: Approval::NotAsked,
            },
            phase: Phase::Hello { answer: None },
        }
    }

    /// A handshake that stops at the ClientHello until the caller chooses the config.
    pub(crate) fn choosing_config(placeholder: Arc<ServerConfig>) -> Self {
        let mut hs = Self::new(placeholder);
        hs.cx.choosing_config = true;
        hs
    }

    /// The client's verified certificate chain, leaf first.
    pub(crate) fn client_chain(&self) -> Option<&[Vec<u8>]> {
        self.cx.client_chain.as_deref()
    }

    /// The client's identity, from its certificate or its resumed session.
    pub(crate) fn client_identity(&self) -> Option<&ClientIdentity> {
        self.cx.client()
    }

    /// The ClientHello a config is being chosen for.
    pub(crate) fn hello_info(&self) -> Option<&ClientHelloInfo> {
        match self.phase {
            Phase::Held {
                for_config: true, ..
            } => self.cx.hello_info.as_deref(),
            _ => None,
        }
    }

    /// Continues a handshake stopped at its ClientHello with `config`.
    pub(crate) fn choose_config(
        &mut self,
        core: &mut Core,
        config: Arc<ServerConfig>,
    ) -> Result<(), Fatal> {
        let Phase::Held {
            for_config: true, ..
        } = self.phase
        else {
            return Err(Fatal::from(InternalFailure::OutOfOrder {
                what: "no ClientHello waits for a config",
            }));
        };
        self.cx.choosing_config = false;
        self.cx.config = config;
        self.resume_held(core, None)
    }

    /// Answers a suspended session lookup and resumes the handshake.
    fn answer_session(&mut self, core: &mut Core, answer: Lookup) -> Result<(), Fatal> {
        let Phase::Held {
            for_config: false, ..
        } = self.phase
        else {
            return Err(Fatal::from(InternalFailure::OutOfOrder {
                what: "no session lookup is pending",
            }));
        };
        self.resume_held(core, Some(answer))
    }

    /// Takes up the ClientHello kept while the handshake waited, as if it arrived now.
    fn resume_held(&mut self, core: &mut Core, answer: Option<Lookup>) -> Result<(), Fatal> {
        let Phase::Held { hello, .. } = std::mem::replace(&mut self.phase, Phase::Hello { answer })
        else {
            return Ok(());
        };
        // Kept whole after it parsed, so it has its header.
        let body = hello.get(HANDSHAKE_HEADER_LEN..).unwrap_or_default();
        let received = Received { body, raw: &hello };
        self.receive(core, Msg::ClientHello, received)
    }

    /// Writes every message the shape says the server sends now, then flushes the flight.
    fn send_my_steps(&mut self, core: &mut Core) -> Result<(), Fatal> {
        if self.cx.must_ask_approval() {
            self.cx.approval = Approval::Awaiting;
            let identity = Box::new(self.cx.client().cloned().ok_or_else(|| {
                Fatal::from(InternalFailure::OutOfOrder {
                    what: "approval without a client",
                })
            })?);
            core.push_event(Event::NeedClientApproval { identity });
            return Ok(());
        }
        while let Some(step) = self.cx.flow.next().filter(|s| s.from == Role::Server) {
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

    /// Every step of every shape on the server's side, received (`received` is the client's
    /// message) or sent (`None`): the phase that takes it, and the phase it leaves behind.
    /// The flow has already decided that `msg` is next; this is the one place a step meets
    /// the data it needs.
    ///
    /// Steps that keep their phase work on it where it is; only the two that change it (the
    /// ClientHello and the ClientKeyExchange) take it by value. A keyed phase holds the PRF's
    /// HMAC state (over a kilobyte), which a move out and back in would copy twice per step.
    fn step(
        &mut self,
        core: &mut Core,
        msg: Msg,
        received: Option<Received<'_>>,
    ) -> Result<(), Fatal> {
        let cx = &mut self.cx;
        match (msg, received, &mut self.phase) {
            (Msg::ServerHello, None, Phase::Full(full)) => {
                return cx.send_server_hello(core, full.suite, &mut full.transcript)
            }
            (Msg::ServerHello, None, Phase::Keyed(keyed)) => {
                return cx.send_server_hello(core, keyed.suite, &mut keyed.transcript)
            }
            (Msg::Certificate, None, Phase::Full(full)) => {
                let message = full.cert.certificate_message();
                core.flight().extend_from_slice(message);
                full.transcript.add(message);
                return Ok(());
            }
            (Msg::ServerKeyExchange, None, Phase::Full(full)) => {
                return full.send_server_key_exchange(core)
            }
            (Msg::CertificateRequest, None, Phase::Full(full)) => {
                return cx.send_certificate_request(core, &mut full.transcript)
            }
            (Msg::Certificate, Some(received), Phase::Full(full)) => {
                return cx.receive_client_certificate(core, received, &mut full.transcript)
            }
            (Msg::CertificateVerify, Some(received), Phase::Keyed(keyed)) => {
                return cx.receive_certificate_verify(received, keyed)
            }
            (Msg::ServerHelloDone, None, Phase::Full(full)) => {
                let start = core.flight().len();
                ServerHelloDone
                    .encode(core.flight())
                    .map_err(encode_failed)?;
                full.transcript.add(&core.flight()[start..]);
                return Ok(());
            }
            (Msg::NewSessionTicket, None, Phase::Keyed(keyed)) => {
                return cx.send_new_session_ticket(core, keyed)
            }
            (Msg::ChangeCipherSpec, received, Phase::Keyed(keyed)) => {
                return keyed.change_cipher_spec(core, received)
            }
            (Msg::Finished, received, Phase::Keyed(keyed)) => {
                return keyed.finished(core, Role::Server, received)
            }
            (Msg::ClientHello, Some(hello), Phase::Hello { answer }) => {
                // Built straight into place: a keyed phase is over a kilobyte.
                let answer = answer.take();
                return cx.receive_client_hello(core, hello, answer, &mut self.phase);
            }
            _ => {}
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Hello { answer: None });
        self.phase = match (msg, received, phase) {
            (Msg::ClientKeyExchange, Some(cke), Phase::Full(full)) => {
                Phase::Keyed(cx.receive_client_key_exchange(core, cke, full)?)
            }
            (msg, _, phase) => {
                self.phase = phase;
                return Err(out_of_step(msg));
            }
        };
        Ok(())
    }

    /// True while the handshake waits for the caller: a config, a session, a signature.
    fn is_waiting(&self) -> bool {
        self.cx.approval == Approval::Awaiting
            || matches!(
                self.phase,
                Phase::Held { .. }
                    | Phase::Full(FullPhase {
                        signature: Signature::Awaiting,
                        ..
                    })
            )
    }

    /// Answers an [`Event::NeedClientApproval`]: the handshake goes on, or ends with
    /// access_denied (RFC 5246 §7.2.2).
    fn answer_approval(&mut self, core: &mut Core, approved: bool) -> Result<(), Fatal> {
        if self.cx.approval != Approval::Awaiting {
            return Err(Fatal::from(InternalFailure::OutOfOrder {
                what: "no client approval is pending",
            }));
        }
        if !approved {
            if let Some(m) = &self.cx.config.metrics {
                m.client_certificate("refused");
            }
            return Err(Fatal(Cause::InvalidClientCertificate(
                CertificateError::NotApproved,
            )));
        }
        self.cx.approval = Approval::Approved;
        self.send_my_steps(core)
    }

    /// Answers a [`Event::NeedSignature`] and continues the handshake (RFC 8422 §5.4: the
    /// signature covers both randoms and the ECDHE parameters).
    fn answer_signature(
        &mut self,
        core: &mut Core,
        signature: Option<Vec<u8>>,
    ) -> Result<(), Fatal> {
        let Phase::Full(FullPhase {
            signature: pending @ Signature::Awaiting,
            ..
        }) = &mut self.phase
        else {
            return Err(Fatal::from(InternalFailure::OutOfOrder {
                what: "no signature is pending",
            }));
        };
        let signature = signature.ok_or_else(|| Fatal::from(InternalFailure::Signing))?;
        *pending = Signature::Made(signature);
        self.send_my_steps(core)
    }

    fn finish_if_complete(&mut self, core: &mut Core) {
        if !self.cx.flow.is_complete() || !core.is_handshaking() {
            return;
        }
        // A full handshake's session goes into the store under its new ID.
        if let (Phase::Keyed(keyed), Some(store)) = (&self.phase, &self.cx.config.session_store) {
            if self.cx.resumed.is_none() && !self.cx.session_id.is_empty() {
                let record =
                    self.cx
                        .session_record(keyed, core.now, self.cx.config.session_timeout);
                store.put(&self.cx.session_id, &record, core.now);
            }
        }
        core.handshake_complete(Event::HandshakeDone {
            resumed: self.cx.negotiated.resumed,
        });
    }
}

impl FullPhase {
    /// ECDHE parameters signed over both randoms (RFC 8422 §5.4). When signing is offloaded,
    /// the signature is handed to the caller and the phase waits (`Signature::Awaiting`)
    /// until `ServerHandshake::provide_signature`.
    fn send_server_key_exchange(&mut self, core: &mut Core) -> Result<(), Fatal> {
        let signature = match std::mem::replace(&mut self.signature, Signature::Inline) {
            Signature::Made(signature) => signature,
            Signature::Offload | Signature::Awaiting => {
                // Send what we have so far (ServerHello, Certificate) while the signer works.
                core.flush_flight()?;
                core.push_event(Event::NeedSignature {
                    auth: self.suite.auth,
                    key: self.cert.clone(),
                    scheme: self.scheme,
                    message: self.signed_params.clone(),
                });
                self.signature = Signature::Awaiting;
                return Ok(());
            }
            Signature::Inline => {
                let mut signature = Vec::with_capacity(512);
                self.cert
                    .key()
                    .sign(self.scheme, &self.signed_params, &mut signature)
                    .map_err(|_| Fatal::from(InternalFailure::Signing))?;
                signature
            }
        };
        let start = core.flight().len();
        ServerKeyExchange {
            params: ServerEcdhParams {
                named_group: self.group.id(),
                public: self.kx.public(),
            },
            // After the two 32-byte randoms: the ServerECDHParams as encoded.
            params_raw: &self.signed_params[64..],
            signature: DigitallySigned {
                scheme: self.scheme.0,
                signature: &signature,
            },
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        self.transcript.add(&core.flight()[start..]);
        Ok(())
    }
}

impl Shared {
    /// RFC 5246 §7.4.1.2-7.4.1.4, RFC 8422 §5.1, RFC 5746 §3.6, RFC 7301 §3.2, RFC 5077 §3:
    /// the phase the ClientHello leads to (held, full, or resumed and keyed), written into
    /// `phase` (a keyed phase is over a kilobyte: built in place rather than passed up).
    fn receive_client_hello(
        &mut self,
        core: &mut Core,
        received: Received<'_>,
        answer: Option<Lookup>,
        phase: &mut Phase,
    ) -> Result<(), Fatal> {
        let hello = ClientHello::parse(received.body)?;
        if self.choosing_config {
            // The caller picks the config by what the client asks for, then we go on.
            self.hello_info = Some(Box::new(ClientHelloInfo::of(&hello)));
            core.push_event(Event::ClientHelloReceived);
            *phase = Phase::Held {
                hello: received.raw.to_vec(),
                for_config: true,
            };
            return Ok(());
        }
        self.negotiate_basics(&hello)?;
        self.client_random = *hello.random;
        match self.decide_resumption(core, &hello, answer)? {
            Decision::Suspend => {
                core.push_event(Event::NeedSession {
                    id: SmallVec::from_slice(hello.session_id),
                });
                *phase = Phase::Held {
                    hello: received.raw.to_vec(),
                    for_config: false,
                };
                return Ok(());
            }
            Decision::Resume(resumption) => {
                self.start_resumption(core, &hello, received, resumption, phase)?
            }
            Decision::Full => {
                *phase = Phase::Full(self.start_full_handshake(&hello, received.raw)?)
            }
        }
        self.echo_point_formats = hello.extensions.ec_point_formats.is_some();
        core.lock_version();
        Ok(())
    }

    /// An abbreviated handshake (RFC 5246 §7.3 figure 2, RFC 5077 §3.1 figure 2) of the
    /// session in `self.resumed`: the shape, the server random, and the session's keys.
    fn start_resumption(
        &mut self,
        core: &mut Core,
        hello: &ClientHello<'_>,
        received: Received<'_>,
        resumption: Resumption,
        phase: &mut Phase,
    ) -> Result<(), Fatal> {
        let Resumption {
            suite,
            kind,
            renew_ticket,
        } = resumption;
        let shape = match (kind, renew_ticket) {
            (ResumptionKind::SessionId, _) => Shape::ResumeSessionId,
            (ResumptionKind::Ticket, false) => Shape::ResumeTicket,
            (ResumptionKind::Ticket, true) => Shape::ResumeTicketRenewed,
        };
        let Some(record) = &self.resumed else {
            return Err(out_of_step(Msg::ClientHello));
        };
        let master_secret = record.master_secret.clone();
        self.negotiated.suite = Some(suite);
        self.negotiated.extended_master_secret = record.extended_master_secret;
        self.negotiated.resumed = Some(kind);
        // RFC 5077 §3.4: when accepting a ticket, echo the client's session ID.
        self.session_id = SmallVec::from_slice(hello.session_id);
        self.flow.choose(shape);
        let mut server_random = [0u8; 32];
        self.random(&mut server_random)?;
        self.server_random = server_random;
        self.tickets = renew_ticket.then(|| self.config.tickets.clone()).flatten();
        let mut transcript = RunningHash::new(suite.hash);
        transcript.add(received.raw);
        *phase = Phase::Keyed(Keyed::start(
            core,
            Role::Server,
            suite,
            master_secret,
            transcript,
            self.randoms(),
            self.config.key_log.as_ref(),
        )?);
        Ok(())
    }

    /// A full handshake's choices: group, suite, signature scheme, certificate; then the new
    /// session ID, the server random and the ephemeral key, in that order (a seeded random
    /// source reproduces the handshake byte for byte).
    fn start_full_handshake(
        &mut self,
        hello: &ClientHello<'_>,
        raw: &[u8],
    ) -> Result<FullPhase, Fatal> {
        // The certificates the client's name is served with (RFC 6066 §3), chosen once and
        // only here: a resumption sends none, so it neither asks the resolver nor takes a
        // reference to a certificate set (a count every thread would write).
        self.certs = self
            .config
            .resolve_certificates(self.negotiated.server_name.as_deref());
        let group = self
            .choose_group(hello)
            .ok_or_else(|| Fatal::from(Incompatibility::NoCommonGroup))?;
        let (suite, scheme, cert) = self
            .choose_suite(hello)
            .ok_or_else(|| Fatal::from(Incompatibility::NoCommonSuite))?;
        if self.config.require_extended_master_secret && !self.negotiated.extended_master_secret {
            return Err(Fatal::from(Incompatibility::NoExtendedMasterSecret));
        }
        self.negotiated.suite = Some(suite);
        self.negotiated.group = Some(group);
        let asks = self.config.client_auth.is_some();
        if self.config.session_store.is_some() {
            let mut id = [0u8; 32];
            match &self.config.session_id_key {
                Some(key) => {
                    let mut random = [0u8; 16];
                    self.random(&mut random)?;
                    id = key.make_id(&random);
                }
                None => self.random(&mut id)?,
            }
            self.session_id = SmallVec::from_slice(&id);
        }
        self.tickets = self
            .config
            .tickets
            .clone()
            .filter(|_| hello.extensions.session_ticket.is_some());
        self.flow.choose(match (asks, self.tickets.is_some()) {
            (true, false) => Shape::Mutual,
            (true, true) => Shape::MutualWithTicket,
            (false, false) => Shape::Full,
            (false, true) => Shape::FullWithTicket,
        });
        let mut server_random = [0u8; 32];
        self.random(&mut server_random)?;
        self.server_random = server_random;
        let kx = KeyExchange::generate(group, self.config.rng.as_ref())
            .map_err(|_| Fatal::from(InternalFailure::KeyGeneration))?;
        let mut signed_params = Vec::with_capacity(64 + 4 + kx.public().len());
        signed_params.extend_from_slice(&self.client_random);
        signed_params.extend_from_slice(&server_random);
        crate::codec::encode_ecdh_params(group.id(), kx.public(), &mut signed_params)
            .map_err(encode_failed)?;
        let mut transcript = RunningHash::new(suite.hash);
        if asks {
            transcript.keep_messages();
        }
        transcript.add(raw);
        Ok(FullPhase {
            suite,
            group,
            scheme,
            cert,
            kx,
            signed_params,
            signature: if self.config.offload_signing {
                Signature::Offload
            } else {
                Signature::Inline
            },
            transcript,
        })
    }

    /// RFC 8422 §5.7, RFC 5246 §8.1, RFC 7627 §4: the client's key share completes the
    /// exchange and yields the master secret.
    fn receive_client_key_exchange(
        &mut self,
        core: &mut Core,
        received: Received<'_>,
        full: FullPhase,
    ) -> Result<Keyed, Fatal> {
        let cke = ClientKeyExchange::parse(received.body)?;
        let FullPhase {
            suite,
            kx,
            mut transcript,
            ..
        } = full;
        let pre_master = kx
            .complete(cke.public)
            .map_err(|_| Fatal::from(Misbehavior::BadKeyShare))?;
        transcript.add(received.raw);
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
            Role::Server,
            suite,
            master_secret,
            transcript,
            self.randoms(),
            self.config.key_log.as_ref(),
        )
    }

    /// RFC 5246 §7.4.4: the certificate types and signature schemes the server verifies, and
    /// (unless turned off) the names of the roots it trusts.
    fn send_certificate_request(
        &self,
        core: &mut Core,
        transcript: &mut RunningHash,
    ) -> Result<(), Fatal> {
        let auth = self
            .config
            .client_auth
            .as_ref()
            .ok_or_else(|| out_of_step(Msg::CertificateRequest))?;
        let schemes = VERIFY_SCHEMES.map(|scheme| scheme.0);
        let start = core.flight().len();
        CertificateRequest {
            certificate_types: &CERTIFICATE_TYPES,
            signature_algorithms: U16List::from_values(&schemes),
            certificate_authorities: auth.authorities(),
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        transcript.add(&core.flight()[start..]);
        Ok(())
    }

    /// RFC 5246 §7.4.6: the client's chain, verified now (path to a trusted root, validity at
    /// the injected time, client-authentication usage, revocation lists). An empty one is
    /// accepted only when certificates are optional; the CertificateVerify step is then
    /// dropped from the flow.
    fn receive_client_certificate(
        &mut self,
        core: &mut Core,
        received: Received<'_>,
        transcript: &mut RunningHash,
    ) -> Result<(), Fatal> {
        let auth = self
            .config
            .client_auth
            .clone()
            .ok_or_else(|| out_of_step(Msg::Certificate))?;
        let certificate = Certificate::parse(received.body)?;
        let count = |result| {
            if let Some(m) = &self.config.metrics {
                m.client_certificate(result);
            }
        };
        if certificate.count() == 0 {
            if auth.is_required() {
                count("missing");
                return Err(Incompatibility::ClientCertificateRequired.into());
            }
            let fewer = self.flow.shape().without_client_certificate();
            if !self.flow.revise(fewer) {
                return Err(out_of_step(Msg::Certificate));
            }
            count("absent");
        } else {
            let chain: Vec<&[u8]> = certificate.iter().collect();
            let identity = auth.verify(&chain, core.now).map_err(|e| {
                count(match e {
                    CertificateError::UnknownIssuer => "unknown_ca",
                    CertificateError::Expired => "expired",
                    CertificateError::Revoked => "revoked",
                    CertificateError::WrongUsage => "wrong_usage",
                    _ => "invalid",
                });
                Fatal(Cause::InvalidClientCertificate(e))
            })?;
            self.client_chain = Some(chain.iter().map(|c| c.to_vec()).collect());
            self.client_identity = Some(Box::new(identity));
        }
        transcript.add(received.raw);
        Ok(())
    }

    /// RFC 5246 §7.4.8: the client's signature over every handshake message before this one,
    /// under a scheme the CertificateRequest offered, by the key of the certificate it sent.
    fn receive_certificate_verify(
        &mut self,
        received: Received<'_>,
        keyed: &mut Keyed,
    ) -> Result<(), Fatal> {
        let leaf = self
            .client_chain
            .as_ref()
            .and_then(|chain| chain.first())
            .ok_or_else(|| out_of_step(Msg::CertificateVerify))?;
        let verify = CertificateVerify::parse(received.body)?;
        let scheme = SignatureScheme(verify.signed.scheme);
        if !VERIFY_SCHEMES.contains(&scheme) {
            return Err(Misbehavior::CertificateVerifyWithUnofferedScheme.into());
        }
        let verified = crate::crypto::verify::verify_signature(
            leaf,
            scheme,
            keyed.transcript.messages(),
            verify.signed.signature,
        );
        if let Some(m) = &self.config.metrics {
            m.client_certificate(if verified.is_ok() {
                "verified"
            } else {
                "bad_signature"
            });
        }
        verified.map_err(|alert| Misbehavior::BadCertificateVerify { alert })?;
        keyed.transcript.forget();
        keyed.transcript.add(received.raw);
        Ok(())
    }

    /// The client's identity: the one its certificate gave in this handshake, or the resumed
    /// session's.
    fn client(&self) -> Option<&ClientIdentity> {
        self.client_identity
            .as_deref()
            .or_else(|| self.resumed.as_ref()?.client.as_ref())
    }

    /// Whether the server's next flight waits for the caller's approval of the client: it
    /// is the server's turn, the client has an identity, and the config asks.
    fn must_ask_approval(&self) -> bool {
        self.approval == Approval::NotAsked
            && self.client().is_some()
            && self.flow.next().is_some_and(|s| s.from == Role::Server)
            && self
                .config
                .client_auth
                .as_ref()
                .is_some_and(|auth| auth.asks_for_approval())
    }

    fn randoms(&self) -> Randoms<'_> {
        Randoms {
            client: &self.client_random,
            server: &self.server_random,
        }
    }

    /// The session this connection makes (full) or resumes, with `lifetime`.
    fn session_record(&self, keyed: &Keyed, now: u64, lifetime: u32) -> SessionRecord {
        if let Some(old) = &self.resumed {
            return old.clone();
        }
        // Both fit a record: names are at most MAX_HOST_NAME_LEN, ALPN names at most
        // MAX_PROTOCOL_NAME_LEN bytes (RFC 7301 §3.1).
        let name = self.negotiated.server_name.as_deref().unwrap_or("");
        let alpn = self.negotiated.alpn.as_deref().unwrap_or(&[]);
        SessionRecord {
            suite_id: keyed.suite.id,
            extended_master_secret: self.negotiated.extended_master_secret,
            master_secret: keyed.master_secret.clone(),
            created: now,
            lifetime,
            server_name: SmallVec::from_slice(name.as_bytes()),
            alpn: SmallVec::from_slice(alpn),
            client: self.client_identity.as_deref().cloned(),
        }
    }

    /// RFC 5077 §3.3: the ticket carries the session sealed under the current ticket key. A
    /// session that cannot be sealed gets the empty ticket §3.3 allows instead.
    fn send_new_session_ticket(&self, core: &mut Core, keyed: &mut Keyed) -> Result<(), Fatal> {
        let record = self.session_record(keyed, core.now, self.config.ticket_lifetime);
        let mut ticket = Vec::new();
        if let Some(keys) = &self.tickets {
            let mut plain = [0u8; MAX_TICKET_PLAINTEXT];
            if let Ok(len) = record.encode_into(&mut plain[..]) {
                ticket.reserve(len + TICKET_OVERHEAD);
                let sealed = keys.snapshot().seal(
                    &plain[..len],
                    core.now,
                    self.config.rng.as_ref(),
                    &mut ticket,
                );
                // Only the encoded record was written; the rest is still zero.
                plain[..len].zeroize();
                sealed.map_err(|_| Fatal::from(InternalFailure::TicketSealing))?;
            }
        }
        let remaining = record
            .expires_at()
            .saturating_sub(core.now)
            .min(u64::from(u32::MAX)) as u32;
        let start = core.flight().len();
        NewSessionTicket {
            lifetime_hint: if ticket.is_empty() { 0 } else { remaining },
            ticket: &ticket,
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        keyed.transcript.add(&core.flight()[start..]);
        Ok(())
    }

    fn random(&self, dest: &mut [u8]) -> Result<(), Fatal> {
        self.config
            .rng
            .fill(dest)
            .map_err(|_| Fatal::from(InternalFailure::Randomness))
    }

    fn send_server_hello(
        &self,
        core: &mut Core,
        suite: &'static CipherSuite,
        transcript: &mut RunningHash,
    ) -> Result<(), Fatal> {
        // RFC 5077 §3.2: acknowledge the SessionTicket extension when a ticket will follow.
        let ticket_ack = self.flow.shape().issues_ticket();
        let start = core.flight().len();
        ServerHello {
            server_version: ProtocolVersion::TLS12,
            random: &self.server_random,
            session_id: &self.session_id,
            cipher_suite: suite.id,
            compression_method: 0,
            extensions: ServerExtensions {
                server_name_ack: false,
                ec_point_formats: self.echo_point_formats.then_some(&[0u8][..]),
                alpn: self.negotiated.alpn.as_deref(),
                extended_master_secret: self.negotiated.extended_master_secret,
                session_ticket_ack: ticket_ack,
                renegotiation_info: self.negotiated.secure_renegotiation.then_some(&[][..]),
            },
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        transcript.add(&core.flight()[start..]);
        Ok(())
    }

    /// Version, compression, renegotiation signalling, point formats, SNI, ALPN and EMS.
    fn negotiate_basics(&mut self, hello: &ClientHello<'_>) -> Result<(), Fatal> {
        if hello.client_version < ProtocolVersion::TLS12 {
            return Err(Fatal::from(Incompatibility::NoTls12));
        }
        if !hello.compression_methods.contains(&0) {
            return Err(Fatal::from(Misbehavior::NoNullCompression));
        }
        let ext = &hello.extensions;
        // RFC 5746 §3.6: an initial handshake must carry an empty renegotiation_info (or the SCSV).
        match ext.renegotiation_info {
            Some(inner) if !inner.is_empty() => {
                return Err(Fatal::from(Misbehavior::RenegotiationInfoNotEmpty))
            }
            Some(_) => self.negotiated.secure_renegotiation = true,
            None => {
                self.negotiated.secure_renegotiation =
                    hello.cipher_suites.contains(EMPTY_RENEGOTIATION_INFO_SCSV)
            }
        }
        // RFC 8422 §5.1.2: if the client lists point formats, uncompressed must be among them.
        if let Some(formats) = ext.ec_point_formats {
            if !formats.contains(&0) {
                return Err(Fatal::from(Misbehavior::NoUncompressedPoints));
            }
        }
        if let Some(name) = ext.server_name {
            // RFC 6066 §3: an ASCII DNS host name (letters, digits, hyphens, dots), no
            // trailing dot.
            let valid = name
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
                && !name.ends_with(b".")
                && name.len() <= MAX_HOST_NAME_LEN;
            let name = core::str::from_utf8(name)
                .ok()
                .filter(|_| valid)
                .ok_or_else(|| Fatal::from(Misbehavior::BadServerName))?;
            self.negotiated.server_name = Some(crate::handshake::HostName::lowercase(name));
        }
        let name = self.negotiated.server_name.as_deref();
        if self.config.strict_sni && name.is_some_and(|n| !self.config.serves_name(n)) {
            return Err(Fatal::from(Incompatibility::UnknownServerName));
        }
        if let Some(offered) = &ext.alpn {
            if !self.config.alpn_protocols.is_empty() {
                let chosen = self
                    .config
                    .alpn_protocols
                    .iter()
                    .position(|ours| offered.iter().any(|theirs| theirs == ours.as_slice()))
                    .ok_or_else(|| Fatal::from(Incompatibility::NoCommonAlpn))?;
                self.negotiated.alpn =
                    Some(SmallVec::from_slice(&self.config.alpn_protocols[chosen]));
            }
        }
        self.negotiated.extended_master_secret =
            self.config.extended_master_secret && ext.extended_master_secret;
        Ok(())
    }

    /// RFC 5077 §3.4 and RFC 5246 §7.4.1.2: try the ticket first, then the session ID.
    fn decide_resumption(
        &mut self,
        core: &mut Core,
        hello: &ClientHello<'_>,
        answer: Option<Lookup>,
    ) -> Result<Decision, Fatal> {
        let now = core.now;
        let mut offered_ticket = false;
        if let (Some(keys), Some(ticket)) = (&self.config.tickets, hello.extensions.session_ticket)
        {
            // Rotation follows the injected clock; it takes the write lock only when due.
            let ring = keys.ring_at(now, self.config.rng.as_ref());
            if !ticket.is_empty() {
                offered_ticket = true;
                let opened = Self::open_ticket(&ring, ticket, now);
                match opened.and_then(|(record, renew)| {
                    Ok((self.check_resumable(hello, &record, now)??, record, renew))
                }) {
                    Ok((suite, record, renew)) => {
                        let renew_ticket = renew
                            || record.expires_at()
                                < now.saturating_add(u64::from(self.config.ticket_lifetime) / 2);
                        self.resumed = Some(record);
                        return Ok(Decision::Resume(Resumption {
                            suite,
                            kind: ResumptionKind::Ticket,
                            renew_ticket,
                        }));
                    }
                    Err(Resumable::No(reason)) => {
                        core.push_event(Event::ResumptionFailed { reason })
                    }
                    Err(Resumable::Abort(f)) => return Err(f),
                }
            }
        }
        let Some(store) = &self.config.session_store else {
            return Ok(Decision::Full);
        };
        if hello.session_id.is_empty() {
            return Ok(Decision::Full);
        }
        // An ID we never issued (e.g. a TLS 1.3 client's random legacy ID) needs no lookup.
        if let Some(key) = &self.config.session_id_key {
            if !key.is_ours(hello.session_id) {
                return Ok(Decision::Full);
            }
        }
        let lookup = match answer {
            Some(answer) => answer,
            None => store.get(hello.session_id, now),
        };
        let failure = match lookup {
            Lookup::Found(record) => match self.check_resumable(hello, &record, now) {
                Ok(Ok(suite)) => {
                    self.resumed = Some(record);
                    return Ok(Decision::Resume(Resumption {
                        suite,
                        kind: ResumptionKind::SessionId,
                        renew_ticket: false,
                    }));
                }
                Ok(Err(reason)) => reason,
                Err(f) => return Err(f),
            },
            Lookup::Pending => return Ok(Decision::Suspend),
            Lookup::Missing => ResumptionFailure::UnknownSession,
            Lookup::Unavailable => ResumptionFailure::StoreUnavailable,
        };
        // With a ticket, the session ID is the client's random marker (RFC 5077 §3.4), so a
        // miss is not a failure of its own.
        if !offered_ticket || failure == ResumptionFailure::StoreUnavailable {
            core.push_event(Event::ResumptionFailed { reason: failure });
        }
        Ok(Decision::Full)
    }

    fn open_ticket(
        ring: &TicketKeyRing,
        ticket: &[u8],
        now: u64,
    ) -> Result<(SessionRecord, bool), Resumable> {
        let mut plain = [0u8; MAX_TICKET_PLAINTEXT];
        let opened = ring.open(ticket, now, &mut plain).map_err(|e| {
            Resumable::No(match e {
                TicketError::UnknownKeyName => ResumptionFailure::UnknownTicketKey,
                TicketError::KeyExpired => ResumptionFailure::Expired,
                _ => ResumptionFailure::BadTicket,
            })
        });
        let result = opened.and_then(|o| {
            let record = plain
                .get(..o.len)
                .and_then(|p| SessionRecord::decode(p).ok())
                .ok_or(Resumable::No(ResumptionFailure::BadTicket))?;
            Ok((record, o.renew))
        });
        // Opening writes at most the ticket's ciphertext length into `plain`.
        let written = ticket
            .len()
            .saturating_sub(TICKET_OVERHEAD)
            .min(plain.len());
        plain[..written].zeroize();
        result
    }

    /// Whether `record` may be resumed by this hello: `Ok(Ok(suite))` yes, `Ok(Err(reason))`
    /// no (full handshake), `Err` abort (RFC 7627 §5.3).
    fn check_resumable(
        &self,
        hello: &ClientHello<'_>,
        record: &SessionRecord,
        now: u64,
    ) -> Result<Result<&'static CipherSuite, ResumptionFailure>, Fatal> {
        let hello_ems = self.negotiated.extended_master_secret;
        // RFC 7627 §5.3: an EMS session resumed without EMS must be aborted; a non-EMS session
        // offered with EMS must not be resumed (full handshake instead).
        if record.extended_master_secret && !hello_ems {
            return Err(Fatal::from(Misbehavior::EmsResumptionWithoutExtension));
        }
        if !record.is_valid_at(now) {
            return Ok(Err(ResumptionFailure::Expired));
        }
        if !record.extended_master_secret && hello_ems {
            return Ok(Err(ResumptionFailure::EmsMismatch));
        }
        // RFC 5246 §7.4.1.2: a client resuming a session MUST offer the session's suite;
        // one that does not is refused (as OpenSSL does), not silently given a full
        // handshake. A suite this server no longer allows only means a full handshake.
        if !hello.cipher_suites.contains(record.suite_id) {
            return Err(Fatal::from(Misbehavior::ResumptionWithoutItsSuite));
        }
        let suite = match suite_by_id(record.suite_id) {
            Some(s) if self.config.suites.contains(&s) => s,
            _ => return Ok(Err(ResumptionFailure::SuiteMismatch)),
        };
        let name = self
            .negotiated
            .server_name
            .as_deref()
            .unwrap_or("")
            .as_bytes();
        if record.server_name.as_slice() != name {
            return Ok(Err(ResumptionFailure::SniMismatch));
        }
        // The session's client, checked again under today's trust (a resumption does not
        // see its certificate). A session from a server that did not ask keeps resuming
        // where certificates are optional.
        if let Some(auth) = &self.config.client_auth {
            match &record.client {
                Some(identity) => {
                    if let Err(reason) = auth.still_trusts(identity, now) {
                        return Ok(Err(reason));
                    }
                }
                None if auth.is_required() => {
                    return Ok(Err(ResumptionFailure::ClientCertificateRequired))
                }
                None => {}
            }
        }
        Ok(Ok(suite))
    }

    /// The client's most preferred group that we support (all of ours are strong, so the
    /// client's order decides, as most servers do).
    fn choose_group(&self, hello: &ClientHello<'_>) -> Option<NamedGroup> {
        match &hello.extensions.supported_groups {
            Some(offered) => offered
                .iter()
                .filter_map(NamedGroup::from_id)
                .find(|g| self.config.groups.contains(g)),
            // RFC 8422 §4: a client without the extension is taken to support P-256.
            None => self
                .config
                .groups
                .iter()
                .copied()
                .find(|g| *g == NamedGroup::Secp256r1),
        }
    }

    /// The first suite in our order that the client offers, we hold a certificate for, and
    /// whose key can sign with a scheme the client accepts (RFC 5246 §7.4.1.4.1).
    fn choose_suite(
        &self,
        hello: &ClientHello<'_>,
    ) -> Option<(&'static CipherSuite, SignatureScheme, Arc<CertifiedKey>)> {
        let offered_schemes = hello.extensions.signature_algorithms.as_ref();
        self.config.suites.iter().copied().find_map(|suite| {
            if !hello.cipher_suites.contains(suite.id) {
                return None;
            }
            let cert = self.certs.as_ref()?.for_auth(suite.auth)?;
            // RFC 8422 §5.1: an ECDSA certificate must be on a curve the client listed.
            if let (Some(curve), Some(offered)) =
                (cert.key().ecdsa_group(), &hello.extensions.supported_groups)
            {
                if !offered.contains(curve.id()) {
                    return None;
                }
            }
            // Without signature_algorithms the client only takes SHA-1, which we never sign.
            let scheme = cert
                .key()
                .choose_scheme(|s| offered_schemes.is_some_and(|o| o.contains(s.0)))?;
            Some((suite, scheme, cert.clone()))
        })
    }
}

/// A resumption check that either declines (full handshake) or aborts.
enum Resumable {
    No(ResumptionFailure),
    Abort(Fatal),
}

impl From<Fatal> for Resumable {
    fn from(f: Fatal) -> Self {
        Resumable::Abort(f)
    }
}

impl From<ResumptionFailure> for Resumable {
    fn from(r: ResumptionFailure) -> Self {
        Resumable::No(r)
    }
}

impl Machine for ServerHandshake {
    const ROLE: Role = Role::Server;

    fn answer_blocking(conn: &mut crate::ServerConnection, event: &Event) -> Result<(), Error> {
        match event {
            Event::NeedSession { id } => {
                let Some(store) = conn.hs.cx.config.session_store.clone() else {
                    return conn.provide_session(Lookup::Missing);
                };
                let (tx, rx) = std::sync::mpsc::channel();
                store.fetch(
                    id,
                    conn.core.now,
                    Box::new(move |answer| {
                        let _ = tx.send(answer);
                    }),
                );
                // A store that drops the callback without calling it answers "unavailable".
                conn.provide_session(rx.recv().unwrap_or(Lookup::Unavailable))
            }
            Event::NeedSignature {
                key,
                scheme,
                message,
                ..
            } => {
                let mut signature = Vec::with_capacity(512);
                let signed = key.key().sign(*scheme, message, &mut signature).is_ok();
                conn.provide_signature(signed.then_some(signature))
            }
            // Nobody to ask: a blocking adapter refuses (ClientAuth::with_approval says so).
            Event::NeedClientApproval { .. } => conn.approve_client(false),
            _ => Ok(()),
        }
    }

    fn negotiated(&self) -> &Negotiated {
        &self.cx.negotiated
    }

    fn provide_session(&mut self, core: &mut Core, answer: Lookup) -> Result<(), Fatal> {
        self.answer_session(core, answer)
    }

    fn provide_signature(
        &mut self,
        core: &mut Core,
        signature: Option<Vec<u8>>,
    ) -> Result<(), Fatal> {
        self.answer_signature(core, signature)
    }

    fn provide_approval(&mut self, core: &mut Core, approved: bool) -> Result<(), Fatal> {
        self.answer_approval(core, approved)
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

    /// The client's message, let through by the flow: take its step, then send whatever
    /// the shape says comes from us next.
    fn receive(&mut self, core: &mut Core, msg: Msg, received: Received<'_>) -> Result<(), Fatal> {
        self.step(core, msg, Some(received))?;
        if self.is_waiting() {
            return Ok(());
        }
        self.cx.flow.advance();
        self.send_my_steps(core)
    }
}
