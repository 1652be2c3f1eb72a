//! Every dropkit layer as a candle op with its backward: [`dropout`], [`gaussian_dropout`],
//! [`gaussian_noise`], [`spatial_dropout1d`], [`spatial_dropout2d`], [`spatial_dropout3d`],
//! [`alpha_dropout`], [`feature_alpha_dropout`] (the core layers' default options), and
//! [`apply`] for any option ([`LayerArgs`]), [`apply_with_noise_shape`] for Keras's noise
//! shapes.
//!
//! Each op is a [`CustomOp1`] that holds only its arguments and its `(seed, draw)` key:
//! its forward calls the core's functional forward ([`dropkit::functional`]), and its `bwd`
//! calls the core's functional backward with the same key, which regenerates the mask or the
//! noise. Between forward and backward the op keeps no mask and no noise, whatever the
//! tensor's size. The backward is itself an op with a `bwd` (the layers' gradients are
//! diagonal linear maps, their own adjoints), so gradients of gradients work too.
//!
//! # Example
//! ```
//! use candle_core::{Device, Tensor, Var};
//! let x = Var::from_tensor(&Tensor::arange(1f32, 13.0, &Device::Cpu)?.reshape((3, 4))?)?;
//! let y = dropkit_candle::ops::dropout(&x, 0.5, 7, 0)?;
//! let grads = y.sum_all()?.backward()?;
//! // The gradient is 2 where an element was kept, 0 where it was dropped.
//! let g = grads.get(&x).expect("x is a variable").flatten_all()?.to_vec1::<f32>()?;
//! let y: Vec<f32> = y.flatten_all()?.to_vec1::<f32>()?;
//! for (g, y) in g.iter().zip(&y) {
//!     assert_eq!(*g, if *y != 0.0 { 2.0 } else { 0.0 });
//! }
//! # Ok::<(), candle_core::Error>(())
//! ```
//!
//! # Errors
//! Candle errors carrying the core's message, which names the parameter, the bad value and
//! what is accepted: a probability out of range or NaN, a negative stddev, a Spatial input of
//! another rank, a FeatureAlphaDropout input of rank below 2; an element type other than
//! `f32`, `f64`, `f16` and `bf16` (the message names the dtype).
//!
//! # Element types
//! `f32`, `f64`, and candle's `f16` and `bf16` (whose storage is the `half` crate's
//! `half::f16` / `half::bf16`, the core's half element types): a half-precision op computes in
//! `f32` and rounds once, as the core does, so its result is the `f32` op's on the same values
//! rounded to the half type.
//! Nothing panics on user input.
//!
//! # Reproducibility
//! The result for `(seed, draw)` equals, bit for bit, the core's functional API (and a core
//! layer seeded with `set_seed(seed, GeneratorKind::Philox)` at its draw `draw`), for any
//! layout of the input (strides, offsets, transposes, broadcasts): the mask follows the
//! logical row-major index.
//!
//! # Devices
//! CPU only: on another device the op fails with candle's "no cuda implementation" error.

use std::sync::Arc;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, WithDType};
use dropkit::functional::{
    self as f, AlphaArgs, DropoutArgs, FeatureAlphaArgs, GaussianDropoutArgs, GaussianNoiseArgs,
    SpatialArgs,
};
use dropkit::Element;
use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};

/// A core error as a candle error (the message is the core's, with the parameter named as
/// here: the core's `init_p`, BigDL's name, is this crate's `p`).
pub(crate) fn candle_error(e: dropkit::Error) -> candle_core::Error {
    let e = match e {
        dropkit::Error::InvalidProbability {
            param: "init_p",
            value,
            accepted,
        } => dropkit::Error::InvalidProbability {
            param: "p",
            value,
            accepted,
        },
        other => other,
    };
    candle_core::Error::wrap(e)
}

/// `a` (a layer's functional arguments) with `noise_shape` in place of its own where that is
/// `Some`.
macro_rules! with_shape {
    ($a:expr, $noise_shape:expr) => {{
        let mut a = *$a;
        if let Some(shape) = $noise_shape {
            a.noise_shape = Some(shape);
        }
        a
    }};
}

