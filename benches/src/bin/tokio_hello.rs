//! The same hyper "hello" app over reprise-tls-tokio or over tokio-rustls, for
//! `scripts/bench-tokio.sh`: TLS 1.2, the certificate and key given, session IDs and tickets
//! on in both, ALPN http/1.1, a multi-thread tokio runtime of `--workers` threads.
//!
//!   tokio-hello --stack reprise|rustls --listen 127.0.0.1:8443 --cert C --key K --workers 1 \
//!     [--accept-on main|worker]

use std::convert::Infallible;
use std::sync::Arc;

use clap::Parser;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

#[derive(Parser)]
struct Args {
    /// `reprise` (reprise-tls-tokio) or `rustls` (tokio-rustls).
    #[arg(long)]
    stack: String,
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: String,
    #[arg(long)]
    cert: String,
    #[arg(long)]
    key: String,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Where the accept loop runs: `main` (the thread that called `block_on`) or `worker`
    /// (a task on the runtime's workers).
    #[arg(long, default_value = "worker")]
    accept_on: String,
}

const HELLO: &[u8] = b"hello from hyper\n";

async fn serve<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(io: IO) {
    let service = hyper::service::service_fn(|_request: Request<Incoming>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(HELLO))))
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

fn rustls_config(cert: &[u8], key: &[u8]) -> Result<Arc<rustls::ServerConfig>, String> {
    use pki_types::pem::PemObject;
    let certs = pki_types::CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e:?}"))?;
    let key = pki_types::PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("key: {e:?}"))?;
    let mut config =
        rustls::ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS12])
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| e.to_string())?;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(100_000);
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The TLS acceptor of the stack under test.
#[derive(Clone)]
enum Acceptor {
    Reprise(reprise_tokio::TlsAcceptor),
    Rustls(tokio_rustls::TlsAcceptor),
}

impl Acceptor {
    /// Serves one accepted connection: the handshake, then the app.
    async fn serve(self, tcp: tokio::net::TcpStream) {
        match self {
            Self::Reprise(acceptor) => serve_if_ok(acceptor.accept(tcp).await).await,
            Self::Rustls(acceptor) => serve_if_ok(acceptor.accept(tcp).await).await,
        }
    }
}

/// Serves the app on a connection whose handshake succeeded.
async fn serve_if_ok<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    handshake: std::io::Result<IO>,
) {
    if let Ok(tls) = handshake {
        serve(tls).await;
    }
}

/// Accepts forever, each connection in a task of its own.
async fn accept_loop(listener: tokio::net::TcpListener, acceptor: Acceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(acceptor.clone().serve(tcp));
    }
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    let cert = std::fs::read(&args.cert).map_err(|e| format!("{}: {e}", args.cert))?;
    let key = std::fs::read(&args.key).map_err(|e| format!("{}: {e}", args.key))?;
    let acceptor = match args.stack.as_str() {
        "reprise" => {
            let config = reprise::ServerConfig::builder()
                .certificate_pem(&cert, &key)
                .alpn(["http/1.1"])
                .build()
                .map_err(|e| e.to_string())?;
            Acceptor::Reprise(reprise_tokio::TlsAcceptor::from(config))
        }
        "rustls" => Acceptor::Rustls(tokio_rustls::TlsAcceptor::from(rustls_config(&cert, &key)?)),
        other => return Err(format!("--stack {other}: reprise or rustls")),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("{}: {e}", args.listen))?;
        match args.accept_on.as_str() {
            // The accept loop on the thread that called `block_on` (as `#[tokio::main]` runs
            // an app's main future): each accepted connection is handed to a worker.
            "main" => accept_loop(listener, acceptor).await,
            // The accept loop as a task on the workers: with one worker, accepting and
            // serving share its thread and no connection crosses threads.
            "worker" => {
                let _ = tokio::spawn(accept_loop(listener, acceptor)).await;
            }
            other => return Err(format!("--accept-on {other}: main or worker")),
        }
        Ok(())
    })
}
