//! Errors and edge cases: every bad input gives the right `Error` variant,
//! a message naming the parameter (or argument) and the bad value, and leaves everything
//! as it was; empty tensors, NaN and Inf inputs, p = 0 and p = 1 behave as documented.

mod common;

use common::{assert_same_bits, data, Float, Kind, Layer, ALL_KINDS, GENERATORS};
use dropkit::{
    num_threads, set_num_threads, DataFormat, Dropout, Error, GaussianDropout, GaussianNoise,
    GeneratorKind, MaskStorage, Module, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
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
    for bad in ["NCWH", "", "nchw ", "NCDHW", "NHW", "channels_last"] {
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
            assert!(msg.contains("NCHW") && msg.contains("NHWC"), "{msg}");
        }
    }
    for ok in ["NCHW", "nchw", "NHWC", "nHwC"] {
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
        for rank in (0..=7).filter(|&r| r != d + 1 && r != d + 2) {
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
    for (((&x, &y), &f), (&g, &gf)) in x.iter().zip(&y).zip(&factor).zip(gi.iter().zip(&gfactor)) {
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
    let scaled = matches!(
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
