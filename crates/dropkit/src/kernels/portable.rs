//! The chunked scalar paths: the same arithmetic as [`super::reference`], but on one chunk
//! of a tensor (any element offset that is a multiple of 64), on raw pointers so chunks can
//! run on several threads, and with one Philox block per four elements. Also the tail of
//! every SIMD kernel.

use crate::rng::{self, normal};
use crate::Element;

use super::{Chunk, Kept, MaskMap, NoiseOp};

/// Fused Dropout on elements `start .. start + c.len`: draws, applies, and writes mask bits
/// (bit `i - start` of `bits`, which starts at mask word `start / 64`) when `bits` is non-null.
///
/// # Safety
/// `c` must be valid for `c.len` reads and writes (see [`Chunk`]); `bits`, when non-null,
/// must be valid for `c.len.div_ceil(64)` words and not shared with another thread.
pub(crate) unsafe fn dropout<T: Element>(
    c: Chunk<T>,
    start: u64,
    seed: u64,
    draw: u64,
    threshold: u64,
    kept: Kept<T>,
    bits: *mut u64,
) {
    let mut block = [0u32; 4];
    let mut word = 0u64;
    for k in 0..c.len {
        let i = start + k as u64;
        if k == 0 || i % 4 == 0 {
            block = rng::block(seed, draw, i / 4);
        }
        let keep = u64::from(block[(i % 4) as usize]) >= threshold;
        // SAFETY: k < c.len, and the caller guarantees c is valid for c.len elements.
        unsafe {
            let x = c.src.add(k).read();
            c.dst
                .add(k)
                .write(if keep { kept.apply(x) } else { T::zero() });
        }
        if !bits.is_null() {
            word |= u64::from(keep) << (k % 64);
            if k % 64 == 63 || k + 1 == c.len {
                // SAFETY: k / 64 < c.len.div_ceil(64), the caller's bound on `bits`.
                unsafe { bits.add(k / 64).write(word) };
                word = 0;
            }
        }
    }
}

/// Applies stored mask bits on elements `start .. start + c.len`, one run of elements that
/// share a mask element at a time.
///
/// # Safety
/// As [`dropout`]; `mask` must hold every mask element the chunk maps to.
pub(crate) unsafe fn apply_mask<T: Element>(
    c: Chunk<T>,
    start: usize,
    mask: &[u64],
    map: MaskMap,
    kept: Kept<T>,
) {
    let bit = |m: usize| (mask[m / 64] >> (m % 64)) & 1 != 0;
    // SAFETY (all three arms): every index written is below c.len.
    match map {
        MaskMap::Elementwise => {
            for k in 0..c.len {
                unsafe { run(c, k, 1, bit(start + k), kept) };
            }
        }
        MaskMap::ChannelsFirst { inner } => {
            let mut k = 0;
            while k < c.len {
                let i = start + k;
                let len = (inner - i % inner).min(c.len - k);
                unsafe { run(c, k, len, bit(i / inner), kept) };
                k += len;
            }
        }
        MaskMap::ChannelsLast { channels, inner } => {
            let first = start;
            let (mut n, mut pixel, mut ch) = (
                first / (inner * channels),
                (first / channels) % inner,
                first % channels,
            );
            for k in 0..c.len {
                unsafe { run(c, k, 1, bit(n * channels + ch), kept) };
                ch += 1;
                if ch == channels {
                    ch = 0;
                    pixel += 1;
                    if pixel == inner {
                        pixel = 0;
                        n += 1;
                    }
                }
            }
        }
    }
}

/// Elements `k .. k + len` of the chunk: `kept` applied, or set to zero.
///
/// # Safety
/// `k + len <= c.len`.
#[inline(always)]
unsafe fn run<T: Element>(c: Chunk<T>, k: usize, len: usize, keep: bool, kept: Kept<T>) {
    for j in k..k + len {
        // SAFETY: j < c.len by the caller's bound.
        unsafe {
            let y = if keep {
                kept.apply(c.src.add(j).read())
            } else {
                T::zero()
            };
            c.dst.add(j).write(y);
        }
    }
}

/// `x * factor`, or a copy.
///
/// # Safety
/// As [`dropout`].
pub(crate) unsafe fn scale<T: Element>(c: Chunk<T>, factor: Option<T>) {
    let in_place = c.src == c.dst.cast_const();
    match factor {
        Some(f) if in_place => {
            // SAFETY: one buffer valid for c.len elements, no other reference to it.
            let buf = unsafe { std::slice::from_raw_parts_mut(c.dst, c.len) };
            buf.iter_mut().for_each(|v| *v = *v * f);
        }
        Some(f) => {
            // SAFETY: two distinct buffers (a Copy io), each valid for c.len elements.
            let (src, dst) = unsafe {
                (
                    std::slice::from_raw_parts(c.src, c.len),
                    std::slice::from_raw_parts_mut(c.dst, c.len),
                )
            };
            dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s * f);
        }
        None if in_place => {}
        // SAFETY: distinct buffers of a Copy io do not overlap.
        None => unsafe { std::ptr::copy_nonoverlapping(c.src, c.dst, c.len) },
    }
}

/// Gaussian noise on elements `start .. start + c.len` from Philox `(seed, draw)`.
///
/// # Safety
/// As [`dropout`].
pub(crate) unsafe fn noise<T: Element>(
    c: Chunk<T>,
    start: u64,
    seed: u64,
    draw: u64,
    mean: T,
    stddev: T,
    op: NoiseOp,
) {
    let mut normals = [0f32; 4];
    for k in 0..c.len {
        let i = start + k as u64;
        if k == 0 || i % 4 == 0 {
            normals = normal::normals4(rng::block(seed, draw, i / 4));
        }
        let e = mean + stddev * T::from_f32(normals[(i % 4) as usize]);
        // SAFETY: k < c.len.
        unsafe {
            let x = c.src.add(k).read();
            c.dst.add(k).write(match op {
                NoiseOp::Mul => x * e,
                NoiseOp::Add => x + e,
            });
        }
    }
}
