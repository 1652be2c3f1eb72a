//! [`CudaModule`]: forward and backward on device tensors, for all six layers.
//!
//! Each layer's device path mirrors its CPU `forward_flat` / `backward_flat` step for step
//! and shares its state: the draw comes from the same [`crate::rng::RngSource`] (so CPU and
//! GPU calls take draw indices from one sequence), and the forward is recorded in the same
//! `LayerCore`, so a device forward can be differentiated on the host and vice versa.
//! A device forward keeps its 1-bit mask on the device (`LayerCore::device_bits`); the host
//! then has none and regenerates it from the draw when it needs it.

use std::sync::Arc;

use super::launch;
use super::tensor::{same_device, CudaElement, DeviceBits, DeviceIo, DeviceTensor};
use crate::error::{check_shape, Error, Result};
use crate::layers::{BackwardPlan, LayerCore, Saved};
use crate::mask::{BitMask, MaskStorage};
use crate::module::Module;
use crate::ops::{backward_kept, eval_factor, forward_kept, Kept, MaskMap, NoiseOp};
use crate::rng::{keep_threshold, Draw, Randomness};
use crate::{
    Dropout, GaussianDropout, GaussianNoise, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};

/// Forward and backward on [`DeviceTensor`]s, with the layer's CPU semantics bit for bit.
///
/// Implemented by all six layers. A call works on the device the tensors are on; it queues
/// kernels on that device's stream and returns without waiting. Randomness must come from
/// the Philox generator (the default): BigDL's MT19937 stream is sequential and runs on the
/// host only, so a training forward with it returns [`Error::CudaUnavailable`] (nothing is
/// drawn). A device backward after a host forward with the BigDL stream works for Dropout
/// and the Spatial layers (their mask, kept on the host or replayed there from the saved
/// stream state, is copied to the device), not for GaussianDropout.
///
/// # Example
/// ```
/// use dropkit::cuda::{CudaDevice, CudaModule, DeviceTensor};
/// use dropkit::{Dropout, GeneratorKind, Module};
/// let Ok(dev) = CudaDevice::new(0) else { return Ok(()) }; // no GPU here
/// let x = ndarray::Array::from_shape_fn((4, 5), |(i, j)| (i * 5 + j) as f32);
/// let (mut gpu, mut cpu) = (Dropout::new(0.3)?, Dropout::new(0.3)?);
/// gpu.set_seed(7, GeneratorKind::Philox);
/// cpu.set_seed(7, GeneratorKind::Philox);
/// let y = gpu.forward_cuda(&DeviceTensor::from_array(&dev, &x)?)?;
/// assert_eq!(y.to_array()?, cpu.forward(&x)?.into_dyn()); // bit for bit
/// # Ok::<(), dropkit::Error>(())
/// ```
///
/// # Errors
/// As the layer's [`Module`] methods, plus [`Error::Cuda`] for tensors on different devices
/// or a failed CUDA call, and [`Error::CudaUnavailable`] for the BigDL generator.
pub trait CudaModule: Module {
    /// Forward on device data of logical shape `shape`.
    #[doc(hidden)]
    fn forward_device<T: CudaElement>(
        &mut self,
        shape: &[usize],
        io: DeviceIo<'_, T>,
    ) -> Result<()>;

    /// Backward on device data: `io` reads `grad_output`, writes `grad_input`.
    #[doc(hidden)]
    fn backward_device<T: CudaElement>(
        &mut self,
        input_shape: &[usize],
        shape: &[usize],
        io: DeviceIo<'_, T>,
    ) -> Result<()>;

    /// Forward: a new tensor on the input's device.
    ///
    /// # Errors
    /// As [`Module::forward`]; [`Error::Cuda`] when a CUDA call fails.
    fn forward_cuda<T: CudaElement>(&mut self, input: &DeviceTensor<T>) -> Result<DeviceTensor<T>> {
        let mut out = DeviceTensor::uninit(input.device(), input.shape())?;
        self.forward_cuda_into(input, &mut out)?;
        Ok(out)
    }

    /// Forward into `output` (same shape and device as `input`): allocates nothing but the
    /// 1-bit mask (when the layer keeps one).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for an output of another shape; else as forward.
    fn forward_cuda_into<T: CudaElement>(
        &mut self,
        input: &DeviceTensor<T>,
        output: &mut DeviceTensor<T>,
    ) -> Result<()> {
        check_shape(self.name(), "output", input.shape(), output.shape())?;
        same_device(input.device(), output.device())?;
        self.forward_device(
            input.shape(),
            DeviceIo::Copy {
                src: input,
                dst: output,
            },
        )
    }

