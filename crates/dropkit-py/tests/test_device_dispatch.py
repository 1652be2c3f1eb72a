"""The GPU path's dispatch and its checks, without a GPU: stand-in objects that describe CUDA
memory (``__cuda_array_interface__``) reach the device path, and every error comes before any
memory is touched. test_device_gpu.py runs the path itself on a GPU.
"""

import pytest

import dropkit


class FakeDeviceArray:
    """An object that claims to be a CUDA array at a made-up address."""

    def __init__(self, shape=(4, 8), typestr="<f4", ptr=0x7F00_0000_0000, strides=None):
        self.shape = shape
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": typestr,
            "data": (ptr, False),
            "strides": strides,
            "version": 3,
            "stream": None,
        }


def test_a_device_array_goes_to_the_device_path_and_its_address_is_checked():
    # Without a driver: CUDA is unavailable. With one: the made-up address is not device
    # memory. Either way an error, before anything is read or written.
    layer = dropkit.Dropout(0.5, inplace=True, seed=1)
    with pytest.raises(RuntimeError, match="libcuda|not CUDA device memory"):
        layer.forward(FakeDeviceArray())


def test_device_dtypes_other_than_float32_and_float64_are_type_errors():
    layer = dropkit.Dropout(0.5, inplace=True, seed=1)
    for typestr in ["<i4", "<f2", "|b1"]:
        with pytest.raises(TypeError, match="float32 \\(<f4\\) and float64"):
            layer.forward(FakeDeviceArray(typestr=typestr))


def test_unknown_frameworks_get_a_clear_error_when_an_output_is_needed():
    with pytest.raises(TypeError, match="supports torch.Tensor, cupy.ndarray"):
        dropkit.Dropout(0.5, seed=1).forward(FakeDeviceArray())
    # A strided one needs a copy, which needs its framework too.
    strided = FakeDeviceArray(strides=(4, 16))
    with pytest.raises(TypeError, match="cannot copy"):
        dropkit.Dropout(0.5, inplace=True, seed=1).forward(strided)


def test_the_layer_state_is_untouched_by_a_refused_device_call():
    layer = dropkit.Dropout(0.5, seed=3)
    before = layer.generator_state
    with pytest.raises((TypeError, RuntimeError)):
        layer.forward(FakeDeviceArray())
    assert layer.generator_state == before
