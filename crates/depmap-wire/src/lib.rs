//! Packet decoding for depmap: a captured frame and its link type in, a small
//! `Copy` [`Packet`] summary out.
//!
//! This crate is capture-independent: it operates on byte slices and never
//! opens files or sockets, reads a clock, or allocates per packet. Decoding is
//! total: any input either decodes, is classified as not IP ([`NonIp`]), or is
//! rejected with a named [`Malformed`] reason. No input makes it panic (a
//! fuzz target in `fuzz/` holds it to that).
//!
//! The link layer (Ethernet, VLAN/QinQ stacks, MPLS, PPPoE, Linux cooked v1
//! and v2, NULL/LOOP, RAW) is peeled by a small front end of our own, because
//! etherparse has no SLL2, MPLS, PPPoE or NULL/LOOP. The IP layer (IPv4 with
//! options, IPv6 with extension headers, fragments) goes through etherparse's
//! lax slices, which keep working on frames cut by the snap length. Transport
//! ports and TCP flags are read directly: only the first 14 bytes are needed,
//! and a snaplen-cut TCP header that etherparse would reject still has them.
//!
//! ```
//! use depmap_wire::{decode, Decoded, LinkType};
//! // An IPv4/UDP datagram from 10.0.0.1:5353 to 10.0.0.2:53, on LINKTYPE_RAW.
//! let mut frame = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
//! frame.extend_from_slice(&[0x14, 0xe9, 0, 53, 0, 8, 0, 0]);
//! let Ok(Decoded::Ip(p)) = decode(LinkType::Raw, &frame, 28) else { panic!() };
//! assert_eq!((p.src_port, p.dst_port, p.proto, p.ip_len), (5353, 53, 17, 28));
//! ```
#![deny(missing_docs)]

pub mod app;
mod link;

use std::net::IpAddr;

use etherparse::LaxIpSlice;

pub use link::{LinkType, MAX_ENCAPSULATION_DEPTH};

/// IP protocol numbers depmap treats specially, as plain `u8` for the
/// per-packet path. Their names (`tcp`, `icmpv6`, ...) are
/// `depmap_model::Proto`'s, the one table of them; a test checks the two
/// agree on the numbers.
pub mod ipproto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// DCCP.
    pub const DCCP: u8 = 33;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
    /// UDP-Lite.
    pub const UDPLITE: u8 = 136;

    /// Whether packets of this protocol carry source and destination ports
    /// in their first four bytes.
    #[inline]
    pub fn has_ports(proto: u8) -> bool {
        // A table lookup: this runs on every packet.
        const PORTS: [bool; 256] = {
            let mut t = [false; 256];
            t[TCP as usize] = true;
            t[UDP as usize] = true;
            t[DCCP as usize] = true;
            t[SCTP as usize] = true;
            t[UDPLITE as usize] = true;
            t
        };
        PORTS[proto as usize]
    }
}

/// TCP flag bits as they appear in byte 13 of the TCP header.
pub mod tcpflags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// An IP fragment's identity: the packets of one datagram share
/// `(src, dst, proto, id)`; only the fragment at offset 0 carries ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// IPv4 identification (16 bits) or IPv6 fragment identification.
    pub id: u32,
    /// Fragment offset in 8-byte units.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
}

/// What depmap needs to know about one IP packet. Small, `Copy`, and
/// independent of the frame's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The transport protocol number (after IPv6 extension headers).
    pub proto: u8,
    /// Source port; 0 for protocols without ports and for non-first fragments.
    pub src_port: u16,
    /// Destination port; 0 as for `src_port`.
    pub dst_port: u16,
    /// TCP flags (byte 13 of the TCP header), 0 for other protocols.
    pub tcp_flags: u8,
    /// ICMP/ICMPv6 type, 0 for other protocols.
    pub icmp_type: u8,
    /// ICMP/ICMPv6 code, 0 for other protocols.
    pub icmp_code: u8,
    /// The IP-layer length: IPv4 total length, or IPv6 payload length + 40.
    /// This is the length on the wire even when the frame was cut by the
    /// snap length, and it is what NetFlow and IPFIX count as bytes.
    pub ip_len: u32,
    /// Set when this packet is an IP fragment.
    pub fragment: Option<Fragment>,
    /// Whether the transport ports were read (false for non-first fragments
    /// and for protocols without ports).
    pub has_ports: bool,
    /// Offset of the application payload (after the TCP/UDP header) in the
    /// frame; see [`Packet::app_payload`].
    pub app_offset: u32,
    /// Captured length of the application payload.
    pub app_len: u32,
}

