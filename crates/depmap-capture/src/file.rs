//! pcap and pcapng file reading.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError, PcapNGReader};

use crate::frame::{
    nanos, too_large, truncated, CaptureError, Frame, Interface, ReadSummary, BUFFER_BYTES,
    MAX_RECORD_BYTES,
};
use crate::legacy::LegacyReader;

/// How much of the file is read up front to recognise its format.
const PREFIX_BYTES: usize = 64 << 10;

/// The container format of a capture file, told from its magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// Classic libpcap format (micro- or nanosecond, either byte order).
    Pcap,
    /// pcapng (any number of sections and interfaces, either byte order).
    PcapNg,
}

enum Inner<R: Read> {
    Pcap(LegacyReader<R>),
    PcapNg(PcapNGReader<R>),
}

/// Reads pcap and pcapng files, choosing the format by magic number.
pub struct FileReader<R: Read> {
    name: String,
    format: FileFormat,
    inner: Inner<Chained<R>>,
}

// A type alias keeps `Inner` readable: the reader sees the magic bytes we
// consumed to detect the format, followed by the rest of the input.
type Chained<R> = io::Chain<Cursor<Vec<u8>>, R>;

impl FileReader<File> {
    /// Opens a capture file.
    pub fn open(path: impl AsRef<Path>) -> Result<FileReader<File>, CaptureError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| CaptureError::Io {
            name: name.clone(),
            source,
        })?;
        FileReader::new(file, name)
    }
}

impl<R: Read + Send> FileReader<R> {
    /// Wraps any reader; `name` is used in error messages.
    pub fn new(mut input: R, name: impl Into<String>) -> Result<FileReader<R>, CaptureError> {
        let name = name.into();
        // Read a prefix ourselves: it tells the format, and handing it back
        // through a Chain makes the parser's first read() return a whole
        // header rather than just the magic bytes.
        let mut prefix = vec![0u8; PREFIX_BYTES];
        let mut got = 0;
        while got < prefix.len() {
            match input.read(&mut prefix[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(CaptureError::Io { name, source }),
            }
        }
        prefix.truncate(got);
        if got == 0 {
            return Err(CaptureError::Empty { name });
        }
        let mut magic = [0u8; 4];
        magic[..got.min(4)].copy_from_slice(&prefix[..got.min(4)]);
        let format = match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => FileFormat::PcapNg,
            [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x34, 0xcd, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xcd, 0x34] => FileFormat::Pcap,
            _ => {
                return Err(CaptureError::NotACapture {
                    name,
                    magic: magic[..got.min(4)].to_vec(),
                })
            }
        };
        let chained: Chained<R> = Cursor::new(prefix).chain(input);
        let header_err = |e: PcapError<&[u8]>| match e {
            PcapError::ReadError => CaptureError::Io {
                name: name.clone(),
                source: io::Error::other("read failed"),
            },
            PcapError::Incomplete(_) | PcapError::UnexpectedEof | PcapError::Eof => {
                CaptureError::Truncated {
                    name: name.clone(),
                    offset: 0,
                    frames: 0,
                }
            }
            other => CaptureError::Malformed {
                name: name.clone(),
                offset: 0,
                detail: format!("{other:?}"),
                frames: 0,
            },
        };
        let inner = match format {
            FileFormat::Pcap => Inner::Pcap(LegacyReader::new(chained, &name)?),
            FileFormat::PcapNg => {
                Inner::PcapNg(PcapNGReader::new(BUFFER_BYTES, chained).map_err(header_err)?)
            }
        };
        Ok(FileReader {
            name,
            format,
            inner,
        })
    }

