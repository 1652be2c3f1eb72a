//! AVX2 + FMA + BMI2 kernels (x86-64): Philox4x32-10 on 8 blocks at once (32 elements),
//! keep bits gathered with `pdep`, Box-Muller with the exact operation sequence of
//! [`crate::rng::normal`] so every output bit equals the scalar reference.
//!
//! Every function here is `unsafe` and requires the CPU features it is compiled for; the
//! dispatcher in [`super`] checks them once.

use std::arch::x86_64::*;

use crate::rng::key_of_seed;
use crate::rng::normal::{C10, C2, C4, C6, C8, L3, L5, L7, L9, LN2_HI, LN2_LO, S1, S3, S5, S7, S9};

use super::table::portable_kernels;
use super::Chunk;
use crate::ops::{Kept, MapWords, MaskMap, NoiseOp};

// Philox4x32's multipliers (as vector lanes) and Weyl key increments, shared with the
// AVX-512 kernels.
pub(super) const M0: i32 = 0xD251_1F53_u32 as i32;
pub(super) const M1: i32 = 0xCD9E_8D57_u32 as i32;
pub(super) const W0: u32 = 0x9E37_79B9;
pub(super) const W1: u32 = 0xBB67_AE85;

/// `(hi, lo)` of the 32x32 -> 64-bit products of every lane of `a` with `m`.
#[inline(always)]
unsafe fn mulhilo(a: __m256i, m: __m256i) -> (__m256i, __m256i) {
    // SAFETY: plain AVX2 arithmetic on registers; the caller enabled AVX2.
    unsafe {
        let even = _mm256_mul_epu32(a, m);
        let odd = _mm256_mul_epu32(_mm256_srli_epi64::<32>(a), m);
        let lo = _mm256_blend_epi32::<0xAA>(even, _mm256_slli_epi64::<32>(odd));
        let hi = _mm256_blend_epi32::<0xAA>(_mm256_srli_epi64::<32>(even), odd);
        (hi, lo)
    }
}

/// Philox4x32-10 of `K` groups of 8 blocks, `block + 8 g .. block + 8 g + 8` for group `g`,
/// of draw `draw`: word `j` of lane `l` of group `g` is word `j` of block `block + 8 g + l`.
/// The groups' rounds are interleaved so their multiply latencies overlap.
#[inline(always)]
unsafe fn philox8<const K: usize>(block: u64, draw: u64, key: [u32; 2]) -> [[__m256i; 4]; K] {
    // SAFETY: register arithmetic; the caller enabled AVX2.
    unsafe {
        let bias = _mm256_set1_epi32(i32::MIN);
        let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let c2 = _mm256_set1_epi32(draw as u32 as i32);
        let c3 = _mm256_set1_epi32((draw >> 32) as u32 as i32);
        let mut st = [[c2; 4]; K];
        for (g, s) in st.iter_mut().enumerate() {
            let first = block.wrapping_add(8 * g as u64);
            let lo = _mm256_set1_epi32(first as u32 as i32);
            let c0 = _mm256_add_epi32(lo, iota);
            // A lane whose low word wrapped carries into the high word.
            let carry = _mm256_cmpgt_epi32(_mm256_xor_si256(lo, bias), _mm256_xor_si256(c0, bias));
            let c1 = _mm256_sub_epi32(_mm256_set1_epi32((first >> 32) as u32 as i32), carry);
            *s = [c0, c1, c2, c3];
        }
        let (m0, m1) = (_mm256_set1_epi32(M0), _mm256_set1_epi32(M1));
        let (mut k0, mut k1) = (key[0], key[1]);
        for round in 0..10 {
            if round > 0 {
                k0 = k0.wrapping_add(W0);
                k1 = k1.wrapping_add(W1);
            }
            let (kv0, kv1) = (_mm256_set1_epi32(k0 as i32), _mm256_set1_epi32(k1 as i32));
            for s in st.iter_mut() {
                let [c0, c1, c2, c3] = *s;
                let (hi0, lo0) = mulhilo(c0, m0);
                let (hi1, lo1) = mulhilo(c2, m1);
                *s = [
                    _mm256_xor_si256(_mm256_xor_si256(hi1, c1), kv0),
                    lo1,
                    _mm256_xor_si256(_mm256_xor_si256(hi0, c3), kv1),
                    lo0,
                ];
            }
        }
        st
    }
}