/// One layer's arguments for one call: the core's functional arguments (the options, the
/// `(seed, draw)` key and the mode), one variant per layer. An op outlives the call that made
/// it (candle keeps it for backward), so a noise shape here is a `'static` slice; for any
/// other, [`apply_with_noise_shape`] keeps a copy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerArgs {
    /// [`dropkit::Dropout`].
    Dropout(DropoutArgs<'static>),
    /// [`dropkit::GaussianDropout`].
    GaussianDropout(GaussianDropoutArgs<'static>),
    /// [`dropkit::GaussianNoise`].
    GaussianNoise(GaussianNoiseArgs<'static>),
    /// [`dropkit::SpatialDropout1D`] (`format` is ignored: its channels are last).
    SpatialDropout1D(SpatialArgs),
    /// [`dropkit::SpatialDropout2D`].
    SpatialDropout2D(SpatialArgs),
    /// [`dropkit::SpatialDropout3D`].
    SpatialDropout3D(SpatialArgs),
    /// [`dropkit::AlphaDropout`].
    AlphaDropout(AlphaArgs),
    /// [`dropkit::FeatureAlphaDropout`] (`format`: where the channel axis is).
    FeatureAlphaDropout(FeatureAlphaArgs),
}

impl LayerArgs {
    /// The op's name, as candle errors print it (`"dropkit-dropout"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            LayerArgs::Dropout(_) => "dropkit-dropout",
            LayerArgs::GaussianDropout(_) => "dropkit-gaussian-dropout",
            LayerArgs::GaussianNoise(_) => "dropkit-gaussian-noise",
            LayerArgs::SpatialDropout1D(_) => "dropkit-spatial-dropout1d",
            LayerArgs::SpatialDropout2D(_) => "dropkit-spatial-dropout2d",
            LayerArgs::SpatialDropout3D(_) => "dropkit-spatial-dropout3d",
            LayerArgs::AlphaDropout(_) => "dropkit-alpha-dropout",
            LayerArgs::FeatureAlphaDropout(_) => "dropkit-feature-alpha-dropout",
        }
    }

    /// The Philox key, the draw index and the mode.
    pub fn key(&self) -> (u64, u64, bool) {
        match self {
            LayerArgs::Dropout(a) => (a.seed, a.draw, a.training),
            LayerArgs::GaussianDropout(a) => (a.seed, a.draw, a.training),
            LayerArgs::GaussianNoise(a) => (a.seed, a.draw, a.training),
            LayerArgs::SpatialDropout1D(a)
            | LayerArgs::SpatialDropout2D(a)
            | LayerArgs::SpatialDropout3D(a) => (a.seed, a.draw, a.training),
            LayerArgs::AlphaDropout(a) => (a.seed, a.draw, a.training),
            LayerArgs::FeatureAlphaDropout(a) => (a.seed, a.draw, a.training),
        }
    }

    /// The same arguments with another key and mode.
    pub fn with_key(mut self, seed: u64, draw: u64, training: bool) -> Self {
        macro_rules! set {
            ($a:expr) => {{
                $a.seed = seed;
                $a.draw = draw;
                $a.training = training;
            }};
        }
        match &mut self {
            LayerArgs::Dropout(a) => set!(a),
            LayerArgs::GaussianDropout(a) => set!(a),
            LayerArgs::GaussianNoise(a) => set!(a),
            LayerArgs::SpatialDropout1D(a)
            | LayerArgs::SpatialDropout2D(a)
            | LayerArgs::SpatialDropout3D(a) => set!(a),
            LayerArgs::AlphaDropout(a) => set!(a),
            LayerArgs::FeatureAlphaDropout(a) => set!(a),
        }
        self
    }

    /// Checks the options as the core layer's constructor does.
    ///
    /// # Errors
    /// The core's error (a probability out of range or NaN, a negative or non-finite stddev)
    /// as a candle error.
    pub fn validate(&self) -> Result<()> {
        let checked = match *self {
            LayerArgs::Dropout(a) => dropkit::Dropout::with_options(a.p, false, a.scale).map(drop),
            LayerArgs::GaussianDropout(a) => dropkit::GaussianDropout::new(a.rate).map(drop),
            LayerArgs::GaussianNoise(a) => dropkit::GaussianNoise::new(a.stddev).map(drop),
            LayerArgs::SpatialDropout1D(a) => dropkit::SpatialDropout1D::new(a.p).map(drop),
            LayerArgs::SpatialDropout2D(a) => {
                dropkit::SpatialDropout2D::with_data_format(a.p, a.format).map(drop)
            }
            LayerArgs::SpatialDropout3D(a) => {
                dropkit::SpatialDropout3D::with_data_format(a.p, a.format).map(drop)
            }
            LayerArgs::AlphaDropout(a) => dropkit::AlphaDropout::new(a.p).map(drop),
            LayerArgs::FeatureAlphaDropout(a) => {
                dropkit::FeatureAlphaDropout::with_data_format(a.p, a.format).map(drop)
            }
        };
        checked.map_err(candle_error)
    }

    /// Whether evaluation returns the input itself, with no op and no check: Dropout with
    /// `scale`, the Gaussian layers and AlphaDropout. (A Spatial layer and FeatureAlphaDropout
    /// check their input's rank in evaluation too, so they always run their op.)
    pub fn eval_returns_input(&self) -> bool {
        match self {
            LayerArgs::Dropout(a) => a.scale,
            LayerArgs::GaussianDropout(_)
            | LayerArgs::GaussianNoise(_)
            | LayerArgs::AlphaDropout(_) => true,
            LayerArgs::SpatialDropout1D(_)
            | LayerArgs::SpatialDropout2D(_)
            | LayerArgs::SpatialDropout3D(_)
            | LayerArgs::FeatureAlphaDropout(_) => false,
        }
    }

    /// Whether the layer takes a noise shape (Dropout and the Gaussian layers).
    pub fn takes_noise_shape(&self) -> bool {
        matches!(
            self,
            LayerArgs::Dropout(_) | LayerArgs::GaussianDropout(_) | LayerArgs::GaussianNoise(_)
        )
    }

    /// The core's functional forward, with `noise_shape` in place of the arguments' own where
    /// it is `Some`.
    fn forward<T: Element>(
        &self,
        noise_shape: Option<&[Option<usize>]>,
        x: &ArrayViewD<'_, T>,
    ) -> dropkit::Result<ArrayD<T>> {
        match self {
            LayerArgs::Dropout(a) => f::dropout(x, &with_shape!(a, noise_shape)),
            LayerArgs::GaussianDropout(a) => f::gaussian_dropout(x, &with_shape!(a, noise_shape)),
            LayerArgs::GaussianNoise(a) => f::gaussian_noise(x, &with_shape!(a, noise_shape)),
            LayerArgs::SpatialDropout1D(a) => f::spatial_dropout1d(x, a),
            LayerArgs::SpatialDropout2D(a) => f::spatial_dropout2d(x, a),
            LayerArgs::SpatialDropout3D(a) => f::spatial_dropout3d(x, a),
            LayerArgs::AlphaDropout(a) => f::alpha_dropout(x, a),
            LayerArgs::FeatureAlphaDropout(a) => f::feature_alpha_dropout(x, a),
        }
    }

    /// The core's functional backward (the input has the gradient's shape), with
    /// `noise_shape` as in [`LayerArgs::forward`].
    fn backward<T: Element>(
        &self,
        noise_shape: Option<&[Option<usize>]>,
        g: &ArrayViewD<'_, T>,
    ) -> dropkit::Result<ArrayD<T>> {
        let shape = g.shape();
        match self {
            LayerArgs::Dropout(a) => f::dropout_backward(shape, g, &with_shape!(a, noise_shape)),
            LayerArgs::GaussianDropout(a) => {
                f::gaussian_dropout_backward(shape, g, &with_shape!(a, noise_shape))
            }
            LayerArgs::GaussianNoise(a) => {
                f::gaussian_noise_backward(shape, g, &with_shape!(a, noise_shape))
            }
            LayerArgs::SpatialDropout1D(a) => f::spatial_dropout1d_backward(shape, g, a),
            LayerArgs::SpatialDropout2D(a) => f::spatial_dropout2d_backward(shape, g, a),
            LayerArgs::SpatialDropout3D(a) => f::spatial_dropout3d_backward(shape, g, a),
            LayerArgs::AlphaDropout(a) => f::alpha_dropout_backward(shape, g, a),
            LayerArgs::FeatureAlphaDropout(a) => f::feature_alpha_dropout_backward(shape, g, a),
        }
    }
}

