//! Classic pcap files, read by a loop of our own.
//!
//! Why not pcap-parser here (it still reads pcapng): a classic pcap record
//! is a 16-byte header and the frame's bytes, and framing it in place in
//! the read buffer costs a few instructions. pcap-parser's reader hands each
//! record back as its `PcapBlockOwned` enum, returned by value and moved
//! through `nom`'s result types; on the ingest benchmark's capture that
//! copying and the reader's bookkeeping were about 7% of `depmap ingest`'s
//! CPU time (perf), a third of what separated depmap from the 0.5 of a
//! plain libpcap read the benchmark aims for. This loop also reads the
//! big-endian form of the "modified" pcap format (24-byte record headers),
//! which pcap-parser 0.17 refuses.

use std::io::{self, Read};

use crate::frame::{
    nanos, too_large, truncated, CaptureError, Frame, Interface, ReadSummary, BUFFER_BYTES,
    MAX_RECORD_BYTES,
};

/// Bytes of the global header.
const HEADER_BYTES: usize = 24;

/// A classic pcap file: its header's facts and a read buffer over the rest.
pub(crate) struct LegacyReader<R> {
    input: R,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// The input returned end of file.
    exhausted: bool,
    big_endian: bool,
    /// 16, or 24 in the "modified" format (Alexey Kuznetsov's patches),
    /// whose records add an interface index, a protocol and a packet type.
    record_header: usize,
    iface: Interface,
}

impl<R: Read> LegacyReader<R> {
    /// Reads and checks the global header. The caller has recognised the
    /// magic number as one of classic pcap's.
    pub(crate) fn new(input: R, name: &str) -> Result<LegacyReader<R>, CaptureError> {
        let mut r = LegacyReader {
            input,
            buf: vec![0; BUFFER_BYTES],
            start: 0,
            end: 0,
            exhausted: false,
            big_endian: false,
            record_header: 16,
            iface: Interface {
                linktype: 0,
                resolution: 1_000_000,
                offset_secs: 0,
            },
        };
        while r.end < HEADER_BYTES && !r.exhausted {
            r.fill(name)?;
        }
        let Some(h) = r.buf.get(..HEADER_BYTES).filter(|_| r.end >= HEADER_BYTES) else {
            return Err(CaptureError::Truncated {
                name: name.to_string(),
                offset: 0,
                frames: 0,
            });
        };
        let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let (big_endian, nano, modified) = match magic {
            0xa1b2_c3d4 => (false, false, false),
            0xa1b2_3c4d => (false, true, false),
            0xa1b2_cd34 => (false, false, true),
            0xd4c3_b2a1 => (true, false, false),
            0x4d3c_b2a1 => (true, true, false),
            0x34cd_b2a1 => (true, false, true),
            _ => {
                return Err(CaptureError::Malformed {
                    name: name.to_string(),
                    offset: 0,
                    detail: "not a classic pcap header".to_string(),
                    frames: 0,
                })
            }
        };
        r.big_endian = big_endian;
        r.record_header = if modified { 24 } else { 16 };
        // The link type field's upper bits may carry an FCS length; the
        // number is kept whole, as libpcap's pcap_datalink_ext() gives it.
        r.iface.linktype = word(h, 20, big_endian);
        r.iface.resolution = if nano { 1_000_000_000 } else { 1_000_000 };
        r.start = HEADER_BYTES;
        Ok(r)
    }

    /// Reads more input after the unread bytes, moving them to the front
    /// of the buffer first.
    fn fill(&mut self, name: &str) -> Result<(), CaptureError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.exhausted = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(CaptureError::Io {
                        name: name.to_string(),
                        source,
                    })
                }
            }
        }
    }

    /// Calls `f` for every frame; see [`crate::FileReader::for_each_frame`].
    pub(crate) fn for_each_frame<F>(
        &mut self,
        name: &str,
        mut f: F,
    ) -> Result<ReadSummary, CaptureError>
    where
        F: FnMut(&Frame<'_>),
    {
        let mut summary = ReadSummary::default();
        // Bytes of the file consumed: the header and every whole record.
        let mut offset = HEADER_BYTES as u64;
        let (rh, be) = (self.record_header, self.big_endian);
        loop {
            let data = &self.buf[self.start..self.end];
            let mut pos = 0;
            while let Some(h) = data.get(pos..pos + rh) {
                let caplen = word(h, 8, be) as usize;
                let Some(frame) = data.get(pos + rh..pos + rh + caplen) else {
                    break;
                };
                let (sec, frac, wire_len) = (word(h, 0, be), word(h, 4, be), word(h, 12, be));
                pos += rh + caplen;
                offset += (rh + caplen) as u64;
                summary.frames += 1;
                f(&Frame {
                    ts_nanos: nanos(
                        u64::from(sec) * self.iface.resolution + u64::from(frac),
                        &self.iface,
                    ),
                    linktype: self.iface.linktype,
                    interface: 0,
                    data: frame,
                    wire_len,
                    file_offset: offset,
                });
            }
            self.start += pos;

            // The next record is not all buffered.
            let pending = self.end - self.start;
            if pending >= rh {
                let caplen = word(&self.buf[self.start..], 8, be) as usize;
                let need = rh + caplen;
                if need > MAX_RECORD_BYTES {
                    return Err(too_large(name, offset, &summary));
                }
                if need > self.buf.len() {
                    self.buf.resize(need.next_power_of_two(), 0);
                }
            }
            if self.exhausted {
                if pending == 0 {
                    break;
                }
                return Err(truncated(name, offset, &summary));
            }
            self.fill(name)?;
        }
        summary.bytes = offset;
        Ok(summary)
    }
}

/// The 32-bit field at `at` in the file's byte order.
#[inline]
fn word(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big_endian {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    }
}
