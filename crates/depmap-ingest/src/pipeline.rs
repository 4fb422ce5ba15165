//! Flow exports as a source of edges: datagram -> `depmap_flows::FlowDecoder`
//! -> `FlowRecord` -> `depmap_edges::flowrec::RecordAggregator` -> a batch
//! (edges marked as coming from flows, and as sampled where they are).

use std::net::SocketAddr;

use depmap_edges::flowrec::{FlowInput, PairingConfig, RecordAggregator, RecordCounters};
use depmap_edges::EdgeKey;
use depmap_flows::{DecoderCounters, FlowDecoder, FlowDecoderConfig, FlowRecord};
use depmap_store::Batch;

/// Decoder + aggregator: the part shared by captures of exports and
/// listeners.
pub struct Pipeline {
    decoder: FlowDecoder,
    agg: RecordAggregator,
    records: Vec<FlowRecord>,
    /// IP-layer bytes of the records (both directions).
    pub ip_bytes: u64,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            decoder: FlowDecoder::new(FlowDecoderConfig::default()),
            agg: RecordAggregator::new(PairingConfig::default()),
            records: Vec::new(),
            ip_bytes: 0,
        }
    }
}

impl Pipeline {
    /// Decodes one export datagram and aggregates its records. Errors are
    /// counted by the decoder (malformed, by reason).
    pub fn datagram(&mut self, exporter: SocketAddr, payload: &[u8], received_ns: i64) {
        self.records.clear();
        let _ = self
            .decoder
            .decode(exporter, payload, received_ns, &mut self.records);
        for r in &self.records {
            self.ip_bytes += r.bytes + r.reverse_bytes.unwrap_or(0);
            self.agg.add(&FlowInput::from(r));
        }
    }

    /// Gives up on sets still waiting for a template and releases records
    /// still waiting for a partner: the end of the input.
    pub fn finish(&mut self) {
        self.decoder.expire(i64::MAX);
        self.agg.finish();
    }

    /// Takes what is ready for the store: the batch and the sampled edges.
    pub fn take(&mut self) -> (Batch, Vec<EdgeKey>) {
        let edges = self.agg.take_edges_sampled();
        let sampled = edges.iter().filter(|e| e.2).map(|e| e.0).collect();
        let batch = Batch {
            edges: edges.into_iter().map(|(k, s, _)| (k, s)).collect(),
            activity: self.agg.take_activity(),
            ..Batch::default()
        };
        (batch, sampled)
    }

    /// The decoder's counters.
    pub fn decoder(&self) -> DecoderCounters {
        *self.decoder.counters()
    }

    /// Data sets still waiting for their template.
    pub fn pending_sets(&self) -> usize {
        self.decoder.pending_sets()
    }

    /// The aggregator's counters.
    pub fn aggregator(&self) -> RecordCounters {
        self.agg.counters()
    }
}
