//! How complete a baseline is, and what changed since it: the analyses
//! behind `depmap baseline` and `depmap drift`. Pure functions of stored
//! activity; time comes from the data.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::calendar::civil;
use crate::model::{DayActivity, EdgeKey, EdgeStats, NANOS_PER_DAY};
use crate::recurrence::{classify, Pattern, RecurrenceConfig};

/// Days in a business cycle: daily, weekly and monthly traffic all recur
/// within it.
pub const BUSINESS_CYCLE_DAYS: i32 = 30;

/// `YYYY-MM-DD` of a day since the epoch.
pub fn date(day: i32) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A run of days with no data from any source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// First day without data.
    pub from: String,
    /// Last day without data.
    pub to: String,
    /// Days in the gap.
    pub days: i32,
}

/// Per-service estimate of clients not seen yet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceCoverage {
    /// Server address.
    pub server: IpAddr,
    /// Server port.
    pub port: u16,
    /// Protocol number.
    pub proto: u8,
    /// Distinct clients seen.
    pub clients_seen: u32,
    /// Clients seen on exactly one day.
    pub seen_one_day: u32,
    /// Clients seen on exactly two days.
    pub seen_two_days: u32,
    /// Chao1 estimate of the total number of clients.
    pub estimated_clients: f64,
    /// Good-Turing estimate of the chance that the next client-day belongs
    /// to a client not seen yet (clients seen once / client-days).
    pub unseen_probability: f64,
}

/// What `depmap baseline` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Coverage {
    /// First day with data.
    pub first_day: Option<String>,
    /// Last day with data.
    pub last_day: Option<String>,
    /// Days from the first to the last day with data, inclusive.
    pub span_days: i32,
    /// Days on which some source reported traffic.
    pub days_with_data: i32,
    /// Days inside the span with no data.
    pub days_without_data: i32,
    /// The runs of days without data.
    pub gaps: Vec<Gap>,
    /// Whether the baseline covers a whole business cycle with data.
    pub full_cycle: bool,
    /// Plain-language warnings.
    pub warnings: Vec<String>,
    /// Services whose client list is least likely to be complete, worst first.
    pub services: Vec<ServiceCoverage>,
}

/// Computes baseline coverage from stored per-day activity.
pub fn coverage(activity: &[(EdgeKey, DayActivity)]) -> Coverage {
    let days: BTreeSet<i32> = activity.iter().map(|(_, a)| a.day).collect();
    let (Some(&first), Some(&last)) = (days.first(), days.last()) else {
        return Coverage {
            first_day: None,
            last_day: None,
            span_days: 0,
            days_with_data: 0,
            days_without_data: 0,
            gaps: Vec::new(),
            full_cycle: false,
            warnings: vec!["the store has no traffic yet: ingest captures or flows first".into()],
            services: Vec::new(),
        };
    };
    let span = last - first + 1;
    let mut gaps = Vec::new();
    let mut prev = first;
    for &d in days.iter().skip(1) {
        if d > prev + 1 {
            gaps.push(Gap {
                from: date(prev + 1),
                to: date(d - 1),
                days: d - prev - 1,
            });
        }
        prev = d;
    }
    let with_data = days.len() as i32;
    let without = span - with_data;
    let full_cycle = span >= BUSINESS_CYCLE_DAYS;
    let mut warnings = Vec::new();
    if !full_cycle {
        warnings.push(format!(
            "the baseline covers {span} days: edges that recur monthly cannot have been seen \
             (a full business cycle is {BUSINESS_CYCLE_DAYS} days)"
        ));
        if span < 7 {
            warnings.push(format!(
                "the baseline covers {span} days: edges that recur weekly may not have been seen"
            ));
        }
    }
    if without > 0 {
        warnings.push(format!(
            "{without} of {span} days have no data from any source ({} gap{}): traffic on those \
             days is missing from the baseline",
            gaps.len(),
            if gaps.len() == 1 { "" } else { "s" }
        ));
    }

    // Client-days per service.
    let mut per_service: BTreeMap<(IpAddr, u16, u8), BTreeMap<IpAddr, u32>> = BTreeMap::new();
    for (k, _) in activity {
        *per_service
            .entry((k.server, k.port, k.proto))
            .or_default()
            .entry(k.client)
            .or_default() += 1;
    }
    let mut services: Vec<ServiceCoverage> = per_service
        .into_iter()
        .map(|((server, port, proto), clients)| {
            let s = clients.len() as u32;
            let f1 = clients.values().filter(|&&d| d == 1).count() as u32;
            let f2 = clients.values().filter(|&&d| d == 2).count() as u32;
            let n: u32 = clients.values().sum();
            let (f1f, f2f) = (f64::from(f1), f64::from(f2));
            let chao1 = if f2 > 0 {
                f64::from(s) + f1f * f1f / (2.0 * f2f)
            } else {
                f64::from(s) + f1f * (f1f - 1.0).max(0.0) / 2.0
            };
            ServiceCoverage {
                server,
                port,
                proto,
                clients_seen: s,
                seen_one_day: f1,
                seen_two_days: f2,
                estimated_clients: (chao1 * 10.0).round() / 10.0,
                unseen_probability: if n > 0 {
                    ((f1f / f64::from(n)) * 1000.0).round() / 1000.0
                } else {
                    0.0
                },
            }
        })
        .collect();
    services.sort_by(|a, b| {
        b.unseen_probability
            .total_cmp(&a.unseen_probability)
            .then(a.server.cmp(&b.server))
            .then(a.port.cmp(&b.port))
    });
    Coverage {
        first_day: Some(date(first)),
        last_day: Some(date(last)),
        span_days: span,
        days_with_data: with_data,
        days_without_data: without,
        gaps,
        full_cycle,
        warnings,
        services,
    }
}

