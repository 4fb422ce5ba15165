//! Cross-crate integration tests (capture -> decode -> flow table), held to
//! the references in `../shared/data`, in one test binary
//! (`autotests = false` in Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod captures;
mod flow_flood;
mod fuzz_replay;
mod ground_truth;
mod names;
mod workspace;
