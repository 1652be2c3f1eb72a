"""CPU tensors that are not numpy arrays, read through DLPack (the host path, src/host.rs):
capsules made with ctypes over memory of the test's own (``_dlpack.py``: any strides, byte
offsets, the read-only flag of DLPack 1.0, bad dtypes, deleters counted), and PyTorch CPU
tensors and JAX CPU arrays (bfloat16 above all, whose dtype numpy lacks) through the layer
classes and the functional API, bit for bit the float32 result rounded once."""

import sys
import types

import numpy as np
import pytest

import dropkit
from dropkit import _dropkit
from dropkit import functional as F
from _cases import CASES
from _dlpack import (
    BFLOAT, BOOL, COMPLEX, FLOAT, INT, KDL_CPU, KDL_CUDA, READ_ONLY, UINT, Producer,
)

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = ml_dtypes.bfloat16

try:
    import torch
except ImportError:  # the capsule tests run without PyTorch
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

DTYPES = {  # numpy dtype -> DLPack (code, bits, lanes)
    np.dtype(np.float16): (FLOAT, 16, 1),
    np.dtype(BF16): (BFLOAT, 16, 1),
    np.dtype(np.float32): (FLOAT, 32, 1),
    np.dtype(np.float64): (FLOAT, 64, 1),
}


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.itemsize])


def _data(shape, dtype=BF16, salt=0):
    """Values of ``dtype`` with the specials (NaN, infinities, signed zeros, a subnormal)."""
    n = int(np.prod(shape))
    x = np.random.default_rng(salt).uniform(-4.0, 4.0, n).astype(np.float32)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-39], np.float32)
    x[1::7] = np.resize(specials, x[1::7].shape)
    return x.reshape(shape).astype(dtype)


def _rounded(single, dtype=BF16):
    with np.errstate(over="ignore"):
        return single.astype(dtype)


class Placed:
    """``values`` written into a byte buffer of the test's own so that element ``idx`` lies
    at ``data + byte_offset + sum(idx * strides) * itemsize`` (strides in elements, any sign;
    elements that share memory must have equal values)."""

    def __init__(self, values, strides, byte_offset=0):
        self.shape, self.strides, self.dtype = values.shape, tuple(strides), values.dtype
        self.item = values.itemsize
        low = sum(s * (n - 1) for n, s in zip(self.shape, strides) if s < 0)
        high = sum(s * (n - 1) for n, s in zip(self.shape, strides) if s > 0)
        self.start = -low * self.item + byte_offset  # the first element, from buf's start
        self.buf = np.zeros((high - low + 1) * self.item + byte_offset + 16, np.uint8)
        self.data = self.buf.ctypes.data
        self.byte_offset = byte_offset + -low * self.item
        raw = np.ascontiguousarray(values).view(np.uint8).reshape(self.shape + (self.item,))
        for idx in np.ndindex(*self.shape):
            pos = self.pos(idx)
            self.buf[pos:pos + self.item] = raw[idx]

    def pos(self, idx):
        return self.start + sum(i * s for i, s in zip(idx, self.strides)) * self.item

    def read(self):
        """The tensor's values as a new array."""
        out = np.empty(self.shape + (self.item,), np.uint8)
        for idx in np.ndindex(*self.shape):
            out[idx] = self.buf[self.pos(idx):self.pos(idx) + self.item]
        return out.view(self.dtype).reshape(self.shape)


class HostTensor:
    """A stand-in for a framework's CPU tensor that offers DLPack only, over ``placed`` (or
    any capsule fields); with ``versioned`` its ``__dlpack__`` takes DLPack 1.0's
    ``max_version`` and gives a versioned capsule with ``flags``."""

    def __init__(self, producer, placed=None, versioned=False, flags=0, **capsule):
        self.producer = producer
        self.versioned = versioned
        self.flags = flags
        fields = {"device": (KDL_CPU, 0)}
        if placed is not None:
            fields.update(shape=placed.shape, strides=placed.strides, data=placed.data,
                          byte_offset=placed.byte_offset, dtype=DTYPES[placed.dtype])
        fields.update(capsule)
        self.fields = fields
        self.shape = fields["shape"]
        self.calls = []

    def __dlpack_device__(self):
        return (KDL_CPU, 0)

    def __dlpack__(self, stream=None, **kwargs):
        if kwargs and not self.versioned:
            raise TypeError(f"__dlpack__() got unexpected keyword arguments {sorted(kwargs)}")
        self.calls.append((stream, kwargs.get("max_version")))
        if self.versioned and kwargs.get("max_version"):
            return self.producer.capsule(versioned=True, flags=self.flags, **self.fields)
        return self.producer.capsule(**self.fields)


