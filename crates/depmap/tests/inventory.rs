//! `depmap export --inventory`, `--group-by role`, `--shared-tier` and
//! `depmap prune`, end to end on a real store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use depmap_edges::calendar::days_from_civil;
use depmap_edges::{DayActivity, EdgeKey, EdgeStats, NANOS_PER_DAY};
use depmap_store::{Batch, MapStore, Store};

use crate::common;

fn depmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_depmap"))
        .args(args)
        .env_remove("DEPMAP_DB")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(o: &Output) -> String {
    assert!(!o.status.success(), "expected a failure");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes `edges` (client, server, port, proto), each active on `days`.
fn store(path: &Path, edges: &[(&str, &str, u16, u8)], days: std::ops::Range<i32>) {
    let mut s = Store::open(path).unwrap();
    let start = days_from_civil(2026, 10, 1);
    for (c, sv, port, proto) in edges {
        let k = EdgeKey {
            client: c.parse().unwrap(),
            server: sv.parse().unwrap(),
            port: *port,
            proto: *proto,
        };
        let n = (days.end - days.start) as u64;
        let stats = EdgeStats {
            connections: n,
            client_packets: n,
            client_bytes: 100 * n,
            server_packets: n,
            server_bytes: 1000 * n,
            first_seen: i64::from(start + days.start) * NANOS_PER_DAY,
            last_seen: i64::from(start + days.end - 1) * NANOS_PER_DAY,
        };
        let activity = days
            .clone()
            .map(|d| {
                (
                    k,
                    DayActivity {
                        day: start + d,
                        hours: 0x00ff_ff00,
                        connections: 1,
                        packets: 2,
                        bytes: 1100,
                    },
                )
            })
            .collect();
        s.commit(&common::packets(Batch {
            edges: vec![(k, stats)],
            activity,
            names: vec![],
        }))
        .unwrap();
    }
}

const EDGES: &[(&str, &str, u16, u8)] = &[
    ("10.1.0.1", "10.2.0.10", 443, 6),
    ("10.1.0.2", "10.2.0.10", 443, 6),
    ("10.1.0.1", "10.0.0.53", 53, 17),
    ("10.1.0.2", "10.0.0.53", 53, 17),
    ("10.2.0.10", "10.3.0.20", 5432, 6),
    ("10.9.0.9", "10.3.0.20", 5432, 6),
];

const TOML: &str = r#"
[[host]]
address = "10.0.0.0/8"
labels = { site = "hq" }

[[host]]
address = "10.1.0.0/24"
role = "workstation"

[[host]]
address = "10.2.0.10"
name = "app.example"
role = "app-server"
labels = { app = "shop", env = "prod" }

[[host]]
address = "10.3.0.20"
name = "db.example"
role = "database"
labels = { app = "shop" }

[[host]]
address = "10.0.0.53"
role = "dns"
"#;

/// The same inventory as [`TOML`].
const CSV: &str = "address,name,role,labels\n\
    10.0.0.0/8,,,site=hq\n\
    10.1.0.0/24,,workstation,\n\
    10.2.0.10,app.example,app-server,app=shop;env=prod\n\
    10.3.0.20,db.example,database,app=shop\n\
    10.0.0.53,,dns,\n";

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn inventory_roles_and_labels_in_json_and_dot_from_toml_or_csv() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    store(&db, EDGES, 0..3);
    let db = db.to_str().unwrap();
    let toml = dir.path().join("inv.toml");
    let csv = dir.path().join("inv.csv");
    std::fs::write(&toml, TOML).unwrap();
    std::fs::write(&csv, CSV).unwrap();
    let (toml, csv) = (toml.to_str().unwrap(), csv.to_str().unwrap());

    let o = depmap(&[
        "export",
        "--db",
        db,
        "--format",
        "json",
        "--inventory",
        toml,
    ]);
    let from_toml = ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("5 entries; 5 of 6 hosts have a role"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let from_csv = ok(&depmap(&[
        "export",
        "--db",
        db,
        "--format",
        "json",
        "--inventory",
        csv,
    ]));
    assert_eq!(from_toml, from_csv, "the two formats say the same");
    let v = json(&from_toml);
    assert_eq!(v["schema"], "depmap.map/v1");
    let node = |ip: &str| {
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["ip"] == ip)
            .unwrap()
            .clone()
    };
    let app = node("10.2.0.10");
    assert_eq!(app["role"], "app-server");
    assert_eq!(app["inventory_name"], "app.example");
    assert_eq!(
        app["labels"],
        serde_json::json!({"app": "shop", "env": "prod", "site": "hq"})
    );
    assert_eq!(node("10.1.0.2")["role"], "workstation");
    assert!(node("10.9.0.9")["role"].is_null());
    assert_eq!(node("10.9.0.9")["labels"]["site"], "hq");

    let dot = ok(&depmap(&[
        "export",
        "--db",
        db,
        "--format",
        "dot",
        "--inventory",
        toml,
    ]));
    assert!(
        dot.contains("10.3.0.20\\ndb.example\\n[database]\\napp=shop site=hq"),
        "{dot}"
    );
}

