//! depmap's own NetFlow v9 / IPFIX template decoder: templates and options
//! templates per scope with an LRU bound, fixed and variable-length fields,
//! enterprise elements, template withdrawal. Records are reported as slices
//! of the message, so decoding allocates nothing per record; only a
//! template definition allocates.
//!
//! Why not `netflow_parser`: version 1.0.6 rejects IPFIX variable-length
//! values of length zero, which RFC 7011 section 7 allows and Cisco
//! exporters send, and when it does it silently drops that record and every
//! record after it in the set, without an error
//! (mikemiles-dev/netflow_parser PR #313, open). In the project's
//! `netflow_parser__IPFIX.pcap` that loses 22 records. The crate is kept as
//! a test-only reference that this decoder is compared against.

use foldhash::HashMap;

use super::{RecordKind, Rejected, Sink, TemplateBackend, TemplateScope, Version};
use crate::fields::{self, Ie};
use crate::reader::{be_u16, be_u32};

/// A field length meaning "variable length, carried in the record" (IPFIX).
const VARIABLE: u16 = u16::MAX;

/// NetFlow v9 set IDs.
const V9_TEMPLATE_SET: u16 = 0;
const V9_OPTIONS_TEMPLATE_SET: u16 = 1;
/// IPFIX set IDs.
const IPFIX_TEMPLATE_SET: u16 = 2;
const IPFIX_OPTIONS_TEMPLATE_SET: u16 = 3;
/// Data sets use IDs from 256 up; 4-255 are reserved and skipped.
const FIRST_DATA_SET: u16 = 256;

/// Makes [`NativeScope`]s.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NativeBackend;

impl TemplateBackend for NativeBackend {
    type Scope = NativeScope;

    fn new_scope(&self, version: Version, max_templates: usize) -> NativeScope {
        NativeScope {
            version,
            max_templates: max_templates.max(1),
            templates: HashMap::default(),
            tick: 0,
            evicted: 0,
        }
    }
}

/// One field of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FieldSpec {
    ie: Ie,
    /// Bytes, or [`VARIABLE`].
    len: u16,
    /// Whether depmap reads this element (decided once, at definition).
    known: bool,
}

/// A data or options template.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Template {
    fields: Vec<FieldSpec>,
    kind: RecordKind,
    /// The smallest record: fixed lengths plus one length byte per
    /// variable-length field. Always at least 1.
    min_len: usize,
    /// The LRU stamp: when the template was last defined or used.
    used: u64,
}

impl Template {
    fn new(fields: Vec<FieldSpec>, kind: RecordKind) -> Option<Template> {
        let min_len: usize = fields
            .iter()
            .map(|f| {
                if f.len == VARIABLE {
                    1
                } else {
                    usize::from(f.len)
                }
            })
            .sum();
        // A template whose records take no bytes would loop forever.
        (min_len > 0).then_some(Template {
            fields,
            kind,
            min_len,
            used: 0,
        })
    }
}

/// The templates of one scope.
#[derive(Debug)]
pub(crate) struct NativeScope {
    version: Version,
    max_templates: usize,
    templates: HashMap<u16, Template>,
    tick: u64,
    evicted: u64,
}

impl NativeScope {
    fn define(&mut self, id: u16, mut t: Template, sink: &mut dyn Sink) {
        self.tick += 1;
        t.used = self.tick;
        if !self.templates.contains_key(&id) && self.templates.len() >= self.max_templates {
            let lru = self
                .templates
                .iter()
                .min_by_key(|(_, t)| t.used)
                .map(|(id, _)| *id);
            if let Some(lru) = lru {
                self.templates.remove(&lru);
                self.evicted += 1;
            }
        }
        self.templates.insert(id, t);
        sink.template(id);
    }

    /// RFC 7011 8.1: a record with no fields withdraws its template, or all
    /// templates of the set's kind when its ID is the set ID.
    fn withdraw(&mut self, set_id: u16, id: u16, kind: RecordKind) {
        if id == set_id {
            self.templates.retain(|_, t| t.kind != kind);
        } else {
            self.templates.remove(&id);
        }
    }

