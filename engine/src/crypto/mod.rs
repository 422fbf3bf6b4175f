//! TLS 1.2 cryptographic constructions built from aws-lc-rs primitives.

pub mod kx;
pub mod prf;
pub mod sign;
pub mod suites;
pub mod verify;
