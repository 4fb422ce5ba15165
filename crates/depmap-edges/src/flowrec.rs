//! Edges from flow-export records (NetFlow, IPFIX, sFlow): the same
//! [`EdgeKey`] -> [`EdgeStats`] figures and per-day [`DayActivity`] as the
//! packet [`FlowTable`](crate::FlowTable), from records instead of packets.
//!
//! The input is a small `Copy` [`FlowInput`], which the caller fills from the
//! decoder's record (this crate does not depend on the decoder). A
//! [`RecordAggregator`] groups records into **conversations** and folds each
//! conversation into its edge:
//!
//! - a biflow record (one with reverse counters, or one whose exporter said
//!   which side initiated) is a conversation on its own;
//! - a unidirectional record waits in a bounded pairing table
//!   ([`PairingConfig::max_waiting`]) for the record of the opposite
//!   direction of the same 5-tuple whose flow times are within
//!   [`PairingConfig::window_ns`] of its own; the two become one
//!   conversation. A record that finds no partner is released on its own
//!   once the aggregator's clock (the latest flow end seen) is `window_ns`
//!   past its end, at the bound, or at [`RecordAggregator::finish`]. Every
//!   outcome is counted in [`RecordCounters`].
//!
//! **Which side is the client**, strongest evidence first: the exporter's
//! initiator hint (IPFIX `biflowDirection`, Cisco client address, NSEL
//! initiator counters); a TCP record with SYN but not ACK in its flags
//! (its source sent only the opening SYN); then the packet rule of
//! [`direction::client_direction`] on the conversation's ports (ICMP echo
//! from the NetFlow type/code in the destination port, known listeners
//! learned from earlier conversations, equal ports, service ports,
//! privileged port, lower port, first record).
//!
//! **Figures** have the packet meaning: IP-layer bytes and packets per
//! direction (already scaled by the sampling rate, see [`FlowInput::sampled`]);
//! `first_seen`/`last_seen` from the flow start and end. Protocols without
//! ports (ICMP, ...) use port 0, as for packets: the ICMP type and code that
//! NetFlow puts in the destination port are used for direction only.
//!
//! **Connections are estimates** (records do not show every handshake):
//!
//! - TCP, when the exporter reports TCP flags: one connection per
//!   conversation whose client-direction record has SYN set (the record
//!   that holds the client's opening SYN); when only the server's direction
//!   was exported, its SYN (a SYN+ACK) counts instead, except for sampled
//!   records. A conversation without SYN continues a connection counted in
//!   an earlier export (active-timeout slices) or one that began before the
//!   exporter saw it, and counts 0. Sampled records count the sampling rate
//!   (each sampled SYN stands for that many).
//! - TCP records whose flags are all 0 (exporters that do not report flags),
//!   and every other protocol: one connection per conversation. sFlow
//!   exports each sampled packet as its own record, so there this is a
//!   count of sampled packets rather than flows.
//!
//! ```
//! use depmap_edges::flowrec::{FlowInput, Initiator, PairingConfig, RecordAggregator};
//! let t = 1_700_000_000_000_000_000;
//! let query = FlowInput {
//!     src: "10.0.0.1".parse().unwrap(), dst: "10.0.0.2".parse().unwrap(),
//!     src_port: 50000, dst_port: 53, proto: 17, packets: 1, bytes: 60,
//!     start_ns: t, end_ns: t, ..FlowInput::default()
//! };
//! let answer = FlowInput {
//!     src: query.dst, dst: query.src, src_port: 53, dst_port: 50000,
//!     bytes: 120, ..query
//! };
//! let mut agg = RecordAggregator::new(PairingConfig::default());
//! agg.add(&answer);
//! agg.add(&query);
//! agg.finish();
//! let edges = agg.take_edges();
//! assert_eq!(edges.len(), 1);
//! let (key, stats) = edges[0];
//! assert_eq!((key.client, key.port), (query.src, 53));
//! assert_eq!((stats.connections, stats.client_bytes, stats.server_bytes), (1, 60, 120));
//! assert_eq!(agg.counters().pairs, 1);
//! ```

use std::collections::VecDeque;
use std::net::IpAddr;

use depmap_flows::{DirectionHint, FlowRecord};
use depmap_wire::{ipproto, tcpflags};
use foldhash::{HashMap, HashSet};

use crate::direction::{self, Dir, DirectionEvidence, A_TO_B, NONE};
use crate::key::FlowKey;
use crate::model::{DayActivity, EdgeKey, EdgeStats, NANOS_PER_DAY, NANOS_PER_HOUR, NANOS_PER_SEC};
use crate::table::MAX_LISTENERS;

/// Default for [`PairingConfig::window_ns`]: 2 minutes. Both directions of a
/// flow end in the exporter's cache within its inactive timeout of each
/// other (15 s by default on most routers), so 2 minutes leaves room while
/// keeping a later flow that reuses the ports apart.
pub const DEFAULT_PAIR_WINDOW_NS: i64 = 120 * NANOS_PER_SEC;

/// Default for [`PairingConfig::max_waiting`].
pub const DEFAULT_MAX_WAITING: usize = 1 << 18;

