//! AlphaDropout and FeatureAlphaDropout (Klambauer et al., "Self-Normalizing Neural
//! Networks", NeurIPS 2017), with PyTorch's and Keras's arithmetic: dropout for SELU
//! networks that keeps a standard-normal input's mean 0 and variance 1.
//!
//! With `alpha' = -1.7580993408473766` (SELU's `-lambda * alpha`), drop probability `p`,
//! `a = ((1 - p)(1 + p alpha'^2))^(-1/2)` and `b = -a alpha' p`, computed in `f64` and each
//! rounded to the element type once:
//!
//! - training forward: `a (x m + alpha' (1 - m)) + b`, i.e. a kept element becomes
//!   `T(a) * x + T(b)` (the product rounded, then the sum: never a fused multiply-add, so the
//!   CPU paths and the CUDA kernels agree bit for bit) and a dropped one is set to
//!   `T(a alpha' + b)` (set, not computed: NaN and Inf inputs give it too);
//! - training backward: `g * T(a)` where kept, `0` where dropped, with the forward's mask;
//! - evaluation: the identity, forward and backward.
//!
//! `p = 0` is the identity. At `p = 1` the formula's `a` is infinite; PyTorch's
//! `alpha_dropout` returns `x * 0` there, and dropkit returns exactly `0` (set, so NaN and Inf
//! inputs give `0` too) with a zero gradient. `p` outside `[0, 1]` or NaN is an error.
//!
//! AlphaDropout draws one keep per element; FeatureAlphaDropout one per `(sample, channel)`,
//! as PyTorch's `feature_alpha_dropout`: the input has rank 2 or more, `(N, C, ...)`
//! channels first (the default), or `(N, ..., C)` channels last. Its mask is the Spatial
//! layers' `(N, C)` mask, so for the same seed, draw and `p` it keeps the same channels as
//! a SpatialDropout layer of that input.

use crate::backend::Backend;
use crate::error::{check_probability, Error, Result};
use crate::layers::common::{apply_saved, LayerCore, LayerImpl, Saved};
use crate::layers::common::{LayerOptions, OptionValue};
use crate::layers::spatial_dropout::{channel_mask_layout, channel_memory_layout};
use crate::layers::DataFormat;
use crate::ops::{alpha_backward_kept, alpha_forward_kept, MaskLayout};

/// Element-wise alpha dropout for SELU networks.
///
/// # Example
/// ```
/// use dropkit::{AlphaDropout, Module};
/// let mut layer = AlphaDropout::new(0.2)?;
/// let x = ndarray::Array::from_elem((4, 8), 1.0f64);
/// let y = layer.forward(&x)?;
/// // Every element is kept (a * x + b) or dropped (a * alpha' + b).
/// let (a, b, dropped) = AlphaDropout::coefficients(0.2).unwrap();
/// assert!(y.iter().all(|&v| v == a * 1.0 + b || v == dropped));
/// layer.evaluate();
/// assert_eq!(layer.forward(&x)?, x);
/// # Ok::<(), dropkit::Error>(())
/// ```
///
/// # Errors
/// `p` outside `[0, 1]` or NaN ([`crate::Error::InvalidProbability`]).
///
/// # Shapes
/// Any rank; the output has the input's shape.
///
/// # Reproducibility
/// The mask is Dropout's: with Philox, element `i` (row-major) of draw `d` is kept iff word
/// `i % 4` of `philox((i / 4, d), seed) >= round(p * 2^32)`.
#[derive(Clone, Debug)]
pub struct AlphaDropout {
    p: f64,
    core: LayerCore,
}

impl AlphaDropout {
    /// `AlphaDropout(p)` (PyTorch's default is `p = 0.5`).
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN.
    pub fn new(p: f64) -> Result<Self> {
        Ok(AlphaDropout {
            p: check_probability("p", p, true)?,
            core: LayerCore::new("AlphaDropout"),
        })
    }

    /// `(a, b, a alpha' + b)` at `p` in `f64`: the kept factor and offset and the dropped
    /// value; `None` at `p = 0` and `p = 1` (identity and all zero) and outside `(0, 1)`.
    pub fn coefficients(p: f64) -> Option<(f64, f64, f64)> {
        crate::ops::alpha_coefficients(p).map(|(a, b)| (a, b, a * crate::ops::ALPHA_PRIME + b))
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Sets the drop probability used from the next forward.
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN; `p` is then unchanged.
    pub fn set_p(&mut self, p: f64) -> Result<&mut Self> {
        self.p = check_probability("p", p, true)?;
        Ok(self)
    }

    /// Whether the layer was built with `inplace = true`.
    pub fn inplace(&self) -> bool {
        self.core.inplace
    }
}

impl LayerImpl for AlphaDropout {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn core_mut(&mut self) -> &mut LayerCore {
        &mut self.core
    }

