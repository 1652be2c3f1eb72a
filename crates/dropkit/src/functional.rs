//! Stateless functions keyed by `(seed, draw)`: each dropout-family layer's forward and
//! backward as a pure function of its arguments, for code that applies one layer several
//! times before backward (a block shared across a network, an RNN's time steps) and for
//! framework bindings that want a function rather than an object.
//!
//! A [`crate::Module`] differentiates its last forward, as BigDL's modules do. The functions
//! here keep nothing: the backward of a forward is called with the same `(seed, draw)`, and
//! the mask or noise is regenerated from that draw.
//!
//! Every function uses Philox and is bit-identical to the layer whose generator is at
//! `(seed, draw)`: a layer seeded with `set_seed(seed, GeneratorKind::Philox)` takes draw 0
//! in its first training forward, draw 1 in its second, and so on. They are built on the
//! layers (the maths is written once): a forward builds the layer, moves its generator to
//! the draw and runs it; a backward records the training forward without running it, so
//! nothing is computed twice.
//!
//! Arrays of any layout and rank, of any [`Element`] type (`f32`, `f64`, `half::f16`,
//! `half::bf16`). Backward takes the input's shape (the gradient of every dropout-family
//! layer does not depend on the input's values).
//!
//! # Layout of the results
//! A result is a fresh array, and its values do not depend on the argument's layout (the mask
//! follows the logical row-major index). Its memory order is the argument's (the input's for
//! a forward, `grad_output`'s for a backward) where that argument is a permutation of a
//! contiguous row-major array, such as a transpose, a Fortran-order array or channels-last
//! data viewed as NCHW: the result then has the same strides, so it is not in standard
//! layout. Every other argument (standard layout, a slice, a step, negative strides, a
//! broadcast) gives a result in standard layout. Call `as_standard_layout()` on a result
//! where row-major memory is needed.
//!
//! ```
//! use dropkit::functional::{dropout, DropoutArgs};
//! use ndarray::Array2;
//!
//! let x = Array2::from_shape_fn((3, 5), |(i, j)| (i * 5 + j + 1) as f32);
//! let args = DropoutArgs { p: 0.5, seed: 3, ..Default::default() };
//! let t = x.t(); // (5, 3), column-major in memory
//! let y = dropout(&t, &args)?;
//! assert_eq!(y.strides(), t.strides()); // the input's memory order
//! assert!(!y.is_standard_layout());
//! assert_eq!(y, dropout(&t.as_standard_layout(), &args)?); // the same values
//! # Ok::<(), dropkit::Error>(())
//! ```
//!
//! # Example
//! ```
//! use dropkit::functional::{dropout, dropout_backward, DropoutArgs};
//! use dropkit::{Dropout, GeneratorKind, Module};
//! use ndarray::Array2;
//!
//! let x = Array2::from_shape_fn((4, 8), |(i, j)| (i * 8 + j) as f32);
//! let mut layer = Dropout::new(0.3)?;
//! layer.set_seed(7, GeneratorKind::Philox);
//! let first = layer.forward(&x)?; // draw 0
//! let second = layer.forward(&x)?; // draw 1
//!
//! let args = |draw| DropoutArgs { p: 0.3, seed: 7, draw, ..Default::default() };
//! assert_eq!(dropout(&x, &args(0))?, first);
//! assert_eq!(dropout(&x, &args(1))?, second);
//! // The backward of the second forward, as the layer computes it.
//! let g = x.mapv(|v| v + 1.0);
//! assert_eq!(dropout_backward(x.shape(), &g, &args(1))?, layer.backward(&x, &g)?);
//! # Ok::<(), dropkit::Error>(())
//! ```
//!
//! # Errors
//! As the layers' constructors (a probability out of range, [`crate::Error::InvalidProbability`];
//! a negative stddev) and their forward and backward (a Spatial input of another rank,
//! [`crate::Error::ShapeMismatch`] when `grad_output`'s shape is not `input_shape`,
//! [`crate::Error::OutOfMemory`]). Nothing panics on user input.

use ndarray::{arr0, Array, ArrayBase, Data, Dimension, IxDyn};

