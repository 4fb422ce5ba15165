//! `depmap prune`: retention of per-day activity.

use std::process::ExitCode;

use depmap_edges::baseline::date;
use depmap_store::{MapStore, Retention, Store};

use crate::cli::PruneArgs;

pub(crate) fn run(args: PruneArgs) -> anyhow::Result<ExitCode> {
    let keep = args.keep;
    let mut store = Store::open_existing(&args.db.db)?;
    let before = store.activity_row_count()?;
    let Some(Retention {
        last,
        first_kept,
        deleted,
    }) = store.keep_days(keep)?
    else {
        outln!(
            "{}: no per-day activity stored; nothing to prune",
            args.db.db.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    };
    if args.vacuum {
        store.vacuum()?;
    }
    outln!(
        "{}: kept per-day activity from {} to {} ({keep} days, counted back from the last day \
         with data); deleted {deleted} of {before} day rows; edges keep their totals{}",
        args.db.db.display(),
        date(first_kept),
        date(last),
        if args.vacuum { "; file compacted" } else { "" }
    )?;
    Ok(ExitCode::SUCCESS)
}
