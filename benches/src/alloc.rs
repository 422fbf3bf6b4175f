//! Heap allocation counting through [`stats_alloc`]: a binary that wants counts installs
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: &reprise_benches::alloc::StatsAlloc<std::alloc::System> =
//!     &reprise_benches::alloc::INSTRUMENTED_SYSTEM;
//! ```
//!
//! and [`is_counting`] then answers `true`. Only allocations made through Rust's allocator are
//! seen; aws-lc's own `malloc` calls (inside its C code) are not.

pub use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

/// Allocations (including reallocations) and bytes allocated so far, process-wide.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `alloc` + `realloc` calls.
    pub calls: usize,
    /// Bytes allocated minus bytes freed (net growth of the live heap).
    pub live: isize,
}

/// The counters now.
pub fn snapshot() -> Snapshot {
    let s = INSTRUMENTED_SYSTEM.stats();
    Snapshot {
        calls: s.allocations + s.reallocations,
        live: s.bytes_allocated as isize - s.bytes_deallocated as isize + s.bytes_reallocated,
    }
}

/// True when the counting allocator is the global allocator of this process.
pub fn is_counting() -> bool {
    let before = snapshot();
    let v = std::hint::black_box(vec![1u8; 64]);
    drop(v);
    snapshot().calls > before.calls
}
