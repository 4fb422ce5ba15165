//! The JSON export of a [`Map`] (schema [`JSON_SCHEMA`], documented in
//! `docs/JSON.md`).

use std::collections::BTreeMap;

use depmap_edges::calendar::WEEKDAYS;
use depmap_edges::recurrence::MonthDay;
use depmap_model::{host_group, host_kind, rfc3339, HostKind};
use petgraph::graph::NodeIndex;
use petgraph::Direction;
use serde::Serialize;

use crate::map::proto_text;
use crate::Map;

/// The JSON export's schema identifier; bumped on incompatible changes.
pub const JSON_SCHEMA: &str = "depmap.map/v1";

#[derive(Serialize)]
struct JsonMap {
    schema: &'static str,
    summary: JsonSummary,
    nodes: Vec<JsonNode>,
    edges: Vec<JsonEdge>,
}

#[derive(Serialize)]
struct JsonSummary {
    nodes: usize,
    edges: usize,
    connections: u64,
    packets: u64,
    bytes: u64,
    first_seen: Option<String>,
    last_seen: Option<String>,
}

#[derive(Serialize)]
struct JsonNode {
    ip: String,
    kind: HostKind,
    group: String,
    /// Distinct hosts that are clients of this one.
    clients: usize,
    /// Distinct hosts this one is a client of.
    servers: usize,
    /// Ports this host serves, as `proto/port`.
    serves: Vec<String>,
    /// Names learned for this address (DNS, TLS SNI, HTTP Host).
    names: Vec<String>,
    /// Role from the inventory, if any.
    role: Option<String>,
    /// Labels from the inventory.
    labels: BTreeMap<String, String>,
    /// Name from the inventory, if any.
    inventory_name: Option<String>,
}

#[derive(Serialize)]
struct JsonEdge {
    client: String,
    server: String,
    port: u16,
    proto: String,
    proto_number: u8,
    connections: u64,
    packets: u64,
    bytes: u64,
    client_packets: u64,
    client_bytes: u64,
    server_packets: u64,
    server_bytes: u64,
    first_seen: String,
    last_seen: String,
    /// Recurrence pattern, when activity is known.
    pattern: Option<&'static str>,
    /// For stopped edges: the pattern before they stopped.
    pattern_was: Option<&'static str>,
    /// Typical hour (UTC) of periodic edges.
    hour: Option<u32>,
    /// Weekday of weekly edges.
    weekday: Option<&'static str>,
    /// Day of the month of monthly edges: a number, or "last".
    day_of_month: Option<serde_json::Value>,
    /// Occurrences seen / expected by the pattern.
    occurrences_seen: Option<u32>,
    occurrences_expected: Option<u32>,
    /// Next expected occurrence (RFC 3339) of periodic edges.
    next_expected: Option<String>,
    /// Days with traffic.
    active_days: u32,
    /// Names of the server.
    names: Vec<String>,
    /// Where the figures came from: `packets` and/or `flows` (only once
    /// origins are set).
    #[serde(skip_serializing_if = "Option::is_none")]
    sources: Option<&'static [&'static str]>,
    /// Some figures are estimates from sampled flow records (only once
    /// origins are set).
    #[serde(skip_serializing_if = "Option::is_none")]
    sampled: Option<bool>,
}

impl Map {
    fn distinct_neighbors(&self, n: NodeIndex, dir: Direction) -> usize {
        let mut v: Vec<NodeIndex> = self.graph.neighbors_directed(n, dir).collect();
        v.sort();
        v.dedup();
        v.len()
    }

    /// The JSON export (schema [`JSON_SCHEMA`], documented in `docs/JSON.md`).
    pub fn to_json(&self) -> String {
        let nodes = self
            .graph
            .node_indices()
            .map(|n| {
                let ip = self.graph[n];
                let mut serves: Vec<(u8, u16)> = self
                    .graph
                    .edges_directed(n, Direction::Incoming)
                    .map(|e| {
                        let k = &self.edges[*e.weight()].0;
                        (k.proto, k.port)
                    })
                    .collect();
                serves.sort();
                serves.dedup();
                JsonNode {
                    ip: ip.to_string(),
                    kind: host_kind(ip),
                    group: host_group(ip),
                    clients: self.distinct_neighbors(n, Direction::Incoming),
                    servers: self.distinct_neighbors(n, Direction::Outgoing),
                    serves: serves
                        .into_iter()
                        .map(|(p, port)| format!("{}/{}", proto_text(p), port))
                        .collect(),
                    names: self.names.get(&ip).cloned().unwrap_or_default(),
                    role: self.host_info(ip).and_then(|h| h.role.clone()),
                    labels: self
                        .host_info(ip)
                        .map(|h| h.labels.clone())
                        .unwrap_or_default(),
                    inventory_name: self.host_info(ip).and_then(|h| h.name.clone()),
                }
            })
            .collect();
        let edges = self
            .edges
            .iter()
            .enumerate()
            .map(|(i, (k, s))| {
                let r = self.recurrence[i].as_ref();
                JsonEdge {
                    client: k.client.to_string(),
                    server: k.server.to_string(),
                    port: k.port,
                    proto: proto_text(k.proto),
                    proto_number: k.proto,
                    connections: s.connections,
                    packets: s.packets(),
                    bytes: s.bytes(),
                    client_packets: s.client_packets,
                    client_bytes: s.client_bytes,
                    server_packets: s.server_packets,
                    server_bytes: s.server_bytes,
                    first_seen: rfc3339(s.first_seen),
                    last_seen: rfc3339(s.last_seen),
                    pattern: r.map(|r| r.pattern.name()),
                    pattern_was: r.and_then(|r| r.was).map(|p| p.name()),
                    hour: r.and_then(|r| r.hour),
                    weekday: r.and_then(|r| r.weekday).map(|w| WEEKDAYS[w as usize % 7]),
                    day_of_month: r.and_then(|r| r.day_of_month).map(|d| match d {
                        MonthDay::Day(n) => serde_json::Value::from(n),
                        MonthDay::Last => serde_json::Value::from("last"),
                    }),
                    occurrences_seen: r.map(|r| r.occurrences_seen),
                    occurrences_expected: r.map(|r| r.occurrences_expected),
                    next_expected: r.and_then(|r| r.next_expected).map(rfc3339),
                    active_days: self.active_days[i],
                    names: self.names.get(&k.server).cloned().unwrap_or_default(),
                    sources: self.origin(i).map(|o| o.source_names()),
                    sampled: self.origin(i).map(|o| o.sampled),
                }
            })
            .collect();
        let first = self.edges.iter().map(|(_, s)| s.first_seen).min();
        let last = self.edges.iter().map(|(_, s)| s.last_seen).max();
        let doc = JsonMap {
            schema: JSON_SCHEMA,
            summary: JsonSummary {
                nodes: self.graph.node_count(),
                edges: self.edges.len(),
                connections: self.edges.iter().map(|(_, s)| s.connections).sum(),
                packets: self.edges.iter().map(|(_, s)| s.packets()).sum(),
                bytes: self.edges.iter().map(|(_, s)| s.bytes()).sum(),
                first_seen: first.map(rfc3339),
                last_seen: last.map(rfc3339),
            },
            nodes,
            edges,
        };
        // Serialising plain structs of strings and numbers cannot fail.
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }
}
