//! Flow table and dependency-edge aggregation for depmap.
//!
//! Decoded packets ([`depmap_wire::Packet`]) go into a [`FlowTable`], which
//! tracks bidirectional flows, decides which side is the client (see
//! [`direction`] and `docs/EDGES.md`), and folds every finished flow into an
//! aggregated dependency [`EdgeKey`] -> [`EdgeStats`] map.
//!
//! This crate does no I/O and never reads a clock: every timestamp is an
//! argument (nanoseconds since the Unix epoch, taken from the packets), so a
//! capture replayed months later ages flows exactly as it did live. Every
//! structure traffic can grow has a named bound ([`FlowConfig::max_flows`],
//! [`FlowConfig::max_fragments`], [`MAX_LISTENERS`]) and a counter for what
//! the bound turned away; nothing is silently dropped.
//!
//! ```
//! use depmap_edges::{FlowConfig, FlowTable};
//! use depmap_wire::{decode, Decoded, LinkType};
//! let mut table = FlowTable::new(FlowConfig::default());
//! let mut frame = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
//! frame.extend_from_slice(&[0xc3, 0x50, 0, 53, 0, 8, 0, 0]);
//! if let Ok(Decoded::Ip(p)) = decode(LinkType::Raw, &frame, 28) {
//!     table.observe(1_700_000_000_000_000_000, &p);
//! }
//! table.finish();
//! let edges = table.take_edges();
//! assert_eq!(edges[0].0.port, 53);
//! assert_eq!(edges[0].1.connections, 1);
//! ```
#![deny(missing_docs)]

pub mod baseline;
pub mod calendar;
pub mod direction;
pub mod flowrec;
mod hugepages;
mod key;
pub mod metrics;
mod model;
pub mod names;
pub mod packets;
pub mod recurrence;
mod table;

pub use model::{
    DayActivity, EdgeKey, EdgeOrigin, EdgeStats, NANOS_PER_DAY, NANOS_PER_HOUR, NANOS_PER_SEC,
};
pub use names::{NameCounters, NameRecord, NameSource, NameTable, MAX_NAMES};
pub use packets::{PacketAggregator, PacketCounters};
pub use table::{FlowConfig, FlowCounters, FlowTable, MAX_LISTENERS};

/// Whether an address is public (not private, loopback, link-local,
/// unique-local, multicast or unspecified).
pub fn is_external(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || (o[0] == 100 && (o[1] & 0xc0) == 64))
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_multicast()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}
