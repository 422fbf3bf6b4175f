//! Shared helpers for the engine's integration tests: a test PKI made with rcgen, and an
//! in-memory pump between a client and a server connection.
#![allow(dead_code)]

use std::sync::Arc;

use reprise::internal::codec::{ClientExtensions, ClientHello, ProtocolNameList, U16List};
use reprise::rng::SeededRandom;
use reprise::{
    ClientConfig, ClientConnection, Connection, Error, Event, Handshake, Inbound, RootStore,
    ServerConfig, ServerConnection,
};

/// A fixed "now" inside the test certificates' validity.
pub const NOW: u64 = 1_800_000_000;

pub struct Pki {
    pub ca_der: Vec<u8>,
    pub ecdsa_chain: Vec<Vec<u8>>,
    pub ecdsa_key: Vec<u8>,
    pub rsa_chain: Vec<Vec<u8>>,
    pub rsa_key: Vec<u8>,
}

fn leaf(
    alg: &'static rcgen::SignatureAlgorithm,
    ca: &rcgen::Certificate,
    issuer: &rcgen::Issuer<'_, rcgen::KeyPair>,
) -> (Vec<Vec<u8>>, Vec<u8>) {
    let key = rcgen::KeyPair::generate_for(alg).unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let cert = params.signed_by(&key, issuer).unwrap();
    (
        vec![cert.der().to_vec(), ca.der().to_vec()],
        key.serialize_der(),
    )
}

/// A CA with an ECDSA P-256 and an RSA-2048 leaf for `localhost`, made once per process.
pub fn pki() -> &'static Pki {
    static PKI: std::sync::OnceLock<Pki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Reprise Test CA");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let ca = params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(params, ca_key);
        let (ecdsa_chain, ecdsa_key) = leaf(&rcgen::PKCS_ECDSA_P256_SHA256, &ca, &issuer);
        let (rsa_chain, rsa_key) = leaf(&rcgen::PKCS_RSA_SHA256, &ca, &issuer);
        Pki {
            ca_der: ca.der().to_vec(),
            ecdsa_chain,
            ecdsa_key,
            rsa_chain,
            rsa_key,
        }
    })
}

pub fn server_config() -> ServerConfig {
    let pki = pki();
    let mut config = ServerConfig::new();
    config
        .add_certificate(pki.ecdsa_chain.clone(), &pki.ecdsa_key)
        .unwrap();
    config
        .add_certificate(pki.rsa_chain.clone(), &pki.rsa_key)
        .unwrap();
    config
}

pub fn client_config() -> ClientConfig {
    let mut roots = RootStore::new();
    roots.add_der(&pki().ca_der).unwrap();
    ClientConfig::new(roots)
}

pub fn seeded(config: &mut ServerConfig, seed: u64) {
    config.rng = Arc::new(SeededRandom::new(seed));
}

/// Moves records both ways until neither side has anything to send. Returns every byte the
/// client sent and the server sent, in order (the transcript on the wire).
pub fn pump(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    pump_at(client, server, NOW)
}

/// [`pump`] at a given time.
pub fn pump_at(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
    now: u64,
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let (mut c2s, mut s2c) = (Vec::new(), Vec::new());
    for _ in 0..32 {
        let mut progressed = false;
        let out = client.pending_output().to_vec();
        if !out.is_empty() {
            client.consume_output(out.len());
            c2s.extend_from_slice(&out);
            feed_server_at(server, &out, now)?;
            progressed = true;
        }
        let out = server.pending_output().to_vec();
        if !out.is_empty() {
            server.consume_output(out.len());
            s2c.extend_from_slice(&out);
            feed_client_at(client, &out, now)?;
            progressed = true;
        }
        if !progressed {
            break;
        }
    }
    Ok((c2s, s2c))
}

/// Feeds bytes to a server, discarding application data; returns the plaintext received.
pub fn feed_server(server: &mut ServerConnection, data: &[u8]) -> Result<Vec<u8>, Error> {
    feed_server_at(server, data, NOW)
}

/// [`feed_server`] at a given time.
pub fn feed_server_at(
    server: &mut ServerConnection,
    data: &[u8],
    now: u64,
) -> Result<Vec<u8>, Error> {
    feed_at(server, data, now)
}

/// Feeds bytes to a client; returns the plaintext received.
pub fn feed_client(client: &mut ClientConnection, data: &[u8]) -> Result<Vec<u8>, Error> {
    feed_client_at(client, data, NOW)
}

/// [`feed_client`] at a given time.
pub fn feed_client_at(
    client: &mut ClientConnection,
    data: &[u8],
    now: u64,
) -> Result<Vec<u8>, Error> {
    feed_at(client, data, now)
}

/// Feeds bytes to either side; returns the plaintext received.
pub fn feed_at<S: Handshake>(
    conn: &mut Connection<S>,
    data: &[u8],
    now: u64,
) -> Result<Vec<u8>, Error> {
    let mut buf = data.to_vec();
    let mut inbound = Inbound::new(&mut buf);
    let mut plain = Vec::new();
    while let Some(data) = conn.next_plaintext(&mut inbound, now)? {
        plain.extend_from_slice(data);
    }
    Ok(plain)
}

pub fn events<S: Handshake>(conn: &mut Connection<S>) -> Vec<Event> {
    std::iter::from_fn(|| conn.next_event()).collect()
}

/// Knobs for a ClientHello built with the codec's encoder.
pub struct Hello {
    pub version: u16,
    pub suites: Vec<u16>,
    pub compression: Vec<u8>,
    pub groups: Vec<u16>,
    pub point_formats: Vec<u8>,
    pub alpn: Vec<&'static [u8]>,
    pub renegotiation_info: Option<&'static [u8]>,
    pub extended_master_secret: bool,
    pub session_id: Vec<u8>,
    pub ticket: Option<Vec<u8>>,
}

impl Default for Hello {
    fn default() -> Self {
        Self {
            version: 0x0303,
            suites: vec![0xc02b, 0xc02f],
            compression: vec![0],
            groups: vec![0x001d, 0x0017],
            point_formats: vec![0],
            alpn: vec![],
            renegotiation_info: Some(b""),
            extended_master_secret: true,
            session_id: Vec::new(),
            ticket: None,
        }
    }
}

impl Hello {
    /// The ClientHello handshake message (header included).
    pub fn message(&self) -> Vec<u8> {
        let schemes = [0x0403u16, 0x0804, 0x0401];
        let alpn = ProtocolNameList::from_names(&self.alpn);
        let mut out = Vec::new();
        ClientHello {
            client_version: self.version,
            random: &[7; 32],
            session_id: &self.session_id,
            cipher_suites: U16List::from_values(&self.suites),
            compression_methods: &self.compression,
            extensions: ClientExtensions {
                server_name: Some(b"localhost"),
                supported_groups: Some(U16List::from_values(&self.groups)),
                ec_point_formats: Some(&self.point_formats),
                signature_algorithms: Some(U16List::from_values(&schemes)),
                alpn,
                extended_master_secret: self.extended_master_secret,
                session_ticket: self.ticket.as_deref(),
                renegotiation_info: self.renegotiation_info,
                supported_versions_offers_tls13: false,
            },
        }
        .encode(&mut out)
        .unwrap();
        out
    }

    pub fn record(&self) -> Vec<u8> {
        record(22, 0x0301, &self.message())
    }
}

pub fn record(content_type: u8, version: u16, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type];
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

pub fn handshake(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![typ];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    m
}
