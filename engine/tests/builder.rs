//! The builders' defaults (resumption on both ways, one lifetime, keys that rotate on the
//! driver's clock) and the server that reads the ClientHello before choosing its config.

mod common;

use common::{events, feed_at};
use reprise::{
    ClientConfig, ClientConnection, ConfigError, Connection, Error, Event, Handshake,
    ResumptionKind, ServerConfig, ServerConnection,
};

use std::sync::Arc;

const NOW: u64 = common::NOW;

fn leaf(name: &str) -> (Vec<u8>, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    (cert.der().to_vec(), key.serialize_der())
}

fn deliver<A: Handshake, B: Handshake>(from: &mut Connection<A>, to: &mut Connection<B>, now: u64) {
    let wire = from.pending_output().to_vec();
    from.consume_output(wire.len());
    feed_at(to, &wire, now).unwrap();
}

/// Runs a handshake to its end; returns how the server says it resumed.
fn handshake(
    server: &mut ServerConnection,
    client: &mut ClientConnection,
    now: u64,
) -> Option<ResumptionKind> {
    for _ in 0..6 {
        deliver(client, server, now);
        deliver(server, client, now);
        if !client.is_handshaking() && !server.is_handshaking() {
            break;
        }
    }
    assert!(server.is_open() && client.is_open());
    server.negotiated().resumed
}

/// A client resuming by ticket and one resuming by session ID, both trusting `cert`.
fn resuming_clients(cert: Vec<u8>) -> (Arc<ClientConfig>, Arc<ClientConfig>) {
    let ticket_client = ClientConfig::builder()
        .root(cert.clone().into())
        .build()
        .unwrap();
    let id_client = ClientConfig::builder()
        .root(cert.into())
        .without_tickets()
        .build()
        .unwrap();
    (ticket_client, id_client)
}

#[test]
fn the_builder_resumes_by_ticket_and_by_session_id_out_of_the_box() {
    let (cert, key) = leaf("localhost");
    let server_config = ServerConfig::builder()
        .certificate_der(vec![cert.clone()], &key)
        .session_lifetime(std::time::Duration::from_secs(600))
        .build()
        .unwrap();
    let (ticket_client, id_client) = resuming_clients(cert);
    for (client_config, kind) in [
        (ticket_client, ResumptionKind::Ticket),
        (id_client, ResumptionKind::SessionId),
    ] {
        let connect = |now| {
            let mut server = ServerConnection::new(server_config.clone());
            let mut client = ClientConnection::new(client_config.clone(), "localhost").unwrap();
            handshake(&mut server, &mut client, now)
        };
        assert_eq!(connect(NOW), None);
        assert_eq!(connect(NOW + 10), Some(kind));
        // One lifetime for both: past it, a full handshake again.
        assert_eq!(connect(NOW + 700), None, "{kind:?}");
    }
}

#[test]
fn session_ids_and_tickets_can_live_for_different_times() {
    use std::time::Duration;
    let (cert, key) = leaf("localhost");
    let builder = ServerConfig::builder()
        .certificate_der(vec![cert.clone()], &key)
        .session_timeout(Duration::from_secs(300))
        .ticket_lifetime(Duration::from_secs(900))
        .ticket_rotation(Duration::from_secs(7200));
    // Rotation never outlasts a ticket; keys decrypt for a ticket's whole life.
    let policy = builder.rotation_policy();
    assert_eq!((policy.rotate_every, policy.decrypt_window), (900, 900));
    let server_config = builder.build().unwrap();
    assert_eq!(
        (server_config.session_timeout, server_config.ticket_lifetime),
        (300, 900)
    );
    let (ticket_client, id_client) = resuming_clients(cert);
    for (client_config, kind, lifetime) in [
        (ticket_client, ResumptionKind::Ticket, 900),
        (id_client, ResumptionKind::SessionId, 300),
    ] {
        let connect = |now| {
            let mut server = ServerConnection::new(server_config.clone());
            let mut client = ClientConnection::new(client_config.clone(), "localhost").unwrap();
            handshake(&mut server, &mut client, now)
        };
        assert_eq!(connect(NOW), None);
        assert_eq!(connect(NOW + lifetime - 10), Some(kind), "{kind:?}");
        assert_eq!(connect(NOW + lifetime + 10), None, "{kind:?}");
    }
}

#[test]
fn servers_sharing_a_store_and_an_id_key_resume_each_others_sessions() {
    use reprise::session::{SessionCache, SessionIdKey};
    let (cert, key) = leaf("localhost");
    let store = std::sync::Arc::new(SessionCache::new(1 << 20, 3600));
    let id_key = SessionIdKey::new(&[7u8; 32]);
    let server = |id_key: SessionIdKey| {
        ServerConfig::builder()
            .certificate_der(vec![cert.clone()], &key)
            .session_store(store.clone())
            .session_id_key(id_key)
            .without_tickets()
            .build()
            .unwrap()
    };
    let (first, second) = (server(id_key.clone()), server(id_key));
    let stranger = server(SessionIdKey::new(&[8u8; 32]));
    let client_config = ClientConfig::builder()
        .root(cert.clone().into())
        .without_tickets()
        .build()
        .unwrap();
    let connect = |config: &std::sync::Arc<ServerConfig>, client: &mut ClientConnection| {
        let mut server = ServerConnection::new(config.clone());
        handshake(&mut server, client, NOW)
    };
    let mut client = ClientConnection::new(client_config.clone(), "localhost").unwrap();
    assert_eq!(connect(&first, &mut client), None);
    let mut client = ClientConnection::new(client_config.clone(), "localhost").unwrap();
    assert_eq!(
        connect(&second, &mut client),
        Some(ResumptionKind::SessionId)
    );
    // A server with another key takes the ID for a stranger's and does not look it up.
    let mut client = ClientConnection::new(client_config, "localhost").unwrap();
    assert_eq!(connect(&stranger, &mut client), None);
}

