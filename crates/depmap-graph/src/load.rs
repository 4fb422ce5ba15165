//! [`Map::load`]: the one place a store's edges, activity, names and origins
//! become a map.
//!
//! It reads through the [`MapStore`] trait's streaming reads, so it works
//! on any backend and never holds a whole table twice: each row goes
//! straight into the map's own structures (activity into each edge's days,
//! names into each address's list) instead of into a sorted copy of the
//! table first.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use depmap_edges::{DayActivity, EdgeKey, EdgeOrigin};
use depmap_store::{Filter, MapStore, StoreError};

use crate::Map;

impl Map {
    /// The map of everything `store` holds: its edges; each edge's
    /// recurrence, classified from its per-day activity against the last
    /// day of the data, with edges first seen in the last `new_days` days
    /// marked new; the names learned for its addresses (all as
    /// [`Map::annotate`]); and where each edge's figures came from
    /// ([`Map::set_origins`]).
    ///
    /// ```
    /// use depmap_edges::{EdgeKey, EdgeStats};
    /// use depmap_graph::Map;
    /// use depmap_store::{Batch, Commit, MapStore, Store};
    /// let dir = tempfile::tempdir()?;
    /// let mut store = Store::open(dir.path().join("map.db"))?;
    /// let key = EdgeKey { client: "10.0.0.1".parse()?, server: "10.0.0.2".parse()?, port: 53, proto: 17 };
    /// let stats = EdgeStats { connections: 1, client_packets: 1, client_bytes: 60,
    ///     server_packets: 1, server_bytes: 90, first_seen: 0, last_seen: 5 };
    /// let packets = Batch { edges: vec![(key, stats)], ..Batch::default() };
    /// store.commit(&Commit { packets, ..Commit::default() })?;
    /// let map = Map::load(&store, 7)?;
    /// assert_eq!(map.edges(), [(key, stats)]);
    /// assert!(map.to_json().contains("\"sources\": [\n        \"packets\"\n      ]"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load<S: MapStore + ?Sized>(store: &S, new_days: i32) -> Result<Map, StoreError> {
        let filter = &Filter::default();
        let mut edges = Vec::new();
        store.each_edge(filter, &mut |e| {
            edges.push(e);
            ControlFlow::Continue(())
        })?;
        let mut map = Map::new(edges);

        let mut by_edge: BTreeMap<EdgeKey, Vec<DayActivity>> = BTreeMap::new();
        store.each_activity(filter, &mut |(k, a)| {
            by_edge.entry(k).or_default().push(a);
            ControlFlow::Continue(())
        })?;
        map.set_activity(by_edge, new_days);

        store.each_name(filter, &mut |n| {
            map.add_name(n.address, &n.name);
            ControlFlow::Continue(())
        })?;
        map.sort_names();

        let mut origins: BTreeMap<EdgeKey, EdgeOrigin> = BTreeMap::new();
        store.each_origin(filter, &mut |(k, o)| {
            origins.insert(k, o);
            ControlFlow::Continue(())
        })?;
        map.set_origins_by_key(origins);
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use depmap_edges::{EdgeStats, NameRecord, NameSource, NANOS_PER_DAY};
    use depmap_store::{Batch, Commit, Each, IngestRecord, Store, UpsertSummary};

    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    fn key(client: &str, server: &str, port: u16, proto: u8) -> EdgeKey {
        EdgeKey {
            client: client.parse().unwrap(),
            server: server.parse().unwrap(),
            port,
            proto,
        }
    }

    /// An edge active on `days` (at 06:00), its figures and activity.
    fn edge(k: EdgeKey, days: &[i32]) -> ((EdgeKey, EdgeStats), Vec<(EdgeKey, DayActivity)>) {
        let first = i64::from(*days.iter().min().unwrap()) * NANOS_PER_DAY + 6 * HOUR;
        let last = i64::from(*days.iter().max().unwrap()) * NANOS_PER_DAY + 6 * HOUR;
        let n = days.len() as u64;
        let stats = EdgeStats {
            connections: n,
            client_packets: 2 * n,
            client_bytes: 200 * n,
            server_packets: 3 * n,
            server_bytes: 3000 * n,
            first_seen: first,
            last_seen: last,
        };
        // Newest day first: the map must not rely on the order rows come in.
        let activity = days
            .iter()
            .rev()
            .map(|&day| {
                let a = DayActivity {
                    day,
                    hours: 1 << 6,
                    connections: 1,
                    packets: 5,
                    bytes: 3200,
                };
                (k, a)
            })
            .collect();
        ((k, stats), activity)
    }

