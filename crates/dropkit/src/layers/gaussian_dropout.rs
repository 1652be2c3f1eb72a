//! GaussianDropout (Srivastava et al., "Dropout: a simple way to prevent neural networks
//! from overfitting", JMLR 2014, section 10): multiplicative 1-centred Gaussian noise.
//!
//! - training forward: `x * n`, `n ~ N(1, rate / (1 - rate))` per element (can be < 0);
//! - training backward: `g * n` with the SAME `n` (BigDL draws fresh noise, which is not the
//!   gradient); the noise is regenerated from the draw, not stored;
//! - evaluation: identity, forward and backward (BigDL throws in backward);
//! - `rate = 0` is the identity (BigDL accepts it, then fails at the first forward).
//!
//! The noise is regenerated from the draw in backward (no memory kept); with
//! [`GaussianDropout::with_stored_noise`] it is kept instead (one element per input element),
//! which makes backward a plain multiplication. Both give the same bits.

use std::any::Any;
use std::sync::Arc;

use crate::backend::{Backend, Compute};
use crate::error::{check_probability, Result};
use crate::layers::common::{LayerCore, LayerImpl, Saved};
use crate::layers::common::{LayerOptions, OptionValue};
use crate::ops::{broadcast_layout, check_noise_shape, element_count, MaskLayout, MaskMap, Noise};

/// Multiplicative Gaussian noise, active in training only.
///
/// # Example
/// ```
/// use dropkit::{GaussianDropout, Module};
/// let mut layer = GaussianDropout::new(0.5)?;
/// let x = ndarray::Array::from_elem((2, 3), 1.0f32);
/// let y = layer.forward(&x)?;
/// let g = layer.backward(&x, &x)?;
/// assert_eq!(y, g); // the same noise multiplies the gradient
/// layer.evaluate();
/// assert_eq!(layer.forward(&x)?, x);
/// # Ok::<(), dropkit::Error>(())
/// ```
///
/// # Errors
/// `rate` outside `[0, 1)` or NaN.
///
/// # Shapes
/// Any rank; the output has the input's shape.
///
/// # Reproducibility
/// Philox: element `i` takes normal `i % 4` of block `i / 4` (see [`crate::rng::normal`]),
/// and the noise is `T(1) + T(stddev) * T(n)`. BigDL stream: `T(normal(1, stddev))`, row-major.
#[derive(Clone, Debug)]
pub struct GaussianDropout {
    rate: f64,
    stddev: f64,
    store_noise: bool,
    stored: Option<StoredNoise>,
    noise_shape: Option<Vec<Option<usize>>>,
    core: LayerCore,
}

/// The noise of the last training forward, kept when the user asks.
#[derive(Clone)]
struct StoredNoise {
    /// The draw it came from (a later forward, on any device, has another).
    draw: (bool, u64, u64, Option<u64>),
    /// A `Vec` of the forward's compute type (`f32` for a half-precision forward).
    values: Arc<dyn Any + Send + Sync>,
    bytes: usize,
}

impl std::fmt::Debug for StoredNoise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredNoise")
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl GaussianDropout {
    /// `GaussianDropout(rate)`: noise standard deviation `sqrt(rate / (1 - rate))`.
    ///
    /// # Errors
    /// `rate` outside `[0, 1)` or NaN.
    pub fn new(rate: f64) -> Result<Self> {
        let rate = check_probability("rate", rate, false)?;
        Ok(GaussianDropout {
            rate,
            stddev: (rate / (1.0 - rate)).sqrt(),
            store_noise: false,
            stored: None,
            noise_shape: None,
            core: LayerCore::new("GaussianDropout"),
        })
    }

    /// With `true`, each training forward keeps its noise (one element per input element,
    /// `n * size_of::<T>()` bytes) and backward multiplies by it instead of regenerating it
    /// from the draw: more memory, a memory-bound backward. The default is `false`.
    pub fn with_stored_noise(mut self, store: bool) -> Self {
        self.store_noise = store;
        self
    }

    /// Whether training forwards keep their noise.
    pub fn stores_noise(&self) -> bool {
        self.store_noise
    }

    /// Draws the noise over `noise_shape` and broadcasts it (Keras's `noise_shape`, as
    /// [`crate::Dropout::with_noise_shape`]): the noise value of noise-shape element `i` is
    /// the one the layer without a noise shape draws for element `i`; backward multiplies by
    /// the same values (regenerated: a layer with a noise shape keeps no noise). On the CPU
    /// and on CUDA devices.
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

    /// The drop rate.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The noise's standard deviation, `sqrt(rate / (1 - rate))`.
    pub fn stddev(&self) -> f64 {
        self.stddev
    }
}

