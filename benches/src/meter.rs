//! What a case measures on each side: time, or heap allocations.

use std::time::{Duration, Instant};

use crate::alloc;

pub use reprise::Role;

/// Accumulates a quantity per side over calls into one side's connection.
pub trait Meter {
    /// Runs `f`, a call on `side`'s connection, measuring it.
    fn measure<R>(&mut self, role: Role, f: impl FnOnce() -> R) -> R;
    /// Runs `f`, the drop (or recycling) of `side`'s connection, measuring it.
    fn measure_drop<R>(&mut self, role: Role, f: impl FnOnce() -> R) -> R {
        self.measure(role, f)
    }
}

/// Wall-clock time spent in each side's calls.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timer {
    /// Time in the server's calls.
    pub server: Duration,
    /// Time in the client's calls.
    pub client: Duration,
}

impl Timer {
    /// The total for `side`.
    pub fn get(&self, role: Role) -> Duration {
        match role {
            Role::Server => self.server,
            Role::Client => self.client,
        }
    }
}

impl Meter for Timer {
    #[inline]
    fn measure<R>(&mut self, role: Role, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        let d = t.elapsed();
        match role {
            Role::Server => self.server += d,
            Role::Client => self.client += d,
        }
        r
    }
}

/// Heap allocations made in each side's calls (needs the `count-allocations` feature; see
/// [`alloc`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Allocs {
    /// Allocation calls in the server's calls.
    pub server: u64,
    /// Allocation calls in the client's calls.
    pub client: u64,
}

impl Meter for Allocs {
    fn measure<R>(&mut self, role: Role, f: impl FnOnce() -> R) -> R {
        let (r, info) = alloc::measure(f);
        match role {
            Role::Server => self.server += info.count,
            Role::Client => self.client += info.count,
        }
        r
    }
}

/// Net heap growth in each side's calls, not counting the final drop: what a live
/// connection holds (needs the `count-allocations` feature).
#[derive(Clone, Copy, Debug, Default)]
pub struct Live {
    /// Net bytes grown in the server's calls.
    pub server: i64,
    /// Net bytes grown in the client's calls.
    pub client: i64,
}

impl Meter for Live {
    fn measure<R>(&mut self, role: Role, f: impl FnOnce() -> R) -> R {
        let (r, info) = alloc::measure(f);
        match role {
            Role::Server => self.server += info.live,
            Role::Client => self.client += info.live,
        }
        r
    }
    fn measure_drop<R>(&mut self, _: Role, f: impl FnOnce() -> R) -> R {
        f()
    }
}

/// Measures nothing (for warm-up and checks).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMeter;

impl Meter for NoMeter {
    #[inline]
    fn measure<R>(&mut self, _: Role, f: impl FnOnce() -> R) -> R {
        f()
    }
}
