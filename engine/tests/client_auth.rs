//! Client certificates (RFC 5246 §7.4.4, §7.4.6, §7.4.8), in memory: the verified chain is
//! the connection's; a missing, untrusted, expired, revoked or server-only certificate and a
//! bad, unoffered or tampered CertificateVerify each get the alert RFC 5246 §7.2.2 assigns.

mod common;

use std::sync::Arc;

use common::*;
use reprise::{
    AlertDescription as A, ClientAuth, ClientConnection, Error, RootStore, ServerConnection,
};

/// A CA of its own, and a client certificate it issued.
struct ClientPki {
    ca_der: Vec<u8>,
    chain: Vec<Vec<u8>>,
    key: Vec<u8>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

fn client_pki(
    usage: rcgen::ExtendedKeyUsagePurpose,
    not_after: (i32, u8, u8),
    serial: u64,
) -> ClientPki {
    client_pki_of("Client CA", usage, not_after, serial)
}

fn client_pki_of(
    ca_name: &str,
    usage: rcgen::ExtendedKeyUsagePurpose,
    not_after: (i32, u8, u8),
    serial: u64,
) -> ClientPki {
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let ca = params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(params, ca_key);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "device-17");
    leaf.subject_alt_names = vec![
        rcgen::SanType::URI("spiffe://example.org/device-17".try_into().unwrap()),
        rcgen::SanType::DnsName("device-17.example.org".try_into().unwrap()),
    ];
    leaf.extended_key_usages = vec![usage];
    leaf.serial_number = Some(rcgen::SerialNumber::from(serial));
    leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    ClientPki {
        ca_der: ca.der().to_vec(),
        chain: vec![cert.der().to_vec()],
        key: key.serialize_der(),
        issuer,
    }
}

fn good_pki() -> ClientPki {
    client_pki(rcgen::ExtendedKeyUsagePurpose::ClientAuth, (2040, 1, 1), 17)
}

fn roots(der: &[u8]) -> RootStore {
    let mut roots = RootStore::new();
    roots.add_der(der).unwrap();
    roots
}

fn server_with(auth: ClientAuth) -> Arc<reprise::ServerConfig> {
    let mut config = server_config();
    config.client_auth = Some(Arc::new(auth));
    Arc::new(config)
}

fn client_with(cert: Option<(&[Vec<u8>], &[u8])>) -> Arc<reprise::ClientConfig> {
    let mut config = client_config();
    if let Some((chain, key)) = cert {
        config.client_certificate = Some(Arc::new(
            reprise::CertifiedKey::new(chain.to_vec(), key).unwrap(),
        ));
    }
    Arc::new(config)
}

/// A handshake at `now`: the server's error if it failed, the connections otherwise.
fn handshake(
    server: Arc<reprise::ServerConfig>,
    client: Arc<reprise::ClientConfig>,
    now: u64,
) -> (ClientConnection, ServerConnection, Result<(), Error>) {
    let mut c = ClientConnection::new(client, "localhost").unwrap();
    let mut s = ServerConnection::new(server);
    let result = pump_at(&mut c, &mut s, now).map(drop);
    let result = match (result, s.error()) {
        (_, Some(e)) => Err(e.clone()),
        (r, None) => r,
    };
    (c, s, result)
}

fn server_alert(result: Result<(), Error>) -> Option<A> {
    result.err().and_then(|e| e.alert_sent())
}

#[test]
fn a_verified_client_chain_is_the_connections() {
    let pki = good_pki();
    let (c, s, result) = handshake(
        server_with(ClientAuth::required(roots(&pki.ca_der))),
        client_with(Some((&pki.chain, &pki.key))),
        NOW,
    );
    result.unwrap();
    assert!(c.is_open() && s.is_open());
    assert_eq!(s.peer_certificates(), Some(&pki.chain[..]));
    assert_eq!(s.peer_subject().as_deref(), Some("CN=device-17"));
    assert_eq!(s.negotiated().resumed, None);
}

#[test]
fn optional_lets_a_client_without_a_certificate_in_and_required_refuses_it() {
    let pki = good_pki();
    let (c, s, result) = handshake(
        server_with(ClientAuth::optional(roots(&pki.ca_der))),
        client_with(None),
        NOW,
    );
    result.unwrap();
    assert!(c.is_open() && s.is_open());
    assert_eq!(s.peer_certificates(), None);
    let (_, _, result) = handshake(
        server_with(ClientAuth::required(roots(&pki.ca_der))),
        client_with(None),
        NOW,
    );
    assert_eq!(server_alert(result), Some(A::HandshakeFailure));
}

