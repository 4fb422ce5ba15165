//! What both file readers (pcapng in `file.rs`, classic pcap in
//! `legacy.rs`) hand out and share: frames, read summaries, errors, an
//! interface's timestamp units and their conversion to nanoseconds.

use std::io;

/// The read buffer's initial size. Large enough that refills are rare.
pub(crate) const BUFFER_BYTES: usize = 1 << 20;

/// The largest single record (pcap packet record or pcapng block) the reader
/// will grow its buffer for. Real captures stay under 256 KiB per packet; a
/// record claiming more than this is reported as an error instead of making
/// the reader allocate whatever a corrupt length field says.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// One captured frame, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture timestamp in nanoseconds since the Unix epoch (UTC).
    pub ts_nanos: i64,
    /// The `LINKTYPE_*` number of the interface the frame was captured on.
    pub linktype: u32,
    /// Index of the interface within its pcapng section (0 for pcap).
    pub interface: u32,
    /// The captured bytes (at most the snap length).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub wire_len: u32,
    /// Bytes of the file read so far, for progress reporting.
    pub file_offset: u64,
}

/// What a completed read saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Frames delivered to the callback.
    pub frames: u64,
    /// Bytes of the file consumed.
    pub bytes: u64,
    /// pcapng packet blocks that named an interface the section never described
    /// (skipped).
    pub unknown_interface: u64,
    /// pcapng sections seen.
    pub sections: u64,
}

/// Errors from reading a capture file. Each names the file, and where it
/// applies the byte offset of the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file could not be opened or read.
    #[error("{name}: {source}")]
    Io {
        /// The file.
        name: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is empty.
    #[error("{name}: the file is empty, not a pcap or pcapng capture")]
    Empty {
        /// The file.
        name: String,
    },
    /// The magic number is neither pcap's nor pcapng's.
    #[error("{name}: not a pcap or pcapng capture (its first bytes are {magic:02x?}); depmap reads pcap and pcapng files")]
    NotACapture {
        /// The file.
        name: String,
        /// The first bytes of the file.
        magic: Vec<u8>,
    },
    /// The file ends inside a record. Every whole record before it was delivered.
    #[error("{name}: the file is truncated: it ends inside the record that starts at byte offset {offset} ({frames} whole packets were read before it)")]
    Truncated {
        /// The file.
        name: String,
        /// Byte offset of the incomplete record.
        offset: u64,
        /// Frames delivered before the cut.
        frames: u64,
    },
    /// A record is malformed and the rest of the file cannot be framed.
    #[error("{name}: malformed record at byte offset {offset}: {detail} ({frames} packets were read before it)")]
    Malformed {
        /// The file.
        name: String,
        /// Byte offset of the bad record.
        offset: u64,
        /// What the parser reported.
        detail: String,
        /// Frames delivered before it.
        frames: u64,
    },
}

impl CaptureError {
    /// Frames delivered before the error (0 for errors before the first frame).
    pub fn frames_before(&self) -> u64 {
        match self {
            CaptureError::Truncated { frames, .. } | CaptureError::Malformed { frames, .. } => {
                *frames
            }
            _ => 0,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Interface {
    pub(crate) linktype: u32,
    /// Timestamp units per second.
    pub(crate) resolution: u64,
    /// Seconds added to every timestamp.
    pub(crate) offset_secs: i64,
}

/// The file ends inside the record at `offset`.
pub(crate) fn truncated(name: &str, offset: u64, summary: &ReadSummary) -> CaptureError {
    CaptureError::Truncated {
        name: name.to_string(),
        offset,
        frames: summary.frames,
    }
}

/// The record at `offset` claims more than [`MAX_RECORD_BYTES`].
pub(crate) fn too_large(name: &str, offset: u64, summary: &ReadSummary) -> CaptureError {
    CaptureError::Malformed {
        name: name.to_string(),
        offset,
        detail: format!(
            "a record larger than {} MiB (corrupt length field?)",
            MAX_RECORD_BYTES >> 20
        ),
        frames: summary.frames,
    }
}

/// Converts a raw timestamp in the interface's units to nanoseconds since
/// the epoch, saturating rather than overflowing on absurd values.
pub(crate) fn nanos(raw: u64, iface: &Interface) -> i64 {
    // The common resolutions without 128-bit division (measurable per packet).
    if iface.offset_secs == 0 && raw < (i64::MAX as u64) / 1000 {
        match iface.resolution {
            1_000_000_000 => return raw as i64,
            1_000_000 => return raw as i64 * 1000,
            _ => {}
        }
    }
    let res = u128::from(iface.resolution);
    let secs = u128::from(raw) / res;
    let frac = u128::from(raw) % res;
    let ns = secs * 1_000_000_000 + frac * 1_000_000_000 / res;
    let ns = i128::try_from(ns).unwrap_or(i128::MAX);
    let total = ns + i128::from(iface.offset_secs) * 1_000_000_000;
    total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}
