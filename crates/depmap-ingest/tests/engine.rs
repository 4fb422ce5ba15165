//! The driver and its engine in-process, on tokio's paused clock: flush
//! interval, hold-back while the store fails, the `max_pending_edges`
//! bound, and the flush at shutdown. Time moves only when every task
//! waits, so each assertion sees an exact number of flush intervals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use depmap_capture::FrameBatch;
use depmap_edges::FlowConfig;
use depmap_ingest::{
    Clock, Control, Driver, RunningClock, Settings, Sink, Snapshot, Source, SourceStats, Summary,
};
use depmap_store::{MapStore, Store};
use tokio::sync::mpsc;

/// LINKTYPE_RAW: frames are bare IPv4 packets.
const RAW: u32 = 101;
/// 2026-11-21T10:00:00Z, the paused clock's start.
const START_NS: i64 = 1_795_255_200_000_000_000;

/// A TCP SYN from `client:40000` to `server:port` (an IPv4 packet).
fn syn(client: Ipv4Addr, server: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0];
    p.extend_from_slice(&client.octets());
    p.extend_from_slice(&server.octets());
    p.extend_from_slice(&40_000u16.to_be_bytes());
    p.extend_from_slice(&port.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    p
}

/// A batch of SYNs from 10.1.0.1 to 10.2.0.1 on `ports`, stamped `ts`.
fn batch(ports: std::ops::Range<u16>, ts: i64) -> FrameBatch {
    let mut b = FrameBatch::new();
    for port in ports {
        let p = syn(Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 2, 0, 1), port);
        b.push(RAW, ts, &p, p.len() as u32);
    }
    b
}

/// A source that plays a script: after each wait, one batch of SYNs to
/// the given ports, stamped with the clock's time.
struct Script {
    steps: Vec<(Duration, std::ops::Range<u16>)>,
    clock: Arc<dyn Clock>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Source for Script {
    fn start(&mut self, sink: Sink) -> std::io::Result<()> {
        let (steps, clock, tx) = (self.steps.clone(), Arc::clone(&self.clock), sink.frames());
        self.task = Some(tokio::spawn(async move {
            for (wait, ports) in steps {
                tokio::time::sleep(wait).await;
                if tx.send(batch(ports, clock.now_ns())).await.is_err() {
                    return;
                }
            }
        }));
        Ok(())
    }

    fn is_finished(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.is_finished())
    }

    fn join(&mut self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        let t = self.task.take();
        Box::pin(async move {
            if let Some(t) = t {
                t.abort();
                let _ = t.await;
            }
        })
    }

    fn stats(&self) -> SourceStats {
        SourceStats::Watch {
            directory: PathBuf::from("script"),
            files: Default::default(),
        }
    }
}

/// A running driver: its control channel, the latest snapshot, its task.
struct Running {
    controls: mpsc::Sender<Control>,
    latest: Arc<Mutex<Snapshot>>,
    task: tokio::task::JoinHandle<std::io::Result<Summary>>,
}

impl Running {
    fn start(
        store: &Path,
        flush: Duration,
        max_pending: usize,
        max_flows: usize,
        steps: Vec<(Duration, std::ops::Range<u16>)>,
    ) -> Running {
        let clock: Arc<dyn Clock> = Arc::new(RunningClock::starting_at(START_NS));
        let settings = Settings {
            flush_interval: flush,
            max_pending_edges: max_pending,
            retention_days: None,
        };
        let flow = FlowConfig {
            max_flows,
            ..FlowConfig::default()
        };
        let mut d = Driver::new(
            flow,
            settings,
            Arc::clone(&clock),
            None,
            store.to_path_buf(),
        );
        d.source(Box::new(Script {
            steps,
            clock,
            task: None,
        }));
        let (controls, rx) = mpsc::channel(4);
        let latest = Arc::new(Mutex::new(Snapshot::default()));
        let l = Arc::clone(&latest);
        let task = tokio::spawn(d.run(rx, move |s| *l.lock().unwrap() = s.clone()));
        Running {
            controls,
            latest,
            task,
        }
    }

    fn now(&self) -> Snapshot {
        self.latest.lock().unwrap().clone()
    }

