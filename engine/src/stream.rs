//! A small blocking adapter over any `Read + Write` transport, for simple users and tests.

use std::io::{self, Read, Write};

use crate::conn::{Connection, Handshake, Inbound};
use crate::error::{Error, Event};

/// A TLS connection joined to a blocking transport. Implements `Read` and `Write` for
/// application data.
pub struct Stream<H, T> {
    /// The connection.
    pub conn: Connection<H>,
    /// The transport.
    pub transport: T,
    inbound: Vec<u8>,
    filled: usize,
    plaintext: Vec<u8>,
    plaintext_pos: usize,
    clock: fn() -> u64,
    events: Vec<Event>,
}

fn to_io(e: Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<H: Handshake, T: Read + Write> Stream<H, T> {
    /// Joins `conn` to `transport`; time is read from the system clock.
    pub fn new(conn: Connection<H>, transport: T) -> Self {
        Self::with_clock(conn, transport, crate::unix_time)
    }

    /// Like [`new`](Self::new) with an explicit clock (seconds since the Unix epoch).
    pub fn with_clock(conn: Connection<H>, transport: T, clock: fn() -> u64) -> Self {
        Self {
            conn,
            transport,
            inbound: vec![0; 18 * 1024 + 5],
            filled: 0,
            plaintext: Vec::new(),
            plaintext_pos: 0,
            clock,
            events: Vec::new(),
        }
    }

    /// Events seen so far (handshake completion, warnings, close).
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_transmit() {
            let n = self.transport.write(self.conn.pending_output())?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.conn.consume_output(n);
        }
        self.transport.flush()
    }

    /// Reads from the transport once and processes what arrived. Returns false on EOF.
    fn read_tls(&mut self) -> io::Result<bool> {
        if self.filled == self.inbound.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "record larger than buffer",
            ));
        }
        let n = self.transport.read(&mut self.inbound[self.filled..])?;
        if n == 0 {
            return Ok(false);
        }
        self.filled += n;
        self.process()?;
        Ok(true)
    }

    fn process(&mut self) -> io::Result<()> {
        let result = loop {
            let mut inbound = Inbound::new(&mut self.inbound[..self.filled]);
            let read = loop {
                match self.conn.next_plaintext(&mut inbound, (self.clock)()) {
                    Ok(Some(data)) => self.plaintext.extend_from_slice(data),
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            let start = inbound.consumed();
            self.inbound.copy_within(start..self.filled, 0);
            self.filled -= start;
            let mut answered = false;
            while let Some(ev) = self.conn.next_event() {
                // A blocking adapter may block: a lookup or a signature the handshake waits
                // for is answered here, then the records held meanwhile are read.
                if read.is_ok() {
                    if H::answer_blocking(&mut self.conn, &ev).is_err() {
                        self.events.push(ev);
                        break;
                    }
                    answered |=
                        matches!(ev, Event::NeedSession { .. } | Event::NeedSignature { .. });
                }
                self.events.push(ev);
            }
            if let Some(e) = self.conn.error() {
                break Err(e.clone());
            }
            if read.is_err() || !answered {
                break read;
            }
        };
        // Always flush: an error may have queued an alert.
        let flushed = self.flush_tls();
        result.map_err(to_io)?;
        flushed
    }

    /// Sends close_notify (RFC 5246 §7.2.1) and flushes it; nothing can be written after.
    /// The peer's own close_notify reads as the end of the stream (`read` returns 0).
    pub fn close(&mut self) -> io::Result<()> {
        self.conn.close();
        self.flush_tls()
    }

    /// Drives the handshake to completion.
    pub fn complete_handshake(&mut self) -> io::Result<()> {
        self.flush_tls()?;
        while self.conn.is_handshaking() {
            if !self.read_tls()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "peer closed during the handshake",
                ));
            }
        }
        Ok(())
    }
}

impl<H: Handshake, T: Read + Write> Read for Stream<H, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.complete_handshake()?;
        while self.plaintext_pos == self.plaintext.len() {
            self.plaintext.clear();
            self.plaintext_pos = 0;
            if self.conn.peer_closed() || !self.read_tls()? {
                return Ok(0);
            }
        }
        let avail = &self.plaintext[self.plaintext_pos..];
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.plaintext_pos += n;
        Ok(n)
    }
}

impl<H: Handshake, T: Read + Write> Write for Stream<H, T> {
    /// Writes all of `buf` in records of up to 2^14 bytes, at most
    /// [`DEFAULT_OUTPUT_LIMIT`](crate::DEFAULT_OUTPUT_LIMIT) of them sealed ahead of the
    /// transport.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.complete_handshake()?;
        let mut written = 0;
        while written < buf.len() {
            written += self.conn.send_some(&buf[written..]).map_err(to_io)?;
            self.flush_tls()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}
