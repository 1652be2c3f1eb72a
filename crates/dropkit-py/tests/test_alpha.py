"""AlphaDropout and FeatureAlphaDropout: the values of the formula, errors naming p and the
format, the identity in evaluation, in place, pickling, and the functional API at the layer's
draw."""

import math
import pickle

import numpy as np
import pytest

import dropkit
from dropkit import functional as F

ALPHA = -1.7580993408473766


def _coefficients(p):
    a = 1.0 / math.sqrt((1.0 - p) * (1.0 + p * ALPHA * ALPHA))
    b = -a * ALPHA * p
    return a, b, a * ALPHA + b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kept_and_dropped_values_follow_the_formula(dtype):
    p = 0.3
    a, b, d = (dtype(v) for v in _coefficients(p))
    x = np.random.default_rng(1).standard_normal((40, 50)).astype(dtype)
    layer = dropkit.AlphaDropout(p, seed=5)
    y = layer.forward(x)
    g = layer.backward(x, np.ones_like(x))
    kept = g != 0
    assert 0 < kept.sum() < x.size
    np.testing.assert_array_equal(y[kept], x[kept] * a + b)
    np.testing.assert_array_equal(y[~kept], np.full((~kept).sum(), d, dtype))
    np.testing.assert_array_equal(g[kept], np.full(kept.sum(), a, dtype))


def test_feature_alpha_keeps_spatial_dropouts_channels():
    x = np.random.default_rng(2).standard_normal((3, 6, 4, 5)).astype(np.float32)
    f = dropkit.FeatureAlphaDropout(0.5, seed=9)
    s = dropkit.SpatialDropout2D(0.5, scale=True, seed=9)
    yf, ys = f.forward(x), s.forward(x)
    _, _, d = _coefficients(0.5)
    np.testing.assert_array_equal(yf == np.float32(d), ys == 0)
    # One draw per (N, C) map.
    per_map = (yf == np.float32(d)).reshape(3, 6, -1)
    assert (per_map.all(axis=2) | ~per_map.any(axis=2)).all()


def test_evaluation_is_the_identity_and_p_one_gives_zeros():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 7
    for layer in (dropkit.AlphaDropout(0.4), dropkit.FeatureAlphaDropout(0.4)):
        layer.evaluate()
        np.testing.assert_array_equal(layer.forward(x), x)
        np.testing.assert_array_equal(layer.backward(x, x), x)
    for layer in (dropkit.AlphaDropout(1.0, seed=1), dropkit.FeatureAlphaDropout(1.0, seed=1)):
        y = layer.forward(x)
        assert (y.view(np.uint32) == 0).all()
        assert (layer.backward(x, x).view(np.uint32) == 0).all()


@pytest.mark.parametrize("cls", [dropkit.AlphaDropout, dropkit.FeatureAlphaDropout])
@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_p_out_of_range_is_a_value_error_naming_p(cls, p):
    with pytest.raises(ValueError, match=r"\bp = "):
        cls(p)
    layer = cls(0.5)
    with pytest.raises(ValueError, match=r"\bp = "):
        layer.p = p
    assert layer.p == 0.5


def test_feature_alpha_errors_name_the_format_and_the_rank():
    with pytest.raises(ValueError, match="NCWH"):
        dropkit.FeatureAlphaDropout(0.5, "NCWH")
    layer = dropkit.FeatureAlphaDropout(0.5)
    with pytest.raises(ValueError, match="rank 2 or more"):
        layer.forward(np.ones(5, np.float32))
    assert dropkit.FeatureAlphaDropout(0.5, "CHANNELS_LAST").data_format == "NHWC"
    assert layer.data_format == "NCHW"


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda **kw: dropkit.AlphaDropout(0.3, **kw), (7, 9)),
        (lambda **kw: dropkit.FeatureAlphaDropout(0.3, **kw), (3, 4, 5)),
    ],
)
def test_inplace_overwrites_and_equals_the_copy(make, shape):
    x = np.random.default_rng(3).standard_normal(shape)
    want = make(seed=4).forward(x)
    layer = make(seed=4, inplace=True)
    buf = x.copy()
    out = layer.forward(buf)
    assert out is buf
    np.testing.assert_array_equal(buf, want)
    g = np.ones(shape)
    gout = layer.backward(x, g)
    assert gout is g
    # Dropped elements (the constant a * alpha' + b in the forward) get a zero gradient.
    np.testing.assert_array_equal(g == 0, want == _coefficients(0.3)[2])


def test_pickle_and_config_carry_the_options():
    layer = dropkit.FeatureAlphaDropout(0.25, "channels_last", seed=3, inplace=True)
    assert repr(layer) == (
        "FeatureAlphaDropout(p=0.25, data_format='NHWC', inplace=True, seed=3, "
        "generator='philox', training=True)"
    )
    assert layer.get_config() == {
        "p": 0.25, "data_format": "NHWC", "inplace": True, "seed": 3, "generator": "philox"}
    back = pickle.loads(pickle.dumps(layer))
    assert repr(back) == repr(layer)
    again = dropkit.FeatureAlphaDropout.from_config(layer.get_config())
    assert repr(again) == repr(layer)
    a = dropkit.AlphaDropout()
    assert a.p == 0.5 and repr(a).startswith("AlphaDropout(p=0.5, inplace=False, seed=None")


@pytest.mark.parametrize("draw", [0, 3])
def test_functional_equals_the_layer_at_its_draw(draw):
    x = np.random.default_rng(6).standard_normal((4, 6, 3))
    g = np.random.default_rng(7).standard_normal((4, 6, 3))
    for layer, forward, backward, kw in (
        (dropkit.AlphaDropout(0.2, seed=8), F.alpha_dropout, F.alpha_dropout_backward, {}),
        (
            dropkit.FeatureAlphaDropout(0.2, "channels_last", seed=8),
            F.feature_alpha_dropout,
            F.feature_alpha_dropout_backward,
            {"data_format": "channels_last"},
        ),
    ):
        for _ in range(draw):
            layer.forward(x)
        y = layer.forward(x)
        gi = layer.backward(x, g)
        np.testing.assert_array_equal(forward(x, 0.2, seed=8, draw=draw, **kw), y)
        np.testing.assert_array_equal(backward(x, g, 0.2, seed=8, draw=draw, **kw), gi)
    with pytest.raises(ValueError, match=r"\bp = "):
        F.alpha_dropout(x, 2.0, seed=1, draw=0)
