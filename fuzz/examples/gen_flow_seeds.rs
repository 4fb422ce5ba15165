//! Writes seed inputs for the `netflow_datagrams` and `sflow_datagram` fuzz
//! targets: NetFlow v5, NetFlow v9 and IPFIX datagram sequences (templates,
//! options templates with sampling, data before its template, variable-length
//! and enterprise fields, RFC 5103 biflows, withdrawals, two exporters
//! defining the same template ID), and sFlow v5 datagrams (flow, expanded
//! flow and counter samples, raw Ethernet/IPv4/IPv6 headers, sampled IPv4
//! records). Built here from the RFCs; nothing from real captures.
//!
//! `cargo run --example gen_flow_seeds -- DIR` writes `DIR/netflow_datagrams/`
//! and `DIR/sflow_datagram/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cloned_ref_to_slice_refs,
    clippy::manual_is_multiple_of
)]

use std::path::Path;

fn u16b(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}
fn u32b(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// A NetFlow v5 datagram with `n` TCP records.
fn v5(n: u16, sampling: u16) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(u16b(5));
    d.extend(u16b(n));
    d.extend(u32b(3_600_000)); // uptime
    d.extend(u32b(1_700_000_000));
    d.extend(u32b(0));
    d.extend(u32b(1));
    d.extend([0, 1]);
    d.extend(u16b(sampling));
    for i in 0..n {
        d.extend([10, 0, 0, 1 + i as u8, 10, 0, 1, 1, 0, 0, 0, 0]);
        d.extend(u16b(1));
        d.extend(u16b(2));
        d.extend(u32b(3 + u32::from(i)));
        d.extend(u32b(300));
        d.extend(u32b(3_590_000));
        d.extend(u32b(3_599_000));
        d.extend(u16b(40000 + i));
        d.extend(u16b(if i % 2 == 0 { 443 } else { 22 }));
        d.extend([0, if i % 2 == 0 { 0x02 } else { 0x1b }, 6, 0]);
        d.extend([0, 0, 0, 0, 24, 24, 0, 0]);
    }
    d
}

/// NetFlow v9 header + flowsets.
fn v9(count: u16, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(u16b(9));
    d.extend(u16b(count));
    d.extend(u32b(3_600_000));
    d.extend(u32b(1_700_000_000));
    d.extend(u32b(7));
    d.extend(u32b(0x0100)); // source id
    for s in sets {
        d.extend(s);
    }
    d
}

/// IPFIX message with sets.
fn ipfix(domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let body: usize = sets.iter().map(Vec::len).sum();
    let mut d = Vec::new();
    d.extend(u16b(10));
    d.extend(u16b((16 + body) as u16));
    d.extend(u32b(1_700_000_000));
    d.extend(u32b(1));
    d.extend(u32b(domain));
    for s in sets {
        d.extend(s);
    }
    d
}

/// A set (or v9 flowset) with its header, padded to 4 bytes.
fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    while (b.len() + 4) % 4 != 0 {
        b.push(0);
    }
    let mut d = Vec::new();
    d.extend(u16b(id));
    d.extend(u16b((b.len() + 4) as u16));
    d.extend(b);
    d
}

/// Template record: id, fields (element id, length, enterprise).
fn template(id: u16, fields: &[(u16, u16, Option<u32>)]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(u16b(id));
    d.extend(u16b(fields.len() as u16));
    for (e, l, pen) in fields {
        match pen {
            Some(p) => {
                d.extend(u16b(e | 0x8000));
                d.extend(u16b(*l));
                d.extend(u32b(*p));
            }
            None => {
                d.extend(u16b(*e));
                d.extend(u16b(*l));
            }
        }
    }
    d
}

/// The basic IPv4 5-tuple template (v9 and IPFIX numbering agree here).
const BASIC: &[(u16, u16, Option<u32>)] = &[
    (8, 4, None),  // src
    (12, 4, None), // dst
    (7, 2, None),  // src port
    (11, 2, None), // dst port
    (4, 1, None),  // proto
    (6, 1, None),  // tcp flags
    (2, 4, None),  // packets
    (1, 4, None),  // bytes
    (22, 4, None), // first switched
    (21, 4, None), // last switched
];

