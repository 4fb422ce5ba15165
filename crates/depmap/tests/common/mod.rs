//! A real store spanning weeks with one edge of every recurrence pattern,
//! shared by the baseline and policy tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use depmap_edges::calendar::{days_from_civil, weekday};
use depmap_edges::{DayActivity, EdgeKey, EdgeStats, NANOS_PER_DAY, NANOS_PER_HOUR};
use depmap_store::{Batch, Commit, MapStore, Store};

/// A commit of packet edges, activity and names only.
pub fn packets(batch: Batch) -> Commit {
    Commit {
        packets: batch,
        ..Commit::default()
    }
}

/// A commit of flow edges only, those in `sampled` marked as estimates.
pub fn flows(batch: Batch, sampled: &[EdgeKey]) -> Commit {
    Commit {
        flows: batch,
        sampled: sampled.to_vec(),
        ..Commit::default()
    }
}

/// Runs the `depmap` binary this package builds with `args`.
pub fn depmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_depmap"))
        .args(args)
        .output()
        .unwrap()
}

/// The standard output of a command that must have succeeded; if it did
/// not, the test fails with its status, standard output and standard error.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The standard error of a command that must have failed.
pub fn failed(out: Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded, but should have failed; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

pub fn key(client: &str, server: &str, port: u16) -> EdgeKey {
    EdgeKey {
        client: client.parse().unwrap(),
        server: server.parse().unwrap(),
        port,
        proto: 6,
    }
}

/// Writes an edge active on `days` at `hours` into the store.
pub fn put(store: &mut Store, k: EdgeKey, days: &[i32], hours: &[u32]) {
    let mask = hours.iter().fold(0u32, |m, h| m | 1 << h);
    let first_h = *hours.first().unwrap();
    let last_h = *hours.last().unwrap();
    let activity: Vec<_> = days
        .iter()
        .map(|&d| {
            (
                k,
                DayActivity {
                    day: d,
                    hours: mask,
                    connections: 1,
                    packets: 10,
                    bytes: 1000,
                },
            )
        })
        .collect();
    let stats = EdgeStats {
        connections: days.len() as u64,
        client_packets: 5 * days.len() as u64,
        client_bytes: 500 * days.len() as u64,
        server_packets: 5 * days.len() as u64,
        server_bytes: 500 * days.len() as u64,
        first_seen: i64::from(days[0]) * NANOS_PER_DAY + i64::from(first_h) * NANOS_PER_HOUR,
        last_seen: i64::from(*days.last().unwrap()) * NANOS_PER_DAY
            + i64::from(last_h) * NANOS_PER_HOUR,
    };
    store
        .commit(&packets(Batch {
            edges: vec![(k, stats)],
            activity,
            names: Vec::new(),
        }))
        .unwrap();
}

/// A store from 2026-10-01 over `span` days with one edge of every pattern.
pub fn build(path: &Path, span: i32) {
    let s = days_from_civil(2026, 10, 1);
    let all: Vec<i32> = (0..span).map(|i| s + i).collect();
    let weekdays: Vec<i32> = all.iter().copied().filter(|&d| weekday(d) < 5).collect();
    let mondays: Vec<i32> = all.iter().copied().filter(|&d| weekday(d) == 0).collect();
    let firsts: Vec<i32> = all
        .iter()
        .copied()
        .filter(|&d| depmap_edges::calendar::civil(d).2 == 1)
        .collect();
    let mut st = Store::open(path).unwrap();
    let hours24: Vec<u32> = (0..24).collect();
    let office: Vec<u32> = (8..18).collect();
    put(&mut st, key("10.0.3.11", "10.0.4.20", 5432), &all, &hours24);
    put(
        &mut st,
        key("10.0.1.101", "10.0.2.10", 443),
        &weekdays,
        &office,
    );
    put(&mut st, key("10.0.5.5", "10.0.3.11", 22), &all, &[2]);
    put(&mut st, key("10.0.3.40", "10.0.0.25", 25), &mondays, &[7]);
    put(
        &mut st,
        key("10.0.3.50", "203.0.113.10", 443),
        &firsts,
        &[6],
    );
    put(
        &mut st,
        key("10.0.1.107", "10.0.4.20", 5432),
        &[s + 13],
        &[14],
    );
    put(
        &mut st,
        key("10.0.3.60", "10.0.6.6", 21),
        &all[..20.min(all.len())],
        &hours24,
    );
    // Something new in the last week, to an external address at an odd hour.
    if span > 40 {
        put(
            &mut st,
            key("10.0.3.11", "198.51.100.9", 8443),
            &[s + span - 2],
            &[3],
        );
    }
}

/// The real captures in `../shared/data/captures`, if present; under `CI`
/// their absence fails the test (see `depmap_testdata`).
pub fn captures() -> Option<std::path::PathBuf> {
    depmap_testdata::captures()
}
