//! Every path against the reference, bit for bit, with tiny chunks and threads forced so that
//! chunk offsets, vector bodies and scalar tails all run on small inputs. Each check runs once
//! per path (`<check>::portable`, `::avx2`, `::avx512`); a path this CPU lacks prints
//! "skipped: no <path> on this CPU" instead of passing silently.

use super::*;
use crate::ops::{FlatIo, Kept, MaskMap, NoiseOp};
use crate::rng::Randomness;
use crate::Element;

/// The plans the checks run on `path`: tiny chunks on threads, with and without
/// non-temporal stores, and one chunk on one thread.
fn plans(path: Path) -> Vec<Plan> {
    [
        (64, 0, usize::MAX),
        (192, 0, 0),
        (1 << 16, usize::MAX, 0),
        (1 << 16, usize::MAX, usize::MAX),
    ]
    .into_iter()
    .map(|(chunk, min_parallel, stream_from)| Plan {
        path,
        chunk,
        min_parallel,
        stream_from,
    })
    .collect()
}

/// What a path is called in a skip message.
fn spelled(path: Path) -> &'static str {
    match path {
        Path::Portable => "portable",
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => "AVX2",
        #[cfg(target_arch = "x86_64")]
        Path::Avx512 => "AVX-512",
    }
}

/// Runs `check` on the plans of `path`, or says that this CPU cannot.
fn on(path: Path, check: impl Fn(&[Plan])) {
    if !path.available() {
        eprintln!("skipped: no {} on this CPU", spelled(path));
        return;
    }
    check(&plans(path));
}

/// One test per path for each `name => check` (`check` takes the path's plans).
macro_rules! on_every_path {
    ($($name:ident => $check:expr;)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn portable() {
                on(Path::Portable, $check);
            }

            #[cfg(target_arch = "x86_64")]
            #[test]
            fn avx2() {
                on(Path::Avx2, $check);
            }

            #[cfg(target_arch = "x86_64")]
            #[test]
            fn avx512() {
                on(Path::Avx512, $check);
            }
        }
    )*};
}

on_every_path! {
    dropout_f32 => check_dropout::<f32>;
    dropout_f64 => check_dropout::<f64>;
    division => |plans| {
        check_division::<f32>(plans);
        check_division::<f64>(plans);
    };
    noise_f32 => check_noise::<f32>;
    noise_f64 => check_noise::<f64>;
    noise_many_blocks => check_noise_many_blocks;
    spatial_maps => check_spatial_maps;
    noise_broadcast => |plans| {
        check_noise_broadcast::<f32>(plans);
        check_noise_broadcast::<f64>(plans);
    };
    scale => |plans| {
        check_scale::<f32>(plans);
        check_scale::<f64>(plans);
    };
    multiply => |plans| {
        check_multiply::<f32>(plans);
        check_multiply::<f64>(plans);
    };
    noise_shapes_f32 => check_noise_shapes::<f32>;
    noise_shapes_f64 => check_noise_shapes::<f64>;
    noise_shapes_f16 => check_noise_shapes::<crate::half::f16>;
    noise_shapes_bf16 => check_noise_shapes::<crate::half::bf16>;
}

const LENGTHS: [usize; 12] = [0, 1, 3, 4, 31, 32, 63, 64, 65, 200, 1000, 4099];

fn data<T: Element<Compute = T>>(n: usize) -> Vec<T> {
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

fn same<T: Element<Compute = T>>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_f64().unwrap().to_bits() == y.to_f64().unwrap().to_bits())
}

fn kepts<T: Element<Compute = T>>() -> Vec<(f64, Kept<T>)> {
    let mut v = Vec::new();
    for p in [0.0, 0.1, 0.3, 0.5, 0.75, 0.999, 1.0] {
        v.push((p, Kept::Div(T::from_f64(1.0 - p))));
        v.push((p, Kept::Mul(T::from_f64(1.0 / (1.0 - p)))));
        v.push((p, Kept::Identity));
        // AlphaDropout's rule at this p (the identity at 0 and 1), and one whose dropped
        // value is not zero at every p (p = 1 fills every element with it).
        v.push((p, crate::ops::alpha_forward_kept(p)));
        v.push((p, crate::ops::alpha_forward_kept(0.3)));
    }
    v
}

