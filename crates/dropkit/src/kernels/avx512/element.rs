//! The per-type bodies (f32, f64, and the half types through the f32 body): 64 elements at a
//! time from a mask word or 64 normals.

use std::arch::x86_64::*;

use super::store::{load_plain, Stores};
use crate::ops::{Kept, NoiseOp};
use crate::Element;

/// Element types with an AVX-512 body: 64 elements at a time from a mask word or 64 normals,
/// with the constants in the compute type.
pub(crate) trait Avx512Element: crate::Element {
    /// Whether a copy (`scale` with no factor) must still go through the body: a half type
    /// widens and rounds it (a signalling NaN comes back quiet), as its `f32` result rounded.
    const COPY_ROUNDS: bool = false;

    /// Writes `kept`-applied or dropped elements `0..64` of `src` to `dst` by `bits` (bit `i`
    /// for element `i`) through `out`.
    unsafe fn masked64<const NT: bool>(
        src: *const Self,
        dst: *mut Self,
        bits: u64,
        kept: Kept<Self::Compute>,
        out: &mut Stores<NT>,
    );
    /// Writes `x * (mean + stddev * n)` or `x + (...)` for 64 elements, `n` in element order.
    unsafe fn noise64<const NT: bool>(
        src: *const Self,
        dst: *mut Self,
        n: [__m512; 4],
        mean: Self::Compute,
        stddev: Self::Compute,
        op: NoiseOp,
        out: &mut Stores<NT>,
    );
    /// Writes `x * factor` (or `x` when `None`) for the 64 bytes of elements at `src`.
    unsafe fn scale_vector<const NT: bool>(
        src: *const Self,
        dst: *mut Self,
        factor: Option<Self::Compute>,
        out: &mut Stores<NT>,
    );
    /// Writes `x * f` for the 64 bytes of elements at `src`, and their factors.
    unsafe fn multiply_vector<const NT: bool>(
        src: *const Self,
        factors: *const Self::Compute,
        dst: *mut Self,
        out: &mut Stores<NT>,
    );
}

/// `kept` applied to the 16 floats `x` in the lanes of `k`, the dropped value in the others
/// (dropped lanes of the zero-masked rules are zero bits: +0.0, as the reference writes).
#[inline(always)]
unsafe fn kept16(x: __m512, k: __mmask16, kept: Kept<f32>) -> __m512 {
    // SAFETY: register arithmetic; the caller enabled AVX-512F.
    unsafe {
        match kept {
            Kept::Identity => _mm512_maskz_mov_ps(k, x),
            Kept::Div(d) => _mm512_maskz_div_ps(k, x, _mm512_set1_ps(d)),
            Kept::Mul(m) => _mm512_maskz_mul_ps(k, x, _mm512_set1_ps(m)),
            Kept::Affine { mul, add, dropped } => {
                // x * mul, then + add: two roundings, as the reference.
                let y = _mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(mul)), _mm512_set1_ps(add));
                _mm512_mask_blend_ps(k, _mm512_set1_ps(dropped), y)
            }
        }
    }
}

/// `x * (m + s n)` or `x + (m + s n)` on 16 floats.
#[inline(always)]
unsafe fn noise16(x: __m512, n: __m512, m: __m512, s: __m512, op: NoiseOp) -> __m512 {
    // SAFETY: register arithmetic; the caller enabled AVX-512F.
    unsafe {
        // mean + stddev * n as two roundings, as the reference (no FMA).
        let e = _mm512_add_ps(m, _mm512_mul_ps(s, n));
        match op {
            NoiseOp::Mul => _mm512_mul_ps(x, e),
            NoiseOp::Add => _mm512_add_ps(x, e),
        }
    }
}

