//! The multi-core TLS server on io_uring.
//!
//! Each worker thread owns one ring and its connections outright; like the mio server, nothing
//! is shared between workers on the hot path but the listening port, the connection count and
//! the engine's `Arc<ServerConfig>`.
//!
//! * **Listeners**: with [`ListenerMode::ReusePort`](crate::ListenerMode::ReusePort) every worker has its own `SO_REUSEPORT`
//!   socket; with [`ListenerMode::Shared`](crate::ListenerMode::Shared) all workers arm an accept on one socket. Either way
//!   one *multishot accept* per worker posts a completion per new connection, without a
//!   syscall. `TCP_NODELAY` is set on the listener; accepted sockets inherit it.
//! * **Direct descriptors**: each worker registers a sparse file table with its ring and the
//!   accept puts each connection in a free slot of it (`IORING_FILE_INDEX_ALLOC`); receives,
//!   sends and the close name the slot (`types::Fixed`). No descriptor is installed in the
//!   process's table, and no operation looks one up. The table is sized from the connection
//!   limit within `RLIMIT_NOFILE`; if it cannot be registered, plain descriptors are used.
//! * **Receiving**: the receive draws from the worker's provided-buffer ring (`BufRing`).
//!   While the handshake runs it is *single-shot*: each client flight answers the server's,
//!   so one receive per flight is armed, waiting for readiness first
//!   (`IORING_RECVSEND_POLL_FIRST`: the flight is not there yet when its receive is armed),
//!   and none is left armed when the handshake's last flight
//!   ends the connection: no completion for the peer's FIN, no cancel. Once the connection is
//!   open it is a *multishot receive* that stays armed. When the connection holds no partial
//!   record, the engine decrypts straight in the kernel-filled buffer (no copy); only the tail
//!   of a record that is not whole yet is copied into a per-connection buffer sized to what
//!   arrived. The buffer goes back to the ring right after.
//! * **Sending**: pending records are moved from the engine into a driver-owned send buffer
//!   that is neither touched nor freed until the send's completion (a partial send continues
//!   from where it stopped); meanwhile the engine queues further output, sent next.
//! * **Reuse**: send buffers and the engine's own buffers ([`reprise::Buffers`]) of closed
//!   connections are pooled per worker and given to new ones, as in the mio server: after
//!   warm-up a resumed handshake allocates no engine buffer.
//! * **Batching**: every operation of a loop turn (receives, sends, cancels, closes) goes to
//!   the kernel in the single `io_uring_enter` that also waits for the next completions, and
//!   a busy worker's wait returns every completion that arrived while it worked: under load
//!   one wake-up serves many connections by itself. With [`ServerOptions::batch_wait`] set
//!   (unset: [`BATCH_WAIT`], none), a busy worker also submits the turn's operations at once
//!   and sleeps that long before the wait, as the mio worker sleeps before polling; an idle
//!   worker never sleeps. The design notes say when that paid and when it stopped paying.
//! * **Backpressure**: while more than [`ServerOptions::max_pending_output`] bytes wait to be
//!   sent, the connection's receive is cancelled; it is armed again when the output drains.
//! * **Timers**: a timer wheel (module `timer`) of the handshake deadline, then the idle
//!   deadline; moving a deadline on a read costs one store.
//! * **Suspended lookups and signatures**: as in the mio server, through
//!   [`SessionStore::fetch`](reprise::session::SessionStore::fetch), and with
//!   `ServerConfig::offload_signing` on the signer threads of
//!   [`ServerOptions::sign_workers`] (shared with the mio driver); the answer comes over a
//!   channel, with an `eventfd` write that a multishot poll on the ring turns into a
//!   completion.
//! * **Closing**: a connection's in-flight receive (and send), if any, is cancelled by
//!   `user_data`; its slot, buffers and descriptor are released only when the last of its
//!   operations has completed, and the descriptor is then closed by a `close` operation in the
//!   next batch. Cancels and closes are flagged `IOSQE_CQE_SKIP_SUCCESS`: they post a
//!   completion only when they fail.
//! * **Shutdown** ([`ShutdownHandle::shutdown`]): stop accepting, close idle connections with
//!   close_notify, let work in flight finish within [`ServerOptions::shutdown_grace`], then
//!   cancel everything, wait (bounded) until the kernel has returned every buffer, and return.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types};
use slab::Slab;

use reprise::ServerConfig;
use reprise_serve::app::{Handler, HandlerFactory};
use reprise_serve::buffers::Recycler;
use reprise_serve::failure_log::Failure;
use reprise_serve::options::DRAIN_TICK;
use reprise_serve::served::{evictions, ConnId, Env, Phase, Served};
use reprise_serve::suspend::{Answer, Mailbox, SignerPool};
use reprise_serve::upstream::{UpstreamAddr, UpstreamFailure, UpstreamState};
use reprise_serve::workers::{WakeWorker, Workers};
use reprise_serve::READ_BUFFER_SIZE;

use crate::bufring::BufRing;
use crate::ring::{tag, untag, Completion, Op, Ring};
use crate::timer::{Entry, Wheel};
use crate::ServerOptions;

/// Submission queue entries per ring.
pub const RING_ENTRIES: u32 = 1024;
/// Completion queue size as a multiple of the submission queue.
pub const CQ_FACTOR: u32 = 8;
/// Provided receive buffers per worker. A handshake flight fits one buffer; larger records
/// arrive over several and are gathered in a per-connection buffer.
pub const RECV_BUFFERS: u16 = 1024;
/// The size of each provided receive buffer.
pub const RECV_BUFFER_SIZE: usize = 4096;
/// A connection holds at most a whole record plus one more receive.
const HELD_LIMIT: usize = READ_BUFFER_SIZE + RECV_BUFFER_SIZE;
/// Buffer group id of the provided-buffer ring (one ring per worker ring).
pub const BUFFER_GROUP: u16 = 0;
/// `IORING_RECVSEND_POLL_FIRST` (5.19), in a receive's `ioprio`.
pub const POLL_FIRST: u16 = 1;
/// The uring worker's batch wait when [`ServerOptions::batch_wait`] leaves it to the driver:
/// none. A busy worker's wait returns every completion that arrived while it worked, and
/// sleeping first cost more than it saved on the hosts measured (design notes).
pub const BATCH_WAIT: Duration = Duration::ZERO;
/// Most direct descriptors a worker registers (its file table is also bounded by
/// `RLIMIT_NOFILE` and sized from the connection limit).
const MAX_FIXED_FILES: usize = 1 << 16;
/// Slots past the connection limit: connections over the limit are accepted to be closed, and
/// a closed connection's slot is free only once its close has run.
const FIXED_FILES_SLACK: usize = 256;
/// Slots of the timer wheel.
const WHEEL_SLOTS: usize = 256;
/// How long a stopping worker waits for the kernel to give back every buffer.
pub const QUIESCE_LIMIT: Duration = Duration::from_secs(2);

/// Size of a worker's table of direct descriptors: its share of the connection limit can be
/// all of it, plus slack, within `RLIMIT_NOFILE` (the kernel refuses a larger table).
fn fixed_files(options: &ServerOptions) -> u32 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes one `rlimit` into a live local.
    let nofile = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    };
    let want = options
        .max_connections
        .saturating_add(FIXED_FILES_SLACK)
        .min(MAX_FIXED_FILES);
    want.min(nofile).max(1) as u32
}

