//! TLS 1.2 cryptographic constructions built from aws-lc-rs primitives.

pub mod prf;
