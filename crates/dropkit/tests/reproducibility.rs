//! Reproducibility: the same seed gives bit-identical results for any
//! thread count, any memory layout of the same logical data, with a stored or a regenerated
//! mask, and after replaying a saved generator state; the process default generator hands
//! out draws atomically.
//!
//! The thread count and the default generator are process-wide: tests that change them hold
//! `GLOBALS`. Every other test gives its layers their own seeds, so it does not depend on
//! either (which is itself part of the contract).

mod common;

use common::{assert_same_bits, bits_of, data, Float, Kind, Layer, ALL_KINDS, GENERATORS};
use dropkit::rng::{default_state, set_default_state, BigDlStream};
use dropkit::{
    num_threads, set_num_threads, set_seed, Dropout, GaussianNoise, GeneratorKind, GeneratorState,
    MaskStorage, Module,
};
use ndarray::{
    Array, ArrayBase, ArrayD, ArrayViewD, ArrayViewMutD, Axis, IxDyn, RawData, ShapeBuilder, Slice,
};
use std::collections::HashMap;
use std::sync::Mutex;

/// Held by tests that change the thread count or use the default generator.
static GLOBALS: Mutex<()> = Mutex::new(());

fn lock_globals() -> std::sync::MutexGuard<'static, ()> {
    GLOBALS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything a seeded layer produces on `shape`: `passes` training forwards with their
/// backwards, then (for more than one pass) an evaluation forward and backward, as bits.
fn run_layer<T: Float>(kind: Kind, gen: GeneratorKind, shape: &[usize], passes: usize) -> Vec<u64> {
    let mut layer = kind.seeded(0.3, 0xC0FFEE, gen);
    let x = data::<T>(shape, 1);
    let g = data::<T>(shape, 2);
    let mut out = Vec::new();
    for _ in 0..passes {
        out.extend(bits_of(&layer.forward(&x).unwrap()));
        out.extend(bits_of(&layer.backward(&x, &g).unwrap()));
    }
    if passes > 1 {
        layer.evaluate();
        out.extend(bits_of(&layer.forward(&x).unwrap()));
        out.extend(bits_of(&layer.backward(&x, &g).unwrap()));
    }
    out
}

/// The ~2^20-element configurations, where a multi-threaded fast path would split the work:
/// every kernel once (element-wise mask stored and regenerated, multiplicative and additive
/// noise, a large Spatial mask and large Spatial maps with the channels last and first, the
/// sequential BigDL stream), both element types. (Not all combinations: the test must stay
/// within a few seconds; the small shapes cover every combination.)
const BIG_CASES: [(Kind, GeneratorKind, bool); 6] = [
    (Kind::Dropout, GeneratorKind::Philox, false),
    (Kind::DropoutRegenerate, GeneratorKind::Philox, true),
    (Kind::GaussianDropout, GeneratorKind::Philox, false),
    (Kind::GaussianNoise, GeneratorKind::Philox, true),
    (Kind::Spatial1D, GeneratorKind::Philox, false),
    (Kind::Spatial2DNchw, GeneratorKind::Philox, true),
];

/// The BigDL stream is sequential; one large case checks that no thread count changes it.
const BIG_BIGDL_CASE: (Kind, GeneratorKind, bool) = (Kind::Dropout, GeneratorKind::BigDl, false);

/// Shapes with at least this many elements are the ~2^20-element ones.
const BIG: usize = 1 << 19;

/// A 64-bit digest of bits (to compare ~2^20-element results across thread counts without
/// keeping them all).
fn digest(bits: impl Iterator<Item = u64>) -> u64 {
    bits.fold(0x0123_4567_89AB_CDEF, |h, b| common::splitmix(h ^ b))
}

