//! Conformance: every layer's documented behaviour (the crate docs' tables) in training and
//! evaluation mode, forward and backward, checked bit for bit against an independent
//! computation written here from the documented formulas and the randomness contract:
//!
//! - Philox: element `i` of draw `d` is kept iff `rng::word(seed, d, i) >= keep_threshold(p)`;
//!   its normal is `normals4(block(seed, d, i / 4))[i % 4]`; a layer seeded with `s` uses
//!   draw 0 for its first training forward, then 1, 2, ...
//! - BigDL: MT19937 words (`Mt19937`, seeded with the low 32 bits), `u = w * 2^-32`, keep iff
//!   `u <= 1 - p` one word per mask element row-major; normals by Box-Muller with a cached
//!   pair, in `f64`, then `T(n * stddev + mean)`. The stream continues across forwards.
//!
//! The DEVIATIONs from BigDL are checked too.

mod common;

use common::{assert_same_bits, data, Float, Kind, Layer, GENERATORS};
use dropkit::rng::{self, normal, Mt19937};
use dropkit::{
    set_seed, Dropout, GaussianDropout, GaussianNoise, GeneratorKind, MaskStorage, Module,
    SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};
use ndarray::{Array, ArrayD, Ix3, Ix4, Ix5, IxDyn};
use std::sync::Mutex;

/// Tests that use the process-wide default generator hold this.
static DEFAULT_GENERATOR: Mutex<()> = Mutex::new(());

/// The randomness a layer seeded with `(seed, kind)` must consume, from the documented contract alone.
struct Oracle {
    kind: GeneratorKind,
    seed: u64,
    draw: u64,
    mt: Mt19937,
    cached: Option<f64>,
}

impl Oracle {
    fn new(kind: GeneratorKind, seed: u64) -> Self {
        Oracle {
            kind,
            seed,
            draw: 0,
            mt: Mt19937::new(seed as u32),
            cached: None,
        }
    }

    fn uniform(&mut self) -> f64 {
        f64::from(self.mt.next_u32()) / 4_294_967_296.0
    }

    /// BigDL's cached Box-Muller: `rho cos(2 pi x)` first, then `rho sin(2 pi x)`.
    fn bigdl_normal(&mut self) -> f64 {
        if let Some(second) = self.cached.take() {
            return second;
        }
        let x = self.uniform();
        let y = self.uniform();
        let rho = (-2.0 * (1.0 - y).ln()).sqrt();
        let angle = 2.0 * std::f64::consts::PI * x;
        self.cached = Some(rho * angle.sin());
        rho * angle.cos()
    }

    /// The keep decisions of one training forward over `len` mask elements.
    fn keep(&mut self, len: usize, p: f64) -> Vec<bool> {
        match self.kind {
            GeneratorKind::Philox => {
                let d = self.draw;
                self.draw += 1;
                let threshold = rng::keep_threshold(p);
                (0..len)
                    .map(|i| u64::from(rng::word(self.seed, d, i as u64)) >= threshold)
                    .collect()
            }
            GeneratorKind::BigDl => (0..len)
                .map(|_| {
                    let u = self.uniform();
                    // DEVIATION: p = 1 drops everything (BigDL keeps a zero word).
                    p < 1.0 && u <= 1.0 - p
                })
                .collect(),
        }
    }

    /// The noise values `T(mean) + T(stddev) * T(n)` (Philox) or `T(n * stddev + mean)`
    /// (BigDL) of one training forward over `len` elements.
    fn noise<T: Float>(&mut self, len: usize, mean: f64, stddev: f64) -> Vec<T> {
        match self.kind {
            GeneratorKind::Philox => {
                let d = self.draw;
                self.draw += 1;
                (0..len)
                    .map(|i| {
                        let n = normal::normals4(rng::block(self.seed, d, (i / 4) as u64))[i % 4];
                        T::from_f64(mean) + T::from_f64(stddev) * T::from_f32(n)
                    })
                    .collect()
            }
            GeneratorKind::BigDl => (0..len)
                .map(|_| T::from_f64(self.bigdl_normal() * stddev + mean))
                .collect(),
        }
    }
}

/// `f(x_i, m_i)` over the logical elements, as an array of `x`'s shape.
fn zip_map<T: Float, M: Copy>(x: &ArrayD<T>, m: &[M], f: impl Fn(T, M) -> T) -> ArrayD<T> {
    assert_eq!(x.len(), m.len());
    let v: Vec<T> = x.iter().zip(m).map(|(&x, &m)| f(x, m)).collect();
    Array::from_shape_vec(x.raw_dim(), v).unwrap()
}

/// The mask element (row-major over `(N, C)`) of every data element of a Spatial input.
fn spatial_mask_index(kind: Kind, shape: &[usize]) -> (usize, Vec<usize>) {
    let batched = shape.len() == kind.spatial_dims() + 2;
    let c_axis = if kind.channels_last() {
        shape.len() - 1
    } else if batched {
        1
    } else {
        0
    };
    let channels = shape[c_axis];
    let samples = if batched { shape[0] } else { 1 };
    let x = Array::from_elem(IxDyn(shape), 0u8);
    let idx = x
        .indexed_iter()
        .map(|(i, _)| {
            let n = if batched { i[0] } else { 0 };
            n * channels + i[c_axis]
        })
        .collect();
    (samples * channels, idx)
}

