"""The framework side of dropkit's GPU path (not part of the API).

A layer's ``forward``/``backward`` send a CUDA array (anything with
``__cuda_array_interface__``: a ``torch.Tensor`` on a GPU, a ``cupy.ndarray``, a Numba device
array) here. This module does what needs the array's own framework: a C-contiguous, 16-byte
aligned copy of an array that is not (a transposed or offset view), the output allocated
like the input (same framework, device, dtype and shape), and the copy back of an in-place
result. The layer's ``_forward_device``/``_backward_device`` (Rust) then check the arrays
against the CUDA driver and run the kernels on their memory, ordered with the arrays'
streams: no host copy, and the result is bit for bit the CPU's for the same seed and draw.
"""

from ._dropkit import _device_ready  # type: ignore[import-not-found]  # stubs: __init__.pyi


def _framework(x):
    return type(x).__module__.split(".")[0]


def _supported(x, what):
    return TypeError(
        f"dropkit cannot {what} a {type(x).__module__}.{type(x).__qualname__} device array: "
        "the GPU path supports torch.Tensor, cupy.ndarray and Numba device arrays"
    )


def _contiguous_copy(x):
    fw = _framework(x)
    if fw == "torch":
        import torch  # type: ignore[import-not-found]

        return x.clone(memory_format=torch.contiguous_format)
    if fw == "cupy":
        import cupy  # type: ignore[import-not-found]

        return cupy.array(x, order="C", copy=True)
    if fw == "numba":
        from numba import cuda  # type: ignore[import-not-found]

        out = cuda.device_array(x.shape, dtype=x.dtype, order="C")
        out[...] = x
        return out
    raise _supported(x, "copy")


def _empty_like(x):
    fw = _framework(x)
    if fw == "torch":
        import torch  # type: ignore[import-not-found]

        return torch.empty_like(x, memory_format=torch.contiguous_format)
    if fw == "cupy":
        import cupy  # type: ignore[import-not-found]

        return cupy.empty_like(x, order="C")
    if fw == "numba":
        from numba import cuda  # type: ignore[import-not-found]

        return cuda.device_array(x.shape, dtype=x.dtype, order="C")
    raise _supported(x, "allocate an output like")


def _copy_into(dst, src):
    fw = _framework(dst)
    if fw == "torch":
        dst.copy_(src)
    elif fw == "cupy":
        import cupy  # type: ignore[import-not-found]

        cupy.copyto(dst, src)
    else:
        dst[...] = src


def _run(compute, x, inplace):
    ready = x if _device_ready(x) else _contiguous_copy(x)
    if inplace:
        compute(ready, ready)
        if ready is not x:
            _copy_into(x, ready)
        return x
    out = _empty_like(ready)
    compute(ready, out)
    return out


def forward(layer, x, inplace):
    """``layer.forward(x)`` for a CUDA array ``x``."""
    return _run(layer._forward_device, x, inplace)


def backward(layer, input, grad_output, inplace):
    """``layer.backward(input, grad_output)`` for a CUDA ``grad_output`` (only ``input.shape``
    is read, so ``input`` can be any array)."""
    shape = [int(d) for d in input.shape]
    return _run(
        lambda g, out: layer._backward_device(shape, g, out), grad_output, inplace
    )
