//! Flow exports as a source of edges: `depmap ingest --flows` (export
//! datagrams inside capture files) and `depmap collect` (UDP listeners).
//! Both run `depmap_ingest`'s flow pipeline; `collect` is the agent's
//! driver with listeners only. See `docs/FLOWS.md`.

use std::process::ExitCode;

use anyhow::Context;
use depmap_capture::{AllowList, FileFormat, ListenerConfig};
use depmap_edges::flowrec::RecordCounters;
use depmap_flows::{DecoderCounters, FlowError, Format};
use depmap_ingest::{Driver, Listener, Outcome, Settings, SourceStats};
use depmap_store::{MapStore, Store, UpsertSummary};

use crate::cli::{CollectArgs, IngestArgs};
use crate::ingest::nonzero;

/// `depmap ingest --flows FILE...`.
pub(crate) fn ingest(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let clock = crate::clock::fixed()?;
    let mut store = Store::open(&args.db.db)?;
    let mut failures = 0usize;
    for path in &args.files {
        let partial = match depmap_ingest::ingest_flows_file(&mut store, path, args.force, &*clock)
        {
            Ok(Outcome::Done(r)) => {
                print_file(path, &r, false)?;
                None
            }
            Ok(Outcome::Partial(r, e)) => {
                print_file(path, &r, true)?;
                Some(anyhow::anyhow!(
                    "{e}; the edges of the {} flow records before it were stored",
                    r.records.records
                ))
            }
            Ok(Outcome::Repeat(r)) => Some(anyhow::anyhow!("{r}")),
            Err(e) => Some(e.into()),
        };
        if let Some(err) = partial {
            eprintln!("depmap: error: {err:#}");
            failures += 1;
        }
    }
    outln!(
        "store {}: {} edges in all",
        store.path().display(),
        store.edge_count()?
    )?;
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_file(
    path: &std::path::Path,
    r: &depmap_ingest::FlowsReport,
    partial: bool,
) -> std::io::Result<()> {
    let kind = match r.format {
        FileFormat::PcapNg => "pcapng",
        _ => "pcap",
    };
    outln!(
        "{} flow exports from {} ({kind}, {:.1} MB): {} frames, {} export datagrams, {} flow records, in {:.2} s",
        if partial { "partly ingested" } else { "ingested" },
        path.display(),
        r.size as f64 / 1e6,
        r.capture.frames,
        r.capture.exports,
        r.records.records,
        r.seconds
    )?;
    outln!(
        "  skipped: {} frames not UDP, {} UDP datagrams not flow exports, {} later IP fragments",
        r.capture.not_udp,
        r.capture.not_export,
        r.capture.fragments
    )?;
    print_counters(&r.decoder, 0, &r.records)?;
    print_edges(r.edges, r.sampled, &r.upsert)?;
    Ok(())
}

fn print_counters(
    dc: &DecoderCounters,
    still_waiting: usize,
    ac: &RecordCounters,
) -> std::io::Result<()> {
    outln!(
        "  datagrams by format: {}",
        nonzero(Format::ALL.iter().map(|f| (f.name(), dc.datagrams_of(*f))))
    )?;
    outln!(
        "  malformed datagrams (skipped): {}",
        nonzero(FlowError::NAMES.iter().copied().zip(dc.malformed))
    )?;
    outln!(
        "  templates: {} received, {} scopes; data sets before their template: {} ({} decoded later with {} records, {} never decodable{})",
        dc.templates_received,
        dc.scopes_created,
        dc.sets_without_template,
        dc.pending_decoded,
        dc.pending_records,
        dc.undecodable_sets(),
        if still_waiting > 0 {
            format!(", {still_waiting} still waiting")
        } else {
            String::new()
        }
    )?;
    let named = dc.named();
    let other = [
        "scopes_evicted",
        "templates_evicted",
        "records_without_addresses",
        "records_unknown_sampler",
        "samplers_not_remembered",
        "sflow_flow_samples",
        "sflow_counter_samples",
        "sflow_other_samples",
        "sflow_unsupported_headers",
        "sflow_non_ip",
        "sflow_undecodable_headers",
    ];
    outln!(
        "  decoder: {}",
        nonzero(
            named
                .iter()
                .filter(|(k, _)| other.contains(&k.as_str()))
                .map(|(k, n)| (k.as_str(), *n))
        )
    )?;
    outln!(
        "  records: {} ({} biflow, {} sampled); conversations: {} ({} pairs, {} unpaired, {} released at the pairing bound); client from: hint {}, SYN {}, port rule {}",
        ac.records,
        ac.biflow_records,
        ac.sampled_records,
        ac.conversations,
        ac.pairs,
        ac.unpaired,
        ac.pairing_evicted,
        ac.direction_from_hint,
        ac.direction_from_syn,
        ac.direction_from_rule
    )?;
    Ok(())
}

fn print_edges(edges: usize, sampled: usize, upsert: &UpsertSummary) -> std::io::Result<()> {
    outln!(
        "  edges: {edges} ({} added, {} updated; {sampled} with sampled figures)",
        upsert.added,
        upsert.updated
    )?;
    Ok(())
}

/// `depmap collect`: the agent's driver with flow listeners only.
pub(crate) fn collect(args: CollectArgs) -> anyhow::Result<ExitCode> {
    let flush = args.flush_interval;
    let allow = args.allow_exporter.clone();
    let cfg = ListenerConfig {
        recv_buffer: Some(args.recv_buffer),
        allow: AllowList(allow),
    };
    let clock = crate::clock::running()?;
    let store = Store::open(&args.db.db)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async move {
        let controls = crate::agent::run::stop_on_signals()?;
        let settings = Settings {
            flush_interval: flush,
            max_pending_edges: depmap_ingest::config::DEFAULT_MAX_PENDING_EDGES,
            retention_days: None,
        };
        let path = store.path().to_path_buf();
        let mut driver = Driver::new(
            depmap_edges::FlowConfig::default(),
            settings,
            clock,
            Some(store),
            path.clone(),
        );
        for addr in args.listen {
            let listener = Listener::bind(addr, &cfg)?;
            outln!(
                "listening on {}/udp (receive buffer {} bytes){}",
                listener.local_addr(),
                listener.recv_buffer(),
                if cfg.allow.0.is_empty() {
                    String::new()
                } else {
                    let nets: Vec<String> = cfg.allow.0.iter().map(|c| c.to_string()).collect();
                    format!(", exporters allowed: {}", nets.join(" "))
                }
            )?;
            driver.source(Box::new(listener));
        }
        outln!("store {}", path.display())?;
        // The line above tells scripts and tests that the sockets are bound.
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let summary = driver.run(controls, |_| {}).await?;
        report(&summary)?;
        Ok(if summary.lost_edges > 0 {
            eprintln!(
                "depmap: error: {} edges could not be written to the store",
                summary.lost_edges
            );
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    })
}

fn report(summary: &depmap_ingest::Summary) -> std::io::Result<()> {
    let s = &summary.snapshot;
    outln!("collector stopped")?;
    for src in &s.sources {
        if let SourceStats::Listener { addr, counts: c } = src {
            outln!(
                "  {addr}/udp: {} datagrams ({} bytes), {} from exporters not allowed (dropped), {} receive errors, kernel drops {}",
                c.datagrams,
                c.bytes,
                c.denied,
                c.errors,
                match c.kernel_drops {
                    Some(n) => n.to_string(),
                    None => "unavailable".to_string(),
                }
            )?;
        }
    }
    print_counters(&s.decoder, s.sets_waiting, &s.records)?;
    let f = &s.flush;
    outln!(
        "  store: {} flushes ({} failed), {} edges added, {} updated",
        f.flushes + f.errors,
        f.errors,
        f.added,
        f.updated
    )?;
    Ok(())
}
