//! Timestamp arithmetic shared by the decoders. Everything saturates: an
//! absurd timestamp in a datagram gives an absurd time, never an overflow.

/// Nanoseconds in a second.
pub(crate) const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// `secs` seconds and `nanos` nanoseconds since the Unix epoch, in nanoseconds.
pub(crate) fn unix_ns(secs: i64, nanos: i64) -> i64 {
    secs.saturating_mul(NANOS_PER_SEC).saturating_add(nanos)
}

/// The wall-clock time of `uptime_ms` (a device uptime in milliseconds),
/// given that the device's uptime was `now_uptime_ms` at `now_ns`. The
/// difference is taken modulo 2^32 and read as signed, so a record stamped
/// just after the header's uptime (or across the 49.7-day wrap) still lands
/// next to `now_ns`.
pub(crate) fn from_uptime(now_ns: i64, now_uptime_ms: u32, uptime_ms: u32) -> i64 {
    let back_ms = now_uptime_ms.wrapping_sub(uptime_ms) as i32;
    now_ns.saturating_sub(i64::from(back_ms).saturating_mul(1_000_000))
}

/// An NTP timestamp (seconds since 1900, 2^-32 fractions) in Unix
/// nanoseconds, the fraction rounded to the microsecond when `micros`.
pub(crate) fn from_ntp(secs: u32, fraction: u32, micros: bool) -> i64 {
    let nanos = if micros {
        ((u64::from(fraction) * 1_000_000 + (1 << 31)) >> 32) * 1000
    } else {
        (u64::from(fraction) * 1_000_000_000 + (1 << 31)) >> 32
    };
    unix_ns(i64::from(secs) - NTP_UNIX_OFFSET, nanos as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_before_and_after_the_header() {
        let now = 1_000 * NANOS_PER_SEC;
        assert_eq!(from_uptime(now, 10_000, 9_000), now - NANOS_PER_SEC);
        assert_eq!(from_uptime(now, 10_000, 10_500), now + NANOS_PER_SEC / 2);
        // Across the 2^32 ms wrap.
        assert_eq!(from_uptime(now, 5, u32::MAX), now - 6_000_000);
    }

    #[test]
    fn ntp_epoch() {
        assert_eq!(from_ntp(2_208_988_800, 0, false), 0);
        assert_eq!(
            from_ntp(2_208_988_801, 1 << 31, false),
            NANOS_PER_SEC + NANOS_PER_SEC / 2
        );
        // 0.492060 s as an exporter encodes it, read back to the microsecond.
        let frac = ((492_060u64 << 32) / 1_000_000) as u32;
        assert_eq!(from_ntp(2_208_988_800, frac, true), 492_060_000);
    }
}