/// Keep bits of the 32 elements of 8 blocks: bit `4l + j` is word `j` of lane `l` kept.
#[inline(always)]
unsafe fn keep_bits32(w: &[__m256i; 4], biased_threshold: __m256i) -> u32 {
    // SAFETY: register arithmetic; the caller enabled AVX2 and BMI2.
    unsafe {
        let bias = _mm256_set1_epi32(i32::MIN);
        let mut bits = 0u32;
        for (j, spread) in [0x1111_1111u32, 0x2222_2222, 0x4444_4444, 0x8888_8888]
            .into_iter()
            .enumerate()
        {
            // keep iff !(threshold > w), unsigned, via the sign-flipped signed compare.
            let below = _mm256_cmpgt_epi32(biased_threshold, _mm256_xor_si256(w[j], bias));
            let dropped = _mm256_movemask_ps(_mm256_castsi256_ps(below)) as u32;
            bits |= _pdep_u32(!dropped & 0xff, spread);
        }
        bits
    }
}

/// The 8 lane masks (all ones = kept) of 8 consecutive f32 elements from 8 bits.
#[inline(always)]
unsafe fn lanes8(byte: u32) -> __m256 {
    // SAFETY: register arithmetic; the caller enabled AVX2.
    unsafe {
        let sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        let v = _mm256_and_si256(_mm256_set1_epi32(byte as i32), sel);
        _mm256_castsi256_ps(_mm256_cmpeq_epi32(v, sel))
    }
}

/// The 4 lane masks of 4 consecutive f64 elements from 4 bits.
#[inline(always)]
unsafe fn lanes4(nibble: u32) -> __m256d {
    // SAFETY: register arithmetic; the caller enabled AVX2.
    unsafe {
        let sel = _mm256_setr_epi64x(1, 2, 4, 8);
        let v = _mm256_and_si256(_mm256_set1_epi64x(i64::from(nibble)), sel);
        _mm256_castsi256_pd(_mm256_cmpeq_epi64(v, sel))
    }
}

/// Stores 8 floats: a plain store, or (`NT`) two 16-byte non-temporal stores, which write
/// around the cache (no read for ownership: a large output then costs what a `memcpy`
/// costs). `NT` needs `p` 16-byte aligned.
#[inline(always)]
unsafe fn store_ps<const NT: bool>(p: *mut f32, v: __m256) {
    // SAFETY: the caller guarantees 8 writable floats at p (16-byte aligned when NT).
    unsafe {
        if NT {
            _mm_stream_ps(p, _mm256_castps256_ps128(v));
            _mm_stream_ps(p.add(4), _mm256_extractf128_ps::<1>(v));
        } else {
            _mm256_storeu_ps(p, v);
        }
    }
}

/// Stores 4 doubles, as [`store_ps`].
#[inline(always)]
unsafe fn store_pd<const NT: bool>(p: *mut f64, v: __m256d) {
    // SAFETY: the caller guarantees 4 writable doubles at p (16-byte aligned when NT).
    unsafe {
        if NT {
            _mm_stream_pd(p, _mm256_castpd256_pd128(v));
            _mm_stream_pd(p.add(2), _mm256_extractf128_pd::<1>(v));
        } else {
            _mm256_storeu_pd(p, v);
        }
    }
}

/// Element types with an AVX2 body: 32 elements from 32 keep bits, or from 32 normals, with
/// the constants in the compute type.
pub(crate) trait Avx2Element: crate::Element {
    /// Whether the kernels of this type need F16C (run `*_f16c`).
    const F16C: bool = false;

    /// Writes `kept`-applied or dropped elements `0..32` of `src` to `dst` by `bits`.
    unsafe fn masked32<const NT: bool>(
        src: *const Self,
        dst: *mut Self,
        bits: u32,
        kept: Kept<Self::Compute>,
    );
    /// Writes `x * (mean + stddev * n)` or `x + (...)` for 32 elements, `n` in element order.
    unsafe fn noise32<const NT: bool>(
        src: *const Self,
        dst: *mut Self,
        n: [__m256; 4],
        mean: Self::Compute,
        stddev: Self::Compute,
        op: NoiseOp,
    );
}

/// The element types whose 8 elements load into 8 `f32` lanes and store from them: `f32`
/// itself, and the half types, widened exactly on the load and rounded once (to nearest,
/// ties to even) on the store. They share one [`Avx2Element`] body, the `f32` one. The kernel
/// table does not pick the `bf16` kernels (on AVX2, `bf16` measured faster on blocks); the
/// tests check their conversions.
pub(crate) trait Lanes8: crate::Element<Compute = f32> {
    /// As [`Avx2Element::F16C`].
    const F16C: bool = false;

    /// Elements `0..8` at `p`, in `f32`.
    unsafe fn load8(p: *const Self) -> __m256;

