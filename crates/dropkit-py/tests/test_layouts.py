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


SHARED = ("{} has elements that share memory (shape {}, strides {} bytes), so it cannot be "
          "overwritten in place: pass a copy or use inplace=False")

# Writeable views whose elements share memory (only as_strided makes them): a write through
# one element changes another, so the array could not hold what the mask gives.
OVERLAPPING = {
    "overlapping rows": ((4, 4), (4, 4)),
    "broadcast rows": ((3, 4), (0, 4)),
    "broadcast 1-D": ((5,), (0,)),
    "half-overlapping items": ((3,), (2,)),
    "reversed overlapping": ((4, 3), (-4, 4)),
}


def _strided(shape, strides, dtype=np.float32):
    # A base large enough for every layout above, starting in its middle (negative strides).
    base = np.arange(1, 65, dtype=dtype)
    start = base[32:]
    return base, np.lib.stride_tricks.as_strided(start, shape=shape, strides=strides)


@pytest.mark.parametrize("name", sorted(OVERLAPPING))
def test_inplace_on_elements_that_share_memory_is_a_value_error(name):
    shape, strides = OVERLAPPING[name]
    base, x = _strided(shape, strides)
    assert x.flags.writeable
    before = base.copy()
    layer = dropkit.Dropout(0.5, inplace=True, seed=2)
    state = layer.generator_state
    with pytest.raises(ValueError) as err:
        layer.forward(x)
    assert str(err.value) == SHARED.format("input", shape, strides)
    assert np.array_equal(base, before)
    assert layer.generator_state == state  # no draw was taken

    # backward in place: the same rule for grad_output.
    c = np.ones(shape, dtype=np.float32)
    layer.forward(c.copy())
    with pytest.raises(ValueError) as err:
        layer.backward(c, x)
    assert str(err.value) == SHARED.format("grad_output", shape, strides)
    assert np.array_equal(base, before)

    # Out of place they are only read: the result is that of the contiguous copy.
    want = dropkit.Dropout(0.5, seed=2).forward(np.array(x))
    assert np.array_equal(dropkit.Dropout(0.5, seed=2).forward(x), want)
    assert np.array_equal(base, before)


def test_inplace_on_overlapping_integers_computes_the_copy():
    # An integer array is never written in place (its float32 copy is the result).
    base = np.arange(1, 20)
    x = np.lib.stride_tricks.as_strided(base, shape=(4, 4), strides=(base.itemsize,) * 2)
    y = dropkit.Dropout(0.5, inplace=True, seed=2).forward(x)
    assert y.dtype == np.float32 and np.array_equal(base, np.arange(1, 20))
    assert np.array_equal(y, dropkit.Dropout(0.5, seed=2).forward(np.array(x)))


@pytest.mark.parametrize("shape, strides", [
    ((3, 2), (8, 12)),       # interleaved: 0, 12, 8, 20, 16, 28
    ((2, 3), (20, -8)),      # offsets 16, 8, 0, 36, 28, 20
    ((2, 2, 2), (4, 16, 40)),
])
def test_inplace_on_interleaved_but_disjoint_views_is_accepted(shape, strides):
    # Layouts whose elements interleave without sharing a byte are written in place.
    base, x = _strided(shape, strides)
    want_base = base.copy()
    want = dropkit.Dropout(0.5, seed=6).forward(np.array(x))
    layer = dropkit.Dropout(0.5, inplace=True, seed=6)
    assert layer.forward(x) is x
    assert np.array_equal(x, want)
    view_of_want = np.lib.stride_tricks.as_strided(want_base[32:], shape=shape, strides=strides)
    view_of_want[...] = want
    assert np.array_equal(base, want_base)  # nothing outside the view was written


def _internal_overlap():
    try:
        from numpy._core._multiarray_tests import internal_overlap
    except ImportError:
        try:
            from numpy.core._multiarray_tests import internal_overlap
        except ImportError:
            return None
    return internal_overlap


@pytest.mark.skipif(_internal_overlap() is None, reason="numpy's test helper is not there")
def test_refused_exactly_when_numpy_finds_elements_sharing_memory():
    # numpy's own (exact) test of an array against itself, on many small random layouts.
    internal_overlap = _internal_overlap()
    rng = np.random.RandomState(5)
    refused = accepted = 0
    for _ in range(400):
        ndim = rng.randint(1, 4)
        shape = tuple(int(n) for n in rng.randint(1, 4, ndim))
        strides = tuple(int(s) * 4 for s in rng.randint(-5, 6, ndim))
        _, x = _strided(shape, strides)
        layer = dropkit.Dropout(0.5, inplace=True, seed=1)
        if internal_overlap(x):
            with pytest.raises(ValueError, match="share memory"):
                layer.forward(x)
            refused += 1
        else:
            want = dropkit.Dropout(0.5, seed=1).forward(np.array(x))
            assert np.array_equal(layer.forward(x), want), (shape, strides)
            accepted += 1
    assert refused > 50 and accepted > 50


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
