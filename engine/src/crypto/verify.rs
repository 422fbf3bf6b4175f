//! Client-side checks of the server: its certificate chain and name (rustls-webpki with the
//! aws-lc-rs backend) and its ServerKeyExchange signature (RFC 5246 §7.4.3).

use pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};

use crate::error::CertificateError;
use webpki::aws_lc_rs as algs;
use webpki::{EndEntityCert, KeyUsage};

use super::sign::SignatureScheme;
use crate::codec::AlertDescription;

/// Signature algorithms accepted inside certificate chains.
pub(crate) static CHAIN_ALGS: &[&dyn pki_types::SignatureVerificationAlgorithm] = &[
    algs::ECDSA_P256_SHA256,
    algs::ECDSA_P256_SHA384,
    algs::ECDSA_P384_SHA256,
    algs::ECDSA_P384_SHA384,
    algs::ECDSA_P521_SHA256,
    algs::ECDSA_P521_SHA384,
    algs::ECDSA_P521_SHA512,
    algs::RSA_PKCS1_2048_8192_SHA256,
    algs::RSA_PKCS1_2048_8192_SHA384,
    algs::RSA_PKCS1_2048_8192_SHA512,
    algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    algs::ED25519,
];

type Algs = &'static [&'static dyn pki_types::SignatureVerificationAlgorithm];

static ECDSA_SHA256: Algs = &[algs::ECDSA_P256_SHA256, algs::ECDSA_P384_SHA256];
static ECDSA_SHA384: Algs = &[algs::ECDSA_P384_SHA384, algs::ECDSA_P256_SHA384];
static ECDSA_SHA512: Algs = &[
    algs::ECDSA_P256_SHA512,
    algs::ECDSA_P384_SHA512,
    algs::ECDSA_P521_SHA512,
];
static PKCS1_SHA256: Algs = &[algs::RSA_PKCS1_2048_8192_SHA256];
static PKCS1_SHA384: Algs = &[algs::RSA_PKCS1_2048_8192_SHA384];
static PKCS1_SHA512: Algs = &[algs::RSA_PKCS1_2048_8192_SHA512];
static PSS_SHA256: Algs = &[algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY];
static PSS_SHA384: Algs = &[algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY];
static PSS_SHA512: Algs = &[algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY];

/// The webpki algorithms a TLS 1.2 signature scheme may stand for (the ECDSA code points name
/// only the hash in TLS 1.2, so the key's curve decides).
fn scheme_algs(scheme: SignatureScheme) -> Algs {
    match scheme {
        SignatureScheme::ECDSA_SHA256 => ECDSA_SHA256,
        SignatureScheme::ECDSA_SHA384 => ECDSA_SHA384,
        SignatureScheme::ECDSA_SHA512 => ECDSA_SHA512,
        SignatureScheme::RSA_PKCS1_SHA256 => PKCS1_SHA256,
        SignatureScheme::RSA_PKCS1_SHA384 => PKCS1_SHA384,
        SignatureScheme::RSA_PKCS1_SHA512 => PKCS1_SHA512,
        SignatureScheme::RSA_PSS_RSAE_SHA256 => PSS_SHA256,
        SignatureScheme::RSA_PSS_RSAE_SHA384 => PSS_SHA384,
        SignatureScheme::RSA_PSS_RSAE_SHA512 => PSS_SHA512,
        _ => &[],
    }
}

/// Trust anchors a client verifies servers against.
#[derive(Debug, Default, Clone)]
pub struct RootStore {
    anchors: Vec<TrustAnchor<'static>>,
}

impl RootStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a DER CA certificate as a trust anchor.
    pub fn add_der(&mut self, der: &[u8]) -> Result<(), webpki::Error> {
        let cert = CertificateDer::from(der);
        let anchor = webpki::anchor_from_trusted_cert(&cert)?.to_owned();
        self.anchors.push(anchor);
        Ok(())
    }

    /// The trust anchors.
    pub(crate) fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// Number of anchors.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// True when no anchor was added.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

