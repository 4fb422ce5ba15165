//! Service names from application payloads: DNS answers, TLS ClientHello
//! SNI and HTTP `Host` headers.
//!
//! These parsers are our own because they read a handful of fields from
//! untrusted bytes and must be total (every read bounds-checked, every loop
//! bounded) and cheap: a full DNS or TLS library would parse far more than
//! depmap needs. They return borrowed slices where they can; DNS names are
//! decompressed into `String`s because compression pointers make them
//! non-contiguous (DNS responses are a small share of packets).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a payload yielded no name. The aggregator
/// (`depmap_edges::PacketAggregator`) treats every reason as "no name
/// here" and counts none of them; the reasons are for tests and for
/// callers that want to tell a cut payload from a foreign one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The payload is not of the expected protocol (or not a response).
    NotApplicable,
    /// The payload ends early (often: cut by the snap length).
    Truncated,
    /// A field is inconsistent (bad label, pointer loop, bad length).
    Invalid,
}

/// Most labels followed while decoding one DNS name (pointer hops included),
/// so a crafted pointer loop costs a bounded amount of work.
pub const MAX_DNS_NAME_STEPS: usize = 128;
/// Most answer records read from one DNS message.
pub const MAX_DNS_ANSWERS: usize = 64;

/// What a DNS answer record says about a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsData {
    /// An A or AAAA record: the name resolves to this address.
    Addr(IpAddr),
    /// A CNAME record: the name is an alias of this one.
    Cname(String),
}

/// One answer record of a DNS response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsAnswer {
    /// The owner name, lower-case, without the trailing dot.
    pub name: String,
    /// The record's data.
    pub data: DnsData,
    /// Time to live in seconds.
    pub ttl: u32,
}

fn be16(b: &[u8], at: usize) -> Result<u16, NameError> {
    b.get(at..at + 2)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
        .ok_or(NameError::Truncated)
}

fn be32(b: &[u8], at: usize) -> Result<u32, NameError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(NameError::Truncated)
}

/// Reads a (possibly compressed) name at `at`; returns it and the offset just
/// past it in the original position.
fn dns_name(msg: &[u8], at: usize) -> Result<(String, usize), NameError> {
    let mut name = String::with_capacity(64);
    let end = walk_name(msg, at, Some(&mut name))?;
    Ok((name, end))
}

/// Follows the (possibly compressed) name at `at`, appending its text to
/// `name` if given, and returns the offset just past it in the message.
/// The question section's names are only skipped, without their text.
fn walk_name(msg: &[u8], mut at: usize, mut name: Option<&mut String>) -> Result<usize, NameError> {
    let mut end = None;
    let mut len_so_far = 0;
    for _ in 0..MAX_DNS_NAME_STEPS {
        let len = *msg.get(at).ok_or(NameError::Truncated)?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Ok(end.unwrap_or(at + 1));
                }
                let label = msg
                    .get(at + 1..at + 1 + len as usize)
                    .ok_or(NameError::Truncated)?;
                len_so_far += label.len() + 1;
                if let Some(name) = name.as_deref_mut() {
                    if !name.is_empty() {
                        name.push('.');
                    }
                    for &c in label {
                        // Names are ASCII on the wire; anything else is escaped.
                        if c.is_ascii_graphic() && c != b'.' {
                            name.push(c.to_ascii_lowercase() as char);
                        } else {
                            name.push_str(&format!("\\{c:03}"));
                        }
                    }
                    len_so_far = name.len();
                }
                if len_so_far > 1024 {
                    return Err(NameError::Invalid);
                }
                at += 1 + len as usize;
            }
            0xc0 => {
                let ptr = (be16(msg, at)? & 0x3fff) as usize;
                if end.is_none() {
                    end = Some(at + 2);
                }
                at = ptr;
            }
            _ => return Err(NameError::Invalid),
        }
    }
    Err(NameError::Invalid)
}

