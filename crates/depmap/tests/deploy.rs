//! The deployment files: the systemd unit passes `systemd-analyze verify`
//! (when systemd-analyze is installed) and the example config validates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_depmap");

fn deploy(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file)
}

#[test]
fn systemd_unit_verifies() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: systemd-analyze is not installed");
        return;
    }
    // verify checks that ExecStart's binary exists: point it at the one
    // just built, in a copy of the unit.
    let unit = std::fs::read_to_string(deploy("depmap.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/depmap agent"));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("depmap.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/depmap", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {err}");
    // Warnings about the unit itself (not about the host) fail too.
    assert!(!err.contains("depmap.service:"), "{err}");

    // The exposure score recorded in docs/DEPLOY.md.
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&copy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some(line) = text.lines().find(|l| l.contains("Overall exposure level")) {
        let score: f64 = line
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .unwrap();
        assert!(score <= 2.0, "{line}");
    }
}

#[test]
fn example_config_is_valid() {
    let out = Command::new(BIN)
        .args(["agent", "--check-config", "--config"])
        .arg(deploy("depmap.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
