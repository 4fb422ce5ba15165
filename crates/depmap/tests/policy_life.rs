//! The policy lifecycle end to end on real SQLite files: versioned drafts,
//! diff and rollback, time-bound exceptions on an injected clock
//! (`DEPMAP_NOW`), the audit trail, unused rules, and simulation from
//! capture files instead of the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common;

use common::ok;

/// Runs depmap at the time `now` (RFC 3339) as user `tester`.
fn depmap_at(now: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_depmap"))
        .args(args)
        .env("DEPMAP_NOW", now)
        .env("USER", "tester")
        .env_remove("SUDO_USER")
        .env_remove("DEPMAP_DB")
        .output()
        .unwrap()
}

fn json(out: Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `policy draft --db DB ARGS...` at `now`; its standard output.
fn draft_at(now: &str, db: &str, args: &[&str]) -> String {
    let mut all = vec!["policy", "draft", "--db", db];
    all.extend(args);
    ok(depmap_at(now, &all))
}

/// A temporary directory holding a store of `span` days from 2026-10-01
/// (`common::build`), and the store's path.
fn built(span: i32) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    common::build(&db, span);
    let db = db.to_str().unwrap().to_string();
    (dir, db)
}

/// Every allow rule of a draft as (service, client, rule).
fn rules(d: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for s in d["services"].as_array().unwrap() {
        for r in s["allow"].as_array().unwrap() {
            out.push((
                format!(
                    "{}:{}/{}",
                    s["server"].as_str().unwrap(),
                    s["port"],
                    s["proto"].as_str().unwrap()
                ),
                r["client"].as_str().unwrap().to_string(),
                r.clone(),
            ));
        }
    }
    out
}

/// `policy except` at 2026-11-15T10:00:00Z: the backup network
/// 10.0.9.0/24 may reach 10.0.4.20:5432 for an hour (ticket INC-7), with
/// `extra` arguments; its standard output.
fn grant_backup_exception(db: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "policy",
        "except",
        "--db",
        db,
        "--client",
        "10.0.9.0/24",
        "--server",
        "10.0.4.20",
        "--port",
        "5432",
        "--ttl",
        "1h",
        "--ticket",
        "INC-7",
        "--reason",
        "restore test from the backup network",
    ];
    args.extend(extra);
    ok(depmap_at("2026-11-15T10:00:00Z", &args))
}

