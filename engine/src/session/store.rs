//! The session-ID store the server consults to resume a session (RFC 5246 §7.4.1.2), and
//! whose lookups may be answered later.
//!
//! A store never blocks the engine: a store backed by a remote cache answers
//! [`Lookup::Pending`], the engine suspends the handshake and emits an event asking for the
//! session, and the caller hands the answer to the connection when it has it.

use std::sync::Mutex;

use super::record::SessionRecord;

/// The answer of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// The record inline (its client identity included): a boxed one would cost an allocation per
// resumption.
#[allow(clippy::large_enum_variant)]
pub enum Lookup {
    /// The session was found and may be resumed.
    Found(SessionRecord),
    /// No such session (or it expired): do a full handshake.
    Missing,
    /// The answer will come later: the engine suspends and emits an event; the caller
    /// answers on the connection.
    Pending,
    /// The store could not be asked (e.g. remote cache down): treat as a miss but count it
    /// separately.
    Unavailable,
}

/// Where a server keeps the sessions made by full handshakes, keyed by session ID.
pub trait SessionStore: Send + Sync {
    /// Looks up a session by ID (1..=32 bytes). Must not block: a remote store returns
    /// [`Lookup::Pending`] and answers later.
    fn get(&self, id: &[u8], now: u64) -> Lookup;
    /// Stores a session made by a full handshake under its ID.
    fn put(&self, id: &[u8], record: &SessionRecord, now: u64);
    /// Forgets a session (e.g. after a fatal alert, RFC 5246 §7.2.2).
    fn remove(&self, id: &[u8]);
    /// Completes a lookup that [`get`](Self::get) answered with [`Lookup::Pending`]: the store
    /// fetches the session (on its own thread, connection or event loop) and calls `done`
    /// exactly once, from any thread, with the final answer (never `Pending`). A driver passes
    /// that answer to `ServerConnection::provide_session`. Stores that never answer
    /// `Pending` keep this default, which answers at once from `get`.
    fn fetch(&self, id: &[u8], now: u64, done: Box<dyn FnOnce(Lookup) + Send>) {
        done(match self.get(id, now) {
            Lookup::Pending => Lookup::Unavailable,
            answer => answer,
        })
    }

    /// Reports this store's series (hits, misses, size, lookup latency…) to `sink`, next to
    /// the engine's [`Metrics`](crate::metrics::Metrics). The default reports nothing.
    fn report_metrics(&self, sink: &mut dyn crate::metrics::MetricSink) {
        let _ = sink;
    }
}

/// A store that keeps nothing: every lookup misses, so every handshake is full.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSessionStore;

impl SessionStore for NoSessionStore {
    fn get(&self, _id: &[u8], _now: u64) -> Lookup {
        Lookup::Missing
    }

    fn put(&self, _id: &[u8], _record: &SessionRecord, _now: u64) {}

    fn remove(&self, _id: &[u8]) {}
}

/// A test and embedding aid that turns any store into an asynchronous one: every
/// [`get`](SessionStore::get) answers [`Lookup::Pending`] and records the ID asked for; the
/// test (or the embedding's event loop) collects the requests with
/// [`take_requests`](Self::take_requests) and answers each later with
/// [`resolve`](Self::resolve), which asks the wrapped store. `put` and `remove` go straight
/// to the wrapped store.
#[derive(Debug, Default)]
pub struct DeferredStore<S> {
    inner: S,
    requests: Mutex<Vec<Vec<u8>>>,
}

impl<S: SessionStore> DeferredStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            requests: Mutex::new(Vec::new()),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The IDs looked up since the last call, oldest first.
    pub fn take_requests(&self) -> Vec<Vec<u8>> {
        match self.requests.lock() {
            Ok(mut guard) => std::mem::take(&mut *guard),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// The answer to a deferred lookup of `id`: what the wrapped store says now.
    pub fn resolve(&self, id: &[u8], now: u64) -> Lookup {
        self.inner.get(id, now)
    }
}

impl<S: SessionStore> SessionStore for DeferredStore<S> {
    fn get(&self, id: &[u8], _now: u64) -> Lookup {
        match self.requests.lock() {
            Ok(mut guard) => guard.push(id.to_vec()),
            Err(poisoned) => poisoned.into_inner().push(id.to_vec()),
        }
        Lookup::Pending
    }

    fn put(&self, id: &[u8], record: &SessionRecord, now: u64) {
        self.inner.put(id, record, now);
    }

    fn remove(&self, id: &[u8]) {
        self.inner.remove(id);
    }

    /// Answers from the wrapped store (a driver test sees the suspend-and-resume path).
    fn fetch(&self, id: &[u8], now: u64, done: Box<dyn FnOnce(Lookup) + Send>) {
        done(self.resolve(id, now))
    }
}

#[cfg(test)]
mod tests {
    use smallvec::SmallVec;

    use super::*;
    use crate::crypto::prf::MasterSecret;
    use crate::session::cache::SessionCache;

    fn record(now: u64) -> SessionRecord {
        SessionRecord {
            suite_id: 0xc030,
            extended_master_secret: true,
            master_secret: MasterSecret::from_bytes([7; 48]),
            created: now,
            lifetime: 3600,
            server_name: SmallVec::from_slice(b"www.example.com"),
            alpn: SmallVec::from_slice(b"h2"),
            client: None,
        }
    }

    #[test]
    fn no_store_misses() {
        let store = NoSessionStore;
        store.put(&[1; 32], &record(100), 100);
        assert_eq!(store.get(&[1; 32], 100), Lookup::Missing);
        store.remove(&[1; 32]);
    }

    #[test]
    fn deferred_store() {
        let now = 1_000;
        let store = DeferredStore::new(SessionCache::new(1 << 20, 300));
        store.put(&[1; 32], &record(now), now);

        assert_eq!(store.get(&[1; 32], now), Lookup::Pending);
        assert_eq!(store.get(&[2; 32], now), Lookup::Pending);
        let requests = store.take_requests();
        assert_eq!(requests, vec![vec![1; 32], vec![2; 32]]);
        assert!(store.take_requests().is_empty());

        let mut expected = record(now);
        expected.lifetime = 300; // capped by the cache's timeout
        assert_eq!(
            store.resolve(&requests[0], now + 1),
            Lookup::Found(expected)
        );
        assert_eq!(store.resolve(&requests[1], now + 1), Lookup::Missing);

        store.remove(&[1; 32]);
        assert_eq!(store.resolve(&[1; 32], now + 1), Lookup::Missing);
        assert_eq!(store.inner().len(), 0);
    }

    #[test]
    fn usable_as_trait_object() {
        let store: Box<dyn SessionStore> = Box::new(DeferredStore::new(NoSessionStore));
        assert_eq!(store.get(&[3; 16], 0), Lookup::Pending);
    }
}
