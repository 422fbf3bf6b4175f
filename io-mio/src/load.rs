//! A TLS 1.2 load generator on mio: keeps N client connections busy, each connecting,
//! handshaking (optionally resuming), optionally sending one `GET` and reading the answer,
//! then closing and starting again. It speaks only TLS 1.2 and HTTP/1.1 on the wire, so it
//! works against any TLS 1.2 server (OpenSSL `s_server`, nginx, Reprise).
//!
//! Every *virtual client* has its own [`ClientConfig`] and so its own session store: with
//! resumption on it offers the session of its own previous connection, as a real client
//! would. With resumption on, each virtual client first does one warm-up handshake that is
//! not counted (it has nothing to offer yet), so the resumed share measures the steady state.

use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use reprise::ClientConfig;

use reprise_load::exchange::{
    deal, http_request, io_kind, supervise, Absorbed, Exchange, Ledger, LoadShared, Outcome, Stage,
};
pub use reprise_load::{LoadOptions, LoadReport, Stop};

/// Runs the load: `configs[i]` is virtual client `i`'s configuration (give each its own
/// session store so each resumes its own session). Blocks until the run ends.
pub fn run(configs: Vec<Arc<ClientConfig>>, options: &LoadOptions) -> io::Result<LoadReport> {
    let per_worker = deal(configs, options)?;
    let shared = LoadShared::new(options);
    let barrier = Arc::new(Barrier::new(per_worker.len() + 1));
    let mut threads = Vec::with_capacity(per_worker.len());
    for (w, clients) in per_worker.into_iter().enumerate() {
        let worker = LoadWorker::new(clients, options.clone(), shared.clone())?;
        let barrier = barrier.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("load-{w}"))
                .spawn(move || worker.run(&barrier))?,
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
    /// Finished for this run.
    Done,
}

struct Client {
    config: Arc<ClientConfig>,
    /// Which target the next connection goes to (`usize::MAX`: the shared rotation).
    next_target: usize,
    sock: Option<TcpStream>,
    x: Exchange,
    phase: Phase,
    deadline: Instant,
    retry_at: Instant,
}

impl Client {
    fn is_held(&self) -> bool {
        self.phase == Phase::Up && self.x.stage == Stage::Held
    }
}

struct LoadWorker {
    poll: Poll,
    clients: Vec<Client>,
    options: LoadOptions,
    shared: Arc<LoadShared>,
    ledger: Ledger,
    scratch: Vec<u8>,
    request: Vec<u8>,
}

impl LoadWorker {
    fn new(
        clients: Vec<(usize, Arc<ClientConfig>)>,
        options: LoadOptions,
        shared: Arc<LoadShared>,
    ) -> io::Result<Self> {
        let now = Instant::now();
        let targets = options.targets.len();
        let clients = clients
            .into_iter()
            .map(|(i, config)| Client {
                config,
                next_target: i % targets,
                sock: None,
                x: Exchange::default(),
                phase: Phase::Idle,
                deadline: now,
                retry_at: now,
            })
            .collect();
        Ok(Self {
            poll: Poll::new()?,
            clients,
            request: http_request(&options),
            options,
            shared,
            ledger: Ledger::default(),
            scratch: vec![0; 32 * 1024],
        })
    }

    fn run(mut self, barrier: &Barrier) -> io::Result<LoadReport> {
        let result = self.run_inner(barrier);
        if result.is_err() {
            self.shared.abort.store(true, Ordering::Relaxed);
        }
        result.map(|()| self.ledger.report)
    }

