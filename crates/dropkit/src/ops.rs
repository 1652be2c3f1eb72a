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
/// Spatial layers, on CPU and GPU): `x / T(1 - p)` with `scale`, else `x`. `T` here (and in
/// the other rules) is the compute type of the layer's element type: `f32` for a
/// half-precision layer.
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
    /// A mask over a noise shape broadcast to the data (Keras's `noise_shape`), in the
    /// general case the maps above do not cover.
    Broadcast(BroadcastMap),
}

/// The most groups a [`BroadcastMap`] holds: a noise shape may alternate drawn and broadcast
/// axes up to this many times (after merging neighbours of one kind).
pub(crate) const BROADCAST_GROUPS: usize = 8;

/// Data element to mask element for a mask drawn over a noise shape and broadcast: the data
/// shape merged into groups of adjacent axes that are all drawn or all broadcast (outermost
/// first), each with its size and its stride in the mask (0 for a broadcast group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BroadcastMap {
    pub(crate) groups: usize,
    pub(crate) dims: [usize; BROADCAST_GROUPS],
    pub(crate) strides: [usize; BROADCAST_GROUPS],
}

impl BroadcastMap {
    /// The mask element of data element `i`.
    #[inline(always)]
    pub(crate) fn index(&self, mut i: usize) -> usize {
        let mut m = 0;
        for k in (0..self.groups).rev() {
            let d = self.dims[k];
            m += (i % d) * self.strides[k];
            i /= d;
        }
        m
    }

    /// `map` as groups: the Spatial and element-wise maps are special cases of the general
    /// one (`(N, C, inner)` is drawn `N * C`, broadcast `inner`; `(N, inner, C)` is drawn `N`,
    /// broadcast `inner`, drawn `C`), with an outermost group that never wraps (its size is
    /// `usize::MAX`: the map does not know the data's length, and needs no bound on it).
    pub(crate) fn of(map: MaskMap) -> Self {
        let mut b = BroadcastMap {
            groups: 0,
            dims: [1; BROADCAST_GROUPS],
            strides: [0; BROADCAST_GROUPS],
        };
        let groups: &[(usize, usize)] = match map {
            MaskMap::Broadcast(b) => return b,
            MaskMap::Elementwise => &[(usize::MAX, 1)],
            MaskMap::ChannelsFirst { inner } => &[(usize::MAX, 1), (inner, 0)],
            MaskMap::ChannelsLast { channels, inner } => {
                &[(usize::MAX, channels), (inner, 0), (channels, 1)]
            }
        };
        b.groups = groups.len();
        for (k, &(dim, stride)) in groups.iter().enumerate() {
            b.dims[k] = dim;
            b.strides[k] = stride;
        }
        b
    }

    /// When the innermost group is drawn (`C` long) and the one above it broadcast, the mask
    /// elements repeat with period `C` along both. The coarser map merges the two groups into
    /// one broadcast group: data element `i` in one of its runs (see [`Self::for_each_run`])
    /// reads mask element `m + i % C`, `m` being the run's. Returns that map and `C`, else
    /// `None`.
    pub(crate) fn repeating(&self) -> Option<(BroadcastMap, usize)> {
        let last = self.groups.checked_sub(1)?;
        let above = last.checked_sub(1)?;
        if self.strides[last] != 1 || self.strides[above] != 0 {
            return None;
        }
        let mut coarse = *self;
        coarse.groups = last;
        coarse.dims[above] = self.dims[above].checked_mul(self.dims[last])?;
        coarse.dims[last] = 1;
        Some((coarse, self.dims[last]))
    }

