//! depmap's integration tests, one module per area, in one test binary
//! (`autotests = false` in Cargo.toml): one link instead of one per file,
//! and a new file is a `mod` line here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod agent;
mod baseline;
mod cli;
mod demo;
mod deploy;
mod export;
mod flows;
mod inventory;
mod names;
mod policy;
mod policy_life;
mod policy_render;
mod render;
