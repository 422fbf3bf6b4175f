//! Reprise: a sans-IO TLS 1.2 handshake engine for servers.
#![forbid(unsafe_code)]

pub mod codec;
pub mod crypto;
