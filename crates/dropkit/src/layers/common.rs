//! What every layer shares: the mode, where draws come from, what the last forward did, and
//! the crate-private trait through which `Module` (and `cuda::CudaModule`) reach a layer's
//! one implementation of forward and backward.

use crate::backend::{Backend, Compute, SavedMask};
use crate::error::{check_shape, Error, Result};
use crate::ops::{element_count, Kept, MaskLayout, MaskMap};
use crate::rng::{Draw, Randomness, RngSource};
use crate::Element;

/// A layer's forward and backward, written once over every backend: the mode, the shapes and
/// the record of what forward did are decided here ([`LayerImpl::forward_on`],
/// [`LayerImpl::backward_on`]); a layer says only what its training pass computes and what
/// evaluation multiplies by. Public only in name: it lives in a private module, so no type
/// outside the crate can implement it, which seals [`crate::Module`].
pub trait LayerImpl {
    /// Whether a training backward needs the forward's draw (all but GaussianNoise).
    const NEEDS_DRAW: bool = true;

    /// The mode, generator and forward record.
    fn core(&self) -> &LayerCore;

    /// Mutable access to [`LayerImpl::core`].
    fn core_mut(&mut self) -> &mut LayerCore;

    /// The probability recorded with a forward: `p` (Dropout, Spatial), `rate`
    /// (GaussianDropout), 0 (GaussianNoise).
    fn recorded_p(&self) -> f64;

    /// The mask a training forward draws for `argument` of `shape`: its length and how data
    /// elements map to it (one element each by default), or the layer's shape error. An empty
    /// tensor has an empty mask, whatever its other dimensions.
    fn mask_layout(&self, argument: &'static str, shape: &[usize]) -> Result<MaskLayout> {
        Ok(MaskLayout {
            len: element_count(self.core().name, argument, shape)?,
            map: MaskMap::Elementwise,
        })
    }

    /// The evaluation forward's factor at `p` (and its backward's), of `T`'s compute type:
    /// `None` is the identity.
    fn eval_factor<T: Element>(&self, _p: f64) -> Option<T::Compute> {
        None
    }

    /// A training forward on an input of `shape` whose mask layout is `at`: takes a draw
    /// (through [`LayerCore::draw_on`]), runs it on `io` and records it
    /// ([`LayerCore::record_train`]).
    fn train_forward<B: Backend>(&mut self, shape: &[usize], at: MaskLayout, io: B) -> Result<()>;

    /// The backward of the training forward that drew `saved` (mask layout `at`).
    fn train_backward<B: Backend>(&self, saved: &Saved, at: MaskLayout, io: B) -> Result<()>;

    /// Heap bytes kept between forward and backward besides the core's (kept noise).
    fn extra_saved_bytes(&self) -> usize {
        0
    }

    /// The mask layout of a training pass over data of logical `shape` held in memory order
    /// `perm` (memory axis `k` is logical axis `perm[k]`), run flat over memory, when that
    /// gives the bits of the logical row-major pass: `None` (the default) when it does not,
    /// as for element-wise randomness, which follows the logical index.
    fn memory_mask_layout(&self, _shape: &[usize], _perm: &[usize]) -> Option<MaskLayout> {
        None
    }

    /// The layout a forward (`grad_output_shape` is `None`) or a backward over data held in
    /// memory order `perm` uses when it runs flat over memory, or `None` when that would not
    /// give the bits of the logical row-major pass (or the call is an error, which the
    /// row-major path reports). Evaluation passes and a backward that needs no draw
    /// (GaussianNoise's identity) are element-wise scalings, the same in any order.
    fn memory_order_layout(
        &self,
        shape: &[usize],
        grad_output_shape: Option<&[usize]>,
        perm: &[usize],
    ) -> Option<MaskLayout> {
        let core = self.core();
        let order_free = match grad_output_shape {
            None => !core.train,
            Some(grad) => {
                match core.plan_backward(shape, grad, self.recorded_p(), Self::NEEDS_DRAW) {
                    Ok(BackwardPlan::Eval(_)) => true,
                    Ok(BackwardPlan::Train(_)) => !Self::NEEDS_DRAW,
                    Err(_) => return None,
                }
            }
        };
        let data_shape = grad_output_shape.unwrap_or(shape);
        let logical = self.mask_layout("input", data_shape).ok()?;
        if order_free {
            Some(logical)
        } else {
            self.memory_mask_layout(data_shape, perm)
        }
    }

    /// Forward on data of logical shape `shape` (row-major), on `io`'s backend.
    fn forward_on<B: Backend>(&mut self, shape: &[usize], io: B) -> Result<()> {
        self.forward_laid_out(shape, None, io)
    }

