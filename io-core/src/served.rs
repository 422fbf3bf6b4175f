//! A served connection — the engine connection and its application side — with its whole
//! lifecycle as one sans-IO state machine. Drivers feed it what happened (bytes read, output
//! written, the peer's end of stream, a socket error, a lookup answered, a timer, shutdown)
//! and carry out what it asks (read or not, the bytes to write, when to wake it, when to
//! close); they decide nothing.
//!
//! ```text
//!            records ─────────────────────────► HandshakeDone
//!  Handshaking ◄────────────► Suspended            │
//!      │    NeedSession /        (lookup,          ▼
//!      │    NeedSignature         signature)      Open ──── close_notify either way, app
//!      │                                           │        closes, EOF, shutdown while idle
//!      │ fatal alert, EOF, deadline                ▼
//!      └──────────────────────────────────────► Closing ── output drained ──► Closed(end)
//!                                                  └────── deadline ────────► Closed(TimedOut)
//! ```
//!
//! Deadlines: the handshake must finish within `handshake_timeout` of the accept. Once open,
//! only progress counts as activity — a whole record received, output drained — so a client
//! trickling bytes of one record cannot hold the connection; and while the application holds
//! part of a message ([`Handler::is_mid_message`]: an unfinished request, bytes a backend has
//! not answered) the idle timeout runs from the message's start. The one way to extend it is
//! to keep sending at [`MIN_MESSAGE_RATE`] or more: each idle timeout's worth of time at that
//! rate starts a new window (a long upload); below it the connection is closed, and counted
//! as a slow client when the client was still sending late in the window (it trickles) —
//! otherwise it waited for an answer that did not come ([`Handler::on_message_timeout`]).
//! Closing (our close_notify or fatal alert on its way) is bounded by `handshake_timeout`
//! too.
//!
//! Draining (a graceful shutdown): an open connection says goodbye once it is idle on both
//! sides — no message unfinished, no unfinished record — and nothing has moved for its
//! handler's [`Handler::drain_quiet`] (a backend stream's answers may come in pieces); a busy
//! one goes on until the grace period ends ([`Served::on_grace_over`], counted as cut off).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reprise::{Error, Event, Inbound, ServerConfig, ServerConnection};

use crate::access_log::{AccessEntry, AccessLog};
use crate::app::{Flow, Handler, MessageTimeout, Opened};
use crate::failure_log::Failure;
use crate::suspend::{fetch_session, sign_for, Mailbox, Reply, SignerPool};
use crate::workers::WakeWorker;
use crate::ServerOptions;

/// The slowest a client may send an unfinished message and still have its idle timeout
/// start again (bytes a second, averaged over the timeout): a long upload goes on, a client
/// trickling a byte every few seconds is closed.
pub const MIN_MESSAGE_RATE: u64 = 1024;

/// Which connection of a worker: its slot, and the generation that tells it from a later
/// connection in the same slot (answers for a connection that is gone are dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnId {
    /// The slot in the worker's table.
    pub key: usize,
    /// Bumped for every connection the worker accepts (24 bits are kept).
    pub generation: u32,
}

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Goodbyes said: close_notify both ways, or ours after the peer's end of stream or the
    /// application's close.
    Done,
    /// The engine failed the connection (a fatal alert sent or received; the connection's
    /// [`error`](reprise::Connection::error) says which).
    Failed,
    /// A deadline passed: the handshake's, the idle one, or the bound on closing.
    TimedOut,
    /// The peer closed the TCP connection before the handshake completed.
    PeerClosed,
    /// A socket operation failed.
    Socket(io::ErrorKind),
    /// The server shut down before the connection finished.
    ShutDown,
    /// The application's stream was cut short (its backend failed, the client's stream
    /// ended without close_notify, a message timed out): closed without close_notify, so
    /// the client sees a truncated stream (RFC 5246 §7.2.1).
    Aborted,
    /// Closed unfinished to keep its worker's unfinished handshakes within their memory cap.
    Evicted,
}

/// Where a served connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the client's next flight.
    Handshaking,
    /// The handshake waits for a session lookup or a signature ([`Reply`]).
    Suspended,
    /// Application data flows.
    Open,
    /// Our close_notify or fatal alert is queued: the output drains, then it ends with the
    /// end given.
    Closing(End),
    /// Our fatal alert is sent and our write side is to be shut at once (RFC 5246 §7.2.2:
    /// nothing follows a fatal alert; [`Served::wants_shutdown_write`]), so the peer sees
    /// the alert and then its end of stream without waiting. What the peer still sends is
    /// read and dropped for a moment (`ServerOptions::linger`) or until its end of stream,
    /// because closing a socket with unread input makes the kernel send a reset that can
    /// destroy the alert before the peer reads it.
    Lingering(End),
    /// Over: the driver closes the socket and drops the connection.
    Closed(End),
}

/// What a worker lends its connections while they handle events: the configuration, the
/// tuning, the signer pool, the way answers come back to the worker, the time, and scratch
/// space for the applications' output.
pub struct Env<W> {
    /// The engine configuration (its session store, keys, metrics).
    pub config: Arc<ServerConfig>,
    /// The server's tuning (timeouts, output bound).
    pub options: ServerOptions,
    /// Signer threads, if signing is offloaded.
    pub signer: Option<SignerPool>,
    /// Where this worker's answers and wake-ups go.
    pub mailbox: Mailbox<W>,
    /// Now, for deadlines (see [`tick`](Self::tick)).
    pub now: Instant,
    /// Seconds since the Unix epoch, for the engine.
    pub now_secs: u64,
    /// Scratch space for the applications' output.
    pub scratch: Vec<u8>,
    /// The generation of `options.live_config` that `config` is.
    config_generation: u64,
    /// What this worker's unfinished handshakes hold, as each last accounted it
    /// ([`Served::account_memory`]).
    handshake_held: usize,
}

impl<W: WakeWorker> Env<W> {
    /// A worker's environment.
    pub fn new(
        config: Arc<ServerConfig>,
        options: ServerOptions,
        signer: Option<SignerPool>,
        mailbox: Mailbox<W>,
    ) -> Self {
        Self {
            config,
            options,
            signer,
            mailbox,
            now: Instant::now(),
            now_secs: reprise::unix_time(),
            scratch: Vec::with_capacity(4096),
            config_generation: 0,
            handshake_held: 0,
        }
    }

    /// Bytes this worker's unfinished handshakes hold in all, as accounted.
    pub fn handshake_held(&self) -> usize {
        self.handshake_held
    }

    /// Reads the clocks, and takes a reloaded configuration for new connections (once per
    /// loop turn).
    pub fn tick(&mut self) {
        self.now = Instant::now();
        self.now_secs = reprise::unix_time();
        if let Some(live) = &self.options.live_config {
            let generation = live.generation();
            if generation != self.config_generation {
                self.config = live.current();
                self.config_generation = generation;
            }
        }
    }
}