#[test]
fn a_one_hour_exception_is_in_drafts_only_within_its_hour_and_audited() {
    let (dir, db) = built(45);
    let db = db.as_str();
    let inside = dir.path().join("inside.json");
    let after = dir.path().join("after.json");

    let out = grant_backup_exception(db, &["--by", "alice"]);
    assert!(out.contains("exception #1"), "{out}");
    assert!(out.contains("until 2026-11-15T11:00:00"), "{out}");

    // Inside the hour the draft carries it as a marked exception rule.
    let out = draft_at(
        "2026-11-15T10:59:59Z",
        db,
        &["--out", inside.to_str().unwrap()],
    );
    assert!(out.contains("stored as version 1"), "{out}");
    let d = read(&inside);
    let found: Vec<_> = rules(&d)
        .into_iter()
        .filter(|(_, c, _)| c == "10.0.9.0/24")
        .collect();
    assert_eq!(found.len(), 1);
    let (service, _, rule) = &found[0];
    assert_eq!(service, "10.0.4.20:5432/tcp");
    assert_eq!(rule["exception"]["id"], 1);
    assert_eq!(rule["exception"]["ticket"], "INC-7");
    assert_eq!(rule["exception"]["granted_by"], "alice");
    assert_eq!(
        rule["exception"]["reason"],
        "restore test from the backup network"
    );
    assert_eq!(rule["expires"], "2026-11-15T11:00:00.000000Z");
    assert_eq!(rule["evidence"]["source"], "exception");
    assert!(d.get("expired_exceptions").is_none());

    // At its expiry it is gone from the draft, and reported as expired.
    let out = draft_at(
        "2026-11-15T11:00:00Z",
        db,
        &["--out", after.to_str().unwrap()],
    );
    assert!(
        out.contains("expired exception #1 (INC-7) left out"),
        "{out}"
    );
    let d = read(&after);
    assert!(!rules(&d).iter().any(|(_, c, _)| c == "10.0.9.0/24"));
    assert_eq!(d["expired_exceptions"][0]["id"], 1);
    assert_eq!(
        d["expired_exceptions"][0]["expired_at"],
        "2026-11-15T11:00:00.000000Z"
    );
    // A later draft reports it again but audits its expiry only once.
    draft_at(
        "2026-11-16T09:00:00Z",
        db,
        &["--by", "bob", "--out", after.to_str().unwrap()],
    );

    let list = json(depmap_at(
        "2026-11-15T11:30:00Z",
        &["policy", "except", "list", "--db", db, "--format", "json"],
    ));
    assert_eq!(list[0]["state"], "expired");
    let table = ok(depmap_at(
        "2026-11-15T10:30:00Z",
        &["policy", "except", "list", "--db", db],
    ));
    assert!(table.contains("#1  active"), "{table}");

    let audit = json(depmap_at(
        "2026-11-16T09:00:00Z",
        &["policy", "audit", "--db", db, "--format", "json"],
    ));
    let rows: Vec<(String, String, String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["at"].as_str().unwrap().to_string(),
                r["who"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
                r["what"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let actions: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(
        actions,
        ["except", "draft", "draft", "expire", "draft"],
        "{rows:#?}"
    );
    assert_eq!(rows[0].0, "2026-11-15T10:00:00.000000Z");
    assert_eq!(rows[0].1, "alice");
    assert!(rows[0]
        .3
        .contains("exception #1: allow 10.0.9.0/24 -> 10.0.4.20:5432/tcp"));
    assert_eq!(audit[0]["ticket"], "INC-7");
    assert!(
        rows[1].3.contains("exceptions included: #1"),
        "{}",
        rows[1].3
    );
    assert_eq!(rows[1].1, "tester", "$USER when --by is not given");
    assert!(rows[2].3.contains("expired left out: #1"), "{}", rows[2].3);
    assert_eq!(rows[3].0, "2026-11-15T11:00:00.000000Z");
    assert!(rows[3].3.contains("exception #1 expired"), "{}", rows[3].3);
    assert_eq!(audit[3]["ticket"], "INC-7");
    assert_eq!(rows[4].1, "bob");
    let table = ok(depmap_at(
        "2026-11-16T09:00:00Z",
        &["policy", "audit", "--db", db],
    ));
    assert!(
        table.lines().next().unwrap().starts_with("ID  AT"),
        "{table}"
    );
    assert!(
        table.contains("alice") && table.contains("expire"),
        "{table}"
    );

    // A revoked exception stops at once, and the revocation is audited.
    ok(depmap_at(
        "2026-11-16T10:00:00Z",
        &[
            "policy",
            "except",
            "--db",
            db,
            "--client",
            "10.0.9.9",
            "--server",
            "10.0.0.25",
            "--port",
            "25",
            "--ttl",
            "2d",
            "--ticket",
            "INC-8",
            "--reason",
            "mail relay test",
        ],
    ));
    let out = ok(depmap_at(
        "2026-11-16T10:05:00Z",
        &[
            "policy", "except", "revoke", "2", "--db", db, "--by", "carol", "--ticket", "INC-8",
        ],
    ));
    assert!(out.contains("exception #2 revoked by carol"), "{out}");
    draft_at(
        "2026-11-16T10:10:00Z",
        db,
        &["--out", after.to_str().unwrap()],
    );
    assert!(!rules(&read(&after)).iter().any(|(_, c, _)| c == "10.0.9.9"));
    let audit = json(depmap_at(
        "2026-11-16T10:10:00Z",
        &["policy", "audit", "--db", db, "--format", "json"],
    ));
    let revoke = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "revoke")
        .unwrap();
    assert_eq!(
        (revoke["who"].as_str(), revoke["ticket"].as_str()),
        (Some("carol"), Some("INC-8"))
    );

    // Bad flags name themselves.
    for (args, says) in [
        (vec!["--client", "10.0.9.0/40"], "--client"),
        (vec!["--client", "10.0.9.1", "--ttl", "soon"], "--ttl"),
        (vec!["--client", "10.0.9.1", "--proto", "tcpx"], "--proto"),
    ] {
        let mut all = vec![
            "policy",
            "except",
            "--db",
            db,
            "--server",
            "10.0.4.20",
            "--port",
            "5432",
            "--ticket",
            "T",
            "--reason",
            "r",
        ];
        all.extend(&args);
        if !args.contains(&"--ttl") {
            all.extend(["--ttl", "1h"]);
        }
        let out = depmap_at("2026-11-16T10:10:00Z", &all);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
    let out = depmap_at("2026-11-16T10:10:00Z", &["policy", "audit", "--db", db]);
    assert!(out.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_depmap"))
        .args(["policy", "audit", "--db", db])
        .env("DEPMAP_NOW", "yesterday")
        .output()
        .unwrap();
    assert!(out.status.success(), "audit does not read the clock");
    let out = Command::new(env!("CARGO_BIN_EXE_depmap"))
        .args(["policy", "except", "list", "--db", db])
        .env("DEPMAP_NOW", "yesterday")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("DEPMAP_NOW"));
}

#[test]
fn render_and_simulate_leave_out_rules_past_their_expiry() {
    let (dir, db) = built(45);
    let db = db.as_str();
    let file = dir.path().join("d.json");
    let file = file.to_str().unwrap();
    // Every learned rule expires a day after the draft; one exception
    // (TTL 1h) for a network that sends no traffic.
    grant_backup_exception(db, &[]);
    draft_at(
        "2026-11-15T10:00:00Z",
        db,
        &["--expires", "1d", "--ticket", "CHG-1", "--out", file],
    );
    let learned = rules(&read(Path::new(file))).len() - 1;
    assert!(learned > 5);

    // Within the hour both kinds are rendered and nothing is denied.
    let before = depmap_at(
        "2026-11-15T10:30:00Z",
        &["policy", "render", "--format", "nftables", file],
    );
    let stderr = String::from_utf8_lossy(&before.stderr).to_string();
    assert!(ok(before).contains("10.0.9.0/24"));
    assert!(!stderr.contains("left out, expired"), "{stderr}");
    // Only the thin edges the draft left for review would be denied.
    let sim = depmap_at(
        "2026-11-15T10:30:00Z",
        &["policy", "simulate", "--policy", file, "--db", db, "--json"],
    );
    let review = read(Path::new(file))["review"].as_array().unwrap().len();
    let denied_before: Value = serde_json::from_slice(&sim.stdout).unwrap();
    assert_eq!(denied_before.as_array().unwrap().len(), review);

    // After the hour the exception is left out, and said so.
    let after = depmap_at(
        "2026-11-15T11:00:00Z",
        &["policy", "render", "--format", "nftables", file],
    );
    let stderr = String::from_utf8_lossy(&after.stderr).to_string();
    assert!(!ok(after).contains("10.0.9.0/24"));
    assert!(
        stderr.contains(
            "left out, expired 2026-11-15T11:00:00.000000Z: 10.0.9.0/24 -> 10.0.4.20:5432/tcp \
             (ticket INC-7)"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.matches("left out, expired").count(), 1, "{stderr}");

    // A day later every learned rule has lapsed too: simulation denies the
    // traffic they allowed and lists them; the JSON stays one document.
    let sim = depmap_at(
        "2026-11-16T10:00:00Z",
        &["policy", "simulate", "--policy", file, "--db", db, "--json"],
    );
    assert_eq!(sim.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&sim.stderr).to_string();
    assert_eq!(
        stderr.matches("left out, expired").count(),
        learned + 1,
        "{stderr}"
    );
    assert!(stderr.contains("(ticket CHG-1)"), "{stderr}");
    let denied: Value = serde_json::from_slice(&sim.stdout).unwrap();
    assert!(denied.as_array().unwrap().len() >= review + learned);

    // An expiry that is not a time is an error naming the rule.
    let text = std::fs::read_to_string(file).unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        text.replacen("2026-11-16T10:00:00.000000Z", "next tuesday", 1),
    )
    .unwrap();
    let out = depmap_at(
        "2026-11-15T10:30:00Z",
        &[
            "policy",
            "render",
            "--format",
            "nftables",
            bad.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"next tuesday\", which is not an RFC 3339 time"),
        "{stderr}"
    );
}

#[test]
fn unused_waits_for_a_monthly_rule_and_reports_a_silent_continuous_one() {
    // 2026-10-01 .. 2026-11-21: the monthly audit call was last seen on
    // 2026-11-01 (20 days before the data ends); the FTP edge, continuous
    // for its first 20 days, last on 2026-10-20 (32 days).
    let (dir, db) = built(52);
    let db = db.as_str();
    let draft = dir.path().join("d.json");
    let now = "2026-11-22T08:00:00Z";
    draft_at(
        now,
        db,
        &["--min-connections", "1", "--out", draft.to_str().unwrap()],
    );
    let draft = draft.to_str().unwrap();

    let r = json(depmap_at(
        now,
        &[
            "policy", "unused", "--db", db, "--policy", draft, "--days", "30", "--format", "json",
        ],
    ));
    assert_eq!(r["as_of"], "2026-11-21");
    let unused: Vec<(&str, &str)> = r["unused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["client"].as_str().unwrap(), u["server"].as_str().unwrap()))
        .collect();
    assert!(unused.contains(&("10.0.3.60", "10.0.6.6")), "{r:#}");
    assert!(!unused.iter().any(|(_, s)| *s == "203.0.113.10"), "{r:#}");
    let ftp = r["unused"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["server"] == "10.0.6.6")
        .unwrap();
    assert_eq!(ftp["idle_days"], 32);
    assert_eq!(ftp["last_seen"], "2026-10-20");
    // The one-off session on 2026-10-14 is idle 38 days: unused too; the
    // daily, weekly and continuous edges are in use.
    assert_eq!(unused.len(), 2, "{r:#}");
    assert!(unused.contains(&("10.0.1.107", "10.0.4.20")));

    // With a 14-day threshold the monthly call is idle long enough, but its
    // next occurrence (2026-12-01) has not come: waiting, not unused.
    let r = json(depmap_at(
        now,
        &[
            "policy", "unused", "--db", db, "--policy", draft, "--days", "14", "--format", "json",
        ],
    ));
    assert!(!r["unused"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["server"] == "203.0.113.10"));
    let waiting = &r["waiting"][0];
    assert_eq!(waiting["server"], "203.0.113.10");
    assert_eq!(waiting["pattern"], "monthly");
    assert_eq!(waiting["next_expected"], "2026-12-01");
    assert_eq!(waiting["idle_days"], 20);

    // Once 2026-12-01 (plus two days' grace) has passed without it, it is unused.
    let r = json(depmap_at(
        now,
        &[
            "policy",
            "unused",
            "--db",
            db,
            "--policy",
            draft,
            "--days",
            "30",
            "--as-of",
            "2026-12-04",
            "--format",
            "json",
        ],
    ));
    let audit = r["unused"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["server"] == "203.0.113.10")
        .unwrap();
    assert!(audit["why"]
        .as_str()
        .unwrap()
        .contains("missed its expected occurrence on 2026-12-01"));

    let table = ok(depmap_at(
        now,
        &[
            "policy", "unused", "--db", db, "--policy", draft, "--days", "14",
        ],
    ));
    assert!(table.contains("as of 2026-11-21"), "{table}");
    assert!(table.contains("waiting  203.0.113.10:443/tcp"), "{table}");
    assert!(table.contains("unused   10.0.6.6:21/tcp"), "{table}");
}

/// (server, client) of each rule in a diff's `added` or `removed`.
fn service_clients(rules: &Value) -> Vec<(&str, &str)> {
    rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["server"].as_str().unwrap(),
                r["rule"]["client"].as_str().unwrap(),
            )
        })
        .collect()
}

#[test]
fn diff_list_show_and_rollback_of_versioned_drafts() {
    let (dir, db) = built(45);
    let db = db.as_str();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());

    // Version 1: the whole span under CHG-1.
    draft_at(
        "2026-11-15T09:00:00Z",
        db,
        &["--min-connections", "1", "--ticket", "CHG-1", "--out", a],
    );
    // An exception, then version 2: from 2026-10-21 on (the FTP edge and the
    // one-off session are gone, the monthly call is seen once) under CHG-2.
    ok(depmap_at(
        "2026-11-15T09:30:00Z",
        &[
            "policy",
            "except",
            "--db",
            db,
            "--client",
            "10.0.7.7",
            "--server",
            "10.0.3.11",
            "--port",
            "22",
            "--ttl",
            "8h",
            "--ticket",
            "INC-9",
            "--reason",
            "vendor support",
        ],
    ));
    draft_at(
        "2026-11-15T10:00:00Z",
        db,
        &[
            "--from",
            "2026-10-21",
            "--min-connections",
            "1",
            "--ticket",
            "CHG-2",
            "--out",
            b,
        ],
    );

    for (x, y) in [("1", "2"), (a, b), ("1", b)] {
        let d = json(depmap_at(
            "2026-11-15T10:00:00Z",
            &["policy", "diff", "--db", db, x, y, "--format", "json"],
        ));
        assert_eq!(d["schema"], "depmap.policy-diff/v1");
        let added = service_clients(&d["added"]);
        assert_eq!(added, [("10.0.3.11", "10.0.7.7")], "{d:#}");
        assert_eq!(d["added"][0]["rule"]["exception"]["ticket"], "INC-9");
        let removed = service_clients(&d["removed"]);
        assert_eq!(
            removed,
            [("10.0.4.20", "10.0.1.107"), ("10.0.6.6", "10.0.3.60")],
            "{d:#}"
        );
        let changed = d["changed"].as_array().unwrap();
        // Every rule in both changed ticket; the monthly call also pattern.
        assert_eq!(changed.len(), 6, "{d:#}");
        assert_eq!(d["unchanged"], 0);
        for c in changed {
            assert_eq!(c["changes"][0]["field"], "ticket");
            assert_eq!(c["changes"][0]["from"], "CHG-1");
            assert_eq!(c["changes"][0]["to"], "CHG-2");
        }
        let monthly = changed
            .iter()
            .find(|c| c["server"] == "203.0.113.10")
            .unwrap();
        assert_eq!(monthly["changes"][1]["field"], "pattern");
        assert_eq!(monthly["changes"][1]["from"], "monthly");
        assert_eq!(monthly["changes"][1]["to"], "one-off");
    }

    let t = ok(depmap_at(
        "2026-11-15T10:00:00Z",
        &["policy", "diff", "--db", db, "1", "2"],
    ));
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[0].starts_with("version 1 ("), "{t}");
    assert!(
        lines[0].contains("1 added, 2 removed, 6 changed, 0 unchanged"),
        "{t}"
    );
    assert!(
        lines[1].contains("SERVICE") && lines[1].contains("CLIENT"),
        "{t}"
    );
    let row = |mark: &str, service: &str, client: &str| {
        lines.iter().any(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells.len() > 3 && cells[0] == mark && cells[1] == service && cells[2] == client
        })
    };
    assert!(row("+", "10.0.3.11:22/tcp", "10.0.7.7"), "{t}");
    assert!(row("-", "10.0.6.6:21/tcp", "10.0.3.60"), "{t}");
    assert!(row("-", "10.0.4.20:5432/tcp", "10.0.1.107"), "{t}");
    assert!(row("~", "203.0.113.10:443/tcp", "10.0.3.50"), "{t}");
    assert!(t.contains("exception #1 (INC-9)"), "{t}");
    assert!(
        t.contains("ticket: CHG-1 -> CHG-2; pattern: monthly -> one-off"),
        "{t}"
    );

    // Rollback makes version 3 with version 1's content; nothing is deleted.
    let out = ok(depmap_at(
        "2026-11-15T11:00:00Z",
        &[
            "policy", "rollback", "1", "--db", db, "--ticket", "CHG-3", "--by", "dave",
        ],
    ));
    assert!(out.contains("version 3: the content of version 1"), "{out}");
    let list = json(depmap_at(
        "2026-11-15T11:00:00Z",
        &["policy", "list", "--db", db, "--format", "json"],
    ));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["content_hash"], list[2]["content_hash"]);
    assert_ne!(list[0]["content_hash"], list[1]["content_hash"]);
    assert_eq!(list[2]["author"], "dave");
    assert_eq!(list[2]["ticket"], "CHG-3");
    assert_eq!(list[0]["ticket"], "CHG-1");
    let table = ok(depmap_at(
        "2026-11-15T11:00:00Z",
        &["policy", "list", "--db", db],
    ));
    assert!(table.contains("rollback to version 1"), "{table}");
    let v1 = ok(depmap_at(
        "2026-11-15T11:00:00Z",
        &["policy", "show", "1", "--db", db],
    ));
    let v3 = ok(depmap_at(
        "2026-11-15T11:00:00Z",
        &["policy", "show", "3", "--db", db],
    ));
    assert_eq!(v1, v3);
    assert_eq!(
        serde_json::from_str::<Value>(&v1).unwrap(),
        read(Path::new(a))
    );
    let same = ok(depmap_at(
        "2026-11-15T11:00:00Z",
        &["policy", "diff", "--db", db, "1", "3"],
    ));
    assert!(
        same.contains("0 added, 0 removed, 0 changed, 8 unchanged"),
        "{same}"
    );
    assert!(same.contains("no rule differs"), "{same}");
    let audit = json(depmap_at(
        "2026-11-15T11:00:00Z",
        &["policy", "audit", "--db", db, "--format", "json"],
    ));
    let last = audit.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["who"].as_str()),
        (Some("rollback"), Some("dave"))
    );
    assert!(last["what"].as_str().unwrap().starts_with("version 3 ("));

    // Rolling back to a version whose exception has ended since restores it
    // as it was, and says so.
    let out = ok(depmap_at(
        "2026-11-15T18:00:00Z",
        &["policy", "rollback", "2", "--db", db],
    ));
    assert!(out.contains("version 4: the content of version 2"), "{out}");
    assert!(
        out.contains("exceptions that have ended since: #1 (expired)"),
        "{out}"
    );

    // Unknown versions and files say what to do.
    let out = depmap_at("2026-11-15T11:00:00Z", &["policy", "show", "9", "--db", db]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no policy version 9"));
    let out = depmap_at(
        "2026-11-15T11:00:00Z",
        &["policy", "diff", "--db", db, "1", "nope.json"],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("neither a draft file nor a version number")
    );
}

