//! `reprise connect`: one client connection, s_client-like.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

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
    if let Some(list) = &args.suites {
        config.suites = list
            .split(',')
            .map(|n| reprise::crypto::suites::suite_by_name(n).ok_or(format!("unknown suite {n}")))
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

/// Runs one connection and prints what it negotiated.
pub fn run(args: ConnectArgs) -> Result<(), String> {
    let config = Arc::new(build_config(&args)?);
    let name = args
        .sni
        .clone()
        .unwrap_or_else(|| host_of(&args.target).to_string());
    let socket =
        TcpStream::connect(&args.target).map_err(|e| format!("connect {}: {e}", args.target))?;
    let timeout = Some(Duration::from_secs(args.timeout.max(1)));
    socket
        .set_read_timeout(timeout)
        .map_err(|e| e.to_string())?;
    socket
        .set_write_timeout(timeout)
        .map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(config, &name).map_err(|e| e.to_string())?;
    let mut tls = Stream::new(conn, socket);
    tls.complete_handshake()
        .map_err(|e| format!("handshake failed: {e}"))?;
    let neg = tls.conn.negotiated();
    println!("version: TLSv1.2");
    println!("suite: {}", neg.suite.map(|s| s.name).unwrap_or("?"));
    println!("group: {}", neg.group.map(|g| g.name()).unwrap_or("none"));
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
        neg.alpn
            .as_deref()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or("none".into())
    );
    println!("resumed: no (full handshake)");
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
