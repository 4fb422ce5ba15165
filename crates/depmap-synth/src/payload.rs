//! Application payloads that later depmap features read: TLS ClientHello with
//! SNI, HTTP/1.1 with `Host:`, DNS queries and answers, NTP. Each builder
//! appends to a `Vec<u8>`; the conversation keeps the bytes until its packets
//! are emitted. Formats follow the RFCs closely enough for Wireshark to
//! dissect them without complaint.

use std::net::IpAddr;

use crate::rng::Rng;

/// TLS record content types.
pub(crate) const TLS_HANDSHAKE: u8 = 22;
pub(crate) const TLS_APPLICATION_DATA: u8 = 23;

/// DNS query types used by the scenarios.
pub(crate) const DNS_A: u16 = 1;
pub(crate) const DNS_CNAME: u16 = 5;
pub(crate) const DNS_AAAA: u16 = 28;

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Writes the big-endian length of `out[at + 2..]` into the two bytes at `at`.
fn patch_len16(out: &mut [u8], at: usize) {
    let len = (out.len() - at - 2) as u16;
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

/// Appends `parts` concatenated.
pub(crate) fn push_str(out: &mut Vec<u8>, parts: &[&str]) {
    for p in parts {
        out.extend_from_slice(p.as_bytes());
    }
}

/// Appends a decimal number.
pub(crate) fn push_num(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends an address in its usual text form.
pub(crate) fn push_addr(out: &mut Vec<u8>, addr: IpAddr) {
    push_str(out, &[&addr.to_string()]);
}

/// Appends a TLS 1.3 ClientHello record as a current browser sends it, with
/// `sni` in the server_name extension (RFC 6066) and padding (RFC 7685) to
/// the 517-byte record browsers use.
pub(crate) fn tls_client_hello(out: &mut Vec<u8>, sni: &str, rng: &mut Rng) {
    const RECORD_LEN: usize = 517;
    let start = out.len();
    out.extend_from_slice(&[TLS_HANDSHAKE, 0x03, 0x01, 0, 0]); // record; length patched
    out.extend_from_slice(&[0x01, 0, 0, 0]); // ClientHello; 24-bit length patched
    out.extend_from_slice(&[0x03, 0x03]); // legacy_version TLS 1.2
    let mut random = [0u8; 32];
    rng.fill(&mut random);
    out.extend_from_slice(&random);
    out.push(32); // legacy_session_id
    rng.fill(&mut random);
    out.extend_from_slice(&random);
    let suites: [u16; 15] = [
        0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
        0x009c, 0x009d, 0x002f, 0x0035,
    ];
    put_u16(out, (suites.len() * 2) as u16);
    for s in suites {
        put_u16(out, s);
    }
    out.extend_from_slice(&[1, 0]); // compression: null
    let ext_start = out.len();
    put_u16(out, 0); // extensions length, patched

    // server_name: list length, type host_name (0), name length, name.
    put_u16(out, 0x0000);
    put_u16(out, (sni.len() + 5) as u16);
    put_u16(out, (sni.len() + 3) as u16);
    out.push(0);
    put_u16(out, sni.len() as u16);
    out.extend_from_slice(sni.as_bytes());
    // extended_master_secret, renegotiation_info.
    out.extend_from_slice(&[0x00, 0x17, 0, 0, 0xff, 0x01, 0, 1, 0]);
    // supported_groups: x25519, secp256r1, secp384r1.
    out.extend_from_slice(&[0x00, 0x0a, 0, 8, 0, 6, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]);
    // ec_point_formats: uncompressed; session_ticket (empty).
    out.extend_from_slice(&[0x00, 0x0b, 0, 2, 1, 0, 0x00, 0x23, 0, 0]);
    // application_layer_protocol_negotiation: h2, http/1.1.
    out.extend_from_slice(&[0x00, 0x10, 0, 14, 0, 12, 2, b'h', b'2', 8]);
    out.extend_from_slice(b"http/1.1");
    // status_request (OCSP).
    out.extend_from_slice(&[0x00, 0x05, 0, 5, 1, 0, 0, 0, 0]);
    // signature_algorithms.
    out.extend_from_slice(&[0x00, 0x0d, 0, 18, 0, 16]);
    for alg in [
        0x0403u16, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ] {
        put_u16(out, alg);
    }
    // supported_versions: TLS 1.3, 1.2; psk_key_exchange_modes: psk_dhe_ke.
    out.extend_from_slice(&[0x00, 0x2b, 0, 5, 4, 0x03, 0x04, 0x03, 0x03]);
    out.extend_from_slice(&[0x00, 0x2d, 0, 2, 1, 1]);
    // key_share: one x25519 share.
    out.extend_from_slice(&[0x00, 0x33, 0, 38, 0, 36, 0x00, 0x1d, 0, 32]);
    rng.fill(&mut random);
    out.extend_from_slice(&random);
    // padding up to the browser's 517-byte record (if the name leaves room).
    let used = out.len() - start;
    if used + 4 <= RECORD_LEN {
        let pad = RECORD_LEN - used - 4;
        out.extend_from_slice(&[0x00, 0x15]);
        put_u16(out, pad as u16);
        out.resize(out.len() + pad, 0);
    }
    patch_len16(out, ext_start);
    let hs_len = (out.len() - start - 9) as u32;
    out[start + 6..start + 9].copy_from_slice(&hs_len.to_be_bytes()[1..]);
    patch_len16(out, start + 3);
}

/// Appends a TLS record header for a record of `len` bytes that follow.
pub(crate) fn tls_record_header(out: &mut Vec<u8>, content_type: u8, len: usize) {
    out.extend_from_slice(&[content_type, 0x03, 0x03]);
    put_u16(out, len.min(usize::from(u16::MAX)) as u16);
}

fn dns_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len().min(63) as u8);
        out.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    out.push(0);
}

