//! Why a datagram could not be decoded.

use crate::record::Format;

/// Why a datagram (or the rest of it) could not be decoded. Tiny and `Copy`;
/// every occurrence is also counted by [`FlowError::name`] in
/// [`DecoderCounters`](crate::DecoderCounters). Records decoded before the
/// problem was found are still delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// Shorter than the smallest header of any format (4 bytes).
    #[error("a datagram of {len} bytes is too short to carry a flow-export header")]
    TooShort {
        /// The datagram's length.
        len: usize,
    },
    /// The version field names no format depmap decodes.
    #[error("unknown export version {version} (depmap decodes NetFlow v5, NetFlow v9, IPFIX and sFlow v5)")]
    UnknownVersion {
        /// The version found (16-bit NetFlow/IPFIX version, or sFlow's 32-bit one).
        version: u32,
    },
    /// The datagram ends inside a structure.
    #[error("{format}: the datagram ends inside {what} at byte offset {offset}")]
    Truncated {
        /// The datagram's format.
        format: Format,
        /// The structure cut short (header, record, set, sample, ...).
        what: &'static str,
        /// Where the structure starts.
        offset: usize,
    },
    /// A header or length field holds an impossible value.
    #[error("{format}: {what} has the invalid value {value}")]
    BadValue {
        /// The datagram's format.
        format: Format,
        /// The field.
        what: &'static str,
        /// Its value.
        value: u32,
    },
    /// The NetFlow v9/IPFIX library rejected the datagram's sets (an invalid
    /// template, or data that does not fit its template).
    #[error(
        "{format}: the sets could not be decoded (invalid template or data that does not fit it)"
    )]
    Rejected {
        /// The datagram's format.
        format: Format,
    },
}

impl FlowError {
    /// Every reason's name, in [`FlowError::index`] order.
    pub const NAMES: [&'static str; 5] = [
        "too_short",
        "unknown_version",
        "truncated",
        "bad_value",
        "rejected",
    ];

    /// A short stable name for counters and reports.
    pub fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// The index of this reason in [`FlowError::NAMES`], for counter arrays.
    pub fn index(&self) -> usize {
        match self {
            FlowError::TooShort { .. } => 0,
            FlowError::UnknownVersion { .. } => 1,
            FlowError::Truncated { .. } => 2,
            FlowError::BadValue { .. } => 3,
            FlowError::Rejected { .. } => 4,
        }
    }

    /// The format involved, when it was known.
    pub fn format(&self) -> Option<Format> {
        match self {
            FlowError::TooShort { .. } | FlowError::UnknownVersion { .. } => None,
            FlowError::Truncated { format, .. }
            | FlowError::BadValue { format, .. }
            | FlowError::Rejected { format } => Some(*format),
        }
    }
}