impl Packet {
    /// The captured application payload (TCP or UDP data) of this packet,
    /// given the frame it was decoded from. Empty when there is none or it
    /// was not captured.
    pub fn app_payload<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        let start = self.app_offset as usize;
        let end = start.saturating_add(self.app_len as usize);
        frame.get(start..end).unwrap_or(&[])
    }

    /// Whether the packet is a later fragment, which carries no ports.
    pub fn is_later_fragment(&self) -> bool {
        matches!(self.fragment, Some(f) if f.offset != 0)
    }
}

/// Frames that are well formed but carry no IP packet. Counted, not decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NonIp {
    /// ARP.
    Arp,
    /// 802.3 frames with an LLC header (CDP, STP, ...).
    Llc,
    /// PPPoE discovery.
    PppoeDiscovery,
    /// A PPP control protocol (LCP, IPCP, ...) inside PPPoE.
    PppControl,
    /// An MPLS payload that is neither IP nor pseudowire Ethernet.
    OtherMplsPayload,
    /// Any other EtherType or address family.
    OtherLinkProtocol,
}

impl NonIp {
    /// Every kind, for reports and counter arrays.
    pub const ALL: [NonIp; 6] = [
        NonIp::Arp,
        NonIp::Llc,
        NonIp::PppoeDiscovery,
        NonIp::PppControl,
        NonIp::OtherMplsPayload,
        NonIp::OtherLinkProtocol,
    ];

    /// The index of this kind in [`NonIp::ALL`].
    pub fn index(self) -> usize {
        NonIp::ALL.iter().position(|m| *m == self).unwrap_or(0)
    }

    /// A short stable name for counters and reports.
    pub fn name(self) -> &'static str {
        match self {
            NonIp::Arp => "arp",
            NonIp::Llc => "llc",
            NonIp::PppoeDiscovery => "pppoe_discovery",
            NonIp::PppControl => "ppp_control",
            NonIp::OtherMplsPayload => "mpls_other_payload",
            NonIp::OtherLinkProtocol => "other_link_protocol",
        }
    }
}

/// Why a frame could not be decoded. Tiny and `Copy`, so it costs nothing
/// on the hot path; counted by [`Malformed::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Malformed {
    /// The interface's link type is not one depmap decodes.
    UnsupportedLinkType,
    /// The frame ends inside its link-layer header.
    LinkTruncated,
    /// The frame ends inside an 802.1Q/802.1ad tag.
    VlanTruncated,
    /// The frame ends inside an MPLS label stack.
    MplsTruncated,
    /// The frame ends inside a PPPoE/PPP header.
    PppoeTruncated,
    /// More than [`MAX_ENCAPSULATION_DEPTH`] stacked encapsulation headers.
    TooManyEncapsulations,
    /// The IP version nibble is neither 4 nor 6.
    BadIpVersion,
    /// The frame ends inside the IP header.
    IpTruncated,
    /// The IP header is invalid (for example an IPv4 IHL below 5).
    BadIpHeader,
    /// An IPv6 extension header is truncated or invalid.
    BadIpv6Extension,
    /// The frame ends before the transport ports.
    TransportTruncated,
}

impl Malformed {
    /// Every reason, for reports that list zeros too.
    pub const ALL: [Malformed; 11] = [
        Malformed::UnsupportedLinkType,
        Malformed::LinkTruncated,
        Malformed::VlanTruncated,
        Malformed::MplsTruncated,
        Malformed::PppoeTruncated,
        Malformed::TooManyEncapsulations,
        Malformed::BadIpVersion,
        Malformed::IpTruncated,
        Malformed::BadIpHeader,
        Malformed::BadIpv6Extension,
        Malformed::TransportTruncated,
    ];

