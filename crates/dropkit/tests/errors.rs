//! Errors and edge cases: every bad input gives the right `Error` variant,
//! a message naming the parameter (or argument) and the bad value, and leaves everything
//! as it was; empty tensors, NaN and Inf inputs, p = 0 and p = 1 behave as documented.

mod common;

use common::{assert_same_bits, data, Float, Kind, Layer, ALL_KINDS, GENERATORS};
use dropkit::{
    num_threads, set_num_threads, DataFormat, Dropout, Error, GaussianDropout, GaussianNoise,
    Generator, GeneratorKind, GeneratorState, MaskStorage, Module, SpatialDropout1D,
    SpatialDropout2D, SpatialDropout3D, MAX_THREADS,
};
use ndarray::{Array, ArrayD, IxDyn};

/// Values no probability may take.
const BAD_PROBABILITIES: [f64; 7] = [
    -0.1,
    1.5,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    1.000_000_1,
    -1e-12,
];

/// Asserts an `InvalidProbability` for `param` and `value`, whose message names both and
/// the accepted range.
fn assert_bad_probability(e: Error, param: &str, value: f64, accepted: &str) {
    let msg = e.to_string();
    match e {
        Error::InvalidProbability {
            param: p,
            value: v,
            accepted: a,
        } => {
            assert_eq!(p, param, "{msg}");
            assert!(
                v.to_bits() == value.to_bits(),
                "{msg}: value {v} vs {value}"
            );
            assert_eq!(a, accepted, "{msg}");
        }
        other => panic!("expected InvalidProbability, got {other:?}"),
    }
    assert!(msg.contains(param), "{msg:?} does not name {param}");
    assert!(
        msg.contains(&compact(value)),
        "{msg:?} does not show {value}"
    );
    assert!(msg.contains(accepted), "{msg:?} does not say {accepted}");
}

