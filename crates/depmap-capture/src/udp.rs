//! UDP listeners for flow exports (NetFlow, IPFIX, sFlow): datagrams in
//! batches, with their source address and receive time, and nothing more.
//!
//! A [`UdpListener`] owns one tokio UDP socket. [`UdpListener::recv_batch`]
//! waits for the first datagram, then takes whatever else the socket holds
//! without waiting, up to a bound, so the caller moves datagrams in batches
//! (one channel operation per batch). Datagrams from sources outside the
//! [`AllowList`] are dropped as they are read and counted
//! ([`ListenerStats::denied`]).
//!
//! **Receive buffer.** [`ListenerConfig::recv_buffer`] asks the kernel for a
//! receive buffer of that size: first with `SO_RCVBUFFORCE` (Linux, which
//! needs `CAP_NET_ADMIN` and ignores `net.core.rmem_max`), else with
//! `SO_RCVBUF` (capped at `net.core.rmem_max`). What the kernel granted is
//! in [`UdpListener::recv_buffer`] (Linux reports double the requested
//! size: half of it is bookkeeping).
//!
//! **Kernel drops.** Datagrams the kernel dropped because the receive buffer
//! was full never reach the socket. On Linux [`UdpListener::kernel_drops`]
//! reads them from the `drops` column of `/proc/net/udp` (or `udp6`) for the
//! socket's inode: no per-datagram cost (unlike `SO_RXQ_OVFL`, which adds a
//! control message to every `recvmsg`), read as often as the caller reports.
//! Elsewhere it is `None`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use depmap_model::Cidr;

/// The largest UDP payload (IPv4: 65,535 - 20 - 8; IPv6 jumbograms aside).
pub const MAX_DATAGRAM: usize = 65_507;

/// The exporters a listener accepts. Empty means every source.
///
/// Build the networks with [`Cidr::parse_masked`]: an exporter's own
/// address with a prefix (`192.0.2.7/24`) means its network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList(pub Vec<Cidr>);

impl AllowList {
    /// Whether datagrams from `ip` are accepted.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|c| c.contains(ip))
    }
}

/// Listener settings.
#[derive(Clone, Debug, Default)]
pub struct ListenerConfig {
    /// Receive buffer to ask the kernel for, in bytes (`None`: the system
    /// default).
    pub recv_buffer: Option<usize>,
    /// Accepted exporters.
    pub allow: AllowList,
}

/// Errors setting up a listener, each naming the address.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UdpError {
    /// The socket could not be bound.
    #[error("cannot listen on {addr}/udp: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A socket option could not be set or read.
    #[error("{addr}/udp: cannot set {option}: {source}")]
    Option {
        /// The address.
        addr: SocketAddr,
        /// The option.
        option: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// A listener's counters, shared with whoever reports them.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Datagrams accepted.
    pub datagrams: AtomicU64,
    /// Bytes of accepted datagrams.
    pub bytes: AtomicU64,
    /// Datagrams dropped because their source is not in the allow-list.
    pub denied: AtomicU64,
    /// Receive errors (other than "would block").
    pub errors: AtomicU64,
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl ListenerStats {
    /// A counter's current value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Every counter's current value, with the socket's kernel drops as
    /// `drops` reads them (`None`: no reader, or unreadable).
    pub fn load(&self, drops: Option<&KernelDrops>) -> ListenerCounts {
        let get = ListenerStats::get;
        ListenerCounts {
            datagrams: get(&self.datagrams),
            bytes: get(&self.bytes),
            denied: get(&self.denied),
            errors: get(&self.errors),
            kernel_drops: drops.and_then(KernelDrops::read),
        }
    }
}

/// A listener's counters at one moment, by value (see
/// [`ListenerStats::load`]), for snapshots and `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListenerCounts {
    /// Datagrams accepted.
    pub datagrams: u64,
    /// Bytes of accepted datagrams.
    pub bytes: u64,
    /// Datagrams dropped because their source is not in the allow-list.
    pub denied: u64,
    /// Receive errors (other than "would block").
    pub errors: u64,
    /// Datagrams the kernel dropped because the socket buffer was full,
    /// where that can be read ([`KernelDrops`]).
    pub kernel_drops: Option<u64>,
}

/// Datagrams received together: their bytes back to back, and per datagram
/// the source, the receive time and its range in the bytes.
#[derive(Debug, Default)]
pub struct DatagramBatch {
    data: Vec<u8>,
    items: Vec<(SocketAddr, i64, Range<usize>)>,
}

impl DatagramBatch {
    /// An empty batch.
    pub fn new() -> DatagramBatch {
        DatagramBatch::default()
    }

