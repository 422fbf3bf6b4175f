//! Server and client configuration. Everything a config fixes is computed once here (e.g. the
//! encoded Certificate message) and shared by every connection through an `Arc`.

use std::sync::Arc;

use crate::codec::encode_certificate;
use crate::crypto::kx::NamedGroup;
use crate::crypto::sign::{KeyError, SignatureScheme, SigningKey};
use crate::crypto::suites::{AuthKind, CipherSuite, ALL_SUITES};
use crate::crypto::verify::RootStore;
use crate::keylog::KeyLog;
use crate::metrics::Metrics;
use crate::rng::{BufferedRandom, RandomSource};
use crate::session::client::ClientSessionStore;
use crate::session::store::SessionStore;
use crate::session::ticket::TicketKeys;

/// Default cap on one handshake message (certificate chains are the large ones).
pub const DEFAULT_MAX_HANDSHAKE_MESSAGE: usize = 64 * 1024;

/// A certificate chain with its private key, and the Certificate message precomputed.
#[derive(Debug)]
pub struct CertifiedKey {
    chain: Vec<Vec<u8>>,
    key: SigningKey,
    certificate_message: Vec<u8>,
}

impl CertifiedKey {
    /// A chain (leaf first, DER) and the leaf's private key (DER: PKCS#8, SEC1 or PKCS#1).
    pub fn new(chain: Vec<Vec<u8>>, key_der: &[u8]) -> Result<Self, KeyError> {
        if chain.is_empty() {
            return Err(KeyError::Unsupported("empty certificate chain".into()));
        }
        let key = SigningKey::from_der(key_der)?;
        let mut certificate_message = Vec::new();
        encode_certificate(&chain, &mut certificate_message).map_err(|e| {
            KeyError::Unsupported(format!("certificate chain cannot be encoded: {e}"))
        })?;
        Ok(Self {
            chain,
            key,
            certificate_message,
        })
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
pub struct ServerConfig {
    /// Certificates; the server picks by the suite's key type (one ECDSA and one RSA at most
    /// are useful).
    pub(crate) certificates: Vec<CertifiedKey>,
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
    /// Cap on one received handshake message.
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
}

impl core::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("certificates", &self.certificates.len())
            .field(
                "suites",
                &self.suites.iter().map(|s| s.name).collect::<Vec<_>>(),
            )
            .field("groups", &self.groups)
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
            certificates: Vec::new(),
            suites: ALL_SUITES.to_vec(),
            groups: NamedGroup::ALL.to_vec(),
            alpn_protocols: Vec::new(),
            extended_master_secret: true,
            require_extended_master_secret: false,
            rng: Arc::new(BufferedRandom::new()),
            max_handshake_message: 16 * 1024,
            session_store: None,
            session_timeout: 300,
            tickets: None,
            ticket_lifetime: 3600,
            key_log: None,
            metrics: None,
            offload_signing: false,
            session_id_key: None,
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

    /// Adds a certificate chain (leaf first, DER) and its key (DER).
    pub fn add_certificate(
        &mut self,
        chain: Vec<Vec<u8>>,
        key_der: &[u8],
    ) -> Result<&mut Self, KeyError> {
        let ck = CertifiedKey::new(chain, key_der)?;
        self.certificates
            .retain(|c| c.key.auth_kind() != ck.key.auth_kind());
        self.certificates.push(ck);
        Ok(self)
    }

    /// Adds a certificate chain and key from PEM text.
    pub fn add_certificate_pem(
        &mut self,
        chain_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<&mut Self, KeyError> {
        let chain = crate::pem::certificates(chain_pem).map_err(KeyError::Unsupported)?;
        let key = crate::pem::private_key(key_pem).map_err(KeyError::Unsupported)?;
        self.add_certificate(chain, &key)
    }

    /// The certificate for a key type.
    pub fn certificate_for(&self, auth: AuthKind) -> Option<&CertifiedKey> {
        self.certificates.iter().find(|c| c.key.auth_kind() == auth)
    }

    /// Configured certificates.
    pub fn certificates(&self) -> &[CertifiedKey] {
        &self.certificates
    }
}

/// How a client checks the server's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        }
    }

    /// A config that accepts any server certificate. **Dangerous**: tests and load only.
    pub fn dangerous_insecure() -> Self {
        let mut c = Self::new(RootStore::new());
        c.verification = ServerVerification::DangerousAcceptAnyCertificate;
        c
    }
}
