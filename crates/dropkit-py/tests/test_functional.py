"""dropkit.functional: every function bit-identical to its layer at the same (seed, draw), in
both modes, on strided inputs, f32 and f64; backward equal to the layer's backward after the
same forward; argument errors naming the parameter; the stubs match the functions."""

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import dropkit
import dropkit.functional
from dropkit import functional as F

SEED = 1234
DRAWS = (0, 5)

# name -> (layer factory, function keyword arguments besides seed/draw/training, shape)
CASES = {
    "dropout": (lambda: dropkit.Dropout(0.3), {"p": 0.3}, (3, 37)),
    "dropout-unscaled": (
        lambda: dropkit.Dropout(0.3, scale=False), {"p": 0.3, "scale": False}, (3, 37)),
    "gaussian_dropout": (lambda: dropkit.GaussianDropout(0.4), {"rate": 0.4}, (5, 13)),
    "gaussian_noise": (lambda: dropkit.GaussianNoise(0.7), {"stddev": 0.7}, (2, 3, 11)),
    "spatial_dropout1d": (lambda: dropkit.SpatialDropout1D(0.5), {"p": 0.5}, (4, 5, 6)),
    "spatial_dropout1d-scaled": (
        lambda: dropkit.SpatialDropout1D(0.5, scale=True), {"p": 0.5, "scale": True}, (4, 5, 6)),
    "spatial_dropout2d": (lambda: dropkit.SpatialDropout2D(0.5), {"p": 0.5}, (3, 8, 2, 3)),
    "spatial_dropout2d-nhwc": (
        lambda: dropkit.SpatialDropout2D(0.5, "NHWC", scale=True),
        {"p": 0.5, "data_format": "nhwc", "scale": True},
        (3, 2, 3, 8),
    ),
    "spatial_dropout3d": (lambda: dropkit.SpatialDropout3D(0.5), {"p": 0.5}, (2, 8, 2, 2, 3)),
    "spatial_dropout3d-nhwc": (
        lambda: dropkit.SpatialDropout3D(0.5, "NHWC"),
        {"p": 0.5, "data_format": "NHWC"},
        (2, 2, 2, 3, 8),
    ),
    "alpha_dropout": (lambda: dropkit.AlphaDropout(0.3), {"p": 0.3}, (3, 37)),
    "feature_alpha_dropout": (
        lambda: dropkit.FeatureAlphaDropout(0.5), {"p": 0.5}, (3, 8, 2, 3)),
    "feature_alpha_dropout-last": (
        lambda: dropkit.FeatureAlphaDropout(0.5, "channels_last"),
        {"p": 0.5, "data_format": "channels_last"},
        (3, 2, 3, 8),
    ),
}


def _functions(case):
    name = case.split("-")[0]
    return getattr(F, name), getattr(F, name + "_backward")


def _data(shape, dtype):
    return (np.arange(np.prod(shape), dtype=np.float64) * 0.25 - 3.0).reshape(shape).astype(dtype)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("draw", DRAWS)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bit_identical_to_the_layer(case, draw, training, dtype):
    make, kwargs, shape = CASES[case]
    forward, backward = _functions(case)
    x = _data(shape, dtype)
    g = x * 0.5 + 1.0
    layer = make().set_seed(SEED)
    for _ in range(draw):
        layer.forward(x)
    if not training:
        layer.evaluate()
    y = layer.forward(x)
    gx = layer.backward(x, g)
    key = {"seed": SEED, "draw": draw, "training": training, **kwargs}
    for xs in (x, np.asfortranarray(x), x[..., ::-1].copy()[..., ::-1]):
        out = forward(xs, **key)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, y)
    np.testing.assert_array_equal(backward(x, g, **key), gx)
    np.testing.assert_array_equal(backward(x, np.asfortranarray(g), **key), gx)
    # A strided view (negative steps) of other data, against the layer on its copy.
    big = _data((2,) + shape, dtype)[1, ...][..., ::-1]
    layer = make().set_seed(SEED)
    for _ in range(draw):
        layer.forward(x)
    if not training:
        layer.evaluate()
    np.testing.assert_array_equal(forward(big, **key), layer.forward(np.ascontiguousarray(big)))


@pytest.mark.parametrize("case", CASES)
def test_draws_differ_and_integers_become_float32(case):
    _, kwargs, shape = CASES[case]
    forward, _ = _functions(case)
    x = _data(shape, np.float64)
    assert not np.array_equal(forward(x, seed=1, draw=0, **kwargs),
                              forward(x, seed=1, draw=5, **kwargs))
    ints = np.ones(shape, dtype=np.int64)
    assert forward(ints, seed=1, draw=0, **kwargs).dtype == np.float32


def test_shared_block_is_differentiated_per_call():
    x = np.full((8, 16), 1.5, dtype=np.float32)
    g = np.ones_like(x)
    ys = [F.dropout(x, 0.5, seed=9, draw=d) for d in (0, 1)]
    gs = [F.dropout_backward(x, g, 0.5, seed=9, draw=d) for d in (0, 1)]
    for y, gx in zip(ys, gs):
        np.testing.assert_array_equal(y == 0, gx == 0)
    assert not np.array_equal(gs[0], gs[1])


def test_imports():
    import importlib

    assert importlib.import_module("dropkit.functional") is F
    assert dropkit.functional is F
    assert set(F.__all__) == {n for n in dir(F) if not n.startswith("_")} - {"annotations"}