#[test]
fn untrusted_expired_and_server_only_certificates_are_refused_by_name() {
    let trusted = good_pki();
    let stranger = client_pki_of(
        "Another CA",
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        (2040, 1, 1),
        5,
    );
    let (_, _, result) = handshake(
        server_with(ClientAuth::required(roots(&trusted.ca_der))),
        client_with(Some((&stranger.chain, &stranger.key))),
        NOW,
    );
    assert_eq!(server_alert(result), Some(A::UnknownCa));

    // Valid until 2025: at the injected NOW (2027) it has expired.
    let expired = client_pki(rcgen::ExtendedKeyUsagePurpose::ClientAuth, (2025, 1, 1), 3);
    let (_, _, result) = handshake(
        server_with(ClientAuth::required(roots(&expired.ca_der))),
        client_with(Some((&expired.chain, &expired.key))),
        NOW,
    );
    assert_eq!(server_alert(result), Some(A::CertificateExpired));

    let server_only = client_pki(rcgen::ExtendedKeyUsagePurpose::ServerAuth, (2040, 1, 1), 4);
    let (_, _, result) = handshake(
        server_with(ClientAuth::required(roots(&server_only.ca_der))),
        client_with(Some((&server_only.chain, &server_only.key))),
        NOW,
    );
    assert_eq!(server_alert(result), Some(A::UnsupportedCertificate));
}

#[test]
fn a_revoked_certificate_is_refused_with_certificate_revoked() {
    let pki = good_pki();
    let crl = revoking(&pki, 17);
    let auth = ClientAuth::required(roots(&pki.ca_der))
        .with_crls([crl.as_slice()])
        .unwrap();
    let (_, _, result) = handshake(
        server_with(auth),
        client_with(Some((&pki.chain, &pki.key))),
        NOW,
    );
    assert_eq!(server_alert(result), Some(A::CertificateRevoked));
    assert!(ClientAuth::required(RootStore::new())
        .with_crls([&b"not a CRL"[..]])
        .is_err());
    // The trust epoch follows the roots and the lists, and only them.
    let bare = ClientAuth::required(roots(&pki.ca_der));
    let listed = ClientAuth::optional(roots(&pki.ca_der))
        .with_crls([crl.as_slice()])
        .unwrap();
    assert_eq!(
        bare.trust_epoch(),
        ClientAuth::optional(roots(&pki.ca_der)).trust_epoch()
    );
    assert_ne!(bare.trust_epoch(), listed.trust_epoch());
    assert_ne!(
        bare.trust_epoch(),
        ClientAuth::required(roots(&good_pki().ca_der)).trust_epoch()
    );
    assert_eq!(listed.crl_count(), 1);
}

/// Runs a mutual handshake, changing the client's second flight with `tamper` (given the
/// CertificateVerify message's offset in the flight), and returns the server's error.
fn tampered_certificate_verify(tamper: impl Fn(&mut Vec<u8>, usize)) -> Option<A> {
    let pki = good_pki();
    let mut c =
        ClientConnection::new(client_with(Some((&pki.chain, &pki.key))), "localhost").unwrap();
    let mut s = ServerConnection::new(server_with(ClientAuth::required(roots(&pki.ca_der))));
    // ClientHello out, the server's flight back.
    let hello = c.pending_output().to_vec();
    c.consume_output(hello.len());
    feed_server_at(&mut s, &hello, NOW).unwrap();
    let answer = s.pending_output().to_vec();
    s.consume_output(answer.len());
    feed_client_at(&mut c, &answer, NOW).unwrap();
    let mut flight = c.pending_output().to_vec();
    c.consume_output(flight.len());
    // Plaintext records; find the handshake message of type 15.
    let mut at = 0;
    let offset = loop {
        assert!(at + 5 < flight.len(), "no CertificateVerify in the flight");
        let len = u16::from_be_bytes([flight[at + 3], flight[at + 4]]) as usize;
        if flight[at] == 22 {
            let mut m = at + 5;
            while m < at + 5 + len {
                let mlen = u32::from_be_bytes([0, flight[m + 1], flight[m + 2], flight[m + 3]]);
                if flight[m] == 15 {
                    break;
                }
                m += 4 + mlen as usize;
            }
            if m < at + 5 + len {
                break m;
            }
        }
        at += 5 + len;
    };
    tamper(&mut flight, offset);
    feed_server_at(&mut s, &flight, NOW)
        .err()
        .and_then(|e| e.alert_sent())
}

