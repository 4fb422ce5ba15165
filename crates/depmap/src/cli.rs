//! Command-line flags, parsed into typed values (durations, days, dates,
//! networks: `values.rs`). Validation that clap cannot express happens in
//! the command modules, with errors that name the flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use depmap_model::{Cidr, Day};

use crate::values;

/// The default database path when neither `--db` nor `DEPMAP_DB` is given.
pub(crate) const DEFAULT_DB: &str = "depmap.db";

/// depmap learns which services really talk to which from packet captures,
/// and turns that into a dependency map and segmentation rules.
#[derive(Debug, Parser)]
#[command(name = "depmap", version, about, long_about = None)]
pub(crate) struct Cli {
    /// More log output on stderr (-v info, -vv debug); DEPMAP_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Read pcap/pcapng files and add their dependency edges to the store.
    Ingest(IngestArgs),
    /// Receive NetFlow v5/v9, IPFIX and sFlow v5 exports over UDP and add
    /// their edges to the store until SIGINT or SIGTERM.
    Collect(CollectArgs),
    /// Capture live on an interface and add the edges to the store, until
    /// --duration passes or SIGINT/SIGTERM.
    Capture(CaptureArgs),
    /// Run as a long-lived agent: every source in a config file at once,
    /// periodic flushes, SIGHUP reloads, metrics (docs/AGENT.md).
    Agent(AgentArgs),
    /// Write the stored map as JSON, Graphviz DOT or CSV.
    Export(ExportArgs),
    /// How complete the baseline is: span, gaps, business-cycle coverage,
    /// services likely to have clients not seen yet.
    Baseline(BaselineArgs),
    /// What changed recently against the baseline: new edges (scored),
    /// edges that stopped, edges whose pattern changed.
    Drift(DriftArgs),
    /// Retention: delete per-day activity older than the last N days of
    /// data (edges keep their totals).
    Prune(PruneArgs),
    /// Make a synthetic capture of a small company, map it, and write the
    /// JSON and DOT map, an SVG picture and a rule draft.
    Demo(DemoArgs),
    /// Draft segmentation rules from the map, and test them against recorded
    /// traffic before anyone enforces them.
    Policy(PolicyArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where to write the capture, the store, the map and the draft.
    #[arg(long, value_name = "DIR", default_value = "depmap-demo")]
    pub(crate) dir: PathBuf,
}

/// Where the store is.
#[derive(Debug, Args)]
pub(crate) struct DbArg {
    /// The SQLite database (a relative path is taken from the current
    /// directory).
    #[arg(long, env = "DEPMAP_DB", value_name = "PATH", default_value = DEFAULT_DB)]
    pub(crate) db: PathBuf,
}

/// `depmap collect` flags.
#[derive(Debug, Args)]
pub(crate) struct CollectArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// Address and port to receive NetFlow v5/v9, IPFIX and sFlow v5 on
    /// (UDP; the format is told from each datagram). Repeat for several
    /// sockets, e.g. `--listen 0.0.0.0:2055 --listen 0.0.0.0:6343`.
    /// Port 0 picks a free port, printed at start.
    #[arg(long, required = true, value_name = "ADDR:PORT")]
    pub(crate) listen: Vec<SocketAddr>,
    /// Accept datagrams only from exporters in this network (ADDR or
    /// ADDR/PREFIX; repeat for several). Others are dropped and counted.
    /// Without it every source is accepted.
    #[arg(long, value_name = "CIDR", value_parser = values::masked_network("--allow-exporter"))]
    pub(crate) allow_exporter: Vec<Cidr>,
    /// Receive buffer to ask the kernel for, per socket, in bytes. Without
    /// root (CAP_NET_ADMIN) Linux caps it at net.core.rmem_max.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
    pub(crate) recv_buffer: usize,
    /// How often the edges gathered so far are written to the store (one
    /// transaction each), e.g. 30s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = values::flush_interval::<10>())]
    pub(crate) flush_interval: Duration,
}

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
    pub(crate) db: DbArg,
    /// The interface to capture on (needs root or CAP_NET_RAW).
    #[arg(long, short = 'i', value_name = "IF")]
    pub(crate) interface: String,
    /// A BPF filter in tcpdump syntax, e.g. "tcp or udp".
    #[arg(long, value_name = "BPF")]
    pub(crate) filter: Option<String>,
    /// Stop after this long (e.g. 10m); without it, run until SIGINT/SIGTERM.
    #[arg(long, value_name = "DURATION", value_parser = values::duration("--duration", "30s or 10m"))]
    pub(crate) duration: Option<Duration>,
    /// How often the edges gathered so far are written to the store.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = values::flush_interval::<100>())]
    pub(crate) flush_interval: Duration,
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

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// Ingest a file again even if its content was ingested before (its
    /// counts are then added twice).
    #[arg(long)]
    pub(crate) force: bool,
    /// The most flows tracked at once; past it the longest-idle flow is
    /// finished early (counted, never dropped).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub(crate) max_flows: usize,
    /// The files hold flow exports (NetFlow v5/v9, IPFIX, sFlow v5 over
    /// UDP, e.g. captured at a collector): decode the export datagrams
    /// inside them as if received on the wire, instead of mapping the
    /// captured packets themselves. Never guessed without this flag.
    #[arg(long)]
    pub(crate) flows: bool,
    /// Capture files (pcap or pcapng, told apart by content).
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ExportFormat {
    /// The JSON map (schema in docs/JSON.md).
    Json,
    /// Graphviz DOT: render with `dot -Tsvg map.dot -o map.svg`.
    Dot,
    /// One row per edge.
    Csv,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// Output format.
    #[arg(long, value_enum)]
    pub(crate) format: ExportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Edges first seen in this many last days of data are drawn as new.
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    pub(crate) new_days: i32,
    /// Names, roles and labels of hosts: a TOML or CSV file mapping
    /// addresses and networks to them (docs/INVENTORY.md).
    #[arg(long, value_name = "FILE")]
    pub(crate) inventory: Option<PathBuf>,
    /// One node per host, or one per inventory role (hosts without a role
    /// stay as themselves); json and dot only.
    #[arg(long, value_enum, default_value = "host", value_name = "BY")]
    pub(crate) group_by: GroupByArg,
    /// Draw DNS, NTP, monitoring scrapes and services most hosts use as one
    /// "shared infrastructure" node (rule in docs/INVENTORY.md); json and
    /// dot only.
    #[arg(long)]
    pub(crate) shared_tier: bool,
    /// With --shared-tier: a service reached by more than this fraction of
    /// the client hosts (and by at least 3) is shared too.
    #[arg(
        long,
        value_name = "FRACTION",
        default_value_t = 0.8,
        requires = "shared_tier"
    )]
    pub(crate) shared_fraction: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GroupByArg {
    /// One node per host.
    Host,
    /// One node per inventory role.
    Role,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// How much per-day activity to keep, counted back from the last day
    /// with data (not the clock), in whole days: 35d, 5w, ...
    #[arg(long, value_name = "DURATION", value_parser = values::whole_days("--keep", "activity is kept per day"))]
    pub(crate) keep: i32,
    /// Afterwards rewrite the file so it shrinks (SQLite VACUUM; needs free
    /// space about the database's size).
    #[arg(long)]
    pub(crate) vacuum: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ReportFormat {
    /// A table for people.
    Table,
    /// JSON for programs.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct BaselineArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: ReportFormat,
    /// How many services to list.
    #[arg(long, default_value_t = 10)]
    pub(crate) top: usize,
}

#[derive(Debug, Args)]
pub(crate) struct DriftArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// The recent period, at the end of the data, compared with the baseline
    /// before it (whole days: 7d, 14d, ...).
    #[arg(long, default_value = "7d", value_name = "DURATION", value_parser = values::whole_days("--since", "drift compares whole days"))]
    pub(crate) since: i32,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: ReportFormat,
}

