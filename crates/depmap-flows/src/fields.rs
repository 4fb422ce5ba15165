//! The information elements depmap reads from NetFlow v9 and IPFIX records,
//! and how a record's fields become a [`FlowRecord`].
//!
//! NetFlow v9 field types 1-127 share their numbers and meaning with the
//! IPFIX information elements, so both formats fill the same [`Fields`].
//! Enterprise elements are skipped except RFC 5103 reverse elements
//! (enterprise 29305) and Cisco's connection client/server addresses and
//! ports (enterprise 9, elements 12236, 12237, 12240, 12241; NetFlow v9 uses
//! the same numbers without an enterprise).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::reader::{be_uint, ipv4, ipv6};
use crate::record::DirectionHint;
use crate::time;

/// An information element: enterprise number (0 for IANA) and element ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Ie {
    pub(crate) pen: u32,
    pub(crate) id: u16,
}

/// IANA elements (and NetFlow v9 field types).
pub(crate) const IANA: u32 = 0;
/// Cisco's enterprise number.
pub(crate) const CISCO: u32 = 9;
/// RFC 5103 reverse information elements.
pub(crate) const REVERSE: u32 = 29305;

const OCTET_DELTA: u16 = 1;
const PACKET_DELTA: u16 = 2;
const PROTOCOL: u16 = 4;
const TCP_FLAGS: u16 = 6;
const SRC_PORT: u16 = 7;
const SRC_IPV4: u16 = 8;
const DST_PORT: u16 = 11;
const DST_IPV4: u16 = 12;
const END_UPTIME: u16 = 21;
const START_UPTIME: u16 = 22;
const POST_OCTET_DELTA: u16 = 23;
const POST_PACKET_DELTA: u16 = 24;
const SRC_IPV6: u16 = 27;
const DST_IPV6: u16 = 28;
const SAMPLING_INTERVAL: u16 = 34;
const SAMPLER_ID: u16 = 48;
const SAMPLER_RANDOM_INTERVAL: u16 = 50;
const FLOW_DIRECTION: u16 = 61;
const OCTET_TOTAL: u16 = 85;
const PACKET_TOTAL: u16 = 86;
const START_SECONDS: u16 = 150;
const END_SECONDS: u16 = 151;
const START_MILLIS: u16 = 152;
const END_MILLIS: u16 = 153;
const START_MICROS: u16 = 154;
const END_MICROS: u16 = 155;
const START_NANOS: u16 = 156;
const END_NANOS: u16 = 157;
const START_DELTA_MICROS: u16 = 158;
const END_DELTA_MICROS: u16 = 159;
const SYSTEM_INIT_MILLIS: u16 = 160;
const INITIATOR_OCTETS: u16 = 231;
const RESPONDER_OCTETS: u16 = 232;
const BIFLOW_DIRECTION: u16 = 239;
const INITIATOR_PACKETS: u16 = 298;
const RESPONDER_PACKETS: u16 = 299;
const SELECTOR_ID: u16 = 302;
const SAMPLING_PACKET_INTERVAL: u16 = 305;
const SAMPLING_PACKET_SPACE: u16 = 306;
const SAMPLING_SIZE: u16 = 309;
const SAMPLING_POPULATION: u16 = 310;
const SAMPLING_PROBABILITY: u16 = 311;
const CISCO_CLIENT_IPV4: u16 = 12236;
const CISCO_SERVER_IPV4: u16 = 12237;
const CISCO_CLIENT_PORT: u16 = 12240;
const CISCO_SERVER_PORT: u16 = 12241;

