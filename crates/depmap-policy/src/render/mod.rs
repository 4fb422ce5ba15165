//! Renderers: a [`PolicyDraft`] compiled to a firewall's or a cluster's own
//! policy language.
//!
//! | target | module | output |
//! |---|---|---|
//! | nftables | [`nftables`] | an `nft -f` ruleset (`table inet depmap`) |
//! | iptables | [`iptables`] | `iptables-restore` input (filter table, `DEPMAP` chain) |
//! | Kubernetes | [`k8s`] | a `v1` `List` of `networking.k8s.io/v1` NetworkPolicies (JSON) |
//! | Cilium | [`cilium`] | a `v1` `List` of `cilium.io/v2` CiliumNetworkPolicies (JSON) |
//! | AWS | [`aws`] | security groups as EC2 API request bodies (JSON) |
//!
//! Every renderer is a pure function of the draft and, where the target
//! selects hosts by labels or roles, an [`Inventory`]. It returns the text
//! and a list of [`Report`]s: everything in the draft the target could not
//! express exactly (a client without labels in Kubernetes, an ICMP type in
//! Cilium, an evidence comment cut to a length limit, ...). Nothing is
//! dropped without a report. Each rendered rule keeps its evidence as a
//! comment, description or annotation.
//!
//! ```
//! use depmap_edges::{EdgeKey, EdgeStats};
//! use depmap_policy::render::{render, Target};
//! use depmap_policy::{draft, DraftOptions};
//! let key = EdgeKey { client: "10.0.0.1".parse()?, server: "10.0.0.2".parse()?, port: 5432, proto: 6 };
//! let stats = EdgeStats { connections: 40, client_packets: 400, client_bytes: 40_000,
//!     server_packets: 380, server_bytes: 900_000, first_seen: 0, last_seen: 86_400_000_000_000 };
//! let d = draft(&[(key, stats)], &DraftOptions::default());
//! let out = render(Target::Nftables, &d, None)?;
//! assert!(out.text.contains("ip saddr 10.0.0.1 ip daddr 10.0.0.2 tcp dport 5432 accept"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod aws;
pub mod cilium;
pub mod iptables;
pub mod k8s;
pub mod nftables;

use std::collections::BTreeMap;
use std::fmt;

use depmap_model::{Cidr, Inventory};
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::{AllowRule, PolicyDraft, POLICY_SCHEMA};
pub use crate::{Endpoint, Proto};

/// A target policy language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// An nftables ruleset.
    Nftables,
    /// `iptables-restore` input.
    Iptables,
    /// Kubernetes NetworkPolicy.
    Kubernetes,
    /// CiliumNetworkPolicy.
    Cilium,
    /// AWS security groups.
    AwsSg,
}

impl Target {
    /// Every target, in the order of the docs.
    pub const ALL: [Target; 5] = [
        Target::Nftables,
        Target::Iptables,
        Target::Kubernetes,
        Target::Cilium,
        Target::AwsSg,
    ];

    /// The name used by `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Nftables => "nftables",
            Target::Iptables => "iptables",
            Target::Kubernetes => "k8s",
            Target::Cilium => "cilium",
            Target::AwsSg => "aws-sg",
        }
    }
}

/// One thing the target could not express exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// What it is about: a rule (`10.0.0.1 -> 10.0.0.2 tcp/5432`), a
    /// service (`10.0.0.2 tcp/5432`) or `draft`.
    pub subject: String,
    /// What was not expressed, and what the rendering does instead.
    pub message: String,
}

impl PartialOrd for Report {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Report {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.subject, &self.message).cmp(&(&other.subject, &other.message))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)
    }
}

/// A rendered policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The policy in the target's own language.
    pub text: String,
    /// What the target could not express (empty when everything was).
    pub reports: Vec<Report>,
}

