"""Every core error reaches Python as ValueError (a bad argument), RuntimeError (misuse) or
TypeError (dtype), with the core's message unchanged."""

import math

import numpy as np
import pytest

import dropkit
from _cases import CASES


@pytest.mark.parametrize("make, message", [
    (lambda: dropkit.Dropout(1.5), "init_p = 1.5 is not a probability in [0, 1]"),
    (lambda: dropkit.Dropout(-0.1), "init_p = -0.1 is not a probability in [0, 1]"),
    (lambda: dropkit.Dropout(math.nan), "init_p = NaN is not a probability in [0, 1]"),
    (lambda: dropkit.SpatialDropout1D(2.0), "init_p = 2 is not a probability in [0, 1]"),
    (lambda: dropkit.SpatialDropout2D(-1.0), "init_p = -1 is not a probability in [0, 1]"),
    (lambda: dropkit.SpatialDropout3D(math.inf), "init_p = inf is not a probability in [0, 1]"),
    (lambda: dropkit.GaussianDropout(1.0), "rate = 1 is not a probability in [0, 1)"),
    (lambda: dropkit.GaussianDropout(-0.5), "rate = -0.5 is not a probability in [0, 1)"),
    # Tiny and huge magnitudes in their shortest round-trip form, not hundreds of digits.
    (lambda: dropkit.Dropout(-1e-300), "init_p = -1e-300 is not a probability in [0, 1]"),
    (lambda: dropkit.GaussianDropout(1e20), "rate = 1e20 is not a probability in [0, 1)"),
    (lambda: dropkit.GaussianNoise(-1e-300),
     "stddev = -1e-300 is invalid: it must be finite and >= 0"),
    (lambda: dropkit.GaussianNoise(-1.0),
     "stddev = -1 is invalid: it must be finite and >= 0"),
    (lambda: dropkit.GaussianNoise(math.inf),
     "stddev = inf is invalid: it must be finite and >= 0"),
    (lambda: dropkit.GaussianNoise(math.nan),
     "stddev = NaN is invalid: it must be finite and >= 0"),
    (lambda: dropkit.SpatialDropout2D(0.5, "NCWH"),
     'data_format = "NCWH" is unknown: accepted are "NCHW" (or "channels_first") and "NHWC" (or "channels_last"), any case'),
    (lambda: dropkit.SpatialDropout3D(0.5, ""),
     'data_format = "" is unknown: accepted are "NCHW" (or "channels_first") and "NHWC" (or "channels_last"), any case'),
    (lambda: dropkit.Dropout(seed=1, generator="mt"),
     'generator = "mt" is unknown: accepted are "philox" and "bigdl" (any case)'),
    (lambda: dropkit.set_seed(1, generator="numpy"),
     'generator = "numpy" is unknown: accepted are "philox" and "bigdl" (any case)'),
    (lambda: dropkit.Dropout().set_seed(1, "torch"),
     'generator = "torch" is unknown: accepted are "philox" and "bigdl" (any case)'),
    (lambda: dropkit.set_num_threads(0), "threads = 0 is invalid: it must be at least 1"),
    (lambda: dropkit.set_num_threads(-2), "threads = -2 is invalid: it must be at least 1"),
    (lambda: dropkit.Dropout(seed=-1), "seed = -1 is out of range: accepted are integers in [0, 2**64)"),
    (lambda: dropkit.set_seed(2**64),
     "seed = 18446744073709551616 is out of range: accepted are integers in [0, 2**64)"),
    (lambda: dropkit.GaussianNoise(0.1, generator="bigdl"),
     'generator = "bigdl" needs a seed: pass seed=..., or call dropkit.set_seed(n, '
     'generator="bigdl") for layers without a seed of their own'),
])
def test_bad_arguments_are_value_errors(make, message):
    with pytest.raises(ValueError) as err:
        make()
    assert str(err.value) == message


def test_set_p_out_of_range_is_a_value_error_and_keeps_p():
    for layer in (dropkit.Dropout(0.3), dropkit.SpatialDropout2D(0.3)):
        with pytest.raises(ValueError, match=r"^p = 1.2 is not a probability in \[0, 1\]$"):
            layer.set_p(1.2)
        with pytest.raises(ValueError, match=r"^p = NaN"):
            layer.p = math.nan
        assert layer.p == 0.3


