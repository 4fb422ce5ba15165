//! The policy lifecycle: `depmap policy list|show|diff|rollback|except|audit|unused`,
//! the versions `policy draft` stores, and the traffic `policy simulate`
//! replays from capture files.
//!
//! The clock is read once per command ([`now`]); `DEPMAP_NOW` (RFC 3339)
//! replaces it, as a testing aid. This file parses flags, reads the clock
//! and files, and prints; the lifecycle itself (drafting from the store,
//! exceptions, rollback) is `depmap_policy::lifecycle`, the decisions (diff,
//! unused) are in `depmap_policy`, the tables in `depmap_store::policy`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use depmap_edges::{DayActivity, EdgeKey};
use depmap_ingest::{replay, Replayed};
use depmap_model::{rfc3339, Cidr, Day};
use depmap_policy::lifecycle::{self, Grant, Revoked};
use depmap_policy::{PolicyDraft, Proto};
use depmap_store::{MapStore, PolicyLog, PolicyVersion, Store};

use crate::cli::{DbArg, ReportFormat};
use crate::ingest::Bar;

/// The time of this command (ns since the epoch): `DEPMAP_NOW` if set,
/// else the system clock.
pub(crate) fn now() -> anyhow::Result<i64> {
    Ok(crate::clock::fixed()?.now_ns())
}

/// Who is making a change: `--by`, else `$SUDO_USER`, else `$USER`.
pub(crate) fn who(by: &Option<String>) -> String {
    by.clone()
        .filter(|b| !b.trim().is_empty())
        .or_else(|| std::env::var("SUDO_USER").ok().filter(|v| !v.is_empty()))
        .or_else(|| std::env::var("USER").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Reads a draft file.
pub(crate) fn read_draft(path: &Path) -> anyhow::Result<PolicyDraft> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_draft(&text, &path.display().to_string())
}

/// Takes out of a draft the rules whose `expires` has passed at this
/// command's time ([`now`]): a rendering or simulation made after a rule
/// lapsed must not allow what it allowed.
pub(crate) fn drop_lapsed(d: &mut PolicyDraft) -> anyhow::Result<Vec<depmap_policy::LapsedRule>> {
    Ok(depmap_policy::drop_lapsed(d, now()?))
}

/// How a lapsed rule is reported.
pub(crate) fn lapsed_line(r: &depmap_policy::LapsedRule) -> String {
    format!(
        "left out, expired {}: {} -> {}:{}/{}{}",
        r.expires,
        r.client,
        r.server,
        r.port,
        r.proto,
        r.ticket
            .as_deref()
            .map(|t| format!(" (ticket {t})"))
            .unwrap_or_default()
    )
}

fn parse_draft(text: &str, what: &str) -> anyhow::Result<PolicyDraft> {
    Ok(lifecycle::parse_draft(text, what)?)
}

/// The traffic `policy simulate` replays: capture files (packets, or flow
/// exports inside captures) run through the same aggregation as `ingest`
/// without touching any store, else the store's per-day activity.
pub(crate) fn traffic(
    db: &Path,
    pcap: &[PathBuf],
    flows: &[PathBuf],
) -> anyhow::Result<Vec<(EdgeKey, DayActivity)>> {
    if pcap.is_empty() && flows.is_empty() {
        return Ok(Store::open_existing(db)?.activity()?);
    }
    Ok(replay(pcap, flows, &mut Bar::default(), |r| match r {
        Replayed::Packets {
            path,
            report: r,
            stopped,
        } => {
            let p = &r.packets;
            let (frames, packets) = (p.frames, p.ip_packets);
            eprintln!(
                "replayed {}: {frames} frames, {packets} IP packets, {} edges",
                path.display(),
                r.edges
            );
            if let Some(e) = stopped {
                eprintln!("depmap: warning: {e}; simulating the {packets} IP packets before it");
            }
        }
        Replayed::Flows {
            path,
            report,
            records,
            edges,
            stopped,
        } => {
            eprintln!(
                "replayed the flow exports in {}: {} export datagrams, {records} flow records, {edges} edges",
                path.display(),
                report.exports
            );
            if report.exports == 0 {
                eprintln!(
                    "depmap: warning: {} holds no NetFlow/IPFIX/sFlow datagrams; \
                     use --pcap for a packet capture",
                    path.display()
                );
            }
            if let Some(e) = stopped {
                eprintln!("depmap: warning: {e}; simulating the records before it");
            }
        }
    })?)
}

// ---- flags ---------------------------------------------------------------

/// `policy list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: ReportFormat,
}