/// Every result of the thread test at the current thread count: small shapes in full,
/// ~2^20-element ones (one training forward and backward) as digests.
fn results_at_this_thread_count() -> Vec<(String, Vec<u64>)> {
    fn small<T: Float>(out: &mut Vec<(String, Vec<u64>)>) {
        for kind in ALL_KINDS {
            for gen in GENERATORS {
                for shape in kind.sized_shapes() {
                    if shape.iter().product::<usize>() < BIG {
                        let label = format!("{kind:?} {gen:?} {} {shape:?}", T::NAME);
                        out.push((label, run_layer::<T>(kind, gen, &shape, 2)));
                    }
                }
            }
        }
    }
    fn big<T: Float>(out: &mut Vec<(String, Vec<u64>)>, kind: Kind, gen: GeneratorKind) {
        for shape in kind.sized_shapes() {
            if shape.iter().product::<usize>() >= BIG {
                let x = data::<T>(&shape, 1);
                let g = data::<T>(&shape, 2);
                let mut layer = kind.seeded(0.3, 0xC0FFEE, gen);
                let y = layer.forward(&x).unwrap();
                let gi = layer.backward(&x, &g).unwrap();
                let d = digest(y.iter().chain(gi.iter()).map(|v| v.bits()));
                out.push((format!("{kind:?} {gen:?} {} {shape:?}", T::NAME), vec![d]));
            }
        }
    }
    let mut out = Vec::new();
    small::<f32>(&mut out);
    small::<f64>(&mut out);
    for (kind, gen, double) in BIG_CASES.into_iter().chain([BIG_BIGDL_CASE]) {
        if double {
            big::<f64>(&mut out, kind, gen);
        } else {
            big::<f32>(&mut out, kind, gen);
        }
    }
    out
}

#[test]
fn same_seed_same_bits_at_1_2_and_8_threads() {
    let _guard = lock_globals();
    // The thread count is set once per pass (building pools is not what is tested).
    let mut first: Option<Vec<(String, Vec<u64>)>> = None;
    for threads in [1, 2, 8] {
        set_num_threads(threads).unwrap();
        assert_eq!(num_threads(), threads);
        let got = results_at_this_thread_count();
        match &first {
            None => first = Some(got),
            Some(want) => {
                assert_eq!(want.len(), got.len());
                for ((label, a), (_, b)) in want.iter().zip(&got) {
                    assert!(a == b, "{label}: {threads} threads differ from 1 thread");
                }
            }
        }
    }
    set_num_threads(2).unwrap();
}

#[test]
fn seeded_layers_running_concurrently_match_sequential_runs() {
    // Own seeds make layers independent of each other and of scheduling.
    let jobs: Vec<(Kind, GeneratorKind)> = ALL_KINDS
        .into_iter()
        .flat_map(|k| GENERATORS.map(|g| (k, g)))
        .collect();
    let sequential: Vec<Vec<u64>> = jobs
        .iter()
        .map(|&(k, g)| run_layer::<f32>(k, g, &k.small_shape(), 3))
        .collect();
    let concurrent: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|&(k, g)| s.spawn(move || run_layer::<f32>(k, g, &k.small_shape(), 3)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((job, a), b) in jobs.iter().zip(&sequential).zip(&concurrent) {
        assert!(a == b, "{job:?}: concurrent run differs");
    }
}

// ---------------------------------------------------------------- layouts

/// Views with the same logical data as `x` but other strides. Each owner array is returned
/// with a function that makes the view from it.
enum Layout {
    /// A transposed view (reversed axes) of a contiguous array holding the transpose.
    Transposed,
    /// Every second index of axis 0 of a bigger array.
    StepAxis0,
    /// Every third index of the last axis of a bigger array.
    StepLastAxis,
    /// A negative stride on axis 0, over an array holding the reversed data.
    NegativeAxis0,
    /// Negative strides on every axis.
    NegativeAll,
    /// Column-major (Fortran order).
    Fortran,
}

const LAYOUTS: [Layout; 6] = [
    Layout::Transposed,
    Layout::StepAxis0,
    Layout::StepLastAxis,
    Layout::NegativeAxis0,
    Layout::NegativeAll,
    Layout::Fortran,
];

impl Layout {
    fn name(&self) -> &'static str {
        match self {
            Layout::Transposed => "transposed",
            Layout::StepAxis0 => "step 2 on axis 0",
            Layout::StepLastAxis => "step 3 on the last axis",
            Layout::NegativeAxis0 => "negative stride on axis 0",
            Layout::NegativeAll => "negative strides everywhere",
            Layout::Fortran => "Fortran order",
        }
    }

    /// The owner array for `x`, filled with `fill` where the view does not reach.
    fn owner<T: Float>(&self, x: &ArrayD<T>, fill: T) -> ArrayD<T> {
        let last = Axis(x.ndim() - 1);
        match self {
            Layout::Transposed => x.view().reversed_axes().as_standard_layout().into_owned(),
            Layout::StepAxis0 | Layout::StepLastAxis => {
                let (axis, step) = match self {
                    Layout::StepAxis0 => (Axis(0), 2),
                    _ => (last, 3),
                };
                let mut shape = x.shape().to_vec();
                shape[axis.0] = shape[axis.0] * step as usize + 1;
                let mut big = Array::from_elem(IxDyn(&shape), fill);
                big.slice_axis_mut(axis, Slice::new(1, None, step))
                    .assign(x);
                big
            }
            Layout::NegativeAxis0 | Layout::NegativeAll => {
                let mut v = x.view();
                for a in 0..x.ndim() {
                    if a == 0 || matches!(self, Layout::NegativeAll) {
                        v.invert_axis(Axis(a));
                    }
                }
                v.as_standard_layout().into_owned()
            }
            Layout::Fortran => {
                let mut f = Array::from_elem(IxDyn(x.shape()).f(), fill);
                f.assign(x);
                f
            }
        }
    }

    /// The mutable view of `owner` that holds the logical data.
    fn view<'a, T>(&self, owner: &'a mut ArrayD<T>) -> ArrayViewMutD<'a, T> {
        self.select(owner.view_mut())
    }

    /// The read-only view of `owner` that holds the logical data (as [`Layout::view`]).
    fn view_ref<'a, T>(&self, owner: &'a ArrayD<T>) -> ArrayViewD<'a, T> {
        self.select(owner.view())
    }

    /// Narrows a view of the whole owner to the layout's view.
    fn select<S: RawData>(&self, mut v: ArrayBase<S, IxDyn>) -> ArrayBase<S, IxDyn> {
        let ndim = v.ndim();
        match self {
            Layout::Transposed => v.reversed_axes(),
            Layout::StepAxis0 => {
                v.slice_axis_inplace(Axis(0), Slice::new(1, None, 2));
                v
            }
            Layout::StepLastAxis => {
                v.slice_axis_inplace(Axis(ndim - 1), Slice::new(1, None, 3));
                v
            }
            Layout::NegativeAxis0 => {
                v.invert_axis(Axis(0));
                v
            }
            Layout::NegativeAll => {
                for a in 0..ndim {
                    v.invert_axis(Axis(a));
                }
                v
            }
            Layout::Fortran => v,
        }
    }
}

