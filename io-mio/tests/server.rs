//! The mio server in-process: the shared driver suite (`shared/server_suite.rs`).

use reprise_mio as driver;

#[path = "shared/server_suite.rs"]
mod suite;

/// The options every test of the suite starts from.
fn base_options() -> driver::ServerOptions {
    driver::ServerOptions::default()
}
