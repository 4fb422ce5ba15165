//! The I/O-free core: batches in, commits out, results back.

use std::time::Duration;

use depmap_capture::{DatagramBatch, FrameBatch};
use depmap_edges::flowrec::RecordCounters;
use depmap_edges::{FlowConfig, FlowCounters, NameCounters, PacketAggregator, PacketCounters};
use depmap_flows::DecoderCounters;
use depmap_store::{Batch, Commit, StoreError, UpsertSummary};

use crate::{Clock, Pipeline, SourceStats};

/// What a successful flush did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Edges added and updated.
    pub upsert: UpsertSummary,
    /// Packets whose figures were committed.
    pub packets: u64,
    /// Activity rows deleted by retention afterwards.
    pub pruned: u64,
}

/// How a flush went, handed back to [`Engine::flushed`].
#[derive(Debug)]
pub struct Flushed {
    /// The write's result.
    pub result: Result<FlushReport, StoreError>,
    /// The commit, given back when the write failed (empty otherwise).
    pub commit: Commit,
    /// How long the flush took.
    pub took: Duration,
    /// The store's size on disk afterwards (0: unknown).
    pub store_bytes: u64,
}

/// The flush and store figures (serde lists its fields for the metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlushCounters {
    /// Successful flushes.
    pub flushes: u64,
    /// Flushes started before the interval because of `max_pending_edges`.
    pub early: u64,
    /// Failed flushes.
    pub errors: u64,
    /// Failed flushes in a row (0 when the last one worked).
    pub failing: u64,
    /// Edges added to the store.
    pub added: u64,
    /// Edges updated in the store.
    pub updated: u64,
    /// Edges dropped because the store failed past `max_pending_edges`.
    pub edges_dropped: u64,
    /// Packets whose figures successful flushes committed.
    pub packets_flushed: u64,
    /// Activity rows deleted by retention.
    pub retention_deleted: u64,
    /// Duration of the last flush.
    pub last_duration: Duration,
    /// Time spent flushing in all.
    pub total_duration: Duration,
    /// Store size on disk (database and WAL), as last measured.
    pub store_bytes: u64,
}

/// Every counter the engine and its driver keep, by value;
/// [`Snapshot::encode`] writes them all for `/metrics` (serde lists its
/// fields for the test that checks it).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Frames, IP packets, bytes; what was skipped, by reason.
    pub packets: PacketCounters,
    /// The flow table's counters.
    pub flow_table: FlowCounters,
    /// Flows in the table now.
    pub flows_active: u64,
    /// The name table's counters (names it could not remember: its bound).
    pub names: NameCounters,
    /// The flow-export decoder's counters.
    pub decoder: DecoderCounters,
    /// Data sets waiting for their template (after the end of the input:
    /// those still waiting when it ended).
    pub sets_waiting: usize,
    /// The flow-record aggregator's counters.
    pub records: RecordCounters,
    /// Edges waiting for the next flush (in the tables and held back).
    pub edges_pending: u64,
    /// Flush and store figures.
    pub flush: FlushCounters,
    /// The flush interval in force.
    pub flush_interval: Duration,
    /// Configuration reloads applied.
    pub reloads: u64,
    /// Every source's counters (filled in by the driver).
    pub sources: Vec<SourceStats>,
}

/// How the engine is sized.
#[derive(Clone, Copy, Debug)]
pub struct EngineConfig {
    /// The flow table's settings (`max_flows`, timeouts).
    pub flow: FlowConfig,
    /// The most edges held while the store fails; reaching it starts a
    /// flush early.
    pub max_pending_edges: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            flow: FlowConfig::default(),
            max_pending_edges: 1_000_000,
        }
    }
}

/// The aggregation core. See the crate docs.
pub struct Engine {
    agg: PacketAggregator,
    pipe: Pipeline,
    /// Edges a failed flush gave back.
    held: Commit,
    max_pending: usize,
    want_flush: bool,
    in_flight: bool,
    /// Edges held back or in the flush under way.
    held_edges: usize,
    stopping: bool,
    sets_at_end: Option<usize>,
    flush: FlushCounters,
}

impl Engine {
    /// An engine with empty tables.
    pub fn new(cfg: EngineConfig) -> Engine {
        Engine {
            agg: PacketAggregator::new(cfg.flow),
            pipe: Pipeline::default(),
            held: Commit::default(),
            max_pending: cfg.max_pending_edges,
            want_flush: false,
            in_flight: false,
            held_edges: 0,
            stopping: false,
            sets_at_end: None,
            flush: FlushCounters::default(),
        }
    }

    fn over_bound(&self) -> bool {
        self.agg.table.pending_edges() + self.held.edges() >= self.max_pending
    }

