//! The application protocols a service speaks ([`App`]) and the names the
//! scenario's DNS server answers ([`DnsName`]): shared by the scenario
//! (`scenario.rs`, which says who talks to whom) and the conversation
//! scripts (`apps.rs`, which say what goes on the wire).

use std::net::IpAddr;

use crate::conv::Transport;

/// A name the scenario's DNS server answers: `name` (through `cname`, if
/// set, as a CNAME chain) resolves to `addr` (an A or AAAA record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsName {
    /// The name queried.
    pub name: &'static str,
    /// The canonical name it is an alias of, if any.
    pub cname: Option<&'static str>,
    /// The address it resolves to.
    pub addr: IpAddr,
}

/// An application protocol: what one conversation of a service looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum App {
    /// HTTPS: a TLS 1.3 ClientHello carrying `sni` in its server_name
    /// extension, the server's handshake, then 1-2 request/response
    /// exchanges of application data.
    Tls {
        /// The server name sent in the ClientHello.
        sni: &'static str,
    },
    /// HTTP/1.1: 1-3 `GET` requests with `Host: <host>` on one keep-alive
    /// connection, each answered with a JSON body.
    Http {
        /// The `Host:` header value.
        host: &'static str,
    },
    /// A Prometheus scrape: `GET /metrics` with `Host: <server>:<port>`.
    Metrics,
    /// DNS over UDP: one query for one of `names` and the answer from the
    /// scenario's zone (NXDOMAIN for names not in it).
    Dns {
        /// The names queried (repeat a name to weight it).
        names: &'static [&'static str],
    },
    /// NTPv4 over UDP: a client request and the server's reply.
    Ntp,
    /// ICMP or ICMPv6 echo: 1-2 request/reply pairs a second apart.
    Ping,
    /// PostgreSQL: startup and authentication, then 1-3 simple queries.
    Postgres,
    /// Redis: 1-4 `GET` commands.
    Redis,
    /// LDAP: bind, one search, unbind.
    Ldap,
    /// SSH: banners, key exchange, authentication, then about `bytes`
    /// bytes from the server (a backup pulling data).
    Ssh {
        /// Bytes the server sends after authentication (varied by +-30%).
        bytes: u32,
    },
    /// SMTP: one message of 20-45 KB sent with pipelining.
    Smtp,
    /// FTP: the control connection of a login (no data connections).
    Ftp,
}

impl App {
    /// The IP protocol number it runs over (6, 17, 1 or 58). `Ping` is ICMP
    /// or ICMPv6 by `v6`.
    pub fn proto(self, v6: bool) -> u8 {
        match self.transport() {
            Transport::Tcp => 6,
            Transport::Udp => 17,
            Transport::Icmp if v6 => 58,
            Transport::Icmp => 1,
        }
    }

    /// The transport it runs over.
    pub(crate) fn transport(self) -> Transport {
        match self {
            App::Dns { .. } | App::Ntp => Transport::Udp,
            App::Ping => Transport::Icmp,
            _ => Transport::Tcp,
        }
    }
}
