//! The CUDA backend against the CPU reference, bit for bit: every layer, `f32`, `f64`,
//! `f16` and `bf16` (computed in `f32`, rounded once, as on the CPU), odd sizes, both mask storages, in place, host/device mixes, errors.
//!
//! Each test opens device 0 first; where there is none it prints `skipped: ...` to stderr
//! and passes, unless `DROPKIT_REQUIRE_GPU=1` (set by `scripts/gpu-check.sh`) makes that a
//! failure. `DROPKIT_GPU_BIG=1` adds a 2^32 + 37 element run (about 17 GiB of device memory);
//! `DROPKIT_GPU_QUICK=1` keeps sizes small (for compute-sanitizer).
#![cfg(feature = "cuda")]

use dropkit::cuda::{CudaDevice, CudaElement, CudaModule, DeviceTensor};
use dropkit::rng::{keep_threshold, word};
use dropkit::{
    AlphaDropout, Dropout, Element, Error, FeatureAlphaDropout, GaussianDropout, GaussianNoise,
    GeneratorKind, MaskStorage, Module, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};
use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};

fn device() -> Option<CudaDevice> {
    match CudaDevice::new(0) {
        Ok(dev) => Some(dev),
        Err(e) => {
            assert!(
                std::env::var("DROPKIT_REQUIRE_GPU").map_or(true, |v| v != "1"),
                "DROPKIT_REQUIRE_GPU=1 but no device: {e}"
            );
            eprintln!("skipped: no CUDA device ({e})");
            None
        }
    }
}

macro_rules! gpu {
    () => {
        match device() {
            Some(dev) => dev,
            None => return,
        }
    };
}

/// Element types compared by their bits.
trait Bits: CudaElement {
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

/// Equal bits, except that any NaN equals any NaN: the GPU's arithmetic returns the
/// canonical NaN where the CPU propagates the input's payload (that is the one difference
/// the bit-identity contract allows).
#[track_caller]
fn assert_bits<T: Bits>(got: &ArrayD<T>, want: &ArrayD<T>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        if g.is_nan() && w.is_nan() {
            continue;
        }
        assert_eq!(
            g.bits(),
            w.bits(),
            "{what}: element {i} of {:?}: device {g}, host {w}",
            got.shape()
        );
    }
}