/// Parses the answer section of a DNS response (UDP payload; for DNS over
/// TCP pass the message without its 2-byte length prefix). Appends A, AAAA
/// and CNAME answers to `out`; other record types are skipped.
pub fn dns_answers(msg: &[u8], out: &mut Vec<DnsAnswer>) -> Result<(), NameError> {
    let flags = be16(msg, 2)?;
    if flags & 0x8000 == 0 {
        return Err(NameError::NotApplicable); // a query, not a response
    }
    let opcode = (flags >> 11) & 0x0f;
    if opcode != 0 {
        return Err(NameError::NotApplicable);
    }
    let qd = be16(msg, 4)? as usize;
    let an = be16(msg, 6)? as usize;
    let mut at = 12;
    for _ in 0..qd.min(MAX_DNS_ANSWERS) {
        let next = walk_name(msg, at, None)?;
        at = next + 4;
    }
    for _ in 0..an.min(MAX_DNS_ANSWERS) {
        let (name, next) = dns_name(msg, at)?;
        let rtype = be16(msg, next)?;
        let ttl = be32(msg, next + 4)?;
        let rdlen = be16(msg, next + 8)? as usize;
        let rdata_at = next + 10;
        let rdata = msg
            .get(rdata_at..rdata_at + rdlen)
            .ok_or(NameError::Truncated)?;
        let data = match (rtype, rdlen) {
            (1, 4) => Some(DnsData::Addr(IpAddr::V4(Ipv4Addr::new(
                rdata[0], rdata[1], rdata[2], rdata[3],
            )))),
            (28, 16) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(rdata);
                Some(DnsData::Addr(IpAddr::V6(Ipv6Addr::from(o))))
            }
            (5, _) => Some(DnsData::Cname(dns_name(msg, rdata_at)?.0)),
            _ => None,
        };
        if let Some(data) = data {
            out.push(DnsAnswer { name, data, ttl });
        }
        at = rdata_at + rdlen;
    }
    Ok(())
}

/// The server name (SNI) of a TLS ClientHello at the start of a TCP payload.
pub fn tls_sni(payload: &[u8]) -> Result<&str, NameError> {
    // TLS record: type 22 (handshake), version 3.x, length.
    if payload.first() != Some(&22) || payload.get(1) != Some(&3) {
        return Err(NameError::NotApplicable);
    }
    // Handshake: type 1 (ClientHello), 3-byte length.
    if payload.get(5) != Some(&1) {
        return Err(NameError::NotApplicable);
    }
    let mut at = 5 + 4 + 2 + 32; // header, client_version, random
    let sid = *payload.get(at).ok_or(NameError::Truncated)? as usize;
    at += 1 + sid;
    let suites = be16(payload, at)? as usize;
    at += 2 + suites;
    let comp = *payload.get(at).ok_or(NameError::Truncated)? as usize;
    at += 1 + comp;
    let ext_len = be16(payload, at)? as usize;
    at += 2;
    let end = at + ext_len;
    while at + 4 <= end {
        let ty = be16(payload, at)?;
        let len = be16(payload, at + 2)? as usize;
        let body = at + 4;
        if ty == 0 {
            // server_name_list: length(2), then entries of type(1) length(2) name.
            let mut p = body + 2;
            let list_end = body + 2 + be16(payload, body)? as usize;
            while p + 3 <= list_end {
                let kind = *payload.get(p).ok_or(NameError::Truncated)?;
                let n = be16(payload, p + 1)? as usize;
                let name = payload.get(p + 3..p + 3 + n).ok_or(NameError::Truncated)?;
                if kind == 0 {
                    return host_str(name);
                }
                p += 3 + n;
            }
            return Err(NameError::Invalid);
        }
        at = body + len;
    }
    if at > payload.len() {
        Err(NameError::Truncated)
    } else {
        Err(NameError::NotApplicable)
    }
}

/// How far into an HTTP request the `Host` header is looked for.
pub const HTTP_HEADER_SCAN: usize = 4096;

/// The `Host` header of an HTTP/1.x request at the start of a TCP payload,
/// without a port.
pub fn http_host(payload: &[u8]) -> Result<&str, NameError> {
    const METHODS: [&[u8]; 9] = [
        b"GET ",
        b"POST ",
        b"PUT ",
        b"HEAD ",
        b"DELETE ",
        b"OPTIONS ",
        b"PATCH ",
        b"CONNECT ",
        b"TRACE ",
    ];
    if !METHODS.iter().any(|m| payload.starts_with(m)) {
        return Err(NameError::NotApplicable);
    }
    let head = &payload[..payload.len().min(HTTP_HEADER_SCAN)];
    // Line ends are found with memchr, which scans many bytes at a time:
    // splitting byte by byte cost about 850 instructions a request on the
    // ingest benchmark. The request line is skipped.
    let mut ends = memchr::memchr_iter(b'\n', head).chain(std::iter::once(head.len()));
    let mut start = ends.next().map_or(head.len(), |e| e + 1);
    for end in ends {
        let Some(line) = head.get(start..end) else {
            break;
        };
        start = end + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() > 5 && line[..5].eq_ignore_ascii_case(b"host:") {
            let value = line[5..].trim_ascii();
            let value = match value.first() {
                // [v6]:port
                Some(b'[') => value
                    .iter()
                    .position(|&b| b == b']')
                    .map(|i| &value[1..i])
                    .unwrap_or(value),
                _ => value
                    .iter()
                    .position(|&b| b == b':')
                    .map(|i| &value[..i])
                    .unwrap_or(value),
            };
            return host_str(value);
        }
    }
    Err(NameError::NotApplicable)
}

