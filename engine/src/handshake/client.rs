//! The client's side of the handshake (RFC 5246 §7.3-7.4, RFC 8422, RFC 7627, RFC 5746,
//! RFC 7301), with the server checked by rustls-webpki.

use std::sync::Arc;

use crate::codec::{
    AlertDescription, Certificate, ClientExtensions, ClientHello, ClientKeyExchange, Finished,
    ProtocolNameList, ServerHello, ServerKeyExchange, U16List,
};
use crate::config::{ClientConfig, ServerVerification};
use crate::conn::{Core, Handshake};
use crate::crypto::kx::{KeyExchange, NamedGroup};
use crate::crypto::prf::{self, MasterSecret};
use crate::crypto::sign::SignatureScheme;
use crate::crypto::suites::{CipherSuite, EMPTY_RENEGOTIATION_INFO_SCSV};
use crate::crypto::verify;
use crate::error::{encode_failed, fatal, Event, Fatal};
use crate::handshake::flow::{Flow, Msg, Sender, Shape};
use crate::handshake::keys::{install_keys, Role};
use crate::handshake::transcript::Transcript;
use crate::handshake::Negotiated;

/// Client handshake state.
pub struct ClientHandshake {
    config: Arc<ClientConfig>,
    server_name: String,
    flow: Flow,
    transcript: Transcript,
    client_random: [u8; 32],
    server_random: [u8; 32],
    server_leaf: Vec<u8>,
    server_public: Option<(NamedGroup, Vec<u8>)>,
    master_secret: Option<MasterSecret>,
    pub(crate) negotiated: Negotiated,
}

fn internal() -> Fatal {
    fatal(
        AlertDescription::InternalError,
        "handshake state inconsistent",
    )
}

impl ClientHandshake {
    /// Starts a handshake and queues the ClientHello.
    pub(crate) fn start(
        config: Arc<ClientConfig>,
        server_name: &str,
        core: &mut Core,
    ) -> Result<Self, Fatal> {
        let mut hs = Self {
            config,
            server_name: server_name.to_string(),
            flow: Flow::new(),
            transcript: Transcript::default(),
            client_random: [0; 32],
            server_random: [0; 32],
            server_leaf: Vec::new(),
            server_public: None,
            master_secret: None,
            negotiated: Negotiated::default(),
        };
        hs.send_client_hello(core)?;
        Ok(hs)
    }

