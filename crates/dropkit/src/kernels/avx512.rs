//! AVX-512 kernels (x86-64: AVX-512F, with BMI2 for `pdep`): Philox4x32-10 on 16 blocks per
//! vector (64 elements), keep decisions compared straight into mask registers and applied
//! with zero-masking in registers, and Box-Muller with the operation sequence of
//! [`crate::rng::normal`] so every output bit equals the scalar reference.
//!
//! Against the AVX2 kernels, besides the doubled width:
//! - Philox: the high and low halves of the products are gathered with one masked shuffle
//!   each, the three-way XORs are one `vpternlogd`, and round 0's second product (of the draw
//!   word, the same in every lane) is a scalar.
//! - Box-Muller: `ln` takes the exponent and mantissa with `vgetexpps` / `vgetmantps`; the
//!   angle's quadrant and remainder come from one add of `2^29` to the word (the quadrant in
//!   its top two bits, the remainder converted and centred with one exact FMA); the quadrant's
//!   swap is a mask-register blend and its signs are one `vpternlogd` each; the 4 x 16 -> 16
//!   x 4 transpose to element order is 8 two-source permutes per 64 elements.
//! - Non-temporal stores write whole 64-byte lines at any 4-byte alignment of the output
//!   ([`Stores`]).
//!
//! Every kernel here is `unsafe` and requires the CPU features it is compiled for; the
//! dispatcher in [`super`] checks them once ([`super::Path::Avx512`]).

use std::arch::x86_64::*;

use crate::ops::{Kept, MaskMap, NoiseOp};
use crate::rng::key_of_seed;
use crate::rng::normal::{C10, C2, C4, C6, C8, L3, L5, L7, L9, LN2_HI, LN2_LO, S1, S3, S5, S7, S9};

use super::avx2::{M0, M1, W0, W1};
use super::{portable, Chunk};

/// `vpshufd` selector swapping the two 32-bit halves of every 64-bit lane.
const SWAP_HALVES: _MM_PERM_ENUM = _MM_PERM_CDAB;
/// `vpternlogd` truth tables: `a ^ b ^ c`, and `a ^ (b & c)`.
const XOR3: i32 = 0x96;
const XOR_AND: i32 = 0x78;

/// `(hi, lo)` of the 32x32 -> 64-bit products of every lane of `a` with `m` (`m` the same in
/// the even and odd lanes).
#[inline(always)]
unsafe fn mulhilo(a: __m512i, m: __m512i) -> (__m512i, __m512i) {
    // SAFETY: register arithmetic; the caller enabled AVX-512F.
    unsafe {
        let even = _mm512_mul_epu32(a, m);
        let odd = _mm512_mul_epu32(_mm512_srli_epi64::<32>(a), m);
        // Odd lanes already hold the odd products' high words, even lanes the even ones' low.
        let hi = _mm512_mask_shuffle_epi32::<SWAP_HALVES>(odd, 0x5555, even);
        let lo = _mm512_mask_shuffle_epi32::<SWAP_HALVES>(even, 0xAAAA, odd);
        (hi, lo)
    }
}

