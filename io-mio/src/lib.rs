//! `reprise-tls-mio`: a readiness-based (mio/epoll) driver for Reprise TLS 1.2 connections.
//!
//! Two halves share the crate:
//!
//! * [`server`]: a multi-core TLS server. One event loop per worker thread, each with its own
//!   `SO_REUSEPORT` listener (or one shared listener), a slab of connections, pooled read
//!   buffers, non-blocking reads and writes with backpressure, handshake and idle timeouts, a
//!   connection limit, suspended session lookups answered without blocking the loop, and a
//!   graceful shutdown. It is generic over a [`reprise_serve::app::HandlerFactory`]: the
//!   application sees plaintext only. What is not a system call — the records' handling,
//!   suspensions, workers, shutdown, the failure log — is the serving core's
//!   ([`reprise_serve`]), shared with the io_uring driver.
//! * [`load`]: a TLS 1.2 load generator that keeps N client connections busy doing
//!   handshakes (optionally resuming by session ID or ticket, optionally sending a GET),
//!   against any TLS 1.2 server; [`reprise_load`] is its driver-independent half.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod load;
pub mod server;
mod sys;

pub use load::{LoadOptions, LoadReport, Stop};
pub use reprise_serve::{ListenerMode, ServerOptions, ShutdownHandle};
pub use server::{shutdown_on_signals, Mio, Server};
