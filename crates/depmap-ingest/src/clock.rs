//! The wall clock, passed in. The engine never reads the time itself: the
//! driver asks a [`Clock`] when it needs "now" (to end idle flows, to date
//! an ingest record), so tests run on a fixed or paused clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where "now" comes from, in nanoseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// The time now (ns since the epoch; 0 before it).
    fn now_ns(&self) -> i64;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0)
    }
}

/// A clock that always says the same time (`depmap ingest` under
/// `DEPMAP_NOW`, tests).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_ns(&self) -> i64 {
        self.0
    }
}

/// A clock that starts at a given time and runs with tokio's clock: the
/// agent under `DEPMAP_NOW`, and tests on paused time, where it advances
/// exactly as far as the paused runtime does.
#[derive(Clone, Copy, Debug)]
pub struct RunningClock {
    start_ns: i64,
    started: tokio::time::Instant,
}

impl RunningClock {
    /// A clock that reads `start_ns` now.
    pub fn starting_at(start_ns: i64) -> RunningClock {
        RunningClock {
            start_ns,
            started: tokio::time::Instant::now(),
        }
    }
}

impl Clock for RunningClock {
    fn now_ns(&self) -> i64 {
        let ran = self.started.elapsed().as_nanos();
        self.start_ns
            .saturating_add(i64::try_from(ran).unwrap_or(i64::MAX))
    }
}
