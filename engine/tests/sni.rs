//! Several certificates on one server, chosen by SNI (RFC 6066 §3): each certificate serves the
//! DNS names of its leaf, wildcards per RFC 6125 §6.4.3, a default for no or an unknown name;
//! a session made for one name does not resume on another.

mod common;

use std::sync::Arc;

use reprise::session::ClientSessionStore;
use reprise::session::SessionCache;
use reprise::session::{RotationPolicy, TicketKeyRing, TicketKeys};
use reprise::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

const NOW: u64 = common::NOW;

fn leaf(names: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    (cert.der().to_vec(), key.serialize_der())
}

struct Names {
    default: Vec<u8>,
    a: Vec<u8>,
    wild: Vec<u8>,
    config: ServerConfig,
}

fn names() -> Names {
    let (default, dk) = leaf(&["default.test"]);
    let (a, ak) = leaf(&["a.example.test"]);
    let (wild, wk) = leaf(&["*.wild.test"]);
    let mut config = ServerConfig::new();
    config.add_certificate(vec![default.clone()], &dk).unwrap();
    config.add_certificate(vec![a.clone()], &ak).unwrap();
    config.add_certificate(vec![wild.clone()], &wk).unwrap();
    Names {
        default,
        a,
        wild,
        config,
    }
}

/// Whether the server presented `leaf` (its DER appears in the server's flight: the
/// Certificate message is not encrypted in TLS 1.2), and how the handshake resumed.
fn handshake(
    config: &Arc<ServerConfig>,
    client: &Arc<ClientConfig>,
    name: &str,
) -> (Vec<u8>, Option<reprise::ResumptionKind>) {
    let mut client = ClientConnection::new(client.clone(), name).unwrap();
    let mut server = ServerConnection::new(config.clone());
    let (_, s2c) = common::pump(&mut client, &mut server).unwrap();
    assert!(client.is_open() && server.is_open(), "{name}");
    (s2c, server.negotiated().resumed)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn each_name_gets_its_certificate_and_unknown_names_the_default() {
    let n = names();
    let config = Arc::new(n.config);
    let client = Arc::new(ClientConfig::dangerous_insecure());
    let cases: [(&str, &Vec<u8>); 6] = [
        ("a.example.test", &n.a),
        ("A.Example.Test", &n.a),
        ("x.wild.test", &n.wild),
        ("unknown.test", &n.default),
        // A wildcard is one label: not two, not none.
        ("x.y.wild.test", &n.default),
        // No SNI at all (an IP address is never sent as SNI).
        ("127.0.0.1", &n.default),
    ];
    for (name, leaf) in cases {
        let (s2c, _) = handshake(&config, &client, name);
        assert!(contains(&s2c, leaf), "{name} got the wrong certificate");
        for other in [&n.a, &n.wild, &n.default] {
            if other != leaf {
                assert!(!contains(&s2c, other), "{name} got another certificate too");
            }
        }
    }
}

#[test]
fn a_session_made_for_one_name_does_not_resume_on_another() {
    for tickets in [false, true] {
        let n = names();
        let mut config = n.config;
        config.session_store = Some(Arc::new(SessionCache::new(1 << 20, 300)));
        if tickets {
            let policy = RotationPolicy {
                rotate_every: 3600,
                decrypt_window: 7200,
            };
            let ring = TicketKeyRing::new(policy, NOW, &reprise::rng::SystemRandom).unwrap();
            config.tickets = Some(Arc::new(TicketKeys::new(ring)));
        }
        let config = Arc::new(config);
        let mut client = ClientConfig::dangerous_insecure();
        client.enable_tickets = tickets;
        let store = Arc::new(ClientSessionStore::new(8));
        client.session_store = Some(store.clone());
        let client = Arc::new(client);
        let (_, first) = handshake(&config, &client, "a.example.test");
        assert_eq!(first, None);
        let (_, again) = handshake(&config, &client, "a.example.test");
        assert!(again.is_some(), "tickets {tickets}: the same name resumes");
        // The client's session for a.example.test, offered under another name.
        let session = store.get("a.example.test").unwrap();
        store.put("x.wild.test", session);
        let (s2c, other) = handshake(&config, &client, "x.wild.test");
        assert_eq!(other, None, "tickets {tickets}: resumed across names");
        assert!(
            contains(&s2c, &n.wild),
            "a full handshake with that name's certificate"
        );
    }
}