// ---------------------------------------------------------------- Dropout

fn dropout_train<T: Float>(kind: GeneratorKind, p: f64, scale: bool, storage: MaskStorage) {
    let what = format!(
        "Dropout({p}, scale={scale}) {kind:?} {storage:?} {}",
        T::NAME
    );
    let seed = 0xD0_0D + (p * 100.0) as u64;
    let mut layer = Dropout::with_options(p, false, scale)
        .unwrap()
        .with_mask_storage(storage);
    layer.set_seed(seed, kind);
    let mut oracle = Oracle::new(kind, seed);
    let fwd_k = T::from_f64(1.0 - p);
    let bwd_k = T::from_f64(1.0 / (1.0 - p));
    for step in 0..3 {
        let x = data::<T>(&[7, 9], step);
        let g = data::<T>(&[7, 9], 100 + step);
        let keep = oracle.keep(x.len(), p);
        let y = layer.forward(&x).unwrap();
        let want = zip_map(&x, &keep, |x, k| match (k, scale) {
            (true, true) => x / fwd_k,
            (true, false) => x,
            (false, _) => T::zero(),
        });
        assert_same_bits(&y, &want, &format!("{what} forward {step}"));
        let gi = layer.backward(&x, &g).unwrap();
        let want = zip_map(&g, &keep, |g, k| match (k, scale) {
            (true, true) => g * bwd_k,
            (true, false) => g,
            (false, _) => T::zero(),
        });
        assert_same_bits(&gi, &want, &format!("{what} backward {step}"));
        if scale && p == 0.3 {
            // The data must tell "divide by T(1 - p)" from "multiply by T(1 / (1 - p))",
            // else the two checks above could not catch a swap.
            assert!(
                x.iter().any(|&v| v / fwd_k != v * bwd_k),
                "{what}: test data does not discriminate the two roundings"
            );
        }
        // Some kept and some dropped, so the mask is really compared.
        assert!(
            keep.iter().any(|&k| k) && keep.iter().any(|&k| !k),
            "{what}"
        );
    }
}

#[test]
fn dropout_training_forward_and_backward_follow_the_formula() {
    for kind in GENERATORS {
        for p in [0.3, 0.5, 0.77] {
            for scale in [true, false] {
                for storage in [MaskStorage::Bits, MaskStorage::Regenerate] {
                    dropout_train::<f32>(kind, p, scale, storage);
                    dropout_train::<f64>(kind, p, scale, storage);
                }
            }
        }
    }
}

fn dropout_eval<T: Float>(p: f64) {
    let x = data::<T>(&[5, 13], 1);
    let g = data::<T>(&[5, 13], 2);
    let k = T::from_f64(1.0 - p);
    // scale = true: identity both ways (backward is a DEVIATION: BigDL throws).
    let mut layer = Dropout::new(p).unwrap();
    layer.evaluate();
    assert_same_bits(
        &layer.backward(&x, &g).unwrap(),
        &g,
        "backward before forward",
    );
    assert_same_bits(&layer.forward(&x).unwrap(), &x, "eval forward");
    assert_same_bits(&layer.backward(&x, &g).unwrap(), &g, "eval backward");
    // scale = false: x * T(1 - p), g * T(1 - p).
    let mut layer = Dropout::with_options(p, false, false).unwrap();
    layer.evaluate();
    let want_g = g.mapv(|v| v * k);
    assert_same_bits(&layer.backward(&x, &g).unwrap(), &want_g, "backward first");
    assert_same_bits(&layer.forward(&x).unwrap(), &x.mapv(|v| v * k), "fwd");
    assert_same_bits(&layer.backward(&x, &g).unwrap(), &want_g, "bwd");
}

#[test]
fn dropout_evaluation_is_identity_or_keep_probability_scaling() {
    for p in [0.1, 0.3, 0.65] {
        dropout_eval::<f32>(p);
        dropout_eval::<f64>(p);
    }
}

#[test]
fn dropout_defaults_and_accessors() {
    let d = Dropout::new(0.25).unwrap();
    assert_eq!(d.p(), 0.25);
    assert!(d.scale() && !d.inplace() && d.is_resampling());
    assert_eq!(d.mask_storage(), MaskStorage::Bits);
    assert!(
        d.is_training(),
        "layers start in training mode, as in BigDL"
    );
    let d = Dropout::with_options(0.5, true, false).unwrap();
    assert!(d.inplace() && !d.scale());
    let mut d = Dropout::new(0.5)
        .unwrap()
        .with_mask_storage(MaskStorage::Regenerate);
    assert_eq!(d.mask_storage(), MaskStorage::Regenerate);
    assert!(!d.evaluate().is_training());
    assert!(d.training().is_training());
    assert_eq!(d.name(), "Dropout");
}

