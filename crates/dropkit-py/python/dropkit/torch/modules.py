"""The dropkit.torch layers: torch.nn.Module subclasses with PyTorch's signatures."""

import torch

from . import _ops
from . import functional as _f

__all__ = [
    "AlphaDropout",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "keep_rank_streams",
]


class _Layer(torch.nn.Module):
    """A layer of kind ``_kind``: its parameter, and its generator position in the buffer
    ``generator_state`` (int64 [mode, seed, draw]; see dropkit/torch/_ops.py), which each
    training forward advances and ``state_dict()`` holds."""

    _kind = ""
    _inplace_allowed = True

    def __init__(self, param, inplace=False, *, seed=None):
        super().__init__()
        if seed is not None:
            _f._check_key(seed, None)
        self._param = _f.check_param(self._kind, param)
        self.inplace = bool(inplace)
        self.register_buffer("generator_state", _ops.new_state(seed))

    @property
    def seed(self):
        """The seed of the layer's own stream, or None (the process default generator)."""
        mode, seed, _ = self.generator_state.tolist()
        return None if mode == _ops.MODE_DEFAULT else _ops.to_u64(seed)

    @property
    def draw(self):
        """The draw the next training forward of a layer with a seed uses (for a layer
        without one, the draw its last forward took from the default generator)."""
        return _ops.to_u64(self.generator_state.tolist()[2])

    def forward(self, input):
        """The layer's training forward (the next draw), or ``input`` itself in eval mode."""
        if not self.training:
            return input
        return _f.apply(input, self.generator_state, self._kind, self._param, self.inplace)

    def extra_repr(self):
        name = _ops.parameter_name(self._kind)
        inplace = f", inplace={self.inplace}" if self._inplace_allowed else ""
        return f"{name}={self._param}{inplace}, seed={self.seed}"


class _WithP(_Layer):
    def __init__(self, p=0.5, inplace=False, *, seed=None):
        super().__init__(p, inplace, seed=seed)

    @property
    def p(self):
        """The probability of dropping an element (or a channel)."""
        return self._param


class Dropout(_WithP):
    """torch.nn.Dropout: each element zeroed with probability p, the rest scaled by
    1 / (1 - p); bit for bit ``dropkit.Dropout(p, seed=seed)``."""

    _kind = "dropout"


class Dropout1d(_WithP):
    """torch.nn.Dropout1d on (N, C, L) or (C, L): whole channels; bit for bit
    ``dropkit.SpatialDropout1D(p, "NCHW", scale=True, seed=seed)``."""

    _kind = "dropout1d"


class Dropout2d(_WithP):
    """torch.nn.Dropout2d on (N, C, H, W) or (C, H, W): whole channels; bit for bit
    ``dropkit.SpatialDropout2D(p, "NCHW", scale=True, seed=seed)``."""

    _kind = "dropout2d"


class Dropout3d(_WithP):
    """torch.nn.Dropout3d on (N, C, D, H, W) or (C, D, H, W): whole channels; bit for bit
    ``dropkit.SpatialDropout3D(p, "NCHW", scale=True, seed=seed)``."""

    _kind = "dropout3d"


class AlphaDropout(_WithP):
    """torch.nn.AlphaDropout (for SELU networks); bit for bit ``dropkit.AlphaDropout``."""

    _kind = "alpha_dropout"


class FeatureAlphaDropout(_WithP):
    """torch.nn.FeatureAlphaDropout: AlphaDropout of whole channels of (N, C, ...) input; bit
    for bit ``dropkit.FeatureAlphaDropout(p, "channels_first")``."""

    _kind = "feature_alpha_dropout"


class GaussianDropout(_Layer):
    """Multiplicative noise x * n, n ~ N(1, rate / (1 - rate)); bit for bit
    ``dropkit.GaussianDropout(rate, seed=seed)``."""

    _kind = "gaussian_dropout"
    _inplace_allowed = False

    def __init__(self, rate, *, seed=None):
        super().__init__(rate, False, seed=seed)

    @property
    def rate(self):
        """The drop rate the noise's variance rate / (1 - rate) comes from."""
        return self._param


class GaussianNoise(_Layer):
    """Additive noise x + e, e ~ N(0, stddev**2); bit for bit
    ``dropkit.GaussianNoise(stddev, seed=seed)``."""

    _kind = "gaussian_noise"
    _inplace_allowed = False

    def __init__(self, stddev, *, seed=None):
        super().__init__(stddev, False, seed=seed)

    @property
    def stddev(self):
        """The noise's standard deviation."""
        return self._param


def keep_rank_streams(model):
    """Marks every dropkit generator buffer of ``model`` as one DistributedDataParallel must
    not synchronize, and returns ``model``. Call it before wrapping the model.

    DDP copies rank 0's buffers to every rank when it wraps a model and, by default, before
    every forward. A layer's generator position is its buffer ``generator_state``, so that
    copy would put every rank on rank 0's stream: the same masks on every rank. With the
    buffers ignored, each rank keeps the stream it was built with (seed each rank's layers
    with ``dropkit.rank_seed(seed, rank)``), and the other buffers are still synchronized.
    """
    ignored = list(getattr(model, "_ddp_params_and_buffers_to_ignore", ()))
    for prefix, module in model.named_modules():
        name = f"{prefix}.generator_state" if prefix else "generator_state"
        if isinstance(module, _Layer) and name not in ignored:
            ignored.append(name)
    # DDP's documented hook for this (its only one in PyTorch 2.x): the fully qualified names
    # of the parameters and buffers it must leave alone.
    torch.nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
        model, ignored
    )
    return model
