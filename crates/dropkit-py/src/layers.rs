//! The eight layer classes: each a newtype over a core layer in a `Mutex`. Every method locks
//! the layer for the whole call with the GIL released, so calls from several Python threads
//! are atomic with respect to the layer's generator state, and compute runs in parallel with
//! other Python code. No maths here: every method is one core call.

use std::sync::Mutex;

use dropkit::Module;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::calls::{backward, configured, forward, locked, Backward, Forward};
use crate::convert;
use crate::device;
use crate::error::to_py_err;
use crate::guard::guarded;
use crate::host;
use crate::saving;

/// Declares a layer class: the struct (a core layer in a mutex, plus whether forward and
/// backward work in place), its class-specific methods, and the methods every layer has.
macro_rules! layer_class {
    // A layer with a drop probability and `scale`: as below, and the `scale` getter.
    (
        $(#[$doc:meta])*
        class $name:ident($core:ty) with probability;
        $($extra:tt)*
    ) => {
        layer_class! {
            $(#[$doc])*
            class $name($core) with p;
            $($extra)*

        /// Whether kept elements (maps) are scaled by 1 / (1 - p) in training.
        #[getter]
        fn scale(&self, py: Python<'_>) -> PyResult<bool> {
            guarded(concat!(stringify!($name), ".scale"), || {
                Ok(locked(py, &self.layer, |l| l.scale()))
            })
        }
        }
    };
    // A layer with a drop probability: the `p` accessors, then as below.
    (
        $(#[$doc:meta])*
        class $name:ident($core:ty) with p;
        $($extra:tt)*
    ) => {
        layer_class! {
            $(#[$doc])*
            class $name($core);
            $($extra)*

        /// The drop probability. Assigning it is set_p.
        #[getter]
        fn get_p(&self, py: Python<'_>) -> PyResult<f64> {
            guarded(concat!(stringify!($name), ".p"), || Ok(locked(py, &self.layer, |l| l.p())))
        }

        #[setter(p)]
        fn set_p_attr(
            &self,
            py: Python<'_>,
            #[pyo3(from_py_with = convert::arg::p)] p: f64,
        ) -> PyResult<()> {
            guarded(concat!(stringify!($name), ".p"), || {
                locked(py, &self.layer, |l| l.set_p(p).map(|_| ())).map_err(to_py_err)
            })
        }

        /// set_p(p) -> self
        ///
        /// Sets the drop probability used from the next forward (BigDL's setP); a backward
        /// still differentiates the forward before it. `p` in [0, 1]; returns the layer.
        fn set_p<'py>(
            slf: &Bound<'py, Self>,
            #[pyo3(from_py_with = convert::arg::p)] p: f64,
        ) -> PyResult<Bound<'py, Self>> {
            guarded(concat!(stringify!($name), ".set_p"), || {
                locked(slf.py(), &slf.get().layer, |l| l.set_p(p).map(|_| ()))
                    .map_err(to_py_err)?;
                Ok(slf.clone())
            })
        }
        }
    };
    (
        $(#[$doc:meta])*
        class $name:ident($core:ty);
        $($extra:tt)*
    ) => {
        $(#[$doc])*
        #[pyclass(frozen, module = "dropkit")]
        pub(crate) struct $name {
            layer: Mutex<$core>,
            /// The core layer's `inplace` option, read once (it never changes), so a call can
            /// choose its path before it locks the layer.
            inplace: bool,
        }

        impl $name {
            /// The class over a configured core layer.
            fn wrap(layer: $core) -> Self {
                let inplace = layer.is_inplace();
                $name {
                    layer: Mutex::new(layer),
                    inplace,
                }
            }
        }

        #[pymethods]
        impl $name {
            $($extra)*

            /// forward(input) -> array
            ///
            /// The layer's output for `input` (any shape the layer takes, any strides). A new
            /// array of input's dtype (float32 for integer and bool input), unless the layer
            /// works in place (inplace=True): then `input` is overwritten and returned.
            /// A CUDA array (PyTorch, CuPy, Numba: anything with __cuda_array_interface__,
            /// float16, float32 or float64; or a DLPack array on a CUDA device, bfloat16 too)
            /// is computed on its GPU and the result is an array of its framework on that GPU.
            /// A CPU tensor that is not a numpy array but offers DLPack (a bfloat16
            /// torch.Tensor) is read in place, and the result is an array of its framework
            /// (its from_dlpack; a numpy array for a framework without one).
            fn forward<'py>(
                slf: &Bound<'py, Self>,
                input: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                guarded(concat!(stringify!($name), ".forward"), || {
                    let this = slf.get();
                    match device::route(input)? {
                        device::Route::Device(source) => device::call(
                            &this.layer,
                            device::Pass::Forward,
                            input,
                            &source,
                            this.inplace,
                        ),
                        device::Route::Host => {
                            host::call(&Forward(&this.layer), input, "input", this.inplace)
                        }
                        device::Route::Numpy => forward(&this.layer, input, this.inplace),
                    }
                })
            }

            /// backward(input, grad_output) -> array
            ///
            /// The gradient with respect to the input of the last forward, given the
            /// gradient with respect to its output. Only `input`'s shape is read. A new array
            /// of grad_output's dtype, unless the layer works in place: then `grad_output`
            /// is overwritten and returned. A CUDA grad_output is computed on its GPU; a CPU
            /// DLPack grad_output gives an array of its framework.
            fn backward<'py>(
                slf: &Bound<'py, Self>,
                input: &Bound<'py, PyAny>,
                grad_output: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                guarded(concat!(stringify!($name), ".backward"), || {
                    let this = slf.get();
                    match device::route(grad_output)? {
                        device::Route::Device(source) => {
                            let input_shape = device::shape_of(input)?;
                            device::call(
                                &this.layer,
                                device::Pass::Backward(&input_shape),
                                grad_output,
                                &source,
                                this.inplace,
                            )
                        }
                        device::Route::Host => {
                            let input_shape = host::input_shape(input)?;
                            let c = Backward {
                                layer: &this.layer,
                                input_shape: &input_shape,
                            };
                            host::call(&c, grad_output, "grad_output", this.inplace)
                        }
                        device::Route::Numpy => {
                            backward(&this.layer, input, grad_output, this.inplace)
                        }
                    }
                })
            }

            /// Whether forward overwrites its input and backward its grad_output.
            #[getter]
            fn inplace(&self) -> PyResult<bool> {
                guarded(concat!(stringify!($name), ".inplace"), || Ok(self.inplace))
            }

            /// training() -> self
            ///
            /// Switches to training mode (the mode a new layer is in); returns the layer.
            fn training<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
                guarded(concat!(stringify!($name), ".training"), || {
                    locked(slf.py(), &slf.get().layer, |l| {
                        l.training();
                    });
                    Ok(slf.clone())
                })
            }

            /// evaluate() -> self
            ///
            /// Switches to evaluation mode; returns the layer.
            fn evaluate<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
                guarded(concat!(stringify!($name), ".evaluate"), || {
                    locked(slf.py(), &slf.get().layer, |l| {
                        l.evaluate();
                    });
                    Ok(slf.clone())
                })
            }

            /// is_training() -> bool
            ///
            /// Whether the layer is in training mode.
            fn is_training(&self, py: Python<'_>) -> PyResult<bool> {
                guarded(concat!(stringify!($name), ".is_training"), || {
                    Ok(locked(py, &self.layer, |l| l.is_training()))
                })
            }

            /// set_seed(seed, generator="philox") -> self
            ///
            /// Gives the layer a generator of its own (`"philox"` or `"bigdl"`), seeded with
            /// `seed` (an int in [0, 2**64)), at its first draw; returns the layer.
            #[pyo3(signature = (seed, generator = "philox"))]
            fn set_seed<'py>(
                slf: &Bound<'py, Self>,
                seed: &Bound<'py, PyAny>,
                #[pyo3(from_py_with = convert::arg::generator)] generator: &str,
            ) -> PyResult<Bound<'py, Self>> {
                guarded(concat!(stringify!($name), ".set_seed"), || {
                    let kind = convert::parse_generator(generator)?;
                    let seed = convert::extract_seed(seed)?;
                    locked(slf.py(), &slf.get().layer, |l| {
                        l.set_seed(seed, kind);
                    });
                    Ok(slf.clone())
                })
            }

            /// use_default_generator() -> self
            ///
            /// Makes the layer draw from the process-wide default generator again (see
            /// dropkit.set_seed); returns the layer.
            fn use_default_generator<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
                guarded(concat!(stringify!($name), ".use_default_generator"), || {
                    locked(slf.py(), &slf.get().layer, |l| {
                        l.use_default_generator();
                    });
                    Ok(slf.clone())
                })
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                guarded(concat!(stringify!($name), ".__repr__"), || {
                    Ok(saving::repr(py, &self.layer))
                })
            }

            /// get_config() -> dict
            ///
            /// The constructor arguments of this layer (Keras's get_config): every option,
            /// and seed and generator when the layer has a generator of its own.
            /// type(layer).from_config(layer.get_config()) builds an equal layer, its
            /// generator at its start (its position is generator_state).
            fn get_config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                guarded(concat!(stringify!($name), ".get_config"), || {
                    saving::get_config(py, &self.layer)
                })
            }

            /// from_config(config) -> layer
            ///
            /// The layer cls(**config) (Keras's from_config). A key that is no constructor
            /// argument is a TypeError naming it.
            #[classmethod]
            fn from_config<'py>(
                cls: &Bound<'py, pyo3::types::PyType>,
                config: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyAny>> {
                guarded(concat!(stringify!($name), ".from_config"), || {
                    saving::from_config(cls, config)
                })
            }

            fn __reduce__<'py>(
                slf: &Bound<'py, Self>,
            ) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
                guarded(concat!(stringify!($name), ".__reduce__"), || {
                    saving::reduce(slf.as_any(), &slf.get().layer)
                })
            }

            fn __setstate__(&self, py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<()> {
                guarded(concat!(stringify!($name), ".__setstate__"), || {
                    saving::set_state(py, &self.layer, state)
                })
            }

            /// The position of the generator the layer draws from (its own, or the process
            /// default): {"generator": "philox", "seed": int, "draw": int} where draw is the
            /// index the next training forward uses, or {"generator": "bigdl", "seed": int,
            /// "words": int, "pending_pair": int | None}. Assigning such a dict gives the layer a
            /// generator of its own at that position, so a past mask or noise can be replayed
            /// (a "bigdl" position at any "words" in milliseconds, by MT19937 jump-ahead). A
            /// "pending_pair" that is not at most words - 2 is a ValueError: no stream has a
            /// Box-Muller pair pending there.
            #[getter]
            fn get_generator_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                guarded(concat!(stringify!($name), ".generator_state"), || {
                    let state = locked(py, &self.layer, |l| l.generator_state());
                    convert::state_to_dict(py, state)
                })
            }

            #[setter]
            fn set_generator_state(&self, py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<()> {
                guarded(concat!(stringify!($name), ".generator_state"), || {
                    let state = convert::state_from_dict(state)?;
                    // Built before the layer's lock is taken (a BigDL stream by jump-ahead), so
                    // calls waiting on the layer never wait for it.
                    let generator = py
                        .detach(|| dropkit::Generator::from_state(state))
                        .map_err(to_py_err)?;
                    locked(py, &self.layer, |l| {
                        l.set_generator(generator);
                    });
                    Ok(())
                })
            }
        }
    };
}

