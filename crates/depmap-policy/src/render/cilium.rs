//! Cilium: `cilium.io/v2` CiliumNetworkPolicies, one per protected service.
//!
//! - A server with inventory labels (a cluster endpoint) gets an ingress
//!   policy: `endpointSelector` from its labels, one ingress rule per allowed
//!   client (`fromEndpoints` by the client's labels, or `fromCIDR` for a
//!   client without labels) with `toPorts`, or `icmps` for ICMP. Selecting
//!   the endpoint puts its ingress in default deny, as the draft says.
//! - A server without labels (outside the cluster) gets egress rules, one
//!   per allowed client that has labels (`specs`): `toFQDNs` with the
//!   server's DNS-learned names when the draft has them, else `toCIDR`.
//!   Rules with `toFQDNs` also allow DNS to kube-dns through Cilium's DNS
//!   proxy (`rules.dns`), which is how Cilium learns the names' addresses.
//!   These rules set `enableDefaultDeny.egress: false`: Cilium's default
//!   deny is per selected endpoint, not per destination, so it cannot deny
//!   other clients the external server without cutting every client's other
//!   egress; this is reported.
//!
//! There is no maintained crate with Cilium's types, so the serde structs
//! below model the part of the CRD depmap writes (field names as in
//! `pkg/policy/api` of Cilium), strict about unknown fields so a rendering
//! reads back exactly.

use std::collections::{BTreeMap, BTreeSet};

use depmap_model::Inventory;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::{Deserialize, Serialize};

use super::{
    cluster_selector, expiry_report, object_name, services, with_prefix, ClusterSelector, Endpoint,
    KubeList, Proto, RenderError, Rendered, Report, Service,
};
use crate::{AllowRule, PolicyDraft};

/// A `cilium.io/v2` CiliumNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CiliumNetworkPolicy {
    /// `cilium.io/v2`.
    pub api_version: String,
    /// `CiliumNetworkPolicy`.
    pub kind: String,
    /// Name, namespace, labels, annotations (`depmap/evidence`).
    pub metadata: ObjectMeta,
    /// One rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<CiliumRule>,
    /// Several rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specs: Option<Vec<CiliumRule>>,
}

/// A policy rule: the endpoints it applies to and what they may receive or
/// send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CiliumRule {
    /// The endpoints the rule applies to.
    pub endpoint_selector: LabelSelector,
    /// Allowed ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<IngressRule>>,
    /// Allowed egress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<EgressRule>>,
    /// Whether selecting the endpoints puts them in default deny.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_default_deny: Option<DefaultDeny>,
    /// Free text: the service and the evidence in brief.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `enableDefaultDeny`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultDeny {
    /// For ingress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<bool>,
    /// For egress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<bool>,
}

/// One allowed source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngressRule {
    /// Cluster endpoints by labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_endpoints: Option<Vec<LabelSelector>>,
    /// Addresses and networks.
    #[serde(rename = "fromCIDR", default, skip_serializing_if = "Option::is_none")]
    pub from_cidr: Option<Vec<String>>,
    /// Ports and protocols.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ports: Option<Vec<PortRule>>,
    /// ICMP types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmps: Option<Vec<IcmpRule>>,
}

/// One allowed destination.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressRule {
    /// Cluster endpoints by labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_endpoints: Option<Vec<LabelSelector>>,
    /// Addresses and networks.
    #[serde(rename = "toCIDR", default, skip_serializing_if = "Option::is_none")]
    pub to_cidr: Option<Vec<String>>,
    /// DNS names.
    #[serde(rename = "toFQDNs", default, skip_serializing_if = "Option::is_none")]
    pub to_fqdns: Option<Vec<FqdnSelector>>,
    /// Ports and protocols.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ports: Option<Vec<PortRule>>,
    /// ICMP types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmps: Option<Vec<IcmpRule>>,
}

/// A DNS name to allow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FqdnSelector {
    /// An exact name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_name: Option<String>,
    /// A pattern (`*.example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_pattern: Option<String>,
}

