//! Runs one case on one stack in a loop, for `perf record -g`:
//! `profile <full|full-p256|sid|ticket|send|receive> [reprise|rustls] [seconds]`.

use std::time::{Duration, Instant};

use reprise_benches::cases::{Bulk, Direction, Handshakes, Stack};
use reprise_benches::meter::NoMeter;
use reprise_benches::pki::CertKind;
use reprise_benches::setup::{Group, Resume, Scenario};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let case = args.get(1).map_or("sid", String::as_str);
    let stack = match args.get(2).map_or("reprise", String::as_str) {
        "rustls" => Stack::Rustls,
        _ => Stack::Reprise,
    };
    let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut n = 0u64;
    match case {
        "send" | "receive" => {
            let dir = if case == "send" {
                Direction::Send
            } else {
                Direction::Receive
            };
            let mut bulk = Bulk::new(stack)?;
            while Instant::now() < end {
                bulk.time(1000, dir);
                n += 1000;
            }
        }
        _ => {
            let scenario = match case {
                "full" => Scenario::full(CertKind::EcdsaP256, Group::X25519),
                "full-p256" => Scenario::full(CertKind::EcdsaP256, Group::P256),
                "ticket" => Scenario::resumed(Resume::Ticket),
                _ => Scenario::resumed(Resume::SessionId),
            };
            let mut hs = Handshakes::new(stack, scenario)?;
            while Instant::now() < end {
                for _ in 0..100 {
                    hs.run(&mut NoMeter)?;
                }
                n += 100;
            }
        }
    }
    println!("{n} iterations");
    Ok(())
}
