//! `depmap demo` end to end: the synthetic capture, a real SQLite store, the
//! JSON and DOT map, the rule draft, and a picture drawn by real Graphviz.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;

use depmap_synth::Scenario;

#[test]
fn demo_writes_every_output_and_finds_every_expected_edge() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_depmap"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let have_dot = Command::new("dot").arg("-V").output().is_ok();
    if have_dot {
        assert!(out.status.success(), "{stdout}\n{stderr}");
        let svg = std::fs::read_to_string(dir.path().join("map.svg")).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("10.10.4.20"),
            "an SVG of the map"
        );
        let svg = std::fs::read_to_string(dir.path().join("map-roles.svg")).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("shared infrastructure"),
            "an SVG of the map by role"
        );
    } else {
        assert!(stderr.contains("install graphviz"), "{stderr}");
    }
    for f in [
        "demo.pcap",
        "depmap.db",
        "map.json",
        "map.dot",
        "policy-draft.json",
        "inventory.toml",
        "map-roles.json",
        "map-roles.dot",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} written");
    }

    let map: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("map.json")).unwrap()).unwrap();
    let found: BTreeSet<(String, String, u64, String)> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["client"].as_str().unwrap().to_string(),
                e["server"].as_str().unwrap().to_string(),
                e["port"].as_u64().unwrap(),
                e["proto"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Every dependency the scenario generates is on the map, client and server the right way round.
    let expected = Scenario::small_company().expected_edges();
    for e in &expected {
        let proto = depmap_model::Proto(e.proto).name().unwrap().to_string();
        let key = (
            e.client.to_string(),
            e.server.to_string(),
            u64::from(e.port),
            proto,
        );
        assert!(found.contains(&key), "missing {key:?} ({})", e.service);
    }
    assert_eq!(
        found.len(),
        expected.len(),
        "no edges beyond the scenario's"
    );

    // Every edge is classified as the scenario scheduled it, and periodic
    // edges say when they are next expected.
    let edges = map["edges"].as_array().unwrap();
    for e in &expected {
        let got = edges
            .iter()
            .find(|j| {
                j["client"] == e.client.to_string()
                    && j["server"] == e.server.to_string()
                    && j["port"] == e.port
            })
            .unwrap();
        assert_eq!(
            got["pattern"],
            e.pattern.name(),
            "{} {} -> {}:{}",
            e.service,
            e.client,
            e.server,
            e.port
        );
    }
    let audit = edges
        .iter()
        .find(|j| j["server"] == "203.0.113.10")
        .unwrap();
    assert_eq!(audit["pattern"], "monthly");
    assert_eq!(audit["day_of_month"], 1);
    assert_eq!(audit["hour"], 6);
    assert_eq!(audit["next_expected"], "2026-12-01T06:00:00.000000Z");
    assert!(audit["names"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "api.audit.example"));

    // Every host has its role from the inventory the demo wrote.
    let scenario = Scenario::small_company();
    for node in map["nodes"].as_array().unwrap() {
        let ip: std::net::IpAddr = node["ip"].as_str().unwrap().parse().unwrap();
        let host = scenario.host(ip).unwrap();
        assert_eq!(node["role"], host.role.name(), "{ip}");
        assert_eq!(node["inventory_name"], host.name.as_str(), "{ip}");
    }
    let db = map["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["ip"] == "10.10.4.20")
        .unwrap();
    assert_eq!(
        db["labels"],
        serde_json::json!({"app": "shop", "env": "prod", "site": "hq"})
    );
    let dot = std::fs::read_to_string(dir.path().join("map.dot")).unwrap();
    assert!(dot.contains("[database]"), "roles in the DOT labels");

    // The map by role: one node per role, DNS, NTP and scrapes shared.
    let roles: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("map-roles.json")).unwrap()).unwrap();
    assert_eq!(roles["schema"], "depmap.groupmap/v1");
    let ids: BTreeSet<&str> = roles["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    for id in [
        "role:workstation",
        "role:app-server",
        "role:database",
        "role:finance",
        "role:external",
        "shared",
    ] {
        assert!(ids.contains(id), "{id} in {ids:?}");
    }
    let role_edges = roles["edges"].as_array().unwrap();
    let find = |c: &str, s: &str, port: u64| {
        role_edges
            .iter()
            .find(|e| e["client"] == c && e["server"] == s && e["port"] == port)
            .unwrap_or_else(|| panic!("{c} -> {s}:{port}"))
    };
    assert_eq!(
        find("role:app-server", "role:database", 5432)["host_edges"],
        3
    );
    assert_eq!(find("role:workstation", "shared", 53)["client_hosts"], 20);
    assert_eq!(find("role:monitoring", "shared", 9100)["host_edges"], 16);
    assert_eq!(
        find("role:finance", "role:external", 443)["patterns"],
        serde_json::json!(["monthly"])
    );
    assert_eq!(
        roles["summary"]["connections"], map["summary"]["connections"],
        "grouping keeps every connection"
    );
    let roles_dot = std::fs::read_to_string(dir.path().join("map-roles.dot")).unwrap();
    assert!(roles_dot.contains("\"role:app-server\" -> \"role:database\""));

    let draft: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("policy-draft.json")).unwrap())
            .unwrap();
    assert_eq!(draft["default_action"], "deny");
    assert_eq!(draft["schema"], "depmap.policy/v1");
    // The one-off ad-hoc psql session is left for review, not allowed.
    let review = draft["review"].as_array().unwrap();
    assert!(review
        .iter()
        .any(|r| r["client"] == "10.10.1.107" && r["port"] == 5432));
}
