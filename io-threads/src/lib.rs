//! `reprise-tls-threads`: the simplest Reprise driver — a blocking thread per connection — with
//! the same served-connection machine ([`reprise_serve::served`]) as the event-loop drivers.
//! It suits small servers and debugging; it spends threads (and their stacks) per connection.
//!
//! * One acceptor thread takes connections (up to [`ServerOptions::max_connections`]; more
//!   are closed at once, counted and logged) and spawns a thread for each. A connection that
//!   cannot get a thread gives its slot back at once.
//! * A connection thread waits on one channel for whatever comes first: the client's bytes
//!   and the upstream's (each socket read by a small thread of its own, into a buffer the
//!   connection hands it only while it wants input: back-pressure), a finished upstream
//!   connect, an answer to a suspended lookup or signature, a handler's
//!   [`Wake`](reprise_serve::app::Wake); or for its deadline.
//! * It writes to the client and the upstream itself, each write giving up after a moment
//!   when the peer takes nothing, so that a peer that does not read never holds the thread:
//!   backend streams (`reprise_apps::backend`) run here as on the event loops.
//! * It looks at the shutdown flag at least once a second.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reprise::ServerConfig;
use reprise_serve::app::{Handler, HandlerFactory};
use reprise_serve::served::{ConnId, Env, Phase, Served};
use reprise_serve::suspend::{Answer, Mailbox, SignerPool};
use reprise_serve::upstream::{UpstreamFailure, UpstreamState};
use reprise_serve::workers::{join_workers, WakeWorker, Workers};

mod reader;

use reader::{Input, Reader, UpstreamSocket};
use reprise_serve::{Driver, Running, ServerOptions, ShutdownHandle, READ_BUFFER_SIZE};

/// Spawns still to fail on purpose ([`fail_next_spawns_for_testing`]).
static SPAWNS_TO_FAIL: AtomicUsize = AtomicUsize::new(0);

/// Makes the next `n` connection-thread spawns fail, as they do when the process runs out of
/// threads or memory: for tests that check a failed spawn gives its connection slot back.
#[doc(hidden)]
pub fn fail_next_spawns_for_testing(n: usize) {
    SPAWNS_TO_FAIL.store(n, Ordering::SeqCst);
}

fn spawn_connection<T: Send + 'static>(
    body: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    let fail = SPAWNS_TO_FAIL
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if fail {
        return Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            "spawn failed (test)",
        ));
    }
    std::thread::Builder::new().name("conn".into()).spawn(body)
}

/// How long a connection thread sleeps at most before it looks at the shutdown flag and
/// its mailbox.
const TICK: Duration = Duration::from_secs(1);

/// Wakes the acceptor from its blocking `accept` by connecting to it.
struct AcceptorWake(SocketAddr);

impl WakeWorker for AcceptorWake {
    fn wake_worker(&self) {
        let _ = TcpStream::connect_timeout(&self.0, Duration::from_millis(200));
    }
}

type Shared = Workers<AcceptorWake>;

/// The thread-per-connection driver.
#[derive(Clone, Copy, Debug, Default)]
pub struct Threads;

/// A running thread-per-connection server.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: JoinHandle<io::Result<()>>,
}

impl Driver for Threads {
    type Server = Server;

    fn start<F: HandlerFactory>(
        addr: SocketAddr,
        config: Arc<ServerConfig>,
        factory: Arc<F>,
        options: ServerOptions,
    ) -> io::Result<Server> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = match &options.listening_socket {
            Some(socket) => {
                let listener = socket.try_clone()?;
                listener.set_nonblocking(false)?;
                listener
            }
            None => TcpListener::bind(addr)?,
        };
        let addr = listener.local_addr()?;
        let shared = Workers::new(vec![Arc::new(AcceptorWake(addr))]);
        let signer = SignerPool::for_options(&options)?;
        if let Some(log) = options.failure_log.clone() {
            // The event loops tick the failure log from their timers; here a small thread
            // does, so the count of suppressed lines appears even once a flood has stopped.
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("failure-log".into())
                .spawn(move || {
                    while !shared.stopping() {
                        std::thread::sleep(Duration::from_millis(250));
                        log.tick(Instant::now());
                    }
                })?;
        }
        let acceptor = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("accept".into())
                .spawn(move || accept_loop(listener, config, factory, options, shared, signer))?
        };
        Ok(Server {
            addr,
            shared,
            acceptor,
        })
    }
}

impl Running for Server {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::new(self.shared.clone())
    }

    fn join(self) -> io::Result<()> {
        join_workers(vec![self.acceptor])
    }
}

