//! [`FlowDecoder`]: tells the format apart, keeps template scopes, waiting
//! data sets and sampling rates, and turns everything into [`FlowRecord`]s.

use std::collections::VecDeque;
use std::net::SocketAddr;

use foldhash::HashMap;

use crate::config::{FlowDecoderConfig, MAX_SAMPLERS_PER_SCOPE};
use crate::counters::DecoderCounters;
use crate::error::FlowError;
use crate::fields::{Fields, Ie, TimeBase};
use crate::reader::{be_u16, be_u32};
use crate::record::{FlowRecord, Format};
use crate::template::native::NativeBackend;
use crate::template::{RecordKind, Sink, TemplateBackend, TemplateScope, Version};
use crate::{sflow, time, v5};

/// NetFlow v9 header length.
const V9_HEADER_LEN: usize = 20;
/// IPFIX message header length.
const IPFIX_HEADER_LEN: usize = 16;
/// Set (flowset) header length.
const SET_HEADER_LEN: usize = 4;

/// Tells a datagram's format from its first bytes, without decoding it.
///
/// NetFlow v5, v9 and IPFIX start with a 16-bit version (5, 9, 10); sFlow
/// starts with a 32-bit version (5). So an sFlow v5 datagram begins
/// `00 00 00 05` and a NetFlow v5 datagram `00 05`: the first 16 bits (0 or 5)
/// already differ. Two further checks make the choice robust: an sFlow
/// datagram must name an agent address type of 1 (IPv4) or 2 (IPv6) in its
/// next 32 bits, and a NetFlow v5 datagram's next 16 bits are a record count
/// of at most 30 (checked when it is decoded).
pub fn detect_format(datagram: &[u8]) -> Result<Format, FlowError> {
    let (Some(v16), Some(v32)) = (be_u16(datagram, 0), be_u32(datagram, 0)) else {
        return Err(FlowError::TooShort {
            len: datagram.len(),
        });
    };
    match v16 {
        5 => Ok(Format::NetflowV5),
        9 => Ok(Format::NetflowV9),
        10 => Ok(Format::Ipfix),
        0 if v32 == sflow::VERSION => match be_u32(datagram, 4) {
            Some(1 | 2) => Ok(Format::SflowV5),
            Some(other) => Err(FlowError::BadValue {
                format: Format::SflowV5,
                what: "the agent address type",
                value: other,
            }),
            None => Err(FlowError::Truncated {
                format: Format::SflowV5,
                what: "the header",
                offset: 0,
            }),
        },
        0 => Err(FlowError::UnknownVersion { version: v32 }),
        other => Err(FlowError::UnknownVersion {
            version: u32::from(other),
        }),
    }
}

/// What one call to [`FlowDecoder::decode`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatagramOutcome {
    /// The datagram's format.
    pub format: Format,
    /// Records appended to `out`, including `replayed_records`.
    pub records: usize,
    /// Records from data sets of earlier datagrams (or earlier in this one)
    /// that had waited for the template this datagram brought.
    pub replayed_records: usize,
    /// Data sets of this datagram put aside to wait for their template.
    pub sets_waiting: usize,
}

/// A template scope's identity: RFC 7011 scopes templates to the transport
/// session and observation domain, RFC 3954 to the exporter and source ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct ScopeKey {
    exporter: SocketAddr,
    version: Version,
    domain: u32,
}

/// What depmap remembers about a scope besides its templates.
#[derive(Debug, Default)]
struct ScopeMeta {
    /// The rate from options data without a sampler ID.
    default_rate: Option<u32>,
    /// Rates by sampler/selector ID (at most [`MAX_SAMPLERS_PER_SCOPE`]).
    samplers: Samplers,
    /// IPFIX `systemInitTimeMilliseconds`.
    system_init_ms: Option<u64>,
}

impl ScopeMeta {
    /// The sampling rate of a record: its own, else its sampler's (from
    /// this scope, else from any scope of the same exporter: Cisco exports
    /// its sampler table in one observation domain and the records that
    /// name a sampler in others), else the scope default (options data
    /// without a sampler ID), else 1. A record without a sampler ID does not
    /// take the rate of a sampler it does not name: exporters attach the ID
    /// to the records a sampler metered.
    ///
    /// The second value is true when the record names a sampler (other than
    /// 0, "none") that has not been announced, so its rate is unknown.
    fn rate_for(&self, f: &Fields, exporter_samplers: Option<&Samplers>) -> (u32, bool) {
        if let Some(rate) = f.sampling_rate() {
            return (rate, false);
        }
        let sampler = f.sampler_id.and_then(|id| {
            self.samplers
                .get(&id)
                .or_else(|| exporter_samplers?.get(&id))
                .copied()
        });
        let unknown = sampler.is_none() && f.sampler_id.is_some_and(|id| id != 0);
        let rate = sampler.or(self.default_rate).unwrap_or(1).max(1);
        (rate, unknown && self.default_rate.is_none())
    }
}

