//! What a case measures on each side: time, or heap allocations.

use std::time::{Duration, Instant};

use crate::alloc;

/// The side of a connection whose work is being measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The server.
    Server,
    /// The client.
    Client,
}

/// Accumulates a quantity per side around calls into one side's connection.
pub trait Meter {
    /// Taken just before a call.
    type Mark;
    /// Starts measuring a call.
    fn mark(&mut self) -> Self::Mark;
    /// Ends measuring a call made on `side`.
    fn add(&mut self, side: Side, mark: Self::Mark);
    /// Ends measuring the drop (or recycling) of `side`'s connection.
    fn add_drop(&mut self, side: Side, mark: Self::Mark) {
        self.add(side, mark)
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
    pub fn get(&self, side: Side) -> Duration {
        match side {
            Side::Server => self.server,
            Side::Client => self.client,
        }
    }
}

impl Meter for Timer {
    type Mark = Instant;
    #[inline]
    fn mark(&mut self) -> Instant {
        Instant::now()
    }
    #[inline]
    fn add(&mut self, side: Side, mark: Instant) {
        let d = mark.elapsed();
        match side {
            Side::Server => self.server += d,
            Side::Client => self.client += d,
        }
    }
}

/// Heap allocations made in each side's calls (needs the counting allocator, see
/// [`alloc`](crate::alloc)).
#[derive(Clone, Copy, Debug, Default)]
pub struct Allocs {
    /// Allocation calls in the server's calls.
    pub server: usize,
    /// Allocation calls in the client's calls.
    pub client: usize,
}

impl Meter for Allocs {
    type Mark = alloc::Snapshot;
    fn mark(&mut self) -> alloc::Snapshot {
        alloc::snapshot()
    }
    fn add(&mut self, side: Side, mark: alloc::Snapshot) {
        let n = alloc::snapshot().calls - mark.calls;
        match side {
            Side::Server => self.server += n,
            Side::Client => self.client += n,
        }
    }
}

/// Measures nothing (for warm-up and checks).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMeter;

impl Meter for NoMeter {
    type Mark = ();
    fn mark(&mut self) {}
    fn add(&mut self, _: Side, _: ()) {}
}

/// Net Rust heap growth in each side's calls, not counting the final drop: what a live
/// connection holds (needs the counting allocator).
#[derive(Clone, Copy, Debug, Default)]
pub struct Live {
    /// Net bytes grown in the server's calls.
    pub server: isize,
    /// Net bytes grown in the client's calls.
    pub client: isize,
}

impl Meter for Live {
    type Mark = alloc::Snapshot;
    fn mark(&mut self) -> alloc::Snapshot {
        alloc::snapshot()
    }
    fn add(&mut self, side: Side, mark: alloc::Snapshot) {
        let n = alloc::snapshot().live - mark.live;
        match side {
            Side::Server => self.server += n,
            Side::Client => self.client += n,
        }
    }
    fn add_drop(&mut self, _: Side, _: alloc::Snapshot) {}
}
