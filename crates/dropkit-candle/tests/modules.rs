//! The `ModuleT` types: each training forward takes the next draw (atomically, through
//! `&self`), evaluation is the layer's evaluation forward, checkpoints restore the position,
//! and constructors check their arguments as the core does.

use std::collections::BTreeSet;

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use dropkit::functional::{self as f, SpatialArgs};
use dropkit::{DataFormat, GeneratorState};
use dropkit_candle::{
    ops, AlphaDropout, Dropout, FeatureAlphaDropout, GaussianDropout, GaussianNoise, LayerArgs,
    SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};
use ndarray::{ArrayD, IxDyn};

fn values(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| (i as f32 * 0.61).cos() + 1.25).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn each_training_forward_takes_the_next_draw() {
    let x = values(&[4, 33]);
    let layer = Dropout::new(0.4, 99).unwrap();
    for draw in 0..4 {
        assert_eq!(layer.next_draw(), draw);
        let y = layer.forward_t(&x, true).unwrap();
        let want = ops::dropout(&x, 0.4, 99, draw).unwrap();
        assert_eq!(flat(&y), flat(&want));
    }
    // Evaluation takes no draw.
    layer.forward_t(&x, false).unwrap();
    assert_eq!(
        layer.generator_state(),
        GeneratorState::Philox { seed: 99, draw: 4 }
    );

    let modules: Vec<(Box<dyn ModuleT>, LayerArgs, Vec<usize>)> = vec![
        (
            Box::new(GaussianDropout::new(0.3, 5).unwrap()),
            GaussianDropout::new(0.3, 5).unwrap().args(),
            vec![3, 10],
        ),
        (
            Box::new(GaussianNoise::new(0.3, 5).unwrap()),
            GaussianNoise::new(0.3, 5).unwrap().args(),
            vec![3, 10],
        ),
        (
            Box::new(SpatialDropout1D::new(0.3, 5).unwrap()),
            SpatialDropout1D::new(0.3, 5).unwrap().args(),
            vec![3, 4, 10],
        ),
        (
            Box::new(
                SpatialDropout2D::new(0.3, 5)
                    .unwrap()
                    .with_data_format(DataFormat::Nhwc),
            ),
            SpatialDropout2D::new(0.3, 5)
                .unwrap()
                .with_data_format(DataFormat::Nhwc)
                .args(),
            vec![3, 2, 4, 10],
        ),
        (
            Box::new(SpatialDropout3D::new(0.3, 5).unwrap().with_scale(true)),
            SpatialDropout3D::new(0.3, 5)
                .unwrap()
                .with_scale(true)
                .args(),
            vec![3, 10, 2, 2, 2],
        ),
        (
            Box::new(AlphaDropout::new(0.3, 5).unwrap()),
            AlphaDropout::new(0.3, 5).unwrap().args(),
            vec![3, 10],
        ),
        (
            Box::new(
                FeatureAlphaDropout::new(0.3, 5)
                    .unwrap()
                    .with_data_format(DataFormat::Nhwc),
            ),
            FeatureAlphaDropout::new(0.3, 5)
                .unwrap()
                .with_data_format(DataFormat::Nhwc)
                .args(),
            vec![3, 2, 4, 10],
        ),
    ];
    for (module, args, shape) in modules {
        let x = values(&shape);
        for draw in 0..3 {
            let y = module.forward_t(&x, true).unwrap();
            let want = ops::apply(&x, &args.with_key(5, draw, true)).unwrap();
            assert_eq!(flat(&y), flat(&want), "{args:?} draw {draw}");
        }
    }
}

#[test]
fn a_module_with_a_noise_shape_is_the_op_with_it() {
    let x = values(&[3, 4, 10]);
    let shape = [None, Some(1), None];
    let layer = Dropout::new(0.4, 5)
        .unwrap()
        .with_noise_shape(&shape)
        .unwrap();
    assert_eq!(layer.noise_shape(), Some(&shape[..]));
    let noise = GaussianNoise::new(0.3, 5)
        .unwrap()
        .with_noise_shape(&shape)
        .unwrap();
    let copy = noise.clone();
    for draw in 0..3 {
        let args = layer.args();
        let y = layer.forward_t(&x, true).unwrap();
        let want = ops::apply_with_noise_shape(&x, &args, &shape).unwrap();
        assert_eq!(flat(&y), flat(&want), "draw {draw}");
        let args = noise.args();
        let y = noise.forward_t(&x, true).unwrap();
        let want = ops::apply_with_noise_shape(&x, &args, &shape).unwrap();
        assert_eq!(flat(&y), flat(&want), "draw {draw}");
    }
    assert_eq!(copy.noise_shape(), Some(&shape[..]));
    assert!(Dropout::new(0.4, 5)
        .unwrap()
        .with_noise_shape(&[Some(0)])
        .is_err());
    let e = GaussianDropout::new(0.3, 5)
        .unwrap()
        .with_noise_shape(&[Some(2), None])
        .unwrap()
        .forward_t(&values(&[3, 4]), true)
        .unwrap_err();
    assert!(e.to_string().contains("noise_shape"), "{e}");
}

