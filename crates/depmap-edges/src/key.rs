//! A flow's identity, shared by the packet flow table and the flow-record
//! aggregator: both sides in canonical order, addresses as integers.

use std::net::IpAddr;

use crate::direction::{Dir, A_TO_B, B_TO_A};
use crate::model::EdgeKey;

/// An address as a plain integer: IPv6 as is, IPv4 as its IPv4-mapped IPv6
/// form (::ffff:a.b.c.d). Flow keys hash and compare as integers, which is
/// measurably cheaper than `IpAddr`'s enum on the per-packet path; the cost
/// is that a packet from an IPv4-mapped IPv6 address shares its host's
/// IPv4 identity, which is what it is.
///
/// Takes the address by reference and reads only the variant's own bytes:
/// copying a packet's freshly decoded `IpAddr` whole (one wide load over
/// the decoder's narrow stores) stalled every packet on store forwarding.
#[inline(always)]
pub(crate) fn raw(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => 0xffff_0000_0000 | u128::from(u32::from(*v4)),
        IpAddr::V6(v6) => u128::from(*v6),
    }
}

/// The inverse of [`raw`].
pub(crate) fn ip(raw: u128) -> IpAddr {
    let v6 = std::net::Ipv6Addr::from(raw);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// A flow's identity with its two sides in canonical order (A <= B).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FlowKey {
    pub(crate) a: u128,
    pub(crate) b: u128,
    pub(crate) a_port: u16,
    pub(crate) b_port: u16,
    pub(crate) proto: u8,
}

impl FlowKey {
    /// The canonical key of a packet and the packet's direction in it.
    #[inline(always)]
    pub(crate) fn of(
        src: &IpAddr,
        sport: u16,
        dst: &IpAddr,
        dport: u16,
        proto: u8,
    ) -> (FlowKey, Dir) {
        let (s, d) = (raw(src), raw(dst));
        if (s, sport) <= (d, dport) {
            (
                FlowKey {
                    a: s,
                    b: d,
                    a_port: sport,
                    b_port: dport,
                    proto,
                },
                A_TO_B,
            )
        } else {
            (
                FlowKey {
                    a: d,
                    b: s,
                    a_port: dport,
                    b_port: sport,
                    proto,
                },
                B_TO_A,
            )
        }
    }

    /// The edge this flow belongs to, given the direction the client sends
    /// in, as a [`RawEdge`].
    #[inline]
    pub(crate) fn raw_edge(&self, client_dir: Dir) -> RawEdge {
        if client_dir == B_TO_A {
            RawEdge {
                client: self.b,
                server: self.a,
                port: self.a_port,
                proto: self.proto,
            }
        } else {
            RawEdge {
                client: self.a,
                server: self.b,
                port: self.b_port,
                proto: self.proto,
            }
        }
    }

    /// The edge this flow belongs to, given the direction the client sends in.
    pub(crate) fn edge(&self, client_dir: Dir) -> EdgeKey {
        if client_dir == B_TO_A {
            EdgeKey {
                client: ip(self.b),
                server: ip(self.a),
                port: self.a_port,
                proto: self.proto,
            }
        } else {
            EdgeKey {
                client: ip(self.a),
                server: ip(self.b),
                port: self.b_port,
                proto: self.proto,
            }
        }
    }
}

/// An edge with its addresses as integers ([`raw`]): the flow table's key
/// for the edges it aggregates. Hashing and comparing it is a few integer
/// operations, where [`EdgeKey`]'s `IpAddr` enums branch on their variants;
/// it becomes an [`EdgeKey`] when the edges are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RawEdge {
    pub(crate) client: u128,
    pub(crate) server: u128,
    pub(crate) port: u16,
    pub(crate) proto: u8,
}

impl RawEdge {
    /// The edge as an [`EdgeKey`].
    pub(crate) fn key(&self) -> EdgeKey {
        EdgeKey {
            client: ip(self.client),
            server: ip(self.server),
            port: self.port,
            proto: self.proto,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_is_the_ipv4_mapped_form_and_ip_inverts_it() {
        for a in [
            "0.0.0.0",
            "10.1.2.3",
            "255.255.255.255",
            "::",
            "2001:db8::1",
            "::ffff:0:1",
        ] {
            let addr: IpAddr = a.parse().unwrap();
            let expected = match addr {
                IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
                IpAddr::V6(v6) => u128::from(v6),
            };
            assert_eq!(raw(&addr), expected, "{a}");
            let back = ip(raw(&addr));
            // An IPv4-mapped IPv6 address comes back as its IPv4 host.
            assert_eq!(back, addr.to_canonical(), "{a}");
        }
    }
}
