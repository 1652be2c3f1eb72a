"""dropkit.torch under torch.compile (fullgraph: no graph breaks, forward and backward), and
the memory autograd keeps for backward against torch.nn.Dropout's."""

import pytest

torch = pytest.importorskip("torch")

import dropkit.torch as dt  # noqa: E402


def _model(dropout):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        dropout[0],
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 8 * 8, 32),
        torch.nn.ReLU(),
        dropout[1],
        torch.nn.Linear(32, 32),
        dropout[2],
        torch.nn.Linear(32, 5),
    )


def _layers(seed):
    return [dt.Dropout2d(0.2, seed=seed), dt.Dropout(0.5, seed=seed + 1),
            dt.GaussianNoise(0.1, seed=seed + 2)]


def _step(model, x):
    model.zero_grad()
    loss = model(x).square().mean()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_fullgraph_forward_and_backward_equal_eager(backend):
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    eager = _model(_layers(10))
    compiled_model = _model(_layers(10))
    torch._dynamo.reset()
    compiled = torch.compile(compiled_model, fullgraph=True, backend=backend)
    try:
        first = _step(compiled, x)
    except Exception as e:  # noqa: BLE001 (a backend that cannot build here, e.g. no compiler)
        if backend == "inductor" and "fullgraph" not in str(e).lower():
            pytest.skip(f"inductor cannot compile on this machine: {type(e).__name__}: {e}")
        raise
    for step in range(3):  # the generator state is advanced inside the graph
        expected = _step(eager, x)
        got = first if step == 0 else _step(compiled, x)
        assert torch.equal(got[0], expected[0])
        for a, b in zip(got[1], expected[1]):
            torch.testing.assert_close(a, b)
    for a, b in zip(compiled_model.modules(), eager.modules()):
        if isinstance(a, dt.modules._Layer):
            assert torch.equal(a.generator_state, b.generator_state)
            assert a.draw == 3


def test_compiled_module_without_a_seed_and_inplace_runs_without_graph_breaks():
    import dropkit

    dropkit.set_seed(5)
    m = torch.nn.Sequential(torch.nn.Linear(8, 8), dt.Dropout(0.5, inplace=True),
                            dt.AlphaDropout(0.1))
    torch._dynamo.reset()
    c = torch.compile(m, fullgraph=True, backend="aot_eager")
    x = torch.randn(4, 8)
    c(x).sum().backward()
    assert dropkit.default_generator_state()["draw"] == 2
    with torch.no_grad():  # the in-place layer writes into its input (an operator that mutates)
        y = c(x)
    dropkit.set_seed(5)
    m(x)  # eager: draws 0 and 1, then the no_grad call's 2 and 3
    with torch.no_grad():
        assert torch.equal(m(x), y)


def saved_bytes(module, x):
    """The bytes of the tensors autograd keeps for backward of module(x), x excluded."""
    total = [0]
    keep = []

    def pack(t):
        if t is not x:
            total[0] += t.numel() * t.element_size()
        keep.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return total[0]


def test_dropkit_keeps_16_bytes_for_backward_where_torch_keeps_a_mask():
    x = torch.randn(1024, 1024, requires_grad=True)
    ours = saved_bytes(dt.Dropout(0.5, seed=1), x)
    theirs = saved_bytes(torch.nn.Dropout(0.5), x)
    print(f"\nbytes kept for backward of Dropout(0.5) on 1024x1024 float32: dropkit.torch "
          f"{ours}, torch.nn.Dropout {theirs}")
    assert ours == 16  # the (seed, draw) key
    assert theirs >= x.numel()  # a mask of at least one byte per element