/// Sampling rates by sampler/selector ID.
type Samplers = HashMap<u64, u32>;

/// Sampler tables by exporter (address and port) and version.
type ExporterSamplers = HashMap<(SocketAddr, Version), Samplers>;

/// Remembers `rate` for sampler `id`, within [`MAX_SAMPLERS_PER_SCOPE`];
/// false when the bound turned it away.
fn remember(samplers: &mut Samplers, id: u64, rate: u32) -> bool {
    if samplers.contains_key(&id) || samplers.len() < MAX_SAMPLERS_PER_SCOPE {
        samplers.insert(id, rate);
        true
    } else {
        false
    }
}

struct Scope<S> {
    backend: S,
    meta: ScopeMeta,
    last_seen: i64,
}

/// The parts of a message header a replay needs again.
#[derive(Clone, Copy, Debug)]
struct Header {
    /// The header's bytes (16 for IPFIX, 20 for NetFlow v9).
    bytes: [u8; V9_HEADER_LEN],
    len: usize,
    export_ns: i64,
    sys_uptime_ms: Option<u32>,
}

/// A data set waiting for its template.
#[derive(Debug)]
struct PendingSet {
    key: ScopeKey,
    set_id: u16,
    received_ns: i64,
    header: Header,
    body: Vec<u8>,
}

/// Data sets waiting for their template, oldest first.
#[derive(Debug, Default)]
struct Pending {
    sets: VecDeque<PendingSet>,
    bytes: usize,
}

/// Collects one message's output from a [`TemplateScope`].
struct Collector<'a> {
    meta: &'a mut ScopeMeta,
    /// The exporter-wide sampler tables, and this scope's key in them.
    exporter_samplers: &'a mut ExporterSamplers,
    exporter: (SocketAddr, Version),
    max_exporters: usize,
    counters: &'a mut DecoderCounters,
    current: Fields,
    kind: RecordKind,
    records: &'a mut Vec<Fields>,
    templates: &'a mut Vec<u16>,
    missing: &'a mut Vec<(u16, Vec<u8>)>,
}

impl Sink for Collector<'_> {
    fn template(&mut self, id: u16) {
        self.counters.templates_received += 1;
        self.templates.push(id);
    }

    fn begin(&mut self, kind: RecordKind) {
        self.kind = kind;
        self.current = Fields::default();
    }

    fn field(&mut self, ie: Ie, value: &[u8]) {
        self.current.set(ie, value);
    }

    fn end(&mut self) {
        match self.kind {
            // A record without addresses is counted at once rather than kept:
            // only records with at least 8 bytes of addresses take space, so
            // a message of tiny records cannot blow up the scratch buffer.
            RecordKind::Data if !self.current.has_addresses() => {
                self.counters.records_without_addresses += 1;
            }
            RecordKind::Data => self.records.push(self.current),
            RecordKind::Options => {
                self.counters.options_records += 1;
                let f = &self.current;
                if let Some(init) = f.system_init_ms {
                    self.meta.system_init_ms = Some(init);
                }
                if let Some(rate) = f.sampling_rate() {
                    match f.sampler_id {
                        Some(id) => {
                            let in_scope = remember(&mut self.meta.samplers, id, rate);
                            let table = exporter_table(
                                self.exporter_samplers,
                                self.exporter,
                                self.max_exporters,
                            );
                            let exporter_wide = match table {
                                Some(samplers) => remember(samplers, id, rate),
                                None => false,
                            };
                            if !in_scope || !exporter_wide {
                                self.counters.samplers_not_remembered += 1;
                            }
                        }
                        None => self.meta.default_rate = Some(rate),
                    }
                }
            }
        }
    }

    fn missing_template(&mut self, set_id: u16, body: &[u8], complete: bool) {
        self.counters.sets_without_template += 1;
        if complete {
            self.missing.push((set_id, body.to_vec()));
        } else {
            self.counters.pending_evicted += 1;
        }
    }
}

