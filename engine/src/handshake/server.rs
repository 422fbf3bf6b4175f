//! The server's side of the handshake (RFC 5246 §7.3-7.4, RFC 8422, RFC 7627, RFC 5746,
//! RFC 7301).

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::codec::{
    AlertDescription, ClientHello, ClientKeyExchange, DigitallySigned, Finished, ServerEcdhParams,
    ServerExtensions, ServerHello, ServerKeyExchange,
};
use crate::config::ServerConfig;
use crate::conn::{Core, Handshake};
use crate::crypto::kx::{KeyExchange, NamedGroup};
use crate::crypto::prf::{self, MasterSecret};
use crate::crypto::sign::SignatureScheme;
use crate::crypto::suites::{CipherSuite, EMPTY_RENEGOTIATION_INFO_SCSV};
use crate::error::{encode_failed, fatal, Event, Fatal};
use crate::handshake::flow::{Flow, Msg, Sender, Shape};
use crate::handshake::keys::{install_keys, Role};
use crate::handshake::transcript::Transcript;
use crate::handshake::Negotiated;

/// Server handshake state.
pub struct ServerHandshake {
    config: Arc<ServerConfig>,
    flow: Flow,
    transcript: Transcript,
    client_random: [u8; 32],
    server_random: [u8; 32],
    kx: Option<KeyExchange>,
    master_secret: Option<MasterSecret>,
    pub(crate) negotiated: Negotiated,
}

