//! candle's dropout against dropkit's, on one 16 Mi-element f32 tensor (64 MiB, out of cache).
//!
//! Rows: `candle_nn::ops::dropout` and `dropkit_candle::ops::dropout` (p = 0.3), forward
//! alone and forward + backward through candle's backprop (`Tensor::backward` on the output,
//! which seeds the gradient with ones, then the input's gradient), dropkit on one thread and
//! on all. A first row times candle's own copy op the same way: its backward is the
//! bookkeeping candle's backprop adds to any op (a tensor of ones as the seed, a zeroed
//! gradient, an add), so it is the floor under every forward+backward row. Each time is the median of repeats after a warm-up, timed alternately with a plain
//! copy of the tensor into a fresh buffer (the memory roofline), as `benches/throughput.rs` of
//! the core times its rows; the ratio column is the row's time over that copy's. The last
//! columns are the speedup over candle's row and the bytes each keeps for backward.
//!
//! `cargo bench -p dropkit-candle --bench candle_dropout` (`make bench-candle`).

use std::hint::black_box;
use std::time::Instant;

use candle_core::{Device, Tensor, Var};

const ELEMENTS: usize = 16 << 20;
const REPEATS: usize = 9;
const P: f32 = 0.3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite times"));
    v[v.len() / 2]
}

/// Medians of `base` and `op`, timed alternately after a warm-up of each.
fn time_pair(mut base: impl FnMut(), mut op: impl FnMut()) -> (f64, f64) {
    base();
    op();
    let (mut b, mut o) = (Vec::new(), Vec::new());
    for _ in 0..REPEATS {
        let t = Instant::now();
        base();
        b.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        op();
        o.push(t.elapsed().as_secs_f64());
    }
    (median(b), median(o))
}

type Op = fn(&Tensor, u64) -> candle_core::Result<Tensor>;

fn candle_op(x: &Tensor, _draw: u64) -> candle_core::Result<Tensor> {
    candle_nn::ops::dropout(x, P)
}

/// A copy op: its backward through candle's backprop is the bookkeeping every op's backward
/// pays there (the ones seed, a zeroed gradient, an add), the floor of the backward rows.
fn copy_op(x: &Tensor, _draw: u64) -> candle_core::Result<Tensor> {
    x.copy()
}

fn dropkit_op(x: &Tensor, draw: u64) -> candle_core::Result<Tensor> {
    dropkit_candle::ops::dropout(x, P, 1234, draw)
}

fn main() {
    let data: Vec<f32> = (0..ELEMENTS)
        .map(|i| (i % 1000) as f32 * 0.001 + 0.5)
        .collect();
    let x = Var::from_vec(data.clone(), ELEMENTS, &Device::Cpu).expect("x");
    let threads = dropkit::num_threads();
    println!(
        "dropout p = {P} on {ELEMENTS} f32 ({} MiB), candle 0.11; dropkit threads: 1 and {threads}",
        (ELEMENTS * 4) >> 20
    );
    println!(
        "{:<34} {:>16} {:>10} {:>10} {:>9} {:>9} {:>14}",
        "op", "pass", "ms", "copy ms", "x copy", "speedup", "kept for bwd"
    );
    let copy = || {
        black_box(black_box(&data).to_vec());
    };
    let rows: [(&str, Op, usize, &str); 4] = [
        ("candle Tensor::copy (floor)", copy_op, threads, "-"),
        ("candle_nn::ops::dropout", candle_op, threads, "4 B/element"),
        ("dropkit_candle::ops::dropout", dropkit_op, 1, "0 B/element"),
        (
            "dropkit_candle::ops::dropout",
            dropkit_op,
            threads,
            "0 B/element",
        ),
    ];
    for pass in ["forward", "forward+backward"] {
        let mut candle_ms = f64::NAN;
        for (name, op, t, kept) in rows {
            dropkit::set_num_threads(t).expect("threads");
            let mut draw = 0;
            let run = || {
                draw += 1;
                let y = op(x.as_tensor(), draw).expect("forward");
                if pass == "forward" {
                    black_box(y);
                } else {
                    let grads = y.backward().expect("backward");
                    black_box(grads.get(&x).expect("x's gradient"));
                }
            };
            let (base, ms) = time_pair(copy, run);
            let (base, ms) = (base * 1e3, ms * 1e3);
            if name.starts_with("candle_nn") {
                candle_ms = ms;
            }
            let label = if name.starts_with("dropkit") {
                format!("{name} ({t}t)")
            } else {
                name.to_string()
            };
            let speedup = if candle_ms.is_nan() {
                "-".to_string()
            } else {
                format!("{:.1}x", candle_ms / ms)
            };
            println!(
                "{label:<34} {pass:>16} {ms:>10.2} {base:>10.2} {:>9.2} {speedup:>9} {kept:>14}",
                ms / base
            );
        }
    }
    dropkit::set_num_threads(threads).expect("threads");
}
