//! Device buffers: [`DeviceTensor`] (a shape and its row-major elements on one device) and
//! the 1-bit masks kept on the device between forward and backward.

use std::mem::ManuallyDrop;

use cudarc::driver::{CudaSlice, DeviceRepr, ValidAsZeroBits};
use ndarray::{ArrayBase, ArrayD, Data, Dimension, IxDyn};

use super::device::CudaDevice;
use super::driver::driver_error;
use super::shared::sealed;
use crate::alloc::zeroed;
use crate::error::{Error, Result};
use crate::mask::BitMask;
use crate::Element;

/// An element type the CUDA kernels run on: `f32`, `f64`, `half::f16` and `half::bf16`.
/// The half-precision types are stored in 2 bytes and computed in `f32` with `f32`
/// constants, rounded once (to nearest, ties to even) as on the CPU, so a device result is
/// the CPU's, bit for bit (see [`crate::Element`]).
pub trait CudaElement:
    Element<Compute: DeviceRepr> + DeviceRepr + ValidAsZeroBits + sealed::Sealed
{
    /// Index of the kernel variant (0 `f32`, 1 `f64`, 2 `f16`, 3 `bf16`).
    #[doc(hidden)]
    const KERNEL: usize;
}

impl CudaElement for f32 {
    const KERNEL: usize = 0;
}

impl CudaElement for f64 {
    const KERNEL: usize = 1;
}

impl CudaElement for half::f16 {
    const KERNEL: usize = 2;
}

impl CudaElement for half::bf16 {
    const KERNEL: usize = 3;
}

/// A tensor on a CUDA device: a shape and its elements, row-major and contiguous.
///
/// # Example
/// ```
/// use dropkit::cuda::{CudaDevice, DeviceTensor};
/// let Ok(dev) = CudaDevice::new(0) else { return Ok(()) }; // no GPU here
/// let x = ndarray::Array::from_elem((2, 3), 1.5f32);
/// let d = DeviceTensor::from_array(&dev, &x)?;
/// assert_eq!(d.shape(), &[2, 3]);
/// assert_eq!(d.to_array()?, x.into_dyn());
/// # Ok::<(), dropkit::Error>(())
/// ```
pub struct DeviceTensor<T: CudaElement> {
    shape: Vec<usize>,
    /// Number of elements (`data` has one more-than-needed element when this is 0).
    len: usize,
    pub(crate) data: ManuallyDrop<CudaSlice<T>>,
    /// Whether dropkit allocated `data` (and frees it on drop); false for another
    /// framework's memory ([`DeviceTensor::from_foreign`]).
    owned: bool,
    device: CudaDevice,
}

impl<T: CudaElement> Drop for DeviceTensor<T> {
    fn drop(&mut self) {
        // SAFETY: `data` is taken once, here, and never used again.
        let data = unsafe { ManuallyDrop::take(&mut self.data) };
        if self.owned {
            drop(data);
        } else {
            // Another framework's memory: orders dropkit's stream after the uses cudarc
            // recorded, and leaves the memory to its owner.
            let _ = data.leak();
        }
    }
}

impl<T: CudaElement> std::fmt::Debug for DeviceTensor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceTensor")
            .field("dtype", &T::NAME)
            .field("shape", &self.shape)
            .field("device", &self.device.ordinal())
            .finish()
    }
}

/// A tensor shape's element count, checked ([`Error::ShapeOverflow`] when it overflows).
fn element_count(shape: &[usize]) -> Result<usize> {
    crate::ops::element_count("DeviceTensor", "shape", shape)
}

impl<T: CudaElement> DeviceTensor<T> {
    /// A tensor of `shape` whose contents are not initialized: for kernels that write every
    /// element before anything reads one.
    pub(crate) fn uninit(device: &CudaDevice, shape: &[usize]) -> Result<Self> {
        let n = element_count(shape)?;
        // An empty tensor holds one unused element: CUDA does not allocate 0 bytes.
        // SAFETY: the memory is uninitialized; every caller writes all `n` elements (a
        // forward or backward kernel over the whole tensor) before it is read.
        let data = unsafe { device.stream().alloc::<T>(n.max(1)) }
            .map_err(|e| driver_error("allocating device memory", e))?;
        Ok(DeviceTensor {
            shape: shape.to_vec(),
            len: n,
            data: ManuallyDrop::new(data),
            owned: true,
            device: device.clone(),
        })
    }