/// Which pass an op runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Forward,
    Backward,
}

/// The op candle records: the arguments with their `(seed, draw)` key and the pass, and a noise
/// shape the op owns (shared with the op of its backward), nothing the size of the tensor (no
/// mask, no noise).
#[derive(Clone, Debug)]
struct NoiseOp {
    args: LayerArgs,
    pass: Pass,
    noise_shape: Option<Arc<[Option<usize>]>>,
}

/// An ndarray view of a candle CPU buffer with the layout's shape, strides and offset.
fn view<'a, T>(data: &'a [T], layout: &Layout, op: &'static str) -> Result<ArrayViewD<'a, T>> {
    let dims = IxDyn(layout.dims());
    if layout.shape().elem_count() == 0 {
        // No element is read: the strides and the offset do not matter.
        return ArrayViewD::from_shape(dims, &[]).map_err(candle_core::Error::wrap);
    }
    let shape = dims.strides(IxDyn(layout.stride()));
    data.get(layout.start_offset()..)
        .and_then(|rest| ArrayViewD::from_shape(shape, rest).ok())
        .ok_or_else(|| {
            candle_core::Error::msg(format!(
                "{op}: the layout {layout:?} does not fit a buffer of {} elements",
                data.len()
            ))
        })
}

/// Runs `op` on a buffer of element type `T`; the result is contiguous, row-major.
fn run<T: Element + WithDType>(op: &NoiseOp, data: &[T], layout: &Layout) -> Result<CpuStorage> {
    let x = view(data, layout, op.args.name())?;
    let noise_shape = op.noise_shape.as_deref();
    let out = match op.pass {
        Pass::Forward => op.args.forward(noise_shape, &x),
        Pass::Backward => op.args.backward(noise_shape, &x),
    }
    .map_err(candle_error)?;
    let n = out.len();
    // The core returns the input's memory order for a permuted input: candle wants row-major.
    let values = if out.is_standard_layout() {
        let (v, offset) = out.into_raw_vec_and_offset();
        let offset = offset.unwrap_or(0);
        if offset == 0 && v.len() == n {
            v
        } else {
            v[offset..offset + n].to_vec()
        }
    } else {
        out.iter().copied().collect()
    };
    Ok(T::to_cpu_storage_owned(values))
}

