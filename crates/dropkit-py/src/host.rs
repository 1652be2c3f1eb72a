//! Host arrays that are not numpy arrays: a CPU tensor read through DLPack (`kDLCPU`), such as
//! a bfloat16 `torch.Tensor` on the CPU, whose dtype numpy lacks (float16, float32 and float64
//! tensors of any framework take this path too; numpy arrays never do).
//!
//! # Call flow
//!
//! 1. `device::route` found `x.__dlpack_device__()` on the CPU and `x` not a numpy array.
//! 2. [`call`] exports it once (`dlpack::export`: `__dlpack__(stream=None,
//!    max_version=(1, 0))`), reads its `DLManagedTensor` (or `DLManagedTensorVersioned`) and
//!    keeps the consumed tensor until the call returns: its deleter runs exactly once, when
//!    the call ends, also on every error. The tensor must be on the CPU and of a dtype the
//!    core takes (float16, bfloat16, float32, float64); in place it must say it is writeable
//!    (a DLPack 1.0 capsule with its read-only flag clear: an unversioned capsule does not
//!    say, and JAX hands immutable arrays over that way) and no two of its elements may share
//!    memory.
//! 3. Not in place, one call of the Python helper `dropkit._device.host_output(x, dtype)`
//!    says, before anything is drawn, how the result goes back: the framework's
//!    `from_dlpack` (`torch.from_dlpack`), or a numpy array (`None`; bfloat16 with
//!    ml_dtypes). It raises the `TypeError` when neither can hold the result.
//! 4. The core reads the tensor's memory in place through an `ndarray` view, whatever its
//!    strides (in elements, zero and negative included; none means row-major) and
//!    `byte_offset`. Only a tensor whose first element is misaligned for its type (a
//!    `byte_offset` that is not a multiple of the item size) is read (and, in place, written
//!    back) element by element through an aligned copy.
//! 5. In place, the call returns `x`. Else the core's new array is handed to the framework
//!    without a copy ([`Exported`]: an unversioned DLPack capsule whose deleter frees it), or
//!    becomes a numpy array.

use dropkit::half::{bf16, f16};
use dropkit::Error;
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis, Dimension, IxDyn, ShapeBuilder};
use numpy::IntoPyArray;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;

use crate::calls::Compute;
use crate::convert;
use crate::dlpack::{self, DlArray, DlDtype, DlElement, Exported, KDL_CPU};
use crate::error::to_py_err;

/// Runs `c` on the host DLPack array `x` (called `argument`): a new array of `x`'s framework
/// (or a numpy array, see the module's call flow), or with `inplace` `x` overwritten and
/// returned.
///
/// # Errors
/// What `__dlpack__` raises; `TypeError` for a dtype other than the four float types, and
/// when nothing can hold the result; `ValueError` for a capsule on another device, a tensor
/// whose layout overflows, and in place for a read-only tensor, one whose capsule does not
/// say whether it is (DLPack before 1.0), or one whose elements share memory; the core's
/// errors.
pub(crate) fn call<'py, C: Compute>(
    c: &C,
    x: &Bound<'py, PyAny>,
    argument: &'static str,
    inplace: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let py = x.py();
    // The tensor's deleter runs when `_owner` is dropped: after the work, on every path.
    let (_owner, a) = dlpack::export(x, None, argument)?;
    if a.device.0 != KDL_CPU {
        return Err(PyValueError::new_err(format!(
            "{argument}.__dlpack_device__() is the CPU but its DLPack tensor is on device type \
             {} ({})",
            a.device.0,
            dlpack::device_name(a.device.0)
        )));
    }
    let layout = Layout::of(&a, argument)?;
    if inplace {
        if a.readonly {
            return Err(to_py_err(Error::ReadOnlyArray { argument }));
        }
        if !a.versioned {
            return Err(PyValueError::new_err(unknown_writability(argument, x)));
        }
        if convert::elements_share_memory(&a.shape, &layout.strides, layout.itemsize) {
            return Err(convert::shared_memory_error(
                argument,
                &a.shape,
                &layout.strides,
            ));
        }
        match a.dtype {
            DlDtype::F16 => in_place::<C, f16>(c, py, &layout)?,
            DlDtype::Bf16 => in_place::<C, bf16>(c, py, &layout)?,
            DlDtype::F32 => in_place::<C, f32>(c, py, &layout)?,
            DlDtype::F64 => in_place::<C, f64>(c, py, &layout)?,
        }
        return Ok(x.clone());
    }
    let how = py
        .import(intern!(py, "dropkit._device"))?
        .getattr(intern!(py, "host_output"))?
        .call1((x, a.dtype.name()))?;
    match a.dtype {
        DlDtype::F16 => new_array::<C, f16>(c, py, &layout, &how),
        DlDtype::Bf16 => new_array::<C, bf16>(c, py, &layout, &how),
        DlDtype::F32 => new_array::<C, f32>(c, py, &layout, &how),
        DlDtype::F64 => new_array::<C, f64>(c, py, &layout, &how),
    }
}

