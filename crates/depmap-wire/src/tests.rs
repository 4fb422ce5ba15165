use super::*;
use etherparse::PacketBuilder;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn ip(frame: &[u8], link: LinkType) -> Packet {
    match decode(link, frame, frame.len() as u32) {
        Ok(Decoded::Ip(p)) => p,
        other => panic!("expected an IP packet, got {other:?}"),
    }
}

fn udp4_eth(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(40000, 53);
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// Replaces the Ethernet header's EtherType with `inner` layers.
fn with_l2(eth_frame: &[u8], ethertype_and_tags: &[u8]) -> Vec<u8> {
    let mut f = eth_frame[..12].to_vec();
    f.extend_from_slice(ethertype_and_tags);
    f.extend_from_slice(&eth_frame[14..]);
    f
}

#[test]
fn ethernet_udp() {
    let f = udp4_eth(b"hello");
    let p = ip(&f, LinkType::Ethernet);
    assert_eq!(p.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    assert_eq!((p.src_port, p.dst_port, p.proto), (40000, 53, ipproto::UDP));
    assert_eq!(p.ip_len, 20 + 8 + 5);
    assert_eq!(p.app_payload(&f), b"hello");
}

#[test]
fn triple_vlan_stack() {
    let f = udp4_eth(b"x");
    let g = with_l2(
        &f,
        &[
            0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20, 0x81, 0x00, 0, 30, 0x08, 0x00,
        ],
    );
    let p = ip(&g, LinkType::Ethernet);
    assert_eq!(p.dst_port, 53);
    assert_eq!(p.app_payload(&g), b"x");
}

#[test]
fn mpls_stack_then_ipv4() {
    let f = udp4_eth(b"");
    // two labels, the second with bottom-of-stack set
    let g = with_l2(&f, &[0x88, 0x47, 0, 1, 0x00, 64, 0, 2, 0x01, 64]);
    assert_eq!(ip(&g, LinkType::Ethernet).dst_port, 53);
}

#[test]
fn vlan_then_mpls_then_pseudowire_ethernet() {
    let inner = udp4_eth(b"");
    let mut g = inner[..12].to_vec();
    g.extend_from_slice(&[0x81, 0x00, 0, 7, 0x88, 0x47, 0, 1, 0x01, 64]);
    g.extend_from_slice(&[0, 0, 0, 0]); // control word
    g.extend_from_slice(&inner); // the whole inner Ethernet frame
    assert_eq!(ip(&g, LinkType::Ethernet).dst_port, 53);
}

#[test]
fn pppoe_session_ipv4() {
    let f = udp4_eth(b"");
    let ip_len = (f.len() - 14 + 2) as u16;
    let mut tags = vec![0x81, 0x00, 0, 1, 0x88, 0x64, 0x11, 0x00, 0x12, 0x34];
    tags.extend_from_slice(&ip_len.to_be_bytes());
    tags.extend_from_slice(&[0x00, 0x21]);
    let g = with_l2(&f, &tags);
    assert_eq!(ip(&g, LinkType::Ethernet).dst_port, 53);
}

#[test]
fn pppoe_lcp_is_not_ip() {
    let f = udp4_eth(b"");
    let g = with_l2(&f, &[0x88, 0x64, 0x11, 0x00, 0x12, 0x34, 0, 10, 0xc0, 0x21]);
    assert_eq!(
        decode(LinkType::Ethernet, &g, g.len() as u32),
        Ok(Decoded::NonIp(NonIp::PppControl))
    );
}

#[test]
fn linux_sll_and_sll2() {
    let f = udp4_eth(b"");
    let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&f[14..]);
    assert_eq!(ip(&sll, LinkType::LinuxSll).dst_port, 53);
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0,
    ];
    sll2.extend_from_slice(&f[14..]);
    assert_eq!(ip(&sll2, LinkType::LinuxSll2).dst_port, 53);
}

#[test]
fn null_both_byte_orders_and_loop() {
    let f = udp4_eth(b"");
    for fam in [[2u8, 0, 0, 0], [0, 0, 0, 2], [30, 0, 0, 0], [0, 0, 0, 24]] {
        let mut g = fam.to_vec();
        g.extend_from_slice(&f[14..]);
        assert_eq!(ip(&g, LinkType::Null).dst_port, 53);
        assert_eq!(ip(&g, LinkType::Loop).dst_port, 53);
    }
    let mut other = vec![7, 0, 0, 0];
    other.extend_from_slice(&f[14..]);
    assert_eq!(
        decode(LinkType::Null, &other, 0),
        Ok(Decoded::NonIp(NonIp::OtherLinkProtocol))
    );
}

