//! Dropout (Hinton et al., "Improving neural networks by preventing co-adaptation of feature
//! detectors", 2012; Srivastava et al., JMLR 2014), with BigDL's arithmetic:
//!
//! - training forward: a kept element becomes `x / T(1 - p)` (or `x` without `scale`), a
//!   dropped one exactly `0` (set, not multiplied: NaN and Inf inputs give 0 too);
//! - training backward: `g * T(1 / (1 - p))` (or `g`) where kept, `0` where dropped, with the
//!   forward's mask;
//! - evaluation: identity with `scale`, `x * T(1 - p)` without; backward likewise (BigDL
//!   throws there; dropkit returns the gradient of the evaluation forward).
//!
//! With a `noise_shape` (Keras's), the mask is drawn over that shape (an entry `None` takes
//! the input's size, every entry is 1 or the input's size), numbered row-major over it, and
//! broadcast: `noise_shape = (N, C, 1, 1)` draws the bits of `SpatialDropout2D` (NCHW) with
//! the same seed and draw.

use crate::backend::Backend;
use crate::error::{check_probability, Result};
use crate::layers::common::{apply_saved, LayerCore, LayerImpl, Saved};
use crate::layers::common::{LayerOptions, OptionValue};
use crate::mask::MaskStorage;
use crate::ops::{
    backward_kept, broadcast_layout, check_noise_shape, element_count, eval_factor, forward_kept,
    MaskLayout, MaskMap,
};
use crate::Element;

/// Element-wise Dropout.
///
/// # Example
/// ```
/// use dropkit::{Dropout, Module};
/// use ndarray::array;
/// let mut layer = Dropout::new(0.5)?;
/// let x = array![[1.0f32, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]];
/// let y = layer.forward(&x)?;
/// // Every element is dropped (0) or kept and scaled by 1 / (1 - p) = 2.
/// assert!(y.iter().zip(&x).all(|(&y, &x)| y == 0.0 || y == 2.0 * x));
/// let g = layer.backward(&x, &x.mapv(|v| v * 0.5))?;
/// assert!(g.iter().zip(&y).all(|(&g, &y)| (g == 0.0) == (y == 0.0)));
/// layer.evaluate();
/// assert_eq!(layer.forward(&x)?, x);
/// # Ok::<(), dropkit::Error>(())
/// ```
///
/// # Errors
/// `init_p` outside `[0, 1]` or NaN ([`crate::Error::InvalidProbability`]).
///
/// # Shapes
/// Any rank; the output has the input's shape. With a noise shape, the input's rank must be
/// the noise shape's and each resolved entry 1 or the input's size
/// ([`crate::Error::ShapeMismatch`] naming `noise_shape`).
///
/// # Reproducibility
/// With Philox, element `i` (row-major) of draw `d` is kept iff word `i % 4` of
/// `philox((i / 4, d), seed) >= round(p * 2^32)`: the same for any layout and thread count.
/// With a noise shape, `i` is the element's index row-major over the resolved noise shape.
#[derive(Clone, Debug)]
pub struct Dropout {
    p: f64,
    scale: bool,
    noise_shape: Option<Vec<Option<usize>>>,
    resample: bool,
    storage: MaskStorage,
    core: LayerCore,
}

impl Dropout {
    /// `Dropout(init_p)` with BigDL's defaults `inplace = false`, `scale = true`.
    ///
    /// # Errors
    /// `init_p` outside `[0, 1]` or NaN.
    pub fn new(init_p: f64) -> Result<Self> {
        Self::with_options(init_p, false, true)
    }

    /// `Dropout(init_p, inplace, scale)`. `inplace` is a flag for callers that own their
    /// buffers (the Python package): in Rust, in-place is [`crate::Module::forward_inplace`].
    ///
    /// # Errors
    /// `init_p` outside `[0, 1]` or NaN.
    pub fn with_options(init_p: f64, inplace: bool, scale: bool) -> Result<Self> {
        let mut core = LayerCore::new("Dropout");
        core.inplace = inplace;
        Ok(Dropout {
            p: check_probability("init_p", init_p, true)?,
            scale,
            noise_shape: None,
            resample: true,
            storage: MaskStorage::default(),
            core,
        })
    }

    /// Chooses what is kept for backward: bits (default) or nothing but the draw.
    pub fn with_mask_storage(mut self, storage: MaskStorage) -> Self {
        self.storage = storage;
        self
    }