layer_class! {
    /// Dropout(init_p=0.5, inplace=False, scale=True, *, seed=None, generator="philox", noise_shape=None)
    ///
    /// Element-wise dropout (BigDL's Dropout). In training, each element is dropped (set to
    /// 0) with probability p and kept elements are divided by 1 - p (scale=True) or left as
    /// they are (scale=False); backward applies the forward's mask (and 1 / (1 - p)). In
    /// evaluation, forward and backward are the identity (scale=True) or multiply by 1 - p.
    ///
    /// With inplace=True, forward overwrites its input and backward its grad_output, and
    /// both return that array (a read-only array, or one whose elements share memory, is a
    /// ValueError and stays untouched).
    ///
    /// seed: an int gives the layer a generator of its own; None (default) makes it draw
    /// from the process default (dropkit.set_seed). generator: "philox" (default,
    /// counter-based) or "bigdl" (BigDL's MT19937 stream, bit for bit); needs a seed.
    ///
    /// noise_shape (Keras's): a tuple with one entry per input axis, None for the input's
    /// size; the mask is drawn over that shape and broadcast (each entry 1 or the input's
    /// size). (N, C, 1, 1) gives SpatialDropout2D's mask (with scale=True, its output).
    class Dropout(dropkit::Dropout) with probability;

    #[new]
    #[pyo3(signature = (init_p = 0.5, inplace = false, scale = true, *, seed = None, generator = "philox", noise_shape = None))]
    fn new(
        #[pyo3(from_py_with = convert::arg::init_p)] init_p: f64,
        #[pyo3(from_py_with = convert::arg::inplace)] inplace: bool,
        #[pyo3(from_py_with = convert::arg::scale)] scale: bool,
        seed: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = convert::arg::generator)] generator: &str,
        #[pyo3(from_py_with = convert::arg::noise_shape)] noise_shape: Option<Vec<Option<usize>>>,
    ) -> PyResult<Self> {
        guarded("Dropout", || {
            let mut layer =
                dropkit::Dropout::with_options(init_p, inplace, scale).map_err(to_py_err)?;
            if let Some(noise_shape) = &noise_shape {
                layer = layer.with_noise_shape(noise_shape).map_err(to_py_err)?;
            }
            Ok(Self::wrap(configured(layer, seed, generator, inplace)?))
        })
    }

    /// The noise shape (a tuple, None entries for the input's size), or None.
    #[getter]
    fn noise_shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guarded("Dropout.noise_shape", || {
            shape_or_none(py, locked(py, &self.layer, |l| l.noise_shape().map(<[_]>::to_vec)))
        })
    }


    /// set_resampling(resampling) -> self
    ///
    /// With False, a training forward reuses the last training forward's mask (and p) when
    /// the shape is the same (BigDL's isResampling = false); returns the layer.
    fn set_resampling<'py>(
        slf: &Bound<'py, Self>,
        #[pyo3(from_py_with = convert::arg::resampling)] resampling: bool,
    ) -> PyResult<Bound<'py, Self>> {
        guarded("Dropout.set_resampling", || {
            locked(slf.py(), &slf.get().layer, |l| {
                l.set_resampling(resampling);
            });
            Ok(slf.clone())
        })
    }

    /// is_resampling() -> bool
    ///
    /// Whether each training forward draws a new mask (the default).
    fn is_resampling(&self, py: Python<'_>) -> PyResult<bool> {
        guarded("Dropout.is_resampling", || {
            Ok(locked(py, &self.layer, |l| l.is_resampling()))
        })
    }
}

