//! Names learned for server addresses, with when they were seen.

use std::net::IpAddr;

use depmap_wire::app::{DnsAnswer, DnsData};
use foldhash::HashMap;
use serde::{Deserialize, Serialize};

/// The most distinct (address, name, source) triples kept between takes.
/// Past it, new names are counted in [`NameTable::not_remembered`] and dropped
/// (names never affect counts, only labels).
pub const MAX_NAMES: usize = 200_000;

/// Where a name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameSource {
    /// A DNS answer (A/AAAA, or an alias through a CNAME chain).
    Dns,
    /// The server name in a TLS ClientHello.
    Sni,
    /// The Host header of an HTTP request.
    Http,
}

impl NameSource {
    /// A short stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            NameSource::Dns => "dns",
            NameSource::Sni => "sni",
            NameSource::Http => "http",
        }
    }

    /// Parses [`NameSource::as_str`]'s output.
    pub fn parse(s: &str) -> Option<NameSource> {
        match s {
            "dns" => Some(NameSource::Dns),
            "sni" => Some(NameSource::Sni),
            "http" => Some(NameSource::Http),
            _ => None,
        }
    }
}

/// One name of an address, valid from `first_seen`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NameRecord {
    /// The address the name points at.
    pub address: IpAddr,
    /// The name, lower-case.
    pub name: String,
    /// Where it was learned.
    pub source: NameSource,
    /// First time it was seen (ns since the epoch).
    pub first_seen: i64,
    /// Last time it was seen.
    pub last_seen: i64,
}

/// What the name table counts; its bound has a counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameCounters {
    /// Names not remembered because [`MAX_NAMES`] was reached.
    pub not_remembered: u64,
}

/// Collects names for addresses. An address can have several names, and a
/// name several addresses.
#[derive(Default)]
pub struct NameTable {
    names: HashMap<(IpAddr, String, NameSource), (i64, i64)>,
    not_remembered: u64,
    /// The lowercased name of the last lookup that found its entry, kept
    /// for its allocation: most observations repeat a known name, and
    /// they then allocate nothing.
    scratch: String,
}

impl NameTable {
    /// An empty table.
    pub fn new() -> NameTable {
        NameTable::default()
    }

    /// Records that `name` pointed at `address` at `ts`.
    pub fn observe(&mut self, ts: i64, address: IpAddr, name: &str, source: NameSource) {
        let mut lower = std::mem::take(&mut self.scratch);
        lower.clear();
        lower.push_str(name);
        lower.make_ascii_lowercase();
        let key = (address, lower, source);
        if let Some(seen) = self.names.get_mut(&key) {
            seen.0 = seen.0.min(ts);
            seen.1 = seen.1.max(ts);
            self.scratch = key.1;
        } else if self.names.len() < MAX_NAMES {
            self.names.insert(key, (ts, ts));
        } else {
            self.not_remembered += 1;
        }
    }

    /// Records the answers of one DNS response seen at `ts`: each address
    /// gets the name it answers for and every alias whose CNAME chain leads
    /// to that name.
    pub fn observe_dns(&mut self, ts: i64, answers: &[DnsAnswer]) {
        for a in answers {
            let DnsData::Addr(ip) = a.data else { continue };
            self.observe(ts, ip, &a.name, NameSource::Dns);
            // Walk CNAMEs backwards: alias -> ... -> a.name (bounded by the answer count).
            let mut target = a.name.as_str();
            for _ in 0..answers.len() {
                let alias = answers.iter().find_map(|c| match &c.data {
                    DnsData::Cname(t) if t == target => Some(c.name.as_str()),
                    _ => None,
                });
                match alias {
                    Some(al) if al != a.name => {
                        self.observe(ts, ip, al, NameSource::Dns);
                        target = al;
                    }
                    _ => break,
                }
            }
        }
    }

    /// Names not remembered because [`MAX_NAMES`] was reached.
    pub fn not_remembered(&self) -> u64 {
        self.not_remembered
    }

    /// The table's counters.
    pub fn counters(&self) -> NameCounters {
        NameCounters {
            not_remembered: self.not_remembered,
        }
    }

    /// Takes the names, leaving the table empty, sorted.
    pub fn take(&mut self) -> Vec<NameRecord> {
        let mut v: Vec<NameRecord> = self
            .names
            .drain()
            .map(
                |((address, name, source), (first_seen, last_seen))| NameRecord {
                    address,
                    name,
                    source,
                    first_seen,
                    last_seen,
                },
            )
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cname_chains_name_the_final_address() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let answers = vec![
            DnsAnswer {
                name: "www.example.com".into(),
                data: DnsData::Cname("edge.cdn.example".into()),
                ttl: 60,
            },
            DnsAnswer {
                name: "edge.cdn.example".into(),
                data: DnsData::Cname("node7.cdn.example".into()),
                ttl: 60,
            },
            DnsAnswer {
                name: "node7.cdn.example".into(),
                data: DnsData::Addr(ip),
                ttl: 60,
            },
        ];
        let mut t = NameTable::new();
        t.observe_dns(5, &answers);
        t.observe_dns(9, &answers);
        let names: Vec<(String, i64, i64)> = t
            .take()
            .into_iter()
            .map(|r| (r.name, r.first_seen, r.last_seen))
            .collect();
        assert_eq!(
            names,
            vec![
                ("edge.cdn.example".to_string(), 5, 9),
                ("node7.cdn.example".to_string(), 5, 9),
                ("www.example.com".to_string(), 5, 9),
            ]
        );
    }
}
