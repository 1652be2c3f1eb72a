//! One [`ModuleT`] per layer: the layer's options, a Philox seed and the next draw index,
//! which each training forward takes atomically (an [`AtomicU64`]: `&self` suffices, as
//! candle's modules take it). `forward_t(xs, true)` is the op of [`crate::ops`] at
//! `(seed, draw)`; `forward_t(xs, false)` is the layer's evaluation forward (the input itself
//! where that is the identity, else the core's evaluation op, with its backward).
//!
//! # Example
//! ```
//! use candle_core::{Device, ModuleT, Tensor};
//! use dropkit_candle::Dropout;
//! let layer = Dropout::new(0.5, 42)?;
//! let x = Tensor::ones((2, 8), candle_core::DType::F32, &Device::Cpu)?;
//! let first = layer.forward_t(&x, true)?; // draw 0
//! let _second = layer.forward_t(&x, true)?; // draw 1
//! assert_eq!(layer.generator_state(), dropkit::GeneratorState::Philox { seed: 42, draw: 2 });
//! // A checkpoint: back to draw 0, the same mask again.
//! layer.set_next_draw(0);
//! let again = layer.forward_t(&x, true)?;
//! assert_eq!(first.to_vec2::<f32>()?, again.to_vec2::<f32>()?);
//! assert_eq!(layer.forward_t(&x, false)?.to_vec2::<f32>()?, x.to_vec2::<f32>()?);
//! # Ok::<(), candle_core::Error>(())
//! ```
//!
//! # Errors
//! Constructors check their arguments as the core layers do (a candle error naming the
//! parameter, the value and the accepted range). A training forward takes its draw before it
//! runs, so a failing one (a Spatial input of the wrong rank) still takes it: the draw
//! sequence never depends on which calls failed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use candle_core::{ModuleT, Result, Tensor};
use dropkit::functional::{
    AlphaArgs, DropoutArgs, FeatureAlphaArgs, GaussianDropoutArgs, GaussianNoiseArgs, SpatialArgs,
};
use dropkit::{DataFormat, GeneratorState};

use crate::ops::{apply_owned, owned_noise_shape, LayerArgs};

/// What every module holds: its arguments (options and seed), a noise shape (Dropout and the
/// Gaussian layers; shared with the ops that use it) and the next draw.
#[derive(Debug)]
struct Noisy {
    args: LayerArgs,
    noise_shape: Option<Arc<[Option<usize>]>>,
    next_draw: AtomicU64,
}

impl Noisy {
    fn new(args: LayerArgs, seed: u64) -> Result<Self> {
        args.validate()?;
        Ok(Noisy {
            args: args.with_key(seed, 0, true),
            noise_shape: None,
            next_draw: AtomicU64::new(0),
        })
    }

    fn seed(&self) -> u64 {
        self.args.key().0
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let seed = self.seed();
        if train {
            let draw = self.next_draw.fetch_add(1, Ordering::Relaxed);
            let args = self.args.with_key(seed, draw, true);
            apply_owned(xs, &args, self.noise_shape.clone())
        } else if self.args.eval_returns_input() {
            Ok(xs.clone())
        } else {
            let args = self.args.with_key(seed, 0, false);
            apply_owned(xs, &args, self.noise_shape.clone())
        }
    }

    /// Replaces the options, keeping the key and the draw.
    fn reconfigure(&mut self, args: LayerArgs) -> Result<()> {
        args.validate()?;
        let (seed, _, training) = self.args.key();
        self.args = args.with_key(seed, 0, training);
        Ok(())
    }
}

impl Clone for Noisy {
    fn clone(&self) -> Self {
        Noisy {
            args: self.args,
            noise_shape: self.noise_shape.clone(),
            next_draw: AtomicU64::new(self.next_draw.load(Ordering::Relaxed)),
        }
    }
}

/// The methods every module has (generator position, arguments, `ModuleT`).
macro_rules! module_common {
    ($ty:ident) => {
        impl $ty {
            /// The arguments of the next training forward (its options, seed and draw; a
            /// noise shape the module owns is `noise_shape()`, not in these).
            pub fn args(&self) -> LayerArgs {
                self.0.args.with_key(self.seed(), self.next_draw(), true)
            }

            /// The Philox seed.
            pub fn seed(&self) -> u64 {
                self.0.seed()
            }

            /// The draw index the next training forward takes.
            pub fn next_draw(&self) -> u64 {
                self.0.next_draw.load(Ordering::Relaxed)
            }

            /// Sets the draw index the next training forward takes (to replay a past mask).
            pub fn set_next_draw(&self, draw: u64) {
                self.0.next_draw.store(draw, Ordering::Relaxed);
            }

            /// The generator's position, for a checkpoint: `Philox { seed, draw: next_draw }`.
            pub fn generator_state(&self) -> GeneratorState {
                GeneratorState::Philox {
                    seed: self.seed(),
                    draw: self.next_draw(),
                }
            }

            /// Restores a position read by [`Self::generator_state`].
            ///
            /// # Errors
            /// A BigDL state (the ops use Philox only: BigDL's stream is sequential); the
            /// module is unchanged then.
            pub fn set_generator_state(&mut self, state: GeneratorState) -> Result<()> {
                match state {
                    GeneratorState::Philox { seed, draw } => {
                        let training = self.0.args.key().2;
                        self.0.args = self.0.args.with_key(seed, 0, training);
                        self.set_next_draw(draw);
                        Ok(())
                    }
                    other => Err(candle_core::Error::msg(format!(
                        "generator = {other:?} is not supported here: accepted is \
                         GeneratorState::Philox {{ seed, draw }}"
                    ))),
                }
            }
        }

        impl ModuleT for $ty {
            fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
                self.0.forward_t(xs, train)
            }
        }
    };
}

