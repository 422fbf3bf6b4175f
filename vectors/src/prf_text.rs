//! The PRF known-answer text format (`tls12_prf_known_answer.txt`).
//!
//! Blocks of `Key = Value` lines separated by blank lines; lines starting
//! with `#` are comments (the last comment line before a block names it).
//! Every block needs exactly the keys `Hash` (`SHA256` or `SHA384`),
//! `Secret` (hex), `Label` (ASCII, taken verbatim after `= `), `Seed` (hex)
//! and `Output` (hex, non-empty). Unknown or repeated keys are errors.

use reprise::internal::prf::{prf, PrfHash};

use crate::{hex, FileReport};

#[derive(Default)]
struct Block {
    line: usize,
    name: Option<String>,
    fields: Vec<(String, String)>,
    error: Option<String>,
}

/// Parses and checks every block in `text`, recording one vector per block.
pub fn run(text: &str, report: &mut FileReport) {
    let mut pending_name: Option<String> = None;
    let mut block: Option<Block> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line_no = idx + 1;
        let line = raw.trim();
        if line.is_empty() {
            if let Some(b) = block.take() {
                check_block(b, report);
            }
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if block.is_none() {
                let comment = comment.trim();
                if !comment.is_empty() {
                    pending_name = Some(comment.to_owned());
                }
            }
            continue;
        }
        let b = block.get_or_insert_with(|| Block {
            line: line_no,
            name: pending_name.take(),
            ..Block::default()
        });
        match line.split_once('=') {
            Some((key, value)) => {
                let key = key.trim();
                // Only the single space after '=' is syntax; keep labels verbatim.
                let value = value.strip_prefix(' ').unwrap_or(value);
                if !matches!(key, "Hash" | "Secret" | "Label" | "Seed" | "Output") {
                    b.error
                        .get_or_insert(format!("line {line_no}: unknown key {key:?}"));
                } else if b.fields.iter().any(|(k, _)| k == key) {
                    b.error
                        .get_or_insert(format!("line {line_no}: repeated key {key:?}"));
                } else {
                    b.fields.push((key.to_owned(), value.trim_end().to_owned()));
                }
            }
            None => {
                b.error
                    .get_or_insert(format!("line {line_no}: expected `Key = Value`"));
            }
        }
    }
    if let Some(b) = block.take() {
        check_block(b, report);
    }
}

fn check_block(b: Block, report: &mut FileReport) {
    let name = match &b.name {
        Some(n) => format!("line {}: {n}", b.line),
        None => format!("block at line {}", b.line),
    };
    let result = match b.error {
        Some(e) => Err(e),
        None => evaluate(&b.fields),
    };
    report.record(&name, result);
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> Result<&'a str, String> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| format!("missing key {key:?}"))
}

pub(crate) fn parse_hash_name(name: &str) -> Result<PrfHash, String> {
    match name {
        "SHA256" | "SHA-256" | "SHA2-256" => Ok(PrfHash::Sha256),
        "SHA384" | "SHA-384" | "SHA2-384" => Ok(PrfHash::Sha384),
        other => Err(format!("unsupported hash {other:?}")),
    }
}

fn evaluate(fields: &[(String, String)]) -> Result<(), String> {
    let hash = parse_hash_name(field(fields, "Hash")?)?;
    let secret = hex::decode(field(fields, "Secret")?).map_err(|e| format!("Secret: {e}"))?;
    let label = field(fields, "Label")?;
    if !label.is_ascii() {
        return Err("Label is not ASCII".into());
    }
    let seed = hex::decode(field(fields, "Seed")?).map_err(|e| format!("Seed: {e}"))?;
    let expected = hex::decode(field(fields, "Output")?).map_err(|e| format!("Output: {e}"))?;
    if expected.is_empty() {
        return Err("empty Output checks nothing".into());
    }
    let mut out = vec![0u8; expected.len()];
    prf(hash, &secret, label.as_bytes(), &seed, &[], &mut out).map_err(|e| e.to_string())?;
    crate::compare("PRF output", &out, &expected)
}