/// Decodes flow-export datagrams (NetFlow v5, NetFlow v9, IPFIX, sFlow v5)
/// into [`FlowRecord`]s. See the crate documentation.
///
/// One decoder serves any number of exporters; NetFlow v9 and IPFIX
/// templates are kept per exporter address and port and per source ID /
/// observation domain, so two exporters may use the same template IDs.
pub struct FlowDecoder {
    engine: Engine<NativeBackend>,
}

impl std::fmt::Debug for FlowDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowDecoder")
            .field("cfg", &self.engine.cfg)
            .field("scopes", &self.engine.scopes.len())
            .field("pending_sets", &self.engine.pending.sets.len())
            .field("counters", &self.engine.counters)
            .finish_non_exhaustive()
    }
}

impl Default for FlowDecoder {
    fn default() -> Self {
        FlowDecoder::new(FlowDecoderConfig::default())
    }
}

impl FlowDecoder {
    /// A decoder with no scopes yet.
    pub fn new(cfg: FlowDecoderConfig) -> FlowDecoder {
        FlowDecoder {
            engine: Engine::new(cfg),
        }
    }

    /// The configuration in force (zero bounds raised to 1).
    pub fn config(&self) -> &FlowDecoderConfig {
        &self.engine.cfg
    }

    /// The counters so far.
    pub fn counters(&self) -> &DecoderCounters {
        &self.engine.counters
    }

    /// Template scopes currently kept.
    pub fn scope_count(&self) -> usize {
        self.engine.scopes.len()
    }

    /// Data sets currently waiting for their template.
    pub fn pending_sets(&self) -> usize {
        self.engine.pending.sets.len()
    }

    /// Decodes one datagram that came from `exporter` and was received at
    /// `received_ns` (nanoseconds since the Unix epoch, from the caller: the
    /// decoder never reads a clock), appending its records to `out`.
    ///
    /// `received_ns` ages the data sets waiting for a template and stamps
    /// sFlow records (which carry no flow times). On a malformed datagram the
    /// error is returned and counted; records decoded before the problem
    /// stay in `out`.
    pub fn decode(
        &mut self,
        exporter: SocketAddr,
        datagram: &[u8],
        received_ns: i64,
        out: &mut Vec<FlowRecord>,
    ) -> Result<DatagramOutcome, FlowError> {
        self.engine.decode(exporter, datagram, received_ns, out)
    }

    /// Gives up on data sets that have waited longer than
    /// `pending_timeout_ns` at `now_ns` (counted in
    /// [`DecoderCounters::pending_expired`]). `decode` does this on every
    /// call; call it directly when no datagrams arrive, and with `i64::MAX`
    /// at the end of a capture to count every set still waiting.
    pub fn expire(&mut self, now_ns: i64) {
        self.engine.expire(now_ns);
    }
}

/// The decoder, generic over the NetFlow v9/IPFIX template implementation.
pub(crate) struct Engine<B: TemplateBackend> {
    cfg: FlowDecoderConfig,
    backend: B,
    scopes: HashMap<ScopeKey, Scope<B::Scope>>,
    pending: Pending,
    /// Sampler tables per exporter (address and port) and version, for
    /// records whose sampler was announced in another observation domain.
    /// At most `max_scopes` exporters; dropped with the exporter's last scope.
    exporter_samplers: ExporterSamplers,
    pub(crate) counters: DecoderCounters,
    // Scratch space reused between calls.
    records: Vec<Fields>,
    templates: Vec<u16>,
    missing: Vec<(u16, Vec<u8>)>,
    message: Vec<u8>,
}

impl<B: TemplateBackend + Default> Engine<B> {
    pub(crate) fn new(cfg: FlowDecoderConfig) -> Engine<B> {
        Engine {
            cfg: cfg.normalized(),
            backend: B::default(),
            scopes: HashMap::default(),
            pending: Pending::default(),
            exporter_samplers: HashMap::default(),
            counters: DecoderCounters::default(),
            records: Vec::new(),
            templates: Vec::new(),
            missing: Vec::new(),
            message: Vec::new(),
        }
    }

