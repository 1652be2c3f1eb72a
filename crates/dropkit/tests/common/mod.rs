//! Helpers shared by the integration tests: one enum over the eight layers (the `Module`
//! trait has generic methods, so it is not object safe), deterministic test data, and
//! bit-exact comparison.
//!
//! Each test file compiles this module separately and uses part of it.
#![allow(dead_code)]

use dropkit::{
    AlphaDropout, DataFormat, Dropout, Element, FeatureAlphaDropout, FlatIo, GaussianDropout,
    GaussianNoise, GeneratorKind, GeneratorState, MaskStorage, Module, Result, SpatialDropout1D,
    SpatialDropout2D, SpatialDropout3D,
};
use ndarray::{Array, ArrayBase, ArrayD, ArrayViewMut, Data, Dimension, IxDyn};

/// Both generators.
pub const GENERATORS: [GeneratorKind; 2] = [GeneratorKind::Philox, GeneratorKind::BigDl];

/// `f32` and `f64` with their bit patterns (widened to `u64`), to compare results exactly,
/// NaN payloads and signed zeros included.
pub trait Float: Element {
    /// The IEEE-754 bits.
    fn bits(self) -> u64;
}

impl Float for f32 {
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Float for f64 {
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

/// The bits of every element, in logical (row-major) order.
pub fn bits_of<T: Float, S: Data<Elem = T>, D: Dimension>(a: &ArrayBase<S, D>) -> Vec<u64> {
    a.iter().map(|v| v.bits()).collect()
}

/// Asserts same shape and bit-identical elements (in logical order).
pub fn assert_same_bits<T: Float, S1, S2, D>(a: &ArrayBase<S1, D>, b: &ArrayBase<S2, D>, what: &str)
where
    S1: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
{
    assert_eq!(a.shape(), b.shape(), "{what}: shapes differ");
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        assert!(
            x.bits() == y.bits(),
            "{what}: element {i} (row-major) differs: {x:?} vs {y:?}"
        );
    }
}

/// SplitMix64: a fixed hash for test data (not under test).
pub fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Deterministic data of `shape` in `[-4, 4)`, with full mantissas (so that rounding
/// differences between formulas show), different for each `salt`.
pub fn data<T: Element>(shape: &[usize], salt: u64) -> ArrayD<T> {
    let mut i = 0u64;
    Array::from_shape_simple_fn(IxDyn(shape), || {
        let h = splitmix(i ^ salt.wrapping_mul(0x1000_0000_01B3));
        i += 1;
        T::from_f64((h >> 11) as f64 * (8.0 / 9_007_199_254_740_992.0) - 4.0)
    })
}

/// Every layer configuration the tests run through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Dropout(p)` (scale = true).
    Dropout,
    /// `Dropout(p, inplace = false, scale = false)`.
    DropoutNoScale,
    /// `Dropout(p)` storing no mask (`MaskStorage::Regenerate`).
    DropoutRegenerate,
    /// `GaussianDropout(p)` (p used as the rate).
    GaussianDropout,
    /// `GaussianNoise(p)` (p used as the stddev).
    GaussianNoise,
    /// `SpatialDropout1D(p)`.
    Spatial1D,
    /// `SpatialDropout2D(p, NCHW)`.
    Spatial2DNchw,
    /// `SpatialDropout2D(p, NHWC)`.
    Spatial2DNhwc,
    /// `SpatialDropout2D(p, NCHW).with_scale(true)`.
    Spatial2DScaled,
    /// `SpatialDropout3D(p, NCHW)`.
    Spatial3DNchw,
    /// `SpatialDropout3D(p, NHWC)`.
    Spatial3DNhwc,
    /// `AlphaDropout(p)`.
    Alpha,
    /// `FeatureAlphaDropout(p, channels_first)`, on 4-D inputs in these tests.
    FeatureAlphaNchw,
    /// `FeatureAlphaDropout(p, channels_last)`, on 4-D inputs in these tests.
    FeatureAlphaNhwc,
}

/// All configurations.
pub const ALL_KINDS: [Kind; 14] = [
    Kind::Dropout,
    Kind::DropoutNoScale,
    Kind::DropoutRegenerate,
    Kind::GaussianDropout,
    Kind::GaussianNoise,
    Kind::Spatial1D,
    Kind::Spatial2DNchw,
    Kind::Spatial2DNhwc,
    Kind::Spatial2DScaled,
    Kind::Spatial3DNchw,
    Kind::Spatial3DNhwc,
    Kind::Alpha,
    Kind::FeatureAlphaNchw,
    Kind::FeatureAlphaNhwc,
];

impl Kind {
    /// The layer with parameter `p` (drop probability, rate or stddev).
    pub fn make(self, p: f64) -> Layer {
        match self {
            Kind::Dropout => Layer::Dropout(Dropout::new(p).unwrap()),
            Kind::DropoutNoScale => Layer::Dropout(Dropout::with_options(p, false, false).unwrap()),
            Kind::DropoutRegenerate => Layer::Dropout(
                Dropout::new(p)
                    .unwrap()
                    .with_mask_storage(MaskStorage::Regenerate),
            ),
            Kind::GaussianDropout => Layer::GaussianDropout(GaussianDropout::new(p).unwrap()),
            Kind::GaussianNoise => Layer::GaussianNoise(GaussianNoise::new(p).unwrap()),
            Kind::Spatial1D => Layer::Spatial1D(SpatialDropout1D::new(p).unwrap()),
            Kind::Spatial2DNchw => Layer::Spatial2D(SpatialDropout2D::new(p).unwrap()),
            Kind::Spatial2DNhwc => {
                Layer::Spatial2D(SpatialDropout2D::with_data_format(p, DataFormat::Nhwc).unwrap())
            }
            Kind::Spatial2DScaled => {
                Layer::Spatial2D(SpatialDropout2D::new(p).unwrap().with_scale(true))
            }
            Kind::Spatial3DNchw => Layer::Spatial3D(SpatialDropout3D::new(p).unwrap()),
            Kind::Spatial3DNhwc => {
                Layer::Spatial3D(SpatialDropout3D::with_data_format(p, DataFormat::Nhwc).unwrap())
            }
            Kind::Alpha => Layer::Alpha(AlphaDropout::new(p).unwrap()),
            Kind::FeatureAlphaNchw => Layer::FeatureAlpha(FeatureAlphaDropout::new(p).unwrap()),
            Kind::FeatureAlphaNhwc => Layer::FeatureAlpha(
                FeatureAlphaDropout::with_data_format(p, DataFormat::Nhwc).unwrap(),
            ),
        }
    }

