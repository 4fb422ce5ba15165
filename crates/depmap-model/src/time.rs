//! [`Timestamp`] and [`Day`]: time at the crates' boundaries, and its
//! RFC 3339 text.
//!
//! Inside the per-packet path (`depmap-edges`' flow table, the capture
//! readers) time stays a bare `i64` of nanoseconds on purpose: it is
//! compared and subtracted millions of times a second and stored in
//! packed structs. These newtypes are for the places where a time crosses
//! from one part of the program to another (drafts, exceptions, the store's
//! API, the CLI), where a bare number in one of three units is a bug
//! waiting to happen.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds in a day.
pub const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// An instant: nanoseconds since the Unix epoch (UTC, no leap seconds).
///
/// `i64` nanoseconds span the years 1677 to 2262. The text form
/// ([`Display`](fmt::Display), [`Timestamp::to_rfc3339`]) is RFC 3339 in
/// UTC with microseconds, `2026-11-01T12:00:00.000000Z`, as every export
/// and draft writes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

/// A UTC calendar day: days since 1970-01-01 (negative before).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Day(pub i32);

/// A text that is not an RFC 3339 time depmap can hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampError {
    /// The text.
    pub text: String,
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an RFC 3339 time from 1970 to 2262, such as 2026-11-01T12:00:00Z",
            self.text
        )
    }
}

impl std::error::Error for TimestampError {}

impl Timestamp {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// The instant `ns` nanoseconds after the epoch.
    pub const fn from_nanos(ns: i64) -> Timestamp {
        Timestamp(ns)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// A clock reading; times before the epoch are the epoch, times past
    /// 2262 are the last representable instant.
    pub fn from_system_time(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            Err(_) => Timestamp::EPOCH,
        }
    }

    /// As a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_nanos(self.0.unsigned_abs())
        } else {
            UNIX_EPOCH
                .checked_sub(Duration::from_nanos(self.0.unsigned_abs()))
                .unwrap_or(UNIX_EPOCH)
        }
    }

    /// The UTC day this instant falls on.
    pub const fn day(self) -> Day {
        Day(self.0.div_euclid(NANOS_PER_DAY) as i32)
    }

    /// RFC 3339 in UTC with microseconds (`2026-11-01T12:00:00.000000Z`);
    /// instants before the epoch are written as the epoch, after the year
    /// 9999 as its last second.
    pub fn to_rfc3339(self) -> String {
        // humantime formats 1970..=9999 only (and panics before 1970).
        let max = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        let t = self.to_system_time().clamp(UNIX_EPOCH, max);
        humantime::format_rfc3339_micros(t).to_string()
    }

    /// Reads an RFC 3339 time (`2026-11-01T12:00:00Z`, with or without
    /// fractions; `T` or a space; UTC). Times before the epoch or past the
    /// year 2262 are refused.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampError> {
        let err = || TimestampError {
            text: text.to_string(),
        };
        let t = humantime::parse_rfc3339_weak(text).map_err(|_| err())?;
        let ns = t.duration_since(UNIX_EPOCH).map_err(|_| err())?.as_nanos();
        i64::try_from(ns).map(Timestamp).map_err(|_| err())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl From<Day> for Timestamp {
    /// The day's first instant (midnight UTC).
    fn from(d: Day) -> Timestamp {
        d.start()
    }
}

impl Day {
    /// The day's first instant (midnight UTC).
    pub const fn start(self) -> Timestamp {
        Timestamp(self.0 as i64 * NANOS_PER_DAY)
    }
}

impl From<Timestamp> for Day {
    fn from(t: Timestamp) -> Day {
        t.day()
    }
}

/// A duration as a whole number of days, at least one (`35d`, `5w`);
/// `None` when it is shorter than a day, not whole days, or too long.
/// Per-day activity is kept, compared and pruned in whole days.
pub fn whole_days(d: Duration) -> Option<i32> {
    let secs = d.as_secs();
    if secs < 86_400 || !secs.is_multiple_of(86_400) || d.subsec_nanos() != 0 {
        return None;
    }
    i32::try_from(secs / 86_400).ok()
}

/// Formats ns since the epoch as RFC 3339 UTC with microseconds: the
/// exports' time format ([`Timestamp::to_rfc3339`] for a bare `i64`).
pub fn rfc3339(ns: i64) -> String {
    Timestamp(ns).to_rfc3339()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rfc3339_writes_microseconds_and_clamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(1_795_000_000_123_456_789),
            "2026-11-18T11:06:40.123456Z"
        );
        assert_eq!(rfc3339(-1_000_000_000), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(i64::MAX), "2262-04-11T23:47:16.854775Z");
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn rfc3339_reads_back() {
        let t = Timestamp(1_795_000_000_123_456_000);
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Ok(t));
        assert_eq!(
            Timestamp::parse_rfc3339("2099-01-01T00:00:00Z")
                .unwrap()
                .day(),
            Day(47_117)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("1970-01-02 00:00:00Z"),
            Ok(Timestamp(NANOS_PER_DAY))
        );
        for bad in ["", "2026-13-01T00:00:00Z", "1969-12-31T23:59:59Z", "soon"] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn days_round_down_and_start_at_midnight() {
        assert_eq!(Timestamp(0).day(), Day(0));
        assert_eq!(Timestamp(NANOS_PER_DAY - 1).day(), Day(0));
        assert_eq!(Timestamp(NANOS_PER_DAY).day(), Day(1));
        assert_eq!(Timestamp(-1).day(), Day(-1));
        assert_eq!(Day(3).start(), Timestamp(3 * NANOS_PER_DAY));
        assert_eq!(Day::from(Timestamp::from(Day(-2))), Day(-2));
        let now = SystemTime::now();
        let t = Timestamp::from_system_time(now);
        assert_eq!(Timestamp::from_system_time(t.to_system_time()), t);
        assert_eq!(
            Timestamp::from_system_time(UNIX_EPOCH - Duration::from_secs(1)),
            Timestamp::EPOCH
        );
    }
}
