//! Bulk data through reprise-tls-tokio with curl as the peer: 100 MB up and 100 MB down arrive
//! byte-identical (sha256), and a client reading at 1 MB/s never makes the server queue more
//! than its output limit.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_lc_rs::digest::{Context, SHA256};
use reprise::ServerConfig;
use reprise_tokio::{TlsAcceptor, TlsStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MB: usize = 1 << 20;

fn config() -> Arc<ServerConfig> {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    ServerConfig::builder()
        .certificate_der(vec![cert.der().to_vec()], &key.serialize_der())
        .build()
        .unwrap()
}

/// The download's bytes: position-dependent, so a lost or repeated record shows.
fn pattern(offset: usize, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        let n = offset + i;
        *b = (n ^ (n >> 8) ^ (n >> 16)) as u8;
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads an HTTP request head; returns its Content-Length and any body bytes after it.
async fn read_head(tls: &mut TlsStream<TcpStream>) -> (usize, Vec<u8>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tls.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client left before its request");
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
            let length = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            return (length, head[end + 4..].to_vec());
        }
    }
}

/// Answers one request: hashes the uploaded body, then sends `download` bytes of the
/// pattern with the upload's sha256 in a header. Tracks the most records ever queued.
async fn serve_one(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    download: usize,
    most_queued: Arc<AtomicUsize>,
) -> String {
    let (tcp, _) = listener.accept().await.unwrap();
    let mut tls = acceptor.accept(tcp).await.unwrap();
    let (length, mut body) = read_head(&mut tls).await;
    let mut upload = Context::new(&SHA256);
    let mut received = body.len();
    upload.update(&body);
    body.resize(256 * 1024, 0);
    while received < length {
        let n = tls.read(&mut body).await.unwrap();
        assert!(n > 0, "the upload ended early");
        upload.update(&body[..n]);
        received += n;
    }
    let upload = hex(upload.finish().as_ref());
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {download}\r\nx-upload-sha256: {upload}\r\nconnection: close\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut sent = 0;
    while sent < download {
        let n = chunk.len().min(download - sent);
        pattern(sent, &mut chunk[..n]);
        tls.write_all(&chunk[..n]).await.unwrap();
        most_queued.fetch_max(tls.connection().pending_output().len(), Ordering::Relaxed);
        sent += n;
    }
    tls.shutdown().await.unwrap();
    upload
}

fn sha256_file(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_megabytes_up_and_down_arrive_intact() {
    let dir = std::env::temp_dir().join(format!("reprise-tokio-bulk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let upload_path = dir.join("upload");
    let mut upload = vec![0u8; 100 * MB];
    pattern(12345, &mut upload);
    std::fs::write(&upload_path, &upload).unwrap();
    let upload_sha = hex(aws_lc_rs::digest::digest(&SHA256, &upload).as_ref());
    drop(upload);
    let mut expected = Context::new(&SHA256);
    let mut chunk = vec![0u8; MB];
    for i in 0..100 {
        pattern(i * MB, &mut chunk);
        expected.update(&chunk);
    }
    let download_sha = hex(expected.finish().as_ref());

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let most_queued = Arc::new(AtomicUsize::new(0));
    let server = tokio::spawn(serve_one(
        listener,
        TlsAcceptor::from(config()),
        100 * MB,
        most_queued.clone(),
    ));
    let download_path = dir.join("download");
    let headers_path = dir.join("headers");
    let status = tokio::task::spawn_blocking({
        let (up, down, headers) = (
            upload_path.clone(),
            download_path.clone(),
            headers_path.clone(),
        );
        move || {
            Command::new("timeout")
                .args(["120", "curl", "-sk", "--tlsv1.2", "--tls-max", "1.2"])
                .arg("--data-binary")
                .arg(format!("@{}", up.display()))
                .arg("-D")
                .arg(&headers)
                .arg("-o")
                .arg(&down)
                .arg(format!("https://127.0.0.1:{port}/"))
                .stdin(Stdio::null())
                .status()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "curl: {status}");
    let server_saw = server.await.unwrap();
    assert_eq!(server_saw, upload_sha, "the upload as the server read it");
    let headers = std::fs::read_to_string(&headers_path).unwrap();
    assert!(headers.contains(&upload_sha), "{headers}");
    assert_eq!(
        sha256_file(&download_path),
        download_sha,
        "the download as curl wrote it"
    );
    assert!(
        most_queued.load(Ordering::Relaxed) <= reprise::DEFAULT_OUTPUT_LIMIT,
        "{} bytes queued",
        most_queued.load(Ordering::Relaxed)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_at_one_megabyte_a_second_keeps_the_server_queue_bounded() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let most_queued = Arc::new(AtomicUsize::new(0));
    // 4 MB at 1 MB/s: about 4 s, far more than the socket buffers hold.
    let server = tokio::spawn(serve_one(
        listener,
        TlsAcceptor::from(config()),
        4 * MB,
        most_queued.clone(),
    ));
    let out = tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .args([
                "60",
                "curl",
                "-sk",
                "--tlsv1.2",
                "--tls-max",
                "1.2",
                "--limit-rate",
                "1M",
            ])
            .args(["-o", "/dev/null", "-w", "%{size_download}"])
            .arg(format!("https://127.0.0.1:{port}/"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), (4 * MB).to_string());
    server.await.unwrap();
    let most = most_queued.load(Ordering::Relaxed);
    assert!(most <= reprise::DEFAULT_OUTPUT_LIMIT, "{most} bytes queued");
}
