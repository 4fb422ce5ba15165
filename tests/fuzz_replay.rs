//! Replays the fuzz corpora (`fuzz/corpus/<target>/`) and the crash
//! regressions (`fuzz/artifacts/<target>/`) through the fuzz target bodies on
//! stable, so every `cargo test` re-checks what fuzzing found. See
//! `fuzz/README.md` for running the fuzzers themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

use depmap_suite::fuzz_bodies;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files directly in `dir`, sorted; none if it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every corpus and artifact file of `target` through `body`, and fails
/// naming each input that panicked.
fn replay(target: &str, body: fn(&[u8])) {
    let corpus = files_in(&fuzz_dir().join("corpus").join(target));
    assert!(
        corpus.len() >= 10,
        "fuzz/corpus/{target} has {} files; expected the committed corpus",
        corpus.len()
    );
    let artifacts = files_in(&fuzz_dir().join("artifacts").join(target));
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&artifacts) {
        let data = fs::read(path).unwrap();
        if panic::catch_unwind(|| body(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} {target} inputs panicked:\n{}",
        failed.len(),
        corpus.len() + artifacts.len(),
        failed.join("\n")
    );
}

#[test]
fn decode_frame_corpus() {
    replay("decode_frame", fuzz_bodies::decode_frame);
}

#[test]
fn read_capture_corpus() {
    replay("read_capture", fuzz_bodies::read_capture);
}

#[test]
fn netflow_datagrams_corpus() {
    replay("netflow_datagrams", fuzz_bodies::netflow_datagrams);
}

#[test]
fn sflow_datagram_corpus() {
    replay("sflow_datagram", fuzz_bodies::sflow_datagram);
}
