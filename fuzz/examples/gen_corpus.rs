//! Writes the seed corpora under `fuzz/corpus/<target>/` from real handshakes between
//! Reprise's client and server, run in memory in the fuzz targets' deterministic world
//! (`reprise_fuzz`): full (ECDSA and RSA, with and without a ticket), session-ID resumption,
//! ticket resumption and ticket resumption with renewal, each followed by application data
//! both ways and close_notify. It then replays each recorded stream against a fresh
//! connection and checks that the deterministic ones complete again, as the `server` and
//! `client` targets will see them.
//!
//! ```text
//! cd fuzz && cargo run --example gen_corpus
//! ```
//!
//! The output is deterministic (seeded randomness, fixed clock and keys) except for ECDSA
//! signatures, whose nonces aws-lc draws itself.

use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};
use reprise::internal::codec::{
    Alert, AlertDescription, CertificateRequest, ContentType, HandshakeType, U16List,
    RECORD_HEADER_LEN,
};
use reprise::rng::SeededRandom;
use reprise::session::{generate_key_file, KeyFileFormat};
use reprise::{Connection, Event, Handshake, Inbound, ResumptionKind};
use reprise_fuzz::{
    drive_stream, fresh_ticket_record, id_session_record, new_server_for, old_ticket_record,
    seal_ticket, split_records, take_output, ClientProfile, SequenceInput, NOW,
};

struct Corpus {
    root: PathBuf,
    count: usize,
    bytes: usize,
}

impl Corpus {
    fn put(&mut self, target: &str, name: &str, data: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        std::fs::write(dir.join(name), data).expect("write corpus file");
        self.count += 1;
        self.bytes += data.len();
    }
}

/// One recorded connection: what each side sent, and how it ended.
struct Recording {
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    resumed: Option<ResumptionKind>,
}

fn record(profile: ClientProfile) -> Recording {
    let mut client = profile.connect();
    let mut server = new_server_for(profile);
    let (mut c2s, mut s2c) = (Vec::new(), Vec::new());
    let mut resumed = None;
    let mut sent_data = false;
    for _ in 0..16 {
        if client.is_open() && server.is_open() && !sent_data {
            client
                .send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .unwrap();
            client.close();
            server
                .send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .unwrap();
            server.close();
            sent_data = true;
        }
        let out = take_output(&mut client);
        let back = take_output(&mut server);
        if out.is_empty() && back.is_empty() {
            break;
        }
        c2s.extend_from_slice(&out);
        s2c.extend_from_slice(&back);
        feed(&mut server, &out);
        feed(&mut client, &back);
        while let Some(e) = client.next_event() {
            if let Event::HandshakeDone { resumed: r } = e {
                resumed = r;
            }
        }
        while server.next_event().is_some() {}
    }
    assert!(sent_data, "{profile:?}: the handshake completed");
    Recording { c2s, s2c, resumed }
}

fn feed<S: Handshake>(conn: &mut Connection<S>, bytes: &[u8]) {
    let mut buf = bytes.to_vec();
    let mut inbound = Inbound::new(&mut buf);
    while conn
        .next_plaintext(&mut inbound, NOW)
        .expect("recorded handshake")
        .is_some()
    {}
}

/// The plaintext handshake messages in a stream (up to its ChangeCipherSpec).
fn messages(stream: &[u8]) -> Vec<(HandshakeType, Vec<u8>)> {
    let mut payload = Vec::new();
    for r in split_records(stream) {
        match ContentType::from_u8(r[0]) {
            ContentType::Handshake => payload.extend_from_slice(&r[RECORD_HEADER_LEN..]),
            ContentType::ChangeCipherSpec => break,
            _ => {}
        }
    }
    let mut out = Vec::new();
    let mut rest = &payload[..];
    while let Some((typ, body, total)) = reprise::internal::codec::split_message(rest) {
        out.push((typ, body.to_vec()));
        rest = &rest[total..];
    }
    out
}

