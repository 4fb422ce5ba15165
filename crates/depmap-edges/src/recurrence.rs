//! When an edge is active: its recurrence pattern, the evidence for it, and
//! when it is next expected.
//!
//! Classification uses only the edge's per-day activity ([`DayActivity`]:
//! which UTC hours of which days) and the span of the data, never the wall
//! clock, so a capture replayed months later classifies as it did live. The
//! rules, in order (also in `docs/BASELINE.md`):
//!
//! | pattern | rule |
//! |---|---|
//! | `one-off` | active on a single day |
//! | `monthly` | two or more active days, at least 80% on the same day of the month (or on month-ends), at least 25 days apart |
//! | `weekly` | two or more active days, at least 80% on the same weekday, at least 6 days apart |
//! | `continuous` | active on at least 80% of the days in its span, at least 12 hours a day on average |
//! | `business-hours` | at least 90% of active days are Monday-Friday, covering at least 60% of the weekdays in its span, and at least 90% of active hours fall in 06:00-19:59 |
//! | `daily` | active on at least 70% of the days in its span, at most 4 hours a day on average, with one hour present on at least 70% of active days |
//! | `irregular` | anything else |
//!
//! An edge whose next expected occurrence (plus a grace period) lies before
//! the end of the data is `stopped`; the pattern it had is kept in
//! [`Recurrence::was`].

use serde::{Deserialize, Serialize};

use crate::calendar::{civil, days_from_civil, is_last_day_of_month, month_len, weekday};
use crate::model::{DayActivity, NANOS_PER_DAY, NANOS_PER_HOUR};

/// A recurrence pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// Active most hours of most days.
    Continuous,
    /// Active on weekdays in working hours.
    BusinessHours,
    /// Active every day, at about the same hour.
    Daily,
    /// Active on one weekday each week.
    Weekly,
    /// Active on one day of each month.
    Monthly,
    /// Seen on one day only.
    OneOff,
    /// Had a pattern and missed its expected occurrences before the data ends.
    Stopped,
    /// Active, but in no recognised pattern.
    Irregular,
}

impl Pattern {
    /// The export name (`continuous`, `business-hours`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Continuous => "continuous",
            Pattern::BusinessHours => "business-hours",
            Pattern::Daily => "daily",
            Pattern::Weekly => "weekly",
            Pattern::Monthly => "monthly",
            Pattern::OneOff => "one-off",
            Pattern::Stopped => "stopped",
            Pattern::Irregular => "irregular",
        }
    }

    /// Whether the pattern recurs at a known period (daily, weekly, monthly).
    pub fn is_periodic(self) -> bool {
        matches!(self, Pattern::Daily | Pattern::Weekly | Pattern::Monthly)
    }
}

/// Day of the month a monthly edge recurs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MonthDay {
    /// This day of the month (1-31; clamped to short months).
    Day(u32),
    /// The last day of the month.
    Last,
}

/// What depmap concluded about when an edge is active.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recurrence {
    /// The pattern.
    pub pattern: Pattern,
    /// For `stopped`: the pattern the edge had before it stopped.
    pub was: Option<Pattern>,
    /// Typical hour (UTC) for daily, weekly and monthly edges.
    pub hour: Option<u32>,
    /// Weekday (0 = Monday) for weekly edges.
    pub weekday: Option<u32>,
    /// Day of the month for monthly edges.
    pub day_of_month: Option<MonthDay>,
    /// Days the edge was active.
    pub active_days: u32,
    /// Occurrences seen in its span (active days that fit the pattern).
    pub occurrences_seen: u32,
    /// Occurrences the pattern predicts between its first and last day.
    pub occurrences_expected: u32,
    /// Next expected occurrence after the end of the data (ns), for
    /// periodic edges that have not stopped.
    pub next_expected: Option<i64>,
    /// Last active day (days since the epoch).
    pub last_day: i32,
}

