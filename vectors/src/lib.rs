//! Known-answer vectors for Reprise's TLS 1.2 key derivation.
//!
//! The bundled files under `vectors/data/` are embedded in the binary, so
//! [`run`] works from any directory. Extra files in the same formats can be
//! passed to [`run`] (the CLI's `reprise vectors --file F`); see
//! `vectors/README.md` for the formats.

#![forbid(unsafe_code)]

use std::io;
use std::path::{Path, PathBuf};

mod acvp;
mod hex;
mod illustrated;
pub mod json;
mod prf_text;

/// Results for one vector file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileReport {
    /// File name (bundled files: their path under `vectors/data/`).
    pub name: String,
    /// Number of vectors that matched.
    pub passed: usize,
    /// Number of vectors that did not match or could not be evaluated.
    pub failed: usize,
    /// One message per failed vector: `"<vector>: <reason>"`.
    pub failures: Vec<String>,
}

impl FileReport {
    fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    fn record(&mut self, vector: &str, result: Result<(), String>) {
        match result {
            Ok(()) => self.passed += 1,
            Err(e) => {
                self.failed += 1;
                self.failures.push(format!("{vector}: {e}"));
            }
        }
    }
}

/// Results for all files of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub files: Vec<FileReport>,
}

impl Report {
    /// Total passed vectors.
    #[must_use]
    pub fn passed(&self) -> usize {
        self.files.iter().map(|f| f.passed).sum()
    }

    /// Total failed vectors.
    #[must_use]
    pub fn failed(&self) -> usize {
        self.files.iter().map(|f| f.failed).sum()
    }
}

/// Compares computed bytes with expected bytes, describing a mismatch.
fn compare(what: &str, got: &[u8], expected: &[u8]) -> Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "{what} mismatch: expected {}, got {}",
            hex::encode(expected),
            hex::encode(got)
        ))
    }
}

const PRF_NAME: &str = "tls12_prf_known_answer.txt";
const PRF_TEXT: &str = include_str!("../data/tls12_prf_known_answer.txt");
const EMS_NAME: &str = "tls12_ems_acvp_rfc7627.json";
const EMS_JSON: &str = include_str!("../data/tls12_ems_acvp_rfc7627.json");
const ILLUSTRATED_NAME: &str = "illustrated-tls12/derived.json";
const ILLUSTRATED_JSON: &str = include_str!("../data/illustrated-tls12/derived.json");
const ILLUSTRATED_KEYLOG: &str = include_str!("../data/illustrated-tls12/keylog.txt");
const ILLUSTRATED_CLIENT_FINISHED: &[u8] =
    include_bytes!("../data/illustrated-tls12/caps/clientfinished");
const ILLUSTRATED_SERVER_FINISHED: &[u8] =
    include_bytes!("../data/illustrated-tls12/caps/serverfinished");

/// Runs the bundled files plus `extra` files.
///
/// The format of an extra file is detected from its content: a JSON object
/// with `testGroups` is an ACVP TLS 1.2 RFC 7627 KDF set; a JSON object with
/// `master_secret` is an illustrated-tls12-style `derived.json` (a
/// `keylog.txt` and `caps/clientfinished`, `caps/serverfinished` beside it
/// are used when present); text with `Hash =` lines is the PRF format.
///
/// # Errors
/// An extra file that cannot be read, is not UTF-8, or whose format is not
/// recognised is an error. A file of a recognised format with malformed
/// content is reported as failures instead.
pub fn run(extra: &[PathBuf]) -> io::Result<Report> {
    let mut files = Vec::with_capacity(3 + extra.len());

    let mut r = FileReport::new(PRF_NAME);
    prf_text::run(PRF_TEXT, &mut r);
    files.push(r);

    files.push(run_json(
        EMS_NAME,
        EMS_JSON,
        &illustrated::Extras::default(),
        Some(Format::Acvp),
    )?);

    let extras = illustrated::Extras {
        keylog: Some(ILLUSTRATED_KEYLOG),
        client_finished_record: Some(ILLUSTRATED_CLIENT_FINISHED),
        server_finished_record: Some(ILLUSTRATED_SERVER_FINISHED),
    };
    files.push(run_json(
        ILLUSTRATED_NAME,
        ILLUSTRATED_JSON,
        &extras,
        Some(Format::Illustrated),
    )?);

    for path in extra {
        files.push(run_file(path)?);
    }
    Ok(Report { files })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Acvp,
    Illustrated,
}

fn invalid(path: &Path, msg: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {msg}", path.display()),
    )
}

fn run_file(path: &Path) -> io::Result<FileReport> {
    let bytes = std::fs::read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid(path, "not UTF-8 text"))?;
    let name = path.display().to_string();
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let is_json_ext = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));

    if trimmed.starts_with('{') || is_json_ext {
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let keylog = std::fs::read_to_string(dir.join("keylog.txt")).ok();
        let client_finished = std::fs::read(dir.join("caps").join("clientfinished")).ok();
        let server_finished = std::fs::read(dir.join("caps").join("serverfinished")).ok();
        let extras = illustrated::Extras {
            keylog: keylog.as_deref(),
            client_finished_record: client_finished.as_deref(),
            server_finished_record: server_finished.as_deref(),
        };
        return match run_json(&name, trimmed, &extras, None) {
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(invalid(path, &e.to_string())),
            other => other,
        };
    }
    let is_prf_text = trimmed.lines().any(|l| {
        l.trim_start()
            .strip_prefix("Hash")
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    });
    if is_prf_text {
        let mut r = FileReport::new(name);
        prf_text::run(&text, &mut r);
        return Ok(r);
    }
    Err(invalid(
        path,
        "unrecognised vector format (expected PRF text, ACVP RFC 7627 JSON or derived.json)",
    ))
}

fn run_json(
    name: &str,
    text: &str,
    extras: &illustrated::Extras<'_>,
    format: Option<Format>,
) -> io::Result<FileReport> {
    let mut r = FileReport::new(name);
    let doc = match json::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            r.record("document", Err(e.to_string()));
            return Ok(r);
        }
    };
    let format = match format {
        Some(f) => f,
        None if doc.get("testGroups").is_some() => Format::Acvp,
        None if doc.get("master_secret").is_some() => Format::Illustrated,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "JSON is neither an ACVP set (testGroups) nor a derived.json (master_secret)",
            ))
        }
    };
    match format {
        Format::Acvp => acvp::run(&doc, &mut r),
        Format::Illustrated => illustrated::run(&doc, extras, &mut r),
    }
    Ok(r)
}

/// Prints one row per file (`name  passed N  failed M`, followed by an
/// indented `FAIL` line per failed vector), then a final line exactly
/// `N passed, M failed`.
///
/// # Errors
/// Errors from writing to `out`.
pub fn print_report(report: &Report, out: &mut dyn io::Write) -> io::Result<()> {
    let width = report.files.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in &report.files {
        writeln!(
            out,
            "{:<width$}  passed {}  failed {}",
            f.name, f.passed, f.failed
        )?;
        for failure in &f.failures {
            writeln!(out, "    FAIL {failure}")?;
        }
    }
    writeln!(
        out,
        "{} passed, {} failed",
        report.passed(),
        report.failed()
    )
}
