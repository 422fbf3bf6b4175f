//! Ticket key files (nginx binary, HAProxy base64, Reprise lines): parsing never panics; what
//! parses holds at least one key, no two with the same name, and builds a ring that seals
//! and opens; the detected format agrees with `read_key_file`. Also base64 round trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise::internal::keyfile::{decode_base64, encode_base64};
use reprise::internal::ticket::MAX_TICKET_PLAINTEXT;
use reprise::rng::SeededRandom;
use reprise::session::{parse_key_file, read_key_file, RotationPolicy, TicketKeyRing};
use reprise_fuzz::NOW;

fuzz_target!(|data: &[u8]| {
    let parsed = parse_key_file(data);
    let read = read_key_file(data);
    assert_eq!(parsed.is_ok(), read.is_ok());
    if let (Ok(keys), Ok(file)) = (parsed, read) {
        assert!(!keys.is_empty(), "a key file holds a key");
        assert_eq!(keys.len(), file.keys.len());
        if file.format.is_binary() {
            assert!(data.len() == 48 || data.len() == 80);
        }
        for (i, k) in keys.iter().enumerate() {
            assert!(
                keys[..i].iter().all(|o| o.name != k.name),
                "duplicate names"
            );
        }
        let first = keys[0].name;
        let ring = TicketKeyRing::from_material(keys, RotationPolicy::default(), NOW);
        assert_eq!(ring.key_names()[0], first, "the first key encrypts");
        let mut ticket = Vec::new();
        ring.seal(b"session", NOW, &SeededRandom::new(1), &mut ticket)
            .expect("seals");
        let mut out = [0u8; MAX_TICKET_PLAINTEXT];
        let opened = ring.open(&ticket, NOW, &mut out).expect("opens");
        assert_eq!(&out[..opened.len], b"session");
    }
    if let Some(decoded) = decode_base64(data) {
        assert_eq!(
            encode_base64(&decoded).as_bytes(),
            data,
            "strict base64 is canonical"
        );
    }
    let encoded = encode_base64(data);
    assert_eq!(
        decode_base64(encoded.as_bytes()).as_deref().map(|v| &v[..]),
        Some(data)
    );
});
