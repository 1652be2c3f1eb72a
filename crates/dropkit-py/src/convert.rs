//! numpy <-> ndarray: which arrays the core reads directly, how the others are converted, and
//! the Python forms of seeds and generator states.
//!
//! Dtype rules: float32, float64, float16 and bfloat16 (`ml_dtypes.bfloat16`) arrays keep
//! their dtype; integer and bool arrays are converted to float32 (as BigDL's Python does);
//! anything else is a `TypeError`. A half-precision array is computed in float32 and rounded
//! once (the core's rule), so its result is bit for bit the float32 result, rounded.
//! ndarray subclasses are read as their data, except masked arrays and matrices (a
//! `TypeError`: a plain result would drop their meaning silently).
//! The core reads a float array in place, whatever its strides (transposed, Fortran order,
//! negative steps), as a rust-numpy view. Only arrays that an `ndarray` view cannot describe
//! soundly (non-native byte order, misaligned data, strides that are not a multiple of the item
//! size) go through a float copy made by numpy; in place, the result is then copied back into
//! the caller's array. In place, an array whose elements share memory is refused.

use dropkit::half::{bf16, f16};
use dropkit::{Error, GeneratorKind, GeneratorState};
use numpy::prelude::*;
use numpy::{PyArrayDescr, PyArrayDyn, PyUntypedArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyMapping};
use pyo3::PyTypeInfo;

use crate::error::to_py_err;

/// A float array the core can view directly.
pub(crate) enum FloatArray<'py> {
    /// float32.
    F32(Bound<'py, PyArrayDyn<f32>>),
    /// float64.
    F64(Bound<'py, PyArrayDyn<f64>>),
    /// float16.
    F16(Bound<'py, PyArrayDyn<f16>>),
    /// bfloat16 (`ml_dtypes.bfloat16`).
    Bf16(Bound<'py, PyArrayDyn<bf16>>),
}

/// Runs `$body` with `$a` bound to the typed array of whichever [`FloatArray`] `$array` is
/// (each arm is the same code, generic over the element type).
macro_rules! each_float {
    ($array:expr, $a:ident => $body:expr) => {
        match $array {
            $crate::convert::FloatArray::F32($a) => $body,
            $crate::convert::FloatArray::F64($a) => $body,
            $crate::convert::FloatArray::F16($a) => $body,
            $crate::convert::FloatArray::Bf16($a) => $body,
        }
    };
}
pub(crate) use each_float;

/// How a [`Prepared`] array relates to the caller's array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// It is the caller's array.
    Same,
    /// A float copy of a float array that cannot be viewed directly: written in place, it is
    /// copied back into the caller's array.
    FloatCopy,
    /// A float32 copy of an integer or bool array: written in place, the copy is the result
    /// (the caller's array cannot hold floats and stays as it was).
    Converted,
}

/// An array argument made ready for the core.
pub(crate) struct Prepared<'py> {
    /// The caller's array.
    pub(crate) original: Bound<'py, PyAny>,
    /// What the core reads (and, in place, writes).
    pub(crate) array: FloatArray<'py>,
    /// How `array` relates to `original`.
    pub(crate) origin: Origin,
}

/// The element types the core takes from numpy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elem {
    F32,
    F64,
    F16,
    Bf16,
}

/// What the dtype rules make of a dtype: the element type the core computes in, and whether
/// the array must be converted to it (integer and bool arrays, to float32).
struct Target {
    elem: Elem,
    converted: bool,
}

/// Whether `dtype` is `ml_dtypes.bfloat16`: a 2-byte dtype of that name. Only a process that
/// imported `ml_dtypes` (or another package registering the type) has one, so this never
/// imports anything.
fn is_bfloat16(dtype: &Bound<'_, PyArrayDescr>) -> PyResult<bool> {
    if dtype.itemsize() != 2 || dtype.kind() == b'f' {
        return Ok(false);
    }
    let name = dtype.getattr(intern!(dtype.py(), "name"))?;
    Ok(name.extract::<String>().is_ok_and(|n| n == "bfloat16"))
}

fn target_of(dtype: &Bound<'_, PyArrayDescr>) -> PyResult<Target> {
    let (elem, converted) = match (dtype.kind(), dtype.itemsize()) {
        (b'f', 4) => (Elem::F32, false),
        (b'f', 8) => (Elem::F64, false),
        (b'f', 2) => (Elem::F16, false),
        (b'i' | b'u' | b'b', _) => (Elem::F32, true),
        _ if is_bfloat16(dtype)? => (Elem::Bf16, false),
        _ => {
            return Err(to_py_err(Error::UnsupportedElementType {
                dtype: dtype.str()?.to_string(),
            }))
        }
    };
    Ok(Target { elem, converted })
}