/// The noise shape methods of Dropout and the Gaussian modules.
macro_rules! noise_shape_methods {
    ($ty:ident, $what:literal) => {
        impl $ty {
            #[doc = concat!("Draws the ", $what, " over Keras's `noise_shape` and broadcasts it: an entry `None` takes the input's size on that axis, `Some(1)` shares one draw along it (the core's `with_noise_shape`). The module keeps a copy, which its ops share.")]
            ///
            /// # Errors
            /// An entry of 0. (A noise shape that does not fit an input is an error of that
            /// forward.)
            pub fn with_noise_shape(mut self, noise_shape: &[Option<usize>]) -> Result<Self> {
                self.0.noise_shape = Some(owned_noise_shape(&self.0.args, noise_shape)?);
                Ok(self)
            }

            /// The noise shape, if the module has one.
            pub fn noise_shape(&self) -> Option<&[Option<usize>]> {
                self.0.noise_shape.as_deref()
            }
        }
    };
}

/// [`dropkit::Dropout`] as a candle module: training keeps each element with probability
/// `1 - p` and scales it by `1 / (1 - p)` (or not, [`Dropout::with_scale`]`(false)`: then
/// evaluation multiplies by `1 - p`); evaluation is the identity.
#[derive(Clone, Debug)]
pub struct Dropout(Noisy);

impl Dropout {
    /// Dropout with drop probability `p` and Philox seed `seed`, at draw 0.
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN.
    pub fn new(p: f32, seed: u64) -> Result<Self> {
        let args = DropoutArgs {
            p: f64::from(p),
            ..DropoutArgs::default()
        };
        Noisy::new(LayerArgs::Dropout(args), seed).map(Dropout)
    }

    /// Whether training scales kept elements (`true`, the default) or evaluation multiplies
    /// by `1 - p` (`false`, Torch7's convention).
    pub fn with_scale(mut self, scale: bool) -> Self {
        if let LayerArgs::Dropout(a) = &mut self.0.args {
            a.scale = scale;
        }
        self
    }

    /// Sets the drop probability from the next forward (BigDL's `setP`).
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN; the module is unchanged then.
    pub fn set_p(&mut self, p: f32) -> Result<()> {
        if let LayerArgs::Dropout(mut a) = self.0.args {
            a.p = f64::from(p);
            self.0.reconfigure(LayerArgs::Dropout(a))?;
        }
        Ok(())
    }
}
module_common!(Dropout);
noise_shape_methods!(Dropout, "keep mask");

/// [`dropkit::GaussianDropout`] as a candle module: training multiplies by
/// `n ~ N(1, rate / (1 - rate))`; evaluation is the identity.
#[derive(Clone, Debug)]
pub struct GaussianDropout(Noisy);

impl GaussianDropout {
    /// GaussianDropout with drop rate `rate` and Philox seed `seed`, at draw 0.
    ///
    /// # Errors
    /// `rate` outside `[0, 1)` or NaN.
    pub fn new(rate: f32, seed: u64) -> Result<Self> {
        let args = GaussianDropoutArgs {
            rate: f64::from(rate),
            ..GaussianDropoutArgs::default()
        };
        Noisy::new(LayerArgs::GaussianDropout(args), seed).map(GaussianDropout)
    }
}
module_common!(GaussianDropout);
noise_shape_methods!(GaussianDropout, "noise");

/// [`dropkit::GaussianNoise`] as a candle module: training adds `e ~ N(0, stddev^2)`;
/// evaluation is the identity.
#[derive(Clone, Debug)]
pub struct GaussianNoise(Noisy);

impl GaussianNoise {
    /// GaussianNoise with standard deviation `stddev` and Philox seed `seed`, at draw 0.
    ///
    /// # Errors
    /// `stddev` negative or not finite.
    pub fn new(stddev: f32, seed: u64) -> Result<Self> {
        let args = GaussianNoiseArgs {
            stddev: f64::from(stddev),
            ..GaussianNoiseArgs::default()
        };
        Noisy::new(LayerArgs::GaussianNoise(args), seed).map(GaussianNoise)
    }
}
module_common!(GaussianNoise);
noise_shape_methods!(GaussianNoise, "noise");

