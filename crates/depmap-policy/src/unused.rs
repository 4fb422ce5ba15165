//! Pruning: which of a draft's rules have carried no traffic for a while.
//!
//! A rule is *unused* when its edge has not been active for at least `days`
//! days before `as_of_day` (the caller picks it: the CLI uses the last day
//! of stored data), **unless** the edge recurs with a period (daily,
//! weekly, monthly) and its next expected occurrence after its last active
//! day, plus [`GRACE_DAYS`], has not passed by `as_of_day`: such a rule is
//! listed as *waiting* instead. The pattern and next occurrence come from the
//! stored per-day activity (`depmap_edges::recurrence`), else from the
//! draft's own evidence. Exception rules are not judged: they expire on
//! their own.

use std::collections::BTreeMap;

use depmap_edges::calendar::civil;
use depmap_edges::recurrence::{classify, RecurrenceConfig};
use depmap_edges::{DayActivity, EdgeKey, NANOS_PER_DAY};
use depmap_model::Proto;
use serde::{Deserialize, Serialize};

use crate::{AllowRule, Evidence, PolicyDraft, Timestamp};

/// Days of grace after a periodic rule's expected occurrence before its
/// absence counts (the same slack `drift` gives a monthly edge).
pub const GRACE_DAYS: i32 = 2;

/// One rule and why it is (or is not yet) unused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnusedRule {
    /// Server address.
    pub server: String,
    /// Server port.
    pub port: u16,
    /// Protocol.
    pub proto: String,
    /// Client address.
    pub client: String,
    /// Last day with traffic (`YYYY-MM-DD`), if any is known.
    pub last_seen: Option<String>,
    /// Days from then to the reference day.
    pub idle_days: i32,
    /// Recurrence pattern of the edge.
    pub pattern: Option<String>,
    /// Next expected occurrence (`YYYY-MM-DD`) for periodic edges.
    pub next_expected: Option<String>,
    /// The reason, in words.
    pub why: String,
}

/// The outcome of [`unused`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnusedReport {
    /// The reference day (`YYYY-MM-DD`).
    pub as_of: String,
    /// The idle threshold in days.
    pub days: i32,
    /// Learned rules checked.
    pub checked: usize,
    /// Exception rules not judged.
    pub exceptions_skipped: usize,
    /// Rules idle at least `days` days and not waiting for an occurrence.
    pub unused: Vec<UnusedRule>,
    /// Rules idle at least `days` days whose next expected occurrence has
    /// not passed yet: not unused.
    pub waiting: Vec<UnusedRule>,
}

fn date(day: i32) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The next expected day of a periodic edge after its last active day:
/// from the stored activity if it shows a period, else from the draft.
fn next_expected(days: &[DayActivity], last: i32, ev: &Evidence) -> (Option<String>, Option<i32>) {
    let stored = (!days.is_empty()).then(|| classify(days, last, &RecurrenceConfig::default()));
    if let Some(r) = &stored {
        if r.pattern.is_periodic() {
            let next = r
                .next_expected
                .map(|ns| ns.div_euclid(NANOS_PER_DAY) as i32);
            return (Some(r.pattern.name().to_string()), next);
        }
    }
    // The stored days show no period (too few of them kept, say): the
    // draft's evidence may, for an occurrence after the last active day.
    let periodic = matches!(ev.pattern.as_deref(), Some("daily" | "weekly" | "monthly"));
    let next = ev.next_expected.map(Timestamp::day);
    match (periodic, next) {
        (true, Some(n)) if n >= last => (ev.pattern.clone(), Some(n)),
        _ => (
            stored
                .map(|r| r.pattern.name().to_string())
                .or_else(|| ev.pattern.clone()),
            None,
        ),
    }
}

/// Lists the draft's learned rules idle for at least `days` days before
/// `as_of_day` (UTC days since the epoch), keeping periodic rules whose next
/// occurrence is still due apart. `activity` is the stored per-day activity
/// (days after `as_of_day` are ignored).
pub fn unused(
    d: &PolicyDraft,
    activity: &[(EdgeKey, DayActivity)],
    days: i32,
    as_of_day: i32,
) -> UnusedReport {
    let mut per_edge: BTreeMap<(String, String, u16, String), Vec<DayActivity>> = BTreeMap::new();
    for (k, a) in activity {
        if a.day > as_of_day {
            continue;
        }
        per_edge
            .entry((
                k.client.to_string(),
                k.server.to_string(),
                k.port,
                Proto(k.proto).to_string(),
            ))
            .or_default()
            .push(*a);
    }
    for v in per_edge.values_mut() {
        v.sort_by_key(|a| a.day);
    }
    let mut report = UnusedReport {
        as_of: date(as_of_day),
        days,
        checked: 0,
        exceptions_skipped: 0,
        unused: Vec::new(),
        waiting: Vec::new(),
    };
    for s in &d.services {
        for r in &s.allow {
            if r.exception.is_some() {
                report.exceptions_skipped += 1;
                continue;
            }
            report.checked += 1;
            let key = (
                r.client.to_string(),
                s.server.to_string(),
                s.port,
                s.proto.to_string(),
            );
            let seen = per_edge.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            judge(
                &mut report,
                &key.1,
                s.port,
                &key.3,
                r,
                seen,
                days,
                as_of_day,
            );
        }
    }
    report
}

