//! `depmap policy draft` and `depmap policy simulate`; the lifecycle
//! commands are in `policy_life`.

use std::process::ExitCode;

use anyhow::Context;
use depmap_model::Day;
use depmap_policy::lifecycle::{self, DraftRequest};
use depmap_policy::{simulate, DraftOptions, Scope};
use depmap_store::Store;

use crate::cli::{PolicyArgs, PolicyCommand, PolicyDraftArgs, PolicySimulateArgs};
use crate::policy_life;

/// Exit status of `policy simulate` when the policy would deny traffic.
const EXIT_WOULD_DENY: u8 = 3;

pub(crate) fn run(args: PolicyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PolicyCommand::Draft(a) => draft_cmd(a),
        PolicyCommand::Simulate(a) => simulate_cmd(a),
        PolicyCommand::List(a) => policy_life::list(a),
        PolicyCommand::Show(a) => policy_life::show(a),
        PolicyCommand::Diff(a) => policy_life::diff(a),
        PolicyCommand::Rollback(a) => policy_life::rollback(a),
        PolicyCommand::Except(a) => policy_life::except(a),
        PolicyCommand::Audit(a) => policy_life::audit(a),
        PolicyCommand::Unused(a) => policy_life::unused(a),
        PolicyCommand::Render(a) => crate::policy_render::run(a),
    }
}

fn window(from: Option<Day>, to: Option<Day>) -> anyhow::Result<(Option<i32>, Option<i32>)> {
    let (from, to) = (from.map(|d| d.0), to.map(|d| d.0));
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            anyhow::bail!("--from is after --to: the learning window would be empty");
        }
    }
    Ok((from, to))
}

fn draft_cmd(a: PolicyDraftArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = window(a.from, a.to)?;
    let mut store = Store::open_existing(&a.db.db)?;
    let now = policy_life::now()?;
    let expires = a.expires.map(|d| now + d.as_nanos() as i64);
    let opts = DraftOptions {
        min_connections: a.min_connections,
        ticket: a.ticket.clone(),
        owner: a.owner.clone(),
        expires,
        generated_at: now,
    };
    let inventory = a
        .inventory
        .as_deref()
        .map(crate::inventory::load)
        .transpose()?;
    let scope = a
        .scope
        .as_deref()
        .map(|v| Scope::parse(v).map_err(|e| anyhow::anyhow!("--scope: {e}")))
        .transpose()?;
    if let (Some(Scope::Role(role)), None) = (&scope, &inventory) {
        anyhow::bail!(
            "--scope {role} names a role; give --inventory FILE so depmap knows which hosts \
             have it (docs/INVENTORY.md), or scope by network (e.g. --scope 10.0.4.0/24)"
        );
    }
    let request = DraftRequest {
        from_day: from,
        to_day: to,
        min_days: a.min_days,
        options: opts,
        scope: scope.as_ref(),
        inventory: inventory.as_ref(),
    };
    let lifecycle::Drafted { draft: d, expired } = lifecycle::draft_from_store(&store, &request)?;
    std::fs::write(&a.out, depmap_policy::to_json(&d) + "\n")
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    let author = policy_life::who(&a.by);
    let version = lifecycle::store_draft(&mut store, &d, &expired, now, &author, a.ticket.clone())?;
    outln!(
        "wrote {}: {} services, {} allow rules, {} edges for review, default deny",
        a.out.display(),
        d.services.len(),
        d.rule_count(),
        d.review.len()
    )?;
    outln!(
        "stored as version {} in {}",
        version.id,
        store.path().display()
    )?;
    for e in &d.expired_exceptions {
        outln!(
            "expired exception #{} ({}) left out: {} -> {}:{}/{}",
            e.id,
            e.ticket,
            e.client,
            e.server,
            e.port,
            e.proto
        )?;
    }
    for w in &d.warnings {
        outln!("warning: {w}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn simulate_cmd(a: PolicySimulateArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = window(a.from, a.to)?;
    let mut policy = policy_life::read_draft(&a.policy)?;
    let lapsed = policy_life::drop_lapsed(&mut policy)?;
    let activity = policy_life::traffic(&a.db.db, &a.pcap, &a.flows)?;
    let denied = simulate(&policy, &activity, from, to);
    for r in &lapsed {
        // On standard error, so the JSON on standard output stays one document.
        eprintln!("depmap: {}", policy_life::lapsed_line(r));
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&denied)?)?;
    } else if denied.is_empty() {
        outln!("the policy allows all recorded traffic in the window")?;
    } else {
        outln!(
            "the policy would deny {} edge(s) seen in the recorded traffic:",
            denied.len()
        )?;
        for d in &denied {
            let shown: Vec<&str> = d.when.iter().take(6).map(String::as_str).collect();
            let more = d.when.len().saturating_sub(shown.len());
            outln!(
                "  {} -> {}:{}/{}  {} connection(s), at {}{}",
                d.client,
                d.server,
                d.port,
                d.proto,
                d.connections,
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more hours")
                } else {
                    String::new()
                }
            )?;
        }
    }
    Ok(if denied.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_WOULD_DENY)
    })
}