impl Avx512Element for f32 {
    #[inline(always)]
    unsafe fn masked64<const NT: bool>(
        src: *const f32,
        dst: *mut f32,
        bits: u64,
        kept: Kept<f32>,
        out: &mut Stores<NT>,
    ) {
        // SAFETY: the caller guarantees 64 readable and writable elements and AVX-512F.
        unsafe {
            for v in 0..4 {
                let k = (bits >> (16 * v)) as __mmask16;
                let x = _mm512_castsi512_ps(load_plain(src.add(16 * v).cast()));
                let y = kept16(x, k, kept);
                out.put(dst.add(16 * v).cast(), _mm512_castps_si512(y));
            }
        }
    }

    #[inline(always)]
    unsafe fn noise64<const NT: bool>(
        src: *const f32,
        dst: *mut f32,
        n: [__m512; 4],
        mean: f32,
        stddev: f32,
        op: NoiseOp,
        out: &mut Stores<NT>,
    ) {
        // SAFETY: the caller guarantees 64 readable and writable elements and AVX-512F.
        unsafe {
            let (m, s) = (_mm512_set1_ps(mean), _mm512_set1_ps(stddev));
            for (v, nv) in n.into_iter().enumerate() {
                let x = _mm512_loadu_ps(src.add(16 * v));
                let y = noise16(x, nv, m, s, op);
                out.put(dst.add(16 * v).cast(), _mm512_castps_si512(y));
            }
        }
    }

    #[inline(always)]
    unsafe fn scale_vector<const NT: bool>(
        src: *const f32,
        dst: *mut f32,
        factor: Option<f32>,
        out: &mut Stores<NT>,
    ) {
        // SAFETY: the caller guarantees 16 readable and writable elements and AVX-512F.
        unsafe {
            let x = _mm512_loadu_ps(src);
            let y = factor.map_or(x, |f| _mm512_mul_ps(x, _mm512_set1_ps(f)));
            out.put(dst.cast(), _mm512_castps_si512(y));
        }
    }

    #[inline(always)]
    unsafe fn multiply_vector<const NT: bool>(
        src: *const f32,
        factors: *const f32,
        dst: *mut f32,
        out: &mut Stores<NT>,
    ) {
        // SAFETY: the caller guarantees 16 readable elements at src and factors, 16 writable
        // at dst, and AVX-512F.
        unsafe {
            let y = _mm512_mul_ps(_mm512_loadu_ps(src), _mm512_loadu_ps(factors));
            out.put(dst.cast(), _mm512_castps_si512(y));
        }
    }
}

impl Avx512Element for f64 {
    #[inline(always)]
    unsafe fn masked64<const NT: bool>(
        src: *const f64,
        dst: *mut f64,
        bits: u64,
        kept: Kept<f64>,
        out: &mut Stores<NT>,
    ) {
        // SAFETY: the caller guarantees 64 readable and writable elements and AVX-512F.
        unsafe {
            for v in 0..8 {
                let k = (bits >> (8 * v)) as __mmask8;
                let x = _mm512_castsi512_pd(load_plain(src.add(8 * v).cast()));
                let y = match kept {
                    Kept::Identity => _mm512_maskz_mov_pd(k, x),
                    Kept::Div(d) => _mm512_maskz_div_pd(k, x, _mm512_set1_pd(d)),
                    Kept::Mul(m) => _mm512_maskz_mul_pd(k, x, _mm512_set1_pd(m)),
                    Kept::Affine { mul, add, dropped } => {
                        // x * mul, then + add: two roundings, as the reference.
                        let y = _mm512_add_pd(
                            _mm512_mul_pd(x, _mm512_set1_pd(mul)),
                            _mm512_set1_pd(add),
                        );
                        _mm512_mask_blend_pd(k, _mm512_set1_pd(dropped), y)
                    }
                };
                out.put(dst.add(8 * v).cast(), _mm512_castpd_si512(y));
            }
        }
    }

