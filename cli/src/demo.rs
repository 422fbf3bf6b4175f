//! `reprise demo`: a Reprise client and server in one process over a simulated link, running
//! a full handshake, a session-ID resumption (RFC 5246 §7.3) and a ticket resumption
//! (RFC 5077 §3.1), each printed as a ladder derived from the bytes exchanged.
//!
//! With `--client-auth` the server requires a client certificate (RFC 5246 §7.4.4, §7.4.6,
//! §7.4.8): the full handshake carries the client's Certificate and CertificateVerify, and
//! both resumptions skip them while the server still knows who the client is.
//!
//! The clock is simulated: a flight leaves its sender when the sender has finished processing
//! what it received (the real CPU time of that processing, measured) and arrives half a
//! round-trip time later. The client sends `GET /` as soon as its handshake allows and the
//! time to first byte is when it has decrypted the first byte of the answer. TCP's own
//! handshake is not simulated (it costs every shape the same one round trip).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use reprise::metrics::Metrics;
use reprise::rng::SystemRandom;
use reprise::session::{
    ClientSessionStore, RotationPolicy, SessionCache, TicketKeyRing, TicketKeys,
};
use reprise::{
    ClientConfig, ClientConnection, Connection, Handshake, Inbound, ResumptionKind, RootStore,
    ServerConfig, ServerConnection,
};

use crate::ladder::{self, Dir, Flight, Ladder, WireParser};
use reprise_apps::page::PageResponder;

/// Options of `reprise demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Round-trip time of the simulated link (e.g. `100ms`, `0.25s`, `30`; bare numbers are ms).
    #[arg(long, default_value = "100ms")]
    pub rtt: String,
    /// Also write the ladders as an SVG picture to this file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// The server requires a client certificate (mutual TLS); the client presents one.
    #[arg(long)]
    pub client_auth: bool,
}

/// Milliseconds in `100ms`, `0.1s`, `100` (ms) or `1.5 s`.
pub fn parse_millis(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("bad duration {text:?}"))?;
    let ms = match unit.trim() {
        "" | "ms" => n,
        "s" => n * 1000.0,
        "us" | "µs" => n / 1000.0,
        other => return Err(format!("bad unit {other:?} in {text:?} (use ms or s)")),
    };
    if !(0.0..=60_000.0).contains(&ms) {
        return Err(format!("{text:?}: give a round-trip time up to 60 s"));
    }
    Ok(ms)
}

/// The demo's PKI, DER.
struct DemoPki {
    ca: Vec<u8>,
    /// The server's chain, leaf first, and key.
    server: (Vec<Vec<u8>>, Vec<u8>),
    /// The client's chain (`CN=demo-client`, for client authentication), and key.
    client: (Vec<Vec<u8>>, Vec<u8>),
}

/// A CA, an ECDSA P-256 leaf for `localhost` and one for a client, made fresh (fast: no RSA).
fn demo_pki() -> Result<DemoPki, String> {
    let err = |e: rcgen::Error| format!("certificate generation: {e}");
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Reprise demo CA");
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let leaf_params = rcgen::CertificateParams::new(vec!["localhost".into()]).map_err(err)?;
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).map_err(err)?;
    let client_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    client_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "demo-client");
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &issuer).map_err(err)?;
    Ok(DemoPki {
        ca: ca.der().to_vec(),
        server: (
            vec![leaf.der().to_vec(), ca.der().to_vec()],
            leaf_key.serialize_der(),
        ),
        client: (
            vec![client.der().to_vec(), ca.der().to_vec()],
            client_key.serialize_der(),
        ),
    })
}

/// The demo's server (session cache and tickets on) and client (verifying the demo CA).
struct Setup {
    server: Arc<ServerConfig>,
    ca: Vec<u8>,
    /// One client memory shared by the three connections.
    sessions: Arc<ClientSessionStore>,
    metrics: Arc<Metrics>,
    /// The certificate the client presents, when the server asks for one.
    client_certificate: Option<Arc<reprise::CertifiedKey>>,
}

