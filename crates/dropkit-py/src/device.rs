//! Device arrays (PyTorch, CuPy, Numba on a CUDA GPU): read through
//! `__cuda_array_interface__` (version 2 or 3) and computed by the core's CUDA path on the
//! arrays' own memory, without a copy.
//!
//! `dropkit/_device.py` does what needs the array's framework (allocating the output with
//! it, making a contiguous copy of a strided or misaligned array, copying an in-place
//! result back) and calls the two functions here with contiguous, 16-byte aligned arrays.
//! They check everything they are told against the driver before touching memory: the
//! address is device memory, the described bytes lie inside its allocation, and input and
//! output are on one device, with one dtype and shape. Ordering: dropkit's stream waits for
//! the arrays' streams before its kernels, and their streams wait for dropkit's after them
//! (an array without a stream: the call returns when the work is done).

use std::sync::{Mutex, PoisonError};

use dropkit::cuda::{pointer_info, CudaDevice, CudaElement, CudaModule, DeviceIo, DeviceTensor};
use dropkit::{Error, Module};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::to_py_err;

/// Whether `x` is a device array: not a numpy array, with a `__cuda_array_interface__`.
pub(crate) fn is_device_array(x: &Bound<'_, PyAny>) -> bool {
    x.cast::<numpy::PyUntypedArray>().is_err()
        && x.hasattr(pyo3::intern!(x.py(), "__cuda_array_interface__"))
            .unwrap_or(true) // the attribute exists but raised: the framework says why
}

/// Whether the kernels take the device array `x` as it is (C-contiguous, 16-byte aligned); else
/// `dropkit._device` copies it first.
///
/// # Errors
/// `TypeError`/`ValueError` for an interface dropkit cannot take at all (dtype, mask, fields).
pub(crate) fn ready(x: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(Cai::read(x, "input")?.ready())
}

/// Calls `dropkit._device.<name>(*args)`: the framework-side half of a device call.
pub(crate) fn call_helper<'py>(
    py: Python<'py>,
    name: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    py.import("dropkit._device")?.getattr(name)?.call1(args)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dtype {
    F32,
    F64,
}

/// One array's `__cuda_array_interface__`.
struct Cai {
    ptr: u64,
    shape: Vec<usize>,
    dtype: Dtype,
    readonly: bool,
    /// Row-major without gaps (strides absent, or those of a C-contiguous array).
    contiguous: bool,
    /// The stream the array's producer queued its work on (`None`: its data is ready).
    stream: Option<u64>,
}

impl Cai {
    fn read(x: &Bound<'_, PyAny>, argument: &str) -> PyResult<Cai> {
        let cai = x.getattr("__cuda_array_interface__")?;
        let cai = cai.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!("{argument}.__cuda_array_interface__ is not a dict"))
        })?;
        let item = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
            Ok(cai.get_item(key)?.filter(|v| !v.is_none()))
        };
        let missing = |key: &str| {
            PyValueError::new_err(format!(
                "{argument}.__cuda_array_interface__ has no {key:?}"
            ))
        };
        let shape: Vec<usize> = item("shape")?.ok_or_else(|| missing("shape"))?.extract()?;
        let typestr: String = item("typestr")?
            .ok_or_else(|| missing("typestr"))?
            .extract()?;
        let dtype = match typestr.as_str() {
            "<f4" | "=f4" => Dtype::F32,
            "<f8" | "=f8" => Dtype::F64,
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "{argument} is a device array of dtype {typestr}: accepted on the device are \
                     float32 (<f4) and float64 (<f8)"
                )))
            }
        };
        let (ptr, readonly): (u64, bool) =
            item("data")?.ok_or_else(|| missing("data"))?.extract()?;
        if item("mask")?.is_some() {
            return Err(PyValueError::new_err(format!(
                "{argument} is a masked device array: dropkit takes unmasked arrays"
            )));
        }
        let contiguous = match item("strides")? {
            None => true,
            Some(strides) => {
                let strides: Vec<isize> = strides.extract()?;
                let itemsize = if dtype == Dtype::F32 { 4 } else { 8 };
                c_contiguous(&shape, &strides, itemsize)
            }
        };
        let stream: Option<u64> = item("stream")?.map(|s| s.extract()).transpose()?;
        Ok(Cai {
            ptr,
            shape,
            dtype,
            readonly,
            contiguous,
            stream,
        })
    }

    /// What the kernels take as it is: C-contiguous and 16-byte aligned (or empty).
    fn ready(&self) -> bool {
        self.is_empty() || (self.contiguous && self.ptr % 16 == 0)
    }

    fn bytes(&self) -> Option<u64> {
        let itemsize: u64 = if self.dtype == Dtype::F32 { 4 } else { 8 };
        self.shape
            .iter()
            .try_fold(itemsize, |n, &d| n.checked_mul(d as u64))
    }

    fn is_empty(&self) -> bool {
        self.shape.contains(&0)
    }
}

