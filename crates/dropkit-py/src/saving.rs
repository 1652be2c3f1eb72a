//! What every layer class does to be saved and rebuilt: `repr`, `get_config` /
//! `from_config` (Keras's style) and pickling (`__reduce__` / `__setstate__`, which `copy`
//! uses too). The options come from the core layer's `LayerOptions`, so a new constructor
//! option is one more entry there and nothing here.
//!
//! What is saved: every constructor option, the mode, and the generator: a layer with a
//! generator of its own keeps it at its position; one drawing from the process default keeps
//! drawing from it. The last forward (what backward differentiates) is not saved: a restored
//! layer's backward is that of a layer before any forward.

use std::sync::Mutex;

use dropkit::{LayerOptions, Module, OptionValue};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyMapping, PyTuple, PyType};

use crate::calls::locked;
use crate::convert;
use crate::error::to_py_err;

/// `repr(layer)`: the core layer's one line.
pub(crate) fn repr<L: Module + std::fmt::Display + Send>(
    py: Python<'_>,
    layer: &Mutex<L>,
) -> String {
    locked(py, layer, |l| l.to_string())
}

/// The constructor arguments of the layer: its options, and `seed` and `generator` when it
/// has a generator of its own (the seed it was seeded with, not its position).
pub(crate) fn get_config<'py, L: Module + LayerOptions + Send>(
    py: Python<'py>,
    layer: &Mutex<L>,
) -> PyResult<Bound<'py, PyDict>> {
    let (options, own) = locked(py, layer, |l| {
        (
            l.options(),
            l.has_own_generator().then(|| l.generator_state()),
        )
    });
    let config = PyDict::new(py);
    for (name, value) in options {
        match value {
            OptionValue::Float(v) => config.set_item(name, v)?,
            OptionValue::Bool(v) => config.set_item(name, v)?,
            OptionValue::Str(v) => config.set_item(name, v)?,
            OptionValue::Shape(None) => config.set_item(name, py.None())?,
            OptionValue::Shape(Some(shape)) => config.set_item(name, PyTuple::new(py, shape)?)?,
        }
    }
    if let Some(state) = own {
        let (seed, kind) = match state {
            dropkit::GeneratorState::Philox { seed, .. } => (seed, dropkit::GeneratorKind::Philox),
            dropkit::GeneratorState::BigDl { seed, .. } => (seed, dropkit::GeneratorKind::BigDl),
        };
        config.set_item("seed", seed)?;
        config.set_item("generator", kind.name())?;
    }
    Ok(config)
}

/// `cls(**config)`. A key that is no parameter of the constructor is a TypeError naming
/// every such key.
pub(crate) fn from_config<'py>(
    cls: &Bound<'py, PyType>,
    config: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let name = cls.name()?;
    let map = config.cast::<PyMapping>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name}.from_config: config must be a dict of constructor arguments, not {}",
            config
                .get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string())
        ))
    })?;
    let kwargs = PyDict::new(py);
    for item in map.items()?.iter() {
        let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
        kwargs.set_item(key, value)?;
    }
    // The constructor's parameter names, from its signature (when Python can read it).
    let parameters = py
        .import("inspect")?
        .call_method1("signature", (cls,))
        .and_then(|s| s.getattr("parameters"));
    if let Ok(parameters) = parameters {
        let mut unknown = Vec::new();
        for key in kwargs.keys().iter() {
            if !parameters.contains(&key)? {
                unknown.push(key.repr()?.to_string());
            }
        }
        if !unknown.is_empty() {
            return Err(PyTypeError::new_err(format!(
                "{name}.from_config: unknown config keys {}: the keys are {name}'s \
                 constructor arguments ({})",
                unknown.join(", "),
                parameters
                    .try_iter()?
                    .map(|k| k.and_then(|k| k.str()).map(|k| k.to_string()))
                    .collect::<PyResult<Vec<_>>>()?
                    .join(", ")
            )));
        }
    }
    cls.call((), Some(&kwargs))
}

/// `__reduce__`: `(type(layer).from_config, (layer.get_config(),), state)`, state being
/// `{"training": bool, "generator_state": dict or None}` (None: the default generator).
pub(crate) fn reduce<'py, L: Module + LayerOptions + Send>(
    slf: &Bound<'py, PyAny>,
    layer: &Mutex<L>,
) -> PyResult<Bound<'py, PyTuple>> {
    let py = slf.py();
    let config = get_config(py, layer)?;
    let (training, own) = locked(py, layer, |l| {
        (
            l.is_training(),
            l.has_own_generator().then(|| l.generator_state()),
        )
    });
    let state = PyDict::new(py);
    state.set_item("training", training)?;
    match own {
        Some(s) => state.set_item("generator_state", convert::state_to_dict(py, s)?)?,
        None => state.set_item("generator_state", py.None())?,
    }
    let build = slf.get_type().getattr("from_config")?;
    PyTuple::new(
        py,
        [
            build,
            PyTuple::new(py, [config])?.into_any(),
            state.into_any(),
        ],
    )
}

/// `__setstate__`: the mode and the generator of a state from [`reduce`].
pub(crate) fn set_state<L: Module + Send>(
    py: Python<'_>,
    layer: &Mutex<L>,
    state: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let bad = || {
        PyValueError::new_err(format!(
            "a layer's pickled state is a dict {{\"training\": bool, \"generator_state\": \
             dict or None}}, not {}",
            state.repr().map_or_else(|_| "?".into(), |r| r.to_string())
        ))
    };
    let map = state.cast::<PyDict>().map_err(|_| bad())?;
    if map.len() != 2 {
        return Err(bad());
    }
    let training: bool = map
        .get_item("training")?
        .ok_or_else(bad)?
        .extract()
        .map_err(|_| bad())?;
    let generator = match map.get_item("generator_state")?.ok_or_else(bad)? {
        g if g.is_none() => None,
        g => {
            let state = convert::state_from_dict(&g)?;
            Some(
                py.detach(|| dropkit::Generator::from_state(state))
                    .map_err(to_py_err)?,
            )
        }
    };
    locked(py, layer, |l| {
        match generator {
            Some(g) => l.set_generator(g),
            None => l.use_default_generator(),
        };
        if training {
            l.training();
        } else {
            l.evaluate();
        }
    });
    Ok(())
}
