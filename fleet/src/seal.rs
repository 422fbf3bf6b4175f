//! AEAD sealing for data at rest in Redis: `nonce[12] || AES-256-GCM(plaintext) || tag[16]`,
//! with a purpose label and the entry's name as associated data. Keys are derived with
//! HKDF-SHA256 from secret files of at least 32 bytes.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf;
use reprise::rng::RandomSource;
use zeroize::Zeroizing;

/// Bytes a sealed value adds to its plaintext.
pub const SEAL_OVERHEAD: usize = NONCE_LEN + 16;

/// Why sealing or opening failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealError {
    /// The secret is shorter than 32 bytes.
    WeakSecret,
    /// Randomness failed.
    Rng,
    /// The value is malformed or was not sealed under this key (or for this name).
    Open,
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SealError::WeakSecret => "secret shorter than 32 bytes",
            SealError::Rng => "randomness failed",
            SealError::Open => "sealed value does not open (wrong key, name or corrupted)",
        })
    }
}

impl std::error::Error for SealError {}

/// An AES-256-GCM key for one purpose.
pub struct SealKey {
    key: LessSafeKey,
    purpose: &'static [u8],
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKey")
            .field("purpose", &String::from_utf8_lossy(self.purpose))
            .finish_non_exhaustive()
    }
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl SealKey {
    /// Derives the key for `purpose` (e.g. `b"reprise session v1"`) from `secret`.
    pub fn derive(secret: &[u8], purpose: &'static [u8]) -> Result<Self, SealError> {
        if secret.len() < 32 {
            return Err(SealError::WeakSecret);
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"reprise fleet").extract(secret);
        let info = [purpose];
        let okm = prk
            .expand(&info, Len32)
            .map_err(|_| SealError::WeakSecret)?;
        let mut bytes = Zeroizing::new([0u8; 32]);
        okm.fill(&mut bytes[..])
            .map_err(|_| SealError::WeakSecret)?;
        let unbound =
            UnboundKey::new(&AES_256_GCM, &bytes[..]).map_err(|_| SealError::WeakSecret)?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            purpose,
        })
    }

    /// Reads a secret file (≥ 32 bytes; any content, e.g. `head -c 32 /dev/urandom`).
    pub fn from_file(
        path: &std::path::Path,
        purpose: &'static [u8],
    ) -> Result<Self, crate::FleetError> {
        let secret =
            Zeroizing::new(std::fs::read(path).map_err(|source| crate::FleetError::Io {
                path: path.to_path_buf(),
                source,
            })?);
        Ok(Self::derive(&secret, purpose)?)
    }

    fn aad(&self, name: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(self.purpose.len() + 1 + name.len());
        aad.extend_from_slice(self.purpose);
        aad.push(0);
        aad.extend_from_slice(name);
        aad
    }

    /// Seals `plaintext` stored under `name`.
    pub fn seal(
        &self,
        name: &[u8],
        plaintext: &[u8],
        rng: &dyn RandomSource,
    ) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| SealError::Rng)?;
        let mut out = Vec::with_capacity(SEAL_OVERHEAD + plaintext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad(name)),
                &mut out[NONCE_LEN..],
            )
            .map_err(|_| SealError::Open)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens a value sealed under `name`.
    pub fn open(&self, name: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(SealError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut buf = Zeroizing::new(body.to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(self.aad(name)), &mut buf[..])
            .map_err(|_| SealError::Open)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise::rng::SeededRandom;

    #[test]
    fn seal_open_and_tamper() {
        let rng = SeededRandom::new(1);
        let key = SealKey::derive(&[7u8; 32], b"test").unwrap();
        let sealed = key.seal(b"name", b"secret session", &rng).unwrap();
        assert_eq!(&key.open(b"name", &sealed).unwrap()[..], b"secret session");
        assert!(
            !sealed.windows(6).any(|w| w == b"secret"),
            "plaintext not visible at rest"
        );
        assert_eq!(key.open(b"other", &sealed), Err(SealError::Open));
        let other = SealKey::derive(&[8u8; 32], b"test").unwrap();
        assert_eq!(other.open(b"name", &sealed), Err(SealError::Open));
        let other_purpose = SealKey::derive(&[7u8; 32], b"else").unwrap();
        assert_eq!(other_purpose.open(b"name", &sealed), Err(SealError::Open));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(key.open(b"name", &bad), Err(SealError::Open));
        }
        assert_eq!(key.open(b"name", &sealed[..10]), Err(SealError::Open));
        assert_eq!(
            SealKey::derive(&[1u8; 31], b"x").err(),
            Some(SealError::WeakSecret)
        );
    }
}