impl Setup {
    /// A client trusting the demo CA; `tickets` says whether it offers tickets.
    fn client(&self, tickets: bool) -> Result<ClientConfig, String> {
        let mut roots = RootStore::new();
        roots
            .add_der(&self.ca)
            .map_err(|e| format!("demo CA: {e:?}"))?;
        let mut client = ClientConfig::new(roots);
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        client.session_store = Some(self.sessions.clone());
        client.enable_tickets = tickets;
        client.client_certificate = self.client_certificate.clone();
        Ok(client)
    }
}

fn setup(client_auth: bool) -> Result<Setup, String> {
    let pki = demo_pki()?;
    let mut server = ServerConfig::new();
    let (chain, key) = pki.server;
    server
        .add_certificate(chain, &key)
        .map_err(|e| format!("certificate: {e}"))?;
    let mut client_certificate = None;
    if client_auth {
        let mut roots = RootStore::new();
        roots
            .add_der(&pki.ca)
            .map_err(|e| format!("demo CA: {e:?}"))?;
        server.client_auth = Some(Arc::new(reprise::ClientAuth::required(roots)));
        let (chain, key) = pki.client;
        client_certificate = Some(Arc::new(
            reprise::CertifiedKey::new(chain, &key)
                .map_err(|e| format!("client certificate: {e}"))?,
        ));
    }
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    server.session_store = Some(Arc::new(SessionCache::new(1 << 20, server.session_timeout)));
    let policy = RotationPolicy {
        rotate_every: 3600,
        decrypt_window: 2 * u64::from(server.ticket_lifetime),
    };
    let ring = TicketKeyRing::new(policy, reprise::unix_time(), &SystemRandom)
        .map_err(|e| format!("ticket keys: {e}"))?;
    server.tickets = Some(Arc::new(TicketKeys::new(ring)));
    let metrics = Arc::new(Metrics::new());
    server.metrics = Some(metrics.clone());
    if let Some(log) = crate::keylog::from_args(None)? {
        server.key_log = Some(log);
    }
    Ok(Setup {
        server: Arc::new(server),
        ca: pki.ca,
        sessions: Arc::new(ClientSessionStore::new(8)),
        metrics,
        client_certificate,
    })
}

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Feeds `data` to a connection; returns the application plaintext it held.
fn feed<S: Handshake>(
    conn: &mut Connection<S>,
    who: &str,
    data: &[u8],
    now: u64,
) -> Result<Vec<u8>, String> {
    let mut buf = data.to_vec();
    let mut inbound = Inbound::new(&mut buf);
    let mut plain = Vec::new();
    while let Some(data) = conn
        .next_plaintext(&mut inbound, now)
        .map_err(|e| format!("{who}: {e}"))?
    {
        plain.extend_from_slice(data);
    }
    Ok(plain)
}

/// Everything queued for the wire.
fn take_output<S: Handshake>(conn: &mut Connection<S>) -> Vec<u8> {
    let out = conn.pending_output().to_vec();
    conn.consume_output(out.len());
    out
}

/// Builds the ladder while the simulation runs: each flight's bytes are parsed as sent.
struct Recorder {
    ladder: Ladder,
    to_server: WireParser,
    to_client: WireParser,
}

