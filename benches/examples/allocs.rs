//! Heap allocations per resumed handshake on each side, on fresh and on recycled server
//! connections. Run with `--features count-allocations`.
use reprise_benches::cases::{Handshakes, Stack};
use reprise_benches::meter::Allocs;
use reprise_benches::setup::{Resume, Scenario};

fn main() -> Result<(), String> {
    if !reprise_benches::alloc::is_counting() {
        return Err("build with --features count-allocations".into());
    }
    for resume in [Resume::SessionId, Resume::Ticket] {
        for recycle in [false, true] {
            let mut hs = Handshakes::new(Stack::Reprise, Scenario::resumed(resume))?;
            hs.set_recycling(recycle);
            let mut per = Vec::new();
            for _ in 0..5 {
                let mut m = Allocs::default();
                hs.run(&mut m)?;
                per.push((m.server, m.client));
            }
            println!("{resume:?} recycled={recycle}: (server, client) per handshake {per:?}");
        }
    }
    Ok(())
}