/// Row-major strides, ignoring the stride of any axis of length 1.
fn c_contiguous(shape: &[usize], strides: &[isize], itemsize: isize) -> bool {
    if shape.len() != strides.len() {
        return false;
    }
    let mut expected = itemsize;
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
fn device_of(arrays: &[(&Cai, &str)]) -> PyResult<CudaDevice> {
    let mut ordinal = None;
    for (cai, argument) in arrays {
        if cai.is_empty() {
            continue;
        }
        let bytes = cai.bytes().ok_or_else(|| {
            PyValueError::new_err(format!("{argument} has more elements than fit in memory"))
        })?;
        let info = pointer_info(cai.ptr).map_err(to_py_err)?;
        if !info.holds(cai.ptr, bytes) {
            return Err(PyValueError::new_err(format!(
                "{argument}'s __cuda_array_interface__ describes {bytes} bytes at {:#x}, beyond \
                 the device allocation holding that address ({} bytes from {:#x})",
                cai.ptr, info.size, info.start
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

/// Checks that `out` can take the result for `src`: writeable, same dtype and shape, and
/// either the same memory (in place) or none of it.
fn check_output(src: &Cai, out: &Cai, src_name: &str, out_name: &'static str) -> PyResult<()> {
    if out.readonly {
        return Err(to_py_err(Error::ReadOnlyArray { argument: out_name }));
    }
    if src.dtype != out.dtype || src.shape != out.shape {
        return Err(PyValueError::new_err(format!(
            "{out_name} must have {src_name}'s dtype and shape ({:?} {:?}), not {:?} {:?}",
            src.dtype, src.shape, out.dtype, out.shape
        )));
    }
    let bytes = src.bytes().unwrap_or(u64::MAX);
    let overlap =
        src.ptr < out.ptr.saturating_add(bytes) && out.ptr < src.ptr.saturating_add(bytes);
    if overlap && src.ptr != out.ptr && !src.is_empty() {
        return Err(PyValueError::new_err(format!(
            "{out_name} overlaps {src_name} without being the same memory"
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

fn run_typed<L, T>(
    layer: &Mutex<L>,
    dev: &CudaDevice,
    pass: Pass<'_>,
    src: &Cai,
    out: &Cai,
) -> dropkit::Result<()>
where
    L: Module + CudaModule + Send,
    T: CudaElement,
{
    let mut streams = vec![src.stream, out.stream];
    streams.dedup();
    let mut guard = layer.lock().unwrap_or_else(PoisonError::into_inner);
    ordered(dev, &streams, || {
        // SAFETY (both tensors): device_of checked that the arrays' bytes lie in live device
        // allocations of `dev`, check_output that they are the same memory or disjoint; the
        // streams are ordered around the work (`ordered`), and the tensors are dropped (never
        // freed) before this returns.
        let mut dst = unsafe { DeviceTensor::<T>::from_foreign(dev, out.ptr, &out.shape)? };
        let x;
        let io = if out.ptr == src.ptr && !src.is_empty() {
            DeviceIo::InPlace(&mut dst)
        } else {
            x = unsafe { DeviceTensor::<T>::from_foreign(dev, src.ptr, &src.shape)? };
            DeviceIo::Copy {
                src: &x,
                dst: &mut dst,
            }
        };
        match pass {
            Pass::Forward => guard.forward_device(&src.shape, io),
            Pass::Backward(input_shape) => guard.backward_device(input_shape, &src.shape, io),
        }
    })
}

/// The device forward of `layer` (`x` into `out`; the same array: in place), or its backward
/// (`x` is grad_output, `out` grad_input).
pub(crate) fn run<L: Module + CudaModule + Send>(
    py: Python<'_>,
    layer: &Mutex<L>,
    pass: Pass<'_>,
    x: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let (src_name, out_name) = match pass {
        Pass::Forward => ("input", "output"),
        Pass::Backward(_) => ("grad_output", "grad_input"),
    };
    let src = Cai::read(x, src_name)?;
    let dst = Cai::read(out, out_name)?;
    for (cai, name) in [(&src, src_name), (&dst, out_name)] {
        if !cai.ready() {
            return Err(PyValueError::new_err(format!(
                "{name} is not C-contiguous and 16-byte aligned: dropkit's forward and backward \
                 copy such arrays first"
            )));
        }
    }
    check_output(&src, &dst, src_name, out_name)?;
    let dev = device_of(&[(&src, src_name), (&dst, out_name)])?;
    py.detach(|| match src.dtype {
        Dtype::F32 => run_typed::<L, f32>(layer, &dev, pass, &src, &dst),
        Dtype::F64 => run_typed::<L, f64>(layer, &dev, pass, &src, &dst),
    })
    .map_err(to_py_err)
}
