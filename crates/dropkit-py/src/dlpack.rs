//! DLPack (the capsule protocol: `x.__dlpack_device__()`, `x.__dlpack__(stream=...)`): how the
//! device path reads a CUDA array that has no `__cuda_array_interface__` (a PyTorch bfloat16
//! tensor, a `jax.Array`).
//!
//! A capsule named `"dltensor"` holds a `DLManagedTensor` (DLPack's unversioned ABI, which
//! every producer gives a caller that does not ask for a version). [`take`] consumes it: it
//! renames the capsule `"used_dltensor"` (so the producer's capsule destructor leaves it
//! alone) and returns a [`Managed`] that calls the tensor's deleter exactly once, when it is
//! dropped (after the kernels are done), also when the tensor is then refused.

use std::ffi::{c_void, CStr};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// DLPack's `kDLCPU`.
pub(crate) const KDL_CPU: i32 = 1;
/// DLPack's `kDLCUDA`.
pub(crate) const KDL_CUDA: i32 = 2;

/// The name of an unconsumed DLPack capsule, and of a consumed one.
const DLTENSOR: &CStr = c"dltensor";
const USED_DLTENSOR: &CStr = c"used_dltensor";

#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct DLDevice {
    device_type: i32,
    device_id: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct DLDataType {
    code: u8,
    bits: u8,
    lanes: u16,
}

#[repr(C)]
#[derive(Debug)]
struct DLTensor {
    data: *mut c_void,
    device: DLDevice,
    ndim: i32,
    dtype: DLDataType,
    shape: *const i64,
    strides: *const i64,
    byte_offset: u64,
}

#[repr(C)]
#[derive(Debug)]
struct DLManagedTensor {
    dl_tensor: DLTensor,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

/// A consumed DLPack tensor: its deleter runs once, when this is dropped.
#[derive(Debug)]
pub(crate) struct Managed(*mut DLManagedTensor);

impl Drop for Managed {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from a valid "dltensor" capsule that this process consumed
        // (renamed), so nobody else calls its deleter; it is called here, once.
        unsafe {
            if let Some(deleter) = (*self.0).deleter {
                deleter(self.0);
            }
        }
    }
}

/// The element types the device path takes, by DLPack type code and bits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DlDtype {
    F16,
    Bf16,
    F32,
    F64,
}

impl DlDtype {
    /// numpy's (or ml_dtypes') name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            DlDtype::F16 => "float16",
            DlDtype::Bf16 => "bfloat16",
            DlDtype::F32 => "float32",
            DlDtype::F64 => "float64",
        }
    }

    /// Bytes per element.
    pub(crate) fn itemsize(self) -> u64 {
        match self {
            DlDtype::F16 | DlDtype::Bf16 => 2,
            DlDtype::F32 => 4,
            DlDtype::F64 => 8,
        }
    }
}

/// A DLPack tensor's description, read once from its capsule.
#[derive(Debug)]
pub(crate) struct DlArray {
    /// `data + byte_offset`: the first element.
    pub(crate) ptr: u64,
    /// `(device_type, device_id)`.
    pub(crate) device: (i32, i32),
    pub(crate) shape: Vec<usize>,
    /// Byte strides (DLPack gives them in elements); `None` when the tensor gives none
    /// (compact row-major).
    pub(crate) strides: Option<Vec<isize>>,
    pub(crate) dtype: DlDtype,
}

/// The `(device_type, device_id)` of `x.__dlpack_device__()` when `x` has both DLPack
/// methods, else `None`.
///
/// # Errors
/// What `__dlpack_device__` raises; `ValueError` when it returns no pair of ints.
pub(crate) fn device(x: &Bound<'_, PyAny>) -> PyResult<Option<(i32, i32)>> {
    if !x.hasattr("__dlpack__")? || !x.hasattr("__dlpack_device__")? {
        return Ok(None);
    }
    let d = x.call_method0("__dlpack_device__")?;
    d.extract::<(i32, i32)>().map(Some).map_err(|_| {
        PyValueError::new_err(format!(
            "__dlpack_device__() must return a pair of ints (device_type, device_id), not {}",
            d.repr().map_or_else(|_| "?".to_string(), |r| r.to_string())
        ))
    })
}

/// The name DLPack gives a device type, for messages.
pub(crate) fn device_name(device_type: i32) -> &'static str {
    match device_type {
        1 => "kDLCPU",
        2 => "kDLCUDA",
        3 => "kDLCUDAHost",
        4 => "kDLOpenCL",
        7 => "kDLVulkan",
        8 => "kDLMetal",
        9 => "kDLVPI",
        10 => "kDLROCM",
        11 => "kDLROCMHost",
        12 => "kDLExtDev",
        13 => "kDLCUDAManaged",
        14 => "kDLOneAPI",
        15 => "kDLWebGPU",
        16 => "kDLHexagon",
        _ => "an unknown DLPack device type",
    }
}

/// Calls `x.__dlpack__(stream=stream)` and consumes the capsule it returns (see [`take`]).
///
/// # Errors
/// What `__dlpack__` raises; what [`take`] refuses.
pub(crate) fn export(
    x: &Bound<'_, PyAny>,
    stream: Option<i64>,
    argument: &str,
) -> PyResult<(Managed, DlArray)> {
    let py = x.py();
    let kwargs = PyDict::new(py);
    kwargs.set_item("stream", stream)?;
    let capsule = x.call_method("__dlpack__", (), Some(&kwargs))?;
    take(&capsule, argument)
}