    #[inline(always)]
    unsafe fn noise64<const NT: bool>(
        src: *const f64,
        dst: *mut f64,
        n: [__m512; 4],
        mean: f64,
        stddev: f64,
        op: NoiseOp,
        out: &mut Stores<NT>,
    ) {
        // SAFETY: the caller guarantees 64 readable and writable elements and AVX-512F.
        unsafe {
            let (m, s) = (_mm512_set1_pd(mean), _mm512_set1_pd(stddev));
            for (v, nv) in n.into_iter().enumerate() {
                let halves = [
                    _mm512_castps512_ps256(nv),
                    _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(nv))),
                ];
                for (h, half) in halves.into_iter().enumerate() {
                    let e = _mm512_add_pd(m, _mm512_mul_pd(s, _mm512_cvtps_pd(half)));
                    let at = 16 * v + 8 * h;
                    let x = _mm512_loadu_pd(src.add(at));
                    let y = match op {
                        NoiseOp::Mul => _mm512_mul_pd(x, e),
                        NoiseOp::Add => _mm512_add_pd(x, e),
                    };
                    out.put(dst.add(at).cast(), _mm512_castpd_si512(y));
                }
            }
        }
    }

    #[inline(always)]
    unsafe fn scale_vector<const NT: bool>(
        src: *const f64,
        dst: *mut f64,
        factor: Option<f64>,
        out: &mut Stores<NT>,
    ) {
        // SAFETY: the caller guarantees 8 readable and writable elements and AVX-512F.
        unsafe {
            let x = _mm512_loadu_pd(src);
            let y = factor.map_or(x, |f| _mm512_mul_pd(x, _mm512_set1_pd(f)));
            out.put(dst.cast(), _mm512_castpd_si512(y));
        }
    }

    #[inline(always)]
    unsafe fn multiply_vector<const NT: bool>(
        src: *const f64,
        factors: *const f64,
        dst: *mut f64,
        out: &mut Stores<NT>,
    ) {
        // SAFETY: the caller guarantees 8 readable elements at src and factors, 8 writable at
        // dst, and AVX-512F.
        unsafe {
            let y = _mm512_mul_pd(_mm512_loadu_pd(src), _mm512_loadu_pd(factors));
            out.put(dst.cast(), _mm512_castpd_si512(y));
        }
    }
}

/// A half type's 16 elements (32 bytes) widened exactly into 16 `f32` lanes, and 16 `f32`
/// lanes rounded once (to nearest, ties to even) back to it. Each half type's
/// [`Avx512Element`] body is the `f32` one between the two.
pub(crate) trait Half16: Element<Compute = f32> {
    /// Elements `0..16` at `p`, widened.
    unsafe fn load16(p: *const Self) -> __m512;

    /// `v` rounded to 16 elements (their bits in order).
    unsafe fn round16(v: __m512) -> __m256i;
}

impl Half16 for half::f16 {
    #[inline(always)]
    unsafe fn load16(p: *const half::f16) -> __m512 {
        // SAFETY: the caller guarantees 16 readable elements and AVX-512F.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) }
    }

    #[inline(always)]
    unsafe fn round16(v: __m512) -> __m256i {
        // SAFETY: register arithmetic; the caller enabled AVX-512F.
        unsafe { _mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v) }
    }
}

impl Half16 for half::bf16 {
    #[inline(always)]
    unsafe fn load16(p: *const half::bf16) -> __m512 {
        // SAFETY: the caller guarantees 16 readable elements and AVX-512F.
        unsafe {
            // The bits as the high half of an f32; a NaN made quiet, as the scalar widening.
            let w = _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p.cast())));
            let magnitude = _mm512_and_si512(w, _mm512_set1_epi32(0x7FFF_FFFF));
            let nan = _mm512_cmpgt_epu32_mask(magnitude, _mm512_set1_epi32(0x7F80_0000));
            _mm512_castsi512_ps(_mm512_mask_or_epi32(
                w,
                nan,
                w,
                _mm512_set1_epi32(0x0040_0000),
            ))
        }
    }

    #[inline(always)]
    unsafe fn round16(v: __m512) -> __m256i {
        // SAFETY: register arithmetic; the caller enabled AVX-512F.
        unsafe {
            // The scalar `bf16_round` lane by lane: + 0x7FFF + the lowest kept bit, the high
            // half; a NaN's high half with the quiet bit set.
            let x = _mm512_castps_si512(v);
            let high = _mm512_srli_epi32::<16>(x);
            let odd = _mm512_and_si512(high, _mm512_set1_epi32(1));
            let bias = _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), odd);
            let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(x, bias));
            let magnitude = _mm512_and_si512(x, _mm512_set1_epi32(0x7FFF_FFFF));
            let nan = _mm512_cmpgt_epu32_mask(magnitude, _mm512_set1_epi32(0x7F80_0000));
            let quiet = _mm512_or_si512(high, _mm512_set1_epi32(0x0040));
            // Every lane is below 2^16: the truncating narrowing is exact.
            _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet))
        }
    }
}

