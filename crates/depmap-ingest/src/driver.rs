//! The one tokio loop around the [`Engine`]: `depmap agent`, `depmap
//! capture` and `depmap collect` all run it.
//!
//! Threads and tasks (see docs/ARCHITECTURE.md):
//! - each [`Source`] runs on a thread or task of its own and sends batches
//!   over a bounded channel (one channel operation per batch);
//! - the loop owns the engine (so the packet path takes no lock), ticks the
//!   flush interval, and obeys [`Control`]s (stop, reload);
//! - a flush runs on tokio's blocking pool and writes everything in one
//!   transaction while the loop keeps counting; a failed flush gives its
//!   edges back to the engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use depmap_capture::{DatagramBatch, FrameBatch, LiveConfig};
use depmap_edges::FlowConfig;
use depmap_store::{Commit, MapStore, Store, StoreError};
use tokio::sync::{mpsc, watch};
use tokio::time::{Interval, MissedTickBehavior};

use crate::source::Joining;
use crate::{Clock, Engine, EngineConfig, FlushReport, Flushed, Interface, Sink, Snapshot, Source};

/// Batches of frames waiting between the readers and the loop.
const FRAME_BATCHES: usize = 16;
/// Batches of datagrams waiting between the listeners and the loop.
const DATAGRAM_BATCHES: usize = 64;
/// How long shutdown waits for sources to hand over their last batches.
const DRAIN_DEADLINE: Duration = Duration::from_secs(2);
/// How often the loop hands a [`Snapshot`] to its observer.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// What a reload may change while running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How often the engine flushes.
    pub flush_interval: Duration,
    /// The most edges held while the store fails.
    pub max_pending_edges: usize,
    /// Days of per-day activity kept (counted back from the last day with
    /// data), applied after each good flush; `None` keeps everything.
    pub retention_days: Option<i32>,
}

/// What the loop is told from outside (signals, timers).
#[derive(Debug)]
pub enum Control {
    /// Stop the sources, take their last batches, flush once more, return.
    Stop,
    /// Apply new settings and the new list of interfaces: refilter those
    /// that stay, stop the removed, open the added, and open again those
    /// whose reader stopped on an error.
    Reload {
        /// The new settings.
        settings: Settings,
        /// The interfaces to capture on.
        interfaces: Vec<LiveConfig>,
    },
}

/// What a run did.
#[derive(Debug)]
pub struct Summary {
    /// Every counter at the end.
    pub snapshot: Snapshot,
    /// Edges that never reached the store.
    pub lost_edges: usize,
}

/// The loop, its engine, sources and store.
pub struct Driver {
    engine: Engine,
    settings: Settings,
    clock: Arc<dyn Clock>,
    store: Option<Store>,
    store_path: PathBuf,
    interfaces: Vec<Interface>,
    sources: Vec<Box<dyn Source>>,
    reloads: u64,
}

impl Driver {
    /// A driver with a flow table set up by `flow`, writing to the store at
    /// `store_path` (`store`: already open, or `None` to open it at the
    /// first flush).
    pub fn new(
        flow: FlowConfig,
        settings: Settings,
        clock: Arc<dyn Clock>,
        store: Option<Store>,
        store_path: PathBuf,
    ) -> Driver {
        let mut engine = Engine::new(EngineConfig {
            flow,
            max_pending_edges: settings.max_pending_edges,
        });
        engine.note_store_bytes(depmap_store::store_size(&store_path));
        Driver {
            engine,
            settings,
            clock,
            store,
            store_path,
            interfaces: Vec::new(),
            sources: Vec::new(),
            reloads: 0,
        }
    }

    /// Adds a live interface (a reload may refilter, stop or reopen it).
    pub fn interface(&mut self, i: Interface) {
        self.interfaces.push(i);
    }

    /// Adds any other source.
    pub fn source(&mut self, s: Box<dyn Source>) {
        self.sources.push(s);
    }

    fn all(&mut self) -> impl Iterator<Item = &mut dyn Source> {
        self.interfaces
            .iter_mut()
            .map(|i| i as &mut dyn Source)
            .chain(self.sources.iter_mut().map(|s| &mut **s as &mut dyn Source))
    }