    async fn stop(self) -> Summary {
        self.controls.send(Control::Stop).await.unwrap();
        self.task.await.unwrap().unwrap()
    }
}

fn stored_packets(db: &Path) -> u64 {
    let s = Store::open_existing(db).unwrap();
    s.edges().unwrap().iter().map(|(_, st)| st.packets()).sum()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A flush every interval, none in between; each one commits what was
/// seen (open flows folded in), and the store ends with every packet.
#[tokio::test(start_paused = true)]
async fn flushes_once_per_interval_and_stores_every_packet() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("interval.db");
    // 5 SYNs at 10 s, 5 more at 40 s, 5 more at 70 s.
    let steps = vec![(secs(10), 1..6), (secs(30), 6..11), (secs(30), 11..16)];
    let r = Running::start(&db, secs(30), 1_000_000, 1_000_000, steps);
    tokio::time::sleep(secs(29)).await;
    assert_eq!(r.now().flush.flushes, 0, "no flush before the interval");
    assert_eq!(r.now().packets.ip_packets, 5);
    tokio::time::sleep(secs(2)).await;
    let s = r.now();
    assert_eq!(s.flush.flushes, 1, "one flush at 30 s");
    assert_eq!(s.flush.packets_flushed, 5);
    assert_eq!(s.flush.added, 5);
    assert_eq!(stored_packets(&db), 5);
    tokio::time::sleep(secs(60)).await;
    let s = r.now();
    assert_eq!(s.flush.flushes, 3, "flushes at 30, 60 and 90 s");
    assert_eq!(s.flush.early, 0);
    assert_eq!(s.flush.errors, 0);
    assert_eq!(s.flush.packets_flushed, 15);
    assert_eq!(s.flush_interval, secs(30));
    let summary = r.stop().await;
    assert_eq!(summary.lost_edges, 0);
    // Nothing new since the last flush: no empty transaction at shutdown.
    assert_eq!(summary.snapshot.flush.flushes, 3);
    assert_eq!(stored_packets(&db), 15);
    assert_eq!(Store::open_existing(&db).unwrap().edge_count().unwrap(), 15);
}

/// While the store cannot be written, every flush fails and is counted,
/// the edges are held back and merged, and the first flush that works
/// writes them all in one transaction.
#[tokio::test(start_paused = true)]
async fn a_failing_store_holds_edges_back_and_writes_them_later() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-yet");
    let db = missing.join("held.db");
    let steps = vec![(secs(5), 1..4), (secs(30), 4..7), (secs(30), 1..4)];
    let r = Running::start(&db, secs(30), 1_000_000, 1_000_000, steps);
    tokio::time::sleep(secs(91)).await;
    let s = r.now();
    assert_eq!(s.flush.flushes, 0);
    assert_eq!(s.flush.errors, 3, "flushes at 30, 60, 90 s all failed");
    assert_eq!(s.flush.failing, 3);
    // Six distinct edges held (the third batch repeats the first three).
    assert_eq!(s.edges_pending, 6);
    assert_eq!(s.flush.edges_dropped, 0);
    std::fs::create_dir(&missing).unwrap();
    tokio::time::sleep(secs(30)).await;
    let s = r.now();
    assert_eq!(s.flush.flushes, 1);
    assert_eq!(s.flush.failing, 0);
    assert_eq!(s.flush.added, 6, "held edges merged: one row each");
    assert_eq!(s.flush.packets_flushed, 9);
    assert_eq!(s.edges_pending, 0);
    assert!(s.flush.store_bytes > 0);
    let summary = r.stop().await;
    assert_eq!(summary.lost_edges, 0);
    assert_eq!(stored_packets(&db), 9);
}

