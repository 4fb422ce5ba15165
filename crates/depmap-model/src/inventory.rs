//! Who a host is, from an inventory: networks or addresses mapped to a name,
//! a role and labels, matched by longest prefix.
//!
//! This module takes entries already read and validated (file formats and
//! their errors are in `inventory_file` with the
//! `files` feature, and in `docs/INVENTORY.md`) and answers "what does the
//! inventory say about this address?".
//!
//! **Matching.** Every entry is a network ([`Cidr`]; a single address is a
//! `/32` or `/128`). For an address, each field comes from the most specific
//! (longest-prefix) entry that contains the address *and sets that field*:
//! a `/32` with only a name still gets the role of the `/24` around it.
//! Labels merge key by key, the more specific entry winning a key both set.
//! IPv4 entries match IPv4 addresses and IPv4-mapped IPv6 addresses
//! (`::ffff:10.0.0.1`); IPv6 entries match IPv6 addresses.
//!
//! ```
//! use depmap_model::inventory::{Inventory, InventoryEntry};
//! let inv = Inventory::new(vec![
//!     InventoryEntry::new("10.10.0.0/16".parse()?).with_label("env", "prod"),
//!     InventoryEntry::new("10.10.4.0/24".parse()?).with_role("database"),
//!     InventoryEntry::new("10.10.4.20".parse()?).with_name("db.corp.example"),
//! ]);
//! let host = inv.lookup("10.10.4.20".parse()?);
//! assert_eq!(host.role.as_deref(), Some("database"));
//! assert_eq!(host.name.as_deref(), Some("db.corp.example"));
//! assert_eq!(host.labels["env"], "prod");
//! assert!(inv.lookup("192.0.2.1".parse()?).is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Cidr;

fn mask_v4(a: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(u32::from(a) & m)
}

fn mask_v6(a: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    Ipv6Addr::from(u128::from(a) & m)
}

/// One inventory entry: a network and what to say about hosts in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryEntry {
    /// The network (a single address is a `/32` or `/128`).
    pub cidr: Cidr,
    /// A name for the host (or for every host of the network).
    pub name: Option<String>,
    /// The role, such as `database`.
    pub role: Option<String>,
    /// Labels such as `app = "erp"`, `env = "prod"`.
    pub labels: BTreeMap<String, String>,
}

impl InventoryEntry {
    /// An entry for `cidr` that says nothing yet.
    pub fn new(cidr: Cidr) -> InventoryEntry {
        InventoryEntry {
            cidr,
            name: None,
            role: None,
            labels: BTreeMap::new(),
        }
    }

    /// With a name.
    pub fn with_name(mut self, name: &str) -> InventoryEntry {
        self.name = Some(name.to_string());
        self
    }

    /// With a role.
    pub fn with_role(mut self, role: &str) -> InventoryEntry {
        self.role = Some(role.to_string());
        self
    }

    /// With one more label.
    pub fn with_label(mut self, key: &str, value: &str) -> InventoryEntry {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }
}

/// What the inventory says about one address (fields merged from every
/// entry that contains it; see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// The name of the most specific entry that has one.
    pub name: Option<String>,
    /// The role of the most specific entry that has one.
    pub role: Option<String>,
    /// Labels of every containing entry, the more specific winning a key.
    pub labels: BTreeMap<String, String>,
}

impl HostInfo {
    /// Whether no entry said anything about the address.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.role.is_none() && self.labels.is_empty()
    }
}

/// Inventory entries indexed for longest-prefix lookups.
///
/// Lookups cost one hash probe per distinct prefix length in use (at most
/// 33 for IPv4, 129 for IPv6), whatever the number of entries.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    entries: Vec<InventoryEntry>,
    /// (is IPv6, prefix) -> network address -> entry index, longest first.
    by_prefix: Vec<((bool, u8), HashMap<IpAddr, usize>)>,
}

