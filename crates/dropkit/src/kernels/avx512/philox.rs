//! Philox4x32-10 on 16 blocks per vector, and keep decisions straight into mask registers.

use std::arch::x86_64::*;

use super::super::avx2::{M0, M1, W0, W1};

/// `vpshufd` selector swapping the two 32-bit halves of every 64-bit lane.
pub(super) const SWAP_HALVES: _MM_PERM_ENUM = _MM_PERM_CDAB;
/// `vpternlogd` truth tables: `a ^ b ^ c`, and `a ^ (b & c)`.
pub(super) const XOR3: i32 = 0x96;
pub(super) const XOR_AND: i32 = 0x78;

/// `(hi, lo)` of the 32x32 -> 64-bit products of every lane of `a` with `m` (`m` the same in
/// the even and odd lanes).
#[inline(always)]
pub(super) unsafe fn mulhilo(a: __m512i, m: __m512i) -> (__m512i, __m512i) {
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
pub(super) unsafe fn philox16<const K: usize>(
    block: u64,
    draw: u64,
    key: [u32; 2],
) -> [[__m512i; 4]; K] {
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
pub(super) unsafe fn keep_word(w: &[__m512i; 4], threshold: __m512i) -> u64 {
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
