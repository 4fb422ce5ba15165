//! `depmap agent` (the long-running daemon) and `depmap capture` (live
//! capture for a while, into the store). Both run the same engine
//! ([`run`]); the agent adds a config file, SIGHUP reloads, metrics and
//! privilege dropping. See docs/AGENT.md.

pub(crate) mod config;
pub(crate) mod metrics;
pub(crate) mod privs;
pub(crate) mod run;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use depmap_capture::LiveConfig;

use config::{Config, LogFormat};

/// `depmap agent` flags. Facts about the deployment live in the config
/// file; the flags only override for a run.
#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// The TOML config file (deploy/depmap.toml is a commented example).
    #[arg(long, value_name = "PATH")]
    pub(crate) config: PathBuf,
    /// Validate the config file and exit: 0 when good, 1 with a message
    /// naming the key otherwise.
    #[arg(long)]
    pub(crate) check_config: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics (overrides the
    /// `metrics` key).
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) metrics: Option<SocketAddr>,
    /// Log format: human or json (overrides the `log_format` key).
    #[arg(long, value_name = "FORMAT")]
    pub(crate) log_format: Option<String>,
}

/// `depmap capture` flags.
#[derive(Debug, Args)]
pub(crate) struct CaptureArgs {
    #[command(flatten)]
    pub(crate) db: crate::cli::DbArg,
    /// The interface to capture on (needs root or CAP_NET_RAW).
    #[arg(long, short = 'i', value_name = "IF")]
    pub(crate) interface: String,
    /// A BPF filter in tcpdump syntax, e.g. "tcp or udp".
    #[arg(long, value_name = "BPF")]
    pub(crate) filter: Option<String>,
    /// Stop after this long (e.g. 10m); without it, run until SIGINT/SIGTERM.
    #[arg(long, value_name = "DURATION")]
    pub(crate) duration: Option<String>,
    /// How often the edges gathered so far are written to the store.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub(crate) flush_interval: String,
    /// Bytes kept of each frame.
    #[arg(long, value_name = "BYTES", default_value_t = depmap_capture::live::DEFAULT_SNAPLEN)]
    pub(crate) snaplen: u32,
    /// The kernel capture buffer in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = depmap_capture::live::DEFAULT_BUFFER_BYTES)]
    pub(crate) buffer_bytes: u32,
    /// Promiscuous mode.
    #[arg(long)]
    pub(crate) promiscuous: bool,
    /// The most flows tracked at once.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub(crate) max_flows: usize,
}

fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEPMAP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => b.try_init(),
        LogFormat::Json => b.json().flatten_event(true).try_init(),
    };
}

/// `depmap agent`.
pub(crate) fn agent(args: AgentArgs, verbose: u8) -> anyhow::Result<ExitCode> {
    let flag_format = match &args.log_format {
        Some(f) => Some(LogFormat::parse("--log-format", f)?),
        None => None,
    };
    let loaded = Config::load(&args.config);
    if args.check_config {
        let cfg = loaded?;
        println!(
            "{}: ok ({} interfaces, {} listeners, store {}, flush every {})",
            args.config.display(),
            cfg.interfaces.len(),
            cfg.listeners.len(),
            cfg.store.display(),
            humantime::format_duration(cfg.flush_interval)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut cfg = loaded?;
    if let Some(f) = flag_format {
        cfg.log_format = f;
    }
    if args.metrics.is_some() {
        cfg.metrics = args.metrics;
    }
    init_logging(cfg.log_format, if verbose > 1 { "debug" } else { "info" });
    let summary = run::run(run::Options {
        config_path: Some(args.config),
        config: cfg,
        duration: None,
        drop_privileges: true,
    })?;
    Ok(if summary.lost_edges > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `depmap capture`.
pub(crate) fn capture(args: CaptureArgs) -> anyhow::Result<ExitCode> {
    let parse = |flag: &str, v: &str| -> anyhow::Result<Duration> {
        humantime::parse_duration(v)
            .with_context(|| format!("{flag} {v:?}: expected a duration such as 30s or 10m"))
    };
    let duration = match &args.duration {
        Some(d) => Some(parse("--duration", d)?),
        None => None,
    };
    let flush_interval = parse("--flush-interval", &args.flush_interval)?;
    if flush_interval < Duration::from_millis(100) {
        anyhow::bail!("--flush-interval must be at least 100ms");
    }
    if args.max_flows == 0 {
        anyhow::bail!("--max-flows must be at least 1 (it bounds the flows tracked at once)");
    }
    if !(64..=262_144).contains(&args.snaplen) {
        anyhow::bail!(
            "--snaplen {}: must be 64 to 262144 (512 keeps headers and names)",
            args.snaplen
        );
    }
    if args.buffer_bytes < 65_536 {
        anyhow::bail!(
            "--buffer-bytes {}: must be at least 65536 (default 16777216)",
            args.buffer_bytes
        );
    }
    let mut live = LiveConfig::new(args.interface.clone());
    live.filter = args.filter.clone().filter(|f| !f.trim().is_empty());
    live.snaplen = args.snaplen;
    live.buffer_bytes = args.buffer_bytes;
    live.promiscuous = args.promiscuous;
    let cfg = Config {
        store: args.db.db.clone(),
        flush_interval,
        retention_days: None,
        max_flows: args.max_flows,
        max_pending_edges: config::DEFAULT_MAX_PENDING_EDGES,
        user: None,
        reload_interfaces: false,
        metrics: None,
        log_format: LogFormat::Human,
        interfaces: vec![live],
        listeners: Vec::new(),
        watches: Vec::new(),
    };
    let s = run::run(run::Options {
        config_path: None,
        config: cfg,
        duration,
        drop_privileges: false,
    })?;
    let snap = &s.snapshot;
    for (name, st) in snap.sources.iter().filter_map(|src| match src {
        depmap_ingest::SourceStats::Interface { name, live, .. } => Some((name, live)),
        _ => None,
    }) {
        println!(
            "captured on {name}: {} frames ({:.1} MB captured); dropped: kernel {} (capture buffer full), interface {}",
            st.frames,
            st.bytes as f64 / 1e6,
            st.kernel_drops,
            st.interface_drops
        );
    }
    println!(
        "  {} IP packets; edges: {} added, {} updated in {} flushes ({} failed)",
        snap.packets.ip_packets,
        snap.flush.added,
        snap.flush.updated,
        snap.flush.flushes,
        snap.flush.errors
    );
    if s.lost_edges > 0 {
        eprintln!(
            "depmap: error: {} edges could not be written to {}",
            s.lost_edges,
            args.db.db.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
