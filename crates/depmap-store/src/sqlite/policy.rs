//! The policy lifecycle's tables in SQLite, with triggers that keep the
//! audit trail and the versions append-only (docs/STORE.md).

use rusqlite::{params, OptionalExtension, Row};

use super::{classify, Store};
use crate::policy::hash;
use crate::{
    AuditRow, ExceptionRow, NewException, NewPolicyVersion, PolicyLog, PolicyVersion, StoreError,
};

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

impl PolicyLog for Store {
    /// Stores a draft as the next version and audits it (`action`, e.g.
    /// `draft` or `rollback`, with `version N (hash): note`), in one
    /// transaction.
    fn add_policy_version(
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
    fn policy_versions(&self) -> Result<Vec<PolicyVersion>, StoreError> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM policy_versions ORDER BY id");
        self.query_all(&sql, version_row)
    }

    /// One version, if it exists.
    fn policy_version(&self, id: i64) -> Result<Option<PolicyVersion>, StoreError> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM policy_versions WHERE id = ?1");
        self.query_one(&sql, id, version_row)
    }

    /// Stores an exception and audits it (`except`, with `exception #N:
    /// what`), in one transaction.
    fn add_exception(&mut self, e: &NewException, what: &str) -> Result<ExceptionRow, StoreError> {
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
    fn exceptions(&self) -> Result<Vec<ExceptionRow>, StoreError> {
        let sql = format!("SELECT {EXCEPTION_COLUMNS} FROM exceptions ORDER BY id");
        self.query_all(&sql, exception_row)
    }

    /// Revokes exception `id` at `at` and audits it. Returns the exception
    /// as it now stands (`None` if there is no such exception); revoking a
    /// revoked exception changes nothing and writes no audit row.
    fn revoke_exception(
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
    fn note_expired_exceptions(
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
    fn append_audit(
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
    fn audit(&self) -> Result<Vec<AuditRow>, StoreError> {
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
}

impl Store {
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
    use crate::testsuite::exception;
    use crate::MapStore;

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
        assert_eq!(s.schema_version().unwrap(), crate::MIGRATIONS.len() as i64);
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
