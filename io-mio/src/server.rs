//! The multi-core TLS server.
//!
//! Each worker thread runs its own event loop (`mio::Poll`) and owns its connections outright:
//! nothing is shared between workers on the hot path but the listening port, the connection
//! count and the engine's `Arc<ServerConfig>` (whose session cache and ticket keys are
//! themselves sharded or read-mostly).
//!
//! * **Listeners**: with [`ListenerMode::ReusePort`] (the default) every worker binds its own
//!   socket to the same address with `SO_REUSEPORT` and the kernel spreads new connections
//!   over them by a hash of the 4-tuple; no worker wakes for another's connection. With
//!   [`ListenerMode::Shared`] one listening socket is registered in every worker's poll; each
//!   readiness edge wakes every worker and the losers of the `accept` race see `WouldBlock`.
//! * **Connections** live in a slab indexed by the mio token.
//! * **Buffers**: a connection borrows a read buffer from its worker's pool only while it
//!   holds bytes that are not yet a whole record (or records held back during a suspended
//!   session lookup); an idle connection owns no read buffer. Output is written straight from
//!   the engine's record buffer (`pending_output` / `consume_output`), partial writes included.
//!   A finished connection's engine buffers ([`reprise::Buffers`]) go back to the worker for
//!   the next connection, so after warm-up a resumed handshake allocates nothing in the engine.
//! * **Backpressure**: while more than [`ServerOptions::max_pending_output`] bytes wait to be
//!   sent, the connection is not read (so a client that sends requests without reading the
//!   answers cannot make the server buffer without bound); reading resumes when the socket
//!   drains.
//! * **Batching under load**: when a poll returned several events, the worker sleeps
//!   [`ServerOptions::batch_wait`] (50 µs by default) before polling again, so the next poll
//!   brings a batch instead of waking for every packet (measured: 6-18 % less server CPU per
//!   resumed handshake at 10k handshakes/s); an idle worker polls at once.
//! * **Timers**: each connection carries one deadline (the handshake deadline, then the idle
//!   deadline, moved on every read). A periodic sweep, a few times per timeout period, drops the
//!   connections whose deadline passed: O(connections) per sweep and no per-read bookkeeping
//!   beyond one store.
//! * **Suspended lookups**: on `Event::NeedSession` the worker asks the store's
//!   [`fetch`](reprise::session::store::SessionStore::fetch) and keeps serving others; the
//!   answer comes back over a channel with a `Waker`, the connection gets it through
//!   `provide_session` and the records it held meanwhile are processed.
//! * **Shutdown** ([`ShutdownHandle::shutdown`], e.g. on SIGINT/SIGTERM): stop accepting, close
//!   idle connections with close_notify, let handshakes and requests in flight finish within
//!   [`ServerOptions::shutdown_grace`], then drop what is left and return.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use slab::Slab;

use reprise::{Buffers, ServerConfig, ServerConnection};
use reprise_serve::app::HandlerFactory;
use reprise_serve::failure_log::Ending;
use reprise_serve::listen::bind_listeners;
use reprise_serve::served::{feed, Feeder};
use reprise_serve::suspend::{Reply, ReplyTo, SignerPool};
pub use reprise_serve::workers::shutdown_on_signals;
use reprise_serve::workers::{join_workers, WakeWorker, Workers};
use reprise_serve::READ_BUFFER_SIZE;
use reprise_serve::{now_secs, ServerOptions, ShutdownHandle, MAX_RECYCLED_TLS_BUFFERS};

use crate::pool::BufferPool;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Connection tokens are slab keys shifted past the two fixed tokens.
const FIRST_CONN: usize = 2;
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
    /// [`ServerConnection`] on `config` and a handler from `factory`. A config that could
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

/// One accepted connection.
struct Conn<H> {
    sock: TcpStream,
    tls: ServerConnection,
    app: H,
    /// A pooled read buffer, held only while it has bytes in it.
    buf: Option<Vec<u8>>,
    filled: usize,
    /// Distinguishes this connection from a later one in the same slab slot (for answers to
    /// lookups that arrive after the connection went away).
    serial: u64,
    deadline: Instant,
    /// The handshake completed.
    open: bool,
    /// Close queued (close_notify or a fatal alert): flush, then drop.
    closing: bool,
    /// The peer closed its side of the TCP connection.
    eof: bool,
    /// Registered for writable events.
    writable: bool,
    /// The poller reported the peer's FIN: read until EOF rather than stop at a short read.
    read_closed: bool,
    /// The peer's address, for the failure log.
    peer: SocketAddr,
    /// The peer has sent at least one byte.
    heard: bool,
    /// A read or write failed.
    socket_error: Option<io::ErrorKind>,
}

