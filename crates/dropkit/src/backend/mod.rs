//! The backends a layer runs on. A layer decides *what* to compute (the mode, the draw, what
//! to keep for backward, see `layers/`); a backend runs those ops (`crate::ops`) on its
//! memory. The CPU backend is `FlatIo` (host slices, `cpu.rs`); the CUDA backend is
//! `cuda::DeviceIo` (device tensors, `backend/cuda.rs`). Both give the same bits.
//!
//! A backend is implemented by the io type of its memory, so every layer is written once,
//! generic over `B: Backend<T>`, and its CPU and CUDA entry points are the same function.

// `Backend` is nominally public (the sealed `LayerImpl` names it) but unnameable outside the
// crate, so the crate-private types in its methods are no public interface.
#![allow(private_interfaces)]

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;

use crate::error::Result;
use crate::mask::BitMask;
use crate::ops::{Kept, MaskLayout, MaskMap, Noise};
use crate::rng::Randomness;
use crate::Element;

/// The type a backend's element ops compute in and take their constants in (`f32` for the
/// half-precision element types, see [`Element::Compute`]).
pub(crate) type Compute<B> = <<B as Backend>::Elem as Element>::Compute;

/// The element ops on one backend's memory: the source and destination of one call (a copy,
/// or one buffer in place). Every op consumes the io: it is one pass over the data.
pub trait Backend: Sized {
    /// The element type of the data.
    type Elem: Element;

    /// Number of elements.
    fn len(&self) -> usize;

    /// Checks that the buffers hold `shape`'s element count.
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] naming `argument`.
    fn check(&self, layer: &'static str, argument: &'static str, shape: &[usize]) -> Result<()>;

    /// Refuses, before anything is drawn, randomness this backend cannot generate (the BigDL
    /// stream is sequential and runs on the host only).
    ///
    /// # Errors
    /// [`crate::Error::CudaUnavailable`] naming `layer`, on a backend that refuses.
    fn accepts(layer: &'static str, r: &Randomness<'_>) -> Result<()>;

    /// `x * factor`, or a copy when `factor` is `None`. Every op computes in the element
    /// type's compute type and rounds once to the element type.
    fn scale(self, factor: Option<Compute<Self>>) -> Result<()>;

    /// Element-wise Dropout with the randomness `r` at drop probability `p`: dropped elements
    /// are set to `0`, kept ones go through `kept`. Returns the keep mask when `keep` is set.
    fn dropout(
        self,
        r: &mut Randomness<'_>,
        p: f64,
        kept: Kept<Compute<Self>>,
        keep: bool,
    ) -> Result<Option<SavedMask>>;

    /// The keep mask of `len` elements (a Spatial layer's `(N, C)` mask), where this backend
    /// applies masks best.
    fn keep_bits(&self, r: &mut Randomness<'_>, len: usize, p: f64) -> Result<SavedMask>;

    /// Whether applying `mask` here is cheaper than regenerating it from its draw (it lives
    /// in this backend's memory, on this device).
    fn holds(&self, mask: &SavedMask) -> bool;

    /// Applies a keep mask through `map`: kept elements go through `kept`, dropped ones are
    /// set to `0`. A mask held elsewhere is copied over first.
    fn apply_mask(self, mask: &SavedMask, map: MaskMap, kept: Kept<Compute<Self>>) -> Result<()>;

    /// Gaussian noise (`x * e` or `x + e`). With `keep` (multiplicative noise only), a
    /// backend whose memory is the host's returns the noise values `e` (of the compute type), so backward can
    /// multiply by them instead of regenerating them.
    fn noise(
        self,
        r: &mut Randomness<'_>,
        noise: Noise,
        keep: bool,
    ) -> Result<Option<Vec<Compute<Self>>>>;

    /// Gaussian noise drawn over a noise shape of `at.len` elements (element `i` gets the
    /// value the unbroadcast noise gives element `i`) and broadcast to the data through
    /// `at.map`; nothing is kept.
    ///
    /// # Errors
    /// [`crate::Error::OutOfMemory`] (a host buffer of the noise values);
    /// [`crate::Error::Cuda`] (a device buffer of them, a launch).
    fn noise_broadcast(self, r: &mut Randomness<'_>, noise: Noise, at: MaskLayout) -> Result<()>;

    /// `x * factors`, element by element, with host-memory factors (kept noise). A backend
    /// whose memory is not the host's gives the io back untouched (`Err`): the caller then
    /// regenerates the factors from their draw.
    fn multiply(self, factors: &[Compute<Self>]) -> std::result::Result<Result<()>, Self>;
}

/// A training forward's keep mask, kept for backward where the forward made it: host bits
/// (the CPU backend) or device bits (the CUDA backend). Either backend can apply either
/// (copying it over), and prefers to regenerate a mask that lives elsewhere.
#[derive(Clone, Debug)]
pub(crate) enum SavedMask {
    /// Bits in host memory.
    Host(BitMask),
    /// Bits on a CUDA device (shared by clones of the layer); only the CUDA backend makes
    /// them.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    Device(std::sync::Arc<crate::cuda::DeviceBits>),
}

impl SavedMask {
    /// Number of mask elements.
    pub(crate) fn len(&self) -> usize {
        match self {
            SavedMask::Host(bits) => bits.len(),
            SavedMask::Device(bits) => bits.len(),
        }
    }

    /// Host heap bytes held (device bytes are not host memory).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            SavedMask::Host(bits) => bits.heap_bytes(),
            SavedMask::Device(_) => 0,
        }
    }

    /// The device bits, when the mask lives on a device.
    pub(crate) fn device(&self) -> Option<&crate::cuda::DeviceBits> {
        match self {
            SavedMask::Host(_) => None,
            SavedMask::Device(bits) => Some(bits),
        }
    }
}
