//! Large synthetic captures for benchmarks and memory-bound tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::app::{App, DnsName};
use crate::apps::{self, Talk};
use crate::civil::{days_from_civil, MICROS_PER_SEC, SECS_PER_DAY};
use crate::conv::{Conv, Peer, Transport};
use crate::rng::Rng;
use crate::scenario::mac_of;
use crate::traffic::{Ctx, Source, Traffic};

/// Client hosts of [`bench_capture`]: 10.100.0.0/16 (and fd00:100::/64).
pub const BENCH_CLIENTS: usize = 5_000;
/// Server hosts of [`bench_capture`]: 10.200.0.0/16 (and fd00:200::/64).
pub const BENCH_SERVERS: usize = 400;
/// Conversations per second in [`bench_capture`] (about 40,000 packets/s).
pub const BENCH_CONVERSATIONS_PER_SEC: u64 = 3_000;
/// The time window all [`flow_flood`] SYNs fall in.
pub const FLOOD_WINDOW_SECS: i64 = 10;
/// Source ports each [`flow_flood`] client uses before the next client
/// takes over.
pub const FLOOD_PORTS_PER_CLIENT: u64 = 1_000;

/// 09:00 on the demo's first day; both captures start here.
fn bench_start() -> i64 {
    (days_from_civil(2026, 10, 1) * SECS_PER_DAY + 9 * 3600) * MICROS_PER_SEC
}

/// What server `s` of the benchmark runs: its app and port, one of ten
/// kinds in turn.
fn bench_service(s: usize) -> (App, u16) {
    const NAMES: &[&str] = &[
        "api.bench.example",
        "www.bench.example",
        "nope.bench.example",
    ];
    match s % 10 {
        0 => (
            App::Tls {
                sni: "api.bench.example",
            },
            443,
        ),
        1 => (
            App::Http {
                host: "www.bench.example",
            },
            80,
        ),
        2 => (
            App::Http {
                host: "svc.bench.example",
            },
            8080,
        ),
        3 => (App::Postgres, 5432),
        4 => (App::Redis, 6379),
        5 => (App::Dns { names: NAMES }, 53),
        6 => (App::Ntp, 123),
        7 => (App::Ldap, 389),
        8 => (
            App::Tls {
                sni: "svc.bench.example",
            },
            8443,
        ),
        _ => (App::Metrics, 9100),
    }
}

/// Every eighth server is reached over IPv6.
fn bench_server_v6(s: usize) -> bool {
    s % 8 == 7
}

fn numbered_v4(base: [u8; 2], i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        base[0],
        base[1],
        (i / 250) as u8,
        (i % 250 + 1) as u8,
    ))
}

fn numbered_v6(prefix: u16, i: usize) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(
        0xfd00,
        prefix,
        0,
        0,
        0,
        0,
        (i >> 16) as u16,
        i as u16,
    ))
}

/// The `j`th distinct (client, server) pair: clients cycle fastest, and each
/// client's servers are spread over the whole server range. Injective for
/// `j < BENCH_CLIENTS * BENCH_SERVERS`.
fn bench_pair(j: usize) -> (usize, usize) {
    let client = j % BENCH_CLIENTS;
    let server = (j / BENCH_CLIENTS + client) % BENCH_SERVERS;
    (client, server)
}

/// The client and server addresses, server port and protocol number of
/// edge `j` of a [`bench_capture`] (for tests that check the edges found).
pub fn bench_edge(j: usize) -> (IpAddr, IpAddr, u16, u8) {
    let (c, s) = bench_pair(j);
    let (app, port) = bench_service(s);
    let v6 = bench_server_v6(s);
    let (client, server) = if v6 {
        (numbered_v6(0x100, c), numbered_v6(0x200, s))
    } else {
        (numbered_v4([10, 100], c), numbered_v4([10, 200], s))
    };
    (client, server, port, app.proto(v6))
}

/// A benchmark capture of exactly `packets` packets over `edges` distinct
/// edges (at most [`BENCH_CLIENTS`] x [`BENCH_SERVERS`]).
///
/// Conversations start as a Poisson process at
/// [`BENCH_CONVERSATIONS_PER_SEC`], from 2026-10-01T09:00:00Z. They are
/// short: TLS, HTTP/1.1, PostgreSQL, Redis, LDAP and scrapes over TCP with
/// full handshakes and closes, DNS and NTP over UDP; one server in eight is
/// reached over IPv6. The first `edges` conversations use every edge once,
/// in order ([`bench_edge`]); later ones pick an edge at random, skewed so
/// that a few edges are hot. Every edge occurs once `packets` is at least
/// about 20 x `edges`. The last conversation is cut short to hit `packets`
/// exactly; every other one is complete.
///
/// ```
/// let mut traffic = depmap_synth::bench_capture(1_000, 50, 7);
/// let mut n = 0;
/// while let Some(_frame) = traffic.next_frame()? {
///     n += 1;
/// }
/// assert_eq!(n, 1_000);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn bench_capture(packets: u64, edges: usize, seed: u64) -> Traffic {
    let edges = edges.clamp(1, BENCH_CLIENTS * BENCH_SERVERS);
    let zone: Arc<[DnsName]> = Arc::from(vec![
        DnsName {
            name: "api.bench.example",
            cname: None,
            addr: numbered_v4([10, 200], 0),
        },
        DnsName {
            name: "www.bench.example",
            cname: Some("api.bench.example"),
            addr: numbered_v4([10, 200], 0),
        },
    ]);
    let mut rng = Rng::derive(seed, 0);
    let first = bench_start() + rng.below(1000) as i64;
    let source = BenchSource {
        rng,
        edges,
        budget: packets,
        planned: 0,
        started: 0,
        next: (packets > 0).then_some(first),
        zone,
    };
    Traffic::new(seed, vec![Box::new(source)])
}

