//! The element loops behind the layers. Layers call the functions at the bottom of this
//! file; each chooses, once per call, the instruction set ([`Path`]) and whether to split
//! the tensor over threads. Chunks are cut at fixed element offsets (multiples of 64, so a
//! chunk owns whole mask words) and every chunk knows its first element's index, which is
//! all the counter-based generator needs: results do not depend on the path or the thread
//! count. [`reference`] is the oracle the tests compare every path with.

#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
mod avx2;
mod portable;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod reference;

use std::any::TypeId;
use std::sync::OnceLock;

use crate::mask::BitMask;
use crate::ops::{FlatIo, Kept, MaskMap, NoiseOp};
use crate::parallel;
use crate::rng::{keep_threshold, Randomness};
use crate::Element;

/// A run of elements as raw pointers, so disjoint runs of one buffer can go to different
/// threads. `src == dst` means in place.
#[derive(Debug)]
pub(crate) struct Chunk<T> {
    pub(crate) src: *const T,
    pub(crate) dst: *mut T,
    pub(crate) len: usize,
}

impl<T> Clone for Chunk<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Chunk<T> {}

// SAFETY: a Chunk is only made from a FlatIo borrowed for the whole kernel call, and the
// threads it is split over write disjoint ranges of `dst`.
unsafe impl<T: Send> Send for Chunk<T> {}
// SAFETY: as above; shared access only reads `src` or hands out disjoint sub-chunks.
unsafe impl<T: Sync> Sync for Chunk<T> {}

impl<T: 'static> Chunk<T> {
    fn of(io: FlatIo<'_, T>) -> Self {
        match io {
            FlatIo::Copy { src, dst } => {
                assert_eq!(src.len(), dst.len(), "FlatIo::Copy needs equal lengths");
                Chunk {
                    src: src.as_ptr(),
                    dst: dst.as_mut_ptr(),
                    len: dst.len(),
                }
            }
            FlatIo::InPlace(buf) => Chunk {
                src: buf.as_ptr(),
                dst: buf.as_mut_ptr(),
                len: buf.len(),
            },
        }
    }

    /// Elements `start .. start + len` (within bounds).
    pub(crate) fn sub(self, start: usize, len: usize) -> Self {
        assert!(start + len <= self.len);
        Chunk {
            src: self.src.wrapping_add(start),
            dst: self.dst.wrapping_add(start),
            len,
        }
    }

    /// Elements from `start` to the end.
    pub(crate) fn offset(self, start: usize) -> Self {
        self.sub(start, self.len - start)
    }

    /// The same chunk typed as `U`, when `U` is `T`.
    #[cfg(target_arch = "x86_64")]
    fn cast<U: 'static>(self) -> Option<Chunk<U>> {
        (TypeId::of::<T>() == TypeId::of::<U>()).then(|| Chunk {
            src: self.src.cast(),
            dst: self.dst.cast(),
            len: self.len,
        })
    }
}

/// A mask word pointer that chunks on several threads write disjoint words through.
#[derive(Clone, Copy)]
struct BitsPtr(*mut u64);
// SAFETY: each chunk writes only the words of its own (64-aligned) element range.
unsafe impl Send for BitsPtr {}
// SAFETY: as above.
unsafe impl Sync for BitsPtr {}

impl BitsPtr {
    fn at(self, word: usize) -> *mut u64 {
        if self.0.is_null() {
            self.0
        } else {
            self.0.wrapping_add(word)
        }
    }
}

/// The instruction set a kernel runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// Scalar Rust, any CPU.
    Portable,
    /// AVX2 + FMA + BMI2 (x86-64).
    Avx2,
}

/// The best path this CPU has (detected once). `DROPKIT_KERNEL=portable` forces the scalar
/// path (for benchmarks).
pub(crate) fn best_path() -> Path {
    static BEST: OnceLock<Path> = OnceLock::new();
    *BEST.get_or_init(|| {
        if std::env::var("DROPKIT_KERNEL").is_ok_and(|v| v.eq_ignore_ascii_case("portable")) {
            return Path::Portable;
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("bmi2")
        {
            return Path::Avx2;
        }
        Path::Portable
    })
}

/// How a call runs: instruction set, chunk size (a multiple of 64) and the size from which
/// it is split over threads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub(crate) path: Path,
    pub(crate) chunk: usize,
    pub(crate) min_parallel: usize,
    /// Output bytes from which stores are non-temporal.
    pub(crate) stream_from: usize,
}

