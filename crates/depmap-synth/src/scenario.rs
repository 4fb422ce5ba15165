//! The demo scenario as data: hosts and their roles, the services between
//! them, the schedules they run on, and the edges depmap should find.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::app::{App, DnsName};
use crate::apps::{self, Talk};
use crate::civil::{
    civil_from_days, day_of, days_from_civil, weekday, MICROS_PER_DAY, MICROS_PER_SEC, SECS_PER_DAY,
};
use crate::conv::{Conv, Peer, Transport};
use crate::rng::{mix, Rng};
use crate::traffic::{Ctx, Source, Summary, Traffic};

/// What a host does. Stable lower-case names via [`Role::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Role {
    /// A user's desktop or laptop.
    Workstation,
    /// DNS resolver and authoritative server for the internal zone.
    Dns,
    /// NTP server.
    Ntp,
    /// LDAP directory.
    Directory,
    /// SMTP relay.
    Mail,
    /// Monitoring (Prometheus).
    Monitoring,
    /// Load balancer in front of the application servers.
    LoadBalancer,
    /// Application server.
    AppServer,
    /// PostgreSQL database.
    Database,
    /// Redis cache.
    Cache,
    /// Backup server.
    Backup,
    /// Batch-job host (reports).
    Batch,
    /// Finance application.
    Finance,
    /// A legacy host being retired.
    Legacy,
    /// FTP server.
    FileTransfer,
    /// Intranet wiki.
    Wiki,
    /// A service outside the company.
    External,
    /// A host of a benchmark capture.
    Synthetic,
}

impl Role {
    /// A short stable name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Workstation => "workstation",
            Role::Dns => "dns",
            Role::Ntp => "ntp",
            Role::Directory => "directory",
            Role::Mail => "mail",
            Role::Monitoring => "monitoring",
            Role::LoadBalancer => "load-balancer",
            Role::AppServer => "app-server",
            Role::Database => "database",
            Role::Cache => "cache",
            Role::Backup => "backup",
            Role::Batch => "batch",
            Role::Finance => "finance",
            Role::Legacy => "legacy",
            Role::FileTransfer => "file-transfer",
            Role::Wiki => "wiki",
            Role::External => "external",
            Role::Synthetic => "synthetic",
        }
    }

    /// Whether hosts of this role serve others (workstations, batch and
    /// monitoring hosts only call out).
    pub fn is_server(self) -> bool {
        !matches!(
            self,
            Role::Workstation | Role::Monitoring | Role::External | Role::Synthetic
        )
    }
}

/// One address of a host in the role inventory. A dual-stack host appears
/// once per address, under the same name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// The address.
    pub addr: IpAddr,
    /// Its fully qualified name.
    pub name: String,
    /// What it does.
    pub role: Role,
}

/// When a service's conversations start. Times are UTC; each pair (or
/// client, see [`Fanout`]) runs its own copy of the schedule with its own
/// random phase and jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Schedule {
    /// Around the clock, as a Poisson process with this mean gap.
    Poisson {
        /// Mean seconds between conversations.
        mean_secs: u32,
    },
    /// Monday to Friday, 08:00-18:00, as a Poisson process with this mean
    /// gap (counted in business time).
    BusinessHours {
        /// Mean seconds between conversations.
        mean_secs: u32,
    },
    /// Every `secs` seconds around the clock, each start late by up to
    /// `jitter_secs` (less than `secs`).
    Every {
        /// The period.
        secs: u32,
        /// The most a start is late.
        jitter_secs: u32,
    },
    /// Every day at `at_secs` after midnight, late by up to `jitter_secs`.
    Daily {
        /// Seconds after midnight.
        at_secs: u32,
        /// The most a start is late.
        jitter_secs: u32,
    },
    /// Every week on `weekday` (0 = Monday) at `at_secs` after midnight.
    Weekly {
        /// 0 = Monday ... 6 = Sunday.
        weekday: u32,
        /// Seconds after midnight.
        at_secs: u32,
        /// The most a start is late.
        jitter_secs: u32,
    },
    /// Every month on day `day` (1-31) at `at_secs` after midnight.
    Monthly {
        /// Day of the month.
        day: u32,
        /// Seconds after midnight.
        at_secs: u32,
        /// The most a start is late.
        jitter_secs: u32,
    },
    /// Once, at `at_secs` (Unix seconds).
    Once {
        /// Unix seconds.
        at_secs: i64,
    },
}

