//! The server's side of the handshake (RFC 5246 §7.3-7.4, RFC 8422, RFC 7627, RFC 5746,
//! RFC 7301) with resumption by session ID and by ticket (RFC 5077).
//!
//! Received messages are handled one by one; what the server sends next is read off the
//! chosen [`Shape`] by `ServerHandshake::send_my_steps`, so each shape's flights come from
//! the same table the receiving side checks against.

use std::sync::Arc;

use smallvec::SmallVec;
use zeroize::Zeroize;

use crate::codec::{
    AlertDescription, ClientHello, ClientKeyExchange, DigitallySigned, NewSessionTicket,
    ServerEcdhParams, ServerExtensions, ServerHello, ServerHelloDone, ServerKeyExchange,
};
use crate::config::ServerConfig;
use crate::conn::{Core, Handshake};
use crate::crypto::kx::{KeyExchange, NamedGroup};
use crate::crypto::prf::{MasterSecret, PrfKey};
use crate::crypto::sign::SignatureScheme;
use crate::crypto::suites::{suite_by_id, CipherSuite, EMPTY_RENEGOTIATION_INFO_SCSV};
use crate::error::{encode_failed, fatal, Error, Event, Fatal, ResumptionFailure, ResumptionKind};
use crate::handshake::finished;
use crate::handshake::flow::{Flow, Msg, Sender, Shape};
use crate::handshake::keys::{install_keys, master_secret, Role};
use crate::handshake::transcript::Transcript;
use crate::handshake::{ClientHelloInfo, Negotiated};
use crate::session::record::SessionRecord;
use crate::session::store::Lookup;
use crate::session::ticket::{TicketError, MAX_TICKET_PLAINTEXT};

/// What to do with a ClientHello's resumption offer.
enum Decision {
    Full,
    Resume {
        record: SessionRecord,
        suite: &'static CipherSuite,
        kind: ResumptionKind,
        renew_ticket: bool,
    },
    Suspend,
}

/// Server handshake state.
pub struct ServerHandshake {
    config: Arc<ServerConfig>,
    /// The certificates for the client's server name (resolved at the ClientHello).
    certs: Option<Arc<crate::resolve::CertificateSet>>,
    flow: Flow,
    transcript: Transcript,
    client_random: [u8; 32],
    server_random: [u8; 32],
    session_id: SmallVec<[u8; 32]>,
    /// The full handshake's choices, used when its first flight is written.
    scheme: Option<SignatureScheme>,
    echo_point_formats: bool,
    kx: Option<KeyExchange>,
    master_secret: Option<MasterSecret>,
    /// The PRF keyed with the master secret, for the key block and both Finished messages.
    prf_key: Option<PrfKey>,
    /// The session being resumed (its `created` and lifetime carry over into a renewed ticket).
    resumed_record: Option<SessionRecord>,
    keys_installed: bool,
    /// The raw ClientHello kept while a session lookup is pending.
    suspended_hello: Option<Vec<u8>>,
    /// client_random + server_random + ECDHE params: what ServerKeyExchange signs.
    signed_params: Vec<u8>,
    /// A signature made outside the engine (offloaded signing).
    signature: Option<Vec<u8>>,
    awaiting_signature: bool,
    /// Set while the ClientHello waits for the caller to choose the config
    /// ([`ServerConnection::choosing_config`](crate::ServerConnection::choosing_config)).
    pub(crate) hello_info: Option<ClientHelloInfo>,
    choosing_config: bool,
    pub(crate) negotiated: Negotiated,
}

fn internal() -> Fatal {
    fatal(
        AlertDescription::InternalError,
        "handshake state inconsistent",
    )
}