/// How a message shows `v`: the shortest round-trip form, with an exponent for magnitudes
/// below 1e-4 or from 1e16 on (`-1e-12`, not `-0.000000000001`).
fn compact(v: f64) -> String {
    if v.is_finite() && v != 0.0 && !(1e-4..1e16).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

#[test]
fn tiny_and_huge_values_print_compactly() {
    let e = Dropout::new(-1e-300).unwrap_err().to_string();
    assert_eq!(e, "init_p = -1e-300 is not a probability in [0, 1]");
    let e = GaussianNoise::new(-1e300).unwrap_err().to_string();
    assert_eq!(e, "stddev = -1e300 is invalid: it must be finite and >= 0");
    let e = GaussianDropout::new(-1e-12).unwrap_err().to_string();
    assert_eq!(e, "rate = -1e-12 is not a probability in [0, 1)");
}

#[test]
fn probabilities_out_of_range_or_nan_are_rejected_naming_parameter_and_value() {
    for v in BAD_PROBABILITIES {
        assert_bad_probability(Dropout::new(v).unwrap_err(), "init_p", v, "[0, 1]");
        let e = Dropout::with_options(v, true, false).unwrap_err();
        assert_bad_probability(e, "init_p", v, "[0, 1]");
        assert_bad_probability(SpatialDropout1D::new(v).unwrap_err(), "init_p", v, "[0, 1]");
        assert_bad_probability(SpatialDropout2D::new(v).unwrap_err(), "init_p", v, "[0, 1]");
        assert_bad_probability(SpatialDropout3D::new(v).unwrap_err(), "init_p", v, "[0, 1]");
        let e = SpatialDropout2D::with_format(v, "NHWC").unwrap_err();
        assert_bad_probability(e, "init_p", v, "[0, 1]");
        let e = SpatialDropout3D::with_data_format(v, DataFormat::Nhwc).unwrap_err();
        assert_bad_probability(e, "init_p", v, "[0, 1]");
        assert_bad_probability(GaussianDropout::new(v).unwrap_err(), "rate", v, "[0, 1)");

        // set_p: the parameter is `p`, and p is unchanged after the error.
        let mut d = Dropout::new(0.25).unwrap();
        assert_bad_probability(d.set_p(v).unwrap_err(), "p", v, "[0, 1]");
        assert_eq!(d.p(), 0.25);
        let mut s = SpatialDropout1D::new(0.25).unwrap();
        assert_bad_probability(s.set_p(v).unwrap_err(), "p", v, "[0, 1]");
        assert_eq!(s.p(), 0.25);
        let mut s = SpatialDropout2D::new(0.25).unwrap();
        assert_bad_probability(s.set_p(v).unwrap_err(), "p", v, "[0, 1]");
        assert_eq!(s.p(), 0.25);
        let mut s = SpatialDropout3D::new(0.25).unwrap();
        assert_bad_probability(s.set_p(v).unwrap_err(), "p", v, "[0, 1]");
        assert_eq!(s.p(), 0.25);
    }
    // GaussianDropout's rate excludes 1 (the noise variance rate / (1 - rate) is infinite).
    assert_bad_probability(
        GaussianDropout::new(1.0).unwrap_err(),
        "rate",
        1.0,
        "[0, 1)",
    );
    // The ends of the ranges are accepted.
    for ok in [0.0, -0.0, 1.0] {
        assert!(Dropout::new(ok).is_ok(), "{ok}");
        assert!(SpatialDropout3D::new(ok).is_ok(), "{ok}");
        assert!(Dropout::new(0.5).unwrap().set_p(ok).is_ok(), "{ok}");
    }
    assert!(GaussianDropout::new(0.0).is_ok());
    assert!(GaussianDropout::new(0.999_999).is_ok());
}

#[test]
fn bad_stddev_is_rejected_naming_it_and_its_value() {
    for v in [-1.0, -1e-9, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let e = GaussianNoise::new(v).unwrap_err();
        let msg = e.to_string();
        match e {
            Error::InvalidStddev { value } => assert!(value.to_bits() == v.to_bits(), "{msg}"),
            other => panic!("expected InvalidStddev, got {other:?}"),
        }
        assert!(msg.contains("stddev"), "{msg}");
        assert!(msg.contains(&compact(v)), "{msg}");
        assert!(msg.contains(">= 0") && msg.contains("finite"), "{msg}");
    }
    for ok in [0.0, 1e-300, 1e300] {
        assert_eq!(GaussianNoise::new(ok).unwrap().stddev(), ok);
    }
}

#[test]
fn unknown_data_formats_and_generator_names_list_the_accepted_ones() {
    for bad in [
        "NCWH",
        "",
        "nchw ",
        "NCDHW",
        "NHW",
        "channels_lst",
        "channels last",
    ] {
        let errors = [
            SpatialDropout2D::with_format(0.5, bad).unwrap_err(),
            SpatialDropout3D::with_format(0.5, bad).unwrap_err(),
            bad.parse::<DataFormat>().unwrap_err(),
        ];
        for e in errors {
            let msg = e.to_string();
            assert_eq!(e, Error::UnknownDataFormat { value: bad.into() });
            assert!(msg.contains("data_format"), "{msg}");
            assert!(
                msg.contains(&format!("{bad:?}")),
                "{msg} does not quote {bad:?}"
            );
            for name in ["NCHW", "NHWC", "channels_first", "channels_last"] {
                assert!(msg.contains(name), "{msg} does not list {name}");
            }
        }
    }
    for ok in [
        "NCHW",
        "nchw",
        "NHWC",
        "nHwC",
        "channels_first",
        "CHANNELS_LAST",
    ] {
        assert!(SpatialDropout2D::with_format(0.5, ok).is_ok(), "{ok}");
        assert!(SpatialDropout3D::with_format(0.5, ok).is_ok(), "{ok}");
    }
    for bad in ["x", "", "mt19937", "philox4x32", "big dl"] {
        let e = bad.parse::<GeneratorKind>().unwrap_err();
        let msg = e.to_string();
        assert_eq!(e, Error::UnknownGenerator { value: bad.into() });
        assert!(msg.contains("generator"), "{msg}");
        assert!(msg.contains(&format!("{bad:?}")), "{msg}");
        assert!(msg.contains("philox") && msg.contains("bigdl"), "{msg}");
    }
    assert_eq!("PHILOX".parse::<GeneratorKind>(), Ok(GeneratorKind::Philox));
    assert_eq!("BigDL".parse::<GeneratorKind>(), Ok(GeneratorKind::BigDl));
    assert_eq!(GeneratorKind::BigDl.name(), "bigdl");
    assert_eq!(GeneratorKind::Philox.name(), "philox");
}

#[test]
fn thread_count_zero_is_rejected_and_changes_nothing() {
    let before = num_threads();
    let e = set_num_threads(0).unwrap_err();
    assert_eq!(e, Error::InvalidThreadCount { value: 0 });
    let msg = e.to_string();
    assert!(msg.contains("threads") && msg.contains('0'), "{msg}");
    assert_eq!(num_threads(), before);
}

#[test]
fn thread_counts_above_the_maximum_are_rejected_and_change_nothing() {
    let before = num_threads();
    for value in [MAX_THREADS + 1, 1_000_000, usize::MAX] {
        let e = set_num_threads(value).unwrap_err();
        assert_eq!(
            e,
            Error::TooManyThreads {
                value,
                max: MAX_THREADS
            }
        );
        assert_eq!(
            e.to_string(),
            format!("threads = {value} is too many: accepted are 1 to {MAX_THREADS}")
        );
        assert_eq!(num_threads(), before);
    }
}

#[test]
fn an_impossible_pending_pair_is_rejected_and_leaves_the_layer_as_it_was() {
    let mut layer = GaussianNoise::new(1.0).unwrap();
    layer.set_seed(3, GeneratorKind::BigDl);
    let before = layer.generator_state();
    for (words, pair) in [(0, 0), (5, 4), (5, 5), (5, u64::MAX)] {
        let state = GeneratorState::BigDl {
            seed: 3,
            words,
            pending_pair: Some(pair),
        };
        let e = layer.set_generator_state(state).unwrap_err();
        assert_eq!(
            e,
            Error::InvalidPendingPair {
                pending_pair: pair,
                words
            }
        );
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("pending_pair = {pair}"))
                && msg.contains(&format!("words = {words}"))
                && msg.contains("words - 2"),
            "{msg}"
        );
        assert_eq!(layer.generator_state(), before);
        assert_eq!(Generator::from_state(state).unwrap_err(), e);
    }
}

// ---------------------------------------------------------------- ranks

/// The shapes each Spatial layer's message must list (the shape table of the Spatial layers' docs).
fn accepted_shapes(kind: Kind) -> &'static [&'static str] {
    match kind.spatial_dims() {
        1 => &["(N, T, C)", "(T, C)"],
        2 => &["(N, C, H, W)", "(C, H, W)", "(N, H, W, C)", "(H, W, C)"],
        _ => &[
            "(N, C, D, H, W)",
            "(C, D, H, W)",
            "(N, D, H, W, C)",
            "(D, H, W, C)",
        ],
    }
}

