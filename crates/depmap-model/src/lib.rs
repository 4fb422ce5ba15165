//! depmap's shared vocabulary: the types several crates speak at their
//! boundaries, with no I/O and no backend behind them.
//!
//! - [`Cidr`]: an IPv4 or IPv6 network (on the `ipnet` crate), parsed
//!   strictly (host bits refused, [`CidrError::HostBitsSet`]) or, for
//!   allow-lists, with host bits dropped ([`Cidr::parse_masked`]).
//! - [`Inventory`]: networks mapped to a name, a role and labels, matched by
//!   longest prefix ([`inventory`]); [`HostKind`] and [`host_group`] classify
//!   addresses that no inventory names. With the `files` feature,
//!   `inventory_file` reads and writes inventories as TOML and CSV text.
//! - [`Proto`]: an IP protocol number and the one table of the names depmap
//!   writes for it (`tcp`, `icmpv6`, ... or the number).
//! - [`Timestamp`] (ns since the Unix epoch) and [`Day`] (days since the
//!   epoch, UTC): the boundary types for time, with RFC 3339 formatting and
//!   parsing.
//!
//! This crate does not read files, sockets or clocks and knows nothing of
//! packets, flows or SQLite: it is the bottom of the dependency graph, so
//! that the policy drafts, the map exports and the store can share these
//! types without depending on each other. Reading an inventory file is the
//! binary's job; matching addresses against it is this crate's.
//!
//! ```
//! use depmap_model::{Cidr, Proto, Timestamp};
//! let net: Cidr = "10.0.0.0/8".parse()?;
//! assert!(net.contains("10.1.2.3".parse()?));
//! assert!("10.0.0.5/8".parse::<Cidr>().is_err());
//! assert_eq!("tcp".parse::<Proto>()?, Proto::TCP);
//! assert_eq!(Proto::new(47).to_string(), "gre");
//! let t = Timestamp::from_nanos(86_400_000_000_000);
//! assert_eq!(t.to_rfc3339(), "1970-01-02T00:00:00.000000Z");
//! assert_eq!(t.day().0, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod cidr;
mod host;
pub mod inventory;
#[cfg(feature = "files")]
pub mod inventory_file;
mod proto;
mod time;

#[cfg(feature = "metrics")]
pub mod metrics;

pub use cidr::{Cidr, CidrError};
pub use host::{host_group, host_kind, HostKind};
pub use inventory::{HostInfo, Inventory, InventoryEntry};
pub use proto::{Proto, ProtoError};
pub use time::{rfc3339, whole_days, Day, Timestamp, TimestampError, NANOS_PER_DAY};
