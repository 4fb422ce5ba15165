//! Flow-export decoding for depmap: NetFlow v5, NetFlow v9, IPFIX and
//! sFlow v5 datagrams in, [`FlowRecord`]s out.
//!
//! The main type is [`FlowDecoder`]. Give it each export datagram with the
//! address it came from and the time it was received; it tells the format
//! apart by the version field ([`detect_format`]), keeps NetFlow v9/IPFIX
//! templates per exporter and observation domain, holds data sets that
//! arrive before their template for a bounded time and amount, applies
//! sampling rates, and appends one [`FlowRecord`] per flow. What it did is in
//! the returned [`DatagramOutcome`] and in its [`DecoderCounters`]; what it
//! could not do is a [`FlowError`], counted by reason.
//!
//! This crate does no socket or file I/O, no SQLite, and never reads a
//! clock: the receive time is an argument, so a capture replayed later
//! behaves as it did live. Every structure exporters can grow has a bound in
//! [`FlowDecoderConfig`] (or a named constant) and a counter for what the
//! bound turned away. Every format is decoded here, with bounds-checked
//! reads and no allocation per record; sampled sFlow packet headers go
//! through `depmap-wire`. NetFlow v9/IPFIX templates sit behind a small
//! internal trait, which the `netflow_parser` crate also implements in the
//! tests as a reference (it is not used in production: version 1.0.6 drops
//! IPFIX records with empty variable-length fields). `docs/FLOWS.md` has the
//! details.
//!
//! ```
//! use depmap_flows::{FlowDecoder, FlowDecoderConfig, Format};
//! // A NetFlow v5 datagram with one record: 10.0.0.1:50000 -> 10.0.0.2:53/udp,
//! // 3 packets, 180 bytes.
//! let mut d = vec![0, 5, 0, 1, 0, 0, 0x27, 0x10, 0x65, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
//! d.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
//! d.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 180, 0, 0, 0x23, 0x28, 0, 0, 0x27, 0x10]);
//! d.extend_from_slice(&[0xc3, 0x50, 0, 53, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
//!
//! let mut decoder = FlowDecoder::new(FlowDecoderConfig::default());
//! let mut records = Vec::new();
//! let exporter = "192.0.2.1:2055".parse().unwrap();
//! let outcome = decoder.decode(exporter, &d, 1_700_000_000_000_000_000, &mut records)?;
//! assert_eq!((outcome.format, outcome.records), (Format::NetflowV5, 1));
//! let r = &records[0];
//! assert_eq!((r.src_port, r.dst_port, r.proto, r.packets, r.bytes), (50000, 53, 17, 3, 180));
//! assert_eq!(r.end_ns - r.start_ns, 1_000_000_000);
//! assert_eq!(decoder.counters().records, 1);
//! # Ok::<(), depmap_flows::FlowError>(())
//! ```
#![deny(missing_docs)]

mod config;
mod counters;
mod decoder;
mod error;
mod fields;
mod reader;
mod record;
mod sflow;
mod template;
mod time;
mod v5;

pub use config::{
    FlowDecoderConfig, DEFAULT_MAX_PENDING_BYTES, DEFAULT_MAX_PENDING_SETS, DEFAULT_MAX_SCOPES,
    DEFAULT_MAX_TEMPLATES_PER_SCOPE, DEFAULT_PENDING_TIMEOUT_NS, MAX_SAMPLERS_PER_SCOPE,
};
pub use counters::DecoderCounters;
pub use decoder::{detect_format, DatagramOutcome, FlowDecoder};
pub use error::FlowError;
pub use record::{DirectionHint, FlowRecord, Format};

#[cfg(test)]
mod tests;
