//! `reprise-tls-serve`: the serving core every Reprise driver shares.
//!
//! The engine (`reprise`) decides the protocol; this crate decides everything else about a
//! served connection that is not a system call, so that the drivers (`reprise-tls-mio`,
//! `reprise-tls-uring`, `reprise-tls-threads`) only move bytes, own sockets and buffers,
//! and keep timers:
//!
//! * [`served`]: a served connection — engine connection and application side — and its
//!   whole lifecycle as one sans-IO state machine: events in, actions out.
//! * [`app`]: the application side of a connection, a byte-stream endpoint, and
//!   [`upstream`]: the second socket an application may open (a backend), whose bytes every
//!   driver moves without knowing what they are.
//!   The applications the CLI runs on them — the page responder, the backend stream and its
//!   PROXY protocol header — are the crate `reprise-tls-apps`; the core depends on none.
//! * [`suspend`]: answering the engine's suspensions (session lookups, offloaded signatures)
//!   off the event loop.
//! * [`options`], [`workers`], [`listen`]: a server's tuning, its worker threads' shared
//!   state and graceful shutdown, and its listening sockets.
//! * [`units`]: the one parser of durations and sizes the command lines use.
//! * [`failure_log`]: one rate-limited line per failed handshake; [`counters`]: backend
//!   failures by reason, slow clients, connections a graceful shutdown cut off.
//! * [`driver`]: what every driver's server offers (the test suite every driver runs is the
//!   dev-only crate `reprise-tls-driver-suite`; the load generator's driver-independent half
//!   is `reprise-tls-load`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access_log;
pub mod app;
pub mod buffers;
pub mod counters;
pub mod driver;
pub mod failure_log;
pub mod listen;
pub mod live;
pub mod options;
pub mod prometheus;
pub mod served;
pub mod suspend;
pub mod units;
pub mod upstream;
pub mod workers;

pub use driver::{Driver, Running};
pub use options::{ListenerMode, ServerOptions};
pub use workers::{ShutdownHandle, WakeWorker, Workers};

/// Size of a read buffer: one whole TLS record of the largest size a peer may send
/// (RFC 5246 §6.2.3: 5-byte header + 2^14 + 2048), rounded up.
pub const READ_BUFFER_SIZE: usize = 5 + (1 << 14) + 2048 + 256;

/// Engine buffers larger than this (a connection that sent or received big records) are
/// freed rather than kept for the next connection.
pub const MAX_RECYCLED_TLS_BUFFERS: usize = 64 * 1024;
