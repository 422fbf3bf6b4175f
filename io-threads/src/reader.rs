//! The blocking reads of one connection, each socket on its own small thread, so that the
//! connection's thread waits on one channel for whatever comes first: the client's bytes,
//! the upstream's, a connect, an answer from the mailbox.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{channel, Sender};
use std::time::Duration;

use reprise_serve::upstream::UpstreamAddr;

/// What reaches a connection's thread.
pub(crate) enum Input {
    /// Bytes from the client (empty: its end of stream), or its socket's error.
    Client(io::Result<Vec<u8>>),
    /// Bytes from the upstream (empty: its end of stream), or its socket's error.
    Upstream(io::Result<Vec<u8>>),
    /// The upstream's connect finished.
    Connected(io::Result<UpstreamSocket>),
    /// The mailbox has answers (a session lookup, a signature, a handler's wake).
    Mailbox,
}

/// A socket read on its own thread, one buffer at a time: the thread reads only into a
/// buffer the connection hands it ([`Reader::read_into`]), so a connection that wants no
/// more input reads none (back-pressure), and the buffer comes back with what was read.
pub(crate) struct Reader {
    buffers: Sender<Vec<u8>>,
    /// A buffer is out with the thread.
    reading: bool,
}

impl Reader {
    /// Starts reading `source` (a clone of the connection's socket), sending what it reads
    /// as `wrap(bytes)` to `inputs`. The thread ends at the source's end or error, or when
    /// the `Reader` is dropped.
    pub(crate) fn spawn(
        mut source: impl Read + Send + 'static,
        inputs: Sender<Input>,
        wrap: fn(io::Result<Vec<u8>>) -> Input,
    ) -> io::Result<Self> {
        let (buffers, next) = channel::<Vec<u8>>();
        std::thread::Builder::new()
            .name("conn-read".into())
            // It only copies bytes into a heap buffer: a small stack is plenty.
            .stack_size(64 * 1024)
            .spawn(move || {
                while let Ok(mut buf) = next.recv() {
                    let read = loop {
                        match source.read(&mut buf) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            other => break other,
                        }
                    };
                    let last = !matches!(read, Ok(n) if n > 0);
                    let input = read.map(|n| {
                        buf.truncate(n);
                        buf
                    });
                    if inputs.send(wrap(input)).is_err() || last {
                        return;
                    }
                }
            })?;
        Ok(Self {
            buffers,
            reading: false,
        })
    }

    /// True while a read is under way.
    pub(crate) fn is_reading(&self) -> bool {
        self.reading
    }

    /// Hands `buf` (its length: how much to read at most) to the thread.
    pub(crate) fn read_into(&mut self, buf: Vec<u8>) {
        self.reading = self.buffers.send(buf).is_ok();
    }

    /// The read came back.
    pub(crate) fn done(&mut self) {
        self.reading = false;
    }
}

/// An upstream's socket (TCP or UNIX), blocking, with writes that give up after a moment
/// (so the connection's thread is never stuck on a peer that does not read).
pub(crate) enum UpstreamSocket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl UpstreamSocket {
    /// Connects to `addr` within `timeout` (on the caller's thread).
    pub(crate) fn connect(addr: &UpstreamAddr, timeout: Duration) -> io::Result<Self> {
        let sock = match addr {
            UpstreamAddr::Tcp(addr) => {
                let tcp = TcpStream::connect_timeout(addr, timeout)?;
                tcp.set_nodelay(true)?;
                Self::Tcp(tcp)
            }
            UpstreamAddr::Unix(path) => Self::Unix(UnixStream::connect(path)?),
        };
        sock.set_write_timeout(crate::WRITE_STALL)?;
        Ok(sock)
    }

    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_write_timeout(Some(timeout)),
            Self::Unix(s) => s.set_write_timeout(Some(timeout)),
        }
    }

    /// A second handle for the reading thread.
    pub(crate) fn reader(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Self::Tcp(s) => Box::new(s.try_clone()?),
            Self::Unix(s) => Box::new(s.try_clone()?),
        })
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            Self::Unix(s) => s.write(buf),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.shutdown(how),
            Self::Unix(s) => s.shutdown(how),
        }
    }

    /// Closes it, as a reset (SO_LINGER 0, where the socket has one: TCP) when `reset`.
    /// Its reading thread is woken by shutting the read side, and lets go of its handle.
    pub(crate) fn close(self, reset: bool) {
        if let (true, Self::Tcp(s)) = (reset, &self) {
            let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
        }
        let _ = self.shutdown(Shutdown::Read);
    }
}