@pytest.mark.parametrize("case, bad_shape, message", [
    ("SpatialDropout1D", (5,), None),
    ("SpatialDropout1D", (2, 3, 4, 5),
     "SpatialDropout1D takes input of rank 3 (N, T, C) or 2 (T, C) with format NHWC, got shape (2, 3, 4, 5) (rank 4)"),
    ("SpatialDropout2D-NCHW", (3, 4), None),
    ("SpatialDropout2D-NHWC", (1, 2, 3, 4, 5), None),
    ("SpatialDropout3D-NCHW", (3, 4, 5), None),
])
def test_wrong_rank_is_a_value_error_in_both_modes(case, bad_shape, message):
    make, _ = CASES[case]
    x = np.zeros(bad_shape, dtype=np.float32)
    layer = make(seed=1)
    for _ in ("training", "evaluation"):
        with pytest.raises(ValueError) as err:
            layer.forward(x)
        assert "takes input of rank" in str(err.value)
        assert f"got shape {tuple(bad_shape)}".replace(",)", ")") in str(err.value)
        if message is not None:
            assert str(err.value) == message
        layer.evaluate()


def test_unbatched_spatial_inputs_are_accepted():
    assert dropkit.SpatialDropout1D(seed=1).forward(np.ones((6, 5))).shape == (6, 5)
    assert dropkit.SpatialDropout2D(seed=1).forward(np.ones((3, 4, 5))).shape == (3, 4, 5)
    assert dropkit.SpatialDropout3D(seed=1).forward(np.ones((3, 4, 5, 6))).shape == (3, 4, 5, 6)


@pytest.mark.parametrize("case", [c for c in CASES if c != "GaussianNoise"])
def test_backward_before_forward_is_a_runtime_error(case):
    make, shape = CASES[case]
    layer = make(seed=1)
    x = np.ones(shape, dtype=np.float32)
    with pytest.raises(RuntimeError) as err:
        layer.backward(x, x)
    name = case.split("-")[0]
    assert str(err.value) == (
        f"{name}.backward needs the mask or noise of a training forward, and no forward ran yet"
    )


def test_gaussian_noise_backward_needs_no_forward():
    x = np.ones((2, 3), dtype=np.float32)
    assert np.array_equal(dropkit.GaussianNoise(0.3).backward(x, x), x)


@pytest.mark.parametrize("case", list(CASES))
def test_backward_shapes_must_match_the_forward(case):
    make, shape = CASES[case]
    layer = make(seed=1)
    x = np.ones(shape, dtype=np.float32)
    layer.forward(x)
    other = np.ones(shape[:-1] + (shape[-1] + 1,), dtype=np.float32)
    name = case.split("-")[0]
    dims = lambda s: "(" + ", ".join(map(str, s)) + ")"  # noqa: E731
    with pytest.raises(ValueError) as err:
        layer.backward(other, x)
    assert str(err.value) == f"{name}: input has shape {dims(other.shape)}, expected {dims(shape)}"
    with pytest.raises(ValueError) as err:
        layer.backward(x, other)
    assert "grad_output has shape" in str(err.value)