fn host_str(b: &[u8]) -> Result<&str, NameError> {
    if b.is_empty()
        || b.len() > 253
        || !b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':'))
    {
        return Err(NameError::Invalid);
    }
    std::str::from_utf8(b).map_err(|_| NameError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns_response() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0];
        // question: www.example.com A IN
        m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        // answer 1: www.example.com (ptr 12) CNAME web.example.com
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6]);
        m.extend_from_slice(b"\x03web\xc0\x10");
        // answer 2: web.example.com (ptr to the CNAME data at 45) A 192.0.2.7
        m.extend_from_slice(&[0xc0, 45, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 192, 0, 2, 7]);
        // answer 3: AAAA 2001:db8::7
        m.extend_from_slice(&[0xc0, 45, 0, 28, 0, 1, 0, 0, 1, 0, 0, 16]);
        m.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        m
    }

    proptest::proptest! {
        /// No message makes the name parsers panic: a real response with
        /// bytes overwritten (lengths, pointers, counts), and plain noise.
        #[test]
        fn names_never_panic_on_damaged_or_random_payloads(
            edits in proptest::collection::vec((0usize..80, proptest::prelude::any::<u8>()), 0..6),
            cut in 0usize..90,
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            let mut m = dns_response();
            for (at, byte) in edits {
                if let Some(b) = m.get_mut(at) {
                    *b = byte;
                }
            }
            m.truncate(cut.max(12));
            let mut out = Vec::new();
            for payload in [&m[..], &noise[..]] {
                out.clear();
                let _ = dns_answers(payload, &mut out);
                let _ = tls_sni(payload);
                let _ = http_host(payload);
            }
        }
    }

    #[test]
    fn dns_a_aaaa_and_cname_chain() {
        let mut out = Vec::new();
        dns_answers(&dns_response(), &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].name, "www.example.com");
        assert_eq!(out[0].data, DnsData::Cname("web.example.com".into()));
        assert_eq!(out[1].name, "web.example.com");
        assert_eq!(out[1].data, DnsData::Addr("192.0.2.7".parse().unwrap()));
        assert_eq!(out[1].ttl, 256);
        assert_eq!(out[2].data, DnsData::Addr("2001:db8::7".parse().unwrap()));
    }

    #[test]
    fn dns_queries_loops_and_truncation_are_handled() {
        let mut q = dns_response();
        q[2] = 0x01; // QR clear: a query
        assert_eq!(
            dns_answers(&q, &mut Vec::new()),
            Err(NameError::NotApplicable)
        );
        let mut looped = vec![0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12];
        looped.extend_from_slice(&[0, 1, 0, 1]);
        assert_eq!(
            dns_answers(&looped, &mut Vec::new()),
            Err(NameError::Invalid)
        );
        let full = dns_response();
        for n in 0..full.len() {
            let _ = dns_answers(&full[..n], &mut Vec::new());
        }
    }

    fn client_hello(sni: &str) -> Vec<u8> {
        let mut ext = Vec::new();
        let name = sni.as_bytes();
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
        ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        ext.extend_from_slice(name);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0xaa; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one suite
        body.extend_from_slice(&[1, 0]); // null compression
                                         // a padding extension first, then SNI
        let mut exts = vec![0, 21, 0, 3, 0, 0, 0];
        exts.extend_from_slice(&ext);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn tls_sni_found_and_prefixes_safe() {
        let ch = client_hello("app.corp.example");
        assert_eq!(tls_sni(&ch), Ok("app.corp.example"));
        for n in 0..ch.len() {
            assert!(tls_sni(&ch[..n]).is_err());
        }
        assert_eq!(
            tls_sni(b"GET / HTTP/1.1\r\n"),
            Err(NameError::NotApplicable)
        );
    }

    #[test]
    fn http_host_with_and_without_port() {
        let req = b"GET /x HTTP/1.1\r\nUser-Agent: t\r\nhOsT:  intranet.corp:8080 \r\n\r\n";
        assert_eq!(http_host(req), Ok("intranet.corp"));
        assert_eq!(
            http_host(b"POST / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n"),
            Ok("2001:db8::1")
        );
        assert_eq!(
            http_host(b"HTTP/1.1 200 OK\r\nHost: x\r\n"),
            Err(NameError::NotApplicable)
        );
        assert_eq!(
            http_host(b"GET / HTTP/1.1\r\nHost: bad host\r\n\r\n"),
            Err(NameError::Invalid)
        );
    }
}
