//! The edge model: what depmap stores about one dependency.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Nanoseconds in a second; timestamps are `i64` nanoseconds since the epoch.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;
/// Nanoseconds in an hour.
pub const NANOS_PER_HOUR: i64 = 3_600 * NANOS_PER_SEC;
/// Nanoseconds in a day.
pub const NANOS_PER_DAY: i64 = 24 * NANOS_PER_HOUR;

/// One edge's activity on one UTC day: which hours it was active, and its
/// figures that day. This is what lets depmap tell a daily job from a
/// monthly one; it costs one small row per edge per active day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayActivity {
    /// Days since the Unix epoch (UTC).
    pub day: i32,
    /// Active hours: bit `h` set when a packet was seen between h:00 and h:59 UTC.
    pub hours: u32,
    /// Connections that started that day.
    pub connections: u64,
    /// Packets that day, both directions.
    pub packets: u64,
    /// IP bytes that day, both directions.
    pub bytes: u64,
}

/// A dependency: `client` talks to `server` on `port` over `proto`.
/// Protocols without ports use port 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EdgeKey {
    /// The side that initiates (see `docs/EDGES.md` for the rule).
    pub client: IpAddr,
    /// The side that serves.
    pub server: IpAddr,
    /// The server's port (0 for protocols without ports).
    pub port: u16,
    /// IP protocol number.
    pub proto: u8,
}

impl EdgeKey {
    /// A key that orders edges exactly as `EdgeKey`'s `Ord` does (IPv4
    /// before IPv6, then by address, port, protocol) but compares as plain
    /// integers. Sorting tens of thousands of edges by the derived `Ord`
    /// (enum matches and byte-array compares per address) was a visible
    /// part of every ingest's commit.
    pub fn sort_key(&self) -> (u8, u128, u8, u128, u32) {
        fn addr(ip: IpAddr) -> (u8, u128) {
            match ip {
                IpAddr::V4(v4) => (4, u128::from(u32::from(v4))),
                IpAddr::V6(v6) => (6, u128::from(v6)),
            }
        }
        let (cf, c) = addr(self.client);
        let (sf, s) = addr(self.server);
        (
            cf,
            c,
            sf,
            s,
            u32::from(self.port) << 8 | u32::from(self.proto),
        )
    }
}

/// Sorts `(edge, value)` pairs by edge, in `EdgeKey` order.
pub(crate) fn sort_by_edge<T>(v: &mut [(EdgeKey, T)]) {
    v.sort_unstable_by_key(|(k, _)| k.sort_key());
}

/// Sorts per-day activity by edge (in `EdgeKey` order), then day.
pub(crate) fn sort_by_edge_day(v: &mut [(EdgeKey, DayActivity)]) {
    v.sort_unstable_by_key(|(k, a)| (k.sort_key(), a.day));
}

/// What depmap knows about an edge. Adding two of these gives the figures of
/// the union of their traffic ([`EdgeStats::merge`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeStats {
    /// Connections: TCP connection attempts (or connections first seen
    /// mid-stream), UDP and other flows split by the idle timeout.
    pub connections: u64,
    /// Packets sent by the client.
    pub client_packets: u64,
    /// IP-layer bytes sent by the client.
    pub client_bytes: u64,
    /// Packets sent by the server.
    pub server_packets: u64,
    /// IP-layer bytes sent by the server.
    pub server_bytes: u64,
    /// Timestamp of the first packet (ns since the epoch).
    pub first_seen: i64,
    /// Timestamp of the last packet (ns since the epoch).
    pub last_seen: i64,
}

impl Default for EdgeStats {
    fn default() -> Self {
        EdgeStats {
            connections: 0,
            client_packets: 0,
            client_bytes: 0,
            server_packets: 0,
            server_bytes: 0,
            first_seen: i64::MAX,
            last_seen: i64::MIN,
        }
    }
}

impl EdgeStats {
    /// Adds `other`'s figures to these (saturating: flow exports carry
    /// 64-bit counters that a broken or hostile exporter can fill).
    pub fn merge(&mut self, other: &EdgeStats) {
        self.connections = self.connections.saturating_add(other.connections);
        self.client_packets = self.client_packets.saturating_add(other.client_packets);
        self.client_bytes = self.client_bytes.saturating_add(other.client_bytes);
        self.server_packets = self.server_packets.saturating_add(other.server_packets);
        self.server_bytes = self.server_bytes.saturating_add(other.server_bytes);
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
    }

    /// Packets in both directions.
    pub fn packets(&self) -> u64 {
        self.client_packets.saturating_add(self.server_packets)
    }

    /// IP-layer bytes in both directions.
    pub fn bytes(&self) -> u64 {
        self.client_bytes.saturating_add(self.server_bytes)
    }
}

/// Where an edge's figures came from: captured packets, flow-export
/// records, or both, and whether any of them are estimates scaled up from
/// sampled flow records. The store keeps one per edge; the map exports show
/// it so measured counts can be told from estimates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EdgeOrigin {
    /// Some figures came from captured packets.
    pub packets: bool,
    /// Some figures came from flow-export records.
    pub flows: bool,
    /// Some figures are estimates scaled from sampled flow records.
    pub sampled: bool,
}

impl EdgeOrigin {
    /// The origin of the union of two edges' traffic: the sources of
    /// either, and sampled if either was.
    pub fn merge(&mut self, other: &EdgeOrigin) {
        self.packets |= other.packets;
        self.flows |= other.flows;
        self.sampled |= other.sampled;
    }

    /// The sources as export names: `["packets"]`, `["flows"]`,
    /// `["packets", "flows"]`, or none when neither is known.
    pub fn source_names(&self) -> &'static [&'static str] {
        match (self.packets, self.flows) {
            (true, true) => &["packets", "flows"],
            (true, false) => &["packets"],
            (false, true) => &["flows"],
            (false, false) => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
            // Small IPv6 values too, so ::1-like addresses meet IPv4 ones.
            (any::<bool>(), any::<u128>()).prop_map(|(small, v)| {
                IpAddr::V6(Ipv6Addr::from(if small { v >> 96 } else { v }))
            }),
        ]
    }

    fn edge() -> impl Strategy<Value = EdgeKey> {
        (addr(), addr(), any::<u16>(), any::<u8>()).prop_map(|(client, server, port, proto)| {
            EdgeKey {
                client,
                server,
                port,
                proto,
            }
        })
    }

    proptest! {
        #[test]
        fn sort_key_orders_as_ord(a in edge(), b in edge()) {
            prop_assert_eq!(a.sort_key().cmp(&b.sort_key()), a.cmp(&b));
        }
    }
}
