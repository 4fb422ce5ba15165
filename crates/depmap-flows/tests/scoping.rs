//! Template scoping, every bound and its counter, format detection, and
//! sFlow details, on hand-built datagrams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};

use depmap_flows::{detect_format, FlowDecoder, FlowDecoderConfig, FlowError, FlowRecord, Format};

const SEC: i64 = 1_000_000_000;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// An IPFIX message: header (export time 1_700_000_000) and sets.
fn ipfix(domain: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![0, 10, 0, 0];
    m.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&domain.to_be_bytes());
    for s in sets {
        m.extend_from_slice(s);
    }
    let len = (m.len() as u16).to_be_bytes();
    m[2..4].copy_from_slice(&len);
    m
}

/// A NetFlow v9 message: header (uptime 100 s at 1_700_000_000) and sets.
fn v9(source_id: u32, sets: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![0, 9, 0, 1];
    m.extend_from_slice(&100_000u32.to_be_bytes());
    m.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    m.extend_from_slice(&source_id.to_be_bytes());
    for s in sets {
        m.extend_from_slice(s);
    }
    m
}

fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = id.to_be_bytes().to_vec();
    s.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    s.extend_from_slice(body);
    s
}

/// A template record: ID, field count, (element, length) pairs.
fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut t = id.to_be_bytes().to_vec();
    t.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for (ie, len) in fields {
        t.extend_from_slice(&ie.to_be_bytes());
        t.extend_from_slice(&len.to_be_bytes());
    }
    t
}

/// Template 256 of exporter A: IPv4 source, destination, protocol, packets.
const V4_LAYOUT: &[(u16, u16)] = &[(8, 4), (12, 4), (4, 1), (2, 4)];
/// Template 256 of exporter B: IPv6 source, destination, octets.
const V6_LAYOUT: &[(u16, u16)] = &[(27, 16), (28, 16), (1, 8)];

fn v4_record(src: [u8; 4], dst: [u8; 4], proto: u8, packets: u32) -> Vec<u8> {
    let mut r = src.to_vec();
    r.extend_from_slice(&dst);
    r.push(proto);
    r.extend_from_slice(&packets.to_be_bytes());
    r
}

fn decode(d: &mut FlowDecoder, from: &str, msg: &[u8], t: i64) -> Vec<FlowRecord> {
    let mut out = Vec::new();
    d.decode(addr(from), msg, t, &mut out).unwrap();
    out
}

#[test]
fn exporters_redefining_the_same_template_id_do_not_collide() {
    let mut d = FlowDecoder::default();
    let a = "192.0.2.1:4739";
    let b = "192.0.2.2:4739";
    decode(
        &mut d,
        a,
        &ipfix(1, &[set(2, &template(256, V4_LAYOUT))]),
        0,
    );
    // B redefines 256 with a different layout and length.
    decode(
        &mut d,
        b,
        &ipfix(1, &[set(2, &template(256, V6_LAYOUT))]),
        SEC,
    );
    let rec = v4_record([10, 0, 0, 1], [10, 0, 0, 2], 6, 7);
    let got = decode(&mut d, a, &ipfix(1, &[set(256, &rec)]), 2 * SEC);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].src, got[0].dst), (ip("10.0.0.1"), ip("10.0.0.2")));
    assert_eq!(
        (got[0].proto, got[0].packets, got[0].exporter),
        (6, 7, ip("192.0.2.1"))
    );

    let mut v6 = vec![0x20, 1, 0xd, 0xb8];
    v6.extend_from_slice(&[0; 11]);
    v6.push(1);
    let mut rec = v6.clone();
    rec.extend_from_slice(&v6);
    rec.extend_from_slice(&1234u64.to_be_bytes());
    let got = decode(&mut d, b, &ipfix(1, &[set(256, &rec)]), 3 * SEC);
    assert_eq!((got[0].src, got[0].bytes), (ip("2001:db8::1"), 1234));

    // The same address from another port, or another observation domain,
    // is another scope too: its data waits for its own template.
    let mut out = Vec::new();
    let o = d
        .decode(
            addr("192.0.2.1:4740"),
            &ipfix(1, &[set(256, &v4_record([1; 4], [2; 4], 17, 1))]),
            4 * SEC,
            &mut out,
        )
        .unwrap();
    assert_eq!((o.records, o.sets_waiting), (0, 1));
    let o = d
        .decode(
            addr(a),
            &ipfix(2, &[set(256, &v4_record([1; 4], [2; 4], 17, 1))]),
            4 * SEC,
            &mut out,
        )
        .unwrap();
    assert_eq!((o.records, o.sets_waiting), (0, 1));
    assert_eq!(d.scope_count(), 4);
    // And A's template still decodes A's data.
    let got = decode(
        &mut d,
        a,
        &ipfix(
            1,
            &[set(256, &v4_record([10, 0, 0, 3], [10, 0, 0, 4], 17, 2))],
        ),
        5 * SEC,
    );
    assert_eq!(
        (got[0].src, got[0].proto, got[0].packets),
        (ip("10.0.0.3"), 17, 2)
    );
}

