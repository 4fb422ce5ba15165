//! `depmap ingest`: capture files -> `depmap_ingest` -> store, and the
//! report printed for each file.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use depmap_capture::FileFormat;
use depmap_edges::FlowConfig;
use depmap_ingest::{Clock, FileReport, Outcome, Progress};
use depmap_store::{MapStore, Store};
use depmap_wire::{Malformed, NonIp};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::IngestArgs;

/// Files smaller than this get no progress bar: they finish too fast to need one.
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

pub(crate) fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    if args.max_flows == 0 {
        anyhow::bail!("--max-flows must be at least 1 (it bounds the flows tracked at once)");
    }
    let clock = crate::clock::fixed()?;
    let mut store = Store::open(&args.db.db)?;
    let cfg = FlowConfig {
        max_flows: args.max_flows,
        ..FlowConfig::default()
    };
    let mut failures = 0usize;
    for path in &args.files {
        if !ingest_one(&mut store, path, cfg, args.force, &*clock)? {
            failures += 1;
        }
    }
    outln!(
        "store {}: {} edges in all",
        store.path().display(),
        store.edge_count()?
    )?;
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Ingests one file and prints its report; false when it failed (the
/// error is reported), an error only when the report cannot be written.
pub(crate) fn ingest_one(
    store: &mut Store,
    path: &Path,
    cfg: FlowConfig,
    force: bool,
    clock: &dyn Clock,
) -> std::io::Result<bool> {
    Ok(
        match depmap_ingest::ingest_file(store, path, cfg, force, clock, &mut Bar::default()) {
            Ok(Outcome::Done(report)) => {
                print_report(path, &report, false)?;
                true
            }
            Ok(Outcome::Partial(report, err)) => {
                print_report(path, &report, true)?;
                eprintln!(
                    "depmap: error: {err}; the edges of the {} IP packets before it were stored",
                    report.packets.ip_packets
                );
                false
            }
            Ok(Outcome::Repeat(r)) => {
                eprintln!("depmap: error: {r}");
                false
            }
            Err(err) => {
                eprintln!("depmap: error: {:#}", anyhow::Error::from(err));
                false
            }
        },
    )
}

/// A progress bar on a terminal, for files big enough to need one.
#[derive(Default)]
pub(crate) struct Bar(Option<ProgressBar>);

impl Progress for Bar {
    fn start(&mut self, path: &Path, size: u64) {
        if !std::io::stderr().is_terminal() || size < PROGRESS_MIN_BYTES {
            return;
        }
        let pb = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        self.0 = Some(pb);
    }

    fn advance(&mut self, offset: u64) {
        if let Some(pb) = &self.0 {
            pb.set_position(offset);
        }
    }

    fn finish(&mut self) {
        if let Some(pb) = self.0.take() {
            pb.finish_and_clear();
        }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// A list of `name value` for the non-zero counters, or `none`.
pub(crate) fn nonzero<'a>(items: impl Iterator<Item = (&'a str, u64)>) -> String {
    let parts: Vec<String> = items
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

pub(crate) fn print_report(path: &Path, r: &FileReport, partial: bool) -> std::io::Result<()> {
    let kind = match r.format {
        Some(FileFormat::PcapNg) => "pcapng",
        _ => "pcap",
    };
    outln!(
        "{}{} ({kind}, {}): {} frames, {} IP packets, {} of IP traffic, in {:.2} s",
        if partial {
            "partly ingested "
        } else {
            "ingested "
        },
        path.display(),
        mb(r.size),
        r.packets.frames,
        r.packets.ip_packets,
        mb(r.packets.ip_bytes),
        r.seconds
    )?;
    outln!(
        "  malformed (skipped): {}",
        nonzero(
            Malformed::ALL
                .iter()
                .map(|m| (m.name(), r.packets.malformed[m.index()]))
        )
    )?;
    outln!(
        "  not IP (skipped): {}",
        nonzero(
            NonIp::ALL
                .iter()
                .map(|m| (m.name(), r.packets.non_ip[m.index()]))
        )
    )?;
    let f = &r.flows;
    outln!(
        "  flows: {} ({} ended by idle timeout, {} finished early at the flow-table limit); \
         fragments: {} matched, {} unattributed",
        f.flows_created,
        f.flows_expired,
        f.flows_evicted,
        f.fragments_matched,
        f.fragments_unattributed
    )?;
    outln!(
        "  edges: {} ({} added, {} updated); names learned: {}",
        r.edges,
        r.upsert.added,
        r.upsert.updated,
        r.names
    )?;
    Ok(())
}