#[allow(clippy::too_many_arguments)]
fn judge(
    report: &mut UnusedReport,
    server: &str,
    port: u16,
    proto: &str,
    r: &AllowRule,
    seen: &[DayActivity],
    days: i32,
    as_of_day: i32,
) {
    let last = seen
        .last()
        .map(|a| a.day)
        .or(Some(r.evidence.last_seen.day()));
    let idle = last.map_or(i32::MAX, |l| as_of_day - l);
    if idle < days {
        return;
    }
    let (pattern, next) = match last {
        Some(l) => next_expected(seen, l, &r.evidence),
        None => (r.evidence.pattern.clone(), None),
    };
    let mut item = UnusedRule {
        server: server.to_string(),
        port,
        proto: proto.to_string(),
        client: r.client.to_string(),
        last_seen: last.map(date),
        idle_days: idle,
        pattern: pattern.clone(),
        next_expected: next.map(date),
        why: String::new(),
    };
    let p = pattern.as_deref().unwrap_or("no pattern");
    match next {
        Some(n) if as_of_day <= n + GRACE_DAYS => {
            item.why = format!(
                "idle {idle} days, but {p}: next expected {} has not passed",
                date(n)
            );
            report.waiting.push(item);
        }
        Some(n) => {
            item.why = format!(
                "idle {idle} days ({p}), and missed its expected occurrence on {}",
                date(n)
            );
            report.unused.push(item);
        }
        None => {
            item.why = match last {
                Some(_) => format!("idle {idle} days ({p})"),
                None => "no traffic known".to_string(),
            };
            report.unused.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{draft_window, DraftOptions};
    use depmap_edges::calendar::days_from_civil;

    fn key(client: &str, port: u16) -> EdgeKey {
        EdgeKey {
            client: client.parse().unwrap(),
            server: "10.0.0.9".parse().unwrap(),
            port,
            proto: 6,
        }
    }

    fn on(
        k: EdgeKey,
        days: impl IntoIterator<Item = i32>,
        hours: u32,
    ) -> Vec<(EdgeKey, DayActivity)> {
        days.into_iter()
            .map(|day| {
                (
                    k,
                    DayActivity {
                        day,
                        hours,
                        connections: 3,
                        packets: 30,
                        bytes: 3000,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn periodic_rules_wait_for_their_next_occurrence() {
        let s = days_from_civil(2026, 9, 1);
        let monthly = key("10.0.0.1", 443);
        let cont = key("10.0.0.2", 5432);
        let firsts = [s, days_from_civil(2026, 10, 1)];
        let mut act = on(monthly, firsts, 1 << 6);
        act.extend(on(cont, s..s + 25, 0x00ff_ffff));
        let d = draft_window(&act, None, None, 1, &DraftOptions::default());

        // 20 days after the monthly call, 31 after the other: a 14-day
        // threshold calls the continuous edge unused and the monthly one
        // waiting for 2026-11-01.
        let as_of = days_from_civil(2026, 10, 21);
        let r = unused(&d, &act, 14, as_of);
        assert_eq!(r.checked, 2);
        assert_eq!(r.unused.len(), 1);
        assert_eq!(r.unused[0].client, "10.0.0.2");
        assert_eq!(r.unused[0].pattern.as_deref(), Some("continuous"));
        assert_eq!(r.waiting.len(), 1);
        assert_eq!(r.waiting[0].next_expected.as_deref(), Some("2026-11-01"));

        // Past the 1st plus grace, it missed its occurrence.
        let r = unused(&d, &act, 14, days_from_civil(2026, 11, 4));
        assert_eq!(r.unused.len(), 2, "{r:?}");
        assert!(r.unused.iter().any(|u| u.why.contains("missed")));

        // Nothing idle long enough.
        assert!(unused(&d, &act, 90, as_of).unused.is_empty());
    }
}