    /// Stores `v` as 8 elements at `p`: plainly, or (`NT`) non-temporally, which needs `p`
    /// 16-byte aligned.
    unsafe fn store8<const NT: bool>(p: *mut Self, v: __m256);
}

impl Lanes8 for f32 {
    #[inline(always)]
    unsafe fn load8(p: *const f32) -> __m256 {
        // SAFETY: the caller guarantees 8 readable elements and AVX.
        unsafe { _mm256_loadu_ps(p) }
    }

    #[inline(always)]
    unsafe fn store8<const NT: bool>(p: *mut f32, v: __m256) {
        // SAFETY: the caller's contract is `store_ps`'s.
        unsafe { store_ps::<NT>(p, v) }
    }
}

/// Stores 8 half elements (16 bytes) at `p`, plainly or (`NT`) non-temporally (`p` 16-byte
/// aligned).
#[inline(always)]
unsafe fn store_halves<const NT: bool>(p: *mut u16, h: __m128i) {
    // SAFETY: the caller guarantees 16 writable bytes at p (16-byte aligned when NT).
    unsafe {
        if NT {
            _mm_stream_si128(p.cast(), h);
        } else {
            _mm_storeu_si128(p.cast(), h);
        }
    }
}

impl Lanes8 for half::f16 {
    const F16C: bool = true;

    #[inline(always)]
    unsafe fn load8(p: *const half::f16) -> __m256 {
        // SAFETY: the caller guarantees 8 readable elements, and F16C and AVX (the f16
        // kernels enable them).
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }

    #[inline(always)]
    unsafe fn store8<const NT: bool>(p: *mut half::f16, v: __m256) {
        // SAFETY: as above, for writes; `vcvtps2ph` with rounding to nearest even.
        unsafe {
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
            store_halves::<NT>(p.cast(), h);
        }
    }
}

impl Lanes8 for half::bf16 {
    #[inline(always)]
    unsafe fn load8(p: *const half::bf16) -> __m256 {
        // SAFETY: the caller guarantees 8 readable elements and AVX2.
        unsafe {
            // The bits as the high half of an f32; a NaN made quiet, as `half::bf16_widen`.
            let w = _mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast())));
            let magnitude = _mm256_and_si256(w, _mm256_set1_epi32(0x7FFF_FFFF));
            let nan = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7F80_0000));
            let quiet = _mm256_and_si256(nan, _mm256_set1_epi32(0x0040_0000));
            _mm256_castsi256_ps(_mm256_or_si256(w, quiet))
        }
    }

    #[inline(always)]
    unsafe fn store8<const NT: bool>(p: *mut half::bf16, v: __m256) {
        // SAFETY: the caller guarantees 8 writable elements (16-byte aligned when NT) and
        // AVX2.
        unsafe {
            // `half::bf16_round` lane by lane: + 0x7FFF + the lowest kept bit, the high half;
            // a NaN's high half with the quiet bit set.
            let x = _mm256_castps_si256(v);
            let high = _mm256_srli_epi32::<16>(x);
            let odd = _mm256_and_si256(high, _mm256_set1_epi32(1));
            let bias = _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), odd);
            let rounded = _mm256_srli_epi32::<16>(_mm256_add_epi32(x, bias));
            let quiet = _mm256_or_si256(high, _mm256_set1_epi32(0x0040));
            let magnitude = _mm256_and_si256(x, _mm256_set1_epi32(0x7FFF_FFFF));
            let nan = _mm256_cmpgt_epi32(magnitude, _mm256_set1_epi32(0x7F80_0000));
            let bits = _mm256_blendv_epi8(rounded, quiet, nan);
            // Every lane is below 2^16: the unsigned saturating pack is exact.
            let h = _mm_packus_epi32(
                _mm256_castsi256_si128(bits),
                _mm256_extracti128_si256::<1>(bits),
            );
            store_halves::<NT>(p.cast(), h);
        }
    }
}

/// `kept` applied to the 8 floats `x` where `lanes` is all ones, else the dropped value.
#[inline(always)]
unsafe fn kept8(x: __m256, lanes: __m256, kept: Kept<f32>) -> __m256 {
    // SAFETY: register arithmetic; the caller enabled AVX2.
    unsafe {
        match kept {
            Kept::Identity => _mm256_and_ps(lanes, x),
            Kept::Div(k) => _mm256_and_ps(lanes, _mm256_div_ps(x, _mm256_set1_ps(k))),
            Kept::Mul(k) => _mm256_and_ps(lanes, _mm256_mul_ps(x, _mm256_set1_ps(k))),
            Kept::Affine { mul, add, dropped } => {
                // x * mul, then + add: two roundings, as the reference.
                let y = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(mul)), _mm256_set1_ps(add));
                _mm256_blendv_ps(_mm256_set1_ps(dropped), y, lanes)
            }
        }
    }
}