layer_class! {
    /// GaussianDropout(rate, *, seed=None, generator="philox", store_noise=False, inplace=False, noise_shape=None)
    ///
    /// Multiplicative 1-centred Gaussian noise (BigDL's GaussianDropout): in training,
    /// x * n with n ~ N(1, rate / (1 - rate)) per element; backward multiplies by the same
    /// n. The identity in evaluation. rate in [0, 1).
    ///
    /// seed / generator / inplace: as for Dropout. store_noise: keep each training forward's noise
    /// (one element per input element) so backward is a plain multiplication, instead of
    /// regenerating it from the draw; the results are the same bits. noise_shape: as
    /// Dropout's; the noise of noise-shape element i is the one drawn for element i without
    /// it, broadcast (CPU arrays only).
    class GaussianDropout(dropkit::GaussianDropout);

    #[new]
    #[pyo3(signature = (rate, *, seed = None, generator = "philox", store_noise = false, inplace = false, noise_shape = None))]
    fn new(
        #[pyo3(from_py_with = convert::arg::rate)] rate: f64,
        seed: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = convert::arg::generator)] generator: &str,
        #[pyo3(from_py_with = convert::arg::store_noise)] store_noise: bool,
        #[pyo3(from_py_with = convert::arg::inplace)] inplace: bool,
        #[pyo3(from_py_with = convert::arg::noise_shape)] noise_shape: Option<Vec<Option<usize>>>,
    ) -> PyResult<Self> {
        guarded("GaussianDropout", || {
            let mut layer = dropkit::GaussianDropout::new(rate)
                .map_err(to_py_err)?
                .with_stored_noise(store_noise);
            if let Some(noise_shape) = &noise_shape {
                layer = layer.with_noise_shape(noise_shape).map_err(to_py_err)?;
            }
            Ok(Self::wrap(configured(layer, seed, generator, inplace)?))
        })
    }

    /// The noise shape (a tuple, None entries for the input's size), or None.
    #[getter]
    fn noise_shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guarded("GaussianDropout.noise_shape", || {
            shape_or_none(py, locked(py, &self.layer, |l| l.noise_shape().map(<[_]>::to_vec)))
        })
    }

    /// The drop rate.
    #[getter]
    fn rate(&self, py: Python<'_>) -> PyResult<f64> {
        guarded("GaussianDropout.rate", || Ok(locked(py, &self.layer, |l| l.rate())))
    }

    /// The noise's standard deviation, sqrt(rate / (1 - rate)).
    #[getter]
    fn stddev(&self, py: Python<'_>) -> PyResult<f64> {
        guarded("GaussianDropout.stddev", || Ok(locked(py, &self.layer, |l| l.stddev())))
    }

    /// Whether training forwards keep their noise for backward.
    #[getter]
    fn store_noise(&self, py: Python<'_>) -> PyResult<bool> {
        guarded("GaussianDropout.store_noise", || {
            Ok(locked(py, &self.layer, |l| l.stores_noise()))
        })
    }
}

