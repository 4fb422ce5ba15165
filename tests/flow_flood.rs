//! A flood of one million concurrent unique 5-tuples against a flow table
//! limited to 100,000 flows: the limit holds at every packet, the flows
//! pushed out are folded into edges (never dropped), and the evictions are
//! counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use depmap_edges::{FlowConfig, FlowTable, NANOS_PER_SEC};
use depmap_suite::flood_syn;

#[test]
fn one_million_concurrent_flows_stay_within_the_configured_limit() {
    const FLOWS: u32 = 1_000_000;
    const LIMIT: usize = 100_000;
    let mut table = FlowTable::new(FlowConfig {
        max_flows: LIMIT,
        ..FlowConfig::default()
    });
    let mut max_seen = 0;
    for i in 0..FLOWS {
        // Every packet a new 5-tuple, all within 10 seconds (no idle expiry).
        let p = flood_syn(i);
        table.observe(NANOS_PER_SEC + i64::from(i) * 10_000, &p);
        max_seen = max_seen.max(table.active_flows());
    }
    assert_eq!(max_seen, LIMIT, "the table never held more than the limit");
    let c = table.counters();
    assert_eq!(c.flows_created, u64::from(FLOWS));
    assert_eq!(c.flows_evicted, u64::from(FLOWS) - LIMIT as u64);
    assert_eq!(c.flows_expired, 0);
    table.finish();
    let edges = table.take_edges();
    let packets: u64 = edges.iter().map(|(_, s)| s.packets()).sum();
    let connections: u64 = edges.iter().map(|(_, s)| s.connections).sum();
    assert_eq!(packets, u64::from(FLOWS), "no packet lost");
    assert_eq!(
        connections,
        u64::from(FLOWS),
        "every evicted flow counted once"
    );
    // One edge per client address.
    assert_eq!(edges.len(), (FLOWS as usize).div_ceil(256));
}
