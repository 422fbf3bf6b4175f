//! The fleet: three `reprise serve` processes driven round-robin by `reprise load --targets`,
//! with per-server keys and caches (~1/3 resumed), centrally rotated ticket keys (≥ 99%), the
//! Redis session store (≥ 99%), and a Redis outage (0 errors; resumption comes back). The
//! scenario lives in `scripts/fleet.sh` (also run by hand); this test runs it, bounded.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn fleet_resumption_across_three_servers() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/fleet.sh");
    let out = run_with_timeout(
        Command::new("bash")
            .arg(script)
            .arg("2")
            .env("REPRISE_BIN", reprise_bin()),
        b"",
        Duration::from_secs(240),
    );
    let all = text(&out);
    assert!(out.status.success(), "fleet checks failed\n{all}");
    assert!(all.contains("fleet: all checks passed"), "{all}");
    for line in [
        "tickets, per-server keys",
        "session IDs, per-server caches",
        "tickets, fleet keys, rotating",
        "session IDs, Redis store",
        "Redis killed mid-run",
        "Redis back",
    ] {
        assert!(
            all.lines().any(|l| l.contains(line) && l.ends_with("ok")),
            "{line}: {all}"
        );
    }
}
