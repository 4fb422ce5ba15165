//! Watched directories: capture files dropped there (by a rotating
//! `tcpdump -G`, a TAP appliance, a copy job) are ingested like `depmap
//! ingest` does, each in its own transaction with its ingest record.
//!
//! A file is taken once its size and modification time are the same at two
//! looks in a row, so a file still being written is left alone. The agent
//! never moves or deletes files (it may run with a read-only view of the
//! directory); a file already ingested, even before a restart, is
//! recognised by its content digest in the store and skipped. At most
//! [`MAX_FILES`] entries of a directory are considered per look.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use depmap_edges::FlowConfig;
use depmap_store::Store;

use super::config::Watch;
use super::metrics::{add, Metrics};
use crate::ingest::{ingest_file, Outcome};

/// The most directory entries considered per look.
pub const MAX_FILES: usize = 100_000;

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

/// Ingests `paths` into the store at `db` (a connection of its own) and
/// returns those dealt with for good: ingested, repeats, and files that
/// are not captures. Files that failed because of the store are tried
/// again at the next look.
fn ingest(db: &Path, paths: &[PathBuf], max_flows: usize, metrics: &Metrics) -> Vec<PathBuf> {
    let mut handled = Vec::new();
    let mut store = match Store::open(db) {
        Ok(s) => s,
        Err(e) => {
            add(&metrics.files_failed, paths.len() as u64);
            tracing::error!(error = %e, files = paths.len(), "cannot open the store for watched files; trying again at the next look");
            return handled;
        }
    };
    let cfg = FlowConfig {
        max_flows,
        ..FlowConfig::default()
    };
    for path in paths {
        match ingest_file(&mut store, path, cfg, false) {
            Ok(Outcome::Done(r)) => {
                add(&metrics.files_ingested, 1);
                tracing::info!(file = %path.display(), packets = r.packets.ip_packets, edges = r.edges, "capture file ingested");
            }
            Ok(Outcome::Partial(r, e)) => {
                add(&metrics.files_ingested, 1);
                tracing::warn!(file = %path.display(), packets = r.packets.ip_packets, error = %format!("{e:#}"), "capture file ingested up to an error");
            }
            Ok(Outcome::Rejected(e)) => {
                add(&metrics.files_repeated, 1);
                tracing::info!(file = %path.display(), reason = %format!("{e:#}"), "capture file skipped");
            }
            Err(e) => {
                add(&metrics.files_failed, 1);
                if e.downcast_ref::<depmap_store::StoreError>().is_some() {
                    tracing::error!(file = %path.display(), error = %format!("{e:#}"), "capture file not stored; trying again at the next look");
                    continue;
                }
                tracing::error!(file = %path.display(), error = %format!("{e:#}"), "capture file not ingested");
            }
        }
        handled.push(path.clone());
    }
    handled
}

/// Looks at `w.directory` every `w.interval` until `stop` changes.
pub async fn run(
    w: Watch,
    db: PathBuf,
    max_flows: usize,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut done: HashMap<PathBuf, Seen> = HashMap::new();
    let mut last: HashMap<PathBuf, Seen> = HashMap::new();
    let mut tick = tokio::time::interval(w.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let dir = w.directory.clone();
        let listing = match tokio::task::spawn_blocking(move || list(&dir)).await {
            Ok(Ok(l)) => {
                warned = false;
                l
            }
            Ok(Err(e)) => {
                if !warned {
                    tracing::error!(directory = %w.directory.display(), error = %e, "cannot read the watched directory; looking again every interval");
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
        let (db, m) = (db.clone(), Arc::clone(&metrics));
        if let Ok(handled) =
            tokio::task::spawn_blocking(move || ingest(&db, &ready, max_flows, &m)).await
        {
            for p in handled {
                if let Some(seen) = last.get(&p) {
                    done.insert(p, *seen);
                }
            }
        }
    }
}
