//! Flow-export throughput on one core: IPFIX datagrams -> `FlowDecoder` ->
//! `RecordAggregator` (pairing, direction, edges), against simply reading
//! the same datagrams.
//!
//! Run with `cargo bench --bench flows` (`FLOWS_BENCH_RECORDS=N` to change
//! the 2,000,000 records). The stream is generated here in memory: one
//! exporter, a template refreshed every 1,000 datagrams, 30 records of 46
//! bytes per 1,400-byte datagram, 50,000 conversations (a client port to one
//! of 1,000 servers on 8 ports) exported in both directions, so half the
//! records pair with their reverse. Times are CPU time of the benchmark
//! thread (`getrusage(RUSAGE_THREAD)`), best of 3.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use depmap_edges::flowrec::{FlowInput, PairingConfig, RecordAggregator};
use depmap_flows::FlowDecoder;
use nix::sys::resource::{getrusage, UsageWho};

const RECORDS_PER_DATAGRAM: usize = 30;
const RECORD_LEN: usize = 46;
const TEMPLATE_EVERY: usize = 1_000;
const CONVERSATIONS: u64 = 50_000;
const BASE_MS: u64 = 1_700_000_000_000;

fn cpu() -> Duration {
    let u = getrusage(UsageWho::RUSAGE_THREAD).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(u.user_time()) + tv(u.system_time())
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn template_set() -> Vec<u8> {
    // src, dst, sport, dport, proto, tcpFlags, packetDeltaCount (8),
    // octetDeltaCount (8), flowStartMilliseconds, flowEndMilliseconds.
    let fields: [(u16, u16); 10] = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (6, 1),
        (2, 8),
        (1, 8),
        (152, 8),
        (153, 8),
    ];
    let mut s = Vec::new();
    s.extend(2u16.to_be_bytes());
    s.extend(((4 + 4 + fields.len() * 4) as u16).to_be_bytes());
    s.extend(256u16.to_be_bytes());
    s.extend((fields.len() as u16).to_be_bytes());
    for (id, len) in fields {
        s.extend(id.to_be_bytes());
        s.extend(len.to_be_bytes());
    }
    s
}

/// The IPFIX stream: `records` records in datagrams.
fn generate(records: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let tmpl = template_set();
    let mut out = Vec::new();
    let mut made = 0usize;
    let mut seq = 0u32;
    while made < records {
        let n = RECORDS_PER_DATAGRAM.min(records - made);
        let ms = BASE_MS + (made as u64) / 10; // 10k records a second
        let with_template = out.len() % TEMPLATE_EVERY == 0;
        let mut d = Vec::with_capacity(1500);
        d.extend(10u16.to_be_bytes());
        d.extend(0u16.to_be_bytes()); // length, below
        d.extend(((ms / 1000) as u32).to_be_bytes());
        d.extend(seq.to_be_bytes());
        d.extend(1u32.to_be_bytes());
        if with_template {
            d.extend(&tmpl);
        }
        d.extend(256u16.to_be_bytes());
        d.extend(((4 + n * RECORD_LEN) as u16).to_be_bytes());
        for _ in 0..n {
            let conv = rng.next() % CONVERSATIONS;
            let client = [10, 1 + (conv >> 16) as u8, (conv >> 8) as u8, conv as u8];
            let server_n = conv % 1000;
            let server = [10, 200, (server_n >> 8) as u8, server_n as u8];
            let cport = 32768 + (conv % 28000) as u16;
            let sport = [22u16, 53, 80, 443, 3306, 5432, 6379, 8080][(conv % 8) as usize];
            let (src, dst, sp, dp) = if rng.next().is_multiple_of(2) {
                (client, server, cport, sport)
            } else {
                (server, client, sport, cport)
            };
            let proto = if sport == 53 { 17u8 } else { 6 };
            let packets = 1 + rng.next() % 20;
            d.extend(src);
            d.extend(dst);
            d.extend(sp.to_be_bytes());
            d.extend(dp.to_be_bytes());
            d.push(proto);
            d.push(if proto == 6 { 0x1b } else { 0 });
            d.extend(packets.to_be_bytes());
            d.extend((packets * 700).to_be_bytes());
            d.extend((ms - 1500).to_be_bytes());
            d.extend(ms.to_be_bytes());
        }
        let len = d.len() as u16;
        d[2..4].copy_from_slice(&len.to_be_bytes());
        out.push(d);
        made += n;
        seq = seq.wrapping_add(n as u32);
    }
    out
}

/// Reads every byte of every datagram (8 bytes at a time).
fn read_only(datagrams: &[Vec<u8>]) -> (u64, u64) {
    let (mut len, mut x) = (0u64, 0u64);
    for d in datagrams {
        len += d.len() as u64;
        for c in d.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            x ^= u64::from_le_bytes(w);
        }
    }
    (len, x)
}

/// Decodes and aggregates; returns (records, edges).
fn decode_aggregate(datagrams: &[Vec<u8>]) -> (u64, usize) {
    let exporter: SocketAddr = ([192, 0, 2, 1], 4739).into();
    let mut decoder = FlowDecoder::default();
    let mut agg = RecordAggregator::new(PairingConfig::default());
    let mut records = Vec::with_capacity(64);
    let mut n = 0u64;
    for (i, d) in datagrams.iter().enumerate() {
        records.clear();
        let received = (BASE_MS as i64 + i as i64) * 1_000_000;
        let _ = decoder.decode(exporter, d, received, &mut records);
        for r in &records {
            agg.add(&FlowInput::from(r));
        }
        n += records.len() as u64;
    }
    agg.finish();
    let edges = agg.take_edges();
    let _ = agg.take_activity();
    (n, edges.len())
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let c0 = cpu();
        let r = f();
        best = best.min(cpu() - c0);
        last = Some(r);
    }
    (best, last.unwrap())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too,
    // with a small stream.
    let quick = !std::env::args().any(|a| a == "--bench");
    let records: usize = std::env::var("FLOWS_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 30_000 } else { 2_000_000 });
    let datagrams = generate(records);
    let bytes: usize = datagrams.iter().map(Vec::len).sum();
    println!(
        "flows bench: {} IPFIX datagrams, {:.1} MB, {} records",
        datagrams.len(),
        bytes as f64 / 1e6,
        records
    );
    let (read_t, r) = best_of(3, || black_box(read_only(black_box(&datagrams))));
    assert_eq!(r.0 as usize, bytes);
    let (t, (n, edges)) = best_of(3, || decode_aggregate(black_box(&datagrams)));
    assert_eq!(n as usize, records);
    let secs = t.as_secs_f64();
    println!(
        "read only:            {:>8.1} ms CPU ({:.0} MB/s)",
        read_t.as_secs_f64() * 1e3,
        bytes as f64 / 1e6 / read_t.as_secs_f64()
    );
    println!(
        "decode + aggregate:   {:>8.1} ms CPU, {:.2} M records/s on one core, {} edges",
        secs * 1e3,
        n as f64 / secs / 1e6,
        edges
    );
    println!(
        "ratio to reading:     {:.1}x",
        secs / read_t.as_secs_f64().max(1e-9)
    );
}