/// The argument as a numpy array, or a `TypeError` naming what came.
fn as_ndarray<'a, 'py>(
    x: &'a Bound<'py, PyAny>,
    argument: &str,
) -> PyResult<&'a Bound<'py, PyUntypedArray>> {
    x.cast::<PyUntypedArray>().map_err(|_| {
        let got = x
            .get_type()
            .fully_qualified_name()
            .map_or_else(|_| "?".to_string(), |n| n.to_string());
        PyTypeError::new_err(format!(
            "{argument} must be a numpy.ndarray, got {got} (use numpy.asarray first)"
        ))
    })
}

/// Refuses the ndarray subclasses whose meaning a plain array result would silently drop:
/// `numpy.ma.MaskedArray` (the mask would be ignored) and `numpy.matrix` (the result would be
/// an ndarray, whose `*` is element-wise). Other subclasses are read as their data, as
/// `numpy.asarray` gives it, and results are plain ndarrays.
fn check_subclass(x: &Bound<'_, PyUntypedArray>, argument: &str) -> PyResult<()> {
    let py = x.py();
    if x.get_type().is(PyUntypedArray::type_object(py)) {
        return Ok(());
    }
    let masked = py
        .import(intern!(py, "numpy.ma"))?
        .getattr(intern!(py, "MaskedArray"))?;
    if x.is_instance(&masked)? {
        return Err(PyTypeError::new_err(format!(
            "{argument} is a numpy.ma.MaskedArray, whose mask dropkit would ignore: pass \
             {argument}.filled(value) to choose the values of the masked elements, or \
             numpy.asarray({argument}) to use the data beneath the mask"
        )));
    }
    // numpy.matrix is pending deprecation: a numpy without it has no matrices to refuse.
    let matrix = py
        .import(intern!(py, "numpy"))?
        .getattr(intern!(py, "matrix"));
    if let Ok(matrix) = matrix {
        if x.is_instance(&matrix)? {
            return Err(PyTypeError::new_err(format!(
                "{argument} is a numpy.matrix: the result would be a plain numpy.ndarray, whose * \
             is element-wise; pass numpy.asarray({argument}) (and numpy.asmatrix the result)"
            )));
        }
    }
    Ok(())
}

/// The most dimensions an array may have: the limit of the rust-numpy views the core reads
/// arrays through (numpy 2 allows 64).
const MAX_RANK: usize = 32;

/// Refuses an array of more than [`MAX_RANK`] dimensions, naming `argument`, its rank and
/// the limit (rust-numpy would panic on it).
fn check_rank(x: &Bound<'_, PyUntypedArray>, argument: &str) -> PyResult<()> {
    let rank = x.ndim();
    if rank <= MAX_RANK {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!(
            "{argument} has {rank} dimensions: dropkit takes arrays of at most {MAX_RANK}"
        )))
    }
}

/// Whether two elements of an array with this shape and these byte strides have a byte in
/// common (an `as_strided` view with overlapping or zero strides; numpy's own operations
/// never make one that is writeable). Exact: the quick test settles the layouts numpy makes,
/// and the rare layouts it cannot settle are decided from the sorted element offsets.
pub(crate) fn elements_share_memory(shape: &[usize], strides: &[isize], itemsize: usize) -> bool {
    if shape.contains(&0) {
        return false;
    }
    // An axis of length 1 adds no element; flipping an axis' sign mirrors the offsets.
    let mut axes: Vec<(usize, usize)> = shape
        .iter()
        .zip(strides)
        .filter(|(&n, _)| n > 1)
        .map(|(&n, &s)| (s.unsigned_abs(), n))
        .collect();
    axes.sort_unstable();
    // Quick test: with the axes sorted by stride, each one steps past everything the smaller
    // ones span. `span` ends as the bytes from the lowest element to the end of the highest.
    let mut span = itemsize;
    let mut disjoint = true;
    for &(stride, n) in &axes {
        disjoint &= stride >= span;
        match stride.checked_mul(n - 1).and_then(|d| span.checked_add(d)) {
            Some(s) => span = s,
            // No memory holds such an array: refuse it rather than reason about it.
            None => return true,
        }
    }
    if disjoint {
        return false;
    }
    // More bytes of elements than the span holds: two of them overlap.
    let count = axes.iter().try_fold(1usize, |c, &(_, n)| c.checked_mul(n));
    let Some(count) = count.filter(|c| c.checked_mul(itemsize).is_some_and(|b| b <= span)) else {
        return true;
    };
    // Every element's offset (each at most `span`, so none overflows): two elements share a
    // byte exactly when two sorted neighbours are less than an item apart. At most
    // `span / itemsize` offsets: no more than the elements the array's memory holds.
    let mut offsets: Vec<usize> = Vec::new();
    if offsets.try_reserve_exact(count).is_err() {
        return true;
    }
    offsets.push(0);
    for &(stride, n) in &axes {
        let below = offsets.len();
        for k in 1..n {
            for i in 0..below {
                offsets.push(offsets[i] + k * stride);
            }
        }
    }
    offsets.sort_unstable();
    offsets.windows(2).any(|w| w[1] - w[0] < itemsize)
}