/// Why a draft cannot be rendered at all.
#[derive(Debug)]
#[non_exhaustive]
pub enum RenderError {
    /// The document is not a `depmap.policy/v1` draft.
    Schema {
        /// The schema it says it is.
        found: String,
    },
    /// A JSON rendering could not be serialized.
    Json(serde_json::Error),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Schema { found } => write!(
                f,
                "the draft's schema is {found:?}, not {POLICY_SCHEMA:?}; make the draft with this \
                 version of `depmap policy draft`"
            ),
            RenderError::Json(e) => write!(f, "cannot serialize the rendering: {e}"),
        }
    }
}

impl std::error::Error for RenderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RenderError::Json(e) => Some(e),
            _ => None,
        }
    }
}

/// Renders `draft` for `target`. The inventory gives labels and roles:
/// Kubernetes and Cilium select pods by its labels; every target resolves
/// `role:NAME` endpoints through it.
pub fn render(
    target: Target,
    draft: &PolicyDraft,
    inventory: Option<&Inventory>,
) -> Result<Rendered, RenderError> {
    if draft.schema != POLICY_SCHEMA {
        return Err(RenderError::Schema {
            found: draft.schema.clone(),
        });
    }
    let empty = Inventory::default();
    let inv = inventory.unwrap_or(&empty);
    let mut out = match target {
        Target::Nftables => nftables::render(draft, inv),
        Target::Iptables => iptables::render(draft, inv),
        Target::Kubernetes => k8s::render(draft, inv)?,
        Target::Cilium => cilium::render(draft, inv)?,
        Target::AwsSg => aws::render(draft, inv)?,
    };
    // A host selected too broadly is said once, not for each of its rules.
    let mut seen = std::collections::BTreeSet::new();
    out.reports.retain(|r| seen.insert(r.clone()));
    Ok(out)
}

/// A `v1` `List`, the form `kubectl apply -f` takes for several objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeList<T> {
    /// `v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `List`.
    pub kind: String,
    /// The objects.
    pub items: Vec<T>,
}

impl<T> KubeList<T> {
    fn new(items: Vec<T>) -> KubeList<T> {
        KubeList {
            api_version: "v1".to_string(),
            kind: "List".to_string(),
            items,
        }
    }
}

/// One allow rule of a service, its client parsed.
pub(crate) struct Rule<'a> {
    pub(crate) client: Endpoint,
    pub(crate) rule: &'a AllowRule,
}

/// One protected service, parsed; services whose server or protocol do not
/// parse are reported and left out, as are rules whose client does not.
pub(crate) struct Service<'a> {
    pub(crate) server: Endpoint,
    pub(crate) server_text: String,
    pub(crate) port: u16,
    pub(crate) proto: Proto,
    pub(crate) proto_text: String,
    pub(crate) rules: Vec<Rule<'a>>,
}

impl Service<'_> {
    /// `10.0.0.2 tcp/5432` (`10.0.0.2 icmp` without a port).
    pub(crate) fn label(&self) -> String {
        if self.proto.has_ports() {
            format!("{} {}/{}", self.server_text, self.proto_text, self.port)
        } else {
            format!("{} {}", self.server_text, self.proto_text)
        }
    }

    /// `10.0.0.1 -> 10.0.0.2 tcp/5432`.
    pub(crate) fn rule_label(&self, r: &Rule<'_>) -> String {
        format!("{} -> {}", r.rule.client, self.label())
    }

    /// The server's addresses, or `None` once it is reported that it has
    /// none (a role no inventory entry has), so the service is not rendered.
    pub(crate) fn server_networks(
        &self,
        inv: &Inventory,
        reports: &mut Vec<Report>,
    ) -> Option<Vec<Cidr>> {
        match self.server.networks(inv) {
            Ok(nets) => Some(nets),
            Err(why) => {
                reports.push(Report {
                    subject: self.label(),
                    message: format!("{why}; the service is not rendered"),
                });
                None
            }
        }
    }
}