impl Recorder {
    fn flight(&mut self, dir: Dir, sent: f64, half_rtt: f64, bytes: &[u8], note: Option<String>) {
        let parser = match dir {
            Dir::ToServer => &mut self.to_server,
            Dir::ToClient => &mut self.to_client,
        };
        let records = parser.feed(bytes);
        self.ladder.flights.push(Flight {
            dir,
            sent_ms: Some(sent),
            received_ms: Some(sent + half_rtt),
            records,
            note,
        });
    }
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// What one simulated connection showed.
struct Simulated {
    ladder: Ladder,
    resumed: Option<ResumptionKind>,
    /// Every byte the client sent, in order.
    client_bytes: Vec<u8>,
}

/// One connection over the simulated link, from the ClientHello to the first byte of the
/// HTTP answer.
fn simulate(
    title: &str,
    server_config: &Arc<ServerConfig>,
    client_config: ClientConfig,
    rtt_ms: f64,
) -> Result<Simulated, String> {
    let half = rtt_ms / 2.0;
    let now = reprise::unix_time();
    let mut rec = Recorder {
        ladder: Ladder {
            title: title.to_string(),
            ..Ladder::default()
        },
        to_server: WireParser::new(),
        to_client: WireParser::new(),
    };
    // The client starts at 0; building it queues its ClientHello.
    let cpu = Instant::now();
    let mut client =
        ClientConnection::new(Arc::new(client_config), "localhost").map_err(|e| e.to_string())?;
    let mut client_clock = elapsed_ms(cpu);
    let mut server = ServerConnection::new(server_config.clone());
    let mut server_clock = 0.0f64;
    let mut responder = PageResponder::default();
    let mut get_sent = false;

    // (arrival time, direction, bytes): flights on the wire. The protocol alternates, but
    // the queue is kept in arrival order anyway.
    let mut wire: Vec<(f64, Dir, Vec<u8>)> = Vec::new();
    let mut client_bytes = Vec::new();
    let out = take_output(&mut client);
    client_bytes.extend_from_slice(&out);
    rec.flight(Dir::ToServer, client_clock, half, &out, None);
    wire.push((client_clock + half, Dir::ToServer, out));

    for _ in 0..32 {
        if wire.is_empty() {
            return Err("the connection stalled before any application data arrived".into());
        }
        let next = wire
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
            .map(|(i, _)| i)
            .unwrap_or(0);
        let (arrival, dir, bytes) = wire.remove(next);
        match dir {
            Dir::ToServer => {
                let start = arrival.max(server_clock);
                let cpu = Instant::now();
                let plain = feed(&mut server, "server", &bytes, now);
                let mut note = None;
                if let Ok(plain) = &plain {
                    if !plain.is_empty() {
                        let mut answer = Vec::new();
                        responder.feed(plain, &mut answer);
                        if !answer.is_empty() {
                            server
                                .send(&answer)
                                .map_err(|e| format!("server send: {e}"))?;
                            note = Some(first_line(&answer));
                        }
                    }
                }
                let out = take_output(&mut server);
                server_clock = start + elapsed_ms(cpu);
                if !out.is_empty() {
                    rec.flight(Dir::ToClient, server_clock, half, &out, note);
                    wire.push((server_clock + half, Dir::ToClient, out));
                }
                plain?;
            }
            Dir::ToClient => {
                let start = arrival.max(client_clock);
                let cpu = Instant::now();
                let plain = feed(&mut client, "client", &bytes, now)?;
                if !plain.is_empty() {
                    rec.ladder.ttfb_ms = Some(start + elapsed_ms(cpu));
                    break;
                }
                let mut note = None;
                if client.is_open() && !get_sent {
                    client
                        .send(REQUEST)
                        .map_err(|e| format!("client send: {e}"))?;
                    get_sent = true;
                    note = Some(first_line(REQUEST));
                }
                let out = take_output(&mut client);
                client_clock = start + elapsed_ms(cpu);
                client_bytes.extend_from_slice(&out);
                if !out.is_empty() {
                    rec.flight(Dir::ToServer, client_clock, half, &out, note);
                    wire.push((client_clock + half, Dir::ToServer, out));
                }
            }
        }
    }
    if rec.ladder.ttfb_ms.is_none() {
        return Err(format!("{title}: no application data within 32 flights"));
    }
    let neg = client.negotiated();
    rec.ladder.notes.push(format!(
        "negotiated: {}, group {}, extended master secret {}",
        neg.suite.map(|s| s.name).unwrap_or("?"),
        neg.group.map(|g| g.name()).unwrap_or("none (resumed)"),
        if neg.extended_master_secret {
            "yes"
        } else {
            "no"
        }
    ));
    let resumed = neg.resumed;
    rec.ladder
        .notes
        .push(match (resumed, client.resumption_failure()) {
            (Some(kind), _) => format!("resumed: yes ({kind})"),
            (None, Some(why)) => format!("resumed: no ({why})"),
            (None, None) => "resumed: no (nothing offered)".to_string(),
        });
    if let Some(identity) = server.peer_identity() {
        let source = if server.peer_certificates().is_some() {
            "its certificate, verified in this handshake"
        } else {
            "the resumed session"
        };
        rec.ladder.notes.push(format!(
            "the server knows the client as {} (from {source})",
            identity.subject()
        ));
    }
    Ok(Simulated {
        ladder: rec.ladder,
        resumed,
        client_bytes,
    })
}

/// The sizes of the client's Certificate and CertificateVerify messages (header included) in
/// what it sent before its ChangeCipherSpec.
fn client_auth_bytes(mut sent: &[u8]) -> (usize, usize) {
    let mut handshake = Vec::new();
    while sent.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([sent[3], sent[4]]));
        let Some(body) = sent.get(5..5 + len) else {
            break;
        };
        match sent[0] {
            22 => handshake.extend_from_slice(body),
            20 => break,
            _ => {}
        }
        sent = &sent[5 + len..];
    }
    let (mut certificate, mut verify) = (0, 0);
    let mut at = 0;
    while at + 4 <= handshake.len() {
        let len = usize::from(handshake[at + 1]) << 16
            | usize::from(handshake[at + 2]) << 8
            | usize::from(handshake[at + 3]);
        match handshake[at] {
            11 => certificate = 4 + len,
            15 => verify = 4 + len,
            _ => {}
        }
        at += 4 + len;
    }
    (certificate, verify)
}

