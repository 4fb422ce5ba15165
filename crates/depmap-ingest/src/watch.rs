//! Watched directories: capture files dropped there (by a rotating
//! `tcpdump -G`, a TAP appliance, a copy job) are ingested as `depmap
//! ingest` does it ([`crate::ingest_file`]), each in its own transaction
//! with its ingest record, on a store connection of its own.
//!
//! A file is taken once its size and modification time are the same at two
//! looks in a row, so a file still being written is left alone. Files are
//! never moved or deleted (the directory may be read-only); a file already
//! ingested, even before a restart, is recognised by its content digest in
//! the store and skipped. At most [`MAX_FILES`] entries of a directory are
//! considered per look.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use depmap_edges::FlowConfig;
use depmap_store::Store;
use tokio::sync::watch;

use crate::source::{Joining, WatchCounts};
use crate::{chain, ingest_file, Clock, Outcome, Sink, Source, SourceStats};

/// The most directory entries considered per look.
pub const MAX_FILES: usize = 100_000;

/// How long shutdown waits for a file being ingested.
const JOIN_DEADLINE: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Counts {
    ingested: AtomicU64,
    repeated: AtomicU64,
    failed: AtomicU64,
}

/// A directory looked at every interval for new capture files.
pub struct WatchDir {
    directory: PathBuf,
    interval: Duration,
    store: PathBuf,
    flow: FlowConfig,
    clock: Arc<dyn Clock>,
    counts: Arc<Counts>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl WatchDir {
    /// Watches `directory` every `interval`, ingesting into the store at
    /// `store` with flow-table settings `flow`.
    pub fn new(
        directory: PathBuf,
        interval: Duration,
        store: PathBuf,
        flow: FlowConfig,
        clock: Arc<dyn Clock>,
    ) -> WatchDir {
        WatchDir {
            directory,
            interval,
            store,
            flow,
            clock,
            counts: Arc::default(),
            task: None,
        }
    }
}

impl Source for WatchDir {
    fn start(&mut self, sink: Sink) -> std::io::Result<()> {
        tracing::info!(directory = %self.directory.display(), interval = ?self.interval, "watching for capture files");
        let look = Look {
            directory: self.directory.clone(),
            store: self.store.clone(),
            flow: self.flow,
            clock: Arc::clone(&self.clock),
            counts: Arc::clone(&self.counts),
        };
        // Only the stop signal: files go to the store directly, and holding
        // no sender lets the driver's channels close at shutdown.
        self.task = Some(tokio::spawn(run(look, self.interval, sink.stop())));
        Ok(())
    }

    fn is_finished(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.is_finished())
    }

    fn join(&mut self) -> Joining<'_> {
        let task = self.task.take();
        Box::pin(async move {
            // A file being ingested is one transaction: cut short, it is
            // rolled back and read again after the restart.
            if let Some(t) = task {
                if tokio::time::timeout(JOIN_DEADLINE, t).await.is_err() {
                    tracing::warn!("a watched-directory ingest was still running at shutdown; that file will be read again at the next start");
                }
            }
        })
    }

    fn stats(&self) -> SourceStats {
        let c = &self.counts;
        SourceStats::Watch {
            directory: self.directory.clone(),
            files: WatchCounts {
                ingested: c.ingested.load(Ordering::Relaxed),
                repeated: c.repeated.load(Ordering::Relaxed),
                failed: c.failed.load(Ordering::Relaxed),
            },
        }
    }
}

/// A file's identity for the settle check.
type Seen = (u64, SystemTime);

/// Capture files in `dir` (by extension), with size and mtime.
fn list(dir: &Path) -> std::io::Result<Vec<(PathBuf, Seen)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)?.take(MAX_FILES) {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !matches!(ext.as_str(), "pcap" | "pcapng" | "cap") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        out.push((
            path,
            (
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            ),
        ));
    }
    out.sort();
    Ok(out)
}

/// What one look needs, moved to the blocking pool.
struct Look {
    directory: PathBuf,
    store: PathBuf,
    flow: FlowConfig,
    clock: Arc<dyn Clock>,
    counts: Arc<Counts>,
}

impl Look {
    /// Ingests `paths` (a store connection of its own) and returns those
    /// dealt with for good: ingested, repeats, and files that are not
    /// captures. Files that failed because of the store are tried again at
    /// the next look.
    fn ingest(&self, paths: &[PathBuf]) -> Vec<PathBuf> {
        let c = &self.counts;
        let bump = |a: &AtomicU64, n: u64| a.fetch_add(n, Ordering::Relaxed);
        let mut handled = Vec::new();
        let mut store = match Store::open(&self.store) {
            Ok(s) => s,
            Err(e) => {
                bump(&c.failed, paths.len() as u64);
                tracing::error!(error = %e, files = paths.len(), "cannot open the store for watched files; trying again at the next look");
                return handled;
            }
        };
        for path in paths {
            match ingest_file(&mut store, path, self.flow, false, &*self.clock, &mut ()) {
                Ok(Outcome::Done(r)) => {
                    bump(&c.ingested, 1);
                    tracing::info!(file = %path.display(), packets = r.packets.ip_packets, edges = r.edges, "capture file ingested");
                }
                Ok(Outcome::Partial(r, e)) => {
                    bump(&c.ingested, 1);
                    tracing::warn!(file = %path.display(), packets = r.packets.ip_packets, error = %e, "capture file ingested up to an error");
                }
                Ok(Outcome::Repeat(r)) => {
                    bump(&c.repeated, 1);
                    tracing::info!(file = %path.display(), reason = %r, "capture file skipped");
                }
                Err(e) if e.is_store() => {
                    bump(&c.failed, 1);
                    tracing::error!(file = %path.display(), error = %chain(&e), "capture file not stored; trying again at the next look");
                    continue;
                }
                Err(e) => {
                    bump(&c.failed, 1);
                    tracing::error!(file = %path.display(), error = %chain(&e), "capture file not ingested");
                }
            }
            handled.push(path.clone());
        }
        handled
    }
}

/// Looks at the directory every `interval` until `stop` changes.
async fn run(look: Look, interval: Duration, mut stop: watch::Receiver<bool>) {
    let look = Arc::new(look);
    let mut done: HashMap<PathBuf, Seen> = HashMap::new();
    let mut last: HashMap<PathBuf, Seen> = HashMap::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let dir = look.directory.clone();
        let listing = match tokio::task::spawn_blocking(move || list(&dir)).await {
            Ok(Ok(l)) => {
                warned = false;
                l
            }
            Ok(Err(e)) => {
                if !warned {
                    tracing::error!(directory = %look.directory.display(), error = %e, "cannot read the watched directory; looking again every interval");
                    warned = true;
                }
                continue;
            }
            Err(_) => continue,
        };
        let mut ready = Vec::new();
        let mut now = HashMap::with_capacity(listing.len());
        for (path, seen) in listing {
            if done.get(&path) != Some(&seen) && last.get(&path) == Some(&seen) {
                ready.push(path.clone());
            }
            now.insert(path, seen);
        }
        // Files gone from the directory are forgotten: the store still
        // refuses their content if it comes back.
        done.retain(|p, _| now.contains_key(p));
        last = now;
        if ready.is_empty() {
            continue;
        }
        let l = Arc::clone(&look);
        if let Ok(handled) = tokio::task::spawn_blocking(move || l.ingest(&ready)).await {
            for p in handled {
                if let Some(seen) = last.get(&p) {
                    done.insert(p, *seen);
                }
            }
        }
    }
}
