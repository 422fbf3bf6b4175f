//! A hashed timer wheel with lazy re-filing, for connection deadlines.
//!
//! Each connection has one deadline, moved often (every read pushes the idle deadline) and
//! rarely reached. Moving it costs nothing here: the connection stays filed under the slot of
//! an older, earlier deadline; when that slot comes up, an entry whose connection's deadline is
//! now later is simply filed again under the new one. A turn of the wheel therefore touches
//! only the entries due in the ticks that passed, not every connection.

use std::time::{Duration, Instant};

/// Entries a processed slot keeps room for; a slot that grew past it is freed.
const KEPT_SLOT_CAPACITY: usize = 64;

/// An entry: the slab key and generation of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: usize,
    pub generation: u32,
}

pub(crate) struct Wheel {
    slots: Vec<Vec<Entry>>,
    tick: Duration,
    start: Instant,
    /// Ticks since `start` already processed.
    done: u64,
}

impl Wheel {
    /// `slots` slots of `tick` each.
    pub fn new(slots: usize, tick: Duration, now: Instant) -> Wheel {
        Wheel {
            slots: vec![Vec::new(); slots.max(1)],
            tick: tick.max(Duration::from_millis(1)),
            start: now,
            done: 0,
        }
    }

    fn tick_of(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.start).as_nanos() / self.tick.as_nanos()) as u64
    }

    /// Files `entry` to come up at the first tick at or after `deadline`.
    pub fn insert(&mut self, entry: Entry, deadline: Instant) {
        // Round up, and never into a slot already processed.
        let t = (self.tick_of(deadline) + 1).max(self.done + 1);
        let n = self.slots.len() as u64;
        self.slots[(t % n) as usize].push(entry);
    }

    /// When the next tick ends (the latest time to call [`advance`](Self::advance) again).
    pub fn next_tick(&self) -> Instant {
        self.start + self.tick * u32::try_from(self.done + 1).unwrap_or(u32::MAX)
    }

    /// Takes every entry filed under the ticks that have passed by `now` into `due`. The
    /// caller checks each against its connection's current deadline and files again those
    /// not yet expired.
    pub fn advance(&mut self, now: Instant, due: &mut Vec<Entry>) {
        let target = self.tick_of(now);
        let n = self.slots.len() as u64;
        // A long stall: one pass over the wheel is enough.
        let first = self.done + 1;
        let last = target.min(self.done + n);
        for t in first..=last {
            let slot = &mut self.slots[(t % n) as usize];
            due.append(slot);
            if slot.capacity() > KEPT_SLOT_CAPACITY {
                // A slot filled during a burst gives its memory back, or every slot would
                // keep the largest burst it ever saw: memory growing for a whole turn of
                // the wheel (256 ticks) under steady churn.
                *slot = Vec::new();
            }
        }
        if target > self.done {
            self.done = target;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_up_once_due_and_not_before() {
        let t0 = Instant::now();
        let mut w = Wheel::new(8, Duration::from_millis(10), t0);
        let a = Entry {
            key: 1,
            generation: 0,
        };
        let b = Entry {
            key: 2,
            generation: 0,
        };
        w.insert(a, t0 + Duration::from_millis(25));
        w.insert(b, t0 + Duration::from_millis(200)); // beyond one turn of the wheel
        let mut due = Vec::new();
        w.advance(t0 + Duration::from_millis(15), &mut due);
        assert!(due.is_empty());
        w.advance(t0 + Duration::from_millis(31), &mut due);
        assert_eq!(due, vec![a]);
        due.clear();
        // b comes up early (a turn of the wheel) and the caller re-files it; then it is due.
        let mut seen = 0;
        let mut now = t0 + Duration::from_millis(31);
        while now < t0 + Duration::from_millis(230) {
            now += Duration::from_millis(10);
            w.advance(now, &mut due);
            for e in due.drain(..) {
                seen += 1;
                if now < t0 + Duration::from_millis(200) {
                    w.insert(e, t0 + Duration::from_millis(200));
                } else {
                    assert_eq!(e, b);
                }
            }
        }
        assert!(seen >= 2);
        assert!(w.slots.iter().all(Vec::is_empty));
    }

    #[test]
    fn slots_give_back_the_memory_of_a_burst() {
        let t0 = Instant::now();
        let mut w = Wheel::new(4, Duration::from_millis(10), t0);
        for k in 0..10_000 {
            w.insert(
                Entry {
                    key: k,
                    generation: 0,
                },
                t0 + Duration::from_millis(15),
            );
        }
        let mut due = Vec::new();
        w.advance(t0 + Duration::from_millis(25), &mut due);
        assert_eq!(due.len(), 10_000);
        assert!(w.slots.iter().all(|s| s.capacity() <= KEPT_SLOT_CAPACITY));
    }

    #[test]
    fn a_long_stall_takes_everything_due() {
        let t0 = Instant::now();
        let mut w = Wheel::new(4, Duration::from_millis(10), t0);
        for k in 0..10 {
            w.insert(
                Entry {
                    key: k,
                    generation: 0,
                },
                t0 + Duration::from_millis(5 * k as u64),
            );
        }
        let mut due = Vec::new();
        w.advance(t0 + Duration::from_secs(5), &mut due);
        assert_eq!(due.len(), 10);
        assert!(w.next_tick() > t0 + Duration::from_secs(5));
    }
}