/// Elements of `owner` outside `layout`'s view keep the fill value.
fn assert_outside_untouched<T: Float>(layout: &Layout, owner: &ArrayD<T>, fill: T, what: &str) {
    let mut marks = owner.mapv(|_| 0u8);
    layout.view(&mut marks).fill(1);
    for (v, &m) in owner.iter().zip(&marks) {
        if m == 0 {
            assert!(v.bits() == fill.bits(), "{what}: wrote outside the view");
        }
    }
}

fn layouts_do_not_change_results<T: Float>(kind: Kind, gen: GeneratorKind) {
    let shape = kind.small_shape();
    let x = data::<T>(&shape, 3);
    let g = data::<T>(&shape, 4);
    let fill = T::from_f64(-777.0);
    let seed = 4242;
    // Contiguous reference: two training steps, then evaluation.
    let mut reference = kind.seeded(0.45, seed, gen);
    let mut want = Vec::new();
    for _ in 0..2 {
        want.push((
            reference.forward(&x).unwrap(),
            reference.backward(&x, &g).unwrap(),
        ));
    }
    reference.evaluate();
    want.push((
        reference.forward(&x).unwrap(),
        reference.backward(&x, &g).unwrap(),
    ));

    for layout in LAYOUTS {
        let what = format!("{kind:?} {gen:?} {} {}", T::NAME, layout.name());
        let xo = layout.owner(&x, fill);
        let go = layout.owner(&g, fill);
        let xv = layout.view_ref(&xo);
        let gv = layout.view_ref(&go);
        assert!(!xv.is_standard_layout(), "{what}: the view must be strided");
        assert_same_bits(&xv, &x, &format!("{what}: view setup"));

        // forward / backward on strided inputs.
        let mut layer = kind.seeded(0.45, seed, gen);
        for (step, (wy, wg)) in want.iter().enumerate() {
            if step == 2 {
                layer.evaluate();
            }
            let y = layer.forward(&xv).unwrap();
            // Standard layout, or the input's memory order where the input is a
            // permutation of a row-major array (transposed, Fortran order).
            assert!(
                y.is_standard_layout() || y.strides() == xv.strides(),
                "{what}: forward returns standard layout or the input's order"
            );
            assert_same_bits(&y, wy, &format!("{what}: forward {step}"));
            let gi = layer.backward(&xv, &gv).unwrap();
            assert_same_bits(&gi, wg, &format!("{what}: backward {step}"));
        }

        // forward_into / backward_into a strided output.
        let mut layer = kind.seeded(0.45, seed, gen);
        for (step, (wy, wg)) in want.iter().enumerate() {
            if step == 2 {
                layer.evaluate();
            }
            let mut yo = layout.owner(&x.mapv(|_| fill), fill);
            layer.forward_into(&x, layout.view(&mut yo)).unwrap();
            assert_same_bits(&layout.view(&mut yo), wy, &format!("{what}: forward_into"));
            assert_outside_untouched(&layout, &yo, fill, &what);
            let mut go2 = layout.owner(&x.mapv(|_| fill), fill);
            layer.backward_into(&x, &gv, layout.view(&mut go2)).unwrap();
            assert_same_bits(
                &layout.view(&mut go2),
                wg,
                &format!("{what}: backward_into"),
            );
            assert_outside_untouched(&layout, &go2, fill, &what);
        }

        // forward_inplace / backward_inplace on a strided view.
        let mut layer = kind.seeded(0.45, seed, gen);
        for (step, (wy, wg)) in want.iter().enumerate() {
            if step == 2 {
                layer.evaluate();
            }
            let mut buf = layout.owner(&x, fill);
            layer.forward_inplace(layout.view(&mut buf)).unwrap();
            assert_same_bits(
                &layout.view(&mut buf),
                wy,
                &format!("{what}: forward_inplace"),
            );
            assert_outside_untouched(&layout, &buf, fill, &what);
            let mut gbuf = layout.owner(&g, fill);
            layer.backward_inplace(&xv, layout.view(&mut gbuf)).unwrap();
            assert_same_bits(
                &layout.view(&mut gbuf),
                wg,
                &format!("{what}: backward_inplace"),
            );
            assert_outside_untouched(&layout, &gbuf, fill, &what);
        }
    }
}

