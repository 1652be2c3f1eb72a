//! The chunked scalar paths: the same arithmetic as [`super::reference`], but on one chunk
//! of a tensor (any element offset that is a multiple of 64), with one Philox block per four
//! elements. Also the tail of every SIMD kernel.
//!
//! Each kernel is safe Rust over the chunk's slices; its `unsafe` entry (the signature the
//! kernel table and the SIMD tails call) only turns the chunk's pointers into those slices.

use crate::ops::{BroadcastMap, FlatIo, Kept, MaskMap, NoiseOp};
use crate::rng::{self, normal};
use crate::Element;

use super::Chunk;

/// Writes `$body` (an expression of `$k`, an element's index in the chunk, and `$x`, its
/// value) to every element in order: one loop in place and one for a copy, each with the
/// body written out (a closure called from both loops may not be inlined).
macro_rules! each_element {
    ($io:expr, |$k:ident, $x:ident| $body:expr) => {
        match $io {
            FlatIo::InPlace(buf) => {
                for ($k, v) in buf.iter_mut().enumerate() {
                    let $x = *v;
                    *v = $body;
                }
            }
            FlatIo::Copy { src, dst } => {
                for ($k, (d, &$x)) in dst.iter_mut().zip(src).enumerate() {
                    *d = $body;
                }
            }
        }
    };
}

/// Fused Dropout on elements `start .. start + c.len`: draws, applies, and writes mask bits
/// (bit `i - start` of `bits`, which starts at mask word `start / 64`) when `bits` is non-null.
///
/// # Safety
/// As [`Chunk::io`]; `bits`, when non-null, must be valid for `c.len.div_ceil(64)` words and
/// not shared with another thread.
pub(crate) unsafe fn dropout<T: Element>(
    c: Chunk<T>,
    start: u64,
    seed: u64,
    draw: u64,
    threshold: u64,
    kept: Kept<T>,
    bits: *mut u64,
) {
    let words = if bits.is_null() {
        None
    } else {
        // SAFETY: the caller's bound on `bits`.
        Some(unsafe { std::slice::from_raw_parts_mut(bits, c.len.div_ceil(64)) })
    };
    // SAFETY: the caller's contract on `c`.
    let io = unsafe { c.io() };
    dropout_slices(io, start, seed, draw, threshold, kept, words);
}

/// [`dropout`] on slices: `words`, when given, has one word per 64 elements.
fn dropout_slices<T: Element>(
    io: FlatIo<'_, T>,
    start: u64,
    seed: u64,
    draw: u64,
    threshold: u64,
    kept: Kept<T>,
    mut words: Option<&mut [u64]>,
) {
    let len = io.len();
    let mut block = [0u32; 4];
    let mut word = 0u64;
    each_element!(io, |k, x| {
        let i = start + k as u64;
        if k == 0 || i.is_multiple_of(4) {
            block = rng::block(seed, draw, i / 4);
        }
        let keep = u64::from(block[(i % 4) as usize]) >= threshold;
        if let Some(words) = words.as_deref_mut() {
            word |= u64::from(keep) << (k % 64);
            if k % 64 == 63 || k + 1 == len {
                words[k / 64] = word;
                word = 0;
            }
        }
        if keep {
            kept.apply(x)
        } else {
            kept.dropped()
        }
    });
}

/// `x op values[map(i)]` on elements `i` in `start .. start + c.len`: noise values drawn over
/// a noise shape (one per noise-shape element), broadcast through `map`.
///
/// One run of the map's innermost group at a time ([`BroadcastMap::for_each_run`]): a run
/// along a broadcast group combines with one value, a run along a drawn group with
/// consecutive values (a Spatial map's `inner` elements with one value, a channels-last
/// sample's `C` elements with `C` values, the element-wise map in one pass); short runs are
/// gathered into blocks first.
///
/// `values` must hold every noise-shape element the chunk maps to (else this panics).
///
/// # Safety
/// As [`Chunk::io`].
pub(crate) unsafe fn combine_broadcast<T: Element>(
    c: Chunk<T>,
    start: usize,
    values: &[T],
    map: MaskMap,
    op: NoiseOp,
) {
    // SAFETY: the caller's contract on `c`.
    let io = unsafe { c.io() };
    combine_broadcast_slices(io, start, values, map, op);
}

