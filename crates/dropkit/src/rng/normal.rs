//! Uniform and normal conversions of Philox words, written with IEEE-754 operations only
//! (add, multiply, fused multiply-add, divide, square root, integer bit operations) so that
//! the scalar reference, the SIMD kernels and the CUDA kernels give the same bits.
//!
//! Per Philox block `(w0, w1, w2, w3)` (element `i` is in block `i / 4`), Box-Muller makes
//! four normals, in this order:
//! - element `4b + 0`: `rho(w0) * cos(2 pi t(w1))`, element `4b + 1`: `rho(w0) * sin(2 pi t(w1))`;
//! - element `4b + 2`: `rho(w2) * cos(2 pi t(w3))`, element `4b + 3`: `rho(w2) * sin(2 pi t(w3))`;
//!
//! where `rho(w) = sqrt(-2 ln u)`, `u = (2 * (w >> 9) + 1) * 2^-24` (in `(0, 1)`, never 0, so
//! `|n| <= 5.77`), and `t(w) = (w >> 8) * 2^-24` (in `[0, 1)`). `ln`, `sin` and `cos` are the
//! polynomial approximations below (about 2 ulp in `f32`); all of it is `f32`, and `f64`
//! layers widen the `f32` normal.

/// `fdlibm`'s split of ln 2: `LN2_HI` has trailing zero bits so `e * LN2_HI` is exact.
pub(crate) const LN2_HI: f32 = f32::from_bits(0x3f31_7180);
pub(crate) const LN2_LO: f32 = f32::from_bits(0x3717_f7d1);
/// `2 / k` for the odd terms of `ln m = 2 atanh(s)`.
pub(crate) const L3: f32 = 0.666_666_7;
pub(crate) const L5: f32 = 0.4;
pub(crate) const L7: f32 = 0.285_714_3;
pub(crate) const L9: f32 = 0.222_222_22;
/// Taylor coefficients of `sin(pi/2 * r)` in `r`: `(-1)^k (pi/2)^(2k+1) / (2k+1)!`.
pub(crate) const S1: f32 = 1.570_796_4;
pub(crate) const S3: f32 = -0.645_964_1;
pub(crate) const S5: f32 = 0.079_692_63;
pub(crate) const S7: f32 = -0.004_681_754;
pub(crate) const S9: f32 = 0.000_160_441_18;
/// Taylor coefficients of `cos(pi/2 * r)` in `r`: `(-1)^k (pi/2)^(2k) / (2k)!`.
pub(crate) const C2: f32 = -1.233_700_5;
pub(crate) const C4: f32 = 0.253_669_5;
pub(crate) const C6: f32 = -0.020_863_48;
pub(crate) const C8: f32 = 0.000_919_260_26;
pub(crate) const C10: f32 = -2.520_204_2e-5;

/// The open uniform of a word: `(2 * (w >> 9) + 1) * 2^-24`, in `(0, 1)`, exact in `f32`.
#[inline(always)]
pub fn open_uniform(w: u32) -> f32 {
    ((w >> 9) * 2 + 1) as f32 * (1.0 / 16_777_216.0)
}

/// Natural logarithm of a positive normal `f32`, from its exponent and `2 atanh(s)` of its
/// mantissa reduced to `[sqrt(1/2), sqrt(2))`.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    if m > std::f32::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let r = z.mul_add(L9, L7);
    let r = z.mul_add(r, L5);
    let r = z.mul_add(r, L3);
    let lnm = (s * z).mul_add(r, s + s);
    let ef = e as f32;
    ef.mul_add(LN2_HI, ef.mul_add(LN2_LO, lnm))
}

