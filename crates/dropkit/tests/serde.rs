//! The `serde` feature: a layer round-trips through JSON with its options, mode and generator
//! position, and its next forward is bit-identical to the original's.
#![cfg(feature = "serde")]

use dropkit::rng::{default_state, set_default_state};
use dropkit::{
    AlphaDropout, Dropout, FeatureAlphaDropout, GaussianDropout, GaussianNoise, GeneratorKind,
    Module, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};
use ndarray::{ArrayD, IxDyn};
use serde::{de::DeserializeOwned, Serialize};

fn input(rank: usize) -> ArrayD<f32> {
    let shape: Vec<usize> = [2, 3, 4, 5, 6][..rank].to_vec();
    let n = shape.iter().product::<usize>();
    ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|i| i as f32 + 0.25).collect()).unwrap()
}

/// Every generator setup and mode, after one training forward when `forwarded` (so
/// positions are not 0).
fn check<L>(make: impl Fn() -> L, rank: usize, forwarded: bool)
where
    L: Module + Serialize + DeserializeOwned + std::fmt::Display,
{
    let x = input(rank);
    for own in [
        None,
        Some(GeneratorKind::Philox),
        Some(GeneratorKind::BigDl),
    ] {
        for train in [true, false] {
            let mut a = make();
            if let Some(kind) = own {
                a.set_seed(7, kind);
            }
            if forwarded {
                a.forward(&x).unwrap();
            }
            if !train {
                a.evaluate();
            }
            let json = serde_json::to_string(&a).unwrap();
            let mut b: L = serde_json::from_str(&json).unwrap();
            assert_eq!(a.to_string(), b.to_string(), "{json}");
            assert_eq!(a.generator_state(), b.generator_state(), "{json}");
            assert_eq!(a.is_training(), b.is_training());
            assert_eq!(a.has_own_generator(), b.has_own_generator());
            // The forward record is not saved: b's backward is that of a fresh layer.
            let start = default_state();
            let ya = a.forward(&x).unwrap();
            set_default_state(start).unwrap();
            let yb = b.forward(&x).unwrap();
            let bits = |y: &ArrayD<f32>| y.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&ya), bits(&yb), "{json}");
        }
    }
}

#[test]
fn every_layer_round_trips_through_json() {
    // One test: the default generator is process-wide.
    check(|| Dropout::with_options(0.3, true, false).unwrap(), 2, true);
    check(
        || {
            let mut d = Dropout::new(0.4).unwrap();
            d.set_resampling(false);
            d
        },
        3,
        // The mask a non-resampling Dropout reuses is part of the forward record, which is
        // not saved: the restored layer would draw a new one. Compared before any forward.
        false,
    );
    check(
        || GaussianDropout::new(0.2).unwrap().with_stored_noise(true),
        2,
        true,
    );
    check(|| GaussianNoise::new(0.5).unwrap(), 2, true);
    check(
        || SpatialDropout1D::new(0.5).unwrap().with_scale(true),
        3,
        true,
    );
    check(
        || SpatialDropout2D::with_format(0.5, "NHWC").unwrap(),
        4,
        true,
    );
    check(
        || SpatialDropout3D::new(0.25).unwrap().with_scale(true),
        5,
        true,
    );
    check(|| AlphaDropout::new(0.2).unwrap(), 2, true);
    check(
        || {
            Dropout::new(0.3)
                .unwrap()
                .with_noise_shape(&[None, Some(1), None])
                .unwrap()
        },
        3,
        true,
    );
    check(
        || FeatureAlphaDropout::with_format(0.3, "channels_last").unwrap(),
        4,
        true,
    );
}

#[test]
fn invalid_values_are_errors_not_layers() {
    let bad = r#"{"init_p":1.5,"inplace":false,"scale":true,"training":true,"generator":null}"#;
    let err = serde_json::from_str::<Dropout>(bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("init_p") && err.contains("1.5"), "{err}");
    let bad = r#"{"init_p":0.5,"data_format":"NCWH","training":true,"generator":null}"#;
    let err = serde_json::from_str::<SpatialDropout2D>(bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("NCWH"), "{err}");
    let bad = r#"{"stddev":1.0,"training":true,
        "generator":{"generator":"bigdl","seed":1,"words":1,"pending_pair":5}}"#;
    assert!(serde_json::from_str::<GaussianNoise>(bad).is_err());
    let bad = r#"{"init_p":0.5,"scale":true,"noise_shape":[2,0],"training":true,"generator":null}"#;
    let err = serde_json::from_str::<Dropout>(bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("noise_shape = (2, 0)"), "{err}");
    let bad = r#"{"p":-0.5,"training":true,"generator":null}"#;
    let err = serde_json::from_str::<AlphaDropout>(bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("p = -0.5"), "{err}");
}

#[test]
fn display_shows_every_option_the_generator_and_the_mode() {
    let mut d = Dropout::new(0.5).unwrap();
    assert_eq!(
        d.to_string(),
        "Dropout(init_p=0.5, inplace=False, scale=True, noise_shape=None, seed=None, training=True)"
    );
    d.set_seed(7, GeneratorKind::Philox).evaluate();
    assert_eq!(
        d.to_string(),
        "Dropout(init_p=0.5, inplace=False, scale=True, noise_shape=None, seed=7, \
         generator='philox', training=False)"
    );
    let d = Dropout::new(0.5)
        .unwrap()
        .with_noise_shape(&[None, Some(3), Some(1)])
        .unwrap();
    assert!(d.to_string().contains("noise_shape=(None, 3, 1)"), "{d}");
    let d = Dropout::new(0.5)
        .unwrap()
        .with_noise_shape(&[Some(4)])
        .unwrap();
    assert!(d.to_string().contains("noise_shape=(4,)"), "{d}");
    let mut f = FeatureAlphaDropout::with_format(0.25, "channels_last").unwrap();
    f.set_seed(3, GeneratorKind::BigDl);
    assert_eq!(
        f.to_string(),
        "FeatureAlphaDropout(p=0.25, data_format='NHWC', inplace=False, seed=3, \
         generator='bigdl', training=True)"
    );
    assert_eq!(
        AlphaDropout::new(0.5).unwrap().to_string(),
        "AlphaDropout(p=0.5, inplace=False, seed=None, training=True)"
    );
    let mut s = SpatialDropout2D::with_format(0.25, "nhwc").unwrap();
    s.set_inplace(true);
    assert_eq!(
        s.to_string(),
        "SpatialDropout2D(init_p=0.25, data_format='NHWC', scale=False, inplace=True, \
         seed=None, training=True)"
    );
}

#[test]
fn the_inplace_option_survives_a_round_trip() {
    let mut layer = GaussianNoise::new(0.5).unwrap();
    layer.set_inplace(true);
    let json = serde_json::to_string(&layer).unwrap();
    let back: GaussianNoise = serde_json::from_str(&json).unwrap();
    assert!(back.is_inplace(), "{json}");
    assert_eq!(back.to_string(), layer.to_string());
}
