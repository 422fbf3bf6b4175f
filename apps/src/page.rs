//! The built-in page responder `reprise serve` runs without a backend: every HTTP/1.x
//! request, once its head has ended (and its declared body has arrived), gets a small 200
//! page saying what the handshake negotiated.

use reprise_serve::app::{Flow, Handler, HandlerFactory, Opened};

/// Largest request head (request line and header fields) accepted; a longer one is answered
/// with `431 Request Header Fields Too Large` and the connection is closed.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Parses complete requests out of the bytes it is fed and appends one response per request.
/// Lines may end in CRLF or in a bare LF (RFC 9112 §2.2). A request that can never be
/// answered gets its 4xx/5xx status and the connection is closed after it.
pub struct PageResponder {
    buf: Vec<u8>,
    /// How far `buf` has been searched for the end of a head without finding it.
    scanned: usize,
    body_remaining: usize,
    /// Text placed in every page.
    pub page_note: String,
    /// What the handshake settled on, written into every page after `page_note`. Kept as
    /// plain facts and formatted only when a page is written: most connections of a
    /// handshake benchmark never ask for one.
    handshake: Option<HandshakeFacts>,
    /// Answers not yet given to the connection.
    pending: Vec<u8>,
    /// The last answer closes the connection: nothing after it is read.
    closing: bool,
}
/// The negotiated parameters a page shows.
#[derive(Clone, Copy)]
struct HandshakeFacts {
    suite: &'static str,
    group: Option<reprise::NamedGroup>,
    extended_master_secret: bool,
    resumed: Option<reprise::ResumptionKind>,
}

impl std::fmt::Display for HandshakeFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "suite {}, group {}, ems {}, resumption ",
            self.suite,
            self.group.map_or("none", |g| g.name()),
            if self.extended_master_secret {
                "yes"
            } else {
                "no"
            },
        )?;
        match self.resumed {
            Some(kind) => write!(f, "{kind}"),
            None => f.write_str("no"),
        }
    }
}

/// Outcome of feeding bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Feed {
    /// Keep the connection open.
    KeepAlive,
    /// Close after the responses are sent.
    Close,
}

impl Default for PageResponder {
    fn default() -> Self {
        Self::new(String::new())
    }
}

/// Why a request cannot be answered with the page: the status it gets before the close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not an HTTP/1.x request, or a malformed header field (400).
    BadRequest,
    /// The request head is over [`MAX_HEADER_BYTES`] (431).
    HeadTooLarge,
    /// A body framed by Transfer-Encoding, which this responder does not decode (501).
    TransferEncoding,
}

impl Refusal {
    fn status(self) -> &'static str {
        match self {
            Refusal::BadRequest => "400 Bad Request",
            Refusal::HeadTooLarge => "431 Request Header Fields Too Large",
            Refusal::TransferEncoding => "501 Not Implemented",
        }
    }
}

/// One request head, parsed.
struct Request {
    close: bool,
    content_length: usize,
    path_closes: bool,
}

impl PageResponder {
    /// A responder for one connection.
    pub fn new(page_note: String) -> Self {
        Self {
            buf: Vec::new(),
            scanned: 0,
            body_remaining: 0,
            page_note,
            handshake: None,
            pending: Vec::new(),
            closing: false,
        }
    }

    /// Feeds plaintext; appends responses to `out`. `Feed::Close` once the connection should
    /// close after what was written (the client asked, or its request was refused).
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> Feed {
        if self.closing {
            return Feed::Close;
        }
        let feed = self.parse(data, out);
        self.closing = feed == Feed::Close;
        feed
    }

