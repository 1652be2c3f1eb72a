//! What every layer class's methods do around the core call: lock the layer with the GIL
//! released, give it its seed, and run forward or backward ([`Compute`]: also what the
//! functional API computes) on a numpy array (device arrays are dispatched to `device`, CPU
//! DLPack arrays to `host`, by the class methods before these run; both of those run the
//! same [`Compute`]).

use std::sync::{Mutex, PoisonError};

use dropkit::{Element, GeneratorKind, Module};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};
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

/// What a computation reads and writes: a view it reads (the result is a new array), or one
/// it overwrites.
pub(crate) trait Compute {
    /// The result for `x`, a new array (in `x`'s memory order when that is a permutation of a
    /// row-major array, as the core's forward gives it).
    ///
    /// # Errors
    /// The core's.
    fn new_array<T: Element>(
        &self,
        py: Python<'_>,
        x: ArrayViewD<'_, T>,
    ) -> dropkit::Result<ArrayD<T>>;

    /// The result written into `x`.
    ///
    /// # Errors
    /// The core's; `x` is untouched then.
    fn in_place<T: Element>(&self, py: Python<'_>, x: ArrayViewMutD<'_, T>) -> dropkit::Result<()>;
}

/// A layer's forward.
pub(crate) struct Forward<'a, L>(pub(crate) &'a Mutex<L>);

impl<L: Module + Send> Compute for Forward<'_, L> {
    fn new_array<T: Element>(
        &self,
        py: Python<'_>,
        x: ArrayViewD<'_, T>,
    ) -> dropkit::Result<ArrayD<T>> {
        locked(py, self.0, |l| l.forward(&x))
    }

    fn in_place<T: Element>(&self, py: Python<'_>, x: ArrayViewMutD<'_, T>) -> dropkit::Result<()> {
        locked(py, self.0, |l| l.forward_inplace(x))
    }
}

/// A layer's backward, for an input of the given shape.
pub(crate) struct Backward<'a, L> {
    pub(crate) layer: &'a Mutex<L>,
    pub(crate) input_shape: &'a [usize],
}

// The input gradient of every dropout-family layer is a linear map of grad_output that does
// not depend on the input's values, and the core reads only `input.shape()`: a zero-stride
// view of that shape stands for the input (no conversion, no borrow).
impl<L: Module + Send> Compute for Backward<'_, L> {
    fn new_array<T: Element>(
        &self,
        py: Python<'_>,
        g: ArrayViewD<'_, T>,
    ) -> dropkit::Result<ArrayD<T>> {
        let zero = ndarray::arr0(T::from_f64(0.0));
        let input = zero
            .broadcast(ndarray::IxDyn(self.input_shape))
            .expect("a 0-d array broadcasts to any shape");
        locked(py, self.layer, |l| l.backward(&input, &g))
    }

    fn in_place<T: Element>(&self, py: Python<'_>, g: ArrayViewMutD<'_, T>) -> dropkit::Result<()> {
        let zero = ndarray::arr0(T::from_f64(0.0));
        let input = zero
            .broadcast(ndarray::IxDyn(self.input_shape))
            .expect("a 0-d array broadcasts to any shape");
        locked(py, self.layer, |l| l.backward_inplace(&input, g))
    }
}

/// `c` on a numpy array: a new array, or (`inplace`) `None` after writing `array`.
fn run_typed<'py, C, T>(
    c: &C,
    array: &Bound<'py, PyArrayDyn<T>>,
    argument: &'static str,
    inplace: bool,
) -> PyResult<Option<Bound<'py, PyAny>>>
where
    C: Compute,
    T: Element + numpy::Element,
{
    let py = array.py();
    if inplace {
        let mut rw = array.try_readwrite().map_err(|e| borrow_err(argument, e))?;
        c.in_place(py, rw.as_array_mut()).map_err(to_py_err)?;
        Ok(None)
    } else {
        let ro = array.try_readonly().map_err(|e| borrow_err(argument, e))?;
        let out = c.new_array(py, ro.as_array()).map_err(to_py_err)?;
        Ok(Some(out.into_pyarray(py).into_any()))
    }
}

/// `c` on the numpy array `x` (called `argument`), after the dtype and layout rules: a new
/// array, or with `inplace` `x` overwritten and returned.
pub(crate) fn run<'py, C: Compute>(
    c: &C,
    x: &Bound<'py, PyAny>,
    argument: &'static str,
    inplace: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let prepared = convert::prepare(x, argument, inplace)?;
    let out = each_float!(&prepared.array, a => run_typed(c, a, argument, inplace)?);
    match out {
        Some(out) => Ok(out),
        None => prepared.finish_inplace(),
    }
}

/// `forward(input)`: a new array, or with `inplace` the input overwritten and returned.
pub(crate) fn forward<'py, L: Module + Send>(
    layer: &Mutex<L>,
    input: &Bound<'py, PyAny>,
    inplace: bool,
) -> PyResult<Bound<'py, PyAny>> {
    run(&Forward(layer), input, "input", inplace)
}

/// `backward(input, grad_output)`: a new array, or with `inplace` grad_output overwritten
/// and returned. The result has grad_output's dtype (after the dtype rules).
pub(crate) fn backward<'py, L: Module + Send>(
    layer: &Mutex<L>,
    input: &Bound<'py, PyAny>,
    grad_output: &Bound<'py, PyAny>,
    inplace: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let input_shape = convert::shape_of(input, "input")?;
    let c = Backward {
        layer,
        input_shape: &input_shape,
    };
    run(&c, grad_output, "grad_output", inplace)
}