#[test]
fn a_tampered_or_unoffered_certificate_verify_is_refused() {
    // A bit of the signature flipped: decrypt_error (RFC 5246 §7.2.2).
    let alert = tampered_certificate_verify(|flight, cv| {
        let last = cv
            + 4
            + u32::from_be_bytes([0, flight[cv + 1], flight[cv + 2], flight[cv + 3]]) as usize
            - 1;
        flight[last] ^= 1;
    });
    assert_eq!(alert, Some(A::DecryptError));
    // A scheme the CertificateRequest did not offer (rsa_pkcs1_sha1).
    let alert = tampered_certificate_verify(|flight, cv| {
        flight[cv + 4] = 0x02;
        flight[cv + 5] = 0x01;
    });
    assert_eq!(alert, Some(A::IllegalParameter));
}

#[test]
fn client_certificate_checks_are_counted_by_result() {
    let pki = good_pki();
    let stranger = client_pki_of(
        "Another CA",
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        (2040, 1, 1),
        6,
    );
    let metrics = Arc::new(reprise::metrics::Metrics::new());
    let server = |auth: ClientAuth| {
        let mut config = server_config();
        config.client_auth = Some(Arc::new(auth));
        config.metrics = Some(metrics.clone());
        Arc::new(config)
    };
    let roots = || roots(&pki.ca_der);
    let good = client_with(Some((&pki.chain, &pki.key)));
    handshake(server(ClientAuth::required(roots())), good, NOW)
        .2
        .unwrap();
    let strange = client_with(Some((&stranger.chain, &stranger.key)));
    assert!(
        handshake(server(ClientAuth::required(roots())), strange, NOW)
            .2
            .is_err()
    );
    handshake(
        server(ClientAuth::optional(roots())),
        client_with(None),
        NOW,
    )
    .2
    .unwrap();
    assert!(handshake(
        server(ClientAuth::required(roots())),
        client_with(None),
        NOW
    )
    .2
    .is_err());
    for (result, n) in [
        ("verified", 1),
        ("unknown_ca", 1),
        ("absent", 1),
        ("missing", 1),
        ("revoked", 0),
    ] {
        assert_eq!(metrics.client_certificates(result), n, "{result}");
    }
    let mut text = String::new();
    struct Lines<'a>(&'a mut String);
    impl reprise::metrics::MetricSink for Lines<'_> {
        fn counter(&mut self, name: &str, _: &str, labels: &[(&str, &str)], value: u64) {
            self.0.push_str(&format!("{name}{labels:?} {value}\n"));
        }
        fn gauge(&mut self, _: &str, _: &str, _: &[(&str, &str)], _: f64) {}
        fn histogram(&mut self, _: &str, _: &str, _: &reprise::metrics::Histogram<'_>) {}
    }
    metrics.report(&mut Lines(&mut text));
    assert!(
        text.contains("reprise_client_certificates_total[(\"result\", \"verified\")] 1"),
        "{text}"
    );
}

/// How a test resumes: the session cache, or tickets.
#[derive(Clone, Copy, Debug)]
enum Resume {
    ById,
    ByTicket,
}

/// A week: sessions and ticket keys outlive every clock the resumption tests inject.
const WEEK: u32 = 7 * 86_400;

/// Where sessions are kept across the server configs of one test, as a reload keeps them.
struct Sessions {
    cache: Arc<reprise::session::SessionCache>,
    keys: Arc<reprise::session::TicketKeys>,
    client_store: Arc<reprise::session::ClientSessionStore>,
    metrics: Arc<reprise::metrics::Metrics>,
}

impl Sessions {
    fn new() -> Self {
        let ring = reprise::session::TicketKeyRing::new(
            reprise::session::RotationPolicy {
                rotate_every: u64::from(WEEK),
                decrypt_window: u64::from(WEEK),
            },
            NOW,
            &reprise::rng::SystemRandom,
        )
        .unwrap();
        Self {
            cache: Arc::new(reprise::session::SessionCache::new(1 << 20, WEEK)),
            keys: Arc::new(reprise::session::TicketKeys::new(ring)),
            client_store: Arc::new(reprise::session::ClientSessionStore::new(16)),
            metrics: Arc::new(reprise::metrics::Metrics::new()),
        }
    }

