//! The records a store keeps about its inputs, and what a write did.

/// A record of one input about to be committed with its edges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewIngest {
    /// Digest of the input's whole content (`xxh3-128:` + hex), used to
    /// refuse repeats.
    pub content_hash: String,
    /// Digest of the input's size and first and last 64 KiB, a cheap first
    /// check for repeats.
    pub fingerprint: String,
    /// Where it came from (a path, or a listener address).
    pub source: String,
    /// `pcap`, `pcapng`, `flows`, ...
    pub kind: String,
    /// Size of the input in bytes.
    pub size_bytes: u64,
    /// When it was ingested (wall clock, ns since the epoch; passed in).
    pub ingested_at: i64,
    /// Frames or datagrams read.
    pub frames: u64,
    /// IP packets (or flow records) aggregated.
    pub packets: u64,
    /// IP-layer bytes aggregated.
    pub ip_bytes: u64,
    /// Malformed frames skipped.
    pub malformed: u64,
    /// Whether the input was read to its end (false for a truncated file).
    pub complete: bool,
    /// The reader's error, for incomplete inputs.
    pub error: Option<String>,
}

/// A stored ingest record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestRecord {
    /// Row id.
    pub id: i64,
    /// The record as committed; `edges` is in [`IngestRecord::edges`].
    pub ingest: NewIngest,
    /// Edges the input contributed to.
    pub edges: u64,
}

/// What an upsert did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpsertSummary {
    /// Edges that were new to the store.
    pub added: u64,
    /// Edges that existed and had the new figures added.
    pub updated: u64,
}