/// A served connection: the engine connection, its handler and its lifecycle.
pub struct Served<H> {
    id: ConnId,
    tls: ServerConnection,
    app: H,
    phase: Phase,
    /// When the phase's clock started: the accept (handshake), the last progress (open), the
    /// start of the close.
    since: Instant,
    /// When the message the application holds part of began (open only).
    message_started: Option<Instant>,
    deadline: Instant,
    /// The peer sent at least one byte.
    heard: bool,
    /// The handshake completed at some point.
    was_open: bool,
    /// The peer ended its side of the stream (TCP end of file).
    peer_eof: bool,
    /// The driver holds bytes of an unfinished record.
    partial_record: bool,
    /// The server is shutting down: close as soon as the connection is idle.
    draining: bool,
    /// Output was written since the last time it all drained.
    wrote: bool,
    /// The driver shut the socket's write side (lingering after our fatal alert).
    write_shut: bool,
    /// The peer's close_notify arrived (its end of stream after it is no truncation).
    goodbye_received: bool,
    /// Plaintext bytes received since the current message window began.
    message_bytes: u64,
    /// When the last whole record arrived (open only).
    last_record: Instant,
    /// Closed for sending a message too slowly: the bytes of its last window, and the window.
    slow_client: Option<(u64, Duration)>,
    /// The peer said goodbye and the handler has no more to say than what it still gives.
    peer_done: bool,
    /// Why a resumption the client offered was declined.
    resumption_failure: Option<reprise::ResumptionFailure>,
    /// When it was accepted.
    accepted: Instant,
    /// Bytes of whole records read from the client, and bytes written to it.
    bytes_in: u64,
    bytes_out: u64,
    /// What its unfinished handshake holds, as last added to the worker's total.
    accounted: usize,
}

impl<H> Served<H> {
    /// A connection accepted `now` into slot `id`.
    pub fn new(
        id: ConnId,
        tls: ServerConnection,
        app: H,
        options: &ServerOptions,
        now: Instant,
    ) -> Self {
        Self {
            id,
            tls,
            app,
            phase: Phase::Handshaking,
            since: now,
            message_started: None,
            deadline: now + options.handshake_timeout,
            heard: false,
            was_open: false,
            peer_eof: false,
            partial_record: false,
            draining: false,
            wrote: false,
            write_shut: false,
            goodbye_received: false,
            message_bytes: 0,
            last_record: now,
            slow_client: None,
            peer_done: false,
            resumption_failure: None,
            accepted: now,
            bytes_in: 0,
            bytes_out: 0,
            accounted: 0,
        }
    }

    /// Accounts what its unfinished handshake holds now in the worker's total:
    /// `driver_held` (the driver's bytes of an unfinished record, by capacity) and the
    /// engine's part of a handshake message. A handshake that grew while the worker's total
    /// is over `ServerOptions::handshake_memory` is closed at once (an eviction, counted),
    /// before it can take more: memory is admitted only while the total allows it, whatever
    /// the number of connections. Drivers call it after each input; an open or closed
    /// connection holds nothing here, and a handshake whose records are taken whole as they
    /// come (an ordinary ClientHello) holds nothing either.
    pub fn account_memory<W>(&mut self, driver_held: usize, env: &mut Env<W>) {
        let held = if self.is_handshaking() {
            driver_held + self.tls.handshake_bytes_held()
        } else {
            0
        };
        if held == self.accounted {
            return;
        }
        let grew = held > self.accounted;
        env.handshake_held = env.handshake_held.saturating_sub(self.accounted) + held;
        self.accounted = held;
        if grew && env.handshake_held > env.options.handshake_memory {
            self.on_evicted(env.now, &env.options);
            self.forget_memory(env);
        }
    }

    /// Takes what it holds out of the worker's total (it is going).
    pub fn forget_memory<W>(&mut self, env: &mut Env<W>) {
        env.handshake_held = env.handshake_held.saturating_sub(self.accounted);
        self.accounted = 0;
    }

    /// Its slot and generation.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Where it is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The engine connection (e.g. what was negotiated).
    pub fn tls(&self) -> &ServerConnection {
        &self.tls
    }

    /// The handler.
    pub fn app(&self) -> &H {
        &self.app
    }

    /// The handler, e.g. for its backend stream.
    pub fn app_mut(&mut self) -> &mut H {
        &mut self.app
    }

    /// When the driver must call [`on_timer`](Self::on_timer) at the latest.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once over: the driver closes the socket and drops the connection.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed(_))
    }

    /// How it ended, once over.
    pub fn end(&self) -> Option<End> {
        match self.phase {
            Phase::Closed(end) => Some(end),
            _ => None,
        }
    }

    /// The handshake completed (the connection is or was open).
    pub fn was_open(&self) -> bool {
        self.was_open
    }

    /// Records waiting to be written; report what was written with
    /// [`on_written`](Self::on_written).
    pub fn output(&self) -> &[u8] {
        self.tls.pending_output()
    }

    /// True when records wait to be written.
    pub fn wants_write(&self) -> bool {
        self.tls.wants_transmit()
    }

    /// The driver took `n` bytes of [`output`](Self::output) (written them, or moved them
    /// to a send buffer of its own).
    pub fn on_written(&mut self, n: usize) {
        self.tls.consume_output(n);
        self.wrote |= n > 0;
        self.bytes_out += n as u64;
    }

    /// True when the driver must shut the socket's write side now (TCP FIN), leaving the
    /// read side open: our fatal alert has left and nothing will follow it (RFC 5246
    /// §7.2.2). Report it with [`on_write_shut`](Self::on_write_shut).
    pub fn wants_shutdown_write(&self) -> bool {
        matches!(self.phase, Phase::Lingering(_)) && !self.write_shut
    }

    /// The driver shut the socket's write side (or tried: a failure changes nothing, the
    /// linger still ends at the peer's end of stream or its deadline).
    pub fn on_write_shut(&mut self) {
        self.write_shut = true;
    }

    /// True while our close_notify or fatal alert is on its way out: once the driver has
    /// written everything it took, it reports [`on_drained`](Self::on_drained) even if it
    /// had nothing to write (a received fatal alert queues nothing to answer it).
    pub fn is_closing(&self) -> bool {
        matches!(self.phase, Phase::Closing(_))
    }

    /// A read or write failed: the connection is over.
    pub fn on_socket_error(&mut self, kind: io::ErrorKind, now: Instant) {
        if !self.is_closed() {
            self.close_now(End::Socket(kind), now);
        }
    }

    /// True while the handshake has not completed (it counts against the worker's memory cap
    /// for unfinished handshakes).
    pub fn is_handshaking(&self) -> bool {
        matches!(self.phase, Phase::Handshaking | Phase::Suspended)
    }

    /// Closed to keep unfinished handshakes within the worker's memory cap.
    pub fn on_evicted(&mut self, now: Instant, options: &ServerOptions) {
        if !self.is_closed() {
            options.counters.evicted_for_memory();
            self.close_now(End::Evicted, now);
        }
    }

    /// The grace period is over: whatever is left ends now (counted as cut off).
    pub fn on_grace_over(&mut self, now: Instant, options: &crate::ServerOptions) {
        if !self.is_closed() {
            options.counters.cut_off_by_drain();
            self.close_now(End::ShutDown, now);
        }
    }

    /// The engine connection and the handler, to recycle the engine's buffers.
    pub fn into_parts(self) -> (ServerConnection, H) {
        (self.tls, self.app)
    }

    /// The engine failed: its fatal alert is queued (if it could send one).
    fn fail(&mut self, now: Instant) {
        self.begin_close(End::Failed, now);
    }

    /// Queues our close_notify (none after a fatal alert, nor when aborting) and drains the
    /// output.
    fn begin_close(&mut self, end: End, now: Instant) {
        if !matches!(end, End::Failed | End::Aborted) {
            self.tls.close();
        }
        self.phase = Phase::Closing(end);
        self.since = now;
    }

    fn close_now(&mut self, end: End, now: Instant) {
        self.phase = Phase::Closed(end);
        self.deadline = now;
    }
}

