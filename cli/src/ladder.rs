//! Message ladders: which side sent which records, in which flight, with sizes and times,
//! derived from the bytes that crossed the wire (record headers, RFC 5246 §6.2.1, and
//! handshake headers, §7.4). Shared by `reprise demo` (simulated link) and `reprise trace`
//! (a real TCP connection); rendered as text or SVG.

use std::fmt::Write as _;

use reprise::wire::{
    AlertLevel, ContentType, HandshakeHeader, RecordHeader, HANDSHAKE_HEADER_LEN, RECORD_HEADER_LEN,
};
use reprise::AlertDescription;

/// The direction of a flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
}

/// What one record carried.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The record's content type.
    pub content_type: ContentType,
    /// Bytes on the wire, header included.
    pub bytes: usize,
    /// What it held: handshake message names, `ChangeCipherSpec`, an alert, `ApplicationData`.
    pub contents: Vec<String>,
    /// When the record was complete on the observing side, if known (trace: the client's
    /// write or read time), in milliseconds from the start.
    pub at_ms: Option<f64>,
}

/// Records one side sent back to back, before it waited for the other side.
#[derive(Clone, Debug, PartialEq)]
pub struct Flight {
    /// Who sent it.
    pub dir: Dir,
    /// When the sender put it on the wire (ms), if known.
    pub sent_ms: Option<f64>,
    /// When it reached the receiver (ms), if known.
    pub received_ms: Option<f64>,
    /// The records, in order.
    pub records: Vec<Record>,
    /// A remark on the application data in it (e.g. the request line), if any.
    pub note: Option<String>,
}

impl Flight {
    fn has(&self, ct: ContentType) -> bool {
        self.records.iter().any(|r| r.content_type == ct)
    }
}

/// One connection's ladder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ladder {
    /// A title (e.g. "full handshake").
    pub title: String,
    /// The flights, in the order they were sent.
    pub flights: Vec<Flight>,
    /// Time to the first application byte the client received (ms), if any.
    pub ttfb_ms: Option<f64>,
    /// Lines printed under the ladder (negotiated parameters, the resumption outcome).
    pub notes: Vec<String>,
}

impl Ladder {
    /// TLS round trips: how many server flights the client had to wait for before it could
    /// send application data (or, when it sent none, before the handshake was over).
    pub fn round_trips(&self) -> usize {
        let first_data = self
            .flights
            .iter()
            .position(|f| f.dir == Dir::ToServer && f.has(ContentType::ApplicationData));
        let upto = first_data.unwrap_or(self.flights.len());
        self.flights[..upto]
            .iter()
            .filter(|f| {
                f.dir == Dir::ToClient
                    && (f.has(ContentType::Handshake) || f.has(ContentType::ChangeCipherSpec))
            })
            .count()
    }

    /// Bytes each way before the first application data (client→server, server→client).
    pub fn handshake_bytes(&self) -> (usize, usize) {
        let mut out = (0, 0);
        for f in &self.flights {
            for r in &f.records {
                if r.content_type == ContentType::ApplicationData {
                    continue;
                }
                match f.dir {
                    Dir::ToServer => out.0 += r.bytes,
                    Dir::ToClient => out.1 += r.bytes,
                }
            }
        }
        out
    }

    /// Every message name in order, with its direction.
    #[cfg(test)]
    pub fn messages(&self) -> Vec<(Dir, String)> {
        self.flights
            .iter()
            .flat_map(|f| {
                f.records
                    .iter()
                    .flat_map(move |r| r.contents.iter().map(move |c| (f.dir, c.clone())))
            })
            .collect()
    }
}

/// Splits one direction of a TLS byte stream into records and names what each holds.
/// Handshake messages are reassembled across records; after that direction's
/// ChangeCipherSpec its records are encrypted, so the first handshake message is shown as
/// `Finished (encrypted)` (RFC 5246 §7.4.9: Finished is the first protected message).
#[derive(Debug, Default)]
pub struct WireParser {
    pending: Vec<u8>,
    handshake: Vec<u8>,
    encrypted: bool,
    encrypted_handshakes: usize,
}

/// A human name for a handshake message type.
fn handshake_name(typ: u8) -> String {
    use reprise::wire::HandshakeType as T;
    match T::from_u8(typ) {
        T::Unknown(v) => format!("Handshake({v})"),
        t => format!("{t:?}"),
    }
}

