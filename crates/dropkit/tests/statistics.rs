//! Statistical tests of the randomness each layer uses, for both generators and both
//! element types. Every test is seeded, so it is deterministic; the bounds are written as
//! critical values with their meaning:
//!
//! - counts: within 5 standard deviations of a binomial mean (two-sided false-alarm
//!   probability 5.7e-7 per check under the null hypothesis);
//! - independence of two keep decisions: Pearson's chi-square on their 2x2 table, 1 degree of
//!   freedom, critical value 15.14 (alpha = 1e-4);
//! - normals: mean within 5 sigma / sqrt(n); sample variance within 5 sqrt(2 / n) relative
//!   (the standard deviation of s^2 / sigma^2 for normal data); the Kolmogorov-Smirnov
//!   statistic D below 1.95 / sqrt(n) (the asymptotic critical value K = 1.949 for
//!   alpha = 0.001); lag correlations within 5 / sqrt(n); the share beyond 3 sigma within a
//!   5-sigma binomial bound around 0.0027.
//!
//! With a few hundred checks in all, a correct generator trips one with probability well
//! under 5% even after a change of mapping; a broken one (a wrong threshold, a reused word,
//! a draw index that is ignored, a missing tail) fails by far more than these margins.

mod common;

use common::{Float, Kind, GENERATORS};
use dropkit::{Dropout, GaussianDropout, GaussianNoise, GeneratorKind, Module};
use ndarray::{Array, ArrayD, IxDyn};

/// 5-sigma bound on a binomial count: `|k - n q| <= 5 sqrt(n q (1 - q))`.
fn assert_binomial(k: usize, n: usize, q: f64, what: &str) {
    let mean = n as f64 * q;
    let sd = (n as f64 * q * (1.0 - q)).sqrt();
    let z = (k as f64 - mean) / sd;
    assert!(
        z.abs() <= 5.0,
        "{what}: {k} of {n}, expected {mean:.1} +- {sd:.1} (z = {z:.2})"
    );
}

/// Chi-square critical value, 1 degree of freedom, alpha = 1e-4.
const CHI2_1DOF_1E4: f64 = 15.14;

/// Pearson's chi-square statistic of the 2x2 table of the pairs `(a_i, b_i)`.
fn chi_square_2x2(pairs: impl Iterator<Item = (bool, bool)>) -> f64 {
    let mut t = [[0f64; 2]; 2];
    for (a, b) in pairs {
        t[usize::from(a)][usize::from(b)] += 1.0;
    }
    let n = t[0][0] + t[0][1] + t[1][0] + t[1][1];
    let rows = [t[0][0] + t[0][1], t[1][0] + t[1][1]];
    let cols = [t[0][0] + t[1][0], t[0][1] + t[1][1]];
    let det = t[0][0] * t[1][1] - t[0][1] * t[1][0];
    n * det * det / (rows[0] * rows[1] * cols[0] * cols[1])
}

fn assert_independent(pairs: impl Iterator<Item = (bool, bool)>, what: &str) {
    let chi2 = chi_square_2x2(pairs);
    assert!(
        chi2 < CHI2_1DOF_1E4,
        "{what}: chi-square {chi2:.2} >= {CHI2_1DOF_1E4}"
    );
}

#[test]
fn chi_square_helper_detects_dependence() {
    // The helper itself: perfectly dependent pairs give chi2 = n; balanced ones 0.
    let dep = (0..1000).map(|i| (i % 2 == 0, i % 2 == 0));
    assert!((chi_square_2x2(dep) - 1000.0).abs() < 1e-9);
    let indep = (0..1000).map(|i| (i % 2 == 0, (i / 2) % 2 == 0));
    assert!(chi_square_2x2(indep) < 1e-9);
}

// ---------------------------------------------------------------- Dropout keep rate

