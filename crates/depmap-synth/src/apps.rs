//! What each application protocol puts on the wire, as a conversation
//! script: sizes, turn-taking and timing, plus the payload heads that depmap
//! reads (TLS SNI, HTTP Host, DNS answers).

use std::net::IpAddr;

use crate::app::{App, DnsName};
use crate::conv::{Script, Side};
use crate::payload::{self, push_addr, push_num, push_str};
use crate::rng::Rng;
use Side::{Client, Server};

const MS: i64 = 1000;
const SEC: i64 = 1_000_000;

/// What a script needs to know beyond the app.
pub(crate) struct Talk<'a> {
    /// The zone DNS answers come from.
    pub(crate) zone: &'a [DnsName],
    /// The client's host name (for SMTP's EHLO).
    pub(crate) client_name: &'a str,
    /// The server's address and port (for `Host:` headers of scrapes).
    pub(crate) server: (IpAddr, u16),
    /// A scale for response sizes in percent (100 = as documented).
    pub(crate) size_percent: u64,
}

/// A size in `lo..=hi`, skewed towards `lo` (most responses are small).
fn size(rng: &mut Rng, lo: u64, hi: u64) -> usize {
    let u = rng.below(1001);
    (lo + (hi.saturating_sub(lo)) * u * u / 1_000_000) as usize
}

/// `n` scaled by the talk's size percentage (at least 1).
fn scaled(talk: &Talk<'_>, n: usize) -> usize {
    (n as u64 * talk.size_percent / 100).max(1) as usize
}

/// A delay in `lo..=hi` microseconds.
fn delay(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    rng.range(lo as u64, hi as u64) as i64
}

/// Writes `app`'s conversation into `s`.
pub(crate) fn play(app: App, s: &mut Script<'_>, rng: &mut Rng, talk: &Talk<'_>) {
    match app {
        App::Tls { sni } => tls(s, rng, talk, sni),
        App::Http { host } => http(s, rng, talk, host),
        App::Metrics => metrics(s, rng, talk),
        App::Dns { names } => dns(s, rng, talk, names),
        App::Ntp => ntp(s, rng),
        App::Ping => ping(s, rng),
        App::Postgres => postgres(s, rng, talk),
        App::Redis => redis(s, rng),
        App::Ldap => ldap(s, rng, talk),
        App::Ssh { bytes } => ssh(s, rng, talk, bytes),
        App::Smtp => smtp(s, rng, talk),
        App::Ftp => ftp(s, rng),
    }
}

/// An HTTPS connection: ClientHello with `sni`, the server's handshake, then
/// 1-2 exchanges of application data.
fn tls(s: &mut Script<'_>, rng: &mut Rng, talk: &Talk<'_>, sni: &'static str) {
    s.tcp_open(rng.next_u64());
    let mut hello_rng = Rng::new(rng.next_u64());
    s.tcp_burst(Client, delay(rng, 20, 300), 0, false, true, |o, _| {
        payload::tls_client_hello(o, sni, &mut hello_rng)
    });
    // ServerHello, then encrypted extensions, certificate chain, ...
    let hs = size(rng, 2600, 4300);
    s.tcp_burst(Server, delay(rng, 300, 1500), hs, false, true, |o, _| {
        payload::tls_record_header(o, payload::TLS_HANDSHAKE, 122)
    });
    let rounds = 1 + rng.below(2);
    for round in 0..rounds {
        let think = if round == 0 {
            delay(rng, 200, 2000)
        } else {
            delay(rng, 200 * MS, 5 * SEC)
        };
        let req = size(rng, 300, 900);
        s.tcp_burst(Client, think, req, false, true, |o, _| {
            payload::tls_record_header(o, payload::TLS_APPLICATION_DATA, req)
        });
        let resp = scaled(talk, size(rng, 400, 7000));
        s.tcp_burst(
            Server,
            delay(rng, MS, 40 * MS),
            resp,
            false,
            true,
            |o, _| payload::tls_record_header(o, payload::TLS_APPLICATION_DATA, resp),
        );
    }
    s.tcp_close(Client, delay(rng, 50 * MS, 2 * SEC));
}