/// Consumes the DLPack capsule `capsule` (of the array called `argument`) and reads its
/// tensor. The deleter runs when the returned [`Managed`] is dropped, also when the tensor
/// is refused here (the error is returned after it ran).
///
/// # Errors
/// `TypeError` for an object that is not an unconsumed `"dltensor"` capsule, and for a dtype
/// other than float16, bfloat16, float32 and float64 (one lane); `ValueError` for a negative
/// rank or size, or a shape whose bytes overflow.
pub(crate) fn take(capsule: &Bound<'_, PyAny>, argument: &str) -> PyResult<(Managed, DlArray)> {
    let raw = capsule.as_ptr();
    // SAFETY: `raw` is a live object (borrowed from `capsule`); PyCapsule_IsValid accepts any
    // object and checks the type and the name.
    let valid = unsafe { pyo3::ffi::PyCapsule_IsValid(raw, DLTENSOR.as_ptr()) } == 1;
    if !valid {
        return Err(PyTypeError::new_err(format!(
            "{argument}.__dlpack__() returned a {}, not an unconsumed DLPack capsule named \
             'dltensor'",
            capsule
                .get_type()
                .qualname()
                .map_or_else(|_| "?".to_string(), |n| n.to_string())
        )));
    }
    // SAFETY: a valid capsule of that name (checked above).
    let ptr = unsafe { pyo3::ffi::PyCapsule_GetPointer(raw, DLTENSOR.as_ptr()) };
    if ptr.is_null() {
        return Err(PyErr::fetch(capsule.py()));
    }
    // SAFETY: as above; the name is a static string, as PyCapsule_SetName requires.
    if unsafe { pyo3::ffi::PyCapsule_SetName(raw, USED_DLTENSOR.as_ptr()) } != 0 {
        return Err(PyErr::fetch(capsule.py()));
    }
    let managed = Managed(ptr.cast());
    // SAFETY: the producer hands over a valid DLManagedTensor that stays valid until its
    // deleter runs, which `managed` does after this.
    let array = unsafe { read(&(*managed.0).dl_tensor, argument) }?;
    Ok((managed, array))
}

/// Reads a `DLTensor`.
///
/// # Safety
/// `t` must be a valid `DLTensor`: `shape` (and `strides` unless null) point to `ndim`
/// integers.
unsafe fn read(t: &DLTensor, argument: &str) -> PyResult<DlArray> {
    let DLDataType { code, bits, lanes } = t.dtype;
    let dtype = match (code, bits, lanes) {
        (2, 16, 1) => DlDtype::F16,
        (4, 16, 1) => DlDtype::Bf16,
        (2, 32, 1) => DlDtype::F32,
        (2, 64, 1) => DlDtype::F64,
        _ => {
            return Err(PyTypeError::new_err(format!(
                "{argument} is a DLPack tensor of dtype code {code}, {bits} bits, {lanes} \
                 lane(s): accepted are float16, bfloat16, float32 and float64 (one lane)"
            )))
        }
    };
    let ndim = usize::try_from(t.ndim).map_err(|_| {
        PyValueError::new_err(format!("{argument} is a DLPack tensor of rank {}", t.ndim))
    })?;
    let ints = |p: *const i64| -> Vec<i64> {
        if ndim == 0 || p.is_null() {
            Vec::new()
        } else {
            // SAFETY: the caller's promise: `p` points to `ndim` integers.
            unsafe { std::slice::from_raw_parts(p, ndim) }.to_vec()
        }
    };
    let raw_shape = ints(t.shape);
    if raw_shape.len() != ndim {
        return Err(PyValueError::new_err(format!(
            "{argument} is a DLPack tensor of rank {ndim} without a shape"
        )));
    }
    let shape = raw_shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<usize>, _>>()
        .map_err(|_| {
            PyValueError::new_err(format!(
                "{argument} is a DLPack tensor of shape {raw_shape:?}: sizes must be >= 0"
            ))
        })?;
    let too_big = || {
        PyValueError::new_err(format!(
            "{argument} is a DLPack tensor of shape {shape:?} whose bytes overflow"
        ))
    };
    shape
        .iter()
        .try_fold(dtype.itemsize(), |n, &d| n.checked_mul(d as u64))
        .ok_or_else(too_big)?;
    let strides = if t.strides.is_null() {
        None
    } else {
        let item = dtype.itemsize() as i64;
        let bytes = ints(t.strides)
            .iter()
            .map(|&s| s.checked_mul(item).and_then(|b| isize::try_from(b).ok()))
            .collect::<Option<Vec<isize>>>()
            .ok_or_else(too_big)?;
        Some(bytes)
    };
    let ptr = (t.data as u64).checked_add(t.byte_offset).ok_or_else(|| {
        PyValueError::new_err(format!(
            "{argument} is a DLPack tensor whose data pointer plus byte_offset overflows"
        ))
    })?;
    Ok(DlArray {
        ptr,
        device: (t.device.device_type, t.device.device_id),
        shape,
        strides,
        dtype,
    })
}

/// `dropkit._dropkit._dlpack_info(capsule)`: what [`take`] reads from a DLPack capsule, as a
/// dict (`ptr`, `device`, `shape`, `strides` in bytes or `None`, `dtype`); the capsule is
/// consumed and its deleter called. Internal: for the tests of the capsule parsing on
/// machines without a GPU.
#[pyfunction]
pub(crate) fn _dlpack_info<'py>(capsule: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let (managed, a) = take(capsule, "capsule")?;
    drop(managed);
    let d = PyDict::new(capsule.py());
    d.set_item("ptr", a.ptr)?;
    d.set_item("device", a.device)?;
    d.set_item("shape", a.shape)?;
    d.set_item("strides", a.strides)?;
    d.set_item("dtype", a.dtype.name())?;
    Ok(d)
}
