"""Sizes from the caller: an empty input costs nothing but its draw, whatever its other
dimensions are, and an output too large to allocate is a MemoryError, not an abort."""

import numpy as np
import pytest

import dropkit


@pytest.mark.parametrize("make, shape", [
    (lambda **kw: dropkit.SpatialDropout1D(0.5, **kw), (1 << 28, 0, 1 << 28)),
    (lambda **kw: dropkit.SpatialDropout2D(0.5, **kw), (1 << 28, 1 << 28, 0, 5)),
    (lambda **kw: dropkit.SpatialDropout2D(0.5, "NHWC", **kw), (1 << 16, 0, 1, 1 << 16)),
    (lambda **kw: dropkit.SpatialDropout3D(0.5, **kw), (1 << 28, 1 << 28, 1, 0, 1)),
    (lambda **kw: dropkit.Dropout(0.5, **kw), (1 << 28, 1 << 28, 0, 5)),
])
@pytest.mark.parametrize("generator", ["philox", "bigdl"])
def test_an_empty_input_builds_no_mask_and_takes_one_draw(make, shape, generator):
    layer = make(seed=3, generator=generator)
    before = layer.generator_state
    x = np.empty(shape, np.float32)
    y = layer.forward(x)
    assert y.shape == shape and y.dtype == np.float32
    after = layer.generator_state
    if generator == "philox":
        assert after["draw"] == before["draw"] + 1
    else:
        assert after == before  # one word per mask element, and the mask is empty
    assert layer.backward(x, x).shape == shape


@pytest.mark.parametrize("make", [
    lambda: dropkit.Dropout(0.5, seed=1),
    lambda: dropkit.GaussianDropout(0.5, seed=1),
    lambda: dropkit.GaussianNoise(0.5, seed=1),
])
# More bytes than any address space holds (numpy refuses views past 2^63 bytes itself).
@pytest.mark.parametrize("n", [1 << 58, 1 << 60])
def test_an_output_too_large_to_allocate_is_a_memory_error(make, n):
    # A zero-stride view costs nothing; its output would take 4 n bytes. This used to end
    # the interpreter with SIGABRT.
    layer = make()
    before = layer.generator_state
    x = np.broadcast_to(np.float32(1), (n,))
    with pytest.raises(MemoryError, match=f"cannot allocate {4 * n} bytes for the output"):
        layer.forward(x)
    assert layer.generator_state == before  # nothing drawn
    with pytest.raises(MemoryError):
        layer.evaluate().backward(x, x)
    # The interpreter and the layer live on.
    assert layer.training().forward(np.ones(3, np.float32)).shape == (3,)


def test_a_spatial_output_too_large_to_allocate_is_a_memory_error():
    x = np.broadcast_to(np.float32(1), (1 << 20, 1 << 20, 1 << 18, 1))
    with pytest.raises(MemoryError, match="out of memory"):
        dropkit.SpatialDropout2D(0.5).forward(x)
