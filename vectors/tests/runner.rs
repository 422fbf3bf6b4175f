use std::fs;
use std::path::{Path, PathBuf};

use reprise_vectors::{print_report, run, Report};

const PRF_TEXT: &str = include_str!("../data/tls12_prf_known_answer.txt");
const EMS_JSON: &str = include_str!("../data/tls12_ems_acvp_rfc7627.json");
const DERIVED_JSON: &str = include_str!("../data/illustrated-tls12/derived.json");

fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("vectors-{test}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap();
    path
}

fn rendered(report: &Report) -> String {
    let mut out = Vec::new();
    print_report(report, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Changes the last hex digit of every value on lines starting with `key`.
fn corrupt_lines(text: &str, key: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with(key) {
                let mut s = l.trim_end().to_owned();
                let last = s.pop().unwrap();
                s.push(if last == '0' { '1' } else { '0' });
                s
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn bundled_vectors_all_pass() {
    let report = run(&[]).unwrap();
    let text = rendered(&report);
    assert_eq!(report.failed(), 0, "{text}");
    assert!(report.passed() >= 20, "{text}");
    let counts: Vec<_> = report
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.passed))
        .collect();
    assert_eq!(
        counts,
        [
            ("tls12_prf_known_answer.txt", 6),
            ("tls12_ems_acvp_rfc7627.json", 20),
            ("illustrated-tls12/derived.json", 17),
        ]
    );
    assert_eq!(
        text.lines().last().unwrap(),
        format!("{} passed, 0 failed", report.passed())
    );
    assert_eq!(text.lines().count(), 4);
}

#[test]
fn extra_copies_of_bundled_files_pass() {
    let dir = scratch("copies");
    let prf = write(&dir, "prf.txt", PRF_TEXT);
    let ems = write(&dir, "ems.json", EMS_JSON);
    // No keylog.txt or caps/ beside this copy: those checks are skipped.
    let derived = write(&dir, "derived.json", DERIVED_JSON);
    let report = run(&[prf, ems, derived]).unwrap();
    assert_eq!(report.failed(), 0, "{}", rendered(&report));
    let extra: Vec<_> = report.files[3..].iter().map(|f| f.passed).collect();
    assert_eq!(extra, [6, 20, 12]);
}

#[test]
fn corrupted_prf_file_fails() {
    let dir = scratch("corrupt-prf");
    let all = write(&dir, "all.txt", corrupt_lines(PRF_TEXT, "Output"));
    let report = run(&[all]).unwrap();
    let f = &report.files[3];
    assert_eq!((f.passed, f.failed), (0, 6), "{}", rendered(&report));
    assert_eq!(f.failures.len(), 6);
    assert!(f.failures[0].contains("mismatch"), "{:?}", f.failures);
    assert_eq!(report.failed(), 6);

    // A single flipped label byte is caught too.
    let one = write(
        &dir,
        "one.txt",
        PRF_TEXT.replacen("Label = test label", "Label = tesT label", 1),
    );
    let report = run(&[one]).unwrap();
    assert_eq!((report.files[3].passed, report.files[3].failed), (5, 1));
}

#[test]
fn corrupted_json_files_fail() {
    let dir = scratch("corrupt-json");
    // One key block (tcId 1) and one master secret (tcId 21, whose key
    // block is derived from the file's master secret, so it fails as well).
    let ems = EMS_JSON
        .replacen("\"keyBlock\": \"4886E75B", "\"keyBlock\": \"4886E75C", 1)
        .replacen(
            "\"masterSecret\": \"D810F7",
            "\"masterSecret\": \"D810F8",
            1,
        );
    assert_ne!(ems, EMS_JSON);
    let ems = write(&dir, "ems.json", ems);
    let derived = DERIVED_JSON.replacen(
        "\"client_verify_data\": \"cf919626f1360c536aaad73a\"",
        "\"client_verify_data\": \"cf919626f1360c536aaad73b\"",
        1,
    );
    assert_ne!(derived, DERIVED_JSON);
    let derived = write(&dir, "derived.json", derived);
    let report = run(&[ems, derived]).unwrap();
    let text = rendered(&report);
    assert_eq!(
        (report.files[3].passed, report.files[3].failed),
        (17, 3),
        "{text}"
    );
    assert_eq!(
        (report.files[4].passed, report.files[4].failed),
        (11, 1),
        "{text}"
    );
    assert!(
        report.files[4].failures[0].starts_with("client verify_data"),
        "{text}"
    );
}

#[test]
fn malformed_extra_files_error_or_fail() {
    let dir = scratch("malformed");
    let deep = "[".repeat(10_000);
    let cases: &[(&str, &[u8])] = &[
        ("empty.txt", b""),
        ("binary.bin", &[0xff, 0xfe, 0x00, 0x80]),
        ("truncated.json", b"{\"testGroups\": ["),
        ("groups.json", b"{\"testGroups\": 5}"),
        (
            "case.json",
            b"{\"testGroups\": [{\"hashAlg\": \"SHA2-256\", \"tests\": [{\"tcId\": 1}]}]}",
        ),
        (
            "hash.json",
            b"{\"testGroups\": [{\"hashAlg\": \"MD5\", \"tests\": []}]}",
        ),
        ("other.json", b"{\"hello\": 1}"),
        ("derived.json", b"{\"master_secret\": \"00\"}"),
        (
            "typo.json",
            b"{\"master_secret\": \"00\", \"client_randon\": \"\"}",
        ),
        ("deep.json", deep.as_bytes()),
        (
            "prf-bad-hex.txt",
            b"Hash = SHA256\nSecret = zz\nLabel = x\nSeed = 00\nOutput = 00\n",
        ),
        ("prf-missing.txt", b"Hash = SHA256\nSecret = 00\n"),
        (
            "prf-hash.txt",
            b"Hash = MD5\nSecret = 00\nLabel = x\nSeed = 00\nOutput = 00\n",
        ),
        (
            "prf-empty-secret.txt",
            b"Hash = SHA256\nSecret =\nLabel = x\nSeed = 00\nOutput = 00\n",
        ),
        ("prf-junk.txt", b"Hash = SHA256\njunk\n"),
    ];
    for (name, contents) in cases {
        let path = write(&dir, name, contents);
        match run(&[path]) {
            Err(_) => {}
            Ok(report) => {
                let f = &report.files[3];
                assert!(
                    f.failed > 0 && f.passed == 0,
                    "{name}: {}",
                    rendered(&report)
                );
            }
        }
    }
    assert!(run(&[dir.join("does-not-exist.txt")]).is_err());
}

#[test]
fn tampered_finished_record_fails() {
    let dir = scratch("tampered-record");
    let derived = write(&dir, "derived.json", DERIVED_JSON);
    write(
        &dir,
        "keylog.txt",
        include_str!("../data/illustrated-tls12/keylog.txt"),
    );
    fs::create_dir_all(dir.join("caps")).unwrap();
    let mut client = include_bytes!("../data/illustrated-tls12/caps/clientfinished").to_vec();
    let last = client.len() - 1;
    client[last] ^= 1; // last ciphertext byte: breaks padding or MAC
    write(&dir, "caps/clientfinished", client);
    write(
        &dir,
        "caps/serverfinished",
        include_bytes!("../data/illustrated-tls12/caps/serverfinished"),
    );
    let report = run(&[derived]).unwrap();
    let f = &report.files[3];
    let text = rendered(&report);
    assert_eq!((f.passed, f.failed), (15, 2), "{text}");
    assert!(
        f.failures[0].starts_with("client Finished record"),
        "{text}"
    );
}
