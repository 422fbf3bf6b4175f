//! Session resumption state: the compact session record, the suspendable `SessionStore` and
//! its in-memory sharded cache, and RFC 5077 tickets with their rotating key ring.

pub(crate) mod cache;
pub(crate) mod client;
pub(crate) mod id;
pub(crate) mod keyfile;
pub(crate) mod record;
pub(crate) mod store;
pub(crate) mod ticket;

pub use cache::{CacheStats, SessionCache};
pub use client::{ClientSession, ClientSessionStore};
pub use id::SessionIdKey;
pub use keyfile::{
    encode_base64, generate_key_file, parse_key_file, read_key_file, KeyFile, KeyFileError,
    KeyFileFormat,
};
pub use record::{SessionCodecError, SessionRecord};
#[doc(hidden)] // unstable: a test helper
pub use store::DeferredStore;
pub use store::{Lookup, NoSessionStore, SessionStore};
pub use ticket::{
    RingSnapshot, RotationPolicy, TicketError, TicketKey, TicketKeyMaterial, TicketKeyRing,
    TicketKeys, DEFAULT_TICKET_LIFETIME,
};
