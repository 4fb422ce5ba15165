//! The generator's own pseudo-random numbers.
//!
//! depmap-synth promises that a seed names one capture, byte for byte, in
//! every version of depmap: golden hashes in tests, benchmark files and demo
//! databases stay comparable across releases. A random-number crate makes no
//! such promise (rand's `StdRng` says its algorithm may change in any minor
//! release, and distribution code changes with it), so the generator uses
//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014): eight lines, constants fixed by the paper, and
//! good enough statistically (it passes BigCrush) for traffic shapes.
//!
//! Floating point is limited to IEEE basic operations (+, -, *, /), which
//! are correctly rounded and give the same bits on every platform Rust
//! supports; `f64::ln` comes from the platform's libm and may differ in the
//! last bit between systems, so [`ln`] is computed here from a series.

/// A SplitMix64 generator. Same seed, same sequence, on every platform and in
/// every version of this crate.
///
/// ```
/// use depmap_synth::Rng;
/// let mut a = Rng::new(42);
/// let mut b = Rng::new(42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// assert!(a.below(10) < 10);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function (a variant of MurmurHash3's finaliser); also
/// a good 64-bit mixer for deriving seeds.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// An independent generator for sub-stream `stream` of `seed`: each
    /// source of traffic draws from its own stream, so adding one source
    /// does not change the numbers another one sees.
    pub fn derive(seed: u64, stream: u64) -> Rng {
        Rng::new(mix(seed ^ mix(stream.wrapping_add(GOLDEN_GAMMA))))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A number in `0..n` (0 when `n` is 0), by Lemire's multiply-shift.
    /// The bias is below `n / 2^64`, far below anything a traffic shape shows.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `lo..=hi` (`lo` when `hi < lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent / 100`.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A uniform number in `(0, 1]` with 53 random bits (never 0, so its
    /// logarithm is finite).
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// An exponentially distributed number with the given mean: the gap
    /// between events of a Poisson process.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * ln(self.unit())
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The natural logarithm of a positive, finite, normal `x`, from IEEE basic
/// operations only (see the module docs for why not `f64::ln`). Accurate to
/// a few ulps, which is all a traffic generator needs.
pub(crate) fn ln(x: f64) -> f64 {
    const LN_2: f64 = std::f64::consts::LN_2;
    const SQRT_2: f64 = std::f64::consts::SQRT_2;
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    // The mantissa as a number in [1, 2), then moved to [sqrt(1/2), sqrt(2))
    // so the series below converges fast.
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if m > SQRT_2 {
        m /= 2.0;
        exponent += 1;
    }
    // ln(m) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m-1)/(m+1);
    // |s| < 0.172, so 12 terms leave an error below 2^-60.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    for k in 0..12 {
        sum += term / f64::from(2 * k + 1);
        term *= s2;
    }
    2.0 * sum + exponent as f64 * LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_values() {
        // The first outputs for seed 0 from the reference implementation
        // (Vigna's splitmix64.c); they must never change.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(r.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn ln_matches_libm_closely() {
        for &x in &[1e-300, 1e-16, 0.001, 0.1, 0.5, 0.7, 0.9999, 1.0, 2.0, 1e10] {
            let ours = ln(x);
            let libm = x.ln();
            assert!(
                (ours - libm).abs() <= 4.0 * f64::EPSILON * libm.abs().max(1.0),
                "ln({x}) = {ours}, libm says {libm}"
            );
        }
    }

    #[test]
    fn exponential_has_its_mean() {
        let mut r = Rng::new(7);
        let n = 100_000;
        let mean = (0..n).map(|_| r.exponential(10.0)).sum::<f64>() / f64::from(n);
        assert!((mean - 10.0).abs() < 0.2, "mean {mean}");
    }

    #[test]
    fn below_and_range_stay_in_bounds() {
        let mut r = Rng::new(1);
        for _ in 0..10_000 {
            assert!(r.below(7) < 7);
            let v = r.range(5, 9);
            assert!((5..=9).contains(&v));
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.range(3, 3), 3);
    }
}
