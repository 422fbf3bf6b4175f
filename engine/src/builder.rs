//! Builders for [`ServerConfig`] and [`ClientConfig`] with safe, fast defaults: every suite
//! and group the engine implements, the extended master secret (RFC 7627), and resumption on
//! both ways — a session-ID cache and RFC 5077 tickets under keys that rotate themselves.

use std::sync::Arc;

use pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{CertifiedKey, ClientConfig, ConfigError, ServerConfig, ServerVerification};
use crate::crypto::verify::RootStore;
use crate::keylog::KeyLog;
use crate::metrics::Metrics;
use crate::resolve::ResolvesServerCert;
use crate::rng::RandomSource;
use crate::session::{
    ClientSessionStore, RotationPolicy, SessionCache, SessionIdKey, SessionStore, TicketKeyRing,
    TicketKeys, DEFAULT_TICKET_LIFETIME,
};

/// Bytes the default in-memory session cache may hold (about 80,000 sessions).
pub const DEFAULT_SESSION_CACHE_BYTES: usize = 16 << 20;

/// How often the default ticket key is replaced by a fresh one.
pub const DEFAULT_TICKET_ROTATION: u64 = 3600;

/// Sessions a default client remembers (one per server name).
pub const DEFAULT_CLIENT_SESSIONS: usize = 256;

/// Where resumed sessions come from, by session ID (RFC 5246 §7.4.1.2).
enum SessionIds {
    Cache(usize),
    Store(Arc<dyn SessionStore>),
    Off,
}

/// Where ticket keys come from (RFC 5077 §4).
enum Tickets {
    Rotating,
    Keys(Arc<TicketKeys>),
    Off,
}

/// Builds a [`ServerConfig`]; start with [`ServerConfig::builder`].
///
/// Unless told otherwise, the server resumes sessions both ways: a session-ID cache of
/// [`DEFAULT_SESSION_CACHE_BYTES`] and tickets sealed under a key that is replaced every
/// [`DEFAULT_TICKET_ROTATION`] seconds (old keys keep decrypting for the session lifetime).
/// The rotation runs on the time the driver passes to `receive`, from the first handshake on.
#[must_use]
pub struct ServerConfigBuilder {
    config: ServerConfig,
    error: Option<ConfigError>,
    session_ids: SessionIds,
    session_id_key: Option<SessionIdKey>,
    tickets: Tickets,
    /// Seconds a session may be resumed by ID.
    session_timeout: u32,
    /// Seconds a ticket may be used (its lifetime hint).
    ticket_lifetime: u32,
    /// Seconds the builder's own ticket key encrypts before a fresh one replaces it.
    ticket_rotation: u64,
}

/// Whole seconds of `duration`, at least one and at most `u32::MAX`.
fn whole_seconds(duration: std::time::Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX).max(1)
}

impl ServerConfig {
    /// A builder with safe, fast defaults and resumption on; see [`ServerConfigBuilder`].
    pub fn builder() -> ServerConfigBuilder {
        ServerConfigBuilder {
            config: ServerConfig::new(),
            error: None,
            session_ids: SessionIds::Cache(DEFAULT_SESSION_CACHE_BYTES),
            session_id_key: None,
            tickets: Tickets::Rotating,
            session_timeout: DEFAULT_TICKET_LIFETIME as u32,
            ticket_lifetime: DEFAULT_TICKET_LIFETIME as u32,
            ticket_rotation: DEFAULT_TICKET_ROTATION,
        }
    }
}

impl ServerConfigBuilder {
    fn keep_first_error(mut self, result: Result<(), ConfigError>) -> Self {
        if let (Err(e), None) = (result, &self.error) {
            self.error = Some(e);
        }
        self
    }

    /// Adds a certificate chain (leaf first) and its private key, as pki-types values. The
    /// first certificate of each key type is also served when the client names no host, or
    /// one no certificate is for. A key that does not match its certificate is refused at
    /// [`build`](Self::build).
    pub fn certificate(
        self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        let chain = chain.into_iter().map(|c| c.to_vec()).collect();
        self.certificate_der(chain, key.secret_der())
    }

    /// Adds a certificate chain and key from PEM text (RFC 7468), e.g. the contents of
    /// `fullchain.pem` and `privkey.pem`.
    pub fn certificate_pem(mut self, chain_pem: &[u8], key_pem: &[u8]) -> Self {
        let result = self
            .config
            .add_certificate_pem(chain_pem, key_pem)
            .map(|_| ());
        self = self.keep_first_error(result);
        self
    }

