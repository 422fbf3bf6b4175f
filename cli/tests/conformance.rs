//! What strict TLS test suites probe, sent as exact bytes over real sockets to `reprise serve`
//! on the mio and io_uring drivers, asserting the alert (level and description) the peer
//! receives — or that the handshake goes on. See docs/alerts.md for which input gets which
//! alert and why.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const WARNING: u8 = 1;
const FATAL: u8 = 2;
const UNEXPECTED_MESSAGE: u8 = 10;
const ILLEGAL_PARAMETER: u8 = 47;
const UNRECOGNIZED_NAME: u8 = 112;

fn event_loops() -> Vec<&'static str> {
    drivers().into_iter().filter(|d| *d != "threads").collect()
}

fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 3, 3];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A handshake message (type, 24-bit length, body) split into records of at most `chunk`.
fn records_of(message: &[u8], chunk: usize) -> Vec<u8> {
    message.chunks(chunk).flat_map(|c| record(22, c)).collect()
}

fn u16be(v: usize) -> [u8; 2] {
    (v as u16).to_be_bytes()
}

/// ClientHello options for [`client_hello`].
#[derive(Clone, Default)]
struct Hello {
    /// Extra (unknown, ignorable) cipher suites after ours, in suites.
    extra_suites: usize,
    /// Our suites; default: ECDHE-ECDSA-AES128-GCM-SHA256 and ECDHE-RSA-AES128-GCM-SHA256.
    suites: Option<Vec<u16>>,
    /// Compression methods after null.
    extra_compression: usize,
    /// The SNI host name, raw.
    sni: Option<Vec<u8>>,
    /// Bytes of padding extension (type 21) to add.
    padding: Option<usize>,
    session_id: Vec<u8>,
    /// Signature schemes offered.
    sigalgs: Option<Vec<u16>>,
}

/// A ClientHello handshake message (header included) a TLS 1.2 server can answer.
fn client_hello(h: &Hello) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7u8; 32]);
    body.push(h.session_id.len() as u8);
    body.extend_from_slice(&h.session_id);
    let mut suites: Vec<u16> = h.suites.clone().unwrap_or(vec![0xc02b, 0xc02f]);
    // Unknown code points from a range no registry uses, never ours.
    suites.extend((0..h.extra_suites).map(|i| 0x0a0a + (i as u16 % 0x0500) * 0x10 + 0x3000));
    body.extend_from_slice(&u16be(suites.len() * 2));
    for s in &suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.push(1 + h.extra_compression as u8);
    body.push(0);
    body.extend((1..=h.extra_compression).map(|i| i as u8));
    let mut ext = Vec::new();
    let mut add = |typ: u16, data: &[u8]| {
        ext.extend_from_slice(&typ.to_be_bytes());
        ext.extend_from_slice(&u16be(data.len()));
        ext.extend_from_slice(data);
    };
    add(10, &[0, 4, 0, 0x1d, 0, 0x17]); // supported_groups: x25519, secp256r1
    add(11, &[1, 0]); // ec_point_formats: uncompressed
    add(23, &[]); // extended_master_secret (RFC 7627)
    let sigalgs = h.sigalgs.clone().unwrap_or(vec![0x0403, 0x0804, 0x0401]);
    let mut sa = u16be(sigalgs.len() * 2).to_vec();
    for s in sigalgs {
        sa.extend_from_slice(&s.to_be_bytes());
    }
    add(13, &sa);
    if let Some(name) = &h.sni {
        let mut sni = u16be(name.len() + 3).to_vec();
        sni.push(0);
        sni.extend_from_slice(&u16be(name.len()));
        sni.extend_from_slice(name);
        add(0, &sni);
    }
    if let Some(padding) = h.padding {
        add(21, &vec![0u8; padding]);
    }
    body.extend_from_slice(&u16be(ext.len()));
    body.extend_from_slice(&ext);
    let mut msg = vec![1];
    msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    msg.extend_from_slice(&body);
    msg
}

/// The largest legal ClientHello: 2^16-2 bytes of cipher suites, 255 compression methods,
/// 2^16-1 bytes of extensions.
fn largest_client_hello() -> Vec<u8> {
    let base = Hello {
        extra_suites: 32_767 - 2,
        extra_compression: 254,
        session_id: vec![9; 32],
        ..Hello::default()
    };
    // The extensions without padding, to size the padding so they total 65,535 bytes.
    let without = client_hello(&base);
    let ext_len = {
        let body = &without[4..];
        let sid = body[34] as usize;
        let at = 35 + sid;
        let suites = u16::from_be_bytes([body[at], body[at + 1]]) as usize;
        let at = at + 2 + suites;
        let comp = body[at] as usize;
        let at = at + 1 + comp;
        u16::from_be_bytes([body[at], body[at + 1]]) as usize
    };
    let padding = 65_535 - ext_len - 4;
    let hello = client_hello(&Hello {
        padding: Some(padding),
        ..base
    });
    assert_eq!(
        hello.len(),
        4 + reprise::MAX_CLIENT_HELLO_LEN,
        "largest legal size"
    );
    hello
}

