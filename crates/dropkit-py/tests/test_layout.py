"""Data-format spellings, SpatialDropout1D's channels-first option, inplace=True on every
layer, and outputs in the input's memory order."""

import numpy as np
import pytest

import dropkit

READ_ONLY_MESSAGE = ("{} is read-only, so it cannot be overwritten in place: pass a writeable "
                     "array or use inplace=False")


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("spelling, name", [
    ("channels_first", "NCHW"), ("CHANNELS_FIRST", "NCHW"), ("Channels_Last", "NHWC"),
    ("channels_last", "NHWC"), ("nchw", "NCHW"), ("NHWC", "NHWC"),
])
def test_keras_spellings_name_the_same_formats(spelling, name):
    for cls in (dropkit.SpatialDropout1D, dropkit.SpatialDropout2D, dropkit.SpatialDropout3D):
        assert cls(0.5, spelling).data_format == name
        assert cls(data_format=spelling).data_format == name


def test_unknown_formats_list_every_accepted_name():
    for cls in (dropkit.SpatialDropout1D, dropkit.SpatialDropout2D):
        with pytest.raises(ValueError) as err:
            cls(0.5, "channels")
        for name in ("NCHW", "NHWC", "channels_first", "channels_last", '"channels"'):
            assert name in str(err.value)


def test_spatial_1d_defaults_to_channels_last():
    layer = dropkit.SpatialDropout1D()
    assert layer.data_format == "NHWC"
    tail = ", seed=None, training=True)"
    assert repr(layer) == (
        "SpatialDropout1D(init_p=0.5, data_format='NHWC', scale=False, inplace=False" + tail)
    assert (repr(dropkit.SpatialDropout1D(0.25, "channels_first", scale=True))
            == "SpatialDropout1D(init_p=0.25, data_format='NCHW', scale=True, inplace=False"
            + tail)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("shape", [(4, 6, 9), (70, 3), (2, 65, 5)])
def test_channels_first_1d_is_2d_nchw_of_width_one(dtype, scale, shape):
    x = np.random.RandomState(3).standard_normal(shape).astype(dtype)
    g = np.random.RandomState(4).standard_normal(shape).astype(dtype)
    one = dropkit.SpatialDropout1D(0.4, "NCHW", scale=scale, seed=17)
    two = dropkit.SpatialDropout2D(0.4, "NCHW", scale=scale, seed=17)
    y1, y2 = one.forward(x), two.forward(x[..., None])
    assert y1.shape == shape
    assert np.array_equal(_bits(y1), _bits(y2[..., 0]))
    g1, g2 = one.backward(x, g), two.backward(x[..., None], g[..., None])
    assert np.array_equal(_bits(g1), _bits(g2[..., 0]))
    # One draw per (n, c): whole rows of length L are kept or dropped.
    rows = (y1 == 0).reshape(-1, shape[-1])
    assert np.all(rows.all(axis=1) | ~rows.any(axis=1))


def test_channels_last_1d_is_unchanged():
    x = np.random.RandomState(5).standard_normal((3, 8, 5)) + 10
    a = dropkit.SpatialDropout1D(0.5, seed=2).forward(x)
    b = dropkit.SpatialDropout1D(0.5, "channels_last", seed=2).forward(x)
    assert np.array_equal(a, b)
    kept = a[:, :1, :] != 0
    assert np.array_equal(np.broadcast_to(kept, a.shape), a != 0)


def test_spatial_1d_rank_errors_name_the_format():
    with pytest.raises(ValueError) as err:
        dropkit.SpatialDropout1D(0.5, "NCHW").forward(np.ones(4))
    assert str(err.value) == ("SpatialDropout1D takes input of rank 3 (N, C, L) or 2 (C, L) "
                              "with format NCHW, got shape (4) (rank 1)")


LAYERS = [
    ("Dropout", lambda **kw: dropkit.Dropout(0.4, **kw), (6, 70)),
    ("GaussianDropout", lambda **kw: dropkit.GaussianDropout(0.3, **kw), (6, 70)),
    ("GaussianDropout stored", lambda **kw: dropkit.GaussianDropout(0.3, store_noise=True, **kw),
     (6, 70)),
    ("GaussianNoise", lambda **kw: dropkit.GaussianNoise(0.5, **kw), (6, 70)),
    ("SpatialDropout1D", lambda **kw: dropkit.SpatialDropout1D(0.4, **kw), (3, 9, 7)),
    ("SpatialDropout1D NCHW", lambda **kw: dropkit.SpatialDropout1D(0.4, "NCHW", **kw),
     (3, 7, 9)),
    ("SpatialDropout2D", lambda **kw: dropkit.SpatialDropout2D(0.4, scale=True, **kw),
     (2, 5, 3, 4)),
    ("SpatialDropout2D NHWC", lambda **kw: dropkit.SpatialDropout2D(0.4, "NHWC", **kw),
     (2, 3, 4, 5)),
    ("SpatialDropout3D", lambda **kw: dropkit.SpatialDropout3D(0.4, **kw), (2, 3, 2, 3, 4)),
]
IDS = [name for name, _, _ in LAYERS]


