//! Live capture from a network interface through libpcap: batches of frames
//! with their timestamp, link type and original length, and nothing more.
//!
//! A [`LiveCapture`] owns one libpcap handle. It is opened with immediate
//! mode on (each packet is handed over as soon as it arrives, not when the
//! kernel's block fills) *and* a short read timeout, so a reader thread
//! wakes at least every [`LiveConfig::read_timeout`] to hand over a partial
//! batch or notice that it should stop. The kernel buffer
//! ([`LiveConfig::buffer_bytes`]) is what absorbs bursts while the reader is
//! busy; when it overflows the kernel drops packets, and
//! [`LiveCapture::stats`] reports those drops (never hidden).
//!
//! libpcap's counters are 32-bit and wrap on a busy link; [`LiveCapture`]
//! reads them often (every batch is cheap: one `getsockopt`) and keeps
//! 64-bit totals from the deltas.
//!
//! Frames are copied out of libpcap's ring into a [`FrameBatch`] (one
//! allocation reused per batch, not one per frame), so a batch can move to
//! another thread in one channel operation while libpcap reuses its ring.
//!
//! Opening an interface needs `CAP_NET_RAW` on Linux (root has it); without
//! it [`LiveError::Permission`] says so, distinct from other failures.

use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use pcap::{Active, Capture};

use crate::Frame;

/// How to open an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveConfig {
    /// The interface name (`eth0`, `lo`, `any`).
    pub interface: String,
    /// A BPF filter in tcpdump syntax; `None` captures everything.
    pub filter: Option<String>,
    /// Bytes kept of each frame. Headers are all depmap needs, but names
    /// (DNS answers, TLS SNI, HTTP Host) need some payload: 512 is enough
    /// for most, 65535 keeps whole frames.
    pub snaplen: u32,
    /// The kernel buffer in bytes that holds frames while the reader is busy.
    pub buffer_bytes: u32,
    /// Put the interface into promiscuous mode (to see traffic not addressed
    /// to this host, e.g. on a mirror port).
    pub promiscuous: bool,
    /// The longest a read waits when no packet arrives.
    pub read_timeout: Duration,
}

impl LiveConfig {
    /// The defaults for `interface`: no filter, snaplen 512, a 16 MiB
    /// buffer, not promiscuous, a 100 ms read timeout.
    pub fn new(interface: impl Into<String>) -> LiveConfig {
        LiveConfig {
            interface: interface.into(),
            filter: None,
            snaplen: DEFAULT_SNAPLEN,
            buffer_bytes: DEFAULT_BUFFER_BYTES,
            promiscuous: false,
            read_timeout: Duration::from_millis(100),
        }
    }
}

/// The default snap length: headers plus enough payload for names.
pub const DEFAULT_SNAPLEN: u32 = 512;

/// The default kernel buffer: 16 MiB, about 0.13 s of a saturated 1 Gbit/s link.
pub const DEFAULT_BUFFER_BYTES: u32 = 16 << 20;

/// Errors from live capture; each names the interface.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    /// The process may not capture (no `CAP_NET_RAW`, or not root).
    #[error("{interface}: no permission to capture ({detail}); run as root or grant CAP_NET_RAW (e.g. `setcap cap_net_raw+ep depmap`, or AmbientCapabilities=CAP_NET_RAW in a systemd unit)")]
    Permission {
        /// The interface.
        interface: String,
        /// libpcap's message.
        detail: String,
    },
    /// The interface could not be opened (missing, down, bad settings).
    #[error("{interface}: cannot open for capture: {detail}")]
    Open {
        /// The interface.
        interface: String,
        /// libpcap's message.
        detail: String,
    },
    /// The BPF filter does not compile.
    #[error("{interface}: bad capture filter {filter:?}: {detail}")]
    Filter {
        /// The interface.
        interface: String,
        /// The filter text.
        filter: String,
        /// libpcap's message.
        detail: String,
    },
    /// Reading failed (the interface went away, ...).
    #[error("{interface}: capture failed: {detail}")]
    Read {
        /// The interface.
        interface: String,
        /// libpcap's message.
        detail: String,
    },
}

impl LiveError {
    /// Whether this is the missing-permission case.
    pub fn is_permission(&self) -> bool {
        matches!(self, LiveError::Permission { .. })
    }
}

/// Where one frame of a batch lies in the batch's buffer.
#[derive(Clone, Copy, Debug)]
struct FrameMeta {
    ts_nanos: i64,
    start: usize,
    len: u32,
    wire_len: u32,
}

