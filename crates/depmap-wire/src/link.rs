//! The link-layer front end: everything between the start of a captured
//! frame and its IP header.
//!
//! etherparse handles plain Ethernet II with up to two VLAN tags, but not the
//! encapsulations seen on real networks and in our test captures: Linux cooked
//! capture v1/v2, BSD NULL/LOOP, MPLS label stacks, PPPoE sessions, and
//! arbitrarily deep 802.1Q/802.1ad stacks. This module peels those layers
//! itself (a few bounds-checked reads each) and hands the remaining IP bytes
//! to etherparse.

use crate::{Malformed, NonIp};

/// The link type of a capture interface (the pcap `LINKTYPE_*` number).
///
/// Only the variants below are decoded; every other link type is kept as
/// [`LinkType::Other`] and its packets count as
/// [`Malformed::UnsupportedLinkType`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// `LINKTYPE_NULL` (0): a 4-byte address family in the capturing host's byte order.
    Null,
    /// `LINKTYPE_ETHERNET` (1).
    Ethernet,
    /// `LINKTYPE_RAW` (101, and the historical 12/14): an IPv4 or IPv6 header first.
    Raw,
    /// `LINKTYPE_LOOP` (108): like NULL, but the family is big-endian.
    Loop,
    /// `LINKTYPE_LINUX_SLL` (113): Linux cooked capture v1.
    LinuxSll,
    /// `LINKTYPE_IPV4` (228).
    Ipv4,
    /// `LINKTYPE_IPV6` (229).
    Ipv6,
    /// `LINKTYPE_LINUX_SLL2` (276): Linux cooked capture v2.
    LinuxSll2,
    /// Any other link type, kept so it can be reported.
    Other(u32),
}

impl LinkType {
    /// Maps a pcap/pcapng `LINKTYPE_*` number to a [`LinkType`].
    pub fn from_linktype(value: u32) -> LinkType {
        match value {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }

    /// The pcap `LINKTYPE_*` number of this link type.
    pub fn linktype(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(v) => v,
        }
    }
}

/// How many encapsulation headers (VLAN tags, MPLS labels, PPPoE, pseudowire
/// Ethernet) one frame may stack before it is called malformed. Real networks
/// use a handful; the bound stops a crafted frame of thousands of tags from
/// costing more than a constant amount of work.
pub const MAX_ENCAPSULATION_DEPTH: usize = 32;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD1: u16 = 0x9100;
const ETHERTYPE_QINQ_OLD2: u16 = 0x9200;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_MPLS_UC: u16 = 0x8847;
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
const ETHERTYPE_PPPOE_DISC: u16 = 0x8863;
const ETHERTYPE_PPPOE_SESS: u16 = 0x8864;

/// Where the IP header starts inside a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpStart {
    /// Byte offset of the IP header within the frame.
    pub offset: usize,
}

#[inline]
fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Finds the IP header inside `frame`, or says why there is none.
pub(crate) fn find_ip(link: LinkType, frame: &[u8]) -> Result<Result<IpStart, NonIp>, Malformed> {
    match link {
        LinkType::Ethernet => ethernet(frame, 0, 0),
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => by_version(frame, 0),
        LinkType::Null | LinkType::Loop => {
            let fam = frame.get(0..4).ok_or(Malformed::LinkTruncated)?;
            let le = u32::from_le_bytes([fam[0], fam[1], fam[2], fam[3]]);
            let be = u32::from_be_bytes([fam[0], fam[1], fam[2], fam[3]]);
            // AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24 (NetBSD,
            // OpenBSD), 28 (FreeBSD, DragonFly), 30 (macOS). The capturing
            // host's byte order is unknown for NULL, so accept either.
            let known = |f: u32| matches!(f, 2 | 10 | 24 | 28 | 30);
            if known(le) || known(be) {
                by_version(frame, 4)
            } else {
                Ok(Err(NonIp::OtherLinkProtocol))
            }
        }
        LinkType::LinuxSll => {
            // packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
            let proto = be16(frame, 14).ok_or(Malformed::LinkTruncated)?;
            ethertype(frame, 16, proto, 0)
        }
        LinkType::LinuxSll2 => {
            // protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1)
            // address length(1) address(8)
            if frame.len() < 20 {
                return Err(Malformed::LinkTruncated);
            }
            let proto = be16(frame, 0).ok_or(Malformed::LinkTruncated)?;
            ethertype(frame, 20, proto, 0)
        }
        LinkType::Other(_) => Err(Malformed::UnsupportedLinkType),
    }
}

