//! DLPack (the capsule protocol: `x.__dlpack_device__()`, `x.__dlpack__(...)`), both ways.
//!
//! Reading: how the device path reads a CUDA array that has no `__cuda_array_interface__` (a
//! PyTorch bfloat16 tensor, a `jax.Array`), and how the host path reads a CPU tensor that is
//! not a numpy array (a bfloat16 `torch.Tensor` on the CPU). [`export`] asks for DLPack 1.0
//! (`max_version=(1, 0)`: a capsule named `"dltensor_versioned"` holding a
//! `DLManagedTensorVersioned`, whose flags say whether the tensor is read-only), and falls
//! back to the unversioned ABI (`"dltensor"`, a `DLManagedTensor`) for a producer whose
//! `__dlpack__` has no `max_version`. [`take`] consumes either capsule: it renames it
//! `"used_dltensor[_versioned]"` (so the producer's capsule destructor leaves it alone) and
//! returns a [`Managed`] that calls the tensor's deleter exactly once, when it is dropped
//! (after the work is done), also when the tensor is then refused.
//!
//! Writing: [`Exported`] hands a result the core made (an owned array) to a framework's
//! `from_dlpack` without a copy, as an unversioned capsule whose deleter frees the array.

use std::ffi::{c_void, CStr};
use std::sync::Mutex;

use dropkit::half::{bf16, f16};
use ndarray::ArrayD;
use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::guard::guarded;

/// DLPack's `kDLCPU`.
pub(crate) const KDL_CPU: i32 = 1;
/// DLPack's `kDLCUDA`.
pub(crate) const KDL_CUDA: i32 = 2;

/// The names of unconsumed DLPack capsules, and of consumed ones.
const DLTENSOR: &CStr = c"dltensor";
const USED_DLTENSOR: &CStr = c"used_dltensor";
const DLTENSOR_VERSIONED: &CStr = c"dltensor_versioned";
const USED_DLTENSOR_VERSIONED: &CStr = c"used_dltensor_versioned";

/// The DLPack major version this reader knows (`DLPACK_MAJOR_VERSION` of DLPack 1.x).
const MAJOR_VERSION: u32 = 1;
/// `DLPACK_FLAG_BITMASK_READ_ONLY`: the consumer must not write the tensor.
const FLAG_READ_ONLY: u64 = 1;

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

#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct DLPackVersion {
    major: u32,
    minor: u32,
}

/// DLPack 1.0's managed tensor: a version, the read-only flag, the same `DLTensor`.
#[repr(C)]
#[derive(Debug)]
struct DLManagedTensorVersioned {
    version: DLPackVersion,
    manager_ctx: *mut c_void,
    deleter: Option<unsafe extern "C" fn(*mut DLManagedTensorVersioned)>,
    flags: u64,
    dl_tensor: DLTensor,
}

/// A consumed DLPack tensor: its deleter runs once, when this is dropped.
#[derive(Debug)]
pub(crate) struct Managed(Consumed);

/// The two managed-tensor ABIs.
#[derive(Debug)]
enum Consumed {
    /// From a `"dltensor"` capsule.
    Unversioned(*mut DLManagedTensor),
    /// From a `"dltensor_versioned"` capsule.
    Versioned(*mut DLManagedTensorVersioned),
}

impl Drop for Managed {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a valid capsule of its kind that this process
        // consumed (renamed), so nobody else calls its deleter; it is called here, once.
        unsafe {
            match self.0 {
                Consumed::Unversioned(m) => {
                    if let Some(deleter) = (*m).deleter {
                        deleter(m);
                    }
                }
                Consumed::Versioned(m) => {
                    if let Some(deleter) = (*m).deleter {
                        deleter(m);
                    }
                }
            }
        }
    }
}

/// The element types dropkit takes through DLPack, by DLPack type code and bits.
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

    /// DLPack's description of the type.
    fn data_type(self) -> DLDataType {
        let (code, bits) = match self {
            DlDtype::F16 => (2, 16),
            DlDtype::Bf16 => (4, 16),
            DlDtype::F32 => (2, 32),
            DlDtype::F64 => (2, 64),
        };
        DLDataType {
            code,
            bits,
            lanes: 1,
        }
    }
}

/// The element types of [`DlDtype`], as Rust types.
pub(crate) trait DlElement: dropkit::Element + Send + Sync {
    /// This type's DLPack dtype.
    const DTYPE: DlDtype;
}