/// Tunables.
#[derive(Clone, Copy, Debug)]
pub struct RecurrenceConfig {
    /// Edges without a period (continuous, business-hours, irregular) are
    /// `stopped` when unseen for more than this many days before the data ends.
    pub stop_after_days: i32,
}

impl Default for RecurrenceConfig {
    fn default() -> Self {
        RecurrenceConfig { stop_after_days: 7 }
    }
}

fn most_common_hour(days: &[DayActivity]) -> (u32, u32) {
    let mut hist = [0u32; 24];
    for d in days {
        for (h, slot) in hist.iter_mut().enumerate() {
            if d.hours & (1 << h) != 0 {
                *slot += 1;
            }
        }
    }
    let (h, n) = hist
        .iter()
        .enumerate()
        .max_by_key(|(h, n)| (**n, std::cmp::Reverse(*h)))
        .map(|(h, n)| (h as u32, *n))
        .unwrap_or((0, 0));
    (h, n)
}

fn at_hour(day: i32, hour: u32) -> i64 {
    i64::from(day) * NANOS_PER_DAY + i64::from(hour) * NANOS_PER_HOUR
}

/// The first day strictly after `after` that is `dom` of its month.
fn next_month_day(after: i32, dom: MonthDay) -> i32 {
    let (mut y, mut m, _) = civil(after);
    for _ in 0..24 {
        let len = month_len(y, m);
        let d = match dom {
            MonthDay::Day(d) => d.min(len),
            MonthDay::Last => len,
        };
        let day = days_from_civil(y, m, d);
        if day > after {
            return day;
        }
        if m == 12 {
            y += 1;
            m = 1;
        } else {
            m += 1;
        }
    }
    after + 31
}