impl<H: Handler> Served<H> {
    /// The timer fired: a backend that did not connect in time fails; past its deadline the
    /// connection is over (an open one is told goodbye, which the driver sends if the socket
    /// takes it at once).
    pub fn on_timer<W: WakeWorker>(&mut self, cx: &mut Env<W>) {
        let now = cx.now;
        if self.phase == Phase::Open {
            if let Some(upstream) = self.app.upstream() {
                upstream.on_timer(now);
            }
            self.pump(cx);
            self.refresh_deadline(cx);
            if self.phase != Phase::Open {
                // It said goodbye (a drain found it idle, its backend failed): not a timeout.
                return;
            }
        }
        if now < self.deadline || self.is_closed() {
            return;
        }
        match self.phase {
            Phase::Lingering(end) => return self.close_now(end, now),
            Phase::Open => match self.message_started {
                // Either way it has decided: a new window, or closed as the handler says.
                Some(started) => return self.on_message_timeout(started, cx),
                None => self.tls.close(),
            },
            _ => {}
        }
        self.close_now(End::TimedOut, now);
    }

    /// The idle timeout of a message that began at `started` passed: a client that kept up
    /// [`MIN_MESSAGE_RATE`] gets a new window; otherwise the handler says how to close
    /// (aborted without close_notify, or with it).
    fn on_message_timeout<W: WakeWorker>(&mut self, started: Instant, cx: &mut Env<W>) {
        let now = cx.now;
        let waited = now.saturating_duration_since(started);
        let floor = MIN_MESSAGE_RATE.saturating_mul(waited.as_secs().max(1));
        if self.message_bytes >= floor {
            self.message_started = Some(now);
            self.message_bytes = 0;
            return self.refresh_deadline(cx);
        }
        let client_trickled = self.last_record > started + waited / 2;
        if client_trickled {
            cx.options.counters.slow_client();
            self.slow_client = Some((self.message_bytes, waited));
        }
        let timeout = MessageTimeout {
            waited,
            client_trickled,
        };
        if self.app.on_message_timeout(timeout) == Flow::Abort {
            self.close_now(End::Aborted, now);
        } else {
            self.tls.close();
            self.close_now(End::TimedOut, now);
        }
    }

    /// The handler's side moved on its own (its backend connected, sent, drained or ended):
    /// lets it produce, and closes if it is done.
    pub fn on_app_progress<W: WakeWorker>(&mut self, cx: &mut Env<W>) {
        self.pump(cx);
        self.refresh_deadline(cx);
    }

    /// The failure to log, if the connection failed: always for an engine error; before
    /// the handshake completed, also for a timeout, a close or a socket error of a peer that
    /// sent something (a health check that connects and closes is not a failure). `true` in
    /// the pair when the handshake had completed. A failed backend stream is a failure too.
    pub fn failure(&mut self) -> Option<(Failure, bool)> {
        if let Some(error) = self.tls.error() {
            if !matches!(error, Error::Closed | Error::NotReady) {
                return Some((Failure::Engine(error.clone()), self.was_open));
            }
        }
        if let Some(upstream) = self.app.upstream() {
            if let Some(failure) = upstream.failure() {
                let failure = Failure::Backend {
                    backend: upstream.options().addr.to_string(),
                    failure: failure.clone(),
                };
                return Some((failure, true));
            }
        }
        if let Some((bytes, waited)) = self.slow_client {
            return Some((Failure::SlowClient { bytes, waited }, true));
        }
        if self.was_open || !self.heard {
            return None;
        }
        let failure = match self.end()? {
            End::Socket(kind) => Failure::Socket(kind),
            End::PeerClosed => Failure::PeerClosed,
            End::TimedOut => Failure::TimedOut,
            End::Evicted => Failure::Evicted,
            End::Done | End::Failed | End::ShutDown | End::Aborted => return None,
        };
        Some((failure, false))
    }

    /// At the connection's end: its failure (if any) to the failure log, its line to the
    /// access log, as `options` has them.
    pub fn log_end(
        &mut self,
        options: &ServerOptions,
        peer: Option<std::net::SocketAddr>,
        now: Instant,
    ) {
        if options.failure_log.is_none() && options.access_log.is_none() {
            return;
        }
        let failure = self.failure();
        if let (Some(log), Some((failure, after_handshake))) = (&options.failure_log, &failure) {
            log.report_declined(
                now,
                peer,
                failure,
                *after_handshake,
                self.resumption_failure,
            );
        }
        if let Some(log) = &options.access_log {
            self.log_access(log, peer, failure.as_ref().map(|(f, _)| f), now);
        }
    }

    /// Writes the connection's line to `log` (at its end, with the failure
    /// [`failure`](Self::failure) found, if any).
    pub fn log_access(
        &mut self,
        log: &AccessLog,
        peer: Option<std::net::SocketAddr>,
        failure: Option<&Failure>,
        now: Instant,
    ) {
        let backend = self.app.upstream().map(|u| u.options().addr.to_string());
        let client = self.tls.peer_subject();
        log.log(&AccessEntry {
            peer,
            negotiated: self.tls.negotiated(),
            handshake_done: self.was_open,
            declined: self.resumption_failure,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            duration: now.saturating_duration_since(self.accepted),
            backend,
            client,
            end: self.end().unwrap_or(End::ShutDown),
            failure,
        });
    }

    fn refresh_deadline<W: WakeWorker>(&mut self, cx: &Env<W>) {
        let options = &cx.options;
        self.deadline = match self.phase {
            Phase::Handshaking | Phase::Suspended => self.deadline,
            Phase::Open => {
                let idle = self.message_started.unwrap_or(self.since) + options.idle_timeout;
                let quiet = self.since + self.app.drain_quiet();
                let idle = if self.draining && quiet > cx.now {
                    // Look again once it has been still long enough to say goodbye.
                    idle.min(quiet)
                } else {
                    idle
                };
                match self.app.upstream().and_then(|u| u.connect_deadline()) {
                    Some(connect) => idle.min(connect),
                    None => idle,
                }
            }
            // A closing connection gets a bounded time to take the rest (within the
            // handshake's own deadline if it never opened).
            Phase::Closing(_) if self.was_open => self.since + options.handshake_timeout,
            Phase::Closing(_) => self.deadline.min(self.since + options.handshake_timeout),
            Phase::Lingering(_) => self.since + options.linger,
            Phase::Closed(_) => cx.now,
        };
    }

    /// Whether the driver should read the socket now, given the bytes it has taken from
    /// [`output`](Self::output) and not yet written (`unsent`). Not while a lookup is
    /// pending, once closing, after the peer's end of stream, or while more than
    /// `max_pending_output` bytes wait for the peer or the application wants no more
    /// (back-pressure).
    pub fn wants_read(&self, unsent: usize, options: &ServerOptions) -> bool {
        // (`options` is the worker's `Env::options`.)
        match self.phase {
            Phase::Handshaking => !self.peer_eof,
            Phase::Open => {
                !self.peer_eof
                    && self.tls.pending_output().len() + unsent < options.max_pending_output
                    && self.app.wants_data()
            }
            Phase::Lingering(_) => !self.peer_eof,
            Phase::Suspended | Phase::Closing(_) | Phase::Closed(_) => false,
        }
    }

    /// Everything the driver took has reached the socket, and nothing is pending: a closing
    /// connection is over; an open one may produce more.
    pub fn on_drained<W: WakeWorker>(&mut self, cx: &mut Env<W>) {
        if self.tls.wants_transmit() {
            return;
        }
        match self.phase {
            Phase::Closing(End::Failed)
                if !self.peer_eof
                    && !cx.options.linger.is_zero()
                    && matches!(self.tls.error(), Some(Error::AlertSent { .. })) =>
            {
                self.phase = Phase::Lingering(End::Failed);
                self.since = cx.now;
                self.refresh_deadline(cx);
            }
            Phase::Closing(end) => self.close_now(end, cx.now),
            Phase::Open => {
                if std::mem::take(&mut self.wrote) {
                    // Output delivered is progress.
                    self.since = cx.now;
                }
                self.pump(cx);
                self.refresh_deadline(cx);
            }
            _ => {}
        }
    }