/// Frames captured together, copied into one buffer.
#[derive(Clone, Debug, Default)]
pub struct FrameBatch {
    linktype: u32,
    data: Vec<u8>,
    frames: Vec<FrameMeta>,
}

impl FrameBatch {
    /// An empty batch.
    pub fn new() -> FrameBatch {
        FrameBatch::default()
    }

    /// Frames in the batch.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the batch holds no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Captured bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
    }

    /// Adds a frame (the link type is the batch's: one interface per batch).
    pub fn push(&mut self, linktype: u32, ts_nanos: i64, data: &[u8], wire_len: u32) {
        self.linktype = linktype;
        let start = self.data.len();
        self.data.extend_from_slice(data);
        self.frames.push(FrameMeta {
            ts_nanos,
            start,
            len: data.len() as u32,
            wire_len,
        });
    }

    /// The frames, in capture order. `file_offset` is the frame's index.
    pub fn iter(&self) -> impl Iterator<Item = Frame<'_>> + '_ {
        self.frames.iter().enumerate().map(move |(i, m)| Frame {
            ts_nanos: m.ts_nanos,
            linktype: self.linktype,
            interface: 0,
            data: &self.data[m.start..m.start + m.len as usize],
            wire_len: m.wire_len,
            file_offset: i as u64,
        })
    }
}

/// Capture statistics as 64-bit totals since the handle was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LiveStats {
    /// Frames handed to the caller.
    pub frames: u64,
    /// Captured bytes handed to the caller.
    pub bytes: u64,
    /// Packets the kernel dropped because the buffer was full (libpcap's
    /// `ps_drop`): the reader did not keep up.
    pub kernel_drops: u64,
    /// Packets the interface or its driver dropped (`ps_ifdrop`).
    pub interface_drops: u64,
    /// Packets that passed the filter, as libpcap counts them (`ps_recv`).
    pub received: u64,
}

/// The raw 32-bit libpcap counters last read, to turn wrapping values into
/// 64-bit totals.
#[derive(Clone, Copy, Debug, Default)]
struct RawStat {
    recv: u32,
    drop: u32,
    ifdrop: u32,
}

/// One open interface. See the module docs.
pub struct LiveCapture {
    cap: Capture<Active>,
    interface: String,
    linktype: u32,
    filter: Option<String>,
    last_raw: RawStat,
    stats: LiveStats,
    read_timeout: Duration,
}

impl std::fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCapture")
            .field("interface", &self.interface)
            .field("linktype", &self.linktype)
            .field("filter", &self.filter)
            .field("stats", &self.stats)
            .finish()
    }
}

fn classify_open(interface: &str, e: pcap::Error) -> LiveError {
    let detail = e.to_string();
    let lower = detail.to_ascii_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        LiveError::Permission {
            interface: interface.to_string(),
            detail,
        }
    } else {
        LiveError::Open {
            interface: interface.to_string(),
            detail,
        }
    }
}

impl LiveCapture {
    /// Opens the interface with immediate mode, the configured buffer,
    /// snaplen and read timeout, and applies the filter.
    pub fn open(cfg: &LiveConfig) -> Result<LiveCapture, LiveError> {
        let name = cfg.interface.as_str();
        let timeout_ms = cfg.read_timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        let cap = Capture::from_device(name)
            .map_err(|e| classify_open(name, e))?
            .immediate_mode(true)
            .timeout(timeout_ms)
            .snaplen(cfg.snaplen.clamp(64, 262_144) as i32)
            .buffer_size(cfg.buffer_bytes.min(i32::MAX as u32) as i32)
            .promisc(cfg.promiscuous)
            .open()
            .map_err(|e| classify_open(name, e))?
            // Non-blocking reads and our own poll() with the read timeout:
            // libpcap's own timeout does not wake a blocked read on Linux in
            // immediate mode, and a reader must wake to notice a stop.
            .setnonblock()
            .map_err(|e| classify_open(name, e))?;
        let linktype = cap.get_datalink().0 as u32;
        let mut live = LiveCapture {
            cap,
            interface: cfg.interface.clone(),
            linktype,
            filter: None,
            last_raw: RawStat::default(),
            stats: LiveStats::default(),
            read_timeout: cfg.read_timeout,
        };
        if let Some(f) = &cfg.filter {
            live.set_filter(f)?;
        }
        Ok(live)
    }