    /// Forward in place: overwrites `x` with the output.
    ///
    /// # Errors
    /// As forward.
    fn forward_cuda_inplace<T: CudaElement>(&mut self, x: &mut DeviceTensor<T>) -> Result<()> {
        let shape = x.shape().to_vec();
        self.forward_device(&shape, DeviceIo::InPlace(x))
    }

    /// Backward: the gradient with respect to the input, a new tensor on `grad_output`'s
    /// device (`input` is used for its shape only).
    ///
    /// # Errors
    /// As [`Module::backward`].
    fn backward_cuda<T: CudaElement>(
        &mut self,
        input: &DeviceTensor<T>,
        grad_output: &DeviceTensor<T>,
    ) -> Result<DeviceTensor<T>> {
        let mut out = DeviceTensor::uninit(grad_output.device(), grad_output.shape())?;
        self.backward_cuda_into(input, grad_output, &mut out)?;
        Ok(out)
    }

    /// Backward into `grad_input` (the shape and device of `grad_output`).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for a `grad_input` of another shape; else as backward.
    fn backward_cuda_into<T: CudaElement>(
        &mut self,
        input: &DeviceTensor<T>,
        grad_output: &DeviceTensor<T>,
        grad_input: &mut DeviceTensor<T>,
    ) -> Result<()> {
        check_shape(
            self.name(),
            "grad_input",
            grad_output.shape(),
            grad_input.shape(),
        )?;
        same_device(grad_output.device(), grad_input.device())?;
        self.backward_device(
            input.shape(),
            grad_output.shape(),
            DeviceIo::Copy {
                src: grad_output,
                dst: grad_input,
            },
        )
    }

    /// Backward in place: overwrites `grad_output` with the input gradient.
    ///
    /// # Errors
    /// As backward.
    fn backward_cuda_inplace<T: CudaElement>(
        &mut self,
        input: &DeviceTensor<T>,
        grad_output: &mut DeviceTensor<T>,
    ) -> Result<()> {
        let shape = grad_output.shape().to_vec();
        self.backward_device(input.shape(), &shape, DeviceIo::InPlace(grad_output))
    }

    /// The 1-bit mask the last training forward on the device kept there, if any (Dropout
    /// with [`MaskStorage::Bits`], the Spatial layers).
    fn device_bits(&self) -> Option<&DeviceBits> {
        self.core().device_bits.as_deref()
    }

    /// Device bytes kept between forward and backward (the 1-bit mask).
    fn device_saved_bytes(&self) -> usize {
        self.device_bits().map_or(0, DeviceBits::bytes)
    }
}

/// The error for a device forward asked to draw from BigDL's stream.
fn bigdl_on_device(layer: &str) -> Error {
    Error::CudaUnavailable {
        reason: format!(
            "{layer} draws from the BigDL generator, whose MT19937 stream is sequential and runs \
             on the host only: use the Philox generator (the default) for device tensors"
        ),
    }
}

/// Takes one draw from the layer's generator if it is Philox; a BigDL stream is left
/// untouched (nothing is consumed) and `None` comes back.
fn philox_draw(core: &mut LayerCore) -> (Option<(u64, u64)>, Draw) {
    core.rng.draw(|r| match r {
        Randomness::Philox { seed, draw } => Some((*seed, *draw)),
        Randomness::Stream(_) => None,
    })
}

/// Records a training forward made on the device, with its device mask.
fn record_device_train(core: &mut LayerCore, saved: Saved, bits: Option<DeviceBits>) {
    core.record_train(saved);
    core.device_bits = bits.map(Arc::new);
}

