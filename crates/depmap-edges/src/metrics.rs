//! The crate's counters in the Prometheus text format: each counter struct
//! writes every one of its fields, through prometheus-client, into the
//! [`DescriptorEncoder`] of whoever serves `/metrics`. Per-reason arrays are
//! one metric with a label (`reason`, `kind`, `from`), so a new reason is a
//! new series, not a new name.
//!
//! Names keep the `depmap_` prefix and the ones `/metrics` has always had
//! (`depmap_packets_total`, `depmap_malformed_total{reason}`,
//! `depmap_flows_created_total`, `depmap_flow_records_total`, ...). Counters
//! of flow exports start with `depmap_flow_`; those of the packet flow table
//! with `depmap_flows_`, `depmap_fragment` or `depmap_flow_table_`.
//!
//! ```
//! use depmap_edges::FlowCounters;
//! use prometheus_client::collector::Collector;
//! use prometheus_client::encoding::DescriptorEncoder;
//!
//! #[derive(Debug)]
//! struct Latest(FlowCounters);
//!
//! impl Collector for Latest {
//!     fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
//!         self.0.encode(&mut e)
//!     }
//! }
//!
//! let mut registry = prometheus_client::registry::Registry::default();
//! registry.register_collector(Box::new(Latest(FlowCounters::default())));
//! let mut text = String::new();
//! prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains("depmap_fragment_table_full_total 0\n"));
//! ```

use std::fmt;

use depmap_model::metrics::{counter, counters};
use depmap_wire::{Malformed, NonIp};
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};

use crate::flowrec::RecordCounters;
use crate::names::NameCounters;
use crate::{FlowCounters, PacketCounters};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct From {
    from: &'static str,
}

impl PacketCounters {
    /// Writes every counter: frames, IP packets and bytes, frames that are
    /// not IP by `kind`, malformed frames by `reason`.
    pub fn encode(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        counter(
            e,
            "depmap_frames",
            "Frames captured and decoded.",
            self.frames,
        )?;
        counter(e, "depmap_packets", "IP packets seen.", self.ip_packets)?;
        counter(e, "depmap_bytes", "IP-layer bytes seen.", self.ip_bytes)?;
        counters(
            e,
            "depmap_non_ip_frames",
            "Frames that were not IP (skipped), by kind.",
            NonIp::ALL.map(|k| (Kind { kind: k.name() }, self.non_ip[k.index()])),
        )?;
        counters(
            e,
            "depmap_malformed",
            "Malformed frames skipped, by reason.",
            Malformed::ALL.map(|m| (Reason { reason: m.name() }, self.malformed[m.index()])),
        )
    }
}

impl FlowCounters {
    /// Writes every counter of the flow table, each bound's included
    /// (`flows_evicted` for `max_flows`, `fragment_table_full` for
    /// `max_fragments`, `listeners_not_remembered` for
    /// [`MAX_LISTENERS`](crate::MAX_LISTENERS)).
    pub fn encode(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let one = [
            (
                "depmap_flow_table_packets",
                "IP packets the flow table observed.",
                self.packets,
            ),
            (
                "depmap_flow_table_bytes",
                "IP-layer bytes the flow table observed.",
                self.bytes,
            ),
            ("depmap_flows_created", "Flows created.", self.flows_created),
            (
                "depmap_flows_expired",
                "Flows ended by their idle timeout.",
                self.flows_expired,
            ),
            (
                "depmap_flows_evicted",
                "Flows finished early because the table reached max_flows.",
                self.flows_evicted,
            ),
            (
                "depmap_flows_reused",
                "Flows ended because a new SYN reused the ports of a closed connection.",
                self.flows_reused,
            ),
            (
                "depmap_fragments_matched",
                "Later IP fragments matched to their first fragment's ports.",
                self.fragments_matched,
            ),
            (
                "depmap_fragments_unattributed",
                "IP fragments counted on a port-0 edge because their first fragment was not seen or not tracked.",
                self.fragments_unattributed,
            ),
            (
                "depmap_fragment_table_full",
                "Fragmented datagrams not tracked because the table reached max_fragments.",
                self.fragment_table_full,
            ),
            (
                "depmap_listeners_not_remembered",
                "Listening ports of the packet flow table not remembered because the listener bound was reached.",
                self.listeners_not_remembered,
            ),
        ];
        for (name, help, value) in one {
            counter(e, name, help, value)?;
        }
        Ok(())
    }
}

