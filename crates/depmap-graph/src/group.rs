//! Grouped views of a [`Map`]: one node per role, and one node for shared
//! infrastructure, so a map of hundreds of hosts stays readable.
//!
//! [`Map::group`] turns the host map into a [`GroupedMap`], whose nodes are
//! [`GroupNode`]s and whose edges add up the host edges they stand for. Two
//! independent options ([`GroupOptions`]):
//!
//! - **By role** ([`GroupBy::Role`]): every host with a role (from the
//!   inventory, [`Map::set_inventory`]) becomes its role's node. Hosts without
//!   a role stay as themselves: grouping never merges hosts the inventory
//!   does not explain, so they stay visible as work for the inventory (and
//!   their edges are not mistaken for one dependency).
//! - **Shared tier** ([`SharedTier`]): edges to ubiquitous infrastructure
//!   services end at one "shared infrastructure" node. A service is a
//!   server address, port and protocol; it is shared when its port and
//!   protocol are in [`SharedTier::services`] (DNS `udp/53` and `tcp/53`,
//!   NTP `udp/123`, Prometheus node-exporter scrapes `tcp/9100`), or when
//!   more than [`SharedTier::fraction`] of the map's client hosts (hosts
//!   that call anything), and at least [`SharedTier::min_clients`], are its
//!   clients. The rule works on services, not hosts: the database's
//!   `tcp/9100` is monitoring plumbing, its `tcp/5432` is a dependency.
//!
//! Edges between the same two nodes on the same port and protocol are added
//! up (connections, packets, bytes, first and last seen), and remember how
//! many host edges they stand for, their recurrence patterns and, once the
//! map has origins ([`Map::set_origins`]), the union of their sources
//! (sampled if any host edge was). The JSON
//! schema ([`GROUP_JSON_SCHEMA`]) is in `docs/JSON.md`, the rules in
//! `docs/INVENTORY.md`.
//!
//! ```
//! use depmap_edges::{EdgeKey, EdgeStats};
//! use depmap_graph::{GroupBy, GroupOptions, Map, SharedTier};
//! use depmap_model::{Inventory, InventoryEntry};
//! let stats = EdgeStats { connections: 1, client_packets: 1, client_bytes: 60,
//!     server_packets: 1, server_bytes: 90, first_seen: 0, last_seen: 1 };
//! let e = |c: &str, s: &str, port, proto| {
//!     (EdgeKey { client: c.parse().unwrap(), server: s.parse().unwrap(), port, proto }, stats)
//! };
//! let mut map = Map::new(vec![
//!     e("10.0.1.1", "10.0.2.1", 5432, 6),
//!     e("10.0.1.2", "10.0.2.1", 5432, 6),
//!     e("10.0.1.1", "10.0.0.53", 53, 17),
//! ]);
//! map.set_inventory(&Inventory::new(vec![
//!     InventoryEntry::new("10.0.1.0/24".parse()?).with_role("app"),
//!     InventoryEntry::new("10.0.2.1".parse()?).with_role("database"),
//! ]));
//! let grouped = map.group(&GroupOptions { by: GroupBy::Role, shared_tier: Some(SharedTier::default()) });
//! let json: serde_json::Value = serde_json::from_str(&grouped.to_json())?;
//! assert_eq!(json["edges"][0]["client"], "role:app");
//! assert_eq!(json["edges"][0]["server"], "role:database");
//! assert_eq!(json["edges"][0]["connections"], 2);
//! assert_eq!(json["edges"][1]["server"], "shared");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use depmap_edges::{EdgeKey, EdgeOrigin};
use depmap_model::{host_group, host_kind, rfc3339, HostKind};
use serde::Serialize;

use crate::dot::{dot_escape, dot_preamble, labels_text, service_list, write_legend, Legend};
use crate::map::proto_text;
use crate::Map;

/// The grouped JSON export's schema identifier. Its nodes are not all
/// addresses, so it is not `depmap.map/v1`.
pub const GROUP_JSON_SCHEMA: &str = "depmap.groupmap/v1";

/// Services (protocol number, port) that are always shared infrastructure:
/// DNS over UDP and TCP, NTP, and Prometheus node-exporter scrapes.
pub const SHARED_SERVICES: &[(u8, u16)] = &[(17, 53), (6, 53), (17, 123), (6, 9100)];

/// What hosts are grouped by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupBy {
    /// No grouping: one node per host.
    #[default]
    Host,
    /// One node per inventory role; hosts without a role stay as themselves.
    Role,
}

