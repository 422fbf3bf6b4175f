//! `tcp-floor`: the bare-TCP floor of the loopback benchmark. `serve` answers with the byte
//! counts of a Reprise TLS 1.2 handshake on one event loop shaped like a Reprise driver's
//! (`--driver mio`, or `--driver uring`: [`reprise_benches::uring_floor`]), `load` drives it like
//! `reprise load`; the server's CPU time per exchange is what TCP alone costs for a
//! handshake on that driver. See [`reprise_benches::floor`] for the patterns and where their
//! sizes come from. `crypto` prints the other half of the floor: the primitives a server
//! handshake cannot avoid.
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use reprise_benches::floor::{self, Bound, LoadOptions, Pattern, Proxy};

#[derive(Parser)]
#[command(
    name = "tcp-floor",
    about = "Bare-TCP exchanges shaped like TLS 1.2 handshakes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the pattern on one event loop until SIGTERM or SIGINT.
    Serve {
        /// Address to listen on (port 0 picks one; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        #[command(flatten)]
        pattern: PatternArgs,
        /// The listen(2) backlog.
        #[arg(long, default_value_t = 1024)]
        backlog: i32,
        /// After a signal, how long exchanges in flight may take to finish (e.g. 2s).
        #[arg(long, default_value = "2s", value_parser = reprise_serve::units::seconds)]
        grace: Duration,
        /// The event loop: `mio` (epoll, as `reprise serve --driver mio`) or `uring`
        /// (io_uring, the operations of `reprise serve --driver uring`).
        #[arg(long, default_value = "mio", value_parser = ["mio", "uring"])]
        driver: String,
        /// While busy, how long to let a batch of events gather before the next wait, as
        /// `reprise serve --batch-wait` (0 turns batching off; by default each driver's own,
        /// as for the server).
        #[arg(long, value_parser = reprise_serve::units::seconds)]
        batch_wait: Option<Duration>,
        /// Proxy to this backend (a proxied pattern: `proxied-full`, `proxied-id`,
        /// `proxied-ticket`, or `--steps` ending with the client's request): once the request
        /// has arrived, connect, send `GET /` for `--host`, and relay every read to the client
        /// as one record-sized write, as `reprise serve --backend` does.
        #[arg(long)]
        backend: Option<SocketAddr>,
        /// The Host of the request sent to the backend (`reprise load --sni`).
        #[arg(long, default_value = "localhost", requires = "backend")]
        host: String,
    },
    /// Keep N connections doing the pattern's client side and report exchanges per second.
    Load {
        /// The server.
        target: SocketAddr,
        #[command(flatten)]
        pattern: PatternArgs,
        /// Connections kept busy at once.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// How long to run (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s", value_parser = reprise_serve::units::seconds, conflicts_with = "handshakes")]
        duration: Duration,
        /// Stop after this many exchanges (connection attempts) instead of a duration.
        #[arg(long)]
        handshakes: Option<u64>,
        /// Seconds one exchange may take before it counts as an error.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Print the crypto floor of one server handshake (full ECDSA P-256 / X25519, session-ID
    /// and ticket resumption), one `floor CASE: MICROSECONDS us` line each: what the loopback
    /// benchmark adds to the bare-TCP floor (the same lines as `reprise bench --floors`).
    Crypto,
}

#[derive(Args)]
struct PatternArgs {
    /// Built-in step sizes: `full`, `resumed` (session ID; also `id`) or `ticket`, or a
    /// terminator's proxied connection: `proxied-full`, `proxied-id`, `proxied-ticket`
    /// (`serve` needs `--backend` for these).
    #[arg(long, default_value = "full", conflicts_with = "steps")]
    pattern: String,
    /// Explicit step sizes in bytes, client first, alternating (e.g. 146,147,82,31).
    #[arg(long)]
    steps: Option<String>,
    /// With `--steps`: the last step is a request the server answers through a backend, and
    /// the client reads the answer until the server closes (the built-in `proxied-…`
    /// patterns are proxied already).
    #[arg(long, requires = "steps")]
    proxied: bool,
}

impl PatternArgs {
    fn pattern(&self) -> Result<Pattern, String> {
        let mut pattern = match &self.steps {
            Some(list) => Pattern::from_steps(list)?,
            None => Pattern::named(&self.pattern)?,
        };
        pattern.proxied |= self.proxied;
        Ok(pattern)
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcp-floor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            listen,
            pattern,
            backlog,
            grace,
            driver,
            batch_wait,
            backend,
            host,
        } => {
            let mut pattern = pattern.pattern()?;
            // Explicit steps become proxied with a backend.
            pattern.proxied |= backend.is_some();
            let proxy = backend.map(|addr| Proxy::http_get(addr, &host));
            if pattern.proxied && proxy.is_none() {
                return Err(format!(
                    "pattern {pattern}: a proxied pattern needs a backend"
                ));
            }
            let listener =
                floor::bind(listen, backlog).map_err(|e| format!("listen on {listen}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            // Self-pipe: the signal handler writes a byte, the event loop wakes on the read end.
            let (read_end, write_end) =
                std::os::unix::net::UnixStream::pair().map_err(|e| e.to_string())?;
            read_end.set_nonblocking(true).map_err(|e| e.to_string())?;
            write_end.set_nonblocking(true).map_err(|e| e.to_string())?;
            for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
                let end = write_end.try_clone().map_err(|e| e.to_string())?;
                signal_hook::low_level::pipe::register(signal, end).map_err(|e| e.to_string())?;
            }
            println!("listening on {addr}");
            println!("pattern: {pattern}");
            println!("driver: {driver}");
            let _ = std::io::stdout().flush();
            let report = if driver == "uring" {
                reprise_benches::uring_floor::serve(
                    listener,
                    &pattern,
                    proxy.as_ref(),
                    read_end,
                    grace,
                    batch_wait.unwrap_or(reprise_uring::server::BATCH_WAIT),
                )
            } else {
                let stop = mio::net::UnixStream::from_std(read_end);
                let batch_wait = batch_wait.unwrap_or(reprise_mio::server::BATCH_WAIT);
                floor::serve(listener, &pattern, proxy.as_ref(), stop, grace, batch_wait)
            }
            .map_err(|e| format!("serve ({driver}): {e}"))?;
            println!("{report}");
            Ok(())
        }
        Command::Load {
            target,
            pattern,
            connections,
            duration,
            handshakes,
            timeout,
        } => {
            let pattern = pattern.pattern()?;
            let options = LoadOptions {
                target,
                connections,
                bound: match handshakes {
                    Some(n) => Bound::Exchanges(n),
                    None => Bound::Duration(duration),
                },
                timeout: Duration::from_secs(timeout),
            };
            println!("pattern: {pattern}");
            let report = floor::load(&pattern, &options).map_err(|e| e.to_string())?;
            println!("{report}");
            Ok(())
        }
        Command::Crypto => {
            use reprise_benches::quick::{server_floors, Budget};
            for (case, secs) in server_floors(Budget::QUICK)? {
                println!("floor {case}: {:.1} us", secs * 1e6);
            }
            Ok(())
        }
    }
}