impl RecordCounters {
    /// Writes every counter of the flow-record aggregator, each bound's
    /// included (`pairing_evicted` for `max_waiting`,
    /// `listeners_not_remembered` for [`MAX_LISTENERS`](crate::MAX_LISTENERS));
    /// how each conversation's direction was decided is one metric by `from`.
    pub fn encode(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let one = [
            (
                "depmap_flow_records",
                "Flow-export records aggregated.",
                self.records,
            ),
            (
                "depmap_flow_biflow_records",
                "Flow-export records that describe both directions of a conversation.",
                self.biflow_records,
            ),
            (
                "depmap_flow_sampled_records",
                "Flow-export records whose figures were sampled.",
                self.sampled_records,
            ),
            (
                "depmap_flow_pairs",
                "Pairs of one-direction flow records joined into one conversation.",
                self.pairs,
            ),
            (
                "depmap_flow_unpaired",
                "One-direction flow records released without a partner.",
                self.unpaired,
            ),
            (
                "depmap_flow_pairing_evicted",
                "One-direction flow records released early because the pairing bound (max_waiting) was reached.",
                self.pairing_evicted,
            ),
            (
                "depmap_flow_pairing_superseded",
                "One-direction flow records released because a later record of the same direction came first.",
                self.pairing_superseded,
            ),
            (
                "depmap_flow_conversations",
                "Flow-export conversations folded into edges.",
                self.conversations,
            ),
            (
                "depmap_flow_end_before_start",
                "Flow records whose end was before their start (taken as the start).",
                self.end_before_start,
            ),
            (
                "depmap_flow_long_records",
                "Flow records spanning more days than activity is spread over.",
                self.long_records,
            ),
            (
                "depmap_flow_listeners_not_remembered",
                "Listening ports of the flow-record aggregator not remembered because the listener bound was reached.",
                self.listeners_not_remembered,
            ),
        ];
        for (name, help, value) in one {
            counter(e, name, help, value)?;
        }
        counters(
            e,
            "depmap_flow_direction",
            "Flow-export conversations by what decided their client: an initiator hint, a TCP SYN, or the packet rule.",
            [
                (From { from: "hint" }, self.direction_from_hint),
                (From { from: "syn" }, self.direction_from_syn),
                (From { from: "rule" }, self.direction_from_rule),
            ],
        )
    }
}

impl NameCounters {
    /// Writes every counter of the name table.
    pub fn encode(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        counter(
            e,
            "depmap_names_not_remembered",
            "Server names not remembered because the name table reached its bound (MAX_NAMES).",
            self.not_remembered,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use depmap_testdata::counters::{every_field_encoded, of};

    #[test]
    fn packet_counters_encode_every_field() {
        let (text, f) = every_field_encoded(PacketCounters::default(), PacketCounters::encode);
        // Names /metrics has always had.
        let packets = of(&f, ".ip_packets");
        assert!(
            text.contains(&format!("\ndepmap_packets_total {packets}\n")),
            "{text}"
        );
        let m = of(
            &f,
            &format!(".malformed[{}]", Malformed::LinkTruncated.index()),
        );
        assert!(text.contains(&format!(
            "depmap_malformed_total{{reason=\"link_truncated\"}} {m}\n"
        )));
        let arp = of(&f, &format!(".non_ip[{}]", NonIp::Arp.index()));
        assert!(text.contains(&format!(
            "depmap_non_ip_frames_total{{kind=\"arp\"}} {arp}\n"
        )));
    }

    #[test]
    fn flow_counters_encode_every_field() {
        let (text, f) = every_field_encoded(FlowCounters::default(), FlowCounters::encode);
        let n = of(&f, ".flows_evicted");
        assert!(
            text.contains(&format!("\ndepmap_flows_evicted_total {n}\n")),
            "{text}"
        );
        let n = of(&f, ".fragment_table_full");
        assert!(text.contains(&format!("\ndepmap_fragment_table_full_total {n}\n")));
    }

    #[test]
    fn record_counters_encode_every_field() {
        let (text, f) = every_field_encoded(RecordCounters::default(), RecordCounters::encode);
        let n = of(&f, ".records");
        assert!(
            text.contains(&format!("\ndepmap_flow_records_total {n}\n")),
            "{text}"
        );
        let n = of(&f, ".direction_from_syn");
        assert!(text.contains(&format!(
            "depmap_flow_direction_total{{from=\"syn\"}} {n}\n"
        )));
    }

    #[test]
    fn name_counters_encode_every_field() {
        let (text, f) = every_field_encoded(NameCounters::default(), NameCounters::encode);
        let n = of(&f, ".not_remembered");
        assert!(
            text.contains(&format!("\ndepmap_names_not_remembered_total {n}\n")),
            "{text}"
        );
    }
}