    /// [`LayerImpl::forward_on`], with the training mask laid out as `memory` where given
    /// (from [`LayerImpl::memory_order_layout`]: `io` then holds the data in that order).
    fn forward_laid_out<B: Backend>(
        &mut self,
        shape: &[usize],
        memory: Option<MaskLayout>,
        io: B,
    ) -> Result<()> {
        let name = self.core().name;
        io.check(name, "input", shape)?;
        let mask = self.mask_layout("input", shape)?;
        let mask = memory.unwrap_or(mask);
        if self.core().train {
            return self.train_forward(shape, mask, io);
        }
        let p = self.recorded_p();
        io.scale(self.eval_factor::<B::Elem>(p))?;
        self.core_mut().record_eval(shape, p);
        Ok(())
    }

    /// Backward: `io` reads `grad_output` and writes `grad_input`, both of shape `shape`;
    /// `input_shape` is the shape of the `input` argument. It differentiates the last forward.
    fn backward_on<B: Backend>(
        &mut self,
        input_shape: &[usize],
        shape: &[usize],
        io: B,
    ) -> Result<()> {
        self.backward_laid_out(input_shape, shape, None, io)
    }

    /// [`LayerImpl::backward_on`], with the mask laid out as `memory` where given (see
    /// [`LayerImpl::forward_laid_out`]).
    fn backward_laid_out<B: Backend>(
        &mut self,
        input_shape: &[usize],
        shape: &[usize],
        memory: Option<MaskLayout>,
        io: B,
    ) -> Result<()> {
        let core = self.core();
        io.check(core.name, "grad_output", shape)?;
        let mask = self.mask_layout("grad_output", shape)?;
        let mask = memory.unwrap_or(mask);
        let p = self.recorded_p();
        match core.plan_backward(input_shape, shape, p, Self::NEEDS_DRAW)? {
            BackwardPlan::Eval(p) => io.scale(self.eval_factor::<B::Elem>(p)),
            BackwardPlan::Train(saved) => self.train_backward(saved, mask, io),
        }
    }
}

/// The mode, the generator source and the forward record of a layer.
#[derive(Clone, Debug)]
pub struct LayerCore {
    /// The layer's type name (for messages).
    pub(crate) name: &'static str,
    pub(crate) train: bool,
    /// The `inplace` option: a flag for callers that own their buffers (the Python package
    /// writes the input); Rust callers use `Module::forward_inplace` instead.
    pub(crate) inplace: bool,
    pub(crate) rng: RngSource,
    /// The last forward: its shape, probability and mode.
    pub(crate) last: Option<LastForward>,
    /// The last training forward's randomness (kept across evaluation forwards, so a
    /// non-resampling Dropout can reuse it).
    pub(crate) saved: Option<Saved>,
}

