//! The generator's output held to its description: every capture parses with
//! depmap's own reader, every frame decodes, timestamps never go back, the
//! demo's edges, names and patterns are the documented ones, and a seed
//! always gives the same bytes.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Cursor;
use std::net::IpAddr;
use std::sync::OnceLock;

use depmap_capture::FileReader;
use depmap_edges::recurrence::{classify, RecurrenceConfig};
use depmap_edges::{DayActivity, EdgeKey, EdgeStats, FlowConfig, FlowTable, NANOS_PER_DAY};
use depmap_wire::app::{dns_answers, http_host, tls_sni, DnsData};
use depmap_wire::{decode, tcpflags, Decoded, LinkType, Packet};

use crate::*;

/// FNV-1a, 64 bits: a hash whose value is fixed by its definition (std's
/// `DefaultHasher` may change between Rust releases), for golden values.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn pcap_bytes(traffic: Traffic) -> Vec<u8> {
    let mut out = Vec::new();
    traffic.write_pcap(&mut out).unwrap();
    out
}

/// What reading a generated capture back through depmap found.
struct Mapped {
    frames: u64,
    first_nanos: i64,
    last_nanos: i64,
    edges: Vec<(EdgeKey, EdgeStats)>,
    activity: Vec<(EdgeKey, DayActivity)>,
}

/// Reads `pcap` with `depmap_capture`, decodes every frame with
/// `depmap_wire` (each must be IP), checks that time never goes back, feeds
/// the flow table, and shows every packet to `each`.
fn map_pcap(pcap: &[u8], mut each: impl FnMut(i64, &Packet, &[u8])) -> Mapped {
    let mut reader = FileReader::new(Cursor::new(pcap), "generated").unwrap();
    let mut table = FlowTable::new(FlowConfig::default());
    let mut m = Mapped {
        frames: 0,
        first_nanos: i64::MAX,
        last_nanos: i64::MIN,
        edges: Vec::new(),
        activity: Vec::new(),
    };
    let summary = reader
        .for_each_frame(|f| {
            assert_eq!(f.linktype, LINKTYPE_ETHERNET);
            assert_eq!(f.wire_len as usize, f.data.len());
            assert!(
                f.ts_nanos >= m.last_nanos,
                "frame {} goes back in time: {} after {}",
                m.frames,
                f.ts_nanos,
                m.last_nanos
            );
            m.first_nanos = m.first_nanos.min(f.ts_nanos);
            m.last_nanos = f.ts_nanos;
            m.frames += 1;
            match decode(LinkType::Ethernet, f.data, f.wire_len) {
                Ok(Decoded::Ip(p)) => {
                    table.observe(f.ts_nanos, &p);
                    each(f.ts_nanos, &p, f.data);
                }
                other => panic!("frame {} did not decode as IP: {other:?}", m.frames),
            }
        })
        .unwrap();
    assert_eq!(summary.frames, m.frames);
    assert_eq!(summary.bytes, pcap.len() as u64);
    table.finish();
    m.edges = table.take_edges();
    m.activity = table.take_activity();
    m
}

