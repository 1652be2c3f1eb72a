"""Any strides give the result of the contiguous copy: transposed, Fortran
order, negative steps, stepped slices, and the layouts an ndarray view cannot describe
(misaligned, byte-swapped, strides that are not a multiple of the item size), for every
layer, both generators, float32 and float64, forward and backward, out of place and in place."""

import numpy as np
import pytest

import dropkit
from _cases import CASES


def _fortran(c):
    return np.asfortranarray(c)


def _transposed(c):
    axes = tuple(reversed(range(c.ndim)))
    return np.ascontiguousarray(c.transpose(axes)).transpose(axes)


def _negative(c):
    return np.flip(np.flip(c).copy())


def _stepped(c):
    big = np.zeros(tuple(2 * s + 1 for s in c.shape), dtype=c.dtype)
    idx = tuple(slice(1, None, 2) for _ in c.shape)
    big[idx] = c
    return big[idx]


def _misaligned(c):
    buf = np.zeros(c.nbytes + 1, dtype=np.uint8)
    v = buf[1:].view(c.dtype).reshape(c.shape)
    v[...] = c
    return v


def _byteswapped(c):
    return c.astype(c.dtype.newbyteorder())


def _odd_strides(c):
    rec = np.zeros(c.shape, dtype=[("v", c.dtype), ("pad", "i1")])
    rec["v"] = c
    return rec["v"]


LAYOUTS = {
    "fortran": _fortran,
    "transposed": _transposed,
    "negative": _negative,
    "stepped": _stepped,
    "misaligned": _misaligned,
    "byteswapped": _byteswapped,
    "odd-strides": _odd_strides,
}


def test_layouts_are_what_they_claim():
    c = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    for name, make in LAYOUTS.items():
        v = make(c)
        assert np.array_equal(v, c), name
        assert not v.flags.c_contiguous or name in ("misaligned", "byteswapped"), name
    assert np.asarray(_negative(c)).strides[0] < 0
    assert not _misaligned(c).flags.aligned
    assert not _byteswapped(c).dtype.isnative
    assert _odd_strides(c).strides[-1] % c.itemsize != 0


@pytest.mark.parametrize("generator", ["philox", "bigdl"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("case", list(CASES))
def test_strided_equals_contiguous(case, layout, dtype, generator):
    make, shape = CASES[case]
    rng = np.random.RandomState(7)
    c = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    v, gv = LAYOUTS[layout](c), LAYOUTS[layout](g)
    v_before, gv_before = v.copy(), gv.copy()
    a, b = make(seed=5, generator=generator), make(seed=5, generator=generator)
    for _ in range(2):  # two draws, so the second forward's draw is compared too
        want = a.forward(c)
        got = b.forward(v)
        assert got.dtype == dtype and got.shape == shape
        assert np.array_equal(got, want)
        assert np.array_equal(b.backward(v, gv), a.backward(c, g))
    assert np.array_equal(v, v_before) and np.array_equal(gv, gv_before)  # inputs untouched
    a.evaluate()
    b.evaluate()
    assert np.array_equal(b.forward(v), a.forward(c))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_inplace_strided_equals_contiguous(layout, dtype):
    rng = np.random.RandomState(8)
    c = rng.standard_normal((5, 6, 7)).astype(dtype)
    g = rng.standard_normal((5, 6, 7)).astype(dtype)
    want_y = dropkit.Dropout(0.5, seed=9).forward(c)
    ref = dropkit.Dropout(0.5, seed=9)
    ref.forward(c)
    want_g = ref.backward(c, g)

    layer = dropkit.Dropout(0.5, inplace=True, seed=9)
    v, gv = LAYOUTS[layout](c), LAYOUTS[layout](g)
    y = layer.forward(v)
    assert y is v
    assert np.array_equal(v, want_y)
    gi = layer.backward(c, gv)
    assert gi is gv
    assert np.array_equal(gv, want_g)


def test_inplace_on_a_view_writes_only_the_view():
    base = np.arange(1, 49, dtype=np.float32).reshape(6, 8)
    view = base[1::2, ::-3]
    outside = np.ones(base.shape, dtype=bool)
    outside[1::2, ::-3] = False
    before = base.copy()
    want = dropkit.Dropout(0.5, seed=4).forward(view.copy())
    assert dropkit.Dropout(0.5, inplace=True, seed=4).forward(view) is view
    assert np.array_equal(base[1::2, ::-3], want)
    assert np.array_equal(base[outside], before[outside])


def test_inplace_on_an_array_whose_elements_share_memory():
    # as_strided with a zero stride: every row is the same 4 floats. Writing it through an
    # ndarray view would alias; the binding computes in a copy and lets numpy write back.
    base = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    x = np.lib.stride_tricks.as_strided(base, shape=(3, 4), strides=(0, 4))
    assert x.flags.writeable
    y = dropkit.Dropout(0.5, inplace=True, seed=2).forward(x)
    assert y is x
    assert all(v in (0.0, 2.0 * o) for v, o in zip(base, [1.0, 2.0, 3.0, 4.0]))


@pytest.mark.parametrize("case", list(CASES))
def test_zero_size_arrays(case):
    make, shape = CASES[case]
    empty = np.zeros((0,) + shape[1:], dtype=np.float32)
    layer = make(seed=1)
    y = layer.forward(empty)
    assert y.shape == empty.shape and y.dtype == np.float32
    assert layer.backward(empty, empty).shape == empty.shape


def test_zero_dimensional_array():
    x = np.array(3.0, dtype=np.float64)
    layer = dropkit.Dropout(0.5, seed=1)
    outs = {float(layer.forward(x)) for _ in range(40)}
    assert outs == {0.0, 6.0}
    assert layer.forward(x).shape == ()
