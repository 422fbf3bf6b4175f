//! The client state machine fed an arbitrary byte stream from the server. Input: one byte
//! choosing the client profile (fresh, RSA-only, session-ID, ticket or renewed-ticket
//! resumption, ALPN without EMS), one byte choosing how the stream is cut into `receive`
//! calls, then the stream. The client is seeded, so a recorded server flight (the seed
//! corpus) replays through the whole handshake.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise_fuzz::{drive_stream, ClientProfile};

fuzz_target!(|data: &[u8]| {
    let [profile, chunking, stream @ ..] = data else {
        return;
    };
    let client = ClientProfile::from_byte(*profile).connect();
    drive_stream(client, stream, *chunking);
});
