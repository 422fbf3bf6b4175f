//! The multi-core TLS server on mio (epoll): the driver half. Every decision about a
//! connection — when it is over, whether to read it, what to send, its deadline, draining on
//! shutdown — is its served connection's ([`reprise_serve::served::Served`]); this module
//! owns the sockets, buffers and poll, and carries those decisions out.
//!
//! * **Listeners**: with [`ListenerMode::ReusePort`](reprise_serve::ListenerMode::ReusePort)
//!   (the default) every worker binds its own socket to the same address with `SO_REUSEPORT`
//!   and the kernel spreads new connections over them; with
//!   [`ListenerMode::Shared`](reprise_serve::ListenerMode::Shared) one listening socket is
//!   registered in every worker's poll and the losers of the `accept` race see `WouldBlock`.
//!   Accepts come in batches of [`ACCEPT_BATCH`], so an accept storm neither starves open
//!   connections nor fills the slab.
//! * **Connections** live in a slab; a connection's client socket has the token
//!   `2 + 2 × key`, its upstream socket (for an upstream) the next one.
//! * **Buffers**: bytes are read into the worker's buffer and whole records decrypted where
//!   they lie; a connection keeps only the tail of an unfinished record, sized to what arrived
//!   (so memory grows with the bytes a client actually sent). Output is written straight from
//!   the engine's record buffer, partial writes included; the engine buffers of finished
//!   connections are reused ([`reprise_serve::buffers::Recycler`]), so after warm-up a resumed
//!   handshake allocates nothing in the engine.
//! * **Batching under load**: after a poll that returned several events the worker sleeps
//!   [`ServerOptions::batch_wait`] ([`BATCH_WAIT`] unless set) before polling again, so the
//!   next poll brings a batch; an idle worker polls at once.
//! * **Timers**: each connection has one deadline (its served connection's); a sweep a few
//!   times per timeout period tells those whose deadline passed.
//! * **Answers** to suspended lookups and signatures, and handlers' wakes, come over the
//!   worker's [`Mailbox`] with a mio `Waker`.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use slab::Slab;

use reprise::ServerConfig;
use reprise_serve::app::{Handler, HandlerFactory};
use reprise_serve::buffers::Recycler;
use reprise_serve::listen::bind_listeners;
use reprise_serve::options::DRAIN_TICK;
use reprise_serve::served::{evictions, ConnId, Env, Served};
use reprise_serve::suspend::{Answer, Mailbox, SignerPool};
use reprise_serve::upstream::{UpstreamAddr, UpstreamFailure, UpstreamState};
pub use reprise_serve::workers::shutdown_on_signals;
use reprise_serve::workers::{join_workers, WakeWorker, Workers};
use reprise_serve::{ServerOptions, ShutdownHandle, READ_BUFFER_SIZE};

use crate::sys;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Connection tokens are slab keys shifted past the two fixed tokens: `client_token(key)`
/// for a connection's client socket, the next one for its upstream socket.
const FIRST_CONN: usize = 2;

fn client_token(key: usize) -> Token {
    Token(FIRST_CONN + 2 * key)
}

fn upstream_token(key: usize) -> Token {
    Token(FIRST_CONN + 2 * key + 1)
}
/// Connections accepted in one go before the worker serves the events of those it has: an
/// accept storm can neither starve open connections nor fill the slab with thousands of
/// connections not yet looked at.
pub const ACCEPT_BATCH: usize = 64;
/// A poll that returned at least this many events marks the worker busy, so it lets the
/// next batch gather ([`let_batch_gather`]).
pub const BUSY_POLL: usize = 4;

/// The mio waker of a worker's poll.
struct PollWaker(Waker);

impl WakeWorker for PollWaker {
    fn wake_worker(&self) {
        let _ = self.0.wake();
    }
}

type Shared = Workers<PollWaker>;

/// A running server: its workers and their listening address.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

