//! The renderers on a fixed sample: a small shop's cluster (web, database,
//! cache, monitoring, batch jobs), a partner outside it, an external payments
//! API known by a DNS name, an IPv6 wiki, an ICMP check and a GRE tunnel.
//! Golden files (insta snapshots in `tests/snapshots/`) pin every rendering
//! and its reports; nftables and iptables output is checked by the real
//! tools when they are installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use depmap_edges::calendar::days_from_civil;
use depmap_edges::{DayActivity, EdgeKey, NameRecord, NameSource, NANOS_PER_DAY};
use depmap_model::{Inventory, InventoryEntry};
use depmap_policy::render::aws::AwsRendering;
use depmap_policy::render::cilium::CiliumNetworkPolicyList;
use depmap_policy::render::k8s::NetworkPolicyList;
use depmap_policy::render::{render, RenderError, Rendered, Target};
use depmap_policy::{add_names, draft_window, AllowRule, DraftOptions, ExceptionMark, PolicyDraft};

const TCP: u8 = 6;

fn key(client: &str, server: &str, port: u16, proto: u8) -> EdgeKey {
    EdgeKey {
        client: client.parse().unwrap(),
        server: server.parse().unwrap(),
        port,
        proto,
    }
}

/// 35 days of traffic from 2026-10-01; the payments call only on Mondays.
fn sample_draft() -> PolicyDraft {
    let first = days_from_civil(2026, 10, 1);
    let daily = [
        key("10.20.1.10", "10.20.2.20", 5432, TCP),
        key("10.20.1.11", "10.20.2.20", 5432, TCP),
        key("10.20.1.10", "10.20.3.30", 6379, TCP),
        key("10.20.1.11", "10.20.3.30", 6379, TCP),
        key("192.0.2.50", "10.20.1.10", 443, TCP),
        key("10.20.9.5", "10.20.2.20", 9187, TCP),
        key("10.20.9.5", "10.20.2.20", 0, 1),
        key("fd00:20::99", "fd00:20::10", 443, TCP),
        key("10.20.2.20", "10.20.4.4", 0, 47),
    ];
    let mut activity = Vec::new();
    for day in first..first + 35 {
        for k in &daily {
            activity.push((
                *k,
                DayActivity {
                    day,
                    hours: 1 << 9 | 1 << 14,
                    connections: 24,
                    packets: 480,
                    bytes: 96_000,
                },
            ));
        }
        // 2026-10-05 is a Monday.
        if (day - days_from_civil(2026, 10, 5)) % 7 == 0 {
            activity.push((
                key("10.20.1.10", "198.51.100.7", 443, TCP),
                DayActivity {
                    day,
                    hours: 1 << 6,
                    connections: 3,
                    packets: 60,
                    bytes: 12_000,
                },
            ));
        }
    }
    // Seen once: for review, not allowed.
    activity.push((
        key("10.20.1.10", "10.20.2.20", 22, TCP),
        DayActivity {
            day: first + 20,
            hours: 1 << 23,
            connections: 1,
            packets: 30,
            bytes: 4_000,
        },
    ));
    activity.sort_by_key(|(k, a)| (*k, a.day));
    let end = i64::from(first + 35) * NANOS_PER_DAY;
    let mut d = draft_window(
        &activity,
        None,
        None,
        1,
        &DraftOptions {
            min_connections: 2,
            ticket: Some("CHG-2041".to_string()),
            owner: Some("Platform Team (Zürich)".to_string()),
            expires: Some(end + 90 * NANOS_PER_DAY),
            generated_at: end,
        },
    );
    let name = |address: &str, name: &str, source| NameRecord {
        address: address.parse().unwrap(),
        name: name.to_string(),
        source,
        first_seen: 0,
        last_seen: end,
    };
    add_names(
        &mut d,
        &[
            name("198.51.100.7", "api.payments.example", NameSource::Dns),
            name("198.51.100.7", "api.payments.example", NameSource::Sni),
            name("192.0.2.50", "gw.partner.example", NameSource::Dns),
            name("10.20.2.20", "db.shop.internal", NameSource::Dns),
        ],
    );
    // Rules a reviewer added by hand: the batch network and every
    // monitoring host may use the cache.
    let cache = d
        .services
        .iter_mut()
        .find(|s| s.server == "10.20.3.30")
        .unwrap();
    let template = cache.allow[0].clone();
    for client in ["10.20.8.0/24", "role:monitoring"] {
        cache.allow.push(AllowRule {
            client: client.parse().unwrap(),
            ..template.clone()
        });
    }
    // A time-bound exception: an engineer's laptop may reach the database
    // for two hours.
    let db = d
        .services
        .iter_mut()
        .find(|s| s.server == "10.20.2.20" && s.port == 5432)
        .unwrap();
    let mut exception = db.allow[0].clone();
    exception.client = "10.20.7.15".parse().unwrap();
    exception.ticket = Some("INC-77".to_string());
    exception.expires = Some("2026-11-05T02:00:00.000000Z".parse().unwrap());
    exception.evidence.source = "exception".to_string();
    exception.exception = Some(ExceptionMark {
        id: 3,
        ticket: "INC-77".to_string(),
        reason: "restore the \"orders\" table".to_string(),
        granted_by: "oncall".to_string(),
        granted_at: "2026-11-05T00:00:00.000000Z".parse().unwrap(),
        expires: "2026-11-05T02:00:00.000000Z".parse().unwrap(),
    });
    db.allow.push(exception);
    d
}