/// An `eventfd` that wakes a worker from its wait.
struct WakeFd(OwnedFd);

impl WakeFd {
    fn new() -> io::Result<WakeFd> {
        // SAFETY: eventfd(2) takes no pointers; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(WakeFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local; the descriptor is owned by `self`.
        let _ = unsafe {
            libc::write(
                self.0.as_raw_fd(),
                std::ptr::addr_of!(one).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    fn clear(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live local; non-blocking descriptor we own.
        let _ = unsafe {
            libc::read(
                self.0.as_raw_fd(),
                std::ptr::addr_of_mut!(value).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }
}

impl WakeWorker for WakeFd {
    fn wake_worker(&self) {
        self.wake();
    }
}

type Shared = Workers<WakeFd>;

pub use reprise_serve::workers::shutdown_on_signals;
pub use reprise_serve::ShutdownHandle;

/// A running server: its workers and their listening address.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl Server {
    /// Binds `addr` and starts the workers. Each accepted connection runs a
    /// [`ServerConnection`](reprise::ServerConnection) on `config` and a handler from `factory`. A config that could
    /// serve no handshake ([`ServerConfig::validate`]) is refused with
    /// [`io::ErrorKind::InvalidInput`].
    ///
    /// Fails with [`io::ErrorKind::Unsupported`] and the cause (see [`crate::probe()`]) when
    /// io_uring cannot be used here.
    pub fn start<F: HandlerFactory>(
        addr: SocketAddr,
        config: Arc<ServerConfig>,
        factory: Arc<F>,
        options: ServerOptions,
    ) -> io::Result<Server> {
        crate::probe()?;
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut options = options;
        if factory.new_handler().wants_addresses() || options.access_log.is_some() {
            // A direct descriptor has no getpeername/getsockname: handlers that need the
            // client's addresses (a PROXY protocol header), and an access log naming every
            // client, get plain descriptors.
            options.direct_descriptors = false;
        }
        let workers = options.workers.max(1);
        // The same listening sockets as the mio server's (non-blocking: a multishot accept
        // arms a poll when the backlog is empty).
        let listeners = reprise_serve::listen::bind_listeners(addr, &options)?;
        let addr = listeners[0].local_addr()?;
        let wakers = (0..workers)
            .map(|_| WakeFd::new().map(Arc::new))
            .collect::<io::Result<Vec<_>>>()?;
        let shared = Workers::new(wakers);
        let signer = SignerPool::for_options(&options)?;
        let handle = ShutdownHandle::new(shared.clone());
        let (ready_tx, ready_rx) = channel::<io::Result<()>>();
        let mut threads = Vec::with_capacity(workers);
        for (id, listener) in listeners.into_iter().enumerate() {
            let (config, factory, options, shared, signer) = (
                config.clone(),
                factory.clone(),
                options.clone(),
                shared.clone(),
                signer.clone(),
            );
            let ready = ready_tx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("uring-worker-{id}"))
                .spawn(move || {
                    // The ring is made on its own thread: it is single-issuer.
                    let worker =
                        Worker::new(id, listener, config, factory, options, shared, signer);
                    match worker {
                        Ok(w) => {
                            let _ = ready.send(Ok(()));
                            w.run()
                        }
                        Err(e) => {
                            let _ = ready.send(Err(io::Error::new(e.kind(), e.to_string())));
                            Err(e)
                        }
                    }
                });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    handle.shutdown();
                    return Err(e);
                }
            }
        }
        drop(ready_tx);
        let mut failure = None;
        for _ in 0..threads.len() {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(_) => failure = failure.or(Some(io::Error::other("a worker died starting"))),
            }
        }
        let server = Server {
            addr,
            shared,
            threads,
        };
        if let Some(e) = failure {
            handle.shutdown();
            let _ = server.join();
            return Err(e);
        }
        Ok(server)
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
        reprise_serve::workers::join_workers(self.threads)
    }
}

/// The io_uring driver, for code written for any driver ([`reprise_serve::Driver`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Uring;

impl reprise_serve::Driver for Uring {
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
        reprise_serve::workers::join_workers(self.threads)
    }
}

/// A connection's socket: a direct descriptor (a slot of the ring's registered file table) or
/// a plain descriptor when the table could not be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sock {
    Plain(RawFd),
    Fixed(u32),
}

/// Builds an operation on a [`Sock`]: `$op` gets `types::Fd` or `types::Fixed`.
macro_rules! on_sock {
    ($sock:expr, |$fd:ident| $op:expr) => {
        match $sock {
            Sock::Plain(raw) => {
                let $fd = types::Fd(raw);
                $op
            }
            Sock::Fixed(slot) => {
                let $fd = types::Fixed(slot);
                $op
            }
        }
    };
}

/// Where a connection's receive stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecvState {
    /// Not armed (never, ended, or out of buffers).
    Off,
    Armed,
    /// A cancel was asked; the final completion has not come yet.
    Cancelling,
}

/// One accepted connection: its socket, its served connection, and the operations and
/// buffers the ring lends the kernel for it.
struct Conn<H> {
    sock: Sock,
    served: Served<H>,
    /// The bytes of an unfinished record (or held during a suspended lookup), sized to what
    /// arrived; empty, with no allocation, the rest of the time.
    held: Vec<u8>,
    /// Records being sent: the kernel reads `out[out_pos..]` while `sending`.
    out: Vec<u8>,
    out_pos: usize,
    sending: bool,
    recv: RecvState,
    /// The receive ended for lack of buffers: arm again once buffers are back.
    starved: bool,
    /// The earliest instant a timer-wheel entry of this connection fires.
    timer_at: Instant,
    /// Torn down: waiting for its operations to complete before the slot is freed.
    finishing: bool,
    /// The failure to log once the connection is released (admitted by the rate limit).
    failure: Option<(Failure, bool)>,
    /// The upstream socket, when the handler is an upstream that connects.
    upstream: Option<Box<UpstreamSock>>,
    /// The peer's address, when it was asked for before the connection closed: at the
    /// accept for an access log, or for the failure log of a connection that lingers after
    /// its fatal alert.
    peer: Option<SocketAddr>,
    /// The write side's shutdown is in flight ([`Op::ShutWrite`]).
    shutting: bool,
}

impl<H> Conn<H> {
    fn generation(&self) -> u32 {
        self.served.id().generation
    }

    /// True while the kernel may still use memory or descriptors of this connection.
    fn in_flight(&self) -> bool {
        self.sending
            || self.shutting
            || self.recv != RecvState::Off
            || self.upstream.as_ref().is_some_and(|b| b.in_flight())
    }
}

/// An upstream's socket (a plain descriptor) and the operations on it. Boxed, so the
/// address the connect reads and the send buffer stay put while the kernel uses them.
struct UpstreamSock {
    fd: OwnedFd,
    /// The address a connect in flight reads.
    addr: socket2::SockAddr,
    connecting: bool,
    /// Client bytes being sent: the kernel reads `out[out_pos..]` while `sending`.
    out: Vec<u8>,
    out_pos: usize,
    sending: bool,
    recv: RecvState,
    /// Cancels asked for its operations (the connection is going).
    cancelled: bool,
}

