//! depmap's map exports: a snapshot of stored edges becomes a [`Map`]
//! (a petgraph directed graph of hosts), which renders as JSON
//! ([`Map::to_json`]), Graphviz DOT ([`Map::to_dot`]) or CSV
//! ([`Map::write_csv`]).
//!
//! - [`Map`] (`map.rs`): the hosts and edges, sorted, with what is known
//!   beyond the figures: each edge's recurrence and the names of addresses
//!   ([`Map::annotate`]), where its figures came from ([`Map::set_origins`]),
//!   and the names, roles and labels a [`depmap_model::Inventory`] gives
//!   hosts ([`Map::set_inventory`]).
//! - [`Map::load`] (`load.rs`): the one place a store's edges, activity,
//!   names and origins become a map, through the store's streaming reads.
//! - The exports, one module per format: `json.rs` (schema [`JSON_SCHEMA`],
//!   documented in `docs/JSON.md`), `dot.rs`, `csv.rs`.
//! - [`GroupedMap`] ([`group`]): the map drawn with one node per role and/or
//!   one shared-infrastructure node ([`Map::group`], [`GroupOptions`]).
//!
//! This crate does not touch SQLite or files and reads no clock: it takes
//! edges, or a store to read them from, and returns text. Output order is
//! deterministic (hosts and edges sorted), so a diff of two exports is a
//! real change.
//!
//! It depends on `depmap-store` for the [`MapStore`](depmap_store::MapStore)
//! trait alone, so that reading a map is written once for every backend
//! (SQLite today, PostgreSQL for the fleet hub, a fake in tests) and every
//! caller (`export`, `demo`, later the web map); it names no backend and
//! opens nothing. The trait shares its crate with the SQLite backend, so
//! rusqlite is still compiled in; a feature or a crate of its own for the
//! trait would cut that without changing this crate.
//!
//! ```
//! use depmap_edges::{EdgeKey, EdgeStats};
//! use depmap_graph::Map;
//! let key = EdgeKey { client: "10.0.0.1".parse()?, server: "10.0.0.2".parse()?, port: 5432, proto: 6 };
//! let stats = EdgeStats { connections: 3, client_packets: 10, client_bytes: 900,
//!     server_packets: 8, server_bytes: 4000, first_seen: 0, last_seen: 1_000_000_000 };
//! let map = Map::new(vec![(key, stats)]);
//! assert!(map.to_dot().contains("tcp/5432"));
//! let json: serde_json::Value = serde_json::from_str(&map.to_json())?;
//! assert_eq!(json["edges"][0]["proto"], "tcp");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod csv;
mod dot;
pub mod group;
mod json;
mod load;
mod map;
#[cfg(test)]
mod tests;

pub use group::{GroupBy, GroupOptions, GroupedMap, SharedTier, GROUP_JSON_SCHEMA};
pub use json::JSON_SCHEMA;
pub use map::Map;