/// [`combine_broadcast`] on slices.
pub(super) fn combine_broadcast_slices<T: Element>(
    mut io: FlatIo<'_, T>,
    start: usize,
    values: &[T],
    map: MaskMap,
    op: NoiseOp,
) {
    // Runs shorter than `SHORT` (a few channels, a short innermost group) cost more in
    // their own loop than their elements: their values are gathered into a block, which is
    // combined in one zip when full.
    const BLOCK: usize = 1024;
    const SHORT: usize = 32;
    let mut block = [T::zero(); BLOCK];
    let mut filled = 0;
    let mut from = 0;
    let n = io.len();
    let b = BroadcastMap::of(map);
    if let Some((coarse, period)) = b.repeating().filter(|&(_, c)| c < SHORT) {
        // A few channels repeated along a broadcast group (channels-last): each run of the
        // coarser map repeats its `period` values into a block, combined a block at a time.
        let whole = period * (BLOCK / period);
        coarse.for_each_run(start, n, |k, len, m, _| {
            // Only as much of the block as this run reads (a short run fills little).
            let mut phase = (start + k) % period;
            let used = (phase + len).min(whole);
            let repeated = values[m..m + period].iter().cycle();
            for (slot, &v) in block[..used].iter_mut().zip(repeated) {
                *slot = v;
            }
            let mut done = 0;
            while done < len {
                let part = (whole - phase).min(len - done);
                combine_values(&mut io, k + done, &block[phase..phase + part], op);
                done += part;
                phase = 0;
            }
        });
        return;
    }
    b.for_each_run(start, n, |k, len, m, drawn| {
        if len >= SHORT {
            if filled > 0 {
                combine_values(&mut io, from, &block[..filled], op);
                filled = 0;
            }
            if drawn {
                combine_values(&mut io, k, &values[m..m + len], op);
            } else {
                combine_value(&mut io, k, len, values[m], op);
            }
            return;
        }
        // A short run fits in what is left of the block, or in the next one.
        if filled + len > BLOCK {
            combine_values(&mut io, from, &block[..filled], op);
            filled = 0;
        }
        if filled == 0 {
            from = k;
        }
        let slots = &mut block[filled..filled + len];
        if drawn {
            slots.copy_from_slice(&values[m..m + len]);
        } else {
            slots.fill(values[m]);
        }
        filled += len;
    });
    if filled > 0 {
        combine_values(&mut io, from, &block[..filled], op);
    }
}

/// Elements `k .. k + values.len()`: `x op value`, each with its own value.
#[inline(always)]
fn combine_values<T: Element>(io: &mut FlatIo<'_, T>, k: usize, values: &[T], op: NoiseOp) {
    let range = k..k + values.len();
    // One loop per operation and io, each a plain zip the compiler vectorizes.
    macro_rules! zip {
        ($x:ident, $e:ident => $body:expr) => {
            match io {
                FlatIo::InPlace(buf) => buf[range].iter_mut().zip(values).for_each(|(v, &$e)| {
                    *v = {
                        let $x = *v;
                        $body
                    }
                }),
                FlatIo::Copy { src, dst } => dst[range.clone()]
                    .iter_mut()
                    .zip(&src[range])
                    .zip(values)
                    .for_each(|((d, &$x), &$e)| *d = $body),
            }
        };
    }
    match op {
        NoiseOp::Mul => zip!(x, e => x * e),
        NoiseOp::Add => zip!(x, e => x + e),
    }
}

/// Elements `k .. k + len`: `x op value`, one value for all.
#[inline(always)]
fn combine_value<T: Element>(io: &mut FlatIo<'_, T>, k: usize, len: usize, e: T, op: NoiseOp) {
    let range = k..k + len;
    macro_rules! each {
        ($x:ident => $body:expr) => {
            match io {
                FlatIo::InPlace(buf) => buf[range].iter_mut().for_each(|v| {
                    *v = {
                        let $x = *v;
                        $body
                    }
                }),
                FlatIo::Copy { src, dst } => dst[range.clone()]
                    .iter_mut()
                    .zip(&src[range])
                    .for_each(|(d, &$x)| *d = $body),
            }
        };
    }
    match op {
        NoiseOp::Mul => each!(x => x * e),
        NoiseOp::Add => each!(x => x + e),
    }
}

/// Applies stored mask bits on elements `start .. start + c.len`, one run of elements that
/// share a mask element at a time.
///
/// `mask` must hold every mask element the chunk maps to (else this panics).
///
/// # Safety
/// As [`Chunk::io`].
pub(crate) unsafe fn apply_mask<T: Element>(
    c: Chunk<T>,
    start: usize,
    mask: &[u64],
    map: MaskMap,
    kept: Kept<T>,
) {
    // SAFETY: the caller's contract on `c`.
    let io = unsafe { c.io() };
    apply_mask_slices(io, start, mask, map, kept);
}

