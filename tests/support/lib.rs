//! Shared helpers for depmap's integration tests and benchmarks: where the
//! shared test captures live, and a reference pipeline (file -> decode ->
//! flow table) that the tests hold to the captures' reference figures.
#![deny(missing_docs)]

pub mod fuzz_bodies;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use depmap_capture::{CaptureError, FileReader};
use depmap_edges::{EdgeKey, EdgeStats, FlowConfig, FlowTable};
use depmap_wire::{decode, Decoded, LinkType};

/// `../shared/data` next to the project root (or `$DEPMAP_SHARED_DATA`),
/// where the real captures are.
pub fn shared_data() -> PathBuf {
    depmap_testdata::location()
}

/// A capture in `../shared/data/captures`.
pub fn capture(name: &str) -> PathBuf {
    shared_data().join("captures").join(name)
}

/// Whether the shared data is present (it is not in a user's clone). When
/// it is not, says so on stderr, or panics when `CI` is set, so a test that
/// returns early on `false` fails in CI (see `depmap_testdata`).
pub fn have_shared_data() -> bool {
    depmap_testdata::shared_data().is_some()
}

/// What [`map_file`] found in one capture.
#[derive(Debug, Default)]
pub struct Mapped {
    /// Frames read.
    pub frames: u64,
    /// IP packets decoded.
    pub ip_packets: u64,
    /// TCP packets decoded (including later fragments of TCP datagrams).
    pub tcp_packets: u64,
    /// UDP packets decoded (including later fragments of UDP datagrams).
    pub udp_packets: u64,
    /// Frames that were not IP, by reason.
    pub non_ip: BTreeMap<&'static str, u64>,
    /// Malformed frames, by reason.
    pub malformed: BTreeMap<&'static str, u64>,
    /// The edges.
    pub edges: Vec<(EdgeKey, EdgeStats)>,
    /// The reader's error, if the file was truncated or corrupt.
    pub error: Option<CaptureError>,
}

/// Reads, decodes and aggregates a whole capture file with default settings.
pub fn map_file(path: &Path) -> Mapped {
    let mut m = Mapped::default();
    let mut table = FlowTable::new(FlowConfig::default());
    let mut reader = match FileReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            m.error = Some(e);
            return m;
        }
    };
    let res = reader.for_each_frame(|f| {
        m.frames += 1;
        match decode(LinkType::from_linktype(f.linktype), f.data, f.wire_len) {
            Ok(Decoded::Ip(p)) => {
                m.ip_packets += 1;
                match p.proto {
                    6 => m.tcp_packets += 1,
                    17 => m.udp_packets += 1,
                    _ => {}
                }
                table.observe(f.ts_nanos, &p);
            }
            Ok(Decoded::NonIp(n)) => *m.non_ip.entry(n.name()).or_default() += 1,
            Err(e) => *m.malformed.entry(e.name()).or_default() += 1,
        }
    });
    m.error = res.err();
    table.finish();
    m.edges = table.take_edges();
    m
}

/// The `i`-th packet of a flood of unique 5-tuples: a TCP SYN to
/// 10.1.0.1:443 from one of up to 65,536 client addresses in 10.2.0.0/16,
/// each using 256 source ports, so every `i` below 2^24 is a new flow.
pub fn flood_syn(i: u32) -> depmap_wire::Packet {
    use std::net::{IpAddr, Ipv4Addr};
    depmap_wire::Packet {
        src: IpAddr::V4(Ipv4Addr::new(10, 2, (i >> 16) as u8, (i >> 8) as u8)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)),
        proto: depmap_wire::ipproto::TCP,
        src_port: 1024 + (i & 0xff) as u16,
        dst_port: 443,
        tcp_flags: depmap_wire::tcpflags::SYN,
        icmp_type: 0,
        icmp_code: 0,
        ip_len: 60,
        fragment: None,
        has_ports: true,
        app_offset: 0,
        app_len: 0,
    }
}