    /// The layer with parameter `p`, seeded with its own generator.
    pub fn seeded(self, p: f64, seed: u64, gen: GeneratorKind) -> Layer {
        let mut l = self.make(p);
        l.set_seed(seed, gen);
        l
    }

    /// Whether the layer is one of the Spatial ones.
    pub fn is_spatial(self) -> bool {
        !matches!(
            self,
            Kind::Dropout
                | Kind::DropoutNoScale
                | Kind::DropoutRegenerate
                | Kind::GaussianDropout
                | Kind::GaussianNoise
                | Kind::Alpha
        )
    }

    /// Whether the layer is FeatureAlphaDropout (a per-channel mask on inputs of any rank from
    /// 2, always batched: a rank-3 input is `(N, C, L)`, not an unbatched 2-D map).
    pub fn is_feature_alpha(self) -> bool {
        matches!(self, Kind::FeatureAlphaNchw | Kind::FeatureAlphaNhwc)
    }

    /// Whether the layer is one of the alpha dropout layers (dropped elements are not 0).
    pub fn is_alpha(self) -> bool {
        matches!(
            self,
            Kind::Alpha | Kind::FeatureAlphaNchw | Kind::FeatureAlphaNhwc
        )
    }

    /// Spatial dimensions of a feature map (0 for element-wise layers).
    pub fn spatial_dims(self) -> usize {
        match self {
            Kind::Spatial1D => 1,
            Kind::Spatial2DNchw
            | Kind::Spatial2DNhwc
            | Kind::Spatial2DScaled
            | Kind::FeatureAlphaNchw
            | Kind::FeatureAlphaNhwc => 2,
            Kind::Spatial3DNchw | Kind::Spatial3DNhwc => 3,
            _ => 0,
        }
    }