/// [`apply_mask`] on slices.
pub(super) fn apply_mask_slices<T: Element>(
    mut io: FlatIo<'_, T>,
    start: usize,
    mask: &[u64],
    map: MaskMap,
    kept: Kept<T>,
) {
    let bit = |m: usize| (mask[m / 64] >> (m % 64)) & 1 != 0;
    let n = io.len();
    match map {
        MaskMap::Elementwise => each_element!(io, |k, x| {
            if bit(start + k) {
                kept.apply(x)
            } else {
                kept.dropped()
            }
        }),
        MaskMap::Broadcast(b) => {
            // Run by run. A run of at least `LONG` elements along a broadcast group is one
            // mask bit for the whole run (applied, or filled without reading the source).
            // Shorter runs are unpacked into a block of keep flags (one bit repeated along a
            // broadcast group, consecutive bits along a drawn one) that `select` applies
            // branch-free once the block is full: a branch per short run would mispredict.
            const BLOCK: usize = 1024;
            const LONG: usize = 512;
            let mut keep = [false; BLOCK];
            let mut filled = 0;
            let mut from = 0;
            b.for_each_run(start, n, |k, len, m, drawn| {
                if !drawn && len >= LONG {
                    if filled > 0 {
                        select(&mut io, from, &keep[..filled], kept);
                        filled = 0;
                    }
                    run(&mut io, k, len, bit(m), kept);
                    return;
                }
                let mut done = 0;
                while done < len {
                    if filled == 0 {
                        from = k + done;
                    }
                    let part = (len - done).min(BLOCK - filled);
                    let slots = &mut keep[filled..filled + part];
                    if drawn {
                        let first = m + done;
                        for (j, slot) in slots.iter_mut().enumerate() {
                            *slot = bit(first + j);
                        }
                    } else {
                        slots.fill(bit(m));
                    }
                    filled += part;
                    done += part;
                    if filled == BLOCK {
                        select(&mut io, from, &keep, kept);
                        filled = 0;
                    }
                }
            });
            if filled > 0 {
                select(&mut io, from, &keep[..filled], kept);
            }
        }
        MaskMap::ChannelsFirst { inner } => {
            let mut k = 0;
            while k < n {
                let i = start + k;
                let len = (inner - i % inner).min(n - k);
                run(&mut io, k, len, bit(i / inner), kept);
                k += len;
            }
        }
        MaskMap::ChannelsLast { channels, inner } => {
            // Within one sample the keep pattern repeats every C elements: expand it to a
            // period of at least 256 elements and apply it run by run. The pattern is built
            // once per sample when the chunk spans a whole period and the period is short;
            // otherwise (many channels) each run builds only the bits it reads, at most
            // `PATTERN_MAX` at a time, so the work and memory stay bounded by the chunk,
            // whatever C is.
            const PATTERN_MAX: usize = 1 << 12;
            let period = channels * 256usize.div_ceil(channels);
            let per_sample = inner * channels;
            let reuse = period <= n && period <= PATTERN_MAX;
            let mut pattern: Vec<bool> = Vec::with_capacity(period.min(n).min(PATTERN_MAX));
            let mut sample = usize::MAX;
            let mut k = 0;
            while k < n {
                let i = start + k;
                let s = i / per_sample;
                let phase = (i % per_sample) % period;
                let mut len = (period - phase).min(per_sample - i % per_sample).min(n - k);
                let bits =
                    |from: usize, to: usize| (from..to).map(|j| bit(s * channels + j % channels));
                if reuse {
                    if s != sample {
                        sample = s;
                        pattern.clear();
                        pattern.extend(bits(0, period));
                    }
                    select(&mut io, k, &pattern[phase..phase + len], kept);
                } else {
                    len = len.min(PATTERN_MAX);
                    pattern.clear();
                    pattern.extend(bits(phase, phase + len));
                    select(&mut io, k, &pattern, kept);
                }
                k += len;
            }
        }
    }
}

