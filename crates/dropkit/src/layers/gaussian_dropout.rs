//! GaussianDropout (Srivastava et al., "Dropout: a simple way to prevent neural networks
//! from overfitting", JMLR 2014, section 10): multiplicative 1-centred Gaussian noise.
//!
//! - training forward: `x * n`, `n ~ N(1, rate / (1 - rate))` per element (can be < 0);
//! - training backward: `g * n` with the SAME `n` (BigDL draws fresh noise, which is not the
//!   gradient); the noise is regenerated from the draw, not stored;
//! - evaluation: identity, forward and backward (BigDL throws in backward);
//! - `rate = 0` is the identity (BigDL accepts it, then fails at the first forward).

use crate::error::{check_probability, Result};
use crate::kernels::{self, NoiseOp};
use crate::layers::common::{BackwardPlan, LayerCore, Saved};
use crate::module::{FlatIo, Module};
use crate::Element;

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
    core: LayerCore,
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
            core: LayerCore::default(),
        })
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

impl Module for GaussianDropout {
    fn name(&self) -> &'static str {
        "GaussianDropout"
    }

    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn core_mut(&mut self) -> &mut LayerCore {
        &mut self.core
    }

    fn forward_flat<T: Element>(&mut self, shape: &[usize], io: FlatIo<'_, T>) -> Result<()> {
        if !self.core.train {
            kernels::scale(io, None);
            self.core.record_eval(shape, self.rate);
            return Ok(());
        }
        let stddev = self.stddev;
        let ((), draw) = self
            .core
            .rng
            .draw(|r| kernels::noise(io, r, 1.0, stddev, NoiseOp::Mul));
        self.core.record_train(Saved {
            shape: shape.to_vec(),
            p: self.rate,
            draw,
            bits: None,
        });
        Ok(())
    }

    fn backward_flat<T: Element>(
        &mut self,
        input_shape: &[usize],
        shape: &[usize],
        io: FlatIo<'_, T>,
    ) -> Result<()> {
        match self
            .core
            .plan_backward("GaussianDropout", input_shape, shape, self.rate, true)?
        {
            BackwardPlan::Eval(_) => kernels::scale(io, None),
            BackwardPlan::Train(saved) => {
                let stddev = (saved.p / (1.0 - saved.p)).sqrt();
                saved
                    .draw
                    .replay(|r| kernels::noise(io, r, 1.0, stddev, NoiseOp::Mul));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, GeneratorKind};
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