#[test]
fn strided_transposed_negative_and_fortran_views_give_the_contiguous_bits() {
    for kind in ALL_KINDS {
        for gen in GENERATORS {
            layouts_do_not_change_results::<f32>(kind, gen);
            layouts_do_not_change_results::<f64>(kind, gen);
        }
    }
}

#[test]
fn fixed_rank_views_from_s_macro_match_contiguous() {
    // The same with statically-ranked arrays and the s! macro: a 2-D transposed view,
    // a stepped slice and a negative-stride slice, through Dropout and SpatialDropout1D.
    use ndarray::{s, Array2, Array3};
    let x2 = Array2::from_shape_fn((9, 13), |(i, j)| (i * 13 + j) as f32 * 0.37 - 20.0);
    let t = x2.t().to_owned(); // holds the transpose contiguously
    let mut big = Array2::<f32>::zeros((18, 13));
    big.slice_mut(s![..;2, ..]).assign(&x2);
    let rev = x2.slice(s![..;-1, ..]).to_owned(); // holds the reversed rows
    let views = [t.t(), big.slice(s![..;2, ..]), rev.slice(s![..;-1, ..])];
    for gen in GENERATORS {
        let mut a = Dropout::new(0.5).unwrap();
        a.set_seed(5, gen);
        let want = a.forward(&x2).unwrap();
        let want_g = a.backward(&x2, &x2).unwrap();
        for v in &views {
            assert_eq!(v, &x2);
            let mut b = Dropout::new(0.5).unwrap();
            b.set_seed(5, gen);
            assert_same_bits(&b.forward(v).unwrap(), &want, "Dropout 2-D view");
            assert_same_bits(&b.backward(v, v).unwrap(), &want_g, "Dropout 2-D view bwd");
        }
        let x3 = Array3::from_shape_fn((4, 5, 6), |(n, t, c)| (n * 30 + t * 6 + c) as f64);
        let rev3 = x3.slice(s![.., .., ..;-1]).to_owned();
        let mut a = Kind::Spatial1D.seeded(0.5, 6, gen);
        let want = a.forward(&x3).unwrap();
        let mut b = Kind::Spatial1D.seeded(0.5, 6, gen);
        let got = b.forward(&rev3.slice(s![.., .., ..;-1])).unwrap();
        assert_same_bits(&got, &want, "SpatialDropout1D negative channel stride");
    }
}

// ---------------------------------------------------------------- regenerate vs stored

