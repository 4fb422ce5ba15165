//! AWS security groups: one group per protected service, as the request
//! bodies of the EC2 API (`CreateSecurityGroup`, then
//! `AuthorizeSecurityGroupIngress` with `IpPermissions`), each allowed
//! client one `IpRanges` / `Ipv6Ranges` entry whose `Description` carries
//! the evidence. Security groups deny every inbound packet no group of the
//! instance allows, so the draft's default deny needs no rule; attach the
//! group (and no broader one) to the server named in `AttachTo`.

use depmap_model::{Cidr, Inventory};
use serde::{Deserialize, Serialize};

use super::{
    evidence_comment, expiry_report, services, with_prefix, EvidenceField, Proto, RenderError,
    Rendered, Report,
};
use crate::PolicyDraft;

/// AWS limits a rule's and a group's description to this many characters.
pub const DESCRIPTION_MAX: usize = 255;

/// The default quota of inbound rules per security group (each address
/// range is one rule).
pub const RULES_PER_GROUP: usize = 60;

/// The whole rendering.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AwsRendering {
    /// Where it comes from (the draft and its time).
    pub source: String,
    /// The draft's warnings.
    pub warnings: Vec<String>,
    /// Edges under review: not allowed (so denied) until a person decides.
    pub review: Vec<String>,
    /// One group per protected service.
    pub security_groups: Vec<SecurityGroup>,
}

/// One security group and its inbound rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SecurityGroup {
    /// The protected service (`10.0.0.2 tcp/5432`).
    pub service: String,
    /// The addresses of the instances or interfaces to attach it to.
    pub attach_to: Vec<String>,
    /// The `CreateSecurityGroup` request body (add `VpcId`).
    pub create_security_group: CreateSecurityGroup,
    /// The `AuthorizeSecurityGroupIngress` request body (for a VPC group,
    /// replace `GroupName` with the `GroupId` that create returned).
    pub authorize_security_group_ingress: AuthorizeIngress,
}

/// `CreateSecurityGroup`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateSecurityGroup {
    /// The group's name.
    pub group_name: String,
    /// What it is for.
    pub description: String,
}

/// `AuthorizeSecurityGroupIngress`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AuthorizeIngress {
    /// The group's name.
    pub group_name: String,
    /// The rules.
    pub ip_permissions: Vec<IpPermission>,
}

/// One `IpPermission`: a protocol and port range, and the allowed sources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IpPermission {
    /// `tcp`, `udp`, `icmp`, `icmpv6` or a protocol number.
    pub ip_protocol: String,
    /// First port (ICMP: type, -1 for all); absent for other protocols.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    /// Last port (ICMP: code, -1 for all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    /// IPv4 sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_ranges: Vec<IpRange>,
    /// IPv6 sources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv6_ranges: Vec<Ipv6Range>,
}

/// An IPv4 source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IpRange {
    /// `10.0.0.1/32`.
    pub cidr_ip: String,
    /// The evidence.
    pub description: String,
}

/// An IPv6 source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Ipv6Range {
    /// `fd00::1/128`.
    pub cidr_ipv6: String,
    /// The evidence.
    pub description: String,
}

/// Characters AWS accepts in descriptions.
fn aws_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

/// A rule's description.
const DESCRIPTION: EvidenceField = EvidenceField {
    limit: DESCRIPTION_MAX,
    allowed: aws_char,
    what: "security group rule description",
};

/// Renders the groups (see the module docs).
pub(crate) fn render(d: &PolicyDraft, inv: &Inventory) -> Result<Rendered, RenderError> {
    let mut reports = Vec::new();
    let services = services(d);
    let mut groups = Vec::new();
    for s in &services {
        // A service that allows no client (its clients all left for review,
        // or its rules lapsed) needs no group: security groups only allow.
        if s.rules.is_empty() {
            continue;
        }
        let Some(servers) = s.server_networks(inv, &mut reports) else {
            continue;
        };
        let (ip_protocol, from_port, to_port) = match s.proto {
            Proto::TCP => (
                "tcp".to_string(),
                Some(i32::from(s.port)),
                Some(i32::from(s.port)),
            ),
            Proto::UDP => (
                "udp".to_string(),
                Some(i32::from(s.port)),
                Some(i32::from(s.port)),
            ),
            Proto::ICMP => ("icmp".to_string(), Some(-1), Some(-1)),
            Proto::ICMPV6 => ("icmpv6".to_string(), Some(-1), Some(-1)),
            Proto(n) => {
                if s.proto.has_ports() {
                    reports.push(Report {
                        subject: s.label(),
                        message: format!(
                            "security groups match ports only for TCP and UDP: the rule allows \
                             every {} port, not only {}",
                            s.proto_text, s.port
                        ),
                    });
                }
                (n.to_string(), None, None)
            }
        };
        let mut perm = IpPermission {
            ip_protocol,
            from_port,
            to_port,
            ip_ranges: Vec::new(),
            ipv6_ranges: Vec::new(),
        };
        for r in &s.rules {
            let subject = s.rule_label(r);
            let Some(clients) = r.client_networks(&subject, inv, &mut reports) else {
                continue;
            };
            let description = evidence_comment(r.rule, &DESCRIPTION, &subject, &mut reports);
            for c in clients {
                let cidr = with_prefix(&c);
                if c.addr().is_ipv4() {
                    perm.ip_ranges.push(IpRange {
                        cidr_ip: cidr,
                        description: description.clone(),
                    });
                } else {
                    perm.ipv6_ranges.push(Ipv6Range {
                        cidr_ipv6: cidr,
                        description: description.clone(),
                    });
                }
            }
        }
        let ranges = perm.ip_ranges.len() + perm.ipv6_ranges.len();
        if ranges > RULES_PER_GROUP {
            reports.push(Report {
                subject: s.label(),
                message: format!(
                    "{ranges} address ranges, more than the default quota of {RULES_PER_GROUP} \
                     inbound rules per security group: raise the quota or group the clients \
                     into networks or roles"
                ),
            });
        }
        let name = super::object_name(s);
        let description: String =
            format!("depmap: {} allowed clients of {}", s.rules.len(), s.label())
                .chars()
                .map(|c| if aws_char(c) { c } else { '_' })
                .take(DESCRIPTION_MAX)
                .collect();
        groups.push(SecurityGroup {
            service: s.label(),
            attach_to: servers.iter().map(Cidr::to_string).collect(),
            create_security_group: CreateSecurityGroup {
                group_name: name.clone(),
                description,
            },
            authorize_security_group_ingress: AuthorizeIngress {
                group_name: name,
                ip_permissions: if ranges > 0 { vec![perm] } else { Vec::new() },
            },
        });
    }
    expiry_report(d, "AWS security group", &mut reports);
    let doc = AwsRendering {
        source: format!(
            "depmap policy render --format aws-sg: {} draft generated {}",
            d.schema, d.generated_at
        ),
        warnings: d.warnings.clone(),
        review: super::review_lines(d),
        security_groups: groups,
    };
    let text = serde_json::to_string_pretty(&doc).map_err(RenderError::Json)? + "\n";
    Ok(Rendered { text, reports })
}
