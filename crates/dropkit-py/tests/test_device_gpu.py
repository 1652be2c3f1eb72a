"""The GPU path on a GPU: PyTorch (and CuPy, if installed) CUDA tensors in, tensors of the
same framework out, every result bit for bit the CPU path's for the same seed and draw.
Skipped, saying so, where PyTorch or a CUDA device is missing (``scripts/gpu-check.sh`` runs
it on the GPU machine).
"""

import numpy as np
import pytest

import dropkit
from _cases import CASES

torch = pytest.importorskip("torch", reason="skipped: PyTorch is not installed (the GPU tests use its CUDA tensors)")
if not torch.cuda.is_available():
    pytest.skip("skipped: no CUDA device for PyTorch", allow_module_level=True)

DTYPES = [(np.float16, torch.float16), (np.float32, torch.float32), (np.float64, torch.float64)]


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def host(t):
    return t.detach().cpu().numpy()


def pair(name, **kw):
    make, shape = CASES[name]
    return make(seed=11, **kw), make(seed=11, **kw), shape


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("np_dtype,t_dtype", DTYPES)
def test_forward_and_backward_match_the_cpu_bit_for_bit(name, np_dtype, t_dtype):
    gpu, cpu, shape = pair(name)
    rng = np.random.default_rng(5)
    for _ in range(2):  # two draws: the second forward uses the next draw on both
        x = rng.standard_normal(shape).astype(np_dtype)
        g = rng.standard_normal(shape).astype(np_dtype)
        xt = torch.from_numpy(x).cuda()
        gt = torch.from_numpy(g).cuda()
        yt = gpu.forward(xt)
        assert isinstance(yt, torch.Tensor) and yt.device == xt.device
        assert yt.dtype == t_dtype and tuple(yt.shape) == shape
        np.testing.assert_array_equal(bits(host(yt)), bits(cpu.forward(x)))
        gi = gpu.backward(xt, gt)
        np.testing.assert_array_equal(bits(host(gi)), bits(cpu.backward(x, g)))
        assert gpu.generator_state == cpu.generator_state


def test_evaluation_mode_matches_too():
    for name in sorted(CASES):
        gpu, cpu, shape = pair(name)
        gpu.evaluate()
        cpu.evaluate()
        x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        y = host(gpu.forward(torch.from_numpy(x).cuda()))
        np.testing.assert_array_equal(bits(y), bits(cpu.forward(x)), err_msg=name)


def test_inplace_dropout_overwrites_the_tensor_and_returns_it():
    gpu = dropkit.Dropout(0.5, inplace=True, seed=2)
    cpu = dropkit.Dropout(0.5, inplace=True, seed=2)
    x = np.random.default_rng(2).standard_normal((64, 33)).astype(np.float32)
    xt = torch.from_numpy(x).cuda()
    out = gpu.forward(xt)
    assert out is xt
    np.testing.assert_array_equal(bits(host(xt)), bits(cpu.forward(x.copy())))
    g = np.ones_like(x)
    gt = torch.from_numpy(g).cuda()
    assert gpu.backward(xt, gt) is gt
    np.testing.assert_array_equal(bits(host(gt)), bits(cpu.backward(x, g.copy())))


def test_strided_and_misaligned_views_give_the_contiguous_result():
    base = np.random.default_rng(3).standard_normal((40, 66)).astype(np.float32)
    tb = torch.from_numpy(base).cuda()
    views = {
        "transposed": (tb.t(), base.T),
        "offset by one element": (tb.reshape(-1)[1:], base.reshape(-1)[1:]),
        "every other column": (tb[:, ::2], base[:, ::2]),
    }
    for what, (tv, nv) in views.items():
        gpu = dropkit.GaussianNoise(0.5, seed=4)
        cpu = dropkit.GaussianNoise(0.5, seed=4)
        np.testing.assert_array_equal(
            bits(host(gpu.forward(tv))), bits(cpu.forward(nv)), err_msg=what
        )
    # In place on a view: the view's elements are overwritten, the rest of the base is not.
    gpu = dropkit.Dropout(0.5, inplace=True, seed=6)
    cpu = dropkit.Dropout(0.5, inplace=True, seed=6)
    tview, nview = tb[:, ::2], base.copy()[:, ::2]
    before = host(tb[:, 1::2]).copy()
    assert gpu.forward(tview) is tview
    np.testing.assert_array_equal(bits(host(tview)), bits(cpu.forward(nview)))
    np.testing.assert_array_equal(host(tb[:, 1::2]), before)


