"""The GPU path's dispatch and its checks, without a GPU: stand-in objects that describe CUDA
memory (``__cuda_array_interface__``) reach the device path, and every error comes before any
memory is touched. test_device_gpu.py runs the path itself on a GPU.
"""

import numpy as np
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


def test_device_dtypes_other_than_the_float_types_are_type_errors():
    layer = dropkit.Dropout(0.5, inplace=True, seed=1)
    for typestr in ["<i4", "<f16", "|b1", "<c8", "<V2"]:
        with pytest.raises(TypeError, match="float16 \\(<f2\\), float32 \\(<f4\\) and float64"):
            layer.forward(FakeDeviceArray(typestr=typestr))


def test_float16_device_arrays_keep_their_dtype_to_the_device_check():
    # float16 is accepted: the call gets past the dtype to the driver's check of the address.
    layer = dropkit.Dropout(0.5, inplace=True, seed=1)
    for typestr in ["<f2", "=f2"]:
        with pytest.raises(RuntimeError, match="libcuda|not CUDA device memory"):
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


class CountingDeviceArray:
    """A stand-in whose ``__cuda_array_interface__`` is a property that counts its reads."""

    def __init__(self, **fields):
        self.shape = fields.get("shape", (4, 8))
        self.reads = 0
        self._interface = {
            "shape": self.shape,
            "typestr": "<f4",
            "data": (0x7F00_0000_0000, False),
            "strides": None,
            "version": 3,
            "stream": None,
            **fields,
        }

    @property
    def __cuda_array_interface__(self):
        self.reads += 1
        return self._interface


def _forward(inplace):
    return lambda a: dropkit.Dropout(0.5, inplace=inplace, seed=1).forward(a)


def _backward(inplace):
    return lambda a: dropkit.Dropout(0.5, inplace=inplace, seed=1).evaluate().backward(a, a)


CALLS = {
    "forward in place": _forward(True),
    "forward": _forward(False),
    "backward in place": _backward(True),
    "backward": _backward(False),
}

# Each fails at a different step: the driver check, the framework helper, the dtype.
ARRAYS = {
    "contiguous": {},
    "strided": {"strides": (4, 16)},
    "broadcast": {"strides": (0, 4)},
    "misaligned": {"data": (0x7F00_0000_0004, False)},
    "float16": {"typestr": "<f2"},
    "int32": {"typestr": "<i4"},
    "malformed": {"shape": "4x8"},
}


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("array", sorted(ARRAYS))
def test_the_interface_is_read_exactly_once_per_call(call, array):
    x = CountingDeviceArray(**ARRAYS[array])
    with pytest.raises((TypeError, ValueError, RuntimeError)):
        CALLS[call](x)
    assert x.reads == 1


@pytest.mark.parametrize("fields, error, message", [
    ({"shape": None}, ValueError, r"\['shape'\] must be a tuple of non-negative ints, not None"),
    ({"shape": "4x8"}, ValueError, r"\['shape'\] must be a tuple of non-negative ints, not '4x8'"),
    ({"shape": (4, -8)}, ValueError, r"\['shape'\] must be .*, not \(4, -8\)"),
    ({"shape": (4, 8.0)}, ValueError, r"\['shape'\]"),
    ({"data": None}, ValueError, r"\['data'\] must be a tuple \(pointer: int >= 0, read_only"),
    ({"data": 0x7F00_0000_0000}, ValueError, r"\['data'\] must be a tuple"),
    ({"data": (-16, False)}, ValueError, r"\['data'\] must be .*, not \(-16, False\)"),
    ({"data": ("0x10", False)}, ValueError, r"\['data'\]"),
    ({"data": (16,)}, ValueError, r"\['data'\]"),
    ({"typestr": 4}, ValueError, r"\['typestr'\] must be a str such as '<f4', not 4"),
    ({"typestr": None}, ValueError, r"\['typestr'\]"),
    ({"typestr": "float32"}, TypeError, r"dtype float32 \(its typestr\)"),
    ({"typestr": ">f4"}, TypeError, r"dtype >f4 \(its typestr\)"),
    ({"strides": (4,)}, ValueError, r"\['strides'\] must be None or a tuple of ints, one per axis"),
    ({"strides": "C"}, ValueError, r"\['strides'\]"),
    ({"stream": "default"}, ValueError, r"\['stream'\] must be None or a stream handle"),
    ({"stream": -1}, ValueError, r"\['stream'\]"),
    ({"mask": object()}, ValueError, "masked device array"),
])
def test_malformed_interfaces_name_the_field(fields, error, message):
    x = CountingDeviceArray(**fields)
    layer = dropkit.Dropout(0.5, inplace=True, seed=1)
    before = layer.generator_state
    with pytest.raises(error, match=message) as info:
        layer.forward(x)
    assert str(info.value).startswith("input")
    assert layer.generator_state == before


