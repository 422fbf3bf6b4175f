//! After a fatal alert the connection closes at once, both ways, on every driver
//! (RFC 5246 §7.2.2: "MUST close the connection immediately"): the server's alert is followed
//! by its end of stream without waiting for the linger, a client that keeps writing still
//! reads the alert whole (no reset destroys it), and a client's fatal alert ends the
//! connection at once. Every wait is bounded.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reprise::{ClientConfig, ClientConnection};

/// The bound the issue sets between the alert (or the client's alert) and the end of stream.
const PROMPT: Duration = Duration::from_millis(50);

/// `--linger` is the serving core's default (1 s); `--timeout` long, so that neither a
/// timeout nor the linger can pass for a prompt close.
fn serve(driver: &str) -> Server {
    Server::reprise(driver, &["--timeout", "20"])
}

/// A ClientHello record with its handshake body cut short: a decode_error alert.
fn malformed_hello() -> Vec<u8> {
    let mut conn =
        ClientConnection::new(Arc::new(ClientConfig::dangerous_insecure()), "localhost").unwrap();
    let mut out = vec![0u8; 8192];
    let n = conn.transmit(&mut out);
    out.truncate(n);
    // Claim four bytes fewer in the handshake header than the record carries.
    let len = u32::from_be_bytes([0, out[6], out[7], out[8]]) - 4;
    out[6..9].copy_from_slice(&len.to_be_bytes()[1..]);
    out
}

/// Reads what the server sends until its end of stream (or `limit`): the bytes, when the
/// first of them came, and when the end of stream came (`None`: not within `limit`, or a
/// reset).
fn read_to_eof(
    sock: &mut TcpStream,
    limit: Duration,
) -> (Vec<u8>, Option<Instant>, Option<Instant>) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut first = None;
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            return (got, first, None);
        }
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.read(&mut buf) {
            Ok(0) => return (got, first, Some(Instant::now())),
            Ok(n) => {
                first.get_or_insert_with(Instant::now);
                got.extend_from_slice(&buf[..n]);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (got, first, None),
        }
    }
}

/// Asserts `got` is exactly one fatal alert record (level 2).
fn assert_one_fatal_alert(got: &[u8], context: &str) {
    assert!(
        got.len() == 7 && got[0] == 21 && got[1..3] == [3, 3] && got[3..5] == [0, 2],
        "{context}: expected one alert record, got {got:02x?}"
    );
    assert_eq!(got[5], 2, "{context}: not a fatal alert: {got:02x?}");
}

#[test]
fn our_fatal_alert_is_followed_by_our_end_of_stream_at_once() {
    let hello = malformed_hello();
    for driver in drivers() {
        let server = serve(driver);
        for round in 0..5 {
            let mut sock = TcpStream::connect(server.addr()).unwrap();
            sock.write_all(&hello).unwrap();
            let (got, first, eof) = read_to_eof(&mut sock, Duration::from_secs(5));
            let context = format!("[{driver}] round {round}");
            assert_one_fatal_alert(&got, &context);
            assert_eq!(got[6], 50, "{context}: decode_error expected");
            let (first, eof) = (first.unwrap(), eof.expect("no end of stream within 5 s"));
            let gap = eof - first;
            assert!(
                gap <= PROMPT,
                "{context}: end of stream {gap:?} after the alert (the linger held it)\n{}",
                server.log()
            );
        }
    }
}

#[test]
fn a_client_that_keeps_writing_still_reads_the_alert_whole() {
    let hello = malformed_hello();
    for driver in drivers() {
        let server = serve(driver);
        for round in 0..3 {
            let mut sock = TcpStream::connect(server.addr()).unwrap();
            sock.write_all(&hello).unwrap();
            // A writer that goes on sending junk while the reader waits for the alert.
            let done = Arc::new(AtomicBool::new(false));
            let writer = {
                let mut sock = sock.try_clone().unwrap();
                let done = done.clone();
                std::thread::spawn(move || {
                    let junk = [0x17u8; 1024];
                    let start = Instant::now();
                    let mut sent = 0usize;
                    while !done.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(3)
                    {
                        match sock.write(&junk) {
                            Ok(n) => sent += n,
                            Err(_) => break,
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    sent
                })
            };
            let (got, _, eof) = read_to_eof(&mut sock, Duration::from_secs(5));
            done.store(true, Ordering::Relaxed);
            let sent = writer.join().unwrap();
            let context = format!("[{driver}] round {round} ({sent} junk bytes written)");
            assert_one_fatal_alert(&got, &context);
            assert!(
                eof.is_some(),
                "{context}: a reset, or no end of stream, instead of a clean end after the alert\n{}",
                server.log()
            );
        }
    }
}

#[test]
fn the_clients_fatal_alert_closes_the_connection_at_once() {
    let config = Arc::new(ClientConfig::dangerous_insecure());
    for driver in drivers() {
        let server = serve(driver);
        for round in 0..3 {
            let mut conn = ClientConnection::new(config.clone(), "localhost").unwrap();
            let mut out = vec![0u8; 8192];
            let n = conn.transmit(&mut out);
            let mut sock = TcpStream::connect(server.addr()).unwrap();
            sock.write_all(&out[..n]).unwrap();
            // The server's first flight ends with ServerHelloDone (type 14, empty body).
            let mut flight = Vec::new();
            let mut buf = [0u8; 8192];
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            while !flight.ends_with(&[14, 0, 0, 0]) {
                let n = sock.read(&mut buf).expect("the server's first flight");
                assert!(n > 0, "[{driver}] closed before its first flight");
                flight.extend_from_slice(&buf[..n]);
            }
            // A fatal handshake_failure alert, in the clear (no ChangeCipherSpec yet).
            let sent = Instant::now();
            sock.write_all(&[21, 3, 3, 0, 2, 2, 40]).unwrap();
            let (got, _, eof) = read_to_eof(&mut sock, Duration::from_secs(5));
            let context = format!("[{driver}] round {round}");
            assert!(got.is_empty(), "{context}: answered with {got:02x?}");
            let took = eof.expect("no end of stream within 5 s") - sent;
            assert!(
                took <= PROMPT,
                "{context}: closed {took:?} after the client's alert\n{}",
                server.log()
            );
        }
    }
}