    /// Datagrams in the batch.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch holds no datagram.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.data.clear();
        self.items.clear();
    }

    /// `(source, received_ns, payload)` of each datagram, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, i64, &[u8])> + '_ {
        self.items
            .iter()
            .map(|(src, ts, r)| (*src, *ts, self.data.get(r.clone()).unwrap_or(&[])))
    }

    /// Adds a datagram (for tests and replays).
    pub fn push(&mut self, src: SocketAddr, received_ns: i64, payload: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(payload);
        self.items.push((src, received_ns, start..self.data.len()));
    }
}

/// One UDP socket receiving flow exports. See the module docs.
pub struct UdpListener {
    socket: tokio::net::UdpSocket,
    local: SocketAddr,
    allow: AllowList,
    recv_buffer: usize,
    inode: Option<u64>,
    stats: Arc<ListenerStats>,
}

impl UdpListener {
    /// Binds `addr` (port 0 picks a free port: see
    /// [`UdpListener::local_addr`]). Must be called inside a tokio runtime.
    pub fn bind(addr: SocketAddr, cfg: &ListenerConfig) -> Result<UdpListener, UdpError> {
        let std_sock =
            std::net::UdpSocket::bind(addr).map_err(|source| UdpError::Bind { addr, source })?;
        if let Some(size) = cfg.recv_buffer {
            set_recv_buffer(&std_sock, size).map_err(|source| UdpError::Option {
                addr,
                option: "the receive buffer size (SO_RCVBUF)",
                source,
            })?;
        }
        let recv_buffer = recv_buffer(&std_sock).map_err(|source| UdpError::Option {
            addr,
            option: "SO_RCVBUF (reading it)",
            source,
        })?;
        std_sock
            .set_nonblocking(true)
            .map_err(|source| UdpError::Option {
                addr,
                option: "O_NONBLOCK",
                source,
            })?;
        let local = std_sock
            .local_addr()
            .map_err(|source| UdpError::Bind { addr, source })?;
        let inode = socket_inode(&std_sock);
        let socket = tokio::net::UdpSocket::from_std(std_sock)
            .map_err(|source| UdpError::Bind { addr, source })?;
        Ok(UdpListener {
            socket,
            local,
            allow: cfg.allow.clone(),
            recv_buffer,
            inode,
            stats: Arc::new(ListenerStats::default()),
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The receive buffer the kernel granted, in bytes.
    pub fn recv_buffer(&self) -> usize {
        self.recv_buffer
    }

    /// The listener's counters.
    pub fn stats(&self) -> Arc<ListenerStats> {
        Arc::clone(&self.stats)
    }

    /// A handle that reads this socket's kernel drop counter.
    pub fn drop_counter(&self) -> KernelDrops {
        KernelDrops {
            inode: self.inode,
            v6: self.local.is_ipv6(),
        }
    }

    /// Datagrams the kernel dropped for this socket so far (Linux; `None`
    /// where it cannot be read).
    pub fn kernel_drops(&self) -> Option<u64> {
        self.drop_counter().read()
    }

    /// Waits for at least one accepted datagram, then appends every
    /// datagram the socket holds without waiting, up to `max` in all.
    /// Returns how many were appended (0 only if `max` is 0).
    pub async fn recv_batch(&self, batch: &mut DatagramBatch, max: usize) -> io::Result<usize> {
        let mut got = 0;
        while got == 0 && got < max {
            self.socket.readable().await?;
            got += self.drain(batch, max)?;
        }
        Ok(got)
    }

    /// Appends the datagrams the socket holds now, without waiting, up to
    /// `max`; returns how many were appended. For a final drain at shutdown.
    pub fn drain(&self, batch: &mut DatagramBatch, max: usize) -> io::Result<usize> {
        let mut got = 0;
        while got < max {
            let start = batch.data.len();
            batch.data.resize(start + MAX_DATAGRAM, 0);
            let res = self.socket.try_recv_from(&mut batch.data[start..]);
            match res {
                Ok((n, src)) => {
                    let src = SocketAddr::new(src.ip().to_canonical(), src.port());
                    if !self.allow.allows(src.ip()) {
                        batch.data.truncate(start);
                        bump(&self.stats.denied, 1);
                        continue;
                    }
                    batch.data.truncate(start + n);
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_nanos() as i64)
                        .unwrap_or(0);
                    batch.items.push((src, now, start..start + n));
                    bump(&self.stats.datagrams, 1);
                    bump(&self.stats.bytes, n as u64);
                    got += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    batch.data.truncate(start);
                    break;
                }
                Err(e) => {
                    batch.data.truncate(start);
                    bump(&self.stats.errors, 1);
                    // ICMP errors surface as ECONNREFUSED on some systems;
                    // they are not fatal for a listener.
                    if e.kind() == io::ErrorKind::ConnectionRefused {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Ok(got)
    }
}

/// Reads one socket's kernel drop counter (see the module docs); `Send`, so
/// a reporter can keep it after the listener moved into its task.
#[derive(Clone, Copy, Debug)]
pub struct KernelDrops {
    inode: Option<u64>,
    v6: bool,
}

impl KernelDrops {
    /// Datagrams dropped so far, or `None` where it cannot be read.
    pub fn read(&self) -> Option<u64> {
        let inode = self.inode?;
        // /proc/self/net rather than /proc/net: the same tables, and still
        // visible under systemd's ProcSubset=pid.
        let files: &[&str] = if self.v6 {
            &["/proc/self/net/udp6", "/proc/self/net/udp"]
        } else {
            &["/proc/self/net/udp", "/proc/self/net/udp6"]
        };
        files.iter().find_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            proc_net_udp_drops(&text, inode)
        })
    }
}

/// The `drops` column of the `/proc/net/udp` line whose inode is `inode`.
/// Columns: `sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ref
/// pointer drops`.
pub fn proc_net_udp_drops(text: &str, inode: u64) -> Option<u64> {
    text.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.get(9)?.parse::<u64>().ok()? == inode {
            cols.get(12)?.parse().ok()
        } else {
            None
        }
    })
}

#[cfg(target_os = "linux")]
fn socket_inode(sock: &std::net::UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let fd = sock.as_raw_fd();
    std::fs::metadata(format!("/proc/self/fd/{fd}"))
        .ok()
        .map(|m| m.ino())
}

#[cfg(not(target_os = "linux"))]
fn socket_inode(_sock: &std::net::UdpSocket) -> Option<u64> {
    None
}

#[cfg(target_os = "linux")]
fn set_recv_buffer(sock: &std::net::UdpSocket, size: usize) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    // SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN.
    if setsockopt(sock, sockopt::RcvBufForce, &size).is_ok() {
        return Ok(());
    }
    setsockopt(sock, sockopt::RcvBuf, &size).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn set_recv_buffer(sock: &std::net::UdpSocket, size: usize) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    setsockopt(sock, sockopt::RcvBuf, &size).map_err(io::Error::from)
}

fn recv_buffer(sock: &std::net::UdpSocket) -> io::Result<usize> {
    use nix::sys::socket::{getsockopt, sockopt};
    getsockopt(sock, sockopt::RcvBuf).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The allow-list's networks (their parsing is tested in
    /// `depmap-model`'s `cidr.rs`).
    #[test]
    fn allow_lists_match_their_networks() {
        let host = Cidr::parse_masked("127.0.0.2").unwrap();
        assert!(AllowList::default().allows("198.51.100.1".parse().unwrap()));
        assert!(!AllowList(vec![host]).allows("127.0.0.3".parse().unwrap()));
        assert!(AllowList(vec![host]).allows("::ffff:127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn proc_net_udp_drops_column() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  123: 0100007F:0801 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n";
        assert_eq!(proc_net_udp_drops(text, 4242), Some(17));
        assert_eq!(proc_net_udp_drops(text, 1), None);
    }

    #[test]
    fn loopback_batches_allow_list_and_drops() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        rt.block_on(async {
            let cfg = ListenerConfig {
                recv_buffer: Some(1 << 20),
                allow: AllowList(vec!["127.0.0.1/32".parse().unwrap()]),
            };
            let l = UdpListener::bind("127.0.0.1:0".parse().unwrap(), &cfg).unwrap();
            assert!(l.recv_buffer() >= 1 << 16);
            let to = l.local_addr();
            let ok = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let denied = std::net::UdpSocket::bind("127.0.0.3:0").unwrap();
            denied.send_to(b"no", to).unwrap();
            for i in 0..5u8 {
                ok.send_to(&[i; 10], to).unwrap();
            }
            let mut batch = DatagramBatch::new();
            let mut got = 0;
            while got < 5 {
                got += l.recv_batch(&mut batch, 64).await.unwrap();
            }
            let items: Vec<_> = batch.iter().collect();
            assert_eq!(items.len(), 5);
            assert_eq!(items[3].2, &[3u8; 10]);
            assert_eq!(items[0].0, ok.local_addr().unwrap());
            let s = l.stats();
            assert_eq!(ListenerStats::get(&s.denied), 1);
            assert_eq!(ListenerStats::get(&s.datagrams), 5);
            if cfg!(target_os = "linux") {
                assert_eq!(l.kernel_drops(), Some(0));
            }
        });
    }
}
