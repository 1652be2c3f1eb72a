//! The entry points the layers call: each runs one op over a tensor on the plan's path,
//! on one thread or split into chunks over the pool.

use crate::mask::BitMask;
use crate::ops::{FlatIo, Kept, MaskMap, NoiseOp};
use crate::rng::{keep_threshold, Randomness};
use crate::Element;

#[cfg(target_arch = "x86_64")]
use super::avx2;
use super::chunk::BitsPtr;
#[cfg(target_arch = "x86_64")]
use super::plan::streaming;
#[cfg(target_arch = "x86_64")]
use super::Path;
use super::{portable, reference, Chunk, Plan};

/// Calls `avx2::$kernel::<U, NT>` with `U` the chunk's element type (f32 or f64) and `NT`
/// the streaming choice, and returns from the enclosing closure; falls through otherwise.
#[cfg(target_arch = "x86_64")]
macro_rules! avx2_kernel {
    ($nt:expr, $chunk:expr, $kernel:ident($($arg:expr),* $(,)?)) => {{
        if let Some(c) = $chunk.cast::<f32>() {
            return match $nt {
                true => avx2::$kernel::<f32, true>(c, $($arg),*),
                false => avx2::$kernel::<f32, false>(c, $($arg),*),
            };
        }
        if let Some(c) = $chunk.cast::<f64>() {
            return match $nt {
                true => avx2::$kernel::<f64, true>(c, $($arg),*),
                false => avx2::$kernel::<f64, false>(c, $($arg),*),
            };
        }
    }};
}

/// `x * factor` or a copy.
pub(crate) fn scale<T: Element>(io: FlatIo<'_, T>, factor: Option<T>) {
    scale_with(Plan::best(), io, factor)
}

pub(crate) fn scale_with<T: Element>(plan: Plan, io: FlatIo<'_, T>, factor: Option<T>) {
    let factor = factor.filter(|&f| f != T::one());
    // SAFETY: every chunk is a disjoint sub-range of the io.
    plan.run(Chunk::of(io), |_, c| unsafe { portable::scale(c, factor) });
}

/// `x * factors`, element by element (stored Gaussian noise).
pub(crate) fn multiply<T: Element>(io: FlatIo<'_, T>, factors: &[T]) {
    assert_eq!(io.len(), factors.len(), "one factor per element");
    let plan = Plan::best();
    // SAFETY: every chunk is a disjoint sub-range of the io; `factors` covers it.
    plan.run(Chunk::of(io), |start, c| unsafe {
        portable::multiply(c, &factors[start..start + c.len])
    });
}

/// The keep mask of `len` elements at drop probability `p` (Spatial layers: a small mask).
pub(crate) fn keep_bits(r: &mut Randomness<'_>, len: usize, p: f64) -> BitMask {
    reference::keep_bits(r, len, p)
}

/// Applies a stored mask.
pub(crate) fn apply_mask<T: Element>(
    io: FlatIo<'_, T>,
    mask: &BitMask,
    map: MaskMap,
    kept: Kept<T>,
) {
    apply_mask_with(Plan::best(), io, mask, map, kept)
}

pub(crate) fn apply_mask_with<T: Element>(
    plan: Plan,
    io: FlatIo<'_, T>,
    mask: &BitMask,
    map: MaskMap,
    kept: Kept<T>,
) {
    let kept = kept.simplified();
    let words = mask.words();
    let whole = Chunk::of(io);
    #[cfg(target_arch = "x86_64")]
    let nt = streaming(&plan, &whole);
    plan.run(whole, |start, c| {
        #[cfg(target_arch = "x86_64")]
        if plan.path == Path::Avx2 && map == MaskMap::Elementwise {
            // SAFETY: AVX2 was detected; the chunk starts at a multiple of 64; words cover
            // it; streaming only with a 16-byte aligned output (chunk offsets keep it).
            unsafe { avx2_kernel!(nt, c, apply_bits(start, words, kept.cast())) }
        }
        // SAFETY: a disjoint sub-range; the mask covers every element it maps to.
        unsafe { portable::apply_mask(c, start, words, map, kept) }
    });
}