fn entry(addr: &str, role: Option<&str>, labels: &[(&str, &str)]) -> InventoryEntry {
    let mut e = InventoryEntry::new(addr.parse().unwrap());
    if let Some(r) = role {
        e = e.with_role(r);
    }
    for (k, v) in labels {
        e = e.with_label(k, v);
    }
    e
}

/// A host or network of the cluster: its role, its `app` label and its
/// namespace (also a label, as the renderers read it).
fn workload(addr: &str, role: &str, app: &str, namespace: &str) -> InventoryEntry {
    entry(addr, Some(role), &[("app", app), ("namespace", namespace)])
}

fn sample_inventory() -> Inventory {
    Inventory::new(vec![
        workload("10.20.1.10", "web", "web", "shop").with_label("pod", "web-0"),
        workload("10.20.1.11", "web", "web", "shop").with_label("pod", "web-1"),
        workload("10.20.2.20", "database", "postgres", "shop"),
        workload("10.20.3.30", "cache", "redis", "shop"),
        workload("10.20.9.5", "monitoring", "prometheus", "monitoring"),
        workload("10.20.8.0/24", "batch", "batch", "jobs"),
        workload("fd00:20::10", "wiki", "wiki", "tools"),
        entry("192.0.2.50", Some("partner"), &[]).with_name("gw.partner.example"),
        entry("fd00:20::99", Some("admin"), &[]),
    ])
}

fn rendered(target: Target) -> Rendered {
    render(target, &sample_draft(), Some(&sample_inventory())).unwrap()
}

/// Whether a report about `subject` says `needle`.
fn said(r: &Rendered, subject: &str, needle: &str) -> bool {
    r.reports
        .iter()
        .any(|x| x.subject == subject && x.message.contains(needle))
}

fn reports_text(r: &Rendered) -> String {
    r.reports
        .iter()
        .map(|r| format!("{r}\n"))
        .collect::<String>()
}

/// Runs a checker on the rendering; `None` (with the reason printed) when
/// the tool is missing or may not run here.
fn check_with(tool: &str, args: &[&str], text: &str, ext: &str) -> Option<std::process::Output> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("rules.{ext}"));
    std::fs::write(&file, text).unwrap();
    let out = match Command::new(tool).args(args).arg(&file).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: cannot run {tool} ({e}); ./scripts/setup installs it");
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success()
        && (stderr.contains("Operation not permitted") || stderr.contains("Permission denied"))
    {
        eprintln!("skipped: {tool} may not run here (needs CAP_NET_ADMIN): {stderr}");
        return None;
    }
    Some(out)
}