impl LayerImpl for GaussianDropout {
    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn core_mut(&mut self) -> &mut LayerCore {
        &mut self.core
    }

    fn recorded_p(&self) -> f64 {
        self.rate
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
        if at.map != MaskMap::Elementwise {
            // A noise shape: the noise over it, broadcast; backward regenerates it.
            let noise = Noise::multiplicative(self.stddev);
            let ((), draw) = self
                .core
                .draw_on::<B, _>(|r| io.noise_broadcast(r, noise, at))?;
            self.stored = None;
            self.core.record_train(shape, self.rate, draw, None);
            return Ok(());
        }
        let (noise, store) = (Noise::multiplicative(self.stddev), self.store_noise);
        let (values, draw) = self.core.draw_on::<B, _>(|r| io.noise(r, noise, store))?;
        self.stored = values.map(|values| StoredNoise {
            draw: draw.key(),
            bytes: values.len() * std::mem::size_of::<Compute<B>>(),
            values: Arc::new(values),
        });
        self.core.record_train(shape, self.rate, draw, None);
        Ok(())
    }

    /// `g * n`: the kept noise where this backend can read it, else the noise regenerated.
    fn train_backward<B: Backend>(&self, saved: &Saved, at: MaskLayout, io: B) -> Result<()> {
        if at.map != MaskMap::Elementwise {
            let noise = Noise::multiplicative((saved.p / (1.0 - saved.p)).sqrt());
            return saved.draw.replay(|r| {
                B::accepts(self.core.name, r)?;
                io.noise_broadcast(r, noise, at)
            });
        }
        let kept = self
            .stored
            .as_ref()
            .filter(|n| n.draw == saved.draw.key())
            .and_then(|n| n.values.downcast_ref::<Vec<Compute<B>>>());
        let io = match kept {
            Some(values) => match io.multiply(values) {
                Ok(done) => return done,
                Err(io) => io,
            },
            None => io,
        };
        let noise = Noise::multiplicative((saved.p / (1.0 - saved.p)).sqrt());
        saved.draw.replay(|r| {
            B::accepts(self.core.name, r)?;
            io.noise(r, noise, false).map(drop)
        })
    }

    fn extra_saved_bytes(&self) -> usize {
        self.stored.as_ref().map_or(0, |n| n.bytes)
    }
}

