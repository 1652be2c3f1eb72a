//! The binding boundary. Every method and function of the extension runs its work through
//! [`guarded`], so a Rust panic (a broken internal invariant: no user input causes one)
//! reaches Python as a `RuntimeError` that names the call, never as PyO3's
//! `PanicException`, which derives from `BaseException` and escapes `except Exception`.
//!
//! A panic in work done without the GIL is caught too: `Python::detach` takes the GIL back
//! and resumes the panic on the calling thread, inside the closure given to [`guarded`], and
//! rayon does the same for a panic on one of its threads. A layer whose lock a panic
//! poisoned stays usable (see `layers::locked`): its state is still a valid value.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyRuntimeError;
use pyo3::PyResult;

/// Runs `work`, the body of the Python-visible `call` (`"Dropout.forward"`,
/// `"dropkit.set_seed"`), turning a panic into `RuntimeError("<call>: internal error: <the
/// panic's message>")`.
pub(crate) fn guarded<R>(call: &str, work: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
    // Unwind safety: after a panic nothing `work` borrowed is used again by this call, and
    // the one shared state a call mutates, the layer in its mutex, is recovered as a valid
    // value by whoever locks it next.
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        Err(PyRuntimeError::new_err(format!(
            "{call}: internal error: {}",
            panic_message(payload.as_ref())
        )))
    })
}

/// The message a panic was raised with (`panic!("...")` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}
