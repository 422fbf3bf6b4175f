//! A connection whose thread cannot be spawned gives its slot back: after 49 failed spawns
//! an idle server with room for 60 still holds 60 connections, and counts none open before.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reprise::ServerConfig;
use reprise_apps::page::PageFactory;
use reprise_serve::{Driver, Running, ServerOptions};

fn config() -> Arc<ServerConfig> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let mut config = ServerConfig::new();
    config
        .add_certificate(vec![cert.der().to_vec()], &key.serialize_der())
        .unwrap();
    Arc::new(config)
}

#[test]
fn failed_spawns_leave_no_phantom_slots() {
    let options = ServerOptions {
        max_connections: 60,
        handshake_timeout: Duration::from_secs(10),
        ..ServerOptions::default()
    };
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server =
        reprise_threads::Threads::start(addr, config(), Arc::new(PageFactory), options).unwrap();
    let addr = server.local_addr();
    let handle = server.shutdown_handle();
    reprise_threads::fail_next_spawns_for_testing(49);
    for _ in 0..49 {
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // No thread: the connection is closed at once.
        let mut buf = [0u8; 16];
        assert!(matches!(sock.read(&mut buf), Ok(0) | Err(_)));
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while handle.open_connections() > 0 {
        assert!(
            Instant::now() < deadline,
            "phantom slots: {}",
            handle.open_connections()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // All 60 slots are there to take.
    let held: Vec<TcpStream> = (0..60).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while handle.open_connections() < 60 {
        assert!(
            Instant::now() < deadline,
            "{} open",
            handle.open_connections()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(held);
    handle.shutdown();
    server.join().unwrap();
}
