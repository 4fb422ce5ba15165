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