    /// Another framework's device memory (a PyTorch or CuPy tensor) as a tensor of `shape`,
    /// without a copy. dropkit never frees it. `ptr` must be 16-byte aligned (the kernels'
    /// vector loads); an empty `shape` gets a buffer of dropkit's own instead.
    ///
    /// # Errors
    /// [`Error::Cuda`] when `ptr` is not 16-byte aligned; [`Error::ShapeOverflow`] when the
    /// shape's element count overflows.
    ///
    /// # Safety
    /// `ptr` must point to `shape.iter().product()` elements of `T`, row-major, in memory of
    /// `device`'s context (see [`super::pointer_info`] to check the extent), which stays
    /// allocated while the tensor lives and which nothing else writes (or, for a tensor
    /// dropkit writes, reads) while work dropkit queued on it runs: order the owner's stream
    /// with [`CudaDevice::wait_for_stream`] / [`CudaDevice::make_stream_wait`].
    pub unsafe fn from_foreign(device: &CudaDevice, ptr: u64, shape: &[usize]) -> Result<Self> {
        let n = element_count(shape)?;
        if n == 0 {
            return Self::uninit(device, shape);
        }
        if !ptr.is_multiple_of(16) {
            return Err(Error::Cuda {
                message: format!(
                    "device buffer at {ptr:#x} is not 16-byte aligned (the kernels load 16 \
                     bytes at a time): pass a copy"
                ),
            });
        }
        // SAFETY: the caller vouches for the memory; `owned: false` keeps it from being freed.
        let data = unsafe { device.stream().upgrade_device_ptr::<T>(ptr, n) };
        Ok(DeviceTensor {
            shape: shape.to_vec(),
            len: n,
            data: ManuallyDrop::new(data),
            owned: false,
            device: device.clone(),
        })
    }

    /// A tensor of `shape` filled with zeros.
    ///
    /// # Errors
    /// [`Error::Cuda`] when the allocation fails; [`Error::ShapeOverflow`] when the shape's
    /// element count overflows.
    pub fn zeros(device: &CudaDevice, shape: &[usize]) -> Result<Self> {
        let n = element_count(shape)?;
        let data = device
            .stream()
            .alloc_zeros::<T>(n.max(1))
            .map_err(|e| driver_error("allocating device memory", e))?;
        Ok(DeviceTensor {
            shape: shape.to_vec(),
            len: n,
            data: ManuallyDrop::new(data),
            owned: true,
            device: device.clone(),
        })
    }

    /// Copies row-major `data` of `shape` to the device.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `data.len()` is not the shape's element count;
    /// [`Error::ShapeOverflow`] when that count overflows; [`Error::Cuda`] when the copy
    /// fails.
    pub fn from_slice(device: &CudaDevice, data: &[T], shape: &[usize]) -> Result<Self> {
        let n = element_count(shape)?;
        if n != data.len() {
            return Err(Error::ShapeMismatch {
                layer: "DeviceTensor",
                argument: "data",
                expected: shape.to_vec(),
                got: vec![data.len()],
            });
        }
        let mut t = Self::uninit(device, shape)?;
        if n > 0 {
            device
                .stream()
                .memcpy_htod(data, &mut *t.data)
                .map_err(|e| driver_error("copying to the device", e))?;
        }
        Ok(t)
    }

