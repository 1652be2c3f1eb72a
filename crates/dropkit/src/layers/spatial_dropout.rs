//! SpatialDropout1D/2D/3D (Tompson et al., "Efficient object localization using
//! convolutional networks", CVPR 2015): one keep/drop draw per (sample, channel), shared by
//! the whole feature map.
//!
//! BigDL's default is Torch7's: no scaling in training, `x * T(1 - p)` in evaluation. With
//! `scale = true` the layers behave as Keras and PyTorch do: `x / T(1 - p)` in training,
//! identity in evaluation. Backward is `g * m` (times `T(1 / (1 - p))` with `scale`) in
//! training and the evaluation forward's factor in evaluation (BigDL throws there). A dropped
//! element is set to exactly 0 (BigDL multiplies by 0, so NaN stays NaN there).
//!
//! | layer | accepted input | mask shape |
//! |---|---|---|
//! | SpatialDropout1D NHWC (default) | (N, T, C) or (T, C) | (N, 1, C) / (1, C) |
//! | SpatialDropout1D NCHW | (N, C, L) or (C, L) | (N, C, 1) / (C, 1) |
//! | SpatialDropout2D NCHW | (N, C, H, W) or (C, H, W) | (N, C, 1, 1) / (C, 1, 1) |
//! | SpatialDropout2D NHWC | (N, H, W, C) or (H, W, C) | (N, 1, 1, C) / (1, 1, C) |
//! | SpatialDropout3D NCHW | (N, C, D, H, W) or (C, D, H, W) | (N, C, 1, 1, 1) / (C, 1, 1, 1) |
//! | SpatialDropout3D NHWC | (N, D, H, W, C) or (D, H, W, C) | (N, 1, 1, 1, C) / (1, 1, 1, C) |
//!
//! The mask's elements are numbered row-major over `(N, C)`: that is the Philox element index
//! and BigDL's draw order.

use crate::backend::Backend;
use crate::error::{check_probability, Error, Result};
use crate::layers::common::{apply_saved, LayerCore, LayerImpl, Saved};
use crate::layers::common::{LayerOptions, OptionValue};
use crate::ops::{backward_kept, element_count, eval_factor, forward_kept, MaskLayout, MaskMap};
use crate::Element;

/// Where the channel axis is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DataFormat {
    /// Channels first: `(N, C, spatial...)`.
    #[default]
    Nchw,
    /// Channels last: `(N, spatial..., C)`.
    Nhwc,
}

impl DataFormat {
    /// The format's name: `"NCHW"` or `"NHWC"`.
    pub fn name(self) -> &'static str {
        match self {
            DataFormat::Nchw => "NCHW",
            DataFormat::Nhwc => "NHWC",
        }
    }
}

impl std::str::FromStr for DataFormat {
    type Err = Error;

    /// `"NCHW"` or `"NHWC"`, or their Keras spellings `"channels_first"` and
    /// `"channels_last"`, in any case.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "NCHW" | "CHANNELS_FIRST" => Ok(DataFormat::Nchw),
            "NHWC" | "CHANNELS_LAST" => Ok(DataFormat::Nhwc),
            _ => Err(Error::UnknownDataFormat {
                value: s.to_string(),
            }),
        }
    }
}

/// The part every Spatial layer shares: `p`, `scale`, the format and the rank it takes.
#[derive(Clone, Debug)]
struct Spatial {
    name: &'static str,
    /// Spatial dimensions of a feature map (1, 2 or 3).
    spatial_dims: usize,
    accepted: &'static str,
    p: f64,
    scale: bool,
    format: DataFormat,
    core: LayerCore,
}

impl Spatial {
    fn new(
        name: &'static str,
        spatial_dims: usize,
        accepted: &'static str,
        p: f64,
        format: DataFormat,
    ) -> Result<Self> {
        Ok(Spatial {
            name,
            spatial_dims,
            accepted,
            p: check_probability("init_p", p, true)?,
            scale: false,
            format,
            core: LayerCore::new(name),
        })
    }