fn basic_record(i: u8, reverse: bool) -> Vec<u8> {
    let mut d = Vec::new();
    if reverse {
        d.extend([10, 0, 1, 1, 10, 0, 0, i]);
        d.extend(u16b(53));
        d.extend(u16b(40000 + u16::from(i)));
    } else {
        d.extend([10, 0, 0, i, 10, 0, 1, 1]);
        d.extend(u16b(40000 + u16::from(i)));
        d.extend(u16b(53));
    }
    d.extend([17, 0]);
    d.extend(u32b(2));
    d.extend(u32b(150));
    d.extend(u32b(3_590_000));
    d.extend(u32b(3_591_000));
    d
}

/// A fuzz input for `netflow_datagrams`: knobs, then (selector, datagram).
fn sequence(knobs: u8, datagrams: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut d = vec![knobs];
    for (sel, dg) in datagrams {
        d.push(*sel);
        d.extend(u16b(dg.len() as u16));
        d.extend(dg);
    }
    d
}

fn netflow_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let tmpl = set(0, &template(256, BASIC));
    let data = set(
        256,
        &[basic_record(1, false), basic_record(1, true)].concat(),
    );
    // Options template 257: scope system (1, 4 bytes), sampler id 48 (1),
    // sampling interval 34 (4), algorithm 35 (1).
    let mut opt = Vec::new();
    opt.extend(u16b(257));
    opt.extend(u16b(4));
    opt.extend(u16b(12));
    opt.extend([0, 1, 0, 4, 0, 48, 0, 1, 0, 34, 0, 4, 0, 35, 0, 1]);
    let opt_t = set(1, &opt);
    let opt_d = set(257, &[0, 0, 0, 0, 3, 0, 0, 0, 100, 2]);
    let sampled_tmpl = set(
        0,
        &template(
            258,
            &[BASIC, &[(48, 1, None)]].concat::<(u16, u16, Option<u32>)>(),
        ),
    );
    let sampled_data = set(258, &[basic_record(2, false), vec![3]].concat());

    // IPFIX: variable-length interface name (82), an unknown enterprise
    // element, biflowDirection (239), RFC 5103 reverse counters (29305),
    // absolute millisecond times (152, 153).
    let ipfix_fields: Vec<(u16, u16, Option<u32>)> = vec![
        (8, 4, None),
        (12, 4, None),
        (7, 2, None),
        (11, 2, None),
        (4, 1, None),
        (6, 1, None),
        (2, 8, None),
        (1, 8, None),
        (1, 8, Some(29305)),
        (2, 8, Some(29305)),
        (239, 1, None),
        (82, 0xffff, None),
        (42, 2, Some(9999)),
        (152, 8, None),
        (153, 8, None),
    ];
    let mut rec = Vec::new();
    rec.extend([10, 0, 0, 5, 192, 0, 2, 80]);
    rec.extend(u16b(50123));
    rec.extend(u16b(443));
    rec.extend([6, 0x1b]);
    rec.extend(12u64.to_be_bytes());
    rec.extend(1400u64.to_be_bytes());
    rec.extend(9000u64.to_be_bytes());
    rec.extend(10u64.to_be_bytes());
    rec.push(1);
    rec.extend([4, b'e', b't', b'h', b'0']);
    rec.extend([0xab, 0xcd]);
    rec.extend(1_700_000_000_000u64.to_be_bytes());
    rec.extend(1_700_000_001_500u64.to_be_bytes());
    let mut empty_name = rec.clone();
    // The same record with a zero-length name.
    let at = 8 + 4 + 2 + 32 + 1;
    empty_name.splice(at..at + 5, [0]);
    let ip_t = set(2, &template(300, &ipfix_fields));
    let ip_d = set(300, &[rec.clone(), empty_name].concat());
    // Options: selectorId (302) scope, samplingPacketInterval/Space (305/306).
    let mut ipopt = Vec::new();
    ipopt.extend(u16b(301));
    ipopt.extend(u16b(3));
    ipopt.extend(u16b(1));
    ipopt.extend([1, 46, 0, 8, 1, 49, 0, 4, 1, 50, 0, 4]);
    let ipopt_t = set(3, &ipopt);
    let ipopt_d = set(
        301,
        &[
            7u64.to_be_bytes().to_vec(),
            u32b(1).to_vec(),
            u32b(99).to_vec(),
        ]
        .concat(),
    );
    let withdraw = set(2, &[1, 44, 0, 0]); // template 300, no fields
    let ipv6_t = set(
        2,
        &template(
            310,
            &[
                (27, 16, None),
                (28, 16, None),
                (7, 2, None),
                (11, 2, None),
                (4, 1, None),
                (2, 4, None),
                (1, 4, None),
            ],
        ),
    );
    let mut v6rec = Vec::new();
    v6rec.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v6rec.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    v6rec.extend(u16b(55000));
    v6rec.extend(u16b(5432));
    v6rec.push(6);
    v6rec.extend(u32b(5));
    v6rec.extend(u32b(700));
    let ipv6_d = set(310, &v6rec);
    // Exporter B defines 256 differently (only two fields).
    let other_256 = set(0, &template(256, &[(8, 4, None), (12, 4, None)]));

    vec![
        ("v5", sequence(0xff, &[(0, v5(3, 0))])),
        ("v5-sampled", sequence(0xff, &[(0, v5(2, 0x4000 | 64))])),
        (
            "v9-template-data",
            sequence(0xff, &[(0, v9(3, &[tmpl.clone(), data.clone()]))]),
        ),
        (
            "v9-data-before-template",
            sequence(
                0xff,
                &[(0, v9(2, &[data.clone()])), (0, v9(1, &[tmpl.clone()]))],
            ),
        ),
        (
            "v9-data-before-template-same-datagram",
            sequence(0xff, &[(0, v9(3, &[data.clone(), tmpl.clone()]))]),
        ),
        (
            "v9-data-expires",
            sequence(
                0x00,
                &[
                    (0, v9(2, &[data.clone()])),
                    (6 << 2, v9(1, &[tmpl.clone()])),
                ],
            ),
        ),
        (
            "v9-options-sampling",
            sequence(
                0xff,
                &[(
                    0,
                    v9(
                        5,
                        &[opt_t, opt_d, sampled_tmpl.clone(), sampled_data.clone()],
                    ),
                )],
            ),
        ),
        (
            "v9-two-exporters-same-id",
            sequence(
                0xff,
                &[
                    (0, v9(1, &[tmpl.clone()])),
                    (1, v9(1, &[other_256])),
                    (0, v9(2, &[data.clone()])),
                    (1, v9(2, &[data.clone()])),
                ],
            ),
        ),
        (
            "ipfix-varlen-enterprise-biflow",
            sequence(0xff, &[(0, ipfix(1, &[ip_t.clone(), ip_d.clone()]))]),
        ),
        (
            "ipfix-options-withdraw",
            sequence(
                0xff,
                &[
                    (0, ipfix(1, &[ipopt_t, ipopt_d, ip_t.clone()])),
                    (0, ipfix(1, &[ip_d.clone()])),
                    (0, ipfix(1, &[withdraw])),
                    (0, ipfix(1, &[ip_d.clone()])),
                    (0, ipfix(2, &[ipv6_t, ipv6_d])),
                ],
            ),
        ),
        (
            "mixed-small-bounds",
            sequence(
                0x00,
                &[
                    (0, ipfix(1, &[ip_d.clone()])),
                    (1, ipfix(1, &[ip_d.clone()])),
                    (2, ipfix(2, &[ip_t])),
                    (3, v5(1, 0)),
                    (0, v9(3, &[tmpl, data])),
                ],
            ),
        ),
    ]
}

