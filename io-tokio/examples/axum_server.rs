//! An axum app over reprise-tls-tokio: the router serves each TLS connection hyper accepts.
//! `cargo run -p reprise-tls-tokio --example axum_server -- 127.0.0.1:8443 [CLIENT_CA_PEM]`
//! (a self-signed certificate for localhost is made at start). With a client CA, clients
//! may present a certificate it issued, and `/whoami` answers with its subject (and how the
//! connection resumed: a resumed session keeps its client's identity).

use axum::routing::get;
use axum::{Extension, Router};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use reprise::{ClientAuth, RootStore, ServerConfig};
use reprise_tokio::TlsAcceptor;
use tower_service::Service;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8443".into());
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])?.self_signed(&key)?;
    let mut builder = ServerConfig::builder()
        .certificate_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
        .alpn(["http/1.1"]);
    if let Some(path) = std::env::args().nth(2) {
        let mut roots = RootStore::new();
        for der in reprise::pem::certificates(&std::fs::read(&path)?)? {
            roots.add_der(&der).map_err(|e| format!("{path}: {e:?}"))?;
        }
        builder = builder.client_auth(ClientAuth::optional(roots));
    }
    let acceptor = TlsAcceptor::from(builder.build()?);
    let app = Router::new()
        .route("/", get(|| async { "hello from axum\n" }))
        .route("/health", get(|| async { "ok\n" }))
        .route(
            "/whoami",
            get(|Extension(who): Extension<ClientSubject>| async move {
                let resumed = who
                    .resumed
                    .map(|kind| format!(", resumed by {kind}"))
                    .unwrap_or_default();
                format!(
                    "{}{resumed}\n",
                    who.subject.as_deref().unwrap_or("anonymous")
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            // The verified client's subject, for the routes of this connection; a resumed
            // connection has it from its session.
            let who = ClientSubject {
                subject: tls.peer_subject(),
                resumed: tls.negotiated().resumed,
            };
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(who.clone());
                    app.clone().call(request)
                });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

/// The subject of the client's verified certificate, if it presented one, and how the
/// connection resumed.
#[derive(Clone)]
struct ClientSubject {
    subject: Option<String>,
    resumed: Option<reprise::ResumptionKind>,
}
