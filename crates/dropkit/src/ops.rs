//! The op vocabulary: what an element loop computes, independent of where it runs. The
//! layers decide which op to run; every backend (the CPU kernels, the CUDA kernels) runs the
//! same ops with the same bits.

use crate::error::{check_shape, Result};
use crate::Element;

/// Source and destination of a flat kernel: row-major contiguous data of one logical shape.
#[derive(Debug)]
pub enum FlatIo<'a, T> {
    /// Read `src`, write `dst` (same length).
    Copy {
        /// The input, row-major.
        src: &'a [T],
        /// The output, row-major.
        dst: &'a mut [T],
    },
    /// Read and overwrite one buffer.
    InPlace(&'a mut [T]),
}

impl<T: Copy> FlatIo<'_, T> {
    /// Checks that the buffers fit `shape`: a Copy's two slices have one length, and that
    /// length is the shape's element count.
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] naming `argument` (or `"dst"` for unequal slices);
    /// [`crate::Error::ShapeOverflow`] for a shape whose non-zero dimensions multiply past
    /// `usize::MAX` (even when another dimension is 0).
    pub fn check(
        &self,
        layer: &'static str,
        argument: &'static str,
        shape: &[usize],
    ) -> Result<()> {
        if let FlatIo::Copy { src, dst } = self {
            check_shape(layer, "dst", &[src.len()], &[dst.len()])?;
        }
        if element_count(layer, argument, shape)? != self.len() {
            return Err(crate::Error::ShapeMismatch {
                layer,
                argument,
                expected: shape.to_vec(),
                got: vec![self.len()],
            });
        }
        Ok(())
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            FlatIo::Copy { dst, .. } => dst.len(),
            FlatIo::InPlace(buf) => buf.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The element count of `shape`, checked in every build: the product of its dimensions,
/// where the product of the non-zero dimensions must fit in `usize` even when a dimension is
/// 0 (numpy and ndarray have the same rule). So the count does not depend on the order of the
/// dimensions, and every partial product of a shape that passes (a Spatial layer's `N * C`, a
/// feature map's size) fits in `usize` too.
///
/// # Errors
/// [`crate::Error::ShapeOverflow`] naming `layer`, `argument` and the shape.
pub(crate) fn element_count(
    layer: &'static str,
    argument: &'static str,
    shape: &[usize],
) -> Result<usize> {
    let mut count = 1usize;
    let mut empty = false;
    for &d in shape {
        if d == 0 {
            empty = true;
        } else {
            count = count
                .checked_mul(d)
                .ok_or_else(|| crate::Error::ShapeOverflow {
                    layer,
                    argument,
                    shape: shape.to_vec(),
                })?;
        }
    }
    Ok(if empty { 0 } else { count })
}

/// BigDL's training forward of a kept element for drop probability `p` (Dropout and the
/// Spatial layers, on CPU and GPU): `x / T(1 - p)` with `scale`, else `x`.
pub(crate) fn forward_kept<T: Element>(scale: bool, p: f64) -> Kept<T> {
    if scale {
        Kept::Div(T::from_f64(1.0 - p))
    } else {
        Kept::Identity
    }
}

/// BigDL's training backward of a kept element: `g * T(1 / (1 - p))` with `scale`, else `g`.
pub(crate) fn backward_kept<T: Element>(scale: bool, p: f64) -> Kept<T> {
    if scale {
        Kept::Mul(T::from_f64(1.0 / (1.0 - p)))
    } else {
        Kept::Identity
    }
}

/// BigDL's evaluation factor (forward and backward): `T(1 - p)` without `scale`, else none.
pub(crate) fn eval_factor<T: Element>(scale: bool, p: f64) -> Option<T> {
    (!scale).then(|| T::from_f64(1.0 - p))
}

/// SELU's `alpha * lambda` negated: the value AlphaDropout's dropped elements stand for
/// (Klambauer et al., "Self-Normalizing Neural Networks", 2017).
pub(crate) const ALPHA_PRIME: f64 = -1.758_099_340_847_376_6;

/// AlphaDropout's training forward at drop probability `p`: with
/// `a = ((1 - p)(1 + p alpha'^2))^(-1/2)` and `b = -a alpha' p` (in `f64`), a kept element
/// becomes `T(a) * x + T(b)` (two roundings) and a dropped one is set to `T(a alpha' + b)`.
/// `p = 0` keeps everything unchanged; `p = 1` drops everything to `0`, as PyTorch's
/// `alpha_dropout` returns `x * 0` there (the formula's `a` is infinite).
pub(crate) fn alpha_forward_kept<T: Element>(p: f64) -> Kept<T> {
    match alpha_coefficients(p) {
        Some((a, b)) => Kept::Affine {
            mul: T::from_f64(a),
            add: T::from_f64(b),
            dropped: T::from_f64(a * ALPHA_PRIME + b),
        },
        None => Kept::Identity,
    }
}

/// AlphaDropout's training backward: `g * T(a)` where kept, `0` where dropped (the identity
/// at `p = 0`, all zero at `p = 1`).
pub(crate) fn alpha_backward_kept<T: Element>(p: f64) -> Kept<T> {
    match alpha_coefficients(p) {
        Some((a, _)) => Kept::Mul(T::from_f64(a)),
        None => Kept::Identity,
    }
}

/// `(a, b)` of AlphaDropout for `0 < p < 1`, in `f64`; `None` at `p = 0` and `p = 1`.
pub(crate) fn alpha_coefficients(p: f64) -> Option<(f64, f64)> {
    if p <= 0.0 || p >= 1.0 {
        return None;
    }
    let a = 1.0 / ((1.0 - p) * (1.0 + p * ALPHA_PRIME * ALPHA_PRIME)).sqrt();
    Some((a, -a * ALPHA_PRIME * p))
}

/// What happens to a kept element, and what a dropped one is set to (`0` but for
/// [`Kept::Affine`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kept<T> {
    /// Unchanged.
    Identity,
    /// Divided by the value (BigDL's forward `x / T(1 - p)`).
    Div(T),
    /// Multiplied by the value (BigDL's backward `g * T(1 / (1 - p))`).
    Mul(T),
    /// `x * mul + add`, rounded after the product and after the sum (never fused), with the
    /// dropped elements set to `dropped` (AlphaDropout's forward).
    Affine {
        /// The factor `T(a)`.
        mul: T,
        /// The offset `T(b)`.
        add: T,
        /// The value of a dropped element.
        dropped: T,
    },
}