/// Has the first of `tools` that is installed check `text` with `args`
/// and asserts that it accepts it; skips (saying so) when none is
/// installed (`package` has them) or it may not run here.
fn assert_accepted_by(tools: &[&str], package: &str, args: &[&str], text: &str, ext: &str) {
    let Some(tool) = find_tool(tools) else {
        eprintln!(
            "skipped: {} is not installed (./scripts/setup installs {package})",
            tools[0]
        );
        return;
    };
    let Some(out) = check_with(&tool, args, text, ext) else {
        return;
    };
    let command = format!("{tool} {}", args.join(" "));
    assert!(
        out.status.success(),
        "{command} refused the rendering:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{command} accepted the rendering");
}

fn find_tool(names: &[&str]) -> Option<String> {
    for n in names {
        for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"] {
            let p = format!("{dir}/{n}");
            if std::path::Path::new(&p).exists() {
                return Some(p);
            }
        }
    }
    None
}

#[test]
fn nftables_rendering_passes_nft_check() {
    let r = rendered(Target::Nftables);
    insta::assert_snapshot!("nftables", r.text);
    insta::assert_snapshot!("nftables_reports", reports_text(&r));
    // Every allow rule carries its evidence; every protected server has its drop.
    assert!(r.text.contains(
        "ip saddr 10.20.1.10 ip daddr 10.20.2.20 tcp dport 5432 accept comment \"depmap: ticket CHG-2041"
    ));
    assert!(r
        .text
        .contains("ip6 saddr fd00:20::99 ip6 daddr fd00:20::10 tcp dport 443 accept"));
    for server in [
        "10.20.2.20",
        "10.20.3.30",
        "10.20.1.10",
        "198.51.100.7",
        "10.20.4.4",
    ] {
        assert!(
            r.text.contains(&format!("ip daddr {server} drop")),
            "{server}"
        );
    }
    assert!(r.text.contains("ip6 daddr fd00:20::10 drop"));
    assert_accepted_by(&["nft"], "nftables", &["-c", "-f"], &r.text, "nft");
}

#[test]
fn iptables_rendering_is_golden_and_passes_iptables_restore_test() {
    let r = rendered(Target::Iptables);
    insta::assert_snapshot!("iptables", r.text);
    insta::assert_snapshot!("iptables_reports", reports_text(&r));
    assert!(r
        .text
        .starts_with("# depmap policy render --format iptables"));
    assert!(r.text.contains("\n*filter\n:INPUT ACCEPT [0:0]\n"));
    assert!(r.text.ends_with("COMMIT\n"));
    assert!(said(&r, "fd00:20::10 tcp/443", "IPv4 only"));
    assert_accepted_by(
        &["iptables-restore", "iptables-legacy-restore"],
        "iptables",
        &["--test"],
        &r.text,
        "rules",
    );
}