fn accept_loop<F: HandlerFactory>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    factory: Arc<F>,
    options: ServerOptions,
    shared: Arc<Shared>,
    signer: Option<SignerPool>,
) -> io::Result<()> {
    let mut threads: Vec<JoinHandle<io::Result<()>>> = Vec::new();
    for socket in listener.incoming() {
        if shared.stopping() {
            break;
        }
        threads.retain(|t| !t.is_finished());
        let Ok(socket) = socket else { continue };
        let peer = socket.peer_addr().ok();
        if !shared.admit(options.max_connections) {
            if let Some(m) = &config.metrics {
                m.connection_refused();
            }
            if let Some(log) = &options.failure_log {
                log.refused(Instant::now(), peer, options.max_connections);
            }
            drop(socket);
            continue;
        }
        // A reloaded configuration for each new connection.
        let current = options
            .live_config
            .as_ref()
            .map_or_else(|| config.clone(), |live| live.current());
        let (config, options, shared2, signer) =
            (current, options.clone(), shared.clone(), signer.clone());
        let app = factory.new_handler();
        let spawned = spawn_connection(move || {
            if let Some(m) = &config.metrics {
                m.connection_opened();
            }
            let result = serve(socket, peer, app, config.clone(), options, &shared2, signer);
            if let Some(m) = &config.metrics {
                m.connection_closed();
            }
            shared2.release();
            result
        });
        match spawned {
            Ok(t) => threads.push(t),
            // No thread: the connection (moved into the closure, now dropped) gives its slot
            // back at once.
            Err(_) => shared.release(),
        }
    }
    // Shutting down: every connection thread sees the flag within a tick and drains.
    join_workers(threads)
}

/// How long a write waits for the peer to take bytes before the thread turns to its other
/// work (reads, timers) and tries again: a peer that does not read never holds the thread.
const WRITE_STALL: Duration = Duration::from_millis(10);

/// Largest read from an upstream at once.
const UPSTREAM_READ: usize = 16 * 1024;

/// Largest read from the client at once (an unfinished record waits in `inbound` for the
/// rest): buffers are allocated per connection, so they are kept small.
const CLIENT_READ: usize = 8 * 1024;

/// Wakes a connection's thread when its mailbox gets an answer.
struct MailboxWake(Mutex<Sender<Input>>);

impl WakeWorker for MailboxWake {
    fn wake_worker(&self) {
        if let Ok(inputs) = self.0.lock() {
            let _ = inputs.send(Input::Mailbox);
        }
    }
}

/// One connection's sockets and their reading threads.
struct Conn {
    sock: TcpStream,
    client: Reader,
    /// The client's bytes not yet taken by the connection (an unfinished record).
    inbound: Vec<u8>,
    /// The buffer the client's next read goes into (`None` while it is out).
    client_buf: Option<Vec<u8>>,
    client_ended: bool,
    /// The upstream's socket and its reader, once connected.
    upstream: Option<(UpstreamSocket, Reader)>,
    upstream_buf: Option<Vec<u8>>,
    inputs: Sender<Input>,
}

