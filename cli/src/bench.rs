//! `reprise bench [--quick]`: the engine against rustls, in memory, with primitive floors,
//! allocation counts and goal verdicts (the logic lives in `reprise_benches::quick`).
//!
//! The harness links rustls and installs a counting global allocator (the `allocation-counter`
//! crate, a few non-atomic adds per allocation), so it is only in a build with the `bench`
//! feature: `cargo run --release --features bench -- bench --quick`. The default build — the
//! binary an operator installs — has the command too, and says how to get a build that runs
//! it.

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
#[cfg(feature = "bench")]
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

/// Without the harness: says which build has it.
#[cfg(not(feature = "bench"))]
pub fn run(_args: BenchArgs) -> Result<(), String> {
    Err(
        "this reprise was built without the benchmark harness (it links rustls and a \
         counting allocator); run it with `cargo run --release --features bench -- bench`"
            .into(),
    )
}
