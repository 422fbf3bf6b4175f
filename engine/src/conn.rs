//! The public connection types: the record layer joined to a handshake state machine, behind
//! a sans-IO, caller-buffered API. Bytes in ([`Connection::receive`]), records out
//! ([`Connection::transmit`]), events between ([`Connection::next_event`]).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use crate::codec::{
    Alert, AlertDescription, AlertLevel, ContentType, HandshakeHeader, HandshakeType,
    ProtocolVersion, RecordHeader, HANDSHAKE_HEADER_LEN, MAX_PLAINTEXT, RECORD_HEADER_LEN,
};
use crate::crypto::prf::{MasterSecret, PrfHash, PrfKey};
use crate::error::{Error, Event, Fatal, InternalFailure, Misbehavior};
use crate::handshake::flow::{Msg, Role};
use crate::handshake::Received;
use crate::metrics::Metrics;
use crate::record::RecordCipher;

/// Largest record body we accept before decrypting (RFC 5246 §6.2.3: 2^14 + 2048).
const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + 2048;
/// Consecutive empty application-data records tolerated (a cheap DoS otherwise).
const MAX_EMPTY_RECORDS: u32 = 32;
/// Warning alerts tolerated over a connection's life.
const MAX_WARNINGS: u32 = 16;
/// A buffer of handshake-message bytes split across records keeps at most this much capacity
/// once the message is whole; more is freed.
const RETAINED_PARTIAL_CAPACITY: usize = 4096;
/// Warning alerts in a row a peer may send; the next one gets a fatal unexpected_message
/// (the "SSL Death Alert" defence of CVE-2016-8610; OpenSSL allows 4 too).
const MAX_CONSECUTIVE_WARNINGS: u32 = 4;
/// What a fresh connection's flight buffer gets when its first message is written: a
/// resumption's whole flight, so it is allocated once rather than grown message by message
/// (recycled buffers keep theirs). Not at creation: a connection that never gets a
/// ClientHello holds no flight memory.
const FIRST_FLIGHT_CAPACITY: usize = 512;
/// Bytes a record adds to its plaintext at most: header, explicit nonce and tag (RFC 5288 §3).
const RECORD_EXPANSION: usize = crate::codec::RECORD_HEADER_LEN + 8 + 16;

/// The result of one [`Connection::receive`] call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Receipt {
    /// Bytes of the input consumed (whole records only); the caller drops them.
    pub consumed: usize,
    /// Where the plaintext of one application-data record now lies within the input (it was
    /// decrypted in place). Empty when no application data was decrypted by this call. Use it
    /// before you overwrite or compact the input buffer.
    pub plaintext: Range<usize>,
}

/// Received bytes being read record by record with [`Connection::next_plaintext`]: whole
/// records are decrypted where they lie, and [`consumed`](Self::consumed) says how far.
#[derive(Debug)]
pub struct Inbound<'a> {
    buf: &'a mut [u8],
    consumed: usize,
}

impl<'a> Inbound<'a> {
    /// Reads `buf` from its start. A buffer that can hold one whole record
    /// ([`MAX_RECORD_LEN`](crate::MAX_RECORD_LEN) bytes) always makes progress.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, consumed: 0 }
    }

    /// Bytes read so far (whole records only); what follows is an unfinished record, or
    /// records held while the handshake waits for the caller.
    pub fn consumed(&self) -> usize {
        self.consumed
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    Handshaking,
    Open,
    Failed(Error),
}

/// State shared by both roles: record protection, output, events.
// Public in name only (the sealed `Handshake` trait mentions it); unreachable from outside.
pub struct Core {
    /// The time of the current `receive` call, seconds since the Unix epoch.
    pub(crate) now: u64,
    rx: Option<RecordCipher>,
    tx: Option<RecordCipher>,
    /// Read keys waiting for the peer's ChangeCipherSpec.
    pub(crate) pending_rx: Option<RecordCipher>,
    /// Write keys waiting for our ChangeCipherSpec.
    pub(crate) pending_tx: Option<RecordCipher>,
    /// Handshake messages of the flight being built, flushed into records in one go.
    flight: Vec<u8>,
    /// The PRF keyed with the master secret while the handshake needs it (both Finished
    /// messages), wiped after the second. On the heap, so the handshake's state stays small
    /// (aws-lc's HMAC context alone is 1.2 KB, and the state moves), and recycled with the
    /// other buffers.
    prf: Option<Box<Option<PrfKey>>>,
    out: Vec<u8>,
    out_start: usize,
    /// What [`Connection::send_some`] lets wait in `out`.
    output_limit: usize,
    /// A handshake message split across records, being reassembled.
    hs_partial: Vec<u8>,
    max_handshake_len: usize,
    events: VecDeque<Event>,
    status: Status,
    version_locked: bool,
    peer_closed: bool,
    we_closed: bool,
    empty_records: u32,
    warnings: u32,
    /// Warning alerts received since the last record of another type.
    consecutive_warnings: u32,
    metrics: Option<Arc<Metrics>>,
}

