//! depmap's graph store: one SQLite file holding the dependency edges and a
//! record of every input ingested, and the policy lifecycle: versioned rule
//! drafts, time-bound exceptions and an append-only audit trail
//! ([`Store::add_policy_version`], [`Store::add_exception`], [`Store::audit`]).
//!
//! This crate is the only user of rusqlite. It does not decode, aggregate or
//! render, and it never starts tasks (async callers use `spawn_blocking`).
//! The schema is versioned with `PRAGMA user_version` and migrated forward on
//! open ([`MIGRATIONS`]); the database runs in WAL mode, and every batch of
//! edges is written in one transaction together with the record of the input
//! it came from, so an interrupted ingest leaves neither half its edges nor a
//! record claiming it was ingested.
//!
//! ```
//! use depmap_edges::{DayActivity, EdgeKey, EdgeStats, NameRecord, NameSource};
//! use depmap_store::{MapStore, NewIngest, Store};
//! let dir = tempfile::tempdir()?;
//! let mut store = Store::open(dir.path().join("map.db"))?;
//! let key = EdgeKey { client: "10.0.0.1".parse()?, server: "10.0.0.2".parse()?, port: 53, proto: 17 };
//! let stats = EdgeStats { connections: 1, client_packets: 1, client_bytes: 60,
//!     server_packets: 1, server_bytes: 90, first_seen: 0, last_seen: 5 };
//! let ingest = NewIngest { content_hash: "abc".into(), source: "a.pcap".into(), ..NewIngest::default() };
//! let batch = depmap_store::Batch { edges: vec![(key, stats)], ..Default::default() };
//! let commit = depmap_store::Commit { packets: batch, ingest: Some(ingest), ..Default::default() };
//! let summary = store.commit(&commit)?;
//! assert_eq!((summary.added, summary.updated), (1, 0));
//! assert_eq!(store.edges()?.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use rustc_hash::FxHashMap;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use depmap_edges::{DayActivity, EdgeKey, EdgeStats, NameRecord, NameSource};
use rusqlite::{params, Connection, OptionalExtension};

mod batch;
mod policy;
pub use batch::{Batch, Commit, Observer};
pub use policy::{AuditRow, ExceptionRow, NewException, NewPolicyVersion, PolicyVersion};

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. Append only: never edit a migration that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: edges and the record of ingested inputs.
    "CREATE TABLE edges (
        id             INTEGER PRIMARY KEY,
        client         TEXT    NOT NULL,
        server         TEXT    NOT NULL,
        port           INTEGER NOT NULL,
        proto          INTEGER NOT NULL,
        connections    INTEGER NOT NULL,
        client_packets INTEGER NOT NULL,
        client_bytes   INTEGER NOT NULL,
        server_packets INTEGER NOT NULL,
        server_bytes   INTEGER NOT NULL,
        first_seen     INTEGER NOT NULL,
        last_seen      INTEGER NOT NULL,
        UNIQUE (client, server, port, proto)
    );
    CREATE TABLE ingests (
        id           INTEGER PRIMARY KEY,
        content_hash TEXT    NOT NULL,
        source       TEXT    NOT NULL,
        kind         TEXT    NOT NULL,
        size_bytes   INTEGER NOT NULL,
        ingested_at  INTEGER NOT NULL,
        frames       INTEGER NOT NULL,
        packets      INTEGER NOT NULL,
        ip_bytes     INTEGER NOT NULL,
        malformed    INTEGER NOT NULL,
        edges        INTEGER NOT NULL,
        complete     INTEGER NOT NULL,
        error        TEXT
    );
    CREATE INDEX ingests_by_hash ON ingests (content_hash);",
    // 2: per-day activity of each edge, and names learned for addresses.
    // edge_days is WITHOUT ROWID: its key is its only index, so a row costs
    // little more than its six integers (see docs/STORE.md).
    "CREATE TABLE edge_days (
        edge_id     INTEGER NOT NULL REFERENCES edges (id),
        day         INTEGER NOT NULL,
        hours       INTEGER NOT NULL,
        connections INTEGER NOT NULL,
        packets     INTEGER NOT NULL,
        bytes       INTEGER NOT NULL,
        PRIMARY KEY (edge_id, day)
    ) WITHOUT ROWID;
    CREATE TABLE names (
        address    TEXT    NOT NULL,
        name       TEXT    NOT NULL,
        source     TEXT    NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (address, name, source)
    ) WITHOUT ROWID;",
    // 3: a cheap fingerprint (size and the first and last 64 KiB) of each
    // input, so a new file is read once: only a fingerprint match makes
    // ingest hash the whole file up front to confirm a repeat.
    "ALTER TABLE ingests ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
    CREATE INDEX ingests_by_fingerprint ON ingests (fingerprint);",
    // 4: where each edge's figures came from (bits: 1 packets, 2 flow
    // exports; every edge before this migration came from packets), and
    // whether any of them are estimates from sampled flow records.
    "ALTER TABLE edges ADD COLUMN sources INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE edges ADD COLUMN sampled INTEGER NOT NULL DEFAULT 0;
    UPDATE edges SET sources = 1;",
    // 5: the policy lifecycle: versioned drafts, time-bound exceptions and
    // an append-only audit trail (see policy.rs and docs/STORE.md).
    policy::MIGRATION_5,
];

/// `edges.sources` bit: figures from captured packets.
pub const SOURCE_PACKETS: i64 = 1;
/// `edges.sources` bit: figures from flow-export records.
pub const SOURCE_FLOWS: i64 = 2;

