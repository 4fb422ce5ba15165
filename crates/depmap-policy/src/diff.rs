//! What changed between two drafts: rules added, removed and changed.
//!
//! A rule is identified by its service (server, port, protocol) and its
//! client. A rule present in both drafts is *changed* when anything a
//! reviewer signs off on differs: its owner, ticket, expiry, whether it is
//! an exception (and that exception's number, ticket, reason and expiry), or
//! its recurrence pattern. Evidence figures (connections, packets, bytes,
//! first and last seen, active days, next expected occurrence) are not
//! changes: they move with every new learning window, and a diff full of them
//! would hide the changes that matter. Added and removed rules carry the
//! whole rule, evidence included. Schema: `docs/POLICY.md`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{AllowRule, PolicyDraft};

/// The diff document's schema identifier.
pub const DIFF_SCHEMA: &str = "depmap.policy-diff/v1";

/// One of the two drafts compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// What the caller called it (`version 3`, a file name).
    pub label: String,
    /// When the draft was made (RFC 3339).
    pub generated_at: String,
    /// How many allow rules it has.
    pub rules: usize,
}

/// A rule added or removed, whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleRef {
    /// Server address.
    pub server: String,
    /// Server port.
    pub port: u16,
    /// Protocol.
    pub proto: String,
    /// The rule (client, evidence, owner, ticket, expiry, exception).
    pub rule: AllowRule,
}

/// One field of a rule that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// `owner`, `ticket`, `expires`, `exception` or `pattern`.
    pub field: String,
    /// The value in the first draft (`null` when unset).
    pub from: Option<String>,
    /// The value in the second draft (`null` when unset).
    pub to: Option<String>,
}

/// A rule present in both drafts with different terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleChange {
    /// Server address.
    pub server: String,
    /// Server port.
    pub port: u16,
    /// Protocol.
    pub proto: String,
    /// Client address or network.
    pub client: String,
    /// What differs, in a fixed field order.
    pub changes: Vec<FieldChange>,
}

/// The difference from draft `a` to draft `b`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyDiff {
    /// [`DIFF_SCHEMA`].
    pub schema: String,
    /// The first (older) draft.
    pub a: Side,
    /// The second (newer) draft.
    pub b: Side,
    /// Rules in `b` and not in `a`.
    pub added: Vec<RuleRef>,
    /// Rules in `a` and not in `b`.
    pub removed: Vec<RuleRef>,
    /// Rules in both whose terms differ.
    pub changed: Vec<RuleChange>,
    /// Rules in both with the same terms.
    pub unchanged: usize,
}

/// Sort key of a rule: service in address order, then client.
type RuleKey = (Option<IpAddr>, String, u16, String, String);

fn rules(d: &PolicyDraft) -> BTreeMap<RuleKey, &AllowRule> {
    let mut out = BTreeMap::new();
    for s in &d.services {
        for r in &s.allow {
            let key = (
                s.server.addr(),
                s.server.to_string(),
                s.port,
                s.proto.to_string(),
                r.client.to_string(),
            );
            out.insert(key, r);
        }
    }
    out
}

fn exception_text(r: &AllowRule) -> Option<String> {
    r.exception
        .as_ref()
        .map(|m| format!("#{} {} until {} ({})", m.id, m.ticket, m.expires, m.reason))
}

fn changes(a: &AllowRule, b: &AllowRule) -> Vec<FieldChange> {
    let fields = [
        ("owner", a.owner.clone(), b.owner.clone()),
        ("ticket", a.ticket.clone(), b.ticket.clone()),
        (
            "expires",
            a.expires.map(|t| t.to_string()),
            b.expires.map(|t| t.to_string()),
        ),
        ("exception", exception_text(a), exception_text(b)),
        (
            "pattern",
            a.evidence.pattern.clone(),
            b.evidence.pattern.clone(),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, x, y)| x != y)
        .map(|(field, from, to)| FieldChange {
            field: field.to_string(),
            from,
            to,
        })
        .collect()
}

fn side(label: &str, d: &PolicyDraft) -> Side {
    Side {
        label: label.to_string(),
        generated_at: d.generated_at.to_string(),
        rules: d.services.iter().map(|s| s.allow.len()).sum(),
    }
}

fn rule_ref(k: &RuleKey, r: &AllowRule) -> RuleRef {
    RuleRef {
        server: k.1.clone(),
        port: k.2,
        proto: k.3.clone(),
        rule: r.clone(),
    }
}

/// Compares draft `a` (labelled `a_label`) with draft `b`.
pub fn diff(a: &PolicyDraft, a_label: &str, b: &PolicyDraft, b_label: &str) -> PolicyDiff {
    let (ra, rb) = (rules(a), rules(b));
    let mut d = PolicyDiff {
        schema: DIFF_SCHEMA.to_string(),
        a: side(a_label, a),
        b: side(b_label, b),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        unchanged: 0,
    };
    for (k, r) in &ra {
        match rb.get(k) {
            None => d.removed.push(rule_ref(k, r)),
            Some(rb_rule) => {
                let c = changes(r, rb_rule);
                if c.is_empty() {
                    d.unchanged += 1;
                } else {
                    d.changed.push(RuleChange {
                        server: k.1.clone(),
                        port: k.2,
                        proto: k.3.clone(),
                        client: k.4.clone(),
                        changes: c,
                    });
                }
            }
        }
    }
    for (k, r) in &rb {
        if !ra.contains_key(k) {
            d.added.push(rule_ref(k, r));
        }
    }
    d
}