#[test]
fn concurrent_forwards_take_distinct_draws() {
    let layer = Dropout::new(0.5, 3).unwrap();
    let x = values(&[8, 64]);
    let outputs: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| flat(&layer.forward_t(&x, true).unwrap())))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(layer.next_draw(), 8);
    // Each output is the op at one of the draws 0..8, each draw taken once.
    let mut draws = BTreeSet::new();
    for out in outputs {
        let draw = (0..8)
            .find(|&d| flat(&ops::dropout(&x, 0.5, 3, d).unwrap()) == out)
            .expect("an output at some draw");
        assert!(draws.insert(draw), "draw {draw} taken twice");
    }
}

#[test]
fn checkpoints_restore_the_position() {
    let x = values(&[5, 20]);
    let mut layer = GaussianNoise::new(0.5, 11).unwrap();
    layer.forward_t(&x, true).unwrap();
    let saved = layer.generator_state();
    let next = flat(&layer.forward_t(&x, true).unwrap());
    layer.forward_t(&x, true).unwrap();
    let mut other = GaussianNoise::new(0.5, 0).unwrap();
    other.set_generator_state(saved).unwrap();
    assert_eq!(flat(&other.forward_t(&x, true).unwrap()), next);
    layer.set_generator_state(saved).unwrap();
    assert_eq!(flat(&layer.forward_t(&x, true).unwrap()), next);
    assert_eq!(layer.seed(), 11);
    let clone = layer.clone();
    assert_eq!(clone.generator_state(), layer.generator_state());

    let bigdl = GeneratorState::BigDl {
        seed: 1,
        words: 0,
        pending_pair: None,
    };
    let e = layer.set_generator_state(bigdl).unwrap_err().to_string();
    assert!(e.starts_with("generator = BigDl"), "{e}");
    assert_eq!(
        layer.generator_state(),
        GeneratorState::Philox { seed: 11, draw: 2 }
    );
}

#[test]
fn evaluation_is_the_layers_evaluation_forward() {
    let x = values(&[2, 6, 3, 4]);
    // The identity, for the layers whose evaluation is.
    let identity: Vec<Box<dyn ModuleT>> = vec![
        Box::new(Dropout::new(0.3, 1).unwrap()),
        Box::new(GaussianDropout::new(0.3, 1).unwrap()),
        Box::new(GaussianNoise::new(0.3, 1).unwrap()),
        Box::new(SpatialDropout2D::new(0.3, 1).unwrap().with_scale(true)),
        Box::new(AlphaDropout::new(0.3, 1).unwrap()),
        Box::new(FeatureAlphaDropout::new(0.3, 1).unwrap()),
    ];
    for m in identity {
        assert_eq!(flat(&m.forward_t(&x, false).unwrap()), flat(&x));
    }
    // BigDL's Spatial evaluation: x * T(1 - p), and the same factor in the gradient.
    let p = 0.3f32;
    let factor = (1.0 - f64::from(p)) as f32;
    let layer = SpatialDropout2D::new(p, 1).unwrap();
    let v = Var::from_tensor(&x).unwrap();
    let y = layer.forward_t(&v, false).unwrap();
    let a = ArrayD::from_shape_vec(IxDyn(x.dims()), flat(&x)).unwrap();
    let args = SpatialArgs {
        p: f64::from(p),
        training: false,
        ..SpatialArgs::default()
    };
    let want = f::spatial_dropout2d(&a, &args).unwrap();
    assert_eq!(flat(&y), want.iter().copied().collect::<Vec<_>>());
    for (y, x) in flat(&y).iter().zip(flat(&x)) {
        assert_eq!(*y, x * factor);
    }
    let grads = y.sum_all().unwrap().backward().unwrap();
    assert!(flat(grads.get(&v).unwrap()).iter().all(|&g| g == factor));
    // Dropout without scale: evaluation multiplies by 1 - p.
    let layer = Dropout::new(p, 1).unwrap().with_scale(false);
    let y = layer.forward_t(&x, false).unwrap();
    for (y, x) in flat(&y).iter().zip(flat(&x)) {
        assert_eq!(*y, x * factor);
    }
}

