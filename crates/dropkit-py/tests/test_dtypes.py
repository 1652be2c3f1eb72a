"""Dtype rules: float32, float64, float16 and bfloat16 (ml_dtypes) keep their dtype; integer
and bool arrays are converted to float32; anything else is a TypeError with the core's
message."""

import numpy as np
import pytest

import dropkit
from _cases import CASES

CONVERTED = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
             np.bool_]
REFUSED = [np.complex64, np.complex128, np.object_, "U3", "S3", "datetime64[s]",
           "timedelta64[s]", [("a", "f4"), ("b", "f4")]]
if np.dtype(np.longdouble).itemsize not in (4, 8):
    REFUSED.append(np.longdouble)


def _sample(shape, dtype):
    v = np.arange(int(np.prod(shape))).reshape(shape) % 3
    return v.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("case", list(CASES))
def test_float_dtypes_are_kept(case, dtype):
    make, shape = CASES[case]
    layer = make(seed=3)
    x = np.ones(shape, dtype=dtype)
    y = layer.forward(x)
    assert y.dtype == dtype and y is not x
    assert layer.backward(x, x).dtype == dtype


@pytest.mark.parametrize("dtype", CONVERTED)
@pytest.mark.parametrize("case", list(CASES))
def test_integer_and_bool_become_float32(case, dtype):
    make, shape = CASES[case]
    x = _sample(shape, dtype)
    before = x.copy()
    a, b = make(seed=3), make(seed=3)
    y = a.forward(x)
    assert y.dtype == np.float32
    assert np.array_equal(y, b.forward(x.astype(np.float32)))
    g = a.backward(x, x)  # an integer gradient is converted too
    assert g.dtype == np.float32
    assert np.array_equal(g, b.backward(x, x.astype(np.float32)))
    assert x.dtype == dtype and np.array_equal(x, before)


def test_gradient_dtype_is_the_gradients_own():
    layer = dropkit.Dropout(0.5, seed=1)
    x = np.ones((4, 4), dtype=np.float32)
    layer.forward(x)
    assert layer.backward(x, np.ones((4, 4))).dtype == np.float64
    assert layer.backward(x.astype(np.int16), np.ones((4, 4), np.float32)).dtype == np.float32


@pytest.mark.parametrize("dtype", REFUSED, ids=str)
def test_other_dtypes_are_a_type_error(dtype):
    x = np.zeros((2, 3), dtype=dtype)
    want = (f"dtype {x.dtype} is not supported: accepted are float32, float64, float16 and "
            "bfloat16 (ml_dtypes.bfloat16; integer and bool arrays are converted to float32)")
    layer = dropkit.Dropout(0.5, seed=1)
    with pytest.raises(TypeError) as err:
        layer.forward(x)
    assert str(err.value) == want
    layer.forward(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="is not supported"):
        layer.backward(np.zeros((2, 3), np.float32), x)
    with pytest.raises(TypeError, match="is not supported"):
        layer.backward(x, np.zeros((2, 3), np.float32))


@pytest.mark.parametrize("value", [[1.0, 2.0], (1.0,), 3.0, np.float32(1.0), None, "abc"])
def test_non_arrays_are_a_type_error(value):
    layer = dropkit.GaussianNoise(0.1, seed=1)
    with pytest.raises(TypeError, match=r"^input must be a numpy.ndarray, got "):
        layer.forward(value)
    x = np.zeros(2, np.float32)
    layer.forward(x)
    with pytest.raises(TypeError, match=r"^grad_output must be a numpy.ndarray"):
        layer.backward(x, value)


def test_ndarray_subclasses_are_arrays():
    # Read as their data; results are plain ndarrays (in place: the caller's array).
    class Tagged(np.ndarray):
        pass

    x = np.arange(8, dtype=np.float32).view(Tagged)
    y = dropkit.Dropout(0.5, seed=1).forward(x)
    assert type(y) is np.ndarray
    assert np.array_equal(y, dropkit.Dropout(0.5, seed=1).forward(np.asarray(x)))
    assert dropkit.Dropout(0.5, inplace=True, seed=1).forward(x) is x
    assert np.array_equal(np.asarray(x), y)


def test_memmaps_work_in_place(tmp_path):
    m = np.memmap(tmp_path / "x.f32", dtype=np.float32, mode="w+", shape=(4, 8))
    m[...] = 3.0
    want = dropkit.Dropout(0.5, seed=2).forward(np.array(m))
    assert dropkit.Dropout(0.5, inplace=True, seed=2).forward(m) is m
    assert np.array_equal(np.asarray(m), want)


MASKED = ("{0} is a numpy.ma.MaskedArray, whose mask dropkit would ignore: pass "
          "{0}.filled(value) to choose the values of the masked elements, or "
          "numpy.asarray({0}) to use the data beneath the mask")
MATRIX = ("{0} is a numpy.matrix: the result would be a plain numpy.ndarray, whose * is "
          "element-wise; pass numpy.asarray({0}) (and numpy.asmatrix the result)")


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("kind", ["masked", "unmasked", "matrix"])
def test_masked_arrays_and_matrices_are_type_errors(kind, inplace):
    data = np.arange(1, 9, dtype=np.float32).reshape(2, 4)
    x = {
        "masked": lambda: np.ma.masked_array(data.copy(), mask=data > 4),
        "unmasked": lambda: np.ma.masked_array(data.copy()),  # refused masked or not
        "matrix": lambda: np.asmatrix(data.copy()),
    }[kind]()
    message = MATRIX if kind == "matrix" else MASKED
    layer = dropkit.Dropout(0.5, inplace=inplace, seed=1)
    state = layer.generator_state
    with pytest.raises(TypeError) as err:
        layer.forward(x)
    assert str(err.value) == message.format("input")
    assert np.array_equal(np.asarray(x), data) and layer.generator_state == state
    layer.forward(data.copy())
    with pytest.raises(TypeError) as err:
        layer.backward(data, x)
    assert str(err.value) == message.format("grad_output")
    assert np.array_equal(np.asarray(x), data)
    # backward reads only input's shape: any array will do there.
    assert layer.backward(x, data.copy()).shape == data.shape