    /// Feeds the whole records at the front of `data` (decrypted in place) and returns how
    /// many bytes they took; the rest is an unfinished record the driver keeps and offers
    /// again with more. Stops at a suspension, a failure or a close.
    pub fn on_input<W: WakeWorker>(&mut self, data: &mut [u8], cx: &mut Env<W>) -> usize {
        if !data.is_empty() {
            self.heard = true;
        }
        if let Phase::Lingering(_) = self.phase {
            // Read and dropped: only the end of stream or the deadline ends it.
            self.bytes_in += data.len() as u64;
            return data.len();
        }
        let len = data.len();
        let mut inbound = Inbound::new(data);
        let mut read = 0;
        while matches!(self.phase, Phase::Handshaking | Phase::Open) {
            let Ok(next) = self.tls.next_plaintext(&mut inbound, cx.now_secs) else {
                self.fail(cx.now);
                break;
            };
            self.handle_events(cx);
            let more = next.is_some();
            if let (Some(plain), Phase::Open) = (next, self.phase) {
                self.message_bytes += plain.len() as u64;
                self.app.on_data(plain);
                self.pump(cx);
            }
            if inbound.consumed() > read && self.phase == Phase::Open {
                // A whole record is progress; bytes of an unfinished one are not.
                self.since = cx.now;
                self.last_record = cx.now;
            }
            read = inbound.consumed();
            if !more {
                break;
            }
        }
        let consumed = inbound.consumed();
        self.bytes_in += consumed as u64;
        self.partial_record = consumed < len;
        self.pump(cx);
        self.refresh_deadline(cx);
        consumed
    }

    /// The answer to a suspension, or a [`Wake`](crate::app::Wake) of the handler. After a lookup or a
    /// signature the driver feeds the records it held meanwhile ([`on_input`](Self::on_input)).
    pub fn on_reply<W: WakeWorker>(&mut self, reply: Reply, cx: &mut Env<W>) {
        let provided = match reply {
            Reply::Session(_) | Reply::Signature(_) if self.phase != Phase::Suspended => return,
            Reply::Session(lookup) => self.tls.provide_session(lookup),
            Reply::Signature(signature) => self.tls.provide_signature(signature),
            Reply::Wake => {
                self.on_app_progress(cx);
                return;
            }
        };
        if provided.is_err() {
            self.fail(cx.now);
        } else {
            self.phase = Phase::Handshaking;
            self.handle_events(cx);
        }
        self.refresh_deadline(cx);
    }

    /// The peer ended its side of the stream. A handshake cannot finish any more; an open
    /// connection tells its handler and gets our close_notify after what it is still owed.
    pub fn on_eof<W: WakeWorker>(&mut self, cx: &mut Env<W>) {
        self.peer_eof = true;
        match self.phase {
            Phase::Handshaking | Phase::Suspended => self.close_now(End::PeerClosed, cx.now),
            Phase::Open if self.goodbye_received => self.pump(cx),
            Phase::Open => {
                // RFC 5246 §7.2.1: an end of stream without close_notify is a truncation.
                let flow = self.app.on_peer_vanished();
                self.apply_peer_flow(flow, cx);
            }
            Phase::Lingering(end) => self.close_now(end, cx.now),
            Phase::Closing(_) | Phase::Closed(_) => {}
        }
        self.refresh_deadline(cx);
    }

    /// The server is shutting down: an idle open connection is told goodbye now, a busy one
    /// as soon as it is idle; handshakes may finish within the grace period.
    pub fn on_shutdown<W: WakeWorker>(&mut self, cx: &mut Env<W>) {
        self.draining = true;
        self.pump(cx);
        self.refresh_deadline(cx);
    }

    /// Handles the engine's events: the handshake's end, suspensions, the peer's
    /// close_notify.
    fn handle_events<W: WakeWorker>(&mut self, cx: &mut Env<W>) {
        while let Some(event) = self.tls.next_event() {
            match event {
                Event::HandshakeDone { .. } => {
                    self.phase = Phase::Open;
                    self.was_open = true;
                    self.since = cx.now;
                    let (mailbox, id) = (&cx.mailbox, self.id);
                    let make_wake = move || mailbox.wake_for(id);
                    let opened = Opened::new(self.tls.negotiated(), &make_wake)
                        .with_resumption_failure(self.resumption_failure)
                        .with_client_certificates(self.tls.peer_certificates())
                        .with_client_identity(self.tls.peer_identity());
                    self.app.on_open(&opened);
                }
                Event::NeedSession { id } => {
                    self.phase = Phase::Suspended;
                    fetch_session(&cx.config, &id, cx.now_secs, cx.mailbox.reply_to(self.id));
                }
                Event::NeedSignature {
                    key,
                    scheme,
                    message,
                    ..
                } => {
                    self.phase = Phase::Suspended;
                    sign_for(
                        cx.signer.as_ref(),
                        key,
                        scheme,
                        message,
                        cx.mailbox.reply_to(self.id),
                    );
                }
                Event::ResumptionFailed { reason } => self.resumption_failure = Some(reason),
                // The serving core has no approval policy to ask: a config that wants one
                // is refused rather than left waiting (the engine sends access_denied).
                Event::NeedClientApproval { .. } => {
                    let _ = self.tls.approve_client(false);
                }
                Event::PeerClosed => {
                    // RFC 5246 §7.2.1: answer with our close_notify, after what the
                    // handler still has to say (a half-close passed on, e.g. to a backend).
                    self.goodbye_received = true;
                    if self.phase == Phase::Open {
                        let flow = self.app.on_peer_closed();
                        self.apply_peer_flow(flow, cx);
                    } else if !matches!(
                        self.phase,
                        Phase::Closing(_) | Phase::Lingering(_) | Phase::Closed(_)
                    ) {
                        self.begin_close(End::Done, cx.now);
                    }
                }
                _ => {}
            }
        }
    }

    /// Lets the handler produce while the output has room, and closes when it asks to, or
    /// when the server drains and the connection is idle.
    fn pump<W: WakeWorker>(&mut self, cx: &mut Env<W>) {
        if self.phase != Phase::Open {
            return;
        }
        // True when the handler has nothing more to give now (rather than no room for it).
        let handler_idle = loop {
            let room = cx
                .options
                .max_pending_output
                .saturating_sub(self.tls.pending_output().len());
            if room == 0 {
                break false;
            }
            cx.scratch.clear();
            let flow = self.app.poll_output(&mut cx.scratch, room);
            if !cx.scratch.is_empty() && self.tls.send(&cx.scratch).is_err() {
                self.fail(cx.now);
                return;
            }
            match flow {
                Flow::Close => return self.begin_close(End::Done, cx.now),
                Flow::Abort => return self.begin_close(End::Aborted, cx.now),
                Flow::Continue => {}
            }
            if cx.scratch.is_empty() {
                break true;
            }
        };
        self.message_started = match (self.app.is_mid_message(), self.message_started) {
            (false, _) => {
                // The next message's bytes count from here (those that start it included).
                self.message_bytes = 0;
                None
            }
            (true, Some(started)) => Some(started),
            (true, None) => Some(cx.now),
        };
        // The goodbye goes once everything the handler had is queued before it: after the
        // peer's own goodbye, or when draining and the connection is idle on both sides and
        // has been still for a moment.
        let quiet = self.app.drain_quiet();
        let idle = self.message_started.is_none()
            && !self.partial_record
            && (quiet.is_zero()
                || (self.tls.pending_output().is_empty() && cx.now >= self.since + quiet));
        if handler_idle && (self.peer_done || (self.draining && idle)) {
            self.begin_close(End::Done, cx.now);
        }
    }

