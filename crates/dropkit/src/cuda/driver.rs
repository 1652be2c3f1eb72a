//! Loading the CUDA libraries (the driver, NVRTC) and turning their failures into dropkit's
//! errors: what the device, interop, source and tensor code all use, so none of them needs
//! another for it.

use cudarc::driver::DriverError;

use crate::error::{Error, Result};

/// Text of a caught panic's payload.
pub(crate) fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs a cudarc call that may panic (a driver library without a symbol cudarc resolves
/// lazily), turning the panic into [`Error::CudaUnavailable`].
pub(crate) fn guarded<R>(what: &str, f: impl FnOnce() -> R) -> Result<R> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| Error::CudaUnavailable {
        reason: format!(
            "{what}: the CUDA driver library failed ({}); an NVIDIA driver for CUDA 12.4 or \
                 newer is needed",
            panic_text(&p)
        ),
    })
}

/// A driver error as dropkit's error.
pub(crate) fn driver_error(what: &str, e: DriverError) -> Error {
    Error::Cuda {
        message: format!("{what}: {e}"),
    }
}

/// Checks that the driver library can be loaded, without letting cudarc panic.
///
/// # Errors
/// [`Error::CudaUnavailable`] naming the library when it is not found.
pub fn driver_present() -> Result<()> {
    // SAFETY: probing loads libcuda with libloading (running the driver's own initializers)
    // and unloads it; nothing of ours is touched.
    if unsafe { cudarc::driver::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(Error::CudaUnavailable {
            reason: "the NVIDIA driver library (libcuda.so.1) was not found: install the NVIDIA \
                     driver (dropkit needs nothing else at run time)"
                .into(),
        })
    }
}

/// Whether NVRTC can be loaded.
pub(crate) fn nvrtc_present() -> bool {
    // SAFETY: probing loads the library with libloading and unloads it; NVRTC's initializers
    // do not touch our state.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// What to say when NVRTC is needed and missing.
pub(crate) fn nvrtc_missing(why: &str) -> Error {
    Error::CudaUnavailable {
        reason: format!(
            "{why}, and NVRTC (libnvrtc.so, libnvrtc.so.13 or libnvrtc.so.12) was not found: \
             install the CUDA toolkit's NVRTC or `pip install nvidia-cuda-nvrtc-cu12` and put \
             its lib folder on LD_LIBRARY_PATH"
        ),
    }
}