impl Inventory {
    /// Indexes `entries`. Two entries for the same network are a mistake the
    /// file reader reports; if they reach here, the first one wins.
    pub fn new(entries: Vec<InventoryEntry>) -> Inventory {
        let mut index: BTreeMap<(bool, u8), HashMap<IpAddr, usize>> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            index
                .entry((e.cidr.addr().is_ipv6(), e.cidr.prefix()))
                .or_default()
                .entry(e.cidr.addr())
                .or_insert(i);
        }
        let mut by_prefix: Vec<_> = index.into_iter().collect();
        by_prefix.sort_by_key(|((_, prefix), _)| std::cmp::Reverse(*prefix));
        Inventory { entries, by_prefix }
    }

    /// The entries, in the order given.
    pub fn entries(&self) -> &[InventoryEntry] {
        &self.entries
    }

    /// Every entry containing `ip`, most specific first.
    pub fn matches(&self, ip: IpAddr) -> impl Iterator<Item = &InventoryEntry> + '_ {
        let ip = ip.to_canonical();
        let v6 = ip.is_ipv6();
        self.by_prefix
            .iter()
            .filter(move |((is_v6, _), _)| *is_v6 == v6)
            .filter_map(move |((_, prefix), nets)| {
                let net = match ip {
                    IpAddr::V4(a) => IpAddr::V4(mask_v4(a, *prefix)),
                    IpAddr::V6(a) => IpAddr::V6(mask_v6(a, *prefix)),
                };
                nets.get(&net).map(|&i| &self.entries[i])
            })
    }

    /// What the inventory says about `ip` (empty when nothing matches).
    pub fn lookup(&self, ip: IpAddr) -> HostInfo {
        let mut info = HostInfo::default();
        for e in self.matches(ip) {
            if info.name.is_none() {
                info.name.clone_from(&e.name);
            }
            if info.role.is_none() {
                info.role.clone_from(&e.role);
            }
            for (k, v) in &e.labels {
                info.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        info
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_per_field_and_labels_merge() {
        let inv = Inventory::new(vec![
            InventoryEntry::new("0.0.0.0/0".parse().unwrap()).with_role("internet"),
            InventoryEntry::new("10.0.0.0/8".parse().unwrap())
                .with_role("corp")
                .with_label("env", "prod")
                .with_label("site", "hq"),
            InventoryEntry::new("10.1.0.0/16".parse().unwrap())
                .with_role("office")
                .with_label("env", "office"),
            InventoryEntry::new("10.1.0.7".parse().unwrap()).with_name("printer"),
        ]);
        let h = inv.lookup(ip("10.1.0.7"));
        assert_eq!(h.name.as_deref(), Some("printer"));
        assert_eq!(h.role.as_deref(), Some("office"));
        assert_eq!(h.labels["env"], "office");
        assert_eq!(h.labels["site"], "hq");
        assert_eq!(inv.lookup(ip("10.2.0.1")).role.as_deref(), Some("corp"));
        assert_eq!(
            inv.lookup(ip("192.0.2.1")).role.as_deref(),
            Some("internet")
        );
        assert!(inv.lookup(ip("fd00::1")).is_empty());
        let order: Vec<u8> = inv
            .matches(ip("10.1.0.7"))
            .map(|e| e.cidr.prefix())
            .collect();
        assert_eq!(order, [32, 16, 8, 0]);
    }

    #[test]
    fn ipv6_prefixes_and_duplicates() {
        let inv = Inventory::new(vec![
            InventoryEntry::new("fd00:10:10:1::/64".parse().unwrap()).with_role("workstation"),
            InventoryEntry::new("fd00:10:10:1::/64".parse().unwrap()).with_role("ignored"),
            InventoryEntry::new("fd00:10:10::90".parse().unwrap()).with_role("monitoring"),
        ]);
        assert_eq!(
            inv.lookup(ip("fd00:10:10:1::101")).role.as_deref(),
            Some("workstation")
        );
        assert_eq!(
            inv.lookup(ip("fd00:10:10::90")).role.as_deref(),
            Some("monitoring")
        );
        assert!(inv.lookup(ip("fd00:10:10::91")).is_empty());
        assert_eq!(inv.entries().len(), 3);
    }
}