fn dropout_keep_rate<T: Float>(gen: GeneratorKind, p: f64) {
    const N: usize = 1_000_000;
    let what = format!("Dropout({p}) {gen:?} {}", T::NAME);
    let x = Array::from_elem(IxDyn(&[N]), T::one());
    let mut layer = Dropout::new(p).unwrap();
    layer.set_seed(0x5EED + (p * 10.0) as u64, gen);
    let a: Vec<bool> = layer
        .forward(&x)
        .unwrap()
        .iter()
        .map(|&v| v != T::zero())
        .collect();
    let kept = a.iter().filter(|&&k| k).count();
    assert_binomial(kept, N, 1.0 - p, &format!("{what}: kept"));
    // The next draw is a new, independent mask: the two agree on p^2 + (1-p)^2 of the
    // elements, and adjacent elements are independent within a mask.
    let b: Vec<bool> = layer
        .forward(&x)
        .unwrap()
        .iter()
        .map(|&v| v != T::zero())
        .collect();
    let agree = a.iter().zip(&b).filter(|(a, b)| a == b).count();
    assert_binomial(
        agree,
        N,
        p * p + (1.0 - p) * (1.0 - p),
        &format!("{what}: agree"),
    );
    assert_independent(
        a.iter().zip(&b).map(|(&a, &b)| (a, b)),
        &format!("{what}: draws"),
    );
    let pairs = a.chunks_exact(2).map(|c| (c[0], c[1]));
    assert_independent(pairs, &format!("{what}: neighbours"));
    // Elements 4 apart share the word position in consecutive Philox blocks.
    let pairs = (0..N / 8).map(|k| (a[8 * k], a[8 * k + 4]));
    assert_independent(pairs, &format!("{what}: lag 4"));
}

#[test]
fn dropout_keep_rate_is_binomial_for_several_p() {
    for gen in GENERATORS {
        for p in [0.1, 0.3, 0.5, 0.9] {
            // The mask does not depend on the element type; both run the kernels they use.
            if p == 0.1 || p == 0.5 {
                dropout_keep_rate::<f32>(gen, p);
            } else {
                dropout_keep_rate::<f64>(gen, p);
            }
        }
    }
}

#[test]
fn different_seeds_give_independent_masks() {
    const N: usize = 200_000;
    for gen in GENERATORS {
        let x = Array::from_elem(IxDyn(&[N]), 1.0f32);
        let masks: Vec<Vec<bool>> = [1u64, 2, 1 | (1 << 32)]
            .iter()
            .map(|&seed| {
                let mut l = Dropout::new(0.5).unwrap();
                l.set_seed(seed, gen);
                l.forward(&x).unwrap().iter().map(|&v| v != 0.0).collect()
            })
            .collect();
        assert_independent(
            masks[0].iter().zip(&masks[1]).map(|(&a, &b)| (a, b)),
            &format!("{gen:?}: seeds 1 and 2"),
        );
        if gen == GeneratorKind::Philox {
            // The whole 64-bit seed is the key (BigDL uses its low 32 bits only).
            assert_independent(
                masks[0].iter().zip(&masks[2]).map(|(&a, &b)| (a, b)),
                "Philox: seeds 1 and 2^32 + 1",
            );
        } else {
            assert!(masks[0] == masks[2], "BigDL seeds with seed & 0xffffffff");
        }
    }
}

// ---------------------------------------------------------------- Spatial layers

/// Keep decisions per (sample, channel) of one forward on ones, after checking that every
/// element of a feature map shares its map's decision.
fn spatial_decisions<T: Float>(
    layer: &mut common::Layer,
    kind: Kind,
    shape: &[usize],
) -> Vec<bool> {
    let x = Array::from_elem(IxDyn(shape), T::one());
    let y = layer.forward(&x).unwrap();
    let c_axis = if kind.channels_last() {
        shape.len() - 1
    } else {
        1
    };
    let (n, c) = (shape[0], shape[c_axis]);
    let mut decision: Vec<Option<bool>> = vec![None; n * c];
    for (idx, &v) in y.indexed_iter() {
        let m = idx[0] * c + idx[c_axis];
        let kept = v != T::zero();
        match decision[m] {
            None => decision[m] = Some(kept),
            Some(d) => assert_eq!(
                d, kept,
                "{kind:?}: map ({}, {}) is split",
                idx[0], idx[c_axis]
            ),
        }
    }
    decision.into_iter().map(|d| d.unwrap()).collect()
}

