//! Facts about the workspace that no compiler checks: `rust-version` is
//! true for every dependency, and every integration-test file is compiled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

/// `1.88` or `1.85.0` as comparable numbers (`1.88` is `1.88.0`).
fn version(v: &str) -> [u64; 3] {
    let mut out = [0; 3];
    for (o, p) in out.iter_mut().zip(v.split('.')) {
        *o = p.parse().unwrap();
    }
    out
}

/// The workspace's `rust-version` must be at least every dependency's
/// (dev-dependencies and build tools included, on every platform): a
/// lower one promises a Rust that cannot build the tests. clippy's
/// `incompatible_msrv` holds our own code to the same number.
#[test]
fn rust_version_covers_every_dependency() {
    let ours = env!("CARGO_PKG_RUST_VERSION");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let resolved: Vec<&str> = m["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let mut newer: Vec<String> = m["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| resolved.contains(&p["id"].as_str().unwrap()))
        .filter_map(|p| {
            let needs = p["rust_version"].as_str()?;
            if version(needs) <= version(ours) {
                return None;
            }
            let (name, v) = (p["name"].as_str()?, p["version"].as_str()?);
            Some(format!("{name} {v} needs {needs}"))
        })
        .collect();
    newer.sort();
    assert!(
        newer.is_empty(),
        "rust-version = \"{ours}\" in Cargo.toml, but: {}; raise it to the highest",
        newer.join(", ")
    );
}

/// With `autotests = false` a file in `tests/` is compiled only if
/// `tests/integration.rs` names it: a forgotten `mod` line would be a test
/// that silently never runs.
#[test]
fn every_integration_test_file_is_a_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("tests")];
    for e in std::fs::read_dir(root.join("crates")).unwrap() {
        dirs.push(e.unwrap().path().join("tests"));
    }
    let mut checked = 0;
    for dir in dirs {
        let Ok(main) = std::fs::read_to_string(dir.join("integration.rs")) else {
            continue;
        };
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let is_module = if path.is_dir() {
                path.join("mod.rs").is_file()
            } else {
                path.extension().is_some_and(|x| x == "rs")
            };
            if !is_module || stem == "integration" {
                continue;
            }
            assert!(
                main.lines().any(|l| l.trim() == format!("mod {stem};")),
                "{} is not compiled: add `mod {stem};` to {}",
                path.display(),
                dir.join("integration.rs").display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} test files found");
}
