//! Live capture and the agent, end to end with the real binary, real
//! libpcap on the loopback interface, real sockets and a real SQLite file.
//!
//! Every test uses its own 127.x.y.z addresses and a BPF filter on them,
//! so tests running at once on `lo` do not see each other's traffic. Tests
//! that need root (capture permission, switching users, mounting a tmpfs)
//! say so and return early without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use depmap_store::{MapStore, Store};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_depmap");
/// Generous: the CI machine has two cores and compiles other things.
const STARTUP: Duration = Duration::from_secs(30);
const STOP: Duration = Duration::from_secs(10);

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// A running depmap process: its stdout lines arrive on a channel, its
/// stderr is collected to a file.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: PathBuf,
    metrics: Option<SocketAddr>,
}

impl Proc {
    /// Starts `depmap ARGS` and waits for the line saying every source is
    /// open. `None` when capture permission is missing (the caller skips).
    fn start(args: &[&str], dir: &Path) -> Option<Proc> {
        Proc::start_under(&[], args, dir)
    }

    /// [`Proc::start`] under a wrapper command (`setpriv ...`).
    fn start_under(wrapper: &[&str], args: &[&str], dir: &Path) -> Option<Proc> {
        let stderr = dir.join(format!("stderr-{}.log", rand_suffix()));
        let mut cmd = match wrapper.split_first() {
            Some((prog, rest)) => {
                let mut c = Command::new(prog);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let mut child = cmd
            .args(args)
            .env("DEPMAP_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = Proc {
            child,
            lines: rx,
            stderr,
            metrics: None,
        };
        let deadline = Instant::now() + STARTUP;
        loop {
            match p.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(l) if l.starts_with("depmap: metrics at http://") => {
                    let a = l
                        .trim_start_matches("depmap: metrics at http://")
                        .trim_end_matches("/metrics");
                    p.metrics = Some(a.parse().unwrap());
                }
                Ok(l) if l.starts_with("depmap: running") => return Some(p),
                Ok(_) => {}
                Err(_) => {
                    if let Ok(Some(status)) = p.child.try_wait() {
                        let err = p.stderr_text();
                        if err.contains("no permission to capture") {
                            eprintln!("SKIPPED: capture permission is missing (run as root or with CAP_NET_RAW): {err}");
                            return None;
                        }
                        panic!("depmap exited at start-up ({status}): {err}");
                    }
                    assert!(
                        Instant::now() < deadline,
                        "depmap did not start: {}",
                        p.stderr_text()
                    );
                }
            }
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn signal(&self, s: Signal) {
        kill(self.pid(), s).unwrap();
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for the process to exit; panics past `limit`.
    fn wait(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return (s, t.elapsed());
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "depmap did not exit within {limit:?}: {}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        http_get(self.metrics.expect("metrics address"), path)
    }

    fn metric(&self, name: &str) -> f64 {
        metric(&self.get("/metrics").1, name)
    }

    /// Polls a metric until `ok` holds; panics past `limit`.
    fn wait_metric(&self, name: &str, limit: Duration, ok: impl Fn(f64) -> bool) -> f64 {
        let t = Instant::now();
        loop {
            let v = self.metric(name);
            if ok(v) {
                return v;
            }
            assert!(
                t.elapsed() < limit,
                "{name} = {v} after {limit:?}; log: {}",
                self.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (status, body.to_string())
}

/// Sends `request` as is and returns the whole answer.
fn http_raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before it has read everything.
    let _ = s.write_all(request);
    let mut text = Vec::new();
    let _ = s.read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}

/// The value of a metric line `name value` (the name may carry labels).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            let (n, v) = l.rsplit_once(' ')?;
            (n == name).then(|| v.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// A TCP connection from `client` (any port) to `server:port`.
fn connect_from(client: &str, server: SocketAddr) -> TcpStream {
    use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrIn};
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .unwrap();
    let local: std::net::SocketAddrV4 = format!("{client}:0").parse().unwrap();
    socket::bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(local),
    )
    .unwrap();
    let SocketAddr::V4(remote) = server else {
        panic!("IPv4 only")
    };
    socket::connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(remote),
    )
    .unwrap();
    TcpStream::from(fd)
}

/// A TCP conversation (connect, bytes both ways) and a UDP exchange from
/// `client` to `server` (UDP on `udp_port`, below 1024 so the direction
/// rule names the server by its port); returns the TCP server port.
fn talk(client: &str, server: &str, udp_port: u16) -> u16 {
    let l = TcpListener::bind((server, 0)).unwrap();
    let addr = l.local_addr().unwrap();
    let mut c = connect_from(client, addr);
    let (mut a, _) = l.accept().unwrap();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut buf = [0u8; 18];
    a.read_exact(&mut buf).unwrap();
    a.write_all(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
    let mut buf = [0u8; 19];
    c.read_exact(&mut buf).unwrap();
    drop(c);
    drop(a);

    let us = UdpSocket::bind((server, udp_port)).unwrap();
    let uc = UdpSocket::bind((client, 0)).unwrap();
    uc.send_to(b"ping", us.local_addr().unwrap()).unwrap();
    us.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 16];
    let (_, from) = us.recv_from(&mut b).unwrap();
    us.send_to(b"pong", from).unwrap();
    uc.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    uc.recv_from(&mut b).unwrap();
    addr.port()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write_config(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Sum of packets over every stored edge.
fn stored_packets(db: &Path) -> u64 {
    let s = Store::open(db).unwrap();
    s.edges().unwrap().iter().map(|(_, st)| st.packets()).sum()
}

fn has_edge(db: &Path, client: &str, server: &str, port: u16, proto: u8) -> bool {
    let s = Store::open(db).unwrap();
    s.edges().unwrap().iter().any(|(k, st)| {
        k.client == client.parse::<std::net::IpAddr>().unwrap()
            && k.server == server.parse::<std::net::IpAddr>().unwrap()
            && k.port == port
            && k.proto == proto
            && st.packets() > 0
    })
}

#[test]
fn capture_on_loopback_finds_tcp_and_udp_edges() {
    let dir = tempdir();
    let db = dir.path().join("live.db");
    let (client, server) = ("127.0.41.1", "127.0.41.2");
    let filter = format!("host {server}");
    let Some(mut p) = Proc::start(
        &[
            "capture",
            "--interface",
            "lo",
            "--filter",
            &filter,
            "--db",
            db.to_str().unwrap(),
            "--flush-interval",
            "1s",
        ],
        dir.path(),
    ) else {
        return;
    };
    let port = talk(client, server, 999);
    // Loopback delivers at once; the reader drains the kernel buffer on
    // the way out, so stopping right away loses nothing.
    p.signal(Signal::SIGTERM);
    let (status, took) = p.wait(STOP);
    assert!(status.success(), "{}", p.stderr_text());
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    let out: Vec<String> = p.lines.try_iter().collect();
    assert!(
        out.iter()
            .any(|l| l.starts_with("captured on lo:") && l.contains("dropped: kernel 0")),
        "{out:?}"
    );
    assert!(
        has_edge(&db, client, server, port, 6),
        "no TCP edge to port {port}"
    );
    assert!(
        has_edge(&db, client, server, 999, 17),
        "no UDP edge to port 999"
    );
    // Nothing else got through the filter.
    let s = Store::open(&db).unwrap();
    assert!(s
        .edges()
        .unwrap()
        .iter()
        .all(|(k, _)| k.server.to_string() == server || k.client.to_string() == server));
    assert_eq!(s.integrity_check().unwrap(), "ok");
}

fn agent_config(db: &Path, flush: &str, filter: &str, extra: &str) -> String {
    format!(
        r#"store = "{}"
flush_interval = "{flush}"
metrics = "127.0.0.1:0"
{extra}
[[interface]]
name = "lo"
filter = "{filter}"
"#,
        db.display()
    )
}

#[test]
fn agent_reloads_on_sighup_serves_metrics_and_stops_on_sigterm() {
    let dir = tempdir();
    let db = dir.path().join("agent.db");
    let cfg = dir.path().join("depmap.toml");
    let (client, server) = ("127.0.42.1", "127.0.42.2");
    let filter = format!("host {server}");
    write_config(&cfg, &agent_config(&db, "1s", &filter, ""));
    let Some(mut p) = Proc::start(&["agent", "--config", cfg.to_str().unwrap()], dir.path()) else {
        return;
    };
    assert_eq!(p.get("/healthz"), (200, "ok\n".to_string()));
    assert_eq!(p.get("/nope").0, 404);
    // Only GET, and a bounded request.
    let addr = p.metrics.unwrap();
    assert!(http_raw(addr, b"POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    // Exactly the 8 KiB the server reads, with no end of headers: nothing
    // stays unread, so the close is clean and the answer arrives.
    let huge = vec![b'a'; 8 << 10];
    assert!(http_raw(addr, &huge).starts_with("HTTP/1.1 400"));

    // Counters move: traffic, then a flush.
    let before = p.get("/metrics").1;
    let port = talk(client, server, 998);
    let packets = p.wait_metric("depmap_packets_total", STARTUP, |v| v >= 10.0);
    assert!(packets > metric(&before, "depmap_packets_total"));
    let flushes = metric(&before, "depmap_flushes_total");
    p.wait_metric("depmap_flushes_total", STARTUP, |v| v > flushes);
    p.wait_metric("depmap_packets_flushed_total", STARTUP, |v| v >= 10.0);
    let after = p.get("/metrics").1;
    assert!(
        metric(&after, "depmap_edges_written_total") >= 2.0,
        "{after}"
    );
    assert!(metric(&after, "depmap_store_size_bytes") > 0.0, "{after}");
    assert_eq!(
        metric(
            &after,
            "depmap_capture_drops_total{interface=\"lo\",where=\"kernel\"}"
        ),
        0.0
    );
    assert_eq!(metric(&after, "depmap_capture_up{interface=\"lo\"}"), 1.0);

    // SIGHUP: a new flush interval and a wider capture filter apply live,
    // a restart-only key is reported as such, and a bad file is refused
    // without stopping.
    let other = "127.0.42.3";
    let wider = format!("host {server} or host {other}");
    write_config(&cfg, &agent_config(&db, "2s", &wider, "max_flows = 5000"));
    p.signal(Signal::SIGHUP);
    p.wait_metric("depmap_reloads_total", STARTUP, |v| v == 1.0);
    assert_eq!(p.metric("depmap_flush_interval_seconds"), 2.0);
    let t = Instant::now();
    while !p.stderr_text().contains("capture filter changed") {
        assert!(t.elapsed() < STARTUP, "{}", p.stderr_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    write_config(&cfg, "store = 5\n");
    p.signal(Signal::SIGHUP);
    p.wait_metric("depmap_reload_errors_total", STARTUP, |v| v == 1.0);
    assert_eq!(p.metric("depmap_flush_interval_seconds"), 2.0);
    let log = p.stderr_text();
    assert!(log.contains("flush_interval changed"), "{log}");
    assert!(
        log.contains("max_flows") && log.contains("applies only after a restart"),
        "{log}"
    );
    assert!(log.contains("reload refused"), "{log}");

    // More traffic after the reload, then SIGTERM: the last of it is
    // flushed on the way out.
    let port2 = talk(client, server, 997);
    let port3 = talk(client, other, 997);
    p.wait_metric("depmap_packets_total", STARTUP, |v| v >= packets + 20.0);
    p.signal(Signal::SIGTERM);
    let (status, took) = p.wait(STOP);
    assert!(status.success(), "{}", p.stderr_text());
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    for (port, proto) in [(port, 6), (998, 17), (port2, 6), (997, 17)] {
        assert!(
            has_edge(&db, client, server, port, proto),
            "no edge {port}/{proto}"
        );
    }
    assert!(
        has_edge(&db, client, other, port3, 6),
        "the wider filter did not apply"
    );
    assert_eq!(Store::open(&db).unwrap().integrity_check().unwrap(), "ok");
}

#[test]
fn agent_logs_json_when_asked() {
    let dir = tempdir();
    let db = dir.path().join("json.db");
    let cfg = dir.path().join("depmap.toml");
    write_config(&cfg, &agent_config(&db, "1s", "host 127.0.44.2", ""));
    let Some(mut p) = Proc::start(
        &[
            "agent",
            "--config",
            cfg.to_str().unwrap(),
            "--log-format",
            "json",
        ],
        dir.path(),
    ) else {
        return;
    };
    p.signal(Signal::SIGINT);
    let (status, _) = p.wait(STOP);
    assert!(status.success());
    let log = p.stderr_text();
    let first = log.lines().next().unwrap_or("");
    let v: serde_json::Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert_eq!(v["level"], "INFO", "{first}");
    assert!(log.contains("\"message\":\"agent running\""), "{log}");
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = tempdir();
    let bad = dir.path().join("bad.toml");
    for (text, key) in [
        (
            "store = \"x.db\"\nflush_interval = \"often\"\n[[interface]]\nname = \"lo\"\n",
            "flush_interval",
        ),
        (
            "store = \"x.db\"\n[[interface]]\nname = \"lo\"\nsnaplen = 10\n",
            "interface[0].snaplen",
        ),
        (
            "store = \"x.db\"\nmetrics = \"nowhere\"\n[[interface]]\nname = \"lo\"\n",
            "metrics",
        ),
        (
            "store = \"x.db\"\n[[interface]]\nname = \"lo\"\nfliter = \"tcp\"\n",
            "fliter",
        ),
        ("store = \"x.db\"\n", "[[interface]]"),
    ] {
        write_config(&bad, text);
        let out = Command::new(BIN)
            .args(["agent", "--check-config", "--config"])
            .arg(&bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(key) && err.contains("bad.toml"),
            "{key}: {err}"
        );
    }
}

/// SIGKILL during heavy writes, 20 times: every restart opens a sound
/// store, and it holds at least everything flushed before the kill.
#[test]
fn sigkill_during_heavy_writes_never_corrupts_or_loses_flushed_data() {
    let dir = tempdir();
    let db = dir.path().join("kill.db");
    let cfg = dir.path().join("depmap.toml");
    // A quarter of a million distinct edges: every flush inserts thousands
    // of rows, so a kill often lands inside a transaction.
    write_config(&cfg, &agent_config(&db, "200ms", "net 127.0.51.0/24", ""));
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flood_net("127.0.43.1", 51, Arc::clone(&stop));
    let mut stored = 0u64;
    for round in 0..20 {
        let Some(mut p) = Proc::start(&["agent", "--config", cfg.to_str().unwrap()], dir.path())
        else {
            stop.store(true, Ordering::Relaxed);
            return;
        };
        // At least two flushes with data, then kill at a varying moment of
        // the flush cycle.
        p.wait_metric("depmap_flushes_total", STARTUP, |v| v >= 2.0);
        std::thread::sleep(Duration::from_millis(u64::from(
            Instant::now().elapsed().subsec_nanos() % 200,
        )));
        let flushed = p.wait_metric("depmap_packets_flushed_total", STARTUP, |v| v > 0.0) as u64;
        let took = p.metric("depmap_flush_last_duration_seconds");
        p.signal(Signal::SIGKILL);
        p.wait(STOP);
        let s = Store::open(&db).unwrap();
        assert_eq!(s.integrity_check().unwrap(), "ok", "round {round}");
        drop(s);
        let now = stored_packets(&db);
        assert!(
            now >= stored + flushed,
            "round {round}: store holds {now} packets, expected at least {stored} + {flushed} flushed"
        );
        eprintln!(
            "SIGKILL round {round}: integrity ok, {flushed} packets flushed before the kill (last flush {took:.3} s), store {stored} -> {now} packets"
        );
        stored = now;
    }
    stop.store(true, Ordering::Relaxed);
    assert!(flooder.join().unwrap() > 0);
    assert!(stored > 0);
}

/// A `/proc/PID/status` field.
fn status_field(pid: Pid, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// Started as root, the agent runs as the configured user with no
/// capability left (or only CAP_NET_RAW with reload_interfaces), with
/// no-new-privileges, and capture still counts packets.
#[test]
fn agent_drops_to_the_configured_user_and_clears_capabilities() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to show the switch to another user");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody");
    for (keep, cap_eff) in [(false, "0000000000000000"), (true, "0000000000002000")] {
        let dir = tempdir();
        nix::unistd::chown(dir.path(), Some(nobody.uid), Some(nobody.gid)).unwrap();
        let db = dir.path().join("privs.db");
        let cfg = dir.path().join("depmap.toml");
        let (client, server) = ("127.0.45.1", "127.0.45.2");
        let extra = format!("user = \"nobody\"\nreload_interfaces = {keep}");
        write_config(
            &cfg,
            &agent_config(&db, "500ms", &format!("host {server}"), &extra),
        );
        let Some(mut p) = Proc::start(&["agent", "--config", cfg.to_str().unwrap()], dir.path())
        else {
            return;
        };
        let uid = nobody.uid.to_string();
        assert_eq!(
            status_field(p.pid(), "Uid")
                .split_whitespace()
                .collect::<Vec<_>>(),
            vec![uid.as_str(); 4]
        );
        let gid = nobody.gid.to_string();
        assert_eq!(
            status_field(p.pid(), "Gid")
                .split_whitespace()
                .collect::<Vec<_>>(),
            vec![gid.as_str(); 4]
        );
        assert_eq!(status_field(p.pid(), "Groups"), gid);
        assert_eq!(
            status_field(p.pid(), "CapEff"),
            cap_eff,
            "reload_interfaces = {keep}"
        );
        assert_eq!(status_field(p.pid(), "CapPrm"), cap_eff);
        assert_eq!(status_field(p.pid(), "CapInh"), "0000000000000000");
        assert_eq!(status_field(p.pid(), "CapAmb"), "0000000000000000");
        assert_eq!(status_field(p.pid(), "NoNewPrivs"), "1");
        // Every thread, not only the main one (capabilities are per thread).
        for t in std::fs::read_dir(format!("/proc/{}/task", p.pid())).unwrap() {
            let t = t.unwrap().file_name();
            let text = std::fs::read_to_string(format!(
                "/proc/{}/task/{}/status",
                p.pid(),
                t.to_string_lossy()
            ))
            .unwrap();
            assert!(
                text.contains(&format!("CapEff:\t{cap_eff}")),
                "thread {t:?}: {text}"
            );
        }
        // Capture still works, and the store (written as nobody) too.
        let port = talk(client, server, 996);
        p.wait_metric("depmap_packets_total", STARTUP, |v| v >= 10.0);
        p.wait_metric("depmap_packets_flushed_total", STARTUP, |v| v >= 10.0);
        p.signal(Signal::SIGTERM);
        let (status, _) = p.wait(STOP);
        assert!(status.success(), "{}", p.stderr_text());
        assert!(has_edge(&db, client, server, port, 6));
        let meta = std::fs::metadata(&db).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&meta),
            nobody.uid.as_raw()
        );
    }
}

/// Started as the systemd unit starts it (already the service user, with
/// CAP_NET_RAW as an ambient capability), the agent clears that too once
/// the interface is open, and capture goes on.
#[test]
fn agent_started_with_ambient_net_raw_clears_it() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to start a process as another user with CAP_NET_RAW");
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("SKIPPED: setpriv (util-linux) is not installed");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody");
    let dir = tempdir();
    nix::unistd::chown(dir.path(), Some(nobody.uid), Some(nobody.gid)).unwrap();
    let db = dir.path().join("ambient.db");
    let cfg = dir.path().join("depmap.toml");
    let (client, server) = ("127.0.50.1", "127.0.50.2");
    write_config(
        &cfg,
        &agent_config(&db, "500ms", &format!("host {server}"), "user = \"nobody\""),
    );
    let (uid, gid) = (
        format!("--reuid={}", nobody.uid),
        format!("--regid={}", nobody.gid),
    );
    let wrapper = [
        "setpriv",
        uid.as_str(),
        gid.as_str(),
        "--clear-groups",
        "--inh-caps=+net_raw",
        "--ambient-caps=+net_raw",
    ];
    let Some(mut p) = Proc::start_under(
        &wrapper,
        &["agent", "--config", cfg.to_str().unwrap()],
        dir.path(),
    ) else {
        return;
    };
    assert_eq!(status_field(p.pid(), "CapEff"), "0000000000000000");
    assert_eq!(status_field(p.pid(), "CapAmb"), "0000000000000000");
    assert_eq!(status_field(p.pid(), "NoNewPrivs"), "1");
    let port = talk(client, server, 994);
    p.wait_metric("depmap_packets_flushed_total", STARTUP, |v| v >= 10.0);
    p.signal(Signal::SIGTERM);
    let (status, _) = p.wait(STOP);
    assert!(status.success(), "{}", p.stderr_text());
    assert!(has_edge(&db, client, server, port, 6));
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts an 8 MiB tmpfs at `dir` (`ro`: read-only); `None` with a
    /// message when not root or the mount fails.
    fn mount(dir: &Path, ro: bool) -> Option<Tmpfs> {
        if !is_root() {
            eprintln!("SKIPPED: needs root to mount a small tmpfs");
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let opts = if ro { "size=8m,ro" } else { "size=8m" };
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: mount -t tmpfs failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    fn remount(&self, opts: &str) {
        let o = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: Pid) -> u64 {
    status_field(pid, "VmHWM")
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap()
}

/// Sends UDP from `client` to ports 1..=1000 of every address in
/// 127.0.N.1..=254 (N = `net`): a quarter of a million distinct edges, more
/// than an 8 MiB store holds.
fn flood_net(client: &str, net: u8, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let client = client.to_string();
    std::thread::spawn(move || {
        let s = UdpSocket::bind((client.as_str(), 0)).unwrap();
        let mut sent = 0u64;
        let (mut host, mut port) = (1u8, 1u16);
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..200 {
                let ip = std::net::Ipv4Addr::new(127, 0, net, host);
                let _ = s.send_to(b"depmap-test", (ip, port));
                host = if host >= 254 { 1 } else { host + 1 };
                if host == 1 {
                    port = if port >= 1000 { 1 } else { port + 1 };
                }
                sent += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        sent
    })
}

/// Disk full: the agent reports and counts failed flushes, keeps counting
/// in memory within its bound, and continues once space is freed; the
/// store stays sound.
#[test]
fn disk_full_is_reported_counted_and_survived() {
    let dir = tempdir();
    let Some(fs) = Tmpfs::mount(&dir.path().join("small"), false) else {
        return;
    };
    let db = fs.0.join("full.db");
    // Ballast: freed later to give the store room again.
    let ballast = fs.0.join("ballast");
    std::fs::write(&ballast, vec![0u8; 4 << 20]).unwrap();
    let cfg = dir.path().join("depmap.toml");
    // A held-back batch of at most 5,000 edges (about 1 MB, twice that
    // with SQLite's WAL) fits in the 4 MiB the ballast frees later.
    let extra = "max_flows = 100000\nmax_pending_edges = 5000";
    write_config(
        &cfg,
        &agent_config(&db, "300ms", "net 127.0.46.0/24", extra),
    );
    let Some(mut p) = Proc::start(&["agent", "--config", cfg.to_str().unwrap()], dir.path()) else {
        return;
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flood_net("127.0.47.1", 46, Arc::clone(&stop));
    p.wait_metric("depmap_flushes_total", STARTUP, |v| v >= 1.0);
    // The store fills up; flushes fail, are counted, and the agent goes on.
    p.wait_metric("depmap_flush_errors_total", Duration::from_secs(60), |v| {
        v >= 3.0
    });
    let packets = p.metric("depmap_packets_total");
    p.wait_metric("depmap_packets_total", STARTUP, |v| v > packets);
    // Three failures in a row turn /healthz to 503 (a small flush may still
    // fit in space SQLite already holds, so poll rather than sample once).
    let t = Instant::now();
    while p.get("/healthz").0 != 503 {
        assert!(t.elapsed() < Duration::from_secs(60), "{}", p.stderr_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Held edges stay under the bound: past it they are dropped and counted.
    p.wait_metric("depmap_edges_dropped_total", Duration::from_secs(60), |v| {
        v > 0.0
    });
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "the agent died: {}",
        p.stderr_text()
    );
    let log = p.stderr_text();
    assert!(log.contains("flush failed"), "{log}");
    assert!(log.contains("full"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    let rss = peak_rss_kib(p.pid());
    assert!(rss < 200 << 10, "peak RSS {rss} KiB");
    // The flood of distinct flows stays within max_flows: the oldest are
    // finished early and counted.
    p.wait_metric("depmap_flows_evicted_total", STARTUP, |v| v > 0.0);
    let m = p.get("/metrics").1;
    assert!(metric(&m, "depmap_flows") <= 100_000.0, "{m}");
    eprintln!(
        "disk full: {} flush errors, {} edges dropped past max_pending_edges, {} flows created, {} evicted, {} in the table, {} packets counted, peak RSS {} MiB",
        metric(&m, "depmap_flush_errors_total"),
        metric(&m, "depmap_edges_dropped_total"),
        metric(&m, "depmap_flows_created_total"),
        metric(&m, "depmap_flows_evicted_total"),
        metric(&m, "depmap_flows"),
        metric(&m, "depmap_packets_total"),
        rss >> 10
    );

    // Free space: the next flushes work again.
    stop.store(true, Ordering::Relaxed);
    flooder.join().unwrap();
    std::fs::remove_file(&ballast).unwrap();
    let flushes = p.metric("depmap_flushes_total");
    p.wait_metric("depmap_flushes_total", Duration::from_secs(60), |v| {
        v > flushes
    });
    let t = Instant::now();
    while p.get("/healthz").0 != 200 {
        assert!(t.elapsed() < Duration::from_secs(60), "{}", p.stderr_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    p.signal(Signal::SIGTERM);
    p.wait(STOP);
    let s = Store::open(&db).unwrap();
    assert_eq!(s.integrity_check().unwrap(), "ok");
    assert!(s.edge_count().unwrap() > 0);
}

/// A read-only store: reported and counted, counting goes on in memory,
/// and everything is written once the file system is writable again.
#[test]
fn read_only_store_is_reported_and_written_later() {
    let dir = tempdir();
    let Some(fs) = Tmpfs::mount(&dir.path().join("ro"), true) else {
        return;
    };
    let db = fs.0.join("ro.db");
    let cfg = dir.path().join("depmap.toml");
    let (client, server) = ("127.0.48.1", "127.0.48.2");
    write_config(
        &cfg,
        &agent_config(&db, "300ms", &format!("host {server}"), ""),
    );
    let Some(mut p) = Proc::start(&["agent", "--config", cfg.to_str().unwrap()], dir.path()) else {
        return;
    };
    let port = talk(client, server, 995);
    p.wait_metric("depmap_packets_total", STARTUP, |v| v >= 10.0);
    p.wait_metric("depmap_flush_errors_total", STARTUP, |v| v >= 2.0);
    assert_eq!(p.metric("depmap_flushes_total"), 0.0);
    let log = p.stderr_text();
    assert!(
        log.contains("flush failed") && log.contains("ro.db"),
        "{log}"
    );
    fs.remount("rw");
    p.wait_metric("depmap_packets_flushed_total", STARTUP, |v| v >= 10.0);
    p.signal(Signal::SIGTERM);
    let (status, _) = p.wait(STOP);
    assert!(status.success(), "{}", p.stderr_text());
    assert!(has_edge(&db, client, server, port, 6));
    assert!(has_edge(&db, client, server, 995, 17));
    assert_eq!(Store::open(&db).unwrap().integrity_check().unwrap(), "ok");
}

/// A NetFlow v5 datagram with one record: `src:40000 -> dst:port` TCP,
/// 10 packets, 1000 bytes.
fn netflow_v5(src: [u8; 4], dst: [u8; 4], port: u16) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut d = Vec::new();
    d.extend_from_slice(&5u16.to_be_bytes()); // version
    d.extend_from_slice(&1u16.to_be_bytes()); // count
    d.extend_from_slice(&100_000u32.to_be_bytes()); // sys_uptime (ms)
    d.extend_from_slice(&now.to_be_bytes()); // unix_secs
    d.extend_from_slice(&0u32.to_be_bytes()); // unix_nsecs
    d.extend_from_slice(&1u32.to_be_bytes()); // flow_sequence
    d.extend_from_slice(&[0, 0, 0, 0]); // engine type, id, sampling
    d.extend_from_slice(&src);
    d.extend_from_slice(&dst);
    d.extend_from_slice(&[0; 4]); // next hop
    d.extend_from_slice(&[0; 4]); // input, output
    d.extend_from_slice(&10u32.to_be_bytes()); // packets
    d.extend_from_slice(&1000u32.to_be_bytes()); // bytes
    d.extend_from_slice(&99_000u32.to_be_bytes()); // first
    d.extend_from_slice(&99_500u32.to_be_bytes()); // last
    d.extend_from_slice(&40_000u16.to_be_bytes());
    d.extend_from_slice(&port.to_be_bytes());
    d.extend_from_slice(&[0, 0x12, 6, 0]); // pad, tcp flags (SYN|ACK), proto, tos
    d.extend_from_slice(&[0; 8]); // AS numbers, masks, pad
    assert_eq!(d.len(), 24 + 48);
    d
}

/// The agent runs a flow listener next to live capture, and its edges
/// reach the store.
#[test]
fn agent_runs_a_flow_listener_beside_capture() {
    let dir = tempdir();
    let db = dir.path().join("flows.db");
    let cfg = dir.path().join("depmap.toml");
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let extra = format!(
        "[[listener]]\naddress = \"127.0.0.1:{port}\"\nallow_exporters = [\"127.0.0.0/8\"]\n"
    );
    let mut text = agent_config(&db, "300ms", "host 127.0.49.2", "");
    text.push_str(&extra);
    write_config(&cfg, &text);
    let Some(mut p) = Proc::start(&["agent", "--config", cfg.to_str().unwrap()], dir.path()) else {
        return;
    };
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(
        &netflow_v5([10, 9, 0, 1], [10, 9, 0, 2], 5432),
        ("127.0.0.1", port),
    )
    .unwrap();
    p.wait_metric("depmap_flow_records_total", STARTUP, |v| v >= 1.0);
    let listen = format!("depmap_listener_datagrams_total{{listen=\"127.0.0.1:{port}\"}}");
    assert_eq!(p.metric(&listen), 1.0);
    let drops =
        format!("depmap_listener_drops_total{{listen=\"127.0.0.1:{port}\",where=\"kernel\"}}");
    assert_eq!(p.metric(&drops), 0.0);
    p.signal(Signal::SIGTERM);
    let (status, _) = p.wait(STOP);
    assert!(status.success(), "{}", p.stderr_text());
    let st = Store::open(&db).unwrap();
    let edges = st.edges().unwrap();
    let e = edges
        .iter()
        .find(|(k, _)| k.server.to_string() == "10.9.0.2" && k.port == 5432)
        .unwrap_or_else(|| panic!("no flow edge in {edges:?}"));
    assert_eq!(e.0.client.to_string(), "10.9.0.1");
    assert_eq!(e.1.packets(), 10);
    let origins = st.edge_origins().unwrap();
    assert!(origins
        .iter()
        .any(|(k, o)| k.port == 5432 && o.flows && !o.packets));
}

/// A classic pcap (LINKTYPE_RAW) with a TCP handshake from
/// `client:40000` to `server:port`.
fn handshake_pcap(client: [u8; 4], server: [u8; 4], port: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]); // thiszone, sigfigs
    f.extend_from_slice(&65_535u32.to_le_bytes());
    f.extend_from_slice(&101u32.to_le_bytes()); // LINKTYPE_RAW
    let packet = |src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, flags: u8| {
        let mut p = vec![0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        p
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    for (i, p) in [
        packet(client, server, 40_000, port, 0x02),
        packet(server, client, port, 40_000, 0x12),
    ]
    .iter()
    .enumerate()
    {
        f.extend_from_slice(&now.to_le_bytes());
        f.extend_from_slice(&(i as u32 * 1000).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(p);
    }
    f
}

/// Capture files dropped into a watched directory are ingested once,
/// after they stop changing; a copy of the same content is a repeat.
#[test]
fn agent_ingests_files_from_a_watched_directory() {
    let dir = tempdir();
    let db = dir.path().join("watch.db");
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let cfg = dir.path().join("depmap.toml");
    write_config(
        &cfg,
        &format!(
            "store = \"{}\"\nmetrics = \"127.0.0.1:0\"\n[[watch]]\ndirectory = \"{}\"\ninterval = \"100ms\"\n",
            db.display(),
            spool.display()
        ),
    );
    let Some(mut p) = Proc::start(&["agent", "--config", cfg.to_str().unwrap()], dir.path()) else {
        return;
    };
    let pcap = handshake_pcap([10, 8, 0, 1], [10, 8, 0, 2], 8080);
    std::fs::write(spool.join("a.pcap"), &pcap).unwrap();
    std::fs::write(spool.join("notes.txt"), "not a capture").unwrap();
    p.wait_metric(
        "depmap_watch_files_total{result=\"ingested\"}",
        STARTUP,
        |v| v == 1.0,
    );
    std::fs::write(spool.join("b.pcap"), &pcap).unwrap();
    p.wait_metric(
        "depmap_watch_files_total{result=\"repeat\"}",
        STARTUP,
        |v| v == 1.0,
    );
    assert_eq!(
        p.metric("depmap_watch_files_total{result=\"ingested\"}"),
        1.0
    );
    assert_eq!(p.metric("depmap_watch_files_total{result=\"failed\"}"), 0.0);
    p.signal(Signal::SIGTERM);
    let (status, _) = p.wait(STOP);
    assert!(status.success(), "{}", p.stderr_text());
    assert!(has_edge(&db, "10.8.0.1", "10.8.0.2", 8080, 6));
    let s = Store::open(&db).unwrap();
    assert_eq!(s.edges().unwrap()[0].1.packets(), 2);
}

#[test]
fn capture_rejects_bad_flags_naming_them() {
    for (args, flag) in [
        (&["--snaplen", "10"][..], "--snaplen"),
        (&["--buffer-bytes", "100"][..], "--buffer-bytes"),
        (&["--duration", "soon"][..], "--duration"),
        (&["--flush-interval", "1ms"][..], "--flush-interval"),
    ] {
        let out = Command::new(BIN)
            .args(["capture", "--interface", "lo", "--db", "/nonexistent/x.db"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{flag}: {err}");
    }
}

/// IPv6 on loopback: a TCP conversation on ::1 is an edge too.
#[test]
fn capture_on_loopback_sees_ipv6() {
    let Ok(l) = TcpListener::bind("[::1]:0") else {
        eprintln!("SKIPPED: no IPv6 loopback here");
        return;
    };
    let port = l.local_addr().unwrap().port();
    let dir = tempdir();
    let db = dir.path().join("v6.db");
    let filter = format!("ip6 and tcp port {port}");
    let Some(mut p) = Proc::start(
        &[
            "capture",
            "-i",
            "lo",
            "--filter",
            &filter,
            "--db",
            db.to_str().unwrap(),
        ],
        dir.path(),
    ) else {
        return;
    };
    let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut a, _) = l.accept().unwrap();
    c.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    a.read_exact(&mut buf).unwrap();
    drop(c);
    drop(a);
    p.signal(Signal::SIGINT);
    let (status, _) = p.wait(STOP);
    assert!(status.success(), "{}", p.stderr_text());
    assert!(has_edge(&db, "::1", "::1", port, 6));
}

/// Why CAP_NET_RAW is kept only with reload_interfaces: running as
/// `nobody`, a reload that brings an interface back can open it with the
/// capability kept, and cannot without it (logged, not fatal).
#[test]
fn reload_opens_an_interface_only_when_net_raw_is_kept() {
    if !is_root() {
        eprintln!("SKIPPED: needs root to show the switch to another user");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody");
    for keep in [true, false] {
        let dir = tempdir();
        nix::unistd::chown(dir.path(), Some(nobody.uid), Some(nobody.gid)).unwrap();
        let db = dir.path().join("reopen.db");
        let cfg = dir.path().join("depmap.toml");
        let extra = format!("user = \"nobody\"\nreload_interfaces = {keep}");
        let with_lo = agent_config(&db, "500ms", "host 127.0.52.2", &extra);
        // Without interfaces, a watched directory keeps the config valid.
        let without_lo = format!(
            "store = \"{}\"\nmetrics = \"127.0.0.1:0\"\n{extra}\n[[watch]]\ndirectory = \"{}\"\n",
            db.display(),
            dir.path().display()
        );
        write_config(&cfg, &with_lo);
        let Some(p) = Proc::start(&["agent", "--config", cfg.to_str().unwrap()], dir.path()) else {
            return;
        };
        let up = "depmap_capture_up{interface=\"lo\"}";
        write_config(&cfg, &without_lo);
        p.signal(Signal::SIGHUP);
        p.wait_metric("depmap_reloads_total", STARTUP, |v| v == 1.0);
        assert_eq!(p.metric(up), 0.0);
        write_config(&cfg, &with_lo);
        p.signal(Signal::SIGHUP);
        p.wait_metric("depmap_reloads_total", STARTUP, |v| v == 2.0);
        if keep {
            p.wait_metric(up, STARTUP, |v| v == 1.0);
            talk("127.0.52.1", "127.0.52.2", 993);
            p.wait_metric("depmap_packets_total", STARTUP, |v| v >= 10.0);
        } else {
            assert_eq!(p.metric(up), 0.0);
            let log = p.stderr_text();
            assert!(
                log.contains("cannot open the interface added by the reload")
                    && log.contains("no permission to capture"),
                "{log}"
            );
        }
    }
}
