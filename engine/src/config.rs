//! Server and client configuration. Everything a config fixes is computed once here (e.g. the
//! encoded Certificate message) and shared by every connection through an `Arc`.

use std::sync::Arc;

use crate::codec::encode_certificate;
use crate::crypto::kx::NamedGroup;
use crate::crypto::sign::{KeyError, SignatureScheme, SigningKey};
use crate::crypto::suites::{AuthKind, CipherSuite, ALL_SUITES};
use crate::crypto::verify;
use crate::crypto::verify::RootStore;
use crate::keylog::KeyLog;
use crate::metrics::Metrics;
use crate::resolve::{CertificateSet, CertificatesByName, ResolvesServerCert};
use crate::rng::{BufferedRandom, RandomSource};
use crate::session::client::ClientSessionStore;
use crate::session::store::SessionStore;
use crate::session::ticket::TicketKeys;

/// Default cap on one handshake message (certificate chains are the large ones).
pub const DEFAULT_MAX_HANDSHAKE_MESSAGE: usize = 64 * 1024;

/// The body of the largest legal ClientHello (RFC 5246 §7.4.1.2): version 2, random 32,
/// session ID 1 + 32, cipher suites 2 + 65,534, compression methods 1 + 255, extensions
/// 2 + 65,535 bytes. A server accepts it by default; the memory is taken only while such a
/// message is arriving, and given back after.
pub const MAX_CLIENT_HELLO_LEN: usize = 2 + 32 + 1 + 32 + 2 + 65_534 + 1 + 255 + 2 + 65_535;

