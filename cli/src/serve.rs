//! `reprise serve`: a TLS 1.2 server answering HTTP/1.x with a small page.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reprise::{ServerConfig, ServerConnection, Stream};

use crate::certs;
use crate::http::{Feed, HttpResponder};

/// Options of `reprise serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: String,
    /// Event loop: `threads` (a thread per connection).
    #[arg(long, default_value = "threads")]
    pub driver: String,
    /// PEM certificate chain (repeat with --key for an ECDSA and an RSA pair).
    #[arg(long)]
    pub cert: Vec<String>,
    /// PEM private key matching the --cert at the same position.
    #[arg(long)]
    pub key: Vec<String>,
    /// Maximum simultaneous connections.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Seconds a client may take to complete its handshake, and to stay idle after.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

/// Builds the server configuration from the options.
pub fn build_config(args: &ServeArgs) -> Result<ServerConfig, String> {
    if args.cert.len() != args.key.len() {
        return Err("--cert and --key must be given in pairs".into());
    }
    let pairs = if args.cert.is_empty() {
        let pairs = certs::self_signed()?;
        for p in &pairs {
            println!(
                "self-signed {} certificate for localhost, sha256 {}",
                p.label,
                certs::fingerprint(&p.chain[0])
            );
        }
        pairs
    } else {
        args.cert
            .iter()
            .zip(&args.key)
            .map(|(c, k)| certs::load(c, k))
            .collect::<Result<Vec<_>, _>>()?
    };
    let mut config = ServerConfig::new();
    for p in pairs {
        config
            .add_certificate(p.chain, &p.key)
            .map_err(|e| format!("{}: {e}", p.label))?;
    }
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Runs the server until killed.
pub fn run(args: ServeArgs) -> Result<(), String> {
    if args.driver != "threads" {
        return Err(format!(
            "unknown driver {:?} (available: threads)",
            args.driver
        ));
    }
    let config = Arc::new(build_config(&args)?);
    let listener =
        TcpListener::bind(&args.listen).map_err(|e| format!("bind {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {addr}");
    std::io::stdout().flush().ok();
    let active = Arc::new(AtomicUsize::new(0));
    let timeout = Duration::from_secs(args.timeout.max(1));
    for socket in listener.incoming() {
        let Ok(socket) = socket else { continue };
        if active.load(Ordering::Relaxed) >= args.max_connections {
            drop(socket);
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let (config, active) = (config.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .name("conn".into())
            .spawn(move || {
                if let Err(e) = serve_connection(config, socket, timeout) {
                    if std::env::var_os("REPRISE_DEBUG").is_some() {
                        eprintln!("connection: {e}");
                    }
                }
                active.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            eprintln!("could not spawn a connection thread");
        }
    }
    Ok(())
}

fn serve_connection(
    config: Arc<ServerConfig>,
    socket: TcpStream,
    timeout: Duration,
) -> std::io::Result<()> {
    socket.set_read_timeout(Some(timeout))?;
    socket.set_write_timeout(Some(timeout))?;
    socket.set_nodelay(true)?;
    let mut tls = Stream::new(ServerConnection::new(config), socket);
    tls.complete_handshake()?;
    let neg = tls.conn.negotiated();
    let note = format!(
        "suite {}, group {}, ems {}",
        neg.suite.map(|s| s.name).unwrap_or("?"),
        neg.group.map(|g| g.name()).unwrap_or("none"),
        if neg.extended_master_secret {
            "yes"
        } else {
            "no"
        }
    );
    let mut http = HttpResponder::new(note);
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::new();
    loop {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.clear();
        let feed = http
            .feed(&buf[..n], &mut out)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if !out.is_empty() {
            tls.write_all(&out)?;
        }
        if feed == Feed::Close {
            break;
        }
    }
    tls.conn.close();
    tls.flush()?;
    Ok(())
}
