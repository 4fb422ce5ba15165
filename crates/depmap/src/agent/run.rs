//! The agent's engine, shared by `depmap agent` and `depmap capture`:
//! sources -> one aggregation loop -> periodic flushes to the store.
//!
//! Threads and tasks (see docs/ARCHITECTURE.md):
//! - one OS thread per interface runs libpcap's blocking reads and sends
//!   batches of frames over a bounded channel (one channel operation per
//!   batch);
//! - one tokio task per flow listener sends batches of datagrams;
//! - the aggregation loop, on a current-thread runtime, owns the packet
//!   aggregator (decoder + flow table + names) and the flow-record pipeline,
//!   and starts a flush every interval;
//! - a flush runs on tokio's blocking pool and writes everything in one
//!   transaction while the loop keeps counting; a failed flush gives its
//!   edges back and they are written with the next one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use depmap_capture::{DatagramBatch, FrameBatch, LiveCapture, LiveConfig, UdpListener};
use depmap_edges::{FlowConfig, PacketAggregator};
use depmap_store::{Batch, Commit, MapStore, Store, UpsertSummary};
use tokio::sync::mpsc;

use super::config::Config;
use super::metrics::{self, add, set, InterfaceStats, ListenerEntry, Metrics};
use crate::flows::Pipeline;

/// The most frames one capture thread hands over in one batch.
const BATCH_FRAMES: usize = 4096;
/// The most captured bytes in one batch: with [`CHANNEL_BATCHES`] this
/// bounds what waits between the readers and the loop (16 MiB in all,
/// plus one batch in each reader's hands), whatever the snaplen.
const BATCH_BYTES: usize = 1 << 20;
/// The longest a capture thread holds a partial batch.
const BATCH_WAIT: Duration = Duration::from_millis(50);
/// Batches waiting between the sources and the aggregation loop.
const CHANNEL_BATCHES: usize = 16;
/// How long shutdown waits for sources to hand over their last batches.
const DRAIN_DEADLINE: Duration = Duration::from_secs(2);
/// How often a capture thread reads libpcap's drop counters.
const STATS_EVERY: Duration = Duration::from_millis(250);

/// How the engine is started.
pub struct Options {
    /// The config file, for SIGHUP reloads (`None`: reloads are refused).
    pub config_path: Option<PathBuf>,
    /// The configuration.
    pub config: Config,
    /// Stop after this long (`depmap capture --duration`).
    pub duration: Option<Duration>,
    /// Switch user and clear capabilities after opening the sources.
    pub drop_privileges: bool,
}

/// What a run did, for the closing report.
#[derive(Debug, Default)]
pub struct Summary {
    /// Per interface: name and final counters.
    pub interfaces: Vec<(String, depmap_capture::LiveStats)>,
    /// Packet counters.
    pub frames: u64,
    /// IP packets.
    pub packets: u64,
    /// Flow-export records.
    pub flow_records: u64,
    /// Edges written in all.
    pub written: UpsertSummary,
    /// Flushes done / failed.
    pub flushes: (u64, u64),
    /// Edges that never reached the store.
    pub lost_edges: usize,
}