    /// Cuts data elements `start .. start + n` into runs of the innermost group (the first
    /// and last may be partial) and calls `f(k, len, m, drawn)` for each, in order: the run
    /// is elements `start + k .. start + k + len`; when `drawn` (the innermost group is
    /// drawn) they read mask elements `m .. m + len`, else all read mask element `m`.
    ///
    /// The index of the first run is computed with divisions, each later one by counting
    /// the outer groups up (an odometer), so a run costs a few additions whatever its length.
    #[inline(always)]
    pub(crate) fn for_each_run(
        &self,
        start: usize,
        n: usize,
        mut f: impl FnMut(usize, usize, usize, bool),
    ) {
        let Some(last) = self.groups.checked_sub(1) else {
            // No group: every element reads mask element 0.
            if n > 0 {
                f(0, n, 0, false);
            }
            return;
        };
        let inner = self.dims[last].max(1);
        let step = self.strides[last];
        debug_assert!(step <= 1, "an innermost drawn group has stride 1");
        // The outer groups' digits of the first run, and its first mask element.
        let mut digits = [0usize; BROADCAST_GROUPS];
        let mut rest = start / inner;
        let mut base = 0;
        for g in (0..last).rev() {
            digits[g] = rest % self.dims[g];
            rest /= self.dims[g];
            base += digits[g] * self.strides[g];
        }
        let mut offset = start % inner;
        let mut k = 0;
        while k < n {
            let len = (inner - offset).min(n - k);
            f(k, len, base + offset * step, step != 0);
            k += len;
            offset = 0;
            for g in (0..last).rev() {
                digits[g] += 1;
                base += self.strides[g];
                if digits[g] < self.dims[g] {
                    break;
                }
                digits[g] = 0;
                base -= self.dims[g] * self.strides[g];
            }
        }
    }
}

/// The mask of data of `shape` drawn over `noise_shape` (Keras's semantics: an entry `None`
/// takes the input's size; each resolved entry is 1 or the input's size), numbered row-major
/// over the resolved noise shape and broadcast. A noise shape that is a Spatial layer's (or
/// the whole shape) gets the Spatial map (or the element-wise one), so it takes their fast
/// paths and draws the same bits.
///
/// # Errors
/// [`crate::Error::ShapeMismatch`] naming `noise_shape`, with the input's shape and the
/// resolved noise shape, for another rank or an entry that is neither 1 nor the input's size;
/// [`crate::Error::InvalidNoiseShape`] for more than [`BROADCAST_GROUPS`] alternations;
/// [`crate::Error::ShapeOverflow`].
pub(crate) fn broadcast_layout(
    layer: &'static str,
    argument: &'static str,
    shape: &[usize],
    noise_shape: &[Option<usize>],
) -> Result<MaskLayout> {
    let resolved: Vec<usize> = noise_shape
        .iter()
        .zip(shape.iter().chain(std::iter::repeat(&0)))
        .map(|(e, &d)| e.unwrap_or(d))
        .collect();
    let fits = resolved.len() == shape.len()
        && resolved.iter().zip(shape).all(|(&e, &d)| e == 1 || e == d);
    if !fits {
        return Err(crate::Error::ShapeMismatch {
            layer,
            argument: "noise_shape",
            expected: shape.to_vec(),
            got: resolved,
        });
    }
    let total = element_count(layer, argument, shape)?;
    if total == 0 {
        return Ok(MaskLayout {
            len: 0,
            map: MaskMap::Elementwise,
        });
    }
    // Groups of adjacent axes of one kind (drawn: true), axes of size 1 left out.
    let mut groups: Vec<(bool, usize)> = Vec::new();
    for (&d, &e) in shape.iter().zip(&resolved) {
        if d == 1 {
            continue;
        }
        let drawn = e == d;
        match groups.last_mut() {
            Some((kind, size)) if *kind == drawn => *size *= d,
            _ => groups.push((drawn, d)),
        }
    }
    let len: usize = groups.iter().filter(|g| g.0).map(|g| g.1).product();
    let map = match groups.as_slice() {
        [] | [(true, _)] => MaskMap::Elementwise,
        [(false, inner)] | [(true, _), (false, inner)] => MaskMap::ChannelsFirst { inner: *inner },
        [(false, inner), (true, channels)] | [(true, _), (false, inner), (true, channels)] => {
            MaskMap::ChannelsLast {
                channels: *channels,
                inner: *inner,
            }
        }
        _ if groups.len() > BROADCAST_GROUPS => {
            return Err(crate::Error::InvalidNoiseShape {
                value: noise_shape.to_vec(),
                reason: "it alternates broadcast (1) and drawn axes more than 8 times",
            })
        }
        _ => {
            let mut b = BroadcastMap {
                groups: groups.len(),
                dims: [1; BROADCAST_GROUPS],
                strides: [0; BROADCAST_GROUPS],
            };
            let mut stride = 1;
            for (k, &(drawn, size)) in groups.iter().enumerate().rev() {
                b.dims[k] = size;
                if drawn {
                    b.strides[k] = stride;
                    stride *= size;
                }
            }
            MaskMap::Broadcast(b)
        }
    };
    Ok(MaskLayout { len, map })
}

