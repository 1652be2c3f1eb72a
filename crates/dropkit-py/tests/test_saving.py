"""Saving layers: pickle, copy.copy / copy.deepcopy, get_config / from_config, repr."""

import copy
import pickle

import numpy as np
import pytest

import dropkit
from _cases import CASES, CLASSES

# (the layer's own generator, or None: it draws from the default, seeded with this kind)
SETUPS = [(None, "philox"), (None, "bigdl"), ("philox", None), ("bigdl", None)]
COPIES = {
    "pickle": lambda layer: pickle.loads(pickle.dumps(layer)),
    "pickle-0": lambda layer: pickle.loads(pickle.dumps(layer, protocol=0)),
    "deepcopy": copy.deepcopy,
    "copy": copy.copy,
}


def _make(case, own):
    factory, shape = CASES[case]
    layer = factory(seed=11, generator=own) if own else factory()
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    return layer, x


@pytest.mark.parametrize("how", COPIES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("own,default", SETUPS)
@pytest.mark.parametrize("case", CASES)
def test_a_restored_layer_continues_bit_for_bit(case, own, default, training, how):
    dropkit.set_seed(3, generator=default or "philox")
    layer, x = _make(case, own)
    layer.forward(x)  # a position past the start
    if not training:
        layer.evaluate()
    restored = COPIES[how](layer)
    assert type(restored) is type(layer) and restored is not layer
    assert repr(restored) == repr(layer)
    assert restored.generator_state == layer.generator_state
    assert restored.is_training() == layer.is_training() == training
    assert restored.get_config() == layer.get_config()
    start = dropkit.default_generator_state()
    want = layer.forward(x)
    dropkit.set_default_generator_state(start)
    got = restored.forward(x)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("own", [None, "philox", "bigdl"])
def test_a_layer_on_the_default_generator_keeps_drawing_from_it(own):
    layer, x = _make("Dropout", own)
    restored = pickle.loads(pickle.dumps(layer))
    before = dropkit.default_generator_state()
    restored.forward(x)
    moved = dropkit.default_generator_state() != before
    assert moved == (own is None)


@pytest.mark.parametrize("training", [True, False])
def test_the_last_forward_is_not_saved(training):
    layer, x = _make("Dropout", "philox")
    layer.forward(x)
    if not training:
        layer.evaluate()
    restored = pickle.loads(pickle.dumps(layer))
    if training:
        with pytest.raises(RuntimeError):
            restored.backward(x, x)
    else:
        np.testing.assert_array_equal(restored.backward(x, x), x)


@pytest.mark.parametrize("case", CASES)
def test_from_config_builds_an_equal_layer_at_its_start(case):
    for own in [None, "philox", "bigdl"]:
        layer, x = _make(case, own)
        fresh_repr = repr(layer)
        fresh_state = layer.generator_state if own else None
        layer.forward(x)
        config = layer.get_config()
        rebuilt = type(layer).from_config(config)
        assert type(rebuilt) is type(layer)
        assert repr(rebuilt) == fresh_repr == repr(layer)
        assert rebuilt.get_config() == config
        if own:
            assert config["seed"] == 11 and config["generator"] == own
            assert rebuilt.generator_state == fresh_state
        else:
            assert "seed" not in config and "generator" not in config


def test_get_config_is_the_constructor_arguments():
    assert dropkit.Dropout(0.25, True, False, seed=4).get_config() == {
        "init_p": 0.25, "inplace": True, "scale": False, "noise_shape": None, "seed": 4,
        "generator": "philox"}
    assert dropkit.GaussianDropout(0.2, store_noise=True).get_config() == {
        "rate": 0.2, "store_noise": True, "inplace": False, "noise_shape": None}
    assert dropkit.GaussianNoise(0.5, inplace=True).get_config() == {
        "stddev": 0.5, "inplace": True, "noise_shape": None}
    assert dropkit.SpatialDropout1D(0.3, "channels_first", scale=True).get_config() == {
        "init_p": 0.3, "data_format": "NCHW", "scale": True, "inplace": False}
    assert dropkit.SpatialDropout3D(0.3, "nhwc").get_config() == {
        "init_p": 0.3, "data_format": "NHWC", "scale": False, "inplace": False}


@pytest.mark.parametrize("cls", CLASSES)
def test_from_config_names_unknown_keys(cls):
    config = {"stddev": 0.5} if cls is dropkit.GaussianNoise else {"rate": 0.5} \
        if cls is dropkit.GaussianDropout else {}
    with pytest.raises(TypeError) as err:
        cls.from_config({**config, "bogus": 1, "other": 2})
    assert "'bogus'" in str(err.value) and "'other'" in str(err.value)
    with pytest.raises(TypeError):
        cls.from_config([1, 2])


def test_from_config_checks_values_like_the_constructor():
    with pytest.raises(ValueError, match="init_p"):
        dropkit.Dropout.from_config({"init_p": 2.0})


def test_a_bad_pickled_state_is_an_error():
    layer = dropkit.Dropout()
    for state in [None, {}, {"training": True}, {"training": True, "generator_state": 3},
                  {"training": True, "generator_state": None, "x": 1}]:
        with pytest.raises((ValueError, TypeError)):
            layer.__setstate__(state)
    assert repr(layer) == repr(dropkit.Dropout())
