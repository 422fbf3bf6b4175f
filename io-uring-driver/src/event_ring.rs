//! A ring and its provided receive buffers behind operations that cannot lend the kernel
//! memory it might outlive: the building block for code outside this crate that wants this
//! driver's operations (the bare-TCP floor of the loopback benchmark, in `reprise-tls-benches`).
//!
//! Every operation names a descriptor, a file-table slot, a `user_data` value or `'static`
//! memory (a descriptor closed while an operation on it is in flight is the kernel's to keep
//! open until the operation completes); receives take their buffer from the ring's provided buffers, which this type owns
//! and frees only once the kernel has completed every operation (or never, if it has not).

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use io_uring::{opcode, squeue, types};

use crate::bufring::BufRing;
use crate::ring::{Completion, Ring};
use crate::server::{BUFFER_GROUP, POLL_FIRST};

/// A ring with a provided-buffer ring and a registered file table.
pub struct EventRing {
    ring: ManuallyDrop<Ring>,
    bufs: ManuallyDrop<BufRing>,
}

impl EventRing {
    /// A ring of `entries` submissions (completion queue `cq_factor` times larger),
    /// `buffers` provided receive buffers of `buffer_size` bytes, and a sparse file table of
    /// `files` slots for direct descriptors.
    pub fn new(
        entries: u32,
        cq_factor: u32,
        buffers: u16,
        buffer_size: usize,
        files: u32,
    ) -> io::Result<Self> {
        crate::probe()?;
        let ring = Ring::new(entries, cq_factor)?;
        let mut bufs = BufRing::new(buffers, buffer_size)?;
        bufs.register(&ring.submitter(), BUFFER_GROUP)?;
        ring.submitter().register_files_sparse(files)?;
        Ok(Self {
            ring: ManuallyDrop::new(ring),
            bufs: ManuallyDrop::new(bufs),
        })
    }

    /// A one-shot poll for `fd` becoming readable.
    pub fn poll_readable(&mut self, fd: &impl AsFd, user_data: u64) -> io::Result<()> {
        let fd = fd.as_fd().as_raw_fd();
        self.ring.push_plain(
            opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
                .build()
                .user_data(user_data),
        )
    }

    /// A multishot accept on `listener` into free slots of the file table.
    pub fn accept_multi(&mut self, listener: &impl AsFd, user_data: u64) -> io::Result<()> {
        let fd = listener.as_fd().as_raw_fd();
        // Multishot accept passes no address buffer.
        self.ring.push_plain(
            opcode::AcceptMulti::new(types::Fd(fd))
                .allocate_file_index(true)
                .build()
                .user_data(user_data),
        )
    }

    /// A single-shot receive on the socket in `slot` into a provided buffer (reported in
    /// the completion; give it back with [`recycle`](Self::recycle)), waiting for readiness
    /// first when `poll_first`.
    pub fn recv(&mut self, slot: u32, poll_first: bool, user_data: u64) -> io::Result<()> {
        self.ring.push_plain(
            opcode::Recv::new(types::Fixed(slot), std::ptr::null_mut(), 0)
                .buf_group(BUFFER_GROUP)
                .ioprio(if poll_first { POLL_FIRST } else { 0 })
                .build()
                .flags(squeue::Flags::BUFFER_SELECT)
                .user_data(user_data),
        )
    }

    /// A send of `data` on the socket in `slot`.
    pub fn send_static(
        &mut self,
        slot: u32,
        data: &'static [u8],
        user_data: u64,
    ) -> io::Result<()> {
        let entry = opcode::Send::new(types::Fixed(slot), data.as_ptr(), data.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data);
        // SAFETY: `data` lives for the rest of the program, and the kernel only reads it.
        unsafe { self.ring.push(&entry) }
    }

    /// A connect of the plain socket `fd` to `addr`, as the server connects an upstream.
    pub fn connect(
        &mut self,
        fd: &impl AsFd,
        addr: &'static socket2::SockAddr,
        user_data: u64,
    ) -> io::Result<()> {
        let entry = opcode::Connect::new(
            types::Fd(fd.as_fd().as_raw_fd()),
            addr.as_ptr().cast(),
            addr.len(),
        )
        .build()
        .user_data(user_data);
        // SAFETY: `addr` lives for the rest of the program, and the kernel only reads it.
        unsafe { self.ring.push(&entry) }
    }

    /// A single-shot receive on the plain socket `fd` into a provided buffer, as
    /// [`recv`](Self::recv) does on a slot (the server's receive from an upstream).
    pub fn recv_fd(&mut self, fd: &impl AsFd, poll_first: bool, user_data: u64) -> io::Result<()> {
        self.ring.push_plain(
            opcode::Recv::new(types::Fd(fd.as_fd().as_raw_fd()), std::ptr::null_mut(), 0)
                .buf_group(BUFFER_GROUP)
                .ioprio(if poll_first { POLL_FIRST } else { 0 })
                .build()
                .flags(squeue::Flags::BUFFER_SELECT)
                .user_data(user_data),
        )
    }

    /// A send of `data` on the plain socket `fd` (the server's send to an upstream).
    pub fn send_static_fd(
        &mut self,
        fd: &impl AsFd,
        data: &'static [u8],
        user_data: u64,
    ) -> io::Result<()> {
        let entry = opcode::Send::new(
            types::Fd(fd.as_fd().as_raw_fd()),
            data.as_ptr(),
            data.len() as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data);
        // SAFETY: `data` lives for the rest of the program, and the kernel only reads it.
        unsafe { self.ring.push(&entry) }
    }

    /// Cancels the operations tagged `user_data` (no completion unless the cancel fails).
    pub fn cancel(&mut self, user_data: u64) -> io::Result<()> {
        self.ring
            .push_quiet(opcode::AsyncCancel::new(user_data).build())
    }

    /// Closes the socket in `slot` (no completion unless the close fails).
    pub fn close(&mut self, slot: u32) -> io::Result<()> {
        self.ring
            .push_quiet(opcode::Close::new(types::Fixed(slot)).build())
    }

    /// See [`Ring::let_batch_gather`].
    pub fn let_batch_gather(
        &mut self,
        last_turn: usize,
        batch_wait: Duration,
        wait: Duration,
    ) -> io::Result<()> {
        self.ring.let_batch_gather(last_turn, batch_wait, wait)
    }

    /// Submits what is queued and waits up to `timeout` for a completion.
    pub fn enter(&mut self, timeout: Duration) -> io::Result<()> {
        self.ring.enter(timeout)
    }

    /// Copies out the completions there are.
    pub fn reap(&mut self, into: &mut Vec<Completion>) {
        self.ring.reap(into);
    }

    /// Operations whose last completion has not come.
    pub fn in_flight(&self) -> usize {
        self.ring.in_flight()
    }

    /// Gives a provided buffer back (published with [`publish`](Self::publish)).
    pub fn recycle(&mut self, bid: u16) {
        self.bufs.recycle(bid);
    }

    /// Hands the recycled buffers back to the kernel.
    pub fn publish(&mut self) {
        self.bufs.publish();
    }
}

impl Drop for EventRing {
    fn drop(&mut self) {
        let idle = self.ring.in_flight() == 0;
        if idle {
            self.bufs.unregister(&self.ring.submitter());
        }
        // SAFETY: each field is dropped once, here, and not used after: the ring first, so
        // nothing is submitted any more; the buffers only if the kernel has completed every
        // operation (else they are leaked: the kernel may still write them).
        unsafe {
            ManuallyDrop::drop(&mut self.ring);
            if idle {
                ManuallyDrop::drop(&mut self.bufs);
            }
        }
    }
}