fn dns_header(out: &mut Vec<u8>, id: u16, flags: u16, answers: u16) {
    put_u16(out, id);
    put_u16(out, flags);
    put_u16(out, 1); // QDCOUNT
    put_u16(out, answers);
    put_u16(out, 0); // NSCOUNT
    put_u16(out, 0); // ARCOUNT
}

/// Appends a recursive DNS query for `name`, type `qtype`, class IN.
pub(crate) fn dns_query(out: &mut Vec<u8>, id: u16, name: &str, qtype: u16) {
    dns_header(out, id, 0x0100, 0);
    dns_name(out, name);
    put_u16(out, qtype);
    put_u16(out, 1);
}

/// Appends the answer to [`dns_query`]: an optional CNAME from `name` to
/// `cname`, then the address record of the final name (A or AAAA by the
/// address family). `authoritative` sets the AA bit (internal zone).
pub(crate) fn dns_answer(
    out: &mut Vec<u8>,
    id: u16,
    name: &str,
    cname: Option<&str>,
    addr: IpAddr,
    ttl: u32,
    authoritative: bool,
) {
    let start = out.len();
    let flags = if authoritative { 0x8580 } else { 0x8180 };
    let answers = if cname.is_some() { 2 } else { 1 };
    dns_header(out, id, flags, answers);
    dns_name(out, name);
    let qtype = match addr {
        IpAddr::V4(_) => DNS_A,
        IpAddr::V6(_) => DNS_AAAA,
    };
    put_u16(out, qtype);
    put_u16(out, 1);
    // The question name sits at offset 12 of the message.
    let mut owner = 0xc000u16 | 12;
    if let Some(target) = cname {
        put_u16(out, owner);
        put_u16(out, DNS_CNAME);
        put_u16(out, 1);
        out.extend_from_slice(&ttl.to_be_bytes());
        let rdlen_at = out.len();
        put_u16(out, 0);
        owner = 0xc000 | (out.len() - start) as u16;
        dns_name(out, target);
        patch_len16(out, rdlen_at);
    }
    put_u16(out, owner);
    put_u16(out, qtype);
    put_u16(out, 1);
    out.extend_from_slice(&ttl.to_be_bytes());
    match addr {
        IpAddr::V4(a) => {
            put_u16(out, 4);
            out.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            put_u16(out, 16);
            out.extend_from_slice(&a.octets());
        }
    }
}

