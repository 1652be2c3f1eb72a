//! Python bindings of dropkit: the extension module `dropkit._dropkit`, re-exported by the
//! Python package `dropkit`. Thin by design (no maths here): each class is a
//! newtype over a core layer (`layers`), arrays cross through one module (`convert`),
//! errors through one mapping (`error`), and every method and function runs its work
//! through `guard::guarded`, so no panic reaches Python as one. Built by maturin
//! (`make test-python`).

mod calls;
mod convert;
mod device;
mod dlpack;
mod error;
mod functional;
mod guard;
mod host;
mod layers;
mod saving;

use std::time::Instant;

use dropkit::Module;
use numpy::PyReadonlyArrayDyn;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::to_py_err;
use crate::guard::guarded;

/// set_seed(seed, generator="philox")
///
/// Seeds the process-wide default generator, which layers without a seed of their own draw
/// from, and chooses its algorithm: "philox" (counter-based, the default) or "bigdl"
/// (BigDL's MT19937 stream: set_seed(100, generator="bigdl") is BigDL's RNG.setSeed(100)).
/// seed is an int in [0, 2**64).
#[pyfunction]
#[pyo3(signature = (seed, generator = "philox"))]
fn set_seed(
    py: Python<'_>,
    seed: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = convert::arg::generator)] generator: &str,
) -> PyResult<()> {
    guarded("dropkit.set_seed", || {
        let kind = convert::parse_generator(generator)?;
        let seed = convert::extract_seed(seed)?;
        // The default generator's lock can be held by a BigDL-stream forward running without
        // the GIL: wait for it without the GIL too.
        py.detach(|| dropkit::set_seed(seed, kind));
        Ok(())
    })
}

/// rank_seed(seed, rank) -> int
///
/// The seed of data-parallel rank `rank` in a job seeded with `seed`: seed XOR mix(rank),
/// with mix a bijection of the 64-bit integers (SplitMix64's finalizer of
/// rank * 0x9E3779B97F4A7C15). For one seed, distinct ranks get distinct seeds (Philox
/// keys), so they never draw the same mask; rank 0 gets seed itself. seed and rank are ints
/// in [0, 2**64).
#[pyfunction]
fn rank_seed(seed: &Bound<'_, PyAny>, rank: &Bound<'_, PyAny>) -> PyResult<u64> {
    guarded("dropkit.rank_seed", || {
        let seed = convert::extract_seed(seed)?;
        let rank = convert::extract_rank(rank)?;
        Ok(dropkit::rank_seed(seed, rank))
    })
}

/// default_generator_state() -> dict
///
/// The process-wide default generator's position, in the form of Layer.generator_state.
#[pyfunction]
fn default_generator_state(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    guarded("dropkit.default_generator_state", || {
        let state = py.detach(dropkit::rng::default_state);
        convert::state_to_dict(py, state)
    })
}

/// set_default_generator_state(state)
///
/// Moves the process-wide default generator to `state` (a dict as returned by
/// default_generator_state), which also selects its algorithm. A "bigdl" state at any
/// "words" is rebuilt by MT19937 jump-ahead in milliseconds; a "pending_pair" that is not
/// at most words - 2 is a ValueError, and the default generator is unchanged then.
#[pyfunction]
fn set_default_generator_state(py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<()> {
    guarded("dropkit.set_default_generator_state", || {
        let state = convert::state_from_dict(state)?;
        py.detach(|| dropkit::rng::set_default_state(state))
            .map_err(to_py_err)
    })
}

/// _take_default_philox_draw() -> tuple[int, int] | None
///
/// Takes the process default generator's next draw, (seed, draw), and moves it on, in one
/// step (as a layer without a seed does): for dropkit.torch, which runs the draw itself
/// through dropkit.functional. None, with nothing taken, when the default generator is
/// "bigdl".
#[pyfunction]
fn _take_default_philox_draw(py: Python<'_>) -> PyResult<Option<(u64, u64)>> {
    guarded("dropkit._take_default_philox_draw", || {
        Ok(py.detach(dropkit::rng::take_default_philox_draw))
    })
}

/// set_num_threads(n)
///
/// Sets how many threads the CPU kernels use (default: all cores, or RAYON_NUM_THREADS).
/// Results do not depend on it. n is an int from 1 to 1024 (ValueError otherwise); a
/// RuntimeError if the system cannot start that many threads, and the setting is unchanged
/// after any error. A process forked from this one (multiprocessing, DataLoader workers)
/// starts threads of its own at its first large call.
#[pyfunction]
fn set_num_threads(py: Python<'_>, n: &Bound<'_, PyAny>) -> PyResult<()> {
    guarded("dropkit.set_num_threads", || {
        let threads = match n.extract::<i64>() {
            Ok(v) => v,
            // An int beyond i64: as invalid as any count out of range, with the same message.
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(py) => {
                if n.gt(0)? {
                    i64::MAX
                } else {
                    i64::MIN
                }
            }
            Err(e) => return Err(e),
        };
        let shown = || {
            n.repr()
                .map_or_else(|_| threads.to_string(), |r| r.to_string())
        };
        // A negative count is as invalid as 0; the core's messages name the value it checks.
        let threads = usize::try_from(threads).map_err(|_| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "threads = {} is invalid: it must be at least 1",
                shown()
            ))
        })?;
        if threads > dropkit::MAX_THREADS {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "threads = {} is too many: accepted are 1 to {}",
                shown(),
                dropkit::MAX_THREADS
            )));
        }
        py.detach(|| dropkit::set_num_threads(threads))
            .map_err(to_py_err)
    })
}