/// The heap buffers of a finished connection, kept to build the next one without allocating
/// (see [`Connection::into_buffers`] and `ServerConnection::with_buffers`). A driver that
/// recycles them makes a resumed server handshake allocation-free after warm-up.
#[derive(Debug, Default)]
pub struct Buffers {
    flight: Vec<u8>,
    out: Vec<u8>,
    hs_partial: Vec<u8>,
    events: VecDeque<Event>,
    /// The PRF's slot, always empty here (wiped when the connection gave it back).
    prf: Option<Box<Option<PrfKey>>>,
}

impl Buffers {
    /// Heap bytes held (by capacity).
    pub fn capacity_bytes(&self) -> usize {
        heap_bytes(
            &self.flight,
            &self.out,
            &self.hs_partial,
            &self.events,
            &self.prf,
        )
    }
}

/// Heap bytes of a connection's buffers, by capacity (a connection's and its [`Buffers`]'
/// count alike).
fn heap_bytes(
    flight: &Vec<u8>,
    out: &Vec<u8>,
    hs_partial: &Vec<u8>,
    events: &VecDeque<Event>,
    prf: &Option<Box<Option<PrfKey>>>,
) -> usize {
    flight.capacity()
        + out.capacity()
        + hs_partial.capacity()
        + events.capacity() * core::mem::size_of::<Event>()
        + prf
            .as_ref()
            .map_or(0, |_| core::mem::size_of::<Option<PrfKey>>())
}

impl Core {
    pub(crate) fn new(
        max_handshake_len: usize,
        metrics: Option<Arc<Metrics>>,
        buffers: Buffers,
    ) -> Self {
        let Buffers {
            mut flight,
            mut out,
            mut hs_partial,
            mut events,
            prf,
        } = buffers;
        flight.clear();
        out.clear();
        hs_partial.clear();
        events.clear();
        Self {
            now: 0,
            rx: None,
            tx: None,
            pending_rx: None,
            pending_tx: None,
            flight,
            prf,
            out,
            out_start: 0,
            output_limit: crate::DEFAULT_OUTPUT_LIMIT,
            hs_partial,
            max_handshake_len,
            events,
            status: Status::Handshaking,
            version_locked: false,
            peer_closed: false,
            we_closed: false,
            empty_records: 0,
            warnings: 0,
            consecutive_warnings: 0,
            metrics,
        }
    }

    /// Keys the PRF with the master secret in the recycled slot, where it stays for the key
    /// block and both Finished messages (aws-lc's HMAC context is 1.2 KB: built in place, it
    /// is not moved through the handshake's frames).
    pub(crate) fn key_prf(&mut self, hash: PrfHash, master_secret: &MasterSecret) -> &PrfKey {
        self.prf
            .get_or_insert_with(|| Box::new(None))
            .insert(PrfKey::from_master_secret(hash, master_secret))
    }

    /// The PRF keyed with the master secret, from the keys' installation to the second
    /// Finished.
    pub(crate) fn prf_key(&self) -> Option<&PrfKey> {
        self.prf.as_ref().and_then(|slot| (**slot).as_ref())
    }

    /// Wipes the PRF key: the handshake is over (the slot stays for the next connection).
    pub(crate) fn forget_prf_key(&mut self) {
        if let Some(slot) = self.prf.as_mut() {
            **slot = None;
        }
    }

    /// The flight being built: handshake messages are encoded onto its end.
    pub(crate) fn flight(&mut self) -> &mut Vec<u8> {
        if self.flight.capacity() == 0 {
            self.flight.reserve(FIRST_FLIGHT_CAPACITY);
        }
        &mut self.flight
    }

    /// After the first hello, records must carry TLS 1.2 (RFC 5246 Appendix E.1).
    pub(crate) fn lock_version(&mut self) {
        self.version_locked = true;
    }

    pub(crate) fn push_event(&mut self, event: Event) {
        if let (Some(m), Event::ResumptionFailed { reason }) = (&self.metrics, &event) {
            m.resumption_failed(*reason);
        }
        self.events.push_back(event);
    }

    /// Writes the pending flight into records, fragmenting at 2^14 bytes.
    pub(crate) fn flush_flight(&mut self) -> Result<(), Fatal> {
        if self.flight.is_empty() {
            return Ok(());
        }
        let flight = std::mem::take(&mut self.flight);
        let records = flight.len().div_ceil(MAX_PLAINTEXT);
        self.out.reserve(flight.len() + records * RECORD_EXPANSION);
        let result = self.write_records(ContentType::Handshake, &flight);
        self.flight = flight;
        self.flight.clear();
        result
    }

    fn write_records(&mut self, content_type: ContentType, data: &[u8]) -> Result<(), Fatal> {
        for chunk in data.chunks(MAX_PLAINTEXT) {
            match &mut self.tx {
                Some(tx) => tx
                    .seal_append(content_type, chunk, &mut self.out)
                    .map_err(|_| Fatal::from(InternalFailure::RecordSealing))?,
                None => {
                    let header = RecordHeader {
                        content_type,
                        version: ProtocolVersion::TLS12,
                        length: chunk.len() as u16,
                    };
                    self.out.extend_from_slice(&header.encode());
                    self.out.extend_from_slice(chunk);
                }
            }
        }
        Ok(())
    }