impl UpstreamSock {
    fn in_flight(&self) -> bool {
        self.connecting || self.sending || self.recv != RecvState::Off
    }
}

/// A failure line waiting for its peer's address: the connection's direct descriptor is
/// being installed as a plain one (`IORING_OP_FIXED_FD_INSTALL`) to ask for it; the slot is
/// closed after.
struct PeerLookup {
    slot: u32,
    failure: Failure,
    after_handshake: bool,
}

/// The peer address of a connected socket (`getpeername(2)`), if it still has one.
fn peer_address(fd: BorrowedFd<'_>) -> Option<SocketAddr> {
    socket2::SockRef::from(&fd).peer_addr().ok()?.as_socket()
}

struct Ctx<F: HandlerFactory> {
    ring: Ring,
    /// Held-record buffers and the engine's buffers of closed connections.
    buffers: Recycler,
    send_pool: Vec<Vec<u8>>,
    env: Env<WakeFd>,
    factory: Arc<F>,
    shared: Arc<Shared>,
    waker: Arc<WakeFd>,
    wheel: Wheel,
    /// Something failed that the worker cannot go on after (a submission error).
    fatal: Option<io::Error>,
    /// Accepted sockets go to the ring's file table (direct descriptors).
    fixed: bool,
    /// Failure lines waiting for the peer's address (see [`PeerLookup`]).
    peer_lookups: Slab<PeerLookup>,
}

impl<F: HandlerFactory> Ctx<F> {
    fn push_plain(&mut self, entry: io_uring::squeue::Entry) {
        if let Err(e) = self.ring.push_plain(entry) {
            self.fatal.get_or_insert(e);
        }
    }

    /// A cancel or close whose success needs no completion.
    fn push_quiet(&mut self, entry: io_uring::squeue::Entry) {
        if let Err(e) = self.ring.push_quiet(entry) {
            self.fatal.get_or_insert(e);
        }
    }
}

struct Worker<F: HandlerFactory> {
    /// Holds the ring: declared (so dropped) before `bufs`.
    ctx: Ctx<F>,
    bufs: BufRing,
    conns: Slab<Conn<F::Handler>>,
    listener: Option<std::net::TcpListener>,
    accepting: bool,
    polling_wake: bool,
    /// The loop is over: nothing is armed again.
    quiescing: bool,
    answers: Receiver<Answer>,
    completions: Vec<Completion>,
    due: Vec<Entry>,
    starved: Vec<(usize, u32)>,
    next_generation: u32,
    /// Accept failed (e.g. out of descriptors): arm again at the next tick.
    accept_again: bool,
    draining: bool,
    drain_deadline: Option<Instant>,
}

impl<F: HandlerFactory> Worker<F> {
    fn new(
        id: usize,
        listener: std::net::TcpListener,
        config: Arc<ServerConfig>,
        factory: Arc<F>,
        options: ServerOptions,
        shared: Arc<Shared>,
        signer: Option<SignerPool>,
    ) -> io::Result<Self> {
        let ring = Ring::new(RING_ENTRIES, CQ_FACTOR)?;
        let mut bufs = BufRing::new(RECV_BUFFERS, RECV_BUFFER_SIZE)?;
        bufs.register(&ring.submitter(), BUFFER_GROUP)?;
        // Accepting into a registered file table (direct descriptors) spares installing a
        // descriptor per connection and looking it up per operation; if the table cannot be
        // registered (a low RLIMIT_NOFILE, an old kernel), plain descriptors do.
        let fixed = options.direct_descriptors
            && ring
                .submitter()
                .register_files_sparse(fixed_files(&options))
                .is_ok();
        let now = Instant::now();
        let tick = options.timer_tick();
        let waker = shared.wakers[id].clone();
        let (mailbox, answers) = Mailbox::new(waker.clone());
        let mut worker = Worker {
            ctx: Ctx {
                ring,
                buffers: Recycler::new(options.pooled_buffers),
                send_pool: Vec::new(),
                env: Env::new(config, options, signer, mailbox),
                factory,
                shared,
                waker,
                wheel: Wheel::new(WHEEL_SLOTS, tick, now),
                fatal: None,
                fixed,
                peer_lookups: Slab::new(),
            },
            bufs,
            conns: Slab::with_capacity(1024),
            listener: Some(listener),
            accepting: false,
            polling_wake: false,
            quiescing: false,
            answers,
            completions: Vec::with_capacity((RING_ENTRIES * CQ_FACTOR) as usize),
            due: Vec::new(),
            starved: Vec::new(),
            next_generation: 0,
            accept_again: false,
            draining: false,
            drain_deadline: None,
        };
        worker.arm_accept();
        worker.arm_wake();
        if let Some(e) = worker.ctx.fatal.take() {
            return Err(e);
        }
        Ok(worker)
    }