/// An input that the sequence targets decode as `profile` followed by plain deliveries.
fn sequence_seed(profile: ClientProfile, deliveries: usize) -> Vec<u8> {
    // The profile is decoded from the first four bytes; 256 values spread over the range
    // reach every one of a few profiles.
    for v in 0..=u8::MAX {
        let x = u32::from(v) << 24 | 0x0080_0000;
        let mut bytes = x.to_le_bytes().to_vec();
        bytes.extend(std::iter::repeat_n(0u8, deliveries * 4));
        let decoded =
            SequenceInput::arbitrary_take_rest(Unstructured::new(&bytes)).expect("decodes");
        if decoded.profile == profile {
            return bytes;
        }
    }
    unreachable!("every profile has an encoding")
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut corpus = Corpus {
        root,
        count: 0,
        bytes: 0,
    };
    for profile in ClientProfile::ALL {
        let name = format!("{profile:?}").to_lowercase();
        let rec = record(profile);
        println!(
            "{name}: client sent {} bytes, server {} bytes, resumed {:?}",
            rec.c2s.len(),
            rec.s2c.len(),
            rec.resumed
        );
        // Stream targets: whole, and cut into small pieces.
        for chunking in [0u8, 7] {
            // The mutual client's stream is for the server that asks for its certificate.
            let server_target = if profile == ClientProfile::Mutual {
                "server_mutual"
            } else {
                "server"
            };
            corpus.put(
                server_target,
                &format!("{name}-{chunking}"),
                &[&[chunking][..], &rec.c2s].concat(),
            );
            corpus.put(
                "client",
                &format!("{name}-{chunking}"),
                &[&[profile.to_byte(), chunking][..], &rec.s2c].concat(),
            );
        }
        // Replays: the client completes (its randomness is seeded and the server's flight is
        // replayed as recorded) unless it signs with ECDSA itself (the mutual client's
        // CertificateVerify); the server does when its own flight is deterministic (no
        // ECDSA signature).
        let client = drive_stream(profile.connect(), &rec.s2c, 0);
        if profile != ClientProfile::Mutual {
            assert!(client.handshake_done(), "{name}: client replay completes");
        }
        let server = drive_stream(new_server_for(profile), &rec.c2s, 0);
        println!(
            "  replay: client done {}, server done {} ({:?})",
            client.handshake_done(),
            server.handshake_done(),
            server.failed()
        );
        if matches!(
            profile,
            ClientProfile::RsaPkcs1
                | ClientProfile::ResumeId
                | ClientProfile::ResumeTicket
                | ClientProfile::ResumeTicketRenewed
        ) {
            assert!(server.handshake_done(), "{name}: server replay completes");
        }
        // Codec targets: every plaintext message, by type.
        for (i, (typ, body)) in messages(&rec.c2s)
            .into_iter()
            .chain(messages(&rec.s2c))
            .enumerate()
        {
            let (target, selector) = match typ {
                HandshakeType::ClientHello => ("hellos", 0),
                HandshakeType::ServerHello => ("hellos", 1),
                HandshakeType::Certificate => ("messages", 0),
                HandshakeType::ServerKeyExchange => ("messages", 1),
                HandshakeType::ServerHelloDone => ("messages", 2),
                HandshakeType::ClientKeyExchange => ("messages", 3),
                HandshakeType::NewSessionTicket => ("messages", 5),
                HandshakeType::CertificateRequest => ("messages", 7),
                HandshakeType::CertificateVerify => ("messages", 8),
                _ => continue,
            };
            corpus.put(
                target,
                &format!("{name}-{i}-{typ:?}").to_lowercase(),
                &[&[selector][..], &body].concat(),
            );
        }
        // Framing: the first record of each direction.
        corpus.put("record_codec", &format!("{name}-c2s"), &rec.c2s[..64]);
        corpus.put("record_codec", &format!("{name}-s2c"), &rec.s2c[..64]);
        corpus.put("server_sequence", &name, &sequence_seed(profile, 24));
        corpus.put("client_sequence", &name, &sequence_seed(profile, 24));
    }
    // Messages never sent in these handshakes.
    corpus.put("messages", "finished", &[&[4u8][..], &[0x42; 12]].concat());
    corpus.put("messages", "hello-request", &[6]);
    let mut request = Vec::new();
    CertificateRequest {
        certificate_types: &[1, 64],
        signature_algorithms: U16List::from_values(&[0x0403, 0x0804]),
        certificate_authorities: &[0, 3, 0x30, 1, 0],
    }
    .encode(&mut request)
    .unwrap();
    corpus.put(
        "messages",
        "certificate-request",
        &[&[7u8][..], &request[4..]].concat(),
    );
    corpus.put(
        "record_codec",
        "alert",
        &Alert::fatal(AlertDescription::BadRecordMac).encode(),
    );
    corpus.put("record_codec", "ccs", &[1]);
    // Session records and tickets.
    for (name, r) in [
        ("id", id_session_record()),
        ("fresh-ticket", fresh_ticket_record()),
        ("old-ticket", old_ticket_record()),
    ] {
        corpus.put("session_record", name, &r.encode());
        let ticket = seal_ticket(&r);
        let mut seed = (ticket.len() as u32).to_le_bytes().to_vec();
        seed.extend_from_slice(&ticket);
        seed.extend_from_slice(&r.encode());
        corpus.put("ticket_open", name, &seed);
    }
    let mut alpn = id_session_record();
    alpn.alpn = b"http/1.1"[..].into();
    alpn.extended_master_secret = false;
    corpus.put("session_record", "alpn-no-ems", &alpn.encode());
    // A session made with a client certificate (version 2): the mutual handshake's own.
    let mut client = ClientProfile::Mutual.connect();
    let mut server = new_server_for(ClientProfile::Mutual);
    for _ in 0..8 {
        let out = take_output(&mut client);
        feed(&mut server, &out);
        let back = take_output(&mut server);
        feed(&mut client, &back);
    }
    let identity = server.peer_identity().expect("the mutual client's identity").clone();
    let mut bound = id_session_record();
    bound.client = Some(identity);
    corpus.put("session_record", "with-client", &bound.encode());
    let ticket = seal_ticket(&bound);
    let mut seed = (ticket.len() as u32).to_le_bytes().to_vec();
    seed.extend_from_slice(&ticket);
    seed.extend_from_slice(&bound.encode());
    corpus.put("ticket_open", "with-client", &seed);
    // Key files of every format, and a commented Reprise file with two keys.
    let rng = SeededRandom::new(7);
    for format in [
        KeyFileFormat::Nginx48,
        KeyFileFormat::Nginx80,
        KeyFileFormat::Haproxy,
        KeyFileFormat::Reprise,
    ] {
        let file = generate_key_file(format, &rng).unwrap();
        corpus.put("key_file", format.name(), &file);
    }
    let mut two = b"# rotated daily\n\n".to_vec();
    two.extend_from_slice(&generate_key_file(KeyFileFormat::Reprise, &rng).unwrap());
    two.extend_from_slice(&generate_key_file(KeyFileFormat::Reprise, &rng).unwrap());
    corpus.put("key_file", "reprise-two", &two);
    // record_open: a few shapes of input (its fields are decoded with `arbitrary`).
    for (i, len) in [0usize, 40, 300].into_iter().enumerate() {
        let seed: Vec<u8> = (0..len).map(|b| (b * 31 + i) as u8).collect();
        corpus.put("record_open", &format!("pattern-{i}"), &seed);
    }
    println!(
        "wrote {} corpus files, {} bytes in all",
        corpus.count, corpus.bytes
    );
}
