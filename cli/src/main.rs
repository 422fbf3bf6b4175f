//! The `reprise` command-line tool.

mod bench;
mod certs;
mod connect;
mod demo;
mod keylog;
mod keys;
mod ladder;
mod load;
mod metrics_http;
mod serve;
mod trace;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "reprise",
    version,
    about = "Reprise: a sans-IO TLS 1.2 engine with fast session resumption"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Full, session-ID and ticket handshakes over a simulated link, drawn as ladders.
    Demo(demo::DemoArgs),
    /// The message ladder of a real handshake with any TLS 1.2 server.
    Trace(trace::TraceArgs),
    /// Run a TLS 1.2 server answering HTTP/1.x with a small page.
    Serve(Box<serve::ServeArgs>),
    /// Ask a running `reprise serve --control PATH`: status, reload, rotate-ticket-keys,
    /// retire-ticket-keys.
    Ctl {
        /// The server's control socket.
        #[arg(long)]
        control: String,
        /// `status`, `reload`, `rotate-ticket-keys` or `retire-ticket-keys`.
        #[arg(value_parser = ["status", "reload", "rotate-ticket-keys", "retire-ticket-keys"])]
        command: String,
    },
    /// Connect to a TLS 1.2 server and print what was negotiated.
    Connect(connect::ConnectArgs),
    /// Load-test a TLS 1.2 server with many concurrent handshaking clients.
    Load(load::LoadArgs),
    /// Generate and inspect session-ticket key files.
    Keys(keys::KeysArgs),
    /// Benchmark the engine against rustls in memory, with primitive floors and goals
    /// (in a build with `--features bench`).
    Bench(bench::BenchArgs),
    /// Run the known-answer vectors.
    Vectors {
        /// Further vector files (formats in vectors/README.md).
        #[arg(long = "file")]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Ctl { control, command } => serve::control::ctl(&control, &command),
        Command::Connect(args) => connect::run(args),
        Command::Load(args) => load::run(args),
        Command::Vectors { files } => run_vectors(&files),
        Command::Keys(args) => keys::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Trace(args) => trace::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_vectors(files: &[PathBuf]) -> Result<(), String> {
    let report = reprise_vectors::run(files).map_err(|e| e.to_string())?;
    reprise_vectors::print_report(&report, &mut std::io::stdout()).map_err(|e| e.to_string())?;
    if report.failed() > 0 {
        return Err(format!("{} vectors failed", report.failed()));
    }
    Ok(())
}
