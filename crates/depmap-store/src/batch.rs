//! What one write carries: [`Batch`] (edges, per-day activity, names),
//! [`Commit`] (a packet batch and a flow batch, the sampled edges, the
//! record of an ingested input and the [`Observer`] that saw them), built by
//! the ingest side and handed to [`MapStore::commit`](crate::MapStore::commit).

use std::collections::BTreeMap;

use depmap_edges::{DayActivity, EdgeKey, EdgeStats, NameRecord};

use crate::NewIngest;

/// Edges, their per-day activity, and names, from one kind of source.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Edge figures to add.
    pub edges: Vec<(EdgeKey, EdgeStats)>,
    /// Per-day activity to add (hours are OR-ed, counts added).
    pub activity: Vec<(EdgeKey, DayActivity)>,
    /// Names to record (first/last seen widened).
    pub names: Vec<NameRecord>,
}

impl Batch {
    /// Appends `other`'s rows (call [`Batch::compact`] to merge repeats).
    pub fn absorb(&mut self, other: Batch) {
        self.edges.extend(other.edges);
        self.activity.extend(other.activity);
        self.names.extend(other.names);
    }

    /// Merges rows of the same edge, edge-day and name into one each, as
    /// writing them one after the other would (figures added, hours OR-ed,
    /// first/last seen widened), sorted by key. For a writer that holds a
    /// failed flush back and adds the next interval's rows to it: the
    /// batch then grows with distinct edges, not with intervals.
    pub fn compact(&mut self) {
        let mut edges: BTreeMap<EdgeKey, EdgeStats> = BTreeMap::new();
        for (k, st) in self.edges.drain(..) {
            edges.entry(k).or_default().merge(&st);
        }
        self.edges.extend(edges);
        let mut days: BTreeMap<(EdgeKey, i32), DayActivity> = BTreeMap::new();
        for (k, a) in self.activity.drain(..) {
            let d = days.entry((k, a.day)).or_insert(DayActivity {
                day: a.day,
                ..DayActivity::default()
            });
            d.hours |= a.hours;
            d.connections = d.connections.saturating_add(a.connections);
            d.packets = d.packets.saturating_add(a.packets);
            d.bytes = d.bytes.saturating_add(a.bytes);
        }
        self.activity
            .extend(days.into_iter().map(|((k, _), a)| (k, a)));
        self.names
            .sort_by(|a, b| (a.address, &a.name, a.source).cmp(&(b.address, &b.name, b.source)));
        self.names.dedup_by(|later, kept| {
            let same = (later.address, &later.name, later.source)
                == (kept.address, &kept.name, kept.source);
            if same {
                kept.first_seen = kept.first_seen.min(later.first_seen);
                kept.last_seen = kept.last_seen.max(later.last_seen);
            }
            same
        });
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.edges.is_empty() && self.activity.is_empty() && self.names.is_empty()
    }
}

/// Who saw the edges of a [`Commit`]: an agent or site id.
///
/// [`Observer::default`] stands for the store's own observer, the one it
/// was opened with (the local host's name as the caller passes it, or
/// [`Observer::LOCAL`]); the store reads no host name itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Observer(Option<String>);

impl Observer {
    /// The id a store records when its opener named none.
    pub const LOCAL: &'static str = "local";

    /// An observer by name (`site-a`, an agent's host name, ...).
    pub fn named(id: impl Into<String>) -> Observer {
        Observer(Some(id.into()))
    }

