//! Frames to edges: the per-frame path shared by capture files and live
//! capture. A [`PacketAggregator`] decodes each frame, feeds IP packets to
//! its [`FlowTable`], learns server names from DNS answers, TLS SNI and
//! HTTP Host, and counts what it skipped by reason.

use depmap_wire::app::{dns_answers, http_host, tls_sni, DnsAnswer};
use depmap_wire::{decode, ipproto, Decoded, LinkType, Malformed, NonIp, Packet};

use crate::{FlowConfig, FlowTable, NameSource, NameTable};

/// What the aggregator saw, frame by frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PacketCounters {
    /// Frames handed in.
    pub frames: u64,
    /// Frames that decoded to an IP packet.
    pub ip_packets: u64,
    /// IP-layer bytes of those packets.
    pub ip_bytes: u64,
    /// Frames that are not IP, by kind ([`NonIp::index`]).
    pub non_ip: [u64; NonIp::ALL.len()],
    /// Malformed frames, by reason ([`Malformed::index`]).
    pub malformed: [u64; Malformed::ALL.len()],
}

impl PacketCounters {
    /// Malformed frames, all reasons.
    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().sum()
    }
}

/// Decoder + flow table + name table. See the module docs.
pub struct PacketAggregator {
    /// The flow table the packets go to.
    pub table: FlowTable,
    /// Names learned from payloads.
    pub names: NameTable,
    counters: PacketCounters,
    dns_scratch: Vec<DnsAnswer>,
    // Link types by number are looked up once per interface, not per packet.
    last_linktype: u32,
    link: LinkType,
}

impl PacketAggregator {
    /// An empty aggregator with a flow table of `cfg`.
    pub fn new(cfg: FlowConfig) -> PacketAggregator {
        PacketAggregator {
            table: FlowTable::new(cfg),
            names: NameTable::new(),
            counters: PacketCounters::default(),
            dns_scratch: Vec::new(),
            last_linktype: u32::MAX,
            link: LinkType::Other(u32::MAX),
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> &PacketCounters {
        &self.counters
    }

    /// Takes one frame: `linktype` is its `LINKTYPE_*` number, `ts` its
    /// timestamp (ns since the epoch), `wire_len` its length on the wire.
    #[inline]
    pub fn frame(&mut self, linktype: u32, ts: i64, data: &[u8], wire_len: u32) {
        self.counters.frames += 1;
        if linktype != self.last_linktype {
            self.last_linktype = linktype;
            self.link = LinkType::from_linktype(linktype);
        }
        // Matched by reference: moving the packet out of the result copied
        // it with wide loads right after the decoder's narrow stores, which
        // the CPU cannot forward (a stall on every packet).
        let decoded = decode(self.link, data, wire_len);
        match &decoded {
            Ok(Decoded::Ip(pkt)) => {
                self.counters.ip_packets += 1;
                self.counters.ip_bytes += u64::from(pkt.ip_len);
                self.table.observe(ts, pkt);
                if pkt.app_len > 0 {
                    learn_names(
                        &mut self.names,
                        &mut self.dns_scratch,
                        ts,
                        pkt,
                        pkt.app_payload(data),
                    );
                }
            }
            Ok(Decoded::NonIp(kind)) => self.counters.non_ip[kind.index()] += 1,
            Err(reason) => self.counters.malformed[reason.index()] += 1,
        }
    }
}

/// Learns server names from a packet's payload: DNS answers in responses,
/// TLS SNI and HTTP Host in what a client sends. Cheap first-byte checks keep
/// this off most packets.
#[inline(always)]
fn learn_names(
    names: &mut NameTable,
    scratch: &mut Vec<DnsAnswer>,
    ts: i64,
    pkt: &Packet,
    payload: &[u8],
) {
    match pkt.proto {
        ipproto::UDP if pkt.src_port == 53 || pkt.src_port == 5353 => {
            scratch.clear();
            let _ = dns_answers(payload, scratch);
            names.observe_dns(ts, scratch);
        }
        ipproto::TCP => match payload.first() {
            Some(22) => {
                if let Ok(sni) = tls_sni(payload) {
                    names.observe(ts, pkt.dst, sni, NameSource::Sni);
                }
            }
            Some(b'A'..=b'Z') => {
                if let Ok(host) = http_host(payload) {
                    if !is_ip_literal(host) {
                        names.observe(ts, pkt.dst, host, NameSource::Http);
                    }
                }
            }
            _ => {}
        },
        _ => {}
    }
}

/// Whether an HTTP Host value is an address rather than a name. Only a
/// value made of digits and dots, or one with a colon (IPv6; ports are
/// already cut off), can be one, so names skip the address parser, which
/// was about 1% of the ingest benchmark's time.
fn is_ip_literal(host: &str) -> bool {
    let maybe = host.contains(':') || host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    maybe && host.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LINKTYPE_RAW: the frame is the IP packet.
    const RAW: u32 = 101;

    #[test]
    fn ip_literals_are_told_from_names() {
        for ip in ["10.0.0.1", "2001:db8::1", "::1", "::ffff:10.0.0.1"] {
            assert!(is_ip_literal(ip), "{ip}");
        }
        for name in [
            "api.example",
            "10.0.0.1.nip.io",
            "1.2.3",
            "example",
            "a:b",
            "",
        ] {
            assert!(!is_ip_literal(name), "{name}");
        }
    }

    #[test]
    fn counts_ip_malformed_and_builds_edges() {
        let mut agg = PacketAggregator::new(FlowConfig::default());
        let mut frame = vec![
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        frame.extend_from_slice(&[0xc3, 0x50, 0, 53, 0, 8, 0, 0]);
        agg.frame(RAW, 1_700_000_000_000_000_000, &frame, 28);
        agg.frame(RAW, 1_700_000_000_000_000_001, &[0x45, 0], 2);
        let c = *agg.counters();
        assert_eq!((c.frames, c.ip_packets, c.ip_bytes), (2, 1, 28));
        assert_eq!(c.malformed_total(), 1);
        agg.table.finish();
        let edges = agg.table.take_edges();
        assert_eq!(edges.len(), 1);
        assert_eq!(edges[0].0.port, 53);
    }
}