/// How a service's clients pick servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fanout {
    /// Every client talks to every server, each pair on its own schedule
    /// (monitoring, backups).
    EachPair,
    /// Each client runs one schedule and sends each conversation to one of
    /// the servers at random (a load balancer spreading requests).
    Spread,
}

/// The activity pattern an edge should be classified as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Pattern {
    /// Active around the clock.
    Continuous,
    /// Active Monday-Friday, 08:00-18:00 only.
    BusinessHours,
    /// Once a day at a fixed time.
    Daily,
    /// Once a week at a fixed time.
    Weekly,
    /// Once a month at a fixed time.
    Monthly,
    /// Seen once.
    OneOff,
    /// Active for a while, then silent until the end of the capture.
    Stopped,
}

impl Pattern {
    /// A short stable name.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Continuous => "continuous",
            Pattern::BusinessHours => "business-hours",
            Pattern::Daily => "daily",
            Pattern::Weekly => "weekly",
            Pattern::Monthly => "monthly",
            Pattern::OneOff => "one-off",
            Pattern::Stopped => "stopped",
        }
    }
}

/// One service of a scenario: who calls whom, with what, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// A short name (`web`, `backup`, ...).
    pub name: &'static str,
    /// The calling hosts.
    pub clients: Vec<IpAddr>,
    /// The serving hosts.
    pub servers: Vec<IpAddr>,
    /// The server port (0 for ICMP).
    pub port: u16,
    /// The protocol spoken.
    pub app: App,
    /// When conversations start.
    pub schedule: Schedule,
    /// How clients pick servers.
    pub fanout: Fanout,
    /// No conversation starts at or after this time (Unix seconds).
    pub until_secs: Option<i64>,
}

impl Service {
    /// The pattern this service's edges show over the scenario.
    pub fn pattern(&self) -> Pattern {
        if self.until_secs.is_some() {
            return Pattern::Stopped;
        }
        match self.schedule {
            Schedule::Poisson { .. } | Schedule::Every { .. } => Pattern::Continuous,
            Schedule::BusinessHours { .. } => Pattern::BusinessHours,
            Schedule::Daily { .. } => Pattern::Daily,
            Schedule::Weekly { .. } => Pattern::Weekly,
            Schedule::Monthly { .. } => Pattern::Monthly,
            Schedule::Once { .. } => Pattern::OneOff,
        }
    }
}

/// An edge the scenario produces, in depmap's terms
/// (`depmap_edges::EdgeKey` plus the pattern and the service behind it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExpectedEdge {
    /// The initiating side.
    pub client: IpAddr,
    /// The serving side.
    pub server: IpAddr,
    /// The server port (0 for ICMP).
    pub port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// How the edge's activity should be classified.
    pub pattern: Pattern,
    /// The [`Service::name`] that produces it.
    pub service: &'static str,
}

/// A scenario: hosts, services and the time span they run over.
/// See the crate docs for [`Scenario::small_company`].
#[derive(Clone, Debug)]
pub struct Scenario {
    start_secs: i64,
    days: u32,
    hosts: Vec<Host>,
    services: Vec<Service>,
    zone: Vec<DnsName>,
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn v6(segments: [u16; 8]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(
        segments[0],
        segments[1],
        segments[2],
        segments[3],
        segments[4],
        segments[5],
        segments[6],
        segments[7],
    ))
}