/// The error for an element type the core does not compute in.
fn unsupported(op: &'static str, dtype: DType) -> candle_core::Error {
    candle_core::Error::msg(format!(
        "{op}: dtype {} is not supported: accepted are f32, f64, f16 and bf16",
        dtype.as_str()
    ))
}

impl CustomOp1 for NoiseOp {
    fn name(&self) -> &'static str {
        self.args.name()
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        // One line per element type the core computes in.
        let out = match storage {
            CpuStorage::F32(data) => run(self, data, layout)?,
            CpuStorage::F64(data) => run(self, data, layout)?,
            CpuStorage::F16(data) => run(self, data, layout)?,
            CpuStorage::BF16(data) => run(self, data, layout)?,
            other => return Err(unsupported(self.name(), other.dtype())),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        // The gradient of either pass is the backward pass (a diagonal map is its own adjoint).
        let backward = NoiseOp {
            args: self.args,
            pass: Pass::Backward,
            noise_shape: self.noise_shape.clone(),
        };
        grad_res.apply_op1(backward).map(Some)
    }
}

/// Applies a layer with all its options, in training or evaluation mode (`args`' `training`),
/// as a candle op whose backward regenerates the mask or noise from `args`' `(seed, draw)`.
///
/// # Errors
/// See the module docs.
pub fn apply(xs: &Tensor, args: &LayerArgs) -> Result<Tensor> {
    args.validate()?;
    xs.apply_op1(NoiseOp {
        args: *args,
        pass: Pass::Forward,
        noise_shape: None,
    })
}