// ---------------------------------------------------------------- Gaussian layers

fn gaussian_dropout<T: Float>(kind: GeneratorKind, rate: f64) {
    let what = format!("GaussianDropout({rate}) {kind:?} {}", T::NAME);
    let stddev = (rate / (1.0 - rate)).sqrt();
    let mut layer = GaussianDropout::new(rate).unwrap();
    assert_eq!(layer.rate(), rate);
    assert_eq!(layer.stddev(), stddev);
    layer.set_seed(77, kind);
    let mut oracle = Oracle::new(kind, 77);
    // 63 elements: odd, so BigDL's cached normal carries over into the next forward.
    for step in 0..3 {
        let x = data::<T>(&[7, 9], step);
        let g = data::<T>(&[7, 9], 50 + step);
        let n = oracle.noise::<T>(x.len(), 1.0, stddev);
        let y = layer.forward(&x).unwrap();
        assert_same_bits(
            &y,
            &zip_map(&x, &n, |x, n| x * n),
            &format!("{what} fwd {step}"),
        );
        // DEVIATION: backward multiplies by the forward's noise (BigDL draws fresh noise).
        let gi = layer.backward(&x, &g).unwrap();
        assert_same_bits(
            &gi,
            &zip_map(&g, &n, |g, n| g * n),
            &format!("{what} bwd {step}"),
        );
        assert!(n.iter().any(|&v| v < T::zero()), "{what}: noise can be < 0");
    }
    // Evaluation: identity forward and backward (backward: DEVIATION, BigDL throws).
    layer.evaluate();
    let x = data::<T>(&[4, 5], 9);
    let g = data::<T>(&[4, 5], 10);
    assert_same_bits(&layer.forward(&x).unwrap(), &x, &format!("{what} eval fwd"));
    assert_same_bits(
        &layer.backward(&x, &g).unwrap(),
        &g,
        &format!("{what} eval bwd"),
    );
    let mut fresh = GaussianDropout::new(rate).unwrap();
    fresh.evaluate();
    assert_same_bits(&fresh.backward(&x, &g).unwrap(), &g, "eval bwd, no forward");
}

#[test]
fn gaussian_dropout_multiplies_by_one_centred_noise_and_backward_reuses_it() {
    for kind in GENERATORS {
        for rate in [0.2, 0.5, 0.9] {
            gaussian_dropout::<f32>(kind, rate);
            gaussian_dropout::<f64>(kind, rate);
        }
    }
}

fn gaussian_dropout_rate_zero<T: Float>(kind: GeneratorKind) {
    // DEVIATION: rate 0 is the identity (BigDL fails at the first forward).
    let mut x = data::<T>(&[3, 11], 4);
    x[[0, 0]] = T::neg_zero();
    x[[0, 1]] = T::infinity();
    let mut layer = GaussianDropout::new(0.0).unwrap();
    layer.set_seed(5, kind);
    assert_eq!(layer.stddev(), 0.0);
    assert_same_bits(&layer.forward(&x).unwrap(), &x, "rate 0 forward");
    assert_same_bits(&layer.backward(&x, &x).unwrap(), &x, "rate 0 backward");
}

#[test]
fn gaussian_dropout_rate_zero_is_the_identity() {
    for kind in GENERATORS {
        gaussian_dropout_rate_zero::<f32>(kind);
        gaussian_dropout_rate_zero::<f64>(kind);
    }
}

fn gaussian_noise<T: Float>(kind: GeneratorKind, stddev: f64) {
    let what = format!("GaussianNoise({stddev}) {kind:?} {}", T::NAME);
    let mut layer = GaussianNoise::new(stddev).unwrap();
    assert_eq!(layer.stddev(), stddev);
    layer.set_seed(31, kind);
    let mut oracle = Oracle::new(kind, 31);
    // Backward needs no forward and is the identity in both modes.
    let g0 = data::<T>(&[3, 3], 70);
    assert_same_bits(&layer.backward(&g0, &g0).unwrap(), &g0, "bwd, no forward");
    for step in 0..3 {
        let x = data::<T>(&[5, 13], step);
        let g = data::<T>(&[5, 13], 60 + step);
        let e = oracle.noise::<T>(x.len(), 0.0, stddev);
        let y = layer.forward(&x).unwrap();
        assert_same_bits(
            &y,
            &zip_map(&x, &e, |x, e| x + e),
            &format!("{what} fwd {step}"),
        );
        assert_same_bits(&layer.backward(&x, &g).unwrap(), &g, &format!("{what} bwd"));
    }
    layer.evaluate();
    let x = data::<T>(&[4, 5], 9);
    assert_same_bits(&layer.forward(&x).unwrap(), &x, &format!("{what} eval fwd"));
    assert_same_bits(
        &layer.backward(&x, &x).unwrap(),
        &x,
        &format!("{what} eval bwd"),
    );
}

