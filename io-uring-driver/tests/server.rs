//! The io_uring server in-process: the same driver suite as the mio server's
//! (`io-mio/tests/shared/server_suite.rs`).

use reprise_uring as driver;

#[path = "../../io-mio/tests/shared/server_suite.rs"]
mod suite;

/// The options every test of the suite starts from: direct descriptors (the default).
fn base_options() -> driver::ServerOptions {
    driver::ServerOptions::default()
}
