//! Heap allocation counting. With the `count-allocations` feature this crate depends on
//! `allocation_counter`, which installs its counting allocator as the global allocator of
//! any binary that links it (the `reprise` CLI enables the feature; criterion benches do
//! not). It counts in a thread-local, without atomics, so the timed runs of both stacks are
//! barely disturbed. Only allocations made through Rust's allocator are seen; aws-lc's own
//! `malloc` calls (inside its C code) are not.

/// Allocations made by one measured call, on the calling thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Allocation calls.
    pub count: u64,
    /// Bytes allocated minus bytes freed.
    pub live: i64,
}

/// Runs `f`, counting its allocations on this thread (all zero without the feature).
#[cfg(feature = "count-allocations")]
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Counts) {
    let mut out = None;
    let info = allocation_counter::measure(|| out = Some(f()));
    let counts = Counts {
        count: info.count_total,
        live: info.bytes_current,
    };
    match out {
        Some(r) => (r, counts),
        None => unreachable!("measure ran the closure"),
    }
}

/// Runs `f`, counting its allocations on this thread (all zero without the feature).
#[cfg(not(feature = "count-allocations"))]
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Counts) {
    (f(), Counts::default())
}

/// True when allocations are counted in this build.
pub fn is_counting() -> bool {
    measure(|| drop(std::hint::black_box(vec![1u8; 64])))
        .1
        .count
        > 0
}
