//! `reprise trace HOST:PORT`: the message ladder of a real handshake with any TLS 1.2 server.
//! The TCP stream is wrapped in a recorder that timestamps and sizes every read and write;
//! the recorded bytes are then split into records and flights (see [`crate::ladder`]).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, FromArgMatches};
use reprise::{ClientConfig, ClientConnection, Stream};

use crate::connect::ConnectArgs;
use crate::ladder::{self, Dir, Flight, Ladder, WireParser};

/// Options of `reprise trace`.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// Server address, HOST:PORT.
    pub target: String,
    /// Connect a second time offering the first connection's session: by `id` or `ticket`.
    #[arg(long)]
    pub resume: Option<String>,
    /// Server name to send and verify (defaults to HOST).
    #[arg(long)]
    pub sni: Option<String>,
    /// PEM file of trusted CA certificates.
    #[arg(long, conflicts_with = "insecure")]
    pub ca: Option<String>,
    /// Accept any certificate (DANGEROUS: testing only).
    #[arg(long)]
    pub insecure: bool,
    /// After the handshake send `GET PATH` and time the first byte of the answer.
    #[arg(long)]
    pub http_get: Option<String>,
    /// Seconds before giving up on a connection.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Also write the ladder(s) as an SVG picture to this file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Present this certificate chain (PEM) when the server asks for one.
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<String>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<String>,
}

/// A transport that remembers when each read and write happened and what it carried.
pub struct Recording<T> {
    inner: T,
    start: Instant,
    /// `(ms since start, direction, bytes)` per read (`ToClient`) or write (`ToServer`).
    pub log: Vec<(f64, Dir, Vec<u8>)>,
}

impl<T> Recording<T> {
    /// Wraps `inner`; times count from `start`.
    pub fn new(inner: T, start: Instant) -> Self {
        Self {
            inner,
            start,
            log: Vec::new(),
        }
    }

    fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }
}

impl<T: Read> Read for Recording<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            let t = self.now_ms();
            self.log.push((t, Dir::ToClient, buf[..n].to_vec()));
        }
        Ok(n)
    }
}

impl<T: Write> Write for Recording<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let t = self.now_ms();
        let n = self.inner.write(buf)?;
        if n > 0 {
            self.log.push((t, Dir::ToServer, buf[..n].to_vec()));
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Turns a recorded log into flights: records in one direction until the other side speaks.
/// Each record is stamped with the time of the write that sent it or the read that
/// completed it (client-side times; the server's are unknown).
pub fn ladder_from_log(title: &str, log: &[(f64, Dir, Vec<u8>)]) -> Ladder {
    let mut ladder = Ladder {
        title: title.to_string(),
        ..Ladder::default()
    };
    let (mut up, mut down) = (WireParser::new(), WireParser::new());
    for (t, dir, bytes) in log {
        let parser = match dir {
            Dir::ToServer => &mut up,
            Dir::ToClient => &mut down,
        };
        for mut record in parser.feed(bytes) {
            record.at_ms = Some(*t);
            if record.content_type == reprise::wire::ContentType::ApplicationData
                && *dir == Dir::ToClient
                && ladder.ttfb_ms.is_none()
            {
                ladder.ttfb_ms = Some(*t);
            }
            match ladder.flights.last_mut() {
                Some(f) if f.dir == *dir => f.records.push(record),
                _ => ladder.flights.push(Flight {
                    dir: *dir,
                    sent_ms: (*dir == Dir::ToServer).then_some(*t),
                    received_ms: (*dir == Dir::ToClient).then_some(*t),
                    records: vec![record],
                    note: None,
                }),
            }
        }
    }
    ladder
}

/// The `reprise connect` options equivalent to these (so both build the same client).
fn connect_args(args: &TraceArgs, resume: &str) -> Result<ConnectArgs, String> {
    let mut argv = vec![
        "connect".to_string(),
        args.target.clone(),
        "--resume".into(),
        resume.into(),
        "--timeout".into(),
        args.timeout.to_string(),
    ];
    if let Some(sni) = &args.sni {
        argv.extend(["--sni".into(), sni.clone()]);
    }
    if let Some(ca) = &args.ca {
        argv.extend(["--ca".into(), ca.clone()]);
    }
    if args.insecure {
        argv.push("--insecure".into());
    }
    if let Some(path) = &args.http_get {
        argv.extend(["--http-get".into(), path.clone()]);
    }
    if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
        argv.extend([
            "--client-cert".into(),
            cert.clone(),
            "--client-key".into(),
            key.clone(),
        ]);
    }
    let cmd = ConnectArgs::augment_args(clap::Command::new("connect"));
    let matches = cmd.try_get_matches_from(argv).map_err(|e| e.to_string())?;
    ConnectArgs::from_arg_matches(&matches).map_err(|e| e.to_string())
}