/// Deterministic inputs with NaN, infinities, signed zero and a denormal sprinkled in.
fn input<T: Bits>(shape: &[usize], salt: usize) -> ArrayD<T> {
    let n: usize = shape.iter().product();
    let mut v: Vec<T> = (0..n)
        .map(|i| T::from_f64((((i + salt) * 7919) % 2003) as f64 * 0.0137 - 13.0))
        .collect();
    let specials = [
        (3, T::nan()),
        (5, T::infinity()),
        (7, T::neg_infinity()),
        (11, T::neg_zero()),
        (13, T::min_positive_value() / T::from_f64(8.0)),
        (17, T::max_value()),
    ];
    for (i, s) in specials {
        if i < n {
            v[i] = s;
        }
    }
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

/// Tensor sizes: around the 4-element group, the 32-bit mask word, the 128-element warp
/// tile, and past one pass of the grid (about 1M elements on an H100). `DROPKIT_GPU_QUICK=1`
/// (used under compute-sanitizer) stops at 66,563.
fn sizes() -> Vec<usize> {
    let all = [
        0, 1, 2, 3, 4, 5, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1000, 4097, 66_563, 1_000_003,
        4_000_037,
    ];
    let quick = std::env::var("DROPKIT_GPU_QUICK").is_ok_and(|v| v == "1");
    all.into_iter().filter(|&n| !quick || n < 100_000).collect()
}

/// Runs forward (copy, into, in place) and backward (copy, in place) on the device and on the
/// host with two layers seeded alike, comparing every output bit for bit, and returns the
/// device layer (for mask checks).
fn compare_layer<M: CudaModule + Clone, T: Bits>(
    dev: &CudaDevice,
    make: &dyn Fn() -> M,
    shape: &[usize],
    what: &str,
) -> M {
    let x = input::<T>(shape, 1);
    let g = input::<T>(shape, 2);
    let (mut gpu, mut cpu) = (make(), make());
    gpu.set_seed(0x5eed_0000_0000_0042, GeneratorKind::Philox);
    cpu.set_seed(0x5eed_0000_0000_0042, GeneratorKind::Philox);
    let dx = DeviceTensor::from_array(dev, &x).unwrap();
    let dg = DeviceTensor::from_array(dev, &g).unwrap();

    // Draw 0: forward and backward into new tensors.
    let y = gpu.forward_cuda(&dx).unwrap().to_array().unwrap();
    assert_bits(&y, &cpu.forward(&x).unwrap(), &format!("{what} forward"));
    let gi = gpu.backward_cuda(&dx, &dg).unwrap().to_array().unwrap();
    assert_bits(
        &gi,
        &cpu.backward(&x, &g).unwrap(),
        &format!("{what} backward"),
    );

    // Draw 1: forward into, backward into.
    let mut out = DeviceTensor::zeros(dev, shape).unwrap();
    gpu.forward_cuda_into(&dx, &mut out).unwrap();
    let y = cpu.forward(&x).unwrap();
    assert_bits(
        &out.to_array().unwrap(),
        &y,
        &format!("{what} forward_into"),
    );
    gpu.backward_cuda_into(&dx, &dg, &mut out).unwrap();
    let gi = cpu.backward(&x, &g).unwrap();
    assert_bits(
        &out.to_array().unwrap(),
        &gi,
        &format!("{what} backward_into"),
    );

    // Draw 2: in place.
    let mut dxi = dx.try_clone().unwrap();
    gpu.forward_cuda_inplace(&mut dxi).unwrap();
    let mut xi = x.clone();
    cpu.forward_inplace(xi.view_mut()).unwrap();
    assert_bits(
        &dxi.to_array().unwrap(),
        &xi,
        &format!("{what} forward_inplace"),
    );
    let mut dgi = dg.try_clone().unwrap();
    gpu.backward_cuda_inplace(&dx, &mut dgi).unwrap();
    let mut gi = g.clone();
    cpu.backward_inplace(&x, gi.view_mut()).unwrap();
    assert_bits(
        &dgi.to_array().unwrap(),
        &gi,
        &format!("{what} backward_inplace"),
    );
    assert_eq!(
        gpu.generator_state(),
        cpu.generator_state(),
        "{what}: draws"
    );

    // Evaluation mode.
    gpu.evaluate();
    cpu.evaluate();
    let y = gpu.forward_cuda(&dx).unwrap().to_array().unwrap();
    assert_bits(
        &y,
        &cpu.forward(&x).unwrap(),
        &format!("{what} eval forward"),
    );
    let gi = gpu.backward_cuda(&dx, &dg).unwrap().to_array().unwrap();
    assert_bits(
        &gi,
        &cpu.backward(&x, &g).unwrap(),
        &format!("{what} eval backward"),
    );
    gpu.training();
    gpu
}

/// The device mask of the layer's last training forward equals the CPU mapping, word for
/// word (bits past the end are zero), when the mask covers `len` elements.
fn check_device_mask<M: CudaModule>(layer: &M, len: usize, p: f64, draw: u64, what: &str) {
    let Some(bits) = layer.device_bits() else {
        panic!("{what}: no device mask")
    };
    assert_eq!(bits.len(), len, "{what}");
    let words = bits.words_to_host().unwrap();
    assert_eq!(words.len(), 2 * len.div_ceil(64), "{what}: word count");
    let threshold = keep_threshold(p);
    for (wi, &w) in words.iter().enumerate() {
        let mut want = 0u32;
        for b in 0..32 {
            let i = wi * 32 + b;
            if i < len && u64::from(word(0x5eed_0000_0000_0042, draw, i as u64)) >= threshold {
                want |= 1 << b;
            }
        }
        assert_eq!(w, want, "{what}: mask word {wi}");
    }
}

fn dropout_case<T: Bits>(dev: &CudaDevice) {
    for storage in [MaskStorage::Bits, MaskStorage::Regenerate] {
        for (p, scale) in [
            (0.0, true),
            (0.3, true),
            (0.5, false),
            (0.9, true),
            (1.0, true),
        ] {
            for n in sizes() {
                let what = format!(
                    "Dropout<{}>({p}, scale {scale}, {storage:?}) n={n}",
                    T::NAME
                );
                let make = || {
                    Dropout::with_options(p, false, scale)
                        .unwrap()
                        .with_mask_storage(storage)
                };
                let shape = if n % 5 == 0 && n > 0 {
                    vec![5, n / 5]
                } else {
                    vec![n]
                };
                let layer = compare_layer::<_, T>(dev, &make, &shape, &what);
                if storage == MaskStorage::Bits {
                    // The last training forward was draw 2 (in place).
                    check_device_mask(&layer, n, p, 2, &what);
                } else {
                    assert!(layer.device_bits().is_none(), "{what}");
                }
            }
        }
    }
}

#[test]
fn dropout_matches_the_cpu_bit_for_bit() {
    let dev = gpu!();
    dropout_case::<f32>(&dev);
    dropout_case::<f64>(&dev);
}

fn gaussian_case<T: Bits>(dev: &CudaDevice) {
    // The CPU reference normals are slow: stop at one grid pass (about 1M elements on an
    // H100); Dropout covers the multi-pass loop, and gpu-check reruns at 1 block per SM.
    for n in sizes().into_iter().filter(|&n| n < 2_000_000) {
        let shape = vec![n];
        for rate in [0.0, 0.1, 0.5, 0.9] {
            let what = format!("GaussianDropout<{}>({rate}) n={n}", T::NAME);
            compare_layer::<_, T>(dev, &|| GaussianDropout::new(rate).unwrap(), &shape, &what);
        }
        for stddev in [0.0, 0.2, 3.0] {
            let what = format!("GaussianNoise<{}>({stddev}) n={n}", T::NAME);
            compare_layer::<_, T>(dev, &|| GaussianNoise::new(stddev).unwrap(), &shape, &what);
        }
    }
}

#[test]
fn gaussian_layers_match_the_cpu_bit_for_bit() {
    let dev = gpu!();
    gaussian_case::<f32>(&dev);
    gaussian_case::<f64>(&dev);
}

fn spatial_case<T: Bits>(dev: &CudaDevice) {
    let shapes_1d: &[&[usize]] = &[&[3, 5, 7], &[2, 1, 9], &[4, 33], &[1, 1, 1], &[0, 3, 2]];
    let shapes_2d: &[&[usize]] = &[&[2, 3, 5, 7], &[3, 4, 4, 4], &[5, 3, 3], &[2, 64, 9, 3]];
    let shapes_3d: &[&[usize]] = &[&[2, 3, 2, 3, 5], &[3, 2, 2, 2], &[1, 65, 1, 1, 3]];
    for (p, scale) in [(0.0, false), (0.3, false), (0.5, true), (1.0, false)] {
        for &shape in shapes_1d {
            let what = format!("SpatialDropout1D<{}>({p}) {shape:?}", T::NAME);
            let make = || SpatialDropout1D::new(p).unwrap().with_scale(scale);
            let layer = compare_layer::<_, T>(dev, &make, shape, &what);
            let len = if shape.len() == 3 {
                shape[0] * shape[2]
            } else {
                shape[1]
            };
            check_device_mask(&layer, len, p, 2, &what);
        }
        for format in ["NCHW", "NHWC"] {
            for &shape in shapes_2d {
                let what = format!("SpatialDropout2D<{}>({p}, {format}) {shape:?}", T::NAME);
                let make = || {
                    SpatialDropout2D::with_format(p, format)
                        .unwrap()
                        .with_scale(scale)
                };
                compare_layer::<_, T>(dev, &make, shape, &what);
            }
            for &shape in shapes_3d {
                let what = format!("SpatialDropout3D<{}>({p}, {format}) {shape:?}", T::NAME);
                let make = || {
                    SpatialDropout3D::with_format(p, format)
                        .unwrap()
                        .with_scale(scale)
                };
                compare_layer::<_, T>(dev, &make, shape, &what);
            }
        }
    }
    // One large map: many elements per mask bit, sizes past the grid's first pass.
    let what = format!("SpatialDropout2D<{}> large", T::NAME);
    let make = || SpatialDropout2D::new(0.5).unwrap();
    compare_layer::<_, T>(dev, &make, &[4, 17, 129, 131], &what);
    let make = || SpatialDropout2D::with_format(0.5, "NHWC").unwrap();
    compare_layer::<_, T>(dev, &make, &[4, 129, 131, 17], &what);
}

#[test]
fn spatial_layers_match_the_cpu_bit_for_bit() {
    let dev = gpu!();
    spatial_case::<f32>(&dev);
    spatial_case::<f64>(&dev);
}

/// The alpha layers: the affine kept rule and its dropped constant on the device (mode 3 of
/// the kernels), element-wise and through the Spatial maps, at p = 0, 1 and between.
fn alpha_case<T: Bits>(dev: &CudaDevice) {
    for p in [0.0, 0.2, 0.5, 1.0] {
        for n in sizes() {
            let what = format!("AlphaDropout<{}>({p}) n={n}", T::NAME);
            let layer = compare_layer::<_, T>(dev, &|| AlphaDropout::new(p).unwrap(), &[n], &what);
            check_device_mask(&layer, n, p, 2, &what);
        }
        for (format, shape) in [
            ("channels_first", [4, 17, 129, 131]),
            ("channels_last", [4, 129, 131, 17]),
        ] {
            let what = format!("FeatureAlphaDropout<{}>({p}, {format})", T::NAME);
            let make = || FeatureAlphaDropout::with_format(p, format).unwrap();
            compare_layer::<_, T>(dev, &make, &shape, &what);
        }
    }
}

/// Keras-style noise shapes: the Spatial maps (channels first and last), and the general
/// broadcast map (the device kernels' map kind 3) with 3 to 8 alternating groups of axes,
/// size-1 axes and sizes that are not multiples of 4.
fn noise_shapes() -> Vec<(Vec<usize>, Vec<Option<usize>>)> {
    let one = Some(1);
    let alternating = |dims: &[usize], first: Option<usize>| {
        let noise = (0..dims.len())
            .map(|k| if k % 2 == 0 { first } else { first.xor(one) })
            .collect::<Vec<_>>();
        (dims.to_vec(), noise)
    };
    vec![
        (vec![4, 17, 129, 131], vec![None, None, one, one]),
        (vec![4, 129, 131, 17], vec![None, one, one, None]),
        (vec![3, 17, 5, 131], vec![one, None, one, None]),
        alternating(&[5, 7, 9], one),
        alternating(&[2, 3, 2, 3, 2, 3], None),
        alternating(&[3, 2, 5, 2, 3, 2, 3], one),
        alternating(&[2, 3, 2, 3, 2, 3, 2, 3], None),
        (
            vec![2, 1, 3, 1, 5, 3],
            vec![None, one, one, None, None, one],
        ),
        (vec![1, 7, 1, 11, 13], vec![one, one, None, None, one]),
        alternating(&[16, 3, 129, 131], one),
    ]
}

/// Dropout with noise shapes: its mask through the Spatial maps and the general map.
fn noise_shape_case<T: Bits>(dev: &CudaDevice) {
    for (shape, noise) in noise_shapes() {
        let what = format!("Dropout<{}> noise_shape {noise:?} on {shape:?}", T::NAME);
        let make = || Dropout::new(0.3).unwrap().with_noise_shape(&noise).unwrap();
        compare_layer::<_, T>(dev, &make, &shape, &what);
    }
}

/// GaussianDropout and GaussianNoise with noise shapes: the noise values drawn over the noise
/// shape on the device and broadcast, forward and backward (regenerated).
fn gaussian_noise_shape_case<T: Bits>(dev: &CudaDevice) {
    for (shape, noise) in noise_shapes() {
        let what = format!(
            "GaussianDropout<{}> noise_shape {noise:?} on {shape:?}",
            T::NAME
        );
        let make = || {
            GaussianDropout::new(0.3)
                .unwrap()
                .with_noise_shape(&noise)
                .unwrap()
        };
        compare_layer::<_, T>(dev, &make, &shape, &what);
        let what = format!(
            "GaussianNoise<{}> noise_shape {noise:?} on {shape:?}",
            T::NAME
        );
        let make = || {
            GaussianNoise::new(0.5)
                .unwrap()
                .with_noise_shape(&noise)
                .unwrap()
        };
        compare_layer::<_, T>(dev, &make, &shape, &what);
    }
}

#[test]
fn gaussian_noise_shapes_match_the_cpu_bit_for_bit() {
    let dev = gpu!();
    gaussian_noise_shape_case::<f32>(&dev);
    gaussian_noise_shape_case::<f64>(&dev);
    gaussian_noise_shape_case::<f16>(&dev);
    gaussian_noise_shape_case::<bf16>(&dev);
}

/// A noise shape on the device with the BigDL generator is refused before the draw, as
/// without one.
#[test]
fn gaussian_noise_shapes_refuse_the_bigdl_generator_before_the_draw() {
    let dev = gpu!();
    let x = DeviceTensor::from_array(&dev, &input::<f32>(&[3, 4, 5], 1)).unwrap();
    let noise = [None, Some(1), None];
    let mut a = GaussianDropout::new(0.3)
        .unwrap()
        .with_noise_shape(&noise)
        .unwrap();
    let mut b = GaussianNoise::new(0.3)
        .unwrap()
        .with_noise_shape(&noise)
        .unwrap();
    a.set_seed(1, GeneratorKind::BigDl);
    b.set_seed(1, GeneratorKind::BigDl);
    let (before_a, before_b) = (a.generator_state(), b.generator_state());
    for (e, state, before) in [
        (
            a.forward_cuda(&x).unwrap_err(),
            a.generator_state(),
            before_a,
        ),
        (
            b.forward_cuda(&x).unwrap_err(),
            b.generator_state(),
            before_b,
        ),
    ] {
        assert!(matches!(e, Error::CudaUnavailable { .. }), "{e:?}");
        assert!(e.to_string().contains("BigDL"), "{e}");
        assert_eq!(state, before);
    }
}

#[test]
fn dropout_noise_shapes_match_the_cpu_bit_for_bit() {
    let dev = gpu!();
    noise_shape_case::<f32>(&dev);
    noise_shape_case::<f64>(&dev);
}

#[test]
fn alpha_layers_match_the_cpu_bit_for_bit() {
    let dev = gpu!();
    alpha_case::<f32>(&dev);
    alpha_case::<f64>(&dev);
}

/// float16 and bfloat16 (2-byte storage, computed in f32 with f32 constants, rounded once):
/// every layer against the CPU half path, with NaN, infinities and the largest finite values
/// (which overflow when scaled up) in the inputs.
#[test]
fn half_precision_dropout_matches_the_cpu_bit_for_bit() {
    let dev = gpu!();
    dropout_case::<f16>(&dev);
    dropout_case::<bf16>(&dev);
    noise_shape_case::<f16>(&dev);
    noise_shape_case::<bf16>(&dev);
}

#[test]
fn half_precision_gaussian_layers_match_the_cpu_bit_for_bit() {
    let dev = gpu!();
    gaussian_case::<f16>(&dev);
    gaussian_case::<bf16>(&dev);
}

#[test]
fn half_precision_spatial_and_alpha_layers_match_the_cpu_bit_for_bit() {
    let dev = gpu!();
    spatial_case::<f16>(&dev);
    spatial_case::<bf16>(&dev);
    alpha_case::<f16>(&dev);
    alpha_case::<bf16>(&dev);
}

/// A half tensor is 2 bytes an element on the device and round-trips exactly.
#[test]
fn half_precision_tensors_round_trip() {
    let dev = gpu!();
    let x = input::<f16>(&[3, 7, 5], 1);
    let d = DeviceTensor::from_array(&dev, &x).unwrap();
    assert_bits(&d.to_array().unwrap(), &x, "f16 round trip");
    let x = input::<bf16>(&[3, 7, 5], 1);
    let d = DeviceTensor::from_array(&dev, &x).unwrap();
    assert_bits(&d.to_array().unwrap(), &x, "bf16 round trip");
}

#[test]
fn host_and_device_share_draws_and_differentiate_each_other() {
    let dev = gpu!();
    let x = input::<f32>(&[7, 301], 3);
    let g = input::<f32>(&[7, 301], 4);
    let dx = DeviceTensor::from_array(&dev, &x).unwrap();
    let dg = DeviceTensor::from_array(&dev, &g).unwrap();
    for storage in [MaskStorage::Bits, MaskStorage::Regenerate] {
        let mut mixed = Dropout::new(0.4).unwrap().with_mask_storage(storage);
        let mut cpu = mixed.clone();
        mixed.set_seed(99, GeneratorKind::Philox);
        cpu.set_seed(99, GeneratorKind::Philox);
        // Device forward, host backward.
        let y = mixed.forward_cuda(&dx).unwrap().to_array().unwrap();
        assert_bits(&y, &cpu.forward(&x).unwrap().into_dyn(), "device forward");
        let gi = mixed.backward(&x, &g).unwrap();
        assert_bits(&gi, &cpu.backward(&x, &g).unwrap(), "host backward");
        // Host forward (draw 1), device backward.
        let y = mixed.forward(&x).unwrap();
        assert_bits(&y, &cpu.forward(&x).unwrap(), "host forward");
        let gi = mixed.backward_cuda(&dx, &dg).unwrap().to_array().unwrap();
        assert_bits(&gi, &cpu.backward(&x, &g).unwrap(), "device backward");
    }
    // Spatial: device forward, host backward regenerates the (N, C) mask.
    let x4 = input::<f64>(&[3, 5, 4, 6], 5);
    let dx4 = DeviceTensor::from_array(&dev, &x4).unwrap();
    let mut mixed = SpatialDropout2D::new(0.5).unwrap();
    let mut cpu = mixed.clone();
    mixed.set_seed(5, GeneratorKind::Philox);
    cpu.set_seed(5, GeneratorKind::Philox);
    let y = mixed.forward_cuda(&dx4).unwrap().to_array().unwrap();
    assert_bits(
        &y,
        &cpu.forward(&x4).unwrap().into_dyn(),
        "spatial device forward",
    );
    assert_bits(
        &mixed.backward(&x4, &x4).unwrap(),
        &cpu.backward(&x4, &x4).unwrap(),
        "spatial host backward",
    );
    // GaussianDropout: host forward, device backward.
    let mut mixed = GaussianDropout::new(0.3).unwrap();
    let mut cpu = mixed.clone();
    mixed.set_seed(8, GeneratorKind::Philox);
    cpu.set_seed(8, GeneratorKind::Philox);
    mixed.forward(&x).unwrap();
    cpu.forward(&x).unwrap();
    let gi = mixed.backward_cuda(&dx, &dg).unwrap().to_array().unwrap();
    assert_bits(
        &gi,
        &cpu.backward(&x, &g).unwrap(),
        "gaussian device backward",
    );
}

#[test]
fn the_process_default_generator_serves_host_and_device_calls_in_turn() {
    let dev = gpu!();
    // The only test here that uses the default generator.
    let x = input::<f32>(&[1000], 6);
    let dx = DeviceTensor::from_array(&dev, &x).unwrap();
    dropkit::set_seed(2024, GeneratorKind::Philox);
    let mut layer = Dropout::new(0.5).unwrap();
    let a = layer.forward_cuda(&dx).unwrap().to_array().unwrap();
    let b = layer.forward(&x).unwrap();
    let c = layer.forward_cuda(&dx).unwrap().to_array().unwrap();
    dropkit::set_seed(2024, GeneratorKind::Philox);
    let mut cpu = Dropout::new(0.5).unwrap();
    assert_bits(&a, &cpu.forward(&x).unwrap(), "draw 0 on the device");
    assert_bits(&b, &cpu.forward(&x).unwrap(), "draw 1 on the host");
    assert_bits(&c, &cpu.forward(&x).unwrap(), "draw 2 on the device");
}

#[test]
fn dropout_without_resampling_reuses_the_mask_on_the_device() {
    let dev = gpu!();
    let x = input::<f32>(&[513], 7);
    let dx = DeviceTensor::from_array(&dev, &x).unwrap();
    for storage in [MaskStorage::Bits, MaskStorage::Regenerate] {
        let mut gpu = Dropout::new(0.5).unwrap().with_mask_storage(storage);
        gpu.set_seed(1, GeneratorKind::Philox).set_resampling(false);
        let mut cpu = gpu.clone();
        for round in 0..3 {
            let y = gpu.forward_cuda(&dx).unwrap().to_array().unwrap();
            assert_bits(
                &y,
                &cpu.forward(&x).unwrap().into_dyn(),
                &format!("round {round}"),
            );
        }
        assert_eq!(gpu.generator_state(), cpu.generator_state());
    }
}

#[test]
fn errors_are_the_cpu_errors() {
    let dev = gpu!();
    let x = DeviceTensor::from_array(&dev, &input::<f32>(&[4, 6], 0)).unwrap();
    let other = DeviceTensor::from_array(&dev, &input::<f32>(&[6, 4], 0)).unwrap();

    // Backward before forward in training. (Every layer here has its own seed: only one test
    // may draw from the process default generator.)
    let mut d = Dropout::new(0.5).unwrap();
    d.set_seed(3, GeneratorKind::Philox);
    let e = d.backward_cuda(&x, &x).unwrap_err();
    assert_eq!(e, Error::BackwardBeforeForward { layer: "Dropout" });
    // Shape mismatch in backward and in forward_into.
    d.forward_cuda(&x).unwrap();
    assert!(matches!(
        d.backward_cuda(&x, &other),
        Err(Error::ShapeMismatch {
            argument: "grad_output",
            ..
        })
    ));
    let mut out = DeviceTensor::zeros(&dev, &[6, 4]).unwrap();
    assert!(matches!(
        d.forward_cuda_into(&x, &mut out),
        Err(Error::ShapeMismatch {
            argument: "output",
            ..
        })
    ));
    // Wrong rank for a Spatial layer.
    let mut s = SpatialDropout3D::new(0.5).unwrap();
    s.set_seed(3, GeneratorKind::Philox);
    assert!(matches!(s.forward_cuda(&x), Err(Error::WrongRank { .. })));

    // The BigDL generator: an error, and nothing is drawn.
    let mut b = Dropout::new(0.5).unwrap();
    b.set_seed(100, GeneratorKind::BigDl);
    let before = b.generator_state();
    let e = b.forward_cuda(&x).unwrap_err();
    assert!(matches!(e, Error::CudaUnavailable { .. }), "{e}");
    assert!(e.to_string().contains("BigDL"), "{e}");
    assert_eq!(b.generator_state(), before);
    let mut gd = GaussianNoise::new(1.0).unwrap();
    gd.set_seed(100, GeneratorKind::BigDl);
    assert!(gd.forward_cuda(&x).is_err());

    // A BigDL host forward can still be differentiated on the device (its mask is copied).
    let xh = input::<f32>(&[4, 6], 0);
    for storage in [MaskStorage::Bits, MaskStorage::Regenerate] {
        let mut b = Dropout::new(0.5).unwrap().with_mask_storage(storage);
        b.set_seed(100, GeneratorKind::BigDl);
        let mut cpu = b.clone();
        b.forward(&xh).unwrap();
        cpu.forward(&xh).unwrap();
        let gi = b.backward_cuda(&x, &x).unwrap().to_array().unwrap();
        let what = format!("BigDL host forward, device backward, {storage:?}");
        assert_bits(&gi, &cpu.backward(&xh, &xh).unwrap(), &what);
    }
    let mut s = SpatialDropout1D::new(0.5).unwrap();
    s.set_seed(100, GeneratorKind::BigDl);
    let mut cpu = s.clone();
    let x3 = input::<f32>(&[2, 3, 4], 0);
    let dx3 = DeviceTensor::from_array(&dev, &x3).unwrap();
    s.forward(&x3).unwrap();
    cpu.forward(&x3).unwrap();
    let gi = s.backward_cuda(&dx3, &dx3).unwrap().to_array().unwrap();
    assert_bits(
        &gi,
        &cpu.backward(&x3, &x3).unwrap(),
        "BigDL Spatial, device backward",
    );
}

#[test]
fn overflowing_shapes_and_empty_tensors_with_a_huge_n_times_c() {
    let dev = gpu!();
    let e = DeviceTensor::<f32>::zeros(&dev, &[0, usize::MAX, usize::MAX]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::ShapeOverflow {
                layer: "DeviceTensor",
                argument: "shape",
                ..
            }
        ),
        "{e}"
    );
    // An empty input builds no (N, C) mask (2^56 bits here) and takes one draw.
    let shape = [1 << 28, 1 << 28, 0, 5];
    let x = DeviceTensor::<f32>::zeros(&dev, &shape).unwrap();
    let mut layer = SpatialDropout2D::new(0.5).unwrap();
    layer.set_seed(6, GeneratorKind::Philox);
    assert_eq!(layer.forward_cuda(&x).unwrap().shape(), &shape);
    assert_eq!(
        layer.generator_state(),
        dropkit::GeneratorState::Philox { seed: 6, draw: 1 }
    );
    assert_eq!(layer.backward_cuda(&x, &x).unwrap().shape(), &shape);
}