fn regenerate_equals_bits<T: Float>(gen: GeneratorKind) {
    for shape in Kind::Dropout.sized_shapes() {
        let elems: usize = shape.iter().product();
        if elems > 100_000 && T::NAME == "float64" {
            continue;
        }
        let what = format!("{gen:?} {} {shape:?}", T::NAME);
        let mut bits = Dropout::new(0.3).unwrap();
        bits.set_seed(11, gen);
        let mut regen = Dropout::new(0.3)
            .unwrap()
            .with_mask_storage(MaskStorage::Regenerate);
        regen.set_seed(11, gen);
        for step in 0..2 {
            let x = data::<T>(&shape, step);
            let g = data::<T>(&shape, 9 + step);
            let a = bits.forward(&x).unwrap();
            let b = regen.forward(&x).unwrap();
            assert_same_bits(&a, &b, &format!("{what}: forward {step}"));
            let a = bits.backward(&x, &g).unwrap();
            let b = regen.backward(&x, &g).unwrap();
            assert_same_bits(&a, &b, &format!("{what}: backward {step}"));
            // The backward really applied a mask (not an identity or all zeros).
            assert!(elems < 5 || a.iter().zip(&g).any(|(a, g)| a != g), "{what}");
        }
    }
}

#[test]
fn backward_with_a_regenerated_mask_equals_backward_with_stored_bits() {
    for gen in GENERATORS {
        regenerate_equals_bits::<f32>(gen);
        regenerate_equals_bits::<f64>(gen);
    }
}

#[test]
fn saved_bytes_are_one_bit_per_mask_element_or_a_small_constant() {
    let big = (1 << 20) + 3;
    for n in [1usize, 63, 64, 65, 1023, big] {
        let x = Array::from_elem(IxDyn(&[n]), 1.0f32);
        let words = n.div_ceil(64) * 8;

        let mut d = Dropout::new(0.5).unwrap();
        d.set_seed(1, GeneratorKind::Philox);
        assert_eq!(d.saved_bytes(), 0, "nothing saved before a forward");
        d.forward(&x).unwrap();
        assert_eq!(d.saved_bytes(), words, "Philox Bits, n = {n}");

        let mut d = Dropout::new(0.5)
            .unwrap()
            .with_mask_storage(MaskStorage::Regenerate);
        d.set_seed(1, GeneratorKind::Philox);
        d.forward(&x).unwrap();
        assert!(
            d.saved_bytes() <= 16,
            "Philox Regenerate, n = {n}: {}",
            d.saved_bytes()
        );

        // BigDL with bits: the bits, plus at most a saved stream state (MT19937: 2.5 KiB).
        let mut d = Dropout::new(0.5).unwrap();
        d.set_seed(1, GeneratorKind::BigDl);
        d.forward(&x).unwrap();
        let s = d.saved_bytes();
        assert!(s >= words && s <= words + 4096, "BigDL Bits, n = {n}: {s}");

        // Gaussian layers keep no noise: the same small amount for any n.
        for gen in GENERATORS {
            for kind in [Kind::GaussianDropout, Kind::GaussianNoise] {
                let mut l = kind.seeded(0.3, 2, gen);
                l.forward(&x).unwrap();
                let s = l.saved_bytes();
                let limit = if gen == GeneratorKind::Philox {
                    16
                } else {
                    4096
                };
                assert!(s <= limit, "{kind:?} {gen:?} n = {n}: {s} bytes");
            }
        }
    }
    // Spatial layers: one bit per (sample, channel), whatever the map size.
    for (n, c, map) in [(2, 3, 1000), (5, 13, 1), (31, 33, 7)] {
        for kind in [Kind::Spatial1D, Kind::Spatial2DNhwc, Kind::Spatial3DNchw] {
            let shape = kind.shape(n, c, &kind.map(map));
            let x = Array::from_elem(IxDyn(&shape), 1.0f64);
            let mut l = kind.seeded(0.5, 3, GeneratorKind::Philox);
            assert_eq!(l.saved_bytes(), 0);
            l.forward(&x).unwrap();
            assert_eq!(
                l.saved_bytes(),
                (n * c).div_ceil(64) * 8,
                "{kind:?} {shape:?}"
            );
        }
    }
}

// ---------------------------------------------------------------- replay

