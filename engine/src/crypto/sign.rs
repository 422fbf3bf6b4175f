//! Server signing keys and TLS 1.2 signature schemes (RFC 5246 §7.4.1.4.1, RFC 8446 §4.2.3
//! code points, which TLS 1.2 stacks use for RSA-PSS).

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};

use super::suites::AuthKind;

/// A signature scheme code point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignatureScheme(pub u16);

impl SignatureScheme {
    /// `rsa_pkcs1_sha256`
    pub const RSA_PKCS1_SHA256: Self = Self(0x0401);
    /// `rsa_pkcs1_sha384`
    pub const RSA_PKCS1_SHA384: Self = Self(0x0501);
    /// `rsa_pkcs1_sha512`
    pub const RSA_PKCS1_SHA512: Self = Self(0x0601);
    /// `ecdsa_secp256r1_sha256` (in TLS 1.2: ECDSA with SHA-256 on any curve)
    pub const ECDSA_SHA256: Self = Self(0x0403);
    /// `ecdsa_secp384r1_sha384` (in TLS 1.2: ECDSA with SHA-384 on any curve)
    pub const ECDSA_SHA384: Self = Self(0x0503);
    /// `ecdsa_secp521r1_sha512` (in TLS 1.2: ECDSA with SHA-512 on any curve)
    pub const ECDSA_SHA512: Self = Self(0x0603);
    /// `rsa_pss_rsae_sha256`
    pub const RSA_PSS_RSAE_SHA256: Self = Self(0x0804);
    /// `rsa_pss_rsae_sha384`
    pub const RSA_PSS_RSAE_SHA384: Self = Self(0x0805);
    /// `rsa_pss_rsae_sha512`
    pub const RSA_PSS_RSAE_SHA512: Self = Self(0x0806);

    /// What a client offers by default, in preference order.
    pub const CLIENT_DEFAULT: [Self; 9] = [
        Self::ECDSA_SHA256,
        Self::ECDSA_SHA384,
        Self::ECDSA_SHA512,
        Self::RSA_PSS_RSAE_SHA256,
        Self::RSA_PSS_RSAE_SHA384,
        Self::RSA_PSS_RSAE_SHA512,
        Self::RSA_PKCS1_SHA256,
        Self::RSA_PKCS1_SHA384,
        Self::RSA_PKCS1_SHA512,
    ];

    /// The key type the scheme signs with, if it is one we support.
    pub fn auth_kind(self) -> Option<AuthKind> {
        match self.0 {
            0x0403 | 0x0503 | 0x0603 => Some(AuthKind::Ecdsa),
            0x0401 | 0x0501 | 0x0601 | 0x0804 | 0x0805 | 0x0806 => Some(AuthKind::Rsa),
            _ => None,
        }
    }

    /// RFC name.
    pub fn name(self) -> &'static str {
        match self.0 {
            0x0401 => "rsa_pkcs1_sha256",
            0x0501 => "rsa_pkcs1_sha384",
            0x0601 => "rsa_pkcs1_sha512",
            0x0403 => "ecdsa_secp256r1_sha256",
            0x0503 => "ecdsa_secp384r1_sha384",
            0x0603 => "ecdsa_secp521r1_sha512",
            0x0804 => "rsa_pss_rsae_sha256",
            0x0805 => "rsa_pss_rsae_sha384",
            0x0806 => "rsa_pss_rsae_sha512",
            _ => "unknown",
        }
    }
}

/// Why a key could not be loaded or used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not a PKCS#8 / SEC1 / PKCS#1 key of a supported type.
    Unsupported(String),
    /// The signing operation failed.
    SignFailed,
}

impl core::fmt::Display for KeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            KeyError::Unsupported(why) => write!(f, "unsupported private key: {why}"),
            KeyError::SignFailed => f.write_str("signing failed"),
        }
    }
}

impl std::error::Error for KeyError {}

enum KeyInner {
    Ecdsa {
        key: EcdsaKeyPair,
        scheme: SignatureScheme,
    },
    Rsa(RsaKeyPair),
}

/// A server's private key, able to sign ServerKeyExchange parameters.
pub struct SigningKey {
    inner: KeyInner,
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningKey")
            .field("auth", &self.auth_kind())
            .finish_non_exhaustive()
    }
}

/// The digest an ECDSA key on a curve whose own hash is `natural`'s signs for `scheme`: the
/// scheme's hash of `message`, made the length of the curve's order as ECDSA defines it (FIPS
/// 186-4 §6.4: the leftmost bits of a longer hash; a shorter one is the same integer with
/// zero bytes before it), labelled with the curve's hash so `sign_digest` takes it.
fn ecdsa_digest(
    natural: SignatureScheme,
    scheme: SignatureScheme,
    message: &[u8],
) -> Result<digest::Digest, KeyError> {
    let hash = match scheme {
        SignatureScheme::ECDSA_SHA256 => &digest::SHA256,
        SignatureScheme::ECDSA_SHA384 => &digest::SHA384,
        SignatureScheme::ECDSA_SHA512 => &digest::SHA512,
        _ => return Err(KeyError::SignFailed),
    };
    let curve_hash = match natural {
        SignatureScheme::ECDSA_SHA256 => &digest::SHA256,
        SignatureScheme::ECDSA_SHA384 => &digest::SHA384,
        _ => return Err(KeyError::SignFailed),
    };
    let full = digest::digest(hash, message);
    let full = full.as_ref();
    let n = curve_hash.output_len();
    let mut value = [0u8; digest::MAX_OUTPUT_LEN];
    if full.len() >= n {
        value[..n].copy_from_slice(&full[..n]);
    } else {
        value[n - full.len()..n].copy_from_slice(full);
    }
    digest::Digest::import_less_safe(&value[..n], curve_hash).map_err(|_| KeyError::SignFailed)
}

