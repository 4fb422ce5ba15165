//! The cost of the business-cycle baseline: store size per edge per day, and
//! the time to classify the recurrence of 100,000 edges.
//!
//! Run with `cargo bench --bench baseline` (optionally
//! `DEPMAP_BENCH_EDGES=N`, default 100,000, and `DEPMAP_BENCH_DAYS=N`,
//! default 35). It
//!
//! 1. makes N edges with a realistic mix of activity over the days (40%
//!    continuous, 30% business hours, 10% daily, 10% weekly, 5% monthly, 5%
//!    one-off; figures log-uniform), IPv4 and IPv6 clients,
//! 2. writes them into a real SQLite store (`depmap_store::Store::write`),
//!    one batch per day as an agent's daily flushes would, so every edge is
//!    upserted once per active day and has one `edge_days` row per active
//!    day,
//! 3. closes the store (SQLite checkpoints the WAL into the main file) and
//!    prints the file size (plus any WAL left) per edge per day of the span,
//!    and per stored day row,
//! 4. reads the activity back (`Store::activity`) and times
//!    `depmap_edges::recurrence::classify` over every edge, best of 5 by
//!    CPU time on one thread, and prints the patterns found.
//!
//! Targets (issue 5): under 200 bytes per edge per day, under 2 s for
//! 100,000 edges on one core. The figures are in `docs/STORE.md`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use depmap_edges::calendar::{civil, days_from_civil, weekday};
use depmap_edges::recurrence::{classify, RecurrenceConfig};
use depmap_edges::{DayActivity, EdgeKey, EdgeStats, NANOS_PER_DAY, NANOS_PER_HOUR};
use depmap_store::{Batch, Commit, MapStore, Store};
use depmap_synth::Rng;
use nix::sys::resource::{getrusage, UsageWho};

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time (user + system) of this thread so far.
fn thread_cpu() -> Duration {
    let u = getrusage(UsageWho::RUSAGE_THREAD).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(u.user_time()) + tv(u.system_time())
}

/// How an edge of the benchmark behaves.
#[derive(Clone, Copy)]
enum Shape {
    Continuous,
    BusinessHours,
    Daily(u32),
    Weekly(u32, u32),
    Monthly(u32, u32),
    OneOff(i32, u32),
}

/// The benchmark's edges: `n` distinct (client, server, port) triples.
fn edges(n: usize, days: i32, rng: &mut Rng) -> Vec<(EdgeKey, Shape)> {
    const SERVICES: [(u16, u8); 10] = [
        (443, 6),
        (5432, 6),
        (6379, 6),
        (53, 17),
        (8080, 6),
        (22, 6),
        (9100, 6),
        (389, 6),
        (25, 6),
        (123, 17),
    ];
    const CLIENTS: usize = 5_000;
    (0..n)
        .map(|i| {
            let c = i % CLIENTS;
            let s = i / CLIENTS;
            // Every fifth client is IPv6 and calls the server's IPv6 address.
            let (client, server): (IpAddr, IpAddr) = if c.is_multiple_of(5) {
                (
                    format!("fd00:10:1::{:x}", c + 1).parse().unwrap(),
                    format!("fd00:10:2::{:x}", s + 1).parse().unwrap(),
                )
            } else {
                (
                    format!("10.1.{}.{}", c / 250, c % 250 + 1).parse().unwrap(),
                    format!("10.2.{}.{}", s / 250, s % 250 + 1).parse().unwrap(),
                )
            };
            let (port, proto) = SERVICES[s % SERVICES.len()];
            let key = EdgeKey {
                client,
                server,
                port,
                proto,
            };
            let hour = rng.range(0, 23) as u32;
            let shape = match i % 20 {
                0..=7 => Shape::Continuous,
                8..=13 => Shape::BusinessHours,
                14..=15 => Shape::Daily(hour),
                16..=17 => Shape::Weekly(rng.below(7) as u32, hour),
                18 => Shape::Monthly(rng.range(1, 28) as u32, hour),
                _ => Shape::OneOff(rng.below(days as u64) as i32, hour),
            };
            (key, shape)
        })
        .collect()
}

/// The activity of an edge of `shape` on `day` (index `d` of the span), if any.
fn activity(shape: Shape, day: i32, d: i32, rng: &mut Rng) -> Option<u32> {
    let wd = weekday(day);
    let hours = match shape {
        Shape::Continuous => {
            let mut h = 0u32;
            for bit in 0..24 {
                if rng.percent(90) {
                    h |= 1 << bit;
                }
            }
            h
        }
        Shape::BusinessHours if wd < 5 => {
            let mut h = 0u32;
            for bit in 8..18 {
                if rng.percent(80) {
                    h |= 1 << bit;
                }
            }
            h
        }
        Shape::Daily(hour) => 1 << hour,
        Shape::Weekly(w, hour) if wd == w => 1 << hour,
        Shape::Monthly(dom, hour) if civil(day).2 == dom => 1 << hour,
        Shape::OneOff(at, hour) if at == d => 1 << hour,
        _ => 0,
    };
    (hours != 0).then_some(hours)
}