    fn arm_accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        // A direct descriptor is never in the process's table (and the kernel refuses
        // SOCK_CLOEXEC with it); a plain one must not leak into a child.
        let entry = opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
            .allocate_file_index(self.ctx.fixed)
            .flags(if self.ctx.fixed {
                0
            } else {
                libc::SOCK_CLOEXEC
            })
            .build()
            .user_data(tag(Op::Accept, 0, 0));
        // Multishot accept passes no address buffer: the entry points at no memory of ours.
        self.ctx.push_plain(entry);
        self.accepting = true;
    }

    fn arm_wake(&mut self) {
        let entry =
            opcode::PollAdd::new(types::Fd(self.ctx.waker.0.as_raw_fd()), libc::POLLIN as u32)
                .multi(true)
                .build()
                .user_data(tag(Op::Wake, 0, 0));
        // A poll points at no memory; the eventfd lives in `Shared`, which outlives the worker.
        self.ctx.push_plain(entry);
        self.polling_wake = true;
    }

    fn run(mut self) -> io::Result<()> {
        let result = self.run_loop();
        self.quiesce();
        result
    }

    fn run_loop(&mut self) -> io::Result<()> {
        loop {
            let mut wake_at = self.ctx.wheel.next_tick();
            if let Some(d) = self.drain_deadline {
                wake_at = wake_at.min(d).min(Instant::now() + DRAIN_TICK);
            }
            let wait = wake_at.saturating_duration_since(Instant::now());
            let last_turn = self.completions.len();
            let batch_wait = self.ctx.env.options.batch_wait.unwrap_or(BATCH_WAIT);
            self.ctx
                .ring
                .let_batch_gather(last_turn, batch_wait, wait)?;
            self.ctx.ring.enter(wait)?;
            self.ctx.env.tick();
            self.turn();
            if let Some(e) = self.ctx.fatal.take() {
                return Err(e);
            }
            if self.ctx.shared.stopping() && self.drain_deadline.is_none() {
                self.begin_drain();
            } else if self.draining {
                self.expire_while_draining();
            }
            if let Some(deadline) = self.drain_deadline {
                if self.conns.is_empty() || self.ctx.env.now >= deadline {
                    return Ok(());
                }
            }
        }
    }

    /// Handles every completion there is, the lookup answers and the timers; arms what must
    /// be armed again.
    fn turn(&mut self) {
        let mut completions = std::mem::take(&mut self.completions);
        completions.clear();
        self.ctx.ring.reap(&mut completions);
        for c in &completions {
            self.complete(c);
        }
        self.completions = completions;
        self.take_answers();
        if self.ctx.env.now >= self.ctx.wheel.next_tick() {
            self.expire();
            if let Some(log) = &self.ctx.env.options.failure_log {
                log.tick(self.ctx.env.now);
            }
            if self.accept_again && !self.draining {
                self.accept_again = false;
                self.arm_accept();
            }
        }
        // Buffers recycled during this turn go back to the kernel in one store, before any
        // receive that ran dry is armed again.
        self.bufs.publish();
        for (key, generation) in std::mem::take(&mut self.starved) {
            if let Some(conn) = self.conns.get_mut(key) {
                if conn.generation() == generation && conn.starved {
                    conn.starved = false;
                    if after(&mut self.ctx, key, conn) {
                        self.teardown(key);
                    }
                }
            }
        }
    }

    fn complete(&mut self, c: &Completion) {
        let (op, generation, key) = untag(c.user_data);
        match op {
            Some(Op::Accept) => self.accepted(c),
            Some(Op::Recv) => self.received(key, generation, c),
            Some(Op::Send) => self.sent(key, generation, c),
            Some(Op::Wake) => {
                self.ctx.waker.clear();
                if !c.more() {
                    self.polling_wake = false;
                    if !self.quiescing {
                        self.arm_wake();
                    }
                }
            }
            Some(Op::PeerName) => self.peer_named(key, c),
            Some(Op::ShutWrite) => self.write_side_shut(key, generation, c),
            Some(Op::UpstreamConnect) | Some(Op::UpstreamSend) | Some(Op::UpstreamRecv) => {
                self.upstream_done(op, key, generation, c)
            }
            Some(Op::Connect) | Some(Op::Other) | Some(Op::Quiet) | None => {
                if let Some(bid) = c.buffer() {
                    self.bufs.recycle(bid);
                }
            }
        }
    }

    fn accepted(&mut self, c: &Completion) {
        if !c.more() {
            self.accepting = false;
            if self.listener.is_some() && !self.draining {
                if c.result < 0 && c.result != -libc::ECANCELED {
                    // EMFILE, ENFILE, ENOBUFS: try again at the next tick.
                    self.accept_again = true;
                } else {
                    self.arm_accept();
                }
            }
        }
        if c.result < 0 {
            return;
        }
        let sock = if self.ctx.fixed {
            Sock::Fixed(c.result as u32)
        } else {
            Sock::Plain(c.result)
        };
        let limit = self.ctx.env.options.max_connections;
        if self.draining || !self.ctx.shared.admit(limit) {
            if !self.draining {
                refused(&self.ctx.env);
            }
            // Over the limit (or stopping): accepted only to be closed, so the backlog does
            // not fill with connections that would wait for nothing.
            self.ctx
                .push_quiet(on_sock!(sock, |fd| opcode::Close::new(fd).build()));
            return;
        }
        self.next_generation = (self.next_generation + 1) & 0xff_ffff;
        let key = self.conns.vacant_key();
        let id = ConnId {
            key,
            generation: self.next_generation,
        };
        let now = self.ctx.env.now;
        let tls = self.ctx.buffers.new_connection(&self.ctx.env.config);
        let mut served = Served::new(
            id,
            tls,
            self.ctx.factory.new_handler(),
            &self.ctx.env.options,
            now,
        );
        let mut peer = None;
        if let Sock::Plain(raw) = sock {
            let app = served.app_mut();
            let logged = self.ctx.env.options.access_log.is_some();
            if app.wants_addresses() || logged {
                // SAFETY: `raw` is the descriptor the accept just returned; nothing closes it
                // before this borrow ends (the connection is not even in the slab yet).
                let fd = unsafe { BorrowedFd::borrow_raw(raw) };
                let sock = socket2::SockRef::from(&fd);
                peer = sock.peer_addr().ok().and_then(|a| a.as_socket());
                if app.wants_addresses() {
                    let local = sock.local_addr().ok().and_then(|a| a.as_socket());
                    app.on_addresses(peer, local);
                }
            }
        }
        let deadline = served.deadline();
        let out = self.ctx.send_pool.pop().unwrap_or_default();
        self.conns.insert(Conn {
            sock,
            served,
            held: Vec::new(),
            out,
            out_pos: 0,
            sending: false,
            recv: RecvState::Off,
            starved: false,
            timer_at: deadline,
            finishing: false,
            failure: None,
            upstream: None,
            peer,
            shutting: false,
        });
        self.ctx.wheel.insert(
            Entry {
                key,
                generation: id.generation,
            },
            deadline,
        );
        if let Some(m) = &self.ctx.env.config.metrics {
            m.connection_opened();
        }
        if let Some(conn) = self.conns.get_mut(key) {
            arm_recv(&mut self.ctx, key, conn);
        }
    }

    fn received(&mut self, key: usize, generation: u32, c: &Completion) {
        let bid = c.buffer();
        let Some(conn) = self
            .conns
            .get_mut(key)
            .filter(|conn| conn.generation() == generation)
        else {
            if let Some(bid) = bid {
                self.bufs.recycle(bid);
            }
            return;
        };
        if !c.more() {
            conn.recv = RecvState::Off;
        }
        if c.result > 0 {
            let n = c.result as usize;
            if let Some(bid) = bid {
                if !conn.finishing {
                    take_data(&mut self.ctx, conn, self.bufs.get_mut(bid, n));
                }
                self.bufs.recycle(bid);
            }
        } else if c.result == 0 {
            if !conn.finishing {
                conn.served.on_eof(&mut self.ctx.env);
            }
        } else if c.result == -libc::ENOBUFS {
            // The ring ran dry: arm again once this turn's buffers are back.
            if !conn.finishing && !conn.starved {
                conn.starved = true;
                self.starved.push((key, generation));
            }
        } else if c.result != -libc::ECANCELED && !conn.finishing {
            let kind = io::Error::from_raw_os_error(-c.result).kind();
            conn.served.on_socket_error(kind, self.ctx.env.now);
        }
        if conn.finishing {
            self.release(key);
            return;
        }
        if after(&mut self.ctx, key, conn) {
            self.teardown(key);
        }
    }

    fn sent(&mut self, key: usize, generation: u32, c: &Completion) {
        let Some(conn) = self
            .conns
            .get_mut(key)
            .filter(|conn| conn.generation() == generation)
        else {
            return;
        };
        conn.sending = false;
        if conn.finishing {
            self.release(key);
            return;
        }
        if c.result <= 0 {
            // The peer is gone (EPIPE, ECONNRESET) or the send was cancelled.
            let kind = match c.result {
                0 => io::ErrorKind::WriteZero,
                e => io::Error::from_raw_os_error(-e).kind(),
            };
            conn.served.on_socket_error(kind, self.ctx.env.now);
            self.teardown(key);
            return;
        }
        conn.out_pos += c.result as usize;
        if conn.out_pos < conn.out.len() {
            // A short send: the rest of the same buffer, still untouched.
            push_send(&mut self.ctx, key, conn);
            return;
        }
        conn.out.clear();
        conn.out_pos = 0;
        conn.served.on_drained(&mut self.ctx.env);
        if after(&mut self.ctx, key, conn) {
            self.teardown(key);
        }
    }

    fn take_answers(&mut self) {
        while let Ok(Answer { to, reply }) = self.answers.try_recv() {
            let Some(conn) = self.conns.get_mut(to.key) else {
                continue;
            };
            if conn.served.id() != to || conn.finishing {
                continue;
            }
            conn.served.on_reply(reply, &mut self.ctx.env);
            feed_held(&mut self.ctx, conn);
            if after(&mut self.ctx, to.key, conn) {
                self.teardown(to.key);
            }
        }
    }

    fn begin_drain(&mut self) {
        self.draining = true;
        self.drain_deadline = Some(self.ctx.env.now + self.ctx.env.options.shutdown_grace);
        if self.accepting {
            self.ctx
                .push_quiet(opcode::AsyncCancel::new(tag(Op::Accept, 0, 0)).build());
        }
        // The accept holds its own reference to the socket until it is cancelled.
        self.listener = None;
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(conn) = self.conns.get_mut(key) {
                if conn.finishing {
                    continue;
                }
                conn.served.on_shutdown(&mut self.ctx.env);
                if after(&mut self.ctx, key, conn) {
                    self.teardown(key);
                }
            }
        }
    }

    /// Turns the timer wheel: a connection whose deadline passed is told, and torn down when
    /// that ends it. Unfinished handshakes are kept within their memory cap, the oldest
    /// closed first.
    fn expire(&mut self) {
        let now = self.ctx.env.now;
        let unfinished = self
            .conns
            .iter()
            .filter(|(_, c)| !c.finishing && c.served.is_handshaking())
            .map(|(k, c)| {
                let held = c.held.capacity() + c.served.tls().handshake_bytes_held();
                (held, c.generation(), k)
            })
            .collect();
        for key in evictions(unfinished, self.ctx.env.options.handshake_memory) {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.served.on_evicted(now, &self.ctx.env.options);
            }
            self.teardown(key);
        }
        let mut due = std::mem::take(&mut self.due);
        self.ctx.wheel.advance(now, &mut due);
        for entry in due.drain(..) {
            let Some(conn) = self.conns.get_mut(entry.key) else {
                continue;
            };
            if conn.generation() != entry.generation || conn.finishing {
                continue;
            }
            let deadline = conn.served.deadline();
            if deadline > now {
                conn.timer_at = deadline;
                self.ctx.wheel.insert(entry, deadline);
                continue;
            }
            conn.served.on_timer(&mut self.ctx.env);
            // A goodbye it queued goes if the peer takes it before the slot is released (the
            // send is cancelled otherwise).
            flush(&mut self.ctx, entry.key, conn);
            self.teardown(entry.key);
        }
        self.due = due;
    }

    /// While draining, every turn (at least every [`DRAIN_TICK`]): the connections whose
    /// deadline passed are told now rather than at the wheel's next tick, so one that went
    /// quiet after its last answer is told goodbye at once. Few connections are left then,
    /// and each is looked at once.
    fn expire_while_draining(&mut self) {
        let now = self.ctx.env.now;
        let due: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.finishing && c.served.deadline() <= now)
            .map(|(k, _)| k)
            .collect();
        for key in due {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            conn.served.on_timer(&mut self.ctx.env);
            if conn.served.is_closed() {
                flush(&mut self.ctx, key, conn);
                self.teardown(key);
            } else if after(&mut self.ctx, key, conn) {
                self.teardown(key);
            }
        }
    }

    /// Ends a connection: cancels its operations; the slot goes when the last completes.
    fn teardown(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if !conn.finishing {
            conn.finishing = true;
            conn.served.forget_memory(&mut self.ctx.env);
            let (options, now) = (&self.ctx.env.options, self.ctx.env.now);
            if options.failure_log.is_some() || options.access_log.is_some() {
                let failure = conn.served.failure();
                if let Some(access) = &options.access_log {
                    let failed = failure.as_ref().map(|(f, _)| f);
                    conn.served.log_access(access, conn.peer, failed, now);
                }
                if let Some(log) = &options.failure_log {
                    conn.failure = failure.filter(|_| log.admit(now));
                }
            }
            let generation = conn.generation();
            if conn.recv == RecvState::Armed {
                conn.recv = RecvState::Cancelling;
                self.ctx
                    .push_quiet(opcode::AsyncCancel::new(tag(Op::Recv, generation, key)).build());
            }
            if conn.sending {
                // Only a failed or expired connection is torn down with a send in flight (a
                // finished one waits for its last send): do not wait for the peer to read.
                // A send the socket takes at once completes before the cancel is looked at.
                self.ctx
                    .push_quiet(opcode::AsyncCancel::new(tag(Op::Send, generation, key)).build());
            }
            if let Some(upstream) = conn.upstream.as_mut() {
                cancel_upstream(&mut self.ctx, key, generation, upstream);
            }
        }
        self.release(key);
    }

    /// Frees a finishing connection once none of its operations is in flight.
    fn release(&mut self, key: usize) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        if !conn.finishing || conn.in_flight() {
            return;
        }
        let Conn {
            sock,
            mut out,
            served,
            failure,
            upstream,
            peer,
            ..
        } = self.conns.remove(key);
        let (tls, mut app) = served.into_parts();
        if let Some(upstream) = upstream {
            if app.upstream().is_some_and(|b| b.resets_on_close()) {
                // Cut off mid-stream: a reset, so the upstream cannot take it for the end.
                let _ = socket2::SockRef::from(&upstream.fd).set_linger(Some(Duration::ZERO));
            }
        }
        // Closing by the ring, batched with the next submission. The descriptor number (or
        // the file-table slot) cannot be reused before this close, and no operation on it is
        // left. A failure to log first asks for the peer's address.
        match (failure, sock) {
            (Some((failure, after_handshake)), Sock::Fixed(slot)) if peer.is_none() => {
                self.look_up_peer(slot, failure, after_handshake)
            }
            (failure, sock) => {
                if let Some((failure, after_handshake)) = failure {
                    let peer = peer.or_else(|| match sock {
                        // SAFETY: `raw` is this connection's open descriptor; it is closed
                        // only by the close pushed below, after this borrow ends.
                        Sock::Plain(raw) => peer_address(unsafe { BorrowedFd::borrow_raw(raw) }),
                        Sock::Fixed(_) => None,
                    });
                    self.write_failure(peer, &failure, after_handshake);
                }
                self.ctx
                    .push_quiet(on_sock!(sock, |fd| opcode::Close::new(fd).build()));
            }
        }
        if self.ctx.send_pool.len() < self.ctx.env.options.pooled_buffers {
            out.clear();
            self.ctx.send_pool.push(out);
        }
        self.ctx.buffers.recycle(tls);
        self.ctx.shared.release();
        if let Some(m) = &self.ctx.env.config.metrics {
            m.connection_closed();
        }
    }

    /// An upstream operation completed: the stream is told, then the connection moves on.
    fn upstream_done(&mut self, op: Option<Op>, key: usize, generation: u32, c: &Completion) {
        let bid = c.buffer();
        let Some(conn) = self
            .conns
            .get_mut(key)
            .filter(|conn| conn.generation() == generation)
        else {
            if let Some(bid) = bid {
                self.bufs.recycle(bid);
            }
            return;
        };
        let Some(mut sock) = conn.upstream.take() else {
            if let Some(bid) = bid {
                self.bufs.recycle(bid);
            }
            return;
        };
        let failed = |result: i32| io::Error::from_raw_os_error(-result).kind();
        let stream = conn.served.app_mut().upstream();
        match op {
            Some(Op::UpstreamConnect) => {
                sock.connecting = false;
                if let Some(stream) = stream {
                    if c.result == 0 {
                        stream.connected();
                    } else if c.result != -libc::ECANCELED {
                        stream.failed(UpstreamFailure::Connect(failed(c.result)));
                    }
                }
            }
            Some(Op::UpstreamSend) => {
                sock.sending = false;
                if c.result > 0 {
                    sock.out_pos += c.result as usize;
                    if sock.out_pos < sock.out.len() && !conn.finishing {
                        push_upstream_send(&mut self.ctx, key, generation, &mut sock);
                    } else if sock.out_pos >= sock.out.len() {
                        sock.out.clear();
                        sock.out_pos = 0;
                    }
                } else if c.result != -libc::ECANCELED {
                    if let Some(stream) = stream {
                        stream.failed(UpstreamFailure::Io(failed(c.result)));
                    }
                }
            }
            _ => {
                sock.recv = RecvState::Off;
                if c.result > 0 {
                    if let Some(bid) = bid {
                        if let Some(stream) = stream {
                            stream.received(self.bufs.get_mut(bid, c.result as usize));
                        }
                    }
                } else if c.result == 0 {
                    if let Some(stream) = stream {
                        stream.received_eof();
                    }
                } else if c.result != -libc::ECANCELED && c.result != -libc::ENOBUFS {
                    if let Some(stream) = stream {
                        stream.failed(UpstreamFailure::Io(failed(c.result)));
                    }
                }
                if let Some(bid) = bid {
                    self.bufs.recycle(bid);
                }
            }
        }
        conn.upstream = Some(sock);
        if conn.finishing {
            self.release(key);
            return;
        }
        conn.served.on_app_progress(&mut self.ctx.env);
        if after(&mut self.ctx, key, conn) {
            self.teardown(key);
        }
    }

    fn write_failure(&self, peer: Option<SocketAddr>, failure: &Failure, after_handshake: bool) {
        if let Some(log) = &self.ctx.env.options.failure_log {
            log.write(peer, failure, after_handshake);
        }
    }

    /// A direct descriptor has no `getpeername`: installs it as a plain descriptor
    /// (`IORING_OP_FIXED_FD_INSTALL`, 6.8) and logs when that completes ([`Self::peer_named`]),
    /// which also closes the slot.
    fn look_up_peer(&mut self, slot: u32, failure: Failure, after_handshake: bool) {
        let lookup = self.ctx.peer_lookups.insert(PeerLookup {
            slot,
            failure,
            after_handshake,
        });
        let entry = opcode::FixedFdInstall::new(types::Fixed(slot), 0)
            .build()
            .user_data(tag(Op::PeerName, 0, lookup));
        // An install names a slot and points at no memory.
        self.ctx.push_plain(entry);
    }

    /// The installed descriptor of a failed connection (or the install's error, e.g. on a
    /// kernel before 6.8): logs the failure with the peer's address if there is one, closes
    /// the installed descriptor and then the slot.
    fn peer_named(&mut self, lookup: usize, c: &Completion) {
        let Some(PeerLookup {
            slot,
            failure,
            after_handshake,
        }) = self.ctx.peer_lookups.try_remove(lookup)
        else {
            return;
        };
        let peer = if c.result >= 0 {
            // SAFETY: a successful install returns a fresh descriptor that nothing else owns;
            // the `OwnedFd` closes it when dropped.
            let installed = unsafe { OwnedFd::from_raw_fd(c.result) };
            peer_address(installed.as_fd())
        } else {
            None
        };
        self.write_failure(peer, &failure, after_handshake);
        self.ctx
            .push_quiet(opcode::Close::new(types::Fixed(slot)).build());
    }

    /// The direct descriptor of a connection whose write side is to be shut, installed as a
    /// plain one (or the install's error, e.g. on a kernel before 6.8): takes the peer's
    /// address while the connection still has one, shuts the write side, closes the
    /// installed descriptor (the slot keeps the socket).
    fn write_side_shut(&mut self, key: usize, generation: u32, c: &Completion) {
        let installed = (c.result >= 0).then(|| {
            // SAFETY: a successful install returns a fresh descriptor that nothing else owns;
            // the `OwnedFd` closes it when dropped.
            unsafe { OwnedFd::from_raw_fd(c.result) }
        });
        let Some(conn) = self
            .conns
            .get_mut(key)
            .filter(|conn| conn.generation() == generation)
        else {
            return;
        };
        conn.shutting = false;
        match installed {
            Some(fd) => {
                conn.peer = peer_address(fd.as_fd());
                let _ = socket2::SockRef::from(&fd).shutdown(std::net::Shutdown::Write);
            }
            None => self
                .ctx
                .push_quiet(on_sock!(conn.sock, |fd| opcode::Shutdown::new(
                    fd,
                    libc::SHUT_WR
                )
                .build())),
        }
        if conn.finishing {
            self.release(key);
        }
    }

    /// After the loop: tear every connection down, cancel the accept and the wake-up poll,
    /// and wait (bounded) until the kernel has completed every operation, so no buffer is
    /// freed while the kernel may still write to it. If the wait runs out, the buffers are
    /// leaked rather than freed.
    fn quiesce(mut self) {
        self.quiescing = true;
        self.draining = true;
        self.drain_deadline = Some(self.ctx.env.now);
        self.listener = None;
        if self.accepting {
            self.ctx
                .push_quiet(opcode::AsyncCancel::new(tag(Op::Accept, 0, 0)).build());
        }
        if self.polling_wake {
            self.ctx
                .push_quiet(opcode::AsyncCancel::new(tag(Op::Wake, 0, 0)).build());
        }
        let now = self.ctx.env.now;
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.served.on_grace_over(now, &self.ctx.env.options);
            }
            self.teardown(key);
        }
        let until = Instant::now() + QUIESCE_LIMIT;
        while self.ctx.ring.in_flight() > 0 && Instant::now() < until {
            if self.ctx.ring.enter(Duration::from_millis(50)).is_err() {
                break;
            }
            self.ctx.env.tick();
            let mut completions = std::mem::take(&mut self.completions);
            completions.clear();
            self.ctx.ring.reap(&mut completions);
            for c in &completions {
                self.complete(c);
            }
            self.completions = completions;
        }
        // Close what the last completions released.
        let _ = self.ctx.ring.enter(Duration::ZERO);
        if self.ctx.ring.in_flight() > 0 {
            // The kernel may still hold buffers: never free them.
            let Worker {
                ctx, bufs, conns, ..
            } = self;
            drop(ctx);
            std::mem::forget(bufs);
            std::mem::forget(conns);
        }
    }
}

