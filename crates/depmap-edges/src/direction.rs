//! Which side of a flow is the client.
//!
//! The rule, strongest evidence first (also in `docs/EDGES.md`):
//!
//! 1. **Handshake.** The sender of a TCP SYN without ACK is the client; failing
//!    that, the receiver of a SYN+ACK.
//! 2. **ICMP echo.** The sender of an echo request (ICMP 8, ICMPv6 128) is the
//!    client; the sender of an echo reply (0, 129) is the server.
//! 3. **Known listener.** An address and port that was the server side of a
//!    handshake seen earlier in the data is a server for flows seen mid-stream.
//! 4. **Equal ports** (NTP 123<->123, 17500<->17500): the first sender is the
//!    client.
//! 5. **Service port.** A port in [`SERVICE_PORTS`] (well-known and
//!    registered server ports: 53, 443, 2049, 3306, ...) is the server's.
//! 6. **Privileged port.** A port below 1024 against one at or above it is
//!    the server's.
//! 7. **Lower port.** Otherwise the lower port is the server's (ephemeral
//!    ranges start at 1024, 32768 or 49152 on every common OS).
//! 8. **First sender.** Protocols without ports: the first sender is the
//!    client.

/// Why a side was chosen as the client. Stable names for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// TCP SYN / SYN+ACK seen.
    Handshake,
    /// ICMP echo request / reply seen.
    IcmpEcho,
    /// The server side was a listener in an earlier handshake.
    KnownListener,
    /// Equal ports: the first sender is the client.
    EqualPorts,
    /// One port is a known service port.
    ServicePort,
    /// One port is below 1024.
    PrivilegedPort,
    /// The lower port is the server's.
    LowerPort,
    /// No ports: the first sender is the client.
    FirstSender,
}

impl Rule {
    /// A short stable name.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Handshake => "handshake",
            Rule::IcmpEcho => "icmp-echo",
            Rule::KnownListener => "known-listener",
            Rule::EqualPorts => "equal-ports",
            Rule::ServicePort => "service-port",
            Rule::PrivilegedPort => "privileged-port",
            Rule::LowerPort => "lower-port",
            Rule::FirstSender => "first-sender",
        }
    }
}

/// Server ports depmap recognises regardless of their number, sorted so
/// lookups can binary-search. Deliberately excludes ports that are the
/// *client's* in their protocol (DHCP 68, DHCPv6 546).
pub const SERVICE_PORTS: &[u16] = &[
    7, 20, 21, 22, 23, 25, 37, 42, 43, 49, 53, 67, 69, 79, 80, 88, 110, 111, 113, 119, 123, 135,
    137, 138, 139, 143, 161, 162, 179, 389, 427, 443, 445, 464, 465, 500, 513, 514, 515, 520, 543,
    544, 547, 548, 554, 587, 631, 636, 646, 853, 873, 902, 989, 990, 993, 995, 1080, 1194, 1433,
    1434, 1521, 1701, 1723, 1812, 1813, 1883, 1900, 2049, 2055, 2181, 2375, 2376, 2379, 2380, 3260,
    3268, 3269, 3306, 3389, 3478, 4369, 4500, 4739, 4789, 5000, 5060, 5061, 5222, 5353, 5355, 5432,
    5601, 5671, 5672, 5900, 5984, 5985, 5986, 6343, 6379, 6443, 6514, 6881, 7000, 7001, 7199, 8000,
    8008, 8080, 8081, 8086, 8088, 8443, 8500, 8883, 8888, 9000, 9042, 9090, 9091, 9092, 9093, 9100,
    9200, 9300, 9418, 9443, 9990, 9995, 9996, 10250, 11211, 15672, 17500, 27017, 50000,
];

/// Whether `port` is in [`SERVICE_PORTS`].
pub fn is_service_port(port: u16) -> bool {
    SERVICE_PORTS.binary_search(&port).is_ok()
}

/// Direction of a packet within a flow: from side A to side B, or back.
pub type Dir = u8;
/// A to B.
pub const A_TO_B: Dir = 0;
/// B to A.
pub const B_TO_A: Dir = 1;
/// Not seen.
pub const NONE: Dir = 2;

/// What the flow table knows about a flow when it decides its direction.
#[derive(Clone, Copy, Debug)]
pub struct DirectionEvidence {
    /// Port of side A (0 if none).
    pub a_port: u16,
    /// Port of side B (0 if none).
    pub b_port: u16,
    /// Whether the protocol has ports.
    pub has_ports: bool,
    /// Direction of the first packet.
    pub first_dir: Dir,
    /// Direction of the first SYN without ACK, or [`NONE`].
    pub syn_dir: Dir,
    /// Direction of the first SYN+ACK, or [`NONE`].
    pub synack_dir: Dir,
    /// Direction of the first ICMP echo request, or [`NONE`].
    pub echo_request_dir: Dir,
    /// Direction of the first ICMP echo reply, or [`NONE`].
    pub echo_reply_dir: Dir,
    /// Side A's address and port were a server in an earlier handshake.
    pub a_listens: bool,
    /// Side B's address and port were a server in an earlier handshake.
    pub b_listens: bool,
}

