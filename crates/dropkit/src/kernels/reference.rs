//! The scalar reference kernels: one element at a time, in row-major order, written to be
//! obviously right. They are the oracle the fast paths are tested against, and the path for
//! BigDL's sequential stream.

use crate::error::Result;
use crate::mask::BitMask;
use crate::ops::FlatIo;
use crate::rng::{self, normal, Randomness};
use crate::Element;

use crate::ops::{mask_index, Kept, MaskMap, NoiseOp};

/// Writes `f(i, x[i])` for every element, reading `src` (or the buffer itself in place); `f`
/// computes in the compute type, and its result is rounded once to `T`.
#[inline(always)]
pub(crate) fn map_indexed<T: Element>(
    io: FlatIo<'_, T>,
    mut f: impl FnMut(usize, T::Compute) -> T::Compute,
) {
    match io {
        FlatIo::Copy { src, dst } => {
            for (i, (d, &s)) in dst.iter_mut().zip(src).enumerate() {
                *d = T::narrow(f(i, s.widen()));
            }
        }
        FlatIo::InPlace(buf) => {
            for (i, v) in buf.iter_mut().enumerate() {
                *v = T::narrow(f(i, v.widen()));
            }
        }
    }
}

/// `x * factor`, or a copy when `factor` is `None`.
pub(crate) fn scale<T: Element>(io: FlatIo<'_, T>, factor: Option<T::Compute>) {
    match factor {
        Some(k) => map_indexed(io, |_, x| x * k),
        None => map_indexed(io, |_, x| x),
    }
}

/// The keep mask of `len` elements with drop probability `p`: Philox keeps element `i` iff
/// its word is `>= round(p * 2^32)`; BigDL's stream keeps iff `bernoulli(1 - p)`, row-major.
/// A mask that cannot be allocated is an error, and then nothing is drawn from `r`.
pub(crate) fn keep_bits(r: &mut Randomness<'_>, len: usize, p: f64) -> Result<BitMask> {
    let mut mask = BitMask::zeros(len)?;
    match r {
        Randomness::Philox { seed, draw } => {
            let threshold = rng::keep_threshold(p);
            for i in 0..len {
                let w = rng::word(*seed, *draw, i as u64);
                mask.set(i, u64::from(w) >= threshold);
            }
        }
        Randomness::Stream(stream) => {
            let q = 1.0 - p;
            for i in 0..len {
                mask.set(i, stream.bernoulli(q));
            }
        }
    }
    Ok(mask)
}

/// Kept elements go through `kept`; dropped ones are set to `kept.dropped()` (exactly zero
/// for every rule but AlphaDropout's).
pub(crate) fn apply_mask<T: Element>(
    io: FlatIo<'_, T>,
    mask: &BitMask,
    map: MaskMap,
    kept: Kept<T::Compute>,
) {
    map_indexed::<T>(io, |i, x| {
        if mask.get(mask_index(map, i)) {
            kept.apply(x)
        } else {
            kept.dropped()
        }
    });
}

/// `x op e[map(i)]` for every element `i`: noise values drawn over a noise shape (`values`,
/// one per noise-shape element) broadcast through `map`.
pub(crate) fn combine_broadcast<T: Element>(
    io: FlatIo<'_, T>,
    values: &[T::Compute],
    map: MaskMap,
    op: NoiseOp,
) {
    map_indexed::<T>(io, |i, x| {
        let e = values[mask_index(map, i)];
        match op {
            NoiseOp::Mul => x * e,
            NoiseOp::Add => x + e,
        }
    });
}

/// The noise value of element `i`: Philox's `T(mean) + T(stddev) * T(n_i)` with `n_i` from
/// [`normal::normals4`], or BigDL's `T(normal(mean, stddev))`, row-major.
pub(crate) fn noise<T: Element>(
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    mean: f64,
    stddev: f64,
    op: NoiseOp,
) {
    let combine = |x: T::Compute, e: T::Compute| match op {
        NoiseOp::Mul => x * e,
        NoiseOp::Add => x + e,
    };
    match r {
        Randomness::Philox { seed, draw } => {
            let (m, s) = (T::Compute::from_f64(mean), T::Compute::from_f64(stddev));
            map_indexed::<T>(io, |i, x| {
                let n = normal::normals4(rng::block(*seed, *draw, (i / 4) as u64))[i % 4];
                combine(x, m + s * T::Compute::from_f32(n))
            });
        }
        Randomness::Stream(stream) => {
            map_indexed::<T>(io, |_, x| {
                combine(x, T::Compute::from_f64(stream.normal(mean, stddev)))
            });
        }
    }
}
