//! The applications the `reprise` command serves, built on the core's [`Handler`] and
//! [`Upstream`]: none of the core depends on them, and a driver runs them without knowing
//! which one it runs.
//!
//! * [`page`]: the built-in page responder (a small HTTP/1.1 answer per request).
//! * [`backend`]: the connection's plaintext spliced both ways with a backend server, over the
//!   connection's [`Upstream`], as a TLS terminator does.
//! * [`proxy`]: the PROXY protocol header a backend stream sends first.
//!
//! [`Handler`]: crate::app::Handler
//! [`Upstream`]: crate::upstream::Upstream

pub mod backend;
pub mod page;
pub mod proxy;
