//! The write path: one transaction per commit; per edge a lookup and an
//! update or insert, or multi-row inserts into an empty store.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use depmap_edges::{EdgeKey, EdgeStats};
use rusqlite::{params, OptionalExtension};

use super::schema::{SOURCE_FLOWS, SOURCE_PACKETS};
use super::{classify, Store};
use crate::{Batch, Commit, StoreError, UpsertSummary};

/// How a batch's edges are marked: packet batches or flow batches, with the
/// keys of the edges whose figures are sampled.
#[derive(Clone, Copy)]
enum Marks<'a> {
    Packets,
    Flows { sampled: &'a [EdgeKey] },
}

impl Store {
    /// Writes a commit's packet batch, flow batch and ingest record in one
    /// transaction: the one write path, behind
    /// [`MapStore::commit`](crate::MapStore::commit). Returns what each
    /// batch did.
    pub(crate) fn write_commit(
        &mut self,
        c: &Commit,
    ) -> Result<(UpsertSummary, UpsertSummary), StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| classify(&path, e))?;
        let mut done = (UpsertSummary::default(), UpsertSummary::default());
        let mut ids = Vec::new();
        let observer = c.observer.id().unwrap_or(&self.observer);
        let rows_for = observer_rows(&tx, observer).map_err(|e| classify(&path, e))?;
        if !c.packets.is_empty() {
            done.0 = write_batch(&tx, &c.packets, Marks::Packets, &mut ids)
                .map_err(|e| classify(&path, e))?;
        }
        if !c.flows.is_empty() {
            let marks = Marks::Flows {
                sampled: &c.sampled,
            };
            done.1 = write_batch(&tx, &c.flows, marks, &mut ids).map_err(|e| classify(&path, e))?;
        }
        if let Some(who) = rows_for.filter(|_| !ids.is_empty()) {
            observe(&tx, who, &mut ids).map_err(|e| classify(&path, e))?;
        }
        if let Some(ingest) = &c.ingest {
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
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Writes one batch; appends the row ids of its edges to `edge_ids`.
fn write_batch(
    tx: &rusqlite::Transaction<'_>,
    batch: &Batch,
    marks: Marks<'_>,
    edge_ids: &mut Vec<i64>,
) -> Result<UpsertSummary, rusqlite::Error> {
    let (summary, ids) = upsert(tx, &batch.edges, marks)?;
    edge_ids.extend(ids.values());
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

/// Edge ids by key. The keys come from traffic, so the hash is seeded
/// (foldhash, as depmap-edges' maps; see its `table.rs`).
type EdgeIds = foldhash::HashMap<EdgeKey, i64>;

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
) -> Result<(UpsertSummary, EdgeIds), rusqlite::Error> {
    let (sources, sampled) = match marks {
        Marks::Packets => (SOURCE_PACKETS, HashSet::new()),
        Marks::Flows { sampled } => (SOURCE_FLOWS, sampled.iter().copied().collect()),
    };
    let mut summary = UpsertSummary::default();
    let mut ids = EdgeIds::with_capacity_and_hasher(edges.len(), Default::default());
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

/// Names `observer` in the store and says whether its commit must write
/// one `edge_observers` row per edge it touches (called before the
/// commit's edges are written).
///
/// The first observer a store records is its home: while it is the only
/// one, every edge was seen by it and no row is written (an agent's own
/// store pays nothing for the dimension: a row per edge cost 87 M
/// instructions, 4% of the 20,000-edge benchmark ingest). The first commit
/// of a second observer makes the home's rows explicit for the edges
/// stored so far, and from then on every commit writes its rows.
fn observer_rows(
    tx: &rusqlite::Transaction<'_>,
    observer: &str,
) -> Result<Option<i64>, rusqlite::Error> {
    let before: i64 = tx
        .prepare_cached("SELECT count(*) FROM observers")?
        .query_row([], |r| r.get(0))?;
    tx.prepare_cached("INSERT INTO observers (name) VALUES (?1) ON CONFLICT (name) DO NOTHING")?
        .execute([observer])?;
    let who: i64 = tx
        .prepare_cached("SELECT id FROM observers WHERE name = ?1")?
        .query_row([observer], |r| r.get(0))?;
    let home = home(tx)?;
    Ok(match before {
        0 => None,
        1 if who == home => None,
        1 => {
            tx.execute(
                "INSERT INTO edge_observers (edge_id, observer_id)
                 SELECT id, ?1 FROM edges ORDER BY id ON CONFLICT DO NOTHING",
                [home],
            )?;
            Some(who)
        }
        _ => Some(who),
    })
}

/// Records that observer `who` saw the edges with row ids `ids` (sorted
/// and deduplicated here): one row per edge and observer, kept once.
fn observe(
    tx: &rusqlite::Transaction<'_>,
    who: i64,
    ids: &mut Vec<i64>,
) -> Result<(), rusqlite::Error> {
    // In key order, for the reason the per-day rows are.
    ids.sort_unstable();
    ids.dedup();
    for chunk in ids.chunks(OBSERVATIONS_PER_INSERT) {
        let sql = values_sql(
            "INSERT INTO edge_observers (edge_id, observer_id)",
            2,
            chunk.len(),
            " ON CONFLICT DO NOTHING",
        );
        let mut st = tx.prepare_cached(&sql)?;
        for (i, id) in chunk.iter().enumerate() {
            st.raw_bind_parameter(2 * i + 1, id)?;
            st.raw_bind_parameter(2 * i + 2, who)?;
        }
        st.raw_execute()?;
    }
    Ok(())
}

/// The store's home observer: the first it recorded.
pub(crate) fn home(c: &rusqlite::Connection) -> Result<i64, rusqlite::Error> {
    c.prepare_cached("SELECT min(id) FROM observers")?
        .query_row([], |r| r.get(0))
}

/// Rows per `INSERT` of (edge, observer) pairs: two values a row.
const OBSERVATIONS_PER_INSERT: usize = 256;

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
    ids: &mut EdgeIds,
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
}