/// Philox4x32-10 of `K` groups of 16 blocks, `block + 16 g .. block + 16 g + 16` for group
/// `g`, of draw `draw`: word `j` of lane `l` of group `g` is word `j` of block
/// `block + 16 g + l`. The groups' rounds are interleaved so their multiply latencies overlap.
#[inline(always)]
unsafe fn philox16<const K: usize>(block: u64, draw: u64, key: [u32; 2]) -> [[__m512i; 4]; K] {
    // SAFETY: register arithmetic; the caller enabled AVX-512F.
    unsafe {
        let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let (m0, m1) = (_mm512_set1_epi32(M0), _mm512_set1_epi32(M1));
        // Round 0 multiplies counter word 2, the draw's low word, the same in every lane.
        let p1 = u64::from(draw as u32) * u64::from(M1 as u32);
        let hi1_k0 = _mm512_set1_epi32(((p1 >> 32) as u32 ^ key[0]) as i32);
        let lo1 = _mm512_set1_epi32(p1 as u32 as i32);
        let c3_k1 = _mm512_set1_epi32(((draw >> 32) as u32 ^ key[1]) as i32);
        let mut st = [[lo1; 4]; K];
        for (g, s) in st.iter_mut().enumerate() {
            let first = block.wrapping_add(16 * g as u64);
            let lo = _mm512_set1_epi32(first as u32 as i32);
            let c0 = _mm512_add_epi32(lo, iota);
            // A lane whose low word wrapped carries into the high word.
            let wrapped = _mm512_cmplt_epu32_mask(c0, lo);
            let hi = _mm512_set1_epi32((first >> 32) as u32 as i32);
            let c1 = _mm512_mask_add_epi32(hi, wrapped, hi, _mm512_set1_epi32(1));
            let (hi0, lo0) = mulhilo(c0, m0);
            *s = [
                _mm512_xor_si512(hi1_k0, c1),
                lo1,
                _mm512_xor_si512(hi0, c3_k1),
                lo0,
            ];
        }
        let (mut k0, mut k1) = (key[0], key[1]);
        for _ in 1..10 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
            let (kv0, kv1) = (_mm512_set1_epi32(k0 as i32), _mm512_set1_epi32(k1 as i32));
            for s in st.iter_mut() {
                let [c0, c1, c2, c3] = *s;
                let (hi0, lo0) = mulhilo(c0, m0);
                let (hi1, lo1) = mulhilo(c2, m1);
                *s = [
                    _mm512_ternarylogic_epi32::<XOR3>(hi1, c1, kv0),
                    lo1,
                    _mm512_ternarylogic_epi32::<XOR3>(hi0, c3, kv1),
                    lo0,
                ];
            }
        }
        st
    }
}

/// The mask word of the 64 elements of 16 blocks: bit `4l + j` is word `j` of lane `l` kept
/// (`>= threshold`, unsigned).
#[inline(always)]
unsafe fn keep_word(w: &[__m512i; 4], threshold: __m512i) -> u64 {
    // SAFETY: register arithmetic; the caller enabled AVX-512F and BMI2.
    unsafe {
        let mut bits = 0u64;
        for (j, spread) in [
            0x1111_1111_1111_1111u64,
            0x2222_2222_2222_2222,
            0x4444_4444_4444_4444,
            0x8888_8888_8888_8888,
        ]
        .into_iter()
        .enumerate()
        {
            let kept = _mm512_cmpge_epu32_mask(w[j], threshold);
            bits |= _pdep_u64(u64::from(kept), spread);
        }
        bits
    }
}

/// Where a kernel's output vectors go, one 64-byte vector after the other in element order.
///
/// Plain (`NT = false`): unaligned stores. Non-temporal (`NT`): stores that write around the
/// cache, which need 64-byte aligned lines; the output may start at any multiple of 4 bytes
/// (`a` bytes into a line). The first vector's bytes up to the first line boundary are a
/// masked plain store; from then on each aligned line is the end of the previous vector and
/// the start of this one, joined by one two-source permute; [`Stores::finish`] writes the
/// last vector's remaining `a` bytes (a masked plain store) and fences. Only the output's own
/// bytes are written.
#[derive(Debug)]
pub(crate) struct Stores<const NT: bool> {
    /// Lane `i`: lane `i + lead / 4` of the 32 lanes of (previous vector, this vector).
    join: __m512i,
    /// The lanes of the first vector before the first line boundary.
    head: __mmask16,
    /// Bytes from a vector's address to the line boundary inside or after it (`64 - a`).
    lead: usize,
    /// The last vector put, not yet fully stored (`NT` only), and its address (null: none).
    prev: __m512i,
    prev_at: *mut u8,
}

impl<const NT: bool> Stores<NT> {
    /// Stores for an output starting at `dst` (4-byte aligned).
    #[inline(always)]
    unsafe fn new(dst: *mut u8) -> Self {
        debug_assert!((dst as usize).is_multiple_of(4));
        let lead = 64 - dst as usize % 64;
        let lanes = (lead / 4) as i32;
        // SAFETY: register arithmetic; the caller enabled AVX-512F.
        unsafe {
            let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            Stores {
                join: _mm512_add_epi32(iota, _mm512_set1_epi32(lanes)),
                head: ((1u32 << lanes) - 1) as __mmask16,
                lead,
                prev: _mm512_setzero_si512(),
                prev_at: std::ptr::null_mut(),
            }
        }
    }

