//! `/metrics` and `/healthz`, served by a minimal HTTP server on the
//! agent's runtime, nothing else.
//!
//! `/metrics` is the engine's latest [`Snapshot`] encoded by
//! [`Snapshot::encode`] (every library counter struct writes itself, through
//! prometheus-client), plus the one counter the process keeps itself
//! (refused reloads). The driver hands over a snapshot every 250 ms and
//! after each flush; nothing is copied field by field.
//!
//! The server reads at most [`MAX_REQUEST`] bytes of a request, waits at
//! most [`REQUEST_TIMEOUT`] for them, serves at most [`MAX_CONNECTIONS`]
//! connections at once, and closes every connection after one answer: a
//! scraper that misbehaves costs a few kilobytes and one task. A hand-written
//! server rather than hyper: two fixed paths do not justify a web stack in a
//! daemon that runs with network capabilities.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use depmap_ingest::Snapshot;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest request read.
pub(crate) const MAX_REQUEST: usize = 8 << 10;
/// How long a client may take to send its request.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the kernel's backlog.
pub(crate) const MAX_CONNECTIONS: usize = 16;

/// What `/metrics` and `/healthz` answer from.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// The engine's latest snapshot; interfaces a reload removed stay in
    /// it, down.
    latest: Mutex<Snapshot>,
    /// Reloads refused (a config file that does not validate).
    reload_errors: AtomicU64,
    /// Open metrics connections.
    connections: AtomicUsize,
}

impl Metrics {
    /// Takes the engine's latest snapshot (called by the driver).
    pub(crate) fn publish(&self, s: &Snapshot) {
        if let Ok(mut latest) = self.latest.lock() {
            *latest = latest.followed_by(s);
        }
    }

    /// Counts a refused reload.
    pub(crate) fn reload_refused(&self) {
        self.reload_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Snapshot {
        self.latest.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// `/healthz`: 200 while flushes work, 503 when [`Snapshot::health`]
    /// says the store keeps failing.
    fn health(&self) -> (u16, String) {
        match self.snapshot().health() {
            Ok(()) => (200, "ok\n".to_string()),
            Err(why) => (503, format!("{why}\n")),
        }
    }
}

impl Collector for Metrics {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        self.snapshot().encode(&mut e)?;
        let refused = self.reload_errors.load(Ordering::Relaxed);
        let m = e.encode_descriptor(
            "depmap_reload_errors",
            "Configuration reloads refused.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(refused).encode(m)
    }
}

/// The Prometheus text exposition (format 0.0.4) of `registry`.
fn render(registry: &Registry) -> String {
    let mut text = String::with_capacity(16 << 10);
    // Writing to a String cannot fail, and no encoder here fails on its
    // own; an error would leave the text empty (prometheus-client writes
    // it only once every family is encoded).
    let _ = prometheus_text::encode(&mut text, registry);
    text
}

/// The registry `/metrics` encodes: `metrics`, nothing else.
fn registry(metrics: &Arc<Metrics>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Arc::clone(metrics)));
    registry
}

/// Serves `/metrics` and `/healthz` on `listener` until the task is dropped.
pub(crate) async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    let registry = Arc::new(registry(&metrics));
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
        let r = Arc::clone(&registry);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(conn, &m, &r)).await;
            m.connections.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn answer(
    mut conn: tokio::net::TcpStream,
    m: &Metrics,
    registry: &Registry,
) -> std::io::Result<()> {
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
            "/metrics" => (200, prometheus_text::CONTENT_TYPE, render(registry)),
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
    use depmap_capture::{ListenerCounts, LiveStats};
    use depmap_ingest::{SourceStats, WatchCounts};

    /// A snapshot with one source of each kind, so every family has a
    /// series and shows its labels.
    fn with_sources() -> Snapshot {
        Snapshot {
            sources: vec![
                SourceStats::Interface {
                    name: "lo".into(),
                    live: LiveStats::default(),
                    up: true,
                },
                SourceStats::Listener {
                    addr: "127.0.0.1:2055".parse().unwrap(),
                    counts: ListenerCounts {
                        kernel_drops: Some(0),
                        ..ListenerCounts::default()
                    },
                },
                SourceStats::Watch {
                    directory: "/var/spool/depmap".into(),
                    files: WatchCounts::default(),
                },
            ],
            ..Snapshot::default()
        }
    }

    fn metrics_text(m: Metrics) -> String {
        render(&registry(&Arc::new(m)))
    }

    #[test]
    fn render_has_every_family_once() {
        let m = Metrics::default();
        let mut s = with_sources();
        s.packets.ip_packets = 3;
        m.publish(&s);
        m.reload_refused();
        let text = metrics_text(m);
        assert!(text.contains("depmap_packets_total 3\n"), "{text}");
        assert!(text.contains("depmap_capture_drops_total{interface=\"lo\",where=\"kernel\"} 0"));
        assert!(text.contains("\ndepmap_reload_errors_total 1\n"));
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let name = line.split(' ').nth(2).unwrap_or("");
            assert_eq!(
                text.matches(&format!("# TYPE {name} ")).count(),
                1,
                "{name}"
            );
        }
    }

    #[test]
    fn an_interface_a_reload_removed_stays_down_and_health_follows_flushes() {
        let m = Metrics::default();
        m.publish(&with_sources());
        m.publish(&Snapshot::default());
        assert_eq!(m.health().0, 200);
        let text = metrics_text(m);
        assert!(
            text.contains("depmap_capture_up{interface=\"lo\"} 0\n"),
            "{text}"
        );
    }
    /// `docs/AGENT.md` lists exactly the metrics `/metrics` serves: its
    /// table is written from the text (`DEPMAP_UPDATE_DOCS=1` rewrites
    /// it), and every `depmap_*` name it mentions elsewhere is served.
    #[test]
    fn docs_list_every_metric() {
        let m = Metrics::default();
        m.publish(&with_sources());
        depmap_testdata::counters::check_metrics_doc(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/AGENT.md"),
            &metrics_text(m),
            "DEPMAP_UPDATE_DOCS=1 cargo test -p depmap docs_list_every_metric",
        );
    }
}