/// Reaching `max_pending_edges` starts a flush before the interval; while
/// the store fails, held edges past the bound are dropped and counted, and
/// the agent goes on counting.
#[tokio::test(start_paused = true)]
async fn max_pending_edges_flushes_early_and_bounds_what_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("early.db");
    // One flow tracked at a time: each new SYN finishes the previous flow
    // into its edge, so edges pend at once. An hour-long interval: any
    // flush here is an early one.
    let steps = vec![(secs(1), 1..11)];
    let r = Running::start(&db, secs(3600), 5, 1, steps);
    tokio::time::sleep(secs(10)).await;
    let s = r.now();
    assert_eq!(s.flush.early, 1);
    assert_eq!(s.flush.flushes, 1);
    assert!(s.flush.packets_flushed >= 5, "{:?}", s.flush);
    let summary = r.stop().await;
    assert_eq!(summary.lost_edges, 0);
    assert_eq!(stored_packets(&db), 10);

    let missing = dir.path().join("missing").join("bound.db");
    let steps = vec![(secs(1), 1..11), (secs(1), 11..21), (secs(1), 21..31)];
    let r = Running::start(&missing, secs(3600), 5, 1, steps);
    tokio::time::sleep(secs(10)).await;
    let s = r.now();
    // Each batch finishes ten flows into ten edges: past the bound of 5, a
    // flush starts at once, fails, and its ten edges are dropped.
    assert_eq!(s.flush.early, 3, "{:?}", s.flush);
    assert_eq!(s.flush.errors, 3);
    assert_eq!(s.flush.edges_dropped, 30);
    assert_eq!(s.edges_pending, 0);
    assert_eq!(s.packets.ip_packets, 30, "counting goes on");
    let summary = r.stop().await;
    // The open flow's figures went with the last early flush: nothing is
    // left to lose.
    assert_eq!(summary.lost_edges, 0, "{summary:?}");
}

/// Stop: the last batches, the open flows and what failed flushes held
/// back are written in one last flush, never dropped at the bound.
#[tokio::test(start_paused = true)]
async fn stop_flushes_everything_once_more() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stop.db");
    let steps = vec![(secs(1), 1..4), (secs(1), 4..8)];
    let r = Running::start(&db, secs(3600), 1_000_000, 1_000_000, steps);
    tokio::time::sleep(secs(5)).await;
    assert_eq!(r.now().flush.flushes, 0);
    assert_eq!(r.now().flows_active, 7);
    let summary = r.stop().await;
    let s = &summary.snapshot;
    assert_eq!(s.flush.flushes, 1);
    assert_eq!(s.flush.packets_flushed, 7);
    assert_eq!(s.flush_interval, secs(3600));
    assert_eq!(summary.lost_edges, 0);
    assert_eq!(stored_packets(&db), 7);

    // The store never works: the last flush fails and the edges are lost
    // (reported, not dropped silently), however many there are.
    let db = dir.path().join("nowhere").join("stop.db");
    let steps = vec![(secs(1), 1..8)];
    let r = Running::start(&db, secs(3600), 3, 1_000_000, steps);
    tokio::time::sleep(secs(5)).await;
    let summary = r.stop().await;
    assert_eq!(summary.lost_edges, 7);
    assert_eq!(summary.snapshot.flush.edges_dropped, 0);
}

/// A reload changes the interval live: the next flush comes one new
/// interval after it.
#[tokio::test(start_paused = true)]
async fn a_reload_applies_the_new_interval() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("reload.db");
    let steps = vec![(secs(1), 1..2), (secs(20), 2..3)];
    let r = Running::start(&db, secs(3600), 1_000_000, 1_000_000, steps);
    tokio::time::sleep(secs(10)).await;
    let settings = Settings {
        flush_interval: secs(5),
        max_pending_edges: 1_000_000,
        retention_days: None,
    };
    r.controls
        .send(Control::Reload {
            settings,
            interfaces: Vec::new(),
        })
        .await
        .unwrap();
    tokio::time::sleep(secs(1)).await;
    assert_eq!(r.now().reloads, 1);
    assert_eq!(r.now().flush_interval, secs(5));
    assert_eq!(r.now().flush.flushes, 0);
    tokio::time::sleep(secs(5)).await;
    assert_eq!(r.now().flush.flushes, 1, "flushed 5 s after the reload");
    tokio::time::sleep(secs(10)).await;
    assert_eq!(r.now().flush.flushes, 2, "the 21 s packet, at 25 s");
    r.stop().await;
    assert_eq!(stored_packets(&db), 2);
}