    /// See [`FlowDecoder::decode`].
    pub(crate) fn decode(
        &mut self,
        exporter: SocketAddr,
        datagram: &[u8],
        received_ns: i64,
        out: &mut Vec<FlowRecord>,
    ) -> Result<DatagramOutcome, FlowError> {
        self.counters.datagrams += 1;
        self.expire(received_ns);
        let before = out.len();
        let result = detect_format(datagram).and_then(|format| {
            self.counters.count_format(format);
            let ip = exporter.ip();
            match format {
                Format::NetflowV5 => v5::decode(ip, datagram, out).map(|n| outcome(format, n)),
                Format::SflowV5 => {
                    sflow::decode(ip, datagram, received_ns, out, &mut self.counters)
                        .map(|n| outcome(format, n))
                }
                Format::NetflowV9 => {
                    self.decode_template(exporter, Version::V9, datagram, received_ns, out)
                }
                Format::Ipfix => {
                    self.decode_template(exporter, Version::Ipfix, datagram, received_ns, out)
                }
            }
        });
        self.counters.records += (out.len() - before) as u64;
        if let Err(e) = &result {
            self.counters.count_error(e);
        }
        result
    }

    /// See [`FlowDecoder::expire`].
    pub(crate) fn expire(&mut self, now_ns: i64) {
        let deadline = now_ns.saturating_sub(self.cfg.pending_timeout_ns);
        while let Some(front) = self.pending.sets.front() {
            if front.received_ns >= deadline && now_ns != i64::MAX {
                break;
            }
            if let Some(set) = self.pending.sets.pop_front() {
                self.pending.bytes = self.pending.bytes.saturating_sub(set.body.len());
                self.counters.pending_expired += 1;
            }
        }
    }

    fn decode_template(
        &mut self,
        exporter: SocketAddr,
        version: Version,
        datagram: &[u8],
        received_ns: i64,
        out: &mut Vec<FlowRecord>,
    ) -> Result<DatagramOutcome, FlowError> {
        let format = format_of(version);
        let (header, domain, message) = parse_header(version, datagram)?;
        check_sets(format, message, header.len)?;

        let key = ScopeKey {
            exporter,
            version,
            domain,
        };
        self.touch_scope(key, received_ns);
        let Some(scope) = self.scopes.get_mut(&key) else {
            // touch_scope always leaves the key in place.
            return Err(FlowError::Rejected { format });
        };

        self.records.clear();
        self.templates.clear();
        self.missing.clear();
        let evicted_before = scope.backend.templates_evicted();
        let decoded = {
            let mut sink = Collector {
                meta: &mut scope.meta,
                exporter_samplers: &mut self.exporter_samplers,
                exporter: (key.exporter, key.version),
                max_exporters: self.cfg.max_scopes,
                counters: &mut self.counters,
                current: Fields::default(),
                kind: RecordKind::Data,
                records: &mut self.records,
                templates: &mut self.templates,
                missing: &mut self.missing,
            };
            scope.backend.decode(message, &mut sink)
        };
        let records = emit(
            &self.records,
            &scope.meta,
            self.exporter_samplers.get(&(key.exporter, key.version)),
            &header,
            key,
            out,
            &mut self.counters,
        );

        let sets_waiting = self.missing.len();
        for (set_id, body) in self.missing.drain(..) {
            park(
                &mut self.pending,
                &self.cfg,
                &mut self.counters,
                PendingSet {
                    key,
                    set_id,
                    received_ns,
                    header,
                    body,
                },
            );
        }

        let mut replayed = 0;
        if !self.templates.is_empty() {
            self.counters.templates_evicted += scope
                .backend
                .templates_evicted()
                .saturating_sub(evicted_before);
            replayed = self.replay(key, format, out);
        }
        decoded.map_err(|_| FlowError::Rejected { format })?;
        Ok(DatagramOutcome {
            format,
            records: records + replayed,
            replayed_records: replayed,
            sets_waiting,
        })
    }