/// Returns the direction in which the client sends (A_TO_B means A is the
/// client) and the rule that decided it.
pub fn client_direction(e: &DirectionEvidence) -> (Dir, Rule) {
    if e.syn_dir != NONE {
        return (e.syn_dir, Rule::Handshake);
    }
    if e.synack_dir != NONE {
        return (1 - e.synack_dir, Rule::Handshake);
    }
    if e.echo_request_dir != NONE {
        return (e.echo_request_dir, Rule::IcmpEcho);
    }
    if e.echo_reply_dir != NONE {
        return (1 - e.echo_reply_dir, Rule::IcmpEcho);
    }
    let first = if e.first_dir == NONE {
        A_TO_B
    } else {
        e.first_dir
    };
    if !e.has_ports {
        return (first, Rule::FirstSender);
    }
    match (e.a_listens, e.b_listens) {
        (true, false) => return (B_TO_A, Rule::KnownListener),
        (false, true) => return (A_TO_B, Rule::KnownListener),
        _ => {}
    }
    let (a, b) = (e.a_port, e.b_port);
    if a == b {
        return (first, Rule::EqualPorts);
    }
    // "B is the server" means A is the client, so A sends A_TO_B.
    let b_server = |rule| (A_TO_B, rule);
    let a_server = |rule| (B_TO_A, rule);
    match (is_service_port(a), is_service_port(b)) {
        (true, false) => return a_server(Rule::ServicePort),
        (false, true) => return b_server(Rule::ServicePort),
        _ => {}
    }
    match (a < 1024, b < 1024) {
        (true, false) => return a_server(Rule::PrivilegedPort),
        (false, true) => return b_server(Rule::PrivilegedPort),
        _ => {}
    }
    if a < b {
        a_server(Rule::LowerPort)
    } else {
        b_server(Rule::LowerPort)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(a_port: u16, b_port: u16) -> DirectionEvidence {
        DirectionEvidence {
            a_port,
            b_port,
            has_ports: true,
            first_dir: A_TO_B,
            syn_dir: NONE,
            synack_dir: NONE,
            echo_request_dir: NONE,
            echo_reply_dir: NONE,
            a_listens: false,
            b_listens: false,
        }
    }

    #[test]
    fn service_ports_are_sorted() {
        assert!(SERVICE_PORTS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn handshake_beats_everything() {
        // A SYN from the side with port 80 to port 50000: A is the client.
        let mut e = ev(80, 50000);
        e.syn_dir = A_TO_B;
        assert_eq!(client_direction(&e), (A_TO_B, Rule::Handshake));
        let mut e = ev(50000, 80);
        e.synack_dir = A_TO_B;
        assert_eq!(client_direction(&e), (B_TO_A, Rule::Handshake));
    }

    #[test]
    fn icmp_echo() {
        let mut e = ev(0, 0);
        e.has_ports = false;
        e.first_dir = B_TO_A;
        e.echo_reply_dir = B_TO_A;
        assert_eq!(client_direction(&e), (A_TO_B, Rule::IcmpEcho));
        e.echo_reply_dir = NONE;
        assert_eq!(client_direction(&e), (B_TO_A, Rule::FirstSender));
    }

    #[test]
    fn known_listener_beats_port_heuristics() {
        let mut e = ev(443, 40000);
        e.b_listens = true;
        assert_eq!(client_direction(&e), (A_TO_B, Rule::KnownListener));
    }

    #[test]
    fn equal_ports_first_sender() {
        let mut e = ev(123, 123);
        e.first_dir = B_TO_A;
        assert_eq!(client_direction(&e), (B_TO_A, Rule::EqualPorts));
    }

    #[test]
    fn service_port_cases() {
        // NFS from a privileged client port: 2049 is the server.
        assert_eq!(
            client_direction(&ev(789, 2049)),
            (A_TO_B, Rule::ServicePort)
        );
        // DNS response seen alone: the side on 53 is the server.
        let mut e = ev(53, 18741);
        e.first_dir = A_TO_B;
        assert_eq!(client_direction(&e), (B_TO_A, Rule::ServicePort));
        // DHCP: 67 serves, 68 is the client's port.
        assert_eq!(client_direction(&ev(68, 67)), (A_TO_B, Rule::ServicePort));
        // MySQL mid-stream.
        assert_eq!(
            client_direction(&ev(3306, 51234)),
            (B_TO_A, Rule::ServicePort)
        );
    }

    #[test]
    fn privileged_and_lower_port() {
        assert_eq!(
            client_direction(&ev(40001, 999)),
            (A_TO_B, Rule::PrivilegedPort)
        );
        assert_eq!(
            client_direction(&ev(6000, 45000)),
            (B_TO_A, Rule::LowerPort)
        );
        assert_eq!(
            client_direction(&ev(45000, 6000)),
            (A_TO_B, Rule::LowerPort)
        );
    }
}
