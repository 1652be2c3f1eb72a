//! The half-precision element types (`half::f16`, `half::bf16`) on the CPU. They compute in
//! `f32` and round once. The AVX-512 kernels of Dropout, stored element-wise masks, stored
//! masks under a channel map, noise, scale and multiply (and the AVX2 ones of Dropout, both
//! kinds of stored masks and noise for `f16`, where the CPU has F16C) do that in registers:
//! they load 2-byte elements, widen them, run the `f32` bodies' operations and round before
//! they store (see `avx2.rs` and `avx512/element.rs`). Every other kernel, and every kernel on the
//! other paths (the portable one, `bf16` on AVX2), runs on blocks ([`blocks`]): a chunk is
//! cut into cache-resident blocks ([`BLOCK`] elements, a multiple of 64 so a block owns whole
//! mask words), each block is widened into
//! an `f32` scratch, the `f32` kernel of the path runs on the scratch in place with the
//! block's first element index (a mask or a noise value is a pure function of the element
//! index, so it is the `f32` layer's), and the block is rounded back to the half type.
//!
//! The conversions: the scalar ones of the `half` crate ([`Element::widen`] and
//! [`Element::narrow`]) are the oracle. The fast ones are F16C's (`vcvtph2ps` / `vcvtps2ph`,
//! round to nearest even) for `f16` on any SIMD path of a CPU that has F16C, and integer
//! operations for `bf16` (the high half of the `f32` bits, rounded to nearest even; a NaN
//! stays a NaN and comes back quiet), each tested bit for bit against the oracle.

use half::{bf16, f16};

use super::table::{KernelTable, Kernels};
use super::{Chunk, Path};
use crate::ops::{Kept, MaskMap, NoiseOp};
use crate::Element;

/// Elements per block: 4096 (16 KiB of `f32` scratch, 8 KiB of half input), so a block and
/// its scratch stay in L1.
pub(crate) const BLOCK: usize = 4096;

/// A half-precision type's conversions to and from `f32` over slices, resolved per call for
/// an instruction set.
pub(crate) trait HalfConvert: Element<Compute = f32> {
    /// Widens `src` into `dst` (equal lengths), exactly.
    fn widen_slice(path: Path, src: &[Self], dst: &mut [f32]);

    /// Rounds `src` into `dst` (equal lengths), to nearest with ties to even.
    fn round_slice(path: Path, src: &[f32], dst: &mut [Self]);
}

/// Runs `f(first element, block)` over the chunk `c`, whose first element is element `start`
/// of the tensor, one [`BLOCK`] at a time: the block widened into an `f32` scratch (the
/// block `f` gets is that scratch, in place), then rounded into the chunk's output.
///
/// # Safety
/// As [`Chunk::io`] for `c`.
pub(crate) unsafe fn in_blocks<T: HalfConvert>(
    path: Path,
    c: Chunk<T>,
    start: usize,
    mut f: impl FnMut(usize, Chunk<f32>),
) {
    let mut scratch = [0.0f32; BLOCK];
    let mut done = 0;
    while done < c.len {
        let n = BLOCK.min(c.len - done);
        let block = c.sub(done, n);
        let buf = &mut scratch[..n];
        {
            // SAFETY: the caller's contract: `src` is valid for reads of the chunk. In
            // place, this shared slice ends before the output slice below is made.
            let src = unsafe { std::slice::from_raw_parts(block.src, n) };
            T::widen_slice(path, src, buf);
        }
        let ptr = buf.as_mut_ptr();
        f(
            start + done,
            Chunk {
                src: ptr,
                dst: ptr,
                len: n,
            },
        );
        // SAFETY: the caller's contract: `dst` is valid for writes of the chunk and nothing
        // else accesses it (the input slice above is no longer used).
        let dst = unsafe { std::slice::from_raw_parts_mut(block.dst, n) };
        T::round_slice(path, &scratch[..n], dst);
        done += n;
    }
}

/// A [`Path`] as a type: the block kernels of a path are functions (table entries) of their
/// own.
trait OnPath {
    const PATH: Path;
}

/// [`Path::Portable`] as a type.
#[derive(Debug)]
struct OnPortable;
impl OnPath for OnPortable {
    const PATH: Path = Path::Portable;
}