    /// A short stable name for counters and reports.
    pub fn name(self) -> &'static str {
        match self {
            Malformed::UnsupportedLinkType => "unsupported_link_type",
            Malformed::LinkTruncated => "link_truncated",
            Malformed::VlanTruncated => "vlan_truncated",
            Malformed::MplsTruncated => "mpls_truncated",
            Malformed::PppoeTruncated => "pppoe_truncated",
            Malformed::TooManyEncapsulations => "too_many_encapsulations",
            Malformed::BadIpVersion => "bad_ip_version",
            Malformed::IpTruncated => "ip_truncated",
            Malformed::BadIpHeader => "bad_ip_header",
            Malformed::BadIpv6Extension => "bad_ipv6_extension",
            Malformed::TransportTruncated => "transport_truncated",
        }
    }

    /// The index of this reason in [`Malformed::ALL`], for counter arrays.
    pub fn index(self) -> usize {
        Malformed::ALL.iter().position(|m| *m == self).unwrap_or(0)
    }
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for Malformed {}

/// The result of decoding a well-formed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// An IP packet.
    Ip(Packet),
    /// A frame that carries no IP packet.
    NonIp(NonIp),
}

/// Decodes one captured frame.
///
/// `frame` is the captured bytes (possibly cut by the snap length) and
/// `wire_len` the frame's original length; it is only used for the IP
/// length of packets whose IP length field is zero (TSO/jumbograms).
#[inline(always)]
pub fn decode(link: LinkType, frame: &[u8], wire_len: u32) -> Result<Decoded, Malformed> {
    // Untagged Ethernet II carrying plain IPv4 is most of any capture: go
    // straight to the IPv4 fast path. Everything else (and any IPv4 header
    // the fast path declines) takes the general route below, which gives
    // the same result for these frames.
    if link == LinkType::Ethernet && frame.len() >= 14 && frame[12] == 0x08 && frame[13] == 0 {
        if let Some(pkt) = ipv4_fast(&frame[14..], 14) {
            return pkt.map(Decoded::Ip);
        }
    }
    decode_general(link, frame, wire_len)
}

#[inline(never)]
fn decode_general(link: LinkType, frame: &[u8], wire_len: u32) -> Result<Decoded, Malformed> {
    let start = match link::find_ip(link, frame)? {
        Ok(start) => start,
        Err(non_ip) => return Ok(Decoded::NonIp(non_ip)),
    };
    let ip_bytes = frame.get(start.offset..).ok_or(Malformed::LinkTruncated)?;
    let fallback_len = wire_len.saturating_sub(start.offset as u32);
    decode_ip(ip_bytes, fallback_len, start.offset).map(Decoded::Ip)
}

/// Decodes an IP packet that starts at `ip` (no link layer), as found in
/// sFlow raw-header samples or on `LINKTYPE_RAW`.
pub fn decode_ip_packet(ip: &[u8], wire_len: u32) -> Result<Packet, Malformed> {
    decode_ip(ip, wire_len, 0)
}

/// The fast path for the overwhelmingly common packet: IPv4 without
/// options, not a fragment, a sane total length, at `base` in the frame.
/// It reads six fields directly, which measured about twice as fast as
/// etherparse's lax slicing on the ingest benchmark. `None` for every other
/// packet (options, fragments, truncated headers, odd lengths), which
/// [`decode_ip`] hands to etherparse.
#[inline(always)]
fn ipv4_fast(ip: &[u8], base: usize) -> Option<Result<Packet, Malformed>> {
    if ip.len() >= 20 && ip[0] == 0x45 && ip[6] & 0x3f == 0 && ip[7] == 0 {
        let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
        if total >= 20 {
            let end = total.min(ip.len());
            let src = IpAddr::from([ip[12], ip[13], ip[14], ip[15]]);
            let dst = IpAddr::from([ip[16], ip[17], ip[18], ip[19]]);
            return Some(transport(
                src,
                dst,
                ip[9],
                total as u32,
                None,
                &ip[20..end],
                base + 20,
            ));
        }
    }
    None
}

