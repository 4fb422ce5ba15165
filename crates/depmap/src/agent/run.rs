//! The agent's wiring, shared by `depmap agent` and `depmap capture`: open
//! the sources (with privileges), drop privileges, open the store, turn
//! signals and the config file into [`Control`]s, and run
//! `depmap_ingest`'s driver. The loop, flushes and hold-back are there.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use depmap_edges::FlowConfig;
use depmap_ingest::{Control, Driver, Interface, Listener, Settings, Summary, WatchDir};
use depmap_store::Store;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

use super::metrics::{self, Metrics};
use depmap_ingest::config::Config;

/// How the agent is started.
pub(crate) struct Options {
    /// The config file, for SIGHUP reloads (`None`: reloads are refused).
    pub(crate) config_path: Option<PathBuf>,
    /// The configuration.
    pub(crate) config: Config,
    /// Stop after this long (`depmap capture --duration`).
    pub(crate) duration: Option<Duration>,
    /// Switch user and clear capabilities after opening the sources.
    pub(crate) drop_privileges: bool,
}

fn settings(cfg: &Config) -> Settings {
    Settings {
        flush_interval: cfg.flush_interval,
        max_pending_edges: cfg.max_pending_edges,
        retention_days: cfg.retention_days,
    }
}

/// Runs until SIGTERM/SIGINT (or `duration`), then flushes and returns.
pub(crate) fn run(opts: Options) -> anyhow::Result<Summary> {
    // A current-thread runtime starts no thread of its own, so privileges
    // can be dropped for the whole process before anything else runs.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let summary = rt.block_on(run_async(opts));
    // Do not wait for a blocking task still ingesting a large file.
    rt.shutdown_timeout(Duration::from_secs(1));
    summary
}

async fn run_async(opts: Options) -> anyhow::Result<Summary> {
    let cfg = opts.config;
    let clock = crate::clock::running()?;
    let signals = Signals::new(true)?;
    let metrics = Arc::new(Metrics::default());

    // 1. Everything that needs privileges: interfaces, sockets.
    let mut interfaces = Vec::new();
    for c in &cfg.interfaces {
        interfaces.push(Interface::open(c.clone())?);
    }
    let mut listeners = Vec::new();
    for l in &cfg.listeners {
        let u = Listener::bind(l.address, &l.listener_config())?;
        tracing::info!(listen = %u.local_addr(), recv_buffer = u.recv_buffer(), "listening for flow exports");
        listeners.push(u);
    }
    let metrics_listener = match cfg.metrics {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics = \"{addr}\": cannot listen there"))?;
            let bound = l.local_addr().unwrap_or(addr);
            tracing::info!(address = %bound, "serving metrics at /metrics and /healthz");
            outln!("depmap: metrics at http://{bound}/metrics")?;
            Some(l)
        }
        None => None,
    };

    // 2. Drop them, while this is still the only thread.
    if opts.drop_privileges {
        let d = super::privs::drop_privileges(cfg.user.as_deref(), cfg.reload_interfaces)?;
        tracing::info!(user = %d.user, capabilities = ?d.kept, no_new_privs = true, "privileges dropped");
        if nix::unistd::Uid::effective().is_root() {
            tracing::warn!(
                "running as root: set `user` in the config to run as an unprivileged user"
            );
        }
    }

    // 3. The store, opened as the user that will write it.
    let store = match Store::open(&cfg.store) {
        Ok(s) => {
            tracing::info!(store = %cfg.store.display(), "store open");
            Some(s)
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot open the store; counting in memory and retrying at every flush");
            None
        }
    };

    // 4. The driver and its sources.
    let flow = FlowConfig {
        max_flows: cfg.max_flows,
        ..FlowConfig::default()
    };
    let mut driver = Driver::new(
        flow,
        settings(&cfg),
        Arc::clone(&clock),
        store,
        cfg.store.clone(),
    );
    let (n_interfaces, n_listeners) = (interfaces.len(), listeners.len());
    for i in interfaces {
        driver.interface(i);
    }
    for l in listeners {
        driver.source(Box::new(l));
    }
    for w in &cfg.watches {
        driver.source(Box::new(WatchDir::new(
            w.directory.clone(),
            w.interval,
            cfg.store.clone(),
            flow,
            Arc::clone(&clock),
        )));
    }
    let server = metrics_listener.map(|l| tokio::spawn(metrics::serve(l, Arc::clone(&metrics))));
    tracing::info!(
        interfaces = n_interfaces,
        listeners = n_listeners,
        flush_interval = %humantime::format_duration(cfg.flush_interval),
        "agent running"
    );
    // Tests and scripts wait for this line: every source is open.
    outln!("depmap: running with {n_interfaces} interfaces and {n_listeners} listeners")?;
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let (tx, controls) = mpsc::channel(4);
    let reloads = Reloads {
        path: opts.config_path,
        config: cfg,
        metrics: Arc::clone(&metrics),
    };
    tokio::spawn(signals.forward(tx, Some(reloads), opts.duration));
    let m = Arc::clone(&metrics);
    let summary = driver.run(controls, |s| m.publish(s)).await?;
    if let Some(s) = server {
        s.abort();
    }
    Ok(summary)
}