/// A noise shape checked as the core checks it, owned (to be shared by the ops that use it).
///
/// # Errors
/// A layer that takes no noise shape (the Spatial and alpha layers: their masks are per
/// element or per channel), or an entry of 0 (the core's error).
pub(crate) fn owned_noise_shape(
    args: &LayerArgs,
    noise_shape: &[Option<usize>],
) -> Result<Arc<[Option<usize>]>> {
    if !args.takes_noise_shape() {
        return Err(candle_core::Error::msg(format!(
            "{}: noise_shape is not accepted: Dropout, GaussianDropout and GaussianNoise take one",
            args.name()
        )));
    }
    dropkit::Dropout::new(0.5)
        .and_then(|layer| layer.with_noise_shape(noise_shape))
        .map_err(candle_error)?;
    Ok(noise_shape.into())
}

/// [`apply`] with Keras's noise shape (Dropout, GaussianDropout and GaussianNoise): the mask
/// or noise is drawn over `noise_shape` (an entry `None` takes the input's size, `Some(1)`
/// shares one draw along that axis) and broadcast, as the core's `with_noise_shape`. The op
/// owns a copy of `noise_shape` (in place of `args`' own), which its backward shares.
///
/// # Errors
/// As [`apply`]; another layer; an entry of 0; a noise shape that does not fit the input
/// (another rank, an entry neither 1 nor the input's size).
pub fn apply_with_noise_shape(
    xs: &Tensor,
    args: &LayerArgs,
    noise_shape: &[Option<usize>],
) -> Result<Tensor> {
    let noise_shape = owned_noise_shape(args, noise_shape)?;
    apply_owned(xs, args, Some(noise_shape))
}

/// [`apply`] with an owned noise shape (already checked) or none.
pub(crate) fn apply_owned(
    xs: &Tensor,
    args: &LayerArgs,
    noise_shape: Option<Arc<[Option<usize>]>>,
) -> Result<Tensor> {
    args.validate()?;
    xs.apply_op1(NoiseOp {
        args: *args,
        pass: Pass::Forward,
        noise_shape,
    })
}

/// Dropout's training forward at `(seed, draw)` (kept elements scaled by `1 / (1 - p)`),
/// bit-identical to [`dropkit::functional::dropout`] with `p as f64`.
///
/// # Errors
/// `p` outside `[0, 1]` or NaN; a dtype other than `f32`, `f64`, `f16` and `bf16`.
pub fn dropout(xs: &Tensor, p: f32, seed: u64, draw: u64) -> Result<Tensor> {
    let args = DropoutArgs {
        p: f64::from(p),
        seed,
        draw,
        training: true,
        scale: true,
        noise_shape: None,
    };
    apply(xs, &LayerArgs::Dropout(args))
}

/// GaussianDropout's training forward at `(seed, draw)`: `x * n`, `n ~ N(1, rate / (1 - rate))`.
///
/// # Errors
/// `rate` outside `[0, 1)` or NaN; a dtype other than `f32`, `f64`, `f16` and `bf16`.
pub fn gaussian_dropout(xs: &Tensor, rate: f32, seed: u64, draw: u64) -> Result<Tensor> {
    let args = GaussianDropoutArgs {
        rate: f64::from(rate),
        seed,
        draw,
        training: true,
        noise_shape: None,
    };
    apply(xs, &LayerArgs::GaussianDropout(args))
}