#[test]
fn gaussian_noise_adds_zero_centred_noise_with_identity_gradient() {
    for kind in GENERATORS {
        for stddev in [0.2, 1.0, 3.5] {
            gaussian_noise::<f32>(kind, stddev);
            gaussian_noise::<f64>(kind, stddev);
        }
    }
}

#[test]
fn documented_normal_mapping_of_a_philox_block() {
    // rng::normal's documented mapping, computed in f64: rho(w) = sqrt(-2 ln u),
    // u = (2 (w >> 9) + 1) 2^-24, t(w) = (w >> 8) 2^-24; elements 4b+0..3 are
    // rho(w0) cos(2 pi t(w1)), rho(w0) sin(2 pi t(w1)), rho(w2) cos(2 pi t(w3)), rho(w2) sin(..).
    // The f32 implementation is within a few ulp: ln 2 ulp, sin/cos 2 * 2^-24 absolute, so
    // |error| <= 5.8 * 4 * 2^-24 + ... < 4e-6 (|n| <= 5.8).
    let rho = |w: u32| (-2.0 * ((2.0 * f64::from(w >> 9) + 1.0) / 16_777_216.0).ln()).sqrt();
    let turn = |w: u32| 2.0 * std::f64::consts::PI * f64::from(w >> 8) / 16_777_216.0;
    let mut worst = 0.0f64;
    for b in 0..20_000u64 {
        let w = rng::block(0xABCD, b % 7, b);
        let want = [
            rho(w[0]) * turn(w[1]).cos(),
            rho(w[0]) * turn(w[1]).sin(),
            rho(w[2]) * turn(w[3]).cos(),
            rho(w[2]) * turn(w[3]).sin(),
        ];
        let got = normal::normals4(w);
        for k in 0..4 {
            worst = worst.max((f64::from(got[k]) - want[k]).abs());
        }
        assert_eq!(normal::box_muller(w[0], w[1]), (got[0], got[1]));
        assert_eq!(normal::box_muller(w[2], w[3]), (got[2], got[3]));
    }
    assert!(
        worst < 4e-6,
        "normals4 is {worst} from the documented mapping"
    );
}

// ---------------------------------------------------------------- Spatial layers

/// Input shapes for every Spatial configuration, batched and not.
fn spatial_shapes(kind: Kind) -> Vec<Vec<usize>> {
    let batched = kind.small_shape();
    let mut unbatched = batched.clone();
    unbatched.remove(0);
    vec![batched, unbatched, kind.shape(4, 9, &kind.map(1))]
}

fn spatial<T: Float>(kind: Kind, gen: GeneratorKind, p: f64) {
    let scale = kind == Kind::Spatial2DScaled;
    let fwd_k = T::from_f64(1.0 - p);
    let bwd_k = T::from_f64(1.0 / (1.0 - p));
    for shape in spatial_shapes(kind) {
        let what = format!("{kind:?}({p}) {shape:?} {gen:?} {}", T::NAME);
        let mut layer = kind.seeded(p, 1000 + shape.len() as u64, gen);
        let mut oracle = Oracle::new(gen, 1000 + shape.len() as u64);
        let (mask_len, idx) = spatial_mask_index(kind, &shape);
        let mut saw_kept = false;
        let mut saw_dropped = false;
        for step in 0..3 {
            let x = data::<T>(&shape, step);
            let g = data::<T>(&shape, 40 + step);
            let keep = oracle.keep(mask_len, p);
            saw_kept |= keep.iter().any(|&k| k);
            saw_dropped |= keep.iter().any(|&k| !k);
            let m: Vec<bool> = idx.iter().map(|&i| keep[i]).collect();
            let y = layer.forward(&x).unwrap();
            let want = zip_map(&x, &m, |x, k| match (k, scale) {
                (true, true) => x / fwd_k,
                (true, false) => x,
                (false, _) => T::zero(),
            });
            assert_same_bits(&y, &want, &format!("{what} fwd {step}"));
            let gi = layer.backward(&x, &g).unwrap();
            let want = zip_map(&g, &m, |g, k| match (k, scale) {
                (true, true) => g * bwd_k,
                (true, false) => g,
                (false, _) => T::zero(),
            });
            assert_same_bits(&gi, &want, &format!("{what} bwd {step}"));
        }
        assert!(saw_kept && saw_dropped, "{what}: the masks must vary");
        // Evaluation: x * T(1 - p) (Torch7 style), identity with scale; backward likewise
        // (DEVIATION: BigDL throws).
        layer.evaluate();
        let x = data::<T>(&shape, 8);
        let g = data::<T>(&shape, 9);
        let (want_y, want_g) = if scale {
            (x.clone(), g.clone())
        } else {
            (x.mapv(|v| v * fwd_k), g.mapv(|v| v * fwd_k))
        };
        assert_same_bits(
            &layer.forward(&x).unwrap(),
            &want_y,
            &format!("{what} eval"),
        );
        assert_same_bits(
            &layer.backward(&x, &g).unwrap(),
            &want_g,
            &format!("{what} eval"),
        );
        let mut fresh = kind.make(p);
        fresh.evaluate();
        let got = fresh.backward(&x, &g).unwrap();
        assert_same_bits(&got, &want_g, &format!("{what} eval bwd, no forward"));
    }
}

