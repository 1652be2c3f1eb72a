"""The GPU path's DLPack reading, without a GPU: capsules made here with ctypes (a
DLManagedTensor whose deleter counts its calls, in a capsule named "dltensor" whose destructor
calls the deleter when the capsule was not consumed, as producers do), and stand-in objects
with ``__dlpack__`` / ``__dlpack_device__``. test_device_gpu.py runs the path on a GPU.
"""

import ctypes

import pytest

import dropkit
import dropkit.functional as dropkit_functional
from dropkit import _dropkit

KDL_CPU, KDL_CUDA, KDL_ROCM = 1, 2, 10
FLOAT, BFLOAT = 2, 4


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class DLManagedTensor(ctypes.Structure):
    pass


DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [
    ("dl_tensor", DLTensor),
    ("manager_ctx", ctypes.c_void_p),
    ("deleter", DELETER),
]

NAME = b"dltensor"
# The destructor gets the capsule being deallocated as a raw pointer (a py_object would
# take a reference to an object whose count is already 0), and may run while an exception
# is pending: it calls the capsule functions without ctypes' error check (CDLL), which they
# do not need (they only read the capsule; GetPointer is called on a valid one).
CAPSULE_DESTRUCTOR = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_api = ctypes.CDLL(None)
PyCapsule_New = ctypes.pythonapi.PyCapsule_New
PyCapsule_New.restype = ctypes.py_object
PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, CAPSULE_DESTRUCTOR]
PyCapsule_IsValid = _api.PyCapsule_IsValid
PyCapsule_IsValid.restype = ctypes.c_int
PyCapsule_IsValid.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
PyCapsule_GetPointer = _api.PyCapsule_GetPointer
PyCapsule_GetPointer.restype = ctypes.c_void_p
PyCapsule_GetPointer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]


class Producer:
    """Makes DLPack capsules and counts the deleter calls of each tensor it made."""

    def __init__(self):
        self.deleted = []
        self._keep = []
        self._deleter = DELETER(lambda p: self.deleted.append(ctypes.addressof(p.contents)))
        self._destructor = CAPSULE_DESTRUCTOR(self._destroy)

    def _destroy(self, capsule):
        # A producer's capsule destructor: the deleter runs here only if nobody consumed it.
        if PyCapsule_IsValid(capsule, NAME):
            p = PyCapsule_GetPointer(capsule, NAME)
            m = ctypes.cast(p, ctypes.POINTER(DLManagedTensor))
            m.contents.deleter(m)

    def capsule(self, shape=(4, 8), strides=None, dtype=(FLOAT, 32, 1), device=(KDL_CUDA, 0),
                data=0x7F00_0000_0000, byte_offset=0):
        shape_arr = (ctypes.c_int64 * max(len(shape), 1))(*shape)
        strides_arr = None
        if strides is not None:
            strides_arr = (ctypes.c_int64 * max(len(strides), 1))(*strides)
        m = DLManagedTensor()
        m.dl_tensor.data = data
        m.dl_tensor.device = DLDevice(*device)
        m.dl_tensor.ndim = len(shape)
        m.dl_tensor.dtype = DLDataType(*dtype)
        m.dl_tensor.shape = ctypes.cast(shape_arr, ctypes.POINTER(ctypes.c_int64))
        if strides_arr is not None:
            m.dl_tensor.strides = ctypes.cast(strides_arr, ctypes.POINTER(ctypes.c_int64))
        m.dl_tensor.byte_offset = byte_offset
        m.deleter = self._deleter
        self._keep += [m, shape_arr, strides_arr]
        self.address = ctypes.addressof(m)
        return PyCapsule_New(ctypes.addressof(m), NAME, self._destructor)


def test_a_capsule_is_read_with_its_strides_and_byte_offset_and_deleted_once():
    prod = Producer()
    cap = prod.capsule(shape=(3, 5), strides=(1, 3), dtype=(BFLOAT, 16, 1), byte_offset=64)
    info = _dropkit._dlpack_info(cap)
    assert info == {
        "ptr": 0x7F00_0000_0000 + 64,
        "device": (KDL_CUDA, 0),
        "shape": [3, 5],
        "strides": [2, 6],  # bytes: DLPack gives elements
        "dtype": "bfloat16",
    }
    assert prod.deleted == [prod.address]
    del cap  # consumed: the producer's destructor does not delete again
    assert prod.deleted == [prod.address]


@pytest.mark.parametrize("dtype, name", [
    ((FLOAT, 16, 1), "float16"),
    ((BFLOAT, 16, 1), "bfloat16"),
    ((FLOAT, 32, 1), "float32"),
    ((FLOAT, 64, 1), "float64"),
])
def test_the_float_dtypes_are_read(dtype, name):
    prod = Producer()
    info = _dropkit._dlpack_info(prod.capsule(dtype=dtype, shape=(), strides=None))
    assert info["dtype"] == name and info["shape"] == [] and info["strides"] is None
    assert len(prod.deleted) == 1


@pytest.mark.parametrize("dtype", [(0, 32, 1), (1, 8, 1), (FLOAT, 32, 4), (FLOAT, 8, 1),
                                   (BFLOAT, 32, 1), (5, 64, 1)])