    /// Adds a certificate chain (leaf first, DER) and its private key (PKCS#8, SEC1 or
    /// PKCS#1 DER).
    pub fn certificate_der(mut self, chain: Vec<Vec<u8>>, key_der: &[u8]) -> Self {
        let result =
            CertifiedKey::new(chain, key_der).map(|cert| self.config.certificates.add(cert));
        self = self.keep_first_error(result);
        self
    }

    /// Chooses certificates per handshake (by SNI) with `resolver` instead of the ones added.
    pub fn cert_resolver(mut self, resolver: Arc<dyn ResolvesServerCert>) -> Self {
        self.config.cert_resolver = Some(resolver);
        self
    }

    /// ALPN protocols in preference order (RFC 7301), e.g. `[b"h2", b"http/1.1"]`.
    pub fn alpn<P: AsRef<[u8]>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.config.alpn_protocols = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// How long a session may be resumed, by ID and by ticket alike (the ticket's lifetime
    /// hint, RFC 5077 §3.3, in whole seconds: at least one, at most `u32::MAX`);
    /// [`DEFAULT_TICKET_LIFETIME`] seconds unless set. [`session_timeout`](Self::session_timeout)
    /// and [`ticket_lifetime`](Self::ticket_lifetime) set one of the two.
    pub fn session_lifetime(mut self, lifetime: std::time::Duration) -> Self {
        self.session_timeout = whole_seconds(lifetime);
        self.ticket_lifetime = self.session_timeout;
        self
    }