    /// The mask length and map of `argument` of `shape`, or the rank error. Every product
    /// is checked ([`Error::ShapeOverflow`]). An empty tensor gets an empty mask: it has no
    /// element to drop, so it costs no mask bits and no random numbers, whatever `N * C` is
    /// (and the map of a non-empty one has no zero divisor).
    fn layout(&self, argument: &'static str, shape: &[usize]) -> Result<MaskLayout> {
        let full = self.spatial_dims + 2;
        if shape.len() != full && shape.len() != full - 1 {
            return Err(Error::WrongRank {
                layer: self.name,
                accepted: self.accepted,
                shape: shape.to_vec(),
            });
        }
        channel_mask_layout(self.name, argument, shape, shape.len() == full, self.format)
    }

    /// The layout of [`Spatial::layout`] for data of logical `shape` held in memory order
    /// `perm`, when the batch axis stays outermost and the channel axis is first or last
    /// among the others: the mask is numbered `n * C + c` either way, so a flat pass over
    /// memory draws the logical pass's bits. The spatial axes may come in any order.
    fn memory_layout(&self, shape: &[usize], perm: &[usize]) -> Option<MaskLayout> {
        let logical = self.layout("input", shape).ok()?;
        let batched = shape.len() == self.spatial_dims + 2;
        channel_memory_layout(logical, shape, perm, batched, self.format)
    }
}

/// The `(N, C)` mask of an input of `shape` whose channel axis is the first after the batch
/// axis (channels first) or the last (channels last); `batched` says whether axis 0 is the
/// batch axis (else `N = 1`). The rank is the caller's to check (at least 2 when batched, 1
/// otherwise). Every product is checked ([`Error::ShapeOverflow`]). An empty tensor gets an
/// empty mask: it has no element to drop, so it costs no mask bits and no random numbers,
/// whatever `N * C` is (and the map of a non-empty one has no zero divisor). The Spatial
/// layers and FeatureAlphaDropout share it, so their masks are the same bits.
pub(crate) fn channel_mask_layout(
    layer: &'static str,
    argument: &'static str,
    shape: &[usize],
    batched: bool,
    format: DataFormat,
) -> Result<MaskLayout> {
    if element_count(layer, argument, shape)? == 0 {
        return Ok(MaskLayout {
            len: 0,
            map: MaskMap::Elementwise,
        });
    }
    let n = if batched { shape[0] } else { 1 };
    let rest = if batched { &shape[1..] } else { shape };
    let product = |dims: &[usize]| element_count(layer, argument, dims);
    let (channels, map) = match format {
        DataFormat::Nchw => {
            let inner = product(&rest[1..])?;
            (rest[0], MaskMap::ChannelsFirst { inner })
        }
        DataFormat::Nhwc => {
            let channels = rest[rest.len() - 1];
            let inner = product(&rest[..rest.len() - 1])?;
            (channels, MaskMap::ChannelsLast { channels, inner })
        }
    };
    Ok(MaskLayout {
        len: product(&[n, channels])?,
        map,
    })
}

/// The layout of [`channel_mask_layout`] (`logical`) for data of logical `shape` held in
/// memory order `perm`, when the batch axis stays outermost and the channel axis is first or
/// last among the others: the mask is numbered `n * C + c` either way, so a flat pass over
/// memory draws the logical pass's bits. The other axes may come in any order.
pub(crate) fn channel_memory_layout(
    logical: MaskLayout,
    shape: &[usize],
    perm: &[usize],
    batched: bool,
    format: DataFormat,
) -> Option<MaskLayout> {
    if logical.len == 0 || perm.len() != shape.len() {
        return (logical.len == 0).then_some(logical);
    }
    let lead = usize::from(batched);
    if lead == 1 && perm[0] != 0 {
        return None;
    }
    let channel = match format {
        DataFormat::Nchw => lead,
        DataFormat::Nhwc => shape.len() - 1,
    };
    let at = perm.iter().position(|&axis| axis == channel)?;
    let in_memory: Vec<usize> = perm.iter().map(|&axis| shape[axis]).collect();
    // Every product is at most the element count, which the logical layout checked.
    let map = if at == lead {
        MaskMap::ChannelsFirst {
            inner: in_memory[lead + 1..].iter().product(),
        }
    } else if at == shape.len() - 1 {
        MaskMap::ChannelsLast {
            channels: shape[channel],
            inner: in_memory[lead..at].iter().product(),
        }
    } else {
        return None;
    };
    Some(MaskLayout {
        len: logical.len,
        map,
    })
}