#[test]
fn group_by_role_and_shared_tier_in_json_and_dot() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    store(&db, EDGES, 0..3);
    let db = db.to_str().unwrap();
    let toml = dir.path().join("inv.toml");
    std::fs::write(&toml, TOML).unwrap();
    let toml = toml.to_str().unwrap();
    let base = [
        "export",
        "--db",
        db,
        "--inventory",
        toml,
        "--group-by",
        "role",
    ];

    let v = json(&ok(&depmap(&[&base[..], &["--format", "json"]].concat())));
    assert_eq!(v["schema"], "depmap.groupmap/v1");
    assert_eq!(v["grouping"]["by"], "role");
    let edges = v["edges"].as_array().unwrap();
    let find = |c: &str, s: &str| {
        edges
            .iter()
            .find(|e| e["client"] == c && e["server"] == s)
            .unwrap_or_else(|| panic!("no {c} -> {s}"))
    };
    let web = find("role:workstation", "role:app-server");
    assert_eq!(
        (web["host_edges"].as_u64(), web["connections"].as_u64()),
        (Some(2), Some(6))
    );
    assert_eq!(web["port"], 443);
    assert_eq!(find("role:workstation", "role:dns")["proto"], "udp");
    // The host without a role stays as itself.
    assert_eq!(find("10.9.0.9", "role:database")["host_edges"], 1);
    assert_eq!(v["summary"]["host_edges"], 6);
    assert_eq!(v["summary"]["connections"], 18);

    let o = depmap(&[&base[..], &["--format", "json", "--shared-tier"]].concat());
    let v = json(&ok(&o));
    let edges = v["edges"].as_array().unwrap();
    assert!(edges
        .iter()
        .any(|e| e["client"] == "role:workstation" && e["server"] == "shared" && e["port"] == 53));
    assert!(!v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["id"] == "role:dns"));
    assert_eq!(v["grouping"]["shared_tier"]["fraction"], 0.8);

    let dot = ok(&depmap(
        &[&base[..], &["--format", "dot", "--shared-tier"]].concat(),
    ));
    assert!(
        dot.contains("\"role:workstation\" -> \"role:app-server\""),
        "{dot}"
    );
    assert!(dot.contains("\"role:workstation\" -> \"shared\""), "{dot}");
    assert!(dot.contains("shared infrastructure\\nudp/53"), "{dot}");

    // At a fraction of 0.1 every service passes the fraction rule (4 client
    // hosts), but the services other than DNS have 2 clients, under the
    // minimum of 3.
    let v = json(&ok(&depmap(
        &[
            &base[..],
            &[
                "--format",
                "json",
                "--shared-tier",
                "--shared-fraction",
                "0.1",
            ],
        ]
        .concat(),
    )));
    let shared = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "shared")
        .unwrap()
        .clone();
    assert_eq!(shared["services"], serde_json::json!(["10.0.0.53 udp/53"]));

    // Grouping without grouping by role: a host map with a shared node.
    let o = depmap(&["export", "--db", db, "--format", "json", "--shared-tier"]);
    let v = json(&ok(&o));
    assert_eq!(v["grouping"]["by"], "host");
    assert!(v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["client"] == "10.1.0.1" && e["server"] == "shared"));
}

