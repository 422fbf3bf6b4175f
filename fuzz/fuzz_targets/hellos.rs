//! ClientHello and ServerHello (with their extensions): parse → encode → parse agrees, and
//! encoding what was parsed is a fixed point. The first byte picks the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reprise::internal::codec::{split_message, ClientHello, HandshakeType, ServerHello};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    if which & 1 == 0 {
        let Ok(hello) = ClientHello::parse(body) else {
            return;
        };
        let mut encoded = Vec::new();
        hello
            .encode(&mut encoded)
            .expect("a parsed ClientHello encodes");
        let (typ, again_body, total) = split_message(&encoded).expect("one whole message");
        assert_eq!((typ, total), (HandshakeType::ClientHello, encoded.len()));
        let again = ClientHello::parse(again_body).expect("an encoded ClientHello parses");
        assert_eq!(again, hello, "parse → encode → parse");
        let mut twice = Vec::new();
        again.encode(&mut twice).expect("encodes again");
        assert_eq!(twice, encoded, "encoding is a fixed point");
    } else {
        let Ok(hello) = ServerHello::parse(body) else {
            return;
        };
        let mut encoded = Vec::new();
        hello
            .encode(&mut encoded)
            .expect("a parsed ServerHello encodes");
        let (typ, again_body, total) = split_message(&encoded).expect("one whole message");
        assert_eq!((typ, total), (HandshakeType::ServerHello, encoded.len()));
        let again = ServerHello::parse(again_body).expect("an encoded ServerHello parses");
        assert_eq!(again, hello, "parse → encode → parse");
        let mut twice = Vec::new();
        again.encode(&mut twice).expect("encodes again");
        assert_eq!(twice, encoded, "encoding is a fixed point");
    }
});