/// Where a stored edge's figures came from ([`Store::edge_origins`]);
/// defined in `depmap-edges` so the map exports can take it without the store.
pub use depmap_edges::EdgeOrigin;

/// How a batch's edges are marked: packet batches or flow batches, with the
/// keys of the edges whose figures are sampled.
#[derive(Clone, Copy)]
enum Marks<'a> {
    Packets,
    Flows { sampled: &'a [EdgeKey] },
}

/// A [`Commit`] by reference, so the old one-batch write calls need not
/// copy their batch into one.
struct Parts<'a> {
    packets: &'a Batch,
    flows: &'a Batch,
    sampled: &'a [EdgeKey],
    ingest: Option<&'a NewIngest>,
}

impl<'a> Parts<'a> {
    fn new(packets: &'a Batch, flows: &'a Batch, sampled: &'a [EdgeKey]) -> Parts<'a> {
        Parts {
            packets,
            flows,
            sampled,
            ingest: None,
        }
    }
}

static EMPTY: Batch = Batch {
    edges: Vec::new(),
    activity: Vec::new(),
    names: Vec::new(),
};

/// A map store: where the dependency edges are kept.
pub trait MapStore {
    /// Writes everything `c` carries in one transaction (packet edges,
    /// flow edges marked as such, the sampled marks, the ingest record) and
    /// says how many edges were new and how many had figures added (an edge
    /// in both batches counts in each). Nothing is written if it fails.
    fn commit(&mut self, c: &Commit) -> Result<UpsertSummary, StoreError>;
}

impl MapStore for Store {
    fn commit(&mut self, c: &Commit) -> Result<UpsertSummary, StoreError> {
        let parts = Parts {
            ingest: c.ingest.as_ref(),
            ..Parts::new(&c.packets, &c.flows, &c.sampled)
        };
        let (a, b) = self.commit_parts(parts)?;
        Ok(UpsertSummary {
            added: a.added + b.added,
            updated: a.updated + b.updated,
        })
    }
}

/// Store errors, each naming the database file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file does not exist (for commands that only read).
    #[error("{path}: no such database; create one with `depmap ingest --db {path} FILE`")]
    Missing {
        /// The database path.
        path: PathBuf,
    },
    /// The file exists but is not an SQLite database.
    #[error("{path}: not a depmap database (SQLite says: {detail})")]
    NotADatabase {
        /// The database path.
        path: PathBuf,
        /// SQLite's message.
        detail: String,
    },
    /// The database was written by a newer depmap.
    #[error("{path}: schema version {found} is newer than this depmap understands ({known}); upgrade depmap")]
    TooNew {
        /// The database path.
        path: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// A stored value could not be read back (a corrupt or hand-edited row).
    #[error("{path}: bad value in table {table}: {detail}")]
    BadRow {
        /// The database path.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Any other SQLite error (disk full, read-only file, locked, ...).
    #[error("{path}: {source}")]
    Sqlite {
        /// The database path.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
}

/// A record of one input about to be committed with its edges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewIngest {
    /// Digest of the input's whole content (`xxh3-128:` + hex), used to
    /// refuse repeats.
    pub content_hash: String,
    /// Digest of the input's size and first and last 64 KiB, a cheap first
    /// check for repeats.
    pub fingerprint: String,
    /// Where it came from (a path, or a listener address).
    pub source: String,
    /// `pcap`, `pcapng`, `flows`, ...
    pub kind: String,
    /// Size of the input in bytes.
    pub size_bytes: u64,
    /// When it was ingested (wall clock, ns since the epoch; passed in).
    pub ingested_at: i64,
    /// Frames or datagrams read.
    pub frames: u64,
    /// IP packets (or flow records) aggregated.
    pub packets: u64,
    /// IP-layer bytes aggregated.
    pub ip_bytes: u64,
    /// Malformed frames skipped.
    pub malformed: u64,
    /// Whether the input was read to its end (false for a truncated file).
    pub complete: bool,
    /// The reader's error, for incomplete inputs.
    pub error: Option<String>,
}

/// A stored ingest record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestRecord {
    /// Row id.
    pub id: i64,
    /// The record as committed; `edges` is in [`IngestRecord::edges`].
    pub ingest: NewIngest,
    /// Edges the input contributed to.
    pub edges: u64,
}

/// What an upsert did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpsertSummary {
    /// Edges that were new to the store.
    pub added: u64,
    /// Edges that existed and had the new figures added.
    pub updated: u64,
}

