//! The SQLite backend: one file in WAL mode, migrated forward on open.
//!
//! Addresses are kept as text (`IpAddr`'s `Display` form) in the key
//! columns; docs/STORE.md says why that stays. The write path is in
//! `write.rs`, the policy log in `policy.rs`, the schema in `schema.rs`.

use std::net::IpAddr;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use depmap_edges::{DayActivity, EdgeKey, EdgeOrigin, EdgeStats, NameRecord, NameSource};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row};

use crate::map::Each;
use crate::{Commit, Filter, IngestRecord, MapStore, NewIngest, StoreError, UpsertSummary};

mod policy;
mod schema;
mod write;

#[cfg(test)]
mod tests;

pub use schema::{MIGRATIONS, SOURCE_FLOWS, SOURCE_PACKETS};

/// The files an SQLite store at `path` consists of: the database, its
/// write-ahead log and its shared-memory index. To remove a store, remove
/// all three.
pub fn store_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    [path.to_path_buf(), with("-wal"), with("-shm")]
}

/// Bytes the SQLite store at `path` takes: the database file and its
/// write-ahead log (files that cannot be read count 0). For a caller
/// without an open store, such as one whose store failed to open.
pub fn store_size(path: &Path) -> u64 {
    store_files(path)[..2]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// The map in one SQLite file. See the crate docs.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The observer recorded for commits that name none.
    observer: String,
}

impl Store {
    /// Opens the database at `path`, creating it if missing, and migrates it
    /// to the current schema. Commits that name no observer are recorded as
    /// [`Observer::LOCAL`](crate::Observer::LOCAL) until
    /// [`Store::set_observer`] says otherwise.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(|e| classify(&path, e))?;
        let mut store = Store {
            conn,
            path,
            observer: crate::Observer::LOCAL.to_string(),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database; a missing file is an error rather than a
    /// new empty map (for commands that only read).
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let p = path.as_ref();
        if !p.exists() {
            return Err(StoreError::Missing {
                path: p.to_path_buf(),
            });
        }
        Store::open(p)
    }

    /// The database path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names the observer recorded for commits that name none (the local
    /// host's name, as the caller knows it).
    pub fn set_observer(&mut self, id: impl Into<String>) {
        self.observer = id.into();
    }

