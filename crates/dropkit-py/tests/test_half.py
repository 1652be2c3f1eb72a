"""float16 and bfloat16 (ml_dtypes.bfloat16) arrays: every layer and every functional call
keeps the dtype and gives bit for bit the float32 result on the same values, rounded once
(to nearest, ties to even: numpy's and ml_dtypes' astype); in place, strided, read-only, in
both modes; NaN, infinities, subnormals and overflowing values included."""

import subprocess
import sys

import numpy as np
import pytest

import dropkit
from dropkit import functional as F
from _cases import CASES

ml_dtypes = pytest.importorskip("ml_dtypes")

HALF = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
# A value whose scaled results overflow the type, and a subnormal of the type.
EXTREMES = {"float16": (60000.0, 3e-7), "bfloat16": (3e38, 5e-39)}


def _data(shape, name, salt):
    n = int(np.prod(shape))
    rng = np.random.default_rng(salt)
    x = rng.uniform(-4.0, 4.0, n).astype(np.float32)
    huge, tiny = EXTREMES[name]
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, tiny, -tiny, huge, -huge],
                        dtype=np.float32)
    x[1::5] = np.resize(specials, x[1::5].shape)
    return x.reshape(shape).astype(HALF[name])


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint16)


def _assert_rounded(half, single, name):
    assert half.dtype == HALF[name]
    assert single.dtype == np.float32
    with np.errstate(over="ignore"):  # overflowing to infinity is part of the test
        want = single.astype(HALF[name])
    np.testing.assert_array_equal(_bits(half), _bits(want))


@pytest.mark.parametrize("name", sorted(HALF))
@pytest.mark.parametrize("case", list(CASES))
def test_layers_are_float32_then_rounded(case, name):
    make, shape = CASES[case]
    x, g = _data(shape, name, 1), _data(shape, name, 2)
    xf, gf = x.astype(np.float32), g.astype(np.float32)
    half, single, inplace = make(seed=5), make(seed=5), make(seed=5, inplace=True)
    for training in (True, True, False):
        for layer in (half, single, inplace):
            layer.training() if training else layer.evaluate()
        y = half.forward(x)
        _assert_rounded(y, single.forward(xf), name)
        x2 = x.copy()
        assert inplace.forward(x2) is x2
        np.testing.assert_array_equal(_bits(x2), _bits(y))
        gx = half.backward(x, g)
        _assert_rounded(gx, single.backward(xf, gf), name)
        g2 = g.copy()
        assert inplace.backward(x, g2) is g2
        np.testing.assert_array_equal(_bits(g2), _bits(gx))


@pytest.mark.parametrize("name", sorted(HALF))
@pytest.mark.parametrize("case", list(CASES))
def test_strided_and_read_only_inputs(case, name):
    make, shape = CASES[case]
    big = _data((2,) + shape, name, 3)
    x = big[1][..., ::-1]  # a view with a negative step
    x.flags.writeable = False
    _assert_rounded(make(seed=7).forward(x),
                    make(seed=7).forward(np.ascontiguousarray(x).astype(np.float32)), name)
    fortran = np.asfortranarray(_data(shape, name, 4))
    _assert_rounded(make(seed=7).forward(fortran),
                    make(seed=7).forward(fortran.astype(np.float32)), name)
    with pytest.raises(ValueError, match="read-only"):
        make(seed=7, inplace=True).forward(x)


@pytest.mark.parametrize("name", sorted(HALF))
def test_non_native_byte_order_goes_through_a_copy(name):
    if name == "bfloat16":
        pytest.skip("ml_dtypes has no byte-swapped bfloat16")
    x = _data((5, 9), name, 5)
    swapped = x.astype(x.dtype.newbyteorder(">"))
    y = dropkit.Dropout(0.3, seed=2).forward(swapped)
    np.testing.assert_array_equal(_bits(y), _bits(dropkit.Dropout(0.3, seed=2).forward(x)))
    layer = dropkit.Dropout(0.3, inplace=True, seed=2)
    assert layer.forward(swapped) is swapped
    np.testing.assert_array_equal(_bits(swapped.astype(x.dtype)), _bits(y))


FUNCTIONAL = [
    (F.dropout, F.dropout_backward, {"p": 0.3}, (3, 37)),
    (F.gaussian_dropout, F.gaussian_dropout_backward, {"rate": 0.4}, (5, 13)),
    (F.gaussian_noise, F.gaussian_noise_backward, {"stddev": 0.7}, (2, 3, 11)),
    (F.spatial_dropout1d, F.spatial_dropout1d_backward, {"p": 0.5}, (4, 5, 6)),
    (F.spatial_dropout2d, F.spatial_dropout2d_backward, {"p": 0.5, "data_format": "NHWC"},
     (3, 2, 3, 8)),
    (F.spatial_dropout3d, F.spatial_dropout3d_backward, {"p": 0.5}, (2, 8, 2, 2, 3)),
]


@pytest.mark.parametrize("name", sorted(HALF))
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("index", range(len(FUNCTIONAL)))
def test_functional_is_float32_then_rounded(index, training, name):
    forward, backward, kwargs, shape = FUNCTIONAL[index]
    x, g = _data(shape, name, 6), _data(shape, name, 7)
    key = {"seed": 11, "draw": 3, "training": training, **kwargs}
    _assert_rounded(forward(x, **key), forward(x.astype(np.float32), **key), name)
    _assert_rounded(backward(x, g, **key), backward(x, g.astype(np.float32), **key), name)


def test_float16_does_not_import_ml_dtypes():
    code = (
        "import sys, numpy as np, dropkit\n"
        "y = dropkit.Dropout(0.5, seed=1).forward(np.ones(8, np.float16))\n"
        "assert y.dtype == np.float16\n"
        "try:\n"
        "    dropkit.Dropout(0.5, seed=1).forward(np.ones(8, np.complex64))\n"
        "except TypeError:\n"
        "    pass\n"
        "assert 'ml_dtypes' not in sys.modules, 'ml_dtypes was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