/// sFlow v5 datagram with samples.
fn sflow(agent_v6: bool, samples: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(u32b(5));
    if agent_v6 {
        d.extend(u32b(2));
        d.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
    } else {
        d.extend(u32b(1));
        d.extend([172, 16, 0, 3]);
    }
    d.extend(u32b(0));
    d.extend(u32b(42));
    d.extend(u32b(123_456));
    d.extend(u32b(samples.len() as u32));
    for s in samples {
        d.extend(s);
    }
    d
}

fn record(format: u32, body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    while b.len() % 4 != 0 {
        b.push(0);
    }
    let mut d = Vec::new();
    d.extend(u32b(format));
    d.extend(u32b(b.len() as u32));
    d.extend(b);
    d
}

fn raw_header(protocol: u32, frame_len: u32, header: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(u32b(protocol));
    d.extend(u32b(frame_len));
    d.extend(u32b(4));
    d.extend(u32b(header.len() as u32));
    d.extend(header);
    record(1, &d)
}

fn flow_sample(rate: u32, records: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(u32b(1));
    d.extend(u32b(3));
    d.extend(u32b(rate));
    d.extend(u32b(rate * 10));
    d.extend(u32b(0));
    d.extend(u32b(1));
    d.extend(u32b(2));
    d.extend(u32b(records.len() as u32));
    for r in records {
        d.extend(r);
    }
    record(1, &d)
}