    /// Draws the mask over `noise_shape` and broadcasts it (Keras's `noise_shape`): an entry
    /// `None` takes the input's size on that axis, `Some(1)` shares one draw along it. Kept
    /// for backward: 1 bit per element of the resolved noise shape.
    ///
    /// # Errors
    /// [`crate::Error::InvalidNoiseShape`] for an entry of 0.
    pub fn with_noise_shape(mut self, noise_shape: &[Option<usize>]) -> Result<Self> {
        self.noise_shape = Some(check_noise_shape(noise_shape)?);
        Ok(self)
    }

    /// The noise shape, if the layer has one.
    pub fn noise_shape(&self) -> Option<&[Option<usize>]> {
        self.noise_shape.as_deref()
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Sets the drop probability used from the next forward (BigDL's `setP`).
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN; `p` is then unchanged.
    pub fn set_p(&mut self, p: f64) -> Result<&mut Self> {
        self.p = check_probability("p", p, true)?;
        Ok(self)
    }

    /// Whether forward resamples the mask (BigDL's `isResampling`, default true).
    pub fn is_resampling(&self) -> bool {
        self.resample
    }

    /// With `false`, a training forward reuses the last training forward's mask (and its
    /// `p`) when the shape is the same; a new shape draws a new mask.
    pub fn set_resampling(&mut self, resample: bool) -> &mut Self {
        self.resample = resample;
        self
    }

    /// Whether kept elements are scaled by `1 / (1 - p)` in training.
    pub fn scale(&self) -> bool {
        self.scale
    }

    /// Whether the layer was built with `inplace = true`.
    pub fn inplace(&self) -> bool {
        self.core.inplace
    }

    /// What is kept for backward.
    pub fn mask_storage(&self) -> MaskStorage {
        self.storage
    }
}

impl LayerImpl for Dropout {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn core_mut(&mut self) -> &mut LayerCore {
        &mut self.core
    }

    fn recorded_p(&self) -> f64 {
        self.p
    }

    fn eval_factor<T: Element>(&self, p: f64) -> Option<T::Compute> {
        eval_factor(self.scale, p)
    }

    fn mask_layout(&self, argument: &'static str, shape: &[usize]) -> Result<MaskLayout> {
        match &self.noise_shape {
            Some(noise) => broadcast_layout(self.core.name, argument, shape, noise),
            None => Ok(MaskLayout {
                len: element_count(self.core.name, argument, shape)?,
                map: MaskMap::Elementwise,
            }),
        }
    }

    fn train_forward<B: Backend>(&mut self, shape: &[usize], at: MaskLayout, io: B) -> Result<()> {
        if !self.resample {
            if let Some(saved) = self.core.saved_for(shape) {
                apply_saved(io, saved, at, forward_kept(self.scale, saved.p))?;
                // The same draw again (its mask stays where it is).
                self.core.record_reuse();
                return Ok(());
            }
        }
        let p = self.p;
        let kept = forward_kept(self.scale, p);
        let store = self.storage == MaskStorage::Bits;
        if at.map != MaskMap::Elementwise {
            // A noise shape: the mask over it (1 bit per noise-shape element), broadcast.
            let (bits, draw) = self.core.draw_on::<B, _>(|r| io.keep_bits(r, at.len, p))?;
            io.apply_mask(&bits, at.map, kept)?;
            self.core
                .record_train(shape, p, draw, store.then_some(bits));
            return Ok(());
        }
        let (bits, draw) = self
            .core
            .draw_on::<B, _>(|r| io.dropout(r, p, kept, store))?;
        self.core.record_train(shape, p, draw, bits);
        Ok(())
    }

    fn train_backward<B: Backend>(&self, saved: &Saved, at: MaskLayout, io: B) -> Result<()> {
        apply_saved(io, saved, at, backward_kept(self.scale, saved.p))
    }
}

impl LayerOptions for Dropout {
    fn options(&self) -> Vec<(&'static str, OptionValue)> {
        vec![
            ("init_p", OptionValue::Float(self.p)),
            ("inplace", OptionValue::Bool(self.core.inplace)),
            ("scale", OptionValue::Bool(self.scale)),
            ("noise_shape", OptionValue::Shape(self.noise_shape.clone())),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, GeneratorKind, Module};
    use ndarray::{array, Array2};

    fn seeded(p: f64) -> Dropout {
        let mut d = Dropout::new(p).unwrap();
        d.set_seed(42, GeneratorKind::Philox);
        d
    }

    #[test]
    fn kept_elements_are_divided_and_dropped_are_zero() {
        let x = Array2::from_shape_fn((16, 16), |(i, j)| (i * 16 + j) as f32 + 0.5);
        let mut d = seeded(0.3);
        let y = d.forward(&x).unwrap();
        for (&a, &b) in x.iter().zip(&y) {
            assert!(b == 0.0 || b == a / ((1.0 - 0.3f64) as f32), "{a} -> {b}");
        }
        let g = d.backward(&x, &x).unwrap();
        for ((&a, &b), &gy) in x.iter().zip(&y).zip(&g) {
            let want = if b == 0.0 {
                0.0
            } else {
                a * (1.0 / (1.0 - 0.3f64)) as f32
            };
            assert_eq!(gy, want);
        }
    }

    #[test]
    fn nan_and_inf_are_dropped_to_exact_zero() {
        let x = Array2::from_elem((8, 8), f64::NAN);
        let mut d = seeded(0.5);
        let y = d.forward(&x).unwrap();
        let dropped = y.iter().filter(|v| **v == 0.0).count();
        assert!(dropped > 0 && dropped < 64);
        assert!(y.iter().all(|v| *v == 0.0 || v.is_nan()));
        let x = Array2::from_elem((8, 8), f32::NEG_INFINITY);
        let y = seeded(0.5).forward(&x).unwrap();
        assert!(y
            .iter()
            .all(|v| (*v == 0.0 && v.is_sign_positive()) || *v == f32::NEG_INFINITY));
    }

    #[test]
    fn p_zero_is_identity_and_p_one_is_zero_with_zero_gradient() {
        let x = array![[1.0f32, -2.0], [f32::INFINITY, 4.0]];
        let mut d = seeded(0.0);
        assert_eq!(d.forward(&x).unwrap(), x);
        assert_eq!(d.backward(&x, &x).unwrap(), x);
        for kind in [GeneratorKind::Philox, GeneratorKind::BigDl] {
            let mut d = Dropout::new(1.0).unwrap();
            d.set_seed(1, kind);
            let y = d.forward(&x).unwrap();
            assert!(y.iter().all(|v| *v == 0.0), "{kind:?}");
            let g = d.backward(&x, &x).unwrap();
            assert!(g.iter().all(|v| *v == 0.0), "{kind:?}");
        }
    }

    #[test]
    fn evaluation_without_scale_multiplies_by_keep_probability() {
        let x = array![1.0f32, 2.0, 3.0];
        let mut d = Dropout::with_options(0.25, false, false).unwrap();
        d.evaluate();
        assert_eq!(d.forward(&x).unwrap(), x.mapv(|v| v * 0.75));
        assert_eq!(d.backward(&x, &x).unwrap(), x.mapv(|v| v * 0.75));
        let mut d = Dropout::new(0.25).unwrap();
        d.evaluate();
        assert_eq!(d.forward(&x).unwrap(), x);
        assert_eq!(d.backward(&x, &x).unwrap(), x);
    }

    #[test]
    fn set_p_applies_from_the_next_forward_and_backward_keeps_the_forward_p() {
        let x = Array2::from_elem((32, 32), 1.0f32);
        let mut d = seeded(0.5);
        let y = d.forward(&x).unwrap();
        d.set_p(0.9).unwrap();
        let g = d.backward(&x, &x).unwrap();
        assert!(
            g.iter().zip(&y).all(|(&g, &y)| g == y),
            "backward uses the forward's p and mask"
        );
        assert_eq!(d.p(), 0.9);
        assert!(matches!(
            d.set_p(-0.1),
            Err(Error::InvalidProbability { param: "p", .. })
        ));
        assert_eq!(d.p(), 0.9);
    }

    #[test]
    fn without_resampling_the_mask_is_reused() {
        let x = Array2::from_elem((8, 8), 1.0f32);
        let mut d = seeded(0.5);
        d.set_resampling(false);
        let a = d.forward(&x).unwrap();
        let b = d.forward(&x).unwrap();
        assert_eq!(a, b);
        d.set_resampling(true);
        let c = d.forward(&x).unwrap();
        assert_ne!(a, c);
    }
}