impl<T: Lanes8> Avx2Element for T {
    const F16C: bool = <T as Lanes8>::F16C;

    #[inline(always)]
    unsafe fn masked32<const NT: bool>(src: *const T, dst: *mut T, bits: u32, kept: Kept<f32>) {
        // SAFETY: the caller guarantees 32 readable and writable elements (16-byte aligned
        // when NT) and the type's features.
        unsafe {
            for v in 0..4 {
                let x = T::load8(src.add(8 * v));
                let y = kept8(x, lanes8((bits >> (8 * v)) & 0xff), kept);
                T::store8::<NT>(dst.add(8 * v), y);
            }
        }
    }

    #[inline(always)]
    unsafe fn noise32<const NT: bool>(
        src: *const T,
        dst: *mut T,
        n: [__m256; 4],
        mean: f32,
        stddev: f32,
        op: NoiseOp,
    ) {
        // SAFETY: the caller guarantees 32 readable and writable elements (16-byte aligned
        // when NT) and the type's features.
        unsafe {
            let (m, s) = (_mm256_set1_ps(mean), _mm256_set1_ps(stddev));
            for (v, nv) in n.into_iter().enumerate() {
                let e = _mm256_add_ps(m, _mm256_mul_ps(s, nv));
                let x = T::load8(src.add(8 * v));
                let y = match op {
                    NoiseOp::Mul => _mm256_mul_ps(x, e),
                    NoiseOp::Add => _mm256_add_ps(x, e),
                };
                T::store8::<NT>(dst.add(8 * v), y);
            }
        }
    }
}

impl Avx2Element for f64 {
    #[inline(always)]
    unsafe fn masked32<const NT: bool>(src: *const f64, dst: *mut f64, bits: u32, kept: Kept<f64>) {
        // SAFETY: the caller guarantees 32 readable and writable elements and AVX2.
        unsafe {
            for v in 0..8 {
                let x = _mm256_loadu_pd(src.add(4 * v));
                let lanes = lanes4((bits >> (4 * v)) & 0xf);
                let y = match kept {
                    Kept::Identity => _mm256_and_pd(lanes, x),
                    Kept::Div(k) => _mm256_and_pd(lanes, _mm256_div_pd(x, _mm256_set1_pd(k))),
                    Kept::Mul(k) => _mm256_and_pd(lanes, _mm256_mul_pd(x, _mm256_set1_pd(k))),
                    Kept::Affine { mul, add, dropped } => {
                        // x * mul, then + add: two roundings, as the reference.
                        let y = _mm256_add_pd(
                            _mm256_mul_pd(x, _mm256_set1_pd(mul)),
                            _mm256_set1_pd(add),
                        );
                        _mm256_blendv_pd(_mm256_set1_pd(dropped), y, lanes)
                    }
                };
                store_pd::<NT>(dst.add(4 * v), y);
            }
        }
    }

    #[inline(always)]
    unsafe fn noise32<const NT: bool>(
        src: *const f64,
        dst: *mut f64,
        n: [__m256; 4],
        mean: f64,
        stddev: f64,
        op: NoiseOp,
    ) {
        // SAFETY: the caller guarantees 32 readable and writable elements and AVX2.
        unsafe {
            let (m, s) = (_mm256_set1_pd(mean), _mm256_set1_pd(stddev));
            for (v, nv) in n.into_iter().enumerate() {
                for (h, half) in [_mm256_castps256_ps128(nv), _mm256_extractf128_ps::<1>(nv)]
                    .into_iter()
                    .enumerate()
                {
                    let e = _mm256_add_pd(m, _mm256_mul_pd(s, _mm256_cvtps_pd(half)));
                    let at = 8 * v + 4 * h;
                    let x = _mm256_loadu_pd(src.add(at));
                    let y = match op {
                        NoiseOp::Mul => _mm256_mul_pd(x, e),
                        NoiseOp::Add => _mm256_add_pd(x, e),
                    };
                    store_pd::<NT>(dst.add(at), y);
                }
            }
        }
    }
}

