//! [`HostKind`]: what kind of address a host has, for maps that draw hosts
//! no inventory names.

use std::net::IpAddr;

use serde::Serialize;

/// How a host is classified for grouping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    /// Private, loopback, link-local or unique-local addresses.
    Internal,
    /// Multicast, broadcast and unspecified addresses.
    Multicast,
    /// Everything else: public addresses.
    External,
}

/// Classifies an address.
pub fn host_kind(ip: IpAddr) -> HostKind {
    match ip {
        IpAddr::V4(v4) => {
            if v4.is_multicast() || v4.is_broadcast() || v4.is_unspecified() {
                HostKind::Multicast
            } else if v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
            {
                HostKind::Internal
            } else {
                HostKind::External
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_multicast() || v6.is_unspecified() {
                HostKind::Multicast
            } else if v6.is_loopback() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 {
                HostKind::Internal
            } else if let Some(v4) = v6.to_ipv4_mapped() {
                host_kind(IpAddr::V4(v4))
            } else {
                HostKind::External
            }
        }
    }
}

/// The group (DOT cluster) a host is drawn in: its /24 (IPv4) or /64 (IPv6)
/// for internal hosts, one group for external hosts, one for multicast.
pub fn host_group(ip: IpAddr) -> String {
    match host_kind(ip) {
        HostKind::External => "external".to_string(),
        HostKind::Multicast => "multicast and broadcast".to_string(),
        HostKind::Internal => match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                format!("{}.{}.{}.0/24", o[0], o[1], o[2])
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn host_kinds() {
        let k = |s: &str| host_kind(s.parse().unwrap());
        assert_eq!(k("192.168.1.1"), HostKind::Internal);
        assert_eq!(k("fe80::1"), HostKind::Internal);
        assert_eq!(k("fd00::1"), HostKind::Internal);
        assert_eq!(k("255.255.255.255"), HostKind::Multicast);
        assert_eq!(k("ff02::fb"), HostKind::Multicast);
        assert_eq!(k("2001:4860::1"), HostKind::External);
        assert_eq!(k("203.0.113.10"), HostKind::External);
    }
}