    /// The observer recorded for commits that name none.
    pub fn observer(&self) -> &str {
        &self.observer
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        classify(&self.path, e)
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let c = &self.conn;
        c.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| classify(&path, e))?;
        // journal_mode returns a row; query it rather than execute.
        let _mode: String = c
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| classify(&path, e))?;
        c.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(|e| classify(&path, e))?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let current = MapStore::schema_version(self)?;
        let known = MIGRATIONS.len() as i64;
        if current > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: current,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let path = self.path.clone();
            let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
            tx.execute_batch(sql).map_err(|e| classify(&path, e))?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(|e| classify(&path, e))?;
            tx.commit().map_err(|e| classify(&path, e))?;
        }
        Ok(())
    }

    fn find_ingest_by(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<IngestRecord>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "SELECT id, content_hash, source, kind, size_bytes, ingested_at, frames,
                            packets, ip_bytes, malformed, edges, complete, error, fingerprint
                     FROM ingests WHERE {column} = ?1 ORDER BY id DESC LIMIT 1"
                ),
                [value],
                |r| {
                    Ok(IngestRecord {
                        id: r.get(0)?,
                        ingest: NewIngest {
                            content_hash: r.get(1)?,
                            source: r.get(2)?,
                            kind: r.get(3)?,
                            size_bytes: r.get::<_, i64>(4)? as u64,
                            ingested_at: r.get(5)?,
                            frames: r.get::<_, i64>(6)? as u64,
                            packets: r.get::<_, i64>(7)? as u64,
                            ip_bytes: r.get::<_, i64>(8)? as u64,
                            malformed: r.get::<_, i64>(9)? as u64,
                            complete: r.get::<_, i64>(11)? != 0,
                            error: r.get(12)?,
                            fingerprint: r.get(13)?,
                        },
                        edges: r.get::<_, i64>(10)? as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Runs `sql` (ending in a `WHERE` clause that `filter` extends) and
    /// hands each row to `row` until it says stop.
    fn stream(
        &self,
        sql: &str,
        w: Where,
        mut row: impl FnMut(&Row<'_>) -> Result<ControlFlow<()>, StoreError>,
    ) -> Result<(), StoreError> {
        let sql = format!("{sql}{}", w.sql);
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(w.args))
            .map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            if row(r)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// An edge key from the four key columns at `at`.
    fn key_at(&self, r: &Row<'_>, at: usize) -> Result<EdgeKey, StoreError> {
        let text = |i| r.get::<_, String>(at + i).map_err(|e| self.err(e));
        let int = |i| r.get::<_, i64>(at + i).map_err(|e| self.err(e));
        let (client, server, port, proto) = (text(0)?, text(1)?, int(2)?, int(3)?);
        let bad = |detail: String| StoreError::BadRow {
            path: self.path.clone(),
            table: "edges",
            detail,
        };
        Ok(EdgeKey {
            client: IpAddr::from_str(&client)
                .map_err(|_| bad(format!("client {client:?} is not an address")))?,
            server: IpAddr::from_str(&server)
                .map_err(|_| bad(format!("server {server:?} is not an address")))?,
            port: u16::try_from(port).map_err(|_| bad(format!("port {port}")))?,
            proto: u8::try_from(proto).map_err(|_| bad(format!("proto {proto}")))?,
        })
    }

    fn count(&self, sql: &str) -> Result<u64, StoreError> {
        self.conn
            .query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }
}

/// The SQL conditions a [`Filter`] can put to SQLite (the server, the time
/// window), ` WHERE ...` or empty, and their arguments. The CIDR, which text
/// addresses cannot be compared with, is checked on each row instead.
struct Where {
    sql: String,
    args: Vec<Value>,
}

impl Where {
    /// `server` names the server (or address) column; `seen` the first and
    /// last seen columns, `day` the day column, for the time window.
    fn new(f: &Filter, server: &str, seen: Option<(&str, &str)>, day: Option<&str>) -> Where {
        let mut w = Where {
            sql: String::new(),
            args: Vec::new(),
        };
        let and = |w: &mut Where, cond: String, args: Vec<Value>| {
            w.sql
                .push_str(if w.sql.is_empty() { " WHERE " } else { " AND " });
            w.sql.push_str(&cond);
            w.args.extend(args);
        };
        if let Some(ip) = f.server {
            let n = w.args.len() + 1;
            and(
                &mut w,
                format!("{server} = ?{n}"),
                vec![Value::Text(ip.to_string())],
            );
        }
        if let Some((from, to)) = f.days {
            if let Some((first, last)) = seen {
                const DAY_NS: i64 = 86_400 * 1_000_000_000;
                let start = i64::from(from).saturating_mul(DAY_NS);
                let end = (i64::from(to) + 1).saturating_mul(DAY_NS);
                let n = w.args.len() + 1;
                let cond = format!("{first} < ?{n} AND {last} >= ?{}", n + 1);
                and(
                    &mut w,
                    cond,
                    vec![Value::Integer(end), Value::Integer(start)],
                );
            }
            if let Some(day) = day {
                let n = w.args.len() + 1;
                let cond = format!("{day} BETWEEN ?{n} AND ?{}", n + 1);
                let args = vec![Value::Integer(from.into()), Value::Integer(to.into())];
                and(&mut w, cond, args);
            }
        }
        w
    }
}

impl MapStore for Store {
    fn commit(&mut self, c: &Commit) -> Result<UpsertSummary, StoreError> {
        let (a, b) = self.write_commit(c)?;
        Ok(UpsertSummary {
            added: a.added + b.added,
            updated: a.updated + b.updated,
        })
    }

    fn find_ingest(&self, content_hash: &str) -> Result<Option<IngestRecord>, StoreError> {
        self.find_ingest_by("content_hash", content_hash)
    }

    fn find_fingerprint(&self, fingerprint: &str) -> Result<Option<IngestRecord>, StoreError> {
        self.find_ingest_by("fingerprint", fingerprint)
    }

    fn find_ingest_of_kind(
        &self,
        content_hash: &str,
        kind: &str,
    ) -> Result<Option<IngestRecord>, StoreError> {
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM ingests WHERE content_hash = ?1 AND kind = ?2
                 ORDER BY id DESC LIMIT 1",
                [content_hash, kind],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match id {
            Some(id) => self.find_ingest_by("id", &id.to_string()),
            None => Ok(None),
        }
    }

    fn each_edge(
        &self,
        filter: &Filter,
        each: Each<'_, (EdgeKey, EdgeStats)>,
    ) -> Result<(), StoreError> {
        let w = Where::new(filter, "server", Some(("first_seen", "last_seen")), None);
        let sql = "SELECT client, server, port, proto, connections, client_packets, client_bytes,
                          server_packets, server_bytes, first_seen, last_seen
                   FROM edges";
        self.stream(sql, w, |r| {
            let k = self.key_at(r, 0)?;
            if !filter.edge_matches(&k) {
                return Ok(ControlFlow::Continue(()));
            }
            let int = |i| r.get::<_, i64>(i).map_err(|e| self.err(e));
            let stats = EdgeStats {
                connections: int(4)? as u64,
                client_packets: int(5)? as u64,
                client_bytes: int(6)? as u64,
                server_packets: int(7)? as u64,
                server_bytes: int(8)? as u64,
                first_seen: int(9)?,
                last_seen: int(10)?,
            };
            Ok(each((k, stats)))
        })
    }

    fn each_activity(
        &self,
        filter: &Filter,
        each: Each<'_, (EdgeKey, DayActivity)>,
    ) -> Result<(), StoreError> {
        let w = Where::new(filter, "e.server", None, Some("d.day"));
        let sql = "SELECT e.client, e.server, e.port, e.proto, d.day, d.hours, d.connections,
                          d.packets, d.bytes
                   FROM edge_days d JOIN edges e ON e.id = d.edge_id";
        self.stream(sql, w, |r| {
            let k = self.key_at(r, 0)?;
            if !filter.edge_matches(&k) {
                return Ok(ControlFlow::Continue(()));
            }
            let int = |i| r.get::<_, i64>(i).map_err(|e| self.err(e));
            let a = DayActivity {
                day: int(4)? as i32,
                hours: int(5)? as u32,
                connections: int(6)? as u64,
                packets: int(7)? as u64,
                bytes: int(8)? as u64,
            };
            Ok(each((k, a)))
        })
    }

    fn each_name(&self, filter: &Filter, each: Each<'_, NameRecord>) -> Result<(), StoreError> {
        let w = Where::new(filter, "address", Some(("first_seen", "last_seen")), None);
        let sql = "SELECT address, name, source, first_seen, last_seen FROM names";
        self.stream(sql, w, |r| {
            let text = |i| r.get::<_, String>(i).map_err(|e| self.err(e));
            let int = |i| r.get::<_, i64>(i).map_err(|e| self.err(e));
            let (address, source) = (text(0)?, text(2)?);
            let bad = |detail: String| StoreError::BadRow {
                path: self.path.clone(),
                table: "names",
                detail,
            };
            let n = NameRecord {
                address: IpAddr::from_str(&address)
                    .map_err(|_| bad(format!("address {address:?}")))?,
                source: NameSource::parse(&source)
                    .ok_or_else(|| bad(format!("source {source:?}")))?,
                name: text(1)?,
                first_seen: int(3)?,
                last_seen: int(4)?,
            };
            if !filter.address_matches(n.address) {
                return Ok(ControlFlow::Continue(()));
            }
            Ok(each(n))
        })
    }

    fn each_origin(
        &self,
        filter: &Filter,
        each: Each<'_, (EdgeKey, EdgeOrigin)>,
    ) -> Result<(), StoreError> {
        let w = Where::new(filter, "server", Some(("first_seen", "last_seen")), None);
        let sql = "SELECT client, server, port, proto, sources, sampled FROM edges";
        self.stream(sql, w, |r| {
            let k = self.key_at(r, 0)?;
            if !filter.edge_matches(&k) {
                return Ok(ControlFlow::Continue(()));
            }
            let int = |i| r.get::<_, i64>(i).map_err(|e| self.err(e));
            let (sources, sampled) = (int(4)?, int(5)?);
            let o = EdgeOrigin {
                packets: sources & SOURCE_PACKETS != 0,
                flows: sources & SOURCE_FLOWS != 0,
                sampled: sampled != 0,
            };
            Ok(each((k, o)))
        })
    }

    fn each_observation(
        &self,
        filter: &Filter,
        each: Each<'_, (EdgeKey, String)>,
    ) -> Result<(), StoreError> {
        let w = Where::new(
            filter,
            "e.server",
            Some(("e.first_seen", "e.last_seen")),
            None,
        );
        let observers = self.count("SELECT count(*) FROM observers")?;
        // A store with one observer, its home, keeps no rows: it saw every
        // edge (see `write::observer_rows`).
        let sql = if observers == 1 {
            "SELECT e.client, e.server, e.port, e.proto, b.name
             FROM edges e JOIN observers b"
        } else {
            "SELECT e.client, e.server, e.port, e.proto, b.name
             FROM edge_observers o JOIN edges e ON e.id = o.edge_id
             JOIN observers b ON b.id = o.observer_id"
        };
        self.stream(sql, w, |r| {
            let k = self.key_at(r, 0)?;
            if !filter.edge_matches(&k) {
                return Ok(ControlFlow::Continue(()));
            }
            let name: String = r.get(4).map_err(|e| self.err(e))?;
            Ok(each((k, name)))
        })
    }

    fn edge_count(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM edges")
    }

    fn activity_row_count(&self) -> Result<u64, StoreError> {
        self.count("SELECT count(*) FROM edge_days")
    }

    fn last_activity_day(&self) -> Result<Option<i32>, StoreError> {
        self.conn
            .query_row("SELECT max(day) FROM edge_days", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|d| d.map(|d| d as i32))
            .map_err(|e| self.err(e))
    }

    /// Deleted pages are kept in the file, and SQLite reuses them for
    /// later days; [`MapStore::vacuum`] shrinks the file.
    fn prune_days_before(&mut self, day: i32) -> Result<u64, StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
        let n = tx
            .execute("DELETE FROM edge_days WHERE day < ?1", [i64::from(day)])
            .map_err(|e| classify(&path, e))?;
        tx.commit().map_err(|e| classify(&path, e))?;
        Ok(n as u64)
    }

    /// Rewrites the database file without free pages (`VACUUM`) and
    /// empties the write-ahead log.
    fn vacuum(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| self.err(e))
    }

    /// The database path, as `Path::display` shows it.
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn size_bytes(&self) -> u64 {
        store_size(&self.path)
    }

    fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// `PRAGMA integrity_check`'s first line.
    fn integrity_check(&self) -> Result<String, StoreError> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}

/// A rusqlite error as a [`StoreError`] naming the file.
fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::ErrorCode;
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        if f.code == ErrorCode::NotADatabase {
            return StoreError::NotADatabase {
                path: path.to_path_buf(),
                detail: msg.clone().unwrap_or_else(|| f.to_string()),
            };
        }
    }
    StoreError::Backend {
        path: path.to_path_buf(),
        source: Box::new(e),
    }
}
