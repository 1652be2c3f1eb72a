"""Training and evaluation modes, p, and the generator: seeds, states and replay."""

import numpy as np
import pytest

import dropkit
from _cases import CASES, CLASSES

X = np.arange(1, 13, dtype=np.float32).reshape(3, 4)


@pytest.mark.parametrize("case", list(CASES))
def test_training_and_evaluate_return_the_layer_and_switch_modes(case):
    layer = CASES[case][0]()
    assert layer.is_training()  # layers start in training mode, as in BigDL
    assert layer.evaluate() is layer and not layer.is_training()
    assert layer.training() is layer and layer.is_training()
    assert layer.set_seed(3) is layer and layer.use_default_generator() is layer


def test_dropout_evaluation():
    assert np.array_equal(dropkit.Dropout(0.3).evaluate().forward(X), X)
    unscaled = dropkit.Dropout(0.25, scale=False).evaluate()
    assert np.array_equal(unscaled.forward(X), X * np.float32(0.75))
    # DEVIATION from BigDL (which throws): the gradient of the evaluation forward.
    assert np.array_equal(unscaled.backward(X, X), X * np.float32(0.75))


def test_gaussian_layers_are_the_identity_in_evaluation():
    for layer in (dropkit.GaussianDropout(0.5), dropkit.GaussianNoise(2.0)):
        layer.evaluate()
        assert np.array_equal(layer.forward(X), X)
        assert np.array_equal(layer.backward(X, X), X)


def test_spatial_evaluation_multiplies_by_keep_probability_unless_scaled():
    x = np.ones((2, 3, 4), dtype=np.float64)
    assert np.array_equal(dropkit.SpatialDropout1D(0.3).evaluate().forward(x), x * 0.7)
    assert np.array_equal(dropkit.SpatialDropout1D(0.3, scale=True).evaluate().forward(x), x)


def test_training_forward_laws():
    layer = dropkit.Dropout(0.5, seed=1)
    y = layer.forward(X)
    assert set(np.unique(y[y != 0] / X[y != 0])) == {2.0}
    assert 0 < np.count_nonzero(y) < y.size
    spatial = dropkit.SpatialDropout2D(0.5, scale=True, seed=2)
    x = np.ones((4, 8, 3, 3), dtype=np.float32)
    y = spatial.forward(x)
    per_map = y.reshape(4, 8, 9)
    assert np.all(per_map == per_map[:, :, :1])  # one draw per (sample, channel)
    assert set(np.unique(y)) == {0.0, 2.0}


def test_backward_differentiates_the_last_forward_after_a_mode_switch():
    layer = dropkit.Dropout(0.5, seed=5)
    y = layer.forward(X)
    layer.evaluate()
    assert np.array_equal(layer.backward(X, X), y)


def test_p_and_set_p():
    layer = dropkit.Dropout(0.5, seed=1)
    assert layer.p == 0.5
    assert layer.set_p(0.0) is layer and layer.p == 0.0
    assert np.array_equal(layer.forward(X), X)  # p = 0 is the identity
    layer.p = 1.0
    assert layer.p == 1.0
    assert not layer.forward(X).any()  # p = 1: all zeros
    assert not layer.backward(X, X).any()
    spatial = dropkit.SpatialDropout3D(0.2, "NHWC")
    assert spatial.p == 0.2 and spatial.data_format == "NHWC" and not spatial.scale
    assert spatial.set_p(0.7).p == 0.7


def test_properties_and_repr():
    tail = ", seed=None, training=True)"
    assert (repr(dropkit.Dropout())
            == "Dropout(init_p=0.5, inplace=False, scale=True, noise_shape=None" + tail)
    assert (repr(dropkit.Dropout(0.25, True, False))
            == "Dropout(init_p=0.25, inplace=True, scale=False, noise_shape=None" + tail)
    assert (repr(dropkit.GaussianDropout(0.2))
            == "GaussianDropout(rate=0.2, store_noise=False, inplace=False, noise_shape=None"
            + tail)
    assert (repr(dropkit.GaussianNoise(0.1, inplace=True))
            == "GaussianNoise(stddev=0.1, inplace=True, noise_shape=None" + tail)
    assert (repr(dropkit.SpatialDropout1D())
            == "SpatialDropout1D(init_p=0.5, data_format='NHWC', scale=False, inplace=False" + tail)
    assert (repr(dropkit.SpatialDropout2D(0.1, "nhwc", scale=True))
            == "SpatialDropout2D(init_p=0.1, data_format='NHWC', scale=True, inplace=False" + tail)
    assert (repr(dropkit.SpatialDropout3D(seed=3, generator="bigdl").evaluate())
            == "SpatialDropout3D(init_p=0.5, data_format='NCHW', scale=False, inplace=False, "
            "seed=3, generator='bigdl', training=False)")
    g = dropkit.GaussianDropout(0.2)
    assert g.rate == 0.2 and g.stddev == pytest.approx((0.2 / 0.8) ** 0.5)
    assert dropkit.GaussianNoise(0.3).stddev == 0.3
    d = dropkit.Dropout(0.1, scale=False)
    assert d.scale is False and d.inplace is False


