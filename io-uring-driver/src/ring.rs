//! A thin layer over one `io_uring` instance: building it with the cheapest setup the kernel
//! offers, queueing submissions (submitting early only when the queue is full), one
//! `io_uring_enter` per loop turn that submits everything and waits with a timeout, and
//! tagging of operations in `user_data`.

use std::io;
use std::time::Duration;

use io_uring::{cqueue, squeue, types, IoUring};

/// What an operation was, kept in the top byte of its `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// Multishot accept on a listener.
    Accept = 1,
    /// Multishot receive on a connection.
    Recv = 2,
    /// A send from a connection's send buffer.
    Send = 3,
    /// Multishot poll of the worker's wake-up eventfd.
    Wake = 4,
    /// Connect (load generator).
    Connect = 5,
    /// Operations whose result is not needed (cancel, close).
    Other = 6,
    /// Cancels and closes pushed with `Ring::push_quiet`: no completion unless they fail,
    /// and not counted in [`Ring::in_flight`].
    Quiet = 7,
    /// A direct descriptor installed as a plain one, to ask for a failed connection's peer
    /// address (the failure log).
    PeerName = 8,
    /// An upstream's connect.
    UpstreamConnect = 9,
    /// A receive from an upstream's socket.
    UpstreamRecv = 10,
    /// A send to an upstream's socket.
    UpstreamSend = 11,
    /// A direct descriptor installed as a plain one to shut a connection's write side after
    /// its fatal alert, asking for the peer's address first (while it is still connected).
    ShutWrite = 12,
}

/// `user_data` of an operation: kind, generation of the slot, slot key.
pub fn tag(op: Op, generation: u32, key: usize) -> u64 {
    (u64::from(op as u8) << 56)
        | (u64::from(generation & 0xff_ffff) << 32)
        | (key as u64 & 0xffff_ffff)
}

/// The parts of a `user_data` made by [`tag`].
pub fn untag(user_data: u64) -> (Option<Op>, u32, usize) {
    let op = match (user_data >> 56) as u8 {
        1 => Some(Op::Accept),
        2 => Some(Op::Recv),
        3 => Some(Op::Send),
        4 => Some(Op::Wake),
        5 => Some(Op::Connect),
        6 => Some(Op::Other),
        7 => Some(Op::Quiet),
        8 => Some(Op::PeerName),
        9 => Some(Op::UpstreamConnect),
        10 => Some(Op::UpstreamRecv),
        11 => Some(Op::UpstreamSend),
        12 => Some(Op::ShutWrite),
        _ => None,
    };
    (
        op,
        ((user_data >> 32) & 0xff_ffff) as u32,
        (user_data & 0xffff_ffff) as usize,
    )
}

/// One completion, copied out of the completion queue.
#[derive(Clone, Copy, Debug)]
pub struct Completion {
    /// The operation's `user_data`.
    pub user_data: u64,
    /// Its result (negative errno on failure).
    pub result: i32,
    /// Its flags (`IORING_CQE_F_*`).
    pub flags: u32,
}

impl Completion {
    /// True when a multishot operation stays armed after this completion.
    pub fn more(&self) -> bool {
        cqueue::more(self.flags)
    }

    /// The provided buffer this completion filled, if any.
    pub fn buffer(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
}

/// A loop turn that handled at least this many completions marks the loop busy, so it lets
/// the next batch gather ([`Ring::let_batch_gather`]).
pub const BUSY_TURN: usize = 4;

/// A ring owned by one thread.
pub struct Ring {
    ring: IoUring,
    /// Operations submitted whose last completion has not been seen.
    in_flight: usize,
}

impl Ring {
    /// A ring with `entries` submission slots and a completion queue `cq_factor` times larger
    /// (multishot operations post many completions per submission). It must be used only by
    /// the thread that creates it: it asks for `SINGLE_ISSUER` and `DEFER_TASKRUN` (6.1), so
    /// completions are produced only while this thread waits, and falls back to
    /// `COOP_TASKRUN` or a plain ring on older kernels.
    pub fn new(entries: u32, cq_factor: u32) -> io::Result<Ring> {
        let cq = entries.saturating_mul(cq_factor.max(2));
        let ring = IoUring::builder()
            .setup_cqsize(cq)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(entries)
            .or_else(|_| {
                IoUring::builder()
                    .setup_cqsize(cq)
                    .setup_coop_taskrun()
                    .build(entries)
            })
            .or_else(|_| IoUring::builder().setup_cqsize(cq).build(entries))
            .map_err(|e| io::Error::from(crate::probe::classify(e)))?;
        Ok(Ring { ring, in_flight: 0 })
    }

    /// The submitter, e.g. to register a buffer ring.
    pub fn submitter(&self) -> io_uring::Submitter<'_> {
        self.ring.submitter()
    }

