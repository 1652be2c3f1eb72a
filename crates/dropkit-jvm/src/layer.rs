//! A layer behind a Java handle: any of the core layers as one object-safe trait,
//! behind a lock of its own.

use dropkit::{FlatIo, GeneratorKind, Module};
use std::fmt::{Debug, Display};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Row-major buffers of either element type Java passes (`float`, `double`).
#[derive(Debug)]
pub(crate) enum Io<'a> {
    /// `float[]` / `FloatBuffer`.
    F32(FlatIo<'a, f32>),
    /// `double[]` / `DoubleBuffer`.
    F64(FlatIo<'a, f64>),
}

/// What the Java class calls on a core layer; implemented for every core layer.
pub(crate) trait JvmLayer: Send + Debug {
    /// Forward on `io` of logical shape `shape`.
    fn forward(&mut self, shape: &[usize], io: Io<'_>) -> dropkit::Result<()>;
    /// Backward: `io` reads grad_output and writes grad_input; input and both gradients
    /// have shape `shape`.
    fn backward(&mut self, shape: &[usize], io: Io<'_>) -> dropkit::Result<()>;
    /// Training (`true`) or evaluation mode.
    fn set_training(&mut self, on: bool);
    /// Whether the layer is in training mode.
    fn is_training(&self) -> bool;
    /// A generator of the layer's own.
    fn set_seed(&mut self, seed: u64, kind: GeneratorKind);
    /// Whether forward writes its input and backward its grad_output.
    fn is_inplace(&self) -> bool;
    /// The layer's options, generator and mode on one line.
    fn describe(&self) -> String;
}

impl<M: Module + Send + Debug + Display> JvmLayer for M {
    fn forward(&mut self, shape: &[usize], io: Io<'_>) -> dropkit::Result<()> {
        match io {
            Io::F32(io) => self.forward_flat(shape, io),
            Io::F64(io) => self.forward_flat(shape, io),
        }
    }

    fn backward(&mut self, shape: &[usize], io: Io<'_>) -> dropkit::Result<()> {
        match io {
            Io::F32(io) => self.backward_flat(shape, shape, io),
            Io::F64(io) => self.backward_flat(shape, shape, io),
        }
    }

    fn set_training(&mut self, on: bool) {
        if on {
            self.training();
        } else {
            self.evaluate();
        }
    }

    fn is_training(&self) -> bool {
        Module::is_training(self)
    }

    fn set_seed(&mut self, seed: u64, kind: GeneratorKind) {
        Module::set_seed(self, seed, kind);
    }

    fn is_inplace(&self) -> bool {
        Module::is_inplace(self)
    }

    fn describe(&self) -> String {
        self.to_string()
    }
}

/// What a Java layer's `long` handle points to.
#[derive(Debug)]
pub(crate) struct Handle {
    layer: Mutex<Box<dyn JvmLayer>>,
}

impl Handle {
    /// A new handle owning `layer`, as the `long` Java keeps.
    pub(crate) fn into_raw(layer: Box<dyn JvmLayer>) -> i64 {
        Box::into_raw(Box::new(Handle {
            layer: Mutex::new(layer),
        })) as i64
    }

    /// The layer, locked. A panic while it was locked (reported to Java as a
    /// `RuntimeException`) left it in a state that is still memory-safe, so the lock is taken
    /// over rather than failing every later call.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Box<dyn JvmLayer>> {
        self.layer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handle behind `raw`.
///
/// # Safety
/// `raw` came from [`Handle::into_raw`] and was not passed to [`free`] yet, and no `free`
/// runs while the returned reference is used (the Java class calls both under its lock, and
/// only while it is open).
pub(crate) unsafe fn handle<'a>(raw: i64) -> &'a Handle {
    // SAFETY: by the contract above, `raw` points to a live `Handle`.
    unsafe { &*(raw as *const Handle) }
}

/// Drops the handle behind `raw`.
///
/// # Safety
/// As [`handle`], and `raw` is not used again.
pub(crate) unsafe fn free(raw: i64) {
    // SAFETY: by the contract above, `raw` is a live box given out by `into_raw`.
    drop(unsafe { Box::from_raw(raw as *mut Handle) });
}