    /// Decodes the waiting sets of `key` whose template is now known, each
    /// with the header of the message it came in (so its times are right).
    fn replay(&mut self, key: ScopeKey, format: Format, out: &mut Vec<FlowRecord>) -> usize {
        let Some(scope) = self.scopes.get_mut(&key) else {
            return 0;
        };
        let mut ready = Vec::new();
        let pending = &mut self.pending;
        pending.sets.retain_mut(|p| {
            if p.key == key && scope.backend.has_template(p.set_id) {
                pending.bytes = pending.bytes.saturating_sub(p.body.len());
                ready.push((p.set_id, p.header, std::mem::take(&mut p.body)));
                false
            } else {
                true
            }
        });
        let mut n = 0;
        for (set_id, header, body) in ready {
            // The original header, its length patched for IPFIX, then the set.
            let message = &mut self.message;
            message.clear();
            message.extend_from_slice(&header.bytes[..header.len]);
            let set_len = body.len() + SET_HEADER_LEN;
            message.extend_from_slice(&set_id.to_be_bytes());
            message.extend_from_slice(&(set_len as u16).to_be_bytes());
            message.extend_from_slice(&body);
            if format == Format::Ipfix {
                let total = (message.len() as u16).to_be_bytes();
                message[2..4].copy_from_slice(&total);
            }
            self.records.clear();
            self.templates.clear();
            self.missing.clear();
            let decoded = {
                let mut sink = Collector {
                    meta: &mut scope.meta,
                    exporter_samplers: &mut self.exporter_samplers,
                    exporter: (key.exporter, key.version),
                    max_exporters: self.cfg.max_scopes,
                    counters: &mut self.counters,
                    current: Fields::default(),
                    kind: RecordKind::Data,
                    records: &mut self.records,
                    templates: &mut self.templates,
                    missing: &mut self.missing,
                };
                scope.backend.decode(message, &mut sink)
            };
            // A set that still has no template was counted again on the way
            // in; undo that, it is one set.
            let still_missing = self.missing.len() as u64;
            self.counters.sets_without_template = self
                .counters
                .sets_without_template
                .saturating_sub(still_missing);
            if decoded.is_err() || still_missing > 0 {
                self.counters.pending_failed += 1;
                continue;
            }
            let got = emit(
                &self.records,
                &scope.meta,
                self.exporter_samplers.get(&(key.exporter, key.version)),
                &header,
                key,
                out,
                &mut self.counters,
            );
            self.counters.pending_decoded += 1;
            self.counters.pending_records += got as u64;
            n += got;
        }
        n
    }

    /// Makes sure a scope for `key` exists, evicting the least recently
    /// used one if `max_scopes` is reached.
    fn touch_scope(&mut self, key: ScopeKey, now: i64) {
        if let Some(scope) = self.scopes.get_mut(&key) {
            scope.last_seen = scope.last_seen.max(now);
            return;
        }
        if self.scopes.len() >= self.cfg.max_scopes {
            let oldest = self
                .scopes
                .iter()
                // Ties go to the smallest key, not to the map's order:
                // its hash is seeded at random.
                .min_by_key(|(k, s)| (s.last_seen, **k))
                .map(|(k, _)| *k);
            if let Some(old) = oldest {
                self.scopes.remove(&old);
                self.counters.scopes_evicted += 1;
                let pending = &mut self.pending;
                let counters = &mut self.counters;
                pending.sets.retain(|p| {
                    if p.key == old {
                        pending.bytes = pending.bytes.saturating_sub(p.body.len());
                        counters.pending_evicted += 1;
                        false
                    } else {
                        true
                    }
                });
                let exporter = (old.exporter, old.version);
                if !self
                    .scopes
                    .keys()
                    .any(|k| (k.exporter, k.version) == exporter)
                {
                    self.exporter_samplers.remove(&exporter);
                }
            }
        }
        let version = key.version;
        self.scopes.insert(
            key,
            Scope {
                backend: self
                    .backend
                    .new_scope(version, self.cfg.max_templates_per_scope),
                meta: ScopeMeta::default(),
                last_seen: now,
            },
        );
        self.counters.scopes_created += 1;
    }
}

/// The exporter-wide sampler table of `key`, created if fewer than `max`
/// exporters have one.
fn exporter_table(
    tables: &mut ExporterSamplers,
    key: (SocketAddr, Version),
    max: usize,
) -> Option<&mut Samplers> {
    if !tables.contains_key(&key) && tables.len() >= max {
        return None;
    }
    Some(tables.entry(key).or_default())
}

/// The format a template scope decodes.
fn format_of(version: Version) -> Format {
    match version {
        Version::V9 => Format::NetflowV9,
        Version::Ipfix => Format::Ipfix,
    }
}

fn outcome(format: Format, records: usize) -> DatagramOutcome {
    DatagramOutcome {
        format,
        records,
        replayed_records: 0,
        sets_waiting: 0,
    }
}