/// The Spatial layer types, each a wrapper of [`Spatial`].
trait AsSpatial {
    fn spatial(&self) -> &Spatial;
    fn spatial_mut(&mut self) -> &mut Spatial;
}

impl<S: AsSpatial> LayerImpl for S {
    fn core(&self) -> &LayerCore {
        &self.spatial().core
    }

    fn core_mut(&mut self) -> &mut LayerCore {
        &mut self.spatial_mut().core
    }

    fn recorded_p(&self) -> f64 {
        self.spatial().p
    }

    fn mask_layout(&self, argument: &'static str, shape: &[usize]) -> Result<MaskLayout> {
        self.spatial().layout(argument, shape)
    }

    fn memory_mask_layout(&self, shape: &[usize], perm: &[usize]) -> Option<MaskLayout> {
        self.spatial().memory_layout(shape, perm)
    }

    fn eval_factor<T: Element>(&self, p: f64) -> Option<T::Compute> {
        eval_factor(self.spatial().scale, p)
    }

    /// One keep draw per (sample, channel), applied to its whole feature map.
    fn train_forward<B: Backend>(&mut self, shape: &[usize], at: MaskLayout, io: B) -> Result<()> {
        let Spatial { p, scale, .. } = *self.spatial();
        let core = &mut self.spatial_mut().core;
        let (bits, draw) = core.draw_on::<B, _>(|r| io.keep_bits(r, at.len, p))?;
        io.apply_mask(&bits, at.map, forward_kept(scale, p))?;
        core.record_train(shape, p, draw, Some(bits));
        Ok(())
    }

    fn train_backward<B: Backend>(&self, saved: &Saved, at: MaskLayout, io: B) -> Result<()> {
        let kept = backward_kept(self.spatial().scale, saved.p);
        apply_saved(io, saved, at, kept)
    }
}

