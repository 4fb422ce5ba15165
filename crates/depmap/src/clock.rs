//! The clock of a command: `DEPMAP_NOW` (RFC 3339) when set, as a testing
//! aid, else the system clock. The engine never reads the time itself.

use std::sync::Arc;

use anyhow::Context;
pub(crate) use depmap_ingest::Clock;
use depmap_ingest::{FixedClock, RunningClock, SystemClock};

/// The variable that replaces the clock (RFC 3339), for tests.
const NOW_VAR: &str = "DEPMAP_NOW";

/// `DEPMAP_NOW` in ns since the epoch, when set.
fn now_var() -> anyhow::Result<Option<i64>> {
    let Ok(text) = std::env::var(NOW_VAR) else {
        return Ok(None);
    };
    let t = humantime::parse_rfc3339_weak(&text).with_context(|| {
        format!("{NOW_VAR}={text:?} is not an RFC 3339 time such as 2026-11-21T10:00:00Z")
    })?;
    Ok(Some(
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0),
    ))
}

/// For commands that run once: fixed at `DEPMAP_NOW` when set.
pub(crate) fn fixed() -> anyhow::Result<Arc<dyn Clock>> {
    Ok(match now_var()? {
        Some(ns) => Arc::new(FixedClock(ns)),
        None => Arc::new(SystemClock),
    })
}

/// For long runs: starts at `DEPMAP_NOW` when set and runs on from there.
pub(crate) fn running() -> anyhow::Result<Arc<dyn Clock>> {
    Ok(match now_var()? {
        Some(ns) => Arc::new(RunningClock::starting_at(ns)),
        None => Arc::new(SystemClock),
    })
}