/// GaussianNoise's training forward at `(seed, draw)`: `x + e`, `e ~ N(0, stddev^2)`.
///
/// # Errors
/// `stddev` negative or not finite; a dtype other than `f32`, `f64`, `f16` and `bf16`.
pub fn gaussian_noise(xs: &Tensor, stddev: f32, seed: u64, draw: u64) -> Result<Tensor> {
    let args = GaussianNoiseArgs {
        stddev: f64::from(stddev),
        seed,
        draw,
        training: true,
        noise_shape: None,
    };
    apply(xs, &LayerArgs::GaussianNoise(args))
}

/// The Spatial layers' default arguments (NCHW, no scale: BigDL's) at `(seed, draw)`.
fn spatial_args(p: f32, seed: u64, draw: u64) -> SpatialArgs {
    SpatialArgs {
        p: f64::from(p),
        seed,
        draw,
        ..SpatialArgs::default()
    }
}

/// SpatialDropout1D's training forward at `(seed, draw)` on `(N, T, C)` or `(T, C)`, with the
/// core layer's defaults (no scale). Other options: [`apply`] with
/// [`LayerArgs::SpatialDropout1D`].
///
/// # Errors
/// `p` outside `[0, 1]` or NaN; another rank; a dtype other than `f32`, `f64`, `f16` and `bf16`.
pub fn spatial_dropout1d(xs: &Tensor, p: f32, seed: u64, draw: u64) -> Result<Tensor> {
    apply(
        xs,
        &LayerArgs::SpatialDropout1D(spatial_args(p, seed, draw)),
    )
}

/// SpatialDropout2D's training forward at `(seed, draw)` on `(N, C, H, W)` or `(C, H, W)`,
/// with the core layer's defaults (NCHW, no scale). Other options: [`apply`] with
/// [`LayerArgs::SpatialDropout2D`].
///
/// # Errors
/// As [`spatial_dropout1d`].
pub fn spatial_dropout2d(xs: &Tensor, p: f32, seed: u64, draw: u64) -> Result<Tensor> {
    apply(
        xs,
        &LayerArgs::SpatialDropout2D(spatial_args(p, seed, draw)),
    )
}

/// SpatialDropout3D's training forward at `(seed, draw)` on `(N, C, D, H, W)` or
/// `(C, D, H, W)`, with the core layer's defaults (NCHW, no scale). Other options: [`apply`]
/// with [`LayerArgs::SpatialDropout3D`].
///
/// # Errors
/// As [`spatial_dropout1d`].
pub fn spatial_dropout3d(xs: &Tensor, p: f32, seed: u64, draw: u64) -> Result<Tensor> {
    apply(
        xs,
        &LayerArgs::SpatialDropout3D(spatial_args(p, seed, draw)),
    )
}

/// AlphaDropout's training forward at `(seed, draw)`: a kept element becomes `a x + b`, a
/// dropped one `a alpha' + b` (PyTorch's `alpha_dropout`), bit-identical to
/// [`dropkit::functional::alpha_dropout`] with `p as f64`.
///
/// # Errors
/// `p` outside `[0, 1]` or NaN; a dtype other than `f32`, `f64`, `f16` and `bf16`.
pub fn alpha_dropout(xs: &Tensor, p: f32, seed: u64, draw: u64) -> Result<Tensor> {
    let args = AlphaArgs {
        p: f64::from(p),
        seed,
        draw,
        training: true,
    };
    apply(xs, &LayerArgs::AlphaDropout(args))
}

/// FeatureAlphaDropout's training forward at `(seed, draw)` on `(N, C, ...)` (channels first:
/// one keep draw per `(sample, channel)`, PyTorch's `feature_alpha_dropout`). Channels last:
/// [`apply`] with [`LayerArgs::FeatureAlphaDropout`] and [`dropkit::DataFormat::Nhwc`].
///
/// # Errors
/// As [`alpha_dropout`]; an input of rank below 2.
pub fn feature_alpha_dropout(xs: &Tensor, p: f32, seed: u64, draw: u64) -> Result<Tensor> {
    let args = FeatureAlphaArgs {
        p: f64::from(p),
        seed,
        draw,
        ..FeatureAlphaArgs::default()
    };
    apply(xs, &LayerArgs::FeatureAlphaDropout(args))
}