impl DlElement for f16 {
    const DTYPE: DlDtype = DlDtype::F16;
}
impl DlElement for bf16 {
    const DTYPE: DlDtype = DlDtype::Bf16;
}
impl DlElement for f32 {
    const DTYPE: DlDtype = DlDtype::F32;
}
impl DlElement for f64 {
    const DTYPE: DlDtype = DlDtype::F64;
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
    /// The read-only flag of a versioned tensor (an unversioned one has none: `false`).
    pub(crate) readonly: bool,
    /// Whether the capsule held a `DLManagedTensorVersioned`.
    pub(crate) versioned: bool,
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

/// Calls `x.__dlpack__(stream=stream, max_version=(1, 0))` (or, when that is a `TypeError`,
/// a producer without DLPack 1.0: `x.__dlpack__(stream=stream)`) and consumes the capsule it
/// returns (see [`take`]).
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
    kwargs.set_item("max_version", (MAJOR_VERSION, 0))?;
    let capsule = match x.call_method("__dlpack__", (), Some(&kwargs)) {
        Ok(capsule) => capsule,
        Err(e) if e.is_instance_of::<PyTypeError>(py) => {
            kwargs.del_item("max_version")?;
            x.call_method("__dlpack__", (), Some(&kwargs))?
        }
        Err(e) => return Err(e),
    };
    take(&capsule, argument)
}

/// Consumes the DLPack capsule `capsule` (of the array called `argument`), versioned or not,
/// and reads its tensor. The deleter runs when the returned [`Managed`] is dropped, also when
/// the tensor is refused here (the error is returned after it ran).
///
/// # Errors
/// `TypeError` for an object that is not an unconsumed `"dltensor"` or `"dltensor_versioned"`
/// capsule, and for a dtype other than float16, bfloat16, float32 and float64 (one lane);
/// `BufferError` for a versioned tensor of a major version other than 1; `ValueError` for a
/// negative rank or size, or a shape whose bytes overflow.
pub(crate) fn take(capsule: &Bound<'_, PyAny>, argument: &str) -> PyResult<(Managed, DlArray)> {
    let raw = capsule.as_ptr();
    let valid = |name: &CStr| {
        // SAFETY: `raw` is a live object (borrowed from `capsule`); PyCapsule_IsValid accepts
        // any object and checks the type and the name.
        unsafe { pyo3::ffi::PyCapsule_IsValid(raw, name.as_ptr()) == 1 }
    };
    let (name, used) = if valid(DLTENSOR_VERSIONED) {
        (DLTENSOR_VERSIONED, USED_DLTENSOR_VERSIONED)
    } else if valid(DLTENSOR) {
        (DLTENSOR, USED_DLTENSOR)
    } else {
        return Err(PyTypeError::new_err(format!(
            "{argument}.__dlpack__() returned a {}, not an unconsumed DLPack capsule named \
             'dltensor' or 'dltensor_versioned'",
            capsule
                .get_type()
                .qualname()
                .map_or_else(|_| "?".to_string(), |n| n.to_string())
        )));
    };
    // SAFETY: a valid capsule of that name (checked above).
    let ptr = unsafe { pyo3::ffi::PyCapsule_GetPointer(raw, name.as_ptr()) };
    if ptr.is_null() {
        return Err(PyErr::fetch(capsule.py()));
    }
    // SAFETY: as above; the name is a static string, as PyCapsule_SetName requires.
    if unsafe { pyo3::ffi::PyCapsule_SetName(raw, used.as_ptr()) } != 0 {
        return Err(PyErr::fetch(capsule.py()));
    }
    if name == DLTENSOR {
        let managed = Managed(Consumed::Unversioned(ptr.cast()));
        // SAFETY: the producer hands over a valid DLManagedTensor that stays valid until its
        // deleter runs, which `managed` does after this.
        let array = unsafe { read(&(*ptr.cast::<DLManagedTensor>()).dl_tensor, argument) }?;
        return Ok((managed, array));
    }
    let m = ptr.cast::<DLManagedTensorVersioned>();
    let managed = Managed(Consumed::Versioned(m));
    // SAFETY: a valid DLManagedTensorVersioned, as above; its version comes first and is
    // read before anything that a later major version may lay out differently.
    let version = unsafe { (*m).version };
    if version.major != MAJOR_VERSION {
        return Err(PyBufferError::new_err(format!(
            "{argument} is a DLPack {}.{} tensor: dropkit reads DLPack {MAJOR_VERSION}.x \
             (it asked for max_version=({MAJOR_VERSION}, 0))",
            version.major, version.minor
        )));
    }
    // SAFETY: a DLPack 1.x tensor (checked above), valid until `managed` is dropped.
    let (flags, tensor) = unsafe { ((*m).flags, &(*m).dl_tensor) };
    // SAFETY: as above.
    let mut array = unsafe { read(tensor, argument) }?;
    array.readonly = flags & FLAG_READ_ONLY != 0;
    array.versioned = true;
    Ok((managed, array))
}

