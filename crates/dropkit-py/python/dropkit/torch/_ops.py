"""The custom operators behind dropkit.torch (not part of the API).

Three operators, registered with ``torch.library.custom_op`` so that ``torch.compile`` keeps
them in its graph (fake implementations give the output's shape, dtype and strides):

* ``dropkit::next_draw(state) -> key``: the (seed, draw) the next forward uses, as two int64s,
  with ``state`` (mutated) moved past it. PyTorch has no autograd for an operator that
  mutates its inputs, so the draw is an operator of its own;
* ``dropkit::forward(x, key, kind, param) -> y``: the layer ``kind``'s training forward at
  ``key``; autograd keeps ``key`` (16 bytes) and nothing else;
* ``dropkit::backward(grad, key, kind, param) -> grad_input``: the exact input gradient,
  the mask or noise regenerated from ``key`` by dropkit's functional backward;
* ``dropkit::forward_(x, key, kind, param)``: the forward written into ``x`` by the numpy
  layer with ``inplace=True``, for in-place calls that autograd does not record.

``state`` is an int64 tensor ``[mode, seed, draw]``: mode 0 is a stream of the module's own at
(seed, draw), which the forward advances by one draw; mode 1 draws from dropkit's process
default generator (the one ``dropkit.set_seed`` seeds), and the forward writes the (seed, draw)
it took into ``state`` as a record. Seeds and draws are u64 values stored in int64 (two's
complement).

CPU tensors reach the numpy path without a copy (bfloat16 as an int16 view reinterpreted as
``ml_dtypes.bfloat16``); CUDA tensors go through the layer classes, which take any array with
``__cuda_array_interface__`` (the extension's device path). The extension also takes CPU
tensors themselves, bfloat16 included, through DLPack (its host path), but these views are
kept: per call they cost a few microseconds less than DLPack's export, ``torch.from_dlpack``
and the routing.
"""

import numpy as np
import torch

import dropkit
from dropkit import _dropkit  # type: ignore[attr-defined]  # the extension module has no stub
from dropkit import functional as F

MODE_OWN = 0
MODE_DEFAULT = 1

# The layer kinds: the numpy layer each one equals bit for bit (seed, draw and parameter
# given), its functional forward and backward, and its parameter's name.
_KINDS = {
    "dropout": ("p", lambda q, s: dropkit.Dropout(q, seed=s)),
    "dropout1d": ("p", lambda q, s: dropkit.SpatialDropout1D(q, "NCHW", scale=True, seed=s)),
    "dropout2d": ("p", lambda q, s: dropkit.SpatialDropout2D(q, "NCHW", scale=True, seed=s)),
    "dropout3d": ("p", lambda q, s: dropkit.SpatialDropout3D(q, "NCHW", scale=True, seed=s)),
    "alpha_dropout": ("p", lambda q, s: dropkit.AlphaDropout(q, seed=s)),
    "feature_alpha_dropout": (
        "p",
        lambda q, s: dropkit.FeatureAlphaDropout(q, "channels_first", seed=s),
    ),
    "gaussian_dropout": ("rate", lambda q, s: dropkit.GaussianDropout(q, seed=s)),
    "gaussian_noise": ("stddev", lambda q, s: dropkit.GaussianNoise(q, seed=s)),
}


def _functional(kind, a, q, seed, draw):
    if kind == "dropout":
        return F.dropout(a, q, seed=seed, draw=draw)
    if kind == "dropout1d":
        # (N, C, L) as (N, C, L, 1): SpatialDropout1D channels first draws one keep per
        # (sample, channel) in the same order as SpatialDropout2D (tests check the bits).
        return F.spatial_dropout2d(a[..., None], q, "NCHW", seed=seed, draw=draw, scale=True)[
            ..., 0
        ]
    if kind == "dropout2d":
        return F.spatial_dropout2d(a, q, "NCHW", seed=seed, draw=draw, scale=True)
    if kind == "dropout3d":
        return F.spatial_dropout3d(a, q, "NCHW", seed=seed, draw=draw, scale=True)
    if kind == "alpha_dropout":
        return F.alpha_dropout(a, q, seed=seed, draw=draw)
    if kind == "feature_alpha_dropout":
        return F.feature_alpha_dropout(a, q, "channels_first", seed=seed, draw=draw)
    if kind == "gaussian_dropout":
        return F.gaussian_dropout(a, q, seed=seed, draw=draw)
    if kind == "gaussian_noise":
        return F.gaussian_noise(a, q, seed=seed, draw=draw)
    raise ValueError(f"kind = {kind!r} is not a dropkit.torch layer: accepted are {sorted(_KINDS)}")


