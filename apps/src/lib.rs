//! `reprise-tls-apps`: the applications the `reprise` command serves, built on the serving
//! core's [`Handler`] and [`Upstream`] (`reprise-tls-serve`). The core depends on none of
//! them, and every driver runs them without knowing which one it runs.
//!
//! * [`page`]: the built-in page responder (a small HTTP/1.1 answer per request).
//! * [`backend`]: the connection's plaintext spliced both ways with a backend server, over the
//!   connection's [`Upstream`], as a TLS terminator does.
//! * [`proxy`]: the PROXY protocol header a backend stream sends first.
//!
//! [`Handler`]: reprise_serve::app::Handler
//! [`Upstream`]: reprise_serve::upstream::Upstream
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod page;
pub mod proxy;
