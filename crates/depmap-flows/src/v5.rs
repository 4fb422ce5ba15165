//! NetFlow v5: a 24-byte header and up to 30 fixed 48-byte IPv4 records.
//! Small enough that decoding it ourselves costs less than a dependency and
//! allocates nothing.

use std::net::IpAddr;

use crate::error::FlowError;
use crate::reader::Reader;
use crate::record::{FlowRecord, Format};
use crate::time;

/// The header's length.
pub(crate) const HEADER_LEN: usize = 24;
/// One record's length.
pub(crate) const RECORD_LEN: usize = 48;
/// The most records a v5 datagram may carry (Cisco's limit; a v5 datagram
/// of 30 records is 1464 bytes).
pub(crate) const MAX_RECORDS: u16 = 30;

/// Decodes one NetFlow v5 datagram into `out`; returns the number of records.
pub(crate) fn decode(
    exporter: IpAddr,
    d: &[u8],
    out: &mut Vec<FlowRecord>,
) -> Result<usize, FlowError> {
    let truncated = |what, offset| FlowError::Truncated {
        format: Format::NetflowV5,
        what,
        offset,
    };
    let mut r = Reader::new(d);
    let header = (|| {
        let _version = r.u16()?;
        let count = r.u16()?;
        let sys_uptime = r.u32()?;
        let secs = r.u32()?;
        let nsecs = r.u32()?;
        let _sequence = r.u32()?;
        let engine_type = r.u8()?;
        let engine_id = r.u8()?;
        let sampling = r.u16()?;
        Some((
            count,
            sys_uptime,
            secs,
            nsecs,
            engine_type,
            engine_id,
            sampling,
        ))
    })()
    .ok_or(truncated("the header", 0))?;
    let (count, sys_uptime, secs, nsecs, engine_type, engine_id, sampling) = header;
    if count > MAX_RECORDS {
        return Err(FlowError::BadValue {
            format: Format::NetflowV5,
            what: "the record count",
            value: u32::from(count),
        });
    }
    // The top two bits are the sampling mode, the low 14 the interval.
    let rate = u32::from(sampling & 0x3fff).max(1);
    let export_ns = time::unix_ns(i64::from(secs), i64::from(nsecs.min(999_999_999)));
    let domain = u32::from(engine_type) << 8 | u32::from(engine_id);

    let mut n = 0;
    for i in 0..usize::from(count) {
        let offset = HEADER_LEN + i * RECORD_LEN;
        let rec = d
            .get(offset..offset + RECORD_LEN)
            .ok_or(truncated("a flow record", offset))?;
        let mut r = Reader::new(rec);
        let fields = (|| {
            let src = r.ipv4()?;
            let dst = r.ipv4()?;
            r.skip(4 + 2 + 2)?; // next hop, input and output interfaces
            let packets = r.u32()?;
            let bytes = r.u32()?;
            let first = r.u32()?;
            let last = r.u32()?;
            let src_port = r.u16()?;
            let dst_port = r.u16()?;
            r.skip(1)?; // pad1
            let tcp_flags = r.u8()?;
            let proto = r.u8()?;
            Some((
                src, dst, packets, bytes, first, last, src_port, dst_port, tcp_flags, proto,
            ))
        })();
        let Some((src, dst, packets, bytes, first, last, src_port, dst_port, tcp_flags, proto)) =
            fields
        else {
            return Err(truncated("a flow record", offset));
        };
        let start_ns = time::from_uptime(export_ns, sys_uptime, first);
        let end_ns = time::from_uptime(export_ns, sys_uptime, last).max(start_ns);
        out.push(FlowRecord {
            exporter,
            observation_domain: domain,
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
            src_port,
            dst_port,
            proto,
            packets: u64::from(packets).saturating_mul(u64::from(rate)),
            bytes: u64::from(bytes).saturating_mul(u64::from(rate)),
            reverse_packets: None,
            reverse_bytes: None,
            start_ns,
            end_ns,
            tcp_flags,
            sampling_rate: rate,
            sampled: rate > 1,
            direction: None,
            source: Format::NetflowV5,
        });
        n += 1;
    }
    Ok(n)
}
