//! The bare-TCP floor on io_uring: the TCP half of a handshake with this driver's operations
//! and nothing else.
//!
//! `tcp-floor serve --driver uring` runs [`serve`]: it answers a pattern of byte counts (a
//! TLS 1.2 handshake's steps, client first; see [`crate::floor`]) the way the io_uring TLS
//! server (`reprise-tls-uring`) moves a handshake's bytes, through that crate's own operations
//! ([`reprise_uring::EventRing`], safe to use from here): a
//! multishot accept into direct descriptors, one single-shot poll-first receive from the
//! provided-buffer ring per client step, the server's step in one send from memory that
//! stays put until its completion, a quiet close after the last step, and the same batched
//! waits while busy. With no TLS in it, its CPU time per exchange is the floor for the uring
//! server, as `tcp-floor serve --driver mio` is for the mio server: the ratio of the two
//! floors is the most the uring driver can save over the mio one on the same exchange.
//!
//! A proxied pattern (`--backend`) then does what the server does with an upstream: a plain
//! (not direct) socket with `TCP_NODELAY`, a connect, the request's send and a single-shot
//! poll-first receive per backend read through the ring, each read relayed to the client in
//! one send, and a plain `close` of the backend socket at its end of file.

use std::io;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use reprise_uring::ring::{tag, untag, Completion, Op};
// The server's sizes and thresholds, so the floor does what the server does.
use libc::{ECANCELED, ECONNRESET, ENOBUFS, EPIPE};
use reprise_uring::server::{
    CQ_FACTOR, QUIESCE_LIMIT, RECV_BUFFERS, RECV_BUFFER_SIZE, RING_ENTRIES,
};
use reprise_uring::EventRing;
use slab::Slab;

use crate::floor::{Pattern, Proxy, CLOSE_NOTIFY, RECORD_OVERHEAD};

/// Direct descriptors registered (the floor has no connection limit to size them from).
const FIXED_FILES: u32 = 4096;

/// What a floor server run did (either driver's: [`crate::floor`] serves the mio floor with
/// it too).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FloorReport {
    /// Connections accepted.
    pub accepted: u64,
    /// Exchanges completed (every step of the pattern read or written).
    pub exchanges: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Connections the client ended before the pattern was complete (end of file or reset
    /// mid-exchange): expected for the connections in flight when a duration-bound load run
    /// ends.
    pub aborted: u64,
    /// Connections that failed otherwise (more bytes than the pattern, other I/O errors, or
    /// still open at the end of the shutdown grace period).
    pub errors: u64,
}

impl std::fmt::Display for FloorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "served: {} exchanges  accepted: {}  bytes in: {}  bytes out: {}  aborted: {}  errors: {}",
            self.exchanges, self.accepted, self.bytes_in, self.bytes_out, self.aborted, self.errors
        )
    }
}

/// Where a server connection is in a pattern of step sizes (client first, alternating): the
/// client step being read and how much of it has come. Shared by both drivers' floors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Index of the client step being read (even); past the last one, only output is left.
    pub step: usize,
    /// Bytes of that step received so far.
    pub got: usize,
}

impl Progress {
    /// Counts `n` bytes received: returns the bytes of the server steps that became due
    /// (each answers a client step read whole), or `None` when the client sent more than the
    /// pattern.
    pub fn absorb(&mut self, steps: &[usize], n: usize) -> Option<usize> {
        self.got += n;
        let mut owed = 0;
        while self.step < steps.len() && self.got >= steps[self.step] {
            self.got -= steps[self.step];
            owed += steps.get(self.step + 1).copied().unwrap_or(0);
            self.step += 2;
        }
        (!self.read_all(steps) || self.got == 0).then_some(owed)
    }

    /// Every client step has been read.
    pub fn read_all(&self, steps: &[usize]) -> bool {
        self.step >= steps.len()
    }
}

/// One connection: where it is in the pattern and what it has in flight.
struct Conn {
    slot: u32,
    generation: u32,
    progress: Progress,
    /// Bytes of the server's step not yet sent.
    owed: usize,
    sending: bool,
    receiving: bool,
    /// Ended: released once nothing of it is in flight.
    finishing: bool,
    /// A proxied pattern's backend, once the client's request has arrived.
    backend: Option<Backend>,
    /// The backend's end of file has been read and its socket closed.
    backend_done: bool,
}

