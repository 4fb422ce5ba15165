//! depmap's map exports: a snapshot of stored edges becomes a [`Map`]
//! (a petgraph directed graph of hosts), which renders as JSON
//! ([`Map::to_json`]), Graphviz DOT ([`Map::to_dot`]) or CSV
//! ([`Map::write_csv`]). An [`Inventory`] gives hosts names, roles and
//! labels ([`Map::set_inventory`]), and [`Map::group`] draws the map with one
//! node per role and/or one shared-infrastructure node ([`GroupedMap`]).
//!
//! This crate does not touch SQLite or files: it takes edges and returns
//! text. Output order is deterministic (hosts and edges sorted), so a diff of
//! two exports is a real change. The JSON schema is in `docs/JSON.md`.
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

pub mod group;

pub use group::{GroupBy, GroupOptions, GroupedMap, SharedTier, GROUP_JSON_SCHEMA};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::IpAddr;

use depmap_edges::calendar::WEEKDAYS;
use depmap_edges::recurrence::{classify, MonthDay, Recurrence, RecurrenceConfig};
use depmap_edges::{DayActivity, EdgeKey, EdgeOrigin, EdgeStats, NameRecord, NANOS_PER_DAY};
use depmap_model::{host_group, host_kind, rfc3339, HostInfo, HostKind, Inventory, Proto};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use serde::Serialize;

/// The JSON export's schema identifier; bumped on incompatible changes.
pub const JSON_SCHEMA: &str = "depmap.map/v1";

