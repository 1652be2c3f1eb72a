//! `Serialize` / `Deserialize` for every layer (the `serde` feature): its options, its mode
//! and its generator (`None`: the process default; else its own, at its position). The
//! forward record (what a backward would differentiate) is not saved: a deserialized layer's
//! backward is that of a layer before any forward. Deserializing goes through the layer's
//! constructors and `Generator::from_state`, so an invalid value is an error, never a layer.

use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};

use crate::layers::LayerImpl;
use crate::mask::MaskStorage;
use crate::rng::RngSource;
use crate::{
    AlphaDropout, Dropout, FeatureAlphaDropout, GaussianDropout, GaussianNoise, Generator,
    GeneratorState, Module, Result, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};

/// What a layer serializes as: its options `C`, flattened, then the mode and the generator.
#[derive(Serialize, Deserialize)]
struct Stored<C> {
    #[serde(flatten)]
    options: C,
    /// The `inplace` option (every layer has it).
    #[serde(default)]
    inplace: bool,
    training: bool,
    generator: Option<GeneratorState>,
}

impl<C> Stored<C> {
    fn of<L: LayerImpl>(layer: &L, options: C) -> Self {
        let core = layer.core();
        Stored {
            options,
            inplace: core.inplace,
            training: core.train,
            generator: match &core.rng {
                RngSource::Default => None,
                RngSource::Own(g) => Some(g.state()),
            },
        }
    }

    /// Gives `layer` the saved mode and generator (a BigDL one by jump-ahead, checked).
    fn restore<L: Module>(self, mut layer: L) -> Result<L> {
        layer.set_inplace(self.inplace);
        if let Some(state) = self.generator {
            layer.set_generator(Generator::from_state(state)?);
        }
        if !self.training {
            layer.evaluate();
        }
        Ok(layer)
    }
}

#[derive(Serialize, Deserialize)]
struct DropoutOptions {
    init_p: f64,
    scale: bool,
    #[serde(default = "yes")]
    resampling: bool,
    #[serde(default = "yes")]
    store_mask: bool,
    #[serde(default)]
    noise_shape: Option<Vec<Option<usize>>>,
}

fn yes() -> bool {
    true
}

#[derive(Serialize, Deserialize)]
struct GaussianDropoutOptions {
    rate: f64,
    #[serde(default)]
    store_noise: bool,
    #[serde(default)]
    noise_shape: Option<Vec<Option<usize>>>,
}

#[derive(Serialize, Deserialize)]
struct GaussianNoiseOptions {
    stddev: f64,
    #[serde(default)]
    noise_shape: Option<Vec<Option<usize>>>,
}

/// `layer` with `noise_shape` where one was saved.
fn with_noise_shape<L>(
    layer: L,
    noise_shape: &Option<Vec<Option<usize>>>,
    add: impl FnOnce(L, &[Option<usize>]) -> Result<L>,
) -> Result<L> {
    match noise_shape {
        Some(shape) => add(layer, shape),
        None => Ok(layer),
    }
}

#[derive(Serialize, Deserialize)]
struct SpatialOptions {
    init_p: f64,
    data_format: String,
    #[serde(default)]
    scale: bool,
}

#[derive(Serialize, Deserialize)]
struct AlphaOptions {
    p: f64,
}

#[derive(Serialize, Deserialize)]
struct FeatureAlphaOptions {
    p: f64,
    data_format: String,
}

/// `Serialize` through `Stored::of(layer, $save)` and `Deserialize` through `$build`.
macro_rules! serde_layer {
    ($layer:ty, $options:ty, |$l:ident| $save:expr, |$o:ident| $build:expr) => {
        impl Serialize for $layer {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let $l = self;
                Stored::of(self, $save).serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $layer {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                fn build($o: &$options) -> Result<$layer> {
                    $build
                }
                let stored = Stored::<$options>::deserialize(d)?;
                build(&stored.options)
                    .and_then(|layer| stored.restore(layer))
                    .map_err(D::Error::custom)
            }
        }
    };
}

serde_layer!(
    Dropout,
    DropoutOptions,
    |l| DropoutOptions {
        init_p: l.p(),
        scale: l.scale(),
        resampling: l.is_resampling(),
        store_mask: l.mask_storage() == MaskStorage::Bits,
        noise_shape: l.noise_shape().map(<[_]>::to_vec),
    },
    |o| {
        let storage = if o.store_mask {
            MaskStorage::Bits
        } else {
            MaskStorage::Regenerate
        };
        let layer = Dropout::with_options(o.init_p, false, o.scale)?.with_mask_storage(storage);
        let mut layer = with_noise_shape(layer, &o.noise_shape, Dropout::with_noise_shape)?;
        layer.set_resampling(o.resampling);
        Ok(layer)
    }
);

serde_layer!(
    GaussianDropout,
    GaussianDropoutOptions,
    |l| GaussianDropoutOptions {
        rate: l.rate(),
        store_noise: l.stores_noise(),
        noise_shape: l.noise_shape().map(<[_]>::to_vec),
    },
    |o| with_noise_shape(
        GaussianDropout::new(o.rate)?.with_stored_noise(o.store_noise),
        &o.noise_shape,
        GaussianDropout::with_noise_shape
    )
);

serde_layer!(
    GaussianNoise,
    GaussianNoiseOptions,
    |l| GaussianNoiseOptions {
        stddev: l.stddev(),
        noise_shape: l.noise_shape().map(<[_]>::to_vec),
    },
    |o| with_noise_shape(
        GaussianNoise::new(o.stddev)?,
        &o.noise_shape,
        GaussianNoise::with_noise_shape
    )
);

serde_layer!(
    SpatialDropout1D,
    SpatialOptions,
    |l| SpatialOptions {
        init_p: l.p(),
        data_format: l.format().name().to_string(),
        scale: l.scale(),
    },
    |o| Ok(SpatialDropout1D::with_format(o.init_p, &o.data_format)?.with_scale(o.scale))
);

serde_layer!(
    SpatialDropout2D,
    SpatialOptions,
    |l| SpatialOptions {
        init_p: l.p(),
        data_format: l.format().name().to_string(),
        scale: l.scale(),
    },
    |o| Ok(SpatialDropout2D::with_format(o.init_p, &o.data_format)?.with_scale(o.scale))
);

serde_layer!(
    SpatialDropout3D,
    SpatialOptions,
    |l| SpatialOptions {
        init_p: l.p(),
        data_format: l.format().name().to_string(),
        scale: l.scale(),
    },
    |o| Ok(SpatialDropout3D::with_format(o.init_p, &o.data_format)?.with_scale(o.scale))
);

serde_layer!(
    AlphaDropout,
    AlphaOptions,
    |l| AlphaOptions { p: l.p() },
    |o| AlphaDropout::new(o.p)
);

serde_layer!(
    FeatureAlphaDropout,
    FeatureAlphaOptions,
    |l| FeatureAlphaOptions {
        p: l.p(),
        data_format: l.format().name().to_string(),
    },
    |o| FeatureAlphaDropout::with_format(o.p, &o.data_format)
);
