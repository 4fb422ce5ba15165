//! Flow exports as a source of edges: `depmap ingest --flows` (export
//! datagrams inside capture files) and `depmap collect` (UDP listeners).
//!
//! Both run the same pipeline: datagram -> `depmap_flows::FlowDecoder` ->
//! `FlowRecord` -> `depmap_edges::flowrec::RecordAggregator` -> store (edges
//! marked as coming from flows, and as sampled where they are). A capture is
//! decoded as if its datagrams had arrived on the wire: the exporter is the
//! datagram's source address and port, the receive time the packet's
//! timestamp. See `docs/FLOWS.md`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use depmap_capture::udp::{KernelDrops, ListenerStats};
use depmap_capture::{
    AllowList, DatagramBatch, FileFormat, FileReader, ListenerConfig, UdpListener,
};
use depmap_edges::flowrec::{FlowInput, PairingConfig, RecordAggregator, RecordCounters};
use depmap_edges::EdgeKey;
use depmap_flows::{
    detect_format, DecoderCounters, FlowDecoder, FlowDecoderConfig, FlowError, FlowRecord, Format,
};
use depmap_model::Cidr;
use depmap_store::{Batch, NewIngest, Store, UpsertSummary};
use depmap_wire::{decode, ipproto, Decoded, LinkType};

use crate::cli::{DbArg, IngestArgs};

/// The `kind` of ingest records written by `ingest --flows`.
const KIND: &str = "flows";

/// The most datagrams one listener hands over in one batch.
const BATCH_DATAGRAMS: usize = 256;

/// Batches waiting between the listeners and the aggregation loop.
const CHANNEL_BATCHES: usize = 64;

/// `depmap collect` flags.
#[derive(Debug, Args)]
pub struct CollectArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// Address and port to receive NetFlow v5/v9, IPFIX and sFlow v5 on
    /// (UDP; the format is told from each datagram). Repeat for several
    /// sockets, e.g. `--listen 0.0.0.0:2055 --listen 0.0.0.0:6343`.
    /// Port 0 picks a free port, printed at start.
    #[arg(long, required = true, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// Accept datagrams only from exporters in this network (ADDR or
    /// ADDR/PREFIX; repeat for several). Others are dropped and counted.
    /// Without it every source is accepted.
    #[arg(long, value_name = "CIDR")]
    pub allow_exporter: Vec<String>,
    /// Receive buffer to ask the kernel for, per socket, in bytes. Without
    /// root (CAP_NET_ADMIN) Linux caps it at net.core.rmem_max.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
    pub recv_buffer: usize,
    /// How often the edges gathered so far are written to the store (one
    /// transaction each), e.g. 30s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub flush_interval: String,
}

/// Decoder + aggregator: the part shared by captures and listeners.
pub struct Pipeline {
    decoder: FlowDecoder,
    agg: RecordAggregator,
    records: Vec<FlowRecord>,
    /// IP-layer bytes of the records (both directions).
    pub ip_bytes: u64,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            decoder: FlowDecoder::new(FlowDecoderConfig::default()),
            agg: RecordAggregator::new(PairingConfig::default()),
            records: Vec::new(),
            ip_bytes: 0,
        }
    }
}

impl Pipeline {
    /// Decodes one export datagram and aggregates its records. Errors are
    /// counted by the decoder (malformed, by reason).
    pub fn datagram(&mut self, exporter: SocketAddr, payload: &[u8], received_ns: i64) {
        self.records.clear();
        let _ = self
            .decoder
            .decode(exporter, payload, received_ns, &mut self.records);
        for r in &self.records {
            self.ip_bytes += r.bytes + r.reverse_bytes.unwrap_or(0);
            self.agg.add(&FlowInput::from(r));
        }
    }

    /// Gives up on sets still waiting for a template and releases records
    /// still waiting for a partner: the end of the input.
    pub fn finish(&mut self) {
        self.decoder.expire(i64::MAX);
        self.agg.finish();
    }

    /// Takes what is ready for the store: the batch and the sampled edges.
    pub fn take(&mut self) -> (Batch, Vec<EdgeKey>) {
        let edges = self.agg.take_edges_sampled();
        let sampled = edges.iter().filter(|e| e.2).map(|e| e.0).collect();
        let batch = Batch {
            edges: edges.into_iter().map(|(k, s, _)| (k, s)).collect(),
            activity: self.agg.take_activity(),
            ..Batch::default()
        };
        (batch, sampled)
    }

    /// The decoder's counters.
    pub fn decoder(&self) -> DecoderCounters {
        *self.decoder.counters()
    }

    /// Data sets still waiting for their template.
    pub fn pending_sets(&self) -> usize {
        self.decoder.pending_sets()
    }

