//! Box-Muller on 16 lanes with the reference's operation sequence.

use std::arch::x86_64::*;

use super::philox::XOR_AND;
use crate::rng::normal::{C10, C2, C4, C6, C8, L3, L5, L7, L9, LN2_HI, LN2_LO, S1, S3, S5, S7, S9};

/// `ln` of 16 positive normal floats: [`crate::rng::normal::ln`] lane by lane, its exponent
/// and mantissa in `[1, 2)` taken by `vgetexpps` and `vgetmantps` (the same values as the
/// reference's bit fields, the exponent already a float).
#[inline(always)]
pub(super) unsafe fn ln16(x: __m512) -> __m512 {
    // SAFETY: register arithmetic; the caller enabled AVX-512F.
    unsafe {
        let e = _mm512_getexp_ps(x);
        let m = _mm512_getmant_ps::<_MM_MANT_NORM_1_2, _MM_MANT_SIGN_SRC>(x);
        let big = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(m, _mm512_set1_ps(std::f32::consts::SQRT_2));
        let one = _mm512_set1_ps(1.0);
        // Exact: halving a mantissa, adding 1 to a small integer.
        let m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5));
        let ef = _mm512_mask_add_ps(e, big, e, one);
        let s = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
        let z = _mm512_mul_ps(s, s);
        let r = _mm512_fmadd_ps(z, _mm512_set1_ps(L9), _mm512_set1_ps(L7));
        let r = _mm512_fmadd_ps(z, r, _mm512_set1_ps(L5));
        let r = _mm512_fmadd_ps(z, r, _mm512_set1_ps(L3));
        let lnm = _mm512_fmadd_ps(_mm512_mul_ps(s, z), r, _mm512_add_ps(s, s));
        _mm512_fmadd_ps(
            ef,
            _mm512_set1_ps(LN2_HI),
            _mm512_fmadd_ps(ef, _mm512_set1_ps(LN2_LO), lnm),
        )
    }
}

/// `sqrt(-2 ln u(w))` of 16 words, as [`crate::rng::normal::box_muller`]'s `rho`.
#[inline(always)]
pub(super) unsafe fn rho16(w: __m512i) -> __m512 {
    // SAFETY: register arithmetic; the caller enabled AVX-512F.
    unsafe {
        // (w >> 9) * 2 + 1 == (w >> 8) | 1, below 2^24: converted exactly.
        let odd = _mm512_or_si512(_mm512_srli_epi32::<8>(w), _mm512_set1_epi32(1));
        let u = _mm512_mul_ps(_mm512_cvtepi32_ps(odd), _mm512_set1_ps(1.0 / 16_777_216.0));
        _mm512_sqrt_ps(_mm512_mul_ps(_mm512_set1_ps(-2.0), ln16(u)))
    }
}

/// `(sin, cos)` of the angle word of 16 lanes: [`crate::rng::normal::sincos_turns24`] of
/// `w >> 8`.
///
/// With `k = w >> 8` and `t = k + 2^21`, the reference's quadrant is `q = t >> 22` and its
/// remainder `r = ((t mod 2^22) - 2^21) 2^-22`. `v = w + 2^29` (wrapping) is `t 2^8` plus
/// `w`'s low byte, modulo `2^32`, so `q & 3` is `v`'s top two bits and `(t mod 2^22) 2^8` is
/// `v & 0x3fffff00` (below 2^30 with 22 significant bits: converted exactly). `r` is then one
/// FMA, `that * 2^-30 - 0.5`, whose exact value `rest 2^-22` is a float, so it is exact.
#[inline(always)]
pub(super) unsafe fn sincos16(w: __m512i) -> (__m512, __m512) {
    // SAFETY: register arithmetic; the caller enabled AVX-512F.
    unsafe {
        let v = _mm512_add_epi32(w, _mm512_set1_epi32(1 << 29));
        let t = _mm512_and_si512(v, _mm512_set1_epi32(0x3fff_ff00));
        let r = _mm512_fmadd_ps(
            _mm512_cvtepi32_ps(t),
            _mm512_set1_ps(1.0 / 1_073_741_824.0),
            _mm512_set1_ps(-0.5),
        );
        let y = _mm512_mul_ps(r, r);
        let sp = _mm512_fmadd_ps(y, _mm512_set1_ps(S9), _mm512_set1_ps(S7));
        let sp = _mm512_fmadd_ps(y, sp, _mm512_set1_ps(S5));
        let sp = _mm512_fmadd_ps(y, sp, _mm512_set1_ps(S3));
        let sp = _mm512_fmadd_ps(y, sp, _mm512_set1_ps(S1));
        let s = _mm512_mul_ps(r, sp);
        let cp = _mm512_fmadd_ps(y, _mm512_set1_ps(C10), _mm512_set1_ps(C8));
        let cp = _mm512_fmadd_ps(y, cp, _mm512_set1_ps(C6));
        let cp = _mm512_fmadd_ps(y, cp, _mm512_set1_ps(C4));
        let cp = _mm512_fmadd_ps(y, cp, _mm512_set1_ps(C2));
        let c = _mm512_fmadd_ps(y, cp, _mm512_set1_ps(1.0));
        // Quadrant q & 3: 0 (s, c), 1 (c, -s), 2 (-s, -c), 3 (-c, s). Odd q swaps (bit 30 of
        // v); sin is negated for q & 2 (bit 31 of v), cos for (q + 1) & 2 (bit 31 of
        // v + 2^30).
        let swap = _mm512_test_epi32_mask(v, _mm512_set1_epi32(1 << 30));
        let sign = _mm512_set1_epi32(i32::MIN);
        let sin = _mm512_ternarylogic_epi32::<XOR_AND>(
            _mm512_castps_si512(_mm512_mask_blend_ps(swap, s, c)),
            v,
            sign,
        );
        let cos = _mm512_ternarylogic_epi32::<XOR_AND>(
            _mm512_castps_si512(_mm512_mask_blend_ps(swap, c, s)),
            _mm512_add_epi32(v, _mm512_set1_epi32(1 << 30)),
            sign,
        );
        (_mm512_castsi512_ps(sin), _mm512_castsi512_ps(cos))
    }
}

