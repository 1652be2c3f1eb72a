"""The GPU path's DLPack reading, without a GPU: capsules made with ctypes (``_dlpack.py``)
and stand-in objects with ``__dlpack__`` / ``__dlpack_device__``. test_device_gpu.py runs the
path on a GPU; test_host_dlpack.py runs CPU tensors.
"""

import pytest

import dropkit
import dropkit.functional as dropkit_functional
from dropkit import _dropkit
from _dlpack import (
    BFLOAT, FLOAT, KDL_CPU, KDL_CUDA, KDL_ROCM, READ_ONLY, FakeDlpackArray, Producer,
)


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
        "readonly": False,
        "versioned": False,
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


@pytest.mark.parametrize("flags", [0, READ_ONLY])
def test_a_versioned_capsule_is_read_with_its_read_only_flag(flags):
    prod = Producer()
    cap = prod.capsule(shape=(2, 3), versioned=True, flags=flags)
    info = _dropkit._dlpack_info(cap)
    assert info["versioned"] and info["readonly"] == bool(flags)
    assert info["shape"] == [2, 3] and info["strides"] is None
    assert prod.deleted == [prod.address]
    del cap
    assert prod.deleted == [prod.address]


def test_a_versioned_capsule_of_another_major_version_is_refused_and_deleted_once():
    prod = Producer()
    cap = prod.capsule(versioned=True, version=(2, 0))
    with pytest.raises(BufferError, match=r"DLPack 2.0 tensor: dropkit reads DLPack 1.x"):
        _dropkit._dlpack_info(cap)
    del cap
    assert len(prod.deleted) == 1


def test_a_producer_with_dlpack_1_gives_a_versioned_tensor_to_the_device_path():
    prod = Producer()
    layer = dropkit.Dropout(0.5, inplace=True, seed=1)
    x = FakeDlpackArray(prod, versioned=True, dtype=(BFLOAT, 16, 1))
    with pytest.raises(RuntimeError, match="libcuda|not CUDA device memory"):
        layer.forward(x)
    assert x.streams == [1] and len(prod.deleted) == 1
    # Read-only: refused in place before the device is asked, and still deleted once.
    x = FakeDlpackArray(prod, versioned=True, flags=READ_ONLY)
    with pytest.raises(ValueError, match="input is read-only"):
        layer.forward(x)
    assert len(prod.deleted) == 2


def test_dlpack_arrays_of_other_dtypes_are_type_errors_on_the_device_path():
    prod = Producer()
    x = FakeDlpackArray(prod, dtype=(0, 32, 1))
    with pytest.raises(TypeError, match=r"input is a DLPack tensor of dtype int32 \(type code 0, 32 bits\): accepted"):
        dropkit.Dropout(0.5, seed=1).forward(x)
    assert len(prod.deleted) == 1


def test_dlpack_devices_other_than_cuda_and_the_cpu_are_refused_before_export():
    prod = Producer()
    x = FakeDlpackArray(prod, device=(KDL_ROCM, 1))
    with pytest.raises(TypeError, match=r"DLPack device \(10, 1\), kDLROCM: dropkit takes CUDA"):
        dropkit.Dropout(0.5, seed=1).forward(x)
    assert x.streams == [] and prod.deleted == []


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