    /// How long a session may be resumed by ID (RFC 5246 §7.4.1.2 suggests at most 24
    /// hours), in whole seconds; the session lifetime unless set.
    pub fn session_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.session_timeout = whole_seconds(timeout);
        self
    }

    /// How long a ticket may be used: its lifetime hint (RFC 5077 §3.3), in whole seconds;
    /// the session lifetime unless set. Ticket keys decrypt for this long after they stop
    /// encrypting.
    pub fn ticket_lifetime(mut self, lifetime: std::time::Duration) -> Self {
        self.ticket_lifetime = whole_seconds(lifetime);
        self
    }

    /// How often the server's own ticket key is replaced by a fresh one
    /// ([`DEFAULT_TICKET_ROTATION`] seconds unless set; never longer than the ticket
    /// lifetime). No effect with [`ticket_keys`](Self::ticket_keys), whose keys rotate where
    /// they come from.
    pub fn ticket_rotation(mut self, every: std::time::Duration) -> Self {
        self.ticket_rotation = every.as_secs().max(1);
        self
    }

    /// The rotation the built configuration's own ticket keys follow: a key encrypts for the
    /// [rotation period](Self::ticket_rotation), then decrypts for the
    /// [ticket lifetime](Self::ticket_lifetime), so every ticket it sealed opens until it
    /// expires. Keys made outside the builder (a key file, a fleet's ring) should follow it
    /// too.
    pub fn rotation_policy(&self) -> RotationPolicy {
        RotationPolicy::for_tickets(self.ticket_rotation, u64::from(self.ticket_lifetime))
    }

    /// Keeps sessions for resumption by ID in `store` (e.g. a store shared by a fleet)
    /// instead of the in-memory cache.
    pub fn session_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.session_ids = SessionIds::Store(store);
        self
    }

    /// The in-memory session cache's budget in bytes ([`DEFAULT_SESSION_CACHE_BYTES`]).
    pub fn session_cache_bytes(mut self, bytes: usize) -> Self {
        self.session_ids = SessionIds::Cache(bytes);
        self
    }

    /// No resumption by session ID.
    pub fn without_session_ids(mut self) -> Self {
        self.session_ids = SessionIds::Off;
        self
    }

    /// Marks the session IDs this server issues with `key`, so IDs no server holding the key
    /// issued skip the store. Servers sharing a [`session_store`](Self::session_store) share
    /// the key, so each recognises the others' IDs. Unless set, the in-memory cache gets a
    /// fresh random key and a store none (every offered ID is looked up).
    pub fn session_id_key(mut self, key: SessionIdKey) -> Self {
        self.session_id_key = Some(key);
        self
    }

    /// Seals tickets under `keys` (e.g. keys loaded from a file or shared by a fleet) instead
    /// of a ring of this server's own.
    pub fn ticket_keys(mut self, keys: Arc<TicketKeys>) -> Self {
        self.tickets = Tickets::Keys(keys);
        self
    }

    /// No session tickets.
    pub fn without_tickets(mut self) -> Self {
        self.tickets = Tickets::Off;
        self
    }

    /// Receives each handshake's master secret in SSLKEYLOGFILE form (for Wireshark).
    pub fn key_log(mut self, log: Arc<dyn KeyLog>) -> Self {
        self.config.key_log = Some(log);
        self
    }

    /// Counts handshakes, resumptions and alerts into `metrics` (none unless set).
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.config.metrics = Some(metrics);
        self
    }

    /// Refuses a handshake message longer than `bytes` with a fatal alert;
    /// [`MAX_CLIENT_HELLO_LEN`](crate::MAX_CLIENT_HELLO_LEN) (every legal ClientHello) unless
    /// set.
    pub fn max_handshake_message(mut self, bytes: usize) -> Self {
        self.config.max_handshake_message = bytes;
        self
    }

    /// Randomness for randoms, keys and tickets; a [`SeededRandom`](crate::rng::SeededRandom)
    /// makes handshakes reproducible byte for byte (tests only).
    pub fn random_source(mut self, rng: Arc<dyn RandomSource>) -> Self {
        self.config.rng = rng;
        self
    }

    /// Refuse the extended master secret's absence (RFC 7627 §5.2): clients that do not
    /// offer it fail the handshake.
    pub fn require_extended_master_secret(mut self) -> Self {
        self.config.require_extended_master_secret = true;
        self
    }

    /// Ends, with a fatal unrecognized_name alert, a handshake for a server name no
    /// certificate is for (RFC 6066 §3), instead of serving the default certificate.
    pub fn strict_sni(mut self) -> Self {
        self.config.strict_sni = true;
        self
    }

    /// Asks every client for a certificate and verifies it (RFC 5246 §7.4.4-§7.4.8):
    /// [`ClientAuth::required`](crate::ClientAuth::required) refuses a client without one,
    /// [`ClientAuth::optional`](crate::ClientAuth::optional) lets it in unauthenticated. The
    /// verified chain is [`ServerConnection::peer_certificates`](crate::ServerConnection::peer_certificates).
    /// Sessions do not carry the client's identity yet, so with client authentication every
    /// handshake is a full one (no session ID kept, no ticket issued, none resumed).
    pub fn client_auth(mut self, auth: crate::ClientAuth) -> Self {
        self.config.client_auth = Some(Arc::new(auth));
        self
    }

    /// Hands ServerKeyExchange signatures to the caller ([`Event::NeedSignature`]) instead of
    /// signing inline.
    ///
    /// [`Event::NeedSignature`]: crate::Event::NeedSignature
    pub fn offload_signing(mut self) -> Self {
        self.config.offload_signing = true;
        self
    }

    /// The configuration, checked ([`ServerConfig::validate`]): the first certificate or key
    /// that was refused, or a configuration that could not serve any handshake, is an error.
    pub fn build(self) -> Result<Arc<ServerConfig>, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let policy = self.rotation_policy();
        let mut config = self.config;
        config.session_timeout = self.session_timeout;
        config.ticket_lifetime = self.ticket_lifetime;
        match self.session_ids {
            SessionIds::Cache(bytes) => {
                config.session_store =
                    Some(Arc::new(SessionCache::new(bytes, self.session_timeout)));
                config.session_id_key = match self.session_id_key {
                    Some(key) => Some(key),
                    // IDs this server issues carry a MAC, so foreign ones skip the cache.
                    None => {
                        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
                        config
                            .rng
                            .fill(&mut secret[..])
                            .map_err(|_| ConfigError::Randomness)?;
                        Some(SessionIdKey::new(&secret[..]))
                    }
                };
            }
            SessionIds::Store(store) => {
                config.session_store = Some(store);
                config.session_id_key = self.session_id_key;
            }
            SessionIds::Off => config.session_store = None,
        }
        config.tickets = match self.tickets {
            // Keys are made at the first handshake offering tickets, on the driver's clock.
            Tickets::Rotating => Some(Arc::new(TicketKeys::new(TicketKeyRing::unstarted(policy)))),
            Tickets::Keys(keys) => Some(keys),
            Tickets::Off => None,
        };
        config.validate()?;
        Ok(Arc::new(config))
    }
}