/// The store. See the crate docs.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens the database at `path`, creating it if missing, and migrates it
    /// to the current schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(|e| classify(&path, e))?;
        let mut store = Store { conn, path };
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

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let current = self.schema_version()?;
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

    /// The most recent ingest of content with this hash, if any.
    pub fn find_ingest(&self, content_hash: &str) -> Result<Option<IngestRecord>, StoreError> {
        self.find_ingest_by("content_hash", content_hash)
    }

    /// The most recent ingest of an input with this fingerprint, if any.
    pub fn find_fingerprint(&self, fingerprint: &str) -> Result<Option<IngestRecord>, StoreError> {
        self.find_ingest_by("fingerprint", fingerprint)
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

    /// Writes a packet batch, a flow batch and an ingest record in one
    /// transaction: the one write path ([`MapStore::commit`] calls it with
    /// a [`Commit`]'s parts; the wrappers below with one batch each).
    /// Returns what each batch did.
    fn commit_parts(&mut self, c: Parts<'_>) -> Result<(UpsertSummary, UpsertSummary), StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
        let mut done = (UpsertSummary::default(), UpsertSummary::default());
        if !c.packets.is_empty() {
            done.0 = write_batch(&tx, c.packets, Marks::Packets).map_err(|e| classify(&path, e))?;
        }
        if !c.flows.is_empty() {
            let marks = Marks::Flows { sampled: c.sampled };
            done.1 = write_batch(&tx, c.flows, marks).map_err(|e| classify(&path, e))?;
        }
        if let Some(ingest) = c.ingest {
            let edges = c.packets.edges.len() + c.flows.edges.len();
            tx.execute(
                "INSERT INTO ingests (content_hash, source, kind, size_bytes, ingested_at, frames,
                                      packets, ip_bytes, malformed, edges, complete, error,
                                      fingerprint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    ingest.content_hash,
                    ingest.source,
                    ingest.kind,
                    clamp(ingest.size_bytes),
                    ingest.ingested_at,
                    clamp(ingest.frames),
                    clamp(ingest.packets),
                    clamp(ingest.ip_bytes),
                    clamp(ingest.malformed),
                    edges as i64,
                    i64::from(ingest.complete),
                    ingest.error,
                    ingest.fingerprint,
                ],
            )
            .map_err(|e| classify(&path, e))?;
        }
        tx.commit().map_err(|e| classify(&path, e))?;
        Ok(done)
    }

    /// `commit` with packet edges and an ingest record.
    #[doc(hidden)]
    pub fn commit_ingest(
        &mut self,
        ingest: &NewIngest,
        batch: &Batch,
    ) -> Result<UpsertSummary, StoreError> {
        let parts = Parts::new(batch, &EMPTY, &[]);
        Ok(self
            .commit_parts(Parts {
                ingest: Some(ingest),
                ..parts
            })?
            .0)
    }

    /// `commit` with flow edges and an ingest record.
    #[doc(hidden)]
    pub fn commit_flow_ingest(
        &mut self,
        ingest: &NewIngest,
        batch: &Batch,
        sampled: &[EdgeKey],
    ) -> Result<UpsertSummary, StoreError> {
        let parts = Parts::new(&EMPTY, batch, sampled);
        Ok(self
            .commit_parts(Parts {
                ingest: Some(ingest),
                ..parts
            })?
            .1)
    }

    /// `commit` with packet edges only.
    #[doc(hidden)]
    pub fn write(&mut self, batch: &Batch) -> Result<UpsertSummary, StoreError> {
        Ok(self.commit_parts(Parts::new(batch, &EMPTY, &[]))?.0)
    }

    /// `commit` with flow edges only.
    #[doc(hidden)]
    pub fn write_flows(
        &mut self,
        batch: &Batch,
        sampled: &[EdgeKey],
    ) -> Result<UpsertSummary, StoreError> {
        Ok(self.commit_parts(Parts::new(&EMPTY, batch, sampled))?.1)
    }

    /// `commit` with packet and flow edges, what each did.
    #[doc(hidden)]
    pub fn write_sources(
        &mut self,
        packets: &Batch,
        flows: &Batch,
        sampled: &[EdgeKey],
    ) -> Result<(UpsertSummary, UpsertSummary), StoreError> {
        self.commit_parts(Parts::new(packets, flows, sampled))
    }

    /// Where every stored edge's figures came from, sorted by edge.
    pub fn edge_origins(&self) -> Result<Vec<(EdgeKey, EdgeOrigin)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT client, server, port, proto, sources, sampled FROM edges")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (c, s, port, proto, sources, sampled) = row.map_err(|e| self.err(e))?;
            out.push((
                self.key(&c, &s, port, proto)?,
                EdgeOrigin {
                    packets: sources & SOURCE_PACKETS != 0,
                    flows: sources & SOURCE_FLOWS != 0,
                    sampled: sampled != 0,
                },
            ));
        }
        out.sort_by_key(|e| e.0);
        Ok(out)
    }

    /// The most recent ingest of content with this hash and of this kind
    /// (`pcap`, `flows`, ...), if any: the same capture may be ingested once
    /// as packets and once as the flow exports inside it.
    pub fn find_ingest_of_kind(
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

    /// Every stored edge, ordered by (client, server, port, proto) as text.
    pub fn edges(&self) -> Result<Vec<(EdgeKey, EdgeStats)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT client, server, port, proto, connections, client_packets, client_bytes,
                        server_packets, server_bytes, first_seen, last_seen
                 FROM edges",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    EdgeStats {
                        connections: r.get::<_, i64>(4)? as u64,
                        client_packets: r.get::<_, i64>(5)? as u64,
                        client_bytes: r.get::<_, i64>(6)? as u64,
                        server_packets: r.get::<_, i64>(7)? as u64,
                        server_bytes: r.get::<_, i64>(8)? as u64,
                        first_seen: r.get(9)?,
                        last_seen: r.get(10)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (client, server, port, proto, stats) = row.map_err(|e| self.err(e))?;
            out.push((self.key(&client, &server, port, proto)?, stats));
        }
        out.sort_by_key(|e| e.0);
        Ok(out)
    }

    /// Every stored day of activity, with its edge, ordered by edge then day.
    pub fn activity(&self) -> Result<Vec<(EdgeKey, DayActivity)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT e.client, e.server, e.port, e.proto, d.day, d.hours, d.connections,
                        d.packets, d.bytes
                 FROM edge_days d JOIN edges e ON e.id = d.edge_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    DayActivity {
                        day: r.get::<_, i64>(4)? as i32,
                        hours: r.get::<_, i64>(5)? as u32,
                        connections: r.get::<_, i64>(6)? as u64,
                        packets: r.get::<_, i64>(7)? as u64,
                        bytes: r.get::<_, i64>(8)? as u64,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (c, s, port, proto, a) = row.map_err(|e| self.err(e))?;
            out.push((self.key(&c, &s, port, proto)?, a));
        }
        out.sort_by_key(|(k, a)| (*k, a.day));
        Ok(out)
    }

    /// Every stored name, sorted by address then name.
    pub fn names(&self) -> Result<Vec<NameRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT address, name, source, first_seen, last_seen FROM names")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (address, name, source, first_seen, last_seen) = row.map_err(|e| self.err(e))?;
            let bad = |detail: String| StoreError::BadRow {
                path: self.path.clone(),
                table: "names",
                detail,
            };
            out.push(NameRecord {
                address: IpAddr::from_str(&address)
                    .map_err(|_| bad(format!("address {address:?}")))?,
                source: NameSource::parse(&source)
                    .ok_or_else(|| bad(format!("source {source:?}")))?,
                name,
                first_seen,
                last_seen,
            });
        }
        out.sort();
        Ok(out)
    }

    fn key(
        &self,
        client: &str,
        server: &str,
        port: i64,
        proto: i64,
    ) -> Result<EdgeKey, StoreError> {
        let bad = |detail: String| StoreError::BadRow {
            path: self.path.clone(),
            table: "edges",
            detail,
        };
        Ok(EdgeKey {
            client: IpAddr::from_str(client)
                .map_err(|_| bad(format!("client {client:?} is not an address")))?,
            server: IpAddr::from_str(server)
                .map_err(|_| bad(format!("server {server:?} is not an address")))?,
            port: u16::try_from(port).map_err(|_| bad(format!("port {port}")))?,
            proto: u8::try_from(proto).map_err(|_| bad(format!("proto {proto}")))?,
        })
    }

    /// The last day (days since the epoch, UTC) with stored activity, if any.
    pub fn last_activity_day(&self) -> Result<Option<i32>, StoreError> {
        self.conn
            .query_row("SELECT max(day) FROM edge_days", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|d| d.map(|d| d as i32))
            .map_err(|e| self.err(e))
    }

    /// How many per-day activity rows are stored.
    pub fn activity_row_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM edge_days", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Retention: deletes the per-day activity of every day before `day`
    /// (days since the epoch), in one transaction, and returns how many
    /// rows went. Edges keep their totals (connections, packets, bytes,
    /// first and last seen); an edge whose days are all gone keeps its
    /// figures but has no activity to classify. The file does not shrink:
    /// SQLite reuses the freed pages for later days (see [`Store::vacuum`]).
    pub fn prune_days_before(&mut self, day: i32) -> Result<u64, StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
        let n = tx
            .execute("DELETE FROM edge_days WHERE day < ?1", [i64::from(day)])
            .map_err(|e| classify(&path, e))?;
        tx.commit().map_err(|e| classify(&path, e))?;
        Ok(n as u64)
    }

    /// Rewrites the database file without free pages (SQLite `VACUUM`),
    /// so it shrinks after [`Store::prune_days_before`]. Needs free disk
    /// space about the size of the database while it runs.
    pub fn vacuum(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| self.err(e))
    }

    /// How many edges are stored.
    pub fn edge_count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM edges", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Runs `PRAGMA integrity_check` and returns its first line (`ok` when sound).
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn write_batch(
    tx: &rusqlite::Transaction<'_>,
    batch: &Batch,
    marks: Marks<'_>,
) -> Result<UpsertSummary, rusqlite::Error> {
    let (summary, ids) = upsert(tx, &batch.edges, marks)?;
    if !batch.activity.is_empty() {
        let mut lookup = tx.prepare_cached(
            "SELECT id FROM edges WHERE client = ?1 AND server = ?2 AND port = ?3 AND proto = ?4",
        )?;
        let mut rows: Vec<[i64; 6]> = Vec::with_capacity(batch.activity.len());
        for (k, a) in &batch.activity {
            // The id from this batch's upsert, else the stored edge's.
            let id = match ids.get(k) {
                Some(id) => Some(*id),
                None => lookup
                    .query_row(
                        params![
                            k.client.to_string(),
                            k.server.to_string(),
                            i64::from(k.port),
                            i64::from(k.proto)
                        ],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()?,
            };
            let Some(id) = id else { continue };
            rows.push([
                id,
                i64::from(a.day),
                i64::from(a.hours),
                clamp(a.connections),
                clamp(a.packets),
                clamp(a.bytes),
            ]);
        }
        // In key order, each row lands after the last: appends to the
        // table's b-tree rather than inserts all over it. Rows of the same
        // key stay in batch order (the sort is stable), and a repeat within
        // one statement meets the conflict clause as it would one by one.
        rows.sort_by_key(|r| (r[0], r[1]));
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let sql = values_sql(
                "INSERT INTO edge_days (edge_id, day, hours, connections, packets, bytes)",
                6,
                chunk.len(),
                " ON CONFLICT (edge_id, day) DO UPDATE SET
                    hours       = hours | excluded.hours,
                    connections = connections + excluded.connections,
                    packets     = packets + excluded.packets,
                    bytes       = bytes + excluded.bytes",
            );
            let mut st = tx.prepare_cached(&sql)?;
            let mut at = 1;
            for row in chunk {
                for v in row {
                    st.raw_bind_parameter(at, v)?;
                    at += 1;
                }
            }
            st.raw_execute()?;
        }
    }
    if !batch.names.is_empty() {
        let mut name = tx.prepare_cached(
            "INSERT INTO names (address, name, source, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (address, name, source) DO UPDATE SET
                first_seen = min(first_seen, excluded.first_seen),
                last_seen  = max(last_seen, excluded.last_seen)",
        )?;
        for n in &batch.names {
            name.execute(params![
                n.address.to_string(),
                n.name,
                n.source.as_str(),
                n.first_seen,
                n.last_seen
            ])?;
        }
    }
    Ok(summary)
}

