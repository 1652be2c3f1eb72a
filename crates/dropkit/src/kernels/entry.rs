//! The entry points the layers call. Each resolves, once per call, the kernel it runs (for
//! its element type, the plan's path and whether stores stream: [`Plan::kernels`], through
//! [`super::KernelTable::kernels`]), then runs it over the plan's chunks, on one thread or on
//! the pool. The kernels take the chunk as stored and the constants in the compute type (a
//! half-precision kernel widens, computes in `f32` and rounds once). The broadcast of noise
//! over a noise shape, which has no kernel in the table, reaches its loop as chunks of the
//! compute type ([`super::KernelTable::in_compute`]).

use crate::error::Result;
use crate::mask::BitMask;
use crate::ops::{FlatIo, Kept, MaskMap, NoiseOp};
use crate::rng::{keep_threshold, Randomness};
use crate::Element;

use super::chunk::BitsPtr;
use super::{portable, reference, Chunk, Plan};

/// `x * factor` or a copy.
pub(crate) fn scale<T: Element>(io: FlatIo<'_, T>, factor: Option<T::Compute>) {
    scale_with(Plan::best(), io, factor)
}

pub(crate) fn scale_with<T: Element>(plan: Plan, io: FlatIo<'_, T>, factor: Option<T::Compute>) {
    let factor = factor.filter(|&f| f != <T::Compute as num_traits::One>::one());
    let whole = Chunk::of(io);
    let scale = plan.kernels(&whole).scale;
    plan.run(whole, |_, c| {
        // SAFETY: every chunk is a disjoint sub-range of the io; the kernel was resolved by
        // this plan for this output.
        unsafe { scale(c, factor) }
    });
}

/// `x * factors`, element by element (stored Gaussian noise).
pub(crate) fn multiply<T: Element>(io: FlatIo<'_, T>, factors: &[T::Compute]) {
    multiply_with(Plan::best(), io, factors)
}

pub(crate) fn multiply_with<T: Element>(plan: Plan, io: FlatIo<'_, T>, factors: &[T::Compute]) {
    assert_eq!(io.len(), factors.len(), "one factor per element");
    let whole = Chunk::of(io);
    let multiply = plan.kernels(&whole).multiply;
    plan.run(whole, |start, c| {
        // SAFETY: every chunk is a disjoint sub-range of the io, and the factors it gets are
        // its own; the kernel was resolved by this plan for this output.
        unsafe { multiply(c, &factors[start..start + c.len]) }
    });
}

/// The keep mask of `len` elements at drop probability `p` (Spatial layers: a small mask).
pub(crate) fn keep_bits(r: &mut Randomness<'_>, len: usize, p: f64) -> Result<BitMask> {
    reference::keep_bits(r, len, p)
}

/// Applies a stored mask.
pub(crate) fn apply_mask<T: Element>(
    io: FlatIo<'_, T>,
    mask: &BitMask,
    map: MaskMap,
    kept: Kept<T::Compute>,
) {
    apply_mask_with(Plan::best(), io, mask, map, kept)
}

pub(crate) fn apply_mask_with<T: Element>(
    plan: Plan,
    io: FlatIo<'_, T>,
    mask: &BitMask,
    map: MaskMap,
    kept: Kept<T::Compute>,
) {
    let kept = kept.simplified();
    let words = mask.words();
    let whole = Chunk::of(io);
    let kernels = plan.kernels(&whole);
    if map == MaskMap::Elementwise {
        let apply = kernels.apply_bits;
        plan.run(whole, |start, c| {
            // SAFETY: a disjoint sub-range starting at a multiple of 64; `words` covers it;
            // the kernel was resolved by this plan for this output.
            unsafe { apply(c, start, words, kept) }
        });
    } else {
        let apply = kernels.apply_mask;
        plan.run(whole, |start, c| {
            // SAFETY: a disjoint sub-range; the mask covers every element it maps to; the
            // kernel was resolved by this plan for this output.
            unsafe { apply(c, start, words, map, kept) }
        });
    }
}

/// Element-wise Dropout with fresh randomness: draws the mask, applies it, and returns it
/// when `keep` is set. A replayed draw gives the same mask (a BigDL stream replays from its
/// saved state). A mask that cannot be allocated is an error before anything is written.
pub(crate) fn dropout<T: Element>(
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    p: f64,
    kept: Kept<T::Compute>,
    keep: bool,
) -> Result<Option<BitMask>> {
    dropout_with(Plan::best(), io, r, p, kept, keep)
}