fn summary(r: &AllowRule) -> String {
    if let Some(m) = &r.exception {
        return format!(
            "exception #{} ({}) until {}: {}",
            m.id, m.ticket, m.expires, m.reason
        );
    }
    let mut parts = vec![format!(
        "{}, {} connection(s), last seen {}",
        r.evidence.pattern.as_deref().unwrap_or("no pattern"),
        r.evidence.connections,
        r.evidence.last_seen.date()
    )];
    if let Some(t) = &r.ticket {
        parts.push(format!("ticket {t}"));
    }
    parts.join(", ")
}

/// The diff as a table for people: a header line with the counts, then one
/// row per added (`+`), removed (`-`) and changed (`~`) rule.
pub fn diff_table(d: &PolicyDiff) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    let service = |server: &str, port: u16, proto: &str| format!("{server}:{port}/{proto}");
    for (sign, rules) in [("+", &d.added), ("-", &d.removed)] {
        for r in rules {
            rows.push([
                sign.into(),
                service(&r.server, r.port, &r.proto),
                r.rule.client.to_string(),
                summary(&r.rule),
            ]);
        }
    }
    for c in &d.changed {
        let what: Vec<String> = c
            .changes
            .iter()
            .map(|f| {
                format!(
                    "{}: {} -> {}",
                    f.field,
                    f.from.as_deref().unwrap_or("-"),
                    f.to.as_deref().unwrap_or("-")
                )
            })
            .collect();
        rows.push([
            "~".into(),
            service(&c.server, c.port, &c.proto),
            c.client.clone(),
            what.join("; "),
        ]);
    }
    let mut out = format!(
        "{} ({}, {} rules) -> {} ({}, {} rules): {} added, {} removed, {} changed, {} unchanged\n",
        d.a.label,
        d.a.generated_at,
        d.a.rules,
        d.b.label,
        d.b.generated_at,
        d.b.rules,
        d.added.len(),
        d.removed.len(),
        d.changed.len(),
        d.unchanged
    );
    if rows.is_empty() {
        out.push_str("no rule differs\n");
        return out;
    }
    let head = ["", "SERVICE", "CLIENT", "DETAIL"].map(String::from);
    let width = |column: usize| {
        rows.iter()
            .chain([&head])
            .map(|r| r[column].len())
            .max()
            .unwrap_or(0)
    };
    let (w1, w2) = (width(1), width(2));
    for r in [&head].into_iter().chain(rows.iter()) {
        out.push_str(&format!(
            "{:1}  {:w1$}  {:w2$}  {}\n",
            r[0], r[1], r[2], r[3]
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{draft, DraftOptions};

    fn edge(client: &str, port: u16) -> (depmap_edges::EdgeKey, depmap_edges::EdgeStats) {
        crate::tests::edge(client, port, 9, 40)
    }

    #[test]
    fn added_removed_and_changed_rules() {
        let a = draft(
            &[edge("10.0.0.1", 443), edge("10.0.0.2", 443)],
            &DraftOptions {
                ticket: Some("CHG-1".into()),
                ..DraftOptions::default()
            },
        );
        let b = draft(
            &[edge("10.0.0.2", 443), edge("10.0.0.3", 22)],
            &DraftOptions {
                ticket: Some("CHG-2".into()),
                ..DraftOptions::default()
            },
        );
        let d = diff(&a, "version 1", &b, "version 2");
        assert_eq!(d.added.len(), 1);
        assert_eq!(
            (d.added[0].port, d.added[0].rule.client.to_string().as_str()),
            (22, "10.0.0.3")
        );
        assert_eq!(d.removed[0].rule.client, "10.0.0.1");
        assert_eq!(d.changed.len(), 1);
        assert_eq!(
            d.changed[0].changes,
            [FieldChange {
                field: "ticket".into(),
                from: Some("CHG-1".into()),
                to: Some("CHG-2".into())
            }]
        );
        assert_eq!(d.unchanged, 0);
        let t = diff_table(&d);
        assert!(
            t.contains("1 added, 1 removed, 1 changed, 0 unchanged"),
            "{t}"
        );
        assert!(t.contains("+  10.0.0.9:22/tcp"), "{t}");
        assert!(t.contains("ticket: CHG-1 -> CHG-2"), "{t}");

        let same = diff(&a, "a", &a, "a");
        assert_eq!((same.unchanged, same.changed.len()), (2, 0));
        assert!(diff_table(&same).contains("no rule differs"));
    }
}
