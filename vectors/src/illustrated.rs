//! "The Illustrated TLS 1.2 Connection"-style derived values (`derived.json`)
//! for an X25519 ECDHE handshake, optionally with a `keylog.txt` (NSS key log
//! format) and the encrypted Finished records (`caps/clientfinished`,
//! `caps/serverfinished`) beside it.
//!
//! Recognised keys (hex strings unless noted; keys starting with `_` are
//! comments; any other key is an error so that typos do not silently skip
//! checks). Required: `cipher_suite` (4 hex digits), `client_random`,
//! `server_random`, `master_secret`. Optional, each enabling the checks that
//! need it: `prf_hash` (`"SHA256"`/`"SHA384"`, overrides the suite's PRF
//! hash), `client_ephemeral_private_x25519`, `server_ephemeral_private_x25519`,
//! `client_ephemeral_public`, `server_ephemeral_public`, `pre_master_secret`,
//! `key_block`, `client_write_mac_key`, `server_write_mac_key`,
//! `client_write_key`, `server_write_key`, `client_write_iv`,
//! `server_write_iv`, `transcript_for_client_finished`,
//! `transcript_for_server_finished`, `client_verify_data`,
//! `server_verify_data`.

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::cipher::{DecryptingKey, DecryptionContext, UnboundCipherKey, AES_128, AES_256};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use reprise::internal::prf::{
    key_block, master_secret, verify_data, verify_data_matches, MasterSecret, PrfHash,
};
use reprise::Role;

use crate::json::Value;
use crate::{compare, hex, FileReport};

/// Files that may accompany a `derived.json`.
#[derive(Default)]
pub struct Extras<'a> {
    /// NSS key log (`CLIENT_RANDOM <hex> <hex>` lines).
    pub keylog: Option<&'a str>,
    /// Raw TLS record carrying the client's encrypted Finished.
    pub client_finished_record: Option<&'a [u8]>,
    /// Raw TLS record carrying the server's encrypted Finished.
    pub server_finished_record: Option<&'a [u8]>,
}

const KNOWN_KEYS: &[&str] = &[
    "cipher_suite",
    "prf_hash",
    "client_random",
    "server_random",
    "client_ephemeral_private_x25519",
    "server_ephemeral_private_x25519",
    "client_ephemeral_public",
    "server_ephemeral_public",
    "pre_master_secret",
    "master_secret",
    "key_block",
    "client_write_mac_key",
    "server_write_mac_key",
    "client_write_key",
    "server_write_key",
    "client_write_iv",
    "server_write_iv",
    "transcript_for_client_finished",
    "transcript_for_server_finished",
    "client_verify_data",
    "server_verify_data",
];

/// Cipher suites whose TLS 1.2 PRF uses SHA-384 (the `_SHA384` suites of
/// RFC 5288, RFC 5289); every other suite uses SHA-256.
const SHA384_SUITES: &[u16] = &[
    0x009d, 0x009f, 0xc024, 0xc026, 0xc028, 0xc02a, 0xc02c, 0xc02e, 0xc030, 0xc032,
];

struct Doc<'a> {
    members: &'a [(String, Value)],
}

impl Doc<'_> {
    fn hex(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        match self.members.iter().find(|(k, _)| k == key) {
            None => Ok(None),
            Some((_, Value::String(s))) => {
                hex::decode(s).map(Some).map_err(|e| format!("{key}: {e}"))
            }
            Some(_) => Err(format!("{key} is not a string")),
        }
    }

    fn required(&self, key: &str) -> Result<Vec<u8>, String> {
        self.hex(key)?.ok_or_else(|| format!("missing {key:?}"))
    }
}

fn array<const N: usize>(key: &str, v: Vec<u8>) -> Result<[u8; N], String> {
    let len = v.len();
    v.try_into()
        .map_err(|_| format!("{key}: expected {N} bytes, got {len}"))
}

/// Checks a derived.json document. Structural problems that prevent any
/// check are recorded as a single failure.
pub fn run(doc: &Value, extras: &Extras<'_>, report: &mut FileReport) {
    if let Err(e) = run_inner(doc, extras, report) {
        report.record("document", Err(e));
    }
}

