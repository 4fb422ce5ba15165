//! Civil-calendar arithmetic on Unix time, in UTC (the scenarios have no
//! time zones or daylight saving). Howard Hinnant's `days_from_civil` and
//! `civil_from_days` algorithms, valid for every proleptic Gregorian date.

/// Microseconds in a second.
pub const MICROS_PER_SEC: i64 = 1_000_000;
/// Seconds in a day.
pub const SECS_PER_DAY: i64 = 86_400;
/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = SECS_PER_DAY * MICROS_PER_SEC;

/// Days since 1970-01-01 of the given date (`month` 1-12, `day` 1-31).
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The `(year, month, day)` of a day number (days since 1970-01-01).
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// The weekday of a day number: 0 = Monday ... 6 = Sunday
/// (1970-01-01 was a Thursday).
pub const fn weekday(days: i64) -> u32 {
    (days + 3).rem_euclid(7) as u32
}

/// The day number of a timestamp in microseconds.
pub const fn day_of(ts_micros: i64) -> i64 {
    ts_micros.div_euclid(MICROS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        // 2026-10-01T00:00:00Z is 1790812800 (date -u -d 2026-10-01 +%s).
        assert_eq!(days_from_civil(2026, 10, 1) * SECS_PER_DAY, 1_790_812_800);
        assert_eq!(weekday(days_from_civil(2026, 10, 1)), 3); // Thursday
        assert_eq!(weekday(days_from_civil(2026, 10, 5)), 0); // Monday
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        for d in -1000..40_000 {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
