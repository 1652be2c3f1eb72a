//! The one error type of dropkit. Every message names the parameter, the bad value and what
//! is accepted.

use std::fmt;

/// Everything that can go wrong with a user's input. No input makes dropkit panic.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A probability (`init_p`, `p`, `rate`) outside its range, or NaN.
    InvalidProbability {
        /// The parameter's name.
        param: &'static str,
        /// The value given.
        value: f64,
        /// The accepted range, e.g. `"[0, 1]"`.
        accepted: &'static str,
    },
    /// A standard deviation that is negative, infinite or NaN.
    InvalidStddev {
        /// The value given.
        value: f64,
    },
    /// A data format other than NCHW / NHWC.
    UnknownDataFormat {
        /// The string given.
        value: String,
    },
    /// A generator name other than philox / bigdl.
    UnknownGenerator {
        /// The string given.
        value: String,
    },
    /// An input whose rank a Spatial layer does not take.
    WrongRank {
        /// The layer.
        layer: &'static str,
        /// The shapes it takes, e.g. `"(N, T, C) or (T, C)"`.
        accepted: &'static str,
        /// The shape that came.
        shape: Vec<usize>,
    },
    /// A backward that needs the forward's mask or noise, with no training forward before it.
    BackwardBeforeForward {
        /// The layer.
        layer: &'static str,
    },
    /// An array whose shape differs from the one it must match.
    ShapeMismatch {
        /// The layer.
        layer: &'static str,
        /// Which argument: `"input"`, `"grad_output"`, `"output"`, `"grad_input"`.
        argument: &'static str,
        /// The shape required (the forward's input shape, or the other argument's).
        expected: Vec<usize>,
        /// The shape given.
        got: Vec<usize>,
    },
    /// An element type the layers do not compute in (Python bindings).
    UnsupportedElementType {
        /// The type's name.
        dtype: String,
    },
    /// An in-place operation on a read-only array (Python bindings).
    ReadOnlyArray {
        /// Which argument.
        argument: &'static str,
    },
    /// A thread count of zero.
    InvalidThreadCount {
        /// The value given.
        value: usize,
    },
    /// The CUDA backend was asked for but cannot run here.
    CudaUnavailable {
        /// What is missing (feature off, no driver, no device, no NVRTC...).
        reason: String,
    },
    /// A CUDA call failed at run time.
    Cuda {
        /// The driver's or NVRTC's message.
        message: String,
    },
    /// A thread count above [`crate::MAX_THREADS`].
    TooManyThreads {
        /// The value given.
        value: usize,
        /// The most accepted.
        max: usize,
    },
    /// A thread pool the system could not start (too many threads for its limits).
    ThreadPool {
        /// The thread count asked for.
        threads: usize,
        /// Why it failed.
        message: String,
    },
    /// A BigDL generator state whose pending Box-Muller pair cannot exist at its position.
    InvalidPendingPair {
        /// The word position the pair would start at.
        pending_pair: u64,
        /// The words consumed.
        words: u64,
    },
    /// A shape whose element count does not fit in `usize`: the product of its non-zero
    /// dimensions overflows (checked whatever the build, and even when a dimension is 0).
    ShapeOverflow {
        /// The layer (or `"DeviceTensor"`).
        layer: &'static str,
        /// Which argument: `"input"`, `"grad_output"`, `"shape"`...
        argument: &'static str,
        /// The shape given.
        shape: Vec<usize>,
    },
    /// A `noise_shape` with an entry of 0, or more alternations of broadcast and drawn axes
    /// than a mask map holds.
    InvalidNoiseShape {
        /// The noise shape given (`None`: the input's size on that axis).
        value: Vec<Option<usize>>,
        /// What is wrong and what is accepted.
        reason: &'static str,
    },
    /// A buffer whose size follows from the input could not be allocated: the allocator
    /// refused, or the byte count exceeds what one allocation can hold (`isize::MAX`).
    OutOfMemory {
        /// What was being allocated, e.g. `"the output"` or `"the keep mask"`.
        what: &'static str,
        /// The bytes asked for (exact, also past `usize::MAX`).
        bytes: u128,
    },
}

/// `Result` with dropkit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A float as error messages print it: the shortest form that reads back as the same value,
/// positional for magnitudes in `[1e-4, 1e16)` (`0.5`, `2`, `-0.1`), with an exponent outside
/// it (`-1e-300`, `1.5e20`), so no message spells out hundreds of digits.
pub(crate) struct Compact(pub(crate) f64);

impl fmt::Display for Compact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        let magnitude = v.abs();
        if !v.is_finite() || v == 0.0 || (1e-4..1e16).contains(&magnitude) {
            write!(f, "{v}")
        } else {
            write!(f, "{v:e}")
        }
    }
}