/// num_threads() -> int
///
/// How many threads the CPU kernels use.
#[pyfunction]
fn num_threads(py: Python<'_>) -> PyResult<usize> {
    guarded(
        "dropkit.num_threads",
        || Ok(py.detach(dropkit::num_threads)),
    )
}

/// `_time_core_forward(x, p, repeats) -> list[float]`
///
/// For scripts/bench_binding.py: the seconds each of `repeats` calls of the Rust
/// `Dropout::forward` takes on `x` (a float32 array), timed in Rust without Python in the
/// loop, with a layer of its own (Philox, seed 0). Not part of the API.
#[pyfunction]
fn _time_core_forward(
    py: Python<'_>,
    x: PyReadonlyArrayDyn<'_, f32>,
    p: f64,
    repeats: usize,
) -> PyResult<Vec<f64>> {
    guarded("dropkit._time_core_forward", || {
        let view = x.as_array();
        py.detach(|| {
            let mut layer = dropkit::Dropout::new(p)?;
            layer.set_seed(0, dropkit::GeneratorKind::Philox);
            // Grown per call, not reserved: `repeats` is the caller's and may be any size.
            let mut times = Vec::new();
            for _ in 0..repeats {
                let start = Instant::now();
                let out = layer.forward(&view)?;
                times.push(start.elapsed().as_secs_f64());
                drop(std::hint::black_box(out));
            }
            Ok(times)
        })
        .map_err(to_py_err)
    })
}

/// _panic_for_tests(message, detached) -> None
///
/// For the tests of the binding boundary (tests/test_errors.py): panics with `message`,
/// holding the GIL, or without it (`detached`), as the layers compute. The
/// call raises `RuntimeError("dropkit._panic_for_tests: internal error: <message>")`, as a
/// panic anywhere in the extension would. Not part of the API.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>, message: &str, detached: bool) -> PyResult<()> {
    guarded("dropkit._panic_for_tests", || {
        if detached {
            py.detach(|| panic!("{message}"));
        } else {
            panic!("{message}");
        }
        Ok(())
    })
}

/// The extension module; `dropkit/__init__.py` re-exports it.
#[pymodule]
fn _dropkit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    layers::register(m)?;
    functional::register(m)?;
    m.add_function(wrap_pyfunction!(set_seed, m)?)?;
    m.add_function(wrap_pyfunction!(rank_seed, m)?)?;
    m.add_function(wrap_pyfunction!(default_generator_state, m)?)?;
    m.add_function(wrap_pyfunction!(set_default_generator_state, m)?)?;
    m.add_function(wrap_pyfunction!(_take_default_philox_draw, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(_time_core_forward, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(dlpack::_dlpack_info, m)?)?;
    m.add_class::<dlpack::Exported>()?;
    // `__all__`: every public name registered above (the package re-exports exactly these).
    let mut public = vec!["__version__".to_string()];
    for name in m.dict().keys() {
        let name: String = name.extract()?;
        if !name.starts_with('_') {
            public.push(name);
        }
    }
    public.sort();
    m.add("__all__", public)?;
    Ok(())
}
