//! `reprise bench`: every case on both stacks without criterion (median of timed batches,
//! the two stacks' batches interleaved), the primitive floors, allocation counts and memory
//! figures, and one verdict line per goal.

use std::fmt;
use std::time::{Duration, Instant};

use crate::alloc;
use crate::cases::{Bulk, Cache, Direction, Handshakes, Stack, Tickets, RECORD};
use crate::meter::{Allocs, Meter};
use crate::primitives::{self, names};
use crate::setup::{Resume, Scenario};

/// How long each timed batch runs, and how many batches make a median.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Target measured time per batch.
    pub batch: Duration,
    /// Batches per case and stack.
    pub batches: usize,
}

impl Budget {
    /// `--quick`: 41 batches of about 2 ms per contender (the whole run takes well under two
    /// minutes). Batches shorter than a scheduler time slice, many of them, and the median:
    /// on a machine busy with other work most batches still run undisturbed.
    pub const QUICK: Budget = Budget {
        batch: Duration::from_millis(2),
        batches: 41,
    };
    /// The default: 101 batches of about 5 ms.
    pub const FULL: Budget = Budget {
        batch: Duration::from_millis(5),
        batches: 101,
    };
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Operations per batch so that `f` takes about `target` (by its first measured quantity).
fn calibrate(target: Duration, f: &mut dyn FnMut(u64) -> Vec<Duration>) -> u64 {
    let mut n = 1u64;
    loop {
        let d = f(n)[0];
        if d >= target / 4 || n >= 1 << 30 {
            let per = d.as_secs_f64() / n as f64;
            return ((target.as_secs_f64() / per.max(1e-12)) as u64).clamp(1, 1 << 32);
        }
        n *= 2;
    }
}

/// A contender: runs `n` operations and returns the time of each quantity it measures.
pub type Runner<'a> = Box<dyn FnMut(u64) -> Vec<Duration> + 'a>;

/// Median operations per second of each contender's quantities; the contenders' batches
/// alternate, so a machine busy with other work slows them alike.
pub fn rates(budget: Budget, mut runners: Vec<Runner<'_>>) -> Vec<Vec<f64>> {
    let sizes: Vec<u64> = runners
        .iter_mut()
        .map(|r| calibrate(budget.batch, r.as_mut()))
        .collect();
    let mut samples: Vec<Vec<Vec<f64>>> = runners.iter().map(|_| Vec::new()).collect();
    for _ in 0..budget.batches {
        for (i, r) in runners.iter_mut().enumerate() {
            let n = sizes[i];
            let ds = r(n);
            if samples[i].is_empty() {
                samples[i] = vec![Vec::new(); ds.len()];
            }
            for (k, d) in ds.iter().enumerate() {
                samples[i][k].push(n as f64 / d.as_secs_f64().max(1e-12));
            }
        }
    }
    samples
        .into_iter()
        .map(|per| per.into_iter().map(median).collect())
        .collect()
}

/// Median operations per second of one quantity.
pub fn rate(budget: Budget, mut f: impl FnMut(u64) -> Duration) -> f64 {
    rates(budget, vec![Box::new(move |n| vec![f(n)])])[0][0]
}

/// One line of the comparison table.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was measured.
    pub case: String,
    /// Unit of the rates (`hs/s`, `MB/s`, `op/s`).
    pub unit: &'static str,
    /// Reprise's rate.
    pub reprise: f64,
    /// rustls's rate.
    pub rustls: f64,
    /// The floor's rate (the primitives alone), when the case has one.
    pub floor: Option<f64>,
}

impl Row {
    /// Reprise / rustls.
    pub fn ratio(&self) -> f64 {
        self.reprise / self.rustls
    }

    /// Reprise's rate as a fraction of its floor's rate.
    pub fn of_floor(&self) -> Option<f64> {
        self.floor.map(|f| self.reprise / f)
    }
}