/// Counts and logs a connection refused at the connection limit (its peer is not known: a
/// multishot accept gives no address).
fn refused(env: &Env<WakeFd>) {
    if let Some(m) = &env.config.metrics {
        m.connection_refused();
    }
    if let Some(log) = &env.options.failure_log {
        log.refused(env.now, None, env.options.max_connections);
    }
}

/// Arms the receive of a connection: single-shot while the handshake runs (each flight is
/// an answer to ours: one receive per flight, and none left armed to report the peer's FIN
/// or to be cancelled once the handshake ends the connection), multishot once it is open.
fn arm_recv<F: HandlerFactory>(ctx: &mut Ctx<F>, key: usize, conn: &mut Conn<F::Handler>) {
    let entry = if conn.served.was_open() {
        on_sock!(conn.sock, |fd| opcode::RecvMulti::new(fd, BUFFER_GROUP)
            .build())
    } else {
        // Each flight is armed for before it can have come (the ClientHello follows the
        // accept; later flights answer ours, which just left): wait for readiness first
        // (IORING_RECVSEND_POLL_FIRST) instead of a receive that would find nothing.
        on_sock!(conn.sock, |fd| opcode::Recv::new(
            fd,
            std::ptr::null_mut(),
            0
        )
        .buf_group(BUFFER_GROUP)
        .ioprio(POLL_FIRST)
        .build()
        .flags(squeue::Flags::BUFFER_SELECT))
    }
    .user_data(tag(Op::Recv, conn.generation(), key));
    // A receive with buffer selection carries no buffer pointer (the single-shot one passes a
    // null address and length 0): the kernel takes buffers from the registered ring, which
    // lives as long as the worker (see `quiesce`).
    ctx.push_plain(entry);
    conn.recv = RecvState::Armed;
}