#[test]
fn netflow_v9_and_ipfix_from_one_exporter_are_separate_scopes() {
    let mut d = FlowDecoder::default();
    let e = "192.0.2.9:2055";
    decode(&mut d, e, &v9(0, &[set(0, &template(256, V4_LAYOUT))]), 0);
    let mut out = Vec::new();
    let o = d
        .decode(
            addr(e),
            &ipfix(0, &[set(256, &v4_record([1; 4], [2; 4], 6, 1))]),
            SEC,
            &mut out,
        )
        .unwrap();
    assert_eq!(o.sets_waiting, 1);
    let got = decode(
        &mut d,
        e,
        &v9(0, &[set(256, &v4_record([1; 4], [2; 4], 6, 1))]),
        SEC,
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].source, Format::NetflowV9);
}

#[test]
fn a_flood_of_template_ids_stays_within_the_bound() {
    let cfg = FlowDecoderConfig {
        max_templates_per_scope: 16,
        ..FlowDecoderConfig::default()
    };
    let mut d = FlowDecoder::new(cfg);
    let e = "192.0.2.66:4739";
    // 1000 template IDs, 50 per message.
    for chunk in 0..20u16 {
        let mut body = Vec::new();
        for i in 0..50u16 {
            body.extend_from_slice(&template(256 + chunk * 50 + i, V4_LAYOUT));
        }
        decode(&mut d, e, &ipfix(1, &[set(2, &body)]), i64::from(chunk));
    }
    let c = d.counters();
    assert_eq!(c.templates_received, 1000);
    assert_eq!(c.templates_evicted, 1000 - 16);
    // The newest template decodes; the oldest is gone, so its data waits.
    let rec = v4_record([10, 0, 0, 1], [10, 0, 0, 2], 6, 1);
    assert_eq!(
        decode(&mut d, e, &ipfix(1, &[set(1255, &rec)]), 100).len(),
        1
    );
    let mut out = Vec::new();
    let o = d
        .decode(addr(e), &ipfix(1, &[set(256, &rec)]), 101, &mut out)
        .unwrap();
    assert_eq!((o.records, o.sets_waiting), (0, 1));
}