/// Classifies one edge. `days` is its activity sorted by day (empty
/// activity gives `irregular` with no evidence); `data_end` is the last day
/// for which the store has data from any edge.
pub fn classify(days: &[DayActivity], data_end: i32, cfg: &RecurrenceConfig) -> Recurrence {
    let n = days.len() as u32;
    let mut r = Recurrence {
        pattern: Pattern::Irregular,
        was: None,
        hour: None,
        weekday: None,
        day_of_month: None,
        active_days: n,
        occurrences_seen: n,
        occurrences_expected: n,
        next_expected: None,
        last_day: days.last().map_or(0, |d| d.day),
    };
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return r;
    };
    let (first, last) = (first.day, last.day);
    let span = (last - first + 1) as u32;
    let (hour, hour_days) = most_common_hour(days);
    let total_hours: u32 = days.iter().map(|d| d.hours.count_ones()).sum();
    let avg_hours = total_hours as f64 / n as f64;
    let min_gap = days
        .windows(2)
        .map(|w| w[1].day - w[0].day)
        .min()
        .unwrap_or(0);

    if n == 1 {
        r.pattern = Pattern::OneOff;
        r.hour = Some(hour);
        r.occurrences_expected = 1;
        return r;
    }

    // Monthly: the same day of the month, or month-ends.
    let mut dom_hist = [0u32; 32];
    let mut month_ends = 0;
    for d in days {
        dom_hist[civil(d.day).2 as usize] += 1;
        month_ends += u32::from(is_last_day_of_month(d.day));
    }
    let (dom, dom_n) = dom_hist
        .iter()
        .enumerate()
        .max_by_key(|(d, c)| (**c, std::cmp::Reverse(*d)))
        .map(|(d, c)| (d as u32, *c))
        .unwrap_or((1, 0));
    if min_gap >= 25 && (dom_n as f64 >= 0.8 * n as f64 || month_ends as f64 >= 0.8 * n as f64) {
        let md = if month_ends > dom_n {
            MonthDay::Last
        } else {
            MonthDay::Day(dom)
        };
        let (fy, fm, _) = civil(first);
        let (ly, lm, _) = civil(last);
        r.pattern = Pattern::Monthly;
        r.hour = Some(hour);
        r.day_of_month = Some(md);
        r.occurrences_seen = if md == MonthDay::Last {
            month_ends
        } else {
            dom_n
        };
        r.occurrences_expected = ((ly - fy) * 12 + lm as i32 - fm as i32 + 1) as u32;
        let next = next_month_day(data_end.max(last), md);
        let missed = next_month_day(last, md);
        return finish(r, missed + 2 < data_end, next, hour);
    }

    // Weekly: the same weekday.
    let mut wd_hist = [0u32; 7];
    for d in days {
        wd_hist[weekday(d.day) as usize] += 1;
    }
    let (wd, wd_n) = wd_hist
        .iter()
        .enumerate()
        .max_by_key(|(w, c)| (**c, std::cmp::Reverse(*w)))
        .map(|(w, c)| (w as u32, *c))
        .unwrap_or((0, 0));
    if min_gap >= 6 && wd_n as f64 >= 0.8 * n as f64 {
        r.pattern = Pattern::Weekly;
        r.hour = Some(hour);
        r.weekday = Some(wd);
        r.occurrences_seen = wd_n;
        r.occurrences_expected = (last - first) as u32 / 7 + 1;
        let after = data_end.max(last);
        let next = after + 1 + ((wd as i32 - weekday(after + 1) as i32).rem_euclid(7));
        return finish(r, last + 7 + 1 < data_end, next, hour);
    }

    let coverage = n as f64 / span as f64;
    if coverage >= 0.8 && avg_hours >= 12.0 {
        r.pattern = Pattern::Continuous;
        r.occurrences_expected = span;
        let stopped = data_end - last > cfg.stop_after_days;
        return finish_unperiodic(r, stopped);
    }

    let weekdays_active = days.iter().filter(|d| weekday(d.day) < 5).count() as u32;
    let weekdays_in_span = (first..=last).filter(|&d| weekday(d) < 5).count() as u32;
    let business_bits: u32 = days
        .iter()
        .map(|d| (d.hours & 0x000f_ffc0).count_ones()) // 06:00-19:59
        .sum();
    if weekdays_active as f64 >= 0.9 * n as f64
        && weekdays_active as f64 >= 0.6 * weekdays_in_span as f64
        && business_bits as f64 >= 0.9 * total_hours as f64
    {
        r.pattern = Pattern::BusinessHours;
        r.hour = Some(hour);
        r.occurrences_seen = weekdays_active;
        r.occurrences_expected = weekdays_in_span;
        let stopped = data_end - last > cfg.stop_after_days;
        return finish_unperiodic(r, stopped);
    }

    if coverage >= 0.7 && avg_hours <= 4.0 && hour_days as f64 >= 0.7 * n as f64 {
        r.pattern = Pattern::Daily;
        r.hour = Some(hour);
        r.occurrences_seen = hour_days;
        r.occurrences_expected = span;
        let next = data_end.max(last) + 1;
        return finish(r, last + 2 < data_end, next, hour);
    }

    let stopped = data_end - last > cfg.stop_after_days;
    finish_unperiodic(r, stopped)
}

fn finish(mut r: Recurrence, stopped: bool, next_day: i32, hour: u32) -> Recurrence {
    if stopped {
        r.was = Some(r.pattern);
        r.pattern = Pattern::Stopped;
    } else {
        r.next_expected = Some(at_hour(next_day, hour));
    }
    r
}