/// The `ValueError` for an array whose elements share memory, to be written in place.
pub(crate) fn shared_memory_error(argument: &str, shape: &[usize], strides: &[isize]) -> PyErr {
    PyValueError::new_err(format!(
        "{argument} has elements that share memory (shape {}, strides {} bytes), so it cannot \
         be overwritten in place: pass a copy or use inplace=False",
        py_tuple(shape),
        py_tuple(strides)
    ))
}

/// `(4, 4)`, `(4,)`, `()`: a tuple as Python prints it.
fn py_tuple<T: std::fmt::Display>(items: &[T]) -> String {
    match items {
        [one] => format!("({one},)"),
        _ => {
            let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// Before an in-place write into the caller's array: it must be writeable (else the core's
/// `ReadOnlyArray`), and no two of its elements may share memory (a write through one would
/// change another, and the result would disagree with the mask backward applies).
fn check_overwritable(x: &Bound<'_, PyUntypedArray>, argument: &'static str) -> PyResult<()> {
    let py = x.py();
    let writeable: bool = x
        .getattr(intern!(py, "flags"))?
        .getattr(intern!(py, "writeable"))?
        .extract()?;
    if !writeable {
        return Err(to_py_err(Error::ReadOnlyArray { argument }));
    }
    if elements_share_memory(x.shape(), x.strides(), x.dtype().itemsize()) {
        return Err(shared_memory_error(argument, x.shape(), x.strides()));
    }
    Ok(())
}

/// Whether the core can take `x` as a rust-numpy view of its own dtype.
fn viewable(x: &Bound<'_, PyUntypedArray>) -> bool {
    let dtype = x.dtype();
    let itemsize = dtype.itemsize();
    dtype.is_native_byteorder() != Some(false)
        && x.is_aligned()
        && x.strides().iter().all(|s| s % itemsize as isize == 0)
}

/// Makes `x` ready for the core: the array itself when it can be viewed, else a copy in the
/// dtype the dtype rules give. `for_write`: the array will be written in place (an integer or
/// bool array is not: its float32 copy is, and is the result).
///
/// # Errors
/// `TypeError` for a non-array, a masked array or matrix, or an unsupported dtype;
/// `ValueError` for more than 32 dimensions, and, to be written in place, for a read-only array or one whose elements
/// share memory.
pub(crate) fn prepare<'py>(
    x: &Bound<'py, PyAny>,
    argument: &'static str,
    for_write: bool,
) -> PyResult<Prepared<'py>> {
    let arr = as_ndarray(x, argument)?;
    check_subclass(arr, argument)?;
    let target = target_of(&arr.dtype())?;
    check_rank(arr, argument)?;
    if for_write && !target.converted {
        check_overwritable(arr, argument)?;
    }
    let origin = if target.converted {
        Origin::Converted
    } else if viewable(arr) {
        Origin::Same
    } else {
        Origin::FloatCopy
    };
    let obj = if origin == Origin::Same {
        x.clone()
    } else {
        let py = x.py();
        let dtype = match target.elem {
            Elem::F32 => numpy::dtype::<f32>(py),
            Elem::F64 => numpy::dtype::<f64>(py),
            Elem::F16 => numpy::dtype::<f16>(py),
            // The caller's array is a bfloat16 array: the dtype is registered.
            Elem::Bf16 => numpy::dtype::<bf16>(py),
        };
        // `astype` copies into a fresh, aligned, native array (order "K").
        x.call_method1(intern!(py, "astype"), (dtype,))?
    };
    let array = match target.elem {
        Elem::F32 => FloatArray::F32(obj.cast_into::<PyArrayDyn<f32>>()?),
        Elem::F64 => FloatArray::F64(obj.cast_into::<PyArrayDyn<f64>>()?),
        Elem::F16 => FloatArray::F16(obj.cast_into::<PyArrayDyn<f16>>()?),
        Elem::Bf16 => FloatArray::Bf16(obj.cast_into::<PyArrayDyn<bf16>>()?),
    };
    Ok(Prepared {
        original: x.clone(),
        array,
        origin,
    })
}

/// The shape of `x`, checking that it is an array of a supported dtype (backward reads only
/// its input's shape).
///
/// # Errors
/// `TypeError` for a non-array or an unsupported dtype.
pub(crate) fn shape_of(x: &Bound<'_, PyAny>, argument: &str) -> PyResult<Vec<usize>> {
    let arr = as_ndarray(x, argument)?;
    target_of(&arr.dtype())?;
    Ok(arr.shape().to_vec())
}

impl<'py> Prepared<'py> {
    /// After an in-place write: copies the result back where it was computed in a copy, and
    /// returns what the caller gets (its own array, or the converted copy).
    pub(crate) fn finish_inplace(self) -> PyResult<Bound<'py, PyAny>> {
        let computed = each_float!(self.array, a => a.into_any());
        match self.origin {
            Origin::Same => Ok(self.original),
            Origin::FloatCopy => {
                let py = self.original.py();
                numpy::get_array_module(py)?
                    .call_method1(intern!(py, "copyto"), (&self.original, computed))?;
                Ok(self.original)
            }
            Origin::Converted => Ok(computed),
        }
    }
}