#[test]
fn scope_bound_evicts_the_least_recently_seen_exporter() {
    let cfg = FlowDecoderConfig {
        max_scopes: 2,
        ..FlowDecoderConfig::default()
    };
    let mut d = FlowDecoder::new(cfg);
    let t = ipfix(1, &[set(2, &template(256, V4_LAYOUT))]);
    decode(&mut d, "192.0.2.1:1", &t, 0);
    decode(&mut d, "192.0.2.2:1", &t, SEC);
    decode(&mut d, "192.0.2.1:1", &t, 2 * SEC);
    decode(&mut d, "192.0.2.3:1", &t, 3 * SEC);
    assert_eq!(d.scope_count(), 2);
    let c = d.counters();
    assert_eq!((c.scopes_created, c.scopes_evicted), (3, 1));
    // 192.0.2.2 was evicted with its templates: its data waits again.
    let mut out = Vec::new();
    let data = ipfix(1, &[set(256, &v4_record([1; 4], [2; 4], 6, 1))]);
    let o = d
        .decode(addr("192.0.2.2:1"), &data, 4 * SEC, &mut out)
        .unwrap();
    assert_eq!(o.sets_waiting, 1);
    let o = d
        .decode(addr("192.0.2.3:1"), &data, 4 * SEC, &mut out)
        .unwrap();
    assert_eq!(o.records, 1);
}

#[test]
fn waiting_sets_are_bounded_in_number_bytes_and_time() {
    let rec = v4_record([10, 0, 0, 1], [10, 0, 0, 2], 6, 1);
    let data = ipfix(1, &[set(256, &rec)]);
    let tmpl = ipfix(1, &[set(2, &template(256, V4_LAYOUT))]);
    let e = "192.0.2.1:4739";

    // Number: 5 sets, room for 3; the 2 oldest are dropped.
    let mut d = FlowDecoder::new(FlowDecoderConfig {
        max_pending_sets: 3,
        ..FlowDecoderConfig::default()
    });
    for i in 0..5 {
        decode(&mut d, e, &data, i);
    }
    assert_eq!((d.pending_sets(), d.counters().pending_evicted), (3, 2));
    let got = decode(&mut d, e, &tmpl, 10);
    assert_eq!(got.len(), 3);
    let c = d.counters();
    assert_eq!(
        (
            c.sets_without_template,
            c.pending_decoded,
            c.pending_records
        ),
        (5, 3, 3)
    );
    assert_eq!(c.undecodable_sets(), 2);

    // Bytes: a set larger than the whole budget is dropped at once.
    let mut d = FlowDecoder::new(FlowDecoderConfig {
        max_pending_bytes: 8,
        ..FlowDecoderConfig::default()
    });
    decode(&mut d, e, &data, 0);
    assert_eq!((d.pending_sets(), d.counters().pending_evicted), (0, 1));

    // Time: the template comes after the timeout, by the caller's clock.
    let mut d = FlowDecoder::new(FlowDecoderConfig {
        pending_timeout_ns: 10 * SEC,
        ..FlowDecoderConfig::default()
    });
    decode(&mut d, e, &data, 0);
    decode(&mut d, e, &data, 5 * SEC);
    let got = decode(&mut d, e, &tmpl, 12 * SEC);
    assert_eq!(
        got.len(),
        1,
        "only the set received at 5 s is still waiting"
    );
    assert_eq!(d.counters().pending_expired, 1);
    // expire() without traffic.
    decode(&mut d, e, &ipfix(1, &[set(300, &rec)]), 20 * SEC);
    d.expire(29 * SEC);
    assert_eq!(d.pending_sets(), 1);
    d.expire(31 * SEC);
    assert_eq!((d.pending_sets(), d.counters().pending_expired), (0, 2));
}

#[test]
fn replayed_sets_keep_the_time_of_their_own_datagram() {
    let mut d = FlowDecoder::default();
    let e = "192.0.2.1:2055";
    // v9 record with FIRST_SWITCHED/LAST_SWITCHED 10 s and 5 s before the
    // header uptime of its own datagram.
    let layout = &[(8, 4), (12, 4), (4, 1), (2, 4), (22, 4), (21, 4)];
    let mut rec = v4_record([10, 0, 0, 1], [10, 0, 0, 2], 17, 1);
    rec.extend_from_slice(&90_000u32.to_be_bytes());
    rec.extend_from_slice(&95_000u32.to_be_bytes());
    decode(&mut d, e, &v9(7, &[set(300, &rec)]), 0);
    // The template comes in a datagram with a later export time.
    let mut later = v9(7, &[set(0, &template(300, layout))]);
    later[8..12].copy_from_slice(&1_700_000_600u32.to_be_bytes());
    let got = decode(&mut d, e, &later, SEC);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].start_ns, (1_700_000_000 - 10) * SEC);
    assert_eq!(got[0].end_ns, (1_700_000_000 - 5) * SEC);
    assert_eq!(got[0].observation_domain, 7);
}