/// `ln` of 8 positive normal floats: [`crate::rng::normal::ln`] lane by lane.
#[inline(always)]
unsafe fn ln8(x: __m256) -> __m256 {
    // SAFETY: register arithmetic; the caller enabled AVX2 and FMA.
    unsafe {
        let bits = _mm256_castps_si256(x);
        let mut e = _mm256_sub_epi32(
            _mm256_and_si256(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(0xff)),
            _mm256_set1_epi32(127),
        );
        let mut m = _mm256_castsi256_ps(_mm256_or_si256(
            _mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)),
            _mm256_set1_epi32(0x3f80_0000),
        ));
        let big = _mm256_cmp_ps::<_CMP_GT_OQ>(m, _mm256_set1_ps(std::f32::consts::SQRT_2));
        m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5)), big);
        e = _mm256_sub_epi32(e, _mm256_castps_si256(big));
        let one = _mm256_set1_ps(1.0);
        let s = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
        let z = _mm256_mul_ps(s, s);
        let r = _mm256_fmadd_ps(z, _mm256_set1_ps(L9), _mm256_set1_ps(L7));
        let r = _mm256_fmadd_ps(z, r, _mm256_set1_ps(L5));
        let r = _mm256_fmadd_ps(z, r, _mm256_set1_ps(L3));
        let lnm = _mm256_fmadd_ps(_mm256_mul_ps(s, z), r, _mm256_add_ps(s, s));
        let ef = _mm256_cvtepi32_ps(e);
        _mm256_fmadd_ps(
            ef,
            _mm256_set1_ps(LN2_HI),
            _mm256_fmadd_ps(ef, _mm256_set1_ps(LN2_LO), lnm),
        )
    }
}

/// Box-Muller of 8 word pairs: `(rho cos, rho sin)`, as [`crate::rng::normal::box_muller`].
#[inline(always)]
unsafe fn box_muller8(w_rho: __m256i, w_angle: __m256i) -> (__m256, __m256) {
    // SAFETY: register arithmetic; the caller enabled AVX2 and FMA.
    unsafe {
        let odd = _mm256_or_si256(
            _mm256_slli_epi32::<1>(_mm256_srli_epi32::<9>(w_rho)),
            _mm256_set1_epi32(1),
        );
        let u = _mm256_mul_ps(_mm256_cvtepi32_ps(odd), _mm256_set1_ps(1.0 / 16_777_216.0));
        let rho = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0), ln8(u)));

        let k = _mm256_srli_epi32::<8>(w_angle);
        let q = _mm256_srli_epi32::<22>(_mm256_add_epi32(k, _mm256_set1_epi32(1 << 21)));
        let rest = _mm256_sub_epi32(k, _mm256_slli_epi32::<22>(q));
        let r = _mm256_mul_ps(_mm256_cvtepi32_ps(rest), _mm256_set1_ps(1.0 / 4_194_304.0));
        let y = _mm256_mul_ps(r, r);
        let sp = _mm256_fmadd_ps(y, _mm256_set1_ps(S9), _mm256_set1_ps(S7));
        let sp = _mm256_fmadd_ps(y, sp, _mm256_set1_ps(S5));
        let sp = _mm256_fmadd_ps(y, sp, _mm256_set1_ps(S3));
        let sp = _mm256_fmadd_ps(y, sp, _mm256_set1_ps(S1));
        let s = _mm256_mul_ps(r, sp);
        let cp = _mm256_fmadd_ps(y, _mm256_set1_ps(C10), _mm256_set1_ps(C8));
        let cp = _mm256_fmadd_ps(y, cp, _mm256_set1_ps(C6));
        let cp = _mm256_fmadd_ps(y, cp, _mm256_set1_ps(C4));
        let cp = _mm256_fmadd_ps(y, cp, _mm256_set1_ps(C2));
        let c = _mm256_fmadd_ps(y, cp, _mm256_set1_ps(1.0));
        // Quadrant q & 3: 0 (s, c), 1 (c, -s), 2 (-s, -c), 3 (-c, s).
        let one = _mm256_set1_epi32(1);
        let swap = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(q, one), one));
        let sin_sign = _mm256_slli_epi32::<30>(_mm256_and_si256(q, _mm256_set1_epi32(2)));
        let cos_sign = _mm256_slli_epi32::<30>(_mm256_and_si256(
            _mm256_add_epi32(q, one),
            _mm256_set1_epi32(2),
        ));
        let sin = _mm256_xor_ps(_mm256_blendv_ps(s, c, swap), _mm256_castsi256_ps(sin_sign));
        let cos = _mm256_xor_ps(_mm256_blendv_ps(c, s, swap), _mm256_castsi256_ps(cos_sign));
        (_mm256_mul_ps(rho, cos), _mm256_mul_ps(rho, sin))
    }
}