/// Ingests `files` into a new store, drafts from it (`draft_args` added),
/// then simulates the draft from the store and from the files themselves
/// (`--pcap` or `--flows`, pointing --db at a file that must not appear):
/// both must report the same denied edges. Returns them.
fn simulate_both_ways(dir: &Path, files: &[&Path], flows: bool, draft_args: &[&str]) -> Value {
    let now = "2026-11-20T12:00:00Z";
    let db = dir.join("store.db");
    let db = db.to_str().unwrap();
    let files: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let mut ingest = vec!["ingest", "--db", db];
    if flows {
        ingest.push("--flows");
    }
    ingest.extend(&files);
    ok(depmap_at(now, &ingest));
    let draft = dir.join("draft.json");
    let mut args = vec![
        "policy",
        "draft",
        "--db",
        db,
        "--out",
        draft.to_str().unwrap(),
    ];
    args.extend(draft_args);
    ok(depmap_at(now, &args));
    let policy = draft.to_str().unwrap();

    let from_store = depmap_at(
        now,
        &[
            "policy", "simulate", "--db", db, "--policy", policy, "--json",
        ],
    );
    let none = dir.join("not-a-store.db");
    let mut args = vec![
        "policy",
        "simulate",
        "--db",
        none.to_str().unwrap(),
        "--policy",
        policy,
        "--json",
        if flows { "--flows" } else { "--pcap" },
    ];
    args.extend(&files);
    let from_files = depmap_at(now, &args);
    assert!(!none.exists(), "simulating from files writes no store");
    assert_eq!(from_store.status.code(), from_files.status.code());
    let stderr = String::from_utf8_lossy(&from_files.stderr);
    assert!(stderr.contains("replayed"), "{stderr}");
    let a: Value = serde_json::from_slice(&from_store.stdout).unwrap();
    let b: Value = serde_json::from_slice(&from_files.stdout).unwrap();
    assert_eq!(
        a, b,
        "the same aggregation from the files as from the store"
    );
    b
}

