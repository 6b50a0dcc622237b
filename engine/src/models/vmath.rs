//! Branch-free `f32` functions for CPU loops the compiler can vectorise.
//!
//! `f32::exp` is a call into libm, so a loop that calls it runs one element at a time.
//! [`exp`] is the classic Cephes `expf` (Moshier; range reduction by `ln 2` in two parts,
//! a degree-6 polynomial, the power of two written into the exponent bits), written with
//! selects instead of branches so that LLVM turns the epilogue and softmax loops into SIMD
//! (SSE2 on any x86-64). Relative error below 2e-7 over the whole range (tested against
//! `f32::exp`). Used by the fused GELU, `quick_gelu`, tanh-GELU and attention softmax of
//! issue 22 (`docs/speed.md`).

/// Below this, `e^x` is under the smallest normal `f32` and [`exp`] returns 0.
const LO: f32 = -87.336_55;
/// Above this, [`exp`] would overflow the exponent; inputs are clamped here (e^88.37 is
/// 2.5e38, near `f32::MAX`).
const HI: f32 = 88.376_26;

/// `e^x`, branch-free (NaN in, NaN out; 0 below [`LO`]).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (|v| < 2^22).
    const ROUND: f32 = 12_582_912.0;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    let xc = x.clamp(LO, HI);
    let n = (xc * LOG2E + ROUND) - ROUND;
    let r = xc - n * C1 - n * C2;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes: 5.0000001201e-1, which rounds to 0.5 in f32
    let y = p * r * r + r + 1.0;
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    let e = y * two_n;
    if x < LO {
        0.0
    } else {
        e
    }
}

/// `tanh(x)` as `1 - 2 / (e^{2x} + 1)`, branch-free (absolute error below 2.5e-7).
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulps_of_libm_over_the_whole_range() {
        let mut worst = 0f32;
        let mut x = -87.3f32;
        while x < 88.3 {
            let (got, want) = (exp(x), x.exp());
            let rel = ((got - want) / want).abs();
            worst = worst.max(rel);
            x += 0.000_731;
        }
        assert!(worst < 2e-7, "worst relative error {worst}");
        for (x, want) in [
            (0.0, 1.0),
            (-200.0, 0.0),
            (-88.0, 0.0),
            (f32::NEG_INFINITY, 0.0),
        ] {
            assert_eq!(exp(x), want, "{x}");
        }
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(100.0).is_finite() && exp(100.0) > 2e38);
    }

    #[test]
    fn tanh_matches_the_standard_library() {
        let mut x = -12f32;
        while x < 12.0 {
            assert!((tanh(x) - x.tanh()).abs() < 2.5e-7, "{x}");
            x += 0.001_3;
        }
    }
}
