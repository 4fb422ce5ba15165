//! One conversation: a script of packets with absolute timestamps, built when
//! the conversation starts and emitted one packet at a time.
//!
//! TCP follows what a Linux stack puts on the wire: a three-way handshake
//! with MSS, SACK-permitted, timestamps and window-scale options; data in
//! segments of at most [`MSS`] bytes with the timestamp option; the receiver
//! acknowledging every second full segment; a reply carrying the ACK for the
//! request it answers; and a FIN from each side with a final ACK. Timing is
//! as seen by a tap next to the client: the server's answer passes it a
//! round trip after the packet it answers, the client's at once.

use std::io;
use std::net::IpAddr;

use etherparse::{IpHeaders, IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, PacketBuilder};

use crate::payload::Filler;

/// TCP payload bytes per segment: a 1500-byte MTU less IP, TCP and the
/// 12-byte timestamp option.
pub(crate) const MSS: usize = 1448;
/// The largest UDP payload that fits a 1500-byte MTU over IPv4.
pub(crate) const MAX_UDP_PAYLOAD: usize = 1472;

pub(crate) const FIN: u8 = 0x01;
pub(crate) const SYN: u8 = 0x02;
pub(crate) const PSH: u8 = 0x08;
pub(crate) const ACK: u8 = 0x10;

/// ICMP echo request marker in [`Step::flags`].
const ECHO_REQUEST: u8 = 1;

/// One end of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Peer {
    pub(crate) addr: IpAddr,
    pub(crate) mac: [u8; 6],
    /// The TTL / hop limit its packets carry when they pass the tap.
    pub(crate) ttl: u8,
    pub(crate) port: u16,
}

/// The transport of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Udp,
    Icmp,
}

#[derive(Clone, Copy, Debug)]
struct Step {
    /// Timestamp, microseconds since the epoch.
    at: i64,
    from_client: bool,
    /// TCP flags; for ICMP, [`ECHO_REQUEST`] or 0 (reply).
    flags: u8,
    /// TCP sequence number; ICMP identifier.
    seq: u32,
    /// TCP acknowledgment number; ICMP sequence number.
    ack: u32,
    /// The part of this packet's payload that comes from `Conv::heads`.
    head_start: u32,
    head_len: u16,
    /// Payload length; bytes past the head are filler.
    len: u16,
    text: bool,
}

/// A conversation and its script. Slots are reused, so the vectors keep
/// their capacity and a long run allocates only while concurrency grows.
#[derive(Debug)]
pub(crate) struct Conv {
    client: Peer,
    server: Peer,
    transport: Transport,
    /// Round-trip time, microseconds.
    rtt: i64,
    steps: Vec<Step>,
    heads: Vec<u8>,
    pos: usize,
    /// TCP timestamp clock offsets and IP identification counters, per side
    /// (0 = client, 1 = server).
    ts_offset: [u32; 2],
    ip_id: [u16; 2],
    window: [u16; 2],
    salt: u32,
}

impl Default for Conv {
    fn default() -> Conv {
        let nobody = Peer {
            addr: IpAddr::from([0, 0, 0, 0]),
            mac: [0; 6],
            ttl: 64,
            port: 0,
        };
        Conv {
            client: nobody,
            server: nobody,
            transport: Transport::Udp,
            rtt: 0,
            steps: Vec::new(),
            heads: Vec::new(),
            pos: 0,
            ts_offset: [0; 2],
            ip_id: [0; 2],
            window: [0; 2],
            salt: 0,
        }
    }
}

impl Conv {
    /// Starts a new script in this slot. `noise` seeds the per-conversation
    /// details (initial sequence numbers, IP IDs, clocks).
    pub(crate) fn reset(
        &mut self,
        client: Peer,
        server: Peer,
        transport: Transport,
        rtt: i64,
        noise: u64,
    ) {
        self.client = client;
        self.server = server;
        self.transport = transport;
        self.rtt = rtt.max(2);
        self.steps.clear();
        self.heads.clear();
        self.pos = 0;
        let n = crate::rng::mix(noise);
        let m = crate::rng::mix(n);
        self.ts_offset = [n as u32, (n >> 32) as u32];
        self.ip_id = [m as u16, (m >> 16) as u16];
        self.window = [
            501 + ((m >> 32) % 1500) as u16,
            501 + ((m >> 48) % 1500) as u16,
        ];
        self.salt = (m >> 40) as u32;
    }

    /// The timestamp of the next packet, if any is left.
    pub(crate) fn next_at(&self) -> Option<i64> {
        self.steps.get(self.pos).map(|s| s.at)
    }