/// The demo's hosts: (address, name, role). Workstations are added in code.
const SMALL_COMPANY_HOSTS: &[([u8; 4], &str, Role)] = &[
    ([10, 10, 0, 10], "ldap.corp.example", Role::Directory),
    ([10, 10, 0, 25], "mail.corp.example", Role::Mail),
    ([10, 10, 0, 53], "ns1.corp.example", Role::Dns),
    ([10, 10, 0, 90], "mon.corp.example", Role::Monitoring),
    ([10, 10, 0, 123], "ntp.corp.example", Role::Ntp),
    ([10, 10, 2, 10], "lb.corp.example", Role::LoadBalancer),
    ([10, 10, 3, 11], "app1.corp.example", Role::AppServer),
    ([10, 10, 3, 12], "app2.corp.example", Role::AppServer),
    ([10, 10, 3, 13], "app3.corp.example", Role::AppServer),
    ([10, 10, 3, 40], "reports.corp.example", Role::Batch),
    ([10, 10, 3, 50], "finance.corp.example", Role::Finance),
    ([10, 10, 3, 60], "legacy.corp.example", Role::Legacy),
    ([10, 10, 4, 20], "db.corp.example", Role::Database),
    ([10, 10, 4, 30], "cache.corp.example", Role::Cache),
    ([10, 10, 5, 5], "backup.corp.example", Role::Backup),
    ([10, 10, 6, 6], "ftp.corp.example", Role::FileTransfer),
    ([203, 0, 113, 10], "api.audit.example", Role::External),
];

/// Names workstations look up (repeats weight the choice; `wpad` is the
/// classic lookup that gets NXDOMAIN).
const WORKSTATION_LOOKUPS: &[&str] = &[
    "app.corp.example",
    "app.corp.example",
    "app.corp.example",
    "www.corp.example",
    "wiki.corp.example",
    "mail.corp.example",
    "ntp.corp.example",
    "wpad.corp.example",
];

/// Names the application servers look up.
const APP_LOOKUPS: &[&str] = &["db.corp.example", "cache.corp.example", "ldap.corp.example"];

/// Workstations that use the IPv6-only wiki: ws01-ws08.
const WIKI_USERS: usize = 8;

/// Workstations: `ws01`..`ws20` at 10.10.1.101-120 and fd00:10:10:1::101-120.
const WORKSTATIONS: u8 = 20;

/// How often the monitoring host scrapes each server (see the crate docs
/// for why not every minute).
pub const SCRAPE_INTERVAL_SECS: u32 = 1800;

impl Scenario {
    /// The seed `depmap demo` uses.
    pub const DEMO_SEED: u64 = 0x2026_1001;

