//! Criterion benches: each group runs Reprise and rustls on the same work.
//!
//! Handshake groups time one side only (`iter_custom` returns the time spent in that side's
//! calls while the two connections talk in memory), as rustls's own bench does.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use reprise_benches::cases::{self, Bulk, Cache, Direction, Handshakes, Stack, Tickets, RECORD};
use reprise_benches::meter::Role;
use reprise_benches::primitives;

const STACKS: [Stack; 2] = [Stack::Reprise, Stack::Rustls];

fn name(stack: Stack) -> &'static str {
    match stack {
        Stack::Reprise => "reprise",
        Stack::Rustls => "rustls",
    }
}

fn handshakes(c: &mut Criterion) {
    for scenario in cases::scenarios() {
        for role in [Role::Server, Role::Client] {
            let label = format!(
                "{} {}",
                scenario.label(),
                if role == Role::Server {
                    "server"
                } else {
                    "client"
                }
            );
            let mut g = c.benchmark_group(label);
            g.throughput(Throughput::Elements(1));
            for stack in STACKS {
                let mut hs = Handshakes::new(stack, scenario).expect("setup");
                g.bench_function(BenchmarkId::from_parameter(name(stack)), |b| {
                    b.iter_custom(|n| hs.time(n, role))
                });
            }
            g.finish();
        }
    }
}

fn bulk(c: &mut Criterion) {
    for dir in [Direction::Send, Direction::Receive] {
        let mut g = c.benchmark_group(format!("bulk {dir:?} 16KiB"));
        g.throughput(Throughput::Bytes(RECORD as u64));
        for stack in STACKS {
            let mut b2 = Bulk::new(stack).expect("setup");
            g.bench_function(BenchmarkId::from_parameter(name(stack)), |b| {
                b.iter_custom(|n| b2.time(n, dir))
            });
        }
        g.finish();
    }
}

fn tickets(c: &mut Criterion) {
    for seal in [true, false] {
        let mut g = c.benchmark_group(if seal { "ticket seal" } else { "ticket open" });
        for stack in STACKS {
            let mut t = Tickets::new(stack).expect("setup");
            g.bench_function(BenchmarkId::from_parameter(name(stack)), |b| {
                b.iter_custom(|n| if seal { t.seal(n) } else { t.open(n) })
            });
        }
        g.finish();
    }
}

fn cache(c: &mut Criterion) {
    let mut g = c.benchmark_group("session cache 2 threads (4 ops per iteration)");
    g.throughput(Throughput::Elements(4));
    for stack in STACKS {
        let cache = Cache::new(stack);
        g.bench_function(BenchmarkId::from_parameter(name(stack)), |b| {
            b.iter_custom(|n| cache.run(n).1)
        });
    }
    g.finish();
}

fn primitives(c: &mut Criterion) {
    let mut g = c.benchmark_group("primitives");
    for mut p in primitives::all().expect("primitives") {
        g.bench_function(p.name, |b| b.iter_custom(|n| (p.run)(n)));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = handshakes, bulk, tickets, cache, primitives
}
criterion_main!(benches);
