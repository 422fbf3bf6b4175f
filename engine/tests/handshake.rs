//! Full handshakes between Reprise's own client and server, in memory.

mod common;

use std::sync::Arc;

use common::*;
use reprise::suites::ALL_SUITES;
use reprise::{ClientConnection, Event, NamedGroup, ServerConnection};

#[test]
fn every_suite_and_group_completes_and_carries_data() {
    for suite in ALL_SUITES {
        for group in NamedGroup::ALL {
            let server_cfg = Arc::new(server_config());
            let mut client_cfg = client_config();
            client_cfg.suites = vec![suite];
            // RFC 8422 §5.1: the groups also list the ECDSA certificate's curve (P-256); the
            // group under test comes first, and the server follows the client's order.
            client_cfg.groups = vec![group, NamedGroup::Secp256r1];
            let mut client = ClientConnection::new(Arc::new(client_cfg), "localhost").unwrap();
            let mut server = ServerConnection::new(server_cfg);
            pump(&mut client, &mut server)
                .unwrap_or_else(|e| panic!("{} {group:?}: {e}", suite.name));
            assert!(
                client.is_open() && server.is_open(),
                "{} {group:?}",
                suite.name
            );
            assert_eq!(
                events(&mut client),
                vec![Event::HandshakeDone { resumed: None }]
            );
            assert_eq!(
                events(&mut server),
                vec![Event::HandshakeDone { resumed: None }]
            );
            assert_eq!(server.negotiated().suite, Some(suite));
            assert_eq!(client.negotiated().group, Some(group));
            assert!(client.negotiated().extended_master_secret);
            assert_eq!(server.server_name(), Some("localhost"));

            client.send(b"ping").unwrap();
            let out = client.pending_output().to_vec();
            client.consume_output(out.len());
            assert_eq!(feed_server(&mut server, &out).unwrap(), b"ping");
            let big = vec![0x5a; 40_000];
            server.send(&big).unwrap();
            let out = server.pending_output().to_vec();
            server.consume_output(out.len());
            assert_eq!(feed_client(&mut client, &out).unwrap(), big);
        }
    }
}

#[test]
fn alpn_and_ems_are_negotiated() {
    let mut server_cfg = server_config();
    server_cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut client_cfg = client_config();
    client_cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    client_cfg.extended_master_secret = false;
    let mut client = ClientConnection::new(Arc::new(client_cfg), "localhost").unwrap();
    let mut server = ServerConnection::new(Arc::new(server_cfg));
    pump(&mut client, &mut server).unwrap();
    assert_eq!(client.negotiated().alpn(), Some(&b"http/1.1"[..]));
    assert_eq!(server.negotiated().alpn(), Some(&b"http/1.1"[..]));
    assert!(!server.negotiated().extended_master_secret);
}

#[test]
fn seeded_handshakes_are_byte_identical() {
    // ECDSA nonces and PSS salts come from aws-lc's own DRBG, so the reproducible transcript
    // uses an RSA certificate with PKCS#1 v1.5 signatures.
    let run = |seed: u64| {
        let mut server_cfg = server_config();
        seeded(&mut server_cfg, seed);
        let mut client_cfg = client_config();
        client_cfg.rng = Arc::new(reprise::rng::SeededRandom::new(seed + 1000));
        client_cfg.suites = vec![&reprise::internal::suites::ECDHE_RSA_AES128_GCM_SHA256];
        client_cfg.signature_schemes = vec![reprise::SignatureScheme::RSA_PKCS1_SHA256];
        let mut client = ClientConnection::new(Arc::new(client_cfg), "localhost").unwrap();
        let mut server = ServerConnection::new(Arc::new(server_cfg));
        let wire = pump(&mut client, &mut server).unwrap();
        client.send(b"hello").unwrap();
        let data = client.pending_output().to_vec();
        (wire, data)
    };
    let a = run(42);
    let b = run(42);
    let c = run(43);
    assert!(a.0 .0.len() > 100 && a.0 .1.len() > 1000);
    assert_eq!(a, b, "same seed, same bytes");
    assert_ne!(a.0, c.0, "another seed, other bytes");
}

#[test]
fn wrong_name_and_untrusted_root_are_refused() {
    use reprise::internal::codec::AlertDescription;
    let mut client = ClientConnection::new(Arc::new(client_config()), "example.com").unwrap();
    let mut server = ServerConnection::new(Arc::new(server_config()));
    let err = pump(&mut client, &mut server).unwrap_err();
    assert_eq!(err.alert_sent(), Some(AlertDescription::BadCertificate));

    let mut client = ClientConnection::new(
        Arc::new(reprise::ClientConfig::new(reprise::RootStore::new())),
        "localhost",
    )
    .unwrap();
    let mut server = ServerConnection::new(Arc::new(server_config()));
    let err = pump(&mut client, &mut server).unwrap_err();
    assert_eq!(err.alert_sent(), Some(AlertDescription::UnknownCa));
}
