//! Value stability (rand_distr's `tests/value_stability.rs` idea): exact outputs for fixed
//! seeds, so that any change to the random mapping (counter layout, word order, threshold,
//! uniform or normal conversion, BigDL's stream order) fails here, on purpose.
//!
//! The pinned numbers were produced by the library once and then checked independently:
//! Philox words, keep masks and MT19937 words/normals against a separate pure-Python
//! implementation of Philox4x32-10, MT19937 and BigDL's Box-Muller (identical bits); the
//! Philox normals against the documented formula in f64 (within 1e-7); the BigDL Spatial
//! masks for seed 100 against BigDL's own output in its documentation.
//!
//! If a change here is intended, it breaks reproducibility with every earlier release:
//! say so in the changelog, then re-pin.

mod common;

use common::Float;
use dropkit::rng::{self, normal, BigDlStream, Mt19937};
use dropkit::{
    AlphaDropout, Dropout, FeatureAlphaDropout, GaussianDropout, GaussianNoise, GeneratorKind,
    Module, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};
use ndarray::{Array, Array2, IxDyn};

/// Bit `i` set iff element `i` (row-major) is nonzero.
fn mask_bits<T: Float>(v: impl Iterator<Item = T>) -> u64 {
    v.enumerate()
        .fold(0, |m, (i, x)| m | (u64::from(x != T::zero()) << i))
}

