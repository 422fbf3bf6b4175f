//! The TLS 1.2 load generator of `reprise-tls-mio`, on io_uring: the same [`LoadOptions`], the
//! same [`LoadReport`], the same behaviour (N virtual clients, each connecting, handshaking,
//! optionally resuming its own previous session, optionally sending one `GET`, then closing
//! and starting again), with connects, sends and multishot receives as ring operations.
//!
//! A virtual client's next connection starts only once every operation of its previous one
//! has completed (its receive is cancelled at the end), so its send buffer and descriptor are
//! never reused while the kernel may still use them.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{IntoRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use io_uring::{opcode, types};

use reprise::ClientConfig;
use reprise_load::exchange::{
    deal, http_request, io_kind, supervise, Absorbed, Exchange, Ledger, LoadShared, Outcome, Stage,
};

use crate::bufring::BufRing;
use crate::ring::{tag, untag, Completion, Op, Ring};
use crate::{LoadOptions, LoadReport, Stop};

const RING_ENTRIES: u32 = 1024;
const CQ_FACTOR: u32 = 8;
const RECV_BUFFERS: u16 = 1024;
const RECV_BUFFER_SIZE: usize = 4096;
const BUFFER_GROUP: u16 = 0;
/// How long the end of a run waits for the kernel to finish every operation.
const QUIESCE_LIMIT: Duration = Duration::from_secs(2);

/// Runs the load: `configs[i]` is virtual client `i`'s configuration (give each its own
/// session store so each resumes its own session). Blocks until the run ends. Fails with
/// [`io::ErrorKind::Unsupported`] and the cause when io_uring cannot be used here.
pub fn run(configs: Vec<Arc<ClientConfig>>, options: &LoadOptions) -> io::Result<LoadReport> {
    crate::probe()?;
    let per_worker = deal(configs, options)?;
    let shared = LoadShared::new(options);
    let barrier = Arc::new(Barrier::new(per_worker.len() + 1));
    let mut threads = Vec::with_capacity(per_worker.len());
    for (w, clients) in per_worker.into_iter().enumerate() {
        let (options, shared, barrier) = (options.clone(), shared.clone(), barrier.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("uring-load-{w}"))
                .spawn(move || {
                    // The ring is made on the thread that uses it (single issuer).
                    match LoadWorker::new(clients, options, shared.clone()) {
                        Ok(worker) => worker.run(&barrier),
                        Err(e) => {
                            shared.abort.store(true, Ordering::Relaxed);
                            barrier.wait();
                            Err(e)
                        }
                    }
                })?,
        );
    }
    supervise(threads, &shared, options, &barrier)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not connected; starts again at `retry_at`.
    Idle,
    Connecting,
    /// Connected: the exchange's stage says where it stands.
    Up,
    /// Ended; waiting for its operations to complete before `then`.
    Retiring,
    /// Finished for this run.
    Done,
}

/// What a client does once its previous connection is fully retired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    Start,
    Retry,
    Stop,
}

struct Client {
    config: Arc<ClientConfig>,
    /// Which target the next connection goes to (`usize::MAX`: the shared rotation).
    next_target: usize,
    fd: Option<RawFd>,
    generation: u32,
    x: Exchange,
    phase: Phase,
    then: Then,
    deadline: Instant,
    retry_at: Instant,
    /// Records being sent: the kernel reads `out[out_pos..]` while `sending`.
    out: Vec<u8>,
    out_pos: usize,
    sending: bool,
    connecting: bool,
    receiving: bool,
    starved: bool,
}

impl Client {
    fn is_held(&self) -> bool {
        self.phase == Phase::Up && self.x.stage == Stage::Held
    }
}

fn errno_kind(what: &str, result: i32) -> String {
    io_kind(what, &io::Error::from_raw_os_error(-result))
}

struct LoadWorker {
    /// Declared (so dropped) before `bufs` and `targets`, which its operations use.
    ring: Ring,
    bufs: BufRing,
    /// Socket addresses the connects point at; never changed after creation.
    targets: Vec<socket2::SockAddr>,
    clients: Vec<Client>,
    options: LoadOptions,
    shared: Arc<LoadShared>,
    ledger: Ledger,
    request: Vec<u8>,
    completions: Vec<Completion>,
    starved: Vec<usize>,
    fatal: Option<io::Error>,
}

