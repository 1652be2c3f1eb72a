//! Throughput of every layer against the memory roofline, measured in one run.
//!
//! For each layer x {forward (allocating), forward_into (reused buffer), backward (into a
//! reused buffer)} x {f32 64 MiB, f32 1 MiB, f64 64 MiB, f16 64 MiB, bf16 64 MiB} x {1 thread,
//! all threads}: the median
//! of 11 timed repeats (110 for 1 MiB) after one warm-up, GB/s counting bytes read + written,
//! G elements/s, and the ratio to the matching baseline timed in the same run: a plain copy
//! into a reused buffer (forward_into, backward) or into a freshly allocated one (forward;
//! huge-page advised from 4 MiB, as dropkit's outputs are), the faster of a copy on one
//! thread and one on the layer's threads, timed alternately with the layer (pairs of runs).
//!
//! `cargo bench -p dropkit --bench throughput` prints a table under a header naming the
//! instruction set the kernels ran on and the copy bandwidth; `-- --json` prints one JSON
//! object per line (with `isa` and the row's copy GB/s, `copy_gbps`). `-- --quick` runs only
//! the 64 MiB f32 rows, `-- --half` only the 64 MiB f16 and bf16 rows (a copy of the same
//! 2-byte elements is their baseline), `-- --noise-shapes` only the 64 MiB f32 rows of the
//! layers with a Keras noise shape (Dropout and GaussianDropout over `(1, C, H, 1)`,
//! GaussianNoise over `(N, C, 1, 1)`, on an input of `(N, 64, 64, 64)`). `DROPKIT_KERNEL=avx512|avx2|portable` forces a kernel path where the
//! CPU has it.

use std::hint::black_box;
use std::time::Instant;

use dropkit::half::{bf16, f16};
use dropkit::{
    set_num_threads, AlphaDropout, Dropout, Element, FeatureAlphaDropout, GaussianDropout,
    GaussianNoise, GeneratorKind, Module, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};
use ndarray::{Array, ArrayD, IxDyn};
use rayon::prelude::*;

/// Timed repeats of a 64 MiB operation; small ones repeat more (see `time`).
const REPEATS: usize = 11;

/// The kernel path dropkit runs on here, by the rule of `src/kernels/isa.rs` (the crate does
/// not export it): `DROPKIT_KERNEL` (`avx512`, `avx2`, `portable`, any case) where the CPU has
/// that path, else the best the CPU has.
fn isa() -> &'static str {
    let available = |name: &str| match name {
        #[cfg(target_arch = "x86_64")]
        "avx512" => std::is_x86_feature_detected!("avx512f") && available_avx2(),
        #[cfg(target_arch = "x86_64")]
        "avx2" => available_avx2(),
        "portable" => true,
        _ => false,
    };
    let forced = std::env::var("DROPKIT_KERNEL").unwrap_or_default();
    let forced = forced.trim().to_ascii_lowercase();
    ["avx512", "avx2", "portable"]
        .into_iter()
        .find(|&p| p == forced && available(p))
        .or_else(|| {
            ["avx512", "avx2", "portable"]
                .into_iter()
                .find(|&p| available(p))
        })
        .unwrap_or("portable")
}

#[cfg(target_arch = "x86_64")]
fn available_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("bmi2")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite times"));
    v[v.len() / 2]
}

