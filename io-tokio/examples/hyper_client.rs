//! A hyper 1.x client over reprise-tls-tokio: two GETs over two connections, the second resuming
//! the first's session. `cargo run -p reprise-tls-tokio --example hyper_client -- 127.0.0.1:8443 ca.pem`
//! (with `--insecure` instead of a CA file it accepts any certificate: tests only).
//! `--cert client.pem --key client.key` presents a client certificate when the server asks
//! (mutual TLS), `--path /whoami` asks for another path than `/`.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use reprise::ClientConfig;
use reprise_tokio::TlsConnector;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().map_or("127.0.0.1:8443", String::as_str);
    let mut builder = match args.get(1).map(String::as_str) {
        Some("--insecure") | None => ClientConfig::builder().dangerous_accept_any_certificate(),
        Some(ca) => ClientConfig::builder().roots_pem(&std::fs::read(ca)?),
    };
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let (Some(cert), Some(key)) = (option("--cert"), option("--key")) {
        let chain = reprise::pem::certificates(&std::fs::read(&cert)?)?;
        let key = reprise::pem::private_key(&std::fs::read(&key)?)?;
        builder = builder.client_certificate(chain, &key);
    }
    let path = option("--path").unwrap_or_else(|| "/".into());
    // Resumption is on by default: the config remembers the session per server name.
    let connector = TlsConnector::from(builder.alpn(["http/1.1"]).build()?);
    for attempt in 1..=2 {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let tls = connector
            .connect(reprise_tokio::server_name("localhost")?, tcp)
            .await?;
        let resumed = tls.negotiated().resumed;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        let request = Request::get(path.as_str())
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        println!(
            "connection {attempt}: {status}, client resumed {resumed:?}, server says: {}",
            String::from_utf8_lossy(&body).trim()
        );
    }
    Ok(())
}