#[test]
fn simulate_replays_a_generated_capture_as_ingest_would() {
    use depmap_synth::Scenario;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("company.pcap");
    let demo = Scenario::small_company();
    demo.write_pcap(
        Scenario::DEMO_SEED,
        std::io::BufWriter::new(std::fs::File::create(&pcap).unwrap()),
    )
    .unwrap();
    // Learned from two weeks, the draft misses what recurs less often, and
    // replaying the whole capture shows it with dates and hours.
    let denied = simulate_both_ways(
        dir.path(),
        &[&pcap],
        false,
        &["--from", "2026-10-02", "--to", "2026-10-15"],
    );
    let denied = denied.as_array().unwrap();
    assert!(!denied.is_empty());
    let monthly: Vec<_> = demo
        .expected_edges()
        .into_iter()
        .filter(|e| e.pattern == depmap_synth::Pattern::Monthly)
        .collect();
    assert!(!monthly.is_empty());
    for e in &monthly {
        let hit = denied.iter().find(|d| {
            d["client"] == e.client.to_string()
                && d["server"] == e.server.to_string()
                && d["port"] == e.port
        });
        let hit = hit.unwrap_or_else(|| panic!("monthly edge {e:?} not denied"));
        assert!(
            hit["when"][0].as_str().unwrap().starts_with("2026-1"),
            "{hit}"
        );
    }

    // A draft from the whole capture allows all of it: exit status 0.
    let all = dir.path().join("all.json");
    let db = dir.path().join("store.db");
    ok(depmap_at(
        "2026-11-20T12:00:00Z",
        &[
            "policy",
            "draft",
            "--db",
            db.to_str().unwrap(),
            "--min-connections",
            "1",
            "--out",
            all.to_str().unwrap(),
        ],
    ));
    let out = depmap_at(
        "2026-11-20T12:00:00Z",
        &[
            "policy",
            "simulate",
            "--policy",
            all.to_str().unwrap(),
            "--pcap",
            pcap.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("allows all recorded traffic"));
}

#[test]
fn simulate_replays_real_packet_and_flow_captures() {
    let Some(caps) = common::captures() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Packets: a TLS capture with 165 conversations, most of them a single
    // connection, which the default threshold sends to review.
    let d = dir.path().join("packets");
    std::fs::create_dir(&d).unwrap();
    let denied = simulate_both_ways(&d, &[&caps.join("pcapplusplus__tls2.pcap")], false, &[]);
    assert!(denied.as_array().unwrap().len() > 10, "{denied:#}");

    // Flow exports: NetFlow v9 and IPFIX from two exporters, in two files.
    let d = dir.path().join("flows");
    std::fs::create_dir(&d).unwrap();
    let files = [
        caps.join("pmacct__111-IPFIX-NFv9-mix-00.pcap"),
        caps.join("pmacct__111-IPFIX-NFv9-mix-01.pcap"),
    ];
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let denied = simulate_both_ways(&d, &refs, true, &["--min-connections", "1000000"]);
    assert!(!denied.as_array().unwrap().is_empty(), "{denied:#}");

    let policy = d.join("draft.json");
    let replay = |kind: &str, file: &Path| {
        let (policy, file) = (policy.to_str().unwrap(), file.to_str().unwrap());
        depmap_at(
            "2026-11-20T12:00:00Z",
            &["policy", "simulate", "--policy", policy, kind, file],
        )
    };
    // A packet capture given as flows holds no exports: said, not guessed.
    let out = replay("--flows", &caps.join("zeek__mysql_auth.pcap"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no NetFlow/IPFIX/sFlow datagrams"));
    // A missing file is named.
    let out = replay("--pcap", Path::new("no-such.pcap"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such.pcap"));
}
