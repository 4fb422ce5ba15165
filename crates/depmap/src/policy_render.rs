//! `depmap policy render`: a draft compiled to nftables, iptables,
//! Kubernetes, Cilium or AWS security groups (`depmap_policy::render`),
//! with what the target cannot express reported on standard error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use depmap_policy::render::{render, Target};

#[derive(Debug, Args)]
pub(crate) struct PolicyRenderArgs {
    /// The target: an nftables ruleset, iptables-restore input, Kubernetes
    /// NetworkPolicies, CiliumNetworkPolicies, or AWS security groups.
    #[arg(long, value_enum)]
    pub(crate) format: RenderFormat,
    /// Inventory (TOML or CSV, docs/INVENTORY.md): its labels select pods
    /// for k8s and cilium, its roles resolve role:NAME clients and servers.
    #[arg(long, value_name = "FILE")]
    pub(crate) inventory: Option<PathBuf>,
    /// Write the rendering here [default: standard output].
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// The draft (JSON from `depmap policy draft`, docs/POLICY.md).
    #[arg(value_name = "DRAFT")]
    pub(crate) draft: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RenderFormat {
    Nftables,
    Iptables,
    K8s,
    Cilium,
    AwsSg,
}

impl RenderFormat {
    fn target(self) -> Target {
        match self {
            RenderFormat::Nftables => Target::Nftables,
            RenderFormat::Iptables => Target::Iptables,
            RenderFormat::K8s => Target::Kubernetes,
            RenderFormat::Cilium => Target::Cilium,
            RenderFormat::AwsSg => Target::AwsSg,
        }
    }
}

pub(crate) fn run(a: PolicyRenderArgs) -> anyhow::Result<ExitCode> {
    let mut draft = crate::policy_life::read_draft(&a.draft)?;
    let lapsed = crate::policy_life::drop_lapsed(&mut draft)?;
    for r in &lapsed {
        eprintln!("depmap: {}", crate::policy_life::lapsed_line(r));
    }
    let inventory = a
        .inventory
        .as_deref()
        .map(crate::inventory::load)
        .transpose()?;
    let target = a.format.target();
    let out = render(target, &draft, inventory.as_ref())
        .with_context(|| format!("cannot render {}", a.draft.display()))?;
    match &a.out {
        Some(path) => std::fs::write(path, &out.text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => out!("{}", out.text)?,
    }
    for r in &out.reports {
        eprintln!("depmap: not expressed in {}: {r}", target.name());
    }
    eprintln!(
        "depmap: rendered {} services, {} allow rules for {}{}; {} thing(s) not expressed exactly{}",
        draft.services.len(),
        draft.rule_count(),
        target.name(),
        a.out
            .as_ref()
            .map(|p| format!(" into {}", p.display()))
            .unwrap_or_default(),
        out.reports.len(),
        if out.reports.is_empty() {
            ""
        } else {
            " (listed above)"
        }
    );
    Ok(ExitCode::SUCCESS)
}