layer_class! {
    /// GaussianNoise(stddev, *, seed=None, generator="philox", inplace=False, noise_shape=None)
    ///
    /// Additive zero-centred Gaussian noise (BigDL's GaussianNoise): in training,
    /// x + e with e ~ N(0, stddev**2) per element. Backward is the identity, and so is
    /// forward in evaluation. stddev finite and >= 0.
    ///
    /// seed / generator / inplace: as for Dropout. noise_shape: as GaussianDropout's.
    class GaussianNoise(dropkit::GaussianNoise);

    #[new]
    #[pyo3(signature = (stddev, *, seed = None, generator = "philox", inplace = false, noise_shape = None))]
    fn new(
        #[pyo3(from_py_with = convert::arg::stddev)] stddev: f64,
        seed: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = convert::arg::generator)] generator: &str,
        #[pyo3(from_py_with = convert::arg::inplace)] inplace: bool,
        #[pyo3(from_py_with = convert::arg::noise_shape)] noise_shape: Option<Vec<Option<usize>>>,
    ) -> PyResult<Self> {
        guarded("GaussianNoise", || {
            let mut layer = dropkit::GaussianNoise::new(stddev).map_err(to_py_err)?;
            if let Some(noise_shape) = &noise_shape {
                layer = layer.with_noise_shape(noise_shape).map_err(to_py_err)?;
            }
            Ok(Self::wrap(configured(layer, seed, generator, inplace)?))
        })
    }

    /// The noise shape (a tuple, None entries for the input's size), or None.
    #[getter]
    fn noise_shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guarded("GaussianNoise.noise_shape", || {
            shape_or_none(py, locked(py, &self.layer, |l| l.noise_shape().map(<[_]>::to_vec)))
        })
    }

    /// The noise's standard deviation.
    #[getter]
    fn stddev(&self, py: Python<'_>) -> PyResult<f64> {
        guarded("GaussianNoise.stddev", || Ok(locked(py, &self.layer, |l| l.stddev())))
    }
}