/// Ports, and layer-7 rules on them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortRule {
    /// The ports.
    pub ports: Vec<PortProtocol>,
    /// Layer-7 rules (DNS, for the DNS proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<L7Rules>,
}

/// A port and its protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortProtocol {
    /// The port number, as a string.
    pub port: String,
    /// `TCP`, `UDP`, `SCTP` or `ANY`.
    pub protocol: String,
}

/// Layer-7 rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct L7Rules {
    /// DNS queries to allow (and so let the proxy see).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<FqdnSelector>>,
}

/// ICMP types.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IcmpRule {
    /// The allowed types.
    pub fields: Vec<IcmpField>,
}

/// One ICMP type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IcmpField {
    /// `IPv4` or `IPv6`.
    pub family: String,
    /// The ICMP type.
    #[serde(rename = "type")]
    pub icmp_type: u8,
}

/// The rendering: a `v1` `List` of CiliumNetworkPolicies.
pub type CiliumNetworkPolicyList = KubeList<CiliumNetworkPolicy>;

fn selector(c: ClusterSelector) -> LabelSelector {
    let mut labels = c.labels;
    if let Some(ns) = c.namespace {
        labels.insert("k8s:io.kubernetes.pod.namespace".to_string(), ns);
    }
    LabelSelector {
        match_labels: Some(labels),
        match_expressions: None,
    }
}

/// What a rule allows on top of its peer: `toPorts` or `icmps`, or `None`
/// (reported) for protocols Cilium does not match.
struct L4 {
    to_ports: Option<Vec<PortRule>>,
    icmps: Option<Vec<IcmpRule>>,
}

fn l4(s: &Service<'_>, reports: &mut Vec<Report>) -> Option<L4> {
    let port = |protocol: &str| L4 {
        to_ports: Some(vec![PortRule {
            ports: vec![PortProtocol {
                port: s.port.to_string(),
                protocol: protocol.to_string(),
            }],
            rules: None,
        }]),
        icmps: None,
    };
    let mut echo = |family: &str, icmp_type: u8| {
        reports.push(Report {
            subject: s.label(),
            message: format!(
                "Cilium's ICMP rules name types, and the draft does not record them: only echo \
                 requests ({family} type {icmp_type}, the client's side of an ICMP edge) are \
                 allowed, other ICMP types the edge carried are not expressed"
            ),
        });
        L4 {
            to_ports: None,
            icmps: Some(vec![IcmpRule {
                fields: vec![IcmpField {
                    family: family.to_string(),
                    icmp_type,
                }],
            }]),
        }
    };
    match s.proto {
        Proto::TCP => Some(port("TCP")),
        Proto::UDP => Some(port("UDP")),
        Proto::SCTP => Some(port("SCTP")),
        Proto::ICMP => Some(echo("IPv4", 8)),
        Proto::ICMPV6 => Some(echo("IPv6", 128)),
        _ => {
            reports.push(Report {
                subject: s.label(),
                message: format!(
                    "Cilium rules match only TCP, UDP, SCTP and ICMP: {} is not rendered",
                    s.proto_text
                ),
            });
            None
        }
    }
}

