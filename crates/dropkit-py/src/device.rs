//! Device arrays (PyTorch, CuPy, Numba on a CUDA GPU): read through
//! `__cuda_array_interface__` (version 2 or 3) and computed by the core's CUDA path on the
//! arrays' own memory, without a host copy.
//!
//! # Call flow
//!
//! A layer's `forward(x)` or `backward(input, x)` on a device array enters Rust once (the
//! layer method) and returns to Python once; the steps that need the array's framework are
//! calls from here into Python, never back into Rust:
//!
//! 1. [`route`] reads `x.__cuda_array_interface__`, the only read of it in the call (a
//!    numpy array is not asked). An `AttributeError` means a host array, which the numpy path
//!    takes, unless `x.__dlpack_device__()` is a CUDA device (then DLPack, as also for a
//!    `TypeError` or `KeyError` of the interface, PyTorch's for bfloat16) or the CPU (then
//!    the host path, `host.rs`); any other error is the framework's and is raised as it is
//!    (PyTorch's for a tensor that requires grad). A DLPack array (`dlpack.rs`) is exported
//!    once with `__dlpack__(stream=1, max_version=(1, 0))`, its capsule consumed and read
//!    into the same [`CudaArray`] (read-only when a versioned tensor says so), and its deleter
//!    runs at the end of the call.
//! 2. [`call`] parses that dict once into a [`CudaArray`]: pointer, shape, dtype, read-only
//!    flag, contiguity, strides, stream. Every later step reads the struct. A malformed dict is
//!    an error naming its field; a dtype other than float16/float32/float64 a `TypeError`; in
//!    place, a read-only array or one whose elements share memory (zero or overlapping
//!    strides) a `ValueError` (before anything is made or drawn).
//! 3. Unless the call is in place on an array the kernels take as it is (C-contiguous,
//!    16-byte aligned), one call of the Python helper `dropkit._device.new_array(x, copy)`
//!    makes, with `x`'s framework, the array the kernels write: a C-contiguous copy of `x`
//!    when `x` is not ready (the kernels then work in place on the copy), else an empty output
//!    like `x`. Its interface is parsed once too, and it must be ready, writeable, of `x`'s
//!    dtype and shape, and not overlap `x`.
//! 4. Every array the kernels touch is checked with the driver before its memory is: device
//!    memory, the described bytes inside the allocation holding the address, all on one
//!    device. Then, with the GIL released, the layer is locked and the kernels run between the
//!    arrays' streams: dropkit's stream waits for theirs, theirs then wait for dropkit's (an
//!    array without a stream: the call returns when the work is done).
//! 5. In place on a copy, the result goes back with `x[...] = copy` (the framework's own
//!    device copy, queued on its current stream, the copy's stream, which already waits for
//!    the kernels).
//! 6. The call returns `x` (in place) or the new array, an array of `x`'s framework.

use std::sync::{Mutex, PoisonError};

use dropkit::cuda::{pointer_info, CudaDevice, CudaElement, CudaModule, DeviceIo, DeviceTensor};
use dropkit::{Error, Module};
use pyo3::exceptions::{PyAttributeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyEllipsis};

use crate::convert;
use crate::dlpack::{self, DlArray, DlDtype as Dtype, Managed, KDL_CPU, KDL_CUDA};
use crate::error::to_py_err;