/// The name of a DLPack dtype, for messages: `int32`, `bfloat16`, `complex64`.
fn dtype_name(DLDataType { code, bits, lanes }: DLDataType) -> String {
    let kind = match code {
        0 => "int",
        1 => "uint",
        2 => "float",
        3 => "opaque handle ",
        4 => "bfloat",
        5 => "complex",
        6 => "bool",
        _ => "unknown type ",
    };
    let lanes = if lanes == 1 {
        String::new()
    } else {
        format!(" x {lanes} lanes")
    };
    format!("{kind}{bits}{lanes} (type code {code}, {bits} bits)")
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
                "{argument} is a DLPack tensor of dtype {}: accepted are float16, bfloat16, \
                 float32 and float64 (one lane)",
                dtype_name(t.dtype)
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
        .filter(|&n| isize::try_from(n).is_ok())
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
        readonly: false,
        versioned: false,
    })
}

/// `dropkit._dropkit._dlpack_info(capsule)`: what [`take`] reads from a DLPack capsule, as a
/// dict (`ptr`, `device`, `shape`, `strides` in bytes or `None`, `dtype`, `readonly`,
/// `versioned`); the capsule is consumed and its deleter called. Internal: for the tests of
/// the capsule parsing.
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
    d.set_item("readonly", a.readonly)?;
    d.set_item("versioned", a.versioned)?;
    Ok(d)
}

/// An owned array handed out through DLPack: the `DLManagedTensor` first (a pointer to this
/// is a pointer to it), then what its pointers point into.
#[repr(C)]
struct Owned<T> {
    managed: DLManagedTensor,
    shape: Vec<i64>,
    strides: Vec<i64>,
    data: ArrayD<T>,
}

/// The deleter of an [`Owned`]: frees it (its array included). Called once, by the consumer
/// or by the capsule's destructor, on any thread: it needs no GIL.
///
/// # Safety
/// `m` is the `managed` field of an `Owned<T>` made by [`Exported::new`], not yet deleted.
unsafe extern "C" fn delete_owned<T>(m: *mut DLManagedTensor) {
    // SAFETY: the caller's promise; `managed` is the first field of the repr(C) `Owned<T>`.
    drop(unsafe { Box::from_raw(m.cast::<Owned<T>>()) });
}

/// The destructor of the capsules [`Exported::__dlpack__`] makes: deletes the tensor unless a
/// consumer took it (renamed the capsule). Runs with the GIL, maybe with an exception set,
/// which none of the calls here touch.
///
/// # Safety
/// `capsule` is a capsule being destroyed.
unsafe extern "C" fn destroy_capsule(capsule: *mut pyo3::ffi::PyObject) {
    // SAFETY: IsValid takes any object; GetPointer is called on a capsule of that name.
    unsafe {
        if pyo3::ffi::PyCapsule_IsValid(capsule, DLTENSOR.as_ptr()) == 1 {
            let m = pyo3::ffi::PyCapsule_GetPointer(capsule, DLTENSOR.as_ptr());
            if !m.is_null() {
                let m = m.cast::<DLManagedTensor>();
                if let Some(deleter) = (*m).deleter {
                    deleter(m);
                }
            }
        }
    }
}

/// A `DLManagedTensor` this process made, not yet handed to a consumer: deleted when dropped.
#[derive(Debug)]
struct Pending(*mut DLManagedTensor);

// SAFETY: the tensor behind the pointer is an `Owned<T>` (T: Send) that nothing else
// references until it is handed out; its deleter runs on any thread.
unsafe impl Send for Pending {}

impl Drop for Pending {
    fn drop(&mut self) {
        // SAFETY: a tensor made by `Exported::new` and never handed out: deleted once, here.
        unsafe {
            if let Some(deleter) = (*self.0).deleter {
                deleter(self.0);
            }
        }
    }
}

/// `dropkit._dropkit._Exported`: a result of the core on the CPU (float16, bfloat16,
/// float32 or float64), given to a framework's `from_dlpack` (`torch.from_dlpack`) without a
/// copy. It offers DLPack once: `__dlpack_device__()` is `(1, 0)` (kDLCPU), and
/// `__dlpack__()` returns an unversioned `"dltensor"` capsule whose deleter frees the array.
/// Internal: the host path makes these, nothing else does.
#[pyclass(frozen, module = "dropkit._dropkit", name = "_Exported")]
#[derive(Debug)]
pub(crate) struct Exported {
    tensor: Mutex<Option<Pending>>,
    shape: Vec<usize>,
    dtype: DlDtype,
}