fn first_line(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    format!(
        "ApplicationData: {}",
        text.lines().next().unwrap_or("").trim()
    )
}

/// Runs the three handshakes (mutual ones with `client_auth`); returns their ladders.
pub fn run_all(rtt_ms: f64, client_auth: bool) -> Result<Vec<Ladder>, String> {
    let setup = setup(client_auth)?;
    // The first client accepts tickets, so the full handshake leaves it with both the
    // server's session ID and a ticket; the second offers only the ID, the third the ticket.
    let runs = [
        ("full handshake", setup.client(true)?, None),
        (
            "resumption by session ID",
            setup.client(false)?,
            Some(ResumptionKind::SessionId),
        ),
        (
            "resumption by ticket",
            setup.client(true)?,
            Some(ResumptionKind::Ticket),
        ),
    ];
    let mut ladders = Vec::new();
    let mut skipped = (0, 0);
    for (title, client, expected) in runs {
        let title = if client_auth {
            format!("mutual {title}")
        } else {
            title.to_string()
        };
        let Simulated {
            mut ladder,
            resumed,
            client_bytes,
        } = simulate(&title, &setup.server, client, rtt_ms)?;
        if resumed != expected {
            return Err(format!(
                "{title}: expected resumption {expected:?}, got {resumed:?}\n{}",
                ladder::render_text(&ladder)
            ));
        }
        if client_auth {
            if resumed.is_none() {
                skipped = client_auth_bytes(&client_bytes);
                ladder.notes.push(format!(
                    "client authentication: Certificate {} bytes, CertificateVerify {} bytes, and the server's chain check and signature verification",
                    skipped.0, skipped.1
                ));
            } else {
                ladder.notes.push(format!(
                    "skipped by resuming: the client's Certificate ({} bytes) and CertificateVerify ({} bytes), and their verification",
                    skipped.0, skipped.1
                ));
            }
        }
        ladders.push(ladder);
    }
    let m = &setup.metrics;
    if let Some(last) = ladders.last_mut() {
        last.notes.push(format!(
            "server metrics after the three: full {}, session ID {}, ticket {}",
            m.full_handshakes(),
            m.resumed_handshakes(ResumptionKind::SessionId),
            m.resumed_handshakes(ResumptionKind::Ticket)
        ));
    }
    Ok(ladders)
}

