//! `dropkit.functional`: the core's stateless functions ([`dropkit::functional`]) on numpy
//! arrays and CPU DLPack tensors. Each function is one core call on the arrays the layer
//! classes would read (the same dtype and layout rules, [`convert::prepare`], and the same
//! host DLPack path, `host.rs`), with the GIL released while it computes. The submodule is
//! `_dropkit._functional`; `python/dropkit/functional.py` re-exports it as
//! `dropkit.functional`.
//!
//! CUDA arrays are not taken yet: one is a `TypeError` that says so.

use dropkit::functional::{
    self as f, AlphaArgs, DropoutArgs, FeatureAlphaArgs, GaussianDropoutArgs, GaussianNoiseArgs,
    SpatialArgs,
};
use dropkit::{DataFormat, Element};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::calls::{self, Compute};
use crate::convert;
use crate::device::{self, Route};
use crate::error::to_py_err;
use crate::guard::guarded;
use crate::host;

/// Which function, with its arguments.
#[derive(Clone, Copy, Debug)]
enum Call<'a> {
    Dropout(DropoutArgs<'a>),
    GaussianDropout(GaussianDropoutArgs<'a>),
    GaussianNoise(GaussianNoiseArgs<'a>),
    Spatial1D(SpatialArgs),
    Spatial2D(SpatialArgs),
    Spatial3D(SpatialArgs),
    Alpha(AlphaArgs),
    FeatureAlpha(FeatureAlphaArgs),
}

impl Call<'_> {
    fn forward<T: Element>(self, x: &ArrayViewD<'_, T>) -> dropkit::Result<ArrayD<T>> {
        match self {
            Call::Dropout(a) => f::dropout(x, &a),
            Call::GaussianDropout(a) => f::gaussian_dropout(x, &a),
            Call::GaussianNoise(a) => f::gaussian_noise(x, &a),
            Call::Spatial1D(a) => f::spatial_dropout1d(x, &a),
            Call::Spatial2D(a) => f::spatial_dropout2d(x, &a),
            Call::Spatial3D(a) => f::spatial_dropout3d(x, &a),
            Call::Alpha(a) => f::alpha_dropout(x, &a),
            Call::FeatureAlpha(a) => f::feature_alpha_dropout(x, &a),
        }
    }

    fn backward<T: Element>(
        self,
        shape: &[usize],
        g: &ArrayViewD<'_, T>,
    ) -> dropkit::Result<ArrayD<T>> {
        match self {
            Call::Dropout(a) => f::dropout_backward(shape, g, &a),
            Call::GaussianDropout(a) => f::gaussian_dropout_backward(shape, g, &a),
            Call::GaussianNoise(a) => f::gaussian_noise_backward(shape, g, &a),
            Call::Spatial1D(a) => f::spatial_dropout1d_backward(shape, g, &a),
            Call::Spatial2D(a) => f::spatial_dropout2d_backward(shape, g, &a),
            Call::Spatial3D(a) => f::spatial_dropout3d_backward(shape, g, &a),
            Call::Alpha(a) => f::alpha_dropout_backward(shape, g, &a),
            Call::FeatureAlpha(a) => f::feature_alpha_dropout_backward(shape, g, &a),
        }
    }
}

/// A `TypeError` for a CUDA array given to the functional API (host arrays only for now).
fn refused(call: &str, argument: &str, x: &Bound<'_, PyAny>) -> PyErr {
    let ty = x.get_type();
    let module = ty.module().map(|m| m.to_string()).unwrap_or_default();
    let name = ty.qualname().map(|n| n.to_string()).unwrap_or_default();
    PyTypeError::new_err(format!(
        "{call}: {argument} is a CUDA array ({module}.{name}); dropkit.functional takes numpy \
         arrays and CPU DLPack tensors only for now (the layer classes take CUDA arrays)"
    ))
}

/// The seed and the draw: ints in `[0, 2**64)`, named in the errors.
fn key(seed: &Bound<'_, PyAny>, draw: &Bound<'_, PyAny>) -> PyResult<(u64, u64)> {
    Ok((convert::extract_seed(seed)?, convert::extract_draw(draw)?))
}

/// A function's forward, as the numpy and host paths run it (with the GIL released).
struct Forward<'a>(Call<'a>);

