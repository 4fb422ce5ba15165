//! [`MapStore`]: what any backend of the dependency map offers, and the
//! [`Filter`] its streaming reads take.
//!
//! The trait is synchronous. Every write is one transaction that the caller
//! waits for, callers on tokio already run it with `spawn_blocking`, and a
//! PostgreSQL backend for the fleet hub can keep the same shape with the
//! `postgres` client on the blocking pool (docs/ARCHITECTURE.md, "The store
//! behind a trait").

use std::net::IpAddr;
use std::ops::ControlFlow;

use depmap_edges::{DayActivity, EdgeKey, EdgeOrigin, EdgeStats, NameRecord};
use depmap_model::Cidr;

use crate::{Commit, IngestRecord, StoreError, UpsertSummary};

/// Nanoseconds in a day, to compare an edge's first and last seen with days.
const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// Which rows a streaming read hands over; [`Filter::default`] is all.
/// The conditions are and-ed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Days since the epoch (UTC), first and last, inclusive: per-day
    /// activity of those days; edges and names seen at some time within
    /// them (first seen before the end, last seen after the start).
    pub days: Option<(i32, i32)>,
    /// Edges to this server (names of this address).
    pub server: Option<IpAddr>,
    /// Edges with their client or their server inside (names of addresses
    /// inside). Addresses are compared as stored: an IPv4-mapped IPv6
    /// address (`::ffff:10.0.4.1`) is an IPv6 address here and is not
    /// inside an IPv4 network, unlike [`Cidr::contains`], which reads it as
    /// IPv4 for allow-lists.
    pub cidr: Option<Cidr>,
}

impl Filter {
    /// Whether an edge seen from `first` to `last` (ns) passes the time window.
    pub fn seen_within(&self, first: i64, last: i64) -> bool {
        match self.days {
            None => true,
            Some((from, to)) => {
                let start = i64::from(from).saturating_mul(DAY_NS);
                let end = (i64::from(to) + 1).saturating_mul(DAY_NS);
                first < end && last >= start
            }
        }
    }

    /// Whether a day passes the time window.
    pub fn day_within(&self, day: i32) -> bool {
        self.days
            .is_none_or(|(from, to)| (from..=to).contains(&day))
    }

    /// Whether an edge passes the address conditions.
    pub fn edge_matches(&self, k: &EdgeKey) -> bool {
        self.server.is_none_or(|s| s == k.server)
            && self
                .cidr
                .is_none_or(|net| Filter::inside(net, k.client) || Filter::inside(net, k.server))
    }

    /// Whether an address (a name's) passes the address conditions.
    pub fn address_matches(&self, ip: IpAddr) -> bool {
        self.server.is_none_or(|s| s == ip) && self.cidr.is_none_or(|net| Filter::inside(net, ip))
    }

    /// Whether the stored address `ip` is inside `net`, of the same family:
    /// the filter matches addresses as the store keeps them, so an
    /// IPv4-mapped IPv6 address is matched by IPv6 networks only (as by
    /// `::ffff:0:0/96`), never by the IPv4 network of its embedded address.
    fn inside(net: Cidr, ip: IpAddr) -> bool {
        net.to_ipnet().contains(&ip)
    }
}

/// What [`MapStore::keep_days`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// The last day with activity (days since the epoch), counted back from.
    pub last: i32,
    /// The first day kept.
    pub first_kept: i32,
    /// Per-day rows deleted.
    pub deleted: u64,
}

/// A callback for streaming reads: return `ControlFlow::Break(())` to stop.
pub type Each<'a, T> = &'a mut dyn FnMut(T) -> ControlFlow<()>;

/// A store of the dependency map: one write path, lookups for repeat
/// detection, streaming filtered reads, retention and size.
///
/// The streaming reads (`each_*`) hand over rows in the backend's order,
/// without holding a table in memory; the whole-table reads built on them
/// ([`MapStore::edges`], ...) sort.
pub trait MapStore {
    /// Writes everything `c` carries in one transaction (packet edges,
    /// flow edges marked as such, the sampled marks, the ingest record, the
    /// observer) and says how many edges were new and how many had figures
    /// added (an edge in both batches counts in each). Nothing is written
    /// if it fails.
    fn commit(&mut self, c: &Commit) -> Result<UpsertSummary, StoreError>;

