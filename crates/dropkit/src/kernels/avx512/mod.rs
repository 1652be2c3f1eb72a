//! AVX-512 kernels (x86-64: AVX-512F, with BMI2 for `pdep`): Philox4x32-10 on 16 blocks per
//! vector (64 elements), keep decisions compared straight into mask registers and applied
//! with zero-masking in registers, and Box-Muller with the operation sequence of
//! [`crate::rng::normal`] so every output bit equals the scalar reference.
//!
//! Against the AVX2 kernels, besides the doubled width:
//! - Philox: the high and low halves of the products are gathered with one masked shuffle
//!   each, the three-way XORs are one `vpternlogd`, and round 0's second product (of the draw
//!   word, the same in every lane) is a scalar.
//! - Box-Muller: `ln` takes the exponent and mantissa with `vgetexpps` / `vgetmantps`; the
//!   angle's quadrant and remainder come from one add of `2^29` to the word (the quadrant in
//!   its top two bits, the remainder converted and centred with one exact FMA); the quadrant's
//!   swap is a mask-register blend and its signs are one `vpternlogd` each; the 4 x 16 -> 16
//!   x 4 transpose to element order is 8 two-source permutes per 64 elements.
//! - Non-temporal stores write whole 64-byte lines at any 4-byte alignment of the output
//!   ([`store::Stores`]).
//! - The half types (`f16`, `bf16`) run the `f32` bodies' operations between a load that
//!   widens 16 elements in a register and a rounding to nearest even before the store
//!   (`element::Half16`).
//!
//! Every kernel here is `unsafe` and requires the CPU features it is compiled for; the
//! dispatcher in [`super`] checks them once ([`super::Path::Avx512`]).

mod element;
mod kernels;
mod normal;
mod philox;
#[cfg(test)]
pub(crate) mod probe;
mod store;

pub(crate) use element::Avx512Element;
#[cfg(test)]
pub(crate) use element::Half16;
pub(crate) use kernels::{apply_bits, apply_map, dropout, multiply, noise, scale};