fn dims(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("({})", parts.join(", "))
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidProbability { param, value, accepted } => {
                let value = Compact(*value);
                write!(f, "{param} = {value} is not a probability in {accepted}")
            }
            Error::InvalidStddev { value } => {
                let value = Compact(*value);
                write!(f, "stddev = {value} is invalid: it must be finite and >= 0")
            }
            Error::UnknownDataFormat { value } => write!(
                f,
                "data_format = {value:?} is unknown: accepted are \"NCHW\" (or \"channels_first\") and \"NHWC\" (or \"channels_last\"), any case"
            ),
            Error::InvalidNoiseShape { value, reason } => {
                let entries: Vec<String> = value
                    .iter()
                    .map(|e| e.map_or("None".to_string(), |d| d.to_string()))
                    .collect();
                write!(f, "noise_shape = ({}) is invalid: {reason}", entries.join(", "))
            }
            Error::UnknownGenerator { value } => write!(
                f,
                "generator = {value:?} is unknown: accepted are \"philox\" and \"bigdl\" (any case)"
            ),
            Error::WrongRank { layer, accepted, shape } => write!(
                f,
                "{layer} takes input of rank {accepted}, got shape {} (rank {})",
                dims(shape),
                shape.len()
            ),
            Error::BackwardBeforeForward { layer } => write!(
                f,
                "{layer}.backward needs the mask or noise of a training forward, and no forward ran yet"
            ),
            Error::ShapeMismatch { layer, argument, expected, got } => write!(
                f,
                "{layer}: {argument} has shape {}, expected {}",
                dims(got),
                dims(expected)
            ),
            Error::UnsupportedElementType { dtype } => write!(
                f,
                "dtype {dtype} is not supported: accepted are float32, float64, float16 and \
                 bfloat16 (ml_dtypes.bfloat16; integer and bool arrays are converted to float32)"
            ),
            Error::ReadOnlyArray { argument } => write!(
                f,
                "{argument} is read-only, so it cannot be overwritten in place: pass a writeable array or use inplace=False"
            ),
            Error::InvalidThreadCount { value } => {
                write!(f, "threads = {value} is invalid: it must be at least 1")
            }
            Error::CudaUnavailable { reason } => write!(f, "CUDA is unavailable: {reason}"),
            Error::Cuda { message } => write!(f, "CUDA error: {message}"),
            Error::TooManyThreads { value, max } => {
                write!(f, "threads = {value} is too many: accepted are 1 to {max}")
            }
            Error::ThreadPool { threads, message } => write!(
                f,
                "threads = {threads}: the thread pool could not be started ({message})"
            ),
            Error::InvalidPendingPair { pending_pair, words } => write!(
                f,
                "pending_pair = {pending_pair} is impossible with words = {words}: a pending \
                 Box-Muller pair was drawn from the two words at pending_pair and \
                 pending_pair + 1, so it must be at most words - 2 (or None)"
            ),
            Error::ShapeOverflow { layer, argument, shape } => write!(
                f,
                "{layer}: {argument} has shape {}, whose element count overflows usize ({})",
                dims(shape),
                usize::MAX
            ),
            Error::OutOfMemory { what, bytes } => {
                write!(f, "out of memory: cannot allocate {bytes} bytes for {what}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Checks a drop probability: finite and in `[0, 1]` (or `[0, 1)` when `one_allowed` is false).
pub(crate) fn check_probability(param: &'static str, value: f64, one_allowed: bool) -> Result<f64> {
    let ok = if one_allowed {
        (0.0..=1.0).contains(&value)
    } else {
        (0.0..1.0).contains(&value)
    };
    if ok {
        Ok(value)
    } else {
        let accepted = if one_allowed { "[0, 1]" } else { "[0, 1)" };
        Err(Error::InvalidProbability {
            param,
            value,
            accepted,
        })
    }
}

/// Checks that `got` equals `expected`.
pub(crate) fn check_shape(
    layer: &'static str,
    argument: &'static str,
    expected: &[usize],
    got: &[usize],
) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            layer,
            argument,
            expected: expected.to_vec(),
            got: got.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_parameter_value_and_accepted() {
        let e = check_probability("init_p", 1.5, true).unwrap_err();
        assert_eq!(e.to_string(), "init_p = 1.5 is not a probability in [0, 1]");
        let e = check_probability("rate", f64::NAN, false).unwrap_err();
        assert_eq!(e.to_string(), "rate = NaN is not a probability in [0, 1)");
        let e = Error::WrongRank {
            layer: "SpatialDropout1D",
            accepted: "3 (N, T, C) or 2 (T, C)",
            shape: vec![2],
        };
        assert_eq!(
            e.to_string(),
            "SpatialDropout1D takes input of rank 3 (N, T, C) or 2 (T, C), got shape (2) (rank 1)"
        );
    }

    #[test]
    fn floats_print_in_their_shortest_round_trip_form() {
        let cases = [
            (-1e-300, "-1e-300"),
            (1e300, "1e300"),
            (1.5e20, "1.5e20"),
            (-1e-12, "-1e-12"),
            (0.00001, "1e-5"),
            (0.0001, "0.0001"),
            (-0.1, "-0.1"),
            (1.000_000_1, "1.0000001"),
            (2.0, "2"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::MIN_POSITIVE / 2.0, "1.1125369292536007e-308"),
            (9_007_199_254_740_992.0, "9007199254740992"),
            (1e16, "1e16"),
        ];
        for (v, want) in cases {
            let got = Compact(v).to_string();
            assert_eq!(got, want);
            if v.is_finite() {
                assert_eq!(got.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{got}");
            }
        }
        let e = check_probability("init_p", -1e-300, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "init_p = -1e-300 is not a probability in [0, 1]"
        );
        let e = Error::InvalidStddev { value: -1e300 };
        assert_eq!(
            e.to_string(),
            "stddev = -1e300 is invalid: it must be finite and >= 0"
        );
    }
}
