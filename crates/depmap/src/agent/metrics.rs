//! The agent's counters and their Prometheus text exposition, served by a
//! minimal HTTP server on the agent's runtime: `GET /metrics` and
//! `GET /healthz`, nothing else.
//!
//! The server reads at most [`MAX_REQUEST`] bytes of a request, waits at
//! most [`REQUEST_TIMEOUT`] for them, serves at most [`MAX_CONNECTIONS`]
//! connections at once, and closes every connection after one answer: a
//! scraper that misbehaves costs a few kilobytes and one task. A hand-written
//! server rather than hyper: two fixed paths do not justify a web stack in a
//! daemon that runs with network capabilities.
//!
//! Every counter is written by the aggregation loop (one writer) and read by
//! the server: relaxed atomics, no lock on the packet path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use depmap_capture::LiveStats;
use depmap_ingest::{Snapshot, SourceStats, WatchCounts};
use depmap_wire::Malformed;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest request read.
pub(crate) const MAX_REQUEST: usize = 8 << 10;
/// How long a client may take to send its request.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the kernel's backlog.
pub(crate) const MAX_CONNECTIONS: usize = 16;

/// Everything the agent counts.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Frames decoded.
    pub(crate) frames: AtomicU64,
    /// IP packets.
    pub(crate) packets: AtomicU64,
    /// IP bytes.
    pub(crate) bytes: AtomicU64,
    /// Frames that were not IP.
    pub(crate) non_ip: AtomicU64,
    /// Malformed frames by reason.
    pub(crate) malformed: [AtomicU64; Malformed::ALL.len()],
    /// Flows in the table.
    pub(crate) flows_active: AtomicU64,
    /// Flows created.
    pub(crate) flows_created: AtomicU64,
    /// Flows finished early at `max_flows`.
    pub(crate) flows_evicted: AtomicU64,
    /// Flow records aggregated.
    pub(crate) flow_records: AtomicU64,
    /// Malformed flow-export datagrams.
    pub(crate) flow_malformed: AtomicU64,
    /// Edges waiting for the next flush (in the table and held back).
    pub(crate) edges_pending: AtomicU64,
    /// Edges written (added or updated) by successful flushes.
    pub(crate) edges_written: AtomicU64,
    /// Edges dropped because the store failed past `max_pending_edges`.
    pub(crate) edges_dropped: AtomicU64,
    /// Packets whose figures successful flushes committed.
    pub(crate) packets_flushed: AtomicU64,
    /// Successful flushes.
    pub(crate) flushes: AtomicU64,
    /// Flushes started before the interval because of `max_pending_edges`.
    pub(crate) flushes_early: AtomicU64,
    /// Failed flushes.
    pub(crate) flush_errors: AtomicU64,
    /// Failed flushes in a row (0 when the last one worked).
    pub(crate) flush_failing: AtomicU64,
    /// Duration of the last flush in microseconds.
    pub(crate) flush_last_us: AtomicU64,
    /// Total flush time in microseconds.
    pub(crate) flush_total_us: AtomicU64,
    /// Store file size (database plus WAL).
    pub(crate) store_bytes: AtomicU64,
    /// Activity rows deleted by retention.
    pub(crate) retention_deleted: AtomicU64,
    /// Capture files from watched directories ingested.
    pub(crate) files_ingested: AtomicU64,
    /// Capture files skipped as already ingested.
    pub(crate) files_repeated: AtomicU64,
    /// Capture files that failed (not captures, or the store failed).
    pub(crate) files_failed: AtomicU64,
    /// Configuration reloads applied.
    pub(crate) reloads: AtomicU64,
    /// Reloads refused (bad file).
    pub(crate) reload_errors: AtomicU64,
    /// The flush interval in force, in milliseconds.
    pub(crate) flush_interval_ms: AtomicU64,
    /// Open metrics connections.
    pub(crate) connections: AtomicUsize,
    /// Interfaces (those a reload removed stay, down).
    pub(crate) interfaces: Mutex<Vec<SourceStats>>,
    /// Flow listeners.
    pub(crate) listeners: Mutex<Vec<SourceStats>>,
}