    fn recorded_p(&self) -> f64 {
        self.p
    }

    /// One fused pass: draws the mask, keeps its bits for backward.
    fn train_forward<B: Backend>(&mut self, shape: &[usize], _: MaskLayout, io: B) -> Result<()> {
        let p = self.p;
        let (bits, draw) = self
            .core
            .draw_on::<B, _>(|r| io.dropout(r, p, alpha_forward_kept(p), true))?;
        self.core.record_train(shape, p, draw, bits);
        Ok(())
    }

    fn train_backward<B: Backend>(&self, saved: &Saved, at: MaskLayout, io: B) -> Result<()> {
        apply_saved(io, saved, at, alpha_backward_kept(saved.p))
    }
}

impl LayerOptions for AlphaDropout {
    fn options(&self) -> Vec<(&'static str, OptionValue)> {
        vec![
            ("p", OptionValue::Float(self.p)),
            ("inplace", OptionValue::Bool(self.core.inplace)),
        ]
    }
}

/// Alpha dropout of whole channels: one keep per `(sample, channel)` of an input of rank 2 or
/// more (PyTorch's `FeatureAlphaDropout`).
///
/// # Example
/// ```
/// use dropkit::{FeatureAlphaDropout, Module};
/// let mut layer = FeatureAlphaDropout::new(0.5)?;
/// let x = ndarray::Array::from_elem((2, 3, 4, 4), 1.0f32);
/// let y = layer.forward(&x)?;
/// for n in 0..2 {
///     for c in 0..3 {
///         let v = y[[n, c, 0, 0]];
///         assert!(y.slice(ndarray::s![n, c, .., ..]).iter().all(|&w| w == v)); // one draw
///     }
/// }
/// # Ok::<(), dropkit::Error>(())
/// ```
///
/// # Errors
/// `p` outside `[0, 1]` or NaN; an unknown format; an input of rank below 2
/// ([`Error::WrongRank`]).
///
/// # Shapes
/// `(N, C, ...)` with [`DataFormat::Nchw`] (`"channels_first"`, the default), `(N, ..., C)`
/// with [`DataFormat::Nhwc`] (`"channels_last"`); rank 2 or more. The mask is `(N, C)`.
///
/// # Reproducibility
/// Mask element `n * C + c` is a Philox element index, as for the Spatial layers: the same
/// bits as `SpatialDropout2D(p)` (or 1D, 3D, of the same format) for the same seed and draw.
#[derive(Clone, Debug)]
pub struct FeatureAlphaDropout {
    p: f64,
    format: DataFormat,
    core: LayerCore,
}

impl FeatureAlphaDropout {
    /// `FeatureAlphaDropout(p)`, channels first.
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN.
    pub fn new(p: f64) -> Result<Self> {
        Self::with_data_format(p, DataFormat::Nchw)
    }

    /// `FeatureAlphaDropout(p, data_format)` with the format as a string: `"channels_first"`
    /// / `"NCHW"` or `"channels_last"` / `"NHWC"`, any case.
    ///
    /// # Errors
    /// `p` outside `[0, 1]`; another format name.
    pub fn with_format(p: f64, format: &str) -> Result<Self> {
        Self::with_data_format(p, format.parse()?)
    }

    /// `FeatureAlphaDropout(p, format)`.
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN.
    pub fn with_data_format(p: f64, format: DataFormat) -> Result<Self> {
        Ok(FeatureAlphaDropout {
            p: check_probability("p", p, true)?,
            format,
            core: LayerCore::new("FeatureAlphaDropout"),
        })
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Sets the drop probability used from the next forward.
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN; `p` is then unchanged.
    pub fn set_p(&mut self, p: f64) -> Result<&mut Self> {
        self.p = check_probability("p", p, true)?;
        Ok(self)
    }

    /// The channel position.
    pub fn format(&self) -> DataFormat {
        self.format
    }

    /// Whether the layer was built with `inplace = true`.
    pub fn inplace(&self) -> bool {
        self.core.inplace
    }
}

impl LayerImpl for FeatureAlphaDropout {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn core_mut(&mut self) -> &mut LayerCore {
        &mut self.core
    }

    fn recorded_p(&self) -> f64 {
        self.p
    }