/// Adds edges' figures: per edge, an index lookup and then an update or an
/// insert; returns what was added vs updated and each edge's row id (for
/// its per-day rows).
///
/// Not one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING id`: SQLite
/// collects RETURNING rows in an ephemeral table opened and freed on every
/// execution, which made the upsert cost about 40,000 instructions an edge
/// (most of an ingest's commit). Lookup plus update-or-insert costs a
/// fraction of that and gives the same result inside the transaction.
fn upsert(
    tx: &rusqlite::Transaction<'_>,
    edges: &[(EdgeKey, EdgeStats)],
    marks: Marks<'_>,
) -> Result<(UpsertSummary, FxHashMap<EdgeKey, i64>), rusqlite::Error> {
    let (sources, sampled) = match marks {
        Marks::Packets => (SOURCE_PACKETS, HashSet::new()),
        Marks::Flows { sampled } => (SOURCE_FLOWS, sampled.iter().copied().collect()),
    };
    let mut summary = UpsertSummary::default();
    let mut ids = FxHashMap::with_capacity_and_hasher(edges.len(), Default::default());
    let mut find = tx.prepare_cached(
        "SELECT id FROM edges WHERE client = ?1 AND server = ?2 AND port = ?3 AND proto = ?4",
    )?;
    let mut update = tx.prepare_cached(
        "UPDATE edges SET
            connections    = connections + ?1,
            client_packets = client_packets + ?2,
            client_bytes   = client_bytes + ?3,
            server_packets = server_packets + ?4,
            server_bytes   = server_bytes + ?5,
            first_seen     = min(first_seen, ?6),
            last_seen      = max(last_seen, ?7),
            sources        = sources | ?8,
            sampled        = max(sampled, ?9)
         WHERE id = ?10",
    )?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO edges (client, server, port, proto, connections, client_packets,
                            client_bytes, server_packets, server_bytes, first_seen, last_seen,
                            sources, sampled)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?;
    // Into an empty table (a new store, the usual first ingest) every edge
    // of a batch in strictly increasing order (so no key twice) is new:
    // skip the lookups.
    let empty: bool = edges.windows(2).all(|w| w[0].0 < w[1].0)
        && tx.query_row("SELECT NOT EXISTS (SELECT 1 FROM edges)", [], |r| r.get(0))?;
    if empty {
        bulk_insert(tx, edges, sources, &sampled, &mut ids)?;
        summary.added = edges.len() as u64;
        return Ok((summary, ids));
    }
    let (mut client, mut server) = (String::new(), String::new());
    for (k, s) in edges {
        client.clear();
        server.clear();
        push_ip(&mut client, k.client);
        push_ip(&mut server, k.server);
        let (port, proto) = (i64::from(k.port), i64::from(k.proto));
        let figures = figures(s, sources, sampled.contains(k));
        let existing: Option<i64> = find
            .query_row(params![client, server, port, proto], |r| r.get(0))
            .optional()?;
        let id = match existing {
            Some(id) => {
                update.execute(rusqlite::params_from_iter(figures.into_iter().chain([id])))?;
                summary.updated += 1;
                id
            }
            None => {
                let key: [&dyn rusqlite::ToSql; 4] = [&client, &server, &port, &proto];
                insert.execute(rusqlite::params_from_iter(
                    key.into_iter()
                        .chain(figures.iter().map(|f| f as &dyn rusqlite::ToSql)),
                ))?;
                summary.added += 1;
                tx.last_insert_rowid()
            }
        };
        ids.insert(*k, id);
    }
    Ok((summary, ids))
}