#[test]
fn sampling_from_options_by_sampler_and_by_default() {
    let mut d = FlowDecoder::default();
    let e = "192.0.2.1:2055";
    // Options template 400: scope System (type 1, 4 bytes), options
    // FLOW_SAMPLER_ID (48, 1 byte) and FLOW_SAMPLER_RANDOM_INTERVAL (50, 4).
    let mut opt = 400u16.to_be_bytes().to_vec();
    opt.extend_from_slice(&[0, 4, 0, 8, 0, 1, 0, 4, 0, 48, 0, 1, 0, 50, 0, 4]);
    let mut opt_data = vec![0, 0, 0, 0, 3];
    opt_data.extend_from_slice(&1000u32.to_be_bytes());
    opt_data.extend_from_slice(&[0, 0, 0]); // padding
    let layout = &[(8, 4), (12, 4), (4, 1), (2, 4), (48, 1)];
    let mut rec = v4_record([10, 0, 0, 1], [10, 0, 0, 2], 6, 2);
    rec.push(3);
    let got = decode(
        &mut d,
        e,
        &v9(
            0,
            &[
                set(1, &opt),
                set(400, &opt_data),
                set(0, &template(300, layout)),
                set(300, &rec),
            ],
        ),
        0,
    );
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].sampling_rate, got[0].sampled, got[0].packets),
        (1000, true, 2000)
    );

    // IPFIX: samplingPacketInterval 1 and samplingPacketSpace 99 in options
    // without a selector: the scope's default, 1 in 100.
    let mut d = FlowDecoder::default();
    let mut opt = 500u16.to_be_bytes().to_vec();
    opt.extend_from_slice(&[0, 3, 0, 1, 0, 149, 0, 4, 1, 49, 0, 4, 1, 50, 0, 4]);
    let mut opt_data = 1u32.to_be_bytes().to_vec();
    opt_data.extend_from_slice(&1u32.to_be_bytes());
    opt_data.extend_from_slice(&99u32.to_be_bytes());
    let rec = v4_record([10, 0, 0, 1], [10, 0, 0, 2], 6, 3);
    let got = decode(
        &mut d,
        e,
        &ipfix(
            1,
            &[
                set(3, &opt),
                set(500, &opt_data),
                set(2, &template(256, V4_LAYOUT)),
                set(256, &rec),
            ],
        ),
        0,
    );
    assert_eq!((got[0].sampling_rate, got[0].packets), (100, 300));
    assert_eq!(d.counters().options_records, 1);
}

