"""The framework side of dropkit's GPU path (not part of the API).

A layer's ``forward``/``backward`` on a CUDA array (anything with ``__cuda_array_interface__``:
a ``torch.Tensor`` on a GPU, a ``cupy.ndarray``, a Numba device array; or a DLPack array on a
CUDA device, such as a bfloat16 ``torch.Tensor``) runs in the extension from start to end
(``src/device.rs`` describes the flow; ``src/dlpack.rs`` reads DLPack capsules). The extension calls ``new_array``
below at most once per layer call, for the one thing that needs the array's own framework:
the array the kernels write. The extension reads the input's ``__cuda_array_interface__``
exactly once, and this module does not read it at all.
"""


def _framework(x):
    return type(x).__module__.split(".")[0]


def _supported(x, what):
    return TypeError(
        f"dropkit cannot {what} a {type(x).__module__}.{type(x).__qualname__} device array: "
        "the GPU path supports torch.Tensor, cupy.ndarray and Numba device arrays"
    )


def new_array(x, copy):
    """A new C-contiguous array of ``x``'s framework, on its device, with its dtype and shape:
    a copy of ``x`` (``copy`` true: ``x`` is a strided or misaligned view), or uninitialised
    (the output of a call that is not in place). Queued on the framework's current stream."""
    fw = _framework(x)
    if fw == "torch":
        import torch  # type: ignore[import-not-found]

        if copy:
            return x.clone(memory_format=torch.contiguous_format)
        return torch.empty_like(x, memory_format=torch.contiguous_format)
    if fw == "cupy":
        import cupy  # type: ignore[import-not-found]

        with x.device:
            if copy:
                return cupy.array(x, order="C", copy=True)
            return cupy.empty_like(x, order="C")
    if fw == "numba":
        from numba import cuda  # type: ignore[import-not-found]

        out = cuda.device_array(x.shape, dtype=x.dtype, order="C")
        if copy:
            out[...] = x
        return out
    raise _supported(x, "copy" if copy else "allocate an output like")