/// [`Path::Avx2`] as a type.
#[cfg(target_arch = "x86_64")]
#[derive(Debug)]
struct OnAvx2;
#[cfg(target_arch = "x86_64")]
impl OnPath for OnAvx2 {
    const PATH: Path = Path::Avx2;
}

/// [`Path::Avx512`] as a type.
#[cfg(target_arch = "x86_64")]
#[derive(Debug)]
struct OnAvx512;
#[cfg(target_arch = "x86_64")]
impl OnPath for OnAvx512 {
    const PATH: Path = Path::Avx512;
}

/// The kernels of a half type that run the `f32` kernels of `path` on blocks
/// ([`in_blocks`]); the conversions are the fast ones where `path` has them.
pub(crate) fn blocks<T: HalfConvert>(path: Path) -> Kernels<T> {
    match path {
        Path::Portable => blocks_on::<T, OnPortable>(),
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => blocks_on::<T, OnAvx2>(),
        #[cfg(target_arch = "x86_64")]
        Path::Avx512 => blocks_on::<T, OnAvx512>(),
    }
}

/// [`blocks`] of the path `P`.
fn blocks_on<T: HalfConvert, P: OnPath>() -> Kernels<T> {
    Kernels {
        dropout: dropout_blocks::<T, P>,
        apply_bits: apply_bits_blocks::<T, P>,
        apply_mask: apply_mask_blocks::<T, P>,
        noise: noise_blocks::<T, P>,
        scale: scale_blocks::<T, P>,
        multiply: multiply_blocks::<T, P>,
    }
}

/// The `f32` kernels the blocks of path `P` run (they write the scratch, so they never
/// stream).
fn f32_kernels<P: OnPath>() -> Kernels<f32> {
    f32::kernels(P::PATH, false)
}

/// Dropout on blocks: the `f32` kernel on each block, with the block's first element and its
/// mask words.
///
/// # Safety
/// As [`super::portable::dropout`] (on the chunk as stored); the CPU has `P`'s features.
unsafe fn dropout_blocks<T: HalfConvert, P: OnPath>(
    c: Chunk<T>,
    start: u64,
    seed: u64,
    draw: u64,
    threshold: u64,
    kept: Kept<f32>,
    bits: *mut u64,
) {
    let dropout = f32_kernels::<P>().dropout;
    let first = start as usize;
    // SAFETY: the caller's contract; each block is the scratch, valid for its length, and
    // its mask words are the chunk's from its own first word on.
    unsafe {
        in_blocks(P::PATH, c, first, |at, b| {
            // A block starts `at - first` elements (a multiple of 64) into the chunk.
            let words = if bits.is_null() {
                bits
            } else {
                bits.wrapping_add((at - first) / 64)
            };
            dropout(b, at as u64, seed, draw, threshold, kept, words)
        })
    }
}

/// A stored element-wise mask on blocks.
///
/// # Safety
/// As [`super::portable::apply_mask`]; `start` a multiple of 64; the CPU has `P`'s features.
unsafe fn apply_bits_blocks<T: HalfConvert, P: OnPath>(
    c: Chunk<T>,
    start: usize,
    mask: &[u64],
    kept: Kept<f32>,
) {
    let apply = f32_kernels::<P>().apply_bits;
    // SAFETY: the caller's contract; each block is the scratch, valid for its length.
    unsafe { in_blocks(P::PATH, c, start, |at, b| apply(b, at, mask, kept)) }
}

/// A stored mask under any map on blocks.
///
/// # Safety
/// As [`super::portable::apply_mask`]; the CPU has `P`'s features.
unsafe fn apply_mask_blocks<T: HalfConvert, P: OnPath>(
    c: Chunk<T>,
    start: usize,
    mask: &[u64],
    map: MaskMap,
    kept: Kept<f32>,
) {
    let apply = f32_kernels::<P>().apply_mask;
    // SAFETY: the caller's contract; each block is the scratch, valid for its length.
    unsafe { in_blocks(P::PATH, c, start, |at, b| apply(b, at, mask, map, kept)) }
}