/// The mio worker's batch wait when [`ServerOptions::batch_wait`] leaves it to the driver:
/// sleeping before the next poll of a busy worker saved a few per cent of CPU per resumed
/// handshake on the hosts measured.
pub const BATCH_WAIT: Duration = Duration::from_micros(50);

/// Batching under load ([`ServerOptions::batch_wait`]): after a poll that returned at least
/// [`BUSY_POLL`] events, sleeps `batch_wait` so the next poll serves a batch in one wake-up.
/// An idle loop (or a zero `batch_wait`, or one not shorter than the coming poll's
/// `timeout`) polls at once, so a lone client sees no added latency. Shared with the bare-TCP
/// floor.
pub fn let_batch_gather(last_poll: &Events, batch_wait: Duration, timeout: Option<Duration>) {
    if !batch_wait.is_zero()
        && timeout.is_none_or(|t| batch_wait < t)
        && last_poll.iter().nth(BUSY_POLL - 1).is_some()
    {
        std::thread::sleep(batch_wait);
    }
}

impl Server {
    /// Binds `addr` and starts the workers. Each accepted connection runs a
    /// [`ServerConnection`](reprise::ServerConnection) on `config` and a handler from `factory`. A config that could
    /// serve no handshake ([`ServerConfig::validate`]) is refused with
    /// [`io::ErrorKind::InvalidInput`].
    pub fn start<F: HandlerFactory>(
        addr: SocketAddr,
        config: Arc<ServerConfig>,
        factory: Arc<F>,
        options: ServerOptions,
    ) -> io::Result<Server> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let workers = options.workers.max(1);
        let listeners = bind_listeners(addr, &options)?;
        let addr = listeners[0].local_addr()?;
        let mut polls = Vec::with_capacity(workers);
        let mut wakers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let poll = Poll::new()?;
            wakers.push(Arc::new(PollWaker(Waker::new(poll.registry(), WAKER)?)));
            polls.push(poll);
        }
        let shared = Workers::new(wakers);
        let signer = SignerPool::for_options(&options)?;
        let mut threads = Vec::with_capacity(workers);
        for (id, (poll, listener)) in polls.into_iter().zip(listeners).enumerate() {
            let worker = Worker::new(
                poll,
                TcpListener::from_std(listener),
                config.clone(),
                factory.clone(),
                options.clone(),
                shared.clone(),
                (shared.wakers[id].clone(), signer.clone()),
            )?;
            let handle = std::thread::Builder::new()
                .name(format!("mio-worker-{id}"))
                .spawn(move || worker.run());
            match handle {
                Ok(h) => threads.push(h),
                Err(e) => {
                    ShutdownHandle::new(shared.clone()).shutdown();
                    return Err(e);
                }
            }
        }
        Ok(Server {
            addr,
            shared,
            threads,
        })
    }

    /// The address the workers listen on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that shuts the server down.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::new(self.shared.clone())
    }

    /// Waits for every worker to return (after a shutdown); the first worker error, if any.
    pub fn join(self) -> io::Result<()> {
        join_workers(self.threads)
    }
}

/// The mio driver, for code written for any driver ([`reprise_serve::Driver`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Mio;

impl reprise_serve::Driver for Mio {
    type Server = Server;

    fn start<F: HandlerFactory>(
        addr: SocketAddr,
        config: Arc<ServerConfig>,
        factory: Arc<F>,
        options: ServerOptions,
    ) -> io::Result<Server> {
        Server::start(addr, config, factory, options)
    }
}

impl reprise_serve::Running for Server {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::new(self.shared.clone())
    }

    fn join(self) -> io::Result<()> {
        join_workers(self.threads)
    }
}