    /// A field specifier: NetFlow v9 (type, length); IPFIX (element ID with
    /// the enterprise bit, length, enterprise number if the bit is set).
    fn field_spec(&self, body: &[u8], at: &mut usize) -> Option<FieldSpec> {
        let raw = be_u16(body, *at)?;
        let len = be_u16(body, *at + 2)?;
        *at += 4;
        let ie = match self.version {
            // v9 types 32768 and up are vendor-specific: never read.
            Version::V9 if raw >= 0x8000 => Ie {
                pen: u32::MAX,
                id: raw,
            },
            Version::V9 => Ie {
                pen: fields::IANA,
                id: raw,
            },
            Version::Ipfix if raw & 0x8000 != 0 => {
                let pen = be_u32(body, *at)?;
                *at += 4;
                Ie {
                    pen,
                    id: raw & 0x7fff,
                }
            }
            Version::Ipfix => Ie {
                pen: fields::IANA,
                id: raw,
            },
        };
        if self.version == Version::V9 && len == VARIABLE {
            return None;
        }
        Some(FieldSpec {
            ie,
            len,
            known: fields::is_known(ie),
        })
    }

    /// A template set: records until the set ends or only padding is left.
    fn template_set(
        &mut self,
        set_id: u16,
        body: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<(), Rejected> {
        let mut at = 0;
        while body.len() - at >= 4 {
            let Some(id) = be_u16(body, at) else { break };
            let count = usize::from(be_u16(body, at + 2).ok_or(Rejected)?);
            if id == 0 && count == 0 {
                break; // padding
            }
            at += 4;
            if self.version == Version::Ipfix && count == 0 {
                // RFC 7011 8.1: withdrawal of one template, or of all
                // templates when the ID is the set ID.
                self.withdraw(set_id, id, RecordKind::Data);
                continue;
            }
            if id < FIRST_DATA_SET || count == 0 {
                return Err(Rejected);
            }
            let mut specs = Vec::with_capacity(count.min(body.len() / 4));
            for _ in 0..count {
                specs.push(self.field_spec(body, &mut at).ok_or(Rejected)?);
            }
            let t = Template::new(specs, RecordKind::Data).ok_or(Rejected)?;
            self.define(id, t, sink);
        }
        Ok(())
    }

    /// An options template set.
    fn options_template_set(
        &mut self,
        set_id: u16,
        body: &[u8],
        sink: &mut dyn Sink,
    ) -> Result<(), Rejected> {
        let mut at = 0;
        loop {
            let left = body.len() - at;
            match self.version {
                Version::V9 if left < 6 => break,
                Version::Ipfix if left < 4 => break,
                _ => {}
            }
            let id = be_u16(body, at).ok_or(Rejected)?;
            if id == 0 {
                break; // padding
            }
            let mut specs = Vec::new();
            match self.version {
                Version::V9 => {
                    // Scope and option lengths are in bytes; scope field
                    // types (system, interface, ...) are not elements.
                    let scope_bytes = usize::from(be_u16(body, at + 2).ok_or(Rejected)?);
                    let option_bytes = usize::from(be_u16(body, at + 4).ok_or(Rejected)?);
                    at += 6;
                    if id < FIRST_DATA_SET || scope_bytes % 4 != 0 || option_bytes % 4 != 0 {
                        return Err(Rejected);
                    }
                    for i in 0..(scope_bytes + option_bytes) / 4 {
                        let mut spec = self.field_spec(body, &mut at).ok_or(Rejected)?;
                        if i < scope_bytes / 4 {
                            spec.ie.pen = u32::MAX;
                            spec.known = false;
                        }
                        specs.push(spec);
                    }
                }
                Version::Ipfix => {
                    let count = usize::from(be_u16(body, at + 2).ok_or(Rejected)?);
                    at += 4;
                    if count == 0 {
                        self.withdraw(set_id, id, RecordKind::Options);
                        continue;
                    }
                    let scope_count = usize::from(be_u16(body, at).ok_or(Rejected)?);
                    at += 2;
                    if id < FIRST_DATA_SET || scope_count == 0 || scope_count > count {
                        return Err(Rejected);
                    }
                    for _ in 0..count {
                        specs.push(self.field_spec(body, &mut at).ok_or(Rejected)?);
                    }
                }
            }
            let t = Template::new(specs, RecordKind::Options).ok_or(Rejected)?;
            self.define(id, t, sink);
        }
        Ok(())
    }

    /// A data set whose template is known: records until fewer bytes than
    /// the smallest record are left (padding).
    fn data_set(t: &Template, body: &[u8], sink: &mut dyn Sink) -> Result<(), Rejected> {
        let mut at = 0;
        while body.len() - at >= t.min_len {
            let start = at;
            // First pass: check the whole record fits, so that a record cut
            // short is never half-reported.
            for f in &t.fields {
                let Some((_, next)) = field_bounds(body, at, f.len) else {
                    return if body[start..].iter().all(|b| *b == 0) {
                        Ok(()) // zero padding
                    } else {
                        Err(Rejected)
                    };
                };
                at = next;
            }
            sink.begin(t.kind);
            let mut at2 = start;
            for f in &t.fields {
                if let Some((value, next)) = field_bounds(body, at2, f.len) {
                    if f.known {
                        sink.field(f.ie, value);
                    }
                    at2 = next;
                }
            }
            sink.end();
        }
        Ok(())
    }
}

/// A field's value starting at `at` and the offset after it. Variable
/// length: one length byte, or 255 and a two-byte length (RFC 7011 7);
/// zero is a valid length.
fn field_bounds(body: &[u8], at: usize, len: u16) -> Option<(&[u8], usize)> {
    let (start, len) = if len == VARIABLE {
        let first = *body.get(at)?;
        if first == 255 {
            (at + 3, usize::from(be_u16(body, at + 1)?))
        } else {
            (at + 1, usize::from(first))
        }
    } else {
        (at, usize::from(len))
    };
    let end = start.checked_add(len)?;
    Some((body.get(start..end)?, end))
}

impl TemplateScope for NativeScope {
    fn decode(&mut self, message: &[u8], sink: &mut dyn Sink) -> Result<(), Rejected> {
        let (header_len, template_set, options_set) = match self.version {
            Version::V9 => (20, V9_TEMPLATE_SET, V9_OPTIONS_TEMPLATE_SET),
            Version::Ipfix => (16, IPFIX_TEMPLATE_SET, IPFIX_OPTIONS_TEMPLATE_SET),
        };
        let mut result = Ok(());
        let mut at = header_len;
        while message.len().saturating_sub(at) >= 4 {
            let (Some(id), Some(len)) = (be_u16(message, at), be_u16(message, at + 2)) else {
                break;
            };
            let len = usize::from(len);
            let Some(body) = message.get(at + 4..at + len.max(4)) else {
                return Err(Rejected);
            };
            if len < 4 {
                return Err(Rejected);
            }
            at += len;
            let set = if id == template_set {
                self.template_set(id, body, sink)
            } else if id == options_set {
                self.options_template_set(id, body, sink)
            } else if id >= FIRST_DATA_SET {
                self.tick += 1;
                match self.templates.get_mut(&id) {
                    Some(t) => {
                        t.used = self.tick;
                        Self::data_set(t, body, sink)
                    }
                    None => {
                        sink.missing_template(id, body, true);
                        Ok(())
                    }
                }
            } else {
                Ok(()) // reserved set IDs
            };
            // One bad set does not hide the others.
            result = result.and(set);
        }
        result
    }

