//! Replaying capture files without a store: the traffic `policy simulate
//! --pcap/--flows` tests a draft against, aggregated exactly as `ingest`
//! and `ingest --flows` would store it.

use std::path::{Path, PathBuf};

use depmap_capture::{CaptureError, FileReader};
use depmap_edges::{DayActivity, EdgeKey, FlowConfig};

use crate::{aggregate, read_exports, CaptureReport, FileReport, IngestError, Progress};

/// What one replayed file gave, for the caller to report.
#[derive(Debug)]
pub enum Replayed<'a> {
    /// A packet capture.
    Packets {
        /// The file.
        path: &'a Path,
        /// What it counted.
        report: &'a FileReport,
        /// Where the read stopped early (truncated or corrupt), if it did:
        /// the packets before it were replayed.
        stopped: Option<&'a CaptureError>,
    },
    /// Flow exports inside a capture.
    Flows {
        /// The file.
        path: &'a Path,
        /// What it counted.
        report: &'a CaptureReport,
        /// Flow records decoded.
        records: u64,
        /// Edges they made.
        edges: usize,
        /// Where the read stopped early, if it did.
        stopped: Option<&'a CaptureError>,
    },
}

/// The per-day activity of `pcap` (packet captures) and `flows` (flow
/// exports inside captures), storing nothing. `on_file` hears of each file
/// once it is read; `progress` follows the packet captures' reads.
pub fn replay<P: Progress>(
    pcap: &[PathBuf],
    flows: &[PathBuf],
    progress: &mut P,
    mut on_file: impl FnMut(Replayed<'_>),
) -> Result<Vec<(EdgeKey, DayActivity)>, IngestError> {
    let mut out = Vec::new();
    for path in pcap {
        let mut reader = FileReader::open(path)?;
        let size = std::fs::metadata(path)
            .map_err(|source| IngestError::Read {
                path: path.clone(),
                source,
            })?
            .len();
        progress.start(path, size);
        let (report, batch, read) = aggregate(&mut reader, size, FlowConfig::default(), progress);
        progress.finish();
        on_file(Replayed::Packets {
            path,
            report: &report,
            stopped: read.as_ref().err(),
        });
        out.extend(batch.activity);
    }
    for path in flows {
        let mut reader = FileReader::open(path)?;
        let (report, mut pipe, read) = read_exports(&mut reader);
        let (batch, _) = pipe.take();
        on_file(Replayed::Flows {
            path,
            report: &report,
            records: pipe.aggregator().records,
            edges: batch.edges.len(),
            stopped: read.as_ref().err(),
        });
        out.extend(batch.activity);
    }
    Ok(out)
}
