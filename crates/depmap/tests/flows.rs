//! Flow exports end to end with the real binary: `depmap ingest --flows` on
//! the export captures in the shared test data, and `depmap collect`
//! receiving the same datagrams over loopback UDP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use common::captures;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use depmap_capture::FileReader;
use depmap_edges::{EdgeKey, EdgeStats};
use depmap_store::{EdgeOrigin, MapStore, Store};
use depmap_wire::{decode, Decoded, LinkType};

fn depmap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_depmap"))
        .args(args)
        .env_remove("DEPMAP_DB")
        .output()
        .expect("run depmap")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A store's edges, their origins, and the command's output.
type Ingested = (
    Vec<(EdgeKey, EdgeStats)>,
    Vec<(EdgeKey, EdgeOrigin)>,
    String,
);

/// `ingest --flows` of `names` into a new store; returns the store's edges,
/// their origins and the command's output.
fn ingest_flows(dir: &Path, db: &str, names: &[&str]) -> Ingested {
    let caps = captures().unwrap();
    let db = dir.join(db);
    let mut args = vec![
        "ingest".to_string(),
        "--flows".into(),
        "--db".into(),
        db.display().to_string(),
    ];
    args.extend(names.iter().map(|n| caps.join(n).display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = depmap(&args);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let store = Store::open_existing(&db).unwrap();
    (store.edges().unwrap(), store.edge_origins().unwrap(), out)
}

fn totals(edges: &[(EdgeKey, EdgeStats)]) -> (u64, u64, u64) {
    (
        edges.iter().map(|e| e.1.packets()).sum(),
        edges.iter().map(|e| e.1.bytes()).sum(),
        edges.iter().map(|e| e.1.connections).sum(),
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Sums of packets and bytes over the records pmacct expects.
fn pmacct_totals(name: &str) -> (u64, u64, usize) {
    let p = captures()
        .unwrap()
        .join("../ground-truth")
        .join(format!("pmacct__{name}.expected-flows.json"));
    let text = std::fs::read_to_string(p).unwrap();
    let (mut packets, mut bytes, mut n) = (0, 0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        packets += v["packets"].as_u64().unwrap();
        bytes += v["bytes"].as_u64().unwrap();
        n += 1;
    }
    (packets, bytes, n)
}

#[test]
fn ingest_flows_gives_the_expected_edges() {
    if captures().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // NetFlow v5: 29 records, 78 packets, 88,345 bytes, 29 distinct
    // conversations (no record has its reverse), so 29 edges; the flags
    // have no SYN without ACK, so the port rule decides.
    let (e, o, out) = ingest_flows(d, "v5.db", &["akvorado__nfv5.pcap"]);
    assert_eq!(e.len(), 29, "{out}");
    assert_eq!(totals(&e).0, 78);
    assert_eq!(totals(&e).1, 88_345);
    assert!(o.iter().all(|(_, o)| o.flows && !o.packets && !o.sampled));
    assert!(out.contains("29 flow records"), "{out}");
    // 161.202.212.212:30104 -> 202.152.70.24:11963 (flags PSH+ACK, no
    // reverse record): the lower port is the server's.
    let first = e
        .iter()
        .find(|(k, _)| k.client == ip("202.152.70.24") || k.server == ip("202.152.70.24"))
        .unwrap();
    assert_eq!(
        (first.0.client, first.0.server, first.0.port),
        (ip("161.202.212.212"), ip("202.152.70.24"), 11963)
    );
    assert_eq!((first.1.client_packets, first.1.client_bytes), (1, 133));

    // NetFlow v9 with the data set before its template: all 21 records
    // (sampled 1:100) become edges; one DNS query/answer pair is paired.
    let (e, o, out) = ingest_flows(d, "v9.db", &["akvorado__nfv9_data+templates.pcap"]);
    assert!(out.contains("21 flow records"), "{out}");
    assert!(out.contains("1 decoded later with 11 records"), "{out}");
    assert!(out.contains("1 pairs, 19 unpaired"), "{out}");
    assert_eq!(e.len(), 20);
    assert!(o.iter().all(|(_, o)| o.flows && o.sampled));
    assert!(e.iter().all(|(_, s)| s.packets() % 100 == 0));

    // IPFIX biflows (ipfixprobe): 4 records, 4 edges; the SMTP one keeps
    // both directions.
    let (e, _, _) = ingest_flows(
        d,
        "ipfix.db",
        &["akvorado__ipfix_ipfixprobe_templates+data.pcap"],
    );
    assert_eq!(e.len(), 4);
    let smtp = e.iter().find(|(k, _)| k.port == 25).unwrap();
    assert_eq!(
        (smtp.0.client, smtp.0.server),
        (ip("10.10.1.4"), ip("74.53.140.153"))
    );
    assert_eq!(
        (
            smtp.1.client_packets,
            smtp.1.client_bytes,
            smtp.1.server_packets,
            smtp.1.server_bytes
        ),
        (28, 21_673, 25, 1546)
    );

    // sFlow: 5 samples at 1:1024 on 3 edges, all sampled estimates.
    let (e, o, out) = ingest_flows(d, "sflow.db", &["akvorado__sflow_data-1140.pcap"]);
    assert_eq!(e.len(), 3, "{out}");
    assert_eq!(totals(&e).0, 5 * 1024);
    assert!(o.iter().all(|(_, o)| o.sampled));

    // pmacct: every record's packets and bytes end up on an edge (test 111
    // is the two captures together).
    for (names, expected) in [
        (
            &["pmacct__100-IPFIXv10-CISCO.pcap"][..],
            "100-IPFIXv10-CISCO",
        ),
        (&["pmacct__101-NFv9-CISCO.pcap"][..], "101-NFv9-CISCO"),
        (
            &[
                "pmacct__111-IPFIX-NFv9-mix-00.pcap",
                "pmacct__111-IPFIX-NFv9-mix-01.pcap",
            ][..],
            "111-IPFIX-NFv9-mix",
        ),
    ] {
        let (e, _, out) = ingest_flows(d, &format!("{expected}.db"), names);
        let (packets, bytes, records) = pmacct_totals(expected);
        assert_eq!((totals(&e).0, totals(&e).1), (packets, bytes), "{out}");
        assert!(!e.is_empty() && e.len() <= records);
    }

    // netflow_parser's IPFIX capture: 62,543 records (mostly biflows with
    // an initiator), 25,430 edges; the 51 data sets whose template never
    // came are reported as never decodable.
    let (e, _, out) = ingest_flows(d, "np.db", &["netflow_parser__IPFIX.pcap"]);
    assert!(out.contains("62543 flow records"), "{out}");
    assert!(out.contains("51 never decodable"), "{out}");
    assert_eq!(e.len(), 25_430);

    // ndpi: no template ever arrives: no edge, 23 undecodable sets, no error.
    let (e, _, out) = ingest_flows(d, "ndpi.db", &["ndpi__netflowv9.pcap"]);
    assert!(e.is_empty());
    assert!(out.contains("23 never decodable"), "{out}");
}

#[test]
fn flows_are_never_guessed_and_repeats_are_refused() {
    let Some(caps) = captures() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let db = db.to_str().unwrap();
    let cap = caps.join("akvorado__nfv5.pcap");
    let cap = cap.to_str().unwrap();
    // Without --flows the capture is packets: one UDP edge from the
    // exporter to the collector.
    let o = depmap(&["ingest", "--db", db, cap]);
    assert!(o.status.success());
    let s = Store::open_existing(db).unwrap();
    let e = s.edges().unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0.proto, 17);
    drop(s);
    // The same file as flows is a different input: accepted once ...
    assert!(depmap(&["ingest", "--flows", "--db", db, cap])
        .status
        .success());
    // ... and refused the second time.
    let o = depmap(&["ingest", "--flows", "--db", db, cap]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already ingested"));
    let s = Store::open_existing(db).unwrap();
    assert_eq!(s.edge_count().unwrap(), 30);
    let o = s.edge_origins().unwrap();
    assert_eq!(o.iter().filter(|e| e.1.packets).count(), 1);
    assert_eq!(o.iter().filter(|e| e.1.flows).count(), 29);
    drop(s);

    // sFlow samples at 1:1024 add 3 edges whose figures are estimates.
    let sflow = caps.join("akvorado__sflow_data-1140.pcap");
    assert!(
        depmap(&["ingest", "--flows", "--db", db, sflow.to_str().unwrap()])
            .status
            .success()
    );
    let s = Store::open_existing(db).unwrap();
    let origins: BTreeMap<EdgeKey, EdgeOrigin> = s.edge_origins().unwrap().into_iter().collect();
    assert_eq!(origins.len(), 33);
    let key = |e: &[&str]| EdgeKey {
        client: ip(e[0]),
        server: ip(e[1]),
        port: e[2].parse().unwrap(),
        proto: e[3].parse().unwrap(),
    };

    // The exports say where every edge's figures came from.
    let o = depmap(&["export", "--db", db, "--format", "json"]);
    assert!(o.status.success());
    let map: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let edges = map["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 33);
    let mut seen = BTreeMap::new();
    for e in edges {
        let k = key(&[
            e["client"].as_str().unwrap(),
            e["server"].as_str().unwrap(),
            &e["port"].to_string(),
            &e["proto_number"].to_string(),
        ]);
        let want = origins[&k];
        let sources: Vec<&str> = e["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(sources, want.source_names(), "{e}");
        assert_eq!(e["sampled"], want.sampled, "{e}");
        *seen.entry((sources.join("+"), want.sampled)).or_insert(0) += 1;
    }
    // The exporter -> collector packets, the NetFlow v5 records (unsampled)
    // and the sFlow samples (estimates).
    let want: BTreeMap<(String, bool), i32> = [
        (("packets".to_string(), false), 1),
        (("flows".to_string(), false), 29),
        (("flows".to_string(), true), 3),
    ]
    .into_iter()
    .collect();
    assert_eq!(seen, want);
    // An sFlow edge's packets are 1024 per sample.
    let sampled = edges.iter().find(|e| e["sampled"] == true).unwrap();
    assert_eq!(sampled["packets"].as_u64().unwrap() % 1024, 0);

    let o = depmap(&["export", "--db", db, "--format", "csv"]);
    assert!(o.status.success());
    let csv = stdout(&o);
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .ends_with(",first_seen,last_seen,sources,sampled"));
    let mut rows = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 15, "{line}");
        let proto = match f[3] {
            "tcp" => "6",
            "udp" => "17",
            other => other,
        };
        let want = origins
            .get(&key(&[f[0], f[1], f[2], proto]))
            .unwrap_or_else(|| panic!("{line}"));
        assert_eq!(f[13], want.source_names().join("+"), "{line}");
        assert_eq!(f[14], want.sampled.to_string(), "{line}");
        rows += 1;
    }
    assert_eq!(rows, 33);
    assert_eq!(
        csv.lines().filter(|l| l.ends_with(",flows,true")).count(),
        3
    );
    assert_eq!(
        csv.lines()
            .filter(|l| l.ends_with(",packets,false"))
            .count(),
        1
    );

    // The DOT picture marks the estimates and says so in its legend.
    let o = depmap(&["export", "--db", db, "--format", "dot"]);
    assert!(o.status.success());
    let dot = stdout(&o);
    assert!(dot.contains("estimated from sampled flow records"), "{dot}");
    assert!(dot.contains("\\n~"), "{dot}");
}

/// One export datagram from a capture.
struct Datagram {
    exporter: SocketAddr,
    payload: Vec<u8>,
}

fn datagrams(path: &Path) -> Vec<Datagram> {
    let mut out = Vec::new();
    FileReader::open(path)
        .unwrap()
        .for_each_frame(|f| {
            if let Ok(Decoded::Ip(p)) =
                decode(LinkType::from_linktype(f.linktype), f.data, f.wire_len)
            {
                if p.proto == 17 && !p.is_later_fragment() {
                    out.push(Datagram {
                        exporter: SocketAddr::new(p.src, p.src_port),
                        payload: p.app_payload(f.data).to_vec(),
                    });
                }
            }
        })
        .unwrap();
    out
}

/// A running `depmap collect`, killed if the test fails.
struct Collector {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_collector(db: &Path, extra: &[&str]) -> Collector {
    let mut child = Command::new(env!("CARGO_BIN_EXE_depmap"))
        .args(["collect", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(["--flush-interval", "200ms", "--recv-buffer", "33554432"])
        .args(extra)
        .env_remove("DEPMAP_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.as_mut().unwrap());
    let mut addr = None;
    // The collector prints its sockets, then "store PATH" once bound.
    for _ in 0..10 {
        let mut line = String::new();
        if lines.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.strip_prefix("listening on ") {
            let a = rest.split('/').next().unwrap();
            addr = Some(a.parse().unwrap());
        }
        if line.starts_with("store ") {
            break;
        }
    }
    Collector {
        child,
        addr: addr.expect("the collector printed its address"),
    }
}

/// Sends SIGTERM and waits (bounded) for a clean exit; returns its stdout.
fn stop(mut c: Collector) -> String {
    let pid = c.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = c.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "collector did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    c.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    c.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{out}\n{err}");
    out
}

/// Sends datagrams to `to`, each from a socket of its own per original
/// exporter (so exporters keep separate template scopes), in capture order,
/// pausing briefly every 64 so a small receive buffer is not overrun.
fn send(dgrams: &[Datagram], to: SocketAddr, from: IpAddr) {
    let mut socks: BTreeMap<SocketAddr, UdpSocket> = BTreeMap::new();
    for (i, d) in dgrams.iter().enumerate() {
        let s = socks
            .entry(d.exporter)
            .or_insert_with(|| UdpSocket::bind(SocketAddr::new(from, 0)).unwrap());
        s.send_to(&d.payload, to).unwrap();
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[test]
fn collector_over_loopback_matches_ingest() {
    let Some(caps) = captures() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in [
        "akvorado__nfv5.pcap",
        "akvorado__nfv9_data+templates.pcap",
        "akvorado__ipfix_ipfixprobe_templates+data.pcap",
        "akvorado__sflow_data-1140.pcap",
        "pmacct__100-IPFIXv10-CISCO.pcap",
        "pmacct__101-NFv9-CISCO.pcap",
        "pmacct__111-IPFIX-NFv9-mix-00.pcap",
        "netflow_parser__IPFIX.pcap",
        "ndpi__netflowv9.pcap",
    ]
    .iter()
    .enumerate()
    {
        let (want, want_origin, _) = ingest_flows(dir.path(), &format!("i{i}.db"), &[name]);
        let db = dir.path().join(format!("c{i}.db"));
        let c = start_collector(&db, &[]);
        let dgrams = datagrams(&caps.join(name));
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        send(&dgrams, c.addr, ip("127.0.0.1"));
        let out = stop(c);
        assert!(
            out.contains(&format!("{} datagrams", dgrams.len())),
            "{name}: {out}"
        );
        assert!(out.contains("kernel drops 0"), "{name}: {out}");
        let s = Store::open_existing(&db).unwrap();
        let got = s.edges().unwrap();
        assert_eq!(got.len(), want.len(), "{name}: {out}");
        let sflow = name.contains("sflow");
        for ((gk, gs), (wk, ws)) in got.iter().zip(&want) {
            assert_eq!(gk, wk, "{name}");
            if sflow {
                // sFlow carries no flow times: they are the receive times,
                // the capture's in one case and the clock's in the other.
                assert!(gs.first_seen >= started, "{name}");
                let strip = |s: &EdgeStats| EdgeStats {
                    first_seen: 0,
                    last_seen: 0,
                    ..*s
                };
                assert_eq!(strip(gs), strip(ws), "{name} {gk:?}");
            } else {
                assert_eq!(gs, ws, "{name} {gk:?}");
            }
        }
        assert_eq!(s.edge_origins().unwrap(), want_origin, "{name}");
        if !sflow {
            assert_eq!(
                s.activity().unwrap(),
                Store::open_existing(dir.path().join(format!("i{i}.db")))
                    .unwrap()
                    .activity()
                    .unwrap(),
                "{name}"
            );
        }
    }
}

#[test]
fn collector_drops_exporters_not_allowed() {
    let Some(caps) = captures() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let c = start_collector(&db, &["--allow-exporter", "127.0.0.2/32"]);
    let dgrams = datagrams(&caps.join("akvorado__nfv5.pcap"));
    // From 127.0.0.1: not allowed. From 127.0.0.2 (Linux answers all of
    // 127/8): allowed.
    send(&dgrams, c.addr, ip("127.0.0.1"));
    send(&dgrams, c.addr, ip("127.0.0.2"));
    let out = stop(c);
    assert!(
        out.contains("1 datagrams (1498 bytes), 1 from exporters not allowed (dropped)")
            || out.contains("1 from exporters not allowed (dropped)"),
        "{out}"
    );
    assert!(
        out.contains("29 flow records") || out.contains("records: 29"),
        "{out}"
    );
    let s = Store::open_existing(&db).unwrap();
    assert_eq!(s.edge_count().unwrap(), 29);
}

#[test]
fn collect_has_help_and_rejects_bad_flags() {
    let o = depmap(&["collect", "--help"]);
    let out = stdout(&o);
    for flag in [
        "--listen",
        "--db",
        "--allow-exporter",
        "--recv-buffer",
        "--flush-interval",
    ] {
        assert!(out.contains(flag), "{flag} missing from:\n{out}");
    }
    let o = depmap(&[
        "collect",
        "--listen",
        "127.0.0.1:0",
        "--allow-exporter",
        "10.0.0.0/40",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--allow-exporter"));
    let o = depmap(&[
        "collect",
        "--listen",
        "127.0.0.1:0",
        "--flush-interval",
        "soon",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--flush-interval"));
}
