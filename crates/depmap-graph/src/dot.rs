//! The Graphviz DOT export of a [`Map`], and the pieces the grouped map's
//! picture shares with it (preamble, arrow labels and styles, legend).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use depmap_edges::calendar::WEEKDAYS;
use depmap_edges::recurrence::MonthDay;
use depmap_edges::NANOS_PER_DAY;
use depmap_model::{host_group, host_kind, HostKind};
use petgraph::graph::NodeIndex;
use petgraph::Direction;

use crate::map::proto_text;
use crate::Map;

impl Map {
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
    pub(crate) fn arrow_attrs(
        &self,
        list: &[usize],
        extra: Option<&str>,
        used: &mut Legend,
    ) -> String {
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
    pub(crate) fn host_label(&self, ip: IpAddr) -> String {
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
fn service_name(proto: u8, port: u16) -> String {
    if port == 0 {
        proto_text(proto)
    } else {
        format!("{}/{}", proto_text(proto), port)
    }
}

/// `app=erp env=prod`.
pub(crate) fn labels_text(labels: &BTreeMap<String, String>) -> String {
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
pub(crate) fn write_legend(s: &mut String, used: &Legend) {
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

pub(crate) fn dot_escape(s: &str) -> String {
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