#[test]
fn spatial_layers_share_one_draw_per_sample_and_channel() {
    for kind in common::ALL_KINDS
        .into_iter()
        .filter(|k| k.is_spatial() && !k.is_alpha())
    {
        for gen in GENERATORS {
            spatial::<f32>(kind, gen, 0.4);
            spatial::<f64>(kind, gen, 0.7);
        }
    }
}

// ---------------------------------------------------------------- Alpha layers

/// AlphaDropout and FeatureAlphaDropout in training, against the formula: with
/// `alpha' = -1.7580993408473766`, `a = ((1 - p)(1 + p alpha'^2))^(-1/2)`, `b = -a alpha' p`
/// (in f64), kept `T(a) * x + T(b)`, dropped `T(a alpha' + b)`, backward `g * T(a)` kept and
/// 0 dropped; the keep decisions per element (AlphaDropout) or per (N, C) (the Feature layer).
fn alpha_train<T: Float>(kind: Kind, gen: GeneratorKind, p: f64) {
    let what = format!("{kind:?}({p}) {gen:?} {}", T::NAME);
    let alpha = -1.758_099_340_847_376_6_f64;
    let a = 1.0 / ((1.0 - p) * (1.0 + p * alpha * alpha)).sqrt();
    let b = -a * alpha * p;
    let (ta, tb, td) = (T::from_f64(a), T::from_f64(b), T::from_f64(a * alpha + b));
    let seed = 0xA1FA;
    let mut layer = kind.seeded(p, seed, gen);
    let mut oracle = Oracle::new(gen, seed);
    let shape = if kind == Kind::Alpha {
        vec![7, 9]
    } else {
        kind.small_shape()
    };
    let mut mixed = (false, false);
    for step in 0..3 {
        let x = data::<T>(&shape, step);
        let g = data::<T>(&shape, 100 + step);
        let keep: Vec<bool> = if kind == Kind::Alpha {
            oracle.keep(x.len(), p)
        } else {
            let (len, idx) = spatial_mask_index(kind, &shape);
            let keep = oracle.keep(len, p);
            idx.iter().map(|&i| keep[i]).collect()
        };
        mixed.0 |= keep.iter().any(|&k| k);
        mixed.1 |= keep.iter().any(|&k| !k);
        let y = layer.forward(&x).unwrap();
        let want = zip_map(&x, &keep, |x, k| if k { x * ta + tb } else { td });
        assert_same_bits(&y, &want, &format!("{what} forward {step}"));
        let gi = layer.backward(&x, &g).unwrap();
        let want = zip_map(&g, &keep, |g, k| if k { g * ta } else { T::zero() });
        assert_same_bits(&gi, &want, &format!("{what} backward {step}"));
    }
    assert!(mixed.0 && mixed.1, "{what}: some kept and some dropped");
    // Evaluation: the identity both ways.
    layer.evaluate();
    let x = data::<T>(&shape, 9);
    assert_same_bits(&layer.forward(&x).unwrap(), &x, &what);
    assert_same_bits(&layer.backward(&x, &x).unwrap(), &x, &what);
}

#[test]
fn alpha_layers_follow_the_formula() {
    for kind in [Kind::Alpha, Kind::FeatureAlphaNchw, Kind::FeatureAlphaNhwc] {
        for gen in GENERATORS {
            for p in [0.1, 0.5, 0.8] {
                alpha_train::<f32>(kind, gen, p);
                alpha_train::<f64>(kind, gen, p);
            }
        }
    }
}

#[test]
fn spatial_defaults_and_accessors() {
    let l = SpatialDropout1D::new(0.5).unwrap();
    assert_eq!((l.p(), l.scale(), l.is_training()), (0.5, false, true));
    assert_eq!(l.format(), dropkit::DataFormat::Nhwc, "1D is channels last");
    let l = SpatialDropout2D::new(0.25).unwrap();
    assert_eq!(
        l.format(),
        dropkit::DataFormat::Nchw,
        "BigDL's default format"
    );
    assert!(!l.scale() && l.with_scale(true).scale());
    let l = SpatialDropout2D::with_format(0.5, "nhwc").unwrap();
    assert_eq!(l.format(), dropkit::DataFormat::Nhwc);
    let l = SpatialDropout3D::with_format(0.5, "NcHw").unwrap();
    assert_eq!(l.format(), dropkit::DataFormat::Nchw);
    assert_eq!(
        SpatialDropout3D::new(0.1).unwrap().name(),
        "SpatialDropout3D"
    );
    assert_eq!(
        SpatialDropout2D::new(0.1).unwrap().name(),
        "SpatialDropout2D"
    );
    assert_eq!(
        SpatialDropout1D::new(0.1).unwrap().name(),
        "SpatialDropout1D"
    );
}