fn replay<T: Float>(kind: Kind, gen: GeneratorKind) {
    // 7 x 9 = 63 elements (or a 63-map Spatial input): odd, so BigDL normals leave a
    // cached value between forwards.
    let shape = if kind.is_spatial() {
        kind.shape(3, 7, &kind.map(3))
    } else {
        vec![7, 9]
    };
    let what = format!("{kind:?} {gen:?} {}", T::NAME);
    let x = data::<T>(&shape, 1);
    let g = data::<T>(&shape, 2);
    let mut layer = kind.seeded(0.4, 606, gen);
    layer.forward(&x).unwrap(); // move away from the start
    let state = layer.generator_state();
    if gen == GeneratorKind::BigDl && matches!(kind, Kind::GaussianDropout | Kind::GaussianNoise) {
        assert!(
            matches!(
                state,
                GeneratorState::BigDl {
                    pending_pair: Some(_),
                    ..
                }
            ),
            "{what}: the test must cover a cached normal: {state:?}"
        );
    }
    let y1 = layer.forward(&x).unwrap();
    let g1 = layer.backward(&x, &g).unwrap();
    let after = layer.generator_state();
    assert_ne!(
        after, state,
        "{what}: a training forward advances the generator"
    );
    // Replay on the same layer.
    layer.set_generator_state(state);
    assert_eq!(layer.generator_state(), state);
    assert_same_bits(
        &layer.forward(&x).unwrap(),
        &y1,
        &format!("{what}: replay forward"),
    );
    assert_same_bits(
        &layer.backward(&x, &g).unwrap(),
        &g1,
        &format!("{what}: replay bwd"),
    );
    assert_eq!(layer.generator_state(), after, "{what}");
    // Replay on a fresh layer.
    let mut other = kind.make(0.4);
    other.set_generator_state(state);
    assert_same_bits(
        &other.forward(&x).unwrap(),
        &y1,
        &format!("{what}: other layer"),
    );
    // Evaluation forwards take no draw.
    other.evaluate();
    other.forward(&x).unwrap();
    assert_eq!(
        other.generator_state(),
        after,
        "{what}: evaluation draws nothing"
    );
}

#[test]
fn a_saved_generator_state_replays_the_same_mask_and_noise() {
    for kind in ALL_KINDS {
        for gen in GENERATORS {
            replay::<f32>(kind, gen);
            replay::<f64>(kind, gen);
        }
    }
}

#[test]
fn generator_states_count_draws_and_words() {
    let x = Array::from_elem(IxDyn(&[7, 9]), 1.0f32);
    let mut d = Kind::Dropout.seeded(0.5, 7, GeneratorKind::Philox);
    assert_eq!(
        d.generator_state(),
        GeneratorState::Philox { seed: 7, draw: 0 }
    );
    for k in 1..=3 {
        d.forward(&x).unwrap();
        assert_eq!(
            d.generator_state(),
            GeneratorState::Philox { seed: 7, draw: k }
        );
    }
    // BigDL Dropout: one word per element.
    let mut d = Kind::Dropout.seeded(0.5, 7, GeneratorKind::BigDl);
    d.forward(&x).unwrap();
    d.forward(&x).unwrap();
    let want = GeneratorState::BigDl {
        seed: 7,
        words: 126,
        pending_pair: None,
    };
    assert_eq!(d.generator_state(), want);
    // BigDL Spatial: one word per (sample, channel).
    let x4 = Array::from_elem(IxDyn(&[3, 5, 4, 4]), 1.0f32);
    let mut s = Kind::Spatial2DNchw.seeded(0.5, 8, GeneratorKind::BigDl);
    s.forward(&x4).unwrap();
    assert!(matches!(
        s.generator_state(),
        GeneratorState::BigDl { words: 15, .. }
    ));
    // BigDL normals: 63 normals take 32 pairs (64 words) and leave one cached; the next 63
    // start with the cached one and take 31 pairs.
    let mut n = Kind::GaussianNoise.seeded(0.5, 9, GeneratorKind::BigDl);
    n.forward(&x).unwrap();
    let st = n.generator_state();
    assert_eq!(
        st,
        GeneratorState::BigDl {
            seed: 9,
            words: 64,
            pending_pair: Some(62)
        }
    );
    n.forward(&x).unwrap();
    let st = n.generator_state();
    assert_eq!(
        st,
        GeneratorState::BigDl {
            seed: 9,
            words: 126,
            pending_pair: None
        }
    );
}

// ---------------------------------------------------------------- the default generator