    /// The container format.
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// Calls `f` for every frame in the file, in file order.
    ///
    /// On a truncated or malformed file, every whole frame before the problem
    /// is delivered first, then the error is returned.
    pub fn for_each_frame<F>(&mut self, f: F) -> Result<ReadSummary, CaptureError>
    where
        F: FnMut(&Frame<'_>),
    {
        match &mut self.inner {
            Inner::Pcap(r) => r.for_each_frame(&self.name, f),
            Inner::PcapNg(r) => drive(r, &self.name, f),
        }
    }
}

/// Reads a pcapng file through pcap-parser.
fn drive<P, F>(reader: &mut P, name: &str, mut f: F) -> Result<ReadSummary, CaptureError>
where
    P: PcapReaderIterator + ?Sized,
    F: FnMut(&Frame<'_>),
{
    let mut summary = ReadSummary::default();
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut offset: u64 = 0;
    // The byte order of the current pcapng section.
    let mut big_endian = false;
    loop {
        if let Some(len) = short_process_information_block(reader.data(), big_endian) {
            return Err(CaptureError::Malformed {
                name: name.to_string(),
                offset,
                detail: format!("a block length of {len}, below the minimum of 12"),
                frames: summary.frames,
            });
        }
        match reader.next() {
            Ok((len, block)) => {
                offset += len as u64;
                match block {
                    // Classic pcap never comes here (`LegacyReader`).
                    PcapBlockOwned::LegacyHeader(_) | PcapBlockOwned::Legacy(_) => {}
                    PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                        big_endian = shb.big_endian();
                        interfaces.clear();
                        summary.sections += 1;
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        interfaces.push(Interface {
                            linktype: idb.linktype.0 as u32,
                            // An invalid if_tsresol (beyond 2^64 units/s)
                            // falls back to the default, microseconds.
                            resolution: ts_resolution(idb.if_tsresol),
                            offset_secs: idb.ts_offset(),
                        });
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        match interfaces.get(epb.if_id as usize) {
                            Some(iface) => {
                                let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                                summary.frames += 1;
                                f(&Frame {
                                    ts_nanos: nanos(raw, iface),
                                    linktype: iface.linktype,
                                    interface: epb.if_id,
                                    data: epb.data,
                                    wire_len: epb.origlen,
                                    file_offset: offset,
                                });
                            }
                            None => summary.unknown_interface += 1,
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => match interfaces.first() {
                        Some(iface) => {
                            summary.frames += 1;
                            f(&Frame {
                                ts_nanos: 0,
                                linktype: iface.linktype,
                                interface: 0,
                                data: spb.data,
                                wire_len: spb.origlen,
                                file_offset: offset,
                            });
                        }
                        None => summary.unknown_interface += 1,
                    },
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(len);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                let before = reader.data().len();
                reader.refill().map_err(|_| CaptureError::Io {
                    name: name.to_string(),
                    source: io::Error::other("read failed"),
                })?;
                if reader.reader_exhausted() && reader.data().len() == before {
                    // No more input and the buffered bytes are not a whole record.
                    if before == 0 {
                        break;
                    }
                    return Err(truncated(name, offset, &summary));
                }
            }
            Err(PcapError::UnexpectedEof) => return Err(truncated(name, offset, &summary)),
            Err(PcapError::BufferTooSmall) => {
                let want = reader.data().len().saturating_mul(2).max(BUFFER_BYTES * 2);
                if want > MAX_RECORD_BYTES || !reader.grow(want) {
                    return Err(too_large(name, offset, &summary));
                }
                reader.refill().map_err(|_| CaptureError::Io {
                    name: name.to_string(),
                    source: io::Error::other("read failed"),
                })?;
            }
            Err(PcapError::ReadError) => {
                return Err(CaptureError::Io {
                    name: name.to_string(),
                    source: io::Error::other("read failed"),
                })
            }
            Err(other) => {
                let detail = match other {
                    PcapError::NomError(_, kind) => format!("parse error ({kind:?})"),
                    PcapError::OwnedNomError(_, kind) => format!("parse error ({kind:?})"),
                    PcapError::HeaderNotRecognized => "unrecognised block header".to_string(),
                    _ => "unreadable record".to_string(),
                };
                return Err(CaptureError::Malformed {
                    name: name.to_string(),
                    offset,
                    detail,
                    frames: summary.frames,
                });
            }
        }
    }
    summary.bytes = offset;
    Ok(summary)
}

/// The length of the pcapng block at the start of `data` if it is a Process
/// Information Block shorter than the 12 bytes every block has.
///
/// pcap-parser 0.17 checks such a block's length only against 4 and then
/// subtracts 12 from it (`ng_block_parser` in its `pcapng/block.rs`), which
/// panics in builds with overflow checks (tests, fuzzing) and wraps to a
/// 4 GiB record in release builds. Every other block type is checked against
/// at least 12 there. Found by the `read_capture` fuzz target; the input is
/// `fuzz/artifacts/read_capture/pcapng-short-process-information-block`.
fn short_process_information_block(data: &[u8], big_endian: bool) -> Option<u32> {
    let word = |at: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let len = word(4)?;
    (word(0)? == pcap_parser::PIB_MAGIC && len < 12).then_some(len)
}

/// Timestamp units per second from a pcapng `if_tsresol` byte: with the
/// high bit clear, 10^-n s; with it set, 2^-n s (n = the low 7 bits).
/// Our own, because pcap-parser 0.17 never accepts the power-of-two form and
/// its fallback would read such timestamps as microseconds. Resolutions finer
/// than the nanosecond clock depmap keeps are clamped.
fn ts_resolution(tsresol: u8) -> u64 {
    let n = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(n).unwrap_or(1_000_000_000).max(1)
    } else {
        1u64.checked_shl(n).unwrap_or(1 << 30).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_header(nanos: bool, linktype: u32) -> Vec<u8> {
        let magic: u32 = if nanos { 0xa1b23c4d } else { 0xa1b2c3d4 };
        let mut h = magic.to_le_bytes().to_vec();
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&65535u32.to_le_bytes());
        h.extend_from_slice(&linktype.to_le_bytes());
        h
    }

    fn record(sec: u32, frac: u32, data: &[u8], orig: u32) -> Vec<u8> {
        let mut r = sec.to_le_bytes().to_vec();
        r.extend_from_slice(&frac.to_le_bytes());
        r.extend_from_slice(&(data.len() as u32).to_le_bytes());
        r.extend_from_slice(&orig.to_le_bytes());
        r.extend_from_slice(data);
        r
    }

    /// (timestamp, link type, captured length, wire length) of each frame.
    type Frames = Vec<(i64, u32, usize, u32)>;

    fn read_all(bytes: Vec<u8>) -> (Frames, Result<ReadSummary, CaptureError>) {
        let mut out = Vec::new();
        let res = FileReader::new(Cursor::new(bytes), "test").and_then(|mut r| {
            r.for_each_frame(|f| out.push((f.ts_nanos, f.linktype, f.data.len(), f.wire_len)))
        });
        (out, res)
    }

    #[test]
    fn pcapng_time_resolutions() {
        assert_eq!(ts_resolution(6), 1_000_000);
        assert_eq!(ts_resolution(9), 1_000_000_000);
        assert_eq!(ts_resolution(0x80 | 10), 1024);
        assert_eq!(ts_resolution(0x80 | 30), 1 << 30);
        assert!(ts_resolution(127) > 0 && ts_resolution(0xff) > 0);
        let iface = Interface {
            linktype: 1,
            resolution: ts_resolution(0x80 | 10),
            offset_secs: 0,
        };
        // 1,700,000,000 s and a half, in 1/1024 s units.
        assert_eq!(
            nanos(1_700_000_000 * 1024 + 512, &iface),
            1_700_000_000_500_000_000
        );
    }

    #[test]
    fn micro_and_nano_pcap() {
        let mut f = pcap_header(false, 1);
        f.extend(record(10, 5, &[1, 2, 3], 60));
        let (frames, res) = read_all(f);
        assert_eq!(frames, vec![(10_000_005_000, 1, 3, 60)]);
        assert_eq!(res.unwrap().frames, 1);

        let mut f = pcap_header(true, 101);
        f.extend(record(10, 5, &[1], 1));
        assert_eq!(read_all(f).0, vec![(10_000_000_005, 101, 1, 1)]);
    }

    #[test]
    fn big_endian_pcap_micro_and_nano() {
        for (magic, frac, want) in [
            (0xa1b2c3d4u32, 5u32, 10_000_005_000i64),
            (0xa1b23c4d, 5, 10_000_000_005),
        ] {
            let mut f = magic.to_be_bytes().to_vec();
            f.extend_from_slice(&2u16.to_be_bytes());
            f.extend_from_slice(&4u16.to_be_bytes());
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&65535u32.to_be_bytes());
            f.extend_from_slice(&1u32.to_be_bytes());
            f.extend_from_slice(&10u32.to_be_bytes());
            f.extend_from_slice(&frac.to_be_bytes());
            f.extend_from_slice(&3u32.to_be_bytes());
            f.extend_from_slice(&60u32.to_be_bytes());
            f.extend_from_slice(&[1, 2, 3]);
            let (frames, res) = read_all(f);
            assert_eq!(frames, vec![(want, 1, 3, 60)], "magic {magic:x}");
            assert_eq!(res.unwrap().frames, 1);
        }
    }

    #[test]
    fn modified_pcap_in_both_byte_orders() {
        // The "modified" format: 24-byte record headers (interface index,
        // protocol, packet type and a pad byte after the usual 16).
        for big_endian in [false, true] {
            let w = |v: u32| {
                if big_endian {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                }
            };
            let mut f = w(0xa1b2_cd34).to_vec();
            f.extend_from_slice(&[0, 2, 0, 4][..]);
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&w(65535));
            f.extend_from_slice(&w(1));
            for (sec, len) in [(10u32, 3u32), (11, 5)] {
                f.extend_from_slice(&w(sec));
                f.extend_from_slice(&w(7));
                f.extend_from_slice(&w(len));
                f.extend_from_slice(&w(60));
                f.extend_from_slice(&[2, 0, 0, 0, 0x08, 0x00, 0, 0]);
                f.extend(std::iter::repeat_n(0xab, len as usize));
            }
            let (frames, res) = read_all(f);
            assert_eq!(
                frames,
                vec![(10_000_007_000, 1, 3, 60), (11_000_007_000, 1, 5, 60)],
                "big endian: {big_endian}"
            );
            assert_eq!(res.unwrap().frames, 2);
        }
    }

    #[test]
    fn a_record_larger_than_the_read_buffer_is_read_whole() {
        let big = vec![0x5a; 3 << 20];
        let mut f = pcap_header(false, 1);
        f.extend(record(1, 0, &[1; 40], 40));
        f.extend(record(2, 0, &big, big.len() as u32));
        f.extend(record(3, 0, &[3; 40], 40));
        let (frames, res) = read_all(f);
        let lens: Vec<usize> = frames.iter().map(|f| f.2).collect();
        assert_eq!(lens, vec![40, 3 << 20, 40]);
        assert_eq!(res.unwrap().bytes, 24 + 3 * 16 + 80 + (3 << 20) as u64);
    }

    #[test]
    fn an_absurd_record_length_is_malformed_not_an_allocation() {
        let mut f = pcap_header(false, 1);
        f.extend(record(1, 0, &[1; 40], 40));
        let mut bad = record(2, 0, &[2; 40], 40);
        bad[8..12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        f.extend(bad);
        let (frames, res) = read_all(f);
        assert_eq!(frames.len(), 1);
        match res {
            Err(CaptureError::Malformed { offset, frames, .. }) => {
                assert_eq!((offset, frames), (24 + 16 + 40, 1));
            }
            other => panic!("expected a malformed record, got {other:?}"),
        }
    }

    #[test]
    fn a_truncated_header_is_reported_as_truncated() {
        let h = pcap_header(false, 1);
        for n in 4..h.len() {
            assert!(
                matches!(
                    read_all(h[..n].to_vec()).1,
                    Err(CaptureError::Truncated {
                        offset: 0,
                        frames: 0,
                        ..
                    })
                ),
                "{n} bytes"
            );
        }
    }

    #[test]
    fn truncated_inside_a_record_keeps_earlier_frames() {
        let mut f = pcap_header(false, 1);
        f.extend(record(1, 0, &[0; 40], 40));
        f.extend(record(2, 0, &[0; 40], 40));
        let cut = f.len() - 10;
        f.truncate(cut);
        let (frames, res) = read_all(f);
        assert_eq!(frames.len(), 1);
        match res {
            Err(CaptureError::Truncated { offset, frames, .. }) => {
                assert_eq!(offset, 24 + 16 + 40);
                assert_eq!(frames, 1);
            }
            other => panic!("expected truncation, got {other:?}"),
        }
    }

    #[test]
    fn not_a_capture_and_empty() {
        assert!(matches!(
            read_all(b"hello world".to_vec()).1,
            Err(CaptureError::NotACapture { .. })
        ));
        assert!(matches!(
            read_all(Vec::new()).1,
            Err(CaptureError::Empty { .. })
        ));
        assert!(matches!(
            read_all(vec![0xd4, 0xc3]).1,
            Err(CaptureError::NotACapture { .. })
        ));
    }

    #[test]
    fn header_only_is_an_empty_capture() {
        let (frames, res) = read_all(pcap_header(false, 1));
        assert!(frames.is_empty());
        assert_eq!(res.unwrap().frames, 0);
    }

    #[test]
    fn short_process_information_block_is_malformed_not_a_panic() {
        // SHB (28 bytes), then a Process Information Block claiming 8 bytes.
        let mut f = vec![
            0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
        ];
        f.extend_from_slice(&[0xff; 8]);
        f.extend_from_slice(&28u32.to_le_bytes());
        f.extend_from_slice(&0x8000_0001u32.to_le_bytes());
        f.extend_from_slice(&8u32.to_le_bytes());
        match read_all(f).1 {
            Err(CaptureError::Malformed { offset, .. }) => assert_eq!(offset, 28),
            other => panic!("expected a malformed block, got {other:?}"),
        }
    }

    #[test]
    fn every_prefix_is_safe() {
        let mut f = pcap_header(false, 1);
        for i in 0..5 {
            f.extend(record(i, 0, &[i as u8; 30], 30));
        }
        for n in 0..f.len() {
            let _ = read_all(f[..n].to_vec());
        }
    }
}
