//! Fuzz target bodies, shared by the cargo-fuzz targets in `fuzz/` and by
//! the replay test (`tests/fuzz_replay.rs`) that runs their corpora on stable.
//!
//! Each body takes arbitrary bytes and must not panic on any of them. The
//! only panics are failed assertions of invariants the crates promise:
//!
//! - decoding: a decoded packet's application payload lies inside the frame,
//!   ports are only reported for protocols that have them and never for
//!   later fragments, the IP length is at least the minimal header, every
//!   [`Malformed`] reason is listed in [`Malformed::ALL`], and a frame that
//!   decodes on `LINKTYPE_RAW` decodes the same through [`decode_ip_packet`];
//! - aggregation: after [`FlowTable::finish`], the edges taken hold every
//!   packet and byte observed, exactly one connection per flow created, and
//!   `first_seen <= last_seen`; the table is empty afterwards;
//! - reading: the reader delivers as many frames as its summary or its
//!   error says, and never reports more bytes than the input has.

use std::io::Cursor;

use depmap_capture::{CaptureError, FileReader};
use depmap_edges::{FlowConfig, FlowTable, NANOS_PER_SEC};
use depmap_wire::{decode, decode_ip_packet, ipproto, Decoded, LinkType, Malformed, Packet};

/// The link types [`decode_frame`] chooses from with its first byte (modulo
/// the length): every one depmap decodes, then one it does not
/// (`LINKTYPE_IEEE802_11`, 105).
pub const LINK_TYPES: [LinkType; 9] = [
    LinkType::Null,
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Loop,
    LinkType::LinuxSll,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll2,
    LinkType::Other(105),
];

/// Length of the header [`decode_frame`] reads before its frame records.
pub const DECODE_HEADER_LEN: usize = 2;

/// Length of each frame record's header in [`decode_frame`]'s input.
pub const RECORD_HEADER_LEN: usize = 3;

/// Timestamp of the first frame of a [`decode_frame`] input (November 2023).
const BASE_TS: i64 = 1_700_000_000 * NANOS_PER_SEC;

/// A step byte of this value moves the clock back instead of forward, so
/// out-of-order timestamps (multi-interface captures have them) are fuzzed.
pub const STEP_BACKWARDS: u8 = 0xff;

/// Fuzzes the packet decoder and the flow table on a sequence of frames.
///
/// Input layout:
///
/// - byte 0: the link type, an index into [`LINK_TYPES`] (modulo its length);
/// - byte 1: flow-table knobs: bits 0-2 are `max_flows - 1` (1 to 8 flows),
///   bits 3-4 `max_fragments - 1` (1 to 4), and bit 5 folds open flows and
///   takes the edges after every third IP packet (a periodic flush);
/// - then frame records, each a step byte (the clock advances by
///   `step * 100 ms`, or goes back 90 s for [`STEP_BACKWARDS`]), the frame's
///   wire length as a big-endian `u16`, and the captured bytes: as many as
///   the wire length, or whatever is left of the input if that is fewer (a
///   frame cut by the snap length). An input whose records end early is fine.
///
/// A seed that is just a link-type byte, a knob byte and one record holding
/// a whole frame decodes that frame, so single frames are easy to write.
pub fn decode_frame(data: &[u8]) {
    let [link, knobs, records @ ..] = data else {
        return;
    };
    let mut rest = records;
    let link = LINK_TYPES[usize::from(*link) % LINK_TYPES.len()];
    let mut sink = Sink::new(FlowConfig {
        max_flows: 1 + usize::from(knobs & 0x07),
        max_fragments: 1 + usize::from((knobs >> 3) & 0x03),
        ..small_timeouts()
    });
    sink.flush_every = if knobs & 0x20 != 0 { 3 } else { 0 };
    let mut ts = BASE_TS;
    while let [step, len_hi, len_lo, tail @ ..] = rest {
        ts = if *step == STEP_BACKWARDS {
            ts.saturating_sub(90 * NANOS_PER_SEC)
        } else {
            ts.saturating_add(i64::from(*step) * (NANOS_PER_SEC / 10))
        };
        let wire_len = usize::from(u16::from_be_bytes([*len_hi, *len_lo]));
        let (frame, next) = tail.split_at(wire_len.min(tail.len()));
        sink.frame(ts, link, frame, wire_len as u32);
        rest = next;
    }
    sink.finish();
}

