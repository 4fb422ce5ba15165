//! The streaming engine: merges many conversations into one stream of frames
//! in timestamp order, holding only the conversations in progress.
//!
//! Sources (one per schedule) say when their next conversation starts; a
//! binary heap holds each source's next start and each running
//! conversation's next packet. Popping the heap either starts a conversation
//! (its script is built then) or emits one packet. Ties are broken by
//! insertion order, so the stream is a pure function of the seed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;

use crate::conv::Conv;
use crate::payload::Filler;
use crate::pcap::PcapWriter;
use crate::rng::Rng;

/// One generated frame: an Ethernet II frame and its capture time.
#[derive(Clone, Copy, Debug)]
pub struct GeneratedFrame<'a> {
    /// Capture time in microseconds since the Unix epoch (UTC).
    pub ts_micros: i64,
    /// The frame, starting with the Ethernet header (`LINKTYPE_ETHERNET`).
    pub data: &'a [u8],
}

impl GeneratedFrame<'_> {
    /// The capture time in nanoseconds since the epoch, as
    /// `depmap_capture` reports it.
    pub fn ts_nanos(&self) -> i64 {
        self.ts_micros.saturating_mul(1000)
    }
}

/// What a written capture holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Frames written.
    pub frames: u64,
    /// Bytes of the file, headers included.
    pub file_bytes: u64,
    /// Timestamp of the first frame (microseconds since the epoch), 0 if none.
    pub first_micros: i64,
    /// Timestamp of the last frame, 0 if none.
    pub last_micros: i64,
}

/// State shared by the sources of one stream.
pub(crate) struct Ctx {
    /// Next ephemeral port per client address.
    ports: HashMap<IpAddr, u16>,
    rng: Rng,
}

impl Ctx {
    /// The next ephemeral source port of `client`, in `lo..=hi`. Ports
    /// advance by a small random step and wrap, as Linux and Windows
    /// allocate them, so a client never reuses a port while an earlier
    /// connection on it could still be open.
    pub(crate) fn ephemeral_port(&mut self, client: IpAddr, lo: u16, hi: u16) -> u16 {
        let span = u32::from(hi.saturating_sub(lo)) + 1;
        let step = self.rng.range(1, 7) as u32;
        let rng = &mut self.rng;
        let port = self
            .ports
            .entry(client)
            .or_insert_with(|| (u32::from(lo) + rng.below(u64::from(span)) as u32) as u16);
        let next = (u32::from(*port) - u32::from(lo) + step) % span + u32::from(lo);
        *port = next as u16;
        next as u16
    }
}

/// A schedule of conversations.
pub(crate) trait Source: Send {
    /// When the next conversation starts (microseconds since the epoch), or
    /// `None` when the source is exhausted.
    fn next_start(&self) -> Option<i64>;
    /// Builds the conversation that starts at [`Source::next_start`] into
    /// `conv` (already reset to empty) and advances to the next one. A
    /// source may leave `conv` empty to skip a start.
    fn spawn(&mut self, ctx: &mut Ctx, conv: &mut Conv);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Source(u32),
    Conv(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: i64,
    order: u64,
    slot: Slot,
}

/// A stream of synthetic frames in timestamp order, generated on demand.
///
/// Memory is bounded by the conversations in progress at one moment, never
/// by the length of the capture. Get one from
/// [`Scenario::traffic`](crate::Scenario::traffic), [`bench_capture`](crate::bench_capture)
/// or [`flow_flood`](crate::flow_flood); read it with [`Traffic::next_frame`]
/// or write it out with [`Traffic::write_pcap`].
pub struct Traffic {
    sources: Vec<Box<dyn Source>>,
    convs: Vec<Conv>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<Entry>>,
    order: u64,
    ctx: Ctx,
    filler: Filler,
    payload: Vec<u8>,
    frame: Vec<u8>,
    frames: u64,
}

impl std::fmt::Debug for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traffic")
            .field("sources", &self.sources.len())
            .field("active_conversations", &self.active_conversations())
            .field("frames", &self.frames)
            .finish()
    }
}

impl Traffic {
    pub(crate) fn new(seed: u64, sources: Vec<Box<dyn Source>>) -> Traffic {
        let mut t = Traffic {
            sources,
            convs: Vec::new(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            order: 0,
            ctx: Ctx {
                ports: HashMap::new(),
                rng: Rng::derive(seed, u64::MAX),
            },
            filler: Filler::new(),
            payload: Vec::with_capacity(2048),
            frame: Vec::with_capacity(2048),
            frames: 0,
        };
        for i in 0..t.sources.len() {
            if let Some(at) = t.sources[i].next_start() {
                t.push(at, Slot::Source(i as u32));
            }
        }
        t
    }

    fn push(&mut self, at: i64, slot: Slot) {
        self.order += 1;
        self.heap.push(Reverse(Entry {
            at,
            order: self.order,
            slot,
        }));
    }

    /// Frames returned so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Conversations in progress: what the stream holds in memory.
    pub fn active_conversations(&self) -> usize {
        self.convs.len() - self.free.len()
    }

    /// The next frame, or `Ok(None)` at the end of the capture. Frames come
    /// in non-decreasing timestamp order. An error means etherparse refused
    /// to build a packet, which the generator's own limits rule out; it is
    /// reported rather than hidden.
    pub fn next_frame(&mut self) -> io::Result<Option<GeneratedFrame<'_>>> {
        while let Some(Reverse(entry)) = self.heap.pop() {
            match entry.slot {
                Slot::Source(i) => {
                    let slot = match self.free.pop() {
                        Some(slot) => slot,
                        None => {
                            self.convs.push(Conv::default());
                            (self.convs.len() - 1) as u32
                        }
                    };
                    let source = &mut self.sources[i as usize];
                    let conv = &mut self.convs[slot as usize];
                    source.spawn(&mut self.ctx, conv);
                    conv.seal();
                    let first = conv.next_at();
                    let next = source.next_start();
                    match first {
                        Some(at) => self.push(at.max(entry.at), Slot::Conv(slot)),
                        None => self.free.push(slot),
                    }
                    if let Some(at) = next {
                        self.push(at.max(entry.at), Slot::Source(i));
                    }
                }
                Slot::Conv(slot) => {
                    let conv = &mut self.convs[slot as usize];
                    let emitted = conv.emit(&self.filler, &mut self.payload, &mut self.frame)?;
                    let next = conv.next_at();
                    match next {
                        Some(at) => self.push(at.max(entry.at), Slot::Conv(slot)),
                        None => self.free.push(slot),
                    }
                    if let Some(at) = emitted {
                        self.frames += 1;
                        return Ok(Some(GeneratedFrame {
                            ts_micros: at.max(entry.at),
                            data: &self.frame,
                        }));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Writes the whole stream as a classic pcap file to `out` (buffered
    /// here; pass a `File` directly). Streaming: memory stays bounded by the
    /// conversations in progress.
    pub fn write_pcap<W: Write>(mut self, out: W) -> io::Result<Summary> {
        let mut writer = PcapWriter::new(BufWriter::with_capacity(1 << 17, out))?;
        let mut summary = Summary::default();
        while let Some(frame) = self.next_frame()? {
            if summary.frames == 0 {
                summary.first_micros = frame.ts_micros;
            }
            summary.last_micros = frame.ts_micros;
            summary.frames += 1;
            writer.write_frame(frame.ts_micros, frame.data)?;
        }
        summary.file_bytes = writer.bytes();
        writer.finish()?;
        Ok(summary)
    }
}
