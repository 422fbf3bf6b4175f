//! The aws-lc-rs operations the measured cases cannot avoid, timed on their own. A case's
//! "floor" is the sum of the costs of the primitives it needs (see [`floor`]).

use std::time::{Duration, Instant};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use aws_lc_rs::{digest, tls_prf};
use std::hint::black_box;

use crate::pki::pki;
use crate::setup::{Group, Resume, Scenario};

/// Runs an operation `n` times and returns the elapsed time.
pub type Run = Box<dyn FnMut(u64) -> Duration>;

/// A named primitive: `run(n)` performs it `n` times and returns the elapsed time.
pub struct Primitive {
    /// Its name in the report.
    pub name: &'static str,
    /// Runs it `n` times.
    pub run: Run,
}

/// Names of the primitives, as used by [`floor`].
pub mod names {
    /// ECDSA P-256 SHA-256 signature over ServerKeyExchange-sized input.
    pub const ECDSA_SIGN: &str = "ecdsa-p256 sign";
    /// RSA-2048 PSS-SHA256 signature.
    pub const RSA_SIGN: &str = "rsa-2048 pss sign";
    /// X25519 key generation and agreement (one side).
    pub const X25519: &str = "x25519 keygen+agree";
    /// P-256 key generation and agreement (one side).
    pub const P256: &str = "p256 keygen+agree";
    /// PRF (HMAC `P_hash`, keyed per call) for a 48-byte (extended) master secret.
    pub const PRF_MS: &str = "prf master secret";
    /// PRF for an AES-128-GCM key block (40 bytes).
    pub const PRF_KB: &str = "prf key block";
    /// PRF for a 12-byte verify_data.
    pub const PRF_FIN: &str = "prf verify_data";
    /// aws-lc's `CRYPTO_tls1_prf` for a verify_data (for comparison; not in floors).
    pub const PRF_AWS_LC: &str = "aws-lc tls_prf verify_data";
    /// AES-128-GCM key schedule (one direction).
    pub const AEAD_KEY: &str = "aes128gcm key setup";
    /// AES-128-GCM seal of a Finished-sized record (16 bytes).
    pub const AEAD_SEAL_SMALL: &str = "aes128gcm seal 16B";
    /// AES-128-GCM open of a Finished-sized record.
    pub const AEAD_OPEN_SMALL: &str = "aes128gcm open 16B";
    /// AES-256-GCM open of a ticket-sized session record (89 bytes).
    pub const TICKET_OPEN: &str = "aes256gcm open 89B";
    /// SHA-256 over 1 KiB (transcript hashing, scaled by bytes).
    pub const SHA256_1K: &str = "sha256 1KiB";
    /// AES-128-GCM seal of a 16 KiB record.
    pub const AEAD_SEAL_16K: &str = "aes128gcm seal 16KiB";
    /// AES-128-GCM open of a 16 KiB record.
    pub const AEAD_OPEN_16K: &str = "aes128gcm open 16KiB";
}

fn timed(mut f: impl FnMut() + 'static) -> Run {
    Box::new(move |n| {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed()
    })
}

fn kx(alg: &'static agreement::Algorithm) -> Result<Run, String> {
    let peer = PrivateKey::generate(alg).map_err(|e| e.to_string())?;
    let peer_pub = peer
        .compute_public_key()
        .map_err(|e| e.to_string())?
        .as_ref()
        .to_vec();
    Ok(timed(move || {
        let ours = PrivateKey::generate(alg).expect("keygen");
        black_box(ours.compute_public_key().expect("public key"));
        let peer = UnparsedPublicKey::new(alg, &peer_pub);
        agreement::agree(&ours, peer, (), |s| {
            black_box(s);
            Ok(())
        })
        .expect("agree");
    }))
}

/// The TLS PRF as HMAC `P_hash` (RFC 5246 §5) over aws-lc's HMAC, keyed per call: the
/// cheapest way to get a PRF out of aws-lc (its `CRYPTO_tls1_prf` costs more; see
/// [`names::PRF_AWS_LC`]).
fn prf(out_len: usize, seed_len: usize) -> Run {
    let secret = [3u8; 48];
    let seed = vec![5u8; seed_len];
    let mut out = vec![0u8; out_len];
    timed(move || {
        reprise::internal::prf::prf(
            reprise::internal::prf::PrfHash::Sha256,
            &secret,
            b"key expansion",
            &seed,
            &[],
            &mut out,
        )
        .expect("prf");
        black_box(&out);
    })
}

