//! The server state machine fed an arbitrary byte stream from the client. Input: one byte
//! choosing how the stream is cut into `receive` calls, then the stream. The server is the
//! deterministic one of `reprise_fuzz::new_server`, so a recorded client stream (the seed
//! corpus) replays through the whole handshake.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise_fuzz::{drive_stream, new_server};

fuzz_target!(|data: &[u8]| {
    let Some((&chunking, stream)) = data.split_first() else {
        return;
    };
    let server = new_server();
    drive_stream(server, stream, chunking);
});
