//! Crate-level tests: format detection, and the native NetFlow v9/IPFIX
//! decoder against `netflow_parser` on every capture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use depmap_capture::FileReader;
use depmap_wire::{decode, Decoded, LinkType};

use crate::decoder::Engine;
use crate::template::native::NativeBackend;
use crate::template::nfparser::NfParserBackend;
use crate::template::TemplateBackend;
use crate::{FlowDecoderConfig, FlowRecord};

fn datagrams(name: &str) -> Option<Vec<(SocketAddr, i64, Vec<u8>)>> {
    let path = depmap_testdata::captures()?.join(name);
    let mut out = Vec::new();
    FileReader::open(&path)
        .unwrap()
        .for_each_frame(|f| {
            let link = LinkType::from_linktype(f.linktype);
            if let Ok(Decoded::Ip(p)) = decode(link, f.data, f.wire_len) {
                if p.proto == 17 && p.has_ports {
                    let from = SocketAddr::new(p.src, p.src_port);
                    out.push((from, f.ts_nanos, p.app_payload(f.data).to_vec()));
                }
            }
        })
        .unwrap();
    Some(out)
}

fn run<B: TemplateBackend + Default>(name: &str) -> Option<(Vec<FlowRecord>, Engine<B>)> {
    let mut engine = Engine::<B>::new(FlowDecoderConfig::default());
    let mut out = Vec::new();
    for (from, ts, d) in datagrams(name)? {
        let _ = engine.decode(from, &d, ts, &mut out);
    }
    Some((out, engine))
}

fn multiset(records: &[FlowRecord]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in records {
        *m.entry(format!("{r:?}")).or_default() += 1;
    }
    m
}

/// The native NetFlow v9/IPFIX decoder and `netflow_parser` 1.0.x, each
/// behind the same [`TemplateBackend`] seam and the same engine (scoping,
/// waiting sets, sampling, field mapping), deliver the same records on every
/// capture, except where the library loses records: it rejects IPFIX
/// variable-length values of length zero (RFC 7011 allows them) and then
/// silently drops the rest of the set. In `netflow_parser__IPFIX.pcap` that
/// is 22 records of observation domain 768 (templates 263 and 268, whose
/// two variable-length strings are often empty).
#[test]
fn native_decoder_against_netflow_parser() {
    let captures = [
        ("akvorado__nfv9_data+templates.pcap", 21, 0),
        ("akvorado__ipfix_ipfixprobe_templates+data.pcap", 4, 0),
        ("pmacct__100-IPFIXv10-CISCO.pcap", 12, 0),
        ("pmacct__101-NFv9-CISCO.pcap", 51, 0),
        ("pmacct__111-IPFIX-NFv9-mix-00.pcap", 11, 0),
        ("pmacct__111-IPFIX-NFv9-mix-01.pcap", 13, 0),
        ("ndpi__netflowv9.pcap", 0, 0),
        ("netflow_parser__IPFIX.pcap", 62_543, 22),
    ];
    for (name, records, lost_by_library) in captures {
        let Some((native, native_engine)) = run::<NativeBackend>(name) else {
            return;
        };
        let Some((library, _)) = run::<NfParserBackend>(name) else {
            return;
        };
        assert_eq!(native.len(), records, "{name}");
        assert_eq!(native.len() - library.len(), lost_by_library, "{name}");
        assert_eq!(native_engine.counters.malformed_total(), 0, "{name}");
        let (a, b) = (multiset(&native), multiset(&library));
        for (k, n) in &b {
            assert!(
                a.get(k).is_some_and(|m| m >= n),
                "{name}: only the library has {k}"
            );
        }
        let only_native: Vec<&String> = a
            .iter()
            .filter(|(k, n)| b.get(*k).unwrap_or(&0) < n)
            .map(|(k, _)| k)
            .collect();
        assert!(
            only_native
                .iter()
                .all(|k| k.contains("observation_domain: 768")),
            "{name}: {only_native:?}"
        );
    }
}
