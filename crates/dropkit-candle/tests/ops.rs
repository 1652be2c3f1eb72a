//! The ops against the core: the same bits as `dropkit::functional` for every layer, option
//! and element type (`f32`, `f64`, `f16`, `bf16`); gradients through candle's backprop against
//! the core's backward and the layer's formula; strided and offset inputs; errors.

use candle_core::{DType, Device, Tensor, Var};
use dropkit::functional::SpatialArgs;
use dropkit::functional::{self as f, DropoutArgs, GaussianDropoutArgs, GaussianNoiseArgs};
use dropkit::functional::{AlphaArgs, FeatureAlphaArgs};
use dropkit::half::{bf16, f16};
use dropkit::DataFormat;
use dropkit_candle::ops::{self, LayerArgs};
use ndarray::{ArrayD, IxDyn};

/// Deterministic non-zero values (so a dropped element is told from a kept one).
fn values(shape: &[usize], dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() + 1.5).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
        .and_then(|t| t.to_dtype(dtype))
        .unwrap()
}

/// The tensor's values as f64 (exact for every float dtype here), row-major.
fn flat(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

fn array<T: candle_core::WithDType>(t: &Tensor) -> ArrayD<T> {
    let v = t.flatten_all().unwrap().to_vec1::<T>().unwrap();
    ArrayD::from_shape_vec(IxDyn(t.dims()), v).unwrap()
}

/// The bit pattern of a float.
trait Bits: Copy + std::fmt::Debug {
    fn bits(self) -> u64;
}

impl Bits for f32 {
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Bits for f64 {
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

impl Bits for f16 {
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Bits for bf16 {
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

/// Bit-exact equality (NaN payloads and signed zeros count).
fn assert_bits<T: Bits>(a: &[T], b: &[T], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.bits(), y.bits(), "{what}: element {i}: {x:?} vs {y:?}");
    }
}

/// A tensor's elements, row-major.
fn elements<T: candle_core::WithDType>(t: &Tensor) -> Vec<T> {
    t.flatten_all().unwrap().to_vec1::<T>().unwrap()
}

/// Every layer, with its options varied, at `(seed, draw)`, and the input shape it takes.
fn cases(seed: u64, draw: u64) -> Vec<(LayerArgs, Vec<usize>)> {
    let d = DropoutArgs {
        p: 0.3,
        seed,
        draw,
        ..DropoutArgs::default()
    };
    let gd = GaussianDropoutArgs {
        rate: 0.4,
        seed,
        draw,
        training: true,
        noise_shape: None,
    };
    let gn = GaussianNoiseArgs {
        stddev: 0.7,
        seed,
        draw,
        training: true,
        noise_shape: None,
    };
    let s = SpatialArgs {
        p: 0.45,
        seed,
        draw,
        ..SpatialArgs::default()
    };
    let nhwc = SpatialArgs {
        format: DataFormat::Nhwc,
        ..s
    };
    let scaled = SpatialArgs { scale: true, ..s };
    let alpha = AlphaArgs {
        p: 0.35,
        seed,
        draw,
        training: true,
    };
    let feature = FeatureAlphaArgs {
        p: 0.4,
        seed,
        draw,
        ..FeatureAlphaArgs::default()
    };
    let feature_last = FeatureAlphaArgs {
        format: DataFormat::Nhwc,
        ..feature
    };
    vec![
        (LayerArgs::Dropout(d), vec![3, 70, 5]),
        (
            LayerArgs::Dropout(DropoutArgs { scale: false, ..d }),
            vec![130],
        ),
        (LayerArgs::Dropout(DropoutArgs { p: 1.0, ..d }), vec![4, 9]),
        (LayerArgs::Dropout(DropoutArgs { p: 0.0, ..d }), vec![4, 9]),
        (LayerArgs::GaussianDropout(gd), vec![5, 41]),
        (LayerArgs::GaussianNoise(gn), vec![2, 3, 37]),
        (LayerArgs::SpatialDropout1D(s), vec![6, 5, 11]),
        (LayerArgs::SpatialDropout1D(scaled), vec![5, 11]),
        (LayerArgs::SpatialDropout2D(s), vec![3, 16, 4, 5]),
        (LayerArgs::SpatialDropout2D(nhwc), vec![3, 4, 5, 16]),
        (LayerArgs::SpatialDropout2D(scaled), vec![16, 4, 5]),
        (LayerArgs::SpatialDropout3D(s), vec![2, 12, 2, 3, 4]),
        (LayerArgs::SpatialDropout3D(nhwc), vec![2, 2, 3, 4, 12]),
        (LayerArgs::AlphaDropout(alpha), vec![3, 67]),
        (
            LayerArgs::AlphaDropout(AlphaArgs { p: 1.0, ..alpha }),
            vec![4, 9],
        ),
        (LayerArgs::FeatureAlphaDropout(feature), vec![3, 16, 4, 5]),
        (LayerArgs::FeatureAlphaDropout(feature), vec![7, 20]),
        (
            LayerArgs::FeatureAlphaDropout(feature_last),
            vec![3, 4, 5, 16],
        ),
    ]
}

/// The core's functional forward for `args`.
fn core_forward<T: dropkit::Element>(args: &LayerArgs, x: &ArrayD<T>) -> ArrayD<T> {
    match args {
        LayerArgs::Dropout(a) => f::dropout(x, a),
        LayerArgs::GaussianDropout(a) => f::gaussian_dropout(x, a),
        LayerArgs::GaussianNoise(a) => f::gaussian_noise(x, a),
        LayerArgs::SpatialDropout1D(a) => f::spatial_dropout1d(x, a),
        LayerArgs::SpatialDropout2D(a) => f::spatial_dropout2d(x, a),
        LayerArgs::SpatialDropout3D(a) => f::spatial_dropout3d(x, a),
        LayerArgs::AlphaDropout(a) => f::alpha_dropout(x, a),
        LayerArgs::FeatureAlphaDropout(a) => f::feature_alpha_dropout(x, a),
    }
    .unwrap()
}

/// The core's functional backward for `args`.
fn core_backward<T: dropkit::Element>(args: &LayerArgs, g: &ArrayD<T>) -> ArrayD<T> {
    let s = g.shape().to_vec();
    match args {
        LayerArgs::Dropout(a) => f::dropout_backward(&s, g, a),
        LayerArgs::GaussianDropout(a) => f::gaussian_dropout_backward(&s, g, a),
        LayerArgs::GaussianNoise(a) => f::gaussian_noise_backward(&s, g, a),
        LayerArgs::SpatialDropout1D(a) => f::spatial_dropout1d_backward(&s, g, a),
        LayerArgs::SpatialDropout2D(a) => f::spatial_dropout2d_backward(&s, g, a),
        LayerArgs::SpatialDropout3D(a) => f::spatial_dropout3d_backward(&s, g, a),
        LayerArgs::AlphaDropout(a) => f::alpha_dropout_backward(&s, g, a),
        LayerArgs::FeatureAlphaDropout(a) => f::feature_alpha_dropout_backward(&s, g, a),
    }
    .unwrap()
}

fn check_same_bits_as_core<T>(dtype: DType)
where
    T: dropkit::Element + candle_core::WithDType + Bits,
{
    for draw in [0, 1, 7] {
        for training in [true, false] {
            for (args, shape) in cases(2024, draw) {
                let (seed, draw, _) = args.key();
                let args = args.with_key(seed, draw, training);
                let x = values(&shape, dtype);
                let y = ops::apply(&x, &args).unwrap();
                assert_eq!(y.dims(), x.dims());
                assert_eq!(y.dtype(), dtype);
                let want = core_forward(&args, &array::<T>(&x));
                let what = format!("{args:?} forward");
                assert_bits(&elements::<T>(&y), &want.into_raw_vec_and_offset().0, &what);
            }
        }
    }
}

#[test]
fn forward_equals_the_core_bit_for_bit_f32() {
    check_same_bits_as_core::<f32>(DType::F32);
}

#[test]
fn forward_equals_the_core_bit_for_bit_f64() {
    check_same_bits_as_core::<f64>(DType::F64);
}

#[test]
fn forward_equals_the_core_bit_for_bit_f16() {
    check_same_bits_as_core::<f16>(DType::F16);
}

#[test]
fn forward_equals_the_core_bit_for_bit_bf16() {
    check_same_bits_as_core::<bf16>(DType::BF16);
}

/// A half-precision op is the `f32` op on the same values, rounded once to the half type, in
/// both passes (forward and the gradient through backprop).
#[test]
fn half_ops_are_the_f32_op_rounded() {
    for dtype in [DType::F16, DType::BF16] {
        for (args, shape) in cases(404, 2) {
            let x = Var::from_tensor(&values(&shape, dtype)).unwrap();
            let x32 = Var::from_tensor(&x.to_dtype(DType::F32).unwrap()).unwrap();
            let y = ops::apply(&x, &args).unwrap();
            let y32 = ops::apply(&x32, &args).unwrap();
            let what = format!("{args:?} {dtype:?}");
            // candle's to_dtype from f32 rounds to nearest even, as the core does.
            assert_eq!(flat(&y), flat(&y32.to_dtype(dtype).unwrap()), "{what}");
            let c = values(&shape, dtype).affine(-0.5, 0.25).unwrap();
            let c32 = c.to_dtype(DType::F32).unwrap();
            let g = (&y * &c).unwrap().sum_all().unwrap().backward().unwrap();
            let g32 = (&y32 * &c32).unwrap().sum_all().unwrap().backward();
            let g = flat(g.get(&x).unwrap());
            let g32 = g32.unwrap();
            let g32 = g32.get(&x32).unwrap().to_dtype(dtype).unwrap();
            assert_eq!(g, flat(&g32), "{what} gradient");
        }
    }
}

#[test]
fn the_positional_ops_are_the_layers_defaults() {
    let x = values(&[2, 6, 3, 4], DType::F32);
    let a = array::<f32>(&x);
    let y = ops::dropout(&x, 0.3, 5, 2).unwrap();
    let args = DropoutArgs {
        p: f64::from(0.3f32),
        seed: 5,
        draw: 2,
        ..DropoutArgs::default()
    };
    assert_eq!(array::<f32>(&y), f::dropout(&a, &args).unwrap());
    let y = ops::gaussian_dropout(&x, 0.3, 5, 2).unwrap();
    let args = GaussianDropoutArgs {
        rate: f64::from(0.3f32),
        seed: 5,
        draw: 2,
        training: true,
        noise_shape: None,
    };
    assert_eq!(array::<f32>(&y), f::gaussian_dropout(&a, &args).unwrap());
    let y = ops::gaussian_noise(&x, 0.3, 5, 2).unwrap();
    let args = GaussianNoiseArgs {
        stddev: f64::from(0.3f32),
        seed: 5,
        draw: 2,
        training: true,
        noise_shape: None,
    };
    assert_eq!(array::<f32>(&y), f::gaussian_noise(&a, &args).unwrap());
    let s = SpatialArgs {
        p: f64::from(0.3f32),
        seed: 5,
        draw: 2,
        ..SpatialArgs::default()
    };
    let y = ops::spatial_dropout2d(&x, 0.3, 5, 2).unwrap();
    assert_eq!(array::<f32>(&y), f::spatial_dropout2d(&a, &s).unwrap());
    let y = ops::spatial_dropout3d(&x.unsqueeze(0).unwrap(), 0.3, 5, 2).unwrap();
    let a5 = a.clone().insert_axis(ndarray::Axis(0));
    assert_eq!(array::<f32>(&y), f::spatial_dropout3d(&a5, &s).unwrap());
    let x3 = x.reshape((2, 6, 12)).unwrap();
    let y = ops::spatial_dropout1d(&x3, 0.3, 5, 2).unwrap();
    assert_eq!(
        array::<f32>(&y),
        f::spatial_dropout1d(&array::<f32>(&x3), &s).unwrap()
    );
    // Different draws give different masks.
    let y0 = flat(&ops::dropout(&x, 0.5, 5, 0).unwrap());
    let y1 = flat(&ops::dropout(&x, 0.5, 5, 1).unwrap());
    assert_ne!(y0, y1);
}

/// The gradient of `sum(c * op(x))` through candle's backprop is the core's backward of `c`
/// bit for bit, and the layer's formula `c * d op(x) / dx` read off the op on ones.
fn check_gradients<T>(dtype: DType)
where
    T: dropkit::Element + candle_core::WithDType + Bits,
{
    for training in [true, false] {
        for (args, shape) in cases(77, 3) {
            let (seed, draw, _) = args.key();
            let args = args.with_key(seed, draw, training);
            let x = Var::from_tensor(&values(&shape, dtype)).unwrap();
            let c = values(&shape, dtype).affine(-0.5, 0.25).unwrap();
            let y = ops::apply(&x, &args).unwrap();
            let loss = (&y * &c).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            let g = grads.get(&x).expect("x's gradient");
            let what = format!("{args:?} gradient");
            let want = core_backward(&args, &array::<T>(&c));
            assert_bits(&elements::<T>(g), &want.into_raw_vec_and_offset().0, &what);

            // The formula: the op is x -> x * d (Gaussian noise: x + e, d = 1), where d is
            // the op on ones (the noise or the scaled mask); minus e for GaussianNoise.
            // The alpha layers are affine, x -> x * d + e: d is the op on ones minus the op on
            // zeros (exactly 0 where dropped).
            let ones = Tensor::ones(shape.as_slice(), dtype, &Device::Cpu).unwrap();
            let d = match args {
                LayerArgs::GaussianNoise(_) => ones.clone(),
                LayerArgs::AlphaDropout(_) | LayerArgs::FeatureAlphaDropout(_) => {
                    let zeros = ones.zeros_like().unwrap();
                    let y1 = ops::apply(&ones, &args).unwrap().to_dtype(DType::F64);
                    let y0 = ops::apply(&zeros, &args).unwrap().to_dtype(DType::F64);
                    (y1.unwrap() - y0.unwrap()).unwrap()
                }
                _ => ops::apply(&ones, &args).unwrap(),
            };
            let c64 = c.to_dtype(DType::F64).unwrap();
            let d64 = d.to_dtype(DType::F64).unwrap();
            let formula = flat(&(&c64 * &d64).unwrap());
            let got = flat(g);
            let tolerance = match dtype {
                DType::F64 => 1e-14,
                DType::F32 => 1e-6,
                // Two roundings of an 8-bit (bf16) or 11-bit (f16) significand, and the alpha
                // layers' d read off two rounded outputs.
                _ => 2e-2,
            };
            for (i, (a, b)) in got.iter().zip(&formula).enumerate() {
                assert!(
                    (a - b).abs() <= tolerance * b.abs(),
                    "{what}: element {i}: {a} vs formula {b}"
                );
            }
        }
    }
}

#[test]
fn gradients_through_backprop_f32() {
    check_gradients::<f32>(DType::F32);
}

#[test]
fn gradients_through_backprop_f64() {
    check_gradients::<f64>(DType::F64);
}

#[test]
fn gradients_through_backprop_f16() {
    check_gradients::<f16>(DType::F16);
}

#[test]
fn gradients_through_backprop_bf16() {
    check_gradients::<bf16>(DType::BF16);
}

#[test]
fn dropout_gradient_is_the_scaled_mask() {
    let x = Var::from_tensor(&values(&[1000], DType::F32)).unwrap();
    let y = ops::dropout(&x, 0.25, 9, 4).unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    let g = flat(grads.get(&x).unwrap());
    let y = flat(&y);
    let scale = f64::from(1.0f32 / 0.75f32);
    let mut kept = 0;
    for (g, y) in g.iter().zip(&y) {
        if *y != 0.0 {
            kept += 1;
            assert_eq!(*g, scale);
        } else {
            assert_eq!(*g, 0.0);
        }
    }
    // 1000 draws at keep 0.75: mean 750, sd 13.7; 6 sd either side.
    assert!((668..=832).contains(&kept), "{kept} kept");
}

#[test]
fn gradients_of_gradients() {
    // d/dx of sum(grad_x(sum(c * dropout(x)))) is 0 (the gradient does not depend on x), and
    // the gradient's own op differentiates: the backward of the backward is the mask again.
    let x = Var::from_tensor(&values(&[64], DType::F64)).unwrap();
    let y = ops::dropout(&x, 0.5, 1, 0).unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();
    let gx = g.get(&x).unwrap();
    let c = Var::from_tensor(gx).unwrap();
    let gg = ops::dropout(&c, 0.5, 1, 0).unwrap();
    let second = gg.sum_all().unwrap().backward().unwrap();
    assert_eq!(flat(second.get(&c).unwrap()), flat(gx));
}

#[test]
fn strided_and_offset_inputs_equal_their_contiguous_copy() {
    for (args, _) in cases(31, 5) {
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            let rank = match args {
                LayerArgs::SpatialDropout1D(_) => 3,
                LayerArgs::SpatialDropout2D(_) => 4,
                LayerArgs::SpatialDropout3D(_) => 5,
                LayerArgs::FeatureAlphaDropout(_) => 4,
                _ => 3,
            };
            let mut shape = vec![3, 9, 7, 2, 3];
            shape.truncate(rank);
            let base = Var::from_tensor(&values(&shape, dtype)).unwrap();
            // narrow (an offset), then transpose (strides).
            let views = [
                base.narrow(1, 2, 5).unwrap(),
                base.transpose(0, rank - 1).unwrap(),
                base.narrow(0, 1, 2).unwrap().transpose(1, 2).unwrap(),
            ];
            for v in views {
                assert!(!v.is_contiguous() || v.layout().start_offset() > 0);
                let y = ops::apply(&v, &args).unwrap();
                let want = ops::apply(&v.contiguous().unwrap(), &args).unwrap();
                assert_eq!(y.dims(), v.dims());
                assert!(y.is_contiguous());
                let what = format!("{args:?} on {:?}", v.layout());
                match dtype {
                    DType::F32 => assert_bits(&elements::<f32>(&y), &elements::<f32>(&want), &what),
                    DType::F64 => assert_bits(&elements::<f64>(&y), &elements::<f64>(&want), &what),
                    DType::F16 => assert_bits(&elements::<f16>(&y), &elements::<f16>(&want), &what),
                    _ => assert_bits(&elements::<bf16>(&y), &elements::<bf16>(&want), &what),
                }
                // The gradient reaches the base through the view: each base element's
                // gradient is the view's gradient at its position (0 outside the view).
                let grads = y.sum_all().unwrap().backward().unwrap();
                let gb = grads.get(&base).unwrap();
                assert_eq!(gb.dims(), base.dims());
                // ... which sums to the sum of the op's derivative over the view (the op on
                // ones, less the op on zeros for the affine alpha layers).
                let ones = Tensor::ones(v.dims(), dtype, &Device::Cpu).unwrap();
                let msum: f64 = match args {
                    LayerArgs::GaussianNoise(_) => flat(&ones).iter().sum(),
                    LayerArgs::AlphaDropout(_) | LayerArgs::FeatureAlphaDropout(_) => {
                        let y1 = flat(&ops::apply(&ones, &args).unwrap());
                        let y0 = flat(&ops::apply(&ones.zeros_like().unwrap(), &args).unwrap());
                        y1.iter().zip(&y0).map(|(a, b)| a - b).sum()
                    }
                    _ => flat(&ops::apply(&ones, &args).unwrap()).iter().sum(),
                };
                let gsum: f64 = flat(gb).iter().sum();
                let tolerance = match dtype {
                    DType::F32 | DType::F64 => 1e-4,
                    _ => 2e-2,
                };
                assert!(
                    (gsum - msum).abs() <= tolerance * msum.abs().max(1.0),
                    "{what}: {gsum} vs {msum}"
                );
            }
        }
    }
    // A broadcast (zero strides) input.
    let row = values(&[1, 8], DType::F32);
    let b = row.broadcast_as((5, 8)).unwrap();
    let y = ops::dropout(&b, 0.5, 3, 3).unwrap();
    let want = ops::dropout(&b.contiguous().unwrap(), 0.5, 3, 3).unwrap();
    assert_eq!(flat(&y), flat(&want));
}

static NOISE_SHAPE: [Option<usize>; 3] = [None, Some(1), None];

/// An op with an owned noise shape equals the core's functional API with that noise shape (and
/// the op given it as a `'static` slice), forward and gradient, bit for bit.
#[test]
fn owned_noise_shapes_equal_the_core() {
    for (args, _) in cases(8, 2).into_iter().take(7) {
        if !args.takes_noise_shape() {
            continue;
        }
        let with_static = match args {
            LayerArgs::Dropout(a) => LayerArgs::Dropout(DropoutArgs {
                noise_shape: Some(&NOISE_SHAPE),
                ..a
            }),
            LayerArgs::GaussianDropout(a) => LayerArgs::GaussianDropout(GaussianDropoutArgs {
                noise_shape: Some(&NOISE_SHAPE),
                ..a
            }),
            LayerArgs::GaussianNoise(a) => LayerArgs::GaussianNoise(GaussianNoiseArgs {
                noise_shape: Some(&NOISE_SHAPE),
                ..a
            }),
            _ => unreachable!("takes_noise_shape"),
        };
        let shape = [3, 4, 5];
        let x = Var::from_tensor(&values(&shape, DType::F32)).unwrap();
        let owned: Vec<Option<usize>> = NOISE_SHAPE.to_vec();
        let y = ops::apply_with_noise_shape(&x, &args, &owned).unwrap();
        drop(owned); // the op keeps its own copy
        let what = format!("{args:?} with a noise shape");
        let want = core_forward(&with_static, &array::<f32>(&x));
        assert_bits(
            &elements::<f32>(&y),
            &want.into_raw_vec_and_offset().0,
            &what,
        );
        let by_static = ops::apply(&x, &with_static).unwrap();
        assert_bits(&elements::<f32>(&y), &elements::<f32>(&by_static), &what);
        // The draw is shared along axis 1 (the noise shape's 1).
        let ys = array::<f32>(&y);
        let xs = array::<f32>(&x);
        for i in 0..3 {
            for k in 0..5 {
                let first = f64::from(ys[[i, 0, k]]) / f64::from(xs[[i, 0, k]]);
                for j in 1..4 {
                    let ratio = f64::from(ys[[i, j, k]]) / f64::from(xs[[i, j, k]]);
                    if !matches!(args, LayerArgs::GaussianNoise(_)) {
                        assert!((ratio - first).abs() <= 1e-6 * first.abs(), "{what}");
                    }
                }
            }
        }
        let c = values(&shape, DType::F32).affine(-0.5, 0.25).unwrap();
        let grads = (&y * &c).unwrap().sum_all().unwrap().backward().unwrap();
        let want = core_backward(&with_static, &array::<f32>(&c));
        let g = grads.get(&x).unwrap();
        assert_bits(
            &elements::<f32>(g),
            &want.into_raw_vec_and_offset().0,
            &what,
        );
    }
    // Errors: another layer, an entry of 0, a noise shape that does not fit the input.
    let x = values(&[3, 4, 5], DType::F32);
    let spatial = LayerArgs::SpatialDropout1D(SpatialArgs::default());
    let e = ops::apply_with_noise_shape(&x, &spatial, &[None, Some(1), None]).unwrap_err();
    assert!(e.to_string().contains("noise_shape is not accepted"), "{e}");
    let d = LayerArgs::Dropout(DropoutArgs::default());
    let e = ops::apply_with_noise_shape(&x, &d, &[None, Some(0), None]).unwrap_err();
    assert!(e.to_string().contains("noise_shape"), "{e}");
    let e = ops::apply_with_noise_shape(&x, &d, &[None, Some(2), None]).unwrap_err();
    assert!(e.to_string().contains("noise_shape"), "{e}");
}

#[test]
fn empty_tensors() {
    let x = Tensor::zeros((0, 5), DType::F32, &Device::Cpu).unwrap();
    let y = ops::dropout(&x, 0.5, 0, 0).unwrap();
    assert_eq!(y.dims(), &[0, 5]);
    let y = ops::spatial_dropout1d(
        &Tensor::zeros((2, 0, 3), DType::F64, &Device::Cpu).unwrap(),
        0.5,
        0,
        0,
    )
    .unwrap();
    assert_eq!(y.dims(), &[2, 0, 3]);
}

#[test]
fn errors_are_candle_errors_naming_the_parameter() {
    let x = values(&[4, 4], DType::F32);
    for p in [1.5f32, -0.1, f32::NAN] {
        let e = ops::dropout(&x, p, 0, 0).unwrap_err().to_string();
        assert!(e.starts_with("p = "), "{e}");
        assert!(e.contains("[0, 1]"), "{e}");
        let e = ops::spatial_dropout2d(&x, p, 0, 0).unwrap_err().to_string();
        assert!(e.starts_with("p = "), "{e}");
    }
    let e = ops::gaussian_dropout(&x, 1.0, 0, 0)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("rate = 1 is not a probability in [0, 1)"),
        "{e}"
    );
    for s in [-1.0f32, f32::INFINITY, f32::NAN] {
        let e = ops::gaussian_noise(&x, s, 0, 0).unwrap_err().to_string();
        assert!(e.starts_with("stddev = "), "{e}");
    }
    // A Spatial input of another rank, in training and in evaluation.
    let e = ops::spatial_dropout1d(&x.flatten_all().unwrap(), 0.5, 0, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("SpatialDropout1D takes input of rank"), "{e}");
    assert!(e.contains("got shape (16)"), "{e}");
    let e = ops::spatial_dropout2d(&x, 0.5, 0, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("SpatialDropout2D takes input of rank"), "{e}");
    let eval = LayerArgs::SpatialDropout3D(SpatialArgs {
        training: false,
        ..SpatialArgs::default()
    });
    let e = ops::apply(&x, &eval).unwrap_err().to_string();
    assert!(e.contains("SpatialDropout3D takes input of rank"), "{e}");
    // The alpha layers: p, and FeatureAlphaDropout's rank in both modes.
    for p in [1.5f32, -0.1, f32::NAN] {
        let e = ops::alpha_dropout(&x, p, 0, 0).unwrap_err().to_string();
        assert!(e.starts_with("p = "), "{e}");
        let e = ops::feature_alpha_dropout(&x, p, 0, 0)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p = "), "{e}");
    }
    let row = x.flatten_all().unwrap();
    for training in [true, false] {
        let args = LayerArgs::FeatureAlphaDropout(FeatureAlphaArgs {
            training,
            ..FeatureAlphaArgs::default()
        });
        let e = ops::apply(&row, &args).unwrap_err().to_string();
        assert!(e.contains("FeatureAlphaDropout takes input of rank"), "{e}");
        assert!(e.contains("got shape (16)"), "{e}");
    }
    // Element types the core does not compute in.
    for dtype in [DType::U8, DType::U32, DType::I64] {
        let xd = x.to_dtype(dtype).unwrap();
        let e = ops::dropout(&xd, 0.5, 0, 0).unwrap_err().to_string();
        assert!(
            e.contains(&format!("dtype {} is not supported", dtype.as_str())),
            "{e}"
        );
        assert!(e.contains("f32, f64, f16 and bf16"), "{e}");
    }
}