/// An edge's figures as the edge statements number them (after the key):
/// connections, client and server packets and bytes, first and last seen,
/// sources, sampled.
fn figures(s: &EdgeStats, sources: i64, sampled: bool) -> [i64; 9] {
    [
        clamp(s.connections),
        clamp(s.client_packets),
        clamp(s.client_bytes),
        clamp(s.server_packets),
        clamp(s.server_bytes),
        s.first_seen,
        s.last_seen,
        sources,
        i64::from(sampled),
    ]
}

/// Rows per multi-row `INSERT` on the bulk paths. One statement execution
/// per row cost as much in statement setup, binding and teardown as in the
/// insert itself; 64 rows of at most 14 values stay far below SQLite's
/// limit of 32,766 bound values.
const ROWS_PER_INSERT: usize = 64;

/// `head VALUES (?, ...), ... tail` with `rows` rows of `cols` values.
fn values_sql(head: &str, cols: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * (cols * 2 + 3) + 8);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push(',');
            }
            sql.push('?');
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

/// Inserts edges into an empty table (the first ingest into a new store):
/// in the order of their text keys, so every index entry is appended at
/// the end of the unique index's b-tree, many rows per statement. On the
/// ingest benchmark (20,000 edges and as many per-day rows) this and the
/// same for the per-day rows took the commit from about 400 to about 290
/// million instructions (callgrind, `write_batch` inclusive).
fn bulk_insert(
    tx: &rusqlite::Transaction<'_>,
    edges: &[(EdgeKey, EdgeStats)],
    sources: i64,
    sampled: &HashSet<EdgeKey>,
    ids: &mut FxHashMap<EdgeKey, i64>,
) -> Result<(), rusqlite::Error> {
    // Each edge's key as the unique index orders it: client and server as
    // text (compared bytewise, as SQLite's BINARY collation does), then
    // port and protocol. Written as one byte string per edge, the texts
    // ended by a 0 byte (below any character of an address), so a plain
    // byte comparison sorts by all four.
    let mut keys: Vec<u8> = Vec::with_capacity(edges.len() * 40);
    // (start, end of client text, end of server text, end, edge index)
    let mut spans: Vec<[usize; 5]> = Vec::with_capacity(edges.len());
    let mut text = String::new();
    for (i, (k, _)) in edges.iter().enumerate() {
        let start = keys.len();
        text.clear();
        push_ip(&mut text, k.client);
        let client_end = start + text.len();
        keys.extend_from_slice(text.as_bytes());
        keys.push(0);
        text.clear();
        push_ip(&mut text, k.server);
        keys.extend_from_slice(text.as_bytes());
        let server_end = keys.len();
        keys.push(0);
        keys.extend_from_slice(&k.port.to_be_bytes());
        keys.push(k.proto);
        spans.push([start, client_end, server_end, keys.len(), i]);
    }
    let key = |sp: &[usize; 5]| &keys[sp[0]..sp[3]];
    spans.sort_unstable_by(|a, b| key(a).cmp(key(b)));
    let text_of = |from: usize, to: usize| std::str::from_utf8(&keys[from..to]);
    let mut id = 0i64;
    let mut full = None;
    for chunk in spans.chunks(ROWS_PER_INSERT) {
        let sql = |rows| {
            values_sql(
                "INSERT INTO edges (client, server, port, proto, connections, client_packets,
                                    client_bytes, server_packets, server_bytes, first_seen,
                                    last_seen, sources, sampled)",
                13,
                rows,
                "",
            )
        };
        let mut partial;
        let st = if chunk.len() == ROWS_PER_INSERT {
            match &mut full {
                Some(st) => st,
                None => full.insert(tx.prepare(&sql(ROWS_PER_INSERT))?),
            }
        } else {
            partial = tx.prepare(&sql(chunk.len()))?;
            &mut partial
        };
        let mut at = 1;
        for &[start, client_end, server_end, _, i] in chunk {
            let (k, s) = &edges[i];
            let client = text_of(start, client_end).unwrap_or_default();
            let server = text_of(client_end + 1, server_end).unwrap_or_default();
            id += 1;
            ids.insert(*k, id);
            st.raw_bind_parameter(at, client)?;
            st.raw_bind_parameter(at + 1, server)?;
            st.raw_bind_parameter(at + 2, i64::from(k.port))?;
            st.raw_bind_parameter(at + 3, i64::from(k.proto))?;
            for (j, v) in figures(s, sources, sampled.contains(k)).iter().enumerate() {
                st.raw_bind_parameter(at + 4 + j, v)?;
            }
            at += 13;
        }
        st.raw_execute()?;
    }
    // SQLite numbers the rows of an empty table 1, 2, ... in insert order
    // (each new rowid is one more than the largest); should that ever not
    // hold, read the ids back instead.
    if tx.last_insert_rowid() != id {
        let mut find = tx.prepare_cached(
            "SELECT id FROM edges WHERE client = ?1 AND server = ?2 AND port = ?3 AND proto = ?4",
        )?;
        for &[start, client_end, server_end, _, i] in &spans {
            let k = &edges[i].0;
            let client = text_of(start, client_end).unwrap_or_default();
            let server = text_of(client_end + 1, server_end).unwrap_or_default();
            let got: i64 = find.query_row(
                params![client, server, i64::from(k.port), i64::from(k.proto)],
                |r| r.get(0),
            )?;
            ids.insert(*k, got);
        }
    }
    Ok(())
}

