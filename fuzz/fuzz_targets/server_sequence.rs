//! The server state machine driven by a real (seeded) client whose records are delivered,
//! split, dropped, duplicated, swapped, bit-flipped, truncated, or replaced by injected
//! records, including handshake messages the client seals under its current keys. Without
//! tampering the handshake must complete.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise_fuzz::{new_server_for, run_sequence, SequenceInput};

fuzz_target!(|input: SequenceInput| {
    // The mutual profile talks to the server that asks for its certificate.
    let server = new_server_for(input.profile);
    let client = input.profile.connect();
    run_sequence(server, client, &input.actions);
});
