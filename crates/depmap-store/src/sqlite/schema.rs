//! The SQLite schema, as forward migrations.

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. Append only: never edit a migration that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: edges and the record of ingested inputs.
    "CREATE TABLE edges (
        id             INTEGER PRIMARY KEY,
        client         TEXT    NOT NULL,
        server         TEXT    NOT NULL,
        port           INTEGER NOT NULL,
        proto          INTEGER NOT NULL,
        connections    INTEGER NOT NULL,
        client_packets INTEGER NOT NULL,
        client_bytes   INTEGER NOT NULL,
        server_packets INTEGER NOT NULL,
        server_bytes   INTEGER NOT NULL,
        first_seen     INTEGER NOT NULL,
        last_seen      INTEGER NOT NULL,
        UNIQUE (client, server, port, proto)
    );
    CREATE TABLE ingests (
        id           INTEGER PRIMARY KEY,
        content_hash TEXT    NOT NULL,
        source       TEXT    NOT NULL,
        kind         TEXT    NOT NULL,
        size_bytes   INTEGER NOT NULL,
        ingested_at  INTEGER NOT NULL,
        frames       INTEGER NOT NULL,
        packets      INTEGER NOT NULL,
        ip_bytes     INTEGER NOT NULL,
        malformed    INTEGER NOT NULL,
        edges        INTEGER NOT NULL,
        complete     INTEGER NOT NULL,
        error        TEXT
    );
    CREATE INDEX ingests_by_hash ON ingests (content_hash);",
    // 2: per-day activity of each edge, and names learned for addresses.
    // edge_days is WITHOUT ROWID: its key is its only index, so a row costs
    // little more than its six integers (see docs/STORE.md).
    "CREATE TABLE edge_days (
        edge_id     INTEGER NOT NULL REFERENCES edges (id),
        day         INTEGER NOT NULL,
        hours       INTEGER NOT NULL,
        connections INTEGER NOT NULL,
        packets     INTEGER NOT NULL,
        bytes       INTEGER NOT NULL,
        PRIMARY KEY (edge_id, day)
    ) WITHOUT ROWID;
    CREATE TABLE names (
        address    TEXT    NOT NULL,
        name       TEXT    NOT NULL,
        source     TEXT    NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        PRIMARY KEY (address, name, source)
    ) WITHOUT ROWID;",
    // 3: a cheap fingerprint (size and the first and last 64 KiB) of each
    // input, so a new file is read once: only a fingerprint match makes
    // ingest hash the whole file up front to confirm a repeat.
    "ALTER TABLE ingests ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
    CREATE INDEX ingests_by_fingerprint ON ingests (fingerprint);",
    // 4: where each edge's figures came from (bits: 1 packets, 2 flow
    // exports; every edge before this migration came from packets), and
    // whether any of them are estimates from sampled flow records.
    "ALTER TABLE edges ADD COLUMN sources INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE edges ADD COLUMN sampled INTEGER NOT NULL DEFAULT 0;
    UPDATE edges SET sources = 1;",
    // 5: the policy lifecycle: versioned drafts, time-bound exceptions and
    // an append-only audit trail (see sqlite/policy.rs and docs/STORE.md).
    super::policy::MIGRATION_5,
    // 6: which observer (agent or site) committed which edges. New tables
    // only: no existing row changes, and edges written before this
    // migration have no observer row (who saw them was not recorded).
    // edge_observers is WITHOUT ROWID for the reason edge_days is.
    "CREATE TABLE observers (
        id   INTEGER PRIMARY KEY,
        name TEXT    NOT NULL UNIQUE
    );
    CREATE TABLE edge_observers (
        edge_id     INTEGER NOT NULL REFERENCES edges (id),
        observer_id INTEGER NOT NULL REFERENCES observers (id),
        PRIMARY KEY (edge_id, observer_id)
    ) WITHOUT ROWID;",
];

/// `edges.sources` bit: figures from captured packets.
pub const SOURCE_PACKETS: i64 = 1;
/// `edges.sources` bit: figures from flow-export records.
pub const SOURCE_FLOWS: i64 = 2;