    fn server(&self, auth: ClientAuth, how: Resume) -> Arc<reprise::ServerConfig> {
        let mut config = server_config();
        config.client_auth = Some(Arc::new(auth));
        config.metrics = Some(self.metrics.clone());
        config.session_timeout = WEEK;
        match how {
            Resume::ById => config.session_store = Some(self.cache.clone()),
            Resume::ByTicket => {
                config.tickets = Some(self.keys.clone());
                config.ticket_lifetime = WEEK;
            }
        }
        Arc::new(config)
    }

    fn client(&self, pki: Option<&ClientPki>, how: Resume) -> Arc<reprise::ClientConfig> {
        let mut config = client_config();
        if let Some(pki) = pki {
            config.client_certificate = Some(Arc::new(
                reprise::CertifiedKey::new(pki.chain.clone(), &pki.key).unwrap(),
            ));
        }
        config.session_store = Some(self.client_store.clone());
        config.enable_tickets = matches!(how, Resume::ByTicket);
        Arc::new(config)
    }
}

/// The server's events of a connection that went through.
fn server_events(s: &mut ServerConnection) -> Vec<reprise::Event> {
    std::iter::from_fn(|| s.next_event()).collect()
}

#[test]
fn a_mutual_session_resumes_with_the_same_client_identity() {
    let pki = good_pki();
    for how in [Resume::ById, Resume::ByTicket] {
        let sessions = Sessions::new();
        let server = sessions.server(ClientAuth::required(roots(&pki.ca_der)), how);
        let client = sessions.client(Some(&pki), how);
        let (_, s, result) = handshake(server.clone(), client.clone(), NOW);
        result.unwrap_or_else(|e| panic!("{how:?}: {e:?}"));
        let first = s
            .peer_identity()
            .cloned()
            .expect("identity of a full handshake");
        assert_eq!(first.subject(), "CN=device-17");
        assert_eq!(first.common_name().as_deref(), Some("device-17"));
        assert_eq!(first.serial(), "11");
        assert_eq!(
            first.subject_alt_names(),
            [
                "URI:spiffe://example.org/device-17",
                "DNS:device-17.example.org"
            ]
        );
        assert_eq!(
            reprise::x509::subject_alt_names(&pki.chain[0]),
            first.subject_alt_names()
        );
        assert_eq!(
            first.certificate_sha256(),
            &reprise::x509::sha256(&pki.chain[0])
        );

        let (_, s, result) = handshake(server.clone(), client.clone(), NOW + 60);
        result.unwrap();
        let kind = match how {
            Resume::ById => reprise::ResumptionKind::SessionId,
            Resume::ByTicket => reprise::ResumptionKind::Ticket,
        };
        assert_eq!(s.negotiated().resumed, Some(kind), "{how:?}");
        assert_eq!(
            s.peer_certificates(),
            None,
            "a resumption sends no certificate"
        );
        assert_eq!(s.peer_identity(), Some(&first), "{how:?}");
        assert_eq!(s.peer_subject().as_deref(), Some("CN=device-17"));
    }
}

/// Makes a session with `pki` under `first`, then connects again under `then` at `later`:
/// the server's events and the outcome of that second handshake.
fn resume_under(
    how: Resume,
    pki: Option<&ClientPki>,
    first: ClientAuth,
    then: ClientAuth,
    later: u64,
) -> (
    Vec<reprise::Event>,
    Result<(), Error>,
    Arc<reprise::metrics::Metrics>,
) {
    let sessions = Sessions::new();
    let client = sessions.client(pki, how);
    let (_, _, result) = handshake(sessions.server(first, how), client.clone(), NOW);
    result.unwrap();
    let (_, mut s, result) = handshake(sessions.server(then, how), client, later);
    (server_events(&mut s), result, sessions.metrics.clone())
}

fn failures(metrics: &reprise::metrics::Metrics, reason: reprise::ResumptionFailure) -> u64 {
    metrics
        .snapshot()
        .resumption_failures
        .iter()
        .find(|(r, _)| *r == reason)
        .map_or(0, |(_, n)| *n)
}