    /// The name, or `None` for the store's own observer.
    pub fn id(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// Everything one write carries, written in one transaction by
/// [`MapStore::commit`](crate::MapStore::commit): so a crash leaves either
/// all of it or none, and never an ingest record without its edges.
#[derive(Clone, Debug, Default)]
pub struct Commit {
    /// Edges, activity and names from captured packets.
    pub packets: Batch,
    /// Edges and activity from flow-export records.
    pub flows: Batch,
    /// Flow edges whose figures are estimates from sampled records (any
    /// order; an edge once sampled stays marked).
    pub sampled: Vec<EdgeKey>,
    /// The record of the input these came from (a file, a listener's
    /// capture), or `None` for a continuous source's periodic flush.
    pub ingest: Option<NewIngest>,
    /// Who saw them.
    pub observer: Observer,
}

impl Commit {
    /// Appends `other`'s rows (call [`Commit::compact`] to merge repeats).
    /// The ingest record and observer stay `self`'s; `other`'s ingest record
    /// is taken only when `self` has none.
    pub fn absorb(&mut self, other: Commit) {
        self.packets.absorb(other.packets);
        self.flows.absorb(other.flows);
        self.sampled.extend(other.sampled);
        if self.ingest.is_none() {
            self.ingest = other.ingest;
        }
    }

    /// Merges figures of the same edge (a held-back flush plus newer data);
    /// see [`Batch::compact`].
    pub fn compact(&mut self) {
        self.packets.compact();
        self.flows.compact();
        self.sampled.sort_unstable();
        self.sampled.dedup();
    }

    /// Edge rows held (packet and flow edges; the same edge in both counts twice).
    pub fn edges(&self) -> usize {
        self.packets.edges.len() + self.flows.edges.len()
    }

    /// Whether committing would write nothing: no rows and no ingest record.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty() && self.flows.is_empty() && self.ingest.is_none()
    }

    /// Packets (or flow-record packets) the edges add up to.
    pub fn packets(&self) -> u64 {
        self.packets
            .edges
            .iter()
            .chain(&self.flows.edges)
            .map(|(_, s)| s.packets())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use depmap_edges::NameSource;

    #[test]
    fn compact_merges_what_writing_twice_would() {
        let k = EdgeKey {
            client: "10.0.0.1".parse().unwrap(),
            server: "10.0.0.2".parse().unwrap(),
            port: 443,
            proto: 6,
        };
        let st = |c, first, last| EdgeStats {
            connections: c,
            client_packets: 2,
            client_bytes: 100,
            server_packets: 1,
            server_bytes: 50,
            first_seen: first,
            last_seen: last,
        };
        let day = |hours, packets| DayActivity {
            day: 20_000,
            hours,
            connections: 1,
            packets,
            bytes: 10,
        };
        let name = |first, last| NameRecord {
            address: k.server,
            name: "db.example".into(),
            source: NameSource::Sni,
            first_seen: first,
            last_seen: last,
        };
        let mut a = Batch {
            edges: vec![(k, st(1, 10, 20))],
            activity: vec![(k, day(1, 3))],
            names: vec![name(10, 20)],
        };
        a.absorb(Batch {
            edges: vec![(k, st(2, 5, 15))],
            activity: vec![(k, day(4, 3))],
            names: vec![name(5, 30)],
        });
        a.compact();
        let expected = EdgeStats {
            connections: 3,
            client_packets: 4,
            client_bytes: 200,
            server_packets: 2,
            server_bytes: 100,
            first_seen: 5,
            last_seen: 20,
        };
        assert_eq!(a.edges, vec![(k, expected)]);
        assert_eq!(a.activity.len(), 1);
        assert_eq!(a.activity[0].1.hours, 5);
        assert_eq!(a.activity[0].1.packets, 6);
        assert_eq!(a.activity[0].1.connections, 2);
        assert_eq!(a.names, vec![name(5, 30)]);
    }

    #[test]
    fn commit_absorbs_compacts_and_counts() {
        let k = |port| EdgeKey {
            client: "10.0.0.1".parse().unwrap(),
            server: "10.0.0.2".parse().unwrap(),
            port,
            proto: 6,
        };
        let st = EdgeStats {
            connections: 1,
            client_packets: 2,
            server_packets: 1,
            ..EdgeStats::default()
        };
        let mut a = Commit::default();
        assert!(a.is_empty());
        a.absorb(Commit {
            packets: Batch {
                edges: vec![(k(1), st)],
                ..Batch::default()
            },
            flows: Batch {
                edges: vec![(k(2), st)],
                ..Batch::default()
            },
            sampled: vec![k(2)],
            ..Commit::default()
        });
        a.absorb(Commit {
            flows: Batch {
                edges: vec![(k(2), st)],
                ..Batch::default()
            },
            sampled: vec![k(2)],
            ..Commit::default()
        });
        assert_eq!((a.edges(), a.packets()), (3, 9));
        a.compact();
        assert_eq!((a.edges(), a.packets(), a.sampled.len()), (2, 9, 1));
        assert!(!a.is_empty());
        let only_ingest = Commit {
            ingest: Some(NewIngest::default()),
            ..Commit::default()
        };
        assert!(!only_ingest.is_empty(), "an empty input is still recorded");
    }
}