    /// The demo: a small company over 35 days from 2026-10-01T00:00:00Z.
    /// The crate docs describe its hosts and schedules.
    pub fn small_company() -> Scenario {
        let start_secs = days_from_civil(2026, 10, 1) * SECS_PER_DAY;
        let days = 35;
        let mut hosts: Vec<Host> = SMALL_COMPANY_HOSTS
            .iter()
            .map(|(a, name, role)| Host {
                addr: IpAddr::from(*a),
                name: (*name).to_string(),
                role: *role,
            })
            .collect();
        let mut ws4 = Vec::new();
        let mut ws6 = Vec::new();
        for i in 1..=WORKSTATIONS {
            let name = format!("ws{i:02}.corp.example");
            let a4 = v4(10, 10, 1, 100 + i);
            let a6 = v6([0xfd00, 0x10, 0x10, 1, 0, 0, 0, 0x100 + u16::from(i)]);
            for addr in [a4, a6] {
                hosts.push(Host {
                    addr,
                    name: name.clone(),
                    role: Role::Workstation,
                });
            }
            ws4.push(a4);
            ws6.push(a6);
        }
        let mon6 = v6([0xfd00, 0x10, 0x10, 0, 0, 0, 0, 0x90]);
        let wiki = v6([0xfd00, 0x10, 0x10, 2, 0, 0, 0, 0x20]);
        hosts.push(Host {
            addr: mon6,
            name: "mon.corp.example".into(),
            role: Role::Monitoring,
        });
        hosts.push(Host {
            addr: wiki,
            name: "wiki.corp.example".into(),
            role: Role::Wiki,
        });

        let dns = v4(10, 10, 0, 53);
        let ntp = v4(10, 10, 0, 123);
        let ldap = v4(10, 10, 0, 10);
        let mail = v4(10, 10, 0, 25);
        let mon = v4(10, 10, 0, 90);
        let lb = v4(10, 10, 2, 10);
        let app = vec![v4(10, 10, 3, 11), v4(10, 10, 3, 12), v4(10, 10, 3, 13)];
        let reports = v4(10, 10, 3, 40);
        let finance = v4(10, 10, 3, 50);
        let legacy = v4(10, 10, 3, 60);
        let db = v4(10, 10, 4, 20);
        let cache = v4(10, 10, 4, 30);
        let backup = v4(10, 10, 5, 5);
        let ftp = v4(10, 10, 6, 6);
        let audit = v4(203, 0, 113, 10);
        let ws07 = ws4[6];

        // Every internal server, for monitoring; all but the backup server
        // itself, for backups.
        let servers: Vec<IpAddr> = hosts
            .iter()
            .filter(|h| h.role.is_server() && h.role != Role::External)
            .map(|h| h.addr)
            .collect();
        let monitored_v4: Vec<IpAddr> = servers.iter().copied().filter(IpAddr::is_ipv4).collect();
        let monitored_v6: Vec<IpAddr> = servers.iter().copied().filter(IpAddr::is_ipv6).collect();
        let backed_up: Vec<IpAddr> = monitored_v4
            .iter()
            .copied()
            .filter(|a| *a != backup)
            .collect();

        let hour = 3600;
        let svc = |name, clients: Vec<IpAddr>, servers: Vec<IpAddr>, port, app, schedule| Service {
            name,
            clients,
            servers,
            port,
            app,
            schedule,
            fanout: Fanout::EachPair,
            until_secs: None,
        };
        let services = vec![
            svc(
                "dns",
                ws4.clone(),
                vec![dns],
                53,
                App::Dns {
                    names: WORKSTATION_LOOKUPS,
                },
                Schedule::BusinessHours { mean_secs: hour },
            ),
            svc(
                "dns-servers",
                app.clone(),
                vec![dns],
                53,
                App::Dns { names: APP_LOOKUPS },
                Schedule::Poisson { mean_secs: 2700 },
            ),
            svc(
                "ntp",
                ws4.clone(),
                vec![ntp],
                123,
                App::Ntp,
                Schedule::Every {
                    secs: 5400,
                    jitter_secs: 60,
                },
            ),
            svc(
                "web",
                ws4.clone(),
                vec![lb],
                443,
                App::Tls {
                    sni: "app.corp.example",
                },
                Schedule::BusinessHours {
                    mean_secs: 4 * hour,
                },
            ),
            Service {
                fanout: Fanout::Spread,
                ..svc(
                    "web-backend",
                    vec![lb],
                    app.clone(),
                    8080,
                    App::Http {
                        host: "app.corp.example",
                    },
                    Schedule::BusinessHours { mean_secs: 900 },
                )
            },
            svc(
                "wiki",
                ws6[..WIKI_USERS].to_vec(),
                vec![wiki],
                443,
                App::Tls {
                    sni: "wiki.corp.example",
                },
                Schedule::BusinessHours {
                    mean_secs: 4 * hour,
                },
            ),
            svc(
                "database",
                app.clone(),
                vec![db],
                5432,
                App::Postgres,
                Schedule::Every {
                    secs: hour,
                    jitter_secs: 1800,
                },
            ),
            svc(
                "cache",
                app.clone(),
                vec![cache],
                6379,
                App::Redis,
                Schedule::Every {
                    secs: hour,
                    jitter_secs: 1800,
                },
            ),
            svc(
                "directory",
                app.clone(),
                vec![ldap],
                389,
                App::Ldap,
                Schedule::BusinessHours {
                    mean_secs: 3 * hour,
                },
            ),
            svc(
                "monitoring",
                vec![mon],
                monitored_v4,
                9100,
                App::Metrics,
                Schedule::Every {
                    secs: SCRAPE_INTERVAL_SECS,
                    jitter_secs: 30,
                },
            ),
            svc(
                "monitoring-v6",
                vec![mon6],
                monitored_v6.clone(),
                9100,
                App::Metrics,
                Schedule::Every {
                    secs: SCRAPE_INTERVAL_SECS,
                    jitter_secs: 30,
                },
            ),
            svc(
                "ping",
                vec![mon],
                vec![lb],
                0,
                App::Ping,
                Schedule::Every {
                    secs: hour,
                    jitter_secs: 30,
                },
            ),
            svc(
                "ping-v6",
                vec![mon6],
                monitored_v6,
                0,
                App::Ping,
                Schedule::Every {
                    secs: hour,
                    jitter_secs: 30,
                },
            ),
            svc(
                "backup",
                vec![backup],
                backed_up,
                22,
                App::Ssh { bytes: 15_000 },
                Schedule::Daily {
                    at_secs: 2 * hour,
                    jitter_secs: 900,
                },
            ),
            svc(
                "weekly-report",
                vec![reports],
                vec![mail],
                25,
                App::Smtp,
                Schedule::Weekly {
                    weekday: 0,
                    at_secs: 7 * hour,
                    jitter_secs: 120,
                },
            ),
            svc(
                "weekly-report-query",
                vec![reports],
                vec![db],
                5432,
                App::Postgres,
                Schedule::Weekly {
                    weekday: 0,
                    at_secs: 7 * hour - 300,
                    jitter_secs: 60,
                },
            ),
            svc(
                "audit-export",
                vec![finance],
                vec![audit],
                443,
                App::Tls {
                    sni: "api.audit.example",
                },
                Schedule::Monthly {
                    day: 1,
                    at_secs: 6 * hour,
                    jitter_secs: 60,
                },
            ),
            svc(
                "adhoc-psql",
                vec![ws07],
                vec![db],
                5432,
                App::Postgres,
                Schedule::Once {
                    at_secs: days_from_civil(2026, 10, 14) * SECS_PER_DAY + 14 * 3600 + 23 * 60,
                },
            ),
            Service {
                until_secs: Some(start_secs + 20 * SECS_PER_DAY),
                ..svc(
                    "legacy-ftp",
                    vec![legacy],
                    vec![ftp],
                    21,
                    App::Ftp,
                    Schedule::Every {
                        secs: hour,
                        jitter_secs: 300,
                    },
                )
            },
        ];

        let zone = vec![
            DnsName {
                name: "app.corp.example",
                cname: None,
                addr: lb,
            },
            DnsName {
                name: "www.corp.example",
                cname: Some("app.corp.example"),
                addr: lb,
            },
            DnsName {
                name: "wiki.corp.example",
                cname: None,
                addr: wiki,
            },
            DnsName {
                name: "mail.corp.example",
                cname: None,
                addr: mail,
            },
            DnsName {
                name: "ntp.corp.example",
                cname: None,
                addr: ntp,
            },
            DnsName {
                name: "ldap.corp.example",
                cname: None,
                addr: ldap,
            },
            DnsName {
                name: "db.corp.example",
                cname: None,
                addr: db,
            },
            DnsName {
                name: "cache.corp.example",
                cname: None,
                addr: cache,
            },
        ];

        Scenario {
            start_secs,
            days,
            hosts,
            services,
            zone,
        }
    }