/// Two rounded halves of 16 elements as one 64-byte vector (`lo` first).
#[inline(always)]
unsafe fn join(lo: __m256i, hi: __m256i) -> __m512i {
    // SAFETY: register arithmetic; the caller enabled AVX-512F.
    unsafe { _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi) }
}

impl<T: Half16> Avx512Element for T {
    const COPY_ROUNDS: bool = true;

    #[inline(always)]
    unsafe fn masked64<const NT: bool>(
        src: *const T,
        dst: *mut T,
        bits: u64,
        kept: Kept<f32>,
        out: &mut Stores<NT>,
    ) {
        // SAFETY: the caller guarantees 64 readable and writable elements and AVX-512F.
        unsafe {
            // No closures here: a closure would not get the kernel's target features, and
            // the intrinsics in it would become calls.
            for at in [0, 32] {
                let (k_lo, k_hi) = ((bits >> at) as __mmask16, (bits >> (at + 16)) as __mmask16);
                let lo = T::round16(kept16(T::load16(src.add(at)), k_lo, kept));
                let hi = T::round16(kept16(T::load16(src.add(at + 16)), k_hi, kept));
                out.put(dst.add(at).cast(), join(lo, hi));
            }
        }
    }

    #[inline(always)]
    unsafe fn noise64<const NT: bool>(
        src: *const T,
        dst: *mut T,
        n: [__m512; 4],
        mean: f32,
        stddev: f32,
        op: NoiseOp,
        out: &mut Stores<NT>,
    ) {
        // SAFETY: the caller guarantees 64 readable and writable elements and AVX-512F.
        unsafe {
            let (m, s) = (_mm512_set1_ps(mean), _mm512_set1_ps(stddev));
            for pair in 0..2 {
                let (v, at) = (2 * pair, 32 * pair);
                let lo = T::round16(noise16(T::load16(src.add(at)), n[v], m, s, op));
                let hi = T::round16(noise16(T::load16(src.add(at + 16)), n[v + 1], m, s, op));
                out.put(dst.add(at).cast(), join(lo, hi));
            }
        }
    }

    #[inline(always)]
    unsafe fn scale_vector<const NT: bool>(
        src: *const T,
        dst: *mut T,
        factor: Option<f32>,
        out: &mut Stores<NT>,
    ) {
        // SAFETY: the caller guarantees 32 readable and writable elements and AVX-512F.
        unsafe {
            let (mut lo, mut hi) = (T::load16(src), T::load16(src.add(16)));
            if let Some(f) = factor {
                let f = _mm512_set1_ps(f);
                (lo, hi) = (_mm512_mul_ps(lo, f), _mm512_mul_ps(hi, f));
            }
            out.put(dst.cast(), join(T::round16(lo), T::round16(hi)));
        }
    }

    #[inline(always)]
    unsafe fn multiply_vector<const NT: bool>(
        src: *const T,
        factors: *const f32,
        dst: *mut T,
        out: &mut Stores<NT>,
    ) {
        // SAFETY: the caller guarantees 32 readable elements at src and factors, 32 writable
        // at dst, and AVX-512F.
        unsafe {
            let lo = _mm512_mul_ps(T::load16(src), _mm512_loadu_ps(factors));
            let hi = _mm512_mul_ps(T::load16(src.add(16)), _mm512_loadu_ps(factors.add(16)));
            out.put(dst.cast(), join(T::round16(lo), T::round16(hi)));
        }
    }
}