fn run_inner(doc: &Value, extras: &Extras<'_>, report: &mut FileReport) -> Result<(), String> {
    let members = doc.as_object().ok_or("top level is not an object")?;
    for (k, _) in members {
        if !k.starts_with('_') && !KNOWN_KEYS.contains(&k.as_str()) {
            return Err(format!("unknown key {k:?}"));
        }
    }
    let d = Doc { members };

    let suite = d.required("cipher_suite")?;
    let suite = u16::from_be_bytes(array("cipher_suite", suite)?);
    let hash = match doc.get("prf_hash") {
        Some(v) => crate::prf_text::parse_hash_name(v.as_str().ok_or("prf_hash is not a string")?)?,
        None if SHA384_SUITES.contains(&suite) => PrfHash::Sha384,
        None => PrfHash::Sha256,
    };
    let client_random: [u8; 32] = array("client_random", d.required("client_random")?)?;
    let server_random: [u8; 32] = array("server_random", d.required("server_random")?)?;
    let expected_ms: [u8; 48] = array("master_secret", d.required("master_secret")?)?;

    // X25519: public keys from the private keys, and the shared secret from
    // each side.
    let client_priv = d.hex("client_ephemeral_private_x25519")?;
    let server_priv = d.hex("server_ephemeral_private_x25519")?;
    let client_pub = d.hex("client_ephemeral_public")?;
    let server_pub = d.hex("server_ephemeral_public")?;
    let pms = d.hex("pre_master_secret")?;
    for (side, private, public) in [
        ("client", &client_priv, &client_pub),
        ("server", &server_priv, &server_pub),
    ] {
        if let (Some(private), Some(public)) = (private, public) {
            report.record(
                &format!("{side} X25519 public key"),
                x25519_public(private).and_then(|p| compare("public key", &p, public)),
            );
        }
    }
    if let Some(pms) = &pms {
        for (side, private, peer_public) in [
            ("client", &client_priv, &server_pub),
            ("server", &server_priv, &client_pub),
        ] {
            if let (Some(private), Some(peer_public)) = (private, peer_public) {
                report.record(
                    &format!("pre-master secret (X25519 at {side})"),
                    x25519_agree(private, peer_public)
                        .and_then(|z| compare("pre-master secret", &z, pms)),
                );
            }
        }
        report.record(
            "master secret",
            master_secret(hash, pms, &client_random, &server_random)
                .map_err(|e| e.to_string())
                .and_then(|ms| compare("master secret", ms.as_bytes(), &expected_ms)),
        );
    }
    if let Some(keylog) = extras.keylog {
        report.record(
            "master secret (keylog.txt)",
            keylog_master_secret(keylog, &client_random)
                .and_then(|logged| compare("keylog master secret", &expected_ms, &logged)),
        );
    }

    // Key block and its slices (RFC 5246 §6.3 order), from the file's master
    // secret.
    let ms = MasterSecret::from_bytes(expected_ms);
    let mac_len = d.hex("client_write_mac_key")?.map_or(0, |k| k.len());
    let key_len = d.hex("client_write_key")?.map_or(0, |k| k.len());
    let iv_len = d.hex("client_write_iv")?.map_or(0, |k| k.len());
    let expected_kb = d.hex("key_block")?;
    let kb_len = expected_kb
        .as_ref()
        .map_or(2 * (mac_len + key_len + iv_len), Vec::len);
    let mut kb = vec![0u8; kb_len];
    key_block(hash, &ms, &client_random, &server_random, &mut kb).map_err(|e| e.to_string())?;
    if let Some(expected_kb) = &expected_kb {
        report.record("key block", compare("key block", &kb, expected_kb));
    }
    let mut offset = 0;
    let mut slices = Vec::new();
    for (key, len) in [
        ("client_write_mac_key", mac_len),
        ("server_write_mac_key", mac_len),
        ("client_write_key", key_len),
        ("server_write_key", key_len),
        ("client_write_iv", iv_len),
        ("server_write_iv", iv_len),
    ] {
        let slice = kb.get(offset..offset + len).unwrap_or(&[]);
        offset += len;
        slices.push(slice);
        if let Some(expected) = d.hex(key)? {
            let result = if slice.len() == len {
                compare(key, slice, &expected)
            } else {
                Err(format!("{key}: key block too short"))
            };
            report.record(key, result);
        }
    }
    let (client_mac, server_mac, client_key, server_key) =
        (slices[0], slices[1], slices[2], slices[3]);

    // Finished verify_data over the SHA-256/384 transcript hash.
    let mut computed_vd = [None, None];
    for (i, (side, sender)) in [("client", Role::Client), ("server", Role::Server)]
        .into_iter()
        .enumerate()
    {
        let transcript = d.hex(&format!("transcript_for_{side}_finished"))?;
        let expected = d.hex(&format!("{side}_verify_data"))?;
        if let Some(transcript) = transcript {
            let th = hash.hash(&transcript);
            let vd = verify_data(hash, &ms, sender, th.as_ref()).map_err(|e| e.to_string())?;
            computed_vd[i] = Some(vd);
            if let Some(expected) = expected {
                let result = if verify_data_matches(&vd, &expected) {
                    Ok(())
                } else {
                    compare("verify_data", &vd, &expected)
                        .and(Err("verify_data_matches rejected equal values".into()))
                };
                report.record(&format!("{side} verify_data"), result);
            }
        }
    }

    // Encrypted Finished records (AES-CBC + HMAC-SHA1 suites only).
    for (i, (side, record, mac_key, enc_key)) in [
        (
            "client",
            extras.client_finished_record,
            client_mac,
            client_key,
        ),
        (
            "server",
            extras.server_finished_record,
            server_mac,
            server_key,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let Some(record) = record else { continue };
        // Two vectors per record; if the record cannot be opened, both fail.
        let name = format!("{side} Finished record (decrypt, padding, MAC)");
        let content_name = format!("{side} Finished record content = verify_data");
        let opened = if mac_len != 20 || !matches!(key_len, 16 | 32) {
            Err("record check needs an AES-CBC + HMAC-SHA1 suite".to_string())
        } else {
            open_cbc_sha1_record(record, enc_key, mac_key)
        };
        match opened {
            Err(e) => {
                report.record(&name, Err(e));
                report.record(&content_name, Err("record could not be opened".into()));
            }
            Ok(plaintext) => {
                report.record(&name, Ok(()));
                match computed_vd[i] {
                    Some(vd) => {
                        let mut expected = vec![0x14, 0x00, 0x00, 0x0c];
                        expected.extend_from_slice(&vd);
                        report.record(
                            &content_name,
                            compare("Finished message", &plaintext, &expected),
                        );
                    }
                    None => report.record(
                        &content_name,
                        Err(format!("no transcript_for_{side}_finished to compare with")),
                    ),
                }
            }
        }
    }
    Ok(())
}

fn x25519_public(private: &[u8]) -> Result<Vec<u8>, String> {
    let key = PrivateKey::from_private_key(&X25519, private)
        .map_err(|_| "invalid X25519 private key".to_string())?;
    let public = key
        .compute_public_key()
        .map_err(|_| "cannot compute X25519 public key".to_string())?;
    Ok(public.as_ref().to_vec())
}

fn x25519_agree(private: &[u8], peer_public: &[u8]) -> Result<Vec<u8>, String> {
    let key = PrivateKey::from_private_key(&X25519, private)
        .map_err(|_| "invalid X25519 private key".to_string())?;
    agreement::agree(
        &key,
        UnparsedPublicKey::new(&X25519, peer_public),
        "X25519 agreement failed".to_string(),
        |z| Ok(z.to_vec()),
    )
}

fn keylog_master_secret(keylog: &str, client_random: &[u8; 32]) -> Result<Vec<u8>, String> {
    for line in keylog.lines() {
        let mut parts = line.split_whitespace();
        if parts.next() != Some("CLIENT_RANDOM") {
            continue;
        }
        let (Some(cr), Some(ms), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("malformed keylog line {line:?}"));
        };
        if hex::decode(cr)? == client_random {
            return hex::decode(ms);
        }
    }
    Err("no CLIENT_RANDOM line for this client random".into())
}

