"""dropkit.torch: the modules and functions against the numpy layers of the same seed (bit for
bit), their gradients against the formula, eval mode, unbatched inputs, dtypes, strides and
memory formats, in place, the generator in state_dict, purity, errors, and that importing
dropkit alone does not import torch."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import dropkit  # noqa: E402
import dropkit.torch as dt  # noqa: E402
from dropkit.torch import _ops  # noqa: E402
from dropkit.torch import functional as DF  # noqa: E402

P = 0.3

# (module factory, numpy layer factory, functional, input shape): the module and the numpy
# layer of the same seed give the same bits.
CASES = {
    "Dropout": (
        lambda s: dt.Dropout(P, seed=s),
        lambda s: dropkit.Dropout(P, seed=s),
        lambda x, **k: DF.dropout(x, P, **k),
        (4, 5, 6),
    ),
    "Dropout1d": (
        lambda s: dt.Dropout1d(P, seed=s),
        lambda s: dropkit.SpatialDropout1D(P, "NCHW", scale=True, seed=s),
        lambda x, **k: DF.dropout1d(x, P, **k),
        (4, 6, 7),
    ),
    "Dropout2d": (
        lambda s: dt.Dropout2d(P, seed=s),
        lambda s: dropkit.SpatialDropout2D(P, "NCHW", scale=True, seed=s),
        lambda x, **k: DF.dropout2d(x, P, **k),
        (4, 6, 3, 5),
    ),
    "Dropout3d": (
        lambda s: dt.Dropout3d(P, seed=s),
        lambda s: dropkit.SpatialDropout3D(P, "NCHW", scale=True, seed=s),
        lambda x, **k: DF.dropout3d(x, P, **k),
        (3, 6, 2, 3, 4),
    ),
    "AlphaDropout": (
        lambda s: dt.AlphaDropout(P, seed=s),
        lambda s: dropkit.AlphaDropout(P, seed=s),
        lambda x, **k: DF.alpha_dropout(x, P, **k),
        (4, 5, 6),
    ),
    "FeatureAlphaDropout": (
        lambda s: dt.FeatureAlphaDropout(P, seed=s),
        lambda s: dropkit.FeatureAlphaDropout(P, "channels_first", seed=s),
        lambda x, **k: DF.feature_alpha_dropout(x, P, **k),
        (4, 6, 3, 5),
    ),
    "GaussianDropout": (
        lambda s: dt.GaussianDropout(P, seed=s),
        lambda s: dropkit.GaussianDropout(P, seed=s),
        lambda x, **k: DF.gaussian_dropout(x, P, **k),
        (4, 5, 6),
    ),
    "GaussianNoise": (
        lambda s: dt.GaussianNoise(0.7, seed=s),
        lambda s: dropkit.GaussianNoise(0.7, seed=s),
        lambda x, **k: DF.gaussian_noise(x, 0.7, **k),
        (4, 5, 6),
    ),
}
NAMES = sorted(CASES)


def _x(shape, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def _bits(t):
    t = t.detach().contiguous()
    return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


def _same(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    assert torch.equal(_bits(a), _bits(b))


@pytest.mark.parametrize("name", NAMES)
def test_each_module_equals_the_numpy_layer_of_the_same_seed(name):
    module, layer, _, shape = CASES[name]
    x = _x(shape)
    m, ref = module(11), layer(11)
    for _ in range(3):  # the stream: draw 0, 1, 2
        _same(m(x), torch.from_numpy(ref.forward(x.numpy())))


@pytest.mark.parametrize("name", NAMES)
def test_functional_is_pure_and_numbers_the_draws_as_the_module(name):
    module, _, fn, shape = CASES[name]
    x = _x(shape)
    m = module(5)
    first, second = m(x), m(x)
    _same(fn(x, seed=5, draw=0), first)
    _same(fn(x, seed=5), first)
    _same(fn(x, seed=5, draw=1), second)
    _same(fn(x, seed=5, draw=1), second)
    assert not torch.equal(first, second)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_is_the_layers_exact_derivative(name):
    module, layer, _, shape = CASES[name]
    x = _x(shape, torch.float64).requires_grad_()
    g = _x(shape, torch.float64, seed=1)
    y = module(3)(x)
    (gx,) = torch.autograd.grad(y, x, g)
    ref = layer(3)
    ref.forward(x.detach().numpy())
    expected = torch.from_numpy(ref.backward(x.detach().numpy(), g.numpy()))
    _same(gx, expected)


def test_dropout_gradient_is_grad_times_mask_over_keep():
    x = _x((64, 33), torch.float64).requires_grad_()
    y = dt.Dropout(0.25, seed=9)(x)
    g = _x((64, 33), torch.float64, seed=2)
    y.backward(g)
    mask = (y.detach() != 0).to(torch.float64)
    # BigDL scales by the factor 1 / (1 - p), a multiplication.
    torch.testing.assert_close(x.grad, g * mask * (1.0 / 0.75), rtol=0, atol=0)
    kept = mask.mean().item()
    assert 0.65 < kept < 0.85  # 2112 draws at 0.75: 0.1 is over 13 standard deviations


def test_a_module_without_a_seed_draws_from_the_default_generator():
    x = _x((8, 9))
    dropkit.set_seed(42)
    a, b = dt.Dropout(P)(x), dt.Dropout(P)(x)
    _same(a, DF.dropout(x, P, seed=42, draw=0))
    _same(b, DF.dropout(x, P, seed=42, draw=1))
    assert dropkit.default_generator_state()["draw"] == 2
    # The numpy layers share that generator: the next draw is theirs.
    np_layer = dropkit.Dropout(P)
    _same(torch.from_numpy(np_layer.forward(x.numpy())), DF.dropout(x, P, seed=42, draw=2))
    dropkit.set_seed(42)
    _same(DF.dropout(x, P), a)


def test_a_module_without_a_seed_backpropagates_its_own_draw():
    dropkit.set_seed(1)
    m = dt.Dropout(0.5)
    x = _x((32, 32)).requires_grad_()
    y = m(x)
    m(x)  # a later draw of the default generator does not change y's backward
    y.backward(torch.ones_like(y))
    _same(x.grad, (y.detach() != 0).float() * 2)


def test_the_bigdl_default_generator_is_refused_by_name():
    dropkit.set_seed(3, generator="bigdl")
    with pytest.raises(RuntimeError, match="'bigdl'.*philox"):
        dt.Dropout(P)(_x((4, 4)))


@pytest.mark.parametrize("name", NAMES)
def test_eval_mode_is_the_identity_and_draws_nothing(name):
    module, _, _, shape = CASES[name]
    x = _x(shape)
    m = module(2).eval()
    assert m(x) is x
    assert m.draw == 0
    fn = CASES[name][2]
    assert fn(x, training=False, seed=1) is x


@pytest.mark.parametrize(
    "module, numpy_layer, shape",
    [
        (dt.Dropout1d, lambda s: dropkit.SpatialDropout1D(P, "NCHW", scale=True, seed=s), (6, 7)),
        (
            dt.Dropout2d,
            lambda s: dropkit.SpatialDropout2D(P, "NCHW", scale=True, seed=s),
            (6, 3, 5),
        ),
        (
            dt.Dropout3d,
            lambda s: dropkit.SpatialDropout3D(P, "NCHW", scale=True, seed=s),
            (6, 2, 3, 4),
        ),
    ],
)
def test_unbatched_inputs_are_one_sample(module, numpy_layer, shape):
    x = _x(shape)
    y = module(P, seed=4)(x)
    assert y.shape == x.shape
    ref = numpy_layer(4).forward(x.numpy()[None])[0]
    _same(y, torch.from_numpy(np.ascontiguousarray(ref)))
    # Whole channels: each channel all zero or all kept.
    flat = y.reshape(shape[0], -1)
    assert all(bool((row == 0).all()) or bool((row != 0).all()) for row in flat)


@pytest.mark.parametrize(
    "module, bad",
    [(dt.Dropout1d, (2,)), (dt.Dropout1d, (2, 3, 4, 5)), (dt.Dropout2d, (2, 3)),
     (dt.Dropout3d, (2, 3, 4)), (dt.Dropout3d, (1, 2, 3, 4, 5, 6))],
)
def test_other_ranks_are_value_errors_naming_the_shape(module, bad):
    with pytest.raises(ValueError, match=r"input of shape .*accepted are"):
        module(P, seed=1)(torch.zeros(bad))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("name", NAMES)
def test_dtypes_are_kept_and_equal_the_numpy_layer(name, dtype):
    module, layer, _, shape = CASES[name]
    x = _x(shape, dtype)
    y = module(8)(x)
    assert y.dtype == dtype
    if dtype == torch.bfloat16:
        ml_dtypes = pytest.importorskip("ml_dtypes")
        ref = layer(8).forward(x.view(torch.int16).numpy().view(ml_dtypes.bfloat16))
        ref = torch.from_numpy(ref.view(np.int16)).view(torch.bfloat16)
    else:
        ref = torch.from_numpy(layer(8).forward(x.numpy()))
    _same(y, ref)


def test_integer_tensors_are_type_errors():
    with pytest.raises(TypeError, match="dtype torch.int64 is not supported"):
        dt.Dropout(P, seed=1)(torch.arange(6))


def test_a_cpu_tensor_is_read_without_a_copy():
    x = _x((16, 16))
    assert _ops.to_numpy(x).ctypes.data == x.data_ptr()
    b = x.to(torch.bfloat16)
    pytest.importorskip("ml_dtypes")
    assert _ops.to_numpy(b).ctypes.data == b.data_ptr()
    y = _ops.forward_impl(x, "dropout", P, 1, 0)
    assert _ops.to_numpy(y).ctypes.data == y.data_ptr()  # the core's array, not a copy


@pytest.mark.parametrize("name", ["Dropout", "Dropout2d", "FeatureAlphaDropout", "GaussianNoise"])
def test_channels_last_and_strided_inputs_keep_their_format_and_values(name):
    module, _, _, shape = CASES[name]
    x = _x((4, 6, 3, 5))
    cl = x.contiguous(memory_format=torch.channels_last)
    y, y_cl = module(6)(x), module(6)(cl)
    assert y_cl.is_contiguous(memory_format=torch.channels_last)
    assert y_cl.stride() == cl.stride()
    _same(y_cl.contiguous(), y)
    big = _x((4, 12, 3, 10))
    view = big[:, ::2, :, 1::2]
    assert not view.is_contiguous()
    _same(module(6)(view), module(6)(view.contiguous()))


def test_gradients_of_channels_last_inputs_keep_the_format():
    x = _x((2, 4, 3, 3)).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = dt.Dropout2d(P, seed=1)(x)
    y.backward(torch.ones_like(y))
    assert x.grad.is_contiguous(memory_format=torch.channels_last)
    mask = (y.detach() != 0).float() / (1 - P)
    _same(x.grad.contiguous(), mask.contiguous())


@pytest.mark.parametrize("name", ["Dropout", "Dropout1d", "Dropout2d", "AlphaDropout"])
def test_inplace_writes_the_input_bumps_its_version_and_backpropagates(name):
    module = {"Dropout": dt.Dropout, "Dropout1d": dt.Dropout1d, "Dropout2d": dt.Dropout2d,
              "AlphaDropout": dt.AlphaDropout}[name]
    shape = CASES[name][3]
    x = _x(shape)
    expected = module(P, seed=2)(x)
    inp = x.clone()
    version = inp._version
    out = module(P, inplace=True, seed=2)(inp)
    assert out is inp and inp._version > version
    _same(inp, expected)
    # Through autograd: a non-leaf input, its gradient the out-of-place one's.
    leaf = x.clone().requires_grad_()
    h = leaf * 1.0
    module(P, inplace=True, seed=2)(h).sum().backward()
    leaf2 = x.clone().requires_grad_()
    module(P, seed=2)(leaf2).sum().backward()
    _same(leaf.grad, leaf2.grad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
                                  "AlphaDropout", "FeatureAlphaDropout"])
def test_inplace_without_autograd_writes_the_input_itself(monkeypatch, name, dtype):
    if dtype == torch.bfloat16:
        pytest.importorskip("ml_dtypes")
    module, _, _, shape = CASES[name]
    x = _x(shape, dtype)
    if x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    expected = module(4)(x)
    # No out-of-place result: the layer writes into the tensor's memory.
    monkeypatch.setattr(_ops, "forward_op", None)
    inp = x.clone()
    ptr, version = inp.data_ptr(), inp._version
    m = module(4)
    m.inplace = True
    with torch.no_grad():
        out = m(inp)
    assert out is inp and inp.data_ptr() == ptr and inp._version > version
    _same(inp, expected)
    assert m.draw == 1


def test_inplace_on_a_leaf_that_requires_grad_is_refused_as_by_torch():
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        dt.Dropout(P, inplace=True, seed=1)(torch.ones(3, requires_grad=True))


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_replays_the_stream(name):
    module = CASES[name][0]
    shape = CASES[name][3]
    x = _x(shape)
    m = module(21)
    m(x)
    saved = {k: v.clone() for k, v in m.state_dict().items()}
    assert list(saved) == ["generator_state"]
    after = [m(x), m(x)]
    fresh = module(999)
    fresh.load_state_dict(saved)
    assert fresh.seed == 21 and fresh.draw == 1
    _same(fresh(x), after[0])
    _same(fresh(x), after[1])


def test_seeds_up_to_2_64_round_trip_through_the_int64_buffer():
    m = dt.Dropout(P, seed=2**64 - 1)
    assert m.seed == 2**64 - 1
    x = _x((5, 5))
    _same(m(x), torch.from_numpy(dropkit.Dropout(P, seed=2**64 - 1).forward(x.numpy())))


def test_extra_repr_shows_p_inplace_and_seed():
    assert repr(dt.Dropout(0.2, seed=3)) == "Dropout(p=0.2, inplace=False, seed=3)"
    assert repr(dt.Dropout2d(0.5, inplace=True)) == "Dropout2d(p=0.5, inplace=True, seed=None)"
    assert repr(dt.GaussianNoise(0.1, seed=1)) == "GaussianNoise(stddev=0.1, seed=1)"
    assert repr(dt.GaussianDropout(0.4)) == "GaussianDropout(rate=0.4, seed=None)"


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.5", None])
@pytest.mark.parametrize(
    "make",
    [dt.Dropout, dt.Dropout1d, dt.Dropout2d, dt.Dropout3d, dt.AlphaDropout, dt.FeatureAlphaDropout,
     lambda p: DF.dropout(torch.ones(3), p, seed=1)],
)
def test_p_out_of_range_is_a_value_error_naming_p(make, p):
    with pytest.raises(ValueError, match=r"p = .* is invalid: dropout probability has to be"):
        make(p)


def test_bad_rates_stddevs_seeds_and_draws_are_named():
    with pytest.raises(ValueError, match="rate"):
        dt.GaussianDropout(1.5)
    with pytest.raises(ValueError, match="stddev"):
        dt.GaussianNoise(-1.0)
    with pytest.raises(ValueError, match="seed = -1 is invalid"):
        dt.Dropout(P, seed=-1)
    with pytest.raises(TypeError, match="seed = 1.5 is invalid"):
        dt.Dropout(P, seed=1.5)
    with pytest.raises(ValueError, match=r"draw = 18446744073709551616 is invalid"):
        DF.dropout(torch.ones(3), seed=1, draw=2**64)
    with pytest.raises(ValueError, match="draw = 3 without a seed"):
        DF.dropout(torch.ones(3), draw=3)
    with pytest.raises(TypeError, match="a torch.Tensor is accepted"):
        DF.dropout(np.ones(3), seed=1)


def test_the_device_path_is_the_layer_classes_bit_for_bit(monkeypatch):
    # Without a GPU: route CPU tensors through the code path CUDA tensors take (the numpy
    # layer classes at the draw, backward by a forward at the same draw) and compare.
    for name in NAMES:
        module, _, _, shape = CASES[name]
        x = _x(shape).requires_grad_()
        g = _x(shape, seed=3)
        y = module(7)(x)
        (gx,) = torch.autograd.grad(y, x, g)
        monkeypatch.setattr(_ops, "uses_device_path", lambda t: True)
        monkeypatch.setattr(_ops, "device_array", _ops.to_numpy)
        y_dev = module(7)(x)
        (gx_dev,) = torch.autograd.grad(y_dev, x, g)
        monkeypatch.undo()
        _same(y_dev, y)
        _same(gx_dev, gx)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_tensors_equal_the_cpu_result(name):
    module, _, _, shape = CASES[name]
    x = _x(shape)
    y = module(7)(x)
    xc = x.cuda().requires_grad_()
    yc = module(7).cuda()(xc)
    assert yc.is_cuda
    _same(yc.cpu(), y)
    yc.sum().backward()
    xg = x.clone().requires_grad_()
    module(7)(xg).sum().backward()
    _same(xc.grad.cpu(), xg.grad)


def test_importing_dropkit_does_not_import_torch():
    code = "import sys, dropkit, dropkit.functional; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_keep_rank_streams_names_every_generator_buffer_once_and_keeps_others():
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 4),
        dt.Dropout(0.5, seed=1),
        torch.nn.Sequential(dt.GaussianNoise(0.1)),
        torch.nn.BatchNorm1d(4),
    )
    model._ddp_params_and_buffers_to_ignore = ["0.bias"]
    assert dt.keep_rank_streams(model) is model
    dt.keep_rank_streams(model)
    assert model._ddp_params_and_buffers_to_ignore == [
        "0.bias", "1.generator_state", "2.0.generator_state"]
    lone = dt.Dropout(0.5)
    dt.keep_rank_streams(lone)
    assert lone._ddp_params_and_buffers_to_ignore == ["generator_state"]


_DDP_SCRIPT = r'''
import os, sys
import torch, torch.distributed as dist, torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
import dropkit, dropkit.torch as dt

def worker(rank, keep, port, out):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    seed = dropkit.rank_seed(7, rank)
    net = torch.nn.Sequential(torch.nn.Linear(8, 64), dt.Dropout(0.5, seed=seed))
    ddp = DistributedDataParallel(dt.keep_rank_streams(net) if keep else net)
    y = ddp(torch.ones(4, 8))
    torch.save((y != 0).detach(), os.path.join(out, f"{rank}.pt"))
    dist.destroy_process_group()

if __name__ == "__main__":
    keep, port, out = sys.argv[1] == "1", int(sys.argv[2]), sys.argv[3]
    mp.spawn(worker, args=(keep, port, out), nprocs=2)
'''


@pytest.mark.parametrize("keep", [True, False])
def test_data_parallel_ranks_keep_their_streams_only_with_keep_rank_streams(tmp_path, keep):
    import socket

    script = tmp_path / "ddp.py"
    script.write_text(_DDP_SCRIPT)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([sys.executable, str(script), "1" if keep else "0", str(port),
                    str(tmp_path)], check=True, timeout=300)
    masks = [torch.load(tmp_path / f"{r}.pt") for r in range(2)]
    # DDP's wrap copies rank 0's buffers: without keep_rank_streams rank 1 draws rank 0's mask.
    assert torch.equal(masks[0], masks[1]) != keep


def test_threads_mixing_modules_and_numpy_layers_never_share_a_default_draw():
    import threading

    dropkit.set_seed(11)
    x = torch.ones(64)
    a = np.ones(64, dtype=np.float32)
    rounds, workers = 200, 4
    taken = [[] for _ in range(workers)]

    def run(k):
        module, layer = dt.Dropout(0.5), dropkit.Dropout(0.5)
        for _ in range(rounds):
            module(x)
            taken[k].append(module.draw)
            layer.forward(a)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    torch_draws = [d for ds in taken for d in ds]
    assert len(set(torch_draws)) == len(torch_draws)
    # Every forward, module or numpy layer, took a draw of its own.
    assert dropkit.default_generator_state()["draw"] == 2 * rounds * workers