    /// The aggregator's counters.
    pub fn aggregator(&self) -> RecordCounters {
        self.agg.counters()
    }
}

/// What one capture contributed to the flow pipeline.
#[derive(Debug, Default)]
pub struct CaptureReport {
    pub frames: u64,
    /// UDP datagrams whose payload detected as an export format.
    pub exports: u64,
    /// Frames that were not UDP over IP.
    pub not_udp: u64,
    /// UDP datagrams that are not flow exports (by their header).
    pub not_export: u64,
    /// Non-first fragments of UDP datagrams (not reassembled: skipped).
    pub fragments: u64,
}

/// `depmap ingest --flows FILE...`.
pub fn ingest(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let mut store = Store::open(&args.db.db)?;
    let mut failures = 0usize;
    for path in &args.files {
        if let Err(err) = ingest_file(&mut store, path, args.force) {
            eprintln!("depmap: error: {err:#}");
            failures += 1;
        }
    }
    println!(
        "store {}: {} edges in all",
        store.path().display(),
        store.edge_count()?
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn ingest_file(store: &mut Store, path: &Path, force: bool) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // One read for the frames and the content hash; a repeat is known
    // only after it, and then nothing is stored.
    let (mut reader, hashed) = crate::ingest::open_hashed(path)?;
    let format = reader.format();
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let (report, mut pipe, read) = read_exports(&mut reader);
    let hash = hashed.digest(read.is_ok(), path)?;
    if !force {
        if let Some(prev) = store.find_ingest_of_kind(&hash, KIND)? {
            anyhow::bail!(
                "the flow exports in {} were already ingested into {} (as {}, {} records, {} edges); \
                 ingesting them again would count their traffic twice. Use --force to do it anyway.",
                path.display(),
                store.path().display(),
                prev.ingest.source,
                prev.ingest.packets,
                prev.edges
            );
        }
    }
    let (batch, sampled) = pipe.take();
    let dc = pipe.decoder();
    let ac = pipe.aggregator();
    let ingest = NewIngest {
        content_hash: hash,
        fingerprint: String::new(),
        source: path.display().to_string(),
        kind: KIND.to_string(),
        size_bytes: size,
        ingested_at: now_ns(),
        frames: report.frames,
        packets: ac.records,
        ip_bytes: pipe.ip_bytes,
        malformed: dc.malformed_total(),
        complete: read.is_ok(),
        error: read.as_ref().err().map(|e| e.to_string()),
    };
    let upsert = store
        .commit_flow_ingest(&ingest, &batch, &sampled)
        .with_context(|| format!("storing the edges of {}", path.display()))?;
    let kind = match format {
        FileFormat::PcapNg => "pcapng",
        _ => "pcap",
    };
    println!(
        "{} flow exports from {} ({kind}, {:.1} MB): {} frames, {} export datagrams, {} flow records, in {:.2} s",
        if read.is_ok() { "ingested" } else { "partly ingested" },
        path.display(),
        size as f64 / 1e6,
        report.frames,
        report.exports,
        ac.records,
        started.elapsed().as_secs_f64()
    );
    println!(
        "  skipped: {} frames not UDP, {} UDP datagrams not flow exports, {} later IP fragments",
        report.not_udp, report.not_export, report.fragments
    );
    print_counters(&dc, 0, &ac);
    print_edges(batch.edges.len(), sampled.len(), &upsert);
    if let Err(e) = read {
        return Err(anyhow::anyhow!(
            "{e}; the edges of the {} flow records before it were stored",
            ac.records
        ));
    }
    Ok(())
}

/// Decodes the flow exports inside one capture (UDP datagrams, as if
/// received on the wire) and aggregates their records, with what it
/// counted: the pipeline `ingest --flows` stores and `policy simulate
/// --flows` replays. The read error, if any, comes with what was read before it.
pub fn read_exports<R: std::io::Read + Send>(
    reader: &mut FileReader<R>,
) -> (
    CaptureReport,
    Pipeline,
    Result<depmap_capture::ReadSummary, depmap_capture::CaptureError>,
) {
    let mut report = CaptureReport::default();
    let mut pipe = Pipeline::default();
    let mut last_linktype = u32::MAX;
    let mut link = LinkType::Other(u32::MAX);
    let read = reader.for_each_frame(|frame| {
        report.frames += 1;
        if frame.linktype != last_linktype {
            last_linktype = frame.linktype;
            link = LinkType::from_linktype(frame.linktype);
        }
        let pkt = match decode(link, frame.data, frame.wire_len) {
            Ok(Decoded::Ip(p)) if p.proto == ipproto::UDP => p,
            _ => {
                report.not_udp += 1;
                return;
            }
        };
        if pkt.is_later_fragment() {
            report.fragments += 1;
            return;
        }
        let payload = pkt.app_payload(frame.data);
        if detect_format(payload).is_err() {
            report.not_export += 1;
            return;
        }
        report.exports += 1;
        let exporter = SocketAddr::new(pkt.src, pkt.src_port);
        pipe.datagram(exporter, payload, frame.ts_nanos);
    });
    pipe.finish();
    (report, pipe, read)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// A list of `name value` for the non-zero counters, or `none`.
fn nonzero<'a>(items: impl Iterator<Item = (&'a str, u64)>) -> String {
    let parts: Vec<String> = items
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

fn print_counters(dc: &DecoderCounters, still_waiting: usize, ac: &RecordCounters) {
    println!(
        "  datagrams by format: {}",
        nonzero(Format::ALL.iter().map(|f| (f.name(), dc.datagrams_of(*f))))
    );
    println!(
        "  malformed datagrams (skipped): {}",
        nonzero(FlowError::NAMES.iter().copied().zip(dc.malformed))
    );
    println!(
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
    );
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
    println!(
        "  decoder: {}",
        nonzero(
            named
                .iter()
                .filter(|(k, _)| other.contains(&k.as_str()))
                .map(|(k, n)| (k.as_str(), *n))
        )
    );
    println!(
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
    );
}

fn print_edges(edges: usize, sampled: usize, upsert: &UpsertSummary) {
    println!(
        "  edges: {edges} ({} added, {} updated; {sampled} with sampled figures)",
        upsert.added, upsert.updated
    );
}

/// One listener's report handles, kept by the aggregation loop.
struct ListenerInfo {
    addr: SocketAddr,
    stats: Arc<ListenerStats>,
    /// Kernel drops, read by the listener's task just before it closes its
    /// socket (the count is gone with the socket).
    drops: Option<u64>,
}

fn get(c: &AtomicU64) -> u64 {
    ListenerStats::get(c)
}

/// `depmap collect`.
pub fn collect(args: CollectArgs) -> anyhow::Result<ExitCode> {
    let flush = humantime::parse_duration(&args.flush_interval).with_context(|| {
        format!(
            "--flush-interval {:?}: expected a duration such as 30s or 5m",
            args.flush_interval
        )
    })?;
    if flush < Duration::from_millis(10) {
        anyhow::bail!("--flush-interval must be at least 10ms");
    }
    let mut allow = Vec::new();
    for text in &args.allow_exporter {
        let cidr =
            Cidr::parse_masked(text).with_context(|| format!("--allow-exporter {text:?}"))?;
        allow.push(cidr);
    }
    let cfg = ListenerConfig {
        recv_buffer: Some(args.recv_buffer),
        allow: AllowList(allow),
    };
    let store = Store::open(&args.db.db)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(collect_async(args.listen, cfg, flush, store))
}

async fn collect_async(
    addrs: Vec<SocketAddr>,
    cfg: ListenerConfig,
    flush: Duration,
    store: Store,
) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<DatagramBatch>(CHANNEL_BATCHES);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut infos = Vec::new();
    let mut tasks = Vec::new();
    for addr in addrs {
        let listener = UdpListener::bind(addr, &cfg)?;
        println!(
            "listening on {}/udp (receive buffer {} bytes){}",
            listener.local_addr(),
            listener.recv_buffer(),
            if cfg.allow.0.is_empty() {
                String::new()
            } else {
                let nets: Vec<String> = cfg.allow.0.iter().map(|c| c.to_string()).collect();
                format!(", exporters allowed: {}", nets.join(" "))
            }
        );
        infos.push(ListenerInfo {
            addr: listener.local_addr(),
            stats: listener.stats(),
            drops: None,
        });
        tasks.push(tokio::spawn(listen(listener, tx.clone(), stop_rx.clone())));
    }
    drop(tx);
    println!("store {}", store.path().display());
    // The line above tells scripts and tests that the sockets are bound.
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let mut pipe = Pipeline::default();
    let mut store = Some(store);
    let mut held = (Batch::default(), Vec::new());
    let mut flushes = 0u64;
    let mut flush_failures = 0u64;
    let mut written = UpsertSummary::default();
    let mut tick = tokio::time::interval(flush);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut stopping = false;
    loop {
        tokio::select! {
            batch = rx.recv() => match batch {
                Some(batch) => {
                    for (src, ts, payload) in batch.iter() {
                        pipe.datagram(src, payload, ts);
                    }
                }
                // Every listener has finished its final drain.
                None => break,
            },
            _ = tick.tick(), if !stopping => {
                flush_store(&mut pipe, &mut store, &mut held, &mut flushes, &mut flush_failures, &mut written).await;
            }
            _ = sigint.recv(), if !stopping => {
                stopping = true;
                let _ = stop_tx.send(true);
            }
            _ = sigterm.recv(), if !stopping => {
                stopping = true;
                let _ = stop_tx.send(true);
            }
        }
    }
    for (t, info) in tasks.into_iter().zip(&mut infos) {
        match t.await {
            Ok(Ok(drops)) => info.drops = drops,
            Ok(Err(e)) => eprintln!("depmap: error: {e:#}"),
            Err(e) => eprintln!("depmap: error: listener task: {e}"),
        }
    }
    let still_waiting = pipe.pending_sets();
    pipe.finish();
    flush_store(
        &mut pipe,
        &mut store,
        &mut held,
        &mut flushes,
        &mut flush_failures,
        &mut written,
    )
    .await;

    println!("collector stopped");
    for i in &infos {
        println!(
            "  {}/udp: {} datagrams ({} bytes), {} from exporters not allowed (dropped), {} receive errors, kernel drops {}",
            i.addr,
            get(&i.stats.datagrams),
            get(&i.stats.bytes),
            get(&i.stats.denied),
            get(&i.stats.errors),
            match i.drops {
                Some(n) => n.to_string(),
                None => "unavailable".to_string(),
            }
        );
    }
    print_counters(&pipe.decoder(), still_waiting, &pipe.aggregator());
    println!(
        "  store: {flushes} flushes ({flush_failures} failed), {} edges added, {} updated",
        written.added, written.updated
    );
    let code = if flush_failures > 0 && !held.0.edges.is_empty() {
        eprintln!(
            "depmap: error: {} edges could not be written to the store",
            held.0.edges.len()
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    Ok(code)
}

/// One listener's task: batches of datagrams to the aggregation loop until
/// told to stop, then a final drain of what the socket holds. Returns the
/// socket's kernel drop count, read last.
pub(crate) async fn listen(
    listener: UdpListener,
    tx: tokio::sync::mpsc::Sender<DatagramBatch>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<u64>> {
    let drops: KernelDrops = listener.drop_counter();
    receive(&listener, tx, stop).await?;
    let n = drops.read();
    drop(listener);
    Ok(n)
}

async fn receive(
    listener: &UdpListener,
    tx: tokio::sync::mpsc::Sender<DatagramBatch>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let addr = listener.local_addr();
    loop {
        let mut batch = DatagramBatch::new();
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            res = listener.recv_batch(&mut batch, BATCH_DATAGRAMS) => {
                res.with_context(|| format!("receiving on {addr}/udp"))?;
                if tx.send(batch).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    loop {
        let mut batch = DatagramBatch::new();
        let n = listener
            .drain(&mut batch, BATCH_DATAGRAMS)
            .with_context(|| format!("receiving on {addr}/udp"))?;
        if n == 0 || tx.send(batch).await.is_err() {
            return Ok(());
        }
    }
}

/// Writes what the pipeline has ready (plus anything a failed flush held
/// back) in one transaction, on the blocking pool.
async fn flush_store(
    pipe: &mut Pipeline,
    store: &mut Option<Store>,
    held: &mut (Batch, Vec<EdgeKey>),
    flushes: &mut u64,
    failures: &mut u64,
    written: &mut UpsertSummary,
) {
    let (batch, sampled) = pipe.take();
    held.0.edges.extend(batch.edges);
    held.0.activity.extend(batch.activity);
    held.1.extend(sampled);
    if held.0.edges.is_empty() && held.0.activity.is_empty() {
        return;
    }
    let Some(mut s) = store.take() else {
        return;
    };
    let (batch, sampled) = std::mem::take(held);
    let res = tokio::task::spawn_blocking(move || {
        let r = s.write_flows(&batch, &sampled);
        (s, r, batch, sampled)
    })
    .await;
    match res {
        Ok((s, r, batch, sampled)) => {
            *store = Some(s);
            *flushes += 1;
            match r {
                Ok(sum) => {
                    written.added += sum.added;
                    written.updated += sum.updated;
                    tracing::info!(
                        edges = batch.edges.len(),
                        added = sum.added,
                        updated = sum.updated,
                        "flushed flow edges"
                    );
                }
                Err(e) => {
                    *failures += 1;
                    eprintln!("depmap: error: flushing to the store: {e}; keeping the edges for the next flush");
                    *held = (batch, sampled);
                }
            }
        }
        Err(e) => {
            *failures += 1;
            eprintln!("depmap: error: the store task failed: {e}");
        }
    }
}
