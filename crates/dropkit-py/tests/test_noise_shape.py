"""Dropout's noise_shape (Keras's): the mask drawn over the noise shape and broadcast, bit for
bit the Spatial layers' where the noise shape is theirs; the attribute, errors naming
noise_shape, saving, and the functional keyword."""

import pickle

import numpy as np
import pytest

import dropkit
from dropkit import functional as F


def _x(shape, salt=0):
    return np.random.default_rng(salt).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(
    "noise,spatial,shape",
    [
        ((None, None, 1), lambda s: dropkit.SpatialDropout1D(0.4, "NCHW", scale=True, seed=s),
         (4, 6, 9)),
        ((3, 5, 1, 1), lambda s: dropkit.SpatialDropout2D(0.4, scale=True, seed=s), (3, 5, 4, 6)),
        ([None, None, 1, 1, 1], lambda s: dropkit.SpatialDropout3D(0.4, scale=True, seed=s),
         (2, 5, 3, 2, 4)),
        ((None, 1, 1, None),
         lambda s: dropkit.SpatialDropout2D(0.4, "channels_last", scale=True, seed=s),
         (3, 4, 6, 5)),
    ],
)
def test_a_spatial_noise_shape_is_the_spatial_layer_bit_for_bit(noise, spatial, shape):
    for seed in (1, 2):
        d = dropkit.Dropout(0.4, seed=seed, noise_shape=noise)
        s = spatial(seed)
        for step in range(2):
            x, g = _x(shape, step), _x(shape, 10 + step)
            y = d.forward(x)
            np.testing.assert_array_equal(y.view(np.uint32), s.forward(x).view(np.uint32))
            assert (y == 0).any() and (y != 0).any()
            np.testing.assert_array_equal(d.backward(x, g), s.backward(x, g))


def test_broadcast_axes_share_one_draw():
    d = dropkit.Dropout(0.5, seed=3, noise_shape=(1, None, 1, None))
    y = d.forward(np.ones((3, 4, 5, 6), np.float32))
    assert (y == y[:1, :, :1, :]).all()
    assert (y == 0).any() and (y != 0).any()


def test_the_attribute_and_saving():
    d = dropkit.Dropout(0.3, seed=1, noise_shape=[None, 1, np.int64(4)])
    assert d.noise_shape == (None, 1, 4)
    assert dropkit.Dropout().noise_shape is None
    assert d.get_config()["noise_shape"] == (None, 1, 4)
    assert "noise_shape=(None, 1, 4)" in repr(d)
    back = pickle.loads(pickle.dumps(d))
    assert back.noise_shape == (None, 1, 4) and repr(back) == repr(d)
    again = dropkit.Dropout.from_config(d.get_config())
    x = _x((2, 3, 4))
    np.testing.assert_array_equal(again.forward(x), d.forward(x))


@pytest.mark.parametrize(
    "bad", ["NCHW", b"12", 3, 2.5, (2, 0), (2, -1), (2, 1.5), (True, 2), ("a",), object()],
)
def test_bad_noise_shapes_are_value_errors_naming_it(bad):
    with pytest.raises(ValueError, match="noise_shape"):
        dropkit.Dropout(0.5, noise_shape=bad)
    with pytest.raises(ValueError, match="noise_shape"):
        F.dropout(np.ones(3), 0.5, seed=1, draw=0, noise_shape=bad)


def test_a_noise_shape_that_does_not_fit_the_input_names_both_shapes():
    d = dropkit.Dropout(0.5, noise_shape=(None, 3, 1))
    for mode in ("train", "eval"):
        if mode == "eval":
            d.evaluate()
        with pytest.raises(ValueError, match=r"noise_shape.*\(2, 4, 5\)|\(2, 4, 5\).*noise_shape"):
            d.forward(np.ones((2, 4, 5), np.float32))
        with pytest.raises(ValueError, match="noise_shape"):
            d.forward(np.ones((2, 3), np.float32))


@pytest.mark.parametrize("draw", [0, 4])
def test_functional_takes_the_noise_shape(draw):
    noise = (1, None, 1, None)
    layer = dropkit.Dropout(0.3, seed=8, noise_shape=noise)
    x, g = _x((3, 4, 2, 5)), _x((3, 4, 2, 5), 1)
    for _ in range(draw):
        layer.forward(x)
    y = layer.forward(x)
    gi = layer.backward(x, g)
    np.testing.assert_array_equal(F.dropout(x, 0.3, seed=8, draw=draw, noise_shape=noise), y)
    np.testing.assert_array_equal(
        F.dropout_backward(x, g, 0.3, seed=8, draw=draw, noise_shape=noise), gi)


@pytest.mark.parametrize("multiplicative", [True, False])
def test_gaussian_layers_broadcast_the_unbroadcast_noise(multiplicative):
    shape, noise = (3, 4, 5, 6), (1, None, 1, None)
    if multiplicative:
        plain, layer = dropkit.GaussianDropout(0.3, seed=4), dropkit.GaussianDropout(
            0.3, seed=4, noise_shape=noise)
        base = np.ones(4 * 6)
    else:
        plain, layer = dropkit.GaussianNoise(0.6, seed=4), dropkit.GaussianNoise(
            0.6, seed=4, noise_shape=noise)
        base = np.zeros(4 * 6)
    e = plain.forward(base).reshape(1, 4, 1, 6)
    x = _x(shape).astype(np.float64)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, x * e if multiplicative else x + e)
    g = np.ones(shape)
    np.testing.assert_array_equal(layer.backward(x, g), g * e if multiplicative else g)
    assert layer.noise_shape == (1, None, 1, None)
    assert layer.get_config()["noise_shape"] == (1, None, 1, None)
    back = pickle.loads(pickle.dumps(layer))
    assert repr(back) == repr(layer)
    fn = F.gaussian_dropout if multiplicative else F.gaussian_noise
    arg = 0.3 if multiplicative else 0.6
    np.testing.assert_array_equal(fn(x, arg, seed=4, draw=0, noise_shape=noise), y)
    with pytest.raises(ValueError, match="noise_shape"):
        type(layer)(arg, noise_shape=(0,))