/// Appends an address in its usual text form (`IpAddr`'s `Display`), the
/// form the store keeps. IPv4 is written digit by digit: through `Display`
/// each address cost about a thousand instructions, a tenth of an edge's
/// commit on the ingest benchmark.
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(_) => {
            let _ = write!(out, "{ip}");
        }
    }
}

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
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source: e,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        let mut x: u32 = 0x9e37_79b9;
        let check = |ip: IpAddr| {
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        };
        for edge in [
            0u32,
            1,
            9,
            10,
            99,
            100,
            199,
            200,
            255,
            u32::MAX,
            0x0a00_0001,
        ] {
            check(IpAddr::V4(edge.into()));
        }
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            check(IpAddr::V4(x.into()));
        }
        for v6 in ["::", "::1", "2001:db8::1", "fd00:100::7", "::ffff:10.0.0.1"] {
            check(v6.parse().unwrap());
        }
    }

    fn edge(port: u16, packets: u64, first: i64, last: i64) -> (EdgeKey, EdgeStats) {
        (
            EdgeKey {
                client: "10.0.0.1".parse().unwrap(),
                server: "2001:db8::1".parse().unwrap(),
                port,
                proto: 6,
            },
            EdgeStats {
                connections: 1,
                client_packets: packets,
                client_bytes: packets * 100,
                server_packets: packets,
                server_bytes: packets * 1000,
                first_seen: first,
                last_seen: last,
            },
        )
    }

    fn edges(e: Vec<(EdgeKey, EdgeStats)>) -> Batch {
        Batch {
            edges: e,
            ..Batch::default()
        }
    }

    #[test]
    fn bulk_first_write_matches_row_by_row() {
        // 150 edges (two full multi-row statements and a partial one) whose
        // text order differs from address order (10.0.0.9 > 10.0.0.10 as
        // text), v4 and v6, with per-day rows (one repeated) on two days.
        let mut batch = Batch::default();
        for i in 0..150u32 {
            let client: IpAddr = if i % 3 == 0 {
                format!("2001:db8::{:x}", i).parse().unwrap()
            } else {
                format!("10.0.{}.{}", i % 7, i).parse().unwrap()
            };
            let key = EdgeKey {
                client,
                server: format!("10.1.0.{}", i % 11).parse().unwrap(),
                port: 8000 + (i % 5) as u16,
                proto: if i % 2 == 0 { 6 } else { 17 },
            };
            let stats = EdgeStats {
                connections: u64::from(i),
                client_packets: u64::from(i) + 1,
                client_bytes: u64::from(i) * 100,
                server_packets: 2,
                server_bytes: 300,
                first_seen: i64::from(i),
                last_seen: i64::from(i) + 10,
            };
            batch.edges.push((key, stats));
            let repeat = (i % 10 == 0).then_some(20000);
            for day in [20000, 20001 + (i % 2) as i32].into_iter().chain(repeat) {
                batch.activity.push((
                    key,
                    DayActivity {
                        day,
                        hours: 1 << (i % 24),
                        connections: 1,
                        packets: u64::from(i),
                        bytes: 10,
                    },
                ));
            }
        }
        batch.edges.sort_by_key(|a| a.0);
        let dir = tempfile::tempdir().unwrap();
        // Into an empty store: the bulk path.
        let mut bulk = Store::open(dir.path().join("bulk.db")).unwrap();
        let summary = bulk.write(&batch).unwrap();
        assert_eq!((summary.added, summary.updated), (150, 0));
        // Into a store that already holds one other edge: row by row.
        let mut rows = Store::open(dir.path().join("rows.db")).unwrap();
        let other = edge(1, 1, 0, 0);
        rows.write(&Batch {
            edges: vec![other],
            activity: vec![(
                other.0,
                DayActivity {
                    day: 1,
                    hours: 1,
                    ..DayActivity::default()
                },
            )],
            ..Batch::default()
        })
        .unwrap();
        rows.write(&batch).unwrap();
        // Both stores hold the same edges and per-day rows, but for `other`.
        let same = |bulk: &Store, rows: &Store| {
            let edges: Vec<_> = rows
                .edges()
                .unwrap()
                .into_iter()
                .filter(|(k, _)| *k != other.0)
                .collect();
            assert_eq!(bulk.edges().unwrap(), edges);
            let act: Vec<_> = rows
                .activity()
                .unwrap()
                .into_iter()
                .filter(|(k, _)| *k != other.0)
                .collect();
            assert_eq!(bulk.activity().unwrap(), act);
            act
        };
        let act = same(&bulk, &rows);
        assert_eq!(act.len(), 300);
        assert!(
            act.iter().any(|(_, a)| a.connections == 2),
            "a repeated row merged"
        );
        // The ids the per-day rows point at are the right edges': a second
        // write (row by row now) adds to the same rows in both.
        bulk.write(&batch).unwrap();
        rows.write(&batch).unwrap();
        same(&bulk, &rows);
        assert_eq!(bulk.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn activity_and_names_merge() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path().join("m.db")).unwrap();
        let e = edge(443, 1, 0, 1);
        let day = |d: i32, h: u32| DayActivity {
            day: d,
            hours: 1 << h,
            connections: 1,
            packets: 2,
            bytes: 100,
        };
        let name = |t: i64| NameRecord {
            address: e.0.server,
            name: "api.example".into(),
            source: NameSource::Sni,
            first_seen: t,
            last_seen: t,
        };
        for (h, t) in [(3, 50), (7, 10)] {
            s.write(&Batch {
                edges: vec![e],
                activity: vec![(e.0, day(20000, h)), (e.0, day(20001, h))],
                names: vec![name(t)],
            })
            .unwrap();
        }
        let act = s.activity().unwrap();
        assert_eq!(act.len(), 2);
        assert_eq!(act[0].1.hours, (1 << 3) | (1 << 7));
        assert_eq!((act[0].1.connections, act[0].1.packets), (2, 4));
        let names = s.names().unwrap();
        assert_eq!(names.len(), 1);
        assert_eq!((names[0].first_seen, names[0].last_seen), (10, 50));
    }

    #[test]
    fn prune_drops_old_days_and_keeps_edge_totals() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path().join("m.db")).unwrap();
        let (a, b) = (edge(443, 10, 1, 2), edge(22, 4, 1, 2));
        let day = |d: i32| DayActivity {
            day: d,
            hours: 1,
            connections: 1,
            packets: 2,
            bytes: 100,
        };
        assert_eq!(s.last_activity_day().unwrap(), None);
        let mut activity: Vec<_> = (100..110).map(|d| (a.0, day(d))).collect();
        activity.extend((100..103).map(|d| (b.0, day(d))));
        s.write(&Batch {
            edges: vec![a, b],
            activity,
            names: vec![],
        })
        .unwrap();
        assert_eq!(s.last_activity_day().unwrap(), Some(109));
        assert_eq!(s.activity_row_count().unwrap(), 13);
        assert_eq!(s.prune_days_before(105).unwrap(), 5 + 3);
        let act = s.activity().unwrap();
        assert_eq!(act.len(), 5);
        assert!(act.iter().all(|(k, d)| k.port == 443 && d.day >= 105));
        // Both edges keep their figures, including the one with no days left.
        let edges = s.edges().unwrap();
        assert_eq!(edges.len(), 2);
        assert_eq!(edges.iter().find(|e| e.0.port == 22).unwrap().1, b.1);
        assert_eq!(edges.iter().find(|e| e.0.port == 443).unwrap().1, a.1);
        assert_eq!(s.prune_days_before(105).unwrap(), 0);
        s.vacuum().unwrap();
        assert_eq!(s.integrity_check().unwrap(), "ok");
        assert_eq!(s.activity_row_count().unwrap(), 5);
    }

    #[test]
    fn upserts_add_to_existing_edges() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path().join("m.db")).unwrap();
        let first = s.write(&edges(vec![edge(443, 2, 10, 20)])).unwrap();
        assert_eq!((first.added, first.updated), (1, 0));
        let second = s
            .write(&edges(vec![edge(443, 3, 5, 15), edge(80, 1, 0, 1)]))
            .unwrap();
        assert_eq!((second.added, second.updated), (1, 1));
        let all = s.edges().unwrap();
        let e443 = all.iter().find(|(k, _)| k.port == 443).unwrap().1;
        assert_eq!(e443.connections, 2);
        assert_eq!(e443.client_packets, 5);
        assert_eq!((e443.first_seen, e443.last_seen), (5, 20));
        assert_eq!(all[0].0.server.to_string(), "2001:db8::1");
    }

    #[test]
    fn origins_mark_packets_flows_and_sampling() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path().join("m.db")).unwrap();
        let (a, b) = (edge(443, 1, 0, 1), edge(53, 1, 0, 1));
        s.write(&edges(vec![a])).unwrap();
        s.write_flows(&edges(vec![a, b]), &[b.0]).unwrap();
        let ingest = NewIngest {
            content_hash: "h".into(),
            kind: "flows".into(),
            ..NewIngest::default()
        };
        s.commit_flow_ingest(&ingest, &edges(vec![b]), &[]).unwrap();
        let o = s.edge_origins().unwrap();
        let get = |k: EdgeKey| o.iter().find(|e| e.0 == k).unwrap().1;
        let both = EdgeOrigin {
            packets: true,
            flows: true,
            sampled: false,
        };
        assert_eq!(get(a.0), both);
        // Sampled once stays sampled.
        let flows_sampled = EdgeOrigin {
            packets: false,
            flows: true,
            sampled: true,
        };
        assert_eq!(get(b.0), flows_sampled);
        assert_eq!(s.edges().unwrap()[0].1.connections, 2);
        assert!(s.find_ingest_of_kind("h", "flows").unwrap().is_some());
        assert!(s.find_ingest_of_kind("h", "pcap").unwrap().is_none());
    }

    #[test]
    fn migration_4_marks_old_edges_as_packets() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.db");
        {
            let c = Connection::open(&p).unwrap();
            for sql in &MIGRATIONS[..3] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 3).unwrap();
            c.execute(
                "INSERT INTO edges (client, server, port, proto, connections, client_packets,
                    client_bytes, server_packets, server_bytes, first_seen, last_seen)
                 VALUES ('10.0.0.1', '10.0.0.2', 80, 6, 1, 1, 1, 1, 1, 0, 0)",
                [],
            )
            .unwrap();
        }
        let s = Store::open(&p).unwrap();
        let o = s.edge_origins().unwrap();
        assert!(o[0].1.packets && !o[0].1.flows && !o[0].1.sampled);
    }

    #[test]
    fn reopen_keeps_data_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.db");
        {
            let mut s = Store::open(&p).unwrap();
            let ingest = NewIngest {
                content_hash: "h1".into(),
                source: "x.pcap".into(),
                complete: true,
                ..NewIngest::default()
            };
            s.commit_ingest(
                &ingest,
                &Batch {
                    edges: vec![edge(22, 1, 1, 1)],
                    ..Batch::default()
                },
            )
            .unwrap();
        }
        let s = Store::open_existing(&p).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(s.edge_count().unwrap(), 1);
        let rec = s.find_ingest("h1").unwrap().unwrap();
        assert_eq!((rec.ingest.source.as_str(), rec.edges), ("x.pcap", 1));
        assert!(s.find_ingest("h2").unwrap().is_none());
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn missing_and_non_database_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.db");
        assert!(matches!(
            Store::open_existing(&missing),
            Err(StoreError::Missing { .. })
        ));
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
        let err = Store::open(&junk).err().unwrap();
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
        assert!(err.to_string().contains("junk.db"));
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.db");
        drop(Store::open(&p).unwrap());
        let c = Connection::open(&p).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(matches!(Store::open(&p), Err(StoreError::TooNew { .. })));
    }
}