/// Log-uniform in `lo..hi`.
fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> u64 {
    (lo * (hi / lo).powf(rng.unit())) as u64
}

fn main() {
    // `cargo test --benches` runs benches with --bench absent; do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n = env_or("DEPMAP_BENCH_EDGES", 100_000);
    let days = env_or("DEPMAP_BENCH_DAYS", 35) as i32;
    let start = days_from_civil(2026, 10, 1);
    let mut rng = Rng::new(5);
    let edges = edges(n, days, &mut rng);

    let dir = target_dir().join("bench-data");
    fs::create_dir_all(&dir).unwrap();
    let db = dir.join("baseline.db");
    let files = |db: &Path| -> Vec<PathBuf> {
        ["", "-wal", "-shm"]
            .iter()
            .map(|s| PathBuf::from(format!("{}{s}", db.display())))
            .collect()
    };
    for f in files(&db) {
        let _ = fs::remove_file(f);
    }

    // One batch per day, as an agent's daily flush would write it.
    let mut store = Store::open(&db).unwrap();
    let t = Instant::now();
    let mut rows = 0u64;
    for d in 0..days {
        let day = start + d;
        let mut batch = Batch::default();
        for (key, shape) in &edges {
            let Some(hours) = activity(*shape, day, d, &mut rng) else {
                continue;
            };
            let connections = log_uniform(&mut rng, 1.0, 5_000.0).max(1);
            let packets = connections * log_uniform(&mut rng, 2.0, 200.0).max(2);
            let bytes = packets * log_uniform(&mut rng, 60.0, 1_400.0);
            let first_hour = hours.trailing_zeros();
            let last_hour = 31 - hours.leading_zeros();
            let stats = EdgeStats {
                connections,
                client_packets: packets / 2,
                client_bytes: bytes / 4,
                server_packets: packets - packets / 2,
                server_bytes: bytes - bytes / 4,
                first_seen: i64::from(day) * NANOS_PER_DAY + i64::from(first_hour) * NANOS_PER_HOUR,
                last_seen: i64::from(day) * NANOS_PER_DAY
                    + i64::from(last_hour) * NANOS_PER_HOUR
                    + NANOS_PER_HOUR
                    - 1,
            };
            batch.edges.push((*key, stats));
            batch.activity.push((
                *key,
                DayActivity {
                    day,
                    hours,
                    connections,
                    packets,
                    bytes,
                },
            ));
        }
        rows += batch.activity.len() as u64;
        let commit = Commit {
            packets: batch,
            ..Commit::default()
        };
        store.commit(&commit).unwrap();
    }
    let write_time = t.elapsed();
    let stored_edges = store.edge_count().unwrap();
    assert_eq!(
        stored_edges, n as u64,
        "every edge was active at least once"
    );
    assert_eq!(store.activity_row_count().unwrap(), rows);
    drop(store); // the last connection's close checkpoints the WAL

    let size: u64 = files(&db)[..2]
        .iter()
        .filter_map(|f| fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let edge_days = n as f64 * f64::from(days);
    println!(
        "store: {n} edges over {days} days, {rows} day rows ({:.0}% of edge-days active), \
         written in {:.1} s ({} daily batches)",
        rows as f64 / edge_days * 100.0,
        write_time.as_secs_f64(),
        days
    );
    println!(
        "store size: {size} bytes = {:.1} bytes per edge per day (target < 200), \
         {:.1} bytes per stored day row",
        size as f64 / edge_days,
        size as f64 / rows as f64
    );

    // Classification, as `depmap export` and `depmap drift` run it.
    let store = Store::open_existing(&db).unwrap();
    let t = Instant::now();
    let activity = store.activity().unwrap();
    let read_time = t.elapsed();
    let mut by_edge: Vec<Vec<DayActivity>> = Vec::with_capacity(n);
    let mut last: Option<EdgeKey> = None;
    for (k, a) in activity {
        if last != Some(k) {
            by_edge.push(Vec::new());
            last = Some(k);
        }
        if let Some(v) = by_edge.last_mut() {
            v.push(a);
        }
    }
    let end = start + days - 1;
    let cfg = RecurrenceConfig::default();
    let mut best = Duration::MAX;
    let mut patterns: BTreeMap<&'static str, usize> = BTreeMap::new();
    for run in 0..5 {
        let cpu0 = thread_cpu();
        let results: Vec<_> = by_edge.iter().map(|d| classify(d, end, &cfg)).collect();
        best = best.min(thread_cpu() - cpu0);
        if run == 0 {
            for r in &results {
                *patterns.entry(r.pattern.name()).or_default() += 1;
            }
        }
        std::hint::black_box(results);
    }
    println!(
        "classify: {} edges in {:.3} s CPU on one core, best of 5 (target < 2 s for 100,000); \
         reading their activity back from SQLite took {:.2} s",
        by_edge.len(),
        best.as_secs_f64(),
        read_time.as_secs_f64()
    );
    println!("patterns: {patterns:?}");
}
