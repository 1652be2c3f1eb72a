//! # dropkit
//!
//! The dropout family of BigDL (Dropout, GaussianDropout, GaussianNoise,
//! SpatialDropout1D/2D/3D) and PyTorch's AlphaDropout / FeatureAlphaDropout, for `ndarray`
//! arrays of `f32`, `f64`, `half::f16` and `half::bf16`, with BigDL's arithmetic,
//! an opt-in generator that reproduces BigDL's random numbers bit for bit, and a default
//! counter-based generator (Philox4x32-10) whose masks are a pure function of
//! `(seed, draw, element)`.
//!
//! | layer | training forward | training backward | evaluation |
//! |---|---|---|---|
//! | [`Dropout`]`(p, inplace, scale)` | `x / T(1-p)` kept, `0` dropped | `g * T(1/(1-p))` kept, `0` dropped | identity (`x * T(1-p)` without scale) |
//! | [`GaussianDropout`]`(rate)` | `x * n`, `n ~ N(1, rate/(1-rate))` | `g * n`, same `n` | identity |
//! | [`GaussianNoise`]`(stddev)` | `x + e`, `e ~ N(0, stddev^2)` | identity | identity |
//! | [`SpatialDropout1D`]`(p)` | per (N, C) map: `x` kept, `0` dropped | `g * m` | `x * T(1-p)` |
//! | [`SpatialDropout2D`]`(p, format)` | as 1D, maps of (H, W) | `g * m` | `x * T(1-p)` |
//! | [`SpatialDropout3D`]`(p, format)` | as 1D, maps of (D, H, W) | `g * m` | `x * T(1-p)` |
//! | [`AlphaDropout`]`(p)` | `T(a) * x + T(b)` kept, `T(a alpha' + b)` dropped | `g * T(a)` kept, `0` dropped | identity |
//! | [`FeatureAlphaDropout`]`(p, format)` | as AlphaDropout, one draw per (N, C) map | `g * T(a) * m` | identity |
//!
//! AlphaDropout's `a = ((1-p)(1 + p alpha'^2))^(-1/2)`, `b = -a alpha' p`, `alpha' =
//! -1.7580993408473766` (PyTorch's and Keras's, for SELU networks); `p = 1` gives zeros.
//!
//! `T(v)` is `v` rounded to the element type. The Spatial layers take `with_scale(true)` for
//! the Keras/PyTorch convention (`x / T(1-p)` in training, identity in evaluation).
//!
//! # Element types
//! [`Element`] is `f32`, `f64` (BigDL's Float and Double), and the half-precision
//! [`half::f16`] and [`half::bf16`] (the `half` crate, re-exported as [`half`]). A
//! half-precision layer computes in `f32` and rounds once: its output, forward or backward, in
//! either mode, is bit for bit the `f32` layer's output on the same values widened to `f32`,
//! rounded to nearest (ties to even) to the half type. Its `T(v)` is `v` rounded to `f32`,
//! and its masks and noise are the `f32` layer's for the same seed and draw. On the CPU, the
//! half types run the `f32` kernels on cache-resident blocks widened to `f32` (F16C
//! conversions for `f16` where the CPU has them). The CUDA backend takes all four: its half
//! kernels store 2 bytes an element, compute in `f32` with `f32` constants and round once
//! (integer conversions with the `half` crate's bits), so a device result is the CPU's.
//!
//! # Example
//! ```
//! use dropkit::{Dropout, GeneratorKind, Module};
//! use ndarray::array;
//! let mut layer = Dropout::new(0.5)?;
//! layer.set_seed(100, GeneratorKind::BigDl); // BigDL's RNG.setSeed(100)
//! let x = array![[1.0f32, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]];
//! let y = layer.forward(&x)?;
//! let g = layer.backward(&x, &x.mapv(|v| v * 0.5))?;
//! assert_eq!(y.mapv(|v| v * 0.5), g); // the same mask: kept g = 0.5 x * 2 = y / 2
//! # Ok::<(), dropkit::Error>(())
//! ```
//!
//! # Modules and trait objects
//! Every layer implements [`Module`] (BigDL's module API; generic over the [`Element`] type
//! per call,
//! and sealed: only dropkit's layers implement it). For a model of mixed layers use the
//! trait object [`Layer`]: `Vec<Box<dyn Layer<f32>>>` (every `Module` is a `Layer<T>`).
//! Each layer's forward and backward are written once, over a crate-private backend that
//! the CPU kernels and the CUDA kernels implement, so host and device calls share one
//! semantics and one draw sequence.
//!
//! A layer differentiates its last forward, as in BigDL. [`functional`] has every layer's
//! forward and backward as pure functions of `(seed, draw)`, for a layer applied several
//! times before backward.
//!
//! # Reproducibility
//! - Philox (default): the key is the 64-bit seed; each training forward is one draw `d`;
//!   element `i` (row-major over the whole tensor, or over the `(N, C)` mask of a Spatial
//!   layer) uses word `i % 4` of `philox4x32_10((lo(i/4), hi(i/4), lo(d), hi(d)), seed)`, and
//!   is kept iff that word is `>= round(p * 2^32)`. Normals: see [`rng::normal`].
//! - BigDL ([`GeneratorKind::BigDl`]): BigDL's MT19937 stream, consumed row-major on one
//!   thread; see [`rng::BigDlStream`].
//! - Layers draw from the process default ([`set_seed`]) unless given a seed
//!   ([`Module::set_seed`]); each training forward takes the next draw index atomically.
//!   [`Module::generator_state`] / [`Module::set_generator_state`] read and replay positions
//!   (a BigDL position at any word count in milliseconds, by MT19937 jump-ahead: see
//!   [`rng::BigDlStream::at_position`]).
//! - Data-parallel ranks: [`rank_seed`]`(seed, rank)` is rank `rank`'s Philox seed,
//!   `seed XOR mix(rank)` with a bijective 64-bit `mix` (SplitMix64's finalizer of
//!   `rank * 0x9E3779B97F4A7C15`, written out in its docs). For one
//!   `seed`, distinct ranks get distinct Philox keys, so they never evaluate Philox on the
//!   same `(counter, key)` and never share a `(key, draw)` pair or a mask; rank 0 keeps
//!   `seed`, and every rank replays from `(seed, rank)`.
//! - Empty tensors, every layer: a training forward on an empty tensor takes its one draw like
//!   any other (a Philox layer's draw index advances by one, so the draws never depend on the
//!   sizes of the inputs) and costs nothing else: no mask is built, not even a Spatial
//!   layer's `(N, C)` one, and BigDL's stream, which advances one word per mask element,
//!   advances by none. `backward` then differentiates that forward (an empty gradient).
//!
//! # Memory
//! Between forward and backward, Dropout keeps 1 bit per element ([`MaskStorage::Bits`],
//! the default) or only its draw, 16 bytes ([`MaskStorage::Regenerate`]); Spatial layers keep
//! 1 bit per (sample, channel); AlphaDropout keeps 1 bit per element and
//! FeatureAlphaDropout 1 bit per (sample, channel); a Dropout with a noise shape (Keras's
//! `noise_shape`, [`Dropout::with_noise_shape`]) keeps 1 bit per noise-shape element;
//! Gaussian layers keep only the draw and regenerate the noise (GaussianDropout keeps it
//! when built with `with_stored_noise(true)` and no noise shape).
//! With the BigDL generator, a regenerating layer keeps the stream's state (about 2.5 KiB).
//!
//! # Sizes
//! - Shape arithmetic is checked in every build, not only where debug assertions are on: a
//!   shape whose non-zero dimensions multiply past `usize::MAX` is [`Error::ShapeOverflow`]
//!   (even when another dimension is 0, the rule numpy and ndarray follow), never a panic or
//!   a wrapped count.
//! - Every buffer whose size comes from the input (outputs, row-major copies of strided
//!   arrays, keep masks, kept noise, host copies of device data) is allocated fallibly: a size
//!   the allocator refuses, or whose byte count does not fit one allocation, is
//!   [`Error::OutOfMemory`] naming the buffer and its bytes, not an abort of the process. (A
//!   zero-stride view, such as numpy's `broadcast_to`, can be any size at no cost; its output
//!   cannot.)
//! - An empty tensor costs nothing but its draw (see Reproducibility).
//!
//! # Performance
//! The element loops run one fused pass per call: AVX-512 (F, BW, DQ, VL) or AVX2 + FMA + BMI2
//! kernels chosen once per call at run time, a portable scalar path elsewhere
//! (`DROPKIT_KERNEL=avx512|avx2|portable` forces one the CPU has), all bit-identical to the
//! scalar reference. Tensors of 256 Ki elements or more are cut into fixed 64 Ki-element chunks
//! on a thread pool ([`set_num_threads`]: 1 to [`MAX_THREADS`], default: `RAYON_NUM_THREADS` or
//! all cores); chunk boundaries never depend on the thread count, so neither do results. A
//! forked child process builds a pool of its own at its first parallel call. Outputs of 16 MiB or more
//! are written with non-temporal stores, and freshly allocated outputs of 4 MiB or more are
//! advised as transparent huge pages. A strided input is gathered into the output buffer and
//! processed there in place, so `forward` allocates nothing but its output; `forward_into` and
//! `backward_into` allocate nothing when both arrays are in standard layout.
//!
//! # CUDA
//! With the `cuda` feature, [`cuda::CudaModule`] runs every layer on [`cuda::DeviceTensor`]s
//! (`f32`, `f64`) with masks and noise bit-identical to the CPU's for the same seed and draw;
//! at run time only the NVIDIA driver is needed. Without the feature the same API exists and
//! returns [`Error::CudaUnavailable`]. See [`cuda`].
//!
//! # Saving
//! Every layer is `Display` (its options, seed and generator, and mode, on one line) and
//! lists its constructor options through [`LayerOptions`]. With the `serde` feature every
//! layer is `Serialize` / `Deserialize`: its options, its mode and its generator position
//! (`null` for the process default). Deserializing validates through the constructors and
//! [`Generator::from_state`]. The last forward is not saved: a deserialized layer's backward
//! is that of a layer before any forward.
//!
//! # Deviations from BigDL
//! - Backward in evaluation mode returns the gradient of the evaluation forward (BigDL throws).
//! - GaussianDropout's backward uses the forward's noise (BigDL draws fresh noise).
//! - GaussianDropout(0) is the identity (BigDL fails at the first forward).
//! - Spatial layers check the rank in both modes, and set dropped maps to 0 (BigDL multiplies,
//!   so NaN and Inf inputs stay NaN there).
//! - Dropout(p = 1) with the BigDL generator drops every element (BigDL keeps an element whose
//!   word is 0, and divides it by 0).
//! - `backward` differentiates the last forward, whatever the mode is now.
//! - A Spatial layer draws no mask for an empty input (BigDL still draws its `N * C` mask
//!   when the feature maps are empty, which for a large `N * C` costs time and memory for
//!   nothing).

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod alloc;
mod arrays;
mod backend;
#[cfg(feature = "cuda")]
#[allow(unsafe_code)] // the CUDA launches and device buffers: every block has a SAFETY line
pub mod cuda;
#[cfg(not(feature = "cuda"))]
#[path = "cuda/stub.rs"]
pub mod cuda;
pub mod element;
pub mod error;
pub mod functional;
mod kernels;
pub mod layers;
pub mod mask;
pub mod module;
mod ops;
mod parallel;
pub mod rng;

pub use element::Element;
pub use error::{Error, Result};
/// The `half` crate, whose `f16` and `bf16` are element types.
pub use half;
pub use layers::{
    AlphaDropout, DataFormat, Dropout, FeatureAlphaDropout, GaussianDropout, GaussianNoise,
    LayerOptions, OptionValue, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};
pub use mask::{BitMask, MaskStorage};
pub use module::{Layer, Module};
pub use ops::FlatIo;
pub use parallel::{num_threads, set_num_threads, MAX_THREADS};
pub use rng::{rank_seed, set_seed, Generator, GeneratorKind, GeneratorState};