/// `policy show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// The version number (from `policy list`).
    #[arg(value_name = "VERSION")]
    pub(crate) version: String,
}

/// `policy diff`.
#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// The older draft: a version number or a draft file.
    #[arg(value_name = "A")]
    pub(crate) a: String,
    /// The newer draft: a version number or a draft file.
    #[arg(value_name = "B")]
    pub(crate) b: String,
    /// Output format (JSON schema in docs/POLICY.md).
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: ReportFormat,
}

/// `policy rollback`.
#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// The version whose content becomes the newest version.
    #[arg(value_name = "VERSION")]
    pub(crate) version: String,
    /// Also write the draft to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// The change ticket for the rollback.
    #[arg(long, value_name = "TICKET")]
    pub(crate) ticket: Option<String>,
    /// Who rolls back [default: $SUDO_USER, else $USER].
    #[arg(long, value_name = "WHO")]
    pub(crate) by: Option<String>,
}

/// `policy except`: add an exception, or list or revoke them.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct ExceptArgs {
    #[command(subcommand)]
    pub(crate) command: Option<ExceptCommand>,
    #[command(flatten)]
    pub(crate) add: ExceptAddArgs,
}

/// `policy except list|revoke`.
#[derive(Debug, Subcommand)]
pub(crate) enum ExceptCommand {
    /// Every exception with its state now (active, expired, revoked).
    List(ExceptListArgs),
    /// End an exception before it expires (it is kept, marked revoked).
    Revoke(ExceptRevokeArgs),
}

/// `policy except --client ... --server ...`.
#[derive(Debug, Args)]
pub(crate) struct ExceptAddArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// The client: an address or a network (10.0.9.7, 10.0.9.0/24).
    #[arg(long, value_name = "IP|CIDR", required = true)]
    pub(crate) client: Option<String>,
    /// The server's address.
    #[arg(long, value_name = "IP", required = true)]
    pub(crate) server: Option<String>,
    /// The server's port.
    #[arg(long, value_name = "N", required = true)]
    pub(crate) port: Option<u16>,
    /// The protocol (tcp, udp, sctp, ... or a number).
    #[arg(long, value_name = "PROTO", default_value = "tcp")]
    pub(crate) proto: String,
    /// How long the exception lasts from now (2h, 3d, ...).
    #[arg(long, value_name = "DURATION", required = true, value_parser = crate::values::positive_duration("--ttl", "2h or 3d"))]
    pub(crate) ttl: Option<Duration>,
    /// The change ticket.
    #[arg(long, value_name = "TICKET", required = true)]
    pub(crate) ticket: Option<String>,
    /// Why it is needed.
    #[arg(long, value_name = "TEXT", required = true)]
    pub(crate) reason: Option<String>,
    /// Who grants it [default: $SUDO_USER, else $USER].
    #[arg(long, value_name = "WHO")]
    pub(crate) by: Option<String>,
}

/// `policy except list`.
#[derive(Debug, Args)]
pub(crate) struct ExceptListArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: ReportFormat,
}

/// `policy except revoke`.
#[derive(Debug, Args)]
pub(crate) struct ExceptRevokeArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// The exception's number (from `policy except list`).
    #[arg(value_name = "ID")]
    pub(crate) id: i64,
    /// The change ticket for the revocation.
    #[arg(long, value_name = "TICKET")]
    pub(crate) ticket: Option<String>,
    /// Who revokes it [default: $SUDO_USER, else $USER].
    #[arg(long, value_name = "WHO")]
    pub(crate) by: Option<String>,
}

/// `policy audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: ReportFormat,
}

