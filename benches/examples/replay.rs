//! The server side of resumed handshakes alone, for a flat `perf record` of the server:
//! `replay [sid|ticket] [n] [rounds]`. A first pass runs client and server and records the
//! client's flights and every random byte the server drew; each round then replays those
//! flights into fresh server connections that draw the same bytes, so the server's answers
//! (and so the recorded client Finished) stay valid and no client work runs in the loop.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use reprise::rng::{RandomSource, RngError, SystemRandom};
use reprise::{ClientConnection, ServerConfig, ServerConnection};
use reprise_benches::cases::Endpoint;
use reprise_benches::setup::{self, Resume, Scenario};

/// Hands out system randomness and keeps a copy of every byte.
#[derive(Default)]
struct Recording(Mutex<Vec<u8>>);

impl RandomSource for Recording {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        SystemRandom.fill(dest)?;
        self.0.lock().map_err(|_| RngError)?.extend_from_slice(dest);
        Ok(())
    }
}

/// Hands out recorded bytes in order.
struct Replaying {
    bytes: Vec<u8>,
    at: AtomicUsize,
}

impl RandomSource for Replaying {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RngError> {
        let start = self.at.fetch_add(dest.len(), Ordering::Relaxed);
        let src = self.bytes.get(start..start + dest.len()).ok_or(RngError)?;
        dest.copy_from_slice(src);
        Ok(())
    }
}

fn config(
    s: Scenario,
    like: &ServerConfig,
    rng: Arc<dyn RandomSource>,
) -> Result<ServerConfig, String> {
    let mut c = Arc::try_unwrap(setup::reprise(s)?.server).map_err(|_| "shared config")?;
    c.session_store = like.session_store.clone();
    c.tickets = like.tickets.clone();
    c.rng = rng;
    Ok(c)
}

type Flights = Vec<(Vec<u8>, Vec<u8>)>;

/// One pass over the recorded flights, kept out of line so a profile's call graph shows the
/// timed loop apart from the recording.
#[inline(never)]
fn replay_round(
    config: &Arc<ServerConfig>,
    input: &mut Flights,
    pool: &mut Option<reprise::Buffers>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    for (hello, finished) in input {
        let mut server = match pool.take() {
            Some(b) => ServerConnection::with_buffers(config.clone(), b),
            None => ServerConnection::new(config.clone()),
        };
        server.input(hello)?;
        out.clear();
        server.output(out)?;
        server.input(finished)?;
        if !server.open() {
            return Err("replay diverged".into());
        }
        *pool = Some(server.into_buffers());
    }
    Ok(())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let resume = Resume::from_arg(args.get(1).map(String::as_str));
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let s = Scenario::resumed(resume);
    let c = setup::reprise(s)?;
    setup::prime_session(&c)?;
    // Record.
    let recording = Arc::new(Recording::default());
    let recorder = Arc::new(config(s, &c.server, recording.clone())?);
    let mut flights = Vec::with_capacity(n);
    for _ in 0..n {
        let mut client =
            ClientConnection::new(c.client.clone(), "localhost").map_err(|e| e.to_string())?;
        let mut server = ServerConnection::new(recorder.clone());
        let mut hello = Vec::new();
        client.output(&mut hello)?;
        server.input(&mut hello.clone())?;
        let mut b = Vec::new();
        server.output(&mut b)?;
        client.input(&mut b)?;
        let mut finished = Vec::new();
        client.output(&mut finished)?;
        server.input(&mut finished.clone())?;
        if !server.resumed() || !server.open() {
            return Err("not resumed while recording".into());
        }
        flights.push((hello, finished));
    }
    let bytes = std::mem::take(&mut *recording.0.lock().map_err(|_| "lock")?);
    // Replay, server only.
    let mut out = Vec::with_capacity(4096);
    let mut pool = None;
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let replaying = Arc::new(Replaying {
            bytes: bytes.clone(),
            at: AtomicUsize::new(0),
        });
        let server_config = Arc::new(config(s, &c.server, replaying)?);
        let mut input = flights.clone();
        let t = Instant::now();
        replay_round(&server_config, &mut input, &mut pool, &mut out)?;
        best = best.min(t.elapsed().as_secs_f64() / n as f64);
    }
    println!(
        "server per resumed handshake: {:.2} µs (best of {rounds})",
        best * 1e6
    );
    Ok(())
}