/// The one place the engine's counters reach the atomics served at
/// `/metrics`: called by the driver with every [`Snapshot`].
pub(crate) fn publish(m: &Metrics, s: &Snapshot) {
    let p = &s.packets;
    set(&m.frames, p.frames);
    set(&m.packets, p.ip_packets);
    set(&m.bytes, p.ip_bytes);
    set(&m.non_ip, p.non_ip.iter().sum());
    for (a, v) in m.malformed.iter().zip(p.malformed) {
        set(a, v);
    }
    set(&m.flows_active, s.flows_active);
    set(&m.flows_created, s.flow_table.flows_created);
    set(&m.flows_evicted, s.flow_table.flows_evicted);
    set(&m.flow_records, s.records.records);
    set(&m.flow_malformed, s.decoder.malformed_total());
    set(&m.edges_pending, s.edges_pending);
    let f = &s.flush;
    set(&m.edges_written, f.added + f.updated);
    set(&m.edges_dropped, f.edges_dropped);
    set(&m.packets_flushed, f.packets_flushed);
    set(&m.flushes, f.flushes);
    set(&m.flushes_early, f.early);
    set(&m.flush_errors, f.errors);
    set(&m.flush_failing, f.failing);
    set(&m.flush_last_us, f.last_duration.as_micros() as u64);
    set(&m.flush_total_us, f.total_duration.as_micros() as u64);
    set(&m.store_bytes, f.store_bytes);
    set(&m.retention_deleted, f.retention_deleted);
    set(&m.flush_interval_ms, s.flush_interval.as_millis() as u64);
    set(&m.reloads, s.reloads);
    let mut files = WatchCounts::default();
    let mut listeners = Vec::new();
    let mut now: Vec<SourceStats> = Vec::new();
    for src in &s.sources {
        match src {
            SourceStats::Interface { .. } => now.push(src.clone()),
            SourceStats::Listener { .. } => listeners.push(src.clone()),
            SourceStats::Watch { files: w, .. } => {
                files.ingested += w.ingested;
                files.repeated += w.repeated;
                files.failed += w.failed;
            }
        }
    }
    set(&m.files_ingested, files.ingested);
    set(&m.files_repeated, files.repeated);
    set(&m.files_failed, files.failed);
    if let Ok(mut l) = m.listeners.lock() {
        *l = listeners;
    }
    if let Ok(mut ifs) = m.interfaces.lock() {
        let name = |s: &SourceStats| match s {
            SourceStats::Interface { name, .. } => name.clone(),
            _ => String::new(),
        };
        for old in ifs.iter_mut() {
            if let SourceStats::Interface { name: n, up, .. } = old {
                if !now.iter().any(|s| name(s) == *n) {
                    *up = false;
                }
            }
        }
        for s in now {
            match ifs.iter_mut().find(|o| name(o) == name(&s)) {
                Some(o) => *o = s,
                None => ifs.push(s),
            }
        }
    }
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Sets a counter or gauge (one writer).
pub(crate) fn set(a: &AtomicU64, v: u64) {
    a.store(v, Ordering::Relaxed);
}

/// Adds to a counter.
pub(crate) fn add(a: &AtomicU64, v: u64) {
    a.fetch_add(v, Ordering::Relaxed);
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP depmap_{name} {help}");
        let _ = writeln!(self.0, "# TYPE depmap_{name} {kind}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, v: impl std::fmt::Display) {
        self.head(name, kind, help);
        let _ = writeln!(self.0, "depmap_{name} {v}");
    }
}

/// An interface's name, counters and state.
fn interface(s: &SourceStats) -> Option<(&str, LiveStats, bool)> {
    match s {
        SourceStats::Interface { name, live, up } => Some((name.as_str(), *live, *up)),
        _ => None,
    }
}

/// Label values escaped as the text format wants.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// The Prometheus text exposition (format 0.0.4).
    pub(crate) fn render(&self) -> String {
        let mut o = Out(String::with_capacity(4096));
        o.one(
            "frames_total",
            "counter",
            "Frames captured and decoded.",
            get(&self.frames),
        );
        o.one(
            "packets_total",
            "counter",
            "IP packets seen.",
            get(&self.packets),
        );
        o.one(
            "bytes_total",
            "counter",
            "IP-layer bytes seen.",
            get(&self.bytes),
        );
        o.one(
            "non_ip_frames_total",
            "counter",
            "Frames that were not IP (skipped).",
            get(&self.non_ip),
        );
        o.head(
            "malformed_total",
            "counter",
            "Malformed frames skipped, by reason.",
        );
        for m in Malformed::ALL {
            let _ = writeln!(
                o.0,
                "depmap_malformed_total{{reason=\"{}\"}} {}",
                m.name(),
                get(&self.malformed[m.index()])
            );
        }
        {
            let ifs = self
                .interfaces
                .lock()
                .map(|v| v.clone())
                .unwrap_or_default();
            o.head(
                "capture_frames_total",
                "counter",
                "Frames captured, by interface.",
            );
            for (n, s, _) in ifs.iter().filter_map(interface) {
                let _ = writeln!(
                    o.0,
                    "depmap_capture_frames_total{{interface=\"{}\"}} {}",
                    esc(n),
                    s.frames
                );
            }
            o.head("capture_drops_total", "counter", "Packets lost before depmap saw them: kernel = capture buffer full, interface = NIC or driver.");
            for (n, s, _) in ifs.iter().filter_map(interface) {
                let _ = writeln!(
                    o.0,
                    "depmap_capture_drops_total{{interface=\"{}\",where=\"kernel\"}} {}",
                    esc(n),
                    s.kernel_drops
                );
                let _ = writeln!(
                    o.0,
                    "depmap_capture_drops_total{{interface=\"{}\",where=\"interface\"}} {}",
                    esc(n),
                    s.interface_drops
                );
            }
            o.head(
                "capture_up",
                "gauge",
                "1 while the interface's capture runs.",
            );
            for (n, _, up) in ifs.iter().filter_map(interface) {
                let _ = writeln!(
                    o.0,
                    "depmap_capture_up{{interface=\"{}\"}} {}",
                    esc(n),
                    u8::from(up)
                );
            }
        }
        {
            let ls = self.listeners.lock();
            o.head(
                "listener_datagrams_total",
                "counter",
                "Flow-export datagrams received, by listener.",
            );
            if let Ok(ls) = &ls {
                for l in ls.iter() {
                    if let SourceStats::Listener {
                        addr, datagrams, ..
                    } = l
                    {
                        let _ = writeln!(
                            o.0,
                            "depmap_listener_datagrams_total{{listen=\"{addr}\"}} {datagrams}"
                        );
                    }
                }
                o.head("listener_drops_total", "counter", "Datagrams dropped: kernel = socket buffer full, denied = exporter not allowed.");
                for l in ls.iter() {
                    let SourceStats::Listener {
                        addr,
                        denied,
                        kernel_drops,
                        ..
                    } = l
                    else {
                        continue;
                    };
                    if let Some(d) = kernel_drops {
                        let _ = writeln!(
                            o.0,
                            "depmap_listener_drops_total{{listen=\"{addr}\",where=\"kernel\"}} {d}"
                        );
                    }
                    let _ = writeln!(
                        o.0,
                        "depmap_listener_drops_total{{listen=\"{addr}\",where=\"denied\"}} {denied}"
                    );
                }
            }
        }
        o.one(
            "flow_records_total",
            "counter",
            "Flow-export records aggregated.",
            get(&self.flow_records),
        );
        o.one(
            "flow_malformed_total",
            "counter",
            "Malformed flow-export datagrams skipped.",
            get(&self.flow_malformed),
        );
        o.one(
            "flows",
            "gauge",
            "Flows in the flow table.",
            get(&self.flows_active),
        );
        o.one(
            "flows_created_total",
            "counter",
            "Flows created.",
            get(&self.flows_created),
        );
        o.one(
            "flows_evicted_total",
            "counter",
            "Flows finished early because the table reached max_flows.",
            get(&self.flows_evicted),
        );
        o.one(
            "edges_pending",
            "gauge",
            "Edges waiting for the next flush.",
            get(&self.edges_pending),
        );
        o.one(
            "edges_written_total",
            "counter",
            "Edges written (added or updated) by flushes.",
            get(&self.edges_written),
        );
        o.one(
            "edges_dropped_total",
            "counter",
            "Edges dropped because the store failed for longer than max_pending_edges allows.",
            get(&self.edges_dropped),
        );
        o.one(
            "packets_flushed_total",
            "counter",
            "Packets whose figures flushes committed to the store.",
            get(&self.packets_flushed),
        );
        o.one(
            "flushes_total",
            "counter",
            "Successful flushes.",
            get(&self.flushes),
        );
        o.one(
            "flushes_early_total",
            "counter",
            "Flushes started early because max_pending_edges was reached.",
            get(&self.flushes_early),
        );
        o.one(
            "flush_errors_total",
            "counter",
            "Failed flushes (the edges are kept and retried).",
            get(&self.flush_errors),
        );
        o.one(
            "flush_last_duration_seconds",
            "gauge",
            "Duration of the last flush.",
            get(&self.flush_last_us) as f64 / 1e6,
        );
        o.one(
            "flush_duration_seconds_total",
            "counter",
            "Time spent flushing.",
            get(&self.flush_total_us) as f64 / 1e6,
        );
        o.one(
            "flush_interval_seconds",
            "gauge",
            "The flush interval in force.",
            get(&self.flush_interval_ms) as f64 / 1e3,
        );
        o.one(
            "store_size_bytes",
            "gauge",
            "Size of the store (database and WAL files).",
            get(&self.store_bytes),
        );
        o.one(
            "retention_deleted_total",
            "counter",
            "Per-day activity rows deleted by retention.",
            get(&self.retention_deleted),
        );
        o.head(
            "watch_files_total",
            "counter",
            "Capture files from watched directories, by result.",
        );
        for (r, a) in [
            ("ingested", &self.files_ingested),
            ("repeat", &self.files_repeated),
            ("failed", &self.files_failed),
        ] {
            let _ = writeln!(o.0, "depmap_watch_files_total{{result=\"{r}\"}} {}", get(a));
        }
        o.one(
            "reloads_total",
            "counter",
            "Configuration reloads applied (SIGHUP).",
            get(&self.reloads),
        );
        o.one(
            "reload_errors_total",
            "counter",
            "Configuration reloads refused.",
            get(&self.reload_errors),
        );
        o.0
    }

    /// `/healthz`: 200 while flushes work, 503 after three failures in a row.
    fn health(&self) -> (u16, String) {
        let failing = get(&self.flush_failing);
        if failing >= 3 {
            (503, format!("store failing: {failing} flushes in a row\n"))
        } else {
            (200, "ok\n".to_string())
        }
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until the task is dropped.
pub(crate) async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if metrics.connections.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            drop(conn);
            continue;
        }
        metrics.connections.fetch_add(1, Ordering::Relaxed);
        let m = Arc::clone(&metrics);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(conn, &m)).await;
            m.connections.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn answer(mut conn: tokio::net::TcpStream, m: &Metrics) -> std::io::Result<()> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut got = 0;
    let ok = loop {
        let n = conn.read(&mut buf[got..]).await?;
        if n == 0 {
            break false;
        }
        got += n;
        if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
            break true;
        }
        if got == buf.len() {
            break false;
        }
    };
    let line = buf[..got]
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = if !ok {
        (400, "text/plain", "bad request\n".to_string())
    } else if method != "GET" && method != "HEAD" {
        (405, "text/plain", "only GET\n".to_string())
    } else {
        match path {
            "/metrics" => (200, "text/plain; version=0.0.4; charset=utf-8", m.render()),
            "/healthz" => {
                let (s, b) = m.health();
                (s, "text/plain", b)
            }
            _ => (
                404,
                "text/plain",
                "not found; try /metrics or /healthz\n".to_string(),
            ),
        }
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    if method != "HEAD" {
        conn.write_all(body.as_bytes()).await?;
    }
    conn.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_every_family_once() {
        let m = Metrics::default();
        add(&m.packets, 3);
        m.interfaces
            .lock()
            .map(|mut v| {
                v.push(SourceStats::Interface {
                    name: "lo".into(),
                    live: LiveStats::default(),
                    up: true,
                })
            })
            .ok();
        let text = m.render();
        assert!(text.contains("depmap_packets_total 3\n"), "{text}");
        assert!(text.contains("depmap_capture_drops_total{interface=\"lo\",where=\"kernel\"} 0"));
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let name = line.split(' ').nth(2).unwrap_or("");
            assert_eq!(
                text.matches(&format!("# TYPE {name} ")).count(),
                1,
                "{name}"
            );
        }
    }
}
