//! The element types the layers compute in: `f32` and `f64` (BigDL's Float and Double).

use std::fmt::{Debug, Display};

mod sealed {
    /// Sealing also requires the (crate-private) CPU kernel table, so every element type
    /// has one.
    #[allow(private_bounds)]
    pub trait Sealed: crate::kernels::KernelTable {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point element type. Sealed: implemented for `f32` and `f64` only.
pub trait Element:
    num_traits::Float + Debug + Display + Default + Send + Sync + 'static + sealed::Sealed
{
    /// The type's name as numpy spells it (`"float32"`, `"float64"`).
    const NAME: &'static str;

    /// Rounds an `f64` to this type (BigDL's `ev.fromType[Double]`).
    fn from_f64(v: f64) -> Self;

    /// Widens an `f32` exactly.
    fn from_f32(v: f32) -> Self;
}

impl Element for f32 {
    const NAME: &'static str = "float32";

    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }

    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl Element for f64 {
    const NAME: &'static str = "float64";

    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }

    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f64::from(v)
    }
}