/// One interface's thread and its controls.
struct Source {
    config: LiveConfig,
    stop: Arc<AtomicBool>,
    new_filter: Arc<Mutex<Option<String>>>,
    stats: Arc<InterfaceStats>,
    final_stats: Arc<Mutex<depmap_capture::LiveStats>>,
    thread: Option<JoinHandle<()>>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// What a flush task hands back.
struct FlushDone {
    store: Option<Store>,
    /// The batch when the flush failed (to retry), empty otherwise.
    pending: Commit,
    result: Result<(UpsertSummary, u64, u64), String>,
    took: Duration,
    store_bytes: u64,
}

/// One flush, on the blocking pool: opens the store if needed, writes
/// everything in one transaction, applies retention after a good write.
fn flush_blocking(
    store: Option<Store>,
    path: PathBuf,
    mut pending: Commit,
    retention_days: Option<i32>,
) -> FlushDone {
    let started = Instant::now();
    let mut store = store;
    let result = (|| -> Result<(UpsertSummary, u64, u64), String> {
        if store.is_none() {
            store = Some(Store::open(&path).map_err(|e| e.to_string())?);
        }
        let Some(s) = store.as_mut() else {
            return Err("no store".into());
        };
        pending.compact();
        let packets = pending.packets();
        let written = s.commit(&pending).map_err(|e| e.to_string())?;
        let mut pruned = 0;
        if let Some(keep) = retention_days {
            // Retention failing (disk full while deleting is possible) is
            // not a lost flush: the next one tries again.
            if let Ok(Some(r)) = s.keep_days(keep) {
                pruned = r.deleted;
            }
        }
        Ok((written, packets, pruned))
    })();
    if result.is_ok() {
        pending = Commit::default();
    } else {
        // A connection that failed may hold a broken transaction state;
        // open a fresh one on the next try.
        store = None;
    }
    FlushDone {
        store,
        pending,
        result,
        took: started.elapsed(),
        store_bytes: depmap_store::store_size(&path),
    }
}

/// A capture thread: batches from libpcap to the loop until told to stop.
fn capture_thread(
    mut cap: LiveCapture,
    tx: mpsc::Sender<FrameBatch>,
    stop: Arc<AtomicBool>,
    new_filter: Arc<Mutex<Option<String>>>,
    stats: Arc<InterfaceStats>,
    final_stats: Arc<Mutex<depmap_capture::LiveStats>>,
) {
    let name = cap.interface().to_string();
    stats.up.store(true, Ordering::Relaxed);
    let mut last_stats = Instant::now();
    let publish = |cap: &mut LiveCapture| {
        if let Ok(s) = cap.stats() {
            set(&stats.frames, s.frames);
            set(&stats.bytes, s.bytes);
            set(&stats.kernel_drops, s.kernel_drops);
            set(&stats.interface_drops, s.interface_drops);
            if let Ok(mut f) = final_stats.lock() {
                *f = s;
            }
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let change = new_filter.lock().ok().and_then(|mut f| f.take());
        if let Some(f) = change {
            match cap.set_filter(&f) {
                Ok(()) => tracing::info!(interface = %name, filter = %f, "capture filter changed"),
                Err(e) => {
                    tracing::error!(interface = %name, error = %e, "capture filter not changed; the previous one stays")
                }
            }
        }
        let mut batch = FrameBatch::new();
        match cap.next_batch(&mut batch, BATCH_FRAMES, BATCH_BYTES, BATCH_WAIT) {
            Ok(0) => {}
            Ok(_) => {
                if tx.blocking_send(batch).is_err() {
                    break;
                }
            }
            Err(e) => {
                tracing::error!(interface = %name, error = %e, "capture stopped");
                break;
            }
        }
        if last_stats.elapsed() >= STATS_EVERY {
            publish(&mut cap);
            last_stats = Instant::now();
        }
    }
    // Drain what the kernel still holds (bounded in time), so traffic that
    // arrived before the stop is counted.
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        let mut batch = FrameBatch::new();
        match cap.next_batch(&mut batch, BATCH_FRAMES, BATCH_BYTES, BATCH_WAIT) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if tx.blocking_send(batch).is_err() {
                    break;
                }
            }
        }
    }
    publish(&mut cap);
    stats.up.store(false, Ordering::Relaxed);
}

fn start_source(
    cap: LiveCapture,
    config: LiveConfig,
    tx: &mpsc::Sender<FrameBatch>,
    metrics: &Metrics,
) -> anyhow::Result<Source> {
    let stop = Arc::new(AtomicBool::new(false));
    let new_filter = Arc::new(Mutex::new(None));
    let stats = Arc::new(InterfaceStats::default());
    let final_stats = Arc::new(Mutex::new(depmap_capture::LiveStats::default()));
    if let Ok(mut v) = metrics.interfaces.lock() {
        v.retain(|(n, _)| *n != config.interface);
        v.push((config.interface.clone(), Arc::clone(&stats)));
    }
    let (t, s, f, st, fs) = (
        tx.clone(),
        Arc::clone(&stop),
        Arc::clone(&new_filter),
        Arc::clone(&stats),
        Arc::clone(&final_stats),
    );
    let thread = std::thread::Builder::new()
        .name(format!("capture-{}", config.interface))
        .spawn(move || capture_thread(cap, t, s, f, st, fs))
        .with_context(|| format!("cannot start the capture thread of {}", config.interface))?;
    Ok(Source {
        config,
        stop,
        new_filter,
        stats,
        final_stats,
        thread: Some(thread),
    })
}

