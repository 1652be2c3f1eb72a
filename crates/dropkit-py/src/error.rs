//! The one mapping from dropkit's errors (and rust-numpy's borrow errors) to Python
//! exceptions. Messages are the core's, unchanged.
//!
//! | core error | Python exception |
//! |---|---|
//! | `InvalidProbability`, `InvalidStddev`, `UnknownDataFormat`, `UnknownGenerator`, `WrongRank`, `ShapeMismatch`, `ReadOnlyArray`, `InvalidThreadCount`, `TooManyThreads`, `InvalidPendingPair` | `ValueError` (a bad argument) |
//! | `UnsupportedElementType` | `TypeError` |
//! | `BackwardBeforeForward`, `CudaUnavailable`, `Cuda`, `ThreadPool`, anything newer | `RuntimeError` (misuse, or the machine) |
//! | `ShapeOverflow` | `ValueError` (as numpy's "array is too big") |
//! | `OutOfMemory` | `MemoryError` (as numpy's) |

use dropkit::Error;
use numpy::BorrowError;
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::PyErr;

/// Converts a core error into the Python exception of the table above.
pub(crate) fn to_py_err(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::InvalidProbability { .. }
        | Error::InvalidStddev { .. }
        | Error::UnknownDataFormat { .. }
        | Error::UnknownGenerator { .. }
        | Error::WrongRank { .. }
        | Error::ShapeMismatch { .. }
        | Error::ReadOnlyArray { .. }
        | Error::InvalidThreadCount { .. }
        | Error::TooManyThreads { .. }
        | Error::InvalidPendingPair { .. }
        | Error::ShapeOverflow { .. }
        | Error::InvalidNoiseShape { .. } => PyValueError::new_err(message),
        Error::UnsupportedElementType { .. } => PyTypeError::new_err(message),
        Error::OutOfMemory { .. } => PyMemoryError::new_err(message),
        Error::BackwardBeforeForward { .. }
        | Error::CudaUnavailable { .. }
        | Error::Cuda { .. }
        | Error::ThreadPool { .. } => PyRuntimeError::new_err(message),
        // `Error` is non-exhaustive: a variant added later is a runtime failure until it is
        // given its own row above.
        _ => PyRuntimeError::new_err(message),
    }
}

/// Converts rust-numpy's failure to borrow `argument`: a read-only array is the core's
/// [`Error::ReadOnlyArray`]; an array that a call on another thread is using in a way that
/// conflicts (one of the two writes it in place) is a `RuntimeError`.
pub(crate) fn borrow_err(argument: &'static str, e: BorrowError) -> PyErr {
    match e {
        BorrowError::NotWriteable => to_py_err(Error::ReadOnlyArray { argument }),
        _ => PyRuntimeError::new_err(format!(
            "{argument} is in use by a call on another thread, and one of the two calls writes \
             it in place ({e})"
        )),
    }
}
