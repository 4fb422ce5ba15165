//! The 30-day business cycle end to end: a real store spanning 45 days with
//! every recurrence pattern, read back by `depmap export`, `depmap baseline`
//! and `depmap drift`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;

use crate::common;

use common::{build, depmap, key, put};
use depmap_edges::calendar::days_from_civil;
use depmap_store::Store;

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_pattern_is_classified_over_45_days() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    build(&db, 45);
    let db = db.to_str().unwrap();
    let map = json(&depmap(&["export", "--db", db, "--format", "json"]));
    let pattern = |server: &str, port: u64| -> serde_json::Value {
        map["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["server"] == server && e["port"] == port && e["client"] != "10.0.1.107")
            .unwrap()
            .clone()
    };
    assert_eq!(pattern("10.0.4.20", 5432)["pattern"], "continuous");
    assert_eq!(pattern("10.0.2.10", 443)["pattern"], "business-hours");
    let daily = pattern("10.0.3.11", 22);
    assert_eq!(
        (daily["pattern"].as_str(), daily["hour"].as_u64()),
        (Some("daily"), Some(2))
    );
    let weekly = pattern("10.0.0.25", 25);
    assert_eq!(weekly["pattern"], "weekly");
    assert_eq!(weekly["weekday"], "monday");
    assert_eq!(weekly["next_expected"], "2026-11-16T07:00:00.000000Z");
    let monthly = pattern("203.0.113.10", 443);
    assert_eq!(monthly["pattern"], "monthly");
    assert_eq!(monthly["day_of_month"], 1);
    assert_eq!(monthly["next_expected"], "2026-12-01T06:00:00.000000Z");
    assert_eq!(monthly["occurrences_seen"], 2);
    assert_eq!(pattern("10.0.6.6", 21)["pattern"], "stopped");
    assert_eq!(pattern("10.0.6.6", 21)["pattern_was"], "continuous");
    assert_eq!(pattern("198.51.100.9", 8443)["pattern"], "one-off");
    // The one-off ad-hoc session on the same server as the continuous edge.
    let adhoc = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["client"] == "10.0.1.107")
        .unwrap();
    assert_eq!(adhoc["pattern"], "one-off");

    // The DOT picture marks periodic and new edges and has a legend.
    let dot = depmap(&["export", "--db", db, "--format", "dot"]);
    let dot = String::from_utf8(dot.stdout).unwrap();
    assert!(dot.contains("monthly, day 1 06:00"));
    assert!(dot.contains("style=dashed"));
    assert!(dot.contains("cluster_legend"));
    assert!(dot.contains("new (recent days)"));
}

#[test]
fn baseline_warns_on_14_days_and_covers_a_cycle_on_35() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.db");
    build(&short, 14);
    let out = depmap(&["baseline", "--db", short.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains(
            "the baseline covers 14 days: edges that recur monthly cannot have been seen"
        ),
        "{text}"
    );
    assert!(text.contains("NOT covered"));

    let full = dir.path().join("full.db");
    build(&full, 35);
    let c = json(&depmap(&[
        "baseline",
        "--db",
        full.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert_eq!(c["span_days"], 35);
    assert_eq!(c["full_cycle"], true);
    assert_eq!(c["gaps"].as_array().unwrap().len(), 0);

    // A store with a hole: days 10-12 have no data from any source.
    let holed = dir.path().join("holed.db");
    {
        let mut st = Store::open(&holed).unwrap();
        let s = days_from_civil(2026, 10, 1);
        let days: Vec<i32> = (0..35)
            .filter(|i| !(10..13).contains(i))
            .map(|i| s + i)
            .collect();
        put(&mut st, key("10.0.0.1", "10.0.0.2", 443), &days, &[9]);
    }
    let c = json(&depmap(&[
        "baseline",
        "--db",
        holed.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert_eq!(c["days_without_data"], 3);
    assert_eq!(c["gaps"][0]["from"], "2026-10-11");
    assert_eq!(c["gaps"][0]["to"], "2026-10-13");
}

#[test]
fn drift_flags_a_new_edge_and_a_stopped_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    build(&db, 45);
    let db = db.to_str().unwrap();
    let items = json(&depmap(&[
        "drift", "--db", db, "--since", "7d", "--format", "json",
    ]));
    let items = items.as_array().unwrap();
    let new = items.iter().find(|i| i["kind"] == "new").unwrap();
    assert_eq!(new["server"], "198.51.100.9");
    assert!(
        new["score"].as_u64().unwrap() >= 4,
        "external destination: {new}"
    );
    let stopped = items.iter().find(|i| i["kind"] == "stopped").unwrap();
    assert_eq!(stopped["server"], "10.0.6.6");
    // The monthly edge is not reported: it has not missed an occurrence.
    assert!(!items.iter().any(|i| i["server"] == "203.0.113.10"));

    let table = depmap(&["drift", "--db", db, "--since", "7d"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("new") && text.contains("198.51.100.9:8443/tcp"),
        "{text}"
    );

    let bad = depmap(&["drift", "--db", db, "--since", "soon"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--since"));
}
