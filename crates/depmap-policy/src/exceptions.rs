//! Time-bound exceptions: allows granted by a person under a ticket, which
//! a draft carries only until they expire.
//!
//! The exception itself is the store's row ([`ExceptionRow`], with
//! [`ExceptionRow::state`]): one type from the table to the draft.
//! [`apply_exceptions`] takes the time as an argument: an exception is
//! active while `now < expires_at` and it is not revoked. Active exceptions
//! become allow rules marked with [`ExceptionMark`]; expired ones are listed
//! in [`PolicyDraft::expired_exceptions`] and allow nothing; revoked ones
//! are left out silently (their revocation is in the audit trail).

use std::net::IpAddr;

use depmap_model::rfc3339;
use serde::{Deserialize, Serialize};

use depmap_store::{ExceptionRow, ExceptionState, NewException};

use crate::{AllowRule, Endpoint, Evidence, PolicyDraft, Proto, ServicePolicy, Timestamp};

/// `allow client -> server:port/proto until EXPIRY (reason)`: how an
/// exception is named in the audit trail and in messages.
pub fn describe_exception(e: &NewException) -> String {
    format!(
        "allow {} -> {}:{}/{} until {} ({})",
        e.client,
        e.server,
        e.port,
        e.proto,
        rfc3339(e.expires_at),
        e.reason
    )
}

/// What marks an allow rule as a time-bound exception.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExceptionMark {
    /// The exception's number in the store.
    pub id: i64,
    /// The change ticket.
    pub ticket: String,
    /// Why it was granted.
    pub reason: String,
    /// Who granted it.
    pub granted_by: String,
    /// When it was granted.
    pub granted_at: Timestamp,
    /// When it stops; the rule's `expires` says the same.
    pub expires: Timestamp,
}

/// An exception that had expired when a draft was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpiredException {
    /// The exception's number in the store.
    pub id: i64,
    /// Client address or network.
    pub client: String,
    /// Server address.
    pub server: String,
    /// Server port.
    pub port: u16,
    /// Protocol.
    pub proto: String,
    /// The change ticket.
    pub ticket: String,
    /// Why it had been granted.
    pub reason: String,
    /// When it expired.
    pub expired_at: Timestamp,
}

