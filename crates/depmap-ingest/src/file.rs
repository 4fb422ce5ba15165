//! One capture file into the store: repeat check, one pass that parses and
//! hashes, one transaction with the file's ingest record. The per-frame
//! path is a direct loop (reader callback -> `PacketAggregator::frame`),
//! with no copy, allocation, channel or dynamic call per frame.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use depmap_capture::{CaptureError, FileFormat, FileReader, ReadSummary};
use depmap_edges::{FlowConfig, FlowCounters, PacketAggregator, PacketCounters};
use depmap_store::{Batch, Commit, MapStore, NewIngest, UpsertSummary};

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
pub fn ingest_file<S: MapStore + ?Sized, P: Progress>(
    store: &mut S,
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
                store: store.location(),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::FixedClock;
    use depmap_store::Store;

    /// A classic pcap (LINKTYPE_RAW) of one TCP SYN from 10.1.0.1 to 10.2.0.1:443.
    fn one_syn() -> Vec<u8> {
        let mut f = Vec::new();
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 101] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        let p = [
            0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 1, 0, 1, 10, 2, 0, 1, 0x9c, 0x40, 1,
            0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ];
        for v in [1_795_255_200u32, 0, 40, 40] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&p);
        f
    }

    /// Any store behind the trait will do, and a repeat names it as the
    /// store names itself: for SQLite, the file's path as before.
    #[test]
    fn a_repeat_names_the_store_by_its_location() {
        let dir = tempfile::tempdir().unwrap();
        let (pcap, db) = (dir.path().join("a.pcap"), dir.path().join("m.db"));
        std::fs::write(&pcap, one_syn()).unwrap();
        let mut sqlite = Store::open(&db).unwrap();
        let store: &mut dyn MapStore = &mut sqlite;
        let ingest = |store: &mut dyn MapStore| {
            ingest_file(
                store,
                &pcap,
                FlowConfig::default(),
                false,
                &FixedClock(7),
                &mut (),
            )
            .unwrap()
        };
        let Outcome::Done(first) = ingest(store) else {
            panic!("the first ingest is not a repeat");
        };
        assert_eq!((first.packets.ip_packets, first.edges), (1, 1));
        let Outcome::Repeat(r) = ingest(store) else {
            panic!("the second ingest is a repeat");
        };
        assert_eq!(r.store, db.display().to_string());
        assert_eq!(
            r.to_string(),
            format!(
                "{} was already ingested into {} (as {}, 1 packets, 1 edges); ingesting it again \
                 would count its traffic twice. Use --force to do it anyway.",
                pcap.display(),
                db.display(),
                pcap.display()
            )
        );
    }
}