/// An HTTP/1.1 keep-alive connection: 1-3 `GET`s with `Host: <host>`, each
/// answered with a JSON body.
fn http(s: &mut Script<'_>, rng: &mut Rng, talk: &Talk<'_>, host: &'static str) {
    s.tcp_open(rng.next_u64());
    const PATHS: [&str; 6] = [
        "/api/v1/orders",
        "/api/v1/orders/4711",
        "/api/v1/customers/search?q=meier",
        "/api/v1/invoices?status=open",
        "/static/app.js",
        "/api/v1/session",
    ];
    let rounds = 1 + rng.below(3);
    for round in 0..rounds {
        let path = PATHS[rng.below(PATHS.len() as u64) as usize];
        let gap = if round == 0 {
            0
        } else {
            delay(rng, MS, 300 * MS)
        };
        s.tcp_burst(Client, gap, 0, true, true, |o, _| {
            push_str(o, &["GET ", path, " HTTP/1.1\r\nHost: ", host, "\r\n"]);
            push_str(
                o,
                &[
                    "User-Agent: haproxy/2.8 health\r\nAccept: application/json\r\n",
                    "X-Forwarded-Proto: https\r\nConnection: keep-alive\r\n\r\n",
                ],
            );
        });
        let body = scaled(talk, size(rng, 200, 6000));
        s.tcp_burst(Server, delay(rng, MS, 60 * MS), body, true, true, |o, _| {
            push_str(
                o,
                &["HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"],
            );
            push_str(o, &["Content-Length: "]);
            push_num(o, body as u64);
            push_str(o, &["\r\nConnection: keep-alive\r\n\r\n"]);
        });
    }
    s.tcp_close(Client, delay(rng, MS, 500 * MS));
}

/// A Prometheus scrape of `/metrics` on the talk's server.
fn metrics(s: &mut Script<'_>, rng: &mut Rng, talk: &Talk<'_>) {
    s.tcp_open(rng.next_u64());
    let (addr, port) = talk.server;
    s.tcp_burst(Client, 0, 0, true, true, |o, _| {
        push_str(o, &["GET /metrics HTTP/1.1\r\nHost: "]);
        if addr.is_ipv6() {
            push_str(o, &["["]);
            push_addr(o, addr);
            push_str(o, &["]"]);
        } else {
            push_addr(o, addr);
        }
        push_str(o, &[":"]);
        push_num(o, u64::from(port));
        push_str(
            o,
            &[
                "\r\nUser-Agent: Prometheus/2.53.1\r\n",
                "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n",
                "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n",
            ],
        );
    });
    let body = scaled(talk, size(rng, 500, 800));
    s.tcp_burst(
        Server,
        delay(rng, 2 * MS, 15 * MS),
        body,
        false,
        true,
        |o, _| {
            push_str(
                o,
                &["HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "],
            );
            push_num(o, body as u64);
            push_str(
                o,
                &["\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\r\n"],
            );
        },
    );
    s.tcp_close(Client, delay(rng, 100, 2 * MS));
}

/// One DNS query for one of `names` over UDP, answered from the zone (NXDOMAIN
/// for names not in it).
fn dns(s: &mut Script<'_>, rng: &mut Rng, talk: &Talk<'_>, names: &'static [&'static str]) {
    let id = rng.next_u32() as u16;
    let name = names
        .get(rng.below(names.len() as u64) as usize)
        .copied()
        .unwrap_or("unknown.invalid");
    let record = talk.zone.iter().find(|r| r.name == name);
    let qtype = match record.map(|r| r.addr) {
        Some(IpAddr::V6(_)) => payload::DNS_AAAA,
        _ => payload::DNS_A,
    };
    s.datagram(Client, 0, |o, _| payload::dns_query(o, id, name, qtype));
    let internal = name.ends_with(".corp.example");
    // The internal zone is answered from memory; others recursively.
    let think = if internal {
        delay(rng, 80, 400)
    } else {
        delay(rng, 8 * MS, 40 * MS)
    };
    s.datagram(Server, think, |o, _| match record {
        Some(r) => payload::dns_answer(o, id, name, r.cname, r.addr, 300, internal),
        None => payload::dns_nxdomain(o, id, name, qtype),
    });
}

/// An NTPv4 request and the server's reply.
fn ntp(s: &mut Script<'_>, rng: &mut Rng) {
    let sent = s.now();
    s.datagram(Client, 0, payload::ntp_request);
    s.datagram(Server, delay(rng, 60, 300), |o, t| {
        payload::ntp_reply(o, sent, t, [192, 0, 2, 123])
    });
}

/// 1-2 echo request/reply pairs a second apart.
fn ping(s: &mut Script<'_>, rng: &mut Rng) {
    let id = rng.next_u32() as u16;
    let count = 1 + rng.below(2) as u16;
    for seq in 1..=count {
        let gap = if seq == 1 { 0 } else { SEC - s.rtt() };
        s.echo(gap, id, seq);
    }
}