    /// Writes `v` (64 bytes) at `at`: the output's first vector, or the one right after the
    /// previous `put`.
    #[inline(always)]
    unsafe fn put(&mut self, at: *mut u8, v: __m512i) {
        // SAFETY: the caller guarantees 64 writable output bytes at `at` and AVX-512F; with
        // NT, the joined line lies within the previous vector and this one (the line boundary
        // `lead` bytes after the previous vector's address), so it is 64-byte aligned output.
        unsafe {
            if !NT {
                _mm512_storeu_si512(at.cast(), v);
                return;
            }
            if self.prev_at.is_null() {
                _mm512_mask_storeu_epi32(at.cast(), self.head, v);
            } else {
                debug_assert_eq!(at, self.prev_at.wrapping_add(64));
                let line = _mm512_permutex2var_epi32(self.prev, self.join, v);
                _mm512_stream_si512(self.prev_at.add(self.lead).cast(), line);
            }
        }
        self.prev = v;
        self.prev_at = at;
    }

    /// Writes what is left of the last vector and, after non-temporal stores, fences (they
    /// are weakly ordered): the chunk then counts as done.
    #[inline(always)]
    unsafe fn finish(self) {
        if NT {
            // SAFETY: the last vector's own bytes, after the line boundary `put` stopped at;
            // AVX-512F is enabled by the caller.
            unsafe {
                if !self.prev_at.is_null() {
                    _mm512_mask_storeu_epi32(self.prev_at.cast(), !self.head, self.prev);
                }
                _mm_sfence();
            }
        }
    }
}

/// The 64 bytes at `p`, by a plain load that the compiler cannot fold into a masked
/// instruction. The masked kernels select lanes after loading: a zero-masking load, or a
/// masked instruction with a memory operand, streaming from memory ran at half the speed of a
/// plain load here (AMD Zen 5).
///
/// # Safety
/// `p` must be valid for 64 bytes of reads; the CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn load_plain(p: *const u8) -> __m512i {
    let v: __m512i;
    // SAFETY: reads the 64 bytes at p (the caller's contract) into a register; no other
    // effect.
    unsafe {
        std::arch::asm!(
            "vmovdqu64 {v}, [{p}]",
            v = out(zmm_reg) v,
            p = in(reg) p,
            options(pure, readonly, nostack, preserves_flags)
        )
    };
    v
}

