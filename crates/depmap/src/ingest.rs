//! `depmap ingest`: capture files -> decoder -> flow table -> store.

use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use depmap_capture::{FileFormat, FileReader};
use depmap_edges::{FlowConfig, FlowCounters, PacketAggregator, PacketCounters};
use depmap_store::{Batch, NewIngest, Store, UpsertSummary};
use depmap_wire::{Malformed, NonIp};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use twox_hash::XxHash3_128;

use crate::cli::IngestArgs;

/// Files smaller than this get no progress bar: they finish too fast to need one.
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

/// What one file contributed.
#[derive(Debug, Default)]
pub struct FileReport {
    /// Frames, IP packets and bytes, and what was skipped, by reason.
    pub packets: PacketCounters,
    pub flows: FlowCounters,
    pub edges: usize,
    pub names: usize,
    pub upsert: UpsertSummary,
    pub size: u64,
    pub format: Option<FileFormat>,
    pub seconds: f64,
}

pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    if args.flows {
        return crate::flows::ingest(args);
    }
    if args.max_flows == 0 {
        anyhow::bail!("--max-flows must be at least 1 (it bounds the flows tracked at once)");
    }
    let mut store = Store::open(&args.db.db)?;
    let cfg = FlowConfig {
        max_flows: args.max_flows,
        ..FlowConfig::default()
    };
    let mut failures = 0usize;
    for path in &args.files {
        match ingest_file(&mut store, path, cfg, args.force) {
            Ok(Outcome::Done(report)) => print_report(path, &report, None),
            Ok(Outcome::Partial(report, err)) => {
                print_report(path, &report, Some(&err));
                eprintln!("depmap: error: {err:#}");
                failures += 1;
            }
            Ok(Outcome::Rejected(err)) => {
                eprintln!("depmap: error: {err:#}");
                failures += 1;
            }
            Err(err) => {
                eprintln!("depmap: error: {err:#}");
                failures += 1;
            }
        }
    }
    println!(
        "store {}: {} edges in all",
        store.path().display(),
        store.edge_count()?
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub enum Outcome {
    /// Read to the end and stored.
    Done(FileReport),
    /// Read up to an error (truncated or corrupt file); what was read is stored.
    Partial(FileReport, anyhow::Error),
    /// Refused, for example because the same content is in the store already.
    Rejected(anyhow::Error),
}

/// How much of each end of a file goes into its fingerprint.
const FINGERPRINT_EDGE: u64 = 64 << 10;

fn hex128(v: u128) -> String {
    format!("xxh3-128:{v:032x}")
}

/// A cheap digest of a file: its size and its first and last 64 KiB.
/// Equal content always gives an equal fingerprint, so a file whose
/// fingerprint is new cannot be a repeat and is read only once.
fn fingerprint(path: &Path) -> anyhow::Result<(String, u64)> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let mut h = XxHash3_128::new();
    h.write(&size.to_le_bytes());
    let mut buf = vec![0u8; FINGERPRINT_EDGE as usize];
    let n = read_full(&mut file, &mut buf)
        .with_context(|| format!("cannot read {}", path.display()))?;
    h.write(&buf[..n]);
    if size > FINGERPRINT_EDGE {
        file.seek(SeekFrom::Start(
            size.saturating_sub(FINGERPRINT_EDGE).max(FINGERPRINT_EDGE),
        ))
        .with_context(|| format!("cannot read {}", path.display()))?;
        let n = read_full(&mut file, &mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        h.write(&buf[..n]);
    }
    Ok((hex128(h.finish_128()), size))
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// The digest of a whole file, read separately (only to confirm a repeat or
/// after a read error stopped the single pass early).
pub(crate) fn content_hash(path: &Path) -> anyhow::Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = XxHash3_128::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.write(&buf[..n]);
    }
    Ok(hex128(h.finish_128()))
}

/// Hashes everything read through it, so the file is hashed in the same
/// pass that parses it. xxh3-128 rather than a cryptographic hash: the
/// digest tells accidental repeats apart, and at tens of GB/s it costs
/// little next to reading the file. twox-hash picks AVX2 at run time where
/// the CPU has it (xxhash-rust, used before, only SSE2 unless built for a
/// newer CPU): a tenth of the ingest benchmark's instructions.
pub(crate) struct HashingReader {
    inner: File,
    hasher: Arc<Mutex<XxHash3_128>>,
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut h) = self.hasher.lock() {
            h.write(&buf[..n]);
        }
        Ok(n)
    }
}

/// The content hash of a file being read through [`open_hashed`].
pub(crate) struct Hashed(Arc<Mutex<XxHash3_128>>);

impl Hashed {
    /// The file's digest once the read is over. A complete read passed
    /// every byte through the hasher; a read that stopped early did not,
    /// so then the whole file is hashed again.
    pub(crate) fn digest(&self, complete: bool, path: &Path) -> anyhow::Result<String> {
        match (complete, self.0.lock()) {
            (true, Ok(h)) => Ok(hex128(h.finish_128())),
            _ => content_hash(path),
        }
    }
}

/// Opens a capture whose bytes are hashed as they are read, so the file is
/// read once for its frames and its content hash.
pub(crate) fn open_hashed(path: &Path) -> anyhow::Result<(FileReader<HashingReader>, Hashed)> {
    let hasher = Arc::new(Mutex::new(XxHash3_128::new()));
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = FileReader::new(
        HashingReader {
            inner: file,
            hasher: Arc::clone(&hasher),
        },
        path.display().to_string(),
    )?;
    Ok((reader, Hashed(hasher)))
}