/// Heap allocations per handshake, per side and stack.
#[derive(Clone, Debug)]
pub struct AllocRow {
    /// The scenario.
    pub case: String,
    /// Reprise server, fresh connection.
    pub reprise_server: f64,
    /// Reprise server, connection built on recycled buffers.
    pub reprise_server_recycled: f64,
    /// Reprise client.
    pub reprise_client: f64,
    /// rustls server.
    pub rustls_server: f64,
    /// rustls client.
    pub rustls_client: f64,
}

/// One goal's verdict.
#[derive(Clone, Debug)]
pub struct Goal {
    /// The goal, with the measured value.
    pub text: String,
    /// Whether it was met.
    pub met: bool,
}

/// Everything `reprise bench` prints.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The comparison table.
    pub rows: Vec<Row>,
    /// Seconds per operation of each primitive.
    pub primitives: Vec<(&'static str, f64)>,
    /// Allocation counts, when the counting allocator is installed.
    pub allocs: Option<Vec<AllocRow>>,
    /// `SessionCache::bytes_per_session` of a cache sized for the cache case.
    pub bytes_per_session: f64,
    /// Heap bytes per session of rustls's `ServerSessionMemoryCache` (allocator-measured).
    pub rustls_bytes_per_session: Option<f64>,
    /// Reprise: `size_of` a server connection, and its Rust heap after the handshake.
    pub idle_connection: (usize, Option<i64>),
    /// rustls: the same.
    pub rustls_idle_connection: (usize, Option<i64>),
    /// The verdicts.
    pub goals: Vec<Goal>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

fn per_sec(d: Duration, n: u64) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-12)
}

/// The crypto floor of one server handshake (the primitives it cannot avoid, see
/// [`primitives::server_floor`], plus hashing its transcript), in seconds, for the cases the
/// loopback benchmark runs: full ECDSA P-256 / X25519, session-ID and ticket resumption.
/// `scripts/bench-loopback.sh` adds it to the measured bare-TCP cost to compare servers
/// with what a handshake must cost on the machine.
pub fn server_floors(budget: Budget) -> Result<Vec<(&'static str, f64)>, String> {
    use crate::pki::CertKind;
    use crate::setup::{Group, Resume};
    let cases = [
        ("full", Scenario::full(CertKind::EcdsaP256, Group::X25519)),
        ("id", Scenario::resumed(Resume::SessionId)),
        ("ticket", Scenario::resumed(Resume::Ticket)),
    ];
    let mut floors = Vec::new();
    for (name, scenario) in cases {
        let ours = Handshakes::new(Stack::Reprise, scenario)?;
        let mut floor_run = primitives::floor_runner(scenario, ours.transcript_bytes())?;
        floors.push((name, 1.0 / rate(budget, &mut floor_run)));
    }
    Ok(floors)
}

/// Runs every case; `quick` uses [`Budget::QUICK`].
pub fn run(quick: bool) -> Result<Report, String> {
    run_with(if quick { Budget::QUICK } else { Budget::FULL })
}

