//! The mio server in-process: the shared driver suite (`shared/server_suite.rs`).

use reprise_mio as driver;

#[path = "shared/server_suite.rs"]
mod suite;