fn decode_ip(ip: &[u8], fallback_len: u32, base: usize) -> Result<Packet, Malformed> {
    if let Some(pkt) = ipv4_fast(ip, base) {
        return pkt;
    }
    use etherparse::err::ip::LaxHeaderSliceError;
    let (slice, ext_err) = LaxIpSlice::from_slice(ip).map_err(|e| match e {
        LaxHeaderSliceError::Len(_) => Malformed::IpTruncated,
        LaxHeaderSliceError::Content(_) => Malformed::BadIpHeader,
    })?;
    if ext_err.is_some() {
        return Err(Malformed::BadIpv6Extension);
    }

    let (ip_len, fragment) = match &slice {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let total = u32::from(h.total_len());
            let header_len = u32::from(h.ihl()) * 4;
            let ip_len = if total < header_len {
                fallback_len.max(header_len)
            } else {
                total
            };
            let offset = h.fragments_offset().value();
            let more = h.more_fragments();
            let frag = (more || offset != 0).then_some(Fragment {
                id: u32::from(h.identification()),
                offset,
                more,
            });
            (ip_len, frag)
        }
        LaxIpSlice::Ipv6(v6) => {
            let payload_len = u32::from(v6.header().payload_length());
            let ip_len = if payload_len == 0 {
                fallback_len.max(40)
            } else {
                payload_len + 40
            };
            let mut frag = None;
            for ext in v6.extensions().clone() {
                if let etherparse::Ipv6ExtensionSlice::Fragment(f) = ext {
                    let offset = f.fragment_offset().value();
                    let more = f.more_fragments();
                    if more || offset != 0 {
                        frag = Some(Fragment {
                            id: f.identification(),
                            offset,
                            more,
                        });
                    }
                }
            }
            (ip_len, frag)
        }
    };

    let payload = slice.payload();
    // Offset of the transport header within the frame; pointer arithmetic on
    // addresses only (no dereference), since etherparse hands back subslices.
    let l4_offset = base + (payload.payload.as_ptr() as usize).saturating_sub(ip.as_ptr() as usize);
    transport(
        slice.source_addr(),
        slice.destination_addr(),
        payload.ip_number.0,
        ip_len,
        fragment,
        payload.payload,
        l4_offset,
    )
}

/// Reads ports, TCP flags or ICMP type from the IP payload `data`, which
/// starts at `l4_offset` in the frame.
#[inline(always)]
fn transport(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ip_len: u32,
    fragment: Option<Fragment>,
    data: &[u8],
    l4_offset: usize,
) -> Result<Packet, Malformed> {
    let mut pkt = Packet {
        src,
        dst,
        proto,
        src_port: 0,
        dst_port: 0,
        tcp_flags: 0,
        icmp_type: 0,
        icmp_code: 0,
        ip_len,
        fragment,
        has_ports: false,
        app_offset: 0,
        app_len: 0,
    };
    if matches!(fragment, Some(f) if f.offset != 0) {
        return Ok(pkt);
    }
    if ipproto::has_ports(proto) {
        let ports = data.get(0..4).ok_or(Malformed::TransportTruncated)?;
        pkt.src_port = u16::from_be_bytes([ports[0], ports[1]]);
        pkt.dst_port = u16::from_be_bytes([ports[2], ports[3]]);
        pkt.has_ports = true;
        let header_len = match proto {
            ipproto::TCP => {
                pkt.tcp_flags = data.get(13).copied().unwrap_or(0);
                data.get(12).map_or(20, |b| usize::from(b >> 4) * 4).max(20)
            }
            ipproto::UDP | ipproto::UDPLITE => 8,
            _ => data.len(),
        };
        let app_len = data.len().saturating_sub(header_len);
        pkt.app_offset = (l4_offset + header_len.min(data.len())) as u32;
        pkt.app_len = app_len as u32;
    } else if proto == ipproto::ICMP || proto == ipproto::ICMPV6 {
        pkt.icmp_type = data.first().copied().unwrap_or(0);
        pkt.icmp_code = data.get(1).copied().unwrap_or(0);
    }
    Ok(pkt)
}

#[cfg(test)]
mod tests;