/// Runs every case with `budget`.
pub fn run_with(budget: Budget) -> Result<Report, String> {
    let started = Instant::now();
    let mut report = Report::default();

    // Primitives first: their costs make the floors.
    for mut p in primitives::all()? {
        let r = rate(budget, &mut p.run);
        report.primitives.push((p.name, 1.0 / r));
    }

    for scenario in crate::cases::scenarios() {
        let mut ours = Handshakes::new(Stack::Reprise, scenario)?;
        // As Reprise's drivers build them (io-core keeps a free list of engine buffers).
        ours.set_recycling(true);
        let mut theirs = Handshakes::new(Stack::Rustls, scenario)?;
        let run = |hs: &mut Handshakes, n: u64| {
            let mut t = crate::meter::Timer::default();
            for _ in 0..n {
                if let Err(e) = hs.run(&mut t) {
                    panic!("{}: {e}", hs.scenario().label());
                }
            }
            vec![
                t.get(crate::meter::Role::Server),
                t.get(crate::meter::Role::Client),
            ]
        };
        // The floors count the primitives of a handshake without client certificates.
        let mut floor_run = primitives::floor_runner(scenario, ours.transcript_bytes())?;
        let mut runners: Vec<Runner<'_>> = vec![
            Box::new(|n| run(&mut ours, n)),
            Box::new(|n| run(&mut theirs, n)),
        ];
        if !scenario.mutual {
            runners.push(Box::new(|n| vec![floor_run(n)]));
        }
        let res = rates(budget, runners);
        let (r, l, floor) = (&res[0], &res[1], res.get(2).map(|f| f[0]));
        report.rows.push(Row {
            case: format!("{} server", scenario.label()),
            unit: "hs/s",
            reprise: r[0],
            rustls: l[0],
            floor,
        });
        report.rows.push(Row {
            case: format!("{} client", scenario.label()),
            unit: "hs/s",
            reprise: r[1],
            rustls: l[1],
            floor: None,
        });
    }

    for (dir, name, prim) in [
        (
            Direction::Send,
            "bulk send 16KiB records",
            names::AEAD_SEAL_16K,
        ),
        (
            Direction::Receive,
            "bulk receive 16KiB records",
            names::AEAD_OPEN_16K,
        ),
    ] {
        let mut ours = Bulk::new(Stack::Reprise)?;
        let mut theirs = Bulk::new(Stack::Rustls)?;
        let mut floor_run = primitives::by_name(prim)?;
        let res = rates(
            budget,
            vec![
                Box::new(|n| vec![ours.time(n, dir)]),
                Box::new(|n| vec![theirs.time(n, dir)]),
                Box::new(|n| vec![floor_run(n)]),
            ],
        );
        let mb = RECORD as f64 / 1e6;
        report.rows.push(Row {
            case: name.into(),
            unit: "MB/s",
            reprise: res[0][0] * mb,
            rustls: res[1][0] * mb,
            floor: Some(res[2][0] * mb),
        });
    }

    let mut ours = Tickets::new(Stack::Reprise)?;
    let mut theirs = Tickets::new(Stack::Rustls)?;
    let res = rates(
        budget,
        vec![
            Box::new(|n| vec![ours.seal(n)]),
            Box::new(|n| vec![theirs.seal(n)]),
        ],
    );
    report.rows.push(Row {
        case: "ticket seal".into(),
        unit: "op/s",
        reprise: res[0][0],
        rustls: res[1][0],
        floor: None,
    });
    let mut floor_run = primitives::by_name(names::TICKET_OPEN)?;
    let res = rates(
        budget,
        vec![
            Box::new(|n| vec![ours.open(n)]),
            Box::new(|n| vec![theirs.open(n)]),
            Box::new(|n| vec![floor_run(n)]),
        ],
    );
    report.rows.push(Row {
        case: "ticket open".into(),
        unit: "op/s",
        reprise: res[0][0],
        rustls: res[1][0],
        floor: Some(res[2][0]),
    });

    let n = if budget.batch < Duration::from_millis(5) {
        50_000
    } else {
        200_000
    };
    let (mut rr, mut rl) = (Vec::new(), Vec::new());
    for _ in 0..budget.batches.min(5) {
        let (ops, d) = Cache::new(Stack::Reprise).run(n);
        rr.push(per_sec(d, ops));
        let (ops, d) = Cache::new(Stack::Rustls).run(n);
        rl.push(per_sec(d, ops));
    }
    report.rows.push(Row {
        case: "session cache get+put, 2 threads".into(),
        unit: "op/s",
        reprise: median(rr),
        rustls: median(rl),
        floor: None,
    });

    for resume in [Resume::SessionId, Resume::Ticket] {
        report
            .rows
            .push(two_threads(budget, Scenario::resumed(resume))?);
    }

    memory(&mut report)?;
    report.goals = goals(&report);
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Server handshakes per second of server time on one thread, then on each of two threads
/// at once resuming against the same server config (one session cache, one ticket ring), for
/// both stacks. The row's rates are the two threads' sum as a fraction of twice the one
/// thread's: 1.0 when nothing the threads share slows them.
fn two_threads(budget: Budget, scenario: Scenario) -> Result<Row, String> {
    let rounds = budget.batches.min(9);
    let slice = budget.batch * 20;
    let mut ratios = [Vec::new(), Vec::new()];
    for (i, stack) in [Stack::Reprise, Stack::Rustls].into_iter().enumerate() {
        let mut first = Handshakes::new(stack, scenario)?;
        let mut second = first.sharing_server()?;
        // Server-time rate of `hs` over `slice` of wall time.
        let measure = |hs: &mut Handshakes| {
            let mut t = crate::meter::Timer::default();
            let (mut n, start) = (0u64, Instant::now());
            while start.elapsed() < slice {
                for _ in 0..64 {
                    if let Err(e) = hs.run(&mut t) {
                        panic!("{}: {e}", hs.scenario().label());
                    }
                }
                n += 64;
            }
            per_sec(t.get(crate::meter::Role::Server), n)
        };
        for _ in 0..rounds {
            let alone = measure(&mut first);
            let barrier = std::sync::Barrier::new(2);
            let (a, b) = std::thread::scope(|s| {
                let one = s.spawn(|| {
                    barrier.wait();
                    measure(&mut first)
                });
                barrier.wait();
                let b = measure(&mut second);
                (one.join().unwrap_or(0.0), b)
            });
            ratios[i].push((a + b) / (2.0 * alone));
        }
    }
    let [ours, theirs] = ratios;
    Ok(Row {
        case: format!("{} server, 2 threads / 2 x 1", scenario.label()),
        unit: "ratio",
        reprise: median(ours),
        rustls: median(theirs),
        floor: None,
    })
}

