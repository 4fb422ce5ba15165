//! The DOT export of a real map of about 300 edges renders with real Graphviz.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn three_hundred_edge_map_renders_with_graphviz() {
    let Some(data) = depmap_testdata::captures() else {
        return;
    };
    if Command::new("dot").arg("-V").output().is_err() {
        eprintln!("skipped: Graphviz's dot is not installed (./scripts/setup installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let ok = Command::new(env!("CARGO_BIN_EXE_depmap"))
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(data.join("mercury__capture2.pcap"))
        .arg(data.join("pcapplusplus__tls2.pcap"))
        .output()
        .unwrap();
    assert!(ok.status.success());
    let dot = dir.path().join("map.dot");
    let out = Command::new(env!("CARGO_BIN_EXE_depmap"))
        .args(["export", "--format", "dot", "--db"])
        .arg(&db)
        .arg("--out")
        .arg(&dot)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&dot).unwrap();
    let edges = text.matches(" -> ").count();
    assert!(edges >= 300, "{edges} arrows");
    let svg = dir.path().join("map.svg");
    let render = Command::new("dot")
        .arg("-Tsvg")
        .arg(&dot)
        .arg("-o")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        render.status.success(),
        "{}",
        String::from_utf8_lossy(&render.stderr)
    );
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains("class=\"cluster\""));
}