/// Checks a noise shape's entries: each `None` or at least 1.
///
/// # Errors
/// [`crate::Error::InvalidNoiseShape`] for an entry of 0.
pub(crate) fn check_noise_shape(noise_shape: &[Option<usize>]) -> Result<Vec<Option<usize>>> {
    if noise_shape.contains(&Some(0)) {
        return Err(crate::Error::InvalidNoiseShape {
            value: noise_shape.to_vec(),
            reason: "every entry must be None (the input's size) or an int >= 1",
        });
    }
    Ok(noise_shape.to_vec())
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
        MaskMap::Broadcast(b) => b.index(i),
    }
}

/// `len` (at most 64) consecutive bits of `mask` from bit `m`, bit `m` lowest. Reads only the
/// words those bits are in.
#[inline(always)]
fn mask_bits(mask: &[u64], m: usize, len: usize) -> u64 {
    debug_assert!((1..=64).contains(&len));
    let (w, b) = (m / 64, m % 64);
    let mut bits = mask[w] >> b;
    if b + len > 64 {
        bits |= mask[w + 1] << (64 - b);
    }
    bits & (u64::MAX >> (64 - len))
}

/// The keep bits of consecutive data elements under a channel map, 64 at a time (bit `j` is
/// the bit of mask element [`mask_index`]`(map, i + j)`), from a data element on, without
/// divisions per step: the current run (a feature map) or sample (its channel, and for fewer
/// than 64 channels its pattern) is carried from one step to the next. A run of a feature map
/// is one bit repeated; a channels-last sample's channels are consecutive bits, their pattern
/// repeated every `C` elements.
#[derive(Debug)]
pub(crate) struct MapWords<'a> {
    mask: &'a [u64],
    map: MaskMap,
    /// Channels first: the current run's mask element (`inner == 1`: the next element's).
    /// Channels last: the current sample's first mask element.
    base: usize,
    /// Channels last: the next element's channel.
    channel: usize,
    /// Elements left in the current run (channels first) or sample (channels last).
    left: usize,
    /// Channels last with fewer than 64 channels: the sample's channel bits repeated to 128
    /// bits.
    pattern: u128,
}

impl<'a> MapWords<'a> {
    /// The steps from data element `i` on, under `map` (a channel map, else this panics).
    pub(crate) fn new(mask: &'a [u64], map: MaskMap, i: usize) -> Self {
        let mut words = MapWords {
            mask,
            map,
            base: 0,
            channel: 0,
            left: 0,
            pattern: 0,
        };
        match map {
            MaskMap::ChannelsFirst { inner: 1 } => words.base = i,
            MaskMap::ChannelsFirst { inner } => {
                words.base = i / inner;
                words.left = inner - i % inner;
            }
            MaskMap::ChannelsLast { channels, inner } => {
                let per_sample = inner * channels;
                words.base = i / per_sample * channels;
                words.channel = i % channels;
                words.left = per_sample - i % per_sample;
                words.pattern = words.sample_pattern();
            }
            _ => panic!("MapWords takes a channel map, not {map:?}"),
        }
        words
    }

    /// The current sample's channel bits repeated to 128 bits (fewer than 64 channels).
    #[inline(always)]
    fn sample_pattern(&self) -> u128 {
        match self.map {
            MaskMap::ChannelsLast { channels, .. } if channels < 64 => {
                let mut pattern = u128::from(mask_bits(self.mask, self.base, channels));
                let mut width = channels;
                while width < 128 {
                    pattern |= pattern << width;
                    width *= 2;
                }
                pattern
            }
            _ => 0,
        }
    }

    /// The keep word of the next 64 elements (all of which the mask must cover).
    #[inline(always)]
    pub(crate) fn next_word(&mut self) -> u64 {
        self.next_bits(64)
    }