    /// Whether the channel axis is the last one.
    pub fn channels_last(self) -> bool {
        matches!(
            self,
            Kind::Spatial1D | Kind::Spatial2DNhwc | Kind::Spatial3DNhwc | Kind::FeatureAlphaNhwc
        )
    }

    /// A batched input shape with `n` samples, `c` channels and maps of `map` (whose length
    /// must be [`Kind::spatial_dims`]). Element-wise layers get `[n, c, map...]`.
    pub fn shape(self, n: usize, c: usize, map: &[usize]) -> Vec<usize> {
        assert!(!self.is_spatial() || map.len() == self.spatial_dims());
        let mut s = vec![n];
        if self.channels_last() {
            s.extend_from_slice(map);
            s.push(c);
        } else {
            s.push(c);
            s.extend_from_slice(map);
        }
        s
    }

    /// A map of `elems` elements spread over this kind's spatial dims (first dim takes it).
    pub fn map(self, elems: usize) -> Vec<usize> {
        let d = self.spatial_dims().max(1);
        let mut m = vec![1; d];
        m[0] = elems;
        m
    }

    /// A small batched shape with every dimension > 1 and odd sizes, for layout tests.
    pub fn small_shape(self) -> Vec<usize> {
        match self.spatial_dims() {
            0 => vec![5, 7, 3],
            1 => self.shape(3, 5, &[7]),
            2 => self.shape(3, 5, &[2, 3]),
            _ => self.shape(3, 5, &[2, 3, 2]),
        }
    }

    /// Shapes whose mask (or element count) has 1, 3, 5, 63, 65, 1023 and about 2^20
    /// elements, plus one with large feature maps for Spatial layers.
    pub fn sized_shapes(self) -> Vec<Vec<usize>> {
        const BIG: usize = (1 << 20) + 3;
        if !self.is_spatial() {
            let mut v: Vec<Vec<usize>> = [1, 3, 5, 63, 65, 1023, BIG]
                .iter()
                .map(|&n| vec![n])
                .collect();
            v.push(vec![7, 9]);
            return v;
        }
        // (n, c) pairs with n * c in {1, 3, 5, 63, 65, 1023, 1021 * 1027}.
        let pairs = [
            (1, 1),
            (1, 3),
            (5, 1),
            (7, 9),
            (13, 5),
            (31, 33),
            (1021, 1027),
        ];
        let mut v: Vec<Vec<usize>> = pairs
            .iter()
            .map(|&(n, c)| self.shape(n, c, &self.map(if n * c < 100 { 3 } else { 1 })))
            .collect();
        // Large feature maps: 2 * 3 maps of 174763 elements (about 2^20 in all).
        v.push(self.shape(2, 3, &self.map(174_763)));
        v
    }
}

/// One of the eight layers.
#[derive(Clone, Debug)]
pub enum Layer {
    /// AlphaDropout.
    Alpha(AlphaDropout),
    /// FeatureAlphaDropout.
    FeatureAlpha(FeatureAlphaDropout),
    /// Dropout.
    Dropout(Dropout),
    /// GaussianDropout.
    GaussianDropout(GaussianDropout),
    /// GaussianNoise.
    GaussianNoise(GaussianNoise),
    /// SpatialDropout1D.
    Spatial1D(SpatialDropout1D),
    /// SpatialDropout2D.
    Spatial2D(SpatialDropout2D),
    /// SpatialDropout3D.
    Spatial3D(SpatialDropout3D),
}

macro_rules! each {
    ($self:expr, $l:ident => $body:expr) => {
        match $self {
            Layer::Alpha($l) => $body,
            Layer::FeatureAlpha($l) => $body,
            Layer::Dropout($l) => $body,
            Layer::GaussianDropout($l) => $body,
            Layer::GaussianNoise($l) => $body,
            Layer::Spatial1D($l) => $body,
            Layer::Spatial2D($l) => $body,
            Layer::Spatial3D($l) => $body,
        }
    };
}

impl Layer {
    /// `Module::name`.
    pub fn name(&self) -> &'static str {
        each!(self, l => l.name())
    }