fn finish_unperiodic(mut r: Recurrence, stopped: bool) -> Recurrence {
    if stopped {
        r.was = Some(r.pattern);
        r.pattern = Pattern::Stopped;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: i32, hours: &[u32]) -> DayActivity {
        DayActivity {
            day: d,
            hours: hours.iter().fold(0, |acc, h| acc | (1 << h)),
            connections: 1,
            packets: 1,
            bytes: 1,
        }
    }

    /// 2026-10-01 (a Thursday) as days since the epoch.
    fn oct1() -> i32 {
        days_from_civil(2026, 10, 1)
    }

    #[test]
    fn monthly_on_the_first_with_next_date() {
        let s = oct1();
        let days = vec![day(s, &[6]), day(days_from_civil(2026, 11, 1), &[6])];
        let end = s + 44;
        let r = classify(&days, end, &RecurrenceConfig::default());
        assert_eq!(r.pattern, Pattern::Monthly);
        assert_eq!(r.day_of_month, Some(MonthDay::Day(1)));
        assert_eq!(r.hour, Some(6));
        assert_eq!((r.occurrences_seen, r.occurrences_expected), (2, 2));
        assert_eq!(
            r.next_expected,
            Some(at_hour(days_from_civil(2026, 12, 1), 6))
        );
    }

    #[test]
    fn month_end() {
        let days = vec![
            day(days_from_civil(2026, 9, 30), &[23]),
            day(days_from_civil(2026, 10, 31), &[23]),
        ];
        let r = classify(&days, days_from_civil(2026, 11, 10), &Default::default());
        assert_eq!(r.day_of_month, Some(MonthDay::Last));
        assert_eq!(
            r.next_expected,
            Some(at_hour(days_from_civil(2026, 11, 30), 23))
        );
    }

    #[test]
    fn weekly_daily_continuous_business_one_off_stopped() {
        let s = oct1();
        let end = s + 44;
        let cfg = RecurrenceConfig::default();
        // Every Monday 07:00.
        let weekly: Vec<_> = (0..45)
            .map(|i| s + i)
            .filter(|&d| weekday(d) == 0)
            .map(|d| day(d, &[7]))
            .collect();
        let r = classify(&weekly, end, &cfg);
        assert_eq!(
            (r.pattern, r.weekday, r.hour),
            (Pattern::Weekly, Some(0), Some(7))
        );
        let next = r.next_expected.unwrap();
        assert_eq!(weekday((next / NANOS_PER_DAY) as i32), 0);
        assert!(next > i64::from(end) * NANOS_PER_DAY);

        // Every day at 02:00.
        let daily: Vec<_> = (0..45).map(|i| day(s + i, &[2])).collect();
        let r = classify(&daily, end, &cfg);
        assert_eq!((r.pattern, r.hour), (Pattern::Daily, Some(2)));
        assert_eq!(r.next_expected, Some(at_hour(end + 1, 2)));

        // All hours, all days.
        let all: Vec<u32> = (0..24).collect();
        let cont: Vec<_> = (0..45).map(|i| day(s + i, &all)).collect();
        assert_eq!(classify(&cont, end, &cfg).pattern, Pattern::Continuous);

        // Weekdays 08-17.
        let work: Vec<u32> = (8..18).collect();
        let biz: Vec<_> = (0..45)
            .map(|i| s + i)
            .filter(|&d| weekday(d) < 5)
            .map(|d| day(d, &work))
            .collect();
        assert_eq!(classify(&biz, end, &cfg).pattern, Pattern::BusinessHours);

        // Once.
        let r = classify(&[day(s + 10, &[13])], end, &cfg);
        assert_eq!(r.pattern, Pattern::OneOff);

        // Continuous for 20 days, then nothing for 25.
        let stopped: Vec<_> = (0..20).map(|i| day(s + i, &all)).collect();
        let r = classify(&stopped, end, &cfg);
        assert_eq!(
            (r.pattern, r.was),
            (Pattern::Stopped, Some(Pattern::Continuous))
        );
        assert_eq!(r.next_expected, None);

        // A daily job that missed its last 10 days stopped too.
        let r = classify(&daily[..35], end, &cfg);
        assert_eq!((r.pattern, r.was), (Pattern::Stopped, Some(Pattern::Daily)));
    }

    #[test]
    fn a_monthly_edge_twenty_days_after_its_last_run_has_not_stopped() {
        let s = oct1();
        let days = vec![day(s, &[6]), day(days_from_civil(2026, 11, 1), &[6])];
        let end = days_from_civil(2026, 11, 21);
        assert_eq!(
            classify(&days, end, &Default::default()).pattern,
            Pattern::Monthly
        );
    }
}