impl Rule<'_> {
    /// The client's addresses, or `None` once it is reported under
    /// `subject` that it has none, so the rule is not rendered.
    pub(crate) fn client_networks(
        &self,
        subject: &str,
        inv: &Inventory,
        reports: &mut Vec<Report>,
    ) -> Option<Vec<Cidr>> {
        match self.client.networks(inv) {
            Ok(nets) => Some(nets),
            Err(why) => {
                reports.push(Report {
                    subject: subject.to_string(),
                    message: format!("{why}; the rule is not rendered"),
                });
                None
            }
        }
    }
}

/// `10.0.0.1/32`, `10.0.0.0/24`: an address or network with its prefix
/// length always, as iptables, security groups and cluster CIDR fields
/// write it.
pub(crate) fn with_prefix(c: &Cidr) -> String {
    format!("{}/{}", c.addr(), c.prefix())
}

/// The draft's services with their rules, as renderers walk them. The
/// endpoints and protocols were checked when the draft was read.
pub(crate) fn services(d: &PolicyDraft) -> Vec<Service<'_>> {
    d.services
        .iter()
        .map(|s| Service {
            server: s.server.clone(),
            server_text: s.server.to_string(),
            port: s.port,
            proto: s.proto,
            proto_text: s.proto.to_string(),
            rules: s
                .allow
                .iter()
                .map(|r| Rule {
                    client: r.client.clone(),
                    rule: r,
                })
                .collect(),
        })
        .collect()
}

/// The parts of a rule's evidence, most important first, for targets that
/// limit a comment's length: ticket and expiry before the figures.
pub(crate) fn evidence_parts(r: &AllowRule) -> Vec<String> {
    let e = &r.evidence;
    let day = |t: &Timestamp| t.date();
    let mut parts = Vec::new();
    // A time-bound exception has no traffic behind it: say whose and why.
    if let Some(x) = &r.exception {
        parts.push(format!("exception #{}", x.id));
        parts.push(format!("ticket {}", x.ticket));
        parts.push(format!("expires {}", x.expires));
        parts.push(format!(
            "granted {} by {}",
            day(&x.granted_at),
            x.granted_by
        ));
        parts.push(format!("reason {}", x.reason));
        return parts;
    }
    if let Some(t) = &r.ticket {
        parts.push(format!("ticket {t}"));
    }
    if let Some(x) = &r.expires {
        parts.push(format!("expires {}", day(x)));
    }
    parts.push(format!(
        "seen {}..{}",
        day(&e.first_seen),
        day(&e.last_seen)
    ));
    parts.push(format!("{} conns", e.connections));
    if e.active_days > 0 {
        parts.push(format!("{} active days", e.active_days));
    }
    if let Some(p) = &e.pattern {
        parts.push(p.clone());
    }
    if let Some(n) = &e.next_expected {
        parts.push(format!("next {}", day(n)));
    }
    if let Some(o) = &r.owner {
        parts.push(format!("owner {o}"));
    }
    parts.push(format!("from {}", e.source));
    parts
}

/// Where a target keeps a rule's evidence: a comment or description field.
pub(crate) struct EvidenceField {
    /// The most bytes it holds.
    pub(crate) limit: usize,
    /// Whether it accepts a character.
    pub(crate) allowed: fn(char) -> bool,
    /// Its name in reports (`nftables comment`).
    pub(crate) what: &'static str,
}

/// The evidence as one `field` of at most `field.limit` bytes, with
/// characters the target refuses replaced by `_`. Parts that do not fit are
/// left out; both are reported under `subject`.
pub(crate) fn evidence_comment(
    r: &AllowRule,
    field: &EvidenceField,
    subject: &str,
    reports: &mut Vec<Report>,
) -> String {
    const PREFIX: &str = "depmap: ";
    let EvidenceField {
        limit,
        allowed,
        what,
    } = *field;
    let mut out = String::from(PREFIX);
    let mut left_out = Vec::new();
    let mut replaced = Vec::new();
    for part in evidence_parts(r) {
        let clean: String = part
            .chars()
            .map(|c| if allowed(c) { c } else { '_' })
            .collect();
        let sep = if out.len() > PREFIX.len() { ", " } else { "" };
        if left_out.is_empty() && out.len() + sep.len() + clean.len() <= limit {
            out.push_str(sep);
            out.push_str(&clean);
            if clean != part {
                replaced.push(part);
            }
        } else {
            left_out.push(part);
        }
    }
    if !left_out.is_empty() {
        reports.push(Report {
            subject: subject.to_string(),
            message: format!(
                "the {what} holds at most {limit} characters; evidence left out of it: {}",
                left_out.join(", ")
            ),
        });
    }
    if !replaced.is_empty() {
        reports.push(Report {
            subject: subject.to_string(),
            message: format!(
                "characters the {what} does not allow were replaced by '_' in: {}",
                replaced.join(", ")
            ),
        });
    }
    out
}