/// A record spanning more than this many days (a broken exporter clock, or a
/// flow that truly ran that long) marks activity only in its first and last
/// hour, so one record cannot create unbounded per-day rows; counted in
/// [`RecordCounters::long_records`].
pub const MAX_ACTIVITY_DAYS: i64 = 35;

/// What the exporter said about which side initiated a flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// Nothing (or only ingress/egress, which says nothing about the client).
    #[default]
    Unknown,
    /// The source initiated: it is the client.
    Source,
    /// The destination initiated: it is the client.
    Destination,
}

/// One flow record, as the aggregator needs it. Small and `Copy`; the caller
/// converts the decoder's record into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowInput {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (ignored for protocols without ports).
    pub src_port: u16,
    /// Destination port; for ICMP, NetFlow's `type << 8 | code` (used to
    /// recognise echo requests and replies).
    pub dst_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// Packets from `src` to `dst` (already scaled when sampled).
    pub packets: u64,
    /// IP-layer bytes from `src` to `dst` (already scaled when sampled).
    pub bytes: u64,
    /// Packets from `dst` to `src`, for biflow records; 0 otherwise.
    pub reverse_packets: u64,
    /// IP-layer bytes from `dst` to `src`, for biflow records; 0 otherwise.
    pub reverse_bytes: u64,
    /// Whether the record is a biflow (it has reverse counters, even zero):
    /// it is a whole conversation and is not paired.
    pub biflow: bool,
    /// Flow start, ns since the Unix epoch.
    pub start_ns: i64,
    /// Flow end, ns since the Unix epoch (an end before the start is
    /// taken as the start).
    pub end_ns: i64,
    /// OR of the TCP flags of the flow's packets (0 when not reported).
    pub tcp_flags: u8,
    /// What the exporter said about the initiator.
    pub initiator: Initiator,
    /// One in `sampling_rate` packets was metered (1 = unsampled).
    pub sampling_rate: u32,
    /// Whether the figures are estimates from packet sampling.
    pub sampled: bool,
}

impl From<&FlowRecord> for FlowInput {
    /// A decoded flow record (`depmap-flows`) as the aggregator needs it:
    /// reverse counters of biflows, the exporter's initiator hint, the
    /// sampling rate.
    fn from(r: &FlowRecord) -> FlowInput {
        FlowInput {
            src: r.src,
            dst: r.dst,
            src_port: r.src_port,
            dst_port: r.dst_port,
            proto: r.proto,
            packets: r.packets,
            bytes: r.bytes,
            reverse_packets: r.reverse_packets.unwrap_or(0),
            reverse_bytes: r.reverse_bytes.unwrap_or(0),
            biflow: r.reverse_packets.is_some() || r.reverse_bytes.is_some(),
            start_ns: r.start_ns,
            end_ns: r.end_ns,
            tcp_flags: r.tcp_flags,
            initiator: match r.direction {
                Some(DirectionHint::SourceInitiated) => Initiator::Source,
                Some(DirectionHint::DestinationInitiated) => Initiator::Destination,
                _ => Initiator::Unknown,
            },
            sampling_rate: r.sampling_rate,
            sampled: r.sampled,
        }
    }
}

impl Default for FlowInput {
    fn default() -> Self {
        let zero = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        FlowInput {
            src: zero,
            dst: zero,
            src_port: 0,
            dst_port: 0,
            proto: 0,
            packets: 0,
            bytes: 0,
            reverse_packets: 0,
            reverse_bytes: 0,
            biflow: false,
            start_ns: 0,
            end_ns: 0,
            tcp_flags: 0,
            initiator: Initiator::Unknown,
            sampling_rate: 1,
            sampled: false,
        }
    }
}

/// Pairing limits. Times are nanoseconds of flow time (the records' own
/// start and end, by the exporter's clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairingConfig {
    /// Two records of opposite directions pair when their flow times are
    /// within this of each other; a waiting record is released alone once
    /// the latest flow end seen is this far past its own end.
    pub window_ns: i64,
    /// The most records waiting for a partner. When full, the oldest is
    /// released alone ([`RecordCounters::pairing_evicted`]). 0 is raised to 1.
    pub max_waiting: usize,
}

impl Default for PairingConfig {
    fn default() -> Self {
        PairingConfig {
            window_ns: DEFAULT_PAIR_WINDOW_NS,
            max_waiting: DEFAULT_MAX_WAITING,
        }
    }
}

/// What the aggregator counts; every bound has a counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordCounters {
    /// Records added.
    pub records: u64,
    /// Of those, biflow records (a conversation each).
    pub biflow_records: u64,
    /// Of those, sampled records.
    pub sampled_records: u64,
    /// Pairs of unidirectional records joined into one conversation.
    pub pairs: u64,
    /// Unidirectional records released without a partner (the other
    /// direction was not exported, not seen in time, or evicted).
    pub unpaired: u64,
    /// Of `unpaired`, records released early because `max_waiting` was
    /// reached.
    pub pairing_evicted: u64,
    /// Of `unpaired`, records released because a second record of the same
    /// direction came first (the earlier one ends its conversation).
    pub pairing_superseded: u64,
    /// Conversations folded into edges.
    pub conversations: u64,
    /// Conversations whose client came from an initiator hint.
    pub direction_from_hint: u64,
    /// ... from a TCP SYN without ACK.
    pub direction_from_syn: u64,
    /// ... from the packet rule (ports, ICMP echo, listeners, first record).
    pub direction_from_rule: u64,
    /// Records whose end was before their start (taken as the start).
    pub end_before_start: u64,
    /// Records spanning more than [`MAX_ACTIVITY_DAYS`].
    pub long_records: u64,
    /// Listeners not remembered because [`MAX_LISTENERS`] was reached.
    pub listeners_not_remembered: u64,
}

