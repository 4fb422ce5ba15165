//! The policy lifecycle over a store: drafting from its traffic and
//! exceptions, storing versions, rolling back, granting and revoking
//! exceptions, reading versions back.
//!
//! This is the service the CLI's `depmap policy draft|list|show|diff|
//! rollback|except` drive, and the one a web map would call: the callers
//! parse flags, read the clock, read and write files and print; every
//! decision and every note written to the store is made here. Time is an
//! argument (`now`, ns since the epoch); the store is the only effect, and
//! each change is one of its transactions together with its audit row.
//! The functions are generic over the store's traits ([`PolicyLog`] for
//! versions, exceptions and the audit trail; [`MapStore`] where a draft is
//! learned from traffic), so any backend serves them.
//!
//! ```
//! use depmap_policy::lifecycle;
//! # let dir = tempfile::tempdir()?;
//! let mut store = depmap_store::Store::open(dir.path().join("map.db"))?;
//! let now = 1_000_000_000;
//! let req = lifecycle::DraftRequest::new(depmap_policy::DraftOptions {
//!     generated_at: now,
//!     ..Default::default()
//! });
//! let drafted = lifecycle::draft_from_store(&store, &req)?;
//! let v = lifecycle::store_draft(&mut store, &drafted.draft, &drafted.expired, now, "alice", None)?;
//! assert_eq!(v.id, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::IpAddr;
use std::time::Duration;

use depmap_model::Inventory;
use depmap_store::{
    ExceptionRow, ExceptionState, MapStore, NewException, NewPolicyVersion, PolicyLog,
    PolicyVersion, StoreError,
};

use crate::{
    add_names, apply_exceptions, describe_exception, draft_window, scope_activity, scope_draft,
    to_json, unused as unused_rules, DraftOptions, PolicyDraft, Proto, Scope, UnusedReport,
};

/// What can go wrong in the lifecycle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The store failed (it names its file).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored or given text is not a draft.
    #[error("{what} is not a depmap policy draft (make one with `depmap policy draft`)")]
    Draft {
        /// What was read (`version 3`, a file name).
        what: String,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A version reference that is not a number.
    #[error("{text:?} is not a version number; `depmap policy list` shows them")]
    NotAVersion {
        /// What was given.
        text: String,
    },
}

/// Parses a draft's JSON; `what` names it in the error.
pub fn parse_draft(text: &str, what: &str) -> Result<PolicyDraft, LifecycleError> {
    serde_json::from_str(text).map_err(|source| LifecycleError::Draft {
        what: what.to_string(),
        source,
    })
}

/// A stored version's draft.
pub fn version_draft(v: &PolicyVersion) -> Result<PolicyDraft, LifecycleError> {
    parse_draft(&v.version.draft, &format!("version {}", v.id))
}

/// A version number as people write it: `3` or `v3`.
pub fn version_number(text: &str) -> Result<i64, LifecycleError> {
    text.trim_start_matches(['v', 'V'])
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| LifecycleError::NotAVersion {
            text: text.to_string(),
        })
}

/// Every stored version, oldest first, with its number of allow rules
/// (`None` if its text does not parse as a draft).
pub fn versions<S: PolicyLog + ?Sized>(
    store: &S,
) -> Result<Vec<(PolicyVersion, Option<usize>)>, LifecycleError> {
    Ok(store
        .policy_versions()?
        .into_iter()
        .map(|v| {
            let rules = version_draft(&v).map(|d| d.rule_count()).ok();
            (v, rules)
        })
        .collect())
}

// ---- drafting ------------------------------------------------------------

/// What to draft from a store.
#[derive(Clone, Debug)]
pub struct DraftRequest<'a> {
    /// First day of the learning window (days since the epoch, inclusive).
    pub from_day: Option<i32>,
    /// Last day of the learning window (inclusive).
    pub to_day: Option<i32>,
    /// Edges active on fewer days go to review.
    pub min_days: u32,
    /// Thresholds, ticket, owner, expiry and the draft's time
    /// (`generated_at`, also the time exceptions are judged at).
    pub options: DraftOptions,
    /// The services to limit the draft to.
    pub scope: Option<&'a Scope>,
    /// Resolves `role:NAME` scopes.
    pub inventory: Option<&'a Inventory>,
}

