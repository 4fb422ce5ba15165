//! A minimal classic-pcap writer: microsecond timestamps, little-endian,
//! `LINKTYPE_ETHERNET`, snap length 65535.
//!
//! Classic pcap rather than pcapng because every tool reads it, its header
//! is 24 bytes and its record header 16, and the generator has exactly one
//! interface. The format is documented in
//! draft-ietf-opsawg-pcap (the "pcap capture file format" Internet-Draft).

use std::io::{self, Write};

/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;

/// Writes a classic pcap file to any [`Write`], one record at a time; it
/// holds nothing but the output. Wrap unbuffered outputs (a `File`) in a
/// [`std::io::BufWriter`]: every record is two `write_all` calls.
///
/// ```
/// use depmap_synth::PcapWriter;
/// let mut w = PcapWriter::new(Vec::new())?;
/// w.write_frame(1_790_812_800_000_000, &[0u8; 60])?;
/// let bytes = w.finish()?;
/// assert_eq!(bytes.len(), 24 + 16 + 60);
/// assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    frames: u64,
    bytes: u64,
}

impl<W: Write> PcapWriter<W> {
    /// The snap length written in the file header; longer frames are cut to
    /// it (their original length is kept in the record).
    pub const SNAPLEN: u32 = 65_535;

    /// Writes the file header.
    pub fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        header[16..20].copy_from_slice(&Self::SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter {
            out,
            frames: 0,
            bytes: 24,
        })
    }

    /// Writes one frame captured at `ts_micros` (microseconds since the Unix
    /// epoch, at or after 1970 and before 2106, as the format's unsigned
    /// 32-bit seconds require; earlier times are written as 1970).
    pub fn write_frame(&mut self, ts_micros: i64, frame: &[u8]) -> io::Result<()> {
        let ts = ts_micros.max(0);
        let secs = u32::try_from(ts / 1_000_000).unwrap_or(u32::MAX);
        let micros = (ts % 1_000_000) as u32;
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let cap_len = orig_len.min(Self::SNAPLEN);
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&secs.to_le_bytes());
        record[4..8].copy_from_slice(&micros.to_le_bytes());
        record[8..12].copy_from_slice(&cap_len.to_le_bytes());
        record[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(&frame[..cap_len as usize])?;
        self.frames += 1;
        self.bytes += 16 + u64::from(cap_len);
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes written so far, file header included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