#[test]
fn snaplen_cut_keeps_true_ip_length_and_ports() {
    let f = udp4_eth(&[0u8; 1000]);
    let cut = &f[..14 + 20 + 4];
    let p = ip(cut, LinkType::Ethernet);
    assert_eq!(p.ip_len, 1028);
    assert_eq!((p.src_port, p.dst_port), (40000, 53));
    assert!(p.app_payload(cut).is_empty());
    // Cut before the ports: counted as malformed, not a panic.
    assert_eq!(
        decode(LinkType::Ethernet, &f[..14 + 20 + 2], 1042),
        Err(Malformed::TransportTruncated)
    );
}

#[test]
fn ipv4_options_and_fragments() {
    // IPv4 header with 4 bytes of options (IHL 6), first fragment of UDP.
    let mut f = vec![
        0x46, 0, 0x05, 0xdc, 0x12, 0x34, 0x20, 0x00, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 1,
        0,
    ];
    f.extend_from_slice(&[0x03, 0x15, 0x08, 0x01, 0x05, 0xc4, 0, 0]);
    f.resize(1500, 0);
    let p = ip(&f, LinkType::Raw);
    assert_eq!((p.src_port, p.dst_port, p.ip_len), (789, 2049, 1500));
    assert_eq!(
        p.fragment,
        Some(Fragment {
            id: 0x1234,
            offset: 0,
            more: true
        })
    );
    // A later fragment: same id, no ports.
    f[6] = 0x00;
    f[7] = 0xb9;
    let q = ip(&f, LinkType::Raw);
    assert!(q.is_later_fragment() && !q.has_ports);
    assert_eq!((q.src_port, q.dst_port), (0, 0));
}

#[test]
fn ipv6_with_extension_and_fragment_header() {
    let src = Ipv6Addr::LOCALHOST.octets();
    let mut f = vec![0x60, 0, 0, 0, 0, 0, 0, 0];
    f.extend_from_slice(&src);
    f.extend_from_slice(&src);
    // hop-by-hop (8 bytes) -> fragment (8 bytes) -> UDP
    f[6] = 0;
    f.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]);
    f.extend_from_slice(&[17, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef]);
    f.extend_from_slice(&[0x18, 0xdb, 0x18, 0xdb, 0, 12, 0, 0, 1, 2, 3, 4]);
    let plen = (f.len() - 40) as u16;
    f[4..6].copy_from_slice(&plen.to_be_bytes());
    let p = ip(&f, LinkType::Raw);
    assert_eq!(p.proto, ipproto::UDP);
    assert_eq!((p.src_port, p.dst_port), (6363, 6363));
    assert_eq!(p.ip_len, u32::from(plen) + 40);
    assert_eq!(
        p.fragment,
        Some(Fragment {
            id: 0xdeadbeef,
            offset: 0,
            more: true
        })
    );
}

#[test]
fn tcp_flags_and_icmp() {
    let b = PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
        .tcp(5000, 443, 1, 1000)
        .syn();
    let mut f = Vec::new();
    b.write(&mut f, &[]).unwrap();
    let p = ip(&f, LinkType::Raw);
    assert_eq!(p.tcp_flags & tcpflags::SYN, tcpflags::SYN);
    assert_eq!(p.tcp_flags & tcpflags::ACK, 0);

    let b = PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64).icmpv4_echo_request(1, 2);
    let mut f = Vec::new();
    b.write(&mut f, &[0; 8]).unwrap();
    let p = ip(&f, LinkType::Raw);
    assert_eq!((p.proto, p.icmp_type, p.src_port), (ipproto::ICMP, 8, 0));
}

#[test]
fn bounded_encapsulation_depth() {
    let f = udp4_eth(b"");
    let mut tags = Vec::new();
    for _ in 0..100 {
        tags.extend_from_slice(&[0x81, 0x00, 0, 1]);
    }
    tags.extend_from_slice(&[0x08, 0x00]);
    let g = with_l2(&f, &tags);
    assert_eq!(
        decode(LinkType::Ethernet, &g, 0),
        Err(Malformed::TooManyEncapsulations)
    );
}

#[test]
fn every_prefix_of_a_frame_is_safe() {
    let f = udp4_eth(b"some payload");
    for n in 0..f.len() {
        let _ = decode(LinkType::Ethernet, &f[..n], f.len() as u32);
    }
}

