//! NIST ACVP `TLS-v1.2` / `KDF` / `RFC7627` vector sets (the
//! `internalProjection.json` / `expectedResults`-merged shape): every test
//! case gives `preMasterSecret`, `sessionHash`, `clientRandom`,
//! `serverRandom`, `masterSecret` and `keyBlock` (all hex).
//!
//! Each test case yields two vectors: the extended master secret and the
//! key block (derived from the file's `masterSecret`, so the two checks are
//! independent).

use reprise::internal::prf::{extended_master_secret, key_block, MasterSecret};

use crate::json::Value;
use crate::prf_text::parse_hash_name;
use crate::{hex, FileReport};

/// Checks every test case of an ACVP RFC 7627 KDF document.
pub fn run(doc: &Value, report: &mut FileReport) {
    if let Some(mode) = doc.get("mode").and_then(Value::as_str) {
        if mode != "KDF" {
            report.record("document", Err(format!("unsupported ACVP mode {mode:?}")));
            return;
        }
    }
    let Some(groups) = doc.get("testGroups").and_then(Value::as_array) else {
        report.record("document", Err("testGroups is not an array".into()));
        return;
    };
    for (gi, group) in groups.iter().enumerate() {
        let gname = match group.get("tgId").and_then(Value::as_u64) {
            Some(id) => format!("tgId {id}"),
            None => format!("testGroups[{gi}]"),
        };
        if let Err(e) = run_group(group, &gname, report) {
            report.record(&gname, Err(e));
        }
    }
}

fn run_group(group: &Value, gname: &str, report: &mut FileReport) -> Result<(), String> {
    let hash_name = group
        .get("hashAlg")
        .and_then(Value::as_str)
        .ok_or("missing hashAlg")?;
    let hash = parse_hash_name(hash_name)?;
    if let Some(v) = group.get("tlsVersion") {
        if v.as_str() != Some("v1.2_ems") {
            return Err(format!("unsupported tlsVersion {v:?}"));
        }
    }
    let kb_bits = match group.get("keyBlockLength") {
        None => None,
        Some(v) => {
            let bits = v.as_u64().ok_or("keyBlockLength is not an integer")?;
            if bits == 0 || bits % 8 != 0 {
                return Err(format!(
                    "keyBlockLength {bits} is not a positive multiple of 8"
                ));
            }
            Some(bits)
        }
    };
    let tests = group
        .get("tests")
        .and_then(Value::as_array)
        .ok_or("tests is not an array")?;
    for (ti, case) in tests.iter().enumerate() {
        let name = match case.get("tcId").and_then(Value::as_u64) {
            Some(id) => format!("{gname} tcId {id}"),
            None => format!("{gname} tests[{ti}]"),
        };
        let inputs = match Case::parse(case) {
            Ok(c) => c,
            Err(e) => {
                report.record(&name, Err(e));
                continue;
            }
        };
        report.record(
            &format!("{name} master secret"),
            extended_master_secret(hash, &inputs.pms, &inputs.session_hash)
                .map_err(|e| e.to_string())
                .and_then(|ms| crate::compare("master secret", ms.as_bytes(), &inputs.ms)),
        );
        let kb_result = (|| {
            if let Some(bits) = kb_bits {
                if inputs.key_block.len() as u64 * 8 != bits {
                    return Err(format!(
                        "keyBlock is {} bits, keyBlockLength says {bits}",
                        inputs.key_block.len() * 8
                    ));
                }
            }
            let ms = MasterSecret::from_bytes(inputs.ms);
            let mut out = vec![0u8; inputs.key_block.len()];
            key_block(
                hash,
                &ms,
                &inputs.client_random,
                &inputs.server_random,
                &mut out,
            )
            .map_err(|e| e.to_string())?;
            crate::compare("key block", &out, &inputs.key_block)
        })();
        report.record(&format!("{name} key block"), kb_result);
    }
    Ok(())
}

struct Case {
    pms: Vec<u8>,
    session_hash: Vec<u8>,
    client_random: [u8; 32],
    server_random: [u8; 32],
    ms: [u8; 48],
    key_block: Vec<u8>,
}

impl Case {
    fn parse(case: &Value) -> Result<Self, String> {
        let s = |key: &str| -> Result<&str, String> {
            case.get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("missing string {key:?}"))
        };
        let ctx = |key: &'static str| move |e: String| format!("{key}: {e}");
        let key_block = hex::decode(s("keyBlock")?).map_err(ctx("keyBlock"))?;
        if key_block.is_empty() {
            return Err("empty keyBlock".into());
        }
        Ok(Self {
            pms: hex::decode(s("preMasterSecret")?).map_err(ctx("preMasterSecret"))?,
            session_hash: hex::decode(s("sessionHash")?).map_err(ctx("sessionHash"))?,
            client_random: hex::decode_array(s("clientRandom")?).map_err(ctx("clientRandom"))?,
            server_random: hex::decode_array(s("serverRandom")?).map_err(ctx("serverRandom"))?,
            ms: hex::decode_array(s("masterSecret")?).map_err(ctx("masterSecret"))?,
            key_block,
        })
    }
}