/// The signals the process obeys.
struct Signals {
    int: Signal,
    term: Signal,
    hup: Option<Signal>,
}

impl Signals {
    /// SIGINT and SIGTERM, and SIGHUP when `hup`.
    fn new(hup: bool) -> anyhow::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            hup: match hup {
                true => Some(signal(SignalKind::hangup()).context("cannot handle SIGHUP")?),
                false => None,
            },
        })
    }

    /// Sends [`Control::Stop`] at SIGTERM, SIGINT or after `duration`, and
    /// a [`Control::Reload`] at each SIGHUP whose file validates.
    async fn forward(
        mut self,
        tx: mpsc::Sender<Control>,
        mut reloads: Option<Reloads>,
        duration: Option<Duration>,
    ) {
        let deadline = duration.map(|d| tokio::time::Instant::now() + d);
        let until = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(until);
        let mut hup = self.hup.take();
        loop {
            tokio::select! {
                _ = self.term.recv() => { tracing::info!("SIGTERM: flushing and stopping"); break }
                _ = self.int.recv() => { tracing::info!("SIGINT: flushing and stopping"); break }
                _ = &mut until => { tracing::info!("duration reached: flushing and stopping"); break }
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    if let Some(c) = reloads.as_mut().and_then(Reloads::reload) {
                        let _ = tx.send(c).await;
                    }
                }
            }
        }
        let _ = tx.send(Control::Stop).await;
    }
}

/// A [`Control`] channel fed by SIGINT and SIGTERM (`depmap collect`).
pub(crate) fn stop_on_signals() -> anyhow::Result<mpsc::Receiver<Control>> {
    let signals = Signals::new(false)?;
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(signals.forward(tx, None, None));
    Ok(rx)
}

/// SIGHUP: the config file read again.
struct Reloads {
    path: Option<PathBuf>,
    config: Config,
    metrics: Arc<Metrics>,
}

impl Reloads {
    /// Reads the file again; what can change live goes to the driver.
    fn reload(&mut self) -> Option<Control> {
        let Some(path) = self.path.as_deref() else {
            tracing::warn!("SIGHUP ignored: no config file to reload");
            return None;
        };
        let new = match super::load_config(path) {
            Ok(c) => c,
            Err(e) => {
                self.metrics.reload_refused();
                tracing::error!(error = %format!("{e:#}"), "reload refused; the running configuration stays");
                return None;
            }
        };
        let cfg = &mut self.config;
        for key in cfg.restart_only_changes(&new) {
            tracing::warn!(
                key,
                "changed in the config file, but applies only after a restart; the running value stays"
            );
        }
        cfg.flush_interval = new.flush_interval;
        cfg.retention_days = new.retention_days;
        cfg.max_pending_edges = new.max_pending_edges;
        cfg.interfaces = new.interfaces.clone();
        tracing::info!(path = %path.display(), "configuration reloaded");
        Some(Control::Reload {
            settings: settings(cfg),
            interfaces: new.interfaces,
        })
    }
}
