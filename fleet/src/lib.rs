//! Fleet resumption for Reprise: behind a load balancer a returning client lands on another
//! server, which can only resume if it can find the session or read the ticket.
//!
//! - [`store::RedisSessionStore`]: the suspendable `SessionStore` on Redis. Lookups run on a
//!   small worker pool with a time bound and answer through `SessionStore::fetch`, so an event
//!   loop never blocks; entries are sealed at rest under a fleet key (a Redis dump reveals no
//!   master secret) and expire with the session timeout; a small in-process L1 cache answers
//!   repeat lookups at once. A slow or dead Redis turns lookups into full handshakes.
//! - [`keys`]: the central ticket-key generator (`reprise keys publish`) that rotates keys on
//!   a fixed schedule and publishes the ring wrapped under a key-encryption key, and the
//!   follower each server runs to swap its ring live (keeping the last ring if Redis is lost).
//! - [`seal`]: the AEAD wrapping both use (AES-256-GCM from aws-lc-rs, HKDF-derived keys).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod keys;
pub mod seal;
pub mod store;