/// Gaussian noise on blocks.
///
/// # Safety
/// As [`super::portable::noise`]; the CPU has `P`'s features.
unsafe fn noise_blocks<T: HalfConvert, P: OnPath>(
    c: Chunk<T>,
    start: u64,
    seed: u64,
    draw: u64,
    mean: f32,
    stddev: f32,
    op: NoiseOp,
) {
    let noise = f32_kernels::<P>().noise;
    // SAFETY: the caller's contract; each block is the scratch, valid for its length.
    unsafe {
        in_blocks(P::PATH, c, start as usize, |at, b| {
            noise(b, at as u64, seed, draw, mean, stddev, op)
        })
    }
}

/// `x * factor` or a copy (which still widens and rounds, so a NaN comes back quiet) on
/// blocks.
///
/// # Safety
/// As [`super::portable::scale`]; the CPU has `P`'s features.
unsafe fn scale_blocks<T: HalfConvert, P: OnPath>(c: Chunk<T>, factor: Option<f32>) {
    let scale = f32_kernels::<P>().scale;
    // SAFETY: the caller's contract; each block is the scratch, valid for its length.
    unsafe { in_blocks(P::PATH, c, 0, |_, b| scale(b, factor)) }
}

/// `x * factors` on blocks, each block with its own factors.
///
/// # Safety
/// As [`super::portable::multiply`]; the CPU has `P`'s features.
unsafe fn multiply_blocks<T: HalfConvert, P: OnPath>(c: Chunk<T>, factors: &[f32]) {
    assert_eq!(factors.len(), c.len, "one factor per element");
    let multiply = f32_kernels::<P>().multiply;
    // SAFETY: the caller's contract; each block is the scratch, valid for its length, and
    // gets the factors of its elements.
    unsafe { in_blocks(P::PATH, c, 0, |at, b| multiply(b, &factors[at..at + b.len])) }
}

/// Whether this CPU converts `f16` with F16C (with AVX, which its 256-bit forms need).
#[cfg(target_arch = "x86_64")]
pub(crate) fn has_f16c() -> bool {
    use std::sync::OnceLock;
    static F16C: OnceLock<bool> = OnceLock::new();
    *F16C.get_or_init(|| {
        std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("avx")
    })
}

/// Whether `f16` conversions on `path` use F16C: on a SIMD path, where the CPU has it (the
/// portable path stays scalar, as for the `f32` kernels).
#[cfg(target_arch = "x86_64")]
fn use_f16c(path: Path) -> bool {
    path != Path::Portable && has_f16c()
}

