//! Server time per phase of a resumed handshake (`phases [sid|ticket] [n]`), to see where the
//! time beyond the primitives goes.
use std::time::{Duration, Instant};

use reprise::{ClientConnection, ServerConnection};
use reprise_benches::cases::{Endpoint, Handshakes, Stack};
use reprise_benches::setup::{self, Resume, Scenario};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let resume = Resume::from_arg(args.get(1).map(String::as_str));
    let n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let s = Scenario::resumed(resume);
    let _ = Handshakes::new(Stack::Reprise, s)?;
    let c = setup::reprise(s)?;
    setup::prime_session(&c)?;
    let names = ["new", "ClientHello", "flight out", "Finished in", "drop"];
    let mut acc = [Duration::ZERO; 5];
    let mut pool = None;
    let (mut c2s, mut s2c) = (Vec::with_capacity(4096), Vec::with_capacity(4096));
    for _ in 0..n {
        let mut client =
            ClientConnection::new(c.client.clone(), "localhost").map_err(|e| e.to_string())?;
        c2s.clear();
        client.output(&mut c2s)?;
        let t = Instant::now();
        let mut server = match pool.take() {
            Some(b) => ServerConnection::with_buffers(c.server.clone(), b),
            None => ServerConnection::new(c.server.clone()),
        };
        acc[0] += t.elapsed();
        let t = Instant::now();
        server.input(&mut c2s)?;
        acc[1] += t.elapsed();
        s2c.clear();
        let t = Instant::now();
        server.output(&mut s2c)?;
        acc[2] += t.elapsed();
        client.input(&mut s2c)?;
        c2s.clear();
        client.output(&mut c2s)?;
        let t = Instant::now();
        server.input(&mut c2s)?;
        acc[3] += t.elapsed();
        if !server.resumed() || !server.open() {
            return Err("not resumed".into());
        }
        let t = Instant::now();
        pool = Some(server.into_buffers());
        acc[4] += t.elapsed();
    }
    let total: Duration = acc.iter().sum();
    for (name, d) in names.iter().zip(acc) {
        println!("{name:<12} {:>7.2} µs", d.as_secs_f64() * 1e6 / n as f64);
    }
    println!(
        "{:<12} {:>7.2} µs",
        "total",
        total.as_secs_f64() * 1e6 / n as f64
    );
    Ok(())
}