/// Ingests one capture file into the store in one transaction.
pub fn ingest_file(
    store: &mut Store,
    path: &Path,
    cfg: FlowConfig,
    force: bool,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let (fingerprint, size) = fingerprint(path)?;
    if !force && store.find_fingerprint(&fingerprint)?.is_some() {
        let hash = content_hash(path)?;
        if let Some(prev) = store.find_ingest(&hash)? {
            return Ok(Outcome::Rejected(anyhow::anyhow!(
                "{} was already ingested into {} (as {}, {} packets, {} edges); \
                 ingesting it again would count its traffic twice. Use --force to do it anyway.",
                path.display(),
                store.path().display(),
                prev.ingest.source,
                prev.ingest.packets,
                prev.edges
            )));
        }
    }

    let (mut reader, hashed) = open_hashed(path)?;
    let (mut report, batch, read) = aggregate(&mut reader, path, size, cfg);
    let hash = hashed.digest(read.is_ok(), path)?;
    let ingest = NewIngest {
        content_hash: hash,
        fingerprint,
        source: path.display().to_string(),
        kind: match report.format {
            Some(FileFormat::PcapNg) => "pcapng",
            _ => "pcap",
        }
        .to_string(),
        size_bytes: size,
        ingested_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0),
        frames: report.packets.frames,
        packets: report.packets.ip_packets,
        ip_bytes: report.packets.ip_bytes,
        malformed: report.packets.malformed_total(),
        complete: read.is_ok(),
        error: read.as_ref().err().map(|e| e.to_string()),
    };
    report.upsert = store
        .commit_ingest(&ingest, &batch)
        .with_context(|| format!("storing the edges of {}", path.display()))?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(match read {
        Ok(_) => Outcome::Done(report),
        Err(e) => {
            let stored = report.packets.ip_packets;
            Outcome::Partial(
                report,
                anyhow::anyhow!("{e}; the edges of the {stored} IP packets before it were stored"),
            )
        }
    })
}

/// Reads one capture through the decoder and the flow table into edges,
/// per-day activity and names, with what it counted: the aggregation
/// `ingest` stores and `policy simulate --pcap` replays. The read error, if
/// the file is truncated or corrupt, comes back with what was read before it.
pub fn aggregate<R: Read + Send>(
    reader: &mut FileReader<R>,
    path: &Path,
    size: u64,
    cfg: FlowConfig,
) -> (
    FileReport,
    Batch,
    Result<depmap_capture::ReadSummary, depmap_capture::CaptureError>,
) {
    let mut report = FileReport {
        size,
        format: Some(reader.format()),
        ..FileReport::default()
    };
    let progress = if std::io::stderr().is_terminal() && size >= PROGRESS_MIN_BYTES {
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
        Some(pb)
    } else {
        None
    };

    let mut agg = PacketAggregator::new(cfg);
    let read = reader.for_each_frame(|frame| {
        agg.frame(frame.linktype, frame.ts_nanos, frame.data, frame.wire_len);
        if agg.counters().frames & 0xffff == 0 {
            if let Some(pb) = &progress {
                pb.set_position(frame.file_offset);
            }
        }
    });
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }

    report.packets = *agg.counters();
    agg.table.finish();
    report.flows = agg.table.counters();
    let batch = Batch {
        edges: agg.table.take_edges(),
        activity: agg.table.take_activity(),
        names: agg.names.take(),
    };
    report.edges = batch.edges.len();
    report.names = batch.names.len();
    (report, batch, read)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn print_report(path: &Path, r: &FileReport, err: Option<&anyhow::Error>) {
    let kind = match r.format {
        Some(FileFormat::PcapNg) => "pcapng",
        _ => "pcap",
    };
    println!(
        "{}{} ({kind}, {}): {} frames, {} IP packets, {} of IP traffic, in {:.2} s",
        if err.is_some() {
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
    );
    let list = |names: &mut dyn Iterator<Item = (&'static str, u64)>| {
        let parts: Vec<String> = names
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(", ")
        }
    };
    println!(
        "  malformed (skipped): {}",
        list(
            &mut Malformed::ALL
                .iter()
                .map(|m| (m.name(), r.packets.malformed[m.index()]))
        )
    );
    println!(
        "  not IP (skipped): {}",
        list(
            &mut NonIp::ALL
                .iter()
                .map(|m| (m.name(), r.packets.non_ip[m.index()]))
        )
    );
    let f = &r.flows;
    println!(
        "  flows: {} ({} ended by idle timeout, {} finished early at the flow-table limit); \
         fragments: {} matched, {} unattributed",
        f.flows_created,
        f.flows_expired,
        f.flows_evicted,
        f.fragments_matched,
        f.fragments_unattributed
    );
    println!(
        "  edges: {} ({} added, {} updated); names learned: {}",
        r.edges, r.upsert.added, r.upsert.updated, r.names
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored content hashes and fingerprints are compared with new ones,
    /// so the digest must stay XXH3-128 whatever crate computes it. The
    /// expected values are from the reference implementation (Python's
    /// xxhash 3.x, `xxh3_128_hexdigest`).
    #[test]
    fn digests_are_xxh3_128_streamed_in_any_chunks() {
        let data: Vec<u8> = (0..40).flat_map(|_| 0..=255u8).collect();
        for chunk in [1, 7, 64, 1000, data.len()] {
            let mut h = XxHash3_128::new();
            for part in data.chunks(chunk) {
                h.write(part);
            }
            assert_eq!(
                hex128(h.finish_128()),
                "xxh3-128:1cb22534d0d96975c03d2231ab9348f3",
                "chunks of {chunk}"
            );
        }
        assert_eq!(
            hex128(XxHash3_128::new().finish_128()),
            "xxh3-128:99aa06d3014798d86001c324468d497f"
        );
        assert_eq!(
            hex128(XxHash3_128::oneshot(b"depmap")),
            "xxh3-128:63fe09b85bdf481303d3f5b54a52bb2f"
        );
    }
}