/// Builds a [`ClientConfig`]; start with [`ClientConfig::builder`].
///
/// Unless told otherwise, the client verifies the server's certificate against the roots
/// given (WebPKI rules, the name it connects to) and resumes: it remembers a session per
/// server name ([`DEFAULT_CLIENT_SESSIONS`] names) and offers tickets.
#[must_use]
pub struct ClientConfigBuilder {
    config: ClientConfig,
    error: Option<ConfigError>,
    sessions: Option<Arc<ClientSessionStore>>,
}

impl ClientConfig {
    /// A builder with safe defaults and resumption on; see [`ClientConfigBuilder`].
    pub fn builder() -> ClientConfigBuilder {
        ClientConfigBuilder {
            config: ClientConfig::new(RootStore::new()),
            error: None,
            sessions: Some(Arc::new(ClientSessionStore::new(DEFAULT_CLIENT_SESSIONS))),
        }
    }
}

impl ClientConfigBuilder {
    /// Trusts the certificates in `roots`.
    pub fn roots(mut self, roots: RootStore) -> Self {
        self.config.roots = roots;
        self
    }

    /// Trusts one more root certificate.
    pub fn root(mut self, root: CertificateDer<'_>) -> Self {
        if let Err(e) = self.config.roots.add_der(&root) {
            self.error.get_or_insert(ConfigError::MalformedCertificate {
                index: self.config.roots.len(),
                reason: format!("{e:?}"),
            });
        }
        self
    }

    /// Trusts every CERTIFICATE block of `pem` (e.g. a CA bundle).
    pub fn roots_pem(mut self, pem: &[u8]) -> Self {
        match crate::pem::certificates(pem) {
            Ok(certs) => {
                for der in certs {
                    self = self.root(CertificateDer::from(der));
                }
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// ALPN protocols to offer, in preference order (RFC 7301).
    pub fn alpn<P: AsRef<[u8]>>(mut self, protocols: impl IntoIterator<Item = P>) -> Self {
        self.config.alpn_protocols = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Remembers sessions in `store` (e.g. one shared by several configs).
    pub fn session_store(mut self, store: Arc<ClientSessionStore>) -> Self {
        self.sessions = Some(store);
        self
    }

    /// Presents `chain` (DER, leaf first) and proves `key_der` (PKCS#8, SEC1 or PKCS#1) when
    /// a server asks for a certificate (RFC 5246 §7.4.6, §7.4.8).
    pub fn client_certificate(mut self, chain: Vec<Vec<u8>>, key_der: &[u8]) -> Self {
        match CertifiedKey::new(chain, key_der) {
            Ok(cert) => self.config.client_certificate = Some(Arc::new(cert)),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Hands the CertificateVerify signature to the caller ([`Event::NeedSignature`],
    /// answered with [`Connection::provide_signature`]) instead of signing inline.
    ///
    /// [`Event::NeedSignature`]: crate::Event::NeedSignature
    /// [`Connection::provide_signature`]: crate::Connection::provide_signature
    pub fn offload_signing(mut self) -> Self {
        self.config.offload_signing = true;
        self
    }

    /// No resumption: every connection makes a full handshake.
    pub fn without_resumption(mut self) -> Self {
        self.sessions = None;
        self
    }

    /// No session tickets (resumption by session ID only).
    pub fn without_tickets(mut self) -> Self {
        self.config.enable_tickets = false;
        self
    }

    /// Receives each handshake's master secret in SSLKEYLOGFILE form (for Wireshark).
    pub fn key_log(mut self, log: Arc<dyn KeyLog>) -> Self {
        self.config.key_log = Some(log);
        self
    }

    /// Randomness; a [`SeededRandom`](crate::rng::SeededRandom) makes handshakes
    /// reproducible (tests only).
    pub fn random_source(mut self, rng: Arc<dyn RandomSource>) -> Self {
        self.config.rng = rng;
        self
    }

    /// **Accepts any server certificate.** Removes all protection against an active
    /// attacker: tests and load generation only.
    pub fn dangerous_accept_any_certificate(mut self) -> Self {
        self.config.verification = ServerVerification::DangerousAcceptAnyCertificate;
        self
    }

    /// The configuration. A client that verifies certificates needs at least one root.
    pub fn build(self) -> Result<Arc<ClientConfig>, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut config = self.config;
        if config.verification == ServerVerification::WebPki && config.roots.is_empty() {
            return Err(ConfigError::NoRoots);
        }
        config.session_store = self.sessions;
        Ok(Arc::new(config))
    }
}
