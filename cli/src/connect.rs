//! `reprise connect`: one client connection, s_client-like.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use reprise::session::ClientSessionStore;
use reprise::{ClientConfig, ClientConnection, RootStore, ServerVerification, Stream};

/// Options of `reprise connect`.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Server address, HOST:PORT.
    pub target: String,
    /// Server name to send and verify (defaults to HOST).
    #[arg(long)]
    pub sni: Option<String>,
    /// PEM file of trusted CA certificates.
    #[arg(long, conflicts_with = "insecure")]
    pub ca: Option<String>,
    /// Accept any certificate (DANGEROUS: testing only).
    #[arg(long)]
    pub insecure: bool,
    /// Send `GET PATH` and print the response status line.
    #[arg(long)]
    pub http_get: Option<String>,
    /// Offer these ALPN protocols (comma-separated; default http/1.1 with --http-get).
    #[arg(long)]
    pub alpn: Option<String>,
    /// Offer only these suites (comma-separated IANA or OpenSSL names).
    #[arg(long)]
    pub suites: Option<String>,
    /// Offer only these groups (comma-separated: X25519, P-256, P-384).
    #[arg(long)]
    pub groups: Option<String>,
    /// Seconds before giving up.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Resume on reconnection by `id` (session ID only), `ticket` (RFC 5077) or `none`.
    #[arg(long, default_value = "ticket")]
    pub resume: String,
    /// Connect again N more times, offering the previous session.
    #[arg(long, default_value_t = 0)]
    pub reconnect: u32,
    /// Append master secrets to this file (SSLKEYLOGFILE format; the variable works too).
    #[arg(long)]
    pub keylog: Option<String>,
    /// Present this certificate chain (PEM, leaf first) when the server asks for one.
    #[arg(long, requires = "client_key")]
    pub client_cert: Option<String>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<String>,
}

fn host_of(target: &str) -> &str {
    let host = match target.rsplit_once(':') {
        Some((h, _)) => h,
        None => target,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Builds the client configuration.
pub fn build_config(args: &ConnectArgs) -> Result<ClientConfig, String> {
    let mut config = if args.insecure {
        ClientConfig::dangerous_insecure()
    } else {
        let mut roots = RootStore::new();
        let path = args.ca.as_deref().ok_or("give --ca FILE (or --insecure)")?;
        let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        for der in reprise::pem::certificates(&pem).map_err(|e| format!("{path}: {e}"))? {
            roots
                .add_der(&der)
                .map_err(|e| format!("{path}: not a usable CA certificate: {e:?}"))?;
        }
        ClientConfig::new(roots)
    };
    if args.insecure {
        config.verification = ServerVerification::DangerousAcceptAnyCertificate;
    }
    let alpn = match (&args.alpn, &args.http_get) {
        (Some(list), _) => list
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec())
            .collect(),
        (None, Some(_)) => vec![b"http/1.1".to_vec()],
        (None, None) => Vec::new(),
    };
    config.alpn_protocols = alpn;
    match args.resume.as_str() {
        "none" => config.enable_tickets = false,
        "id" => {
            config.enable_tickets = false;
            config.session_store = Some(Arc::new(ClientSessionStore::new(64)));
        }
        "ticket" => {
            config.enable_tickets = true;
            config.session_store = Some(Arc::new(ClientSessionStore::new(64)));
        }
        other => return Err(format!("--resume takes id, ticket or none, not {other:?}")),
    }
    if let Some(log) = crate::keylog::from_args(args.keylog.as_deref())? {
        config.key_log = Some(log);
    }
    if let (Some(cert), Some(key)) = (&args.client_cert, &args.client_key) {
        let pair = crate::certs::from_files(cert, key).map_err(|e| {
            e.replace("--cert ", "--client-cert ")
                .replace("--key ", "--client-key ")
        })?;
        let certified = reprise::CertifiedKey::new(pair.chain, &pair.key)
            .map_err(|e| format!("--client-cert {cert}: {e}"))?;
        config.client_certificate = Some(Arc::new(certified));
    }
    if let Some(list) = &args.suites {
        config.suites = list
            .split(',')
            .map(|n| reprise::suites::suite_by_name(n).ok_or(format!("unknown suite {n}")))
            .collect::<Result<_, _>>()?;
    }
    if let Some(list) = &args.groups {
        config.groups = list
            .split(',')
            .map(|n| reprise::NamedGroup::from_name(n).ok_or(format!("unknown group {n}")))
            .collect::<Result<_, _>>()?;
    }
    Ok(config)
}

/// Runs the connection(s) and prints what each negotiated.
pub fn run(args: ConnectArgs) -> Result<(), String> {
    let config = Arc::new(build_config(&args)?);
    let name = args
        .sni
        .clone()
        .unwrap_or_else(|| host_of(&args.target).to_string());
    for n in 0..=args.reconnect {
        if args.reconnect > 0 {
            println!("connection: {}", n + 1);
        }
        connect_once(&args, &config, &name)?;
    }
    Ok(())
}

fn connect_once(args: &ConnectArgs, config: &Arc<ClientConfig>, name: &str) -> Result<(), String> {
    let offered = config
        .session_store
        .as_ref()
        .and_then(|s| s.get(name))
        .is_some();
    let socket =
        TcpStream::connect(&args.target).map_err(|e| format!("connect {}: {e}", args.target))?;
    let timeout = Some(Duration::from_secs(args.timeout.max(1)));
    socket
        .set_read_timeout(timeout)
        .map_err(|e| e.to_string())?;
    socket
        .set_write_timeout(timeout)
        .map_err(|e| e.to_string())?;
    socket.set_nodelay(true).map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
    let mut tls = Stream::new(conn, socket);
    tls.complete_handshake()
        .map_err(|e| format!("handshake failed: {e}"))?;
    let neg = tls.conn.negotiated();
    println!("version: TLSv1.2");
    println!("suite: {}", neg.suite.map(|s| s.name).unwrap_or("?"));
    println!(
        "group: {}",
        neg.group.map(|g| g.name()).unwrap_or("none (resumed)")
    );
    println!(
        "ems: {}",
        if neg.extended_master_secret {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "alpn: {}",
        neg.alpn()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or("none".into())
    );
    match (neg.resumed, tls.conn.resumption_failure()) {
        (Some(kind), _) => println!("resumed: yes ({kind})"),
        (None, Some(reason)) => println!("resumed: no ({reason})"),
        (None, None) if args.resume == "none" => println!("resumed: no (resumption off)"),
        (None, None) if !offered => println!("resumed: no (no session to offer)"),
        (None, None) => println!("resumed: no (session not offered)"),
    }
    if let Some(path) = &args.http_get {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
        tls.write_all(req.as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        let mut response = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
                // A server that just closes the TCP connection after the page is common.
                Err(e) if !response.is_empty() && e.kind() != std::io::ErrorKind::InvalidData => {
                    break
                }
                Err(e) => return Err(format!("receive: {e}")),
            }
        }
        let text = String::from_utf8_lossy(&response);
        println!("http: {}", text.lines().next().unwrap_or(""));
        println!("http-bytes: {}", response.len());
    }
    tls.conn.close();
    let _ = tls.flush();
    Ok(())
}