impl DraftRequest<'_> {
    /// A request over all stored data with `options`.
    pub fn new(options: DraftOptions) -> Self {
        DraftRequest {
            from_day: None,
            to_day: None,
            min_days: 1,
            options,
            scope: None,
            inventory: None,
        }
    }
}

/// A draft made from a store, before it is stored.
#[derive(Clone, Debug)]
pub struct Drafted {
    /// The draft.
    pub draft: PolicyDraft,
    /// The exceptions left out because they had expired (id and
    /// description), for [`store_draft`] to audit.
    pub expired: Vec<(i64, String)>,
}

/// Drafts from the store's per-day activity in the window, adds the
/// exceptions active at the draft's time (listing expired ones), limits it
/// to the scope and records the learned names of its addresses.
pub fn draft_from_store<S: MapStore + PolicyLog + ?Sized>(
    store: &S,
    req: &DraftRequest<'_>,
) -> Result<Drafted, LifecycleError> {
    let now = req.options.generated_at;
    let mut activity = store.activity()?;
    if let Some(scope) = req.scope {
        scope_activity(&mut activity, scope, req.inventory);
    }
    let mut d = draft_window(
        &activity,
        req.from_day,
        req.to_day,
        req.min_days,
        &req.options,
    );
    let all = store.exceptions()?;
    let expired_ids = apply_exceptions(&mut d, &all, now);
    let expired = all
        .iter()
        .filter(|e| expired_ids.contains(&e.id))
        .map(|e| (e.id, describe_exception(&e.exception)))
        .collect();
    if let Some(scope) = req.scope {
        // Exceptions for servers outside the scope belong to other drafts.
        scope_draft(&mut d, scope, req.inventory);
        if d.services.is_empty() {
            d.warnings.push(format!(
                "no service in scope {}: no server seen in the window matches it",
                scope.describe()
            ));
        }
    }
    // After the exceptions, so the names of their addresses are kept too.
    add_names(&mut d, &store.names()?);
    Ok(Drafted { draft: d, expired })
}

