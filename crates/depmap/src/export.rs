//! `depmap export`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use depmap_graph::Map;
use depmap_store::Store;

use crate::cli::{ExportArgs, ExportFormat};

pub fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&args.db.db)?;
    let mut map = Map::new(store.edges()?);
    map.annotate(&store.activity()?, &store.names()?, args.new_days);
    match &args.out {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut w = BufWriter::new(file);
            write(&map, args.format, &mut w)
                .and_then(|_| w.flush())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote {} ({} hosts, {} edges)",
                path.display(),
                map.host_count(),
                map.edges().len()
            );
        }
        None => {
            let stdout = io::stdout();
            let mut w = stdout.lock();
            match write(&map, args.format, &mut w).and_then(|_| w.flush()) {
                // A closed pipe (`depmap export | head`) is the reader's choice, not an error.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                other => other.context("cannot write to standard output")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn write(map: &Map, format: ExportFormat, w: &mut impl Write) -> io::Result<()> {
    match format {
        ExportFormat::Json => {
            w.write_all(map.to_json().as_bytes())?;
            w.write_all(b"\n")
        }
        ExportFormat::Dot => w.write_all(map.to_dot().as_bytes()),
        ExportFormat::Csv => map.write_csv(w),
    }
}
