//! Client certificates on the server (RFC 5246 §7.4.4 CertificateRequest, §7.4.6 the client's
//! Certificate, §7.4.8 CertificateVerify): whom the server trusts to issue them, whether one
//! is required, the revocation lists it checks, and the verified chain a connection exposes.

use pki_types::{CertificateDer, UnixTime};
use webpki::{CertRevocationList, EndEntityCert, KeyUsage, OwnedCertRevocationList};

use crate::config::ConfigError;
use crate::crypto::sign::SignatureScheme;
use crate::crypto::verify::{self, RootStore};
use crate::error::CertificateError;

/// The signature schemes a server accepts in a client's CertificateVerify, in its order of
/// preference (all verified with aws-lc-rs through rustls-webpki).
pub(crate) const VERIFY_SCHEMES: [SignatureScheme; 8] = [
    SignatureScheme::ECDSA_SHA256,
    SignatureScheme::ECDSA_SHA384,
    SignatureScheme::RSA_PSS_RSAE_SHA256,
    SignatureScheme::RSA_PSS_RSAE_SHA384,
    SignatureScheme::RSA_PSS_RSAE_SHA512,
    SignatureScheme::RSA_PKCS1_SHA256,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA512,
];

/// `ClientCertificateType` values asked for (RFC 5246 §7.4.4, RFC 8422 §5.5): `rsa_sign`
/// and `ecdsa_sign`.
pub(crate) const CERTIFICATE_TYPES: [u8; 2] = [1, 64];

/// How a server authenticates its clients by certificate.
#[derive(Clone)]
pub struct ClientAuth {
    roots: RootStore,
    crls: Vec<OwnedCertRevocationList>,
    required: bool,
    /// The `certificate_authorities` list of the CertificateRequest (each entry a u16 length
    /// and a DER Name); empty when the names are not sent.
    authorities: Vec<u8>,
    /// Digest of what decides whom the server trusts: the roots and the revocation lists.
    epoch: [u8; 32],
}

impl ClientAuth {
    /// Every client must present a certificate that chains to `roots`, for client
    /// authentication; one without gets a handshake_failure alert (RFC 5246 §7.4.6).
    pub fn required(roots: RootStore) -> Self {
        Self::new(roots, true)
    }

    /// A client may present a certificate (then it must chain to `roots`) or none.
    pub fn optional(roots: RootStore) -> Self {
        Self::new(roots, false)
    }

    fn new(roots: RootStore, required: bool) -> Self {
        let authorities = distinguished_names(&roots);
        let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for anchor in roots.anchors() {
            for part in [
                anchor.subject.as_ref(),
                anchor.subject_public_key_info.as_ref(),
            ] {
                digest.update(&(part.len() as u32).to_be_bytes());
                digest.update(part);
            }
        }
        let mut epoch = [0u8; 32];
        epoch.copy_from_slice(digest.finish().as_ref());
        Self {
            roots,
            crls: Vec::new(),
            required,
            authorities,
            epoch,
        }
    }

    /// Checks client chains against these certificate revocation lists (DER): a revoked
    /// certificate gets certificate_revoked. A list that does not parse is refused.
    pub fn with_crls<'a>(
        mut self,
        crls: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, ConfigError> {
        for der in crls {
            let crl = OwnedCertRevocationList::from_der(der)
                .map_err(|e| ConfigError::RevocationList(format!("{e:?}")))?;
            self.crls.push(crl);
            let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            digest.update(&self.epoch);
            digest.update(der);
            self.epoch.copy_from_slice(digest.finish().as_ref());
        }
        Ok(self)
    }

    /// The trust epoch: a number that changes whenever the roots or the revocation lists
    /// do (a digest of them), the same on every server given the same files. Operators
    /// compare it across a fleet; sessions will carry it, so that one made under other
    /// trust is not resumed.
    pub fn trust_epoch(&self) -> u64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.epoch[..8]);
        u64::from_be_bytes(first)
    }

    /// How many revocation lists are checked.
    pub fn crl_count(&self) -> usize {
        self.crls.len()
    }

    /// Sends an empty `certificate_authorities` list (for large sets of roots, whose names
    /// would make the CertificateRequest large; RFC 5246 §7.4.4 allows any certificate then).
    pub fn without_ca_names(mut self) -> Self {
        self.authorities.clear();
        self
    }

    /// Whether a client without a certificate is refused.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The roots client chains must lead to.
    pub fn roots(&self) -> &RootStore {
        &self.roots
    }

    /// The `certificate_authorities` list sent.
    pub(crate) fn authorities(&self) -> &[u8] {
        &self.authorities
    }

    /// Verifies a client's chain (leaf first) at `now_secs`: a path to a root, each
    /// certificate valid then, the leaf for client authentication, none revoked by the
    /// lists given.
    pub(crate) fn verify(&self, chain: &[&[u8]], now_secs: u64) -> Result<(), CertificateError> {
        let Some((leaf, rest)) = chain.split_first() else {
            return Err(CertificateError::Other);
        };
        let leaf_der = CertificateDer::from(*leaf);
        let ee = EndEntityCert::try_from(&leaf_der).map_err(|e| verify::refusal(&e))?;
        let intermediates: Vec<CertificateDer<'_>> =
            rest.iter().map(|c| CertificateDer::from(*c)).collect();
        let crls: Vec<CertRevocationList<'_>> = self
            .crls
            .iter()
            .map(|crl| CertRevocationList::Owned(crl.clone()))
            .collect();
        let crl_refs: Vec<&CertRevocationList<'_>> = crls.iter().collect();
        let revocation = webpki::RevocationOptionsBuilder::new(&crl_refs)
            .ok()
            .map(|builder| builder.build());
        ee.verify_for_usage(
            verify::CHAIN_ALGS,
            self.roots.anchors(),
            &intermediates,
            UnixTime::since_unix_epoch(core::time::Duration::from_secs(now_secs)),
            KeyUsage::client_auth(),
            revocation,
            None,
        )
        .map(drop)
        .map_err(|e| verify::refusal(&e))
    }
}

impl core::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("roots", &self.roots.len())
            .field("crls", &self.crls.len())
            .field("required", &self.required)
            .field("sends_ca_names", &!self.authorities.is_empty())
            .finish()
    }
}

/// The roots' subjects as CertificateRequest `DistinguishedName` entries (a u16 length and
/// the DER Name, RFC 5246 §7.4.4).
fn distinguished_names(roots: &RootStore) -> Vec<u8> {
    let mut out = Vec::new();
    for anchor in roots.anchors() {
        // The anchor keeps the Name's contents; the list wants the whole SEQUENCE.
        let subject: &[u8] = anchor.subject.as_ref();
        let mut name = vec![0x30];
        let len = subject.len();
        if len < 0x80 {
            name.push(len as u8);
        } else if len < 0x100 {
            name.extend_from_slice(&[0x81, len as u8]);
        } else {
            name.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
        name.extend_from_slice(subject);
        if out.len() + 2 + name.len() > 0xffff {
            break;
        }
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        out.extend_from_slice(&name);
    }
    out
}
