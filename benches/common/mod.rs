//! What the whole-program benchmarks share: where they keep generated
//! captures, the benchmark capture itself, CPU time and peak RSS.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};

/// Distinct edges in the benchmark capture.
pub const EDGES: usize = 20_000;

/// The target directory (generated captures are cached under it).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The benchmark capture of `packets` packets over [`EDGES`] edges, written
/// by depmap's own generator on first use and cached.
pub fn bench_capture(packets: u64) -> PathBuf {
    let data = target_dir().join("bench-data");
    fs::create_dir_all(&data).unwrap();
    let capture = data.join(format!("ingest-{packets}.pcap"));
    if !capture.exists() {
        let t = Instant::now();
        let tmp = capture.with_extension("tmp");
        let out = BufWriter::new(fs::File::create(&tmp).unwrap());
        let stats = depmap_synth::bench_capture(packets, EDGES, 7)
            .write_pcap(out)
            .unwrap();
        fs::rename(&tmp, &capture).unwrap();
        println!(
            "generated {} ({} packets over {} edges) in {:.1} s",
            capture.display(),
            stats.frames,
            EDGES,
            t.elapsed().as_secs_f64()
        );
    }
    capture
}

/// Packets in the benchmark capture: `DEPMAP_BENCH_PACKETS`, default 2,000,000.
pub fn bench_packets() -> u64 {
    std::env::var("DEPMAP_BENCH_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}

/// CPU time (user + system) used so far by `who`.
pub fn cpu(who: UsageWho) -> Duration {
    let u = getrusage(who).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(u.user_time()) + tv(u.system_time())
}

/// Peak RSS of a process in kB (`VmHWM` in /proc); `"self"` for this one.
pub fn vm_hwm_kb(pid: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}
