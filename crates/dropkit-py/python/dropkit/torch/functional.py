"""dropkit.torch.functional: the layers as functions of PyTorch tensors.

PyTorch's signatures (``torch.nn.functional.dropout(input, p=0.5, training=True,
inplace=False)``, ...) plus keyword-only ``seed`` and ``draw``: with both given, a function is
pure (the same arguments give the same bits; draw d is a layer's forward number d + 1 at that
seed, ``dropkit.functional``'s numbering); ``seed`` alone means ``draw=0``; neither takes the
next draw of dropkit's process default generator (``dropkit.set_seed``). Differentiable:
autograd keeps the (seed, draw), two int64s, and backward regenerates the mask.

Errors: a p outside [0, 1] is a ValueError naming p (PyTorch's rule), a seed or draw outside
[0, 2**64) or not an int a ValueError or TypeError, an input of a rank the layer does not take
a ValueError, a tensor that is not floating point a TypeError.
"""


import torch

from . import _ops

__all__ = [
    "alpha_dropout",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "feature_alpha_dropout",
    "gaussian_dropout",
    "gaussian_noise",
]

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

# Ranks each channel-wise layer takes: (unbatched, batched).
_RANKS = {"dropout1d": (2, 3), "dropout2d": (3, 4), "dropout3d": (4, 5)}
_SHAPES = {"dropout1d": "(C, L) or (N, C, L)", "dropout2d": "(C, H, W) or (N, C, H, W)",
           "dropout3d": "(C, D, H, W) or (N, C, D, H, W)"}


def check_p(p):
    """PyTorch's check of a dropout probability, as a ValueError naming p."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(
            f"p = {p!r} is invalid: dropout probability has to be between 0 and 1 "
            "(a float in [0, 1])"
        )
    return float(p)


def check_param(kind, value):
    """``kind``'s parameter checked by the numpy layer's constructor (its message)."""
    if _ops.parameter_name(kind) == "p":
        value = check_p(value)
    _ops.numpy_layer(kind, value)
    return float(value)


def _check_key(seed, draw):
    if seed is None:
        if draw is not None:
            raise ValueError(
                f"draw = {draw!r} without a seed is invalid: draw numbers a draw of the "
                "stream that seed names (give seed too, or neither for the default generator)"
            )
        return _ops.new_state(None)
    for name, v in (("seed", seed), ("draw", 0 if draw is None else draw)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} = {v!r} is invalid: an int in [0, 2**64) is accepted")
        if not 0 <= v < (1 << 64):
            raise ValueError(f"{name} = {v!r} is invalid: an int in [0, 2**64) is accepted")
    return _ops.new_state(seed, 0 if draw is None else draw)


def apply(input, state, kind, param, inplace=False):
    """``kind``'s training forward of ``input`` at ``state``'s next draw (``state`` advances)."""
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"input is a {type(input).__name__}: a torch.Tensor is accepted")
    if input.dtype not in _FLOATS:
        raise TypeError(
            f"input's dtype {input.dtype} is not supported: accepted are float16, bfloat16, "
            "float32 and float64"
        )
    x = input
    if kind in _RANKS:
        unbatched, batched = _RANKS[kind]
        if input.dim() not in (unbatched, batched):
            raise ValueError(
                f"input of shape {tuple(input.shape)} is invalid for {kind}: accepted are "
                f"{_SHAPES[kind]} ({unbatched}-D or {batched}-D)"
            )
        if input.dim() == unbatched:
            x = input.unsqueeze(0)
    elif kind == "feature_alpha_dropout" and input.dim() < 2:
        raise ValueError(
            f"input of shape {tuple(input.shape)} is invalid for feature_alpha_dropout: "
            "accepted are (N, C, ...) inputs of at least 2 dimensions"
        )
    key = _ops.next_draw_op(state)
    if inplace and not (torch.is_grad_enabled() and input.requires_grad):
        # Nothing to differentiate: the layer writes into the input itself.
        _ops.forward_inplace_op(x, key, kind, param)
        return input
    y = _ops.forward_op(x, key, kind, param)
    if x is not input:
        y = y.squeeze(0)
    if inplace:
        # Under autograd: an in-place copy of the result, so the input's version counter
        # moves on and its gradient flows through the op's backward.
        return input.copy_(y)
    return y


def _call(kind, input, param, training, inplace, seed, draw):
    param = check_param(kind, param)
    state = _check_key(seed, draw)
    if not training:
        return input
    return apply(input, state, kind, param, inplace)


def dropout(input, p=0.5, training=True, inplace=False, *, seed=None, draw=None):
    """Zeroes each element with probability p and scales the rest by 1 / (1 - p)."""
    return _call("dropout", input, p, training, inplace, seed, draw)


def dropout1d(input, p=0.5, training=True, inplace=False, *, seed=None, draw=None):
    """Zeroes whole channels of (N, C, L) or (C, L) input; kept ones scaled by 1 / (1 - p)."""
    return _call("dropout1d", input, p, training, inplace, seed, draw)


def dropout2d(input, p=0.5, training=True, inplace=False, *, seed=None, draw=None):
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) input; kept ones scaled."""
    return _call("dropout2d", input, p, training, inplace, seed, draw)


def dropout3d(input, p=0.5, training=True, inplace=False, *, seed=None, draw=None):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) input; kept ones scaled."""
    return _call("dropout3d", input, p, training, inplace, seed, draw)


def alpha_dropout(input, p=0.5, training=True, inplace=False, *, seed=None, draw=None):
    """SELU's dropout: keeps a standard normal input's mean 0 and variance 1."""
    return _call("alpha_dropout", input, p, training, inplace, seed, draw)


def feature_alpha_dropout(input, p=0.5, training=True, inplace=False, *, seed=None, draw=None):
    """AlphaDropout of whole channels of (N, C, ...) input."""
    return _call("feature_alpha_dropout", input, p, training, inplace, seed, draw)


def gaussian_dropout(input, rate, training=True, *, seed=None, draw=None):
    """x * n with n ~ N(1, rate / (1 - rate)); the identity with training=False."""
    return _call("gaussian_dropout", input, rate, training, False, seed, draw)


def gaussian_noise(input, stddev, training=True, *, seed=None, draw=None):
    """x + e with e ~ N(0, stddev**2); the identity with training=False."""
    return _call("gaussian_noise", input, stddev, training, False, seed, draw)