/// Every element [`Fields::set`] understands (the list form of [`is_known`]).
#[cfg(test)]
pub(crate) const KNOWN: &[Ie] = &[
    Ie {
        pen: IANA,
        id: OCTET_DELTA,
    },
    Ie {
        pen: IANA,
        id: PACKET_DELTA,
    },
    Ie {
        pen: IANA,
        id: PROTOCOL,
    },
    Ie {
        pen: IANA,
        id: TCP_FLAGS,
    },
    Ie {
        pen: IANA,
        id: SRC_PORT,
    },
    Ie {
        pen: IANA,
        id: SRC_IPV4,
    },
    Ie {
        pen: IANA,
        id: DST_PORT,
    },
    Ie {
        pen: IANA,
        id: DST_IPV4,
    },
    Ie {
        pen: IANA,
        id: END_UPTIME,
    },
    Ie {
        pen: IANA,
        id: START_UPTIME,
    },
    Ie {
        pen: IANA,
        id: POST_OCTET_DELTA,
    },
    Ie {
        pen: IANA,
        id: POST_PACKET_DELTA,
    },
    Ie {
        pen: IANA,
        id: SRC_IPV6,
    },
    Ie {
        pen: IANA,
        id: DST_IPV6,
    },
    Ie {
        pen: IANA,
        id: SAMPLING_INTERVAL,
    },
    Ie {
        pen: IANA,
        id: SAMPLER_ID,
    },
    Ie {
        pen: IANA,
        id: SAMPLER_RANDOM_INTERVAL,
    },
    Ie {
        pen: IANA,
        id: FLOW_DIRECTION,
    },
    Ie {
        pen: IANA,
        id: OCTET_TOTAL,
    },
    Ie {
        pen: IANA,
        id: PACKET_TOTAL,
    },
    Ie {
        pen: IANA,
        id: START_SECONDS,
    },
    Ie {
        pen: IANA,
        id: END_SECONDS,
    },
    Ie {
        pen: IANA,
        id: START_MILLIS,
    },
    Ie {
        pen: IANA,
        id: END_MILLIS,
    },
    Ie {
        pen: IANA,
        id: START_MICROS,
    },
    Ie {
        pen: IANA,
        id: END_MICROS,
    },
    Ie {
        pen: IANA,
        id: START_NANOS,
    },
    Ie {
        pen: IANA,
        id: END_NANOS,
    },
    Ie {
        pen: IANA,
        id: START_DELTA_MICROS,
    },
    Ie {
        pen: IANA,
        id: END_DELTA_MICROS,
    },
    Ie {
        pen: IANA,
        id: SYSTEM_INIT_MILLIS,
    },
    Ie {
        pen: IANA,
        id: INITIATOR_OCTETS,
    },
    Ie {
        pen: IANA,
        id: RESPONDER_OCTETS,
    },
    Ie {
        pen: IANA,
        id: BIFLOW_DIRECTION,
    },
    Ie {
        pen: IANA,
        id: INITIATOR_PACKETS,
    },
    Ie {
        pen: IANA,
        id: RESPONDER_PACKETS,
    },
    Ie {
        pen: IANA,
        id: SELECTOR_ID,
    },
    Ie {
        pen: IANA,
        id: SAMPLING_PACKET_INTERVAL,
    },
    Ie {
        pen: IANA,
        id: SAMPLING_PACKET_SPACE,
    },
    Ie {
        pen: IANA,
        id: SAMPLING_SIZE,
    },
    Ie {
        pen: IANA,
        id: SAMPLING_POPULATION,
    },
    Ie {
        pen: IANA,
        id: SAMPLING_PROBABILITY,
    },
    Ie {
        pen: IANA,
        id: CISCO_CLIENT_IPV4,
    },
    Ie {
        pen: IANA,
        id: CISCO_SERVER_IPV4,
    },
    Ie {
        pen: IANA,
        id: CISCO_CLIENT_PORT,
    },
    Ie {
        pen: IANA,
        id: CISCO_SERVER_PORT,
    },
    Ie {
        pen: CISCO,
        id: CISCO_CLIENT_IPV4,
    },
    Ie {
        pen: CISCO,
        id: CISCO_SERVER_IPV4,
    },
    Ie {
        pen: CISCO,
        id: CISCO_CLIENT_PORT,
    },
    Ie {
        pen: CISCO,
        id: CISCO_SERVER_PORT,
    },
    Ie {
        pen: REVERSE,
        id: OCTET_DELTA,
    },
    Ie {
        pen: REVERSE,
        id: PACKET_DELTA,
    },
    Ie {
        pen: REVERSE,
        id: OCTET_TOTAL,
    },
    Ie {
        pen: REVERSE,
        id: PACKET_TOTAL,
    },
];