    /// The most recent ingest of content with this hash, if any.
    fn find_ingest(&self, content_hash: &str) -> Result<Option<IngestRecord>, StoreError>;

    /// The most recent ingest of an input with this fingerprint, if any.
    fn find_fingerprint(&self, fingerprint: &str) -> Result<Option<IngestRecord>, StoreError>;

    /// The most recent ingest of content with this hash and of this kind
    /// (`pcap`, `flows`, ...), if any: the same capture may be ingested once
    /// as packets and once as the flow exports inside it.
    fn find_ingest_of_kind(
        &self,
        content_hash: &str,
        kind: &str,
    ) -> Result<Option<IngestRecord>, StoreError>;

    /// Hands each stored edge that passes `filter` to `each`.
    fn each_edge(
        &self,
        filter: &Filter,
        each: Each<'_, (EdgeKey, EdgeStats)>,
    ) -> Result<(), StoreError>;

    /// Hands each stored day of activity that passes `filter`, with its edge.
    fn each_activity(
        &self,
        filter: &Filter,
        each: Each<'_, (EdgeKey, DayActivity)>,
    ) -> Result<(), StoreError>;

    /// Hands each stored name that passes `filter`.
    fn each_name(&self, filter: &Filter, each: Each<'_, NameRecord>) -> Result<(), StoreError>;

    /// Hands where each edge that passes `filter` had its figures from.
    fn each_origin(
        &self,
        filter: &Filter,
        each: Each<'_, (EdgeKey, EdgeOrigin)>,
    ) -> Result<(), StoreError>;

    /// Hands each (edge, observer) pair recorded for the edges that pass
    /// `filter`: which agents or sites committed the edge.
    fn each_observation(
        &self,
        filter: &Filter,
        each: Each<'_, (EdgeKey, String)>,
    ) -> Result<(), StoreError>;

    /// How many edges are stored.
    fn edge_count(&self) -> Result<u64, StoreError>;

    /// How many per-day activity rows are stored.
    fn activity_row_count(&self) -> Result<u64, StoreError>;

    /// The last day (days since the epoch, UTC) with stored activity, if any.
    fn last_activity_day(&self) -> Result<Option<i32>, StoreError>;

    /// Retention: deletes the per-day activity of every day before `day`
    /// (days since the epoch), in one transaction, and returns how many
    /// rows went. Edges keep their totals (connections, packets, bytes,
    /// first and last seen); an edge whose days are all gone keeps its
    /// figures but has no activity to classify. The storage does not
    /// shrink by itself (see [`MapStore::vacuum`]).
    fn prune_days_before(&mut self, day: i32) -> Result<u64, StoreError>;

    /// Gives back the space freed by [`MapStore::prune_days_before`]
    /// (SQLite and PostgreSQL `VACUUM`). May need free space about the size
    /// of the store while it runs.
    fn vacuum(&mut self) -> Result<(), StoreError>;

    /// Where the store is, as a person would name it in a message: the
    /// file's path for SQLite (a server backend would name its host and
    /// database).
    fn location(&self) -> String;

    /// Bytes the store takes on disk (for SQLite, the file and its
    /// write-ahead log; 0 when they cannot be read).
    fn size_bytes(&self) -> u64;

    /// The schema version (how many migrations have run).
    fn schema_version(&self) -> Result<i64, StoreError>;

    /// The backend's own consistency check; `ok` when sound.
    fn integrity_check(&self) -> Result<String, StoreError>;

    /// Retention counted back from the data: keeps the `keep` days up to
    /// the last day with activity and prunes the days before them. `None`
    /// when there is no activity (nothing to count back from).
    fn keep_days(&mut self, keep: i32) -> Result<Option<Retention>, StoreError> {
        let Some(last) = self.last_activity_day()? else {
            return Ok(None);
        };
        let first_kept = last.saturating_sub(keep.saturating_sub(1));
        let deleted = self.prune_days_before(first_kept)?;
        Ok(Some(Retention {
            last,
            first_kept,
            deleted,
        }))
    }

    /// Every stored edge, sorted by edge.
    fn edges(&self) -> Result<Vec<(EdgeKey, EdgeStats)>, StoreError> {
        let mut out = Vec::new();
        self.each_edge(&Filter::default(), &mut |e| {
            out.push(e);
            ControlFlow::Continue(())
        })?;
        out.sort_by_key(|e| e.0);
        Ok(out)
    }

    /// Every stored day of activity, with its edge, sorted by edge then day.
    fn activity(&self) -> Result<Vec<(EdgeKey, DayActivity)>, StoreError> {
        let mut out = Vec::new();
        self.each_activity(&Filter::default(), &mut |e| {
            out.push(e);
            ControlFlow::Continue(())
        })?;
        out.sort_by_key(|(k, a)| (*k, a.day));
        Ok(out)
    }

    /// Every stored name, sorted by address then name.
    fn names(&self) -> Result<Vec<NameRecord>, StoreError> {
        let mut out = Vec::new();
        self.each_name(&Filter::default(), &mut |n| {
            out.push(n);
            ControlFlow::Continue(())
        })?;
        out.sort();
        Ok(out)
    }

    /// Where every stored edge's figures came from, sorted by edge.
    fn edge_origins(&self) -> Result<Vec<(EdgeKey, EdgeOrigin)>, StoreError> {
        let mut out = Vec::new();
        self.each_origin(&Filter::default(), &mut |e| {
            out.push(e);
            ControlFlow::Continue(())
        })?;
        out.sort_by_key(|e| e.0);
        Ok(out)
    }

    /// Every recorded (edge, observer) pair, sorted.
    fn observations(&self) -> Result<Vec<(EdgeKey, String)>, StoreError> {
        let mut out = Vec::new();
        self.each_observation(&Filter::default(), &mut |e| {
            out.push(e);
            ControlFlow::Continue(())
        })?;
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn networks_and_filters() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let net = |s: &str| Some(s.parse::<Cidr>().unwrap());
        let inside = |n: &str, a: &str| Filter::inside(n.parse().unwrap(), ip(a));
        // Any address of the network says which network is meant.
        let p = Cidr::parse_masked("10.0.4.9/24").unwrap();
        assert!(Filter::inside(p, ip("10.0.4.200")) && !Filter::inside(p, ip("10.0.5.1")));
        // Addresses are matched as stored: a mapped address is IPv6.
        assert!(!Filter::inside(p, ip("::ffff:10.0.4.1")));
        assert!(inside("::ffff:0:0/96", "::ffff:10.0.4.1"));
        assert!(inside("0.0.0.0/0", "1.2.3.4"));
        assert!(!inside("0.0.0.0/0", "::1"));
        assert!(inside("2001:db8::/32", "2001:db8:1::7"));
        assert!(inside("10.0.0.1", "10.0.0.1"));
        assert!(Cidr::new(ip("10.0.0.1"), 33).is_none());
        let cidr = Filter {
            cidr: net("10.0.4.0/24"),
            ..Filter::default()
        };
        let edge = |c: &str, s: &str| EdgeKey {
            client: ip(c),
            server: ip(s),
            port: 443,
            proto: 6,
        };
        assert!(cidr.edge_matches(&edge("10.0.4.1", "192.0.2.1")));
        assert!(cidr.edge_matches(&edge("192.0.2.1", "10.0.4.1")));
        assert!(!cidr.edge_matches(&edge("::ffff:10.0.4.1", "192.0.2.1")));
        assert!(cidr.address_matches(ip("10.0.4.7")) && !cidr.address_matches(ip("10.0.3.7")));
        let f = Filter {
            days: Some((10, 11)),
            ..Filter::default()
        };
        assert!(f.seen_within(11 * DAY_NS, 20 * DAY_NS));
        assert!(!f.seen_within(12 * DAY_NS, 20 * DAY_NS));
        assert!(!f.seen_within(0, 10 * DAY_NS - 1));
        assert!(f.day_within(10) && !f.day_within(12));
    }
}