impl RecordCounters {
    /// `(name, value)` for every counter, with stable names.
    pub fn named(&self) -> [(&'static str, u64); 14] {
        [
            ("records", self.records),
            ("biflow_records", self.biflow_records),
            ("sampled_records", self.sampled_records),
            ("pairs", self.pairs),
            ("unpaired", self.unpaired),
            ("pairing_evicted", self.pairing_evicted),
            ("pairing_superseded", self.pairing_superseded),
            ("conversations", self.conversations),
            ("direction_from_hint", self.direction_from_hint),
            ("direction_from_syn", self.direction_from_syn),
            ("direction_from_rule", self.direction_from_rule),
            ("end_before_start", self.end_before_start),
            ("long_records", self.long_records),
            ("listeners_not_remembered", self.listeners_not_remembered),
        ]
    }
}

/// A record normalised: ports cleared for portless protocols, times ordered.
#[derive(Clone, Copy, Debug)]
struct Rec {
    input: FlowInput,
    /// The record's direction in its canonical key.
    dir: Dir,
    /// ICMP type and code, for portless ICMP records.
    icmp: Option<(u8, u8)>,
}

#[derive(Clone, Copy, Debug)]
struct Waiting {
    rec: Rec,
    /// Sequence number of its place in the FIFO.
    seq: u64,
}

/// What the one or two records of a conversation say together, indexed by
/// direction in the conversation's canonical key.
struct Conversation {
    pkts: [u64; 2],
    bytes: [u64; 2],
    /// TCP flags seen per direction (`None`: no record in that direction).
    flags: [Option<u8>; 2],
    start: i64,
    end: i64,
    /// The client's direction as the exporter's initiator hint says.
    hint: Dir,
    syn_dir: Dir,
    echo_request_dir: Dir,
    echo_reply_dir: Dir,
    /// The direction of the first record.
    first_dir: Dir,
    /// Whether any record is a sampled estimate.
    sampled: bool,
    /// The highest sampling rate among the records (1 when unsampled).
    rate: u64,
}

impl Conversation {
    /// Sums `recs` (in arrival order) and gathers their direction evidence.
    fn of<'a>(recs: impl Iterator<Item = &'a Rec>) -> Conversation {
        let mut c = Conversation {
            pkts: [0; 2],
            bytes: [0; 2],
            flags: [None, None],
            start: i64::MAX,
            end: i64::MIN,
            hint: NONE,
            syn_dir: NONE,
            echo_request_dir: NONE,
            echo_reply_dir: NONE,
            first_dir: NONE,
            sampled: false,
            rate: 1,
        };
        for r in recs {
            let d = r.dir as usize;
            let i = &r.input;
            // Exporters send 64-bit counters, scaled by the sampling rate:
            // sums saturate rather than wrap.
            c.pkts[d] = c.pkts[d].saturating_add(i.packets);
            c.bytes[d] = c.bytes[d].saturating_add(i.bytes);
            c.pkts[1 - d] = c.pkts[1 - d].saturating_add(i.reverse_packets);
            c.bytes[1 - d] = c.bytes[1 - d].saturating_add(i.reverse_bytes);
            c.flags[d] = Some(c.flags[d].unwrap_or(0) | i.tcp_flags);
            c.start = c.start.min(i.start_ns);
            c.end = c.end.max(i.end_ns);
            c.sampled |= i.sampled;
            c.rate = c.rate.max(u64::from(i.sampling_rate.max(1)));
            if c.first_dir == NONE {
                c.first_dir = r.dir;
            }
            if c.hint == NONE {
                c.hint = match i.initiator {
                    Initiator::Source => r.dir,
                    Initiator::Destination => 1 - r.dir,
                    Initiator::Unknown => NONE,
                };
            }
            let tcp = i.proto == ipproto::TCP;
            if tcp
                && c.syn_dir == NONE
                && i.tcp_flags & (tcpflags::SYN | tcpflags::ACK) == tcpflags::SYN
            {
                c.syn_dir = r.dir;
            }
            let icmp_type = r.icmp.map(|t| t.0);
            match (i.proto, icmp_type) {
                (ipproto::ICMP, Some(8)) | (ipproto::ICMPV6, Some(128))
                    if c.echo_request_dir == NONE =>
                {
                    c.echo_request_dir = r.dir
                }
                (ipproto::ICMP, Some(0)) | (ipproto::ICMPV6, Some(129))
                    if c.echo_reply_dir == NONE =>
                {
                    c.echo_reply_dir = r.dir
                }
                _ => {}
            }
        }
        c
    }

