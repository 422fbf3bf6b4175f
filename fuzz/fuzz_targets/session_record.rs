//! Session-record decoding (the plaintext of tickets and of the session cache): whatever
//! decodes re-encodes to exactly the same bytes, and a record survives encode → decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise::session::{SessionCodecError, SessionRecord};

fuzz_target!(|data: &[u8]| {
    match SessionRecord::decode(data) {
        Ok(record) => {
            assert_eq!(record.encoded_len(), data.len());
            assert_eq!(
                record.encode(),
                data,
                "decode → encode gives the same bytes"
            );
            let mut out = vec![0u8; SessionRecord::MAX_ENCODED_LEN];
            let n = record.encode_into(&mut out).expect("fits");
            assert_eq!(&out[..n], data);
            assert_eq!(
                record.encode_into(&mut out[..n.saturating_sub(1)]),
                Err(SessionCodecError::Truncated)
            );
            let again = SessionRecord::decode(&out[..n]).expect("decodes again");
            assert_eq!(again, record);
            assert_eq!(
                again.expires_at(),
                record.created.saturating_add(u64::from(record.lifetime))
            );
            let _ = record.is_valid_at(reprise_fuzz::NOW);
            // Trailing bytes are refused.
            let mut longer = data.to_vec();
            longer.push(0);
            assert_eq!(
                SessionRecord::decode(&longer),
                Err(SessionCodecError::TrailingBytes)
            );
        }
        Err(_) => assert!(data.len() <= SessionRecord::MAX_ENCODED_LEN + 0x10000),
    }
});
