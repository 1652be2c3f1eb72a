//! The CPU backend: host slices (`FlatIo`), run by the SIMD and threaded kernels of
//! `crate::kernels`.

use super::{Backend, SavedMask};
use crate::error::Result;
use crate::kernels;
use crate::ops::{FlatIo, Kept, MaskLayout, MaskMap, Noise, NoiseOp};
use crate::rng::Randomness;
use crate::Element;

impl<T: Element> Backend for FlatIo<'_, T> {
    type Elem = T;

    fn len(&self) -> usize {
        FlatIo::len(self)
    }

    fn check(&self, layer: &'static str, argument: &'static str, shape: &[usize]) -> Result<()> {
        FlatIo::check(self, layer, argument, shape)
    }

    fn accepts(_layer: &'static str, _r: &Randomness<'_>) -> Result<()> {
        Ok(())
    }

    fn scale(self, factor: Option<T::Compute>) -> Result<()> {
        kernels::scale(self, factor);
        Ok(())
    }

    fn dropout(
        self,
        r: &mut Randomness<'_>,
        p: f64,
        kept: Kept<T::Compute>,
        keep: bool,
    ) -> Result<Option<SavedMask>> {
        Ok(kernels::dropout(self, r, p, kept, keep)?.map(SavedMask::Host))
    }

    fn keep_bits(&self, r: &mut Randomness<'_>, len: usize, p: f64) -> Result<SavedMask> {
        Ok(SavedMask::Host(kernels::keep_bits(r, len, p)?))
    }

    fn holds(&self, mask: &SavedMask) -> bool {
        matches!(mask, SavedMask::Host(_))
    }

    fn apply_mask(self, mask: &SavedMask, map: MaskMap, kept: Kept<T::Compute>) -> Result<()> {
        match mask {
            SavedMask::Host(bits) => kernels::apply_mask(self, bits, map, kept),
            SavedMask::Device(bits) => kernels::apply_mask(self, &bits.to_host()?, map, kept),
        }
        Ok(())
    }

    fn noise_broadcast(self, r: &mut Randomness<'_>, noise: Noise, at: MaskLayout) -> Result<()> {
        let Noise { mean, stddev, op } = noise;
        kernels::noise_broadcast(self, r, (mean, stddev, op), at.len, at.map)
    }

    fn noise(
        self,
        r: &mut Randomness<'_>,
        noise: Noise,
        keep: bool,
    ) -> Result<Option<Vec<T::Compute>>> {
        let Noise { mean, stddev, op } = noise;
        if !keep {
            kernels::noise(self, r, mean, stddev, op);
            return Ok(None);
        }
        debug_assert_eq!(op, NoiseOp::Mul, "only multiplicative noise is kept");
        // 1 * e is e exactly, and x * e is what the fused kernel computes. The buffer is
        // allocated before anything is written.
        let mut values = crate::alloc::filled(
            "the stored noise",
            self.len(),
            <T::Compute as num_traits::One>::one(),
        )?;
        kernels::noise(FlatIo::InPlace(&mut values), r, mean, stddev, op);
        kernels::multiply(self, &values);
        Ok(Some(values))
    }

    fn multiply(self, factors: &[T::Compute]) -> std::result::Result<Result<()>, Self> {
        kernels::multiply(self, factors);
        Ok(Ok(()))
    }
}