@pytest.mark.parametrize("key", ["shape", "typestr", "data"])
def test_missing_keys_are_named(key):
    x = CountingDeviceArray()
    del x._interface[key]
    with pytest.raises(ValueError, match=rf"input.__cuda_array_interface__ has no '{key}'"):
        dropkit.Dropout(0.5, inplace=True, seed=1).forward(x)
    with pytest.raises(ValueError, match=rf"grad_output.__cuda_array_interface__ has no '{key}'"):
        dropkit.Dropout(0.5, seed=1).evaluate().backward(x, x)


def test_an_interface_that_is_not_a_dict_is_a_type_error():
    x = CountingDeviceArray()
    x._interface = [("shape", (4, 8))]
    with pytest.raises(TypeError, match="__cuda_array_interface__ is a list, not a dict"):
        dropkit.Dropout(0.5, seed=1).forward(x)


def test_optional_keys_may_be_absent_or_none():
    # Without strides, mask and stream the interface is complete: the call reaches the driver.
    x = CountingDeviceArray()
    for key in ["strides", "stream", "version"]:
        del x._interface[key]
    with pytest.raises(RuntimeError, match="libcuda|not CUDA device memory"):
        dropkit.Dropout(0.5, inplace=True, seed=1).forward(x)


def test_the_framework_error_of_the_interface_is_raised_as_it_is():
    class RequiresGrad:
        shape = (4,)

        @property
        def __cuda_array_interface__(self):
            raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad")

    with pytest.raises(RuntimeError, match="requires grad"):
        dropkit.Dropout(0.5, seed=1).forward(RequiresGrad())

    class NotOnTheDevice:
        @property
        def __cuda_array_interface__(self):
            raise AttributeError("not a CUDA tensor")

    # An AttributeError means a host object: the numpy path's error.
    with pytest.raises(TypeError, match="numpy"):
        dropkit.Dropout(0.5, seed=1).forward(NotOnTheDevice())


def test_read_only_in_place_is_refused_before_anything_is_made_or_drawn(monkeypatch):
    import dropkit._device

    made = []
    monkeypatch.setattr(dropkit._device, "new_array", lambda *a: made.append(a))
    layer = dropkit.Dropout(0.5, inplace=True, seed=1)
    before = layer.generator_state
    for fields in [{}, {"strides": (4, 16)}]:
        x = CountingDeviceArray(data=(0x7F00_0000_0000, True), **fields)
        with pytest.raises(ValueError, match="input is read-only"):
            layer.forward(x)
        with pytest.raises(ValueError, match="grad_output is read-only"):
            layer.backward(x, x)
    assert made == []
    assert layer.generator_state == before


