//! The functional API against the layers: every function bit-identical to its layer at the
//! same `(seed, draw)`, in both modes, on strided inputs, and its backward equal to the
//! layer's backward after the same forward; argument and shape errors.

use dropkit::functional::{
    self, AlphaArgs, DropoutArgs, FeatureAlphaArgs, GaussianDropoutArgs, GaussianNoiseArgs,
    SpatialArgs,
};
use dropkit::{
    AlphaDropout, DataFormat, Dropout, Error, FeatureAlphaDropout, GaussianDropout, GaussianNoise,
    GeneratorKind, Module, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};
use ndarray::{Array, ArrayD, IxDyn, ShapeBuilder};

const SEED: u64 = 1234;
const DRAWS: [u64; 2] = [0, 5];

/// Data of `shape` with distinct values, in standard layout.
fn data(shape: &[usize]) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    Array::from_shape_vec(
        IxDyn(shape),
        (0..n).map(|i| i as f64 * 0.25 - 3.0).collect(),
    )
    .unwrap()
}

/// The same data in Fortran order (a strided view for the row-major kernels).
fn fortran(x: &ArrayD<f64>) -> ArrayD<f64> {
    let mut f = Array::zeros(IxDyn(x.shape()).f());
    f.assign(x);
    f
}

/// Runs `layer` (seeded with SEED) through `draw` training forwards and returns the last
/// forward's output and the backward of `g` after it (in `training` mode; an evaluation
/// layer runs one evaluation forward after the training ones).
fn layer_at<L: Module>(
    mut layer: L,
    draw: u64,
    training: bool,
    x: &ArrayD<f64>,
    g: &ArrayD<f64>,
) -> (ArrayD<f64>, ArrayD<f64>) {
    layer.set_seed(SEED, GeneratorKind::Philox);
    for _ in 0..draw {
        layer.forward(x).unwrap();
    }
    if !training {
        layer.evaluate();
    }
    let y = layer.forward(x).unwrap();
    let gx = layer.backward(x, g).unwrap();
    (y, gx)
}

/// Checks a forward/backward pair of functions against a layer on `shape`, for both draws,
/// both modes and both layouts, f64 and f32.
fn check<L: Module>(
    shape: &[usize],
    make: impl Fn() -> L,
    forward: impl Fn(&ArrayD<f64>, u64, bool) -> dropkit::Result<ArrayD<f64>>,
    backward: impl Fn(&[usize], &ArrayD<f64>, u64, bool) -> dropkit::Result<ArrayD<f64>>,
    forward32: impl Fn(&ArrayD<f32>, u64, bool) -> dropkit::Result<ArrayD<f32>>,
) {
    let x = data(shape);
    let g = x.mapv(|v| v * 0.5 + 1.0);
    for draw in DRAWS {
        for training in [true, false] {
            let (y, gx) = layer_at(make(), draw, training, &x, &g);
            let what = format!("shape {shape:?} draw {draw} training {training}");
            assert_eq!(forward(&x, draw, training).unwrap(), y, "forward, {what}");
            assert_eq!(
                forward(&fortran(&x), draw, training).unwrap(),
                y,
                "strided, {what}"
            );
            assert_eq!(
                backward(shape, &g, draw, training).unwrap(),
                gx,
                "backward, {what}"
            );
            assert_eq!(
                backward(shape, &fortran(&g), draw, training).unwrap(),
                gx,
                "strided backward, {what}"
            );
            // f32: against the same layer on f32 data.
            let x32 = x.mapv(|v| v as f32);
            let mut layer = make();
            layer.set_seed(SEED, GeneratorKind::Philox);
            for _ in 0..draw {
                layer.forward(&x32).unwrap();
            }
            if !training {
                layer.evaluate();
            }
            assert_eq!(
                forward32(&x32, draw, training).unwrap(),
                layer.forward(&x32).unwrap(),
                "f32, {what}"
            );
        }
    }
    // A training forward that did something: draw 0 and draw 5 differ (not for the
    // deterministic evaluation).
    let a = forward(&x, 0, true).unwrap();
    let b = forward(&x, 5, true).unwrap();
    assert_ne!(a, b, "draws 0 and 5 give the same output on {shape:?}");
}

#[test]
fn dropout_matches_the_layer() {
    for scale in [true, false] {
        let args = |draw, training| DropoutArgs {
            p: 0.3,
            seed: SEED,
            draw,
            training,
            scale,
            noise_shape: None,
        };
        check(
            &[3, 37],
            || Dropout::with_options(0.3, false, scale).unwrap(),
            |x, d, t| functional::dropout(x, &args(d, t)),
            |s, g, d, t| functional::dropout_backward(s, g, &args(d, t)),
            |x, d, t| functional::dropout(x, &args(d, t)),
        );
    }
}