use crate::error::{Error, Result};
use crate::rng::{Draw, GeneratorState};
use crate::{
    AlphaDropout, DataFormat, Dropout, Element, FeatureAlphaDropout, GaussianDropout,
    GaussianNoise, MaskStorage, Module, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};

/// The arguments of [`dropout`] and [`dropout_backward`] (those of [`crate::Dropout`], plus
/// the draw and the mode). The default is `p = 0.5`, seed 0, draw 0, training, `scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutArgs<'a> {
    /// The drop probability, in `[0, 1]`.
    pub p: f64,
    /// The Philox key.
    pub seed: u64,
    /// The draw index (a layer's `n`-th training forward since `set_seed` is draw `n - 1`).
    pub draw: u64,
    /// Training (`true`: the mask of the draw) or evaluation.
    pub training: bool,
    /// Whether kept elements are scaled by `1 / (1 - p)` in training (else evaluation
    /// multiplies by `1 - p`).
    pub scale: bool,
    /// Keras's noise shape (see [`Dropout::with_noise_shape`]), or `None` for one draw per
    /// element.
    pub noise_shape: Option<&'a [Option<usize>]>,
}

impl Default for DropoutArgs<'_> {
    fn default() -> Self {
        DropoutArgs {
            p: 0.5,
            seed: 0,
            draw: 0,
            training: true,
            scale: true,
            noise_shape: None,
        }
    }
}

/// The arguments of [`gaussian_dropout`] and [`gaussian_dropout_backward`]. The default is
/// `rate = 0` (no noise), seed 0, draw 0, training.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GaussianDropoutArgs<'a> {
    /// The drop rate, in `[0, 1)`: the noise has standard deviation `sqrt(rate / (1 - rate))`.
    pub rate: f64,
    /// The Philox key.
    pub seed: u64,
    /// The draw index.
    pub draw: u64,
    /// Training or evaluation (the identity).
    pub training: bool,
    /// Keras's noise shape (the noise drawn over it and broadcast), or `None`.
    pub noise_shape: Option<&'a [Option<usize>]>,
}

/// The arguments of [`gaussian_noise`] and [`gaussian_noise_backward`]. The default is
/// `stddev = 0` (no noise), seed 0, draw 0, training.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GaussianNoiseArgs<'a> {
    /// The noise's standard deviation, finite and at least 0.
    pub stddev: f64,
    /// The Philox key.
    pub seed: u64,
    /// The draw index.
    pub draw: u64,
    /// Training or evaluation (the identity).
    pub training: bool,
    /// Keras's noise shape (the noise drawn over it and broadcast), or `None`.
    pub noise_shape: Option<&'a [Option<usize>]>,
}

/// The arguments of [`alpha_dropout`] and [`alpha_dropout_backward`]. The default is
/// `p = 0.5`, seed 0, draw 0, training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlphaArgs {
    /// The drop probability, in `[0, 1]`.
    pub p: f64,
    /// The Philox key.
    pub seed: u64,
    /// The draw index.
    pub draw: u64,
    /// Training or evaluation (the identity).
    pub training: bool,
}

impl Default for AlphaArgs {
    fn default() -> Self {
        AlphaArgs {
            p: 0.5,
            seed: 0,
            draw: 0,
            training: true,
        }
    }
}

/// The arguments of [`feature_alpha_dropout`] and [`feature_alpha_dropout_backward`]. The
/// default is `p = 0.5`, channels first, seed 0, draw 0, training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeatureAlphaArgs {
    /// The drop probability, in `[0, 1]`.
    pub p: f64,
    /// Where the channel axis is.
    pub format: DataFormat,
    /// The Philox key.
    pub seed: u64,
    /// The draw index.
    pub draw: u64,
    /// Training or evaluation (the identity).
    pub training: bool,
}

impl Default for FeatureAlphaArgs {
    fn default() -> Self {
        FeatureAlphaArgs {
            p: 0.5,
            format: DataFormat::Nchw,
            seed: 0,
            draw: 0,
            training: true,
        }
    }
}

