//! sFlow version 5 (sflow.org/sflow_version_5.txt), decoded by hand: the
//! sFlow crates on crates.io are young, and the part depmap needs is small.
//!
//! Flow samples (plain and expanded) become one [`FlowRecord`] each, from
//! their raw packet header record (header protocol 1 = Ethernet through
//! [`depmap_wire::decode`], 11/12 = IPv4/IPv6 through
//! [`depmap_wire::decode_ip_packet`]) or, failing that, their sampled
//! IPv4/IPv6 record. One sampled packet stands for `sampling_rate` packets
//! and its IP length for `ip_len * sampling_rate` bytes. Counter samples are
//! skipped and counted. Every read is bounds-checked.

use std::net::IpAddr;

use depmap_wire::{decode as decode_frame, decode_ip_packet, Decoded, LinkType, Packet};

use crate::counters::DecoderCounters;
use crate::error::FlowError;
use crate::reader::{self, Reader};
use crate::record::{FlowRecord, Format};

/// sFlow's datagram version.
pub(crate) const VERSION: u32 = 5;

/// Sample formats (enterprise 0).
const FLOW_SAMPLE: u32 = 1;
const COUNTER_SAMPLE: u32 = 2;
const EXPANDED_FLOW_SAMPLE: u32 = 3;
const EXPANDED_COUNTER_SAMPLE: u32 = 4;

/// Flow record formats (enterprise 0).
const RAW_PACKET_HEADER: u32 = 1;
const SAMPLED_IPV4: u32 = 3;
const SAMPLED_IPV6: u32 = 4;

/// Raw packet header protocols.
const HEADER_ETHERNET: u32 = 1;
const HEADER_IPV4: u32 = 11;
const HEADER_IPV6: u32 = 12;

/// What a flow sample's records said about its packet.
#[derive(Clone, Copy, Debug, Default)]
struct Sampled {
    /// From a raw packet header, decoded by depmap-wire.
    header: Option<Packet>,
    /// From a sampled IPv4/IPv6 record.
    ip: Option<Packet>,
    /// A raw header was present but was not IP or not decodable.
    unusable_header: bool,
}

/// Decodes one sFlow v5 datagram into `out`; returns the number of records.
/// Records decoded before a truncation are kept in `out`.
pub(crate) fn decode(
    exporter: IpAddr,
    d: &[u8],
    received_ns: i64,
    out: &mut Vec<FlowRecord>,
    c: &mut DecoderCounters,
) -> Result<usize, FlowError> {
    let truncated = |what, offset| FlowError::Truncated {
        format: Format::SflowV5,
        what,
        offset,
    };
    let mut r = Reader::new(d);
    let _version = r.u32().ok_or(truncated("the header", 0))?;
    let addr_type = r.u32().ok_or(truncated("the header", 0))?;
    let addr_len = match addr_type {
        1 => 4,
        2 => 16,
        other => {
            return Err(FlowError::BadValue {
                format: Format::SflowV5,
                what: "the agent address type",
                value: other,
            })
        }
    };
    let header = (|| {
        r.skip(addr_len)?;
        let sub_agent = r.u32()?;
        let _sequence = r.u32()?;
        let _uptime = r.u32()?;
        let samples = r.u32()?;
        Some((sub_agent, samples))
    })();
    let (sub_agent, samples) = header.ok_or(truncated("the header", 0))?;

    let mut n = 0;
    for _ in 0..samples {
        let offset = r.pos();
        let (format, body) = (|| {
            let format = r.u32()?;
            let len = r.u32()? as usize;
            Some((format, r.bytes(len)?))
        })()
        .ok_or(truncated("a sample", offset))?;
        let (enterprise, format) = (format >> 12, format & 0xfff);
        let expanded = match (enterprise, format) {
            (0, FLOW_SAMPLE) => false,
            (0, EXPANDED_FLOW_SAMPLE) => true,
            (0, COUNTER_SAMPLE | EXPANDED_COUNTER_SAMPLE) => {
                c.sflow_counter_samples += 1;
                continue;
            }
            _ => {
                c.sflow_other_samples += 1;
                continue;
            }
        };
        c.sflow_flow_samples += 1;
        let (rate, sampled) =
            flow_sample(body, expanded, c).ok_or(truncated("a flow sample", offset))?;
        let Some(p) = sampled.header.or(sampled.ip) else {
            if !sampled.unusable_header {
                c.sflow_unsupported_headers += 1;
            }
            continue;
        };
        let rate = rate.max(1);
        out.push(FlowRecord {
            exporter,
            observation_domain: sub_agent,
            src: p.src,
            dst: p.dst,
            src_port: p.src_port,
            dst_port: p.dst_port,
            proto: p.proto,
            packets: u64::from(rate),
            bytes: u64::from(p.ip_len).saturating_mul(u64::from(rate)),
            reverse_packets: None,
            reverse_bytes: None,
            start_ns: received_ns,
            end_ns: received_ns,
            tcp_flags: p.tcp_flags,
            sampling_rate: rate,
            sampled: true,
            direction: None,
            source: Format::SflowV5,
        });
        n += 1;
    }
    Ok(n)
}

