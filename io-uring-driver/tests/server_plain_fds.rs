//! The io_uring server in-process with plain descriptors (no registered file table, as when
//! the table cannot be registered): the same driver suite as the mio server's
//! (`io-mio/tests/shared/server_suite.rs`).

use reprise_uring as driver;

#[path = "../../io-mio/tests/shared/server_suite.rs"]
mod suite;

/// The options every test of the suite starts from: plain descriptors.
fn base_options() -> driver::ServerOptions {
    driver::ServerOptions {
        direct_descriptors: false,
        ..driver::ServerOptions::default()
    }
}
