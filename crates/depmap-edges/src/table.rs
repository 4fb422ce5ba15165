//! The flow table: bidirectional flows with idle timeouts, folded into edges.

use std::net::IpAddr;

use depmap_wire::{ipproto, tcpflags, Fragment, Packet};

use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::fast::{FoldHasher, RandomState};
use foldhash::{HashMap, HashSet, SharedSeed};
use hashbrown::HashTable;

use crate::direction::{self, Dir, DirectionEvidence, A_TO_B, NONE};
use crate::key::{FlowKey, RawEdge};
use crate::model::{DayActivity, EdgeKey, EdgeStats, NANOS_PER_HOUR, NANOS_PER_SEC};

/// How many `(address, port, protocol)` listeners learned from handshakes are
/// remembered for the direction rule. Past it, new listeners are not
/// remembered (counted in [`FlowCounters::listeners_not_remembered`]); the
/// port rules still decide those flows.
pub const MAX_LISTENERS: usize = 1 << 16;

/// Flow-table limits and timeouts. Times are nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// The most flows tracked at once. When full, the flow idle the longest
    /// is finished early and folded into its edge (counted in
    /// [`FlowCounters::flows_evicted`]); it is never dropped.
    pub max_flows: usize,
    /// Idle timeout of a TCP flow that has not seen FIN or RST.
    pub tcp_idle: i64,
    /// Idle timeout of a TCP flow after FIN or RST.
    pub tcp_closed_idle: i64,
    /// Idle timeout of UDP and other flows; a UDP flow idle this long ends,
    /// and the next packet starts a new connection.
    pub udp_idle: i64,
    /// How long fragments wait for the first fragment of their datagram.
    pub fragment_timeout: i64,
    /// The most fragmented datagrams tracked at once. Past it, fragments
    /// whose first fragment is unknown are counted on a port-0 edge at once
    /// ([`FlowCounters::fragments_unattributed`]).
    pub max_fragments: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 1_000_000,
            tcp_idle: 300 * NANOS_PER_SEC,
            tcp_closed_idle: 10 * NANOS_PER_SEC,
            udp_idle: 60 * NANOS_PER_SEC,
            fragment_timeout: 30 * NANOS_PER_SEC,
            max_fragments: 65_536,
        }
    }
}

/// Counters the table keeps; every bound has one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlowCounters {
    /// IP packets observed.
    pub packets: u64,
    /// IP-layer bytes observed.
    pub bytes: u64,
    /// Flows created.
    pub flows_created: u64,
    /// Flows ended by their idle timeout.
    pub flows_expired: u64,
    /// Flows finished early because the table was full (`max_flows`).
    pub flows_evicted: u64,
    /// Flows ended because a new SYN reused the ports of a closed connection.
    pub flows_reused: u64,
    /// Later fragments matched to their first fragment's ports.
    pub fragments_matched: u64,
    /// Fragments counted on a port-0 edge because their first fragment was
    /// never seen (or could not be tracked).
    pub fragments_unattributed: u64,
    /// Fragmented datagrams not tracked because `max_fragments` was reached.
    pub fragment_table_full: u64,
    /// Listeners not remembered because [`MAX_LISTENERS`] was reached.
    pub listeners_not_remembered: u64,
}

const NIL: u32 = u32::MAX;

/// Flows a new table has room for before it grows.
const INITIAL_FLOWS: usize = 1 << 16;

/// Idle-timeout classes; each has its own LRU list, so the head of a list is
/// always the next flow of that class to expire.
const CLASS_TCP: usize = 0;
const CLASS_TCP_CLOSED: usize = 1;
const CLASS_OTHER: usize = 2;
const CLASSES: usize = 3;