/// Which path takes `x`: a device array is described by its `__cuda_array_interface__`
/// when it has one; else (the attribute raises `AttributeError`, or refuses the dtype, see
/// [`refuses_dtype`]) by DLPack when `x.__dlpack_device__()` is a CUDA device. A DLPack array
/// on the CPU (`kDLCPU`) that is not a numpy array takes the host path (`host.rs`); anything
/// else the numpy path, which takes numpy arrays and refuses the rest.
///
/// # Errors
/// What the attribute raises, other than `AttributeError` (PyTorch's error for a tensor that
/// requires grad), and its dtype error when DLPack offers neither a CUDA device nor the CPU;
/// `TypeError` for a DLPack device other than CUDA and the CPU.
pub(crate) fn route<'py>(x: &Bound<'py, PyAny>) -> PyResult<Route<'py>> {
    if x.cast::<numpy::PyUntypedArray>().is_ok() {
        return Ok(Route::Numpy);
    }
    let py = x.py();
    match x.getattr(intern!(py, "__cuda_array_interface__")) {
        Ok(cai) => Ok(Route::Device(Source::Interface(cai))),
        Err(e) if e.is_instance_of::<PyAttributeError>(py) || refuses_dtype(py, &e) => {
            match dlpack::device(x)? {
                Some((KDL_CUDA, _)) => Ok(Route::Device(Source::Dlpack)),
                Some((KDL_CPU, _)) => Ok(Route::Host),
                Some((t, id)) => Err(PyTypeError::new_err(format!(
                    "a {} on DLPack device ({t}, {id}), {}: dropkit takes CUDA (kDLCUDA) device \
                     arrays and host arrays",
                    type_name(x),
                    dlpack::device_name(t)
                ))),
                None if refuses_dtype(py, &e) => Err(e),
                None => Ok(Route::Numpy),
            }
        }
        Err(e) => Err(e),
    }
}

/// The path an array argument takes (see [`route`]).
pub(crate) enum Route<'py> {
    /// The numpy path (`calls.rs`): numpy arrays, and anything else, which it refuses.
    Numpy,
    /// The device path ([`call`]).
    Device(Source<'py>),
    /// A DLPack array in host memory (`kDLCPU`) that is not a numpy array: the host path
    /// (`host.rs`).
    Host,
}

/// Whether `e`, raised by `__cuda_array_interface__`, may be a refused dtype: a `TypeError`,
/// or PyTorch's `KeyError` (its dtype-to-typestr table has no bfloat16).
fn refuses_dtype(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<PyTypeError>(py) || e.is_instance_of::<pyo3::exceptions::PyKeyError>(py)
}

/// Reads the description of `x` (called `argument`) from `source`: the interface dict parsed
/// once, or a DLPack capsule consumed (its deleter runs when the returned [`Managed`] is
/// dropped: keep it until the kernels are done).
///
/// # Errors
/// What [`CudaArray::parse`] or [`dlpack::take`] refuse; `ValueError` for a capsule that is
/// not on the CUDA device `__dlpack_device__` named.
fn describe(
    x: &Bound<'_, PyAny>,
    source: &Source<'_>,
    argument: &str,
) -> PyResult<(CudaArray, Option<Managed>)> {
    match source {
        Source::Interface(cai) => Ok((CudaArray::parse(cai, argument)?, None)),
        Source::Dlpack => {
            let (managed, array) = dlpack::export(x, Some(DLPACK_STREAM as i64), argument)?;
            if array.device.0 != KDL_CUDA {
                return Err(PyValueError::new_err(format!(
                    "{argument}.__dlpack_device__() is a CUDA device but its DLPack tensor is on \
                     device type {} ({})",
                    array.device.0,
                    dlpack::device_name(array.device.0)
                )));
            }
            Ok((CudaArray::from_dlpack(array), Some(managed)))
        }
    }
}

/// The shape of `input` for a device backward: its `shape` attribute, whatever kind of array
/// it is (only the shape is read).
///
/// # Errors
/// `TypeError` when `input` has no `shape` of non-negative ints.
pub(crate) fn shape_of(input: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    input
        .getattr(intern!(input.py(), "shape"))
        .and_then(|s| s.extract())
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "input has no shape of non-negative ints (a {}): backward reads input.shape",
                type_name(input)
            ))
        })
}

/// The stream a DLPack producer is asked to make its data ready on: CUDA's legacy default
/// stream (DLPack's `stream=1`), which dropkit's stream then waits for, and which waits for
/// dropkit's after the kernels (as an array's own stream does in [`ordered`]).
const DLPACK_STREAM: u64 = 1;