    /// Flushes the flight, sends ChangeCipherSpec and switches to the pending write keys.
    pub(crate) fn send_change_cipher_spec(&mut self) -> Result<(), Fatal> {
        self.flush_flight()?;
        self.write_records(ContentType::ChangeCipherSpec, &[1])?;
        self.tx = Some(self.pending_tx.take().ok_or_else(|| {
            Fatal::from(InternalFailure::OutOfOrder {
                what: "no write keys at ChangeCipherSpec",
            })
        })?);
        Ok(())
    }

    /// The peer's ChangeCipherSpec: switch to the pending read keys (RFC 5246 §7.1).
    pub(crate) fn receive_change_cipher_spec(&mut self) -> Result<(), Fatal> {
        if !self.hs_partial.is_empty() {
            return Err(Fatal::from(Misbehavior::ChangeCipherSpecInsideMessage));
        }
        self.rx = Some(
            self.pending_rx
                .take()
                .ok_or_else(|| Fatal::from(Misbehavior::ChangeCipherSpecBeforeKeys))?,
        );
        Ok(())
    }

    /// True until the handshake completes or fails.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.status == Status::Handshaking
    }

    /// Takes the limits and counters of the config chosen after the ClientHello.
    pub(crate) fn adopt_config(&mut self, max_handshake_len: usize, metrics: Option<Arc<Metrics>>) {
        self.max_handshake_len = max_handshake_len;
        self.metrics = metrics;
    }

    pub(crate) fn handshake_complete(&mut self, event: Event) {
        if let (Some(m), Event::HandshakeDone { resumed }) = (&self.metrics, &event) {
            m.handshake_done(*resumed);
        }
        self.status = Status::Open;
        self.events.push_back(event);
    }

    fn send_alert(&mut self, level: AlertLevel, description: AlertDescription) {
        if let Some(m) = &self.metrics {
            m.alert_sent(description);
        }
        let alert = Alert { level, description }.encode();
        // A failure to seal an alert leaves nothing sensible to send.
        let _ = self.write_records(ContentType::Alert, &alert);
    }

    /// Records a fatal error: queues the alert and kills the connection.
    fn fail(&mut self, f: Fatal) -> Error {
        if let Status::Failed(e) = &self.status {
            return e.clone();
        }
        self.flight.clear();
        if let (Some(m), Status::Handshaking) = (&self.metrics, &self.status) {
            m.handshake_failed();
        }
        self.send_alert(AlertLevel::Fatal, f.0.alert());
        let err = Error::AlertSent(f.0);
        self.status = Status::Failed(err.clone());
        err
    }

    pub(crate) fn fail_fatal(&mut self, f: Fatal) -> Error {
        self.fail(f)
    }

    fn fail_received(&mut self, alert: AlertDescription) -> Error {
        if let Some(m) = &self.metrics {
            m.alert_received(alert);
            if self.status == Status::Handshaking {
                m.handshake_failed();
            }
        }
        let err = Error::AlertReceived(alert);
        self.status = Status::Failed(err.clone());
        err
    }
}

/// The handshake a [`Connection`] runs, which makes it a server or a client:
/// [`ServerHandshake`](crate::ServerHandshake) or [`ClientHandshake`](crate::ClientHandshake).
/// Code that works for either role is generic over it:
///
/// ```
/// fn flush<H: reprise::Handshake>(conn: &mut reprise::Connection<H>, socket: &mut Vec<u8>) {
///     socket.extend_from_slice(conn.pending_output());
///     let n = conn.pending_output().len();
///     conn.consume_output(n);
/// }
/// ```
///
/// Sealed: the engine's two roles are the only ones.
pub trait Handshake: sealed::Machine {}

impl Handshake for crate::ServerHandshake {}
impl Handshake for crate::ClientHandshake {}

pub(crate) mod sealed {
    use super::Core;
    use crate::error::Fatal;
    use crate::handshake::flow::{Flow, Msg, Role};
    use crate::handshake::Received;

