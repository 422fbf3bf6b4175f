//! The other handshake messages: Certificate, ServerKeyExchange, ServerHelloDone,
//! ClientKeyExchange, Finished, NewSessionTicket, HelloRequest, CertificateRequest and
//! CertificateVerify. Their encodings are canonical, so whatever parses must encode back to
//! exactly the same bytes.
//! The first byte picks the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise::internal::codec::{
    split_message, Certificate, CertificateRequest, CertificateVerify, ClientKeyExchange,
    EncodeError, Finished, HandshakeType, HelloRequest, NewSessionTicket, ServerHelloDone,
    ServerKeyExchange,
};

/// `encode` must give back the message header plus exactly `body`.
fn exact(
    typ: HandshakeType,
    body: &[u8],
    encode: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) {
    let mut out = Vec::new();
    encode(&mut out).expect("a parsed message encodes");
    let (t, b, total) = split_message(&out).expect("one whole message");
    assert_eq!((t, total), (typ, out.len()));
    assert_eq!(b, body, "parse → encode gives the same bytes");
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 9 {
        0 => {
            if let Ok(m) = Certificate::parse(body) {
                assert_eq!(m.iter().count(), m.count());
                assert!(m.iter().all(|c| !c.is_empty()), "no empty certificate");
                exact(HandshakeType::Certificate, body, |o| m.encode(o));
                let certs: Vec<&[u8]> = m.iter().collect();
                exact(HandshakeType::Certificate, body, |o| {
                    reprise::internal::codec::encode_certificate(&certs, o)
                });
            }
        }
        1 => {
            if let Ok(m) = ServerKeyExchange::parse(body) {
                assert!(body.starts_with(m.params_raw));
                let mut params = Vec::new();
                m.params.encode(&mut params).expect("params encode");
                assert_eq!(params, m.params_raw, "params re-encode to the signed bytes");
                exact(HandshakeType::ServerKeyExchange, body, |o| m.encode(o));
                let again = ServerKeyExchange::parse(body).expect("parses twice");
                assert_eq!(again, m);
            }
        }
        2 => {
            if let Ok(m) = ServerHelloDone::parse(body) {
                exact(HandshakeType::ServerHelloDone, body, |o| m.encode(o));
            }
        }
        3 => {
            if let Ok(m) = ClientKeyExchange::parse(body) {
                exact(HandshakeType::ClientKeyExchange, body, |o| m.encode(o));
            }
        }
        4 => {
            if let Ok(m) = Finished::parse(body) {
                exact(HandshakeType::Finished, body, |o| m.encode(o));
            }
        }
        5 => {
            if let Ok(m) = NewSessionTicket::parse(body) {
                exact(HandshakeType::NewSessionTicket, body, |o| m.encode(o));
            }
        }
        6 => {
            if let Ok(m) = HelloRequest::parse(body) {
                exact(HandshakeType::HelloRequest, body, |o| m.encode(o));
            }
        }
        8 => {
            if let Ok(m) = CertificateVerify::parse(body) {
                exact(HandshakeType::CertificateVerify, body, |o| m.encode(o));
            }
        }
        _ => {
            if let Ok(m) = CertificateRequest::parse(body) {
                assert!(m.authorities().all(|a| !a.is_empty()));
                exact(HandshakeType::CertificateRequest, body, |o| m.encode(o));
            }
        }
    }
});