/// One connection on its own thread, until it is over: its reads arrive from two small
/// reading threads (client, upstream) on one channel, its writes are made here.
fn serve<H: Handler>(
    sock: TcpStream,
    peer: Option<SocketAddr>,
    mut app: H,
    config: Arc<ServerConfig>,
    options: ServerOptions,
    shared: &Shared,
    signer: Option<SignerPool>,
) -> io::Result<()> {
    sock.set_nodelay(true)?;
    sock.set_write_timeout(Some(WRITE_STALL))?;
    if app.wants_addresses() {
        app.on_addresses(peer, sock.local_addr().ok());
    }
    let (inputs_tx, inputs) = channel();
    let (mailbox, answers) = Mailbox::new(Arc::new(MailboxWake(Mutex::new(inputs_tx.clone()))));
    let mut env = Env::new(config.clone(), options, signer, mailbox);
    let id = ConnId {
        key: 0,
        generation: 0,
    };
    let tls = reprise::ServerConnection::new(config);
    let mut served = Served::new(id, tls, app, &env.options, env.now);
    let mut conn = Conn {
        client: Reader::spawn(sock.try_clone()?, inputs_tx.clone(), Input::Client)?,
        sock,
        inbound: Vec::new(),
        client_buf: Some(vec![0; CLIENT_READ]),
        client_ended: false,
        upstream: None,
        upstream_buf: Some(Vec::new()),
        inputs: inputs_tx,
    };
    let mut grace_until: Option<Instant> = None;
    loop {
        env.tick();
        while let Ok(Answer { reply, .. }) = answers.try_recv() {
            served.on_reply(reply, &mut env);
            conn.feed(&mut served, &mut env);
        }
        conn.write_client(&mut served, &mut env);
        let moved = conn.move_upstream(&mut served, &mut env);
        if moved {
            conn.write_client(&mut served, &mut env);
        }
        if served.wants_shutdown_write() {
            // Our fatal alert has left: the FIN follows it at once (RFC 5246 §7.2.2).
            let _ = conn.sock.shutdown(Shutdown::Write);
            served.on_write_shut();
        }
        if shared.stopping() && grace_until.is_none() {
            grace_until = Some(env.now + env.options.shutdown_grace);
            served.on_shutdown(&mut env);
            continue;
        }
        if grace_until.is_some_and(|g| env.now >= g) {
            served.on_grace_over(env.now, &env.options);
        }
        if served.is_closed() {
            break;
        }
        conn.ask_for_input(&mut served, &env);
        let stalled = served.wants_write() || conn.upstream_stalled(&mut served);
        let wait = if moved {
            Duration::ZERO
        } else if stalled {
            WRITE_STALL
        } else {
            served
                .deadline()
                .saturating_duration_since(env.now)
                .clamp(Duration::from_millis(1), TICK)
        };
        match inputs.recv_timeout(wait) {
            Ok(input) => {
                env.tick();
                conn.take(input, &mut served, &mut env);
                while let Ok(input) = inputs.try_recv() {
                    conn.take(input, &mut served, &mut env);
                }
            }
            Err(_) => {
                env.tick();
                served.on_timer(&mut env);
            }
        }
    }
    if served.phase() != Phase::Closed(reprise_serve::served::End::Done) {
        // A goodbye queued at the end (an idle timeout's close_notify) goes if the socket
        // takes it at once.
        let _ = conn.sock.write_all(served.output());
    }
    served.log_end(&env.options, peer, Instant::now());
    conn.close(&mut served);
    Ok(())
}

impl Conn {
    /// Offers the client's bytes to the connection; an unfinished record stays.
    fn feed<H: Handler>(&mut self, served: &mut Served<H>, env: &mut Env<MailboxWake>) {
        if self.inbound.is_empty() {
            return;
        }
        let consumed = served.on_input(&mut self.inbound, env);
        self.inbound.drain(..consumed);
        if self.inbound.len() >= READ_BUFFER_SIZE {
            // More than the largest record, still unfinished: not TLS.
            served.on_socket_error(io::ErrorKind::InvalidData, env.now);
        }
    }

    /// Writes what the connection has for the client, until it is all out or the client
    /// stops taking it for a moment.
    fn write_client<H: Handler>(&mut self, served: &mut Served<H>, env: &mut Env<MailboxWake>) {
        while served.wants_write() {
            match self.sock.write(served.output()) {
                Ok(0) => served.on_socket_error(io::ErrorKind::WriteZero, env.now),
                Ok(n) => served.on_written(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if stalled(&e) => return,
                Err(e) => served.on_socket_error(e.kind(), env.now),
            }
            if served.is_closed() {
                return;
            }
            if !served.wants_write() {
                served.on_drained(env);
            }
        }
        if !served.is_closed() {
            served.on_drained(env);
        }
    }

    /// Hands the reading threads a buffer where the connection wants input: the client's
    /// while the connection reads, the upstream's while it has room.
    fn ask_for_input<H: Handler>(&mut self, served: &mut Served<H>, env: &Env<MailboxWake>) {
        if !self.client_ended
            && !self.client.is_reading()
            && served.wants_read(0, &env.options)
            && self.inbound.len() < READ_BUFFER_SIZE
        {
            if let Some(buf) = self.client_buf.take() {
                self.client.read_into(buf);
            }
        }
        let Some(upstream) = served.app_mut().upstream() else {
            return;
        };
        if let Some((_, reader)) = &mut self.upstream {
            if !reader.is_reading() && upstream.wants_read() {
                if let Some(mut buf) = self.upstream_buf.take() {
                    buf.resize(upstream.read_room().min(UPSTREAM_READ), 0);
                    reader.read_into(buf);
                }
            }
        }
    }

    /// True while bytes for the upstream wait for it to take them.
    fn upstream_stalled<H: Handler>(&self, served: &mut Served<H>) -> bool {
        self.upstream.is_some()
            && served
                .app_mut()
                .upstream()
                .is_some_and(|u| !u.output().is_empty())
    }

    /// Takes one input from the reading threads, the connector or the mailbox.
    fn take<H: Handler>(
        &mut self,
        input: Input,
        served: &mut Served<H>,
        env: &mut Env<MailboxWake>,
    ) {
        match input {
            Input::Client(read) => {
                self.client.done();
                match read {
                    Ok(bytes) if bytes.is_empty() => {
                        self.client_ended = true;
                        served.on_eof(env);
                    }
                    Ok(mut bytes) => {
                        self.inbound.extend_from_slice(&bytes);
                        bytes.resize(CLIENT_READ, 0);
                        self.client_buf = Some(bytes);
                        self.feed(served, env);
                    }
                    Err(e) => {
                        self.client_ended = true;
                        served.on_socket_error(e.kind(), env.now);
                    }
                }
            }
            // Reads of an upstream already closed are dropped.
            Input::Upstream(read) => {
                let (Some((_, reader)), Some(upstream)) =
                    (&mut self.upstream, served.app_mut().upstream())
                else {
                    return;
                };
                reader.done();
                match read {
                    Ok(bytes) if bytes.is_empty() => upstream.received_eof(),
                    Ok(bytes) => {
                        upstream.received(&bytes);
                        self.upstream_buf = Some(bytes);
                    }
                    Err(e) => upstream.failed(UpstreamFailure::Io(e.kind())),
                }
                served.on_app_progress(env);
            }
            Input::Connected(result) => {
                let Some(upstream) = served.app_mut().upstream() else {
                    return;
                };
                if !matches!(upstream.state(), UpstreamState::Connecting(_)) {
                    // Too late (it timed out meanwhile, or the connection is over).
                    if let Ok(sock) = result {
                        sock.close(false);
                    }
                    return;
                }
                let reader = result.and_then(|sock| {
                    let reader =
                        Reader::spawn(sock.reader()?, self.inputs.clone(), Input::Upstream)?;
                    Ok((sock, reader))
                });
                match reader {
                    Ok(pair) => {
                        self.upstream = Some(pair);
                        upstream.connected();
                    }
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                        upstream.failed(UpstreamFailure::ConnectTimeout);
                    }
                    Err(e) => upstream.failed(UpstreamFailure::Connect(e.kind())),
                }
                served.on_app_progress(env);
            }
            Input::Mailbox => {} // drained at the top of the loop
        }
    }

