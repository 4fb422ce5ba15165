//! Per-packet cost of the decoder (`depmap_wire::decode`) over the frame
//! kinds depmap meets, and of the flow table (`FlowTable::observe`).
//!
//! Run with `cargo bench --bench decode`. Every benchmark reports
//! `Throughput::Elements` (packets), so criterion prints packets per second
//! next to the time per iteration.
//!
//! The single-kind frames are built by hand here (the decoder does not check
//! checksums, so they are left 0); the mixes come from depmap's synthetic
//! generator: `bench_capture` for a realistic mix of sizes and protocols,
//! `flow_flood` for a stream where every packet opens a new flow.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use depmap_edges::{FlowConfig, FlowTable};
use depmap_wire::{decode, Decoded, LinkType, Packet};

const TCP: u8 = 6;
const UDP: u8 = 17;

fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = (20 + l4.len()) as u16;
    let mut v = vec![0x45, 0];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, proto, 0, 0]);
    v.extend_from_slice(&[10, 1, 2, 3, 10, 4, 5, 6]);
    v.extend_from_slice(l4);
    v
}

fn ipv6(next: u8, l4: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    v.extend_from_slice(&[next, 64]);
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    v.extend_from_slice(l4);
    v
}

/// A TCP segment with the 12-byte timestamp option (as Linux sends).
fn tcp(sport: u16, dport: u16, flags: u8, payload: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x80, flags, 0x01, 0xf5, 0, 0, 0, 0]);
    v.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    v.resize(v.len() + payload, 0x5a);
    v
}

fn udp(sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.resize(v.len() + payload, 0x5a);
    v
}

fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// (name, link type, frame, original length) of each single-kind benchmark.
fn frame_kinds() -> Vec<(&'static str, LinkType, Vec<u8>, u32)> {
    let mut kinds = Vec::new();

    let f = ethernet(0x0800, &ipv4(TCP, &tcp(51_000, 443, 0x18, 512)));
    let len = f.len() as u32;
    kinds.push(("eth-ipv4-tcp", LinkType::Ethernet, f, len));

    let mut tagged = vec![0x00, 100]; // 802.1Q TCI: VLAN 100
    tagged.extend_from_slice(&0x86ddu16.to_be_bytes());
    tagged.extend_from_slice(&ipv6(UDP, &udp(53_001, 53, 40)));
    let f = ethernet(0x8100, &tagged);
    let len = f.len() as u32;
    kinds.push(("vlan-ipv6-udp", LinkType::Ethernet, f, len));

    // Linux cooked v2: protocol, reserved, ifindex, ARPHRD_ETHER, packet
    // type (outgoing), address length, address.
    let mut f = vec![0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0, 0]);
    f.extend_from_slice(&ipv4(TCP, &tcp(51_000, 5432, 0x18, 200)));
    let len = f.len() as u32;
    kinds.push(("sll2-ipv4-tcp", LinkType::LinuxSll2, f, len));

    // Two MPLS labels (16, then 1000 at the bottom of the stack), then IPv4.
    let mut labels = vec![0x00, 0x01, 0x00, 0x40, 0x00, 0x3e, 0x81, 0x40];
    labels.extend_from_slice(&ipv4(UDP, &udp(40_000, 123, 48)));
    let f = ethernet(0x8847, &labels);
    let len = f.len() as u32;
    kinds.push(("mpls-ipv4-udp", LinkType::Ethernet, f, len));

    // A full-size segment captured with a 68-byte snap length.
    let full = ethernet(0x0800, &ipv4(TCP, &tcp(443, 51_000, 0x10, 1448)));
    let wire = full.len() as u32;
    kinds.push((
        "snaplen-cut-68",
        LinkType::Ethernet,
        full[..68].to_vec(),
        wire,
    ));

    kinds
}

/// Frames of a synthetic capture, with their timestamps (ns).
fn synthetic(mut traffic: depmap_synth::Traffic) -> Vec<(i64, Vec<u8>)> {
    let mut frames = Vec::new();
    while let Some(f) = traffic.next_frame().unwrap() {
        frames.push((f.ts_nanos(), f.data.to_vec()));
    }
    frames
}

fn decoded(frames: &[(i64, Vec<u8>)]) -> Vec<(i64, Packet)> {
    frames
        .iter()
        .map(
            |(ts, f)| match decode(LinkType::Ethernet, f, f.len() as u32) {
                Ok(Decoded::Ip(p)) => (*ts, p),
                other => panic!("synthetic frame did not decode: {other:?}"),
            },
        )
        .collect()
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, link, frame, wire_len) in frame_kinds() {
        assert!(
            matches!(decode(link, &frame, wire_len), Ok(Decoded::Ip(_))),
            "{name} does not decode"
        );
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| {
            b.iter(|| decode(link, black_box(&frame), black_box(wire_len)))
        });
    }
    let mix = synthetic(depmap_synth::bench_capture(100_000, 5_000, 1));
    group.throughput(Throughput::Elements(mix.len() as u64));
    group.bench_function("synthetic-mix-100k", |b| {
        b.iter(|| {
            let mut ip_bytes = 0u64;
            for (_, f) in &mix {
                if let Ok(Decoded::Ip(p)) = decode(LinkType::Ethernet, black_box(f), f.len() as u32)
                {
                    ip_bytes += u64::from(p.ip_len);
                }
            }
            ip_bytes
        })
    });
    group.finish();
}

fn bench_observe(c: &mut Criterion) {
    let mut group = c.benchmark_group("flow-table");
    group.sample_size(20);
    let inputs = [
        (
            "observe-synthetic-mix-200k",
            decoded(&synthetic(depmap_synth::bench_capture(200_000, 5_000, 1))),
        ),
        (
            "observe-new-flows-200k",
            decoded(&synthetic(depmap_synth::flow_flood(200_000, 1))),
        ),
    ];
    for (name, packets) in &inputs {
        group.throughput(Throughput::Elements(packets.len() as u64));
        group.bench_function(*name, |b| {
            b.iter_batched(
                || FlowTable::new(FlowConfig::default()),
                |mut table| {
                    for (ts, p) in packets {
                        table.observe(*ts, p);
                    }
                    table
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_decode, bench_observe);
criterion_main!(benches);
