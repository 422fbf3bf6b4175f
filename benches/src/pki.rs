//! A throw-away PKI for the benches: a CA and `localhost` leaves with ECDSA P-256 and
//! RSA-2048 keys, made with rcgen once per process.

use std::sync::OnceLock;

/// The test name every leaf is issued for.
pub const SERVER_NAME: &str = "localhost";

/// A fixed "now" (seconds since the epoch) inside the certificates' validity.
pub const NOW: u64 = 1_800_000_000;

/// The CA and both leaves.
pub struct Pki {
    /// The CA certificate (DER).
    pub ca_der: Vec<u8>,
    /// ECDSA P-256 leaf then CA (DER).
    pub ecdsa_chain: Vec<Vec<u8>>,
    /// The ECDSA leaf's key (PKCS#8 DER).
    pub ecdsa_key: Vec<u8>,
    /// RSA-2048 leaf then CA (DER).
    pub rsa_chain: Vec<Vec<u8>>,
    /// The RSA leaf's key (PKCS#8 DER).
    pub rsa_key: Vec<u8>,
    /// A client certificate (ECDSA P-256, `CN=bench-client`, client-auth usage) then the CA.
    pub client_chain: Vec<Vec<u8>>,
    /// The client certificate's key (PKCS#8 DER).
    pub client_key: Vec<u8>,
}

/// Which certificate a server presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertKind {
    /// ECDSA P-256 (suite ECDHE-ECDSA-AES128-GCM-SHA256).
    EcdsaP256,
    /// RSA-2048 (suite ECDHE-RSA-AES128-GCM-SHA256).
    Rsa2048,
}

impl CertKind {
    /// Short label.
    pub fn label(self) -> &'static str {
        match self {
            CertKind::EcdsaP256 => "ecdsa-p256",
            CertKind::Rsa2048 => "rsa-2048",
        }
    }
}

impl Pki {
    /// The chain and key for `kind`.
    pub fn chain_and_key(&self, kind: CertKind) -> (&[Vec<u8>], &[u8]) {
        match kind {
            CertKind::EcdsaP256 => (&self.ecdsa_chain, &self.ecdsa_key),
            CertKind::Rsa2048 => (&self.rsa_chain, &self.rsa_key),
        }
    }
}

fn leaf(
    alg: &'static rcgen::SignatureAlgorithm,
    ca: &rcgen::Certificate,
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
) -> Result<(Vec<Vec<u8>>, Vec<u8>), rcgen::Error> {
    let key = rcgen::KeyPair::generate_for(alg)?;
    let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.into()])?;
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let cert = params.signed_by(&key, issuer)?;
    Ok((
        vec![cert.der().to_vec(), ca.der().to_vec()],
        key.serialize_der(),
    ))
}

fn generate() -> Result<Pki, rcgen::Error> {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Reprise Bench CA");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let ca = params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(params, ca_key);
    let (ecdsa_chain, ecdsa_key) = leaf(&rcgen::PKCS_ECDSA_P256_SHA256, &ca, &issuer)?;
    let (rsa_chain, rsa_key) = leaf(&rcgen::PKCS_RSA_SHA256, &ca, &issuer)?;
    let client_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bench-client");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let client = params.signed_by(&client_key, &issuer)?;
    Ok(Pki {
        ca_der: ca.der().to_vec(),
        ecdsa_chain,
        ecdsa_key,
        rsa_chain,
        rsa_key,
        client_chain: vec![client.der().to_vec(), ca.der().to_vec()],
        client_key: client_key.serialize_der(),
    })
}

/// The process-wide PKI.
pub fn pki() -> Result<&'static Pki, String> {
    static PKI: OnceLock<Result<Pki, String>> = OnceLock::new();
    PKI.get_or_init(|| generate().map_err(|e| format!("test PKI: {e}")))
        .as_ref()
        .map_err(Clone::clone)
}