#[test]
fn huge_tensors_use_64_bit_indices() {
    let dev = gpu!();
    if std::env::var("DROPKIT_GPU_BIG").map_or(true, |v| v != "1") {
        eprintln!("skipped: set DROPKIT_GPU_BIG=1 for the 2^32 + 37 element test (17 GiB)");
        return;
    }
    let n = (1usize << 32) + 37;
    let seed = 0x0bad_5eed;
    let mut x = DeviceTensor::<f32>::zeros(&dev, &[n]).unwrap();
    let mut noise = GaussianNoise::new(1.0).unwrap();
    noise.set_seed(seed, GeneratorKind::Philox);
    noise.forward_cuda_inplace(&mut x).unwrap(); // x[i] = 0 + normal(draw 0, i)
    let mut drop = Dropout::new(0.5).unwrap();
    drop.set_seed(seed, GeneratorKind::Philox);
    drop.forward_cuda_inplace(&mut x).unwrap(); // draw 0 of the same generator seed
    let view = |from: usize, to: usize| {
        dev.stream()
            .clone_dtoh(&x.cuda_slice().slice(from..to))
            .unwrap()
    };
    let threshold = keep_threshold(0.5);
    let keep = f32::from_f64(1.0 - 0.5);
    for (from, to) in [
        (0, 64),
        ((1 << 31) - 40, (1 << 31) + 40),
        ((1 << 32) - 64, n),
    ] {
        for (k, &got) in view(from, to).iter().enumerate() {
            let i = (from + k) as u64;
            let nrm = dropkit::rng::normal::normals4(dropkit::rng::block(seed, 0, i / 4));
            let e = 0.0f32 + 1.0f32 * nrm[(i % 4) as usize];
            let want = if u64::from(word(seed, 0, i)) >= threshold {
                e / keep
            } else {
                0.0
            };
            assert_eq!(got.to_bits(), want.to_bits(), "element {i}");
        }
    }
    let bits = drop.device_bits().unwrap();
    assert_eq!(bits.len(), n);
    assert_eq!(drop.device_saved_bytes(), 2 * n.div_ceil(64) * 4);
}