    fn mask_layout(&self, argument: &'static str, shape: &[usize]) -> Result<MaskLayout> {
        if shape.len() < 2 {
            let accepted = match self.format {
                DataFormat::Nchw => "2 or more (N, C, ...) with format NCHW",
                DataFormat::Nhwc => "2 or more (N, ..., C) with format NHWC",
            };
            return Err(Error::WrongRank {
                layer: self.core.name,
                accepted,
                shape: shape.to_vec(),
            });
        }
        channel_mask_layout(self.core.name, argument, shape, true, self.format)
    }

    fn memory_mask_layout(&self, shape: &[usize], perm: &[usize]) -> Option<MaskLayout> {
        let logical = self.mask_layout("input", shape).ok()?;
        channel_memory_layout(logical, shape, perm, true, self.format)
    }

    /// One keep draw per (sample, channel), applied to its whole feature map.
    fn train_forward<B: Backend>(&mut self, shape: &[usize], at: MaskLayout, io: B) -> Result<()> {
        let p = self.p;
        let (bits, draw) = self.core.draw_on::<B, _>(|r| io.keep_bits(r, at.len, p))?;
        io.apply_mask(&bits, at.map, alpha_forward_kept(p))?;
        self.core.record_train(shape, p, draw, Some(bits));
        Ok(())
    }

