//! The six layers of BigDL's dropout family, and the alpha dropout layers of SELU networks.

// `LayerImpl` (which seals `Module`) is nominally public but unnameable outside the crate, so
// the crate-private types in its methods (`Saved`, `MaskMap`, the backend) are no public
// interface.
#![allow(private_interfaces)]

mod alpha_dropout;
mod common;
mod dropout;
mod gaussian_dropout;
mod gaussian_noise;
#[cfg(feature = "serde")]
mod serde_impl;
mod spatial_dropout;

pub use alpha_dropout::{AlphaDropout, FeatureAlphaDropout};
pub(crate) use common::LayerImpl;
pub use common::{LayerOptions, OptionValue};
pub use dropout::Dropout;
pub use gaussian_dropout::GaussianDropout;
pub use gaussian_noise::GaussianNoise;
pub use spatial_dropout::{DataFormat, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D};