#[test]
fn philox_known_answer_vectors() {
    // Random123's kat_vectors for philox4x32-10 (tests/data/philox4x32_10_kat.txt).
    let text = include_str!("data/philox4x32_10_kat.txt");
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<u32> = line
            .split_whitespace()
            .skip(2)
            .map(|h| u32::from_str_radix(h, 16).unwrap())
            .collect();
        let out = rng::philox4x32_10([f[0], f[1], f[2], f[3]], [f[4], f[5]]);
        assert_eq!(out, [f[6], f[7], f[8], f[9]], "{line}");
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn philox_words_blocks_and_thresholds() {
    // word(seed, draw, index) = word index % 4 of philox((lo, hi of index / 4, lo, hi of draw),
    // (lo, hi of seed)).
    assert_eq!(rng::word(0, 0, 0), 0x6627_e8d5); // = the all-zero KAT vector's o0
    assert_eq!(rng::word(42, 0, 5), 0x53ba_6cfd);
    assert_eq!(rng::word(0x0123_4567_89ab_cdef, 7, 22), 0xcd64_2c43);
    // Element index past 2^34: block 2^32 + 1 (the high counter word is used).
    assert_eq!(rng::word(u64::MAX, u64::MAX, (1 << 34) + 5), 0x8b8c_89b5);
    // Draw index past 2^32 (the high draw word is used).
    assert_eq!(rng::word(1, 1 << 32, 3), 0x0a39_3496);
    assert_eq!(
        rng::block(42, 3, 9),
        [0x80a4_0137, 0x30b4_e65e, 0xed9c_fb7e, 0x1e93_91ff]
    );
    assert_eq!(
        rng::key_of_seed(0x0123_4567_89ab_cdef),
        [0x89ab_cdef, 0x0123_4567]
    );
    assert_eq!(rng::counter_of((5 << 32) | 9, (7 << 32) | 3), [9, 5, 3, 7]);
    // round(p * 2^32).
    assert_eq!(rng::keep_threshold(0.3), 1_288_490_189);
    assert_eq!(rng::keep_threshold(0.5), 2_147_483_648);
    assert_eq!(rng::keep_threshold(0.7), 3_006_477_107);
    assert_eq!(rng::keep_threshold(0.0), 0);
    assert_eq!(rng::keep_threshold(1.0), 1 << 32);
}

#[test]
fn philox_normals() {
    let cases: [((u64, u64), [u32; 4]); 3] = [
        ((0, 0), [0x3f7d_bb30, 0xbf6c_b6b3, 0xbf1e_1ba1, 0xbef6_d1a9]),
        (
            (42, 0),
            [0xbf78_5e59, 0x3e46_aceb, 0xbf9e_28cd, 0x3ff6_433e],
        ),
        (
            (42, 1),
            [0xbd95_e02d, 0x3e0e_7a15, 0xbf8d_a732, 0x3ea7_430a],
        ),
    ];
    for ((seed, b), want) in cases {
        let got = normal::normals4(rng::block(seed, 0, b));
        assert_eq!(
            got.map(f32::to_bits),
            want,
            "normals4(block({seed}, 0, {b}))"
        );
    }
    // The first one by value: 0.9911375 (the documented formula gives 0.99113747514...).
    assert_eq!(normal::normals4(rng::block(0, 0, 0))[0], 0.991_137_5);
    assert_eq!(normal::open_uniform(0x8000_0000), 0.500_000_06);
}

#[test]
fn bigdl_stream_words_and_normals() {
    // MT19937 seeded 100: numpy's RandomState(100).randint(0, 2**32) (tests/data).
    let mut s = BigDlStream::new(100);
    let words: Vec<u32> = (0..5).map(|_| s.next_u32()).collect();
    assert_eq!(
        words,
        [
            2_333_906_440,
            2_882_591_512,
            1_195_587_395,
            1_769_725_799,
            1_823_289_175
        ]
    );
    let numpy = include_str!("data/mt19937_numpy.txt")
        .lines()
        .find_map(|l| l.strip_prefix("seed 100: "))
        .unwrap();
    let first: Vec<u32> = numpy
        .split_whitespace()
        .take(5)
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(first, words);
    assert_eq!(Mt19937::new(5489).next_u32(), 3_499_211_612);
    // BigDL's cached Box-Muller, seed 100: cos then sin of each pair.
    let mut s = BigDlStream::new(100);
    let n: Vec<u64> = (0..4).map(|_| s.normal(0.0, 1.0).to_bits()).collect();
    assert_eq!(
        n,
        [
            0xbff6_fb17_a2ba_20f8, // -1.436301837589836
            0xbfd9_b5c5_10b5_f8d3, // -0.40171934730450437
            0xbfc7_6406_2fe8_06d4, // -0.18273999537637187
            0x3ff0_3a9a_f376_d526, // 1.0143079290695112
        ]
    );
    let mut s = BigDlStream::new(100);
    assert_eq!(s.uniform(), 2_333_906_440.0 / 4_294_967_296.0);
}

#[test]
fn dropout_masks_and_values() {
    let ones = Array::from_elem(64, 1.0f32);
    // (generator, mask of draw 0, mask of draw 1) for Dropout(0.5) seed 42 on 64 elements.
    let masks = [
        (
            GeneratorKind::Philox,
            0x5640_0b45_0202_7f51u64,
            0x5041_560f_8deb_2028u64,
        ),
        (
            GeneratorKind::BigDl,
            0xc633_de79_5c32_bf09,
            0x4555_828c_b3b5_6f83,
        ),
    ];
    for (gen, m0, m1) in masks {
        let mut d = Dropout::new(0.5).unwrap();
        d.set_seed(42, gen);
        assert_eq!(
            mask_bits(d.forward(&ones).unwrap().into_iter()),
            m0,
            "{gen:?}"
        );
        assert_eq!(
            mask_bits(d.forward(&ones).unwrap().into_iter()),
            m1,
            "{gen:?}"
        );
    }
    // Dropout(0.3) seed 42 on 1..8 (2 x 4), forward and backward with g = x: f32 shows
    // BigDL's two roundings, x / T(0.7) forward and g * T(1 / 0.7) backward (element 4).
    let x = Array2::from_shape_vec((2, 4), vec![1.0f32, 2., 3., 4., 5., 6., 7., 8.]).unwrap();
    let cases: [(GeneratorKind, [f32; 8], [f32; 8]); 2] = [
        (
            GeneratorKind::Philox,
            [
                1.428_571_5,
                2.857_143,
                0.0,
                5.714_286,
                7.142_857,
                8.571_428,
                10.0,
                11.428_572,
            ],
            [
                1.428_571_5,
                2.857_143,
                0.0,
                5.714_286,
                7.142_857_6,
                8.571_428,
                10.0,
                11.428_572,
            ],
        ),
        (
            GeneratorKind::BigDl,
            [1.428_571_5, 0.0, 0.0, 5.714_286, 0.0, 0.0, 10.0, 11.428_572],
            [1.428_571_5, 0.0, 0.0, 5.714_286, 0.0, 0.0, 10.0, 11.428_572],
        ),
    ];
    for (gen, y_want, g_want) in cases {
        let mut d = Dropout::new(0.3).unwrap();
        d.set_seed(42, gen);
        let y: Vec<f32> = d.forward(&x).unwrap().into_iter().collect();
        let g: Vec<f32> = d.backward(&x, &x).unwrap().into_iter().collect();
        assert_eq!(y, y_want, "{gen:?} forward");
        assert_eq!(g, g_want, "{gen:?} backward");
        // f64: the same mask, f64 arithmetic.
        let mut d = Dropout::new(0.3).unwrap();
        d.set_seed(42, gen);
        let y: Vec<f64> = d.forward(&x.mapv(f64::from)).unwrap().into_iter().collect();
        let want: Vec<f64> = y_want
            .iter()
            .zip(1..)
            .map(|(&k, i)| {
                if k == 0.0 {
                    0.0
                } else {
                    f64::from(i) / (1.0 - 0.3)
                }
            })
            .collect();
        assert_eq!(y, want, "{gen:?} f64");
        assert_eq!(
            y[1],
            if gen == GeneratorKind::Philox {
                2.857_142_857_142_857
            } else {
                0.0
            }
        );
    }
}

#[test]
fn gaussian_dropout_values() {
    // GaussianDropout(0.5) (stddev 1) seed 42 on ones (2, 3): two draws in f32, one in f64.
    let ones32 = Array::from_elem((2, 3), 1.0f32);
    let ones64 = Array::from_elem((2, 3), 1.0f64);
    /// (generator, f32 draw 0, f32 draw 1, f64 draw 0)
    type Case = (GeneratorKind, [f32; 6], [f32; 6], [f64; 6]);
    let cases: [Case; 2] = [
        (
            GeneratorKind::Philox,
            [
                0.029_810_369,
                1.194_019,
                -0.235_620_14,
                2.923_927,
                0.926_818_5,
                1.139_137_6,
            ],
            [
                3.127_691_7,
                3.161_374_6,
                0.591_728_8,
                -0.659_752_96,
                3.021_319_2,
                0.891_783_06,
            ],
            [
                0.029_810_369_014_739_99,
                1.194_019_004_702_568,
                -0.235_620_141_029_357_9,
                2.923_927_068_710_327,
                0.926_818_512_380_123_1,
                1.139_137_580_990_791_3,
            ],
        ),
        (
            GeneratorKind::BigDl,
            [
                -0.258_212_42,
                2.265_504_8,
                1.606_347_4,
                0.805_990_1,
                0.803_633_87,
                -0.728_261_77,
            ],
            [
                -0.097_131_245,
                0.216_931_05,
                1.604_964,
                1.902_549_7,
                1.255_609_5,
                1.381_220_5,
            ],
            [
                -0.258_212_429_511_761_8,
                2.265_504_849_532_21,
                1.606_347_396_949_904,
                0.805_990_109_854_482_7,
                0.803_633_857_886_422_9,
                -0.728_261_745_299_224_8,
            ],
        ),
    ];
    for (gen, first, second, double) in cases {
        let mut l = GaussianDropout::new(0.5).unwrap();
        l.set_seed(42, gen);
        let y: Vec<f32> = l.forward(&ones32).unwrap().into_iter().collect();
        assert_eq!(y, first, "{gen:?} draw 0");
        let y: Vec<f32> = l.forward(&ones32).unwrap().into_iter().collect();
        assert_eq!(y, second, "{gen:?} draw 1");
        let mut l = GaussianDropout::new(0.5).unwrap();
        l.set_seed(42, gen);
        let y: Vec<f64> = l.forward(&ones64).unwrap().into_iter().collect();
        assert_eq!(y, double, "{gen:?} f64");
    }
}

#[test]
fn gaussian_noise_values() {
    // GaussianNoise(0.2) seed 42 on ones (2, 3).
    let cases: [(GeneratorKind, [f32; 6], [f64; 6]); 2] = [
        (
            GeneratorKind::Philox,
            [
                0.805_962_1,
                1.038_803_8,
                0.752_876,
                1.384_785_4,
                0.985_363_7,
                1.027_827_5,
            ],
            [
                0.805_962_073_802_948,
                1.038_803_800_940_513_6,
                0.752_875_971_794_128_5,
                1.384_785_413_742_065_4,
                0.985_363_702_476_024_7,
                1.027_827_516_198_158_3,
            ],
        ),
        (
            GeneratorKind::BigDl,
            [
                0.748_357_53,
                1.253_101,
                1.121_269_5,
                0.961_198_03,
                0.960_726_8,
                0.654_347_66,
            ],
            [
                0.748_357_514_097_647_6,
                1.253_100_969_906_442_2,
                1.121_269_479_389_981,
                0.961_198_021_970_896_5,
                0.960_726_771_577_284_6,
                0.654_347_650_940_155,
            ],
        ),
    ];
    for (gen, single, double) in cases {
        let mut l = GaussianNoise::new(0.2).unwrap();
        l.set_seed(42, gen);
        let y: Vec<f32> = l
            .forward(&Array::from_elem((2, 3), 1.0f32))
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(y, single, "{gen:?} f32");
        let mut l = GaussianNoise::new(0.2).unwrap();
        l.set_seed(42, gen);
        let y: Vec<f64> = l
            .forward(&Array::from_elem((2, 3), 1.0f64))
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(y, double, "{gen:?} f64");
    }
}

#[test]
fn spatial_masks() {
    // SpatialDropout1D(0.7) seed 100 on (3, 4, 5): keep per (n, c). BigDL's is the seed
    // document's (RNG.setSeed(100) in BigDL itself).
    let patterns: [(GeneratorKind, [u8; 15]); 2] = [
        (
            GeneratorKind::Philox,
            [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        (
            GeneratorKind::BigDl,
            [0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0],
        ),
    ];
    for (gen, want) in patterns {
        let mut l = SpatialDropout1D::new(0.7).unwrap();
        l.set_seed(100, gen);
        let y = l.forward(&Array::from_elem((3, 4, 5), 1.0f64)).unwrap();
        for (n, c) in (0..3).flat_map(|n| (0..5).map(move |c| (n, c))) {
            for t in 0..4 {
                let kept = u8::from(y[[n, t, c]] != 0.0);
                assert_eq!(kept, want[n * 5 + c], "{gen:?} ({n}, {t}, {c})");
            }
        }
        // SpatialDropout2D(0.7) seed 100 on (2, 3, 4, 5): the same first 6 decisions.
        let mut l = SpatialDropout2D::new(0.7).unwrap();
        l.set_seed(100, gen);
        let y = l.forward(&Array::from_elem((2, 3, 4, 5), 1.0f32)).unwrap();
        for ((n, c, h, w), &v) in y.indexed_iter() {
            assert_eq!(
                u8::from(v != 0.0),
                want[n * 3 + c],
                "{gen:?} ({n}, {c}, {h}, {w})"
            );
        }
    }
    // p = 0.5 seed 42, 4 samples x 8 channels: the mask's 32 bits are the first 32 of
    // Dropout(0.5) seed 42's (same element indices n * C + c), in both formats.
    for (gen, want) in [
        (GeneratorKind::Philox, 0x0202_7f51u64),
        (GeneratorKind::BigDl, 0x5c32_bf09),
    ] {
        let mut l = SpatialDropout2D::with_format(0.5, "NHWC").unwrap();
        l.set_seed(42, gen);
        let y = l.forward(&Array::from_elem((4, 2, 2, 8), 1.0f32)).unwrap();
        let y = &y;
        let m = mask_bits((0..4).flat_map(|n| (0..8).map(move |c| y[[n, 1, 1, c]])));
        assert_eq!(m, want, "{gen:?} 2D NHWC");
        let mut l = SpatialDropout3D::new(0.5).unwrap();
        l.set_seed(42, gen);
        let y = l
            .forward(&Array::from_elem(IxDyn(&[4, 8, 1, 2, 1]), 1.0f64))
            .unwrap();
        let y = &y;
        let m = mask_bits((0..4).flat_map(|n| (0..8).map(move |c| y[[n, c, 0, 1, 0]])));
        assert_eq!(m, want, "{gen:?} 3D NCHW");
    }
}

#[test]
fn alpha_coefficients_and_masks() {
    // a, b and the dropped value a alpha' + b in f64, and rounded to f32 (checked against an
    // independent f64 evaluation of the formula in Python: the same bits).
    let cases: [(f64, [u64; 3], [u32; 3]); 2] = [
        (
            0.2,
            [
                0x3fec_1ffa_6867_4510,
                0x3fd3_c74f_8ca4_38c0,
                0xbff3_c74f_8ca4_38c0,
            ],
            [0x3f60_ffd3, 0x3e9e_3a7c, 0xbf9e_3a7c],
        ),
        (
            0.5,
            [
                0x3fec_5d6d_cc33_5815,
                0x3fe8_ef28_1c1a_21ee,
                0xbfe8_ef28_1c1a_21ee,
            ],
            [0x3f62_eb6e, 0x3f47_7941, 0xbf47_7941],
        ),
    ];
    for (p, want64, want32) in cases {
        let (a, b, d) = AlphaDropout::coefficients(p).unwrap();
        assert_eq!([a.to_bits(), b.to_bits(), d.to_bits()], want64, "p = {p}");
        let got32 = [a as f32, b as f32, d as f32].map(f32::to_bits);
        assert_eq!(got32, want32, "p = {p}");
        // The layer's outputs: kept ones = f32(a) * 1 + f32(b), dropped = f32(d).
        let mut l = AlphaDropout::new(p).unwrap();
        l.set_seed(42, GeneratorKind::Philox);
        let y = l.forward(&Array::from_elem(64, 1.0f32)).unwrap();
        let kept = f32::from_bits(want32[0]) + f32::from_bits(want32[1]);
        assert!(y.iter().all(|&v| v == kept || v.to_bits() == want32[2]));
    }
    // p = 0.5 seed 42: AlphaDropout's mask is Dropout(0.5)'s (its first 32 bits), and
    // FeatureAlphaDropout's (N, C) mask of 4 x 8 channels is the Spatial layers' (the same
    // bits, in both formats).
    for (gen, want) in [
        (GeneratorKind::Philox, 0x0202_7f51u64),
        (GeneratorKind::BigDl, 0x5c32_bf09),
    ] {
        let (_, _, d) = AlphaDropout::coefficients(0.5).unwrap();
        let kept = |v: f64| v != d;
        let mut l = AlphaDropout::new(0.5).unwrap();
        l.set_seed(42, gen);
        let y = l.forward(&Array::from_elem(32, 1.0f64)).unwrap();
        let m = y
            .iter()
            .enumerate()
            .fold(0u64, |m, (i, &v)| m | (u64::from(kept(v)) << i));
        assert_eq!(m, want, "{gen:?} AlphaDropout");
        for format in ["channels_first", "channels_last"] {
            let mut l = FeatureAlphaDropout::with_format(0.5, format).unwrap();
            l.set_seed(42, gen);
            let shape: &[usize] = if format == "channels_first" {
                &[4, 8, 2, 1]
            } else {
                &[4, 2, 1, 8]
            };
            let y = l.forward(&Array::from_elem(IxDyn(shape), 1.0f64)).unwrap();
            let mut m = 0u64;
            for (idx, &v) in y.indexed_iter() {
                let c = if format == "channels_first" {
                    idx[1]
                } else {
                    idx[3]
                };
                let bit = u64::from(kept(v)) << (idx[0] * 8 + c);
                m |= bit;
            }
            assert_eq!(m, want, "{gen:?} FeatureAlphaDropout {format}");
        }
    }
}