/// Applies the mask of a recorded training forward: the device copy if it is on this
/// device, else regenerated from the Philox draw, else (BigDL) the host mask copied over.
fn apply_saved<T: CudaElement>(
    core: &LayerCore,
    saved: &Saved,
    io: DeviceIo<'_, T>,
    mask_len: usize,
    map: MaskMap,
    kept: Kept<T>,
) -> Result<()> {
    let dev = io.device();
    if let Some(bits) = core
        .device_bits
        .as_deref()
        .filter(|b| b.device().same_device(&dev) && b.len() == mask_len)
    {
        return launch::apply_mask(io, bits, map, kept);
    }
    match (&saved.draw, &saved.bits) {
        (Draw::Philox { seed, draw }, _) => {
            let threshold = keep_threshold(saved.p);
            if map == MaskMap::Elementwise {
                launch::dropout(io, None, (*seed, *draw), threshold, kept)
            } else {
                let bits = launch::keep_bits(&dev, mask_len, (*seed, *draw), threshold)?;
                launch::apply_mask(io, &bits, map, kept)
            }
        }
        // BigDL's stream is sequential: its mask is made on the host (kept there, or replayed
        // from the saved stream state) and copied over.
        (Draw::BigDl(_), Some(mask)) => {
            let bits = DeviceBits::from_host(&dev, mask)?;
            launch::apply_mask(io, &bits, map, kept)
        }
        (draw @ Draw::BigDl(_), None) => {
            let mask = draw.replay(|r| crate::kernels::keep_bits(r, mask_len, saved.p));
            let bits = DeviceBits::from_host(&dev, &mask)?;
            launch::apply_mask(io, &bits, map, kept)
        }
    }
}

impl CudaModule for Dropout {
    fn forward_device<T: CudaElement>(
        &mut self,
        shape: &[usize],
        io: DeviceIo<'_, T>,
    ) -> Result<()> {
        let (scale, p) = (self.scale(), self.p());
        if !self.is_training() {
            launch::scale(io, eval_factor(scale, p))?;
            self.core_mut().record_eval(shape, p);
            return Ok(());
        }
        if !self.is_resampling() {
            let core = self.core();
            if let Some(saved) = core.saved_for(shape) {
                let kept = forward_kept(scale, saved.p);
                let n = shape.iter().product();
                apply_saved(core, saved, io, n, MaskMap::Elementwise, kept)?;
                // The same draw again (its device mask stays), as the CPU path records it.
                self.core_mut().record_reuse();
                return Ok(());
            }
        }
        let n: usize = shape.iter().product();
        let dev = io.device();
        let (philox, draw) = philox_draw(self.core_mut());
        let Some(seed_draw) = philox else {
            return Err(bigdl_on_device("Dropout"));
        };
        let mut bits = match self.mask_storage() {
            MaskStorage::Bits => Some(DeviceBits::uninit(&dev, n)?),
            MaskStorage::Regenerate => None,
        };
        launch::dropout(
            io,
            bits.as_mut(),
            seed_draw,
            keep_threshold(p),
            forward_kept(scale, p),
        )?;
        let saved = Saved {
            shape: shape.to_vec(),
            p,
            draw,
            bits: None,
        };
        record_device_train(self.core_mut(), saved, bits);
        Ok(())
    }

    fn backward_device<T: CudaElement>(
        &mut self,
        input_shape: &[usize],
        shape: &[usize],
        io: DeviceIo<'_, T>,
    ) -> Result<()> {
        let scale = self.scale();
        let core = self.core();
        match core.plan_backward("Dropout", input_shape, shape, self.p(), true)? {
            BackwardPlan::Eval(p) => launch::scale(io, eval_factor(scale, p)),
            BackwardPlan::Train(saved) => {
                let kept = backward_kept(scale, saved.p);
                let n = shape.iter().product();
                apply_saved(core, saved, io, n, MaskMap::Elementwise, kept)
            }
        }
    }
}

impl CudaModule for GaussianDropout {
    fn forward_device<T: CudaElement>(
        &mut self,
        shape: &[usize],
        io: DeviceIo<'_, T>,
    ) -> Result<()> {
        let rate = self.rate();
        if !self.is_training() {
            launch::copy(io)?;
            self.core_mut().record_eval(shape, rate);
            return Ok(());
        }
        let stddev = self.stddev();
        let (philox, draw) = philox_draw(self.core_mut());
        let Some(seed_draw) = philox else {
            return Err(bigdl_on_device("GaussianDropout"));
        };
        let (m, s) = (T::from_f64(1.0), T::from_f64(stddev));
        launch::noise(io, seed_draw, m, s, NoiseOp::Mul)?;
        let saved = Saved {
            shape: shape.to_vec(),
            p: rate,
            draw,
            bits: None,
        };
        record_device_train(self.core_mut(), saved, None);
        Ok(())
    }

