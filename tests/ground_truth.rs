//! depmap against the ground truth other tools publish for the shared
//! captures: Zeek's conn.log, Suricata's decoder counters, and the file-level
//! facts of the derived captures (snaplen cut, truncated mid-record).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use depmap_capture::CaptureError;
use depmap_suite::{capture, have_shared_data, map_file, shared_data};

macro_rules! need_data {
    () => {
        if !have_shared_data() {
            return;
        }
    };
}

/// suricata-verify decode-sll2-02 expects 159 SLL2, 159 IPv4 and 159 TCP decodes.
#[test]
fn sll2_capture_decodes_159_tcp_packets() {
    need_data!();
    let m = map_file(&capture("suricata-verify__decode-sll2-02.pcap"));
    let yaml = fs::read_to_string(
        shared_data().join("ground-truth/suricata-verify__decode-sll2-02.test.yaml"),
    )
    .unwrap();
    assert!(yaml.contains("decoder.tcp: 159"));
    assert_eq!(m.frames, 159);
    assert_eq!(m.ip_packets, 159);
    assert_eq!(m.tcp_packets, 159);
    assert!(m.malformed.is_empty(), "{:?}", m.malformed);
}

/// Zeek's conn.log for mixed-vlan-mpls: every connection is found with Zeek's
/// originator as the client and the responder's port as the server port, and
/// the per-direction packets and IP bytes are Zeek's orig/resp figures.
#[test]
fn zeek_conn_log_directions_and_counts() {
    need_data!();
    let m = map_file(&capture("zeek__mixed-vlan-mpls.pcap"));
    let log = fs::read_to_string(shared_data().join("ground-truth/zeek__mixed-vlan-mpls.conn.log"))
        .unwrap();
    let mut checked = 0;
    for line in log.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let (orig_h, resp_h, resp_p, proto) = (f[2], f[4], f[5].parse::<u16>().unwrap(), f[6]);
        let (orig_pkts, orig_ip_bytes, resp_pkts, resp_ip_bytes): (u64, u64, u64, u64) = (
            f[16].parse().unwrap(),
            f[17].parse().unwrap(),
            f[18].parse().unwrap(),
            f[19].parse().unwrap(),
        );
        assert_eq!(proto, "tcp");
        let (_, s) = m
            .edges
            .iter()
            .find(|(k, _)| {
                k.client.to_string() == orig_h
                    && k.server.to_string() == resp_h
                    && k.port == resp_p
                    && k.proto == 6
            })
            .unwrap_or_else(|| panic!("no edge {orig_h} -> {resp_h}:{resp_p}/tcp"));
        assert_eq!(
            (s.client_packets, s.client_bytes),
            (orig_pkts, orig_ip_bytes)
        );
        assert_eq!(
            (s.server_packets, s.server_bytes),
            (resp_pkts, resp_ip_bytes)
        );
        assert_eq!(s.connections, 1);
        checked += 1;
    }
    assert_eq!(checked, 3);
    assert_eq!(m.edges.len(), 3);
}

/// Cutting every frame to 96 bytes keeps the map: the same edges with the
/// same per-direction packets and IP bytes (IP lengths come from the headers,
/// not the captured length).
#[test]
fn snaplen_96_gives_the_same_edges_and_ip_bytes_as_the_full_capture() {
    need_data!();
    let full = map_file(&capture("mercury__capture2.pcap"));
    let cut = map_file(&capture("derived__mercury_capture2_snaplen96.pcap"));
    assert!(full.error.is_none() && cut.error.is_none());
    assert_eq!(full.frames, cut.frames);
    assert_eq!(full.edges.len(), cut.edges.len());
    assert!(full.edges.len() > 250);
    for (a, b) in full.edges.iter().zip(&cut.edges) {
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1, "figures differ for {:?}", a.0);
    }
}

/// A file that ends inside a packet record gives the 1266 whole packets
/// before the cut, their edges, and an error naming the file and offset.
#[test]
fn truncated_file_gives_1266_packets_and_an_error() {
    need_data!();
    let m = map_file(&capture("derived__ndpi_1kxun_cut-midrecord.pcap"));
    assert_eq!(m.frames, 1266);
    let on_edges: u64 = m.edges.iter().map(|(_, s)| s.packets()).sum();
    assert_eq!(on_edges, m.ip_packets);
    assert!(!m.edges.is_empty());
    match m.error {
        Some(CaptureError::Truncated {
            ref name,
            offset,
            frames,
        }) => {
            assert!(name.ends_with("derived__ndpi_1kxun_cut-midrecord.pcap"));
            assert_eq!(frames, 1266);
            // The cut record starts before the end of the file.
            assert!(offset > 0 && offset < 1_277_930, "offset {offset}");
            let msg = m.error.as_ref().unwrap().to_string();
            assert!(
                msg.contains("truncated") && msg.contains(&offset.to_string()),
                "{msg}"
            );
        }
        other => panic!("expected a truncation error, got {other:?}"),
    }
}

/// The snaplen-cut DNS response still counts with its true IP length.
#[test]
fn snaplen_cut_dns_counts_true_ip_length() {
    need_data!();
    let m = map_file(&capture("dpkt__truncated_dns.pcap"));
    assert_eq!(m.edges.len(), 1);
    let (k, s) = m.edges[0];
    // The server is the side on port 53 (a response seen alone).
    assert_eq!(
        (k.server.to_string().as_str(), k.port),
        ("192.168.1.100", 53)
    );
    assert_eq!(s.server_packets, 1);
    // Frame length 238 on the wire minus the 14-byte Ethernet header.
    assert_eq!(s.server_bytes, 238 - 14);
}
