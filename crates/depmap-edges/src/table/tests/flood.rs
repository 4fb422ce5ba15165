//! Hash flooding: packets whose flow keys collide under a hash must not
//! make the table's per-packet work grow with their number.
//!
//! The measure is key comparisons per packet (each a read of a flow record
//! in the slab). A flood of `FLOOD` keys sharing their index bucket makes a
//! lookup compare against a share of all the keys before it, so comparisons
//! per packet grow with the flood; keys spread by the hash take about one.

use std::net::Ipv6Addr;

use rustc_hash::FxBuildHasher;

use super::*;

/// Flows in each run. The table holds them all (`MAX_FLOWS`), so none is
/// evicted and every lookup faces the whole flood.
const FLOOD: usize = 1500;
const MAX_FLOWS: usize = 2048;

/// What a flood may cost, per packet, against a run of ordinary keys of the
/// same size. A seeded hash spreads both alike (ratio about 1, measured
/// 0.99-1.00). Keys that share a bucket make it about `1 + FLOOD / 256`
/// (hashbrown compares keys only where 7 more bits of the hash agree):
/// 6.9 here. Keys whose whole hash agrees, as the FxHash flood does in an
/// FxHash index, make it about `FLOOD / 2`: 750 against 0.5.
const BOUND: f64 = 1.5;

/// The far side of every flow: above every flooding address, so each key's
/// first address is the flooding one.
const SERVER: u128 = u128::MAX;

fn config() -> FlowConfig {
    FlowConfig {
        max_flows: MAX_FLOWS,
        ..FlowConfig::default()
    }
}

fn packet(client: u128) -> Packet {
    Packet {
        src: IpAddr::V6(Ipv6Addr::from(client)),
        dst: IpAddr::V6(Ipv6Addr::from(SERVER)),
        has_ports: true,
        ..pkt(0, 40000, 0, 443, ipproto::UDP, 0, 100)
    }
}

fn key(client: u128) -> FlowKey {
    FlowKey::of(
        &IpAddr::V6(Ipv6Addr::from(client)),
        40000,
        &IpAddr::V6(Ipv6Addr::from(SERVER)),
        443,
        ipproto::UDP,
    )
    .0
}

/// Key comparisons per packet when each client sends two packets (the
/// first creates its flow, the second finds it) and the flows then end.
fn comparisons_per_packet(t: &mut FlowTable, clients: &[u128]) -> f64 {
    let before = comparisons();
    for round in 0..2 {
        for (i, &c) in clients.iter().enumerate() {
            t.observe(S + round * S + i as i64, &packet(c));
        }
    }
    t.finish();
    assert_eq!(t.counters().flows_created, clients.len() as u64);
    assert_eq!(t.take_edges().len(), clients.len());
    (comparisons() - before) as f64 / (2 * clients.len()) as f64
}

/// Ordinary clients: consecutive addresses.
fn ordinary() -> Vec<u128> {
    (0..FLOOD as u128)
        .map(|i| 0x2001_0db8_0000_0001_0000_0000_0000_0000 + i)
        .collect()
}

/// Clients whose flow keys all have the same FxHash, written down without a
/// search: FxHash adds each 64-bit word and multiplies by `K`, so raising
/// an address's low half by `i` and lowering its high half by `i * K` leaves
/// the hash as it was.
fn colliding_under_fxhash() -> Vec<u128> {
    const K: u64 = 0xf1357aea2e62a9c5;
    let (hi, lo) = (0x2001_0db8_0000_0002_u64, 0x1000_u64);
    (0..FLOOD as u64)
        .map(|i| {
            let hi = hi.wrapping_sub(i.wrapping_mul(K));
            (u128::from(hi) << 64) | u128::from(lo + i)
        })
        .collect()
}

/// Clients whose flow keys fall in the same index bucket of a table seeded
/// with `hasher`, found by search: what an attacker who knew the seed could
/// send.
fn colliding_under(hasher: &FlowHasher, buckets: u64) -> Vec<u128> {
    let mask = buckets - 1;
    let target = hasher.hash_one(key(0x2001_0db8_0000_0003 << 64)) & mask;
    let mut found = Vec::with_capacity(FLOOD);
    let mut c: u128 = 0x2001_0db8_0000_0003 << 64;
    while found.len() < FLOOD {
        if hasher.hash_one(key(c)) & mask == target {
            found.push(c);
        }
        c += 1;
    }
    found
}

/// Index buckets of a table made with [`config`]: hashbrown keeps 1/8 of
/// them free, in a power of two.
fn buckets(t: &FlowTable) -> u64 {
    let buckets = (t.index.capacity() * 8 / 7).next_power_of_two() as u64;
    assert!(buckets.is_power_of_two() && buckets as usize > MAX_FLOWS);
    buckets
}

#[test]
fn keys_colliding_under_fxhash_cost_what_ordinary_keys_cost() {
    let flood = colliding_under_fxhash();
    // A real flood for the hash the table used before: one FxHash for all.
    let fx = FxBuildHasher.hash_one(key(flood[0]));
    assert!(flood.iter().all(|&c| FxBuildHasher.hash_one(key(c)) == fx));

    let base = comparisons_per_packet(&mut FlowTable::new(config()), &ordinary());
    let flooded = comparisons_per_packet(&mut FlowTable::new(config()), &flood);
    let ratio = flooded / base;
    assert!(
        ratio <= BOUND,
        "{flooded:.2} comparisons per packet under an FxHash flood, \
         {base:.2} for ordinary keys: ratio {ratio:.2} > {BOUND}"
    );
}

#[test]
fn keys_colliding_under_a_known_seed_cost_what_ordinary_keys_cost_under_another() {
    let known = FlowHasher::with_seed(7);
    let mut t = FlowTable::with_hasher(config(), known.clone());
    let flood = colliding_under(&known, buckets(&t));
    let base = comparisons_per_packet(&mut FlowTable::with_hasher(config(), known), &ordinary());

    // The measure sees a flood: with the seed known, the keys share one
    // bucket and the work per packet grows with their number.
    let flooded = comparisons_per_packet(&mut t, &flood);
    assert!(
        flooded / base > 3.0 * BOUND,
        "a flood under the table's own seed should show: \
         {flooded:.2} comparisons per packet against {base:.2}"
    );

    // A table seeded at random, as every table is, does not: the keys are
    // ordinary keys to it.
    let base = comparisons_per_packet(&mut FlowTable::new(config()), &ordinary());
    let flooded = comparisons_per_packet(&mut FlowTable::new(config()), &flood);
    let ratio = flooded / base;
    assert!(
        ratio <= BOUND,
        "{flooded:.2} comparisons per packet under a flood built for another \
         seed, {base:.2} for ordinary keys: ratio {ratio:.2} > {BOUND}"
    );
}