fn dims(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("({})", parts.join(", "))
}

fn assert_wrong_rank(e: Error, kind: Kind, layer: &str, shape: &[usize]) {
    let msg = e.to_string();
    if kind.is_feature_alpha() {
        // Any rank from 2: the message says so and names the channel position.
        let format = if kind.channels_last() {
            "(N, ..., C)"
        } else {
            "(N, C, ...)"
        };
        assert!(
            matches!(&e, Error::WrongRank { layer: l, shape: s, .. } if *l == layer && s == shape),
            "{msg}"
        );
        assert!(
            msg.contains("rank 2 or more") && msg.contains(format),
            "{msg}"
        );
        assert!(msg.contains(&format!("rank {}", shape.len())), "{msg}");
        return;
    }
    match &e {
        Error::WrongRank {
            layer: l,
            accepted,
            shape: s,
        } => {
            assert_eq!(*l, layer, "{msg}");
            assert_eq!(s, shape, "{msg}");
            let d = kind.spatial_dims();
            // Both accepted ranks are named (BigDL's 1D message names the wrong ones).
            assert!(accepted.contains(&(d + 2).to_string()), "{msg}");
            assert!(accepted.contains(&(d + 1).to_string()), "{msg}");
        }
        other => panic!("{kind:?}: expected WrongRank, got {other:?}"),
    }
    assert!(msg.contains(layer), "{msg}");
    for a in accepted_shapes(kind) {
        assert!(msg.contains(a), "{msg:?} does not list {a}");
    }
    assert!(
        msg.contains(&dims(shape)),
        "{msg:?} does not show the shape"
    );
    assert!(msg.contains(&format!("rank {}", shape.len())), "{msg}");
}

#[test]
fn spatial_layers_reject_other_ranks_in_both_modes_and_write_nothing() {
    for kind in ALL_KINDS.into_iter().filter(|k| k.is_spatial()) {
        let d = kind.spatial_dims();
        let accepted = |r: usize| {
            if kind.is_feature_alpha() {
                r >= 2
            } else {
                r == d + 1 || r == d + 2
            }
        };
        for rank in (0..=7).filter(|&r| !accepted(r)) {
            let shape: Vec<usize> = (0..rank).map(|i| 2 + i % 2).collect();
            let x = data::<f32>(&shape, 1);
            for mode in ["train", "eval"] {
                let mut layer = kind.seeded(0.5, 1, GeneratorKind::Philox);
                if mode == "eval" {
                    layer.evaluate();
                }
                let name = layer.name();
                let state = layer.generator_state();
                assert_wrong_rank(layer.forward(&x).unwrap_err(), kind, name, &shape);
                // forward_into and forward_inplace write nothing.
                let mut out = x.mapv(|_| 9.0f32);
                let e = layer.forward_into(&x, out.view_mut()).unwrap_err();
                assert_wrong_rank(e, kind, name, &shape);
                assert!(out.iter().all(|&v| v == 9.0), "{kind:?} forward_into wrote");
                let mut buf = x.clone();
                let e = layer.forward_inplace(buf.view_mut()).unwrap_err();
                assert_wrong_rank(e, kind, name, &shape);
                assert_same_bits(&buf, &x, "forward_inplace after a rank error");
                // Backward of such a shape is refused the same way.
                let e = layer.backward(&x, &x).unwrap_err();
                assert_wrong_rank(e, kind, name, &shape);
                let mut g = x.clone();
                let e = layer.backward_inplace(&x, g.view_mut()).unwrap_err();
                assert_wrong_rank(e, kind, name, &shape);
                assert_same_bits(&g, &x, "backward_inplace after a rank error");
                // No draw was taken and nothing was recorded.
                assert_eq!(layer.generator_state(), state, "{kind:?} {mode}");
                if mode == "train" {
                    let ok = data::<f32>(&kind.small_shape(), 2);
                    let e = layer.backward(&ok, &ok).unwrap_err();
                    assert_eq!(e, Error::BackwardBeforeForward { layer: name });
                }
            }
        }
    }
}

// ---------------------------------------------------------------- backward errors

#[test]
fn backward_before_any_training_forward_is_an_error_when_state_is_needed() {
    for kind in ALL_KINDS {
        for gen in GENERATORS {
            let shape = kind.small_shape();
            let x = data::<f64>(&shape, 1);
            let g = data::<f64>(&shape, 2);
            let mut layer = kind.seeded(0.5, 3, gen);
            let name = layer.name();
            if kind == Kind::GaussianNoise {
                // Its gradient is the identity: no state needed.
                assert_same_bits(&layer.backward(&x, &g).unwrap(), &g, "GaussianNoise");
                continue;
            }
            let e = layer.backward(&x, &g).unwrap_err();
            assert_eq!(e, Error::BackwardBeforeForward { layer: name });
            let msg = e.to_string();
            assert!(msg.contains(name) && msg.contains("forward"), "{msg}");
            let mut out = g.mapv(|_| 5.0);
            let e = layer.backward_into(&x, &g, out.view_mut()).unwrap_err();
            assert_eq!(e, Error::BackwardBeforeForward { layer: name });
            assert!(
                out.iter().all(|&v| v == 5.0),
                "{kind:?}: backward_into wrote"
            );
            let mut buf = g.clone();
            let e = layer.backward_inplace(&x, buf.view_mut()).unwrap_err();
            assert_eq!(e, Error::BackwardBeforeForward { layer: name });
            assert_same_bits(&buf, &g, "backward_inplace wrote on error");
        }
    }
}