/// The message refusing to write in place a tensor handed over without DLPack 1.0's read-only
/// flag: an unversioned capsule does not say whether its memory may be written (JAX's arrays
/// are immutable, yet their capsules are unversioned).
fn unknown_writability(argument: &str, x: &Bound<'_, PyAny>) -> String {
    let kind = x
        .get_type()
        .fully_qualified_name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string());
    format!(
        "{argument} (a {kind}) gave a DLPack capsule without DLPack 1.0's read-only flag, so \
         dropkit cannot tell whether its memory may be written: in place takes numpy arrays \
         and DLPack 1.0 tensors that say they are writeable (PyTorch's); use inplace=False"
    )
}

/// Where a DLPack tensor's elements lie, checked: every element's address is
/// `ptr + sum(index[k] * strides[k])`, and all of them lie in `[low, low + span)`.
#[derive(Debug)]
struct Layout {
    /// The first element's address.
    ptr: usize,
    shape: Vec<usize>,
    /// Byte strides (multiples of the item size), row-major ones when DLPack gave none.
    strides: Vec<isize>,
    itemsize: usize,
    /// The lowest address of an element.
    low: usize,
    /// Whether the tensor has no element.
    empty: bool,
}

impl Layout {
    /// Checks `a`'s layout: a non-null pointer unless it is empty, and every element's
    /// address computable without overflow (the bytes between the lowest and the highest
    /// fit in an `isize`).
    fn of(a: &DlArray, argument: &str) -> PyResult<Layout> {
        let itemsize = a.dtype.itemsize() as usize;
        let empty = a.shape.contains(&0);
        let overflow = || {
            PyValueError::new_err(format!(
                "{argument} is a DLPack tensor of shape {:?} and strides {:?} (elements) whose \
                 elements' addresses overflow",
                a.shape,
                a.strides
                    .as_ref()
                    .map(|s| s.iter().map(|b| b / itemsize as isize).collect::<Vec<_>>())
            ))
        };
        let strides = match &a.strides {
            Some(s) => s.clone(),
            None => {
                // Row-major; dlpack::read checked that the tensor's bytes fit in an isize.
                let mut strides = vec![0isize; a.shape.len()];
                let mut step = itemsize as isize;
                for (s, &n) in strides.iter_mut().zip(&a.shape).rev() {
                    *s = step;
                    step = step.saturating_mul(n as isize);
                }
                strides
            }
        };
        let ptr = usize::try_from(a.ptr).map_err(|_| overflow())?;
        if empty {
            return Ok(Layout {
                ptr,
                shape: a.shape.clone(),
                strides,
                itemsize,
                low: ptr,
                empty,
            });
        }
        if ptr == 0 {
            return Err(PyValueError::new_err(format!(
                "{argument} is a DLPack tensor of shape {:?} whose data pointer is NULL",
                a.shape
            )));
        }
        // The offsets of the lowest and the highest element from the first, in bytes.
        let (mut below, mut above) = (0i128, 0i128);
        for (&n, &s) in a.shape.iter().zip(&strides) {
            let reach = i128::from(s as i64) * (n as i128 - 1);
            if reach < 0 {
                below += reach;
            } else {
                above += reach;
            }
        }
        let low = ptr as i128 + below;
        let end = ptr as i128 + above + itemsize as i128;
        if low < 0 || end > usize::MAX as i128 || end - low > isize::MAX as i128 {
            return Err(overflow());
        }
        Ok(Layout {
            ptr,
            shape: a.shape.clone(),
            strides,
            itemsize,
            low: low as usize,
            empty,
        })
    }

    /// Whether an `ndarray` view can describe the tensor: its elements aligned for `T`.
    fn aligned<T>(&self) -> bool {
        self.low.is_multiple_of(std::mem::align_of::<T>())
    }

