"""dropkit.functional: the layers' forward and backward as pure functions of (seed, draw).

A layer keeps one forward, and ``backward`` differentiates its last one (BigDL's contract), so
a layer applied several times before backward (a block shared across a network, an RNN's
time steps) differentiates only its last call. These functions keep nothing: each call names
its draw, and the backward of a forward is called with the same ``seed`` and ``draw``, which
regenerate its mask or noise. They use Philox and are bit-identical to the layer whose
generator is at that draw: ``Dropout(p, seed=s)``'s first training forward is
``dropout(x, p, seed=s, draw=0)``, its second ``draw=1``::

    from dropkit import functional as F

    y0 = F.dropout(x, 0.5, seed=7, draw=0)   # the first use of a shared block
    y1 = F.dropout(x, 0.5, seed=7, draw=1)   # the second
    g0 = F.dropout_backward(x, g, 0.5, seed=7, draw=0)

Arrays follow the layers' rules (float32 and float64 keep their dtype, integer and bool
arrays become float32, any strides); the GIL is released while a function computes. Errors
are the layers' (ValueError for a bad argument or shape, TypeError for a dtype or an argument
of the wrong type); ``seed`` and ``draw`` are ints in [0, 2**64). numpy arrays only for now: a
CUDA array is a TypeError (the layer classes take CUDA arrays).
"""

from ._dropkit import _functional

# Every function of the extension's submodule, under its own name.
__all__ = sorted(name for name in vars(_functional) if not name.startswith("_"))
globals().update({name: getattr(_functional, name) for name in __all__})