fn expanded_flow_sample(rate: u32, records: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(u32b(1));
    d.extend(u32b(0));
    d.extend(u32b(3));
    d.extend(u32b(rate));
    d.extend(u32b(rate * 10));
    d.extend(u32b(0));
    d.extend(u32b(0));
    d.extend(u32b(1));
    d.extend(u32b(0));
    d.extend(u32b(2));
    d.extend(u32b(records.len() as u32));
    for r in records {
        d.extend(r);
    }
    record(3, &d)
}

fn sflow_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut eth_tcp = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 443, 1, 64240)
        .syn()
        .write(&mut eth_tcp, &[])
        .unwrap();
    let mut eth_udp6 = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6(
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            64,
        )
        .udp(5353, 53)
        .write(&mut eth_udp6, &[0; 20])
        .unwrap();
    let mut ip4 = Vec::new();
    etherparse::PacketBuilder::ipv4([10, 0, 0, 3], [10, 0, 0, 4], 64)
        .udp(123, 123)
        .write(&mut ip4, &[0; 48])
        .unwrap();
    let arp = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1,
    ];
    // Sampled IPv4 record (format 3): length, protocol, src, dst, ports,
    // flags, tos.
    let mut sampled_v4 = Vec::new();
    sampled_v4.extend(u32b(576));
    sampled_v4.extend(u32b(6));
    sampled_v4.extend([10, 0, 0, 7, 10, 0, 0, 8]);
    sampled_v4.extend(u32b(51000));
    sampled_v4.extend(u32b(22));
    sampled_v4.extend(u32b(0x18));
    sampled_v4.extend(u32b(0));
    let counter = {
        let mut d = Vec::new();
        d.extend(u32b(1));
        d.extend(u32b(3));
        d.extend(u32b(1));
        d.extend(record(1, &[0; 88]));
        record(2, &d)
    };
    let enterprise = record((4413 << 12) | 1, &[1, 2, 3, 4]);
    vec![
        (
            "flow-eth-tcp",
            sflow(
                false,
                &[flow_sample(1024, &[raw_header(1, 1514, &eth_tcp)])],
            ),
        ),
        (
            "expanded-eth-udp6-agent6",
            sflow(
                true,
                &[expanded_flow_sample(512, &[raw_header(1, 90, &eth_udp6)])],
            ),
        ),
        (
            "flow-ipv4-header-and-sampled-record",
            sflow(
                false,
                &[
                    flow_sample(100, &[raw_header(11, 76, &ip4)]),
                    flow_sample(100, &[record(3, &sampled_v4)]),
                ],
            ),
        ),
        (
            "counters-arp-enterprise",
            sflow(
                false,
                &[
                    counter,
                    flow_sample(1, &[raw_header(1, 60, &arp)]),
                    enterprise,
                ],
            ),
        ),
    ]
}

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let out = Path::new(&out);
    for (dir, seeds) in [
        ("netflow_datagrams", netflow_seeds()),
        ("sflow_datagram", sflow_seeds()),
    ] {
        let d = out.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        for (name, bytes) in seeds {
            std::fs::write(d.join(format!("seed-{name}")), bytes).unwrap();
        }
    }
}