/// Outputs from this size on are written with non-temporal stores on the AVX2 path: they
/// cannot stay in cache anyway, and skipping the read for ownership saves a third of the
/// traffic (glibc's `memcpy`, the copy baseline, does the same for large copies).
const NON_TEMPORAL_FROM: usize = 16 << 20;

/// Whether a kernel writing `c` should stream its stores (large, 16-byte aligned output).
#[cfg(target_arch = "x86_64")]
fn streaming<T>(plan: &Plan, c: &Chunk<T>) -> bool {
    c.len * std::mem::size_of::<T>() >= plan.stream_from && c.dst as usize % 16 == 0
}

/// Elements per thread task: 64 Ki elements (256 KiB of f32) keeps tasks in L2 and many
/// enough to balance two or more threads.
const CHUNK: usize = 1 << 16;
/// Below this, one thread: a fork-join costs about 25-30 us here (PERF.md), which a compute
/// kernel on 256 Ki elements (about 100 us on one core) can pay back.
const MIN_PARALLEL: usize = 1 << 18;

impl Plan {
    pub(crate) fn best() -> Self {
        Plan {
            path: best_path(),
            chunk: CHUNK,
            min_parallel: MIN_PARALLEL,
            stream_from: NON_TEMPORAL_FROM,
        }
    }

    /// Runs `f(first element, chunk)` over `c`, on one thread or on the pool.
    fn run<T: Send + Sync + 'static>(
        &self,
        c: Chunk<T>,
        f: impl Fn(usize, Chunk<T>) + Sync + Send,
    ) {
        debug_assert!(self.chunk % 64 == 0 && self.chunk > 0);
        if c.len < self.min_parallel || parallel::num_threads() == 1 {
            f(0, c);
            return;
        }
        let chunks = c.len.div_ceil(self.chunk);
        parallel::for_each_chunk(chunks, |k| {
            let start = k * self.chunk;
            f(start, c.sub(start, self.chunk.min(c.len - start)));
        });
    }
}

/// Calls `avx2::$kernel::<U, NT>` with `U` the chunk's element type (f32 or f64) and `NT`
/// the streaming choice, and returns from the enclosing closure; falls through otherwise.
#[cfg(target_arch = "x86_64")]
macro_rules! avx2_kernel {
    ($nt:expr, $chunk:expr, $kernel:ident($($arg:expr),* $(,)?)) => {{
        if let Some(c) = $chunk.cast::<f32>() {
            return match $nt {
                true => avx2::$kernel::<f32, true>(c, $($arg),*),
                false => avx2::$kernel::<f32, false>(c, $($arg),*),
            };
        }
        if let Some(c) = $chunk.cast::<f64>() {
            return match $nt {
                true => avx2::$kernel::<f64, true>(c, $($arg),*),
                false => avx2::$kernel::<f64, false>(c, $($arg),*),
            };
        }
    }};
}

/// `x * factor` or a copy.
pub(crate) fn scale<T: Element>(io: FlatIo<'_, T>, factor: Option<T>) {
    scale_with(Plan::best(), io, factor)
}

pub(crate) fn scale_with<T: Element>(plan: Plan, io: FlatIo<'_, T>, factor: Option<T>) {
    let factor = factor.filter(|&f| f != T::one());
    // SAFETY: every chunk is a disjoint sub-range of the io.
    plan.run(Chunk::of(io), |_, c| unsafe { portable::scale(c, factor) });
}

/// `x * factors`, element by element (stored Gaussian noise).
pub(crate) fn multiply<T: Element>(io: FlatIo<'_, T>, factors: &[T]) {
    assert_eq!(io.len(), factors.len(), "one factor per element");
    let plan = Plan::best();
    // SAFETY: every chunk is a disjoint sub-range of the io; `factors` covers it.
    plan.run(Chunk::of(io), |start, c| unsafe {
        portable::multiply(c, &factors[start..start + c.len])
    });
}

/// The keep mask of `len` elements at drop probability `p` (Spatial layers: a small mask).
pub(crate) fn keep_bits(r: &mut Randomness<'_>, len: usize, p: f64) -> BitMask {
    reference::keep_bits(r, len, p)
}