/// Sends `conn.out[conn.out_pos..]`.
fn push_send<F: HandlerFactory>(ctx: &mut Ctx<F>, key: usize, conn: &mut Conn<F::Handler>) {
    let rest = &conn.out[conn.out_pos..];
    let entry = on_sock!(conn.sock, |fd| opcode::Send::new(
        fd,
        rest.as_ptr(),
        rest.len() as u32
    )
    .flags(libc::MSG_NOSIGNAL)
    .build())
    .user_data(tag(Op::Send, conn.generation(), key));
    // SAFETY: the kernel reads `rest` until the send completes. `conn.out`'s heap buffer is
    // neither written, resized nor freed while `conn.sending` is true: `flush` does not touch
    // it then, the completion handler clears `sending` before any change, and a connection
    // (with its `out`) leaves the slab only in `release`, which waits for `!sending`. Moving
    // the `Conn` within the slab does not move the heap buffer. On a forced exit with the
    // send still in flight, `quiesce` leaks the connections instead of freeing them.
    if let Err(e) = unsafe { ctx.ring.push(&entry) } {
        ctx.fatal.get_or_insert(e);
        return;
    }
    conn.sending = true;
}

/// Moves the served connection's output into the send buffer and sends it, unless a send is
/// in flight (then the output waits for its completion).
fn flush<F: HandlerFactory>(ctx: &mut Ctx<F>, key: usize, conn: &mut Conn<F::Handler>) {
    if conn.sending || !conn.served.wants_write() {
        return;
    }
    conn.out.clear();
    conn.out.extend_from_slice(conn.served.output());
    let n = conn.out.len();
    conn.served.on_written(n);
    conn.out_pos = 0;
    push_send(ctx, key, conn);
}