#[test]
fn export_flags_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    store(&db, EDGES, 0..1);
    let db = db.to_str().unwrap();
    let err = fails(&depmap(&[
        "export",
        "--db",
        db,
        "--format",
        "json",
        "--group-by",
        "role",
    ]));
    assert!(
        err.contains("--group-by role needs --inventory FILE"),
        "{err}"
    );
    let err = fails(&depmap(&[
        "export",
        "--db",
        db,
        "--format",
        "csv",
        "--shared-tier",
    ]));
    assert!(err.contains("apply to --format json and dot"), "{err}");
    let err = fails(&depmap(&[
        "export",
        "--db",
        db,
        "--format",
        "json",
        "--shared-tier",
        "--shared-fraction",
        "1.5",
    ]));
    assert!(
        err.contains("--shared-fraction 1.5 is not a fraction"),
        "{err}"
    );
    let err = fails(&depmap(&[
        "export",
        "--db",
        db,
        "--format",
        "json",
        "--shared-fraction",
        "0.3",
    ]));
    assert!(err.contains("--shared-tier"), "{err}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[host]]\naddress = \"10.0.0.0/33\"\nrole = \"x\"\n").unwrap();
    let err = fails(&depmap(&[
        "export",
        "--db",
        db,
        "--format",
        "json",
        "--inventory",
        bad.to_str().unwrap(),
    ]));
    assert!(
        err.contains("bad.toml:2: key address \"10.0.0.0/33\": the prefix length"),
        "{err}"
    );
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "address,role,owner\n10.0.0.1,db,me\n").unwrap();
    let err = fails(&depmap(&[
        "export",
        "--db",
        db,
        "--format",
        "json",
        "--inventory",
        bad.to_str().unwrap(),
    ]));
    assert!(err.contains("bad.csv:1: unknown column \"owner\""), "{err}");
}

#[test]
fn prune_keeps_the_last_days_and_edge_totals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    store(&path, &EDGES[..2], 0..50);
    let db = path.to_str().unwrap();
    let before = Store::open_existing(&path).unwrap().edges().unwrap();

    let out = ok(&depmap(&["prune", "--db", db, "--keep", "35d"]));
    // 2026-10-01 + 49 days = 2026-11-19; 35 days back from it: 2026-10-16.
    assert!(
        out.contains("kept per-day activity from 2026-10-16 to 2026-11-19 (35 days"),
        "{out}"
    );
    assert!(out.contains("deleted 30 of 100 day rows"), "{out}");
    let s = Store::open_existing(&path).unwrap();
    assert_eq!(s.activity_row_count().unwrap(), 70);
    assert_eq!(s.edges().unwrap(), before, "edges keep their totals");
    drop(s);

    let out = ok(&depmap(&["prune", "--db", db, "--keep", "5w", "--vacuum"]));
    assert!(out.contains("deleted 0 of 70 day rows"), "{out}");
    assert!(out.contains("file compacted"), "{out}");
    let out = ok(&depmap(&["prune", "--db", db, "--keep", "1d"]));
    assert!(out.contains("deleted 68 of 70"), "{out}");

    // The export still works and keeps the figures.
    let v = json(&ok(&depmap(&["export", "--db", db, "--format", "json"])));
    assert_eq!(v["edges"][0]["connections"], 50);
    assert_eq!(v["edges"][0]["active_days"], 1);

    let err = fails(&depmap(&["prune", "--db", db, "--keep", "36h"]));
    assert!(
        err.contains("--keep \"36h\" must be a whole number of days"),
        "{err}"
    );
    let err = fails(&depmap(&["prune", "--db", db]));
    assert!(err.contains("--keep"), "{err}");
    let missing = dir.path().join("none.db");
    let err = fails(&depmap(&[
        "prune",
        "--db",
        missing.to_str().unwrap(),
        "--keep",
        "35d",
    ]));
    assert!(err.contains("no such database"), "{err}");
    assert!(!missing.exists());

    let empty = dir.path().join("empty.db");
    drop(Store::open(&empty).unwrap());
    let out = ok(&depmap(&[
        "prune",
        "--db",
        empty.to_str().unwrap(),
        "--keep",
        "35d",
    ]));
    assert!(out.contains("nothing to prune"), "{out}");
}
