//! `depmap demo`: the whole job on depmap's own synthetic traffic, for a
//! clone that has no captures of its own.

use std::fs::{self, File};
use std::io::BufWriter;
use std::process::{Command, ExitCode};

use anyhow::Context;
use depmap_edges::FlowConfig;
use depmap_graph::{GroupBy, GroupOptions, Map, SharedTier};
use depmap_model::{Cidr, InventoryEntry};
use depmap_policy::{draft, DraftOptions};
use depmap_store::{MapStore, Store};
use depmap_synth::{Role, Scenario};

use crate::cli::DemoArgs;
use crate::ingest::print_report;
use depmap_ingest::{ingest_file, Outcome};

pub(crate) fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let pcap = dir.join("demo.pcap");
    let db = dir.join("depmap.db");
    // The demo starts from an empty store each time, so running it twice
    // shows the same map rather than doubled counts.
    for p in depmap_store::store_files(&db) {
        if p.exists() {
            fs::remove_file(&p)
                .with_context(|| format!("cannot remove the old {}", p.display()))?;
        }
    }

    let scenario = Scenario::small_company();
    let out = BufWriter::new(
        File::create(&pcap).with_context(|| format!("cannot create {}", pcap.display()))?,
    );
    let summary = scenario
        .traffic(Scenario::DEMO_SEED)
        .write_pcap(out)
        .with_context(|| format!("cannot write {}", pcap.display()))?;
    outln!(
        "1. wrote {}: a synthetic capture of a small company's services over {} days \
         ({} packets, {:.1} MB)",
        pcap.display(),
        scenario.days(),
        summary.frames,
        summary.file_bytes as f64 / 1e6
    )?;

    let clock = crate::clock::fixed()?;
    let mut store = Store::open(&db)?;
    let mut bar = crate::ingest::Bar::default();
    match ingest_file(
        &mut store,
        &pcap,
        FlowConfig::default(),
        true,
        &*clock,
        &mut bar,
    )? {
        Outcome::Done(report) => {
            outln!("2. mapped it into {}:", db.display())?;
            print_report(&pcap, &report, false)?;
        }
        Outcome::Partial(_, err) => return Err(err.into()),
        Outcome::Repeat(r) => anyhow::bail!("{r}"),
    }

    // The inventory a company would keep, written from the scenario's host
    // table and read back through the same checks as --inventory.
    let inventory_path = dir.join("inventory.toml");
    let text = depmap_model::inventory_file::to_toml(
        &inventory_entries(&scenario)?,
        "depmap demo: the synthetic company's hosts -> name, role, labels.\n\
         Use it with: depmap export --inventory inventory.toml [--group-by role] [--shared-tier]\n\
         Format: docs/INVENTORY.md",
    );
    fs::write(&inventory_path, text)
        .with_context(|| format!("cannot write {}", inventory_path.display()))?;
    let inventory = crate::inventory::load(&inventory_path)?;
    outln!(
        "3. wrote an inventory of the company's hosts (names, roles, labels): {}",
        inventory_path.display()
    )?;

    let mut map = Map::load(&store, 7)?;
    map.set_inventory(&inventory);
    let json = dir.join("map.json");
    let dot = dir.join("map.dot");
    let svg = dir.join("map.svg");
    let policy = dir.join("policy-draft.json");
    fs::write(&json, map.to_json() + "\n")
        .with_context(|| format!("cannot write {}", json.display()))?;
    fs::write(&dot, map.to_dot()).with_context(|| format!("cannot write {}", dot.display()))?;
    let roles = map.group(&GroupOptions {
        by: GroupBy::Role,
        shared_tier: Some(SharedTier::default()),
    });
    let roles_json = dir.join("map-roles.json");
    let roles_dot = dir.join("map-roles.dot");
    let roles_svg = dir.join("map-roles.svg");
    fs::write(&roles_json, roles.to_json() + "\n")
        .with_context(|| format!("cannot write {}", roles_json.display()))?;
    fs::write(&roles_dot, roles.to_dot())
        .with_context(|| format!("cannot write {}", roles_dot.display()))?;
    outln!(
        "4. wrote the map ({} hosts, {} edges): {} and {}; and grouped by role with a shared \
         infrastructure tier ({} nodes, {} edges): {} and {}",
        map.host_count(),
        map.edges().len(),
        json.display(),
        dot.display(),
        roles.node_count(),
        roles.edge_count(),
        roles_json.display(),
        roles_dot.display()
    )?;

    let now = clock.now_ns();
    let mut d = draft(
        map.edges(),
        &DraftOptions {
            ticket: Some("DEMO-1".to_string()),
            owner: Some("platform-team".to_string()),
            generated_at: now,
            ..DraftOptions::default()
        },
    );
    depmap_policy::add_names(&mut d, &store.names()?);
    fs::write(&policy, depmap_policy::to_json(&d) + "\n")
        .with_context(|| format!("cannot write {}", policy.display()))?;
    outln!(
        "5. wrote a rule draft: {} ({} services with allow-lists, {} edges for review, default deny)",
        policy.display(),
        d.services.len(),
        d.review.len()
    )?;

    for (dot, svg) in [(&dot, &svg), (&roles_dot, &roles_svg)] {
        match Command::new("dot")
            .arg("-Tsvg")
            .arg(dot)
            .arg("-o")
            .arg(svg)
            .status()
        {
            Ok(s) if s.success() => {}
            Ok(s) => anyhow::bail!(
                "Graphviz failed ({s}) drawing {}; the JSON, DOT and rule draft are written",
                dot.display()
            ),
            Err(e) => anyhow::bail!(
                "cannot run Graphviz's `dot` ({e}); install graphviz (./scripts/setup does) to get \
                 {}. The JSON, DOT and rule draft are written",
                svg.display()
            ),
        }
    }
    outln!(
        "6. drew the maps with Graphviz: {} and {}",
        svg.display(),
        roles_svg.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The scenario's host table as an inventory: the office networks (a
/// `site` label every host in them inherits), then one entry per address
/// with its name, role and `env` label (and `app` for the web shop's hosts).
fn inventory_entries(scenario: &Scenario) -> anyhow::Result<Vec<InventoryEntry>> {
    let mut entries = Vec::new();
    for net in ["10.10.0.0/16", "fd00:10:10::/48"] {
        let cidr: Cidr = net.parse()?;
        entries.push(InventoryEntry::new(cidr).with_label("site", "hq"));
    }
    for h in scenario.hosts() {
        let env = match h.role {
            Role::Workstation => "office",
            Role::External => "partner",
            _ => "prod",
        };
        let mut e = InventoryEntry::new(Cidr::host(h.addr))
            .with_name(&h.name)
            .with_role(h.role.name())
            .with_label("env", env);
        if matches!(
            h.role,
            Role::LoadBalancer | Role::AppServer | Role::Database | Role::Cache
        ) {
            e = e.with_label("app", "shop");
        }
        entries.push(e);
    }
    Ok(entries)
}
