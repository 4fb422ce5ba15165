//! Names end to end: real captures ingested into a real store, and the
//! exported map carries the names learned from DNS answers and TLS SNI on
//! the right addresses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

/// The shared data directory (not only its captures), if present; under
/// `CI` its absence fails the test.
fn captures() -> Option<PathBuf> {
    depmap_testdata::shared_data()
}

/// Ingests `files` into a fresh store and returns address -> names from the
/// JSON export's nodes.
fn node_names(files: &[PathBuf]) -> BTreeMap<String, BTreeSet<String>> {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let out = Command::new(env!("CARGO_BIN_EXE_depmap"))
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_depmap"))
        .args(["export", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["ip"].as_str().unwrap().to_string(),
                n["names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// Every TLS flow nDPI names in sites.pcapng: its SNI is on its server's node.
#[test]
fn sites_sni_on_server_nodes_match_ndpi() {
    let Some(data) = captures() else { return };
    let names = node_names(&[data.join("captures/ndpi__sites.pcapng")]);
    let truth =
        std::fs::read_to_string(data.join("ground-truth/ndpi__sites.pcapng.ndpiReader.out"))
            .unwrap();
    let mut checked = 0;
    for line in truth
        .lines()
        .filter(|l| l.contains("\tTCP ") && l.contains("TLS"))
    {
        let Some(sni) = line
            .split("[Hostname/SNI: ")
            .nth(1)
            .and_then(|s| s.split(']').next())
        else {
            continue;
        };
        let server = line
            .split(" <-> ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let Some((ip, _port)) = server.rsplit_once(':') else {
            continue;
        };
        let ip = ip.trim_matches(|c| c == '[' || c == ']');
        assert!(
            names.get(ip).is_some_and(|n| n.contains(sni)),
            "{ip} should be named {sni}; has {:?}",
            names.get(ip)
        );
        checked += 1;
    }
    assert!(checked >= 55, "{checked}");
}

/// DNS answers in DnsPackets.pcap and SNI in tls2.pcap name their addresses.
#[test]
fn dns_and_sni_names_on_nodes() {
    let Some(data) = captures() else { return };
    let names = node_names(&[
        data.join("captures/pcapplusplus__DnsPackets.pcap"),
        data.join("captures/pcapplusplus__tls2.pcap"),
    ]);
    let has = |ip: &str, name: &str| names.get(ip).is_some_and(|n| n.contains(name));
    // mDNS answer for a local host, on the host that answered it.
    assert!(
        has("10.0.0.2", "yaels-iphone.local"),
        "{:?}",
        names.get("10.0.0.2")
    );
    // SNIs from tls2: every server with a name, and 164 distinct names in all.
    let all: BTreeSet<&String> = names.values().flatten().collect();
    assert!(all.len() >= 164, "{}", all.len());
}