/// The arguments of the Spatial functions ([`spatial_dropout1d`], [`spatial_dropout2d`],
/// [`spatial_dropout3d`] and their backwards). The default is `p = 0.5`, NCHW, seed 0,
/// draw 0, training, no `scale` (the layers' defaults). `format` is ignored by the 1D
/// functions (their channels are last).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpatialArgs {
    /// The drop probability of a whole feature map, in `[0, 1]`.
    pub p: f64,
    /// Where the channel axis is (2D and 3D).
    pub format: DataFormat,
    /// The Philox key.
    pub seed: u64,
    /// The draw index.
    pub draw: u64,
    /// Training or evaluation (`x * (1 - p)`, or the identity with `scale`).
    pub training: bool,
    /// Whether kept maps are scaled by `1 / (1 - p)` in training.
    pub scale: bool,
}

impl Default for SpatialArgs {
    fn default() -> Self {
        SpatialArgs {
            p: 0.5,
            format: DataFormat::Nchw,
            seed: 0,
            draw: 0,
            training: true,
            scale: false,
        }
    }
}

/// `layer`'s forward at `(seed, draw)` in the given mode.
fn forward_at<L: Module, T: Element, S: Data<Elem = T>, D: Dimension>(
    mut layer: L,
    (seed, draw, training): (u64, u64, bool),
    input: &ArrayBase<S, D>,
) -> Result<Array<T, D>> {
    layer.set_generator_state(GeneratorState::Philox { seed, draw })?;
    if !training {
        layer.evaluate();
    }
    layer.forward(input)
}

/// `layer`'s backward of the forward at `(seed, draw)` in the given mode on an input of
/// `input_shape`: a training forward is recorded (not run), so backward regenerates its mask
/// or noise from the draw.
fn backward_at<L: Module, T: Element, S: Data<Elem = T>, D: Dimension>(
    mut layer: L,
    (seed, draw, training): (u64, u64, bool),
    input_shape: &[usize],
    grad_output: &ArrayBase<S, D>,
) -> Result<Array<T, D>> {
    let name = layer.name();
    // Only the input's shape is read: a zero-stride view of that shape stands for it.
    let zero = arr0(T::from_f64(0.0));
    let input = zero
        .broadcast(IxDyn(input_shape))
        .ok_or_else(|| Error::ShapeOverflow {
            layer: name,
            argument: "input",
            shape: input_shape.to_vec(),
        })?;
    if training {
        let p = layer.recorded_p();
        let core = layer.core_mut();
        core.record_train(input_shape, p, Draw::Philox { seed, draw }, None);
    } else {
        layer.evaluate();
    }
    let grad = grad_output.view().into_dyn();
    let out = layer.backward(&input, &grad)?;
    Ok(out
        .into_dimensionality::<D>()
        .expect("backward returns grad_output's shape"))
}

/// The Dropout layer of `args` (its noise shape checked).
fn dropout_layer(args: &DropoutArgs<'_>) -> Result<Dropout> {
    let layer = Dropout::with_options(args.p, false, args.scale)?;
    match args.noise_shape {
        Some(noise_shape) => layer.with_noise_shape(noise_shape),
        None => Ok(layer),
    }
}

/// The GaussianDropout layer of `args` (its noise shape checked).
fn gaussian_dropout_layer(args: &GaussianDropoutArgs<'_>) -> Result<GaussianDropout> {
    let layer = GaussianDropout::new(args.rate)?;
    match args.noise_shape {
        Some(noise_shape) => layer.with_noise_shape(noise_shape),
        None => Ok(layer),
    }
}

/// The GaussianNoise layer of `args` (its noise shape checked).
fn gaussian_noise_layer(args: &GaussianNoiseArgs<'_>) -> Result<GaussianNoise> {
    let layer = GaussianNoise::new(args.stddev)?;
    match args.noise_shape {
        Some(noise_shape) => layer.with_noise_shape(noise_shape),
        None => Ok(layer),
    }
}

/// Dropout's forward at `(args.seed, args.draw)`: bit-identical to [`crate::Dropout`]
/// (`Dropout::with_options(p, false, scale)`) at that draw.
///
/// # Errors
/// `p` outside `[0, 1]` or NaN; [`crate::Error::OutOfMemory`].
pub fn dropout<T: Element, S: Data<Elem = T>, D: Dimension>(
    input: &ArrayBase<S, D>,
    args: &DropoutArgs<'_>,
) -> Result<Array<T, D>> {
    // Nothing is kept for a backward: no mask bits.
    let layer = dropout_layer(args)?.with_mask_storage(MaskStorage::Regenerate);
    forward_at(layer, (args.seed, args.draw, args.training), input)
}

