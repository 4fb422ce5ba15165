//! Flow exports inside capture files (`depmap ingest --flows`): each UDP
//! datagram is decoded as if it had arrived on the wire, the exporter being
//! its source address and port and the receive time the packet's
//! timestamp. See `docs/FLOWS.md`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use depmap_capture::{CaptureError, FileFormat, FileReader, ReadSummary};
use depmap_edges::flowrec::RecordCounters;
use depmap_flows::{detect_format, DecoderCounters};
use depmap_store::{Commit, MapStore, NewIngest, UpsertSummary};
use depmap_wire::{decode, ipproto, Decoded, LinkType};

use crate::digest::open_hashed;
use crate::{Clock, IngestError, Outcome, Pipeline, Repeat};

/// The `kind` of ingest records written by `ingest --flows`.
pub const FLOWS_KIND: &str = "flows";

/// What one capture contributed to the flow pipeline.
#[derive(Debug, Default)]
pub struct CaptureReport {
    /// Frames read.
    pub frames: u64,
    /// UDP datagrams whose payload detected as an export format.
    pub exports: u64,
    /// Frames that were not UDP over IP.
    pub not_udp: u64,
    /// UDP datagrams that are not flow exports (by their header).
    pub not_export: u64,
    /// Non-first fragments of UDP datagrams (not reassembled: skipped).
    pub fragments: u64,
}

/// What `ingest --flows` did with one file.
#[derive(Debug)]
pub struct FlowsReport {
    /// The frames and datagrams.
    pub capture: CaptureReport,
    /// pcap or pcapng.
    pub format: FileFormat,
    /// The file's size in bytes.
    pub size: u64,
    /// The decoder's counters.
    pub decoder: DecoderCounters,
    /// The record aggregator's counters.
    pub records: RecordCounters,
    /// Edges the file contributed to.
    pub edges: usize,
    /// Of those, edges with sampled figures.
    pub sampled: usize,
    /// What the store did with the edges.
    pub upsert: UpsertSummary,
    /// Seconds the whole ingest took.
    pub seconds: f64,
}

/// Ingests the flow exports inside one capture, in one transaction with
/// its ingest record. One read gives the frames and the content hash, so a
/// repeat is known only after it, and then nothing is stored.
pub fn ingest_flows_file<S: MapStore + ?Sized>(
    store: &mut S,
    path: &Path,
    force: bool,
    clock: &dyn Clock,
) -> Result<Outcome<FlowsReport>, IngestError> {
    let started = Instant::now();
    let (mut reader, hashed) = open_hashed(path)?;
    let format = reader.format();
    let size = std::fs::metadata(path)
        .map_err(|source| IngestError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let (capture, mut pipe, read) = read_exports(&mut reader);
    let hash = hashed.digest(read.is_ok(), path)?;
    if !force {
        if let Some(previous) = store.find_ingest_of_kind(&hash, FLOWS_KIND)? {
            return Ok(Outcome::Repeat(Repeat {
                path: path.to_path_buf(),
                store: store.location(),
                flows: true,
                previous,
            }));
        }
    }
    let (batch, sampled) = pipe.take();
    let decoder = pipe.decoder();
    let records = pipe.aggregator();
    let ingest = NewIngest {
        content_hash: hash,
        fingerprint: String::new(),
        source: path.display().to_string(),
        kind: FLOWS_KIND.to_string(),
        size_bytes: size,
        ingested_at: clock.now_ns(),
        frames: capture.frames,
        packets: records.records,
        ip_bytes: pipe.ip_bytes,
        malformed: decoder.malformed_total(),
        complete: read.is_ok(),
        error: read.as_ref().err().map(|e| e.to_string()),
    };
    let (edges, n_sampled) = (batch.edges.len(), sampled.len());
    let commit = Commit {
        flows: batch,
        sampled,
        ingest: Some(ingest),
        ..Commit::default()
    };
    let upsert = store
        .commit(&commit)
        .map_err(|source| IngestError::Commit {
            path: path.to_path_buf(),
            source,
        })?;
    let report = FlowsReport {
        capture,
        format,
        size,
        decoder,
        records,
        edges,
        sampled: n_sampled,
        upsert,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(match read {
        Ok(_) => Outcome::Done(report),
        Err(e) => Outcome::Partial(report, e),
    })
}

/// Decodes the flow exports inside one capture (UDP datagrams, as if
/// received on the wire) and aggregates their records, with what it
/// counted: the pipeline `ingest --flows` stores and `policy simulate
/// --flows` replays. The read error, if any, comes with what was read before it.
pub fn read_exports<R: Read + Send>(
    reader: &mut FileReader<R>,
) -> (CaptureReport, Pipeline, Result<ReadSummary, CaptureError>) {
    let mut report = CaptureReport::default();
    let mut pipe = Pipeline::default();
    let mut last_linktype = u32::MAX;
    let mut link = LinkType::Other(u32::MAX);
    let read = reader.for_each_frame(|frame| {
        report.frames += 1;
        if frame.linktype != last_linktype {
            last_linktype = frame.linktype;
            link = LinkType::from_linktype(frame.linktype);
        }
        let pkt = match decode(link, frame.data, frame.wire_len) {
            Ok(Decoded::Ip(p)) if p.proto == ipproto::UDP => p,
            _ => {
                report.not_udp += 1;
                return;
            }
        };
        if pkt.is_later_fragment() {
            report.fragments += 1;
            return;
        }
        let payload = pkt.app_payload(frame.data);
        if detect_format(payload).is_err() {
            report.not_export += 1;
            return;
        }
        report.exports += 1;
        let exporter = SocketAddr::new(pkt.src, pkt.src_port);
        pipe.datagram(exporter, payload, frame.ts_nanos);
    });
    pipe.finish();
    (report, pipe, read)
}
