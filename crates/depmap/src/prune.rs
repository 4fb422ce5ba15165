//! `depmap prune`: retention of per-day activity.

use std::process::ExitCode;

use anyhow::Context;
use depmap_edges::baseline::date;
use depmap_store::{MapStore, Retention, Store};

use crate::cli::PruneArgs;

/// Parses a whole number of days (at least one) from a humantime duration
/// such as `35d` or `5w`; `flag` names the flag in errors.
pub(crate) fn whole_days(flag: &str, value: &str) -> anyhow::Result<i32> {
    let d = humantime::parse_duration(value).with_context(|| {
        format!("{flag} {value:?} is not a duration; use days such as 35d (or weeks: 5w)")
    })?;
    let secs = d.as_secs();
    if secs < 86_400 || secs % 86_400 != 0 || d.subsec_nanos() != 0 {
        anyhow::bail!(
            "{flag} {value:?} must be a whole number of days, at least 1d: activity is kept per day"
        );
    }
    i32::try_from(secs / 86_400).with_context(|| format!("{flag} {value:?} is too long"))
}

pub(crate) fn run(args: PruneArgs) -> anyhow::Result<ExitCode> {
    let keep = whole_days("--keep", &args.keep)?;
    let mut store = Store::open_existing(&args.db.db)?;
    let before = store.activity_row_count()?;
    let Some(Retention {
        last,
        first_kept,
        deleted,
    }) = store.keep_days(keep)?
    else {
        println!(
            "{}: no per-day activity stored; nothing to prune",
            args.db.db.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    if args.vacuum {
        store.vacuum()?;
    }
    println!(
        "{}: kept per-day activity from {} to {} ({keep} days, counted back from the last day \
         with data); deleted {deleted} of {before} day rows; edges keep their totals{}",
        args.db.db.display(),
        date(first_kept),
        date(last),
        if args.vacuum { "; file compacted" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn whole_days_accepts_days_and_weeks_only() {
        assert_eq!(whole_days("--keep", "35d").unwrap(), 35);
        assert_eq!(whole_days("--keep", "5w").unwrap(), 35);
        assert_eq!(whole_days("--keep", "1day").unwrap(), 1);
        for bad in ["0d", "36h", "1d 1h", "abc", "", "12"] {
            let e = format!("{:#}", whole_days("--keep", bad).err().unwrap());
            assert!(e.starts_with("--keep"), "{bad}: {e}");
        }
    }
}