def test_a_strided_view_out_of_place_gives_a_new_contiguous_tensor_and_is_untouched():
    base = np.random.default_rng(9).standard_normal((40, 66)).astype(np.float32)
    tb = torch.from_numpy(base).cuda()
    gpu = dropkit.Dropout(0.5, seed=13)
    cpu = dropkit.Dropout(0.5, seed=13)
    y = gpu.forward(tb[:, ::2])
    assert isinstance(y, torch.Tensor) and y.is_contiguous() and tuple(y.shape) == (40, 33)
    np.testing.assert_array_equal(bits(host(y)), bits(cpu.forward(base[:, ::2])))
    np.testing.assert_array_equal(host(tb), base)


def test_inplace_backward_on_a_transposed_gradient_overwrites_it():
    gpu = dropkit.Dropout(0.5, inplace=True, seed=14)
    cpu = dropkit.Dropout(0.5, inplace=True, seed=14)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((24, 40)).astype(np.float32)
    gpu.forward(torch.from_numpy(x).cuda())
    cpu.forward(x.copy())
    g = rng.standard_normal((40, 24)).astype(np.float32)
    gt = torch.from_numpy(g).cuda().t()  # (24, 40), not contiguous
    assert gpu.backward(x, gt) is gt
    np.testing.assert_array_equal(bits(host(gt)), bits(cpu.backward(x, g.T.copy())))


def test_inplace_on_an_expanded_tensor_is_refused_and_nothing_changes():
    # expand(): every row is the same memory (stride 0), as on the numpy path.
    row = torch.arange(1, 9, dtype=torch.float32, device="cuda")
    t = row.expand(4, 8)
    layer = dropkit.Dropout(0.5, inplace=True, seed=15)
    before = layer.generator_state
    with pytest.raises(ValueError, match=r"input has elements that share memory \(shape \(4, 8\)"):
        layer.forward(t)
    assert layer.generator_state == before
    np.testing.assert_array_equal(host(row), np.arange(1, 9, dtype=np.float32))
    # Out of place it is only read.
    y = dropkit.Dropout(0.5, seed=15).forward(t)
    want = dropkit.Dropout(0.5, seed=15).forward(np.tile(np.arange(1, 9, dtype=np.float32), (4, 1)))
    np.testing.assert_array_equal(bits(host(y)), bits(want))


class CountingProxy:
    """A CUDA tensor seen through an object that counts the reads of its interface."""

    def __init__(self, t):
        self.t, self.shape, self.reads = t, tuple(t.shape), 0

    @property
    def __cuda_array_interface__(self):
        self.reads += 1
        return self.t.__cuda_array_interface__


def test_the_interface_is_read_once_per_call_on_the_device_too():
    gpu = dropkit.Dropout(0.5, inplace=True, seed=12)
    cpu = dropkit.Dropout(0.5, inplace=True, seed=12)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((32, 32)).astype(np.float32)
    g = rng.standard_normal((32, 32)).astype(np.float32)
    xp = CountingProxy(torch.from_numpy(x).cuda())
    gp = CountingProxy(torch.from_numpy(g).cuda())
    assert gpu.forward(xp) is xp
    assert gpu.backward(xp, gp) is gp
    assert (xp.reads, gp.reads) == (1, 1)  # backward reads only input's shape
    np.testing.assert_array_equal(bits(host(xp.t)), bits(cpu.forward(x.copy())))
    np.testing.assert_array_equal(bits(host(gp.t)), bits(cpu.backward(x, g.copy())))


def test_work_on_another_torch_stream_is_ordered():
    s = torch.cuda.Stream()
    gpu = dropkit.Dropout(0.5, seed=7)
    cpu = dropkit.Dropout(0.5, seed=7)
    x = np.random.default_rng(4).standard_normal((1 << 22,)).astype(np.float32)
    with torch.cuda.stream(s):
        xt = torch.from_numpy(x).cuda(non_blocking=False) * 1.0  # produced on s
        yt = gpu.forward(xt)
        zt = yt * 2.0  # consumed on s
    s.synchronize()
    np.testing.assert_array_equal(bits(host(zt)), bits(cpu.forward(x) * np.float32(2.0)))


def test_empty_tensors_work_and_take_a_draw_like_the_cpu():
    gpu, cpu, _ = pair("Dropout")
    yt = gpu.forward(torch.empty((0, 5), device="cuda"))
    assert tuple(yt.shape) == (0, 5)
    cpu.forward(np.empty((0, 5), np.float32))
    assert gpu.generator_state == cpu.generator_state


