//! The agent's TOML configuration: a raw struct as written in the file
//! (serde, unknown keys refused), then a validated [`Config`] that the
//! driver's settings and sources are made from. Every error names the key
//! and says how to fix it. The file itself is read by the caller: this
//! module parses text. `deploy/depmap.toml` is the
//! commented example; `docs/AGENT.md` lists which keys a SIGHUP reload
//! applies live.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use depmap_capture::{AllowList, LiveConfig};
use depmap_model::{whole_days, Cidr};
use serde::Deserialize;

/// A configuration that cannot be used: the message names the key and says
/// how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// A [`ConfigError`] from a message.
macro_rules! invalid {
    ($($arg:tt)*) => { ConfigError(format!($($arg)*)) };
}

/// Returns a [`ConfigError`] from the function.
macro_rules! bail {
    ($($arg:tt)*) => { return Err(invalid!($($arg)*)) };
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// The SQLite store (created if missing; its directory must be writable
    /// by `user`).
    store: PathBuf,
    /// How often the edges learned are written to the store, one transaction
    /// each (humantime: 30s, 5m). At most this much is lost on a crash.
    flush_interval: Option<String>,
    /// How much per-day activity to keep, counted back from the last day
    /// with data (whole days: 90d, 13w). Unset keeps everything.
    retention: Option<String>,
    /// The most flows tracked at once (the memory bound of the flow table,
    /// about 200 bytes a flow); past it the longest-idle flow is finished
    /// early and counted.
    max_flows: Option<usize>,
    /// The most edges held in memory while the store cannot be written
    /// (disk full, read-only); past it the held edges are dropped and
    /// counted.
    max_pending_edges: Option<usize>,
    /// The user to switch to after opening interfaces and sockets (when
    /// started as root). Unset keeps the starting user.
    user: Option<String>,
    /// Keep CAP_NET_RAW after start-up so a reload can open interfaces
    /// added to the file. Off: all capabilities are cleared.
    reload_interfaces: Option<bool>,
    /// Serve Prometheus metrics at http://ADDR/metrics (and /healthz).
    /// Unset: no metrics server.
    metrics: Option<String>,
    /// `human` (default) or `json`.
    log_format: Option<String>,
    /// Interfaces to capture on.
    #[serde(default)]
    interface: Vec<RawInterface>,
    /// UDP listeners for NetFlow v5/v9, IPFIX and sFlow exports.
    #[serde(default)]
    listener: Vec<RawListener>,
    /// Directories watched for new capture files.
    #[serde(default)]
    watch: Vec<RawWatch>,
}

/// One `[[watch]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWatch {
    /// The directory to look in (not recursive).
    directory: PathBuf,
    /// How often to look (humantime; default 10s). A file is read once its
    /// size and modification time have not changed for one look.
    interval: Option<String>,
}

/// One `[[interface]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    /// The interface name (eth0, lo, any).
    name: String,
    /// A BPF filter in tcpdump syntax.
    filter: Option<String>,
    /// Bytes kept of each frame (64 to 262144; 512 keeps headers and names).
    snaplen: Option<u32>,
    /// Kernel capture buffer in bytes (at least 65536).
    buffer_bytes: Option<u32>,
    /// Promiscuous mode (a mirror or TAP port).
    promiscuous: Option<bool>,
}

/// One `[[listener]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    /// ADDR:PORT to receive exports on.
    address: String,
    /// Exporters allowed (ADDR or ADDR/PREFIX); unset allows all.
    #[serde(default)]
    allow_exporters: Vec<String>,
    /// Receive buffer to ask the kernel for, in bytes.
    recv_buffer: Option<usize>,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Lines for people.
    Human,
    /// One JSON object a line.
    Json,
}

impl LogFormat {
    /// Parses `human` or `json`; `key` names the setting in errors.
    pub fn parse(key: &str, s: &str) -> Result<LogFormat, ConfigError> {
        match s {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            _ => bail!("{key} = {s:?}: expected \"human\" or \"json\""),
        }
    }
}

/// A flow-export listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Where to bind.
    pub address: SocketAddr,
    /// Exporters allowed.
    pub allow: Vec<Cidr>,
    /// Receive buffer in bytes.
    pub recv_buffer: usize,
}

impl Listener {
    /// The capture crate's listener settings.
    pub fn listener_config(&self) -> depmap_capture::ListenerConfig {
        depmap_capture::ListenerConfig {
            recv_buffer: Some(self.recv_buffer),
            allow: AllowList(self.allow.clone()),
        }
    }
}

