//! One test suite for every store backend, run through [`MapStore`] and
//! [`PolicyLog`]: each function takes `open`, which gives the store named
//! by its argument (a new, empty one for a name not seen before; the same
//! store again, reopened, for a name seen before), and panics on a failed
//! check. [`run_all`] runs them all. The SQLite backend runs it in its unit
//! tests; a new backend runs it from its own (with the `testsuite` feature).
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::net::IpAddr;
use std::ops::ControlFlow;

use depmap_edges::{DayActivity, EdgeKey, EdgeStats, NameRecord, NameSource};
use depmap_model::Cidr;

use crate::{
    Batch, Commit, EdgeOrigin, ExceptionState, Filter, MapStore, NewException, NewIngest,
    NewPolicyVersion, Observer, PolicyLog,
};

/// Opens the store of a name (see the module docs).
pub type Open<'a, S> = &'a mut dyn FnMut(&str) -> S;

/// Runs every test of the suite, each on stores of its own names
/// (`prefix` + the test's names).
pub fn run_all<S: MapStore + PolicyLog>(open: Open<'_, S>) {
    type Test<S> = fn(Open<'_, S>);
    let tests: &[(&str, Test<S>)] = &[
        ("bulk", bulk_first_write_matches_row_by_row::<S>),
        ("merge", activity_and_names_merge::<S>),
        ("prune", prune_drops_old_days_and_keeps_edge_totals::<S>),
        ("upsert", upserts_add_to_existing_edges::<S>),
        ("origins", origins_mark_packets_flows_and_sampling::<S>),
        ("reopen", reopen_keeps_data_and_schema_version::<S>),
        ("commit", commit_writes_all_parts_at_once::<S>),
        ("filter", reads_filter_and_stream::<S>),
        ("observers", observers_are_recorded_per_edge::<S>),
        ("keep", keep_days_counts_back_from_the_data::<S>),
        ("policy", versions_exceptions_and_their_audit_rows::<S>),
    ];
    for (name, test) in tests {
        test(&mut |store: &str| open(&format!("{name}-{store}")));
    }
}

/// A commit of packet edges.
fn packets(batch: Batch) -> Commit {
    Commit {
        packets: batch,
        ..Commit::default()
    }
}

/// A commit of flow edges, `sampled` marked.
fn flows(batch: Batch, sampled: &[EdgeKey]) -> Commit {
    Commit {
        flows: batch,
        sampled: sampled.to_vec(),
        ..Commit::default()
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

/// Moved from the SQLite store's unit tests.
pub fn bulk_first_write_matches_row_by_row<S: MapStore>(open: Open<'_, S>) {
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
    // Into an empty store: the bulk path.
    let mut bulk = open("bulk");
    let summary = bulk.commit(&packets(batch.clone())).unwrap();
    assert_eq!((summary.added, summary.updated), (150, 0));
    // Into a store that already holds one other edge: row by row.
    let mut rows = open("rows");
    let other = edge(1, 1, 0, 0);
    rows.commit(&packets(Batch {
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
    }))
    .unwrap();
    rows.commit(&packets(batch.clone())).unwrap();
    // Both stores hold the same edges and per-day rows, but for `other`.
    let same = |bulk: &S, rows: &S| {
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
    bulk.commit(&packets(batch.clone())).unwrap();
    rows.commit(&packets(batch.clone())).unwrap();
    same(&bulk, &rows);
    assert_eq!(bulk.integrity_check().unwrap(), "ok");
}

/// Moved from the SQLite store's unit tests.
pub fn activity_and_names_merge<S: MapStore>(open: Open<'_, S>) {
    let mut s = open("m");
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
        s.commit(&packets(Batch {
            edges: vec![e],
            activity: vec![(e.0, day(20000, h)), (e.0, day(20001, h))],
            names: vec![name(t)],
        }))
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

/// Moved from the SQLite store's unit tests.
pub fn prune_drops_old_days_and_keeps_edge_totals<S: MapStore>(open: Open<'_, S>) {
    let mut s = open("m");
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
    s.commit(&packets(Batch {
        edges: vec![a, b],
        activity,
        names: vec![],
    }))
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

/// Moved from the SQLite store's unit tests.
pub fn upserts_add_to_existing_edges<S: MapStore>(open: Open<'_, S>) {
    let mut s = open("m");
    let first = s
        .commit(&packets(edges(vec![edge(443, 2, 10, 20)])))
        .unwrap();
    assert_eq!((first.added, first.updated), (1, 0));
    let second = s
        .commit(&packets(edges(vec![
            edge(443, 3, 5, 15),
            edge(80, 1, 0, 1),
        ])))
        .unwrap();
    assert_eq!((second.added, second.updated), (1, 1));
    let all = s.edges().unwrap();
    let e443 = all.iter().find(|(k, _)| k.port == 443).unwrap().1;
    assert_eq!(e443.connections, 2);
    assert_eq!(e443.client_packets, 5);
    assert_eq!((e443.first_seen, e443.last_seen), (5, 20));
    assert_eq!(all[0].0.server.to_string(), "2001:db8::1");
}

/// Moved from the SQLite store's unit tests.
pub fn origins_mark_packets_flows_and_sampling<S: MapStore>(open: Open<'_, S>) {
    let mut s = open("m");
    let (a, b) = (edge(443, 1, 0, 1), edge(53, 1, 0, 1));
    s.commit(&packets(edges(vec![a]))).unwrap();
    s.commit(&flows(edges(vec![a, b]), &[b.0])).unwrap();
    let ingest = NewIngest {
        content_hash: "h".into(),
        kind: "flows".into(),
        ..NewIngest::default()
    };
    s.commit(&Commit {
        ingest: Some(ingest),
        ..flows(edges(vec![b]), &[])
    })
    .unwrap();
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

/// Moved from the SQLite store's unit tests.
pub fn reopen_keeps_data_and_schema_version<S: MapStore>(open: Open<'_, S>) {
    let version = {
        let mut s = open("m");
        let ingest = NewIngest {
            content_hash: "h1".into(),
            source: "x.pcap".into(),
            complete: true,
            ..NewIngest::default()
        };
        s.commit(&Commit {
            ingest: Some(ingest),
            ..packets(Batch {
                edges: vec![edge(22, 1, 1, 1)],
                ..Batch::default()
            })
        })
        .unwrap();
        s.schema_version().unwrap()
    };
    let s = open("m");
    assert!(version > 0);
    assert_eq!(s.schema_version().unwrap(), version);
    assert_eq!(s.edge_count().unwrap(), 1);
    let rec = s.find_ingest("h1").unwrap().unwrap();
    assert_eq!((rec.ingest.source.as_str(), rec.edges), ("x.pcap", 1));
    assert!(s.find_ingest("h2").unwrap().is_none());
    assert_eq!(s.integrity_check().unwrap(), "ok");
}

/// Moved from the SQLite store's policy unit tests.
pub fn versions_exceptions_and_their_audit_rows<S: PolicyLog>(open: Open<'_, S>) {
    let mut s = open("m");
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
    assert_eq!(
        r.state(100),
        ExceptionState::Revoked,
        "revoked beats active"
    );
    assert_eq!(e.state(199), ExceptionState::Active);
    assert_eq!(e.state(200), ExceptionState::Expired);
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

/// An exception to store, expiring at `expires_at`.
pub fn exception(expires_at: i64) -> NewException {
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

/// A commit with packet edges, flow edges, a sampled mark and an ingest
/// record writes all of them, and the ingest record counts both batches'
/// edges; an edge in both batches counts in each.
pub fn commit_writes_all_parts_at_once<S: MapStore>(open: Open<'_, S>) {
    let mut s = open("m");
    let (a, b) = (edge(443, 1, 0, 1), edge(53, 2, 0, 1));
    let c = Commit {
        packets: edges(vec![a]),
        flows: edges(vec![a, b]),
        sampled: vec![b.0],
        ingest: Some(NewIngest {
            content_hash: "both".into(),
            kind: "pcap".into(),
            ..NewIngest::default()
        }),
        observer: Observer::default(),
    };
    let done = s.commit(&c).unwrap();
    assert_eq!((done.added, done.updated), (2, 1));
    assert_eq!(s.find_ingest("both").unwrap().unwrap().edges, 3);
    let o = s.edge_origins().unwrap();
    assert_eq!(o.len(), 2);
    assert!(o
        .iter()
        .any(|(k, o)| *k == a.0 && o.packets && o.flows && !o.sampled));
    assert!(o
        .iter()
        .any(|(k, o)| *k == b.0 && !o.packets && o.flows && o.sampled));
    assert_eq!(
        s.edges()
            .unwrap()
            .iter()
            .map(|e| e.1.connections)
            .sum::<u64>(),
        3
    );
    // An empty input is still recorded (a repeat of it is then refused).
    let empty = Commit {
        ingest: Some(NewIngest {
            content_hash: "empty".into(),
            ..NewIngest::default()
        }),
        ..Commit::default()
    };
    assert_eq!(s.commit(&empty).unwrap(), Default::default());
    assert_eq!(s.find_ingest("empty").unwrap().unwrap().edges, 0);
}

/// The streaming reads hand over exactly the rows their filter admits,
/// and stop when told to.
pub fn reads_filter_and_stream<S: MapStore>(open: Open<'_, S>) {
    const DAY_NS: i64 = 86_400 * 1_000_000_000;
    let mut s = open("m");
    let key = |client: &str, server: &str| EdgeKey {
        client: client.parse().unwrap(),
        server: server.parse().unwrap(),
        port: 443,
        proto: 6,
    };
    // Three edges: seen on days 10, 11-12 and 20.
    let rows = [
        (key("10.0.1.5", "10.0.4.20"), 10, 10),
        (key("10.0.1.6", "10.0.4.21"), 11, 12),
        (key("192.168.0.9", "2001:db8::1"), 20, 20),
    ];
    let mut batch = Batch::default();
    for (k, first, last) in rows {
        let st = EdgeStats {
            connections: 1,
            first_seen: first * DAY_NS + 5,
            last_seen: last * DAY_NS + 5,
            ..EdgeStats::default()
        };
        batch.edges.push((k, st));
        for day in first..=last {
            let a = DayActivity {
                day: day as i32,
                hours: 1,
                connections: 1,
                packets: 1,
                bytes: 1,
            };
            batch.activity.push((k, a));
        }
        batch.names.push(NameRecord {
            address: k.server,
            name: format!("s{first}.example"),
            source: NameSource::Dns,
            first_seen: st.first_seen,
            last_seen: st.last_seen,
        });
    }
    s.commit(&packets(batch)).unwrap();
    let edges_of = |f: &Filter| {
        let mut out = Vec::new();
        s.each_edge(f, &mut |(k, _)| {
            out.push(k);
            ControlFlow::Continue(())
        })
        .unwrap();
        out.sort();
        out
    };
    let ip = |t: &str| t.parse::<IpAddr>().unwrap();
    assert_eq!(edges_of(&Filter::default()).len(), 3);
    let window = Filter {
        days: Some((11, 19)),
        ..Filter::default()
    };
    assert_eq!(edges_of(&window), [rows[1].0]);
    let server = Filter {
        server: Some(ip("2001:db8::1")),
        ..Filter::default()
    };
    assert_eq!(edges_of(&server), [rows[2].0]);
    let cidr = Filter {
        cidr: Some(Cidr::new(ip("10.0.4.0"), 24).unwrap()),
        ..Filter::default()
    };
    assert_eq!(edges_of(&cidr), [rows[0].0, rows[1].0]);
    let client_side = Filter {
        cidr: Some(Cidr::new(ip("192.168.0.0"), 16).unwrap()),
        ..Filter::default()
    };
    assert_eq!(edges_of(&client_side), [rows[2].0]);
    let both = Filter {
        days: Some((0, 10)),
        ..cidr.clone()
    };
    assert_eq!(edges_of(&both), [rows[0].0]);
    // Activity: the days inside the window only.
    let mut days = Vec::new();
    s.each_activity(&window, &mut |(k, a)| {
        days.push((k, a.day));
        ControlFlow::Continue(())
    })
    .unwrap();
    days.sort();
    assert_eq!(days, [(rows[1].0, 11), (rows[1].0, 12)]);
    // Names: by address and time window.
    let mut names = Vec::new();
    s.each_name(&cidr, &mut |n| {
        names.push(n.name);
        ControlFlow::Continue(())
    })
    .unwrap();
    names.sort();
    assert_eq!(names, ["s10.example", "s11.example"]);
    let mut origins = 0;
    s.each_origin(&server, &mut |_| {
        origins += 1;
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(origins, 1);
    // A reader that has seen enough stops the read.
    let mut seen = 0;
    s.each_edge(&Filter::default(), &mut |_| {
        seen += 1;
        ControlFlow::Break(())
    })
    .unwrap();
    assert_eq!(seen, 1);
}

/// Each commit records its observer against every edge it wrote, once per
/// edge and observer; the store's own observer when the commit names none.
pub fn observers_are_recorded_per_edge<S: MapStore>(open: Open<'_, S>) {
    let mut s = open("m");
    let (a, b) = (edge(443, 1, 0, 1), edge(53, 1, 0, 1));
    s.commit(&packets(edges(vec![a]))).unwrap();
    s.commit(&packets(edges(vec![a]))).unwrap();
    assert_eq!(
        s.observations().unwrap(),
        vec![(a.0, Observer::LOCAL.to_string())],
        "one observer: it saw every edge"
    );
    let site = |b: Batch| Commit {
        observer: Observer::named("site-b"),
        ..flows(b, &[])
    };
    s.commit(&site(edges(vec![a, b]))).unwrap();
    let seen = s.observations().unwrap();
    let local = Observer::LOCAL.to_string();
    let mut want = vec![
        (a.0, local.clone()),
        (a.0, "site-b".to_string()),
        (b.0, "site-b".to_string()),
    ];
    want.sort();
    assert_eq!(seen, want);
    let mut only_b = Vec::new();
    let f = Filter {
        server: Some(b.0.server),
        ..Filter::default()
    };
    s.each_observation(&f, &mut |o| {
        only_b.push(o);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(only_b.len(), 3, "a and b share the server");
}

/// Retention counted back from the last day with data.
pub fn keep_days_counts_back_from_the_data<S: MapStore>(open: Open<'_, S>) {
    let mut s = open("m");
    assert_eq!(s.keep_days(3).unwrap(), None);
    let e = edge(443, 1, 0, 1);
    let activity = (100..110)
        .map(|d| {
            let a = DayActivity {
                day: d,
                hours: 1,
                connections: 1,
                packets: 1,
                bytes: 1,
            };
            (e.0, a)
        })
        .collect();
    s.commit(&packets(Batch {
        edges: vec![e],
        activity,
        names: vec![],
    }))
    .unwrap();
    let r = s.keep_days(3).unwrap().unwrap();
    assert_eq!((r.last, r.first_kept, r.deleted), (109, 107, 7));
    assert_eq!(s.activity_row_count().unwrap(), 3);
    assert!(s.size_bytes() > 0);
}