/// What came back on `sock` within `limit`: the records received until the server closed
/// (or went quiet), as (content type, payload) pairs.
fn answer(sock: &mut TcpStream, limit: Duration) -> Vec<(u8, Vec<u8>)> {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let mut quiet_since = Instant::now();
    while start.elapsed() < limit {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                bytes.extend_from_slice(&buf[..n]);
                quiet_since = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !bytes.is_empty() && quiet_since.elapsed() > Duration::from_millis(600) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let mut records = Vec::new();
    let mut at = 0;
    while at + 5 <= bytes.len() {
        let len = u16::from_be_bytes([bytes[at + 3], bytes[at + 4]]) as usize;
        let end = (at + 5 + len).min(bytes.len());
        records.push((bytes[at], bytes[at + 5..end].to_vec()));
        at += 5 + len;
    }
    records
}

/// The first alert in `records`, as (level, description).
fn alert_of(records: &[(u8, Vec<u8>)]) -> Option<(u8, u8)> {
    records
        .iter()
        .find(|(t, p)| *t == 21 && p.len() == 2)
        .map(|(_, p)| (p[0], p[1]))
}

fn server_hello_of(records: &[(u8, Vec<u8>)]) -> bool {
    records
        .iter()
        .any(|(t, p)| *t == 22 && p.first() == Some(&2))
}

fn send(addr: &str, bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_nodelay(true).unwrap();
    // Written in pieces, as a network would (large inputs would otherwise fill the buffers
    // both ways while nobody reads).
    for chunk in bytes.chunks(64 * 1024) {
        if sock.write_all(chunk).is_err() {
            break;
        }
    }
    answer(&mut sock, Duration::from_secs(10))
}

/// A case: what it is, the bytes sent, the alert expected (`None`: the handshake goes on).
type Case = (&'static str, Vec<u8>, Option<(u8, u8)>);

#[test]
fn each_bad_input_gets_its_alert_over_a_real_socket() {
    let hello = client_hello(&Hello::default());
    let warning = |d: u8| record(21, &[WARNING, d]);
    let mut cases: Vec<Case> = vec![
        (
            "a warning of no meaning before the ClientHello is tolerated",
            [warning(90), records_of(&hello, 16_384)].concat(),
            None,
        ),
        (
            "four warnings in a row are tolerated",
            [
                warning(90),
                warning(40),
                warning(110),
                warning(90),
                records_of(&hello, 16_384),
            ]
            .concat(),
            None,
        ),
        (
            "a fifth warning in a row is answered (CVE-2016-8610)",
            [
                warning(90),
                warning(90),
                warning(90),
                warning(90),
                warning(90),
            ]
            .concat(),
            Some((FATAL, UNEXPECTED_MESSAGE)),
        ),
        (
            "a ChangeCipherSpec of two bytes",
            record(20, &[1, 1]),
            Some((FATAL, UNEXPECTED_MESSAGE)),
        ),
    ];
    for (name, sni) in [
        (
            "a control character in the SNI",
            b"bad\x01name.test".to_vec(),
        ),
        (
            "a byte over 0x7f in the SNI",
            "café.test".as_bytes().to_vec(),
        ),
        ("an underscore in the SNI", b"under_score.test".to_vec()),
        ("a trailing dot in the SNI", b"localhost.".to_vec()),
    ] {
        let bad = client_hello(&Hello {
            sni: Some(sni),
            ..Hello::default()
        });
        cases.push((
            name,
            records_of(&bad, 16_384),
            Some((FATAL, ILLEGAL_PARAMETER)),
        ));
    }
    for driver in event_loops() {
        let server = Server::reprise(driver, &["--quiet"]);
        for (name, bytes, want) in &cases {
            let got = send(&server.addr(), bytes);
            match want {
                Some(alert) => {
                    assert_eq!(alert_of(&got), Some(*alert), "[{driver}] {name}: {got:?}")
                }
                None => assert!(
                    server_hello_of(&got) && alert_of(&got).is_none(),
                    "[{driver}] {name}: no ServerHello: {got:?}"
                ),
            }
        }
    }
}

#[test]
fn strict_sni_refuses_an_unknown_name_with_unrecognized_name() {
    let known = client_hello(&Hello {
        sni: Some(b"localhost".to_vec()),
        ..Hello::default()
    });
    let unknown = client_hello(&Hello {
        sni: Some(b"elsewhere.test".to_vec()),
        ..Hello::default()
    });
    for driver in event_loops() {
        let server = Server::reprise(driver, &["--quiet", "--strict-sni"]);
        let got = send(&server.addr(), &records_of(&known, 16_384));
        assert!(server_hello_of(&got), "[{driver}] {got:?}");
        let got = send(&server.addr(), &records_of(&unknown, 16_384));
        assert_eq!(
            alert_of(&got),
            Some((FATAL, UNRECOGNIZED_NAME)),
            "[{driver}] {got:?}"
        );
        // Without --strict-sni the same name gets the default certificate.
        let lenient = Server::reprise(driver, &["--quiet"]);
        let got = send(&lenient.addr(), &records_of(&unknown, 16_384));
        assert!(server_hello_of(&got), "[{driver}] {got:?}");
    }
}

#[test]
fn the_largest_legal_client_hello_is_answered_whole_and_in_one_byte_records() {
    let hello = largest_client_hello();
    for driver in event_loops() {
        let server = Server::reprise(driver, &["--quiet"]);
        for chunk in [16_384, 1] {
            let got = send(&server.addr(), &records_of(&hello, chunk));
            assert!(
                server_hello_of(&got) && alert_of(&got).is_none(),
                "[{driver}] {chunk}-byte records: {:?}",
                alert_of(&got)
            );
        }
        // Configurable: a smaller cap refuses it.
        let capped = Server::reprise(driver, &["--quiet", "--max-client-hello", "16384"]);
        let got = send(&capped.addr(), &records_of(&hello, 16_384));
        assert_eq!(
            alert_of(&got).map(|a| a.0),
            Some(FATAL),
            "[{driver}] {got:?}"
        );
    }
}

#[test]
fn resuming_without_offering_the_sessions_suite_is_illegal_parameter() {
    use reprise::session::ClientSessionStore;
    use reprise::{ClientConfig, ClientConnection, Stream};
    use std::sync::Arc;
    for driver in event_loops() {
        let server = Server::reprise(driver, &["--quiet", "--tickets", "off"]);
        // A real session, by ID.
        let store = Arc::new(ClientSessionStore::new(4));
        let mut config = ClientConfig::dangerous_insecure();
        config.session_store = Some(store.clone());
        config.enable_tickets = false;
        config.suites =
            vec![
                reprise::suites::suite_by_name("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256").unwrap(),
            ];
        let conn = ClientConnection::new(Arc::new(config), "localhost").unwrap();
        let mut tls = Stream::new(conn, TcpStream::connect(server.addr()).unwrap());
        tls.complete_handshake().unwrap();
        tls.conn.close();
        let _ = tls.flush();
        drop(tls);
        let session = store.get("localhost").expect("a session");
        assert_eq!(session.record.suite_id, 0xc02b);
        let hello = client_hello(&Hello {
            session_id: session.session_id.to_vec(),
            suites: Some(vec![0xc02f]),
            ..Hello::default()
        });
        let got = send(&server.addr(), &records_of(&hello, 16_384));
        assert_eq!(
            alert_of(&got),
            Some((FATAL, ILLEGAL_PARAMETER)),
            "[{driver}] {got:?}"
        );
    }
}

#[test]
fn openssl_asking_for_ecdsa_with_sha384_or_sha512_gets_a_p256_server_to_sign_with_it() {
    for driver in event_loops() {
        let server = Server::reprise(driver, &["--quiet"]);
        for (sigalgs, digest) in [("ECDSA+SHA384", "SHA384"), ("ECDSA+SHA512", "SHA512")] {
            let out = run_with_timeout(
                Command::new("openssl").args([
                    "s_client",
                    "-connect",
                    &server.addr(),
                    "-tls1_2",
                    "-sigalgs",
                    sigalgs,
                    "-cipher",
                    "ECDHE-ECDSA-AES128-GCM-SHA256",
                ]),
                b"",
                PEER_TIMEOUT,
            );
            let t = text(&out);
            assert!(
                t.contains("New, TLSv1.2") && t.contains(&format!("Peer signing digest: {digest}")),
                "[{driver}] {sigalgs}:\n{t}"
            );
        }
    }
}