/// The DNS names of an address learned from DNS answers.
fn dns_names<'a>(d: &'a PolicyDraft, address: &str) -> Vec<&'a str> {
    d.names
        .get(address)
        .map(|v| {
            v.iter()
                .filter(|n| n.source == "dns")
                .map(|n| n.name.as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// Egress to kube-dns through Cilium's DNS proxy.
fn dns_visibility() -> EgressRule {
    EgressRule {
        to_endpoints: Some(vec![LabelSelector {
            match_labels: Some(BTreeMap::from([
                (
                    "k8s:io.kubernetes.pod.namespace".to_string(),
                    "kube-system".to_string(),
                ),
                ("k8s:k8s-app".to_string(), "kube-dns".to_string()),
            ])),
            match_expressions: None,
        }]),
        to_ports: Some(vec![PortRule {
            ports: vec![PortProtocol {
                port: "53".to_string(),
                protocol: "ANY".to_string(),
            }],
            rules: Some(L7Rules {
                dns: Some(vec![FqdnSelector {
                    match_name: None,
                    match_pattern: Some("*".to_string()),
                }]),
            }),
        }]),
        ..EgressRule::default()
    }
}

fn metadata(
    d: &PolicyDraft,
    s: &Service<'_>,
    namespace: Option<String>,
    evidence: &[&AllowRule],
) -> Result<ObjectMeta, RenderError> {
    Ok(ObjectMeta {
        name: Some(object_name(s)),
        namespace,
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_string(),
            "depmap".to_string(),
        )])),
        annotations: Some(super::k8s::annotations(d, s.label(), evidence)?),
        ..ObjectMeta::default()
    })
}

fn description(s: &Service<'_>, r: Option<&AllowRule>) -> Option<String> {
    Some(match r {
        Some(r) => format!(
            "depmap: {} -> {}; {}",
            r.client,
            s.label(),
            super::evidence_parts(r).join(", ")
        ),
        None => format!("depmap: allowed clients of {}", s.label()),
    })
}

