//! The kernels of one element type on one path, as a table of functions that an entry point
//! resolves once per call and then runs over every chunk.
//!
//! Every table is typed by the element type as stored, with the constants (a kept rule, a
//! noise's mean and standard deviation, the factors) in its compute type. `f32` and `f64` have
//! portable, AVX2 and AVX-512 kernels. The half-precision types have AVX-512 bodies (and
//! `f16` AVX2 ones, where the CPU has F16C) that widen in registers, compute as the `f32`
//! bodies and round once, stored masks under a channel map included; their other kernels,
//! and all of them on the other paths, run the `f32` kernels of the path on blocks widened
//! to `f32` ([`super::half`]).

use crate::ops::{Kept, MaskMap, NoiseOp};
use crate::Element;

#[cfg(target_arch = "x86_64")]
use super::avx2::{self, Avx2Element};
#[cfg(target_arch = "x86_64")]
use super::avx512::{self, Avx512Element};
#[cfg(target_arch = "x86_64")]
use super::half::HalfConvert;
use super::{half, portable, Chunk, Path};

/// A value of `T`'s compute type.
type Compute<T> = <T as Element>::Compute;

/// Fused Dropout on a chunk: `(chunk, first element, seed, draw, threshold, kept, mask words
/// or null)`, as [`portable::dropout`].
pub(crate) type DropoutFn<T> = unsafe fn(Chunk<T>, u64, u64, u64, u64, Kept<Compute<T>>, *mut u64);
/// A stored element-wise mask on a chunk: `(chunk, first element, mask words, kept)`, as
/// [`portable::apply_mask`] with [`MaskMap::Elementwise`].
pub(crate) type ApplyBitsFn<T> = unsafe fn(Chunk<T>, usize, &[u64], Kept<Compute<T>>);
/// A stored mask under any map, as [`portable::apply_mask`].
pub(crate) type ApplyMaskFn<T> = unsafe fn(Chunk<T>, usize, &[u64], MaskMap, Kept<Compute<T>>);
/// Gaussian noise on a chunk: `(chunk, first element, seed, draw, mean, stddev, op)`, as
/// [`portable::noise`].
pub(crate) type NoiseFn<T> = unsafe fn(Chunk<T>, u64, u64, u64, Compute<T>, Compute<T>, NoiseOp);
/// `x * factor` or a copy, as [`portable::scale`].
pub(crate) type ScaleFn<T> = unsafe fn(Chunk<T>, Option<Compute<T>>);
/// `x * factors` (one factor per element of the chunk), as [`portable::multiply`].
pub(crate) type MultiplyFn<T> = unsafe fn(Chunk<T>, &[Compute<T>]);

/// The functions a call runs over its chunks, for one element type, one [`Path`] and one
/// kind of store.
///
/// # Safety of the functions
/// Each has the contract of the portable function its type names (for a half type: on the
/// chunk as stored, with the constants in `f32`). In addition, a table resolved for a path
/// other than [`Path::Portable`] may only run on a CPU that has that path's features (a
/// [`Path`] names one only once [`super::best_path`] detected it), and a table resolved with
/// streaming stores only on chunks whose output is 16-byte aligned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kernels<T: Element> {
    pub(crate) dropout: DropoutFn<T>,
    pub(crate) apply_bits: ApplyBitsFn<T>,
    pub(crate) apply_mask: ApplyMaskFn<T>,
    pub(crate) noise: NoiseFn<T>,
    pub(crate) scale: ScaleFn<T>,
    pub(crate) multiply: MultiplyFn<T>,
}

/// The per-type hook behind [`Kernels`]: which kernels an element type runs on each path.
/// Every [`Element`] implements it (it is a supertrait of `Element`'s seal).
pub(crate) trait KernelTable: Sized {
    /// This type's kernels on `path`, with non-temporal stores when `stream` (kernels without
    /// them ignore it).
    fn kernels(path: Path, stream: bool) -> Kernels<Self>
    where
        Self: Element;

