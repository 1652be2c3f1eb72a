//! The element types the layers run on: `f32` and `f64` (BigDL's Float and Double), and the
//! half-precision `half::f16` (IEEE binary16) and `half::bf16` (bfloat16).
//!
//! A half-precision layer computes in `f32` and rounds once: its output is bit for bit the
//! `f32` layer's output on the same values widened to `f32`, rounded to nearest (ties to
//! even) to the half type. Its constants (`T(1 - p)`, the evaluation factor, the noise's mean
//! and standard deviation) are `f32` values, and its masks and noise are the `f32` layer's.

use std::fmt::{Debug, Display};

use half::{bf16, f16};

mod sealed {
    /// Sealing also requires the (crate-private) CPU kernel table, so every element type
    /// has one.
    #[allow(private_bounds)]
    pub trait Sealed: crate::kernels::KernelTable {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for half::f16 {}
    impl Sealed for half::bf16 {}
}

/// A floating-point element type. Sealed: implemented for `f32`, `f64`, `half::f16` and
/// `half::bf16` only.
pub trait Element:
    num_traits::Float + Debug + Display + Default + Send + Sync + 'static + sealed::Sealed
{
    /// The type's name as numpy spells it (`"float32"`, `"float64"`, `"float16"`,
    /// `"bfloat16"`).
    const NAME: &'static str;

    /// The type a layer computes in: the type itself for `f32` and `f64`, `f32` for the
    /// half-precision types. Every constant of a layer (`T(1 - p)`, an evaluation factor, a
    /// noise's mean and standard deviation) is a value of this type.
    type Compute: Element;

    /// Rounds an `f64` to this type (BigDL's `ev.fromType[Double]`).
    fn from_f64(v: f64) -> Self;

    /// Converts an `f32`: exactly for `f32` and `f64`, rounded to nearest (ties to even) for
    /// the half-precision types.
    fn from_f32(v: f32) -> Self;

    /// This value in the compute type: exact (a signalling NaN comes back quiet).
    fn widen(self) -> Self::Compute;

    /// A compute-type value rounded to this type, to nearest with ties to even (exact for
    /// `f32` and `f64`, whose compute type is themselves). NaN stays NaN.
    fn narrow(v: Self::Compute) -> Self;
}

impl Element for f32 {
    const NAME: &'static str = "float32";
    type Compute = f32;

    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }

    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v
    }

    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }

    #[inline(always)]
    fn narrow(v: f32) -> Self {
        v
    }
}

impl Element for f64 {
    const NAME: &'static str = "float64";
    type Compute = f64;

    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }

    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f64::from(v)
    }

    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }

    #[inline(always)]
    fn narrow(v: f64) -> Self {
        v
    }
}

impl Element for f16 {
    const NAME: &'static str = "float16";
    type Compute = f32;

    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }

    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }

    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }

    #[inline(always)]
    fn narrow(v: f32) -> Self {
        f16::from_f32(v)
    }
}

impl Element for bf16 {
    const NAME: &'static str = "bfloat16";
    type Compute = f32;

    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        bf16::from_f64(v)
    }

    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }

    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }

    #[inline(always)]
    fn narrow(v: f32) -> Self {
        bf16::from_f32(v)
    }
}
