//! The flow record every format decodes into.

use std::fmt;
use std::net::IpAddr;

/// The export format a datagram (and every record decoded from it) uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Format {
    /// Cisco NetFlow version 5 (fixed 48-byte IPv4 records).
    NetflowV5,
    /// NetFlow version 9 (RFC 3954, template based).
    NetflowV9,
    /// IPFIX (RFC 7011, "NetFlow version 10", template based).
    Ipfix,
    /// sFlow version 5 (sampled packet headers).
    SflowV5,
}

impl Format {
    /// Every format, for reports that list zeros too.
    pub const ALL: [Format; 4] = [
        Format::NetflowV5,
        Format::NetflowV9,
        Format::Ipfix,
        Format::SflowV5,
    ];

    /// A short stable name for counters and reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::NetflowV5 => "netflow-v5",
            Format::NetflowV9 => "netflow-v9",
            Format::Ipfix => "ipfix",
            Format::SflowV5 => "sflow-v5",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the exporter said about the direction of a flow. Only template
/// formats carry this; NetFlow v5 and sFlow records have `None`.
///
/// The first two variants are client/server evidence and are strong enough
/// to settle which side is the client. The last two only say on which side
/// of the exporter's interface the flow was metered and are weak evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DirectionHint {
    /// The source initiated the flow (it is the client): IPFIX
    /// `biflowDirection` = initiator (1); Cisco `clientIPv4Address` (12236)
    /// is the source; or the counters are `initiatorOctets`/`initiatorPackets`
    /// (NSEL-style, where the source is the initiator).
    SourceInitiated,
    /// The destination initiated the flow (it is the client):
    /// `biflowDirection` = reverseInitiator (2), or the Cisco client address
    /// is the destination.
    DestinationInitiated,
    /// `flowDirection` (61) = ingress (0): metered as it entered the
    /// exporter's interface.
    Ingress,
    /// `flowDirection` (61) = egress (1).
    Egress,
}

impl DirectionHint {
    /// A short stable name for reports.
    pub fn name(self) -> &'static str {
        match self {
            DirectionHint::SourceInitiated => "source-initiated",
            DirectionHint::DestinationInitiated => "destination-initiated",
            DirectionHint::Ingress => "ingress",
            DirectionHint::Egress => "egress",
        }
    }
}

/// One flow record, whatever the format it came from. Small and `Copy`.
///
/// `packets` and `bytes` are estimates of the real traffic: when the
/// exporter sampled (`sampling_rate` > 1, or any sFlow sample), they are the
/// exported figures multiplied by `sampling_rate`, and `sampled` is set.
/// Bytes are IP-layer bytes (IP header included, link layer excluded), which
/// is what NetFlow and IPFIX count and what `depmap-wire` reports as
/// `Packet::ip_len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// The address the export datagram came from (the exporter's source
    /// address as the collector saw it; for sFlow too, not the agent address
    /// inside the datagram).
    pub exporter: IpAddr,
    /// The exporter's subdivision: IPFIX observation domain, NetFlow v9
    /// source ID, NetFlow v5 `engine_type << 8 | engine_id`, sFlow sub-agent ID.
    pub observation_domain: u32,
    /// Source address of the flow.
    pub src: IpAddr,
    /// Destination address of the flow.
    pub dst: IpAddr,
    /// Source port (0 when the protocol has none or the record omits it).
    pub src_port: u16,
    /// Destination port (0 as for `src_port`). NetFlow exporters put the ICMP
    /// type and code here for ICMP; they are passed through unchanged.
    pub dst_port: u16,
    /// IP protocol number (0 when the record omits it).
    pub proto: u8,
    /// Packets from `src` to `dst` (scaled by `sampling_rate`).
    pub packets: u64,
    /// IP-layer bytes from `src` to `dst` (scaled by `sampling_rate`).
    pub bytes: u64,
    /// For IPFIX biflows (RFC 5103 reverse elements, or NSEL-style
    /// responder counters): packets from `dst` to `src`, scaled likewise.
    pub reverse_packets: Option<u64>,
    /// For biflows: bytes from `dst` to `src`, scaled likewise.
    pub reverse_bytes: Option<u64>,
    /// Flow start, nanoseconds since the Unix epoch, by the exporter's clock
    /// (sFlow: the `received_ns` passed to the decoder).
    pub start_ns: i64,
    /// Flow end (>= `start_ns`), as for `start_ns`.
    pub end_ns: i64,
    /// TCP flags seen in the flow (OR of all packets; low 8 bits).
    pub tcp_flags: u8,
    /// One in `sampling_rate` packets was metered; 1 means unsampled.
    pub sampling_rate: u32,
    /// Whether the record comes from packet sampling (`sampling_rate` > 1,
    /// or sFlow), so that `packets` and `bytes` are estimates.
    pub sampled: bool,
    /// What the exporter said about the flow's direction, if anything.
    pub direction: Option<DirectionHint>,
    /// The format of the datagram the record came from.
    pub source: Format,
}