impl Exported {
    /// Wraps `data` (any strides the core gives: non-negative).
    ///
    /// # Errors
    /// `ValueError` for more dimensions than DLPack's `int32` rank holds.
    pub(crate) fn new<T: DlElement>(mut data: ArrayD<T>) -> PyResult<Exported> {
        let ndim = i32::try_from(data.ndim()).map_err(|_| {
            PyValueError::new_err(format!("a result of {} dimensions", data.ndim()))
        })?;
        let shape: Vec<usize> = data.shape().to_vec();
        let dl_shape: Vec<i64> = shape.iter().map(|&n| n as i64).collect();
        let strides: Vec<i64> = data.strides().iter().map(|&s| s as i64).collect();
        let ptr = data.as_mut_ptr().cast::<c_void>();
        let mut owned = Box::new(Owned {
            managed: DLManagedTensor {
                dl_tensor: DLTensor {
                    data: ptr,
                    device: DLDevice {
                        device_type: KDL_CPU,
                        device_id: 0,
                    },
                    ndim,
                    dtype: T::DTYPE.data_type(),
                    shape: std::ptr::null(),
                    strides: std::ptr::null(),
                    byte_offset: 0,
                },
                manager_ctx: std::ptr::null_mut(),
                deleter: Some(delete_owned::<T>),
            },
            shape: dl_shape,
            strides,
            data,
        });
        // The vectors' buffers do not move with the box.
        owned.managed.dl_tensor.shape = owned.shape.as_ptr();
        owned.managed.dl_tensor.strides = owned.strides.as_ptr();
        let raw = Box::into_raw(owned).cast::<DLManagedTensor>();
        Ok(Exported {
            tensor: Mutex::new(Some(Pending(raw))),
            shape,
            dtype: T::DTYPE,
        })
    }
}

impl Exported {
    /// The capsule of `__dlpack__`.
    fn export(&self, py: Python<'_>, dl_device: Option<(i32, i32)>) -> PyResult<Py<PyAny>> {
        if let Some(device) = dl_device.filter(|&d| d != (KDL_CPU, 0)) {
            return Err(PyBufferError::new_err(format!(
                "dl_device = {device:?}: this array is on the CPU, (1, 0), and dropkit does not \
                 copy it to another device"
            )));
        }
        let pending = self
            .tensor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .ok_or_else(|| PyBufferError::new_err("this array was already exported"))?;
        // SAFETY: a live DLManagedTensor and a static name; the destructor deletes it unless
        // a consumer renames the capsule (taking the tensor over).
        let capsule = unsafe {
            pyo3::ffi::PyCapsule_New(pending.0.cast(), DLTENSOR.as_ptr(), Some(destroy_capsule))
        };
        if capsule.is_null() {
            // `pending` is dropped with the error: the tensor is deleted.
            return Err(PyErr::fetch(py));
        }
        // The capsule owns the tensor now.
        std::mem::forget(pending);
        // SAFETY: a new reference, checked non-null above.
        Ok(unsafe { Bound::from_owned_ptr(py, capsule) }.unbind())
    }
}

#[pymethods]
impl Exported {
    /// __dlpack__(*, stream=None, max_version=None, dl_device=None, copy=None) -> capsule
    ///
    /// The array as an unversioned DLPack capsule, once (a second call is a BufferError).
    /// `stream` is ignored (host memory: nothing to wait for); `dl_device` must be None or
    /// (1, 0); `copy` is accepted either way (nothing else holds the array).
    #[pyo3(signature = (*, stream = None, max_version = None, dl_device = None, copy = None))]
    fn __dlpack__(
        &self,
        py: Python<'_>,
        stream: Option<Bound<'_, PyAny>>,
        max_version: Option<Bound<'_, PyAny>>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Py<PyAny>> {
        let _ = (stream, max_version, copy);
        guarded("dropkit._Exported.__dlpack__", || {
            self.export(py, dl_device)
        })
    }

    /// __dlpack_device__() -> (1, 0): kDLCPU.
    fn __dlpack_device__(&self) -> PyResult<(i32, i32)> {
        guarded("dropkit._Exported.__dlpack_device__", || Ok((KDL_CPU, 0)))
    }

    /// The array's shape.
    #[getter]
    fn shape(&self) -> PyResult<Vec<usize>> {
        guarded("dropkit._Exported.shape", || Ok(self.shape.clone()))
    }

    /// The array's dtype name: float16, bfloat16, float32 or float64.
    #[getter]
    fn dtype(&self) -> PyResult<&'static str> {
        guarded("dropkit._Exported.dtype", || Ok(self.dtype.name()))
    }

    fn __repr__(&self) -> PyResult<String> {
        guarded("dropkit._Exported.__repr__", || {
            Ok(format!(
                "dropkit._dropkit._Exported(shape={:?}, dtype={})",
                self.shape,
                self.dtype.name()
            ))
        })
    }
}