def _functional_backward(kind, a, g, q, seed, draw):
    if kind == "dropout":
        return F.dropout_backward(a, g, q, seed=seed, draw=draw)
    if kind == "dropout1d":
        return F.spatial_dropout2d_backward(
            a[..., None], g[..., None], q, "NCHW", seed=seed, draw=draw, scale=True
        )[..., 0]
    if kind == "dropout2d":
        return F.spatial_dropout2d_backward(a, g, q, "NCHW", seed=seed, draw=draw, scale=True)
    if kind == "dropout3d":
        return F.spatial_dropout3d_backward(a, g, q, "NCHW", seed=seed, draw=draw, scale=True)
    if kind == "alpha_dropout":
        return F.alpha_dropout_backward(a, g, q, seed=seed, draw=draw)
    if kind == "feature_alpha_dropout":
        return F.feature_alpha_dropout_backward(a, g, q, "channels_first", seed=seed, draw=draw)
    if kind == "gaussian_dropout":
        return F.gaussian_dropout_backward(a, g, q, seed=seed, draw=draw)
    if kind == "gaussian_noise":
        return F.gaussian_noise_backward(a, g, q, seed=seed, draw=draw)
    raise ValueError(f"kind = {kind!r} is not a dropkit.torch layer: accepted are {sorted(_KINDS)}")


def parameter_name(kind):
    """The name of ``kind``'s parameter: "p", "rate" or "stddev"."""
    return _KINDS[kind][0]


def numpy_layer(kind, param, seed=None):
    """The numpy layer that ``kind`` equals (its constructor also checks the arguments)."""
    return _KINDS[kind][1](param, seed)


def _inplace_layer_at(kind, param, seed, draw):
    """``kind``'s numpy layer at (seed, draw), writing its forward into its input."""
    make = {
        "dropout": lambda: dropkit.Dropout(param, True, seed=seed),
        "dropout1d": lambda: dropkit.SpatialDropout1D(
            param, "NCHW", scale=True, seed=seed, inplace=True
        ),
        "dropout2d": lambda: dropkit.SpatialDropout2D(
            param, "NCHW", scale=True, seed=seed, inplace=True
        ),
        "dropout3d": lambda: dropkit.SpatialDropout3D(
            param, "NCHW", scale=True, seed=seed, inplace=True
        ),
        "alpha_dropout": lambda: dropkit.AlphaDropout(param, seed=seed, inplace=True),
        "feature_alpha_dropout": lambda: dropkit.FeatureAlphaDropout(
            param, "channels_first", seed=seed, inplace=True
        ),
    }[kind]
    layer = make()
    layer.generator_state = {"generator": "philox", "seed": seed, "draw": draw}
    return layer


def to_i64(v):
    """A u64 as the int64 with the same bits."""
    return v - (1 << 64) if v >= (1 << 63) else v


def to_u64(v):
    """An int64 as the u64 with the same bits."""
    return v + (1 << 64) if v < 0 else v


def new_state(seed, draw=0):
    """A generator state tensor: a stream of its own at (seed, draw), or (seed None) the
    process default generator."""
    if seed is None:
        return torch.tensor([MODE_DEFAULT, 0, 0], dtype=torch.int64)
    return torch.tensor([MODE_OWN, to_i64(seed), to_i64(draw)], dtype=torch.int64)


def _take_default_draw():
    """The process default generator's next (seed, draw), taken in one step under the core's
    lock, as a numpy layer without a seed takes it (so no two callers get the same draw)."""
    taken = _dropkit._take_default_philox_draw()
    if taken is None:
        state = dropkit.default_generator_state()
        raise RuntimeError(
            "dropkit.torch: a layer without a seed draws from the process default "
            f"generator, which is {state['generator']!r} now; dropkit.torch takes the "
            "'philox' generator only (dropkit.set_seed(n) or a seed of the layer's own)"
        )
    return taken


def _advance(state):
    """The (seed, draw) the next forward uses, with ``state`` moved past it."""
    mode, seed, draw = state.tolist()
    if mode == MODE_DEFAULT:
        seed, draw = _take_default_draw()
        state[1] = to_i64(seed)
        state[2] = to_i64(draw)
        return seed, draw
    if mode != MODE_OWN:
        raise ValueError(
            f"generator state mode = {mode} is invalid: accepted are {MODE_OWN} (a stream of "
            f"the layer's own) and {MODE_DEFAULT} (the process default generator)"
        )
    state[2] = to_i64((to_u64(draw) + 1) % (1 << 64))
    return to_u64(seed), to_u64(draw)


def _ml_bfloat16():
    try:
        import ml_dtypes  # type: ignore[import-not-found]
    except ImportError as e:
        raise TypeError(
            "dropkit.torch needs the ml_dtypes package for bfloat16 tensors on the CPU "
            "(pip install ml_dtypes)"
        ) from e
    return ml_dtypes.bfloat16


