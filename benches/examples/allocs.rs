//! Heap allocations per server call of a resumed handshake, phase by phase (round 0 is the
//! full handshake; later rounds resume on the previous connection's buffers).
use reprise::{ClientConnection, ServerConnection};
use reprise_benches::alloc::{snapshot, StatsAlloc, INSTRUMENTED_SYSTEM};
use reprise_benches::cases::{Endpoint, Handshakes, Stack};
use reprise_benches::setup::{self, Resume, Scenario};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() -> Result<(), String> {
    {
        let mut hs = Handshakes::new(Stack::Reprise, Scenario::resumed(Resume::SessionId))?;
        hs.set_recycling(true);
        for _ in 0..5 {
            let mut m = reprise_benches::meter::Allocs::default();
            hs.run(&mut m)?;
            println!(
                "Handshakes (recycled): server {} client {}",
                m.server, m.client
            );
        }
    }
    for resume in [Resume::SessionId, Resume::Ticket] {
        let s = Scenario::resumed(resume);
        let _ = Handshakes::new(Stack::Reprise, s)?;
        let c = setup::reprise(s)?;
        let mut pool = None;
        for round in 0..4 {
            let mut client =
                ClientConnection::new(c.client.clone(), "localhost").map_err(|e| e.to_string())?;
            let m = snapshot();
            let mut server = match pool.take() {
                Some(b) => ServerConnection::with_buffers(c.server.clone(), b),
                None => ServerConnection::new(c.server.clone()),
            };
            let mut phases = vec![("new", snapshot().calls - m.calls)];
            for i in 0..4 {
                let mut c2s = Vec::with_capacity(4096);
                let mut s2c = Vec::with_capacity(4096);
                client.output(&mut c2s)?;
                let m = snapshot();
                if !c2s.is_empty() {
                    server.input(&mut c2s)?;
                }
                phases.push((["in1", "in2", "in3", "in4"][i], snapshot().calls - m.calls));
                let m = snapshot();
                server.output(&mut s2c)?;
                phases.push((
                    ["out1", "out2", "out3", "out4"][i],
                    snapshot().calls - m.calls,
                ));
                if !s2c.is_empty() {
                    client.input(&mut s2c)?;
                }
            }
            println!(
                "{resume:?} round {round} resumed={} {:?}",
                server.resumed(),
                phases
            );
            pool = Some(server.into_buffers());
        }
    }
    Ok(())
}