/// An answer to a suspended lookup or signature, sent from whatever thread produced it.
struct Answer {
    key: usize,
    serial: u64,
    reply: Reply,
}

/// What every connection of a worker shares (split from the slab for the borrow checker).
struct Ctx<F: HandlerFactory> {
    registry: Registry,
    pool: BufferPool,
    /// The engine buffers of finished connections, for the next ones (no allocation per
    /// handshake after warm-up).
    tls_buffers: Vec<Buffers>,
    config: Arc<ServerConfig>,
    factory: Arc<F>,
    options: ServerOptions,
    answers: Sender<Answer>,
    waker: Arc<PollWaker>,
    signer: Option<SignerPool>,
    app_out: Vec<u8>,
    now: Instant,
    secs: u64,
    draining: bool,
}

struct Worker<F: HandlerFactory> {
    poll: Poll,
    listener: Option<TcpListener>,
    conns: Slab<Conn<F::Handler>>,
    ctx: Ctx<F>,
    shared: Arc<Shared>,
    answers: Receiver<Answer>,
    next_serial: u64,
    /// Accept hit an error (e.g. out of descriptors): retry at the next sweep.
    accept_again: bool,
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
        let (tx, rx) = channel();
        Ok(Self {
            poll,
            listener: Some(listener),
            conns: Slab::with_capacity(1024),
            ctx: Ctx {
                registry,
                pool: BufferPool::new(READ_BUFFER_SIZE, options.pooled_buffers),
                tls_buffers: Vec::new(),
                config,
                factory,
                options,
                answers: tx,
                waker,
                signer,
                app_out: Vec::with_capacity(4096),
                now: Instant::now(),
                secs: now_secs(),
                draining: false,
            },
            shared,
            answers: rx,
            next_serial: 0,
            accept_again: false,
            drain_deadline: None,
        })
    }

    fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let tick = self.ctx.options.timer_tick();
        let mut next_sweep = Instant::now() + tick;
        loop {
            let timeout = next_sweep.saturating_duration_since(Instant::now());
            // Busy (the last poll brought several events): let a batch gather for a few tens
            // of µs before polling again, so one wake-up serves many connections. Idle: poll
            // (and sleep in it) at once.
            let_batch_gather(&events, self.ctx.options.batch_wait, Some(timeout));
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            self.ctx.now = Instant::now();
            self.ctx.secs = now_secs();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(t) => self.ready(t - FIRST_CONN, event.is_read_closed()),
                }
            }
            self.take_answers();
            if self.shared.stop.load(Ordering::Relaxed) && self.drain_deadline.is_none() {
                self.begin_drain();
            }
            if self.ctx.now >= next_sweep {
                self.sweep();
                if let Some(log) = &self.ctx.options.failure_log {
                    log.tick(self.ctx.now);
                }
                next_sweep = self.ctx.now + tick;
                if self.accept_again {
                    self.accept();
                }
            }
            if let Some(deadline) = self.drain_deadline {
                if self.conns.is_empty() || self.ctx.now >= deadline {
                    break;
                }
            }
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.remove(key);
        }
        Ok(())
    }

    fn accept(&mut self) {
        self.accept_again = false;
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((mut sock, peer)) => {
                    let limit = self.ctx.options.max_connections;
                    if self.shared.open.fetch_add(1, Ordering::Relaxed) >= limit {
                        // Over the limit: accepted only to be closed, so the backlog does not
                        // fill with connections that would wait for nothing.
                        self.shared.open.fetch_sub(1, Ordering::Relaxed);
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
                        .register(&mut sock, Token(key + FIRST_CONN), Interest::READABLE)
                        .is_err()
                    {
                        self.shared.open.fetch_sub(1, Ordering::Relaxed);
                        continue;
                    }
                    self.next_serial += 1;
                    entry.insert(Conn {
                        sock,
                        tls: ServerConnection::with_buffers(
                            self.ctx.config.clone(),
                            self.ctx.tls_buffers.pop().unwrap_or_default(),
                        ),
                        app: self.ctx.factory.new_handler(),
                        buf: None,
                        filled: 0,
                        serial: self.next_serial,
                        deadline: self.ctx.now + self.ctx.options.handshake_timeout,
                        open: false,
                        closing: false,
                        eof: false,
                        writable: false,
                        read_closed: false,
                        peer,
                        heard: false,
                        socket_error: None,
                    });
                    if let Some(m) = &self.ctx.config.metrics {
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
    }

    fn ready(&mut self, key: usize, read_closed: bool) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        conn.read_closed |= read_closed;
        if service(&mut self.ctx, key, conn) {
            self.remove(key);
        }
    }

    fn take_answers(&mut self) {
        while let Ok(answer) = self.answers.try_recv() {
            let Some(conn) = self.conns.get_mut(answer.key) else {
                continue;
            };
            if conn.serial != answer.serial || !conn.tls.is_suspended() {
                continue;
            }
            let provided = match answer.reply {
                Reply::Session(lookup) => conn.tls.provide_session(lookup),
                Reply::Signature(signature) => conn.tls.provide_signature(signature),
            };
            if provided.is_err() {
                conn.closing = true;
            }
            if service(&mut self.ctx, answer.key, conn) {
                self.remove(answer.key);
            }
        }
    }

    fn begin_drain(&mut self) {
        self.ctx.draining = true;
        self.drain_deadline = Some(self.ctx.now + self.ctx.options.shutdown_grace);
        if let Some(mut listener) = self.listener.take() {
            let _ = self.ctx.registry.deregister(&mut listener);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(conn) = self.conns.get_mut(key) {
                if service(&mut self.ctx, key, conn) {
                    self.remove(key);
                }
            }
        }
    }

    fn sweep(&mut self) {
        let now = self.ctx.now;
        let expired: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline <= now)
            .map(|(k, _)| k)
            .collect();
        for key in expired {
            if let Some(conn) = self.conns.get_mut(key) {
                if conn.open && !conn.closing {
                    // Idle too long: say goodbye properly if the socket takes it at once.
                    conn.tls.close();
                    let _ = flush(conn);
                }
            }
            self.remove(key);
        }
    }

    fn remove(&mut self, key: usize) {
        let Some(mut conn) = self.conns.try_remove(key) else {
            return;
        };
        if let Some(log) = &self.ctx.options.failure_log {
            let ending = Ending {
                tls: &conn.tls,
                open: conn.open,
                heard: conn.heard,
                eof: conn.eof,
                expired: conn.deadline <= self.ctx.now,
                socket_error: conn.socket_error,
                draining: self.ctx.draining,
            };
            if let Some((failure, after_handshake)) = ending.failure() {
                log.report(self.ctx.now, Some(conn.peer), &failure, after_handshake);
            }
        }
        if let Some(buf) = conn.buf.take() {
            self.ctx.pool.give(buf);
        }
        // Dropping the socket closes its descriptor, which also removes it from the epoll
        // set: no deregister syscall needed.
        let Conn { sock, tls, .. } = conn;
        drop(sock);
        let buffers = tls.into_buffers();
        if self.ctx.tls_buffers.len() < self.ctx.options.pooled_buffers
            && buffers.capacity_bytes() <= MAX_RECYCLED_TLS_BUFFERS
        {
            self.ctx.tls_buffers.push(buffers);
        }
        self.shared.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(m) = &self.ctx.config.metrics {
            m.connection_closed();
        }
    }
}

