//! `reprise serve`'s options, as clap reads them from the command line (and
//! [`super::config_file`] from a TOML file). The layer below everything else of `serve`.

use std::sync::Arc;
use std::time::Duration;

use reprise_serve::access_log::AccessLog;
use reprise_serve::failure_log::FailureLog;

/// `--driver`: which event loop runs the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DriverChoice {
    /// An epoll event loop per worker.
    Mio,
    /// An io_uring per worker (mio where io_uring is refused).
    Uring,
    /// A thread per connection.
    Threads,
}

/// `--listener`: how the workers share the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ListenerChoice {
    /// A listening socket per worker (SO_REUSEPORT).
    Reuseport,
    /// One listening socket for all.
    Shared,
}

impl From<ListenerChoice> for reprise_serve::ListenerMode {
    fn from(choice: ListenerChoice) -> Self {
        match choice {
            ListenerChoice::Reuseport => Self::ReusePort,
            ListenerChoice::Shared => Self::Shared,
        }
    }
}

/// A switch: `on` or `off` (`yes`/`no`, `true`/`false` too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    /// On.
    #[value(alias = "yes", alias = "true")]
    On,
    /// Off.
    #[value(alias = "no", alias = "false")]
    Off,
}

/// Options of `reprise serve`.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; repeat for more (e.g. `0.0.0.0:443` and `[::]:443`), each
    /// served by its own workers. Default 127.0.0.1:8443, unless systemd passes listening
    /// sockets (socket activation, `LISTEN_FDS`).
    #[arg(long)]
    pub listen: Vec<String>,
    /// Event loop: `mio` (an epoll event loop per worker), `uring` (an io_uring per worker;
    /// falls back to mio where io_uring is unavailable) or `threads` (a thread per
    /// connection).
    #[arg(long, value_enum, default_value_t = DriverChoice::Mio)]
    pub driver: DriverChoice,
    /// Worker threads of the mio driver (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// How mio workers share the port: `reuseport` (a socket each) or `shared` (one socket).
    #[arg(long, value_enum, default_value_t = ListenerChoice::Reuseport)]
    pub listener: ListenerChoice,
    /// Join a port another process already serves (SO_REUSEPORT, mio and uring drivers),
    /// for a hitless upgrade: start the new server with it, then stop the old one. Without
    /// it such a port is refused.
    #[arg(long)]
    pub reuse_port: bool,
    /// PEM certificate chain (repeat with --key for an ECDSA and an RSA pair).
    #[arg(long)]
    pub cert: Vec<String>,
    /// PEM private key matching the --cert at the same position.
    #[arg(long)]
    pub key: Vec<String>,
    /// Maximum simultaneous connections.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// mio and uring drivers: memory each worker lets unfinished handshakes hold in all
    /// (e.g. `64MiB`): a record or handshake message that arrives in parts is held only while
    /// the total is within it; beyond it handshakes are closed and counted in
    /// reprise_handshake_memory_evictions_total.
    #[arg(long, default_value = "64MiB")]
    pub handshake_memory: String,
    /// Time a client may take to complete its handshake, and to stay idle after (`30s`, `2m`;
    /// a bare number is seconds).
    #[arg(long, default_value = "30s", value_parser = reprise_serve::units::seconds)]
    pub timeout: Duration,
    /// Issue and accept RFC 5077 session tickets: `on` or `off`.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub tickets: OnOff,
    /// Session-ID cache size (e.g. `64MiB`), or `off` [default: the engine's, 16MiB].
    #[arg(long)]
    pub session_cache: Option<String>,
    /// How long a session may be resumed by ID (e.g. `5m`) [default: the engine's session
    /// lifetime, 2h].
    #[arg(long, value_parser = reprise_serve::units::seconds)]
    pub session_timeout: Option<Duration>,
    /// Ticket lifetime (the lifetime hint; e.g. `1h`) [default: the engine's session
    /// lifetime, 2h].
    #[arg(long, value_parser = reprise_serve::units::seconds)]
    pub ticket_lifetime: Option<Duration>,
    /// How often a new ticket key starts encrypting (e.g. `1h`); old keys decrypt for the
    /// ticket lifetime more [default: the engine's, 1h].
    #[arg(long, value_parser = reprise_serve::units::seconds)]
    pub ticket_rotate: Option<Duration>,
    /// Ticket keys from an nginx (48/80-byte), HAProxy or reprise key file, reloaded when the
    /// file changes; replaces automatic rotation.
    #[arg(long)]
    pub ticket_key_file: Option<String>,
    /// Append master secrets to this file in SSLKEYLOGFILE format (also read from the
    /// SSLKEYLOGFILE environment variable).
    #[arg(long)]
    pub keylog: Option<String>,
    /// Keep sessions in Redis, shared by a fleet (needs --session-store-key):
    /// `redis://[USER:PASS@]H:P/`, `redis+cluster://H1:P1,H2:P2,…/` (Redis Cluster) or
    /// `redis+sentinel://S1:P1,S2:P2,…/MASTER` (Sentinel); `rediss…` speaks TLS (trusting the
    /// system's roots, or SSL_CERT_FILE).
    #[arg(long)]
    pub session_store: Option<String>,
    /// Secret file sealing sessions at rest in Redis (≥ 32 bytes; `reprise keys secret`).
    #[arg(long)]
    pub session_store_key: Option<String>,
    /// Sign ServerKeyExchange parameters on N worker threads instead of the event loops (mio
    /// and uring drivers; the engine suspends each handshake until its signature is ready).
    #[arg(long, default_value_t = 0)]
    pub sign_workers: usize,
    /// mio and uring drivers: while busy, let a batch of events gather for up to this long
    /// (`50us`, `0` for never) before serving it (fewer wake-ups under load; an idle worker
    /// never waits). Default: 50us on mio, 0 on uring (whose busy wait gathers a batch by
    /// itself).
    #[arg(long)]
    pub batch_wait: Option<String>,
    /// In-process L1 cache in front of the Redis session store (`0` for none).
    #[arg(long, default_value = "1MiB")]
    pub redis_l1: String,
    /// Bound on one Redis lookup (beyond it the handshake goes on as a full one).
    #[arg(long, default_value = "50ms")]
    pub redis_timeout: String,
    /// Follow the fleet's ticket-key ring published in Redis by `reprise keys publish` (needs
    /// --kek); the same URL forms as --session-store.
    #[arg(long)]
    pub ticket_keys_from: Option<String>,
    /// Key-encryption key file for --ticket-keys-from.
    #[arg(long)]
    pub kek: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. `127.0.0.1:9100`).
    #[arg(long)]
    pub metrics: Option<String>,
    /// Forward each connection's decrypted bytes to this backend (`HOST:PORT` or
    /// `unix:/PATH`), one backend connection per client connection; without it, serve
    /// answers HTTP/1.x requests with its own small page.
    #[arg(long)]
    pub backend: Option<String>,
    /// Time the backend has to accept a connection; a backend that refuses or does not
    /// accept in time ends the client's connection without close_notify (logged, counted).
    #[arg(long, default_value = "5s")]
    pub backend_timeout: String,
    /// With --backend: the application protocols (ALPN, RFC 7301) to agree with clients, in
    /// this server's order of preference, e.g. `h2,http/1.1` in front of an HTTP/2 or gRPC
    /// backend (which must then speak h2 in the clear, "h2c"); the one chosen reaches the
    /// backend in the PROXY v2 header. Without it, `http/1.1` only: a client offering only
    /// other protocols gets a fatal no_application_protocol alert, one offering none is
    /// served.
    #[arg(long, value_delimiter = ',')]
    pub alpn: Vec<String>,
    /// With --backend: send the backend a PROXY protocol header first (`v1`, or `v2` with
    /// the TLS facts: version, cipher, SNI, ALPN, and how the handshake resumed).
    #[arg(long)]
    pub proxy_protocol: Option<String>,
    /// Log nothing about failed handshakes (by default each is one line on stderr: peer,
    /// alert, reason).
    #[arg(long)]
    pub quiet: bool,
    /// At most this many failed-handshake lines a second; beyond it one line says how many
    /// were left out.
    #[arg(long, default_value_t = reprise_serve::failure_log::DEFAULT_LINES_PER_SECOND)]
    pub log_rate: u32,
    /// Write one line per connection at its end to this file (`-`: standard output): time,
    /// peer, SNI, ALPN, suite, handshake kind (and a declined resumption's reason), bytes
    /// each way, duration, backend, how it ended. Buffered off the event loops; SIGUSR1
    /// reopens the file (logrotate).
    #[arg(long)]
    pub access_log: Option<String>,
    /// The access log's lines: `logfmt` (key=value) or `json` (an object per line).
    #[arg(long, default_value = "logfmt", value_parser = ["logfmt", "json"])]
    pub access_log_format: String,
    /// Ask every client for a certificate issued by one of these CAs (PEM; repeat for more):
    /// mutual TLS. Reloaded with SIGHUP / `ctl reload`.
    #[arg(long)]
    pub client_ca: Vec<String>,
    /// With --client-ca: `required` (a client without a certificate gets handshake_failure)
    /// or `optional` (it is let in unauthenticated).
    #[arg(long, value_parser = ["required", "optional"], default_value = "required")]
    pub client_auth: String,
    /// Certificate revocation lists (PEM or DER; repeat for more) client certificates are
    /// checked against; a revoked one gets certificate_revoked. Reloaded with SIGHUP / `ctl
    /// reload` (a broken file keeps the old lists).
    #[arg(long)]
    pub client_crl: Vec<String>,
    /// Refuse a server name no certificate is for with a fatal unrecognized_name alert
    /// (by default such a client gets the default certificate).
    #[arg(long)]
    pub strict_sni: bool,
    /// The most a ClientHello may be, in bytes [default: the engine's, every legal one].
    #[arg(long)]
    pub max_client_hello: Option<usize>,
    /// Read the options from this TOML file (keys are the flags' names; flags given here
    /// win). SIGHUP and `reprise ctl reload` read it again.
    #[arg(long)]
    pub config: Option<String>,
    /// Load and check everything (config file, certificates and keys, key files, backend
    /// address), print a summary or every problem found, and exit (0: good, 1: problems)
    /// without serving.
    #[arg(long)]
    pub check: bool,
    /// Answer `reprise ctl` on this UNIX socket (created owner-only; other users refused).
    #[arg(long)]
    pub control: Option<String>,
    /// On SIGTERM/SIGINT: stop accepting, let open connections finish for up to this long,
    /// then close what is left.
    #[arg(long, default_value = "5s")]
    pub drain_timeout: String,
}

impl ServeArgs {
    /// The access log the options ask for, opened, its SIGUSR1 reopen registered.
    pub fn access_log(&self) -> Result<Option<Arc<AccessLog>>, String> {
        let Some(path) = &self.access_log else {
            return Ok(None);
        };
        let format = self.access_log_format.parse()?;
        let log = AccessLog::open(path, format).map_err(|e| format!("--access-log {path}: {e}"))?;
        signal_hook::flag::register(signal_hook::consts::SIGUSR1, log.reopen_flag())
            .map_err(|e| format!("SIGUSR1: {e}"))?;
        Ok(Some(log))
    }

    /// The failed-handshake log the options ask for (none with `--quiet`).
    pub fn failure_log(&self) -> Option<Arc<FailureLog>> {
        (!self.quiet).then(|| Arc::new(FailureLog::to_stderr(self.log_rate)))
    }
}
