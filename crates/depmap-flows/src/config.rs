//! Decoder limits. Every structure that exporters can grow has a bound here
//! and a counter in [`DecoderCounters`](crate::DecoderCounters) for what the
//! bound turned away.

/// Nanoseconds in a second.
const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Default for [`FlowDecoderConfig::max_scopes`].
pub const DEFAULT_MAX_SCOPES: usize = 4096;

/// Default for [`FlowDecoderConfig::max_templates_per_scope`].
pub const DEFAULT_MAX_TEMPLATES_PER_SCOPE: usize = 512;

/// Default for [`FlowDecoderConfig::max_pending_sets`].
pub const DEFAULT_MAX_PENDING_SETS: usize = 4096;

/// Default for [`FlowDecoderConfig::max_pending_bytes`] (16 MiB).
pub const DEFAULT_MAX_PENDING_BYTES: usize = 16 << 20;

/// Default for [`FlowDecoderConfig::pending_timeout_ns`]: 10 minutes, the
/// usual IPFIX template refresh interval.
pub const DEFAULT_PENDING_TIMEOUT_NS: i64 = 600 * NANOS_PER_SEC;

/// How many sampler/selector IDs (NetFlow v9 `FLOW_SAMPLER_ID`, IPFIX
/// `selectorId`) one template scope remembers with their sampling rate.
/// Past it, new samplers are not remembered (counted in
/// [`DecoderCounters::samplers_not_remembered`](crate::DecoderCounters::samplers_not_remembered))
/// and their records fall back to the scope's default rate.
pub const MAX_SAMPLERS_PER_SCOPE: usize = 256;

/// Limits of a [`FlowDecoder`](crate::FlowDecoder). Zero values are raised
/// to 1 (a bound of zero would make the decoder useless, not safer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowDecoderConfig {
    /// The most template scopes (exporter address and port + NetFlow v9
    /// source ID or IPFIX observation domain) kept at once. When full, the
    /// scope whose last datagram is the oldest is dropped with its templates
    /// and waiting sets ([`DecoderCounters::scopes_evicted`](crate::DecoderCounters::scopes_evicted)).
    pub max_scopes: usize,
    /// The most templates (data and options templates together) one scope
    /// caches. Past it the least recently defined or used template is
    /// evicted ([`DecoderCounters::templates_evicted`](crate::DecoderCounters::templates_evicted));
    /// its data sets then wait for it like those of an unknown template.
    pub max_templates_per_scope: usize,
    /// The most data sets kept waiting for their template, over all scopes.
    /// When full, the oldest waiting set is dropped
    /// ([`DecoderCounters::pending_evicted`](crate::DecoderCounters::pending_evicted)).
    pub max_pending_sets: usize,
    /// The most bytes of waiting data sets, over all scopes; enforced like
    /// `max_pending_sets`.
    pub max_pending_bytes: usize,
    /// How long (by the `received_ns` the caller passes) a data set waits for
    /// its template before it is given up
    /// ([`DecoderCounters::pending_expired`](crate::DecoderCounters::pending_expired)).
    pub pending_timeout_ns: i64,
}

impl Default for FlowDecoderConfig {
    fn default() -> Self {
        FlowDecoderConfig {
            max_scopes: DEFAULT_MAX_SCOPES,
            max_templates_per_scope: DEFAULT_MAX_TEMPLATES_PER_SCOPE,
            max_pending_sets: DEFAULT_MAX_PENDING_SETS,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            pending_timeout_ns: DEFAULT_PENDING_TIMEOUT_NS,
        }
    }
}

impl FlowDecoderConfig {
    /// The configuration with every bound at least 1 and a non-negative timeout.
    pub(crate) fn normalized(self) -> FlowDecoderConfig {
        FlowDecoderConfig {
            max_scopes: self.max_scopes.max(1),
            max_templates_per_scope: self.max_templates_per_scope.max(1),
            max_pending_sets: self.max_pending_sets.max(1),
            max_pending_bytes: self.max_pending_bytes.max(1),
            pending_timeout_ns: self.pending_timeout_ns.max(0),
        }
    }
}