    fn backward_device<T: CudaElement>(
        &mut self,
        input_shape: &[usize],
        shape: &[usize],
        io: DeviceIo<'_, T>,
    ) -> Result<()> {
        let rate = self.rate();
        match self
            .core()
            .plan_backward("GaussianDropout", input_shape, shape, rate, true)?
        {
            BackwardPlan::Eval(_) => launch::copy(io),
            BackwardPlan::Train(saved) => match saved.draw {
                Draw::Philox { seed, draw } => {
                    let stddev = (saved.p / (1.0 - saved.p)).sqrt();
                    let (m, s) = (T::from_f64(1.0), T::from_f64(stddev));
                    launch::noise(io, (seed, draw), m, s, NoiseOp::Mul)
                }
                Draw::BigDl(_) => Err(bigdl_on_device("GaussianDropout")),
            },
        }
    }
}

impl CudaModule for GaussianNoise {
    fn forward_device<T: CudaElement>(
        &mut self,
        shape: &[usize],
        io: DeviceIo<'_, T>,
    ) -> Result<()> {
        if !self.is_training() {
            launch::copy(io)?;
            self.core_mut().record_eval(shape, 0.0);
            return Ok(());
        }
        let stddev = self.stddev();
        let (philox, draw) = philox_draw(self.core_mut());
        let Some(seed_draw) = philox else {
            return Err(bigdl_on_device("GaussianNoise"));
        };
        if stddev == 0.0 {
            // x + 0 would turn -0.0 into +0.0; the CPU path copies too (kernels::noise).
            launch::copy(io)?;
        } else {
            let (m, s) = (T::from_f64(0.0), T::from_f64(stddev));
            launch::noise(io, seed_draw, m, s, NoiseOp::Add)?;
        }
        let saved = Saved {
            shape: shape.to_vec(),
            p: 0.0,
            draw,
            bits: None,
        };
        record_device_train(self.core_mut(), saved, None);
        Ok(())
    }

    fn backward_device<T: CudaElement>(
        &mut self,
        input_shape: &[usize],
        shape: &[usize],
        io: DeviceIo<'_, T>,
    ) -> Result<()> {
        self.core()
            .plan_backward("GaussianNoise", input_shape, shape, 0.0, false)?;
        launch::copy(io)
    }
}

/// The Spatial layers' device paths, shared by the three types.
macro_rules! spatial_cuda {
    ($name:ident) => {
        impl CudaModule for $name {
            fn forward_device<T: CudaElement>(
                &mut self,
                shape: &[usize],
                io: DeviceIo<'_, T>,
            ) -> Result<()> {
                let (len, map) = self.mask_layout(shape)?;
                let p = self.p();
                if !self.is_training() {
                    launch::scale(io, eval_factor(self.scale(), p))?;
                    self.core_mut().record_eval(shape, p);
                    return Ok(());
                }
                let dev = io.device();
                let (philox, draw) = philox_draw(self.core_mut());
                let Some(seed_draw) = philox else {
                    return Err(bigdl_on_device(self.name()));
                };
                let bits = launch::keep_bits(&dev, len, seed_draw, keep_threshold(p))?;
                launch::apply_mask(io, &bits, map, forward_kept(self.scale(), p))?;
                let saved = Saved {
                    shape: shape.to_vec(),
                    p,
                    draw,
                    bits: None,
                };
                record_device_train(self.core_mut(), saved, Some(bits));
                Ok(())
            }

            fn backward_device<T: CudaElement>(
                &mut self,
                input_shape: &[usize],
                shape: &[usize],
                io: DeviceIo<'_, T>,
            ) -> Result<()> {
                let (len, map) = self.mask_layout(shape)?;
                let (name, scale) = (self.name(), self.scale());
                let core = self.core();
                match core.plan_backward(name, input_shape, shape, self.p(), true)? {
                    BackwardPlan::Eval(p) => launch::scale(io, eval_factor(scale, p)),
                    BackwardPlan::Train(saved) => {
                        apply_saved(core, saved, io, len, map, backward_kept(scale, saved.p))
                    }
                }
            }
        }
    };
}

spatial_cuda!(SpatialDropout1D);
spatial_cuda!(SpatialDropout2D);
spatial_cuda!(SpatialDropout3D);

/// The device mask of a layer, copied to the host (for tests and inspection).
///
/// # Errors
/// [`Error::Cuda`] when the copy fails.
pub fn device_mask_to_host<M: CudaModule>(layer: &M) -> Result<Option<BitMask>> {
    layer.device_bits().map(DeviceBits::to_host).transpose()
}
