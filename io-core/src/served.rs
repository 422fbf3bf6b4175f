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
//! part of a message ([`Handler::is_mid_message`]) the idle timeout runs from the message's
//! start. Closing (our close_notify or fatal alert on its way) is bounded by
//! `handshake_timeout` too.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use reprise::{Error, Event, ServerConfig, ServerConnection};

use crate::app::{Flow, Handler, Opened};
use crate::failure_log::Failure;
use crate::suspend::{fetch_session, sign_for, Mailbox, Reply, SignerPool};
use crate::workers::WakeWorker;
use crate::ServerOptions;

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
            now_secs: crate::now_secs(),
            scratch: Vec::with_capacity(4096),
        }
    }

    /// Reads the clocks (once per loop turn).
    pub fn tick(&mut self) {
        self.now = Instant::now();
        self.now_secs = crate::now_secs();
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
        }
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

    /// [`on_written`](Self::on_written).
    pub fn output(&self) -> &[u8] {
        self.tls.pending_output()
    }

    /// True when records wait to be written.
    pub fn wants_write(&self) -> bool {
        self.tls.wants_transmit()
    }

    /// to a send buffer of its own).
    pub fn on_written(&mut self, n: usize) {
        self.tls.consume_output(n);
        self.wrote |= n > 0;
    }

    /// A read or write failed: the connection is over.
    pub fn on_socket_error(&mut self, kind: io::ErrorKind, now: Instant) {
        if !self.is_closed() {
            self.close_now(End::Socket(kind), now);
        }
    }

    /// goodbye, which the driver sends if the socket takes it at once).
    pub fn on_timer(&mut self, now: Instant) {
        if now < self.deadline || self.is_closed() {
            return;
        }
        if self.phase == Phase::Open {
            self.tls.close();
        }
        self.close_now(End::TimedOut, now);
    }

    /// The grace period is over: whatever is left ends now.
    pub fn on_grace_over(&mut self, now: Instant) {
        if !self.is_closed() {
            self.close_now(End::ShutDown, now);
        }
    }

    /// the pair when the handshake had completed.
    pub fn failure(&self) -> Option<(Failure, bool)> {
        if let Some(error) = self.tls.error() {
            if !matches!(error, Error::Closed | Error::NotReady) {
                return Some((Failure::Engine(error.clone()), self.was_open));
            }
        }
        if self.was_open || !self.heard {
            return None;
        }
        let failure = match self.end()? {
            End::Socket(kind) => Failure::Socket(kind),
            End::PeerClosed => Failure::PeerClosed,
            End::TimedOut => Failure::TimedOut,
            End::Done | End::Failed | End::ShutDown => return None,
        };
        Some((failure, false))
    }

    /// The engine connection and the handler, to recycle the engine's buffers.
    pub fn into_parts(self) -> (ServerConnection, H) {
        (self.tls, self.app)
    }

    /// The engine failed: its fatal alert is queued (if it could send one).
    fn fail(&mut self, now: Instant) {
        self.begin_close(End::Failed, now);
    }

    /// Queues our close_notify (none after a fatal alert) and drains the output.
    fn begin_close(&mut self, end: End, now: Instant) {
        if end != End::Failed {
            self.tls.close();
        }
        self.phase = Phase::Closing(end);
        self.since = now;
    }

    fn close_now(&mut self, end: End, now: Instant) {
        self.phase = Phase::Closed(end);
        self.deadline = now;
    }

    fn refresh_deadline<W: WakeWorker>(&mut self, cx: &Env<W>) {
        let options = &cx.options;
        self.deadline = match self.phase {
            Phase::Handshaking | Phase::Suspended => self.deadline,
            Phase::Open => self.message_started.unwrap_or(self.since) + options.idle_timeout,
            // A closing connection gets a bounded time to take the rest.
            Phase::Closing(_) => self.deadline.min(self.since + options.handshake_timeout),
            Phase::Closed(_) => cx.now,
        };
    }
}