#[test]
fn builders_refuse_what_cannot_work() {
    let (cert, key) = leaf("localhost");
    let (_, other_key) = leaf("localhost");
    assert!(matches!(
        ServerConfig::builder().build(),
        Err(ConfigError::NoCertificate)
    ));
    assert!(matches!(
        ServerConfig::builder()
            .certificate_der(vec![cert.clone()], &other_key)
            .build(),
        Err(ConfigError::KeyMismatch)
    ));
    assert!(matches!(
        ServerConfig::builder()
            .certificate_pem(b"not pem", b"not pem")
            .build(),
        Err(ConfigError::CertificatePem(_))
    ));
    assert!(matches!(
        ClientConfig::builder().build(),
        Err(ConfigError::NoRoots)
    ));
    assert!(ServerConfig::builder()
        .certificate_der(vec![cert], &key)
        .build()
        .is_ok());
}

#[test]
fn a_server_reads_the_client_hello_then_chooses_its_config() {
    let (a_cert, a_key) = leaf("a.test");
    let (b_cert, b_key) = leaf("b.test");
    let a = ServerConfig::builder()
        .certificate_der(vec![a_cert.clone()], &a_key)
        .alpn(["h2", "http/1.1"])
        .build()
        .unwrap();
    let b = ServerConfig::builder()
        .certificate_der(vec![b_cert.clone()], &b_key)
        .build()
        .unwrap();
    let client_config = ClientConfig::builder()
        .root(b_cert.into())
        .alpn(["http/1.1"])
        .build()
        .unwrap();
    // What the hello says, and a config chosen twice fails the connection.
    let mut server = ServerConnection::choosing_config();
    let mut client = ClientConnection::new(client_config.clone(), "b.test").unwrap();
    deliver(&mut client, &mut server, NOW);
    assert!(server.is_suspended());
    assert_eq!(events(&mut server), vec![Event::ClientHelloReceived]);
    let hello = server.client_hello().expect("the hello waits").clone();
    assert_eq!(hello.server_name(), Some("b.test"));
    assert_eq!(
        hello.alpn().collect::<Vec<_>>(),
        vec![b"http/1.1".as_slice()]
    );
    assert!(!hello.cipher_suites().is_empty());
    assert!(!hello.offers_ticket() && !hello.offers_session_id());
    // Nothing goes out before the config is chosen, and no lookup can be answered.
    assert!(server.pending_output().is_empty());
    assert!(server
        .provide_session(reprise::session::Lookup::Missing)
        .is_err());
    let mut server = ServerConnection::choosing_config();
    let mut client = ClientConnection::new(client_config.clone(), "b.test").unwrap();
    deliver(&mut client, &mut server, NOW);
    let chosen = if hello.server_name() == Some("a.test") {
        &a
    } else {
        &b
    };
    server.choose_config(chosen.clone()).unwrap();
    assert!(server.client_hello().is_none());
    assert!(matches!(
        server.choose_config(a.clone()),
        Err(Error::AlertSent { .. })
    ));
    // A clean run: choose once, finish, resume by ticket under the chosen config.
    let mut resumed = Vec::new();
    for _ in 0..2 {
        let mut server = ServerConnection::choosing_config();
        let mut client = ClientConnection::new(client_config.clone(), "b.test").unwrap();
        deliver(&mut client, &mut server, NOW);
        let hello = server.client_hello().unwrap();
        assert_eq!(hello.server_name(), Some("b.test"));
        assert_eq!(hello.offers_ticket(), !resumed.is_empty());
        server.choose_config(b.clone()).unwrap();
        resumed.push(handshake(&mut server, &mut client, NOW));
    }
    assert_eq!(resumed, vec![None, Some(ResumptionKind::Ticket)]);
}

#[test]
fn send_some_keeps_the_output_queue_within_its_limit() {
    let (cert, key) = leaf("localhost");
    let server_config = ServerConfig::builder()
        .certificate_der(vec![cert.clone()], &key)
        .build()
        .unwrap();
    let client_config = ClientConfig::builder().root(cert.into()).build().unwrap();
    let mut server = ServerConnection::new(server_config);
    let mut client = ClientConnection::new(client_config, "localhost").unwrap();
    handshake(&mut server, &mut client, NOW);
    let data = vec![7u8; 1 << 20];
    for limit in [reprise::DEFAULT_OUTPUT_LIMIT, 20_000, 100] {
        server.set_output_limit(limit);
        let mut sent = 0;
        let mut received = Vec::new();
        while sent < data.len() {
            let took = server.send_some(&data[sent..]).unwrap();
            sent += took;
            let queued = server.pending_output().len();
            // Within the limit, or one record when the limit is below a record.
            assert!(
                queued <= limit.max(reprise::MAX_PLAINTEXT_LEN + 29),
                "{queued} queued under a limit of {limit}"
            );
            if took == 0 || queued >= limit {
                let wire = server.pending_output().to_vec();
                server.consume_output(wire.len());
                received.extend(feed_at(&mut client, &wire, NOW).unwrap());
            }
        }
        let wire = server.pending_output().to_vec();
        server.consume_output(wire.len());
        received.extend(feed_at(&mut client, &wire, NOW).unwrap());
        assert_eq!(received, data, "limit {limit}");
    }
}