def test_other_dtypes_are_type_errors_and_the_tensor_is_still_deleted_once(dtype):
    prod = Producer()
    cap = prod.capsule(dtype=dtype)
    with pytest.raises(TypeError, match="accepted are float16, bfloat16, float32 and float64"):
        _dropkit._dlpack_info(cap)
    del cap
    assert len(prod.deleted) == 1


def test_negative_sizes_are_value_errors_and_the_tensor_is_deleted_once():
    prod = Producer()
    # Capsules are kept in a variable in these tests: the ctypes destructor above cannot run
    # while the call's exception is pending.
    cap = prod.capsule(shape=(4, -1))
    with pytest.raises(ValueError, match="sizes must be >= 0"):
        _dropkit._dlpack_info(cap)
    del cap
    assert len(prod.deleted) == 1


def test_a_consumed_capsule_or_another_object_is_refused_without_deleting():
    prod = Producer()
    cap = prod.capsule()
    _dropkit._dlpack_info(cap)
    with pytest.raises(TypeError, match="not an unconsumed DLPack capsule"):
        _dropkit._dlpack_info(cap)
    with pytest.raises(TypeError, match="not an unconsumed DLPack capsule"):
        _dropkit._dlpack_info(object())
    assert len(prod.deleted) == 1


def test_an_unconsumed_capsule_is_deleted_by_its_producer():
    # The check the tests above rely on: the destructor deletes a capsule nobody consumed.
    prod = Producer()
    cap = prod.capsule()
    del cap
    assert len(prod.deleted) == 1


class FakeDlpackArray:
    """A stand-in for a framework's array that offers DLPack only (no
    ``__cuda_array_interface__``), with the capsules of ``producer``."""

    def __init__(self, producer, device=(KDL_CUDA, 0), cai_error=None, **capsule):
        self.shape = capsule.get("shape", (4, 8))
        self.producer = producer
        self.device = device
        self.cai_error = cai_error
        self.capsule_fields = capsule
        self.streams = []

    @property
    def __cuda_array_interface__(self):
        raise (self.cai_error or AttributeError("no __cuda_array_interface__"))

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, stream=None):
        self.streams.append(stream)
        fields = dict(self.capsule_fields)
        fields.setdefault("device", self.device)
        return self.producer.capsule(**fields)


@pytest.mark.parametrize("cai_error", [
    AttributeError("no interface"),
    KeyError("torch.bfloat16"),  # PyTorch's: its dtype-to-typestr table has no bfloat16
    TypeError("dtype bfloat16 is not supported"),
])
def test_a_cuda_dlpack_array_reaches_the_device_check_with_the_legacy_stream(cai_error):
    prod = Producer()
    x = FakeDlpackArray(prod, cai_error=cai_error, dtype=(BFLOAT, 16, 1))
    layer = dropkit.Dropout(0.5, inplace=True, seed=1)
    before = layer.generator_state
    with pytest.raises(RuntimeError, match="libcuda|not CUDA device memory"):
        layer.forward(x)
    assert x.streams == [1]  # the consumer's stream: CUDA's legacy default stream
    assert len(prod.deleted) == 1
    assert layer.generator_state == before


def test_dlpack_arrays_of_other_dtypes_are_type_errors_on_the_device_path():
    prod = Producer()
    x = FakeDlpackArray(prod, dtype=(0, 32, 1))
    with pytest.raises(TypeError, match="input is a DLPack tensor of dtype code 0"):
        dropkit.Dropout(0.5, seed=1).forward(x)
    assert len(prod.deleted) == 1


def test_dlpack_devices_other_than_cuda_and_the_cpu_are_refused_before_export():
    prod = Producer()
    x = FakeDlpackArray(prod, device=(KDL_ROCM, 1))
    with pytest.raises(TypeError, match=r"DLPack device \(10, 1\), kDLROCM: dropkit takes CUDA"):
        dropkit.Dropout(0.5, seed=1).forward(x)
    assert x.streams == [] and prod.deleted == []


def test_a_cpu_dlpack_array_takes_the_host_path():
    prod = Producer()
    x = FakeDlpackArray(prod, device=(KDL_CPU, 0))
    # The host path converts with numpy, which this stand-in does not support.
    with pytest.raises(TypeError, match="numpy"):
        dropkit.Dropout(0.5, seed=1).forward(x)
    assert x.streams == []


def test_a_capsule_on_another_device_than_announced_is_refused_and_deleted():
    prod = Producer()
    x = FakeDlpackArray(prod, device=(KDL_CUDA, 0))
    x.capsule_fields["device"] = (KDL_CPU, 0)
    with pytest.raises(ValueError, match="is a CUDA device but its DLPack tensor is on"):
        dropkit.Dropout(0.5, seed=1).forward(x)
    assert len(prod.deleted) == 1


def test_a_type_error_of_the_interface_without_dlpack_is_raised_as_it_is():
    class Bf16Only:
        shape = (4,)

        @property
        def __cuda_array_interface__(self):
            raise TypeError("dtype torch.bfloat16 is not supported by __cuda_array_interface__")

    with pytest.raises(TypeError, match="bfloat16 is not supported"):
        dropkit.Dropout(0.5, seed=1).forward(Bf16Only())


def test_the_functional_api_refuses_dlpack_cuda_arrays_too():
    prod = Producer()
    x = FakeDlpackArray(prod)
    with pytest.raises(TypeError, match="CUDA array"):
        dropkit_functional.dropout(x, 0.5, seed=1, draw=0)