fn key(e: &ExpectedEdge) -> EdgeKey {
    EdgeKey {
        client: e.client,
        server: e.server,
        port: e.port,
        proto: e.proto,
    }
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Monday-Friday, 08:00-18:00 UTC.
fn in_business_hours(ts_nanos: i64) -> bool {
    let day = ts_nanos.div_euclid(NANOS_PER_DAY);
    let hour = ts_nanos.rem_euclid(NANOS_PER_DAY) / 3_600_000_000_000;
    (day + 3).rem_euclid(7) < 5 && (8..18).contains(&hour)
}

/// The demo, generated and mapped once for all the tests that look at it.
struct Demo {
    scenario: Scenario,
    hash: u64,
    bytes: usize,
    mapped: Mapped,
    sni: BTreeMap<(IpAddr, u16), BTreeSet<String>>,
    host: BTreeMap<(IpAddr, u16), BTreeSet<String>>,
    dns: BTreeSet<(String, String)>,
    nxdomain: u64,
    /// Conversation starts (SYNs, DNS queries) outside business hours, per
    /// business-hours service port.
    after_hours: BTreeMap<(IpAddr, u16), u64>,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let scenario = Scenario::small_company();
        let pcap = pcap_bytes(scenario.traffic(Scenario::DEMO_SEED));
        let business: BTreeSet<(IpAddr, u16)> = scenario
            .services()
            .iter()
            .filter(|s| s.pattern() == Pattern::BusinessHours)
            .flat_map(|s| s.servers.iter().map(move |a| (*a, s.port)))
            .collect();
        let mut sni: BTreeMap<(IpAddr, u16), BTreeSet<String>> = BTreeMap::new();
        let mut host: BTreeMap<(IpAddr, u16), BTreeSet<String>> = BTreeMap::new();
        let mut dns = BTreeSet::new();
        let mut nxdomain = 0;
        let mut after_hours = BTreeMap::new();
        let mut answers = Vec::new();
        let mapped = map_pcap(&pcap, |ts, p, frame| {
            let payload = p.app_payload(frame);
            let to = (p.dst, p.dst_port);
            let starts = (p.proto == 6 && p.tcp_flags == tcpflags::SYN)
                || (p.proto == 17 && p.dst_port == 53);
            let workstation = matches!(p.src, IpAddr::V4(a) if a.octets()[..3] == [10, 10, 1])
                || matches!(p.src, IpAddr::V6(a) if a.segments()[3] == 1);
            if starts && business.contains(&to) && !in_business_hours(ts) {
                // Workstations' DNS is business hours; the app servers' is not.
                if p.dst_port != 53 || workstation {
                    *after_hours.entry(to).or_insert(0) += 1;
                }
            }
            if payload.is_empty() {
                return;
            }
            if let Ok(name) = tls_sni(payload) {
                sni.entry(to).or_default().insert(name.to_string());
            }
            if let Ok(name) = http_host(payload) {
                host.entry(to).or_default().insert(name.to_string());
            }
            if p.proto == 17 && p.src_port == 53 {
                if payload.get(3).is_some_and(|b| b & 0x0f == 3) {
                    nxdomain += 1;
                }
                answers.clear();
                dns_answers(payload, &mut answers).unwrap();
                for a in &answers {
                    let data = match &a.data {
                        DnsData::Addr(ip) => ip.to_string(),
                        DnsData::Cname(n) => format!("CNAME {n}"),
                    };
                    dns.insert((a.name.clone(), data));
                }
            }
        });
        Demo {
            scenario,
            hash: fnv1a(&pcap),
            bytes: pcap.len(),
            mapped,
            sni,
            host,
            dns,
            nxdomain,
            after_hours,
        }
    })
}

#[test]
fn pcap_header_is_classic_microsecond_little_endian_ethernet() {
    let bytes = pcap_bytes(flow_flood(1, 0));
    assert_eq!(
        &bytes[..24],
        &[
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0,
            0
        ]
    );
    // One record: 16-byte header + a 74-byte SYN (Ethernet, IPv4, TCP with
    // 20 bytes of options).
    assert_eq!(bytes.len(), 24 + 16 + 74);
}

#[test]
fn demo_size_and_time_span() {
    let d = demo();
    let start = d.scenario.start_secs() * 1_000_000_000;
    let end = d.scenario.end_secs() * 1_000_000_000;
    assert!(
        (300_000..=450_000).contains(&d.mapped.frames),
        "{} frames",
        d.mapped.frames
    );
    assert!(d.mapped.first_nanos >= start && d.mapped.last_nanos < end);
    assert_eq!(d.scenario.days(), 35);
    // Activity on every day of the 35.
    let days: BTreeSet<i32> = d.mapped.activity.iter().map(|(_, a)| a.day).collect();
    assert_eq!(days.len(), 35);
    assert!(d.bytes < 150_000_000, "{} bytes", d.bytes);
}

#[test]
fn demo_edges_are_exactly_the_expected_ones() {
    let d = demo();
    let expected: BTreeSet<EdgeKey> = d.scenario.expected_edges().iter().map(key).collect();
    let found: BTreeSet<EdgeKey> = d.mapped.edges.iter().map(|(k, _)| *k).collect();
    let missing: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    assert!(missing.is_empty(), "expected edges not found: {missing:?}");
    assert!(extra.is_empty(), "edges nobody expected: {extra:?}");
    assert!(expected.len() > 80, "{} edges", expected.len());
}

