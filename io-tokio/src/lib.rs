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
//! The engine is re-exported ([`reprise`], and its certificate types as [`pki_types`]), so one
//! dependency line keeps both in step. Clients connect by a checked [`ServerName`]
//! ([`server_name`] refuses a URL or a host with a port before anything is sent), and with the
//! feature `native-roots` trust the system's roots in one line:
//!
//! ```ignore
//! let connector = reprise_tokio::TlsConnector::with_native_roots()?;
//! let tls = connector.connect(reprise_tokio::server_name("example.com")?, tcp).await?;
//! ```
//!
//! Every handshake has a time limit ([`DEFAULT_HANDSHAKE_TIMEOUT`], 10 s, or
//! `handshake_timeout(..)` on the acceptor or connector): a peer that never finishes ends
//! the future with [`std::io::ErrorKind::TimedOut`] instead of holding its task. A handshake
//! that fails with our fatal alert closes as RFC 5246 §7.2.2 asks: the alert, then our end of
//! stream at once; the future resolves to the error when the peer has closed too, or after a
//! second at most of reading and dropping what it still sends (so the alert is not destroyed
//! by a reset). Both use tokio's timer: run the futures on a runtime with time enabled
//! (`#[tokio::main]` and `Builder::enable_all` do). [`TlsStream::into_inner`] gives the
//! transport and the engine's connection back.
//!
//! [`AsyncWriteExt::shutdown`]: tokio::io::AsyncWriteExt::shutdown

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use reprise::session::{Lookup, SessionStore};
use reprise::{
    ClientConfig, ClientConnection, ClientHandshake, ClientHelloInfo, Connection, Event, Handshake,
    Inbound, Negotiated, ServerConfig, ServerConnection, ServerHandshake, MAX_RECORD_LEN,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The engine, as this crate's types take and give it (one version for both).
pub use reprise;
/// The certificate and server-name types (rustls-pki-types) the engine's builders take.
pub use reprise::pki_types;
pub use reprise::pki_types::ServerName;

/// After a handshake's fatal alert, how long what the peer still sends is read and dropped
/// before the transport is given up (see `TlsStream::poll_close_after_failure`).
const LINGER: Duration = Duration::from_secs(1);

/// How long a handshake may take by default ([`TlsAcceptor::handshake_timeout`],
/// [`TlsConnector::handshake_timeout`], [`LazyConfigAcceptor::handshake_timeout`]): a peer
/// that never finishes must not hold a task for ever.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Decides whether a client whose certificate verified may connect, by the application's own
/// policy ([`TlsAcceptor::client_approval`]): the future may take its time (a database), only
/// its connection's task waits.
pub type ClientApprover = Arc<
    dyn Fn(reprise::ClientIdentity) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync,
>;

/// Accepts TLS connections with one server config; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    handshake_timeout: Option<Duration>,
    approver: Option<ClientApprover>,
}

impl From<Arc<ServerConfig>> for TlsAcceptor {
    fn from(config: Arc<ServerConfig>) -> Self {
        Self {
            config,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            approver: None,
        }
    }
}

impl TlsAcceptor {
    /// How long a handshake may take before [`accept`](Self::accept) gives up with
    /// [`io::ErrorKind::TimedOut`] ([`DEFAULT_HANDSHAKE_TIMEOUT`] unless set; `None`: no
    /// limit).
    pub fn handshake_timeout(mut self, limit: Option<Duration>) -> Self {
        self.handshake_timeout = limit;
        self
    }

    /// Asks `approve` about every client whose certificate verified (and, when it resumes,
    /// whose session's client passed the checks again), for a config whose
    /// [`ClientAuth`](reprise::ClientAuth) was made
    /// [`with_approval`](reprise::ClientAuth::with_approval): `false` refuses the client with
    /// access_denied. A config that asks, accepted without an approver, refuses every
    /// client with a certificate.
    pub fn client_approval<F, Fut>(mut self, approve: F) -> Self
    where
        F: Fn(reprise::ClientIdentity) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.approver = Some(Arc::new(move |identity| Box::pin(approve(identity))));
        self
    }

    /// Runs the server side of a handshake on `io`; the stream is ready once it completes.
    pub fn accept<IO: AsyncRead + AsyncWrite + Unpin>(&self, io: IO) -> Accept<IO> {
        let conn = ServerConnection::new(self.config.clone());
        let mut stream = TlsStream::new(io, conn, self.config.session_store.clone());
        stream.approver = self.approver.clone();
        Accept(Handshaking::new(
            stream,
            None,
            Deadline::new(self.handshake_timeout),
        ))
    }
}

