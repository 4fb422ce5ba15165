//! The `depmap` binary end to end: real files, a real SQLite store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use common::captures;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn depmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_depmap"))
        .args(args)
        .env_remove("DEPMAP_DB")
        .output()
        .expect("run depmap")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A tiny valid pcap (one UDP packet 10.0.0.1:40000 -> 10.0.0.2:53) made here,
/// so these tests run without the shared data too.
fn tiny_pcap(dir: &Path) -> PathBuf {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    f.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&101u32.to_le_bytes()); // LINKTYPE_RAW
    let pkt: Vec<u8> = [
        &[
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ][..],
        &[0x9c, 0x40, 0, 53, 0, 8, 0, 0],
    ]
    .concat();
    f.extend_from_slice(&1_700_000_000u32.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
    f.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
    f.extend_from_slice(&pkt);
    let p = dir.join("tiny.pcap");
    std::fs::write(&p, f).unwrap();
    p
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["ingest", "--help"],
        vec!["export", "--help"],
    ] {
        let o = depmap(&args);
        assert!(o.status.success(), "{args:?}");
        assert!(text(&o).0.contains("Usage"), "{args:?}");
    }
}

#[test]
fn ingest_export_and_refuse_a_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("map.db");
    let db = db.to_str().unwrap();
    let pcap = tiny_pcap(dir.path());
    let pcap = pcap.to_str().unwrap();

    let o = depmap(&["ingest", "--db", db, pcap]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("1 frames, 1 IP packets"), "{out}");
    assert!(out.contains("edges: 1 (1 added, 0 updated)"), "{out}");

    // The same content again is refused and changes nothing...
    let o = depmap(&["ingest", "--db", db, pcap]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("already ingested"), "{}", text(&o).1);
    // ...unless forced, which adds to the existing edge.
    let o = depmap(&["ingest", "--db", db, "--force", pcap]);
    assert!(o.status.success());
    assert!(text(&o).0.contains("(0 added, 1 updated)"));

    let o = depmap(&["export", "--db", db, "--format", "json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let e = &v["edges"][0];
    assert_eq!(e["client"], "10.0.0.1");
    assert_eq!(e["server"], "10.0.0.2");
    assert_eq!(e["port"], 53);
    assert_eq!(e["proto"], "udp");
    assert_eq!(e["connections"], 2);
    assert_eq!(e["client_packets"], 2);
    assert_eq!(e["client_bytes"], 56);
    assert_eq!(e["first_seen"], "2023-11-14T22:13:20.000000Z");
    assert_eq!(v["nodes"].as_array().unwrap().len(), 2);

    let out = dir.path().join("map.dot");
    let o = depmap(&[
        "export",
        "--db",
        db,
        "--format",
        "dot",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let dot = std::fs::read_to_string(&out).unwrap();
    assert!(dot.starts_with("digraph depmap"));
    assert!(dot.contains("\"10.0.0.1\" -> \"10.0.0.2\""));
    assert!(dot.contains("udp/53"));

    let o = depmap(&["export", "--db", db, "--format", "csv"]);
    assert!(text(&o)
        .0
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("10.0.0.1,10.0.0.2,53,udp,2,"));
}

#[test]
fn bad_inputs_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("map.db");
    let db = db.to_str().unwrap();
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "not a capture").unwrap();

    let o = depmap(&["ingest", "--db", db, junk.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("not a pcap or pcapng capture"),
        "{}",
        text(&o).1
    );

    let o = depmap(&["ingest", "--db", db, "/nonexistent/x.pcap"]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("/nonexistent/x.pcap"));

    let o = depmap(&["export", "--db", "/nonexistent/map.db", "--format", "json"]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("no such database"));

    // A file that is not a database.
    let o = depmap(&["export", "--db", junk.to_str().unwrap(), "--format", "json"]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("not a depmap database"),
        "{}",
        text(&o).1
    );

    let o = depmap(&["export", "--db", db, "--format", "xml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("possible values"));

    let o = depmap(&[
        "ingest",
        "--db",
        db,
        "--max-flows",
        "0",
        junk.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("--max-flows"));
}

#[test]
fn truncated_capture_stores_what_came_before_the_cut() {
    let Some(caps) = captures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("map.db");
    let db = db.to_str().unwrap();
    let cut = caps.join("derived__ndpi_1kxun_cut-midrecord.pcap");
    let o = depmap(&["ingest", "--db", db, cut.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(!o.status.success(), "a truncated file is an error");
    assert!(out.contains("1266 frames"), "{out}");
    assert!(
        err.contains("truncated") && err.contains("byte offset"),
        "{err}"
    );
    assert!(err.contains("were stored"), "{err}");
    let o = depmap(&["export", "--db", db, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["packets"], 1266);
}

#[test]
fn two_files_add_up() {
    let Some(caps) = captures() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("map.db");
    let db = db.to_str().unwrap();
    let a = caps.join("pcapplusplus__many_interfaces-1.pcapng");
    let b = caps.join("gopacket__be_test202.pcapng");
    let o = depmap(&[
        "ingest",
        "--db",
        db,
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let o = depmap(&["export", "--db", db, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // Both files carry the same Dropbox LAN-sync broadcast edge: one edge, both counts.
    let lansync: Vec<_> = v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["port"] == 17500 && e["server"] == "255.255.255.255")
        .collect();
    assert_eq!(lansync.len(), 1);
    assert_eq!(lansync[0]["packets"], 4);
}

#[test]
fn a_reader_that_closes_the_pipe_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("map.db");
    let pcap = tiny_pcap(dir.path());
    let o = depmap(&[
        "ingest",
        "--db",
        db.to_str().unwrap(),
        pcap.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    // Standard output is a pipe whose reader is gone before anything is
    // written, as with `depmap baseline | head -0`.
    let mut child = Command::new(env!("CARGO_BIN_EXE_depmap"))
        .args(["baseline", "--db", db.to_str().unwrap()])
        .env_remove("DEPMAP_DB")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(o.status.success(), "status {:?}: {stderr}", o.status);
}
