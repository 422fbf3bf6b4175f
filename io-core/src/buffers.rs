//! The engine buffers of finished connections ([`reprise::Buffers`]), reused by the next
//! ones so that after warm-up a resumed handshake allocates nothing in the engine. (Bytes of
//! unfinished records are each connection's own, sized to what arrived: a connection holds no
//! read buffer the rest of the time.)

use std::sync::Arc;

use reprise::{Buffers, ServerConfig, ServerConnection};

use crate::MAX_RECYCLED_TLS_BUFFERS;

/// A worker's free engine buffers.
pub struct Recycler {
    free_engines: Vec<Buffers>,
    keep: usize,
}

impl Recycler {
    /// Keeps at most `keep` free sets.
    pub fn new(keep: usize) -> Self {
        Self {
            free_engines: Vec::new(),
            keep,
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

/// How far ahead of the bytes that arrived [`hold`] grows a buffer.
pub const HELD_SLACK: usize = 512;

/// Appends `data` to the bytes of an unfinished record, growing the buffer to what arrived
/// plus at most [`HELD_SLACK`] (never past the length the record's header declares) rather
/// than by doubling: a connection holds about the bytes it was sent, whatever length its
/// records claim, and a record trickled a byte at a time is not copied at every byte.
pub fn hold(held: &mut Vec<u8>, data: &[u8]) {
    let want = held.len() + data.len();
    if want > held.capacity() {
        // The record's length, once its 5-byte header is here (RFC 5246 §6.2.1).
        let mut header = held.iter().chain(data).skip(3);
        let record = match (header.next(), header.next()) {
            (Some(&hi), Some(&lo)) => 5 + usize::from(u16::from_be_bytes([hi, lo])),
            _ => want,
        };
        let grown = (held.capacity() + HELD_SLACK).min(record.max(want));
        held.reserve_exact(want.max(grown) - held.len());
    }
    held.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::hold;

    #[test]
    fn a_held_record_grows_to_its_length_not_to_a_power_of_two() {
        let mut header = vec![22, 3, 3];
        header.extend_from_slice(&8197u16.to_be_bytes());
        let mut held = Vec::new();
        hold(&mut held, &header);
        hold(&mut held, &[0; 4091]);
        hold(&mut held, &[0; 4096]);
        hold(&mut held, &[0; 5]);
        assert_eq!(held.len(), 5 + 8192);
        assert!(
            held.capacity() <= 5 + 8192 + super::HELD_SLACK,
            "{}",
            held.capacity()
        );
        // A record that claims much more than arrived is not reserved for.
        let mut held = Vec::new();
        hold(&mut held, &[22, 3, 3, 0x40, 0x00, 1]);
        assert!(
            held.capacity() <= 6 + super::HELD_SLACK,
            "{}",
            held.capacity()
        );
        // Without a header yet: what arrived (and the slack at most).
        let mut held = Vec::new();
        hold(&mut held, &[22, 3]);
        assert!(held.capacity() <= 2 + super::HELD_SLACK);
    }
}
