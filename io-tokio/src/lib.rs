//! Reprise TLS 1.2 for tokio: accept connections with a [`TlsAcceptor`] and use the
//! [`TlsStream`] it gives like any `AsyncRead + AsyncWrite` socket (hyper, axum, your own
//! protocol).
//!
//! ```no_run
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! # async fn serve(cert: &[u8], key: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let config = reprise::ServerConfig::builder().certificate_pem(cert, key).build()?;
//! let acceptor = reprise_tokio::TlsAcceptor::from(config);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     let acceptor = acceptor.clone();
//!     tokio::spawn(async move {
//!         let mut tls = acceptor.accept(tcp).await?;
//!         let mut request = [0; 1024];
//!         let _ = tls.read(&mut request).await?;
//!         tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi").await?;
//!         tls.shutdown().await // close_notify
//!     # ; Ok::<(), std::io::Error>(())
//!     });
//! }
//! # }
//! ```
//!
//! Resumption is the config's (on by default with [`reprise::ServerConfig::builder`]). A
//! session store that answers later ([`reprise::session::Lookup::Pending`], e.g. a remote
//! cache) suspends only its own handshake: the lookup's answer wakes the task. End of stream
//! without the peer's close_notify reads as [`std::io::ErrorKind::UnexpectedEof`] (a
//! truncation attack cannot pass for a clean end); [`AsyncWriteExt::shutdown`] sends ours.
//! At most [`reprise::DEFAULT_OUTPUT_LIMIT`] bytes of records wait for a slow reader:
//! writes then wait for the socket.
//!
//! A handshake that fails with our fatal alert closes as RFC 5246 §7.2.2 asks: the alert,
//! then our end of stream at once; the future resolves to the error when the peer has
//! closed too, or after a second at most of reading and dropping what it still sends (so
//! the alert is not destroyed by a reset). That bound uses tokio's timer: run the futures on
//! a runtime with time enabled (`#[tokio::main]` and `Builder::enable_all` do).
//!
//! [`AsyncWriteExt::shutdown`]: tokio::io::AsyncWriteExt::shutdown

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll, Waker};

use reprise::session::{Lookup, SessionStore};
use reprise::{
    ClientConfig, ClientConnection, ClientHandshake, ClientHelloInfo, Connection, Event, Inbound,
    Negotiated, ServerConfig, ServerConnection, ServerHandshake, Side, MAX_RECORD_LEN,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// After a handshake's fatal alert, how long what the peer still sends is read and dropped
/// before the transport is given up (see `TlsStream::poll_close_after_failure`).
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// Accepts TLS connections with one server config; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
}

impl From<Arc<ServerConfig>> for TlsAcceptor {
    fn from(config: Arc<ServerConfig>) -> Self {
        Self { config }
    }
}

impl TlsAcceptor {
    /// Runs the server side of a handshake on `io`; the stream is ready once it completes.
    pub fn accept<IO: AsyncRead + AsyncWrite + Unpin>(&self, io: IO) -> Accept<IO> {
        let conn = ServerConnection::new(self.config.clone());
        Accept {
            stream: Some(TlsStream::new(io, conn, self.config.session_store.clone())),
            error: None,
            linger: None,
        }
    }
}

/// The handshake of [`TlsAcceptor::accept`] (or [`StartHandshake::into_stream`]), as a
/// future.
pub struct Accept<IO> {
    stream: Option<TlsStream<IO, ServerHandshake>>,
    /// The handshake failed: the future ends with this once the connection is closed.
    error: Option<io::Error>,
    linger: Option<Pin<Box<Sleep>>>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Future for Accept<IO> {
    type Output = io::Result<TlsStream<IO>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(Err(this
                .error
                .take()
                .unwrap_or_else(|| io::Error::other("Accept polled after completion"))));
        };
        if this.error.is_none() {
            match ready!(stream.poll_handshake(cx)) {
                Ok(()) => return Poll::Ready(Ok(this.stream.take().expect("checked above"))),
                Err(e) => this.error = Some(e),
            }
        }
        ready!(stream.poll_close_after_failure(cx, &mut this.linger));
        this.stream = None;
        Poll::Ready(Err(this.error.take().expect("set above")))
    }
}