/// Applies a stored mask.
pub(crate) fn apply_mask<T: Element>(
    io: FlatIo<'_, T>,
    mask: &BitMask,
    map: MaskMap,
    kept: Kept<T>,
) {
    apply_mask_with(Plan::best(), io, mask, map, kept)
}

pub(crate) fn apply_mask_with<T: Element>(
    plan: Plan,
    io: FlatIo<'_, T>,
    mask: &BitMask,
    map: MaskMap,
    kept: Kept<T>,
) {
    let kept = kept.simplified();
    let words = mask.words();
    let whole = Chunk::of(io);
    #[cfg(target_arch = "x86_64")]
    let nt = streaming(&plan, &whole);
    plan.run(whole, |start, c| {
        #[cfg(target_arch = "x86_64")]
        if plan.path == Path::Avx2 && map == MaskMap::Elementwise {
            // SAFETY: AVX2 was detected; the chunk starts at a multiple of 64; words cover
            // it; streaming only with a 16-byte aligned output (chunk offsets keep it).
            unsafe { avx2_kernel!(nt, c, apply_bits(start, words, kept.cast())) }
        }
        // SAFETY: a disjoint sub-range; the mask covers every element it maps to.
        unsafe { portable::apply_mask(c, start, words, map, kept) }
    });
}

/// Element-wise Dropout with fresh randomness: draws the mask, applies it, and returns it
/// when `keep` is set. A replayed draw gives the same mask (a BigDL stream replays from its
/// saved state).
pub(crate) fn dropout<T: Element>(
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    p: f64,
    kept: Kept<T>,
    keep: bool,
) -> Option<BitMask> {
    dropout_with(Plan::best(), io, r, p, kept, keep)
}

pub(crate) fn dropout_with<T: Element>(
    plan: Plan,
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    p: f64,
    kept: Kept<T>,
    keep: bool,
) -> Option<BitMask> {
    let (seed, draw) = match r {
        Randomness::Philox { seed, draw } => (*seed, *draw),
        Randomness::Stream(_) => {
            // BigDL's stream is sequential: draw the mask, then apply it on any path.
            let mask = reference::keep_bits(r, io.len(), p);
            apply_mask_with(plan, io, &mask, MaskMap::Elementwise, kept);
            return keep.then_some(mask);
        }
    };
    let kept = kept.simplified();
    let mut mask = keep.then(|| BitMask::zeros(io.len()));
    let threshold = keep_threshold(p);
    if threshold >= 1 << 32 {
        // p = 1: every element is dropped; the mask stays all zero.
        // SAFETY: a disjoint sub-range; all-zero bits are +0.0 for f32 and f64.
        plan.run(Chunk::of(io), |_, c| unsafe {
            std::ptr::write_bytes(c.dst, 0, c.len)
        });
        return mask;
    }
    let bits = BitsPtr(
        mask.as_mut()
            .map_or(std::ptr::null_mut(), |m| m.words_mut().as_mut_ptr()),
    );
    let whole = Chunk::of(io);
    #[cfg(target_arch = "x86_64")]
    let nt = streaming(&plan, &whole);
    plan.run(whole, |start, c| {
        let b = bits.at(start / 64);
        #[cfg(target_arch = "x86_64")]
        if plan.path == Path::Avx2 {
            // SAFETY: AVX2/FMA/BMI2 detected; start is a multiple of 64; the chunk's mask
            // words are its own; streaming only with a 16-byte aligned output.
            unsafe {
                avx2_kernel!(
                    nt,
                    c,
                    dropout(start as u64, seed, draw, threshold, kept.cast(), b)
                )
            }
        }
        // SAFETY: as above, scalar.
        unsafe { portable::dropout(c, start as u64, seed, draw, threshold, kept, b) }
    });
    mask
}

/// Gaussian noise: `x * (T(mean) + T(stddev) T(n))` or `x + (...)`.
pub(crate) fn noise<T: Element>(
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    mean: f64,
    stddev: f64,
    op: NoiseOp,
) {
    noise_with(Plan::best(), io, r, mean, stddev, op)
}

