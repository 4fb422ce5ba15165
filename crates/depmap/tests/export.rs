//! The JSON, DOT and CSV exports of one fixed store, held to golden files
//! (`snapshots/integration__export__*.snap`; `cargo insta review` after a
//! deliberate change). The store is built edge by edge through the store
//! API, so the files change only when an export does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use depmap_edges::calendar::days_from_civil;
use depmap_edges::{DayActivity, EdgeStats, NameRecord, NameSource, NANOS_PER_DAY, NANOS_PER_HOUR};
use depmap_store::{Batch, MapStore, Store};

use crate::common::{self, depmap, key, ok};

/// The recurrence store of the baseline tests (45 days from 2026-10-01,
/// one edge of every pattern), plus names from DNS and TLS, and one edge
/// learned from sampled flow exports.
fn fixed_store(dir: &Path) -> PathBuf {
    let db = dir.join("map.db");
    common::build(&db, 45);
    let mut st = Store::open(&db).unwrap();
    let day = days_from_civil(2026, 10, 5);
    let at = |h: i64| i64::from(day) * NANOS_PER_DAY + h * NANOS_PER_HOUR;
    let name = |address: &str, name: &str, source| NameRecord {
        address: address.parse().unwrap(),
        name: name.to_string(),
        source,
        first_seen: at(9),
        last_seen: at(17),
    };
    st.commit(&common::packets(Batch {
        edges: Vec::new(),
        activity: Vec::new(),
        names: vec![
            name("10.0.4.20", "db.corp.example", NameSource::Dns),
            name("10.0.2.10", "intranet.corp.example", NameSource::Sni),
            name("203.0.113.10", "backup.example.net", NameSource::Dns),
        ],
    }))
    .unwrap();
    let k = key("10.0.7.7", "10.0.4.20", 5432);
    st.commit(&common::flows(
        Batch {
            edges: vec![(
                k,
                EdgeStats {
                    connections: 3,
                    client_packets: 300,
                    client_bytes: 30_000,
                    server_packets: 200,
                    server_bytes: 90_000,
                    first_seen: at(10),
                    last_seen: at(11),
                },
            )],
            activity: vec![(
                k,
                DayActivity {
                    day,
                    hours: 1 << 10 | 1 << 11,
                    connections: 3,
                    packets: 500,
                    bytes: 120_000,
                },
            )],
            names: Vec::new(),
        },
        &[k],
    ))
    .unwrap();
    db
}

fn export(format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db = fixed_store(dir.path());
    ok(depmap(&[
        "export",
        "--db",
        db.to_str().unwrap(),
        "--format",
        format,
    ]))
}

#[test]
fn json_export_matches_its_golden_file() {
    insta::assert_snapshot!("json", export("json"));
}

#[test]
fn dot_export_matches_its_golden_file() {
    insta::assert_snapshot!("dot", export("dot"));
}

#[test]
fn csv_export_matches_its_golden_file() {
    insta::assert_snapshot!("csv", export("csv"));
}