    /// Operations whose last completion has not been seen yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Queues `entry` for the next [`enter`](Self::enter) (submitting at once if the queue is
    /// full).
    ///
    /// # Safety
    ///
    /// Every buffer, address or timespec `entry` points at must stay valid (and, for buffers
    /// the kernel writes, unaliased) until the operation's last completion is reaped. Each
    /// caller states why.
    pub unsafe fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: forwarded to our caller (see this function's contract).
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                self.in_flight += 1;
                return Ok(());
            }
            match self.ring.submit() {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    // The completion queue is full: the caller reaps and we retry after.
                    return Err(e);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Pushes an operation that points at no memory of ours (cancel by `user_data` or by
    /// descriptor, close).
    pub(crate) fn push_plain(&mut self, entry: squeue::Entry) -> io::Result<()> {
        // SAFETY: only called with operations that carry no pointer: cancel and close
        // reference a user_data value or a descriptor number, a poll or an accept references a
        // descriptor, and a receive with buffer selection takes its buffer from a registered
        // ring whose owner keeps it alive while operations are in flight.
        unsafe { self.push(&entry) }
    }

    /// Pushes a cancel or a close (an operation that points at no memory of ours) whose
    /// success needs no answer: it is flagged `IOSQE_CQE_SKIP_SUCCESS` (5.17), so it posts a
    /// completion only on failure, tagged [`Op::Quiet`]. It is not counted in
    /// [`in_flight`](Self::in_flight): nothing waits for it, as it lends the kernel no memory.
    pub(crate) fn push_quiet(&mut self, entry: squeue::Entry) -> io::Result<()> {
        let entry = entry
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(tag(Op::Quiet, 0, 0));
        // SAFETY: as in `push_plain`: cancels and closes carry no pointer.
        unsafe { self.push(&entry) }?;
        self.in_flight -= 1;
        Ok(())
    }

    /// Submits everything queued without waiting (e.g. before the thread sleeps to let a
    /// batch of completions gather).
    pub fn submit_now(&mut self) -> io::Result<()> {
        self.ring.submit().map(drop).or_else(ignore_transient)
    }

    /// Batching under load (`ServerOptions::batch_wait`): when the last turn handled at least
    /// [`BUSY_TURN`] completions, submits what is queued (sends are not held back) and sleeps
    /// `batch_wait`, so completions gather for the next [`enter`](Self::enter) to serve in
    /// one wake-up. An idle loop (or a zero `batch_wait`, or one not shorter than the coming
    /// `wait`) goes straight to its wait, so a lone client sees no added latency.
    pub fn let_batch_gather(
        &mut self,
        last_turn: usize,
        batch_wait: Duration,
        wait: Duration,
    ) -> io::Result<()> {
        if last_turn >= BUSY_TURN && !batch_wait.is_zero() && batch_wait < wait {
            self.submit_now()?;
            std::thread::sleep(batch_wait);
        }
        Ok(())
    }

    /// Submits everything queued and waits until at least one completion is there or
    /// `timeout` passes.
    pub fn enter(&mut self, timeout: Duration) -> io::Result<()> {
        if !self.ring.completion().is_empty() {
            return self.submit_now();
        }
        let ts = types::Timespec::new()
            .sec(timeout.as_secs())
            .nsec(timeout.subsec_nanos());
        let args = types::SubmitArgs::new().timespec(&ts);
        self.ring
            .submitter()
            .submit_with_args(1, &args)
            .map(drop)
            .or_else(ignore_transient)
    }

    /// Copies out every completion available now (appending to `into`), and counts the
    /// operations they end.
    pub fn reap(&mut self, into: &mut Vec<Completion>) {
        let mut cq = self.ring.completion();
        cq.sync();
        for cqe in &mut cq {
            let c = Completion {
                user_data: cqe.user_data(),
                result: cqe.result(),
                flags: cqe.flags(),
            };
            // A multishot operation ends with its first completion without the MORE flag; quiet
            // operations were never counted.
            if !c.more() && (c.user_data >> 56) as u8 != Op::Quiet as u8 {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            into.push(c);
        }
    }
}

/// Errors of a wait that only mean "nothing to do yet".
fn ignore_transient(e: io::Error) -> io::Result<()> {
    match e.raw_os_error() {
        Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN) => Ok(()),
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        let t = tag(Op::Send, 0x12_3456, 0xdead_beef);
        assert_eq!(untag(t), (Some(Op::Send), 0x12_3456, 0xdead_beef));
        assert_eq!(untag(0).0, None);
        // Generations wrap within 24 bits.
        assert_eq!(untag(tag(Op::Recv, 0x1ff_ffff, 1)).1, 0xff_ffff);
    }
}