    fn send_client_hello(&mut self, core: &mut Core) -> Result<(), Fatal> {
        let config = self.config.clone();
        config
            .rng
            .fill(&mut self.client_random)
            .map_err(|_| fatal(AlertDescription::InternalError, "randomness failed"))?;
        let suites: Vec<u16> = config
            .suites
            .iter()
            .map(|s| s.id)
            .chain([EMPTY_RENEGOTIATION_INFO_SCSV])
            .collect();
        let groups: Vec<u16> = config.groups.iter().map(|g| g.id()).collect();
        let schemes: Vec<u16> = config.signature_schemes.iter().map(|s| s.0).collect();
        let alpn: Vec<&[u8]> = config.alpn_protocols.iter().map(|p| p.as_slice()).collect();
        // RFC 6066 §3: literal IP addresses are not sent as server names.
        let sni = (self.server_name.parse::<std::net::IpAddr>().is_err()
            && !self.server_name.is_empty())
        .then_some(self.server_name.as_bytes());
        let start = core.flight().len();
        let alpn_list = ProtocolNameList::from_names(&alpn);
        ClientHello {
            client_version: 0x0303,
            random: &self.client_random,
            session_id: &[],
            cipher_suites: U16List::from_values(&suites),
            compression_methods: &[0],
            extensions: ClientExtensions {
                server_name: sni,
                supported_groups: Some(U16List::from_values(&groups)),
                ec_point_formats: Some(&[0]),
                signature_algorithms: Some(U16List::from_values(&schemes)),
                alpn: alpn_list,
                extended_master_secret: config.extended_master_secret,
                session_ticket: None,
                renegotiation_info: None,
                supported_versions_offers_tls13: false,
            },
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        self.transcript.add(&core.flight()[start..]);
        self.flow.advance();
        core.flush_flight()
    }

    /// RFC 5246 §7.4.1.3.
    fn handle_server_hello(
        &mut self,
        core: &mut Core,
        body: &[u8],
        raw: &[u8],
    ) -> Result<(), Fatal> {
        let hello = ServerHello::parse(body)?;
        if hello.server_version != 0x0303 {
            return Err(fatal(
                AlertDescription::ProtocolVersion,
                "server did not choose TLS 1.2",
            ));
        }
        let suite = self
            .config
            .suites
            .iter()
            .copied()
            .find(|s| s.id == hello.cipher_suite)
            .ok_or_else(|| {
                fatal(
                    AlertDescription::IllegalParameter,
                    "server chose a suite we did not offer",
                )
            })?;
        if hello.compression_method != 0 {
            return Err(fatal(
                AlertDescription::IllegalParameter,
                "server chose compression",
            ));
        }
        let ext = &hello.extensions;
        // RFC 5246 §7.4.1.4: the server may only answer extensions we sent.
        if ext.alpn.is_some() && self.config.alpn_protocols.is_empty()
            || ext.extended_master_secret && !self.config.extended_master_secret
            || ext.session_ticket_ack
        {
            return Err(fatal(
                AlertDescription::UnsupportedExtension,
                "server answered an extension we did not offer",
            ));
        }
        if let Some(p) = ext.alpn {
            if !self
                .config
                .alpn_protocols
                .iter()
                .any(|ours| ours.as_slice() == p)
            {
                return Err(fatal(
                    AlertDescription::IllegalParameter,
                    "server chose an ALPN protocol we did not offer",
                ));
            }
            self.negotiated.alpn = Some(p.to_vec());
        }
        match ext.renegotiation_info {
            Some(inner) if !inner.is_empty() => {
                return Err(fatal(
                    AlertDescription::HandshakeFailure,
                    "non-empty renegotiation_info in initial handshake",
                ))
            }
            Some(_) => self.negotiated.secure_renegotiation = true,
            None => {}
        }
        if let Some(formats) = ext.ec_point_formats {
            if !formats.contains(&0) {
                return Err(fatal(
                    AlertDescription::IllegalParameter,
                    "server does not accept uncompressed points",
                ));
            }
        }
        self.negotiated.extended_master_secret = ext.extended_master_secret;
        if self.config.require_extended_master_secret && !ext.extended_master_secret {
            return Err(fatal(
                AlertDescription::HandshakeFailure,
                "server did not negotiate the extended master secret",
            ));
        }
        self.negotiated.suite = Some(suite);
        self.negotiated.server_name = Some(self.server_name.clone());
        self.server_random = *hello.random;
        self.transcript.start(suite.hash);
        self.transcript.add(raw);
        self.flow.choose(Shape::Full);
        self.flow.advance();
        core.lock_version();
        Ok(())
    }

    /// RFC 5246 §7.4.2: check the chain and the name.
    fn handle_certificate(
        &mut self,
        core: &mut Core,
        body: &[u8],
        raw: &[u8],
    ) -> Result<(), Fatal> {
        let certs = Certificate::parse(body)?;
        let chain: Vec<&[u8]> = certs.iter().collect();
        let Some(leaf) = chain.first() else {
            return Err(fatal(
                AlertDescription::DecodeError,
                "server sent no certificate",
            ));
        };
        if self.config.verification == ServerVerification::WebPki {
            verify::verify_server_chain(&self.config.roots, &chain, &self.server_name, core.now)
                .map_err(|f| {
                    Fatal::new(
                        f.alert,
                        format!("server certificate rejected: {}", f.reason),
                    )
                })?;
        }
        self.server_leaf = leaf.to_vec();
        self.transcript.add(raw);
        self.flow.advance();
        Ok(())
    }

    /// RFC 8422 §5.4: the server's ECDHE share, signed with its certificate key.
    fn handle_server_key_exchange(&mut self, body: &[u8], raw: &[u8]) -> Result<(), Fatal> {
        let ske = ServerKeyExchange::parse(body)?;
        let suite = self.negotiated.suite.ok_or_else(internal)?;
        let group = NamedGroup::from_id(ske.params.named_group)
            .filter(|g| self.config.groups.contains(g))
            .ok_or_else(|| {
                fatal(
                    AlertDescription::IllegalParameter,
                    "server chose a group we did not offer",
                )
            })?;
        let scheme = SignatureScheme(ske.signature.scheme);
        if !self.config.signature_schemes.contains(&scheme)
            || scheme.auth_kind() != Some(suite.auth)
        {
            return Err(fatal(
                AlertDescription::IllegalParameter,
                "server signed with a scheme we did not offer",
            ));
        }
        let mut signed = Vec::with_capacity(64 + ske.params_raw.len());
        signed.extend_from_slice(&self.client_random);
        signed.extend_from_slice(&self.server_random);
        signed.extend_from_slice(ske.params_raw);
        verify::verify_signature(&self.server_leaf, scheme, &signed, ske.signature.signature)
            .map_err(|a| fatal(a, "ServerKeyExchange signature does not verify"))?;
        self.server_public = Some((group, ske.params.public.to_vec()));
        self.negotiated.group = Some(group);
        self.transcript.add(raw);
        self.flow.advance();
        Ok(())
    }

    /// RFC 5246 §7.4.5-7.4.9: our second flight.
    fn handle_server_hello_done(
        &mut self,
        core: &mut Core,
        body: &[u8],
        raw: &[u8],
    ) -> Result<(), Fatal> {
        if !body.is_empty() {
            return Err(fatal(
                AlertDescription::DecodeError,
                "ServerHelloDone with a body",
            ));
        }
        self.transcript.add(raw);
        self.flow.advance();
        let suite = self.negotiated.suite.ok_or_else(internal)?;
        let (group, server_public) = self.server_public.take().ok_or_else(internal)?;
        let kx = KeyExchange::generate(group, self.config.rng.as_ref())
            .map_err(|_| fatal(AlertDescription::InternalError, "key generation failed"))?;
        let start = core.flight().len();
        ClientKeyExchange {
            public: kx.public(),
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        self.transcript.add(&core.flight()[start..]);
        self.flow.advance();
        let pre_master = kx.complete(&server_public).map_err(|_| {
            fatal(
                AlertDescription::IllegalParameter,
                "bad server ECDHE public value",
            )
        })?;
        let ms = if self.negotiated.extended_master_secret {
            let session_hash = self.transcript.current().ok_or_else(internal)?;
            prf::extended_master_secret(suite.hash, &pre_master, session_hash.as_ref())
        } else {
            prf::master_secret(
                suite.hash,
                &pre_master,
                &self.client_random,
                &self.server_random,
            )
        }
        .map_err(|_| internal())?;
        install_keys(
            core,
            Role::Client,
            suite,
            &ms,
            &self.client_random,
            &self.server_random,
        )?;
        core.send_change_cipher_spec()?;
        self.flow.advance();
        self.send_finished(core, suite, &ms)?;
        self.master_secret = Some(ms);
        core.flush_flight()
    }

    fn send_finished(
        &mut self,
        core: &mut Core,
        suite: &'static CipherSuite,
        ms: &MasterSecret,
    ) -> Result<(), Fatal> {
        let hash = self.transcript.current().ok_or_else(internal)?;
        let ours = prf::verify_data(suite.hash, ms, true, hash.as_ref()).map_err(|_| internal())?;
        let start = core.flight().len();
        Finished { verify_data: &ours }
            .encode(core.flight())
            .map_err(encode_failed)?;
        self.transcript.add(&core.flight()[start..]);
        self.flow.advance();
        Ok(())
    }

    /// RFC 5246 §7.4.9: the server's Finished ends the handshake.
    fn handle_finished(&mut self, core: &mut Core, body: &[u8], raw: &[u8]) -> Result<(), Fatal> {
        let finished = Finished::parse(body)?;
        let suite = self.negotiated.suite.ok_or_else(internal)?;
        let ms = self.master_secret.as_ref().ok_or_else(internal)?;
        let hash = self.transcript.current().ok_or_else(internal)?;
        let expected =
            prf::verify_data(suite.hash, ms, false, hash.as_ref()).map_err(|_| internal())?;
        if !prf::verify_data_matches(&expected, finished.verify_data) {
            return Err(fatal(
                AlertDescription::DecryptError,
                "server Finished does not verify",
            ));
        }
        self.transcript.add(raw);
        self.flow.advance();
        core.handshake_complete(Event::HandshakeDone { resumed: None });
        Ok(())
    }
}

impl Handshake for ClientHandshake {
    const SIDE: Sender = Sender::Client;

    fn flow(&self) -> &Flow {
        &self.flow
    }

    fn handle(&mut self, core: &mut Core, msg: Msg, body: &[u8], raw: &[u8]) -> Result<(), Fatal> {
        match msg {
            Msg::ServerHello => self.handle_server_hello(core, body, raw),
            Msg::Certificate => self.handle_certificate(core, body, raw),
            Msg::ServerKeyExchange => self.handle_server_key_exchange(body, raw),
            Msg::ServerHelloDone => self.handle_server_hello_done(core, body, raw),
            Msg::Finished => self.handle_finished(core, body, raw),
            _ => Err(fatal(
                AlertDescription::UnexpectedMessage,
                "message a server never sends here",
            )),
        }
    }

    fn handle_change_cipher_spec(&mut self, core: &mut Core) -> Result<(), Fatal> {
        core.receive_change_cipher_spec()?;
        self.flow.advance();
        Ok(())
    }
}
