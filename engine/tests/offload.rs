//! Offloaded private-key operations: the server suspends for its ServerKeyExchange signature
//! and continues when the caller provides it (e.g. from a worker pool or a key server).

mod common;

use std::sync::Arc;

use common::*;
use reprise::internal::codec::AlertDescription;
use reprise::{ClientConnection, Event, ServerConnection};

#[test]
fn signature_is_offloaded_and_the_handshake_completes() {
    let mut cfg = server_config();
    cfg.offload_signing = true;
    let cfg = Arc::new(cfg);
    for suite in reprise::suites::ALL_SUITES {
        let mut ccfg = client_config();
        ccfg.suites = vec![suite];
        let mut client = ClientConnection::new(Arc::new(ccfg), "localhost").unwrap();
        let mut server = ServerConnection::new(cfg.clone());
        let hello = client.pending_output().to_vec();
        client.consume_output(hello.len());
        feed_server(&mut server, &hello).unwrap();
        let events = events(&mut server);
        let Some(Event::NeedSignature {
            auth,
            key,
            scheme,
            message,
        }) = events.first().cloned()
        else {
            panic!("expected NeedSignature, got {events:?}");
        };
        assert_eq!(auth, suite.auth);
        assert!(server.is_suspended());
        // ServerHello and Certificate already went out while the signer works.
        let early = server.pending_output().to_vec();
        server.consume_output(early.len());
        assert!(!early.is_empty());
        assert_eq!(key.key().auth_kind(), auth);
        let mut signature = Vec::new();
        key.key().sign(scheme, &message, &mut signature).unwrap();
        server.provide_signature(Some(signature)).unwrap();
        assert!(!server.is_suspended());
        let rest = server.pending_output().to_vec();
        server.consume_output(rest.len());
        feed_client(&mut client, &[early, rest].concat()).unwrap();
        pump(&mut client, &mut server).unwrap();
        assert!(client.is_open() && server.is_open(), "{}", suite.name);
    }
}

#[test]
fn a_failed_signer_ends_the_handshake_with_internal_error() {
    let mut cfg = server_config();
    cfg.offload_signing = true;
    let client = ClientConnection::new(Arc::new(client_config()), "localhost").unwrap();
    let mut server = ServerConnection::new(Arc::new(cfg));
    let hello = client.pending_output().to_vec();
    feed_server(&mut server, &hello).unwrap();
    assert!(matches!(
        events(&mut server)[0],
        Event::NeedSignature { .. }
    ));
    let err = server.provide_signature(None).unwrap_err();
    assert_eq!(err.alert_sent(), Some(AlertDescription::InternalError));
    // Answering twice, or when nothing is pending, is refused too.
    let mut idle = ServerConnection::new(Arc::new(server_config()));
    assert!(idle.provide_signature(Some(vec![1])).is_err());
}