    fn has_template(&self, id: u16) -> bool {
        self.templates.contains_key(&id)
    }

    fn templates_evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as reported: its kind and its (element, value) fields.
    type Reported = (RecordKind, Vec<(Ie, Vec<u8>)>);

    #[derive(Default)]
    struct Log {
        templates: Vec<u16>,
        records: Vec<Reported>,
        missing: Vec<(u16, usize)>,
    }

    impl Sink for Log {
        fn template(&mut self, id: u16) {
            self.templates.push(id);
        }
        fn begin(&mut self, kind: RecordKind) {
            self.records.push((kind, Vec::new()));
        }
        fn field(&mut self, ie: Ie, value: &[u8]) {
            if let Some(r) = self.records.last_mut() {
                r.1.push((ie, value.to_vec()));
            }
        }
        fn end(&mut self) {}
        fn missing_template(&mut self, set_id: u16, body: &[u8], _complete: bool) {
            self.missing.push((set_id, body.len()));
        }
    }

    fn ipfix(sets: &[u8]) -> Vec<u8> {
        let mut m = vec![0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        m.extend_from_slice(sets);
        let len = (m.len() as u16).to_be_bytes();
        m[2..4].copy_from_slice(&len);
        m
    }

    #[test]
    fn variable_length_fields_including_empty_ones() {
        let mut scope = NativeBackend.new_scope(Version::Ipfix, 8);
        // Template 300: sourceIPv4Address(4), a variable-length string
        // (applicationName, 96), protocolIdentifier(1).
        let template = [
            0, 2, 0, 20, 1, 44, 0, 3, 0, 8, 0, 4, 0, 96, 255, 255, 0, 4, 0, 1,
        ];
        // Two records: empty string; 3-byte string in the long form.
        let data = [
            1, 44, 0, 23, 10, 0, 0, 1, 0, 6, 10, 0, 0, 2, 255, 0, 3, b'a', b'b', b'c', 17, 0, 0,
        ];
        let mut log = Log::default();
        let mut sets = template.to_vec();
        sets.extend_from_slice(&data);
        scope.decode(&ipfix(&sets), &mut log).unwrap();
        assert_eq!(log.templates, vec![300]);
        assert_eq!(log.records.len(), 2);
        let src = Ie { pen: 0, id: 8 };
        assert_eq!(log.records[0].1[0], (src, vec![10, 0, 0, 1]));
        assert_eq!(log.records[1].1[0], (src, vec![10, 0, 0, 2]));
        assert_eq!(log.records[1].1[1], (Ie { pen: 0, id: 4 }, vec![17]));
    }

    #[test]
    fn data_before_template_is_reported_missing() {
        let mut scope = NativeBackend.new_scope(Version::Ipfix, 8);
        let mut log = Log::default();
        scope
            .decode(&ipfix(&[1, 44, 0, 8, 10, 0, 0, 1]), &mut log)
            .unwrap();
        assert_eq!(log.missing, vec![(300, 4)]);
        assert!(!scope.has_template(300));
    }

    #[test]
    fn withdrawal_and_bad_templates() {
        let mut scope = NativeBackend.new_scope(Version::Ipfix, 8);
        let mut log = Log::default();
        scope
            .decode(&ipfix(&[0, 2, 0, 12, 1, 44, 0, 1, 0, 8, 0, 4]), &mut log)
            .unwrap();
        assert!(scope.has_template(300));
        scope
            .decode(&ipfix(&[0, 2, 0, 8, 1, 44, 0, 0]), &mut log)
            .unwrap();
        assert!(!scope.has_template(300));
        // A template whose records are empty would loop: rejected.
        assert_eq!(
            scope.decode(&ipfix(&[0, 2, 0, 12, 1, 44, 0, 1, 0, 8, 0, 0]), &mut log),
            Err(Rejected)
        );
        // A template ID below 256.
        assert_eq!(
            scope.decode(&ipfix(&[0, 2, 0, 12, 0, 10, 0, 1, 0, 8, 0, 4]), &mut log),
            Err(Rejected)
        );
    }

    #[test]
    fn lru_bound() {
        let mut scope = NativeBackend.new_scope(Version::V9, 2);
        let mut log = Log::default();
        let mut msg = vec![0u8; 20];
        msg[1] = 9;
        for id in [256u16, 257, 258] {
            let mut m = msg.clone();
            let idb = id.to_be_bytes();
            m.extend_from_slice(&[0, 0, 0, 12, idb[0], idb[1], 0, 1, 0, 8, 0, 4]);
            scope.decode(&m, &mut log).unwrap();
        }
        assert_eq!(scope.templates.len(), 2);
        assert_eq!(scope.templates_evicted(), 1);
        assert!(!scope.has_template(256));
    }
}
