//! nftables: one `table inet depmap` whose `allow` chain accepts each
//! allowed client of each protected service, then drops every other packet
//! to a protected server (the draft's default deny). `input` and `forward`
//! base chains jump to it after accepting established and related traffic,
//! so the ruleset works on the servers themselves and on a router in front
//! of them. Loading the file replaces the table and nothing else.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use depmap_model::{Cidr, Inventory};

use super::{evidence_comment, expiry_report, services, EvidenceField, Proto, Rendered, Report};
use crate::PolicyDraft;

/// nftables refuses comments longer than this (bytes).
pub const COMMENT_MAX: usize = 128;

/// A rule's comment: a quoted string (one byte of the limit is its end), so
/// no quotes or backslashes.
const COMMENT: EvidenceField = EvidenceField {
    limit: COMMENT_MAX - 1,
    allowed: |c| c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\'),
    what: "nftables comment",
};

/// Renders the ruleset (see the module docs).
pub(crate) fn render(d: &PolicyDraft, inv: &Inventory) -> Rendered {
    let mut reports = Vec::new();
    let services = services(d);
    let mut rules = String::new();
    let mut protected: BTreeSet<Cidr> = BTreeSet::new();
    for s in &services {
        let Some(servers) = s.server_networks(inv, &mut reports) else {
            continue;
        };
        let l4 = l4_match(s.proto, s.port);
        let _ = writeln!(
            rules,
            "\t\t# {}: {} allowed client(s)",
            s.label(),
            s.rules.len()
        );
        for r in &s.rules {
            let subject = s.rule_label(r);
            let Some(clients) = r.client_networks(&subject, inv, &mut reports) else {
                continue;
            };
            let comment = evidence_comment(r.rule, &COMMENT, &subject, &mut reports);
            let mut any = false;
            for v6 in [false, true] {
                let c: Vec<Cidr> = clients
                    .iter()
                    .copied()
                    .filter(|c| c.addr().is_ipv6() == v6)
                    .collect();
                let sv: Vec<Cidr> = servers
                    .iter()
                    .copied()
                    .filter(|c| c.addr().is_ipv6() == v6)
                    .collect();
                if c.is_empty() || sv.is_empty() {
                    continue;
                }
                any = true;
                let fam = if v6 { "ip6" } else { "ip" };
                let _ = writeln!(
                    rules,
                    "\t\t{fam} saddr {} {fam} daddr {} {l4} accept comment \"{comment}\"",
                    set(&c),
                    set(&sv)
                );
            }
            if !any {
                reports.push(Report {
                    subject,
                    message: "client and server addresses are of different families (IPv4, \
                              IPv6); no rule can match both, the rule is not rendered"
                        .to_string(),
                });
            }
        }
        protected.extend(servers);
    }
    expiry_report(d, "nftables", &mut reports);

    let mut out = String::new();
    let _ = writeln!(out, "#!/usr/sbin/nft -f");
    super::header_lines(d, "nftables", &mut out, "# ");
    let _ = writeln!(
        out,
        "# Load with `nft -f FILE` (replaces table inet depmap, touches nothing else);\n\
         # check with `nft -c -f FILE`. Established and related traffic is accepted,\n\
         # then the allow rules, then every other packet to a protected server is dropped."
    );
    out.push('\n');
    let _ = writeln!(out, "table inet depmap");
    let _ = writeln!(out, "delete table inet depmap\n");
    let _ = writeln!(out, "table inet depmap {{");
    let _ = writeln!(out, "\tchain allow {{");
    out.push_str(&rules);
    if !protected.is_empty() {
        let _ = writeln!(
            out,
            "\t\t# default deny: every other packet to a protected server"
        );
    }
    for c in &protected {
        let fam = if c.addr().is_ipv6() { "ip6" } else { "ip" };
        let _ = writeln!(
            out,
            "\t\t{fam} daddr {c} drop comment \"depmap: default deny, not in the allow-list\""
        );
    }
    let _ = writeln!(out, "\t}}");
    for (chain, hook) in [("input", "input"), ("forward", "forward")] {
        let _ = writeln!(
            out,
            "\n\tchain {chain} {{\n\
             \t\ttype filter hook {hook} priority filter; policy accept;\n\
             \t\tct state established,related accept\n\
             \t\tjump allow\n\
             \t}}"
        );
    }
    let _ = writeln!(out, "}}");
    Rendered { text: out, reports }
}

/// `10.0.0.1` or `{ 10.0.0.1, 10.0.1.0/24 }`.
fn set(nets: &[Cidr]) -> String {
    match nets {
        [one] => one.to_string(),
        many => {
            let parts: Vec<String> = many.iter().map(Cidr::to_string).collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// The layer-4 match of a service.
fn l4_match(p: Proto, port: u16) -> String {
    match p {
        Proto::TCP => format!("tcp dport {port}"),
        Proto::UDP => format!("udp dport {port}"),
        Proto::SCTP => format!("sctp dport {port}"),
        Proto::DCCP => format!("dccp dport {port}"),
        Proto::UDPLITE => format!("meta l4proto udplite th dport {port}"),
        Proto::ICMP => "meta l4proto icmp".to_string(),
        Proto::ICMPV6 => "meta l4proto ipv6-icmp".to_string(),
        Proto(n) => format!("meta l4proto {n}"),
    }
}