/// Data from a receive buffer: offered in place when nothing is held, else appended to the
/// held bytes first; what is not a whole record yet is kept with the connection.
fn take_data<F: HandlerFactory>(ctx: &mut Ctx<F>, conn: &mut Conn<F::Handler>, data: &mut [u8]) {
    take_input(ctx, conn, data);
    // An unfinished handshake past its allowance grows only within the worker's cap.
    conn.served
        .account_memory(conn.held.capacity(), &mut ctx.env);
}

fn take_input<F: HandlerFactory>(ctx: &mut Ctx<F>, conn: &mut Conn<F::Handler>, data: &mut [u8]) {
    if conn.held.is_empty() {
        let consumed = conn.served.on_input(data, &mut ctx.env);
        if consumed < data.len() && !conn.served.is_closed() {
            reprise_serve::buffers::hold(&mut conn.held, &data[consumed..]);
        }
        return;
    }
    if conn.held.len() + data.len() > HELD_LIMIT {
        // More than a whole record plus one receive held: only a client that keeps sending
        // while its records cannot be taken (a suspended lookup) gets here.
        conn.served
            .on_socket_error(io::ErrorKind::InvalidData, ctx.env.now);
        return;
    }
    reprise_serve::buffers::hold(&mut conn.held, data);
    feed_held(ctx, conn);
}

/// Offers the held bytes of `conn` (after new data, or a lookup answer) and keeps the rest.
fn feed_held<F: HandlerFactory>(ctx: &mut Ctx<F>, conn: &mut Conn<F::Handler>) {
    if conn.held.is_empty() {
        return;
    }
    let consumed = conn.served.on_input(&mut conn.held, &mut ctx.env);
    conn.held.drain(..consumed);
    if conn.held.is_empty() {
        conn.held = Vec::new();
    }
}

/// Carries out what the served connection asks after an event: sends what is pending, keeps
/// the receive armed while it wants input (and cancels it under back-pressure), and keeps a
/// timer for its deadline. True when it is over and must be torn down.
fn after<F: HandlerFactory>(ctx: &mut Ctx<F>, key: usize, conn: &mut Conn<F::Handler>) -> bool {
    if move_upstream(ctx, key, conn) {
        conn.served.on_app_progress(&mut ctx.env);
    }
    flush(ctx, key, conn);
    if !conn.sending && conn.served.is_closing() && !conn.served.wants_write() {
        // Closing with nothing to send (a received fatal alert is not answered): over now,
        // not at the deadline.
        conn.served.on_drained(&mut ctx.env);
    }
    if conn.served.wants_shutdown_write() {
        // Our fatal alert has left (its send completed): the FIN follows it at once, and what
        // the peer still sends is read and dropped until its end of stream. The peer's
        // address is taken first: once both ends are shut the socket no longer has one, and
        // the failure log names it.
        conn.served.on_write_shut();
        match conn.sock {
            Sock::Plain(raw) => {
                // SAFETY: `raw` is this connection's open descriptor, closed only when the
                // connection is released, after this borrow ends.
                let fd = unsafe { BorrowedFd::borrow_raw(raw) };
                conn.peer = peer_address(fd);
                let _ = socket2::SockRef::from(&fd).shutdown(std::net::Shutdown::Write);
            }
            Sock::Fixed(slot) => {
                let entry = opcode::FixedFdInstall::new(types::Fixed(slot), 0)
                    .build()
                    .user_data(tag(Op::ShutWrite, conn.generation(), key));
                // An install names a slot and points at no memory.
                ctx.push_plain(entry);
                conn.shutting = true;
            }
        }
    }
    if ctx.fatal.is_some() || conn.served.is_closed() {
        return true;
    }
    let unsent = conn.out.len() - conn.out_pos;
    if conn.served.wants_read(unsent, &ctx.env.options) {
        if conn.recv == RecvState::Off && !conn.starved {
            arm_recv(ctx, key, conn);
        }
    } else if conn.recv == RecvState::Armed && conn.served.phase() == Phase::Open {
        // Back-pressure: no more reading until the peer reads what we owe it.
        conn.recv = RecvState::Cancelling;
        ctx.push_quiet(opcode::AsyncCancel::new(tag(Op::Recv, conn.generation(), key)).build());
    }
    let deadline = conn.served.deadline();
    if deadline < conn.timer_at {
        // Sooner than any entry of this connection on the wheel (e.g. the bound on closing).
        conn.timer_at = deadline;
        ctx.wheel.insert(
            Entry {
                key,
                generation: conn.generation(),
            },
            deadline,
        );
    }
    false
}