    /// The first second of the scenario (Unix seconds).
    pub fn start_secs(&self) -> i64 {
        self.start_secs
    }

    /// The end of the scenario (Unix seconds, exclusive).
    pub fn end_secs(&self) -> i64 {
        self.start_secs + i64::from(self.days) * SECS_PER_DAY
    }

    /// The number of days it spans.
    pub fn days(&self) -> u32 {
        self.days
    }

    /// The role inventory: every address with its host name and role.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The inventory entry of `addr`.
    pub fn host(&self, addr: IpAddr) -> Option<&Host> {
        self.hosts.iter().find(|h| h.addr == addr)
    }

    /// The services, in the order the crate docs list them.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// The names the DNS server answers (what a naming feature can learn).
    pub fn dns_names(&self) -> &[DnsName] {
        &self.zone
    }

    /// Every edge the scenario produces, sorted, each with its pattern and
    /// service. With any seed, each of them occurs in the generated traffic.
    pub fn expected_edges(&self) -> Vec<ExpectedEdge> {
        let mut edges = Vec::new();
        for s in &self.services {
            for &client in &s.clients {
                for &server in &s.servers {
                    edges.push(ExpectedEdge {
                        client,
                        server,
                        port: s.port,
                        proto: s.app.proto(server.is_ipv6()),
                        pattern: s.pattern(),
                        service: s.name,
                    });
                }
            }
        }
        edges.sort();
        edges.dedup();
        edges
    }