/// Whether a rule's client (`10.0.0.1` or `10.0.0.0/24`) covers `ip`.
/// Anything that is neither never matches.
pub fn client_matches(client: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = client.split_once('/') else {
        return client.parse::<IpAddr>().is_ok_and(|a| a == ip);
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Adds the exceptions active at `now` to a draft as allow rules marked as
/// exceptions (ticket, reason, expiry), lists the expired ones in
/// [`PolicyDraft::expired_exceptions`], and leaves revoked ones out.
/// Returns the expired exceptions' ids, for the audit trail.
///
/// An active exception whose client already has a learned rule for the
/// same service adds no second rule (the learned one, backed by traffic,
/// applies); a warning in the draft says so.
pub fn apply_exceptions(d: &mut PolicyDraft, exceptions: &[ExceptionRow], now: i64) -> Vec<i64> {
    let mut expired = Vec::new();
    for row in exceptions {
        let e = &row.exception;
        match row.state(now) {
            ExceptionState::Revoked => {}
            ExceptionState::Expired => {
                expired.push(row.id);
                d.expired_exceptions.push(ExpiredException {
                    id: row.id,
                    client: e.client.clone(),
                    server: e.server.clone(),
                    port: e.port,
                    proto: e.proto.clone(),
                    ticket: e.ticket.clone(),
                    reason: e.reason.clone(),
                    expired_at: Timestamp(e.expires_at),
                });
            }
            ExceptionState::Active => add_rule(d, row.id, e),
        }
    }
    // Services stay in address order when an exception adds one.
    d.services.sort_by_key(|s| (s.server.addr(), s.port));
    expired
}

fn add_rule(d: &mut PolicyDraft, id: i64, e: &NewException) {
    // The store keeps the text the grant was checked with; a row that no
    // longer reads back is said, not allowed.
    let (Ok(client), Ok(server), Ok(proto)) = (
        e.client.parse::<Endpoint>(),
        e.server.parse::<Endpoint>(),
        e.proto.parse::<Proto>(),
    ) else {
        d.warnings.push(format!(
            "exception #{id} ({}) allows {} -> {}:{}/{}, which is not an address, a network and              a protocol depmap reads: it is left out",
            e.ticket, e.client, e.server, e.port, e.proto
        ));
        return;
    };
    let pos = d
        .services
        .iter()
        .position(|s| s.server == server && s.port == e.port && s.proto == proto);
    let svc = match pos {
        Some(i) => &mut d.services[i],
        None => {
            d.services.push(ServicePolicy {
                server,
                port: e.port,
                proto,
                allow: Vec::new(),
            });
            let last = d.services.len() - 1;
            &mut d.services[last]
        }
    };
    if svc
        .allow
        .iter()
        .any(|r| r.exception.is_none() && r.client == client)
    {
        d.warnings.push(format!(
            "exception #{} ({}) allows {} -> {}:{}/{}, which a rule learned from traffic already allows",
            id, e.ticket, e.client, e.server, e.port, e.proto
        ));
        return;
    }
    let granted = Timestamp(e.created_at);
    let expires = Timestamp(e.expires_at);
    svc.allow.push(AllowRule {
        client,
        evidence: Evidence {
            first_seen: granted,
            last_seen: granted,
            connections: 0,
            packets: 0,
            bytes: 0,
            source: "exception".to_string(),
            active_days: 0,
            pattern: None,
            next_expected: None,
        },
        owner: Some(e.author.clone()),
        ticket: Some(e.ticket.clone()),
        expires: Some(expires),
        exception: Some(ExceptionMark {
            id,
            ticket: e.ticket.clone(),
            reason: e.reason.clone(),
            granted_by: e.author.clone(),
            granted_at: granted,
            expires,
        }),
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{draft, DraftOptions};
    use depmap_edges::{EdgeKey, EdgeStats, NANOS_PER_HOUR};

    fn exception(id: i64, client: &str, port: u16, expires_at: i64) -> ExceptionRow {
        ExceptionRow {
            id,
            exception: NewException {
                client: client.into(),
                server: "10.0.0.9".into(),
                port,
                proto: "tcp".into(),
                created_at: 0,
                expires_at,
                ticket: format!("INC-{id}"),
                reason: "vendor support session".into(),
                author: "alice".into(),
            },
            revoked_at: None,
            expiry_noted: false,
        }
    }

    fn learned() -> PolicyDraft {
        let key = EdgeKey {
            client: "10.0.0.1".parse().unwrap(),
            server: "10.0.0.9".parse().unwrap(),
            port: 443,
            proto: 6,
        };
        let stats = EdgeStats {
            connections: 5,
            client_packets: 5,
            client_bytes: 500,
            server_packets: 5,
            server_bytes: 500,
            first_seen: 0,
            last_seen: NANOS_PER_HOUR,
        };
        draft(&[(key, stats)], &DraftOptions::default())
    }

    #[test]
    fn active_exceptions_are_rules_until_they_expire() {
        let hour = NANOS_PER_HOUR;
        let ex = [
            exception(1, "10.0.8.0/24", 443, hour),
            exception(2, "10.0.7.7", 22, hour),
            exception(3, "10.0.0.1", 443, hour),
            ExceptionRow {
                revoked_at: Some(0),
                ..exception(4, "10.0.6.6", 22, hour)
            },
        ];
        let mut inside = learned();
        assert!(apply_exceptions(&mut inside, &ex, hour - 1).is_empty());
        assert_eq!(
            inside.services.len(),
            2,
            "a new service for port 22, in port order"
        );
        assert_eq!(inside.services[0].allow[0].client, "10.0.7.7");
        let s443 = &inside.services[1];
        assert_eq!(s443.port, 443);
        let clients: Vec<_> = s443.allow.iter().map(|r| r.client.clone()).collect();
        assert_eq!(clients, ["10.0.0.1", "10.0.8.0/24"]);
        let mark = s443.allow[1].exception.as_ref().unwrap();
        assert_eq!((mark.id, mark.ticket.as_str()), (1, "INC-1"));
        assert_eq!(s443.allow[1].expires, Some(mark.expires));
        assert!(inside.warnings.iter().any(|w| w.contains("exception #3")));
        assert!(inside.expired_exceptions.is_empty());

        let mut after = learned();
        assert_eq!(apply_exceptions(&mut after, &ex, hour), [1, 2, 3]);
        assert_eq!(after.services.len(), 1);
        assert_eq!(after.services[0].allow.len(), 1);
        assert_eq!(after.expired_exceptions.len(), 3);
        assert_eq!(after.expired_exceptions[0].ticket, "INC-1");
        let back: PolicyDraft = serde_json::from_str(&crate::to_json(&inside)).unwrap();
        assert_eq!(back, inside);

        // Simulation lets the exception's network through while it lasts.
        let from_net = EdgeKey {
            client: "10.0.8.77".parse().unwrap(),
            server: "10.0.0.9".parse().unwrap(),
            port: 443,
            proto: 6,
        };
        let act = [(
            from_net,
            depmap_edges::DayActivity {
                day: 0,
                hours: 1,
                connections: 1,
                packets: 2,
                bytes: 100,
            },
        )];
        assert!(crate::simulate(&inside, &act, None, None).is_empty());
        assert_eq!(crate::simulate(&after, &act, None, None).len(), 1);
    }

    #[test]
    fn clients_match_addresses_and_networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(client_matches("10.0.8.0/24", ip("10.0.8.77")));
        assert!(!client_matches("10.0.8.0/24", ip("10.0.9.1")));
        assert!(client_matches("0.0.0.0/0", ip("192.0.2.1")));
        assert!(client_matches("2001:db8::/32", ip("2001:db8::5")));
        assert!(!client_matches("2001:db8::/32", ip("10.0.0.1")));
        assert!(client_matches("10.0.0.1", ip("10.0.0.1")));
        assert!(!client_matches("10.0.0.0/33", ip("10.0.0.1")));
        assert!(!client_matches("web-tier", ip("10.0.0.1")));
    }
}
