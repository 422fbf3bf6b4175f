//! Client certificates on the server (RFC 5246 §7.4.4 CertificateRequest, §7.4.6 the client's
//! Certificate, §7.4.8 CertificateVerify): whom the server trusts to issue them, whether one
//! is required, the revocation lists it checks, and the verified chain a connection exposes.

use pki_types::{CertificateDer, UnixTime};
use smallvec::SmallVec;
use webpki::{CertRevocationList, EndEntityCert, KeyUsage, OwnedCertRevocationList};

use crate::config::ConfigError;
use crate::crypto::sign::SignatureScheme;
use crate::crypto::verify::{self, RootStore};
use crate::error::{CertificateError, ResumptionFailure};

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
    crls: Vec<std::sync::Arc<CertRevocationList<'static>>>,
    /// [`issuer_hash`] of each list's issuer, in the order of `crls`.
    crl_issuers: Vec<[u8; 8]>,
    required: bool,
    /// The `certificate_authorities` list of the CertificateRequest (each entry a u16 length
    /// and a DER Name); empty when the names are not sent.
    authorities: Vec<u8>,
    /// Digest of the roots alone: what a session's client identity is bound to.
    roots_epoch: u64,
    /// Digest of what decides whom the server trusts: the roots and the revocation lists.
    epoch: [u8; 32],
    /// Whether the caller approves each verified client (`Event::NeedClientApproval`).
    approval: bool,
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
            crl_issuers: Vec::new(),
            required,
            authorities,
            roots_epoch: first_u64(&epoch),
            epoch,
            approval: false,
        }
    }

    /// Checks client chains against these certificate revocation lists (DER): a revoked
    /// certificate gets certificate_revoked. A list that does not parse is refused.
    pub fn with_crls<'a>(
        mut self,
        crls: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self, ConfigError> {
        for der in crls {
            let crl = CertRevocationList::Owned(
                OwnedCertRevocationList::from_der(der)
                    .map_err(|e| ConfigError::RevocationList(format!("{e:?}")))?,
            );
            self.crl_issuers.push(issuer_hash(crl.issuer()));
            self.crls.push(std::sync::Arc::new(crl));
            let mut digest = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            digest.update(&self.epoch);
            digest.update(der);
            self.epoch.copy_from_slice(digest.finish().as_ref());
        }
        Ok(self)
    }

    /// The trust epoch: a number that changes whenever the roots or the revocation lists
    /// do (a digest of them), the same on every server given the same files. Operators
    /// compare it across a fleet.
    pub fn trust_epoch(&self) -> u64 {
        first_u64(&self.epoch)
    }

    /// The roots' part of the trust epoch: what a session made with a client certificate is
    /// bound to. A session made under other roots is not resumed; revocation lists are
    /// checked against the session's certificate directly, so replacing them does not end
    /// the sessions of clients they do not revoke.
    pub fn roots_epoch(&self) -> u64 {
        self.roots_epoch
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

    /// Asks the caller about every client whose certificate verified, by its own policy (an
    /// allow-list of subjects, a database): the handshake stops with
    /// [`Event::NeedClientApproval`](crate::Event::NeedClientApproval) before the server's
    /// next flight (after the client's Finished in a full handshake, before the ServerHello of
    /// a resumption, whose session keeps the client's identity) and goes on when the caller
    /// answers with [`Connection::approve_client`](crate::Connection::approve_client);
    /// a refusal sends access_denied. Nothing blocks meanwhile. Clients without a
    /// certificate (where they are optional) are not asked about.
    ///
    /// Blocking adapters ([`Stream`](crate::Stream)) cannot ask anyone: they refuse.
    pub fn with_approval(mut self) -> Self {
        self.approval = true;
        self
    }

    /// Whether the caller approves each verified client ([`with_approval`](Self::with_approval)).
    pub fn asks_for_approval(&self) -> bool {
        self.approval
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
    /// lists given. Returns the identity a session made now is bound to.
    pub(crate) fn verify(
        &self,
        chain: &[&[u8]],
        now_secs: u64,
    ) -> Result<ClientIdentity, CertificateError> {
        let Some((leaf, rest)) = chain.split_first() else {
            return Err(CertificateError::Other);
        };
        let leaf_der = CertificateDer::from(*leaf);
        let ee = EndEntityCert::try_from(&leaf_der).map_err(|e| verify::refusal(&e))?;
        let intermediates: Vec<CertificateDer<'_>> =
            rest.iter().map(|c| CertificateDer::from(*c)).collect();
        let crl_refs: Vec<&CertRevocationList<'_>> = self.crls.iter().map(|crl| &**crl).collect();
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
        .map_err(|e| verify::refusal(&e))?;
        Ok(ClientIdentity {
            subject: SmallVec::from_slice(ee.subject()),
            alt_names: SmallVec::from_slice(
                crate::x509::subject_alt_names_der(leaf).unwrap_or(&[]),
            ),
            serial: SmallVec::from_slice(ee.serial()),
            issuer_hash: issuer_hash(ee.issuer()),
            certificate_sha256: crate::x509::sha256(leaf),
            // webpki accepted the validity period, so it reads; a year-10000 date would not.
            not_after: crate::x509::not_after(leaf).unwrap_or(u64::MAX),
            roots_epoch: self.roots_epoch,
        })
    }

    /// Whether a session's client identity may still be trusted at `now` without seeing the
    /// certificate again (the session is resumed): the same roots, the leaf not expired, its
    /// serial in none of the current revocation lists of its issuer. No allocation.
    pub(crate) fn still_trusts(
        &self,
        identity: &ClientIdentity,
        now: u64,
    ) -> Result<(), ResumptionFailure> {
        if identity.roots_epoch != self.roots_epoch {
            return Err(ResumptionFailure::ClientTrustChanged);
        }
        // RFC 5280 §4.1.2.5: notAfter is the last second the certificate is valid.
        if now > identity.not_after {
            return Err(ResumptionFailure::ClientCertificateExpired);
        }
        for (crl, issuer) in self.crls.iter().zip(&self.crl_issuers) {
            if *issuer == identity.issuer_hash
                && !matches!(crl.find_serial(&identity.serial), Ok(None))
            {
                return Err(ResumptionFailure::ClientCertificateRevoked);
            }
        }
        Ok(())
    }
}

/// The first eight bytes of a digest, as a number.
fn first_u64(digest: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// A short digest of an issuer Name (the contents of its SEQUENCE, as certificates and
/// revocation lists both carry it), to find the lists that speak for a certificate.
fn issuer_hash(name: &[u8]) -> [u8; 8] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name);
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest.as_ref()[..8]);
    out
}