#[test]
fn take_default_philox_draw_is_the_draw_a_layer_without_a_seed_would_take() {
    let _guard = lock_globals();
    let x = Array::from_elem(IxDyn(&[256]), 1.0f32);
    set_seed(5, GeneratorKind::Philox);
    assert_eq!(dropkit::rng::take_default_philox_draw(), Some((5, 0)));
    assert_eq!(dropkit::rng::take_default_philox_draw(), Some((5, 1)));
    // The layer's forward takes draw 2, which the functional API reproduces.
    let y = Dropout::new(0.5).unwrap().forward(&x).unwrap();
    let args = dropkit::functional::DropoutArgs {
        p: 0.5,
        seed: 5,
        draw: 2,
        ..Default::default()
    };
    assert_same_bits(
        &dropkit::functional::dropout(&x, &args).unwrap(),
        &y,
        "draw 2",
    );
    assert_eq!(default_state(), GeneratorState::Philox { seed: 5, draw: 3 });
    // BigDL's stream has no (seed, draw) key: nothing is taken.
    set_seed(5, GeneratorKind::BigDl);
    let before = default_state();
    assert_eq!(dropkit::rng::take_default_philox_draw(), None);
    assert_eq!(default_state(), before);
    set_seed(dropkit::rng::DEFAULT_SEED, GeneratorKind::Philox);
}

#[test]
fn default_generator_seeding_state_and_atomic_draws() {
    let _guard = lock_globals();
    let x = Array::from_elem(IxDyn(&[256]), 1.0f32);
    let mask = |y: &ArrayD<f32>| -> Vec<bool> { y.iter().map(|&v| v != 0.0).collect() };

    for gen in GENERATORS {
        // set_seed / default_state / set_default_state.
        set_seed(31337, gen);
        let start = default_state();
        let want_start = match gen {
            GeneratorKind::Philox => GeneratorState::Philox {
                seed: 31337,
                draw: 0,
            },
            GeneratorKind::BigDl => GeneratorState::BigDl {
                seed: 31337,
                words: 0,
                pending_pair: None,
            },
        };
        assert_eq!(start, want_start);
        let mut a = Dropout::new(0.5).unwrap();
        let first = a.forward(&x).unwrap();
        let second = a.forward(&x).unwrap();
        assert_ne!(
            mask(&first),
            mask(&second),
            "{gen:?}: consecutive draws differ"
        );
        set_default_state(start).unwrap();
        let mut b = Dropout::new(0.5).unwrap();
        assert_same_bits(&b.forward(&x).unwrap(), &first, "set_default_state replays");
        set_seed(31337, gen);
        assert_same_bits(&b.forward(&x).unwrap(), &first, "set_seed restarts");
        assert_same_bits(&b.forward(&x).unwrap(), &second, "then continues");
        // A layer with its own generator of the same seed gives the same masks.
        let mut own = Dropout::new(0.5).unwrap();
        own.set_seed(31337, gen);
        assert_same_bits(&own.forward(&x).unwrap(), &first, "own generator");

        // Atomic draws: 8 threads x 16 forwards on the default generator take each of the
        // 128 next draws exactly once (Philox: draw indices 0..128; BigDL: the next 128
        // blocks of 256 words of the stream, each used whole by one forward).
        set_num_threads(2).unwrap();
        set_seed(99, gen);
        let mut expected: HashMap<Vec<bool>, usize> = HashMap::new();
        let mut stream = BigDlStream::new(99);
        for d in 0..128u64 {
            let m: Vec<bool> = match gen {
                GeneratorKind::Philox => (0..256u64)
                    .map(|i| dropkit::rng::word(99, d, i) >= 1 << 31)
                    .collect(),
                GeneratorKind::BigDl => (0..256).map(|_| stream.bernoulli(0.5)).collect(),
            };
            assert!(expected.insert(m, d as usize).is_none(), "distinct masks");
        }
        let outputs: Vec<Vec<bool>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let mut layer = Dropout::new(0.5).unwrap();
                        (0..16)
                            .map(|_| mask(&layer.forward(&x).unwrap()))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let mut used = vec![0u32; 128];
        for m in &outputs {
            let d = *expected
                .get(m)
                .unwrap_or_else(|| panic!("{gen:?}: a mask that is no draw of the stream"));
            used[d] += 1;
        }
        assert!(used.iter().all(|&u| u == 1), "{gen:?}: draws used {used:?}");
        let end = default_state();
        match gen {
            GeneratorKind::Philox => {
                assert_eq!(
                    end,
                    GeneratorState::Philox {
                        seed: 99,
                        draw: 128
                    }
                )
            }
            GeneratorKind::BigDl => assert_eq!(
                end,
                GeneratorState::BigDl {
                    seed: 99,
                    words: 128 * 256,
                    pending_pair: None
                }
            ),
        }
    }

    // Noise layers on the default generator: concurrent forwards take distinct draws too.
    set_seed(5, GeneratorKind::Philox);
    let firsts: Vec<u32> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut l = GaussianNoise::new(1.0).unwrap();
                    (0..8)
                        .map(|_| l.forward(&x).unwrap()[0].to_bits())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut want: Vec<u32> = (0..32u64)
        .map(|d| {
            let n = dropkit::rng::normal::normals4(dropkit::rng::block(5, d, 0))[0];
            (1.0f32 + (0.0f32 + 1.0f32 * n)).to_bits()
        })
        .collect();
    let mut got = firsts;
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want, "each noise forward took its own draw");
}