/// Why a configuration was refused. Each variant names the part that is wrong, so a server
/// can refuse to start with one clear line instead of failing every handshake later.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The server config holds no certificate: every handshake would fail.
    NoCertificate,
    /// A certificate chain with no certificate in it.
    EmptyChain,
    /// The certificate text holds no usable CERTIFICATE block (RFC 7468).
    CertificatePem(String),
    /// A certificate of the chain is not a well-formed X.509 certificate.
    MalformedCertificate {
        /// Its position in the chain (0 is the leaf).
        index: usize,
        /// What the parser found.
        reason: String,
    },
    /// The private key text holds no usable private key block (RFC 7468).
    KeyPem(String),
    /// The private key is not one the server can sign with (type, size or encoding).
    UnsupportedKey(String),
    /// The private key is not the one whose public key the leaf certificate carries: a
    /// signature made with it does not verify under the certificate.
    KeyMismatch,
    /// None of the configured suites can be served with the configured certificates (e.g.
    /// only ECDHE_RSA suites and an ECDSA certificate).
    NoUsableSuite,
    /// No key-exchange group is configured.
    NoGroup,
    /// A client that verifies certificates was given no root to verify them against.
    NoRoots,
    /// The random source failed while the configuration was being built.
    Randomness,
    /// A certificate revocation list that does not parse (RFC 5280 §5).
    RevocationList(String),
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::NoCertificate => {
                f.write_str("no certificate configured (every handshake would fail)")
            }
            ConfigError::EmptyChain => f.write_str("the certificate chain is empty"),
            ConfigError::CertificatePem(why) => write!(f, "not a PEM certificate file: {why}"),
            ConfigError::MalformedCertificate { index: 0, reason } => {
                write!(f, "the certificate does not parse: {reason}")
            }
            ConfigError::MalformedCertificate { index, reason } => {
                write!(
                    f,
                    "certificate {index} of the chain does not parse: {reason}"
                )
            }
            ConfigError::KeyPem(why) => write!(f, "not a PEM private key file: {why}"),
            ConfigError::UnsupportedKey(why) => write!(f, "unsupported private key: {why}"),
            ConfigError::KeyMismatch => {
                f.write_str("the private key does not match the certificate's public key")
            }
            ConfigError::NoUsableSuite => f.write_str(
                "no configured cipher suite can be served with the configured certificates",
            ),
            ConfigError::NoGroup => f.write_str("no key-exchange group configured"),
            ConfigError::NoRoots => f.write_str("no root certificate to verify servers against"),
            ConfigError::Randomness => f.write_str("the random source failed"),
            ConfigError::RevocationList(why) => {
                write!(f, "not a certificate revocation list: {why}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// A certificate chain with its private key, and the Certificate message precomputed.
#[derive(Debug)]
pub struct CertifiedKey {
    chain: Vec<Vec<u8>>,
    key: SigningKey,
    certificate_message: Vec<u8>,
    /// The leaf's DNS names (subject alternative names), lower-cased.
    names: Vec<String>,
}

impl PartialEq for CertifiedKey {
    fn eq(&self, other: &Self) -> bool {
        self.chain == other.chain
    }
}

impl Eq for CertifiedKey {}

/// What the load-time check signs and verifies to prove the key belongs to the certificate.
const KEY_MATCH_PROBE: &[u8] = b"reprise: does this key match its certificate?";

impl CertifiedKey {
    /// A chain (leaf first, DER) and the leaf's private key (DER: PKCS#8, SEC1 or PKCS#1).
    /// Refuses a chain that does not parse and a key that is not the leaf's: it signs once
    /// with the key and verifies under the leaf's public key, as a client would.
    pub fn new(chain: Vec<Vec<u8>>, key_der: &[u8]) -> Result<Self, ConfigError> {
        let Some(leaf) = chain.first() else {
            return Err(ConfigError::EmptyChain);
        };
        for (index, der) in chain.iter().enumerate() {
            let checked = if index == 0 {
                verify::check_leaf_parses(der)
            } else {
                verify::check_chain_certificate_framing(der)
            };
            checked.map_err(|reason| ConfigError::MalformedCertificate { index, reason })?;
        }
        let key = SigningKey::from_der(key_der).map_err(|e| match e {
            KeyError::Unsupported(why) => ConfigError::UnsupportedKey(why),
            KeyError::SignFailed => ConfigError::UnsupportedKey("it cannot sign".into()),
        })?;
        let scheme = key.schemes()[0];
        let mut signature = Vec::with_capacity(512);
        key.sign(scheme, KEY_MATCH_PROBE, &mut signature)
            .map_err(|_| ConfigError::UnsupportedKey("it cannot sign".into()))?;
        verify::verify_signature(leaf, scheme, KEY_MATCH_PROBE, &signature)
            .map_err(|_| ConfigError::KeyMismatch)?;
        let mut certificate_message = Vec::new();
        encode_certificate(&chain, &mut certificate_message).map_err(|e| {
            ConfigError::MalformedCertificate {
                index: 0,
                reason: format!("the chain cannot be encoded: {e}"),
            }
        })?;
        let names = verify::leaf_dns_names(leaf);
        Ok(Self {
            chain,
            key,
            certificate_message,
            names,
        })
    }

    /// The DNS names the leaf certificate is for (its subject alternative names,
    /// lower-cased; wildcards as `*.example.com`).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The encoded Certificate handshake message (header included).
    pub fn certificate_message(&self) -> &[u8] {
        &self.certificate_message
    }
}

/// Configuration for [`ServerConnection`](crate::ServerConnection)s.
#[non_exhaustive]
pub struct ServerConfig {
    /// Certificates by the names they serve, with a default set (the first certificate of
    /// each key type); the suite then picks by key type.
    pub(crate) certificates: CertificatesByName,
    /// Chooses the certificates by SNI instead of [`certificates`](Self::certificates), when
    /// set.
    pub cert_resolver: Option<Arc<dyn ResolvesServerCert>>,
    /// Suites in server preference order.
    pub suites: Vec<&'static CipherSuite>,
    /// Groups in server preference order.
    pub groups: Vec<NamedGroup>,
    /// ALPN protocols in server preference order; empty means ALPN is ignored.
    pub alpn_protocols: Vec<Vec<u8>>,
    /// Negotiate the extended master secret (RFC 7627) when the client offers it.
    pub extended_master_secret: bool,
    /// Refuse clients that do not offer the extended master secret.
    pub require_extended_master_secret: bool,
    /// Randomness for randoms, session IDs, ephemeral keys and tickets.
    pub rng: Arc<dyn RandomSource>,
    /// Cap on one received handshake message ([`MAX_CLIENT_HELLO_LEN`] by default: every
    /// legal ClientHello).
    pub max_handshake_message: usize,
    /// Where sessions are kept for resumption by session ID; `None` disables it.
    pub session_store: Option<Arc<dyn SessionStore>>,
    /// Seconds a session may be resumed by ID (`--session-timeout`).
    pub session_timeout: u32,
    /// Ticket keys for RFC 5077 resumption; `None` disables tickets.
    pub tickets: Option<Arc<TicketKeys>>,
    /// Seconds a ticket may be used, sent as the lifetime hint (RFC 5077 §3.3).
    pub ticket_lifetime: u32,
    /// Receives master secrets in SSLKEYLOGFILE form (for Wireshark); `None` logs nothing.
    pub key_log: Option<Arc<dyn KeyLog>>,
    /// Counters for operators; `None` counts nothing.
    pub metrics: Option<Arc<Metrics>>,
    /// Marks the session IDs this server issues so foreign IDs skip the store lookup
    /// (`session::id`); `None` issues plain random IDs and looks every offered ID up.
    pub session_id_key: Option<crate::session::id::SessionIdKey>,
    /// Hand ServerKeyExchange signatures to the caller (`Event::NeedSignature`) instead of
    /// signing inline, so a driver can sign on a worker pool or a remote key server.
    pub offload_signing: bool,
    /// Refuse, with a fatal unrecognized_name alert, a server name no certificate is for
    /// (RFC 6066 §3); by default such a client gets the default certificate.
    pub strict_sni: bool,
    /// Ask clients for a certificate and verify it ([`ClientAuth`](crate::ClientAuth));
    /// `None` does not ask.
    pub client_auth: Option<Arc<crate::ClientAuth>>,
}

impl core::fmt::Debug for ServerConfig {
    /// Every setting; the certificates by count, the stores and hooks by presence, the ticket
    /// keys by their rotation policy.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let alpn: Vec<_> = self
            .alpn_protocols
            .iter()
            .map(|p| String::from_utf8_lossy(p))
            .collect();
        f.debug_struct("ServerConfig")
            .field("certificates", &self.certificates.all().len())
            .field("cert_resolver", &self.cert_resolver.is_some())
            .field(
                "suites",
                &self.suites.iter().map(|s| s.name).collect::<Vec<_>>(),
            )
            .field("groups", &self.groups)
            .field("alpn_protocols", &alpn)
            .field("extended_master_secret", &self.extended_master_secret)
            .field(
                "require_extended_master_secret",
                &self.require_extended_master_secret,
            )
            .field("max_handshake_message", &self.max_handshake_message)
            .field("session_store", &self.session_store.is_some())
            .field("session_id_key", &self.session_id_key.is_some())
            .field("session_timeout", &self.session_timeout)
            .field(
                "tickets",
                &self.tickets.as_ref().map(|keys| keys.current().policy()),
            )
            .field("ticket_lifetime", &self.ticket_lifetime)
            .field("key_log", &self.key_log.is_some())
            .field("metrics", &self.metrics.is_some())
            .field("offload_signing", &self.offload_signing)
            .field("strict_sni", &self.strict_sni)
            .finish_non_exhaustive()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerConfig {
    /// Defaults: every suite and group, EMS on, system randomness (buffered:
    /// [`BufferedRandom`]), no certificate yet.
    pub fn new() -> Self {
        Self {
            certificates: CertificatesByName::new(),
            cert_resolver: None,
            suites: ALL_SUITES.to_vec(),
            groups: NamedGroup::ALL.to_vec(),
            alpn_protocols: Vec::new(),
            extended_master_secret: true,
            require_extended_master_secret: false,
            rng: Arc::new(BufferedRandom::new()),
            max_handshake_message: MAX_CLIENT_HELLO_LEN,
            session_store: None,
            session_timeout: 300,
            tickets: None,
            ticket_lifetime: 3600,
            key_log: None,
            metrics: None,
            offload_signing: false,
            session_id_key: None,
            strict_sni: false,
            client_auth: None,
        }
    }

    /// Signs `message` with the key of the certificate for `auth` — what a driver's worker
    /// does for an offloaded [`Event::NeedSignature`](crate::Event::NeedSignature).
    pub fn sign(
        &self,
        auth: AuthKind,
        scheme: SignatureScheme,
        message: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let cert = self.certificate_for(auth).ok_or(KeyError::SignFailed)?;
        let mut out = Vec::with_capacity(512);
        cert.key().sign(scheme, message, &mut out)?;
        Ok(out)
    }

    /// Adds a certificate chain (leaf first, DER) and its key (DER): served for the DNS names
    /// of its leaf, and by default (no SNI, or a name no certificate has) if it is the first
    /// of its key type. Refused when a certificate does not parse or the key is not the
    /// leaf's ([`CertifiedKey::new`]).
    pub fn add_certificate(
        &mut self,
        chain: Vec<Vec<u8>>,
        key_der: &[u8],
    ) -> Result<&mut Self, ConfigError> {
        self.certificates.add(CertifiedKey::new(chain, key_der)?);
        Ok(self)
    }

    /// Adds a certificate chain and key from PEM text.
    pub fn add_certificate_pem(
        &mut self,
        chain_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<&mut Self, ConfigError> {
        let chain = crate::pem::certificates(chain_pem)?;
        let key = crate::pem::private_key(key_pem)?;
        self.add_certificate(chain, &key)
    }

    /// Checks that the config can serve a handshake at all: it has a certificate, a group,
    /// and a suite one of its certificates can authenticate. The drivers refuse to start
    /// with a config that fails this; call it before sharing a config you built yourself.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.certificates.is_empty() && self.cert_resolver.is_none() {
            return Err(ConfigError::NoCertificate);
        }
        if self.groups.is_empty() {
            return Err(ConfigError::NoGroup);
        }
        let served = self.certificates.all();
        if self.cert_resolver.is_none()
            && !self
                .suites
                .iter()
                .any(|suite| served.iter().any(|c| c.key().auth_kind() == suite.auth))
        {
            return Err(ConfigError::NoUsableSuite);
        }
        Ok(())
    }

    /// The default certificate for a key type (no SNI, or an unknown name).
    pub fn certificate_for(&self, auth: AuthKind) -> Option<&CertifiedKey> {
        self.certificates
            .default_set()
            .for_auth(auth)
            .map(|c| c.as_ref())
    }

    /// The certificates for `server_name`: the resolver's choice, or the configured ones by
    /// name.
    pub fn resolve_certificates(&self, server_name: Option<&str>) -> Option<Arc<CertificateSet>> {
        match &self.cert_resolver {
            Some(resolver) => resolver.resolve(server_name),
            None => Some(self.certificates.resolve_name(server_name).clone()),
        }
    }

    /// A copy of this config with the certificates (and resolver) of `certs`: what a reload
    /// of certificates swaps in. Everything else — session store, ticket keys, metrics, key
    /// log, randomness — is shared with this one, so sessions and tickets made before the
    /// reload still resume after it.
    pub fn with_certificates_of(&self, certs: &ServerConfig) -> ServerConfig {
        ServerConfig {
            certificates: certs.certificates.clone(),
            cert_resolver: certs.cert_resolver.clone(),
            suites: self.suites.clone(),
            groups: self.groups.clone(),
            alpn_protocols: self.alpn_protocols.clone(),
            extended_master_secret: self.extended_master_secret,
            require_extended_master_secret: self.require_extended_master_secret,
            rng: self.rng.clone(),
            max_handshake_message: self.max_handshake_message,
            session_store: self.session_store.clone(),
            session_timeout: self.session_timeout,
            tickets: self.tickets.clone(),
            ticket_lifetime: self.ticket_lifetime,
            key_log: self.key_log.clone(),
            metrics: self.metrics.clone(),
            session_id_key: self.session_id_key.clone(),
            offload_signing: self.offload_signing,
            strict_sni: self.strict_sni,
            client_auth: self.client_auth.clone(),
        }
    }

    /// Whether a certificate is for `name` by name (not as the default): the resolver's
    /// answer when there is one, else an exact or wildcard name of a configured certificate.
    pub fn serves_name(&self, name: &str) -> bool {
        match &self.cert_resolver {
            Some(resolver) => resolver.resolve(Some(name)).is_some(),
            None => self.certificates.has_name(name),
        }
    }

    /// Every configured certificate, each once.
    pub fn certificates(&self) -> Vec<Arc<CertifiedKey>> {
        self.certificates.all()
    }
}

/// How a client checks the server's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerVerification {
    /// Verify the chain against the roots and the name (the default).
    WebPki,
    /// **Accept any certificate.** For tests and load generation only: it removes all
    /// protection against an active attacker.
    DangerousAcceptAnyCertificate,
}

/// Configuration for [`ClientConnection`](crate::ClientConnection)s. Cloning shares the
/// session store, key log and metrics (they are `Arc`s); give a clone its own store to keep
/// its sessions apart (e.g. one per virtual client in a load generator).
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Trust anchors.
    pub roots: RootStore,
    /// Certificate checking.
    pub verification: ServerVerification,
    /// Suites offered, in preference order.
    pub suites: Vec<&'static CipherSuite>,
    /// Groups offered, in preference order.
    pub groups: Vec<NamedGroup>,
    /// Signature schemes offered.
    pub signature_schemes: Vec<SignatureScheme>,
    /// ALPN protocols offered.
    pub alpn_protocols: Vec<Vec<u8>>,
    /// Offer the extended master secret.
    pub extended_master_secret: bool,
    /// Abort if the server does not negotiate EMS.
    pub require_extended_master_secret: bool,
    /// Randomness.
    pub rng: Arc<dyn RandomSource>,
    /// Cap on one received handshake message.
    pub max_handshake_message: usize,
    /// Sessions remembered per server name; `None` disables resumption.
    pub session_store: Option<Arc<ClientSessionStore>>,
    /// Offer the SessionTicket extension and resume with tickets (RFC 5077).
    pub enable_tickets: bool,
    /// Receives master secrets in SSLKEYLOGFILE form.
    pub key_log: Option<Arc<dyn KeyLog>>,
    /// Counters (handshakes, resumptions, alerts); `None` counts nothing.
    pub metrics: Option<Arc<Metrics>>,
    /// The certificate and key sent when a server asks (RFC 5246 §7.4.6); `None` answers
    /// with an empty Certificate.
    pub client_certificate: Option<Arc<CertifiedKey>>,
    /// Hand the CertificateVerify signature to the caller (`Event::NeedSignature`) instead
    /// of signing inline, as a server's `offload_signing` does (a key in an HSM, a signing
    /// service, a worker pool).
    pub offload_signing: bool,
}

impl core::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("roots", &self.roots.len())
            .field("verification", &self.verification)
            .finish_non_exhaustive()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self::new(RootStore::new())
    }
}

impl ClientConfig {
    /// Defaults: verify against `roots`, every suite and group, EMS offered.
    pub fn new(roots: RootStore) -> Self {
        Self {
            roots,
            verification: ServerVerification::WebPki,
            suites: ALL_SUITES.to_vec(),
            groups: NamedGroup::ALL.to_vec(),
            signature_schemes: SignatureScheme::CLIENT_DEFAULT.to_vec(),
            alpn_protocols: Vec::new(),
            extended_master_secret: true,
            require_extended_master_secret: false,
            rng: Arc::new(BufferedRandom::new()),
            max_handshake_message: DEFAULT_MAX_HANDSHAKE_MESSAGE,
            session_store: None,
            enable_tickets: true,
            key_log: None,
            metrics: None,
            client_certificate: None,
            offload_signing: false,
        }
    }

    /// A config that accepts any server certificate. **Dangerous**: tests and load only.
    pub fn dangerous_insecure() -> Self {
        let mut c = Self::new(RootStore::new());
        c.verification = ServerVerification::DangerousAcceptAnyCertificate;
        c
    }
}