fn spatial_statistics<T: Float>(kind: Kind, gen: GeneratorKind, p: f64) {
    const N: usize = 400;
    const C: usize = 64;
    let what = format!("{kind:?}({p}) {gen:?} {}", T::NAME);
    let shape = kind.shape(N, C, &kind.map(3));
    let mut layer = kind.seeded(p, 0xCAFE + (p * 10.0) as u64, gen);
    let a = spatial_decisions::<T>(&mut layer, kind, &shape);
    let b = spatial_decisions::<T>(&mut layer, kind, &shape);
    assert_binomial(a.iter().filter(|&&k| k).count(), N * C, 1.0 - p, &what);
    assert_binomial(b.iter().filter(|&&k| k).count(), N * C, 1.0 - p, &what);
    // Per channel, across samples: each channel keeps about (1 - p) of its maps
    // (5-sigma bound with N = 400 trials each).
    for c in 0..C {
        let kept = (0..N).filter(|&n| a[n * C + c]).count();
        assert_binomial(kept, N, 1.0 - p, &format!("{what}: channel {c}"));
    }
    // Independence on disjoint pairs: adjacent channels, adjacent samples, two draws.
    let channels = (0..N * C / 2).map(|k| (a[2 * k], a[2 * k + 1]));
    assert_independent(channels, &format!("{what}: channels 2k, 2k+1"));
    let samples =
        (0..N / 2).flat_map(|m| (0..C).map(move |c| (2 * m * C + c, (2 * m + 1) * C + c)));
    assert_independent(
        samples.map(|(i, j)| (a[i], a[j])),
        &format!("{what}: samples 2m, 2m+1"),
    );
    assert_independent(
        a.iter().zip(&b).map(|(&a, &b)| (a, b)),
        &format!("{what}: draws"),
    );
}

#[test]
fn spatial_maps_share_their_decision_and_channels_are_independent() {
    for kind in [
        Kind::Spatial1D,
        Kind::Spatial2DNchw,
        Kind::Spatial2DNhwc,
        Kind::Spatial3DNchw,
        Kind::Spatial3DNhwc,
    ] {
        for gen in GENERATORS {
            spatial_statistics::<f32>(kind, gen, 0.2);
            spatial_statistics::<f64>(kind, gen, 0.5);
            spatial_statistics::<f32>(kind, gen, 0.8);
        }
    }
}

// ---------------------------------------------------------------- normals

/// erf by Abramowitz and Stegun 7.1.26 (absolute error <= 1.5e-7, negligible next to the KS
/// critical value 1.95 / sqrt(n) ~ 2.7e-3 used here).
fn erf(x: f64) -> f64 {
    let s = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    s * (1.0 - poly * (-x * x).exp())
}

/// The normal CDF with mean `mu` and standard deviation `sigma`.
fn normal_cdf(x: f64, mu: f64, sigma: f64) -> f64 {
    0.5 * (1.0 + erf((x - mu) / (sigma * std::f64::consts::SQRT_2)))
}

#[test]
fn erf_approximation_is_accurate() {
    // Reference values of erf (to 10 digits).
    for (x, want) in [
        (0.0, 0.0),
        (0.1, 0.112_462_916_0),
        (0.5, 0.520_499_877_8),
        (1.0, 0.842_700_792_9),
        (2.0, 0.995_322_265_0),
        (3.0, 0.999_977_909_5),
        (-1.0, -0.842_700_792_9),
    ] {
        assert!((erf(x) - want).abs() < 2e-7, "erf({x}) = {}", erf(x));
    }
    assert!((normal_cdf(1.96, 0.0, 1.0) - 0.975_002_104_9).abs() < 2e-7);
}

