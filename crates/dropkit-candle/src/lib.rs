//! # dropkit-candle
//!
//! dropkit's dropout-family layers for [candle](https://crates.io/crates/candle-core)
//! training loops: every layer as a candle op with its backward ([`ops`]) and as a
//! [`candle_core::ModuleT`] ([`Dropout`], [`GaussianDropout`], [`GaussianNoise`],
//! [`SpatialDropout1D`], [`SpatialDropout2D`], [`SpatialDropout3D`], [`AlphaDropout`],
//! [`FeatureAlphaDropout`]).
//!
//! `candle_nn::ops::dropout` draws a float tensor of uniforms, builds a float mask from it and
//! multiplies: its backward keeps that mask, 4 bytes per `f32` element. The ops here keep only
//! `(seed, draw)`: the backward regenerates the mask (or the Gaussian noise) from the Philox
//! draw, in the core's fused kernels, so nothing the size of the tensor is kept for backward.
//!
//! | module / op | training forward | backward | evaluation |
//! |---|---|---|---|
//! | [`Dropout`] / [`ops::dropout`] | `x / (1-p)` kept, `0` dropped | `g / (1-p)` kept, `0` dropped | identity |
//! | [`GaussianDropout`] / [`ops::gaussian_dropout`] | `x * n`, `n ~ N(1, rate/(1-rate))` | `g * n` | identity |
//! | [`GaussianNoise`] / [`ops::gaussian_noise`] | `x + e`, `e ~ N(0, stddev^2)` | `g` | identity |
//! | [`SpatialDropout1D`] / [`ops::spatial_dropout1d`] | per (N, C) map: `x` kept, `0` dropped | `g * m` | `x * (1-p)` |
//! | [`SpatialDropout2D`], [`SpatialDropout3D`] | as 1D, NCHW or NHWC | `g * m` | `x * (1-p)` |
//! | [`AlphaDropout`] / [`ops::alpha_dropout`] | `a x + b` kept, `a alpha' + b` dropped | `g * a` kept, `0` dropped | identity |
//! | [`FeatureAlphaDropout`] / [`ops::feature_alpha_dropout`] | as AlphaDropout, per (N, C) map, channels first or last | `g * a * m` | identity |
//!
//! The exact rounding is the core's (see [`dropkit`]); the Spatial layers take
//! `with_scale(true)` for Keras' and PyTorch's convention.
//!
//! # Example
//! ```
//! use candle_core::{DType, Device, ModuleT, Tensor, Var};
//! let w = Var::ones((4, 4), DType::F32, &Device::Cpu)?;
//! let drop = dropkit_candle::Dropout::new(0.25, 1234)?;
//! let x = Tensor::ones((2, 4), DType::F32, &Device::Cpu)?;
//! let h = drop.forward_t(&x.matmul(w.as_tensor())?, true)?;
//! let grads = h.sum_all()?.backward()?;
//! assert_eq!(grads.get(&w).expect("w is a variable").dims(), &[4, 4]);
//! # Ok::<(), candle_core::Error>(())
//! ```
//!
//! # Errors
//! Candle errors whose message is the core's: it names the parameter, the bad value and what
//! is accepted. An element type other than `f32`, `f64`, `f16` and `bf16` is an error naming
//! the dtype.
//!
//! # Element types
//! `DType::F32`, `F64`, `F16` and `BF16`. candle stores its half types as the `half` crate's
//! `f16` / `bf16`, the core's half element types (one `half` in the dependency tree), so a
//! buffer goes to the core as it is: a half op computes in `f32` and rounds once.
//! Nothing panics on user input.
//!
//! # Reproducibility
//! Philox only: the result for `(seed, draw)` equals the core's [`dropkit::functional`]
//! result for the same arguments, bit for bit, whatever the tensor's layout. A module's
//! `n`-th training forward uses draw `n - 1` (see [`Dropout::generator_state`]).
//!
//! # Devices
//! CPU. candle's `cuda` feature needs the CUDA toolkit (`nvcc`) to build candle's kernels,
//! so this crate does not enable it; on a CUDA tensor the ops return candle's "no cuda
//! implementation" error.

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod modules;
pub mod ops;

pub use modules::{
    AlphaDropout, Dropout, FeatureAlphaDropout, GaussianDropout, GaussianNoise, SpatialDropout1D,
    SpatialDropout2D, SpatialDropout3D,
};
pub use ops::LayerArgs;
