//! depmap's own synthetic traffic: deterministic pcap captures for the demo,
//! tests and benchmarks.
//!
//! A clone of depmap has no real captures, so `depmap demo` makes one here:
//! [`Scenario::small_company`] is a small company over 35 days with every
//! activity pattern depmap classifies, described as data ([`Service`],
//! [`Schedule`], [`Scenario::expected_edges`], [`Scenario::hosts`]) so tests
//! can hold depmap's output to it. [`bench_capture`] makes millions of
//! packets over thousands of edges, and [`flow_flood`] a million concurrent
//! flows, for benchmarks and memory-bound tests.
//!
//! Every capture is a [`Traffic`]: a stream of Ethernet frames in timestamp
//! order, generated on demand and written by a small classic-pcap writer
//! ([`PcapWriter`]); memory is bounded by the conversations in progress, not
//! by the capture's length. Packets are built with etherparse's
//! `PacketBuilder` (Ethernet II, IPv4 and IPv6, TCP with handshakes, data and
//! FINs both ways, UDP request/response, ICMP and ICMPv6 echo), with correct
//! lengths and checksums.
//!
//! **Determinism.** A seed names one capture, byte for byte, in every
//! version: randomness comes from the crate's own SplitMix64 ([`Rng`]; see
//! its module for why not a random-number crate), every source of traffic
//! draws from its own stream, and ties in time are broken by a fixed order.
//! A golden-hash test fails if any byte changes; changing the output on
//! purpose means updating that hash and saying so in the changelog.
//!
//! This crate does not decode (that is `depmap-wire`), read files (that is
//! `depmap-capture`) or read the clock: time comes from the scenario.
//!
//! ```
//! use depmap_synth::{Pattern, Scenario};
//! let demo = Scenario::small_company();
//! let edges = demo.expected_edges();
//! assert!(edges.iter().any(|e| e.port == 5432 && e.pattern == Pattern::OneOff));
//! // The first frames of the demo, without writing a file.
//! let mut traffic = demo.traffic(Scenario::DEMO_SEED);
//! let first = traffic.next_frame()?.map(|f| f.ts_micros);
//! assert!(first >= Some(demo.start_secs() * 1_000_000));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # The demo: `Scenario::small_company()`
//!
//! 35 days from 2026-10-01T00:00:00Z (a Thursday) to 2026-11-05, in UTC:
//! about 390,000 packets (99 MB of pcap), generated in about 0.1 s in a
//! release build. The seed changes timings, sizes and ports, never which
//! edges exist or how they classify.
//!
//! | address | name | role |
//! |---|---|---|
//! | 10.10.1.101-120, fd00:10:10:1::101-120 | ws01-ws20.corp.example | workstation (dual stack) |
//! | 10.10.0.10 | ldap.corp.example | directory |
//! | 10.10.0.25 | mail.corp.example | mail |
//! | 10.10.0.53 | ns1.corp.example | dns |
//! | 10.10.0.90, fd00:10:10::90 | mon.corp.example | monitoring |
//! | 10.10.0.123 | ntp.corp.example | ntp |
//! | 10.10.2.10 | lb.corp.example (`app.corp.example`) | load-balancer |
//! | 10.10.3.11-13 | app1-app3.corp.example | app-server |
//! | 10.10.3.40 | reports.corp.example | batch |
//! | 10.10.3.50 | finance.corp.example | finance |
//! | 10.10.3.60 | legacy.corp.example | legacy |
//! | 10.10.4.20 | db.corp.example | database |
//! | 10.10.4.30 | cache.corp.example | cache |
//! | 10.10.5.5 | backup.corp.example | backup |
//! | 10.10.6.6 | ftp.corp.example | file-transfer |
//! | fd00:10:10:2::20 | wiki.corp.example | wiki (IPv6 only) |
//! | 203.0.113.10 | api.audit.example | external |
//!
//! | service | client -> server | schedule | pattern |
//! |---|---|---|---|
//! | `dns` | workstations -> 10.10.0.53:53/udp | Mon-Fri 08-18, mean 1 h | business-hours |
//! | `dns-servers` | app servers -> 10.10.0.53:53/udp | around the clock, mean 45 min | continuous |
//! | `ntp` | workstations -> 10.10.0.123:123/udp | every 90 min | continuous |
//! | `web` | workstations -> 10.10.2.10:443/tcp, TLS, SNI `app.corp.example` | Mon-Fri 08-18, mean 4 h | business-hours |
//! | `web-backend` | LB -> 10.10.3.11-13:8080/tcp, HTTP `Host: app.corp.example` | Mon-Fri 08-18, mean 15 min, spread | business-hours |
//! | `wiki` | ws01-ws08 (IPv6) -> wiki:443/tcp, SNI `wiki.corp.example` | Mon-Fri 08-18, mean 4 h | business-hours |
//! | `database` | app servers -> 10.10.4.20:5432/tcp | hourly, up to 30 min late | continuous |
//! | `cache` | app servers -> 10.10.4.30:6379/tcp | hourly, up to 30 min late | continuous |
//! | `directory` | app servers -> 10.10.0.10:389/tcp | Mon-Fri 08-18, mean 3 h | business-hours |
//! | `monitoring`, `monitoring-v6` | 10.10.0.90 / fd00:10:10::90 -> every server:9100/tcp | every 30 min | continuous |
//! | `ping`, `ping-v6` | monitoring -> LB (ICMP echo), wiki (ICMPv6 echo) | hourly | continuous |
//! | `backup` | 10.10.5.5 -> every IPv4 server:22/tcp (SSH) | daily 02:00-02:15 | daily |
//! | `weekly-report` | 10.10.3.40 -> 10.10.0.25:25/tcp (SMTP) | Mondays 07:00 | weekly |
//! | `weekly-report-query` | 10.10.3.40 -> 10.10.4.20:5432/tcp | Mondays 06:55 | weekly |
//! | `audit-export` | 10.10.3.50 -> 203.0.113.10:443/tcp, SNI `api.audit.example` | the 1st, 06:00 | monthly |
//! | `adhoc-psql` | ws07 10.10.1.107 -> 10.10.4.20:5432/tcp | once, 2026-10-14 14:23 | one-off |
//! | `legacy-ftp` | 10.10.3.60 -> 10.10.6.6:21/tcp (control only) | hourly until day 20 (2026-10-21) | stopped |
//!
//! "Every server" is every address in the table with a serving role: the
//! 15 internal IPv4 servers (monitored from 10.10.0.90) and the wiki
//! (monitored from fd00:10:10::90); the backup pulls from the 14 IPv4
//! servers other than itself. The workstations' ephemeral ports are
//! Windows' (49152-65535) and their TTL 128; servers use Linux's
//! (32768-60999) and TTL 64. The external API is about 25 ms away, the
//! rest well under a millisecond.
//!
//! DNS answers carry real answer sections for the internal zone
//! ([`Scenario::dns_names`]: `app`, `www` as a CNAME of `app`, `wiki`
//! (AAAA), `mail`, `ntp`, `ldap`, `db`, `cache` under `corp.example`);
//! `wpad.corp.example` gets NXDOMAIN.
//!
//! Rates are thinned: a real Prometheus scrapes every 15-60 s and a real
//! office sends far more requests, which over 35 days would be hundreds of
//! millions of packets. Each conversation stands for many; the demo keeps
//! who talks to whom, on which port, and when. The floor on the rates is
//! depmap's recurrence classifier (`depmap_edges::recurrence`): a
//! continuous edge must be active in at least 12 hours of a day, a
//! business-hours one on most weekdays, so each continuous edge gets a
//! conversation at least hourly. The 17 monitoring edges are the largest
//! share (about 215,000 packets at one scrape per
//! [`SCRAPE_INTERVAL_SECS`] = 30 minutes); scraping "every few minutes"
//! would multiply the demo's size several times over.
#![deny(missing_docs)]

mod app;
mod apps;
mod bench;
mod civil;
mod conv;
mod payload;
mod pcap;
mod rng;
mod scenario;
mod traffic;

pub use app::{App, DnsName};
pub use bench::{
    bench_capture, bench_edge, flow_flood, BENCH_CLIENTS, BENCH_CONVERSATIONS_PER_SEC,
    BENCH_SERVERS, FLOOD_PORTS_PER_CLIENT, FLOOD_WINDOW_SECS,
};
pub use pcap::{PcapWriter, LINKTYPE_ETHERNET};
pub use rng::Rng;
pub use scenario::{
    ExpectedEdge, Fanout, Host, Pattern, Role, Scenario, Schedule, Service, SCRAPE_INTERVAL_SECS,
};
pub use traffic::{GeneratedFrame, Summary, Traffic};

#[cfg(test)]
mod tests;
