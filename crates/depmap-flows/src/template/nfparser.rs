//! [`TemplateScope`] on the `netflow_parser` crate (1.0.x), compiled for
//! tests only: it is the reference the native decoder is compared against
//! (see `crate::tests`), and the proof that the trait is the only seam.
//!
//! One `NetflowParser` per scope, so that exporters never share a template
//! ID space. The library's own pending-flow cache and template TTL are left
//! off: both read `Instant::now()`, and depmap bounds waiting data by the
//! caller's timestamps instead (see `crate::decoder`). The library's error
//! sample size is raised to a whole set so that data sets without a template
//! come back complete and can be replayed later.

use std::sync::Arc;

use netflow_parser::variable_versions::ipfix::lookup::IPFixField;
use netflow_parser::variable_versions::ipfix::{FlowSetBody as IpfixBody, IPFix};
use netflow_parser::variable_versions::v9::{FlowSetBody as V9Body, V9};
use netflow_parser::{FieldValue, NetflowPacket, NetflowParser, V9Field};
use rustc_hash::FxHashMap;

use super::{RecordKind, Rejected, Sink, TemplateBackend, TemplateScope, Version};
use crate::fields::{self, Ie};

/// The largest set body: a set is at most 65535 bytes including its 4-byte header.
const MAX_SET_BODY: usize = u16::MAX as usize - 4;

/// Makes scopes; shares the IPFIX element lookup table between them.
#[derive(Debug)]
pub(crate) struct NfParserBackend {
    ipfix_ies: Arc<FxHashMap<IPFixField, Ie>>,
}

impl Default for NfParserBackend {
    fn default() -> Self {
        // The library turns (element ID, enterprise) into an enum without a
        // way back; this table inverts it for the elements depmap reads.
        let ipfix_ies = fields::KNOWN
            .iter()
            .map(|ie| {
                let pen = (ie.pen != fields::IANA).then_some(ie.pen);
                (IPFixField::new(ie.id, pen), *ie)
            })
            .collect();
        NfParserBackend {
            ipfix_ies: Arc::new(ipfix_ies),
        }
    }
}

impl TemplateBackend for NfParserBackend {
    type Scope = NfParserScope;

    fn new_scope(&self, version: Version, max_templates: usize) -> NfParserScope {
        let builder = NetflowParser::builder()
            .with_cache_size(max_templates.max(1))
            .with_allowed_versions(&[9, 10])
            .with_max_error_sample_size(MAX_SET_BODY);
        // The configuration above is valid for every max_templates >= 1; if
        // a future library version disagrees, fall back to its defaults
        // rather than fail.
        let parser = builder.build().unwrap_or_default();
        NfParserScope {
            parser,
            version,
            ipfix_ies: Arc::clone(&self.ipfix_ies),
            buf: Vec::with_capacity(16),
        }
    }
}

/// One scope's `NetflowParser`.
pub(crate) struct NfParserScope {
    parser: NetflowParser,
    version: Version,
    ipfix_ies: Arc<FxHashMap<IPFixField, Ie>>,
    /// Scratch space for a field's wire bytes.
    buf: Vec<u8>,
}

