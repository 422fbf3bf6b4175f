//! Session resumption state: the compact session record, the suspendable `SessionStore` and
//! its in-memory sharded cache, and RFC 5077 tickets with their rotating key ring.

pub mod cache;
pub mod client;
pub mod id;
pub mod keyfile;
pub mod record;
pub mod store;
pub mod ticket;