/// Moments, tails, lag correlations and the Kolmogorov-Smirnov distance of `v` against
/// N(mu, sigma^2).
fn assert_normal(mut v: Vec<f64>, mu: f64, sigma: f64, what: &str) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    assert!(
        (mean - mu).abs() <= 5.0 * sigma / n.sqrt(),
        "{what}: mean {mean} vs {mu}"
    );
    let rel = var / (sigma * sigma) - 1.0;
    assert!(
        rel.abs() <= 5.0 * (2.0 / n).sqrt(),
        "{what}: variance {var} vs {} ({rel:+.2e} relative)",
        sigma * sigma
    );
    // Lag correlations: 1 and 3 cross Box-Muller pairs' cos/sin, 2 crosses word pairs of a
    // block, 4 crosses blocks.
    for lag in 1..=4 {
        let r = v
            .iter()
            .zip(&v[lag..])
            .map(|(a, b)| (a - mean) * (b - mean))
            .sum::<f64>()
            / ((n - lag as f64) * var);
        assert!(
            r.abs() <= 5.0 / n.sqrt(),
            "{what}: lag-{lag} correlation {r}"
        );
    }
    // Tails: P(|Z| > 3) = 0.0026998.
    let beyond = v.iter().filter(|x| ((*x - mu) / sigma).abs() > 3.0).count();
    assert_binomial(
        beyond,
        v.len(),
        0.002_699_8,
        &format!("{what}: beyond 3 sigma"),
    );
    // Kolmogorov-Smirnov.
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut d: f64 = 0.0;
    for (i, &x) in v.iter().enumerate() {
        let f = normal_cdf(x, mu, sigma);
        d = d.max(f - i as f64 / n).max((i + 1) as f64 / n - f);
    }
    let critical = 1.95 / n.sqrt();
    assert!(d < critical, "{what}: KS D = {d:.5} >= {critical:.5}");
}

const NORMALS: usize = 1 << 19;

fn gaussian_noise_is_normal<T: Float>(gen: GeneratorKind, stddev: f64) {
    let what = format!("GaussianNoise({stddev}) {gen:?} {}", T::NAME);
    let mut layer = GaussianNoise::new(stddev).unwrap();
    layer.set_seed(0xFACE, gen);
    let x: ArrayD<T> = Array::zeros(IxDyn(&[NORMALS / 512, 512]));
    let y = layer.forward(&x).unwrap();
    let v: Vec<f64> = y.iter().map(|v| v.to_f64().unwrap()).collect();
    assert_normal(v, 0.0, stddev, &what);
}

fn gaussian_dropout_is_normal<T: Float>(gen: GeneratorKind, rate: f64) {
    let what = format!("GaussianDropout({rate}) {gen:?} {}", T::NAME);
    let mut layer = GaussianDropout::new(rate).unwrap();
    layer.set_seed(0xBEEF, gen);
    let x: ArrayD<T> = Array::ones(IxDyn(&[NORMALS]));
    let y = layer.forward(&x).unwrap();
    let v: Vec<f64> = y.iter().map(|v| v.to_f64().unwrap()).collect();
    // Noise n ~ N(1, rate / (1 - rate)).
    assert_normal(v, 1.0, (rate / (1.0 - rate)).sqrt(), &what);
}

#[test]
fn gaussian_noise_is_normal_with_the_given_stddev() {
    for gen in GENERATORS {
        gaussian_noise_is_normal::<f32>(gen, 0.7);
        gaussian_noise_is_normal::<f64>(gen, 2.5);
    }
}

#[test]
fn gaussian_dropout_noise_is_normal_around_one() {
    for gen in GENERATORS {
        gaussian_dropout_is_normal::<f32>(gen, 0.3);
        gaussian_dropout_is_normal::<f64>(gen, 0.6);
    }
}

#[test]
fn normal_checks_reject_wrong_distributions() {
    // The checks can fail: uniform data with the right mean and variance fails KS and the
    // tails; normals with the wrong sigma fail the variance.
    let n = 100_000;
    let uniform: Vec<f64> = (0..n)
        .map(|i| {
            let u = common::splitmix(i as u64) as f64 / 2f64.powi(64);
            (u - 0.5) * 12f64.sqrt()
        })
        .collect();
    assert!(std::panic::catch_unwind(|| assert_normal(uniform, 0.0, 1.0, "uniform")).is_err());
    let mut layer = GaussianNoise::new(1.0).unwrap();
    layer.set_seed(3, GeneratorKind::Philox);
    let y = layer.forward(&Array::<f64, _>::zeros(IxDyn(&[n]))).unwrap();
    let v: Vec<f64> = y.iter().copied().collect();
    assert!(std::panic::catch_unwind(|| assert_normal(v, 0.0, 1.05, "sigma")).is_err());
}

// ---------------------------------------------------------------- alpha dropout

