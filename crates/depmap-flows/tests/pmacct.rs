//! Acceptance: every flow in pmacct's expected output is decoded from the
//! matching capture with the same addresses, ports, protocol, packets and
//! bytes.
//!
//! Two differences from pmacct are expected and checked, not hidden:
//! - pmacct reports `peer_ip_src` 172.21.1.101 / fd25::101 because its test
//!   harness replays the captures from those addresses; the captures' own
//!   exporters are 138.187.0.13, 138.187.57.55 and
//!   2001:4d98:a100:303:0:931:f:1, which is what depmap reports. The exporter
//!   is therefore not compared.
//! - pmacct aggregates records whose primitives are all equal. In test 111
//!   one expected flow (2001:4d98:a100:402:0:933:e:1 -> 2a02:a90:4007::11:1,
//!   20981/tcp, 3 packets, 4500 bytes) is the sum of two records in the
//!   capture (1 packet/1500 bytes and 2 packets/3000 bytes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::net::IpAddr;

use depmap_flows::FlowDecoderConfig;
use support::Key;

/// pmacct's expected flows, one JSON object per line.
fn expected(name: &str) -> Option<Vec<Key>> {
    let path = support::data_dir()?.join("ground-truth").join(name);
    let text = std::fs::read_to_string(&path).expect("read expected flows");
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        let ip = |k: &str| v[k].as_str().unwrap().parse::<IpAddr>().unwrap();
        let num = |k: &str| v[k].as_u64().unwrap();
        let proto = match &v["ip_proto"] {
            serde_json::Value::String(s) => match s.as_str() {
                "tcp" => 6,
                "udp" => 17,
                "icmp" => 1,
                "ipv6-icmp" | "icmpv6" => 58,
                other => other.parse().unwrap(),
            },
            n => n.as_u64().unwrap() as u8,
        };
        out.push((
            ip("ip_src"),
            ip("ip_dst"),
            num("port_src") as u16,
            num("port_dst") as u16,
            proto,
            num("packets"),
            num("bytes"),
        ));
    }
    Some(out)
}

/// Matches pmacct's flows against ours: exactly first, then (for what is
/// left) against the sum of our records with the same 5-tuple, which is
/// how pmacct aggregates. Returns (exact matches, aggregated matches as
/// (expected flow, number of our records summed)).
fn compare(expected: &[Key], decoded: &[Key]) -> (usize, Vec<(Key, usize)>) {
    let mut left: Vec<Option<Key>> = decoded.iter().copied().map(Some).collect();
    let mut unmatched = Vec::new();
    let mut exact = 0;
    for e in expected {
        match left.iter_mut().find(|d| d.as_ref() == Some(e)) {
            Some(slot) => {
                *slot = None;
                exact += 1;
            }
            None => unmatched.push(*e),
        }
    }
    let mut aggregated = Vec::new();
    for e in unmatched {
        let same_tuple = |d: &Key| (d.0, d.1, d.2, d.3, d.4) == (e.0, e.1, e.2, e.3, e.4);
        let group: Vec<usize> = (0..left.len())
            .filter(|&i| left[i].as_ref().is_some_and(same_tuple))
            .collect();
        let packets: u64 = group.iter().map(|&i| left[i].unwrap().5).sum();
        let bytes: u64 = group.iter().map(|&i| left[i].unwrap().6).sum();
        assert!(
            !group.is_empty() && (packets, bytes) == (e.5, e.6),
            "pmacct flow {e:?} not decoded (same 5-tuple: {} records, {packets} packets, {bytes} bytes)",
            group.len()
        );
        for i in &group {
            left[*i] = None;
        }
        aggregated.push((e, group.len()));
    }
    let extra: Vec<Key> = left.into_iter().flatten().collect();
    assert!(
        extra.is_empty(),
        "decoded but not in pmacct's output: {extra:?}"
    );
    (exact, aggregated)
}

fn decoded(captures: &[&str]) -> Option<Vec<Key>> {
    let run = support::run(captures, FlowDecoderConfig::default())?;
    assert!(run.errors.is_empty(), "{:?}", run.errors);
    assert_eq!(run.decoder.pending_sets(), 0);
    Some(run.records.iter().map(support::key).collect())
}

#[test]
fn pmacct_100_ipfix_cisco() {
    let (Some(exp), Some(got)) = (
        expected("pmacct__100-IPFIXv10-CISCO.expected-flows.json"),
        decoded(&["pmacct__100-IPFIXv10-CISCO.pcap"]),
    ) else {
        return;
    };
    assert_eq!((exp.len(), got.len()), (12, 12));
    let (exact, aggregated) = compare(&exp, &got);
    assert_eq!(exact, 12);
    assert!(aggregated.is_empty());
    // 8 IPv4 flows (observation domain 851968) and 4 IPv6 (917504).
    assert_eq!(got.iter().filter(|k| k.0.is_ipv6()).count(), 4);
}

#[test]
fn pmacct_101_netflow_v9_cisco() {
    let (Some(exp), Some(got)) = (
        expected("pmacct__101-NFv9-CISCO.expected-flows.json"),
        decoded(&["pmacct__101-NFv9-CISCO.pcap"]),
    ) else {
        return;
    };
    assert_eq!((exp.len(), got.len()), (51, 51));
    let (exact, aggregated) = compare(&exp, &got);
    assert_eq!(exact, 51);
    assert!(aggregated.is_empty());
}

/// Test 111 covers the IPv4 NetFlow v9 exporter (-00) and the IPFIX exporter
/// sending over IPv6 (-01) together.
#[test]
fn pmacct_111_ipfix_and_netflow_v9_mixed_sources() {
    let (Some(exp), Some(v9), Some(ipfix)) = (
        expected("pmacct__111-IPFIX-NFv9-mix.expected-flows.json"),
        decoded(&["pmacct__111-IPFIX-NFv9-mix-00.pcap"]),
        decoded(&["pmacct__111-IPFIX-NFv9-mix-01.pcap"]),
    ) else {
        return;
    };
    assert_eq!((v9.len(), ipfix.len()), (11, 13));
    let both = decoded(&[
        "pmacct__111-IPFIX-NFv9-mix-00.pcap",
        "pmacct__111-IPFIX-NFv9-mix-01.pcap",
    ])
    .unwrap();
    assert_eq!(exp.len(), 23);
    let (exact, aggregated) = compare(&exp, &both);
    assert_eq!(exact, 22);
    let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        aggregated,
        vec![(
            (
                v6("2001:4d98:a100:402:0:933:e:1"),
                v6("2a02:a90:4007::11:1"),
                20981,
                20981,
                6,
                3,
                4500
            ),
            2
        )]
    );
}
