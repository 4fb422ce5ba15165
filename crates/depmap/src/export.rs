//! `depmap export`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use depmap_graph::{GroupBy, GroupOptions, GroupedMap, Map, SharedTier};
use depmap_store::Store;

use crate::cli::{ExportArgs, ExportFormat, GroupByArg};

/// What is written: the host map, or a grouped view of it.
pub(crate) enum View<'a> {
    /// One node per host (`depmap.map/v1`).
    Hosts(&'a Map),
    /// Roles and/or a shared tier (`depmap.groupmap/v1`).
    Grouped(GroupedMap<'a>),
}

impl View<'_> {
    /// The JSON export.
    pub(crate) fn to_json(&self) -> String {
        match self {
            View::Hosts(m) => m.to_json(),
            View::Grouped(g) => g.to_json(),
        }
    }

    /// The DOT export.
    pub(crate) fn to_dot(&self) -> String {
        match self {
            View::Hosts(m) => m.to_dot(),
            View::Grouped(g) => g.to_dot(),
        }
    }

    /// "12 hosts, 40 edges" or "9 nodes for 59 hosts, 20 edges".
    fn describe(&self) -> String {
        match self {
            View::Hosts(m) => format!("{} hosts, {} edges", m.host_count(), m.edges().len()),
            View::Grouped(g) => format!("{} nodes, {} edges", g.node_count(), g.edge_count()),
        }
    }
}

/// The grouping the flags ask for, checked against the format and the
/// inventory.
fn group_options(args: &ExportArgs) -> anyhow::Result<GroupOptions> {
    let by = match args.group_by {
        GroupByArg::Host => GroupBy::Host,
        GroupByArg::Role => GroupBy::Role,
    };
    if by == GroupBy::Role && args.inventory.is_none() {
        anyhow::bail!(
            "--group-by role needs --inventory FILE: the roles come from the inventory \
             (docs/INVENTORY.md)"
        );
    }
    if !(0.0..=1.0).contains(&args.shared_fraction) {
        anyhow::bail!(
            "--shared-fraction {} is not a fraction: use a number from 0 to 1 (0.5: services \
             reached by more than half of the client hosts; 1: only DNS, NTP and scrapes)",
            args.shared_fraction
        );
    }
    let options = GroupOptions {
        by,
        shared_tier: args.shared_tier.then(|| SharedTier {
            fraction: args.shared_fraction,
            ..SharedTier::default()
        }),
    };
    if matches!(args.format, ExportFormat::Csv) && options != GroupOptions::default() {
        anyhow::bail!(
            "--group-by role and --shared-tier apply to --format json and dot; the CSV export \
             is one row per host edge"
        );
    }
    Ok(options)
}

pub(crate) fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let options = group_options(&args)?;
    let inventory = match &args.inventory {
        Some(path) => Some(crate::inventory::load(path)?),
        None => None,
    };
    let store = Store::open_existing(&args.db.db)?;
    let mut map = Map::load(&store, args.new_days)?;
    if let Some(inventory) = &inventory {
        map.set_inventory(inventory);
        let with_role = map
            .hosts()
            .filter(|ip| map.host_info(*ip).is_some_and(|h| h.role.is_some()))
            .count();
        eprintln!(
            "inventory: {} entries; {with_role} of {} hosts have a role",
            inventory.entries().len(),
            map.host_count()
        );
    }
    let view = if options == GroupOptions::default() {
        View::Hosts(&map)
    } else {
        View::Grouped(map.group(&options))
    };
    match &args.out {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut w = BufWriter::new(file);
            write(&view, args.format, &mut w)
                .and_then(|_| w.flush())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {} ({})", path.display(), view.describe());
        }
        None => {
            let stdout = io::stdout();
            let mut w = stdout.lock();
            match write(&view, args.format, &mut w).and_then(|_| w.flush()) {
                // A closed pipe (`depmap export | head`) is the reader's choice, not an error.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                other => other.context("cannot write to standard output")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn write(view: &View<'_>, format: ExportFormat, w: &mut impl Write) -> io::Result<()> {
    match (format, view) {
        (ExportFormat::Json, _) => {
            w.write_all(view.to_json().as_bytes())?;
            w.write_all(b"\n")
        }
        (ExportFormat::Dot, _) => w.write_all(view.to_dot().as_bytes()),
        (ExportFormat::Csv, View::Hosts(map)) => map.write_csv(w),
        // group_options refuses CSV for grouped views.
        (ExportFormat::Csv, View::Grouped(_)) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the CSV export has no grouped form",
        )),
    }
}