/// Where a device array is described: its `__cuda_array_interface__`, or DLPack.
pub(crate) enum Source<'py> {
    /// The `__cuda_array_interface__` dict (not yet parsed).
    Interface(Bound<'py, PyAny>),
    /// `__dlpack__` on a CUDA device (`__dlpack_device__` said `kDLCUDA`): a framework dtype
    /// the interface does not describe (bfloat16), or an array without the interface.
    Dlpack,
}

/// One array's `__cuda_array_interface__`, parsed once.
struct CudaArray {
    ptr: u64,
    shape: Vec<usize>,
    dtype: Dtype,
    readonly: bool,
    /// Row-major without gaps (strides absent, or those of a C-contiguous array).
    contiguous: bool,
    /// The byte strides, when the interface gives them.
    strides: Option<Vec<isize>>,
    /// The stream the array's producer queued its work on (`None`: its data is ready).
    stream: Option<u64>,
}

impl CudaArray {
    /// A DLPack tensor's description: read-only when its versioned tensor says so
    /// (unversioned DLPack has no read-only flag), its data ready on [`DLPACK_STREAM`].
    fn from_dlpack(a: DlArray) -> CudaArray {
        let contiguous = a
            .strides
            .as_ref()
            .is_none_or(|s| c_contiguous(&a.shape, s, a.dtype.itemsize()));
        CudaArray {
            ptr: a.ptr,
            shape: a.shape,
            dtype: a.dtype,
            readonly: a.readonly,
            contiguous,
            strides: a.strides,
            stream: Some(DLPACK_STREAM),
        }
    }

    /// Parses `interface`, the `__cuda_array_interface__` of the array called `argument`.
    ///
    /// # Errors
    /// `TypeError` for a non-dict or a dtype other than float16/float32/float64; `ValueError`
    /// naming the field for a missing or malformed field, and for a mask.
    fn parse(interface: &Bound<'_, PyAny>, argument: &str) -> PyResult<CudaArray> {
        let dict = interface.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{argument}.__cuda_array_interface__ is a {}, not a dict",
                type_name(interface)
            ))
        })?;
        let field = Field { dict, argument };
        let shape: Vec<usize> = field.required("shape", "a tuple of non-negative ints", |v| {
            v.extract().ok()
        })?;
        let typestr: String =
            field.required("typestr", "a str such as '<f4'", |v| v.extract().ok())?;
        let dtype = match typestr.as_str() {
            "<f2" | "=f2" => Dtype::F16,
            "<f4" | "=f4" => Dtype::F32,
            "<f8" | "=f8" => Dtype::F64,
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "{argument} is a device array of dtype {typestr} (its typestr): accepted on \
                     the device are float16 (<f2), float32 (<f4) and float64 (<f8)"
                )))
            }
        };
        let (ptr, readonly) = field.required(
            "data",
            "a tuple (pointer: int >= 0, read_only: bool)",
            |v| {
                let (ptr, readonly): (u64, Bound<'_, PyAny>) = v.extract().ok()?;
                Some((ptr, readonly.is_truthy().ok()?))
            },
        )?;
        let strides: Option<Vec<isize>> =
            field.optional("strides", "None or a tuple of ints, one per axis", |v| {
                let strides: Vec<isize> = v.extract().ok()?;
                (strides.len() == shape.len()).then_some(strides)
            })?;
        let masked = field.optional("mask", "None", |_| Some(()))?.is_some();
        if masked {
            return Err(PyValueError::new_err(format!(
                "{argument} is a masked device array: dropkit takes unmasked arrays"
            )));
        }
        let stream: Option<u64> =
            field.optional("stream", "None or a stream handle (an int >= 0)", |v| {
                v.extract().ok()
            })?;
        let contiguous = strides
            .as_ref()
            .is_none_or(|s| c_contiguous(&shape, s, dtype.itemsize()));
        Ok(CudaArray {
            ptr,
            shape,
            dtype,
            readonly,
            contiguous,
            strides,
            stream,
        })
    }

    /// What the kernels take as it is: C-contiguous and 16-byte aligned (or empty).
    fn ready(&self) -> bool {
        self.is_empty() || (self.contiguous && self.ptr.is_multiple_of(16))
    }

    fn bytes(&self) -> Option<u64> {
        self.shape
            .iter()
            .try_fold(self.dtype.itemsize(), |n, &d| n.checked_mul(d as u64))
    }

    fn is_empty(&self) -> bool {
        self.shape.contains(&0)
    }

    /// Refuses an array whose elements share memory (zero or overlapping strides: PyTorch's
    /// `expand`, `as_strided`) as the destination of an in-place call, as the numpy path does:
    /// writing its contiguous copy back would give an array that disagrees with the mask
    /// backward applies.
    fn check_no_shared_elements(&self, argument: &str) -> PyResult<()> {
        match &self.strides {
            Some(strides)
                if convert::elements_share_memory(
                    &self.shape,
                    strides,
                    self.dtype.itemsize() as usize,
                ) =>
            {
                Err(convert::shared_memory_error(argument, &self.shape, strides))
            }
            _ => Ok(()),
        }
    }
}

