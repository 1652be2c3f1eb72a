//! The kernels of one element type on one path, as a table of functions that an entry point
//! resolves once per call and then runs over every chunk.
//!
//! Every element type has the portable kernels. A type with vector bodies says so through
//! [`KernelTable`]. The half-precision types have no kernels of their own: they run the `f32`
//! kernels of the path on blocks widened to `f32` ([`super::half`]).

use crate::ops::{Kept, MaskMap, NoiseOp};
use crate::Element;

#[cfg(target_arch = "x86_64")]
use super::avx2::{self, Avx2Element};
#[cfg(target_arch = "x86_64")]
use super::avx512::{self, Avx512Element};
use super::{half, portable, Chunk, Path, Plan};

/// Fused Dropout on a chunk: `(chunk, first element, seed, draw, threshold, kept, mask words
/// or null)`, as [`portable::dropout`].
pub(crate) type DropoutFn<T> = unsafe fn(Chunk<T>, u64, u64, u64, u64, Kept<T>, *mut u64);
/// A stored element-wise mask on a chunk: `(chunk, first element, mask words, kept)`, as
/// [`portable::apply_mask`] with [`MaskMap::Elementwise`].
pub(crate) type ApplyBitsFn<T> = unsafe fn(Chunk<T>, usize, &[u64], Kept<T>);
/// A stored mask under any map, as [`portable::apply_mask`].
pub(crate) type ApplyMaskFn<T> = unsafe fn(Chunk<T>, usize, &[u64], MaskMap, Kept<T>);
/// Gaussian noise on a chunk: `(chunk, first element, seed, draw, mean, stddev, op)`, as
/// [`portable::noise`].
pub(crate) type NoiseFn<T> = unsafe fn(Chunk<T>, u64, u64, u64, T, T, NoiseOp);
/// `x * factor` or a copy, as [`portable::scale`].
pub(crate) type ScaleFn<T> = unsafe fn(Chunk<T>, Option<T>);
/// `x * factors`, as [`portable::multiply`].
pub(crate) type MultiplyFn<T> = unsafe fn(Chunk<T>, &[T]);

/// The functions a call runs over its chunks, for one element type, one [`Path`] and one
/// kind of store.
///
/// # Safety of the functions
/// Each has the contract of the portable function its type names. In addition, a table
/// resolved for a path other than [`Path::Portable`] may only run on a CPU that has that
/// path's features (a [`Path`] names one only once [`super::best_path`] detected it), and a
/// table resolved with streaming stores only on chunks whose output is 16-byte aligned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kernels<T> {
    pub(crate) dropout: DropoutFn<T>,
    pub(crate) apply_bits: ApplyBitsFn<T>,
    pub(crate) apply_mask: ApplyMaskFn<T>,
    pub(crate) noise: NoiseFn<T>,
    pub(crate) scale: ScaleFn<T>,
    pub(crate) multiply: MultiplyFn<T>,
}

/// The per-type hook behind [`Kernels::resolve`]: which vector kernels an element type has.
/// Every [`Element`] implements it (it is a supertrait of `Element`'s seal).
pub(crate) trait KernelTable: Sized {
    /// This type's AVX2 kernels, with non-temporal stores when `stream`; `None` (the default)
    /// runs the portable kernels on the AVX2 path.
    #[cfg(target_arch = "x86_64")]
    fn avx2(_stream: bool) -> Option<Kernels<Self>> {
        None
    }

    /// This type's AVX-512 kernels, with non-temporal stores when `stream`; `None` (the
    /// default) runs its AVX2 kernels (or the portable ones) on the AVX-512 path.
    #[cfg(target_arch = "x86_64")]
    fn avx512(_stream: bool) -> Option<Kernels<Self>> {
        None
    }

    /// The kernels of the compute type a call on `plan` writing `out` (its whole output)
    /// runs.
    fn compute_kernels(plan: &Plan, out: &Chunk<Self>) -> Kernels<<Self as Element>::Compute>
    where
        Self: Element;

    /// Runs `f(first element, chunk)` over the chunk `c`, whose first element is element
    /// `start` of the tensor, as chunks of the compute type: `c` itself where the type is its
    /// own compute type, else blocks widened to it and rounded back once ([`half::in_blocks`]).
    ///
    /// # Safety
    /// As [`Chunk::io`] for `c`; `f` may rely on the chunks it gets being valid the same way.
    unsafe fn in_compute(
        path: Path,
        c: Chunk<Self>,
        start: usize,
        f: impl FnMut(usize, Chunk<<Self as Element>::Compute>),
    ) where
        Self: Element;
}

/// The [`KernelTable`] items of a type that is its own compute type.
macro_rules! own_compute {
    () => {
        fn compute_kernels(plan: &Plan, out: &Chunk<Self>) -> Kernels<Self> {
            plan.kernels(out)
        }

        unsafe fn in_compute(
            _path: Path,
            c: Chunk<Self>,
            start: usize,
            mut f: impl FnMut(usize, Chunk<Self>),
        ) {
            f(start, c)
        }
    };
}