layer_class! {
    /// SpatialDropout1D(init_p=0.5, data_format="NHWC", *, scale=False, seed=None, generator="philox", inplace=False)
    ///
    /// Drops whole channels of a sequence (BigDL's SpatialDropout1D): input (N, T, C) or
    /// (T, C) with data_format="NHWC" or "channels_last" (the default), (N, C, L) or (C, L)
    /// with "NCHW" or "channels_first" (PyTorch's Dropout1d; any case); one keep/drop draw
    /// per (sample, channel). BigDL's default (scale=False): kept
    /// maps unchanged in training, x * (1 - p) in evaluation. scale=True: x / (1 - p) in
    /// training, identity in evaluation (Keras, PyTorch). Backward applies the same mask.
    ///
    /// seed / generator / inplace: as for Dropout.
    class SpatialDropout1D(dropkit::SpatialDropout1D) with probability;

    #[new]
    #[pyo3(signature = (init_p = 0.5, data_format = "NHWC", *, scale = false, seed = None, generator = "philox", inplace = false))]
    fn new(
        #[pyo3(from_py_with = convert::arg::init_p)] init_p: f64,
        #[pyo3(from_py_with = convert::arg::data_format)] data_format: &str,
        #[pyo3(from_py_with = convert::arg::scale)] scale: bool,
        seed: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = convert::arg::generator)] generator: &str,
        #[pyo3(from_py_with = convert::arg::inplace)] inplace: bool,
    ) -> PyResult<Self> {
        guarded("SpatialDropout1D", || {
            let layer = dropkit::SpatialDropout1D::with_format(init_p, data_format)
                .map_err(to_py_err)?
                .with_scale(scale);
            Ok(Self::wrap(configured(layer, seed, generator, inplace)?))
        })
    }

    /// "NHWC" (N, T, C) or "NCHW" (N, C, L).
    #[getter]
    fn data_format(&self, py: Python<'_>) -> PyResult<&'static str> {
        guarded("SpatialDropout1D.data_format", || {
            Ok(locked(py, &self.layer, |l| l.format()).name())
        })
    }
}

