//! `depmap policy render` end to end: a real store, a draft from it, and
//! every target rendered from the draft file with an inventory file; the
//! nftables ruleset is checked by `nft -c -f` where nft can run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use depmap_edges::{NameRecord, NameSource, NANOS_PER_DAY};
use depmap_store::{Batch, MapStore, Store};

use crate::common;

use common::{depmap, failed, ok};

fn text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn a_draft_renders_to_every_target_with_what_is_not_expressed_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    common::build(&db, 45);
    // The monthly export's server is known by the name a DNS answer gave.
    let day = depmap_edges::calendar::days_from_civil(2026, 10, 1);
    Store::open(&db)
        .unwrap()
        .commit(&common::packets(Batch {
            edges: Vec::new(),
            activity: Vec::new(),
            names: [
                "203.0.113.10 audit.partner.example",
                "198.51.100.20 sftp.bank.example",
            ]
            .iter()
            .map(|s| {
                let (address, name) = s.split_once(' ').unwrap();
                NameRecord {
                    address: address.parse().unwrap(),
                    name: name.to_string(),
                    source: NameSource::Dns,
                    first_seen: i64::from(day) * NANOS_PER_DAY,
                    last_seen: i64::from(day) * NANOS_PER_DAY,
                }
            })
            .collect(),
        }))
        .unwrap();
    // A time-bound exception to a server the traffic never showed: the
    // draft carries it, with the server's name.
    ok(depmap(&[
        "policy",
        "except",
        "--db",
        db.to_str().unwrap(),
        "--client",
        "10.0.3.11",
        "--server",
        "198.51.100.20",
        "--port",
        "22",
        "--ttl",
        "2h",
        "--ticket",
        "INC-7",
        "--reason",
        "bank statement upload",
        "--by",
        "oncall",
    ]));
    let draft = dir.path().join("draft.json");
    ok(depmap(&[
        "policy",
        "draft",
        "--db",
        db.to_str().unwrap(),
        "--ticket",
        "CHG-42",
        "--out",
        draft.to_str().unwrap(),
    ]));
    assert!(text(&draft).contains("audit.partner.example"));
    assert!(text(&draft).contains("sftp.bank.example"));

    let inventory = dir.path().join("inventory.toml");
    std::fs::write(
        &inventory,
        r#"
[[host]]
address = "10.0.4.20"
role = "database"
labels = { app = "erp-db", namespace = "erp" }

[[host]]
address = "10.0.3.50"
labels = { app = "audit-export", namespace = "erp" }

[[host]]
address = "10.0.3.11"
labels = { app = "erp", namespace = "erp" }
"#,
    )
    .unwrap();

    for format in ["nftables", "iptables", "k8s", "cilium", "aws-sg"] {
        let rendered = dir.path().join(format!("out.{format}"));
        let out = depmap(&[
            "policy",
            "render",
            "--format",
            format,
            "--inventory",
            inventory.to_str().unwrap(),
            "--out",
            rendered.to_str().unwrap(),
            draft.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{format}: {stderr}");
        assert!(
            stderr.contains(&format!("allow rules for {format} into")),
            "{format}: {stderr}"
        );
        let body = text(&rendered);
        assert!(body.contains("CHG-42"), "{format}: evidence kept");
        match format {
            "k8s" => {
                // The workstation network and the mail server have no labels.
                assert!(
                    stderr.contains(
                        "not expressed in k8s: 10.0.2.10 tcp/443: the server has no labels"
                    ),
                    "{stderr}"
                );
                assert!(body.contains("\"kind\": \"NetworkPolicy\""));
            }
            "cilium" => {
                assert!(
                    body.contains("\"matchName\": \"audit.partner.example\""),
                    "{body}"
                );
                // The exception's server, outside the cluster, by its DNS name.
                assert!(
                    body.contains("\"matchName\": \"sftp.bank.example\""),
                    "{body}"
                );
                assert!(
                    body.contains(
                        "depmap: 10.0.3.11 -> 198.51.100.20 tcp/22; exception #1, ticket INC-7"
                    ),
                    "{body}"
                );
            }
            "aws-sg" => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert!(!v["SecurityGroups"].as_array().unwrap().is_empty());
            }
            _ => {}
        }
    }

    // The nftables ruleset loads (check mode) with the real nft.
    let nft = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    match nft {
        None => eprintln!(
            "skipped the nft check: nft is not installed (./scripts/setup installs nftables)"
        ),
        Some(nft) => {
            let out = Command::new(nft)
                .args(["-c", "-f"])
                .arg(dir.path().join("out.nftables"))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() && stderr.contains("Operation not permitted") {
                eprintln!("skipped the nft check: nft -c needs CAP_NET_ADMIN here: {stderr}");
            } else {
                assert!(out.status.success(), "nft -c -f refused it: {stderr}");
            }
        }
    }

    // Standard output when there is no --out.
    let out = depmap(&[
        "policy",
        "render",
        "--format",
        "nftables",
        draft.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("table inet depmap {"));
}

#[test]
fn render_names_a_file_that_is_not_a_draft() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("map.json");
    std::fs::write(&bad, "{\"schema\": \"depmap.map/v1\"}").unwrap();
    let stderr = failed(depmap(&[
        "policy",
        "render",
        "--format",
        "k8s",
        bad.to_str().unwrap(),
    ]));
    assert!(
        stderr.contains("map.json is not a depmap policy draft"),
        "{stderr}"
    );

    let err = failed(depmap(&[
        "policy",
        "render",
        "--format",
        "pf",
        bad.to_str().unwrap(),
    ]));
    assert!(err.contains("nftables"), "{err}");
}

