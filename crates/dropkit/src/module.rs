//! The Module trait (BigDL's `AbstractModule` in Rust idiom) and its object-safe face,
//! [`Layer`]. How arrays of any layout reach the layers' flat io is in `arrays.rs`.

use ndarray::{Array, ArrayBase, ArrayD, ArrayViewD, ArrayViewMut, Data, Dimension};

use crate::arrays::{
    fresh, gather, memory_order, permuted_inplace, permuted_pass, standard, COPY, OUTPUT,
};
use crate::error::{check_shape, Result};
use crate::layers::LayerImpl;
use crate::ops::FlatIo;
use crate::rng::{Generator, GeneratorKind, GeneratorState, RngSource};
use crate::Element;

/// A layer with BigDL's module API: forward, backward, training and evaluation modes.
///
/// Layers are not generic over the element type: one layer serves `f32` and `f64` arrays
/// (its state, the mask bits and the draw, has no element type). Arrays may have any rank
/// and any strides (views, transposes, negative strides): results equal those of the same
/// data made contiguous, because randomness follows the logical row-major index.
///
/// `backward` differentiates the last `forward` (its mode, `p`, mask or noise), so switching
/// modes between the two does not change the gradient. This is BigDL's contract: a layer
/// keeps one forward, so a layer applied several times before backward (a block shared
/// across a network, an RNN's time steps) differentiates only its last call. For such reuse,
/// [`crate::functional`] has each layer's forward and backward as pure functions of
/// `(seed, draw)`, bit-identical to the layer at that draw.
///
/// The trait is sealed: dropkit's layers implement it, and code outside dropkit cannot. To
/// hold layers of different types together, use [`Layer`] (`Box<dyn Layer<f32>>`).
///
/// # Errors
/// See each method and [`crate::Error`]; on error nothing is written. Every buffer whose size
/// comes from the input (the output, a row-major copy of a strided array, the keep mask, kept
/// noise) is allocated fallibly: one the allocator refuses, or whose byte count does not fit
/// an allocation, is [`crate::Error::OutOfMemory`], never an abort. A forward that fails
/// that way after its draw (a mask or kept noise) has taken the draw, as a failed CUDA launch
/// does, and records nothing: backward still differentiates the forward before it.
pub trait Module: LayerImpl {
    /// The layer's type name (used in error messages).
    fn name(&self) -> &'static str {
        self.core().name
    }

    /// Forward on row-major data of logical shape `shape`.
    ///
    /// # Errors
    /// Shape errors of the layer (e.g. a Spatial layer's rank); [`crate::Error::ShapeMismatch`]
    /// when the buffers do not hold `shape`'s element count, [`crate::Error::ShapeOverflow`]
    /// when that count overflows ([`FlatIo::check`]); [`crate::Error::OutOfMemory`] when the
    /// keep mask or kept noise cannot be allocated.
    fn forward_flat<T: Element>(&mut self, shape: &[usize], io: FlatIo<'_, T>) -> Result<()> {
        self.forward_on(shape, io)
    }

    /// Backward on row-major data: `io` reads `grad_output` and writes `grad_input`, both of
    /// shape `shape`; `input_shape` is the shape of the `input` argument.
    ///
    /// # Errors
    /// [`crate::Error::BackwardBeforeForward`] when a training backward has no forward
    /// before it; [`crate::Error::ShapeMismatch`] when a shape differs from the forward's;
    /// [`crate::Error::ShapeOverflow`] as in forward; [`crate::Error::OutOfMemory`] when a mask
    /// regenerated from its draw cannot be allocated.
    fn backward_flat<T: Element>(
        &mut self,
        input_shape: &[usize],
        shape: &[usize],
        io: FlatIo<'_, T>,
    ) -> Result<()> {
        self.backward_on(input_shape, shape, io)
    }

    /// Switches to training mode (the mode layers start in); returns the layer.
    fn training(&mut self) -> &mut Self
    where
        Self: Sized,
    {
        self.core_mut().train = true;
        self
    }

    /// Switches to evaluation mode; returns the layer.
    fn evaluate(&mut self) -> &mut Self
    where
        Self: Sized,
    {
        self.core_mut().train = false;
        self
    }

    /// Whether the layer is in training mode.
    fn is_training(&self) -> bool {
        self.core().train
    }

    /// Gives the layer a generator of its own, of `kind`, seeded with `seed`, at draw 0.
    fn set_seed(&mut self, seed: u64, kind: GeneratorKind) -> &mut Self
    where
        Self: Sized,
    {
        self.core_mut().rng = RngSource::Own(Generator::new(kind, seed));
        self
    }

    /// Makes the layer take its draws from the process-wide default generator again.
    fn use_default_generator(&mut self) -> &mut Self
    where
        Self: Sized,
    {
        self.core_mut().rng = RngSource::Default;
        self
    }

    /// The `inplace` option (BigDL's Dropout flag, PyTorch's `inplace=True`): a flag for
    /// callers that own their buffers, such as the Python package, whose `forward` then
    /// overwrites its input. In Rust, in place is [`Module::forward_inplace`] whatever the flag.
    fn is_inplace(&self) -> bool {
        self.core().inplace
    }

    /// Sets the `inplace` option; returns the layer.
    fn set_inplace(&mut self, inplace: bool) -> &mut Self
    where
        Self: Sized,
    {
        self.core_mut().inplace = inplace;
        self
    }

    /// Whether the layer has a generator of its own (else it draws from the default).
    fn has_own_generator(&self) -> bool {
        matches!(self.core().rng, RngSource::Own(_))
    }

    /// The position of the generator this layer draws from (its own, or the default).
    fn generator_state(&self) -> GeneratorState {
        self.core().rng.state()
    }

    /// Gives the layer a generator of its own at `state`: the next training forward uses
    /// that draw, so a past mask can be replayed.
    ///
    /// # Errors
    /// As [`Generator::from_state`] (a BigDL `pending_pair` that cannot exist); the layer is
    /// unchanged then.
    fn set_generator_state(&mut self, state: GeneratorState) -> Result<&mut Self>
    where
        Self: Sized,
    {
        let generator = Generator::from_state(state)?;
        Ok(self.set_generator(generator))
    }

    /// Gives the layer `generator` as its own, at the generator's position (for a caller that
    /// builds it with [`Generator::from_state`] before taking a lock on the layer).
    fn set_generator(&mut self, generator: Generator) -> &mut Self
    where
        Self: Sized,
    {
        self.core_mut().rng = RngSource::Own(generator);
        self
    }

    /// Heap bytes the layer keeps between forward and backward (mask bits, saved streams).
    fn saved_bytes(&self) -> usize {
        self.core().saved_bytes() + self.extra_saved_bytes()
    }

    /// Forward: a new array with the input's shape, in standard layout, or in the input's
    /// memory order when the input is a permutation of a row-major array (Fortran order,
    /// a channels-last array viewed as NCHW), as numpy's `empty_like` keeps it. The values
    /// are those of the row-major input either way.
    ///
    /// # Errors
    /// As [`Module::forward_flat`]; [`crate::Error::OutOfMemory`] when the output cannot be
    /// allocated (nothing is drawn then).
    fn forward<T: Element, S: Data<Elem = T>, D: Dimension>(
        &mut self,
        input: &ArrayBase<S, D>,
    ) -> Result<Array<T, D>> {
        if let Some(perm) = memory_order(input) {
            return permuted_pass(self, None, input, perm);
        }
        let mut out = fresh(self.name(), OUTPUT, input.raw_dim())?;
        let io = gather(input, &mut out);
        self.forward_flat(input.shape(), io)?;
        Ok(out)
    }

    /// Forward into `output` (any layout, same shape as `input`), allocating nothing when
    /// both are in standard layout.
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] for an output of another shape; else as forward.
    fn forward_into<T: Element, S: Data<Elem = T>, D: Dimension>(
        &mut self,
        input: &ArrayBase<S, D>,
        mut output: ArrayViewMut<'_, T, D>,
    ) -> Result<()> {
        check_shape(self.name(), "output", input.shape(), output.shape())?;
        if let Some(dst) = output.as_slice_mut() {
            let x = standard(self.name(), input)?;
            let src = x.as_slice().expect("standard layout");
            return self.forward_flat(input.shape(), FlatIo::Copy { src, dst });
        }
        let mut tmp = fresh(self.name(), COPY, input.raw_dim())?;
        let io = gather(input, &mut tmp);
        self.forward_flat(input.shape(), io)?;
        output.assign(&tmp);
        Ok(())
    }

    /// Forward in place: overwrites `x` with the output (BigDL's `inplace = true`).
    ///
    /// # Errors
    /// As forward; `x` is untouched on error.
    fn forward_inplace<T: Element, D: Dimension>(
        &mut self,
        mut x: ArrayViewMut<'_, T, D>,
    ) -> Result<()> {
        let shape = x.shape().to_vec();
        if let Some(buf) = x.as_slice_mut() {
            return self.forward_flat(&shape, FlatIo::InPlace(buf));
        }
        if let Some(perm) = memory_order(&x) {
            if permuted_inplace(self, None, &mut x, perm)? {
                return Ok(());
            }
        }
        let mut tmp = fresh(self.name(), COPY, x.raw_dim())?;
        tmp.assign(&x);
        self.forward_flat(
            &shape,
            FlatIo::InPlace(tmp.as_slice_mut().expect("standard layout")),
        )?;
        x.assign(&tmp);
        Ok(())
    }

    /// Backward: the gradient with respect to the input, a new array (in `grad_output`'s
    /// memory order when that is a permutation of a row-major array, as forward).
    ///
    /// # Errors
    /// As [`Module::backward_flat`]; [`crate::Error::OutOfMemory`] when the output cannot be
    /// allocated.
    fn backward<T: Element, S1: Data<Elem = T>, S2: Data<Elem = T>, D: Dimension>(
        &mut self,
        input: &ArrayBase<S1, D>,
        grad_output: &ArrayBase<S2, D>,
    ) -> Result<Array<T, D>> {
        if let Some(perm) = memory_order(grad_output) {
            return permuted_pass(self, Some(input.shape()), grad_output, perm);
        }
        let mut out = fresh(self.name(), OUTPUT, grad_output.raw_dim())?;
        let io = gather(grad_output, &mut out);
        self.backward_flat(input.shape(), grad_output.shape(), io)?;
        Ok(out)
    }

    /// Backward into `grad_input` (any layout, the shape of `grad_output`).
    ///
    /// # Errors
    /// [`crate::Error::ShapeMismatch`] for a `grad_input` of another shape; else as backward.
    fn backward_into<T: Element, S1: Data<Elem = T>, S2: Data<Elem = T>, D: Dimension>(
        &mut self,
        input: &ArrayBase<S1, D>,
        grad_output: &ArrayBase<S2, D>,
        mut grad_input: ArrayViewMut<'_, T, D>,
    ) -> Result<()> {
        check_shape(
            self.name(),
            "grad_input",
            grad_output.shape(),
            grad_input.shape(),
        )?;
        if let Some(dst) = grad_input.as_slice_mut() {
            let g = standard(self.name(), grad_output)?;
            let src = g.as_slice().expect("standard layout");
            return self.backward_flat(
                input.shape(),
                grad_output.shape(),
                FlatIo::Copy { src, dst },
            );
        }
        let mut tmp = fresh(self.name(), COPY, grad_output.raw_dim())?;
        let io = gather(grad_output, &mut tmp);
        self.backward_flat(input.shape(), grad_output.shape(), io)?;
        grad_input.assign(&tmp);
        Ok(())
    }

    /// Backward in place: overwrites `grad_output` with the input gradient (BigDL's
    /// `inplace = true`).
    ///
    /// # Errors
    /// As backward; `grad_output` is untouched on error.
    fn backward_inplace<T: Element, S: Data<Elem = T>, D: Dimension>(
        &mut self,
        input: &ArrayBase<S, D>,
        mut grad_output: ArrayViewMut<'_, T, D>,
    ) -> Result<()> {
        let shape = grad_output.shape().to_vec();
        if let Some(buf) = grad_output.as_slice_mut() {
            return self.backward_flat(input.shape(), &shape, FlatIo::InPlace(buf));
        }
        if let Some(perm) = memory_order(&grad_output) {
            if permuted_inplace(self, Some(input.shape()), &mut grad_output, perm)? {
                return Ok(());
            }
        }
        let mut tmp = fresh(self.name(), COPY, grad_output.raw_dim())?;
        tmp.assign(&grad_output);
        let buf = tmp.as_slice_mut().expect("standard layout");
        self.backward_flat(input.shape(), &shape, FlatIo::InPlace(buf))?;
        grad_output.assign(&tmp);
        Ok(())
    }
}

