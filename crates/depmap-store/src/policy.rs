//! The policy lifecycle in the store: versioned rule drafts, time-bound
//! exceptions, and an append-only audit trail of every change to them.
//!
//! Every write here is one transaction together with its audit row, so there
//! is never a version or an exception the audit table does not mention.
//! [`PolicyLog`] is the interface; the SQLite tables are in
//! `sqlite/policy.rs`. The
//! audit table, the versions and the exceptions cannot be deleted from, and
//! the audit table and the versions cannot be updated either: SQLite
//! triggers raise an error (`docs/STORE.md`). An exception changes only to be
//! revoked or to note that its expiry was reported.
//!
//! Times are nanoseconds since the epoch, passed in by the caller (the store
//! reads no clock). Drafts are stored as the JSON text they were written as;
//! this crate does not parse them.

use twox_hash::XxHash3_128;

use crate::StoreError;

/// A draft about to be stored as a new version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewPolicyVersion {
    /// When (ns since the epoch).
    pub created_at: i64,
    /// Who made it.
    pub author: String,
    /// The change ticket it was made under.
    pub ticket: Option<String>,
    /// The draft's JSON text, stored as is.
    pub draft: String,
    /// A one-line summary for `policy list` and the audit row
    /// (`12 rules in 5 services`, `rollback to version 2`, ...).
    pub note: String,
}

/// A stored draft version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyVersion {
    /// The version number (1, 2, ...; never reused).
    pub id: i64,
    /// What was stored: when, by whom, the draft and its summary.
    pub version: NewPolicyVersion,
    /// `xxh3-128:` + hex digest of the draft ([`NewPolicyVersion::draft`]):
    /// equal hashes, equal content.
    pub content_hash: String,
}

/// An exception about to be stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewException {
    /// Client address or CIDR, as text.
    pub client: String,
    /// Server address.
    pub server: String,
    /// Server port.
    pub port: u16,
    /// `tcp`, `udp`, ...
    pub proto: String,
    /// When it was granted (ns since the epoch).
    pub created_at: i64,
    /// When it stops (ns since the epoch).
    pub expires_at: i64,
    /// The change ticket.
    pub ticket: String,
    /// Why.
    pub reason: String,
    /// Who granted it.
    pub author: String,
}

/// A stored exception.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExceptionRow {
    /// Its number.
    pub id: i64,
    /// What was granted.
    pub exception: NewException,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// Whether a draft has reported it expired (and the audit table says so).
    pub expiry_noted: bool,
}

/// Where an exception stands at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionState {
    /// Granted and not yet expired.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked by a person.
    Revoked,
}

impl ExceptionState {
    /// `active`, `expired`, `revoked`.
    pub fn name(self) -> &'static str {
        match self {
            ExceptionState::Active => "active",
            ExceptionState::Expired => "expired",
            ExceptionState::Revoked => "revoked",
        }
    }
}

impl ExceptionRow {
    /// Its state at `now` (ns since the epoch): active while `now <
    /// expires_at` and not revoked; revoked beats expired. This is the one
    /// definition drafts, listings and rollbacks use.
    pub fn state(&self, now: i64) -> ExceptionState {
        if self.revoked_at.is_some() {
            ExceptionState::Revoked
        } else if now >= self.exception.expires_at {
            ExceptionState::Expired
        } else {
            ExceptionState::Active
        }
    }
}

/// One audit row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// Its number (rows are only ever appended).
    pub id: i64,
    /// When (ns since the epoch).
    pub at: i64,
    /// Who.
    pub who: String,
    /// `draft`, `rollback`, `except`, `revoke`, `expire`, ...
    pub action: String,
    /// What changed, in words.
    pub what: String,
    /// The change ticket, if one was given.
    pub ticket: Option<String>,
}

/// The policy lifecycle's log: versioned drafts, time-bound exceptions and
/// the audit trail. Every change is one transaction together with its
/// audit row. Times are nanoseconds since the epoch, passed in.
pub trait PolicyLog {
    /// Stores a draft as the next version and audits it (`action`, e.g.
    /// `draft` or `rollback`, with `version N (hash): note`), in one
    /// transaction.
    fn add_policy_version(
        &mut self,
        v: &NewPolicyVersion,
        action: &str,
    ) -> Result<PolicyVersion, StoreError>;

    /// Every stored version, oldest first.
    fn policy_versions(&self) -> Result<Vec<PolicyVersion>, StoreError>;

    /// One version, if it exists.
    fn policy_version(&self, id: i64) -> Result<Option<PolicyVersion>, StoreError>;

    /// Stores an exception and audits it (`except`, with `exception #N:
    /// what`), in one transaction.
    fn add_exception(&mut self, e: &NewException, what: &str) -> Result<ExceptionRow, StoreError>;

    /// Every exception, revoked and expired ones included, oldest first.
    fn exceptions(&self) -> Result<Vec<ExceptionRow>, StoreError>;

    /// Revokes exception `id` at `at` and audits it. Returns the exception
    /// as it now stands (`None` if there is no such exception); revoking a
    /// revoked exception changes nothing and writes no audit row.
    fn revoke_exception(
        &mut self,
        id: i64,
        at: i64,
        who: &str,
        ticket: Option<&str>,
    ) -> Result<Option<ExceptionRow>, StoreError>;

    /// Records that the exceptions `expired` (id and a description) were
    /// found expired and left out of a draft: one `expire` audit row for each
    /// not noted before. Returns how many were new.
    fn note_expired_exceptions(
        &mut self,
        expired: &[(i64, String)],
        at: i64,
        who: &str,
    ) -> Result<usize, StoreError>;

    /// Appends one audit row.
    fn append_audit(
        &mut self,
        at: i64,
        who: &str,
        action: &str,
        what: &str,
        ticket: Option<&str>,
    ) -> Result<i64, StoreError>;

    /// The audit trail, oldest first.
    fn audit(&self) -> Result<Vec<AuditRow>, StoreError>;
}

/// The digest stored with each version.
pub(crate) fn hash(text: &str) -> String {
    format!("xxh3-128:{:032x}", XxHash3_128::oneshot(text.as_bytes()))
}