LAYOUTS = {  # name -> (shape, strides in elements, byte_offset)
    "row-major, no strides": ((4, 6), None, 0),
    "transposed": ((6, 4), (1, 6), 0),
    "every other column, offset": ((4, 3), (6, 2), 8),
    "negative steps": ((4, 6), (-6, -1), 0),
    "negative and positive": ((3, 2, 5), (10, -5, 1), 2),
    "one axis of length 1 with a wild stride": ((1, 5), (-999, 1), 0),
    "misaligned (odd byte_offset)": ((4, 6), None, 1),
    "misaligned and transposed": ((6, 4), (1, 6), 3),
}


def _placed(name, dtype=BF16, salt=0):
    shape, strides, byte_offset = LAYOUTS[name]
    values = _data(shape, dtype, salt)
    if strides is None:
        placed = Placed(values, tuple(s // values.itemsize for s in values.strides),
                        byte_offset)
        placed.strides_given = None
    else:
        placed = Placed(values, strides, byte_offset)
        placed.strides_given = strides
    return values, placed


def _tensor(prod, placed, **kw):
    t = HostTensor(prod, placed, **kw)
    t.fields["strides"] = placed.strides_given
    return t


@pytest.mark.parametrize("versioned", [False, True])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_bfloat16_capsule_is_read_with_its_layout_and_deleted_once(layout, versioned):
    values, placed = _placed(layout)
    prod = Producer()
    x = _tensor(prod, placed, versioned=versioned)
    y = dropkit.Dropout(0.4, seed=3).forward(x)
    assert isinstance(y, np.ndarray) and y.dtype == BF16  # the stand-in has no from_dlpack
    want = _rounded(dropkit.Dropout(0.4, seed=3).forward(values.astype(np.float32)))
    np.testing.assert_array_equal(_bits(y), _bits(want))
    assert len(prod.deleted) == 1
    assert x.calls == ([(None, (1, 0))] if versioned else [(None, None)])
    np.testing.assert_array_equal(_bits(placed.read()), _bits(values))  # not written


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_in_place_writes_the_tensor_memory_in_its_layout(layout):
    values, placed = _placed(layout, salt=1)
    prod = Producer()
    x = _tensor(prod, placed, versioned=True)
    layer = dropkit.GaussianNoise(0.5, inplace=True, seed=4)
    assert layer.forward(x) is x
    want = _rounded(dropkit.GaussianNoise(0.5, seed=4).forward(values.astype(np.float32)))
    np.testing.assert_array_equal(_bits(placed.read()), _bits(want))
    # backward in place: grad_output's memory, its input a numpy array
    g_values, g_placed = _placed(layout, salt=2)
    g = _tensor(prod, g_placed, versioned=True)
    assert layer.backward(values, g) is g
    np.testing.assert_array_equal(_bits(g_placed.read()), _bits(g_values))  # GaussianNoise
    assert len(prod.deleted) == 2


def test_zero_strides_are_read_and_refused_in_place():
    row = _data((5,), salt=3)
    values = np.broadcast_to(row, (4, 5))
    placed = Placed(values, (0, 1))
    prod = Producer()
    y = dropkit.Dropout(0.5, seed=1).forward(HostTensor(prod, placed))
    want = _rounded(dropkit.Dropout(0.5, seed=1).forward(values.astype(np.float32)))
    np.testing.assert_array_equal(_bits(y), _bits(want))
    layer = dropkit.Dropout(0.5, inplace=True, seed=1)
    before = layer.generator_state
    with pytest.raises(ValueError, match=r"input has elements that share memory \(shape "
                                         r"\(4, 5\), strides \(0, 2\) bytes\)"):
        layer.forward(HostTensor(prod, placed, versioned=True))
    assert layer.generator_state == before
    np.testing.assert_array_equal(_bits(placed.read()), _bits(values))
    assert len(prod.deleted) == 2


def test_an_unversioned_tensor_is_read_but_refused_in_place_and_deleted_once():
    """A capsule without DLPack 1.0's read-only flag does not say whether its memory may be
    written (JAX's immutable arrays come that way): it is read, but not written in place."""
    values, placed = _placed("transposed", salt=6)
    prod = Producer()
    x = _tensor(prod, placed)
    y = dropkit.Dropout(0.5, seed=1).forward(x)
    want = _rounded(dropkit.Dropout(0.5, seed=1).forward(values.astype(np.float32)))
    np.testing.assert_array_equal(_bits(y), _bits(want))
    layer = dropkit.Dropout(0.5, inplace=True, seed=1)
    before = layer.generator_state
    message = (r"input \(a test_host_dlpack.HostTensor\) gave a DLPack capsule without "
               r"DLPack 1.0's read-only flag, .* use inplace=False")
    with pytest.raises(ValueError, match=message):
        layer.forward(x)
    with pytest.raises(ValueError, match=r"grad_output \(a test_host_dlpack.HostTensor\)"):
        layer.backward(values, x)
    assert layer.generator_state == before
    np.testing.assert_array_equal(_bits(placed.read()), _bits(values))
    assert len(prod.deleted) == 3


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_the_other_float_dtypes_keep_their_dtype(dtype):
    values, placed = _placed("negative and positive", dtype, salt=5)
    prod = Producer()
    y = dropkit.AlphaDropout(0.3, seed=2).forward(_tensor(prod, placed))
    want = dropkit.AlphaDropout(0.3, seed=2).forward(values)
    assert y.dtype == dtype
    np.testing.assert_array_equal(_bits(y), _bits(want))
    assert len(prod.deleted) == 1


def test_a_read_only_tensor_is_read_but_refused_in_place_and_deleted_once():
    values, placed = _placed("transposed")
    prod = Producer()
    x = _tensor(prod, placed, versioned=True, flags=READ_ONLY)
    dropkit.Dropout(0.5, seed=1).forward(x)
    layer = dropkit.Dropout(0.5, inplace=True, seed=1)
    before = layer.generator_state
    with pytest.raises(ValueError, match="input is read-only, so it cannot be overwritten"):
        layer.forward(x)
    with pytest.raises(ValueError, match="grad_output is read-only"):
        layer.backward(values, x)
    assert layer.generator_state == before
    np.testing.assert_array_equal(_bits(placed.read()), _bits(values))
    assert len(prod.deleted) == 3


@pytest.mark.parametrize("dtype, name", [
    ((INT, 32, 1), r"int32 \(type code 0, 32 bits\)"),
    ((UINT, 8, 1), r"uint8 \(type code 1, 8 bits\)"),
    ((FLOAT, 32, 4), r"float32 x 4 lanes \(type code 2, 32 bits\)"),
    ((FLOAT, 8, 1), r"float8 \(type code 2, 8 bits\)"),
    ((BFLOAT, 32, 1), r"bfloat32 \(type code 4, 32 bits\)"),
    ((COMPLEX, 64, 1), r"complex64 \(type code 5, 64 bits\)"),
    ((BOOL, 8, 1), r"bool8 \(type code 6, 8 bits\)"),
    ((9, 16, 1), r"unknown type 16 \(type code 9, 16 bits\)"),
])
def test_other_dtypes_are_type_errors_naming_the_argument_and_deleted_once(dtype, name):
    buf = np.zeros(64, np.uint8)
    prod = Producer()
    x = HostTensor(prod, shape=(2, 3), dtype=dtype, data=buf.ctypes.data)
    accepted = ": accepted are float16, bfloat16, float32 and float64 \\(one lane\\)"
    layer = dropkit.Dropout(0.5, seed=1)
    before = layer.generator_state
    with pytest.raises(TypeError, match=f"^input is a DLPack tensor of dtype {name}{accepted}"):
        layer.forward(x)
    with pytest.raises(TypeError, match=f"^grad_output is a DLPack tensor of dtype {name}"):
        layer.backward(np.zeros((2, 3), np.float32), x)
    with pytest.raises(TypeError, match=f"^input is a DLPack tensor of dtype {name}"):
        F.dropout(x, 0.5, seed=1, draw=0)
    assert layer.generator_state == before
    assert len(prod.deleted) == 3


def test_bad_layouts_are_value_errors_and_deleted_once():
    buf = np.zeros(64, np.uint8)
    prod = Producer()
    cases = [
        (dict(shape=(2, 3), data=0), "whose data pointer is NULL"),
        (dict(shape=(2, 3), strides=(1 << 62, 1), data=buf.ctypes.data), "whose bytes overflow"),
        (dict(shape=(2, 3), strides=(-(1 << 62), 1), data=buf.ctypes.data),
         "addresses overflow"),
        (dict(shape=(3, -1), data=buf.ctypes.data), "sizes must be >= 0"),
        (dict(shape=(1 << 40, 1 << 40), data=buf.ctypes.data), "whose bytes overflow"),
        (dict(shape=(2, 3), data=buf.ctypes.data, device=(KDL_CUDA, 0)),
         r"__dlpack_device__\(\) is the CPU but its DLPack tensor is on device type 2"),
    ]
    for fields, message in cases:
        x = HostTensor(prod, dtype=(BFLOAT, 16, 1), **fields)
        with pytest.raises(ValueError, match=message):
            dropkit.Dropout(0.5, seed=1).forward(x)
    assert len(prod.deleted) == len(cases)


def test_a_versioned_tensor_of_another_major_version_is_refused_and_deleted_once():
    buf = np.zeros(64, np.uint8)
    prod = Producer()
    x = HostTensor(prod, shape=(2, 3), dtype=(BFLOAT, 16, 1), data=buf.ctypes.data,
                   versioned=True)
    x.fields["version"] = (2, 1)
    with pytest.raises(BufferError, match=r"input is a DLPack 2.1 tensor"):
        dropkit.Dropout(0.5, seed=1).forward(x)
    assert len(prod.deleted) == 1


def test_empty_tensors_need_no_memory():
    prod = Producer()
    x = HostTensor(prod, shape=(0, 3), dtype=(BFLOAT, 16, 1), data=0, versioned=True)
    y = dropkit.Dropout(0.5, seed=1).forward(x)
    assert y.shape == (0, 3) and y.dtype == BF16
    assert dropkit.Dropout(0.5, True, seed=1).forward(x) is x
    assert len(prod.deleted) == 2


def test_a_core_error_still_deletes_once():
    values, placed = _placed("transposed")
    prod = Producer()
    with pytest.raises(ValueError, match="SpatialDropout3D"):
        dropkit.SpatialDropout3D(0.5, seed=1).forward(_tensor(prod, placed))
    assert len(prod.deleted) == 1


def test_backward_reads_the_shape_of_any_input_and_keeps_the_draw():
    values, placed = _placed("every other column, offset")
    g_values, g_placed = _placed("every other column, offset", salt=9)
    prod = Producer()
    layer, single = dropkit.Dropout(0.3, seed=6), dropkit.Dropout(0.3, seed=6)
    layer.forward(_tensor(prod, placed))
    single.forward(values.astype(np.float32))
    want = _rounded(single.backward(values, g_values.astype(np.float32)))
    for input_ in (values, _tensor(prod, placed), types.SimpleNamespace(shape=values.shape)):
        got = layer.backward(input_, _tensor(prod, g_placed))
        np.testing.assert_array_equal(_bits(got), _bits(want))
    with pytest.raises(TypeError, match="input has no shape"):
        layer.backward(object(), _tensor(prod, g_placed))
    with pytest.raises(ValueError, match=r"input has shape \[1099511627776, 1099511627776\], "
                                         "whose element count overflows"):
        layer.backward(types.SimpleNamespace(shape=(1 << 40, 1 << 40)), _tensor(prod, g_placed))
    assert len(prod.deleted) == 4  # the input's capsule is never asked for


def test_the_functional_api_takes_cpu_dlpack_tensors():
    values, placed = _placed("negative steps")
    g_values, g_placed = _placed("negative steps", salt=4)
    prod = Producer()
    key = {"seed": 8, "draw": 5}
    y = F.alpha_dropout(_tensor(prod, placed), 0.2, **key)
    want = _rounded(F.alpha_dropout(values.astype(np.float32), 0.2, **key))
    np.testing.assert_array_equal(_bits(y), _bits(want))
    gx = F.alpha_dropout_backward(_tensor(prod, placed), _tensor(prod, g_placed), 0.2, **key)
    want = _rounded(F.alpha_dropout_backward(values, g_values.astype(np.float32), 0.2, **key))
    np.testing.assert_array_equal(_bits(gx), _bits(want))
    assert len(prod.deleted) == 2


def test_without_ml_dtypes_a_bfloat16_result_is_a_type_error_before_any_draw(monkeypatch):
    values, placed = _placed("transposed")
    prod = Producer()
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # import ml_dtypes: ImportError
    layer = dropkit.Dropout(0.5, seed=1)
    before = layer.generator_state
    with pytest.raises(TypeError, match="needs the ml_dtypes package"):
        layer.forward(_tensor(prod, placed))
    assert layer.generator_state == before
    assert len(prod.deleted) == 1
    # in place needs no result: it works
    x = _tensor(prod, placed, versioned=True)
    assert dropkit.Dropout(0.5, True, seed=1).forward(x) is not None


def _framework(monkeypatch):
    """A stand-in framework module whose ``from_dlpack`` returns what it was given."""
    module = types.ModuleType("fakeframework")
    module.from_dlpack = lambda obj: ("from_dlpack", obj)
    monkeypatch.setitem(sys.modules, "fakeframework", module)
    return type("FrameworkTensor", (HostTensor,), {"__module__": "fakeframework.core"})


def test_the_result_goes_to_the_framework_from_dlpack_once(monkeypatch):
    cls = _framework(monkeypatch)
    values, placed = _placed("transposed", np.float32)
    prod = Producer()
    tag, exported = dropkit.Dropout(0.5, seed=2).forward(cls(prod, placed))
    assert tag == "from_dlpack"
    assert exported.__dlpack_device__() == (KDL_CPU, 0)
    assert exported.shape == [6, 4] and exported.dtype == "float32"
    with pytest.raises(BufferError, match=r"dl_device = \(2, 0\)"):
        exported.__dlpack__(dl_device=(KDL_CUDA, 0))
    y = np.from_dlpack(exported)  # the array without a copy: numpy reads the capsule
    np.testing.assert_array_equal(y, dropkit.Dropout(0.5, seed=2).forward(values))
    with pytest.raises(BufferError, match="already exported"):
        exported.__dlpack__()
    # A capsule nobody consumes frees its array when it goes.
    _, other = dropkit.Dropout(0.5, seed=2).forward(cls(prod, placed))
    capsule = other.__dlpack__(stream=None, max_version=(1, 0), copy=False)
    info = _dropkit._dlpack_info(capsule)
    assert info["dtype"] == "float32" and info["shape"] == [6, 4]
    assert info["device"] == (KDL_CPU, 0) and not info["versioned"]
    _, third = dropkit.Dropout(0.5, seed=2).forward(cls(prod, placed))
    capsule = third.__dlpack__()
    del capsule  # nobody consumed it: its destructor deletes the tensor
    assert len(prod.deleted) == 3


# PyTorch CPU tensors.


def _t(a):
    """A numpy array (bfloat16 from ml_dtypes) as a torch tensor of the same bits."""
    if a.dtype == BF16:
        return torch.from_numpy(np.ascontiguousarray(a).view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(a))


def _np(t):
    """A CPU tensor's values as numpy (bfloat16 through ml_dtypes)."""
    if t.dtype == torch.bfloat16:
        return t.contiguous().view(torch.int16).numpy().view(BF16)
    return t.contiguous().numpy()


@needs_torch
@pytest.mark.parametrize("case", list(CASES))
def test_torch_bfloat16_through_every_layer_is_float32_rounded(case):
    make, shape = CASES[case]
    x, g = _data(shape, salt=11), _data(shape, salt=12)
    xt, gt = _t(x), _t(g)
    bf, single, inplace = make(seed=5), make(seed=5), make(seed=5, inplace=True)
    for training in (True, False):
        for layer in (bf, single, inplace):
            layer.training() if training else layer.evaluate()
        y = bf.forward(xt)
        assert isinstance(y, torch.Tensor) and y.dtype == torch.bfloat16
        assert y.shape == xt.shape
        want = _rounded(single.forward(x.astype(np.float32)))
        np.testing.assert_array_equal(_bits(_np(y)), _bits(want))
        x2 = xt.clone()
        assert inplace.forward(x2) is x2
        np.testing.assert_array_equal(_bits(_np(x2)), _bits(want))
        gx = bf.backward(xt, gt)
        want = _rounded(single.backward(x, g.astype(np.float32)))
        np.testing.assert_array_equal(_bits(_np(gx)), _bits(want))
        g2 = gt.clone()
        assert inplace.backward(xt, g2) is g2
        np.testing.assert_array_equal(_bits(_np(g2)), _bits(want))
    np.testing.assert_array_equal(_bits(_np(xt)), _bits(x))  # inputs untouched


@needs_torch
def test_torch_views_keep_their_layout():
    base = _t(_data((6, 8, 4), salt=13))
    views = {
        "permuted": base.permute(2, 0, 1),
        "sliced": base[1:5, ::3, 1:],
        "expanded": base[:1].expand(3, 8, 4),
    }
    for name, v in views.items():
        y = dropkit.Dropout(0.5, seed=3).forward(v)
        want = _rounded(dropkit.Dropout(0.5, seed=3).forward(_np(v).astype(np.float32)))
        np.testing.assert_array_equal(_bits(_np(y)), _bits(want), err_msg=name)
    # A permuted contiguous tensor's result keeps its memory order (as numpy's does).
    assert dropkit.Dropout(0.5, seed=3).forward(views["permuted"]).stride() == (1, 32, 4)
    # In place on a view writes through to its base.
    v, before = base[1:5, ::3, 1:], _np(base[1:5, ::3, 1:])
    dropkit.Dropout(0.5, True, seed=3).forward(v)
    want = _rounded(dropkit.Dropout(0.5, seed=3).forward(before.astype(np.float32)))
    np.testing.assert_array_equal(_bits(_np(base[1:5, ::3, 1:])), _bits(want))
    with pytest.raises(ValueError, match="share memory"):
        dropkit.Dropout(0.5, True, seed=3).forward(views["expanded"])


@needs_torch
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_torch_other_float_dtypes(dtype):
    x = _data((5, 7), np.dtype(dtype), salt=14)
    y = dropkit.GaussianDropout(0.3, seed=9).forward(_t(x))
    assert isinstance(y, torch.Tensor) and y.dtype == getattr(torch, dtype)
    np.testing.assert_array_equal(_bits(_np(y)),
                                  _bits(dropkit.GaussianDropout(0.3, seed=9).forward(x)))


@needs_torch
def test_torch_functional_api():
    x, g = _data((3, 4, 5, 6), salt=15), _data((3, 4, 5, 6), salt=16)
    key = {"seed": 21, "draw": 2}
    y = F.spatial_dropout2d(_t(x), 0.5, **key)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.bfloat16
    want = _rounded(F.spatial_dropout2d(x.astype(np.float32), 0.5, **key))
    np.testing.assert_array_equal(_bits(_np(y)), _bits(want))
    gx = F.spatial_dropout2d_backward(_t(x), _t(g), 0.5, **key)
    want = _rounded(F.spatial_dropout2d_backward(x, g.astype(np.float32), 0.5, **key))
    np.testing.assert_array_equal(_bits(_np(gx)), _bits(want))


@needs_torch
def test_torch_errors_name_the_argument():
    layer = dropkit.Dropout(0.5, seed=1)
    before = layer.generator_state
    with pytest.raises((RuntimeError, BufferError), match="require"):  # PyTorch's: .detach()
        layer.forward(torch.ones(3, dtype=torch.bfloat16, requires_grad=True))
    with pytest.raises(TypeError, match=r"^input is a DLPack tensor of dtype int64 .*accepted"):
        layer.forward(torch.ones(3, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"^grad_output is a DLPack tensor of dtype complex64"):
        layer.backward(torch.ones(3), torch.ones(3, dtype=torch.complex64))
    assert layer.generator_state == before


@needs_torch
def test_torch_results_own_their_memory():
    y = dropkit.Dropout(0.5, seed=1).forward(_t(_data((64, 64), salt=17)))
    z = y.clone()
    import gc

    gc.collect()
    assert torch.equal(y.view(torch.int16), z.view(torch.int16))
    del y  # frees the core's array through the DLPack deleter
    gc.collect()


class _Wrapped:
    """A numpy array behind DLPack only: numpy's own producer (DLPack 1.0 from numpy 2.1:
    versioned capsules with the read-only flag)."""

    def __init__(self, a):
        self.a = a
        self.shape = a.shape

    def __dlpack__(self, **kwargs):
        return self.a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


def test_numpy_as_a_dlpack_producer_and_its_read_only_flag():
    a = _data((5, 8), np.float32, salt=18)[:, ::-2]
    want = dropkit.Dropout(0.5, seed=4).forward(a)
    np.testing.assert_array_equal(dropkit.Dropout(0.5, seed=4).forward(_Wrapped(a)), want)
    b = a.copy()
    dropkit.Dropout(0.5, True, seed=4).forward(_Wrapped(b))
    np.testing.assert_array_equal(b, want)
    if tuple(int(v) for v in np.__version__.split(".")[:2]) < (2, 1):
        pytest.skip("numpy < 2.1 gives no versioned capsule")
    info = _dropkit._dlpack_info(a.__dlpack__(max_version=(1, 0)))
    assert info["versioned"] and not info["readonly"]
    a.flags.writeable = False
    with pytest.raises(ValueError, match="input is read-only"):
        dropkit.Dropout(0.5, True, seed=4).forward(_Wrapped(a))


# JAX CPU arrays (immutable: read through DLPack, results handed back as jax arrays, never
# written in place).

try:
    import jax
    import jax.numpy as jnp
except ImportError:  # the capsule and PyTorch tests run without JAX
    jax = None
needs_jax = pytest.mark.skipif(jax is None, reason="JAX is not installed")


@needs_jax
@pytest.mark.parametrize("case", list(CASES))
def test_jax_bfloat16_through_every_layer_is_float32_rounded(case):
    make, shape = CASES[case]
    x, g = _data(shape, salt=21), _data(shape, salt=22)
    xj, gj = jnp.asarray(x), jnp.asarray(g)
    assert xj.dtype == jnp.bfloat16
    bf, single = make(seed=6), make(seed=6)
    for training in (True, False):
        for layer in (bf, single):
            layer.training() if training else layer.evaluate()
        y = bf.forward(xj)
        assert isinstance(y, jax.Array) and y.dtype == jnp.bfloat16 and y.shape == xj.shape
        want = _rounded(single.forward(x.astype(np.float32)))
        np.testing.assert_array_equal(_bits(np.asarray(y)), _bits(want))
        gx = bf.backward(xj, gj)
        assert isinstance(gx, jax.Array) and gx.dtype == jnp.bfloat16
        want = _rounded(single.backward(x, g.astype(np.float32)))
        np.testing.assert_array_equal(_bits(np.asarray(gx)), _bits(want))
    np.testing.assert_array_equal(_bits(np.asarray(xj)), _bits(x))  # inputs untouched


@needs_jax
def test_jax_arrays_are_refused_in_place_untouched_and_work_in_the_functional_api():
    x = _data((5, 7), salt=23)
    xj = jnp.asarray(x)
    layer = dropkit.Dropout(0.5, inplace=True, seed=2)
    before = layer.generator_state
    with pytest.raises(ValueError, match=r"without DLPack 1.0's read-only flag"):
        layer.forward(xj)
    assert layer.generator_state == before
    np.testing.assert_array_equal(_bits(np.asarray(xj)), _bits(x))
    y = F.dropout(xj, 0.5, seed=2, draw=0)
    assert isinstance(y, jax.Array) and y.dtype == jnp.bfloat16
    want = _rounded(dropkit.Dropout(0.5, seed=2).forward(x.astype(np.float32)))
    np.testing.assert_array_equal(_bits(np.asarray(y)), _bits(want))
    # float32 JAX arrays keep their dtype.
    y32 = dropkit.GaussianNoise(0.3, seed=2).forward(jnp.asarray(x.astype(np.float32)))
    assert isinstance(y32, jax.Array) and y32.dtype == jnp.float32
    want = dropkit.GaussianNoise(0.3, seed=2).forward(x.astype(np.float32))
    np.testing.assert_array_equal(_bits(np.asarray(y32)), _bits(want))