/// Whether [`Fields::set`] uses this element.
pub(crate) fn is_known(ie: Ie) -> bool {
    match ie.pen {
        IANA => {
            matches!(
                ie.id,
                1..=2 | 4 | 6..=8 | 11..=12 | 21..=24 | 27..=28 | 34 | 48 | 50 | 61 | 85..=86
                    | 150..=160 | 231..=232 | 239 | 298..=299 | 302 | 305..=306 | 309..=311
                    | 12236..=12237 | 12240..=12241
            )
        }
        CISCO => matches!(ie.id, 12236..=12237 | 12240..=12241),
        REVERSE => matches!(ie.id, 1..=2 | 85..=86),
        _ => false,
    }
}

/// The fields of one NetFlow v9 or IPFIX record that depmap reads.
/// Small and `Copy`; a value that does not fit its element is ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Fields {
    src4: Option<Ipv4Addr>,
    dst4: Option<Ipv4Addr>,
    src6: Option<Ipv6Addr>,
    dst6: Option<Ipv6Addr>,
    client4: Option<Ipv4Addr>,
    server4: Option<Ipv4Addr>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    client_port: Option<u16>,
    server_port: Option<u16>,
    proto: Option<u8>,
    tcp_flags: Option<u8>,
    octets: Option<u64>,
    packets: Option<u64>,
    octets_total: Option<u64>,
    packets_total: Option<u64>,
    post_octets: Option<u64>,
    post_packets: Option<u64>,
    initiator_octets: Option<u64>,
    initiator_packets: Option<u64>,
    responder_octets: Option<u64>,
    responder_packets: Option<u64>,
    reverse_octets: Option<u64>,
    reverse_packets: Option<u64>,
    start_uptime_ms: Option<u32>,
    end_uptime_ms: Option<u32>,
    start_abs_ns: Option<i64>,
    end_abs_ns: Option<i64>,
    start_delta_us: Option<u64>,
    end_delta_us: Option<u64>,
    pub(crate) system_init_ms: Option<u64>,
    biflow_direction: Option<u8>,
    flow_direction: Option<u8>,
    pub(crate) sampler_id: Option<u64>,
    sampling_interval: Option<u64>,
    packet_interval: Option<u64>,
    packet_space: Option<u64>,
    sampling_size: Option<u64>,
    sampling_population: Option<u64>,
    sampling_probability: Option<f64>,
}

/// What a record needs from its datagram and scope to become a [`FlowRecord`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeBase {
    /// The header's export time, in Unix nanoseconds.
    pub(crate) export_ns: i64,
    /// NetFlow v9: the header's uptime in milliseconds.
    pub(crate) sys_uptime_ms: Option<u32>,
    /// IPFIX: the exporter's `systemInitTimeMilliseconds`, from options data.
    pub(crate) system_init_ms: Option<u64>,
}

/// A record's contents, before sampling is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flow {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) src_port: u16,
    pub(crate) dst_port: u16,
    pub(crate) proto: u8,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    pub(crate) reverse_packets: Option<u64>,
    pub(crate) reverse_bytes: Option<u64>,
    pub(crate) start_ns: i64,
    pub(crate) end_ns: i64,
    pub(crate) tcp_flags: u8,
    pub(crate) direction: Option<DirectionHint>,
}

