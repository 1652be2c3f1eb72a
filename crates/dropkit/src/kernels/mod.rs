//! The element loops behind the layers. Layers call the functions here; each picks its
//! implementation once per call (today the scalar [`reference`] path).

pub(crate) mod reference;

use crate::mask::BitMask;
use crate::module::FlatIo;
use crate::rng::Randomness;
use crate::Element;

/// What happens to a kept element.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kept<T> {
    /// Unchanged.
    Identity,
    /// Divided by the value (BigDL's forward `x / T(1 - p)`).
    Div(T),
    /// Multiplied by the value (BigDL's backward `g * T(1 / (1 - p))`).
    Mul(T),
}

impl<T: Element> Kept<T> {
    #[inline(always)]
    pub(crate) fn apply(self, x: T) -> T {
        match self {
            Kept::Identity => x,
            Kept::Div(k) => x / k,
            Kept::Mul(k) => x * k,
        }
    }
}

/// How data elements (row-major) map to mask elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MaskMap {
    /// One mask element per data element.
    Elementwise,
    /// `(N, C, inner...)`: element `i` reads mask `i / inner`.
    ChannelsFirst {
        /// Elements per feature map.
        inner: usize,
    },
    /// `(N, inner..., C)`: element `i` reads mask `n * C + c`.
    ChannelsLast {
        /// C.
        channels: usize,
        /// Elements per channel per sample.
        inner: usize,
    },
}

/// How noise combines with the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoiseOp {
    /// `x * noise` (GaussianDropout).
    Mul,
    /// `x + noise` (GaussianNoise).
    Add,
}

/// `x * factor` or a copy.
pub(crate) fn scale<T: Element>(io: FlatIo<'_, T>, factor: Option<T>) {
    reference::scale(io, factor)
}

/// The keep mask of `len` elements at drop probability `p`.
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
    reference::apply_mask(io, mask, map, kept)
}

/// Element-wise Dropout with fresh randomness: draws the mask, applies it, and returns it
/// when `keep` is set (it is always built for the BigDL stream, which cannot be replayed
/// without it cheaply).
pub(crate) fn dropout<T: Element>(
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    p: f64,
    kept: Kept<T>,
    keep: bool,
) -> Option<BitMask> {
    let mask = reference::keep_bits(r, io.len(), p);
    reference::apply_mask(io, &mask, MaskMap::Elementwise, kept);
    keep.then_some(mask)
}

/// Gaussian noise: `x * T(mean + stddev n)` or `x + T(mean + stddev n)`.
pub(crate) fn noise<T: Element>(
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    mean: f64,
    stddev: f64,
    op: NoiseOp,
) {
    reference::noise(io, r, mean, stddev, op)
}