/// The Kubernetes and Cilium renderings of a draft made from a sample store
/// (45 days, one edge of every pattern, fixed clock) read back as their
/// typed documents and match the committed golden files
/// (`tests/snapshots/`; review a change with `cargo insta review`).
#[test]
fn kubernetes_and_cilium_renderings_of_a_sample_store_are_golden() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    common::build(&db, 45);
    let inventory = dir.path().join("inventory.toml");
    std::fs::write(
        &inventory,
        r#"
[[host]]
address = "10.0.4.20"
role = "database"
labels = { app = "erp-db", namespace = "erp" }

[[host]]
address = "10.0.2.10"
role = "web"
labels = { app = "portal", namespace = "web" }

[[host]]
address = "10.0.3.11"
labels = { app = "erp", namespace = "erp" }

[[host]]
address = "10.0.1.0/24"
role = "workstation"
labels = { app = "desktop", namespace = "office" }
"#,
    )
    .unwrap();
    let draft = dir.path().join("draft.json");
    let at = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_depmap"))
            .args(args)
            .env("DEPMAP_NOW", "2026-11-15T09:00:00Z")
            .env_remove("DEPMAP_DB")
            .output()
            .unwrap()
    };
    ok(at(&[
        "policy",
        "draft",
        "--db",
        db.to_str().unwrap(),
        "--ticket",
        "CHG-42",
        "--owner",
        "erp-team",
        "--expires",
        "90d",
        "--out",
        draft.to_str().unwrap(),
    ]));
    let render = |format: &str| -> String {
        ok(at(&[
            "policy",
            "render",
            "--format",
            format,
            "--inventory",
            inventory.to_str().unwrap(),
            draft.to_str().unwrap(),
        ]))
    };
    let k8s = render("k8s");
    let typed: depmap_policy::render::k8s::NetworkPolicyList =
        serde_json::from_str(&k8s).expect("k8s rendering is a NetworkPolicy list");
    assert!(!typed.items.is_empty());
    insta::assert_snapshot!("sample_store_k8s", k8s);
    let cilium = render("cilium");
    let typed: depmap_policy::render::cilium::CiliumNetworkPolicyList =
        serde_json::from_str(&cilium).expect("cilium rendering is a CiliumNetworkPolicy list");
    assert!(!typed.items.is_empty());
    insta::assert_snapshot!("sample_store_cilium", cilium);
}
