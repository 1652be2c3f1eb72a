//! The kernels the dispatcher calls: dropout, element-wise masks, noise, scale, multiply.

use std::arch::x86_64::*;

#[cfg(doc)]
use super::super::portable;
use super::super::table::portable_kernels;
use super::super::Chunk;
use super::element::Avx512Element;
use super::normal::normals;
use super::philox::{keep_word, philox16};
use super::store::Stores;
use crate::ops::{Kept, MapWords, MaskMap, NoiseOp};
use crate::rng::key_of_seed;

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
    kept: Kept<T::Compute>,
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
/// As [`portable::dropout`]; the CPU must have AVX-512F, AVX2, FMA and BMI2 (with `NT`, a
/// 4-byte aligned output).
#[target_feature(enable = "avx512f,avx2,fma,bmi2")]
pub(crate) unsafe fn dropout<T: Avx512Element, const NT: bool>(
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
    let threshold_v = _mm512_set1_epi32(threshold as u32 as i32);
    let first_block = start / 4;
    let groups = c.len / 64;
    // SAFETY: with NT, the chunk's output is 4-byte aligned (the caller's contract).
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
///
/// # Safety
/// As [`portable::apply_mask`]; `start` a multiple of 64; the CPU must have AVX-512F, AVX2,
/// FMA and BMI2 (with `NT`, a 4-byte aligned output).
#[target_feature(enable = "avx512f,avx2,fma,bmi2")]
pub(crate) unsafe fn apply_bits<T: Avx512Element, const NT: bool>(
    c: Chunk<T>,
    start: usize,
    mask: &[u64],
    kept: Kept<T::Compute>,
) {
    let groups = c.len / 64;
    let words = &mask[start / 64..start / 64 + groups];
    // SAFETY: with NT, the chunk's output is 4-byte aligned (the caller's contract).
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
        unsafe { (portable_kernels::<T>().apply_bits)(c.offset(done), start + done, mask, kept) };
    }
}

/// A stored mask under a channel map ([`MaskMap::ChannelsFirst`], [`MaskMap::ChannelsLast`])
/// on a chunk starting at any element, 64 elements per step: each step's keep bits gathered
/// from the map ([`MapWords`]); a step with none kept is a store of the dropped value's
/// bits (the source is not read), any other step the element-wise body with those bits. The
/// scalar tail is the element-wise portable kernel on the tail's own bits.
///
/// # Safety
/// As [`portable::apply_mask`]; the CPU must have AVX-512F, AVX2, FMA and BMI2 (with `NT`, a
/// 4-byte aligned output).
#[target_feature(enable = "avx512f,avx2,fma,bmi2")]
pub(crate) unsafe fn apply_map<T: Avx512Element, const NT: bool>(
    c: Chunk<T>,
    start: usize,
    mask: &[u64],
    map: MaskMap,
    kept: Kept<T::Compute>,
) {
    debug_assert!(matches!(
        map,
        MaskMap::ChannelsFirst { .. } | MaskMap::ChannelsLast { .. }
    ));
    // The dropped value as stored, in every lane of a vector (rounded once, as a dropped
    // element of the body).
    let dropped = [T::narrow(kept.dropped()); 64];
    // SAFETY: `dropped` holds at least 64 bytes; AVX-512F is enabled.
    let fill = unsafe { _mm512_loadu_si512(dropped.as_ptr().cast()) };
    let groups = c.len / 64;
    // SAFETY: with NT, the chunk's output is 4-byte aligned (the caller's contract).
    let mut out = unsafe { Stores::<NT>::new(c.dst.cast()) };
    let mut words = MapWords::new(mask, map, start);
    for g in 0..groups {
        let word = words.next_word();
        // SAFETY: elements 64 g .. 64 g + 64 lie inside the chunk (64 elements are at least
        // 64 bytes, a whole number of vectors); AVX-512F is enabled.
        unsafe {
            let (src, dst) = (c.src.add(64 * g), c.dst.add(64 * g));
            if word == 0 {
                for v in 0..std::mem::size_of::<T>() {
                    out.put(dst.add(lanes::<T>() * v).cast(), fill);
                }
            } else {
                T::masked64(src, dst, word, kept, &mut out);
            }
        }
    }
    // SAFETY: AVX-512F is enabled for this function.
    unsafe { out.finish() };
    let done = 64 * groups;
    if done < c.len {
        let word = [words.next_bits(c.len - done)];
        // SAFETY: the rest of the chunk, reading its bits from bit 0 of `word`.
        unsafe { (portable_kernels::<T>().apply_bits)(c.offset(done), 0, &word, kept) };
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
    mean: T::Compute,
    stddev: T::Compute,
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
/// As [`portable::noise`]; the CPU must have AVX-512F, AVX2, FMA and BMI2 (with `NT`, a
/// 4-byte aligned output).
#[target_feature(enable = "avx512f,avx2,fma,bmi2")]
pub(crate) unsafe fn noise<T: Avx512Element, const NT: bool>(
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
    let first_block = start / 4;
    let groups = c.len / 64;
    // SAFETY: with NT, the chunk's output is 4-byte aligned (the caller's contract).
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

/// `x * factor` or a copy, 64 bytes per step, then the scalar tail. A plain copy of a type
/// whose copy is exact goes to the portable kernel (`memcpy`), and in place there is nothing
/// to do; a half type's copy widens and rounds, as its other results.
///
/// # Safety
/// As [`portable::scale`]; the CPU must have AVX-512F, AVX2, FMA and BMI2 (with `NT`, a 4-byte
/// aligned output).
#[target_feature(enable = "avx512f,avx2,fma,bmi2")]
pub(crate) unsafe fn scale<T: Avx512Element, const NT: bool>(
    c: Chunk<T>,
    factor: Option<T::Compute>,
) {
    if factor.is_none() && !T::COPY_ROUNDS && (!NT || c.src == c.dst.cast_const()) {
        // SAFETY: the caller's contract.
        return unsafe { (portable_kernels::<T>().scale)(c, factor) };
    }
    let n = lanes::<T>();
    let steps = c.len / n;
    // SAFETY: with NT, the chunk's output is 4-byte aligned (the caller's contract).
    let mut out = unsafe { Stores::<NT>::new(c.dst.cast()) };
    for s in 0..steps {
        // SAFETY: elements n s .. n s + n lie inside the chunk; AVX-512F is enabled.
        unsafe { T::scale_vector(c.src.add(n * s), c.dst.add(n * s), factor, &mut out) };
    }
    // SAFETY: AVX-512F is enabled for this function.
    unsafe { out.finish() };
    // SAFETY: the rest of the chunk.
    unsafe { (portable_kernels::<T>().scale)(c.offset(n * steps), factor) };
}

/// `x * factors`, 64 bytes per step, then the scalar tail.
///
/// # Safety
/// As [`portable::multiply`]; the CPU must have AVX-512F, AVX2, FMA and BMI2 (with `NT`, a
/// 4-byte aligned output).
#[target_feature(enable = "avx512f,avx2,fma,bmi2")]
pub(crate) unsafe fn multiply<T: Avx512Element, const NT: bool>(
    c: Chunk<T>,
    factors: &[T::Compute],
) {
    assert_eq!(factors.len(), c.len, "one factor per element");
    let n = lanes::<T>();
    let steps = c.len / n;
    // SAFETY: with NT, the chunk's output is 4-byte aligned (the caller's contract).
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
    unsafe { (portable_kernels::<T>().multiply)(c.offset(done), &factors[done..]) };
}
