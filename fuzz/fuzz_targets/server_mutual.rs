//! The server that requires a client certificate (RFC 5246 §7.4.4, §7.4.6, §7.4.8) fed an
//! arbitrary byte stream from the client: the client's Certificate, CertificateVerify and
//! everything around them. Input: one byte choosing how the stream is cut into `receive`
//! calls, then the stream (the seed corpus holds a mutual client's recorded stream).
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise_fuzz::{drive_stream, new_mutual_server};

fuzz_target!(|data: &[u8]| {
    let Some((&chunking, stream)) = data.split_first() else {
        return;
    };
    let server = new_mutual_server();
    drive_stream(server, stream, chunking);
});