    /// Aggregates a batch of captured frames. Reaching `max_pending_edges`
    /// asks for a flush at once.
    pub fn on_frames(&mut self, batch: &FrameBatch) {
        for f in batch.iter() {
            self.agg.frame(f.linktype, f.ts_nanos, f.data, f.wire_len);
        }
        if self.over_bound() {
            self.want_flush = true;
        }
    }

    /// Decodes and aggregates a batch of flow-export datagrams.
    pub fn on_datagrams(&mut self, batch: &DatagramBatch) {
        for (src, ts, payload) in batch.iter() {
            self.pipe.datagram(src, payload, ts);
        }
    }

    /// The flush interval has passed.
    pub fn on_tick(&mut self) {
        self.want_flush = true;
    }

    /// Changes `max_pending_edges` (a reload).
    pub fn set_max_pending_edges(&mut self, n: usize) {
        self.max_pending = n;
    }

    /// Records the store's size (measured by the driver at start).
    pub fn note_store_bytes(&mut self, bytes: u64) {
        self.flush.store_bytes = bytes;
    }

    /// What to write now, if a flush is due (the interval passed, or the
    /// pending edges reached their bound) and none is under way: ends the
    /// flows idle at the clock's time, folds the figures of open flows (so
    /// long connections are stored every interval), and adds what failed
    /// flushes held back. A request made while a flush is under way is
    /// dropped, as is one with nothing to write (no transaction, and the
    /// store's health stays what the last real write said).
    pub fn poll_flush(&mut self, clock: &dyn Clock) -> Option<Commit> {
        if !std::mem::take(&mut self.want_flush) || self.in_flight {
            return None;
        }
        if self.over_bound() {
            self.flush.early += 1;
        }
        let mut c = self.take(clock.now_ns());
        c.absorb(std::mem::take(&mut self.held));
        self.held_edges = c.edges();
        if c.is_empty() {
            return None;
        }
        self.in_flight = true;
        Some(c)
    }

    /// Whether a flush is under way.
    pub fn flush_in_flight(&self) -> bool {
        self.in_flight
    }

    /// Takes what the aggregator and the pipeline hold (`now` = `i64::MAX`:
    /// everything is finished already, nothing to expire).
    fn take(&mut self, now: i64) -> Commit {
        if now != i64::MAX {
            self.agg.table.expire(now);
            self.agg.table.fold_active();
        }
        let packets = Batch {
            edges: self.agg.table.take_edges(),
            activity: self.agg.table.take_activity(),
            names: self.agg.names.take(),
        };
        let (flows, sampled) = self.pipe.take();
        Commit {
            packets,
            flows,
            sampled,
            ..Commit::default()
        }
    }

    /// How a flush went. A failed one gives its edges back to be merged
    /// with the next; past `max_pending_edges` they are dropped, logged
    /// and counted (except while stopping: the last flush gets everything).
    pub fn flushed(&mut self, done: Flushed) {
        self.in_flight = false;
        let f = &mut self.flush;
        f.last_duration = done.took;
        f.total_duration += done.took;
        if done.store_bytes > 0 {
            f.store_bytes = done.store_bytes;
        }
        match done.result {
            Ok(r) => {
                f.flushes += 1;
                f.failing = 0;
                f.added += r.upsert.added;
                f.updated += r.upsert.updated;
                f.packets_flushed += r.packets;
                f.retention_deleted += r.pruned;
                self.held_edges = self.held.edges();
                tracing::debug!(
                    added = r.upsert.added,
                    updated = r.upsert.updated,
                    packets = r.packets,
                    pruned = r.pruned,
                    seconds = done.took.as_secs_f64(),
                    "flushed"
                );
            }
            Err(e) => {
                f.errors += 1;
                f.failing += 1;
                let mut c = done.commit;
                c.absorb(std::mem::take(&mut self.held));
                c.compact();
                let max = if self.stopping {
                    usize::MAX
                } else {
                    self.max_pending
                };
                let e = crate::chain(&e);
                if c.edges() > max {
                    f.edges_dropped += c.edges() as u64;
                    tracing::error!(error = %e, dropped = c.edges(), max_pending_edges = max,
                        "flush failed and the edges held back passed max_pending_edges: dropping them");
                } else {
                    tracing::error!(error = %e, held = c.edges(), "flush failed; keeping the edges in memory and retrying at the next flush");
                    self.held = c;
                }
                self.held_edges = self.held.edges();
            }
        }
    }

    /// The flush under way will not report (its task died): its edges are
    /// gone with it, and the next flush may start.
    pub fn flush_abandoned(&mut self) {
        self.in_flight = false;
        self.held_edges = self.held.edges();
    }