pub(crate) fn noise_with<T: Element>(
    plan: Plan,
    io: FlatIo<'_, T>,
    r: &mut Randomness<'_>,
    mean: f64,
    stddev: f64,
    op: NoiseOp,
) {
    let (seed, draw) = match r {
        Randomness::Philox { seed, draw } => (*seed, *draw),
        Randomness::Stream(_) => return reference::noise(io, r, mean, stddev, op),
    };
    let (m, s) = (T::from_f64(mean), T::from_f64(stddev));
    let whole = Chunk::of(io);
    #[cfg(target_arch = "x86_64")]
    let nt = streaming(&plan, &whole);
    plan.run(whole, |start, c| {
        #[cfg(target_arch = "x86_64")]
        if plan.path == Path::Avx2 {
            // SAFETY: AVX2/FMA detected; start is a multiple of 64; streaming only with a
            // 16-byte aligned output. The f64 -> element conversions are those of `m`, `s`.
            unsafe {
                avx2_kernel!(
                    nt,
                    c,
                    noise(
                        start as u64,
                        seed,
                        draw,
                        Element::from_f64(mean),
                        Element::from_f64(stddev),
                        op
                    )
                )
            }
        }
        // SAFETY: a disjoint sub-range.
        unsafe { portable::noise(c, start as u64, seed, draw, m, s, op) }
    });
}

#[cfg(test)]
mod tests {
    //! Every fast path against the reference, bit for bit, with tiny chunks and threads forced
    //! so that chunk offsets, vector bodies and scalar tails all run on small inputs.

    use super::*;

    fn paths() -> Vec<Path> {
        let mut v = vec![Path::Portable];
        if best_path() == Path::Avx2 {
            v.push(Path::Avx2);
        }
        v
    }

    fn plans() -> Vec<Plan> {
        let mut v = Vec::new();
        for path in paths() {
            for (chunk, min_parallel, stream_from) in [
                (64, 0, usize::MAX),
                (192, 0, 0),
                (1 << 16, usize::MAX, 0),
                (1 << 16, usize::MAX, usize::MAX),
            ] {
                v.push(Plan {
                    path,
                    chunk,
                    min_parallel,
                    stream_from,
                });
            }
        }
        v
    }

    const LENGTHS: [usize; 12] = [0, 1, 3, 4, 31, 32, 63, 64, 65, 200, 1000, 4099];

    fn data<T: Element>(n: usize) -> Vec<T> {
        (0..n)
            .map(|i| {
                let v = match i % 11 {
                    0 => f64::NAN,
                    1 => f64::INFINITY,
                    2 => -0.0,
                    3 => 1e-40,
                    _ => (i as f64 * 0.7137).sin() * 1e3,
                };
                T::from_f64(v)
            })
            .collect()
    }