/// `policy unused`.
#[derive(Debug, Args)]
pub(crate) struct UnusedArgs {
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// The draft whose rules to check.
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: PathBuf,
    /// A rule is unused after this many days without traffic (30, 60, 90).
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub(crate) days: u32,
    /// The day to count back from (YYYY-MM-DD, UTC) [default: the last day
    /// with stored data].
    #[arg(long, value_name = "DATE", value_parser = crate::values::date("--as-of"))]
    pub(crate) as_of: Option<Day>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: ReportFormat,
}

// ---- commands ------------------------------------------------------------

fn get_version(store: &Store, text: &str) -> anyhow::Result<PolicyVersion> {
    let n = lifecycle::version_number(text)?;
    store
        .policy_version(n)?
        .with_context(|| no_version(store, n))
}

fn no_version(store: &Store, n: i64) -> String {
    format!(
        "{}: no policy version {n}; `depmap policy list --db {}` shows the versions",
        store.path().display(),
        store.path().display()
    )
}

fn print_table(head: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:w$}  "));
            }
        }
        outln!("{}", s.trim_end())
    };
    line(head.to_vec())?;
    for r in rows {
        line(r.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

fn json_line(v: &impl serde::Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?)?;
    Ok(())
}

/// A JSON value as a table cell: strings bare, `-` for null.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_string(),
        other => other.to_string(),
    }
}