def to_numpy(t):
    """A numpy view of the CPU tensor ``t`` (no copy; any strides)."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(_ml_bfloat16())
    return t.numpy()


def from_result(a, like):
    """The core's result ``a`` (a new array) as a tensor in ``like``'s memory format: the
    array itself when its strides are those, else copied into ``empty_like(like)``."""
    if like.dtype == torch.bfloat16:
        t = torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    else:
        t = torch.from_numpy(a)
    return _in_format(t, like)


def _in_format(t, like):
    # A dense result with like's strides is already what empty_like(like) would give.
    if (like.is_contiguous() and t.is_contiguous()) or t.stride() == like.stride():
        return t
    out = torch.empty_like(like)
    out.copy_(t)
    return out


def uses_device_path(t):
    """Whether ``t`` goes through the layer classes' CUDA path (any tensor not on the CPU)."""
    return t.device.type != "cpu"


def device_array(t):
    """What the layer classes are given for a tensor on the device path: the tensor itself
    (they read its ``__cuda_array_interface__``)."""
    return t.detach()


def _as_tensor(y, like):
    # The layer classes answer a CUDA tensor with a tensor of the same device; a numpy array
    # comes back for host memory (the tests route CPU tensors through this path).
    if isinstance(y, np.ndarray):
        y = from_result(y, like)
    return _in_format(y, like)


def _layer_at(kind, param, seed, draw):
    layer = numpy_layer(kind, param, seed)
    layer.generator_state = {"generator": "philox", "seed": seed, "draw": draw}
    return layer


def forward_impl(x, kind, param, seed, draw):
    """``kind``'s training forward of ``x`` at (seed, draw), a new tensor."""
    if uses_device_path(x):
        return _as_tensor(_layer_at(kind, param, seed, draw).forward(device_array(x)), x)
    return from_result(_functional(kind, to_numpy(x), param, seed, draw), x)


def backward_impl(grad, kind, param, seed, draw):
    """The input gradient of ``kind``'s forward at (seed, draw), given ``grad``."""
    if uses_device_path(grad):
        g = device_array(grad)
        # A layer's backward differentiates its last forward, whose mask or noise does not
        # depend on the input's values: a forward of grad itself at the same draw.
        layer = _layer_at(kind, param, seed, draw)
        layer.forward(g)
        return _as_tensor(layer.backward(g, g), grad)
    a = to_numpy(grad)
    return from_result(_functional_backward(kind, a, a, param, seed, draw), grad)


@torch.library.custom_op("dropkit::next_draw", mutates_args=("state",))
def next_draw_op(state: torch.Tensor) -> torch.Tensor:
    """The (seed, draw) the next forward at ``state`` uses, as int64 [seed, draw]; ``state``
    moves past it."""
    seed, draw = _advance(state)
    return torch.tensor([to_i64(seed), to_i64(draw)], dtype=torch.int64, device=state.device)


@next_draw_op.register_fake
def _next_draw_fake(state):
    return state.new_empty(2)


@torch.library.custom_op("dropkit::forward", mutates_args=())
def forward_op(x: torch.Tensor, key: torch.Tensor, kind: str, param: float) -> torch.Tensor:
    """``kind``'s training forward of ``x`` at ``key`` = (seed, draw)."""
    seed, draw = (to_u64(v) for v in key.tolist())
    return forward_impl(x, kind, param, seed, draw)


@forward_op.register_fake
def _forward_fake(x, key, kind, param):
    return torch.empty_like(x)


@torch.library.custom_op("dropkit::forward_", mutates_args=("x",))
def forward_inplace_op(x: torch.Tensor, key: torch.Tensor, kind: str, param: float) -> None:
    """``kind``'s training forward written into ``x`` (no buffer of its own; no autograd:
    PyTorch registers none for an operator that mutates its inputs)."""
    seed, draw = (to_u64(v) for v in key.tolist())
    layer = _inplace_layer_at(kind, param, seed, draw)
    layer.forward(device_array(x) if uses_device_path(x) else to_numpy(x))


@forward_inplace_op.register_fake
def _forward_inplace_fake(x, key, kind, param):
    return None


@torch.library.custom_op("dropkit::backward", mutates_args=())
def backward_op(grad: torch.Tensor, key: torch.Tensor, kind: str, param: float) -> torch.Tensor:
    """The input gradient of the forward that used ``key`` = (seed, draw)."""
    seed, draw = (to_u64(v) for v in key.tolist())
    return backward_impl(grad, kind, param, seed, draw)


@backward_op.register_fake
def _backward_fake(grad, key, kind, param):
    return torch.empty_like(grad)


def _setup_context(ctx, inputs, output):
    _, key, kind, param = inputs
    ctx.kind = kind
    ctx.param = param
    ctx.save_for_backward(key)


def _backward(ctx, grad):
    # The forward's gradient is backward_op; backward_op is linear in grad, so its gradient
    # is itself: one formula for both (double backward included).
    (key,) = ctx.saved_tensors
    return backward_op(grad, key, ctx.kind, ctx.param), None, None, None


forward_op.register_autograd(_backward, setup_context=_setup_context)
backward_op.register_autograd(_backward, setup_context=_setup_context)
