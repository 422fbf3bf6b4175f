//! `reprise-mio`: a readiness-based (mio/epoll) driver for Reprise TLS 1.2 connections.
//!
//! Two halves share the crate:
//!
//! * [`server`]: a multi-core TLS server. One event loop per worker thread, each with its own
//!   `SO_REUSEPORT` listener (or one shared listener), a slab of connections, pooled read
//!   buffers, non-blocking reads and writes with backpressure, handshake and idle timeouts, a
//!   connection limit, suspended session lookups answered without blocking the loop, and a
//!   graceful shutdown. It is generic over a [`reprise::app::HandlerFactory`]: the
//!   application sees plaintext only. Failed handshakes are logged, rate-limited, through a
//!   [`failure_log::FailureLog`] (shared with the io_uring driver).
//! * [`load`]: a TLS 1.2 load generator that keeps N client connections busy doing
//!   handshakes (optionally resuming by session ID or ticket, optionally sending a GET),
//!   against any TLS 1.2 server; [`exchange`] is its driver-independent half, which the
//!   io_uring load generator shares.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod exchange;
pub mod failure_log;
pub mod histogram;
pub mod load;
mod pool;
pub mod server;

pub use load::{LoadOptions, LoadReport, Stop};
pub use server::{ListenerMode, Server, ServerOptions, ShutdownHandle};

/// Seconds since the Unix epoch, the clock the engine is fed with.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Size of a read buffer: one whole TLS record of the largest size a peer may send
/// (RFC 5246 §6.2.3: 5-byte header + 2^14 + 2048), rounded up.
pub const READ_BUFFER_SIZE: usize = 5 + (1 << 14) + 2048 + 256;