#[test]
fn seed_document_bigdl_masks_with_rng_set_seed_100() {
    let _guard = DEFAULT_GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    // BigDL's documentation example: SpatialDropout1D[Double](0.7) on rand (3, 4, 5), RNG.setSeed(100),
    // gradInput = backward(input, ones): per (n, c) keep pattern, the same for every t.
    let want_1d = [
        [0., 0., 1., 0., 0.],
        [0., 0., 1., 1., 1.],
        [1., 1., 0., 1., 0.],
    ];
    let x = data::<f64>(&[3, 4, 5], 3)
        .mapv(|v| v.abs() / 4.0)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let mut module = SpatialDropout1D::new(0.7).unwrap();
    set_seed(100, GeneratorKind::BigDl);
    let y = module.forward(&x).unwrap();
    let g = module.backward(&x, &x.mapv(|_| 1.0)).unwrap();
    for ((i, &gv), (&yv, &xv)) in g.indexed_iter().zip(y.iter().zip(&x)) {
        assert_eq!(gv, want_1d[i.0][i.2], "gradInput at {i:?}");
        // Output: the input where kept (BigDL does not scale in training), else 0.
        assert_eq!(yv, xv * gv, "output at {i:?}");
    }
    // SpatialDropout2D[Double](0.7) on (2, 3, 4, 5), RNG.setSeed(100): only map (1, 3)
    // (1-based) is kept; the same 6 first Bernoulli draws as above.
    let x = data::<f64>(&[2, 3, 4, 5], 4)
        .into_dimensionality::<Ix4>()
        .unwrap();
    let mut module = SpatialDropout2D::new(0.7).unwrap();
    set_seed(100, GeneratorKind::BigDl);
    module.forward(&x).unwrap();
    let g = module.backward(&x, &x.mapv(|_| 1.0)).unwrap();
    for ((n, c, h, w), &v) in g.indexed_iter() {
        let want = if (n, c) == (0, 2) { 1.0 } else { 0.0 };
        assert_eq!(v, want, "gradInput at ({n}, {c}, {h}, {w})");
    }
    // SpatialDropout3D draws the same way: the first 6 draws again.
    let x = data::<f64>(&[2, 3, 2, 2, 2], 5)
        .into_dimensionality::<Ix5>()
        .unwrap();
    let mut module = SpatialDropout3D::new(0.7).unwrap();
    set_seed(100, GeneratorKind::BigDl);
    let y = module.forward(&x).unwrap();
    for (((n, c, ..), &yv), &xv) in y.indexed_iter().zip(&x) {
        let want = if (n, c) == (0, 2) { xv } else { 0.0 };
        assert_eq!(yv, want);
    }
}

// ---------------------------------------------------------------- in-place paths

fn inplace_equals_copy<T: Float>(kind: Kind, gen: GeneratorKind) {
    let shape = kind.small_shape();
    let what = format!("{kind:?} {gen:?} {}", T::NAME);
    let mut a = kind.seeded(0.35, 21, gen);
    let mut b = kind.seeded(0.35, 21, gen);
    for mode in ["train", "eval"] {
        if mode == "eval" {
            a.evaluate();
            b.evaluate();
        }
        for step in 0..2 {
            let x = data::<T>(&shape, step);
            let g = data::<T>(&shape, 10 + step);
            let y = a.forward(&x).unwrap();
            let mut y2 = x.clone();
            b.forward_inplace(y2.view_mut()).unwrap();
            assert_same_bits(&y2, &y, &format!("{what} {mode} forward_inplace"));
            let gi = a.backward(&x, &g).unwrap();
            let mut gi2 = g.clone();
            b.backward_inplace(&x, gi2.view_mut()).unwrap();
            assert_same_bits(&gi2, &gi, &format!("{what} {mode} backward_inplace"));
        }
    }
}

#[test]
fn in_place_forward_and_backward_equal_the_copying_ones() {
    for kind in common::ALL_KINDS {
        for gen in GENERATORS {
            inplace_equals_copy::<f32>(kind, gen);
            inplace_equals_copy::<f64>(kind, gen);
        }
    }
}

// ---------------------------------------------------------------- deviations and options

fn last_forward_is_differentiated(kind: Kind, gen: GeneratorKind) {
    let shape = kind.small_shape();
    let what = format!("{kind:?} {gen:?}");
    let x = data::<f32>(&shape, 1);
    let g = data::<f32>(&shape, 2);
    // Reference gradients from layers that never switch mode.
    let mut train_ref = kind.seeded(0.4, 3, gen);
    train_ref.forward(&x).unwrap();
    let want_train = train_ref.backward(&x, &g).unwrap();
    let mut eval_ref = kind.seeded(0.4, 3, gen);
    eval_ref.evaluate();
    eval_ref.forward(&x).unwrap();
    let want_eval = eval_ref.backward(&x, &g).unwrap();
    if kind != Kind::GaussianNoise {
        assert_ne!(
            bits(&want_train),
            bits(&want_eval),
            "{what}: modes must differ"
        );
    }
    // Training forward, then evaluate(): backward is still the training gradient.
    let mut layer = kind.seeded(0.4, 3, gen);
    layer.forward(&x).unwrap();
    layer.evaluate();
    assert_same_bits(&layer.backward(&x, &g).unwrap(), &want_train, &what);
    // Evaluation forward, then training(): backward is the evaluation gradient, no error.
    layer.forward(&x).unwrap();
    layer.training();
    assert_same_bits(&layer.backward(&x, &g).unwrap(), &want_eval, &what);
}

