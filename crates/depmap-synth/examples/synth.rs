//! Writes one of depmap-synth's captures to a pcap file and reports its size
//! and how long it took.
//!
//! ```text
//! cargo run --release -p depmap-synth --example synth -- demo demo.pcap
//! cargo run --release -p depmap-synth --example synth -- bench bench.pcap [packets] [edges]
//! cargo run --release -p depmap-synth --example synth -- flood flood.pcap [flows]
//! ```

use std::fs::File;
use std::process::ExitCode;
use std::time::Instant;

use depmap_synth::{bench_capture, flow_flood, Scenario};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| {
        args.get(i)
            .and_then(|a| a.replace('_', "").parse().ok())
            .unwrap_or(default)
    };
    let (Some(kind), Some(path)) = (args.first(), args.get(1)) else {
        eprintln!("usage: synth demo|bench|flood FILE [packets|flows] [edges] [seed]");
        return ExitCode::from(2);
    };
    let traffic = match kind.as_str() {
        "demo" => Scenario::small_company().traffic(number(2, Scenario::DEMO_SEED)),
        "bench" => bench_capture(
            number(2, 2_000_000),
            number(3, 20_000) as usize,
            number(4, 1),
        ),
        "flood" => flow_flood(number(2, 1_000_000), number(3, 1)),
        other => {
            eprintln!("unknown capture {other:?}: use demo, bench or flood");
            return ExitCode::from(2);
        }
    };
    let file = match File::create(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    match traffic.write_pcap(file) {
        Ok(s) => {
            println!(
                "{path}: {} packets, {} bytes, {:.3} s",
                s.frames,
                s.file_bytes,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
