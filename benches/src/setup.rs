//! Matching configurations for both stacks: same certificate, suite (AES-128-GCM), group,
//! extended master secret, ALPN `http/1.1`, SNI `localhost`, certificate verification on the
//! client, and resumption mode.

use std::sync::Arc;

use reprise::internal::suites::{ECDHE_ECDSA_AES128_GCM_SHA256, ECDHE_RSA_AES128_GCM_SHA256};
use reprise::rng::{RandomSource, SystemRandom};
use reprise::session::ClientSessionStore;
use reprise::session::SessionCache;
use reprise::session::{RotationPolicy, TicketKeyRing, TicketKeys};
use reprise::{NamedGroup, RootStore};
use rustls::client::{Resumption, Tls12Resumption};
use rustls::crypto::aws_lc_rs as rl;
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache};

use crate::pki::{pki, CertKind, NOW};

/// The ECDHE group a server insists on (clients offer X25519 then P-256).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// X25519.
    X25519,
    /// secp256r1.
    P256,
}

impl Group {
    /// Short label.
    pub fn label(self) -> &'static str {
        match self {
            Group::X25519 => "x25519",
            Group::P256 => "p256",
        }
    }
}

/// How the measured handshakes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Full handshakes, nothing remembered on either side.
    Full,
    /// Abbreviated handshakes resuming a session ID from the server's cache.
    SessionId,
    /// Abbreviated handshakes resuming an RFC 5077 ticket (no server-side state).
    Ticket,
}

/// A handshake scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The server's certificate.
    pub cert: CertKind,
    /// The ECDHE group of the full handshake.
    pub group: Group,
    /// Full or resumed.
    pub resume: Resume,
    /// The server asks for a client certificate and the client presents one (RFC 5246
    /// §7.4.4, §7.4.6, §7.4.8); a resumption resumes such a session.
    pub mutual: bool,
}

impl Scenario {
    /// A full handshake.
    pub const fn full(cert: CertKind, group: Group) -> Self {
        Self {
            cert,
            group,
            resume: Resume::Full,
            mutual: false,
        }
    }

    /// A resumption of an ECDSA/X25519 session.
    pub const fn resumed(resume: Resume) -> Self {
        Self {
            cert: CertKind::EcdsaP256,
            group: Group::X25519,
            resume,
            mutual: false,
        }
    }

    /// The same with a client certificate.
    pub const fn mutual(self) -> Self {
        Self {
            mutual: true,
            ..self
        }
    }

    /// A label such as `full ecdsa-p256 x25519` (`mutual full ecdsa-p256 x25519` with a client
    /// certificate).
    pub fn label(&self) -> String {
        let plain = match self.resume {
            Resume::Full => format!("full {} {}", self.cert.label(), self.group.label()),
            Resume::SessionId => "resume session-id".into(),
            Resume::Ticket => "resume ticket".into(),
        };
        if self.mutual {
            format!("mutual {plain}")
        } else {
            plain
        }
    }
}

/// Reprise's configurations for a scenario.
#[derive(Clone)]
pub struct RepriseConfigs {
    /// Server side.
    pub server: Arc<reprise::ServerConfig>,
    /// Client side.
    pub client: Arc<reprise::ClientConfig>,
}

/// rustls's configurations for a scenario.
#[derive(Clone)]
pub struct RustlsConfigs {
    /// Server side.
    pub server: Arc<rustls::ServerConfig>,
    /// Client side.
    pub client: Arc<rustls::ClientConfig>,
}

/// A ticket key ring with one fresh key.
pub fn reprise_ticket_keys(rng: &dyn RandomSource) -> Result<Arc<TicketKeys>, String> {
    let ring = TicketKeyRing::new(RotationPolicy::default(), NOW, rng)
        .map_err(|e| format!("ticket keys: {e}"))?;
    Ok(Arc::new(TicketKeys::new(ring)))
}

impl Resume {
    /// The resumption an example's argument names: `ticket`, else session ID.
    pub fn from_arg(arg: Option<&str>) -> Self {
        if arg == Some("ticket") {
            Resume::Ticket
        } else {
            Resume::SessionId
        }
    }
}

/// Runs a full handshake between `c`'s client and server, so the client holds a session (and
/// the server its cache entry or ticket key) for the resumptions that follow.
pub fn prime_session(c: &RepriseConfigs) -> Result<(), String> {
    let mut client =
        reprise::ClientConnection::new(c.client.clone(), "localhost").map_err(|e| e.to_string())?;
    let mut server = reprise::ServerConnection::new(c.server.clone());
    crate::cases::pump(&mut client, &mut server, &mut crate::cases::Wire::new())
}

