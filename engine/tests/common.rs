//! Shared helpers for the engine's integration tests: a test PKI made with rcgen, and an
//! in-memory pump between a client and a server connection.
#![allow(dead_code)]

use std::sync::Arc;

use reprise::rng::SeededRandom;
use reprise::{
    ClientConfig, ClientConnection, Error, Event, RootStore, ServerConfig, ServerConnection,
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
    let (mut c2s, mut s2c) = (Vec::new(), Vec::new());
    for _ in 0..32 {
        let mut progressed = false;
        let out = client.pending_output().to_vec();
        if !out.is_empty() {
            client.consume_output(out.len());
            c2s.extend_from_slice(&out);
            feed_server(server, &out)?;
            progressed = true;
        }
        let out = server.pending_output().to_vec();
        if !out.is_empty() {
            server.consume_output(out.len());
            s2c.extend_from_slice(&out);
            feed_client(client, &out)?;
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
    let mut buf = data.to_vec();
    let mut start = 0;
    let mut plain = Vec::new();
    while start < buf.len() {
        let r = server.receive(&mut buf[start..], NOW)?;
        plain.extend_from_slice(&buf[start + r.plaintext.start..start + r.plaintext.end]);
        if r.consumed == 0 {
            break;
        }
        start += r.consumed;
    }
    Ok(plain)
}

/// Feeds bytes to a client; returns the plaintext received.
pub fn feed_client(client: &mut ClientConnection, data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut buf = data.to_vec();
    let mut start = 0;
    let mut plain = Vec::new();
    while start < buf.len() {
        let r = client.receive(&mut buf[start..], NOW)?;
        plain.extend_from_slice(&buf[start + r.plaintext.start..start + r.plaintext.end]);
        if r.consumed == 0 {
            break;
        }
        start += r.consumed;
    }
    Ok(plain)
}

pub fn events<H>(conn: &mut reprise::Connection<H>) -> Vec<Event>
where
    reprise::Connection<H>: EventSource,
{
    conn.drain()
}

pub trait EventSource {
    fn drain(&mut self) -> Vec<Event>;
}

impl EventSource for ServerConnection {
    fn drain(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.next_event()).collect()
    }
}

impl EventSource for ClientConnection {
    fn drain(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.next_event()).collect()
    }
}