/// Starts what an upstream asks for: its connect, the send of the client's bytes, the
/// shutdown of its write side, a receive while it has room; closes its socket when it is
/// over. True when the stream's state changed here (the served connection is then told).
fn move_upstream<F: HandlerFactory>(
    ctx: &mut Ctx<F>,
    key: usize,
    conn: &mut Conn<F::Handler>,
) -> bool {
    let generation = conn.generation();
    let now = ctx.env.now;
    let Some(stream) = conn.served.app_mut().upstream() else {
        return false;
    };
    let mut moved = false;
    if let Some(addr) = stream.wants_connect() {
        moved = true;
        match open_upstream(addr) {
            Ok(mut sock) => {
                push_upstream_connect(ctx, key, generation, &mut sock);
                stream.connecting(now);
                conn.upstream = Some(sock);
            }
            Err(e) => stream.failed(UpstreamFailure::Connect(e.kind())),
        }
    }
    let Some(sock) = conn.upstream.as_mut() else {
        return moved;
    };
    if sock.cancelled {
        return moved;
    }
    if stream.state() == UpstreamState::Connected {
        if !sock.sending && !stream.output().is_empty() {
            sock.out.clear();
            sock.out.extend_from_slice(stream.output());
            let n = sock.out.len();
            stream.wrote(n);
            sock.out_pos = 0;
            push_upstream_send(ctx, key, generation, sock);
            moved = true;
        }
        if !sock.sending && stream.wants_shutdown_write() {
            let _ = socket2::SockRef::from(&sock.fd).shutdown(std::net::Shutdown::Write);
            stream.write_shut();
            moved = true;
        }
        if stream.wants_read() && sock.recv == RecvState::Off {
            push_upstream_recv(ctx, key, generation, sock);
        }
    }
    if stream.wants_close() || stream.state() == UpstreamState::Closed {
        if sock.in_flight() {
            cancel_upstream(ctx, key, generation, sock);
        } else {
            // Nothing of the kernel's left on it: dropping the descriptor closes it.
            conn.upstream = None;
            stream.closed();
            moved = true;
        }
    }
    moved
}

/// An upstream socket, not yet connected (a plain descriptor; the connect goes by the ring).
fn open_upstream(addr: &UpstreamAddr) -> io::Result<Box<UpstreamSock>> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let (domain, addr) = match addr {
        UpstreamAddr::Tcp(a) => (Domain::for_address(*a), SockAddr::from(*a)),
        UpstreamAddr::Unix(path) => (Domain::UNIX, SockAddr::unix(path)?),
    };
    let socket = Socket::new(domain, Type::STREAM.cloexec(), None)?;
    if domain != Domain::UNIX {
        socket.set_tcp_nodelay(true)?;
    }
    Ok(Box::new(UpstreamSock {
        fd: socket.into(),
        addr,
        connecting: false,
        out: Vec::new(),
        out_pos: 0,
        sending: false,
        recv: RecvState::Off,
        cancelled: false,
    }))
}

fn push_upstream_connect<F: HandlerFactory>(
    ctx: &mut Ctx<F>,
    key: usize,
    generation: u32,
    sock: &mut UpstreamSock,
) {
    let entry = opcode::Connect::new(
        types::Fd(sock.fd.as_raw_fd()),
        sock.addr.as_ptr().cast(),
        sock.addr.len(),
    )
    .build()
    .user_data(tag(Op::UpstreamConnect, generation, key));
    // SAFETY: the kernel reads the address until the connect completes. It lives in the
    // boxed `UpstreamSock`, which is neither moved out of its box nor dropped while
    // `connecting` is true: a connection (with its upstream) leaves the slab only in
    // `release`, which waits for no operation in flight, and `quiesce` leaks the
    // connections rather than free them when operations are still in flight.
    if let Err(e) = unsafe { ctx.ring.push(&entry) } {
        ctx.fatal.get_or_insert(e);
        return;
    }
    sock.connecting = true;
}

fn push_upstream_send<F: HandlerFactory>(
    ctx: &mut Ctx<F>,
    key: usize,
    generation: u32,
    sock: &mut UpstreamSock,
) {
    let rest = &sock.out[sock.out_pos..];
    let entry = opcode::Send::new(
        types::Fd(sock.fd.as_raw_fd()),
        rest.as_ptr(),
        rest.len() as u32,
    )
    .flags(libc::MSG_NOSIGNAL)
    .build()
    .user_data(tag(Op::UpstreamSend, generation, key));
    // SAFETY: the kernel reads `rest` until the send completes; `sock.out` is neither
    // written, resized nor freed while `sending` is true (`move_upstream` sends only when not
    // sending, and the completion clears `sending` before any change), and the upstream
    // leaves the connection only when nothing is in flight (`release`, `quiesce`).
    if let Err(e) = unsafe { ctx.ring.push(&entry) } {
        ctx.fatal.get_or_insert(e);
        return;
    }
    sock.sending = true;
}

fn push_upstream_recv<F: HandlerFactory>(
    ctx: &mut Ctx<F>,
    key: usize,
    generation: u32,
    sock: &mut UpstreamSock,
) {
    let entry = opcode::Recv::new(types::Fd(sock.fd.as_raw_fd()), std::ptr::null_mut(), 0)
        .buf_group(BUFFER_GROUP)
        .ioprio(POLL_FIRST)
        .build()
        .flags(squeue::Flags::BUFFER_SELECT)
        .user_data(tag(Op::UpstreamRecv, generation, key));
    // A receive with buffer selection carries no buffer pointer (see `arm_recv`).
    ctx.push_plain(entry);
    sock.recv = RecvState::Armed;
}

/// Cancels every operation in flight on an upstream socket.
fn cancel_upstream<F: HandlerFactory>(
    ctx: &mut Ctx<F>,
    key: usize,
    generation: u32,
    sock: &mut UpstreamSock,
) {
    if sock.cancelled {
        return;
    }
    sock.cancelled = true;
    for (op, live) in [
        (Op::UpstreamConnect, sock.connecting),
        (Op::UpstreamSend, sock.sending),
        (Op::UpstreamRecv, sock.recv == RecvState::Armed),
    ] {
        if live {
            ctx.push_quiet(opcode::AsyncCancel::new(tag(op, generation, key)).build());
        }
    }
    if sock.recv == RecvState::Armed {
        sock.recv = RecvState::Cancelling;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_table_follows_the_connection_limit_within_bounds() {
        let mut options = ServerOptions {
            max_connections: 10,
            ..ServerOptions::default()
        };
        let small = fixed_files(&options) as usize;
        assert!((1..=10 + FIXED_FILES_SLACK).contains(&small));
        options.max_connections = usize::MAX;
        assert!(fixed_files(&options) as usize <= MAX_FIXED_FILES);
    }
}
