//! Segmentation rule drafts: from observed edges to a least-privilege
//! allow-list per protected service, each rule carrying its evidence, with an
//! explicit default-deny.
//!
//! A draft is a neutral document ([`PolicyDraft`], schema
//! [`POLICY_SCHEMA`], described in `docs/POLICY.md`) that a reviewer reads
//! and that later renderers compile to firewall or cluster policies. Its
//! endpoints, protocols and times are typed ([`Endpoint`], [`Proto`],
//! [`Timestamp`], [`DefaultAction`]), parsed once where a draft is read.
//! This crate reads no clock: the time a draft is made is an argument, so
//! drafts are reproducible. It does no I/O of its own; [`lifecycle`]
//! (drafting from a store, versions, exceptions, rollback) works on the
//! store it is handed, and exceptions are the store's own rows
//! ([`ExceptionRow`]).
//!
//! Edges seen too little to trust (fewer connections than
//! [`DraftOptions::min_connections`]) are not silently allowed or dropped:
//! they go to [`PolicyDraft::review`] for a person to decide. A draft learned
//! from less than a 30-day business cycle says so in
//! [`PolicyDraft::warnings`].
//!
//! ```
//! use depmap_edges::{EdgeKey, EdgeStats};
//! use depmap_policy::{draft, DraftOptions};
//! let key = EdgeKey { client: "10.0.0.1".parse()?, server: "10.0.0.2".parse()?, port: 5432, proto: 6 };
//! let stats = EdgeStats { connections: 40, client_packets: 400, client_bytes: 40_000,
//!     server_packets: 380, server_bytes: 900_000, first_seen: 0, last_seen: 86_400_000_000_000 };
//! let d = draft(&[(key, stats)], &DraftOptions::default());
//! assert_eq!(d.services[0].allow[0].client, "10.0.0.1");
//! assert_eq!(d.default_action, "deny");
//! assert!(d.warnings[0].contains("shorter than a 30-day business cycle"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use depmap_edges::calendar::civil;
use depmap_edges::recurrence::{classify, RecurrenceConfig};
use depmap_edges::{DayActivity, EdgeKey, EdgeStats, NameRecord, NANOS_PER_SEC};
use serde::{Deserialize, Serialize};

mod diff;
mod exceptions;
mod lapse;
pub mod lifecycle;
pub mod render;
mod scope;
mod types;
mod unused;
pub use depmap_model::Proto;
pub use depmap_store::{ExceptionRow, ExceptionState, NewException};
pub use diff::{diff, diff_table, FieldChange, PolicyDiff, RuleChange, RuleRef, Side, DIFF_SCHEMA};
pub use exceptions::{
    apply_exceptions, client_matches, describe_exception, ExceptionMark, ExpiredException,
};
pub use lapse::{drop_lapsed, LapsedRule};
pub use scope::{scope_activity, scope_draft, Scope};
pub use types::{DefaultAction, Endpoint, Timestamp};
pub use unused::{unused, UnusedReport, UnusedRule, GRACE_DAYS};

/// The draft document's schema identifier.
pub const POLICY_SCHEMA: &str = "depmap.policy/v1";

/// A full business cycle: learning windows shorter than this miss monthly
/// dependencies, and the draft says so.
pub const BUSINESS_CYCLE_DAYS: f64 = 30.0;

const DAY: i64 = 86_400 * NANOS_PER_SEC;

/// How to draft.
#[derive(Clone, Debug)]
pub struct DraftOptions {
    /// Edges with fewer connections than this go to review instead of allow.
    pub min_connections: u64,
    /// The change ticket the rules are drafted under.
    pub ticket: Option<String>,
    /// Who owns the rules.
    pub owner: Option<String>,
    /// When the drafted rules expire (ns since the epoch), if they do.
    pub expires: Option<i64>,
    /// When the draft is made (ns since the epoch).
    pub generated_at: i64,
}

impl Default for DraftOptions {
    fn default() -> Self {
        DraftOptions {
            min_connections: 2,
            ticket: None,
            owner: None,
            expires: None,
            generated_at: 0,
        }
    }
}

