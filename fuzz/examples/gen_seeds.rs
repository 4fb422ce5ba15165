//! Writes the seed inputs the fuzz corpora started from: frames built with
//! etherparse's `PacketBuilder` (plus hand-made fragments and extension
//! headers) wrapped in every link layer depmap decodes, and small pcap and
//! pcapng files of every flavour the reader accepts. Nothing here comes from
//! a real capture.
//!
//! ```text
//! cargo run --example gen_seeds -- OUT_DIR
//! ```
//!
//! writes `OUT_DIR/decode_frame/*` and `OUT_DIR/read_capture/*`, one file per
//! seed, named after what it holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use etherparse::PacketBuilder;

const C4: [u8; 4] = [10, 0, 0, 1];
const S4: [u8; 4] = [10, 0, 0, 2];
const C6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const S6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

// Link-type indices in `depmap_suite::fuzz_bodies::LINK_TYPES`.
const L_NULL: u8 = 0;
const L_ETH: u8 = 1;
const L_RAW: u8 = 2;
const L_LOOP: u8 = 3;
const L_SLL: u8 = 4;
const L_IPV4: u8 = 5;
const L_IPV6: u8 = 6;
const L_SLL2: u8 = 7;
const L_OTHER: u8 = 8;

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: gen_seeds OUT_DIR"));
    let frames_dir = out.join("decode_frame");
    let files_dir = out.join("read_capture");
    fs::create_dir_all(&frames_dir).unwrap();
    fs::create_dir_all(&files_dir).unwrap();
    let mut n = 0;
    for (name, bytes) in decode_frame_seeds() {
        write(&frames_dir, &name, &bytes);
        n += 1;
    }
    for (name, bytes) in read_capture_seeds() {
        write(&files_dir, &name, &bytes);
        n += 1;
    }
    println!("wrote {n} seeds under {}", out.display());
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).unwrap();
}

// ---------------------------------------------------------------- IP packets

