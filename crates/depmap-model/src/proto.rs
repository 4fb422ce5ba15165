//! [`Proto`]: an IP protocol number and the one table of the names depmap
//! writes for it.

use std::fmt;
use std::str::FromStr;

/// An IP protocol number (the IPv4 protocol field, the IPv6 next header).
///
/// Its text form ([`Display`](fmt::Display), [`Proto::name`]) is the
/// lower-case name depmap writes in exports and drafts (`tcp`, `udp`,
/// `icmpv6`, ...) or, for protocols without a short name, the number
/// (`253`). [`FromStr`] reads exactly that form back: `tcp` and `253`
/// parse, `6` and `TCP` do not, so every protocol has one spelling.
///
/// `depmap_wire::ipproto` keeps plain `u8` constants for the per-packet
/// path; the names live only here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Proto(pub u8);

/// The protocols with a short name, by number. The one table of names.
const NAMES: &[(u8, &str)] = &[
    (1, "icmp"),
    (2, "igmp"),
    (4, "ipip"),
    (6, "tcp"),
    (17, "udp"),
    (33, "dccp"),
    (41, "ipv6"),
    (47, "gre"),
    (50, "esp"),
    (51, "ah"),
    (58, "icmpv6"),
    (89, "ospf"),
    (103, "pim"),
    (112, "vrrp"),
    (132, "sctp"),
    (136, "udplite"),
];

impl Proto {
    /// ICMP.
    pub const ICMP: Proto = Proto(1);
    /// TCP.
    pub const TCP: Proto = Proto(6);
    /// UDP.
    pub const UDP: Proto = Proto(17);
    /// DCCP.
    pub const DCCP: Proto = Proto(33);
    /// ICMPv6.
    pub const ICMPV6: Proto = Proto(58);
    /// SCTP.
    pub const SCTP: Proto = Proto(132);
    /// UDP-Lite.
    pub const UDPLITE: Proto = Proto(136);

    /// The protocol with this number.
    pub const fn new(number: u8) -> Proto {
        Proto(number)
    }

    /// The protocol number.
    pub const fn number(self) -> u8 {
        self.0
    }

    /// The short name (`tcp`, `icmpv6`, ...), or `None` for protocols
    /// written as their number.
    pub fn name(self) -> Option<&'static str> {
        NAMES
            .iter()
            .find(|(n, _)| *n == self.0)
            .map(|(_, name)| *name)
    }

    /// Whether packets of this protocol carry source and destination ports
    /// in their first four bytes (TCP, UDP, DCCP, SCTP, UDP-Lite).
    pub fn has_ports(self) -> bool {
        matches!(
            self,
            Proto::TCP | Proto::UDP | Proto::DCCP | Proto::SCTP | Proto::UDPLITE
        )
    }
}

impl From<u8> for Proto {
    fn from(n: u8) -> Proto {
        Proto(n)
    }
}

impl From<Proto> for u8 {
    fn from(p: Proto) -> u8 {
        p.0
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A text that is not a protocol's name or the number of one without a
/// name (see [`Proto`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoError {
    /// The text.
    pub text: String,
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a protocol depmap names (tcp, udp, icmp, ... or a number)",
            self.text
        )
    }
}

impl std::error::Error for ProtoError {}

impl FromStr for Proto {
    type Err = ProtoError;

    /// A name from the table, or the number of a protocol without one.
    fn from_str(s: &str) -> Result<Proto, ProtoError> {
        if let Some((n, _)) = NAMES.iter().find(|(_, name)| *name == s) {
            return Ok(Proto(*n));
        }
        s.parse::<u8>()
            .ok()
            .map(Proto)
            .filter(|p| p.name().is_none() && p.0.to_string() == s)
            .ok_or_else(|| ProtoError {
                text: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_and_numbers_round_trip_for_every_protocol() {
        for n in 0..=255u8 {
            let p = Proto(n);
            assert_eq!(p.to_string().parse::<Proto>(), Ok(p), "{n}");
        }
        assert_eq!(Proto::TCP.to_string(), "tcp");
        assert_eq!(Proto(47).to_string(), "gre");
        assert_eq!(Proto(253).to_string(), "253");
        assert_eq!(Proto(253).name(), None);
    }

    /// What the policy renderers' reverse lookup accepted (moved from
    /// `depmap-policy`'s `render/mod.rs`).
    #[test]
    fn parse_takes_one_spelling() {
        assert_eq!("tcp".parse(), Ok(Proto(6)));
        assert_eq!("icmpv6".parse(), Ok(Proto(58)));
        assert_eq!("253".parse(), Ok(Proto(253)));
        assert!("tcpx".parse::<Proto>().is_err());
        assert!("6".parse::<Proto>().is_err());
        assert!("TCP".parse::<Proto>().is_err());
        assert!("0253".parse::<Proto>().is_err());
        assert!("+253".parse::<Proto>().is_err());
        assert_eq!(
            "tcpx".parse::<Proto>().unwrap_err().to_string(),
            "\"tcpx\" is not a protocol depmap names (tcp, udp, icmp, ... or a number)"
        );
    }

    #[test]
    fn the_table_has_one_row_per_number_and_name() {
        for (i, (n, name)) in NAMES.iter().enumerate() {
            for (m, other) in &NAMES[i + 1..] {
                assert!(n < m, "sorted by number, no repeats: {n}");
                assert_ne!(name, other);
            }
        }
        let ports: Vec<u8> = (0..=255u8).filter(|n| Proto(*n).has_ports()).collect();
        assert_eq!(ports, [6, 17, 33, 132, 136]);
    }
}