/// Stores a draft as the next version (audited as `draft`, under the
/// draft's ticket), and audits once each exception it left out because it
/// had expired.
pub fn store_draft<S: PolicyLog + ?Sized>(
    store: &mut S,
    d: &PolicyDraft,
    expired: &[(i64, String)],
    now: i64,
    author: &str,
    ticket: Option<String>,
) -> Result<PolicyVersion, LifecycleError> {
    let exceptions: Vec<String> = d
        .services
        .iter()
        .flat_map(|s| s.allow.iter())
        .filter_map(|r| r.exception.as_ref().map(|m| format!("#{}", m.id)))
        .collect();
    let expired_ids: Vec<String> = expired.iter().map(|(id, _)| format!("#{id}")).collect();
    let note = format!(
        "{} rules in {} services, {} for review; exceptions included: {}; expired left out: {}",
        d.rule_count(),
        d.services.len(),
        d.review.len(),
        list_or_none(&exceptions),
        list_or_none(&expired_ids)
    );
    let v = store.add_policy_version(
        &NewPolicyVersion {
            created_at: now,
            author: author.to_string(),
            ticket,
            draft: to_json(d),
            note,
        },
        "draft",
    )?;
    store.note_expired_exceptions(expired, now, author)?;
    Ok(v)
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

// ---- rollback ------------------------------------------------------------

/// A rollback about to be stored: the old version, its draft, and the
/// exceptions it carries that have ended since.
#[derive(Clone, Debug)]
pub struct Rollback {
    /// The version whose content comes back.
    pub old: PolicyVersion,
    /// Its draft.
    pub draft: PolicyDraft,
    /// Exception rules in it whose exceptions have ended at the rollback's
    /// time: `#ID (expired)`, `#ID (revoked)`. Restored as they were.
    pub ended: Vec<String>,
}

/// Prepares a rollback to version `id` at `now`: `None` if there is no
/// such version.
pub fn plan_rollback<S: PolicyLog + ?Sized>(
    store: &S,
    id: i64,
    now: i64,
) -> Result<Option<Rollback>, LifecycleError> {
    let Some(old) = store.policy_version(id)? else {
        return Ok(None);
    };
    let draft = version_draft(&old)?;
    // The old content may carry exceptions that have ended since: it is
    // restored as it was, and said.
    let exceptions = store.exceptions()?;
    let ended = draft
        .services
        .iter()
        .flat_map(|s| s.allow.iter())
        .filter_map(|r| r.exception.as_ref())
        .filter_map(|m| {
            let state = exceptions.iter().find(|e| e.id == m.id)?.state(now);
            (state != ExceptionState::Active).then(|| format!("#{} ({})", m.id, state.name()))
        })
        .collect();
    Ok(Some(Rollback { old, draft, ended }))
}

/// Stores a planned rollback as a new version with the old content (same
/// content hash), audited as `rollback`.
pub fn store_rollback<S: PolicyLog + ?Sized>(
    store: &mut S,
    r: &Rollback,
    now: i64,
    author: &str,
    ticket: Option<String>,
) -> Result<PolicyVersion, LifecycleError> {
    let note = format!(
        "rollback to version {} ({} rules in {} services){}",
        r.old.id,
        r.draft.rule_count(),
        r.draft.services.len(),
        if r.ended.is_empty() {
            String::new()
        } else {
            format!("; carries ended exceptions {}", r.ended.join(", "))
        }
    );
    Ok(store.add_policy_version(
        &NewPolicyVersion {
            created_at: now,
            author: author.to_string(),
            ticket,
            draft: r.old.version.draft.clone(),
            note,
        },
        "rollback",
    )?)
}

// ---- exceptions ----------------------------------------------------------

/// An exception a person grants.
#[derive(Clone, Debug)]
pub struct Grant {
    /// Client address or network, in canonical form (`10.0.9.7`,
    /// `10.0.9.0/24`).
    pub client: String,
    /// Server address.
    pub server: IpAddr,
    /// Server port.
    pub port: u16,
    /// The protocol.
    pub proto: Proto,
    /// How long from `now` it lasts.
    pub ttl: Duration,
    /// The change ticket.
    pub ticket: String,
    /// Why.
    pub reason: String,
    /// Who grants it.
    pub author: String,
}

/// Stores an exception granted at `now` for `g.ttl`, audited as `except`.
/// Returns the stored row and its description.
pub fn grant_exception<S: PolicyLog + ?Sized>(
    store: &mut S,
    g: Grant,
    now: i64,
) -> Result<(ExceptionRow, String), LifecycleError> {
    let e = NewException {
        client: g.client,
        server: g.server.to_canonical().to_string(),
        port: g.port,
        proto: g.proto.to_string(),
        created_at: now,
        expires_at: now.saturating_add(i64::try_from(g.ttl.as_nanos()).unwrap_or(i64::MAX)),
        ticket: g.ticket,
        reason: g.reason,
        author: g.author,
    };
    let described = describe_exception(&e);
    let row = store.add_exception(&e, &described)?;
    Ok((row, described))
}

/// Every exception with its state at `now`, oldest first.
pub fn exceptions_at<S: PolicyLog + ?Sized>(
    store: &S,
    now: i64,
) -> Result<Vec<(ExceptionRow, ExceptionState)>, LifecycleError> {
    Ok(store
        .exceptions()?
        .into_iter()
        .map(|r| {
            let s = r.state(now);
            (r, s)
        })
        .collect())
}

/// What revoking an exception did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// There is no such exception.
    NoSuch,
    /// It had been revoked before, at this time: nothing changed.
    Already(Option<i64>),
    /// It is revoked now (and audited).
    Now,
}

/// Revokes exception `id` at `now` (audited as `revoke` unless it was
/// revoked already).
pub fn revoke_exception<S: PolicyLog + ?Sized>(
    store: &mut S,
    id: i64,
    now: i64,
    by: &str,
    ticket: Option<&str>,
) -> Result<Revoked, LifecycleError> {
    Ok(match store.revoke_exception(id, now, by, ticket)? {
        None => Revoked::NoSuch,
        Some(r) if r.revoked_at != Some(now) => Revoked::Already(r.revoked_at),
        Some(_) => Revoked::Now,
    })
}

// ---- unused rules ---------------------------------------------------------