/// The second handshake of [`resume_under`] went through as a resumption.
fn assert_resumed(events: &[reprise::Event], result: Result<(), Error>, how: Resume) {
    result.unwrap();
    assert!(
        matches!(
            events.last(),
            Some(reprise::Event::HandshakeDone { resumed: Some(_) })
        ),
        "{how:?}: {events:?}"
    );
}

fn declined(reason: reprise::ResumptionFailure) -> reprise::Event {
    reprise::Event::ResumptionFailed { reason }
}

fn revoking(pki: &ClientPki, serial: u64) -> Vec<u8> {
    rcgen::CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2026, 1, 1),
        next_update: rcgen::date_time_ymd(2039, 1, 1),
        crl_number: rcgen::SerialNumber::from(serial),
        issuing_distribution_point: None,
        revoked_certs: vec![rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from(serial),
            revocation_time: rcgen::date_time_ymd(2026, 6, 1),
            reason_code: Some(rcgen::RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&pki.issuer)
    .unwrap()
    .der()
    .to_vec()
}

#[test]
fn a_revoked_client_does_not_resume_and_its_full_handshake_is_refused() {
    use reprise::ResumptionFailure as R;
    let pki = good_pki();
    for how in [Resume::ById, Resume::ByTicket] {
        let revoked = ClientAuth::required(roots(&pki.ca_der))
            .with_crls([revoking(&pki, 17).as_slice()])
            .unwrap();
        let (events, result, metrics) = resume_under(
            how,
            Some(&pki),
            ClientAuth::required(roots(&pki.ca_der)),
            revoked,
            NOW + 60,
        );
        assert_eq!(
            events,
            vec![declined(R::ClientCertificateRevoked)],
            "{how:?}"
        );
        assert_eq!(server_alert(result), Some(A::CertificateRevoked), "{how:?}");
        assert_eq!(failures(&metrics, R::ClientCertificateRevoked), 1);

        // A list that revokes someone else leaves the session resumable.
        let other = ClientAuth::required(roots(&pki.ca_der))
            .with_crls([revoking(&pki, 99).as_slice()])
            .unwrap();
        let (events, result, _) = resume_under(
            how,
            Some(&pki),
            ClientAuth::required(roots(&pki.ca_der)),
            other,
            NOW + 60,
        );
        assert_resumed(&events, result, how);
    }
}

#[test]
fn new_roots_an_expired_leaf_and_a_missing_certificate_fall_back_by_name() {
    use reprise::ResumptionFailure as R;
    let pki = good_pki();
    let another = client_pki_of(
        "Another CA",
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        (2040, 1, 1),
        8,
    );
    for how in [Resume::ById, Resume::ByTicket] {
        // The operator adds a CA: old sessions fall back, the full handshake goes through.
        let mut both = roots(&pki.ca_der);
        both.add_der(&another.ca_der).unwrap();
        let (events, result, metrics) = resume_under(
            how,
            Some(&pki),
            ClientAuth::required(roots(&pki.ca_der)),
            ClientAuth::required(both),
            NOW + 60,
        );
        result.unwrap();
        assert_eq!(
            events,
            vec![
                declined(R::ClientTrustChanged),
                reprise::Event::HandshakeDone { resumed: None }
            ],
            "{how:?}"
        );
        assert_eq!(failures(&metrics, R::ClientTrustChanged), 1);

        // A leaf valid until 2027-01-16, resumed two days after NOW (2027-01-15).
        let short = client_pki(
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            (2027, 1, 16),
            21,
        );
        let (events, result, _) = resume_under(
            how,
            Some(&short),
            ClientAuth::required(roots(&short.ca_der)),
            ClientAuth::required(roots(&short.ca_der)),
            NOW + 2 * 86_400,
        );
        assert_eq!(
            events,
            vec![declined(R::ClientCertificateExpired)],
            "{how:?}"
        );
        assert_eq!(server_alert(result), Some(A::CertificateExpired));

        // A session made without a certificate where one was optional does not resume
        // once one is required; without a certificate the full handshake is refused.
        let (events, result, _) = resume_under(
            how,
            None,
            ClientAuth::optional(roots(&pki.ca_der)),
            ClientAuth::required(roots(&pki.ca_der)),
            NOW + 60,
        );
        assert_eq!(
            events,
            vec![declined(R::ClientCertificateRequired)],
            "{how:?}"
        );
        assert_eq!(server_alert(result), Some(A::HandshakeFailure));
        // ... and still resumes where certificates stay optional.
        let (events, result, _) = resume_under(
            how,
            None,
            ClientAuth::optional(roots(&pki.ca_der)),
            ClientAuth::optional(roots(&pki.ca_der)),
            NOW + 60,
        );
        assert_resumed(&events, result, how);
    }
}

