//! A blocking HTTPS server that resumes sessions by ID and by ticket (both on by default):
//! `cargo run -p reprise-tls --example https_server -- 127.0.0.1:8443 cert.pem key.pem`
use std::io::{Read, Write};
use std::net::TcpListener;

use reprise::{ServerConfig, ServerConnection, Stream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.into());
    let config = ServerConfig::builder()
        .certificate_pem(
            &std::fs::read(arg(1, "cert.pem"))?,
            &std::fs::read(arg(2, "key.pem"))?,
        )
        .alpn(["http/1.1"])
        .build()?;
    for tcp in TcpListener::bind(arg(0, "127.0.0.1:8443"))?.incoming() {
        let mut tls = Stream::new(ServerConnection::new(config.clone()), tcp?);
        let mut request = [0; 4096];
        if !matches!(tls.read(&mut request), Ok(n) if n > 0) {
            continue; // the client left (or failed its handshake) without asking anything
        }
        let body = format!("resumed: {:?}\n", tls.conn.negotiated().resumed);
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        let _ = tls
            .write_all(format!("{head}{body}").as_bytes())
            .and_then(|_| tls.close());
    }
    Ok(())
}