/// Standard normals by Box-Muller over SplitMix64 words (independent of the library).
fn standard_normals(n: usize, salt: u64) -> Vec<f64> {
    let uniform = |i: u64| {
        let w = common::splitmix(i ^ salt.wrapping_mul(0x9E37_79B9));
        ((w >> 11) as f64 + 0.5) / 9_007_199_254_740_992.0
    };
    (0..n as u64)
        .map(|i| {
            let (u, v) = (uniform(2 * i), uniform(2 * i + 1));
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        })
        .collect()
}

/// AlphaDropout keeps a standard normal input at mean 0 and variance 1 in training. With
/// `q = 1 - p`, the output is `a x + b` with probability `q` and the constant
/// `d = a alpha' + b` otherwise, so its fourth moment is
/// `mu4 = q (3 a^4 + 6 a^2 b^2 + b^4) + p d^4` (odd moments of x vanish). Bounds, for `n`
/// independent elements: the sample mean within `5 / sqrt(n)` of 0 (its standard deviation
/// is `1 / sqrt(n)`), the sample variance within `5 sqrt((mu4 - 1) / n)` of 1 (the large-`n`
/// standard deviation of a sample variance whose population variance is 1).
fn alpha_moments<T: Float>(kind: Kind, gen: GeneratorKind, p: f64) {
    let what = format!("{kind:?}({p}) {gen:?} {}", T::NAME);
    // Rank 2 (N, C): FeatureAlphaDropout draws one keep per element there too, so the
    // elements are independent for both layers.
    let (rows, cols) = (400, 500);
    let n = rows * cols;
    let x: ArrayD<T> = Array::from_shape_vec(
        IxDyn(&[rows, cols]),
        standard_normals(n, 7)
            .into_iter()
            .map(T::from_f64)
            .collect(),
    )
    .unwrap();
    let mut layer = kind.seeded(p, 2024, gen);
    let y: Vec<f64> = layer
        .forward(&x)
        .unwrap()
        .iter()
        .map(|v| v.to_f64().unwrap())
        .collect();
    let mean = y.iter().sum::<f64>() / n as f64;
    let var = y.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
    let alpha = -1.758_099_340_847_376_6_f64;
    let a = 1.0 / ((1.0 - p) * (1.0 + p * alpha * alpha)).sqrt();
    let b = -a * alpha * p;
    let d = a * alpha + b;
    let mu4 = (1.0 - p) * (3.0 * a.powi(4) + 6.0 * a * a * b * b + b.powi(4)) + p * d.powi(4);
    let mean_bound = 5.0 / (n as f64).sqrt();
    let var_bound = 5.0 * ((mu4 - 1.0) / n as f64).sqrt();
    assert!(
        mean.abs() <= mean_bound,
        "{what}: mean {mean} beyond {mean_bound}"
    );
    assert!(
        (var - 1.0).abs() <= var_bound,
        "{what}: variance {var} beyond 1 +- {var_bound}"
    );
}

#[test]
fn alpha_dropout_keeps_a_standard_normal_input_standard() {
    for kind in [Kind::Alpha, Kind::FeatureAlphaNchw, Kind::FeatureAlphaNhwc] {
        for gen in GENERATORS {
            for p in [0.05, 0.2, 0.5, 0.8] {
                alpha_moments::<f32>(kind, gen, p);
                alpha_moments::<f64>(kind, gen, p);
            }
        }
    }
}

#[test]
fn alpha_moment_bounds_reject_plain_dropout() {
    // The same bounds fail for inverted dropout (its variance is 1 / (1 - p)), so they can
    // tell the two apart.
    let (rows, cols) = (400, 500);
    let x: ArrayD<f64> =
        Array::from_shape_vec(IxDyn(&[rows, cols]), standard_normals(rows * cols, 7)).unwrap();
    let mut layer = Dropout::new(0.2).unwrap();
    layer.set_seed(2024, GeneratorKind::Philox);
    let y = layer.forward(&x).unwrap();
    let n = y.len() as f64;
    let mean = y.sum() / n;
    let var = y.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    // Dropout's variance is 1 / (1 - p) = 1.25; the alpha bound at p = 0.2 on this many
    // elements is 5 sqrt((mu4 - 1) / n) < 0.03 (mu4 < 5 there).
    assert!((var - 1.25).abs() < 0.05, "{var}");
    assert!((var - 1.0).abs() > 5.0 * (4.0 / n).sqrt());
}