/// Fuzzes the capture-file reader: reads `data` as a pcap or pcapng file,
/// decodes every frame with its interface's link type and aggregates the
/// packets, as `depmap` does with a file. Errors are fine; panics are not.
pub fn read_capture(data: &[u8]) {
    let mut reader = match FileReader::new(Cursor::new(data), "fuzz") {
        Ok(r) => r,
        Err(_) => return,
    };
    let mut sink = Sink::new(FlowConfig {
        max_flows: 16,
        max_fragments: 4,
        ..small_timeouts()
    });
    let mut frames = 0u64;
    let res = reader.for_each_frame(|f| {
        frames += 1;
        assert!(
            f.file_offset <= data.len() as u64,
            "frame reported at offset {} of a {}-byte input",
            f.file_offset,
            data.len()
        );
        sink.frame(
            f.ts_nanos,
            LinkType::from_linktype(f.linktype),
            f.data,
            f.wire_len,
        );
    });
    match res {
        Ok(summary) => {
            assert_eq!(summary.frames, frames, "summary miscounts frames");
            assert!(
                summary.bytes <= data.len() as u64,
                "summary overcounts bytes"
            );
        }
        Err(e @ (CaptureError::Truncated { .. } | CaptureError::Malformed { .. })) => {
            assert_eq!(e.frames_before(), frames, "error miscounts frames: {e}");
        }
        Err(_) => {}
    }
    sink.finish();
}

/// Timeouts short enough that a fuzz input of a few dozen frames expires
/// flows and fragments.
fn small_timeouts() -> FlowConfig {
    FlowConfig {
        max_flows: 8,
        tcp_idle: 20 * NANOS_PER_SEC,
        tcp_closed_idle: 2 * NANOS_PER_SEC,
        udp_idle: 10 * NANOS_PER_SEC,
        fragment_timeout: 5 * NANOS_PER_SEC,
        max_fragments: 4,
    }
}

/// Decodes frames, checks each result, feeds the packets to a flow table and
/// checks the table's totals at the end.
struct Sink {
    table: FlowTable,
    /// Fold open flows and take edges after this many IP packets (0: never).
    flush_every: u64,
    fed_packets: u64,
    fed_bytes: u64,
    edge_packets: u64,
    edge_bytes: u64,
    edge_connections: u64,
}

impl Sink {
    fn new(cfg: FlowConfig) -> Sink {
        Sink {
            table: FlowTable::new(cfg),
            flush_every: 0,
            fed_packets: 0,
            fed_bytes: 0,
            edge_packets: 0,
            edge_bytes: 0,
            edge_connections: 0,
        }
    }

    fn frame(&mut self, ts: i64, link: LinkType, frame: &[u8], wire_len: u32) {
        let decoded = decode(link, frame, wire_len);
        if matches!(link, LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6) {
            if let Ok(Decoded::Ip(p)) = decoded {
                assert_eq!(
                    decode_ip_packet(frame, wire_len),
                    Ok(p),
                    "decode_ip_packet disagrees with decode on LINKTYPE_RAW"
                );
            }
        }
        match decoded {
            Ok(Decoded::Ip(p)) => {
                check_packet(&p, frame);
                self.table.observe(ts, &p);
                self.fed_packets += 1;
                self.fed_bytes += u64::from(p.ip_len);
                if self.flush_every != 0 && self.fed_packets.is_multiple_of(self.flush_every) {
                    self.table.fold_active();
                    self.take();
                }
            }
            Ok(Decoded::NonIp(n)) => assert!(!n.name().is_empty()),
            Err(m) => {
                assert_eq!(Malformed::ALL[m.index()], m, "{m:?} missing from ALL");
                assert!(!m.name().is_empty());
            }
        }
    }

    fn take(&mut self) {
        let edges = self.table.take_edges();
        assert!(
            edges.windows(2).all(|w| w[0].0 < w[1].0),
            "take_edges is not sorted by key"
        );
        for (key, stats) in &edges {
            assert!(
                stats.first_seen <= stats.last_seen,
                "edge {key:?} ends before it starts: {stats:?}"
            );
            self.edge_packets += stats.packets();
            self.edge_bytes += stats.bytes();
            self.edge_connections += stats.connections;
        }
        assert_eq!(self.table.pending_edges(), 0);
    }