/// A dependency map: hosts as nodes, one graph edge per stored edge.
pub struct Map {
    graph: DiGraph<IpAddr, usize>,
    edges: Vec<(EdgeKey, EdgeStats)>,
    /// Recurrence of each edge (same order as `edges`), once annotated.
    recurrence: Vec<Option<Recurrence>>,
    /// Active days of each edge.
    active_days: Vec<u32>,
    /// Names per address.
    names: BTreeMap<IpAddr, Vec<String>>,
    /// Name, role and labels per address (from an inventory).
    hosts: BTreeMap<IpAddr, HostInfo>,
    /// Edges first seen on or after this day are drawn as new.
    new_since_day: Option<i32>,
    /// Where each edge's figures came from (same order as `edges`), once
    /// [`Map::set_origins`] was called; the exports omit it otherwise.
    origins: Option<Vec<EdgeOrigin>>,
}

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
    /// Builds the map from edges (any order; they are sorted).
    pub fn new(mut edges: Vec<(EdgeKey, EdgeStats)>) -> Map {
        edges.sort_by_key(|e| e.0);
        let mut hosts: Vec<IpAddr> = edges
            .iter()
            .flat_map(|(k, _)| [k.client, k.server])
            .collect();
        hosts.sort();
        hosts.dedup();
        let mut graph = DiGraph::with_capacity(hosts.len(), edges.len());
        for h in &hosts {
            graph.add_node(*h);
        }
        let idx = |ip: &IpAddr| NodeIndex::new(hosts.binary_search(ip).unwrap_or(0));
        for (i, (k, _)) in edges.iter().enumerate() {
            graph.add_edge(idx(&k.client), idx(&k.server), i);
        }
        let n = edges.len();
        Map {
            graph,
            edges,
            recurrence: vec![None; n],
            active_days: vec![0; n],
            names: BTreeMap::new(),
            hosts: BTreeMap::new(),
            new_since_day: None,
            origins: None,
        }
    }

    /// Sets where each edge's figures came from (captured packets, flow
    /// exports, sampled estimates; the store's `edge_origins`), in any
    /// order. From then on the JSON and CSV exports carry `sources` and
    /// `sampled` for every edge and the DOT picture marks estimated figures
    /// with `~`. An edge missing from `origins` has no known source
    /// (`sources: []`); a key that is not an edge of the map is ignored.
    pub fn set_origins(&mut self, origins: &[(EdgeKey, EdgeOrigin)]) {
        let by_key: BTreeMap<EdgeKey, EdgeOrigin> = origins.iter().copied().collect();
        self.origins = Some(
            self.edges
                .iter()
                .map(|(k, _)| by_key.get(k).copied().unwrap_or_default())
                .collect(),
        );
    }

    /// Where each edge's figures came from, in [`Map::edges`] order (None
    /// before [`Map::set_origins`]).
    pub fn origins(&self) -> Option<&[EdgeOrigin]> {
        self.origins.as_deref()
    }

    /// The origin of edge `i`, if origins are set.
    fn origin(&self, i: usize) -> Option<EdgeOrigin> {
        self.origins.as_ref().and_then(|o| o.get(i).copied())
    }

    /// Adds what the store knows beyond the figures: each edge's recurrence
    /// (from its per-day activity, classified against the end of the data),
    /// and the names learned for addresses. Edges first seen in the last
    /// `new_days` days of data are marked new in the DOT picture.
    pub fn annotate(
        &mut self,
        activity: &[(EdgeKey, DayActivity)],
        names: &[NameRecord],
        new_days: i32,
    ) {
        let end = activity.iter().map(|(_, a)| a.day).max().unwrap_or(0);
        let mut by_edge: BTreeMap<EdgeKey, Vec<DayActivity>> = BTreeMap::new();
        for (k, a) in activity {
            by_edge.entry(*k).or_default().push(*a);
        }
        let cfg = RecurrenceConfig::default();
        for (i, (k, _)) in self.edges.iter().enumerate() {
            if let Some(days) = by_edge.get(k) {
                self.active_days[i] = days.len() as u32;
                self.recurrence[i] = Some(classify(days, end, &cfg));
            }
        }
        for n in names {
            let list = self.names.entry(n.address).or_default();
            if !list.contains(&n.name) {
                list.push(n.name.clone());
            }
        }
        for list in self.names.values_mut() {
            list.sort();
        }
        if !activity.is_empty() {
            self.new_since_day = Some(end - new_days + 1);
        }
    }

    /// Sets the role of addresses, replacing what an inventory said about
    /// them (their inventory names and labels are dropped).
    pub fn set_roles(&mut self, roles: BTreeMap<IpAddr, String>) {
        self.hosts = roles
            .into_iter()
            .map(|(ip, role)| {
                let info = HostInfo {
                    role: Some(role),
                    ..HostInfo::default()
                };
                (ip, info)
            })
            .collect();
    }

    /// Looks every host up in `inventory` (longest prefix match, see
    /// [`inventory`]), replacing earlier roles.
    pub fn set_inventory(&mut self, inventory: &Inventory) {
        self.hosts = self
            .graph
            .node_weights()
            .map(|ip| (*ip, inventory.lookup(*ip)))
            .filter(|(_, info)| !info.is_empty())
            .collect();
    }

    /// What the inventory says about `ip`, if anything.
    pub fn host_info(&self, ip: IpAddr) -> Option<&HostInfo> {
        self.hosts.get(&ip)
    }

    /// Every host, sorted.
    pub fn hosts(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.graph.node_weights().copied()
    }

    /// The recurrence of each edge, in [`Map::edges`] order (None before
    /// [`Map::annotate`] or for edges without activity).
    pub fn recurrence(&self) -> &[Option<Recurrence>] {
        &self.recurrence
    }

    /// The edges, sorted.
    pub fn edges(&self) -> &[(EdgeKey, EdgeStats)] {
        &self.edges
    }

    /// Number of hosts.
    pub fn host_count(&self) -> usize {
        self.graph.node_count()
    }

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

    /// The CSV export: one row per edge, with a header row. Once origins
    /// are set ([`Map::set_origins`]) two more columns end each row:
    /// `sources` (`packets`, `flows` or `packets+flows`) and `sampled`
    /// (`true` or `false`).
    pub fn write_csv(&self, mut out: impl io::Write) -> io::Result<()> {
        write!(
            out,
            "client,server,port,proto,connections,packets,bytes,client_packets,client_bytes,\
             server_packets,server_bytes,first_seen,last_seen"
        )?;
        if self.origins.is_some() {
            write!(out, ",sources,sampled")?;
        }
        writeln!(out)?;
        for (i, (k, s)) in self.edges.iter().enumerate() {
            write!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                k.client,
                k.server,
                k.port,
                proto_text(k.proto),
                s.connections,
                s.packets(),
                s.bytes(),
                s.client_packets,
                s.client_bytes,
                s.server_packets,
                s.server_bytes,
                rfc3339(s.first_seen),
                rfc3339(s.last_seen)
            )?;
            if let Some(o) = self.origin(i) {
                write!(out, ",{},{}", o.source_names().join("+"), o.sampled)?;
            }
            writeln!(out)?;
        }
        Ok(())
    }

    /// The Graphviz DOT export.
    ///
    /// Hosts are grouped in clusters (internal /24 or /64 subnets, one for
    /// external hosts, one for multicast/broadcast); the layout runs left to
    /// right so clients sit left of their servers. The edges between one
    /// client and one server are drawn as one arrow labelled with every
    /// `proto/port` (up to four, then "+N more") and the connection count,
    /// and its width grows with the logarithm of the bytes, so a map of
    /// hundreds of edges stays legible.
    pub fn to_dot(&self) -> String {
        let mut s = String::new();
        let total_conn: u64 = self.edges.iter().map(|(_, st)| st.connections).sum();
        let title = format!(
            "depmap: {} hosts, {} dependencies, {} connections",
            self.graph.node_count(),
            self.edges.len(),
            total_conn
        );
        dot_preamble(&mut s, &title, 0.15);

        let mut groups: BTreeMap<(HostKind, String), Vec<NodeIndex>> = BTreeMap::new();
        for n in self.graph.node_indices() {
            let ip = self.graph[n];
            groups
                .entry((host_kind(ip), host_group(ip)))
                .or_default()
                .push(n);
        }
        for (i, ((kind, name), nodes)) in groups.iter().enumerate() {
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
            for &n in nodes {
                let ip = self.graph[n];
                let serves = self
                    .graph
                    .edges_directed(n, Direction::Incoming)
                    .next()
                    .is_some();
                let attrs = if serves {
                    ""
                } else {
                    // Pure clients: lighter, so servers stand out.
                    ", fillcolor=\"#ffffff\""
                };
                let label = self.host_label(ip);
                let _ = writeln!(s, "    \"{ip}\" [label=\"{label}\"{attrs}];");
            }
            let _ = writeln!(s, "  }}");
        }

        // One arrow per (client, server) pair, styled by its most notable edge.
        let mut pairs: BTreeMap<(IpAddr, IpAddr), Vec<usize>> = BTreeMap::new();
        for (i, e) in self.edges.iter().enumerate() {
            pairs.entry((e.0.client, e.0.server)).or_default().push(i);
        }
        let mut used = Legend::default();
        for ((c, sv), list) in pairs {
            let attrs = self.arrow_attrs(&list, None, &mut used);
            let _ = writeln!(s, "  \"{c}\" -> \"{sv}\" [{attrs}];");
        }
        write_legend(&mut s, &used);
        let _ = writeln!(s, "}}");
        s
    }

    /// The attributes of one arrow standing for edges `list`: a label with
    /// their ports, the first recurrence note, `extra` and the connection
    /// count (after a `~` when some figures are estimates from sampled flow
    /// records); a width growing with the logarithm of the bytes; the style
    /// of the most notable edge (recorded in `used` for the legend).
    fn arrow_attrs(&self, list: &[usize], extra: Option<&str>, used: &mut Legend) -> String {
        let mut label = self.ports_label(list);
        let conns: u64 = list.iter().map(|&i| self.edges[i].1.connections).sum();
        let bytes: u64 = list.iter().map(|&i| self.edges[i].1.bytes()).sum();
        let width = 0.6 + (bytes.max(1) as f64).log10() / 3.0;
        let style = list
            .iter()
            .map(|&i| self.edge_style(i))
            .max()
            .unwrap_or(EdgeStyle::Plain);
        used.styles[style as usize] = true;
        let sampled = list
            .iter()
            .any(|&i| self.origin(i).is_some_and(|o| o.sampled));
        used.sampled |= sampled;
        if let Some(note) = list.iter().find_map(|&i| self.recurrence_note(i)) {
            let _ = write!(label, "\\n{note}");
        }
        if let Some(extra) = extra {
            let _ = write!(label, "\\n{}", dot_escape(extra));
        }
        format!(
            "label=\"{label}\\n{}{}\", penwidth={width:.2}{}",
            if sampled { "~" } else { "" },
            human_count(conns, "conn"),
            style.attrs()
        )
    }

    /// A host's DOT label: its address, inventory name, up to two learned
    /// names, its role and labels.
    fn host_label(&self, ip: IpAddr) -> String {
        let mut label = ip.to_string();
        let info = self.hosts.get(&ip);
        let learned = self.names.get(&ip);
        if let Some(name) = info.and_then(|h| h.name.as_ref()) {
            if !learned.is_some_and(|l| l.contains(name)) {
                let _ = write!(label, "\\n{}", dot_escape(name));
            }
        }
        if let Some(names) = learned {
            for n in names.iter().take(2) {
                let _ = write!(label, "\\n{}", dot_escape(n));
            }
            if names.len() > 2 {
                let _ = write!(label, "\\n+{} more names", names.len() - 2);
            }
        }
        if let Some(info) = info {
            if let Some(role) = &info.role {
                let _ = write!(label, "\\n[{}]", dot_escape(role));
            }
            if !info.labels.is_empty() {
                let _ = write!(label, "\\n{}", dot_escape(&labels_text(&info.labels)));
            }
        }
        label
    }

    /// `tcp/80, tcp/443 +2 more`: the distinct `proto/port` of edges
    /// (indices in sorted order), up to four.
    fn ports_label(&self, list: &[usize]) -> String {
        service_list(
            list.iter()
                .map(|&i| (self.edges[i].0.proto, self.edges[i].0.port))
                .collect(),
            4,
        )
    }
}

