//! Dropout's `noise_shape` (Keras's semantics): the mask is drawn over the resolved noise
//! shape, element `i` row-major over it with the Philox mapping, and broadcast. So a noise
//! shape of a Spatial layer's mask gives that layer's bits exactly; any other is checked
//! against an oracle written here from the contract; errors name `noise_shape`.

mod common;

use common::{assert_same_bits, data, GENERATORS};
use dropkit::rng::{keep_threshold, word};
use dropkit::{
    Dropout, Error, GaussianDropout, GaussianNoise, GeneratorKind, MaskStorage, Module,
    SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};
use ndarray::{Array, ArrayD, IxDyn, ShapeBuilder};

fn noise_dropout(p: f64, noise: &[Option<usize>], seed: u64, gen: GeneratorKind) -> Dropout {
    let mut d = Dropout::new(p).unwrap().with_noise_shape(noise).unwrap();
    d.set_seed(seed, gen);
    d
}

/// Forward and backward twice (two draws) of `a` and `b` on `shape`, bit for bit.
fn same_passes<A: Module, B: Module>(mut a: A, mut b: B, shape: &[usize], what: &str) {
    for step in 0..2 {
        let x = data::<f32>(shape, step);
        let g = data::<f32>(shape, 10 + step);
        let ya = a.forward(&x).unwrap();
        assert_same_bits(
            &ya,
            &b.forward(&x).unwrap(),
            &format!("{what} forward {step}"),
        );
        assert!(
            ya.iter().any(|&v| v == 0.0) && ya.iter().any(|&v| v != 0.0),
            "{what}"
        );
        let ga = a.backward(&x, &g).unwrap();
        assert_same_bits(
            &ga,
            &b.backward(&x, &g).unwrap(),
            &format!("{what} backward {step}"),
        );
    }
}

#[test]
fn a_spatial_noise_shape_gives_the_spatial_layers_bits() {
    let p = 0.45;
    for gen in GENERATORS {
        for seed in [3, 77] {
            let what = format!("{gen:?} seed {seed}");
            // Channels first: (N, C, 1...) against the NCHW layers with scale.
            let s1 = SpatialDropout1D::with_format(p, "NCHW")
                .unwrap()
                .with_scale(true);
            let s2 = SpatialDropout2D::new(p).unwrap().with_scale(true);
            let s3 = SpatialDropout3D::new(p).unwrap().with_scale(true);
            let mut layers = (s1, s2, s3);
            layers.0.set_seed(seed, gen);
            layers.1.set_seed(seed, gen);
            layers.2.set_seed(seed, gen);
            let n = |shape: &[Option<usize>]| noise_dropout(p, shape, seed, gen);
            let (s1, s2, s3) = layers;
            same_passes(
                n(&[None, None, Some(1)]),
                s1,
                &[4, 6, 9],
                &format!("1D {what}"),
            );
            same_passes(
                n(&[Some(3), Some(5), Some(1), Some(1)]),
                s2,
                &[3, 5, 4, 6],
                &what,
            );
            same_passes(
                n(&[None, None, Some(1), Some(1), Some(1)]),
                s3,
                &[2, 7, 3, 2, 4],
                &format!("3D {what}"),
            );
            // Channels last: (N, 1, 1, C) against NHWC (and 1D's default (N, 1, C)).
            let mut s2 = SpatialDropout2D::with_format(p, "NHWC")
                .unwrap()
                .with_scale(true);
            s2.set_seed(seed, gen);
            same_passes(n(&[None, Some(1), Some(1), None]), s2, &[3, 4, 6, 5], &what);
            let mut s1 = SpatialDropout1D::new(p).unwrap().with_scale(true);
            s1.set_seed(seed, gen);
            same_passes(n(&[None, Some(1), None]), s1, &[4, 9, 6], &what);
            let mut s3 = SpatialDropout3D::with_format(p, "NHWC")
                .unwrap()
                .with_scale(true);
            s3.set_seed(seed, gen);
            same_passes(
                n(&[None, Some(1), Some(1), Some(1), None]),
                s3,
                &[2, 3, 2, 4, 7],
                &what,
            );
        }
    }
}

#[test]
fn a_full_noise_shape_is_plain_dropout() {
    for gen in GENERATORS {
        let mut plain = Dropout::new(0.3).unwrap();
        plain.set_seed(5, gen);
        same_passes(
            noise_dropout(0.3, &[None, Some(7), None], 5, gen),
            plain,
            &[3, 7, 11],
            &format!("{gen:?}"),
        );
    }
}