/// Reads a connection's ClientHello before a server config is chosen — by the name the
/// client asks for, its ALPN protocols, or whether it tries to resume:
///
/// ```no_run
/// # async fn f(tcp: tokio::net::TcpStream, a: std::sync::Arc<reprise::ServerConfig>, b: std::sync::Arc<reprise::ServerConfig>) -> std::io::Result<()> {
/// let start = reprise_tokio::LazyConfigAcceptor::new(tcp).await?;
/// let config = if start.client_hello().server_name() == Some("a.example") { a } else { b };
/// let tls = start.into_stream(config).await?;
/// # Ok(()) }
/// ```
pub struct LazyConfigAcceptor<IO> {
    stream: Option<TlsStream<IO>>,
    error: Option<io::Error>,
    linger: Option<Pin<Box<Sleep>>>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> LazyConfigAcceptor<IO> {
    /// Starts reading the ClientHello from `io`.
    pub fn new(io: IO) -> Self {
        Self {
            stream: Some(TlsStream::new(
                io,
                ServerConnection::choosing_config(),
                None,
            )),
            error: None,
            linger: None,
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Future for LazyConfigAcceptor<IO> {
    type Output = io::Result<StartHandshake<IO>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(Err(io::Error::other(
                "LazyConfigAcceptor polled after completion",
            )));
        };
        while this.error.is_none() {
            if let Some(e) = stream.conn.error() {
                this.error = Some(to_io(e.clone()));
                break;
            }
            if stream.conn.client_hello().is_some() {
                let stream = this.stream.take().expect("checked above");
                return Poll::Ready(Ok(StartHandshake { stream }));
            }
            match ready!(stream.poll_read_records(cx)) {
                Ok(true) => {}
                Ok(false) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed before its ClientHello",
                    )))
                }
                Err(e) => this.error = Some(e),
            }
        }
        ready!(stream.poll_close_after_failure(cx, &mut this.linger));
        this.stream = None;
        Poll::Ready(Err(this.error.take().expect("set above")))
    }
}

/// A connection whose ClientHello has arrived ([`LazyConfigAcceptor`]).
pub struct StartHandshake<IO> {
    stream: TlsStream<IO>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> StartHandshake<IO> {
    /// What the client asks for.
    pub fn client_hello(&self) -> &ClientHelloInfo {
        self.stream
            .conn
            .client_hello()
            .expect("a StartHandshake holds a ClientHello")
    }

    /// Goes on with the handshake under `config`.
    pub fn into_stream(self, config: Arc<ServerConfig>) -> Accept<IO> {
        let mut stream = self.stream;
        stream.store = config.session_store.clone();
        let error = stream.conn.choose_config(config).err().map(to_io);
        Accept {
            stream: Some(stream),
            error,
            linger: None,
        }
    }
}

/// Connects TLS clients with one client config; cheap to clone. Resumption is the
/// config's: with [`reprise::ClientConfig::builder`] the second connection to a server
/// resumes its session (by ticket, or by session ID without tickets).
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl From<Arc<ClientConfig>> for TlsConnector {
    fn from(config: Arc<ClientConfig>) -> Self {
        Self { config }
    }
}

impl TlsConnector {
    /// Runs the client side of a handshake with `server_name` (a DNS name, checked against
    /// the certificate, and sent as SNI; or an IP address) on `io`.
    pub fn connect<IO: AsyncRead + AsyncWrite + Unpin>(
        &self,
        server_name: &str,
        io: IO,
    ) -> Connect<IO> {
        match ClientConnection::new(self.config.clone(), server_name) {
            Ok(conn) => Connect {
                stream: Some(TlsStream::new(io, conn, None)),
                error: None,
                linger: None,
            },
            Err(e) => Connect {
                stream: None,
                error: Some(to_io(e)),
                linger: None,
            },
        }
    }
}

/// The handshake of [`TlsConnector::connect`], as a future.
pub struct Connect<IO> {
    stream: Option<TlsStream<IO, ClientHandshake>>,
    error: Option<io::Error>,
    linger: Option<Pin<Box<Sleep>>>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Future for Connect<IO> {
    type Output = io::Result<TlsStream<IO, ClientHandshake>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(Err(this
                .error
                .take()
                .unwrap_or_else(|| io::Error::other("Connect polled after completion"))));
        };
        if this.error.is_none() {
            match ready!(stream.poll_handshake(cx)) {
                Ok(()) => return Poll::Ready(Ok(this.stream.take().expect("checked above"))),
                Err(e) => this.error = Some(e),
            }
        }
        ready!(stream.poll_close_after_failure(cx, &mut this.linger));
        this.stream = None;
        Poll::Ready(Err(this.error.take().expect("set above")))
    }
}