proptest! {
    /// Packets built with etherparse's PacketBuilder decode back to the
    /// addresses, ports and lengths they were built with.
    #[test]
    fn builder_round_trip(
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
        src6 in any::<[u8; 16]>(), dst6 in any::<[u8; 16]>(),
        sport in any::<u16>(), dport in any::<u16>(),
        v6 in any::<bool>(), tcp in any::<bool>(), vlan in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let eth = PacketBuilder::ethernet2([1; 6], [2; 6]);
        let mut out = Vec::new();
        macro_rules! finish {
            ($ip:expr) => {
                if tcp { $ip.tcp(sport, dport, 7, 1000).ack(1).write(&mut out, &payload).unwrap() }
                else { $ip.udp(sport, dport).write(&mut out, &payload).unwrap() }
            };
        }
        match (v6, vlan) {
            (false, false) => finish!(eth.ipv4(src, dst, 64)),
            (true, false) => finish!(eth.ipv6(src6, dst6, 64)),
            (false, true) => finish!(eth.single_vlan(5.try_into().unwrap()).ipv4(src, dst, 64)),
            (true, true) => finish!(eth.single_vlan(5.try_into().unwrap()).ipv6(src6, dst6, 64)),
        }
        let p = ip(&out, LinkType::Ethernet);
        let (s, d): (IpAddr, IpAddr) = if v6 {
            (Ipv6Addr::from(src6).into(), Ipv6Addr::from(dst6).into())
        } else {
            (Ipv4Addr::from(src).into(), Ipv4Addr::from(dst).into())
        };
        prop_assert_eq!(p.src, s);
        prop_assert_eq!(p.dst, d);
        prop_assert_eq!((p.src_port, p.dst_port), (sport, dport));
        prop_assert_eq!(p.proto, if tcp { 6 } else { 17 });
        let l4 = if tcp { 20 } else { 8 };
        let l3 = if v6 { 40 } else { 20 };
        prop_assert_eq!(p.ip_len as usize, l3 + l4 + payload.len());
        prop_assert_eq!(p.app_payload(&out), &payload[..]);
    }

    /// Arbitrary bytes on any link type never panic.
    #[test]
    fn arbitrary_bytes_never_panic(link in 0u32..300, data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(LinkType::from_linktype(link), &data, data.len() as u32);
    }

    /// The Ethernet/IPv4 shortcut in `decode` gives what the general route
    /// gives, for any bytes after an IPv4 EtherType: well-formed headers,
    /// options, fragments, odd lengths and cut frames alike.
    #[test]
    fn ethernet_ipv4_shortcut_matches_the_general_route(
        header in proptest::array::uniform20(any::<u8>()),
        rest in proptest::collection::vec(any::<u8>(), 0..80),
        plain in any::<bool>(), cut in 0usize..100,
    ) {
        let mut frame = vec![2u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        let mut ip = header;
        if plain {
            // Mostly the fast path's packets: version 4, IHL 5, not a
            // fragment, a total length near the real one.
            ip[0] = 0x45;
            ip[6] &= 0x40;
            ip[7] = 0;
            let total = (20 + rest.len() + cut % 8) as u16;
            ip[2..4].copy_from_slice(&total.to_be_bytes());
        }
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&rest);
        let frame = &frame[..frame.len().saturating_sub(cut % 24)];
        let wire = frame.len() as u32 + (cut as u32);
        prop_assert_eq!(
            decode(LinkType::Ethernet, frame, wire),
            decode_general(LinkType::Ethernet, frame, wire)
        );
    }
}

/// The per-packet constants and the one table of protocol names
/// (`depmap_model::Proto`) agree on the numbers and on which carry ports.
#[test]
fn ipproto_constants_match_the_model() {
    use depmap_model::Proto;
    let pairs = [
        (ipproto::ICMP, Proto::ICMP, "icmp"),
        (ipproto::TCP, Proto::TCP, "tcp"),
        (ipproto::UDP, Proto::UDP, "udp"),
        (ipproto::DCCP, Proto::DCCP, "dccp"),
        (ipproto::ICMPV6, Proto::ICMPV6, "icmpv6"),
        (ipproto::SCTP, Proto::SCTP, "sctp"),
        (ipproto::UDPLITE, Proto::UDPLITE, "udplite"),
    ];
    for (n, p, name) in pairs {
        assert_eq!(Proto(n), p);
        assert_eq!(p.name(), Some(name));
    }
    for n in 0..=255u8 {
        assert_eq!(ipproto::has_ports(n), Proto(n).has_ports(), "{n}");
    }
}