/// The oracle: keep of data element `idx` is the Philox decision of its noise-shape element
/// (row-major over the resolved noise shape, broadcast axes at index 0).
fn oracle(shape: &[usize], noise: &[usize], seed: u64, draw: u64, p: f64) -> Vec<bool> {
    let x = Array::from_elem(IxDyn(shape), 0u8);
    let threshold = keep_threshold(p);
    x.indexed_iter()
        .map(|(idx, _)| {
            let mut m = 0usize;
            for (axis, &e) in noise.iter().enumerate() {
                let c = if e == 1 { 0 } else { idx[axis] };
                m = m * e + c;
            }
            u64::from(word(seed, draw, m as u64)) >= threshold
        })
        .collect()
}

#[test]
fn any_noise_shape_follows_the_contract() {
    let p = 0.4;
    let k = (1.0 - p) as f32;
    // Shapes whose maps are general (broadcast between drawn axes, several alternations),
    // the Spatial ones, and ones with axes of size 1.
    let cases: [(&[usize], &[usize]); 7] = [
        (&[3, 4, 5, 6], &[1, 4, 5, 1]),
        (&[3, 4, 5, 6], &[3, 1, 5, 1]),
        (&[2, 3, 2, 3, 2, 3], &[2, 1, 2, 1, 2, 1]),
        (&[2, 3, 2, 3, 2, 3], &[1, 3, 1, 3, 1, 3]),
        (&[5, 1, 7], &[1, 1, 7]),
        (&[6, 9], &[1, 1]),
        (&[4, 1, 1, 8], &[4, 1, 1, 1]),
    ];
    for (shape, noise) in cases {
        for storage in [MaskStorage::Bits, MaskStorage::Regenerate] {
            let entries: Vec<Option<usize>> = noise.iter().map(|&e| Some(e)).collect();
            let mut layer = Dropout::new(p)
                .unwrap()
                .with_noise_shape(&entries)
                .unwrap()
                .with_mask_storage(storage);
            layer.set_seed(21, GeneratorKind::Philox);
            for draw in 0..2 {
                let what = format!("{shape:?} noise {noise:?} {storage:?} draw {draw}");
                let keep = oracle(shape, noise, 21, draw, p);
                let x: ArrayD<f32> = data(shape, draw);
                let want: Vec<f32> = x
                    .iter()
                    .zip(&keep)
                    .map(|(&v, &k_)| if k_ { v / k } else { 0.0 })
                    .collect();
                let want = Array::from_shape_vec(IxDyn(shape), want).unwrap();
                assert_same_bits(&layer.forward(&x).unwrap(), &want, &what);
                // A strided (Fortran-order) input gives the same logical result.
                let mut xf = Array::zeros(IxDyn(shape).f());
                xf.assign(&x);
                let mut twin = Dropout::new(p).unwrap().with_noise_shape(&entries).unwrap();
                twin.set_generator_state(dropkit::GeneratorState::Philox { seed: 21, draw })
                    .unwrap();
                assert_same_bits(
                    &twin.forward(&xf).unwrap(),
                    &want,
                    &format!("{what} strided"),
                );
                let g = x.mapv(|v| v + 1.0);
                let want_g: Vec<f32> = g
                    .iter()
                    .zip(&keep)
                    .map(|(&v, &k_)| {
                        if k_ {
                            v * (1.0 / (1.0 - p)) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let want_g = Array::from_shape_vec(IxDyn(shape), want_g).unwrap();
                assert_same_bits(&layer.backward(&x, &g).unwrap(), &want_g, &what);
            }
            // Memory kept: 1 bit per noise-shape element (in 64-bit words) or nothing.
            let noise_len: usize = noise.iter().product();
            let bytes = layer.saved_bytes();
            match storage {
                MaskStorage::Bits => assert_eq!(bytes, noise_len.div_ceil(64) * 8),
                MaskStorage::Regenerate => assert_eq!(bytes, 0),
            }
        }
    }
}

#[test]
fn noise_shape_errors_name_the_parameter_and_both_shapes() {
    let e = Dropout::new(0.5)
        .unwrap()
        .with_noise_shape(&[Some(2), Some(0)])
        .unwrap_err();
    assert!(matches!(e, Error::InvalidNoiseShape { .. }), "{e:?}");
    assert!(e.to_string().contains("noise_shape = (2, 0)"), "{e}");
    let mut d = Dropout::new(0.5)
        .unwrap()
        .with_noise_shape(&[None, Some(3), Some(1)])
        .unwrap();
    let x = data::<f32>(&[2, 4, 5], 1);
    for mode in ["train", "eval"] {
        if mode == "eval" {
            d.evaluate();
        }
        let e = d.forward(&x).unwrap_err();
        assert_eq!(
            e,
            Error::ShapeMismatch {
                layer: "Dropout",
                argument: "noise_shape",
                expected: vec![2, 4, 5],
                got: vec![2, 3, 1],
            },
            "{mode}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("noise_shape") && msg.contains("(2, 4, 5)"),
            "{msg}"
        );
        let e = d.forward(&data::<f32>(&[2, 3], 1)).unwrap_err();
        assert!(matches!(
            e,
            Error::ShapeMismatch {
                argument: "noise_shape",
                ..
            }
        ));
    }
}

/// The Gaussian layers with a noise shape: the value at data element `j` is the unbroadcast
/// layer's noise for the noise-shape element `j` maps to (computed by the unbroadcast layer on
/// ones, or zeros, of the noise shape); backward multiplies by the same values.
#[test]
fn gaussian_noise_shapes_broadcast_the_unbroadcast_noise() {
    let shape = [3, 4, 5, 6];
    let noise = [1usize, 4, 1, 6];
    let entries: Vec<Option<usize>> = noise.iter().map(|&e| Some(e)).collect();
    let noise_len: usize = noise.iter().product();
    // Data element (a, b, c, d) reads noise-shape element b * 6 + d.
    let x: ArrayD<f64> = data(&shape, 3);
    let index = |i: usize| ((i / 30) % 4) * 6 + i % 6;
    for gen in GENERATORS {
        for multiplicative in [true, false] {
            let what = format!("{gen:?} multiplicative {multiplicative}");
            // The unbroadcast layer's noise values over the noise shape.
            let (mut plain, mut layer, base): (
                Box<dyn dropkit::Layer<f64>>,
                Box<dyn dropkit::Layer<f64>>,
                f64,
            ) = if multiplicative {
                let mut a = GaussianDropout::new(0.3).unwrap();
                a.set_seed(4, gen);
                let mut b = GaussianDropout::new(0.3)
                    .unwrap()
                    .with_noise_shape(&entries)
                    .unwrap();
                b.set_seed(4, gen);
                (Box::new(a), Box::new(b), 1.0)
            } else {
                let mut a = GaussianNoise::new(0.6).unwrap();
                a.set_seed(4, gen);
                let mut b = GaussianNoise::new(0.6)
                    .unwrap()
                    .with_noise_shape(&entries)
                    .unwrap();
                b.set_seed(4, gen);
                (Box::new(a), Box::new(b), 0.0)
            };
            let ones = ArrayD::from_elem(IxDyn(&[noise_len]), base);
            let e = plain.forward(ones.view()).unwrap();
            let y = layer.forward(x.view()).unwrap();
            let g = x.mapv(|v| v * 0.5 + 1.0);
            let gi = layer.backward(x.view(), g.view()).unwrap();
            for (i, ((&xv, &yv), (&gv, &giv))) in
                x.iter().zip(&y).zip(g.iter().zip(&gi)).enumerate()
            {
                let ev = e[index(i)];
                let (want_y, want_g) = if multiplicative {
                    (xv * ev, gv * ev)
                } else {
                    (xv + ev, gv)
                };
                assert_eq!(yv.to_bits(), want_y.to_bits(), "{what} element {i}");
                assert_eq!(giv.to_bits(), want_g.to_bits(), "{what} grad {i}");
            }
        }
    }
    // A full noise shape is the layer without one, bit for bit.
    let mut a = GaussianDropout::new(0.3).unwrap();
    a.set_seed(6, GeneratorKind::Philox);
    let mut b = GaussianDropout::new(0.3)
        .unwrap()
        .with_noise_shape(&[None, None, None, None])
        .unwrap();
    b.set_seed(6, GeneratorKind::Philox);
    assert_same_bits(
        &a.forward(&x).unwrap(),
        &b.forward(&x).unwrap(),
        "full noise shape",
    );
}