fn time(elements: usize, mut f: impl FnMut()) -> f64 {
    f();
    let repeats = if elements < 1 << 20 {
        10 * REPEATS
    } else {
        REPEATS
    };
    median(
        (0..repeats)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// Medians of `base` and `op` timed alternately after a warm-up of each, so both see the same
/// machine state (on a shared VM the copy bandwidth drifts by 1.5x within a minute).
fn time_pair(elements: usize, mut base: impl FnMut(), mut op: impl FnMut()) -> (f64, f64) {
    base();
    op();
    let repeats = if elements < 1 << 20 {
        10 * REPEATS
    } else {
        REPEATS
    };
    let (mut b, mut o) = (Vec::with_capacity(repeats), Vec::with_capacity(repeats));
    for _ in 0..repeats {
        let t = Instant::now();
        base();
        b.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        op();
        o.push(t.elapsed().as_secs_f64());
    }
    (median(b), median(o))
}

/// A plain copy into a reused buffer, on `pool`.
fn copy_reused<T: Element>(pool: &rayon::ThreadPool, src: &[T], dst: &mut [T]) {
    if pool.current_num_threads() == 1 {
        dst.copy_from_slice(src);
        return;
    }
    pool.install(|| {
        dst.par_chunks_mut(1 << 16)
            .zip(src.par_chunks(1 << 16))
            .for_each(|(d, s)| d.copy_from_slice(s));
    });
}

/// A copy into a freshly allocated buffer, on `pool`, allocated as dropkit allocates its
/// outputs (zeroed, advised as huge pages from 4 MiB on, like numpy's allocations), so the
/// ratio measures the kernel rather than the allocator.
fn copy_fresh<T: Element>(pool: &rayon::ThreadPool, src: &[T]) -> Vec<T> {
    let bytes = std::mem::size_of_val(src);
    if pool.current_num_threads() == 1 && bytes < 4 << 20 {
        return src.to_vec();
    }
    let mut v: Vec<T> = Vec::with_capacity(src.len());
    if bytes >= 4 << 20 {
        let start = (v.as_mut_ptr() as usize + 4095) & !4095;
        let len = (v.as_mut_ptr() as usize + bytes - start) & !4095;
        // SAFETY: advice on pages of this Vec's own allocation; contents are unchanged.
        unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
    }
    pool.install(|| {
        v.spare_capacity_mut()
            .par_chunks_mut(1 << 16)
            .zip(src.par_chunks(1 << 16))
            .for_each(|(d, s)| {
                for (d, &s) in d.iter_mut().zip(s) {
                    d.write(s);
                }
            });
    });
    // SAFETY: every element of the spare capacity was written above.
    unsafe { v.set_len(src.len()) };
    v
}

enum AnyLayer {
    Dropout(Dropout),
    GaussianDropout(GaussianDropout),
    GaussianNoise(GaussianNoise),
    Spatial1(SpatialDropout1D),
    Spatial2(SpatialDropout2D),
    Spatial3(SpatialDropout3D),
    Alpha(AlphaDropout),
    FeatureAlpha(FeatureAlphaDropout),
}

macro_rules! each {
    ($layer:expr, $l:ident => $body:expr) => {
        match $layer {
            AnyLayer::Dropout($l) => $body,
            AnyLayer::GaussianDropout($l) => $body,
            AnyLayer::GaussianNoise($l) => $body,
            AnyLayer::Spatial1($l) => $body,
            AnyLayer::Spatial2($l) => $body,
            AnyLayer::Spatial3($l) => $body,
            AnyLayer::Alpha($l) => $body,
            AnyLayer::FeatureAlpha($l) => $body,
        }
    };
}

/// A list of named layers (each call makes them afresh).
type Layers = fn() -> Vec<(&'static str, AnyLayer)>;

/// The layers with a noise shape, by their row names: `(1, C, H, 1)` is the general
/// broadcast map (drawn over the middle axes, shared along the first and last), `(N, C, 1, 1)`
/// a Spatial layer's map.
fn noise_shape_layers() -> Vec<(&'static str, AnyLayer)> {
    let middle = [Some(1), None, None, Some(1)];
    let maps = [None, None, Some(1), Some(1)];
    vec![
        (
            "Dropout[1,C,H,1]",
            AnyLayer::Dropout(
                Dropout::new(0.3)
                    .and_then(|l| l.with_noise_shape(&middle))
                    .expect("p"),
            ),
        ),
        (
            "GaussianDropout[1,C,H,1]",
            AnyLayer::GaussianDropout(
                GaussianDropout::new(0.3)
                    .and_then(|l| l.with_noise_shape(&middle))
                    .expect("rate"),
            ),
        ),
        (
            "GaussianNoise[N,C,1,1]",
            AnyLayer::GaussianNoise(
                GaussianNoise::new(0.2)
                    .and_then(|l| l.with_noise_shape(&maps))
                    .expect("stddev"),
            ),
        ),
    ]
}

fn layers() -> Vec<(&'static str, AnyLayer)> {
    vec![
        ("Dropout", AnyLayer::Dropout(Dropout::new(0.3).expect("p"))),
        (
            "GaussianDropout",
            AnyLayer::GaussianDropout(GaussianDropout::new(0.3).expect("rate")),
        ),
        (
            "GaussianNoise",
            AnyLayer::GaussianNoise(GaussianNoise::new(0.2).expect("stddev")),
        ),
        (
            "SpatialDropout1D",
            AnyLayer::Spatial1(SpatialDropout1D::new(0.3).expect("p")),
        ),
        (
            "SpatialDropout2D",
            AnyLayer::Spatial2(SpatialDropout2D::new(0.3).expect("p")),
        ),
        (
            "SpatialDropout3D",
            AnyLayer::Spatial3(SpatialDropout3D::new(0.3).expect("p")),
        ),
        (
            "AlphaDropout",
            AnyLayer::Alpha(AlphaDropout::new(0.3).expect("p")),
        ),
        (
            "FeatureAlpha2D",
            AnyLayer::FeatureAlpha(FeatureAlphaDropout::new(0.3).expect("p")),
        ),
    ]
}

/// An input shape of `elements` elements that `layer` takes.
fn shape(layer: &str, elements: usize) -> Vec<usize> {
    let maps = 64; // (N, C) = (maps / 8, 8) ... enough maps for the mask to matter
    let inner = elements / maps;
    match layer {
        "SpatialDropout1D" => vec![8, inner, 8],
        "SpatialDropout2D" | "FeatureAlpha2D" => vec![8, 8, inner / 64, 64],
        "SpatialDropout3D" => vec![8, 8, inner / 256, 16, 16],
        _ if layer.contains('[') => vec![elements >> 18, 64, 64, 64],
        _ => vec![elements],
    }
}

struct Row {
    layer: &'static str,
    op: &'static str,
    dtype: &'static str,
    elements: usize,
    threads: usize,
    median_s: f64,
    bytes: f64,
    baseline_s: f64,
}

fn measure<T: Element>(
    bytes_each: usize,
    elements: usize,
    threads: usize,
    layers: &[Layers],
    rows: &mut Vec<Row>,
) {
    set_num_threads(threads).expect("threads");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let src: Vec<T> = (0..elements)
        .map(|i| T::from_f64((i % 1000) as f64 * 0.001 + 0.5))
        .collect();
    let mut dst = vec![T::zero(); elements];
    let moved = (2 * elements * bytes_each) as f64;
    // The baseline is the faster of a copy on the calling thread and one split over the pool
    // (a small copy can lose more to the fork-join than it gains), so ratios are conservative;
    // each op is then timed alternately with that copy.
    let single = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let reused = [&pool, &single].map(|p| time(elements, || copy_reused(p, &src, &mut dst)));
    let fresh = [&pool, &single].map(|p| {
        time(elements, || {
            black_box(copy_fresh(p, &src));
        })
    });
    let (copy_reused_s, copy_fresh_s) = (reused[0].min(reused[1]), fresh[0].min(fresh[1]));
    let reused_pool = if reused[0] <= reused[1] {
        &pool
    } else {
        &single
    };
    let fresh_pool = if fresh[0] <= fresh[1] { &pool } else { &single };
    for (name, mut layer) in layers.iter().flat_map(|l| l()) {
        let x: ArrayD<T> =
            Array::from_shape_vec(IxDyn(&shape(name, elements)), src.clone()).expect("shape");
        let mut out = ArrayD::<T>::zeros(x.raw_dim());
        each!(&mut layer, l => { l.set_seed(7, GeneratorKind::Philox); });
        let fwd = each!(&mut layer, l => time_pair(
            elements,
            || { black_box(copy_fresh(fresh_pool, &src)); },
            || { black_box(l.forward(&x).expect("forward")); },
        ));
        let into = each!(&mut layer, l => time_pair(
            elements,
            || copy_reused(reused_pool, &src, &mut dst),
            || l.forward_into(&x, out.view_mut()).expect("forward_into"),
        ));
        let bwd = each!(&mut layer, l => time_pair(
            elements,
            || copy_reused(reused_pool, &src, &mut dst),
            || l.backward_into(&x, &x, out.view_mut()).expect("backward"),
        ));
        for (op, (base, t)) in [("forward", fwd), ("forward_into", into), ("backward", bwd)] {
            rows.push(Row {
                layer: name,
                op,
                dtype: T::NAME,
                elements,
                threads,
                median_s: t,
                bytes: moved,
                baseline_s: base,
            });
        }
    }
    rows.push(Row {
        layer: "copy",
        op: "forward_into",
        dtype: T::NAME,
        elements,
        threads,
        median_s: copy_reused_s,
        bytes: moved,
        baseline_s: copy_reused_s,
    });
    rows.push(Row {
        layer: "copy",
        op: "forward",
        dtype: T::NAME,
        elements,
        threads,
        median_s: copy_fresh_s,
        bytes: moved,
        baseline_s: copy_fresh_s,
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json = args.iter().any(|a| a == "--json");
    let quick = args.iter().any(|a| a == "--quick");
    let half = args.iter().any(|a| a == "--half");
    let shaped = args.iter().any(|a| a == "--noise-shapes");
    let every: &[Layers] = &[layers, noise_shape_layers];
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut thread_counts = vec![1];
    if all > 1 {
        thread_counts.push(all);
    }
    let mut rows = Vec::new();
    for &threads in &thread_counts {
        if shaped {
            measure::<f32>(4, 16 << 20, threads, &[noise_shape_layers], &mut rows);
            continue;
        }
        if !half {
            measure::<f32>(4, 16 << 20, threads, every, &mut rows);
        }
        if !quick && !half {
            measure::<f32>(4, 1 << 18, threads, every, &mut rows);
            measure::<f64>(8, 8 << 20, threads, every, &mut rows);
        }
        if !quick {
            measure::<f16>(2, 32 << 20, threads, every, &mut rows);
            measure::<bf16>(2, 32 << 20, threads, every, &mut rows);
        }
    }
    let isa = isa();
    if json {
        for r in &rows {
            println!(
                "{{\"layer\": \"{}\", \"op\": \"{}\", \"dtype\": \"{}\", \"elements\": {}, \"threads\": {}, \"isa\": \"{isa}\", \"median_s\": {:.6e}, \"gbps\": {:.3}, \"copy_gbps\": {:.3}, \"ratio_to_copy\": {:.3}}}",
                r.layer, r.op, r.dtype, r.elements, r.threads, r.median_s, r.bytes / r.median_s / 1e9, r.bytes / r.baseline_s / 1e9, r.baseline_s / r.median_s
            );
        }
        return;
    }
    println!("dropkit throughput: median of {REPEATS} (1 MiB: {}), GB/s = bytes read + written; ratio = copy time / op time (same run, same threads)", 10 * REPEATS);
    println!(
        "kernels: {isa} (DROPKIT_KERNEL={:?})",
        std::env::var("DROPKIT_KERNEL").unwrap_or_default()
    );
    for r in rows.iter().filter(|r| {
        r.layer == "copy" && r.elements * bytes_of(r.dtype) == 64 << 20 && r.dtype != "float64"
    }) {
        let into = if r.op == "forward" {
            "a fresh buffer"
        } else {
            "a reused buffer"
        };
        println!(
            "copy: {:.1} GB/s into {into} (64 MiB {}, {} threads)",
            r.bytes / r.median_s / 1e9,
            short(r.dtype),
            r.threads
        );
    }
    println!(
        "{:<24} {:<13} {:<5} {:>6} {:>3} {:>10} {:>7} {:>8} {:>6}",
        "layer", "op", "dtype", "MiB", "thr", "median ms", "GB/s", "Gelem/s", "ratio"
    );
    for r in &rows {
        let bytes_each = bytes_of(r.dtype);
        println!(
            "{:<24} {:<13} {:<5} {:>6} {:>3} {:>10.3} {:>7.1} {:>8.2} {:>6.2}",
            r.layer,
            r.op,
            short(r.dtype),
            (r.elements * bytes_each) >> 20,
            r.threads,
            r.median_s * 1e3,
            r.bytes / r.median_s / 1e9,
            r.elements as f64 / r.median_s / 1e9,
            r.baseline_s / r.median_s
        );
    }
}

/// Bytes per element of a dtype name.
fn bytes_of(dtype: &str) -> usize {
    match dtype {
        "float64" => 8,
        "float32" => 4,
        _ => 2,
    }
}

/// The table's short name of a dtype.
fn short(dtype: &str) -> &'static str {
    match dtype {
        "float64" => "f64",
        "float32" => "f32",
        "float16" => "f16",
        _ => "bf16",
    }
}