    fn finish(mut self) {
        self.table.finish();
        self.take();
        let counters = self.table.counters();
        assert_eq!(self.table.active_flows(), 0, "flows left after finish()");
        assert_eq!(counters.packets, self.fed_packets, "counters.packets");
        assert_eq!(counters.bytes, self.fed_bytes, "counters.bytes");
        assert_eq!(
            self.edge_packets, self.fed_packets,
            "edges hold {} packets, {} were observed ({counters:?})",
            self.edge_packets, self.fed_packets
        );
        assert_eq!(
            self.edge_bytes, self.fed_bytes,
            "edges hold {} bytes, {} were observed ({counters:?})",
            self.edge_bytes, self.fed_bytes
        );
        assert_eq!(
            self.edge_connections, counters.flows_created,
            "edges count {} connections for {} flows ({counters:?})",
            self.edge_connections, counters.flows_created
        );
    }
}

/// The promises `depmap_wire` makes about a decoded packet.
fn check_packet(p: &Packet, frame: &[u8]) {
    assert_eq!(
        p.app_payload(frame).len(),
        p.app_len as usize,
        "application payload outside the frame: {p:?} in {} bytes",
        frame.len()
    );
    if p.has_ports {
        assert!(
            ipproto::has_ports(p.proto),
            "ports for protocol {}",
            p.proto
        );
        assert!(!p.is_later_fragment(), "ports on a later fragment: {p:?}");
    } else {
        assert_eq!((p.src_port, p.dst_port), (0, 0), "ports not read: {p:?}");
    }
    let min_len = if p.src.is_ipv4() { 20 } else { 40 };
    assert!(p.ip_len >= min_len, "IP length below a header: {p:?}");
    assert_eq!(p.src.is_ipv4(), p.dst.is_ipv4(), "mixed address families");
}

/// Fuzzes the NetFlow v5/v9 and IPFIX decoder (and whatever else the version
/// field selects) on a *sequence* of datagrams from a few exporters, so
/// template state, data sets waiting for their template, withdrawals,
/// sampler options and the bounds are reachable; the records then go
/// through the flow-record aggregator.
///
/// Input layout:
///
/// - byte 0: decoder bounds: bits 0-1 are `max_scopes - 1` (1 to 4), bits
///   2-4 `max_templates_per_scope - 1` (1 to 8), bits 5-6
///   `max_pending_sets - 1` (1 to 4), bit 7 a 512-byte `max_pending_bytes`;
/// - then datagram records: a selector byte (bits 0-1 pick one of four
///   exporters, 192.0.2.1-2 on ports 2055/2056; bits 2-7 advance the
///   receive clock by that many minutes, past the 5-minute pending timeout
///   at 5), the datagram's length as a big-endian `u16`, and its bytes (or
///   what is left of the input).
///
/// Invariants: every record the outcome counts is appended; `end_ns >=
/// start_ns`; `sampled` exactly when the rate is above 1 or the record is
/// sFlow; the decoder's record counter matches the records delivered;
/// waiting sets stay within `max_pending_sets`; and the aggregator's edges
/// hold every packet and byte of the records (checked when the totals do
/// not saturate).
pub fn netflow_datagrams(data: &[u8]) {
    let [knobs, rest @ ..] = data else {
        return;
    };
    let cfg = depmap_flows::FlowDecoderConfig {
        max_scopes: 1 + usize::from(knobs & 0x03),
        max_templates_per_scope: 1 + usize::from((knobs >> 2) & 0x07),
        max_pending_sets: 1 + usize::from((knobs >> 5) & 0x03),
        max_pending_bytes: if knobs & 0x80 != 0 { 512 } else { 1 << 20 },
        pending_timeout_ns: 300 * NANOS_PER_SEC,
    };
    let mut decoder = depmap_flows::FlowDecoder::new(cfg);
    let mut records = Vec::new();
    let mut ts = BASE_TS;
    let mut rest = rest;
    while let [sel, len_hi, len_lo, tail @ ..] = rest {
        let exporter = std::net::SocketAddr::new(
            std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1 + (sel & 1))),
            2055 + u16::from((sel >> 1) & 1),
        );
        ts = ts.saturating_add(i64::from(sel >> 2) * 60 * NANOS_PER_SEC);
        let len = usize::from(u16::from_be_bytes([*len_hi, *len_lo]));
        let (datagram, next) = tail.split_at(len.min(tail.len()));
        let before = records.len();
        if let Ok(outcome) = decoder.decode(exporter, datagram, ts, &mut records) {
            assert_eq!(outcome.records, records.len() - before);
        }
        for r in &records[before..] {
            check_record(r, exporter.ip());
        }
        assert!(decoder.pending_sets() <= cfg.max_pending_sets);
        rest = next;
    }
    decoder.expire(i64::MAX);
    assert_eq!(decoder.pending_sets(), 0);
    assert_eq!(decoder.counters().records, records.len() as u64);
    aggregate_records(&records);
}

