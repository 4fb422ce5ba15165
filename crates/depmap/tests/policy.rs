//! Drafting rules from a learning window and simulating them before
//! enforcement: a store of 45 days with a monthly edge (the audit export on
//! the 1st at 06:00).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{depmap, failed, ok};

#[test]
fn a_two_week_draft_misses_the_monthly_call_and_simulation_shows_when() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    common::build(&db, 45); // 2026-10-01 .. 2026-11-14
    let db = db.to_str().unwrap();
    let short = dir.path().join("short.json");
    let full = dir.path().join("full.json");

    // Learned from days 2-15: the audit call of the 1st is not in it.
    let text = ok(depmap(&[
        "policy",
        "draft",
        "--db",
        db,
        "--from",
        "2026-10-02",
        "--to",
        "2026-10-15",
        "--ticket",
        "CHG-42",
        "--owner",
        "finance-platform",
        "--expires",
        "90d",
        "--out",
        short.to_str().unwrap(),
    ]));
    assert!(
        text.contains("shorter than a 30-day business cycle"),
        "{text}"
    );
    let draft: serde_json::Value = serde_json::from_slice(&std::fs::read(&short).unwrap()).unwrap();
    let services = draft["services"].as_array().unwrap();
    assert!(!services.iter().any(|s| s["server"] == "203.0.113.10"));
    let rule = &services
        .iter()
        .find(|s| s["server"] == "10.0.4.20" && s["port"] == 5432)
        .unwrap()["allow"][0];
    assert_eq!(rule["ticket"], "CHG-42");
    assert_eq!(rule["owner"], "finance-platform");
    assert!(rule["expires"].is_string());
    assert_eq!(rule["evidence"]["pattern"], "continuous");
    assert_eq!(rule["evidence"]["active_days"], 14);

    // Simulated over the whole capture, it would deny the audit call, on the
    // 1st of both months at 06:00.
    let out = depmap(&[
        "policy",
        "simulate",
        "--db",
        db,
        "--policy",
        short.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3), "would-deny exit status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("10.0.3.50 -> 203.0.113.10:443/tcp")
            && text.contains("2026-10-01 06:00")
            && text.contains("2026-11-01 06:00"),
        "{text}"
    );
    let out = depmap(&[
        "policy",
        "simulate",
        "--db",
        db,
        "--policy",
        short.to_str().unwrap(),
        "--json",
    ]);
    let denied: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let audit = denied
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["server"] == "203.0.113.10")
        .unwrap();
    assert_eq!(audit["when"][0], "2026-10-01 06:00");

    // Learned from the whole span (every edge seen at least once allowed),
    // it allows the monthly call with its recurrence as evidence, and
    // simulation denies nothing.
    let out = depmap(&[
        "policy",
        "draft",
        "--db",
        db,
        "--min-connections",
        "1",
        "--out",
        full.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let draft: serde_json::Value = serde_json::from_slice(&std::fs::read(&full).unwrap()).unwrap();
    let audit = draft["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["server"] == "203.0.113.10")
        .unwrap();
    let ev = &audit["allow"][0]["evidence"];
    assert_eq!(ev["pattern"], "monthly");
    assert_eq!(ev["next_expected"], "2026-12-01T06:00:00.000000Z");
    let out = depmap(&[
        "policy",
        "simulate",
        "--db",
        db,
        "--policy",
        full.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("allows all recorded traffic"));

    // With the default threshold the one-off session goes to review, not
    // allow, and simulation shows it would be blocked.
    let out = depmap(&[
        "policy",
        "draft",
        "--db",
        db,
        "--out",
        full.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let draft: serde_json::Value = serde_json::from_slice(&std::fs::read(&full).unwrap()).unwrap();
    assert!(draft["review"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["client"] == "10.0.1.107"));
    let out = depmap(&[
        "policy",
        "simulate",
        "--db",
        db,
        "--policy",
        full.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("10.0.1.107 -> 10.0.4.20:5432/tcp"), "{text}");
    assert!(!text.contains("203.0.113.10"), "{text}");

    // Bad flags say what is wrong.
    let err = failed(depmap(&[
        "policy",
        "draft",
        "--db",
        db,
        "--from",
        "2026-13-01",
        "--out",
        "x.json",
    ]));
    assert!(err.contains("--from"), "{err}");
}

#[test]
fn scope_limits_a_draft_to_a_network_or_a_role() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    common::build(&db, 45);
    let db = db.to_str().unwrap();
    let servers = |path: &std::path::Path| -> (Option<String>, Vec<String>) {
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut s: Vec<String> = d["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{}:{}", s["server"].as_str().unwrap(), s["port"]))
            .collect();
        s.dedup();
        (d["scope"].as_str().map(str::to_string), s)
    };

    let net = dir.path().join("net.json");
    ok(depmap(&[
        "policy",
        "draft",
        "--db",
        db,
        "--scope",
        "10.0.4.0/24",
        "--out",
        net.to_str().unwrap(),
    ]));
    assert_eq!(
        servers(&net),
        (
            Some("10.0.4.0/24".into()),
            vec!["10.0.4.20:5432".to_string()]
        )
    );

    let inventory = dir.path().join("inventory.toml");
    std::fs::write(
        &inventory,
        "[[host]]\naddress = \"10.0.2.10\"\nrole = \"web\"\n\n\
         [[host]]\naddress = \"10.0.0.25\"\nrole = \"mail\"\n",
    )
    .unwrap();
    let role = dir.path().join("role.json");
    ok(depmap(&[
        "policy",
        "draft",
        "--db",
        db,
        "--scope",
        "web",
        "--inventory",
        inventory.to_str().unwrap(),
        "--out",
        role.to_str().unwrap(),
    ]));
    assert_eq!(
        servers(&role),
        (Some("role:web".into()), vec!["10.0.2.10:443".to_string()])
    );

    // A role needs the inventory; a bad network says what is wrong.
    let err = failed(depmap(&[
        "policy", "draft", "--db", db, "--scope", "web", "--out", "x.json",
    ]));
    assert!(err.contains("--inventory"), "{err}");
    let err = failed(depmap(&[
        "policy",
        "draft",
        "--db",
        db,
        "--scope",
        "10.0.4.5/24",
        "--out",
        "x.json",
    ]));
    assert!(err.contains("10.0.4.0/24"), "{err}");
}