#[test]
fn kubernetes_rendering_reads_back_as_typed_network_policies() {
    let d = sample_draft();
    let r = rendered(Target::Kubernetes);
    insta::assert_snapshot!("k8s", r.text);
    insta::assert_snapshot!("k8s_reports", reports_text(&r));
    let list: NetworkPolicyList = serde_json::from_str(&r.text).unwrap();
    assert_eq!(
        (list.api_version.as_str(), list.kind.as_str()),
        ("v1", "List")
    );
    // Writing the typed policies again gives the same text.
    assert_eq!(serde_json::to_string_pretty(&list).unwrap() + "\n", r.text);

    let db = list
        .items
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("depmap-10-20-2-20-tcp-5432"))
        .unwrap();
    assert_eq!(db.metadata.namespace.as_deref(), Some("shop"));
    let spec = db.spec.as_ref().unwrap();
    let selector = spec
        .pod_selector
        .as_ref()
        .unwrap()
        .match_labels
        .as_ref()
        .unwrap();
    assert_eq!(selector.get("app").map(String::as_str), Some("postgres"));
    assert!(!selector.contains_key("namespace"));
    let ingress = spec.ingress.as_ref().unwrap();
    // Evidence: one entry per ingress rule, the draft's own rules.
    let annotations = db.metadata.annotations.as_ref().unwrap();
    let evidence: Vec<AllowRule> = serde_json::from_str(&annotations["depmap/evidence"]).unwrap();
    let service = d
        .services
        .iter()
        .find(|s| s.server == "10.20.2.20" && s.port == 5432)
        .unwrap();
    assert_eq!(evidence, service.allow);
    assert_eq!(ingress.len(), evidence.len());
    let web0 = ingress[0].from.as_ref().unwrap()[0]
        .pod_selector
        .as_ref()
        .unwrap()
        .match_labels
        .as_ref()
        .unwrap();
    assert_eq!(web0.get("pod").map(String::as_str), Some("web-0"));

    // The partner outside the cluster is allowed by address.
    let web = list
        .items
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("depmap-10-20-1-10-tcp-443"))
        .unwrap();
    let peer = &web.spec.as_ref().unwrap().ingress.as_ref().unwrap()[0]
        .from
        .as_ref()
        .unwrap()[0];
    assert_eq!(peer.ip_block.as_ref().unwrap().cidr, "192.0.2.50/32");

    // What NetworkPolicy cannot say is reported, not dropped.
    assert!(said(&r, "10.20.2.20 icmp", "only TCP, UDP and SCTP"));
    assert!(said(&r, "10.20.4.4 gre", "only TCP, UDP and SCTP"));
    assert!(said(
        &r,
        "198.51.100.7 tcp/443",
        "no labels in the inventory"
    ));
    assert!(said(&r, "192.0.2.50", "ipBlock"));
    assert!(said(&r, "draft", "expiry"));
    let rendered_services = list.items.len();
    assert_eq!(
        rendered_services,
        d.services.len() - 3,
        "icmp, gre and the external API"
    );
}

#[test]
fn cilium_rendering_reads_back_as_typed_policies_with_fqdns() {
    let r = rendered(Target::Cilium);
    insta::assert_snapshot!("cilium", r.text);
    insta::assert_snapshot!("cilium_reports", reports_text(&r));
    let list: CiliumNetworkPolicyList = serde_json::from_str(&r.text).unwrap();
    assert_eq!(serde_json::to_string_pretty(&list).unwrap() + "\n", r.text);
    assert!(list
        .items
        .iter()
        .all(|p| p.api_version == "cilium.io/v2" && p.kind == "CiliumNetworkPolicy"));

    // The external payments API: egress of its cluster client by DNS name.
    let api = list
        .items
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("depmap-198-51-100-7-tcp-443"))
        .unwrap();
    let specs = api.specs.as_ref().unwrap();
    assert_eq!(specs.len(), 1);
    let egress = specs[0].egress.as_ref().unwrap();
    let fqdns = egress[0].to_fqdns.as_ref().unwrap();
    assert_eq!(fqdns[0].match_name.as_deref(), Some("api.payments.example"));
    assert_eq!(egress[0].to_ports.as_ref().unwrap()[0].ports[0].port, "443");
    assert!(
        egress[1].to_ports.as_ref().unwrap()[0].rules.is_some(),
        "DNS proxy rule"
    );
    assert_eq!(
        specs[0].enable_default_deny.as_ref().unwrap().egress,
        Some(false)
    );

    // ICMP is expressed as echo requests, and that is reported.
    let icmp = list
        .items
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("depmap-10-20-2-20-icmp"))
        .unwrap();
    let rule = &icmp.spec.as_ref().unwrap().ingress.as_ref().unwrap()[0];
    assert_eq!(rule.icmps.as_ref().unwrap()[0].fields[0].icmp_type, 8);
    assert!(said(&r, "10.20.2.20 icmp", "echo requests"));
    assert!(said(&r, "10.20.4.4 gre", "only TCP, UDP, SCTP and ICMP"));
    assert!(said(
        &r,
        "192.0.2.50",
        "cannot select ingress sources by DNS name"
    ));
    assert!(said(&r, "198.51.100.7 tcp/443", "per selected endpoint"));
}

