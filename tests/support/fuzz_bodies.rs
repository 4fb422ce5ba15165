//! Fuzz target bodies, shared by the cargo-fuzz targets in `fuzz/` and by
//! the replay test (`tests/fuzz_replay.rs`) that runs their corpora on stable.