/// The backward of [`dropout`] with the same `args` on an input of `input_shape`.
///
/// # Errors
/// As [`dropout`]; [`crate::Error::ShapeMismatch`] when `grad_output`'s shape is not
/// `input_shape`.
pub fn dropout_backward<T: Element, S: Data<Elem = T>, D: Dimension>(
    input_shape: &[usize],
    grad_output: &ArrayBase<S, D>,
    args: &DropoutArgs<'_>,
) -> Result<Array<T, D>> {
    let layer = dropout_layer(args)?;
    let key = (args.seed, args.draw, args.training);
    backward_at(layer, key, input_shape, grad_output)
}

/// GaussianDropout's forward at `(args.seed, args.draw)`: bit-identical to
/// [`crate::GaussianDropout`] at that draw.
///
/// # Errors
/// `rate` outside `[0, 1)` or NaN; [`crate::Error::OutOfMemory`].
pub fn gaussian_dropout<T: Element, S: Data<Elem = T>, D: Dimension>(
    input: &ArrayBase<S, D>,
    args: &GaussianDropoutArgs<'_>,
) -> Result<Array<T, D>> {
    let layer = gaussian_dropout_layer(args)?;
    forward_at(layer, (args.seed, args.draw, args.training), input)
}

/// The backward of [`gaussian_dropout`] with the same `args`: `g * n` with the draw's noise.
///
/// # Errors
/// As [`gaussian_dropout`]; [`crate::Error::ShapeMismatch`].
pub fn gaussian_dropout_backward<T: Element, S: Data<Elem = T>, D: Dimension>(
    input_shape: &[usize],
    grad_output: &ArrayBase<S, D>,
    args: &GaussianDropoutArgs<'_>,
) -> Result<Array<T, D>> {
    let layer = gaussian_dropout_layer(args)?;
    let key = (args.seed, args.draw, args.training);
    backward_at(layer, key, input_shape, grad_output)
}

/// GaussianNoise's forward at `(args.seed, args.draw)`: bit-identical to
/// [`crate::GaussianNoise`] at that draw.
///
/// # Errors
/// `stddev` negative or not finite; [`crate::Error::OutOfMemory`].
pub fn gaussian_noise<T: Element, S: Data<Elem = T>, D: Dimension>(
    input: &ArrayBase<S, D>,
    args: &GaussianNoiseArgs<'_>,
) -> Result<Array<T, D>> {
    let layer = gaussian_noise_layer(args)?;
    forward_at(layer, (args.seed, args.draw, args.training), input)
}

/// The backward of [`gaussian_noise`]: the identity (a copy of `grad_output`), after the
/// same argument and shape checks.
///
/// # Errors
/// As [`gaussian_noise`]; [`crate::Error::ShapeMismatch`].
pub fn gaussian_noise_backward<T: Element, S: Data<Elem = T>, D: Dimension>(
    input_shape: &[usize],
    grad_output: &ArrayBase<S, D>,
    args: &GaussianNoiseArgs<'_>,
) -> Result<Array<T, D>> {
    let layer = gaussian_noise_layer(args)?;
    let key = (args.seed, args.draw, args.training);
    backward_at(layer, key, input_shape, grad_output)
}

/// AlphaDropout's forward at `(args.seed, args.draw)`: bit-identical to
/// [`crate::AlphaDropout`] at that draw.
///
/// # Errors
/// `p` outside `[0, 1]` or NaN; [`crate::Error::OutOfMemory`].
pub fn alpha_dropout<T: Element, S: Data<Elem = T>, D: Dimension>(
    input: &ArrayBase<S, D>,
    args: &AlphaArgs,
) -> Result<Array<T, D>> {
    let layer = AlphaDropout::new(args.p)?;
    forward_at(layer, (args.seed, args.draw, args.training), input)
}

