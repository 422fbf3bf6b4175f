//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19): a ring of buffer
//! descriptors shared with the kernel, from which multishot receives pick a buffer for each
//! completion.
//!
//! Ownership of buffer `bid` alternates: it belongs to the kernel from the moment its
//! descriptor is published (the ring's tail moves past it) until a completion names it (the
//! `IORING_CQE_F_BUFFER` flag and buffer id); then it belongs to the driver until the driver
//! publishes it again with [`BufRing::recycle`] + [`BufRing::publish`]. The driver reads and
//! decrypts in place only buffers a completion handed to it.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::Submitter;

/// The ring's memory must be page-aligned (io_uring_register_buf_ring(3)).
const PAGE: usize = 4096;

/// A provided-buffer ring and the buffers it lends.
pub struct BufRing {
    /// `entries` descriptors; the tail lives in the first descriptor's reserved field.
    ring: NonNull<BufRingEntry>,
    ring_layout: Layout,
    /// `entries * size` bytes: buffer `bid` is `data[bid * size..][..size]`.
    data: NonNull<u8>,
    data_layout: Layout,
    entries: u16,
    size: usize,
    /// Our copy of the tail: descriptors before it are (or will be, once published) the
    /// kernel's.
    tail: u16,
    /// The group id once registered.
    bgid: Option<u16>,
}

// SAFETY: the ring owns its allocations outright (raw pointers only because the kernel shares
// them); moving it to another thread moves that ownership, and nothing in it is tied to the
// creating thread.
unsafe impl Send for BufRing {}

impl BufRing {
    /// `entries` (a power of two, at most 32768) buffers of `size` bytes, all handed to the
    /// kernel once registered.
    pub fn new(entries: u16, size: usize) -> io::Result<BufRing> {
        if !entries.is_power_of_two() || entries > 32768 || size == 0 || size > u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer ring: entries must be a power of two up to 32768",
            ));
        }
        let ring_bytes = (usize::from(entries) * std::mem::size_of::<BufRingEntry>()).max(PAGE);
        let ring_layout = Layout::from_size_align(ring_bytes, PAGE).map_err(io::Error::other)?;
        let data_layout =
            Layout::from_size_align(usize::from(entries) * size, 64).map_err(io::Error::other)?;
        // SAFETY: both layouts have a non-zero size (checked above).
        let ring = NonNull::new(unsafe { alloc_zeroed(ring_layout) }.cast::<BufRingEntry>());
        // SAFETY: as above.
        let data = NonNull::new(unsafe { alloc_zeroed(data_layout) });
        let (Some(ring), Some(data)) = (ring, data) else {
            return Err(io::ErrorKind::OutOfMemory.into());
        };
        let mut bufs = BufRing {
            ring,
            ring_layout,
            data,
            data_layout,
            entries,
            size,
            tail: 0,
            bgid: None,
        };
        for bid in 0..entries {
            bufs.recycle(bid);
        }
        Ok(bufs)
    }

    /// Registers the ring with the kernel as buffer group `bgid` and publishes every buffer.
    pub fn register(&mut self, submitter: &Submitter<'_>, bgid: u16) -> io::Result<()> {
        // SAFETY: the descriptor array is page-aligned, `entries` long, and lives until this
        // BufRing is dropped; the owner of a registered BufRing drops it only after the ring
        // it was registered with is quiet (no operation in flight that could pick a buffer)
        // or leaks it (see `server::Worker::quiesce`).
        unsafe {
            submitter.register_buf_ring_with_flags(
                self.ring.as_ptr() as u64,
                self.entries,
                bgid,
                0,
            )?;
        }
        self.bgid = Some(bgid);
        self.publish();
        Ok(())
    }

    /// Unregisters the ring (the kernel takes no more buffers from it).
    pub fn unregister(&mut self, submitter: &Submitter<'_>) {
        if let Some(bgid) = self.bgid.take() {
            let _ = submitter.unregister_buf_ring(bgid);
        }
    }

    /// Queues buffer `bid` to be handed back to the kernel at the next [`publish`](Self::publish).
    /// The caller must own `bid` (a completion gave it, and it was not recycled since).
    pub fn recycle(&mut self, bid: u16) {
        let mask = self.entries - 1;
        let index = usize::from(self.tail & mask);
        // SAFETY: `index < entries`, inside the descriptor array. The kernel reads descriptors
        // only between its head and the published tail; `self.tail` is at or past the
        // published tail, so this descriptor is not one the kernel may read now (at most
        // `entries` buffers exist, so the slot was consumed already).
        let entry = unsafe { &mut *self.ring.as_ptr().add(index) };
        // SAFETY: `bid < entries`, so the offset is inside the data allocation.
        let addr = unsafe { self.data.as_ptr().add(usize::from(bid) * self.size) };
        entry.set_addr(addr as u64);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the recycled buffers visible to the kernel (one release store of the tail).
    pub fn publish(&mut self) {
        // SAFETY: the ring base is the first descriptor of the (initialised, zeroed) array, so
        // `tail` points at its reserved 16-bit field, which the kernel reads as the tail; the
        // kernel only reads it, and reads it atomically, so an atomic store is the right access.
        let tail =
            unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.ring.as_ptr()) as *mut u16) };
        tail.store(self.tail, Ordering::Release);
    }

    /// The first `len` bytes of buffer `bid`, which a completion handed to the driver.
    pub fn get_mut(&mut self, bid: u16, len: usize) -> &mut [u8] {
        let bid = usize::from(bid).min(usize::from(self.entries) - 1);
        let len = len.min(self.size);
        // SAFETY: in bounds (clamped above). The buffer is the driver's: a completion named it
        // and it has not been recycled, so the kernel does not write to it; the `&mut self`
        // borrow keeps the slice from outliving the next recycle.
        unsafe { std::slice::from_raw_parts_mut(self.data.as_ptr().add(bid * self.size), len) }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both pointers came from `alloc_zeroed` with these layouts. The owner drops a
        // registered ring only once the kernel can no longer use it (see `register`).
        unsafe {
            dealloc(self.ring.as_ptr().cast(), self.ring_layout);
            dealloc(self.data.as_ptr(), self.data_layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_sizes() {
        assert!(BufRing::new(3, 64).is_err());
        assert!(BufRing::new(4, 0).is_err());
    }

    #[test]
    fn buffers_are_disjoint() {
        let mut r = BufRing::new(4, 16).unwrap();
        r.get_mut(1, 16).fill(1);
        r.get_mut(2, 16).fill(2);
        assert!(r.get_mut(1, 16).iter().all(|&b| b == 1));
        assert_eq!(r.get_mut(3, 100).len(), 16);
        assert_eq!(r.tail, 4);
    }
}