    /// Packets in the script.
    pub(crate) fn len(&self) -> usize {
        self.steps.len()
    }

    /// Drops the script's packets past the first `n` (the last conversation
    /// of a capture with an exact packet budget).
    pub(crate) fn truncate(&mut self, n: usize) {
        self.seal();
        self.steps.truncate(n);
    }

    /// The script builder, starting at `t` with a packet from the client.
    pub(crate) fn script(&mut self, t: i64) -> Script<'_> {
        Script {
            conv: self,
            t,
            last: Side::Client,
            seq: [0; 2],
        }
    }

    /// Puts the script in time order once it is built: ACKs are stamped
    /// when they pass the tap, which can be after later data. The sort is
    /// stable, so packets with equal times keep the order they were built in.
    pub(crate) fn seal(&mut self) {
        self.steps.sort_by_key(|s| s.at);
    }

    /// Builds the next packet into `frame` (cleared first) and returns its
    /// timestamp, or `None` when the script is done.
    pub(crate) fn emit(
        &mut self,
        filler: &Filler,
        payload: &mut Vec<u8>,
        frame: &mut Vec<u8>,
    ) -> io::Result<Option<i64>> {
        let Some(step) = self.steps.get(self.pos).copied() else {
            return Ok(None);
        };
        self.pos += 1;
        let side = usize::from(!step.from_client);
        let (src, dst) = if step.from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };

        payload.clear();
        let head_start = step.head_start as usize;
        let head = self
            .heads
            .get(head_start..head_start + usize::from(step.head_len))
            .unwrap_or(&[]);
        payload.extend_from_slice(head);
        let rest = usize::from(step.len).saturating_sub(head.len());
        filler.append(payload, rest, step.text, self.salt ^ step.seq);

        let id = self.ip_id[side];
        self.ip_id[side] = id.wrapping_add(1);
        let ip = match (src.addr, dst.addr) {
            (IpAddr::V4(s), IpAddr::V4(d)) => IpHeaders::Ipv4(
                Ipv4Header {
                    source: s.octets(),
                    destination: d.octets(),
                    time_to_live: src.ttl,
                    identification: id,
                    dont_fragment: true,
                    ..Default::default()
                },
                Default::default(),
            ),
            (IpAddr::V6(s), IpAddr::V6(d)) => IpHeaders::Ipv6(
                Ipv6Header {
                    traffic_class: 0,
                    flow_label: Ipv6FlowLabel::ZERO,
                    payload_length: 0,
                    next_header: IpNumber(255),
                    hop_limit: src.ttl,
                    source: s.octets(),
                    destination: d.octets(),
                },
                Default::default(),
            ),
            _ => {
                return Err(io::Error::other(format!(
                    "a conversation between {} and {} mixes address families",
                    src.addr, dst.addr
                )))
            }
        };
        let v6 = src.addr.is_ipv6();
        let builder = PacketBuilder::ethernet2(src.mac, dst.mac).ip(ip);
        frame.clear();
        let result = match self.transport {
            Transport::Tcp => {
                // SYNs advertise the unscaled window; later segments a scaled one.
                let window = match (step.flags & SYN != 0, step.from_client) {
                    (true, true) => 64_240,
                    (true, false) => 65_160,
                    (false, _) => self.window[side],
                };
                let mut tcp = builder.tcp(src.port, dst.port, step.seq, window);
                if step.flags & SYN != 0 {
                    tcp = tcp.syn();
                }
                if step.flags & ACK != 0 {
                    tcp = tcp.ack(step.ack);
                }
                if step.flags & PSH != 0 {
                    tcp = tcp.psh();
                }
                if step.flags & FIN != 0 {
                    tcp = tcp.fin();
                }
                // TCP timestamps tick in milliseconds from a random origin.
                let ts_val = ((step.at / 1000) as u32).wrapping_add(self.ts_offset[side]);
                let ts_ecr = if step.flags == SYN {
                    0
                } else {
                    (((step.at - self.rtt / 2) / 1000) as u32)
                        .wrapping_add(self.ts_offset[1 - side])
                };
                let mut opts = [0u8; 20];
                let n = tcp_options(&mut opts, step.flags & SYN != 0, ts_val, ts_ecr);
                tcp = tcp
                    .options_raw(&opts[..n])
                    .map_err(|e| io::Error::other(e.to_string()))?;
                tcp.write_to_vec(frame, payload)
            }
            Transport::Udp => builder.udp(src.port, dst.port).write_to_vec(frame, payload),
            Transport::Icmp => {
                let (id, seq) = (step.seq as u16, step.ack as u16);
                let request = step.flags == ECHO_REQUEST;
                match (v6, request) {
                    (false, true) => builder
                        .icmpv4_echo_request(id, seq)
                        .write_to_vec(frame, payload),
                    (false, false) => builder
                        .icmpv4_echo_reply(id, seq)
                        .write_to_vec(frame, payload),
                    (true, true) => builder
                        .icmpv6_echo_request(id, seq)
                        .write_to_vec(frame, payload),
                    (true, false) => builder
                        .icmpv6_echo_reply(id, seq)
                        .write_to_vec(frame, payload),
                }
            }
        };
        result.map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Some(step.at))
    }
}