impl<T: Element> Kept<T> {
    #[inline(always)]
    pub(crate) fn apply(self, x: T) -> T {
        match self {
            Kept::Identity => x,
            Kept::Div(k) => x / k,
            Kept::Mul(k) => x * k,
            Kept::Affine { mul, add, .. } => x * mul + add,
        }
    }

    /// The value a dropped element is set to.
    #[inline(always)]
    pub(crate) fn dropped(self) -> T {
        match self {
            Kept::Affine { dropped, .. } => dropped,
            _ => T::zero(),
        }
    }

    /// The same operation, cheaper where that changes no bit: dividing by a power of two is
    /// multiplying by its (exact) reciprocal, both being the correctly rounded `x / k`.
    pub(crate) fn simplified(self) -> Self {
        match self {
            Kept::Div(k) if k == T::one() => Kept::Identity,
            Kept::Div(k) => {
                let r = T::one() / k;
                let (mantissa, _, _) = k.integer_decode();
                let exact = mantissa.is_power_of_two() && r.is_normal() && k.is_normal();
                if exact {
                    Kept::Mul(r)
                } else {
                    self
                }
            }
            Kept::Mul(k) if k == T::one() => Kept::Identity,
            other => other,
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

/// The mask a layer draws for one input: its length and how data elements read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MaskLayout {
    /// Mask elements.
    pub(crate) len: usize,
    /// Data element to mask element.
    pub(crate) map: MaskMap,
}

/// The mask element that data element `i` reads (the reference's map).
#[cfg_attr(not(test), allow(dead_code))]
#[inline(always)]
pub(crate) fn mask_index(map: MaskMap, i: usize) -> usize {
    match map {
        MaskMap::Elementwise => i,
        MaskMap::ChannelsFirst { inner } => i / inner,
        MaskMap::ChannelsLast { channels, inner } => {
            (i / (inner * channels)) * channels + i % channels
        }
    }
}

/// Gaussian noise `e = T(mean) + T(stddev) * T(n)`, `n ~ N(0, 1)`, and how it combines with
/// the data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Noise {
    pub(crate) mean: f64,
    pub(crate) stddev: f64,
    pub(crate) op: NoiseOp,
}

impl Noise {
    /// `x * e`, `e ~ N(1, stddev^2)` (GaussianDropout).
    pub(crate) fn multiplicative(stddev: f64) -> Self {
        Noise {
            mean: 1.0,
            stddev,
            op: NoiseOp::Mul,
        }
    }

    /// `x + e`, `e ~ N(0, stddev^2)` (GaussianNoise).
    pub(crate) fn additive(stddev: f64) -> Self {
        Noise {
            mean: 0.0,
            stddev,
            op: NoiseOp::Add,
        }
    }
}

/// How noise combines with the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoiseOp {
    /// `x * noise` (GaussianDropout).
    Mul,
    /// `x + noise` (GaussianNoise).
    Add,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn element_counts_are_checked_whatever_the_order_of_the_dimensions() {
        let count = |shape: &[usize]| element_count("L", "input", shape);
        assert_eq!(count(&[]), Ok(1));
        assert_eq!(count(&[2, 0, 3]), Ok(0));
        assert_eq!(count(&[usize::MAX, 1]), Ok(usize::MAX));
        assert_eq!(count(&[1 << 28, 1 << 28, 0, 5]), Ok(0));
        for shape in [
            vec![0, usize::MAX, usize::MAX],
            vec![usize::MAX, usize::MAX, 0],
            vec![usize::MAX, 0, 2],
            vec![1 << 32, 1 << 32],
        ] {
            assert_eq!(
                count(&shape),
                Err(Error::ShapeOverflow {
                    layer: "L",
                    argument: "input",
                    shape: shape.clone()
                })
            );
        }
    }
}