/// The handshake of [`TlsAcceptor::accept`] (or [`StartHandshake::into_stream`]), as a
/// future.
pub struct Accept<IO>(Handshaking<IO, ServerHandshake>);

impl<IO: AsyncRead + AsyncWrite + Unpin> Future for Accept<IO> {
    type Output = io::Result<TlsStream<IO>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0
            .poll_until(cx, "Accept", |stream, cx| stream.poll_handshake(cx))
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
///
/// The handshake timeout runs from the first poll to the end of the handshake, through
/// [`StartHandshake::into_stream`].
pub struct LazyConfigAcceptor<IO>(Handshaking<IO, ServerHandshake>);

impl<IO: AsyncRead + AsyncWrite + Unpin> LazyConfigAcceptor<IO> {
    /// Starts reading the ClientHello from `io`.
    pub fn new(io: IO) -> Self {
        let stream = TlsStream::new(io, ServerConnection::choosing_config(), None);
        Self(Handshaking::new(
            stream,
            None,
            Deadline::new(Some(DEFAULT_HANDSHAKE_TIMEOUT)),
        ))
    }

    /// How long the handshake may take ([`DEFAULT_HANDSHAKE_TIMEOUT`] unless set; `None`:
    /// no limit).
    pub fn handshake_timeout(mut self, limit: Option<Duration>) -> Self {
        self.0.deadline = Deadline::new(limit);
        self
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Future for LazyConfigAcceptor<IO> {
    type Output = io::Result<StartHandshake<IO>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let stream = ready!(self.0.poll_until(cx, "LazyConfigAcceptor", |stream, cx| {
            loop {
                if let Some(e) = stream.conn.error() {
                    return Poll::Ready(Err(to_io(e.clone())));
                }
                if stream.conn.client_hello().is_some() {
                    return Poll::Ready(Ok(()));
                }
                if !ready!(stream.poll_read_records(cx))? {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed before its ClientHello",
                    )));
                }
            }
        }))?;
        let deadline = std::mem::take(&mut self.0.deadline);
        Poll::Ready(Ok(StartHandshake { stream, deadline }))
    }
}

/// A connection whose ClientHello has arrived ([`LazyConfigAcceptor`]).
pub struct StartHandshake<IO> {
    stream: TlsStream<IO>,
    deadline: Deadline,
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
        Accept(Handshaking::new(stream, error, self.deadline))
    }
}

/// A server name in the type the connector takes, checked here: a DNS name (sent as SNI and
/// checked against the certificate) or an IP address. A URL, a name with a port, or anything
/// else that is no host name is refused with an error that says so, before any connection
/// is made.
///
/// ```
/// assert!(reprise_tokio::server_name("example.com").is_ok());
/// let url = reprise_tokio::server_name("https://example.com/").unwrap_err();
/// assert!(url.to_string().contains("URL"));
/// ```
pub fn server_name(name: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(name.to_owned()).map_err(|_| {
        let hint = if name.contains("://") {
            "it looks like a URL: give its host alone (e.g. example.com)"
        } else if name.contains(':') || name.contains('/') {
            "give the host alone, without a port or a path"
        } else {
            "give a DNS name or an IP address"
        };
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a server name: {hint}"),
        )
    })
}

/// Connects TLS clients with one client config; cheap to clone. Resumption is the
/// config's: with [`reprise::ClientConfig::builder`] the second connection to a server
/// resumes its session (by ticket, or by session ID without tickets).
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    handshake_timeout: Option<Duration>,
}

impl From<Arc<ClientConfig>> for TlsConnector {
    fn from(config: Arc<ClientConfig>) -> Self {
        Self {
            config,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
        }
    }
}

