//! What the decoder counts. Every bound has a counter, and every datagram,
//! set or sample that produced no record is counted by reason.
//! [`DecoderCounters::encode`] writes them all for `/metrics`.

use std::fmt;

use depmap_model::metrics::{counter, counters};
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};

use crate::error::FlowError;
use crate::record::Format;

/// Counters a [`FlowDecoder`](crate::FlowDecoder) keeps. All are totals
/// since the decoder was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

    /// Writes every counter in the Prometheus text format through
    /// prometheus-client, each bound's included (`scopes_evicted`,
    /// `templates_evicted`, `samplers_not_remembered`, `pending_evicted`):
    /// datagrams by `format`, malformed datagrams by `reason`
    /// ([`FlowError::NAMES`]; the name `depmap_flow_malformed_total` is the
    /// one `/metrics` always had, now with the reason), and one
    /// `depmap_flow_*` or `depmap_sflow_*` counter for each of the rest.
    pub fn encode(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        counter(
            e,
            "depmap_flow_datagrams",
            "Flow-export datagrams decoded (or tried).",
            self.datagrams,
        )?;
        counters(
            e,
            "depmap_flow_format_datagrams",
            "Flow-export datagrams by format, counted once the format is known.",
            Format::ALL.map(|f| (FormatLabel { format: f.name() }, self.datagrams_of(f))),
        )?;
        counter(
            e,
            "depmap_flow_decoded_records",
            "Flow records the decoder delivered.",
            self.records,
        )?;
        counters(
            e,
            "depmap_flow_malformed",
            "Malformed flow-export datagrams skipped, by reason.",
            FlowError::NAMES
                .into_iter()
                .zip(self.malformed)
                .map(|(reason, n)| (Reason { reason }, n)),
        )?;
        let one = [
            (
                "depmap_flow_scopes_created",
                "Template scopes created (exporter address and port, and NetFlow v9 source ID or IPFIX observation domain).",
                self.scopes_created,
            ),
            (
                "depmap_flow_scopes_evicted",
                "Template scopes dropped because max_scopes was reached.",
                self.scopes_evicted,
            ),
            (
                "depmap_flow_templates_received",
                "Template and options-template records received (refreshes included).",
                self.templates_received,
            ),
            (
                "depmap_flow_templates_evicted",
                "Templates dropped because a scope reached max_templates_per_scope.",
                self.templates_evicted,
            ),
            (
                "depmap_flow_options_records",
                "Options data records received (sampling rates, system init time).",
                self.options_records,
            ),
            (
                "depmap_flow_records_without_addresses",
                "Flow data records skipped because they carried no usable source or destination address.",
                self.records_without_addresses,
            ),
            (
                "depmap_flow_records_unknown_sampler",
                "Flow records naming a sampler whose rate was not announced (delivered unsampled).",
                self.records_unknown_sampler,
            ),
            (
                "depmap_flow_samplers_not_remembered",
                "Sampler IDs not remembered because a scope reached its sampler bound (MAX_SAMPLERS_PER_SCOPE).",
                self.samplers_not_remembered,
            ),
            (
                "depmap_flow_sets_without_template",
                "Data sets that arrived before their template and were put aside.",
                self.sets_without_template,
            ),
            (
                "depmap_flow_pending_decoded",
                "Put-aside data sets decoded once their template arrived.",
                self.pending_decoded,
            ),
            (
                "depmap_flow_pending_records",
                "Flow records delivered from put-aside data sets.",
                self.pending_records,
            ),
            (
                "depmap_flow_pending_expired",
                "Put-aside data sets given up because their template did not arrive in time.",
                self.pending_expired,
            ),
            (
                "depmap_flow_pending_evicted",
                "Put-aside data sets dropped because max_pending_sets or max_pending_bytes was reached, or their scope was evicted.",
                self.pending_evicted,
            ),
            (
                "depmap_flow_pending_failed",
                "Put-aside data sets that failed to decode once their template arrived.",
                self.pending_failed,
            ),
            (
                "depmap_sflow_flow_samples",
                "sFlow flow samples seen.",
                self.sflow_flow_samples,
            ),
            (
                "depmap_sflow_counter_samples",
                "sFlow counter samples skipped.",
                self.sflow_counter_samples,
            ),
            (
                "depmap_sflow_other_samples",
                "sFlow samples of other (enterprise-specific) formats skipped.",
                self.sflow_other_samples,
            ),
            (
                "depmap_sflow_unsupported_headers",
                "sFlow flow samples skipped because they carried neither a supported raw header nor a sampled IPv4/IPv6 record.",
                self.sflow_unsupported_headers,
            ),
            (
                "depmap_sflow_non_ip_headers",
                "sFlow sampled headers that were not IP.",
                self.sflow_non_ip,
            ),
            (
                "depmap_sflow_undecodable_headers",
                "sFlow sampled headers that could not be decoded.",
                self.sflow_undecodable_headers,
            ),
        ];
        for (name, help, value) in one {
            counter(e, name, help, value)?;
        }
        Ok(())
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FormatLabel {
    format: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use depmap_testdata::counters::{every_field_encoded, of};

    #[test]
    fn decoder_counters_encode_every_field() {
        let (text, f) = every_field_encoded(DecoderCounters::default(), DecoderCounters::encode);
        let n = of(&f, &format!(".malformed[{}]", 2));
        assert_eq!(FlowError::NAMES[2], "truncated");
        assert!(
            text.contains(&format!(
                "depmap_flow_malformed_total{{reason=\"truncated\"}} {n}\n"
            )),
            "{text}"
        );
        let n = of(&f, ".datagrams_by_format[0]");
        assert!(text.contains(&format!(
            "depmap_flow_format_datagrams_total{{format=\"netflow-v5\"}} {n}\n"
        )));
        let n = of(&f, ".pending_evicted");
        assert!(text.contains(&format!("\ndepmap_flow_pending_evicted_total {n}\n")));
    }
}
