//! Rules past their `expires`.
//!
//! A draft file outlives the moment it was made: a rule that expires (an
//! exception granted for two hours, a rule drafted with `--expires 90d`)
//! is still in the file after its time. New drafts leave expired
//! exceptions out by themselves; [`drop_lapsed`] does the same for a draft
//! read back, so a rendering or a simulation made after a rule lapsed does
//! not allow what that rule allowed.

use std::time::UNIX_EPOCH;

use serde::Serialize;

use crate::PolicyDraft;

/// An allow rule left out because its `expires` had passed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LapsedRule {
    /// The client the rule allowed.
    pub client: String,
    /// The service's address.
    pub server: String,
    /// The service's port.
    pub port: u16,
    /// The service's protocol.
    pub proto: String,
    /// When the rule expired (as the draft gives it).
    pub expires: String,
    /// The rule's ticket, if any.
    pub ticket: Option<String>,
}

/// Removes from `d` every allow rule whose `expires` is at or before `now`
/// (ns since the epoch) and returns the rules removed. A service left with
/// no rule stays, allowing nothing: the renderings deny traffic to the
/// services they list, so dropping it would open it instead. An `expires` that is not
/// an RFC 3339 time (a reviewer's edit gone wrong) is an error naming the
/// rule: whether it still holds cannot be told.
pub fn drop_lapsed(d: &mut PolicyDraft, now: i64) -> Result<Vec<LapsedRule>, String> {
    let mut lapsed = Vec::new();
    for s in &mut d.services {
        let mut kept = Vec::with_capacity(s.allow.len());
        for r in s.allow.drain(..) {
            let Some(expires) = &r.expires else {
                kept.push(r);
                continue;
            };
            let at = parse(expires).ok_or_else(|| {
                format!(
                    "the rule {} -> {}:{}/{} expires {expires:?}, which is not an RFC 3339 time \
                     such as 2026-12-01T00:00:00Z; correct or remove it",
                    r.client, s.server, s.port, s.proto
                )
            })?;
            if at <= now {
                lapsed.push(LapsedRule {
                    client: r.client.to_string(),
                    server: s.server.to_string(),
                    port: s.port,
                    proto: s.proto.to_string(),
                    expires: expires.clone(),
                    ticket: r.ticket.clone(),
                });
            } else {
                kept.push(r);
            }
        }
        s.allow = kept;
    }
    Ok(lapsed)
}

/// An RFC 3339 time as ns since the epoch.
fn parse(text: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(text).ok()?;
    let ns = t.duration_since(UNIX_EPOCH).ok()?.as_nanos();
    i64::try_from(ns).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{AllowRule, Endpoint, Evidence, ServicePolicy};

    fn rule(client: &str, expires: Option<&str>) -> AllowRule {
        AllowRule {
            client: client.parse().unwrap(),
            evidence: Evidence {
                first_seen: "2026-11-01T00:00:00.000000Z".to_string(),
                last_seen: "2026-11-01T00:00:00.000000Z".to_string(),
                connections: 1,
                packets: 1,
                bytes: 60,
                source: "packets".to_string(),
                active_days: 1,
                pattern: None,
                next_expected: None,
            },
            owner: None,
            ticket: Some("T-1".to_string()),
            expires: expires.map(str::to_string),
            exception: None,
        }
    }

    fn draft(rules: Vec<AllowRule>) -> PolicyDraft {
        let mut d = crate::draft(&[], &crate::DraftOptions::default());
        d.services.push(ServicePolicy {
            server: "10.0.0.2".parse().unwrap(),
            port: 443,
            proto: "tcp".parse().unwrap(),
            allow: rules,
        });
        d
    }

    const NOON: i64 = 1_795_000_000_000_000_000;

    #[test]
    fn rules_at_or_past_their_expiry_are_dropped_and_listed() {
        let noon = humantime::format_rfc3339_micros(
            UNIX_EPOCH + std::time::Duration::from_nanos(NOON as u64),
        )
        .to_string();
        let mut d = draft(vec![
            rule("10.0.0.1", None),
            rule("10.0.0.3", Some(&noon)),
            rule("10.0.0.4", Some("2099-01-01T00:00:00Z")),
        ]);
        let lapsed = drop_lapsed(&mut d, NOON).unwrap();
        assert_eq!(lapsed.len(), 1);
        assert_eq!(lapsed[0].client, "10.0.0.3");
        assert_eq!(lapsed[0].ticket.as_deref(), Some("T-1"));
        let left: Vec<Endpoint> = d.services[0]
            .allow
            .iter()
            .map(|r| r.client.clone())
            .collect();
        assert_eq!(left, ["10.0.0.1", "10.0.0.4"]);

        // One nanosecond earlier the rule still holds.
        let mut d = draft(vec![rule("10.0.0.3", Some(&noon))]);
        assert!(drop_lapsed(&mut d, NOON - 1).unwrap().is_empty());
        assert_eq!(d.services.len(), 1);
    }

    #[test]
    fn a_service_left_without_rules_stays_and_a_bad_time_is_an_error() {
        let mut d = draft(vec![rule("10.0.0.3", Some("2020-01-01T00:00:00Z"))]);
        assert_eq!(drop_lapsed(&mut d, NOON).unwrap().len(), 1);
        assert_eq!(d.services.len(), 1);
        assert!(d.services[0].allow.is_empty());

        let mut d = draft(vec![rule("10.0.0.3", Some("next tuesday"))]);
        let err = drop_lapsed(&mut d, NOON).unwrap_err();
        assert!(err.contains("10.0.0.3 -> 10.0.0.2:443/tcp"), "{err}");
        assert!(err.contains("RFC 3339"), "{err}");
    }
}