/// A seed: a Python int in `[0, 2**64)`.
///
/// # Errors
/// `TypeError` for a non-integer, `ValueError` for one out of range; both name `seed` and
/// show the value.
pub(crate) fn extract_seed(seed: &Bound<'_, PyAny>) -> PyResult<u64> {
    extract_u64(seed, "seed", false)
}

/// A draw index (the functional API): a Python int in `[0, 2**64)`.
///
/// # Errors
/// As [`extract_seed`], naming `draw`.
pub(crate) fn extract_draw(draw: &Bound<'_, PyAny>) -> PyResult<u64> {
    extract_u64(draw, "draw", false)
}

/// A data-parallel rank (`rank_seed`): a Python int in `[0, 2**64)`.
///
/// # Errors
/// As [`extract_seed`], naming `rank`.
pub(crate) fn extract_rank(rank: &Bound<'_, PyAny>) -> PyResult<u64> {
    extract_u64(rank, "rank", false)
}

/// An int in `[0, 2**64)` (or anything with `__index__`, a numpy integer) given as `name`.
/// `none_too`: the caller also takes `None` (the messages say so).
///
/// # Errors
/// `ValueError` for an int out of range, `TypeError` for anything else (a float, a string),
/// naming `name` and showing the value and its type.
fn extract_u64(value: &Bound<'_, PyAny>, name: &str, none_too: bool) -> PyResult<u64> {
    let py = value.py();
    value.extract::<u64>().map_err(|e| {
        let err = if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(py) {
            let accepted = if none_too {
                "None and integers"
            } else {
                "integers"
            };
            PyValueError::new_err(format!(
                "{name} = {} is out of range: accepted are {accepted} in [0, 2**64)",
                short_repr(value)
            ))
        } else {
            let accepted = if none_too { "None or an int" } else { "an int" };
            PyTypeError::new_err(format!(
                "{name} must be {accepted} in [0, 2**64), not {} ({})",
                short_repr(value),
                type_name(value)
            ))
        };
        err.set_cause(py, Some(e));
        err
    })
}

/// `repr(value)`, cut to 60 characters, so a message shows a value without quoting a whole
/// container.
fn short_repr(value: &Bound<'_, PyAny>) -> String {
    const MAX: usize = 60;
    let repr = value
        .repr()
        .map_or_else(|_| format!("<a {}>", type_name(value)), |r| r.to_string());
    if repr.chars().count() <= MAX {
        repr
    } else {
        let cut: String = repr.chars().take(MAX - 3).collect();
        format!("{cut}...")
    }
}

