//! The host map's exports, across formats.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use depmap_edges::{EdgeKey, EdgeOrigin, EdgeStats};
use depmap_model::{Inventory, InventoryEntry};

use crate::{Map, JSON_SCHEMA};

fn e(c: &str, s: &str, port: u16, proto: u8) -> (EdgeKey, EdgeStats) {
    (
        EdgeKey {
            client: c.parse().unwrap(),
            server: s.parse().unwrap(),
            port,
            proto,
        },
        EdgeStats {
            connections: 2,
            client_packets: 3,
            client_bytes: 300,
            server_packets: 4,
            server_bytes: 4000,
            first_seen: 1_700_000_000_000_000_000,
            last_seen: 1_700_000_060_000_000_000,
        },
    )
}

#[test]
fn json_has_the_documented_fields() {
    let m = Map::new(vec![
        e("10.0.0.1", "8.8.8.8", 53, 17),
        e("10.0.0.1", "10.0.0.2", 443, 6),
    ]);
    let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    assert_eq!(v["schema"], JSON_SCHEMA);
    let edge = &v["edges"][0];
    for f in [
        "client",
        "server",
        "port",
        "proto",
        "connections",
        "packets",
        "bytes",
        "client_packets",
        "client_bytes",
        "server_packets",
        "server_bytes",
        "first_seen",
        "last_seen",
    ] {
        assert!(!edge[f].is_null(), "missing {f}");
    }
    assert_eq!(edge["first_seen"], "2023-11-14T22:13:20.000000Z");
    assert_eq!(v["nodes"].as_array().unwrap().len(), 3);
    let dns = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["ip"] == "8.8.8.8")
        .unwrap();
    assert_eq!(dns["kind"], "external");
    assert_eq!(dns["serves"][0], "udp/53");
}

#[test]
fn origins_appear_in_json_csv_and_dot_once_set() {
    let mut m = Map::new(vec![
        e("10.0.0.1", "10.0.0.2", 443, 6),
        e("10.0.0.1", "8.8.8.8", 53, 17),
    ]);
    let plain_csv = {
        let mut out = Vec::new();
        m.write_csv(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert!(plain_csv.lines().next().unwrap().ends_with(",last_seen"));
    let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    assert!(v["edges"][0].get("sources").is_none());
    assert!(v["edges"][0].get("sampled").is_none());
    assert!(!m.to_dot().contains('~'));

    let k = |port: u16| m.edges().iter().find(|e| e.0.port == port).unwrap().0;
    // The DNS edge's figures are sampled estimates; the other edge is
    // measured by both packets and unsampled flow records.
    let (tls, dns) = (k(443), k(53));
    m.set_origins(&[
        (
            dns,
            EdgeOrigin {
                packets: false,
                flows: true,
                sampled: true,
            },
        ),
        (
            tls,
            EdgeOrigin {
                packets: true,
                flows: true,
                sampled: false,
            },
        ),
    ]);
    let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    // Sorted by address: 8.8.8.8 before 10.0.0.2.
    assert_eq!(v["edges"][0]["server"], "8.8.8.8");
    assert_eq!(v["edges"][0]["sources"], serde_json::json!(["flows"]));
    assert_eq!(v["edges"][0]["sampled"], true);
    assert_eq!(
        v["edges"][1]["sources"],
        serde_json::json!(["packets", "flows"])
    );
    assert_eq!(v["edges"][1]["sampled"], false);
    let mut out = Vec::new();
    m.write_csv(&mut out).unwrap();
    let csv = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].ends_with(",last_seen,sources,sampled"));
    assert!(lines[1].starts_with("10.0.0.1,8.8.8.8,53,udp,"), "{csv}");
    assert!(lines[1].ends_with(",flows,true"), "{csv}");
    assert!(lines[2].ends_with(",packets+flows,false"), "{csv}");
    let dot = m.to_dot();
    assert!(dot.contains("udp/53\\n~2 conn"), "{dot}");
    assert!(dot.contains("tcp/443\\n2 conn"), "{dot}");
    assert!(dot.contains("estimated from sampled flow records"), "{dot}");
}

#[test]
fn dot_merges_parallel_edges_and_clusters_subnets() {
    let m = Map::new(vec![
        e("10.0.0.1", "10.0.1.2", 443, 6),
        e("10.0.0.1", "10.0.1.2", 80, 6),
        e("10.0.0.1", "224.0.0.251", 5353, 17),
    ]);
    let dot = m.to_dot();
    assert!(dot.contains("tcp/80, tcp/443"));
    assert!(dot.contains("label=\"10.0.1.0/24\""));
    assert!(dot.contains("multicast"));
    assert_eq!(dot.matches(" -> ").count(), 2);
}

#[test]
fn inventory_gives_nodes_role_labels_and_name() {
    let mut m = Map::new(vec![
        e("10.0.0.1", "10.0.1.2", 5432, 6),
        e("10.0.0.1", "8.8.8.8", 53, 17),
    ]);
    m.set_inventory(&Inventory::new(vec![
        InventoryEntry::new("10.0.1.0/24".parse().unwrap())
            .with_role("database")
            .with_label("env", "prod"),
        InventoryEntry::new("10.0.1.2".parse().unwrap())
            .with_name("db1.example")
            .with_label("app", "erp"),
    ]));
    let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    let node = |ip: &str| {
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["ip"] == ip)
            .unwrap()
            .clone()
    };
    let db = node("10.0.1.2");
    assert_eq!(db["role"], "database");
    assert_eq!(db["inventory_name"], "db1.example");
    assert_eq!(
        db["labels"],
        serde_json::json!({"app": "erp", "env": "prod"})
    );
    let other = node("8.8.8.8");
    assert!(other["role"].is_null() && other["inventory_name"].is_null());
    assert_eq!(other["labels"], serde_json::json!({}));
    let dot = m.to_dot();
    assert!(
        dot.contains(
            "\"10.0.1.2\" [label=\"10.0.1.2\\ndb1.example\\n[database]\\napp=erp env=prod\"]"
        ),
        "{dot}"
    );
    assert_eq!(m.host_info("10.0.0.1".parse().unwrap()), None);
    // set_roles replaces what the inventory said.
    let mut roles = BTreeMap::new();
    roles.insert("10.0.0.1".parse().unwrap(), "client".to_string());
    m.set_roles(roles);
    assert_eq!(m.host_info("10.0.1.2".parse().unwrap()), None);
    assert!(m.to_dot().contains("10.0.0.1\\n[client]"));
}