    /// Copies an array (any layout) to the device, row-major.
    ///
    /// # Errors
    /// [`Error::Cuda`] when the allocation or the copy fails; [`Error::OutOfMemory`] when the
    /// row-major host copy of a strided array cannot be allocated.
    pub fn from_array<S: Data<Elem = T>, D: Dimension>(
        device: &CudaDevice,
        array: &ArrayBase<S, D>,
    ) -> Result<Self> {
        if let Some(x) = array.as_slice() {
            return Self::from_slice(device, x, array.shape());
        }
        let mut x = zeroed("a row-major copy of a strided array", array.len())?;
        for (d, &s) in x.iter_mut().zip(array.iter()) {
            *d = s;
        }
        Self::from_slice(device, &x, array.shape())
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device holding the tensor.
    pub fn device(&self) -> &CudaDevice {
        &self.device
    }

    /// Copies the elements to the host, row-major (waits for queued work).
    ///
    /// # Errors
    /// [`Error::Cuda`] when the copy (or earlier queued work) fails; [`Error::OutOfMemory`]
    /// when the host buffer cannot be allocated.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let mut v = zeroed("a host copy of a device tensor", self.len)?;
        self.device
            .stream()
            .memcpy_dtoh(&*self.data, v.as_mut_slice())
            .map_err(|e| driver_error("copying to the host", e))?;
        Ok(v)
    }

    /// Copies the tensor to a host array of its shape (waits for queued work).
    ///
    /// # Errors
    /// As [`DeviceTensor::to_vec`].
    pub fn to_array(&self) -> Result<ArrayD<T>> {
        let v = self.to_vec()?;
        Ok(ArrayD::from_shape_vec(IxDyn(&self.shape), v).expect("length matches the shape"))
    }

    /// A copy on the same device.
    ///
    /// # Errors
    /// [`Error::Cuda`] when the allocation or the copy fails.
    pub fn try_clone(&self) -> Result<Self> {
        let mut t = Self::uninit(&self.device, &self.shape)?;
        t.copy_from(self)?;
        Ok(t)
    }

    /// Overwrites this tensor with `other` (same shape, same device): a device-to-device copy.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] for another shape; [`Error::Cuda`] for another device or a
    /// failed copy.
    pub fn copy_from(&mut self, other: &DeviceTensor<T>) -> Result<()> {
        crate::error::check_shape("DeviceTensor", "other", &self.shape, &other.shape)?;
        same_device(&self.device, &other.device)?;
        if self.is_empty() {
            return Ok(());
        }
        self.device
            .stream()
            .memcpy_dtod(&*other.data, &mut *self.data)
            .map_err(|e| driver_error("copying on the device", e))
    }

    /// The cudarc buffer (for interop; it holds one element when the tensor is empty).
    pub fn cuda_slice(&self) -> &CudaSlice<T> {
        &self.data
    }

    /// The cudarc buffer, mutably (for interop).
    pub fn cuda_slice_mut(&mut self) -> &mut CudaSlice<T> {
        &mut self.data
    }
}

/// Checks that two handles are the same device.
pub(crate) fn same_device(a: &CudaDevice, b: &CudaDevice) -> Result<()> {
    if a.same_device(b) {
        Ok(())
    } else {
        Err(Error::Cuda {
            message: format!(
                "tensors are on different devices ({} and {}): copy them to one device first",
                a.ordinal(),
                b.ordinal()
            ),
        })
    }
}

/// A keep mask on the device: bit `i % 32` of 32-bit word `i / 32` is element `i`, in
/// `2 * ceil(len / 64)` words (so word pairs are the CPU [`BitMask`]'s `u64` words).
pub struct DeviceBits {
    len: usize,
    pub(crate) words: CudaSlice<u32>,
    device: CudaDevice,
}

impl std::fmt::Debug for DeviceBits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceBits")
            .field("len", &self.len)
            .field("device", &self.device.ordinal())
            .finish()
    }
}

/// What a host copy of a device mask is called in [`Error::OutOfMemory`].
const HOST_MASK: &str = "a host copy of a keep mask";

impl DeviceBits {
    /// Number of 32-bit words for `len` mask elements.
    pub(crate) fn word_count(len: usize) -> usize {
        2 * len.div_ceil(64)
    }

