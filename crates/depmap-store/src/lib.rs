//! depmap's graph store: the dependency edges, a record of every input
//! ingested, which observer saw which edge, and the policy lifecycle
//! (versioned rule drafts, time-bound exceptions and an append-only audit
//! trail).
//!
//! Two traits say what a store offers: [`MapStore`] (one write path,
//! [`MapStore::commit`] of a [`Commit`]; lookups for repeat detection;
//! streaming reads filtered by time window, server and CIDR; retention and
//! size) and [`PolicyLog`]. [`Store`] implements both on one SQLite file;
//! it is the only user of rusqlite, and no rusqlite type appears in this
//! crate's API. The traits are synchronous: async callers use
//! `spawn_blocking` (docs/ARCHITECTURE.md says why).
//!
//! This crate does not decode, aggregate or render, reads no clock and
//! starts no tasks. The SQLite schema is versioned with `PRAGMA
//! user_version` and migrated forward on open ([`MIGRATIONS`]); the
//! database runs in WAL mode, and every commit is one transaction together
//! with the record of the input it came from, so an interrupted ingest
//! leaves neither half its edges nor a record claiming it was ingested.
//!
//! ```
//! use depmap_edges::{EdgeKey, EdgeStats};
//! use depmap_store::{Batch, Commit, MapStore, NewIngest, Store};
//! let dir = tempfile::tempdir()?;
//! let mut store = Store::open(dir.path().join("map.db"))?;
//! let key = EdgeKey { client: "10.0.0.1".parse()?, server: "10.0.0.2".parse()?, port: 53, proto: 17 };
//! let stats = EdgeStats { connections: 1, client_packets: 1, client_bytes: 60,
//!     server_packets: 1, server_bytes: 90, first_seen: 0, last_seen: 5 };
//! let ingest = NewIngest { content_hash: "abc".into(), source: "a.pcap".into(), ..NewIngest::default() };
//! let commit = Commit {
//!     packets: Batch { edges: vec![(key, stats)], ..Batch::default() },
//!     ingest: Some(ingest),
//!     ..Commit::default()
//! };
//! let summary = store.commit(&commit)?;
//! assert_eq!((summary.added, summary.updated), (1, 0));
//! assert_eq!(store.edges()?.len(), 1);
//! assert_eq!(store.observations()?, [(key, "local".to_string())]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod batch;
mod error;
mod map;
mod policy;
mod records;
mod sqlite;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;

pub use batch::{Batch, Commit, Observer};
pub use error::StoreError;
pub use map::{Each, Filter, MapStore, Retention};
pub use policy::{
    AuditRow, ExceptionRow, ExceptionState, NewException, NewPolicyVersion, PolicyLog,
    PolicyVersion,
};
pub use records::{IngestRecord, NewIngest, UpsertSummary};
pub use sqlite::{store_files, store_size, Store, MIGRATIONS, SOURCE_FLOWS, SOURCE_PACKETS};

/// Where a stored edge's figures came from ([`MapStore::edge_origins`]);
/// defined in `depmap-edges` so the map exports can take it without the store.
pub use depmap_edges::EdgeOrigin;
