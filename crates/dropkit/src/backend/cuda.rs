//! The CUDA backend (feature `cuda`): device tensors (`DeviceIo`), run by the kernel launches
//! of `crate::cuda`. Masks and
//! noise come from the Philox counter on the device; BigDL's sequential stream is drawn on
//! the host, so a fresh draw from it is refused, and a replayed one (the backward of a host
//! forward) draws its mask on the host and copies it over.

use std::sync::Arc;

use super::{Backend, SavedMask};
use crate::cuda::launch;
use crate::cuda::{CudaElement, DeviceBits, DeviceIo};
use crate::error::{check_shape, Error, Result};
use crate::kernels;
use crate::ops::{element_count, Kept, MaskLayout, MaskMap, Noise};
use crate::rng::{keep_threshold, Randomness};
use crate::Element;

/// The error for a device forward asked to draw from BigDL's stream.
fn bigdl_on_device(layer: &str) -> Error {
    Error::CudaUnavailable {
        reason: format!(
            "{layer} draws from the BigDL generator, whose MT19937 stream is sequential and runs \
             on the host only: use the Philox generator (the default) for device tensors"
        ),
    }
}

impl<T: CudaElement> Backend for DeviceIo<'_, T> {
    type Elem = T;

    fn len(&self) -> usize {
        DeviceIo::len(self)
    }

    fn check(&self, layer: &'static str, argument: &'static str, shape: &[usize]) -> Result<()> {
        if let DeviceIo::Copy { src, dst } = self {
            check_shape(layer, "dst", src.shape(), dst.shape())?;
        }
        if element_count(layer, argument, shape)? != DeviceIo::len(self) {
            return Err(Error::ShapeMismatch {
                layer,
                argument,
                expected: shape.to_vec(),
                got: vec![DeviceIo::len(self)],
            });
        }
        Ok(())
    }

    fn accepts(layer: &'static str, r: &Randomness<'_>) -> Result<()> {
        match r {
            Randomness::Philox { .. } => Ok(()),
            Randomness::Stream(_) => Err(bigdl_on_device(layer)),
        }
    }

    fn scale(self, factor: Option<T::Compute>) -> Result<()> {
        launch::scale(self, factor)
    }

    fn dropout(
        self,
        r: &mut Randomness<'_>,
        p: f64,
        kept: Kept<T::Compute>,
        keep: bool,
    ) -> Result<Option<SavedMask>> {
        let seed_draw = match r {
            Randomness::Philox { seed, draw } => (*seed, *draw),
            Randomness::Stream(_) => {
                let mask = self.keep_bits(r, DeviceIo::len(&self), p)?;
                self.apply_mask(&mask, MaskMap::Elementwise, kept)?;
                return Ok(keep.then_some(mask));
            }
        };
        let mut bits = match keep {
            true => Some(DeviceBits::uninit(&self.device(), DeviceIo::len(&self))?),
            false => None,
        };
        launch::dropout(self, bits.as_mut(), seed_draw, keep_threshold(p), kept)?;
        Ok(bits.map(|b| SavedMask::Device(Arc::new(b))))
    }

    fn keep_bits(&self, r: &mut Randomness<'_>, len: usize, p: f64) -> Result<SavedMask> {
        match r {
            Randomness::Philox { seed, draw } => {
                let bits =
                    launch::keep_bits(&self.device(), len, (*seed, *draw), keep_threshold(p))?;
                Ok(SavedMask::Device(Arc::new(bits)))
            }
            // The sequential stream runs on the host; the mask is copied over when applied.
            Randomness::Stream(_) => Ok(SavedMask::Host(kernels::keep_bits(r, len, p)?)),
        }
    }

    fn holds(&self, mask: &SavedMask) -> bool {
        mask.device()
            .is_some_and(|bits| bits.device().same_device(&self.device()))
    }

    fn apply_mask(self, mask: &SavedMask, map: MaskMap, kept: Kept<T::Compute>) -> Result<()> {
        let dev = self.device();
        match mask {
            SavedMask::Device(bits) if bits.device().same_device(&dev) => {
                launch::apply_mask(self, bits, map, kept)
            }
            SavedMask::Device(bits) => {
                let bits = DeviceBits::from_host(&dev, &bits.to_host()?)?;
                launch::apply_mask(self, &bits, map, kept)
            }
            SavedMask::Host(mask) => {
                let bits = DeviceBits::from_host(&dev, mask)?;
                launch::apply_mask(self, &bits, map, kept)
            }
        }
    }

    /// The noise values over the noise shape go to a device buffer (freed after the launch);
    /// nothing is kept: backward regenerates them from the draw.
    fn noise_broadcast(self, r: &mut Randomness<'_>, noise: Noise, at: MaskLayout) -> Result<()> {
        let Randomness::Philox { seed, draw } = r else {
            return Err(bigdl_on_device("Gaussian noise"));
        };
        let (mean, stddev) = (
            T::Compute::from_f64(noise.mean),
            T::Compute::from_f64(noise.stddev),
        );
        launch::noise_broadcast(
            self,
            (*seed, *draw),
            (mean, stddev, noise.op),
            at.len,
            at.map,
        )
    }

    /// Noise is never kept on the device: backward regenerates it from the draw.
    fn noise(
        self,
        r: &mut Randomness<'_>,
        noise: Noise,
        _keep: bool,
    ) -> Result<Option<Vec<T::Compute>>> {
        let Randomness::Philox { seed, draw } = r else {
            return Err(bigdl_on_device("Gaussian noise"));
        };
        let (mean, stddev) = (
            T::Compute::from_f64(noise.mean),
            T::Compute::from_f64(noise.stddev),
        );
        launch::noise(self, (*seed, *draw), mean, stddev, noise.op)?;
        Ok(None)
    }

    fn multiply(self, _factors: &[T::Compute]) -> std::result::Result<Result<()>, Self> {
        Err(self)
    }
}