fn check_dropout<T: Element<Compute = T>>(plans: &[Plan]) {
    for n in LENGTHS {
        let x = data::<T>(n);
        for (p, kept) in kepts::<T>() {
            let r = |d| Randomness::Philox {
                seed: 0xfeed_beef_1234,
                draw: d,
            };
            let mut want = vec![T::zero(); n];
            let want_mask = reference::keep_bits(&mut r(5), n, p).unwrap();
            reference::apply_mask(
                FlatIo::Copy {
                    src: &x,
                    dst: &mut want,
                },
                &want_mask,
                MaskMap::Elementwise,
                kept,
            );
            for &plan in plans {
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
                )
                .unwrap();
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
                )
                .unwrap();
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
fn ordinary<T: Element<Compute = T>>(n: usize, salt: u64) -> Vec<T> {
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

fn check_division<T: Element<Compute = T>>(plans: &[Plan]) {
    for p in [0.1f64, 0.3, 1.0 / 3.0, 0.7, 0.9, 0.999_99] {
        let x = ordinary::<T>(4099, p.to_bits());
        let kept = Kept::Div(T::from_f64(1.0 - p));
        let mut want = vec![T::zero(); x.len()];
        let mask =
            reference::keep_bits(&mut Randomness::Philox { seed: 9, draw: 4 }, x.len(), p).unwrap();
        reference::apply_mask(
            FlatIo::Copy {
                src: &x,
                dst: &mut want,
            },
            &mask,
            MaskMap::Elementwise,
            kept,
        );
        for &plan in plans {
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
            )
            .unwrap();
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

fn check_noise<T: Element<Compute = T>>(plans: &[Plan]) {
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
            for &plan in plans {
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

fn check_noise_many_blocks(plans: &[Plan]) {
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
    for &plan in plans {
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

fn check_spatial_maps(plans: &[Plan]) {
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
        // More channels than the longest pattern built at once.
        (
            MaskMap::ChannelsLast {
                channels: 5000,
                inner: 2,
            },
            2 * 2 * 5000,
            10000,
        ),
    ];
    // General noise-shape maps, one large enough to be cut into chunks on threads.
    let broadcast = |shape: &[usize], noise: &[usize]| {
        let noise: Vec<Option<usize>> = noise.iter().map(|&e| Some(e)).collect();
        let layout = crate::ops::broadcast_layout("L", "input", shape, &noise).unwrap();
        assert!(matches!(layout.map, MaskMap::Broadcast(_)), "{shape:?}");
        (layout.map, shape.iter().product::<usize>(), layout.len)
    };
    let maps = maps.into_iter().chain([
        broadcast(&[3, 4, 5, 6], &[1, 4, 5, 1]),
        broadcast(&[2, 3, 2, 3, 2, 3], &[2, 1, 2, 1, 2, 1]),
        broadcast(&[7, 97, 3, 181], &[1, 97, 1, 181]),
    ]);
    for (map, n, masklen) in maps {
        let x = data::<f32>(n);
        let mask = reference::keep_bits(&mut Randomness::Philox { seed: 1, draw: 2 }, masklen, 0.4)
            .unwrap();
        for kept in [
            Kept::Identity,
            Kept::Div(0.6f32),
            Kept::Mul(1.0 / 0.6),
            crate::ops::alpha_forward_kept(0.4),
        ] {
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
            for &plan in plans {
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

fn check_scale<T: Element<Compute = T>>(plans: &[Plan]) {
    for n in LENGTHS.into_iter().chain([1 << 13]) {
        let x = data::<T>(n);
        for factor in [None, Some(0.3), Some(1.0)] {
            let factor = factor.map(T::from_f64);
            let mut want = vec![T::zero(); n];
            reference::scale(
                FlatIo::Copy {
                    src: &x,
                    dst: &mut want,
                },
                factor,
            );
            for &plan in plans {
                let mut got = vec![T::zero(); n];
                scale_with(
                    plan,
                    FlatIo::Copy {
                        src: &x,
                        dst: &mut got,
                    },
                    factor,
                );
                assert!(same(&got, &want), "{plan:?} n={n} {factor:?}");
                let mut inplace = x.clone();
                scale_with(plan, FlatIo::InPlace(&mut inplace), factor);
                assert!(same(&inplace, &want), "in place {plan:?} n={n} {factor:?}");
            }
        }
    }
}

fn check_multiply<T: Element<Compute = T>>(plans: &[Plan]) {
    for n in LENGTHS.into_iter().chain([1 << 13]) {
        let x = data::<T>(n);
        let factors = ordinary::<T>(n, 5);
        let want: Vec<T> = x.iter().zip(&factors).map(|(&x, &f)| x * f).collect();
        for &plan in plans {
            let mut got = vec![T::zero(); n];
            multiply_with(
                plan,
                FlatIo::Copy {
                    src: &x,
                    dst: &mut got,
                },
                &factors,
            );
            assert!(same(&got, &want), "{plan:?} n={n}");
            let mut inplace = x.clone();
            multiply_with(plan, FlatIo::InPlace(&mut inplace), &factors);
            assert!(same(&inplace, &want), "in place {plan:?} n={n}");
        }
    }
}

#[test]
fn power_of_two_division_becomes_an_exact_multiplication() {
    assert!(matches!(Kept::Div(0.5f32).simplified(), Kept::Mul(m) if m == 2.0));
    assert!(matches!(Kept::Div(0.7f32).simplified(), Kept::Div(_)));
    assert!(matches!(Kept::Div(1.0f64).simplified(), Kept::Identity));
}

#[test]
fn dropkit_kernel_forces_a_path_the_cpu_has() {
    let best = Path::all().into_iter().find(|p| p.available()).unwrap();
    assert_eq!(isa::choose(None), best);
    assert_eq!(isa::choose(Some("no such path")), best);
    assert_eq!(isa::choose(Some("Portable")), Path::Portable);
    for path in Path::all() {
        let want = if path.available() { path } else { best };
        assert_eq!(isa::choose(Some(path.name())), want, "{path:?}");
        assert_eq!(isa::choose(Some(&path.name().to_uppercase())), want);
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_philox_equals_the_block_function() {
    if !Path::Avx2.available() {
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

#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_philox_equals_the_block_function() {
    if !avx512::probe::available() {
        eprintln!("skipped: no AVX-512 on this CPU");
        return;
    }
    // Crossing 2^32 blocks exercises the carry into the counter's high word; draws with
    // both words set exercise round 0's scalar product.
    for base in [0u64, 5, (1 << 32) - 9, u64::MAX - 15, u64::MAX - 3] {
        for (seed, draw) in [(0xabcdef, 99), (u64::MAX, u64::MAX), (0, 1 << 40 | 7)] {
            let got = avx512::probe::philox16_blocks(base, draw, seed);
            for (lane, got) in got.into_iter().enumerate() {
                let want = crate::rng::block(seed, draw, base.wrapping_add(lane as u64));
                assert_eq!(got, want, "base {base} lane {lane} draw {draw}");
            }
        }
    }
}

/// Every input of the AVX-512 Box-Muller pieces against the scalar ones: all 2^24 angle
/// words (`w >> 8`) and with them all 2^23 radius words (`w >> 9`).
#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_box_muller_pieces_are_exact_on_every_input() {
    use crate::rng::normal::{ln, open_uniform, sincos_turns24};
    if !avx512::probe::available() {
        eprintln!("skipped: no AVX-512 on this CPU");
        return;
    }
    for first in (0u32..1 << 24).step_by(16) {
        // The low byte is ignored by both conversions: fill it with something.
        let w: [u32; 16] = std::array::from_fn(|l| {
            let k = first + l as u32;
            (k << 8) | (k.wrapping_mul(0x9e37_79b9) >> 24)
        });
        let (rho, sin, cos) = avx512::probe::rho_sincos(w);
        for l in 0..16 {
            let want_rho = (-2.0 * ln(open_uniform(w[l]))).sqrt();
            let (want_sin, want_cos) = sincos_turns24(w[l] >> 8);
            assert_eq!(rho[l].to_bits(), want_rho.to_bits(), "rho of {:#x}", w[l]);
            assert_eq!(sin[l].to_bits(), want_sin.to_bits(), "sin of {:#x}", w[l]);
            assert_eq!(cos[l].to_bits(), want_cos.to_bits(), "cos of {:#x}", w[l]);
        }
    }
}

/// The AVX-512 kernels with non-temporal stores on outputs at every element offset into a
/// cache line: each writes exactly its output, equal to the reference, and nothing around it.
#[cfg(target_arch = "x86_64")]
fn check_avx512_streams_at<T: Element<Compute = T> + avx512::Avx512Element>() {
    let guard = T::from_f64(12345.0);
    let lanes = 64 / std::mem::size_of::<T>();
    let (seed, draw, p) = (0x5eed, 3, 0.3);
    let kept = Kept::Div(T::from_f64(1.0 - p));
    let factor = T::from_f64(0.3);
    for n in [0, 1, 15, 16, 17, 63, 64, 65, 130, 300, 1000] {
        let x = data::<T>(n);
        let factors = ordinary::<T>(n, 11);
        let mask = reference::keep_bits(&mut Randomness::Philox { seed, draw }, n, p).unwrap();
        let mut dropped = vec![T::zero(); n];
        reference::apply_mask(
            FlatIo::Copy {
                src: &x,
                dst: &mut dropped,
            },
            &mask,
            MaskMap::Elementwise,
            kept,
        );
        let mut noisy = vec![T::zero(); n];
        reference::noise(
            FlatIo::Copy {
                src: &x,
                dst: &mut noisy,
            },
            &mut Randomness::Philox { seed, draw },
            1.0,
            0.5,
            NoiseOp::Mul,
        );
        let scaled: Vec<T> = x.iter().map(|&v| v * factor).collect();
        let multiplied: Vec<T> = x.iter().zip(&factors).map(|(&v, &f)| v * f).collect();
        for offset in 0..lanes {
            // Runs `kernel` on the output at `offset` (in place when `in_place`) and checks
            // it against `want`, and the guards around it.
            let run = |name: &str, want: &[T], in_place: bool, kernel: &mut dyn FnMut(Chunk<T>)| {
                let mut buf = vec![guard; offset + n + 2 * lanes];
                let dst = buf[offset..].as_mut_ptr();
                let src = if in_place {
                    buf[offset..offset + n].copy_from_slice(&x);
                    dst.cast_const()
                } else {
                    x.as_ptr()
                };
                kernel(Chunk { src, dst, len: n });
                let what = format!("{name} n={n} offset={offset} in place {in_place}");
                assert!(same(&buf[offset..offset + n], want), "{what}");
                assert!(buf[..offset].iter().all(|&g| g == guard), "before: {what}");
                assert!(
                    buf[offset + n..].iter().all(|&g| g == guard),
                    "after: {what}"
                );
            };
            // The kernels' contract, for every call below: the chunk is `n` elements of a
            // live buffer, read from `x` or in place; this CPU has AVX-512 (the caller
            // checked); the AVX-512 kernels take any 4-byte aligned output.
            for in_place in [false, true] {
                let mut bits = vec![0u64; n.div_ceil(64)];
                run("dropout", &dropped, in_place, &mut |c| {
                    let b = bits.as_mut_ptr();
                    let threshold = crate::rng::keep_threshold(p);
                    // SAFETY: as above; `bits` has a word per 64 elements.
                    unsafe { avx512::dropout::<T, true>(c, 0, seed, draw, threshold, kept, b) }
                });
                assert_eq!(bits, mask.words(), "mask n={n} offset={offset}");
                run("apply_bits", &dropped, in_place, &mut |c| {
                    // SAFETY: as above; the mask covers the chunk.
                    unsafe { avx512::apply_bits::<T, true>(c, 0, mask.words(), kept) }
                });
                run("noise", &noisy, in_place, &mut |c| {
                    let (m, s) = (T::one(), T::from_f64(0.5));
                    // SAFETY: as above.
                    unsafe { avx512::noise::<T, true>(c, 0, seed, draw, m, s, NoiseOp::Mul) }
                });
                run("scale", &scaled, in_place, &mut |c| {
                    // SAFETY: as above.
                    unsafe { avx512::scale::<T, true>(c, Some(factor)) }
                });
                run("copy", &x, in_place, &mut |c| {
                    // SAFETY: as above.
                    unsafe { avx512::scale::<T, true>(c, None) }
                });
                run("multiply", &multiplied, in_place, &mut |c| {
                    // SAFETY: as above; one factor per element.
                    unsafe { avx512::multiply::<T, true>(c, &factors) }
                });
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_streaming_stores_write_exactly_the_output_at_any_alignment() {
    if !avx512::probe::available() {
        eprintln!("skipped: no AVX-512 on this CPU");
        return;
    }
    check_avx512_streams_at::<f32>();
    check_avx512_streams_at::<f64>();
}

/// Noise drawn over a noise shape and broadcast (every kind of map a noise shape resolves
/// to), against the reference: the values by `reference::noise`, then
/// `reference::combine_broadcast`.
fn check_noise_broadcast<T: Element<Compute = T>>(plans: &[Plan]) {
    let cases: [(&[usize], &[Option<usize>]); 5] = [
        (&[3, 5, 7], &[None, None, None]),
        (&[3, 5, 70], &[None, None, Some(1)]),
        (&[4, 9, 5], &[None, Some(1), None]),
        (&[2, 3, 4, 65], &[Some(1), None, Some(1), None]),
        (&[6, 2, 3, 11], &[None, Some(1), None, Some(1)]),
    ];
    for (shape, noise_shape) in cases {
        let at = crate::ops::broadcast_layout("test", "noise_shape", shape, noise_shape).unwrap();
        let n: usize = shape.iter().product();
        let x = data::<T>(n);
        for (mean, stddev, op) in [(1.0, 0.7, NoiseOp::Mul), (0.0, 0.2, NoiseOp::Add)] {
            let r = || Randomness::Philox { seed: 5, draw: 9 };
            let one = match op {
                NoiseOp::Mul => T::one(),
                NoiseOp::Add => T::zero(),
            };
            let mut values = vec![one; at.len];
            reference::noise(FlatIo::InPlace(&mut values), &mut r(), mean, stddev, op);
            let mut want = x.clone();
            reference::combine_broadcast::<T>(FlatIo::InPlace(&mut want), &values, at.map, op);
            for &plan in plans {
                let mut got = vec![T::zero(); n];
                let io = FlatIo::Copy {
                    src: &x,
                    dst: &mut got,
                };
                noise_broadcast_with(plan, io, &mut r(), (mean, stddev, op), at.len, at.map)
                    .unwrap();
                assert!(
                    same(&got, &want),
                    "{plan:?} {shape:?} {noise_shape:?} {op:?}"
                );
                let mut inplace = x.clone();
                let io = FlatIo::InPlace(&mut inplace);
                noise_broadcast_with(plan, io, &mut r(), (mean, stddev, op), at.len, at.map)
                    .unwrap();
                assert!(same(&inplace, &want), "in place {plan:?} {shape:?} {op:?}");
            }
        }
    }
}

/// Keras noise shapes for the run-by-run loops, from a seeded generator: ranks 1 to 8, each
/// axis 1 to 7 long and drawn (`None`) or broadcast (`Some(1)`), at most 30,000 elements;
/// then shapes that alternate 8 groups (with and without size-1 axes between them) and two
/// whose innermost drawn group is hundreds of elements long, one whose innermost broadcast
/// group is, two with a few drawn channels under a long broadcast group. Each
/// resolves to any of the maps (element-wise, Spatial or general).
fn random_noise_shapes(count: usize, seed: u64) -> Vec<(Vec<usize>, Vec<Option<usize>>)> {
    let mut z = seed;
    let mut next = |below: u64| {
        z = z
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((z >> 33) % below) as usize
    };
    let mut shapes = Vec::new();
    while shapes.len() < count {
        // Ranks 1-6 three times in four, 7-8 otherwise.
        let rank = if next(4) < 3 {
            1 + next(6)
        } else {
            7 + next(2)
        };
        let shape: Vec<usize> = (0..rank).map(|_| 1 + next(7)).collect();
        if shape.iter().product::<usize>() > 30_000 {
            continue;
        }
        let noise = (0..rank)
            .map(|_| if next(2) == 0 { None } else { Some(1) })
            .collect();
        shapes.push((shape, noise));
    }
    let (d, b) = (None, Some(1));
    shapes.push((vec![2, 3, 2, 3, 2, 3, 2, 3], vec![d, b, d, b, d, b, d, b]));
    shapes.push((vec![3, 2, 3, 2, 3, 2, 3, 5], vec![b, d, b, d, b, d, b, d]));
    shapes.push((
        vec![2, 1, 3, 2, 1, 2, 3, 2, 2, 1, 3],
        vec![d, b, b, d, d, b, d, b, d, d, b],
    ));
    // Drawn innermost groups longer than the bits unpacked at once.
    shapes.push((vec![3, 2, 3, 700], vec![b, d, b, d]));
    shapes.push((vec![2, 3, 2, 2, 600], vec![d, b, d, b, d]));
    // Broadcast innermost groups long enough to be applied as whole runs.
    shapes.push((vec![2, 3, 2, 600], vec![d, b, d, b]));
    // A few drawn channels repeated along a broadcast group longer than a block of values.
    shapes.push((vec![2, 400, 3], vec![d, b, d]));
    shapes.push((vec![3, 2, 500, 5], vec![b, d, b, d]));
    shapes
}

/// The layout of a noise shape, and the data's length.
fn layout_of(shape: &[usize], noise: &[Option<usize>]) -> (crate::ops::MaskLayout, usize) {
    let at = crate::ops::broadcast_layout("test", "noise_shape", shape, noise).unwrap();
    (at, shape.iter().product())
}

/// Chunk starts (multiples of 64) and lengths over `n` elements: every start for short data,
/// about 24 spread over it for long data; lengths of one and three blocks of 64 and to the end.
fn chunk_cuts(n: usize) -> Vec<(usize, usize)> {
    let blocks = n.div_ceil(64);
    let step = blocks.div_ceil(24).max(1);
    let mut cuts = Vec::new();
    for s in (0..blocks).step_by(step).map(|b| b * 64) {
        for len in [64, 192, n - s] {
            cuts.push((s, len.min(n - s)));
        }
    }
    cuts
}

#[test]
fn broadcast_runs_cover_each_chunk_with_the_reference_index() {
    let mut maps: Vec<(MaskMap, usize)> = random_noise_shapes(300, 11)
        .iter()
        .map(|(shape, noise)| {
            let (at, n) = layout_of(shape, noise);
            (at.map, n)
        })
        .collect();
    maps.extend([
        (MaskMap::Elementwise, 1000),
        (MaskMap::ChannelsFirst { inner: 7 }, 700),
        (MaskMap::ChannelsFirst { inner: 1 }, 300),
        (
            MaskMap::ChannelsLast {
                channels: 5,
                inner: 9,
            },
            4 * 9 * 5,
        ),
        (
            MaskMap::ChannelsLast {
                channels: 1,
                inner: 70,
            },
            3 * 70,
        ),
    ]);
    let mut kinds = [0usize; 4];
    for (map, n) in maps {
        kinds[match map {
            MaskMap::Elementwise => 0,
            MaskMap::ChannelsFirst { .. } => 1,
            MaskMap::ChannelsLast { .. } => 2,
            MaskMap::Broadcast(_) => 3,
        }] += 1;
        let b = crate::ops::BroadcastMap::of(map);
        // Any start, not only multiples of 64: the runs do not depend on it.
        for (start, len) in chunk_cuts(n)
            .into_iter()
            .chain((0..n.min(70)).map(|s| (s, n - s)))
        {
            let mut next = 0;
            b.for_each_run(start, len, |k, run, m, drawn| {
                assert_eq!(k, next, "{map:?} start {start}: runs in order, no gap");
                assert!(run > 0, "{map:?} start {start}: an empty run");
                for j in 0..run {
                    let want = crate::ops::mask_index(map, start + k + j);
                    let got = if drawn { m + j } else { m };
                    assert_eq!(got, want, "{map:?} element {}", start + k + j);
                }
                next = k + run;
            });
            assert_eq!(next, len, "{map:?} start {start}: the runs cover the chunk");
        }
    }
    assert!(kinds.iter().all(|&k| k > 0), "every kind of map: {kinds:?}");
}

/// The portable run loops on chunks cut at many starts (the chunk's first element index
/// passed as the kernels get it), in place and into a copy, against the reference's result
/// on the whole tensor: `apply_mask` for every kept rule, `combine_broadcast` for both ops.
fn check_runs_on_chunks<T: Element<Compute = T>>() {
    for (shape, noise) in random_noise_shapes(120, 5) {
        let (at, n) = layout_of(&shape, &noise);
        let x = data::<T>(n);
        let what = format!("{} {shape:?} {noise:?} {:?}", T::NAME, at.map);
        let mask = reference::keep_bits(&mut Randomness::Philox { seed: 3, draw: 1 }, at.len, 0.4)
            .unwrap();
        let values = ordinary::<T>(at.len, 17);
        let mut wants = Vec::new();
        for (_, kept) in kepts::<T>().into_iter().filter(|(p, _)| *p == 0.3) {
            let mut want = vec![T::zero(); n];
            let io = FlatIo::Copy {
                src: &x,
                dst: &mut want,
            };
            reference::apply_mask(io, &mask, at.map, kept);
            wants.push((Some(kept), None, want));
        }
        for op in [NoiseOp::Mul, NoiseOp::Add] {
            let mut want = x.clone();
            reference::combine_broadcast::<T>(FlatIo::InPlace(&mut want), &values, at.map, op);
            wants.push((None, Some(op), want));
        }
        for (kept, op, want) in &wants {
            let run = |io: FlatIo<'_, T>, start: usize| match (kept, op) {
                (Some(kept), _) => {
                    portable::apply_mask_slices(io, start, mask.words(), at.map, *kept)
                }
                (None, Some(op)) => {
                    portable::combine_broadcast_slices(io, start, &values, at.map, *op)
                }
                (None, None) => unreachable!("each case is a kept rule or an op"),
            };
            for (s, len) in chunk_cuts(n) {
                let range = s..s + len;
                let mut got = vec![T::one(); len];
                let io = FlatIo::Copy {
                    src: &x[range.clone()],
                    dst: &mut got,
                };
                run(io, s);
                let case = format!("{what} {kept:?} {op:?} chunk {s}+{len}");
                assert!(same(&got, &want[range.clone()]), "{case}");
                let mut inplace = x[range.clone()].to_vec();
                run(FlatIo::InPlace(&mut inplace), s);
                assert!(same(&inplace, &want[range]), "in place {case}");
            }
        }
    }
}

/// A half-precision type's bits, to compare results exactly (NaN payloads, signed zeros).
trait HalfBits: half::HalfConvert + Copy {
    fn of_bits(bits: u16) -> Self;
    fn bits(self) -> u16;
}

impl HalfBits for ::half::f16 {
    fn of_bits(bits: u16) -> Self {
        Self::from_bits(bits)
    }
    fn bits(self) -> u16 {
        self.to_bits()
    }
}

impl HalfBits for ::half::bf16 {
    fn of_bits(bits: u16) -> Self {
        Self::from_bits(bits)
    }
    fn bits(self) -> u16 {
        self.to_bits()
    }
}

/// Every bit pattern of the half type once (NaNs with every payload, infinities, zeros,
/// subnormals), shuffled so that each vector mixes kinds, then 37 more: 65573 elements, not a
/// multiple of 32 or 64.
fn every_pattern<T: HalfBits>() -> Vec<T> {
    (0..(1usize << 16) + 37)
        .map(|i| T::of_bits((i as u16).wrapping_mul(40503).wrapping_add(7)))
        .collect()
}

/// Panics at the first element whose bits differ.
fn assert_same_bits<T: HalfBits>(got: &[T], want: &[T], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    if let Some(i) = (0..got.len()).find(|&i| got[i].bits() != want[i].bits()) {
        panic!(
            "{what} ({}): element {i}: {:#06x}, the scalar oracle {:#06x}",
            T::NAME,
            got[i].bits(),
            want[i].bits()
        );
    }
}

/// The kept rules of the half checks, in `f32`: each of `Kept`'s forms, products that land
/// exactly halfway between two half values (`x * 1.5` of an odd significand, `x * 0.5` of an
/// odd subnormal), a division, and AlphaDropout's affine rule (a dropped value that is not
/// zero).
fn half_kepts() -> Vec<Kept<f32>> {
    vec![
        Kept::Identity,
        Kept::Mul(1.5),
        Kept::Mul(0.5),
        Kept::Div(0.7),
        crate::ops::alpha_forward_kept(0.3),
    ]
}

/// Output buffers for `n` elements at three positions: 16-byte aligned (where a large
/// output's stores stream), 2 bytes past that, and 4 bytes past it. Returns the buffer and
/// the offsets.
fn half_outputs<T: HalfBits>(n: usize) -> (Vec<T>, [usize; 3]) {
    let buf = vec![T::of_bits(0x3c00); n + 16];
    let aligned = buf.as_ptr().align_offset(16);
    assert!(
        aligned < 8,
        "a 2-byte aligned buffer reaches 16-byte alignment"
    );
    (buf, [aligned, aligned + 1, aligned + 2])
}

/// Dropout and a stored element-wise mask on every bit pattern, copying and in place, at three
/// output alignments, against the scalar oracle (the `f32` result rounded once).
fn check_half_dropout<T: HalfBits>(plans: &[Plan]) {
    let x = every_pattern::<T>();
    let n = x.len();
    for (p, kept) in [0.0, 0.3]
        .into_iter()
        .flat_map(|p| half_kepts().into_iter().map(move |k| (p, k)))
    {
        let r = || Randomness::Philox {
            seed: 0x0dd_ba11,
            draw: 3,
        };
        let mask = reference::keep_bits(&mut r(), n, p).unwrap();
        let mut want = vec![T::zero(); n];
        let io = FlatIo::Copy {
            src: &x,
            dst: &mut want,
        };
        reference::apply_mask(io, &mask, MaskMap::Elementwise, kept);
        for &plan in plans {
            let what = format!("{plan:?} p={p} {kept:?}");
            let (mut buf, offsets) = half_outputs::<T>(n);
            for at in offsets {
                let dst = &mut buf[at..at + n];
                let io = FlatIo::Copy { src: &x, dst };
                let got = dropout_with(plan, io, &mut r(), p, kept, true).unwrap();
                assert_eq!(got.as_ref(), Some(&mask), "mask {what}");
                assert_same_bits(&buf[at..at + n], &want, &format!("dropout at {at} {what}"));
                let dst = &mut buf[at..at + n];
                let io = FlatIo::Copy { src: &x, dst };
                apply_mask_with(plan, io, &mask, MaskMap::Elementwise, kept);
                assert_same_bits(&buf[at..at + n], &want, &format!("apply at {at} {what}"));
            }
            let mut inplace = x.clone();
            let io = FlatIo::InPlace(&mut inplace);
            assert!(dropout_with(plan, io, &mut r(), p, kept, false)
                .unwrap()
                .is_none());
            assert_same_bits(&inplace, &want, &format!("dropout in place {what}"));
            let mut inplace = x.clone();
            let io = FlatIo::InPlace(&mut inplace);
            apply_mask_with(plan, io, &mask, MaskMap::Elementwise, kept);
            assert_same_bits(&inplace, &want, &format!("apply in place {what}"));
        }
    }
}

/// Gaussian noise (multiplicative and additive) on every bit pattern, as
/// [`check_half_dropout`].
fn check_half_noise<T: HalfBits>(plans: &[Plan]) {
    let x = every_pattern::<T>();
    let n = x.len();
    for (mean, stddev, op) in [
        (1.0, 0.7, NoiseOp::Mul),
        (0.0, 0.2, NoiseOp::Add),
        (0.0, 1e-6, NoiseOp::Add),
    ] {
        let r = || Randomness::Philox {
            seed: 41,
            draw: 1 << 33,
        };
        let mut want = vec![T::zero(); n];
        let io = FlatIo::Copy {
            src: &x,
            dst: &mut want,
        };
        reference::noise(io, &mut r(), mean, stddev, op);
        for &plan in plans {
            let what = format!("{plan:?} {op:?} {stddev}");
            let (mut buf, offsets) = half_outputs::<T>(n);
            for at in offsets {
                let dst = &mut buf[at..at + n];
                noise_with(
                    plan,
                    FlatIo::Copy { src: &x, dst },
                    &mut r(),
                    mean,
                    stddev,
                    op,
                );
                assert_same_bits(&buf[at..at + n], &want, &format!("noise at {at} {what}"));
            }
            let mut inplace = x.clone();
            noise_with(
                plan,
                FlatIo::InPlace(&mut inplace),
                &mut r(),
                mean,
                stddev,
                op,
            );
            assert_same_bits(&inplace, &want, &format!("noise in place {what}"));
        }
    }
}

/// `x * factor`, the copy (which rounds too: a signalling NaN comes back quiet) and
/// `x * factors` on every bit pattern, as [`check_half_dropout`].
fn check_half_scale_multiply<T: HalfBits>(plans: &[Plan]) {
    let x = every_pattern::<T>();
    let n = x.len();
    let factors = ordinary::<f32>(n, 3);
    let mut multiplied = vec![T::zero(); n];
    reference::map_indexed(
        FlatIo::Copy {
            src: &x,
            dst: &mut multiplied,
        },
        |i, v| v * factors[i],
    );
    for factor in [None, Some(1.5f32), Some(0.3)] {
        let mut want = vec![T::zero(); n];
        let io = FlatIo::Copy {
            src: &x,
            dst: &mut want,
        };
        reference::scale(io, factor);
        for &plan in plans {
            let what = format!("{plan:?} {factor:?}");
            let (mut buf, offsets) = half_outputs::<T>(n);
            for at in offsets {
                let dst = &mut buf[at..at + n];
                scale_with(plan, FlatIo::Copy { src: &x, dst }, factor);
                assert_same_bits(&buf[at..at + n], &want, &format!("scale at {at} {what}"));
                let dst = &mut buf[at..at + n];
                multiply_with(plan, FlatIo::Copy { src: &x, dst }, &factors);
                assert_same_bits(&buf[at..at + n], &multiplied, &format!("multiply {what}"));
            }
            let mut inplace = x.clone();
            scale_with(plan, FlatIo::InPlace(&mut inplace), factor);
            assert_same_bits(&inplace, &want, &format!("scale in place {what}"));
            let mut inplace = x.clone();
            multiply_with(plan, FlatIo::InPlace(&mut inplace), &factors);
            assert_same_bits(&inplace, &multiplied, &format!("multiply in place {what}"));
        }
    }
}

/// The channel maps of the half checks, each with its number of mask elements for `n` data
/// elements: `(N, C, inner)` with several `inner` (feature maps of one element, shorter and
/// longer than a vector, and longer than a 64-element step) and `(N, inner, C)` with several
/// `C` (fewer than 64, 64, more), `N` as many as `n` elements need.
fn half_maps(n: usize) -> Vec<(MaskMap, usize)> {
    let mut maps = Vec::new();
    for inner in [1, 3, 17, 64, 1000] {
        let channels = 5;
        let samples = n.div_ceil(inner * channels);
        maps.push((MaskMap::ChannelsFirst { inner }, samples * channels));
    }
    for (channels, inner) in [(1, 1000), (3, 17), (17, 3), (64, 5), (100, 7), (1000, 1)] {
        let samples = n.div_ceil(inner * channels);
        maps.push((
            MaskMap::ChannelsLast { channels, inner },
            samples * channels,
        ));
    }
    maps
}

/// A stored mask under each channel map ([`half_maps`]) on every bit pattern, copying at three
/// output alignments and in place, for every kept rule, against the scalar oracle (the `f32`
/// result rounded once); then the path's kernel on its own at chunk starts that are not
/// multiples of 64, against the oracle and the path's blocks.
fn check_half_spatial<T: HalfBits>(plans: &[Plan]) {
    let x = every_pattern::<T>();
    let n = x.len();
    let path = plans[0].path;
    for (m, (map, len)) in half_maps(n).into_iter().enumerate() {
        let r = &mut Randomness::Philox {
            seed: 8,
            draw: m as u64,
        };
        let mask = reference::keep_bits(r, len, 0.4).unwrap();
        for kept in half_kepts() {
            let mut want = vec![T::zero(); n];
            let io = FlatIo::Copy {
                src: &x,
                dst: &mut want,
            };
            reference::apply_mask(io, &mask, map, kept);
            for &plan in plans {
                let what = format!("{map:?} {plan:?} {kept:?}");
                let (mut buf, offsets) = half_outputs::<T>(n);
                for at in offsets {
                    let dst = &mut buf[at..at + n];
                    apply_mask_with(plan, FlatIo::Copy { src: &x, dst }, &mask, map, kept);
                    assert_same_bits(&buf[at..at + n], &want, &format!("at {at} {what}"));
                }
                let mut inplace = x.clone();
                apply_mask_with(plan, FlatIo::InPlace(&mut inplace), &mask, map, kept);
                assert_same_bits(&inplace, &want, &format!("in place {what}"));
            }
            // The table's kernel and the blocks, chunk by chunk from odd starts.
            let kept = kept.simplified();
            for apply in [
                T::kernels(path, false).apply_mask,
                half::blocks::<T>(path).apply_mask,
            ] {
                let mut got = vec![T::zero(); n];
                let mut inplace = x.clone();
                let cuts = [0, 1, 37, 100, 163, 4099, 4200, 30001, n];
                for w in cuts.windows(2) {
                    let (from, to) = (w[0], w[1]);
                    let copy = Chunk::of(FlatIo::Copy {
                        src: &x[from..to],
                        dst: &mut got[from..to],
                    });
                    let in_place = Chunk::of(FlatIo::InPlace(&mut inplace[from..to]));
                    // SAFETY: live, disjoint buffers of the chunk's length; the mask covers
                    // every element; the table was resolved for this CPU without streaming.
                    unsafe {
                        apply(copy, from, mask.words(), map, kept);
                        apply(in_place, from, mask.words(), map, kept);
                    }
                }
                let what = format!("{map:?} {path:?} {kept:?} from odd starts");
                assert_same_bits(&got, &want, &what);
                assert_same_bits(&inplace, &want, &format!("in place {what}"));
            }
        }
    }
}

/// The keep bits of data elements `i .. i + len` under `map`, one element at a time (the
/// oracle of [`crate::ops::MapWords`]).
fn map_bits(mask: &crate::BitMask, map: MaskMap, i: usize, len: usize) -> u64 {
    (0..len).fold(0u64, |w, j| {
        w | u64::from(mask.get(crate::ops::mask_index(map, i + j))) << j
    })
}

/// [`crate::ops::MapWords`]'s first bits against [`crate::ops::mask_index`] on every map of
/// the checks, at every start of a few samples and lengths up to 64.
#[test]
fn map_words_are_the_maps_bits() {
    let n = 3000;
    for (m, (map, len)) in half_maps(n).into_iter().enumerate() {
        let r = &mut Randomness::Philox {
            seed: 3,
            draw: m as u64,
        };
        let mask = reference::keep_bits(r, len, 0.5).unwrap();
        for i in 0..n - 64 {
            for k in [1, 2, 5, 31, 63, 64] {
                let word = crate::ops::MapWords::new(mask.words(), map, i).next_bits(k);
                assert_eq!(
                    word,
                    map_bits(&mask, map, i, k),
                    "{map:?} from {i}, {k} bits"
                );
            }
        }
        // The steps from a few starts, each until the data ends.
        steps_from_starts(&mask, map, n);
    }
    // Data of whole samples whose mask ends with its last word: stepping to the end reads
    // nothing past it.
    for (map, len) in [
        (
            MaskMap::ChannelsLast {
                channels: 8,
                inner: 8,
            },
            64,
        ),
        (
            MaskMap::ChannelsLast {
                channels: 64,
                inner: 2,
            },
            128,
        ),
        (MaskMap::ChannelsFirst { inner: 8 }, 64),
        (MaskMap::ChannelsFirst { inner: 1 }, 64),
    ] {
        let r = &mut Randomness::Philox { seed: 4, draw: 0 };
        let mask = reference::keep_bits(r, len, 0.5).unwrap();
        assert_eq!(mask.words().len() * 64, len);
        let n = match map {
            MaskMap::ChannelsLast { inner, .. } => len * inner,
            MaskMap::ChannelsFirst { inner } => len * inner,
            _ => unreachable!(),
        };
        steps_from_starts(&mask, map, n);
    }
}

/// [`crate::ops::MapWords`] from a few starts (those below `n`), each step until the `n`
/// elements end, then the shorter tail, against [`map_bits`].
fn steps_from_starts(mask: &crate::BitMask, map: MaskMap, n: usize) {
    for i in [0, 1, 5, 63, 64, 100, 999, 1000, 1001]
        .into_iter()
        .filter(|&i| i < n)
    {
        let mut words = crate::ops::MapWords::new(mask.words(), map, i);
        let steps = (n - i) / 64;
        for step in 0..steps {
            let at = i + 64 * step;
            let want = map_bits(mask, map, at, 64);
            assert_eq!(words.next_word(), want, "{map:?} steps from {i}, at {at}");
        }
        let (at, tail) = (i + 64 * steps, (n - i) % 64);
        if tail > 0 {
            let want = map_bits(mask, map, at, tail);
            assert_eq!(
                words.next_bits(tail),
                want,
                "{map:?} tail from {i}, at {at}"
            );
        }
    }
}

#[test]
fn broadcast_runs_equal_the_reference_on_chunks_f32() {
    check_runs_on_chunks::<f32>();
}

#[test]
fn broadcast_runs_equal_the_reference_on_chunks_f64() {
    check_runs_on_chunks::<f64>();
}

/// Bit equality of two outputs of any element type (through the exact widening; NaN
/// payloads compare through the compute type).
fn same_any<T: Element>(a: &[T], b: &[T]) -> bool {
    let bits = |v: &T| {
        num_traits::ToPrimitive::to_f64(&v.widen())
            .unwrap()
            .to_bits()
    };
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| bits(x) == bits(y))
}

/// The plans of `plans` and more thread splits: chunks of 2, 5 and 7 blocks of 64 on the
/// pool.
fn more_splits(plans: &[Plan]) -> Vec<Plan> {
    let mut all = plans.to_vec();
    for chunk in [128, 320, 448] {
        all.push(Plan {
            chunk,
            min_parallel: 0,
            ..plans[0]
        });
    }
    all
}

/// Random noise shapes through the entry points (each chunk of each plan on the pool, half
/// types through their `f32` blocks), in place and into a copy, against the reference: a
/// stored mask under every kept rule, and Gaussian noise drawn over the noise shape.
fn check_noise_shapes<T: Element>(plans: &[Plan])
where
    T::Compute: Element<Compute = T::Compute>,
{
    let plans = more_splits(plans);
    for (shape, noise) in random_noise_shapes(40, 23) {
        let (at, n) = layout_of(&shape, &noise);
        let x: Vec<T> = data::<T::Compute>(n)
            .into_iter()
            .map(|v| T::narrow(v))
            .collect();
        let what = format!("{} {shape:?} {noise:?} {:?}", T::NAME, at.map);
        let mask = reference::keep_bits(&mut Randomness::Philox { seed: 8, draw: 6 }, at.len, 0.3)
            .unwrap();
        let rules = kepts::<T::Compute>()
            .into_iter()
            .filter(|(p, _)| *p == 0.3 || *p == 1.0);
        for (p, kept) in rules {
            let mut want = vec![T::zero(); n];
            let io = FlatIo::Copy {
                src: &x,
                dst: &mut want,
            };
            reference::apply_mask(io, &mask, at.map, kept);
            for &plan in &plans {
                let mut got = vec![T::one(); n];
                let io = FlatIo::Copy {
                    src: &x,
                    dst: &mut got,
                };
                apply_mask_with(plan, io, &mask, at.map, kept);
                let case = format!("{what} {plan:?} p={p} {kept:?}");
                assert!(same_any(&got, &want), "{case}");
                let mut inplace = x.clone();
                apply_mask_with(plan, FlatIo::InPlace(&mut inplace), &mask, at.map, kept);
                assert!(same_any(&inplace, &want), "in place {case}");
            }
        }
        for (mean, stddev, op) in [(1.0, 0.7, NoiseOp::Mul), (0.0, 0.2, NoiseOp::Add)] {
            let r = || Randomness::Philox { seed: 4, draw: 2 };
            let identity = match op {
                NoiseOp::Mul => <T::Compute as num_traits::One>::one(),
                NoiseOp::Add => <T::Compute as num_traits::Zero>::zero(),
            };
            let mut values = vec![identity; at.len];
            let io = FlatIo::InPlace(&mut values);
            reference::noise::<T::Compute>(io, &mut r(), mean, stddev, op);
            let mut want = x.clone();
            reference::combine_broadcast::<T>(FlatIo::InPlace(&mut want), &values, at.map, op);
            for &plan in &plans {
                let mut got = vec![T::zero(); n];
                let io = FlatIo::Copy {
                    src: &x,
                    dst: &mut got,
                };
                noise_broadcast_with(plan, io, &mut r(), (mean, stddev, op), at.len, at.map)
                    .unwrap();
                assert!(same_any(&got, &want), "{what} {plan:?} {op:?}");
                let mut inplace = x.clone();
                let io = FlatIo::InPlace(&mut inplace);
                noise_broadcast_with(plan, io, &mut r(), (mean, stddev, op), at.len, at.map)
                    .unwrap();
                assert!(same_any(&inplace, &want), "in place {what} {plan:?} {op:?}");
            }
        }
    }
}

on_every_path! {
    half_dropout_f16 => check_half_dropout::<::half::f16>;
    half_dropout_bf16 => check_half_dropout::<::half::bf16>;
    half_noise => |plans| {
        check_half_noise::<::half::f16>(plans);
        check_half_noise::<::half::bf16>(plans);
    };
    half_scale_multiply => |plans| {
        check_half_scale_multiply::<::half::f16>(plans);
        check_half_scale_multiply::<::half::bf16>(plans);
    };
    half_spatial => |plans| {
        check_half_spatial::<::half::f16>(plans);
        check_half_spatial::<::half::bf16>(plans);
    };
}

/// On AVX-512 (and `f16` on AVX2 with F16C) the half types run their own kernels, not the
/// blocks (the checks above then test those); the other paths run the blocks.
#[test]
fn half_types_run_their_vector_kernels_on_the_simd_paths() {
    fn check<T: HalfBits>(vector_on_avx2: bool) {
        for path in Path::all().into_iter().filter(|p| p.available()) {
            let (table, blocks) = (T::kernels(path, false), half::blocks::<T>(path));
            let vector = match path {
                Path::Portable => false,
                #[cfg(target_arch = "x86_64")]
                Path::Avx2 => vector_on_avx2,
                #[cfg(target_arch = "x86_64")]
                Path::Avx512 => true,
            };
            let own = |a: usize, b: usize| a != b;
            assert_eq!(
                own(table.dropout as usize, blocks.dropout as usize),
                vector,
                "{} dropout on {path:?}",
                T::NAME
            );
            assert_eq!(
                own(table.apply_bits as usize, blocks.apply_bits as usize),
                vector,
                "{} apply_bits on {path:?}",
                T::NAME
            );
            assert_eq!(
                own(table.noise as usize, blocks.noise as usize),
                vector,
                "{} noise on {path:?}",
                T::NAME
            );
            assert_eq!(
                own(table.apply_mask as usize, blocks.apply_mask as usize),
                vector,
                "{} apply_mask on {path:?}",
                T::NAME
            );
        }
    }
    #[cfg(target_arch = "x86_64")]
    check::<::half::f16>(std::is_x86_feature_detected!("f16c"));
    #[cfg(not(target_arch = "x86_64"))]
    check::<::half::f16>(false);
    // bf16 on AVX2 runs the blocks (measured faster there, see `table.rs`).
    check::<::half::bf16>(false);
}

/// The half types' AVX-512 kernels with non-temporal stores on outputs at every 4-byte
/// aligned offset into a cache line (the table streams only 16-byte aligned outputs; the
/// kernels take any 4-byte aligned one), and with plain stores at every offset: each writes
/// exactly its output, equal to the scalar oracle, and nothing around it.
#[cfg(target_arch = "x86_64")]
fn check_avx512_half_stores<T: HalfBits + avx512::Avx512Element>() {
    let guard = T::of_bits(0x1234);
    let (seed, draw, p) = (0x5eed, 3, 0.3);
    let kept = Kept::Mul(1.5f32);
    let factor = 0.3f32;
    let all = every_pattern::<T>();
    for n in [0, 1, 31, 32, 33, 63, 64, 65, 130, 300, 1000] {
        let x = &all[1000..1000 + n];
        let factors = ordinary::<f32>(n, 11);
        let mask = reference::keep_bits(&mut Randomness::Philox { seed, draw }, n, p).unwrap();
        let oracle = |f: &dyn Fn(FlatIo<'_, T>)| {
            let mut out = vec![T::zero(); n];
            f(FlatIo::Copy {
                src: x,
                dst: &mut out,
            });
            out
        };
        let dropped = oracle(&|io| reference::apply_mask(io, &mask, MaskMap::Elementwise, kept));
        let noisy = oracle(&|io| {
            let mut r = Randomness::Philox { seed, draw };
            reference::noise(io, &mut r, 1.0, 0.5, NoiseOp::Mul)
        });
        let scaled = oracle(&|io| reference::scale(io, Some(factor)));
        let copied = oracle(&|io| reference::scale(io, None));
        let multiplied = oracle(&|io| reference::map_indexed(io, |i, v| v * factors[i]));
        for offset in 0..32 {
            // Runs `kernel` (non-temporal stores when `nt`) on the output at `offset`, in
            // place when `in_place`, and checks it against `want`, and the guards around it;
            // false when it could not run (non-temporal stores on a misaligned output).
            let run = |name: &str,
                       want: &[T],
                       in_place: bool,
                       nt: bool,
                       kernel: &mut dyn FnMut(Chunk<T>, bool)| {
                let mut buf = vec![guard; offset + n + 64];
                let dst = buf[offset..].as_mut_ptr();
                if nt && !(dst as usize).is_multiple_of(4) {
                    return false;
                }
                let src = if in_place {
                    buf[offset..offset + n].copy_from_slice(x);
                    dst.cast_const()
                } else {
                    x.as_ptr()
                };
                kernel(Chunk { src, dst, len: n }, nt);
                let what = format!("{name} n={n} offset={offset} in place {in_place} nt {nt}");
                assert_same_bits(&buf[offset..offset + n], want, &what);
                let untouched = |g: &T| g.bits() == guard.bits();
                assert!(buf[..offset].iter().all(untouched), "before: {what}");
                assert!(buf[offset + n..].iter().all(untouched), "after: {what}");
                true
            };
            // The kernels' contract, for every call below: the chunk is `n` elements of a
            // live buffer, read from `x` or in place; this CPU has AVX-512 (the caller
            // checked); with non-temporal stores the output is 4-byte aligned (`run` checks).
            for (in_place, nt) in [(false, false), (true, false), (false, true), (true, true)] {
                let mut bits = vec![0u64; n.div_ceil(64)];
                let ran = run("dropout", &dropped, in_place, nt, &mut |c, nt| {
                    let b = bits.as_mut_ptr();
                    let t = crate::rng::keep_threshold(p);
                    // SAFETY: as above; `bits` has a word per 64 elements.
                    unsafe {
                        if nt {
                            avx512::dropout::<T, true>(c, 0, seed, draw, t, kept, b)
                        } else {
                            avx512::dropout::<T, false>(c, 0, seed, draw, t, kept, b)
                        }
                    }
                });
                if ran {
                    assert_eq!(bits, mask.words(), "mask n={n} offset={offset}");
                }
                run("apply_bits", &dropped, in_place, nt, &mut |c, nt| {
                    // SAFETY: as above; the mask covers the chunk.
                    unsafe {
                        if nt {
                            avx512::apply_bits::<T, true>(c, 0, mask.words(), kept)
                        } else {
                            avx512::apply_bits::<T, false>(c, 0, mask.words(), kept)
                        }
                    }
                });
                run("noise", &noisy, in_place, nt, &mut |c, nt| {
                    let op = NoiseOp::Mul;
                    // SAFETY: as above.
                    unsafe {
                        if nt {
                            avx512::noise::<T, true>(c, 0, seed, draw, 1.0, 0.5, op)
                        } else {
                            avx512::noise::<T, false>(c, 0, seed, draw, 1.0, 0.5, op)
                        }
                    }
                });
                run("scale", &scaled, in_place, nt, &mut |c, nt| {
                    // SAFETY: as above.
                    unsafe {
                        if nt {
                            avx512::scale::<T, true>(c, Some(factor))
                        } else {
                            avx512::scale::<T, false>(c, Some(factor))
                        }
                    }
                });
                run("copy", &copied, in_place, nt, &mut |c, nt| {
                    // SAFETY: as above.
                    unsafe {
                        if nt {
                            avx512::scale::<T, true>(c, None)
                        } else {
                            avx512::scale::<T, false>(c, None)
                        }
                    }
                });
                run("multiply", &multiplied, in_place, nt, &mut |c, nt| {
                    // SAFETY: as above; one factor per element.
                    unsafe {
                        if nt {
                            avx512::multiply::<T, true>(c, &factors)
                        } else {
                            avx512::multiply::<T, false>(c, &factors)
                        }
                    }
                });
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_half_stores_write_exactly_the_output_at_any_alignment() {
    if !avx512::probe::available() {
        eprintln!("skipped: no AVX-512 on this CPU");
        return;
    }
    check_avx512_half_stores::<::half::f16>();
    check_avx512_half_stores::<::half::bf16>();
}

/// The vector conversions on their own: every half bit pattern widened, and `f32` values that
/// exercise rounding (ties, neighbours of ties, subnormals, overflow, NaNs with payloads in
/// the bits a half keeps and in those it drops) rounded, each against the scalar oracle bit
/// for bit. (Through the kernels, a NaN's dropped bits are always zero, so the kernel checks
/// cannot see those.)
#[cfg(target_arch = "x86_64")]
fn check_vector_conversions<T: HalfBits + avx2::Lanes8 + avx512::Half16>(avx512: bool) {
    let every: Vec<T> = (0..=u16::MAX).map(T::of_bits).collect();
    let mut values = half::tests::probe_values();
    values.truncate(values.len() / 16 * 16);
    let widened: Vec<u32> = every.iter().map(|&h| Element::widen(h).to_bits()).collect();
    let rounded: Vec<u16> = values.iter().map(|&v| T::narrow(v).bits()).collect();
    let first_difference = |got: &[u32], want: &[u32]| (0..want.len()).find(|&i| got[i] != want[i]);
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("f16c") {
        let got: Vec<u32> = avx2::widen8(&every).iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            first_difference(&got, &widened),
            None,
            "AVX2 widening {}",
            T::NAME
        );
        for (k, got) in avx2::round8::<T>(&values).into_iter().enumerate() {
            let got: Vec<u32> = got.iter().map(|h| u32::from(h.bits())).collect();
            let want: Vec<u32> = rounded.iter().map(|&b| u32::from(b)).collect();
            let at = first_difference(&got, &want);
            assert_eq!(
                at,
                None,
                "AVX2 rounding {} (stores {k}) of {:?}",
                T::NAME,
                at.map(|i| values[i].to_bits())
            );
        }
    } else {
        eprintln!("skipped: no AVX2 with F16C on this CPU");
    }
    if avx512 {
        let got: Vec<u32> = avx512::probe::widen16(&every)
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(
            first_difference(&got, &widened),
            None,
            "AVX-512 widening {}",
            T::NAME
        );
        let got: Vec<u32> = avx512::probe::round16::<T>(&values)
            .into_iter()
            .map(u32::from)
            .collect();
        let want: Vec<u32> = rounded.iter().map(|&b| u32::from(b)).collect();
        let at = first_difference(&got, &want);
        assert_eq!(
            at,
            None,
            "AVX-512 rounding {} of {:?}",
            T::NAME,
            at.map(|i| values[i].to_bits())
        );
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn vector_half_conversions_are_the_oracles_bit_for_bit() {
    let avx512 = avx512::probe::available();
    if !avx512 {
        eprintln!("skipped: no AVX-512 on this CPU");
    }
    check_vector_conversions::<::half::f16>(avx512);
    check_vector_conversions::<::half::bf16>(avx512);
}