impl ServerHandshake {
    pub(crate) fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            config,
            flow: Flow::new(),
            transcript: Transcript::default(),
            client_random: [0; 32],
            server_random: [0; 32],
            kx: None,
            master_secret: None,
            negotiated: Negotiated::default(),
        }
    }

    fn random(&self, dest: &mut [u8]) -> Result<(), Fatal> {
        self.config
            .rng
            .fill(dest)
            .map_err(|_| fatal(AlertDescription::InternalError, "randomness failed"))
    }

    /// RFC 5246 §7.4.1.2-7.4.1.4, RFC 8422 §5.1, RFC 5746 §3.6, RFC 7301 §3.2.
    fn handle_client_hello(
        &mut self,
        core: &mut Core,
        body: &[u8],
        raw: &[u8],
    ) -> Result<(), Fatal> {
        let hello = ClientHello::parse(body)?;
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
            self.negotiated.server_name = Some(
                core::str::from_utf8(name)
                    .map_err(|_| {
                        fatal(
                            AlertDescription::IllegalParameter,
                            "server name is not ASCII",
                        )
                    })?
                    .to_ascii_lowercase(),
            );
        }
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
                self.negotiated.alpn = Some(self.config.alpn_protocols[chosen].clone());
            }
        }
        self.negotiated.extended_master_secret =
            self.config.extended_master_secret && ext.extended_master_secret;
        if self.config.require_extended_master_secret && !self.negotiated.extended_master_secret {
            return Err(fatal(
                AlertDescription::HandshakeFailure,
                "client does not offer the extended master secret",
            ));
        }
        self.negotiated.suite = Some(suite);
        self.negotiated.group = Some(group);
        self.client_random = *hello.random;
        self.transcript.start(suite.hash);
        self.transcript.add(raw);
        self.flow.choose(Shape::Full);
        self.flow.advance();
        core.lock_version();
        self.send_full_first_flight(core, suite, group, scheme, ext.ec_point_formats.is_some())
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
            let cert = self.config.certificate_for(suite.auth)?;
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

    fn send_full_first_flight(
        &mut self,
        core: &mut Core,
        suite: &'static CipherSuite,
        group: NamedGroup,
        scheme: SignatureScheme,
        echo_point_formats: bool,
    ) -> Result<(), Fatal> {
        let mut server_random = [0u8; 32];
        self.random(&mut server_random)?;
        self.server_random = server_random;
        let session_id = [0u8; 0];

        // ServerHello.
        let start = core.flight().len();
        ServerHello {
            server_version: 0x0303,
            random: &server_random,
            session_id: &session_id,
            cipher_suite: suite.id,
            compression_method: 0,
            extensions: ServerExtensions {
                server_name_ack: false,
                ec_point_formats: echo_point_formats.then_some(&[0u8][..]),
                alpn: self.negotiated.alpn.as_deref(),
                extended_master_secret: self.negotiated.extended_master_secret,
                session_ticket_ack: false,
                renegotiation_info: self.negotiated.secure_renegotiation.then_some(&[][..]),
            },
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        self.transcript.add(&core.flight()[start..]);
        self.flow.advance();

        // Certificate, precomputed by the config.
        let cert = self
            .config
            .certificate_for(suite.auth)
            .ok_or_else(|| fatal(AlertDescription::InternalError, "certificate vanished"))?;
        core.flight().extend_from_slice(cert.certificate_message());
        self.transcript.add(cert.certificate_message());
        self.flow.advance();

        // ServerKeyExchange: ECDHE parameters signed over both randoms (RFC 8422 §5.4).
        let kx = KeyExchange::generate(group, self.config.rng.as_ref())
            .map_err(|_| fatal(AlertDescription::InternalError, "key generation failed"))?;
        let mut signed = Vec::with_capacity(64 + 4 + kx.public().len());
        signed.extend_from_slice(&self.client_random);
        signed.extend_from_slice(&self.server_random);
        let params_start = signed.len();
        crate::codec::encode_ecdh_params(group.id(), kx.public(), &mut signed)
            .map_err(encode_failed)?;
        let mut signature = Vec::with_capacity(512);
        cert.key()
            .sign(scheme, &signed, &mut signature)
            .map_err(|_| fatal(AlertDescription::InternalError, "signing failed"))?;
        let start = core.flight().len();
        ServerKeyExchange {
            params: ServerEcdhParams {
                named_group: group.id(),
                public: kx.public(),
            },
            params_raw: &signed[params_start..],
            signature: DigitallySigned {
                scheme: scheme.0,
                signature: &signature,
            },
        }
        .encode(core.flight())
        .map_err(encode_failed)?;
        self.transcript.add(&core.flight()[start..]);
        self.flow.advance();
        self.kx = Some(kx);

        // ServerHelloDone.
        let start = core.flight().len();
        crate::codec::ServerHelloDone
            .encode(core.flight())
            .map_err(encode_failed)?;
        self.transcript.add(&core.flight()[start..]);
        self.flow.advance();
        core.flush_flight()
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
        let pre_master: Zeroizing<Vec<u8>> = kx.complete(cke.public).map_err(|_| {
            fatal(
                AlertDescription::IllegalParameter,
                "bad client ECDHE public value",
            )
        })?;
        self.transcript.add(raw);
        let suite = self.suite()?;
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
            Role::Server,
            suite,
            &ms,
            &self.client_random,
            &self.server_random,
        )?;
        self.master_secret = Some(ms);
        self.flow.advance();
        Ok(())
    }

    fn suite(&self) -> Result<&'static CipherSuite, Fatal> {
        self.negotiated.suite.ok_or_else(internal)
    }

    /// RFC 5246 §7.4.9: check the client's Finished, then send ours.
    fn handle_finished(&mut self, core: &mut Core, body: &[u8], raw: &[u8]) -> Result<(), Fatal> {
        let finished = Finished::parse(body)?;
        let suite = self.suite()?;
        let ms = self.master_secret.as_ref().ok_or_else(internal)?;
        let hash = self.transcript.current().ok_or_else(internal)?;
        let expected =
            prf::verify_data(suite.hash, ms, true, hash.as_ref()).map_err(|_| internal())?;
        if !prf::verify_data_matches(&expected, finished.verify_data) {
            return Err(fatal(
                AlertDescription::DecryptError,
                "client Finished does not verify",
            ));
        }
        self.transcript.add(raw);
        self.flow.advance();

        core.send_change_cipher_spec()?;
        self.flow.advance();
        let hash = self.transcript.current().ok_or_else(internal)?;
        let ours =
            prf::verify_data(suite.hash, ms, false, hash.as_ref()).map_err(|_| internal())?;
        let start = core.flight().len();
        Finished { verify_data: &ours }
            .encode(core.flight())
            .map_err(encode_failed)?;
        self.transcript.add(&core.flight()[start..]);
        self.flow.advance();
        core.flush_flight()?;
        core.handshake_complete(Event::HandshakeDone { resumed: None });
        Ok(())
    }
}

fn internal() -> Fatal {
    fatal(
        AlertDescription::InternalError,
        "handshake state inconsistent",
    )
}

impl Handshake for ServerHandshake {
    const SIDE: Sender = Sender::Server;

    fn flow(&self) -> &Flow {
        &self.flow
    }

    fn handle(&mut self, core: &mut Core, msg: Msg, body: &[u8], raw: &[u8]) -> Result<(), Fatal> {
        match msg {
            Msg::ClientHello => self.handle_client_hello(core, body, raw),
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