    /// Runs `f(first element, chunk)` over the chunk `c`, whose first element is element
    /// `start` of the tensor, as chunks of the compute type: `c` itself where the type is its
    /// own compute type, else blocks widened to it and rounded back once ([`half::in_blocks`]).
    /// For the loops that have no kernel in the table (the broadcast of noise over a noise
    /// shape).
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

/// The portable kernels of `T` (the scalar tails of the vector kernels run these).
pub(crate) fn portable_kernels<T: Element>() -> Kernels<T> {
    T::kernels(Path::Portable, false)
}

/// The [`KernelTable`] of a type that is its own compute type, with portable, AVX2 and
/// AVX-512 kernels.
macro_rules! own_compute {
    ($t:ty) => {
        impl KernelTable for $t {
            fn kernels(path: Path, stream: bool) -> Kernels<$t> {
                match path {
                    Path::Portable => Kernels::portable(),
                    #[cfg(target_arch = "x86_64")]
                    Path::Avx2 => Kernels::avx2(stream, Kernels::portable()),
                    #[cfg(target_arch = "x86_64")]
                    Path::Avx512 => Kernels::avx512(stream, Kernels::portable()),
                }
            }

            unsafe fn in_compute(
                _path: Path,
                c: Chunk<$t>,
                start: usize,
                mut f: impl FnMut(usize, Chunk<$t>),
            ) {
                f(start, c)
            }
        }
    };
}

own_compute!(f32);
own_compute!(f64);

/// The [`KernelTable`] of a half-precision type: its vector kernels where `$vector` (a
/// closure of the path) says the CPU runs them, the other ops and paths on blocks
/// ([`half::blocks`]).
macro_rules! half_table {
    ($t:ty, $vector:expr) => {
        impl KernelTable for $t {
            fn kernels(path: Path, stream: bool) -> Kernels<$t> {
                let blocks = half::blocks(path);
                #[cfg(target_arch = "x86_64")]
                {
                    let vector: fn(Path) -> bool = $vector;
                    if vector(path) {
                        return match path {
                            Path::Avx512 => Kernels::avx512_half(stream, blocks),
                            _ => Kernels::avx2_half(stream, blocks),
                        };
                    }
                }
                blocks
            }

            unsafe fn in_compute(
                path: Path,
                c: Chunk<$t>,
                start: usize,
                f: impl FnMut(usize, Chunk<f32>),
            ) {
                // SAFETY: the caller's contract is the callee's.
                unsafe { half::in_blocks(path, c, start, f) }
            }
        }
    };
}

// f16 on AVX2 widens and rounds with F16C; AVX-512F has its own forms of those instructions.
half_table!(::half::f16, |path| match path {
    Path::Portable => false,
    #[cfg(target_arch = "x86_64")]
    Path::Avx2 => half::has_f16c(),
    #[cfg(target_arch = "x86_64")]
    Path::Avx512 => true,
});
// bf16 on AVX2 stays on blocks: its in-register kernels (`avx2::Lanes8`) measured slower there
// than the f32 kernels on blocks (GaussianDropout forward_into on 64 MiB, one thread: 49 ms
// against 39 ms), the integer rounding of 8 lanes at a time costing more than a separate pass.
half_table!(::half::bf16, |path| match path {
    #[cfg(target_arch = "x86_64")]
    Path::Avx512 => true,
    _ => false,
});

impl<T: Element<Compute = T>> Kernels<T> {
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
    /// are `rest`'s.
    fn avx2(stream: bool, rest: Self) -> Self {
        if stream {
            Self::avx2_stores::<true>(rest)
        } else {
            Self::avx2_stores::<false>(rest)
        }
    }