#[test]
fn demo_patterns_classify_as_documented() {
    let d = demo();
    let data_end = (d.mapped.last_nanos.div_euclid(NANOS_PER_DAY)) as i32;
    let mut days: BTreeMap<EdgeKey, Vec<DayActivity>> = BTreeMap::new();
    for (k, a) in &d.mapped.activity {
        days.entry(*k).or_default().push(*a);
    }
    let stats: BTreeMap<EdgeKey, EdgeStats> = d.mapped.edges.iter().copied().collect();
    let mut wrong = Vec::new();
    for e in d.scenario.expected_edges() {
        let activity = &days[&key(&e)];
        let r = classify(activity, data_end, &RecurrenceConfig::default());
        if r.pattern.name() != e.pattern.name() {
            wrong.push(format!(
                "{} {} -> {}:{}/{}: classified {} (was {:?}), expected {}",
                e.service,
                e.client,
                e.server,
                e.port,
                e.proto,
                r.pattern.name(),
                r.was,
                e.pattern.name()
            ));
        }
        let s = &stats[&key(&e)];
        let active_days = activity.len();
        match e.pattern {
            Pattern::OneOff => assert_eq!((s.connections, active_days), (1, 1), "{e:?}"),
            // 2026-10-01 and 2026-11-01.
            Pattern::Monthly => assert_eq!((s.connections, active_days), (2, 2), "{e:?}"),
            // Five Mondays: October 5, 12, 19, 26 and November 2.
            Pattern::Weekly => assert_eq!((s.connections, active_days), (5, 5), "{e:?}"),
            Pattern::Daily => assert_eq!((s.connections, active_days), (35, 35), "{e:?}"),
            Pattern::Stopped => {
                let last_day = activity.last().map_or(0, |a| a.day);
                let day20 = (d.scenario.start_secs() / 86_400 + 20) as i32;
                assert!(last_day < day20, "{e:?} active on day {last_day}");
            }
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} edges misclassified:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn demo_business_hours_services_start_only_in_business_hours() {
    let d = demo();
    assert!(d.after_hours.is_empty(), "{:?}", d.after_hours);
}

#[test]
fn demo_carries_names_in_tls_http_and_dns() {
    let d = demo();
    let one = |s: &str| BTreeSet::from([s.to_string()]);
    assert_eq!(d.sni[&(addr("10.10.2.10"), 443)], one("app.corp.example"));
    assert_eq!(
        d.sni[&(addr("fd00:10:10:2::20"), 443)],
        one("wiki.corp.example")
    );
    assert_eq!(
        d.sni[&(addr("203.0.113.10"), 443)],
        one("api.audit.example")
    );
    for app in ["10.10.3.11", "10.10.3.12", "10.10.3.13"] {
        assert_eq!(d.host[&(addr(app), 8080)], one("app.corp.example"));
        // Scrapes name the target by address.
        assert_eq!(d.host[&(addr(app), 9100)], one(app));
    }
    // Every name of the zone is answered, with its address (and CNAME).
    let mut expected = BTreeSet::new();
    for n in d.scenario.dns_names() {
        let queried = d.dns.iter().any(|(name, _)| name == n.name);
        if !queried {
            continue;
        }
        if let Some(target) = n.cname {
            expected.insert((n.name.to_string(), format!("CNAME {target}")));
            expected.insert((target.to_string(), n.addr.to_string()));
        } else {
            expected.insert((n.name.to_string(), n.addr.to_string()));
        }
    }
    assert_eq!(d.dns, expected);
    for name in [
        "app.corp.example",
        "www.corp.example",
        "wiki.corp.example",
        "db.corp.example",
    ] {
        assert!(
            d.dns.iter().any(|(n, _)| n == name),
            "{name} never answered"
        );
    }
    assert!(
        d.dns
            .contains(&("wiki.corp.example".into(), "fd00:10:10:2::20".into())),
        "no AAAA answer"
    );
    assert!(d.nxdomain > 0, "wpad never got NXDOMAIN");
}

#[test]
fn demo_inventory_covers_every_edge() {
    let s = Scenario::small_company();
    for e in s.expected_edges() {
        for a in [e.client, e.server] {
            assert!(s.host(a).is_some(), "{a} of {e:?} is not in the inventory");
        }
    }
    let addrs: HashSet<IpAddr> = s.hosts().iter().map(|h| h.addr).collect();
    assert_eq!(addrs.len(), s.hosts().len(), "an address is listed twice");
    let lb = s.host(addr("10.10.2.10")).unwrap();
    assert_eq!(
        (lb.name.as_str(), lb.role),
        ("lb.corp.example", Role::LoadBalancer)
    );
    let patterns: BTreeSet<&str> = s
        .expected_edges()
        .iter()
        .map(|e| e.pattern.name())
        .collect();
    assert_eq!(
        patterns,
        BTreeSet::from([
            "business-hours",
            "continuous",
            "daily",
            "monthly",
            "one-off",
            "stopped",
            "weekly"
        ])
    );
}

/// The golden hashes: a seed must give the same bytes in every version.
/// If a change to the generator alters them on purpose, update them here
/// and say so in the commit message: demo databases and benchmark files
/// made before are no longer comparable.
#[test]
fn output_is_stable_across_versions() {
    let demo = demo().hash;
    let bench = fnv1a(&pcap_bytes(bench_capture(20_000, 500, 42)));
    let flood = fnv1a(&pcap_bytes(flow_flood(10_000, 42)));
    assert_eq!(
        (demo, bench, flood),
        (DEMO_GOLDEN, BENCH_GOLDEN, FLOOD_GOLDEN),
        "demo {demo:#018x}, bench {bench:#018x}, flood {flood:#018x}"
    );
}

const DEMO_GOLDEN: u64 = 0x9c24_7c20_b2d1_bd40;
const BENCH_GOLDEN: u64 = 0x9714_0519_c24b_a01c;
const FLOOD_GOLDEN: u64 = 0xb09a_1149_82ef_e647;

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = fnv1a(&pcap_bytes(bench_capture(30_000, 1_000, 9)));
    let b = fnv1a(&pcap_bytes(bench_capture(30_000, 1_000, 9)));
    let c = fnv1a(&pcap_bytes(bench_capture(30_000, 1_000, 10)));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let s = Scenario::small_company();
    let first = |seed| {
        let mut t = s.traffic(seed);
        let mut h = Vec::new();
        for _ in 0..5_000 {
            let f = t.next_frame().unwrap().unwrap();
            h.extend_from_slice(&f.ts_micros.to_le_bytes());
            h.extend_from_slice(f.data);
        }
        fnv1a(&h)
    };
    assert_eq!(first(1), first(1));
    assert_ne!(first(1), first(2));
}

#[test]
fn bench_capture_hits_its_packet_count_over_all_its_edges() {
    let (packets, edges) = (60_000, 2_000);
    let mut protos = BTreeMap::new();
    let mut v6 = 0u64;
    let m = map_pcap(&pcap_bytes(bench_capture(packets, edges, 3)), |_, p, _| {
        *protos.entry(p.proto).or_insert(0u64) += 1;
        v6 += u64::from(p.src.is_ipv6());
    });
    assert_eq!(m.frames, packets);
    let expected: BTreeSet<EdgeKey> = (0..edges)
        .map(|j| {
            let (client, server, port, proto) = bench_edge(j);
            EdgeKey {
                client,
                server,
                port,
                proto,
            }
        })
        .collect();
    let found: BTreeSet<EdgeKey> = m.edges.iter().map(|(k, _)| *k).collect();
    assert_eq!(expected.len(), edges);
    assert_eq!(found, expected);
    assert!(
        protos[&6] > packets / 2 && protos[&17] > packets / 50,
        "{protos:?}"
    );
    assert!(v6 > packets / 20, "{v6} IPv6 packets");
}

#[test]
fn bench_edges_are_distinct_pairs() {
    let n = 200_000;
    let keys: HashSet<_> = (0..n).map(bench_edge).collect();
    assert_eq!(keys.len(), n);
}

#[test]
fn streams_hold_only_the_conversations_in_progress() {
    let mut t = bench_capture(200_000, 5_000, 1);
    let mut most = 0;
    let mut n = 0u64;
    while t.next_frame().unwrap().is_some() {
        most = most.max(t.active_conversations());
        n += 1;
    }
    assert_eq!(n, 200_000);
    assert!(most < 2_000, "{most} conversations held at once");
}

#[test]
fn flow_flood_opens_distinct_flows_at_once() {
    let flows = 200_000;
    let mut tuples = HashSet::new();
    let mut table = FlowTable::new(FlowConfig::default());
    let m = map_pcap(&pcap_bytes(flow_flood(flows, 5)), |ts, p, _| {
        assert_eq!(p.tcp_flags, tcpflags::SYN);
        assert!(tuples.insert((p.src, p.src_port, p.dst, p.dst_port)));
        table.observe(ts, p);
    });
    assert_eq!(m.frames, flows);
    assert!(m.last_nanos - m.first_nanos < FLOOD_WINDOW_SECS * 1_000_000_000);
    assert_eq!(table.active_flows(), flows as usize);
    assert_eq!(m.edges.len() as u64, flows / FLOOD_PORTS_PER_CLIENT);
}

/// The full-size targets; slow in debug builds, so run with
/// `cargo test --release -p depmap-synth -- --ignored`.
#[test]
#[ignore]
fn full_size_bench_and_flood() {
    let mut t = bench_capture(2_000_000, 20_000, 1);
    let mut n = 0u64;
    let mut last = i64::MIN;
    let mut edges = HashSet::new();
    while let Some(f) = t.next_frame().unwrap() {
        assert!(f.ts_micros >= last);
        last = f.ts_micros;
        n += 1;
        if let Ok(Decoded::Ip(p)) = decode(LinkType::Ethernet, f.data, f.data.len() as u32) {
            if p.tcp_flags == tcpflags::SYN || (p.proto == 17 && p.dst_port < 1024) {
                edges.insert((p.src, p.dst, p.dst_port));
            }
        }
    }
    assert_eq!(n, 2_000_000);
    assert_eq!(edges.len(), 20_000);
    let mut t = flow_flood(1_000_000, 1);
    let mut tuples = HashSet::new();
    while let Some(f) = t.next_frame().unwrap() {
        let Ok(Decoded::Ip(p)) = decode(LinkType::Ethernet, f.data, f.data.len() as u32) else {
            panic!("flood frame did not decode");
        };
        assert!(tuples.insert((p.src, p.src_port, p.dst, p.dst_port)));
    }
    assert_eq!(tuples.len(), 1_000_000);
}