    /// Every counter now.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = self.engine.snapshot();
        s.flush_interval = self.settings.flush_interval;
        s.reloads = self.reloads;
        s.sources = self
            .interfaces
            .iter()
            .map(|i| i.stats())
            .chain(self.sources.iter().map(|s| s.stats()))
            .collect();
        s
    }

    /// Runs the sources and the loop until [`Control::Stop`] (or the
    /// control channel closes), then flushes and returns. `observe` gets a
    /// [`Snapshot`] every 250 ms, after each flush and reload, and at the end.
    pub async fn run(
        mut self,
        mut controls: mpsc::Receiver<Control>,
        mut observe: impl FnMut(&Snapshot),
    ) -> std::io::Result<Summary> {
        let (ftx, mut frx) = mpsc::channel::<FrameBatch>(FRAME_BATCHES);
        let (dtx, mut drx) = mpsc::channel::<DatagramBatch>(DATAGRAM_BATCHES);
        let (stop_tx, stop_rx) = watch::channel(false);
        let sink = Sink::new(ftx, dtx, stop_rx);
        for s in self.all() {
            s.start(sink.clone())?;
        }
        // Every source is known to the observer before anything can change it.
        observe(&self.snapshot());
        let mut tick = interval(self.settings.flush_interval);
        tick.tick().await;
        let mut publish = interval(PUBLISH_EVERY);
        let mut inflight: Option<tokio::task::JoinHandle<(Option<Store>, Flushed)>> = None;
        loop {
            tokio::select! {
                Some(batch) = frx.recv() => self.engine.on_frames(&batch),
                Some(batch) = drx.recv() => self.engine.on_datagrams(&batch),
                _ = tick.tick() => self.engine.on_tick(),
                done = async { match inflight.as_mut() { Some(h) => h.await, None => std::future::pending().await } }, if inflight.is_some() => {
                    inflight = None;
                    self.flushed(done);
                    observe(&self.snapshot());
                }
                _ = publish.tick() => observe(&self.snapshot()),
                c = controls.recv() => match c {
                    Some(Control::Reload { settings, interfaces }) => {
                        self.reload(settings, &interfaces, &sink, &mut tick);
                        observe(&self.snapshot());
                    }
                    Some(Control::Stop) | None => break,
                },
            }
            if let Some(commit) = self.engine.poll_flush(&*self.clock) {
                inflight = Some(self.spawn_flush(commit));
            }
        }

        // Shutdown: stop the sources, take their last batches, flush once more.
        let started = Instant::now();
        for s in self.all() {
            s.stop();
        }
        let _ = stop_tx.send(true);
        drop(sink);
        let engine = &mut self.engine;
        let drain = async {
            let (mut frames_done, mut datagrams_done) = (false, false);
            while !(frames_done && datagrams_done) {
                tokio::select! {
                    b = frx.recv(), if !frames_done => match b {
                        Some(batch) => engine.on_frames(&batch),
                        None => frames_done = true,
                    },
                    b = drx.recv(), if !datagrams_done => match b {
                        Some(batch) => engine.on_datagrams(&batch),
                        None => datagrams_done = true,
                    },
                }
            }
        };
        if tokio::time::timeout(DRAIN_DEADLINE, drain).await.is_err() {
            tracing::warn!(
                "sources did not stop within {:?}; flushing what arrived",
                DRAIN_DEADLINE
            );
        }
        if let Some(h) = inflight.take() {
            self.flushed(h.await);
        }
        let last = self.engine.finish();
        if !last.is_empty() {
            let done = self.spawn_flush(last).await;
            self.flushed(done);
        }
        let lost_edges = self.engine.held_edges();
        if lost_edges > 0 {
            tracing::error!(
                edges = lost_edges,
                "the store could not be written: these edges are lost"
            );
        }
        let joins: Vec<Joining<'_>> = self.all().map(|s| s.join()).collect();
        for j in joins {
            j.await;
        }
        let snapshot = self.snapshot();
        observe(&snapshot);
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "stopped");
        Ok(Summary {
            snapshot,
            lost_edges,
        })
    }

    fn spawn_flush(&mut self, commit: Commit) -> tokio::task::JoinHandle<(Option<Store>, Flushed)> {
        let (mut store, path, keep) = (
            self.store.take(),
            self.store_path.clone(),
            self.settings.retention_days,
        );
        tokio::task::spawn_blocking(move || {
            let done = write(&mut store, &path, commit, keep);
            (store, done)
        })
    }

    fn flushed(&mut self, done: Result<(Option<Store>, Flushed), tokio::task::JoinError>) {
        match done {
            Ok((store, done)) => {
                self.store = store;
                self.engine.flushed(done);
            }
            Err(e) => {
                tracing::error!(error = %e, "the flush task failed");
                self.engine.flush_abandoned();
            }
        }
    }

    fn reload(
        &mut self,
        new: Settings,
        interfaces: &[LiveConfig],
        sink: &Sink,
        tick: &mut Interval,
    ) {
        let old = &self.settings;
        if new.flush_interval != old.flush_interval {
            tracing::info!(from = ?old.flush_interval, to = ?new.flush_interval, "flush_interval changed");
            *tick = tokio::time::interval_at(
                tokio::time::Instant::now() + new.flush_interval,
                new.flush_interval,
            );
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        }
        if new.retention_days != old.retention_days {
            tracing::info!(days = ?new.retention_days, "retention changed");
        }
        if new.max_pending_edges != old.max_pending_edges {
            tracing::info!(value = new.max_pending_edges, "max_pending_edges changed");
            self.engine.set_max_pending_edges(new.max_pending_edges);
        }
        self.settings = new;
        // Interfaces: refilter, stop the removed, open the added. A reader
        // that stopped on an error (interface gone) is opened again.
        let mut keep = Vec::new();
        for mut i in self.interfaces.drain(..) {
            let name = i.config().interface.clone();
            let wanted = interfaces.iter().find(|n| n.interface == name);
            if i.is_finished() {
                tracing::info!(interface = %name, "capture had stopped: opening the interface again");
            } else if let Some(n) = wanted {
                if n.filter != i.config().filter {
                    i.set_filter(n.filter.clone());
                }
                keep.push(i);
                continue;
            } else {
                tracing::info!(interface = %name, "interface removed from the config: capture stops");
            }
            i.stop();
            // Its reader ends within a poll and a drain; wait off the loop.
            tokio::spawn(async move { i.join().await });
        }
        self.interfaces = keep;
        for n in interfaces {
            if self
                .interfaces
                .iter()
                .any(|i| i.config().interface == n.interface)
            {
                continue;
            }
            let opened = Interface::open(n.clone()).map_err(|e| e.to_string());
            match opened
                .and_then(|mut i| i.start(sink.clone()).map(|_| i).map_err(|e| e.to_string()))
            {
                Ok(i) => self.interfaces.push(i),
                Err(e) => tracing::error!(interface = %n.interface, error = %e,
                    "cannot open the interface added by the reload (with `user` set, reload_interfaces = true keeps CAP_NET_RAW for this); it is not captured"),
            }
        }
        self.reloads += 1;
    }
}

