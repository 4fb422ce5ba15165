//! Shared helpers for the capture tests: find the test data, pull the export
//! datagrams out of a pcap, feed them to a decoder.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use depmap_capture::FileReader;
use depmap_flows::{FlowDecoder, FlowDecoderConfig, FlowError, FlowRecord};
use depmap_wire::{decode, Decoded, LinkType};

/// The shared test data directory, or `None` (with a message) when absent;
/// under `CI` its absence fails the test (see `depmap_testdata`).
pub fn data_dir() -> Option<PathBuf> {
    depmap_testdata::shared_data()
}

/// One export datagram as it was captured.
#[derive(Clone, Debug)]
pub struct Datagram {
    /// The exporter's address and port (the UDP source).
    pub exporter: SocketAddr,
    /// The capture timestamp.
    pub ts: i64,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

/// Every UDP payload in a capture, in file order.
pub fn datagrams(name: &str) -> Option<Vec<Datagram>> {
    let path = data_dir()?.join("captures").join(name);
    let mut reader = FileReader::open(&path).expect("open capture");
    let mut out = Vec::new();
    reader
        .for_each_frame(|f| {
            let link = LinkType::from_linktype(f.linktype);
            if let Ok(Decoded::Ip(p)) = decode(link, f.data, f.wire_len) {
                if p.proto == 17 && p.is_later_fragment() {
                    return;
                }
                if p.proto == 17 {
                    out.push(Datagram {
                        exporter: SocketAddr::new(p.src, p.src_port),
                        ts: f.ts_nanos,
                        payload: p.app_payload(f.data).to_vec(),
                    });
                }
            }
        })
        .expect("read capture");
    Some(out)
}

/// What feeding a capture produced.
pub struct Run {
    pub decoder: FlowDecoder,
    pub records: Vec<FlowRecord>,
    pub errors: Vec<FlowError>,
}

/// Decodes every datagram of the named captures (in order, one decoder).
pub fn run(names: &[&str], cfg: FlowDecoderConfig) -> Option<Run> {
    let mut decoder = FlowDecoder::new(cfg);
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        for d in datagrams(name)? {
            if let Err(e) = decoder.decode(d.exporter, &d.payload, d.ts, &mut records) {
                errors.push(e);
            }
        }
    }
    Some(Run {
        decoder,
        records,
        errors,
    })
}

/// The 5-tuple, packets and bytes of a record, for comparisons.
pub type Key = (IpAddr, IpAddr, u16, u16, u8, u64, u64);

pub fn key(r: &FlowRecord) -> Key {
    (
        r.src, r.dst, r.src_port, r.dst_port, r.proto, r.packets, r.bytes,
    )
}