fn udp4(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(C4, S4, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

fn udp4_rev(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(S4, C4, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

/// A TCP segment; `flags` is a string of `S`, `A`, `F`, `R`, `P`.
fn tcp4(fwd: bool, sport: u16, dport: u16, flags: &str, payload: &[u8]) -> Vec<u8> {
    let (src, dst) = if fwd { (C4, S4) } else { (S4, C4) };
    let mut b = PacketBuilder::ipv4(src, dst, 64).tcp(sport, dport, 1000, 65535);
    for f in flags.chars() {
        b = match f {
            'S' => b.syn(),
            'A' => b.ack(2000),
            'F' => b.fin(),
            'R' => b.rst(),
            'P' => b.psh(),
            _ => b,
        };
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn tcp6(fwd: bool, sport: u16, dport: u16, flags: &str, payload: &[u8]) -> Vec<u8> {
    let (src, dst) = if fwd { (C6, S6) } else { (S6, C6) };
    let mut b = PacketBuilder::ipv6(src, dst, 64).tcp(sport, dport, 1, 65535);
    for f in flags.chars() {
        b = match f {
            'S' => b.syn(),
            'A' => b.ack(2),
            'F' => b.fin(),
            _ => b,
        };
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn udp6(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(C6, S6, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

fn icmp4_echo(request: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let b = if request {
        PacketBuilder::ipv4(C4, S4, 64).icmpv4_echo_request(7, 1)
    } else {
        PacketBuilder::ipv4(S4, C4, 64).icmpv4_echo_reply(7, 1)
    };
    b.write(&mut v, b"ping").unwrap();
    v
}

fn icmp6_echo(request: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let b = if request {
        PacketBuilder::ipv6(C6, S6, 64).icmpv6_echo_request(7, 1)
    } else {
        PacketBuilder::ipv6(S6, C6, 64).icmpv6_echo_reply(7, 1)
    };
    b.write(&mut v, b"ping").unwrap();
    v
}

/// A hand-made IPv4 header (no checksum: depmap does not check it).
fn ipv4_header(
    proto: u8,
    total_len: u16,
    id: u16,
    mf: bool,
    offset: u16,
    options: &[u8],
) -> Vec<u8> {
    assert!(options.len().is_multiple_of(4));
    let ihl = 5 + options.len() as u8 / 4;
    let flags_frag = (u16::from(mf) << 13) | offset;
    let mut h = vec![0x40 | ihl, 0];
    h.extend_from_slice(&total_len.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&flags_frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&C4);
    h.extend_from_slice(&S4);
    h.extend_from_slice(options);
    h
}

fn ipv4_raw(proto: u8, id: u16, mf: bool, offset: u16, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let total = (20 + options.len() + payload.len()) as u16;
    let mut v = ipv4_header(proto, total, id, mf, offset, options);
    v.extend_from_slice(payload);
    v
}

/// A UDP header and payload (checksum 0).
fn udp_segment(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = sport.to_be_bytes().to_vec();
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(payload);
    v
}

/// An IPv6 header followed by `exts` (already chained) and `payload`.
fn ipv6_raw(next: u8, exts_and_payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&(exts_and_payload.len() as u16).to_be_bytes());
    v.extend_from_slice(&[next, 64]);
    v.extend_from_slice(&C6);
    v.extend_from_slice(&S6);
    v.extend_from_slice(exts_and_payload);
    v
}

fn ipv6_frag_ext(next: u8, offset: u16, more: bool, id: u32) -> Vec<u8> {
    let mut v = vec![next, 0];
    v.extend_from_slice(&((offset << 3) | u16::from(more)).to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v
}

/// A varied set of IP packets, each with a short name.
fn ip_packets() -> Vec<(&'static str, Vec<u8>)> {
    let udp_frag_first = {
        let seg = udp_segment(5353, 53, &[0xaa; 24]);
        // 32 bytes of a 48-byte datagram: offset 0, more fragments.
        ipv4_raw(17, 77, true, 0, &[], &seg[..32])
    };
    let v6_frag_first = {
        let mut p = ipv6_frag_ext(17, 0, true, 0xdead);
        p.extend_from_slice(&udp_segment(40000, 53, &[1; 16])[..16]);
        ipv6_raw(44, &p)
    };
    let v6_frag_later = {
        let mut p = ipv6_frag_ext(17, 2, false, 0xdead);
        p.extend_from_slice(&[2; 8]);
        ipv6_raw(44, &p)
    };
    let v6_hop_by_hop = {
        // Hop-by-hop (0) with a PadN option, then UDP.
        let mut p = vec![17, 0, 1, 4, 0, 0, 0, 0];
        p.extend_from_slice(&udp_segment(40001, 123, b"ntp"));
        ipv6_raw(0, &p)
    };
    let v6_bad_ext = {
        // Routing header (43) that claims more bytes than follow.
        ipv6_raw(43, &[17, 9, 0, 0, 0, 0, 0, 0])
    };
    let tso = {
        let mut v = udp4(1111, 2222, b"tso");
        v[2] = 0;
        v[3] = 0;
        v
    };
    let jumbo = {
        let mut v = udp6(3333, 4444, b"jumbo");
        v[4] = 0;
        v[5] = 0;
        v
    };
    let tcp_cut = tcp4(true, 40000, 443, "A", b"")[..24].to_vec();
    let tcp_long_doff = {
        let mut v = tcp4(true, 40000, 80, "PA", b"GET /");
        v[20 + 12] = 0xf0; // data offset 60 bytes, longer than the segment
        v
    };
    vec![
        (
            "udp4-dns",
            udp4(
                40000,
                53,
                b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00",
            ),
        ),
        ("udp4-dns-reply", udp4_rev(53, 40000, b"\x12\x34\x81\x80")),
        ("tcp4-syn", tcp4(true, 40000, 443, "S", b"")),
        ("tcp4-synack", tcp4(false, 443, 40000, "SA", b"")),
        (
            "tcp4-data",
            tcp4(true, 40000, 443, "PA", b"\x16\x03\x01\x00\x05hello"),
        ),
        ("tcp4-fin", tcp4(true, 40000, 443, "FA", b"")),
        ("tcp4-rst", tcp4(false, 443, 40000, "R", b"")),
        ("tcp4-cut", tcp_cut),
        ("tcp4-long-doff", tcp_long_doff),
        ("icmp4-echo-req", icmp4_echo(true)),
        ("icmp4-echo-rep", icmp4_echo(false)),
        ("udp6", udp6(40000, 5353, b"mdns")),
        ("tcp6-syn", tcp6(true, 50000, 22, "S", b"")),
        ("tcp6-synack", tcp6(false, 22, 50000, "SA", b"")),
        ("icmp6-echo-req", icmp6_echo(true)),
        ("icmp6-echo-rep", icmp6_echo(false)),
        (
            "ipv4-options",
            ipv4_raw(17, 1, false, 0, &[1, 1, 1, 0], &udp_segment(1, 2, b"o")),
        ),
        ("ipv4-bad-ihl", {
            let mut v = udp4(1, 2, b"");
            v[0] = 0x43;
            v
        }),
        ("udp4-frag-first", udp_frag_first),
        (
            "udp4-frag-last",
            ipv4_raw(17, 77, false, 4, &[], &[0xaa; 16]),
        ),
        ("udp4-frag-mid", ipv4_raw(17, 78, true, 2, &[], &[0xbb; 16])),
        (
            "icmp4-frag-first",
            ipv4_raw(1, 79, true, 0, &[], &[8, 0, 0, 0, 0, 7, 0, 1]),
        ),
        ("icmp4-frag-last", ipv4_raw(1, 79, false, 1, &[], &[0; 8])),
        ("ipv6-frag-first", v6_frag_first),
        ("ipv6-frag-later", v6_frag_later),
        ("ipv6-hop-by-hop", v6_hop_by_hop),
        ("ipv6-bad-ext", v6_bad_ext),
        (
            "sctp4",
            ipv4_raw(
                132,
                2,
                false,
                0,
                &[],
                &[0x0b, 0x59, 0x0b, 0x59, 0, 0, 0, 1, 0, 0, 0, 0],
            ),
        ),
        (
            "dccp4",
            ipv4_raw(33, 3, false, 0, &[], &[0x13, 0x88, 0x00, 0x50, 0, 0, 0, 0]),
        ),
        (
            "udplite4",
            ipv4_raw(136, 4, false, 0, &[], &udp_segment(7, 9, b"")),
        ),
        ("gre4", ipv4_raw(47, 5, false, 0, &[], &[0, 0, 0x08, 0x00])),
        ("tso4", tso),
        ("jumbo6", jumbo),
        (
            "ipv4-ports-cut",
            ipv4_raw(17, 6, false, 0, &[], &[0x00, 0x35]),
        ),
    ]
}

// --------------------------------------------------------------- link layers

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 2];

fn ethertype_of(ip: &[u8]) -> [u8; 2] {
    if ip.first().map(|b| b >> 4) == Some(6) {
        [0x86, 0xdd]
    } else {
        [0x08, 0x00]
    }
}

/// Ethernet with `tags` (EtherType/TCI bytes) between the MACs and the IP
/// packet's own EtherType.
fn eth_tagged(tags: &[u8], ip: &[u8]) -> Vec<u8> {
    let mut f = MAC_B.to_vec();
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(tags);
    f.extend_from_slice(&ethertype_of(ip));
    f.extend_from_slice(ip);
    f
}

fn eth(ip: &[u8]) -> Vec<u8> {
    eth_tagged(&[], ip)
}

/// Ethernet whose EtherType is `ty`, followed by `rest` verbatim.
fn eth_raw(ty: u16, rest: &[u8]) -> Vec<u8> {
    let mut f = MAC_B.to_vec();
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(rest);
    f
}

fn mpls(labels: u8, ip: &[u8]) -> Vec<u8> {
    let mut rest = Vec::new();
    for i in 0..labels {
        let bos = u8::from(i + 1 == labels);
        rest.extend_from_slice(&[0, 0x10 + i, bos, 64]);
    }
    rest.extend_from_slice(ip);
    eth_raw(0x8847, &rest)
}

fn mpls_pseudowire(ip: &[u8]) -> Vec<u8> {
    let mut rest = vec![0, 0x01, 0x01, 64, 0, 0, 0, 0];
    rest.extend_from_slice(&eth(ip));
    eth_raw(0x8847, &rest)
}

fn pppoe(vlan: bool, compressed: bool, ip: &[u8]) -> Vec<u8> {
    let proto: &[u8] = match (ip[0] >> 4 == 6, compressed) {
        (false, false) => &[0x00, 0x21],
        (true, false) => &[0x00, 0x57],
        (false, true) => &[0x21],
        (true, true) => &[0x57],
    };
    let mut rest = vec![0x11, 0x00, 0x12, 0x34];
    rest.extend_from_slice(&((ip.len() + proto.len()) as u16).to_be_bytes());
    rest.extend_from_slice(proto);
    rest.extend_from_slice(ip);
    if vlan {
        let mut tagged = vec![0, 100, 0x88, 0x64];
        tagged.extend_from_slice(&rest);
        eth_raw(0x8100, &tagged)
    } else {
        eth_raw(0x8864, &rest)
    }
}

fn sll(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 1, 0, 6];
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&ethertype_of(ip));
    f.extend_from_slice(ip);
    f
}

fn sll2(ip: &[u8]) -> Vec<u8> {
    let mut f = ethertype_of(ip).to_vec();
    f.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6]);
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(ip);
    f
}

fn null(family: u32, big_endian: bool, ip: &[u8]) -> Vec<u8> {
    let mut f = if big_endian {
        family.to_be_bytes().to_vec()
    } else {
        family.to_le_bytes().to_vec()
    };
    f.extend_from_slice(ip);
    f
}

fn arp() -> Vec<u8> {
    let mut rest = vec![0, 1, 8, 0, 6, 4, 0, 1];
    rest.extend_from_slice(&MAC_A);
    rest.extend_from_slice(&C4);
    rest.extend_from_slice(&[0; 6]);
    rest.extend_from_slice(&S4);
    eth_raw(0x0806, &rest)
}

// -------------------------------------------------------- decode_frame seeds

/// A `decode_frame` frame record: time step, captured bytes, wire length.
type Record = (u8, Vec<u8>, usize);

/// One `decode_frame` input: link index, knobs, then `(step, frame, wire_len)`
/// records.
fn frame_input(link: u8, knobs: u8, records: &[(u8, &[u8], usize)]) -> Vec<u8> {
    let mut v = vec![link, knobs];
    for (step, frame, wire_len) in records {
        v.push(*step);
        v.extend_from_slice(&(*wire_len as u16).to_be_bytes());
        v.extend_from_slice(frame);
    }
    v
}

fn single(link: u8, frame: &[u8]) -> Vec<u8> {
    frame_input(link, 0, &[(0, frame, frame.len())])
}

fn decode_frame_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let packets = ip_packets();
    // Every IP packet on Ethernet and raw IP, the common ones on every link.
    for (name, ip) in &packets {
        out.push((format!("eth-{name}"), single(L_ETH, &eth(ip))));
        out.push((format!("raw-{name}"), single(L_RAW, ip)));
    }
    for (name, ip) in packets
        .iter()
        .take(4)
        .chain(packets.iter().skip(11).take(2))
    {
        let v6 = ip[0] >> 4 == 6;
        let fam = if v6 { 30 } else { 2 };
        out.push((
            format!("null-le-{name}"),
            single(L_NULL, &null(fam, false, ip)),
        ));
        out.push((
            format!("null-be-{name}"),
            single(L_NULL, &null(if v6 { 10 } else { 2 }, true, ip)),
        ));
        out.push((
            format!("loop-{name}"),
            single(L_LOOP, &null(if v6 { 24 } else { 2 }, true, ip)),
        ));
        out.push((format!("sll-{name}"), single(L_SLL, &sll(ip))));
        out.push((format!("sll2-{name}"), single(L_SLL2, &sll2(ip))));
        out.push((
            format!("ipv{}-{name}", if v6 { 6 } else { 4 }),
            single(if v6 { L_IPV6 } else { L_IPV4 }, ip),
        ));
        out.push((
            format!("vlan-{name}"),
            single(L_ETH, &eth_tagged(&[0x81, 0x00, 0, 10], ip)),
        ));
        out.push((
            format!("qinq-{name}"),
            single(
                L_ETH,
                &eth_tagged(&[0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20], ip),
            ),
        ));
        out.push((format!("mpls2-{name}"), single(L_ETH, &mpls(2, ip))));
        out.push((
            format!("mpls-pw-{name}"),
            single(L_ETH, &mpls_pseudowire(ip)),
        ));
        out.push((
            format!("pppoe-{name}"),
            single(L_ETH, &pppoe(false, false, ip)),
        ));
        out.push((
            format!("pppoe-vlan-{name}"),
            single(L_ETH, &pppoe(true, false, ip)),
        ));
        out.push((
            format!("pppoe-pfc-{name}"),
            single(L_ETH, &pppoe(false, true, ip)),
        ));
    }
    let udp = &packets[0].1;
    let v6 = &packets[11].1;
    out.push((
        "triple-vlan".into(),
        single(
            L_ETH,
            &eth_tagged(&[0x91, 0x00, 0, 1, 0x92, 0x00, 0, 2, 0x81, 0x00, 0, 3], udp),
        ),
    ));
    let deep: Vec<u8> = (0..40).flat_map(|_| [0x81, 0x00, 0, 1]).collect();
    out.push((
        "vlan-too-deep".into(),
        single(L_ETH, &eth_tagged(&deep, udp)),
    ));
    out.push(("mpls-too-deep".into(), single(L_ETH, &mpls(40, udp))));
    out.push((
        "mpls-other-payload".into(),
        single(L_ETH, &eth_raw(0x8847, &[0, 0x10, 0x01, 64, 0x20, 0])),
    ));
    out.push((
        "vlan-llc".into(),
        single(L_ETH, &eth_raw(0x8100, &[0, 5, 0, 0x26, 0x42, 0x42, 3])),
    ));
    out.push((
        "llc".into(),
        single(L_ETH, &eth_raw(0x0026, &[0x42, 0x42, 3, 0, 0])),
    ));
    out.push(("arp".into(), single(L_ETH, &arp())));
    out.push((
        "pppoe-discovery".into(),
        single(L_ETH, &eth_raw(0x8863, &[0x11, 0x09, 0, 0, 0, 0])),
    ));
    out.push((
        "pppoe-lcp".into(),
        single(L_ETH, &eth_raw(0x8864, &[0x11, 0, 0, 1, 0, 2, 0xc0, 0x21])),
    ));
    out.push(("eth-other".into(), single(L_ETH, &eth_raw(0x88cc, &[0; 8]))));
    out.push((
        "sll-arp".into(),
        single(L_SLL, &{
            let mut f = sll(udp);
            f[14] = 0x08;
            f[15] = 0x06;
            f
        }),
    ));
    out.push((
        "null-unknown-family".into(),
        single(L_NULL, &null(7, false, udp)),
    ));
    out.push(("raw-bad-version".into(), single(L_RAW, &[0x50, 0, 0, 20])));
    out.push(("other-link".into(), single(L_OTHER, &eth(udp))));
    out.push((
        "snaplen-cut".into(),
        frame_input(L_ETH, 0, &[(0, &eth(udp)[..30], 1514)]),
    ));
    for (name, link, len) in [
        ("eth", L_ETH, 13),
        ("sll", L_SLL, 15),
        ("sll2", L_SLL2, 19),
        ("null", L_NULL, 3),
    ] {
        let f = match link {
            L_ETH => eth(udp),
            L_SLL => sll(udp),
            L_SLL2 => sll2(udp),
            _ => null(2, false, udp),
        };
        out.push((format!("{name}-link-cut"), single(link, &f[..len])));
    }
    out.push(("eth-v6-cut".into(), single(L_ETH, &eth(v6)[..20])));

    // Flows: sequences of frames with time steps, for the flow table.
    let p = |n: &str| {
        packets
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| eth(v))
            .unwrap()
    };
    let rec = |step: u8, f: &Vec<u8>| (step, f.clone(), f.len());
    let flows: Vec<(&str, u8, Vec<Record>)> = vec![
        (
            "flow-tcp-handshake",
            0,
            [
                "tcp4-syn",
                "tcp4-synack",
                "tcp4-data",
                "tcp4-fin",
                "tcp4-rst",
            ]
            .iter()
            .map(|n| rec(1, &p(n)))
            .collect(),
        ),
        (
            "flow-tcp-port-reuse",
            0,
            [
                "tcp4-syn",
                "tcp4-synack",
                "tcp4-fin",
                "tcp4-syn",
                "tcp4-synack",
            ]
            .iter()
            .map(|n| rec(5, &p(n)))
            .collect(),
        ),
        (
            "flow-udp-idle-split",
            0,
            vec![
                rec(0, &p("udp4-dns")),
                rec(0, &p("udp4-dns-reply")),
                rec(200, &p("udp4-dns")),
            ],
        ),
        (
            "flow-icmp-echo",
            0,
            vec![
                rec(0, &p("icmp4-echo-rep")),
                rec(1, &p("icmp4-echo-req")),
                rec(1, &p("icmp6-echo-req")),
            ],
        ),
        (
            "flow-frag-in-order",
            0x08,
            vec![rec(0, &p("udp4-frag-first")), rec(0, &p("udp4-frag-last"))],
        ),
        (
            "flow-frag-out-of-order",
            0x08,
            vec![
                rec(0, &p("udp4-frag-last")),
                rec(0, &p("udp4-frag-first")),
                rec(0, &p("udp4-frag-mid")),
            ],
        ),
        (
            "flow-frag-orphan-timeout",
            0x00,
            vec![
                rec(0, &p("udp4-frag-mid")),
                rec(100, &p("icmp4-frag-last")),
                rec(100, &p("udp4-dns")),
            ],
        ),
        (
            "flow-frag-v6",
            0x18,
            vec![
                rec(0, &p("ipv6-frag-later")),
                rec(1, &p("ipv6-frag-first")),
                rec(1, &p("ipv6-frag-later")),
            ],
        ),
        (
            "flow-evict",
            0x01,
            vec![
                rec(0, &p("udp4-dns")),
                rec(1, &p("tcp4-syn")),
                rec(1, &p("udp6")),
                rec(1, &p("udp4-dns-reply")),
            ],
        ),
        (
            "flow-time-backwards",
            0x22,
            vec![
                rec(10, &p("tcp4-syn")),
                rec(0xff, &p("tcp4-synack")),
                rec(0, &p("tcp4-data")),
                rec(250, &p("tcp4-data")),
            ],
        ),
        (
            "flow-fold-active",
            0x27,
            [
                "tcp4-syn",
                "tcp4-synack",
                "tcp4-data",
                "udp4-dns",
                "udp4-dns-reply",
                "tcp6-syn",
                "tcp6-synack",
            ]
            .iter()
            .map(|n| rec(3, &p(n)))
            .collect(),
        ),
    ];
    for (name, knobs, recs) in flows {
        let recs: Vec<(u8, &[u8], usize)> = recs
            .iter()
            .map(|(s, f, l)| (*s, f.as_slice(), *l))
            .collect();
        out.push((name.to_string(), frame_input(L_ETH, knobs, &recs)));
    }
    out
}

// -------------------------------------------------------- read_capture seeds

#[derive(Clone, Copy)]
enum Endian {
    Little,
    Big,
}

struct W {
    e: Endian,
    v: Vec<u8>,
}

impl W {
    fn new(e: Endian) -> W {
        W { e, v: Vec::new() }
    }
    fn u16(&mut self, x: u16) -> &mut W {
        match self.e {
            Endian::Little => self.v.extend_from_slice(&x.to_le_bytes()),
            Endian::Big => self.v.extend_from_slice(&x.to_be_bytes()),
        }
        self
    }
    fn u32(&mut self, x: u32) -> &mut W {
        match self.e {
            Endian::Little => self.v.extend_from_slice(&x.to_le_bytes()),
            Endian::Big => self.v.extend_from_slice(&x.to_be_bytes()),
        }
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut W {
        self.v.extend_from_slice(b);
        self
    }
    fn padded(&mut self, b: &[u8]) -> &mut W {
        self.v.extend_from_slice(b);
        while !self.v.len().is_multiple_of(4) {
            self.v.push(0);
        }
        self
    }
}

/// A classic pcap file. `magic` is the host-order magic (0xa1b2c3d4 micro,
/// 0xa1b23c4d nano, 0xa1b2cd34 Kuznetzov's modified format).
fn pcap(
    e: Endian,
    magic: u32,
    linktype: u32,
    snaplen: u32,
    recs: &[(u32, u32, &[u8], u32)],
) -> Vec<u8> {
    let mut w = W::new(e);
    w.u32(magic)
        .u16(2)
        .u16(4)
        .u32(0)
        .u32(0)
        .u32(snaplen)
        .u32(linktype);
    let modified = magic == 0xa1b2cd34;
    for (sec, frac, data, orig) in recs {
        w.u32(*sec).u32(*frac).u32(data.len() as u32).u32(*orig);
        if modified {
            // ifindex(4) protocol(2) pkt_type(1) pad(1)
            w.u32(1).u16(0x0800).bytes(&[0, 0]);
        }
        w.bytes(data);
    }
    w.v
}

/// A pcapng option list (each value padded), ended by opt_endofopt.
fn options(e: Endian, opts: &[(u16, &[u8])]) -> Vec<u8> {
    if opts.is_empty() {
        return Vec::new();
    }
    let mut w = W::new(e);
    for (code, value) in opts {
        w.u16(*code).u16(value.len() as u16).padded(value);
    }
    w.u16(0).u16(0);
    w.v
}

/// A pcapng block: type, total length, `body` (padded), total length.
fn block(e: Endian, ty: u32, body: &[u8]) -> Vec<u8> {
    let mut padded = body.to_vec();
    while !padded.len().is_multiple_of(4) {
        padded.push(0);
    }
    let total = 12 + padded.len() as u32;
    let mut w = W::new(e);
    w.u32(ty).u32(total).bytes(&padded).u32(total);
    w.v
}

fn shb(e: Endian, opts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut w = W::new(e);
    w.u32(0x1a2b3c4d).u16(1).u16(0).u32(u32::MAX).u32(u32::MAX);
    w.bytes(&options(e, opts));
    block(e, 0x0a0d0d0a, &w.v)
}

fn idb(e: Endian, linktype: u16, opts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut w = W::new(e);
    w.u16(linktype).u16(0).u32(65535);
    w.bytes(&options(e, opts));
    block(e, 1, &w.v)
}

fn epb(e: Endian, if_id: u32, ts: u64, data: &[u8], orig: u32, opts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut w = W::new(e);
    w.u32(if_id)
        .u32((ts >> 32) as u32)
        .u32(ts as u32)
        .u32(data.len() as u32)
        .u32(orig);
    w.padded(data);
    w.bytes(&options(e, opts));
    block(e, 6, &w.v)
}

fn spb(e: Endian, data: &[u8], orig: u32) -> Vec<u8> {
    let mut w = W::new(e);
    w.u32(orig).padded(data);
    block(e, 3, &w.v)
}

fn isb(e: Endian) -> Vec<u8> {
    let mut w = W::new(e);
    w.u32(0).u32(0).u32(1);
    let mut cnt = W::new(e);
    cnt.u32(5).u32(0);
    w.bytes(&options(e, &[(4, &cnt.v)]));
    block(e, 5, &w.v)
}

fn nrb(e: Endian) -> Vec<u8> {
    let mut rec = C4.to_vec();
    rec.extend_from_slice(b"client.example\0");
    let mut w = W::new(e);
    w.u16(1).u16(rec.len() as u16).padded(&rec).u16(0).u16(0);
    block(e, 4, &w.v)
}

fn custom(e: Endian) -> Vec<u8> {
    let mut w = W::new(e);
    w.u32(32473).bytes(b"depmap");
    block(e, 0x0000_0bad, &w.v)
}

fn read_capture_seeds() -> Vec<(String, Vec<u8>)> {
    let packets = ip_packets();
    let p = |n: &str| {
        packets
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let syn = eth(&p("tcp4-syn"));
    let synack = eth(&p("tcp4-synack"));
    let dns = eth(&p("udp4-dns"));
    let v6 = eth(&p("udp6"));
    let frag = eth(&p("udp4-frag-last"));
    let frames: Vec<(u32, u32, &[u8], u32)> = vec![
        (1_700_000_000, 1, &syn, syn.len() as u32),
        (1_700_000_000, 500, &synack, synack.len() as u32),
        (1_700_000_001, 2, &dns, dns.len() as u32),
        (1_700_000_002, 3, &v6, v6.len() as u32),
        (1_700_000_003, 4, &frag, frag.len() as u32),
        (1_700_000_004, 5, &dns[..34], 1514),
    ];
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for (e, en) in [(Endian::Little, "le"), (Endian::Big, "be")] {
        for (magic, kind) in [
            (0xa1b2c3d4u32, "usec"),
            (0xa1b23c4d, "nsec"),
            (0xa1b2cd34, "modified"),
        ] {
            out.push((
                format!("pcap-{en}-{kind}"),
                pcap(e, magic, 1, 65535, &frames),
            ));
        }
    }
    let le = Endian::Little;
    let full = pcap(le, 0xa1b2c3d4, 1, 65535, &frames);
    out.push(("pcap-header-only".into(), full[..24].to_vec()));
    out.push(("pcap-cut-header".into(), full[..13].to_vec()));
    out.push(("pcap-cut-record-header".into(), full[..24 + 10].to_vec()));
    out.push((
        "pcap-cut-mid-record".into(),
        full[..full.len() - 7].to_vec(),
    ));
    out.push((
        "pcap-huge-caplen".into(),
        pcap(le, 0xa1b2c3d4, 1, 65535, &[(1, 0, &dns, 60)])
            .into_iter()
            .enumerate()
            .map(|(i, b)| if (32..36).contains(&i) { 0x7f } else { b })
            .collect(),
    ));
    out.push((
        "pcap-max-ts".into(),
        pcap(le, 0xa1b23c4d, 1, 65535, &[(u32::MAX, u32::MAX, &dns, 60)]),
    ));
    for (lt, name, frame) in [
        (0u32, "null", null(2, false, &p("udp4-dns"))),
        (108, "loop", null(2, true, &p("udp4-dns"))),
        (101, "raw", p("tcp4-syn")),
        (12, "raw12", p("udp6")),
        (14, "raw14", p("udp4-dns")),
        (113, "sll", sll(&p("tcp4-syn"))),
        (276, "sll2", sll2(&p("tcp6-syn"))),
        (228, "ipv4", p("udp4-dns")),
        (229, "ipv6", p("udp6")),
        (147, "user0", eth(&p("udp4-dns"))),
    ] {
        out.push((
            format!("pcap-linktype-{name}"),
            pcap(
                le,
                0xa1b2c3d4,
                lt,
                65535,
                &[(1, 0, &frame, frame.len() as u32)],
            ),
        ));
    }

    for (e, en) in [(Endian::Little, "le"), (Endian::Big, "be")] {
        let mut f = shb(e, &[(4, b"depmap gen_seeds")]);
        f.extend(idb(e, 1, &[(2, b"eth0"), (9, &[9])]));
        f.extend(idb(e, 113, &[(9, &[6]), (14, &100u64.to_le_bytes())]));
        f.extend(epb(
            e,
            0,
            1_700_000_000_000_000_000,
            &syn,
            syn.len() as u32,
            &[(1, b"c")],
        ));
        f.extend(epb(
            e,
            1,
            1_700_000_000_000_000,
            &sll(&p("tcp4-synack")),
            60,
            &[],
        ));
        f.extend(epb(e, 0, 1_700_000_000_100_000_000, &dns[..30], 1514, &[]));
        f.extend(spb(e, &v6, v6.len() as u32));
        f.extend(isb(e));
        f.extend(nrb(e));
        f.extend(custom(e));
        out.push((format!("pcapng-{en}"), f));
    }
    let be = Endian::Big;
    // Two sections of different byte order; the second redefines interface 0.
    let mut multi = shb(le, &[]);
    multi.extend(idb(le, 1, &[]));
    multi.extend(epb(
        le,
        0,
        1_700_000_000_000_000,
        &syn,
        syn.len() as u32,
        &[],
    ));
    multi.extend(shb(be, &[]));
    multi.extend(idb(be, 101, &[(9, &[0x80 | 20])]));
    multi.extend(epb(be, 0, 1_700_000_000 << 20, &p("udp4-dns"), 60, &[]));
    multi.extend(epb(be, 1, 1, &dns, 60, &[]));
    out.push(("pcapng-multi-section".into(), multi.clone()));
    out.push((
        "pcapng-cut-mid-block".into(),
        multi[..multi.len() - 9].to_vec(),
    ));
    out.push(("pcapng-shb-only".into(), shb(le, &[])));
    out.push(("pcapng-cut-shb".into(), shb(le, &[])[..20].to_vec()));
    let mut no_idb = shb(le, &[]);
    no_idb.extend(epb(le, 0, 1, &dns, 60, &[]));
    no_idb.extend(spb(le, &dns, 60));
    out.push(("pcapng-packet-without-interface".into(), no_idb));
    let mut bad_len = shb(le, &[]);
    bad_len.extend(idb(le, 1, &[]));
    let mut e = epb(le, 0, 1, &dns, 60, &[]);
    e[4..8].copy_from_slice(&0x0200_0000u32.to_le_bytes());
    bad_len.extend(e);
    out.push(("pcapng-huge-block-length".into(), bad_len));
    let mut odd_len = shb(le, &[]);
    odd_len.extend(idb(le, 1, &[]));
    let mut e = epb(le, 0, 1, &dns, 60, &[]);
    e[4..8].copy_from_slice(&13u32.to_le_bytes());
    odd_len.extend(e);
    out.push(("pcapng-bad-block-length".into(), odd_len));
    let mut tsoff = shb(le, &[]);
    tsoff.extend(idb(le, 1, &[(14, &(-5i64).to_le_bytes()), (9, &[3])]));
    tsoff.extend(epb(le, 0, u64::MAX, &dns, 60, &[]));
    out.push(("pcapng-tsoffset".into(), tsoff));
    out.push(("not-a-capture".into(), b"GET / HTTP/1.1\r\n".to_vec()));
    out
}
