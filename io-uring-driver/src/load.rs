//! The load generator on io_uring (to come).
