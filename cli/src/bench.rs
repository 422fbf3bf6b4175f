//! `reprise bench [--quick]`: the engine against rustls, in memory, with primitive floors,
//! allocation counts and goal verdicts (the logic lives in `reprise_benches::quick`).
//!
//! The CLI's default feature `count-allocations` enables `reprise-benches`' feature of that
//! name, whose `allocation-counter` dependency installs a thread-local counting global
//! allocator (a few non-atomic adds per allocation), so the bench can count allocations per
//! handshake without any `unsafe` here. A build with `--no-default-features` (for production
//! servers) leaves the counter out, and the bench says it cannot count.

use clap::Args;

/// Options of `reprise bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Short batches (the run takes well under two minutes).
    #[arg(long)]
    quick: bool,
    /// Print only the crypto floor of one server handshake (full ECDSA P-256 / X25519,
    /// session-ID and ticket resumption), one `floor CASE: MICROSECONDS us` line each.
    #[arg(long)]
    floors: bool,
}

/// Runs the bench and prints the table, the floors and one line per goal.
pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.floors {
        for (case, secs) in
            reprise_benches::quick::server_floors(reprise_benches::quick::Budget::QUICK)?
        {
            println!("floor {case}: {:.1} us", secs * 1e6);
        }
        return Ok(());
    }
    eprintln!(
        "benchmarking Reprise against rustls ({} run)…",
        if args.quick { "quick" } else { "full" }
    );
    let report = reprise_benches::quick::run(args.quick)?;
    print!("{report}");
    Ok(())
}