    /// [`Self::avx2`] with non-temporal stores when `NT`.
    fn avx2_stores<const NT: bool>(rest: Self) -> Self {
        if T::F16C {
            Kernels {
                dropout: avx2::dropout_f16c::<T, NT>,
                apply_bits: avx2::apply_bits_f16c::<T, NT>,
                noise: avx2::noise_f16c::<T, NT>,
                ..rest
            }
        } else {
            Kernels {
                dropout: avx2::dropout::<T, NT>,
                apply_bits: avx2::apply_bits::<T, NT>,
                noise: avx2::noise::<T, NT>,
                ..rest
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl<T: Avx512Element> Kernels<T> {
    /// The AVX-512 kernels, with non-temporal stores when `stream`; a stored mask under a map
    /// other than the element-wise one is `rest`'s.
    fn avx512(stream: bool, rest: Self) -> Self {
        if stream {
            Self::avx512_stores::<true>(rest)
        } else {
            Self::avx512_stores::<false>(rest)
        }
    }

    /// [`Self::avx512`] with non-temporal stores when `NT`.
    fn avx512_stores<const NT: bool>(rest: Self) -> Self {
        Kernels {
            dropout: avx512::dropout::<T, NT>,
            apply_bits: avx512::apply_bits::<T, NT>,
            noise: avx512::noise::<T, NT>,
            scale: avx512::scale::<T, NT>,
            multiply: avx512::multiply::<T, NT>,
            ..rest
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl<T: Avx512Element + HalfConvert> Kernels<T> {
    /// [`Self::avx512`] of a half type: a stored mask under a channel map also runs in
    /// registers ([`half_maps`]), the ops without an AVX-512 body are `blocks`'.
    fn avx512_half(stream: bool, blocks: Self) -> Self {
        let apply_mask = if stream {
            half_maps::<T, true>
        } else {
            half_maps::<T, false>
        };
        Kernels {
            apply_mask,
            ..Self::avx512(stream, blocks)
        }
    }
}

/// A half type's stored mask on AVX-512: under a channel map the AVX-512 kernel on the
/// elements as stored ([`avx512::apply_map`]), under any other map the blocks'.
///
/// # Safety
/// As [`portable::apply_mask`]; the CPU must have AVX-512F, AVX2, FMA and BMI2 (with `NT`, a
/// 4-byte aligned output).
#[cfg(target_arch = "x86_64")]
unsafe fn half_maps<T: Avx512Element + HalfConvert, const NT: bool>(
    c: Chunk<T>,
    start: usize,
    mask: &[u64],
    map: MaskMap,
    kept: Kept<f32>,
) {
    match map {
        MaskMap::ChannelsFirst { .. } | MaskMap::ChannelsLast { .. } => {
            // SAFETY: the caller's contract is the callee's.
            unsafe { avx512::apply_map::<T, NT>(c, start, mask, map, kept) }
        }
        _ => {
            let blocks = half::blocks::<T>(Path::Avx512).apply_mask;
            // SAFETY: the caller's contract is the callee's.
            unsafe { blocks(c, start, mask, map, kept) }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl<T: Avx2Element + HalfConvert> Kernels<T> {
    /// [`Self::avx2`] of a half type: a stored mask under a channel map also runs in
    /// registers ([`half_maps_avx2`]), the ops without an AVX2 body are `blocks`'.
    fn avx2_half(stream: bool, blocks: Self) -> Self {
        let apply_mask = if stream {
            half_maps_avx2::<T, true>
        } else {
            half_maps_avx2::<T, false>
        };
        Kernels {
            apply_mask,
            ..Self::avx2(stream, blocks)
        }
    }
}

/// A half type's stored mask on AVX2: under a channel map the AVX2 kernel on the elements as
/// stored ([`avx2::apply_map_f16c`], or [`avx2::apply_map`] for a type without F16C), under
/// any other map the blocks'.
///
/// # Safety
/// As [`portable::apply_mask`]; the CPU must have AVX2, FMA and BMI2, and F16C for a type whose
/// [`Avx2Element::F16C`] is set (with `NT`, a 16-byte aligned output).
#[cfg(target_arch = "x86_64")]
unsafe fn half_maps_avx2<T: Avx2Element + HalfConvert, const NT: bool>(
    c: Chunk<T>,
    start: usize,
    mask: &[u64],
    map: MaskMap,
    kept: Kept<f32>,
) {
    match map {
        MaskMap::ChannelsFirst { .. } | MaskMap::ChannelsLast { .. } => {
            // SAFETY: the caller's contract is the callee's (F16C where the type needs it).
            unsafe {
                if T::F16C {
                    avx2::apply_map_f16c::<T, NT>(c, start, mask, map, kept)
                } else {
                    avx2::apply_map::<T, NT>(c, start, mask, map, kept)
                }
            }
        }
        _ => {
            let blocks = half::blocks::<T>(Path::Avx2).apply_mask;
            // SAFETY: the caller's contract is the callee's.
            unsafe { blocks(c, start, mask, map, kept) }
        }
    }
}