/// The normals of `K` groups of 16 blocks (Philox words `w`), each group's 64 in element
/// order (vector `v` holds elements `16v .. 16v + 16`, blocks `4v .. 4v + 4`): Box-Muller as
/// [`crate::rng::normal::box_muller`], `(rho(w0) cos(w1), rho(w0) sin(w1), rho(w2) cos(w3),
/// rho(w2) sin(w3))` per block.
///
/// Every group's angles first, then every radius, then the products and the transposes: the
/// compiler keeps this order, which gives the core independent chains to overlap (4 groups
/// measured 1.15 times faster this way than one group after the other).
#[inline(always)]
pub(super) unsafe fn normals<const K: usize>(w: &[[__m512i; 4]; K]) -> [[__m512; 4]; K] {
    // SAFETY: register arithmetic; the caller enabled AVX-512F.
    unsafe {
        let zero = _mm512_setzero_ps();
        let mut sin_cos = [[(zero, zero); 2]; K];
        for g in 0..K {
            sin_cos[g] = [sincos16(w[g][1]), sincos16(w[g][3])];
        }
        let mut rho = [[zero; 2]; K];
        for g in 0..K {
            rho[g] = [rho16(w[g][0]), rho16(w[g][2])];
        }
        let mut n = [[zero; 4]; K];
        for g in 0..K {
            let [(s1, c1), (s3, c3)] = sin_cos[g];
            let [r0, r2] = rho[g];
            n[g] = transpose([
                _mm512_mul_ps(r0, c1),
                _mm512_mul_ps(r0, s1),
                _mm512_mul_ps(r2, c3),
                _mm512_mul_ps(r2, s3),
            ]);
        }
        n
    }
}

/// Element order from word order: `n[j]` lane `l` (word `j` of block `l`) goes to element
/// `4l + j`, i.e. vector `l / 4`, lane `4 (l % 4) + j`.
#[inline(always)]
pub(super) unsafe fn transpose([n0, n1, n2, n3]: [__m512; 4]) -> [__m512; 4] {
    // SAFETY: register arithmetic; the caller enabled AVX-512F.
    unsafe {
        // Interleave words 0 and 1 (and 2 and 3) of blocks 0..8 and 8..16 ...
        let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        let hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        let a = _mm512_permutex2var_ps(n0, lo, n1);
        let b = _mm512_permutex2var_ps(n0, hi, n1);
        let c = _mm512_permutex2var_ps(n2, lo, n3);
        let d = _mm512_permutex2var_ps(n2, hi, n3);
        // ... then the word pairs (0, 1) and (2, 3) of each block.
        let first = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
        let second =
            _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
        [
            _mm512_permutex2var_ps(a, first, c),
            _mm512_permutex2var_ps(a, second, c),
            _mm512_permutex2var_ps(b, first, d),
            _mm512_permutex2var_ps(b, second, d),
        ]
    }
}