#[test]
fn constructors_check_their_arguments() {
    for p in [-0.5f32, 1.01, f32::NAN] {
        let e = Dropout::new(p, 0).unwrap_err().to_string();
        assert!(e.starts_with("p = "), "{e}");
        for e in [
            SpatialDropout1D::new(p, 0).unwrap_err(),
            SpatialDropout2D::new(p, 0).unwrap_err(),
            SpatialDropout3D::new(p, 0).unwrap_err(),
            AlphaDropout::new(p, 0).unwrap_err(),
            FeatureAlphaDropout::new(p, 0).unwrap_err(),
        ] {
            assert!(e.to_string().starts_with("p = "), "{e}");
        }
    }
    let e = GaussianDropout::new(1.0, 0).unwrap_err().to_string();
    assert!(
        e.starts_with("rate = 1 is not a probability in [0, 1)"),
        "{e}"
    );
    let e = GaussianNoise::new(-0.25, 0).unwrap_err().to_string();
    assert!(e.starts_with("stddev = -0.25 is invalid"), "{e}");
    // set_p checks too, and leaves the layer unchanged on error.
    let mut layer = Dropout::new(0.2, 0).unwrap();
    assert!(layer.set_p(2.0).is_err());
    assert_eq!(layer.args(), Dropout::new(0.2, 0).unwrap().args());
    layer.set_p(0.6).unwrap();
    assert_eq!(layer.args(), Dropout::new(0.6, 0).unwrap().args());
    // A wrong rank is an error in both modes (and a training forward still takes its draw).
    let layer = SpatialDropout1D::new(0.5, 0).unwrap();
    let x = values(&[16]);
    assert!(layer
        .forward_t(&x, true)
        .unwrap_err()
        .to_string()
        .contains("rank"));
    assert!(layer
        .forward_t(&x, false)
        .unwrap_err()
        .to_string()
        .contains("rank"));
    let scaled = SpatialDropout2D::new(0.5, 0).unwrap().with_scale(true);
    assert!(scaled
        .forward_t(&x, false)
        .unwrap_err()
        .to_string()
        .contains("rank"));
    assert_eq!(layer.next_draw(), 1);
    let feature = FeatureAlphaDropout::new(0.5, 0).unwrap();
    for train in [true, false] {
        let e = feature.forward_t(&x, train).unwrap_err().to_string();
        assert!(e.contains("FeatureAlphaDropout takes input of rank"), "{e}");
    }
    // Unsupported dtypes through a module.
    let layer = Dropout::new(0.5, 0).unwrap();
    let h = Tensor::ones((2, 2), DType::U32, &Device::Cpu).unwrap();
    let e = layer.forward_t(&h, true).unwrap_err().to_string();
    assert!(e.contains("dtype u32 is not supported"), "{e}");
}

#[test]
fn a_module_applied_twice_in_one_graph_differentiates_both_calls() {
    // A core layer differentiates only its last forward; here each call's op keeps its own
    // draw, so the gradient of d(x) + 2 d(x) sums both masks.
    let x = Var::from_tensor(&values(&[6, 40])).unwrap();
    let layer = Dropout::new(0.5, 21).unwrap();
    let first = layer.forward_t(&x, true).unwrap();
    let second = layer.forward_t(&x, true).unwrap();
    let y = (first + second.affine(2.0, 0.0).unwrap()).unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    let got = flat(grads.get(&x).unwrap());
    let ones = ArrayD::<f32>::ones(IxDyn(&[6, 40]));
    let mask = |draw| {
        let args = dropkit::functional::DropoutArgs {
            p: 0.5,
            seed: 21,
            draw,
            ..Default::default()
        };
        f::dropout_backward(&[6, 40], &ones, &args).unwrap()
    };
    let want = mask(0) + mask(1).mapv(|v| v * 2.0);
    assert_eq!(got, want.iter().copied().collect::<Vec<_>>());
    // Both masks matter: they differ, and the sum has all of 0, 2, 4 and 6.
    assert_ne!(mask(0), mask(1));
    for v in [0.0, 2.0, 4.0, 6.0] {
        assert!(got.contains(&v), "{v} missing");
    }
}