    /// What a role's handshake state machine must provide; the supertrait of
    /// [`Handshake`](super::Handshake), nameable only inside the crate.
    #[allow(unreachable_pub)] // sealed-trait pattern: public, in a private module
    pub trait Machine {
        /// Our role.
        const ROLE: Role;
        /// Where the handshake is.
        fn flow(&self) -> &Flow;
        /// The same, for the gate to revise ([`Flow::admits`]).
        fn flow_mut(&mut self) -> &mut Flow;
        /// What the handshake negotiated so far.
        fn negotiated(&self) -> &crate::handshake::Negotiated;
        /// Takes the peer's next step, which the flow has let through: a handshake message
        /// or (with [`Received::CHANGE_CIPHER_SPEC`]) a ChangeCipherSpec.
        fn receive(
            &mut self,
            core: &mut Core,
            msg: Msg,
            received: Received<'_>,
        ) -> Result<(), Fatal>;
        /// True while waiting for the caller to answer an event (e.g. a session lookup).
        fn is_suspended(&self) -> bool {
            false
        }
        /// Continues a handshake suspended on a session lookup with its answer.
        fn provide_session(
            &mut self,
            core: &mut Core,
            answer: crate::session::Lookup,
        ) -> Result<(), Fatal> {
            let _ = (core, answer);
            Err(crate::error::InternalFailure::OutOfOrder {
                what: "no session lookup is pending",
            }
            .into())
        }
        /// Continues a handshake suspended on an offloaded signature.
        fn provide_signature(
            &mut self,
            core: &mut Core,
            signature: Option<Vec<u8>>,
        ) -> Result<(), Fatal> {
            let _ = (core, signature);
            Err(crate::error::InternalFailure::OutOfOrder {
                what: "no signature is pending",
            }
            .into())
        }
        /// Continues a handshake suspended on the caller's approval of the client.
        fn provide_approval(&mut self, core: &mut Core, approved: bool) -> Result<(), Fatal> {
            let _ = (core, approved);
            Err(crate::error::InternalFailure::OutOfOrder {
                what: "no client approval is pending",
            }
            .into())
        }
        /// Answers `event` if it is a request the handshake waits on, blocking until the
        /// answer is there (for the blocking [`Stream`](crate::Stream)).
        fn answer_blocking(
            conn: &mut super::Connection<Self>,
            event: &crate::Event,
        ) -> Result<(), crate::Error>
        where
            Self: Sized,
        {
            let _ = (conn, event);
            Ok(())
        }
    }
}
pub(crate) use sealed::Machine;

/// Maps a handshake type to a flow message, if it can ever appear in one.
fn flow_msg(typ: HandshakeType) -> Option<Msg> {
    Some(match typ {
        HandshakeType::ClientHello => Msg::ClientHello,
        HandshakeType::ServerHello => Msg::ServerHello,
        HandshakeType::Certificate => Msg::Certificate,
        HandshakeType::ServerKeyExchange => Msg::ServerKeyExchange,
        HandshakeType::CertificateRequest => Msg::CertificateRequest,
        HandshakeType::ServerHelloDone => Msg::ServerHelloDone,
        HandshakeType::ClientKeyExchange => Msg::ClientKeyExchange,
        HandshakeType::CertificateVerify => Msg::CertificateVerify,
        HandshakeType::NewSessionTicket => Msg::NewSessionTicket,
        HandshakeType::Finished => Msg::Finished,
        _ => return None,
    })
}

/// A TLS 1.2 connection in either role. Use the aliases
/// [`ServerConnection`](crate::ServerConnection) and [`ClientConnection`](crate::ClientConnection).
pub struct Connection<H> {
    pub(crate) core: Core,
    pub(crate) hs: H,
}