fn bits(a: &ArrayD<f32>) -> Vec<u64> {
    common::bits_of(a)
}

#[test]
fn backward_differentiates_the_last_forward_even_after_a_mode_switch() {
    for kind in common::ALL_KINDS {
        for gen in GENERATORS {
            last_forward_is_differentiated(kind, gen);
        }
    }
}

#[test]
fn set_p_applies_from_the_next_forward() {
    for gen in GENERATORS {
        let x = data::<f64>(&[9, 11], 1);
        let g = data::<f64>(&[9, 11], 2);
        for storage in [MaskStorage::Bits, MaskStorage::Regenerate] {
            let what = format!("Dropout {gen:?} {storage:?}");
            let mut layer = Dropout::new(0.5).unwrap().with_mask_storage(storage);
            layer.set_seed(8, gen);
            let mut oracle = Oracle::new(gen, 8);
            let keep0 = oracle.keep(x.len(), 0.5);
            layer.forward(&x).unwrap();
            layer.set_p(0.8).unwrap();
            assert_eq!(layer.p(), 0.8);
            // Backward differentiates the forward: its mask and its p.
            let want = zip_map(&g, &keep0, |g, k| if k { g * 2.0 } else { 0.0 });
            let got = layer.backward(&x, &g).unwrap();
            assert_same_bits(&got, &want, &format!("{what}: backward after set_p"));
            let keep1 = oracle.keep(x.len(), 0.8);
            let k = 1.0 - 0.8f64;
            let want = zip_map(&x, &keep1, |x, keep| if keep { x / k } else { 0.0 });
            let got = layer.forward(&x).unwrap();
            assert_same_bits(&got, &want, &format!("{what}: forward after set_p"));
        }
        // Evaluation without scale uses the new p too.
        let mut layer = Dropout::with_options(0.5, false, false).unwrap();
        layer.set_p(0.25).unwrap().evaluate();
        assert_same_bits(&layer.forward(&x).unwrap(), &x.mapv(|v| v * 0.75), "eval");

        // Spatial: the same for set_p.
        let x = data::<f32>(&[3, 4, 2, 2], 1);
        let mut layer = SpatialDropout2D::new(0.5).unwrap();
        layer.set_seed(9, gen);
        let mut oracle = Oracle::new(gen, 9);
        let (len, idx) = spatial_mask_index(Kind::Spatial2DNchw, x.shape());
        let keep0 = oracle.keep(len, 0.5);
        let y0 = layer.forward(&x).unwrap();
        layer.set_p(0.9).unwrap();
        assert_eq!(layer.p(), 0.9);
        let m0: Vec<bool> = idx.iter().map(|&i| keep0[i]).collect();
        assert_same_bits(&y0, &zip_map(&x, &m0, |x, k| if k { x } else { 0.0 }), "2D");
        let gi = layer.backward(&x, &x).unwrap();
        assert_same_bits(&gi, &y0, "Spatial bwd after set_p uses the forward's mask");
        let keep1 = oracle.keep(len, 0.9);
        let m1: Vec<bool> = idx.iter().map(|&i| keep1[i]).collect();
        let want = zip_map(&x, &m1, |x, k| if k { x } else { 0.0 });
        assert_same_bits(&layer.forward(&x).unwrap(), &want, "2D fwd after set_p");
        layer.evaluate();
        let want = x.mapv(|v| v * (1.0 - 0.9f64) as f32);
        assert_same_bits(&layer.forward(&x).unwrap(), &want, "2D eval after set_p");
    }
}

#[test]
fn without_resampling_forward_reuses_the_previous_mask() {
    for gen in GENERATORS {
        for storage in [MaskStorage::Bits, MaskStorage::Regenerate] {
            let what = format!("{gen:?} {storage:?}");
            let mut layer = Dropout::new(0.5).unwrap().with_mask_storage(storage);
            layer.set_seed(12, gen);
            let mut oracle = Oracle::new(gen, 12);
            let keep = oracle.keep(8 * 8, 0.5);
            layer.set_resampling(false);
            assert!(!layer.is_resampling());
            for step in 0..3 {
                // New data each time: the mask is reused, not the output.
                let x = data::<f32>(&[8, 8], step);
                let want = zip_map(&x, &keep, |x, k| if k { x * 2.0 } else { 0.0 });
                let y = layer.forward(&x).unwrap();
                assert_same_bits(&y, &want, &format!("{what} step {step}"));
                let g = data::<f32>(&[8, 8], 20 + step);
                let want = zip_map(&g, &keep, |g, k| if k { g * 2.0 } else { 0.0 });
                assert_same_bits(&layer.backward(&x, &g).unwrap(), &want, &what);
            }
            // Also across an evaluation forward.
            let x = data::<f32>(&[8, 8], 5);
            layer.evaluate();
            assert_same_bits(&layer.forward(&x).unwrap(), &x, &what);
            layer.training();
            let want = zip_map(&x, &keep, |x, k| if k { x * 2.0 } else { 0.0 });
            assert_same_bits(&layer.forward(&x).unwrap(), &want, &what);
            // Resampling again: a fresh mask.
            layer.set_resampling(true);
            let ones = Array::from_elem(IxDyn(&[8, 8]), 1.0f32);
            let fresh = layer.forward(&ones).unwrap();
            let old: Vec<bool> = keep.clone();
            let new: Vec<bool> = fresh.iter().map(|&v| v != 0.0).collect();
            assert_ne!(new, old, "{what}: resampling draws a new mask");
        }
    }
}

