//! Typed flag values. clap parses each duration, number of days, date and
//! network once, through these parsers, so a command receives a `Duration`,
//! a `Day` or a `Cidr` instead of text to parse again; a bad value is a
//! usage error that names the flag and says what would be right.
//!
//! Each parser is made for one flag (`whole_days("--keep", ..)`), so its
//! message can name the flag as the commands' own checks do.

use std::time::Duration;

use depmap_edges::calendar::{days_from_civil, month_len};
use depmap_model::{Cidr, Day};

/// What clap calls with the flag's text.
type Parser<T> = fn(&'static str, &'static str, &str) -> Result<T, String>;

/// A clap value parser for `flag`, from a function of (flag, hint, text).
fn for_flag<T: 'static>(
    flag: &'static str,
    hint: &'static str,
    parse: Parser<T>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |text: &str| parse(flag, hint, text)
}

/// A duration such as `30s`, `10m` or `90d`; `hint` gives examples.
pub(crate) fn duration(
    flag: &'static str,
    hint: &'static str,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    for_flag(flag, hint, |flag, hint, text| {
        humantime::parse_duration(text)
            .map_err(|_| format!("{flag} {text:?} is not a duration; use e.g. {hint}"))
    })
}

/// A duration longer than zero.
pub(crate) fn positive_duration(
    flag: &'static str,
    hint: &'static str,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    for_flag(flag, hint, |flag, hint, text| {
        let d = duration(flag, hint)(text)?;
        if d.is_zero() {
            return Err(format!("{flag} must be longer than zero"));
        }
        Ok(d)
    })
}

/// A flush interval: a duration of at least `MIN_FLUSH_MS` milliseconds
/// (a store transaction per interval; shorter would only add overhead).
pub(crate) fn flush_interval<const MIN_FLUSH_MS: u64>(
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    |text: &str| {
        let d = duration("--flush-interval", "30s or 5m")(text)?;
        if d < Duration::from_millis(MIN_FLUSH_MS) {
            return Err(format!(
                "--flush-interval must be at least {MIN_FLUSH_MS}ms"
            ));
        }
        Ok(d)
    }
}

/// A whole number of days, at least one, written as a duration (`35d`,
/// `5w`); `why` says why only whole days make sense for this flag.
pub(crate) fn whole_days(
    flag: &'static str,
    why: &'static str,
) -> impl Fn(&str) -> Result<i32, String> + Clone + Send + Sync + 'static {
    for_flag(flag, why, |flag, why, text| {
        let d = humantime::parse_duration(text).map_err(|_| {
            format!("{flag} {text:?} is not a duration; use days such as 7d or 35d (or weeks: 5w)")
        })?;
        depmap_model::whole_days(d).ok_or_else(|| {
            format!("{flag} {text:?} must be a whole number of days, at least 1d: {why}")
        })
    })
}

/// A UTC day written `YYYY-MM-DD` (or an RFC 3339 time, whose UTC day
/// counts).
pub(crate) fn date(
    flag: &'static str,
) -> impl Fn(&str) -> Result<Day, String> + Clone + Send + Sync + 'static {
    for_flag(flag, "", |flag, _, text| {
        parse_day(text).ok_or_else(|| {
            format!("{flag} {text:?} is not a date; use YYYY-MM-DD (UTC), e.g. 2026-10-02")
        })
    })
}

fn parse_day(value: &str) -> Option<Day> {
    let date = value.get(..10)?;
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let (y, m, d): (i32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=month_len(y, m)).contains(&d) {
        return None;
    }
    if value.len() > 10 {
        humantime::parse_rfc3339_weak(value).ok()?;
    }
    Some(Day(days_from_civil(y, m, d)))
}

/// A network whose host bits are dropped (`10.1.2.3/8` is `10.0.0.0/8`),
/// as allow-lists take it.
pub(crate) fn masked_network(
    flag: &'static str,
) -> impl Fn(&str) -> Result<Cidr, String> + Clone + Send + Sync + 'static {
    for_flag(flag, "", |flag, _, text| {
        Cidr::parse_masked(text).map_err(|e| format!("{flag} {text:?}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_days_name_the_flag_and_the_reason() {
        let keep = whole_days("--keep", "activity is kept per day");
        assert_eq!(keep("35d"), Ok(35));
        assert_eq!(keep("5w"), Ok(35));
        let err = keep("36h").unwrap_err();
        assert!(
            err.contains("--keep \"36h\" must be a whole number of days"),
            "{err}"
        );
        assert!(err.contains("activity is kept per day"), "{err}");
        assert_eq!(keep("1day"), Ok(1));
        assert!(keep("soon").unwrap_err().contains("is not a duration"));
        for bad in ["0d", "36h", "1d 1h", "abc", "", "12"] {
            let e = keep(bad).unwrap_err();
            assert!(e.starts_with("--keep"), "{bad}: {e}");
        }
    }

    #[test]
    fn dates_are_utc_days_and_bad_ones_say_the_format() {
        let from = date("--from");
        assert_eq!(from("1970-01-02"), Ok(Day(1)));
        assert_eq!(from("2026-10-02T23:59:00Z"), from("2026-10-02"));
        for bad in ["2026-02-30", "2026-13-01", "yesterday", "2026-10-02Tnoon"] {
            let err = from(bad).unwrap_err();
            assert!(
                err.contains("--from") && err.contains("YYYY-MM-DD"),
                "{err}"
            );
        }
    }

    #[test]
    fn durations_and_flush_intervals_check_their_bounds() {
        assert_eq!(
            duration("--duration", "30s or 10m")("10m"),
            Ok(Duration::from_secs(600))
        );
        assert!(positive_duration("--ttl", "2h or 3d")("0s")
            .unwrap_err()
            .contains("--ttl must be longer than zero"));
        assert!(flush_interval::<100>()("50ms")
            .unwrap_err()
            .contains("at least 100ms"));
        assert_eq!(
            flush_interval::<10>()("50ms"),
            Ok(Duration::from_millis(50))
        );
    }

    #[test]
    fn networks_drop_host_bits_and_bad_ones_name_the_flag() {
        let net = masked_network("--allow-exporter");
        assert_eq!(
            net("10.1.2.3/8").map(|c| c.to_string()),
            Ok("10.0.0.0/8".to_string())
        );
        assert!(net("10.0.0.0/33")
            .unwrap_err()
            .starts_with("--allow-exporter \"10.0.0.0/33\""));
    }
}