/// The [`KernelTable`] of a half-precision type: the `f32` kernels of the path, on blocks in
/// an `f32` scratch that stays in cache (so their stores never stream).
macro_rules! half_table {
    ($t:ty) => {
        impl KernelTable for $t {
            fn compute_kernels(plan: &Plan, _out: &Chunk<Self>) -> Kernels<f32> {
                Kernels::resolve(plan.path, false)
            }

            unsafe fn in_compute(
                path: Path,
                c: Chunk<Self>,
                start: usize,
                f: impl FnMut(usize, Chunk<f32>),
            ) {
                // SAFETY: the caller's contract is the callee's.
                unsafe { half::in_blocks(path, c, start, f) }
            }
        }
    };
}

half_table!(::half::f16);
half_table!(::half::bf16);

impl KernelTable for f32 {
    own_compute!();

    #[cfg(target_arch = "x86_64")]
    fn avx2(stream: bool) -> Option<Kernels<f32>> {
        Some(Kernels::avx2(stream))
    }

    #[cfg(target_arch = "x86_64")]
    fn avx512(stream: bool) -> Option<Kernels<f32>> {
        Some(Kernels::avx512(stream))
    }
}

impl KernelTable for f64 {
    own_compute!();

    #[cfg(target_arch = "x86_64")]
    fn avx2(stream: bool) -> Option<Kernels<f64>> {
        Some(Kernels::avx2(stream))
    }

    #[cfg(target_arch = "x86_64")]
    fn avx512(stream: bool) -> Option<Kernels<f64>> {
        Some(Kernels::avx512(stream))
    }
}

impl<T: Element> Kernels<T> {
    /// The kernels a call on `path` runs: the path's own where `T` has them, else the
    /// portable ones. `stream` asks for non-temporal stores (kernels without them ignore it).
    pub(crate) fn resolve(path: Path, stream: bool) -> Self {
        match (path, stream) {
            (Path::Portable, _) => Self::portable(),
            #[cfg(target_arch = "x86_64")]
            (Path::Avx2, stream) => T::avx2(stream).unwrap_or_else(Self::portable),
            // The AVX-512 path implies AVX2's features.
            #[cfg(target_arch = "x86_64")]
            (Path::Avx512, stream) => T::avx512(stream)
                .or_else(|| T::avx2(stream))
                .unwrap_or_else(Self::portable),
        }
    }

    /// The scalar kernels, for any CPU.
    fn portable() -> Self {
        Kernels {
            dropout: portable::dropout::<T>,
            apply_bits: portable_apply_bits::<T>,
            apply_mask: portable::apply_mask::<T>,
            noise: portable::noise::<T>,
            scale: portable::scale::<T>,
            multiply: portable::multiply::<T>,
        }
    }
}

/// [`portable::apply_mask`] with the element-wise map.
///
/// # Safety
/// As [`portable::apply_mask`].
unsafe fn portable_apply_bits<T: Element>(c: Chunk<T>, start: usize, mask: &[u64], kept: Kept<T>) {
    // SAFETY: the caller's contract is the callee's.
    unsafe { portable::apply_mask(c, start, mask, MaskMap::Elementwise, kept) }
}

#[cfg(target_arch = "x86_64")]
impl<T: Avx2Element> Kernels<T> {
    /// The AVX2 kernels, with non-temporal stores when `stream`; the ops without an AVX2 body
    /// are the portable ones.
    fn avx2(stream: bool) -> Self {
        if stream {
            Self::avx2_stores::<true>()
        } else {
            Self::avx2_stores::<false>()
        }
    }

    /// [`Self::avx2`] with non-temporal stores when `NT`.
    fn avx2_stores<const NT: bool>() -> Self {
        Kernels {
            dropout: avx2::dropout::<T, NT>,
            apply_bits: avx2::apply_bits::<T, NT>,
            noise: avx2::noise::<T, NT>,
            ..Self::portable()
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl<T: Avx512Element> Kernels<T> {
    /// The AVX-512 kernels, with non-temporal stores when `stream`.
    fn avx512(stream: bool) -> Self {
        if stream {
            Self::avx512_stores::<true>()
        } else {
            Self::avx512_stores::<false>()
        }
    }

    /// [`Self::avx512`] with non-temporal stores when `NT`.
    fn avx512_stores<const NT: bool>() -> Self {
        Kernels {
            dropout: avx512::dropout::<T, NT>,
            apply_bits: avx512::apply_bits::<T, NT>,
            apply_mask: portable::apply_mask::<T>,
            noise: avx512::noise::<T, NT>,
            scale: avx512::scale::<T, NT>,
            multiply: avx512::multiply::<T, NT>,
        }
    }
}