#[test]
fn layers_with_own_seeds_ignore_the_default_generator() {
    let _guard = lock_globals();
    let run = |default_seed: u64| -> Vec<u64> {
        set_seed(default_seed, GeneratorKind::Philox);
        let mut out = Vec::new();
        for kind in ALL_KINDS {
            let shape = if kind.is_spatial() {
                kind.shape(3, 11, &kind.map(3))
            } else {
                vec![33, 3]
            };
            let x = data::<f32>(&shape, 1);
            let mut l: Layer = kind.seeded(0.5, 77, GeneratorKind::Philox);
            out.extend(bits_of(&l.forward(&x).unwrap()));
        }
        out
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn bigdl_state_replays_a_cached_normal_after_other_draws() {
    // The pending pair is not the last two words: a Bernoulli draw came after it.
    let _guard = lock_globals();
    set_seed(5, GeneratorKind::BigDl);
    let one = Array::from_elem(IxDyn(&[1]), 0.0f64);
    let three = Array::from_elem(IxDyn(&[3]), 1.0f64);
    let mut noise = GaussianNoise::new(1.0).unwrap();
    let mut drop = Dropout::new(0.5).unwrap();
    noise.forward(&one).unwrap(); // words 1-2: a Box-Muller pair, sin half cached
    drop.forward(&three).unwrap(); // words 3-5: Bernoulli draws; the cache is still pending
    let state = default_state();
    assert_eq!(
        state,
        GeneratorState::BigDl {
            seed: 5,
            words: 5,
            pending_pair: Some(0)
        }
    );
    let a = noise.forward(&one).unwrap();
    set_default_state(state).unwrap();
    let b = noise.forward(&one).unwrap();
    assert_same_bits(&b, &a, "replayed normal after a state round trip");
}

#[test]
fn bigdl_states_far_along_the_stream_restore_by_jump_ahead() {
    // 2^63 words could never be replayed; the words after it agree from any nearby position.
    let far = 1u64 << 63;
    let x = Array::from_elem(IxDyn(&[8]), 1.0f32);
    let mut a = Dropout::new(0.5).unwrap();
    a.set_generator_state(GeneratorState::BigDl {
        seed: 9,
        words: far - 5,
        pending_pair: None,
    })
    .unwrap();
    let ya = a.forward(&x).unwrap(); // one word per element: words far - 5 .. far + 3
    let mut b = Dropout::new(0.5).unwrap();
    b.set_generator_state(GeneratorState::BigDl {
        seed: 9,
        words: far,
        pending_pair: None,
    })
    .unwrap();
    let yb = b.forward(&x.slice(ndarray::s![..3]).into_dyn()).unwrap();
    assert_same_bits(
        &yb,
        &ya.slice(ndarray::s![5..]).into_dyn().to_owned(),
        "2^63",
    );
    assert_eq!(a.generator_state(), b.generator_state());

    // The default generator: rebuilt the same way; a refused state leaves it as it was.
    let _guard = lock_globals();
    let state = GeneratorState::BigDl {
        seed: 9,
        words: far,
        pending_pair: Some(far - 7),
    };
    set_default_state(state).unwrap();
    assert_eq!(default_state(), state);
    let bad = GeneratorState::BigDl {
        seed: 9,
        words: far,
        pending_pair: Some(far - 1),
    };
    assert!(set_default_state(bad).is_err());
    assert_eq!(default_state(), state);
}

#[test]
fn bigdl_regenerate_keeps_the_stream_state_not_the_mask() {
    let x = Array::from_elem(IxDyn(&[1 << 20]), 1.0f32);
    let mut d = Dropout::new(0.5)
        .unwrap()
        .with_mask_storage(MaskStorage::Regenerate);
    d.set_seed(1, GeneratorKind::BigDl);
    let y = d.forward(&x).unwrap();
    let s = d.saved_bytes();
    assert!(
        s <= 4096,
        "{s} bytes kept for 2^20 elements with MaskStorage::Regenerate"
    );
    assert_eq!(
        d.backward(&x, &x).unwrap(),
        y,
        "the replayed stream gives the forward's mask"
    );
}