/// Element types with an AVX-512 body: 64 elements at a time from a mask word or 64 normals.
pub(crate) trait Avx512Element: crate::Element {
    /// Writes `kept`-applied or zeroed elements `0..64` of `src` to `dst` by `bits` (bit `i`
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

/// Elements per 64-byte vector.
const fn lanes<T>() -> usize {
    64 / std::mem::size_of::<T>()
}

/// Dropout of group `g` of a chunk (elements `64 g .. 64 g + 64`) from its Philox words `w`,
/// writing mask word `g` of `bits` unless null.
///
/// # Safety
/// The group lies inside the chunk (and the word inside `bits`' bound); AVX-512F and BMI2.
#[inline(always)]
unsafe fn dropout_group<T: Avx512Element, const NT: bool>(
    c: Chunk<T>,
    g: usize,
    w: &[__m512i; 4],
    threshold: __m512i,
    kept: Kept<T>,
    bits: *mut u64,
    out: &mut Stores<NT>,
) {
    // SAFETY: the caller's contract.
    unsafe {
        let word = keep_word(w, threshold);
        T::masked64(c.src.add(64 * g), c.dst.add(64 * g), word, kept, out);
        if !bits.is_null() {
            bits.add(g).write(word);
        }
    }
}

/// Fused Dropout on a chunk starting at element `start` (a multiple of 64): 256 elements per
/// step (4 interleaved Philox groups), then 64, then the scalar tail. `threshold` must be
/// below `2^32` (the caller handles p = 1).
///
/// # Safety
/// As [`portable::dropout`]; the CPU must have AVX-512F, AVX2, FMA and BMI2 (any 4-byte
/// aligned output, with or without `NT`).
#[target_feature(enable = "avx512f,avx2,fma,bmi2")]
pub(crate) unsafe fn dropout<T: Avx512Element, const NT: bool>(
    c: Chunk<T>,
    start: u64,
    seed: u64,
    draw: u64,
    threshold: u64,
    kept: Kept<T>,
    bits: *mut u64,
) {
    debug_assert!(start.is_multiple_of(64) && threshold < (1 << 32));
    let key = key_of_seed(seed);
    let threshold_v = _mm512_set1_epi32(threshold as u32 as i32);
    let first_block = start / 4;
    let groups = c.len / 64;
    // SAFETY: the chunk's output is 4-byte aligned.
    let mut out = unsafe { Stores::<NT>::new(c.dst.cast()) };
    let mut g = 0;
    while g + 4 <= groups {
        // SAFETY: AVX-512F is enabled for this function.
        let w = unsafe { philox16::<4>(first_block + 16 * g as u64, draw, key) };
        for (i, w) in w.iter().enumerate() {
            // SAFETY: group g + i lies inside the chunk; AVX-512F and BMI2 are enabled.
            unsafe { dropout_group(c, g + i, w, threshold_v, kept, bits, &mut out) };
        }
        g += 4;
    }
    while g < groups {
        // SAFETY: AVX-512F is enabled for this function.
        let [w] = unsafe { philox16::<1>(first_block + 16 * g as u64, draw, key) };
        // SAFETY: group g lies inside the chunk; AVX-512F and BMI2 are enabled.
        unsafe { dropout_group(c, g, &w, threshold_v, kept, bits, &mut out) };
        g += 1;
    }
    // SAFETY: AVX-512F is enabled for this function.
    unsafe { out.finish() };
    let done = 64 * groups;
    if done < c.len {
        let tail_bits = if bits.is_null() {
            bits
        } else {
            bits.wrapping_add(groups)
        };
        // SAFETY: the tail is the rest of the chunk, starting at a multiple of 64.
        unsafe {
            portable::dropout(
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
///
/// # Safety
/// As [`portable::apply_mask`]; `start` a multiple of 64; the CPU must have AVX-512F, AVX2,
/// FMA and BMI2 (any 4-byte aligned output).
#[target_feature(enable = "avx512f,avx2,fma,bmi2")]
pub(crate) unsafe fn apply_bits<T: Avx512Element, const NT: bool>(
    c: Chunk<T>,
    start: usize,
    mask: &[u64],
    kept: Kept<T>,
) {
    let groups = c.len / 64;
    let words = &mask[start / 64..start / 64 + groups];
    // SAFETY: the chunk's output is 4-byte aligned.
    let mut out = unsafe { Stores::<NT>::new(c.dst.cast()) };
    for (g, &word) in words.iter().enumerate() {
        // SAFETY: elements 64 g .. 64 g + 64 lie inside the chunk; AVX-512F is enabled.
        unsafe { T::masked64(c.src.add(64 * g), c.dst.add(64 * g), word, kept, &mut out) };
    }
    // SAFETY: AVX-512F is enabled for this function.
    unsafe { out.finish() };
    let done = 64 * groups;
    if done < c.len {
        // SAFETY: the rest of the chunk.
        unsafe {
            portable::apply_mask(
                c.offset(done),
                start + done,
                mask,
                MaskMap::Elementwise,
                kept,
            )
        };
    }
}

/// `ln` of 16 positive normal floats: [`crate::rng::normal::ln`] lane by lane, its exponent
/// and mantissa in `[1, 2)` taken by `vgetexpps` and `vgetmantps` (the same values as the
/// reference's bit fields, the exponent already a float).
#[inline(always)]
unsafe fn ln16(x: __m512) -> __m512 {
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
unsafe fn rho16(w: __m512i) -> __m512 {
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
unsafe fn sincos16(w: __m512i) -> (__m512, __m512) {
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
unsafe fn normals<const K: usize>(w: &[[__m512i; 4]; K]) -> [[__m512; 4]; K] {
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
unsafe fn transpose([n0, n1, n2, n3]: [__m512; 4]) -> [__m512; 4] {
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

/// Noise of groups `g .. g + K` of a chunk (elements `64 g .. 64 (g + K)`) from their Philox
/// words `w`.
///
/// # Safety
/// The groups lie inside the chunk; AVX-512F.
#[inline(always)]
unsafe fn noise_groups<T: Avx512Element, const NT: bool, const K: usize>(
    c: Chunk<T>,
    g: usize,
    w: &[[__m512i; 4]; K],
    mean: T,
    stddev: T,
    op: NoiseOp,
    out: &mut Stores<NT>,
) {
    // SAFETY: the caller's contract.
    unsafe {
        for (i, n) in normals(w).into_iter().enumerate() {
            let (src, dst) = (c.src.add(64 * (g + i)), c.dst.add(64 * (g + i)));
            T::noise64(src, dst, n, mean, stddev, op, out);
        }
    }
}

/// Gaussian noise on a chunk starting at element `start` (a multiple of 4): 256 elements per
/// step, then 64, then the scalar tail. Philox runs 4 groups interleaved, as in [`dropout`]:
/// with 2 groups its 10 dependent rounds are latency-bound (the kernel measured 1.4 times
/// slower on 2^16 elements in cache).
///
/// # Safety
/// As [`portable::noise`]; the CPU must have AVX-512F, AVX2, FMA and BMI2 (any 4-byte
/// aligned output).
#[target_feature(enable = "avx512f,avx2,fma,bmi2")]
pub(crate) unsafe fn noise<T: Avx512Element, const NT: bool>(
    c: Chunk<T>,
    start: u64,
    seed: u64,
    draw: u64,
    mean: T,
    stddev: T,
    op: NoiseOp,
) {
    debug_assert!(start.is_multiple_of(4));
    let key = key_of_seed(seed);
    let first_block = start / 4;
    let groups = c.len / 64;
    // SAFETY: the chunk's output is 4-byte aligned.
    let mut out = unsafe { Stores::<NT>::new(c.dst.cast()) };
    let mut g = 0;
    while g + 4 <= groups {
        // SAFETY: AVX-512F is enabled for this function.
        let w = unsafe { philox16::<4>(first_block + 16 * g as u64, draw, key) };
        // SAFETY: groups g .. g + 4 lie inside the chunk; AVX-512F is enabled.
        unsafe { noise_groups(c, g, &w, mean, stddev, op, &mut out) };
        g += 4;
    }
    while g < groups {
        // SAFETY: AVX-512F is enabled for this function.
        let w = unsafe { philox16::<1>(first_block + 16 * g as u64, draw, key) };
        // SAFETY: group g lies inside the chunk; AVX-512F is enabled.
        unsafe { noise_groups(c, g, &w, mean, stddev, op, &mut out) };
        g += 1;
    }
    // SAFETY: AVX-512F is enabled for this function.
    unsafe { out.finish() };
    let done = 64 * groups;
    if done < c.len {
        // SAFETY: the rest of the chunk.
        unsafe {
            portable::noise(
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

/// `x * factor` or a copy, 64 bytes per step, then the scalar tail. A plain copy goes to the
/// portable kernel (`memcpy`), and in place there is nothing to do.
///
/// # Safety
/// As [`portable::scale`]; the CPU must have AVX-512F, AVX2, FMA and BMI2 (any 4-byte aligned
/// output).
#[target_feature(enable = "avx512f,avx2,fma,bmi2")]
pub(crate) unsafe fn scale<T: Avx512Element, const NT: bool>(c: Chunk<T>, factor: Option<T>) {
    if factor.is_none() && (!NT || c.src == c.dst.cast_const()) {
        // SAFETY: the caller's contract.
        return unsafe { portable::scale(c, factor) };
    }
    let n = lanes::<T>();
    let steps = c.len / n;
    // SAFETY: the chunk's output is 4-byte aligned.
    let mut out = unsafe { Stores::<NT>::new(c.dst.cast()) };
    for s in 0..steps {
        // SAFETY: elements n s .. n s + n lie inside the chunk; AVX-512F is enabled.
        unsafe { T::scale_vector(c.src.add(n * s), c.dst.add(n * s), factor, &mut out) };
    }
    // SAFETY: AVX-512F is enabled for this function.
    unsafe { out.finish() };
    // SAFETY: the rest of the chunk.
    unsafe { portable::scale(c.offset(n * steps), factor) };
}

/// `x * factors`, 64 bytes per step, then the scalar tail.
///
/// # Safety
/// As [`portable::multiply`]; the CPU must have AVX-512F, AVX2, FMA and BMI2 (any 4-byte
/// aligned output).
#[target_feature(enable = "avx512f,avx2,fma,bmi2")]
pub(crate) unsafe fn multiply<T: Avx512Element, const NT: bool>(c: Chunk<T>, factors: &[T]) {
    assert_eq!(factors.len(), c.len, "one factor per element");
    let n = lanes::<T>();
    let steps = c.len / n;
    // SAFETY: the chunk's output is 4-byte aligned.
    let mut out = unsafe { Stores::<NT>::new(c.dst.cast()) };
    for s in 0..steps {
        // SAFETY: elements n s .. n s + n lie inside the chunk and `factors`; AVX-512F is
        // enabled.
        unsafe {
            T::multiply_vector(
                c.src.add(n * s),
                factors.as_ptr().add(n * s),
                c.dst.add(n * s),
                &mut out,
            )
        };
    }
    // SAFETY: AVX-512F is enabled for this function.
    unsafe { out.finish() };
    let done = n * steps;
    // SAFETY: the rest of the chunk, with its factors.
    unsafe { portable::multiply(c.offset(done), &factors[done..]) };
}

/// Test access to the vector pieces, each checked against its scalar counterpart.
#[cfg(test)]
pub(crate) mod probe {
    use super::*;

    /// Whether this CPU runs the AVX-512 path.
    pub(crate) fn available() -> bool {
        super::super::Path::Avx512.available()
    }

    /// The words of blocks `block .. block + 16` through the vector Philox (K = 1 and, as
    /// the second group of K = 4, through the interleaved one too, which must agree).
    pub(crate) fn philox16_blocks(block: u64, draw: u64, seed: u64) -> [[u32; 4]; 16] {
        assert!(available());
        #[target_feature(enable = "avx512f,avx2,fma,bmi2")]
        fn run(block: u64, draw: u64, seed: u64) -> [[u32; 4]; 16] {
            let key = key_of_seed(seed);
            let mut one = [[0u32; 16]; 4];
            let mut four = [[0u32; 16]; 4];
            // SAFETY: AVX-512F is enabled; each store writes 16 u32 into a [u32; 16].
            unsafe {
                let [w] = philox16::<1>(block, draw, key);
                let [_, w4, _, _] = philox16::<4>(block.wrapping_sub(16), draw, key);
                for j in 0..4 {
                    _mm512_storeu_si512(one[j].as_mut_ptr().cast(), w[j]);
                    _mm512_storeu_si512(four[j].as_mut_ptr().cast(), w4[j]);
                }
            }
            assert_eq!(one, four, "interleaved groups");
            std::array::from_fn(|l| std::array::from_fn(|j| one[j][l]))
        }
        // SAFETY: the CPU has the path's features (asserted above).
        unsafe { run(block, draw, seed) }
    }

    /// `rho` and `(sin, cos)` of 16 words each through the vector Box-Muller pieces.
    pub(crate) fn rho_sincos(w: [u32; 16]) -> ([f32; 16], [f32; 16], [f32; 16]) {
        assert!(available());
        #[target_feature(enable = "avx512f,avx2,fma,bmi2")]
        fn run(w: [u32; 16]) -> ([f32; 16], [f32; 16], [f32; 16]) {
            let (mut rho, mut sin, mut cos) = ([0f32; 16], [0f32; 16], [0f32; 16]);
            // SAFETY: AVX-512F is enabled; the load reads 16 u32, each store writes 16 f32.
            unsafe {
                let v = _mm512_loadu_si512(w.as_ptr().cast());
                let (s, c) = sincos16(v);
                _mm512_storeu_ps(rho.as_mut_ptr(), rho16(v));
                _mm512_storeu_ps(sin.as_mut_ptr(), s);
                _mm512_storeu_ps(cos.as_mut_ptr(), c);
            }
            (rho, sin, cos)
        }
        // SAFETY: the CPU has the path's features (asserted above).
        unsafe { run(w) }
    }
}
