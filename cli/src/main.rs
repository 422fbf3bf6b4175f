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

use clap::{CommandFactory, Parser, Subcommand};

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
        #[arg(long, required_unless_present = "config", conflicts_with = "config")]
        control: Option<String>,
        /// The server's `--config` file: its `control` path is used.
        #[arg(long)]
        config: Option<String>,
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
    /// Print a shell completion script (`reprise completions bash > /etc/bash_completion.d/reprise`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print a man page in roff: reprise(1), or reprise-SUBCOMMAND(1) (`reprise man serve |
    /// man -l -`).
    Man {
        /// A subcommand (`serve`, `ctl`, …); none for reprise(1).
        subcommand: Option<String>,
    },
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
        Command::Ctl {
            control,
            config,
            command,
        } => serve::control::control_path(control, config.as_deref())
            .and_then(|path| serve::control::ctl(&path, &command)),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "reprise", &mut script);
            print_all(&script)
        }
        Command::Man { subcommand } => man_page(subcommand.as_deref()).and_then(|p| print_all(&p)),
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

/// Writes `bytes` to stdout; a reader that went away (`| head`) is not an error.
fn print_all(bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
        _ => Ok(()),
    }
}

/// The roff of reprise(1), or of reprise-SUBCOMMAND(1).
fn man_page(subcommand: Option<&str>) -> Result<Vec<u8>, String> {
    let mut command = Cli::command();
    command.build();
    let page = match subcommand {
        None => clap_mangen::Man::new(command),
        Some(name) => {
            let sub = command
                .find_subcommand(name)
                .ok_or_else(|| format!("no subcommand {name:?}"))?;
            clap_mangen::Man::new(sub.clone())
                .title(format!("reprise-{name}"))
                .source(format!("reprise {}", env!("CARGO_PKG_VERSION")))
        }
    };
    let mut roff = Vec::new();
    page.render(&mut roff)
        .map_err(|e| format!("man page: {e}"))?;
    Ok(roff)
}

fn run_vectors(files: &[PathBuf]) -> Result<(), String> {
    let report = reprise_vectors::run(files).map_err(|e| e.to_string())?;
    reprise_vectors::print_report(&report, &mut std::io::stdout()).map_err(|e| e.to_string())?;
    if report.failed() > 0 {
        return Err(format!("{} vectors failed", report.failed()));
    }
    Ok(())
}
