//! `reprise-tls-threads`: the simplest Reprise driver — a blocking thread per connection — with
//! the same served-connection machine ([`reprise_serve::served`]) as the event-loop drivers.
//! It suits small servers and debugging; it spends a thread (and its stack) per connection.
//!
//! * One acceptor thread takes connections (up to [`ServerOptions::max_connections`]; more
//!   are closed at once, counted and logged) and spawns a thread for each. A connection that
//!   cannot get a thread gives its slot back at once.
//! * A connection thread writes what its connection has to send (blocking, bounded by the
//!   handshake timeout), then reads with a read timeout that ends at the connection's
//!   deadline, or waits for the answer to a suspended lookup.
//! * It wakes at least once a second while idle, to notice a shutdown and a handler's
//!   [`Wake`](reprise_serve::app::Wake) (so a wake may take up to a second here; the
//!   event-loop drivers answer at once).
//! * Backend streams ([`reprise_serve::backend`]) need a second socket per connection moved
//!   in both directions at once; this driver refuses them ([`io::ErrorKind::Unsupported`]):
//!   use the mio or io_uring driver.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reprise::ServerConfig;
use reprise_serve::app::{Handler, HandlerFactory};
use reprise_serve::served::{ConnId, Env, Phase, Served};
use reprise_serve::suspend::{Answer, Mailbox, SignerPool};
use reprise_serve::workers::{join_workers, WakeWorker, Workers};
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

/// A connection thread's mailbox needs no waker: the thread looks at it between reads.
struct Polled;

impl WakeWorker for Polled {
    fn wake_worker(&self) {}
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

    fn runs_backends() -> bool {
        false
    }

    fn start<F: HandlerFactory>(
        addr: SocketAddr,
        config: Arc<ServerConfig>,
        factory: Arc<F>,
        options: ServerOptions,
    ) -> io::Result<Server> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if factory.new_handler().backend().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the threads driver does not run backend streams (use mio or uring)",
            ));
        }
        let listener = TcpListener::bind(addr)?;
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

/// One connection on its own thread, until it is over.
fn serve<H: Handler>(
    mut sock: TcpStream,
    peer: Option<SocketAddr>,
    app: H,
    config: Arc<ServerConfig>,
    options: ServerOptions,
    shared: &Shared,
    signer: Option<SignerPool>,
) -> io::Result<()> {
    sock.set_nodelay(true)?;
    sock.set_write_timeout(Some(options.handshake_timeout))?;
    let (mailbox, answers) = Mailbox::new(Arc::new(Polled));
    let mut env = Env::new(config.clone(), options, signer, mailbox);
    let tls = reprise::ServerConnection::new(config);
    let id = ConnId {
        key: 0,
        generation: 0,
    };
    let mut served = Served::new(id, tls, app, &env.options, env.now);
    let mut buf = vec![0u8; READ_BUFFER_SIZE];
    let mut filled = 0;
    let mut grace_until: Option<Instant> = None;
    loop {
        env.tick();
        while let Ok(Answer { reply, .. }) = answers.try_recv() {
            served.on_reply(reply, &mut env);
            filled = feed(&mut served, &mut buf, filled, &mut env);
        }
        while served.wants_write() {
            match sock.write(served.output()) {
                Ok(0) => served.on_socket_error(io::ErrorKind::WriteZero, env.now),
                Ok(n) => served.on_written(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => served.on_socket_error(e.kind(), env.now),
            }
            if served.is_closed() {
                break;
            }
            if !served.wants_write() {
                served.on_drained(&mut env);
            }
        }
        if !served.is_closed() {
            served.on_drained(&mut env);
        }
        if served.wants_shutdown_write() {
            // Our fatal alert has left: the FIN follows it at once (RFC 5246 §7.2.2).
            let _ = sock.shutdown(std::net::Shutdown::Write);
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
        let wait = served
            .deadline()
            .saturating_duration_since(env.now)
            .clamp(Duration::from_millis(1), TICK);
        if served.wants_read(0, &env.options) {
            sock.set_read_timeout(Some(wait))?;
            match sock.read(&mut buf[filled..]) {
                Ok(0) => served.on_eof(&mut env),
                Ok(n) => {
                    filled += n;
                    env.tick();
                    filled = feed(&mut served, &mut buf, filled, &mut env);
                    if filled == buf.len() {
                        served.on_socket_error(io::ErrorKind::InvalidData, env.now);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    env.tick();
                    served.on_timer(&mut env);
                }
                Err(e) => served.on_socket_error(e.kind(), env.now),
            }
        } else {
            // A suspended handshake (or a handler that wants no input now) waits for its
            // answer or wake.
            match answers.recv_timeout(wait) {
                Ok(Answer { reply, .. }) => {
                    env.tick();
                    served.on_reply(reply, &mut env);
                    filled = feed(&mut served, &mut buf, filled, &mut env);
                }
                Err(_) => {
                    env.tick();
                    served.on_timer(&mut env);
                }
            }
        }
        if served.is_closed() && served.phase() != Phase::Closed(reprise_serve::served::End::Done) {
            // A goodbye queued at the end (an idle timeout's close_notify) goes if the socket
            // takes it at once.
            let _ = sock.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = sock.write_all(served.output());
        }
    }
    if let (Some(log), Some((failure, after_handshake))) =
        (&env.options.failure_log, served.failure())
    {
        log.report(Instant::now(), peer, &failure, after_handshake);
    }
    Ok(())
}

/// Offers `buf[..filled]` to the connection; returns how much is left (an unfinished record,
/// moved to the front).
fn feed<H: Handler>(
    served: &mut Served<H>,
    buf: &mut [u8],
    filled: usize,
    env: &mut Env<Polled>,
) -> usize {
    if filled == 0 {
        return 0;
    }
    let consumed = served.on_input(&mut buf[..filled], env);
    buf.copy_within(consumed..filled, 0);
    filled - consumed
}