impl SigningKey {
    /// Loads a DER private key: PKCS#8 (ECDSA P-256/P-384 or RSA), SEC1 EC, or PKCS#1 RSA.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let ec = [
            (
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                SignatureScheme::ECDSA_SHA256,
            ),
            (
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                SignatureScheme::ECDSA_SHA384,
            ),
        ];
        for (alg, scheme) in ec {
            if let Ok(key) = EcdsaKeyPair::from_private_key_der(alg, der) {
                return Ok(Self {
                    inner: KeyInner::Ecdsa { key, scheme },
                });
            }
        }
        if let Ok(key) = RsaKeyPair::from_pkcs8(der).or_else(|_| RsaKeyPair::from_der(der)) {
            if key.public_modulus_len() < 256 {
                return Err(KeyError::Unsupported(
                    "RSA keys below 2048 bits are refused".into(),
                ));
            }
            return Ok(Self {
                inner: KeyInner::Rsa(key),
            });
        }
        Err(KeyError::Unsupported(
            "expected an ECDSA P-256/P-384 or RSA (≥ 2048 bit) key in PKCS#8, SEC1 or PKCS#1 DER"
                .into(),
        ))
    }

    /// Which suites this key can authenticate.
    pub fn auth_kind(&self) -> AuthKind {
        match self.inner {
            KeyInner::Ecdsa { .. } => AuthKind::Ecdsa,
            KeyInner::Rsa(_) => AuthKind::Rsa,
        }
    }

    /// For an ECDSA key, the curve it lives on: RFC 8422 §5.1 lets a client's supported_groups
    /// rule out certificates on other curves.
    pub fn ecdsa_group(&self) -> Option<crate::crypto::kx::NamedGroup> {
        match &self.inner {
            KeyInner::Ecdsa { scheme, .. } if *scheme == SignatureScheme::ECDSA_SHA256 => {
                Some(crate::crypto::kx::NamedGroup::Secp256r1)
            }
            KeyInner::Ecdsa { .. } => Some(crate::crypto::kx::NamedGroup::Secp384r1),
            KeyInner::Rsa(_) => None,
        }
    }

    /// Schemes this key can produce, in our preference order: for ECDSA every hash of TLS
    /// 1.2 (there the code point names the hash only, RFC 5246 §7.4.1.4.1; binding the curve
    /// to the hash is TLS 1.3's rule, RFC 8446 §4.2.3), the strongest first.
    pub fn schemes(&self) -> &'static [SignatureScheme] {
        match &self.inner {
            KeyInner::Ecdsa { .. } => &[
                SignatureScheme::ECDSA_SHA512,
                SignatureScheme::ECDSA_SHA384,
                SignatureScheme::ECDSA_SHA256,
            ],
            KeyInner::Rsa(_) => &[
                SignatureScheme::RSA_PSS_RSAE_SHA256,
                SignatureScheme::RSA_PSS_RSAE_SHA384,
                SignatureScheme::RSA_PSS_RSAE_SHA512,
                SignatureScheme::RSA_PKCS1_SHA256,
                SignatureScheme::RSA_PKCS1_SHA384,
                SignatureScheme::RSA_PKCS1_SHA512,
            ],
        }
    }

    /// The first of our schemes the peer offered (RFC 5246 §7.4.1.4.1), or `None`.
    pub fn choose_scheme(
        &self,
        offered: impl Fn(SignatureScheme) -> bool,
    ) -> Option<SignatureScheme> {
        self.schemes().iter().copied().find(|s| offered(*s))
    }

    /// Public key bytes (for tests and fingerprints).
    pub fn public_key(&self) -> &[u8] {
        match &self.inner {
            KeyInner::Ecdsa { key, .. } => key.public_key().as_ref(),
            KeyInner::Rsa(key) => key.public_key().as_ref(),
        }
    }

    /// Signs `message` with `scheme` into `out` (appended).
    pub fn sign(
        &self,
        scheme: SignatureScheme,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), KeyError> {
        // aws-lc ignores the rng argument for ECDSA (its own DRBG makes the nonce) and uses it
        // only for the PSS salt; PKCS#1 v1.5 is deterministic.
        let rng = SystemRandom::new();
        match &self.inner {
            KeyInner::Ecdsa {
                key,
                scheme: natural,
            } => {
                let sig = if *natural == scheme {
                    key.sign(&rng, message)
                } else {
                    key.sign_digest(&ecdsa_digest(*natural, scheme, message)?)
                }
                .map_err(|_| KeyError::SignFailed)?;
                out.extend_from_slice(sig.as_ref());
            }
            KeyInner::Rsa(key) => {
                let padding: &'static dyn signature::RsaEncoding = match scheme {
                    SignatureScheme::RSA_PKCS1_SHA256 => &signature::RSA_PKCS1_SHA256,
                    SignatureScheme::RSA_PKCS1_SHA384 => &signature::RSA_PKCS1_SHA384,
                    SignatureScheme::RSA_PKCS1_SHA512 => &signature::RSA_PKCS1_SHA512,
                    SignatureScheme::RSA_PSS_RSAE_SHA256 => &signature::RSA_PSS_SHA256,
                    SignatureScheme::RSA_PSS_RSAE_SHA384 => &signature::RSA_PSS_SHA384,
                    SignatureScheme::RSA_PSS_RSAE_SHA512 => &signature::RSA_PSS_SHA512,
                    _ => return Err(KeyError::SignFailed),
                };
                let start = out.len();
                out.resize(start + key.public_modulus_len(), 0);
                key.sign(padding, &rng, message, &mut out[start..])
                    .map_err(|_| KeyError::SignFailed)?;
            }
        }
        Ok(())
    }
}