/// Maps a webpki verdict to why the certificate is refused (and so, RFC 5246 §7.2.2, which
/// alert goes out).
pub(crate) fn refusal(err: &webpki::Error) -> CertificateError {
    use webpki::Error as E;
    match err {
        E::UnknownIssuer => CertificateError::UnknownIssuer,
        E::CertExpired { .. } | E::CertNotValidYet { .. } => CertificateError::Expired,
        E::CertRevoked => CertificateError::Revoked,
        E::BadDer | E::BadDerTime => CertificateError::Malformed,
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            CertificateError::UnsupportedAlgorithm
        }
        E::CertNotValidForName(_) => CertificateError::NotValidForName,
        #[allow(deprecated)]
        E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) => CertificateError::WrongUsage,
        _ => CertificateError::Other,
    }
}

/// Verifies the server's chain (leaf first) for TLS server authentication of `server_name`.
pub fn verify_server_chain(
    roots: &RootStore,
    chain: &[&[u8]],
    server_name: &str,
    now_secs: u64,
) -> Result<(), CertificateError> {
    let fail = |e: webpki::Error| refusal(&e);
    let Some((leaf, rest)) = chain.split_first() else {
        return Err(CertificateError::Other);
    };
    let leaf_der = CertificateDer::from(*leaf);
    let ee = EndEntityCert::try_from(&leaf_der).map_err(fail)?;
    let intermediates: Vec<CertificateDer<'_>> =
        rest.iter().map(|c| CertificateDer::from(*c)).collect();
    ee.verify_for_usage(
        CHAIN_ALGS,
        &roots.anchors,
        &intermediates,
        UnixTime::since_unix_epoch(core::time::Duration::from_secs(now_secs)),
        KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(fail)?;
    // A name that is neither a DNS name nor an IP address cannot be what the leaf is for.
    let name = ServerName::try_from(server_name).map_err(|_| CertificateError::NotValidForName)?;
    ee.verify_is_valid_for_subject_name(&name).map_err(fail)?;
    Ok(())
}

/// Checks that a server's own leaf certificate is a well-formed X.509 v3 certificate, as a
/// client's verifier will parse it; the parser's complaint otherwise.
pub fn check_leaf_parses(der: &[u8]) -> Result<(), String> {
    let cert = CertificateDer::from(der);
    EndEntityCert::try_from(&cert)
        .map(drop)
        .map_err(|e| format!("{e:?}"))
}

/// The DNS names of a leaf certificate's subject alternative names, lower-cased (none if it
/// does not parse).
pub fn leaf_dns_names(der: &[u8]) -> Vec<String> {
    let cert = CertificateDer::from(der);
    match EndEntityCert::try_from(&cert) {
        Ok(ee) => ee.valid_dns_names().map(str::to_ascii_lowercase).collect(),
        Err(_) => Vec::new(),
    }
}

/// Checks that a certificate further up a server's chain is one DER SEQUENCE filling its
/// bytes exactly (X.690 §8.1): the chain is the client's to judge, but bytes that are not
/// even DER are a broken file.
pub fn check_chain_certificate_framing(der: &[u8]) -> Result<(), String> {
    let bad = |why: &str| Err(why.to_string());
    let [0x30, first, rest @ ..] = der else {
        return bad("not a DER SEQUENCE");
    };
    let (len, body) = match *first {
        n @ 0..=0x7f => (usize::from(n), rest),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            if rest.len() < n {
                return bad("truncated DER length");
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        }
        _ => return bad("bad DER length"),
    };
    if len != body.len() {
        return bad("DER length does not match the certificate's size");
    }
    Ok(())
}

/// Verifies a ServerKeyExchange signature made by the leaf certificate's key.
pub fn verify_signature(
    leaf: &[u8],
    scheme: SignatureScheme,
    message: &[u8],
    signature: &[u8],
) -> Result<(), AlertDescription> {
    let leaf_der = CertificateDer::from(leaf);
    let ee = EndEntityCert::try_from(&leaf_der).map_err(|_| AlertDescription::BadCertificate)?;
    for alg in scheme_algs(scheme) {
        match ee.verify_signature(*alg, message, signature) {
            Ok(()) => return Ok(()),
            Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)) => continue,
            #[allow(deprecated)]
            Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKey) => continue,
            Err(_) => return Err(AlertDescription::DecryptError),
        }
    }
    // The scheme does not fit the certificate's key at all (RFC 5246 §7.4.3).
    Err(AlertDescription::IllegalParameter)
}