impl<H: Handshake> Connection<H> {
    /// The plaintext of the next application-data record in `inbound`, decrypted in place;
    /// the handshake records before it are handled on the way. `None` once `inbound` holds no
    /// further whole record, or the handshake waits for the caller
    /// ([`is_suspended`](Self::is_suspended)), or the peer has closed. The one loop every
    /// caller needs:
    ///
    /// ```
    /// # fn f(conn: &mut reprise::ServerConnection, buf: &mut Vec<u8>, now: u64) -> Result<(), reprise::Error> {
    /// let mut inbound = reprise::Inbound::new(&mut buf[..]);
    /// while let Some(plaintext) = conn.next_plaintext(&mut inbound, now)? {
    ///     // use `plaintext`; events (handshake done, …) are waiting in `next_event`
    /// #   let _ = plaintext;
    /// }
    /// let used = inbound.consumed();
    /// buf.drain(..used); // the rest is the start of a record: keep it, read more behind it
    /// # Ok(()) }
    /// ```
    ///
    /// After an error the connection is dead; [`transmit`](Self::transmit) the alert queued.
    pub fn next_plaintext<'b>(
        &mut self,
        inbound: &'b mut Inbound<'_>,
        now: u64,
    ) -> Result<Option<&'b [u8]>, Error> {
        while inbound.consumed < inbound.buf.len() {
            let start = inbound.consumed;
            let receipt = self.receive(&mut inbound.buf[start..], now)?;
            inbound.consumed += receipt.consumed;
            if !receipt.plaintext.is_empty() {
                let plain = start + receipt.plaintext.start..start + receipt.plaintext.end;
                return Ok(Some(&inbound.buf[plain]));
            }
            if receipt.consumed == 0 || self.is_suspended() || self.core.peer_closed {
                break;
            }
        }
        Ok(None)
    }

    /// What the handshake negotiated so far.
    pub fn negotiated(&self) -> &crate::Negotiated {
        self.hs.negotiated()
    }

    /// Answers a [`Event::NeedSession`] lookup and continues the handshake; then call
    /// [`transmit`](Connection::transmit) and feed any records held back meanwhile.
    pub fn provide_session(&mut self, answer: crate::session::Lookup) -> Result<(), Error> {
        if let Some(e) = self.error() {
            return Err(e.clone());
        }
        self.hs
            .provide_session(&mut self.core, answer)
            .map_err(|f| self.core.fail_fatal(f))
    }

    /// Answers a [`Event::NeedSignature`] with the signature (`None` if signing failed, which
    /// ends the handshake with internal_error) and continues the handshake.
    pub fn provide_signature(&mut self, signature: Option<Vec<u8>>) -> Result<(), Error> {
        if let Some(e) = self.error() {
            return Err(e.clone());
        }
        self.hs
            .provide_signature(&mut self.core, signature)
            .map_err(|f| self.core.fail_fatal(f))
    }

    /// Answers [`Event::NeedClientApproval`] (server): `true` lets the handshake go on (then
    /// call [`transmit`](Connection::transmit)), `false` ends it with access_denied and the
    /// error `InvalidClientCertificate(NotApproved)`.
    pub fn approve_client(&mut self, approved: bool) -> Result<(), Error> {
        if let Some(e) = self.error() {
            return Err(e.clone());
        }
        self.hs
            .provide_approval(&mut self.core, approved)
            .map_err(|f| self.core.fail_fatal(f))
    }

    /// True while the handshake waits for the caller (a session lookup or a signature).
    pub fn is_suspended(&self) -> bool {
        self.hs.is_suspended()
    }

    /// Processes TLS records at the start of `inbound`, decrypting in place.
    ///
    /// Consumes whole records only and stops after one application-data record so its
    /// plaintext can be used (see [`Receipt`]); call again with the rest. `now` is the current
    /// time in seconds since the Unix epoch (used for certificate and ticket validity).
    /// After an error the connection is dead; call [`transmit`](Self::transmit) to flush the
    /// alert we queued.
    pub fn receive(&mut self, inbound: &mut [u8], now: u64) -> Result<Receipt, Error> {
        self.core.now = now;
        let mut consumed = 0;
        loop {
            if let Status::Failed(e) = &self.core.status {
                return Err(e.clone());
            }
            if self.core.peer_closed {
                return Ok(Receipt {
                    consumed: inbound.len(),
                    plaintext: 0..0,
                });
            }
            if self.hs.is_suspended() {
                // What follows waits for the caller's answer (the driver offers it again).
                break;
            }
            let rest = &mut inbound[consumed..];
            let Some(header) = RecordHeader::parse(rest) else {
                break;
            };
            if let Err(f) = self.check_header(&header) {
                return Err(self.core.fail(f));
            }
            let total = RECORD_HEADER_LEN + header.length as usize;
            if rest.len() < total {
                break;
            }
            let body = &mut rest[RECORD_HEADER_LEN..total];
            let start = consumed + RECORD_HEADER_LEN;
            consumed += total;
            let plain = match self.core.rx.as_mut() {
                Some(rx) => match rx.open_in_place(header.content_type, body) {
                    Ok(r) => r,
                    Err(alert) => {
                        return Err(self
                            .core
                            .fail(Misbehavior::UndecryptableRecord { alert }.into()))
                    }
                },
                None => {
                    if body.len() > MAX_PLAINTEXT {
                        return Err(self.core.fail(Fatal::from(Misbehavior::RecordTooLong)));
                    }
                    0..body.len()
                }
            };
            let data = &body[plain.clone()];
            match self.process_record(header.content_type, data) {
                Ok(true) => {
                    let plaintext = start + plain.start..start + plain.end;
                    return Ok(Receipt {
                        consumed,
                        plaintext,
                    });
                }
                Ok(false) => {}
                Err(RecordOutcome::Fatal(f)) => return Err(self.core.fail(f)),
                Err(RecordOutcome::Received(a)) => return Err(self.core.fail_received(a)),
            }
        }
        Ok(Receipt {
            consumed,
            plaintext: 0..0,
        })
    }

    fn check_header(&self, header: &RecordHeader) -> Result<(), Fatal> {
        if matches!(header.content_type, ContentType::Unknown(_)) {
            return Err(Fatal::from(Misbehavior::UnknownContentType));
        }
        if header.version >> 8 != 3
            || (self.core.version_locked && header.version != ProtocolVersion::TLS12)
        {
            return Err(Fatal::from(Misbehavior::WrongRecordVersion));
        }
        if header.length as usize > MAX_CIPHERTEXT {
            return Err(Fatal::from(Misbehavior::RecordTooLong));
        }
        Ok(())
    }

    /// Returns `Ok(true)` for application data the caller must consume.
    fn process_record(
        &mut self,
        content_type: ContentType,
        data: &[u8],
    ) -> Result<bool, RecordOutcome> {
        if data.is_empty() {
            // RFC 5246 §6.2.1: only application data may be empty.
            if content_type != ContentType::ApplicationData {
                return Err(Fatal::from(Misbehavior::EmptyRecord).into());
            }
            self.core.empty_records += 1;
            if self.core.empty_records > MAX_EMPTY_RECORDS {
                return Err(Fatal::from(Misbehavior::TooManyEmptyRecords).into());
            }
        } else {
            self.core.empty_records = 0;
        }
        if content_type != ContentType::Alert {
            self.core.consecutive_warnings = 0;
        }
        match content_type {
            ContentType::Handshake => self
                .process_handshake(data)
                .map(|_| false)
                .map_err(Into::into),
            ContentType::ChangeCipherSpec => {
                // A ChangeCipherSpec record is one byte; any other length is a message that
                // has no business here (unexpected_message, as BoringSSL and OpenSSL say).
                if data.len() != 1 {
                    return Err(Fatal::from(Misbehavior::ChangeCipherSpecLength).into());
                }
                crate::codec::parse_change_cipher_spec(data).map_err(Fatal::from)?;
                if self.hs.flow().expect(H::ROLE) != Some(Msg::ChangeCipherSpec) {
                    return Err(Fatal::from(Misbehavior::UnexpectedChangeCipherSpec).into());
                }
                self.hs.receive(
                    &mut self.core,
                    Msg::ChangeCipherSpec,
                    Received::CHANGE_CIPHER_SPEC,
                )?;
                Ok(false)
            }
            ContentType::Alert => self.process_alert(data).map(|_| false),
            ContentType::ApplicationData => {
                if self.core.status != Status::Open || !self.core.hs_partial.is_empty() {
                    return Err(Fatal::from(Misbehavior::EarlyApplicationData).into());
                }
                Ok(!data.is_empty())
            }
            ContentType::Unknown(_) => Err(Fatal::from(Misbehavior::UnknownContentType).into()),
        }
    }

    fn process_alert(&mut self, data: &[u8]) -> Result<(), RecordOutcome> {
        let alert = Alert::parse(data).map_err(Fatal::from)?;
        if let (Some(m), true) = (&self.core.metrics, alert.level == AlertLevel::Warning) {
            m.alert_received(alert.description);
        }
        if alert.description == AlertDescription::CloseNotify {
            self.core.peer_closed = true;
            self.core.push_event(Event::PeerClosed);
            return Ok(());
        }
        if alert.level == AlertLevel::Warning {
            // RFC 5246 §7.2: a warning asks nothing of us; we go on, within a bound on how
            // many may come in a row.
            self.core.consecutive_warnings += 1;
            if self.core.consecutive_warnings > MAX_CONSECUTIVE_WARNINGS {
                return Err(Fatal::from(Misbehavior::TooManyWarnings).into());
            }
            self.core
                .push_event(Event::WarningReceived(alert.description));
            return Ok(());
        }
        Err(RecordOutcome::Received(alert.description))
    }

    /// Splits handshake records into messages (RFC 5246 §6.2.1: messages may span records and
    /// records may carry several messages). Whole messages are parsed where they lie; only a
    /// message split across records is copied aside.
    fn process_handshake(&mut self, data: &[u8]) -> Result<(), Fatal> {
        if self.core.hs_partial.is_empty() {
            let used = self.process_messages(data)?;
            if used < data.len() {
                self.core.hs_partial.extend_from_slice(&data[used..]);
            }
        } else {
            let mut buf = std::mem::take(&mut self.core.hs_partial);
            buf.extend_from_slice(data);
            let used = self.process_messages(&buf);
            let used = match used {
                Ok(u) => u,
                Err(f) => {
                    self.core.hs_partial = buf;
                    return Err(f);
                }
            };
            buf.drain(..used);
            if buf.is_empty() && buf.capacity() > RETAINED_PARTIAL_CAPACITY {
                // A large message came and went: give its memory back.
                buf = Vec::new();
            }
            self.core.hs_partial = buf;
        }
        Ok(())
    }

    /// Handles every whole message in `buf`, returning the bytes used.
    fn process_messages(&mut self, buf: &[u8]) -> Result<usize, Fatal> {
        let mut used = 0;
        while let Some(header) = HandshakeHeader::parse(&buf[used..]) {
            let len = header.length as usize;
            if len > self.core.max_handshake_len {
                return Err(Fatal::from(Misbehavior::MessageTooLarge));
            }
            let total = HANDSHAKE_HEADER_LEN + len;
            if buf.len() - used < total {
                break;
            }
            let raw = &buf[used..used + total];
            used += total;
            self.dispatch(header.typ, &raw[HANDSHAKE_HEADER_LEN..], raw)?;
        }
        // A partial header or body waits for more records, within the size cap.
        if buf.len() - used > HANDSHAKE_HEADER_LEN + self.core.max_handshake_len {
            return Err(Fatal::from(Misbehavior::MessageTooLarge));
        }
        Ok(used)
    }

    /// Checks one message against the flow, the single gate for handshake input.
    fn dispatch(&mut self, typ: HandshakeType, body: &[u8], raw: &[u8]) -> Result<(), Fatal> {
        if self.core.status == Status::Open {
            return self.post_handshake(typ);
        }
        if self.hs.is_suspended() {
            return Err(Fatal::from(Misbehavior::MessageWhileSuspended));
        }
        let expected = self.hs.flow().expect(H::ROLE);
        match flow_msg(typ) {
            Some(msg) if self.hs.flow_mut().admits(H::ROLE, msg) => {
                self.hs.receive(&mut self.core, msg, Received { body, raw })
            }
            msg => Err(Misbehavior::UnexpectedMessage {
                received: msg.map_or("an unknown handshake message", Msg::name),
                expected: expected.map_or("none", Msg::name),
            }
            .into()),
        }
    }

    /// After the handshake: renegotiation requests are refused with a warning and the
    /// connection goes on (RFC 5746 §4.2/§4.4); anything else is unexpected.
    fn post_handshake(&mut self, typ: HandshakeType) -> Result<(), Fatal> {
        let renegotiation = match H::ROLE {
            Role::Server => typ == HandshakeType::ClientHello,
            Role::Client => typ == HandshakeType::HelloRequest,
        };
        if !renegotiation {
            return Err(Fatal::from(Misbehavior::MessageAfterHandshake));
        }
        self.core.warnings += 1;
        if self.core.warnings > MAX_WARNINGS {
            return Err(Fatal::from(Misbehavior::TooManyRenegotiations));
        }
        self.core
            .send_alert(AlertLevel::Warning, AlertDescription::NoRenegotiation);
        self.core.push_event(Event::RenegotiationRefused);
        Ok(())
    }

    /// The next event, if any.
    pub fn next_event(&mut self) -> Option<Event> {
        self.core.events.pop_front()
    }

    /// Copies pending records into `out`, returning how many bytes were written.
    pub fn transmit(&mut self, out: &mut [u8]) -> usize {
        let pending = &self.core.out[self.core.out_start..];
        let n = pending.len().min(out.len());
        out[..n].copy_from_slice(&pending[..n]);
        self.consume_output(n);
        n
    }

    /// The records waiting to be sent, for callers that write straight from the engine's
    /// buffer; report what was sent with [`consume_output`](Self::consume_output).
    pub fn pending_output(&self) -> &[u8] {
        &self.core.out[self.core.out_start..]
    }

    /// Marks `n` bytes of [`pending_output`](Self::pending_output) as sent.
    pub fn consume_output(&mut self, n: usize) {
        self.core.out_start = (self.core.out_start + n).min(self.core.out.len());
        if self.core.out_start == self.core.out.len() {
            self.core.out.clear();
            self.core.out_start = 0;
        }
    }

    /// True when records are waiting to be sent.
    pub fn wants_transmit(&self) -> bool {
        self.core.out_start < self.core.out.len()
    }

    /// Encrypts application data into records (of up to 2^14 bytes each) queued for
    /// [`transmit`](Self::transmit); queues all of it, however much is already waiting (see
    /// [`send_some`](Self::send_some) for a bounded queue).
    pub fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        match &self.core.status {
            Status::Failed(e) => return Err(e.clone()),
            Status::Handshaking => return Err(Error::NotReady),
            Status::Open if self.core.we_closed => return Err(Error::Closed),
            Status::Open => {}
        }
        self.core
            .write_records(ContentType::ApplicationData, data)
            .map_err(|f| self.core.fail(f))
    }

    /// Encrypts as much of `data` as fits while at most the output limit
    /// ([`set_output_limit`](Self::set_output_limit), [`DEFAULT_OUTPUT_LIMIT`](crate::DEFAULT_OUTPUT_LIMIT) by default) of
    /// records wait in [`pending_output`](Self::pending_output); returns how many bytes of
    /// `data` it took — 0 when the queue is full: write [`pending_output`](Self::pending_output)
    /// to the socket and offer the rest again. Unlike [`send`](Self::send), which queues
    /// everything, memory stays bounded however slowly the peer reads.
    pub fn send_some(&mut self, data: &[u8]) -> Result<usize, Error> {
        let queued = self.core.out.len() - self.core.out_start;
        let tx = self.open_tx()?;
        let per_record = tx.sealed_len(MAX_PLAINTEXT) - MAX_PLAINTEXT;
        let room = self.core.output_limit.saturating_sub(queued);
        // Whole records only, at least the start of one whenever the queue is empty.
        let take = if room > per_record {
            let records = room / (MAX_PLAINTEXT + per_record);
            let tail = room % (MAX_PLAINTEXT + per_record);
            (records * MAX_PLAINTEXT + tail.saturating_sub(per_record)).min(data.len())
        } else if queued == 0 {
            data.len().min(MAX_PLAINTEXT)
        } else {
            0
        };
        if take > 0 {
            self.send(&data[..take])?;
        }
        Ok(take)
    }

    /// How many bytes of records [`send_some`](Self::send_some) lets wait to be sent.
    pub fn set_output_limit(&mut self, bytes: usize) {
        self.core.output_limit = bytes;
    }

    /// Seals one record of application data straight into `out` (one copy of `data`, no
    /// intermediate buffer): returns `(plaintext bytes taken, record bytes written)`. Takes at
    /// most 2^14 bytes and writes nothing if `out` cannot hold the record.
    pub fn seal_into(&mut self, data: &[u8], out: &mut [u8]) -> Result<(usize, usize), Error> {
        let tx = self.open_tx()?;
        let take = data.len().min(MAX_PLAINTEXT);
        let len = tx.sealed_len(take);
        if out.len() < len {
            return Ok((0, 0));
        }
        let offset = RECORD_HEADER_LEN + tx.aead().explicit_nonce_len();
        out[offset..offset + take].copy_from_slice(&data[..take]);
        self.seal_in_place(take, out).map(|n| (take, n))
    }

    /// Where the plaintext of a record starts for [`seal_in_place`](Self::seal_in_place):
    /// after the 5-byte header and the explicit nonce (8 bytes for AES-GCM, RFC 5288 §3; none
    /// for ChaCha20-Poly1305, RFC 7905 §2). 13 before the handshake's suite is known.
    pub fn record_payload_offset(&self) -> usize {
        let explicit = self
            .core
            .tx
            .as_ref()
            .map_or(8, |tx| tx.aead().explicit_nonce_len());
        RECORD_HEADER_LEN + explicit
    }

    /// Seals one application-data record in place, with no copy: the caller has written
    /// `len` (at most 2^14) bytes of plaintext at [`record_payload_offset`](Self::record_payload_offset)
    /// in `buf`; the engine writes the header and explicit nonce before it, encrypts it where
    /// it lies and puts the tag after it. Returns the record's length (plaintext + 29 bytes
    /// for AES-GCM), or 0 without touching `buf` when `buf` is shorter than that or `len`
    /// exceeds 2^14.
    pub fn seal_in_place(&mut self, len: usize, buf: &mut [u8]) -> Result<usize, Error> {
        let tx = self.open_tx()?;
        let total = tx.sealed_len(len);
        let Some(record) = buf.get_mut(..total).filter(|_| len <= MAX_PLAINTEXT) else {
            return Ok(0);
        };
        match tx.seal_in_place(ContentType::ApplicationData, record) {
            Ok(()) => Ok(total),
            Err(_) => Err(self.core.fail(InternalFailure::RecordSealing.into())),
        }
    }

    fn open_tx(&mut self) -> Result<&mut RecordCipher, Error> {
        if let Status::Failed(e) = &self.core.status {
            return Err(e.clone());
        }
        if self.core.status != Status::Open || self.core.we_closed {
            return Err(Error::NotReady);
        }
        self.core.tx.as_mut().ok_or(Error::NotReady)
    }

    /// Ends the connection and keeps its buffers (cleared, capacity intact) for the next one.
    pub fn into_buffers(self) -> Buffers {
        let mut core = self.core;
        core.forget_prf_key();
        let mut buffers = Buffers {
            flight: core.flight,
            out: core.out,
            hs_partial: core.hs_partial,
            events: core.events,
            prf: core.prf,
        };
        buffers.flight.clear();
        buffers.out.clear();
        buffers.hs_partial.clear();
        buffers.events.clear();
        buffers
    }

    /// Bytes held for a handshake message that has not fully arrived (by capacity).
    pub fn handshake_bytes_held(&self) -> usize {
        self.core.hs_partial.capacity()
    }

    /// Heap bytes the connection's own buffers hold (by capacity); the AEAD keys live inside
    /// the connection itself.
    pub fn buffer_capacity(&self) -> usize {
        let core = &self.core;
        heap_bytes(
            &core.flight,
            &core.out,
            &core.hs_partial,
            &core.events,
            &core.prf,
        )
    }

    /// Seals an arbitrary handshake message as a record under the current keys. Only for tests
    /// and fuzzing of peers (e.g. to send a renegotiation request); never needed otherwise.
    #[doc(hidden)]
    pub fn send_handshake_record_for_testing(&mut self, message: &[u8]) -> Result<(), Error> {
        self.core
            .write_records(ContentType::Handshake, message)
            .map_err(|f| self.core.fail(f))
    }

    /// Queues close_notify (RFC 5246 §7.2.1). Nothing more can be sent afterwards.
    pub fn close(&mut self) {
        if !self.core.we_closed && !matches!(self.core.status, Status::Failed(_)) {
            self.core.we_closed = true;
            self.core
                .send_alert(AlertLevel::Warning, AlertDescription::CloseNotify);
        }
    }

    /// True until the handshake has completed (or failed).
    pub fn is_handshaking(&self) -> bool {
        self.core.status == Status::Handshaking
    }

    /// True once the handshake completed and the connection has not failed.
    pub fn is_open(&self) -> bool {
        self.core.status == Status::Open
    }

    /// True when the peer sent close_notify.
    pub fn peer_closed(&self) -> bool {
        self.core.peer_closed
    }

    /// The error that killed the connection, if any.
    pub fn error(&self) -> Option<&Error> {
        match &self.core.status {
            Status::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Which end of the connection this is.
    pub fn role(&self) -> Role {
        H::ROLE
    }
}

enum RecordOutcome {
    Fatal(Fatal),
    Received(AlertDescription),
}

impl From<Fatal> for RecordOutcome {
    fn from(f: Fatal) -> Self {
        RecordOutcome::Fatal(f)
    }
}
