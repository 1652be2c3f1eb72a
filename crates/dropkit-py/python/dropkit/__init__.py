"""dropkit: BigDL's dropout-family layers for numpy, computed in Rust.

Layers (BigDL's Python names and arguments)::

    Dropout(init_p=0.5, inplace=False, scale=True)
    GaussianDropout(rate)
    GaussianNoise(stddev)
    SpatialDropout1D(init_p=0.5)
    SpatialDropout2D(init_p=0.5, data_format="NCHW")
    SpatialDropout3D(init_p=0.5, data_format="NCHW")

each also taking keyword-only ``seed=None`` and ``generator="philox"`` (or ``"bigdl"``,
BigDL's random stream bit for bit). A layer starts in training mode; ``forward(input)``,
``backward(input, grad_output)``, ``training()``, ``evaluate()``, ``is_training()``.

Arrays: float32 and float64 keep their dtype; integer and bool arrays are converted to
float32; any other dtype is a TypeError. Any strides and memory order work, with the same
result as the contiguous copy. The GIL is released while a layer computes, and a layer can be
called from several threads (each call is atomic with respect to its generator).

Randomness: ``set_seed(n, generator="philox")`` seeds the process-wide default generator that
layers without a seed of their own draw from; ``layer.generator_state`` reads and sets a
layer's position, so a past mask can be replayed. ``rank_seed(seed, rank)`` is the seed of one
data-parallel rank (one process of a distributed job): distinct ranks of one seed never share
a mask, and rank 0 gets ``seed`` itself.

Errors: a bad argument is a ValueError, misuse (backward before any training forward) a
RuntimeError, an unsupported dtype a TypeError; messages name the parameter, the value and
what is accepted.
"""

from . import _dropkit
from ._dropkit import *  # noqa: F403 (the layer classes and functions: _dropkit.__all__)
from ._dropkit import __version__

__all__ = list(_dropkit.__all__)