/// One report for the whole draft when rules carry an expiry the target
/// cannot enforce by itself.
pub(crate) fn expiry_report(d: &PolicyDraft, target: &str, reports: &mut Vec<Report>) {
    let expiring: Vec<Timestamp> = d
        .services
        .iter()
        .flat_map(|s| s.allow.iter().filter_map(|r| r.expires))
        .collect();
    if let Some(first) = expiring.iter().min() {
        reports.push(Report {
            subject: "draft".to_string(),
            message: format!(
                "{} rule(s) carry an expiry (the first {first}); {target} rules do not lapse by \
                 themselves, so the expiry is only in their comments: render again without them \
                 before it passes",
                expiring.len()
            ),
        });
    }
}

/// The edges under review, which every rendering leaves denied.
pub(crate) fn review_lines(d: &PolicyDraft) -> Vec<String> {
    d.review
        .iter()
        .map(|r| {
            format!(
                "{} -> {} {}/{}: {}",
                r.client, r.server, r.proto, r.port, r.reason
            )
        })
        .collect()
}

/// Text on one line: control characters (newlines) become spaces.
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The comment block at the top of a text rendering: where it comes from,
/// the draft's warnings, and the edges under review (which stay denied).
pub(crate) fn header_lines(d: &PolicyDraft, target: &str, out: &mut String, prefix: &str) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "{prefix}depmap policy render --format {target}: {} draft generated {}",
        one_line(&d.schema),
        one_line(&d.generated_at.to_string())
    );
    let _ = writeln!(
        out,
        "{prefix}learned from {} to {} ({} days); default action: deny",
        one_line(
            &d.learned_from
                .first_seen
                .map_or("-".to_string(), |t| t.to_string())
        ),
        one_line(
            &d.learned_from
                .last_seen
                .map_or("-".to_string(), |t| t.to_string())
        ),
        d.learned_from.days
    );
    for w in &d.warnings {
        let _ = writeln!(out, "{prefix}WARNING: {}", one_line(w));
    }
    let lines = review_lines(d);
    if !lines.is_empty() {
        let _ = writeln!(
            out,
            "{prefix}{} edge(s) under review are not allowed (so denied) until a person decides:",
            lines.len()
        );
        for l in lines {
            let _ = writeln!(out, "{prefix}  {}", one_line(&l));
        }
    }
}

/// The labels that select a host in a cluster: the inventory's labels for
/// an address (merged over its entries), for a network the labels of the
/// entry for exactly that network, for a role the labels every host of the
/// role shares. `None` when there are none.
pub(crate) fn selector_labels(ep: &Endpoint, inv: &Inventory) -> Option<BTreeMap<String, String>> {
    let labels = match ep {
        Endpoint::Net(c) if c.is_host() => inv.lookup(c.addr()).labels,
        Endpoint::Net(c) => {
            if inv.entries().iter().any(|e| e.cidr == *c) {
                inv.lookup(c.addr()).labels
            } else {
                BTreeMap::new()
            }
        }
        Endpoint::Role(role) => {
            let mut shared: Option<BTreeMap<String, String>> = None;
            for e in inv
                .entries()
                .iter()
                .filter(|e| e.role.as_deref() == Some(role.as_str()))
            {
                let l = inv.lookup(e.cidr.addr()).labels;
                shared = Some(match shared {
                    None => l,
                    Some(s) => s.into_iter().filter(|(k, v)| l.get(k) == Some(v)).collect(),
                });
            }
            shared.unwrap_or_default()
        }
    };
    (!labels.is_empty()).then_some(labels)
}