impl<L: LayerImpl> Module for L {}

/// [`Module`] for one element type, as a trait object: a `Vec<Box<dyn Layer<f32>>>` holds
/// layers of different types. Every [`Module`] is a `Layer<f32>` and a `Layer<f64>`.
///
/// Its methods have [`Module`]'s names: where both traits are in scope, call them through
/// the trait object (or as `Module::forward(&mut layer, ...)`).
///
/// # Example
/// ```
/// use dropkit::{Dropout, GaussianNoise, Layer, SpatialDropout1D};
/// let mut model: Vec<Box<dyn Layer<f32>>> = vec![
///     Box::new(GaussianNoise::new(0.1)?),
///     Box::new(SpatialDropout1D::new(0.2)?),
///     Box::new(Dropout::new(0.5)?),
/// ];
/// let mut x = ndarray::Array::from_elem((2, 5, 3), 1.0f32).into_dyn();
/// for layer in model.iter_mut() {
///     x = layer.forward(x.view())?;
/// }
/// let mut g = ndarray::Array::ones(x.raw_dim());
/// for layer in model.iter_mut().rev() {
///     g = layer.backward(x.view(), g.view())?;
/// }
/// assert_eq!(g.shape(), &[2, 5, 3]);
/// model.iter_mut().for_each(|layer| layer.set_training(false));
/// assert!(model.iter().all(|layer| !layer.is_training()));
/// # Ok::<(), dropkit::Error>(())
/// ```
pub trait Layer<T: Element> {
    /// The layer's type name.
    fn name(&self) -> &'static str;

