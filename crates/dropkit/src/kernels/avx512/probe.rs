//! Test access to the vector pieces, each checked against its scalar counterpart.

use std::arch::x86_64::*;

use super::element::Half16;
use super::normal::{rho16, sincos16};
use super::philox::philox16;
use crate::rng::key_of_seed;

/// Whether this CPU runs the AVX-512 path.
pub(crate) fn available() -> bool {
    super::super::Path::Avx512.available()
}

/// The words of blocks `block .. block + 16` through the vector Philox (K = 1 and, as
/// the second group of K = 4, through the interleaved one too, which must agree).
pub(crate) fn philox16_blocks(block: u64, draw: u64, seed: u64) -> [[u32; 4]; 16] {
    assert!(available());
    #[target_feature(enable = "avx512f,avx2,fma,bmi2")]
    fn run(block: u64, draw: u64, seed: u64) -> [[u32; 4]; 16] {
        let key = key_of_seed(seed);
        let mut one = [[0u32; 16]; 4];
        let mut four = [[0u32; 16]; 4];
        // SAFETY: AVX-512F is enabled; each store writes 16 u32 into a [u32; 16].
        unsafe {
            let [w] = philox16::<1>(block, draw, key);
            let [_, w4, _, _] = philox16::<4>(block.wrapping_sub(16), draw, key);
            for j in 0..4 {
                _mm512_storeu_si512(one[j].as_mut_ptr().cast(), w[j]);
                _mm512_storeu_si512(four[j].as_mut_ptr().cast(), w4[j]);
            }
        }
        assert_eq!(one, four, "interleaved groups");
        std::array::from_fn(|l| std::array::from_fn(|j| one[j][l]))
    }
    // SAFETY: the CPU has the path's features (asserted above).
    unsafe { run(block, draw, seed) }
}

/// `rho` and `(sin, cos)` of 16 words each through the vector Box-Muller pieces.
pub(crate) fn rho_sincos(w: [u32; 16]) -> ([f32; 16], [f32; 16], [f32; 16]) {
    assert!(available());
    #[target_feature(enable = "avx512f,avx2,fma,bmi2")]
    fn run(w: [u32; 16]) -> ([f32; 16], [f32; 16], [f32; 16]) {
        let (mut rho, mut sin, mut cos) = ([0f32; 16], [0f32; 16], [0f32; 16]);
        // SAFETY: AVX-512F is enabled; the load reads 16 u32, each store writes 16 f32.
        unsafe {
            let v = _mm512_loadu_si512(w.as_ptr().cast());
            let (s, c) = sincos16(v);
            _mm512_storeu_ps(rho.as_mut_ptr(), rho16(v));
            _mm512_storeu_ps(sin.as_mut_ptr(), s);
            _mm512_storeu_ps(cos.as_mut_ptr(), c);
        }
        (rho, sin, cos)
    }
    // SAFETY: the CPU has the path's features (asserted above).
    unsafe { run(w) }
}

/// `src` widened 16 elements at a time by [`Half16::load16`] (`src.len()` a multiple of 16).
pub(crate) fn widen16<T: Half16>(src: &[T]) -> Vec<f32> {
    assert!(available() && src.len().is_multiple_of(16));
    #[target_feature(enable = "avx512f,avx2,fma,bmi2")]
    fn run<T: Half16>(src: &[T], dst: &mut [f32]) {
        for (s, d) in src.chunks_exact(16).zip(dst.chunks_exact_mut(16)) {
            // SAFETY: AVX-512F is enabled; 16 elements each side.
            unsafe { _mm512_storeu_ps(d.as_mut_ptr(), T::load16(s.as_ptr())) };
        }
    }
    let mut dst = vec![0.0; src.len()];
    // SAFETY: the CPU has the path's features (asserted above).
    unsafe { run(src, &mut dst) };
    dst
}

/// `src` rounded 16 values at a time by [`Half16::round16`], as the bits of the half type
/// (`src.len()` a multiple of 16).
pub(crate) fn round16<T: Half16>(src: &[f32]) -> Vec<u16> {
    assert!(available() && src.len().is_multiple_of(16));
    #[target_feature(enable = "avx512f,avx2,fma,bmi2")]
    fn run<T: Half16>(src: &[f32], dst: &mut [u16]) {
        for (s, d) in src.chunks_exact(16).zip(dst.chunks_exact_mut(16)) {
            // SAFETY: AVX-512F is enabled; 16 elements each side.
            unsafe {
                let h = T::round16(_mm512_loadu_ps(s.as_ptr()));
                _mm256_storeu_si256(d.as_mut_ptr().cast(), h);
            }
        }
    }
    let mut dst = vec![0; src.len()];
    // SAFETY: the CPU has the path's features (asserted above).
    unsafe { run::<T>(src, &mut dst) };
    dst
}