    /// The keep bits of the next `len` elements (1 to 64, all of which the mask must cover),
    /// from bit 0.
    #[inline(always)]
    pub(crate) fn next_bits(&mut self, len: usize) -> u64 {
        debug_assert!((1..=64).contains(&len));
        let ones = |n: usize| u64::MAX >> (64 - n);
        let mut word = 0;
        let mut j = 0;
        match self.map {
            MaskMap::ChannelsFirst { inner: 1 } => {
                word = mask_bits(self.mask, self.base, len);
                self.base += len;
            }
            MaskMap::ChannelsFirst { inner } => {
                while j < len {
                    let run = self.left.min(len - j);
                    let bit = (self.mask[self.base / 64] >> (self.base % 64)) & 1;
                    word |= (bit * ones(run)) << j;
                    j += run;
                    self.left -= run;
                    if self.left == 0 {
                        self.base += 1;
                        self.left = inner;
                    }
                }
            }
            MaskMap::ChannelsLast { channels, inner } => {
                while j < len {
                    if self.left == 0 {
                        // The next sample, only once an element of it is read (the mask
                        // may end with the last one).
                        self.base += channels;
                        self.channel = 0;
                        self.left = inner * channels;
                        self.pattern = self.sample_pattern();
                    }
                    let segment = self.left.min(len - j);
                    let c = self.channel;
                    let bits = if channels < 64 {
                        (self.pattern >> c) as u64 & ones(segment)
                    } else {
                        let run = segment.min(channels - c);
                        let first = mask_bits(self.mask, self.base + c, run);
                        if run < segment {
                            first | (mask_bits(self.mask, self.base, segment - run) << run)
                        } else {
                            first
                        }
                    };
                    word |= bits << j;
                    j += segment;
                    self.left -= segment;
                    if self.left == 0 {
                        // The sample ends here.
                    } else if channels >= 64 {
                        // c + segment < 2 C.
                        self.channel = c + segment;
                        if self.channel >= channels {
                            self.channel -= channels;
                        }
                    } else {
                        self.channel = (c + segment) % channels;
                    }
                }
            }
            _ => unreachable!("MapWords::new takes only the channel maps"),
        }
        word
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
    fn noise_shapes_take_the_spatial_maps_where_they_are_ones() {
        let layout = |shape: &[usize], noise: &[Option<usize>]| {
            broadcast_layout("L", "input", shape, noise).unwrap()
        };
        let one = Some(1);
        assert_eq!(
            layout(&[2, 3, 4, 5], &[None, None, one, one]),
            MaskLayout {
                len: 6,
                map: MaskMap::ChannelsFirst { inner: 20 }
            }
        );
        assert_eq!(
            layout(&[2, 4, 5, 3], &[None, one, one, None]),
            MaskLayout {
                len: 6,
                map: MaskMap::ChannelsLast {
                    channels: 3,
                    inner: 20
                }
            }
        );
        assert_eq!(
            layout(&[2, 4, 1, 3], &[None, None, one, None]).map,
            MaskMap::Elementwise
        );
        assert_eq!(
            layout(&[2, 4], &[one, one]),
            MaskLayout {
                len: 1,
                map: MaskMap::ChannelsFirst { inner: 8 }
            }
        );
        // The general map against coordinates: mask index row-major over the noise shape.
        let shape = [2, 3, 4, 5];
        let noise = [one, None, one, None];
        let l = layout(&shape, &noise);
        assert_eq!(l.len, 15);
        for i in 0..120 {
            // Coordinates (_, b, _, d) of element i; axes 0 and 2 are broadcast.
            let (b, d) = ((i / 20) % 3, i % 5);
            assert_eq!(mask_index(l.map, i), b * 5 + d, "{i}");
        }
        let many = [2, 2, 2, 2, 2, 2, 2, 2, 2, 2];
        let alternating: Vec<Option<usize>> = (0..10)
            .map(|k| if k % 2 == 0 { one } else { None })
            .collect();
        assert!(matches!(
            broadcast_layout("L", "input", &many, &alternating),
            Err(Error::InvalidNoiseShape { .. })
        ));
    }

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