#[test]
fn aws_rendering_is_golden_and_within_ec2_limits() {
    let r = rendered(Target::AwsSg);
    insta::assert_snapshot!("aws_sg", r.text);
    insta::assert_snapshot!("aws_sg_reports", reports_text(&r));
    let doc: AwsRendering = serde_json::from_str(&r.text).unwrap();
    // One group per service that allows a client.
    let allowing = sample_draft()
        .services
        .iter()
        .filter(|s| !s.allow.is_empty())
        .count();
    assert_eq!(doc.security_groups.len(), allowing);
    let allowed = |c: char| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c);
    for g in &doc.security_groups {
        for p in &g.authorize_security_group_ingress.ip_permissions {
            for d in p
                .ip_ranges
                .iter()
                .map(|x| &x.description)
                .chain(p.ipv6_ranges.iter().map(|x| &x.description))
            {
                assert!(d.len() <= 255 && d.chars().all(allowed), "{d}");
                assert!(
                    d.contains("ticket CHG-2041") || d.contains("ticket INC-77"),
                    "{d}"
                );
            }
        }
    }
    let db = doc
        .security_groups
        .iter()
        .find(|g| g.service == "10.20.2.20 tcp/5432")
        .unwrap();
    let perm = &db.authorize_security_group_ingress.ip_permissions[0];
    assert_eq!(
        (perm.ip_protocol.as_str(), perm.from_port, perm.to_port),
        ("tcp", Some(5432), Some(5432))
    );
    let gre = doc
        .security_groups
        .iter()
        .find(|g| g.service == "10.20.4.4 gre")
        .unwrap();
    assert_eq!(
        gre.authorize_security_group_ingress.ip_permissions[0].ip_protocol,
        "47"
    );
    // The owner's 'ü' is not allowed in a description: replaced and reported.
    assert!(r
        .reports
        .iter()
        .any(|x| x.message.contains("replaced by '_'")));
}

#[test]
fn role_clients_resolve_through_the_inventory_or_are_reported() {
    let d = sample_draft();
    let with = render(Target::Nftables, &d, Some(&sample_inventory())).unwrap();
    assert!(with
        .text
        .contains("ip saddr 10.20.9.5 ip daddr 10.20.3.30 tcp dport 6379 accept"));
    let without = render(Target::Nftables, &d, None).unwrap();
    assert!(said(
        &without,
        "role:monitoring -> 10.20.3.30 tcp/6379",
        "no inventory entry has role"
    ));
    assert!(!without
        .text
        .contains("ip saddr 10.20.9.5 ip daddr 10.20.3.30"));
}

#[test]
fn a_document_that_is_not_a_draft_is_refused() {
    let mut d = sample_draft();
    d.schema = "depmap.policy/v0".to_string();
    let err = render(Target::Nftables, &d, None).unwrap_err();
    assert!(matches!(err, RenderError::Schema { .. }));
    assert!(err.to_string().contains("depmap.policy/v1"));
}