/// A PostgreSQL session: startup and authentication, then 1-3 simple queries.
fn postgres(s: &mut Script<'_>, rng: &mut Rng, talk: &Talk<'_>) {
    s.tcp_open(rng.next_u64());
    s.tcp_burst(Client, 0, 0, false, true, |o, _| {
        let body: &[u8] =
            b"\x00\x03\x00\x00user\0app\0database\0orders\0application_name\0orders-api\0\0";
        o.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        o.extend_from_slice(body);
    });
    // AuthenticationSASL, the SCRAM exchange and ParameterStatus
    // messages, folded into one answer.
    s.tcp_burst(
        Server,
        delay(rng, 300, 2 * MS),
        size(rng, 380, 520),
        false,
        true,
        |o, _| {
            o.extend_from_slice(b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0");
        },
    );
    let queries = 1 + rng.below(3);
    for _ in 0..queries {
        const SQL: [&str; 4] = [
            "SELECT id, status, total FROM orders WHERE customer_id = 4711",
            "UPDATE sessions SET seen = now() WHERE id = 93",
            "SELECT count(*) FROM invoices WHERE status = 'open'",
            "INSERT INTO audit_log (actor, action) VALUES ('app', 'login')",
        ];
        let sql = SQL[rng.below(SQL.len() as u64) as usize];
        s.tcp_burst(Client, delay(rng, 100, 20 * MS), 0, true, true, |o, _| {
            o.push(b'Q');
            o.extend_from_slice(&((sql.len() + 5) as u32).to_be_bytes());
            push_str(o, &[sql]);
            o.push(0);
        });
        let rows = scaled(talk, size(rng, 60, 4000));
        s.tcp_burst(
            Server,
            delay(rng, 200, 8 * MS),
            rows,
            false,
            true,
            |o, _| {
                o.push(b'T');
            },
        );
    }
    s.tcp_close(Client, delay(rng, 100, 50 * MS));
}

/// A Redis connection with 1-4 `GET` commands.
fn redis(s: &mut Script<'_>, rng: &mut Rng) {
    s.tcp_open(rng.next_u64());
    let commands = 1 + rng.below(4);
    for i in 0..commands {
        let key = rng.range(10_000, 99_999);
        let gap = if i == 0 { 0 } else { delay(rng, 200, 30 * MS) };
        s.tcp_burst(Client, gap, 0, true, true, |o, _| {
            push_str(o, &["*2\r\n$3\r\nGET\r\n$13\r\nsession:"]);
            push_num(o, key);
            push_str(o, &["\r\n"]);
        });
        let value = size(rng, 5, 600);
        s.tcp_burst(
            Server,
            delay(rng, 50, 400),
            value + 2,
            true,
            true,
            |o, _| {
                push_str(o, &["$"]);
                push_num(o, value as u64);
                push_str(o, &["\r\n"]);
            },
        );
    }
    s.tcp_close(Client, delay(rng, 100, 20 * MS));
}

/// An LDAP session: bind, one search, unbind.
fn ldap(s: &mut Script<'_>, rng: &mut Rng, talk: &Talk<'_>) {
    s.tcp_open(rng.next_u64());
    // bindRequest, bindResponse, searchRequest, entries + done.
    s.tcp_burst(Client, 0, size(rng, 60, 90), false, true, |o, _| {
        o.extend_from_slice(&[0x30, 0x3c, 0x02, 0x01, 0x01, 0x60, 0x37, 0x02, 0x01, 0x03]);
    });
    s.tcp_burst(Server, delay(rng, 500, 3 * MS), 14, false, true, |o, _| {
        o.extend_from_slice(&[0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00]);
        o.extend_from_slice(&[0x04, 0x00, 0x04, 0x00]);
    });
    s.tcp_burst(
        Client,
        delay(rng, 100, 2 * MS),
        size(rng, 90, 160),
        false,
        true,
        |o, _| {
            o.extend_from_slice(&[0x30, 0x81, 0x80, 0x02, 0x01, 0x02, 0x63]);
        },
    );
    let entries = scaled(talk, size(rng, 300, 2500));
    s.tcp_burst(
        Server,
        delay(rng, 300, 5 * MS),
        entries,
        false,
        true,
        |o, _| {
            o.extend_from_slice(&[0x30, 0x82]);
        },
    );
    s.tcp_burst(Client, delay(rng, 100, MS), 7, false, false, |o, _| {
        o.extend_from_slice(&[0x30, 0x05, 0x02, 0x01, 0x03, 0x42, 0x00]);
    });
    s.tcp_close(Client, 50);
}

/// An SSH session: banners, key exchange, authentication, then about `bytes`
/// bytes from the server.
fn ssh(s: &mut Script<'_>, rng: &mut Rng, talk: &Talk<'_>, bytes: u32) {
    s.tcp_open(rng.next_u64());
    s.tcp_burst(
        Server,
        delay(rng, 2 * MS, 10 * MS),
        0,
        true,
        true,
        |o, _| {
            push_str(o, &["SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n"]);
        },
    );
    s.tcp_burst(Client, delay(rng, 100, MS), 1400, false, true, |o, _| {
        push_str(o, &["SSH-2.0-OpenSSH_9.6\r\n"]);
    });
    s.tcp_burst(
        Server,
        delay(rng, 500, 3 * MS),
        size(rng, 1900, 2300),
        false,
        true,
        |_, _| {},
    );
    s.tcp_burst(
        Client,
        delay(rng, 2 * MS, 8 * MS),
        size(rng, 500, 800),
        false,
        true,
        |_, _| {},
    );
    s.tcp_burst(
        Server,
        delay(rng, MS, 20 * MS),
        size(rng, 60, 140),
        false,
        true,
        |_, _| {},
    );
    s.tcp_burst(
        Client,
        delay(rng, 200, 2 * MS),
        size(rng, 150, 300),
        false,
        true,
        |_, _| {},
    );
    let jitter = rng.range(70, 130);
    let payload = scaled(talk, (u64::from(bytes) * jitter / 100) as usize);
    s.tcp_burst(
        Server,
        delay(rng, 50 * MS, 2 * SEC),
        payload,
        false,
        false,
        |_, _| {},
    );
    s.tcp_close(Client, delay(rng, MS, 50 * MS));
}

/// An SMTP session sending one 20-45 KB message with pipelining.
fn smtp(s: &mut Script<'_>, rng: &mut Rng, talk: &Talk<'_>) {
    s.tcp_open(rng.next_u64());
    let lines: [(Side, &str); 5] = [
        (Server, "220 mail.corp.example ESMTP Postfix\r\n"),
        (Client, ""), // EHLO, written below
        (Server, "250-mail.corp.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n"),
        (Client, "MAIL FROM:<reports@corp.example>\r\nRCPT TO:<management@corp.example>\r\nDATA\r\n"),
        (Server, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
    ];
    for (side, text) in lines {
        let gap = delay(rng, 200, 3 * MS);
        s.tcp_burst(side, gap, 0, true, true, |o, _| {
            if text.is_empty() {
                push_str(o, &["EHLO ", talk.client_name, "\r\n"]);
            } else {
                push_str(o, &[text]);
            }
        });
    }
    let report = scaled(talk, size(rng, 20_000, 45_000));
    s.tcp_burst(
        Client,
        delay(rng, 200, 2 * MS),
        report,
        true,
        true,
        |o, _| {
            push_str(o, &["From: Weekly reports <reports@corp.example>\r\n"]);
            push_str(
                o,
                &["Subject: Weekly sales report\r\nContent-Type: text/csv\r\n\r\n"],
            );
        },
    );
    for (side, text) in [
        (Server, "250 2.0.0 Ok: queued as 4F2A1C3B9E\r\n"),
        (Client, "QUIT\r\n"),
        (Server, "221 2.0.0 Bye\r\n"),
    ] {
        let gap = delay(rng, 200, 3 * MS);
        s.tcp_burst(side, gap, 0, true, true, |o, _| push_str(o, &[text]));
    }
    s.tcp_close(Server, 100);
}

/// The control connection of an FTP login (no data connections).
fn ftp(s: &mut Script<'_>, rng: &mut Rng) {
    s.tcp_open(rng.next_u64());
    for (side, text) in [
        (Server, "220 (vsFTPd 3.0.5)\r\n"),
        (Client, "USER legacy\r\n"),
        (Server, "331 Please specify the password.\r\n"),
        (Client, "PASS legacy2009\r\n"),
        (Server, "230 Login successful.\r\n"),
        (Client, "CWD /outbox\r\n"),
        (Server, "250 Directory successfully changed.\r\n"),
        (Client, "QUIT\r\n"),
        (Server, "221 Goodbye.\r\n"),
    ] {
        let gap = delay(rng, 200, 5 * MS);
        s.tcp_burst(side, gap, 0, true, true, |o, _| push_str(o, &[text]));
    }
    s.tcp_close(Server, 100);
}