/// Writes Linux's TCP options into `out` and returns their length: on SYN
/// and SYN-ACK MSS 1460, SACK permitted, timestamps, NOP, window scale 7
/// (20 bytes); otherwise NOP, NOP, timestamps (12 bytes).
fn tcp_options(out: &mut [u8; 20], syn: bool, ts_val: u32, ts_ecr: u32) -> usize {
    let mut i = 0;
    if syn {
        out[..6].copy_from_slice(&[2, 4, 0x05, 0xb4, 4, 2]);
        i = 6;
    } else {
        out[..2].copy_from_slice(&[1, 1]);
        i += 2;
    }
    out[i] = 8;
    out[i + 1] = 10;
    out[i + 2..i + 6].copy_from_slice(&ts_val.to_be_bytes());
    out[i + 6..i + 10].copy_from_slice(&ts_ecr.to_be_bytes());
    i += 10;
    if syn {
        out[i..i + 4].copy_from_slice(&[1, 3, 3, 7]);
        i += 4;
    }
    i
}

/// Which side sends: the client or the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// How long the client's stack takes to answer what reaches it (the tap is
/// next to the client, so this is all the tap sees of it), microseconds.
const CLIENT_TURNAROUND: i64 = 40;

/// Builds a conversation's script. Time `t` is the time of the last data or
/// control packet; ACKs that answer it may come later, and
/// [`Conv::seal`] puts the whole script in time order at the end.
pub(crate) struct Script<'a> {
    conv: &'a mut Conv,
    t: i64,
    /// Who sent the packet at `t`.
    last: Side,
    /// Next TCP sequence number per side.
    seq: [u32; 2],
}