impl WireParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the records they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Record> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(header) = RecordHeader::parse(&self.pending[start..]) {
            let total = RECORD_HEADER_LEN + usize::from(header.length);
            if self.pending.len() - start < total {
                break;
            }
            let body = self.pending[start + RECORD_HEADER_LEN..start + total].to_vec();
            out.push(self.describe(header.content_type, &body, total));
            start += total;
        }
        self.pending.drain(..start);
        out
    }

    fn describe(&mut self, content_type: ContentType, body: &[u8], bytes: usize) -> Record {
        let contents = match content_type {
            ContentType::ChangeCipherSpec => {
                self.encrypted = true;
                vec!["ChangeCipherSpec".to_string()]
            }
            ContentType::Handshake if self.encrypted => {
                self.encrypted_handshakes += 1;
                if self.encrypted_handshakes == 1 {
                    vec!["Finished (encrypted)".to_string()]
                } else {
                    vec!["Handshake (encrypted)".to_string()]
                }
            }
            ContentType::Handshake => {
                self.handshake.extend_from_slice(body);
                let mut names = Vec::new();
                while let Some(h) = HandshakeHeader::parse(&self.handshake) {
                    let len = HANDSHAKE_HEADER_LEN + h.length as usize;
                    if self.handshake.len() < len {
                        break;
                    }
                    names.push(handshake_name(h.typ.to_u8()));
                    self.handshake.drain(..len);
                }
                if names.is_empty() {
                    let what = self
                        .handshake
                        .first()
                        .map(|t| handshake_name(*t))
                        .unwrap_or_else(|| "handshake".into());
                    names.push(format!("part of {what}"));
                }
                names
            }
            ContentType::Alert if self.encrypted => vec!["Alert (encrypted)".to_string()],
            ContentType::Alert => match body {
                [level, desc] => {
                    let level = match AlertLevel::from_u8(*level) {
                        Some(AlertLevel::Warning) => "warning",
                        Some(AlertLevel::Fatal) => "fatal",
                        None => "?",
                    };
                    vec![format!(
                        "Alert {level} {}",
                        AlertDescription::from_u8(*desc)
                    )]
                }
                _ => vec!["Alert (malformed)".to_string()],
            },
            ContentType::ApplicationData => vec!["ApplicationData".to_string()],
            ContentType::Unknown(t) => vec![format!("record type {t}")],
        };
        Record {
            content_type,
            bytes,
            contents,
            at_ms: None,
        }
    }
}

fn ms(t: Option<f64>) -> String {
    match t {
        Some(t) => format!("{t:9.2} ms"),
        None => " ".repeat(12),
    }
}

/// Width of the arrow column in the text ladder.
const ARROW: usize = 76;

fn arrow(dir: Dir, label: &str) -> String {
    let len = label.chars().count();
    let fill = ARROW.saturating_sub(len + 3).max(2);
    match dir {
        Dir::ToServer => format!("{label} {}►", "─".repeat(fill)),
        Dir::ToClient => format!("◄{} {label}", "─".repeat(fill)),
    }
}