    /// What the handler said to the peer's end of its stream: close after what it is still
    /// owed, abort (no close_notify), or go on (it has more to say first).
    fn apply_peer_flow<W: WakeWorker>(&mut self, flow: Flow, cx: &mut Env<W>) {
        match flow {
            Flow::Abort => self.begin_close(End::Aborted, cx.now),
            Flow::Close => {
                self.peer_done = true;
                self.pump(cx);
            }
            Flow::Continue => self.pump(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every phase × event of the machine, without sockets: a client connection in memory
    //! plays the peer, a mailbox with no waker collects what would go to other threads.
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::Receiver;
    use std::sync::Mutex;
    use std::time::Duration;

    use reprise::session::ClientSessionStore;
    use reprise::session::SessionCache;
    use reprise::session::SessionRecord;
    use reprise::session::{Lookup, SessionStore};
    use reprise::{ClientConfig, ClientConnection};

    use crate::app::{Flow, MessageTimeout, Opened};
    use crate::suspend::Answer;
    use crate::upstream::{Upstream, UpstreamOptions};

    struct NoWake;
    impl WakeWorker for NoWake {
        fn wake_worker(&self) {}
    }

    /// Echoes, with an optional refusal of more input, and records what it was told.
    #[derive(Default)]
    struct Echo {
        pending: Vec<u8>,
        peer_closed: bool,
        full: bool,
    }

    impl Handler for Echo {
        fn on_data(&mut self, data: &[u8]) {
            self.pending.extend_from_slice(data);
        }
        fn on_peer_closed(&mut self) -> Flow {
            self.peer_closed = true;
            Flow::Close
        }
        fn poll_output(&mut self, out: &mut Vec<u8>, room: usize) -> Flow {
            let n = room.min(self.pending.len());
            out.extend_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            Flow::Continue
        }
        fn wants_data(&self) -> bool {
            !self.full
        }
    }

    /// Answers each request head (up to its blank line) with a 200; half a head is a message
    /// in progress.
    #[derive(Default)]
    struct Heads {
        head: Vec<u8>,
        pending: Vec<u8>,
    }

    impl Handler for Heads {
        fn on_data(&mut self, data: &[u8]) {
            self.head.extend_from_slice(data);
            while let Some(end) = self.head.windows(4).position(|w| w == b"\r\n\r\n") {
                self.head.drain(..end + 4);
                self.pending
                    .extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            }
        }
        fn poll_output(&mut self, out: &mut Vec<u8>, _room: usize) -> Flow {
            out.append(&mut self.pending);
            Flow::Continue
        }
        fn is_mid_message(&self) -> bool {
            !self.head.is_empty()
        }
    }

    /// How long a relay must have been still before a draining server says goodbye.
    const RELAY_QUIET: Duration = Duration::from_millis(200);

    /// Relays the client's bytes over an upstream, as a backend stream does.
    struct Relay(Upstream);

    impl Handler for Relay {
        fn on_open(&mut self, _opened: &Opened<'_>) {
            self.0.open();
        }
        fn on_data(&mut self, data: &[u8]) {
            self.0.send(data);
        }
        fn on_peer_vanished(&mut self) -> Flow {
            Flow::Abort
        }
        fn on_message_timeout(&mut self, timeout: MessageTimeout) -> Flow {
            if !timeout.client_trickled {
                self.0.check_silent(timeout.waited);
            }
            Flow::Abort
        }
        fn on_peer_closed(&mut self) -> Flow {
            if self.0.finish() {
                Flow::Continue
            } else {
                Flow::Close
            }
        }
        fn poll_output(&mut self, out: &mut Vec<u8>, room: usize) -> Flow {
            self.0.take(out, room)
        }
        fn wants_data(&self) -> bool {
            self.0.has_room()
        }
        fn is_mid_message(&self) -> bool {
            self.0.is_busy()
        }
        fn drain_quiet(&self) -> Duration {
            RELAY_QUIET
        }
        fn upstream(&mut self) -> Option<&mut Upstream> {
            Some(&mut self.0)
        }
    }

    /// A remote-store stand-in: `get` always answers `Pending`.
    struct PendingStore {
        inner: SessionCache,
        fetched: AtomicBool,
        answer: Mutex<Option<Lookup>>,
    }

    impl SessionStore for PendingStore {
        fn get(&self, _id: &[u8], _now: u64) -> Lookup {
            Lookup::Pending
        }
        fn put(&self, id: &[u8], record: &SessionRecord, now: u64) {
            self.inner.put(id, record, now);
        }
        fn remove(&self, id: &[u8]) {
            self.inner.remove(id);
        }
        fn fetch(&self, id: &[u8], now: u64, done: Box<dyn FnOnce(Lookup) + Send>) {
            self.fetched.store(true, Ordering::SeqCst);
            *self.answer.lock().unwrap() = Some(self.inner.get(id, now));
            drop(done); // answered by the test, through `on_reply`
        }
    }

    const NOW: u64 = 1_800_000_000;

    /// One certificate (DER) and key for every test config.
    fn certificate() -> &'static (Vec<u8>, Vec<u8>) {
        static CERT: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
        CERT.get_or_init(|| {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2040, 1, 1);
            let cert = params.self_signed(&key).unwrap();
            (cert.der().to_vec(), key.serialize_der())
        })
    }

    fn server_config() -> ServerConfig {
        let (cert, key) = certificate();
        let mut config = ServerConfig::new();
        config.add_certificate(vec![cert.clone()], key).unwrap();
        config
    }

    fn options() -> ServerOptions {
        ServerOptions {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_pending_output: 4096,
            ..ServerOptions::default()
        }
    }

    struct Rig<H> {
        env: Env<NoWake>,
        answers: Receiver<Answer>,
        served: Served<H>,
        client: ClientConnection,
    }

    impl<H: Handler> Rig<H> {
        fn new(config: ServerConfig, app: H, client: ClientConfig) -> Self {
            let config = Arc::new(config);
            let (mailbox, answers) = Mailbox::new(Arc::new(NoWake));
            let mut env = Env::new(config.clone(), options(), None, mailbox);
            env.now_secs = NOW;
            let id = ConnId {
                key: 7,
                generation: 1,
            };
            let served = Served::new(
                id,
                ServerConnection::new(config),
                app,
                &env.options,
                env.now,
            );
            let client = ClientConnection::new(Arc::new(client), "localhost").unwrap();
            Self {
                env,
                answers,
                served,
                client,
            }
        }

        fn later(&mut self, by: Duration) {
            self.env.now += by;
        }

        /// Client → server: everything the client has to send, fed whole.
        fn client_flight(&mut self) -> usize {
            let mut bytes = self.client.pending_output().to_vec();
            let n = bytes.len();
            self.client.consume_output(n);
            let consumed = self.served.on_input(&mut bytes, &mut self.env);
            assert_eq!(consumed, n, "whole records are taken");
            n
        }

        /// Server → client: everything the server has to send, then `on_drained`.
        fn server_flight(&mut self) -> Vec<u8> {
            let mut bytes = self.served.output().to_vec();
            let n = bytes.len();
            self.served.on_written(n);
            self.served.on_drained(&mut self.env);
            let mut plain = Vec::new();
            let mut inbound = reprise::Inbound::new(&mut bytes);
            while let Ok(Some(data)) = self.client.next_plaintext(&mut inbound, NOW) {
                plain.extend_from_slice(data);
            }
            plain
        }

        fn handshake(&mut self) {
            for _ in 0..4 {
                self.client_flight();
                self.server_flight();
                if self.served.phase() == Phase::Open && self.client.is_open() {
                    break;
                }
            }
            assert_eq!(self.served.phase(), Phase::Open);
        }
    }

    fn insecure() -> ClientConfig {
        ClientConfig::dangerous_insecure()
    }

    #[test]
    fn a_handshake_that_grows_over_the_memory_cap_is_closed_and_counted() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        rig.env.options.handshake_memory = 10_000;
        let config = rig.env.config.clone();
        let mut other = Served::new(
            ConnId {
                key: 8,
                generation: 1,
            },
            ServerConnection::new(config),
            Echo::default(),
            &rig.env.options,
            rig.env.now,
        );
        // Within the cap: both kept, the total is the sum.
        rig.served.account_memory(6_000, &mut rig.env);
        other.account_memory(3_000, &mut rig.env);
        assert_eq!(rig.env.handshake_held(), 9_000);
        assert_eq!(other.end(), None);
        // Shrinking is always fine; growing past the cap closes the one that grew.
        rig.served.account_memory(5_000, &mut rig.env);
        assert_eq!(rig.env.handshake_held(), 8_000);
        other.account_memory(6_000, &mut rig.env);
        assert_eq!(other.end(), Some(End::Evicted));
        assert_eq!(rig.env.options.counters.memory_evictions(), 1);
        assert_eq!(
            rig.env.handshake_held(),
            5_000,
            "the evicted one holds nothing"
        );
        assert_eq!(rig.served.end(), None, "the one that did not grow stays");
        // Once open (or gone), a connection holds nothing in the total.
        rig.served.forget_memory(&mut rig.env);
        assert_eq!(rig.env.handshake_held(), 0);
    }

