//! An axum app over reprise-tls-tokio: the router serves each TLS connection hyper accepts.
//! `cargo run -p reprise-tls-tokio --example axum_server -- 127.0.0.1:8443`
//! (a self-signed certificate for localhost is made at start).

use axum::routing::get;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use reprise::ServerConfig;
use reprise_tokio::TlsAcceptor;
use tower_service::Service;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8443".into());
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])?.self_signed(&key)?;
    let config = ServerConfig::builder()
        .certificate_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
        .alpn(["http/1.1"])
        .build()?;
    let acceptor = TlsAcceptor::from(config);
    let app = Router::new()
        .route("/", get(|| async { "hello from axum\n" }))
        .route("/health", get(|| async { "ok\n" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                app.clone().call(request)
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