impl Fields {
    /// Records the value of one element; unknown elements and values of the
    /// wrong size are ignored.
    pub(crate) fn set(&mut self, ie: Ie, v: &[u8]) {
        let uint = || be_uint(v);
        let u16v = || be_uint(v).and_then(|x| u16::try_from(x).ok());
        match (ie.pen, ie.id) {
            (IANA, OCTET_DELTA) => self.octets = uint(),
            (IANA, PACKET_DELTA) => self.packets = uint(),
            (IANA, PROTOCOL) => self.proto = v.first().copied(),
            // One byte in NetFlow v9, two in IPFIX (with header-length bits
            // on top): the flags are the low byte either way.
            (IANA, TCP_FLAGS) => self.tcp_flags = v.last().copied(),
            (IANA, SRC_PORT) => self.src_port = u16v(),
            (IANA, DST_PORT) => self.dst_port = u16v(),
            (IANA, SRC_IPV4) => self.src4 = ipv4(v),
            (IANA, DST_IPV4) => self.dst4 = ipv4(v),
            (IANA, SRC_IPV6) => self.src6 = ipv6(v),
            (IANA, DST_IPV6) => self.dst6 = ipv6(v),
            (IANA, END_UPTIME) => self.end_uptime_ms = uint().map(|x| x as u32),
            (IANA, START_UPTIME) => self.start_uptime_ms = uint().map(|x| x as u32),
            (IANA, POST_OCTET_DELTA) => self.post_octets = uint(),
            (IANA, POST_PACKET_DELTA) => self.post_packets = uint(),
            (IANA, OCTET_TOTAL) => self.octets_total = uint(),
            (IANA, PACKET_TOTAL) => self.packets_total = uint(),
            (IANA, SAMPLING_INTERVAL | SAMPLER_RANDOM_INTERVAL) => self.sampling_interval = uint(),
            (IANA, SAMPLER_ID | SELECTOR_ID) => self.sampler_id = uint(),
            (IANA, FLOW_DIRECTION) => self.flow_direction = v.first().copied(),
            (IANA, BIFLOW_DIRECTION) => self.biflow_direction = v.first().copied(),
            (IANA, START_SECONDS) => self.start_abs_ns = secs_ns(v),
            (IANA, END_SECONDS) => self.end_abs_ns = secs_ns(v),
            (IANA, START_MILLIS) => self.start_abs_ns = millis_ns(v),
            (IANA, END_MILLIS) => self.end_abs_ns = millis_ns(v),
            (IANA, START_MICROS) => self.start_abs_ns = ntp_ns(v, true),
            (IANA, END_MICROS) => self.end_abs_ns = ntp_ns(v, true),
            (IANA, START_NANOS) => self.start_abs_ns = ntp_ns(v, false),
            (IANA, END_NANOS) => self.end_abs_ns = ntp_ns(v, false),
            (IANA, START_DELTA_MICROS) => self.start_delta_us = uint(),
            (IANA, END_DELTA_MICROS) => self.end_delta_us = uint(),
            (IANA, SYSTEM_INIT_MILLIS) => self.system_init_ms = uint(),
            (IANA, INITIATOR_OCTETS) => self.initiator_octets = uint(),
            (IANA, RESPONDER_OCTETS) => self.responder_octets = uint(),
            (IANA, INITIATOR_PACKETS) => self.initiator_packets = uint(),
            (IANA, RESPONDER_PACKETS) => self.responder_packets = uint(),
            (IANA, SAMPLING_PACKET_INTERVAL) => self.packet_interval = uint(),
            (IANA, SAMPLING_PACKET_SPACE) => self.packet_space = uint(),
            (IANA, SAMPLING_SIZE) => self.sampling_size = uint(),
            (IANA, SAMPLING_POPULATION) => self.sampling_population = uint(),
            (IANA, SAMPLING_PROBABILITY) => {
                self.sampling_probability = <[u8; 8]>::try_from(v).ok().map(f64::from_be_bytes)
            }
            (IANA | CISCO, CISCO_CLIENT_IPV4) => self.client4 = ipv4(v),
            (IANA | CISCO, CISCO_SERVER_IPV4) => self.server4 = ipv4(v),
            (IANA | CISCO, CISCO_CLIENT_PORT) => self.client_port = u16v(),
            (IANA | CISCO, CISCO_SERVER_PORT) => self.server_port = u16v(),
            (REVERSE, OCTET_DELTA) => self.reverse_octets = uint(),
            (REVERSE, PACKET_DELTA) => self.reverse_packets = uint(),
            (REVERSE, OCTET_TOTAL) => self.reverse_octets = self.reverse_octets.or(uint()),
            (REVERSE, PACKET_TOTAL) => self.reverse_packets = self.reverse_packets.or(uint()),
            _ => {}
        }
    }