    /// The tensor's elements in row-major order, as the byte offsets from the first.
    fn offsets(&self) -> impl Iterator<Item = isize> + '_ {
        ndarray::indices(IxDyn(&self.shape))
            .into_iter()
            .map(|index| {
                index
                    .slice()
                    .iter()
                    .zip(&self.strides)
                    .map(|(&i, &s)| i as isize * s)
                    .sum()
            })
    }

    /// `(shape with strides in elements, made non-negative, and the axes to invert)` of a
    /// view whose pointer is at the lowest element.
    fn view_parts(&self) -> (ndarray::StrideShape<IxDyn>, Vec<usize>) {
        let elements: Vec<usize> = self
            .strides
            .iter()
            .map(|s| s.unsigned_abs() / self.itemsize)
            .collect();
        let inverted = (0..self.shape.len())
            .filter(|&k| self.strides[k] < 0 && self.shape[k] > 1)
            .collect();
        (IxDyn(&self.shape).strides(IxDyn(&elements)), inverted)
    }

    /// A read view of the tensor.
    ///
    /// # Safety
    /// The layout describes live memory of `T`s that nobody writes for `'a`, and is
    /// non-empty and [`Layout::aligned`].
    unsafe fn view<'a, T>(&self) -> ArrayViewD<'a, T> {
        let (shape, inverted) = self.view_parts();
        // SAFETY: the caller's promise; `low` is the lowest element, the strides are
        // non-negative and every element lies within `isize::MAX` bytes of it (Layout::of).
        let mut v = unsafe { ArrayViewD::from_shape_ptr(shape, self.low as *const T) };
        for k in inverted {
            v.invert_axis(Axis(k));
        }
        v
    }

    /// A write view of the tensor.
    ///
    /// # Safety
    /// As [`Layout::view`], and nothing else reads or writes the memory for `'a`, and no two
    /// elements share memory.
    unsafe fn view_mut<'a, T>(&self) -> ArrayViewMutD<'a, T> {
        let (shape, inverted) = self.view_parts();
        // SAFETY: as in `view`, and the elements are distinct (the caller's promise).
        let mut v = unsafe { ArrayViewMutD::from_shape_ptr(shape, self.low as *mut T) };
        for k in inverted {
            v.invert_axis(Axis(k));
        }
        v
    }

    /// A row-major copy of the tensor, read element by element (any alignment).
    ///
    /// # Safety
    /// The layout describes live memory of `T`s that nobody writes meanwhile.
    unsafe fn gather<T: DlElement>(&self) -> ArrayD<T> {
        let base = self.ptr as *const u8;
        let values: Vec<T> = self
            .offsets()
            // SAFETY: the caller's promise: each offset is an element of the tensor.
            .map(|off| unsafe { base.offset(off).cast::<T>().read_unaligned() })
            .collect();
        ArrayD::from_shape_vec(IxDyn(&self.shape), values)
            .expect("one value per element of the shape")
    }

    /// Writes `values` (row-major, the tensor's shape) into the tensor, element by element.
    ///
    /// # Safety
    /// The layout describes live, writeable memory of `T`s that nothing else uses meanwhile.
    unsafe fn scatter<T: DlElement>(&self, values: &ArrayD<T>) {
        let base = self.ptr as *mut u8;
        for (off, &v) in self.offsets().zip(values.iter()) {
            // SAFETY: the caller's promise: each offset is an element of the tensor.
            unsafe { base.offset(off).cast::<T>().write_unaligned(v) };
        }
    }
}

/// The core's result for the tensor, handed back as `how` says.
fn new_array<'py, C: Compute, T: DlElement + numpy::Element>(
    c: &C,
    py: Python<'py>,
    layout: &Layout,
    how: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let out = if layout.empty {
        c.new_array(py, ArrayD::<T>::zeros(IxDyn(&layout.shape)).view())
    } else if layout.aligned::<T>() {
        // SAFETY: the producer's tensor, alive until the call returns (its owner is held by
        // `call`), aligned and non-empty (checked), and only read here.
        c.new_array(py, unsafe { layout.view::<T>() })
    } else {
        // SAFETY: as above, read element by element.
        let copy = unsafe { layout.gather::<T>() };
        c.new_array(py, copy.view())
    }
    .map_err(to_py_err)?;
    if how.is_none() {
        return Ok(out.into_pyarray(py).into_any());
    }
    how.call1((Exported::new(out)?,))
}

/// The core's result written into the tensor.
fn in_place<C: Compute, T: DlElement>(c: &C, py: Python<'_>, layout: &Layout) -> PyResult<()> {
    if layout.empty {
        let mut nothing = ArrayD::<T>::zeros(IxDyn(&layout.shape));
        return c.in_place(py, nothing.view_mut()).map_err(to_py_err);
    }
    if layout.aligned::<T>() {
        // SAFETY: the producer's tensor, alive until the call returns, writeable (not
        // read-only: checked by `call`), with distinct elements (checked by `call`), aligned
        // and non-empty.
        return c
            .in_place(py, unsafe { layout.view_mut::<T>() })
            .map_err(to_py_err);
    }
    // SAFETY: as above, read element by element.
    let mut copy = unsafe { layout.gather::<T>() };
    c.in_place(py, copy.view_mut()).map_err(to_py_err)?;
    // SAFETY: as above, written element by element.
    unsafe { layout.scatter(&copy) };
    Ok(())
}

/// The shape of a backward's `input` when grad_output takes the host path: a numpy array's
/// (checked as the numpy path checks it), or any other array's `shape` attribute.
///
/// # Errors
/// As `convert::shape_of` for a numpy array; `TypeError` when another object has no shape of
/// non-negative ints; `ValueError` for a shape of more elements than an array can have.
pub(crate) fn input_shape(input: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    if input.cast::<numpy::PyUntypedArray>().is_ok() {
        return convert::shape_of(input, "input");
    }
    let shape = crate::device::shape_of(input)?;
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if count.is_none_or(|n| isize::try_from(n).is_err()) {
        return Err(PyValueError::new_err(format!(
            "input has shape {shape:?}, whose element count overflows: no array has that many \
             elements"
        )));
    }
    Ok(shape)
}