macro_rules! spatial_layer {
    (
        $(#[$doc:meta])*
        $name:ident
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name {
            inner: Spatial,
        }

        impl $name {
            /// The drop probability.
            pub fn p(&self) -> f64 {
                self.inner.p
            }

            /// Sets the drop probability used from the next forward.
            ///
            /// # Errors
            /// `p` outside `[0, 1]` or NaN; `p` is then unchanged.
            pub fn set_p(&mut self, p: f64) -> Result<&mut Self> {
                self.inner.p = check_probability("p", p, true)?;
                Ok(self)
            }

            /// With `true`, Keras/PyTorch behaviour: `x / T(1 - p)` in training, identity in
            /// evaluation. BigDL's default is `false`.
            pub fn with_scale(mut self, scale: bool) -> Self {
                self.inner.scale = scale;
                self
            }

            /// Whether kept maps are scaled in training.
            pub fn scale(&self) -> bool {
                self.inner.scale
            }

            /// The channel position.
            pub fn format(&self) -> DataFormat {
                self.inner.format
            }
        }

        impl AsSpatial for $name {
            fn spatial(&self) -> &Spatial {
                &self.inner
            }

            fn spatial_mut(&mut self) -> &mut Spatial {
                &mut self.inner
            }
        }
    };
}

spatial_layer! {
    /// Drops whole channels of a sequence: input `(N, T, C)` or `(T, C)`, mask `(N, 1, C)`
    /// (channels last, the default), or `(N, C, L)` / `(C, L)`, mask `(N, C, 1)`, with
    /// [`DataFormat::Nchw`] (PyTorch's `Dropout1d`).
    ///
    /// # Example
    /// ```
    /// use dropkit::{Module, SpatialDropout1D};
    /// let mut layer = SpatialDropout1D::new(0.5)?;
    /// let x = ndarray::Array::from_elem((2, 4, 3), 1.0f64);
    /// let y = layer.forward(&x)?;
    /// for n in 0..2 {
    ///     for c in 0..3 {
    ///         let column: Vec<f64> = (0..4).map(|t| y[[n, t, c]]).collect();
    ///         assert!(column.iter().all(|&v| v == column[0])); // one draw per (n, c)
    ///     }
    /// }
    /// # Ok::<(), dropkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// `init_p` outside `[0, 1]`; unknown format; an input of another rank
    /// ([`Error::WrongRank`]).
    ///
    /// # Shapes
    /// `(N, T, C)` or `(T, C)` channels last; `(N, C, L)` or `(C, L)` channels first.
    ///
    /// # Reproducibility
    /// Mask element `n * C + c` is a Philox element index (or BigDL's draw order).
    SpatialDropout1D
}

spatial_layer! {
    /// Drops whole 2-D feature maps: NCHW `(N, C, H, W)` / `(C, H, W)` or NHWC
    /// `(N, H, W, C)` / `(H, W, C)`.
    ///
    /// # Example
    /// ```
    /// use dropkit::{Module, SpatialDropout2D};
    /// let mut layer = SpatialDropout2D::with_format(0.7, "nhwc")?;
    /// let x = ndarray::Array::from_elem((2, 4, 5, 3), 1.0f32);
    /// let y = layer.forward(&x)?;
    /// assert!(y.iter().all(|&v| v == 0.0 || v == 1.0)); // BigDL does not scale in training
    /// # Ok::<(), dropkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// `init_p` outside `[0, 1]`; unknown format; an input of another rank.
    ///
    /// # Shapes
    /// Rank 4 (batched) or 3; the channel axis per the format.
    ///
    /// # Reproducibility
    /// Mask element `n * C + c` is a Philox element index (or BigDL's draw order).
    SpatialDropout2D
}

spatial_layer! {
    /// Drops whole 3-D feature maps: NCHW `(N, C, D, H, W)` / `(C, D, H, W)` or NHWC
    /// `(N, D, H, W, C)` / `(D, H, W, C)`.
    ///
    /// # Example
    /// ```
    /// use dropkit::{Module, SpatialDropout3D};
    /// let mut layer = SpatialDropout3D::new(0.5)?;
    /// let x = ndarray::Array::from_elem((1, 2, 2, 2, 2), 3.0f32);
    /// assert!(layer.forward(&x)?.iter().all(|&v| v == 0.0 || v == 3.0));
    /// assert!(layer.forward(&ndarray::Array::from_elem((2, 2), 1.0f32)).is_err());
    /// # Ok::<(), dropkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// `init_p` outside `[0, 1]`; unknown format; an input of another rank.
    ///
    /// # Shapes
    /// Rank 5 (batched) or 4; the channel axis per the format.
    ///
    /// # Reproducibility
    /// Mask element `n * C + c` is a Philox element index (or BigDL's draw order).
    SpatialDropout3D
}

impl SpatialDropout1D {
    /// `SpatialDropout1D(init_p)`: channels last, `(N, T, C)` / `(T, C)` (BigDL's layout).
    ///
    /// # Errors
    /// `init_p` outside `[0, 1]` or NaN.
    pub fn new(init_p: f64) -> Result<Self> {
        Self::with_data_format(init_p, DataFormat::Nhwc)
    }

    /// `SpatialDropout1D(init_p, format)` with the format as a string: `"NHWC"` /
    /// `"channels_last"` for `(N, T, C)` / `(T, C)`, `"NCHW"` / `"channels_first"` for
    /// PyTorch's `(N, C, L)` / `(C, L)` (any case).
    ///
    /// # Errors
    /// `init_p` outside `[0, 1]`; a format other than NCHW / NHWC / channels_first /
    /// channels_last.
    pub fn with_format(init_p: f64, format: &str) -> Result<Self> {
        Self::with_data_format(init_p, format.parse()?)
    }

    /// `SpatialDropout1D(init_p, format)`: [`DataFormat::Nhwc`] takes `(N, T, C)` / `(T, C)`,
    /// [`DataFormat::Nchw`] takes `(N, C, L)` / `(C, L)`. Either way the mask is numbered
    /// `n * C + c`.
    ///
    /// # Errors
    /// `init_p` outside `[0, 1]` or NaN.
    pub fn with_data_format(init_p: f64, format: DataFormat) -> Result<Self> {
        let accepted = match format {
            DataFormat::Nhwc => "3 (N, T, C) or 2 (T, C) with format NHWC",
            DataFormat::Nchw => "3 (N, C, L) or 2 (C, L) with format NCHW",
        };
        Ok(SpatialDropout1D {
            inner: Spatial::new("SpatialDropout1D", 1, accepted, init_p, format)?,
        })
    }
}

/// The constructors of a Spatial layer with a data format (2D and 3D).
macro_rules! format_constructors {
    ($name:ident, $dims:expr, $accepted:expr) => {
        impl $name {
            #[doc = concat!("`", stringify!($name), "(init_p)` with format NCHW.")]
            ///
            /// # Errors
            /// `init_p` outside `[0, 1]` or NaN.
            pub fn new(init_p: f64) -> Result<Self> {
                Self::with_data_format(init_p, DataFormat::Nchw)
            }

            #[doc = concat!("`", stringify!($name), "(init_p, format)` with the format as a string (`\"NCHW\"`, `\"nhwc\"`, `\"channels_last\"`...).")]
            ///
            /// # Errors
            /// `init_p` outside `[0, 1]`; a format other than NCHW / NHWC / channels_first /
            /// channels_last.
            pub fn with_format(init_p: f64, format: &str) -> Result<Self> {
                Self::with_data_format(init_p, format.parse()?)
            }

            #[doc = concat!("`", stringify!($name), "(init_p, format)`.")]
            ///
            /// # Errors
            /// `init_p` outside `[0, 1]` or NaN.
            pub fn with_data_format(init_p: f64, format: DataFormat) -> Result<Self> {
                Ok($name { inner: Spatial::new(stringify!($name), $dims, $accepted, init_p, format)? })
            }
        }
    };
}

format_constructors!(
    SpatialDropout2D,
    2,
    "4 (N, C, H, W) / (N, H, W, C) or 3 (C, H, W) / (H, W, C)"
);
format_constructors!(
    SpatialDropout3D,
    3,
    "5 (N, C, D, H, W) / (N, D, H, W, C) or 4 (C, D, H, W) / (D, H, W, C)"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dropout, GeneratorKind, Module};
    use ndarray::{Array, Array3, Array4};

    #[test]
    fn seed_document_masks_with_bigdl_seed_100() {
        // SpatialDropout1D[Double](0.7) on (3, 4, 5) after RNG.setSeed(100).
        let x = Array3::from_elem((3, 4, 5), 1.0f64);
        let mut layer = SpatialDropout1D::new(0.7).unwrap();
        layer.set_seed(100, GeneratorKind::BigDl);
        let y = layer.forward(&x).unwrap();
        let want = [
            [0., 0., 1., 0., 0.],
            [0., 0., 1., 1., 1.],
            [1., 1., 0., 1., 0.],
        ];
        for n in 0..3 {
            for t in 0..4 {
                for c in 0..5 {
                    assert_eq!(y[[n, t, c]], want[n][c], "({n}, {t}, {c})");
                }
            }
        }
        let g = layer.backward(&x, &x).unwrap();
        assert_eq!(g, y);
        // SpatialDropout2D[Double](0.7) on (2, 3, 4, 5): only map (1, 3) is kept.
        let x = Array4::from_elem((2, 3, 4, 5), 1.0f64);
        let mut layer = SpatialDropout2D::new(0.7).unwrap();
        layer.set_seed(100, GeneratorKind::BigDl);
        let y = layer.forward(&x).unwrap();
        for ((n, c, _, _), &v) in y.indexed_iter() {
            assert_eq!(v, if (n, c) == (0, 2) { 1.0 } else { 0.0 });
        }
    }

    #[test]
    fn ranks_are_checked_in_both_modes_with_a_clear_message() {
        let mut layer = SpatialDropout1D::new(0.5).unwrap();
        let x = Array::from_elem(vec![2, 3, 4, 5], 1.0f32);
        let e = layer.forward(&x).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SpatialDropout1D takes input of rank 3 (N, T, C) or 2 (T, C) with format NHWC, \
             got shape (2, 3, 4, 5) (rank 4)"
        );
        layer.evaluate();
        assert!(matches!(layer.forward(&x), Err(Error::WrongRank { .. })));
        let mut layer = SpatialDropout1D::with_format(0.5, "channels_first").unwrap();
        let e = layer
            .forward(&Array::from_elem(vec![2], 1.0f32))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "SpatialDropout1D takes input of rank 3 (N, C, L) or 2 (C, L) with format NCHW, \
             got shape (2) (rank 1)"
        );
    }

    #[test]
    fn formats_parse_in_any_case() {
        assert_eq!("nChW".parse::<DataFormat>().unwrap(), DataFormat::Nchw);
        for (spelling, format) in [
            ("channels_first", DataFormat::Nchw),
            ("Channels_First", DataFormat::Nchw),
            ("channels_last", DataFormat::Nhwc),
            ("CHANNELS_LAST", DataFormat::Nhwc),
        ] {
            assert_eq!(spelling.parse::<DataFormat>().unwrap(), format);
            let layer = SpatialDropout2D::with_format(0.5, spelling).unwrap();
            assert_eq!(layer.format(), format);
        }
        let e = SpatialDropout2D::with_format(0.5, "CHWN").unwrap_err();
        assert_eq!(
            e.to_string(),
            "data_format = \"CHWN\" is unknown: accepted are \"NCHW\" (or \"channels_first\") \
             and \"NHWC\" (or \"channels_last\"), any case"
        );
    }

    #[test]
    fn channels_first_1d_is_2d_nchw_with_a_unit_width() {
        for (scale, seed, shape) in [
            (false, 3u64, vec![3usize, 5, 7]),
            (true, 11, vec![2, 70, 9]),
            (false, 5, vec![6, 4]),
        ] {
            let len: usize = shape.iter().product();
            let x = Array::from_shape_fn(len, |i| i as f32 * 0.25 + 1.0)
                .into_shape_with_order(shape.clone())
                .unwrap();
            let mut wide = shape.clone();
            wide.push(1);
            let x2 = x.clone().into_shape_with_order(wide.clone()).unwrap();
            let mut one = SpatialDropout1D::with_data_format(0.4, DataFormat::Nchw)
                .unwrap()
                .with_scale(scale);
            let mut two = SpatialDropout2D::new(0.4).unwrap().with_scale(scale);
            assert_eq!(one.format(), DataFormat::Nchw);
            one.set_seed(seed, GeneratorKind::Philox);
            two.set_seed(seed, GeneratorKind::Philox);
            let y1 = one.forward(&x).unwrap();
            let y2 = two.forward(&x2).unwrap();
            let g1 = one.backward(&x, &x).unwrap();
            let g2 = two.backward(&x2, &x2).unwrap();
            let bits = |a: &ndarray::ArrayD<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(y1.shape(), &shape[..]);
            assert_eq!(bits(&y1), bits(&y2));
            assert_eq!(bits(&g1), bits(&g2));
            // One draw per (n, c): every (n, c) row is all kept or all dropped.
            let l = shape[shape.len() - 1];
            for row in y1.as_slice().unwrap().chunks(l) {
                let dropped = row.iter().filter(|&&v| v == 0.0).count();
                assert!(dropped == 0 || dropped == l, "{row:?}");
            }
        }
    }

    #[test]
    fn channels_last_1d_is_unchanged_by_the_format_option() {
        let x = Array3::from_shape_fn((3, 4, 5), |(n, t, c)| (n * 20 + t * 5 + c + 1) as f64);
        let mut a = SpatialDropout1D::new(0.6).unwrap();
        let mut b = SpatialDropout1D::with_format(0.6, "NHWC").unwrap();
        let mut c = SpatialDropout1D::with_format(0.6, "channels_last").unwrap();
        for layer in [&mut a, &mut b, &mut c] {
            assert_eq!(layer.format(), DataFormat::Nhwc);
            layer.set_seed(9, GeneratorKind::Philox);
        }
        let ya = a.forward(&x).unwrap();
        assert_eq!(ya, b.forward(&x).unwrap());
        assert_eq!(ya, c.forward(&x).unwrap());
        // The (N, T, C) mask is shared along T.
        for n in 0..3 {
            for ch in 0..5 {
                let kept = ya[[n, 0, ch]] != 0.0;
                for t in 0..4 {
                    assert_eq!(ya[[n, t, ch]] != 0.0, kept);
                }
            }
        }
    }

    #[test]
    fn memory_order_layouts_keep_the_mask_numbering() {
        use crate::layers::common::LayerImpl;
        let nchw = SpatialDropout2D::new(0.5).unwrap();
        // (N, C, H, W) held as (N, H, W, C): channels last in memory.
        let at = nchw
            .memory_mask_layout(&[2, 3, 4, 5], &[0, 2, 3, 1])
            .unwrap();
        assert_eq!(at.len, 6);
        assert_eq!(
            at.map,
            MaskMap::ChannelsLast {
                channels: 3,
                inner: 20
            }
        );
        // Spatial axes swapped: still channels first.
        let at = nchw
            .memory_mask_layout(&[2, 3, 4, 5], &[0, 1, 3, 2])
            .unwrap();
        assert_eq!(at.map, MaskMap::ChannelsFirst { inner: 20 });
        // The batch axis not outermost, or the channel axis in the middle: no flat pass.
        assert!(nchw
            .memory_mask_layout(&[2, 3, 4, 5], &[1, 0, 2, 3])
            .is_none());
        assert!(nchw
            .memory_mask_layout(&[2, 3, 4, 5], &[0, 2, 1, 3])
            .is_none());
        let nhwc = SpatialDropout1D::new(0.5).unwrap();
        let at = nhwc.memory_mask_layout(&[4, 7], &[1, 0]).unwrap();
        assert_eq!(at.map, MaskMap::ChannelsFirst { inner: 4 });
        assert!(Dropout::new(0.5)
            .unwrap()
            .memory_mask_layout(&[4, 7], &[1, 0])
            .is_none());
    }

    #[test]
    fn scale_option_gives_inverted_dropout() {
        let x = Array4::from_elem((2, 3, 2, 2), 1.0f32);
        let mut layer = SpatialDropout2D::new(0.5).unwrap().with_scale(true);
        let y = layer.forward(&x).unwrap();
        assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
        layer.evaluate();
        assert_eq!(layer.forward(&x).unwrap(), x);
        let mut layer = SpatialDropout2D::new(0.5).unwrap();
        layer.evaluate();
        assert_eq!(layer.forward(&x).unwrap(), x.mapv(|v| v * 0.5));
    }
}

/// The options of a Spatial layer, in the order of its constructor's arguments.
macro_rules! format_options {
    ($($name:ident),*) => {$(
        impl LayerOptions for $name {
            fn options(&self) -> Vec<(&'static str, OptionValue)> {
                vec![
                    ("init_p", OptionValue::Float(self.inner.p)),
                    ("data_format", OptionValue::Str(self.inner.format.name())),
                    ("scale", OptionValue::Bool(self.inner.scale)),
                    ("inplace", OptionValue::Bool(self.inner.core.inplace)),
                ]
            }
        }
    )*};
}

format_options!(SpatialDropout1D, SpatialDropout2D, SpatialDropout3D);