impl LoadWorker {
    fn new(
        clients: Vec<(usize, Arc<ClientConfig>)>,
        options: LoadOptions,
        shared: Arc<LoadShared>,
    ) -> io::Result<Self> {
        let ring = Ring::new(RING_ENTRIES, CQ_FACTOR)?;
        let mut bufs = BufRing::new(RECV_BUFFERS, RECV_BUFFER_SIZE)?;
        bufs.register(&ring.submitter(), BUFFER_GROUP)?;
        let now = Instant::now();
        let n = options.targets.len();
        let clients = clients
            .into_iter()
            .map(|(i, config)| Client {
                config,
                next_target: i % n,
                fd: None,
                generation: 0,
                x: Exchange::default(),
                phase: Phase::Idle,
                then: Then::Start,
                deadline: now,
                retry_at: now,
                out: Vec::new(),
                out_pos: 0,
                sending: false,
                connecting: false,
                receiving: false,
                starved: false,
            })
            .collect();
        let request = http_request(&options);
        Ok(Self {
            ring,
            bufs,
            targets: options
                .targets
                .iter()
                .map(|&a| socket2::SockAddr::from(a))
                .collect(),
            clients,
            options,
            shared,
            ledger: Ledger::default(),
            request,
            completions: Vec::with_capacity((RING_ENTRIES * CQ_FACTOR) as usize),
            starved: Vec::new(),
            fatal: None,
        })
    }

    fn run(mut self, barrier: &Barrier) -> io::Result<LoadReport> {
        let result = self.run_inner(barrier);
        if result.is_err() {
            self.shared.abort.store(true, Ordering::Relaxed);
        }
        let quiet = self.quiesce();
        let report = std::mem::take(&mut self.ledger.report);
        if !quiet {
            // The kernel may still use buffers: leak them rather than free them.
            let LoadWorker {
                ring,
                bufs,
                targets,
                clients,
                ..
            } = self;
            drop(ring);
            std::mem::forget(bufs);
            std::mem::forget(targets);
            std::mem::forget(clients);
        }
        result.map(|()| report)
    }

    fn run_inner(&mut self, barrier: &Barrier) -> io::Result<()> {
        if self.options.warm_up {
            self.ledger.warming = true;
            let deadline = Instant::now() + self.options.timeout * 2;
            let outcome = self.event_loop(Some(deadline));
            self.ledger.warming = false;
            let outcome = outcome.and_then(|()| self.retire_all());
            if let Err(e) = outcome {
                barrier.wait();
                return Err(e);
            }
            for c in &mut self.clients {
                c.phase = Phase::Idle;
            }
        }
        barrier.wait();
        let now = Instant::now();
        for c in &mut self.clients {
            c.retry_at = now;
        }
        self.ledger.end = match self.options.stop {
            Stop::Duration(d) => Some(now + d),
            Stop::Handshakes(_) => None,
        };
        self.event_loop(self.ledger.end)?;
        self.ledger.report.held = self.clients.iter().filter(|c| c.is_held()).count();
        self.retire_all()
    }

    /// Ends every connection and waits (bounded) until all are retired.
    fn retire_all(&mut self) -> io::Result<()> {
        for i in 0..self.clients.len() {
            match self.clients[i].phase {
                Phase::Idle | Phase::Done => self.clients[i].phase = Phase::Done,
                Phase::Retiring => self.clients[i].then = Then::Stop,
                _ => {
                    self.say_goodbye(i);
                    self.retire(i, Then::Stop, true);
                }
            }
        }
        let until = Instant::now() + QUIESCE_LIMIT;
        while self.clients.iter().any(|c| c.phase == Phase::Retiring) && Instant::now() < until {
            self.turn(Duration::from_millis(20))?;
        }
        Ok(())
    }