#[test]
fn netflow_v5_and_sflow_v5_are_told_apart() {
    // NetFlow v5: a 16-bit version 5, then a record count (<= 30).
    let mut v5 = vec![0, 5, 0, 0];
    v5.extend_from_slice(&[0; 20]);
    assert_eq!(detect_format(&v5), Ok(Format::NetflowV5));
    // sFlow v5: a 32-bit version 5, then the agent address type 1 or 2.
    let sflow = [0, 0, 0, 5, 0, 0, 0, 1, 192, 0, 2, 1];
    assert_eq!(detect_format(&sflow), Ok(Format::SflowV5));
    assert_eq!(
        detect_format(&[0, 0, 0, 5, 0, 0, 0, 2]),
        Ok(Format::SflowV5)
    );
    // A NetFlow v5 header whose count happens to be 1 or 2 starts 00 05,
    // never 00 00 00 05: no overlap.
    assert_eq!(
        detect_format(&[0, 5, 0, 1, 0, 0, 0, 0]),
        Ok(Format::NetflowV5)
    );
    assert_eq!(
        detect_format(&[0, 0, 0, 5, 0, 0, 0, 3]),
        Err(FlowError::BadValue {
            format: Format::SflowV5,
            what: "the agent address type",
            value: 3
        })
    );
    assert_eq!(
        detect_format(&[0, 0, 0, 4, 0, 0, 0, 1]),
        Err(FlowError::UnknownVersion { version: 4 })
    );
    assert_eq!(
        detect_format(&[0, 7, 0, 1]),
        Err(FlowError::UnknownVersion { version: 7 })
    );
    assert_eq!(
        detect_format(&[0, 5, 0]),
        Err(FlowError::TooShort { len: 3 })
    );
    assert_eq!(detect_format(&[0, 9, 0, 1]), Ok(Format::NetflowV9));
    assert_eq!(detect_format(&[0, 10, 0, 16]), Ok(Format::Ipfix));

    // The count bound is checked when decoding.
    let mut d = FlowDecoder::default();
    let mut v5 = vec![0, 5, 0, 31];
    v5.extend_from_slice(&[0; 20]);
    v5.extend_from_slice(&[0; 48 * 31]);
    let mut out = Vec::new();
    assert_eq!(
        d.decode(addr("192.0.2.1:9995"), &v5, 0, &mut out),
        Err(FlowError::BadValue {
            format: Format::NetflowV5,
            what: "the record count",
            value: 31
        })
    );
    assert_eq!(
        d.counters().malformed[FlowError::NAMES
            .iter()
            .position(|n| *n == "bad_value")
            .unwrap()],
        1
    );
}