impl GroupBy {
    /// `host` or `role`.
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Host => "host",
            GroupBy::Role => "role",
        }
    }
}

/// Which services are drawn as one shared-infrastructure node (see the
/// module docs for the rule).
#[derive(Clone, Debug, PartialEq)]
pub struct SharedTier {
    /// (protocol number, port) pairs that are always shared.
    pub services: Vec<(u8, u16)>,
    /// A service whose clients are more than this fraction of the map's
    /// client hosts is shared too (0 to 1; 1 or more turns the rule off).
    pub fraction: f64,
    /// ... provided it has at least this many clients, so a map of three
    /// hosts does not call everything shared.
    pub min_clients: usize,
}

impl Default for SharedTier {
    fn default() -> Self {
        SharedTier {
            services: SHARED_SERVICES.to_vec(),
            fraction: 0.8,
            min_clients: 3,
        }
    }
}

/// How to group a map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupOptions {
    /// Host or role nodes.
    pub by: GroupBy,
    /// Draw shared infrastructure as one node.
    pub shared_tier: Option<SharedTier>,
}

/// A node of a grouped map. Sorted roles first, then hosts, then the
/// shared node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupNode {
    /// Every host with this role.
    Role(String),
    /// One host (without a role, or not grouping by role).
    Host(IpAddr),
    /// The servers of shared-infrastructure services.
    Shared,
}

impl GroupNode {
    /// The node's id in JSON and DOT: `role:NAME`, the address, or `shared`.
    pub fn id(&self) -> String {
        match self {
            GroupNode::Role(r) => format!("role:{r}"),
            GroupNode::Host(ip) => ip.to_string(),
            GroupNode::Shared => "shared".to_string(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            GroupNode::Role(_) => "role",
            GroupNode::Host(_) => "host",
            GroupNode::Shared => "shared",
        }
    }
}

#[derive(Default)]
struct NodeData {
    /// Hosts the node stands for (as an endpoint of one of its edges).
    hosts: BTreeSet<IpAddr>,
    /// For the shared node: (server, proto, port) of its services.
    services: BTreeSet<(IpAddr, u8, u16)>,
}

/// Key of a grouped edge: client and server nodes, port, protocol.
type GroupKey = (GroupNode, GroupNode, u16, u8);

/// A map grouped by role and/or with a shared tier. See the module docs.
pub struct GroupedMap<'a> {
    map: &'a Map,
    options: GroupOptions,
    nodes: BTreeMap<GroupNode, NodeData>,
    /// Grouped edge -> indices of the host edges (in [`Map::edges`]).
    edges: BTreeMap<GroupKey, Vec<usize>>,
}

impl Map {
    /// The map grouped as `options` says (see [`crate::group`]).
    pub fn group(&self, options: &GroupOptions) -> GroupedMap<'_> {
        let shared = options
            .shared_tier
            .as_ref()
            .map(|t| self.shared_services(t))
            .unwrap_or_default();
        let node_of = |ip: IpAddr| -> GroupNode {
            match (options.by, self.host_info(ip).and_then(|h| h.role.as_ref())) {
                (GroupBy::Role, Some(role)) => GroupNode::Role(role.clone()),
                _ => GroupNode::Host(ip),
            }
        };
        let mut nodes: BTreeMap<GroupNode, NodeData> = BTreeMap::new();
        let mut edges: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
        for (i, (k, _)) in self.edges.iter().enumerate() {
            let client = node_of(k.client);
            let server = if shared.contains(&(k.server, k.proto, k.port)) {
                let data = nodes.entry(GroupNode::Shared).or_default();
                data.services.insert((k.server, k.proto, k.port));
                GroupNode::Shared
            } else {
                node_of(k.server)
            };
            nodes
                .entry(client.clone())
                .or_default()
                .hosts
                .insert(k.client);
            nodes
                .entry(server.clone())
                .or_default()
                .hosts
                .insert(k.server);
            edges
                .entry((client, server, k.port, k.proto))
                .or_default()
                .push(i);
        }
        GroupedMap {
            map: self,
            options: options.clone(),
            nodes,
            edges,
        }
    }

    /// The (server, proto, port) services the shared tier takes.
    fn shared_services(&self, tier: &SharedTier) -> BTreeSet<(IpAddr, u8, u16)> {
        let client_hosts: BTreeSet<IpAddr> = self.edges.iter().map(|(k, _)| k.client).collect();
        let mut clients: BTreeMap<(IpAddr, u8, u16), BTreeSet<IpAddr>> = BTreeMap::new();
        for (k, _) in &self.edges {
            clients
                .entry((k.server, k.proto, k.port))
                .or_default()
                .insert(k.client);
        }
        let threshold = tier.fraction * client_hosts.len() as f64;
        clients
            .into_iter()
            .filter(|((_, proto, port), c)| {
                tier.services.contains(&(*proto, *port))
                    || (c.len() >= tier.min_clients && c.len() as f64 > threshold)
            })
            .map(|(service, _)| service)
            .collect()
    }
}

