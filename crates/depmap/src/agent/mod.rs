//! `depmap agent` (the long-running daemon) and `depmap capture` (live
//! capture for a while, into the store). Both run the same engine
//! ([`run`]); the agent adds a config file, SIGHUP reloads, metrics and
//! privilege dropping. See docs/AGENT.md.

pub(crate) mod metrics;
pub(crate) mod privs;
pub(crate) mod run;

use std::process::ExitCode;

use depmap_capture::LiveConfig;

use depmap_ingest::config::{self, Config, LogFormat};

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
pub(crate) fn agent(args: crate::cli::AgentArgs, verbose: u8) -> anyhow::Result<ExitCode> {
    let flag_format = match &args.log_format {
        Some(f) => Some(LogFormat::parse("--log-format", f)?),
        None => None,
    };
    let loaded = load_config(&args.config);
    if args.check_config {
        let cfg = loaded?;
        outln!(
            "{}: ok ({} interfaces, {} listeners, store {}, flush every {})",
            args.config.display(),
            cfg.interfaces.len(),
            cfg.listeners.len(),
            cfg.store.display(),
            humantime::format_duration(cfg.flush_interval)
        )?;
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
pub(crate) fn capture(args: crate::cli::CaptureArgs) -> anyhow::Result<ExitCode> {
    let (duration, flush_interval) = (args.duration, args.flush_interval);
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
        outln!(
            "captured on {name}: {} frames ({:.1} MB captured); dropped: kernel {} (capture buffer full), interface {}",
            st.frames,
            st.bytes as f64 / 1e6,
            st.kernel_drops,
            st.interface_drops
        )?;
    }
    outln!(
        "  {} IP packets; edges: {} added, {} updated in {} flushes ({} failed)",
        snap.packets.ip_packets,
        snap.flush.added,
        snap.flush.updated,
        snap.flush.flushes,
        snap.flush.errors
    )?;
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

/// Reads and validates the agent's config file.
pub(crate) fn load_config(path: &std::path::Path) -> anyhow::Result<Config> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    Config::parse(&text).with_context(|| format!("config file {}", path.display()))
}
