//! TLS 1.2 cryptographic constructions built from aws-lc-rs primitives.

pub(crate) mod kx;
pub(crate) mod prf;
pub(crate) mod sign;
pub(crate) mod suites;
pub(crate) mod verify;