impl HalfConvert for f16 {
    fn widen_slice(path: Path, src: &[f16], dst: &mut [f32]) {
        assert_eq!(src.len(), dst.len());
        #[cfg(target_arch = "x86_64")]
        if use_f16c(path) {
            // SAFETY: `use_f16c` detected F16C and AVX on this CPU.
            return unsafe { f16c::widen(src, dst) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = path;
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s.widen();
        }
    }

    fn round_slice(path: Path, src: &[f32], dst: &mut [f16]) {
        assert_eq!(src.len(), dst.len());
        #[cfg(target_arch = "x86_64")]
        if use_f16c(path) {
            // SAFETY: `use_f16c` detected F16C and AVX on this CPU.
            return unsafe { f16c::round(src, dst) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = path;
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = f16::narrow(s);
        }
    }
}

impl HalfConvert for bf16 {
    fn widen_slice(path: Path, src: &[bf16], dst: &mut [f32]) {
        assert_eq!(src.len(), dst.len());
        #[cfg(target_arch = "x86_64")]
        if path != Path::Portable {
            // SAFETY: a path other than the portable one is only named once the CPU was
            // detected to have AVX2 (`super::best_path`, `Path::available`).
            return unsafe { bf16_avx2::widen(src, dst) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = path;
        bf16_widen_loop(src, dst);
    }

    fn round_slice(path: Path, src: &[f32], dst: &mut [bf16]) {
        assert_eq!(src.len(), dst.len());
        #[cfg(target_arch = "x86_64")]
        if path != Path::Portable {
            // SAFETY: as in `widen_slice`.
            return unsafe { bf16_avx2::round(src, dst) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = path;
        bf16_round_loop(src, dst);
    }
}

/// [`bf16_widen`] over a slice (inlined into each instruction set's copy, which the compiler
/// vectorizes for it).
#[inline(always)]
fn bf16_widen_loop(src: &[bf16], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = bf16_widen(s.to_bits());
    }
}

/// [`bf16_round`] over a slice (as [`bf16_widen_loop`]).
#[inline(always)]
fn bf16_round_loop(src: &[f32], dst: &mut [bf16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = bf16::from_bits(bf16_round(s));
    }
}

/// The bf16 loops compiled for AVX2 (8 lanes of the same integer operations).
#[cfg(target_arch = "x86_64")]
mod bf16_avx2 {
    use half::bf16;

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn widen(src: &[bf16], dst: &mut [f32]) {
        super::bf16_widen_loop(src, dst)
    }

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn round(src: &[f32], dst: &mut [bf16]) {
        super::bf16_round_loop(src, dst)
    }
}

/// A `bf16`'s bits as an `f32`: the `f32` with those high bits (exact), a NaN made quiet
/// (as the oracle and F16C's `f16` widening do).
#[inline(always)]
fn bf16_widen(bits: u16) -> f32 {
    let w = u32::from(bits) << 16;
    let is_nan = (w & 0x7FFF_FFFF) > 0x7F80_0000;
    f32::from_bits(if is_nan { w | 0x0040_0000 } else { w })
}

/// The `bf16` bits of `v` rounded to nearest, ties to even; a NaN keeps its sign and high
/// payload and comes back quiet. Branch-free, so the loop over a slice vectorizes.
#[inline(always)]
fn bf16_round(v: f32) -> u16 {
    let x = v.to_bits();
    // Adding 0x7FFF plus the lowest kept bit rounds to nearest even; a carry out of the
    // mantissa moves into the exponent, which is the right result (up to infinity).
    let rounded = x.wrapping_add(0x7FFF + ((x >> 16) & 1)) >> 16;
    let nan = (x >> 16) | 0x0040;
    let is_nan = (x & 0x7FFF_FFFF) > 0x7F80_0000;
    (if is_nan { nan } else { rounded }) as u16
}

#[cfg(target_arch = "x86_64")]
mod f16c {
    use half::f16;
    use std::arch::x86_64::*;

    /// Widens with `vcvtph2ps`, eight at a time; the tail through the scalar oracle.
    ///
    /// # Safety
    /// The CPU must have F16C and AVX.
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn widen(src: &[f16], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: `i + 8 <= n` elements of both slices; unaligned loads and stores.
            unsafe {
                let h = _mm_loadu_si128(src.as_ptr().add(i).cast());
                _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
            }
            i += 8;
        }
        for k in i..n {
            dst[k] = src[k].to_f32();
        }
    }

    /// Rounds with `vcvtps2ph` (round to nearest even), eight at a time; the tail through
    /// the scalar oracle.
    ///
    /// # Safety
    /// The CPU must have F16C and AVX.
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn round(src: &[f32], dst: &mut [f16]) {
        let n = src.len().min(dst.len());
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: `i + 8 <= n` elements of both slices; unaligned loads and stores.
            unsafe {
                let v = _mm256_loadu_ps(src.as_ptr().add(i));
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
                _mm_storeu_si128(dst.as_mut_ptr().add(i).cast(), h);
            }
            i += 8;
        }
        for k in i..n {
            dst[k] = f16::from_f32(src[k]);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `f32` values that exercise rounding: every half bit pattern widened, the values
    /// halfway between neighbours (ties) and just beside them, subnormals, overflow to
    /// infinity, NaNs with payloads, and a spread of arbitrary bit patterns.
    pub(crate) fn probe_values() -> Vec<f32> {
        let mut v = Vec::new();
        for bits in 0..=u16::MAX {
            for w in [
                f16::from_bits(bits).to_f32(),
                bf16::from_bits(bits).to_f32(),
            ] {
                let b = w.to_bits();
                v.extend([
                    w,
                    f32::from_bits(b.wrapping_add(1)),
                    f32::from_bits(b.wrapping_sub(1)),
                ]);
            }
            // bf16 ties (the low 16 bits exactly half) and f16 ties (13 dropped bits).
            let hi = u32::from(bits) << 16;
            v.extend([f32::from_bits(hi | 0x8000), f32::from_bits(hi | 0x7FFF)]);
            v.extend([f32::from_bits(hi | 0x1000), f32::from_bits(hi | 0x3000)]);
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..1 << 20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(f32::from_bits(x as u32));
        }
        v.extend([
            65504.0,
            65519.99,
            65520.0,
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-8,
            5.960_464_5e-8,
            2.980_232_2e-8,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7F80_0001),
            f32::from_bits(0xFFBF_FFFF),
            -0.0,
        ]);
        v
    }

    fn check_round<T: HalfConvert>() {
        let src = probe_values();
        for path in Path::all().into_iter().filter(|p| p.available()) {
            let mut fast = vec![T::zero(); src.len()];
            T::round_slice(path, &src, &mut fast);
            for (s, f) in src.iter().zip(&fast) {
                let want = T::narrow(*s);
                assert_eq!(
                    Element::widen(*f).to_bits(),
                    Element::widen(want).to_bits(),
                    "{} rounding {s:e} ({:#x}) on {path:?}",
                    T::NAME,
                    s.to_bits()
                );
            }
        }
    }

    fn check_widen<T: HalfConvert>(from_bits: fn(u16) -> T) {
        let src: Vec<T> = (0..=u16::MAX).map(from_bits).collect();
        for path in Path::all().into_iter().filter(|p| p.available()) {
            let mut fast = vec![0.0f32; src.len()];
            T::widen_slice(path, &src, &mut fast);
            for (s, f) in src.iter().zip(&fast) {
                assert_eq!(
                    f.to_bits(),
                    s.widen().to_bits(),
                    "{} widening {s:?}",
                    T::NAME
                );
            }
        }
    }

    #[test]
    fn f16_conversions_are_the_oracles_bit_for_bit() {
        check_widen(f16::from_bits);
        check_round::<f16>();
    }

    #[test]
    fn bf16_conversions_are_the_oracles_bit_for_bit() {
        check_widen(bf16::from_bits);
        check_round::<bf16>();
    }

    #[test]
    fn the_oracle_rounds_to_nearest_even_and_keeps_nan() {
        // 1 + 2^-11 is halfway between f16's 1 and 1 + 2^-10: ties go to the even 1.
        assert_eq!(f16::narrow(1.0 + 2f32.powi(-11)), f16::ONE);
        assert_eq!(
            f16::narrow(1.0 + 3.0 * 2f32.powi(-11)).to_f32(),
            1.0 + 2f32.powi(-9)
        );
        assert_eq!(f16::narrow(65520.0), f16::INFINITY);
        assert_eq!(bf16::narrow(1.0 + 2f32.powi(-8)), bf16::ONE);
        assert_eq!(bf16::narrow(f32::MAX), bf16::INFINITY);
        assert!(bf16::narrow(f32::from_bits(0x7F80_0001)).is_nan());
        assert!(f16::narrow(f32::from_bits(0x7F80_0001)).is_nan());
    }

    #[test]
    fn blocks_see_their_first_element_and_round_once() {
        let n = 3 * BLOCK + 100;
        let src: Vec<f16> = (0..n).map(|i| f16::from_f32(i as f32 * 0.37)).collect();
        let mut dst = vec![f16::ZERO; n];
        let c = Chunk {
            src: src.as_ptr(),
            dst: dst.as_mut_ptr(),
            len: n,
        };
        let mut starts = Vec::new();
        // SAFETY: two disjoint live buffers of `n` elements.
        unsafe {
            in_blocks(super::super::best_path(), c, 640, |s, b| {
                starts.push((s, b.len));
                // SAFETY: the block is the scratch, valid for its length.
                let buf = std::slice::from_raw_parts_mut(b.dst, b.len);
                for v in buf {
                    *v *= 3.0;
                }
            })
        };
        assert_eq!(
            starts,
            vec![
                (640, BLOCK),
                (640 + BLOCK, BLOCK),
                (640 + 2 * BLOCK, BLOCK),
                (640 + 3 * BLOCK, 100)
            ]
        );
        for (s, d) in src.iter().zip(&dst) {
            assert_eq!(d.to_bits(), f16::from_f32(s.to_f32() * 3.0).to_bits());
        }
    }
}
