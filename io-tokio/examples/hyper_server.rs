//! hyper 1.x over reprise-tls-tokio: HTTP/1.1 or h2 by ALPN, a page that says how the handshake
//! resumed. `cargo run -p reprise-tls-tokio --example hyper_server -- 127.0.0.1:8443 cert.pem key.pem`
//! (without files it makes a self-signed certificate for localhost).

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use reprise::ServerConfig;
use reprise_tokio::TlsAcceptor;
use tokio::sync::Notify;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args.first().map_or("127.0.0.1:8443", String::as_str);
    let (cert, key) = match (args.get(1), args.get(2)) {
        (Some(cert), Some(key)) => (std::fs::read(cert)?, std::fs::read(key)?),
        _ => {
            let key = rcgen::KeyPair::generate()?;
            let cert =
                rcgen::CertificateParams::new(vec!["localhost".into()])?.self_signed(&key)?;
            (cert.pem().into_bytes(), key.serialize_pem().into_bytes())
        }
    };
    let config = ServerConfig::builder()
        .certificate_pem(&cert, &key)
        .alpn(["h2", "http/1.1"])
        .build()?;
    let acceptor = TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (tcp, peer) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let negotiated = tls.negotiated();
            let page = format!(
                "alpn {:?}, resumed {:?}\n",
                negotiated.alpn().map(String::from_utf8_lossy),
                negotiated.resumed
            );
            println!("{peer}: {page}"); // one line per connection, for the tests
                                        // `/close` ends the connection after the answer (HTTP/1.1 `connection: close`,
                                        // an h2 GOAWAY), so a browser's next request makes a new TLS connection, which
                                        // resumes.
            let close = Arc::new(Notify::new());
            let service = hyper::service::service_fn({
                let close = close.clone();
                move |request: Request<Incoming>| {
                    if request.uri().path() == "/close" {
                        close.notify_one();
                    }
                    let page = page.clone();
                    async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(page)))) }
                }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(tls), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = close.notified() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
}
