//! Civil-calendar arithmetic on UTC days since the Unix epoch, without a
//! date library: the few conversions recurrence needs (Howard Hinnant's
//! `civil_from_days` / `days_from_civil` algorithms).

/// Year, month (1-12) and day of month (1-31) of a day since the epoch.
pub fn civil(days: i32) -> (i32, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

/// Days since the epoch of a civil date.
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i32
}

/// Day of the week: 0 = Monday ... 6 = Sunday.
pub fn weekday(days: i32) -> u32 {
    // 1970-01-01 was a Thursday (3).
    (days as i64 + 3).rem_euclid(7) as u32
}

/// Number of days in a month.
pub fn month_len(y: i32, m: u32) -> u32 {
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    (next - days_from_civil(y, m, 1)) as u32
}

/// Whether the day is the last of its month.
pub fn is_last_day_of_month(days: i32) -> bool {
    civil(days + 1).2 == 1
}

/// English weekday names, Monday first.
pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(weekday(0), 3);
        let d = days_from_civil(2026, 10, 1);
        assert_eq!(civil(d), (2026, 10, 1));
        assert_eq!(WEEKDAYS[weekday(d) as usize], "thursday");
        assert_eq!(month_len(2024, 2), 29);
        assert_eq!(month_len(2026, 2), 28);
        assert!(is_last_day_of_month(days_from_civil(2026, 11, 30)));
        for day in -1000..100_000 {
            let (y, m, dd) = civil(day);
            assert_eq!(days_from_civil(y, m, dd), day);
        }
    }
}