    /// The scenario's traffic for `seed`, as a stream of frames.
    pub fn traffic(&self, seed: u64) -> Traffic {
        let start = self.start_secs * MICROS_PER_SEC;
        let end = self.end_secs() * MICROS_PER_SEC;
        let zone: Arc<[DnsName]> = self.zone.iter().copied().collect();
        let router = mac_of("gw.corp.example");
        let mut sources: Vec<Box<dyn Source>> = Vec::new();
        for (si, s) in self.services.iter().enumerate() {
            let until = s.until_secs.map_or(end, |u| (u * MICROS_PER_SEC).min(end));
            let peer = |addr: IpAddr, port: u16| self.peer(addr, port, router);
            let groups: Vec<(IpAddr, Vec<IpAddr>)> = match s.fanout {
                Fanout::EachPair => s
                    .clients
                    .iter()
                    .flat_map(|&c| s.servers.iter().map(move |&v| (c, vec![v])))
                    .collect(),
                Fanout::Spread => s.clients.iter().map(|&c| (c, s.servers.clone())).collect(),
            };
            for (gi, (client, servers)) in groups.into_iter().enumerate() {
                let client_host = self.host(client);
                let workstation = client_host.is_some_and(|h| h.role == Role::Workstation);
                let external = servers
                    .iter()
                    .any(|a| self.host(*a).is_some_and(|h| h.role == Role::External));
                let stream = ((si as u64) << 32) | gi as u64;
                let mut src = ScheduleSource {
                    rng: Rng::derive(seed, stream),
                    client: peer(client, 0),
                    client_ports: if workstation {
                        (49_152, 65_535)
                    } else {
                        (32_768, 60_999)
                    },
                    client_name: client_host.map_or_else(String::new, |h| h.name.clone()),
                    servers: servers.iter().map(|&a| peer(a, s.port)).collect(),
                    app: s.app,
                    schedule: s.schedule,
                    start,
                    end: until,
                    next: None,
                    nominal: start,
                    zone: Arc::clone(&zone),
                    rtt: if external {
                        (18_000, 35_000)
                    } else {
                        (120, 600)
                    },
                };
                src.next = src.schedule_next(true);
                sources.push(Box::new(src));
            }
        }
        Traffic::new(seed, sources)
    }

    /// Writes the scenario's traffic for `seed` as a classic pcap file.
    pub fn write_pcap<W: Write>(&self, seed: u64, out: W) -> io::Result<Summary> {
        self.traffic(seed).write_pcap(out)
    }

    fn peer(&self, addr: IpAddr, port: u16, router: [u8; 6]) -> Peer {
        let host = self.host(addr);
        let (mac, ttl) = match host {
            // Packets from outside come through the router, a dozen hops away.
            Some(h) if h.role == Role::External => (router, 51),
            Some(h) if h.role == Role::Workstation => (mac_of(&h.name), 128),
            Some(h) => (mac_of(&h.name), 64),
            None => (mac_of(&addr.to_string()), 64),
        };
        Peer {
            addr,
            mac,
            ttl,
            port,
        }
    }
}

/// A stable, locally administered MAC address for a host name (the same on
/// all of a dual-stack host's addresses).
pub(crate) fn mac_of(name: &str) -> [u8; 6] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let b = mix(h).to_be_bytes();
    [0x02, b[0], b[1], b[2], b[3], b[4]]
}

/// One schedule of one client (and its server or servers).
struct ScheduleSource {
    rng: Rng,
    client: Peer,
    client_ports: (u16, u16),
    client_name: String,
    servers: Vec<Peer>,
    app: App,
    schedule: Schedule,
    start: i64,
    end: i64,
    next: Option<i64>,
    /// The schedule's nominal time of the last start (before jitter).
    nominal: i64,
    zone: Arc<[DnsName]>,
    rtt: (i64, i64),
}

const BUSINESS_OPEN: i64 = 8 * 3600 * MICROS_PER_SEC;
const BUSINESS_CLOSE: i64 = 18 * 3600 * MICROS_PER_SEC;

fn in_business_hours(t: i64) -> bool {
    let day = day_of(t);
    let tod = t - day * MICROS_PER_DAY;
    weekday(day) < 5 && (BUSINESS_OPEN..BUSINESS_CLOSE).contains(&tod)
}

/// The next business-hours opening at or after `t`.
fn next_opening(t: i64) -> i64 {
    let mut day = day_of(t);
    if t - day * MICROS_PER_DAY >= BUSINESS_OPEN {
        day += 1;
    }
    while weekday(day) >= 5 {
        day += 1;
    }
    day * MICROS_PER_DAY + BUSINESS_OPEN
}