/// Appends a "no such name" (NXDOMAIN) answer to [`dns_query`].
pub(crate) fn dns_nxdomain(out: &mut Vec<u8>, id: u16, name: &str, qtype: u16) {
    dns_header(out, id, 0x8183, 0);
    dns_name(out, name);
    put_u16(out, qtype);
    put_u16(out, 1);
}

/// Seconds between the NTP era (1900) and the Unix epoch.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

fn ntp_timestamp(ts_micros: i64) -> [u8; 8] {
    let ts = ts_micros.max(0) as u64;
    let secs = (ts / 1_000_000 + NTP_UNIX_OFFSET) as u32;
    let frac = (((ts % 1_000_000) << 32) / 1_000_000) as u32;
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&secs.to_be_bytes());
    b[4..].copy_from_slice(&frac.to_be_bytes());
    b
}

/// Appends a 48-byte NTPv4 client request (mode 3) as chrony sends it: all
/// zero but the first byte and a transmit timestamp.
pub(crate) fn ntp_request(out: &mut Vec<u8>, ts_micros: i64) {
    let start = out.len();
    out.resize(start + 48, 0);
    out[start] = (4 << 3) | 3; // LI 0, version 4, mode 3
    out[start + 2] = 6; // poll
    out[start + 3] = 0xe9; // precision 2^-23
    out[start + 40..start + 48].copy_from_slice(&ntp_timestamp(ts_micros));
}

/// Appends a 48-byte NTPv4 server reply (mode 4, stratum 2) to a request
/// sent at `sent_micros`, received and answered at `ts_micros`.
pub(crate) fn ntp_reply(out: &mut Vec<u8>, sent_micros: i64, ts_micros: i64, upstream: [u8; 4]) {
    let start = out.len();
    out.resize(start + 48, 0);
    out[start] = (4 << 3) | 4; // LI 0, version 4, mode 4
    out[start + 1] = 2; // stratum
    out[start + 2] = 6;
    out[start + 3] = 0xe8;
    out[start + 4..start + 8].copy_from_slice(&0x0000_0123u32.to_be_bytes()); // root delay
    out[start + 8..start + 12].copy_from_slice(&0x0000_0456u32.to_be_bytes()); // root dispersion
    out[start + 12..start + 16].copy_from_slice(&upstream);
    out[start + 16..start + 24].copy_from_slice(&ntp_timestamp(ts_micros - 16_000_000));
    out[start + 24..start + 32].copy_from_slice(&ntp_timestamp(sent_micros));
    out[start + 32..start + 40].copy_from_slice(&ntp_timestamp(ts_micros));
    out[start + 40..start + 48].copy_from_slice(&ntp_timestamp(ts_micros));
}

/// Incompressible-looking bytes for encrypted and binary payloads: one fixed
/// table (seed-independent), read at varying offsets.
pub(crate) struct Filler {
    binary: Vec<u8>,
    text: Vec<u8>,
}

/// The longest run a single segment takes from a filler table, plus the
/// largest offset into it.
const FILLER_SPAN: usize = 1500;
const FILLER_OFFSETS: usize = 1024;

impl Filler {
    pub(crate) fn new() -> Filler {
        let mut binary = vec![0u8; FILLER_SPAN + FILLER_OFFSETS];
        Rng::new(0x6465_706d_6170).fill(&mut binary); // "depmap"
        let line: &[u8] =
            b"{\"id\":4711,\"status\":\"ok\",\"items\":[{\"sku\":\"A-1029\",\"qty\":3},\
{\"sku\":\"B-2210\",\"qty\":1}],\"updated\":\"2026-10-01T09:12:44Z\"}\n";
        let text = line
            .iter()
            .copied()
            .cycle()
            .take(FILLER_SPAN + FILLER_OFFSETS)
            .collect();
        Filler { binary, text }
    }

    /// Appends `len` filler bytes (text or binary) taken from offset `salt`.
    pub(crate) fn append(&self, out: &mut Vec<u8>, len: usize, text: bool, salt: u32) {
        let table = if text { &self.text } else { &self.binary };
        let mut left = len;
        let mut at = salt as usize % FILLER_OFFSETS;
        while left > 0 {
            let n = left.min(table.len() - at);
            out.extend_from_slice(&table[at..at + n]);
            left -= n;
            at = 0;
        }
    }
}