/// The name of `value`'s type: `float`, `str`, `numpy.float64` (a type outside the builtins
/// with its top-level package).
fn type_name(value: &Bound<'_, PyAny>) -> String {
    let ty = value.get_type();
    let name = ty
        .qualname()
        .map_or_else(|_| "?".to_string(), |n| n.to_string());
    let module = ty.module().map(|m| m.to_string()).unwrap_or_default();
    match module.split('.').next() {
        Some(top) if !top.is_empty() && top != "builtins" => format!("{top}.{name}"),
        _ => name,
    }
}

/// The typed arguments of the constructors, setters and methods, as PyO3's
/// `#[pyo3(from_py_with = convert::arg::init_p)]`: a value of the wrong type is a `TypeError`
/// whose message names the parameter and shows the value (PyO3's own names it only in an
/// exception note, which `str(e)` leaves out and Python < 3.11 lacks).
pub(crate) mod arg {
    use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
    use pyo3::prelude::*;

    use super::{short_repr, type_name};

    fn real(value: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
        value.extract::<f64>().map_err(|e| {
            let err = if e.is_instance_of::<PyOverflowError>(value.py()) {
                PyValueError::new_err(format!(
                    "{name} = {} is too large for a float",
                    short_repr(value)
                ))
            } else {
                PyTypeError::new_err(format!(
                    "{name} must be a real number (a float or an int), not {} ({})",
                    short_repr(value),
                    type_name(value)
                ))
            };
            err.set_cause(value.py(), Some(e));
            err
        })
    }

    fn boolean(value: &Bound<'_, PyAny>, name: &str) -> PyResult<bool> {
        value.extract::<bool>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{name} must be a bool (True or False), not {} ({})",
                short_repr(value),
                type_name(value)
            ))
        })
    }

    fn string(value: &Bound<'_, PyAny>, name: &str, accepted: &str) -> PyResult<String> {
        value.extract::<String>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{name} must be a str, {accepted}, not {} ({})",
                short_repr(value),
                type_name(value)
            ))
        })
    }

    /// One extraction function per parameter, named after it.
    macro_rules! named {
        ($($param:ident -> $ty:ty: $kind:ident $(, $accepted:literal)?;)*) => {$(
            pub(crate) fn $param(value: &Bound<'_, PyAny>) -> PyResult<$ty> {
                $kind(value, stringify!($param) $(, $accepted)?)
            }
        )*};
    }

    named! {
        init_p -> f64: real;
        p -> f64: real;
        rate -> f64: real;
        stddev -> f64: real;
        inplace -> bool: boolean;
        scale -> bool: boolean;
        store_noise -> bool: boolean;
        resampling -> bool: boolean;
        training -> bool: boolean;
    }

    /// A generator name, any case, as its canonical `&'static str` (so a signature's default
    /// stays the literal `"philox"`).
    ///
    /// # Errors
    /// `TypeError` for a non-str; `ValueError` (the core's `UnknownGenerator`) for a name
    /// other than philox / bigdl.
    pub(crate) fn generator(value: &Bound<'_, PyAny>) -> PyResult<&'static str> {
        let name = string(value, "generator", "\"philox\" or \"bigdl\"")?;
        Ok(super::parse_generator(&name)?.name())
    }

    /// A noise shape: `None`, or a tuple / list (any iterable but a str or bytes) whose
    /// entries are `None` (the input's size) or ints >= 1.
    ///
    /// # Errors
    /// `ValueError` naming `noise_shape` for a str, a non-iterable, an entry that is not an
    /// int or None (bools included), or an entry <= 0.
    pub(crate) fn noise_shape(value: &Bound<'_, PyAny>) -> PyResult<Option<Vec<Option<usize>>>> {
        use pyo3::types::{PyBool, PyBytes, PyString};
        if value.is_none() {
            return Ok(None);
        }
        let bad = |why: &str| {
            PyValueError::new_err(format!(
                "noise_shape = {} is invalid: {why}; accepted are None or a tuple of ints >= 1 \
                 and None (the input's size), one per axis",
                short_repr(value)
            ))
        };
        if value.is_instance_of::<PyString>() || value.is_instance_of::<PyBytes>() {
            return Err(bad("a string is not a shape"));
        }
        let Ok(iter) = value.try_iter() else {
            return Err(bad(&format!("a {} is not a sequence", type_name(value))));
        };
        let mut shape = Vec::new();
        for entry in iter {
            let entry = entry?;
            if entry.is_none() {
                shape.push(None);
                continue;
            }
            // Ints and integer scalars (anything with __index__, as numpy's), not bools.
            let int = (!entry.is_instance_of::<PyBool>())
                .then(|| entry.extract::<i128>().ok())
                .flatten();
            let Some(d) = int else {
                return Err(bad(&format!(
                    "the entry {} is not an int or None",
                    short_repr(&entry)
                )));
            };
            if d < 1 {
                return Err(bad(&format!("the entry {d} is not >= 1")));
            }
            let d = usize::try_from(d).map_err(|_| bad(&format!("the entry {d} is too large")))?;
            shape.push(Some(d));
        }
        Ok(Some(shape))
    }

    /// A data format, any case, as its canonical `&'static str`.
    ///
    /// # Errors
    /// `TypeError` for a non-str; `ValueError` (the core's `UnknownDataFormat`) for a format
    /// other than NCHW / NHWC / channels_first / channels_last.
    pub(crate) fn data_format(value: &Bound<'_, PyAny>) -> PyResult<&'static str> {
        let name = string(value, "data_format", "\"NCHW\" or \"NHWC\"")?;
        let format: dropkit::DataFormat = name.parse().map_err(super::to_py_err)?;
        Ok(format.name())
    }
}

/// A generator name: `"philox"` or `"bigdl"`, any case.
///
/// # Errors
/// `ValueError` (the core's `UnknownGenerator`) for any other name.
pub(crate) fn parse_generator(name: &str) -> PyResult<GeneratorKind> {
    name.parse::<GeneratorKind>().map_err(to_py_err)
}

/// A generator state as a dict: `{"generator": "philox", "seed": s, "draw": d}` or
/// `{"generator": "bigdl", "seed": s, "words": w, "pending_pair": None or int}`.
pub(crate) fn state_to_dict(py: Python<'_>, state: GeneratorState) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    match state {
        GeneratorState::Philox { seed, draw } => {
            d.set_item("generator", GeneratorKind::Philox.name())?;
            d.set_item("seed", seed)?;
            d.set_item("draw", draw)?;
        }
        GeneratorState::BigDl {
            seed,
            words,
            pending_pair,
        } => {
            d.set_item("generator", GeneratorKind::BigDl.name())?;
            d.set_item("seed", seed)?;
            d.set_item("words", words)?;
            d.set_item("pending_pair", pending_pair)?;
        }
    }
    Ok(d)
}