    fn name(address: &str, name: &str, source: NameSource) -> NameRecord {
        NameRecord {
            address: address.parse().unwrap(),
            name: name.to_string(),
            source,
            first_seen: 0,
            last_seen: 1,
        }
    }

    /// A store with daily, weekly, one-off, stopped and new edges, names
    /// learned twice, and flow edges with sampled figures.
    fn store(dir: &tempfile::TempDir) -> Store {
        let mut store = Store::open(dir.path().join("map.db")).unwrap();
        let base = 20_000;
        let daily: Vec<i32> = (base..base + 40).collect();
        let weekly: Vec<i32> = (base..base + 40).step_by(7).collect();
        let stopped: Vec<i32> = (base..base + 20).collect();
        let mut packets = Batch::default();
        for (k, days) in [
            (key("10.0.4.1", "10.0.5.9", 5432, 6), &daily[..]),
            (key("10.0.4.2", "10.0.5.9", 5432, 6), &weekly[..]),
            (key("10.0.4.1", "10.0.4.53", 53, 17), &daily[..]),
            (key("10.0.6.1", "192.0.2.80", 443, 6), &stopped[..]),
            (key("10.0.6.1", "192.0.2.81", 443, 6), &[base + 39][..]),
            (key("fd00::1", "fd00::2", 22, 6), &[base + 3][..]),
        ] {
            let (e, activity) = edge(k, days);
            packets.edges.push(e);
            packets.activity.extend(activity);
        }
        packets.names = vec![
            name("10.0.5.9", "db.example", NameSource::Dns),
            name("10.0.5.9", "db.example", NameSource::Sni),
            name("10.0.5.9", "alias.example", NameSource::Dns),
            name("192.0.2.80", "api.partner.example", NameSource::Sni),
        ];
        store
            .commit(&Commit {
                packets,
                ..Commit::default()
            })
            .unwrap();
        let mut flows = Batch::default();
        let sampled = key("10.0.7.1", "10.0.5.9", 5432, 6);
        for (k, days) in [
            (key("10.0.4.1", "10.0.5.9", 5432, 6), &daily[30..]),
            (sampled, &daily[..10]),
        ] {
            let (e, activity) = edge(k, days);
            flows.edges.push(e);
            flows.activity.extend(activity);
        }
        store
            .commit(&Commit {
                flows,
                sampled: vec![sampled],
                ..Commit::default()
            })
            .unwrap();
        store
    }

    /// A backend that hands rows over in the opposite order to SQLite's:
    /// the map must not depend on the order a backend streams in.
    struct Reversed(Store);