    /// `Module::forward`.
    pub fn forward<T: Element, S: Data<Elem = T>, D: Dimension>(
        &mut self,
        x: &ArrayBase<S, D>,
    ) -> Result<Array<T, D>> {
        each!(self, l => l.forward(x))
    }

    /// `Module::backward`.
    pub fn backward<T: Element, S1: Data<Elem = T>, S2: Data<Elem = T>, D: Dimension>(
        &mut self,
        x: &ArrayBase<S1, D>,
        g: &ArrayBase<S2, D>,
    ) -> Result<Array<T, D>> {
        each!(self, l => l.backward(x, g))
    }

    /// `Module::forward_flat`.
    pub fn forward_flat<T: Element>(&mut self, shape: &[usize], io: FlatIo<'_, T>) -> Result<()> {
        each!(self, l => l.forward_flat(shape, io))
    }

    /// `Module::backward_flat`.
    pub fn backward_flat<T: Element>(
        &mut self,
        input_shape: &[usize],
        shape: &[usize],
        io: FlatIo<'_, T>,
    ) -> Result<()> {
        each!(self, l => l.backward_flat(input_shape, shape, io))
    }

    /// `Module::forward_into`.
    pub fn forward_into<T: Element, S: Data<Elem = T>, D: Dimension>(
        &mut self,
        x: &ArrayBase<S, D>,
        out: ArrayViewMut<'_, T, D>,
    ) -> Result<()> {
        each!(self, l => l.forward_into(x, out))
    }

    /// `Module::forward_inplace`.
    pub fn forward_inplace<T: Element, D: Dimension>(
        &mut self,
        x: ArrayViewMut<'_, T, D>,
    ) -> Result<()> {
        each!(self, l => l.forward_inplace(x))
    }

    /// `Module::backward_into`.
    pub fn backward_into<T: Element, S1: Data<Elem = T>, S2: Data<Elem = T>, D: Dimension>(
        &mut self,
        x: &ArrayBase<S1, D>,
        g: &ArrayBase<S2, D>,
        out: ArrayViewMut<'_, T, D>,
    ) -> Result<()> {
        each!(self, l => l.backward_into(x, g, out))
    }

    /// `Module::backward_inplace`.
    pub fn backward_inplace<T: Element, S: Data<Elem = T>, D: Dimension>(
        &mut self,
        x: &ArrayBase<S, D>,
        g: ArrayViewMut<'_, T, D>,
    ) -> Result<()> {
        each!(self, l => l.backward_inplace(x, g))
    }

    /// `Module::training`.
    pub fn training(&mut self) -> &mut Self {
        each!(&mut *self, l => { l.training(); });
        self
    }

    /// `Module::evaluate`.
    pub fn evaluate(&mut self) -> &mut Self {
        each!(&mut *self, l => { l.evaluate(); });
        self
    }

    /// `Module::is_training`.
    pub fn is_training(&self) -> bool {
        each!(self, l => l.is_training())
    }

    /// `Module::set_seed`.
    pub fn set_seed(&mut self, seed: u64, gen: GeneratorKind) -> &mut Self {
        each!(&mut *self, l => { l.set_seed(seed, gen); });
        self
    }

    /// `Module::use_default_generator`.
    pub fn use_default_generator(&mut self) -> &mut Self {
        each!(&mut *self, l => { l.use_default_generator(); });
        self
    }

    /// `Module::generator_state`.
    pub fn generator_state(&self) -> GeneratorState {
        each!(self, l => l.generator_state())
    }

    /// `Module::set_generator_state`.
    pub fn set_generator_state(&mut self, s: GeneratorState) -> &mut Self {
        each!(&mut *self, l => { l.set_generator_state(s).unwrap(); });
        self
    }

    /// `Module::saved_bytes`.
    pub fn saved_bytes(&self) -> usize {
        each!(self, l => l.saved_bytes())
    }
}
