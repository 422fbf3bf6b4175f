//! Record protection for each AEAD (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305):
//! arbitrary bodies never open and leave the sequence number alone; a sealed record opens to
//! its plaintext under the right content type and sequence number only; one flipped bit
//! makes it fail; `seal_in_place` and `seal_append` agree.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use reprise::internal::codec::{
    AlertDescription, ContentType, RecordHeader, MAX_PLAINTEXT, RECORD_HEADER_LEN,
};
use reprise::internal::record::RecordCipher;
use reprise::internal::suites::AeadKind;

#[derive(Arbitrary, Debug)]
struct Input {
    aead: u8,
    content_type: u8,
    skip: u8,
    flip: Option<(u16, u8)>,
    raw: Vec<u8>,
    plaintext: Vec<u8>,
}

const AEADS: [AeadKind; 3] = [
    AeadKind::Aes128Gcm,
    AeadKind::Aes256Gcm,
    AeadKind::ChaCha20Poly1305,
];

fn cipher(aead: AeadKind) -> RecordCipher {
    let key: Vec<u8> = (0..aead.key_len() as u8).collect();
    let iv: Vec<u8> = (0..aead.fixed_iv_len() as u8).map(|b| b ^ 0x5c).collect();
    RecordCipher::new(aead, &key, &iv).expect("fixed keys fit")
}

fuzz_target!(|input: Input| {
    let aead = AEADS[usize::from(input.aead) % AEADS.len()];
    let content_type = ContentType::from_u8(input.content_type);
    let (mut sealer, mut twin, mut opener) = (cipher(aead), cipher(aead), cipher(aead));
    // Move all three to the same sequence number.
    for _ in 0..input.skip % 4 {
        let mut rec = Vec::new();
        sealer
            .seal_append(ContentType::Alert, b"xx", &mut rec)
            .unwrap();
        twin.seal_append(ContentType::Alert, b"xx", &mut Vec::new())
            .unwrap();
        opener
            .open_in_place(ContentType::Alert, &mut rec[RECORD_HEADER_LEN..])
            .expect("opens");
    }
    let seq = opener.sequence();

    // Arbitrary bytes never open, and a failure changes nothing.
    let mut raw = input.raw.clone();
    let err = opener
        .open_in_place(content_type, &mut raw)
        .expect_err("an arbitrary body is not a valid record");
    assert!(matches!(
        err,
        AlertDescription::BadRecordMac | AlertDescription::RecordOverflow
    ));
    assert_eq!(opener.sequence(), seq);

    // Seal, two ways.
    let plain = &input.plaintext[..input.plaintext.len().min(MAX_PLAINTEXT)];
    let mut record = Vec::new();
    sealer
        .seal_append(content_type, plain, &mut record)
        .expect("seals");
    assert_eq!(record.len(), sealer.sealed_len(plain.len()));
    let header = RecordHeader::parse(&record).expect("header");
    assert_eq!(header.content_type, content_type);
    assert_eq!(usize::from(header.length), record.len() - RECORD_HEADER_LEN);
    let mut in_place = vec![0u8; twin.sealed_len(plain.len())];
    let at = RECORD_HEADER_LEN + aead.explicit_nonce_len();
    in_place[at..at + plain.len()].copy_from_slice(plain);
    twin.seal_in_place(content_type, &mut in_place)
        .expect("seals in place");
    assert_eq!(in_place, record, "seal_in_place and seal_append agree");

    // The wrong content type, or one flipped bit, fails without moving the sequence number.
    let wrong = ContentType::from_u8(input.content_type.wrapping_add(1));
    let mut body = record[RECORD_HEADER_LEN..].to_vec();
    assert_eq!(
        opener.open_in_place(wrong, &mut body),
        Err(AlertDescription::BadRecordMac)
    );
    if let Some((at, bit)) = input.flip {
        let mut body = record[RECORD_HEADER_LEN..].to_vec();
        let at = usize::from(at) % body.len();
        body[at] ^= 1 << (bit % 8);
        assert_eq!(
            opener.open_in_place(content_type, &mut body),
            Err(AlertDescription::BadRecordMac)
        );
    }
    assert_eq!(opener.sequence(), seq);

    let mut body = record[RECORD_HEADER_LEN..].to_vec();
    let range = opener
        .open_in_place(content_type, &mut body)
        .expect("opens");
    assert_eq!(&body[range], plain);
    assert_eq!(opener.sequence(), seq + 1);
    // A replay fails: the sequence number moved on.
    let mut body = record[RECORD_HEADER_LEN..].to_vec();
    assert!(opener.open_in_place(content_type, &mut body).is_err());
});
