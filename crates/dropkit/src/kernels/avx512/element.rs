//! The per-type bodies (f32, f64): 64 elements at a time from a mask word or 64 normals.

use std::arch::x86_64::*;

use super::store::{load_plain, Stores};
use crate::ops::{Kept, NoiseOp};

/// Element types with an AVX-512 body: 64 elements at a time from a mask word or 64 normals.
pub(crate) trait Avx512Element: crate::Element {
    /// Writes `kept`-applied or dropped elements `0..64` of `src` to `dst` by `bits` (bit `i`
    /// for element `i`) through `out`.
    unsafe fn masked64<const NT: bool>(
        src: *const Self,
        dst: *mut Self,
        bits: u64,
        kept: Kept<Self>,
        out: &mut Stores<NT>,
    );
    /// Writes `x * (mean + stddev * n)` or `x + (...)` for 64 elements, `n` in element order.
    unsafe fn noise64<const NT: bool>(
        src: *const Self,
        dst: *mut Self,
        n: [__m512; 4],
        mean: Self,
        stddev: Self,
        op: NoiseOp,
        out: &mut Stores<NT>,
    );
    /// Writes `x * factor` (or `x` when `None`) for the 64 bytes of elements at `src`.
    unsafe fn scale_vector<const NT: bool>(
        src: *const Self,
        dst: *mut Self,
        factor: Option<Self>,
        out: &mut Stores<NT>,
    );
    /// Writes `x * f` for the 64 bytes of elements at `src` and `factors`.
    unsafe fn multiply_vector<const NT: bool>(
        src: *const Self,
        factors: *const Self,
        dst: *mut Self,
        out: &mut Stores<NT>,
    );
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
                // Dropped lanes are zero bits: +0.0, as the reference writes.
                let y = match kept {
                    Kept::Identity => _mm512_maskz_mov_ps(k, x),
                    Kept::Div(d) => _mm512_maskz_div_ps(k, x, _mm512_set1_ps(d)),
                    Kept::Mul(m) => _mm512_maskz_mul_ps(k, x, _mm512_set1_ps(m)),
                    Kept::Affine { mul, add, dropped } => {
                        // x * mul, then + add: two roundings, as the reference.
                        let y = _mm512_add_ps(
                            _mm512_mul_ps(x, _mm512_set1_ps(mul)),
                            _mm512_set1_ps(add),
                        );
                        _mm512_mask_blend_ps(k, _mm512_set1_ps(dropped), y)
                    }
                };
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
                // mean + stddev * n as two roundings, as the reference (no FMA).
                let e = _mm512_add_ps(m, _mm512_mul_ps(s, nv));
                let x = _mm512_loadu_ps(src.add(16 * v));
                let y = match op {
                    NoiseOp::Mul => _mm512_mul_ps(x, e),
                    NoiseOp::Add => _mm512_add_ps(x, e),
                };
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