/// The fields of one interface dict, for [`CudaArray::parse`].
struct Field<'a, 'py> {
    dict: &'a Bound<'py, PyDict>,
    argument: &'a str,
}

impl<'py> Field<'_, 'py> {
    /// `dict[key]` converted by `convert` (`None`: not what `expected` says). A missing key
    /// and a `None` value are errors.
    fn required<T>(
        &self,
        key: &str,
        expected: &str,
        convert: impl FnOnce(&Bound<'py, PyAny>) -> Option<T>,
    ) -> PyResult<T> {
        match self.dict.get_item(key)? {
            None => Err(PyValueError::new_err(format!(
                "{}.__cuda_array_interface__ has no '{key}' (it must be {expected})",
                self.argument
            ))),
            Some(v) => convert(&v).ok_or_else(|| self.malformed(key, expected, &v)),
        }
    }

    /// As [`Field::required`], where a missing key or a `None` value is `Ok(None)`.
    fn optional<T>(
        &self,
        key: &str,
        expected: &str,
        convert: impl FnOnce(&Bound<'py, PyAny>) -> Option<T>,
    ) -> PyResult<Option<T>> {
        match self.dict.get_item(key)? {
            Some(v) if !v.is_none() => match convert(&v) {
                Some(t) => Ok(Some(t)),
                None => Err(self.malformed(key, expected, &v)),
            },
            _ => Ok(None),
        }
    }

    fn malformed(&self, key: &str, expected: &str, value: &Bound<'py, PyAny>) -> PyErr {
        let repr = value
            .repr()
            .map_or_else(|_| format!("a {}", type_name(value)), |r| r.to_string());
        PyValueError::new_err(format!(
            "{}.__cuda_array_interface__['{key}'] must be {expected}, not {repr}",
            self.argument
        ))
    }
}

fn type_name(x: &Bound<'_, PyAny>) -> String {
    x.get_type()
        .qualname()
        .map_or_else(|_| "?".to_string(), |n| n.to_string())
}

/// Row-major strides, ignoring the stride of any axis of length 1.
fn c_contiguous(shape: &[usize], strides: &[isize], itemsize: u64) -> bool {
    let mut expected = itemsize as isize;
    for (&n, &s) in shape.iter().zip(strides).rev() {
        if n != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(n as isize);
    }
    true
}

/// Checks `arrays` against the driver and returns the device they are on. All must be on
/// one device; each one's bytes must lie inside the allocation holding its address.
fn device_of(arrays: &[(&CudaArray, &str)]) -> PyResult<CudaDevice> {
    let mut ordinal = None;
    for (array, argument) in arrays {
        if array.is_empty() {
            continue;
        }
        let bytes = array.bytes().ok_or_else(|| {
            PyValueError::new_err(format!("{argument} has more elements than fit in memory"))
        })?;
        let info = pointer_info(array.ptr).map_err(to_py_err)?;
        if !info.holds(array.ptr, bytes) {
            return Err(PyValueError::new_err(format!(
                "{argument}'s __cuda_array_interface__ describes {bytes} bytes at {:#x}, beyond \
                 the device allocation holding that address ({} bytes from {:#x})",
                array.ptr, info.size, info.start
            )));
        }
        match ordinal {
            None => ordinal = Some(info.ordinal),
            Some(o) if o != info.ordinal => {
                return Err(PyValueError::new_err(format!(
                    "{} is on CUDA device {o} and {argument} on device {}: move them to one \
                     device",
                    arrays[0].1, info.ordinal
                )))
            }
            Some(_) => {}
        }
    }
    CudaDevice::new(ordinal.unwrap_or(0)).map_err(to_py_err)
}

/// Checks the array `dropkit._device.new_array` made for `src`: writeable, ready for the
/// kernels, `src`'s dtype and shape, and no memory in common with `src`.
fn check_made(src: &CudaArray, made: &CudaArray, src_name: &str, made_name: &str) -> PyResult<()> {
    if made.readonly || !made.ready() {
        return Err(PyValueError::new_err(format!(
            "{made_name} is not a writeable, C-contiguous, 16-byte aligned device array"
        )));
    }
    if src.dtype != made.dtype || src.shape != made.shape {
        return Err(PyValueError::new_err(format!(
            "{made_name} must have {src_name}'s dtype and shape ({:?} {:?}), not {:?} {:?}",
            src.dtype, src.shape, made.dtype, made.shape
        )));
    }
    let bytes = src.bytes().unwrap_or(u64::MAX);
    let overlap =
        src.ptr < made.ptr.saturating_add(bytes) && made.ptr < src.ptr.saturating_add(bytes);
    if overlap && !src.is_empty() {
        return Err(PyValueError::new_err(format!(
            "{made_name} overlaps {src_name}"
        )));
    }
    Ok(())
}

/// Queues `f` on `dev` between the streams of `arrays`: dropkit's stream waits for theirs,
/// theirs wait for dropkit's after it (or the call blocks until done when one has none).
fn ordered(
    dev: &CudaDevice,
    streams: &[Option<u64>],
    f: impl FnOnce() -> dropkit::Result<()>,
) -> dropkit::Result<()> {
    for s in streams.iter().flatten() {
        // SAFETY: the stream comes from the array's producer, on the device the driver
        // reported for its memory (the primary context, which PyTorch, CuPy and Numba use).
        unsafe { dev.wait_for_stream(*s)? };
    }
    f()?;
    if streams.iter().any(Option::is_none) {
        dev.synchronize()?;
    }
    for s in streams.iter().flatten() {
        // SAFETY: as above.
        unsafe { dev.make_stream_wait(*s)? };
    }
    Ok(())
}

/// Which device call: a forward, or the backward of an input of the given shape.
#[derive(Clone, Copy)]
pub(crate) enum Pass<'a> {
    Forward,
    Backward(&'a [usize]),
}

impl Pass<'_> {
    /// What the array read and the array written are called in messages.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Pass::Forward => ("input", "output"),
            Pass::Backward(_) => ("grad_output", "grad_input"),
        }
    }
}