/// A directory watched for capture files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The directory.
    pub directory: PathBuf,
    /// How often to look.
    pub interval: Duration,
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The store path.
    pub store: PathBuf,
    /// Flush period.
    pub flush_interval: Duration,
    /// Days of activity to keep.
    pub retention_days: Option<i32>,
    /// Flow-table bound.
    pub max_flows: usize,
    /// Bound on edges held while the store fails.
    pub max_pending_edges: usize,
    /// User to run as.
    pub user: Option<String>,
    /// Keep CAP_NET_RAW for reloads.
    pub reload_interfaces: bool,
    /// Metrics address.
    pub metrics: Option<SocketAddr>,
    /// Log format.
    pub log_format: LogFormat,
    /// Interfaces.
    pub interfaces: Vec<LiveConfig>,
    /// Flow listeners.
    pub listeners: Vec<Listener>,
    /// Watched directories.
    pub watches: Vec<Watch>,
}

/// Default flush period.
pub const DEFAULT_FLUSH: Duration = Duration::from_secs(30);
/// Default bound on edges held while the store cannot be written.
pub const DEFAULT_MAX_PENDING_EDGES: usize = 1_000_000;

impl Config {
    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| invalid!("{e}"))?;
        validate(raw)
    }

    /// One line per setting a reload cannot apply live, comparing `self`
    /// (running) with `new`.
    pub fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.store != new.store {
            v.push("store");
        }
        if self.max_flows != new.max_flows {
            v.push("max_flows");
        }
        if self.user != new.user {
            v.push("user");
        }
        if self.reload_interfaces != new.reload_interfaces {
            v.push("reload_interfaces");
        }
        if self.metrics != new.metrics {
            v.push("metrics");
        }
        if self.log_format != new.log_format {
            v.push("log_format");
        }
        if self.listeners != new.listeners {
            v.push("listener");
        }
        if self.watches != new.watches {
            v.push("watch");
        }
        let settings = |c: &Config| -> Vec<(String, u32, u32, bool)> {
            c.interfaces
                .iter()
                .map(|i| {
                    (
                        i.interface.clone(),
                        i.snaplen,
                        i.buffer_bytes,
                        i.promiscuous,
                    )
                })
                .collect()
        };
        // Interfaces may be added, removed or refiltered live; the settings
        // of one that stays apply when its handle is opened.
        let old = settings(self);
        if settings(new)
            .iter()
            .any(|n| old.iter().any(|o| o.0 == n.0 && o != n))
        {
            v.push("interface.snaplen/buffer_bytes/promiscuous");
        }
        v
    }
}

fn duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value).map_err(|e| {
        invalid!("{key} = {value:?} is not a duration ({e}); write e.g. \"30s\" or \"5m\"")
    })
}

fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
    if raw.store.as_os_str().is_empty() {
        bail!(
            "store = \"\": give the path of the SQLite store, e.g. \"/var/lib/depmap/depmap.db\""
        );
    }
    let flush_interval = match &raw.flush_interval {
        Some(s) => duration("flush_interval", s)?,
        None => DEFAULT_FLUSH,
    };
    if flush_interval < Duration::from_millis(100) || flush_interval > Duration::from_secs(86_400) {
        bail!(
            "flush_interval = {:?}: must be between 100ms and 1d (default 30s)",
            raw.flush_interval.unwrap_or_default()
        );
    }
    let retention_days = match &raw.retention {
        Some(s) => {
            let d = humantime::parse_duration(s).map_err(|_| {
                invalid!("retention = {s:?} is not a duration; use days such as 35d (or weeks: 5w)")
            })?;
            Some(whole_days(d).ok_or_else(|| {
                invalid!("retention = {s:?} must be a whole number of days, at least 1d: activity is kept per day")
            })?)
        }
        None => None,
    };
    let max_flows = raw.max_flows.unwrap_or(1_000_000);
    if max_flows == 0 {
        bail!("max_flows = 0: must be at least 1 (it bounds the flows tracked at once; default 1000000)");
    }
    let max_pending_edges = raw.max_pending_edges.unwrap_or(DEFAULT_MAX_PENDING_EDGES);
    if max_pending_edges == 0 {
        bail!("max_pending_edges = 0: must be at least 1 (default 1000000)");
    }
    if let Some(u) = &raw.user {
        if u.is_empty() {
            bail!("user = \"\": name a user (e.g. \"depmap\") or leave the key out");
        }
    }
    let metrics = match &raw.metrics {
        Some(s) => Some(s.parse::<SocketAddr>().map_err(|_| {
            invalid!("metrics = {s:?}: expected ADDR:PORT, e.g. \"127.0.0.1:9464\"")
        })?),
        None => None,
    };
    let log_format = match &raw.log_format {
        Some(s) => LogFormat::parse("log_format", s)?,
        None => LogFormat::Human,
    };
    let mut interfaces = Vec::new();
    for (i, r) in raw.interface.into_iter().enumerate() {
        let key = format!("interface[{i}]");
        if r.name.is_empty() {
            bail!("{key}.name = \"\": name an interface, e.g. \"eth0\"");
        }
        if interfaces
            .iter()
            .any(|c: &LiveConfig| c.interface == r.name)
        {
            bail!(
                "{key}.name = {:?}: the interface is listed twice; merge the filters with `or`",
                r.name
            );
        }
        let mut c = LiveConfig::new(r.name);
        if let Some(f) = r.filter {
            if !f.trim().is_empty() {
                c.filter = Some(f);
            }
        }
        if let Some(s) = r.snaplen {
            if !(64..=262_144).contains(&s) {
                bail!("{key}.snaplen = {s}: must be 64 to 262144 (512 keeps headers and names)");
            }
            c.snaplen = s;
        }
        if let Some(b) = r.buffer_bytes {
            if b < 65_536 {
                bail!("{key}.buffer_bytes = {b}: must be at least 65536 (default 16777216)");
            }
            c.buffer_bytes = b;
        }
        c.promiscuous = r.promiscuous.unwrap_or(false);
        interfaces.push(c);
    }
    let mut listeners = Vec::new();
    for (i, r) in raw.listener.into_iter().enumerate() {
        let key = format!("listener[{i}]");
        let address = r.address.parse::<SocketAddr>().map_err(|_| {
            invalid!(
                "{key}.address = {:?}: expected ADDR:PORT, e.g. \"0.0.0.0:2055\"",
                r.address
            )
        })?;
        let mut allow = Vec::new();
        for a in &r.allow_exporters {
            allow.push(Cidr::parse_masked(a).map_err(|e| invalid!("{key}.allow_exporters: {e}"))?);
        }
        listeners.push(Listener {
            address,
            allow,
            recv_buffer: r.recv_buffer.unwrap_or(8 << 20),
        });
    }
    let mut watches = Vec::new();
    for (i, r) in raw.watch.into_iter().enumerate() {
        let key = format!("watch[{i}]");
        if r.directory.as_os_str().is_empty() {
            bail!("{key}.directory = \"\": give a directory, e.g. \"/var/spool/depmap\"");
        }
        let interval = match &r.interval {
            Some(s) => duration(&format!("{key}.interval"), s)?,
            None => Duration::from_secs(10),
        };
        if interval < Duration::from_millis(100) {
            bail!("{key}.interval: must be at least 100ms (default 10s)");
        }
        watches.push(Watch {
            directory: r.directory,
            interval,
        });
    }
    if interfaces.is_empty() && listeners.is_empty() && watches.is_empty() {
        bail!("no source: add an [[interface]] (name = \"eth0\"), a [[listener]] (address = \"0.0.0.0:2055\") or a [[watch]] (directory = \"/var/spool/depmap\")");
    }
    Ok(Config {
        store: raw.store,
        flush_interval,
        retention_days,
        max_flows,
        max_pending_edges,
        user: raw.user,
        reload_interfaces: raw.reload_interfaces.unwrap_or(false),
        metrics,
        log_format,
        interfaces,
        listeners,
        watches,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = r#"
store = "/tmp/x.db"
flush_interval = "5s"
retention = "30d"
metrics = "127.0.0.1:9464"
[[interface]]
name = "lo"
filter = "tcp"
snaplen = 256
[[listener]]
address = "127.0.0.1:2055"
allow_exporters = ["10.0.0.0/8"]
"#;

    #[test]
    fn a_full_config_validates() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.flush_interval, Duration::from_secs(5));
        assert_eq!(c.retention_days, Some(30));
        assert_eq!(c.interfaces[0].snaplen, 256);
        assert_eq!(c.interfaces[0].filter.as_deref(), Some("tcp"));
        assert_eq!(c.listeners[0].allow.len(), 1);
        assert_eq!(c.log_format, LogFormat::Human);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (GOOD.replace("\"5s\"", "\"soon\""), "flush_interval"),
            (GOOD.replace("\"30d\"", "\"36h\""), "retention"),
            (
                GOOD.replace("snaplen = 256", "snaplen = 1"),
                "interface[0].snaplen",
            ),
            (GOOD.replace("127.0.0.1:9464", "localhost"), "metrics"),
            (
                GOOD.replace("\"10.0.0.0/8\"", "\"10.0.0.0/99\""),
                "listener[0].allow_exporters",
            ),
            (GOOD.replace("store =", "stor ="), "stor"),
            (format!("{GOOD}\nlog_format = \"xml\""), "log_format"),
            (format!("{GOOD}\nmax_flows = 0"), "max_flows"),
        ];
        for (text, key) in cases {
            let e = format!("{:#}", Config::parse(&text).err().unwrap());
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn reload_tells_restart_only_keys() {
        let a = Config::parse(GOOD).unwrap();
        let mut b = a.clone();
        b.flush_interval = Duration::from_secs(1);
        b.interfaces[0].filter = Some("udp".into());
        assert!(a.restart_only_changes(&b).is_empty());
        b.store = "/tmp/y.db".into();
        b.interfaces[0].snaplen = 1000;
        assert_eq!(
            a.restart_only_changes(&b),
            vec!["store", "interface.snaplen/buffer_bytes/promiscuous"]
        );
    }
}