fn count<M: Meter + Default>(
    stack: Stack,
    scenario: Scenario,
    recycled: bool,
    f: impl Fn(&M) -> (u64, u64),
) -> Result<(f64, f64), String> {
    let mut hs = Handshakes::new(stack, scenario)?;
    hs.set_recycling(recycled);
    for _ in 0..20 {
        hs.run(&mut crate::meter::NoMeter)?;
    }
    const N: usize = 50;
    let mut m = M::default();
    for _ in 0..N {
        hs.run(&mut m)?;
    }
    let (s, c) = f(&m);
    Ok((s as f64 / N as f64, c as f64 / N as f64))
}

fn memory(report: &mut Report) -> Result<(), String> {
    report.bytes_per_session = match Cache::new(Stack::Reprise) {
        Cache::Reprise(c) => c.bytes_per_session(),
        Cache::Rustls(_) => 0.0,
    };
    report.idle_connection.0 = core::mem::size_of::<reprise::ServerConnection>();
    report.rustls_idle_connection.0 = core::mem::size_of::<rustls::ServerConnection>();
    if !alloc::is_counting() {
        return Ok(());
    }
    let mut rows = Vec::new();
    for scenario in crate::cases::scenarios() {
        let pick = |m: &Allocs| (m.server, m.client);
        let (rs, rc) = count::<Allocs>(Stack::Reprise, scenario, false, pick)?;
        let (rs2, _) = count::<Allocs>(Stack::Reprise, scenario, true, pick)?;
        let (ls, lc) = count::<Allocs>(Stack::Rustls, scenario, false, pick)?;
        rows.push(AllocRow {
            case: scenario.label(),
            reprise_server: rs,
            reprise_server_recycled: rs2,
            reprise_client: rc,
            rustls_server: ls,
            rustls_client: lc,
        });
    }
    report.allocs = Some(rows);
    let scenario = crate::cases::scenarios()[0];
    report.idle_connection.1 = Some(Handshakes::new(Stack::Reprise, scenario)?.idle_heap()?);
    report.rustls_idle_connection.1 = Some(Handshakes::new(Stack::Rustls, scenario)?.idle_heap()?);
    let cache = Cache::new(Stack::Rustls);
    let ((), grown) = alloc::measure(|| cache.fill(crate::cases::CACHE_SESSIONS as u64));
    report.rustls_bytes_per_session = Some(grown.live as f64 / crate::cases::CACHE_SESSIONS as f64);
    drop(cache);
    Ok(())
}

fn find<'a>(report: &'a Report, case: &str) -> Option<&'a Row> {
    report.rows.iter().find(|r| r.case == case)
}

