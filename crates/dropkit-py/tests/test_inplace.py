"""Dropout(inplace=True): forward overwrites its input and backward its grad_output, both
returned; read-only arrays are a ValueError and stay untouched (nor is a draw taken)."""

import numpy as np
import pytest

import dropkit

READ_ONLY_MESSAGE = ("{} is read-only, so it cannot be overwritten in place: pass a writeable "
                     "array or use inplace=False")


def _pair(**kw):
    return dropkit.Dropout(0.5, seed=21, **kw), dropkit.Dropout(0.5, inplace=True, seed=21, **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [True, False])
def test_inplace_matches_out_of_place(dtype, scale):
    ref, layer = _pair(scale=scale)
    x = np.random.RandomState(1).standard_normal((64, 33)).astype(dtype)
    g = np.random.RandomState(2).standard_normal((64, 33)).astype(dtype)
    want_y, want_g = ref.forward(x), ref.backward(x, g)
    xi, gi = x.copy(), g.copy()
    assert layer.forward(xi) is xi
    assert np.array_equal(xi, want_y)
    assert layer.backward(x, gi) is gi
    assert np.array_equal(gi, want_g)
    assert layer.inplace and not ref.inplace


def test_inplace_in_evaluation_mode():
    layer = dropkit.Dropout(0.25, inplace=True, scale=False).evaluate()
    x = np.full(5, 4.0, dtype=np.float32)
    assert layer.forward(x) is x
    assert np.array_equal(x, np.full(5, 3.0, dtype=np.float32))


@pytest.mark.parametrize("make_read_only", [
    lambda a: np.broadcast_to(a, a.shape),  # numpy's read-only views
    lambda a: _frozen(a),
    lambda a: _frozen(a.astype(a.dtype.newbyteorder())),  # through the copy path
])
def test_read_only_forward_is_a_value_error_and_nothing_changes(make_read_only):
    layer = dropkit.Dropout(0.5, inplace=True, seed=3)
    x = make_read_only(np.arange(1, 13, dtype=np.float32).reshape(3, 4))
    before = x.copy()
    state = layer.generator_state
    with pytest.raises(ValueError) as err:
        layer.forward(x)
    assert str(err.value) == READ_ONLY_MESSAGE.format("input")
    assert np.array_equal(x, before)
    assert layer.generator_state == state  # no draw was taken


def test_read_only_grad_is_a_value_error_and_nothing_changes():
    layer = dropkit.Dropout(0.5, inplace=True, seed=3)
    x = np.ones((3, 4), dtype=np.float32)
    layer.forward(x.copy())
    g = _frozen(np.full((3, 4), 7.0, dtype=np.float32))
    with pytest.raises(ValueError) as err:
        layer.backward(x, g)
    assert str(err.value) == READ_ONLY_MESSAGE.format("grad_output")
    assert np.array_equal(g, np.full((3, 4), 7.0, dtype=np.float32))


def test_read_only_input_is_fine_out_of_place():
    x = _frozen(np.ones((3, 4), dtype=np.float32))
    layer = dropkit.Dropout(0.5, seed=3)
    y = layer.forward(x)
    assert y.flags.writeable and not np.shares_memory(x, y)
    layer.backward(x, x)


def test_integer_input_in_place_returns_the_converted_result():
    # An int array cannot hold the float result: the float32 conversion is computed in
    # place and returned, and the caller's array stays as it was.
    x = np.arange(1, 9).reshape(2, 4)
    ref, layer = _pair()
    y = layer.forward(x)
    assert y is not x and y.dtype == np.float32
    assert np.array_equal(y, ref.forward(x))
    assert np.array_equal(x, np.arange(1, 9).reshape(2, 4))


def test_other_layers_never_write_their_input():
    for layer in (dropkit.GaussianNoise(1.0, seed=1), dropkit.GaussianDropout(0.5, seed=1),
                  dropkit.SpatialDropout1D(0.5, seed=1)):
        x = np.ones((2, 3, 4), dtype=np.float32)
        y = layer.forward(x)
        assert y is not x and np.array_equal(x, np.ones((2, 3, 4)))


def _frozen(a):
    a = np.array(a)
    a.flags.writeable = False
    return a