    /// Waits until the handle is readable or the read timeout passes.
    fn wait_readable(&self, timeout: Duration) -> Result<(), LiveError> {
        use std::os::fd::AsFd;
        let ms = timeout.as_millis().clamp(1, 60_000) as u16;
        let mut fds = [PollFd::new(self.cap.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
            Err(e) => Err(LiveError::Read {
                interface: self.interface.clone(),
                detail: format!("poll: {e}"),
            }),
        }
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The interface's `LINKTYPE_*` number.
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// The filter in force, if any.
    pub fn filter(&self) -> Option<&str> {
        self.filter.as_deref()
    }

    /// Replaces the BPF filter (an empty string captures everything). On
    /// error the previous filter stays in force.
    pub fn set_filter(&mut self, filter: &str) -> Result<(), LiveError> {
        self.cap
            .filter(filter, true)
            .map_err(|e| LiveError::Filter {
                interface: self.interface.clone(),
                filter: filter.to_string(),
                detail: e.to_string(),
            })?;
        self.filter = (!filter.is_empty()).then(|| filter.to_string());
        Ok(())
    }

    /// Reads frames into `batch` (cleared first) until it holds `max_frames`
    /// or `max_bytes` of captured data,
    /// or `max_wait` has passed since its first frame. Returns the number of frames; 0 means nothing arrived
    /// within the read timeout (time to check for a stop request).
    pub fn next_batch(
        &mut self,
        batch: &mut FrameBatch,
        max_frames: usize,
        max_bytes: usize,
        max_wait: Duration,
    ) -> Result<usize, LiveError> {
        batch.clear();
        batch.linktype = self.linktype;
        // `max_wait` counts from the batch's first frame.
        let mut started = Instant::now();
        let mut waited = false;
        while batch.len() < max_frames.max(1) && batch.bytes() < max_bytes.max(1) {
            match self.cap.next_packet() {
                Ok(p) => {
                    let ts = &p.header.ts;
                    // time_t and suseconds_t are i64 here but narrower on
                    // some platforms.
                    #[allow(clippy::useless_conversion)]
                    let ts_nanos = i64::from(ts.tv_sec)
                        .saturating_mul(1_000_000_000)
                        .saturating_add(i64::from(ts.tv_usec).saturating_mul(1_000));
                    if batch.is_empty() {
                        started = Instant::now();
                    }
                    batch.push(self.linktype, ts_nanos, p.data, p.header.len);
                    self.stats.frames += 1;
                    self.stats.bytes += p.data.len() as u64;
                }
                // Non-blocking: nothing buffered right now. With frames in
                // hand, wait for more until `max_wait`; with none, wait
                // once for the read timeout.
                Err(pcap::Error::TimeoutExpired) => {
                    if batch.is_empty() {
                        if waited {
                            break;
                        }
                        self.wait_readable(self.read_timeout)?;
                        waited = true;
                    } else {
                        let left = max_wait.saturating_sub(started.elapsed());
                        if left.is_zero() {
                            break;
                        }
                        self.wait_readable(left)?;
                    }
                    continue;
                }
                Err(e) => {
                    return Err(LiveError::Read {
                        interface: self.interface.clone(),
                        detail: e.to_string(),
                    })
                }
            }
            if started.elapsed() >= max_wait {
                break;
            }
        }
        Ok(batch.len())
    }

    /// The statistics so far; reads libpcap's kernel counters.
    pub fn stats(&mut self) -> Result<LiveStats, LiveError> {
        let s = self.cap.stats().map_err(|e| LiveError::Read {
            interface: self.interface.clone(),
            detail: e.to_string(),
        })?;
        // 32-bit counters wrap; the wrapping difference is right as long as
        // fewer than 2^32 packets pass between two reads.
        self.stats.received += u64::from(s.received.wrapping_sub(self.last_raw.recv));
        self.stats.kernel_drops += u64::from(s.dropped.wrapping_sub(self.last_raw.drop));
        self.stats.interface_drops += u64::from(s.if_dropped.wrapping_sub(self.last_raw.ifdrop));
        self.last_raw = RawStat {
            recv: s.received,
            drop: s.dropped,
            ifdrop: s.if_dropped,
        };
        Ok(self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_keeps_frames_apart() {
        let mut b = FrameBatch::new();
        b.push(1, 10, &[1, 2, 3], 60);
        b.push(1, 20, &[4], 4);
        let frames: Vec<_> = b.iter().collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].data, &[1, 2, 3]);
        assert_eq!(frames[0].wire_len, 60);
        assert_eq!(frames[1].data, &[4]);
        assert_eq!(frames[1].ts_nanos, 20);
        assert_eq!(frames[1].linktype, 1);
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn a_missing_interface_is_an_open_error_naming_it() {
        let err = LiveCapture::open(&LiveConfig::new("depmap-no-such-if0"))
            .expect_err("no such interface");
        let text = err.to_string();
        assert!(text.contains("depmap-no-such-if0"), "{text}");
    }
}
