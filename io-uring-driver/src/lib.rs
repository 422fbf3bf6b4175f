//! `reprise-tls-uring`: a completion-based (io_uring) driver for Reprise TLS 1.2 connections,
//! interchangeable with the readiness-based `reprise-tls-mio` driver.
//!
//! Two halves share the crate, with the same public shape as `reprise-tls-mio`:
//!
//! * [`server`]: a multi-core TLS server. One ring per worker thread, multishot accept into
//!   direct descriptors, receives into a provided-buffer ring (one per flight during the
//!   handshake, multishot after), batched submission (one `io_uring_enter`
//!   per loop turn), sends from driver-owned buffers that stay put until their completion, a
//!   timer wheel for handshake and idle timeouts, a connection limit, suspended session
//!   lookups and a graceful shutdown. It takes the same [`ServerOptions`] and the same
//!   [`reprise_serve::app::HandlerFactory`] as the mio server, so a server switches drivers by one
//!   flag.
//! * [`load`]: the load generator of `reprise-tls-mio` on io_uring (same [`LoadOptions`] and
//!   [`LoadReport`]).
//!
//! * [`EventRing`]: a ring with its provided receive buffers behind operations that cannot
//!   lend the kernel memory it might outlive, for code outside this crate that wants this
//!   driver's operations (the loopback benchmark's floor, `reprise_benches::uring_floor`).
//!
//! [`probe()`] tells whether io_uring can be used here, and if not, why (old kernel,
//! `kernel.io_uring_disabled`, a seccomp filter, or the `REPRISE_URING_DISABLE` test hook);
//! callers fall back to mio on an error.
//!
//! `unsafe` is confined to `bufring` (the provided-buffer ring shared with the kernel),
//! [`ring`] (handing submission entries that point at driver memory to the kernel),
//! [`EventRing`] and the sends, connects and system calls of [`server`] and [`load`]; every
//! block says why the memory it lends stays valid until the kernel is done with it.
#![warn(missing_docs)]

mod bufring;
mod event_ring;
pub mod load;
pub mod probe;
pub mod ring;
pub mod server;
mod timer;

pub use event_ring::EventRing;
pub use probe::{probe, Unavailable};
pub use reprise_load::{LoadOptions, LoadReport, Stop};
pub use reprise_serve::{ListenerMode, ServerOptions};
pub use server::{Server, ShutdownHandle, Uring};