fn by_version(frame: &[u8], at: usize) -> Result<Result<IpStart, NonIp>, Malformed> {
    match frame.get(at).map(|b| b >> 4) {
        Some(4) | Some(6) => Ok(Ok(IpStart { offset: at })),
        Some(_) => Err(Malformed::BadIpVersion),
        None => Err(Malformed::LinkTruncated),
    }
}

fn ethernet(frame: &[u8], at: usize, depth: usize) -> Result<Result<IpStart, NonIp>, Malformed> {
    let ty = be16(frame, at + 12).ok_or(Malformed::LinkTruncated)?;
    if ty <= 1500 {
        // An 802.3 length field: LLC/SNAP (CDP, STP, ...), not IP over Ethernet II.
        return Ok(Err(NonIp::Llc));
    }
    ethertype(frame, at + 14, ty, depth)
}

/// Follows a chain of EtherTypes starting with `ty`, whose payload begins at `at`.
fn ethertype(
    frame: &[u8],
    mut at: usize,
    mut ty: u16,
    mut depth: usize,
) -> Result<Result<IpStart, NonIp>, Malformed> {
    loop {
        depth += 1;
        if depth > MAX_ENCAPSULATION_DEPTH {
            return Err(Malformed::TooManyEncapsulations);
        }
        match ty {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => {
                if at >= frame.len() {
                    return Err(Malformed::LinkTruncated);
                }
                return Ok(Ok(IpStart { offset: at }));
            }
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD1 | ETHERTYPE_QINQ_OLD2 => {
                // TCI(2) then the inner EtherType(2).
                ty = be16(frame, at + 2).ok_or(Malformed::VlanTruncated)?;
                at += 4;
                if ty <= 1500 {
                    return Ok(Err(NonIp::Llc));
                }
            }
            ETHERTYPE_MPLS_UC | ETHERTYPE_MPLS_MC => {
                // Label stack entries of 4 bytes until the bottom-of-stack bit.
                loop {
                    let entry = frame.get(at..at + 4).ok_or(Malformed::MplsTruncated)?;
                    at += 4;
                    depth += 1;
                    if depth > MAX_ENCAPSULATION_DEPTH {
                        return Err(Malformed::TooManyEncapsulations);
                    }
                    if entry[2] & 0x01 != 0 {
                        break;
                    }
                }
                // MPLS does not say what it carries; the first nibble does:
                // 4/6 is IP, 0 is a pseudowire control word before Ethernet.
                match frame.get(at).map(|b| b >> 4) {
                    Some(4) | Some(6) => return Ok(Ok(IpStart { offset: at })),
                    Some(0) => return ethernet(frame, at + 4, depth),
                    Some(_) => return Ok(Err(NonIp::OtherMplsPayload)),
                    None => return Err(Malformed::MplsTruncated),
                }
            }
            ETHERTYPE_PPPOE_SESS => {
                // ver/type(1) code(1) session(2) length(2), then PPP protocol.
                let first = *frame.get(at + 6).ok_or(Malformed::PppoeTruncated)?;
                let (proto, len) = if first & 0x01 != 0 {
                    // Protocol-field compression: a one-byte protocol.
                    (u16::from(first), 1)
                } else {
                    (be16(frame, at + 6).ok_or(Malformed::PppoeTruncated)?, 2)
                };
                at += 6 + len;
                match proto {
                    0x0021 => ty = ETHERTYPE_IPV4,
                    0x0057 => ty = ETHERTYPE_IPV6,
                    _ => return Ok(Err(NonIp::PppControl)),
                }
            }
            ETHERTYPE_PPPOE_DISC => return Ok(Err(NonIp::PppoeDiscovery)),
            ETHERTYPE_ARP => return Ok(Err(NonIp::Arp)),
            _ => return Ok(Err(NonIp::OtherLinkProtocol)),
        }
    }
}
