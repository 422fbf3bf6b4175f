//! The tiny HTTP/1.x responder `reprise serve` runs behind TLS: every request, once its header
//! block has ended (and its declared body has arrived), gets a small 200 page.

/// Largest request header block accepted before the connection is dropped.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Parses complete requests out of `buf` and appends one response per request to `out`.
/// Consumed requests are removed from `buf`. Returns `Err` for garbage that can never become a
/// request, and `Ok(true)` when the client asked to close the connection.
pub struct HttpResponder {
    buf: Vec<u8>,
    body_remaining: usize,
    /// Text placed in every page.
    pub page_note: String,
    /// What the handshake settled on, written into every page after `page_note`. Kept as
    /// plain facts and formatted only when a page is written: most connections of a
    /// handshake benchmark never ask for one.
    handshake: Option<HandshakeFacts>,
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

impl Default for HttpResponder {
    fn default() -> Self {
        Self::new(String::new())
    }
}

impl HttpResponder {
    /// A responder for one connection.
    pub fn new(page_note: String) -> Self {
        Self {
            buf: Vec::new(),
            body_remaining: 0,
            page_note,
            handshake: None,
        }
    }

    /// Feeds plaintext; appends responses to `out`.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<Feed, &'static str> {
        let skip = self.body_remaining.min(data.len());
        self.body_remaining -= skip;
        data = &data[skip..];
        self.buf.extend_from_slice(data);
        let mut feed = Feed::KeepAlive;
        while let Some(end) = find(&self.buf, b"\r\n\r\n") {
            let head = &self.buf[..end];
            let text = std::str::from_utf8(head).map_err(|_| "request head is not text")?;
            let mut lines = text.split("\r\n");
            let request_line = lines.next().unwrap_or_default();
            let mut parts = request_line.split(' ');
            let (method, path, version) =
                (parts.next(), parts.next(), parts.next().unwrap_or_default());
            if method.is_none_or(|m| m.is_empty()) || !version.starts_with("HTTP/1.") {
                return Err("not an HTTP/1.x request");
            }
            let mut close = version == "HTTP/1.0";
            let mut content_length = 0usize;
            for line in lines {
                let Some((name, value)) = line.split_once(':') else {
                    continue;
                };
                let value = value.trim();
                if name.eq_ignore_ascii_case("connection") {
                    if value.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if value.eq_ignore_ascii_case("keep-alive") {
                        close = false;
                    }
                } else if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse().map_err(|_| "bad content-length")?;
                }
            }
            // `/close` (any query) always closes after its answer: a browser test uses it to
            // make the next load open a new connection (and so resume a session).
            if path.is_some_and(|p| p == "/close" || p.starts_with("/close?")) {
                close = true;
            }
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
            self.buf.drain(..end + 4);
            let in_buf = content_length.min(self.buf.len());
            self.buf.drain(..in_buf);
            self.body_remaining = content_length - in_buf;
            if close {
                feed = Feed::Close;
                break;
            }
        }
        if self.buf.len() > MAX_HEADER_BYTES {
            return Err("request header block too large");
        }
        Ok(feed)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_each_pipelined_request() {
        let mut r = HttpResponder::default();
        let mut out = Vec::new();
        assert_eq!(
            r.feed(
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\n",
                &mut out
            ),
            Ok(Feed::KeepAlive)
        );
        assert_eq!(String::from_utf8_lossy(&out).matches("200 OK").count(), 1);
        assert_eq!(r.feed(b"\r\n", &mut out), Ok(Feed::KeepAlive));
        assert_eq!(String::from_utf8_lossy(&out).matches("200 OK").count(), 2);
    }

    #[test]
    fn bodies_are_skipped_and_close_is_honoured() {
        let mut r = HttpResponder::default();
        let mut out = Vec::new();
        assert_eq!(
            r.feed(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", &mut out),
            Ok(Feed::KeepAlive)
        );
        assert_eq!(
            r.feed(b"cdeGET / HTTP/1.0\r\n\r\n", &mut out),
            Ok(Feed::Close)
        );
        assert_eq!(String::from_utf8_lossy(&out).matches("200 OK").count(), 2);
    }

    #[test]
    fn pages_show_what_the_handshake_negotiated() {
        use reprise::app::Handler;
        let mut r = HttpResponder::new("note".into());
        let mut out = Vec::new();
        r.feed(b"GET / HTTP/1.1\r\n\r\n", &mut out).unwrap();
        assert!(String::from_utf8_lossy(&out).contains("by reprise. note</p>"));
        let negotiated = reprise::Negotiated {
            suite: reprise::crypto::suites::suite_by_name(
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            ),
            extended_master_secret: true,
            resumed: Some(reprise::ResumptionKind::Ticket),
            ..Default::default()
        };
        r.on_handshake(&negotiated);
        out.clear();
        r.feed(b"GET / HTTP/1.1\r\n\r\n", &mut out).unwrap();
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

    #[test]
    fn garbage_is_refused() {
        let mut r = HttpResponder::default();
        assert!(r
            .feed(b"\x16\x03\x01 nonsense\r\n\r\n", &mut Vec::new())
            .is_err());
        let mut r = HttpResponder::default();
        assert!(r
            .feed(&vec![b'a'; MAX_HEADER_BYTES + 1], &mut Vec::new())
            .is_err());
    }
}

impl reprise::app::Handler for HttpResponder {
    fn on_handshake(&mut self, negotiated: &reprise::Negotiated) {
        self.handshake = Some(HandshakeFacts {
            suite: negotiated.suite.map_or("?", |s| s.name),
            group: negotiated.group,
            extended_master_secret: negotiated.extended_master_secret,
            resumed: negotiated.resumed,
        });
    }

    fn on_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> reprise::app::AppAction {
        match self.feed(data, out) {
            Ok(Feed::KeepAlive) => reprise::app::AppAction::Continue,
            Ok(Feed::Close) | Err(_) => reprise::app::AppAction::Close,
        }
    }
}

/// Makes an [`HttpResponder`] per connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpFactory;

impl reprise::app::HandlerFactory for HttpFactory {
    type Handler = HttpResponder;

    fn new_handler(&self) -> HttpResponder {
        HttpResponder::default()
    }
}
