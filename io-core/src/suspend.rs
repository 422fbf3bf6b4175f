//! Answering the engine's suspensions away from the event loop: session lookups in an
//! asynchronous store (`Event::NeedSession`) and offloaded ServerKeyExchange signatures
//! (`Event::NeedSignature`). Each answer comes back to the connection's worker as a [`Reply`]
//! through its [`Mailbox`], which also carries a handler's [`Wake`].

use std::io;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use reprise::session::Lookup;
use reprise::{CertifiedKey, ServerConfig};

use crate::app::Wake;
use crate::options::ServerOptions;
use crate::served::ConnId;
use crate::workers::WakeWorker;

/// What comes back to a worker for one of its connections.
// A session answer is moved once, from the store's thread to the worker; inline like
// `Lookup` itself.
#[allow(clippy::large_enum_variant)]
pub enum Reply {
    /// The answer to a deferred session lookup (`Event::NeedSession`).
    Session(Lookup),
    /// An offloaded ServerKeyExchange signature (`Event::NeedSignature`); `None` if signing
    /// failed.
    Signature(Option<Vec<u8>>),
    /// The handler has output to give ([`Wake`]).
    Wake,
}

/// A [`Reply`] on its way to connection `to`.
pub struct Answer {
    /// The connection it is for (dropped if the slot holds another connection by then).
    pub to: ConnId,
    /// What it says.
    pub reply: Reply,
}

/// A worker's inbox for answers from other threads: a channel, and the worker's waker so
/// that its wait returns when one arrives.
pub struct Mailbox<W> {
    tx: Sender<Answer>,
    waker: Arc<W>,
}

impl<W: WakeWorker> Mailbox<W> {
    /// A mailbox waking `waker`, and the receiving end the worker drains.
    pub fn new(waker: Arc<W>) -> (Self, Receiver<Answer>) {
        let (tx, rx) = channel();
        (Self { tx, waker }, rx)
    }

    /// Where the answer to one suspension of connection `to` goes.
    pub fn reply_to(&self, to: ConnId) -> ReplyTo {
        let (tx, waker) = (self.tx.clone(), self.waker.clone());
        Box::new(move |reply| {
            let _ = tx.send(Answer { to, reply });
            waker.wake_worker();
        })
    }

    /// A [`Wake`] for connection `to`'s handler.
    pub fn wake_for(&self, to: ConnId) -> Wake {
        let (tx, waker) = (self.tx.clone(), self.waker.clone());
        Wake::new(move || {
            if tx
                .send(Answer {
                    to,
                    reply: Reply::Wake,
                })
                .is_ok()
            {
                waker.wake_worker();
            }
        })
    }
}

/// A signing job for the signer pool.
struct SignJob {
    key: Arc<CertifiedKey>,
    scheme: reprise::SignatureScheme,
    message: Vec<u8>,
    done: Box<dyn FnOnce(Option<Vec<u8>>) + Send>,
}

/// Threads that make offloaded signatures (`ServerOptions::sign_workers`), shared by a
/// server's workers.
#[derive(Clone)]
pub struct SignerPool {
    jobs: std::sync::mpsc::Sender<SignJob>,
}

impl SignerPool {
    /// `threads` signing threads; they end when the last clone of the pool is dropped.
    pub fn start(threads: usize) -> io::Result<Self> {
        let (tx, rx) = channel::<SignJob>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("signer-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let signature = sign(&job.key, job.scheme, &job.message);
                    (job.done)(signature);
                })?;
        }
        Ok(Self { jobs: tx })
    }

    /// The pool of `options.sign_workers` threads, or none for 0.
    pub fn for_options(options: &ServerOptions) -> io::Result<Option<Self>> {
        match options.sign_workers {
            0 => Ok(None),
            n => Self::start(n).map(Some),
        }
    }
}

/// Delivers one suspended connection's [`Reply`] to its worker (and wakes the worker); made
/// by each driver for the connection that asked.
pub type ReplyTo = Box<dyn FnOnce(Reply) + Send>;

/// Starts the session lookup an `Event::NeedSession` asks for
/// ([`SessionStore::fetch`](reprise::session::SessionStore::fetch), which answers
/// from its own thread); without a store the answer is `Unavailable` at once.
pub fn fetch_session(config: &ServerConfig, id: &[u8], now_secs: u64, reply_to: ReplyTo) {
    match &config.session_store {
        Some(store) => store.fetch(
            id,
            now_secs,
            Box::new(move |lookup| reply_to(Reply::Session(lookup))),
        ),
        None => reply_to(Reply::Session(Lookup::Unavailable)),
    }
}

/// Makes the signature an `Event::NeedSignature` asks for: on `signer`'s threads, or at once
/// on this thread without a pool; `reply_to` gets it (`None` if signing failed).
pub fn sign_for(
    signer: Option<&SignerPool>,
    key: Arc<CertifiedKey>,
    scheme: reprise::SignatureScheme,
    message: Vec<u8>,
    reply_to: ReplyTo,
) {
    let done: Box<dyn FnOnce(Option<Vec<u8>>) + Send> =
        Box::new(move |signature| reply_to(Reply::Signature(signature)));
    match signer {
        Some(pool) => {
            let job = SignJob {
                key,
                scheme,
                message,
                done,
            };
            if let Err(std::sync::mpsc::SendError(job)) = pool.jobs.send(job) {
                (job.done)(None);
            }
        }
        None => done(sign(&key, scheme, &message)),
    }
}

/// A signature by `key`'s private key, or `None` if signing failed.
fn sign(key: &CertifiedKey, scheme: reprise::SignatureScheme, message: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    key.key().sign(scheme, message, &mut out).ok()?;
    Some(out)
}
