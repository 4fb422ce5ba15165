//! What the decoder counts. Every bound has a counter, and every datagram,
//! set or sample that produced no record is counted by reason.

use crate::error::FlowError;
use crate::record::Format;

/// Counters a [`FlowDecoder`](crate::FlowDecoder) keeps. All are totals
/// since the decoder was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecoderCounters {
    /// Datagrams passed to `decode`.
    pub datagrams: u64,
    /// Datagrams per format, indexed like [`Format::ALL`] (counted once the
    /// format is known, even if the rest of the datagram is malformed).
    pub datagrams_by_format: [u64; 4],
    /// Flow records delivered.
    pub records: u64,
    /// Malformed datagrams by reason, indexed like [`FlowError::NAMES`].
    pub malformed: [u64; 5],

    /// Template scopes created (one per exporter address and port and
    /// NetFlow v9 source ID / IPFIX observation domain).
    pub scopes_created: u64,
    /// Scopes dropped because `max_scopes` was reached.
    pub scopes_evicted: u64,
    /// Template and options-template records received (refreshes included).
    pub templates_received: u64,
    /// Templates evicted because a scope reached `max_templates_per_scope`.
    pub templates_evicted: u64,
    /// Options data records received (sampling rates, system init time).
    pub options_records: u64,
    /// Data records that carried no usable source or destination address
    /// (skipped).
    pub records_without_addresses: u64,
    /// Records that name a sampler whose rate has not been announced (yet):
    /// delivered with `sampling_rate` 1 (or the scope default, if one is
    /// known; then not counted here).
    pub records_unknown_sampler: u64,
    /// Sampler IDs not remembered because [`MAX_SAMPLERS_PER_SCOPE`](crate::MAX_SAMPLERS_PER_SCOPE) was reached.
    pub samplers_not_remembered: u64,

    /// Data sets that arrived before their template and were put aside.
    pub sets_without_template: u64,
    /// Of those, sets decoded once their template arrived.
    pub pending_decoded: u64,
    /// Records delivered from those sets (included in `records`).
    pub pending_records: u64,
    /// Waiting sets given up because their template did not arrive within
    /// `pending_timeout_ns` (or at [`FlowDecoder::expire`](crate::FlowDecoder::expire)).
    pub pending_expired: u64,
    /// Waiting sets dropped because `max_pending_sets` or
    /// `max_pending_bytes` was reached, or their scope was evicted.
    pub pending_evicted: u64,
    /// Waiting sets whose template arrived but that still failed to decode.
    pub pending_failed: u64,

    /// sFlow flow samples (plain and expanded) seen.
    pub sflow_flow_samples: u64,
    /// sFlow counter samples (plain and expanded), skipped.
    pub sflow_counter_samples: u64,
    /// sFlow samples of other (enterprise-specific) formats, skipped.
    pub sflow_other_samples: u64,
    /// sFlow flow samples with neither a raw header of a supported protocol
    /// (Ethernet, IPv4, IPv6) nor a sampled IPv4/IPv6 record, skipped.
    pub sflow_unsupported_headers: u64,
    /// sFlow sampled headers that `depmap-wire` classified as not IP (ARP, ...).
    pub sflow_non_ip: u64,
    /// sFlow sampled headers that `depmap-wire` could not decode.
    pub sflow_undecodable_headers: u64,
}

impl DecoderCounters {
    /// Datagrams of one format.
    pub fn datagrams_of(&self, format: Format) -> u64 {
        let i = Format::ALL.iter().position(|f| *f == format).unwrap_or(0);
        self.datagrams_by_format[i]
    }

    /// Malformed datagrams of all reasons.
    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().sum()
    }

    /// Data sets that will never be decoded: waited in vain (expired),
    /// turned away by a bound, or failed after their template arrived.
    pub fn undecodable_sets(&self) -> u64 {
        self.pending_expired + self.pending_evicted + self.pending_failed
    }

    /// `(name, value)` for every counter, for metrics and reports.
    pub fn named(&self) -> Vec<(String, u64)> {
        let mut v = vec![("datagrams".to_string(), self.datagrams)];
        for (f, n) in Format::ALL.iter().zip(self.datagrams_by_format) {
            v.push((format!("datagrams_{}", f.name().replace('-', "_")), n));
        }
        v.push(("records".to_string(), self.records));
        for (name, n) in FlowError::NAMES.iter().zip(self.malformed) {
            v.push((format!("malformed_{name}"), n));
        }
        let rest = [
            ("scopes_created", self.scopes_created),
            ("scopes_evicted", self.scopes_evicted),
            ("templates_received", self.templates_received),
            ("templates_evicted", self.templates_evicted),
            ("options_records", self.options_records),
            ("records_without_addresses", self.records_without_addresses),
            ("records_unknown_sampler", self.records_unknown_sampler),
            ("samplers_not_remembered", self.samplers_not_remembered),
            ("sets_without_template", self.sets_without_template),
            ("pending_decoded", self.pending_decoded),
            ("pending_records", self.pending_records),
            ("pending_expired", self.pending_expired),
            ("pending_evicted", self.pending_evicted),
            ("pending_failed", self.pending_failed),
            ("sflow_flow_samples", self.sflow_flow_samples),
            ("sflow_counter_samples", self.sflow_counter_samples),
            ("sflow_other_samples", self.sflow_other_samples),
            ("sflow_unsupported_headers", self.sflow_unsupported_headers),
            ("sflow_non_ip", self.sflow_non_ip),
            ("sflow_undecodable_headers", self.sflow_undecodable_headers),
        ];
        v.extend(rest.iter().map(|(k, n)| (k.to_string(), *n)));
        v
    }

    pub(crate) fn count_format(&mut self, format: Format) {
        if let Some(i) = Format::ALL.iter().position(|f| *f == format) {
            self.datagrams_by_format[i] += 1;
        }
    }

    pub(crate) fn count_error(&mut self, e: &FlowError) {
        self.malformed[e.index()] += 1;
    }
}
