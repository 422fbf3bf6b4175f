//! A per-worker pool of read buffers. A connection holds a buffer only while it has bytes
//! that are not yet a whole record (or records held back during a suspended lookup), so
//! thousands of idle connections cost no buffer memory.

/// Free buffers of one fixed size, reused instead of reallocated.
pub(crate) struct BufferPool {
    free: Vec<Vec<u8>>,
    size: usize,
    keep: usize,
}

impl BufferPool {
    /// A pool of `size`-byte buffers that keeps at most `keep` free ones.
    pub(crate) fn new(size: usize, keep: usize) -> Self {
        Self {
            free: Vec::new(),
            size,
            keep,
        }
    }

    /// A zero-length-independent buffer of `size` bytes (contents unspecified).
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| vec![0; self.size])
    }

    /// Returns a buffer for reuse; dropped when the pool is full.
    pub(crate) fn give(&mut self, buf: Vec<u8>) {
        if self.free.len() < self.keep && buf.len() == self.size {
            self.free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_and_bounds() {
        let mut pool = BufferPool::new(64, 1);
        let a = pool.take();
        let b = pool.take();
        assert_eq!(a.len(), 64);
        let ptr = a.as_ptr();
        pool.give(a);
        pool.give(b);
        assert_eq!(pool.free.len(), 1);
        let again = pool.take();
        assert_eq!(again.as_ptr(), ptr);
        pool.give(vec![0; 3]);
        assert!(pool.free.is_empty());
    }
}
