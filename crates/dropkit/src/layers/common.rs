//! State every layer has: the mode, where draws come from, and what the last forward did.

use crate::error::{check_shape, Error, Result};
use crate::mask::BitMask;
use crate::rng::{Draw, RngSource};

/// The mode, the generator source and the forward record of a layer.
#[derive(Clone, Debug)]
pub struct LayerCore {
    pub(crate) train: bool,
    pub(crate) rng: RngSource,
    /// The last forward: its shape, probability and mode.
    pub(crate) last: Option<LastForward>,
    /// The last training forward's randomness (kept across evaluation forwards, so a
    /// non-resampling Dropout can reuse it).
    pub(crate) saved: Option<Saved>,
    /// The device copy of `saved`'s 1-bit mask, when a CUDA forward made one (its `bits` is
    /// then `None`: the host has no copy). Always describes `saved`: `record_train` clears
    /// it, and the CUDA forward sets it right after.
    #[cfg(feature = "cuda")]
    pub(crate) device_bits: Option<std::sync::Arc<crate::cuda::DeviceBits>>,
}

impl Default for LayerCore {
    fn default() -> Self {
        LayerCore {
            train: true,
            rng: RngSource::Default,
            last: None,
            saved: None,
            #[cfg(feature = "cuda")]
            device_bits: None,
        }
    }
}

/// What the last forward was.
#[derive(Clone, Debug)]
pub(crate) struct LastForward {
    pub(crate) shape: Vec<usize>,
    pub(crate) p: f64,
    pub(crate) train: bool,
}

/// The randomness of a training forward.
#[derive(Clone, Debug)]
pub(crate) struct Saved {
    pub(crate) shape: Vec<usize>,
    pub(crate) p: f64,
    pub(crate) draw: Draw,
    pub(crate) bits: Option<BitMask>,
}

/// What a backward differentiates.
pub(crate) enum BackwardPlan<'a> {
    /// The evaluation forward at drop probability `p`.
    Eval(f64),
    /// The training forward that drew `Saved`.
    Train(&'a Saved),
}

impl LayerCore {
    pub(crate) fn record_eval(&mut self, shape: &[usize], p: f64) {
        self.last = Some(LastForward {
            shape: shape.to_vec(),
            p,
            train: false,
        });
    }

    pub(crate) fn record_train(&mut self, saved: Saved) {
        self.last = Some(LastForward {
            shape: saved.shape.clone(),
            p: saved.p,
            train: true,
        });
        self.saved = Some(saved);
        #[cfg(feature = "cuda")]
        {
            self.device_bits = None;
        }
    }

    /// Records a training forward that reused the saved draw (non-resampling Dropout).
    pub(crate) fn record_reuse(&mut self) {
        if let Some(saved) = &self.saved {
            self.last = Some(LastForward {
                shape: saved.shape.clone(),
                p: saved.p,
                train: true,
            });
        }
    }

    /// The saved draw of a training forward on `shape`, if there is one.
    pub(crate) fn saved_for(&self, shape: &[usize]) -> Option<&Saved> {
        self.saved.as_ref().filter(|s| s.shape == shape)
    }

    /// Decides what backward differentiates (the last forward) and checks the shapes.
    /// With no forward yet, an evaluation-mode backward (or one that `needs_state` not) is
    /// the stateless evaluation gradient at `p`; a training one is an error.
    pub(crate) fn plan_backward(
        &self,
        layer: &'static str,
        input_shape: &[usize],
        grad_shape: &[usize],
        p: f64,
        needs_state: bool,
    ) -> Result<BackwardPlan<'_>> {
        match &self.last {
            None if self.train && needs_state => Err(Error::BackwardBeforeForward { layer }),
            None => {
                check_shape(layer, "grad_output", input_shape, grad_shape)?;
                Ok(BackwardPlan::Eval(p))
            }
            Some(last) => {
                check_shape(layer, "input", &last.shape, input_shape)?;
                check_shape(layer, "grad_output", &last.shape, grad_shape)?;
                match (&self.saved, last.train) {
                    (Some(saved), true) => Ok(BackwardPlan::Train(saved)),
                    _ => Ok(BackwardPlan::Eval(last.p)),
                }
            }
        }
    }

    /// Heap bytes kept for backward: mask bits and saved stream states.
    pub(crate) fn saved_bytes(&self) -> usize {
        self.saved.as_ref().map_or(0, |s| {
            let bits = s.bits.as_ref().map_or(0, BitMask::heap_bytes);
            let stream = match s.draw {
                Draw::Philox { .. } => 0,
                Draw::BigDl(_) => std::mem::size_of::<crate::rng::BigDlStream>() + 624 * 4,
            };
            bits + stream
        })
    }
}