/// 128-byte aligned: a flow spans two cache lines, and keeping them an
/// aligned pair lets the adjacent-line prefetcher bring the second with the
/// first on the per-packet path.
#[derive(Clone, Debug)]
#[repr(align(128))]
struct Flow {
    key: FlowKey,
    first: i64,
    last: i64,
    /// Packets and bytes per direction not yet folded into the edge.
    pkts: [u64; 2],
    bytes: [u64; 2],
    first_dir: Dir,
    syn_dir: Dir,
    synack_dir: Dir,
    echo_request_dir: Dir,
    echo_reply_dir: Dir,
    /// The client's direction, fixed when the flow is first folded.
    client_dir: Dir,
    /// Whether this flow's connection has been counted on its edge.
    counted: bool,
    /// The UTC day (days since the epoch) the unfolded figures belong to.
    day: i32,
    /// Active hours of that day not yet folded (bit h = hour h UTC).
    hours: u32,
    class: u8,
    prev: u32,
    next: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FragKey {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

#[derive(Clone, Copy, Debug)]
struct FragEntry {
    /// Ports from the first fragment, once seen.
    ports: Option<(u16, u16)>,
    last: i64,
    /// Later fragments that arrived before the first one.
    pending_pkts: u64,
    pending_bytes: u64,
    pending_first: i64,
}

/// What the fragment table decides for a fragment.
enum FragOutcome {
    /// A later fragment whose first fragment has not come: held in the
    /// fragment table, not counted on a flow yet.
    Held,
    /// Count the packet on the flow of these ports (its own, or for a later
    /// fragment its first fragment's), together with the later fragments
    /// that waited for this first one.
    Count {
        ports: (u16, u16),
        held: Option<HeldFragments>,
    },
}

/// Later fragments released by their first fragment.
#[derive(Clone, Copy)]
struct HeldFragments {
    pkts: u64,
    bytes: u64,
    /// When the first of them arrived.
    first: i64,
}

/// The TCP flags a flow's state and direction evidence use; all false for
/// other protocols.
#[derive(Clone, Copy)]
struct TcpSignals {
    /// SYN without ACK: a client opens.
    syn: bool,
    /// SYN with ACK: a server answers.
    synack: bool,
    /// FIN or RST: the connection closes.
    closing: bool,
}

impl TcpSignals {
    /// The signals of `pkt`'s flags.
    #[inline(always)]
    fn of(pkt: &Packet) -> TcpSignals {
        let is_tcp = pkt.proto == ipproto::TCP;
        let handshake = pkt.tcp_flags & (tcpflags::SYN | tcpflags::ACK);
        TcpSignals {
            syn: is_tcp && handshake == tcpflags::SYN,
            synack: is_tcp && handshake == tcpflags::SYN | tcpflags::ACK,
            closing: is_tcp && pkt.tcp_flags & (tcpflags::FIN | tcpflags::RST) != 0,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    tail: u32,
}

/// Tracks flows and aggregates them into edges. See the crate docs.
pub struct FlowTable {
    cfg: FlowConfig,
    flows: Vec<Flow>,
    free: Vec<u32>,
    /// Flow slots by key. The table holds only slot numbers (4 bytes a
    /// bucket) and compares keys in the slab, so the part of it every packet
    /// probes stays small enough for the CPU caches; a map holding the
    /// 40-byte keys was the ingest benchmark's largest cost.
    index: HashTable<u32>,
    /// The index's hash: seeded, at random per table (see [`FlowHasher`]).
    hasher: FlowHasher,
    lists: [List; CLASSES],
    edges: HashMap<RawEdge, EdgeAgg>,
    /// Activity of edges already taken by `take_edges`, until `take_activity`.
    taken_activity: Vec<(EdgeKey, DayActivity)>,
    listeners: HashSet<(u128, u16, u8)>,
    frags: HashMap<FragKey, FragEntry>,
    now: i64,
    next_sweep: i64,
    counters: FlowCounters,
}

impl FlowTable {
    /// An empty table.
    pub fn new(cfg: FlowConfig) -> FlowTable {
        FlowTable::with_hasher(cfg, FlowHasher::random())
    }

    /// An empty table whose index hashes with `hasher`: tests fix the seed.
    fn with_hasher(cfg: FlowConfig, hasher: FlowHasher) -> FlowTable {
        // Room for the flows of a busy link from the start, so the index is
        // not rebuilt through a dozen doublings on the way there; pages of
        // the slab not yet written take no memory.
        let room = cfg.max_flows.clamp(1, INITIAL_FLOWS);
        let flows = Vec::with_capacity(room);
        crate::hugepages::advise(&flows);
        FlowTable {
            cfg,
            flows,
            free: Vec::new(),
            index: HashTable::with_capacity(room),
            hasher,
            lists: [List {
                head: NIL,
                tail: NIL,
            }; CLASSES],
            edges: HashMap::default(),
            taken_activity: Vec::new(),
            listeners: HashSet::default(),
            frags: HashMap::default(),
            now: i64::MIN,
            next_sweep: i64::MIN,
            counters: FlowCounters::default(),
        }
    }

    fn lookup(&self, key: &FlowKey) -> Option<u32> {
        let flows = &self.flows;
        self.index
            .find(self.hasher.hash_one(key), |&j| {
                #[cfg(test)]
                tests::count_comparison();
                flows[j as usize].key == *key
            })
            .copied()
    }

    /// The counters so far.
    pub fn counters(&self) -> FlowCounters {
        self.counters
    }

    /// Flows currently tracked.
    pub fn active_flows(&self) -> usize {
        self.index.len()
    }

    /// Edges aggregated and not yet taken.
    pub fn pending_edges(&self) -> usize {
        self.edges.len()
    }

    /// Observes one packet captured at `ts` (ns since the epoch).
    ///
    /// This is the per-packet path the ingest benchmark measures. The steps
    /// split out of it below are `#[inline(always)]`, so they read apart but
    /// compile as one function, as before the split (checked with
    /// cachegrind's instruction count on the benchmark capture). It is
    /// itself inlined into the packet aggregator's per-frame step: left to
    /// the compiler, it was not once split, and the call cost 36 M
    /// instructions (1.8%) on that capture.
    #[inline(always)]
    pub fn observe(&mut self, ts: i64, pkt: &Packet) {
        self.count_packet(ts, pkt);
        let ((sport, dport), held) = match pkt.fragment {
            None => ((pkt.src_port, pkt.dst_port), None),
            Some(frag) => match self.track_fragment(ts, pkt, frag) {
                FragOutcome::Held => return,
                FragOutcome::Count { ports, held } => (ports, held),
            },
        };
        let (key, dir) = FlowKey::of(&pkt.src, sport, &pkt.dst, dport, pkt.proto);
        let idx = self.touch(key, dir, ts, pkt);
        let flow = &mut self.flows[idx as usize];
        flow.pkts[dir as usize] += 1;
        flow.bytes[dir as usize] += u64::from(pkt.ip_len);
        if let Some(h) = held {
            flow.pkts[dir as usize] += h.pkts;
            flow.bytes[dir as usize] += h.bytes;
            flow.first = flow.first.min(h.first);
        }
    }

    /// Counts the packet, advances the table's clock to `ts` and, at most
    /// once a second of capture time, expires idle flows.
    #[inline(always)]
    fn count_packet(&mut self, ts: i64, pkt: &Packet) {
        self.counters.packets += 1;
        self.counters.bytes += u64::from(pkt.ip_len);
        if ts > self.now {
            self.now = ts;
            if ts >= self.next_sweep {
                self.expire(ts);
                self.next_sweep = ts.saturating_add(NANOS_PER_SEC);
            }
        }
    }

    /// Matches a fragment with its datagram's first fragment: a later
    /// fragment takes the first one's ports, or waits for it in the fragment
    /// table; a first fragment records its ports and releases the later
    /// fragments that waited for it.
    #[inline(always)]
    fn track_fragment(&mut self, ts: i64, pkt: &Packet, frag: Fragment) -> FragOutcome {
        let ports = (pkt.src_port, pkt.dst_port);
        let fk = FragKey {
            src: pkt.src,
            dst: pkt.dst,
            proto: pkt.proto,
            id: frag.id,
        };
        let room = self.frags.len() < self.cfg.max_fragments;
        if frag.offset != 0 {
            match self.frags.get_mut(&fk) {
                Some(entry) => {
                    entry.last = entry.last.max(ts);
                    match entry.ports {
                        Some(first_ports) => {
                            self.counters.fragments_matched += 1;
                            return FragOutcome::Count {
                                ports: first_ports,
                                held: None,
                            };
                        }
                        None => {
                            // Wait for the first fragment.
                            entry.pending_pkts += 1;
                            entry.pending_bytes += u64::from(pkt.ip_len);
                            return FragOutcome::Held;
                        }
                    }
                }
                None if room => {
                    self.frags.insert(
                        fk,
                        FragEntry {
                            ports: None,
                            last: ts,
                            pending_pkts: 1,
                            pending_bytes: u64::from(pkt.ip_len),
                            pending_first: ts,
                        },
                    );
                    return FragOutcome::Held;
                }
                None => {
                    self.counters.fragment_table_full += 1;
                    self.counters.fragments_unattributed += 1;
                }
            }
        } else if pkt.has_ports {
            match self.frags.get_mut(&fk) {
                Some(entry) => {
                    entry.ports = Some(ports);
                    entry.last = entry.last.max(ts);
                    if entry.pending_pkts > 0 {
                        self.counters.fragments_matched += entry.pending_pkts;
                        let held = HeldFragments {
                            pkts: entry.pending_pkts,
                            bytes: entry.pending_bytes,
                            first: entry.pending_first,
                        };
                        entry.pending_pkts = 0;
                        entry.pending_bytes = 0;
                        return FragOutcome::Count {
                            ports,
                            held: Some(held),
                        };
                    }
                }
                None if room => {
                    self.frags.insert(
                        fk,
                        FragEntry {
                            ports: Some(ports),
                            last: ts,
                            pending_pkts: 0,
                            pending_bytes: 0,
                            pending_first: ts,
                        },
                    );
                }
                None => self.counters.fragment_table_full += 1,
            }
        }
        FragOutcome::Count { ports, held: None }
    }

    /// Finds or creates the flow for `key`, applies the packet's flags, and
    /// moves it to the tail of its class list. Returns its slot.
    #[inline(always)]
    fn touch(&mut self, key: FlowKey, dir: Dir, ts: i64, pkt: &Packet) -> u32 {
        let tcp = TcpSignals::of(pkt);
        let (i, linked) = self.find_or_create(key, dir, ts, tcp);
        let hour = self.roll_day(i, ts);
        self.note_evidence(i, dir, ts, hour, pkt, tcp);
        if !linked {
            self.link_tail(i);
        }
        if tcp.syn {
            self.learn_listener(&key, dir);
        }
        i
    }

    /// The flow for `key`, created if it is new or if a SYN reuses the ports
    /// of a closed connection (which ends the old flow), and whether it is
    /// still linked in its class list: a flow already at the tail of its
    /// list (the common case in a burst of packets) stays put unless its
    /// class changes; any other is unlinked for [`FlowTable::link_tail`].
    #[inline(always)]
    fn find_or_create(&mut self, key: FlowKey, dir: Dir, ts: i64, tcp: TcpSignals) -> (u32, bool) {
        let mut idx = self.lookup(&key);
        if let (Some(i), true) = (idx, tcp.syn) {
            // A new SYN on a flow whose connection closed: port reuse, so the
            // old connection ends here and a new one begins.
            if self.flows[i as usize].class as usize == CLASS_TCP_CLOSED {
                self.counters.flows_reused += 1;
                self.end_flow(i);
                idx = None;
            }
        }
        match idx {
            Some(i) => {
                let class = self.flows[i as usize].class as usize;
                let stays =
                    self.lists[class].tail == i && (!tcp.closing || class == CLASS_TCP_CLOSED);
                if !stays {
                    self.unlink(i);
                }
                (i, stays)
            }
            None => (self.create(key, dir, ts), false),
        }
    }

    /// Figures are kept per UTC day: a flow that crosses midnight folds what
    /// it has so far into the day it belongs to. Returns the hour of `ts`
    /// (hours since the epoch).
    #[inline(always)]
    fn roll_day(&mut self, i: u32, ts: i64) -> i64 {
        let hour = ts.div_euclid(NANOS_PER_HOUR);
        let day = hour.div_euclid(24) as i32;
        if self.flows[i as usize].day != day {
            let f = &self.flows[i as usize];
            if f.pkts != [0, 0] || !f.counted {
                self.fold(i);
            }
            self.flows[i as usize].day = day;
        }
        hour
    }

    /// Records on flow `i` what the packet tells: its active hour, first and
    /// last time, the handshake and echo directions for the direction rule,
    /// and a FIN or RST closing the connection.
    #[inline(always)]
    fn note_evidence(
        &mut self,
        i: u32,
        dir: Dir,
        ts: i64,
        hour: i64,
        pkt: &Packet,
        tcp: TcpSignals,
    ) {
        let flow = &mut self.flows[i as usize];
        flow.hours |= 1 << hour.rem_euclid(24);
        flow.last = flow.last.max(ts);
        flow.first = flow.first.min(ts);
        if tcp.syn && flow.syn_dir == NONE {
            flow.syn_dir = dir;
        }
        if tcp.synack && flow.synack_dir == NONE {
            flow.synack_dir = dir;
        }
        if pkt.proto == ipproto::ICMP || pkt.proto == ipproto::ICMPV6 {
            match (pkt.proto, pkt.icmp_type) {
                (ipproto::ICMP, 8) | (ipproto::ICMPV6, 128) if flow.echo_request_dir == NONE => {
                    flow.echo_request_dir = dir
                }
                (ipproto::ICMP, 0) | (ipproto::ICMPV6, 129) if flow.echo_reply_dir == NONE => {
                    flow.echo_reply_dir = dir
                }
                _ => {}
            }
        }
        if tcp.closing {
            flow.class = CLASS_TCP_CLOSED as u8;
        }
    }

    /// Remembers the receiver of a SYN sent in direction `dir` of `key` as a
    /// listener, up to [`MAX_LISTENERS`].
    #[inline(always)]
    fn learn_listener(&mut self, key: &FlowKey, dir: Dir) {
        let (ip, port) = if dir == A_TO_B {
            (key.b, key.b_port)
        } else {
            (key.a, key.a_port)
        };
        let l = (ip, port, key.proto);
        if self.listeners.len() < MAX_LISTENERS {
            self.listeners.insert(l);
        } else if !self.listeners.contains(&l) {
            self.counters.listeners_not_remembered += 1;
        }
    }

    fn create(&mut self, key: FlowKey, dir: Dir, ts: i64) -> u32 {
        if self.index.len() >= self.cfg.max_flows.max(1) {
            self.evict_oldest();
        }
        self.counters.flows_created += 1;
        let class = if key.proto == ipproto::TCP {
            CLASS_TCP
        } else {
            CLASS_OTHER
        } as u8;
        let flow = Flow {
            key,
            first: ts,
            last: ts,
            pkts: [0; 2],
            bytes: [0; 2],
            first_dir: dir,
            syn_dir: NONE,
            synack_dir: NONE,
            echo_request_dir: NONE,
            echo_reply_dir: NONE,
            client_dir: NONE,
            counted: false,
            day: ts.div_euclid(NANOS_PER_HOUR * 24) as i32,
            hours: 0,
            class,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.flows[i as usize] = flow;
                i
            }
            None => {
                let room = self.flows.capacity();
                self.flows.push(flow);
                if self.flows.capacity() != room {
                    crate::hugepages::advise(&self.flows);
                }
                (self.flows.len() - 1) as u32
            }
        };
        let (flows, hasher) = (&self.flows, &self.hasher);
        self.index.insert_unique(hasher.hash_one(key), i, |&j| {
            hasher.hash_one(flows[j as usize].key)
        });
        i
    }

    fn idle_timeout(&self, class: usize) -> i64 {
        match class {
            CLASS_TCP => self.cfg.tcp_idle,
            CLASS_TCP_CLOSED => self.cfg.tcp_closed_idle,
            _ => self.cfg.udp_idle,
        }
    }

    /// Ends every flow idle past its timeout at `now`, and every fragment
    /// entry older than the fragment timeout.
    pub fn expire(&mut self, now: i64) {
        for class in 0..CLASSES {
            let timeout = self.idle_timeout(class);
            loop {
                let head = self.lists[class].head;
                if head == NIL {
                    break;
                }
                let last = self.flows[head as usize].last;
                if now.saturating_sub(last) < timeout {
                    break;
                }
                self.counters.flows_expired += 1;
                self.end_flow(head);
            }
        }
        if !self.frags.is_empty() {
            let timeout = self.cfg.fragment_timeout;
            let mut orphans = Vec::new();
            self.frags.retain(|k, e| {
                if now.saturating_sub(e.last) < timeout {
                    return true;
                }
                if e.pending_pkts > 0 {
                    orphans.push((*k, *e));
                }
                false
            });
            for (k, e) in orphans {
                self.orphan_fragments(k, e);
            }
        }
    }

    /// Counts later fragments whose first fragment never came on a port-0
    /// edge between the two addresses, so no packet is lost from the totals.
    fn orphan_fragments(&mut self, k: FragKey, e: FragEntry) {
        self.counters.fragments_unattributed += e.pending_pkts;
        let (key, dir) = FlowKey::of(&k.src, 0, &k.dst, 0, k.proto);
        let mut stats = EdgeStats {
            connections: 0,
            first_seen: e.pending_first,
            last_seen: e.last,
            ..EdgeStats::default()
        };
        let (edge, client_dir) = if let Some(i) = self.lookup(&key) {
            let f = &self.flows[i as usize];
            let cd = if f.client_dir != NONE {
                f.client_dir
            } else {
                dir
            };
            (key.raw_edge(cd), cd)
        } else {
            (key.raw_edge(dir), dir)
        };
        if dir == client_dir {
            stats.client_packets = e.pending_pkts;
            stats.client_bytes = e.pending_bytes;
        } else {
            stats.server_packets = e.pending_pkts;
            stats.server_bytes = e.pending_bytes;
        }
        let hour = e.last.div_euclid(NANOS_PER_HOUR);
        self.edges.entry(edge).or_default().add(
            &stats,
            hour.div_euclid(24) as i32,
            1 << hour.rem_euclid(24),
        );
    }

    fn evict_oldest(&mut self) {
        let mut best: Option<(i64, u32)> = None;
        for list in &self.lists {
            if list.head != NIL {
                let last = self.flows[list.head as usize].last;
                if best.is_none_or(|(l, _)| last < l) {
                    best = Some((last, list.head));
                }
            }
        }
        if let Some((_, i)) = best {
            self.counters.flows_evicted += 1;
            self.end_flow(i);
        }
    }

    /// Folds a flow into its edge and removes it from the table.
    fn end_flow(&mut self, i: u32) {
        self.fold(i);
        self.unlink(i);
        let key = self.flows[i as usize].key;
        let flows = &self.flows;
        if let Ok(entry) = self.index.find_entry(self.hasher.hash_one(key), |&j| {
            #[cfg(test)]
            tests::count_comparison();
            flows[j as usize].key == key
        }) {
            entry.remove();
        }
        self.free.push(i);
    }

    /// Adds a flow's unfolded figures to its edge.
    fn fold(&mut self, i: u32) {
        let flow = &self.flows[i as usize];
        let key = flow.key;
        let client_dir = if flow.client_dir != NONE {
            flow.client_dir
        } else {
            // Listener lookups only matter when no handshake was seen.
            let unknown = flow.syn_dir == NONE && flow.synack_dir == NONE;
            let a_listens = unknown && self.listeners.contains(&(key.a, key.a_port, key.proto));
            let b_listens = unknown && self.listeners.contains(&(key.b, key.b_port, key.proto));
            direction::client_direction(&DirectionEvidence {
                a_port: key.a_port,
                b_port: key.b_port,
                has_ports: ipproto::has_ports(key.proto) && (key.a_port, key.b_port) != (0, 0),
                first_dir: flow.first_dir,
                syn_dir: flow.syn_dir,
                synack_dir: flow.synack_dir,
                echo_request_dir: flow.echo_request_dir,
                echo_reply_dir: flow.echo_reply_dir,
                a_listens,
                b_listens,
            })
            .0
        };
        let flow = &mut self.flows[i as usize];
        flow.client_dir = client_dir;
        let c = client_dir as usize;
        let s = 1 - c;
        let stats = EdgeStats {
            connections: u64::from(!flow.counted),
            client_packets: flow.pkts[c],
            client_bytes: flow.bytes[c],
            server_packets: flow.pkts[s],
            server_bytes: flow.bytes[s],
            first_seen: flow.first,
            last_seen: flow.last,
        };
        let (day, hours) = (flow.day, flow.hours);
        flow.counted = true;
        flow.pkts = [0; 2];
        flow.bytes = [0; 2];
        flow.hours = 0;
        let edge = key.raw_edge(client_dir);
        self.edges.entry(edge).or_default().add(&stats, day, hours);
    }

    /// Ends every flow and fragment entry: call at the end of the input.
    pub fn finish(&mut self) {
        for class in 0..CLASSES {
            while self.lists[class].head != NIL {
                let head = self.lists[class].head;
                self.end_flow(head);
            }
        }
        let frags: Vec<_> = self.frags.drain().collect();
        for (k, e) in frags {
            if e.pending_pkts > 0 {
                self.orphan_fragments(k, e);
            }
        }
    }

    /// Folds the figures of flows still open into their edges without ending
    /// them, so a periodic flush sees traffic of long-lived connections. Their
    /// connection is counted once, at the first fold.
    pub fn fold_active(&mut self) {
        for class in 0..CLASSES {
            let mut i = self.lists[class].head;
            while i != NIL {
                let next = self.flows[i as usize].next;
                self.fold(i);
                i = next;
            }
        }
    }

    /// Takes the aggregated edges, leaving the map empty, sorted by key so
    /// output is deterministic. Their per-day activity waits for
    /// [`FlowTable::take_activity`].
    pub fn take_edges(&mut self) -> Vec<(EdgeKey, EdgeStats)> {
        let mut v = Vec::with_capacity(self.edges.len());
        for (k, mut agg) in self.edges.drain() {
            let k = k.key();
            self.taken_activity.extend(agg.take_days().map(|d| (k, d)));
            if agg.stats.packets() > 0 || agg.stats.connections > 0 {
                v.push((k, agg.stats));
            }
        }
        crate::model::sort_by_edge(&mut v);
        v
    }

    /// Takes the per-day activity of the edges (which hours of which UTC
    /// day each edge was active, and its figures that day), sorted by edge
    /// and day; edges not yet taken keep their figures.
    pub fn take_activity(&mut self) -> Vec<(EdgeKey, DayActivity)> {
        let mut v = std::mem::take(&mut self.taken_activity);
        for (k, agg) in self.edges.iter_mut() {
            let k = k.key();
            v.extend(agg.take_days().map(|d| (k, d)));
        }
        v.retain(|(_, a)| a.hours != 0 || a.packets > 0 || a.connections > 0);
        crate::model::sort_by_edge_day(&mut v);
        v
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next, class) = {
            let f = &self.flows[i as usize];
            (f.prev, f.next, f.class as usize)
        };
        if prev == NIL {
            self.lists[class].head = next;
        } else {
            self.flows[prev as usize].next = next;
        }
        if next == NIL {
            self.lists[class].tail = prev;
        } else {
            self.flows[next as usize].prev = prev;
        }
        let f = &mut self.flows[i as usize];
        f.prev = NIL;
        f.next = NIL;
    }

    fn link_tail(&mut self, i: u32) {
        let class = self.flows[i as usize].class as usize;
        let tail = self.lists[class].tail;
        {
            let f = &mut self.flows[i as usize];
            f.prev = tail;
            f.next = NIL;
        }
        if tail == NIL {
            self.lists[class].head = i;
        } else {
            self.flows[tail as usize].next = i;
        }
        self.lists[class].tail = i;
    }
}

/// An edge's figures and its activity per day, aggregated together so a
/// fold is one hash lookup. The current day is kept inline: folds arrive
/// mostly in day order, and the usual fold then touches no other memory.
struct EdgeAgg {
    stats: EdgeStats,
    /// The most recent day folded into (`day == i32::MIN` when none yet).
    cur: DayActivity,
    /// Other days.
    older: Vec<DayActivity>,
}

impl Default for EdgeAgg {
    fn default() -> Self {
        EdgeAgg {
            stats: EdgeStats::default(),
            cur: DayActivity {
                day: i32::MIN,
                ..DayActivity::default()
            },
            older: Vec::new(),
        }
    }
}

impl EdgeAgg {
    fn add(&mut self, stats: &EdgeStats, day: i32, hours: u32) {
        self.stats.merge(stats);
        let slot = if self.cur.day == day {
            &mut self.cur
        } else if self.cur.day == i32::MIN {
            self.cur.day = day;
            &mut self.cur
        } else if day > self.cur.day {
            let prev = std::mem::replace(
                &mut self.cur,
                DayActivity {
                    day,
                    ..DayActivity::default()
                },
            );
            self.older.push(prev);
            &mut self.cur
        } else {
            match self.older.iter().rposition(|d| d.day == day) {
                Some(i) => &mut self.older[i],
                None => {
                    self.older.push(DayActivity {
                        day,
                        ..DayActivity::default()
                    });
                    let last = self.older.len() - 1;
                    &mut self.older[last]
                }
            }
        };
        slot.hours |= hours;
        slot.connections += stats.connections;
        slot.packets += stats.packets();
        slot.bytes += stats.bytes();
    }

    /// Takes the days, leaving none.
    fn take_days(&mut self) -> impl Iterator<Item = DayActivity> + '_ {
        let cur = std::mem::replace(
            &mut self.cur,
            DayActivity {
                day: i32::MIN,
                ..DayActivity::default()
            },
        );
        self.older
            .drain(..)
            .chain((cur.day != i32::MIN).then_some(cur))
    }
}

/// The hash of the flow index. Its keys are addresses and ports, which
/// whoever sends the packets chooses; so are those of the other maps here
/// (edges, listeners, fragments), which use foldhash's `RandomState`.
///
/// foldhash, seeded at random per table. FxHash, used before, has no seed,
/// and keys whose hashes collide can be written down in advance: raising an
/// IPv6 address's low 64 bits by `d` and lowering its high 64 bits by
/// `d * K` leaves the hash as it was. 1,500 such flows made an FxHash index
/// compare 750 keys per packet instead of 0.5 (each comparison a read of a
/// flow record), the work growing with the square of the flood. A seed not
/// known outside the process leaves nothing to write down in advance; the
/// flood tests (`table/tests/flood.rs`) send those keys, and keys found to
/// collide under a known seed, and count the comparisons. foldhash does not
/// claim to resist an attacker who can watch the table's timing and adapt:
/// that attacker could still make lookups slower, up to the `max_flows`
/// bound, and `flows_created` against `packets` would show it.
///
/// The cost, measured on the ingest benchmark's capture (2,000,000
/// packets), both release binaries built back to back and run in
/// alternation pinned to one CPU, 31 runs each: 2,048.3 M instructions
/// with FxHash, 2,063.0 M with foldhash (+0.7%, cachegrind); CPU time best
/// 383.9 ms against 387.3 ms (+0.9%), median 449.8 against 451.0 ms (+0.3%).
/// Again on the later store code, with the store's map switched too:
/// 2,139.3 M against 2,153.7 M instructions (+0.7%), CPU best +1.3% and
/// -0.1% in two busy spells of 31 runs each (paired run by run, +2.9% and
/// +1.1%; the medians, +4% and +16%, followed the neighbours). Within the
/// 2% allowed on the best and on instructions, so foldhash everywhere.
///
/// The seeds are kept in the table itself: foldhash's `SeedableRandomState`
/// reaches its shared seed through a pointer, one more load before the
/// first multiply on every packet's critical path, and measured +0.9%
/// instructions and +3.5% CPU time (best of 15 and of 21 runs).
#[derive(Clone, Debug)]
pub(crate) struct FlowHasher {
    seed: u64,
    shared: SharedSeed,
}

impl FlowHasher {
    /// A hasher with a random seed (from foldhash's, random per process and
    /// per hasher).
    pub(crate) fn random() -> FlowHasher {
        FlowHasher::with_seed(RandomState::default().hash_one(0_u64))
    }

    /// A hasher with a given seed (tests).
    pub(crate) fn with_seed(seed: u64) -> FlowHasher {
        FlowHasher {
            seed,
            shared: SharedSeed::from_u64(seed),
        }
    }

    #[inline(always)]
    pub(crate) fn hash_one(&self, key: impl Hash) -> u64 {
        let mut h = FoldHasher::with_seed(self.seed, &self.shared);
        key.hash(&mut h);
        h.finish()
    }
}

#[cfg(test)]
mod tests;