impl LayerCore {
    /// A layer in training mode, drawing from the default generator, with no forward yet.
    pub(crate) fn new(name: &'static str) -> Self {
        LayerCore {
            name,
            train: true,
            inplace: false,
            rng: RngSource::Default,
            last: None,
            saved: None,
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
    /// The keep mask, where the forward kept one (on the backend that ran it).
    pub(crate) bits: Option<SavedMask>,
}

/// What a backward differentiates.
pub(crate) enum BackwardPlan<'a> {
    /// The evaluation forward at drop probability `p`.
    Eval(f64),
    /// The training forward that drew `Saved`.
    Train(&'a Saved),
}

impl LayerCore {
    /// Takes one draw for a training forward on backend `B` and runs `f` on its randomness.
    /// A backend that cannot generate this randomness refuses before anything is drawn.
    pub(crate) fn draw_on<B: Backend, R>(
        &mut self,
        f: impl FnOnce(&mut Randomness<'_>) -> Result<R>,
    ) -> Result<(R, Draw)> {
        let layer = self.name;
        let (r, draw) = self.rng.draw(|r| {
            B::accepts(layer, r)?;
            f(r)
        });
        Ok((r?, draw))
    }

    pub(crate) fn record_eval(&mut self, shape: &[usize], p: f64) {
        self.last = Some(LastForward {
            shape: shape.to_vec(),
            p,
            train: false,
        });
    }

    /// Records a training forward on `shape` at `p` that drew `draw` and kept `bits`.
    pub(crate) fn record_train(
        &mut self,
        shape: &[usize],
        p: f64,
        draw: Draw,
        bits: Option<SavedMask>,
    ) {
        self.last = Some(LastForward {
            shape: shape.to_vec(),
            p,
            train: true,
        });
        self.saved = Some(Saved {
            shape: shape.to_vec(),
            p,
            draw,
            bits,
        });
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
    /// With no forward yet, an evaluation-mode backward (or one that needs no draw) is
    /// the stateless evaluation gradient at `p`; a training one is an error.
    pub(crate) fn plan_backward(
        &self,
        input_shape: &[usize],
        grad_shape: &[usize],
        p: f64,
        needs_draw: bool,
    ) -> Result<BackwardPlan<'_>> {
        let layer = self.name;
        match &self.last {
            None if self.train && needs_draw => Err(Error::BackwardBeforeForward { layer }),
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

    /// Heap bytes kept for backward: host mask bits and saved stream states.
    pub(crate) fn saved_bytes(&self) -> usize {
        self.saved.as_ref().map_or(0, |s| {
            let bits = s.bits.as_ref().map_or(0, SavedMask::heap_bytes);
            let stream = match s.draw {
                Draw::Philox { .. } => 0,
                Draw::BigDl(_) => std::mem::size_of::<crate::rng::BigDlStream>() + 624 * 4,
            };
            bits + stream
        })
    }
}

/// Applies the keep mask of a recorded training forward with `kept` (Dropout, Spatial): the
/// kept bits where this backend holds them, else the mask regenerated from the draw
/// (element-wise Dropout fuses the regeneration into its pass).
pub(crate) fn apply_saved<B: Backend>(
    io: B,
    saved: &Saved,
    mask: MaskLayout,
    kept: Kept<Compute<B>>,
) -> Result<()> {
    // BigDL's stream replays sequentially on the host: any kept mask beats that.
    let replay_costs = matches!(saved.draw, Draw::BigDl(_));
    if let Some(bits) = saved
        .bits
        .as_ref()
        .filter(|b| b.len() == mask.len && (io.holds(b) || replay_costs))
    {
        return io.apply_mask(bits, mask.map, kept);
    }
    if mask.map == MaskMap::Elementwise {
        return saved
            .draw
            .replay(|r| io.dropout(r, saved.p, kept, false))
            .map(drop);
    }
    let bits = saved.draw.replay(|r| io.keep_bits(r, mask.len, saved.p))?;
    io.apply_mask(&bits, mask.map, kept)
}

/// The value of one constructor option (see [`LayerOptions`]).
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    /// A number (a probability, a rate, a standard deviation).
    Float(f64),
    /// A flag.
    Bool(bool),
    /// A name (a data format).
    Str(&'static str),
    /// A shape whose entries may be unset (a noise shape), or no shape.
    Shape(Option<Vec<Option<usize>>>),
}

impl std::fmt::Display for OptionValue {
    /// Python's spelling: `0.5`, `True`, `'NCHW'`, `(None, 3, 1)`, `(1,)`, `None`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Float(v) => write!(f, "{v:?}"),
            OptionValue::Bool(true) => f.write_str("True"),
            OptionValue::Bool(false) => f.write_str("False"),
            OptionValue::Str(s) => write!(f, "'{s}'"),
            OptionValue::Shape(None) => f.write_str("None"),
            OptionValue::Shape(Some(shape)) => {
                let entries: Vec<String> = shape
                    .iter()
                    .map(|e| e.map_or("None".to_string(), |d| d.to_string()))
                    .collect();
                match entries.as_slice() {
                    [one] => write!(f, "({one},)"),
                    _ => write!(f, "({})", entries.join(", ")),
                }
            }
        }
    }
}

/// A layer's constructor options, named as in the Python constructor, in its order. They are
/// what the layer's `Display`, the Python `get_config` and `repr` show: a new constructor
/// option is one more entry here.
pub trait LayerOptions {
    /// `(name, value)` of every constructor option, the generator aside.
    fn options(&self) -> Vec<(&'static str, OptionValue)>;
}

/// The one line a layer displays as (and Python's `repr`): every option, the seed and
/// generator of its own generator (`seed=None` for the default generator) and the mode, e.g.
/// `Dropout(init_p=0.5, inplace=False, scale=True, noise_shape=None, seed=7,
/// generator='philox', training=True)`.
pub(crate) fn describe<L: LayerImpl + LayerOptions>(
    layer: &L,
    f: &mut std::fmt::Formatter<'_>,
) -> std::fmt::Result {
    let core = layer.core();
    write!(f, "{}(", core.name)?;
    for (name, value) in layer.options() {
        write!(f, "{name}={value}, ")?;
    }
    match &core.rng {
        crate::rng::RngSource::Default => f.write_str("seed=None")?,
        crate::rng::RngSource::Own(g) => {
            let seed = match g.state() {
                crate::GeneratorState::Philox { seed, .. }
                | crate::GeneratorState::BigDl { seed, .. } => seed,
            };
            write!(f, "seed={seed}, generator='{}'", g.kind().name())?;
        }
    }
    let train = OptionValue::Bool(core.train);
    write!(f, ", training={train})")
}

/// `impl Display` through [`describe`] for each named layer.
macro_rules! display_by_options {
    ($($layer:ty),*) => {$(
        impl std::fmt::Display for $layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                $crate::layers::common::describe(self, f)
            }
        }
    )*};
}

display_by_options!(
    crate::AlphaDropout,
    crate::FeatureAlphaDropout,
    crate::Dropout,
    crate::GaussianDropout,
    crate::GaussianNoise,
    crate::SpatialDropout1D,
    crate::SpatialDropout2D,
    crate::SpatialDropout3D
);