/// The ladder as text: one line per record, client time on the left, server time on the
/// right, then the round trips and the time to the first application byte.
pub fn render_text(ladder: &Ladder) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "── {} ──", ladder.title);
    let _ = writeln!(
        out,
        "{:>12}  {:<w$}  {:<12}  flight",
        "client",
        "",
        "server",
        w = ARROW
    );
    for (i, f) in ladder.flights.iter().enumerate() {
        let (client_t, server_t) = match f.dir {
            Dir::ToServer => (f.sent_ms, f.received_ms),
            Dir::ToClient => (f.received_ms, f.sent_ms),
        };
        for (j, r) in f.records.iter().enumerate() {
            let mut label = format!("{} [{} B]", r.contents.join(", "), r.bytes);
            if r.content_type == ContentType::ApplicationData {
                if let Some(note) = &f.note {
                    label = format!("{} [{} B]", note, r.bytes);
                }
            }
            let left = match (r.at_ms, j) {
                (Some(t), _) => ms(Some(t)),
                (None, 0) => ms(client_t),
                (None, _) => ms(None),
            };
            let right = if j == 0 { ms(server_t) } else { ms(None) };
            let flight = if j == 0 {
                format!("{}", i + 1)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "{left}  {:<w$}  {right}  {flight}",
                arrow(f.dir, &label),
                w = ARROW
            );
        }
    }
    let (up, down) = ladder.handshake_bytes();
    let _ = writeln!(
        out,
        "TLS round trips: {}    handshake bytes: {up} B client→server, {down} B server→client",
        ladder.round_trips()
    );
    match ladder.ttfb_ms {
        Some(t) => {
            let _ = writeln!(out, "time to first application byte: {t:.2} ms");
        }
        None => {
            let _ = writeln!(out, "time to first application byte: (no application data)");
        }
    }
    for n in &ladder.notes {
        let _ = writeln!(out, "{n}");
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The ladders side by side as an SVG picture: time runs down, each flight an arrow from
/// sender to receiver (sloped by the link delay), labelled with its records.
pub fn render_svg(ladders: &[Ladder], subtitle: &str) -> String {
    const COL: f64 = 470.0;
    const TOP: f64 = 90.0;
    const HEIGHT: f64 = 640.0;
    let end = |l: &Ladder| {
        let last = l
            .flights
            .iter()
            .flat_map(|f| [f.sent_ms, f.received_ms])
            .flatten()
            .fold(0.0f64, f64::max);
        l.ttfb_ms.unwrap_or(0.0).max(last)
    };
    let max_t = ladders.iter().map(end).fold(1.0f64, f64::max);
    let scale = HEIGHT / max_t;
    let width = COL * ladders.len().max(1) as f64;
    let total_h = TOP + HEIGHT + 90.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_h}" viewBox="0 0 {width} {total_h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r##"<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>"##
    );
    let _ = writeln!(
        s,
        r##"<rect width="100%" height="100%" fill="white"/><text x="10" y="18" font-size="12" fill="#555">{}</text>"##,
        xml_escape(subtitle)
    );
    for (k, l) in ladders.iter().enumerate() {
        let x0 = COL * k as f64;
        let (cx, sx) = (x0 + 70.0, x0 + COL - 70.0);
        let y = |t: f64| TOP + t * scale;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="42" font-size="14" font-weight="bold" text-anchor="middle">{}</text>"#,
            x0 + COL / 2.0,
            xml_escape(&l.title)
        );
        for (x, name) in [(cx, "client"), (sx, "server")] {
            let _ = writeln!(
                s,
                r##"<text x="{x}" y="{}" text-anchor="middle" font-weight="bold">{name}</text><line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#999" stroke-width="2"/>"##,
                TOP - 12.0,
                TOP - 6.0,
                TOP + HEIGHT + 4.0
            );
        }
        let mut last_label_y = f64::NEG_INFINITY;
        for f in &l.flights {
            let (from_t, to_t) = match (f.sent_ms, f.received_ms) {
                (Some(a), Some(b)) => (a, b),
                (Some(a), None) | (None, Some(a)) => (a, a),
                (None, None) => continue,
            };
            let (x1, x2) = match f.dir {
                Dir::ToServer => (cx, sx),
                Dir::ToClient => (sx, cx),
            };
            let colour = if f.has(ContentType::ApplicationData) {
                "#1a7f37"
            } else {
                "#0b5cad"
            };
            let _ = writeln!(
                s,
                r#"<line x1="{x1}" y1="{:.1}" x2="{x2}" y2="{:.1}" stroke="{colour}" stroke-width="1.6" marker-end="url(#arr)"/>"#,
                y(from_t),
                y(to_t)
            );
            let mid_y = (y(from_t) + y(to_t)) / 2.0;
            let lines: Vec<String> = f
                .records
                .iter()
                .map(|r| {
                    let what = match (&f.note, r.content_type) {
                        (Some(n), ContentType::ApplicationData) => n.clone(),
                        _ => r.contents.join(", "),
                    };
                    format!("{what} ({} B)", r.bytes)
                })
                .collect();
            let first_y = mid_y - 6.0 - 12.0 * (lines.len() as f64 - 1.0);
            for (i, line) in lines.iter().enumerate() {
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{:.1}" text-anchor="middle" fill="{colour}">{}</text>"#,
                    (cx + sx) / 2.0,
                    first_y + 12.0 * i as f64,
                    xml_escape(line)
                );
            }
            // The client's time of each flight, unless it would overprint the previous one.
            let client_t = if f.dir == Dir::ToServer { from_t } else { to_t };
            if (y(client_t) - last_label_y).abs() >= 12.0 {
                last_label_y = y(client_t);
                let _ = writeln!(
                    s,
                    r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#555">{client_t:.1} ms</text>"##,
                    cx - 6.0,
                    y(client_t) + 4.0
                );
            }
        }
        if let Some(t) = l.ttfb_ms {
            let _ = writeln!(
                s,
                r##"<line x1="{}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="#1a7f37" stroke-dasharray="4 3"/><text x="{}" y="{:.1}" fill="#1a7f37">first byte</text>"##,
                cx - 60.0,
                y(t),
                cx,
                y(t),
                cx + 6.0,
                y(t) + 16.0
            );
        }
        let summary = format!(
            "{} TLS round trip{}; first application byte at {}",
            l.round_trips(),
            if l.round_trips() == 1 { "" } else { "s" },
            l.ttfb_ms
                .map(|t| format!("{t:.1} ms"))
                .unwrap_or_else(|| "—".into())
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="12">{}</text>"#,
            x0 + COL / 2.0,
            TOP + HEIGHT + 30.0,
            xml_escape(&summary)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ct: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ct, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn hs(typ: u8, len: usize) -> Vec<u8> {
        let mut m = vec![typ, 0, (len >> 8) as u8, len as u8];
        m.extend(std::iter::repeat_n(0u8, len));
        m
    }

    #[test]
    fn records_are_named_across_splits_and_encryption() {
        let mut p = WireParser::new();
        // ServerHello + Certificate in one record, ServerHelloDone split over two.
        let mut body = hs(2, 70);
        body.extend(hs(11, 300));
        let mut wire = record(22, &body);
        let done = hs(14, 0);
        wire.extend(record(22, &done[..2]));
        wire.extend(record(22, &done[2..]));
        wire.extend(record(20, &[1]));
        wire.extend(record(22, &[0u8; 40]));
        wire.extend(record(23, &[0u8; 30]));
        wire.extend(record(21, &[0u8; 26]));
        // Fed one byte at a time: framing must not depend on read boundaries.
        let mut got = Vec::new();
        for b in &wire {
            got.extend(p.feed(std::slice::from_ref(b)));
        }
        let names: Vec<String> = got.iter().map(|r| r.contents.join("+")).collect();
        assert_eq!(
            names,
            [
                "ServerHello+Certificate",
                "part of ServerHelloDone",
                "ServerHelloDone",
                "ChangeCipherSpec",
                "Finished (encrypted)",
                "ApplicationData",
                "Alert (encrypted)"
            ]
        );
        assert_eq!(got[0].bytes, 5 + 74 + 304);
        assert!(p.pending.is_empty());
    }

    #[test]
    fn plaintext_alerts_are_decoded() {
        let mut p = WireParser::new();
        let got = p.feed(&record(21, &[2, 40]));
        assert_eq!(got[0].contents, ["Alert fatal handshake_failure"]);
    }

    fn flight(dir: Dir, cts: &[u8]) -> Flight {
        Flight {
            dir,
            sent_ms: Some(0.0),
            received_ms: Some(1.0),
            records: cts
                .iter()
                .map(|ct| Record {
                    content_type: ContentType::from_u8(*ct),
                    bytes: 10,
                    contents: vec![],
                    at_ms: None,
                })
                .collect(),
            note: None,
        }
    }

    #[test]
    fn round_trips_count_server_flights_before_client_data() {
        let full = Ladder {
            flights: vec![
                flight(Dir::ToServer, &[22]),
                flight(Dir::ToClient, &[22]),
                flight(Dir::ToServer, &[22, 20, 22]),
                flight(Dir::ToClient, &[22, 20, 22]),
                flight(Dir::ToServer, &[23]),
                flight(Dir::ToClient, &[23]),
            ],
            ..Ladder::default()
        };
        assert_eq!(full.round_trips(), 2);
        let resumed = Ladder {
            flights: vec![
                flight(Dir::ToServer, &[22]),
                flight(Dir::ToClient, &[22, 20, 22]),
                flight(Dir::ToServer, &[20, 22, 23]),
                flight(Dir::ToClient, &[23]),
            ],
            ..Ladder::default()
        };
        assert_eq!(resumed.round_trips(), 1);
        assert!(render_svg(&[full, resumed], "x").contains("<svg"));
    }
}
