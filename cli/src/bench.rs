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
}

/// Runs the bench and prints the table, the floors and one line per goal.
pub fn run(args: BenchArgs) -> Result<(), String> {
    eprintln!(
        "benchmarking Reprise against rustls ({} run)…",
        if args.quick { "quick" } else { "full" }
    );
    let report = reprise_benches::quick::run(args.quick)?;
    print!("{report}");
    Ok(())
}