def test_resampling_off_reuses_the_mask():
    layer = dropkit.Dropout(0.5, seed=1)
    assert layer.is_resampling()
    layer.set_resampling(False)
    x = np.ones((16, 16), dtype=np.float32)
    a, b = layer.forward(x), layer.forward(x)
    assert np.array_equal(a, b)
    layer.set_resampling(True)
    assert not np.array_equal(layer.forward(x), a)


@pytest.mark.parametrize("generator", ["philox", "bigdl"])
@pytest.mark.parametrize("case", list(CASES))
def test_state_replays_a_past_draw(case, generator):
    make, shape = CASES[case]
    layer = make(seed=12, generator=generator)
    x = np.random.RandomState(0).standard_normal(shape)
    layer.forward(x)
    state = layer.generator_state
    assert state["generator"] == generator and state["seed"] == 12
    first = layer.forward(x)
    second = layer.forward(x)
    assert not np.array_equal(first, second)
    layer.generator_state = state
    assert layer.generator_state == state
    assert np.array_equal(layer.forward(x), first)


def test_state_forms():
    layer = dropkit.Dropout(seed=7)
    assert layer.generator_state == {"generator": "philox", "seed": 7, "draw": 0}
    layer.forward(X)
    assert layer.generator_state == {"generator": "philox", "seed": 7, "draw": 1}
    layer.set_seed(9, "BigDL")
    assert layer.generator_state == {"generator": "bigdl", "seed": 9, "words": 0,
                                     "pending_pair": None}
    layer.forward(X)
    assert layer.generator_state["words"] == X.size  # one word per element
    noise = dropkit.GaussianNoise(1.0, seed=3, generator="bigdl")
    noise.forward(np.ones(3))  # three normals: one Box-Muller pair, plus one cached
    assert noise.generator_state == {"generator": "bigdl", "seed": 3, "words": 4,
                                     "pending_pair": 2}
    layer.generator_state = {"generator": "philox", "seed": 2**64 - 1, "draw": 2**64 - 1}
    assert layer.generator_state["draw"] == 2**64 - 1


def test_default_generator():
    dropkit.set_seed(77)
    a = dropkit.Dropout().forward(X)
    assert dropkit.default_generator_state() == {"generator": "philox", "seed": 77, "draw": 1}
    dropkit.set_seed(77)
    assert np.array_equal(dropkit.Dropout().forward(X), a)
    # A layer without a seed reports, and advances, the default generator.
    layer = dropkit.SpatialDropout1D()
    assert layer.generator_state == dropkit.default_generator_state()
    layer.forward(np.ones((2, 3, 4)))
    assert dropkit.default_generator_state()["draw"] == 2
    # A seeded layer does not touch it; use_default_generator goes back to it.
    own = dropkit.Dropout(seed=1)
    own.forward(X)
    assert dropkit.default_generator_state()["draw"] == 2
    own.use_default_generator().forward(X)
    assert dropkit.default_generator_state()["draw"] == 3


def test_default_generator_state_round_trip_replays():
    dropkit.set_seed(5, generator="bigdl")
    state = dropkit.default_generator_state()
    assert state == {"generator": "bigdl", "seed": 5, "words": 0, "pending_pair": None}
    a = dropkit.GaussianNoise(1.0).forward(np.ones(5))
    dropkit.set_default_generator_state(state)
    assert np.array_equal(dropkit.GaussianNoise(1.0).forward(np.ones(5)), a)


def test_own_seed_equals_default_seeded_the_same():
    dropkit.set_seed(31, generator="bigdl")
    a = dropkit.Dropout().forward(X)
    b = dropkit.Dropout(seed=31, generator="bigdl").forward(X)
    assert np.array_equal(a, b)


def test_num_threads_does_not_change_results():
    x = np.random.RandomState(3).standard_normal((300, 301)).astype(np.float32)
    outs = []
    for n in (1, 2, 3):
        dropkit.set_num_threads(n)
        assert dropkit.num_threads() == n
        outs.append([cls(0.5, seed=4).forward(x) for cls in (dropkit.Dropout,
                                                           dropkit.GaussianDropout)]
                    + [dropkit.GaussianNoise(1.0, seed=4).forward(x)])
    for other in outs[1:]:
        for a, b in zip(outs[0], other):
            assert np.array_equal(a, b)


def test_every_class_is_exported():
    for cls in CLASSES:
        assert getattr(dropkit, cls.__name__) is cls
        assert cls.__module__ == "dropkit"


@pytest.mark.parametrize("generator", ["philox", "bigdl"])
def test_gaussian_dropout_stored_noise_gives_the_regenerated_bits(generator):
    x = np.linspace(-3, 3, 4 * 257, dtype=np.float32).reshape(4, 257)
    g = (x * 0.5 - 1).astype(np.float32)
    plain = dropkit.GaussianDropout(0.4, seed=3, generator=generator)
    stored = dropkit.GaussianDropout(0.4, seed=3, generator=generator, store_noise=True)
    assert stored.store_noise and not plain.store_noise
    for _ in range(2):
        assert np.array_equal(plain.forward(x).view(np.uint32), stored.forward(x).view(np.uint32))
        assert np.array_equal(plain.backward(x, g).view(np.uint32), stored.backward(x, g).view(np.uint32))