fn interval(period: Duration) -> Interval {
    let mut t = tokio::time::interval(period);
    t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    t
}

/// One flush, on the blocking pool: opens the store if needed, writes
/// everything in one transaction, applies retention after a good write.
/// A connection that failed may hold a broken transaction state, so it is
/// dropped and the next flush opens a fresh one.
fn write(
    store: &mut Option<Store>,
    path: &Path,
    mut commit: Commit,
    retention_days: Option<i32>,
) -> Flushed {
    let started = Instant::now();
    let result = (|| -> Result<FlushReport, StoreError> {
        let s = match store {
            Some(s) => s,
            None => store.insert(Store::open(path)?),
        };
        commit.compact();
        let packets = commit.packets();
        let upsert = s.commit(&commit)?;
        let mut pruned = 0;
        if let Some(keep) = retention_days {
            // Retention failing (disk full while deleting is possible) is
            // not a lost flush: the next one tries again.
            if let Ok(Some(r)) = s.keep_days(keep) {
                pruned = r.deleted;
            }
        }
        Ok(FlushReport {
            upsert,
            packets,
            pruned,
        })
    })();
    if result.is_ok() {
        commit = Commit::default();
    } else {
        *store = None;
    }
    Flushed {
        result,
        commit,
        took: started.elapsed(),
        store_bytes: depmap_store::store_size(path),
    }
}