/// The SpatialDropout2D / 3D classes: the same arguments and accessors, other shapes.
macro_rules! format_class {
    ($(#[$doc:meta])* $name:ident) => {
        layer_class! {
            $(#[$doc])*
            ///
            /// seed / generator / inplace: as for Dropout.
            class $name(dropkit::$name) with probability;

            #[new]
            #[pyo3(signature = (init_p = 0.5, data_format = "NCHW", *, scale = false, seed = None, generator = "philox", inplace = false))]
            fn new(
                #[pyo3(from_py_with = convert::arg::init_p)] init_p: f64,
                #[pyo3(from_py_with = convert::arg::data_format)] data_format: &str,
                #[pyo3(from_py_with = convert::arg::scale)] scale: bool,
                seed: Option<&Bound<'_, PyAny>>,
                #[pyo3(from_py_with = convert::arg::generator)] generator: &str,
                #[pyo3(from_py_with = convert::arg::inplace)] inplace: bool,
            ) -> PyResult<Self> {
                guarded(stringify!($name), || {
                    let layer = dropkit::$name::with_format(init_p, data_format)
                        .map_err(to_py_err)?
                        .with_scale(scale);
                    Ok(Self::wrap(configured(layer, seed, generator, inplace)?))
                })
            }

            /// "NCHW" or "NHWC".
            #[getter]
            fn data_format(&self, py: Python<'_>) -> PyResult<&'static str> {
                guarded(concat!(stringify!($name), ".data_format"), || {
                    Ok(locked(py, &self.layer, |l| l.format()).name())
                })
            }
        }
    };
}

format_class! {
    /// SpatialDropout2D(init_p=0.5, data_format="NCHW", *, scale=False, seed=None, generator="philox", inplace=False)
    ///
    /// Drops whole 2-D feature maps (BigDL's SpatialDropout2D): input (N, C, H, W) or
    /// (C, H, W) with data_format="NCHW" or "channels_first", (N, H, W, C) or (H, W, C) with
    /// "NHWC" or "channels_last" (any case); one keep/drop draw per (sample, channel).
    /// scale: as for SpatialDropout1D.
    SpatialDropout2D
}

format_class! {
    /// SpatialDropout3D(init_p=0.5, data_format="NCHW", *, scale=False, seed=None, generator="philox", inplace=False)
    ///
    /// Drops whole 3-D feature maps (BigDL's SpatialDropout3D): input (N, C, D, H, W) or
    /// (C, D, H, W) with data_format="NCHW", (N, D, H, W, C) or (D, H, W, C) with "NHWC"
    /// (any case); one keep/drop draw per (sample, channel). scale: as for SpatialDropout1D.
    SpatialDropout3D
}

layer_class! {
    /// AlphaDropout(p=0.5, *, seed=None, generator="philox", inplace=False)
    ///
    /// Alpha dropout for SELU networks (PyTorch's AlphaDropout, Keras's): in training each
    /// element is dropped with probability p; with alpha' = -1.7580993408473766,
    /// a = ((1 - p)(1 + p alpha'**2))**-0.5 and b = -a alpha' p, a kept element becomes
    /// a * x + b and a dropped one a * alpha' + b, so a standard normal input keeps mean 0 and
    /// variance 1. Backward: grad * a where kept, 0 where dropped. The identity in evaluation.
    /// p in [0, 1]; p = 1 gives zeros (as PyTorch).
    ///
    /// seed / generator / inplace: as for Dropout.
    class AlphaDropout(dropkit::AlphaDropout) with p;

    #[new]
    #[pyo3(signature = (p = 0.5, *, seed = None, generator = "philox", inplace = false))]
    fn new(
        #[pyo3(from_py_with = convert::arg::p)] p: f64,
        seed: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = convert::arg::generator)] generator: &str,
        #[pyo3(from_py_with = convert::arg::inplace)] inplace: bool,
    ) -> PyResult<Self> {
        guarded("AlphaDropout", || {
            let layer = dropkit::AlphaDropout::new(p).map_err(to_py_err)?;
            Ok(Self::wrap(configured(layer, seed, generator, inplace)?))
        })
    }
}

layer_class! {
    /// FeatureAlphaDropout(p=0.5, data_format="channels_first", *, seed=None, generator="philox", inplace=False)
    ///
    /// AlphaDropout of whole channels (PyTorch's FeatureAlphaDropout): one keep/drop draw
    /// per (sample, channel) of an input of rank 2 or more, (N, C, ...) with
    /// data_format="channels_first" or "NCHW" (the default), (N, ..., C) with "channels_last"
    /// or "NHWC" (any case). The mask is the Spatial layers' (N, C) mask: the same bits as
    /// SpatialDropout2D with the same seed, draw and p. Values as AlphaDropout.
    ///
    /// seed / generator / inplace: as for Dropout.
    class FeatureAlphaDropout(dropkit::FeatureAlphaDropout) with p;

    #[new]
    #[pyo3(signature = (p = 0.5, data_format = "channels_first", *, seed = None, generator = "philox", inplace = false))]
    fn new(
        #[pyo3(from_py_with = convert::arg::p)] p: f64,
        #[pyo3(from_py_with = convert::arg::data_format)] data_format: &str,
        seed: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = convert::arg::generator)] generator: &str,
        #[pyo3(from_py_with = convert::arg::inplace)] inplace: bool,
    ) -> PyResult<Self> {
        guarded("FeatureAlphaDropout", || {
            let layer =
                dropkit::FeatureAlphaDropout::with_format(p, data_format).map_err(to_py_err)?;
            Ok(Self::wrap(configured(layer, seed, generator, inplace)?))
        })
    }

    /// "NCHW" (channels first) or "NHWC" (channels last).
    #[getter]
    fn data_format(&self, py: Python<'_>) -> PyResult<&'static str> {
        guarded("FeatureAlphaDropout.data_format", || {
            Ok(locked(py, &self.layer, |l| l.format()).name())
        })
    }
}

/// A noise shape as Python reads it: a tuple (None entries for the input's size), or None.
fn shape_or_none(py: Python<'_>, shape: Option<Vec<Option<usize>>>) -> PyResult<Bound<'_, PyAny>> {
    match shape {
        Some(shape) => Ok(pyo3::types::PyTuple::new(py, shape)?.into_any()),
        None => Ok(py.None().into_bound(py)),
    }
}

/// Adds every layer class to the extension module (a new layer is one line here).
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Dropout>()?;
    m.add_class::<GaussianDropout>()?;
    m.add_class::<GaussianNoise>()?;
    m.add_class::<SpatialDropout1D>()?;
    m.add_class::<SpatialDropout2D>()?;
    m.add_class::<SpatialDropout3D>()?;
    m.add_class::<AlphaDropout>()?;
    m.add_class::<FeatureAlphaDropout>()?;
    Ok(())
}