/// Elements `k .. k + keep.len()`: `kept` applied where `keep`, `kept.dropped()` elsewhere.
#[inline(always)]
fn select<T: Element>(io: &mut FlatIo<'_, T>, k: usize, keep: &[bool], kept: Kept<T>) {
    // One loop per operation, each computing the kept value for every element and then
    // selecting it or the dropped value: branch-free, so the compiler vectorizes it whatever
    // the pattern.
    let zero = T::zero();
    match kept {
        Kept::Identity => select_with(io, k, keep, zero, |x| x),
        Kept::Div(d) => select_with(io, k, keep, zero, |x| x / d),
        Kept::Mul(m) => select_with(io, k, keep, zero, |x| x * m),
        Kept::Affine { mul, add, dropped } => select_with(io, k, keep, dropped, |x| x * mul + add),
    }
}

/// [`select`] for one operation `op`, dropped elements set to `dropped`.
#[inline(always)]
fn select_with<T: Element>(
    io: &mut FlatIo<'_, T>,
    k: usize,
    keep: &[bool],
    dropped: T,
    op: impl Fn(T) -> T,
) {
    let pick = |x: T, m: bool| {
        let y = op(x);
        if m {
            y
        } else {
            dropped
        }
    };
    let range = k..k + keep.len();
    match io {
        FlatIo::InPlace(buf) => buf[range]
            .iter_mut()
            .zip(keep)
            .for_each(|(v, &m)| *v = pick(*v, m)),
        FlatIo::Copy { src, dst } => dst[range.clone()]
            .iter_mut()
            .zip(&src[range])
            .zip(keep)
            .for_each(|((d, &x), &m)| *d = pick(x, m)),
    }
}

/// Elements `k .. k + len`: `kept` applied, or set to `kept.dropped()`.
#[inline(always)]
fn run<T: Element>(io: &mut FlatIo<'_, T>, k: usize, len: usize, keep: bool, kept: Kept<T>) {
    let range = k..k + len;
    match io {
        FlatIo::InPlace(buf) if !keep => buf[range].fill(kept.dropped()),
        FlatIo::Copy { dst, .. } if !keep => dst[range].fill(kept.dropped()),
        FlatIo::InPlace(buf) => buf[range].iter_mut().for_each(|v| *v = kept.apply(*v)),
        FlatIo::Copy { src, dst } => dst[range.clone()]
            .iter_mut()
            .zip(&src[range])
            .for_each(|(d, &x)| *d = kept.apply(x)),
    }
}

/// `x * f` for each element and its factor (`factors.len() == c.len`).
///
/// # Safety
/// As [`Chunk::io`].
pub(crate) unsafe fn multiply<T: Element>(c: Chunk<T>, factors: &[T]) {
    // SAFETY: the caller's contract on `c`.
    match unsafe { c.io() } {
        FlatIo::InPlace(buf) => buf.iter_mut().zip(factors).for_each(|(v, &f)| *v = *v * f),
        FlatIo::Copy { src, dst } => dst
            .iter_mut()
            .zip(src)
            .zip(factors)
            .for_each(|((d, &x), &f)| *d = x * f),
    }
}

/// `x * factor`, or a copy.
///
/// # Safety
/// As [`Chunk::io`].
pub(crate) unsafe fn scale<T: Element>(c: Chunk<T>, factor: Option<T>) {
    // SAFETY: the caller's contract on `c`.
    match (unsafe { c.io() }, factor) {
        (FlatIo::InPlace(buf), Some(f)) => buf.iter_mut().for_each(|v| *v = *v * f),
        (FlatIo::Copy { src, dst }, Some(f)) => {
            dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s * f)
        }
        (FlatIo::InPlace(_), None) => {}
        (FlatIo::Copy { src, dst }, None) => dst.copy_from_slice(src),
    }
}

/// Gaussian noise on elements `start .. start + c.len` from Philox `(seed, draw)`.
///
/// # Safety
/// As [`Chunk::io`].
pub(crate) unsafe fn noise<T: Element>(
    c: Chunk<T>,
    start: u64,
    seed: u64,
    draw: u64,
    mean: T,
    stddev: T,
    op: NoiseOp,
) {
    // SAFETY: the caller's contract on `c`.
    let io = unsafe { c.io() };
    let mut normals = [0f32; 4];
    each_element!(io, |k, x| {
        let i = start + k as u64;
        if k == 0 || i.is_multiple_of(4) {
            normals = normal::normals4(rng::block(seed, draw, i / 4));
        }
        let e = mean + stddev * T::from_f32(normals[(i % 4) as usize]);
        match op {
            NoiseOp::Mul => x * e,
            NoiseOp::Add => x + e,
        }
    });
}