fn prf_aws_lc(out_len: usize, seed_len: usize) -> Run {
    let secret_bytes = [3u8; 48];
    let seed = vec![5u8; seed_len];
    timed(move || {
        let secret = tls_prf::Secret::new(&tls_prf::P_SHA256, &secret_bytes).expect("prf secret");
        let out = secret
            .derive_with_seed_concatination(b"key expansion", &seed, &[], out_len)
            .expect("prf");
        black_box(out.as_ref());
    })
}

fn aead_key(alg: &'static aws_lc_rs::aead::Algorithm) -> LessSafeKey {
    let key = vec![9u8; alg.key_len()];
    LessSafeKey::new(UnboundKey::new(alg, &key).expect("aead key"))
}

/// Header and explicit nonce before a record's payload (RFC 5288 §3): the primitives run on
/// buffers shaped like records, as the stacks do.
const PAYLOAD_OFFSET: usize = 13;

fn seal(len: usize) -> Run {
    let key = aead_key(&AES_128_GCM);
    let mut buf = vec![1u8; PAYLOAD_OFFSET + len + 16];
    let mut seq = 0u64;
    timed(move || {
        seq += 1;
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&seq.to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(n),
                Aad::from([0u8; 13]),
                &mut buf[PAYLOAD_OFFSET..PAYLOAD_OFFSET + len],
            )
            .expect("seal");
        black_box(tag.as_ref()[0]);
    })
}

/// Opens a sealed buffer `n` times, timing only the open calls (restoring the ciphertext in
/// between is not part of the primitive).
fn open(alg: &'static aws_lc_rs::aead::Algorithm, len: usize, aad: usize) -> Run {
    let key = aead_key(alg);
    let mut sealed = vec![1u8; len];
    let aad = vec![0u8; aad];
    let nonce = [7u8; 12];
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad[..]),
            &mut sealed,
        )
        .expect("seal");
    sealed.extend_from_slice(tag.as_ref());
    let mut work = vec![0u8; PAYLOAD_OFFSET + sealed.len()];
    Box::new(move |n| {
        let mut total = Duration::ZERO;
        for _ in 0..n {
            work[PAYLOAD_OFFSET..].copy_from_slice(&sealed);
            let t = Instant::now();
            let plain = key
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(&aad[..]),
                    &mut work[PAYLOAD_OFFSET..],
                )
                .expect("open");
            black_box(&plain[..1]);
            total += t.elapsed();
        }
        total
    })
}

/// Every primitive, ready to run.
pub fn all() -> Result<Vec<Primitive>, String> {
    use names::*;
    let pki = pki()?;
    let ecdsa =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &pki.ecdsa_key)
            .map_err(|e| e.to_string())?;
    let rsa = RsaKeyPair::from_pkcs8(&pki.rsa_key).map_err(|e| e.to_string())?;
    let rng = SystemRandom::new();
    // client_random + server_random + ECParameters + point (RFC 8422 §5.4).
    let signed = [0x42u8; 32 + 32 + 4 + 32];
    let rng2 = rng.clone();
    let mut rsa_sig = vec![0u8; rsa.public_modulus_len()];
    black_box(ecdsa.public_key());
    let data_1k = vec![0x11u8; 1024];
    Ok(vec![
        Primitive {
            name: ECDSA_SIGN,
            run: timed(move || {
                black_box(ecdsa.sign(&rng, &signed).expect("sign"));
            }),
        },
        Primitive {
            name: RSA_SIGN,
            run: timed(move || {
                rsa.sign(&signature::RSA_PSS_SHA256, &rng2, &signed, &mut rsa_sig)
                    .expect("sign");
                black_box(&rsa_sig);
            }),
        },
        Primitive {
            name: X25519,
            run: kx(&agreement::X25519)?,
        },
        Primitive {
            name: P256,
            run: kx(&agreement::ECDH_P256)?,
        },
        Primitive {
            name: PRF_MS,
            run: prf(48, 32),
        },
        Primitive {
            name: PRF_KB,
            run: prf(40, 64),
        },
        Primitive {
            name: PRF_FIN,
            run: prf(12, 32),
        },
        Primitive {
            name: PRF_AWS_LC,
            run: prf_aws_lc(12, 32),
        },
        Primitive {
            name: AEAD_KEY,
            run: timed(|| {
                black_box(aead_key(&AES_128_GCM));
            }),
        },
        Primitive {
            name: AEAD_SEAL_SMALL,
            run: seal(16),
        },
        Primitive {
            name: AEAD_OPEN_SMALL,
            run: open(&AES_128_GCM, 16, 13),
        },
        Primitive {
            name: TICKET_OPEN,
            run: open(&AES_256_GCM, 89, 16),
        },
        Primitive {
            name: SHA256_1K,
            run: timed(move || {
                black_box(digest::digest(&digest::SHA256, &data_1k));
            }),
        },
        Primitive {
            name: AEAD_SEAL_16K,
            run: seal(16 * 1024),
        },
        Primitive {
            name: AEAD_OPEN_16K,
            run: open(&AES_128_GCM, 16 * 1024, 13),
        },
    ])
}

