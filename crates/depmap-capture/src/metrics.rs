//! Capture counters in the Prometheus text format, through prometheus-client:
//! [`LiveStats`] by interface and [`ListenerCounts`] (a listener's
//! [`ListenerStats`](crate::udp::ListenerStats) with the socket's kernel
//! drops) by listener, each writing every one of its fields. The names are the ones `/metrics` has
//! always had (`depmap_capture_frames_total{interface}`,
//! `depmap_capture_drops_total{interface,where}`,
//! `depmap_listener_datagrams_total{listen}`,
//! `depmap_listener_drops_total{listen,where}`), and new ones for what it
//! did not show.

use std::fmt;

use depmap_model::metrics::counters;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};

use crate::udp::ListenerCounts;
use crate::LiveStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Interface {
    interface: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Listen {
    listen: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Where {
    r#where: &'static str,
}

impl LiveStats {
    /// Writes every counter of each interface, labelled by its name; the
    /// families are described even when there is no interface.
    pub fn encode_interfaces<'a>(
        e: &mut DescriptorEncoder<'_>,
        interfaces: impl IntoIterator<Item = (&'a str, &'a LiveStats)>,
    ) -> fmt::Result {
        let all: Vec<(Interface, LiveStats)> = interfaces
            .into_iter()
            .map(|(name, s)| {
                let interface = name.to_string();
                (Interface { interface }, *s)
            })
            .collect();
        let by = |f: fn(&LiveStats) -> u64| all.iter().map(move |(i, s)| (i.clone(), f(s)));
        counters(
            e,
            "depmap_capture_frames",
            "Frames captured, by interface.",
            by(|s| s.frames),
        )?;
        counters(
            e,
            "depmap_capture_bytes",
            "Captured bytes (up to the snaplen), by interface.",
            by(|s| s.bytes),
        )?;
        counters(
            e,
            "depmap_capture_received",
            "Packets that passed the capture filter, as libpcap counts them (ps_recv), by interface.",
            by(|s| s.received),
        )?;
        counters(
            e,
            "depmap_capture_drops",
            "Packets lost before depmap saw them: kernel = capture buffer full, interface = NIC or driver.",
            all.iter().flat_map(|(i, s)| {
                [
                    ((i.clone(), Where { r#where: "kernel" }), s.kernel_drops),
                    ((i.clone(), Where { r#where: "interface" }), s.interface_drops),
                ]
            }),
        )
    }
}

impl ListenerCounts {
    /// Writes every counter of each flow listener, labelled by its address
    /// (`listen`); the kernel's drops have no series where they could not
    /// be read.
    pub fn encode_listeners<'a>(
        e: &mut DescriptorEncoder<'_>,
        listeners: impl IntoIterator<Item = (&'a str, &'a ListenerCounts)>,
    ) -> fmt::Result {
        let all: Vec<(Listen, ListenerCounts)> = listeners
            .into_iter()
            .map(|(addr, c)| {
                let listen = addr.to_string();
                (Listen { listen }, *c)
            })
            .collect();
        let by = |f: fn(&ListenerCounts) -> u64| all.iter().map(move |(l, c)| (l.clone(), f(c)));
        counters(
            e,
            "depmap_listener_datagrams",
            "Flow-export datagrams received, by listener.",
            by(|c| c.datagrams),
        )?;
        counters(
            e,
            "depmap_listener_bytes",
            "Bytes of flow-export datagrams received, by listener.",
            by(|c| c.bytes),
        )?;
        counters(
            e,
            "depmap_listener_drops",
            "Datagrams dropped: kernel = socket buffer full, denied = exporter not allowed.",
            all.iter().flat_map(|(l, c)| {
                let kernel = c
                    .kernel_drops
                    .map(|k| ((l.clone(), Where { r#where: "kernel" }), k));
                let denied = ((l.clone(), Where { r#where: "denied" }), c.denied);
                kernel.into_iter().chain([denied])
            }),
        )?;
        counters(
            e,
            "depmap_listener_errors",
            "Receive errors other than would-block, by listener.",
            by(|c| c.errors),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use depmap_testdata::counters::{every_field_encoded, of};

    #[test]
    fn live_stats_encode_every_field() {
        fn encode(s: &LiveStats, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
            LiveStats::encode_interfaces(e, [("eth0", s), ("lo", &LiveStats::default())])
        }
        let (text, f) = every_field_encoded(LiveStats::default(), encode);
        let n = of(&f, ".kernel_drops");
        let kernel = "depmap_capture_drops_total{interface=\"eth0\",where=\"kernel\"}";
        assert!(text.contains(&format!("{kernel} {n}\n")), "{text}");
        let n = of(&f, ".frames");
        assert!(text.contains(&format!(
            "depmap_capture_frames_total{{interface=\"eth0\"}} {n}\n"
        )));
        assert!(text.contains("depmap_capture_frames_total{interface=\"lo\"} 0\n"));
    }

    #[test]
    fn listener_counts_encode_every_field() {
        fn encode(c: &ListenerCounts, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
            let unreadable = ListenerCounts::default();
            ListenerCounts::encode_listeners(
                e,
                [("127.0.0.1:2055", c), ("[::1]:6343", &unreadable)],
            )
        }
        // Some(0) so that the kernel's drops are a number to set too.
        let start = ListenerCounts {
            kernel_drops: Some(0),
            ..ListenerCounts::default()
        };
        let (text, f) = every_field_encoded(start, encode);
        let listen = "listen=\"127.0.0.1:2055\"";
        let n = of(&f, ".datagrams");
        assert!(text.contains(&format!(
            "depmap_listener_datagrams_total{{{listen}}} {n}\n"
        )));
        let n = of(&f, ".kernel_drops");
        let kernel = format!("depmap_listener_drops_total{{{listen},where=\"kernel\"}} {n}\n");
        assert!(text.contains(&kernel), "{text}");
        let n = of(&f, ".denied");
        assert!(text.contains(&format!(
            "depmap_listener_drops_total{{{listen},where=\"denied\"}} {n}\n"
        )));
        // No kernel series where the counter could not be read.
        assert!(!text.contains("listen=\"[::1]:6343\",where=\"kernel\""));
        assert!(text
            .contains("depmap_listener_drops_total{listen=\"[::1]:6343\",where=\"denied\"} 0\n"));
    }
}
