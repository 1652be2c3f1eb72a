"""The framework side of dropkit's GPU path and of its host DLPack path (not part of the API).

A layer's ``forward``/``backward`` on a CUDA array (anything with ``__cuda_array_interface__``:
a ``torch.Tensor`` on a GPU, a ``cupy.ndarray``, a Numba device array; or a DLPack array on a
CUDA device, such as a bfloat16 ``torch.Tensor``) runs in the extension from start to end
(``src/device.rs`` describes the flow; ``src/dlpack.rs`` reads DLPack capsules). The extension calls ``new_array``
below at most once per layer call, for the one thing that needs the array's own framework:
the array the kernels write. The extension reads the input's ``__cuda_array_interface__``
exactly once, and this module does not read it at all.

A CPU tensor that is not a numpy array but offers DLPack (a bfloat16 ``torch.Tensor`` on the
CPU) takes the host path (``src/host.rs``), which calls ``host_output`` below once per call
that is not in place, before it computes: the framework that takes the result back.
"""

import sys


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


def host_output(x, dtype):
    """How a call on the CPU DLPack tensor ``x`` (not a numpy array; ``dtype`` its name:
    float16, bfloat16, float32 or float64) gives back its new result, asked once before the
    call computes (``src/host.rs``): a function taking the result, an object that offers
    DLPack once (the framework's ``from_dlpack``: a ``torch.Tensor`` for a ``torch.Tensor``,
    a ``jax.Array`` for a ``jax.Array``, any other framework's top-level ``from_dlpack``), or
    ``None`` for a numpy array (bfloat16 as ``ml_dtypes.bfloat16``, imported here)."""
    fw = _framework(x)
    if fw == "torch":
        import torch  # type: ignore[import-not-found]

        return torch.from_dlpack
    if fw in ("jax", "jaxlib"):
        import jax.dlpack  # type: ignore[import-not-found]

        return jax.dlpack.from_dlpack
    module = sys.modules.get(fw)
    from_dlpack = getattr(module, "from_dlpack", None)
    if callable(from_dlpack):
        return from_dlpack
    if dtype == "bfloat16":
        try:
            import ml_dtypes  # type: ignore[import-not-found]  # noqa: F401
        except ImportError as e:
            raise TypeError(
                f"a bfloat16 {type(x).__module__}.{type(x).__qualname__} comes back as a numpy "
                "array (its module has no from_dlpack), and numpy's bfloat16 needs the "
                "ml_dtypes package: pip install ml_dtypes"
            ) from e
    return None
