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
    /// Text placed in every page (e.g. the negotiated suite).
    pub page_note: String,
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
            let body = format!(
                "<!doctype html>\n<html><head><title>reprise</title></head><body><h1>reprise</h1><p>TLS 1.2 served by reprise. {}</p></body></html>\n",
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
        self.page_note = format!(
            "suite {}, group {}, ems {}, resumption {}",
            negotiated.suite.map(|s| s.name).unwrap_or("?"),
            negotiated.group.map(|g| g.name()).unwrap_or("none"),
            if negotiated.extended_master_secret {
                "yes"
            } else {
                "no"
            },
            negotiated
                .resumed
                .map(|k| k.to_string())
                .unwrap_or_else(|| "no".into()),
        );
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