impl LayerOptions for GaussianDropout {
    fn options(&self) -> Vec<(&'static str, OptionValue)> {
        vec![
            ("rate", OptionValue::Float(self.rate)),
            ("store_noise", OptionValue::Bool(self.stores_noise())),
            ("inplace", OptionValue::Bool(self.core.inplace)),
            ("noise_shape", OptionValue::Shape(self.noise_shape.clone())),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, GeneratorKind, Module};
    use ndarray::Array2;

    #[test]
    fn backward_multiplies_by_the_forward_noise_for_both_generators() {
        for kind in [GeneratorKind::Philox, GeneratorKind::BigDl] {
            let mut layer = GaussianDropout::new(0.3).unwrap();
            layer.set_seed(3, kind);
            let x = Array2::from_elem((5, 7), 1.0f64);
            let y = layer.forward(&x).unwrap();
            let g = layer.backward(&x, &x.mapv(|v| v * 2.0)).unwrap();
            assert_eq!(g, y.mapv(|v| v * 2.0), "{kind:?}");
        }
    }

    #[test]
    fn stored_noise_gives_the_regenerated_bits_and_is_counted() {
        for kind in [GeneratorKind::Philox, GeneratorKind::BigDl] {
            let x = Array2::from_shape_fn((33, 65), |(i, j)| {
                (i as f32 - 16.0) * 0.37 + j as f32 * 1e-3
            });
            let g = x.mapv(|v| v * 0.5 - 1.0);
            let mut plain = GaussianDropout::new(0.4).unwrap();
            let mut stored = GaussianDropout::new(0.4).unwrap().with_stored_noise(true);
            plain.set_seed(11, kind);
            stored.set_seed(11, kind);
            for _ in 0..2 {
                let (a, b) = (plain.forward(&x).unwrap(), stored.forward(&x).unwrap());
                assert_eq!(a.mapv(f32::to_bits), b.mapv(f32::to_bits), "{kind:?}");
                let (ga, gb) = (
                    plain.backward(&x, &g).unwrap(),
                    stored.backward(&x, &g).unwrap(),
                );
                assert_eq!(ga.mapv(f32::to_bits), gb.mapv(f32::to_bits), "{kind:?}");
            }
            assert_eq!(
                stored.saved_bytes(),
                plain.saved_bytes() + 33 * 65 * 4,
                "{kind:?}"
            );
            // Another element type than the forward's regenerates (and still matches).
            let gd = g.mapv(f64::from);
            let want = plain.backward(&x.mapv(f64::from), &gd).unwrap();
            assert_eq!(stored.backward(&x.mapv(f64::from), &gd).unwrap(), want);
        }
    }

    #[test]
    fn backward_reads_the_stored_noise_of_the_same_draw_only() {
        let ones = Array2::from_elem((4, 9), 1.0f32);
        let mut layer = GaussianDropout::new(0.3).unwrap().with_stored_noise(true);
        layer.set_seed(5, GeneratorKind::Philox);
        let noise = layer.forward(&ones).unwrap();
        let kept = layer.stored.as_ref().unwrap();
        assert_eq!(
            kept.values.downcast_ref::<Vec<f32>>().unwrap(),
            &noise.iter().copied().collect::<Vec<_>>()
        );
        // Backward multiplies by what is stored (planted here), not by regenerated noise...
        layer.stored.as_mut().unwrap().values = Arc::new(vec![2.0f32; 36]);
        assert_eq!(
            layer.backward(&ones, &ones).unwrap(),
            ones.mapv(|v| v * 2.0)
        );
        // ...but only for the draw it came from.
        layer.stored.as_mut().unwrap().draw.2 += 1;
        assert_eq!(layer.backward(&ones, &ones).unwrap(), noise);
    }

    #[test]
    fn rate_zero_is_identity_and_bad_rates_fail() {
        let x = Array2::from_shape_fn((3, 9), |(i, j)| (i as f32) - (j as f32) * 0.25);
        let mut layer = GaussianDropout::new(0.0).unwrap();
        assert_eq!(layer.forward(&x).unwrap(), x);
        for bad in [1.0, -0.5, f64::NAN, f64::INFINITY] {
            let e = GaussianDropout::new(bad).unwrap_err();
            assert!(
                matches!(e, Error::InvalidProbability { param: "rate", .. }),
                "{e}"
            );
            assert!(e.to_string().contains("rate") && e.to_string().contains("[0, 1)"));
        }
    }

    #[test]
    fn backward_before_forward_in_training_is_an_error() {
        let x = Array2::from_elem((2, 2), 1.0f32);
        let mut layer = GaussianDropout::new(0.5).unwrap();
        let e = layer.backward(&x, &x).unwrap_err();
        assert_eq!(
            e,
            Error::BackwardBeforeForward {
                layer: "GaussianDropout"
            }
        );
        layer.evaluate();
        assert_eq!(layer.backward(&x, &x).unwrap(), x);
    }
}