/// The 32 normals of 8 blocks, in element order (vector `v` holds elements `8v .. 8v + 8`).
#[inline(always)]
unsafe fn normals32(w: [__m256i; 4]) -> [__m256; 4] {
    // SAFETY: register arithmetic; the caller enabled AVX2 and FMA.
    unsafe {
        let (n0, n1) = box_muller8(w[0], w[1]);
        let (n2, n3) = box_muller8(w[2], w[3]);
        let t0 = _mm256_unpacklo_ps(n0, n1); // blocks 0,1 | 4,5 of (n0, n1)
        let t1 = _mm256_unpackhi_ps(n0, n1); // blocks 2,3 | 6,7
        let t2 = _mm256_unpacklo_ps(n2, n3);
        let t3 = _mm256_unpackhi_ps(n2, n3);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2); // block 0 | block 4
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2); // block 1 | block 5
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3); // block 2 | block 6
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3); // block 3 | block 7
        [
            _mm256_permute2f128_ps::<0x20>(u0, u1),
            _mm256_permute2f128_ps::<0x20>(u2, u3),
            _mm256_permute2f128_ps::<0x31>(u0, u1),
            _mm256_permute2f128_ps::<0x31>(u2, u3),
        ]
    }
}

/// A stored mask's whole 64-element steps, `words` giving each step's keep bits (bit `j` for
/// element `j` of the step), non-temporal stores fenced; returns the elements done (the
/// caller runs the tail). Inlined into each kernel, so it runs with the kernel's features.
///
/// # Safety
/// `words` yields at most `c.len / 64` words; as the kernel that calls it otherwise.
#[inline(always)]
unsafe fn masked_steps<T: Avx2Element, const NT: bool>(
    c: Chunk<T>,
    kept: Kept<T::Compute>,
    words: impl Iterator<Item = u64>,
) -> usize {
    let mut done = 0;
    for word in words {
        // SAFETY: elements done .. done + 64 lie inside the chunk (the caller's bound on
        // `words`).
        unsafe {
            T::masked32::<NT>(c.src.add(done), c.dst.add(done), word as u32, kept);
            let (src, dst) = (c.src.add(done + 32), c.dst.add(done + 32));
            T::masked32::<NT>(src, dst, (word >> 32) as u32, kept);
        }
        done += 64;
    }
    if NT {
        // Non-temporal stores are weakly ordered: fence before the chunk counts as done.
        // SAFETY: SSE2, part of x86-64.
        unsafe { _mm_sfence() };
    }
    done
}