#[test]
fn netflow_v5_sampling_interval_scales() {
    let mut v5 = vec![0, 5, 0, 1, 0, 0, 0x27, 0x10];
    v5.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    v5.extend_from_slice(&[0; 8]);
    v5.extend_from_slice(&[0, 0, 0x40, 0x0a]); // engine 0/0, mode 1, interval 10
    v5.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
    v5.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 180, 0, 0, 0x27, 0x10, 0, 0, 0x27, 0x10]);
    v5.extend_from_slice(&[
        0x01, 0xbb, 0xc3, 0x50, 0, 0x12, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    let mut d = FlowDecoder::default();
    let got = decode(&mut d, "192.0.2.1:9995", &v5, 0);
    assert_eq!(
        (got[0].sampling_rate, got[0].packets, got[0].bytes),
        (10, 30, 1800)
    );
    assert_eq!(
        (got[0].tcp_flags, got[0].start_ns),
        (0x12, 1_700_000_000 * SEC)
    );
}

/// An sFlow v5 datagram from agent 192.0.2.1 with the given samples.
fn sflow(samples: &[Vec<u8>]) -> Vec<u8> {
    let mut d = vec![
        0, 0, 0, 5, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 1,
    ];
    d.extend_from_slice(&(samples.len() as u32).to_be_bytes());
    for s in samples {
        d.extend_from_slice(s);
    }
    d
}

fn xdr(format: u32, body: &[u8]) -> Vec<u8> {
    let mut v = format.to_be_bytes().to_vec();
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn flow_sample(expanded: bool, rate: u32, records: &[Vec<u8>]) -> Vec<u8> {
    let mut b = 1u32.to_be_bytes().to_vec(); // sequence
    b.resize(b.len() + if expanded { 8 } else { 4 }, 0); // source ID
    b.extend_from_slice(&rate.to_be_bytes());
    b.extend_from_slice(&[0; 8]); // pool, drops
    b.resize(b.len() + if expanded { 16 } else { 8 }, 0); // interfaces
    b.extend_from_slice(&(records.len() as u32).to_be_bytes());
    for r in records {
        b.extend_from_slice(r);
    }
    xdr(if expanded { 3 } else { 1 }, &b)
}

fn raw_header(protocol: u32, frame_length: u32, header: &[u8]) -> Vec<u8> {
    let mut b = protocol.to_be_bytes().to_vec();
    b.extend_from_slice(&frame_length.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 4]);
    b.extend_from_slice(&(header.len() as u32).to_be_bytes());
    b.extend_from_slice(header);
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
    xdr(1, &b)
}

#[test]
fn sflow_samples_of_every_kind() {
    // An IPv4/UDP packet of total length 120, 10.1.1.1:5000 -> 10.2.2.2:53,
    // cut after 28 bytes.
    let mut ipv4 = vec![
        0x45, 0, 0, 120, 0, 1, 0, 0, 64, 17, 0, 0, 10, 1, 1, 1, 10, 2, 2, 2,
    ];
    ipv4.extend_from_slice(&[0x13, 0x88, 0, 53, 0, 100, 0, 0]);
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2; 6]);
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    // A sampled IPv4 record (format 3): length 60, TCP, ports, flags SYN.
    let mut s4 = 60u32.to_be_bytes().to_vec();
    s4.extend_from_slice(&6u32.to_be_bytes());
    s4.extend_from_slice(&[10, 3, 3, 3, 10, 4, 4, 4]);
    for v in [40000u32, 443, 0x02, 0] {
        s4.extend_from_slice(&v.to_be_bytes());
    }
    let counter = xdr(2, &[0; 12]);
    let samples = [
        counter,
        flow_sample(true, 512, &[raw_header(11, 124, &ipv4)]),
        flow_sample(false, 0, &[xdr(3, &s4)]),
        flow_sample(false, 100, &[raw_header(1, 64, &arp)]),
        flow_sample(false, 100, &[xdr(1001, &[0; 16])]),
        xdr(5 << 12 | 1, &[0; 4]),
    ];
    let mut d = FlowDecoder::default();
    let got = decode(&mut d, "198.51.100.7:6343", &sflow(&samples), 42);
    assert_eq!(got.len(), 2);
    let f = &got[0];
    assert_eq!(
        (f.src, f.dst, f.src_port, f.dst_port, f.proto),
        (ip("10.1.1.1"), ip("10.2.2.2"), 5000, 53, 17)
    );
    assert_eq!((f.sampling_rate, f.packets, f.bytes), (512, 512, 120 * 512));
    assert_eq!(
        (f.observation_domain, f.exporter, f.start_ns),
        (9, ip("198.51.100.7"), 42)
    );
    // A rate of 0 is read as 1.
    let f = &got[1];
    assert_eq!(
        (f.src, f.dst_port, f.tcp_flags, f.bytes, f.sampling_rate),
        (ip("10.3.3.3"), 443, 0x02, 60, 1)
    );
    let c = d.counters();
    assert_eq!(
        (
            c.sflow_flow_samples,
            c.sflow_counter_samples,
            c.sflow_other_samples
        ),
        (4, 1, 1)
    );
    assert_eq!((c.sflow_non_ip, c.sflow_unsupported_headers), (1, 1));
}

#[test]
fn sflow_truncated_sample_keeps_earlier_records() {
    let mut ipv4 = vec![
        0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 1, 1, 1, 10, 2, 2, 2,
    ];
    ipv4.extend_from_slice(&[0x13, 0x88, 0, 80]);
    let good = flow_sample(false, 10, &[raw_header(11, 40, &ipv4)]);
    let mut dgram = sflow(&[good.clone(), good]);
    dgram.truncate(dgram.len() - 10);
    let mut d = FlowDecoder::default();
    let mut out = Vec::new();
    let e = d
        .decode(addr("198.51.100.7:6343"), &dgram, 0, &mut out)
        .unwrap_err();
    assert!(
        matches!(
            e,
            FlowError::Truncated {
                format: Format::SflowV5,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(out.len(), 1);
    assert_eq!(d.counters().records, 1);
}