#[test]
fn the_caller_approves_or_refuses_a_verified_client_without_blocking() {
    let pki = good_pki();
    for how in [Resume::ById, Resume::ByTicket] {
        let sessions = Sessions::new();
        let server = sessions.server(
            ClientAuth::required(roots(&pki.ca_der)).with_approval(),
            how,
        );
        let client = sessions.client(Some(&pki), how);
        for (round, resumes) in [(0, false), (1, true)] {
            let mut c = ClientConnection::new(client.clone(), "localhost").unwrap();
            let mut s = ServerConnection::new(server.clone());
            pump_at(&mut c, &mut s, NOW + round).unwrap();
            // The server waits: its next flight is held until the caller answers.
            assert!(s.is_suspended() && !c.is_open(), "{how:?} round {round}");
            let events = server_events(&mut s);
            let Some(reprise::Event::NeedClientApproval { identity }) = events.last() else {
                panic!("{how:?} round {round}: {events:?}");
            };
            assert_eq!(identity.subject(), "CN=device-17");
            assert_eq!(
                s.peer_identity().map(|id| id.subject()).as_deref(),
                Some("CN=device-17")
            );
            s.approve_client(true).unwrap();
            pump_at(&mut c, &mut s, NOW + round).unwrap();
            assert!(c.is_open() && s.is_open(), "{how:?} round {round}");
            assert_eq!(s.negotiated().resumed.is_some(), resumes, "{how:?}");
        }
        // Refused: access_denied, counted, and the session is not resumed by a refusal.
        let mut c = ClientConnection::new(client.clone(), "localhost").unwrap();
        let mut s = ServerConnection::new(server.clone());
        pump_at(&mut c, &mut s, NOW + 2).unwrap();
        let err = s.approve_client(false).unwrap_err();
        assert_eq!(err.alert_sent(), Some(A::AccessDenied), "{how:?}");
        assert!(matches!(
            err,
            Error::AlertSent(reprise::Cause::InvalidClientCertificate(
                reprise::CertificateError::NotApproved
            ))
        ));
        let alert = s.pending_output().to_vec();
        assert!(feed_client_at(&mut c, &alert, NOW + 2).is_err());
        assert_eq!(sessions.metrics.client_certificates("refused"), 1);
        // Answering twice, or with nothing asked, is an error, not a panic.
        let mut s = ServerConnection::new(server.clone());
        assert!(s.approve_client(true).is_err());
    }
}

#[test]
fn the_client_can_hand_its_certificate_verify_signature_to_the_caller() {
    let pki = good_pki();
    let mut config = client_config();
    config.client_certificate = Some(Arc::new(
        reprise::CertifiedKey::new(pki.chain.clone(), &pki.key).unwrap(),
    ));
    config.offload_signing = true;
    let mut c = ClientConnection::new(Arc::new(config), "localhost").unwrap();
    let mut s = ServerConnection::new(server_with(ClientAuth::required(roots(&pki.ca_der))));
    pump(&mut c, &mut s).unwrap();
    assert!(c.is_suspended() && !s.is_open());
    let request = std::iter::from_fn(|| c.next_event())
        .find_map(|e| match e {
            reprise::Event::NeedSignature {
                key,
                scheme,
                message,
                ..
            } => Some((key, scheme, message)),
            _ => None,
        })
        .expect("the client asks for its signature");
    // Nothing else of the flight went out meanwhile.
    assert!(c.pending_output().is_empty());
    let (key, scheme, message) = request;
    let mut signature = Vec::new();
    key.key().sign(scheme, &message, &mut signature).unwrap();
    c.provide_signature(Some(signature)).unwrap();
    pump(&mut c, &mut s).unwrap();
    assert!(c.is_open() && s.is_open());
    assert_eq!(s.peer_subject().as_deref(), Some("CN=device-17"));
}