/// `tcp/443`, or `icmp` for protocols without ports.
/// The protocol's export name: `tcp`, `udp`, `icmp`, ... or its number.
pub(crate) fn proto_text(proto: u8) -> String {
    Proto(proto).to_string()
}

fn service_name(proto: u8, port: u16) -> String {
    if port == 0 {
        proto_text(proto)
    } else {
        format!("{}/{}", proto_text(proto), port)
    }
}

/// `app=erp env=prod`.
fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a DOT picture's legend explains: the line styles in use (indexed
/// by [`EdgeStyle`]) and whether some figures are marked as estimates.
#[derive(Default)]
pub(crate) struct Legend {
    pub(crate) styles: [bool; 6],
    pub(crate) sampled: bool,
}

/// A legend of the line styles in use and of the `~` mark, if any arrow has
/// it.
fn write_legend(s: &mut String, used: &Legend) {
    {
        if used.styles.iter().skip(1).any(|u| *u) || used.sampled {
            let _ = writeln!(s, "  subgraph cluster_legend {{");
            let _ = writeln!(
                s,
                "    label=\"legend\"; style=\"rounded\"; color=\"#cccccc\"; fontsize=10;"
            );
            let _ = writeln!(
                s,
                "    node [shape=plaintext, style=\"\", label=\"\", width=0.1, height=0.1];"
            );
            for st in EdgeStyle::ALL {
                if !used.styles[st as usize] {
                    continue;
                }
                let id = st as usize;
                let _ = writeln!(s, "    legend_{id}a; legend_{id}b;");
                let _ = writeln!(
                    s,
                    "    legend_{id}a -> legend_{id}b [label=\"{}\"{}];",
                    st.name(),
                    st.attrs()
                );
            }
            if used.sampled {
                let _ = writeln!(s, "    legend_sa; legend_sb;");
                let _ = writeln!(
                    s,
                    "    legend_sa -> legend_sb [label=\"~N conn: estimated from sampled flow records\"];"
                );
            }
            let _ = writeln!(s, "  }}");
        }
    }
}