/// One change `depmap drift` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftItem {
    /// `new`, `stopped` or `pattern-changed`.
    pub kind: &'static str,
    /// The edge.
    pub client: IpAddr,
    /// The edge.
    pub server: IpAddr,
    /// The edge.
    pub port: u16,
    /// The edge.
    pub proto: u8,
    /// For new edges: how unusual it is (higher is more suspicious).
    pub score: u32,
    /// Why, in words.
    pub reasons: Vec<String>,
    /// First day seen.
    pub first_seen: String,
    /// Last day seen.
    pub last_seen: String,
    /// Pattern in the baseline period (for changed and stopped edges).
    pub before: Option<Pattern>,
    /// Pattern over all the data.
    pub now: Option<Pattern>,
}

/// Compares the recent period (the last `recent_days` days of data) with the
/// baseline before it.
pub fn drift(
    edges: &[(EdgeKey, EdgeStats)],
    activity: &[(EdgeKey, DayActivity)],
    recent_days: i32,
) -> Vec<DriftItem> {
    let Some(end) = activity.iter().map(|(_, a)| a.day).max() else {
        return Vec::new();
    };
    let cut = end - recent_days + 1; // first day of the recent period
    let mut by_edge: BTreeMap<EdgeKey, Vec<DayActivity>> = BTreeMap::new();
    for (k, a) in activity {
        by_edge.entry(*k).or_default().push(*a);
    }
    // What the baseline knew: server hosts, their ports, each client's active hours.
    let mut known_hosts: BTreeSet<IpAddr> = BTreeSet::new();
    let mut known_ports: BTreeSet<(IpAddr, u16, u8)> = BTreeSet::new();
    let mut client_hours: BTreeMap<IpAddr, u32> = BTreeMap::new();
    for (k, days) in &by_edge {
        for d in days.iter().filter(|d| d.day < cut) {
            known_hosts.insert(k.server);
            known_hosts.insert(k.client);
            known_ports.insert((k.server, k.port, k.proto));
            *client_hours.entry(k.client).or_default() |= d.hours;
        }
    }
    let cfg = RecurrenceConfig::default();
    let stats: BTreeMap<EdgeKey, EdgeStats> = edges.iter().copied().collect();
    let mut out = Vec::new();
    for (k, days) in &by_edge {
        let first = days.first().map_or(end, |d| d.day);
        let last = days.last().map_or(end, |d| d.day);
        let (first_seen, last_seen) =
            stats
                .get(k)
                .map(|s| (s.first_seen, s.last_seen))
                .unwrap_or((
                    i64::from(first) * NANOS_PER_DAY,
                    i64::from(last) * NANOS_PER_DAY,
                ));
        let item = |kind, score, reasons, before, now| DriftItem {
            kind,
            client: k.client,
            server: k.server,
            port: k.port,
            proto: k.proto,
            score,
            reasons,
            first_seen: date((first_seen / NANOS_PER_DAY) as i32),
            last_seen: date((last_seen / NANOS_PER_DAY) as i32),
            before,
            now,
        };
        if first >= cut {
            let mut score = 1;
            let mut reasons = vec![format!("first seen {} (after the baseline)", date(first))];
            if crate::is_external(k.server) {
                score += 3;
                reasons.push(format!("{} is an external destination", k.server));
            }
            if known_hosts.contains(&k.server)
                && !known_ports.contains(&(k.server, k.port, k.proto))
            {
                score += 2;
                reasons.push(format!(
                    "{} is a known host, but port {} is new",
                    k.server, k.port
                ));
            }
            let hours: u32 = days.iter().fold(0, |acc, d| acc | d.hours);
            if let Some(&usual) = client_hours.get(&k.client) {
                let odd = hours & !usual;
                if odd != 0 {
                    score += 1;
                    let h = odd.trailing_zeros();
                    reasons.push(format!(
                        "active at {h:02}:00 UTC, an hour {} was never active in the baseline",
                        k.client
                    ));
                }
            }
            out.push(item("new", score, reasons, None, None));
            continue;
        }
        let all = classify(days, end, &cfg);
        let base_days: Vec<DayActivity> = days.iter().copied().filter(|d| d.day < cut).collect();
        let before = classify(&base_days, cut - 1, &cfg);
        if all.pattern == Pattern::Stopped {
            let was = all.was.unwrap_or(Pattern::Irregular);
            out.push(item(
                "stopped",
                0,
                vec![format!(
                    "last seen {}; it was {} and has missed its expected occurrences since",
                    date(last),
                    was.name()
                )],
                Some(was),
                Some(all.pattern),
            ));
        } else if all.pattern != before.pattern
            && before.active_days >= 2
            && !matches!(before.pattern, Pattern::OneOff | Pattern::Stopped)
        {
            out.push(item(
                "pattern-changed",
                0,
                vec![format!(
                    "was {} in the baseline, {} with the recent days",
                    before.pattern.name(),
                    all.pattern.name()
                )],
                Some(before.pattern),
                Some(all.pattern),
            ));
        }
    }
    out.sort_by(|a, b| {
        (
            a.kind,
            std::cmp::Reverse(a.score),
            a.client,
            a.server,
            a.port,
        )
            .cmp(&(
                b.kind,
                std::cmp::Reverse(b.score),
                b.client,
                b.server,
                b.port,
            ))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::days_from_civil;

    fn key(c: &str, s: &str, port: u16) -> EdgeKey {
        EdgeKey {
            client: c.parse().unwrap(),
            server: s.parse().unwrap(),
            port,
            proto: 6,
        }
    }

    fn act(k: EdgeKey, day: i32, hour: u32) -> (EdgeKey, DayActivity) {
        (
            k,
            DayActivity {
                day,
                hours: 1 << hour,
                connections: 1,
                packets: 2,
                bytes: 100,
            },
        )
    }

    #[test]
    fn fourteen_days_warn_about_monthly_edges_and_list_gaps() {
        let s = days_from_civil(2026, 10, 1);
        let k = key("10.0.0.1", "10.0.0.2", 443);
        let a: Vec<_> = (0..14)
            .filter(|d| *d != 5 && *d != 6)
            .map(|d| act(k, s + d, 9))
            .collect();
        let c = coverage(&a);
        assert_eq!(c.span_days, 14);
        assert!(!c.full_cycle);
        assert!(c.warnings[0].contains("monthly cannot have been seen"));
        assert_eq!(
            c.gaps,
            vec![Gap {
                from: "2026-10-06".into(),
                to: "2026-10-07".into(),
                days: 2
            }]
        );
        let full: Vec<_> = (0..35).map(|d| act(k, s + d, 9)).collect();
        let c = coverage(&full);
        assert!(c.full_cycle && c.warnings.is_empty());
    }

    #[test]
    fn chao1_from_clients_seen_once() {
        let s = 20_000;
        let mut a = Vec::new();
        for c in 1..=4 {
            let k = key(&format!("10.0.0.{c}"), "10.0.1.1", 22);
            let days = if c <= 2 { 1 } else { 2 };
            for d in 0..days {
                a.push(act(k, s + d, 3));
            }
        }
        let c = coverage(&a);
        let svc = &c.services[0];
        assert_eq!(
            (svc.clients_seen, svc.seen_one_day, svc.seen_two_days),
            (4, 2, 2)
        );
        assert_eq!(svc.estimated_clients, 5.0); // 4 + 2^2 / (2 * 2)
        assert_eq!(svc.unseen_probability, 0.333); // 2 of 6 client-days
    }

    #[test]
    fn drift_flags_new_and_stopped_edges() {
        let s = days_from_civil(2026, 10, 1);
        let steady = key("10.0.0.1", "10.0.0.2", 443);
        let old = key("10.0.0.1", "10.0.0.3", 21);
        let new_ext = key("10.0.0.1", "198.51.100.7", 443);
        let mut a: Vec<_> = (0..40).map(|d| act(steady, s + d, 9)).collect();
        a.extend((0..20).map(|d| act(old, s + d, 9)));
        a.push(act(new_ext, s + 38, 3));
        let d = drift(&[], &a, 7);
        let kinds: Vec<(&str, u16)> = d.iter().map(|i| (i.kind, i.port)).collect();
        assert_eq!(kinds, vec![("new", 443), ("stopped", 21)]);
        assert_eq!(d[0].server.to_string(), "198.51.100.7");
        assert!(d[0].score >= 5, "external + odd hour: {:?}", d[0].reasons);
    }
}