    fn same<T: Element>(a: &[T], b: &[T]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.to_f64().unwrap().to_bits() == y.to_f64().unwrap().to_bits())
    }

    fn kepts<T: Element>() -> Vec<(f64, Kept<T>)> {
        let mut v = Vec::new();
        for p in [0.0, 0.1, 0.3, 0.5, 0.75, 0.999, 1.0] {
            v.push((p, Kept::Div(T::from_f64(1.0 - p))));
            v.push((p, Kept::Mul(T::from_f64(1.0 / (1.0 - p)))));
            v.push((p, Kept::Identity));
        }
        v
    }

    fn check_dropout<T: Element>() {
        for n in LENGTHS {
            let x = data::<T>(n);
            for (p, kept) in kepts::<T>() {
                let r = |d| Randomness::Philox {
                    seed: 0xfeed_beef_1234,
                    draw: d,
                };
                let mut want = vec![T::zero(); n];
                let want_mask = reference::keep_bits(&mut r(5), n, p);
                reference::apply_mask(
                    FlatIo::Copy {
                        src: &x,
                        dst: &mut want,
                    },
                    &want_mask,
                    MaskMap::Elementwise,
                    kept,
                );
                for plan in plans() {
                    let mut got = vec![T::one(); n];
                    let mask = dropout_with(
                        plan,
                        FlatIo::Copy {
                            src: &x,
                            dst: &mut got,
                        },
                        &mut r(5),
                        p,
                        kept,
                        true,
                    );
                    assert!(same(&got, &want), "{plan:?} n={n} p={p} {kept:?}");
                    assert_eq!(mask.as_ref(), Some(&want_mask), "{plan:?} n={n} p={p}");
                    let mut inplace = x.clone();
                    let none = dropout_with(
                        plan,
                        FlatIo::InPlace(&mut inplace),
                        &mut r(5),
                        p,
                        kept,
                        false,
                    );
                    assert!(
                        none.is_none() && same(&inplace, &want),
                        "in place {plan:?} n={n} p={p}"
                    );
                    let mut applied = vec![T::one(); n];
                    apply_mask_with(
                        plan,
                        FlatIo::Copy {
                            src: &x,
                            dst: &mut applied,
                        },
                        &want_mask,
                        MaskMap::Elementwise,
                        kept,
                    );
                    assert!(same(&applied, &want), "apply {plan:?} n={n} p={p}");
                }
            }
        }
    }

    /// Finite values over many exponents, with zeros of both signs: whole vectors of ordinary
    /// values (the other tests' data has a NaN or an infinity in most vectors).
    fn ordinary<T: Element>(n: usize, salt: u64) -> Vec<T> {
        let mut z = salt;
        (0..n)
            .map(|i| {
                z = z
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (z >> 11) as f64 / (1u64 << 53) as f64;
                let v = match i % 97 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => 2f64.powi(-100),
                    3 => -(2f64.powi(100)) * 0.999_999,
                    _ => (u - 0.5) * 2f64.powi((i % 61) as i32 - 30),
                };
                T::from_f64(v)
            })
            .collect()
    }

    fn check_division<T: Element>() {
        for p in [0.1f64, 0.3, 1.0 / 3.0, 0.7, 0.9, 0.999_99] {
            let x = ordinary::<T>(4099, p.to_bits());
            let kept = Kept::Div(T::from_f64(1.0 - p));
            let mut want = vec![T::zero(); x.len()];
            let mask =
                reference::keep_bits(&mut Randomness::Philox { seed: 9, draw: 4 }, x.len(), p);
            reference::apply_mask(
                FlatIo::Copy {
                    src: &x,
                    dst: &mut want,
                },
                &mask,
                MaskMap::Elementwise,
                kept,
            );
            for plan in plans() {
                let mut got = vec![T::zero(); x.len()];
                dropout_with(
                    plan,
                    FlatIo::Copy {
                        src: &x,
                        dst: &mut got,
                    },
                    &mut Randomness::Philox { seed: 9, draw: 4 },
                    p,
                    kept,
                    false,
                );
                assert!(same(&got, &want), "{plan:?} p={p}");
                let mut applied = vec![T::zero(); x.len()];
                apply_mask_with(
                    plan,
                    FlatIo::Copy {
                        src: &x,
                        dst: &mut applied,
                    },
                    &mask,
                    MaskMap::Elementwise,
                    kept,
                );
                assert!(same(&applied, &want), "apply {plan:?} p={p}");
            }
        }
    }

    #[test]
    fn division_paths_equal_true_division_on_ordinary_values() {
        check_division::<f32>();
        check_division::<f64>();
    }

    #[test]
    fn dropout_paths_equal_the_reference_f32() {
        check_dropout::<f32>();
    }

    #[test]
    fn dropout_paths_equal_the_reference_f64() {
        check_dropout::<f64>();
    }

    fn check_noise<T: Element>() {
        for n in LENGTHS {
            let x = data::<T>(n);
            for (mean, stddev, op) in [
                (1.0, 0.7, NoiseOp::Mul),
                (0.0, 0.2, NoiseOp::Add),
                (0.0, 3.0, NoiseOp::Add),
            ] {
                let r = || Randomness::Philox {
                    seed: 77,
                    draw: 1 << 40,
                };
                let mut want = vec![T::zero(); n];
                reference::noise(
                    FlatIo::Copy {
                        src: &x,
                        dst: &mut want,
                    },
                    &mut r(),
                    mean,
                    stddev,
                    op,
                );
                for plan in plans() {
                    let mut got = vec![T::zero(); n];
                    noise_with(
                        plan,
                        FlatIo::Copy {
                            src: &x,
                            dst: &mut got,
                        },
                        &mut r(),
                        mean,
                        stddev,
                        op,
                    );
                    assert!(same(&got, &want), "{plan:?} n={n} {op:?}");
                    let mut inplace = x.clone();
                    noise_with(
                        plan,
                        FlatIo::InPlace(&mut inplace),
                        &mut r(),
                        mean,
                        stddev,
                        op,
                    );
                    assert!(same(&inplace, &want), "in place {plan:?} n={n} {op:?}");
                }
            }
        }
    }

    #[test]
    fn noise_paths_equal_the_reference_f32() {
        check_noise::<f32>();
    }

    #[test]
    fn noise_paths_equal_the_reference_f64() {
        check_noise::<f64>();
    }

    #[test]
    fn noise_vector_path_is_exact_over_many_blocks() {
        // 2^16 blocks of normals through the vector path, compared bit for bit.
        let n = 1 << 18;
        let x = vec![0.0f32; n];
        let mut want = vec![0.0f32; n];
        let mut r = Randomness::Philox { seed: 3, draw: 9 };
        reference::noise(
            FlatIo::Copy {
                src: &x,
                dst: &mut want,
            },
            &mut r,
            0.0,
            1.0,
            NoiseOp::Add,
        );
        for plan in plans() {
            let mut got = vec![0.0f32; n];
            noise_with(
                plan,
                FlatIo::Copy {
                    src: &x,
                    dst: &mut got,
                },
                &mut r,
                0.0,
                1.0,
                NoiseOp::Add,
            );
            assert!(same(&got, &want), "{plan:?}");
        }
    }

    #[test]
    fn spatial_maps_equal_the_reference() {
        let maps = [
            (MaskMap::ChannelsFirst { inner: 7 }, 3 * 5 * 7, 15),
            (MaskMap::ChannelsFirst { inner: 1 }, 40, 40),
            (MaskMap::ChannelsFirst { inner: 300 }, 2 * 3 * 300, 6),
            (
                MaskMap::ChannelsLast {
                    channels: 5,
                    inner: 9,
                },
                4 * 9 * 5,
                20,
            ),
            (
                MaskMap::ChannelsLast {
                    channels: 1,
                    inner: 70,
                },
                3 * 70,
                3,
            ),
            (
                MaskMap::ChannelsLast {
                    channels: 130,
                    inner: 3,
                },
                2 * 3 * 130,
                260,
            ),
        ];
        for (map, n, masklen) in maps {
            let x = data::<f32>(n);
            let mask =
                reference::keep_bits(&mut Randomness::Philox { seed: 1, draw: 2 }, masklen, 0.4);
            for kept in [Kept::Identity, Kept::Div(0.6f32), Kept::Mul(1.0 / 0.6)] {
                let mut want = vec![0.0; n];
                reference::apply_mask(
                    FlatIo::Copy {
                        src: &x,
                        dst: &mut want,
                    },
                    &mask,
                    map,
                    kept,
                );
                for plan in plans() {
                    let mut got = vec![1.0; n];
                    apply_mask_with(
                        plan,
                        FlatIo::Copy {
                            src: &x,
                            dst: &mut got,
                        },
                        &mask,
                        map,
                        kept,
                    );
                    assert!(same(&got, &want), "{plan:?} {map:?}");
                }
            }
        }
    }

    #[test]
    fn scale_paths_equal_the_reference() {
        let x = data::<f64>(1000);
        for factor in [None, Some(0.3), Some(1.0)] {
            let mut want = vec![0.0; 1000];
            reference::scale(
                FlatIo::Copy {
                    src: &x,
                    dst: &mut want,
                },
                factor,
            );
            for plan in plans() {
                let mut got = vec![0.0; 1000];
                scale_with(
                    plan,
                    FlatIo::Copy {
                        src: &x,
                        dst: &mut got,
                    },
                    factor,
                );
                assert!(same(&got, &want));
                let mut inplace = x.clone();
                scale_with(plan, FlatIo::InPlace(&mut inplace), factor);
                assert!(same(&inplace, &want));
            }
        }
    }

    #[test]
    fn power_of_two_division_becomes_an_exact_multiplication() {
        assert!(matches!(Kept::Div(0.5f32).simplified(), Kept::Mul(m) if m == 2.0));
        assert!(matches!(Kept::Div(0.7f32).simplified(), Kept::Div(_)));
        assert!(matches!(Kept::Div(1.0f64).simplified(), Kept::Identity));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_philox_equals_the_block_function() {
        if best_path() != Path::Avx2 {
            eprintln!("skipped: no AVX2 on this CPU");
            return;
        }
        // Crossing 2^32 blocks exercises the carry into the counter's high word.
        for base in [0u64, 5, (1 << 32) - 3, u64::MAX - 7] {
            for lane in 0..8 {
                let want = crate::rng::block(0xabcdef, 99, base.wrapping_add(lane as u64));
                assert_eq!(
                    avx2::philox8_lane(base, 99, 0xabcdef, lane),
                    want,
                    "base {base} lane {lane}"
                );
            }
        }
    }
}
