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

/// Wall-clock time spent in each side's calls, less what reading the clock around each call
/// costs ([`clock_overhead`]): the floors are timed over whole loops, where that cost is
/// spread over thousands of operations, so a per-call timer would otherwise charge a stack
/// some 25 ns per call that it never spent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timer {
    server: Duration,
    client: Duration,
    server_calls: u32,
    client_calls: u32,
}

impl Timer {
    /// The time spent on `role`'s calls.
    pub fn get(&self, role: Role) -> Duration {
        let (time, calls) = match role {
            Role::Server => (self.server, self.server_calls),
            Role::Client => (self.client, self.client_calls),
        };
        time.saturating_sub(clock_overhead() * calls)
    }
}

impl Meter for Timer {
    #[inline]
    fn measure<R>(&mut self, role: Role, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        let d = t.elapsed();
        match role {
            Role::Server => {
                self.server += d;
                self.server_calls += 1;
            }
            Role::Client => {
                self.client += d;
                self.client_calls += 1;
            }
        }
        r
    }
}

/// What one timed call adds to its own measurement: the median, over batches, of timing
/// calls that do nothing. Measured once per process.
pub fn clock_overhead() -> Duration {
    static OVERHEAD: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *OVERHEAD.get_or_init(|| {
        const CALLS: u32 = 10_000;
        let mut batches: Vec<Duration> = (0..21)
            .map(|_| {
                let mut d = Duration::ZERO;
                for _ in 0..CALLS {
                    let t = Instant::now();
                    std::hint::black_box(());
                    d += t.elapsed();
                }
                d / CALLS
            })
            .collect();
        batches.sort();
        batches[batches.len() / 2]
    })
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