/// What the handshake waits for, answered from another task or thread: a session lookup
/// (the store's `fetch`) or an offloaded signature (a blocking-pool thread).
#[derive(Default)]
struct Pending {
    answer: Option<Answer>,
    waker: Option<Waker>,
}

enum Answer {
    Session(Lookup),
    Signature(Option<Vec<u8>>),
}

impl Pending {
    /// Stores the answer and wakes the stream's task.
    fn answer(slot: &Mutex<Pending>, answer: Answer) {
        let waker = {
            let mut p = slot.lock().unwrap_or_else(PoisonError::into_inner);
            p.answer = Some(answer);
            p.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A TLS connection over `IO` — the server's by default, the client's with
/// [`ClientHandshake`] — and `AsyncRead + AsyncWrite` for application data.
pub struct TlsStream<IO, S: Side = ServerHandshake> {
    io: IO,
    /// Boxed: the connection is a few KB, and futures holding a stream move (into a task,
    /// out of `Accept`); one allocation is cheaper than copying it each time.
    conn: Box<Connection<S>>,
    store: Option<Arc<dyn SessionStore>>,
    pending: Option<Arc<Mutex<Pending>>>,
    /// Received bytes: whole records are decrypted in place, a partial one waits for more.
    inbound: Vec<u8>,
    filled: usize,
    /// Decrypted application data not yet read.
    plaintext: Vec<u8>,
    plaintext_read: usize,
    /// Vectored writes gathered into full records.
    gather: Vec<u8>,
    closing: bool,
}

/// What a stream's receive buffer starts at: a hello and a request fit; it grows to a whole
/// record ([`MAX_RECORD_LEN`]) only when a longer record arrives.
const INITIAL_INBOUND: usize = 4096;

// Nothing in a stream is pinned structurally: the transport is polled through `Pin::new`.
impl<IO: Unpin, S: Side> Unpin for TlsStream<IO, S> {}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn to_io(e: reprise::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<IO: AsyncRead + AsyncWrite + Unpin, S: Side> TlsStream<IO, S> {
    fn new(io: IO, conn: Connection<S>, store: Option<Arc<dyn SessionStore>>) -> Self {
        Self {
            io,
            conn: Box::new(conn),
            store,
            pending: None,
            inbound: vec![0; INITIAL_INBOUND],
            filled: 0,
            plaintext: Vec::new(),
            plaintext_read: 0,
            gather: Vec::new(),
            closing: false,
        }
    }

    /// What the handshake negotiated: suite, group, ALPN, SNI, and whether and how it resumed.
    pub fn negotiated(&self) -> &Negotiated {
        self.conn.negotiated()
    }

    /// The engine's connection (e.g. [`ServerConnection::server_name`], or
    /// [`reprise::ClientConnection::resumption_failure`]).
    pub fn connection(&self) -> &Connection<S> {
        &self.conn
    }

    /// The transport.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The transport, mutably (reading or writing it directly breaks the TLS stream).
    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.io
    }

    /// Writes queued records to the transport until none is left.
    fn poll_flush_records(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.conn.pending_output().is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, self.conn.pending_output()))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.conn.consume_output(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Closes a connection whose handshake failed. RFC 5246 §7.2.2: after a fatal alert
    /// both sides close at once. Our alert (if the engine queued one) goes out, then our end
    /// of stream; then what the peer still sends is read and dropped until its end of stream
    /// or [`LINGER`], because dropping a socket with unread input resets the connection,
    /// which can destroy the alert before the peer reads it. A received alert or a transport
    /// error ends it at once.
    fn poll_close_after_failure(
        &mut self,
        cx: &mut Context<'_>,
        linger: &mut Option<Pin<Box<Sleep>>>,
    ) -> Poll<()> {
        if linger.is_none() {
            if ready!(self.poll_flush_records(cx)).is_err()
                || !matches!(self.conn.error(), Some(reprise::Error::AlertSent { .. }))
                || ready!(Pin::new(&mut self.io).poll_shutdown(cx)).is_err()
            {
                return Poll::Ready(());
            }
            *linger = Some(Box::pin(tokio::time::sleep(LINGER)));
        }
        let Some(deadline) = linger.as_mut() else {
            return Poll::Ready(());
        };
        loop {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            let mut buf = ReadBuf::new(&mut self.inbound);
            match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                Ok(()) if !buf.filled().is_empty() => {}
                _ => return Poll::Ready(()),
            }
        }
    }

    /// Reads from the transport once and handles what arrived; `false` at end of stream.
    fn poll_read_records(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        self.make_room();
        if self.filled == self.inbound.len() {
            // Whole records are always read off the front, so this cannot be a record.
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "more than a record waits unread",
            )));
        }
        let mut buf = ReadBuf::new(&mut self.inbound[self.filled..]);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        if n == 0 {
            return Poll::Ready(Ok(false));
        }
        self.filled += n;
        self.process(cx)?;
        Poll::Ready(Ok(true))
    }

    /// Grows the receive buffer when the unfinished record at its start needs more than it
    /// holds (up to a whole record of the largest size).
    fn make_room(&mut self) {
        let wanted = match self.inbound.get(3..5) {
            Some(len) if self.filled >= 5 => 5 + usize::from(u16::from_be_bytes([len[0], len[1]])),
            _ => 0,
        };
        let wanted = wanted.max(self.filled + 1).min(MAX_RECORD_LEN);
        if self.inbound.len() < wanted {
            self.inbound
                .resize(wanted.max(2 * self.inbound.len()).min(MAX_RECORD_LEN), 0);
        }
    }

    /// Handles the whole records received: plaintext aside, events answered.
    fn process(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let mut inbound = Inbound::new(&mut self.inbound[..self.filled]);
        let result = loop {
            match self.conn.next_plaintext(&mut inbound, now_secs()) {
                Ok(Some(data)) => self.plaintext.extend_from_slice(data),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        let used = inbound.consumed();
        self.inbound.copy_within(used..self.filled, 0);
        self.filled -= used;
        while let Some(event) = self.conn.next_event() {
            match event {
                Event::NeedSession { id } => self.start_lookup(&id, cx),
                Event::NeedSignature {
                    key,
                    scheme,
                    message,
                    ..
                } => {
                    let sign = move || {
                        let mut signature = Vec::with_capacity(512);
                        let signed = key.key().sign(scheme, &message, &mut signature).is_ok();
                        signed.then_some(signature)
                    };
                    match tokio::runtime::Handle::try_current() {
                        // Off the runtime's threads: a signature costs tens to hundreds of
                        // microseconds that other connections' tasks should not wait for.
                        Ok(runtime) => {
                            let slot = self.wait_for_answer(cx);
                            runtime.spawn_blocking(move || {
                                Pending::answer(&slot, Answer::Signature(sign()));
                            });
                        }
                        Err(_) => self.conn.provide_signature(sign()).map_err(to_io)?,
                    }
                }
                _ => {}
            }
        }
        if let Err(e) = result {
            // The alert we queued goes out if the socket takes it now.
            let _ = self.poll_flush_records(cx);
            return Err(to_io(e));
        }
        Ok(())
    }

    /// A slot for an answer the handshake now waits for; its filling wakes this task.
    fn wait_for_answer(&mut self, cx: &mut Context<'_>) -> Arc<Mutex<Pending>> {
        let slot = Arc::new(Mutex::new(Pending {
            answer: None,
            waker: Some(cx.waker().clone()),
        }));
        self.pending = Some(slot.clone());
        slot
    }

    /// Asks the store for the session; its answer wakes this task.
    fn start_lookup(&mut self, id: &[u8], cx: &mut Context<'_>) {
        let slot = self.wait_for_answer(cx);
        let Some(store) = self.store.clone() else {
            Pending::answer(&slot, Answer::Session(Lookup::Missing));
            return;
        };
        store.fetch(
            id,
            now_secs(),
            Box::new(move |answer| Pending::answer(&slot, Answer::Session(answer))),
        );
    }

    /// Hands an answer to the handshake once it is there (`true`: the handshake went on and
    /// may have queued output); `Pending` until then.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let Some(slot) = self.pending.clone() else {
            return Poll::Ready(Ok(false));
        };
        let answer = {
            let mut p = slot.lock().unwrap_or_else(PoisonError::into_inner);
            match p.answer.take() {
                Some(answer) => answer,
                None => {
                    p.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        };
        self.pending = None;
        match answer {
            Answer::Session(lookup) => self.conn.provide_session(lookup),
            Answer::Signature(signature) => self.conn.provide_signature(signature),
        }
        .map_err(to_io)?;
        // The records held while the handshake waited.
        self.process(cx)?;
        Poll::Ready(Ok(true))
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            // What is queued goes out first (a ServerHello and Certificate while the
            // signature is being made), then any answer the handshake waits for.
            ready!(self.poll_flush_records(cx))?;
            if ready!(self.poll_answer(cx))? {
                continue;
            }
            if let Some(e) = self.conn.error() {
                return Poll::Ready(Err(to_io(e.clone())));
            }
            if !self.conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if self.pending.is_some() {
                continue;
            }
            if !ready!(self.poll_read_records(cx))? {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed during the handshake",
                )));
            }
        }
    }

    /// Seals `data` (records of up to 2^14 bytes, within the output limit) and pushes what
    /// the socket takes; `Pending` only when nothing could be queued.
    fn poll_send(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_handshake(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            let taken = self.conn.send_some(data).map_err(to_io)?;
            let flushed = self.poll_flush_records(cx)?;
            if taken > 0 {
                return Poll::Ready(Ok(taken));
            }
            if flushed.is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin, S: Side> AsyncRead for TlsStream<IO, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_handshake(cx))?;
        loop {
            if this.plaintext_read < this.plaintext.len() {
                let available = &this.plaintext[this.plaintext_read..];
                let n = available.len().min(buf.remaining());
                buf.put_slice(&available[..n]);
                this.plaintext_read += n;
                if this.plaintext_read == this.plaintext.len() {
                    this.plaintext.clear();
                    this.plaintext_read = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.conn.peer_closed() {
                return Poll::Ready(Ok(()));
            }
            // Alerts reading queued (a refused renegotiation) go out on the way.
            if let Poll::Ready(Err(e)) = this.poll_flush_records(cx) {
                return Poll::Ready(Err(e));
            }
            if !ready!(this.poll_read_records(cx))? {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed without close_notify",
                )));
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin, S: Side> AsyncWrite for TlsStream<IO, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_send(cx, buf)
    }

    /// Gathers the slices into full records (up to the output limit) before sealing.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut gather = std::mem::take(&mut this.gather);
        gather.clear();
        for slice in bufs {
            let room = reprise::DEFAULT_OUTPUT_LIMIT - gather.len();
            gather.extend_from_slice(&slice[..slice.len().min(room)]);
            if gather.len() == reprise::DEFAULT_OUTPUT_LIMIT {
                break;
            }
        }
        let result = this.poll_send(cx, &gather);
        this.gather = gather;
        result
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_flush_records(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    /// Sends close_notify (RFC 5246 §7.2.1), then shuts the transport's write side.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.closing {
            this.closing = true;
            this.conn.close();
        }
        ready!(this.poll_flush_records(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