/// The inverse of [`state_to_dict`]: every key of that form, and no other.
///
/// # Errors
/// `TypeError` for a non-mapping or a value of the wrong type; `ValueError` for a missing or
/// unknown key, an unknown generator, or an integer out of range.
pub(crate) fn state_from_dict(state: &Bound<'_, PyAny>) -> PyResult<GeneratorState> {
    let map = state.cast::<PyMapping>().map_err(|_| {
        PyTypeError::new_err(format!(
            "a generator state must be a dict such as {{\"generator\": \"philox\", \"seed\": 0, \
             \"draw\": 0}}, not {} ({})",
            short_repr(state),
            type_name(state)
        ))
    })?;
    let kind = parse_generator(arg::generator(&required(map, "generator")?)?)?;
    let keys: &[&str] = match kind {
        GeneratorKind::Philox => &["generator", "seed", "draw"],
        GeneratorKind::BigDl => &["generator", "seed", "words", "pending_pair"],
    };
    for key in map.keys()?.iter() {
        let key_str: Option<String> = key.extract().ok();
        if !key_str.as_deref().is_some_and(|k| keys.contains(&k)) {
            return Err(PyValueError::new_err(format!(
                "generator state key {} is unknown: a {} state has the keys {keys:?}",
                key.repr()?,
                kind.name()
            )));
        }
    }
    let seed = extract_seed(&required(map, "seed")?)?;
    let counter = |key: &str| -> PyResult<u64> { extract_u64(&required(map, key)?, key, false) };
    Ok(match kind {
        GeneratorKind::Philox => GeneratorState::Philox {
            seed,
            draw: counter("draw")?,
        },
        GeneratorKind::BigDl => GeneratorState::BigDl {
            seed,
            words: counter("words")?,
            pending_pair: {
                let pending = required(map, "pending_pair")?;
                if pending.is_none() {
                    None
                } else {
                    Some(extract_u64(&pending, "pending_pair", true)?)
                }
            },
        },
    })
}

fn required<'py>(map: &Bound<'py, PyMapping>, key: &str) -> PyResult<Bound<'py, PyAny>> {
    if map.contains(key)? {
        map.get_item(key)
    } else {
        Err(PyValueError::new_err(format!(
            "generator state has no {key:?} key"
        )))
    }
}
