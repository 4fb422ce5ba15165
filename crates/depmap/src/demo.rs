//! `depmap demo`: the whole job on depmap's own synthetic traffic, for a
//! clone that has no captures of its own.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use depmap_edges::FlowConfig;
use depmap_graph::Map;
use depmap_policy::{draft, DraftOptions};
use depmap_store::Store;
use depmap_synth::Scenario;

use crate::cli::DemoArgs;
use crate::ingest::{ingest_file, print_report, Outcome};

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let pcap = dir.join("demo.pcap");
    let db = dir.join("depmap.db");
    // The demo starts from an empty store each time, so running it twice
    // shows the same map rather than doubled counts.
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", db.display());
        if Path::new(&p).exists() {
            fs::remove_file(&p).with_context(|| format!("cannot remove the old {p}"))?;
        }
    }

    let scenario = Scenario::small_company();
    let out = BufWriter::new(
        File::create(&pcap).with_context(|| format!("cannot create {}", pcap.display()))?,
    );
    let summary = scenario
        .traffic(Scenario::DEMO_SEED)
        .write_pcap(out)
        .with_context(|| format!("cannot write {}", pcap.display()))?;
    println!(
        "1. wrote {}: a synthetic capture of a small company's services over {} days \
         ({} packets, {:.1} MB)",
        pcap.display(),
        scenario.days(),
        summary.frames,
        summary.file_bytes as f64 / 1e6
    );

    let mut store = Store::open(&db)?;
    match ingest_file(&mut store, &pcap, FlowConfig::default(), true)? {
        Outcome::Done(report) => {
            println!("2. mapped it into {}:", db.display());
            print_report(&pcap, &report, None);
        }
        Outcome::Partial(_, err) | Outcome::Rejected(err) => return Err(err),
    }

    let mut map = Map::new(store.edges()?);
    map.annotate(&store.activity()?, &store.names()?, 7);
    let json = dir.join("map.json");
    let dot = dir.join("map.dot");
    let svg = dir.join("map.svg");
    let policy = dir.join("policy-draft.json");
    fs::write(&json, map.to_json() + "\n")
        .with_context(|| format!("cannot write {}", json.display()))?;
    fs::write(&dot, map.to_dot()).with_context(|| format!("cannot write {}", dot.display()))?;
    println!(
        "3. wrote the map ({} hosts, {} edges): {} and {}",
        map.host_count(),
        map.edges().len(),
        json.display(),
        dot.display()
    );

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let d = draft(
        map.edges(),
        &DraftOptions {
            ticket: Some("DEMO-1".to_string()),
            owner: Some("platform-team".to_string()),
            generated_at: now,
            ..DraftOptions::default()
        },
    );
    fs::write(&policy, depmap_policy::to_json(&d) + "\n")
        .with_context(|| format!("cannot write {}", policy.display()))?;
    println!(
        "4. wrote a rule draft: {} ({} services with allow-lists, {} edges for review, default deny)",
        policy.display(),
        d.services.len(),
        d.review.len()
    );

    match Command::new("dot")
        .arg("-Tsvg")
        .arg(&dot)
        .arg("-o")
        .arg(&svg)
        .status()
    {
        Ok(s) if s.success() => {
            println!("5. drew the map with Graphviz: {}", svg.display());
            Ok(ExitCode::SUCCESS)
        }
        Ok(s) => anyhow::bail!(
            "Graphviz failed ({s}) drawing {}; the JSON, DOT and rule draft are written",
            dot.display()
        ),
        Err(e) => anyhow::bail!(
            "cannot run Graphviz's `dot` ({e}); install graphviz (./scripts/setup does) to get \
             {}. The JSON, DOT and rule draft are written",
            svg.display()
        ),
    }
}