fn assert_mismatch(e: Error, layer: &str, argument: &str, expected: &[usize], got: &[usize]) {
    let msg = e.to_string();
    match &e {
        Error::ShapeMismatch {
            layer: l,
            argument: a,
            expected: ex,
            got: g,
        } => {
            assert_eq!((*l, *a), (layer, argument), "{msg}");
            assert_eq!((&ex[..], &g[..]), (expected, got), "{msg}");
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
    assert!(msg.contains(layer) && msg.contains(argument), "{msg}");
    assert!(
        msg.contains(&dims(expected)) && msg.contains(&dims(got)),
        "{msg}"
    );
}

#[test]
fn backward_with_shapes_other_than_the_forward_is_a_shape_mismatch() {
    for kind in ALL_KINDS {
        for gen in GENERATORS {
            let a = kind.small_shape();
            // Same rank and element count, other order: only a shape check catches it.
            let mut b = a.clone();
            b.rotate_left(1);
            assert_ne!(a, b);
            let xa = data::<f32>(&a, 1);
            let xb = data::<f32>(&b, 1);
            let mut layer = kind.seeded(0.5, 4, gen);
            let name = layer.name();
            layer.forward(&xa).unwrap();
            let state = layer.generator_state();
            let e = layer.backward(&xb, &xa).unwrap_err();
            assert_mismatch(e, name, "input", &a, &b);
            let e = layer.backward(&xa, &xb).unwrap_err();
            assert_mismatch(e, name, "grad_output", &a, &b);
            let mut buf = xb.clone();
            let e = layer.backward_inplace(&xa, buf.view_mut()).unwrap_err();
            assert_mismatch(e, name, "grad_output", &a, &b);
            assert_same_bits(&buf, &xb, "backward_inplace wrote on error");
            // backward_into a grad_input of another shape.
            let mut out = Array::from_elem(IxDyn(&b), 3.0f32);
            let e = layer.backward_into(&xa, &xa, out.view_mut()).unwrap_err();
            assert_mismatch(e, name, "grad_input", &a, &b);
            assert!(out.iter().all(|&v| v == 3.0));
            // The layer still differentiates its forward afterwards.
            assert!(layer.backward(&xa, &xa).is_ok());
            assert_eq!(layer.generator_state(), state);

            // Evaluation mode before any forward: grad_output must match the input.
            let mut layer = kind.seeded(0.5, 4, gen);
            layer.evaluate();
            let e = layer.backward(&xa, &xb).unwrap_err();
            assert_mismatch(e, name, "grad_output", &a, &b);
        }
    }
}

#[test]
fn forward_into_an_output_of_another_shape_is_refused_and_draws_nothing() {
    for kind in ALL_KINDS {
        let a = kind.small_shape();
        let mut b = a.clone();
        b[0] += 1;
        let x = data::<f64>(&a, 1);
        for gen in GENERATORS {
            for mode in ["train", "eval"] {
                let mut layer = kind.seeded(0.5, 6, gen);
                if mode == "eval" {
                    layer.evaluate();
                }
                let name = layer.name();
                let state = layer.generator_state();
                let mut out = Array::from_elem(IxDyn(&b), 7.0f64);
                let e = layer.forward_into(&x, out.view_mut()).unwrap_err();
                assert_mismatch(e, name, "output", &a, &b);
                assert!(out.iter().all(|&v| v == 7.0), "{kind:?}: output written");
                assert_eq!(layer.generator_state(), state, "{kind:?}: a draw was taken");
            }
        }
    }
}

// ---------------------------------------------------------------- empty tensors

fn empty_shapes(kind: Kind) -> Vec<Vec<usize>> {
    if !kind.is_spatial() {
        return vec![vec![0], vec![0, 5], vec![5, 0], vec![2, 0, 3]];
    }
    let map = kind.map(4);
    let mut zero_map = map.clone();
    zero_map[0] = 0;
    let mut v = vec![
        kind.shape(0, 3, &map),
        kind.shape(2, 0, &map),
        kind.shape(2, 3, &zero_map),
    ];
    let mut unbatched = kind.shape(1, 0, &map);
    unbatched.remove(0);
    v.push(unbatched);
    v
}

fn empty<T: Float>(kind: Kind, gen: GeneratorKind) {
    for shape in empty_shapes(kind) {
        let what = format!("{kind:?} {gen:?} {} {shape:?}", T::NAME);
        let x: ArrayD<T> = Array::zeros(IxDyn(&shape));
        let mut layer = kind.seeded(0.5, 8, gen);
        for mode in ["train", "eval"] {
            if mode == "eval" {
                layer.evaluate();
            }
            let y = layer.forward(&x).unwrap();
            assert_eq!(y.shape(), &shape[..], "{what} {mode}");
            let g = layer.backward(&x, &x).unwrap();
            assert_eq!(g.shape(), &shape[..], "{what} {mode}");
            let mut buf = x.clone();
            layer.forward_inplace(buf.view_mut()).unwrap();
            let mut out = x.clone();
            layer.forward_into(&x, out.view_mut()).unwrap();
            layer.backward_inplace(&x, buf.view_mut()).unwrap();
        }
    }
}

#[test]
fn empty_tensors_pass_through_in_both_modes_and_directions() {
    for kind in ALL_KINDS {
        for gen in GENERATORS {
            empty::<f32>(kind, gen);
            empty::<f64>(kind, gen);
        }
    }
}

/// Empty inputs of a Spatial layer whose `N * C` alone would be a huge mask (2^56 bits for
/// the first): an empty tensor costs no mask, so each runs at once in a few bytes.
#[test]
fn empty_spatial_inputs_cost_no_mask_whatever_n_times_c() {
    let big = 1 << 28;
    for kind in ALL_KINDS.into_iter().filter(|k| k.is_spatial()) {
        let mut zero_map = kind.map(5);
        zero_map[0] = 0;
        let mut unbatched = kind.shape(1, big, &zero_map);
        unbatched.remove(0);
        let shapes = [
            kind.shape(big, big, &zero_map),
            kind.shape(1 << 16, 1 << 16, &zero_map),
            unbatched,
        ];
        for gen in GENERATORS {
            for shape in &shapes {
                let what = format!("{kind:?} {gen:?} {shape:?}");
                let x: ArrayD<f32> = Array::zeros(IxDyn(shape));
                let mut layer = kind.seeded(0.5, 4, gen);
                assert_eq!(layer.forward(&x).unwrap().shape(), &shape[..], "{what}");
                // No mask bits: at most the BigDL stream's saved state.
                assert!(
                    layer.saved_bytes() < 4096,
                    "{what}: {}",
                    layer.saved_bytes()
                );
                assert_eq!(
                    layer.backward(&x, &x).unwrap().shape(),
                    &shape[..],
                    "{what}"
                );
                layer.evaluate();
                assert_eq!(layer.forward(&x).unwrap().shape(), &shape[..], "{what}");
            }
        }
    }
}

/// The rule for every layer: a training forward on an empty tensor takes its draw like any
/// other (Philox's draw index advances by one, so the sequence of draws never depends on the
/// sizes of the inputs), and BigDL's stream, which advances by one word per mask element,
/// advances by none. Backward then differentiates that forward: an empty gradient.
#[test]
fn an_empty_training_forward_takes_one_draw_and_backward_differentiates_it() {
    for kind in ALL_KINDS {
        for gen in GENERATORS {
            for shape in empty_shapes(kind) {
                let what = format!("{kind:?} {gen:?} {shape:?}");
                let empty: ArrayD<f64> = Array::zeros(IxDyn(&shape));
                let mut layer = kind.seeded(0.5, 21, gen);
                let before = layer.generator_state();
                layer.forward(&empty).unwrap();
                let after = layer.generator_state();
                match (&before, &after) {
                    (
                        GeneratorState::Philox { seed: s0, draw: d0 },
                        GeneratorState::Philox { seed: s1, draw: d1 },
                    ) => assert_eq!((s1, *d1), (s0, d0 + 1), "{what}"),
                    _ => assert_eq!(after, before, "{what}: stream words consumed"),
                }
                let g = layer.backward(&empty, &empty).unwrap();
                assert_eq!(g.shape(), &shape[..], "{what}");
                layer.evaluate();
                let g = layer.backward(&empty, &empty).unwrap();
                assert_eq!(g.shape(), &shape[..], "{what}: evaluation mode");
                layer.training();
                let x = data::<f64>(&kind.small_shape(), 5);
                assert!(
                    matches!(layer.backward(&x, &x), Err(Error::ShapeMismatch { .. })),
                    "{what}: backward of the empty forward"
                );
                // The next forward is the one a layer at `after` gives.
                let y = layer.forward(&x).unwrap();
                let mut replay = kind.make(0.5);
                replay.set_generator_state(after);
                assert_same_bits(&replay.forward(&x).unwrap(), &y, &what);
            }
        }
    }
}

// ---------------------------------------------------------------- NaN and Inf

/// A tensor of NaN, +-Inf, signed zeros and ordinary values.
fn specials<T: Float>(shape: &[usize]) -> ArrayD<T> {
    let vals = [
        T::nan(),
        T::infinity(),
        T::neg_infinity(),
        T::neg_zero(),
        T::one(),
        T::from_f64(-3.25),
    ];
    let mut i = 0;
    Array::from_shape_simple_fn(IxDyn(shape), || {
        i += 1;
        vals[(i * 7) % vals.len()]
    })
}

fn nan_inf<T: Float>(kind: Kind, gen: GeneratorKind) {
    let shape = if kind.is_spatial() {
        kind.shape(4, 8, &kind.map(3))
    } else {
        vec![96]
    };
    let what = format!("{kind:?} {gen:?} {}", T::NAME);
    let x = specials::<T>(&shape);
    let additive = kind == Kind::GaussianNoise;
    // The multiplier of each element, from a twin layer on ones: 0 for dropped elements,
    // the scale or the noise for kept ones; for GaussianNoise, the noise e (twin on zeros).
    let base: ArrayD<T> = Array::from_elem(IxDyn(&shape), T::from_f64(f64::from(!additive as u8)));
    let mut twin = kind.seeded(0.5, 10, gen);
    let factor = twin.forward(&base).unwrap();
    let gfactor = twin.backward(&base, &Array::ones(IxDyn(&shape))).unwrap();
    let mut layer = kind.seeded(0.5, 10, gen);
    let y = layer.forward(&x).unwrap();
    let gi = layer.backward(&x, &x).unwrap();
    let mut dropped = 0;
    // The alpha layers set a dropped element to T(a alpha' + b), and their gradient factor
    // is 0 there: the twin's backward on ones tells dropped from kept.
    let alpha = dropkit::AlphaDropout::coefficients(0.5).unwrap();
    let (a, b, alpha_dropped) = (
        T::from_f64(alpha.0),
        T::from_f64(alpha.1),
        T::from_f64(alpha.2),
    );
    for (((&x, &y), &f), (&g, &gf)) in x.iter().zip(&y).zip(&factor).zip(gi.iter().zip(&gfactor)) {
        if kind.is_alpha() {
            if gf.bits() == T::zero().bits() {
                dropped += 1;
                assert!(
                    y.bits() == alpha_dropped.bits(),
                    "{what}: {x:?} dropped -> {y:?}"
                );
                assert!(
                    g.bits() == T::zero().bits(),
                    "{what}: grad {x:?} dropped -> {g:?}"
                );
            } else {
                assert_eq!(gf.bits(), a.bits(), "{what}");
                let want = x * a + b;
                assert!(
                    y.bits() == want.bits() || (x.is_nan() && y.is_nan()),
                    "{what}: kept {x:?} -> {y:?}"
                );
                assert!(
                    (x * a).bits() == g.bits() || (x.is_nan() && g.is_nan()),
                    "{what}"
                );
            }
            continue;
        }
        if additive {
            assert!(
                y.bits() == (x + f).bits() || (x.is_nan() && y.is_nan()),
                "{what}"
            );
            assert!(g.bits() == x.bits() || (x.is_nan() && g.is_nan()), "{what}");
            continue;
        }
        if f.bits() == T::zero().bits() {
            // Dropped: exactly +0.0, whatever the input (set, not multiplied).
            dropped += 1;
            assert!(
                y.bits() == T::zero().bits(),
                "{what}: {x:?} dropped -> {y:?}"
            );
            assert!(
                g.bits() == T::zero().bits(),
                "{what}: grad {x:?} dropped -> {g:?}"
            );
        } else if x.is_nan() {
            assert!(y.is_nan() && g.is_nan(), "{what}: kept NaN -> {y:?}, {g:?}");
        } else if x.is_infinite() {
            // Kept Inf stays infinite, with the sign of the factor.
            assert!(y.is_infinite() && (y > T::zero()) == ((x > T::zero()) == (f > T::zero())));
            assert!(g.is_infinite() && (g > T::zero()) == ((x > T::zero()) == (gf > T::zero())));
        } else {
            assert!(y.is_finite() && g.is_finite(), "{what}: {x:?} -> {y:?}");
        }
    }
    if matches!(kind, Kind::GaussianDropout | Kind::GaussianNoise) {
        assert_eq!(dropped, 0, "{what}");
    } else {
        assert!(
            dropped > 0 && dropped < x.len(),
            "{what}: mixed mask needed"
        );
    }
    // Evaluation: NaN stays NaN, Inf stays Inf (identity, or times T(1 - p) > 0).
    layer.evaluate();
    let y = layer.forward(&x).unwrap();
    for (&x, &y) in x.iter().zip(&y) {
        if x.is_nan() {
            assert!(y.is_nan(), "{what}: eval NaN");
        } else if x.is_infinite() {
            assert_eq!(x, y, "{what}: eval Inf");
        }
    }
}

#[test]
fn nan_and_inf_inputs_are_dropped_to_exact_zero_or_carried() {
    for kind in ALL_KINDS {
        for gen in GENERATORS {
            nan_inf::<f32>(kind, gen);
            nan_inf::<f64>(kind, gen);
        }
    }
}

// ---------------------------------------------------------------- p = 0 and p = 1

/// Data for bit-exact identity checks: signed zeros, a quiet NaN with a payload, Inf, a
/// subnormal and ordinary values.
fn identity_data<T: Float>(shape: &[usize]) -> ArrayD<T> {
    let mut x = data::<T>(shape, 77);
    let specials = [
        T::neg_zero(),
        T::zero(),
        T::infinity(),
        T::neg_infinity(),
        T::min_positive_value() / T::from_f64(8.0),
        quiet_nan_with_payload::<T>(),
    ];
    for (v, s) in x.iter_mut().zip(specials) {
        *v = s;
    }
    x
}

fn quiet_nan_with_payload<T: Float>() -> T {
    if T::NAME == "float32" {
        T::from_f32(f32::from_bits(0x7fc0_1234))
    } else {
        T::from_f64(f64::from_bits(0x7ff8_0000_0000_1234))
    }
}

fn p_zero_identity<T: Float>(kind: Kind, gen: GeneratorKind) {
    if kind == Kind::GaussianNoise {
        return; // stddev 0: see gaussian_noise_with_zero_stddev_keeps_values
    }
    let shape = kind.small_shape();
    let what = format!("{kind:?}(0) {gen:?} {}", T::NAME);
    let x = identity_data::<T>(&shape);
    let g = identity_data::<T>(&shape).mapv(|v| v * T::from_f64(0.5));
    let mut layer = kind.seeded(0.0, 12, gen);
    for mode in ["train", "eval"] {
        if mode == "eval" {
            layer.evaluate();
        }
        for step in 0..2 {
            let y = layer.forward(&x).unwrap();
            assert_same_bits(&y, &x, &format!("{what} {mode} forward {step}"));
            let gi = layer.backward(&x, &g).unwrap();
            assert_same_bits(&gi, &g, &format!("{what} {mode} backward {step}"));
        }
    }
}

#[test]
fn p_zero_is_the_bit_exact_identity() {
    for kind in ALL_KINDS {
        for gen in GENERATORS {
            p_zero_identity::<f32>(kind, gen);
            p_zero_identity::<f64>(kind, gen);
        }
    }
}

#[test]
fn gaussian_noise_with_zero_stddev_keeps_values() {
    // stddev = 0 is the identity in value (the layer adds a zero noise, and -0.0 + 0.0 is
    // +0.0, so only values are compared). NaN stays NaN.
    for gen in GENERATORS {
        let x = identity_data::<f32>(&[5, 7]);
        let mut layer = GaussianNoise::new(0.0).unwrap();
        layer.set_seed(1, gen);
        let y = layer.forward(&x).unwrap();
        for (&a, &b) in x.iter().zip(&y) {
            assert!(
                a == b || (a.is_nan() && b.is_nan()),
                "{gen:?}: {a:?} -> {b:?}"
            );
        }
        assert_same_bits(&layer.backward(&x, &x).unwrap(), &x, "stddev 0 backward");
    }
}

fn p_one_zero<T: Float>(kind: Kind, gen: GeneratorKind) {
    let shape = kind.small_shape();
    let what = format!("{kind:?}(1) {gen:?} {}", T::NAME);
    let x = identity_data::<T>(&shape);
    let mut layer = kind.seeded(1.0, 13, gen);
    for step in 0..2 {
        let y = layer.forward(&x).unwrap();
        assert!(
            y.iter().all(|v| v.bits() == T::zero().bits()),
            "{what}: forward {step} not all +0.0"
        );
        let gi = layer.backward(&x, &x).unwrap();
        assert!(
            gi.iter().all(|v| v.bits() == T::zero().bits()),
            "{what}: backward {step} not all +0.0 (never Inf/NaN)"
        );
    }
    // Evaluation at p = 1: identity with scale, else x * 0 (finite inputs give zeros).
    layer.evaluate();
    let finite = data::<T>(&shape, 3);
    let y = layer.forward(&finite).unwrap();
    let scaled = kind.is_alpha()
        || matches!(
            kind,
            Kind::Dropout | Kind::DropoutRegenerate | Kind::Spatial2DScaled
        );
    if scaled {
        assert_same_bits(&y, &finite, &what);
    } else {
        assert!(y.iter().all(|v| *v == T::zero()), "{what}: eval");
    }
}

#[test]
fn p_one_drops_everything_with_zero_gradient() {
    for kind in ALL_KINDS {
        if matches!(kind, Kind::GaussianDropout | Kind::GaussianNoise) {
            continue; // rate 1 is invalid (tested above); stddev 1 is not a drop rate
        }
        for gen in GENERATORS {
            p_one_zero::<f32>(kind, gen);
            p_one_zero::<f64>(kind, gen);
        }
    }
}

#[test]
fn no_input_panics_for_a_layer_driven_through_every_method() {
    // A sequence of valid and invalid calls on one layer: each returns Ok or Err, never
    // panics, and the layer keeps working.
    let mut layer: Layer = Kind::Dropout.seeded(0.5, 1, GeneratorKind::BigDl);
    let x = data::<f32>(&[4, 4], 1);
    let other = data::<f32>(&[2, 8], 1);
    assert!(layer.backward(&x, &x).is_err());
    assert!(layer.forward(&x).is_ok());
    assert!(layer.backward(&other, &x).is_err());
    assert!(layer.backward(&x, &other).is_err());
    let mut out = other.clone();
    assert!(layer.forward_into(&x, out.view_mut()).is_err());
    let y = layer.forward(&x).unwrap();
    // With g = x, the gradient x * T(1 / 0.5) equals the output x / T(0.5).
    assert_same_bits(
        &layer.backward(&x, &x).unwrap(),
        &y,
        "Dropout still differentiates its last forward",
    );
    let mut d = Dropout::new(0.5)
        .unwrap()
        .with_mask_storage(MaskStorage::Regenerate);
    assert!(d.set_p(f64::NAN).is_err());
    assert_eq!(d.p(), 0.5);
}

#[test]
fn gaussian_noise_with_zero_stddev_is_the_bit_identity() {
    for gen in GENERATORS {
        let x = Array::from_elem(IxDyn(&[4]), -0.0f32);
        let mut layer = GaussianNoise::new(0.0).unwrap();
        layer.set_seed(1, gen);
        assert_same_bits(&layer.forward(&x).unwrap(), &x, &format!("{gen:?}"));
    }
}

#[test]
fn flat_buffers_that_do_not_fit_the_shape_are_errors_not_panics() {
    let src = [1.0f32; 6];
    let mut dst = [7.0f32; 5];
    let mut layer = dropkit::Dropout::new(0.5).unwrap();
    let e = layer
        .forward_flat(
            &[6],
            dropkit::FlatIo::Copy {
                src: &src,
                dst: &mut dst,
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::ShapeMismatch {
                argument: "dst",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(dst, [7.0; 5], "nothing written");
    let mut buf = [1.0f64; 8];
    let mut spatial = dropkit::SpatialDropout2D::new(0.5).unwrap();
    let e = spatial
        .forward_flat(&[1, 2, 3, 3], dropkit::FlatIo::InPlace(&mut buf))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "SpatialDropout2D: input has shape (8), expected (1, 2, 3, 3)"
    );
    let e = spatial
        .backward_flat(
            &[1, 2, 2, 2],
            &[1, 2, 2, 3],
            dropkit::FlatIo::InPlace(&mut buf),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::ShapeMismatch {
                argument: "grad_output",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(buf, [1.0; 8]);
}

// ---------------------------------------------------------------- shape arithmetic

/// Shapes of each rank `kind` takes whose element count overflows `usize`: all dimensions
/// non-zero, and with a 0 in each position (the non-zero dimensions still overflow, which
/// numpy and ndarray refuse too).
fn overflowing_shapes(kind: Kind) -> Vec<Vec<usize>> {
    let full = if kind.is_spatial() {
        kind.spatial_dims() + 2
    } else {
        3
    };
    let mut v = Vec::new();
    for rank in [full, full - 1] {
        v.push(vec![usize::MAX; rank]);
        let mut halves = vec![1; rank];
        halves[0] = 1 << 32;
        halves[rank - 1] = 1 << 32;
        v.push(halves);
        // With a 0, two other dimensions of usize::MAX still overflow.
        for zero in (0..rank).filter(|_| rank >= 3) {
            let mut s = vec![usize::MAX; rank];
            s[zero] = 0;
            v.push(s);
        }
    }
    v
}

fn assert_overflow(e: Error, layer: &str, argument: &str, shape: &[usize]) {
    let msg = e.to_string();
    assert_eq!(
        msg,
        format!(
            "{layer}: {argument} has shape {}, whose element count overflows usize ({})",
            dims(shape),
            usize::MAX
        )
    );
    match e {
        Error::ShapeOverflow {
            layer: l,
            argument: a,
            shape: s,
        } => assert_eq!((l, a, &s[..]), (layer, argument, shape), "{msg}"),
        other => panic!("expected ShapeOverflow, got {other:?}"),
    }
}

#[test]
fn shapes_whose_element_count_overflows_are_errors_in_every_build() {
    // The test profile has debug assertions, so unchecked arithmetic would panic here (and
    // wrap in release).
    for kind in ALL_KINDS {
        for gen in GENERATORS {
            for shape in overflowing_shapes(kind) {
                let mut layer = kind.seeded(0.5, 3, gen);
                let name = layer.name();
                let state = layer.generator_state();
                for mode in ["train", "eval"] {
                    if mode == "eval" {
                        layer.evaluate();
                    }
                    let mut empty: [f32; 0] = [];
                    let e = layer
                        .forward_flat(&shape, dropkit::FlatIo::InPlace(&mut empty))
                        .expect_err(&format!("{kind:?} {shape:?} {mode}"));
                    assert_overflow(e, name, "input", &shape);
                    let e = layer
                        .forward_flat(
                            &shape,
                            dropkit::FlatIo::Copy {
                                src: &[],
                                dst: &mut empty,
                            },
                        )
                        .unwrap_err();
                    assert_overflow(e, name, "input", &shape);
                    let e = layer
                        .backward_flat(&shape, &shape, dropkit::FlatIo::InPlace(&mut empty))
                        .unwrap_err();
                    assert_overflow(e, name, "grad_output", &shape);
                }
                assert_eq!(layer.generator_state(), state, "{kind:?} {shape:?}: drew");
            }
        }
    }
}

#[test]
fn the_issue_reproducer_is_an_overflow_error() {
    let mut layer = SpatialDropout2D::new(0.5).unwrap();
    let shape = [0, usize::MAX, usize::MAX];
    let e = layer
        .forward_flat(&shape, dropkit::FlatIo::<f32>::InPlace(&mut []))
        .unwrap_err();
    assert_overflow(e, "SpatialDropout2D", "input", &shape);
}

// ---------------------------------------------------------------- allocation sizes

/// Outputs whose size comes from the input: a zero-stride view (numpy's `broadcast_to`) of
/// 2^60 elements costs no memory, but its output would take 2^62 bytes (the allocator
/// refuses) and one of 2^62 elements 2^64 bytes (past `usize::MAX`). Each is
/// `Error::OutOfMemory` naming what and the exact bytes, never an abort, and nothing is drawn.
#[test]
fn outputs_the_allocator_refuses_or_whose_bytes_overflow_are_errors() {
    let one = ndarray::arr1(&[1.0f32]);
    for kind in ALL_KINDS {
        for gen in GENERATORS {
            for (n, bytes) in [(1usize << 60, 1u128 << 62), (1 << 62, 1 << 64)] {
                let shape = kind.shape(1, 1, &kind.map(n));
                let what = format!("{kind:?} {gen:?} {shape:?}");
                let x = one.broadcast(IxDyn(&shape)).unwrap();
                let mut layer = kind.seeded(0.5, 9, gen);
                let state = layer.generator_state();
                let oom = Error::OutOfMemory {
                    what: "the output",
                    bytes,
                };
                assert_eq!(layer.forward(&x).unwrap_err(), oom, "{what}");
                assert_eq!(
                    oom.to_string(),
                    format!("out of memory: cannot allocate {bytes} bytes for the output")
                );
                assert_eq!(layer.generator_state(), state, "{what}: drew");
                // An evaluation backward with no forward computes the stateless gradient.
                layer.evaluate();
                assert_eq!(layer.backward(&x, &x).unwrap_err(), oom, "{what}");
                // The layer keeps working.
                layer.training();
                let small = data::<f32>(&kind.small_shape(), 1);
                layer.forward(&small).unwrap();
                layer.backward(&small, &small).unwrap();
            }
        }
    }
}

#[test]
fn a_mask_the_allocator_refuses_is_an_error() {
    let e = dropkit::BitMask::zeros(usize::MAX).unwrap_err();
    assert_eq!(
        e,
        Error::OutOfMemory {
            what: "the keep mask",
            bytes: 1 << 61
        }
    );
}
