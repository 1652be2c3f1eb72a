//! The chunked scalar paths: the same arithmetic as [`super::reference`], but on one chunk
//! of a tensor (any element offset that is a multiple of 64), on raw pointers so chunks can
//! run on several threads, and with one Philox block per four elements. Also the tail of
//! every SIMD kernel.

use crate::rng::{self, normal};
use crate::Element;

use super::Chunk;
use crate::ops::{Kept, MaskMap, NoiseOp};

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
        if k == 0 || i.is_multiple_of(4) {
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
    match map {
        MaskMap::Elementwise => {
            for k in 0..c.len {
                // SAFETY: element k is below c.len.
                unsafe { run(c, k, 1, bit(start + k), kept) };
            }
        }
        MaskMap::ChannelsFirst { inner } => {
            let mut k = 0;
            while k < c.len {
                let i = start + k;
                let len = (inner - i % inner).min(c.len - k);
                // SAFETY: k + len <= c.len.
                unsafe { run(c, k, len, bit(i / inner), kept) };
                k += len;
            }
        }
        MaskMap::ChannelsLast { channels, inner } => {
            // Within one sample the keep pattern repeats every C elements: expand it to a
            // period of at least 256 elements and apply it run by run.
            let period = channels * 256usize.div_ceil(channels);
            let per_sample = inner * channels;
            let mut pattern: Vec<bool> = Vec::with_capacity(period);
            let mut sample = usize::MAX;
            let mut k = 0;
            while k < c.len {
                let i = start + k;
                let n = i / per_sample;
                if n != sample {
                    sample = n;
                    pattern.clear();
                    pattern.extend((0..period).map(|j| bit(n * channels + j % channels)));
                }
                let phase = (i % per_sample) % period;
                let len = (period - phase)
                    .min(per_sample - i % per_sample)
                    .min(c.len - k);
                // SAFETY: k + len <= c.len.
                unsafe { select(c, k, &pattern[phase..phase + len], kept) };
                k += len;
            }
        }
    }
}

/// Elements `k .. k + keep.len()`: `kept` applied where `keep`, zero elsewhere.
///
/// # Safety
/// `k + keep.len() <= c.len`.
#[inline(always)]
unsafe fn select<T: Element>(c: Chunk<T>, k: usize, keep: &[bool], kept: Kept<T>) {
    // One loop per operation, each computing the kept value for every element and then
    // selecting it or zero: branch-free, so the compiler vectorizes it whatever the pattern.
    // SAFETY: the caller's bound.
    unsafe {
        match kept {
            Kept::Identity => select_with(c, k, keep, |x| x),
            Kept::Div(d) => select_with(c, k, keep, |x| x / d),
            Kept::Mul(m) => select_with(c, k, keep, |x| x * m),
        }
    }
}

/// [`select`] for one operation `op`.
///
/// # Safety
/// `k + keep.len() <= c.len`.
#[inline(always)]
unsafe fn select_with<T: Element>(c: Chunk<T>, k: usize, keep: &[bool], op: impl Fn(T) -> T) {
    let pick = |x: T, m: bool| {
        let y = op(x);
        if m {
            y
        } else {
            T::zero()
        }
    };
    // SAFETY: the range is inside the chunk; in place it is one buffer, else two distinct ones.
    unsafe {
        if c.src == c.dst.cast_const() {
            let buf = std::slice::from_raw_parts_mut(c.dst.add(k), keep.len());
            buf.iter_mut()
                .zip(keep)
                .for_each(|(v, &m)| *v = pick(*v, m));
        } else {
            let src = std::slice::from_raw_parts(c.src.add(k), keep.len());
            let dst = std::slice::from_raw_parts_mut(c.dst.add(k), keep.len());
            dst.iter_mut()
                .zip(src)
                .zip(keep)
                .for_each(|((d, &x), &m)| *d = pick(x, m));
        }
    }
}

/// Elements `k .. k + len` of the chunk: `kept` applied, or set to zero.
///
/// # Safety
/// `k + len <= c.len`.
#[inline(always)]
unsafe fn run<T: Element>(c: Chunk<T>, k: usize, len: usize, keep: bool, kept: Kept<T>) {
    // SAFETY: the range is inside the chunk; in place it is one buffer, else two distinct ones.
    unsafe {
        if !keep {
            std::ptr::write_bytes(c.dst.add(k), 0, len);
        } else if c.src == c.dst.cast_const() {
            let buf = std::slice::from_raw_parts_mut(c.dst.add(k), len);
            buf.iter_mut().for_each(|v| *v = kept.apply(*v));
        } else {
            let src = std::slice::from_raw_parts(c.src.add(k), len);
            let dst = std::slice::from_raw_parts_mut(c.dst.add(k), len);
            dst.iter_mut()
                .zip(src)
                .for_each(|(d, &x)| *d = kept.apply(x));
        }
    }
}

/// `x * f` for each element and its factor.
///
/// # Safety
/// As [`dropout`]; `factors.len() == c.len`.
pub(crate) unsafe fn multiply<T: Element>(c: Chunk<T>, factors: &[T]) {
    // SAFETY: the chunk is valid for c.len elements; in place it is one buffer, else two.
    unsafe {
        if c.src == c.dst.cast_const() {
            let buf = std::slice::from_raw_parts_mut(c.dst, c.len);
            buf.iter_mut().zip(factors).for_each(|(v, &f)| *v = *v * f);
        } else {
            let src = std::slice::from_raw_parts(c.src, c.len);
            let dst = std::slice::from_raw_parts_mut(c.dst, c.len);
            dst.iter_mut()
                .zip(src)
                .zip(factors)
                .for_each(|((d, &x), &f)| *d = x * f);
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
        if k == 0 || i.is_multiple_of(4) {
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