#[test]
fn layers_without_a_seed_use_the_default_generator_draw_by_draw() {
    let _guard = DEFAULT_GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    for gen in GENERATORS {
        // Two layers on the default generator take consecutive draws from it.
        set_seed(2024, gen);
        let mut oracle = Oracle::new(gen, 2024);
        let x = data::<f32>(&[6, 7], 1);
        let mut a = Layer::Dropout(Dropout::new(0.5).unwrap());
        let mut b = Kind::Spatial1D.make(0.5);
        for _ in 0..2 {
            let keep = oracle.keep(x.len(), 0.5);
            let want = zip_map(&x, &keep, |x, k| if k { x * 2.0 } else { 0.0 });
            assert_same_bits(&a.forward(&x).unwrap(), &want, "default generator, Dropout");
            let (len, idx) = spatial_mask_index(Kind::Spatial1D, &[6, 7]);
            let keep = oracle.keep(len, 0.5);
            let m: Vec<bool> = idx.iter().map(|&i| keep[i]).collect();
            let want = zip_map(&x, &m, |x, k| if k { x } else { 0.0 });
            assert_same_bits(&b.forward(&x).unwrap(), &want, "default generator, 1D");
        }
        // A layer with its own seed does not touch the default; use_default_generator
        // brings it back.
        let before = dropkit::rng::default_state();
        let mut own = Kind::Dropout.seeded(0.5, 1, gen);
        own.forward(&x).unwrap();
        assert_eq!(dropkit::rng::default_state(), before);
        own.use_default_generator();
        let keep = oracle.keep(x.len(), 0.5);
        let want = zip_map(&x, &keep, |x, k| if k { x * 2.0 } else { 0.0 });
        assert_same_bits(
            &own.forward(&x).unwrap(),
            &want,
            "after use_default_generator",
        );
        assert_ne!(dropkit::rng::default_state(), before);
    }
}

#[test]
fn draw_indices_past_2_to_the_32_reach_the_counter() {
    // The draw index is the counter's high half, all 64 bits of it (a replayed state can be
    // anywhere). The second forward takes the next draw, across the 2^32 boundary.
    let x = data::<f32>(&[9, 7], 3);
    let g = data::<f32>(&[9, 7], 4);
    let start = (1u64 << 32) - 1;
    for kind in [
        Kind::Dropout,
        Kind::DropoutRegenerate,
        Kind::GaussianDropout,
        Kind::Spatial1D,
    ] {
        let mut layer = kind.make(0.5);
        layer.set_generator_state(dropkit::GeneratorState::Philox {
            seed: 3,
            draw: start,
        });
        let mut oracle = Oracle::new(GeneratorKind::Philox, 3);
        oracle.draw = start;
        for step in 0..2 {
            let what = format!("{kind:?} draw {}", start + step);
            let (want_y, want_g) = match kind {
                Kind::GaussianDropout => {
                    let n = oracle.noise::<f32>(x.len(), 1.0, 1.0);
                    (zip_map(&x, &n, |x, n| x * n), zip_map(&g, &n, |g, n| g * n))
                }
                Kind::Spatial1D => {
                    let (len, idx) = spatial_mask_index(kind, x.shape());
                    let keep = oracle.keep(len, 0.5);
                    let m: Vec<bool> = idx.iter().map(|&i| keep[i]).collect();
                    let f = |v: f32, k: bool| if k { v } else { 0.0 };
                    (zip_map(&x, &m, f), zip_map(&g, &m, f))
                }
                _ => {
                    let keep = oracle.keep(x.len(), 0.5);
                    let f = |v: f32, k: bool| if k { v * 2.0 } else { 0.0 };
                    (zip_map(&x, &keep, f), zip_map(&g, &keep, f))
                }
            };
            assert_same_bits(&layer.forward(&x).unwrap(), &want_y, &what);
            assert_same_bits(&layer.backward(&x, &g).unwrap(), &want_g, &what);
        }
        assert_eq!(
            layer.generator_state(),
            dropkit::GeneratorState::Philox {
                seed: 3,
                draw: start + 2
            }
        );
    }
}