@pytest.mark.parametrize("shape, strides", [
    ((4, 8), (0, 4)),     # torch's expand, cupy's broadcast_to
    ((4, 8), (4, 4)),     # as_strided with rows overlapping
    ((8,), (2,)),         # items overlapping by half
    ((4, 8), (32, 0)),
    ((2**40, 2**40, 2**40), (4, 8, 16)),  # more elements than a size can count
])
def test_in_place_on_elements_that_share_memory_is_refused_before_anything(
        monkeypatch, shape, strides):
    # As on the numpy path: its contiguous copy, written back, would disagree with the mask.
    import dropkit._device

    made = []
    monkeypatch.setattr(dropkit._device, "new_array", lambda *a: made.append(a))
    layer = dropkit.Dropout(0.5, inplace=True, seed=1)
    before = layer.generator_state
    x = CountingDeviceArray(shape=shape, strides=strides)
    message = (f"has elements that share memory (shape {shape}, strides {strides} bytes), so it "
               "cannot be overwritten in place: pass a copy or use inplace=False")
    with pytest.raises(ValueError) as err:
        layer.forward(x)
    assert str(err.value) == "input " + message
    with pytest.raises(ValueError) as err:
        layer.backward(x, x)
    assert str(err.value) == "grad_output " + message
    assert made == []
    assert layer.generator_state == before
    # Out of place the array is only read: the call goes on (to the framework helper).
    monkeypatch.undo()
    with pytest.raises(TypeError, match="cannot copy"):
        dropkit.Dropout(0.5, seed=1).forward(CountingDeviceArray(shape=shape, strides=strides))


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("strided", [False, True])
def test_the_framework_helper_is_called_once_when_an_array_is_needed(monkeypatch, inplace, strided):
    import dropkit._device

    calls = []
    made = CountingDeviceArray(data=(0x7E00_0000_0000, False))

    def new_array(x, copy):
        calls.append((x, copy))
        return made

    monkeypatch.setattr(dropkit._device, "new_array", new_array)
    x = CountingDeviceArray(strides=(4, 16) if strided else (32, 4))
    layer = dropkit.Dropout(0.5, inplace=inplace, seed=1)
    with pytest.raises(RuntimeError, match="libcuda|not CUDA device memory"):
        layer.forward(x)
    assert (x.reads, made.reads) == ((1, 0) if inplace and not strided else (1, 1))
    assert calls == ([] if inplace and not strided else [(x, strided)])


@pytest.mark.parametrize("fields, message", [
    ({"shape": (8, 4)}, "output must have input's dtype and shape"),
    ({"typestr": "<f8"}, "output must have input's dtype and shape"),
    ({"data": (0x7E00_0000_0004, False)}, "output is not a writeable, C-contiguous, 16-byte"),
    ({"data": (0x7E00_0000_0000, True)}, "output is not a writeable"),
    ({"strides": (4, 16)}, "output is not a writeable, C-contiguous"),
    ({"data": (0x7F00_0000_0040, False)}, "output overlaps input"),
    ({"typestr": "<i8"}, "output is a device array of dtype <i8"),
])
def test_the_array_the_framework_made_is_checked(monkeypatch, fields, message):
    import dropkit._device

    monkeypatch.setattr(dropkit._device, "new_array", lambda x, copy: CountingDeviceArray(**fields))
    layer = dropkit.Dropout(0.5, seed=1)
    before = layer.generator_state
    with pytest.raises((ValueError, TypeError), match=message):
        layer.forward(CountingDeviceArray())
    assert layer.generator_state == before


def test_the_contiguous_copy_is_named_in_its_errors(monkeypatch):
    import dropkit._device

    monkeypatch.setattr(dropkit._device, "new_array", lambda x, copy: CountingDeviceArray(shape=(2,)))
    with pytest.raises(ValueError, match="the contiguous copy of grad_output must have"):
        dropkit.Dropout(0.5, seed=1).evaluate().backward(np.ones((4, 8)), CountingDeviceArray(strides=(4, 16)))


def test_backward_reads_only_the_shape_of_input():
    class ShapeOnly:
        shape = (4, 8)

    grad = CountingDeviceArray()
    with pytest.raises(RuntimeError, match="libcuda|not CUDA device memory"):
        dropkit.Dropout(0.5, inplace=True, seed=1).evaluate().backward(ShapeOnly(), grad)
    with pytest.raises(TypeError, match="input has no shape"):
        dropkit.Dropout(0.5, inplace=True, seed=1).evaluate().backward(object(), grad)
