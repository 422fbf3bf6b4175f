//! A server configuration that can be replaced while the server runs (a reload: new
//! certificates, say). New connections take the current one; connections already open keep
//! the one they started with (they hold its `Arc`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use reprise::ServerConfig;

/// The current configuration, and a generation count the workers compare against theirs
/// once per loop turn (one atomic load; the lock is taken only after a change).
pub struct LiveConfig {
    generation: AtomicU64,
    config: Mutex<Arc<ServerConfig>>,
}

impl std::fmt::Debug for LiveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveConfig")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl LiveConfig {
    /// Starts with `config`.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            generation: AtomicU64::new(0),
            config: Mutex::new(config),
        }
    }

    /// Replaces the configuration for new connections.
    pub fn replace(&self, config: Arc<ServerConfig>) {
        *self.config.lock().unwrap_or_else(PoisonError::into_inner) = config;
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current configuration.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times it was replaced.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}
