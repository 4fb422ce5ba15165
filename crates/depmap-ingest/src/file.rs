//! One capture file into the store: repeat check, one pass that parses and
//! hashes, one transaction with the file's ingest record. The per-frame
//! path is a direct loop (reader callback -> `PacketAggregator::frame`),
//! with no copy, allocation, channel or dynamic call per frame.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use depmap_capture::{CaptureError, FileFormat, FileReader, ReadSummary};
use depmap_edges::{FlowConfig, FlowCounters, PacketAggregator, PacketCounters};
use depmap_store::{Batch, Commit, MapStore, NewIngest, Store, UpsertSummary};

use crate::digest::{content_hash, fingerprint, open_hashed};
use crate::{Clock, IngestError, Outcome, Repeat};

/// Told how far a file read has come, every 65,536 frames (generic, so a
/// caller without a progress display costs nothing).
pub trait Progress {
    /// A read of `size` bytes of `path` starts.
    fn start(&mut self, _path: &Path, _size: u64) {}
    /// The read has reached byte `offset`.
    fn advance(&mut self, _offset: u64) {}
    /// The read is over.
    fn finish(&mut self) {}
}

/// No progress display.
impl Progress for () {}

/// What one file contributed.
#[derive(Debug, Default)]
pub struct FileReport {
    /// Frames, IP packets and bytes, and what was skipped, by reason.
    pub packets: PacketCounters,
    /// The flow table's counters.
    pub flows: FlowCounters,
    /// Edges the file contributed to.
    pub edges: usize,
    /// Names learned.
    pub names: usize,
    /// What the store did with the edges.
    pub upsert: UpsertSummary,
    /// The file's size in bytes.
    pub size: u64,
    /// pcap or pcapng.
    pub format: Option<FileFormat>,
    /// Seconds the whole ingest took.
    pub seconds: f64,
}

/// The ingest record's `kind` for a capture format.
fn kind(format: Option<FileFormat>) -> &'static str {
    match format {
        Some(FileFormat::PcapNg) => "pcapng",
        _ => "pcap",
    }
}

/// Ingests one capture file into the store in one transaction. A file
/// whose content is in the store already comes back as
/// [`Outcome::Repeat`] unless `force`.
pub fn ingest_file<P: Progress>(
    store: &mut Store,
    path: &Path,
    cfg: FlowConfig,
    force: bool,
    clock: &dyn Clock,
    progress: &mut P,
) -> Result<Outcome<FileReport>, IngestError> {
    let started = Instant::now();
    let (fingerprint, size) = fingerprint(path)?;
    if !force && store.find_fingerprint(&fingerprint)?.is_some() {
        let hash = content_hash(path)?;
        if let Some(previous) = store.find_ingest(&hash)? {
            return Ok(Outcome::Repeat(Repeat {
                path: path.to_path_buf(),
                store: store.path().to_path_buf(),
                flows: false,
                previous,
            }));
        }
    }

    let (mut reader, hashed) = open_hashed(path)?;
    progress.start(path, size);
    let (mut report, batch, read) = aggregate(&mut reader, size, cfg, progress);
    progress.finish();
    let hash = hashed.digest(read.is_ok(), path)?;
    let ingest = NewIngest {
        content_hash: hash,
        fingerprint,
        source: path.display().to_string(),
        kind: kind(report.format).to_string(),
        size_bytes: size,
        ingested_at: clock.now_ns(),
        frames: report.packets.frames,
        packets: report.packets.ip_packets,
        ip_bytes: report.packets.ip_bytes,
        malformed: report.packets.malformed_total(),
        complete: read.is_ok(),
        error: read.as_ref().err().map(|e| e.to_string()),
    };
    let commit = Commit {
        packets: batch,
        ingest: Some(ingest),
        ..Commit::default()
    };
    report.upsert = store
        .commit(&commit)
        .map_err(|source| IngestError::Commit {
            path: path.to_path_buf(),
            source,
        })?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(match read {
        Ok(_) => Outcome::Done(report),
        Err(e) => Outcome::Partial(report, e),
    })
}

/// Reads one capture through the decoder and the flow table into edges,
/// per-day activity and names, with what it counted: the aggregation
/// `ingest` stores and `policy simulate --pcap` replays. The read error, if
/// the file is truncated or corrupt, comes back with what was read before
/// it. `progress` hears of the file offset every 65,536 frames.
pub fn aggregate<R: Read + Send, P: Progress>(
    reader: &mut FileReader<R>,
    size: u64,
    cfg: FlowConfig,
    progress: &mut P,
) -> (FileReport, Batch, Result<ReadSummary, CaptureError>) {
    let mut report = FileReport {
        size,
        format: Some(reader.format()),
        ..FileReport::default()
    };
    let mut agg = PacketAggregator::new(cfg);
    let read = reader.for_each_frame(|frame| {
        agg.frame(frame.linktype, frame.ts_nanos, frame.data, frame.wire_len);
        if agg.counters().frames & 0xffff == 0 {
            progress.advance(frame.file_offset);
        }
    });

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