impl TlsConnector {
    /// A connector that trusts the operating system's root certificates (found by
    /// `rustls-native-certs`: the system bundle, or `SSL_CERT_FILE` / `SSL_CERT_DIR`), with
    /// the client defaults of [`reprise::ClientConfig::builder`] (resumption on). An error
    /// if no root could be loaded. Feature `native-roots`.
    #[cfg(feature = "native-roots")]
    pub fn with_native_roots() -> io::Result<Self> {
        let config = ClientConfig::builder()
            .roots(native_roots()?)
            .build()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Self::from(config))
    }

    /// How long a handshake may take before [`connect`](Self::connect) gives up with
    /// [`io::ErrorKind::TimedOut`] ([`DEFAULT_HANDSHAKE_TIMEOUT`] unless set; `None`: no
    /// limit).
    pub fn handshake_timeout(mut self, limit: Option<Duration>) -> Self {
        self.handshake_timeout = limit;
        self
    }

    /// Runs the client side of a handshake with `server_name` on `io`: a DNS name is sent as
    /// SNI and checked against the server's certificate; an IP address is checked against
    /// the certificate's IP addresses. Make one with [`server_name`] (or
    /// `ServerName::try_from`).
    pub fn connect<IO: AsyncRead + AsyncWrite + Unpin>(
        &self,
        server_name: ServerName<'static>,
        io: IO,
    ) -> Connect<IO> {
        let name = match &server_name {
            ServerName::DnsName(dns) => dns.as_ref().to_owned(),
            ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
            other => {
                let error = io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{other:?}: not a kind of server name this connector knows"),
                );
                return Connect(Handshaking::failed(error));
            }
        };
        let deadline = Deadline::new(self.handshake_timeout);
        match ClientConnection::new(self.config.clone(), &name) {
            Ok(conn) => Connect(Handshaking::new(
                TlsStream::new(io, conn, None),
                None,
                deadline,
            )),
            Err(e) => Connect(Handshaking::failed(to_io(e))),
        }
    }
}

/// The operating system's root certificates (found by `rustls-native-certs`), for
/// [`reprise::ClientConfigBuilder::roots`]. Certificates that do not parse are skipped; an
/// error if none could be loaded. Feature `native-roots`.
#[cfg(feature = "native-roots")]
pub fn native_roots() -> io::Result<reprise::RootStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = reprise::RootStore::new();
    for cert in &found.certs {
        let _ = roots.add_der(cert);
    }
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no system root certificates: {why}"),
        ));
    }
    Ok(roots)
}

/// The handshake of [`TlsConnector::connect`], as a future.
pub struct Connect<IO>(Handshaking<IO, ClientHandshake>);

impl<IO: AsyncRead + AsyncWrite + Unpin> Future for Connect<IO> {
    type Output = io::Result<TlsStream<IO, ClientHandshake>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0
            .poll_until(cx, "Connect", |stream, cx| stream.poll_handshake(cx))
    }
}

/// A handshake's time limit, armed on the first poll.
#[derive(Default)]
struct Deadline {
    limit: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    fn new(limit: Option<Duration>) -> Self {
        Self { limit, timer: None }
    }

    /// True once the limit has passed (and the task is woken when it does).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(limit) = self.limit else {
            return false;
        };
        self.timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)))
            .as_mut()
            .poll(cx)
            .is_ready()
    }
}

/// What a handshake future holds: the stream, the failure to report once the connection is
/// closed, the linger after our fatal alert, and the handshake's time limit.
struct Handshaking<IO, S: Handshake> {
    stream: Option<TlsStream<IO, S>>,
    /// The handshake failed: the future ends with this once the connection is closed.
    error: Option<io::Error>,
    linger: Option<Pin<Box<Sleep>>>,
    deadline: Deadline,
}

impl<IO: AsyncRead + AsyncWrite + Unpin, S: Handshake> Handshaking<IO, S> {
    fn new(stream: TlsStream<IO, S>, error: Option<io::Error>, deadline: Deadline) -> Self {
        Self {
            stream: Some(stream),
            error,
            linger: None,
            deadline,
        }
    }

    /// A future that ends with `error` at its first poll.
    fn failed(error: io::Error) -> Self {
        Self {
            stream: None,
            error: Some(error),
            linger: None,
            deadline: Deadline::default(),
        }
    }

    /// Polls `step` until it is done, then hands the stream out. A failure closes the
    /// connection as RFC 5246 §7.2.2 asks (`TlsStream::poll_close_after_failure`) and ends
    /// with the error; past the deadline it ends with [`io::ErrorKind::TimedOut`].
    fn poll_until(
        &mut self,
        cx: &mut Context<'_>,
        what: &str,
        mut step: impl FnMut(&mut TlsStream<IO, S>, &mut Context<'_>) -> Poll<io::Result<()>>,
    ) -> Poll<io::Result<TlsStream<IO, S>>> {
        let Some(stream) = self.stream.as_mut() else {
            let error = self.error.take();
            return Poll::Ready(Err(error.unwrap_or_else(|| {
                io::Error::other(format!("{what} polled after completion"))
            })));
        };
        if self.error.is_none() {
            if self.deadline.expired(cx) {
                self.stream = None;
                let limit = self.deadline.limit.unwrap_or_default();
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the TLS handshake did not finish within {limit:?}"),
                )));
            }
            match ready!(step(stream, cx)) {
                Ok(()) => {
                    return Poll::Ready(
                        self.stream
                            .take()
                            .ok_or_else(|| io::Error::other(what.to_owned())),
                    )
                }
                Err(e) => self.error = Some(e),
            }
        }
        ready!(stream.poll_close_after_failure(cx, &mut self.linger));
        self.stream = None;
        let error = self.error.take();
        Poll::Ready(Err(
            error.unwrap_or_else(|| io::Error::other(what.to_owned()))
        ))
    }
}

