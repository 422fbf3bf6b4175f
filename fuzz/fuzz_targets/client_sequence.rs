//! The client state machine driven by a real (seeded) server whose records are delivered,
//! split, dropped, duplicated, swapped, bit-flipped, truncated, or replaced by injected
//! records, including handshake messages the server seals under its current keys. Without
//! tampering the handshake must complete.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise_fuzz::{new_server, run_sequence, SequenceInput};

fuzz_target!(|input: SequenceInput| {
    let client = input.profile.connect();
    let server = new_server();
    run_sequence(client, server, &input.actions);
});