#[test]
fn broad_selectors_bad_labels_and_group_quotas_are_reported() {
    let mut d = sample_draft();
    // 61 clients of one service: more ranges than a security group holds.
    let web = d
        .services
        .iter_mut()
        .find(|s| s.server == "10.20.1.10")
        .unwrap();
    let template = web.allow[0].clone();
    for i in 1..=60 {
        web.allow.push(AllowRule {
            client: format!("192.0.2.{}", 100 + i).parse().unwrap(),
            ..template.clone()
        });
    }
    let aws = render(Target::AwsSg, &d, None).unwrap();
    assert!(said(
        &aws,
        "10.20.1.10 tcp/443",
        "61 address ranges, more than the default quota of 60"
    ));

    // Two databases share every label, and a label value has spaces.
    let inv = Inventory::new(vec![
        entry("10.20.2.20", Some("database"), &[("app", "postgres")]),
        entry("10.20.2.21", Some("database"), &[("app", "postgres")]),
        entry(
            "10.20.1.10",
            Some("web"),
            &[("app", "web"), ("rack", "floor 1, east")],
        ),
    ]);
    let k8s = render(Target::Kubernetes, &sample_draft(), Some(&inv)).unwrap();
    assert!(said(
        &k8s,
        "10.20.2.20",
        "selected by labels {app=postgres}, which the inventory also gives 1 other host(s) or \
         network(s) (10.20.2.21)"
    ));
    assert!(said(
        &k8s,
        "10.20.1.10",
        "rack=floor 1, east are not valid Kubernetes labels"
    ));
    // The same host is reported once, however many rules it is in.
    assert_eq!(
        k8s.reports
            .iter()
            .filter(|x| x.subject == "10.20.2.20")
            .count(),
        1
    );
    let list: NetworkPolicyList = serde_json::from_str(&k8s.text).unwrap();
    let web = list
        .items
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("depmap-10-20-1-10-tcp-443"))
        .unwrap();
    let labels = web.spec.as_ref().unwrap().pod_selector.as_ref().unwrap();
    assert!(!labels.match_labels.as_ref().unwrap().contains_key("rack"));
}

#[test]
fn a_service_that_allows_no_client_stays_denied_in_every_target() {
    // What is left of a service when every rule of it lapsed: nothing may
    // reach it, and every rendering must still say so.
    let mut d = sample_draft();
    // 10.20.3.30 has no other service: its own deny must come from this one.
    for s in &mut d.services {
        if (s.server == "10.20.2.20" && s.port == 5432) || s.server == "10.20.3.30" {
            s.allow.clear();
        }
    }
    let inv = sample_inventory();
    let text = |t: Target| render(t, &d, Some(&inv)).unwrap().text;
    let nft = text(Target::Nftables);
    assert!(nft.contains("ip daddr 10.20.2.20 drop"), "{nft}");
    assert!(nft.contains("ip daddr 10.20.3.30 drop"), "{nft}");
    let ipt = text(Target::Iptables);
    assert!(ipt.contains("-A DEPMAP -d 10.20.2.20/32"), "{ipt}");
    assert!(ipt.contains("-A DEPMAP -d 10.20.3.30/32"), "{ipt}");
    let policy = |t: Target| -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&text(t)).unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["metadata"]["name"] == "depmap-10-20-2-20-tcp-5432")
            .cloned()
            .expect("a policy for the service")
    };
    // Kubernetes: an Ingress policy with no rule denies all ingress.
    let k8s = policy(Target::Kubernetes);
    assert_eq!(k8s["spec"]["ingress"], serde_json::json!([]));
    assert_eq!(k8s["spec"]["policyTypes"], serde_json::json!(["Ingress"]));
    // Cilium ignores an empty ingress list, so default deny is explicit.
    let cilium = policy(Target::Cilium);
    assert_eq!(cilium["spec"]["enableDefaultDeny"]["ingress"], true);
    let typed: depmap_policy::render::cilium::CiliumNetworkPolicyList =
        serde_json::from_str(&text(Target::Cilium)).unwrap();
    assert!(!typed.items.is_empty());
    // AWS: security groups only allow, so the service gets no group.
    let aws: serde_json::Value = serde_json::from_str(&text(Target::AwsSg)).unwrap();
    let services: Vec<&str> = aws["SecurityGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["Service"].as_str().unwrap())
        .collect();
    assert!(services.contains(&"10.20.2.20 tcp/9187"), "{services:?}");
    assert!(!services.contains(&"10.20.2.20 tcp/5432"), "{services:?}");
}