/// The backward of [`alpha_dropout`] with the same `args`: `g * T(a)` where the draw keeps,
/// `0` where it drops (the identity in evaluation).
///
/// # Errors
/// As [`alpha_dropout`]; [`crate::Error::ShapeMismatch`].
pub fn alpha_dropout_backward<T: Element, S: Data<Elem = T>, D: Dimension>(
    input_shape: &[usize],
    grad_output: &ArrayBase<S, D>,
    args: &AlphaArgs,
) -> Result<Array<T, D>> {
    let layer = AlphaDropout::new(args.p)?;
    let key = (args.seed, args.draw, args.training);
    backward_at(layer, key, input_shape, grad_output)
}

/// FeatureAlphaDropout's forward at `(args.seed, args.draw)`: bit-identical to
/// [`crate::FeatureAlphaDropout`] at that draw.
///
/// # Errors
/// `p` outside `[0, 1]` or NaN; an input of rank below 2; [`crate::Error::OutOfMemory`].
pub fn feature_alpha_dropout<T: Element, S: Data<Elem = T>, D: Dimension>(
    input: &ArrayBase<S, D>,
    args: &FeatureAlphaArgs,
) -> Result<Array<T, D>> {
    let layer = FeatureAlphaDropout::with_data_format(args.p, args.format)?;
    forward_at(layer, (args.seed, args.draw, args.training), input)
}

/// The backward of [`feature_alpha_dropout`] with the same `args`.
///
/// # Errors
/// As [`feature_alpha_dropout`]; [`crate::Error::ShapeMismatch`].
pub fn feature_alpha_dropout_backward<T: Element, S: Data<Elem = T>, D: Dimension>(
    input_shape: &[usize],
    grad_output: &ArrayBase<S, D>,
    args: &FeatureAlphaArgs,
) -> Result<Array<T, D>> {
    let layer = FeatureAlphaDropout::with_data_format(args.p, args.format)?;
    let key = (args.seed, args.draw, args.training);
    backward_at(layer, key, input_shape, grad_output)
}

/// Declares the forward and backward functions of a Spatial layer.
macro_rules! spatial_functions {
    ($forward:ident, $backward:ident, $layer:ident, |$args:ident| $make:expr) => {
        #[doc = concat!("[`crate::", stringify!($layer), "`]'s forward at `(args.seed, args.draw)`, bit-identical to the layer at that draw.")]
        ///
        /// # Errors
        /// `p` outside `[0, 1]` or NaN; an input of another rank; [`crate::Error::OutOfMemory`].
        pub fn $forward<T: Element, S: Data<Elem = T>, D: Dimension>(
            input: &ArrayBase<S, D>,
            $args: &SpatialArgs,
        ) -> Result<Array<T, D>> {
            let layer = $make?.with_scale($args.scale);
            forward_at(layer, ($args.seed, $args.draw, $args.training), input)
        }

        #[doc = concat!("The backward of [`", stringify!($forward), "`] with the same `args` on an input of `input_shape`.")]
        ///
        /// # Errors
        #[doc = concat!("As [`", stringify!($forward), "`]; [`crate::Error::ShapeMismatch`].")]
        pub fn $backward<T: Element, S: Data<Elem = T>, D: Dimension>(
            input_shape: &[usize],
            grad_output: &ArrayBase<S, D>,
            $args: &SpatialArgs,
        ) -> Result<Array<T, D>> {
            let layer = $make?.with_scale($args.scale);
            let key = ($args.seed, $args.draw, $args.training);
            backward_at(layer, key, input_shape, grad_output)
        }
    };
}

spatial_functions!(
    spatial_dropout1d,
    spatial_dropout1d_backward,
    SpatialDropout1D,
    |args| { SpatialDropout1D::new(args.p) }
);
spatial_functions!(
    spatial_dropout2d,
    spatial_dropout2d_backward,
    SpatialDropout2D,
    |args| { SpatialDropout2D::with_data_format(args.p, args.format) }
);
spatial_functions!(
    spatial_dropout3d,
    spatial_dropout3d_backward,
    SpatialDropout3D,
    |args| { SpatialDropout3D::with_data_format(args.p, args.format) }
);