/// Reprise server and client for `s`.
pub fn reprise(s: Scenario) -> Result<RepriseConfigs, String> {
    let pki = pki()?;
    let (chain, key) = pki.chain_and_key(s.cert);
    let mut server = reprise::ServerConfig::new();
    server
        .add_certificate(chain.to_vec(), key)
        .map_err(|e| e.to_string())?;
    let suite = match s.cert {
        CertKind::EcdsaP256 => &ECDHE_ECDSA_AES128_GCM_SHA256,
        CertKind::Rsa2048 => &ECDHE_RSA_AES128_GCM_SHA256,
    };
    server.suites = vec![suite];
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    server.groups = vec![match s.group {
        Group::X25519 => NamedGroup::X25519,
        Group::P256 => NamedGroup::Secp256r1,
    }];
    let mut roots = RootStore::new();
    roots.add_der(&pki.ca_der).map_err(|e| e.to_string())?;
    let mut client = reprise::ClientConfig::new(roots);
    client.suites = vec![suite];
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    client.groups = vec![NamedGroup::X25519, NamedGroup::Secp256r1];
    client.enable_tickets = false;
    if s.mutual {
        let mut client_roots = RootStore::new();
        client_roots
            .add_der(&pki.ca_der)
            .map_err(|e| e.to_string())?;
        server.client_auth = Some(Arc::new(reprise::ClientAuth::required(client_roots)));
        client.client_certificate = Some(Arc::new(
            reprise::CertifiedKey::new(pki.client_chain.clone(), &pki.client_key)
                .map_err(|e| e.to_string())?,
        ));
    }
    match s.resume {
        Resume::Full => {}
        Resume::SessionId => {
            server.session_store = Some(Arc::new(SessionCache::new(4 << 20, 3600)));
            client.session_store = Some(Arc::new(ClientSessionStore::new(16)));
        }
        Resume::Ticket => {
            server.tickets = Some(reprise_ticket_keys(&SystemRandom)?);
            client.session_store = Some(Arc::new(ClientSessionStore::new(16)));
            client.enable_tickets = true;
        }
    }
    Ok(RepriseConfigs {
        server: Arc::new(server),
        client: Arc::new(client),
    })
}

fn provider(
    suite: rustls::SupportedCipherSuite,
    groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup>,
) -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: vec![suite],
        kx_groups: groups,
        ..rl::default_provider()
    })
}

/// rustls server and client for `s` (aws-lc-rs provider, TLS 1.2 only).
pub fn rustls(s: Scenario) -> Result<RustlsConfigs, String> {
    use pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let err = |e: rustls::Error| e.to_string();
    let pki = pki()?;
    let (chain, key) = pki.chain_and_key(s.cert);
    let suite = match s.cert {
        CertKind::EcdsaP256 => rl::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CertKind::Rsa2048 => rl::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    };
    let group: &'static dyn rustls::crypto::SupportedKxGroup = match s.group {
        Group::X25519 => rl::kx_group::X25519,
        Group::P256 => rl::kx_group::SECP256R1,
    };
    let certs: Vec<CertificateDer<'static>> = chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec()));
    let server_provider = provider(suite, vec![group]);
    let builder = rustls::ServerConfig::builder_with_provider(server_provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .map_err(err)?;
    let builder = if s.mutual {
        // rustls's WebPKI client verifier over the same CA.
        let mut client_roots = rustls::RootCertStore::empty();
        client_roots
            .add(CertificateDer::from(pki.ca_der.clone()))
            .map_err(err)?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(client_roots),
            server_provider,
        )
        .build()
        .map_err(|e| e.to_string())?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut server = builder.with_single_cert(certs, key).map_err(err)?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(pki.ca_der.clone()))
        .map_err(err)?;
    let client = rustls::ClientConfig::builder_with_provider(provider(
        suite,
        vec![rl::kx_group::X25519, rl::kx_group::SECP256R1],
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .map_err(err)?
    .with_root_certificates(roots);
    let mut client = if s.mutual {
        let chain: Vec<CertificateDer<'static>> = pki
            .client_chain
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.client_key.clone()));
        client.with_client_auth_cert(chain, key).map_err(err)?
    } else {
        client.with_no_client_auth()
    };
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    match s.resume {
        Resume::Full => {
            server.session_storage = Arc::new(NoServerSessionStorage {});
            client.resumption = Resumption::disabled();
        }
        Resume::SessionId => {
            server.session_storage = ServerSessionMemoryCache::new(1024);
            client.resumption =
                Resumption::in_memory_sessions(16).tls12_resumption(Tls12Resumption::SessionIdOnly);
        }
        Resume::Ticket => {
            server.session_storage = Arc::new(NoServerSessionStorage {});
            server.ticketer = rl::Ticketer::new().map_err(err)?;
            client.resumption = Resumption::in_memory_sessions(16)
                .tls12_resumption(Tls12Resumption::SessionIdOrTickets);
        }
    }
    Ok(RustlsConfigs {
        server: Arc::new(server),
        client: Arc::new(client),
    })
}
