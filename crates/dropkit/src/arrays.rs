//! From ndarray arrays of any layout to the layers' flat row-major io, and back: fresh
//! outputs (fallible), gathering strided inputs, and outputs kept in the memory order of an
//! input that is a permutation of a contiguous array.

use ndarray::{Array, ArrayBase, ArrayViewMut, CowArray, Data, Dimension};

use crate::error::{Error, Result};
use crate::layers::LayerImpl;
use crate::ops::FlatIo;
use crate::Element;

/// What a new output array is called in [`Error::OutOfMemory`].
pub(crate) const OUTPUT: &str = "the output";
/// What a row-major copy of an array of another layout is called there.
pub(crate) const COPY: &str = "a row-major copy of a strided array";

/// A fresh array for `layer` (see [`crate::alloc`]: untouched zero pages, huge pages when
/// large), called `what` if it cannot be allocated. Its element count is checked in every
/// build ([`Error::ShapeOverflow`]).
pub(crate) fn fresh<T: Element, D: Dimension>(
    layer: &'static str,
    what: &'static str,
    dim: D,
) -> Result<Array<T, D>> {
    let overflow = |dim: &D| Error::ShapeOverflow {
        layer,
        argument: "output",
        shape: dim.slice().to_vec(),
    };
    let n = dim.size_checked().ok_or_else(|| overflow(&dim))?;
    let buf = crate::alloc::zeroed(what, n)?;
    Array::from_shape_vec(dim.clone(), buf).map_err(|_| overflow(&dim))
}

/// `a` in standard layout: itself, or a fresh copy.
pub(crate) fn standard<'a, T: Element, S: Data<Elem = T>, D: Dimension>(
    layer: &'static str,
    a: &'a ArrayBase<S, D>,
) -> Result<CowArray<'a, T, D>> {
    if a.is_standard_layout() {
        return Ok(CowArray::from(a.view()));
    }
    let mut copy = fresh(layer, COPY, a.raw_dim())?;
    copy.assign(a);
    Ok(CowArray::from(copy))
}

/// The kernel's io for a fresh standard-layout `out` and a source of any layout: read the
/// source where it is already row-major, else gather it into `out` and work in place there
/// (so a strided input costs no buffer besides the output).
pub(crate) fn gather<'a, T: Element, S: Data<Elem = T>, D: Dimension>(
    src: &'a ArrayBase<S, D>,
    out: &'a mut Array<T, D>,
) -> FlatIo<'a, T> {
    match src.as_slice() {
        Some(src) => FlatIo::Copy {
            src,
            dst: out.as_slice_mut().expect("standard layout"),
        },
        None => {
            out.assign(src);
            FlatIo::InPlace(out.as_slice_mut().expect("standard layout"))
        }
    }
}

/// The axes of `a` from the outermost in memory to the innermost, when `a` is not in
/// standard layout but is a permutation of a row-major array (Fortran order, channels-last
/// data viewed as NCHW): its axes so permuted are in standard layout. `None` otherwise.
pub(crate) fn memory_order<S: Data, D: Dimension>(a: &ArrayBase<S, D>) -> Option<D> {
    if a.is_standard_layout() {
        return None;
    }
    let strides = a.strides();
    let mut axes: Vec<usize> = (0..a.ndim()).collect();
    // Ties (axes of length 1) keep their logical order.
    axes.sort_by_key(|&k| (std::cmp::Reverse(strides[k]), k));
    let mut perm = a.raw_dim();
    for (slot, &axis) in perm.slice_mut().iter_mut().zip(&axes) {
        *slot = axis;
    }
    a.view()
        .permuted_axes(perm.clone())
        .is_standard_layout()
        .then_some(perm)
}

/// The permutation that undoes `perm`.
pub(crate) fn inverse<D: Dimension>(perm: &D) -> D {
    let mut inv = perm.clone();
    for (k, &axis) in perm.slice().iter().enumerate() {
        inv.slice_mut()[axis] = k;
    }
    inv
}

/// Forward or backward (`input_shape` is `Some`) of `src`, a permutation `perm` of a
/// row-major array: the result in `src`'s memory order. Where the layer can run flat over
/// memory with the logical pass's bits ([`LayerImpl::memory_order_layout`]) that is one
/// pass with no copy; else the logical row-major result is computed as for any strided
/// array and then written in `src`'s order.
pub(crate) fn permuted_pass<M, T, S, D>(
    layer: &mut M,
    input_shape: Option<&[usize]>,
    src: &ArrayBase<S, D>,
    perm: D,
) -> Result<Array<T, D>>
where
    M: LayerImpl + ?Sized,
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    let shape = src.shape();
    let name = layer.core().name;
    let in_memory = src.view().permuted_axes(perm.clone());
    let mut out = fresh(name, OUTPUT, in_memory.raw_dim())?;
    let plan = match input_shape {
        None => layer.memory_order_layout(shape, None, perm.slice()),
        Some(input) => layer.memory_order_layout(input, Some(shape), perm.slice()),
    };
    if let Some(at) = plan {
        let io = FlatIo::Copy {
            src: in_memory.as_slice().expect("memory order is row-major"),
            dst: out.as_slice_mut().expect("standard layout"),
        };
        match input_shape {
            None => layer.forward_laid_out(shape, Some(at), io)?,
            Some(input) => layer.backward_laid_out(input, shape, Some(at), io)?,
        }
    } else {
        let mut tmp = fresh(name, COPY, src.raw_dim())?;
        tmp.assign(src);
        let io = FlatIo::InPlace(tmp.as_slice_mut().expect("standard layout"));
        match input_shape {
            None => layer.forward_on(shape, io)?,
            Some(input) => layer.backward_on(input, shape, io)?,
        }
        out.assign(&tmp.view().permuted_axes(perm.clone()));
    }
    Ok(out.permuted_axes(inverse(&perm)))
}

/// In-place forward or backward of `x`, a permutation `perm` of a row-major array, in one
/// pass over its memory, or `false` (nothing done) where that would not give the logical
/// pass's bits.
pub(crate) fn permuted_inplace<M, T, D>(
    layer: &mut M,
    input_shape: Option<&[usize]>,
    x: &mut ArrayViewMut<'_, T, D>,
    perm: D,
) -> Result<bool>
where
    M: LayerImpl + ?Sized,
    T: Element,
    D: Dimension,
{
    let shape = x.shape().to_vec();
    let plan = match input_shape {
        None => layer.memory_order_layout(&shape, None, perm.slice()),
        Some(input) => layer.memory_order_layout(input, Some(&shape), perm.slice()),
    };
    let Some(at) = plan else {
        return Ok(false);
    };
    let mut in_memory = x.view_mut().permuted_axes(perm);
    let io = FlatIo::InPlace(in_memory.as_slice_mut().expect("memory order is row-major"));
    match input_shape {
        None => layer.forward_laid_out(&shape, Some(at), io)?,
        Some(input) => layer.backward_laid_out(input, &shape, Some(at), io)?,
    }
    Ok(true)
}