impl ScheduleSource {
    fn jitter(&mut self, secs: u32) -> i64 {
        self.rng.below(u64::from(secs) * MICROS_PER_SEC as u64 + 1) as i64
    }

    fn exponential(&mut self, mean_secs: u32) -> i64 {
        let gap = self
            .rng
            .exponential(f64::from(mean_secs) * MICROS_PER_SEC as f64);
        (gap as i64).max(1)
    }

    /// The first day at or after the current nominal day (the day after it
    /// unless `first`) that `matches`, at `at_secs`.
    fn next_day(&mut self, first: bool, at_secs: u32, matches: impl Fn(i64) -> bool) -> i64 {
        let at = i64::from(at_secs) * MICROS_PER_SEC;
        let mut day = if first {
            day_of(self.start)
        } else {
            day_of(self.nominal) + 1
        };
        while !matches(day) || day * MICROS_PER_DAY + at < self.start {
            day += 1;
            if day * MICROS_PER_DAY > self.end {
                break;
            }
        }
        day * MICROS_PER_DAY + at
    }

    /// The start after the current one (the first if `first`), or `None`
    /// past the end.
    fn schedule_next(&mut self, first: bool) -> Option<i64> {
        let from = if first { self.start } else { self.next? };
        let t = match self.schedule {
            Schedule::Poisson { mean_secs } => from + self.exponential(mean_secs),
            Schedule::BusinessHours { mean_secs } => {
                let mut t = from;
                loop {
                    if t >= self.end {
                        return None;
                    }
                    if !in_business_hours(t) {
                        t = next_opening(t);
                    }
                    // Memoryless: restarting the gap at the opening is
                    // still a Poisson process over business time.
                    let candidate = t + self.exponential(mean_secs);
                    if in_business_hours(candidate) {
                        break candidate;
                    }
                    t = candidate;
                }
            }
            Schedule::Every { secs, jitter_secs } => {
                let period = i64::from(secs.max(1)) * MICROS_PER_SEC;
                self.nominal = if first {
                    self.start + self.rng.below(period as u64) as i64
                } else {
                    self.nominal + period
                };
                self.nominal + self.jitter(jitter_secs.min(secs.saturating_sub(1)))
            }
            Schedule::Daily {
                at_secs,
                jitter_secs,
            } => {
                self.nominal = self.next_day(first, at_secs, |_| true);
                self.nominal + self.jitter(jitter_secs)
            }
            Schedule::Weekly {
                weekday: wd,
                at_secs,
                jitter_secs,
            } => {
                self.nominal = self.next_day(first, at_secs, |d| weekday(d) == wd);
                self.nominal + self.jitter(jitter_secs)
            }
            Schedule::Monthly {
                day,
                at_secs,
                jitter_secs,
            } => {
                self.nominal = self.next_day(first, at_secs, |d| civil_from_days(d).2 == day);
                self.nominal + self.jitter(jitter_secs)
            }
            Schedule::Once { at_secs } => {
                let at = at_secs * MICROS_PER_SEC;
                if !first || at < self.start {
                    return None;
                }
                at
            }
        };
        (t < self.end).then_some(t)
    }
}

impl Source for ScheduleSource {
    fn next_start(&self) -> Option<i64> {
        self.next
    }

    fn spawn(&mut self, ctx: &mut Ctx, conv: &mut Conv) {
        let Some(t) = self.next else {
            return;
        };
        let server = match self.servers.len() {
            0 => {
                self.next = None;
                return;
            }
            1 => self.servers[0],
            n => self.servers[self.rng.below(n as u64) as usize],
        };
        let transport = self.app.transport();
        let mut client = self.client;
        if transport != Transport::Icmp {
            let (lo, hi) = self.client_ports;
            client.port = ctx.ephemeral_port(client.addr, lo, hi);
        }
        let rtt = self.rng.range(self.rtt.0 as u64, self.rtt.1 as u64) as i64;
        conv.reset(client, server, transport, rtt, self.rng.next_u64());
        let talk = Talk {
            zone: &self.zone,
            client_name: &self.client_name,
            server: (server.addr, server.port),
            size_percent: 100,
        };
        apps::play(self.app, &mut conv.script(t), &mut self.rng, &talk);
        self.next = self.schedule_next(false);
    }
}