/// One accepted connection: its socket, its served connection, and the bytes of an
/// unfinished record.
struct Conn<H> {
    sock: TcpStream,
    served: Served<H>,
    /// The bytes of an unfinished record, sized to what arrived (empty, with no allocation,
    /// the rest of the time).
    held: Vec<u8>,
    /// Registered for writable events.
    writable: bool,
    /// The poller reported the peer's FIN: read until EOF rather than stop at a short read.
    read_closed: bool,
    /// The last read found the client socket empty: with edge-triggered readiness nothing
    /// more comes before its next event, so a turn run for the upstream (or an answer)
    /// skips the read that would only say EAGAIN.
    client_drained: bool,
    /// The peer's address, for the failure log.
    peer: SocketAddr,
    /// The upstream socket, when the handler is an upstream that connected.
    upstream: Option<UpstreamSocket>,
    /// The upstream socket had an event since it was last looked at.
    upstream_event: bool,
    /// The poller reported the upstream's FIN: read it to the end rather than stop at a
    /// short read.
    upstream_read_closed: bool,
}

/// An upstream's socket (TCP or UNIX).
enum UpstreamSocket {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

impl UpstreamSocket {
    fn connect(addr: &UpstreamAddr) -> io::Result<Self> {
        match addr {
            UpstreamAddr::Tcp(addr) => mio::net::TcpStream::connect(*addr).map(Self::Tcp),
            UpstreamAddr::Unix(path) => mio::net::UnixStream::connect(path).map(Self::Unix),
        }
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Self::Tcp(s) => s,
            Self::Unix(s) => s,
        }
    }

    /// After the first event of a connecting socket: the connect's error, if it failed (one
    /// `getsockopt(SO_ERROR)`; the event itself says the connect is over).
    fn connect_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Self::Tcp(s) => s.take_error(),
            Self::Unix(s) => s.take_error(),
        }
    }

    /// Makes the coming close a reset (SO_LINGER 0) where the socket has one (TCP).
    fn reset(&self) {
        if let Self::Tcp(s) = self {
            let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
        }
    }

    fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Self::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => sys::recv(&*s, buf),
            Self::Unix(s) => sys::recv(&*s, buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => sys::send(&*s, buf),
            Self::Unix(s) => sys::send(&*s, buf),
        }
    }
}

/// What every connection of a worker shares (split from the slab for the borrow checker).
struct Ctx<F: HandlerFactory> {
    registry: Registry,
    buffers: Recycler,
    /// Where client bytes are read (and decrypted in place) before the connection takes them.
    read_scratch: Vec<u8>,
    /// Where upstream bytes are read before the stream takes them.
    upstream_scratch: Vec<u8>,
    env: Env<PollWaker>,
    factory: Arc<F>,
    shared: Arc<Shared>,
}

struct Worker<F: HandlerFactory> {
    poll: Poll,
    listener: Option<TcpListener>,
    conns: Slab<Conn<F::Handler>>,
    ctx: Ctx<F>,
    answers: Receiver<Answer>,
    next_generation: u32,
    /// Accept hit an error (e.g. out of descriptors): retry at the next sweep.
    accept_again: bool,
    /// The last accept stopped at its batch with connections still waiting: accept more
    /// after serving this turn's events (the listener raises no new edge for them).
    accept_more: bool,
    drain_deadline: Option<Instant>,
}

impl<F: HandlerFactory> Worker<F> {
    fn new(
        poll: Poll,
        mut listener: TcpListener,
        config: Arc<ServerConfig>,
        factory: Arc<F>,
        options: ServerOptions,
        shared: Arc<Shared>,
        (waker, signer): (Arc<PollWaker>, Option<SignerPool>),
    ) -> io::Result<Self> {
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let registry = poll.registry().try_clone()?;
        let (mailbox, answers) = Mailbox::new(waker);
        Ok(Self {
            poll,
            listener: Some(listener),
            conns: Slab::with_capacity(1024),
            ctx: Ctx {
                registry,
                buffers: Recycler::new(options.pooled_buffers),
                read_scratch: vec![0; READ_BUFFER_SIZE],
                upstream_scratch: vec![0; 16 * 1024],
                env: Env::new(config, options, signer, mailbox),
                factory,
                shared,
            },
            answers,
            next_generation: 0,
            accept_again: false,
            accept_more: false,
            drain_deadline: None,
        })
    }

    fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let tick = self.ctx.env.options.timer_tick();
        let mut next_sweep = Instant::now() + tick;
        loop {
            let timeout = if self.accept_more {
                Duration::ZERO
            } else {
                next_sweep.saturating_duration_since(Instant::now())
            };
            // Busy (the last poll brought several events): let a batch gather for a few tens
            // of µs before polling again, so one wake-up serves many connections. Idle: poll
            // (and sleep in it) at once.
            let batch_wait = self.ctx.env.options.batch_wait.unwrap_or(BATCH_WAIT);
            let_batch_gather(&events, batch_wait, Some(timeout));
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            self.ctx.env.tick();
            // Connections left waiting by the last turn's accept batch, now that the events
            // of those it took have been polled.
            let waiting = std::mem::take(&mut self.accept_more);
            let mut accepted = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => {
                        accepted = true;
                        self.accept();
                    }
                    WAKER => {}
                    Token(t) => {
                        let upstream = (t - FIRST_CONN) % 2 == 1;
                        self.ready((t - FIRST_CONN) / 2, upstream, event.is_read_closed());
                    }
                }
            }
            if waiting && !accepted {
                self.accept();
            }
            self.take_answers();
            if self.ctx.shared.stopping() && self.drain_deadline.is_none() {
                self.begin_drain();
                next_sweep = next_sweep.min(self.ctx.env.now + DRAIN_TICK);
            }
            if self.ctx.env.now >= next_sweep {
                self.sweep();
                next_sweep = self.ctx.env.now
                    + if self.drain_deadline.is_some() {
                        tick.min(DRAIN_TICK)
                    } else {
                        tick
                    };
                if self.accept_again {
                    self.accept();
                }
            }
            if let Some(deadline) = self.drain_deadline {
                if self.conns.is_empty() || self.ctx.env.now >= deadline {
                    break;
                }
            }
        }
        let now = self.ctx.env.now;
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.served.on_grace_over(now, &self.ctx.env.options);
            }
            self.remove(key);
        }
        Ok(())
    }

    fn accept(&mut self) {
        self.accept_again = false;
        self.accept_more = false;
        for _ in 0..ACCEPT_BATCH {
            let Some(listener) = &self.listener else {
                return;
            };
            match sys::accept(listener) {
                Ok((mut sock, peer)) => {
                    let limit = self.ctx.env.options.max_connections;
                    if !self.ctx.shared.admit(limit) {
                        // Over the limit: accepted only to be closed, so the backlog does not
                        // fill with connections that would wait for nothing.
                        refused(&self.ctx.env, Some(peer));
                        drop(sock);
                        continue;
                    }
                    if !cfg!(target_os = "linux") {
                        let _ = sock.set_nodelay(true);
                    }
                    let entry = self.conns.vacant_entry();
                    let key = entry.key();
                    if self
                        .ctx
                        .registry
                        .register(&mut sock, client_token(key), Interest::READABLE)
                        .is_err()
                    {
                        self.ctx.shared.release();
                        continue;
                    }
                    self.next_generation = (self.next_generation + 1) & 0xff_ffff;
                    let id = ConnId {
                        key,
                        generation: self.next_generation,
                    };
                    let tls = self.ctx.buffers.new_connection(&self.ctx.env.config);
                    let mut served = Served::new(
                        id,
                        tls,
                        self.ctx.factory.new_handler(),
                        &self.ctx.env.options,
                        self.ctx.env.now,
                    );
                    let app = served.app_mut();
                    if app.wants_addresses() {
                        app.on_addresses(Some(peer), sock.local_addr().ok());
                    }
                    entry.insert(Conn {
                        sock,
                        served,
                        held: Vec::new(),
                        writable: false,
                        read_closed: false,
                        client_drained: false,
                        peer,
                        upstream: None,
                        upstream_event: false,
                        upstream_read_closed: false,
                    });
                    if let Some(m) = &self.ctx.env.config.metrics {
                        m.connection_opened();
                    }
                    // Registration reports data that is already there, so the ClientHello
                    // is read at the next poll.
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(_) => {
                    // EMFILE, ENFILE, ENOBUFS: try again at the next sweep.
                    self.accept_again = true;
                    return;
                }
            }
        }
        // The batch is used up: connections may still wait.
        self.accept_more = true;
    }

    fn ready(&mut self, key: usize, upstream: bool, read_closed: bool) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        // (An upstream socket's events only make the connection run: its end of stream shows
        // as the end of file it reads.)
        if upstream {
            conn.upstream_event = true;
            conn.upstream_read_closed |= read_closed;
        } else {
            conn.read_closed |= read_closed;
            conn.client_drained = false;
        }
        if service(&mut self.ctx, key, conn) {
            self.remove(key);
        }
    }

    fn take_answers(&mut self) {
        while let Ok(Answer { to, reply }) = self.answers.try_recv() {
            let Some(conn) = self.conns.get_mut(to.key) else {
                continue;
            };
            if conn.served.id() != to {
                continue;
            }
            conn.served.on_reply(reply, &mut self.ctx.env);
            if service(&mut self.ctx, to.key, conn) {
                self.remove(to.key);
            }
        }
    }

    fn begin_drain(&mut self) {
        self.drain_deadline = Some(self.ctx.env.now + self.ctx.env.options.shutdown_grace);
        if let Some(mut listener) = self.listener.take() {
            let _ = self.ctx.registry.deregister(&mut listener);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.served.on_shutdown(&mut self.ctx.env);
                if service(&mut self.ctx, key, conn) {
                    self.remove(key);
                }
            }
        }
    }

    fn sweep(&mut self) {
        let now = self.ctx.env.now;
        if let Some(log) = &self.ctx.env.options.failure_log {
            log.tick(now);
        }
        // Unfinished handshakes within their memory cap, the oldest closed first.
        let unfinished = self
            .conns
            .iter()
            .filter(|(_, c)| c.served.is_handshaking())
            .map(|(k, c)| {
                let held = c.held.capacity() + c.served.tls().handshake_bytes_held();
                (held, c.served.id().generation, k)
            })
            .collect();
        for key in evictions(unfinished, self.ctx.env.options.handshake_memory) {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.served.on_evicted(now, &self.ctx.env.options);
            }
            self.remove(key);
        }
        let expired: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.served.deadline() <= now)
            .map(|(k, _)| k)
            .collect();
        for key in expired {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.served.on_timer(&mut self.ctx.env);
                if !conn.served.is_closed() {
                    // Not over (its upstream failed to connect, say): it has output now.
                    if service(&mut self.ctx, key, conn) {
                        self.remove(key);
                    }
                    continue;
                }
                // A goodbye it queued goes if the socket takes it at once.
                let _ = write_out(conn);
            }
            self.remove(key);
        }
    }

    fn remove(&mut self, key: usize) {
        let Some(mut conn) = self.conns.try_remove(key) else {
            return;
        };
        conn.served.forget_memory(&mut self.ctx.env);
        conn.served
            .log_end(&self.ctx.env.options, Some(conn.peer), self.ctx.env.now);
        // Dropping the socket closes its descriptor, which also removes it from the epoll
        // set: no deregister syscall needed.
        let Conn {
            sock,
            served,
            upstream,
            ..
        } = conn;
        drop(sock);
        let (tls, mut app) = served.into_parts();
        if let Some(upstream) = upstream {
            if app.upstream().is_some_and(|b| b.resets_on_close()) {
                // Cut off mid-stream: a reset, so the upstream cannot take it for the end.
                upstream.reset();
            }
        }
        self.ctx.buffers.recycle(tls);
        self.ctx.shared.release();
        if let Some(m) = &self.ctx.env.config.metrics {
            m.connection_closed();
        }
    }
}

