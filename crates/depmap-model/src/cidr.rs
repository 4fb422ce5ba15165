//! [`Cidr`]: an IP network on `ipnet`, with depmap's parsing rules and
//! messages.

use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// An IPv4 or IPv6 network: an address and a prefix length, with no bits
/// set beyond the prefix. A single address is a `/32` or `/128`.
///
/// Two ways in, for two kinds of callers:
/// - [`FromStr`] is strict: `10.0.0.5/24` is refused
///   ([`CidrError::HostBitsSet`], whose message names the network meant).
///   Inventories, policy drafts and scopes use it, where a stray host bit is
///   a typo worth reporting.
/// - [`Cidr::parse_masked`] drops host bits (`10.0.0.5/24` is
///   `10.0.0.0/24`) and reads IPv4-mapped IPv6 addresses as IPv4: the rule
///   of exporter allow-lists and `--client`, where any address of the
///   network says which network is meant.
///
/// [`Display`](fmt::Display) writes a single address without its prefix
/// (`10.0.0.1`) and a network with it (`10.0.0.0/24`);
/// [`Cidr::with_prefix`] always writes the prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr(IpNet);

/// Why a string is not a [`Cidr`].
///
/// `Display` names the text and says what is wrong with it;
/// [`CidrError::reason`] says only what is wrong, for callers that name the
/// text themselves (`inventory.toml:2: key address "10.0.0.5/24": ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CidrError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    BadAddress {
        /// The part before `/`.
        text: String,
    },
    /// The part after `/` is not a number from 0 to 32 (IPv4) or 128 (IPv6).
    BadPrefix {
        /// The whole text.
        text: String,
        /// The longest prefix the address family allows.
        max: u8,
    },
    /// Bits beyond the prefix are set (`10.0.0.5/24`).
    HostBitsSet {
        /// The whole text.
        text: String,
        /// The network the prefix describes (`10.0.0.0/24`).
        network: Cidr,
    },
}

impl CidrError {
    /// What is wrong, without the text (see the type's docs).
    pub fn reason(&self) -> impl fmt::Display + '_ {
        Reason(self)
    }
}

struct Reason<'a>(&'a CidrError);

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            CidrError::BadAddress { .. } => write!(f, "not an IPv4 or IPv6 address"),
            CidrError::BadPrefix { max, .. } => {
                write!(f, "the prefix length must be a number from 0 to {max}")
            }
            CidrError::HostBitsSet { network, .. } => write!(
                f,
                "bits beyond the prefix are set; the network is {network}, or drop the prefix \
                 for a single address"
            ),
        }
    }
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::BadAddress { text } => write!(
                f,
                "{text:?} is not an IPv4 or IPv6 address (expected ADDR or ADDR/PREFIX, e.g. \
                 192.0.2.0/24)"
            ),
            CidrError::BadPrefix { text, max } => {
                write!(f, "{text:?}: the prefix length must be 0 to {max}")
            }
            CidrError::HostBitsSet { text, .. } => write!(f, "{text:?}: {}", self.reason()),
        }
    }
}

impl std::error::Error for CidrError {}

