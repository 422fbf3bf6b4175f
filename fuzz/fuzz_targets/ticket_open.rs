//! Ticket protection (RFC 5077 §4 layout, Reprise's AES-256-GCM construction): arbitrary
//! tickets never open; a sealed session record opens to itself and decodes; any one flipped
//! bit, or a cut, makes it fail. The fuzz world's ring comes from key material (like a key
//! file or a fleet publisher), whose keys never expire on the local clock: its tickets open
//! at any time, and the encrypting key's tickets never ask for renewal.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use reprise::internal::ticket::{MAX_TICKET_PLAINTEXT, TICKET_OVERHEAD};
use reprise::rng::SeededRandom;
use reprise::session::SessionRecord;
use reprise::session::TicketError;
use reprise_fuzz::{ticket_ring, NOW};

#[derive(Arbitrary, Debug)]
struct Input {
    raw: Vec<u8>,
    plaintext: Vec<u8>,
    seed: u64,
    later: u32,
    flip: (u16, u8),
    cut: u16,
}

fuzz_target!(|input: Input| {
    let ring = ticket_ring();
    let now = NOW + u64::from(input.later % 200_000);
    let mut out = [0u8; MAX_TICKET_PLAINTEXT];
    // Arbitrary bytes: never a valid ticket, and nothing is left in `out`.
    match ring.open(&input.raw, now, &mut out) {
        Ok(_) => panic!("an arbitrary ticket opened"),
        Err(_) => assert!(
            out.iter().all(|b| *b == 0),
            "no unauthenticated plaintext left"
        ),
    }
    // Seal and open.
    let mut ticket = Vec::new();
    let sealed = ring.seal(
        &input.plaintext,
        NOW,
        &SeededRandom::new(input.seed),
        &mut ticket,
    );
    if input.plaintext.len() > MAX_TICKET_PLAINTEXT {
        assert_eq!(sealed, Err(TicketError::TooLarge));
        assert!(ticket.is_empty());
        return;
    }
    sealed.expect("seals");
    assert_eq!(ticket.len(), TICKET_OVERHEAD + input.plaintext.len());
    match ring.open(&ticket, now, &mut out) {
        Ok(opened) => {
            assert_eq!(&out[..opened.len], &input.plaintext[..]);
            assert!(
                !opened.renew,
                "the encrypting key's tickets need no renewal"
            );
            if let Ok(record) = SessionRecord::decode(&out[..opened.len]) {
                assert_eq!(record.encode(), input.plaintext);
            }
        }
        Err(e) => panic!("a fresh ticket failed at +{} s: {e:?}", now - NOW),
    }
    let mut flipped = ticket.clone();
    let at = usize::from(input.flip.0) % flipped.len();
    flipped[at] ^= 1 << (input.flip.1 % 8);
    assert!(
        ring.open(&flipped, NOW, &mut out).is_err(),
        "a flipped ticket opened"
    );
    let cut = usize::from(input.cut) % ticket.len();
    assert!(
        ring.open(&ticket[..cut], NOW, &mut out).is_err(),
        "a cut ticket opened"
    );
});