/// Runs until SIGTERM/SIGINT (or `duration`), then flushes and returns.
pub fn run(opts: Options) -> anyhow::Result<Summary> {
    // A current-thread runtime starts no thread of its own, so privileges
    // can be dropped for the whole process before anything else runs.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let summary = rt.block_on(run_async(opts));
    // Do not wait for a blocking task still ingesting a large file.
    rt.shutdown_timeout(Duration::from_secs(1));
    summary
}

fn open_capture(c: &LiveConfig) -> anyhow::Result<LiveCapture> {
    let cap = LiveCapture::open(c)?;
    tracing::info!(
        interface = %c.interface,
        linktype = cap.linktype(),
        filter = c.filter.as_deref().unwrap_or(""),
        snaplen = c.snaplen,
        buffer_bytes = c.buffer_bytes,
        "capturing"
    );
    Ok(cap)
}

async fn run_async(opts: Options) -> anyhow::Result<Summary> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut cfg = opts.config;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut sighup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let metrics = Arc::new(Metrics::default());
    set(
        &metrics.flush_interval_ms,
        cfg.flush_interval.as_millis() as u64,
    );

    // 1. Everything that needs privileges: interfaces, sockets.
    let mut caps = Vec::new();
    for c in &cfg.interfaces {
        caps.push(open_capture(c)?);
    }
    let mut listeners = Vec::new();
    for l in &cfg.listeners {
        let u = UdpListener::bind(l.address, &l.listener_config())?;
        tracing::info!(listen = %u.local_addr(), recv_buffer = u.recv_buffer(), "listening for flow exports");
        listeners.push(u);
    }
    let metrics_listener = match cfg.metrics {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics = \"{addr}\": cannot listen there"))?;
            let bound = l.local_addr().unwrap_or(addr);
            tracing::info!(address = %bound, "serving metrics at /metrics and /healthz");
            println!("depmap: metrics at http://{bound}/metrics");
            Some(l)
        }
        None => None,
    };

    // 2. Drop them, while this is still the only thread.
    if opts.drop_privileges {
        let d = super::privs::drop_privileges(cfg.user.as_deref(), cfg.reload_interfaces)?;
        tracing::info!(user = %d.user, capabilities = ?d.kept, no_new_privs = true, "privileges dropped");
        if nix::unistd::Uid::effective().is_root() {
            tracing::warn!(
                "running as root: set `user` in the config to run as an unprivileged user"
            );
        }
    }

    // 3. The store, opened as the user that will write it.
    let mut store = match Store::open(&cfg.store) {
        Ok(s) => {
            tracing::info!(store = %cfg.store.display(), "store open");
            Some(s)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot open the store; counting in memory and retrying at every flush");
            None
        }
    };
    set(&metrics.store_bytes, depmap_store::store_size(&cfg.store));

    // 4. Start the sources.
    let (ftx, mut frx) = mpsc::channel::<FrameBatch>(CHANNEL_BATCHES);
    let (dtx, mut drx) = mpsc::channel::<DatagramBatch>(CHANNEL_BATCHES);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut sources = Vec::new();
    for (cap, c) in caps.into_iter().zip(cfg.interfaces.clone()) {
        sources.push(start_source(cap, c, &ftx, &metrics)?);
    }
    let mut listener_tasks = Vec::new();
    for u in listeners {
        if let Ok(mut v) = metrics.listeners.lock() {
            v.push(ListenerEntry {
                addr: u.local_addr(),
                stats: u.stats(),
                drops: u.drop_counter(),
            });
        }
        listener_tasks.push(tokio::spawn(crate::flows::listen(
            u,
            dtx.clone(),
            stop_rx.clone(),
        )));
    }
    drop(dtx);
    let mut watch_tasks = Vec::new();
    for w in &cfg.watches {
        tracing::info!(directory = %w.directory.display(), interval = %humantime::format_duration(w.interval), "watching for capture files");
        watch_tasks.push(tokio::spawn(super::watch::run(
            w.clone(),
            cfg.store.clone(),
            cfg.max_flows,
            Arc::clone(&metrics),
            stop_rx.clone(),
        )));
    }
    let server = metrics_listener.map(|l| tokio::spawn(metrics::serve(l, Arc::clone(&metrics))));

    // 5. The aggregation loop.
    let mut agg = PacketAggregator::new(FlowConfig {
        max_flows: cfg.max_flows,
        ..FlowConfig::default()
    });
    let mut pipe = Pipeline::default();
    let mut held = Commit::default();
    let mut inflight: Option<tokio::task::JoinHandle<FlushDone>> = None;
    let mut summary = Summary::default();
    let mut tick = tokio::time::interval(cfg.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
    let until = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    tracing::info!(
        interfaces = sources.len(),
        listeners = listener_tasks.len(),
        flush_interval = %humantime::format_duration(cfg.flush_interval),
        "agent running"
    );
    // Tests and scripts wait for this line: every source is open.
    println!(
        "depmap: running with {} interfaces and {} listeners",
        sources.len(),
        listener_tasks.len()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let mut ctx = Ctx {
        metrics: &metrics,
        summary: &mut summary,
        held_edges: 0,
    };
    loop {
        let want_flush = tokio::select! {
            Some(batch) = frx.recv() => {
                for f in batch.iter() {
                    agg.frame(f.linktype, f.ts_nanos, f.data, f.wire_len);
                }
                ctx.publish_packets(&agg);
                agg.table.pending_edges() + held.edges() >= cfg.max_pending_edges
            }
            Some(batch) = drx.recv() => {
                for (src, ts, payload) in batch.iter() {
                    pipe.datagram(src, payload, ts);
                }
                ctx.publish_flows(&pipe);
                false
            }
            _ = tick.tick() => true,
            done = async { match inflight.as_mut() { Some(h) => h.await, None => std::future::pending().await } }, if inflight.is_some() => {
                inflight = None;
                match done {
                    Ok(done) => ctx.flushed(done, &mut store, &mut held, cfg.max_pending_edges),
                    Err(e) => tracing::error!(error = %e, "the flush task failed"),
                }
                false
            }
            _ = sighup.recv() => {
                match &opts.config_path {
                    Some(p) => reload(p, &mut cfg, &mut sources, &ftx, &metrics, &mut tick),
                    None => tracing::warn!("SIGHUP ignored: no config file to reload"),
                }
                false
            }
            _ = sigterm.recv() => { tracing::info!("SIGTERM: flushing and stopping"); break }
            _ = sigint.recv() => { tracing::info!("SIGINT: flushing and stopping"); break }
            _ = &mut until => { tracing::info!("duration reached: flushing and stopping"); break }
        };
        if want_flush && inflight.is_none() {
            if agg.table.pending_edges() + held.edges() >= cfg.max_pending_edges {
                add(&metrics.flushes_early, 1);
            }
            let mut p = take(&mut agg, &mut pipe, now_ns());
            p.absorb(std::mem::take(&mut held));
            ctx.publish_packets(&agg);
            // Nothing learned since the last flush: no transaction, and the
            // store's health stays what the last real write said.
            ctx.held_edges = p.edges();
            if !p.is_empty() {
                let (s, path, keep) = (store.take(), cfg.store.clone(), cfg.retention_days);
                inflight = Some(tokio::task::spawn_blocking(move || {
                    flush_blocking(s, path, p, keep)
                }));
            }
        }
    }

    // Shutdown: stop the sources, take their last batches, flush once more.
    let started = Instant::now();
    for s in &sources {
        s.stop.store(true, Ordering::Relaxed);
    }
    let _ = stop_tx.send(true);
    drop(ftx);
    let drain = async {
        let (mut frames_done, mut datagrams_done) = (false, false);
        while !(frames_done && datagrams_done) {
            tokio::select! {
                b = frx.recv(), if !frames_done => match b {
                    Some(batch) => for f in batch.iter() {
                        agg.frame(f.linktype, f.ts_nanos, f.data, f.wire_len);
                    },
                    None => frames_done = true,
                },
                b = drx.recv(), if !datagrams_done => match b {
                    Some(batch) => for (src, ts, payload) in batch.iter() {
                        pipe.datagram(src, payload, ts);
                    },
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
        if let Ok(done) = h.await {
            ctx.flushed(done, &mut store, &mut held, usize::MAX);
        }
    }
    agg.table.finish();
    pipe.finish();
    ctx.publish_packets(&agg);
    ctx.publish_flows(&pipe);
    let mut p = take(&mut agg, &mut pipe, i64::MAX);
    p.absorb(std::mem::take(&mut held));
    if !p.is_empty() {
        let (s, path, keep) = (store.take(), cfg.store.clone(), cfg.retention_days);
        if let Ok(done) =
            tokio::task::spawn_blocking(move || flush_blocking(s, path, p, keep)).await
        {
            ctx.flushed(done, &mut store, &mut held, usize::MAX);
        }
    }
    ctx.summary.lost_edges = held.edges();
    if held.edges() > 0 {
        tracing::error!(
            edges = held.edges(),
            "the store could not be written: these edges are lost"
        );
    }
    for s in &mut sources {
        if let Some(t) = s.thread.take() {
            let _ = t.join();
        }
        let stats = s.final_stats.lock().map(|f| *f).unwrap_or_default();
        ctx.summary
            .interfaces
            .push((s.config.interface.clone(), stats));
    }
    for t in listener_tasks {
        if let Ok(Err(e)) = t.await {
            tracing::error!(error = %format!("{e:#}"), "flow listener failed");
        }
    }
    if let Some(s) = server {
        s.abort();
    }
    // A file being ingested is one transaction: cut short, it is rolled
    // back and read again after the restart.
    for t in watch_tasks {
        if tokio::time::timeout(Duration::from_secs(1), t)
            .await
            .is_err()
        {
            tracing::warn!("a watched-directory ingest was still running at shutdown; that file will be read again at the next start");
        }
    }
    let c = *agg.counters();
    ctx.summary.frames = c.frames;
    ctx.summary.packets = c.ip_packets;
    ctx.summary.flow_records = pipe.aggregator().records;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "stopped");
    Ok(summary)
}

/// Takes what the aggregator and the flow pipeline hold for the store:
/// folds the figures of open flows (so long connections are stored every
/// interval) after ending the flows idle at `now`.
fn take(agg: &mut PacketAggregator, pipe: &mut Pipeline, now: i64) -> Commit {
    if now != i64::MAX {
        agg.table.expire(now);
        agg.table.fold_active();
    }
    let packets = Batch {
        edges: agg.table.take_edges(),
        activity: agg.table.take_activity(),
        names: agg.names.take(),
    };
    let (flows, sampled) = pipe.take();
    Commit {
        packets,
        flows,
        sampled,
        ..Commit::default()
    }
}

/// The loop's reporting side.
struct Ctx<'a> {
    metrics: &'a Metrics,
    summary: &'a mut Summary,
    /// Edges held back by failed flushes (or in the flush under way).
    held_edges: usize,
}

impl Ctx<'_> {
    fn publish_packets(&self, agg: &PacketAggregator) {
        let m = self.metrics;
        let c = agg.counters();
        set(&m.frames, c.frames);
        set(&m.packets, c.ip_packets);
        set(&m.bytes, c.ip_bytes);
        set(&m.non_ip, c.non_ip.iter().sum());
        for (a, v) in m.malformed.iter().zip(c.malformed) {
            set(a, v);
        }
        let t = agg.table.counters();
        set(&m.flows_active, agg.table.active_flows() as u64);
        set(&m.flows_created, t.flows_created);
        set(&m.flows_evicted, t.flows_evicted);
        set(
            &m.edges_pending,
            (agg.table.pending_edges() + self.held_edges) as u64,
        );
    }

    fn publish_flows(&self, pipe: &Pipeline) {
        set(&self.metrics.flow_records, pipe.aggregator().records);
        set(
            &self.metrics.flow_malformed,
            pipe.decoder().malformed_total(),
        );
    }

    fn flushed(
        &mut self,
        done: FlushDone,
        store: &mut Option<Store>,
        held: &mut Commit,
        max_pending: usize,
    ) {
        let m = self.metrics;
        *store = done.store;
        let us = done.took.as_micros() as u64;
        set(&m.flush_last_us, us);
        add(&m.flush_total_us, us);
        if done.store_bytes > 0 {
            set(&m.store_bytes, done.store_bytes);
        }
        match done.result {
            Ok((sum, packets, pruned)) => {
                add(&m.flushes, 1);
                set(&m.flush_failing, 0);
                add(&m.edges_written, sum.added + sum.updated);
                add(&m.packets_flushed, packets);
                add(&m.retention_deleted, pruned);
                self.summary.flushes.0 += 1;
                self.held_edges = held.edges();
                self.summary.written.added += sum.added;
                self.summary.written.updated += sum.updated;
                tracing::debug!(
                    added = sum.added,
                    updated = sum.updated,
                    packets,
                    pruned,
                    seconds = done.took.as_secs_f64(),
                    "flushed"
                );
            }
            Err(e) => {
                add(&m.flush_errors, 1);
                add(&m.flush_failing, 1);
                self.summary.flushes.1 += 1;
                let mut p = done.pending;
                p.absorb(std::mem::take(held));
                p.compact();
                if p.edges() > max_pending {
                    add(&m.edges_dropped, p.edges() as u64);
                    tracing::error!(error = %e, dropped = p.edges(), max_pending_edges = max_pending,
                        "flush failed and the edges held back passed max_pending_edges: dropping them");
                } else {
                    tracing::error!(error = %e, held = p.edges(), "flush failed; keeping the edges in memory and retrying at the next flush");
                    *held = p;
                }
                self.held_edges = held.edges();
            }
        }
    }
}

/// SIGHUP: reads the file again and applies what can change live.
fn reload(
    path: &Path,
    cfg: &mut Config,
    sources: &mut Vec<Source>,
    ftx: &mpsc::Sender<FrameBatch>,
    metrics: &Arc<Metrics>,
    tick: &mut tokio::time::Interval,
) {
    let new = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            add(&metrics.reload_errors, 1);
            tracing::error!(error = %format!("{e:#}"), "reload refused; the running configuration stays");
            return;
        }
    };
    for key in cfg.restart_only_changes(&new) {
        tracing::warn!(
            key,
            "changed in the config file, but applies only after a restart; the running value stays"
        );
    }
    if new.flush_interval != cfg.flush_interval {
        tracing::info!(from = %humantime::format_duration(cfg.flush_interval), to = %humantime::format_duration(new.flush_interval), "flush_interval changed");
        cfg.flush_interval = new.flush_interval;
        *tick = tokio::time::interval_at(
            tokio::time::Instant::now() + new.flush_interval,
            new.flush_interval,
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        set(
            &metrics.flush_interval_ms,
            new.flush_interval.as_millis() as u64,
        );
    }
    if new.retention_days != cfg.retention_days {
        tracing::info!(days = ?new.retention_days, "retention changed");
        cfg.retention_days = new.retention_days;
    }
    if new.max_pending_edges != cfg.max_pending_edges {
        tracing::info!(value = new.max_pending_edges, "max_pending_edges changed");
        cfg.max_pending_edges = new.max_pending_edges;
    }
    // Interfaces: refilter, stop the removed, open the added. A reader
    // that stopped on an error (interface gone) is opened again.
    for s in sources.iter_mut() {
        if s.thread.as_ref().is_some_and(|t| t.is_finished()) {
            tracing::info!(interface = %s.config.interface, "capture had stopped: opening the interface again");
            s.stop.store(true, Ordering::Relaxed);
            continue;
        }
        match new
            .interfaces
            .iter()
            .find(|i| i.interface == s.config.interface)
        {
            Some(n) if n.filter != s.config.filter => {
                if let Ok(mut f) = s.new_filter.lock() {
                    *f = Some(n.filter.clone().unwrap_or_default());
                }
                s.config.filter = n.filter.clone();
            }
            Some(_) => {}
            None => {
                tracing::info!(interface = %s.config.interface, "interface removed from the config: capture stops");
                s.stop.store(true, Ordering::Relaxed);
            }
        }
    }
    sources.retain_mut(|s| {
        if s.stop.load(Ordering::Relaxed) {
            if let Some(t) = s.thread.take() {
                let _ = t.join();
            }
            s.stats.up.store(false, Ordering::Relaxed);
            false
        } else {
            true
        }
    });
    for n in &new.interfaces {
        if sources.iter().any(|s| s.config.interface == n.interface) {
            continue;
        }
        match open_capture(n).and_then(|cap| start_source(cap, n.clone(), ftx, metrics)) {
            Ok(s) => sources.push(s),
            Err(e) => tracing::error!(interface = %n.interface, error = %format!("{e:#}"),
                "cannot open the interface added by the reload (with `user` set, reload_interfaces = true keeps CAP_NET_RAW for this); it is not captured"),
        }
    }
    cfg.interfaces = sources.iter().map(|s| s.config.clone()).collect();
    add(&metrics.reloads, 1);
    tracing::info!(path = %path.display(), "configuration reloaded");
}