@pytest.mark.parametrize("name, make, shape", LAYERS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
def test_inplace_gives_the_bits_of_out_of_place(name, make, shape, dtype, training):
    ref, layer = make(seed=31), make(seed=31, inplace=True)
    assert layer.inplace and not ref.inplace
    if not training:
        ref.evaluate()
        layer.evaluate()
    x = np.random.RandomState(1).standard_normal(shape).astype(dtype)
    g = np.random.RandomState(2).standard_normal(shape).astype(dtype)
    want_y, want_g = ref.forward(x), ref.backward(x, g)
    xi, gi = x.copy(), g.copy()
    assert layer.forward(xi) is xi
    assert np.array_equal(_bits(xi), _bits(want_y))
    assert layer.backward(x, gi) is gi
    assert np.array_equal(_bits(gi), _bits(want_g))
    # A strided (non-contiguous) array is written in place too.
    xs = np.asfortranarray(x)
    layer = make(seed=31, inplace=True)
    if not training:
        layer.evaluate()
    assert layer.forward(xs) is xs
    assert np.array_equal(xs, want_y)


@pytest.mark.parametrize("name, make, shape", LAYERS, ids=IDS)
def test_inplace_refuses_read_only_and_overlapping_arrays(name, make, shape):
    layer = make(seed=3, inplace=True)
    x = np.arange(1, np.prod(shape) + 1, dtype=np.float32).reshape(shape)
    frozen = x.copy()
    frozen.setflags(write=False)
    state = layer.generator_state
    with pytest.raises(ValueError) as err:
        layer.forward(frozen)
    assert str(err.value) == READ_ONLY_MESSAGE.format("input")
    overlapping = np.lib.stride_tricks.as_strided(x, shape=shape, strides=(0,) * len(shape))
    before = overlapping.copy()
    with pytest.raises(ValueError) as err:
        layer.forward(overlapping)
    assert "input has elements that share memory" in str(err.value)
    assert np.array_equal(overlapping, before)
    assert layer.generator_state == state  # no draw was taken
    layer.forward(x.copy())
    with pytest.raises(ValueError) as err:
        layer.backward(x, frozen)
    assert str(err.value) == READ_ONLY_MESSAGE.format("grad_output")
    with pytest.raises(ValueError) as err:
        layer.backward(x, overlapping)
    assert "grad_output has elements that share memory" in str(err.value)
    # The same messages as Dropout's.
    with pytest.raises(ValueError) as dropout_err:
        dropkit.Dropout(0.5, inplace=True, seed=3).forward(overlapping)
    with pytest.raises(ValueError) as err:
        make(seed=3, inplace=True).forward(overlapping)
    assert str(err.value) == str(dropout_err.value)


def test_inplace_is_keyword_only_where_pytorch_has_it_so():
    with pytest.raises(TypeError):
        dropkit.GaussianNoise(0.5, None, "philox", True)
    assert dropkit.GaussianNoise(0.5, inplace=True).inplace
    assert dropkit.SpatialDropout3D(inplace=True).inplace
    assert not dropkit.GaussianDropout(0.1).inplace


def _nhwc_viewed_as_nchw(shape_nchw, dtype, seed):
    n, c, h, w = shape_nchw
    x_nhwc = np.random.RandomState(seed).standard_normal((n, h, w, c)).astype(dtype)
    return np.ascontiguousarray(x_nhwc).transpose(0, 3, 1, 2)


ORDERED = [
    ("SpatialDropout2D", lambda: dropkit.SpatialDropout2D(0.5, seed=4)),
    ("SpatialDropout2D NHWC", lambda: dropkit.SpatialDropout2D(0.5, "NHWC", seed=4)),
    ("Dropout", lambda: dropkit.Dropout(0.5, seed=4)),
    ("GaussianDropout", lambda: dropkit.GaussianDropout(0.5, seed=4)),
    ("GaussianNoise", lambda: dropkit.GaussianNoise(0.5, seed=4)),
]


@pytest.mark.parametrize("name, make", ORDERED, ids=[n for n, _ in ORDERED])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("order", ["nhwc-as-nchw", "fortran"])
def test_outputs_keep_the_inputs_memory_order(name, make, dtype, training, order):
    if order == "fortran":
        x = np.asfortranarray(np.random.RandomState(1).standard_normal((2, 3, 4, 5)).astype(dtype))
        g = np.asfortranarray(np.random.RandomState(2).standard_normal((2, 3, 4, 5)).astype(dtype))
    else:
        x = _nhwc_viewed_as_nchw((2, 3, 4, 5), dtype, 1)
        g = _nhwc_viewed_as_nchw((2, 3, 4, 5), dtype, 2)
    assert not x.flags.c_contiguous
    layer, ref = make(), make()
    if not training:
        layer.evaluate()
        ref.evaluate()
    y = layer.forward(x)
    assert y.strides == x.strides
    assert np.array_equal(_bits(y), _bits(ref.forward(np.ascontiguousarray(x))))
    gi = layer.backward(x, g)
    assert gi.strides == g.strides
    assert np.array_equal(_bits(gi), _bits(ref.backward(x, np.ascontiguousarray(g))))
