//! The SQLite backend's tests: the generic suite (`crate::testsuite`) on
//! SQLite files, and what only SQLite has (files, migrations).
#![allow(clippy::unwrap_used)]

use rusqlite::Connection;

use super::*;
use crate::testsuite::{self, Open};

/// Runs a suite test on SQLite files in a new directory; a name seen
/// before is reopened with `open_existing`.
fn on_sqlite(test: fn(Open<'_, Store>)) {
    let dir = tempfile::tempdir().unwrap();
    test(&mut |name: &str| {
        let p = dir.path().join(format!("{name}.db"));
        if p.exists() {
            Store::open_existing(&p).unwrap()
        } else {
            let s = Store::open(&p).unwrap();
            assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
            s
        }
    });
}

#[test]
fn the_suite_runs_in_one_go() {
    let dir = tempfile::tempdir().unwrap();
    testsuite::run_all(&mut |name: &str| {
        Store::open(dir.path().join(format!("{name}.db"))).unwrap()
    });
}

#[test]
fn bulk_first_write_matches_row_by_row() {
    on_sqlite(testsuite::bulk_first_write_matches_row_by_row);
}

#[test]
fn activity_and_names_merge() {
    on_sqlite(testsuite::activity_and_names_merge);
}

#[test]
fn prune_drops_old_days_and_keeps_edge_totals() {
    on_sqlite(testsuite::prune_drops_old_days_and_keeps_edge_totals);
}

#[test]
fn upserts_add_to_existing_edges() {
    on_sqlite(testsuite::upserts_add_to_existing_edges);
}

#[test]
fn origins_mark_packets_flows_and_sampling() {
    on_sqlite(testsuite::origins_mark_packets_flows_and_sampling);
}

#[test]
fn reopen_keeps_data_and_schema_version() {
    on_sqlite(testsuite::reopen_keeps_data_and_schema_version);
}

#[test]
fn commit_writes_all_parts_at_once() {
    on_sqlite(testsuite::commit_writes_all_parts_at_once);
}

#[test]
fn reads_filter_and_stream() {
    on_sqlite(testsuite::reads_filter_and_stream);
}

#[test]
fn observers_are_recorded_per_edge() {
    on_sqlite(testsuite::observers_are_recorded_per_edge);
}

/// An agent's own store writes no observer rows while it is the only
/// observer; a second observer makes the first one's rows explicit.
#[test]
fn a_store_with_one_observer_writes_no_observer_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path().join("m.db")).unwrap();
    let rows = |s: &Store| -> i64 {
        s.conn
            .query_row("SELECT count(*) FROM edge_observers", [], |r| r.get(0))
            .unwrap()
    };
    on_one(&mut s, "local", 443);
    on_one(&mut s, "local", 53);
    assert_eq!(rows(&s), 0);
    assert_eq!(s.observations().unwrap().len(), 2);
    on_one(&mut s, "site-b", 53);
    assert_eq!(rows(&s), 3, "local's two edges, site-b's one");
    on_one(&mut s, "local", 22);
    assert_eq!(rows(&s), 4);
}

fn on_one(s: &mut Store, observer: &str, port: u16) {
    let key = EdgeKey {
        client: "10.0.0.1".parse().unwrap(),
        server: "10.0.0.2".parse().unwrap(),
        port,
        proto: 6,
    };
    let c = Commit {
        packets: crate::Batch {
            edges: vec![(key, EdgeStats::default())],
            ..crate::Batch::default()
        },
        observer: crate::Observer::named(observer),
        ..Commit::default()
    };
    s.commit(&c).unwrap();
}

#[test]
fn keep_days_counts_back_from_the_data() {
    on_sqlite(testsuite::keep_days_counts_back_from_the_data);
}

#[test]
fn versions_exceptions_and_their_audit_rows() {
    on_sqlite(testsuite::versions_exceptions_and_their_audit_rows);
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
#[test]
fn migration_6_adds_observers_and_changes_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.db");
    let dump = |c: &Connection| {
        let mut out = Vec::new();
        for table in ["edges", "edge_days", "names", "ingests"] {
            let mut st = c
                .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2"))
                .unwrap();
            let n = st.column_count();
            let mut rows = st.query([]).unwrap();
            while let Some(r) = rows.next().unwrap() {
                let cols: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect();
                out.push(format!("{table}: {}", cols.join(",")));
            }
        }
        out
    };
    let before = {
        let c = Connection::open(&p).unwrap();
        for sql in &MIGRATIONS[..5] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 5).unwrap();
        c.execute_batch(
            "INSERT INTO edges (client, server, port, proto, connections, client_packets,
                client_bytes, server_packets, server_bytes, first_seen, last_seen, sources)
             VALUES ('10.0.0.1', '10.0.0.2', 80, 6, 1, 1, 1, 1, 1, 0, 0, 1);
             INSERT INTO edge_days VALUES (1, 20000, 1, 1, 1, 1);
             INSERT INTO names VALUES ('10.0.0.2', 'web', 'dns', 0, 0);",
        )
        .unwrap();
        dump(&c)
    };
    assert_eq!(before.len(), 3);
    let s = Store::open(&p).unwrap();
    assert_eq!(s.schema_version().unwrap(), 6);
    assert_eq!(dump(&s.conn), before);
    assert!(
        s.observations().unwrap().is_empty(),
        "who saw old edges is unknown"
    );
}