/// Who a verified client certificate says the client is, kept with the session it made so
/// that a resumption knows the same client (RFC 5246 §7.3: a resumed session keeps the
/// peer's certificate): the certificate's subject, serial number, fingerprint and expiry,
/// and the roots it was verified against.
///
/// Held inline (no heap) for subjects up to 128 bytes of DER.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The contents of the subject Name SEQUENCE.
    pub(crate) subject: SmallVec<[u8; 128]>,
    /// The contents of the subjectAltName extension's GeneralNames SEQUENCE; empty without.
    pub(crate) alt_names: SmallVec<[u8; 64]>,
    /// The serial number's INTEGER contents.
    pub(crate) serial: SmallVec<[u8; 24]>,
    /// [`issuer_hash`] of the issuer Name.
    pub(crate) issuer_hash: [u8; 8],
    pub(crate) certificate_sha256: [u8; 32],
    /// notAfter, seconds since the Unix epoch.
    pub(crate) not_after: u64,
    /// [`ClientAuth::roots_epoch`] when the certificate was verified.
    pub(crate) roots_epoch: u64,
}

impl ClientIdentity {
    /// The subject as an RFC 4514 string (`CN=device-17,O=Example`), as
    /// [`x509::subject`](crate::x509::subject) writes it.
    pub fn subject(&self) -> String {
        crate::x509::name_to_string(&self.subject).unwrap_or_default()
    }

    /// The subject's common name, when it has one.
    pub fn common_name(&self) -> Option<String> {
        crate::x509::name_common_name(&self.subject)
    }

    /// The subject alternative names, as [`x509::subject_alt_names`](crate::x509::subject_alt_names)
    /// writes them (`DNS:…`, `URI:spiffe://…`, `email:…`, `IP:…`).
    pub fn subject_alt_names(&self) -> Vec<String> {
        crate::x509::general_names(&self.alt_names)
    }

    /// The subject Name's DER contents (inside its SEQUENCE).
    pub fn subject_der(&self) -> &[u8] {
        &self.subject
    }

    /// The serial number in lower-case hex, as `openssl x509 -serial` shows it.
    pub fn serial(&self) -> String {
        crate::x509::serial_hex(&self.serial)
    }

    /// The SHA-256 of the leaf certificate's DER (its fingerprint).
    pub fn certificate_sha256(&self) -> &[u8; 32] {
        &self.certificate_sha256
    }

    /// When the leaf certificate stops being valid, seconds since the Unix epoch.
    pub fn not_after(&self) -> u64 {
        self.not_after
    }

    /// The [`ClientAuth::roots_epoch`] the certificate was verified under.
    pub fn roots_epoch(&self) -> u64 {
        self.roots_epoch
    }
}

impl core::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("subject", &self.subject())
            .field("serial", &self.serial())
            .field("not_after", &self.not_after)
            .field("roots_epoch", &format_args!("{:016x}", self.roots_epoch))
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("roots", &self.roots.len())
            .field("crls", &self.crls.len())
            .field("required", &self.required)
            .field("sends_ca_names", &!self.authorities.is_empty())
            .field("approval", &self.approval)
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
