//! The fleet: three `reprise serve` processes driven round-robin by `reprise load --targets`,
//! with per-server keys and caches (~1/3 resumed), centrally rotated ticket keys (≥ 99%), the
//! Redis session store (≥ 99%), and a Redis outage (0 errors; resumption comes back); then
//! the high-availability scenarios: Redis Cluster and Sentinel failovers, two publishers with
//! one lease, TLS to Redis with an ACL user. The scenarios live in `scripts/fleet.sh` (also
//! run by hand); these tests run them, bounded.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// One scenario at a time: each runs three servers, a load generator and its Redis nodes,
/// and its >= 99% checks assume lookups answered within their 100 ms bound.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `scripts/fleet.sh ARGS… 2` and checks that every named line passed.
fn fleet_script(args: &[&str], lines: &[&str]) -> String {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/fleet.sh");
    let out = run_with_timeout(
        Command::new("bash")
            .arg(script)
            .args(args)
            .arg("2")
            .env("REPRISE_BIN", reprise_bin()),
        b"",
        Duration::from_secs(240),
    );
    let all = text(&out);
    assert!(out.status.success(), "fleet checks failed\n{all}");
    assert!(all.contains("fleet: all checks passed"), "{all}");
    for line in lines {
        assert!(
            all.lines().any(|l| l.contains(line) && l.ends_with("ok")),
            "{line}: {all}"
        );
    }
    all
}

#[test]
fn fleet_resumption_across_three_servers() {
    fleet_script(
        &[],
        &[
            "tickets, per-server keys",
            "session IDs, per-server caches",
            "tickets, fleet keys, rotating",
            "session IDs, Redis store",
            "Redis killed mid-run",
            "Redis back",
        ],
    );
}

const FAILOVER_LINES: [&str; 6] = [
    "session IDs (>=99%)",
    "tickets, rotating (>=99%)",
    "master killed mid-run (0 errors)",
    "session IDs after the failover",
    "tickets after the failover (>=99%)",
    "fleet metrics",
];

#[test]
fn a_redis_cluster_shares_sessions_and_keys_through_a_master_failover() {
    let all = fleet_script(&["--ha", "cluster"], &FAILOVER_LINES);
    assert!(
        all.contains("cluster: session IDs after the failover"),
        "{all}"
    );
}

#[test]
fn redis_sentinel_fails_over_without_failed_handshakes() {
    let all = fleet_script(&["--ha", "sentinel"], &FAILOVER_LINES);
    assert!(all.contains("Sentinel promoted the replica"), "{all}");
}

#[test]
fn a_standby_publisher_takes_the_lease_and_continues_the_ring() {
    fleet_script(
        &["--ha", "publishers"],
        &[
            "publishers: tickets, leader killed (>=99%)",
            "publishers: the standby leads",
            "publishers: the new leader rotates",
        ],
    );
}

#[test]
fn tls_to_redis_with_an_acl_user() {
    fleet_script(
        &["--ha", "tls"],
        &[
            "tls: session IDs over rediss:// + ACL (>=99%)",
            "tls: tickets over rediss:// + ACL (>=99%)",
            "tls: logs show the URL without its password",
            "tls: a wrong password: full handshakes",
            "tls: an untrusted CA: full handshakes",
        ],
    );
}