/// Counts and logs a connection refused at the connection limit.
fn refused(env: &Env<PollWaker>, peer: Option<SocketAddr>) {
    if let Some(m) = &env.config.metrics {
        m.connection_refused();
    }
    if let Some(log) = &env.options.failure_log {
        log.refused(env.now, peer, env.options.max_connections);
    }
}

/// Writes as much pending output as the socket takes. `Ok(true)` when all of it went.
fn write_out<H: Handler>(conn: &mut Conn<H>) -> io::Result<bool> {
    while conn.served.wants_write() {
        match sys::send(&conn.sock, conn.served.output()) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => conn.served.on_written(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Offers the bytes buffered for `conn` to its served connection and keeps the rest (an
/// unfinished record).
fn feed_held<F: HandlerFactory>(ctx: &mut Ctx<F>, conn: &mut Conn<F::Handler>) {
    if conn.held.is_empty() {
        return;
    }
    let consumed = conn.served.on_input(&mut conn.held, &mut ctx.env);
    conn.held.drain(..consumed);
    if conn.held.is_empty() {
        // Nothing held: no memory held either.
        conn.held = Vec::new();
    }
}

/// Carries out what the served connection asks until the socket would block: reads while it
/// wants input, writes what it has to send, and keeps the poll interest in step. Returns
/// true when the connection is over and must be dropped.
fn service<F: HandlerFactory>(ctx: &mut Ctx<F>, key: usize, conn: &mut Conn<F::Handler>) -> bool {
    loop {
        // Read while the connection wants input and the socket has some.
        let mut socket_empty = false;
        loop {
            feed_held(ctx, conn);
            if !conn.served.wants_read(0, &ctx.env.options) {
                break;
            }
            if conn.held.len() >= READ_BUFFER_SIZE {
                // Cannot happen: the engine takes every whole record (or fails), and an
                // unfinished record is shorter than this. End the connection rather than spin.
                conn.served
                    .on_socket_error(io::ErrorKind::InvalidData, ctx.env.now);
                break;
            }
            if conn.client_drained {
                socket_empty = true;
                break;
            }
            // Read into the worker's buffer: whole records are decrypted where they lie, and
            // only the tail of an unfinished one is kept with the connection.
            let scratch = &mut ctx.read_scratch;
            let room = scratch.len();
            match sys::recv(&conn.sock, scratch) {
                Ok(0) => {
                    conn.served.on_eof(&mut ctx.env);
                    socket_empty = true;
                }
                Ok(n) => {
                    if conn.held.is_empty() {
                        let consumed = conn.served.on_input(&mut scratch[..n], &mut ctx.env);
                        reprise_serve::buffers::hold(&mut conn.held, &scratch[consumed..n]);
                    } else {
                        reprise_serve::buffers::hold(&mut conn.held, &scratch[..n]);
                        feed_held(ctx, conn);
                    }
                    // A short read emptied the socket: with edge-triggered readiness, bytes
                    // that arrive later raise a new event, so skip the read that would say
                    // EAGAIN.
                    if n < room && !conn.read_closed {
                        socket_empty = true;
                        conn.client_drained = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    socket_empty = true;
                    conn.client_drained = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    conn.served.on_socket_error(e.kind(), ctx.env.now);
                    break;
                }
            }
        }
        // An unfinished handshake past its allowance grows only within the worker's cap.
        conn.served
            .account_memory(conn.held.capacity(), &mut ctx.env);
        // Write what there is; once all of it went, the connection may produce more (or,
        // closing, be over).
        let flushed = loop {
            match write_out(conn) {
                Ok(true) => {
                    conn.served.on_drained(&mut ctx.env);
                    if !conn.served.wants_write() {
                        break true;
                    }
                }
                Ok(false) => break false,
                Err(e) => {
                    conn.served.on_socket_error(e.kind(), ctx.env.now);
                    break false;
                }
            }
        };
        if conn.served.is_closed() {
            return true;
        }
        if conn.served.wants_shutdown_write() {
            // Our fatal alert has left: the FIN follows it at once, and what the peer still
            // sends is read and dropped until its own end of stream (or the linger ends).
            let _ = conn.sock.shutdown(std::net::Shutdown::Write);
            conn.served.on_write_shut();
        }
        // The upstream: connect, write, read; if it moved, the connection may have more to
        // send (or be done).
        if move_upstream(ctx, key, conn) && !conn.served.is_closed() {
            continue;
        }
        if conn.served.is_closed() {
            return true;
        }
        // Output drained and more input wanted, with bytes perhaps still in the socket
        // (reading stopped for back-pressure): read on.
        if flushed && !socket_empty && conn.served.wants_read(0, &ctx.env.options) {
            continue;
        }
        let want_write = !flushed;
        if want_write != conn.writable {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if ctx
                .registry
                .reregister(&mut conn.sock, client_token(key), interest)
                .is_err()
            {
                return true;
            }
            conn.writable = want_write;
        }
        return false;
    }
}

/// Carries out what an upstream asks: connect, write the client's bytes, shut the write
/// side, read while there is room, close. Returns true when anything moved (the served
/// connection was told, and may have output now).
fn move_upstream<F: HandlerFactory>(
    ctx: &mut Ctx<F>,
    key: usize,
    conn: &mut Conn<F::Handler>,
) -> bool {
    let now = ctx.env.now;
    let Some(stream) = conn.served.app_mut().upstream() else {
        return false;
    };
    let mut moved = false;
    if let Some(addr) = stream.wants_connect() {
        moved = true;
        match UpstreamSocket::connect(addr) {
            Ok(mut sock) => {
                let interest = Interest::READABLE | Interest::WRITABLE;
                match ctx
                    .registry
                    .register(sock.source(), upstream_token(key), interest)
                {
                    Ok(()) => {
                        stream.connecting(now);
                        conn.upstream = Some(sock);
                    }
                    Err(e) => stream.failed(UpstreamFailure::Connect(e.kind())),
                }
            }
            Err(e) => stream.failed(UpstreamFailure::Connect(e.kind())),
        }
    }
    if let Some(sock) = conn.upstream.as_mut() {
        let event = std::mem::take(&mut conn.upstream_event);
        if matches!(stream.state(), UpstreamState::Connecting(_)) && event {
            match sock.connect_error() {
                Ok(None) => stream.connected(),
                Ok(Some(e)) | Err(e) => stream.failed(UpstreamFailure::Connect(e.kind())),
            }
            moved = true;
        }
        if stream.state() == UpstreamState::Connected {
            while !stream.output().is_empty() {
                match sock.write(stream.output()) {
                    Ok(0) => {
                        stream.failed(UpstreamFailure::Io(io::ErrorKind::WriteZero));
                        break;
                    }
                    Ok(n) => {
                        stream.wrote(n);
                        moved = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        stream.failed(UpstreamFailure::Io(e.kind()));
                        break;
                    }
                }
            }
            if stream.wants_shutdown_write() {
                let _ = sock.shutdown_write();
                stream.write_shut();
                moved = true;
            }
            let scratch = &mut ctx.upstream_scratch;
            while stream.wants_read() {
                let room = stream.read_room().min(scratch.len());
                match sock.read(&mut scratch[..room]) {
                    Ok(0) => {
                        stream.received_eof();
                        moved = true;
                    }
                    Ok(n) => {
                        stream.received(&scratch[..n]);
                        moved = true;
                        // A short read emptied the socket (edge-triggered: more raises a new
                        // event), unless the upstream's FIN is known to be there.
                        if n < room && !conn.upstream_read_closed {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        stream.failed(UpstreamFailure::Io(e.kind()));
                        moved = true;
                    }
                }
            }
        }
        if stream.wants_close() || stream.state() == UpstreamState::Closed {
            // Dropping the socket closes it and takes it out of the poll.
            conn.upstream = None;
            stream.closed();
            moved = true;
        }
    }
    if moved {
        conn.served.on_app_progress(&mut ctx.env);
    }
    moved
}