/// Writes as much pending output as the socket takes. `Ok(true)` when all of it went.
fn flush<H>(conn: &mut Conn<H>) -> io::Result<bool> {
    while conn.tls.wants_transmit() {
        match conn.sock.write(conn.tls.pending_output()) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => conn.tls.consume_output(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Feeds the whole records buffered for `conn` to the engine ([`feed`]) and keeps the rest.
/// `Err` when the connection failed (the alert is queued).
fn process<F: HandlerFactory>(
    ctx: &mut Ctx<F>,
    key: usize,
    conn: &mut Conn<F::Handler>,
) -> Result<(), ()> {
    let Some(buf) = conn.buf.as_mut() else {
        return Ok(());
    };
    let serial = conn.serial;
    let (answers, waker) = (&ctx.answers, &ctx.waker);
    let mut env = Feeder {
        config: &ctx.config,
        signer: ctx.signer.as_ref(),
        now_secs: ctx.secs,
        app_out: &mut ctx.app_out,
    };
    let fed = feed(
        &mut conn.tls,
        &mut conn.app,
        &mut buf[..conn.filled],
        &mut conn.closing,
        &mut env,
        || reply_to(answers, waker, key, serial),
    );
    if fed.opened {
        conn.open = true;
        conn.deadline = ctx.now + ctx.options.idle_timeout;
    }
    if fed.consumed > 0 {
        buf.copy_within(fed.consumed..conn.filled, 0);
        conn.filled -= fed.consumed;
    }
    if fed.failed {
        Err(())
    } else {
        Ok(())
    }
}

/// Where the answer for connection `key` (while it is `serial`) goes: the worker's channel,
/// and a wake-up.
fn reply_to(answers: &Sender<Answer>, waker: &Arc<PollWaker>, key: usize, serial: u64) -> ReplyTo {
    let (tx, waker) = (answers.clone(), waker.clone());
    Box::new(move |reply| {
        let _ = tx.send(Answer { key, serial, reply });
        waker.wake_worker();
    })
}

/// Reads, processes and writes until the socket would block (or the connection must wait
/// for a lookup, or for its output to drain). Returns true when the connection is finished
/// and must be dropped.
fn service<F: HandlerFactory>(ctx: &mut Ctx<F>, key: usize, conn: &mut Conn<F::Handler>) -> bool {
    let mut drained = false;
    loop {
        if process(ctx, key, conn).is_err() {
            conn.closing = true;
        }
        if conn.closing || conn.eof || conn.tls.is_suspended() || drained {
            break;
        }
        if conn.tls.pending_output().len() >= ctx.options.max_pending_output {
            match flush(conn) {
                Err(e) => {
                    conn.socket_error = Some(e.kind());
                    return true;
                }
                Ok(true) => {}
                // Backpressure: no more reading until the peer reads what we owe it.
                Ok(false) => break,
            }
        }
        let buf = conn.buf.get_or_insert_with(|| ctx.pool.take());
        if conn.filled == buf.len() {
            // Cannot happen: the buffer holds the largest record and the engine consumes
            // every whole record (or fails). Drop the connection rather than spin.
            return true;
        }
        let room = buf.len() - conn.filled;
        match conn.sock.read(&mut buf[conn.filled..]) {
            Ok(0) => conn.eof = true,
            Ok(n) => {
                // A short read emptied the socket: with edge-triggered readiness, bytes that
                // arrive later raise a new event, so skip the read that would say EAGAIN.
                drained = n < room && !conn.read_closed;
                conn.filled += n;
                conn.heard = true;
                if conn.open {
                    conn.deadline = ctx.now + ctx.options.idle_timeout;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                conn.socket_error = Some(e.kind());
                return true;
            }
        }
    }
    if conn.filled == 0 {
        if let Some(buf) = conn.buf.take() {
            ctx.pool.give(buf);
        }
    }
    if conn.eof && !conn.closing {
        // The peer will send nothing more. A handshake can no longer finish; an open
        // connection gets our close_notify after whatever it is still owed.
        if conn.tls.is_handshaking() {
            return true;
        }
        conn.tls.close();
        conn.closing = true;
    }
    if ctx.draining && conn.open && !conn.closing && conn.filled == 0 && !conn.tls.wants_transmit()
    {
        // Shutting down: an established connection with nothing in flight is told goodbye.
        conn.tls.close();
        conn.closing = true;
    }
    let flushed = match flush(conn) {
        Ok(done) => done,
        Err(e) => {
            conn.socket_error = Some(e.kind());
            return true;
        }
    };
    if conn.closing {
        if flushed {
            // Everything said: dropping the socket sends the FIN.
            return true;
        }
        // Give the peer a bounded time to take the rest.
        let bound = ctx.now + ctx.options.handshake_timeout;
        if conn.deadline > bound {
            conn.deadline = bound;
        }
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
            .reregister(&mut conn.sock, Token(key + FIRST_CONN), interest)
            .is_err()
        {
            return true;
        }
        conn.writable = want_write;
    }
    false
}