    fn run_inner(&mut self, barrier: &Barrier) -> io::Result<()> {
        if self.options.warm_up {
            self.ledger.warming = true;
            let deadline = Instant::now() + self.options.timeout * 2;
            let outcome = self.event_loop(Some(deadline));
            self.ledger.warming = false;
            for i in 0..self.clients.len() {
                self.close(i);
                self.clients[i].phase = Phase::Idle;
            }
            if let Err(e) = outcome {
                barrier.wait();
                return Err(e);
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
        for i in 0..self.clients.len() {
            self.close(i);
        }
        Ok(())
    }

    /// Runs until every client is done or `until` passes.
    fn event_loop(&mut self, until: Option<Instant>) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
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
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for event in events.iter() {
                let i = event.token().0;
                if i < self.clients.len() {
                    self.drive(i);
                }
            }
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
                (Phase::Connecting, _) => "timeout: connect",
                (Phase::Up, Stage::Handshaking) => "timeout: handshake",
                (Phase::Up, Stage::Http) => "timeout: response",
                _ => continue,
            };
            self.finish(i, Outcome::Failure(what.into()));
        }
    }

    /// Opens the next connection of client `i` (if the run still wants one).
    fn start(&mut self, i: usize) {
        if !self.shared.take_attempt(&self.options, self.ledger.warming) {
            self.clients[i].phase = Phase::Done;
            return;
        }
        let c = &mut self.clients[i];
        let target = self.options.targets[self
            .shared
            .next_target(&mut c.next_target, self.options.targets.len())];
        let now = Instant::now();
        c.deadline = now + self.options.timeout;
        if let Err(outcome) =
            c.x.begin(&c.config, &self.options, !self.ledger.warming, now)
        {
            self.finish(i, outcome);
            return;
        }
        match TcpStream::connect(target) {
            Ok(mut sock) => {
                let _ = sock.set_nodelay(true);
                if let Err(e) = self.poll.registry().register(
                    &mut sock,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                ) {
                    self.finish(i, Outcome::Failure(io_kind("register", &e)));
                    return;
                }
                c.sock = Some(sock);
                c.phase = Phase::Connecting;
            }
            Err(e) => self.finish(i, Outcome::Failure(io_kind("connect", &e))),
        }
    }

    /// Handles readiness of client `i`'s socket.
    fn drive(&mut self, i: usize) {
        if let Err(outcome) = self.drive_inner(i) {
            self.finish(i, outcome);
        }
    }

    fn drive_inner(&mut self, i: usize) -> Result<(), Outcome> {
        let c = &mut self.clients[i];
        let Some(sock) = c.sock.as_mut() else {
            return Ok(());
        };
        if c.phase == Phase::Connecting {
            match sock.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => return Err(Outcome::Failure(io_kind("connect", &e))),
            }
            match sock.peer_addr() {
                Ok(_) => c.phase = Phase::Up,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(Outcome::Failure(io_kind("connect", &e))),
            }
        }
        loop {
            let c = &mut self.clients[i];
            let (Some(sock), Some(tls)) = (c.sock.as_mut(), c.x.tls.as_mut()) else {
                return Ok(());
            };
            // Write what the engine has queued.
            while tls.wants_transmit() {
                match sock.write(tls.pending_output()) {
                    Ok(0) => return Err(Outcome::Failure("io: write zero".into())),
                    Ok(n) => tls.consume_output(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Outcome::Failure(io_kind("write", &e))),
                }
            }
            let n = match sock.read(&mut self.scratch) {
                Ok(0) => return Err(c.x.at_eof()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Outcome::Failure(io_kind("read", &e))),
            };
            c.x.buf.extend_from_slice(&self.scratch[..n]);
            let hold = self.options.hold && !self.ledger.warming;
            match c.x.absorb(&self.request, hold)? {
                Absorbed::Pending => {}
                Absorbed::Complete => return Err(Outcome::Success),
                Absorbed::Hold => self.ledger.hold(&mut c.x, &self.shared),
            }
        }
    }

    /// Ends client `i`'s connection and schedules the next one.
    fn finish(&mut self, i: usize, outcome: Outcome) {
        let c = &self.clients[i];
        if c.is_held() {
            self.shared.held.fetch_sub(1, Ordering::Relaxed);
        }
        let failed = self.ledger.count(outcome, &c.x, &self.shared);
        self.close(i);
        let c = &mut self.clients[i];
        if self.ledger.warming {
            c.phase = Phase::Done;
        } else if failed {
            // Failures back off a little so a dead server is not hammered in a tight loop.
            c.phase = Phase::Idle;
            c.retry_at = Instant::now() + Duration::from_millis(10);
        } else {
            self.start(i);
        }
    }

    /// Sends close_notify (best effort) and drops the socket.
    fn close(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.x.say_goodbye();
        if let (Some(sock), Some(tls)) = (c.sock.as_mut(), c.x.tls.as_ref()) {
            if tls.wants_transmit() {
                let _ = sock.write(tls.pending_output());
            }
        }
        if let Some(mut sock) = c.sock.take() {
            let _ = self.poll.registry().deregister(&mut sock);
        }
        c.x.tls = None;
    }
}
