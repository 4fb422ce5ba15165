//! depmap-flows' integration tests on real captures and hand-built
//! datagrams, in one test binary (`autotests = false` in Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod captures;
mod pmacct;
mod robustness;
mod scoping;