/// The kernels' call: in place on `src` (`dst` is `None`), or from `src` into `dst`.
fn run_typed<L, T>(
    layer: &Mutex<L>,
    dev: &CudaDevice,
    pass: Pass<'_>,
    src: &CudaArray,
    dst: Option<&CudaArray>,
) -> dropkit::Result<()>
where
    L: Module + CudaModule + Send,
    T: CudaElement,
{
    let mut streams = vec![src.stream];
    streams.extend(dst.map(|d| d.stream));
    streams.dedup();
    let mut guard = layer.lock().unwrap_or_else(PoisonError::into_inner);
    ordered(dev, &streams, || {
        // Both tensors below: device_of checked that the arrays' bytes lie in live device
        // allocations of `dev`, check_made that two arrays have no memory in common; the
        // streams are ordered around the work (`ordered`), and the tensors are dropped (never
        // freed) before this returns.
        // SAFETY: the source array's memory, as above.
        let mut a = unsafe { DeviceTensor::<T>::from_foreign(dev, src.ptr, &src.shape)? };
        let mut b;
        let io = match dst {
            None => DeviceIo::InPlace(&mut a),
            Some(dst) => {
                // SAFETY: the destination array's memory, as above.
                b = unsafe { DeviceTensor::<T>::from_foreign(dev, dst.ptr, &dst.shape)? };
                DeviceIo::Copy {
                    src: &a,
                    dst: &mut b,
                }
            }
        };
        match pass {
            Pass::Forward => guard.forward_device(&src.shape, io),
            Pass::Backward(input_shape) => guard.backward_device(input_shape, &src.shape, io),
        }
    })
}

