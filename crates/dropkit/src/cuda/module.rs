//! [`CudaModule`]: forward and backward on device tensors, for all six layers.
//!
//! A layer's device calls run the same forward and backward as its host calls (written once
//! in `layers/`, over the CUDA backend of `backend.rs`) and share its state: the draw comes
//! from the same generator (so CPU and GPU calls take draw indices from one sequence), and
//! the forward is recorded in the same place, so a device forward can be differentiated on
//! the host and vice versa. A device forward keeps its 1-bit mask on the device; the host
//! then regenerates the mask from the draw when it needs it.

use super::tensor::{same_device, CudaElement, DeviceBits, DeviceIo, DeviceTensor};
use crate::error::{check_shape, Result};
use crate::mask::BitMask;
use crate::module::Module;

/// Forward and backward on [`DeviceTensor`]s, with the layer's CPU semantics bit for bit.
///
/// Implemented by all six layers. A call works on the device the tensors are on; it queues
/// kernels on that device's stream and returns without waiting. Randomness must come from
/// the Philox generator (the default): BigDL's MT19937 stream is sequential and runs on
/// the host only, so a training forward with it returns [`crate::Error::CudaUnavailable`]
/// (nothing is drawn). A device backward after a host forward with the BigDL stream works
/// for Dropout and the Spatial layers (their mask, kept on the host or replayed there from
/// the saved stream state, is copied to the device), not for GaussianDropout.
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
/// As the layer's [`Module`] methods, plus [`crate::Error::Cuda`] for tensors on different
/// devices or a failed CUDA call, and [`crate::Error::CudaUnavailable`] for the BigDL
/// generator.
pub trait CudaModule: Module {
    /// Forward on device data of logical shape `shape`.
    #[doc(hidden)]
    fn forward_device<T: CudaElement>(
        &mut self,
        shape: &[usize],
        io: DeviceIo<'_, T>,
    ) -> Result<()> {
        self.forward_on(shape, io)
    }

    /// Backward on device data: `io` reads `grad_output`, writes `grad_input`.
    #[doc(hidden)]
    fn backward_device<T: CudaElement>(
        &mut self,
        input_shape: &[usize],
        shape: &[usize],
        io: DeviceIo<'_, T>,
    ) -> Result<()> {
        self.backward_on(input_shape, shape, io)
    }

    /// Forward: a new tensor on the input's device.
    ///
    /// # Errors
    /// As [`Module::forward`]; [`crate::Error::Cuda`] when a CUDA call fails.
    fn forward_cuda<T: CudaElement>(&mut self, input: &DeviceTensor<T>) -> Result<DeviceTensor<T>> {
        let mut out = DeviceTensor::uninit(input.device(), input.shape())?;
        self.forward_cuda_into(input, &mut out)?;
        Ok(out)
    }

    /// Forward into `output` (same shape and device as `input`): allocates nothing but the
    /// 1-bit mask (when the layer keeps one).
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] for an output of another shape; else as forward.
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
    /// [`crate::Error::ShapeMismatch`] for a `grad_input` of another shape; else as backward.
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
    /// with [`crate::MaskStorage::Bits`], the Spatial layers).
    fn device_bits(&self) -> Option<&DeviceBits> {
        self.core().saved.as_ref()?.bits.as_ref()?.device()
    }

    /// Device bytes kept between forward and backward (the 1-bit mask).
    fn device_saved_bytes(&self) -> usize {
        self.device_bits().map_or(0, DeviceBits::bytes)
    }
}

impl<L: Module> CudaModule for L {}

/// The device mask of a layer, copied to the host (for tests and inspection).
///
/// # Errors
/// [`crate::Error::Cuda`] when the copy fails.
pub fn device_mask_to_host<M: CudaModule>(layer: &M) -> Result<Option<BitMask>> {
    layer.device_bits().map(DeviceBits::to_host).transpose()
}