/// Renders the policies (see the module docs).
pub(crate) fn render(d: &PolicyDraft, inv: &Inventory) -> Result<Rendered, RenderError> {
    let mut reports = Vec::new();
    let services = services(d);
    let mut items = Vec::new();
    let mut by_address: BTreeSet<String> = BTreeSet::new();
    for s in &services {
        let Some(l4) = l4(s, &mut reports) else {
            continue;
        };
        match cluster_selector(&s.server, &s.server_text, inv, &mut reports) {
            Some(server) => {
                let namespace = server.namespace.clone();
                let mut ingress = Vec::new();
                let mut evidence = Vec::new();
                for r in &s.rules {
                    let subject = s.rule_label(r);
                    let mut rule = IngressRule {
                        to_ports: l4.to_ports.clone(),
                        icmps: l4.icmps.clone(),
                        ..IngressRule::default()
                    };
                    match cluster_selector(&r.client, &r.rule.client.to_string(), inv, &mut reports)
                    {
                        Some(c) => rule.from_endpoints = Some(vec![selector(c)]),
                        None => {
                            let Some(nets) = r.client_networks(&subject, inv, &mut reports) else {
                                continue;
                            };
                            if by_address.insert(r.rule.client.to_string()) {
                                reports.push(unlabeled_client(d, r.rule, &r.client));
                            }
                            rule.from_cidr = Some(nets.iter().map(with_prefix).collect());
                        }
                    }
                    ingress.push(rule);
                    evidence.push(r.rule);
                }
                // Cilium applies a rule at ingress only when its ingress
                // list is not empty: a service with no client to allow (all
                // its rules lapsed or unresolvable) would be left open, so
                // it says default deny outright (Cilium 1.15 and later).
                let deny_all = ingress.is_empty().then_some(DefaultDeny {
                    ingress: Some(true),
                    egress: None,
                });
                items.push(CiliumNetworkPolicy {
                    api_version: "cilium.io/v2".to_string(),
                    kind: "CiliumNetworkPolicy".to_string(),
                    metadata: metadata(d, s, namespace, &evidence)?,
                    spec: Some(CiliumRule {
                        endpoint_selector: selector(server),
                        ingress: Some(ingress),
                        egress: None,
                        enable_default_deny: deny_all,
                        description: description(s, None),
                    }),
                    specs: None,
                });
            }
            None => {
                let names = dns_names(d, &s.server_text);
                let Some(servers) = s.server_networks(inv, &mut reports) else {
                    continue;
                };
                let to_cidr: Vec<String> = servers.iter().map(with_prefix).collect();
                let mut specs = Vec::new();
                let mut evidence = Vec::new();
                let mut namespace = None;
                for r in &s.rules {
                    let subject = s.rule_label(r);
                    let Some(c) =
                        cluster_selector(&r.client, &r.rule.client.to_string(), inv, &mut reports)
                    else {
                        reports.push(Report {
                            subject,
                            message: "neither the client nor the server has labels in the \
                                      inventory: Cilium policies apply to cluster endpoints, so \
                                      the rule is not rendered"
                                .to_string(),
                        });
                        continue;
                    };
                    namespace = namespace.or(c.namespace.clone());
                    let mut egress = vec![EgressRule {
                        to_ports: l4.to_ports.clone(),
                        icmps: l4.icmps.clone(),
                        ..EgressRule::default()
                    }];
                    if names.is_empty() {
                        egress[0].to_cidr = Some(to_cidr.clone());
                    } else {
                        egress[0].to_fqdns = Some(
                            names
                                .iter()
                                .map(|n| FqdnSelector {
                                    match_name: Some((*n).to_string()),
                                    match_pattern: None,
                                })
                                .collect(),
                        );
                        egress.push(dns_visibility());
                    }
                    specs.push(CiliumRule {
                        endpoint_selector: selector(c),
                        ingress: None,
                        egress: Some(egress),
                        enable_default_deny: Some(DefaultDeny {
                            ingress: None,
                            egress: Some(false),
                        }),
                        description: description(s, Some(r.rule)),
                    });
                    evidence.push(r.rule);
                }
                if specs.is_empty() {
                    continue;
                }
                reports.push(Report {
                    subject: s.label(),
                    message: format!(
                        "the server has no labels in the inventory (outside the cluster): \
                         rendered as egress rules of its {} labelled client(s), {}; Cilium's \
                         default deny is per selected endpoint, not per destination, so other \
                         cluster endpoints are not denied this server (enableDefaultDeny.egress \
                         is false, leaving the clients' other egress as it was)",
                        specs.len(),
                        if names.is_empty() {
                            "by address (toCIDR: no DNS name was learned for it)".to_string()
                        } else {
                            format!(
                                "by DNS name (toFQDNs {}, with DNS to kube-dns through the DNS \
                                 proxy so Cilium learns the name's addresses)",
                                names.join(", ")
                            )
                        }
                    ),
                });
                items.push(CiliumNetworkPolicy {
                    api_version: "cilium.io/v2".to_string(),
                    kind: "CiliumNetworkPolicy".to_string(),
                    metadata: metadata(d, s, namespace, &evidence)?,
                    spec: None,
                    specs: Some(specs),
                });
            }
        }
    }
    expiry_report(d, "CiliumNetworkPolicy", &mut reports);
    let text =
        serde_json::to_string_pretty(&KubeList::new(items)).map_err(RenderError::Json)? + "\n";
    Ok(Rendered { text, reports })
}

/// The report for a client allowed by address.
fn unlabeled_client(d: &PolicyDraft, rule: &AllowRule, client: &Endpoint) -> Report {
    let names: Vec<&str> = d
        .names
        .get(&rule.client.to_string())
        .map(|v| v.iter().map(|n| n.name.as_str()).collect())
        .unwrap_or_default();
    let mut message = match client {
        Endpoint::Role(_) => "no label is shared by every host of the role, so endpoints cannot \
                              select it: allowed by address (fromCIDR)"
            .to_string(),
        Endpoint::Net(c) if !c.is_host() => "the network has no inventory entry of its own \
                                             with labels, so it cannot be selected as an \
                                             endpoint: allowed by address (fromCIDR), right for \
                                             hosts outside the cluster"
            .to_string(),
        Endpoint::Net(_) => "the client has no labels in the inventory, so it cannot be selected \
                             as an endpoint: allowed by address (fromCIDR), right for a host \
                             outside the cluster"
            .to_string(),
    };
    if !names.is_empty() {
        message.push_str(&format!(
            "; its name(s) {} are not used: Cilium cannot select ingress sources by DNS name",
            names.join(", ")
        ));
    }
    Report {
        subject: rule.client.to_string(),
        message,
    }
}