    /// The sampling rate the record's own fields state, if any:
    /// `samplingInterval`/`samplerRandomInterval` (1 in N),
    /// `samplingPacketInterval` + `samplingPacketSpace` (N consecutive
    /// packets metered out of N + space), `samplingSize` out of
    /// `samplingPopulation`, or 1 / `samplingProbability`.
    pub(crate) fn sampling_rate(&self) -> Option<u32> {
        let rate = if let Some(n) = self.sampling_interval {
            n
        } else if let Some(i) = self.packet_interval {
            match self.packet_space {
                Some(space) if i > 0 => i.saturating_add(space) / i,
                _ => i,
            }
        } else if let (Some(size), Some(pop)) = (self.sampling_size, self.sampling_population) {
            if size == 0 {
                return None;
            }
            pop / size
        } else if let Some(p) = self.sampling_probability {
            if !(p > 0.0 && p <= 1.0) {
                return None;
            }
            (1.0 / p).round() as u64
        } else {
            return None;
        };
        (rate > 0).then(|| u32::try_from(rate).unwrap_or(u32::MAX))
    }

    /// Whether the record has a source and a destination address.
    pub(crate) fn has_addresses(&self) -> bool {
        (self.src4.is_some() || self.src6.is_some() || self.client4.is_some())
            && (self.dst4.is_some() || self.dst6.is_some() || self.server4.is_some())
    }

    /// The record as a flow, or `None` when it has no source or destination
    /// address (options-like records in data sets).
    pub(crate) fn flow(&self, base: &TimeBase) -> Option<Flow> {
        let cisco = self.src4.is_none() && self.src6.is_none();
        let src = match (self.src4, self.src6, self.client4) {
            (Some(a), _, _) => IpAddr::V4(a),
            (None, Some(a), _) => IpAddr::V6(a),
            (None, None, Some(a)) => IpAddr::V4(a),
            _ => return None,
        };
        let dst = match (self.dst4, self.dst6, self.server4) {
            (Some(a), _, _) => IpAddr::V4(a),
            (None, Some(a), _) => IpAddr::V6(a),
            (None, None, Some(a)) => IpAddr::V4(a),
            _ => return None,
        };
        let (src_port, dst_port) = if cisco {
            (
                self.src_port.or(self.client_port).unwrap_or(0),
                self.dst_port.or(self.server_port).unwrap_or(0),
            )
        } else {
            (self.src_port.unwrap_or(0), self.dst_port.unwrap_or(0))
        };

        // Forward counters, most specific first; NSEL-style initiator
        // counters make the source the initiator and the responder counters
        // the reverse direction.
        let forward_packets = self.packets.or(self.packets_total).or(self.post_packets);
        let forward_octets = self.octets.or(self.octets_total).or(self.post_octets);
        let nsel = forward_packets.is_none()
            && forward_octets.is_none()
            && (self.initiator_packets.is_some() || self.initiator_octets.is_some());
        let (packets, bytes, reverse_packets, reverse_bytes) = if nsel {
            (
                self.initiator_packets.unwrap_or(0),
                self.initiator_octets.unwrap_or(0),
                self.responder_packets.or(self.responder_octets.map(|_| 0)),
                self.responder_octets.or(self.responder_packets.map(|_| 0)),
            )
        } else {
            (
                forward_packets.unwrap_or(0),
                forward_octets.unwrap_or(0),
                self.reverse_packets.or(self.reverse_octets.map(|_| 0)),
                self.reverse_octets.or(self.reverse_packets.map(|_| 0)),
            )
        };

        let direction = match self.biflow_direction {
            Some(1) => Some(DirectionHint::SourceInitiated),
            Some(2) => Some(DirectionHint::DestinationInitiated),
            _ => None,
        }
        .or_else(|| {
            let client = IpAddr::V4(self.client4?);
            if client == src {
                Some(DirectionHint::SourceInitiated)
            } else if client == dst {
                Some(DirectionHint::DestinationInitiated)
            } else {
                None
            }
        })
        .or(nsel.then_some(DirectionHint::SourceInitiated))
        .or(match self.flow_direction {
            Some(0) => Some(DirectionHint::Ingress),
            Some(1) => Some(DirectionHint::Egress),
            _ => None,
        });

        let (start_ns, end_ns) = self.times(base);
        Some(Flow {
            src,
            dst,
            src_port,
            dst_port,
            proto: self.proto.unwrap_or(0),
            packets,
            bytes,
            reverse_packets,
            reverse_bytes,
            start_ns,
            end_ns,
            tcp_flags: self.tcp_flags.unwrap_or(0),
            direction,
        })
    }