#[derive(Serialize)]
struct JsonGroupMap {
    schema: &'static str,
    grouping: JsonGrouping,
    summary: JsonGroupSummary,
    nodes: Vec<JsonGroupNode>,
    edges: Vec<JsonGroupEdge>,
}

#[derive(Serialize)]
struct JsonGrouping {
    by: &'static str,
    shared_tier: Option<JsonSharedTier>,
}

#[derive(Serialize)]
struct JsonSharedTier {
    services: Vec<String>,
    fraction: f64,
    min_clients: usize,
}

#[derive(Serialize)]
struct JsonGroupSummary {
    nodes: usize,
    edges: usize,
    host_edges: usize,
    hosts: usize,
    connections: u64,
    packets: u64,
    bytes: u64,
    first_seen: Option<String>,
    last_seen: Option<String>,
}

#[derive(Serialize)]
struct JsonGroupNode {
    id: String,
    kind: &'static str,
    role: Option<String>,
    hosts: Vec<String>,
    names: Vec<String>,
    labels: BTreeMap<String, String>,
    clients: usize,
    servers: usize,
    serves: Vec<String>,
    services: Vec<String>,
}

#[derive(Serialize)]
struct JsonGroupEdge {
    client: String,
    server: String,
    port: u16,
    proto: String,
    proto_number: u8,
    host_edges: usize,
    client_hosts: usize,
    server_hosts: usize,
    connections: u64,
    packets: u64,
    bytes: u64,
    client_packets: u64,
    client_bytes: u64,
    server_packets: u64,
    server_bytes: u64,
    first_seen: String,
    last_seen: String,
    patterns: Vec<&'static str>,
    next_expected: Option<String>,
    /// The union of the host edges' sources (only once origins are set).
    #[serde(skip_serializing_if = "Option::is_none")]
    sources: Option<&'static [&'static str]>,
    /// Some host edge's figures are sampled estimates (only once origins
    /// are set).
    #[serde(skip_serializing_if = "Option::is_none")]
    sampled: Option<bool>,
}

