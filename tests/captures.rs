//! Every packet capture in ../shared/data/captures, held to the per-conversation
//! references made with tshark (../shared/data/reference/NAME.conv.tsv).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use depmap_suite::{capture, have_shared_data, map_file, shared_data, Mapped};

struct Conv {
    proto: u8,
    a: String,
    a_port: u16,
    b: String,
    b_port: u16,
    frames: u64,
}

fn reference(name: &str) -> Vec<Conv> {
    let path = shared_data()
        .join("reference")
        .join(format!("{name}.conv.tsv"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Conv {
                proto: if f[0] == "tcp" { 6 } else { 17 },
                a: f[2].to_string(),
                a_port: f[3].parse().unwrap(),
                b: f[4].to_string(),
                b_port: f[5].parse().unwrap(),
                frames: f[6].parse().unwrap(),
            }
        })
        .collect()
}

/// Checks a capture against its reference. `extra_packets` is how many more
/// TCP+UDP packets depmap counts than tshark's conversation table, each case
/// explained at the call site.
fn check(name: &str, extra_packets: i64) -> Mapped {
    let m = map_file(&capture(name));
    let refs = reference(name);
    let ref_frames: u64 = refs.iter().map(|c| c.frames).sum();
    assert_eq!(
        (m.tcp_packets + m.udp_packets) as i64,
        ref_frames as i64 + extra_packets,
        "{name}: TCP+UDP packets vs the reference's frames (malformed: {:?})",
        m.malformed
    );
    for c in &refs {
        let found = m.edges.iter().any(|(k, _)| {
            let (client, server) = (k.client.to_string(), k.server.to_string());
            k.proto == c.proto
                && ((client == c.a && server == c.b) || (client == c.b && server == c.a))
                && (k.port == c.a_port || k.port == c.b_port)
        });
        assert!(
            found,
            "{name}: no edge for {} {}:{} <-> {}:{}",
            c.proto, c.a, c.a_port, c.b, c.b_port
        );
    }
    // Every packet decoded lands on exactly one edge.
    let on_edges: u64 = m.edges.iter().map(|(_, s)| s.packets()).sum();
    assert_eq!(
        on_edges, m.ip_packets,
        "{name}: packets on edges vs IP packets"
    );
    m
}

macro_rules! capture_tests {
    ($($test:ident: $file:expr, $extra:expr;)*) => {$(
        #[test]
        fn $test() {
            if !have_shared_data() {
                return;
            }
            let m = check($file, $extra);
            assert!(m.error.is_none(), "{}: {:?}", $file, m.error);
        }
    )*};
}

capture_tests! {
    example: "pcapplusplus__example.pcap", 0;
    many_protocols: "pcapplusplus__many-protocols.pcap", 0;
    vlan_packets: "pcapplusplus__VlanPackets.pcap", 0;
    sll: "pcapplusplus__sll.pcap", 0;
    four_ipv6_http_streams_raw: "pcapplusplus__four_ipv6_http_streams.pcap", 0;
    // tshark puts a UDP stream number only on the frame that completes a
    // reassembled datagram; depmap counts every fragment on the datagram's
    // edge (53 frames, of which 9 complete a datagram; 6 and 3 for IPv6).
    ip4_fragments: "pcapplusplus__ip4_fragments.pcap", 53 - 9;
    ipv6_fragments: "pcapplusplus__ipv6-frag.pcap", 6 - 3;
    many_interfaces_pcapng: "pcapplusplus__many_interfaces-1.pcapng", 0;
    dns_packets: "pcapplusplus__DnsPackets.pcap", 0;
    tls2: "pcapplusplus__tls2.pcap", 0;
    // tshark counts 22 ICMP port-unreachable errors under the UDP
    // conversation whose header they quote; depmap counts them as what they
    // are, ICMP packets from the unreachable host (on an ICMP edge).
    mercury_capture2: "mercury__capture2.pcap", -22;
    pppoe_double_vlan: "mercury__pppoe_double_vlan_tagging.pcap", 0;
    sll2_tls: "mercury__sll2_tls.pcap", 0;
    top_100_fingerprints: "mercury__top_100_fingerprints.pcap", 0;
    big_endian_multi_section_pcapng: "gopacket__be_test202.pcapng", 0;
    sites_pcapng: "ndpi__sites.pcapng", 0;
    mixed_vlan_mpls: "zeek__mixed-vlan-mpls.pcap", 0;
    vlan_qinqinq: "zeek__vlan-qinqinq.pcap", 0;
    mysql_auth: "zeek__mysql_auth.pcap", 0;
    truncated_dns: "dpkt__truncated_dns.pcap", 0;
    // The same 22 ICMP errors as in the full capture.
    snaplen96: "derived__mercury_capture2_snaplen96.pcap", -22;
    sll2_http: "suricata-verify__decode-sll2-02.pcap", 0;
}
