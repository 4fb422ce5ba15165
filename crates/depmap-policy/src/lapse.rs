//! Rules past their `expires`.
//!
//! A draft file outlives the moment it was made: a rule that expires (an
//! exception granted for two hours, a rule drafted with `--expires 90d`)
//! is still in the file after its time. New drafts leave expired
//! exceptions out by themselves; [`drop_lapsed`] does the same for a draft
//! read back, so a rendering or a simulation made after a rule lapsed does
//! not allow what that rule allowed.

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
/// services they list, so dropping it would open it instead. (An `expires`
/// that is not an RFC 3339 time cannot get this far: reading the draft
/// fails, naming the rule.)
pub fn drop_lapsed(d: &mut PolicyDraft, now: i64) -> Vec<LapsedRule> {
    let mut lapsed = Vec::new();
    for s in &mut d.services {
        let mut kept = Vec::with_capacity(s.allow.len());
        for r in s.allow.drain(..) {
            match r.expires {
                Some(at) if at.ns() <= now => lapsed.push(LapsedRule {
                    client: r.client.to_string(),
                    server: s.server.to_string(),
                    port: s.port,
                    proto: s.proto.to_string(),
                    expires: at.to_string(),
                    ticket: r.ticket.clone(),
                }),
                _ => kept.push(r),
            }
        }
        s.allow = kept;
    }
    lapsed
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
                first_seen: "2026-11-01T00:00:00.000000Z".parse().unwrap(),
                last_seen: "2026-11-01T00:00:00.000000Z".parse().unwrap(),
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
            expires: expires.map(|t| t.parse().unwrap()),
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
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(NOON as u64),
        )
        .to_string();
        let mut d = draft(vec![
            rule("10.0.0.1", None),
            rule("10.0.0.3", Some(&noon)),
            rule("10.0.0.4", Some("2099-01-01T00:00:00Z")),
        ]);
        let lapsed = drop_lapsed(&mut d, NOON);
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
        assert!(drop_lapsed(&mut d, NOON - 1).is_empty());
        assert_eq!(d.services.len(), 1);
    }

    #[test]
    fn a_service_left_without_rules_stays_and_a_bad_time_is_an_error() {
        let mut d = draft(vec![rule("10.0.0.3", Some("2020-01-01T00:00:00Z"))]);
        assert_eq!(drop_lapsed(&mut d, NOON).len(), 1);
        assert_eq!(d.services.len(), 1);
        assert!(d.services[0].allow.is_empty());

        // A bad time is an error when the draft is read, naming the rule.
        let mut d = draft(vec![rule("10.0.0.3", None)]);
        let json = crate::to_json(&d).replace("\"expires\": null", "\"expires\": \"next tuesday\"");
        let err = serde_json::from_str::<PolicyDraft>(&json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("10.0.0.3 -> 10.0.0.2:443/tcp"), "{err}");
        assert!(err.contains("RFC 3339"), "{err}");
        assert!(drop_lapsed(&mut d, NOON).is_empty());
    }
}