    fn train_backward<B: Backend>(&self, saved: &Saved, at: MaskLayout, io: B) -> Result<()> {
        apply_saved(io, saved, at, alpha_backward_kept(saved.p))
    }
}

impl LayerOptions for FeatureAlphaDropout {
    fn options(&self) -> Vec<(&'static str, OptionValue)> {
        vec![
            ("p", OptionValue::Float(self.p)),
            ("data_format", OptionValue::Str(self.format.name())),
            ("inplace", OptionValue::Bool(self.core.inplace)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GeneratorKind, Module, SpatialDropout2D};
    use ndarray::{Array, Array2, Array4};

    fn seeded<L: Module>(mut layer: L) -> L {
        layer.set_seed(42, GeneratorKind::Philox);
        layer
    }

    #[test]
    fn kept_is_a_x_plus_b_and_dropped_is_the_constant_in_each_type() {
        let x = Array2::from_shape_fn((16, 16), |(i, j)| (i * 16 + j) as f64 * 0.1 - 12.0);
        let p = 0.3;
        let (a, b, dropped) = AlphaDropout::coefficients(p).unwrap();
        let mut layer = seeded(AlphaDropout::new(p).unwrap());
        let y = layer.forward(&x).unwrap();
        let g = layer.backward(&x, &x).unwrap();
        let mut kept = 0;
        for ((&x, &y), &g) in x.iter().zip(&y).zip(&g) {
            if g == 0.0 && x != 0.0 {
                assert_eq!(y, dropped);
            } else {
                kept += 1;
                assert_eq!(y, x * a + b);
                assert_eq!(g, x * a);
            }
        }
        assert!(kept > 100 && kept < 256, "{kept}");
        let x32 = x.mapv(|v| v as f32);
        let y32 = seeded(AlphaDropout::new(p).unwrap()).forward(&x32).unwrap();
        let (a32, b32, d32) = (a as f32, b as f32, dropped as f32);
        for ((&x, &y), &y64) in x32.iter().zip(&y32).zip(&y) {
            let want = if y64 == dropped { d32 } else { x * a32 + b32 };
            assert_eq!(y.to_bits(), want.to_bits());
        }
    }

    #[test]
    fn coefficients_match_the_selu_fixed_point() {
        // For x ~ N(0, 1), a (x m + alpha' (1 - m)) + b has mean 0 and variance 1:
        // E = a ((1 - p) * 0 + p alpha') + b = 0 and
        // Var = a^2 ((1 - p) + p (1 - p) alpha'^2) = 1.
        for p in [0.05, 0.2, 0.5, 0.9] {
            let (a, b, _) = AlphaDropout::coefficients(p).unwrap();
            let alpha = crate::ops::ALPHA_PRIME;
            assert!((a * p * alpha + b).abs() < 1e-12);
            let var = a * a * ((1.0 - p) + p * (1.0 - p) * alpha * alpha);
            assert!((var - 1.0).abs() < 1e-12, "{p}: {var}");
        }
        assert_eq!(AlphaDropout::coefficients(0.0), None);
        assert_eq!(AlphaDropout::coefficients(1.0), None);
    }

    #[test]
    fn nan_and_inf_are_dropped_to_the_constant() {
        let x = Array2::from_elem((8, 8), f64::NAN);
        let (_, _, dropped) = AlphaDropout::coefficients(0.5).unwrap();
        let y = seeded(AlphaDropout::new(0.5).unwrap()).forward(&x).unwrap();
        let n = y.iter().filter(|v| **v == dropped).count();
        assert!(n > 0 && n < 64);
        assert!(y.iter().all(|v| *v == dropped || v.is_nan()));
    }

    #[test]
    fn p_zero_is_identity_and_p_one_is_zero_with_zero_gradient() {
        let x = ndarray::array![[1.0f32, -0.0], [f32::INFINITY, f32::NAN]];
        let mut layer = seeded(AlphaDropout::new(0.0).unwrap());
        let y = layer.forward(&x).unwrap();
        assert!(y.iter().zip(&x).all(|(a, b)| a.to_bits() == b.to_bits()));
        let g = layer.backward(&x, &x).unwrap();
        assert!(g.iter().zip(&x).all(|(a, b)| a.to_bits() == b.to_bits()));
        let x4 = Array4::from_elem((2, 2, 1, 1), f32::NAN);
        for kind in [GeneratorKind::Philox, GeneratorKind::BigDl] {
            let mut a = AlphaDropout::new(1.0).unwrap();
            a.set_seed(1, kind);
            let mut f = FeatureAlphaDropout::new(1.0).unwrap();
            f.set_seed(1, kind);
            let ya = a.forward(&x).unwrap();
            let ga = a.backward(&x, &x).unwrap();
            let yf = f.forward(&x4).unwrap();
            let gf = f.backward(&x4, &x4).unwrap();
            for v in ya.iter().chain(&ga).chain(&yf).chain(&gf) {
                assert_eq!(v.to_bits(), 0, "{kind:?}");
            }
        }
    }

    #[test]
    fn evaluation_is_the_identity_both_ways() {
        let x = Array::from_shape_fn((3, 4, 5), |(i, j, k)| (i + j * k) as f32 - 3.5);
        let mut a = AlphaDropout::new(0.4).unwrap();
        a.evaluate();
        assert_eq!(a.forward(&x).unwrap(), x);
        assert_eq!(a.backward(&x, &x).unwrap(), x);
        let mut f = FeatureAlphaDropout::new(0.4).unwrap();
        f.evaluate();
        assert_eq!(f.forward(&x).unwrap(), x);
        assert_eq!(f.backward(&x, &x).unwrap(), x);
    }

    #[test]
    fn feature_mask_is_spatial_dropouts_for_both_formats() {
        let x = Array4::from_shape_fn((3, 5, 4, 6), |(n, c, h, w)| {
            (n * 97 + c * 31 + h * 7 + w) as f32 * 0.01 + 0.5
        });
        for (format, spatial_format) in [("channels_first", "NCHW"), ("channels_last", "NHWC")] {
            let p = 0.45;
            let mut f = seeded(FeatureAlphaDropout::with_format(p, format).unwrap());
            let mut s = seeded(
                SpatialDropout2D::with_format(p, spatial_format)
                    .unwrap()
                    .with_scale(true),
            );
            let yf = f.forward(&x).unwrap();
            let ys = s.forward(&x).unwrap();
            let (_, _, dropped) = AlphaDropout::coefficients(p).unwrap();
            for (&a, &b) in yf.iter().zip(&ys) {
                assert_eq!(a == dropped as f32, b == 0.0, "{format}");
            }
            assert!(ys.iter().any(|&v| v == 0.0) && ys.iter().any(|&v| v != 0.0));
            let gf = f.backward(&x, &x).unwrap();
            let gs = s.backward(&x, &x).unwrap();
            for (&a, &b) in gf.iter().zip(&gs) {
                assert_eq!(a == 0.0, b == 0.0);
            }
        }
    }

    #[test]
    fn errors_name_p_and_the_rank() {
        for p in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(
                AlphaDropout::new(p),
                Err(Error::InvalidProbability { param: "p", .. })
            ));
            assert!(matches!(
                FeatureAlphaDropout::new(p),
                Err(Error::InvalidProbability { param: "p", .. })
            ));
        }
        let mut a = AlphaDropout::new(0.5).unwrap();
        assert!(a.set_p(2.0).is_err());
        assert_eq!(a.p(), 0.5);
        assert!(matches!(
            FeatureAlphaDropout::with_format(0.5, "NWHC"),
            Err(Error::UnknownDataFormat { .. })
        ));
        let mut f = FeatureAlphaDropout::new(0.5).unwrap();
        let e = f.forward(&ndarray::array![1.0f32, 2.0]).unwrap_err();
        assert!(matches!(
            e,
            Error::WrongRank {
                layer: "FeatureAlphaDropout",
                ..
            }
        ));
        f.evaluate();
        assert!(f.forward(&ndarray::array![1.0f32, 2.0]).is_err());
    }
}