/// What the handshake waits for, answered from another task or thread: a session lookup
/// (the store's `fetch`) or an offloaded signature (a blocking-pool thread).
#[derive(Default)]
struct Pending {
    answer: Option<Answer>,
    waker: Option<Waker>,
}

// Inline like `Lookup` itself: moved once per suspended handshake.
#[allow(clippy::large_enum_variant)]
enum Answer {
    Session(Lookup),
    Signature(Option<Vec<u8>>),
    Approval(bool),
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
pub struct TlsStream<IO, S: Handshake = ServerHandshake> {
    io: IO,
    /// Boxed: the connection is a few KB, and futures holding a stream move (into a task,
    /// out of `Accept`); one allocation is cheaper than copying it each time.
    conn: Box<Connection<S>>,
    store: Option<Arc<dyn SessionStore>>,
    /// Who approves verified clients (server, [`TlsAcceptor::client_approval`]).
    approver: Option<ClientApprover>,
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

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO, ServerHandshake> {
    /// The client's verified certificate chain (DER, leaf first), when the server asks for
    /// one ([`reprise::ClientAuth`]) and the client sent it.
    pub fn peer_certificates(&self) -> Option<&[Vec<u8>]> {
        self.conn.peer_certificates()
    }

    /// The verified client certificate's subject, as RFC 4514 writes it (`CN=device-17`),
    /// on full and resumed connections alike.
    pub fn peer_subject(&self) -> Option<String> {
        self.conn.peer_subject()
    }

    /// Who the client's verified certificate says it is (subject, serial, fingerprint,
    /// expiry): from its certificate, or kept with the session a resumption resumed.
    pub fn peer_identity(&self) -> Option<&reprise::ClientIdentity> {
        self.conn.peer_identity()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO, ClientHandshake> {
    /// The server's certificate chain (DER, leaf first) of a full handshake; `None` after
    /// a resumption, which sends none.
    pub fn peer_certificates(&self) -> Option<&[Vec<u8>]> {
        self.conn.peer_certificates()
    }

    /// The server certificate's subject, as RFC 4514 writes it.
    pub fn peer_subject(&self) -> Option<String> {
        self.conn.peer_subject()
    }
}

// Nothing in a stream is pinned structurally: the transport is polled through `Pin::new`.
impl<IO: Unpin, S: Handshake> Unpin for TlsStream<IO, S> {}

fn to_io(e: reprise::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<IO: AsyncRead + AsyncWrite + Unpin, S: Handshake> TlsStream<IO, S> {
    fn new(io: IO, conn: Connection<S>, store: Option<Arc<dyn SessionStore>>) -> Self {
        Self {
            io,
            conn: Box::new(conn),
            store,
            approver: None,
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

    /// The transport and the engine's connection, taken apart (records already received or
    /// queued stay in the connection; decrypted data not yet read is dropped).
    pub fn into_inner(self) -> (IO, Connection<S>) {
        (self.io, *self.conn)
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
            match self.conn.next_plaintext(&mut inbound, reprise::unix_time()) {
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
                Event::NeedClientApproval { identity } => {
                    match (self.approver.clone(), tokio::runtime::Handle::try_current()) {
                        (Some(approve), Ok(runtime)) => {
                            let slot = self.wait_for_answer(cx);
                            let decision = approve(*identity);
                            runtime.spawn(async move {
                                Pending::answer(&slot, Answer::Approval(decision.await));
                            });
                        }
                        // Nobody to ask: refused (access_denied), never left waiting.
                        _ => {
                            if let Err(e) = self.conn.approve_client(false) {
                                let _ = self.poll_flush_records(cx);
                                return Err(to_io(e));
                            }
                        }
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
            reprise::unix_time(),
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
            Answer::Approval(approved) => self.conn.approve_client(approved),
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

impl<IO: AsyncRead + AsyncWrite + Unpin, S: Handshake> AsyncRead for TlsStream<IO, S> {
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

impl<IO: AsyncRead + AsyncWrite + Unpin, S: Handshake> AsyncWrite for TlsStream<IO, S> {
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