pub(crate) fn dropout_with<T: Element>(
    plan: Plan,
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    p: f64,
    kept: Kept<T::Compute>,
    keep: bool,
) -> Result<Option<BitMask>> {
    let (seed, draw) = match r {
        Randomness::Philox { seed, draw } => (*seed, *draw),
        Randomness::Stream(_) => {
            // BigDL's stream is sequential: draw the mask, then apply it on any path.
            let mask = reference::keep_bits(r, io.len(), p)?;
            apply_mask_with(plan, io, &mask, MaskMap::Elementwise, kept);
            return Ok(keep.then_some(mask));
        }
    };
    let kept = kept.simplified();
    let mut mask = keep.then(|| BitMask::zeros(io.len())).transpose()?;
    let threshold = keep_threshold(p);
    if threshold >= 1 << 32 {
        // p = 1: every element is dropped; the mask stays all zero.
        let dropped = kept.dropped();
        let zero_bits = dropped == <T::Compute as num_traits::Zero>::zero()
            && num_traits::Float::is_sign_positive(dropped);
        let dropped = T::narrow(dropped);
        plan.run(Chunk::of(io), |_, c| {
            if zero_bits {
                // SAFETY: a disjoint sub-range; all-zero bits are +0.0 for every element type.
                unsafe { std::ptr::write_bytes(c.dst, 0, c.len) }
            } else {
                // SAFETY: a disjoint sub-range of the io, written by this closure alone.
                let out = unsafe { std::slice::from_raw_parts_mut(c.dst, c.len) };
                out.fill(dropped);
            }
        });
        return Ok(mask);
    }
    let bits = BitsPtr(
        mask.as_mut()
            .map_or(std::ptr::null_mut(), |m| m.words_mut().as_mut_ptr()),
    );
    let whole = Chunk::of(io);
    let dropout = plan.kernels(&whole).dropout;
    plan.run(whole, |start, c| {
        // SAFETY: a disjoint sub-range starting at a multiple of 64, whose mask words (if
        // any) are its own; the threshold is below 2^32; the kernel was resolved by this plan
        // for this output.
        unsafe {
            let b = bits.at(start / 64);
            dropout(c, start as u64, seed, draw, threshold, kept, b)
        }
    });
    Ok(mask)
}

/// Gaussian noise drawn over a noise shape of `len` elements (the values the unbroadcast
/// noise would have for elements `0..len`) and broadcast through `map`. The values are
/// computed as `1 * e` or `0 + e`, which is `e` exactly (`e` is never `-0.0`: its mean `+0.0`
/// is added last), so each element gets what the unbroadcast kernel computes for it.
pub(crate) fn noise_broadcast<T: Element>(
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    noise: (f64, f64, NoiseOp),
    len: usize,
    map: MaskMap,
) -> Result<()> {
    noise_broadcast_with(Plan::best(), io, r, noise, len, map)
}

pub(crate) fn noise_broadcast_with<T: Element>(
    plan: Plan,
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    (mean, stddev, op): (f64, f64, NoiseOp),
    len: usize,
    map: MaskMap,
) -> Result<()> {
    let identity = match op {
        NoiseOp::Mul => <T::Compute as num_traits::One>::one(),
        NoiseOp::Add => <T::Compute as num_traits::Zero>::zero(),
    };
    // The values stay in the compute type: a half layer broadcasts the f32 layer's noise.
    let mut values = crate::alloc::filled("the noise over the noise shape", len, identity)?;
    noise_with::<T::Compute>(plan, FlatIo::InPlace(&mut values), r, mean, stddev, op);
    plan.run(Chunk::of(io), |start, c| {
        // SAFETY: every chunk is a disjoint sub-range of the io; `values` covers the whole
        // noise shape, so every index the map gives is in it.
        unsafe {
            T::in_compute(plan.path, c, start, |start, c| {
                portable::combine_broadcast(c, start, &values, map, op)
            })
        }
    });
    Ok(())
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
    let (seed, draw) = match r {
        Randomness::Philox { seed, draw } => (*seed, *draw),
        Randomness::Stream(_) => return reference::noise(io, r, mean, stddev, op),
    };
    let (m, s) = (T::Compute::from_f64(mean), T::Compute::from_f64(stddev));
    let whole = Chunk::of(io);
    let noise = plan.kernels(&whole).noise;
    plan.run(whole, |start, c| {
        // SAFETY: a disjoint sub-range starting at a multiple of 64; the kernel was resolved
        // by this plan for this output.
        unsafe { noise(c, start as u64, seed, draw, m, s, op) }
    });
}
