//! The policy lifecycle in the store: versioned rule drafts, time-bound
//! exceptions, and an append-only audit trail of every change to them.
//!
//! Every write here is one transaction together with its audit row, so there
//! is never a version or an exception the audit table does not mention. The
//! audit table, the versions and the exceptions cannot be deleted from, and
//! the audit table and the versions cannot be updated either: SQLite
//! triggers raise an error (`docs/STORE.md`). An exception changes only to be
//! revoked or to note that its expiry was reported.
//!
//! Times are nanoseconds since the epoch, passed in by the caller (the store
//! reads no clock). Drafts are stored as the JSON text they were written as;
//! this crate does not parse them.

use rusqlite::{params, OptionalExtension, Row};
use twox_hash::XxHash3_128;

use crate::{classify, Store, StoreError};

/// Migration 5: the policy lifecycle tables and their append-only triggers.
pub(crate) const MIGRATION_5: &str = "CREATE TABLE policy_versions (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at   INTEGER NOT NULL,
        author       TEXT    NOT NULL,
        ticket       TEXT,
        draft        TEXT    NOT NULL,
        content_hash TEXT    NOT NULL,
        note         TEXT    NOT NULL
    );
    CREATE TABLE exceptions (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        client       TEXT    NOT NULL,
        server       TEXT    NOT NULL,
        port         INTEGER NOT NULL,
        proto        TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        ticket       TEXT    NOT NULL,
        reason       TEXT    NOT NULL,
        author       TEXT    NOT NULL,
        revoked_at   INTEGER,
        expiry_noted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE audit (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at     INTEGER NOT NULL,
        who    TEXT    NOT NULL,
        action TEXT    NOT NULL,
        what   TEXT    NOT NULL,
        ticket TEXT
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit table is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit table is append-only'); END;
    CREATE TRIGGER policy_versions_no_update BEFORE UPDATE ON policy_versions
        BEGIN SELECT RAISE(ABORT, 'policy versions are immutable; add a new version'); END;
    CREATE TRIGGER policy_versions_no_delete BEFORE DELETE ON policy_versions
        BEGIN SELECT RAISE(ABORT, 'policy versions are never deleted; roll back instead'); END;
    CREATE TRIGGER exceptions_no_delete BEFORE DELETE ON exceptions
        BEGIN SELECT RAISE(ABORT, 'exceptions are never deleted; revoke them instead'); END;
    CREATE TRIGGER exceptions_fixed BEFORE UPDATE OF client, server, port, proto, created_at,
        expires_at, ticket, reason, author ON exceptions
        BEGIN SELECT RAISE(ABORT, 'an exception cannot be edited; revoke it and add another'); END;";

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

/// The digest stored with each version.
fn hash(text: &str) -> String {
    format!("xxh3-128:{:032x}", XxHash3_128::oneshot(text.as_bytes()))
}

fn version_row(r: &Row<'_>) -> rusqlite::Result<PolicyVersion> {
    Ok(PolicyVersion {
        id: r.get(0)?,
        version: NewPolicyVersion {
            created_at: r.get(1)?,
            author: r.get(2)?,
            ticket: r.get(3)?,
            draft: r.get(4)?,
            note: r.get(6)?,
        },
        content_hash: r.get(5)?,
    })
}

fn exception_row(r: &Row<'_>) -> rusqlite::Result<ExceptionRow> {
    let port: i64 = r.get(3)?;
    Ok(ExceptionRow {
        id: r.get(0)?,
        exception: NewException {
            client: r.get(1)?,
            server: r.get(2)?,
            port: u16::try_from(port).unwrap_or(0),
            proto: r.get(4)?,
            created_at: r.get(5)?,
            expires_at: r.get(6)?,
            ticket: r.get(7)?,
            reason: r.get(8)?,
            author: r.get(9)?,
        },
        revoked_at: r.get(10)?,
        expiry_noted: r.get::<_, i64>(11)? != 0,
    })
}

const VERSION_COLUMNS: &str = "id, created_at, author, ticket, draft, content_hash, note";
const EXCEPTION_COLUMNS: &str = "id, client, server, port, proto, created_at, expires_at, ticket,
    reason, author, revoked_at, expiry_noted";

fn audit_in(
    tx: &rusqlite::Transaction<'_>,
    at: i64,
    who: &str,
    action: &str,
    what: &str,
    ticket: Option<&str>,
) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO audit (at, who, action, what, ticket) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![at, who, action, what, ticket],
    )?;
    Ok(tx.last_insert_rowid())
}

