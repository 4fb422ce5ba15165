//! Kubernetes: one `networking.k8s.io/v1` NetworkPolicy per protected
//! service, selecting the server's pods by its inventory labels, with one
//! ingress rule per allowed client: a pod selector from the client's labels,
//! or an `ipBlock` for a client without labels (a host outside the cluster).
//! A NetworkPolicy that selects a pod denies every other ingress to it, which
//! is the draft's default deny. The output is a `v1` `List` (JSON, which
//! `kubectl apply -f` reads); each policy's `depmap/evidence` annotation is
//! a JSON array with the draft's rule (client, evidence, owner, ticket,
//! expiry) for each entry of `spec.ingress`, in order.
//!
//! An inventory label `namespace` is not a pod label: it puts the policy in
//! that namespace (server) or selects the client's namespace by
//! `kubernetes.io/metadata.name`. Without it the policy has no namespace
//! (`kubectl apply -n NS`) and client pods are selected in the same
//! namespace.

use std::collections::{BTreeMap, BTreeSet};

use depmap_model::Inventory;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    cluster_selector, expiry_report, object_name, services, with_prefix, Endpoint, KubeList, Proto,
    RenderError, Rendered, Report,
};
use crate::{AllowRule, PolicyDraft};

/// The rendering: a `v1` `List` of NetworkPolicies.
pub type NetworkPolicyList = KubeList<NetworkPolicy>;

fn selector(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels),
        match_expressions: None,
    }
}

/// The annotations every depmap policy carries.
pub(crate) fn annotations(
    d: &PolicyDraft,
    service: String,
    evidence: &[&AllowRule],
) -> Result<BTreeMap<String, String>, RenderError> {
    let mut a = BTreeMap::new();
    a.insert(
        "depmap/draft".to_string(),
        format!("{} generated {}", d.schema, d.generated_at),
    );
    a.insert("depmap/service".to_string(), service);
    a.insert(
        "depmap/evidence".to_string(),
        serde_json::to_string(evidence).map_err(RenderError::Json)?,
    );
    Ok(a)
}

/// Renders the policies (see the module docs).
pub(crate) fn render(d: &PolicyDraft, inv: &Inventory) -> Result<Rendered, RenderError> {
    let mut reports = Vec::new();
    let services = services(d);
    let mut items = Vec::new();
    let mut by_address: BTreeSet<String> = BTreeSet::new();
    for s in &services {
        let protocol = match s.proto {
            Proto::TCP => "TCP",
            Proto::UDP => "UDP",
            Proto::SCTP => "SCTP",
            _ => {
                reports.push(Report {
                    subject: s.label(),
                    message: format!(
                        "NetworkPolicy allows only TCP, UDP and SCTP: {} is not rendered, so a \
                         pod that any NetworkPolicy selects will not receive it",
                        s.proto_text
                    ),
                });
                continue;
            }
        };
        let Some(server) = cluster_selector(&s.server, &s.server_text, inv, &mut reports) else {
            reports.push(Report {
                subject: s.label(),
                message: "the server has no labels in the inventory, so no NetworkPolicy can \
                          select it: the service is not rendered (give its inventory entry \
                          labels, or enforce it with the nftables, iptables or AWS rendering)"
                    .to_string(),
            });
            continue;
        };
        let port = if s.port == 0 {
            reports.push(Report {
                subject: s.label(),
                message: "port 0 cannot be named in a NetworkPolicy: the rule allows every port"
                    .to_string(),
            });
            None
        } else {
            Some(IntOrString::Int(i32::from(s.port)))
        };
        let mut ingress = Vec::new();
        let mut evidence: Vec<&AllowRule> = Vec::new();
        for r in &s.rules {
            let subject = s.rule_label(r);
            let peers =
                match cluster_selector(&r.client, &r.rule.client.to_string(), inv, &mut reports) {
                    Some(c) => vec![NetworkPolicyPeer {
                        pod_selector: Some(selector(c.labels)),
                        namespace_selector: c.namespace.map(|ns| {
                            selector(BTreeMap::from([(
                                "kubernetes.io/metadata.name".to_string(),
                                ns,
                            )]))
                        }),
                        ip_block: None,
                    }],
                    None => {
                        let Some(nets) = r.client_networks(&subject, inv, &mut reports) else {
                            continue;
                        };
                        if by_address.insert(r.rule.client.to_string()) {
                            reports.push(Report {
                                subject: r.rule.client.to_string(),
                                message: match &r.client {
                                    Endpoint::Role(_) => "no label is shared by every host of \
                                        the role, so pods cannot select it: allowed by address \
                                        (ipBlock)"
                                        .to_string(),
                                    Endpoint::Net(c) if !c.is_host() => {
                                        "the network has no inventory entry of its \
                                        own with labels, so it cannot be selected as pods: allowed \
                                        by address (ipBlock), right for hosts outside the cluster"
                                            .to_string()
                                    }
                                    Endpoint::Net(_) => "the client has no labels in the \
                                        inventory, so it cannot be selected as pods: allowed by \
                                        address (ipBlock), right for a host outside the cluster"
                                        .to_string(),
                                },
                            });
                        }
                        nets.iter()
                            .map(|n| NetworkPolicyPeer {
                                ip_block: Some(IPBlock {
                                    cidr: with_prefix(n),
                                    except: None,
                                }),
                                namespace_selector: None,
                                pod_selector: None,
                            })
                            .collect()
                    }
                };
            ingress.push(NetworkPolicyIngressRule {
                from: Some(peers),
                ports: Some(vec![NetworkPolicyPort {
                    port: port.clone(),
                    protocol: Some(protocol.to_string()),
                    end_port: None,
                }]),
            });
            evidence.push(r.rule);
        }
        items.push(NetworkPolicy {
            metadata: ObjectMeta {
                name: Some(object_name(s)),
                namespace: server.namespace,
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_string(),
                    "depmap".to_string(),
                )])),
                annotations: Some(annotations(d, s.label(), &evidence)?),
                ..ObjectMeta::default()
            },
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(selector(server.labels)),
                policy_types: Some(vec!["Ingress".to_string()]),
                ingress: Some(ingress),
                egress: None,
            }),
        });
    }
    expiry_report(d, "NetworkPolicy", &mut reports);
    let text =
        serde_json::to_string_pretty(&KubeList::new(items)).map_err(RenderError::Json)? + "\n";
    Ok(Rendered { text, reports })
}