/// Declares a Spatial module.
macro_rules! spatial_module {
    ($ty:ident, $variant:ident, $shapes:literal, $format:literal) => {
        #[doc = concat!("[`dropkit::", stringify!($ty), "`] as a candle module: one keep draw per (sample, channel) on ", $shapes, "; BigDL's convention by default (no scale in training, `x * (1 - p)` in evaluation), [`", stringify!($ty), "::with_scale`]`(true)` for Keras' and PyTorch's.")]
        #[derive(Clone, Debug)]
        pub struct $ty(Noisy);

        impl $ty {
            /// The layer with drop probability `p` and Philox seed `seed`, at draw 0
            #[doc = $format]
            ///
            /// # Errors
            /// `p` outside `[0, 1]` or NaN.
            pub fn new(p: f32, seed: u64) -> Result<Self> {
                let args = SpatialArgs {
                    p: f64::from(p),
                    ..SpatialArgs::default()
                };
                Noisy::new(LayerArgs::$variant(args), seed).map($ty)
            }

            /// Whether training scales kept maps by `1 / (1 - p)` (evaluation is then the
            /// identity).
            pub fn with_scale(mut self, scale: bool) -> Self {
                if let LayerArgs::$variant(a) = &mut self.0.args {
                    a.scale = scale;
                }
                self
            }
        }
        module_common!($ty);
    };
}

spatial_module!(
    SpatialDropout1D,
    SpatialDropout1D,
    "`(N, T, C)` or `(T, C)`",
    " (channels last)."
);
spatial_module!(
    SpatialDropout2D,
    SpatialDropout2D,
    "`(N, C, H, W)` / `(C, H, W)` (NCHW) or `(N, H, W, C)` / `(H, W, C)` (NHWC)",
    " (NCHW; see `with_data_format`)."
);
spatial_module!(
    SpatialDropout3D,
    SpatialDropout3D,
    "`(N, C, D, H, W)` / `(C, D, H, W)` (NCHW) or `(N, D, H, W, C)` / `(D, H, W, C)` (NHWC)",
    " (NCHW; see `with_data_format`)."
);

impl SpatialDropout2D {
    /// The channel axis: [`DataFormat::Nchw`] (the default) or [`DataFormat::Nhwc`]
    /// (`"NCHW"` / `"NHWC"`.parse() reads one from a string).
    pub fn with_data_format(mut self, format: DataFormat) -> Self {
        if let LayerArgs::SpatialDropout2D(a) = &mut self.0.args {
            a.format = format;
        }
        self
    }
}

impl SpatialDropout3D {
    /// The channel axis: [`DataFormat::Nchw`] (the default) or [`DataFormat::Nhwc`].
    pub fn with_data_format(mut self, format: DataFormat) -> Self {
        if let LayerArgs::SpatialDropout3D(a) = &mut self.0.args {
            a.format = format;
        }
        self
    }
}

/// [`dropkit::AlphaDropout`] as a candle module (PyTorch's `nn.AlphaDropout`, for SELU
/// networks): training sets a dropped element to `a alpha' + b` and maps a kept one to
/// `a x + b`, keeping a standard-normal input's mean and variance; evaluation is the identity.
#[derive(Clone, Debug)]
pub struct AlphaDropout(Noisy);

impl AlphaDropout {
    /// AlphaDropout with drop probability `p` and Philox seed `seed`, at draw 0.
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN.
    pub fn new(p: f32, seed: u64) -> Result<Self> {
        let args = AlphaArgs {
            p: f64::from(p),
            ..AlphaArgs::default()
        };
        Noisy::new(LayerArgs::AlphaDropout(args), seed).map(AlphaDropout)
    }
}
module_common!(AlphaDropout);

/// [`dropkit::FeatureAlphaDropout`] as a candle module (PyTorch's `nn.FeatureAlphaDropout`):
/// AlphaDropout with one keep draw per `(sample, channel)` of an input of rank 2 or more,
/// `(N, C, ...)` (channels first, the default) or `(N, ..., C)`
/// ([`FeatureAlphaDropout::with_data_format`]); evaluation is the identity (the rank is
/// checked in both modes).
#[derive(Clone, Debug)]
pub struct FeatureAlphaDropout(Noisy);

impl FeatureAlphaDropout {
    /// FeatureAlphaDropout with drop probability `p` and Philox seed `seed`, at draw 0,
    /// channels first.
    ///
    /// # Errors
    /// `p` outside `[0, 1]` or NaN.
    pub fn new(p: f32, seed: u64) -> Result<Self> {
        let args = FeatureAlphaArgs {
            p: f64::from(p),
            ..FeatureAlphaArgs::default()
        };
        Noisy::new(LayerArgs::FeatureAlphaDropout(args), seed).map(FeatureAlphaDropout)
    }

    /// The channel axis: [`DataFormat::Nchw`] (channels first, the default) or
    /// [`DataFormat::Nhwc`] (channels last; `"channels_last"` / `"NHWC"`.parse() reads it).
    pub fn with_data_format(mut self, format: DataFormat) -> Self {
        if let LayerArgs::FeatureAlphaDropout(a) = &mut self.0.args {
            a.format = format;
        }
        self
    }
}
module_common!(FeatureAlphaDropout);