/// A function's backward, for an input of the given shape.
struct Backward<'a> {
    call: Call<'a>,
    input_shape: &'a [usize],
}

impl Compute for Forward<'_> {
    fn new_array<T: Element>(
        &self,
        py: Python<'_>,
        x: ArrayViewD<'_, T>,
    ) -> dropkit::Result<ArrayD<T>> {
        py.detach(|| self.0.forward(&x))
    }

    /// Not used: the functions return new arrays.
    fn in_place<T: Element>(
        &self,
        py: Python<'_>,
        mut x: ArrayViewMutD<'_, T>,
    ) -> dropkit::Result<()> {
        let y = self.new_array(py, x.view())?;
        x.assign(&y);
        Ok(())
    }
}

impl Compute for Backward<'_> {
    fn new_array<T: Element>(
        &self,
        py: Python<'_>,
        g: ArrayViewD<'_, T>,
    ) -> dropkit::Result<ArrayD<T>> {
        py.detach(|| self.call.backward(self.input_shape, &g))
    }

    /// Not used: the functions return new arrays.
    fn in_place<T: Element>(
        &self,
        py: Python<'_>,
        mut g: ArrayViewMutD<'_, T>,
    ) -> dropkit::Result<()> {
        let y = self.new_array(py, g.view())?;
        g.assign(&y);
        Ok(())
    }
}

/// A forward: checks, converts and computes (the arguments in `call` are checked by the core).
fn forward<'py>(name: &str, input: &Bound<'py, PyAny>, call: Call) -> PyResult<Bound<'py, PyAny>> {
    let c = Forward(call);
    match device::route(input)? {
        Route::Device(_) => Err(refused(name, "input", input)),
        Route::Host => host::call(&c, input, "input", false),
        Route::Numpy => calls::run(&c, input, "input", false),
    }
}

/// A backward: only `input`'s shape is read; the result has grad_output's dtype.
fn backward<'py>(
    name: &str,
    input: &Bound<'py, PyAny>,
    grad_output: &Bound<'py, PyAny>,
    call: Call,
) -> PyResult<Bound<'py, PyAny>> {
    if let Route::Device(_) = device::route(input)? {
        return Err(refused(name, "input", input));
    }
    let route = device::route(grad_output)?;
    let input_shape = match route {
        Route::Device(_) => return Err(refused(name, "grad_output", grad_output)),
        Route::Host => host::input_shape(input)?,
        Route::Numpy => convert::shape_of(input, "input")?,
    };
    let c = Backward {
        call,
        input_shape: &input_shape,
    };
    if let Route::Host = route {
        host::call(&c, grad_output, "grad_output", false)
    } else {
        calls::run(&c, grad_output, "grad_output", false)
    }
}

/// The Spatial arguments.
fn spatial(
    p: f64,
    format: &str,
    seed: u64,
    draw: u64,
    training: bool,
    scale: bool,
) -> PyResult<SpatialArgs> {
    let format: DataFormat = format.parse().map_err(to_py_err)?;
    Ok(SpatialArgs {
        p,
        format,
        seed,
        draw,
        training,
        scale,
    })
}