struct BenchSource {
    rng: Rng,
    edges: usize,
    budget: u64,
    planned: u64,
    started: u64,
    next: Option<i64>,
    zone: Arc<[DnsName]>,
}

fn bench_peer(addr: IpAddr, port: u16) -> Peer {
    Peer {
        addr,
        mac: mac_of(&addr.to_string()),
        ttl: 64,
        port,
    }
}

impl Source for BenchSource {
    fn next_start(&self) -> Option<i64> {
        self.next
    }

    fn spawn(&mut self, ctx: &mut Ctx, conv: &mut Conv) {
        let Some(t) = self.next else {
            return;
        };
        let j = if (self.started as usize) < self.edges {
            self.started as usize
        } else if self.rng.percent(70) {
            self.rng.below(self.edges as u64) as usize
        } else {
            // Cubic skew: small indices (hot edges) far more often.
            let u = self.rng.below(1 << 20) as u128;
            ((self.edges as u128 * u * u * u) >> 60) as usize
        };
        self.started += 1;
        let (client, server, port, _) = bench_edge(j);
        let (app, _) = bench_service(bench_pair(j).1);
        let transport = app.transport();
        let mut c = bench_peer(client, 0);
        if transport != Transport::Icmp {
            c.port = ctx.ephemeral_port(client, 32_768, 60_999);
        }
        let s = bench_peer(server, port);
        let rtt = self.rng.range(100, 2_000) as i64;
        conv.reset(c, s, transport, rtt, self.rng.next_u64());
        let talk = Talk {
            zone: &self.zone,
            client_name: "client.bench.example",
            server: (server, port),
            size_percent: 60,
        };
        apps::play(app, &mut conv.script(t), &mut self.rng, &talk);
        let left = self.budget - self.planned;
        if conv.len() as u64 >= left {
            conv.truncate(left as usize);
            self.planned = self.budget;
            self.next = None;
        } else {
            self.planned += conv.len() as u64;
            let mean = MICROS_PER_SEC as f64 / BENCH_CONVERSATIONS_PER_SEC as f64;
            self.next = Some(t + (self.rng.exponential(mean) as i64).max(1));
        }
    }
}

/// `flows` TCP SYNs, each opening a different 5-tuple, all within
/// [`FLOOD_WINDOW_SECS`] from 2026-10-01T09:00:00Z and none ever answered
/// or closed: at the end of the capture every flow is still open, so a flow
/// table must hold all of them at once (or show its bound working).
///
/// Flow `i` comes from client `i / FLOOD_PORTS_PER_CLIENT` (counting up from
/// 10.128.0.0, so 1,000,000 flows use 1,000 clients) and source port
/// `20000 + i % FLOOD_PORTS_PER_CLIENT`, to one of 16 servers
/// (10.250.0.1-16) on port 443 or 80 fixed per client: many flows, few
/// edges (one per client).
///
/// ```
/// let summary = depmap_synth::flow_flood(5_000, 1).write_pcap(Vec::new())?;
/// assert_eq!(summary.frames, 5_000);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn flow_flood(flows: u64, seed: u64) -> Traffic {
    let source = FloodSource {
        rng: Rng::derive(seed, 1),
        flows,
        next_flow: 0,
        start: bench_start(),
    };
    Traffic::new(seed, vec![Box::new(source)])
}

struct FloodSource {
    rng: Rng,
    flows: u64,
    next_flow: u64,
    start: i64,
}

impl FloodSource {
    fn at(&self, i: u64) -> i64 {
        let window = (FLOOD_WINDOW_SECS * MICROS_PER_SEC) as u128;
        self.start + (u128::from(i) * window / u128::from(self.flows.max(1))) as i64
    }
}

impl Source for FloodSource {
    fn next_start(&self) -> Option<i64> {
        (self.next_flow < self.flows).then(|| self.at(self.next_flow))
    }

    fn spawn(&mut self, _ctx: &mut Ctx, conv: &mut Conv) {
        let i = self.next_flow;
        if i >= self.flows {
            return;
        }
        self.next_flow += 1;
        let client_index = i / FLOOD_PORTS_PER_CLIENT;
        let client_addr = IpAddr::V4(Ipv4Addr::from(
            0x0a80_0000u32.wrapping_add(client_index as u32),
        ));
        let server_index = (crate::rng::mix(client_index) % 16) as u8;
        let server_addr = IpAddr::V4(Ipv4Addr::new(10, 250, 0, 1 + server_index));
        let port = if client_index.is_multiple_of(2) {
            443
        } else {
            80
        };
        let client = Peer {
            addr: client_addr,
            mac: [
                0x02,
                0,
                0x0a,
                0x80,
                (client_index >> 8) as u8,
                client_index as u8,
            ],
            ttl: 64,
            port: 20_000 + (i % FLOOD_PORTS_PER_CLIENT) as u16,
        };
        let server = Peer {
            addr: server_addr,
            mac: [0x02, 0, 0x0a, 0xfa, 0, 1 + server_index],
            ttl: 64,
            port,
        };
        conv.reset(client, server, Transport::Tcp, 200, self.rng.next_u64());
        conv.script(self.at(i)).tcp_syn(self.rng.next_u64());
    }
}