    /// Whether strong evidence (an initiator hint or a SYN) names the client.
    fn decided(&self) -> bool {
        self.hint != NONE || self.syn_dir != NONE
    }

    /// Connections the conversation counts (see the module docs): for TCP
    /// with flags, one if the client's record (or, unsampled, the server's)
    /// has SYN, scaled by the sampling rate; otherwise one.
    fn connections(&self, proto: u8, client: Dir) -> u64 {
        let c = client as usize;
        let s = 1 - c;
        let flags = self.flags;
        if proto == ipproto::TCP && flags.iter().flatten().any(|f| *f != 0) {
            let syn = |f: Option<u8>| f.is_some_and(|f| f & tcpflags::SYN != 0);
            let opened = match flags[c] {
                Some(_) => syn(flags[c]),
                None => !self.sampled && syn(flags[s]),
            };
            if !opened {
                0
            } else if self.sampled {
                self.rate
            } else {
                1
            }
        } else {
            1
        }
    }

    /// The conversation's figures with `client` as the client's direction.
    fn stats(&self, proto: u8, client: Dir) -> EdgeStats {
        let c = client as usize;
        let s = 1 - c;
        EdgeStats {
            connections: self.connections(proto, client),
            client_packets: self.pkts[c],
            client_bytes: self.bytes[c],
            server_packets: self.pkts[s],
            server_bytes: self.bytes[s],
            first_seen: self.start,
            last_seen: self.end,
        }
    }
}

/// Per-edge aggregation: figures, per-day activity, whether sampled.
#[derive(Default)]
struct EdgeAgg {
    stats: EdgeStats,
    days: Vec<DayActivity>,
    sampled: bool,
}

/// Groups flow records into conversations and edges. See the module docs.
pub struct RecordAggregator {
    cfg: PairingConfig,
    waiting: HashMap<FlowKey, Waiting>,
    /// Waiting records in arrival order; entries whose `seq` no longer
    /// matches the table were paired and are skipped.
    fifo: VecDeque<(FlowKey, u64)>,
    next_seq: u64,
    edges: HashMap<EdgeKey, EdgeAgg>,
    listeners: HashSet<(u128, u16, u8)>,
    /// The latest flow end seen.
    clock: i64,
    next_sweep: i64,
    counters: RecordCounters,
}

