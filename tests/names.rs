//! Service names read from real traffic: TLS SNI, HTTP Host and DNS answers,
//! checked against nDPI's ground truth and the captures' known contents.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::IpAddr;

use depmap_capture::FileReader;
use depmap_suite::{capture, have_shared_data, shared_data};
use depmap_wire::app::{dns_answers, http_host, tls_sni, DnsData};
use depmap_wire::{decode, Decoded, LinkType};

#[derive(Default)]
struct Names {
    /// (server address, name) from TLS SNI and HTTP Host.
    served: BTreeSet<(IpAddr, String)>,
    /// name -> addresses from DNS answers.
    dns: BTreeMap<String, BTreeSet<IpAddr>>,
    cnames: BTreeMap<String, String>,
}

fn names_in(file: &str) -> Names {
    let mut n = Names::default();
    let mut r = FileReader::open(capture(file)).unwrap();
    r.for_each_frame(|f| {
        let Ok(Decoded::Ip(p)) = decode(LinkType::from_linktype(f.linktype), f.data, f.wire_len)
        else {
            return;
        };
        let payload = p.app_payload(f.data);
        if payload.is_empty() {
            return;
        }
        match p.proto {
            6 => {
                if let Ok(name) = tls_sni(payload).or_else(|_| http_host(payload)) {
                    n.served.insert((p.dst, name.to_string()));
                }
            }
            17 if p.src_port == 53 || p.src_port == 5353 => {
                let mut out = Vec::new();
                let _ = dns_answers(payload, &mut out);
                for a in out {
                    match a.data {
                        DnsData::Addr(ip) => {
                            n.dns.entry(a.name).or_default().insert(ip);
                        }
                        DnsData::Cname(t) => {
                            n.cnames.insert(a.name, t);
                        }
                    }
                }
            }
            _ => {}
        }
    })
    .unwrap();
    n
}

/// Every TLS flow nDPI names in sites.pcapng has the same SNI in depmap, on
/// the same server address.
#[test]
fn sites_sni_match_ndpi() {
    if !have_shared_data() {
        return;
    }
    let n = names_in("ndpi__sites.pcapng");
    let truth =
        fs::read_to_string(shared_data().join("ground-truth/ndpi__sites.pcapng.ndpiReader.out"))
            .unwrap();
    let mut checked = 0;
    for line in truth.lines().filter(|l| l.contains("\tTCP ")) {
        let Some(sni) = line
            .split("[Hostname/SNI: ")
            .nth(1)
            .and_then(|s| s.split(']').next())
        else {
            continue;
        };
        // "TCP 192.168.1.128:50620 <-> 91.198.174.208:443 [..."
        let server = line
            .split(" <-> ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let server: IpAddr = match server.rsplit_once(':') {
            Some((ip, _)) => ip.trim_matches(|c| c == '[' || c == ']').parse().unwrap(),
            None => continue,
        };
        assert!(
            n.served.contains(&(server, sni.to_string())),
            "nDPI names {server} {sni}; depmap found {:?}",
            n.served
                .iter()
                .filter(|(ip, _)| *ip == server)
                .collect::<Vec<_>>()
        );
        checked += 1;
    }
    assert!(checked >= 55, "checked {checked} SNIs");
}

/// tls2.pcap: 164 distinct SNIs (the capture's documented content).
#[test]
fn tls2_has_164_distinct_snis() {
    if !have_shared_data() {
        return;
    }
    let n = names_in("pcapplusplus__tls2.pcap");
    let distinct: BTreeSet<&String> = n.served.iter().map(|(_, s)| s).collect();
    assert_eq!(distinct.len(), 164);
}

/// DnsPackets.pcap: A and AAAA answers give addresses for their names.
#[test]
fn dns_answers_in_dns_packets() {
    if !have_shared_data() {
        return;
    }
    let n = names_in("pcapplusplus__DnsPackets.pcap");
    assert!(!n.dns.is_empty());
    let v4 = n.dns.values().flatten().filter(|ip| ip.is_ipv4()).count();
    let v6 = n.dns.values().flatten().filter(|ip| ip.is_ipv6()).count();
    assert!(v4 > 0 && v6 > 0, "A {v4}, AAAA {v6}");
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(n.dns["www.isc.org"].contains(&ip("149.20.64.69")));
    assert!(n.dns["www.nlnet.nl"].contains(&ip("193.200.132.212")));
    // mDNS answers for a local host, both families.
    assert!(n.dns["yaels-iphone.local"].contains(&ip("10.0.0.2")));
    assert!(n.dns["yaels-iphone.local"].contains(&ip("fe80::5a1f:aaff:fe4f:3f9d")));
}
