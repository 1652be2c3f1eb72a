"""dropkit.torch: dropkit's layers as PyTorch modules and differentiable functions.

Modules (torch.nn.Module subclasses with PyTorch's signatures and semantics: channels first,
1 / (1 - p) scaling in training, the identity in eval mode), each also taking keyword-only
``seed=None``::

    Dropout(p=0.5, inplace=False)        Dropout1d, Dropout2d, Dropout3d (same arguments)
    AlphaDropout(p=0.5, inplace=False)   FeatureAlphaDropout(p=0.5, inplace=False)
    GaussianDropout(rate)                GaussianNoise(stddev)

A module with ``seed=None`` draws from dropkit's process default generator (``dropkit.set_seed``);
with an int it has a stream of its own. The position (seed, next draw) is the int64 buffer
``generator_state``, so ``state_dict()`` / ``load_state_dict`` replay the stream. Each module is
bit for bit the numpy layer of the same seed (``Dropout(p, seed=s)`` and ``dropkit.Dropout(p,
seed=s)``, ``Dropout2d`` and ``SpatialDropout2D(p, "NCHW", scale=True)``, ...).

Autograd keeps no mask: the forward is the custom operator ``dropkit::forward``, which saves
the (seed, draw) it used, and backward (``dropkit::backward``) regenerates the mask. Both are
``torch.library`` custom operators, so ``torch.compile(model, fullgraph=True)`` keeps them in
its graph. CPU tensors are read and written without a copy (float16, bfloat16 with ml_dtypes
installed, float32, float64; any strides; outputs in the input's memory format); CUDA tensors
go through dropkit's CUDA path. ``dropkit.torch.functional`` has the same as functions.

Data-parallel training: seed each rank's layers with ``dropkit.rank_seed(seed, rank)`` and call
``keep_rank_streams(model)`` before ``DistributedDataParallel(model)``, which would otherwise
copy rank 0's generator buffers (and so its masks) to every rank.

Importing ``dropkit`` alone does not import torch; importing ``dropkit.torch`` does.
"""

from . import functional
from .modules import (
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
    GaussianDropout,
    GaussianNoise,
    keep_rank_streams,
)

__all__ = [
    "AlphaDropout",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "functional",
    "keep_rank_streams",
]