/// The primitives (name, count) a server needs for one handshake of `s`; transcript hashing
/// is added by the caller from the bytes exchanged.
pub fn server_floor(s: Scenario) -> Vec<(&'static str, f64)> {
    use names::*;
    // Both directions' keys, the client's Finished opened and ours sealed, the key block and
    // both verify_data computations.
    let mut v = vec![
        (PRF_KB, 1.0),
        (PRF_FIN, 2.0),
        (AEAD_KEY, 2.0),
        (AEAD_OPEN_SMALL, 1.0),
        (AEAD_SEAL_SMALL, 1.0),
    ];
    match s.resume {
        Resume::Full => {
            v.push((
                match s.cert {
                    crate::pki::CertKind::EcdsaP256 => ECDSA_SIGN,
                    crate::pki::CertKind::Rsa2048 => RSA_SIGN,
                },
                1.0,
            ));
            v.push((
                match s.group {
                    Group::X25519 => X25519,
                    Group::P256 => P256,
                },
                1.0,
            ));
            v.push((PRF_MS, 1.0));
        }
        Resume::SessionId => {}
        Resume::Ticket => v.push((TICKET_OPEN, 1.0)),
    }
    v
}

/// One primitive's runner.
pub fn by_name(name: &str) -> Result<Run, String> {
    all()?
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| p.run)
        .ok_or_else(|| format!("no primitive {name}"))
}

/// Runs the primitives of one server handshake of `s` (see [`server_floor`]) plus SHA-256
/// over `transcript_bytes`, `n` times each; returns the total time.
pub fn floor_runner(s: Scenario, transcript_bytes: usize) -> Result<Run, String> {
    let need = server_floor(s);
    let mut parts: Vec<(Run, u64)> = Vec::new();
    for p in all()? {
        if let Some((_, count)) = need.iter().find(|(n, _)| *n == p.name) {
            parts.push((p.run, *count as u64));
        }
    }
    let data = vec![0x11u8; transcript_bytes];
    parts.push((
        timed(move || {
            black_box(digest::digest(&digest::SHA256, &data));
        }),
        1,
    ));
    Ok(Box::new(move |n| {
        parts.iter_mut().map(|(run, count)| run(n * *count)).sum()
    }))
}

/// Seconds per operation of each primitive, looked up by name.
pub fn cost(costs: &[(&'static str, f64)], name: &str) -> f64 {
    costs
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .unwrap_or(0.0)
}

/// The floor of one server handshake of `s`, in seconds, given the measured primitive costs
/// and the handshake bytes the server hashes.
pub fn floor(costs: &[(&'static str, f64)], s: Scenario, transcript_bytes: usize) -> f64 {
    let hash = cost(costs, names::SHA256_1K) * transcript_bytes as f64 / 1024.0;
    server_floor(s)
        .iter()
        .map(|(name, count)| cost(costs, name) * count)
        .sum::<f64>()
        + hash
}