    /// A mask buffer whose words a kernel fills (every word is written).
    pub(crate) fn uninit(device: &CudaDevice, len: usize) -> Result<Self> {
        // An empty mask holds one unused word: CUDA does not allocate 0 bytes.
        // SAFETY: the mask kernels write every one of the `word_count(len)` words (bits past
        // `len` as 0) before anything reads them.
        let words = unsafe { device.stream().alloc::<u32>(Self::word_count(len).max(1)) }
            .map_err(|e| driver_error("allocating a device mask", e))?;
        Ok(DeviceBits {
            len,
            words,
            device: device.clone(),
        })
    }

    /// Copies a host mask to the device.
    pub(crate) fn from_host(device: &CudaDevice, mask: &BitMask) -> Result<Self> {
        let mut host: Vec<u32> = zeroed(HOST_MASK, Self::word_count(mask.len()))?;
        for (pair, &w) in host.chunks_exact_mut(2).zip(mask.words()) {
            pair.copy_from_slice(&[w as u32, (w >> 32) as u32]);
        }
        let mut bits = Self::uninit(device, mask.len())?;
        if !host.is_empty() {
            device
                .stream()
                .memcpy_htod(&host, &mut bits.words)
                .map_err(|e| driver_error("copying a mask to the device", e))?;
        }
        Ok(bits)
    }

    /// Number of mask elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mask has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device holding the mask.
    pub fn device(&self) -> &CudaDevice {
        &self.device
    }

    /// Device bytes held.
    pub fn bytes(&self) -> usize {
        Self::word_count(self.len) * 4
    }

    /// Copies the mask to the host.
    ///
    /// # Errors
    /// [`Error::Cuda`] when the copy (or earlier queued work) fails; [`Error::OutOfMemory`]
    /// when the host copy cannot be allocated.
    pub fn to_host(&self) -> Result<BitMask> {
        let mut mask = BitMask::zeros(self.len)?;
        let words = self.words_to_host()?;
        for i in 0..self.len {
            if (words[i / 32] >> (i % 32)) & 1 != 0 {
                mask.set(i, true);
            }
        }
        Ok(mask)
    }

    /// The raw 32-bit words, including the bits past `len` (which kernels set to 0).
    ///
    /// # Errors
    /// As [`DeviceBits::to_host`].
    pub fn words_to_host(&self) -> Result<Vec<u32>> {
        if self.len == 0 {
            return Ok(Vec::new());
        }
        let mut words = zeroed(HOST_MASK, Self::word_count(self.len))?;
        self.device
            .stream()
            .memcpy_dtoh(&self.words, words.as_mut_slice())
            .map_err(|e| driver_error("copying a mask to the host", e))?;
        Ok(words)
    }
}

/// Source and destination of a device kernel (the device analogue of [`crate::FlatIo`]).
#[doc(hidden)]
pub enum DeviceIo<'a, T: CudaElement> {
    /// Read `src`, write `dst` (same length, same device).
    Copy {
        /// The input.
        src: &'a DeviceTensor<T>,
        /// The output.
        dst: &'a mut DeviceTensor<T>,
    },
    /// Read and overwrite one tensor.
    InPlace(&'a mut DeviceTensor<T>),
}

impl<T: CudaElement> std::fmt::Debug for DeviceIo<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceIo::Copy { src, dst } => f
                .debug_struct("Copy")
                .field("src", src)
                .field("dst", dst)
                .finish(),
            DeviceIo::InPlace(buf) => f.debug_tuple("InPlace").field(buf).finish(),
        }
    }
}

impl<T: CudaElement> DeviceIo<'_, T> {
    /// The device of the output.
    pub(crate) fn device(&self) -> CudaDevice {
        match self {
            DeviceIo::Copy { dst, .. } => dst.device.clone(),
            DeviceIo::InPlace(buf) => buf.device.clone(),
        }
    }

    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        match self {
            DeviceIo::Copy { dst, .. } => dst.len(),
            DeviceIo::InPlace(buf) => buf.len(),
        }
    }
}