    /// Forward: a new array with the input's shape.
    ///
    /// # Errors
    /// As [`Module::forward`].
    fn forward(&mut self, input: ArrayViewD<'_, T>) -> Result<ArrayD<T>>;

    /// Backward: the gradient with respect to the input.
    ///
    /// # Errors
    /// As [`Module::backward`].
    fn backward(
        &mut self,
        input: ArrayViewD<'_, T>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<ArrayD<T>>;

    /// Forward on row-major data of logical shape `shape`.
    ///
    /// # Errors
    /// As [`Module::forward_flat`].
    fn forward_flat(&mut self, shape: &[usize], io: FlatIo<'_, T>) -> Result<()>;

    /// Backward on row-major data.
    ///
    /// # Errors
    /// As [`Module::backward_flat`].
    fn backward_flat(
        &mut self,
        input_shape: &[usize],
        shape: &[usize],
        io: FlatIo<'_, T>,
    ) -> Result<()>;

    /// Training mode (`true`) or evaluation mode.
    fn set_training(&mut self, train: bool);

    /// Whether the layer is in training mode.
    fn is_training(&self) -> bool;

    /// The position of the generator the layer draws from.
    fn generator_state(&self) -> GeneratorState;

    /// Heap bytes kept between forward and backward.
    fn saved_bytes(&self) -> usize;
}

impl<T: Element, M: Module> Layer<T> for M {
    fn name(&self) -> &'static str {
        Module::name(self)
    }

    fn forward(&mut self, input: ArrayViewD<'_, T>) -> Result<ArrayD<T>> {
        Module::forward(self, &input)
    }

    fn backward(
        &mut self,
        input: ArrayViewD<'_, T>,
        grad_output: ArrayViewD<'_, T>,
    ) -> Result<ArrayD<T>> {
        Module::backward(self, &input, &grad_output)
    }

    fn forward_flat(&mut self, shape: &[usize], io: FlatIo<'_, T>) -> Result<()> {
        Module::forward_flat(self, shape, io)
    }

    fn backward_flat(
        &mut self,
        input_shape: &[usize],
        shape: &[usize],
        io: FlatIo<'_, T>,
    ) -> Result<()> {
        Module::backward_flat(self, input_shape, shape, io)
    }

    fn set_training(&mut self, train: bool) {
        self.core_mut().train = train;
    }

    fn is_training(&self) -> bool {
        Module::is_training(self)
    }

    fn generator_state(&self) -> GeneratorState {
        Module::generator_state(self)
    }

    fn saved_bytes(&self) -> usize {
        Module::saved_bytes(self)
    }
}