/// Fuzzes the decoder on one datagram (sFlow v5 when it starts
/// `00 00 00 05`; the seeds do), from one exporter, then aggregates its
/// records. Invariants as in [`netflow_datagrams`].
pub fn sflow_datagram(data: &[u8]) {
    let exporter: std::net::SocketAddr = ([192, 0, 2, 9], 6343).into();
    let mut decoder = depmap_flows::FlowDecoder::default();
    let mut records = Vec::new();
    if let Ok(outcome) = decoder.decode(exporter, data, BASE_TS, &mut records) {
        assert_eq!(outcome.records, records.len());
    }
    for r in &records {
        check_record(r, exporter.ip());
        if r.source == depmap_flows::Format::SflowV5 {
            assert_eq!((r.start_ns, r.end_ns), (BASE_TS, BASE_TS));
        }
    }
    aggregate_records(&records);
}

fn check_record(r: &depmap_flows::FlowRecord, exporter: std::net::IpAddr) {
    assert!(r.end_ns >= r.start_ns, "{r:?}");
    assert_eq!(r.exporter, exporter);
    assert!(r.sampling_rate >= 1, "{r:?}");
    assert_eq!(
        r.sampled,
        r.sampling_rate > 1 || r.source == depmap_flows::Format::SflowV5,
        "{r:?}"
    );
}

/// Feeds records through the flow-record aggregator with a small pairing
/// table and checks that the edges hold every packet and byte.
fn aggregate_records(records: &[depmap_flows::FlowRecord]) {
    use depmap_edges::flowrec::{PairingConfig, RecordAggregator};
    let mut agg = RecordAggregator::new(PairingConfig {
        window_ns: 60 * NANOS_PER_SEC,
        max_waiting: 4,
    });
    let (mut packets, mut bytes) = (0u64, 0u64);
    let mut saturated = false;
    for r in records {
        let input = depmap_edges::flowrec::FlowInput::from(r);
        let add = |sum: &mut u64, n: u64, saturated: &mut bool| match sum.checked_add(n) {
            Some(v) if v < 1 << 62 => *sum = v,
            _ => *saturated = true,
        };
        add(&mut packets, input.packets, &mut saturated);
        add(&mut packets, input.reverse_packets, &mut saturated);
        add(&mut bytes, input.bytes, &mut saturated);
        add(&mut bytes, input.reverse_bytes, &mut saturated);
        agg.add(&input);
    }
    agg.finish();
    let c = agg.counters();
    assert_eq!(c.conversations, c.pairs + c.unpaired + records_alone(&c));
    let edges = agg.take_edges();
    let _ = agg.take_activity();
    assert_eq!(agg.pending_edges(), 0);
    if !saturated {
        assert_eq!(edges.iter().map(|e| e.1.packets()).sum::<u64>(), packets);
        assert_eq!(edges.iter().map(|e| e.1.bytes()).sum::<u64>(), bytes);
    }
    for (_, s) in &edges {
        assert!(s.first_seen <= s.last_seen);
    }
}

/// Conversations of one record that never waited for a partner (biflows and
/// records with an initiator hint).
fn records_alone(c: &depmap_edges::flowrec::RecordCounters) -> u64 {
    c.records - 2 * c.pairs - c.unpaired
}