/// Runs `reprise demo`.
pub fn run(args: DemoArgs) -> Result<(), String> {
    let rtt = parse_millis(&args.rtt)?;
    let ladders = run_all(rtt, args.client_auth)?;
    println!(
        "Reprise demo: one client and one server in this process over a simulated link, \
         RTT {rtt} ms.\nTimes are on the simulated clock (link delays + the real CPU time of \
         each step); the TCP handshake is not counted.\n"
    );
    for l in &ladders {
        println!("{}", ladder::render_text(l));
    }
    println!("summary (RTT {rtt} ms):");
    println!(
        "  {:<32} {:>11} {:>22} {:>14}",
        "handshake", "TLS RTTs", "time to first byte", "vs full"
    );
    let full = ladders.first().and_then(|l| l.ttfb_ms).unwrap_or(0.0);
    for l in &ladders {
        let t = l.ttfb_ms.unwrap_or(0.0);
        println!(
            "  {:<32} {:>11} {:>19.2} ms {:>11.2} ms",
            l.title,
            l.round_trips(),
            t,
            t - full
        );
    }
    if let Some(path) = &args.svg {
        let svg = ladder::render_svg(
            &ladders,
            &format!("reprise demo — simulated RTT {rtt} ms; times include real CPU time"),
        );
        std::fs::write(path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("\nSVG written to {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(l: &Ladder, dir: Dir) -> Vec<String> {
        l.messages()
            .into_iter()
            .filter(|(d, _)| *d == dir)
            .map(|(_, m)| m)
            .collect()
    }

    #[test]
    fn three_real_handshakes_make_the_expected_ladders() {
        let ladders = run_all(100.0, false).unwrap();
        let rounds: Vec<usize> = ladders.iter().map(Ladder::round_trips).collect();
        assert_eq!(rounds, [2, 1, 1]);
        let full = &ladders[0];
        assert_eq!(
            names(full, Dir::ToServer),
            [
                "ClientHello",
                "ClientKeyExchange",
                "ChangeCipherSpec",
                "Finished (encrypted)",
                "ApplicationData"
            ]
        );
        assert_eq!(
            names(full, Dir::ToClient),
            [
                "ServerHello",
                "Certificate",
                "ServerKeyExchange",
                "ServerHelloDone",
                "NewSessionTicket",
                "ChangeCipherSpec",
                "Finished (encrypted)",
                "ApplicationData"
            ]
        );
        for resumed in &ladders[1..] {
            let server = names(resumed, Dir::ToClient);
            assert_eq!(server[0], "ServerHello");
            assert!(!server.iter().any(|m| m == "Certificate"), "{server:?}");
            assert_eq!(
                names(resumed, Dir::ToServer),
                [
                    "ClientHello",
                    "ChangeCipherSpec",
                    "Finished (encrypted)",
                    "ApplicationData"
                ]
            );
        }
        let t: Vec<f64> = ladders.iter().map(|l| l.ttfb_ms.unwrap()).collect();
        // Link delays alone: 3 RTT for a full handshake plus the request, 2 for a resumption;
        // CPU time comes on top of that.
        assert!(t[0] >= 300.0 && t[1] >= 200.0 && t[2] >= 200.0, "{t:?}");
        for resumed in &t[1..] {
            let saved = t[0] - resumed;
            assert!((50.0..200.0).contains(&saved), "{t:?}");
        }
        assert!(ladders[2]
            .notes
            .iter()
            .any(|n| n == "resumed: yes (ticket)"));
        assert!(ladders[1]
            .notes
            .iter()
            .any(|n| n == "resumed: yes (session-id)"));
    }

    #[test]
    fn mutual_ladders_show_what_resuming_skips() {
        let ladders = run_all(100.0, true).unwrap();
        let full = &ladders[0];
        assert_eq!(full.title, "mutual full handshake");
        assert_eq!(
            names(full, Dir::ToServer),
            [
                "ClientHello",
                "Certificate",
                "ClientKeyExchange",
                "CertificateVerify",
                "ChangeCipherSpec",
                "Finished (encrypted)",
                "ApplicationData"
            ]
        );
        assert!(names(full, Dir::ToClient).contains(&"CertificateRequest".to_string()));
        let skipped = full
            .notes
            .iter()
            .find(|n| n.starts_with("client authentication: Certificate "))
            .expect("the sizes of the client's messages");
        for resumed in &ladders[1..] {
            let client = names(resumed, Dir::ToServer);
            assert!(
                !client.iter().any(|m| m.starts_with("Certificate")),
                "{client:?}"
            );
            assert!(
                resumed
                    .notes
                    .iter()
                    .any(|n| n.starts_with("skipped by resuming: the client's Certificate (")),
                "{:?}",
                resumed.notes
            );
            assert!(resumed
                .notes
                .iter()
                .any(|n| n
                    == "the server knows the client as CN=demo-client (from the resumed session)"));
        }
        // The full handshake's note names non-zero sizes.
        assert!(!skipped.contains(" 0 bytes"), "{skipped}");
    }

    #[test]
    fn millis_parse() {
        assert_eq!(parse_millis("100ms"), Ok(100.0));
        assert_eq!(parse_millis("0.25s"), Ok(250.0));
        assert_eq!(parse_millis("30"), Ok(30.0));
        assert!(parse_millis("3h").is_err());
        assert!(parse_millis("-1").is_err());
    }
}
