//! What a server's worker threads share, whichever driver runs them: the stop flag, the count
//! of open connections, a way to wake each worker, the graceful-shutdown handle and its
//! signals, and joining the threads at the end.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Wakes one worker from its wait (mio's `Waker`, an eventfd for the io_uring driver).
pub trait WakeWorker: Send + Sync + 'static {
    /// Makes the worker's current or next wait return.
    fn wake_worker(&self);
}

/// What a server's workers share with its [`ShutdownHandle`]s: the stop flag, the count of
/// open connections and each worker's waker.
pub struct Workers<W> {
    /// Set by [`ShutdownHandle::shutdown`]; every worker then drains and returns.
    pub stop: AtomicBool,
    /// Connections open now, over all workers.
    pub open: AtomicUsize,
    /// One waker per worker, by worker index.
    pub wakers: Vec<Arc<W>>,
}

impl<W: WakeWorker> Workers<W> {
    /// The shared state of workers woken by `wakers`.
    pub fn new(wakers: Vec<Arc<W>>) -> Arc<Self> {
        Arc::new(Self {
            stop: AtomicBool::new(false),
            open: AtomicUsize::new(0),
            wakers,
        })
    }

    /// Takes one of the `limit` connection slots for a connection just accepted; false when
    /// all are taken (the connection is then closed at once).
    pub fn admit(&self, limit: usize) -> bool {
        if self.open.fetch_add(1, Ordering::Relaxed) >= limit {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Gives back the slot of a connection that ended.
    pub fn release(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// True once a shutdown was asked for.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// The driver-independent view of [`Workers`] a handle holds.
trait Stoppable: Send + Sync {
    fn stop(&self);
    fn open(&self) -> usize;
}

impl<W: WakeWorker> Stoppable for Workers<W> {
    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for waker in &self.wakers {
            waker.wake_worker();
        }
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

/// Asks a running server (of either driver) to shut down gracefully; cheap to clone and send
/// to any thread.
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<dyn Stoppable>,
}

impl ShutdownHandle {
    /// A handle on the workers sharing `shared`.
    pub fn new<W: WakeWorker>(shared: Arc<Workers<W>>) -> Self {
        Self { shared }
    }

    /// Stops accepting, lets work in flight finish within the grace period, then the workers
    /// return and the server's `join` completes.
    pub fn shutdown(&self) {
        self.shared.stop();
    }

    /// Connections open now, over all workers.
    pub fn open_connections(&self) -> usize {
        self.shared.open()
    }
}

/// Calls [`ShutdownHandle::shutdown`] on the first SIGINT or SIGTERM (from a small thread of
/// its own); a second signal exits the process at once with status 130.
pub fn shutdown_on_signals(handle: ShutdownHandle) -> io::Result<()> {
    on_shutdown_signals(move || handle.shutdown())
}

/// Runs `stop` on the first SIGINT or SIGTERM (from a small thread of its own); a second
/// signal exits the process at once with status 130.
pub fn on_shutdown_signals(stop: impl FnOnce() + Send + 'static) -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                stop();
            }
            if signals.forever().next().is_some() {
                std::process::exit(130);
            }
        })?;
    Ok(())
}

/// Waits for every worker thread to return; the first worker error (or panic), if any.
///
pub fn join_workers(threads: Vec<JoinHandle<io::Result<()>>>) -> io::Result<()> {
    let mut result = Ok(());
    for t in threads {
        let r = t
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("a worker thread panicked")));
        if result.is_ok() {
            result = r;
        }
    }
    result
}