@pytest.mark.parametrize("state, exc, message", [
    ({"generator": "philox", "seed": 1}, ValueError, 'generator state has no "draw" key'),
    ({"seed": 1, "draw": 0}, ValueError, 'generator state has no "generator" key'),
    ({"generator": "philox", "seed": 1, "draw": 0, "words": 3}, ValueError,
     "generator state key 'words' is unknown: a philox state has the keys "
     '["generator", "seed", "draw"]'),
    ({"generator": "mt", "seed": 1, "draw": 0}, ValueError,
     'generator = "mt" is unknown: accepted are "philox" and "bigdl" (any case)'),
    ({"generator": "philox", "seed": 1, "draw": -1}, ValueError,
     "draw = -1 is out of range: accepted are integers in [0, 2**64)"),
    ({"generator": "bigdl", "seed": 1, "words": 0}, ValueError,
     'generator state has no "pending_pair" key'),
    ({"generator": "philox", "seed": "1", "draw": 0}, TypeError,
     "seed must be an int in [0, 2**64), not '1' (str)"),
    ({"generator": "philox", "seed": 1.0, "draw": 0}, TypeError,
     "seed must be an int in [0, 2**64), not 1.0 (float)"),
    ({"generator": "philox", "seed": 2**64, "draw": 0}, ValueError,
     "seed = 18446744073709551616 is out of range: accepted are integers in [0, 2**64)"),
    ({"generator": "philox", "seed": 1, "draw": 2.5}, TypeError,
     "draw must be an int in [0, 2**64), not 2.5 (float)"),
    ({"generator": "philox", "seed": 1, "draw": None}, TypeError,
     "draw must be an int in [0, 2**64), not None (NoneType)"),
    ({"generator": "philox", "seed": 1, "draw": 2**64}, ValueError,
     "draw = 18446744073709551616 is out of range: accepted are integers in [0, 2**64)"),
    ({"generator": "bigdl", "seed": 1, "words": -5, "pending_pair": None}, ValueError,
     "words = -5 is out of range: accepted are integers in [0, 2**64)"),
    ({"generator": "bigdl", "seed": 1, "words": "7", "pending_pair": None}, TypeError,
     "words must be an int in [0, 2**64), not '7' (str)"),
    ({"generator": "bigdl", "seed": 1, "words": 8, "pending_pair": "x"}, TypeError,
     "pending_pair must be None or an int in [0, 2**64), not 'x' (str)"),
    ({"generator": "bigdl", "seed": 1, "words": 8, "pending_pair": 2.0}, TypeError,
     "pending_pair must be None or an int in [0, 2**64), not 2.0 (float)"),
    ({"generator": "bigdl", "seed": 1, "words": 8, "pending_pair": -1}, ValueError,
     "pending_pair = -1 is out of range: accepted are None and integers in [0, 2**64)"),
    ({"generator": 3, "seed": 1, "draw": 0}, TypeError,
     'generator must be a str, "philox" or "bigdl", not 3 (int)'),
    ([("generator", "philox")], TypeError,
     'a generator state must be a dict such as {"generator": "philox", "seed": 0, "draw": 0}, '
     "not [('generator', 'philox')] (list)"),
])
def test_bad_generator_states(state, exc, message):
    layer = dropkit.Dropout(seed=4)
    with pytest.raises(exc) as err:
        layer.generator_state = state
    if message is not None:
        assert str(err.value) == message
    with pytest.raises(exc):
        dropkit.set_default_generator_state(state)
    assert layer.generator_state == {"generator": "philox", "seed": 4, "draw": 0}


SEED_CALLS = {
    "Dropout(seed=...)": lambda v: dropkit.Dropout(seed=v),
    "SpatialDropout2D(seed=...)": lambda v: dropkit.SpatialDropout2D(seed=v, generator="bigdl"),
    "dropkit.set_seed": lambda v: dropkit.set_seed(v),
    "layer.set_seed": lambda v: dropkit.GaussianNoise(0.1).set_seed(v, "bigdl"),
}


@pytest.mark.parametrize("call", sorted(SEED_CALLS))
@pytest.mark.parametrize("value, shown", [
    (1.0, "1.0 (float)"),
    (1.5, "1.5 (float)"),
    ("3", "'3' (str)"),
    (None, "None (NoneType)"),
    ([1], "[1] (list)"),
    (np.float64(2.0), f"{np.float64(2.0)!r} (numpy.float64)"),
    ("x" * 100, "'" + "x" * 56 + "... (str)"),
])
def test_a_seed_that_is_not_an_int_is_a_type_error_naming_it(call, value, shown):
    if value is None and "(seed=" in call:
        return  # seed=None is the default: no seed of its own
    with pytest.raises(TypeError) as err:
        SEED_CALLS[call](value)
    assert str(err.value) == "seed must be an int in [0, 2**64), not " + shown


@pytest.mark.parametrize("call", sorted(SEED_CALLS))
def test_a_seed_out_of_range_is_a_value_error_naming_it(call):
    for value in (-1, 2**64, -(2**70)):
        with pytest.raises(ValueError) as err:
            SEED_CALLS[call](value)
        assert str(err.value) == (
            f"seed = {value} is out of range: accepted are integers in [0, 2**64)")


def test_seeds_take_any_integer_type():
    for value in (True, np.int64(3), np.uint64(2**64 - 1), 2**64 - 1):
        for call in SEED_CALLS.values():
            call(value)


NUMPY_2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


@pytest.mark.skipif(not NUMPY_2, reason="numpy 1 makes no array of more than 32 dimensions")
@pytest.mark.parametrize("inplace", [False, True])
def test_more_than_32_dimensions_is_a_value_error(inplace):
    # rust-numpy's views take at most 32 dimensions (it panicked on more); numpy 2 makes 64.
    layer = dropkit.Dropout(0.5, inplace=inplace, seed=1)
    x = np.zeros((1,) * 33, np.float32)
    state = layer.generator_state
    with pytest.raises(ValueError) as err:
        layer.forward(x)
    assert str(err.value) == "input has 33 dimensions: dropkit takes arrays of at most 32"
    assert layer.generator_state == state
    ok = np.ones((1,) * 32, np.float32)
    layer.forward(ok.copy())
    with pytest.raises(ValueError) as err:
        layer.backward(x, x)
    assert str(err.value) == "grad_output has 33 dimensions: dropkit takes arrays of at most 32"
    assert layer.backward(ok, ok.copy()).shape == ok.shape