    fn parse(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Feed {
        let skip = self.body_remaining.min(data.len());
        self.body_remaining -= skip;
        data = &data[skip..];
        self.buf.extend_from_slice(data);
        loop {
            // RFC 9112 §2.2: empty lines before a request line are ignored.
            let blank = self
                .buf
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            if blank > 0 {
                self.buf.drain(..blank);
                self.scanned = 0;
            }
            let Some(end) = head_end(&self.buf, self.scanned) else {
                if self.buf.len() > MAX_HEADER_BYTES {
                    return self.refuse(Refusal::HeadTooLarge, out);
                }
                // Resume the search where a terminator could still begin.
                self.scanned = self.buf.len().saturating_sub(2);
                return Feed::KeepAlive;
            };
            if end > MAX_HEADER_BYTES {
                return self.refuse(Refusal::HeadTooLarge, out);
            }
            let request = match parse_head(&self.buf[..end]) {
                Ok(r) => r,
                Err(refusal) => return self.refuse(refusal, out),
            };
            // `/close` (any query) always closes after its answer: a browser test uses it to
            // make the next load open a new connection (and so resume a session).
            let close = request.close || request.path_closes;
            self.write_page(close, out);
            self.buf.drain(..end);
            self.scanned = 0;
            let in_buf = request.content_length.min(self.buf.len());
            self.buf.drain(..in_buf);
            self.body_remaining = request.content_length - in_buf;
            if close {
                return Feed::Close;
            }
        }
    }

    fn write_page(&self, close: bool, out: &mut Vec<u8>) {
        let facts = self.handshake.map(|h| h.to_string()).unwrap_or_default();
        let gap = if self.page_note.is_empty() || facts.is_empty() {
            ""
        } else {
            " "
        };
        let body = format!(
            "<!doctype html>\n<html><head><title>reprise</title></head><body><h1>reprise</h1><p>TLS 1.2 served by reprise. {}{gap}{facts}</p></body></html>\n",
            self.page_note
        );
        let conn_header = if close { "close" } else { "keep-alive" };
        out.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: {conn_header}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(body.as_bytes());
    }

    /// Answers a request that cannot be served with its status, and closes.
    fn refuse(&mut self, refusal: Refusal, out: &mut Vec<u8>) -> Feed {
        let status = refusal.status();
        let body = format!("{status}\n");
        out.extend_from_slice(
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        self.buf = Vec::new();
        self.scanned = 0;
        Feed::Close
    }
}

/// The length of the request head at the front of `buf` (its empty line included), searching
/// from `from`: the head ends at the first empty line, each line ending in CRLF or a bare LF
/// (RFC 9112 §2.2).
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(lf) = buf.get(at..)?.iter().position(|&b| b == b'\n') {
        let next = at + lf + 1;
        match buf.get(next..) {
            Some([b'\n', ..]) => return Some(next + 1),
            Some([b'\r', b'\n', ..]) => return Some(next + 2),
            _ => at = next,
        }
    }
    None
}

/// Parses a request head (request line and header fields, RFC 9112 §3 and §5).
fn parse_head(head: &[u8]) -> Result<Request, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| Refusal::BadRequest)?;
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .take_while(|l| !l.is_empty());
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, path, version) = (parts.next(), parts.next(), parts.next());
    let version = version.unwrap_or_default();
    if method.is_none_or(|m| m.is_empty())
        || path.is_none_or(|p| p.is_empty())
        || !version.starts_with("HTTP/1.")
        || parts.next().is_some()
    {
        return Err(Refusal::BadRequest);
    }
    let mut request = Request {
        close: version == "HTTP/1.0",
        content_length: 0,
        path_closes: path.is_some_and(|p| p == "/close" || p.starts_with("/close?")),
    };
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(Refusal::BadRequest)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                request.close = true;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                request.close = false;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            request.content_length = value.parse().map_err(|_| Refusal::BadRequest)?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal::TransferEncoding);
        }
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(out: &[u8]) -> usize {
        String::from_utf8_lossy(out).matches("200 OK").count()
    }

    #[test]
    fn answers_each_pipelined_request() {
        let mut r = PageResponder::default();
        let mut out = Vec::new();
        assert_eq!(
            r.feed(
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\n",
                &mut out
            ),
            Feed::KeepAlive
        );
        assert_eq!(pages(&out), 1);
        assert_eq!(r.feed(b"\r\n", &mut out), Feed::KeepAlive);
        assert_eq!(pages(&out), 2);
    }

    #[test]
    fn bare_lf_line_ends_are_accepted() {
        // RFC 9112 §2.2: what `printf 'GET / HTTP/1.0\n\n' | openssl s_client` sends.
        let mut r = PageResponder::default();
        let mut out = Vec::new();
        assert_eq!(r.feed(b"GET / HTTP/1.0\n\n", &mut out), Feed::Close);
        assert_eq!(pages(&out), 1);
        // Mixed line ends, a header after a bare LF, and the end split over two feeds.
        let mut r = PageResponder::default();
        let mut out = Vec::new();
        assert_eq!(
            r.feed(b"GET / HTTP/1.1\nHost: a\r\nConnection: close\n", &mut out),
            Feed::KeepAlive
        );
        assert_eq!(pages(&out), 0);
        assert_eq!(r.feed(b"\r", &mut out), Feed::KeepAlive);
        assert_eq!(r.feed(b"\n", &mut out), Feed::Close);
        assert_eq!(pages(&out), 1);
    }

    #[test]
    fn a_request_trickled_byte_by_byte_is_answered_once() {
        let mut r = PageResponder::default();
        let mut out = Vec::new();
        for b in b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\n\n" {
            assert_eq!(r.feed(&[*b], &mut out), Feed::KeepAlive);
        }
        assert_eq!(pages(&out), 2);
    }

    #[test]
    fn bodies_are_skipped_and_close_is_honoured() {
        let mut r = PageResponder::default();
        let mut out = Vec::new();
        assert_eq!(
            r.feed(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", &mut out),
            Feed::KeepAlive
        );
        assert_eq!(r.feed(b"cdeGET / HTTP/1.0\r\n\r\n", &mut out), Feed::Close);
        assert_eq!(pages(&out), 2);
    }

    #[test]
    fn pages_show_what_the_handshake_negotiated() {
        let mut r = PageResponder::new("note".into());
        let mut out = Vec::new();
        r.feed(b"GET / HTTP/1.1\r\n\r\n", &mut out);
        assert!(String::from_utf8_lossy(&out).contains("by reprise. note</p>"));
        let mut negotiated = reprise::Negotiated::default();
        negotiated.suite =
            reprise::suites::suite_by_name("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
        negotiated.extended_master_secret = true;
        negotiated.resumed = Some(reprise::ResumptionKind::Ticket);
        let no_wake = || reprise_serve::app::Wake::new(|| {});
        r.on_open(&Opened::new(&negotiated, &no_wake));
        out.clear();
        r.feed(b"GET / HTTP/1.1\r\n\r\n", &mut out);
        let page = String::from_utf8_lossy(&out);
        assert!(
            page.contains(
                "note suite TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, group none, ems yes, resumption ticket</p>"
            ),
            "{page}"
        );
        let length: usize = page
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        assert_eq!(length, page.split("\r\n\r\n").nth(1).unwrap().len());
    }

    fn status_of(input: &[u8]) -> (Feed, String) {
        let mut r = PageResponder::default();
        let mut out = Vec::new();
        let feed = r.feed(input, &mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        (feed, text.lines().next().unwrap_or_default().to_string())
    }

    #[test]
    fn garbage_gets_400_and_a_close() {
        for garbage in [
            &b"\x16\x03\x01 nonsense\r\n\r\n"[..],
            b"GET\r\n\r\n",
            b"GET / HTTP/2\n\n",
            b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        ] {
            assert_eq!(
                status_of(garbage),
                (Feed::Close, "HTTP/1.1 400 Bad Request".to_string()),
                "{:?}",
                String::from_utf8_lossy(garbage)
            );
        }
        assert_eq!(
            status_of(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").1,
            "HTTP/1.1 501 Not Implemented"
        );
    }

    #[test]
    fn a_head_over_the_bound_gets_431_and_is_not_buffered() {
        // Without an end in sight: refused as soon as the bound is passed.
        let mut r = PageResponder::default();
        let mut out = Vec::new();
        let mut feed = Feed::KeepAlive;
        let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        r.feed(b"GET / HTTP/1.1\r\n", &mut out);
        for _ in 0..MAX_HEADER_BYTES / line.len() + 2 {
            feed = r.feed(line, &mut out);
            if feed == Feed::Close {
                break;
            }
        }
        assert_eq!(feed, Feed::Close);
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 431 "));
        assert!(r.buf.capacity() <= MAX_HEADER_BYTES + 2 * line.len());
        // A complete head that is too long, in one piece.
        let mut big = b"GET / HTTP/1.1\n".to_vec();
        big.extend(std::iter::repeat_n(b"A: b\n".as_slice(), MAX_HEADER_BYTES / 5).flatten());
        big.extend_from_slice(b"\n");
        assert_eq!(
            status_of(&big),
            (
                Feed::Close,
                "HTTP/1.1 431 Request Header Fields Too Large".to_string()
            )
        );
    }
}

impl Handler for PageResponder {
    fn on_open(&mut self, opened: &Opened<'_>) {
        let negotiated = opened.negotiated();
        self.handshake = Some(HandshakeFacts {
            suite: negotiated.suite.map_or("?", |s| s.name),
            group: negotiated.group,
            extended_master_secret: negotiated.extended_master_secret,
            resumed: negotiated.resumed,
        });
    }

    fn on_data(&mut self, data: &[u8]) {
        let mut pending = std::mem::take(&mut self.pending);
        self.feed(data, &mut pending);
        self.pending = pending;
    }

    fn poll_output(&mut self, out: &mut Vec<u8>, _room: usize) -> Flow {
        out.extend_from_slice(&self.pending);
        self.pending.clear();
        if self.closing {
            Flow::Close
        } else {
            Flow::Continue
        }
    }

    fn is_mid_message(&self) -> bool {
        !self.closing && (!self.buf.is_empty() || self.body_remaining > 0)
    }
}

/// Makes a [`PageResponder`] per connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct PageFactory;

impl HandlerFactory for PageFactory {
    type Handler = PageResponder;

    fn new_handler(&self) -> PageResponder {
        PageResponder::default()
    }
}