#[test]
fn dropout_with_a_noise_shape_matches_the_layer() {
    let noise = [Some(1), None, Some(1), None];
    let args = |draw, training| DropoutArgs {
        p: 0.3,
        seed: SEED,
        draw,
        training,
        noise_shape: Some(&noise),
        ..Default::default()
    };
    check(
        &[3, 4, 2, 5],
        || Dropout::new(0.3).unwrap().with_noise_shape(&noise).unwrap(),
        |x, d, t| functional::dropout(x, &args(d, t)),
        |s, g, d, t| functional::dropout_backward(s, g, &args(d, t)),
        |x, d, t| functional::dropout(x, &args(d, t)),
    );
    let bad = DropoutArgs {
        noise_shape: Some(&[Some(0)]),
        ..Default::default()
    };
    let x = data(&[3]);
    assert!(matches!(
        functional::dropout(&x, &bad),
        Err(Error::InvalidNoiseShape { .. })
    ));
}

#[test]
fn gaussian_functions_with_a_noise_shape_match_the_layers() {
    let noise = [None, Some(1), None];
    let args = |draw, training| GaussianDropoutArgs {
        rate: 0.4,
        seed: SEED,
        draw,
        training,
        noise_shape: Some(&noise),
    };
    check(
        &[5, 3, 7],
        || {
            GaussianDropout::new(0.4)
                .unwrap()
                .with_noise_shape(&noise)
                .unwrap()
        },
        |x, d, t| functional::gaussian_dropout(x, &args(d, t)),
        |s, g, d, t| functional::gaussian_dropout_backward(s, g, &args(d, t)),
        |x, d, t| functional::gaussian_dropout(x, &args(d, t)),
    );
    let args = |draw, training| GaussianNoiseArgs {
        stddev: 0.7,
        seed: SEED,
        draw,
        training,
        noise_shape: Some(&noise),
    };
    check(
        &[5, 3, 7],
        || {
            GaussianNoise::new(0.7)
                .unwrap()
                .with_noise_shape(&noise)
                .unwrap()
        },
        |x, d, t| functional::gaussian_noise(x, &args(d, t)),
        |s, g, d, t| functional::gaussian_noise_backward(s, g, &args(d, t)),
        |x, d, t| functional::gaussian_noise(x, &args(d, t)),
    );
}

#[test]
fn gaussian_dropout_matches_the_layer() {
    let args = |draw, training| GaussianDropoutArgs {
        rate: 0.4,
        seed: SEED,
        draw,
        training,
        noise_shape: None,
    };
    for stored in [false, true] {
        check(
            &[5, 13],
            || GaussianDropout::new(0.4).unwrap().with_stored_noise(stored),
            |x, d, t| functional::gaussian_dropout(x, &args(d, t)),
            |s, g, d, t| functional::gaussian_dropout_backward(s, g, &args(d, t)),
            |x, d, t| functional::gaussian_dropout(x, &args(d, t)),
        );
    }
}

#[test]
fn gaussian_noise_matches_the_layer() {
    let args = |draw, training| GaussianNoiseArgs {
        stddev: 0.7,
        seed: SEED,
        draw,
        training,
        noise_shape: None,
    };
    check(
        &[2, 3, 11],
        || GaussianNoise::new(0.7).unwrap(),
        |x, d, t| functional::gaussian_noise(x, &args(d, t)),
        |s, g, d, t| functional::gaussian_noise_backward(s, g, &args(d, t)),
        |x, d, t| functional::gaussian_noise(x, &args(d, t)),
    );
}

#[test]
fn alpha_functions_match_the_layers() {
    let args = |draw, training| AlphaArgs {
        p: 0.3,
        seed: SEED,
        draw,
        training,
    };
    check(
        &[3, 37],
        || AlphaDropout::new(0.3).unwrap(),
        |x, d, t| functional::alpha_dropout(x, &args(d, t)),
        |s, g, d, t| functional::alpha_dropout_backward(s, g, &args(d, t)),
        |x, d, t| functional::alpha_dropout(x, &args(d, t)),
    );
    for format in [DataFormat::Nchw, DataFormat::Nhwc] {
        let args = |draw, training| FeatureAlphaArgs {
            p: 0.5,
            format,
            seed: SEED,
            draw,
            training,
        };
        check(
            &[3, 8, 2, 3],
            || FeatureAlphaDropout::with_data_format(0.5, format).unwrap(),
            |x, d, t| functional::feature_alpha_dropout(x, &args(d, t)),
            |s, g, d, t| functional::feature_alpha_dropout_backward(s, g, &args(d, t)),
            |x, d, t| functional::feature_alpha_dropout(x, &args(d, t)),
        );
    }
}