/// A drafted policy. Field by field in `docs/POLICY.md`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyDraft {
    /// [`POLICY_SCHEMA`].
    pub schema: String,
    /// When the draft was made.
    pub generated_at: Timestamp,
    /// The traffic the draft was learned from.
    pub learned_from: Window,
    /// Plain-language warnings a reviewer must read first.
    pub warnings: Vec<String>,
    /// What happens to traffic no rule allows: always deny.
    pub default_action: DefaultAction,
    /// One entry per protected service (server, port, protocol).
    pub services: Vec<ServicePolicy>,
    /// Edges seen too little to allow or to drop without a person deciding.
    pub review: Vec<ReviewItem>,
    /// Names learned from the traffic for the draft's addresses (address ->
    /// names), filled by [`add_names`]; renderers use DNS names for
    /// FQDN-based rules.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: BTreeMap<String, Vec<LearnedName>>,
    /// Exceptions that had expired when the draft was made, left out of it
    /// ([`apply_exceptions`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expired_exceptions: Vec<ExpiredException>,
    /// The services the draft was limited to (`--scope`): a network, or
    /// `role:NAME`; absent when it covers every service seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl PolicyDraft {
    /// How many allow rules it has, over all services.
    pub fn rule_count(&self) -> usize {
        self.services.iter().map(|s| s.allow.len()).sum()
    }
}

/// A name learned for an address, and how.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LearnedName {
    /// The name, lower-case.
    pub name: String,
    /// Where it was learned: `dns`, `sni` or `http`.
    pub source: String,
}

/// The learning window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// First packet, if any.
    pub first_seen: Option<Timestamp>,
    /// Last packet, if any.
    pub last_seen: Option<Timestamp>,
    /// Days between them.
    pub days: f64,
}

/// The allow-list of one service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ServiceText")]
pub struct ServicePolicy {
    /// The server: its address (or, written by a reviewer, a network or
    /// `role:NAME`).
    pub server: Endpoint,
    /// The server's port (0 for protocols without ports).
    pub port: u16,
    /// `tcp`, `udp`, ...
    #[serde(with = "types::text")]
    pub proto: Proto,
    /// The clients allowed to reach it.
    pub allow: Vec<AllowRule>,
}

/// One allowed client of a service, with why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllowRule {
    /// The client: its address (an exception's may be a network; a
    /// reviewer may write `role:NAME`).
    pub client: Endpoint,
    /// What was observed.
    pub evidence: Evidence,
    /// Who owns the rule.
    pub owner: Option<String>,
    /// The change ticket.
    pub ticket: Option<String>,
    /// When the rule expires, if it does.
    pub expires: Option<Timestamp>,
    /// Set when the rule is a time-bound exception rather than learned
    /// from traffic ([`apply_exceptions`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<ExceptionMark>,
}

/// A service as read, before its rules' expiries are checked: a
/// reviewer may edit `expires` by hand, and a time that does not read is an
/// error naming the rule, not just a line and column.
#[derive(Deserialize)]
struct ServiceText {
    server: Endpoint,
    port: u16,
    #[serde(with = "types::text")]
    proto: Proto,
    allow: Vec<AllowRuleText>,
}

#[derive(Deserialize)]
struct AllowRuleText {
    client: Endpoint,
    evidence: Evidence,
    owner: Option<String>,
    ticket: Option<String>,
    expires: Option<String>,
    #[serde(default)]
    exception: Option<ExceptionMark>,
}

impl TryFrom<ServiceText> for ServicePolicy {
    type Error = String;