/// Other inventory entries a label selector would also select: entries
/// whose merged labels include every selector label, other than the
/// endpoint itself (for a role: other than the role's hosts).
pub(crate) fn also_selected(
    ep: &Endpoint,
    selector: &BTreeMap<String, String>,
    inv: &Inventory,
) -> Vec<String> {
    inv.entries()
        .iter()
        .filter(|e| match ep {
            Endpoint::Net(c) => e.cidr != *c,
            Endpoint::Role(role) => e.role.as_deref() != Some(role.as_str()),
        })
        .filter(|e| {
            let l = inv.lookup(e.cidr.addr()).labels;
            selector.iter().all(|(k, v)| l.get(k) == Some(v))
        })
        .map(|e| e.cidr.to_string())
        .collect()
}

/// The report for a selector that selects more than its endpoint.
pub(crate) fn over_selection_report(
    subject: &str,
    selector: &BTreeMap<String, String>,
    others: &[String],
) -> Report {
    let shown: Vec<&str> = others.iter().take(5).map(String::as_str).collect();
    let more = others.len().saturating_sub(shown.len());
    Report {
        subject: subject.to_string(),
        message: format!(
            "selected by labels {}, which the inventory also gives {} other host(s) or \
             network(s) ({}{}): in a cluster, rules for it cover them too",
            labels_text(selector),
            others.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    }
}

/// How a cluster selects an endpoint: labels (the inventory's, checked
/// against Kubernetes' label syntax) and the namespace from the `namespace`
/// label, if any. `None` when the endpoint has no usable labels. Labels
/// Kubernetes would refuse and selectors that also select other inventory
/// hosts are reported under `subject`.
pub(crate) struct ClusterSelector {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) namespace: Option<String>,
}

pub(crate) fn cluster_selector(
    ep: &Endpoint,
    subject: &str,
    inv: &Inventory,
    reports: &mut Vec<Report>,
) -> Option<ClusterSelector> {
    let mut labels = selector_labels(ep, inv)?;
    let bad: Vec<String> = labels
        .iter()
        .filter(|(k, v)| !k8s_label_ok(k, v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !bad.is_empty() {
        labels.retain(|k, v| k8s_label_ok(k, v));
        reports.push(Report {
            subject: subject.to_string(),
            message: format!(
                "label(s) {} are not valid Kubernetes labels (values: up to 63 letters, \
                 digits, '-', '_', '.', starting and ending with a letter or digit) and are left \
                 out of its selector",
                bad.join(", ")
            ),
        });
    }
    if labels.is_empty() {
        return None;
    }
    let others = also_selected(ep, &labels, inv);
    if !others.is_empty() {
        reports.push(over_selection_report(subject, &labels, &others));
    }
    let namespace = labels.remove("namespace");
    Some(ClusterSelector { labels, namespace })
}

/// Whether Kubernetes accepts `key=value` as a label (key without prefix).
fn k8s_label_ok(key: &str, value: &str) -> bool {
    let name_ok = |s: &str, empty_ok: bool| {
        (s.is_empty() && empty_ok)
            || (s.len() <= 63
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && s.starts_with(|c: char| c.is_ascii_alphanumeric())
                && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
    };
    name_ok(key, false) && name_ok(value, true)
}

pub(crate) fn labels_text(l: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// A Kubernetes object name (DNS-1123 subdomain) for a service.
pub(crate) fn object_name(s: &Service<'_>) -> String {
    let mut name = String::from("depmap-");
    for c in s.server_text.chars() {
        name.push(if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        });
    }
    name.push('-');
    name.push_str(&s.proto_text.to_ascii_lowercase());
    if s.proto.has_ports() {
        name.push_str(&format!("-{}", s.port));
    }
    // 253 bytes at most; everything above is ASCII.
    name.truncate(253);
    name.trim_end_matches('-').to_string()
}