impl RecordAggregator {
    /// An empty aggregator.
    pub fn new(cfg: PairingConfig) -> RecordAggregator {
        RecordAggregator {
            cfg: PairingConfig {
                window_ns: cfg.window_ns.max(0),
                max_waiting: cfg.max_waiting.max(1),
            },
            waiting: HashMap::default(),
            fifo: VecDeque::new(),
            next_seq: 0,
            edges: HashMap::default(),
            listeners: HashSet::default(),
            clock: i64::MIN,
            next_sweep: i64::MIN,
            counters: RecordCounters::default(),
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> RecordCounters {
        self.counters
    }

    /// Records waiting for a partner.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Edges aggregated and not yet taken.
    pub fn pending_edges(&self) -> usize {
        self.edges.len()
    }

    /// Adds one record.
    pub fn add(&mut self, input: &FlowInput) {
        let mut input = *input;
        self.counters.records += 1;
        if input.end_ns < input.start_ns {
            self.counters.end_before_start += 1;
            input.end_ns = input.start_ns;
        }
        if input.sampled {
            self.counters.sampled_records += 1;
        }
        let icmp = match input.proto {
            ipproto::ICMP | ipproto::ICMPV6 => {
                Some(((input.dst_port >> 8) as u8, input.dst_port as u8))
            }
            _ => None,
        };
        if !ipproto::has_ports(input.proto) {
            input.src_port = 0;
            input.dst_port = 0;
        }
        let (key, dir) = FlowKey::of(
            &input.src,
            input.src_port,
            &input.dst,
            input.dst_port,
            input.proto,
        );
        let rec = Rec { input, dir, icmp };
        if input.end_ns > self.clock {
            self.clock = input.end_ns;
            if self.clock >= self.next_sweep {
                self.sweep(self.clock);
                self.next_sweep = self.clock.saturating_add(NANOS_PER_SEC);
            }
        }
        if input.biflow || input.initiator != Initiator::Unknown {
            if input.biflow {
                self.counters.biflow_records += 1;
            }
            self.fold(key, Some(rec), None);
            return;
        }
        if let Some(w) = self.waiting.get(&key).copied() {
            let window = self.cfg.window_ns;
            let near = input.start_ns <= w.rec.input.end_ns.saturating_add(window)
                && w.rec.input.start_ns <= input.end_ns.saturating_add(window);
            if w.rec.dir != dir && near {
                self.waiting.remove(&key);
                self.counters.pairs += 1;
                let (first, second) = (w.rec, rec);
                self.fold(key, Some(first), Some(second));
                return;
            }
            // Same direction again, or too far apart: the waiting record's
            // conversation is over without a partner.
            self.waiting.remove(&key);
            self.counters.unpaired += 1;
            if w.rec.dir == dir {
                self.counters.pairing_superseded += 1;
            }
            self.fold(key, Some(w.rec), None);
        }
        if self.waiting.len() >= self.cfg.max_waiting {
            self.evict_oldest();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.waiting.insert(key, Waiting { rec, seq });
        self.fifo.push_back((key, seq));
    }

    /// Releases, alone, every waiting record whose end is more than the
    /// window before `now` (flow time). `add` calls this as its clock
    /// advances; callers need not.
    pub fn sweep(&mut self, now: i64) {
        let window = self.cfg.window_ns;
        while let Some(&(key, seq)) = self.fifo.front() {
            match self.waiting.get(&key) {
                Some(w) if w.seq == seq => {
                    if now.saturating_sub(w.rec.input.end_ns) <= window {
                        break;
                    }
                    let rec = w.rec;
                    self.waiting.remove(&key);
                    self.counters.unpaired += 1;
                    self.fold(key, Some(rec), None);
                }
                _ => {}
            }
            self.fifo.pop_front();
        }
    }

    fn evict_oldest(&mut self) {
        while let Some((key, seq)) = self.fifo.pop_front() {
            if let Some(w) = self.waiting.get(&key) {
                if w.seq == seq {
                    let rec = w.rec;
                    self.waiting.remove(&key);
                    self.counters.unpaired += 1;
                    self.counters.pairing_evicted += 1;
                    self.fold(key, Some(rec), None);
                    return;
                }
            }
        }
    }

    /// Releases every waiting record alone: call at the end of the input.
    pub fn finish(&mut self) {
        while let Some((key, seq)) = self.fifo.pop_front() {
            if let Some(w) = self.waiting.get(&key) {
                if w.seq == seq {
                    let rec = w.rec;
                    self.waiting.remove(&key);
                    self.counters.unpaired += 1;
                    self.fold(key, Some(rec), None);
                }
            }
        }
    }

    /// Folds one conversation (one record, or a pair in arrival order) into
    /// its edge: sums its records, decides which side is the client, learns
    /// a listener from strong evidence, and adds the figures to the edge.
    fn fold(&mut self, key: FlowKey, first: Option<Rec>, second: Option<Rec>) {
        let conv = Conversation::of([first, second].iter().flatten());
        let client = self.client_direction(&key, &conv);
        // A conversation decided by strong evidence teaches a listener.
        if conv.decided() && ipproto::has_ports(key.proto) {
            self.learn_listener(&key, client);
        }
        let stats = conv.stats(key.proto, client);
        self.counters.conversations += 1;
        let agg = self.edges.entry(key.edge(client)).or_default();
        agg.stats.merge(&stats);
        agg.sampled |= conv.sampled;
        if add_activity(&mut agg.days, &stats) {
            self.counters.long_records += 1;
        }
    }

    /// Which side of `key` is the conversation's client, strongest evidence
    /// first (exporter hint, SYN, then the packet rule with the listeners
    /// learned so far), counting which evidence decided.
    fn client_direction(&mut self, key: &FlowKey, conv: &Conversation) -> Dir {
        if conv.hint != NONE {
            self.counters.direction_from_hint += 1;
            conv.hint
        } else if conv.syn_dir != NONE {
            self.counters.direction_from_syn += 1;
            conv.syn_dir
        } else {
            self.counters.direction_from_rule += 1;
            let a_listens = self.listeners.contains(&(key.a, key.a_port, key.proto));
            let b_listens = self.listeners.contains(&(key.b, key.b_port, key.proto));
            direction::client_direction(&DirectionEvidence {
                a_port: key.a_port,
                b_port: key.b_port,
                has_ports: ipproto::has_ports(key.proto) && (key.a_port, key.b_port) != (0, 0),
                first_dir: conv.first_dir,
                syn_dir: NONE,
                synack_dir: NONE,
                echo_request_dir: conv.echo_request_dir,
                echo_reply_dir: conv.echo_reply_dir,
                a_listens,
                b_listens,
            })
            .0
        }
    }

    /// Remembers the server side of `key` (the side opposite `client`) as a
    /// listener, up to [`MAX_LISTENERS`].
    fn learn_listener(&mut self, key: &FlowKey, client: Dir) {
        let l = if client == A_TO_B {
            (key.b, key.b_port, key.proto)
        } else {
            (key.a, key.a_port, key.proto)
        };
        if self.listeners.len() < MAX_LISTENERS {
            self.listeners.insert(l);
        } else if !self.listeners.contains(&l) {
            self.counters.listeners_not_remembered += 1;
        }
    }

    /// Takes the aggregated edges (of conversations released so far; records
    /// still waiting for a partner stay), sorted by key, with whether any of
    /// their figures are sampled estimates. Their per-day activity waits for
    /// [`RecordAggregator::take_activity`].
    pub fn take_edges_sampled(&mut self) -> Vec<(EdgeKey, EdgeStats, bool)> {
        let mut v: Vec<_> = self
            .edges
            .iter()
            .map(|(k, a)| (*k, a.stats, a.sampled))
            // Records may carry bytes without packets (or neither): keep
            // every edge that has any figure, so totals always add up.
            .filter(|(_, s, _)| s.packets() > 0 || s.bytes() > 0 || s.connections > 0)
            .collect();
        for a in self.edges.values_mut() {
            a.stats = EdgeStats::default();
            a.sampled = false;
        }
        self.edges.retain(|_, a| !a.days.is_empty());
        v.sort_unstable_by_key(|e| e.0.sort_key());
        v
    }

    /// [`RecordAggregator::take_edges_sampled`] without the sampled flags.
    pub fn take_edges(&mut self) -> Vec<(EdgeKey, EdgeStats)> {
        self.take_edges_sampled()
            .into_iter()
            .map(|(k, s, _)| (k, s))
            .collect()
    }

    /// Takes the per-day activity of the edges, sorted by edge and day.
    pub fn take_activity(&mut self) -> Vec<(EdgeKey, DayActivity)> {
        let mut v = Vec::new();
        for (k, a) in self.edges.iter_mut() {
            v.extend(a.days.drain(..).map(|d| (*k, d)));
        }
        self.edges
            .retain(|_, a| a.stats.packets() > 0 || a.stats.bytes() > 0 || a.stats.connections > 0);
        v.retain(|(_, a)| a.hours != 0 || a.packets > 0 || a.connections > 0);
        crate::model::sort_by_edge_day(&mut v);
        v
    }
}

/// Adds a conversation to its edge's days: figures on the day it started,
/// active hours on every day from start to end. Returns whether the span was
/// too long to mark hour by hour.
fn add_activity(days: &mut Vec<DayActivity>, s: &EdgeStats) -> bool {
    let first_hour = s.first_seen.div_euclid(NANOS_PER_HOUR);
    let last_hour = s.last_seen.div_euclid(NANOS_PER_HOUR);
    let long = s.last_seen.saturating_sub(s.first_seen) > MAX_ACTIVITY_DAYS * NANOS_PER_DAY;
    let start = day_slot(days, first_hour.div_euclid(24) as i32);
    let d = &mut days[start];
    d.connections = d.connections.saturating_add(s.connections);
    d.packets = d.packets.saturating_add(s.packets());
    d.bytes = d.bytes.saturating_add(s.bytes());
    if long {
        days[start].hours |= 1 << first_hour.rem_euclid(24);
        let end = day_slot(days, last_hour.div_euclid(24) as i32);
        days[end].hours |= 1 << last_hour.rem_euclid(24);
        return true;
    }
    let mut hour = first_hour;
    while hour <= last_hour {
        let day = hour.div_euclid(24);
        let last_of_day = last_hour.min(day * 24 + 23);
        let (h0, h1) = (hour.rem_euclid(24), last_of_day.rem_euclid(24));
        // Bits h0..=h1.
        let mask = ((1u64 << (h1 + 1)) - (1u64 << h0)) as u32;
        let slot = day_slot(days, day as i32);
        days[slot].hours |= mask;
        hour = last_of_day + 1;
    }
    false
}

fn day_slot(days: &mut Vec<DayActivity>, day: i32) -> usize {
    match days.iter().rposition(|d| d.day == day) {
        Some(i) => i,
        None => {
            days.push(DayActivity {
                day,
                ..DayActivity::default()
            });
            days.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000 * NANOS_PER_SEC; // 2023-11-14 22:13:20 UTC

    fn rec(src: &str, sp: u16, dst: &str, dp: u16, proto: u8) -> FlowInput {
        FlowInput {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            src_port: sp,
            dst_port: dp,
            proto,
            packets: 2,
            bytes: 200,
            start_ns: T,
            end_ns: T + NANOS_PER_SEC,
            ..FlowInput::default()
        }
    }

    fn reverse(r: &FlowInput) -> FlowInput {
        FlowInput {
            src: r.dst,
            dst: r.src,
            src_port: r.dst_port,
            dst_port: r.src_port,
            ..*r
        }
    }

    fn run(recs: &[FlowInput]) -> (Vec<(EdgeKey, EdgeStats)>, RecordCounters) {
        let mut a = RecordAggregator::new(PairingConfig::default());
        for r in recs {
            a.add(r);
        }
        a.finish();
        (a.take_edges(), a.counters())
    }

    #[test]
    fn pairs_two_directions_into_one_conversation() {
        // The server's record first: the port rule still makes 40000 the client.
        let q = rec("10.0.0.1", 40000, "10.0.0.2", 8080, 6);
        let mut ans = reverse(&q);
        ans.packets = 3;
        ans.bytes = 3000;
        ans.tcp_flags = 0x12 | 0x01; // SYN+ACK, FIN
        let mut q2 = q;
        q2.tcp_flags = 0x02 | 0x10 | 0x01; // SYN, ACK, FIN
        let (edges, c) = run(&[ans, q2]);
        assert_eq!(edges.len(), 1);
        let (k, s) = edges[0];
        assert_eq!((k.client, k.port), (q.src, 8080));
        assert_eq!((s.client_packets, s.client_bytes), (2, 200));
        assert_eq!((s.server_packets, s.server_bytes), (3, 3000));
        assert_eq!(s.connections, 1);
        assert_eq!((c.pairs, c.unpaired, c.conversations), (1, 0, 1));
        assert_eq!(c.direction_from_rule, 1);
    }

    #[test]
    fn syn_without_ack_beats_the_port_rule() {
        // A client on port 80 connecting to 50000: only the handshake says so.
        let mut r = rec("10.0.0.1", 80, "10.0.0.2", 50000, 6);
        r.tcp_flags = 0x02;
        r.packets = 1;
        let (edges, c) = run(&[r]);
        assert_eq!((edges[0].0.client, edges[0].0.port), (r.src, 50000));
        assert_eq!(edges[0].1.connections, 1);
        assert_eq!((c.direction_from_syn, c.unpaired), (1, 1));
    }

    #[test]
    fn initiator_hint_beats_everything_and_biflows_are_not_paired() {
        let mut r = rec("10.0.0.1", 443, "10.0.0.2", 50000, 6);
        r.initiator = Initiator::Destination;
        r.biflow = true;
        r.reverse_packets = 5;
        r.reverse_bytes = 500;
        r.tcp_flags = 0x1b;
        let (edges, c) = run(&[r]);
        let (k, s) = edges[0];
        assert_eq!((k.client, k.server, k.port), (r.dst, r.src, 443));
        assert_eq!((s.client_packets, s.server_packets), (5, 2));
        assert_eq!(
            (c.biflow_records, c.direction_from_hint, c.pairs),
            (1, 1, 0)
        );
        // A later conversation on the same ports without evidence uses the
        // listener learned from the hint: 10.0.0.1:443 serves.
        let mut a = RecordAggregator::new(PairingConfig::default());
        a.add(&r);
        let mut mid = rec("10.0.0.2", 50001, "10.0.0.1", 443, 6);
        mid.tcp_flags = 0x18;
        a.add(&mid);
        a.finish();
        let e = a.take_edges();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].1.connections, 1);
    }

    #[test]
    fn tcp_connections_count_syn_only() {
        // Active-timeout slices of one connection: only the first has SYN.
        let mut s1 = rec("10.0.0.1", 40000, "10.0.0.2", 22, 6);
        s1.tcp_flags = 0x12 | 0x08;
        let mut s2 = s1;
        s2.tcp_flags = 0x18;
        s2.start_ns += 60 * NANOS_PER_SEC;
        s2.end_ns += 60 * NANOS_PER_SEC;
        let (edges, c) = run(&[s1, reverse(&s1), s2, reverse(&s2)]);
        assert_eq!(edges.len(), 1);
        assert_eq!(edges[0].1.connections, 1);
        assert_eq!(edges[0].1.packets(), 8);
        assert_eq!(c.pairs, 2);
        // No flags reported at all: one per conversation.
        let a = rec("10.0.0.1", 40000, "10.0.0.2", 22, 6);
        let (edges, _) = run(&[a, reverse(&a)]);
        assert_eq!(edges[0].1.connections, 1);
    }

    #[test]
    fn sampled_connections_scale_and_are_marked() {
        let mut r = rec("10.0.0.1", 40000, "10.0.0.2", 443, 6);
        r.tcp_flags = 0x02;
        r.sampled = true;
        r.sampling_rate = 100;
        r.packets = 100;
        let mut a = RecordAggregator::new(PairingConfig::default());
        a.add(&r);
        a.finish();
        let e = a.take_edges_sampled();
        assert_eq!((e[0].1.connections, e[0].2), (100, true));
        assert_eq!(a.counters().sampled_records, 1);
    }

    #[test]
    fn same_direction_twice_and_far_apart_do_not_pair() {
        let r = rec("10.0.0.1", 40000, "10.0.0.2", 53, 17);
        let (edges, c) = run(&[r, r]);
        assert_eq!(edges[0].1.connections, 2);
        assert_eq!((c.pairs, c.unpaired, c.pairing_superseded), (0, 2, 1));
        let mut late = reverse(&r);
        late.start_ns += 3600 * NANOS_PER_SEC;
        late.end_ns += 3600 * NANOS_PER_SEC;
        let (edges, c) = run(&[r, late]);
        assert_eq!(edges[0].1.connections, 2);
        assert_eq!((c.pairs, c.unpaired), (0, 2));
        // Both still land on the same edge, client on the high port.
        assert_eq!(edges.len(), 1);
        assert_eq!(edges[0].0.port, 53);
    }

    #[test]
    fn waiting_records_expire_by_flow_time_and_bound() {
        let mut a = RecordAggregator::new(PairingConfig {
            window_ns: 10 * NANOS_PER_SEC,
            max_waiting: 2,
        });
        let r1 = rec("10.0.0.1", 40000, "10.0.0.2", 53, 17);
        a.add(&r1);
        assert_eq!(a.waiting(), 1);
        let mut r2 = rec("10.0.0.3", 40000, "10.0.0.2", 53, 17);
        r2.end_ns = T + 30 * NANOS_PER_SEC;
        a.add(&r2);
        // r1 ended 29 s before the clock: released alone.
        assert_eq!(a.waiting(), 1);
        assert_eq!(a.counters().unpaired, 1);
        let mut r3 = rec("10.0.0.4", 40000, "10.0.0.2", 53, 17);
        r3.end_ns = r2.end_ns;
        a.add(&r3);
        let r4 = FlowInput {
            src: "10.0.0.5".parse().unwrap(),
            ..r3
        };
        a.add(&r4);
        assert_eq!(a.waiting(), 2);
        assert_eq!(a.counters().pairing_evicted, 1);
        a.finish();
        assert_eq!(a.waiting(), 0);
        let c = a.counters();
        assert_eq!((c.unpaired, c.conversations), (4, 4));
        let total: u64 = a.take_edges().iter().map(|e| e.1.packets()).sum();
        assert_eq!(total, 8);
    }

    #[test]
    fn icmp_uses_port_zero_and_echo_for_direction() {
        // An echo reply (type 0) from 10.0.0.9 seen alone: 10.0.0.1 pinged it.
        let mut reply = rec("10.0.0.9", 0, "10.0.0.1", 0, 1);
        reply.dst_port = 0x0000;
        let mut request = rec("10.0.0.1", 0, "10.0.0.9", 0x0800, 1);
        request.start_ns += 5 * NANOS_PER_SEC;
        let (edges, c) = run(&[reply]);
        assert_eq!(
            (edges[0].0.client, edges[0].0.port),
            ("10.0.0.1".parse().unwrap(), 0)
        );
        assert_eq!(c.direction_from_rule, 1);
        // Request and reply pair (ports cleared, so the keys match).
        let (edges, c) = run(&[request, reply]);
        assert_eq!((edges.len(), c.pairs), (1, 1));
        assert_eq!(edges[0].0.client, request.src);
    }

    #[test]
    fn activity_marks_hours_from_start_to_end() {
        let mut r = rec("10.0.0.1", 40000, "10.0.0.2", 443, 6);
        // 22:13 to 01:13 the next day.
        r.end_ns = T + 3 * NANOS_PER_HOUR;
        let mut a = RecordAggregator::new(PairingConfig::default());
        a.add(&r);
        a.finish();
        let edges = a.take_edges();
        let act = a.take_activity();
        assert_eq!(edges.len(), 1);
        assert_eq!(act.len(), 2);
        assert_eq!(act[0].1.hours, (1 << 22) | (1 << 23));
        assert_eq!(act[1].1.hours, 0b11);
        assert_eq!(act[1].1.day, act[0].1.day + 1);
        assert_eq!((act[0].1.packets, act[1].1.packets), (2, 0));
        assert_eq!(a.pending_edges(), 0);
        // A record with a broken clock spanning years marks two hours.
        let mut bad = r;
        bad.end_ns = T + 400 * NANOS_PER_DAY;
        let mut a = RecordAggregator::new(PairingConfig::default());
        a.add(&bad);
        a.finish();
        let _ = a.take_edges();
        assert_eq!(a.take_activity().len(), 2);
        assert_eq!(a.counters().long_records, 1);
        // An end before the start is taken as the start.
        let mut back = r;
        back.end_ns = T - NANOS_PER_SEC;
        let (edges, c) = run(&[back]);
        assert_eq!(edges[0].1.last_seen, T);
        assert_eq!(c.end_before_start, 1);
    }

    #[test]
    fn bytes_without_packets_are_kept() {
        // Found by fuzzing: a TCP record without SYN (0 connections) and 0
        // packets but some bytes made an edge that was dropped, bytes and all.
        let mut r = rec("10.0.0.1", 40000, "10.0.0.2", 443, 6);
        r.packets = 0;
        r.tcp_flags = 0x10;
        let (edges, _) = run(&[r]);
        assert_eq!(edges.len(), 1);
        assert_eq!((edges[0].1.bytes(), edges[0].1.connections), (200, 0));
    }

    #[test]
    fn totals_are_kept_whatever_the_pairing() {
        // Aggregation invariant: packets and bytes in = packets and bytes out.
        let mut recs = Vec::new();
        for i in 0..200u16 {
            let mut r = rec("10.0.0.1", 40000 + i % 7, "10.0.0.2", 53 + i % 3, 17);
            r.start_ns += i64::from(i) * 7 * NANOS_PER_SEC;
            r.end_ns = r.start_ns;
            r.packets = u64::from(i);
            r.bytes = u64::from(i) * 10;
            recs.push(if i % 2 == 0 { reverse(&r) } else { r });
        }
        let mut a = RecordAggregator::new(PairingConfig {
            window_ns: 20 * NANOS_PER_SEC,
            max_waiting: 5,
        });
        for r in &recs {
            a.add(r);
        }
        a.finish();
        let edges = a.take_edges();
        let pk: u64 = edges.iter().map(|e| e.1.packets()).sum();
        let by: u64 = edges.iter().map(|e| e.1.bytes()).sum();
        assert_eq!(pk, recs.iter().map(|r| r.packets).sum::<u64>());
        assert_eq!(by, recs.iter().map(|r| r.bytes).sum::<u64>());
        let c = a.counters();
        assert_eq!(c.pairs * 2 + c.unpaired, 200);
        assert_eq!(c.conversations, c.pairs + c.unpaired);
    }
}
