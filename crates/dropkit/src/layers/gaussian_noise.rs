//! GaussianNoise: additive zero-centred Gaussian noise, a data augmentation that regularizes.
//!
//! - training forward: `x + e`, `e ~ N(0, stddev^2)` per element;
//! - backward: identity in both modes (the noise does not depend on `x`);
//! - evaluation forward: identity. `stddev = 0` is the identity.

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::layers::common::{LayerCore, LayerImpl, Saved};
use crate::layers::common::{LayerOptions, OptionValue};
use crate::ops::{broadcast_layout, check_noise_shape, element_count, MaskLayout, MaskMap, Noise};

/// Additive Gaussian noise, active in training only.
///
/// # Example
/// ```
/// use dropkit::{GaussianNoise, Module};
/// let mut layer = GaussianNoise::new(0.2)?;
/// let x = ndarray::Array::from_elem((2, 3), 1.0f32);
/// let y = layer.forward(&x)?;
/// assert!(y.iter().all(|v| (v - 1.0).abs() < 0.2 * 6.0));
/// assert_eq!(layer.backward(&x, &x)?, x);
/// # Ok::<(), dropkit::Error>(())
/// ```
///
/// # Errors
/// `stddev` negative, infinite or NaN.
///
/// # Shapes
/// Any rank; the output has the input's shape.
///
/// # Reproducibility
/// Philox: `e = T(0) + T(stddev) * T(n_i)` with `n_i` as in [`crate::rng::normal`]; BigDL
/// stream: `T(normal(0, stddev))`, row-major.
#[derive(Clone, Debug)]
pub struct GaussianNoise {
    stddev: f64,
    noise_shape: Option<Vec<Option<usize>>>,
    core: LayerCore,
}

impl GaussianNoise {
    /// `GaussianNoise(stddev)`.
    ///
    /// # Errors
    /// `stddev` negative, infinite or NaN ([`Error::InvalidStddev`]).
    pub fn new(stddev: f64) -> Result<Self> {
        if !(stddev.is_finite() && stddev >= 0.0) {
            return Err(Error::InvalidStddev { value: stddev });
        }
        Ok(GaussianNoise {
            stddev,
            noise_shape: None,
            core: LayerCore::new("GaussianNoise"),
        })
    }

    /// Draws the noise over `noise_shape` and broadcasts it (Keras's `noise_shape`, as
    /// [`crate::Dropout::with_noise_shape`]): the noise value of noise-shape element `i` is
    /// the one the layer without a noise shape draws for element `i`. On the CPU and on CUDA
    /// devices.
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

    /// The noise's standard deviation.
    pub fn stddev(&self) -> f64 {
        self.stddev
    }
}

impl LayerImpl for GaussianNoise {
    const NEEDS_DRAW: bool = false;

    fn core(&self) -> &LayerCore {
        &self.core
    }

    fn core_mut(&mut self) -> &mut LayerCore {
        &mut self.core
    }

    fn recorded_p(&self) -> f64 {
        0.0
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
        let stddev = self.stddev;
        let ((), draw) = self.core.draw_on::<B, _>(|r| {
            if stddev == 0.0 {
                // Zero noise is the identity, bit for bit (x + 0 would turn -0.0 into +0.0);
                // BigDL's stream still draws its normals, as BigDL does.
                r.skip_normals(at.len);
                return io.scale(None);
            }
            if at.map != MaskMap::Elementwise {
                return io.noise_broadcast(r, Noise::additive(stddev), at);
            }
            io.noise(r, Noise::additive(stddev), false).map(drop)
        })?;
        self.core.record_train(shape, 0.0, draw, None);
        Ok(())
    }

    /// The noise does not depend on `x`: the gradient passes unchanged.
    fn train_backward<B: Backend>(&self, _: &Saved, _: MaskLayout, io: B) -> Result<()> {
        io.scale(None)
    }
}

impl LayerOptions for GaussianNoise {
    fn options(&self) -> Vec<(&'static str, OptionValue)> {
        vec![
            ("stddev", OptionValue::Float(self.stddev)),
            ("inplace", OptionValue::Bool(self.core.inplace)),
            ("noise_shape", OptionValue::Shape(self.noise_shape.clone())),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GeneratorKind, Module};
    use ndarray::Array1;

    #[test]
    fn bad_stddev_is_an_error_naming_it() {
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let e = GaussianNoise::new(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidStddev { .. }));
            assert!(e.to_string().starts_with("stddev = "), "{e}");
        }
    }

    #[test]
    fn zero_stddev_is_identity_and_backward_needs_no_forward() {
        let x = Array1::from_iter((0..33).map(|i| i as f64 - 16.0));
        let mut layer = GaussianNoise::new(0.0).unwrap();
        assert_eq!(layer.backward(&x, &x).unwrap(), x);
        layer.set_seed(9, GeneratorKind::BigDl);
        assert_eq!(layer.forward(&x).unwrap(), x);
    }
}