impl Store {
    /// Stores a draft as the next version and audits it (`action`, e.g.
    /// `draft` or `rollback`, with `version N (hash): note`), in one
    /// transaction.
    pub fn add_policy_version(
        &mut self,
        v: &NewPolicyVersion,
        action: &str,
    ) -> Result<PolicyVersion, StoreError> {
        let digest = hash(&v.draft);
        let id = self.in_transaction(|tx| {
            tx.execute(
                "INSERT INTO policy_versions (created_at, author, ticket, draft, content_hash, note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![v.created_at, v.author, v.ticket, v.draft, digest, v.note],
            )?;
            let id = tx.last_insert_rowid();
            let short = digest.get(9..21).unwrap_or(&digest);
            audit_in(
                tx,
                v.created_at,
                &v.author,
                action,
                &format!("version {id} ({short}): {}", v.note),
                v.ticket.as_deref(),
            )?;
            Ok(id)
        })?;
        Ok(PolicyVersion {
            id,
            version: v.clone(),
            content_hash: digest,
        })
    }

    /// Every stored version, oldest first.
    pub fn policy_versions(&self) -> Result<Vec<PolicyVersion>, StoreError> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM policy_versions ORDER BY id");
        self.query_all(&sql, version_row)
    }

    /// One version, if it exists.
    pub fn policy_version(&self, id: i64) -> Result<Option<PolicyVersion>, StoreError> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM policy_versions WHERE id = ?1");
        self.query_one(&sql, id, version_row)
    }

    /// Stores an exception and audits it (`except`, with `exception #N:
    /// what`), in one transaction.
    pub fn add_exception(
        &mut self,
        e: &NewException,
        what: &str,
    ) -> Result<ExceptionRow, StoreError> {
        let id = self.in_transaction(|tx| {
            tx.execute(
                "INSERT INTO exceptions (client, server, port, proto, created_at, expires_at,
                                         ticket, reason, author)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    e.client,
                    e.server,
                    i64::from(e.port),
                    e.proto,
                    e.created_at,
                    e.expires_at,
                    e.ticket,
                    e.reason,
                    e.author
                ],
            )?;
            let id = tx.last_insert_rowid();
            audit_in(
                tx,
                e.created_at,
                &e.author,
                "except",
                &format!("exception #{id}: {what}"),
                Some(&e.ticket),
            )?;
            Ok(id)
        })?;
        Ok(ExceptionRow {
            id,
            exception: e.clone(),
            revoked_at: None,
            expiry_noted: false,
        })
    }

    /// Every exception, revoked and expired ones included, oldest first.
    pub fn exceptions(&self) -> Result<Vec<ExceptionRow>, StoreError> {
        let sql = format!("SELECT {EXCEPTION_COLUMNS} FROM exceptions ORDER BY id");
        self.query_all(&sql, exception_row)
    }

    /// Revokes exception `id` at `at` and audits it. Returns the exception
    /// as it now stands (`None` if there is no such exception); revoking a
    /// revoked exception changes nothing and writes no audit row.
    pub fn revoke_exception(
        &mut self,
        id: i64,
        at: i64,
        who: &str,
        ticket: Option<&str>,
    ) -> Result<Option<ExceptionRow>, StoreError> {
        self.in_transaction(|tx| {
            let changed = tx.execute(
                "UPDATE exceptions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, at],
            )?;
            if changed == 1 {
                let what = format!("exception #{id} revoked");
                audit_in(tx, at, who, "revoke", &what, ticket)?;
            }
            Ok(())
        })?;
        let sql = format!("SELECT {EXCEPTION_COLUMNS} FROM exceptions WHERE id = ?1");
        self.query_one(&sql, id, exception_row)
    }

    /// Records that the exceptions `expired` (id and a description) were
    /// found expired and left out of a draft: one `expire` audit row for each
    /// not noted before. Returns how many were new.
    pub fn note_expired_exceptions(
        &mut self,
        expired: &[(i64, String)],
        at: i64,
        who: &str,
    ) -> Result<usize, StoreError> {
        self.in_transaction(|tx| {
            let mut noted = 0;
            for (id, what) in expired {
                let n = tx.execute(
                    "UPDATE exceptions SET expiry_noted = 1 WHERE id = ?1 AND expiry_noted = 0",
                    [id],
                )?;
                if n == 1 {
                    let ticket: Option<String> = tx
                        .query_row("SELECT ticket FROM exceptions WHERE id = ?1", [id], |r| {
                            r.get(0)
                        })
                        .optional()?;
                    let what = format!("exception #{id} expired and left out of drafts: {what}");
                    audit_in(tx, at, who, "expire", &what, ticket.as_deref())?;
                    noted += 1;
                }
            }
            Ok(noted)
        })
    }

    /// Appends one audit row.
    pub fn append_audit(
        &mut self,
        at: i64,
        who: &str,
        action: &str,
        what: &str,
        ticket: Option<&str>,
    ) -> Result<i64, StoreError> {
        self.in_transaction(|tx| audit_in(tx, at, who, action, what, ticket))
    }

    /// The audit trail, oldest first.
    pub fn audit(&self) -> Result<Vec<AuditRow>, StoreError> {
        self.query_all(
            "SELECT id, at, who, action, what, ticket FROM audit ORDER BY id",
            |r| {
                Ok(AuditRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    who: r.get(2)?,
                    action: r.get(3)?,
                    what: r.get(4)?,
                    ticket: r.get(5)?,
                })
            },
        )
    }

    /// Runs `f` in one transaction, committed only if `f` succeeds (an error
    /// rolls everything back); errors name the store file.
    fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
        let out = f(&tx).map_err(|e| classify(&path, e))?;
        tx.commit().map_err(|e| classify(&path, e))?;
        Ok(out)
    }

    /// The row with id `id`, if there is one.
    fn query_one<T>(
        &self,
        sql: &str,
        id: i64,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        self.conn
            .query_row(sql, [id], f)
            .optional()
            .map_err(|e| self.err(e))
    }

    fn query_all<T>(
        &self,
        sql: &str,
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], f).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn exception(expires_at: i64) -> NewException {
        NewException {
            client: "10.0.9.0/24".into(),
            server: "10.0.4.20".into(),
            port: 5432,
            proto: "tcp".into(),
            created_at: 100,
            expires_at,
            ticket: "INC-7".into(),
            reason: "restore test".into(),
            author: "alice".into(),
        }
    }

    #[test]
    fn versions_exceptions_and_their_audit_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path().join("m.db")).unwrap();
        let v = NewPolicyVersion {
            created_at: 10,
            author: "bob".into(),
            ticket: Some("CHG-1".into()),
            draft: "{\"schema\":\"depmap.policy/v1\"}".into(),
            note: "3 rules".into(),
        };
        let v1 = s.add_policy_version(&v, "draft").unwrap();
        let v2 = s.add_policy_version(&v, "rollback").unwrap();
        assert_eq!((v1.id, v2.id), (1, 2));
        assert_eq!(v1.content_hash, v2.content_hash);
        assert!(v1.content_hash.starts_with("xxh3-128:"));
        assert_eq!(s.policy_versions().unwrap().len(), 2);
        assert_eq!(s.policy_version(2).unwrap().unwrap().version, v);
        assert!(s.policy_version(3).unwrap().is_none());

        let e = s.add_exception(&exception(200), "allow ...").unwrap();
        assert_eq!(s.exceptions().unwrap()[0], e);
        assert_eq!(
            s.note_expired_exceptions(&[(e.id, "x".into())], 300, "bob")
                .unwrap(),
            1
        );
        assert_eq!(
            s.note_expired_exceptions(&[(e.id, "x".into())], 400, "bob")
                .unwrap(),
            0,
            "an expiry is audited once"
        );
        let r = s
            .revoke_exception(e.id, 500, "carol", None)
            .unwrap()
            .unwrap();
        assert_eq!(r.revoked_at, Some(500));
        let again = s
            .revoke_exception(e.id, 600, "carol", None)
            .unwrap()
            .unwrap();
        assert_eq!(again.revoked_at, Some(500));
        assert!(s
            .revoke_exception(99, 600, "carol", None)
            .unwrap()
            .is_none());

        let audit = s.audit().unwrap();
        let actions: Vec<_> = audit.iter().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["draft", "rollback", "except", "expire", "revoke"]);
        assert!(
            audit[0].what.starts_with("version 1 ("),
            "{}",
            audit[0].what
        );
        assert_eq!(audit[2].ticket.as_deref(), Some("INC-7"));
        assert_eq!(audit[3].ticket.as_deref(), Some("INC-7"));
        assert_eq!(audit[4].who, "carol");
    }

    #[test]
    fn migration_5_adds_the_lifecycle_to_an_existing_store() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.db");
        {
            let c = rusqlite::Connection::open(&p).unwrap();
            for sql in &crate::MIGRATIONS[..4] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 4).unwrap();
        }
        let mut s = Store::open(&p).unwrap();
        assert_eq!(s.schema_version().unwrap(), 5);
        assert!(s.audit().unwrap().is_empty());
        s.add_exception(&exception(5), "x").unwrap();
        assert_eq!(s.audit().unwrap().len(), 1);
    }

    #[test]
    fn audit_versions_and_exceptions_refuse_edits() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path().join("m.db")).unwrap();
        s.append_audit(1, "alice", "draft", "version 1", None)
            .unwrap();
        s.add_policy_version(&NewPolicyVersion::default(), "draft")
            .unwrap();
        s.add_exception(&exception(5), "x").unwrap();
        for (sql, says) in [
            ("UPDATE audit SET who = 'mallory'", "append-only"),
            ("DELETE FROM audit", "append-only"),
            ("UPDATE policy_versions SET draft = '{}'", "immutable"),
            ("DELETE FROM policy_versions", "never deleted"),
            ("DELETE FROM exceptions", "never deleted"),
            (
                "UPDATE exceptions SET expires_at = 999999",
                "cannot be edited",
            ),
        ] {
            let err = s.conn.execute(sql, []).unwrap_err().to_string();
            assert!(err.contains(says), "{sql}: {err}");
        }
        assert_eq!(s.audit().unwrap().len(), 3);
        assert_eq!(s.audit().unwrap()[0].who, "alice");
    }
}