impl Script<'_> {
    /// The current time.
    pub(crate) fn now(&self) -> i64 {
        self.t
    }

    /// The round-trip time.
    pub(crate) fn rtt(&self) -> i64 {
        self.conv.rtt
    }

    /// When `side`'s answer to a packet seen at `at` passes the tap: a round
    /// trip later for the server, at once for the client.
    fn answer(&self, side: Side, at: i64) -> i64 {
        match side {
            Side::Server => at + self.conv.rtt,
            Side::Client => at + CLIENT_TURNAROUND,
        }
    }

    /// Moves time to the start of `side`'s next packet: after the last
    /// packet if `side` sent it too, after `side` could have seen it
    /// otherwise; then `gap` more (think time).
    fn advance(&mut self, side: Side, gap: i64) {
        if side != self.last {
            self.t = self.answer(side, self.t);
        }
        self.t += gap.max(0);
        self.last = side;
    }

    /// Appends head bytes for the next burst through `f`; returns the range.
    fn head(&mut self, f: impl FnOnce(&mut Vec<u8>, i64)) -> (usize, usize) {
        let start = self.conv.heads.len();
        f(&mut self.conv.heads, self.t);
        (start, self.conv.heads.len() - start)
    }

    fn push(&mut self, at: i64, side: Side, flags: u8, seq: u32, ack: u32) {
        self.conv.steps.push(Step {
            at,
            from_client: side == Side::Client,
            flags,
            seq,
            ack,
            head_start: 0,
            head_len: 0,
            len: 0,
            text: false,
        });
    }

    /// The TCP three-way handshake; the client's ISN and the server's are
    /// `isn`'s halves.
    pub(crate) fn tcp_open(&mut self, isn: u64) {
        let (c, s) = (isn as u32, (isn >> 32) as u32);
        self.push(self.t, Side::Client, SYN, c, 0);
        self.advance(Side::Server, 0);
        self.push(self.t, Side::Server, SYN | ACK, s, c.wrapping_add(1));
        self.advance(Side::Client, 0);
        self.push(
            self.t,
            Side::Client,
            ACK,
            c.wrapping_add(1),
            s.wrapping_add(1),
        );
        self.seq = [c.wrapping_add(1), s.wrapping_add(1)];
    }

    /// A lone SYN, never answered (a scan or flood).
    pub(crate) fn tcp_syn(&mut self, isn: u64) {
        self.push(self.t, Side::Client, SYN, isn as u32, 0);
    }

    /// A burst from `side`, `gap` microseconds of think time after it could
    /// answer the previous packet: the bytes `head` writes (given the
    /// burst's time), then `body` bytes of filler (`text` or binary). The
    /// receiver ACKs every second segment; the last odd segment is ACKed
    /// unless `answered` (the receiver sends data next, which carries the
    /// ACK).
    pub(crate) fn tcp_burst(
        &mut self,
        side: Side,
        gap: i64,
        body: usize,
        text: bool,
        answered: bool,
        head: impl FnOnce(&mut Vec<u8>, i64),
    ) {
        self.advance(side, gap);
        let (head_start, head_len) = self.head(head);
        let len = (head_len + body).max(1);
        let me = side.index();
        let peer = 1 - me;
        // Segments leave back to back: 1514 bytes take ~12 us at 1 Gbit/s.
        let spacing = 12;
        let mut sent = 0usize;
        let mut at = self.t;
        while sent < len {
            let n = (len - sent).min(MSS);
            let last = sent + n == len;
            let flags = if last { ACK | PSH } else { ACK };
            let seq = self.seq[me].wrapping_add(sent as u32);
            self.push(at, side, flags, seq, self.seq[peer]);
            let step = self.conv.steps.len() - 1;
            let s = &mut self.conv.steps[step];
            s.len = n as u16;
            s.text = text;
            if sent < head_len {
                s.head_start = (head_start + sent) as u32;
                s.head_len = (head_len - sent).min(n) as u16;
            }
            sent += n;
            let pair_done = (sent / MSS).is_multiple_of(2) && sent.is_multiple_of(MSS);
            if pair_done || (last && !answered) {
                let ack = self.seq[me].wrapping_add(sent as u32);
                let ack_at = self.answer(side.other(), at);
                self.push(ack_at, side.other(), ACK, self.seq[peer], ack);
            }
            if !last {
                at += spacing;
            }
        }
        self.seq[me] = self.seq[me].wrapping_add(len as u32);
        self.t = at;
    }

    /// Closes a TCP connection: FIN from `side` after `gap` of think time,
    /// the peer's FIN-ACK, and the final ACK.
    pub(crate) fn tcp_close(&mut self, side: Side, gap: i64) {
        let me = side.index();
        let peer = 1 - me;
        self.advance(side, gap);
        self.push(self.t, side, FIN | ACK, self.seq[me], self.seq[peer]);
        self.seq[me] = self.seq[me].wrapping_add(1);
        self.advance(side.other(), 0);
        self.push(
            self.t,
            side.other(),
            FIN | ACK,
            self.seq[peer],
            self.seq[me],
        );
        self.seq[peer] = self.seq[peer].wrapping_add(1);
        self.advance(side, 0);
        self.push(self.t, side, ACK, self.seq[me], self.seq[peer]);
    }

    /// One UDP datagram from `side`, `gap` of think time after it could
    /// answer the previous packet, its payload written by `body` (given the
    /// datagram's time).
    pub(crate) fn datagram(&mut self, side: Side, gap: i64, body: impl FnOnce(&mut Vec<u8>, i64)) {
        self.advance(side, gap);
        let (head_start, head_len) = self.head(body);
        let len = head_len.min(MAX_UDP_PAYLOAD);
        self.push(self.t, side, 0, 0, 0);
        let step = self.conv.steps.len() - 1;
        let s = &mut self.conv.steps[step];
        s.head_start = head_start as u32;
        s.head_len = len as u16;
        s.len = len as u16;
    }

    /// An ICMP echo request from the client, `gap` after the previous
    /// packet, and the server's reply, with Linux ping's 56-byte payload (a
    /// timestamp, then 0x10, 0x11, ...).
    pub(crate) fn echo(&mut self, gap: i64, id: u16, seq: u16) {
        self.advance(Side::Client, gap);
        let (head_start, head_len) = self.head(|out, t| {
            out.extend_from_slice(&(t / 1_000_000).to_le_bytes());
            out.extend_from_slice(&(t % 1_000_000).to_le_bytes());
            out.extend(0x10u8..0x38);
        });
        for (side, flags) in [(Side::Client, ECHO_REQUEST), (Side::Server, 0)] {
            self.advance(side, 0);
            self.push(self.t, side, flags, u32::from(id), u32::from(seq));
            let step = self.conv.steps.len() - 1;
            let s = &mut self.conv.steps[step];
            s.head_start = head_start as u32;
            s.head_len = head_len as u16;
            s.len = head_len as u16;
        }
    }
}