/// How an arrow is drawn, least to most notable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum EdgeStyle {
    Plain = 0,
    OneOff = 1,
    Periodic = 2,
    Stopped = 3,
    New = 4,
    NewPeriodic = 5,
}

impl EdgeStyle {
    const ALL: [EdgeStyle; 6] = [
        EdgeStyle::Plain,
        EdgeStyle::OneOff,
        EdgeStyle::Periodic,
        EdgeStyle::Stopped,
        EdgeStyle::New,
        EdgeStyle::NewPeriodic,
    ];

    fn attrs(self) -> &'static str {
        match self {
            EdgeStyle::Plain => "",
            EdgeStyle::OneOff => ", style=dotted, color=\"#8a8a8a\"",
            EdgeStyle::Periodic => ", style=dashed, color=\"#b5651d\", fontcolor=\"#b5651d\"",
            EdgeStyle::Stopped => ", style=dotted, color=\"#bbbbbb\", fontcolor=\"#999999\"",
            EdgeStyle::New => ", color=\"#d62728\", fontcolor=\"#d62728\"",
            EdgeStyle::NewPeriodic => ", style=dashed, color=\"#d62728\", fontcolor=\"#d62728\"",
        }
    }

    fn name(self) -> &'static str {
        match self {
            EdgeStyle::Plain => "continuous / business hours",
            EdgeStyle::OneOff => "one-off",
            EdgeStyle::Periodic => "periodic (daily, weekly, monthly)",
            EdgeStyle::Stopped => "stopped",
            EdgeStyle::New => "new (recent days)",
            EdgeStyle::NewPeriodic => "new and periodic",
        }
    }
}