/// Opens the first encrypted record of a direction (sequence number 0) for a
/// TLS 1.2 AES-CBC + HMAC-SHA1 suite (RFC 5246 §6.2.3.2): explicit IV,
/// CBC decryption, padding check, then MAC-then-encrypt MAC check. Returns
/// the plaintext fragment.
fn open_cbc_sha1_record(record: &[u8], enc_key: &[u8], mac_key: &[u8]) -> Result<Vec<u8>, String> {
    const MAC_LEN: usize = 20;
    let [content_type, v0, v1, l0, l1, fragment @ ..] = record else {
        return Err("record shorter than its header".into());
    };
    if usize::from(u16::from_be_bytes([*l0, *l1])) != fragment.len() {
        return Err("record length field does not match".into());
    }
    if fragment.len() < 32 || fragment.len() % 16 != 0 {
        return Err("fragment is not IV + whole blocks".into());
    }
    let (iv, ciphertext) = fragment.split_at(16);
    let iv: [u8; 16] = iv.try_into().map_err(|_| "IV".to_string())?;
    let alg = if enc_key.len() == 16 {
        &AES_128
    } else {
        &AES_256
    };
    let key = UnboundCipherKey::new(alg, enc_key).map_err(|_| "bad AES key".to_string())?;
    let key = DecryptingKey::cbc(key).map_err(|_| "bad AES key".to_string())?;
    let mut buf = ciphertext.to_vec();
    let plain = key
        .decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| "CBC decryption failed".to_string())?;
    let pad = usize::from(*plain.last().ok_or("empty plaintext")?);
    if pad + 1 + MAC_LEN > plain.len() {
        return Err("padding longer than plaintext".into());
    }
    let (body, padding) = plain.split_at(plain.len() - pad - 1);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err("bad CBC padding".into());
    }
    let (content, mac) = body.split_at(body.len() - MAC_LEN);
    let content_len = u16::try_from(content.len()).map_err(|_| "content too long".to_string())?;
    let mut mac_input = Vec::with_capacity(13 + content.len());
    mac_input.extend_from_slice(&0u64.to_be_bytes());
    mac_input.extend_from_slice(&[*content_type, *v0, *v1]);
    mac_input.extend_from_slice(&content_len.to_be_bytes());
    mac_input.extend_from_slice(content);
    let mac_key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, mac_key);
    hmac::verify(&mac_key, &mac_input, mac).map_err(|_| "record MAC mismatch".to_string())?;
    Ok(content.to_vec())
}
