//! The cipher suites Reprise speaks: ECDHE key exchange with AEAD record protection only
//! (RFC 5289 AES-GCM, RFC 7905 ChaCha20-Poly1305). Everything else is deliberately absent.

use super::prf::PrfHash;

/// Which kind of certificate key a suite authenticates with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthKind {
    /// `ECDHE_ECDSA_*`: an ECDSA certificate signs the ServerKeyExchange.
    Ecdsa,
    /// `ECDHE_RSA_*`: an RSA certificate signs the ServerKeyExchange.
    Rsa,
}

/// The AEAD protecting records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AeadKind {
    /// AES-128-GCM with a 4-byte implicit salt and an 8-byte explicit nonce (RFC 5288 §3).
    Aes128Gcm,
    /// AES-256-GCM, likewise.
    Aes256Gcm,
    /// ChaCha20-Poly1305 with a 12-byte implicit IV XORed with the sequence number (RFC 7905 §2).
    ChaCha20Poly1305,
}

impl AeadKind {
    /// Length of the write key in the key block.
    pub const fn key_len(self) -> usize {
        match self {
            AeadKind::Aes128Gcm => 16,
            AeadKind::Aes256Gcm | AeadKind::ChaCha20Poly1305 => 32,
        }
    }

    /// Length of the implicit ("fixed") IV in the key block (RFC 5246 §6.3).
    pub const fn fixed_iv_len(self) -> usize {
        match self {
            AeadKind::Aes128Gcm | AeadKind::Aes256Gcm => 4,
            AeadKind::ChaCha20Poly1305 => 12,
        }
    }

    /// Bytes of explicit nonce carried in every record.
    pub const fn explicit_nonce_len(self) -> usize {
        match self {
            AeadKind::Aes128Gcm | AeadKind::Aes256Gcm => 8,
            AeadKind::ChaCha20Poly1305 => 0,
        }
    }

    /// Record expansion: explicit nonce plus the 16-byte tag.
    pub const fn overhead(self) -> usize {
        self.explicit_nonce_len() + TAG_LEN
    }

    pub(crate) fn algorithm(self) -> &'static aws_lc_rs::aead::Algorithm {
        match self {
            AeadKind::Aes128Gcm => &aws_lc_rs::aead::AES_128_GCM,
            AeadKind::Aes256Gcm => &aws_lc_rs::aead::AES_256_GCM,
            AeadKind::ChaCha20Poly1305 => &aws_lc_rs::aead::CHACHA20_POLY1305,
        }
    }
}

/// Length of every AEAD tag we use.
pub const TAG_LEN: usize = 16;

/// A TLS 1.2 cipher suite: its code point, IANA name and the algorithms it fixes.
#[derive(Debug, PartialEq, Eq)]
pub struct CipherSuite {
    /// IANA code point.
    pub id: u16,
    /// IANA name, e.g. `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`.
    pub name: &'static str,
    /// The OpenSSL name, e.g. `ECDHE-ECDSA-AES128-GCM-SHA256`.
    pub openssl_name: &'static str,
    /// Certificate key type.
    pub auth: AuthKind,
    /// Record protection.
    pub aead: AeadKind,
    /// PRF and transcript hash.
    pub hash: PrfHash,
}

macro_rules! suite {
    ($ident:ident, $id:expr, $name:expr, $ossl:expr, $auth:ident, $aead:ident, $hash:ident) => {
        #[doc = $name]
        pub static $ident: CipherSuite = CipherSuite {
            id: $id,
            name: $name,
            openssl_name: $ossl,
            auth: AuthKind::$auth,
            aead: AeadKind::$aead,
            hash: PrfHash::$hash,
        };
    };
}

suite!(
    ECDHE_ECDSA_AES128_GCM_SHA256,
    0xc02b,
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    Ecdsa,
    Aes128Gcm,
    Sha256
);
suite!(
    ECDHE_ECDSA_AES256_GCM_SHA384,
    0xc02c,
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    Ecdsa,
    Aes256Gcm,
    Sha384
);
suite!(
    ECDHE_ECDSA_CHACHA20_POLY1305_SHA256,
    0xcca9,
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    Ecdsa,
    ChaCha20Poly1305,
    Sha256
);
suite!(
    ECDHE_RSA_AES128_GCM_SHA256,
    0xc02f,
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    Rsa,
    Aes128Gcm,
    Sha256
);
suite!(
    ECDHE_RSA_AES256_GCM_SHA384,
    0xc030,
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    Rsa,
    Aes256Gcm,
    Sha384
);
suite!(
    ECDHE_RSA_CHACHA20_POLY1305_SHA256,
    0xcca8,
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-RSA-CHACHA20-POLY1305",
    Rsa,
    ChaCha20Poly1305,
    Sha256
);

/// Every supported suite, in the default preference order (AES-128-GCM first: fastest with
/// AES-NI, then ChaCha20 for clients without it, then AES-256).
pub static ALL_SUITES: [&CipherSuite; 6] = [
    &ECDHE_ECDSA_AES128_GCM_SHA256,
    &ECDHE_RSA_AES128_GCM_SHA256,
    &ECDHE_ECDSA_CHACHA20_POLY1305_SHA256,
    &ECDHE_RSA_CHACHA20_POLY1305_SHA256,
    &ECDHE_ECDSA_AES256_GCM_SHA384,
    &ECDHE_RSA_AES256_GCM_SHA384,
];

/// `TLS_EMPTY_RENEGOTIATION_INFO_SCSV` (RFC 5746 §3.3).
pub const EMPTY_RENEGOTIATION_INFO_SCSV: u16 = 0x00ff;
/// `TLS_FALLBACK_SCSV` (RFC 7507).
pub const FALLBACK_SCSV: u16 = 0x5600;

/// Looks a suite up by code point.
pub fn suite_by_id(id: u16) -> Option<&'static CipherSuite> {
    ALL_SUITES.iter().copied().find(|s| s.id == id)
}

/// Looks a suite up by IANA or OpenSSL name (case-insensitive).
pub fn suite_by_name(name: &str) -> Option<&'static CipherSuite> {
    ALL_SUITES
        .iter()
        .copied()
        .find(|s| s.name.eq_ignore_ascii_case(name) || s.openssl_name.eq_ignore_ascii_case(name))
}