impl std::fmt::Debug for NfParserScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NfParserScope")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl NfParserScope {
    /// Reports one field if depmap reads it.
    fn field(buf: &mut Vec<u8>, ie: Ie, value: &FieldValue, sink: &mut dyn Sink) {
        if !fields::is_known(ie) {
            return;
        }
        buf.clear();
        // write_be_bytes reproduces the wire bytes of every value type; a
        // value it cannot write is skipped like an unknown element.
        if value.write_be_bytes(buf).is_ok() {
            sink.field(ie, buf);
        }
    }

    fn v9_record<'a>(
        buf: &mut Vec<u8>,
        kind: RecordKind,
        record: impl Iterator<Item = &'a (V9Field, FieldValue)>,
        sink: &mut dyn Sink,
    ) {
        sink.begin(kind);
        for (field, value) in record {
            let ie = Ie {
                pen: fields::IANA,
                id: u16::from(*field),
            };
            Self::field(buf, ie, value, sink);
        }
        sink.end();
    }

    fn ipfix_record<'a>(
        buf: &mut Vec<u8>,
        ies: &FxHashMap<IPFixField, Ie>,
        kind: RecordKind,
        record: impl Iterator<Item = &'a (IPFixField, FieldValue)>,
        sink: &mut dyn Sink,
    ) {
        sink.begin(kind);
        for (field, value) in record {
            if let Some(ie) = ies.get(field) {
                Self::field(buf, *ie, value, sink);
            }
        }
        sink.end();
    }

    fn v9(&mut self, p: &V9, sink: &mut dyn Sink) {
        let buf = &mut self.buf;
        for set in &p.flowsets {
            match &set.body {
                V9Body::Template(t) => t
                    .templates
                    .iter()
                    .for_each(|t| sink.template(t.template_id)),
                V9Body::OptionsTemplate(t) => t
                    .templates
                    .iter()
                    .for_each(|t| sink.template(t.template_id)),
                V9Body::Data(d) => {
                    for rec in &d.fields {
                        Self::v9_record(buf, RecordKind::Data, rec.iter(), sink);
                    }
                }
                V9Body::OptionsData(d) => {
                    for rec in &d.fields {
                        Self::v9_record(buf, RecordKind::Options, rec.options_fields.iter(), sink);
                    }
                }
                V9Body::NoTemplate(info) => {
                    sink.missing_template(info.template_id, &info.raw_data, !info.truncated)
                }
                _ => {}
            }
        }
    }

    fn ipfix(&mut self, p: &IPFix, sink: &mut dyn Sink) {
        let buf = &mut self.buf;
        let ies = &*self.ipfix_ies;
        for set in &p.flowsets {
            match &set.body {
                IpfixBody::Template(t) => sink.template(t.template_id),
                IpfixBody::Templates(ts) => ts.iter().for_each(|t| sink.template(t.template_id)),
                IpfixBody::V9Template(t) => sink.template(t.template_id),
                IpfixBody::V9Templates(ts) => ts.iter().for_each(|t| sink.template(t.template_id)),
                IpfixBody::OptionsTemplate(t) => sink.template(t.template_id),
                IpfixBody::OptionsTemplates(ts) => {
                    ts.iter().for_each(|t| sink.template(t.template_id))
                }
                IpfixBody::V9OptionsTemplate(t) => sink.template(t.template_id),
                IpfixBody::V9OptionsTemplates(ts) => {
                    ts.iter().for_each(|t| sink.template(t.template_id))
                }
                IpfixBody::Data(d) => {
                    for rec in &d.fields {
                        Self::ipfix_record(buf, ies, RecordKind::Data, rec.iter(), sink);
                    }
                }
                IpfixBody::OptionsData(d) => {
                    for rec in &d.fields {
                        Self::ipfix_record(buf, ies, RecordKind::Options, rec.iter(), sink);
                    }
                }
                IpfixBody::V9Data(d) => {
                    for rec in &d.fields {
                        Self::v9_record(buf, RecordKind::Data, rec.iter(), sink);
                    }
                }
                IpfixBody::V9OptionsData(d) => {
                    for rec in &d.fields {
                        Self::v9_record(buf, RecordKind::Options, rec.options_fields.iter(), sink);
                    }
                }
                IpfixBody::NoTemplate(info) => {
                    sink.missing_template(info.template_id, &info.raw_data, !info.truncated)
                }
                _ => {}
            }
        }
    }
}

impl TemplateScope for NfParserScope {
    fn decode(&mut self, message: &[u8], sink: &mut dyn Sink) -> Result<(), Rejected> {
        let result = self.parser.parse_bytes(message);
        for packet in &result.packets {
            match (packet, self.version) {
                (NetflowPacket::V9(p), Version::V9) => self.v9(p, sink),
                (NetflowPacket::IPFix(p), Version::Ipfix) => self.ipfix(p, sink),
                // The decoder routes by version, so nothing else arrives.
                _ => return Err(Rejected),
            }
        }
        match result.error {
            None => Ok(()),
            Some(_) => Err(Rejected),
        }
    }

    fn has_template(&self, id: u16) -> bool {
        match self.version {
            Version::V9 => self.parser.has_v9_template(id),
            Version::Ipfix => self.parser.has_ipfix_template(id),
        }
    }

    fn templates_evicted(&self) -> u64 {
        let info = match self.version {
            Version::V9 => self.parser.v9_cache_info(),
            Version::Ipfix => self.parser.ipfix_cache_info(),
        };
        info.metrics.evictions
    }
}