/// The AVX2 kernels (Dropout, stored element-wise bits, noise), compiled for the features
/// `$features`: once for AVX2, FMA and BMI2, once with F16C too (the `f16` kernels, which
/// widen and round with it). `$doc` is a line of each one's documentation.
macro_rules! avx2_kernels {
    (
        $features:literal,
        $doc:literal,
        $dropout:ident,
        $apply_bits:ident,
        $apply_map:ident,
        $noise:ident
    ) => {
        /// Fused Dropout on a chunk starting at element `start` (a multiple of 64): 64 elements
        /// per step, then the scalar tail. `threshold` must be below `2^32` (the caller handles
        /// p = 1).
        #[doc = $doc]
        ///
        /// # Safety
        /// As [`super::portable::dropout`]; the CPU must have the features the kernel is
        /// compiled for (F16C too for a type whose [`Avx2Element::F16C`] is set); with `NT`,
        /// `c.dst` must be 16-byte aligned.
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $dropout<T: Avx2Element, const NT: bool>(
            c: Chunk<T>,
            start: u64,
            seed: u64,
            draw: u64,
            threshold: u64,
            kept: Kept<T::Compute>,
            bits: *mut u64,
        ) {
            debug_assert!(start.is_multiple_of(64) && threshold < (1 << 32));
            let key = key_of_seed(seed);
            let biased = _mm256_set1_epi32((threshold as u32 ^ 0x8000_0000) as i32);
            let steps = c.len / 128;
            for s in 0..steps {
                let block = start / 4 + 32 * s as u64;
                // SAFETY: AVX2 and BMI2 are enabled for this function.
                let w = unsafe { philox8::<4>(block, draw, key) };
                for h in 0..2 {
                    // SAFETY: AVX2 and BMI2 are enabled for this function.
                    let (lo, hi) = unsafe {
                        (
                            keep_bits32(&w[2 * h], biased),
                            keep_bits32(&w[2 * h + 1], biased),
                        )
                    };
                    let at = 128 * s + 64 * h;
                    // SAFETY: elements at .. at + 64 lie inside the chunk; mask word at / 64
                    // inside its bound.
                    unsafe {
                        T::masked32::<NT>(c.src.add(at), c.dst.add(at), lo, kept);
                        T::masked32::<NT>(c.src.add(at + 32), c.dst.add(at + 32), hi, kept);
                        if !bits.is_null() {
                            bits.add(at / 64)
                                .write(u64::from(lo) | (u64::from(hi) << 32));
                        }
                    }
                }
            }
            if NT {
                // Non-temporal stores are weakly ordered: fence before the chunk counts as done.
                _mm_sfence();
            }
            let done = 128 * steps;
            if done < c.len {
                let tail_bits = if bits.is_null() {
                    bits
                } else {
                    bits.wrapping_add(2 * steps)
                };
                // SAFETY: the tail is the rest of the chunk, starting at a multiple of 64.
                unsafe {
                    (portable_kernels::<T>().dropout)(
                        c.offset(done),
                        start + done as u64,
                        seed,
                        draw,
                        threshold,
                        kept,
                        tail_bits,
                    )
                };
            }
        }

        /// Stored bits on a chunk (element-wise map), 64 elements per mask word.
        #[doc = $doc]
        ///
        /// # Safety
        /// As [`super::portable::apply_mask`]; `start` a multiple of 64;
        /// the CPU must have the features the kernel is compiled for (F16C too for a type whose
        /// [`Avx2Element::F16C`] is set); with `NT`, `c.dst` must be 16-byte aligned.
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $apply_bits<T: Avx2Element, const NT: bool>(
            c: Chunk<T>,
            start: usize,
            mask: &[u64],
            kept: Kept<T::Compute>,
        ) {
            let words = &mask[start / 64..start / 64 + c.len / 64];
            // SAFETY: the caller's contract; one word per whole 64-element step.
            let done = unsafe { masked_steps::<T, NT>(c, kept, words.iter().copied()) };
            if done < c.len {
                // SAFETY: the rest of the chunk.
                unsafe {
                    (portable_kernels::<T>().apply_bits)(c.offset(done), start + done, mask, kept)
                };
            }
        }

        /// A stored mask under a channel map ([`MaskMap::ChannelsFirst`],
        /// [`MaskMap::ChannelsLast`]) on a chunk starting at any element, 64 elements per
        /// step with the step's keep bits gathered from the map ([`MapWords`]); the scalar
        /// tail is the element-wise portable kernel on the tail's own bits.
        #[doc = $doc]
        ///
        /// # Safety
        /// As [`super::portable::apply_mask`]; the CPU must have the features the kernel is
        /// compiled for (F16C too for a type whose [`Avx2Element::F16C`] is set); with `NT`,
        /// `c.dst` must be 16-byte aligned.
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $apply_map<T: Avx2Element, const NT: bool>(
            c: Chunk<T>,
            start: usize,
            mask: &[u64],
            map: MaskMap,
            kept: Kept<T::Compute>,
        ) {
            let mut map_words = MapWords::new(mask, map, start);
            let words = (0..c.len / 64).map(|_| map_words.next_word());
            // SAFETY: the caller's contract; one word per whole 64-element step.
            let done = unsafe { masked_steps::<T, NT>(c, kept, words) };
            if done < c.len {
                let word = [map_words.next_bits(c.len - done)];
                // SAFETY: the rest of the chunk, reading its bits from bit 0 of `word`.
                unsafe { (portable_kernels::<T>().apply_bits)(c.offset(done), 0, &word, kept) };
            }
        }

        /// Gaussian noise on a chunk starting at element `start` (a multiple of 4).
        #[doc = $doc]
        ///
        /// # Safety
        /// As [`super::portable::noise`]; the CPU must have the features the kernel is compiled
        /// for (F16C too for a type whose [`Avx2Element::F16C`] is set); with `NT`, `c.dst` must
        /// be 16-byte aligned.
        #[target_feature(enable = $features)]
        pub(crate) unsafe fn $noise<T: Avx2Element, const NT: bool>(
            c: Chunk<T>,
            start: u64,
            seed: u64,
            draw: u64,
            mean: T::Compute,
            stddev: T::Compute,
            op: NoiseOp,
        ) {
            debug_assert!(start.is_multiple_of(4));
            let key = key_of_seed(seed);
            let steps = c.len / 64;
            for s in 0..steps {
                // SAFETY: elements 64 s .. 64 s + 64 lie inside the chunk; AVX2 and FMA are
                // enabled.
                unsafe {
                    let [a, b] = philox8::<2>(start / 4 + 16 * s as u64, draw, key);
                    T::noise32::<NT>(
                        c.src.add(64 * s),
                        c.dst.add(64 * s),
                        normals32(a),
                        mean,
                        stddev,
                        op,
                    );
                    T::noise32::<NT>(
                        c.src.add(64 * s + 32),
                        c.dst.add(64 * s + 32),
                        normals32(b),
                        mean,
                        stddev,
                        op,
                    );
                }
            }
            if NT {
                // Non-temporal stores are weakly ordered: fence before the chunk counts as done.
                _mm_sfence();
            }
            let done = 64 * steps;
            if done < c.len {
                // SAFETY: the rest of the chunk.
                unsafe {
                    (portable_kernels::<T>().noise)(
                        c.offset(done),
                        start + done as u64,
                        seed,
                        draw,
                        mean,
                        stddev,
                        op,
                    )
                };
            }
        }
    };
}

