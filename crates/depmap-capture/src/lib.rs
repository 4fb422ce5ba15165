//! Capture sources for depmap: they deliver raw frames with their timestamp,
//! link type and original length, and nothing more.
//!
//! This crate does not decode packets (that is `depmap-wire`) and does not
//! store anything (that is `depmap-store`). Its main types are
//! [`FileReader`] for capture files, [`LiveCapture`] for live interfaces
//! (libpcap, see [`live`]) and, for flow exports, [`UdpListener`] (tokio
//! UDP sockets, see [`udp`]).
//!
//! [`FileReader`] chooses the format by magic number. Classic pcap files
//! are read by a record loop of our own that frames each record in place
//! in its read buffer (cheaper than pcap-parser's owned blocks on the hot
//! path, and it also reads the big-endian "modified" pcap format that
//! pcap-parser refuses). pcapng files go through the pure-Rust
//! `pcap-parser` crate: libpcap refuses pcapng files whose interfaces have
//! different link types, and other pure-Rust readers stop at the first
//! snaplen-cut packet; pcap-parser reads every pcapng capture in the
//! project's test data.
//!
//! ```no_run
//! use depmap_capture::FileReader;
//! let mut reader = FileReader::open("trace.pcapng")?;
//! let mut frames = 0u64;
//! let summary = reader.for_each_frame(|frame| frames += u64::from(frame.data.len() > 0))?;
//! assert_eq!(summary.frames, frames);
//! # Ok::<(), depmap_capture::CaptureError>(())
//! ```
#![deny(missing_docs)]

mod file;
mod frame;
mod legacy;
pub mod live;
pub mod metrics;
pub mod udp;

pub use file::{FileFormat, FileReader};
pub use frame::{CaptureError, Frame, ReadSummary, MAX_RECORD_BYTES};
pub use live::{FrameBatch, LiveCapture, LiveConfig, LiveError, LiveStats};
pub use udp::{AllowList, DatagramBatch, ListenerConfig, ListenerCounts, UdpError, UdpListener};