@pytest.mark.parametrize(
    "call, exc, words",
    [
        (lambda x: F.dropout(x, 1.5, seed=0, draw=0), ValueError, ["1.5"]),
        (lambda x: F.dropout(x, "a", seed=0, draw=0), TypeError, ["p", "'a'"]),
        (lambda x: F.dropout(x, seed=-1, draw=0), ValueError, ["seed", "-1"]),
        (lambda x: F.dropout(x, seed=2**64, draw=0), ValueError, ["seed"]),
        (lambda x: F.dropout(x, seed=0, draw=-1), ValueError, ["draw", "-1"]),
        (lambda x: F.dropout(x, seed=0, draw=2**64), ValueError, ["draw"]),
        (lambda x: F.dropout(x, seed=0, draw=1.0), TypeError, ["draw", "1.0", "float"]),
        (lambda x: F.dropout(x, seed="s", draw=0), TypeError, ["seed", "'s'"]),
        (lambda x: F.dropout(x, seed=0, draw=0, training="yes"), TypeError, ["training"]),
        (lambda x: F.dropout(x, seed=0, draw=0, scale=1), TypeError, ["scale"]),
        (lambda x: F.dropout(x.astype(np.complex64), seed=0, draw=0), TypeError, ["complex"]),
        (lambda x: F.dropout([1.0], seed=0, draw=0), TypeError, ["input"]),
        (lambda x: F.gaussian_dropout(x, 1.0, seed=0, draw=0), ValueError, ["rate"]),
        (lambda x: F.gaussian_noise(x, -1.0, seed=0, draw=0), ValueError, ["stddev"]),
        (lambda x: F.spatial_dropout2d(x, seed=0, draw=0), ValueError, ["SpatialDropout2D"]),
        (lambda x: F.spatial_dropout2d(np.ones((1, 2, 3, 4)), 0.5, "NCWH", seed=0, draw=0),
         ValueError, ["NCWH"]),
        (lambda x: F.spatial_dropout3d(np.ones((1, 2, 3, 4, 5)), 0.5, 3, seed=0, draw=0),
         TypeError, ["data_format"]),
        (lambda x: F.dropout_backward(x, np.ones((3, 2)), seed=0, draw=0), ValueError,
         ["grad_output"]),
        (lambda x: F.dropout_backward(x, np.ones((3, 2)), seed=0, draw=0, training=False),
         ValueError, ["grad_output"]),
        (lambda x: F.dropout_backward(None, x, seed=0, draw=0), TypeError, ["input"]),
    ],
)
def test_errors_name_the_parameter(call, exc, words):
    x = np.ones((2, 3))
    with pytest.raises(exc) as info:
        call(x)
    for word in words:
        assert word in str(info.value), str(info.value)


def test_seed_and_draw_are_required_keywords():
    x = np.ones((2, 3))
    with pytest.raises(TypeError):
        F.dropout(x, 0.5)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        F.dropout(x, 0.5, 0, 0)  # type: ignore[misc]


class _FakeCuda:
    """Something with __cuda_array_interface__ (never read past the attribute)."""

    __cuda_array_interface__ = {"shape": (2,), "typestr": "<f4", "data": (0, False), "version": 3}


def test_cuda_arrays_are_a_type_error_saying_host_arrays_only():
    with pytest.raises(TypeError, match="numpy arrays and CPU DLPack tensors only"):
        F.dropout(_FakeCuda(), seed=0, draw=0)
    with pytest.raises(TypeError, match="grad_output is a CUDA array"):
        F.dropout_backward(np.ones(2), _FakeCuda(), seed=0, draw=0)


def test_extreme_keys_match_the_layer():
    x = _data((3, 5), np.float32)
    layer = dropkit.Dropout(0.5)
    layer.generator_state = {"generator": "philox", "seed": 2**64 - 1, "draw": 2**64 - 1}
    np.testing.assert_array_equal(
        F.dropout(x, seed=2**64 - 1, draw=2**64 - 1), layer.forward(x))
    empty = np.ones((0, 4))
    assert F.dropout(empty, seed=0, draw=0).shape == (0, 4)
    assert F.dropout_backward(empty, empty, seed=0, draw=0).shape == (0, 4)


STUB = ast.parse((Path(F.__file__).parent / "functional.pyi").read_text())


def test_stub_signatures_match_the_functions():
    stubs = {n.name: n for n in STUB.body if isinstance(n, ast.FunctionDef)}
    assert set(stubs) == set(F.__all__)
    for name, node in stubs.items():
        a = node.args
        stub = ([x.arg for x in a.args], [x.arg for x in a.kwonlyargs])
        sig = inspect.signature(getattr(F, name))
        pos = [p.name for p in sig.parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
        kw = [p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]
        assert stub == (pos, kw), name
        assert getattr(F, name).__doc__, name


def test_no_state_is_touched():
    # Neither the process default generator nor any layer moves.
    before = dropkit.default_generator_state()
    x = _data((4, 6), np.float32)
    for case, (_, kwargs, shape) in CASES.items():
        forward, backward = _functions(case)
        y = _data(shape, np.float32)
        forward(y, seed=3, draw=2, **kwargs)
        backward(y, y, seed=3, draw=2, **kwargs)
    assert dropkit.default_generator_state() == before
    np.testing.assert_array_equal(F.dropout(x, seed=3, draw=2), F.dropout(x, seed=3, draw=2))


def test_calls_from_several_threads_give_the_sequential_results():
    from concurrent.futures import ThreadPoolExecutor

    x = _data((64, 257), np.float64)
    want = [F.gaussian_dropout(x, 0.3, seed=11, draw=d) for d in range(16)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda d: F.gaussian_dropout(x, 0.3, seed=11, draw=d), range(16)))
    for w, g in zip(want, got):
        np.testing.assert_array_equal(w, g)