/// The draft's learned rules without traffic in the store for `days` days
/// as of `as_of`, by default the last day with stored activity (not the
/// clock: a store that stopped receiving data would otherwise call every
/// rule unused). `None` when there is no day to count back from.
pub fn unused<S: MapStore + ?Sized>(
    store: &S,
    d: &PolicyDraft,
    days: u32,
    as_of: Option<i32>,
) -> Result<Option<UnusedReport>, LifecycleError> {
    let Some(as_of) = as_of.map_or_else(|| store.last_activity_day(), |day| Ok(Some(day)))? else {
        return Ok(None);
    };
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    Ok(Some(unused_rules(d, &store.activity()?, days, as_of)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use depmap_store::Store;

    fn grant(ttl: Duration) -> Grant {
        Grant {
            client: "10.0.9.0/24".into(),
            server: "10.0.4.20".parse().unwrap(),
            port: 5432,
            proto: Proto(6),
            ttl,
            ticket: "INC-7".into(),
            reason: "restore test".into(),
            author: "alice".into(),
        }
    }

    #[test]
    fn drafts_carry_exceptions_until_they_end_and_rollback_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path().join("m.db")).unwrap();
        let hour = 3_600_000_000_000;
        let (row, what) = grant_exception(&mut s, grant(Duration::from_secs(3600)), 0).unwrap();
        assert!(what.starts_with("allow 10.0.9.0/24 -> 10.0.4.20:5432/tcp until "));
        assert_eq!(row.exception.expires_at, hour);

        let at = |now| {
            DraftRequest::new(DraftOptions {
                generated_at: now,
                ..DraftOptions::default()
            })
        };
        let inside = draft_from_store(&s, &at(hour - 1)).unwrap();
        assert!(inside.expired.is_empty());
        assert_eq!(inside.draft.rule_count(), 1);
        let v1 = store_draft(
            &mut s,
            &inside.draft,
            &inside.expired,
            hour - 1,
            "bob",
            None,
        )
        .unwrap();
        assert!(v1.version.note.contains("exceptions included: #1"));

        let after = draft_from_store(&s, &at(hour)).unwrap();
        assert_eq!(after.expired.len(), 1);
        assert_eq!(after.draft.rule_count(), 0);
        let v2 = store_draft(&mut s, &after.draft, &after.expired, hour, "bob", None).unwrap();
        assert!(v2.version.note.ends_with("expired left out: #1"));

        let r = plan_rollback(&s, v1.id, hour).unwrap().unwrap();
        assert_eq!(r.ended, ["#1 (expired)"]);
        let v3 = store_rollback(&mut s, &r, hour, "carol", Some("CHG-9".into())).unwrap();
        assert_eq!(v3.content_hash, v1.content_hash);
        assert!(plan_rollback(&s, 9, hour).unwrap().is_none());

        assert_eq!(
            revoke_exception(&mut s, 1, hour, "carol", None).unwrap(),
            Revoked::Now
        );
        assert_eq!(
            revoke_exception(&mut s, 1, hour + 1, "carol", None).unwrap(),
            Revoked::Already(Some(hour))
        );
        assert_eq!(
            revoke_exception(&mut s, 2, hour, "carol", None).unwrap(),
            Revoked::NoSuch
        );
        let states: Vec<_> = exceptions_at(&s, 0)
            .unwrap()
            .into_iter()
            .map(|(_, st)| st)
            .collect();
        assert_eq!(states, [ExceptionState::Revoked]);

        let actions: Vec<_> = s.audit().unwrap().into_iter().map(|a| a.action).collect();
        assert_eq!(
            actions,
            ["except", "draft", "draft", "expire", "rollback", "revoke"]
        );
        let listed = versions(&s).unwrap();
        assert_eq!(
            listed.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            [Some(1), Some(0), Some(1)]
        );
    }

    #[test]
    fn version_numbers_as_people_write_them() {
        assert_eq!(version_number("3").unwrap(), 3);
        assert_eq!(version_number("v12").unwrap(), 12);
        for bad in ["0", "-1", "x", "v"] {
            assert!(matches!(
                version_number(bad),
                Err(LifecycleError::NotAVersion { .. })
            ));
        }
    }
}