impl GroupedMap<'_> {
    /// The nodes and the hosts each stands for, sorted.
    pub fn nodes(&self) -> impl Iterator<Item = (&GroupNode, &BTreeSet<IpAddr>)> {
        self.nodes.iter().map(|(n, d)| (n, &d.hosts))
    }

    /// The grouped edges (client node, server node, port, proto) with the
    /// host edges each stands for, sorted.
    pub fn edges(&self) -> impl Iterator<Item = (&GroupNode, &GroupNode, u16, u8, Vec<&EdgeKey>)> {
        self.edges.iter().map(|((c, s, port, proto), list)| {
            let keys = list.iter().map(|&i| &self.map.edges[i].0).collect();
            (c, s, *port, *proto, keys)
        })
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of grouped edges.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// The names of a node's hosts: inventory names and learned names.
    fn names(&self, hosts: &BTreeSet<IpAddr>) -> Vec<String> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for ip in hosts {
            if let Some(n) = self.map.host_info(*ip).and_then(|h| h.name.as_ref()) {
                names.insert(n.clone());
            }
            if let Some(learned) = self.map.names.get(ip) {
                names.extend(learned.iter().cloned());
            }
        }
        names.into_iter().collect()
    }

    /// The labels every one of `hosts` has, with the same value.
    fn common_labels(&self, hosts: &BTreeSet<IpAddr>) -> BTreeMap<String, String> {
        let mut it = hosts
            .iter()
            .map(|ip| self.map.host_info(*ip).map(|h| &h.labels));
        let Some(Some(first)) = it.next() else {
            return BTreeMap::new();
        };
        let mut common = first.clone();
        for labels in it {
            match labels {
                Some(l) => common.retain(|k, v| l.get(k) == Some(v)),
                None => common.clear(),
            }
        }
        common
    }

    fn neighbours(&self, node: &GroupNode) -> (usize, usize) {
        let mut clients = BTreeSet::new();
        let mut servers = BTreeSet::new();
        for (c, s, _, _) in self.edges.keys() {
            if s == node {
                clients.insert(c);
            }
            if c == node {
                servers.insert(s);
            }
        }
        (clients.len(), servers.len())
    }

    fn serves(&self, node: &GroupNode) -> Vec<String> {
        let mut serves: Vec<(u8, u16)> = self
            .edges
            .keys()
            .filter(|(_, s, _, _)| s == node)
            .map(|(_, _, port, proto)| (*proto, *port))
            .collect();
        serves.sort();
        serves.dedup();
        serves
            .into_iter()
            .map(|(proto, port)| format!("{}/{}", proto_text(proto), port))
            .collect()
    }

    /// The grouped JSON export (schema [`GROUP_JSON_SCHEMA`], documented in
    /// `docs/JSON.md`).
    pub fn to_json(&self) -> String {
        let map = self.map;
        let nodes = self
            .nodes
            .iter()
            .map(|(node, data)| {
                let (clients, servers) = self.neighbours(node);
                let role = match node {
                    GroupNode::Role(r) => Some(r.clone()),
                    GroupNode::Host(ip) => map.host_info(*ip).and_then(|h| h.role.clone()),
                    GroupNode::Shared => None,
                };
                JsonGroupNode {
                    id: node.id(),
                    kind: node.kind(),
                    role,
                    hosts: data.hosts.iter().map(IpAddr::to_string).collect(),
                    names: self.names(&data.hosts),
                    labels: self.common_labels(&data.hosts),
                    clients,
                    servers,
                    serves: self.serves(node),
                    services: data
                        .services
                        .iter()
                        .map(|(ip, proto, port)| format!("{ip} {}/{port}", proto_text(*proto)))
                        .collect(),
                }
            })
            .collect();
        let edges = self
            .edges
            .iter()
            .map(|((c, s, port, proto), list)| {
                let stats = list.iter().map(|&i| &map.edges[i].1);
                let sum = |f: fn(&depmap_edges::EdgeStats) -> u64| stats.clone().map(f).sum();
                let mut patterns: Vec<&'static str> = list
                    .iter()
                    .filter_map(|&i| map.recurrence[i].as_ref().map(|r| r.pattern.name()))
                    .collect();
                patterns.sort_unstable();
                patterns.dedup();
                let origin = map.origins().map(|o| {
                    list.iter().fold(EdgeOrigin::default(), |mut acc, &i| {
                        if let Some(e) = o.get(i) {
                            acc.merge(e);
                        }
                        acc
                    })
                });
                let distinct = |f: fn(&EdgeKey) -> IpAddr| {
                    list.iter()
                        .map(|&i| f(&map.edges[i].0))
                        .collect::<BTreeSet<_>>()
                        .len()
                };
                JsonGroupEdge {
                    client: c.id(),
                    server: s.id(),
                    port: *port,
                    proto: proto_text(*proto),
                    proto_number: *proto,
                    host_edges: list.len(),
                    client_hosts: distinct(|k| k.client),
                    server_hosts: distinct(|k| k.server),
                    connections: sum(|s| s.connections),
                    packets: sum(|s| s.packets()),
                    bytes: sum(|s| s.bytes()),
                    client_packets: sum(|s| s.client_packets),
                    client_bytes: sum(|s| s.client_bytes),
                    server_packets: sum(|s| s.server_packets),
                    server_bytes: sum(|s| s.server_bytes),
                    first_seen: rfc3339(stats.clone().map(|s| s.first_seen).min().unwrap_or(0)),
                    last_seen: rfc3339(stats.map(|s| s.last_seen).max().unwrap_or(0)),
                    patterns,
                    next_expected: list
                        .iter()
                        .filter_map(|&i| map.recurrence[i].as_ref().and_then(|r| r.next_expected))
                        .min()
                        .map(rfc3339),
                    sources: origin.map(|o| o.source_names()),
                    sampled: origin.map(|o| o.sampled),
                }
            })
            .collect();
        let all = &map.edges;
        let doc = JsonGroupMap {
            schema: GROUP_JSON_SCHEMA,
            grouping: JsonGrouping {
                by: self.options.by.name(),
                shared_tier: self.options.shared_tier.as_ref().map(|t| JsonSharedTier {
                    services: t
                        .services
                        .iter()
                        .map(|&(proto, port)| format!("{}/{port}", proto_text(proto)))
                        .collect(),
                    fraction: t.fraction,
                    min_clients: t.min_clients,
                }),
            },
            summary: JsonGroupSummary {
                nodes: self.nodes.len(),
                edges: self.edges.len(),
                host_edges: all.len(),
                hosts: map.host_count(),
                connections: all.iter().map(|(_, s)| s.connections).sum(),
                packets: all.iter().map(|(_, s)| s.packets()).sum(),
                bytes: all.iter().map(|(_, s)| s.bytes()).sum(),
                first_seen: all.iter().map(|(_, s)| s.first_seen).min().map(rfc3339),
                last_seen: all.iter().map(|(_, s)| s.last_seen).max().map(rfc3339),
            },
            nodes,
            edges,
        };
        // Serialising plain structs of strings and numbers cannot fail.
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// The grouped Graphviz DOT export: role nodes (their name and host
    /// count), ungrouped hosts in their subnet clusters as in
    /// [`Map::to_dot`], the shared-infrastructure node dashed and grey, and
    /// one arrow per pair of nodes styled as the host map's arrows are (by
    /// the most notable host edge it stands for), with a legend.
    pub fn to_dot(&self) -> String {
        let map = self.map;
        let mut s = String::new();
        let total_conn: u64 = map.edges.iter().map(|(_, st)| st.connections).sum();
        let roles = self
            .nodes
            .keys()
            .filter(|n| matches!(n, GroupNode::Role(_)))
            .count();
        let title = format!(
            "depmap by {}: {} roles and {} other node{} for {} hosts, {} dependencies ({} host edges), {} connections",
            self.options.by.name(),
            roles,
            self.nodes.len() - roles,
            if self.nodes.len() - roles == 1 { "" } else { "s" },
            map.host_count(),
            self.edges.len(),
            map.edges.len(),
            total_conn
        );
        dot_preamble(&mut s, &title, 0.2);
        let mut clusters: BTreeMap<(HostKind, String), Vec<IpAddr>> = BTreeMap::new();
        for (node, data) in &self.nodes {
            let id = dot_escape(&node.id());
            match node {
                GroupNode::Role(role) => {
                    let mut label = dot_escape(role);
                    if let [ip] = data.hosts.iter().collect::<Vec<_>>()[..] {
                        let _ = write!(label, "\\n{ip}");
                        if let Some(name) = map.host_info(*ip).and_then(|h| h.name.as_ref()) {
                            let _ = write!(label, "\\n{}", dot_escape(name));
                        }
                    } else {
                        let _ = write!(label, "\\n{} hosts", data.hosts.len());
                    }
                    let labels = self.common_labels(&data.hosts);
                    if !labels.is_empty() {
                        let _ = write!(label, "\\n{}", dot_escape(&labels_text(&labels)));
                    }
                    let _ = writeln!(
                        s,
                        "  \"{id}\" [label=\"{label}\", penwidth=1.5, fillcolor=\"#dde8f7\"];"
                    );
                }
                GroupNode::Host(ip) => clusters
                    .entry((host_kind(*ip), host_group(*ip)))
                    .or_default()
                    .push(*ip),
                GroupNode::Shared => {
                    let list = service_list(
                        data.services
                            .iter()
                            .map(|(_, p, port)| (*p, *port))
                            .collect(),
                        6,
                    );
                    let servers: BTreeSet<IpAddr> =
                        data.services.iter().map(|(ip, _, _)| *ip).collect();
                    let _ = writeln!(
                        s,
                        "  \"{id}\" [label=\"shared infrastructure\\n{list}\\n{} servers\", \
                         style=\"rounded,filled,dashed\", fillcolor=\"#f2f2f2\", color=\"#888888\"];",
                        servers.len()
                    );
                }
            }
        }
        for (i, ((kind, name), hosts)) in clusters.iter().enumerate() {
            let (fill, border) = match kind {
                HostKind::Internal => ("#f7f9fc", "#9fb3c8"),
                HostKind::External => ("#fff8ef", "#d9a55b"),
                HostKind::Multicast => ("#f4f4f4", "#aaaaaa"),
            };
            let _ = writeln!(s, "  subgraph cluster_{i} {{");
            let _ = writeln!(
                s,
                "    label=\"{name}\"; style=\"rounded,filled\"; fillcolor=\"{fill}\"; color=\"{border}\"; fontsize=10;"
            );
            for ip in hosts {
                let _ = writeln!(s, "    \"{ip}\" [label=\"{}\"];", map.host_label(*ip));
            }
            let _ = writeln!(s, "  }}");
        }
        let mut pairs: BTreeMap<(&GroupNode, &GroupNode), Vec<usize>> = BTreeMap::new();
        for ((c, sv, _, _), list) in &self.edges {
            pairs.entry((c, sv)).or_default().extend(list);
        }
        let mut used = Legend::default();
        for ((c, sv), mut list) in pairs {
            list.sort_unstable();
            let extra = (list.len() > 1).then(|| format!("{} host edges", list.len()));
            let attrs = map.arrow_attrs(&list, extra.as_deref(), &mut used);
            let _ = writeln!(
                s,
                "  \"{}\" -> \"{}\" [{attrs}];",
                dot_escape(&c.id()),
                dot_escape(&sv.id())
            );
        }
        write_legend(&mut s, &used);
        let _ = writeln!(s, "}}");
        s
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use depmap_edges::EdgeStats;
    use depmap_model::{Inventory, InventoryEntry};

    fn e(c: &str, s: &str, port: u16, proto: u8, conns: u64) -> (EdgeKey, EdgeStats) {
        (
            EdgeKey {
                client: c.parse().unwrap(),
                server: s.parse().unwrap(),
                port,
                proto,
            },
            EdgeStats {
                connections: conns,
                client_packets: conns * 2,
                client_bytes: conns * 100,
                server_packets: conns * 3,
                server_bytes: conns * 1000,
                first_seen: 1_700_000_000_000_000_000 + conns as i64,
                last_seen: 1_700_000_060_000_000_000 + conns as i64,
            },
        )
    }

    /// Three workstations, two app servers, a database, DNS, NTP, a
    /// monitoring host scraping everyone, an unassigned host.
    fn company() -> Map {
        let mut edges = Vec::new();
        for ws in ["10.1.0.1", "10.1.0.2", "10.1.0.3"] {
            edges.push(e(ws, "10.2.0.1", 443, 6, 10));
            edges.push(e(ws, "10.2.0.2", 443, 6, 5));
            edges.push(e(ws, "10.0.0.53", 53, 17, 7));
            edges.push(e(ws, "10.0.0.123", 123, 17, 1));
        }
        for app in ["10.2.0.1", "10.2.0.2"] {
            edges.push(e(app, "10.3.0.1", 5432, 6, 20));
            edges.push(e(app, "10.0.0.53", 53, 17, 3));
        }
        for srv in ["10.2.0.1", "10.2.0.2", "10.3.0.1", "10.0.0.53"] {
            edges.push(e("10.0.0.90", srv, 9100, 6, 48));
        }
        edges.push(e("10.9.9.9", "10.3.0.1", 5432, 6, 1));
        let mut map = Map::new(edges);
        map.set_inventory(&Inventory::new(vec![
            InventoryEntry::new("10.1.0.0/24".parse().unwrap())
                .with_role("workstation")
                .with_label("env", "office"),
            InventoryEntry::new("10.2.0.0/24".parse().unwrap())
                .with_role("app-server")
                .with_label("env", "prod")
                .with_label("app", "shop"),
            InventoryEntry::new("10.2.0.2".parse().unwrap()).with_label("app", "other"),
            InventoryEntry::new("10.3.0.1".parse().unwrap())
                .with_role("database")
                .with_name("db.example"),
            InventoryEntry::new("10.0.0.53".parse().unwrap()).with_role("dns"),
            InventoryEntry::new("10.0.0.123".parse().unwrap()).with_role("ntp"),
            InventoryEntry::new("10.0.0.90".parse().unwrap()).with_role("monitoring"),
        ]));
        map
    }

    fn json(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap()
    }

    fn edge<'a>(v: &'a serde_json::Value, c: &str, s: &str, port: u16) -> &'a serde_json::Value {
        v["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["client"] == c && e["server"] == s && e["port"] == port)
            .unwrap_or_else(|| panic!("no edge {c} -> {s}:{port}"))
    }

    #[test]
    fn by_role_sums_figures_and_keeps_ports() {
        let map = company();
        let g = map.group(&GroupOptions {
            by: GroupBy::Role,
            shared_tier: None,
        });
        let v = json(&g.to_json());
        assert_eq!(v["schema"], GROUP_JSON_SCHEMA);
        assert_eq!(v["grouping"]["by"], "role");
        assert!(v["grouping"]["shared_tier"].is_null());
        let web = edge(&v, "role:workstation", "role:app-server", 443);
        assert_eq!(web["host_edges"], 6);
        assert_eq!(web["client_hosts"], 3);
        assert_eq!(web["server_hosts"], 2);
        assert_eq!(web["connections"], 3 * 15);
        assert_eq!(web["packets"], 3 * 15 * 5);
        assert_eq!(web["bytes"], 3 * 15 * 1100);
        assert_eq!(web["proto"], "tcp");
        let dns = edge(&v, "role:workstation", "role:dns", 53);
        assert_eq!(
            (dns["proto"].as_str(), dns["connections"].as_u64()),
            (Some("udp"), Some(21))
        );
        // The unassigned host stays as itself.
        let lone = edge(&v, "10.9.9.9", "role:database", 5432);
        assert_eq!(lone["host_edges"], 1);
        let nodes = v["nodes"].as_array().unwrap();
        let node = |id: &str| nodes.iter().find(|n| n["id"] == id).unwrap();
        assert_eq!(node("10.9.9.9")["kind"], "host");
        assert!(node("10.9.9.9")["role"].is_null());
        let apps = node("role:app-server");
        assert_eq!(apps["kind"], "role");
        assert_eq!(apps["hosts"], serde_json::json!(["10.2.0.1", "10.2.0.2"]));
        // Only labels every host shares.
        assert_eq!(apps["labels"], serde_json::json!({"env": "prod"}));
        assert_eq!(node("role:database")["names"][0], "db.example");
        assert_eq!(
            node("role:database")["serves"],
            serde_json::json!(["tcp/5432", "tcp/9100"])
        );
        // Figures are conserved.
        let total: u64 = v["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["connections"].as_u64().unwrap())
            .sum();
        assert_eq!(total, v["summary"]["connections"].as_u64().unwrap());
        assert_eq!(v["summary"]["host_edges"], map.edges().len());
        assert_eq!(v["summary"]["hosts"], map.host_count());
        // Roles first, then hosts; sorted.
        let ids: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [
                "role:app-server",
                "role:database",
                "role:dns",
                "role:monitoring",
                "role:ntp",
                "role:workstation",
                "10.9.9.9"
            ]
        );
        let dot = g.to_dot();
        assert!(
            dot.contains("\"role:workstation\" -> \"role:app-server\""),
            "{dot}"
        );
        assert!(dot.contains("database\\n10.3.0.1\\ndb.example"), "{dot}");
        assert!(dot.contains("workstation\\n3 hosts\\nenv=office"), "{dot}");
        assert!(dot.contains("6 host edges"), "{dot}");
        assert!(dot.contains("\"10.9.9.9\" [label=\"10.9.9.9\"]"), "{dot}");
    }

    #[test]
    fn shared_tier_takes_dns_ntp_and_scrapes() {
        let map = company();
        let g = map.group(&GroupOptions {
            by: GroupBy::Role,
            shared_tier: Some(SharedTier::default()),
        });
        let v = json(&g.to_json());
        assert_eq!(
            v["grouping"]["shared_tier"]["services"],
            serde_json::json!(["udp/53", "tcp/53", "udp/123", "tcp/9100"])
        );
        let dns = edge(&v, "role:workstation", "shared", 53);
        assert_eq!(dns["connections"], 21);
        assert_eq!(edge(&v, "role:monitoring", "shared", 9100)["host_edges"], 4);
        assert_eq!(edge(&v, "role:workstation", "shared", 123)["proto"], "udp");
        // The database's 5432 is not shared; nothing else points at dns or ntp.
        edge(&v, "role:app-server", "role:database", 5432);
        let nodes = v["nodes"].as_array().unwrap();
        assert!(!nodes
            .iter()
            .any(|n| n["id"] == "role:dns" || n["id"] == "role:ntp"));
        let shared = nodes.iter().find(|n| n["id"] == "shared").unwrap();
        assert_eq!(shared["kind"], "shared");
        assert!(shared["services"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("10.0.0.53 udp/53")));
        assert_eq!(shared["services"].as_array().unwrap().len(), 6);
        let dot = g.to_dot();
        assert!(
            dot.contains("shared infrastructure\\nudp/53, udp/123, tcp/9100\\n5 servers"),
            "{dot}"
        );
        assert!(dot.contains("\"role:monitoring\" -> \"shared\""), "{dot}");
    }

    #[test]
    fn shared_tier_fraction_rule_and_host_grouping() {
        let map = company();
        // 7 client hosts. At 0.4 (more than 2.8 clients) every service with
        // 3 or more clients is shared; at 0.5 (more than 3.5) only DNS (5).
        let tier = |fraction| SharedTier {
            services: vec![],
            fraction,
            min_clients: 3,
        };
        let shared = |fraction| -> Vec<String> {
            let g = map.group(&GroupOptions {
                by: GroupBy::Host,
                shared_tier: Some(tier(fraction)),
            });
            let v = json(&g.to_json());
            assert_eq!(v["grouping"]["by"], "host");
            v["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["id"] == "shared")
                .map(|n| {
                    n["services"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(
            shared(0.4),
            [
                "10.0.0.53 udp/53",
                "10.0.0.123 udp/123",
                "10.2.0.1 tcp/443",
                "10.2.0.2 tcp/443",
                "10.3.0.1 tcp/5432"
            ]
        );
        assert_eq!(shared(0.5), ["10.0.0.53 udp/53"]);
        assert!(shared(0.75).is_empty());
        let g = map.group(&GroupOptions {
            by: GroupBy::Host,
            shared_tier: Some(tier(0.4)),
        });
        let v = json(&g.to_json());
        edge(&v, "10.1.0.1", "shared", 443);
        edge(&v, "10.0.0.90", "10.2.0.1", 9100);
        // min_clients keeps small services out whatever the fraction.
        let g = map.group(&GroupOptions {
            by: GroupBy::Host,
            shared_tier: Some(SharedTier {
                services: vec![],
                fraction: 0.0,
                min_clients: 6,
            }),
        });
        assert!(!g.nodes().any(|(n, _)| *n == GroupNode::Shared));
        // Without grouping or sharing, the grouped map is the host map.
        let g = map.group(&GroupOptions::default());
        assert_eq!(g.edge_count(), map.edges().len());
        assert_eq!(g.node_count(), map.host_count());
    }

    #[test]
    fn grouped_edges_take_the_union_of_their_origins() {
        let mut map = company();
        let key = |c: &str, s: &str, port| EdgeKey {
            client: c.parse().unwrap(),
            server: s.parse().unwrap(),
            port,
            proto: 6,
        };
        let packets = EdgeOrigin {
            packets: true,
            ..EdgeOrigin::default()
        };
        let mut origins: Vec<(EdgeKey, EdgeOrigin)> =
            map.edges().iter().map(|(k, _)| (*k, packets)).collect();
        // One workstation's traffic to each app server came from flow
        // exports, sampled to one of them.
        for (k, o) in &mut origins {
            if *k == key("10.1.0.1", "10.2.0.1", 443) {
                *o = EdgeOrigin {
                    packets: false,
                    flows: true,
                    sampled: true,
                };
            } else if *k == key("10.1.0.2", "10.2.0.2", 443) {
                o.flows = true;
            }
        }
        let options = GroupOptions {
            by: GroupBy::Role,
            shared_tier: Some(SharedTier::default()),
        };
        // Without origins the fields are absent.
        let v = json(&map.group(&options).to_json());
        let web = edge(&v, "role:workstation", "role:app-server", 443);
        assert!(web.get("sources").is_none() && web.get("sampled").is_none());

        map.set_origins(&origins);
        let g = map.group(&options);
        let v = json(&g.to_json());
        let web = edge(&v, "role:workstation", "role:app-server", 443);
        assert_eq!(web["host_edges"], 6);
        assert_eq!(web["sources"], serde_json::json!(["packets", "flows"]));
        assert_eq!(web["sampled"], true);
        let db = edge(&v, "role:app-server", "role:database", 5432);
        assert_eq!(db["sources"], serde_json::json!(["packets"]));
        assert_eq!(db["sampled"], false);
        let dot = g.to_dot();
        let arrow = dot
            .lines()
            .find(|l| l.contains("\"role:workstation\" -> \"role:app-server\""))
            .unwrap();
        assert!(arrow.contains("\\n~45 conn"), "{arrow}");
        let arrow = dot
            .lines()
            .find(|l| l.contains("\"role:app-server\" -> \"role:database\""))
            .unwrap();
        assert!(!arrow.contains('~'), "{arrow}");
        assert!(dot.contains("estimated from sampled flow records"), "{dot}");
    }

    #[test]
    fn role_names_are_escaped_in_dot() {
        let mut map = Map::new(vec![e("10.0.0.1", "10.0.0.2", 80, 6, 1)]);
        let mut roles = BTreeMap::new();
        roles.insert("10.0.0.1".parse().unwrap(), "we\"ird".to_string());
        map.set_roles(roles);
        let g = map.group(&GroupOptions {
            by: GroupBy::Role,
            shared_tier: None,
        });
        let dot = g.to_dot();
        assert!(dot.contains("\"role:we\\\"ird\" -> \"10.0.0.2\""), "{dot}");
    }
}
