//! [`Map`]: the host graph built from stored edges, and what is known
//! about its hosts and edges beyond the figures (recurrence, names, origins,
//! inventory roles). The exports are in `json.rs`, `csv.rs` and `dot.rs`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use depmap_edges::recurrence::{classify, Recurrence, RecurrenceConfig};
use depmap_edges::{DayActivity, EdgeKey, EdgeOrigin, EdgeStats, NameRecord};
use depmap_model::{HostInfo, Inventory, Proto};
use petgraph::graph::{DiGraph, NodeIndex};

/// A dependency map: hosts as nodes, one graph edge per stored edge.
pub struct Map {
    /// The hosts (sorted) as nodes; each graph edge's weight is its index
    /// in `edges`.
    pub(crate) graph: DiGraph<IpAddr, usize>,
    /// The edges, sorted.
    pub(crate) edges: Vec<(EdgeKey, EdgeStats)>,
    /// Recurrence of each edge (same order as `edges`), once annotated.
    pub(crate) recurrence: Vec<Option<Recurrence>>,
    /// Active days of each edge.
    pub(crate) active_days: Vec<u32>,
    /// Names per address.
    pub(crate) names: BTreeMap<IpAddr, Vec<String>>,
    /// Name, role and labels per address (from an inventory).
    pub(crate) hosts: BTreeMap<IpAddr, HostInfo>,
    /// Edges first seen on or after this day are drawn as new.
    pub(crate) new_since_day: Option<i32>,
    /// Where each edge's figures came from (same order as `edges`), once
    /// [`Map::set_origins`] was called; the exports omit it otherwise.
    pub(crate) origins: Option<Vec<EdgeOrigin>>,
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
        self.set_origins_by_key(origins.iter().copied().collect());
    }

    /// [`Map::set_origins`] from a map of them.
    pub(crate) fn set_origins_by_key(&mut self, by_key: BTreeMap<EdgeKey, EdgeOrigin>) {
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
    pub(crate) fn origin(&self, i: usize) -> Option<EdgeOrigin> {
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
        let mut by_edge: BTreeMap<EdgeKey, Vec<DayActivity>> = BTreeMap::new();
        for (k, a) in activity {
            by_edge.entry(*k).or_default().push(*a);
        }
        self.set_activity(by_edge, new_days);
        for n in names {
            self.add_name(n.address, &n.name);
        }
        self.sort_names();
    }

    /// Classifies each edge's days (any order; sorted here) against the
    /// last day of all of them, and marks edges first seen in the last
    /// `new_days` of those days as new. [`Map::annotate`] and
    /// [`Map::load`] share it.
    pub(crate) fn set_activity(
        &mut self,
        mut by_edge: BTreeMap<EdgeKey, Vec<DayActivity>>,
        new_days: i32,
    ) {
        let Some(end) = by_edge.values().flatten().map(|a| a.day).max() else {
            return;
        };
        let cfg = RecurrenceConfig::default();
        for (i, (k, _)) in self.edges.iter().enumerate() {
            if let Some(days) = by_edge.get_mut(k) {
                days.sort_by_key(|a| a.day);
                self.active_days[i] = days.len() as u32;
                self.recurrence[i] = Some(classify(days, end, &cfg));
            }
        }
        self.new_since_day = Some(end - new_days + 1);
    }

    /// Adds a name learned for `address`, once; [`Map::sort_names`] orders
    /// them when all are in.
    pub(crate) fn add_name(&mut self, address: IpAddr, name: &str) {
        let list = self.names.entry(address).or_default();
        if !list.iter().any(|n| n == name) {
            list.push(name.to_string());
        }
    }

    /// Sorts each address's names.
    pub(crate) fn sort_names(&mut self) {
        for list in self.names.values_mut() {
            list.sort();
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
    /// [`depmap_model::inventory`]), replacing earlier roles.
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
}

/// The protocol's export name: `tcp`, `udp`, `icmp`, ... or its number.
pub(crate) fn proto_text(proto: u8) -> String {
    Proto(proto).to_string()
}
