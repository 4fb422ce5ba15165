//! `depmap baseline` and `depmap drift`: read the store, run the analyses in
//! depmap-edges, print a table or JSON.

use std::process::ExitCode;

use depmap_edges::baseline::{coverage, drift};
use depmap_model::Proto;
use depmap_store::{MapStore, Store};

use crate::cli::{BaselineArgs, DriftArgs, ReportFormat};

pub(crate) fn baseline(args: BaselineArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&args.db.db)?;
    let c = coverage(&store.activity()?);
    if let ReportFormat::Json = args.format {
        outln!("{}", serde_json::to_string_pretty(&c)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    match (&c.first_day, &c.last_day) {
        (Some(f), Some(l)) => outln!(
            "observed span: {f} to {l} ({} days; {} with data, {} without)",
            c.span_days,
            c.days_with_data,
            c.days_without_data
        )?,
        _ => outln!("observed span: none")?,
    }
    outln!(
        "business cycle: {}",
        if c.full_cycle {
            "covered (30 days or more)"
        } else {
            "NOT covered"
        }
    )?;
    if c.gaps.is_empty() {
        outln!("gaps: none")?;
    } else {
        outln!("gaps (days with no data from any source):")?;
        for g in &c.gaps {
            outln!("  {} to {} ({} days)", g.from, g.to, g.days)?;
        }
    }
    for w in &c.warnings {
        outln!("warning: {w}")?;
    }
    let shown: Vec<_> = c
        .services
        .iter()
        .filter(|s| s.seen_one_day > 0)
        .take(args.top)
        .collect();
    if !shown.is_empty() {
        outln!(
            "services most likely to have clients not seen yet (Chao1 estimate from clients seen on one day):"
        )?;
        outln!(
            "  {:<40} {:>8} {:>9} {:>10} {:>9}",
            "service",
            "clients",
            "one day",
            "estimated",
            "P(unseen)"
        )?;
        for s in shown {
            outln!(
                "  {:<40} {:>8} {:>9} {:>10.1} {:>9.3}",
                format!("{}:{}/{}", s.server, s.port, Proto(s.proto)),
                s.clients_seen,
                s.seen_one_day,
                s.estimated_clients,
                s.unseen_probability
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn drift_cmd(args: DriftArgs) -> anyhow::Result<ExitCode> {
    let days = args.since;
    let store = Store::open_existing(&args.db.db)?;
    let items = drift(&store.edges()?, &store.activity()?, days);
    if let ReportFormat::Json = args.format {
        outln!("{}", serde_json::to_string_pretty(&items)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        outln!("no drift in the last {days} days against the baseline before them")?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<16} {:>5}  {:<42} {:<11} {:<11}  why",
        "change",
        "score",
        "edge",
        "first seen",
        "last seen"
    )?;
    for i in &items {
        outln!(
            "{:<16} {:>5}  {:<42} {:<11} {:<11}  {}",
            i.kind,
            i.score,
            format!("{} -> {}:{}/{}", i.client, i.server, i.port, Proto(i.proto)),
            i.first_seen,
            i.last_seen,
            i.reasons.join("; ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
