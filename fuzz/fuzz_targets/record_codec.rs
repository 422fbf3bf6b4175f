//! Record-layer framing: record headers, alerts, ChangeCipherSpec, handshake headers and
//! message splitting, and the code-point enums. Everything that parses encodes back to the
//! same bytes; every byte value survives `from_u8` → `to_u8`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise::internal::codec::{
    parse_change_cipher_spec, split_message, Alert, AlertDescription, AlertLevel, ContentType,
    HandshakeHeader, HandshakeType, RecordHeader, HANDSHAKE_HEADER_LEN, RECORD_HEADER_LEN,
};

fuzz_target!(|data: &[u8]| {
    if let Some(h) = RecordHeader::parse(data) {
        assert_eq!(h.encode()[..], data[..RECORD_HEADER_LEN]);
        assert_eq!(
            h.check_plaintext_len().is_ok(),
            usize::from(h.length) <= reprise::internal::codec::MAX_PLAINTEXT
        );
        if h.check_plaintext_len().is_ok() {
            assert!(h.check_ciphertext_len().is_ok());
        }
    } else {
        assert!(data.len() < RECORD_HEADER_LEN);
    }
    match Alert::parse(data) {
        Ok(a) => assert_eq!(a.encode()[..], data[..]),
        Err(e) => assert!(
            data.len() != 2 && e == AlertDescription::DecodeError
                || data.len() == 2 && AlertLevel::from_u8(data[0]).is_none()
        ),
    }
    match parse_change_cipher_spec(data) {
        Ok(()) => assert_eq!(data, [1]),
        Err(_) => assert_ne!(data, [1]),
    }
    if let Some(h) = HandshakeHeader::parse(data) {
        assert_eq!(
            h.encode().expect("24-bit length")[..],
            data[..HANDSHAKE_HEADER_LEN]
        );
        match split_message(data) {
            Some((typ, body, total)) => {
                assert_eq!(typ, h.typ);
                assert_eq!(body.len(), h.length as usize);
                assert_eq!(total, HANDSHAKE_HEADER_LEN + body.len());
                assert!(total <= data.len());
            }
            None => assert!(data.len() < HANDSHAKE_HEADER_LEN + h.length as usize),
        }
    }
    for &b in data.iter().take(4) {
        assert_eq!(ContentType::from_u8(b).to_u8(), b);
        assert_eq!(HandshakeType::from_u8(b).to_u8(), b);
        assert_eq!(AlertDescription::from_u8(b).to_u8(), b);
        if let Some(level) = AlertLevel::from_u8(b) {
            assert_eq!(level.to_u8(), b);
        }
    }
});
