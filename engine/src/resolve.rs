//! Which certificates a handshake may present, chosen by the server name the client asked for
//! (SNI, RFC 6066 §3). A [`ResolvesServerCert`] maps a name to a [`CertificateSet`] — at most
//! one ECDSA and one RSA certificate, the suite then picks by key type. The ready
//! implementation, [`CertificatesByName`], serves each certificate for the DNS names in its
//! subject alternative names, wildcards included (`*.example.com` matches one label, RFC 6125
//! §6.4.3), and a default set for no or an unknown name. A `ServerConfig` holds one and adds
//! every certificate to it; a custom resolver replaces it (`ServerConfig::cert_resolver`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::config::CertifiedKey;
use crate::crypto::suites::AuthKind;

/// The certificates one name is served with: at most one per key type.
#[derive(Clone, Debug, Default)]
pub struct CertificateSet {
    ecdsa: Option<Arc<CertifiedKey>>,
    rsa: Option<Arc<CertifiedKey>>,
}

impl CertificateSet {
    /// The certificate for key type `auth`.
    pub fn for_auth(&self, auth: AuthKind) -> Option<&Arc<CertifiedKey>> {
        match auth {
            AuthKind::Ecdsa => self.ecdsa.as_ref(),
            AuthKind::Rsa => self.rsa.as_ref(),
        }
    }

    /// Puts `cert` in the place of its key type (replacing one there).
    pub fn insert(&mut self, cert: Arc<CertifiedKey>) {
        match cert.key().auth_kind() {
            AuthKind::Ecdsa => self.ecdsa = Some(cert),
            AuthKind::Rsa => self.rsa = Some(cert),
        }
    }

    /// True when it holds no certificate.
    pub fn is_empty(&self) -> bool {
        self.ecdsa.is_none() && self.rsa.is_none()
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<CertifiedKey>> {
        self.ecdsa.iter().chain(self.rsa.iter())
    }
}

/// Chooses the certificates for a full handshake from the server name the client sent (a
/// resumption sends none and does not ask).
pub trait ResolvesServerCert: Send + Sync {
    /// The certificates for `server_name` (lower-cased; `None` without SNI), or `None` to
    /// serve none (the handshake then fails: no suite can be authenticated).
    fn resolve(&self, server_name: Option<&str>) -> Option<Arc<CertificateSet>>;
}

/// Certificates served by the names they are for, with a default set.
#[derive(Clone, Debug, Default)]
pub struct CertificatesByName {
    default: Arc<CertificateSet>,
    exact: NameMap,
    /// Keyed by what follows `*.` in the wildcard name.
    wildcard: NameMap,
}

/// The configured names: every handshake looks its SNI name up here.
type NameMap = HashMap<String, Arc<CertificateSet>, BuildHasherDefault<NameHasher>>;

/// FNV-1a over a name. The maps hold only configured names, so the keyed hash `HashMap`
/// defaults to (against an attacker choosing the keys inserted) buys nothing here: a client
/// only looks names up, and a lookup costs at most a probe through a table of the operator's
/// names. This one costs a fraction of SipHash on a short name.
#[derive(Clone, Copy)]
struct NameHasher(u64);

impl Default for NameHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl CertificatesByName {
    /// No certificate yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `cert` for every DNS name of its leaf; it is also the default of its key type
    /// when the default set has none yet (so the first certificate of each type added is
    /// the one for clients without SNI or with a name no certificate has).
    pub fn add(&mut self, cert: CertifiedKey) {
        self.insert(Arc::new(cert), false);
    }

    /// Serves `cert` for its names and makes it the default of its key type.
    pub fn set_default(&mut self, cert: CertifiedKey) {
        self.insert(Arc::new(cert), true);
    }

    fn insert(&mut self, cert: Arc<CertifiedKey>, default: bool) {
        for name in cert.names() {
            let (map, key) = match name.strip_prefix("*.") {
                Some(rest) => (&mut self.wildcard, rest.to_string()),
                None => (&mut self.exact, name.clone()),
            };
            Arc::make_mut(map.entry(key).or_default()).insert(cert.clone());
        }
        if default || self.default.for_auth(cert.key().auth_kind()).is_none() {
            Arc::make_mut(&mut self.default).insert(cert);
        }
    }

    /// The default set (no SNI, or a name no certificate has).
    pub fn default_set(&self) -> &CertificateSet {
        &self.default
    }

    /// Every certificate held, each once, in the order added.
    pub fn all(&self) -> Vec<Arc<CertifiedKey>> {
        let mut all: Vec<Arc<CertifiedKey>> = Vec::new();
        let sets = std::iter::once(&self.default)
            .chain(self.exact.values())
            .chain(self.wildcard.values());
        for set in sets {
            for cert in set.iter() {
                if !all.iter().any(|c| Arc::ptr_eq(c, cert)) {
                    all.push(cert.clone());
                }
            }
        }
        all
    }

    /// True when no certificate was added.
    pub fn is_empty(&self) -> bool {
        self.default.is_empty() && self.exact.is_empty() && self.wildcard.is_empty()
    }

    /// Whether a certificate is for `name` itself (exactly or by a wildcard), not only as
    /// the default.
    pub fn has_name(&self, name: &str) -> bool {
        !Arc::ptr_eq(self.resolve_name(Some(name)), &self.default)
    }

    /// The set for `server_name`: its own, else a wildcard's over its first label, else the
    /// default.
    pub fn resolve_name(&self, server_name: Option<&str>) -> &Arc<CertificateSet> {
        let Some(name) = server_name else {
            return &self.default;
        };
        if let Some(set) = self.exact.get(name) {
            return set;
        }
        // RFC 6125 §6.4.3: the wildcard stands for exactly one, non-empty, leftmost label.
        if let Some((first, rest)) = name.split_once('.') {
            if !first.is_empty() && rest.contains('.') {
                if let Some(set) = self.wildcard.get(rest) {
                    return set;
                }
            }
        }
        &self.default
    }
}

impl ResolvesServerCert for CertificatesByName {
    fn resolve(&self, server_name: Option<&str>) -> Option<Arc<CertificateSet>> {
        Some(self.resolve_name(server_name).clone())
    }
}
