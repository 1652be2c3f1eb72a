//! Interop with another framework's CUDA memory and streams (PyTorch, CuPy): where a device
//! address lives ([`pointer_info`]), and ordering dropkit's stream with another stream
//! ([`CudaDevice::wait_for_stream`], [`CudaDevice::make_stream_wait`]).

use cudarc::driver::sys;

use super::device::CudaDevice;
use super::driver::{driver_error, driver_present, guarded};
use super::shared::PointerInfo;
use crate::error::{Error, Result};

/// Asks the driver which device and allocation hold `ptr` (memory of another framework, for
/// [`DeviceTensor::from_foreign`](super::DeviceTensor::from_foreign)).
///
/// # Errors
/// [`Error::CudaUnavailable`] without a driver; [`Error::Cuda`] when the driver knows no
/// device allocation at `ptr` (host memory, a freed or made-up address).
pub fn pointer_info(ptr: u64) -> Result<PointerInfo> {
    use cudarc::driver::sys::{CUmemorytype, CUpointer_attribute};
    driver_present()?;
    guarded("initializing the driver", cudarc::driver::result::init)?.map_err(|e| {
        Error::CudaUnavailable {
            reason: format!("the NVIDIA driver did not initialize: {e}"),
        }
    })?;
    let not_device = |why: String| Error::Cuda {
        message: format!("address {ptr:#x} is not CUDA device memory ({why})"),
    };
    let get = |attr: CUpointer_attribute, out: *mut std::ffi::c_void| {
        // SAFETY: each call writes one value of the attribute's documented type into a local
        // that `out` points to.
        unsafe { cudarc::driver::sys::cuPointerGetAttribute(out, attr, ptr) }.result()
    };
    let mut memory_type: u32 = 0;
    get(
        CUpointer_attribute::CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
        (&raw mut memory_type).cast(),
    )
    .map_err(|e| not_device(e.to_string()))?;
    if memory_type != CUmemorytype::CU_MEMORYTYPE_DEVICE as u32
        && memory_type != CUmemorytype::CU_MEMORYTYPE_UNIFIED as u32
    {
        return Err(not_device(format!(
            "the driver's memory type is {memory_type}"
        )));
    }
    let mut ordinal: i32 = -1;
    let mut start: u64 = 0;
    let mut size: usize = 0;
    get(
        CUpointer_attribute::CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
        (&raw mut ordinal).cast(),
    )
    .and_then(|()| {
        get(
            CUpointer_attribute::CU_POINTER_ATTRIBUTE_RANGE_START_ADDR,
            (&raw mut start).cast(),
        )
    })
    .and_then(|()| {
        get(
            CUpointer_attribute::CU_POINTER_ATTRIBUTE_RANGE_SIZE,
            (&raw mut size).cast(),
        )
    })
    .map_err(|e| not_device(e.to_string()))?;
    Ok(PointerInfo {
        ordinal: usize::try_from(ordinal).map_err(|_| not_device("no device ordinal".into()))?,
        start,
        size: size as u64,
    })
}

impl CudaDevice {
    /// Makes the work dropkit queues from now on wait for the work queued so far on another
    /// framework's `stream` (a `CUstream` as an integer: 0 or 1 the legacy default stream, 2
    /// the per-thread default stream, as in `__cuda_array_interface__`). Does not block.
    ///
    /// # Errors
    /// [`Error::Cuda`] when a driver call fails.
    ///
    /// # Safety
    /// `stream` must be a live stream of this device's context (the primary context, which
    /// PyTorch and CuPy use) or one of the special values above.
    pub unsafe fn wait_for_stream(&self, stream: u64) -> Result<()> {
        // SAFETY: as the caller promises; our stream is alive.
        unsafe { self.order(stream as usize as sys::CUstream, self.stream().cu_stream()) }
    }

    /// Makes the work queued from now on on another framework's `stream` wait for the work
    /// dropkit queued so far (so its next use of an output sees it). Does not block.
    ///
    /// # Errors
    /// [`Error::Cuda`] when a driver call fails.
    ///
    /// # Safety
    /// As [`CudaDevice::wait_for_stream`].
    pub unsafe fn make_stream_wait(&self, stream: u64) -> Result<()> {
        // SAFETY: as the caller promises; our stream is alive.
        unsafe { self.order(self.stream().cu_stream(), stream as usize as sys::CUstream) }
    }

    /// Records an event on `first` and makes `then` wait for it.
    ///
    /// # Safety
    /// `first` and `then` must be live streams of this device's context (or the special
    /// values [`CudaDevice::wait_for_stream`] names).
    unsafe fn order(&self, first: sys::CUstream, then: sys::CUstream) -> Result<()> {
        use cudarc::driver::result::{event, stream};
        self.context()
            .bind_to_thread()
            .map_err(|e| driver_error("binding the context", e))?;
        let ev = event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING)
            .map_err(|e| driver_error("creating an event", e))?;
        // SAFETY: `ev` is a live event; the streams are live (the caller's promise). The
        // driver releases a destroyed event once the wait that uses it is done.
        let waited = unsafe {
            event::record(ev, first).and_then(|()| {
                stream::wait_event(then, ev, sys::CUevent_wait_flags::CU_EVENT_WAIT_DEFAULT)
            })
        };
        // SAFETY: created above, not used after this.
        let destroyed = unsafe { event::destroy(ev) };
        waited
            .and(destroyed)
            .map_err(|e| driver_error("ordering dropkit's stream with another stream", e))
    }
}