avx2_kernels!("avx2,fma,bmi2", "", dropout, apply_bits, apply_map, noise);
avx2_kernels!(
    "avx2,fma,bmi2,f16c",
    "The same kernel with F16C enabled too (the `f16` kernels), for a CPU that has it.",
    dropout_f16c,
    apply_bits_f16c,
    apply_map_f16c,
    noise_f16c
);

/// Words of one Philox block through the vector path (for tests).
#[cfg(test)]
pub(crate) fn philox8_lane(block: u64, draw: u64, seed: u64, lane: usize) -> [u32; 4] {
    assert!(std::is_x86_feature_detected!("avx2"));
    #[target_feature(enable = "avx2")]
    unsafe fn run(block: u64, draw: u64, seed: u64) -> [[u32; 8]; 4] {
        let mut out = [[0u32; 8]; 4];
        // SAFETY: AVX2 is enabled; each store writes 8 u32 into an [u32; 8].
        unsafe {
            let [w] = philox8::<1>(block, draw, key_of_seed(seed));
            for j in 0..4 {
                _mm256_storeu_si256(out[j].as_mut_ptr().cast(), w[j]);
            }
        }
        out
    }
    // SAFETY: AVX2 was detected above.
    let out = unsafe { run(block, draw, seed) };
    [out[0][lane], out[1][lane], out[2][lane], out[3][lane]]
}

/// `src` widened 8 elements at a time by [`Lanes8::load8`] (for tests; `src.len()` a multiple
/// of 8).
#[cfg(test)]
pub(crate) fn widen8<T: Lanes8>(src: &[T]) -> Vec<f32> {
    assert!(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("f16c"));
    assert!(src.len().is_multiple_of(8));
    #[target_feature(enable = "avx2,f16c")]
    fn run<T: Lanes8>(src: &[T], dst: &mut [f32]) {
        for (s, d) in src.chunks_exact(8).zip(dst.chunks_exact_mut(8)) {
            // SAFETY: AVX2 and F16C are enabled; 8 elements each side.
            unsafe { _mm256_storeu_ps(d.as_mut_ptr(), T::load8(s.as_ptr())) };
        }
    }
    let mut dst = vec![0.0; src.len()];
    // SAFETY: the CPU has AVX2 and F16C (asserted above).
    unsafe { run(src, &mut dst) };
    dst
}

/// `src` rounded 8 values at a time by [`Lanes8::store8`], plain and non-temporal stores (for
/// tests; `src.len()` a multiple of 8).
#[cfg(test)]
pub(crate) fn round8<T: Lanes8>(src: &[f32]) -> [Vec<T>; 2] {
    assert!(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("f16c"));
    assert!(src.len().is_multiple_of(8));
    #[target_feature(enable = "avx2,f16c")]
    fn run<T: Lanes8, const NT: bool>(src: &[f32], dst: &mut [T]) {
        for (s, d) in src.chunks_exact(8).zip(dst.chunks_exact_mut(8)) {
            // SAFETY: AVX2 and F16C are enabled; 8 elements each side (16-byte aligned with
            // NT: the caller's buffer is).
            unsafe { T::store8::<NT>(d.as_mut_ptr(), _mm256_loadu_ps(s.as_ptr())) };
        }
        _mm_sfence();
    }
    std::array::from_fn(|k| {
        // 16-byte aligned storage for the non-temporal stores.
        let mut buf = vec![0u128; src.len().div_ceil(8)];
        // SAFETY: `buf` holds `src.len()` 2-byte elements, 16-byte aligned, and any bits are
        // a valid half value; the CPU has AVX2 and F16C (asserted above).
        unsafe {
            let dst = std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<T>(), src.len());
            if k == 0 {
                run::<T, false>(src, dst);
            } else {
                run::<T, true>(src, dst);
            }
            dst.to_vec()
        }
    })
}