    fn reversed<T>(
        read: impl FnOnce(Each<'_, T>) -> Result<(), StoreError>,
        each: Each<'_, T>,
    ) -> Result<(), StoreError> {
        let mut rows = Vec::new();
        read(&mut |r| {
            rows.push(r);
            ControlFlow::Continue(())
        })?;
        for r in rows.into_iter().rev() {
            if each(r).is_break() {
                break;
            }
        }
        Ok(())
    }

    impl MapStore for Reversed {
        fn commit(&mut self, c: &Commit) -> Result<UpsertSummary, StoreError> {
            self.0.commit(c)
        }
        fn find_ingest(&self, hash: &str) -> Result<Option<IngestRecord>, StoreError> {
            self.0.find_ingest(hash)
        }
        fn find_fingerprint(&self, f: &str) -> Result<Option<IngestRecord>, StoreError> {
            self.0.find_fingerprint(f)
        }
        fn find_ingest_of_kind(
            &self,
            hash: &str,
            kind: &str,
        ) -> Result<Option<IngestRecord>, StoreError> {
            self.0.find_ingest_of_kind(hash, kind)
        }
        fn each_edge(
            &self,
            f: &Filter,
            each: Each<'_, (EdgeKey, EdgeStats)>,
        ) -> Result<(), StoreError> {
            reversed(|e| self.0.each_edge(f, e), each)
        }
        fn each_activity(
            &self,
            f: &Filter,
            each: Each<'_, (EdgeKey, DayActivity)>,
        ) -> Result<(), StoreError> {
            reversed(|e| self.0.each_activity(f, e), each)
        }
        fn each_name(&self, f: &Filter, each: Each<'_, NameRecord>) -> Result<(), StoreError> {
            reversed(|e| self.0.each_name(f, e), each)
        }
        fn each_origin(
            &self,
            f: &Filter,
            each: Each<'_, (EdgeKey, EdgeOrigin)>,
        ) -> Result<(), StoreError> {
            reversed(|e| self.0.each_origin(f, e), each)
        }
        fn each_observation(
            &self,
            f: &Filter,
            each: Each<'_, (EdgeKey, String)>,
        ) -> Result<(), StoreError> {
            reversed(|e| self.0.each_observation(f, e), each)
        }
        fn edge_count(&self) -> Result<u64, StoreError> {
            self.0.edge_count()
        }
        fn activity_row_count(&self) -> Result<u64, StoreError> {
            self.0.activity_row_count()
        }
        fn last_activity_day(&self) -> Result<Option<i32>, StoreError> {
            self.0.last_activity_day()
        }
        fn prune_days_before(&mut self, day: i32) -> Result<u64, StoreError> {
            self.0.prune_days_before(day)
        }
        fn vacuum(&mut self) -> Result<(), StoreError> {
            self.0.vacuum()
        }
        fn location(&self) -> String {
            self.0.location()
        }
        fn size_bytes(&self) -> u64 {
            self.0.size_bytes()
        }
        fn schema_version(&self) -> Result<i64, StoreError> {
            self.0.schema_version()
        }
        fn integrity_check(&self) -> Result<String, StoreError> {
            self.0.integrity_check()
        }
    }

    fn csv(map: &Map) -> String {
        let mut out = Vec::new();
        map.write_csv(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// `Map::load` draws the map the binary used to assemble from the
    /// store's whole-table reads, byte for byte in every format.
    #[test]
    fn load_matches_the_whole_table_assembly() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let mut old = Map::new(store.edges().unwrap());
        old.annotate(&store.activity().unwrap(), &store.names().unwrap(), 7);
        old.set_origins(&store.edge_origins().unwrap());
        let map = Map::load(&store, 7).unwrap();
        assert_eq!(map.to_json(), old.to_json());
        assert_eq!(map.to_dot(), old.to_dot());
        assert_eq!(csv(&map), csv(&old));
        let backwards = Map::load(&Reversed(store), 7).unwrap();
        assert_eq!(backwards.to_json(), old.to_json());
        assert_eq!(backwards.to_dot(), old.to_dot());
        assert_eq!(csv(&backwards), csv(&old));

        // And that map has every annotation in it.
        assert_eq!(map.edges().len(), 7);
        let json: serde_json::Value = serde_json::from_str(&map.to_json()).unwrap();
        let patterns: Vec<&str> = json["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pattern"].as_str().unwrap())
            .collect();
        for p in ["daily", "weekly", "one-off", "stopped"] {
            assert!(patterns.contains(&p), "{p} in {patterns:?}");
        }
        let db = json["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["ip"] == "10.0.5.9")
            .unwrap();
        assert_eq!(
            db["names"],
            serde_json::json!(["alias.example", "db.example"])
        );
        let sampled: Vec<bool> = json["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["sampled"].as_bool().unwrap())
            .collect();
        assert_eq!(sampled.iter().filter(|s| **s).count(), 1);
        assert!(map.to_dot().contains("new (recent days)"));
    }
}