/// The start of every depmap DOT picture: the graph, node and edge styles
/// shared by the host map and the grouped map, and its title.
pub(crate) fn dot_preamble(s: &mut String, title: &str, nodesep: f64) {
    let _ = writeln!(s, "digraph depmap {{");
    let _ = writeln!(
        s,
        "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, nodesep={nodesep}, ranksep=1.4, \
         newrank=true, labelloc=t, label=\"{}\"];",
        dot_escape(title)
    );
    let _ = writeln!(
        s,
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", color=\"#5b7db1\", \
         fontname=\"Helvetica\", fontsize=10, height=0.3];"
    );
    let _ = writeln!(
        s,
        "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#5b7db1\", fontcolor=\"#33475b\", arrowsize=0.6];"
    );
}

/// `tcp/80, tcp/443, +2 more`: distinct (protocol, port) pairs sorted by
/// port, at most `max` of them named.
pub(crate) fn service_list(mut services: Vec<(u8, u16)>, max: usize) -> String {
    services.sort_by_key(|(proto, port)| (*port, *proto));
    services.dedup();
    let more = services.len().saturating_sub(max);
    services.truncate(max);
    let mut list = services
        .iter()
        .map(|&(proto, port)| service_name(proto, port))
        .collect::<Vec<_>>()
        .join(", ");
    if more > 0 {
        let _ = write!(list, " +{more} more");
    }
    list
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl Map {
    fn edge_style(&self, i: usize) -> EdgeStyle {
        use depmap_edges::recurrence::Pattern;
        let r = self.recurrence[i].as_ref();
        let first_day = self.edges[i].1.first_seen.div_euclid(NANOS_PER_DAY) as i32;
        let new = self.new_since_day.is_some_and(|d| first_day >= d);
        let periodic = r.is_some_and(|r| r.pattern.is_periodic());
        match (new, r.map(|r| r.pattern)) {
            (true, _) if periodic => EdgeStyle::NewPeriodic,
            (true, _) => EdgeStyle::New,
            (false, Some(Pattern::Stopped)) => EdgeStyle::Stopped,
            (false, _) if periodic => EdgeStyle::Periodic,
            (false, Some(Pattern::OneOff)) => EdgeStyle::OneOff,
            _ => EdgeStyle::Plain,
        }
    }

    /// "monthly, day 1 06:00" and the like, for periodic edges.
    fn recurrence_note(&self, i: usize) -> Option<String> {
        use depmap_edges::recurrence::Pattern;
        let r = self.recurrence[i].as_ref()?;
        let hour = r.hour.map(|h| format!(" {h:02}:00")).unwrap_or_default();
        Some(match r.pattern {
            Pattern::Daily => format!("daily{hour}"),
            Pattern::Weekly => format!(
                "weekly, {}{hour}",
                WEEKDAYS[r.weekday.unwrap_or(0) as usize % 7]
            ),
            Pattern::Monthly => match r.day_of_month {
                Some(MonthDay::Last) => format!("monthly, last day{hour}"),
                Some(MonthDay::Day(d)) => format!("monthly, day {d}{hour}"),
                None => "monthly".to_string(),
            },
            Pattern::Stopped => format!("stopped (was {})", r.was.map_or("?", |p| p.name())),
            Pattern::OneOff => "one-off".to_string(),
            _ => return None,
        })
    }
}

fn human_count(n: u64, unit: &str) -> String {
    match n {
        0..=9_999 => format!("{n} {unit}"),
        10_000..=9_999_999 => format!("{:.1}k {unit}", n as f64 / 1e3),
        _ => format!("{:.1}M {unit}", n as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use depmap_model::InventoryEntry;

    fn e(c: &str, s: &str, port: u16, proto: u8) -> (EdgeKey, EdgeStats) {
        (
            EdgeKey {
                client: c.parse().unwrap(),
                server: s.parse().unwrap(),
                port,
                proto,
            },
            EdgeStats {
                connections: 2,
                client_packets: 3,
                client_bytes: 300,
                server_packets: 4,
                server_bytes: 4000,
                first_seen: 1_700_000_000_000_000_000,
                last_seen: 1_700_000_060_000_000_000,
            },
        )
    }

    #[test]
    fn json_has_the_documented_fields() {
        let m = Map::new(vec![
            e("10.0.0.1", "8.8.8.8", 53, 17),
            e("10.0.0.1", "10.0.0.2", 443, 6),
        ]);
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(v["schema"], JSON_SCHEMA);
        let edge = &v["edges"][0];
        for f in [
            "client",
            "server",
            "port",
            "proto",
            "connections",
            "packets",
            "bytes",
            "client_packets",
            "client_bytes",
            "server_packets",
            "server_bytes",
            "first_seen",
            "last_seen",
        ] {
            assert!(!edge[f].is_null(), "missing {f}");
        }
        assert_eq!(edge["first_seen"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(v["nodes"].as_array().unwrap().len(), 3);
        let dns = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["ip"] == "8.8.8.8")
            .unwrap();
        assert_eq!(dns["kind"], "external");
        assert_eq!(dns["serves"][0], "udp/53");
    }

    #[test]
    fn origins_appear_in_json_csv_and_dot_once_set() {
        let mut m = Map::new(vec![
            e("10.0.0.1", "10.0.0.2", 443, 6),
            e("10.0.0.1", "8.8.8.8", 53, 17),
        ]);
        let plain_csv = {
            let mut out = Vec::new();
            m.write_csv(&mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(plain_csv.lines().next().unwrap().ends_with(",last_seen"));
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        assert!(v["edges"][0].get("sources").is_none());
        assert!(v["edges"][0].get("sampled").is_none());
        assert!(!m.to_dot().contains('~'));

        let k = |port: u16| m.edges().iter().find(|e| e.0.port == port).unwrap().0;
        // The DNS edge's figures are sampled estimates; the other edge is
        // measured by both packets and unsampled flow records.
        let (tls, dns) = (k(443), k(53));
        m.set_origins(&[
            (
                dns,
                EdgeOrigin {
                    packets: false,
                    flows: true,
                    sampled: true,
                },
            ),
            (
                tls,
                EdgeOrigin {
                    packets: true,
                    flows: true,
                    sampled: false,
                },
            ),
        ]);
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        // Sorted by address: 8.8.8.8 before 10.0.0.2.
        assert_eq!(v["edges"][0]["server"], "8.8.8.8");
        assert_eq!(v["edges"][0]["sources"], serde_json::json!(["flows"]));
        assert_eq!(v["edges"][0]["sampled"], true);
        assert_eq!(
            v["edges"][1]["sources"],
            serde_json::json!(["packets", "flows"])
        );
        assert_eq!(v["edges"][1]["sampled"], false);
        let mut out = Vec::new();
        m.write_csv(&mut out).unwrap();
        let csv = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].ends_with(",last_seen,sources,sampled"));
        assert!(lines[1].starts_with("10.0.0.1,8.8.8.8,53,udp,"), "{csv}");
        assert!(lines[1].ends_with(",flows,true"), "{csv}");
        assert!(lines[2].ends_with(",packets+flows,false"), "{csv}");
        let dot = m.to_dot();
        assert!(dot.contains("udp/53\\n~2 conn"), "{dot}");
        assert!(dot.contains("tcp/443\\n2 conn"), "{dot}");
        assert!(dot.contains("estimated from sampled flow records"), "{dot}");
    }

    #[test]
    fn dot_merges_parallel_edges_and_clusters_subnets() {
        let m = Map::new(vec![
            e("10.0.0.1", "10.0.1.2", 443, 6),
            e("10.0.0.1", "10.0.1.2", 80, 6),
            e("10.0.0.1", "224.0.0.251", 5353, 17),
        ]);
        let dot = m.to_dot();
        assert!(dot.contains("tcp/80, tcp/443"));
        assert!(dot.contains("label=\"10.0.1.0/24\""));
        assert!(dot.contains("multicast"));
        assert_eq!(dot.matches(" -> ").count(), 2);
    }

    #[test]
    fn inventory_gives_nodes_role_labels_and_name() {
        let mut m = Map::new(vec![
            e("10.0.0.1", "10.0.1.2", 5432, 6),
            e("10.0.0.1", "8.8.8.8", 53, 17),
        ]);
        m.set_inventory(&Inventory::new(vec![
            InventoryEntry::new("10.0.1.0/24".parse().unwrap())
                .with_role("database")
                .with_label("env", "prod"),
            InventoryEntry::new("10.0.1.2".parse().unwrap())
                .with_name("db1.example")
                .with_label("app", "erp"),
        ]));
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        let node = |ip: &str| {
            v["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["ip"] == ip)
                .unwrap()
                .clone()
        };
        let db = node("10.0.1.2");
        assert_eq!(db["role"], "database");
        assert_eq!(db["inventory_name"], "db1.example");
        assert_eq!(
            db["labels"],
            serde_json::json!({"app": "erp", "env": "prod"})
        );
        let other = node("8.8.8.8");
        assert!(other["role"].is_null() && other["inventory_name"].is_null());
        assert_eq!(other["labels"], serde_json::json!({}));
        let dot = m.to_dot();
        assert!(
            dot.contains(
                "\"10.0.1.2\" [label=\"10.0.1.2\\ndb1.example\\n[database]\\napp=erp env=prod\"]"
            ),
            "{dot}"
        );
        assert_eq!(m.host_info("10.0.0.1".parse().unwrap()), None);
        // set_roles replaces what the inventory said.
        let mut roles = BTreeMap::new();
        roles.insert("10.0.0.1".parse().unwrap(), "client".to_string());
        m.set_roles(roles);
        assert_eq!(m.host_info("10.0.1.2".parse().unwrap()), None);
        assert!(m.to_dot().contains("10.0.0.1\\n[client]"));
    }
}