    /// Cancels what is left and waits (bounded) until the ring is idle; false if it is not.
    fn quiesce(&mut self) -> bool {
        for i in 0..self.clients.len() {
            if self.clients[i].phase != Phase::Done {
                self.retire(i, Then::Stop, true);
            }
        }
        let until = Instant::now() + QUIESCE_LIMIT;
        while self.ring.in_flight() > 0 && Instant::now() < until {
            if self.turn(Duration::from_millis(20)).is_err() {
                break;
            }
        }
        let _ = self.ring.enter(Duration::ZERO);
        self.ring.in_flight() == 0
    }

    /// Runs until every client is done or `until` passes.
    fn event_loop(&mut self, until: Option<Instant>) -> io::Result<()> {
        let mut next_sweep = Instant::now();
        loop {
            let now = Instant::now();
            if until.is_some_and(|u| now >= u) || self.shared.abort.load(Ordering::Relaxed) {
                return Ok(());
            }
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + Duration::from_millis(10);
            }
            if self.clients.iter().all(|c| c.phase == Phase::Done) {
                return Ok(());
            }
            let mut timeout = next_sweep.saturating_duration_since(now);
            if let Some(u) = until {
                timeout = timeout.min(u.saturating_duration_since(now));
            }
            self.turn(timeout)?;
        }
    }

    /// One submission-and-wait, then every completion.
    fn turn(&mut self, timeout: Duration) -> io::Result<()> {
        self.ring.enter(timeout)?;
        let mut completions = std::mem::take(&mut self.completions);
        completions.clear();
        self.ring.reap(&mut completions);
        for c in &completions {
            self.complete(c);
        }
        self.completions = completions;
        self.bufs.publish();
        for i in std::mem::take(&mut self.starved) {
            let c = &mut self.clients[i];
            if c.starved {
                c.starved = false;
                if c.phase == Phase::Up {
                    self.arm_recv(i);
                } else {
                    self.reap(i);
                }
            }
        }
        match self.fatal.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Starts idle clients whose time has come and fails connections past their deadline.
    fn sweep(&mut self, now: Instant) {
        for i in 0..self.clients.len() {
            let c = &self.clients[i];
            let what = match (c.phase, c.x.stage) {
                (Phase::Idle, _) if c.retry_at <= now => {
                    self.start(i);
                    continue;
                }
                _ if c.deadline > now => continue,
                (Phase::Retiring, _) => {
                    // The peer does not take our close_notify: stop waiting for it.
                    self.retire(i, c.then, true);
                    continue;
                }
                (Phase::Connecting, _) => "timeout: connect",
                (Phase::Up, Stage::Handshaking) => "timeout: handshake",
                (Phase::Up, Stage::Http) => "timeout: response",
                _ => continue,
            };
            self.finish(i, Outcome::Failure(what.into()));
        }
    }

    fn push_plain(&mut self, entry: io_uring::squeue::Entry) {
        if let Err(e) = self.ring.push_plain(entry) {
            self.fatal.get_or_insert(e);
        }
    }

    /// Opens the next connection of client `i` (if the run still wants one).
    fn start(&mut self, i: usize) {
        if !self.shared.take_attempt(&self.options, self.ledger.warming) {
            self.clients[i].phase = Phase::Done;
            return;
        }
        let now = Instant::now();
        let c = &mut self.clients[i];
        let t = self
            .shared
            .next_target(&mut c.next_target, self.targets.len());
        c.deadline = now + self.options.timeout;
        c.generation = (c.generation + 1) & 0xff_ffff;
        if let Err(outcome) =
            c.x.begin(&c.config, &self.options, !self.ledger.warming, now)
        {
            self.finish(i, outcome);
            return;
        }
        let target: SocketAddr = self.options.targets[t];
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(target),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .and_then(|s| s.set_tcp_nodelay(true).map(|()| s));
        let socket = match socket {
            Ok(s) => s,
            Err(e) => {
                self.finish(i, Outcome::Failure(io_kind("socket", &e)));
                return;
            }
        };
        let fd = socket.into_raw_fd();
        let addr = &self.targets[t];
        let entry = opcode::Connect::new(types::Fd(fd), addr.as_ptr().cast(), addr.len())
            .build()
            .user_data(tag(Op::Connect, c.generation, i));
        c.fd = Some(fd);
        c.phase = Phase::Connecting;
        // SAFETY: the kernel reads the address from `self.targets[t]`, whose heap storage is
        // never changed or freed while the worker runs; on a forced end with operations still
        // in flight, `run` leaks `targets` instead of freeing it.
        if let Err(e) = unsafe { self.ring.push(&entry) } {
            self.fatal.get_or_insert(e);
            return;
        }
        self.clients[i].connecting = true;
    }

    fn arm_recv(&mut self, i: usize) {
        let c = &mut self.clients[i];
        let Some(fd) = c.fd else {
            return;
        };
        let entry = opcode::RecvMulti::new(types::Fd(fd), BUFFER_GROUP)
            .build()
            .user_data(tag(Op::Recv, c.generation, i));
        c.receiving = true;
        // Buffers come from the registered ring, which outlives every operation (see `run`).
        self.push_plain(entry);
    }

    /// Sends what the engine has queued, unless a send is in flight.
    fn flush(&mut self, i: usize) {
        let c = &mut self.clients[i];
        let (Some(fd), Some(tls)) = (c.fd, c.x.tls.as_mut()) else {
            return;
        };
        if c.sending || !tls.wants_transmit() {
            return;
        }
        c.out.clear();
        c.out.extend_from_slice(tls.pending_output());
        let n = c.out.len();
        tls.consume_output(n);
        c.out_pos = 0;
        self.push_send(i, fd);
    }

    fn push_send(&mut self, i: usize, fd: RawFd) {
        let c = &mut self.clients[i];
        let rest = &c.out[c.out_pos..];
        let entry = opcode::Send::new(types::Fd(fd), rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(tag(Op::Send, c.generation, i));
        // SAFETY: the kernel reads `rest` until the send completes; `c.out` is not touched
        // while `c.sending` is true (`flush` checks it, the completion clears it first), the
        // client's next connection starts only after its last send completed, and `clients`
        // is leaked, not freed, if the run ends with operations in flight.
        if let Err(e) = unsafe { self.ring.push(&entry) } {
            self.fatal.get_or_insert(e);
            return;
        }
        c.sending = true;
    }

    fn complete(&mut self, cqe: &Completion) {
        let (op, generation, i) = untag(cqe.user_data);
        let current = self
            .clients
            .get(i)
            .is_some_and(|c| c.generation == generation && c.fd.is_some());
        match op {
            Some(Op::Connect) if current => {
                self.clients[i].connecting = false;
                if self.clients[i].phase == Phase::Connecting {
                    if cqe.result < 0 {
                        self.finish(i, Outcome::Failure(errno_kind("connect", cqe.result)));
                    } else {
                        self.clients[i].phase = Phase::Up;
                        self.arm_recv(i);
                        self.flush(i);
                    }
                } else {
                    self.reap(i);
                }
            }
            Some(Op::Send) if current => {
                let c = &mut self.clients[i];
                c.sending = false;
                if c.phase == Phase::Retiring {
                    self.reap(i);
                } else if cqe.result < 0 {
                    self.finish(i, Outcome::Failure(errno_kind("write", cqe.result)));
                } else {
                    c.out_pos += cqe.result as usize;
                    if c.out_pos < c.out.len() {
                        if let Some(fd) = c.fd {
                            self.push_send(i, fd);
                        }
                    } else {
                        self.flush(i);
                    }
                }
            }
            Some(Op::Recv) if current => self.received(i, cqe),
            _ => {
                if let Some(bid) = cqe.buffer() {
                    self.bufs.recycle(bid);
                }
            }
        }
    }

    fn received(&mut self, i: usize, cqe: &Completion) {
        let c = &mut self.clients[i];
        if !cqe.more() {
            c.receiving = false;
        }
        if c.phase == Phase::Retiring {
            if let Some(bid) = cqe.buffer() {
                self.bufs.recycle(bid);
            }
            self.reap(i);
            return;
        }
        if cqe.result > 0 {
            if let Some(bid) = cqe.buffer() {
                c.x.buf
                    .extend_from_slice(self.bufs.get_mut(bid, cqe.result as usize));
                self.bufs.recycle(bid);
            }
            let hold = self.options.hold && !self.ledger.warming;
            match c.x.absorb(&self.request, hold) {
                Ok(Absorbed::Complete) => self.finish(i, Outcome::Success),
                Ok(absorbed) => {
                    if absorbed == Absorbed::Hold {
                        self.ledger.hold(&mut c.x, &self.shared);
                    }
                    self.flush(i);
                    let c = &mut self.clients[i];
                    if !c.receiving && !c.starved && c.phase != Phase::Retiring {
                        self.arm_recv(i);
                    }
                }
                Err(outcome) => self.finish(i, outcome),
            }
            return;
        }
        if cqe.result == 0 {
            let outcome = c.x.at_eof();
            self.finish(i, outcome);
        } else if cqe.result == -libc::ENOBUFS {
            c.starved = true;
            self.starved.push(i);
        } else if cqe.result != -libc::ECANCELED {
            self.finish(i, Outcome::Failure(errno_kind("read", cqe.result)));
        }
    }

    /// Ends client `i`'s connection and schedules the next one.
    fn finish(&mut self, i: usize, outcome: Outcome) {
        let c = &self.clients[i];
        if c.is_held() {
            self.shared.held.fetch_sub(1, Ordering::Relaxed);
        }
        let failed = self.ledger.count(outcome, &c.x, &self.shared);
        let then = if self.ledger.warming {
            Then::Stop
        } else if failed {
            Then::Retry
        } else {
            Then::Start
        };
        if !failed {
            self.say_goodbye(i);
        }
        self.retire(i, then, failed);
    }

    /// Queues close_notify (best effort).
    fn say_goodbye(&mut self, i: usize) {
        self.clients[i].x.say_goodbye();
        self.flush(i);
    }

    /// Ends the connection's operations (the receive always, the send when `force`); `then`
    /// happens once all have completed.
    fn retire(&mut self, i: usize, then: Then, force: bool) {
        let c = &mut self.clients[i];
        c.then = then;
        if c.phase == Phase::Done || c.fd.is_none() {
            c.phase = Phase::Retiring;
            self.reap(i);
            return;
        }
        let generation = c.generation;
        if c.phase != Phase::Retiring {
            c.phase = Phase::Retiring;
            c.deadline = Instant::now() + Duration::from_millis(500);
        }
        let (receiving, connecting, sending) = (c.receiving, c.connecting, c.sending);
        if receiving {
            self.push_plain(
                opcode::AsyncCancel::new(tag(Op::Recv, generation, i))
                    .build()
                    .user_data(tag(Op::Other, 0, 0)),
            );
        }
        if connecting {
            self.push_plain(
                opcode::AsyncCancel::new(tag(Op::Connect, generation, i))
                    .build()
                    .user_data(tag(Op::Other, 0, 0)),
            );
        }
        if sending && force {
            self.push_plain(
                opcode::AsyncCancel::new(tag(Op::Send, generation, i))
                    .build()
                    .user_data(tag(Op::Other, 0, 0)),
            );
        }
        self.reap(i);
    }

    /// Closes a retiring client's socket once none of its operations is in flight, then does
    /// what comes next.
    fn reap(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if c.phase != Phase::Retiring || c.sending || c.receiving || c.connecting || c.starved {
            return;
        }
        c.x.tls = None;
        if let Some(fd) = c.fd.take() {
            self.push_plain(opcode::Close::new(types::Fd(fd)).build().user_data(tag(
                Op::Other,
                0,
                0,
            )));
        }
        let c = &mut self.clients[i];
        match c.then {
            Then::Start if !self.ledger.warming => {
                c.phase = Phase::Idle;
                self.start(i);
            }
            Then::Retry => {
                c.phase = Phase::Idle;
                // Failures back off a little so a dead server is not hammered.
                c.retry_at = Instant::now() + Duration::from_millis(10);
            }
            _ => c.phase = Phase::Done,
        }
    }
}