#[test]
fn spatial_functions_match_the_layers() {
    for scale in [false, true] {
        let args = |draw, training, format| SpatialArgs {
            p: 0.5,
            format,
            seed: SEED,
            draw,
            training,
            scale,
        };
        let nchw = DataFormat::Nchw;
        check(
            &[4, 5, 6],
            || SpatialDropout1D::new(0.5).unwrap().with_scale(scale),
            |x, d, t| functional::spatial_dropout1d(x, &args(d, t, nchw)),
            |s, g, d, t| functional::spatial_dropout1d_backward(s, g, &args(d, t, nchw)),
            |x, d, t| functional::spatial_dropout1d(x, &args(d, t, nchw)),
        );
        for format in [DataFormat::Nchw, DataFormat::Nhwc] {
            check(
                &[3, 8, 2, 3],
                || {
                    SpatialDropout2D::with_data_format(0.5, format)
                        .unwrap()
                        .with_scale(scale)
                },
                |x, d, t| functional::spatial_dropout2d(x, &args(d, t, format)),
                |s, g, d, t| functional::spatial_dropout2d_backward(s, g, &args(d, t, format)),
                |x, d, t| functional::spatial_dropout2d(x, &args(d, t, format)),
            );
            check(
                &[2, 8, 2, 2, 3],
                || {
                    SpatialDropout3D::with_data_format(0.5, format)
                        .unwrap()
                        .with_scale(scale)
                },
                |x, d, t| functional::spatial_dropout3d(x, &args(d, t, format)),
                |s, g, d, t| functional::spatial_dropout3d_backward(s, g, &args(d, t, format)),
                |x, d, t| functional::spatial_dropout3d(x, &args(d, t, format)),
            );
        }
    }
}

#[test]
fn a_layer_applied_twice_is_differentiated_per_call() {
    // The use the functional API exists for: two calls before backward, each differentiated.
    let x: ArrayD<f64> = Array::from_elem(IxDyn(&[8, 16]), 1.5);
    let g: ArrayD<f64> = Array::ones(x.raw_dim());
    let args = |draw| DropoutArgs {
        p: 0.5,
        seed: 9,
        draw,
        ..Default::default()
    };
    let y0 = functional::dropout(&x, &args(0)).unwrap();
    let y1 = functional::dropout(&x, &args(1)).unwrap();
    let g0 = functional::dropout_backward(x.shape(), &g, &args(0)).unwrap();
    let g1 = functional::dropout_backward(x.shape(), &g, &args(1)).unwrap();
    for (y, gx) in [(&y0, &g0), (&y1, &g1)] {
        assert!(y.iter().zip(gx).all(|(&y, &gx)| (y == 0.0) == (gx == 0.0)));
    }
    assert_ne!(g0, g1);
}

#[test]
fn errors_name_the_argument_and_nothing_panics() {
    let x = data(&[2, 3]);
    let bad_p = DropoutArgs {
        p: 1.5,
        ..Default::default()
    };
    let e = functional::dropout(&x, &bad_p).unwrap_err();
    assert!(matches!(e, Error::InvalidProbability { .. }), "{e}");
    assert!(e.to_string().contains("1.5"), "{e}");
    let e = functional::dropout_backward(x.shape(), &x, &bad_p).unwrap_err();
    assert!(matches!(e, Error::InvalidProbability { .. }), "{e}");

    let e = functional::gaussian_dropout(
        &x,
        &GaussianDropoutArgs {
            rate: 1.0,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("rate"), "{e}");
    let e = functional::gaussian_noise(
        &x,
        &GaussianNoiseArgs {
            stddev: -1.0,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("stddev"), "{e}");

    // A gradient of another shape than the input's, in both modes.
    for training in [true, false] {
        let args = DropoutArgs {
            training,
            ..Default::default()
        };
        let e = functional::dropout_backward(&[3, 2], &x, &args).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let e = functional::dropout_backward(&[2, 3, 1], &x, &args).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    }
    // A Spatial input of the wrong rank.
    let args = SpatialArgs::default();
    assert!(functional::spatial_dropout2d(&x, &args).is_err());
    assert!(functional::spatial_dropout2d_backward(x.shape(), &x, &args).is_err());
    // An input shape whose element count overflows.
    let huge = [usize::MAX, 2];
    let e = functional::dropout_backward(&huge, &x, &DropoutArgs::default()).unwrap_err();
    assert!(
        matches!(e, Error::ShapeOverflow { .. } | Error::ShapeMismatch { .. }),
        "{e}"
    );
}

#[test]
fn empty_inputs_and_extreme_draws() {
    let x = data(&[0, 4]);
    let args = DropoutArgs {
        draw: u64::MAX,
        seed: u64::MAX,
        ..Default::default()
    };
    assert_eq!(functional::dropout(&x, &args).unwrap().shape(), &[0, 4]);
    assert_eq!(
        functional::dropout_backward(x.shape(), &x, &args)
            .unwrap()
            .shape(),
        &[0, 4]
    );
    let y = data(&[3, 5]);
    let mut layer = Dropout::new(0.5).unwrap();
    layer
        .set_generator_state(dropkit::GeneratorState::Philox {
            seed: u64::MAX,
            draw: u64::MAX,
        })
        .unwrap();
    assert_eq!(
        functional::dropout(&y, &args).unwrap(),
        layer.forward(&y).unwrap()
    );
}