impl<H: Handler> Served<H> {
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
            Phase::Suspended | Phase::Closing(_) | Phase::Closed(_) => false,
        }
    }

    /// Records waiting to be written; report what was written with
    /// The driver took `n` bytes of [`output`](Self::output) (written them, or moved them
    /// Everything the driver took has reached the socket, and nothing is pending: a closing
    /// connection is over; an open one may produce more.
    pub fn on_drained<W: WakeWorker>(&mut self, cx: &mut Env<W>) {
        if self.tls.wants_transmit() {
            return;
        }
        match self.phase {
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
        let mut consumed = 0;
        while consumed < data.len() && matches!(self.phase, Phase::Handshaking | Phase::Open) {
            let receipt = match self.tls.receive(&mut data[consumed..], cx.now_secs) {
                Ok(r) => r,
                Err(_) => {
                    self.fail(cx.now);
                    break;
                }
            };
            self.handle_events(cx);
            if !receipt.plaintext.is_empty() && self.phase == Phase::Open {
                let plain = consumed + receipt.plaintext.start..consumed + receipt.plaintext.end;
                self.app.on_data(&data[plain]);
                self.pump(cx);
            }
            if receipt.consumed == 0 {
                break;
            }
            consumed += receipt.consumed;
            if self.phase == Phase::Open {
                // A whole record is progress; bytes of an unfinished one are not.
                self.since = cx.now;
            }
        }
        self.partial_record = consumed < data.len();
        self.pump(cx);
        self.refresh_deadline(cx);
        consumed
    }

    /// The answer to a suspension, or a [`Wake`] of the handler. After a lookup or a
    /// signature the driver feeds the records it held meanwhile ([`on_input`](Self::on_input)).
    pub fn on_reply<W: WakeWorker>(&mut self, reply: Reply, cx: &mut Env<W>) {
        let provided = match reply {
            Reply::Session(_) | Reply::Signature(_) if self.phase != Phase::Suspended => return,
            Reply::Session(lookup) => self.tls.provide_session(lookup),
            Reply::Signature(signature) => self.tls.provide_signature(signature),
            Reply::Wake => {
                self.pump(cx);
                self.refresh_deadline(cx);
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
            Phase::Open => {
                let flow = self.app.on_peer_closed();
                self.pump(cx);
                if flow == Flow::Close && self.phase == Phase::Open {
                    self.begin_close(End::Done, cx.now);
                }
            }
            Phase::Closing(_) | Phase::Closed(_) => {}
        }
        self.refresh_deadline(cx);
    }

    /// The timer fired: past its deadline the connection is over (an open one is told
    /// The server is shutting down: an idle open connection is told goodbye now, a busy one
    /// as soon as it is idle; handshakes may finish within the grace period.
    pub fn on_shutdown<W: WakeWorker>(&mut self, cx: &mut Env<W>) {
        self.draining = true;
        self.pump(cx);
        self.refresh_deadline(cx);
    }

    /// The failure to log, if the connection failed: always for an engine error; before
    /// the handshake completed, also for a timeout, a close or a socket error of a peer that
    /// sent something (a health check that connects and closes is not a failure). `true` in
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
                    self.app
                        .on_open(&Opened::new(self.tls.negotiated(), &make_wake));
                }
                Event::NeedSession { id } => {
                    self.phase = Phase::Suspended;
                    fetch_session(&cx.config, &id, cx.now_secs, cx.mailbox.reply_to(self.id));
                }
                Event::NeedSignature {
                    auth,
                    scheme,
                    message,
                } => {
                    self.phase = Phase::Suspended;
                    sign_for(
                        cx.signer.as_ref(),
                        &cx.config,
                        auth,
                        scheme,
                        message,
                        cx.mailbox.reply_to(self.id),
                    );
                }
                Event::PeerClosed => {
                    // RFC 5246 §7.2.1: answer with our close_notify, after what the
                    // handler still has to say (a half-close passed on, e.g. to a backend).
                    if self.phase == Phase::Open {
                        let flow = self.app.on_peer_closed();
                        self.pump(cx);
                        if flow == Flow::Close && self.phase == Phase::Open {
                            self.begin_close(End::Done, cx.now);
                        }
                    } else if !matches!(self.phase, Phase::Closing(_) | Phase::Closed(_)) {
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
        loop {
            let room = cx
                .options
                .max_pending_output
                .saturating_sub(self.tls.pending_output().len());
            if room == 0 {
                break;
            }
            cx.scratch.clear();
            let flow = self.app.poll_output(&mut cx.scratch, room);
            if !cx.scratch.is_empty() && self.tls.send(&cx.scratch).is_err() {
                self.fail(cx.now);
                return;
            }
            if flow == Flow::Close {
                self.begin_close(End::Done, cx.now);
                return;
            }
            if cx.scratch.is_empty() {
                break;
            }
        }
        self.message_started = match (self.app.is_mid_message(), self.message_started) {
            (false, _) => None,
            (true, Some(started)) => Some(started),
            (true, None) => Some(cx.now),
        };
        if self.draining
            && self.message_started.is_none()
            && !self.partial_record
            && !self.tls.wants_transmit()
        {
            self.begin_close(End::Done, cx.now);
        }
    }
}