impl ServerHandshake {
    pub(crate) fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            config,
            certs: None,
            flow: Flow::new(),
            transcript: Transcript::default(),
            client_random: [0; 32],
            server_random: [0; 32],
            session_id: SmallVec::new(),
            scheme: None,
            echo_point_formats: false,
            kx: None,
            master_secret: None,
            prf_key: None,
            resumed_record: None,
            keys_installed: false,
            suspended_hello: None,
            signed_params: Vec::new(),
            signature: None,
            awaiting_signature: false,
            hello_info: None,
            choosing_config: false,
            negotiated: Negotiated::default(),
        }
    }

    /// A handshake that stops at the ClientHello until the caller chooses the config.
    pub(crate) fn choosing_config(placeholder: Arc<ServerConfig>) -> Self {
        let mut hs = Self::new(placeholder);
        hs.choosing_config = true;
        hs
    }

    /// True while a ClientHello waits for the caller to choose the config.
    pub(crate) fn is_waiting_for_config(&self) -> bool {
        self.choosing_config && self.suspended_hello.is_some()
    }

    /// Continues a handshake stopped at its ClientHello with `config`.
    pub(crate) fn choose_config(
        &mut self,
        core: &mut Core,
        config: Arc<ServerConfig>,
    ) -> Result<(), Fatal> {
        if self.hello_info.is_none() || !self.choosing_config {
            return Err(fatal(
                AlertDescription::InternalError,
                "no ClientHello waits for a config",
            ));
        }
        self.choosing_config = false;
        self.config = config;
        self.provide_session_or_config(core, None)
    }

    fn random(&self, dest: &mut [u8]) -> Result<(), Fatal> {
        self.config
            .rng
            .fill(dest)
            .map_err(|_| fatal(AlertDescription::InternalError, "randomness failed"))
    }

    fn suite(&self) -> Result<&'static CipherSuite, Fatal> {
        self.negotiated.suite.ok_or_else(internal)
    }

    /// Answers a suspended session lookup and resumes the handshake.
    pub(crate) fn provide_session(&mut self, core: &mut Core, answer: Lookup) -> Result<(), Fatal> {
        if self.choosing_config {
            return Err(fatal(
                AlertDescription::InternalError,
                "no session lookup is pending",
            ));
        }
        self.provide_session_or_config(core, Some(answer))
    }

    /// Goes on with the ClientHello kept while the handshake was suspended.
    fn provide_session_or_config(
        &mut self,
        core: &mut Core,
        answer: Option<Lookup>,
    ) -> Result<(), Fatal> {
        let raw = self.suspended_hello.take().ok_or_else(|| {
            fatal(
                AlertDescription::InternalError,
                "no session lookup is pending",
            )
        })?;
        let body = raw
            .get(crate::codec::HANDSHAKE_HEADER_LEN..)
            .ok_or_else(internal)?;
        self.handle_client_hello(core, body, &raw, answer)
    }

    /// RFC 5246 §7.4.1.2-7.4.1.4, RFC 8422 §5.1, RFC 5746 §3.6, RFC 7301 §3.2, RFC 5077 §3.
    fn handle_client_hello(
        &mut self,
        core: &mut Core,
        body: &[u8],
        raw: &[u8],
        answer: Option<Lookup>,
    ) -> Result<(), Fatal> {
        let hello = ClientHello::parse(body)?;
        if self.choosing_config {
            // The caller picks the config by what the client asks for, then we go on.
            self.hello_info = Some(ClientHelloInfo::of(&hello));
            self.suspended_hello = Some(raw.to_vec());
            core.push_event(Event::ClientHelloReceived);
            return Ok(());
        }
        self.negotiate_basics(&hello)?;
        self.client_random = *hello.random;
        match self.decide_resumption(core, &hello, answer)? {
            Decision::Suspend => {
                self.suspended_hello = Some(raw.to_vec());
                core.push_event(Event::NeedSession {
                    id: SmallVec::from_slice(hello.session_id),
                });
                return Ok(());
            }
            Decision::Resume {
                record,
                suite,
                kind,
                renew_ticket,
            } => {
                let shape = match (kind, renew_ticket) {
                    (ResumptionKind::SessionId, _) => Shape::ResumeSessionId,
                    (ResumptionKind::Ticket, false) => Shape::ResumeTicket,
                    (ResumptionKind::Ticket, true) => Shape::ResumeTicketRenewed,
                };
                self.negotiated.suite = Some(suite);
                self.negotiated.extended_master_secret = record.extended_master_secret;
                self.negotiated.resumed = Some(kind);
                // RFC 5077 §3.4: when accepting a ticket, echo the client's session ID.
                self.session_id = SmallVec::from_slice(hello.session_id);
                self.master_secret = Some(record.master_secret.clone());
                self.resumed_record = Some(record);
                self.flow.choose(shape);
            }
            Decision::Full => {
                let group = self.choose_group(&hello).ok_or_else(|| {
                    fatal(
                        AlertDescription::HandshakeFailure,
                        "no elliptic-curve group in common",
                    )
                })?;
                let (suite, scheme) = self.choose_suite(&hello).ok_or_else(|| {
                    fatal(
                        AlertDescription::HandshakeFailure,
                        "no cipher suite in common",
                    )
                })?;
                if self.config.require_extended_master_secret
                    && !self.negotiated.extended_master_secret
                {
                    return Err(fatal(
                        AlertDescription::HandshakeFailure,
                        "client does not offer the extended master secret",
                    ));
                }
                self.negotiated.suite = Some(suite);
                self.negotiated.group = Some(group);
                self.scheme = Some(scheme);
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
                let shape = if self.issues_tickets(&hello) {
                    Shape::FullWithTicket
                } else {
                    Shape::Full
                };
                self.flow.choose(shape);
            }
        }
        let suite = self.suite()?;
        self.echo_point_formats = hello.extensions.ec_point_formats.is_some();
        self.transcript.start(suite.hash);
        self.transcript.add(raw);
        self.flow.advance();
        core.lock_version();
        if let Some(ms) = &self.master_secret {
            log_key(&self.config, &self.client_random, ms);
        }
        self.send_my_steps(core)
    }

    /// Version, compression, renegotiation signalling, point formats, SNI, ALPN and EMS.
    fn negotiate_basics(&mut self, hello: &ClientHello<'_>) -> Result<(), Fatal> {
        if hello.client_version < 0x0303 {
            return Err(fatal(
                AlertDescription::ProtocolVersion,
                "client does not offer TLS 1.2",
            ));
        }
        if !hello.compression_methods.contains(&0) {
            return Err(fatal(
                AlertDescription::IllegalParameter,
                "client does not offer null compression",
            ));
        }
        let ext = &hello.extensions;
        // RFC 5746 §3.6: an initial handshake must carry an empty renegotiation_info (or the SCSV).
        match ext.renegotiation_info {
            Some(inner) if !inner.is_empty() => {
                return Err(fatal(
                    AlertDescription::HandshakeFailure,
                    "non-empty renegotiation_info in initial handshake",
                ))
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
                return Err(fatal(
                    AlertDescription::IllegalParameter,
                    "client does not accept uncompressed points",
                ));
            }
        }
        if let Some(name) = ext.server_name {
            // RFC 6066 §3: an ASCII DNS host name (letters, digits, hyphens, dots), no
            // trailing dot.
            let valid = name
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
                && !name.ends_with(b".");
            let name = core::str::from_utf8(name)
                .ok()
                .filter(|_| valid)
                .ok_or_else(|| {
                    fatal(
                        AlertDescription::IllegalParameter,
                        "server name is not an ASCII DNS host name",
                    )
                })?;
            self.negotiated.server_name = Some(crate::handshake::HostName::lowercase(name));
        }
        // The certificates this name is served with (RFC 6066 §3), chosen once.
        let name = self.negotiated.server_name.as_deref();
        if self.config.strict_sni && name.is_some_and(|n| !self.config.serves_name(n)) {
            return Err(fatal(
                AlertDescription::UnrecognizedName,
                "no certificate for the server name asked for",
            ));
        }
        self.certs = self.config.resolve_certificates(name);
        if let Some(offered) = &ext.alpn {
            if !self.config.alpn_protocols.is_empty() {
                let chosen = self
                    .config
                    .alpn_protocols
                    .iter()
                    .position(|ours| offered.iter().any(|theirs| theirs == ours.as_slice()))
                    .ok_or_else(|| {
                        fatal(
                            AlertDescription::NoApplicationProtocol,
                            "no ALPN protocol in common",
                        )
                    })?;
                self.negotiated.alpn =
                    Some(SmallVec::from_slice(&self.config.alpn_protocols[chosen]));
            }
        }
        self.negotiated.extended_master_secret =
            self.config.extended_master_secret && ext.extended_master_secret;
        Ok(())
    }

    /// Tickets are issued when we have keys and the client sent the SessionTicket extension.
    fn issues_tickets(&self, hello: &ClientHello<'_>) -> bool {
        self.config.tickets.is_some() && hello.extensions.session_ticket.is_some()
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
            let _ = keys.rotate_if_due(now, self.config.rng.as_ref());
            if !ticket.is_empty() {
                offered_ticket = true;
                let opened = self.open_ticket(ticket, now);
                match opened.and_then(|(record, renew)| {
                    Ok((self.check_resumable(hello, &record, now)??, record, renew))
                }) {
                    Ok((suite, record, renew)) => {
                        let renew_ticket = renew
                            || record.expires_at()
                                < now.saturating_add(u64::from(self.config.ticket_lifetime) / 2);
                        return Ok(Decision::Resume {
                            record,
                            suite,
                            kind: ResumptionKind::Ticket,
                            renew_ticket,
                        });
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
                    return Ok(Decision::Resume {
                        record,
                        suite,
                        kind: ResumptionKind::SessionId,
                        renew_ticket: false,
                    })
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

    fn open_ticket(&self, ticket: &[u8], now: u64) -> Result<(SessionRecord, bool), Resumable> {
        let keys = self
            .config
            .tickets
            .as_ref()
            .ok_or(Resumable::No(ResumptionFailure::BadTicket))?;
        let ring = keys.current();
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
        plain.zeroize();
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
            return Err(fatal(
                AlertDescription::HandshakeFailure,
                "resumption of an extended-master-secret session without the extension",
            ));
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
            return Err(fatal(
                AlertDescription::IllegalParameter,
                "resumption without offering the session's cipher suite",
            ));
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
    ) -> Option<(&'static CipherSuite, SignatureScheme)> {
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
            Some((suite, scheme))
        })
    }

    /// Writes every message the shape says the server sends now, then flushes the flight.
    fn send_my_steps(&mut self, core: &mut Core) -> Result<(), Fatal> {
        while let Some(step) = self.flow.next() {
            if step.from != Sender::Server {
                break;
            }
            match step.msg {
                Msg::ServerHello => self.send_server_hello(core)?,
                Msg::Certificate => {
                    let cert = self.certificate()?.clone();
                    core.flight().extend_from_slice(cert.certificate_message());
                    self.transcript.add(cert.certificate_message());
                }
                Msg::ServerKeyExchange => {
                    if !self.send_server_key_exchange(core)? {
                        return Ok(());
                    }
                }
                Msg::ServerHelloDone => {
                    let start = core.flight().len();
                    ServerHelloDone
                        .encode(core.flight())
                        .map_err(encode_failed)?;
                    self.transcript.add(&core.flight()[start..]);
                }
                Msg::NewSessionTicket => self.send_new_session_ticket(core)?,
                Msg::ChangeCipherSpec => {
                    self.install_keys_once(core)?;
                    core.send_change_cipher_spec()?;
                }
                Msg::Finished => self.send_finished(core)?,
                Msg::ClientHello | Msg::ClientKeyExchange => return Err(internal()),
            }
            self.flow.advance();
        }
        core.flush_flight()?;
        self.finish_if_complete(core);
        Ok(())
    }

    fn certificate(&self) -> Result<&Arc<crate::config::CertifiedKey>, Fatal> {
        let auth = self.suite()?.auth;
        self.certs
            .as_ref()
            .and_then(|set| set.for_auth(auth))
            .ok_or_else(|| fatal(AlertDescription::InternalError, "certificate vanished"))
    }

    fn send_server_hello(&mut self, core: &mut Core) -> Result<(), Fatal> {
        let mut server_random = [0u8; 32];
        self.random(&mut server_random)?;
        self.server_random = server_random;
        let ticket_ack = self.flow.shape() == Shape::FullWithTicket
            || self.flow.shape() == Shape::ResumeTicketRenewed;
        let start = core.flight().len();
        ServerHello {
            server_version: 0x0303,
            random: &server_random,
            session_id: &self.session_id,
            cipher_suite: self.suite()?.id,
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
        self.transcript.add(&core.flight()[start..]);
        Ok(())
    }

    /// ECDHE parameters signed over both randoms (RFC 8422 §5.4).
    /// Returns `false` when the signature was handed to the caller (the handshake suspends
    /// until [`provide_signature`](Self::provide_signature)).
    fn send_server_key_exchange(&mut self, core: &mut Core) -> Result<bool, Fatal> {
        let group = self.negotiated.group.ok_or_else(internal)?;
        let scheme = self.scheme.ok_or_else(internal)?;
        if self.kx.is_none() {
            let kx = KeyExchange::generate(group, self.config.rng.as_ref())
                .map_err(|_| fatal(AlertDescription::InternalError, "key generation failed"))?;
            let mut signed = Vec::with_capacity(64 + 4 + kx.public().len());
            signed.extend_from_slice(&self.client_random);
            signed.extend_from_slice(&self.server_random);
            crate::codec::encode_ecdh_params(group.id(), kx.public(), &mut signed)
                .map_err(encode_failed)?;
            self.kx = Some(kx);
            self.signed_params = signed;
        }
        let signature = match self.signature.take() {
            Some(sig) => sig,
            None if self.config.offload_signing => {
                // Send what we have so far (ServerHello, Certificate) while the signer works.
                core.flush_flight()?;
                core.push_event(Event::NeedSignature {
                    auth: self.suite()?.auth,
                    key: self.certificate()?.clone(),
                    scheme,
                    message: self.signed_params.clone(),
                });
                self.awaiting_signature = true;
                return Ok(false);
            }
            None => {
                let mut sig = Vec::with_capacity(512);
                self.certificate()?
                    .key()
                    .sign(scheme, &self.signed_params, &mut sig)
                    .map_err(|_| fatal(AlertDescription::InternalError, "signing failed"))?;
                sig
            }
        };
        let kx = self.kx.as_ref().ok_or_else(internal)?;
        let start = core.flight().len();
        ServerKeyExchange {
            params: ServerEcdhParams {
                named_group: group.id(),
                public: kx.public(),
            },
            params_raw: self.signed_params.get(64..).ok_or_else(internal)?,
            signature: DigitallySigned {
                scheme: scheme.0,
                signature: &signature,
            },
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        self.transcript.add(&core.flight()[start..]);
        Ok(true)
    }

    /// Answers a [`Event::NeedSignature`] and continues the handshake (RFC 8422 §5.4: the
    /// signature covers both randoms and the ECDHE parameters).
    pub(crate) fn provide_signature(
        &mut self,
        core: &mut Core,
        signature: Option<Vec<u8>>,
    ) -> Result<(), Fatal> {
        if !self.awaiting_signature {
            return Err(fatal(
                AlertDescription::InternalError,
                "no signature is pending",
            ));
        }
        self.awaiting_signature = false;
        let signature =
            signature.ok_or_else(|| fatal(AlertDescription::InternalError, "the signer failed"))?;
        self.signature = Some(signature);
        self.send_my_steps(core)
    }

    /// The session this connection makes (full) or resumes, with `lifetime`.
    fn session_record(&self, now: u64, lifetime: u32) -> Result<SessionRecord, Fatal> {
        if let Some(old) = &self.resumed_record {
            return Ok(old.clone());
        }
        let name = self
            .negotiated
            .server_name
            .as_deref()
            .unwrap_or("")
            .as_bytes();
        let alpn = self.negotiated.alpn.as_deref().unwrap_or(&[]);
        if name.len() > 255 || alpn.len() > 255 {
            return Err(internal());
        }
        Ok(SessionRecord {
            suite_id: self.suite()?.id,
            extended_master_secret: self.negotiated.extended_master_secret,
            master_secret: self.master_secret.clone().ok_or_else(internal)?,
            created: now,
            lifetime,
            server_name: SmallVec::from_slice(name),
            alpn: SmallVec::from_slice(alpn),
        })
    }

    /// RFC 5077 §3.3: the ticket carries the session sealed under the current ticket key.
    fn send_new_session_ticket(&mut self, core: &mut Core) -> Result<(), Fatal> {
        let keys = self.config.tickets.as_ref().ok_or_else(internal)?;
        let record = self.session_record(core.now, self.config.ticket_lifetime)?;
        let mut plain = zeroize::Zeroizing::new([0u8; MAX_TICKET_PLAINTEXT]);
        let len = record.encode_into(&mut plain[..]).map_err(|_| internal())?;
        let mut ticket = Vec::with_capacity(len + crate::session::ticket::TICKET_OVERHEAD);
        keys.current()
            .seal(
                &plain[..len],
                core.now,
                self.config.rng.as_ref(),
                &mut ticket,
            )
            .map_err(|_| fatal(AlertDescription::InternalError, "ticket sealing failed"))?;
        let remaining = record
            .expires_at()
            .saturating_sub(core.now)
            .min(u64::from(u32::MAX)) as u32;
        let start = core.flight().len();
        NewSessionTicket {
            lifetime_hint: remaining,
            ticket: &ticket,
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        self.transcript.add(&core.flight()[start..]);
        Ok(())
    }

    /// The PRF keyed with the master secret, made once per handshake.
    fn prf_key(&mut self) -> Result<&PrfKey, Fatal> {
        if self.prf_key.is_none() {
            let hash = self.suite()?.hash;
            let ms = self.master_secret.as_ref().ok_or_else(internal)?;
            self.prf_key = Some(PrfKey::from_master_secret(hash, ms));
        }
        self.prf_key.as_ref().ok_or_else(internal)
    }

    fn install_keys_once(&mut self, core: &mut Core) -> Result<(), Fatal> {
        if !self.keys_installed {
            let suite = self.suite()?;
            let (client_random, server_random) = (self.client_random, self.server_random);
            let key = self.prf_key()?;
            install_keys(
                core,
                Role::Server,
                suite,
                key,
                &client_random,
                &server_random,
            )?;
            self.keys_installed = true;
        }
        Ok(())
    }

    fn send_finished(&mut self, core: &mut Core) -> Result<(), Fatal> {
        let key = self.prf_key.as_ref().ok_or_else(internal)?;
        finished::write(core, &mut self.transcript, key, false)
    }

    /// RFC 8422 §5.7, RFC 5246 §8.1, RFC 7627 §4.
    fn handle_client_key_exchange(
        &mut self,
        core: &mut Core,
        body: &[u8],
        raw: &[u8],
    ) -> Result<(), Fatal> {
        let cke = ClientKeyExchange::parse(body)?;
        let kx = self
            .kx
            .take()
            .ok_or_else(|| fatal(AlertDescription::InternalError, "no key exchange"))?;
        let pre_master = kx.complete(cke.public).map_err(|_| {
            fatal(
                AlertDescription::IllegalParameter,
                "bad client ECDHE public value",
            )
        })?;
        self.transcript.add(raw);
        let suite = self.suite()?;
        let ms = master_secret(
            suite,
            self.negotiated.extended_master_secret,
            &self.transcript,
            &pre_master,
            &self.client_random,
            &self.server_random,
        )?;
        log_key(&self.config, &self.client_random, &ms);
        self.master_secret = Some(ms);
        self.install_keys_once(core)?;
        self.flow.advance();
        Ok(())
    }

    /// RFC 5246 §7.4.9: check the client's Finished; then send what the shape says.
    fn handle_finished(&mut self, core: &mut Core, body: &[u8], raw: &[u8]) -> Result<(), Fatal> {
        let key = self.prf_key.as_ref().ok_or_else(internal)?;
        finished::check(&mut self.transcript, key, true, body, raw)?;
        self.flow.advance();
        self.send_my_steps(core)
    }

    fn finish_if_complete(&mut self, core: &mut Core) {
        if !self.flow.is_complete() || !core.is_handshaking() {
            return;
        }
        // A full handshake's session goes into the store under its new ID.
        if !self.flow.shape().is_resumption() && !self.session_id.is_empty() {
            if let (Some(store), Ok(record)) = (
                &self.config.session_store,
                self.session_record(core.now, self.config.session_timeout),
            ) {
                store.put(&self.session_id, &record, core.now);
            }
        }
        core.handshake_complete(Event::HandshakeDone {
            resumed: self.negotiated.resumed,
        });
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

fn log_key(config: &ServerConfig, client_random: &[u8; 32], ms: &MasterSecret) {
    if let Some(log) = &config.key_log {
        log.log("CLIENT_RANDOM", client_random, ms.as_bytes());
    }
}

impl Handshake for ServerHandshake {
    const SIDE: Sender = Sender::Server;

    fn answer_blocking(conn: &mut crate::ServerConnection, event: &Event) -> Result<(), Error> {
        match event {
            Event::NeedSession { id } => {
                let Some(store) = conn.hs.config.session_store.clone() else {
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
            _ => Ok(()),
        }
    }

    fn negotiated(&self) -> &crate::handshake::Negotiated {
        &self.negotiated
    }

    fn flow(&self) -> &Flow {
        &self.flow
    }

    fn is_suspended(&self) -> bool {
        self.suspended_hello.is_some() || self.awaiting_signature
    }

    fn handle(&mut self, core: &mut Core, msg: Msg, body: &[u8], raw: &[u8]) -> Result<(), Fatal> {
        match msg {
            Msg::ClientHello => self.handle_client_hello(core, body, raw, None),
            Msg::ClientKeyExchange => self.handle_client_key_exchange(core, body, raw),
            Msg::Finished => self.handle_finished(core, body, raw),
            _ => Err(fatal(
                AlertDescription::UnexpectedMessage,
                "message a client never sends",
            )),
        }
    }

    fn handle_change_cipher_spec(&mut self, core: &mut Core) -> Result<(), Fatal> {
        core.receive_change_cipher_spec()?;
        self.flow.advance();
        Ok(())
    }
}