/// A proxied connection's backend socket and its operations in flight.
struct Backend {
    sock: socket2::Socket,
    connecting: bool,
    sending: bool,
    receiving: bool,
}

/// Arms the backend's next (poll-first) receive; false when the ring refused it.
fn arm_backend_recv(ring: &mut EventRing, backend: &mut Backend, user_data: u64) -> bool {
    backend.receiving = ring.recv_fd(&backend.sock, true, user_data).is_ok();
    backend.receiving
}

impl Backend {
    fn in_flight(&self) -> bool {
        self.connecting || self.sending || self.receiving
    }
}

/// How a connection ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Done,
    Aborted,
    Error,
}

/// A proxied run's backend address and request, leaked once per run: the kernel reads them
/// while operations are in flight.
struct StaticProxy {
    backend: &'static socket2::SockAddr,
    request: &'static [u8],
}

struct Floor<'a> {
    ring: EventRing,
    steps: &'a [usize],
    proxy: Option<StaticProxy>,
    /// The server's steps are sent from here (allocated once per run and never freed).
    zeros: &'static [u8],
    conns: Slab<Conn>,
    next_generation: u32,
    accepting: bool,
    report: FloorReport,
}

/// Serves `steps` on `listener` with one ring until `stop` becomes readable (the read end of
/// a self-pipe a signal handler writes to), then lets the exchanges in flight finish within
/// `grace`. While busy (a turn handled several completions), it submits, then sleeps
/// `batch_wait` before waiting, as the server does.
pub fn serve(
    listener: std::net::TcpListener,
    pattern: &Pattern,
    proxy: Option<&Proxy>,
    stop: UnixStream,
    grace: Duration,
    batch_wait: Duration,
) -> io::Result<FloorReport> {
    let steps = &pattern.steps[..];
    if steps.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty pattern"));
    }
    crate::floor::check_proxy(pattern, proxy)?;
    let ring = EventRing::new(
        RING_ENTRIES,
        CQ_FACTOR,
        RECV_BUFFERS,
        RECV_BUFFER_SIZE,
        FIXED_FILES,
    )?;
    let mut largest = steps.iter().copied().max().unwrap_or(0);
    if proxy.is_some() {
        // A relayed read: at most one receive buffer plus a record's overhead.
        largest = largest.max(RECV_BUFFER_SIZE + RECORD_OVERHEAD);
    }
    let proxy = proxy.map(|p| StaticProxy {
        backend: Box::leak(Box::new(socket2::SockAddr::from(p.backend))),
        request: Box::leak(p.request.clone().into_boxed_slice()),
    });
    let mut floor = Floor {
        ring,
        steps,
        proxy,
        zeros: Box::leak(vec![0; largest].into_boxed_slice()),
        conns: Slab::with_capacity(1024),
        next_generation: 0,
        accepting: false,
        report: FloorReport::default(),
    };
    floor.arm_accept(&listener)?;
    floor.ring.poll_readable(&stop, tag(Op::Wake, 0, 0))?;
    let result = floor.run(&listener, grace, batch_wait);
    let report = floor.quiesce();
    result.map(|()| report)
}