/// Reads a NetFlow v9 or IPFIX header: the header, the scope's domain, and
/// the message (for IPFIX, the datagram cut to the header's length).
fn parse_header(version: Version, d: &[u8]) -> Result<(Header, u32, &[u8]), FlowError> {
    let (format, len) = match version {
        Version::V9 => (Format::NetflowV9, V9_HEADER_LEN),
        Version::Ipfix => (Format::Ipfix, IPFIX_HEADER_LEN),
    };
    let head = d.get(..len).ok_or(FlowError::Truncated {
        format,
        what: "the header",
        offset: 0,
    })?;
    let mut bytes = [0u8; V9_HEADER_LEN];
    bytes[..len].copy_from_slice(head);
    let u32_at = |at| be_u32(head, at).unwrap_or(0);
    match version {
        Version::V9 => {
            let header = Header {
                bytes,
                len,
                export_ns: time::unix_ns(i64::from(u32_at(8)), 0),
                sys_uptime_ms: Some(u32_at(4)),
            };
            Ok((header, u32_at(16), d))
        }
        Version::Ipfix => {
            let length = usize::from(be_u16(head, 2).unwrap_or(0));
            if length < IPFIX_HEADER_LEN {
                return Err(FlowError::BadValue {
                    format,
                    what: "the message length",
                    value: length as u32,
                });
            }
            let message = d.get(..length).ok_or(FlowError::Truncated {
                format,
                what: "the message (shorter than its length field)",
                offset: 0,
            })?;
            let header = Header {
                bytes,
                len,
                export_ns: time::unix_ns(i64::from(u32_at(4)), 0),
                sys_uptime_ms: None,
            };
            Ok((header, u32_at(12), message))
        }
    }
}

/// Checks that the sets after the header tile the message: every set header
/// is whole and every set length is at least 4 and within the message.
/// NetFlow v9 messages may end in up to 3 bytes of padding.
fn check_sets(format: Format, message: &[u8], header_len: usize) -> Result<(), FlowError> {
    let mut at = header_len;
    while at < message.len() {
        let Some(len) = be_u16(message, at + 2) else {
            if format == Format::NetflowV9 && message.len() - at < SET_HEADER_LEN {
                return Ok(());
            }
            return Err(FlowError::Truncated {
                format,
                what: "a set header",
                offset: at,
            });
        };
        let len = usize::from(len);
        if len < SET_HEADER_LEN {
            return Err(FlowError::BadValue {
                format,
                what: "a set length",
                value: len as u32,
            });
        }
        if at + len > message.len() {
            return Err(FlowError::Truncated {
                format,
                what: "a set",
                offset: at,
            });
        }
        at += len;
    }
    Ok(())
}

/// Turns one message's data records into flow records.
fn emit(
    records: &[Fields],
    meta: &ScopeMeta,
    exporter_samplers: Option<&Samplers>,
    header: &Header,
    key: ScopeKey,
    out: &mut Vec<FlowRecord>,
    counters: &mut DecoderCounters,
) -> usize {
    let format = format_of(key.version);
    let base = TimeBase {
        export_ns: header.export_ns,
        sys_uptime_ms: header.sys_uptime_ms,
        system_init_ms: meta.system_init_ms,
    };
    let mut n = 0;
    for f in records {
        let Some(flow) = f.flow(&base) else {
            counters.records_without_addresses += 1;
            continue;
        };
        let (rate, unknown_sampler) = meta.rate_for(f, exporter_samplers);
        if unknown_sampler {
            counters.records_unknown_sampler += 1;
        }
        let scale = |x: u64| x.saturating_mul(u64::from(rate));
        out.push(FlowRecord {
            exporter: key.exporter.ip(),
            observation_domain: key.domain,
            src: flow.src,
            dst: flow.dst,
            src_port: flow.src_port,
            dst_port: flow.dst_port,
            proto: flow.proto,
            packets: scale(flow.packets),
            bytes: scale(flow.bytes),
            reverse_packets: flow.reverse_packets.map(scale),
            reverse_bytes: flow.reverse_bytes.map(scale),
            start_ns: flow.start_ns,
            end_ns: flow.end_ns,
            tcp_flags: flow.tcp_flags,
            sampling_rate: rate,
            sampled: rate > 1,
            direction: flow.direction,
            source: format,
        });
        n += 1;
    }
    n
}

/// Puts a set aside to wait for its template, making room by dropping the
/// oldest waiting sets if a bound is reached.
fn park(
    pending: &mut Pending,
    cfg: &FlowDecoderConfig,
    counters: &mut DecoderCounters,
    set: PendingSet,
) {
    if set.body.len() > cfg.max_pending_bytes {
        counters.pending_evicted += 1;
        return;
    }
    while pending.sets.len() >= cfg.max_pending_sets
        || pending.bytes + set.body.len() > cfg.max_pending_bytes
    {
        match pending.sets.pop_front() {
            Some(old) => {
                pending.bytes = pending.bytes.saturating_sub(old.body.len());
                counters.pending_evicted += 1;
            }
            None => break,
        }
    }
    pending.bytes += set.body.len();
    pending.sets.push_back(set);
}