impl Cidr {
    /// The network `addr/prefix`; `None` when the prefix is too long for
    /// the family or host bits are set.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let net = IpNet::new(addr, prefix).ok()?;
        (net.trunc() == net).then_some(Cidr(net))
    }

    /// A single address (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr(IpNet::from(addr))
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.0.addr()
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.0.prefix_len()
    }

    /// Whether this is a single address.
    pub fn is_host(&self) -> bool {
        self.0.prefix_len() == self.0.max_prefix_len()
    }

    /// The network as an `ipnet` value.
    pub fn to_ipnet(self) -> IpNet {
        self.0
    }

    /// `10.0.0.1/32`, `10.0.0.0/24`: the prefix length always, as
    /// iptables, security groups and cluster CIDR fields write it.
    pub fn with_prefix(&self) -> String {
        self.0.to_string()
    }

    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`, what a dual-stack socket reports for IPv4 senders)
    /// count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }

    /// Parses `ADDR` or `ADDR/PREFIX`, dropping host bits (`10.0.0.5/24` is
    /// `10.0.0.0/24`) and reading IPv4-mapped IPv6 addresses as IPv4 (the
    /// prefix then counts in IPv4 bits): the allow-list rule. Errors are
    /// [`CidrError::BadAddress`] and [`CidrError::BadPrefix`].
    pub fn parse_masked(s: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = split(s)?;
        let addr = addr.to_canonical();
        let prefix = check_prefix(s, addr, prefix)?;
        let net = IpNet::new(addr, prefix).map_err(|_| bad_prefix(s, addr))?;
        Ok(Cidr(net.trunc()))
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn bad_prefix(s: &str, addr: IpAddr) -> CidrError {
    CidrError::BadPrefix {
        text: s.to_string(),
        max: max_prefix(addr),
    }
}

/// The address and the prefix text of `ADDR[/PREFIX]`.
fn split(s: &str) -> Result<(IpAddr, Option<&str>), CidrError> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr = IpAddr::from_str(a).map_err(|_| CidrError::BadAddress {
        text: a.to_string(),
    })?;
    Ok((addr, p))
}

/// The prefix length: the family's longest when absent; decimal digits
/// only (no sign) up to the family's longest otherwise.
fn check_prefix(s: &str, addr: IpAddr, prefix: Option<&str>) -> Result<u8, CidrError> {
    let max = max_prefix(addr);
    let Some(p) = prefix else { return Ok(max) };
    p.parse::<u8>()
        .ok()
        .filter(|n| *n <= max && !p.starts_with('+'))
        .ok_or_else(|| bad_prefix(s, addr))
}

impl PartialOrd for Cidr {
    fn partial_cmp(&self, other: &Cidr) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cidr {
    /// By address (IPv4 before IPv6), then prefix length.
    fn cmp(&self, other: &Cidr) -> Ordering {
        (self.addr(), self.prefix()).cmp(&(other.addr(), other.prefix()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `10.0.0.0/8`, `fd00::/64`, or a single address (`10.0.0.1`,
    /// `fd00::1`); bits beyond the prefix are an error.
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = split(s)?;
        let prefix = check_prefix(s, addr, prefix)?;
        let net = IpNet::new(addr, prefix).map_err(|_| bad_prefix(s, addr))?;
        if net.trunc() != net {
            return Err(CidrError::HostBitsSet {
                text: s.to_string(),
                network: Cidr(net.trunc()),
            });
        }
        Ok(Cidr(net))
    }
}

impl From<Cidr> for IpNet {
    fn from(c: Cidr) -> IpNet {
        c.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_say_what_is_wrong() {
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!("10.0.0.1".parse::<Cidr>().unwrap().prefix(), 32);
        assert_eq!("fd00::1".parse::<Cidr>().unwrap().prefix(), 128);
        assert_eq!(
            "fd00::/64".parse::<Cidr>().unwrap().to_string(),
            "fd00::/64"
        );
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().prefix(), 0);
        assert_eq!(
            "10.0.0.1/32".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.1"
        );
        assert_eq!(
            "10.0.0.x/8".parse::<Cidr>(),
            Err(CidrError::BadAddress {
                text: "10.0.0.x".to_string()
            })
        );
        assert!(matches!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::BadPrefix { max: 32, .. })
        ));
        assert!(matches!(
            "fd00::/129".parse::<Cidr>(),
            Err(CidrError::BadPrefix { max: 128, .. })
        ));
        assert!(matches!(
            "10.0.0.0/+8".parse::<Cidr>(),
            Err(CidrError::BadPrefix { max: 32, .. })
        ));
        let Err(CidrError::HostBitsSet { network, .. }) = "10.1.2.3/16".parse::<Cidr>() else {
            panic!("host bits")
        };
        assert_eq!(network.to_string(), "10.1.0.0/16");
        assert!(Cidr::new(ip("10.1.0.0"), 16).is_some());
        assert!(Cidr::new(ip("10.1.2.0"), 16).is_none());
        assert!(Cidr::new(ip("10.1.2.0"), 40).is_none());
    }

    #[test]
    fn messages_name_the_text_and_reasons_do_not() {
        let e = "nope/8".parse::<Cidr>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"nope\" is not an IPv4 or IPv6 address (expected ADDR or ADDR/PREFIX, e.g. \
             192.0.2.0/24)"
        );
        assert_eq!(e.reason().to_string(), "not an IPv4 or IPv6 address");
        let e = "10.0.0.0/33".parse::<Cidr>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"10.0.0.0/33\": the prefix length must be 0 to 32"
        );
        assert_eq!(
            e.reason().to_string(),
            "the prefix length must be a number from 0 to 32"
        );
        let e = "10.0.0.5/24".parse::<Cidr>().unwrap_err();
        assert_eq!(
            e.reason().to_string(),
            "bits beyond the prefix are set; the network is 10.0.0.0/24, or drop the prefix \
             for a single address"
        );
        assert!(e.to_string().starts_with("\"10.0.0.5/24\": bits beyond"));
    }

    #[test]
    fn contains_handles_both_families_and_mapped_addresses() {
        let net: Cidr = "10.10.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.10.200.1")));
        assert!(net.contains(ip("::ffff:10.10.0.1")));
        assert!(!net.contains(ip("10.11.0.1")));
        assert!(!net.contains(ip("fd00::1")));
        let all: Cidr = "::/0".parse().unwrap();
        assert!(all.contains(ip("2001:db8::1")));
        assert!(!all.contains(ip("10.0.0.1")));
    }

    /// The allow-list rule (moved from `depmap-capture`'s `udp.rs`).
    #[test]
    fn masked_cidrs_parse_and_match() {
        let c = Cidr::parse_masked("192.0.2.0/24").unwrap();
        assert!(c.contains(ip("192.0.2.77")));
        assert!(c.contains(ip("::ffff:192.0.2.1")));
        assert!(!c.contains(ip("192.0.3.1")));
        assert!(!c.contains(ip("2001:db8::1")));
        let host = Cidr::parse_masked("127.0.0.2").unwrap();
        assert_eq!(host.with_prefix(), "127.0.0.2/32");
        assert!(!host.contains(ip("127.0.0.1")));
        let all = Cidr::parse_masked("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let v6 = Cidr::parse_masked("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(matches!(
            Cidr::parse_masked("10.0.0.0/33"),
            Err(CidrError::BadPrefix { max: 32, .. })
        ));
        assert!(matches!(
            Cidr::parse_masked("nope/8"),
            Err(CidrError::BadAddress { .. })
        ));
        // Host bits are dropped, mapped addresses read as IPv4.
        let c = Cidr::parse_masked("192.0.2.77/24").unwrap();
        assert_eq!(c.with_prefix(), "192.0.2.0/24");
        assert!(c.contains(ip("192.0.2.1")));
        let m = Cidr::parse_masked("::ffff:192.0.2.1").unwrap();
        assert_eq!(m.with_prefix(), "192.0.2.1/32");
        assert!(matches!(
            Cidr::parse_masked("::ffff:192.0.2.0/120"),
            Err(CidrError::BadPrefix { max: 32, .. })
        ));
    }

    #[test]
    fn order_is_address_then_prefix() {
        let mut v: Vec<Cidr> = ["fd00::/64", "10.0.0.0/8", "10.0.0.0/24", "9.0.0.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        v.sort();
        let s: Vec<String> = v.iter().map(Cidr::to_string).collect();
        assert_eq!(s, ["9.0.0.1", "10.0.0.0/8", "10.0.0.0/24", "fd00::/64"]);
    }
}
