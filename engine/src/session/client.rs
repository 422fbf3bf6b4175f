//! The client's memory of sessions, keyed by server name (RFC 5246 §7.3, RFC 5077 §3.4): a
//! session ID the server may still hold, or a ticket the client carries for it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use smallvec::SmallVec;

use super::record::SessionRecord;

/// What a client keeps to resume with one server.
#[derive(Clone, Debug)]
pub struct ClientSession {
    /// The session's secrets and parameters.
    pub record: SessionRecord,
    /// The server's session ID (may be empty when the server only issues tickets).
    pub session_id: SmallVec<[u8; 32]>,
    /// The ticket, when the server issued one (RFC 5077 §3.3).
    pub ticket: Option<Vec<u8>>,
}

impl ClientSession {
    /// True while the session may still be offered at `now`.
    pub fn is_usable(&self, now: u64) -> bool {
        self.record.is_valid_at(now) && (self.ticket.is_some() || !self.session_id.is_empty())
    }
}

/// A bounded, thread-safe map from server name to the newest session with it.
#[derive(Debug)]
pub struct ClientSessionStore {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, ClientSession>,
    order: VecDeque<String>,
}

impl ClientSessionStore {
    /// A store remembering at most `capacity` servers (oldest forgotten first).
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    /// The session for `server_name`, if any.
    pub fn get(&self, server_name: &str) -> Option<ClientSession> {
        self.inner.lock().ok()?.sessions.get(server_name).cloned()
    }

    /// Remembers `session` for `server_name`, replacing any older one.
    pub fn put(&self, server_name: &str, session: ClientSession) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner
            .sessions
            .insert(server_name.to_string(), session)
            .is_none()
        {
            inner.order.push_back(server_name.to_string());
            while inner.order.len() > self.capacity {
                if let Some(old) = inner.order.pop_front() {
                    inner.sessions.remove(&old);
                }
            }
        }
    }

    /// Forgets the session for `server_name` (e.g. after the server declined it).
    pub fn remove(&self, server_name: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            if inner.sessions.remove(server_name).is_some() {
                inner.order.retain(|n| n != server_name);
            }
        }
    }

    /// Number of servers remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.sessions.len()).unwrap_or(0)
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