    /// Start and end in Unix nanoseconds: absolute timestamps if present,
    /// else microseconds before the export time, else uptimes (against the
    /// NetFlow v9 header's uptime, or the IPFIX exporter's init time), else
    /// the export time itself.
    fn times(&self, base: &TimeBase) -> (i64, i64) {
        let relative = |uptime: Option<u32>| {
            let uptime = uptime?;
            if let Some(now_uptime) = base.sys_uptime_ms {
                Some(time::from_uptime(base.export_ns, now_uptime, uptime))
            } else {
                let init_ms = i64::try_from(base.system_init_ms?).ok()?;
                Some(
                    init_ms
                        .saturating_add(i64::from(uptime))
                        .saturating_mul(1_000_000),
                )
            }
        };
        let delta = |us: Option<u64>| {
            let us = i64::try_from(us?).ok()?;
            Some(base.export_ns.saturating_sub(us.saturating_mul(1000)))
        };
        let start = self
            .start_abs_ns
            .or_else(|| delta(self.start_delta_us))
            .or_else(|| relative(self.start_uptime_ms));
        let end = self
            .end_abs_ns
            .or_else(|| delta(self.end_delta_us))
            .or_else(|| relative(self.end_uptime_ms));
        let (start, end) = match (start, end) {
            (Some(s), Some(e)) => (s, e),
            (Some(s), None) => (s, base.export_ns.max(s)),
            (None, Some(e)) => (e, e),
            (None, None) => (base.export_ns, base.export_ns),
        };
        (start, end.max(start))
    }
}

fn secs_ns(v: &[u8]) -> Option<i64> {
    let s = i64::try_from(be_uint(v)?).ok()?;
    Some(time::unix_ns(s, 0))
}

fn millis_ns(v: &[u8]) -> Option<i64> {
    let ms = i64::try_from(be_uint(v)?).ok()?;
    Some(ms.saturating_mul(1_000_000))
}