fn goals(report: &Report) -> Vec<Goal> {
    let mut goals = Vec::new();
    let mut floor_goal = |case: &str, label: &str, min: f64| {
        if let Some(row) = find(report, case) {
            let f = row.of_floor().unwrap_or(0.0);
            goals.push(Goal {
                text: format!(
                    "{label}: ≥ {min:.2} of floor — {f:.2} of floor, {:.2}× rustls",
                    row.ratio()
                ),
                met: f >= min,
            });
        }
    };
    floor_goal(
        "resume session-id server",
        "session-ID resumption, server",
        0.90,
    );
    floor_goal("resume ticket server", "ticket resumption, server", 0.85);
    let full: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| r.case.starts_with("full ") && r.case.ends_with(" server"))
        .collect();
    if let Some(worst) = full.iter().min_by(|a, b| {
        a.of_floor()
            .unwrap_or(0.0)
            .total_cmp(&b.of_floor().unwrap_or(0.0))
    }) {
        let f = worst.of_floor().unwrap_or(0.0);
        let min_ratio = full.iter().map(|r| r.ratio()).fold(f64::INFINITY, f64::min);
        goals.push(Goal {
            text: format!(
                "full handshake, server: ≥ 0.97 of floor and ≥ 1.05× rustls (all {} variants) — worst {f:.2} of floor ({}), worst {min_ratio:.2}× rustls",
                full.len(),
                worst.case
            ),
            met: f >= 0.97 && min_ratio >= 1.05,
        });
    }
    let clients: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| r.case.starts_with("full ") && r.case.ends_with(" client"))
        .collect();
    if !clients.is_empty() {
        let worst = clients
            .iter()
            .map(|r| r.ratio())
            .fold(f64::INFINITY, f64::min);
        goals.push(Goal {
            text: format!(
                "full handshake, client: ≥ 1.00× rustls (all {} variants) — worst {worst:.2}×",
                clients.len()
            ),
            met: worst >= 1.0,
        });
    }
    for (case, label, min) in [
        ("bulk send 16KiB records", "bulk send", 0.95),
        ("bulk receive 16KiB records", "bulk receive", 0.90),
    ] {
        if let Some(row) = find(report, case) {
            let f = row.of_floor().unwrap_or(0.0);
            goals.push(Goal {
                text: format!(
                    "{label}: ≥ {min:.2} of the AES-128-GCM rate — {f:.2}, {:.2}× rustls",
                    row.ratio()
                ),
                met: f >= min,
            });
        }
    }
    let mutual_full = ["server", "client"]
        .map(|side| find(report, &format!("mutual full ecdsa-p256 x25519 {side}")).map(Row::ratio));
    if let [Some(server), Some(client)] = mutual_full {
        goals.push(Goal {
            text: format!(
                "mutual full handshake: ≥ 1.00× rustls, server and client — server {server:.2}×, client {client:.2}×"
            ),
            met: server >= 1.0 && client >= 1.0,
        });
    }
    let full_rate = find(report, "mutual full ecdsa-p256 x25519 server").map(|r| r.reprise);
    for kind in ["session-id", "ticket"] {
        if let (Some(row), Some(full)) = (
            find(report, &format!("mutual resume {kind} server")),
            full_rate,
        ) {
            let own = row.reprise / full;
            goals.push(Goal {
                text: format!(
                    "mutual {kind} resumption, server: ≥ 1.5× rustls and ≥ 5× Reprise's mutual full — {:.2}× rustls, {own:.1}× mutual full",
                    row.ratio()
                ),
                met: row.ratio() >= 1.5 && own >= 5.0,
            });
        }
    }
    for kind in ["session-id", "ticket"] {
        if let Some(row) = find(report, &format!("resume {kind} server, 2 threads / 2 x 1")) {
            goals.push(Goal {
                text: format!(
                    "{kind} resumption on 2 threads sharing one config: ≥ 0.95 of 2 × one thread — {:.2} (rustls {:.2})",
                    row.reprise, row.rustls
                ),
                met: row.reprise >= 0.95,
            });
        }
    }
    match &report.allocs {
        Some(rows) => {
            let resumed: Vec<&AllocRow> = rows
                .iter()
                .filter(|r| r.case.starts_with("resume") || r.case.starts_with("mutual resume"))
                .collect();
            let worst = resumed
                .iter()
                .map(|r| r.reprise_server_recycled)
                .fold(0.0, f64::max);
            let fresh = resumed.iter().map(|r| r.reprise_server).fold(0.0, f64::max);
            goals.push(Goal {
                text: format!(
                    "0 heap allocations per resumed server handshake, mutual ones too (after warm-up: recycled buffers) — {worst:.1} (fresh connection: {fresh:.1})"
                ),
                met: worst == 0.0,
            });
        }
        None => goals.push(Goal {
            text: "0 heap allocations per resumed server handshake — not measured (counting allocator not installed)".into(),
            met: false,
        }),
    }
    goals.push(Goal {
        text: format!(
            "≤ 128 B per cached session — {:.1} B",
            report.bytes_per_session
        ),
        met: report.bytes_per_session <= 128.0,
    });
    goals
}

fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<36} {:>5} {:>10} {:>10} {:>7} {:>10} {:>8}",
            "case", "unit", "Reprise/s", "rustls/s", "ratio", "floor/s", "of floor"
        )?;
        for r in &self.rows {
            let (floor, of) = match r.floor {
                Some(fl) => (si(fl), format!("{:.2}", r.reprise / fl)),
                None => ("-".into(), "-".into()),
            };
            let rate = |v: f64| {
                if r.unit == "ratio" {
                    format!("{v:.2}")
                } else {
                    si(v)
                }
            };
            writeln!(
                f,
                "{:<36} {:>5} {:>10} {:>10} {:>6.2}x {:>10} {:>8}",
                r.case,
                r.unit,
                rate(r.reprise),
                rate(r.rustls),
                r.ratio(),
                floor,
                of
            )?;
        }
        writeln!(
            f,
            "(Reprise's server connections are built on recycled buffers, as its drivers build them; per-call timers net of the clock's cost)"
        )?;
        writeln!(f)?;
        writeln!(f, "primitives (aws-lc-rs), cost per operation:")?;
        for (name, secs) in &self.primitives {
            writeln!(f, "  {name:<24} {:>10.2} µs", secs * 1e6)?;
        }
        writeln!(f)?;
        match &self.allocs {
            Some(rows) => {
                writeln!(
                    f,
                    "heap allocations per handshake (Rust allocator via allocation-counter; aws-lc's C mallocs not seen):"
                )?;
                writeln!(
                    f,
                    "  {:<28} {:>8} {:>10} {:>8} {:>8} {:>8}",
                    "case", "server", "srv reuse", "client", "rustls S", "rustls C"
                )?;
                for r in rows {
                    writeln!(
                        f,
                        "  {:<28} {:>8.1} {:>10.1} {:>8.1} {:>8.1} {:>8.1}",
                        r.case,
                        r.reprise_server,
                        r.reprise_server_recycled,
                        r.reprise_client,
                        r.rustls_server,
                        r.rustls_client
                    )?;
                }
            }
            None => writeln!(
                f,
                "heap allocations: not counted (counting allocator not installed)"
            )?,
        }
        let heap = |h: Option<i64>| h.map_or("?".to_string(), |b| format!("{b}"));
        writeln!(
            f,
            "bytes per cached session: {:.1} (SessionCache::bytes_per_session); rustls ServerSessionMemoryCache: {}",
            self.bytes_per_session,
            self.rustls_bytes_per_session
                .map_or("?".into(), |b| format!("{b:.1} (heap growth / sessions)"))
        )?;
        writeln!(
            f,
            "idle server connection after a full handshake: Reprise {} B struct + {} B heap; rustls {} B struct + {} B heap",
            self.idle_connection.0,
            heap(self.idle_connection.1),
            self.rustls_idle_connection.0,
            heap(self.rustls_idle_connection.1)
        )?;
        writeln!(f)?;
        for g in &self.goals {
            writeln!(
                f,
                "goal {}: {}",
                if g.met { "met" } else { "not met" },
                g.text
            )?;
        }
        writeln!(f, "bench took {:.1} s", self.elapsed.as_secs_f64())
    }
}