/// Reads a flow sample's sampling rate and its packet. `None` when the
/// sample is cut short.
fn flow_sample(body: &[u8], expanded: bool, c: &mut DecoderCounters) -> Option<(u32, Sampled)> {
    let mut r = Reader::new(body);
    let _sequence = r.u32()?;
    if expanded {
        r.skip(8)?; // source ID type and index
    } else {
        r.skip(4)?; // source ID
    }
    let rate = r.u32()?;
    r.skip(8)?; // sample pool, drops
    if expanded {
        r.skip(16)?; // input and output interface format and value
    } else {
        r.skip(8)?; // input and output interfaces
    }
    let records = r.u32()?;
    let mut sampled = Sampled::default();
    for _ in 0..records {
        let format = r.u32()?;
        let len = r.u32()? as usize;
        let rec = r.bytes(len)?;
        match (format >> 12, format & 0xfff) {
            (0, RAW_PACKET_HEADER) if sampled.header.is_none() => {
                raw_header(rec, &mut sampled, c)?;
            }
            (0, SAMPLED_IPV4) if sampled.ip.is_none() => sampled.ip = sampled_ip(rec, false),
            (0, SAMPLED_IPV6) if sampled.ip.is_none() => sampled.ip = sampled_ip(rec, true),
            _ => {}
        }
    }
    Some((rate, sampled))
}

/// Decodes a raw packet header record. `None` when the record is cut short.
fn raw_header(rec: &[u8], sampled: &mut Sampled, c: &mut DecoderCounters) -> Option<()> {
    let mut r = Reader::new(rec);
    let protocol = r.u32()?;
    let frame_length = r.u32()?;
    let _stripped = r.u32()?;
    let header_len = r.u32()? as usize;
    // The header is padded to 4 bytes; a header longer than its record is
    // used as far as it goes (depmap-wire reads cut packets).
    let header = rec.get(16..).map(|h| &h[..h.len().min(header_len)])?;
    let decoded = match protocol {
        HEADER_ETHERNET => decode_frame(LinkType::Ethernet, header, frame_length),
        HEADER_IPV4 | HEADER_IPV6 => decode_ip_packet(header, frame_length).map(Decoded::Ip),
        _ => return Some(()),
    };
    match decoded {
        Ok(Decoded::Ip(p)) => sampled.header = Some(p),
        Ok(Decoded::NonIp(_)) => {
            c.sflow_non_ip += 1;
            sampled.unusable_header = true;
        }
        Err(_) => {
            c.sflow_undecodable_headers += 1;
            sampled.unusable_header = true;
        }
    }
    Some(())
}

/// Decodes a sampled IPv4 (format 3) or IPv6 (format 4) record.
fn sampled_ip(rec: &[u8], v6: bool) -> Option<Packet> {
    let mut r = Reader::new(rec);
    let ip_len = r.u32()?;
    let proto = r.u32()?;
    let (src, dst) = if v6 {
        let s = reader::ipv6(r.bytes(16)?)?;
        let d = reader::ipv6(r.bytes(16)?)?;
        (IpAddr::V6(s), IpAddr::V6(d))
    } else {
        (IpAddr::V4(r.ipv4()?), IpAddr::V4(r.ipv4()?))
    };
    let src_port = r.u32()?;
    let dst_port = r.u32()?;
    let tcp_flags = r.u32()?;
    Some(Packet {
        src,
        dst,
        proto: proto as u8,
        src_port: src_port as u16,
        dst_port: dst_port as u16,
        tcp_flags: tcp_flags as u8,
        icmp_type: 0,
        icmp_code: 0,
        ip_len,
        fragment: None,
        has_ports: depmap_wire::ipproto::has_ports(proto as u8),
        app_offset: 0,
        app_len: 0,
    })
}