/// Declares a function and its backward, `$forward(input, ...)` and
/// `$backward(input, grad_output, ...)`, with the Python signature `(input[, grad_output],
/// <args>, *, seed, draw, training=True, <options>)`: `args` are the arguments before the `*`
/// and `options` the keyword-only ones after `training`, each as its signature text and its
/// parameters; every function has `seed`, `draw` (checked with [`key`]: `u64`s in `call`) and
/// `training`, named by `call`'s closure parameters, which build the [`Call`].
macro_rules! functional {
    (
        $forward:ident / $backward:ident,
        doc: $doc:expr, backward_doc: $backward_doc:expr,
        args: ($($asig:tt)*) ($($(#[$aattr:meta])* $arg:ident: $aty:ty),*),
        options: ($($osig:tt)*) ($($(#[$oattr:meta])* $opt:ident: $oty:ty),*),
        call: |$seed:ident, $draw:ident, $training:ident| $call:expr
    ) => {
        #[doc = $doc]
        #[pyfunction]
        #[pyo3(signature = (input, $($asig)*, *, $seed, $draw, $training = true, $($osig)*))]
        #[allow(clippy::too_many_arguments)] // the Python signature
        fn $forward<'py>(
            input: &Bound<'py, PyAny>,
            $($(#[$aattr])* $arg: $aty,)*
            $seed: &Bound<'py, PyAny>,
            $draw: &Bound<'py, PyAny>,
            #[pyo3(from_py_with = convert::arg::training)] $training: bool,
            $($(#[$oattr])* $opt: $oty,)*
        ) -> PyResult<Bound<'py, PyAny>> {
            const NAME: &str = concat!("dropkit.functional.", stringify!($forward));
            guarded(NAME, || {
                let ($seed, $draw) = key($seed, $draw)?;
                forward(NAME, input, $call)
            })
        }

        #[doc = $backward_doc]
        #[pyfunction]
        #[pyo3(signature = (
            input, grad_output, $($asig)*, *, $seed, $draw, $training = true, $($osig)*
        ))]
        #[allow(clippy::too_many_arguments)] // the Python signature
        fn $backward<'py>(
            input: &Bound<'py, PyAny>,
            grad_output: &Bound<'py, PyAny>,
            $($(#[$aattr])* $arg: $aty,)*
            $seed: &Bound<'py, PyAny>,
            $draw: &Bound<'py, PyAny>,
            #[pyo3(from_py_with = convert::arg::training)] $training: bool,
            $($(#[$oattr])* $opt: $oty,)*
        ) -> PyResult<Bound<'py, PyAny>> {
            const NAME: &str = concat!("dropkit.functional.", stringify!($backward));
            guarded(NAME, || {
                let ($seed, $draw) = key($seed, $draw)?;
                backward(NAME, input, grad_output, $call)
            })
        }
    };
}

functional!(
    dropout / dropout_backward,
    doc: "dropout(input, p=0.5, *, seed, draw, training=True, scale=True, noise_shape=None) \
          -> array\n\n\
          Dropout's forward at (seed, draw), keeping nothing: bit for bit the output of\n\
          Dropout(p, scale=scale, seed=seed)'s training forward number draw + 1 (draw 0 is the\n\
          first), or its evaluation forward with training=False. A new array of input's dtype\n\
          (float32 for integer and bool input). seed and draw are ints in [0, 2**64).\n\
          noise_shape: as Dropout's (the mask drawn over it and broadcast).",
    backward_doc: "dropout_backward(input, grad_output, p=0.5, *, seed, draw, training=True, \
          scale=True, noise_shape=None) -> array\n\n\
          The gradient of dropout(input, p, seed=seed, draw=draw, ...) with respect to its input,\n\
          given grad_output (the mask regenerated from the draw). Only input's shape is read; the\n\
          result has grad_output's dtype.",
    args: (p = 0.5) (
        #[pyo3(from_py_with = convert::arg::p)] p: f64
    ),
    options: (scale = true, noise_shape = None) (
        #[pyo3(from_py_with = convert::arg::scale)] scale: bool,
        #[pyo3(from_py_with = convert::arg::noise_shape)] noise_shape: Option<Vec<Option<usize>>>
    ),
    call: |seed, draw, training| {
        let noise_shape = noise_shape.as_deref();
        Call::Dropout(DropoutArgs { p, seed, draw, training, scale, noise_shape })
    }
);

functional!(
    gaussian_dropout / gaussian_dropout_backward,
    doc: "gaussian_dropout(input, rate, *, seed, draw, training=True, noise_shape=None) \
          -> array\n\n\
          GaussianDropout(rate)'s forward at (seed, draw): x * n, n ~ N(1, rate / (1 - rate)),\n\
          bit for bit the layer's at that draw; the identity with training=False.",
    backward_doc: "gaussian_dropout_backward(input, grad_output, rate, *, seed, draw, \
          training=True, noise_shape=None) -> array\n\n\
          The gradient of gaussian_dropout at the same arguments: grad_output * n, the noise\n\
          regenerated from the draw.",
    args: (rate) (
        #[pyo3(from_py_with = convert::arg::rate)] rate: f64
    ),
    options: (noise_shape = None) (
        #[pyo3(from_py_with = convert::arg::noise_shape)] noise_shape: Option<Vec<Option<usize>>>
    ),
    call: |seed, draw, training| {
        let noise_shape = noise_shape.as_deref();
        Call::GaussianDropout(GaussianDropoutArgs { rate, seed, draw, training, noise_shape })
    }
);

functional!(
    gaussian_noise / gaussian_noise_backward,
    doc: "gaussian_noise(input, stddev, *, seed, draw, training=True, noise_shape=None) \
          -> array\n\n\
          GaussianNoise(stddev)'s forward at (seed, draw): x + e, e ~ N(0, stddev**2), bit for bit\n\
          the layer's at that draw; the identity with training=False.",
    backward_doc: "gaussian_noise_backward(input, grad_output, stddev, *, seed, draw, \
          training=True, noise_shape=None) -> array\n\n\
          The gradient of gaussian_noise: a copy of grad_output (after the same checks).",
    args: (stddev) (
        #[pyo3(from_py_with = convert::arg::stddev)] stddev: f64
    ),
    options: (noise_shape = None) (
        #[pyo3(from_py_with = convert::arg::noise_shape)] noise_shape: Option<Vec<Option<usize>>>
    ),
    call: |seed, draw, training| {
        let noise_shape = noise_shape.as_deref();
        Call::GaussianNoise(GaussianNoiseArgs { stddev, seed, draw, training, noise_shape })
    }
);

functional!(
    spatial_dropout1d / spatial_dropout1d_backward,
    doc: "spatial_dropout1d(input, p=0.5, *, seed, draw, training=True, scale=False) -> array\n\n\
          SpatialDropout1D(p, scale=scale)'s forward at (seed, draw) on (N, T, C) or (T, C) input:\n\
          bit for bit the layer's at that draw.",
    backward_doc: "spatial_dropout1d_backward(input, grad_output, p=0.5, *, seed, draw, \
          training=True, scale=False) -> array\n\n\
          The gradient of spatial_dropout1d at the same arguments.",
    args: (p = 0.5) (
        #[pyo3(from_py_with = convert::arg::p)] p: f64
    ),
    options: (scale = false) (
        #[pyo3(from_py_with = convert::arg::scale)] scale: bool
    ),
    call: |seed, draw, training| {
        Call::Spatial1D(spatial(p, "NHWC", seed, draw, training, scale)?)
    }
);

/// The 2D and 3D Spatial functions: the same arguments, a layer of another rank.
macro_rules! spatial_functional {
    ($forward:ident / $backward:ident, $layer:literal, $variant:ident) => {
        functional!(
            $forward / $backward,
            doc: concat!(
                stringify!($forward),
                "(input, p=0.5, data_format=\"NCHW\", *, seed, draw, training=True, \
                 scale=False) -> array\n\n",
                $layer,
                "(p, data_format, scale=scale)'s forward at (seed, draw): bit for bit the \
                 layer's at that draw."
            ),
            backward_doc: concat!(
                stringify!($backward),
                "(input, grad_output, p=0.5, data_format=\"NCHW\", *, seed, draw, \
                 training=True, scale=False) -> array\n\nThe gradient of ",
                stringify!($forward),
                " at the same arguments."
            ),
            args: (p = 0.5, data_format = "NCHW") (
                #[pyo3(from_py_with = convert::arg::p)] p: f64,
                #[pyo3(from_py_with = convert::arg::data_format)] data_format: &str
            ),
            options: (scale = false) (
                #[pyo3(from_py_with = convert::arg::scale)] scale: bool
            ),
            call: |seed, draw, training| {
                Call::$variant(spatial(p, data_format, seed, draw, training, scale)?)
            }
        );
    };
}

spatial_functional!(
    spatial_dropout2d / spatial_dropout2d_backward,
    "SpatialDropout2D",
    Spatial2D
);
spatial_functional!(
    spatial_dropout3d / spatial_dropout3d_backward,
    "SpatialDropout3D",
    Spatial3D
);

functional!(
    alpha_dropout / alpha_dropout_backward,
    doc: "alpha_dropout(input, p=0.5, *, seed, draw, training=True) -> array\n\n\
          AlphaDropout(p)'s forward at (seed, draw): kept a * x + b, dropped a * alpha' + b\n\
          (PyTorch's alpha_dropout), bit for bit the layer's at that draw; the identity with\n\
          training=False.",
    backward_doc: "alpha_dropout_backward(input, grad_output, p=0.5, *, seed, draw, \
          training=True) -> array\n\n\
          The gradient of alpha_dropout at the same arguments: grad_output * a where kept, 0\n\
          where dropped (the mask regenerated from the draw).",
    args: (p = 0.5) (
        #[pyo3(from_py_with = convert::arg::p)] p: f64
    ),
    options: () (),
    call: |seed, draw, training| Call::Alpha(AlphaArgs { p, seed, draw, training })
);

functional!(
    feature_alpha_dropout / feature_alpha_dropout_backward,
    doc: "feature_alpha_dropout(input, p=0.5, data_format=\"channels_first\", *, seed, draw, \
          training=True) -> array\n\n\
          FeatureAlphaDropout(p, data_format)'s forward at (seed, draw): one keep per (N, C),\n\
          bit for bit the layer's at that draw; the identity with training=False.",
    backward_doc: "feature_alpha_dropout_backward(input, grad_output, p=0.5, \
          data_format=\"channels_first\", *, seed, draw, training=True) -> array\n\n\
          The gradient of feature_alpha_dropout at the same arguments.",
    args: (p = 0.5, data_format = "channels_first") (
        #[pyo3(from_py_with = convert::arg::p)] p: f64,
        #[pyo3(from_py_with = convert::arg::data_format)] data_format: &str
    ),
    options: () (),
    call: |seed, draw, training| {
        let format: DataFormat = data_format.parse().map_err(to_py_err)?;
        Call::FeatureAlpha(FeatureAlphaArgs { p, format, seed, draw, training })
    }
);

/// Adds the submodule `_functional` (`dropkit.functional`'s functions) to `m`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let sub = PyModule::new(m.py(), "dropkit.functional")?;
    sub.add_function(wrap_pyfunction!(dropout, &sub)?)?;
    sub.add_function(wrap_pyfunction!(dropout_backward, &sub)?)?;
    sub.add_function(wrap_pyfunction!(gaussian_dropout, &sub)?)?;
    sub.add_function(wrap_pyfunction!(gaussian_dropout_backward, &sub)?)?;
    sub.add_function(wrap_pyfunction!(gaussian_noise, &sub)?)?;
    sub.add_function(wrap_pyfunction!(gaussian_noise_backward, &sub)?)?;
    sub.add_function(wrap_pyfunction!(spatial_dropout1d, &sub)?)?;
    sub.add_function(wrap_pyfunction!(spatial_dropout1d_backward, &sub)?)?;
    sub.add_function(wrap_pyfunction!(spatial_dropout2d, &sub)?)?;
    sub.add_function(wrap_pyfunction!(spatial_dropout2d_backward, &sub)?)?;
    sub.add_function(wrap_pyfunction!(spatial_dropout3d, &sub)?)?;
    sub.add_function(wrap_pyfunction!(spatial_dropout3d_backward, &sub)?)?;
    sub.add_function(wrap_pyfunction!(alpha_dropout, &sub)?)?;
    sub.add_function(wrap_pyfunction!(alpha_dropout_backward, &sub)?)?;
    sub.add_function(wrap_pyfunction!(feature_alpha_dropout, &sub)?)?;
    sub.add_function(wrap_pyfunction!(feature_alpha_dropout_backward, &sub)?)?;
    m.add("_functional", sub)
}
