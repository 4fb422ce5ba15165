//! Malformed input is counted, never a panic: every prefix and thousands of
//! byte-level mutations of the real export datagrams, and random bytes
//! behind each version number, go through a decoder that has learned the
//! captures' templates (so data sets reach the record decoders).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use depmap_flows::{FlowDecoder, FlowDecoderConfig};

const CAPTURES: &[&str] = &[
    "akvorado__nfv5.pcap",
    "akvorado__nfv9_data+templates.pcap",
    "akvorado__ipfix_ipfixprobe_templates+data.pcap",
    "akvorado__sflow_data-1140.pcap",
    "pmacct__100-IPFIXv10-CISCO.pcap",
    "pmacct__101-NFv9-CISCO.pcap",
    "pmacct__111-IPFIX-NFv9-mix-00.pcap",
    "pmacct__111-IPFIX-NFv9-mix-01.pcap",
    "ndpi__netflowv9.pcap",
    "netflow_parser__IPFIX.pcap",
];

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Decodes `bytes`, checking the counters account for what was delivered.
fn feed(d: &mut FlowDecoder, from: std::net::SocketAddr, bytes: &[u8], t: i64, errors: &mut u64) {
    let before = d.counters().records;
    let mut out = Vec::new();
    if d.decode(from, bytes, t, &mut out).is_err() {
        *errors += 1;
    }
    assert_eq!(d.counters().records - before, out.len() as u64);
    for r in &out {
        assert!(r.end_ns >= r.start_ns);
        assert!(r.sampling_rate >= 1);
    }
}

#[test]
fn prefixes_and_mutations_of_real_datagrams() {
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let mut errors = 0;
    let mut decoded_inputs = 0u64;
    for name in CAPTURES {
        let Some(dgrams) = support::datagrams(name) else {
            return;
        };
        let mut d = FlowDecoder::new(FlowDecoderConfig {
            max_pending_sets: 64,
            ..FlowDecoderConfig::default()
        });
        for g in &dgrams {
            feed(&mut d, g.exporter, &g.payload, g.ts, &mut errors);
        }
        // The big capture: a sample of its datagrams is enough.
        let step = (dgrams.len() / 40).max(1);
        for g in dgrams.iter().step_by(step) {
            for cut in 0..g.payload.len() {
                feed(&mut d, g.exporter, &g.payload[..cut], g.ts, &mut errors);
                decoded_inputs += 1;
            }
            for _ in 0..200 {
                let mut m = g.payload.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(m.len());
                    m[i] = rng.next() as u8;
                }
                feed(&mut d, g.exporter, &m, g.ts, &mut errors);
                decoded_inputs += 1;
            }
        }
        assert!(d.pending_sets() <= 64);
    }
    assert!(decoded_inputs > 100_000, "{decoded_inputs}");
    assert!(errors > 10_000, "{errors}");
}

#[test]
fn random_bytes_behind_every_version() {
    let mut rng = Rng(42);
    let mut d = FlowDecoder::default();
    let mut errors = 0;
    let from = "192.0.2.1:2055".parse().unwrap();
    let heads: [&[u8]; 6] = [
        &[0, 5],
        &[0, 9],
        &[0, 10],
        &[0, 0, 0, 5, 0, 0, 0, 1],
        &[0, 0, 0, 5, 0, 0, 0, 2],
        &[],
    ];
    for i in 0..30_000 {
        let mut m = heads[i % heads.len()].to_vec();
        let n = rng.below(600);
        m.extend((0..n).map(|_| rng.next() as u8));
        if m.len() >= 4 && m[1] == 10 && rng.below(2) == 0 {
            // A plausible IPFIX length, so the sets are walked.
            let len = (m.len() as u16).to_be_bytes();
            m[2..4].copy_from_slice(&len);
        }
        feed(&mut d, from, &m, i as i64, &mut errors);
    }
    assert!(errors > 1000);
    assert_eq!(d.counters().datagrams, 30_000);
}