    /// The end of the input: finishes every flow, gives up on data sets
    /// still waiting for a template, releases flow records waiting for
    /// their partner, and returns everything left to write (with what
    /// failed flushes held back). From now on held edges are never dropped.
    /// Call it once no flush is under way.
    pub fn finish(&mut self) -> Commit {
        self.stopping = true;
        self.sets_at_end = Some(self.pipe.pending_sets());
        self.agg.table.finish();
        self.pipe.finish();
        let mut c = self.take(i64::MAX);
        c.absorb(std::mem::take(&mut self.held));
        self.held_edges = c.edges();
        c
    }

    /// Edges that are held back (after the last flush: lost).
    pub fn held_edges(&self) -> usize {
        self.held.edges()
    }

    /// Every counter, by value (`sources` empty: the driver adds them).
    pub fn snapshot(&self) -> Snapshot {
        let packets = *self.agg.counters();
        Snapshot {
            packets,
            flow_table: self.agg.table.counters(),
            flows_active: self.agg.table.active_flows() as u64,
            names: self.agg.names.counters(),
            decoder: self.pipe.decoder(),
            sets_waiting: self.sets_at_end.unwrap_or_else(|| self.pipe.pending_sets()),
            records: self.pipe.aggregator(),
            edges_pending: (self.agg.table.pending_edges() + self.held_edges) as u64,
            flush: self.flush,
            ..Snapshot::default()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::FixedClock;
    use std::path::PathBuf;

    /// A batch of TCP SYNs (LINKTYPE_RAW) from 10.1.0.1 to 10.2.0.1 on `ports`.
    fn syns(ports: std::ops::Range<u16>) -> FrameBatch {
        let mut b = FrameBatch::new();
        for port in ports {
            let mut p = vec![
                0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 1, 0, 1, 10, 2, 0, 1,
            ];
            p.extend_from_slice(&40_000u16.to_be_bytes());
            p.extend_from_slice(&port.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
            b.push(101, 1_000, &p, p.len() as u32);
        }
        b
    }

    fn failed(commit: Commit) -> Flushed {
        Flushed {
            result: Err(StoreError::Missing {
                path: PathBuf::from("x.db"),
            }),
            commit,
            took: Duration::from_millis(1),
            store_bytes: 0,
        }
    }

    fn ok(packets: u64) -> Flushed {
        Flushed {
            result: Ok(FlushReport {
                packets,
                ..FlushReport::default()
            }),
            commit: Commit::default(),
            took: Duration::from_millis(1),
            store_bytes: 0,
        }
    }

    #[test]
    fn a_flush_is_asked_for_taken_once_and_given_back_on_failure() {
        let clock = FixedClock(2_000);
        let mut e = Engine::new(EngineConfig::default());
        e.on_frames(&syns(1..4));
        assert!(e.poll_flush(&clock).is_none(), "not due yet");
        e.on_tick();
        let c = e.poll_flush(&clock).unwrap();
        assert_eq!(c.edges(), 3, "open flows are folded in");
        assert!(e.flush_in_flight());
        e.on_tick();
        assert!(e.poll_flush(&clock).is_none(), "one flush at a time");
        e.flushed(failed(c));
        assert_eq!(e.snapshot().flush.errors, 1);
        assert_eq!(e.snapshot().edges_pending, 3);
        e.on_frames(&syns(3..5));
        e.on_tick();
        let c = e.poll_flush(&clock).unwrap();
        assert_eq!(c.packets(), 5, "held edges ride with the next flush");
        e.flushed(ok(c.packets()));
        let s = e.snapshot();
        assert_eq!((s.flush.flushes, s.flush.failing), (1, 0));
        assert_eq!(s.flush.packets_flushed, 5);
        assert_eq!(s.edges_pending, 0);
    }

    #[test]
    fn held_edges_past_the_bound_are_dropped_except_at_the_end() {
        let clock = FixedClock(2_000);
        let mut e = Engine::new(EngineConfig {
            max_pending_edges: 2,
            ..EngineConfig::default()
        });
        e.on_frames(&syns(1..4));
        e.on_tick();
        let c = e.poll_flush(&clock).unwrap();
        e.flushed(failed(c));
        assert_eq!(e.snapshot().flush.edges_dropped, 3);
        assert_eq!(e.held_edges(), 0);
        e.on_frames(&syns(5..9));
        let last = e.finish();
        assert_eq!(last.edges(), 4);
        e.flushed(failed(last));
        assert_eq!(e.held_edges(), 4, "kept to be reported as lost");
        assert_eq!(e.snapshot().flush.edges_dropped, 3);
    }
}
