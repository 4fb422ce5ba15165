//! depmap's ingest engine: frames and flow-export datagrams in, batches for
//! the store out.
//!
//! The core, [`Engine`], does no I/O and reads no clock, like smoltcp's
//! `Interface::poll(timestamp)`: it takes batches ([`Engine::on_frames`],
//! [`Engine::on_datagrams`]), is told when a flush interval has passed
//! ([`Engine::on_tick`]), hands back what to write (a
//! [`depmap_store::Commit`], from [`Engine::poll_flush`], given a [`Clock`]) and hears how the write went
//! ([`Engine::flushed`]): on failure the edges come back and are merged
//! into the next flush, up to `max_pending_edges`. It owns the packet
//! aggregator (decoder, flow table, names) and the flow-record
//! [`Pipeline`], and its counters come out by value in a [`Snapshot`].
//!
//! Around it:
//! - [`ingest_file`] and [`ingest_flows_file`]: one capture file, one
//!   transaction with its ingest record; a file already in the store is an
//!   [`Outcome::Repeat`]. The per-frame path is a direct loop.
//! - [`Source`]: anything that feeds the driver. [`Interface`] (a libpcap
//!   reader thread), [`Listener`] (a UDP task for flow exports) and
//!   [`WatchDir`] (a directory of capture files) implement it; a new input
//!   is one more type implementing it.
//! - [`Driver`]: the one tokio loop (`depmap agent`, `depmap capture`,
//!   `depmap collect`) that runs the sources, feeds the engine, and writes
//!   each flush on the blocking pool.
//!
//! ```
//! use depmap_capture::FrameBatch;
//! use depmap_ingest::{Engine, EngineConfig, FixedClock};
//!
//! let mut engine = Engine::new(EngineConfig::default());
//! engine.on_frames(&FrameBatch::new());
//! engine.on_tick();
//! // Nothing was seen, so there is nothing to write.
//! assert!(engine.poll_flush(&FixedClock(0)).is_none());
//! assert_eq!(engine.snapshot().packets.frames, 0);
//! ```
//!
//! The agent's configuration is validated here ([`config`]), from text: the
//! file is read by the caller.
//!
//! This crate does not parse command lines, print reports, read config
//! files, drop privileges or handle signals (that is the `depmap` binary),
//! decode packets (`depmap-wire`) or speak SQL (`depmap-store`).
#![deny(missing_docs)]

mod clock;
pub mod config;
mod digest;
mod driver;
mod engine;
mod exports;
mod file;
mod metrics;
mod pipeline;
mod replay;
mod source;
mod watch;

use std::fmt;
use std::path::PathBuf;

pub use clock::{Clock, FixedClock, RunningClock, SystemClock};
pub use digest::{open_hashed, Hashed, HashingReader};
pub use driver::{Control, Driver, Settings, Summary};
pub use engine::{Engine, EngineConfig, FlushCounters, FlushReport, Flushed, Snapshot};
pub use exports::{ingest_flows_file, read_exports, CaptureReport, FlowsReport, FLOWS_KIND};
pub use file::{aggregate, ingest_file, FileReport, Progress};
pub use metrics::UNHEALTHY_AFTER_FAILURES;
pub use pipeline::Pipeline;
pub use replay::{replay, Replayed};
pub use source::{Interface, Listener, Sink, Source, SourceStats, WatchCounts};
pub use watch::{WatchDir, MAX_FILES};

use depmap_capture::CaptureError;
use depmap_store::{IngestRecord, StoreError};

/// How the ingest of one file ended, when it did not fail outright.
#[derive(Debug)]
pub enum Outcome<R> {
    /// Read to the end and stored.
    Done(R),
    /// Read up to an error (a truncated or corrupt file: the error says
    /// where); what was read before it is stored.
    Partial(R, CaptureError),
    /// Not read: the same content is in the store already.
    Repeat(Repeat),
}

/// A file whose content was ingested before; storing it again would count
/// its traffic twice.
#[derive(Debug)]
pub struct Repeat {
    /// The file.
    pub path: PathBuf,
    /// The store that holds it already, as
    /// [`MapStore::location`](depmap_store::MapStore::location) names it.
    pub store: String,
    /// Whether the flow exports inside it were ingested (`ingest --flows`)
    /// rather than its packets.
    pub flows: bool,
    /// The earlier ingest.
    pub previous: IngestRecord,
}

impl fmt::Display for Repeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.previous;
        if self.flows {
            write!(
                f,
                "the flow exports in {} were already ingested into {} (as {}, {} records, {} edges); \
                 ingesting them again would count their traffic twice. Use --force to do it anyway.",
                self.path.display(),
                self.store,
                p.ingest.source,
                p.ingest.packets,
                p.edges
            )
        } else {
            write!(
                f,
                "{} was already ingested into {} (as {}, {} packets, {} edges); \
                 ingesting it again would count its traffic twice. Use --force to do it anyway.",
                self.path.display(),
                self.store,
                p.ingest.source,
                p.ingest.packets,
                p.edges
            )
        }
    }
}

/// Why a file could not be ingested at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The file could not be opened.
    #[error("cannot open {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a capture (empty, or an unknown format).
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The store could not be read (the repeat check).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file's edges could not be written; nothing of it was stored.
    #[error("storing the edges of {}", path.display())]
    Commit {
        /// The file.
        path: PathBuf,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}

impl IngestError {
    /// Whether the store failed (the file may be fine: try it again later).
    pub fn is_store(&self) -> bool {
        matches!(self, IngestError::Store(_) | IngestError::Commit { .. })
    }
}

/// An error and its sources, joined by `: ` (as `anyhow`'s `{:#}` does).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        text.push_str(": ");
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}