/// Element-wise Dropout with fresh randomness: draws the mask, applies it, and returns it
/// when `keep` is set. A replayed draw gives the same mask (a BigDL stream replays from its
/// saved state).
pub(crate) fn dropout<T: Element>(
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    p: f64,
    kept: Kept<T>,
    keep: bool,
) -> Option<BitMask> {
    dropout_with(Plan::best(), io, r, p, kept, keep)
}

pub(crate) fn dropout_with<T: Element>(
    plan: Plan,
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    p: f64,
    kept: Kept<T>,
    keep: bool,
) -> Option<BitMask> {
    let (seed, draw) = match r {
        Randomness::Philox { seed, draw } => (*seed, *draw),
        Randomness::Stream(_) => {
            // BigDL's stream is sequential: draw the mask, then apply it on any path.
            let mask = reference::keep_bits(r, io.len(), p);
            apply_mask_with(plan, io, &mask, MaskMap::Elementwise, kept);
            return keep.then_some(mask);
        }
    };
    let kept = kept.simplified();
    let mut mask = keep.then(|| BitMask::zeros(io.len()));
    let threshold = keep_threshold(p);
    if threshold >= 1 << 32 {
        // p = 1: every element is dropped; the mask stays all zero.
        // SAFETY: a disjoint sub-range; all-zero bits are +0.0 for f32 and f64.
        plan.run(Chunk::of(io), |_, c| unsafe {
            std::ptr::write_bytes(c.dst, 0, c.len)
        });
        return mask;
    }
    let bits = BitsPtr(
        mask.as_mut()
            .map_or(std::ptr::null_mut(), |m| m.words_mut().as_mut_ptr()),
    );
    let whole = Chunk::of(io);
    #[cfg(target_arch = "x86_64")]
    let nt = streaming(&plan, &whole);
    plan.run(whole, |start, c| {
        let b = bits.at(start / 64);
        #[cfg(target_arch = "x86_64")]
        if plan.path == Path::Avx2 {
            // SAFETY: AVX2/FMA/BMI2 detected; start is a multiple of 64; the chunk's mask
            // words are its own; streaming only with a 16-byte aligned output.
            unsafe {
                avx2_kernel!(
                    nt,
                    c,
                    dropout(start as u64, seed, draw, threshold, kept.cast(), b)
                )
            }
        }
        // SAFETY: as above, scalar.
        unsafe { portable::dropout(c, start as u64, seed, draw, threshold, kept, b) }
    });
    mask
}

/// Gaussian noise: `x * (T(mean) + T(stddev) T(n))` or `x + (...)`.
pub(crate) fn noise<T: Element>(
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    mean: f64,
    stddev: f64,
    op: NoiseOp,
) {
    noise_with(Plan::best(), io, r, mean, stddev, op)
}

pub(crate) fn noise_with<T: Element>(
    plan: Plan,
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    mean: f64,
    stddev: f64,
    op: NoiseOp,
) {
    if stddev == 0.0 && mean == 0.0 && op == NoiseOp::Add {
        // Zero additive noise is the identity, bit for bit (x + 0 would turn -0.0 into +0.0).
        // BigDL's stream still draws its normals, as BigDL does.
        if let Randomness::Stream(stream) = r {
            (0..io.len()).for_each(|_| {
                stream.normal(0.0, 0.0);
            });
        }
        return scale_with(plan, io, None);
    }
    let (seed, draw) = match r {
        Randomness::Philox { seed, draw } => (*seed, *draw),
        Randomness::Stream(_) => return reference::noise(io, r, mean, stddev, op),
    };
    let (m, s) = (T::from_f64(mean), T::from_f64(stddev));
    let whole = Chunk::of(io);
    #[cfg(target_arch = "x86_64")]
    let nt = streaming(&plan, &whole);
    plan.run(whole, |start, c| {
        #[cfg(target_arch = "x86_64")]
        if plan.path == Path::Avx2 {
            // SAFETY: AVX2/FMA detected; start is a multiple of 64; streaming only with a
            // 16-byte aligned output. The f64 -> element conversions are those of `m`, `s`.
            unsafe {
                avx2_kernel!(
                    nt,
                    c,
                    noise(
                        start as u64,
                        seed,
                        draw,
                        Element::from_f64(mean),
                        Element::from_f64(stddev),
                        op
                    )
                )
            }
        }
        // SAFETY: a disjoint sub-range.
        unsafe { portable::noise(c, start as u64, seed, draw, m, s, op) }
    });
}
