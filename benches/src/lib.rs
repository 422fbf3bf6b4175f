//! Reprise and rustls measured side by side, in memory, on one thread (except the two-thread
//! session-cache case), plus the aws-lc primitives each case cannot avoid (its "floor").
//!
//! * [`cases`] holds the work both stacks do: handshakes of every shape, bulk records, ticket
//!   seal/open and session-cache traffic. Criterion (`cargo bench -p reprise-tls-benches`) and
//!   the quick runner ([`quick::run`], behind `reprise bench`) call the same code.
//! * Each side of a handshake is timed separately: the two connections talk in memory and
//!   only the calls made on the measured side (construction, `receive`/`process_new_packets`,
//!   output, events, drop) are timed, as rustls's own bench does. See [`meter`].
//! * [`primitives`] times the aws-lc operations a case needs (signature, key agreement, PRF,
//!   AEAD); their sum is the case's floor.
//! * [`floor`] is the bare-TCP floor of the loopback benchmark (binary `tcp-floor`): TCP
//!   exchanges with the byte counts of a TLS 1.2 handshake, on a mio loop shaped like the
//!   Reprise server's; [`uring_floor`] is the same on the io_uring server's operations.
//! * [`alloc`] counts heap allocations (feature `count-allocations`, through the
//!   `allocation-counter` crate's thread-local counting allocator).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alloc;
pub mod cases;
pub mod floor;
pub mod meter;
pub mod pki;
pub mod primitives;
pub mod quick;
pub mod setup;
pub mod uring_floor;