    /// Carries out what the connection's upstream asks: connect (on a short-lived thread),
    /// write, shut the write side, close. Returns true when anything moved.
    fn move_upstream<H: Handler>(
        &mut self,
        served: &mut Served<H>,
        env: &mut Env<MailboxWake>,
    ) -> bool {
        let Some(upstream) = served.app_mut().upstream() else {
            return false;
        };
        let mut moved = false;
        if let Some(addr) = upstream.wants_connect() {
            let (addr, timeout, inputs) = (
                addr.clone(),
                upstream.options().connect_timeout,
                self.inputs.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name("conn-connect".into())
                .spawn(move || {
                    let _ = inputs.send(Input::Connected(UpstreamSocket::connect(&addr, timeout)));
                });
            match spawned {
                Ok(_) => upstream.connecting(env.now),
                Err(e) => upstream.failed(UpstreamFailure::Connect(e.kind())),
            }
            moved = true;
        }
        if let Some((sock, _)) = &mut self.upstream {
            if upstream.state() == UpstreamState::Connected {
                while !upstream.output().is_empty() {
                    match sock.write(upstream.output()) {
                        Ok(0) => upstream.failed(UpstreamFailure::Io(io::ErrorKind::WriteZero)),
                        Ok(n) => {
                            upstream.wrote(n);
                            moved = true;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if stalled(&e) => break,
                        Err(e) => upstream.failed(UpstreamFailure::Io(e.kind())),
                    }
                }
                if upstream.wants_shutdown_write() {
                    let _ = sock.shutdown(Shutdown::Write);
                    upstream.write_shut();
                    moved = true;
                }
            }
            if upstream.wants_close() || upstream.state() == UpstreamState::Closed {
                if let Some((sock, _)) = self.upstream.take() {
                    sock.close(false);
                }
                upstream.closed();
                moved = true;
            }
        }
        if moved {
            served.on_app_progress(env);
        }
        moved
    }

    /// The connection is over: the upstream is closed (reset if the client's connection was
    /// cut off before the upstream ended its stream), and the reading threads let go.
    fn close<H: Handler>(self, served: &mut Served<H>) {
        if let Some((sock, _)) = self.upstream {
            let reset = served
                .app_mut()
                .upstream()
                .is_some_and(|u| u.resets_on_close());
            sock.close(reset);
        }
        let _ = self.sock.shutdown(Shutdown::Read);
    }
}

/// A write that timed out ([`WRITE_STALL`]): the peer is not taking bytes right now.
fn stalled(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