@pytest.mark.parametrize("detached", [False, True])
def test_a_panic_is_a_runtime_error_naming_the_call(detached):
    # A panic (a broken internal invariant) must not reach Python as PyO3's PanicException,
    # a BaseException that `except Exception` misses: with the GIL held or released.
    with pytest.raises(RuntimeError) as err:
        dropkit._dropkit._panic_for_tests("invariant broken", detached)
    assert str(err.value) == "dropkit._panic_for_tests: internal error: invariant broken"
    # The extension still works afterwards.
    assert dropkit.Dropout(0.0).forward(np.ones(3)).tolist() == [1.0, 1.0, 1.0]


REAL = "{} must be a real number (a float or an int), not {}"
BOOL = "{} must be a bool (True or False), not {}"


def _set_p(value):
    layer = dropkit.SpatialDropout1D(0.3)
    layer.p = value


@pytest.mark.parametrize("call, message", [
    (lambda: dropkit.Dropout("a"), REAL.format("init_p", "'a' (str)")),
    (lambda: dropkit.SpatialDropout3D(init_p=None), REAL.format("init_p", "None (NoneType)")),
    (lambda: dropkit.GaussianDropout([0.1]), REAL.format("rate", "[0.1] (list)")),
    (lambda: dropkit.GaussianNoise("0.1"), REAL.format("stddev", "'0.1' (str)")),
    (lambda: dropkit.Dropout().set_p("0.2"), REAL.format("p", "'0.2' (str)")),
    (lambda: _set_p(b"1"), REAL.format("p", "b'1' (bytes)")),
    (lambda: dropkit.Dropout(0.5, "yes"), BOOL.format("inplace", "'yes' (str)")),
    (lambda: dropkit.Dropout(scale=1), BOOL.format("scale", "1 (int)")),
    (lambda: dropkit.SpatialDropout2D(scale=None), BOOL.format("scale", "None (NoneType)")),
    (lambda: dropkit.GaussianDropout(0.1, store_noise="no"),
     BOOL.format("store_noise", "'no' (str)")),
    (lambda: dropkit.Dropout().set_resampling(0), BOOL.format("resampling", "0 (int)")),
    (lambda: dropkit.SpatialDropout2D(0.5, 3),
     'data_format must be a str, "NCHW" or "NHWC", not 3 (int)'),
    (lambda: dropkit.Dropout(seed=1, generator=None),
     'generator must be a str, "philox" or "bigdl", not None (NoneType)'),
    (lambda: dropkit.set_seed(1, generator=1),
     'generator must be a str, "philox" or "bigdl", not 1 (int)'),
    (lambda: dropkit.GaussianNoise(0.1).set_seed(1, b"bigdl"),
     "generator must be a str, \"philox\" or \"bigdl\", not b'bigdl' (bytes)"),
])
def test_arguments_of_the_wrong_type_name_the_parameter_and_value(call, message):
    # PyO3's own messages ("must be real number, not str") name neither.
    with pytest.raises(TypeError) as err:
        call()
    assert str(err.value) == message


def test_a_float_argument_too_large_for_a_float_names_it():
    with pytest.raises(ValueError) as err:
        dropkit.GaussianNoise(10**400)
    assert str(err.value) == "stddev = " + "1" + "0" * 56 + "... is too large for a float"


def test_numpy_scalars_and_any_case_names_are_accepted():
    layer = dropkit.Dropout(np.float32(0.25), inplace=np.bool_(True), seed=np.int64(2),
                            generator="BigDL")
    assert repr(layer) == ("Dropout(init_p=0.25, inplace=True, scale=True, noise_shape=None, "
                           "seed=2, generator='bigdl', training=True)")
    assert layer.generator_state["generator"] == "bigdl"
    assert dropkit.SpatialDropout2D(1, "nhwc").data_format == "NHWC"
    for spelling, name in [("channels_first", "NCHW"), ("Channels_Last", "NHWC"),
                           ("CHANNELS_LAST", "NHWC")]:
        assert dropkit.SpatialDropout2D(1, spelling).data_format == name
        assert dropkit.SpatialDropout3D(data_format=spelling).data_format == name