# Keras-style noise shapes: the Spatial maps, and the general broadcast map (the device's own
# kernel) with 3 to 8 alternating groups of axes and size-1 axes.
NOISE_SHAPES = [
    ((4, 6, 5, 7), (None, None, 1, 1)),
    ((4, 5, 7, 6), (None, 1, 1, None)),
    ((5, 7, 9), (1, None, 1)),
    ((3, 4, 5, 6), (None, 1, None, 1)),
    ((2, 3, 2, 3, 2, 3), (None, 1, None, 1, None, 1)),
    ((2, 3, 2, 3, 2, 3, 2, 3), (1, None, 1, None, 1, None, 1, None)),
    ((2, 1, 3, 1, 5, 3), (None, 1, 1, None, None, 1)),
]
NOISE_LAYERS = {
    "Dropout": lambda noise: dropkit.Dropout(0.3, seed=7, noise_shape=noise),
    "GaussianDropout": lambda noise: dropkit.GaussianDropout(0.3, seed=7, noise_shape=noise),
    "GaussianNoise": lambda noise: dropkit.GaussianNoise(0.5, seed=7, noise_shape=noise),
}


@pytest.mark.parametrize("layer", sorted(NOISE_LAYERS))
@pytest.mark.parametrize("shape,noise", NOISE_SHAPES)
@pytest.mark.parametrize("np_dtype", [np.float16, np.float32, np.float64])
def test_noise_shapes_match_the_cpu_bit_for_bit(layer, shape, noise, np_dtype):
    gpu, cpu = NOISE_LAYERS[layer](noise), NOISE_LAYERS[layer](noise)
    rng = np.random.default_rng(9)
    for _ in range(2):  # two draws
        x = rng.standard_normal(shape).astype(np_dtype)
        g = rng.standard_normal(shape).astype(np_dtype)
        xt, gt = torch.from_numpy(x).cuda(), torch.from_numpy(g).cuda()
        yt = gpu.forward(xt)
        assert isinstance(yt, torch.Tensor) and yt.device == xt.device
        np.testing.assert_array_equal(bits(host(yt)), bits(cpu.forward(x)))
        np.testing.assert_array_equal(bits(host(gpu.backward(xt, gt))), bits(cpu.backward(x, g)))
        assert gpu.generator_state == cpu.generator_state


def test_device_errors_are_clear():
    layer = dropkit.Dropout(0.5, seed=1)
    with pytest.raises(TypeError, match="<f2"):
        layer.forward(torch.ones(4, device="cuda", dtype=torch.float16))
    with pytest.raises(TypeError, match="<i4|int"):
        layer.forward(torch.ones(4, device="cuda", dtype=torch.int32))
    with pytest.raises(RuntimeError, match="detach|require"):
        layer.forward(torch.ones(4, device="cuda", requires_grad=True))
    layer.forward(torch.ones((2, 3), device="cuda"))
    with pytest.raises(ValueError, match="shape"):
        layer.backward(torch.ones((2, 3), device="cuda"), torch.ones((3, 2), device="cuda"))
    bigdl = dropkit.Dropout(0.5, seed=1, generator="bigdl")
    with pytest.raises(RuntimeError, match="(?i)bigdl|host"):
        bigdl.forward(torch.ones(4, device="cuda"))


def test_a_host_forward_can_be_differentiated_on_the_device():
    gpu = dropkit.Dropout(0.5, seed=8)
    cpu = dropkit.Dropout(0.5, seed=8)
    x = np.random.default_rng(6).standard_normal((16, 16)).astype(np.float32)
    gpu.forward(x)
    cpu.forward(x)
    g = np.ones_like(x)
    np.testing.assert_array_equal(
        bits(host(gpu.backward(x, torch.from_numpy(g).cuda()))), bits(cpu.backward(x, g))
    )


def test_cupy_arrays_too():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    gpu = dropkit.GaussianDropout(0.3, seed=9)
    cpu = dropkit.GaussianDropout(0.3, seed=9)
    x = np.random.default_rng(7).standard_normal((33, 17))
    y = gpu.forward(cupy.asarray(x))
    assert isinstance(y, cupy.ndarray) and y.dtype == np.float64
    np.testing.assert_array_equal(bits(cupy.asnumpy(y)), bits(cpu.forward(x)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bfloat16_tensors_go_through_dlpack_and_match_the_f32_result_rounded(name):
    # A bfloat16 layer's output is the float32 layer's on the widened values, rounded once
    # (to nearest even, as torch's .to(torch.bfloat16)).
    gpu, cpu, shape = pair(name)
    xt = torch.randn(shape, device="cuda").to(torch.bfloat16)
    gt = torch.randn(shape, device="cuda").to(torch.bfloat16)
    yt = gpu.forward(xt)
    assert yt.dtype == torch.bfloat16 and tuple(yt.shape) == shape
    want = torch.from_numpy(cpu.forward(host(xt.float()))).to(torch.bfloat16)
    assert torch.equal(yt.cpu().view(torch.int16), want.view(torch.int16))
    gi = gpu.backward(xt, gt)
    want = torch.from_numpy(cpu.backward(host(xt.float()), host(gt.float()))).to(torch.bfloat16)
    assert torch.equal(gi.cpu().view(torch.int16), want.view(torch.int16))
