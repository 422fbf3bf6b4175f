//! Buffers a worker reuses instead of reallocating: read buffers, held by a connection only
//! while it has bytes that are not yet a whole record (so thousands of idle connections cost
//! no buffer memory), and the engine's own buffers of finished connections
//! ([`reprise::Buffers`]), so that after warm-up a resumed handshake allocates nothing in
//! the engine.

use std::sync::Arc;

use reprise::{Buffers, ServerConfig, ServerConnection};

use crate::MAX_RECYCLED_TLS_BUFFERS;

/// A worker's free buffers.
pub struct Recycler {
    free_reads: Vec<Vec<u8>>,
    read_size: usize,
    free_engines: Vec<Buffers>,
    keep: usize,
}

impl Recycler {
    /// Read buffers of `read_size` bytes; at most `keep` free ones of each kind are kept.
    pub fn new(read_size: usize, keep: usize) -> Self {
        Self {
            free_reads: Vec::new(),
            read_size,
            free_engines: Vec::new(),
            keep,
        }
    }

    /// A read buffer of the pool's size (contents unspecified).
    pub fn take_read(&mut self) -> Vec<u8> {
        self.free_reads
            .pop()
            .unwrap_or_else(|| vec![0; self.read_size])
    }

    /// Returns a read buffer for reuse; dropped when the pool is full or the size is not the
    /// pool's.
    pub fn give_read(&mut self, buf: Vec<u8>) {
        if self.free_reads.len() < self.keep && buf.len() == self.read_size {
            self.free_reads.push(buf);
        }
    }

    /// A new server connection on `config`, on the buffers of a finished one when there is
    /// one.
    pub fn new_connection(&mut self, config: &Arc<ServerConfig>) -> ServerConnection {
        ServerConnection::with_buffers(config.clone(), self.free_engines.pop().unwrap_or_default())
    }

    /// Keeps a finished connection's engine buffers for the next connection, unless they grew
    /// large (a connection that sent or received big records) or the pool is full.
    pub fn recycle(&mut self, tls: ServerConnection) {
        let buffers = tls.into_buffers();
        if self.free_engines.len() < self.keep
            && buffers.capacity_bytes() <= MAX_RECYCLED_TLS_BUFFERS
        {
            self.free_engines.push(buffers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffers_are_reused_and_bounded() {
        let mut pool = Recycler::new(64, 1);
        let a = pool.take_read();
        let b = pool.take_read();
        assert_eq!(a.len(), 64);
        let ptr = a.as_ptr();
        pool.give_read(a);
        pool.give_read(b);
        assert_eq!(pool.free_reads.len(), 1);
        let again = pool.take_read();
        assert_eq!(again.as_ptr(), ptr);
        pool.give_read(vec![0; 3]);
        assert!(pool.free_reads.is_empty());
    }
}