    fn try_from(s: ServiceText) -> Result<ServicePolicy, String> {
        let mut allow = Vec::with_capacity(s.allow.len());
        for r in s.allow {
            let expires = match &r.expires {
                None => None,
                Some(text) => Some(Timestamp::parse(text).ok_or_else(|| {
                    format!(
                        "the rule {} -> {}:{}/{} expires {text:?}, which is not an RFC 3339 time \
                         such as 2026-12-01T00:00:00Z; correct or remove it",
                        r.client, s.server, s.port, s.proto
                    )
                })?),
            };
            allow.push(AllowRule {
                client: r.client,
                evidence: r.evidence,
                owner: r.owner,
                ticket: r.ticket,
                expires,
                exception: r.exception,
            });
        }
        Ok(ServicePolicy {
            server: s.server,
            port: s.port,
            proto: s.proto,
            allow,
        })
    }
}

/// The observed traffic behind a rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// First packet.
    pub first_seen: Timestamp,
    /// Last packet.
    pub last_seen: Timestamp,
    /// Connections observed.
    pub connections: u64,
    /// Packets, both directions.
    pub packets: u64,
    /// IP bytes, both directions.
    pub bytes: u64,
    /// Where the evidence came from.
    pub source: String,
    /// Days with traffic in the learning window.
    #[serde(default)]
    pub active_days: u32,
    /// Recurrence pattern over the learning window (`docs/BASELINE.md`).
    #[serde(default)]
    pub pattern: Option<String>,
    /// Next expected occurrence of a periodic edge.
    #[serde(default)]
    pub next_expected: Option<Timestamp>,
}

/// An edge a person has to decide on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    /// Client address.
    pub client: Endpoint,
    /// Server address.
    pub server: Endpoint,
    /// Server port.
    pub port: u16,
    /// Protocol.
    #[serde(with = "types::text")]
    pub proto: Proto,
    /// Why it is not simply allowed.
    pub reason: String,
    /// What was observed.
    pub evidence: Evidence,
}

fn evidence(s: &EdgeStats) -> Evidence {
    Evidence {
        first_seen: Timestamp(s.first_seen),
        last_seen: Timestamp(s.last_seen),
        connections: s.connections,
        packets: s.packets(),
        bytes: s.bytes(),
        source: "packets".to_string(),
        active_days: 0,
        pattern: None,
        next_expected: None,
    }
}

/// Drafts a policy from observed edges.
pub fn draft(edges: &[(EdgeKey, EdgeStats)], opts: &DraftOptions) -> PolicyDraft {
    let first = edges.iter().map(|(_, s)| s.first_seen).min();
    let last = edges.iter().map(|(_, s)| s.last_seen).max();
    let days = match (first, last) {
        (Some(f), Some(l)) if l > f => (l - f) as f64 / DAY as f64,
        _ => 0.0,
    };
    let mut warnings = Vec::new();
    if days < BUSINESS_CYCLE_DAYS {
        warnings.push(format!(
            "the learning window covers {days:.1} days, shorter than a 30-day business cycle: \
             dependencies that recur weekly or monthly may be missing, and enforcing this draft \
             could block them"
        ));
    }
    // Keyed by the server's text, the order drafts have always had.
    let mut services: BTreeMap<(String, u16, u8), (IpAddr, Vec<AllowRule>)> = BTreeMap::new();
    let mut review = Vec::new();
    let mut sorted: Vec<&(EdgeKey, EdgeStats)> = edges.iter().collect();
    sorted.sort_by(|a, b| {
        (a.0.server, a.0.port, a.0.proto, a.0.client)
            .cmp(&(b.0.server, b.0.port, b.0.proto, b.0.client))
    });
    for (k, s) in sorted {
        // Every service with traffic is listed, even one whose every client
        // is left for review: the renderings deny traffic to the services
        // they list, so an unlisted one would stay open, review edges and all.
        let service = &mut services
            .entry((k.server.to_string(), k.port, k.proto))
            .or_insert_with(|| (k.server, Vec::new()))
            .1;
        if s.connections < opts.min_connections {
            review.push(ReviewItem {
                client: k.client.into(),
                server: k.server.into(),
                port: k.port,
                proto: Proto(k.proto),
                reason: format!(
                    "seen in {} connection(s), fewer than the {} needed to allow it without review",
                    s.connections, opts.min_connections
                ),
                evidence: evidence(s),
            });
            continue;
        }
        service.push(AllowRule {
            client: k.client.into(),
            evidence: evidence(s),
            owner: opts.owner.clone(),
            ticket: opts.ticket.clone(),
            expires: opts.expires.map(Timestamp),
            exception: None,
        });
    }
    PolicyDraft {
        schema: POLICY_SCHEMA.to_string(),
        generated_at: Timestamp(opts.generated_at),
        learned_from: Window {
            first_seen: first.map(Timestamp),
            last_seen: last.map(Timestamp),
            days: (days * 10.0).round() / 10.0,
        },
        warnings,
        default_action: DefaultAction::Deny,
        services: services
            .into_iter()
            .map(|((_, port, proto), (server, allow))| ServicePolicy {
                server: server.into(),
                port,
                proto: Proto(proto),
                allow,
            })
            .collect(),
        review,
        names: BTreeMap::new(),
        expired_exceptions: Vec::new(),
        scope: None,
    }
}

