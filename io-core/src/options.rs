//! What every driver's server is tuned by.

use std::sync::Arc;
use std::time::Duration;

use crate::access_log::AccessLog;
use crate::failure_log::FailureLog;
use crate::live::LiveConfig;

/// How the workers share the listening port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenerMode {
    /// One socket per worker bound with `SO_REUSEPORT`; the kernel balances connections.
    ReusePort,
    /// One socket registered in every worker's poll (every worker wakes per connection).
    Shared,
}

impl std::str::FromStr for ListenerMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reuseport" => Ok(ListenerMode::ReusePort),
            "shared" => Ok(ListenerMode::Shared),
            other => Err(format!(
                "listener mode is reuseport or shared, not {other:?}"
            )),
        }
    }
}

/// Tuning of a server, whichever driver runs it.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Worker threads, each with its own event loop.
    pub workers: usize,
    /// How the workers share the port.
    pub listener: ListenerMode,
    /// Join a port another process already listens on (with [`ListenerMode::ReusePort`], the
    /// kernel then splits new connections between the two), as a hitless upgrade does. Off by
    /// default: such a port is refused, so a second server started by hand cannot take half
    /// of a live server's traffic.
    pub join_other_listeners: bool,
    /// A listening socket made elsewhere (systemd socket activation, a parent process): the
    /// workers accept from it, shared, instead of binding the address given to
    /// [`Driver::start`](crate::Driver::start).
    pub listening_socket: Option<Arc<std::net::TcpListener>>,
    /// Connections open at once, over all workers; more are accepted and closed at once.
    pub max_connections: usize,
    /// Time a client has from its TCP connection to the end of its handshake.
    pub handshake_timeout: Duration,
    /// Time an established connection may stay silent.
    pub idle_timeout: Duration,
    /// How long a shutdown waits for handshakes and requests in flight.
    pub shutdown_grace: Duration,
    /// Bytes a worker lets unfinished handshakes hold in all (records and handshake messages
    /// not whole yet). A handshake that grows while the total is over it is closed at once
    /// (`Served::account_memory`); what is over it otherwise (connections that took their
    /// memory earlier) is closed oldest first at the next sweep.
    pub handshake_memory: usize,
    /// After a fatal alert, how long what the peer still sends is read and dropped before
    /// the socket is closed (so the alert is not destroyed by a reset); zero closes at once.
    pub linger: Duration,
    /// Bytes of output a connection may have waiting before it is no longer read.
    pub max_pending_output: usize,
    /// The listen(2) backlog of each listening socket.
    pub backlog: i32,
    /// Free read buffers each worker keeps for reuse.
    pub pooled_buffers: usize,
    /// Threads signing ServerKeyExchange parameters when `ServerConfig::offload_signing` is
    /// set, so the event loops never wait for an RSA/ECDSA signature (0: sign on the loop).
    pub sign_workers: usize,
    /// io_uring driver only: accept into the ring's registered file table (direct
    /// descriptors, no descriptor installed per connection) when the table can be
    /// registered; false keeps plain descriptors. The mio driver ignores it.
    pub direct_descriptors: bool,
    /// While a worker is busy (its last wait brought several events or completions), it
    /// lets a batch gather for up to this long before serving it: fewer wake-ups per
    /// handshake under load, for at most this much added latency; an idle worker never
    /// waits. The mio driver sleeps that long before polling, the io_uring driver submits
    /// what it queued and then sleeps that long before waiting; zero turns it off. `None`
    /// (the default) takes the driver's own default: on the hosts measured (see the design
    /// notes) the sleep saved the mio driver a few per cent and cost the io_uring driver
    /// far more than it saved, whose busy wait already returns everything that came
    /// meanwhile.
    pub batch_wait: Option<Duration>,
    /// A configuration replaced while the server runs (a reload): each worker takes the
    /// current one for its new connections. `None`: the configuration given at start, for
    /// good.
    pub live_config: Option<Arc<LiveConfig>>,
    /// Where failed handshakes are logged, one rate-limited line each (peer, alert, reason);
    /// `None` logs nothing.
    pub failure_log: Option<Arc<FailureLog>>,
    /// Where each connection's line goes at its end ([`crate::access_log`]); `None` logs
    /// nothing.
    pub access_log: Option<Arc<AccessLog>>,
    /// The serving core's counters (slow clients, connections a shutdown cut off; give the
    /// same to [`crate::upstream::UpstreamOptions::counters`] to count backend failures there).
    pub counters: Arc<crate::counters::ServingCounters>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            listener: ListenerMode::ReusePort,
            join_other_listeners: false,
            listening_socket: None,
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            linger: Duration::from_secs(1),
            handshake_memory: 64 << 20,
            max_pending_output: 256 * 1024,
            backlog: 1024,
            pooled_buffers: 256,
            sign_workers: 0,
            direct_descriptors: true,
            batch_wait: None,
            failure_log: None,
            access_log: None,
            counters: Arc::default(),
            live_config: None,
        }
    }
}

impl ServerOptions {
    /// How often each worker checks for expired deadlines: a quarter of the shorter timeout,
    /// between 50 ms and 1 s, so a timeout fires at most ~25% late.
    pub fn timer_tick(&self) -> Duration {
        (self.handshake_timeout.min(self.idle_timeout) / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}

/// While a server drains, how often each worker looks at its connections' deadlines (a
/// connection that goes quiet after its last answer is told goodbye within this, not at the
/// next [`ServerOptions::timer_tick`]).
pub const DRAIN_TICK: Duration = Duration::from_millis(50);
