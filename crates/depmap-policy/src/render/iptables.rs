//! iptables: `iptables-restore` input for the whole filter table. A
//! `DEPMAP` chain accepts established and related traffic, then each
//! allowed client of each protected service, then drops every other packet
//! to a protected server (the draft's default deny) and returns the rest.
//! `INPUT` and `FORWARD` jump to it. IPv4 only: `iptables-restore` does not
//! take IPv6 rules, so those are reported (render nftables for both).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use depmap_model::{Cidr, Inventory};

use super::{
    evidence_comment, expiry_report, header_lines, services, with_prefix, EvidenceField, Proto,
    Rendered, Report,
};
use crate::PolicyDraft;

/// The comment match keeps at most this many bytes.
pub const COMMENT_MAX: usize = 255;

/// The comment match: quotes and backslashes would end or escape it.
const COMMENT: EvidenceField = EvidenceField {
    limit: COMMENT_MAX,
    allowed: |c| c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\' && c != '\''),
    what: "iptables comment",
};

/// Renders the table (see the module docs).
pub(crate) fn render(d: &PolicyDraft, inv: &Inventory) -> Rendered {
    let mut reports = Vec::new();
    let services = services(d);
    let mut rules = String::new();
    let mut protected: BTreeSet<Cidr> = BTreeSet::new();
    for s in &services {
        let Some(servers) = s.server_networks(inv, &mut reports) else {
            continue;
        };
        let (v4, v6): (Vec<Cidr>, Vec<Cidr>) =
            servers.into_iter().partition(|c| c.addr().is_ipv4());
        if !v6.is_empty() {
            reports.push(Report {
                subject: s.label(),
                message: format!(
                    "IPv6 server address(es) {} are not rendered: iptables-restore input is \
                     IPv4 only (the nftables rendering covers both)",
                    list(&v6)
                ),
            });
        }
        if v4.is_empty() {
            continue;
        }
        if s.proto == Proto::ICMPV6 {
            reports.push(Report {
                subject: s.label(),
                message: "ICMPv6 is not rendered: iptables-restore input is IPv4 only".to_string(),
            });
            continue;
        }
        let l4 = l4_match(s.proto, s.port);
        if s.proto == Proto::UDPLITE {
            reports.push(Report {
                subject: s.label(),
                message: format!(
                    "iptables has no port match for UDP-Lite: the rules allow every UDP-Lite \
                     port of the server, not only {}",
                    s.port
                ),
            });
        }
        for r in &s.rules {
            let subject = s.rule_label(r);
            let Some(clients) = r.client_networks(&subject, inv, &mut reports) else {
                continue;
            };
            let c4: Vec<Cidr> = clients
                .iter()
                .copied()
                .filter(|c| c.addr().is_ipv4())
                .collect();
            if c4.len() < clients.len() {
                reports.push(Report {
                    subject: subject.clone(),
                    message: "IPv6 client address(es) are not rendered: iptables-restore input \
                              is IPv4 only"
                        .to_string(),
                });
            }
            let comment = evidence_comment(r.rule, &COMMENT, &subject, &mut reports);
            for c in &c4 {
                for sv in &v4 {
                    let _ = writeln!(
                        rules,
                        "-A DEPMAP -s {} -d {} {l4}-m comment --comment \"{comment}\" -j ACCEPT",
                        with_prefix(c),
                        with_prefix(sv)
                    );
                }
            }
        }
        protected.extend(v4);
    }
    expiry_report(d, "iptables", &mut reports);

    let mut out = String::new();
    header_lines(d, "iptables", &mut out, "# ");
    let _ = writeln!(
        out,
        "# Load with `iptables-restore FILE`: it replaces the whole filter table (with\n\
         # --noflush, drop the two jump lines if INPUT and FORWARD already jump to DEPMAP).\n\
         # Check with `iptables-restore --test FILE`."
    );
    let _ = writeln!(out, "*filter");
    for chain in [
        "INPUT ACCEPT",
        "FORWARD ACCEPT",
        "OUTPUT ACCEPT",
        "DEPMAP -",
    ] {
        let _ = writeln!(out, ":{chain} [0:0]");
    }
    let _ = writeln!(out, "-A INPUT -j DEPMAP");
    let _ = writeln!(out, "-A FORWARD -j DEPMAP");
    let _ = writeln!(
        out,
        "-A DEPMAP -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    );
    out.push_str(&rules);
    for c in &protected {
        let _ = writeln!(
            out,
            "-A DEPMAP -d {} -m comment --comment \"depmap: default deny, not in the allow-list\" -j DROP",
            with_prefix(c)
        );
    }
    let _ = writeln!(out, "COMMIT");
    Rendered { text: out, reports }
}

fn list(nets: &[Cidr]) -> String {
    nets.iter()
        .map(Cidr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The protocol (and port) match, ending with a space.
fn l4_match(p: Proto, port: u16) -> String {
    match p {
        Proto::TCP => format!("-p tcp -m tcp --dport {port} "),
        Proto::UDP => format!("-p udp -m udp --dport {port} "),
        Proto::SCTP => format!("-p sctp -m sctp --dport {port} "),
        Proto::DCCP => format!("-p dccp -m dccp --dport {port} "),
        Proto::ICMP => "-p icmp ".to_string(),
        Proto(n) => format!("-p {n} "),
    }
}
