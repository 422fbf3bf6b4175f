//! The bench runner works end to end: every case sets up on both stacks (resumption cases
//! check that they resume), runs, and the report has a row per case and a verdict per goal.
//! Tiny batches: this checks the machinery, not the speed.

use std::time::Duration;

use reprise_benches::quick::{run_with, Budget};

#[test]
fn every_case_runs_and_every_goal_gets_a_verdict() {
    let report = run_with(Budget {
        batch: Duration::from_micros(200),
        batches: 1,
    })
    .expect("bench run");
    let text = report.to_string();
    for case in [
        "full ecdsa-p256 x25519 server",
        "full rsa-2048 p256 client",
        "resume session-id server",
        "resume ticket server",
        "bulk send 16KiB records",
        "bulk receive 16KiB records",
        "ticket open",
        "session cache get+put, 2 threads",
        "mutual full ecdsa-p256 x25519 server",
        "mutual resume session-id server",
        "mutual resume ticket client",
        "resume session-id server, 2 threads / 2 x 1",
        "resume ticket server, 2 threads / 2 x 1",
    ] {
        let row = report
            .rows
            .iter()
            .find(|r| r.case == case)
            .unwrap_or_else(|| panic!("no row {case}:\n{text}"));
        assert!(row.reprise > 0.0 && row.rustls > 0.0, "{case}: {row:?}");
    }
    let verdicts = text
        .lines()
        .filter(|l| l.starts_with("goal met: ") || l.starts_with("goal not met: "))
        .count();
    assert_eq!(verdicts, report.goals.len());
    // 8 plain goals, 3 mutual ones, 2 for two threads.
    assert_eq!(verdicts, 13, "{text}");
    assert!(report.bytes_per_session > 0.0);
}
