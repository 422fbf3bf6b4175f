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
//! - [`endpoint`]: one URL form for all of it — one Redis server, a Redis Cluster, or the master
//!   Redis Sentinel names, each with TLS (`rediss`) and ACL credentials.
//! - [`seal`]: the AEAD wrapping both use (AES-256-GCM from aws-lc-rs, HKDF-derived keys).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod endpoint;
pub mod keys;
pub mod seal;
pub mod store;

use std::fmt;

/// What went wrong in the fleet's stores and key distribution.
#[derive(Debug)]
#[non_exhaustive]
pub enum FleetError {
    /// A Redis URL that does not parse, or a Redis command that failed.
    Redis {
        /// What was being done (e.g. the URL, or "publishing the ring").
        context: String,
        /// Redis's own error.
        source: redis::RedisError,
    },
    /// A Redis URL in none of the fleet's forms (see [`endpoint`]).
    BadUrl {
        /// The URL, its password hidden.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A file (e.g. the key-encryption key) could not be read.
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A worker thread could not be started.
    Spawn(std::io::Error),
    /// Sealing or opening under a fleet key failed.
    Seal(seal::SealError),
    /// A published ticket-key ring that is not one (wrong magic, truncated, malformed).
    MalformedRing(&'static str),
    /// Nothing has been published yet under the ring's Redis key.
    NoRingPublished,
    /// A ring holds more keys than its format counts (255).
    TooManyKeys,
    /// Making a ticket key failed.
    Ticket(reprise::session::TicketError),
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetError::Redis { context, source } => write!(f, "{context}: {source}"),
            FleetError::BadUrl { url, why } => write!(f, "{url}: {why}"),
            FleetError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            FleetError::Spawn(e) => write!(f, "spawning a worker thread: {e}"),
            FleetError::Seal(e) => write!(f, "{e}"),
            FleetError::MalformedRing(why) => write!(f, "{why}"),
            FleetError::NoRingPublished => f.write_str("no ticket-key ring published yet"),
            FleetError::TooManyKeys => f.write_str("too many keys for one ring"),
            FleetError::Ticket(e) => write!(f, "ticket keys: {e}"),
        }
    }
}

impl std::error::Error for FleetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FleetError::Redis { source, .. } => Some(source),
            FleetError::Io { source, .. } | FleetError::Spawn(source) => Some(source),
            FleetError::Seal(e) => Some(e),
            FleetError::Ticket(e) => Some(e),
            _ => None,
        }
    }
}

impl From<seal::SealError> for FleetError {
    fn from(e: seal::SealError) -> Self {
        FleetError::Seal(e)
    }
}

impl From<reprise::session::TicketError> for FleetError {
    fn from(e: reprise::session::TicketError) -> Self {
        FleetError::Ticket(e)
    }
}

/// For callers (like the CLI) that report errors as text.
impl From<FleetError> for String {
    fn from(e: FleetError) -> Self {
        e.to_string()
    }
}

/// A Redis error with what was being done.
pub(crate) fn redis_error(
    context: impl Into<String>,
) -> impl FnOnce(redis::RedisError) -> FleetError {
    let context = context.into();
    move |source| FleetError::Redis { context, source }
}