impl Floor<'_> {
    fn arm_accept(&mut self, listener: &std::net::TcpListener) -> io::Result<()> {
        self.ring.accept_multi(listener, tag(Op::Accept, 0, 0))?;
        self.accepting = true;
        Ok(())
    }

    fn run(
        &mut self,
        listener: &std::net::TcpListener,
        grace: Duration,
        batch_wait: Duration,
    ) -> io::Result<()> {
        let mut completions: Vec<Completion> = Vec::with_capacity(256);
        let mut drain_deadline: Option<Instant> = None;
        loop {
            let wait = match drain_deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(1),
            };
            self.ring
                .let_batch_gather(completions.len(), batch_wait, wait)?;
            self.ring.enter(wait)?;
            completions.clear();
            self.ring.reap(&mut completions);
            for c in &completions {
                let (op, generation, key) = untag(c.user_data);
                match op {
                    Some(Op::Accept) => self.accepted(listener, c, drain_deadline.is_some())?,
                    Some(Op::Recv) => self.received(key, generation, c),
                    Some(Op::Send) => self.sent(key, generation, c),
                    Some(Op::UpstreamConnect | Op::UpstreamSend | Op::UpstreamRecv) => {
                        self.backend_completed(op, key, generation, c)
                    }
                    Some(Op::Wake) => {
                        if drain_deadline.is_none() {
                            drain_deadline = Some(Instant::now() + grace);
                            if self.accepting {
                                self.ring.cancel(tag(Op::Accept, 0, 0))?;
                            }
                        }
                    }
                    _ => {
                        if let Some(bid) = c.buffer() {
                            self.ring.recycle(bid);
                        }
                    }
                }
            }
            self.ring.publish();
            if let Some(deadline) = drain_deadline {
                if self.conns.is_empty() || Instant::now() >= deadline {
                    return Ok(());
                }
            }
        }
    }

    fn accepted(
        &mut self,
        listener: &std::net::TcpListener,
        c: &Completion,
        draining: bool,
    ) -> io::Result<()> {
        if !c.more() {
            self.accepting = false;
            if !draining && c.result != -ECANCELED {
                self.arm_accept(listener)?;
            }
        }
        if c.result < 0 {
            if c.result != -ECANCELED {
                self.report.errors += 1;
            }
            return Ok(());
        }
        self.report.accepted += 1;
        self.next_generation = (self.next_generation + 1) & 0xff_ffff;
        let key = self.conns.insert(Conn {
            slot: c.result as u32,
            generation: self.next_generation,
            progress: Progress::default(),
            owed: 0,
            sending: false,
            receiving: false,
            finishing: false,
            backend: None,
            backend_done: false,
        });
        self.arm_recv(key);
        Ok(())
    }

    /// One single-shot receive for the next client step, waiting for readiness first (the
    /// step answers ours, or follows the accept), from the provided-buffer ring.
    fn arm_recv(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        conn.receiving = true;
        let user_data = tag(Op::Recv, conn.generation, key);
        if self.ring.recv(conn.slot, true, user_data).is_err() {
            conn.receiving = false;
            self.finish(key, End::Error);
        }
    }

    fn push_send(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let user_data = tag(Op::Send, conn.generation, key);
        let zeros = &self.zeros[..conn.owed];
        if self.ring.send_static(conn.slot, zeros, user_data).is_err() {
            self.finish(key, End::Error);
            return;
        }
        conn.sending = true;
    }

    fn received(&mut self, key: usize, generation: u32, c: &Completion) {
        if let Some(bid) = c.buffer() {
            // Only the byte count matters: the buffer goes straight back.
            self.ring.recycle(bid);
        }
        let steps = self.steps;
        let Some(conn) = live(&mut self.conns, key, generation) else {
            return;
        };
        conn.receiving = false;
        if conn.finishing {
            self.release(key);
            return;
        }
        match c.result {
            n if n > 0 => {
                self.report.bytes_in += n as u64;
                let Some(owed) = conn.progress.absorb(steps, n as usize) else {
                    self.finish(key, End::Error);
                    return;
                };
                conn.owed += owed;
                let send = conn.owed > 0 && !conn.sending;
                let more = !conn.progress.read_all(steps);
                let idle = !send && !conn.sending;
                let proxied = self.proxy.is_some();
                if send {
                    self.push_send(key);
                }
                if more {
                    self.arm_recv(key);
                } else if proxied {
                    // The request has arrived: the backend answers it.
                    self.connect_backend(key);
                } else if idle {
                    self.finish(key, End::Done);
                }
            }
            0 => self.finish(key, End::Aborted),
            e if e == -ENOBUFS => self.arm_recv(key),
            e if e == -ECONNRESET => self.finish(key, End::Aborted),
            _ => self.finish(key, End::Error),
        }
    }

    fn sent(&mut self, key: usize, generation: u32, c: &Completion) {
        let steps = self.steps;
        let Some(conn) = live(&mut self.conns, key, generation) else {
            return;
        };
        conn.sending = false;
        if conn.finishing {
            self.release(key);
            return;
        }
        if c.result <= 0 {
            let end = if c.result == -EPIPE || c.result == -ECONNRESET {
                End::Aborted
            } else {
                End::Error
            };
            self.finish(key, end);
            return;
        }
        let n = (c.result as usize).min(conn.owed);
        self.report.bytes_out += n as u64;
        conn.owed -= n;
        let proxied = self.proxy.is_some();
        if conn.owed > 0 {
            // Partial send, or more relayed meanwhile: the rest (all zeros, so from the
            // buffer's start).
            self.push_send(key);
        } else if conn.progress.read_all(steps)
            && !conn.receiving
            && (!proxied || conn.backend_done)
        {
            self.finish(key, End::Done);
        }
    }

    /// Opens the backend socket as the server opens an upstream's (plain, blocking,
    /// `TCP_NODELAY`) and connects it through the ring.
    fn connect_backend(&mut self, key: usize) {
        let Some(proxy) = &self.proxy else {
            return;
        };
        let backend = proxy.backend;
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.backend.is_some() || conn.backend_done {
            return;
        }
        let opened = socket2::Socket::new(
            socket2::Domain::for_address(backend.as_socket().expect("an IP address")),
            socket2::Type::STREAM.cloexec(),
            None,
        )
        .and_then(|sock| sock.set_tcp_nodelay(true).map(|()| sock));
        let Ok(sock) = opened else {
            self.finish(key, End::Error);
            return;
        };
        let user_data = tag(Op::UpstreamConnect, conn.generation, key);
        if self.ring.connect(&sock, backend, user_data).is_err() {
            self.finish(key, End::Error);
            return;
        }
        conn.backend = Some(Backend {
            sock,
            connecting: true,
            sending: false,
            receiving: false,
        });
    }

    /// A completion of a backend operation: after the connect the request goes out, after
    /// the request a receive is armed, each read is relayed to the client (and the next
    /// receive armed), and the end of file owes the client its close_notify and closes the
    /// backend socket.
    fn backend_completed(&mut self, op: Option<Op>, key: usize, generation: u32, c: &Completion) {
        if let Some(bid) = c.buffer() {
            // Only the byte count matters: the buffer goes straight back.
            self.ring.recycle(bid);
        }
        let Some(proxy) = &self.proxy else {
            return;
        };
        let request = proxy.request;
        let Some(conn) = live(&mut self.conns, key, generation) else {
            return;
        };
        let Some(backend) = conn.backend.as_mut() else {
            return;
        };
        match op {
            Some(Op::UpstreamConnect) => backend.connecting = false,
            Some(Op::UpstreamSend) => backend.sending = false,
            _ => backend.receiving = false,
        }
        if conn.finishing {
            self.release(key);
            return;
        }
        let user_data = |op| tag(op, generation, key);
        let failed = match op {
            Some(Op::UpstreamConnect) if c.result == 0 => {
                let pushed =
                    self.ring
                        .send_static_fd(&backend.sock, request, user_data(Op::UpstreamSend));
                backend.sending = pushed.is_ok();
                pushed.is_err()
            }
            // The request is small: a short send of it is an error here.
            Some(Op::UpstreamSend) if c.result as usize == request.len() => {
                !arm_backend_recv(&mut self.ring, backend, user_data(Op::UpstreamRecv))
            }
            Some(Op::UpstreamRecv) if c.result > 0 => {
                conn.owed += c.result as usize + RECORD_OVERHEAD;
                !arm_backend_recv(&mut self.ring, backend, user_data(Op::UpstreamRecv))
            }
            Some(Op::UpstreamRecv) if c.result == 0 => {
                conn.owed += CLOSE_NOTIFY;
                conn.backend_done = true;
                // As the server: nothing of the kernel's left on it, so a plain close.
                conn.backend = None;
                false
            }
            Some(Op::UpstreamRecv) if c.result == -ENOBUFS => {
                !arm_backend_recv(&mut self.ring, backend, user_data(Op::UpstreamRecv))
            }
            _ => true,
        };
        if failed {
            self.finish(key, End::Error);
            return;
        }
        let send = conn.owed > 0 && !conn.sending;
        if send {
            self.push_send(key);
        }
    }

    /// Ends a connection: counts it, cancels its receive if one is armed, and releases it
    /// once nothing of it is in flight.
    fn finish(&mut self, key: usize, end: End) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.finishing {
            return;
        }
        conn.finishing = true;
        match end {
            End::Done => self.report.exchanges += 1,
            End::Aborted => self.report.aborted += 1,
            End::Error => self.report.errors += 1,
        }
        if conn.receiving {
            let _ = self.ring.cancel(tag(Op::Recv, conn.generation, key));
        }
        if let Some(backend) = &conn.backend {
            for (op, live) in [
                (Op::UpstreamConnect, backend.connecting),
                (Op::UpstreamSend, backend.sending),
                (Op::UpstreamRecv, backend.receiving),
            ] {
                if live {
                    let _ = self.ring.cancel(tag(op, conn.generation, key));
                }
            }
        }
        self.release(key);
    }

    fn release(&mut self, key: usize) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        let backend_busy = conn.backend.as_ref().is_some_and(Backend::in_flight);
        if !conn.finishing || conn.sending || conn.receiving || backend_busy {
            return;
        }
        let conn = self.conns.remove(key);
        // As in the server: closed by the ring in the next batch, no completion on success.
        let _ = self.ring.close(conn.slot);
    }

    /// Ends what is left (each an error), cancels its operations and waits (bounded) for every
    /// operation to complete, so that no memory lent to the kernel is freed under it; past the
    /// limit the loop's memory is leaked instead.
    fn quiesce(mut self) -> FloorReport {
        if self.accepting {
            let _ = self.ring.cancel(tag(Op::Accept, 0, 0));
        }
        let _ = self.ring.cancel(tag(Op::Wake, 0, 0));
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.finish(key, End::Error);
        }
        let limit = Instant::now() + QUIESCE_LIMIT;
        let mut completions = Vec::new();
        while self.ring.in_flight() > 0 && Instant::now() < limit {
            if self.ring.enter(Duration::from_millis(10)).is_err() {
                break;
            }
            completions.clear();
            self.ring.reap(&mut completions);
            for c in &completions {
                let (op, generation, key) = untag(c.user_data);
                if let Some(bid) = c.buffer() {
                    self.ring.recycle(bid);
                }
                if let Some(conn) = live(&mut self.conns, key, generation) {
                    match (op, conn.backend.as_mut()) {
                        (Some(Op::Recv), _) if !c.more() => conn.receiving = false,
                        (Some(Op::Send), _) => conn.sending = false,
                        (Some(Op::UpstreamConnect), Some(b)) => b.connecting = false,
                        (Some(Op::UpstreamSend), Some(b)) => b.sending = false,
                        (Some(Op::UpstreamRecv), Some(b)) => b.receiving = false,
                        _ => {}
                    }
                    self.release(key);
                }
            }
        }
        // Dropping the ring frees its buffers only if nothing is in flight any more.
        self.report.clone()
    }
}

/// The connection at `key`, if it is still the one a completion of `generation` was for.
fn live(conns: &mut Slab<Conn>, key: usize, generation: u32) -> Option<&mut Conn> {
    conns
        .get_mut(key)
        .filter(|conn| conn.generation == generation)
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn progress_owes_each_server_step_once_its_client_step_is_whole() {
        let steps = [146, 147, 82, 31];
        let mut p = Progress::default();
        assert_eq!(p.absorb(&steps, 100), Some(0));
        assert_eq!(p.absorb(&steps, 46), Some(147));
        assert!(!p.read_all(&steps));
        assert_eq!(p.absorb(&steps, 82), Some(31));
        assert!(p.read_all(&steps));
        // A byte past the pattern is an overrun.
        assert_eq!(p.absorb(&steps, 1), None);
        // Two client steps in one read owe both answers.
        let mut p = Progress::default();
        assert_eq!(p.absorb(&steps, 228), Some(178));
    }
}