/// An NTP timestamp element; `micros` for the microsecond elements, whose
/// fraction is only precise to the microsecond (RFC 7011 6.1.9).
fn ntp_ns(v: &[u8], micros: bool) -> Option<i64> {
    let b: [u8; 8] = v.try_into().ok()?;
    let secs = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let frac = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    Some(time::from_ntp(secs, frac, micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> TimeBase {
        TimeBase {
            export_ns: 1_000 * time::NANOS_PER_SEC,
            sys_uptime_ms: Some(50_000),
            system_init_ms: None,
        }
    }

    #[test]
    fn known_list_and_matcher_agree() {
        for ie in KNOWN {
            assert!(is_known(*ie), "{ie:?}");
        }
        let mut f = Fields::default();
        for ie in KNOWN {
            // Every known element is accepted by `set` without effect on
            // unrelated fields when its value is empty.
            f.set(*ie, &[]);
        }
        assert!(!is_known(Ie { pen: 12345, id: 1 }));
        assert!(!is_known(Ie { pen: IANA, id: 3 }));
    }

    #[test]
    fn ipv4_record_with_uptimes() {
        let mut f = Fields::default();
        f.set(
            Ie {
                pen: IANA,
                id: SRC_IPV4,
            },
            &[10, 0, 0, 1],
        );
        f.set(
            Ie {
                pen: IANA,
                id: DST_IPV4,
            },
            &[10, 0, 0, 2],
        );
        f.set(
            Ie {
                pen: IANA,
                id: SRC_PORT,
            },
            &[0xc3, 0x50],
        );
        f.set(
            Ie {
                pen: IANA,
                id: DST_PORT,
            },
            &[0, 53],
        );
        f.set(
            Ie {
                pen: IANA,
                id: PROTOCOL,
            },
            &[17],
        );
        f.set(
            Ie {
                pen: IANA,
                id: PACKET_DELTA,
            },
            &[0, 0, 0, 3],
        );
        f.set(
            Ie {
                pen: IANA,
                id: OCTET_DELTA,
            },
            &[0, 0, 0, 0, 0, 0, 1, 0],
        );
        f.set(
            Ie {
                pen: IANA,
                id: START_UPTIME,
            },
            &40_000u32.to_be_bytes(),
        );
        f.set(
            Ie {
                pen: IANA,
                id: END_UPTIME,
            },
            &45_000u32.to_be_bytes(),
        );
        let flow = f.flow(&base()).unwrap();
        assert_eq!(flow.src, IpAddr::from([10, 0, 0, 1]));
        assert_eq!((flow.src_port, flow.dst_port, flow.proto), (50000, 53, 17));
        assert_eq!((flow.packets, flow.bytes), (3, 256));
        assert_eq!(flow.start_ns, 990 * time::NANOS_PER_SEC);
        assert_eq!(flow.end_ns, 995 * time::NANOS_PER_SEC);
        assert_eq!(flow.direction, None);
    }

    #[test]
    fn cisco_client_server_and_initiator_counters() {
        let mut f = Fields::default();
        f.set(
            Ie {
                pen: CISCO,
                id: CISCO_CLIENT_IPV4,
            },
            &[192, 0, 2, 1],
        );
        f.set(
            Ie {
                pen: CISCO,
                id: CISCO_SERVER_IPV4,
            },
            &[198, 51, 100, 7],
        );
        f.set(
            Ie {
                pen: CISCO,
                id: CISCO_SERVER_PORT,
            },
            &[1, 187],
        );
        f.set(
            Ie {
                pen: IANA,
                id: PROTOCOL,
            },
            &[6],
        );
        f.set(
            Ie {
                pen: IANA,
                id: INITIATOR_OCTETS,
            },
            &719u64.to_be_bytes(),
        );
        f.set(
            Ie {
                pen: IANA,
                id: INITIATOR_PACKETS,
            },
            &5u64.to_be_bytes(),
        );
        f.set(
            Ie {
                pen: IANA,
                id: RESPONDER_OCTETS,
            },
            &100u64.to_be_bytes(),
        );
        f.set(
            Ie {
                pen: IANA,
                id: RESPONDER_PACKETS,
            },
            &2u64.to_be_bytes(),
        );
        let flow = f.flow(&base()).unwrap();
        assert_eq!(flow.src, IpAddr::from([192, 0, 2, 1]));
        assert_eq!(flow.dst, IpAddr::from([198, 51, 100, 7]));
        assert_eq!((flow.src_port, flow.dst_port), (0, 443));
        assert_eq!((flow.packets, flow.bytes), (5, 719));
        assert_eq!(
            (flow.reverse_packets, flow.reverse_bytes),
            (Some(2), Some(100))
        );
        assert_eq!(flow.direction, Some(DirectionHint::SourceInitiated));
    }

    #[test]
    fn biflow_direction_beats_flow_direction() {
        let mut f = Fields::default();
        f.set(
            Ie {
                pen: IANA,
                id: SRC_IPV6,
            },
            &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        );
        f.set(
            Ie {
                pen: IANA,
                id: DST_IPV6,
            },
            &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        );
        f.set(
            Ie {
                pen: IANA,
                id: FLOW_DIRECTION,
            },
            &[1],
        );
        assert_eq!(
            f.flow(&base()).unwrap().direction,
            Some(DirectionHint::Egress)
        );
        f.set(
            Ie {
                pen: IANA,
                id: BIFLOW_DIRECTION,
            },
            &[2],
        );
        assert_eq!(
            f.flow(&base()).unwrap().direction,
            Some(DirectionHint::DestinationInitiated)
        );
        f.set(
            Ie {
                pen: REVERSE,
                id: PACKET_DELTA,
            },
            &[0, 0, 0, 9],
        );
        let flow = f.flow(&base()).unwrap();
        assert_eq!(
            (flow.reverse_packets, flow.reverse_bytes),
            (Some(9), Some(0))
        );
    }

    #[test]
    fn sampling_rates() {
        let rate = |pairs: &[(u16, &[u8])]| {
            let mut f = Fields::default();
            for (id, v) in pairs {
                f.set(Ie { pen: IANA, id: *id }, v);
            }
            f.sampling_rate()
        };
        assert_eq!(rate(&[]), None);
        assert_eq!(rate(&[(SAMPLING_INTERVAL, &[0, 0, 0, 100])]), Some(100));
        assert_eq!(
            rate(&[(SAMPLER_RANDOM_INTERVAL, &[0, 0, 4, 0])]),
            Some(1024)
        );
        assert_eq!(
            rate(&[
                (SAMPLING_PACKET_INTERVAL, &[0, 0, 0, 1]),
                (SAMPLING_PACKET_SPACE, &[0, 0, 0, 99])
            ]),
            Some(100)
        );
        assert_eq!(
            rate(&[(SAMPLING_PACKET_INTERVAL, &[0, 0, 0, 64])]),
            Some(64)
        );
        assert_eq!(
            rate(&[
                (SAMPLING_SIZE, &[0, 1]),
                (SAMPLING_POPULATION, &[0, 0, 0, 50])
            ]),
            Some(50)
        );
        assert_eq!(
            rate(&[(SAMPLING_PROBABILITY, &0.001f64.to_be_bytes())]),
            Some(1000)
        );
        assert_eq!(rate(&[(SAMPLING_INTERVAL, &[0])]), None);
    }

    #[test]
    fn times_absolute_delta_and_fallbacks() {
        let mut f = Fields::default();
        f.set(
            Ie {
                pen: IANA,
                id: START_MILLIS,
            },
            &1_500_000u64.to_be_bytes(),
        );
        f.set(
            Ie {
                pen: IANA,
                id: END_DELTA_MICROS,
            },
            &[0, 0, 0, 10],
        );
        let b = base();
        assert_eq!(
            f.times(&b),
            (1_500 * time::NANOS_PER_SEC, 1_500 * time::NANOS_PER_SEC)
        );
        let g = Fields::default();
        assert_eq!(g.times(&b), (b.export_ns, b.export_ns));
        // IPFIX uptimes need the init time; without it the export time stands in.
        let mut h = Fields::default();
        h.set(
            Ie {
                pen: IANA,
                id: START_UPTIME,
            },
            &[0, 0, 0, 10],
        );
        let ipfix = TimeBase {
            sys_uptime_ms: None,
            ..b
        };
        assert_eq!(h.times(&ipfix), (b.export_ns, b.export_ns));
        let ipfix = TimeBase {
            system_init_ms: Some(2_000),
            ..ipfix
        };
        assert_eq!(h.times(&ipfix).0, 2_010 * 1_000_000);
    }
}