    #[test]
    fn a_handshake_opens_then_goodbyes_close() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        assert_eq!(rig.served.phase(), Phase::Handshaking);
        assert!(rig.served.wants_read(0, &options()));
        rig.handshake();
        assert!(rig.served.was_open());
        rig.client.send(b"ping").unwrap();
        rig.client_flight();
        assert_eq!(rig.server_flight(), b"ping");
        // The client's close_notify is answered with ours; drained, it is over.
        rig.client.close();
        rig.client_flight();
        assert!(rig.served.app().peer_closed);
        assert_eq!(rig.served.phase(), Phase::Closing(End::Done));
        assert!(!rig.served.wants_read(0, &options()));
        rig.server_flight();
        assert_eq!(rig.served.end(), Some(End::Done));
        assert!(rig.client.peer_closed());
        assert_eq!(rig.served.failure(), None);
    }

    #[test]
    fn the_handshake_deadline_runs_from_the_accept() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        let deadline = rig.served.deadline();
        rig.client_flight(); // the ClientHello: not the end of the handshake
        assert_eq!(rig.served.deadline(), deadline);
        {
            rig.env.now = deadline - Duration::from_millis(1);
            rig.served.on_timer(&mut rig.env);
        }
        assert_eq!(rig.served.phase(), Phase::Handshaking);
        {
            rig.env.now = deadline;
            rig.served.on_timer(&mut rig.env);
        }
        assert_eq!(rig.served.end(), Some(End::TimedOut));
        assert_eq!(rig.served.failure(), Some((Failure::TimedOut, false)));
    }

    #[test]
    fn a_silent_peer_that_times_out_or_leaves_is_no_failure() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        rig.served.on_eof(&mut rig.env);
        assert_eq!(rig.served.end(), Some(End::PeerClosed));
        assert_eq!(
            rig.served.failure(),
            None,
            "a health check is not a failure"
        );
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        rig.client_flight();
        rig.served.on_eof(&mut rig.env);
        assert_eq!(rig.served.failure(), Some((Failure::PeerClosed, false)));
    }

    #[test]
    fn garbage_gets_the_alert_then_closes() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        let mut garbage = *b"GET / HTTP/1.1\r\n\r\n";
        rig.served.on_input(&mut garbage, &mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Closing(End::Failed));
        assert!(
            rig.served.wants_write(),
            "the fatal alert waits to be written"
        );
        let alert = rig.served.output().to_vec();
        assert_eq!(alert[0], 21, "an alert record");
        rig.server_flight();
        // The alert sent, what the peer still sends is read and dropped for a moment, so
        // closing with unread input does not reset the connection before it reads the alert.
        assert_eq!(rig.served.phase(), Phase::Lingering(End::Failed));
        // Our write side shuts at once: the peer reads the alert, then its end of stream.
        assert!(rig.served.wants_shutdown_write());
        rig.served.on_write_shut();
        assert!(!rig.served.wants_shutdown_write());
        assert!(rig.served.wants_read(0, &options()));
        let mut more = *b"more garbage";
        assert_eq!(rig.served.on_input(&mut more, &mut rig.env), more.len());
        rig.served.on_eof(&mut rig.env);
        assert_eq!(rig.served.end(), Some(End::Failed));
        assert!(matches!(
            rig.served.failure(),
            Some((Failure::Engine(Error::AlertSent { .. }), false))
        ));
    }

    #[test]
    fn a_received_fatal_alert_ends_the_connection_once_drained() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        // A fatal handshake_failure alert instead of a ClientHello.
        let mut alert = *b"\x15\x03\x03\x00\x02\x02\x28";
        rig.served.on_input(&mut alert, &mut rig.env);
        assert!(rig.served.is_closing());
        assert!(!rig.served.wants_write(), "nothing answers a fatal alert");
        assert!(!rig.served.wants_shutdown_write());
        // The driver, having nothing to write, reports the output drained: over at once.
        rig.served.on_drained(&mut rig.env);
        assert_eq!(rig.served.end(), Some(End::Failed));
    }

    #[test]
    fn lingering_after_a_fatal_alert_ends_at_its_deadline() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        let mut garbage = *b"\x15\x03\x03\x00\x02\x02\x28trailing";
        rig.served.on_input(&mut garbage, &mut rig.env);
        rig.server_flight();
        let phase = rig.served.phase();
        assert!(
            matches!(phase, Phase::Lingering(_) | Phase::Closed(_)),
            "{phase:?}"
        );
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        let mut garbage = *b"GET / HTTP/1.1\r\n\r\n";
        rig.served.on_input(&mut garbage, &mut rig.env);
        rig.server_flight();
        assert_eq!(rig.served.phase(), Phase::Lingering(End::Failed));
        let deadline = rig.served.deadline();
        assert_eq!(deadline, rig.env.now + options().linger);
        rig.env.now = deadline;
        rig.served.on_timer(&mut rig.env);
        assert_eq!(
            rig.served.end(),
            Some(End::Failed),
            "not a timeout: the failure stays"
        );
    }

    #[test]
    fn the_peers_end_of_stream_when_open_gets_our_goodbye_after_what_it_is_owed() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        rig.handshake();
        rig.client.send(b"owed").unwrap();
        rig.client_flight();
        rig.served.on_eof(&mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Closing(End::Done));
        assert!(!rig.served.wants_read(0, &options()));
        assert_eq!(rig.server_flight(), b"owed");
        assert_eq!(rig.served.end(), Some(End::Done));
        assert!(rig.client.peer_closed());
    }

    #[test]
    fn back_pressure_stops_reading_until_the_output_drains() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        rig.handshake();
        let opts = options();
        rig.client.send(&[b'x'; 6000]).unwrap();
        rig.client_flight();
        // More than max_pending_output (4096) waits: no more reading.
        assert!(rig.served.output().len() >= 4096);
        assert!(!rig.served.wants_read(0, &opts));
        // Bytes the driver took but did not write count too.
        let n = rig.served.output().len();
        rig.served.on_written(n);
        assert!(!rig.served.wants_read(n, &opts));
        rig.served.on_drained(&mut rig.env);
        // The rest of the echo comes out now; once it is out, reading resumes.
        let rest = rig.served.output().len();
        assert!(rest > 0);
        rig.served.on_written(rest);
        rig.served.on_drained(&mut rig.env);
        assert!(rig.served.wants_read(0, &opts));
        // A handler that wants no more input stops reading too.
        rig.served.app_mut().full = true;
        assert!(!rig.served.wants_read(0, &opts));
    }

    #[test]
    fn a_peer_close_during_back_pressure_closes_once_drained() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        rig.handshake();
        rig.client.send(&[b'y'; 6000]).unwrap();
        rig.client_flight();
        assert!(!rig.served.wants_read(0, &options()));
        rig.served.on_eof(&mut rig.env);
        assert!(matches!(
            rig.served.phase(),
            Phase::Closing(End::Done) | Phase::Open
        ));
        let mut echoed = 0;
        for _ in 0..8 {
            echoed += rig.server_flight().len();
            if rig.served.is_closed() {
                break;
            }
        }
        assert_eq!(rig.served.end(), Some(End::Done));
        assert_eq!(echoed, 6000, "every byte owed was sent before the goodbye");
    }

    #[test]
    fn only_whole_records_move_the_idle_deadline() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        rig.handshake();
        let opened = rig.served.deadline();
        assert_eq!(opened, rig.env.now + options().idle_timeout);
        // A record trickled a byte at a time: the bytes are not progress.
        rig.client.send(b"slow").unwrap();
        let record = rig.client.pending_output().to_vec();
        rig.client.consume_output(record.len());
        for i in 1..record.len() {
            rig.later(Duration::from_secs(5));
            let mut part = record[..i].to_vec();
            assert_eq!(rig.served.on_input(&mut part, &mut rig.env), 0);
            assert_eq!(rig.served.deadline(), opened, "byte {i} moved the deadline");
        }
        {
            rig.env.now = opened;
            rig.served.on_timer(&mut rig.env);
        }
        assert_eq!(rig.served.end(), Some(End::TimedOut));
        // A whole record is progress.
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        rig.handshake();
        rig.later(Duration::from_secs(20));
        rig.client.send(b"fast").unwrap();
        rig.client_flight();
        assert_eq!(rig.served.deadline(), rig.env.now + options().idle_timeout);
    }

    #[test]
    fn a_request_head_must_complete_within_the_idle_timeout() {
        let mut rig = Rig::new(server_config(), Heads::default(), insecure());
        rig.handshake();
        let started = rig.env.now;
        // Each line a record of its own: records are progress, but the head is not done.
        for line in [&b"GET / HTTP/1.1\r\n"[..], b"Host: a\r\n", b"X-A: b\r\n"] {
            rig.later(Duration::from_secs(10));
            rig.client.send(line).unwrap();
            rig.client_flight();
            assert_eq!(
                rig.served.deadline(),
                started + Duration::from_secs(10) + options().idle_timeout
            );
        }
        // The head completes: the page goes out and the clock starts again.
        rig.later(Duration::from_secs(5));
        rig.client.send(b"\r\n").unwrap();
        rig.client_flight();
        let page = rig.server_flight();
        assert!(page.starts_with(b"HTTP/1.1 200 OK"));
        assert_eq!(rig.served.deadline(), rig.env.now + options().idle_timeout);
    }

    #[test]
    fn shutdown_closes_idle_connections_and_lets_busy_ones_finish() {
        let mut rig = Rig::new(server_config(), Heads::default(), insecure());
        rig.handshake();
        rig.served.on_shutdown(&mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Closing(End::Done));
        // Busy: half a request head.
        let mut rig = Rig::new(server_config(), Heads::default(), insecure());
        rig.handshake();
        rig.client.send(b"GET / HTTP/1.1\r\n").unwrap();
        rig.client_flight();
        rig.served.on_shutdown(&mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Open);
        rig.client.send(b"\r\n").unwrap();
        rig.client_flight();
        // The page, with our goodbye right behind it.
        assert_eq!(rig.served.phase(), Phase::Closing(End::Done));
        assert!(rig.server_flight().starts_with(b"HTTP/1.1 200 OK"));
        assert!(rig.client.peer_closed());
        assert_eq!(rig.served.end(), Some(End::Done));
        // A handshake in flight is left to finish; the grace period's end ends it, quietly.
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        rig.client_flight();
        rig.served.on_shutdown(&mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Handshaking);
        rig.served.on_grace_over(rig.env.now, &options());
        assert_eq!(rig.served.end(), Some(End::ShutDown));
        assert_eq!(rig.served.failure(), None);
    }

    /// An open connection relayed over an upstream, its upstream connected.
    fn backend_rig() -> Rig<Relay> {
        let options = UpstreamOptions::new("127.0.0.1:9".parse().unwrap());
        let mut rig = Rig::new(
            server_config(),
            Relay(Upstream::new(Arc::new(options))),
            insecure(),
        );
        rig.handshake();
        let now = rig.env.now;
        let stream = rig.served.app_mut().upstream().unwrap();
        stream.connecting(now);
        stream.connected();
        rig.served.on_app_progress(&mut rig.env);
        rig
    }

    impl Rig<Relay> {
        /// The client sends `data`; the backend takes it all.
        fn request(&mut self, data: &[u8]) {
            self.client.send(data).unwrap();
            self.client_flight();
            let stream = self.served.app_mut().upstream().unwrap();
            let n = stream.output().len();
            stream.wrote(n);
        }

        /// The backend answers `data`; it goes to the client.
        fn answer(&mut self, data: &[u8]) -> Vec<u8> {
            self.served.app_mut().upstream().unwrap().received(data);
            self.served.on_app_progress(&mut self.env);
            self.server_flight()
        }
    }

    #[test]
    fn draining_waits_for_the_backends_answer_then_says_goodbye() {
        let mut rig = backend_rig();
        rig.request(b"GET /slow HTTP/1.1\r\n\r\n");
        rig.later(Duration::from_secs(1));
        rig.served.on_shutdown(&mut rig.env);
        assert_eq!(
            rig.served.phase(),
            Phase::Open,
            "a request awaits its answer"
        );
        rig.later(Duration::from_secs(2));
        rig.served.on_timer(&mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Open);
        assert_eq!(rig.answer(b"HTTP/1.1 200 OK\r\n"), b"HTTP/1.1 200 OK\r\n");
        // The rest of the answer a moment later is not cut off.
        rig.later(RELAY_QUIET / 2);
        rig.served.on_timer(&mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Open);
        assert_eq!(rig.answer(b"\r\n"), b"\r\n");
        // Still for RELAY_QUIET after it: goodbye.
        rig.later(RELAY_QUIET);
        rig.served.on_timer(&mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Closing(End::Done));
        rig.server_flight();
        assert!(rig.client.peer_closed(), "close_notify");
    }

    #[test]
    fn a_backend_reset_ends_the_client_stream_without_close_notify() {
        use crate::upstream::UpstreamFailure;
        let mut rig = backend_rig();
        rig.request(b"GET / HTTP/1.1\r\n\r\n");
        rig.answer(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf");
        let stream = rig.served.app_mut().upstream().unwrap();
        stream.failed(UpstreamFailure::Io(std::io::ErrorKind::ConnectionReset));
        assert!(
            !stream.resets_on_close(),
            "the backend's side is over already"
        );
        rig.served.on_app_progress(&mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Closing(End::Aborted));
        assert!(!rig.served.wants_write(), "no close_notify");
        rig.served.on_drained(&mut rig.env);
        assert_eq!(rig.served.end(), Some(End::Aborted));
        assert!(!rig.client.peer_closed());
        assert!(matches!(
            rig.served.failure(),
            Some((Failure::Backend { .. }, true))
        ));
    }

    #[test]
    fn a_client_gone_without_close_notify_resets_its_backend() {
        let mut rig = backend_rig();
        rig.request(b"POST /upload HTTP/1.1\r\ncontent-length: 1000\r\n\r\npart");
        rig.served.on_eof(&mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Closing(End::Aborted));
        let stream = rig.served.app_mut().upstream().unwrap();
        assert!(
            stream.resets_on_close(),
            "an RST for the backend, not a FIN"
        );
        assert!(!stream.wants_shutdown_write());
        // After the client's close_notify, its end of stream is a half-close passed on.
        let mut rig = backend_rig();
        rig.request(b"GET / HTTP/1.1\r\n\r\n");
        rig.client.close();
        rig.client_flight();
        rig.served.on_eof(&mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Open, "the answer is still owed");
        assert!(rig
            .served
            .app_mut()
            .upstream()
            .unwrap()
            .wants_shutdown_write());
    }

    #[test]
    fn a_silent_backend_and_a_trickling_client_are_closed_at_the_timeout() {
        use crate::upstream::UpstreamFailure;
        let idle = options().idle_timeout;
        // The request whole at once, then nothing from the backend.
        let mut rig = backend_rig();
        rig.request(b"GET / HTTP/1.1\r\n\r\n");
        let deadline = rig.served.deadline();
        assert_eq!(deadline, rig.env.now + idle);
        rig.env.now = deadline;
        rig.served.on_timer(&mut rig.env);
        assert_eq!(rig.served.end(), Some(End::Aborted));
        let stream = rig.served.app_mut().upstream().unwrap();
        assert_eq!(stream.failure(), Some(&UpstreamFailure::Silent(idle)));
        assert!(stream.resets_on_close());
        assert_eq!(stream.options().counters.backend_failures("silent"), 1);
        // A byte every few seconds: never whole, far below the minimum rate.
        let mut rig = backend_rig();
        let started = rig.env.now;
        while rig.env.now < started + idle {
            rig.request(b"x");
            rig.later(Duration::from_secs(3));
            rig.served.on_timer(&mut rig.env);
        }
        assert_eq!(rig.served.end(), Some(End::Aborted));
        assert_eq!(rig.env.options.counters.slow_clients(), 1);
        let failure = rig.served.failure();
        assert!(
            matches!(failure, Some((Failure::SlowClient { bytes: 10, .. }, true))),
            "{failure:?}"
        );
        // An upload at the minimum rate or more goes on past the timeout.
        let mut rig = backend_rig();
        let started = rig.env.now;
        let chunk = vec![b'u'; MIN_MESSAGE_RATE as usize];
        while rig.env.now < started + 3 * idle {
            rig.request(&chunk);
            rig.later(Duration::from_secs(1));
            rig.served.on_timer(&mut rig.env);
            assert_eq!(rig.served.phase(), Phase::Open);
        }
    }

    /// A config whose store answers every lookup later, and a client with a session to
    /// offer: the second handshake suspends.
    fn suspended_rig() -> (Rig<Echo>, Arc<PendingStore>) {
        let store = Arc::new(PendingStore {
            inner: SessionCache::new(1 << 20, 300),
            fetched: AtomicBool::new(false),
            answer: Mutex::new(None),
        });
        let sessions = Arc::new(ClientSessionStore::new(4));
        let mut client = insecure();
        client.session_store = Some(sessions);
        client.enable_tickets = false;
        let make = |store: &Arc<PendingStore>| {
            let mut config = server_config();
            config.session_store = Some(store.clone());
            config
        };
        // The first handshake (nothing to offer yet) makes the session.
        let mut first = Rig::new(make(&store), Echo::default(), client.clone());
        first.handshake();
        let mut rig = Rig::new(make(&store), Echo::default(), client);
        rig.client_flight();
        (rig, store)
    }

    #[test]
    fn a_suspended_lookup_stops_reading_and_resumes_on_its_answer() {
        let (mut rig, store) = suspended_rig();
        assert_eq!(rig.served.phase(), Phase::Suspended);
        assert!(store.fetched.load(Ordering::SeqCst));
        assert!(!rig.served.wants_read(0, &options()));
        // An answer for another phase or connection changes nothing: only `Reply`s reach
        // the machine, and a wake while suspended produces nothing.
        rig.served.on_reply(Reply::Wake, &mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Suspended);
        let answer = store.answer.lock().unwrap().take().unwrap();
        assert!(matches!(answer, Lookup::Found(_)));
        rig.served.on_reply(Reply::Session(answer), &mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Handshaking);
        rig.server_flight();
        rig.client_flight();
        assert_eq!(rig.served.phase(), Phase::Open);
        assert_eq!(
            rig.served.tls().negotiated().resumed,
            Some(reprise::ResumptionKind::SessionId)
        );
    }

    #[test]
    fn shutdown_during_a_suspended_lookup_waits_for_the_grace_period() {
        let (mut rig, _store) = suspended_rig();
        rig.served.on_shutdown(&mut rig.env);
        assert_eq!(rig.served.phase(), Phase::Suspended);
        rig.served.on_grace_over(rig.env.now, &options());
        assert_eq!(rig.served.end(), Some(End::ShutDown));
        // A late answer for a connection that is over is ignored.
        rig.served
            .on_reply(Reply::Session(Lookup::Missing), &mut rig.env);
        assert_eq!(rig.served.end(), Some(End::ShutDown));
        let _ = rig.answers.try_recv();
    }

    #[test]
    fn a_suspended_lookup_times_out_with_the_handshake() {
        let (mut rig, _store) = suspended_rig();
        let deadline = rig.served.deadline();
        {
            rig.env.now = deadline;
            rig.served.on_timer(&mut rig.env);
        }
        assert_eq!(rig.served.end(), Some(End::TimedOut));
    }

    #[test]
    fn a_wake_lets_the_handler_produce() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        rig.handshake();
        rig.served.app_mut().pending.extend_from_slice(b"unasked");
        rig.served.on_reply(Reply::Wake, &mut rig.env);
        assert_eq!(rig.server_flight(), b"unasked");
    }

    #[test]
    fn a_socket_error_ends_any_phase_and_the_idle_timeout_says_goodbye() {
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        rig.client_flight();
        rig.served
            .on_socket_error(io::ErrorKind::ConnectionReset, rig.env.now);
        assert_eq!(
            rig.served.failure(),
            Some((Failure::Socket(io::ErrorKind::ConnectionReset), false))
        );
        let mut rig = Rig::new(server_config(), Echo::default(), insecure());
        rig.handshake();
        let deadline = rig.served.deadline();
        {
            rig.env.now = deadline;
            rig.served.on_timer(&mut rig.env);
        }
        assert_eq!(rig.served.end(), Some(End::TimedOut));
        assert!(
            rig.served.wants_write(),
            "close_notify queued for a last write"
        );
        assert_eq!(
            rig.served.failure(),
            None,
            "an idle open connection is no failure"
        );
    }
}

/// Which unfinished handshakes to close so that what they hold stays within `cap`: given
/// `(held bytes, generation, key)` of each, the keys of the oldest (lowest generation) until
/// the rest fits.
pub fn evictions(mut unfinished: Vec<(usize, u32, usize)>, cap: usize) -> Vec<usize> {
    let mut total: usize = unfinished.iter().map(|(held, ..)| held).sum();
    if total <= cap {
        return Vec::new();
    }
    unfinished.sort_by_key(|(_, generation, _)| *generation);
    let mut out = Vec::new();
    for (held, _, key) in unfinished {
        if total <= cap {
            break;
        }
        total -= held;
        out.push(key);
    }
    out
}

#[cfg(test)]
mod eviction_tests {
    use super::evictions;

    #[test]
    fn the_oldest_unfinished_handshakes_go_first_until_the_rest_fits() {
        // (held, generation, key)
        let unfinished = vec![(4000, 7, 70), (4000, 3, 30), (4000, 9, 90), (4000, 5, 50)];
        assert!(evictions(unfinished.clone(), 16_000).is_empty());
        assert_eq!(evictions(unfinished.clone(), 12_000), vec![30]);
        assert_eq!(evictions(unfinished, 5_000), vec![30, 50, 70]);
    }
}