/// `(sin, cos)` of `2 pi * k / 2^24` for `k < 2^24`: the quadrant comes from the integer,
/// the rest `r` in `[-1/2, 1/2)` quarter turns goes through the Taylor polynomials.
#[inline(always)]
pub fn sincos_turns24(k: u32) -> (f32, f32) {
    let q = (k + (1 << 21)) >> 22; // nearest quarter turn, 0..=4
    let rest = k as i32 - (q << 22) as i32; // in [-2^21, 2^21)
    let r = rest as f32 * (1.0 / 4_194_304.0);
    let y = r * r;
    let sp = y.mul_add(S9, S7);
    let sp = y.mul_add(sp, S5);
    let sp = y.mul_add(sp, S3);
    let sp = y.mul_add(sp, S1);
    let s = r * sp;
    let cp = y.mul_add(C10, C8);
    let cp = y.mul_add(cp, C6);
    let cp = y.mul_add(cp, C4);
    let cp = y.mul_add(cp, C2);
    let c = y.mul_add(cp, 1.0);
    match q & 3 {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// Box-Muller on one word pair: `(rho cos, rho sin)` with `rho` from `w_rho`, angle from `w_angle`.
#[inline(always)]
pub fn box_muller(w_rho: u32, w_angle: u32) -> (f32, f32) {
    let rho = (-2.0 * ln(open_uniform(w_rho))).sqrt();
    let (s, c) = sincos_turns24(w_angle >> 8);
    (rho * c, rho * s)
}

/// The four standard normals of one Philox block, in element order.
#[inline(always)]
pub fn normals4(w: [u32; 4]) -> [f32; 4] {
    let (a, b) = box_muller(w[0], w[1]);
    let (c, d) = box_muller(w[2], w[3]);
    [a, b, c, d]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f64) -> f64 {
        let b32 = b as f32;
        let ulp = (f32::from_bits(b32.abs().to_bits() + 1) - b32.abs()) as f64;
        (a as f64 - b).abs() / ulp
    }

    #[test]
    fn ln_is_within_two_ulp_on_every_open_uniform_exponent() {
        let mut worst: f64 = 0.0;
        for k in (0u32..(1 << 23)).step_by(97) {
            let u = ((2 * k + 1) as f32) * (1.0 / 16_777_216.0);
            worst = worst.max(ulps(ln(u), (u as f64).ln()));
        }
        for x in [1.0f32, 0.5, 0.75, 1.5, 1.999, 1e-30, 3.0e38] {
            worst = worst.max(ulps(ln(x), (x as f64).ln()).min(1e9));
            if x == 1.0 {
                assert_eq!(ln(x), 0.0);
            }
        }
        assert!(worst <= 2.0, "worst ln error {worst} ulp");
    }

    #[test]
    fn sincos_is_accurate_and_exact_at_quarters() {
        let mut worst: f64 = 0.0;
        for k in (0u32..(1 << 24)).step_by(61) {
            let (s, c) = sincos_turns24(k);
            let a = 2.0 * std::f64::consts::PI * (k as f64) / 16_777_216.0;
            // Absolute error in units of 2^-24 (sin and cos are in [-1, 1]).
            worst = worst.max((s as f64 - a.sin()).abs() * 16_777_216.0);
            worst = worst.max((c as f64 - a.cos()).abs() * 16_777_216.0);
        }
        assert!(worst <= 2.0, "worst sincos error {worst} x 2^-24");
        assert_eq!(sincos_turns24(0), (0.0, 1.0));
        assert_eq!(sincos_turns24(1 << 22), (1.0, -0.0));
        assert_eq!(sincos_turns24(1 << 23), (-0.0, -1.0));
        assert_eq!(sincos_turns24(3 << 22), (-1.0, 0.0));
    }

    #[test]
    fn open_uniform_never_reaches_the_ends() {
        assert_eq!(open_uniform(0), 1.0 / 16_777_216.0);
        assert_eq!(open_uniform(u32::MAX), 1.0 - 1.0 / 16_777_216.0);
        let n = box_muller(0, 0).0;
        assert!(n.is_finite() && n > 5.7 && n < 5.8, "{n}");
    }
}
