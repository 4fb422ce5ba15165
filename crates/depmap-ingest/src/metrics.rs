//! A [`Snapshot`] in the Prometheus text format. Every library counter
//! struct it holds writes itself (`PacketCounters::encode`,
//! `FlowCounters::encode`, `NameCounters::encode`,
//! `DecoderCounters::encode`, `RecordCounters::encode`,
//! `LiveStats::encode_interfaces`, `ListenerCounts::encode_listeners`);
//! the engine's own figures (flushes and the store, watched directories,
//! gauges of what is held now) are written here. Nothing is copied field by
//! field on the way to `/metrics`.

use std::fmt;

use depmap_capture::{ListenerCounts, LiveStats};
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::{FlushCounters, Snapshot, SourceStats, WatchCounts};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Interface {
    interface: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FileResult {
    result: &'static str,
}

fn counter(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: impl EncodeCounterValue,
) -> fmt::Result {
    ConstCounter::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: impl EncodeGaugeValue,
) -> fmt::Result {
    ConstGauge::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

impl FlushCounters {
    /// Writes every flush and store figure.
    pub fn encode(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        counter(
            e,
            "depmap_edges_written",
            "Edges written (added or updated) by flushes.",
            self.added + self.updated,
        )?;
        counter(
            e,
            "depmap_edges_added",
            "Edges flushes added to the store.",
            self.added,
        )?;
        counter(
            e,
            "depmap_edges_updated",
            "Edges flushes updated in the store.",
            self.updated,
        )?;
        counter(
            e,
            "depmap_edges_dropped",
            "Edges dropped because the store failed for longer than max_pending_edges allows.",
            self.edges_dropped,
        )?;
        counter(
            e,
            "depmap_packets_flushed",
            "Packets whose figures flushes committed to the store.",
            self.packets_flushed,
        )?;
        counter(e, "depmap_flushes", "Successful flushes.", self.flushes)?;
        counter(
            e,
            "depmap_flushes_early",
            "Flushes started early because max_pending_edges was reached.",
            self.early,
        )?;
        counter(
            e,
            "depmap_flush_errors",
            "Failed flushes (the edges are kept and retried).",
            self.errors,
        )?;
        gauge(
            e,
            "depmap_flush_failing",
            "Failed flushes in a row (0 once one works; /healthz fails from 3).",
            self.failing,
        )?;
        gauge(
            e,
            "depmap_flush_last_duration_seconds",
            "Duration of the last flush.",
            self.last_duration.as_secs_f64(),
        )?;
        counter(
            e,
            "depmap_flush_duration_seconds",
            "Time spent flushing.",
            self.total_duration.as_secs_f64(),
        )?;
        gauge(
            e,
            "depmap_store_size_bytes",
            "Size of the store (database and WAL files).",
            self.store_bytes,
        )?;
        counter(
            e,
            "depmap_retention_deleted",
            "Per-day activity rows deleted by retention.",
            self.retention_deleted,
        )
    }
}

impl WatchCounts {
    /// Writes the files of watched directories by `result` (`ingested`,
    /// `repeat`, `failed`).
    pub fn encode(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let mut m = e.encode_descriptor(
            "depmap_watch_files",
            "Capture files from watched directories, by result.",
            None,
            MetricType::Counter,
        )?;
        for (result, n) in [
            ("ingested", self.ingested),
            ("repeat", self.repeated),
            ("failed", self.failed),
        ] {
            ConstCounter::new(n).encode(m.encode_family(&FileResult { result })?)?;
        }
        Ok(())
    }
}

/// Failed flushes in a row after which the agent reports itself unhealthy.
pub const UNHEALTHY_AFTER_FAILURES: u64 = 3;

impl Snapshot {
    /// The snapshot after `self` for a scraper: `next`, with the interfaces
    /// of `self` that `next` no longer has (a reload removed them) kept, as
    /// down, so their series do not vanish between two scrapes.
    pub fn followed_by(&self, next: &Snapshot) -> Snapshot {
        let mut out = next.clone();
        let is_there = |name: &str| {
            next.sources
                .iter()
                .any(|n| matches!(n, SourceStats::Interface { name: m, .. } if m == name))
        };
        for old in &self.sources {
            if let SourceStats::Interface { name, live, .. } = old {
                if !is_there(name) {
                    out.sources.push(SourceStats::Interface {
                        name: name.clone(),
                        live: *live,
                        up: false,
                    });
                }
            }
        }
        out
    }

    /// `Err` with the reason once the store has failed
    /// [`UNHEALTHY_AFTER_FAILURES`] flushes in a row.
    pub fn health(&self) -> Result<(), String> {
        let failing = self.flush.failing;
        if failing >= UNHEALTHY_AFTER_FAILURES {
            return Err(format!("store failing: {failing} flushes in a row"));
        }
        Ok(())
    }

    /// Writes every counter of the snapshot: each library struct through
    /// its own `encode`, then the engine's figures and gauges. Interfaces
    /// are labelled by name, listeners by address; watched directories are
    /// added up (their files by result).
    pub fn encode(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        self.packets.encode(e)?;

        let interfaces: Vec<(&str, &LiveStats, bool)> = self
            .sources
            .iter()
            .filter_map(|s| match s {
                SourceStats::Interface { name, live, up } => Some((name.as_str(), live, *up)),
                _ => None,
            })
            .collect();
        LiveStats::encode_interfaces(e, interfaces.iter().map(|(n, s, _)| (*n, *s)))?;
        let mut up = e.encode_descriptor(
            "depmap_capture_up",
            "1 while the interface's capture runs.",
            None,
            MetricType::Gauge,
        )?;
        for (name, _, running) in &interfaces {
            let interface = name.to_string();
            ConstGauge::new(u64::from(*running))
                .encode(up.encode_family(&Interface { interface })?)?;
        }

        let listeners = self.sources.iter().filter_map(|s| match s {
            SourceStats::Listener { addr, counts } => Some((addr.to_string(), counts)),
            _ => None,
        });
        let listeners: Vec<(String, &ListenerCounts)> = listeners.collect();
        ListenerCounts::encode_listeners(e, listeners.iter().map(|(a, c)| (a.as_str(), *c)))?;

        self.records.encode(e)?;
        self.decoder.encode(e)?;
        gauge(
            e,
            "depmap_flow_sets_waiting",
            "Flow-export data sets waiting for their template.",
            self.sets_waiting as u64,
        )?;
        gauge(
            e,
            "depmap_flows",
            "Flows in the flow table.",
            self.flows_active,
        )?;
        self.flow_table.encode(e)?;
        self.names.encode(e)?;
        gauge(
            e,
            "depmap_edges_pending",
            "Edges waiting for the next flush.",
            self.edges_pending,
        )?;
        self.flush.encode(e)?;
        gauge(
            e,
            "depmap_flush_interval_seconds",
            "The flush interval in force.",
            self.flush_interval.as_secs_f64(),
        )?;

        let mut files = WatchCounts::default();
        for s in &self.sources {
            if let SourceStats::Watch { files: w, .. } = s {
                files.ingested += w.ingested;
                files.repeated += w.repeated;
                files.failed += w.failed;
            }
        }
        files.encode(e)?;
        counter(
            e,
            "depmap_reloads",
            "Configuration reloads applied (SIGHUP).",
            self.reloads,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use depmap_testdata::counters::{distinct, text_of};
    use prometheus_client::collector::Collector;

    #[derive(Debug)]
    struct Latest(Snapshot);

    impl Collector for Latest {
        fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
            self.0.encode(&mut e)
        }
    }

    #[test]
    fn removed_interfaces_stay_down_and_three_failed_flushes_are_unhealthy() {
        let lo = SourceStats::Interface {
            name: "lo".into(),
            live: LiveStats::default(),
            up: true,
        };
        let before = Snapshot {
            sources: vec![lo],
            ..Snapshot::default()
        };
        let after = before.followed_by(&Snapshot::default());
        assert!(matches!(
            after.sources.as_slice(),
            [SourceStats::Interface { up: false, .. }]
        ));
        let mut s = Snapshot::default();
        s.flush.failing = 2;
        assert_eq!(s.health(), Ok(()));
        s.flush.failing = 3;
        assert_eq!(s.health(), Err("store failing: 3 flushes in a row".into()));
    }

    fn encode(s: Snapshot) -> String {
        text_of(Latest(s))
    }

    /// One source of each kind, so that every field is there to be set.
    fn with_sources() -> Snapshot {
        Snapshot {
            sources: vec![
                SourceStats::Interface {
                    name: "eth0".into(),
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

    /// The acceptance check for `/metrics`: every number a snapshot holds,
    /// each field of each library counter struct and each element of its
    /// per-reason arrays, has its own value and is a sample in the text.
    #[test]
    fn every_counter_of_a_snapshot_is_encoded() {
        let mut v = serde_json::to_value(with_sources()).unwrap();
        let mut fields = Vec::new();
        distinct(&mut v, String::new(), &mut fields);
        let text = encode(serde_json::from_value(v).unwrap());
        let values: Vec<f64> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse().ok())
            .collect();
        // Every library struct's fields are in there, its bounds' counters too.
        for part in [
            ".packets.malformed[10]",
            ".flow_table.fragment_table_full",
            ".flow_table.listeners_not_remembered",
            ".names.not_remembered",
            ".decoder.scopes_evicted",
            ".decoder.malformed[4]",
            ".records.pairing_evicted",
            ".sources[0].Interface.live.kernel_drops",
            ".sources[1].Listener.counts.kernel_drops",
            ".sources[2].Watch.files.failed",
            ".flush.total_duration",
        ] {
            assert!(fields.iter().any(|(f, _)| f == part), "{part}: {fields:?}");
        }
        for (field, n) in &fields {
            assert!(
                values.contains(&(*n as f64)),
                "{field} = {n} is not in:\n{text}"
            );
        }
        assert!(
            text.contains("depmap_capture_up{interface=\"eth0\"} 1\n"),
            "{text}"
        );
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let name = line.split(' ').nth(2).unwrap_or("");
            assert!(name.starts_with("depmap_"), "{line}");
            let described = text.matches(&format!("# TYPE {name} ")).count();
            assert_eq!(described, 1, "{name}");
        }
    }

    #[test]
    fn the_names_metrics_always_had_are_kept() {
        let mut s = with_sources();
        s.packets.ip_packets = 7;
        s.flush.added = 2;
        s.flush.updated = 3;
        s.flush.last_duration = Duration::from_millis(1500);
        s.flush_interval = Duration::from_secs(2);
        s.flows_active = 4;
        let text = encode(s);
        for line in [
            "depmap_packets_total 7",
            "depmap_edges_written_total 5",
            "depmap_flush_last_duration_seconds 1.5",
            "depmap_flush_interval_seconds 2.0",
            "depmap_flows 4",
            "depmap_capture_drops_total{interface=\"eth0\",where=\"kernel\"} 0",
            "depmap_listener_datagrams_total{listen=\"127.0.0.1:2055\"} 0",
            "depmap_listener_drops_total{listen=\"127.0.0.1:2055\",where=\"kernel\"} 0",
            "depmap_watch_files_total{result=\"repeat\"} 0",
            "depmap_flow_records_total 0",
            "depmap_reloads_total 0",
        ] {
            assert!(
                text.contains(&format!("\n{line}\n")),
                "{line} not in:\n{text}"
            );
        }
    }
}
