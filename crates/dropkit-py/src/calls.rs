//! What every layer class's methods do around the core call: lock the layer with the GIL
//! released, give it its seed, and run forward or backward on a numpy array (device arrays
//! are dispatched to `device` by the class methods before these run).

use std::sync::{Mutex, PoisonError};

use dropkit::{Element, GeneratorKind, Module};
use numpy::prelude::*;
use numpy::PyArrayDyn;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::{self, each_float};
use crate::error::{borrow_err, to_py_err};

/// Runs `f` on the locked layer with the GIL released. The lock is taken and dropped inside
/// the GIL-free section, so no thread ever waits for the GIL while holding a layer.
pub(crate) fn locked<L: Send, R: Send>(
    py: Python<'_>,
    layer: &Mutex<L>,
    f: impl FnOnce(&mut L) -> R + Send,
) -> R {
    py.detach(|| {
        // A panic in the core (a broken internal invariant, reported to Python as a
        // RuntimeError by `guarded`) leaves a layer whose state is still a valid value:
        // recover it.
        let mut guard = layer.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    })
}

/// The constructed core layer with the class's common keyword arguments applied: the `inplace`
/// option, and a generator of its own when `seed` is set (`generator` names its algorithm).
/// Without a seed the layer follows the process default (`set_seed`), so a generator other
/// than the default "philox" would be ignored, and is refused instead.
pub(crate) fn configured<L: Module>(
    mut layer: L,
    seed: Option<&Bound<'_, PyAny>>,
    generator: &str,
    inplace: bool,
) -> PyResult<L> {
    layer.set_inplace(inplace);
    let kind = convert::parse_generator(generator)?;
    match seed {
        Some(seed) => {
            layer.set_seed(convert::extract_seed(seed)?, kind);
        }
        None if kind != GeneratorKind::Philox => {
            return Err(PyValueError::new_err(format!(
                "generator = {generator:?} needs a seed: pass seed=..., or call \
                 dropkit.set_seed(n, generator={generator:?}) for layers without a seed of their own"
            )))
        }
        None => {}
    }
    Ok(layer)
}

fn forward_typed<'py, L, T>(
    layer: &Mutex<L>,
    array: &Bound<'py, PyArrayDyn<T>>,
    inplace: bool,
) -> PyResult<Option<Bound<'py, PyAny>>>
where
    L: Module + Send,
    T: Element + numpy::Element,
{
    let py = array.py();
    if inplace {
        let mut rw = array.try_readwrite().map_err(|e| borrow_err("input", e))?;
        let view = rw.as_array_mut();
        locked(py, layer, |l| l.forward_inplace(view)).map_err(to_py_err)?;
        Ok(None)
    } else {
        let ro = array.try_readonly().map_err(|e| borrow_err("input", e))?;
        let view = ro.as_array();
        let out = locked(py, layer, |l| l.forward(&view)).map_err(to_py_err)?;
        Ok(Some(out.into_pyarray(py).into_any()))
    }
}

/// `forward(input)`: a new array, or with `inplace` the input overwritten and returned.
pub(crate) fn forward<'py, L: Module + Send>(
    layer: &Mutex<L>,
    input: &Bound<'py, PyAny>,
    inplace: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let prepared = convert::prepare(input, "input", inplace)?;
    let out = each_float!(&prepared.array, a => forward_typed(layer, a, inplace)?);
    match out {
        Some(out) => Ok(out),
        None => prepared.finish_inplace(),
    }
}

fn backward_typed<'py, L, T>(
    layer: &Mutex<L>,
    input_shape: &[usize],
    grad: &Bound<'py, PyArrayDyn<T>>,
    inplace: bool,
) -> PyResult<Option<Bound<'py, PyAny>>>
where
    L: Module + Send,
    T: Element + numpy::Element,
{
    let py = grad.py();
    // The input gradient of every dropout-family layer is a linear map of grad_output that
    // does not depend on the input's values, and the core reads only `input.shape()`: a
    // zero-stride view of that shape stands for the input (no conversion, no borrow).
    let zero = ndarray::arr0(T::from_f64(0.0));
    let input = zero
        .broadcast(ndarray::IxDyn(input_shape))
        .expect("a 0-d array broadcasts to any shape");
    if inplace {
        let mut rw = grad
            .try_readwrite()
            .map_err(|e| borrow_err("grad_output", e))?;
        let view = rw.as_array_mut();
        locked(py, layer, |l| l.backward_inplace(&input, view)).map_err(to_py_err)?;
        Ok(None)
    } else {
        let ro = grad
            .try_readonly()
            .map_err(|e| borrow_err("grad_output", e))?;
        let view = ro.as_array();
        let out = locked(py, layer, |l| l.backward(&input, &view)).map_err(to_py_err)?;
        Ok(Some(out.into_pyarray(py).into_any()))
    }
}

/// `backward(input, grad_output)`: a new array, or with `inplace` grad_output overwritten
/// and returned. The result has grad_output's dtype (after the dtype rules).
pub(crate) fn backward<'py, L: Module + Send>(
    layer: &Mutex<L>,
    input: &Bound<'py, PyAny>,
    grad_output: &Bound<'py, PyAny>,
    inplace: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let shape = convert::shape_of(input, "input")?;
    let prepared = convert::prepare(grad_output, "grad_output", inplace)?;
    let out = each_float!(&prepared.array, g => backward_typed(layer, &shape, g, inplace)?);
    match out {
        Some(out) => Ok(out),
        None => prepared.finish_inplace(),
    }
}