/// Prints report items as JSON, or as a table (`empty` when there are none).
fn emit(
    format: ReportFormat,
    items: &[serde_json::Value],
    empty: &str,
    head: &[&str],
    row: impl Fn(&serde_json::Value) -> Vec<String>,
) -> anyhow::Result<ExitCode> {
    match format {
        ReportFormat::Json => json_line(&items)?,
        ReportFormat::Table if items.is_empty() => outln!("{empty}")?,
        ReportFormat::Table => {
            let rows: Vec<Vec<String>> = items.iter().map(row).collect();
            print_table(head, &rows)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `policy list`.
pub(crate) fn list(a: ListArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&a.db.db)?;
    let rows: Vec<serde_json::Value> = lifecycle::versions(&store)?
        .iter()
        .map(|(v, rules)| {
            serde_json::json!({
                "version": v.id,
                "created_at": rfc3339(v.version.created_at),
                "author": v.version.author,
                "ticket": v.version.ticket,
                "rules": rules,
                "content_hash": v.content_hash,
                "note": v.version.note,
            })
        })
        .collect();
    emit(
        a.format,
        &rows,
        "no policy versions yet; `depmap policy draft` stores one",
        &[
            "VERSION", "CREATED", "AUTHOR", "TICKET", "RULES", "HASH", "NOTE",
        ],
        |r| {
            let hash = cell(&r["content_hash"]);
            vec![
                cell(&r["version"]),
                cell(&r["created_at"]),
                cell(&r["author"]),
                cell(&r["ticket"]),
                cell(&r["rules"]),
                hash.get(9..21).unwrap_or(&hash).to_string(),
                cell(&r["note"]),
            ]
        },
    )
}

/// `policy show`.
pub(crate) fn show(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&a.db.db)?;
    let v = get_version(&store, &a.version)?;
    outln!("{}", v.version.draft.trim_end())?;
    Ok(ExitCode::SUCCESS)
}

/// A diff side: a draft file if the path exists, else a stored version.
fn resolve(
    db: &Path,
    store: &mut Option<Store>,
    text: &str,
) -> anyhow::Result<(String, PolicyDraft)> {
    let path = Path::new(text);
    if path.is_file() {
        return Ok((text.to_string(), read_draft(path)?));
    }
    if lifecycle::version_number(text).is_err() {
        anyhow::bail!(
            "{text:?} is neither a draft file nor a version number (see `depmap policy list`)"
        );
    }
    if store.is_none() {
        *store = Some(Store::open_existing(db)?);
    }
    let Some(s) = store.as_ref() else {
        anyhow::bail!("cannot open {}", db.display());
    };
    let v = get_version(s, text)?;
    Ok((format!("version {}", v.id), lifecycle::version_draft(&v)?))
}

/// `policy diff`.
pub(crate) fn diff(a: DiffArgs) -> anyhow::Result<ExitCode> {
    let mut store = None;
    let (la, da) = resolve(&a.db.db, &mut store, &a.a)?;
    let (lb, db) = resolve(&a.db.db, &mut store, &a.b)?;
    let d = depmap_policy::diff(&da, &la, &db, &lb);
    match a.format {
        ReportFormat::Json => json_line(&d)?,
        ReportFormat::Table => out!("{}", depmap_policy::diff_table(&d))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `policy rollback`.
pub(crate) fn rollback(a: RollbackArgs) -> anyhow::Result<ExitCode> {
    let now = now()?;
    let mut store = Store::open_existing(&a.db.db)?;
    let n = lifecycle::version_number(&a.version)?;
    let r = lifecycle::plan_rollback(&store, n, now)?.with_context(|| no_version(&store, n))?;
    if let Some(out) = &a.out {
        std::fs::write(out, r.old.version.draft.trim_end().to_string() + "\n")
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let v = lifecycle::store_rollback(&mut store, &r, now, &who(&a.by), a.ticket.clone())?;
    outln!(
        "version {}: the content of version {} ({}){}",
        v.id,
        r.old.id,
        v.content_hash,
        a.out
            .as_ref()
            .map(|o| format!(", written to {}", o.display()))
            .unwrap_or_default()
    )?;
    if !r.ended.is_empty() {
        outln!(
            "warning: version {} allows exceptions that have ended since: {}; \
             make a new draft to drop them",
            r.old.id,
            r.ended.join(", ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_proto(text: &str) -> anyhow::Result<Proto> {
    text.to_ascii_lowercase()
        .parse::<Proto>()
        .ok()
        .with_context(|| format!("--proto {text:?}: use tcp, udp, sctp, ... or a protocol number"))
}

fn parse_client(text: &str) -> anyhow::Result<String> {
    if text.contains('/') {
        let c = Cidr::parse_masked(text)
            .with_context(|| format!("--client {text:?}: use an address or ADDRESS/PREFIX"))?;
        return Ok(c.with_prefix());
    }
    let ip: IpAddr = text
        .parse()
        .with_context(|| format!("--client {text:?}: use an address or ADDRESS/PREFIX"))?;
    Ok(ip.to_canonical().to_string())
}

/// `policy except ...`.
pub(crate) fn except(a: ExceptArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        Some(ExceptCommand::List(l)) => except_list(l),
        Some(ExceptCommand::Revoke(r)) => except_revoke(r),
        None => except_add(a.add),
    }
}

fn except_add(a: ExceptAddArgs) -> anyhow::Result<ExitCode> {
    let missing = |flag: &str| anyhow::anyhow!("policy except needs {flag}");
    let client = parse_client(&a.client.ok_or_else(|| missing("--client"))?)?;
    let server_text = a.server.ok_or_else(|| missing("--server"))?;
    let server: IpAddr = server_text
        .parse()
        .with_context(|| format!("--server {server_text:?} is not an IP address"))?;
    let port = a.port.ok_or_else(|| missing("--port"))?;
    let proto = parse_proto(&a.proto)?;
    let ttl = a.ttl.ok_or_else(|| missing("--ttl"))?;
    let ticket = a.ticket.ok_or_else(|| missing("--ticket"))?;
    let reason = a.reason.ok_or_else(|| missing("--reason"))?;
    if ticket.trim().is_empty() || reason.trim().is_empty() {
        anyhow::bail!("--ticket and --reason must not be empty: they are what a reviewer reads");
    }
    let now = now()?;
    let mut store = Store::open_existing(&a.db.db)?;
    let grant = Grant {
        client,
        server,
        port,
        proto,
        ttl,
        ticket,
        reason,
        author: who(&a.by),
    };
    let (stored, described) = lifecycle::grant_exception(&mut store, grant, now)?;
    let e = &stored.exception;
    outln!(
        "exception #{}: {}; ticket {}, by {}; drafts made before it expires include it",
        stored.id,
        described,
        e.ticket,
        e.author
    )?;
    Ok(ExitCode::SUCCESS)
}

fn except_list(a: ExceptListArgs) -> anyhow::Result<ExitCode> {
    let now = now()?;
    let store = Store::open_existing(&a.db.db)?;
    let items: Vec<serde_json::Value> = lifecycle::exceptions_at(&store, now)?
        .iter()
        .map(|(r, state)| {
            let e = &r.exception;
            serde_json::json!({
                "id": r.id,
                "state": state.name(),
                "client": e.client,
                "server": e.server,
                "port": e.port,
                "proto": e.proto,
                "created_at": rfc3339(e.created_at),
                "expires_at": rfc3339(e.expires_at),
                "revoked_at": r.revoked_at.map(rfc3339),
                "ticket": e.ticket,
                "reason": e.reason,
                "author": e.author,
            })
        })
        .collect();
    emit(
        a.format,
        &items,
        "no exceptions",
        &[
            "ID", "STATE", "CLIENT", "SERVICE", "EXPIRES", "TICKET", "BY", "REASON",
        ],
        |r| {
            vec![
                format!("#{}", r["id"]),
                cell(&r["state"]),
                cell(&r["client"]),
                format!("{}:{}/{}", cell(&r["server"]), r["port"], cell(&r["proto"])),
                cell(&r["expires_at"]),
                cell(&r["ticket"]),
                cell(&r["author"]),
                cell(&r["reason"]),
            ]
        },
    )
}

fn except_revoke(a: ExceptRevokeArgs) -> anyhow::Result<ExitCode> {
    let now = now()?;
    let mut store = Store::open_existing(&a.db.db)?;
    let by = who(&a.by);
    match lifecycle::revoke_exception(&mut store, a.id, now, &by, a.ticket.as_deref())? {
        Revoked::NoSuch => anyhow::bail!(
            "{}: no exception #{}; `depmap policy except list` shows them",
            store.path().display(),
            a.id
        ),
        Revoked::Already(at) => {
            outln!(
                "exception #{} was already revoked at {}",
                a.id,
                at.map(rfc3339).unwrap_or_default()
            )?;
        }
        Revoked::Now => outln!("exception #{} revoked by {by}", a.id)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `policy audit`.
pub(crate) fn audit(a: AuditArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&a.db.db)?;
    let items: Vec<serde_json::Value> = store
        .audit()?
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id, "at": rfc3339(r.at), "who": r.who,
                "action": r.action, "what": r.what, "ticket": r.ticket,
            })
        })
        .collect();
    emit(
        a.format,
        &items,
        "the audit trail is empty",
        &["ID", "AT", "WHO", "ACTION", "TICKET", "WHAT"],
        |r| {
            ["id", "at", "who", "action", "ticket", "what"]
                .iter()
                .map(|k| cell(&r[k]))
                .collect()
        },
    )
}

/// `policy unused`.
pub(crate) fn unused(a: UnusedArgs) -> anyhow::Result<ExitCode> {
    if a.days == 0 {
        anyhow::bail!("--days must be at least 1");
    }
    let d = read_draft(&a.policy)?;
    let store = Store::open_existing(&a.db.db)?;
    let as_of = a.as_of.map(|d| d.0);
    let r = lifecycle::unused(&store, &d, a.days, as_of)?.with_context(|| {
        format!(
            "{} holds no per-day activity to count back from; give --as-of DATE",
            store.path().display()
        )
    })?;
    if let ReportFormat::Json = a.format {
        json_line(&r)?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{} of {} learned rules unused for {} days or more as of {} ({} waiting for a periodic occurrence, {} exceptions not judged)",
        r.unused.len(),
        r.checked,
        r.days,
        r.as_of,
        r.waiting.len(),
        r.exceptions_skipped
    )?;
    let rows = |items: &[depmap_policy::UnusedRule], mark: &str| -> Vec<Vec<String>> {
        items
            .iter()
            .map(|u| {
                vec![
                    mark.to_string(),
                    format!("{}:{}/{}", u.server, u.port, u.proto),
                    u.client.clone(),
                    u.last_seen.clone().unwrap_or_else(|| "-".to_string()),
                    u.why.clone(),
                ]
            })
            .collect()
    };
    let mut table = rows(&r.unused, "unused");
    table.extend(rows(&r.waiting, "waiting"));
    if !table.is_empty() {
        print_table(&["STATE", "SERVICE", "CLIENT", "LAST SEEN", "WHY"], &table)?;
    }
    Ok(ExitCode::SUCCESS)
}