#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    #[command(subcommand)]
    pub(crate) command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Draft allow-rules per service, with their evidence, from a learning window.
    Draft(PolicyDraftArgs),
    /// Replay recorded traffic against a draft and list what it would deny
    /// (exit status 3 when it would deny something, 0 when it allows all).
    Simulate(PolicySimulateArgs),
    /// The stored draft versions.
    List(crate::policy_life::ListArgs),
    /// Print a stored draft version (JSON).
    Show(crate::policy_life::ShowArgs),
    /// Rules added, removed and changed between two drafts (versions or files).
    Diff(crate::policy_life::DiffArgs),
    /// Make an old version the newest again (a new version; nothing is deleted).
    Rollback(crate::policy_life::RollbackArgs),
    /// Add a time-bound exception (an allow drafts carry until it expires);
    /// `except list`, `except revoke ID`.
    Except(crate::policy_life::ExceptArgs),
    /// The append-only audit trail of drafts and exceptions.
    Audit(crate::policy_life::AuditArgs),
    /// A draft's rules without traffic for N days (periodic rules wait for
    /// their next expected occurrence).
    Unused(crate::policy_life::UnusedArgs),
    /// Compile a draft to nftables, iptables, Kubernetes, Cilium or AWS
    /// security groups; what the target cannot express goes to stderr.
    Render(crate::policy_render::PolicyRenderArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PolicyDraftArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// First day of the learning window (YYYY-MM-DD, UTC) [default: all data].
    #[arg(long, value_name = "DATE", value_parser = values::date("--from"))]
    pub(crate) from: Option<Day>,
    /// Last day of the learning window (YYYY-MM-DD, UTC) [default: all data].
    #[arg(long, value_name = "DATE", value_parser = values::date("--to"))]
    pub(crate) to: Option<Day>,
    /// Draft only the services of these servers: a network or address
    /// (10.0.4.0/24) or an inventory role (db, or role:db; needs --inventory).
    #[arg(long, value_name = "ROLE|CIDR")]
    pub(crate) scope: Option<String>,
    /// Names and roles of hosts (docs/INVENTORY.md), for a --scope role.
    #[arg(long, value_name = "FILE")]
    pub(crate) inventory: Option<PathBuf>,
    /// Edges active on fewer days than this go to review instead of allow.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) min_days: u32,
    /// Edges with fewer connections than this go to review instead of allow.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub(crate) min_connections: u64,
    /// The change ticket the rules are drafted under.
    #[arg(long, value_name = "TICKET")]
    pub(crate) ticket: Option<String>,
    /// Who owns the rules.
    #[arg(long, value_name = "OWNER")]
    pub(crate) owner: Option<String>,
    /// The rules expire this long after drafting (e.g. 90d).
    #[arg(long, value_name = "DURATION", value_parser = values::duration("--expires", "90d or 12h"))]
    pub(crate) expires: Option<Duration>,
    /// Where to write the draft (JSON, docs/POLICY.md).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Who drafts, for the stored version and the audit trail [default:
    /// $SUDO_USER, else $USER].
    #[arg(long, value_name = "WHO")]
    pub(crate) by: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PolicySimulateArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// The draft to test.
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: PathBuf,
    /// First day of traffic to replay (YYYY-MM-DD, UTC) [default: all].
    #[arg(long, value_name = "DATE", value_parser = values::date("--from"))]
    pub(crate) from: Option<Day>,
    /// Last day of traffic to replay (YYYY-MM-DD, UTC) [default: all].
    #[arg(long, value_name = "DATE", value_parser = values::date("--to"))]
    pub(crate) to: Option<Day>,
    /// Print the denied edges as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Replay these packet captures (pcap/pcapng) instead of the store,
    /// through the same aggregation as `ingest`, storing nothing.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub(crate) pcap: Vec<PathBuf>,
    /// Replay the flow exports (NetFlow/IPFIX/sFlow) inside these captures
    /// instead of the store, as `ingest --flows` reads them, storing nothing.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub(crate) flows: Vec<PathBuf>,
}
