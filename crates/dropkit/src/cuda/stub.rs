//! The CUDA backend's API without the `cuda` feature: the same names and signatures, every
//! entry point returning [`Error::CudaUnavailable`], so callers need no `cfg`s. Build with
//! `--features cuda` for the real backend.

use std::convert::Infallible;
use std::marker::PhantomData;

use ndarray::{ArrayBase, ArrayD, Data, Dimension};

use crate::error::{Error, Result};
use crate::mask::BitMask;
use crate::module::Module;
use crate::Element;

fn unavailable() -> Error {
    Error::CudaUnavailable {
        reason: "dropkit was built without the cuda feature".into(),
    }
}

#[path = "shared.rs"]
mod shared;
pub use shared::{KernelSource, PointerInfo, PTX_ARCH};

/// A CUDA device; without the `cuda` feature none can be opened.
///
/// # Example
/// ```
/// use dropkit::cuda::CudaDevice;
/// match CudaDevice::new(0) {
///     Ok(dev) => println!("{}", dev.name()),
///     Err(e) => assert!(e.to_string().starts_with("CUDA is unavailable: ")),
/// }
/// ```
#[derive(Clone, Debug)]
pub struct CudaDevice {
    never: Infallible,
}

impl CudaDevice {
    /// Always [`Error::CudaUnavailable`] without the `cuda` feature.
    ///
    /// # Errors
    /// Always.
    pub fn new(_ordinal: usize) -> Result<Self> {
        Err(unavailable())
    }

    /// The device's ordinal.
    pub fn ordinal(&self) -> usize {
        match self.never {}
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        match self.never {}
    }

    /// The compute capability.
    pub fn compute_capability(&self) -> (i32, i32) {
        match self.never {}
    }

    /// Where the loaded kernels came from.
    pub fn kernel_source(&self) -> KernelSource {
        match self.never {}
    }

    /// The cap on blocks per multiprocessor, if one was set.
    pub fn grid_cap_per_multiprocessor(&self) -> Option<u32> {
        match self.never {}
    }

    /// Waits for queued work.
    ///
    /// # Errors
    /// Never (no device exists).
    pub fn synchronize(&self) -> Result<()> {
        match self.never {}
    }

    /// Whether two handles are the same device.
    pub fn same_device(&self, _other: &CudaDevice) -> bool {
        match self.never {}
    }

    /// Orders dropkit's stream after another stream.
    ///
    /// # Errors
    /// Never (no device exists).
    ///
    /// # Safety
    /// As with the `cuda` feature.
    #[allow(unsafe_code)] // the same signature as with the feature; nothing unsafe runs
    pub unsafe fn wait_for_stream(&self, _stream: u64) -> Result<()> {
        match self.never {}
    }

    /// Orders another stream after dropkit's.
    ///
    /// # Errors
    /// Never (no device exists).
    ///
    /// # Safety
    /// As with the `cuda` feature.
    #[allow(unsafe_code)] // the same signature as with the feature; nothing unsafe runs
    pub unsafe fn make_stream_wait(&self, _stream: u64) -> Result<()> {
        match self.never {}
    }
}

/// Always [`Error::CudaUnavailable`] without the `cuda` feature.
///
/// # Errors
/// Always.
pub fn pointer_info(_ptr: u64) -> Result<PointerInfo> {
    Err(unavailable())
}

/// Always [`Error::CudaUnavailable`] without the `cuda` feature.
///
/// # Errors
/// Always.
pub fn driver_present() -> Result<()> {
    Err(unavailable())
}

/// Always [`Error::CudaUnavailable`] without the `cuda` feature.
///
/// # Errors
/// Always.
pub fn device_count() -> Result<usize> {
    Err(unavailable())
}

/// An element type the CUDA kernels run on: `f32`, `f64`, `half::f16` and `half::bf16`.
pub trait CudaElement: Element + shared::sealed::Sealed {}
impl CudaElement for f32 {}
impl CudaElement for f64 {}
impl CudaElement for half::f16 {}
impl CudaElement for half::bf16 {}

/// A tensor on a CUDA device; without the `cuda` feature none can be made.
#[derive(Debug)]
pub struct DeviceTensor<T: CudaElement> {
    never: Infallible,
    marker: PhantomData<T>,
}

impl<T: CudaElement> DeviceTensor<T> {
    /// A tensor of zeros.
    ///
    /// # Errors
    /// Always [`Error::CudaUnavailable`] without the `cuda` feature.
    pub fn zeros(device: &CudaDevice, _shape: &[usize]) -> Result<Self> {
        match device.never {}
    }

    /// Another framework's device memory.
    ///
    /// # Errors
    /// Always [`Error::CudaUnavailable`] without the `cuda` feature.
    ///
    /// # Safety
    /// As with the `cuda` feature.
    #[allow(unsafe_code)] // the same signature as with the feature; nothing unsafe runs
    pub unsafe fn from_foreign(device: &CudaDevice, _ptr: u64, _shape: &[usize]) -> Result<Self> {
        match device.never {}
    }