/// Checks the arrays with the driver, then runs the kernels without the GIL.
fn execute<L: Module + CudaModule + Send>(
    py: Python<'_>,
    layer: &Mutex<L>,
    pass: Pass<'_>,
    src: (&CudaArray, &str),
    dst: Option<(&CudaArray, &str)>,
) -> PyResult<()> {
    let mut arrays = vec![src];
    arrays.extend(dst);
    let dev = device_of(&arrays)?;
    let (src, dst) = (src.0, dst.map(|d| d.0));
    py.detach(|| match src.dtype {
        Dtype::F16 => run_typed::<L, dropkit::half::f16>(layer, &dev, pass, src, dst),
        Dtype::Bf16 => run_typed::<L, dropkit::half::bf16>(layer, &dev, pass, src, dst),
        Dtype::F32 => run_typed::<L, f32>(layer, &dev, pass, src, dst),
        Dtype::F64 => run_typed::<L, f64>(layer, &dev, pass, src, dst),
    })
    .map_err(to_py_err)
}

/// The device forward of `layer` on `x` (`pass` is `Forward`), or its backward (`x` is
/// grad_output), where `source` is how [`route`] found `x` described.
/// Returns `x` overwritten (`inplace`) or a new array of `x`'s framework.
pub(crate) fn call<'py, L: Module + CudaModule + Send>(
    layer: &Mutex<L>,
    pass: Pass<'_>,
    x: &Bound<'py, PyAny>,
    source: &Source<'py>,
    inplace: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let py = x.py();
    let (src_name, out_name) = pass.names();
    // A DLPack tensor's deleter runs when its owner is dropped, at the end of the call.
    let (src, _src_owner) = describe(x, source, src_name)?;
    if inplace && src.readonly {
        return Err(to_py_err(Error::ReadOnlyArray { argument: src_name }));
    }
    if inplace {
        src.check_no_shared_elements(src_name)?;
    }
    let copy = !src.ready();
    if inplace && !copy {
        execute(py, layer, pass, (&src, src_name), None)?;
        return Ok(x.clone());
    }
    let made = py
        .import(intern!(py, "dropkit._device"))?
        .getattr(intern!(py, "new_array"))?
        .call1((x, copy))?;
    let made_name = if copy {
        format!("the contiguous copy of {src_name}")
    } else {
        out_name.to_string()
    };
    let Route::Device(made_source) = route(&made)? else {
        return Err(PyValueError::new_err(format!(
            "{made_name} is not a CUDA array"
        )));
    };
    let (work, _work_owner) = describe(&made, &made_source, &made_name)?;
    check_made(&src, &work, src_name, &made_name)?;
    if !copy {
        execute(py, layer, pass, (&src, src_name), Some((&work, &made_name)))?;
        return Ok(made);
    }
    execute(py, layer, pass, (&work, &made_name), None)?;
    if inplace {
        x.set_item(PyEllipsis::get(py), &made)?;
        return Ok(x.clone());
    }
    Ok(made)
}