/// Records in `d.names` the learned names of every address the draft
/// mentions (servers, allowed clients, review items), sorted; other
/// addresses' names are left out.
pub fn add_names(d: &mut PolicyDraft, names: &[NameRecord]) {
    use std::collections::BTreeSet;
    let mut used: BTreeSet<String> = BTreeSet::new();
    for s in &d.services {
        used.insert(s.server.to_string());
        used.extend(s.allow.iter().map(|r| r.client.to_string()));
    }
    for r in &d.review {
        used.insert(r.client.to_string());
        used.insert(r.server.to_string());
    }
    let mut found: BTreeMap<String, Vec<LearnedName>> = BTreeMap::new();
    for n in names {
        let addr = n.address.to_string();
        if used.contains(addr.as_str()) {
            found.entry(addr).or_default().push(LearnedName {
                name: n.name.clone(),
                source: n.source.as_str().to_string(),
            });
        }
    }
    for v in found.values_mut() {
        v.sort();
        v.dedup();
    }
    d.names = found;
}

/// The draft as pretty-printed JSON.
pub fn to_json(d: &PolicyDraft) -> String {
    serde_json::to_string_pretty(d).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A TCP edge from `client` to 10.0.0.9:`port`, seen over `days` days
    /// (also the other modules' unit tests' edge).
    pub(crate) fn edge(
        client: &str,
        port: u16,
        connections: u64,
        days: i64,
    ) -> (EdgeKey, EdgeStats) {
        (
            EdgeKey {
                client: client.parse().unwrap(),
                server: "10.0.0.9".parse().unwrap(),
                port,
                proto: 6,
            },
            EdgeStats {
                connections,
                client_packets: 10,
                client_bytes: 1000,
                server_packets: 10,
                server_bytes: 5000,
                first_seen: 0,
                last_seen: days * DAY,
            },
        )
    }

    #[test]
    fn groups_clients_per_service_and_sends_rare_edges_to_review() {
        let d = draft(
            &[
                edge("10.0.0.2", 443, 10, 35),
                edge("10.0.0.1", 443, 5, 35),
                edge("10.0.0.3", 22, 1, 35),
            ],
            &DraftOptions {
                ticket: Some("CHG-1".into()),
                ..DraftOptions::default()
            },
        );
        assert!(d.warnings.is_empty(), "35 days is a full cycle");
        // The service whose one client is left for review is listed with
        // no client allowed, so the renderings keep denying it.
        assert_eq!(d.services.len(), 2);
        assert_eq!(d.services[0].port, 22);
        assert!(d.services[0].allow.is_empty());
        let s = &d.services[1];
        assert_eq!(
            (
                s.server.to_string().as_str(),
                s.port,
                s.proto.to_string().as_str()
            ),
            ("10.0.0.9", 443, "tcp")
        );
        let clients: Vec<_> = s.allow.iter().map(|a| a.client.clone()).collect();
        assert_eq!(clients, ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(s.allow[0].ticket.as_deref(), Some("CHG-1"));
        assert_eq!(d.review.len(), 1);
        assert_eq!(d.review[0].port, 22);
        let back: PolicyDraft = serde_json::from_str(&to_json(&d)).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn names_of_the_drafts_addresses_only() {
        let mut d = draft(&[edge("10.0.0.2", 443, 10, 35)], &DraftOptions::default());
        let rec = |addr: &str, name: &str, source| NameRecord {
            address: addr.parse().unwrap(),
            name: name.into(),
            source,
            first_seen: 0,
            last_seen: 1,
        };
        add_names(
            &mut d,
            &[
                rec("10.0.0.9", "api.example", depmap_edges::NameSource::Sni),
                rec("10.0.0.9", "api.example", depmap_edges::NameSource::Dns),
                rec(
                    "10.0.0.77",
                    "elsewhere.example",
                    depmap_edges::NameSource::Dns,
                ),
            ],
        );
        let got: Vec<_> = d.names["10.0.0.9"]
            .iter()
            .map(|n| (n.name.as_str(), n.source.as_str()))
            .collect();
        assert_eq!(got, [("api.example", "dns"), ("api.example", "sni")]);
        assert_eq!(d.names.len(), 1);
        let back: PolicyDraft = serde_json::from_str(&to_json(&d)).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn short_baseline_is_flagged() {
        let d = draft(&[edge("10.0.0.2", 443, 10, 14)], &DraftOptions::default());
        assert!(d.warnings[0].contains("14.0 days"));
    }
}

/// Drafts a policy from the traffic of a learning window: only activity on
/// days `from_day..=to_day` (UTC days since the epoch; `None` = unbounded)
/// counts, each rule's evidence gives its active days, recurrence pattern
/// and next expected occurrence within that window, and edges active on
/// fewer than `min_days` days go to review.
pub fn draft_window(
    activity: &[(EdgeKey, DayActivity)],
    from_day: Option<i32>,
    to_day: Option<i32>,
    min_days: u32,
    opts: &DraftOptions,
) -> PolicyDraft {
    let mut per_edge: BTreeMap<EdgeKey, Vec<DayActivity>> = BTreeMap::new();
    for (k, a) in activity {
        if from_day.is_some_and(|f| a.day < f) || to_day.is_some_and(|t| a.day > t) {
            continue;
        }
        per_edge.entry(*k).or_default().push(*a);
    }
    let end = per_edge
        .values()
        .flat_map(|d| d.iter().map(|a| a.day))
        .max()
        .unwrap_or(0);
    let edges: Vec<(EdgeKey, EdgeStats)> = per_edge
        .iter()
        .map(|(k, days)| {
            let first = days.first().map_or(0, at_first_hour);
            let last = days.last().map_or(0, at_last_hour);
            let stats = EdgeStats {
                connections: days.iter().map(|d| d.connections).sum(),
                client_packets: days.iter().map(|d| d.packets).sum(),
                client_bytes: days.iter().map(|d| d.bytes).sum(),
                server_packets: 0,
                server_bytes: 0,
                first_seen: first,
                last_seen: last,
            };
            (*k, stats)
        })
        .collect();
    let mut d = draft(&edges, opts);
    let cfg = RecurrenceConfig::default();
    let annotate =
        |client: &Endpoint, server: &Endpoint, port: u16, proto: Proto, ev: &mut Evidence| {
            let found = per_edge.iter().find(|(k, _)| {
                client.addr() == Some(k.client)
                    && server.addr() == Some(k.server)
                    && k.port == port
                    && proto.0 == k.proto
            });
            if let Some((_, days)) = found {
                let r = classify(days, end, &cfg);
                ev.active_days = days.len() as u32;
                ev.pattern = Some(r.pattern.name().to_string());
                ev.next_expected = r.next_expected.map(Timestamp);
            }
        };
    for svc in &mut d.services {
        for rule in &mut svc.allow {
            annotate(
                &rule.client,
                &svc.server,
                svc.port,
                svc.proto,
                &mut rule.evidence,
            );
        }
    }
    for item in &mut d.review {
        annotate(
            &item.client,
            &item.server,
            item.port,
            item.proto,
            &mut item.evidence,
        );
    }
    // Edges seen on too few days are for a person to decide, not to allow.
    if min_days > 1 {
        let mut keep = Vec::new();
        for mut svc in std::mem::take(&mut d.services) {
            let (ok, few): (Vec<_>, Vec<_>) = svc
                .allow
                .into_iter()
                .partition(|r| r.evidence.active_days >= min_days);
            for r in few {
                d.review.push(ReviewItem {
                    client: r.client,
                    server: svc.server.clone(),
                    port: svc.port,
                    proto: svc.proto,
                    reason: format!(
                        "active on {} day(s), fewer than the {min_days} needed to allow it without review",
                        r.evidence.active_days
                    ),
                    evidence: r.evidence,
                });
            }
            // A service whose clients all went to review stays, allowing
            // none of them (see `draft`).
            svc.allow = ok;
            keep.push(svc);
        }
        d.services = keep;
    }
    d
}

fn at_first_hour(d: &DayActivity) -> i64 {
    i64::from(d.day) * DAY + i64::from(d.hours.trailing_zeros().min(23)) * 3_600 * NANOS_PER_SEC
}

fn at_last_hour(d: &DayActivity) -> i64 {
    let h = 31u32.saturating_sub(d.hours.leading_zeros()).min(23);
    i64::from(d.day) * DAY + i64::from(h) * 3_600 * NANOS_PER_SEC
}

/// One edge a policy would block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Denied {
    /// Client address.
    pub client: String,
    /// Server address.
    pub server: String,
    /// Server port.
    pub port: u16,
    /// Protocol.
    pub proto: String,
    /// Connections that would have been blocked.
    pub connections: u64,
    /// When: `YYYY-MM-DD HH:00` UTC for every hour with traffic.
    pub when: Vec<String>,
}

/// Replays recorded traffic (per-day activity of edges) against a policy
/// and returns what it would deny: every edge whose (server, port, protocol)
/// does not list its client, with the hours it was active. Only days in
/// `from_day..=to_day` count.
pub fn simulate(
    policy: &PolicyDraft,
    activity: &[(EdgeKey, DayActivity)],
    from_day: Option<i32>,
    to_day: Option<i32>,
) -> Vec<Denied> {
    // Per service, its clients: addresses or networks (exceptions may
    // allow a CIDR).
    let mut allowed: BTreeMap<(IpAddr, u16, u8), Vec<&Endpoint>> = BTreeMap::new();
    for s in &policy.services {
        // Only a server given as an address protects anything here: the
        // replayed traffic has no inventory to resolve a role or network by.
        let Some(server) = s.server.addr() else {
            continue;
        };
        allowed
            .entry((server, s.port, s.proto.0))
            .or_default()
            .extend(s.allow.iter().map(|r| &r.client));
    }
    let mut denied: BTreeMap<EdgeKey, Denied> = BTreeMap::new();
    for (k, a) in activity {
        if from_day.is_some_and(|f| a.day < f) || to_day.is_some_and(|t| a.day > t) {
            continue;
        }
        let key = (
            k.client.to_string(),
            k.server.to_string(),
            k.port,
            Proto(k.proto).to_string(),
        );
        if allowed
            .get(&(k.server, k.port, k.proto))
            .is_some_and(|clients| clients.iter().any(|c| c.contains(k.client)))
        {
            continue;
        }
        let entry = denied.entry(*k).or_insert_with(|| Denied {
            client: key.0.clone(),
            server: key.1.clone(),
            port: k.port,
            proto: key.3.clone(),
            connections: 0,
            when: Vec::new(),
        });
        entry.connections += a.connections;
        let (y, m, dd) = civil(a.day);
        for h in 0..24 {
            if a.hours & (1 << h) != 0 {
                entry.when.push(format!("{y:04}-{m:02}-{dd:02} {h:02}:00"));
            }
        }
    }
    denied.into_values().collect()
}