    /// Copies row-major data to the device.
    ///
    /// # Errors
    /// Always [`Error::CudaUnavailable`] without the `cuda` feature.
    pub fn from_slice(device: &CudaDevice, _data: &[T], _shape: &[usize]) -> Result<Self> {
        match device.never {}
    }

    /// Copies an array to the device.
    ///
    /// # Errors
    /// Always [`Error::CudaUnavailable`] without the `cuda` feature.
    pub fn from_array<S: Data<Elem = T>, D: Dimension>(
        device: &CudaDevice,
        _array: &ArrayBase<S, D>,
    ) -> Result<Self> {
        match device.never {}
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self.never {}
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self.never {}
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        match self.never {}
    }

    /// The device holding the tensor.
    pub fn device(&self) -> &CudaDevice {
        match self.never {}
    }

    /// Copies the elements to the host.
    ///
    /// # Errors
    /// Never (no tensor exists).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        match self.never {}
    }

    /// Copies the tensor to a host array.
    ///
    /// # Errors
    /// Never (no tensor exists).
    pub fn to_array(&self) -> Result<ArrayD<T>> {
        match self.never {}
    }

    /// A copy on the same device.
    ///
    /// # Errors
    /// Never (no tensor exists).
    pub fn try_clone(&self) -> Result<Self> {
        match self.never {}
    }

    /// Overwrites this tensor with `other`.
    ///
    /// # Errors
    /// Never (no tensor exists).
    pub fn copy_from(&mut self, _other: &DeviceTensor<T>) -> Result<()> {
        match self.never {}
    }
}

/// A keep mask on the device; without the `cuda` feature none exists.
#[derive(Debug)]
pub struct DeviceBits {
    never: Infallible,
}

impl DeviceBits {
    /// Number of mask elements.
    pub fn len(&self) -> usize {
        match self.never {}
    }

    /// Whether the mask has no elements.
    pub fn is_empty(&self) -> bool {
        match self.never {}
    }

    /// Device bytes held.
    pub fn bytes(&self) -> usize {
        match self.never {}
    }

    /// Copies the mask to the host.
    ///
    /// # Errors
    /// Never (no mask exists).
    pub fn to_host(&self) -> Result<BitMask> {
        match self.never {}
    }
}

/// Forward and backward on device tensors; without the `cuda` feature no tensor exists, so
/// nothing here can be called with one.
pub trait CudaModule: Module {
    /// Forward: a new tensor.
    ///
    /// # Errors
    /// Never (no tensor exists).
    fn forward_cuda<T: CudaElement>(&mut self, input: &DeviceTensor<T>) -> Result<DeviceTensor<T>> {
        match input.never {}
    }

    /// Forward into `output`.
    ///
    /// # Errors
    /// Never (no tensor exists).
    fn forward_cuda_into<T: CudaElement>(
        &mut self,
        input: &DeviceTensor<T>,
        _output: &mut DeviceTensor<T>,
    ) -> Result<()> {
        match input.never {}
    }

    /// Forward in place.
    ///
    /// # Errors
    /// Never (no tensor exists).
    fn forward_cuda_inplace<T: CudaElement>(&mut self, x: &mut DeviceTensor<T>) -> Result<()> {
        match x.never {}
    }

    /// Backward: a new tensor.
    ///
    /// # Errors
    /// Never (no tensor exists).
    fn backward_cuda<T: CudaElement>(
        &mut self,
        input: &DeviceTensor<T>,
        _grad_output: &DeviceTensor<T>,
    ) -> Result<DeviceTensor<T>> {
        match input.never {}
    }

    /// Backward into `grad_input`.
    ///
    /// # Errors
    /// Never (no tensor exists).
    fn backward_cuda_into<T: CudaElement>(
        &mut self,
        input: &DeviceTensor<T>,
        _grad_output: &DeviceTensor<T>,
        _grad_input: &mut DeviceTensor<T>,
    ) -> Result<()> {
        match input.never {}
    }

    /// Backward in place.
    ///
    /// # Errors
    /// Never (no tensor exists).
    fn backward_cuda_inplace<T: CudaElement>(
        &mut self,
        input: &DeviceTensor<T>,
        _grad_output: &mut DeviceTensor<T>,
    ) -> Result<()> {
        match input.never {}
    }

    /// The 1-bit mask kept on the device: none without the `cuda` feature.
    fn device_bits(&self) -> Option<&DeviceBits> {
        self.core().saved.as_ref()?.bits.as_ref()?.device()
    }

    /// Device bytes kept between forward and backward: 0 without the `cuda` feature.
    fn device_saved_bytes(&self) -> usize {
        0
    }
}

impl<L: Module> CudaModule for L {}

/// The device mask of a layer, copied to the host: none without the `cuda` feature.
///
/// # Errors
/// Never.
pub fn device_mask_to_host<M: CudaModule>(_layer: &M) -> Result<Option<BitMask>> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_point_says_the_feature_is_off() {
        let e = CudaDevice::new(0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CUDA is unavailable: dropkit was built without the cuda feature"
        );
        assert!(driver_present().is_err() && device_count().is_err());
        let layer = crate::Dropout::new(0.5).unwrap();
        assert_eq!(layer.device_saved_bytes(), 0);
        assert!(device_mask_to_host(&layer).unwrap().is_none());
    }
}