fn host_of(target: &str) -> &str {
    let host = target.rsplit_once(':').map(|(h, _)| h).unwrap_or(target);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// One traced connection.
fn trace_once(
    title: &str,
    args: &TraceArgs,
    config: &Arc<ClientConfig>,
    name: &str,
) -> Result<Ladder, String> {
    // The ClientHello is built before the clock starts (the first connection of a process
    // also pays for the crypto library's one-time set-up there).
    let conn = ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let socket =
        TcpStream::connect(&args.target).map_err(|e| format!("connect {}: {e}", args.target))?;
    let tcp_ms = start.elapsed().as_secs_f64() * 1000.0;
    let timeout = Some(Duration::from_secs(args.timeout.max(1)));
    socket
        .set_read_timeout(timeout)
        .map_err(|e| e.to_string())?;
    socket
        .set_write_timeout(timeout)
        .map_err(|e| e.to_string())?;
    socket.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut tls = Stream::new(conn, Recording::new(socket, start));
    let handshake = tls.complete_handshake();
    let mut outcome = Vec::new();
    if handshake.is_ok() {
        if let Some(path) = &args.http_get {
            let req = format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
            tls.write_all(req.as_bytes())
                .map_err(|e| format!("send: {e}"))?;
            let mut buf = [0u8; 4096];
            match tls.read(&mut buf) {
                Ok(n) => outcome.push(format!(
                    "http: {}",
                    String::from_utf8_lossy(&buf[..n])
                        .lines()
                        .next()
                        .unwrap_or("")
                )),
                Err(e) => outcome.push(format!("http: no answer ({e})")),
            }
        }
        tls.conn.close();
        let _ = tls.flush();
    }
    let mut ladder = ladder_from_log(title, &tls.transport.log);
    ladder
        .notes
        .push(format!("TCP connect: {tcp_ms:.2} ms (about one RTT)"));
    match &handshake {
        Ok(()) => {
            let neg = tls.conn.negotiated();
            ladder.notes.push(format!(
                "negotiated: {}, group {}, extended master secret {}",
                neg.suite.map(|s| s.name).unwrap_or("?"),
                neg.group.map(|g| g.name()).unwrap_or("none (resumed)"),
                if neg.extended_master_secret {
                    "yes"
                } else {
                    "no"
                }
            ));
            ladder
                .notes
                .push(match (neg.resumed, tls.conn.resumption_failure()) {
                    (Some(kind), _) => format!("resumed: yes ({kind})"),
                    (None, Some(why)) => format!("resumed: no ({why})"),
                    (None, None) => "resumed: no".to_string(),
                });
        }
        Err(e) => ladder.notes.push(format!("handshake failed: {e}")),
    }
    ladder.notes.extend(outcome);
    Ok(ladder)
}

/// Runs `reprise trace`.
pub fn run(args: TraceArgs) -> Result<(), String> {
    let resume = match args.resume.as_deref() {
        None => "none",
        Some("id") => "id",
        Some("ticket") => "ticket",
        Some(other) => return Err(format!("--resume takes id or ticket, not {other:?}")),
    };
    let config = Arc::new(crate::connect::build_config(&connect_args(&args, resume)?)?);
    let name = args
        .sni
        .clone()
        .unwrap_or_else(|| host_of(&args.target).to_string());
    println!(
        "trace of {} (times are the client's, from the start of the TCP connect: when it wrote \
         a record, or read its last byte)\n",
        args.target
    );
    let mut ladders = vec![trace_once("first connection", &args, &config, &name)?];
    if args.resume.is_some() {
        ladders.push(trace_once(
            &format!("second connection (resume by {resume})"),
            &args,
            &config,
            &name,
        )?);
    }
    for l in &ladders {
        println!("{}", ladder::render_text(l));
    }
    if let Some(path) = &args.svg {
        let svg = ladder::render_svg(&ladders, &format!("reprise trace {}", args.target));
        std::fs::write(path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("SVG written to {}", path.display());
    }
    if ladders
        .iter()
        .any(|l| l.notes.iter().any(|n| n.starts_with("handshake failed")))
    {
        return Err("a handshake failed (see the ladder)".into());
    }
    Ok(())
}
